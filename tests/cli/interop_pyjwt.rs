//! Interop with PyJWT (the classic FastAPI service's JWT library): our tokens verify there
//! with the same claims, and its tokens verify here. Skipped when no suitable Python is found
//! (a failure instead when JWTAUTH_NO_SKIP is set, as in CI).
use crate::common;

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Env, Exits, json};
use serde_json::{Value, json};

const PW: &str = "correct horse";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The secret as `JWT_SECRET_KEY` would hold it: the file without its trailing newline.
fn secret(env: &Env) -> String {
    let s = String::from_utf8(common::bytes(&env.secret())).expect("utf-8 secret");
    s.strip_suffix('\n').unwrap_or(&s).to_string()
}

/// Runs a Python snippet with `JWT_SECRET_KEY` and extra environment; returns stdout.
fn py(python: &Path, key: &str, vars: &[(&str, &str)], code: &str) -> String {
    let mut cmd = StdCommand::new(python);
    cmd.args(["-c", code]).env("JWT_SECRET_KEY", key);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

const PY_DECODE: &str = r#"
import json, os, jwt
claims = jwt.decode(os.environ["TOKEN"], os.environ["JWT_SECRET_KEY"],
                    algorithms=[os.environ["ALG"]], audience=os.environ.get("AUD"),
                    issuer=os.environ.get("ISS"),
                    options={"require": ["exp", "iat", "sub", "jti"]})
print(json.dumps(claims, sort_keys=True))
"#;

/// PyJWT must reject a token whose signature was made with another key.
const PY_DECODE_FAILS: &str = r#"
import os, jwt
try:
    jwt.decode(os.environ["TOKEN"], os.environ["JWT_SECRET_KEY"], algorithms=[os.environ["ALG"]])
except jwt.InvalidSignatureError:
    print("rejected")
"#;

const PY_ENCODE: &str = r#"
import os, time, jwt
now = int(time.time())
print(jwt.encode({"sub": "py-user", "iat": now, "exp": now + 600, "jti": "py-" + os.environ["ALG"],
                  "role": "admin"},
                 os.environ["JWT_SECRET_KEY"], algorithm=os.environ["ALG"]))
"#;

fn payload(env: &Env, token: &str) -> Value {
    env.decoded(token)["payload"].clone()
}

#[test]
fn our_tokens_verify_in_pyjwt_with_the_same_claims() {
    let Some(python) = common::python() else {
        return;
    };
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let key = secret(&env);
    let login = {
        let out = env
            .cmd()
            .args([
                "login",
                "alice",
                "--password-stdin",
                "--aud",
                "api",
                "--iss",
                "jwtauth-test",
                "--claim",
                "scope=read write",
                "--claim",
                r#"n={"a":[1,2]}"#,
            ])
            .write_stdin(format!("{PW}\n"))
            .exits(0)
            .stdout;
        String::from_utf8(out).unwrap().trim().to_string()
    };
    let mut cases = vec![("HS256", login)];
    for alg in ["HS256", "HS384", "HS512"] {
        let t = env.mint(&[
            "--sub",
            "svc",
            "--alg",
            alg,
            "--aud",
            "api",
            "--iss",
            "jwtauth-test",
            "--claim",
            "n=1",
        ]);
        cases.push((alg, t));
    }
    for (alg, token) in &cases {
        let got = py(
            &python,
            &key,
            &[
                ("TOKEN", token),
                ("ALG", alg),
                ("AUD", "api"),
                ("ISS", "jwtauth-test"),
            ],
            PY_DECODE,
        );
        let theirs: Value = serde_json::from_str(got.trim()).expect("python JSON");
        assert_eq!(theirs, payload(&env, token), "{alg}: PyJWT sees our claims");
        // And PyJWT rejects it under another key, so the check above means something.
        let other = "y".repeat(86);
        assert_eq!(
            py(
                &python,
                &other,
                &[("TOKEN", token), ("ALG", alg)],
                PY_DECODE_FAILS
            )
            .trim(),
            "rejected",
            "{alg}"
        );
    }
    assert_eq!(cases[0].1.split('.').count(), 3);
    let sub = payload(&env, &cases[0].1)["sub"].clone();
    assert_eq!(sub, json!("alice"));
}

#[test]
fn pyjwt_tokens_verify_here() {
    let Some(python) = common::python() else {
        return;
    };
    let env = Env::new();
    env.init();
    let key = secret(&env);
    for alg in ["HS256", "HS384", "HS512"] {
        let token = py(&python, &key, &[("ALG", alg)], PY_ENCODE)
            .trim()
            .to_string();
        env.cmd()
            .args(["verify", &token])
            .assert()
            .code(0)
            .stdout("py-user\n")
            .stderr("");
        env.cmd()
            .args(["verify", "--alg", alg, &token])
            .assert()
            .code(0)
            .stdout("py-user\n");
        let out = env.cmd().args(["verify", "--json", &token]).exits(0).stdout;
        let v = json(&out);
        assert_eq!(v["header"]["alg"], alg);
        assert_eq!(v["claims"]["role"], "admin");
        let exp = v["claims"]["exp"].as_i64().unwrap();
        assert!(exp > now(), "{exp}");
        // The same token under a wrong secret: invalid.
        env.cmd()
            .env("JWT_SECRET_KEY", "z".repeat(86))
            .args(["verify", &token])
            .stderr_only(1, "jwtauth: invalid token: signature does not match\n");
        // PyJWT's tokens are revocable like ours.
        env.cmd().args(["logout", &token]).assert().code(0);
        env.cmd().args(["verify", &token]).assert().code(4);
    }
}

/// PyJWT picks the key of each token by its `kid` from our JWK Set of two keys (after
/// `init --rotate`), as a service holding the published set does, and verifies both tokens;
/// an HMAC token after rotation verifies in PyJWT with the current secret and names its kid.
#[test]
fn pyjwt_chooses_the_rotated_keys_by_kid_from_our_jwks() {
    let Some(python) = common::python() else {
        return;
    };
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    let old = env.mint(&["--sub", "old", "--aud", "api"]);
    env.cmd().args(["init", "--rotate"]).exits(0);
    let new = env.mint(&["--sub", "new", "--aud", "api"]);
    let jwks = String::from_utf8(env.cmd().args(["jwks", "--json"]).exits(0).stdout).unwrap();
    let got = py(
        &python,
        "",
        &[("JWKS", &jwks), ("OLD", &old), ("NEW", &new)],
        r#"
import json, os, jwt
keys = jwt.PyJWKSet.from_json(os.environ["JWKS"])
assert len(keys.keys) == 2, keys.keys
out = []
for name in ("OLD", "NEW"):
    token = os.environ[name]
    kid = jwt.get_unverified_header(token)["kid"]
    key = keys[kid]
    claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience="api")
    out.append([kid, key.algorithm_name, claims["sub"]])
# The old token does not verify under the new key (same algorithm): the kid matters.
try:
    jwt.decode(os.environ["OLD"], keys.keys[0].key, algorithms=["ES256"], audience="api")
    out.append("accepted")
except jwt.InvalidSignatureError:
    out.append("rejected")
print(json.dumps(out))
"#,
    );
    let got: Value = serde_json::from_str(got.trim()).expect("python JSON");
    let kid = |t: &str| env.decoded(t)["header"]["kid"].clone();
    assert_eq!(
        got,
        json!([
            [kid(&old), "ES256", "old"],
            [kid(&new), "ES256", "new"],
            "rejected"
        ])
    );

    // HMAC: after a rotation, tokens carry the current key's kid, and PyJWT verifies them
    // with the secret as it always did.
    let env = Env::new();
    env.init();
    env.cmd().args(["init", "--rotate"]).exits(0);
    let token = env.mint(&["--sub", "svc"]);
    let current =
        json(&env.cmd().args(["keys", "list", "--json"]).exits(0).stdout)["keys"][0]["kid"].clone();
    assert_eq!(env.decoded(&token)["header"]["kid"], current);
    let got = py(
        &python,
        &secret(&env),
        &[("TOKEN", &token), ("ALG", "HS256")],
        PY_DECODE,
    );
    let theirs: Value = serde_json::from_str(got.trim()).expect("python JSON");
    assert_eq!(theirs, payload(&env, &token));
}

