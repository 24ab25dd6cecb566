//! Asymmetric keys and JWK Sets: init for every algorithm, login/mint with `kid`,
//! verify with the key file, the public key and `jwks` output, and every refusal of RFC 8725.
use crate::common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Env, Exits, json};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// Far-future expiry (2100-01-01) for hand-made tokens.
const EXP_2100: i64 = 4_102_444_800;

fn private(env: &Env) -> PathBuf {
    env.path().join("config/jwtauth/private.pem")
}

fn public(env: &Env) -> PathBuf {
    env.path().join("config/jwtauth/public.pem")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn out_str(out: &[u8]) -> String {
    String::from_utf8(out.to_vec()).expect("utf-8 output")
}

/// `init --alg ALG --json` on the default path; checks the files and returns the kid.
fn init(env: &Env, alg: &str) -> String {
    let out = env
        .cmd()
        .args(["init", "--alg", alg, "--json"])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    let kid = v["kid"].as_str().expect("kid").to_string();
    assert_eq!(
        v,
        json!({"key": private(env), "alg": alg, "kid": kid, "public_key": public(env)})
    );
    let pem = out_str(&common::bytes(&private(env)));
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let spki = out_str(&common::bytes(&public(env)));
    assert!(spki.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{spki}");
    assert_eq!(
        common::bytes(&env.path().join("config/jwtauth/private.pem.alg")),
        format!("{alg}\n").as_bytes()
    );
    #[cfg(unix)]
    {
        assert_eq!(common::mode(&private(env)), 0o600);
        assert_eq!(common::mode(&public(env)), 0o600);
    }
    kid
}

/// The RSA key made once per test run by a real `init --alg RS256` (3072-bit keygen is the
/// slow part): its private and public PEM files and kid.
fn rsa_key() -> &'static (Vec<u8>, Vec<u8>, String) {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let env = Env::new();
        let kid = init(&env, "RS256");
        (
            common::bytes(&private(&env)),
            common::bytes(&public(&env)),
            kid,
        )
    })
}

/// A fresh home whose default key is the shared RSA key, recorded for `alg` exactly as
/// `init --alg ALG` records it.
fn rsa_env(alg: &str) -> (Env, String) {
    let (pem, spki, kid) = rsa_key();
    let env = Env::new();
    let dir = env.path().join("config/jwtauth");
    std::fs::create_dir_all(&dir).unwrap();
    common::write_secret(&dir.join("private.pem"), pem);
    std::fs::write(dir.join("public.pem"), spki).unwrap();
    std::fs::write(dir.join("private.pem.alg"), format!("{alg}\n")).unwrap();
    (env, kid.clone())
}

fn header(env: &Env, token: &str) -> Value {
    env.decoded(token)["header"].clone()
}

fn jwks(env: &Env) -> (Value, PathBuf) {
    let out = env
        .cmd()
        .arg("jwks")
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let path = env.path().join("jwks.json");
    std::fs::write(&path, &out).unwrap();
    (json(&out), path)
}

fn verify_ok(env: &Env, token: &str, extra: &[&str], sub: &str) {
    env.cmd()
        .arg("verify")
        .args(extra)
        .arg(token)
        .assert()
        .code(0)
        .stdout(format!("{sub}\n"))
        .stderr("");
}

fn verify_err(env: &Env, token: &str, extra: &[&str], code: i32, stderr: &str) {
    env.cmd()
        .arg("verify")
        .args(extra)
        .arg(token)
        .stderr_only(code, format!("{stderr}\n"));
}

