//! Interop with Python PyJWT/cryptography for asymmetric keys: tokens PyJWT signs
//! with every algorithm verify with `jwtauth verify --key` (in every key format cryptography
//! writes) and `--jwks`; tokens jwtauth signs verify in PyJWT with the key built from
//! `jwtauth jwks`, whose kid is the RFC 7638 thumbprint.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Env, Exits, json};
use serde_json::Value;

const ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Writes, for each algorithm, a key in several formats, a token signed by PyJWT and a JWK
/// Set, and prints a manifest.
const PY_SIGN: &str = r#"
import json, os, sys, time, datetime
import jwt
from jwt.algorithms import get_default_algorithms
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization as ser
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519

out = sys.argv[1]
algs = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM, DER = ser.Encoding.PEM, ser.Encoding.DER
P8, TRAD = ser.PrivateFormat.PKCS8, ser.PrivateFormat.TraditionalOpenSSL
SPKI, PKCS1 = ser.PublicFormat.SubjectPublicKeyInfo, ser.PublicFormat.PKCS1
NOENC = ser.NoEncryption()

def cert(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwtauth test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    h = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(key, h)

manifest, all_keys = [], []
for alg in algs:
    if alg.startswith(("RS", "PS")):
        key = rsa_key
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif alg == "ES384":
        key = ec.generate_private_key(ec.SECP384R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    pub = key.public_key()
    files = {
        "pkcs8.pem": key.private_bytes(PEM, P8, NOENC),
        "pkcs8.der": key.private_bytes(DER, P8, NOENC),
        "spki.pem": pub.public_bytes(PEM, SPKI),
        "spki.der": pub.public_bytes(DER, SPKI),
        "cert.pem": cert(key).public_bytes(PEM),
        "cert.der": cert(key).public_bytes(DER),
    }
    if alg.startswith(("RS", "PS")):
        files["pkcs1.pem"] = key.private_bytes(PEM, TRAD, NOENC)
        files["pkcs1.der"] = key.private_bytes(DER, TRAD, NOENC)
        files["pkcs1-public.pem"] = pub.public_bytes(PEM, PKCS1)
        files["pkcs1-public.der"] = pub.public_bytes(DER, PKCS1)
    if alg.startswith("ES"):
        files["sec1.pem"] = key.private_bytes(PEM, TRAD, NOENC)
        files["sec1.der"] = key.private_bytes(DER, TRAD, NOENC)
    names = []
    for suffix, data in files.items():
        name = f"{alg}.{suffix}"
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        names.append(name)
    kid = f"py-{alg}"
    jwk = get_default_algorithms()[alg].to_jwk(pub, as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    all_keys.append(jwk)
    with open(os.path.join(out, f"{alg}.jwks.json"), "w") as f:
        json.dump({"keys": [jwk]}, f)
    claims = {"sub": f"py-{alg}", "iat": int(time.time()) - 5, "exp": int(time.time()) + 600}
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
    no_kid = jwt.encode(claims, key, algorithm=alg)
    manifest.append({"alg": alg, "files": names, "token": token, "no_kid": no_kid})
with open(os.path.join(out, "all.jwks.json"), "w") as f:
    json.dump({"keys": all_keys}, f)
print(json.dumps(manifest))
"#;

/// Verifies jwtauth's tokens with PyJWT: the key is built from `jwtauth jwks` with PyJWK,
/// and again from the public key PEM; the kid is checked against an RFC 7638 thumbprint
/// computed here.
const PY_VERIFY: &str = r#"
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives import serialization as ser

cases = json.load(open(sys.argv[1]))
for c in cases:
    alg, token, jwk = c["alg"], c["token"], c["jwks"]["keys"][0]
    required = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"], "OKP": ["crv", "kty", "x"]}
    canon = json.dumps({k: jwk[k] for k in required[jwk["kty"]]}, sort_keys=True, separators=(",", ":"))
    thumb = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "typ": "JWT", "kid": thumb}, (header, thumb)
    assert jwk["kid"] == thumb and jwk["alg"] == alg and jwk["use"] == "sig", jwk
    claims = jwt.decode(token, key=jwt.PyJWK(jwk), algorithms=[alg])
    pub = ser.load_pem_public_key(open(c["public"], "rb").read())
    claims2 = jwt.decode(token, key=pub, algorithms=[alg])
    assert claims == claims2
    print(alg, claims["sub"])
"#;

fn python_out(py: &Path, script: &str, arg: &Path) -> String {
    let out = Command::new(py)
        .args(["-c", script])
        .arg(arg)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn pyjwt_tokens_verify_with_every_key_format_and_jwks() {
    let Some(py) = common::python() else {
        return;
    };
    let env = Env::new();
    let dir = env.path().join("py");
    std::fs::create_dir_all(&dir).unwrap();
    let manifest: Value = serde_json::from_str(&python_out(&py, PY_SIGN, &dir)).unwrap();
    // Python wrote the private keys with the umask's 0644; keys are 0600 as `init` writes
    // them (a looser private key gets a warning on stderr, which is tested elsewhere).
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        common::write_secret(&p, std::fs::read(&p).unwrap());
    }
    let all = dir.join("all.jwks.json");
    let cases = manifest.as_array().unwrap();
    assert_eq!(cases.len(), 9);
    let mut batch = String::new();
    let mut expected = String::new();
    for c in cases {
        let alg = c["alg"].as_str().unwrap();
        let token = c["token"].as_str().unwrap();
        let sub = format!("py-{alg}\n");
        let mut checked = 0;
        for f in c["files"].as_array().unwrap() {
            let key = dir.join(f.as_str().unwrap());
            for t in [token, c["no_kid"].as_str().unwrap()] {
                env.cmd()
                    .args(["verify", "--key", s(&key), t])
                    .assert()
                    .code(0)
                    .stdout(sub.clone())
                    .stderr("");
            }
            env.cmd()
                .args(["verify", "--alg", alg, "--key", s(&key), token])
                .assert()
                .code(0)
                .stdout(sub.clone());
            checked += 1;
        }
        assert!(checked >= 6, "{alg}: {checked} formats");
        let own = dir.join(format!("{alg}.jwks.json"));
        for set in [&own, &all] {
            env.cmd()
                .args(["verify", "--jwks", s(set), token])
                .assert()
                .code(0)
                .stdout(sub.clone())
                .stderr("");
        }
        // No kid: the own set has exactly one key for the algorithm.
        env.cmd()
            .args(["verify", "--jwks", s(&own), c["no_kid"].as_str().unwrap()])
            .assert()
            .code(0)
            .stdout(sub.clone());
        batch.push_str(token);
        batch.push('\n');
        expected.push_str(&format!("ok py-{alg}\n"));
    }
    // All nine tokens in one stream against the combined set.
    env.cmd()
        .args(["verify", "--jwks", s(&all)])
        .write_stdin(batch)
        .assert()
        .code(0)
        .stdout(expected)
        .stderr("");
    // Without kid against the combined set: the RSA key is there six times, but each JWK
    // names its "alg", so exactly one accepts PS384.
    let ps = cases[4]["no_kid"].as_str().unwrap();
    env.cmd()
        .args(["verify", "--jwks", s(&all), ps])
        .assert()
        .code(0)
        .stdout("py-PS384\n");
}

#[test]
fn jwtauth_tokens_verify_in_pyjwt_with_the_jwks_key() {
    let Some(py) = common::python() else {
        return;
    };
    let env = Env::new();
    let rsa = env.path().join("rsa.pem");
    env.cmd()
        .args(["init", "-q", "--alg", "PS256", "--key", s(&rsa)])
        .assert()
        .code(0);
    let mut cases = Vec::new();
    let mut expected = String::new();
    for (i, alg) in ALGS.iter().enumerate() {
        let key = if alg.starts_with("RS") || alg.starts_with("PS") {
            // One RSA key, recorded for each algorithm as `init --alg` records it.
            std::fs::write(env.path().join("rsa.pem.alg"), format!("{alg}\n")).unwrap();
            rsa.clone()
        } else {
            let k = env.path().join(format!("k{i}.pem"));
            env.cmd()
                .args(["init", "-q", "--alg", alg, "--key", s(&k)])
                .assert()
                .code(0);
            k
        };
        let public = jwtauth_public(&key);
        let token = env.mint(&["--sub", &format!("rs-{alg}"), "--key", s(&key)]);
        let out = env.cmd().args(["jwks", "--key", s(&key)]).exits(0).stdout;
        cases.push(serde_json::json!({
            "alg": alg, "token": token, "jwks": json(&out), "public": public,
        }));
        expected.push_str(&format!("{alg} rs-{alg}\n"));
    }
    let file = env.path().join("cases.json");
    std::fs::write(&file, Value::Array(cases).to_string()).unwrap();
    assert_eq!(python_out(&py, PY_VERIFY, &file), expected);
}

/// The public key `init` wrote beside `key`.
fn jwtauth_public(key: &Path) -> std::path::PathBuf {
    let name = key.file_name().unwrap().to_str().unwrap();
    key.with_file_name(format!("{}.pub.pem", name.strip_suffix(".pem").unwrap()))
}

/// RSA keys of every size and exponent cryptography makes: 2048–4096-bit keys with e = 65537
/// sign through `ring` (constant-time), the rest (a weak 1024-bit key, a 4160-bit key, e = 3)
/// through the `rsa` crate. Each signature of each path verifies in PyJWT (OpenSSL); a key too
/// small for PS512's padding is exit 8 (it was an abort inside `jsonwebtoken`).
const PY_RSA_KEYS: &str = r#"
import sys, os
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization as ser
d = sys.argv[1]
for bits, e in [(1024, 65537), (2048, 65537), (2048, 3), (4096, 65537), (4160, 65537)]:
    k = rsa.generate_private_key(public_exponent=e, key_size=bits)
    open(os.path.join(d, f"rsa{bits}-{e}.pem"), "wb").write(k.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
    open(os.path.join(d, f"rsa{bits}-{e}.pub"), "wb").write(k.public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
    print(f"rsa{bits}-{e}")
"#;

const PY_RSA_VERIFY: &str = r#"
import sys, json, jwt
from cryptography.hazmat.primitives import serialization as ser
for c in json.load(open(sys.argv[1])):
    pub = ser.load_pem_public_key(open(c["public"], "rb").read())
    claims = jwt.decode(c["token"], key=pub, algorithms=[c["alg"]])
    print(c["alg"], claims["sub"])
"#;

#[test]
fn rsa_signatures_of_every_key_size_verify_in_pyjwt() {
    let Some(py) = common::python() else {
        return;
    };
    let env = Env::new();
    let names = python_out(&py, PY_RSA_KEYS, env.path());
    let mut cases = Vec::new();
    let mut expected = String::new();
    for name in names.lines() {
        let key = env.path().join(format!("{name}.pem"));
        for alg in ["RS256", "PS384", "RS512", "PS512"] {
            let sub = format!("{name}-{alg}");
            let mut args = vec!["--sub", &sub, "--key", s(&key), "--alg", alg];
            if name.starts_with("rsa1024") {
                args.push("--allow-weak-key");
                if alg == "PS512" {
                    // 64-byte hash + 64-byte salt + 2 do not fit in 128 bytes: an error, not
                    // the panic jsonwebtoken's RustCrypto signer had.
                    env.cmd().arg("mint").args(&args).stderr_only(
                        8,
                        predicates::str::contains("too small for this algorithm's padding"),
                    );
                    continue;
                }
            }
            let token = env.mint(&args);
            let public = env.path().join(format!("{name}.pub"));
            cases.push(serde_json::json!({"alg": alg, "token": token, "public": public}));
            expected.push_str(&format!("{alg} {sub}\n"));
        }
    }
    let file = env.path().join("cases.json");
    std::fs::write(&file, Value::Array(cases).to_string()).unwrap();
    assert_eq!(python_out(&py, PY_RSA_VERIFY, &file), expected);
}