/// PyJWT's view of a token: the verified claims for audience AUD, and the unverified header;
/// or "rejected" when the audience is not one of the token's.
const PY_AUD_AND_HEADER: &str = r#"
import json, os, jwt
t = os.environ["TOKEN"]
try:
    claims = jwt.decode(t, os.environ["JWT_SECRET_KEY"], algorithms=["HS256"],
                        audience=os.environ["AUD"],
                        options={"require": ["exp", "iat", "sub", "jti", "aud"]})
except jwt.InvalidAudienceError:
    print("rejected")
else:
    print(json.dumps({"claims": claims, "header": jwt.get_unverified_header(t)}, sort_keys=True))
"#;

#[test]
fn pyjwt_accepts_array_aud_and_custom_header_tokens() {
    let Some(python) = common::python() else {
        return;
    };
    let env = Env::new();
    env.init();
    let key = secret(&env);
    let token = env.mint(&[
        "--sub",
        "svc",
        "--aud",
        "orders",
        "--aud",
        "billing",
        "--header",
        "kid=2024-01",
        "--header",
        "typ=at+jwt",
        "--header",
        "cty=example",
    ]);
    let ours = env.decoded(&token);
    assert_eq!(ours["payload"]["aud"], json!(["orders", "billing"]));
    for aud in ["orders", "billing"] {
        let got = py(
            &python,
            &key,
            &[("TOKEN", &token), ("AUD", aud)],
            PY_AUD_AND_HEADER,
        );
        let theirs: Value = serde_json::from_str(got.trim()).expect("python JSON");
        assert_eq!(
            theirs["claims"], ours["payload"],
            "PyJWT with audience {aud}"
        );
        assert_eq!(
            theirs["header"],
            json!({"alg": "HS256", "typ": "at+jwt", "kid": "2024-01", "cty": "example"})
        );
    }
    // PyJWT refuses an audience the token does not name, so the checks above mean something.
    let got = py(
        &python,
        &key,
        &[("TOKEN", &token), ("AUD", "other")],
        PY_AUD_AND_HEADER,
    );
    assert_eq!(got.trim(), "rejected");
    // A token minted from a --payload object with an array aud: the same.
    let out = env
        .cmd()
        .args(["mint", "--payload", "-"])
        .write_stdin(r#"{"sub": "p", "aud": ["x", "y"], "scope": "read"}"#)
        .exits(0)
        .stdout;
    let from_payload = String::from_utf8(out).unwrap().trim().to_string();
    let got = py(
        &python,
        &key,
        &[("TOKEN", &from_payload), ("AUD", "y")],
        PY_AUD_AND_HEADER,
    );
    let theirs: Value = serde_json::from_str(got.trim()).expect("python JSON");
    assert_eq!(theirs["claims"]["scope"], "read");
    assert_eq!(theirs["claims"]["aud"], json!(["x", "y"]));
}