/// login and mint with the default key, then verify each token with the key file, the
/// public key and the `jwks` output.
fn round_trip(env: &Env, alg: &str, kid: &str, kty: &str) {
    env.add_user("alice", "correct horse");
    let login = env.login("alice", "correct horse");
    let mint = env.mint(&["--sub", "svc"]);
    for t in [&login, &mint] {
        assert_eq!(
            header(env, t),
            json!({"alg": alg, "typ": "JWT", "kid": kid}),
            "{alg}"
        );
    }
    let (set, set_path) = jwks(env);
    let keys = set["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(
        (&jwk["kty"], &jwk["use"], &jwk["alg"], &jwk["kid"]),
        (&json!(kty), &json!("sig"), &json!(alg), &json!(kid))
    );
    assert!(jwk.get("d").is_none(), "private member in {jwk}");
    for (t, sub) in [(&login, "alice"), (&mint, "svc")] {
        verify_ok(env, t, &[], sub);
        verify_ok(env, t, &["--key", s(&private(env))], sub);
        verify_ok(env, t, &["--key", s(&public(env))], sub);
        verify_ok(env, t, &["--jwks", s(&set_path)], sub);
        verify_ok(env, t, &["--jwks", s(&set_path), "--alg", alg], sub);
    }
}

#[test]
fn ec_and_ed25519_keys_round_trip() {
    for (alg, kty) in [("ES256", "EC"), ("ES384", "EC"), ("EdDSA", "OKP")] {
        let env = Env::new();
        let kid = init(&env, alg);
        round_trip(&env, alg, &kid, kty);
    }
}

#[test]
fn rsa_keys_round_trip_with_every_rsa_algorithm() {
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let (env, kid) = rsa_env(alg);
        round_trip(&env, alg, &kid, "RSA");
    }
}

#[test]
fn init_text_mode_names_the_files_and_kid() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["init", "--alg", "EdDSA"])
        .assert()
        .code(0)
        .stdout("")
        .get_output()
        .stderr
        .clone();
    let (set, _) = jwks(&env);
    let kid = set["keys"][0]["kid"].as_str().unwrap();
    assert_eq!(
        out_str(&out),
        format!(
            "jwtauth: created EdDSA key {}\njwtauth: public key {} (kid {kid})\n",
            private(&env).display(),
            public(&env).display()
        )
    );
}

#[test]
fn init_refuses_to_replace_a_key_without_force() {
    let env = Env::new();
    let kid = init(&env, "ES256");
    let before = common::bytes(&private(&env));
    env.cmd()
        .args(["init", "--alg", "ES256"])
        .stderr_only(8, format!(
            "jwtauth: key {}: already exists; pass --force to replace it (tokens signed with it will stop verifying)\n",
            private(&env).display()
        ));
    assert_eq!(common::bytes(&private(&env)), before);
    let old = env.mint(&["--sub", "svc"]);
    let new_kid = env
        .cmd()
        .args(["init", "--alg", "ES384", "--force", "--json"])
        .exits(0)
        .stdout;
    let new_kid = json(&new_kid)["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, kid);
    verify_err(
        &env,
        &old,
        &[],
        1,
        "jwtauth: invalid token: algorithm ES256 is not accepted for this key (accepted: ES384)",
    );
}

#[test]
fn init_keeps_a_single_default_key() {
    // Decision: an asymmetric init on the default path while the default HMAC secret exists
    // (or the reverse) is refused without --force, since both defaults existing makes every
    // command exit 8; with --force the other default key is removed.
    let env = Env::new();
    env.init();
    let secret = env.secret();
    env.cmd()
        .args(["init", "--alg", "ES256"])
        .stderr_only(8, format!(
            "jwtauth: key {}: already exists as the default key; pass --force to replace it with a new ES256 key at {}, or --key PATH to create the new key elsewhere\n",
            secret.display(),
            private(&env).display()
        ));
    assert!(!private(&env).exists() && !public(&env).exists());
    env.cmd()
        .args(["init", "--alg", "ES256", "--force", "-q"])
        .stderr_only(0, "");
    assert!(!secret.exists());
    assert!(!env.path().join("config/jwtauth/secret.alg").exists());
    let t = env.mint(&["--sub", "svc"]);
    assert_eq!(header(&env, &t)["alg"], "ES256");
    // And back: the PEM pair and its records go.
    env.cmd().args(["init", "--force"]).stderr_only(
        0,
        format!(
            "jwtauth: removed the previous default key {}\njwtauth: created HS256 key {}\n",
            private(&env).display(),
            secret.display()
        ),
    );
    assert!(!private(&env).exists() && !public(&env).exists());
    assert!(!env.path().join("config/jwtauth/private.pem.alg").exists());
    let t = env.mint(&["--sub", "svc"]);
    assert_eq!(header(&env, &t), json!({"alg": "HS256", "typ": "JWT"}));
}

#[test]
fn init_with_an_explicit_path_writes_the_public_key_beside_it() {
    let env = Env::new();
    let key = env.path().join("keys/signing.pem");
    env.cmd()
        .args(["init", "--alg", "ES256", "-q", "--key", s(&key)])
        .stderr_only(0, "");
    let spki = env.path().join("keys/signing.pub.pem");
    let t = env.mint(&["--sub", "svc", "--key", s(&key)]);
    verify_ok(&env, &t, &["--key", s(&spki)], "svc");
    // The default secret is not involved in an explicit path.
    assert!(!env.secret().exists());

    // Replacing the pair with an HMAC secret removes the old public key too: left behind,
    // it would go on verifying tokens of a key that no longer exists.
    env.cmd()
        .args(["init", "--force", "--key", s(&key)])
        .stderr_only(0, format!(
            "jwtauth: removed the public key {} of the replaced key\njwtauth: created HS256 key {}\n",
            spki.display(),
            key.display()
        ));
    assert!(!spki.exists());
    verify_err(
        &env,
        &t,
        &["--key", s(&key)],
        1,
        "jwtauth: invalid token: algorithm ES256 is not accepted for this key (accepted: HS256, HS384, HS512)",
    );
    // A public key file that init did not make (no asymmetric record) is left alone.
    let other = env.path().join("keys/hand.pem");
    let other_pub = env.path().join("keys/hand.pub.pem");
    std::fs::write(&other, "old").unwrap();
    std::fs::write(&other_pub, "not ours").unwrap();
    env.cmd()
        .args(["init", "--force", "--key", s(&other)])
        .stderr_only(
            0,
            format!("jwtauth: created HS256 key {}\n", other.display()),
        );
    assert_eq!(std::fs::read_to_string(&other_pub).unwrap(), "not ours");
}

/// An HS256 token signed with `secret`, with `kid` when given.
fn hs256(secret: &[u8], kid: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &h,
        &json!({"sub": "mallory", "exp": EXP_2100}),
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[test]
fn public_key_bytes_as_hmac_secret_never_verify() {
    // The classic algorithm confusion attack (RFC 8725 §2.1).
    let env = Env::new();
    let kid = init(&env, "ES256");
    let (_, set) = jwks(&env);
    let spki = common::bytes(&public(&env));
    let trimmed = spki.strip_suffix(b"\n").unwrap().to_vec();
    for secret in [&spki, &trimmed] {
        for t in [hs256(secret, Some(&kid)), hs256(secret, None)] {
            for key in [public(&env), private(&env)] {
                verify_err(
                    &env,
                    &t,
                    &["--key", s(&key)],
                    1,
                    "jwtauth: invalid token: algorithm HS256 is not accepted for this key (accepted: ES256)",
                );
            }
        }
        verify_err(
            &env,
            &hs256(secret, Some(&kid)),
            &["--jwks", s(&set)],
            1,
            &format!(
                "jwtauth: invalid token: algorithm HS256 is not accepted for key {kid:?} (accepted: ES256)"
            ),
        );
        verify_err(
            &env,
            &hs256(secret, None),
            &["--jwks", s(&set)],
            1,
            &format!(
                "jwtauth: invalid token: algorithm HS256 is not accepted by any key in {}",
                set.display()
            ),
        );
        // Even --alg HS256 cannot turn the public key into a secret.
        env.cmd()
            .args(["verify", "--alg", "HS256", "--key", s(&public(&env))])
            .arg(hs256(secret, None))
            .stderr_only(8, format!(
                "jwtauth: --alg HS256: does not fit key {}, which is a P-256 key (it verifies ES256)\n",
                public(&env).display()
            ));
    }
    // Nor can JWT_SECRET_KEY carry a PEM key.
    env.cmd()
        .env("JWT_SECRET_KEY", String::from_utf8(spki).unwrap())
        .args(["verify", &hs256(&trimmed, None)])
        .stderr_only(8, "jwtauth: JWT_SECRET_KEY: holds a PEM key, not an HMAC secret; pass the key file with --key\n");
}

#[test]
fn hmac_key_never_verifies_asymmetric_tokens() {
    let env = Env::new();
    init(&env, "EdDSA");
    let t = env.mint(&["--sub", "svc"]);
    let secret = env.path().join("secret");
    common::write_secret(&secret, "k".repeat(40));
    verify_err(
        &env,
        &t,
        &["--key", s(&secret)],
        1,
        "jwtauth: invalid token: algorithm EdDSA is not accepted for this key (accepted: HS256, HS384, HS512)",
    );
    // And jwks refuses to publish a secret.
    env.cmd()
        .args(["jwks", "--key", s(&secret)])
        .stderr_only(8, format!(
            "jwtauth: key {}: is an HMAC secret, which has no public part and must never be published; a JWK Set needs an asymmetric key (jwtauth init --alg ES256, RS256, EdDSA, ...)\n",
            secret.display()
        ));
}

#[test]
fn jwks_without_a_key_says_to_run_init() {
    let env = Env::new();
    env.cmd()
        .arg("jwks")
        .stderr_only(8, "jwtauth: no signing key: run 'jwtauth init' to create one (or set JWT_SECRET_KEY or pass --key)\n");
}

#[test]
fn verify_accepts_exactly_the_algorithms_of_the_key() {
    let env = Env::new();
    init(&env, "ES256");
    let p384 = env.path().join("p384.pem");
    env.cmd()
        .args(["init", "-q", "--alg", "ES384", "--key", s(&p384)])
        .assert()
        .code(0);
    let t384 = env.mint(&["--sub", "svc", "--key", s(&p384)]);
    verify_err(
        &env,
        &t384,
        &[],
        1,
        "jwtauth: invalid token: algorithm ES384 is not accepted for this key (accepted: ES256)",
    );
    // A key of the wrong type for --alg is a configuration error, for verify and mint.
    env.cmd()
        .args(["verify", "--alg", "ES384", &t384])
        .stderr_only(8, format!(
            "jwtauth: --alg ES384: does not fit key {}, which is a P-256 key (it verifies ES256)\n",
            private(&env).display()
        ));
    env.cmd()
        .args(["mint", "--sub", "svc", "--alg", "RS256"])
        .stderr_only(
            8,
            format!(
                "jwtauth: key {}: is a P-256 key and cannot sign RS256 (it signs ES256)\n",
                private(&env).display()
            ),
        );
    env.cmd()
        .args(["mint", "--sub", "svc", "--key", s(&public(&env))])
        .stderr_only(
            8,
            format!(
                "jwtauth: key {}: is a public key and cannot sign\n",
                public(&env).display()
            ),
        );
}

#[test]
fn alg_none_and_wrong_keys_are_rejected() {
    let env = Env::new();
    let kid = init(&env, "ES256");
    let (_, set) = jwks(&env);
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims = b64(&json!({"sub": "mallory", "exp": EXP_2100}));
    for alg in ["none", "None", "NONE"] {
        let t = format!("{}.{claims}.", b64(&json!({"alg": alg, "kid": kid})));
        for extra in [vec![], vec!["--jwks", s(&set)]] {
            verify_err(
                &env,
                &t,
                &extra,
                1,
                "jwtauth: invalid token: alg none (an unsigned token) is never accepted",
            );
        }
    }
    // Another P-256 key: same algorithm, wrong signature.
    let other = env.path().join("other.pem");
    env.cmd()
        .args(["init", "-q", "--alg", "ES256", "--key", s(&other)])
        .assert()
        .code(0);
    let foreign = env.mint(&["--sub", "svc", "--key", s(&other)]);
    let foreign_kid = header(&env, &foreign)["kid"].as_str().unwrap().to_string();
    verify_err(
        &env,
        &foreign,
        &[],
        1,
        "jwtauth: invalid token: signature does not match",
    );
    verify_err(
        &env,
        &foreign,
        &["--jwks", s(&set)],
        1,
        &format!(
            "jwtauth: invalid token: unknown kid {foreign_kid:?}: no such key in {}",
            set.display()
        ),
    );
    // A token claiming our kid but signed by the other key.
    let pem = common::bytes(&other);
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(kid);
    let forged = jsonwebtoken::encode(
        &h,
        &json!({"sub": "mallory", "exp": EXP_2100}),
        &EncodingKey::from_ec_pem(&pem).unwrap(),
    )
    .unwrap();
    verify_err(
        &env,
        &forged,
        &["--jwks", s(&set)],
        1,
        "jwtauth: invalid token: signature does not match",
    );
}

#[test]
fn jwks_picks_the_key_by_kid_and_needs_one_candidate_without_kid() {
    let env = Env::new();
    let mut keys = Vec::new();
    let mut tokens = Vec::new();
    let mut pems = Vec::new();
    for (i, alg) in ["ES256", "ES256", "EdDSA"].iter().enumerate() {
        let key = env.path().join(format!("k{i}.pem"));
        env.cmd()
            .args(["init", "-q", "--alg", alg, "--key", s(&key)])
            .assert()
            .code(0);
        let out = env
            .cmd()
            .args(["jwks", "--json", "--key", s(&key)])
            .exits(0)
            .stdout;
        keys.push(json(&out)["keys"][0].clone());
        tokens.push(env.mint(&["--sub", &format!("svc{i}"), "--key", s(&key)]));
        pems.push(common::bytes(&key));
    }
    let set = env.path().join("set.json");
    std::fs::write(&set, json!({"keys": keys}).to_string()).unwrap();
    // Batch mode: each token finds its own key.
    env.cmd()
        .args(["verify", "--jwks", s(&set)])
        .write_stdin(format!("{}\n{}\n{}\n", tokens[2], tokens[0], tokens[1]))
        .assert()
        .code(0)
        .stdout("ok svc2\nok svc0\nok svc1\n")
        .stderr("");
    // No kid: EdDSA has one candidate, ES256 has two.
    let no_kid = |alg, key: EncodingKey| {
        jsonwebtoken::encode(
            &Header::new(alg),
            &json!({"sub": "anon", "exp": EXP_2100}),
            &key,
        )
        .unwrap()
    };
    let ed = no_kid(
        Algorithm::EdDSA,
        EncodingKey::from_ed_pem(&pems[2]).unwrap(),
    );
    verify_ok(&env, &ed, &["--jwks", s(&set)], "anon");
    let es = no_kid(
        Algorithm::ES256,
        EncodingKey::from_ec_pem(&pems[0]).unwrap(),
    );
    verify_err(
        &env,
        &es,
        &["--jwks", s(&set)],
        1,
        &format!(
            "jwtauth: invalid token: token has no kid and 2 keys in {} accept ES256; cannot choose",
            set.display()
        ),
    );
    // --jwks and --key do not mix.
    env.cmd()
        .args(["verify", "--jwks", s(&set), "--key", s(&private(&env)), &ed])
        .stderr_only(
            2,
            "jwtauth: --jwks: cannot be combined with --key; verify with one or the other\n",
        );
}

#[test]
fn unusable_jwks_files_are_configuration_errors() {
    let env = Env::new();
    init(&env, "ES256");
    let t = env.mint(&["--sub", "svc"]);
    let f = env.path().join("bad.json");
    let check = |content: &str, stderr: String| {
        std::fs::write(&f, content).unwrap();
        verify_err(&env, &t, &["--jwks", s(&f)], 8, &stderr);
    };
    let name = f.display();
    check(
        "{\"keys\": 3}",
        format!("jwtauth: key set {name}: has a \"keys\" member that is not an array"),
    );
    check(
        "[]",
        format!("jwtauth: key set {name}: is not a JWK Set (expected {{\"keys\": [...]}})"),
    );
    check(
        "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\", \"kid\": \"h\"}]}",
        format!(
            "jwtauth: key set {name}: has no key that can verify signatures (RSA, P-256, P-384 or Ed25519): key 1 is a symmetric (oct) key; a JWK Set verifies public keys only"
        ),
    );
    // Unknown kid when a usable key exists, and a kid naming an unusable key.
    let (set, _) = jwks(&env);
    let mut keys = set["keys"].as_array().unwrap().clone();
    keys[0]["kid"] = json!("current");
    keys.push(json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}));
    std::fs::write(&f, json!({"keys": keys}).to_string()).unwrap();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("h".into());
    let hs = jsonwebtoken::encode(
        &h,
        &json!({"sub": "m", "exp": EXP_2100}),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    verify_err(
        &env,
        &hs,
        &["--jwks", s(&f)],
        1,
        &format!(
            "jwtauth: invalid token: kid \"h\" names a key of {name} that cannot be used: key 2 is a symmetric (oct) key; a JWK Set verifies public keys only"
        ),
    );
    verify_err(
        &env,
        &t,
        &["--jwks", s(&f)],
        1,
        &format!(
            "jwtauth: invalid token: unknown kid {:?}: no such key in {name}",
            header(&env, &t)["kid"].as_str().unwrap()
        ),
    );
    // A missing set file.
    let missing = env.path().join("nope.json");
    env.cmd()
        .args(["verify", "--jwks", s(&missing), &t])
        .assert()
        .code(8)
        .stdout("");
}

#[test]
fn malformed_key_files_are_one_line_errors() {
    let env = Env::new();
    init(&env, "ES256");
    let t = env.mint(&["--sub", "svc"]);
    let f = env.path().join("bad.pem");
    let cases: [(&[u8], &str); 5] = [
        (
            b"-----BEGIN PUBLIC KEY-----\nMFkw\n",
            "is not valid PEM: no complete BEGIN/END block",
        ),
        (
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "PUBLIC KEY block is not a valid SPKI public key",
        ),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "holds no key or certificate PEM block (found CERTIFICATE REQUEST)",
        ),
        (
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "ENCRYPTED PRIVATE KEY block holds an encrypted private key; decrypt it first (openssl pkey -in KEY -out PLAIN)",
        ),
        (
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "RSA PRIVATE KEY block is not a valid PKCS#1 RSA private key",
        ),
    ];
    for (content, why) in cases {
        std::fs::write(&f, content).unwrap();
        let out = env
            .cmd()
            .args(["verify", "--key", s(&f), &t])
            .assert()
            .code(8)
            .stdout("")
            .get_output()
            .stderr
            .clone();
        let err = out_str(&out);
        let want = format!("jwtauth: key {}: {why}", f.display());
        assert!(
            err.starts_with(&want),
            "{err:?} does not start with {want:?}"
        );
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn decode_names_the_algorithm_family_and_kid() {
    let env = Env::new();
    let kid = init(&env, "ES384");
    let t = env.mint(&["--sub", "svc"]);
    let out = env
        .cmd()
        .args(["decode", &t])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    let text = out_str(&out);
    assert!(
        text.contains(&format!(
            "\nAlgorithm: ES384 (ECDSA, P-384)\nKey ID: {kid}\nStatus: not expired"
        )),
        "{text}"
    );
    let (pem, _, _) = rsa_key();
    let rsa = env.path().join("rsa.pem");
    common::write_secret(&rsa, pem);
    let t = env.mint(&["--sub", "svc", "--key", s(&rsa), "--alg", "PS512"]);
    let out = env.cmd().args(["decode", &t]).exits(0).stdout;
    assert!(out_str(&out).contains("\nAlgorithm: PS512 (RSA, PSS)\n"));
}
