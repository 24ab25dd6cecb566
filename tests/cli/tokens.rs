//! Issue 3: tokens through the binary — login, mint, verify, decode, logout and the
//! revocation list (SPEC §1 "Keys", §2, §3, §4, §5).
use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Env, Exits, json};
use common::{json_lines, stderr_str, stdout_str};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const PW: &str = "correct horse";

/// The signature of RFC 7515 Appendix A.1, and its JWK `k`.
const RFC7515_A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC7515_A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The expiry error of SPEC §8 for a token that expired at `utc` (`exp` seconds), days ago.
fn expired_msg(utc: &str, exp: i64) -> String {
    format!("token expired: at {utc} ({}d ago)", (now() - exp) / 86_400)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs arbitrary header and payload bytes with an HMAC secret: tokens jwtauth would never
/// mint (arrays in `aud`, odd headers, huge payloads), correctly signed.
fn hand_sign(secret: &[u8], alg: Algorithm, header: &[u8], payload: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), alg)
            .expect("sign");
    format!("{message}.{sig}")
}

fn hs256(secret: &[u8], payload: &Value) -> String {
    hand_sign(
        secret,
        Algorithm::HS256,
        br#"{"alg":"HS256","typ":"JWT"}"#,
        payload.to_string().as_bytes(),
    )
}

/// The key bytes of the default secret file (its one trailing newline removed).
fn secret_bytes(env: &Env) -> Vec<u8> {
    let mut b = common::bytes(&env.secret());
    if b.last() == Some(&b'\n') {
        b.pop();
    }
    b
}

/// The payload of a token as `decode --json` shows it.
fn payload(env: &Env, token: &str) -> Value {
    env.decoded(token)["payload"].clone()
}

fn header(env: &Env, token: &str) -> Value {
    env.decoded(token)["header"].clone()
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// Runs `verify` on one token and returns (code, stdout, stderr).
fn verify(env: &Env, token: &str, extra: &[&str]) -> (i32, String, String) {
    let out = env
        .cmd()
        .arg("verify")
        .args(extra)
        .arg(token)
        .output()
        .expect("run");
    (
        out.status.code().expect("exit code"),
        stdout_str(&out),
        stderr_str(&out),
    )
}

/// `mint` and `login` (user alice, password `PW`) with `extra` both fail as a usage error:
/// exit 2, nothing on stdout, one stderr line naming `flag`.
fn usage_error_on_mint_and_login(env: &Env, extra: &[&str], flag: &str, bad: &str) {
    for cmd in [
        &["mint", "--sub", "bob"][..],
        &["login", "alice", "--password-stdin"],
    ] {
        let out = env
            .cmd()
            .args(cmd)
            .args(extra)
            .write_stdin(format!("{PW}\n"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?} {extra:?}");
        assert!(out.stdout.is_empty());
        let err = stderr_str(&out);
        assert_one_error_line(&err, bad);
        assert!(err.contains(flag), "{err}");
    }
}

/// Asserts a failure printed exactly one `jwtauth: …` line on stderr and no panic.
fn assert_one_error_line(stderr: &str, ctx: &str) {
    assert!(!stderr.contains("panicked"), "{ctx}: panic: {stderr}");
    assert!(
        stderr.starts_with("jwtauth: ") && stderr.ends_with('\n') && stderr.lines().count() == 1,
        "{ctx}: expected one error line, got {stderr:?}"
    );
}

fn revocations(env: &Env) -> Value {
    json(&common::bytes(&env.state()))
}

/// Replaces the first character of the signature with another base64url character.
fn forge_signature(token: &str) -> String {
    let (msg, sig) = token.rsplit_once('.').expect("three parts");
    let first = sig.as_bytes()[0];
    let swapped = if first == b'A' { 'B' } else { 'A' };
    format!("{msg}.{swapped}{}", &sig[1..])
}

// ---------------------------------------------------------------------------------------
// The classic flow and login output
// ---------------------------------------------------------------------------------------

#[test]
pub(crate) fn classic_flow_login_verify_logout() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let token = env.login("alice", PW);
    assert_eq!(token.split('.').count(), 3, "{token}");
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n")
        .stderr("");
    env.cmd()
        .args(["logout", &token])
        .assert()
        .code(0)
        .stdout("");
    env.cmd()
        .args(["verify", &token])
        .stderr_only(4, "jwtauth: token revoked: this token was logged out\n");
    // A second login gets a new, valid token.
    let again = env.login("alice", PW);
    assert_ne!(again, token);
    env.cmd()
        .args(["verify", &again])
        .assert()
        .code(0)
        .stdout("alice\n");
    // A wrong password is refused with the one message.
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("wrong\n")
        .stderr_only(
            5,
            "jwtauth: login refused: incorrect username or password\n",
        );
}

#[test]
pub(crate) fn login_json_shape_and_default_ttl() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin", "--json"])
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let v = json(&out.stdout);
    // A sign-in's session and refresh token (SPEC §13; see `sessions.rs`).
    assert_eq!(
        keys_of(&v),
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "sid",
            "token_type"
        ]
    );
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 900);
    let token = v["access_token"].as_str().expect("access_token string");
    let p = payload(&env, token);
    assert_eq!(p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(), 900);
    env.cmd()
        .args(["verify", token])
        .assert()
        .code(0)
        .stdout("alice\n");
}

#[test]
fn ttl_forms_set_exp_minus_iat() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    for (ttl, secs) in [("20s", 20), ("2h", 7200), ("7d", 604_800), ("42", 42)] {
        let t = env.mint(&["--sub", "bob", "--ttl", ttl]);
        let p = payload(&env, &t);
        assert_eq!(
            p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
            secs,
            "mint --ttl {ttl}"
        );
        let out = env
            .cmd()
            .args(["login", "alice", "--password-stdin", "--ttl", ttl])
            .write_stdin(format!("{PW}\n"))
            .exits(0);
        let p = payload(&env, stdout_str(&out).trim());
        // A login token lives at most session_idle (1d by default; SPEC §13).
        assert_eq!(
            p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
            secs.min(86_400),
            "login --ttl {ttl}"
        );
    }
    for bad in ["soon", "-5", "1000y", "", "5x"] {
        usage_error_on_mint_and_login(&env, &[&format!("--ttl={bad}")], "--ttl", bad);
    }
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

#[test]
fn first_login_creates_the_default_key_and_says_so() {
    let env = Env::new();
    env.add_user("alice", PW);
    assert!(!env.secret().exists());
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    let err = stderr_str(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("jwtauth: "), "{err:?}");
    assert!(
        err.contains(&env.secret().display().to_string()),
        "names the key file: {err:?}"
    );
    assert_eq!(common::mode(&env.secret()), 0o600);
    let secret = secret_bytes(&env);
    assert_eq!(secret.len(), 86, "init-like secret: 86 base64url chars");
    let token = stdout_str(&out).trim().to_string();
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    // The second login says nothing and keeps the key.
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(0)
        .stderr("");
    assert_eq!(secret_bytes(&env), secret);
}

#[test]
fn first_login_message_is_silenced_by_quiet() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.cmd()
        .args(["-q", "login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(0)
        .stderr("");
    assert!(env.secret().exists());
}

#[test]
fn mint_and_verify_without_a_key_exit_8_with_hint() {
    let env = Env::new();
    let token = {
        let other = Env::new();
        other.init();
        other.mint(&["--sub", "x"])
    };
    for args in [vec!["mint", "--sub", "x"], vec!["verify", &token]] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(8), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = stderr_str(&out);
        assert_one_error_line(&err, "no key");
        assert!(err.contains("run 'jwtauth init'"), "{err}");
    }
    assert!(!env.secret().exists(), "no key is created by mint/verify");
    // decode needs no key.
    env.cmd().args(["decode", &token]).assert().code(0);
}

#[test]
fn explicit_missing_key_file_is_exit_8_and_never_created() {
    let env = Env::new();
    env.add_user("alice", PW);
    let missing = env.path().join("nope/secret");
    let m = missing.to_str().unwrap();
    let via_flag = |args: &[&str]| {
        env.cmd()
            .args(["--key", m])
            .args(args)
            .write_stdin(format!("{PW}\n"))
            .output()
            .unwrap()
    };
    let via_env = |args: &[&str]| {
        env.cmd()
            .env("JWTAUTH_KEY_FILE", m)
            .args(args)
            .write_stdin(format!("{PW}\n"))
            .output()
            .unwrap()
    };
    for run in [
        &via_flag as &dyn Fn(&[&str]) -> std::process::Output,
        &via_env,
    ] {
        for args in [
            &["mint", "--sub", "x"][..],
            &["verify", "a.b.c"],
            &["login", "alice", "--password-stdin"],
        ] {
            let out = run(args);
            assert_eq!(out.status.code(), Some(8), "{args:?}");
            let err = stderr_str(&out);
            assert_one_error_line(&err, "missing key");
            assert!(err.contains(m), "{err}");
            assert!(!missing.exists(), "{args:?} created the key");
        }
    }
    assert!(!env.secret().exists(), "default key not created either");
}

#[test]
fn jwt_secret_key_is_the_raw_bytes_of_the_secret_file() {
    let env = Env::new();
    env.init();
    let secret = String::from_utf8(secret_bytes(&env)).unwrap();
    // Minted with the env var, verified with the file.
    let out = env
        .cmd()
        .env("JWT_SECRET_KEY", &secret)
        .args(["mint", "--sub", "envsub"])
        .exits(0);
    let from_env = stdout_str(&out).trim().to_string();
    env.cmd()
        .args(["verify", &from_env])
        .assert()
        .code(0)
        .stdout("envsub\n");
    // Minted with the file, verified with the env var.
    let from_file = env.mint(&["--sub", "filesub"]);
    env.cmd()
        .env("JWT_SECRET_KEY", &secret)
        .args(["verify", &from_file])
        .assert()
        .code(0)
        .stdout("filesub\n");
    // Raw bytes: a trailing newline in the variable is part of the key.
    env.cmd()
        .env("JWT_SECRET_KEY", format!("{secret}\n"))
        .args(["verify", &from_file])
        .assert()
        .code(1)
        .stderr("jwtauth: invalid token: signature does not match\n");
    // JWT_SECRET_KEY beats the default file.
    env.cmd()
        .env("JWT_SECRET_KEY", "x".repeat(40))
        .args(["verify", &from_file])
        .assert()
        .code(1);
}

#[test]
fn both_default_key_files_present_is_exit_8() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "x"]);
    std::fs::write(env.path().join("config/jwtauth/private.pem"), "not a key\n").unwrap();
    for args in [vec!["mint", "--sub", "x"], vec!["verify", &token]] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(8), "{args:?}");
        let err = stderr_str(&out);
        assert_one_error_line(&err, "two keys");
        assert!(err.contains("--key"), "{err}");
    }
    // Choosing one with --key works.
    env.cmd()
        .args(["verify", "--key", env.secret().to_str().unwrap(), &token])
        .assert()
        .code(0)
        .stdout("x\n");
}

#[test]
fn weak_hmac_secret_needs_allow_weak_key() {
    let env = Env::new();
    let weak = env.path().join("weak");
    common::write_secret(&weak, "0123456789\n");
    let w = weak.to_str().unwrap();
    let out = env
        .cmd()
        .args(["mint", "--sub", "x", "--key", w])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(out.stdout.is_empty());
    let err = stderr_str(&out);
    assert_one_error_line(&err, "weak");
    assert!(
        err.contains("10 bytes") && err.contains("--allow-weak-key"),
        "{err}"
    );
    env.add_user("alice", PW);
    env.cmd()
        .args(["login", "alice", "--password-stdin", "--key", w])
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(8)
        .stdout("");
    let token = env.mint(&["--sub", "x", "--key", w, "--allow-weak-key"]);
    env.cmd()
        .args(["verify", "--key", w, &token])
        .assert()
        .code(0)
        .stdout("x\n");
    // The key is the 10 bytes without the newline.
    let hand = hs256(b"0123456789", &json!({"sub": "h", "exp": now() + 600}));
    env.cmd()
        .args(["verify", "--key", w, &hand])
        .assert()
        .code(0)
        .stdout("h\n");
}

// ---------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------

fn assert_jti(v: &Value) {
    let jti = v["jti"].as_str().expect("jti string");
    assert_eq!(jti.len(), 22, "128 bits in base64url: {jti}");
    assert!(
        jti.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{jti}"
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(jti).unwrap().len(), 16);
}

/// `--iss`, `--aud` and `--claim` flags that login and mint both take.
const EXTRA_CLAIMS: [&str; 10] = [
    "--iss",
    "me",
    "--aud",
    "api",
    "--claim",
    "n=1",
    "--claim",
    "s=x",
    "--claim",
    r#"o={"a":1}"#,
];

#[test]
fn login_and_mint_claims() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let before = now();
    let t = env.login("alice", PW);
    let after = now();
    let p = payload(&env, &t);
    assert_eq!(keys_of(&p), ["exp", "iat", "jti", "sid", "sub"]);
    assert_eq!(p["sub"], "alice");
    let iat = p["iat"].as_i64().unwrap();
    assert!(before <= iat && iat <= after, "{before} {iat} {after}");
    assert_jti(&p);
    assert_eq!(header(&env, &t), json!({"alg": "HS256", "typ": "JWT"}));

    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .args(EXTRA_CLAIMS)
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    let p2 = payload(&env, stdout_str(&out).trim());
    assert_eq!(
        keys_of(&p2),
        [
            "aud", "exp", "iat", "iss", "jti", "n", "o", "s", "sid", "sub"
        ]
    );
    assert_eq!(p2["iss"], "me");
    assert_eq!(p2["aud"], "api");
    assert_eq!(p2["n"], json!(1));
    assert_eq!(p2["s"], json!("x"));
    assert_eq!(p2["o"], json!({"a": 1}));
    assert_ne!(p2["jti"], p["jti"], "every token has its own jti");

    let m = env.mint(&[&["--sub", "svc"][..], &EXTRA_CLAIMS].concat());
    let pm = payload(&env, &m);
    assert_eq!(
        keys_of(&pm),
        ["aud", "exp", "iat", "iss", "jti", "n", "o", "s", "sub"]
    );
    assert_eq!(pm["sub"], "svc");
    assert_eq!(pm["n"], json!(1));
    assert_eq!(pm["s"], json!("x"));
    assert_eq!(pm["o"], json!({"a": 1}));
    assert_jti(&pm);
    // verify --json returns the claims exactly.
    let out = env
        .cmd()
        .args(["verify", "--json", "--any-aud", &m])
        .exits(0);
    let v = json(&out.stdout);
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"], pm);
    assert_eq!(v["header"], json!({"alg": "HS256", "typ": "JWT"}));
}

#[test]
fn reserved_and_malformed_claims_are_usage_errors() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    for bad in [
        "exp=1", "iat=1", "nbf=1", "sub=x", "iss=x", "aud=x", "novalue", "=1",
    ] {
        usage_error_on_mint_and_login(&env, &["--claim", bad], "--claim", bad);
    }
}

// ---------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------

#[test]
fn mint_times_take_unix_seconds_and_rfc3339() {
    let env = Env::new();
    env.init();
    let a = env.mint(&[
        "--sub",
        "x",
        "--iat",
        "1999999000",
        "--nbf",
        "1999999500",
        "--exp",
        "2000000000",
    ]);
    let b = env.mint(&[
        "--sub",
        "x",
        "--iat",
        "2033-05-18T03:16:40Z",
        "--nbf",
        "2033-05-18T05:25:00+02:00",
        "--exp",
        "2033-05-18T03:33:20Z",
    ]);
    for t in [&a, &b] {
        let p = payload(&env, t);
        assert_eq!(p["iat"], 1_999_999_000);
        assert_eq!(p["nbf"], 1_999_999_500);
        assert_eq!(p["exp"], 2_000_000_000);
    }
    for bad in ["tomorrow", "-1", "2033-13-01T00:00:00Z"] {
        let out = env
            .cmd()
            .args(["mint", "--sub", "x"])
            .arg(format!("--exp={bad}"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--exp {bad}");
        assert_one_error_line(&stderr_str(&out), bad);
    }
}

#[test]
pub(crate) fn expired_not_yet_valid_and_leeway() {
    let env = Env::new();
    env.init();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    assert_eq!(
        verify(&env, &expired, &[]),
        (
            3,
            String::new(),
            format!(
                "jwtauth: {}\n",
                expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
            )
        )
    );
    let n = now();
    let nbf = (n + 3600).to_string();
    let future_nbf = env.mint(&["--sub", "x", "--nbf", &nbf]);
    let (code, out, err) = verify(&env, &future_nbf, &[]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert_one_error_line(&err, "nbf");
    assert!(err.contains("not valid before"), "{err}");

    let iat = (n + 3600).to_string();
    let future_iat = env.mint(&["--sub", "x", "--iat", &iat]);
    let (code, _, err) = verify(&env, &future_iat, &[]);
    assert_eq!(code, 3, "{err}");
    assert_one_error_line(&err, "iat");
    assert!(err.contains("not yet valid"), "{err}");
    // With enough leeway both pass.
    assert_eq!(verify(&env, &future_nbf, &["--leeway", "2h"]).0, 0);
    assert_eq!(verify(&env, &future_iat, &["--leeway", "2h"]).0, 0);

    // Expired 30 minutes ago: fails by default and with 20m leeway, passes with 1h.
    let exp = (n - 1800).to_string();
    let iat = (n - 2700).to_string();
    let recent = env.mint(&["--sub", "x", "--iat", &iat, "--exp", &exp]);
    let (code, _, err) = verify(&env, &recent, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.starts_with("jwtauth: token expired: at "), "{err}");
    assert!(err.ends_with(" (30m ago)\n"), "{err}");
    assert_eq!(verify(&env, &recent, &["--leeway", "20m"]).0, 3);
    assert_eq!(
        verify(&env, &recent, &["--leeway", "1h"]),
        (0, "x\n".into(), String::new())
    );
    assert_eq!(verify(&env, &recent, &["--leeway", "3600"]).0, 0);
    let (code, _, err) = verify(&env, &recent, &["--leeway", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--leeway"), "{err}");
}

#[test]
fn forged_expired_token_is_invalid_not_expired() {
    let env = Env::new();
    env.init();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    assert_eq!(verify(&env, &expired, &[]).0, 3);
    assert_eq!(
        verify(&env, &forge_signature(&expired), &[]),
        (
            1,
            String::new(),
            "jwtauth: invalid token: signature does not match\n".into()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Audience, issuer, algorithm
// ---------------------------------------------------------------------------------------

#[test]
fn audience_and_issuer() {
    let env = Env::new();
    env.init();
    let t = env.mint(&["--sub", "x", "--aud", "api", "--iss", "me"]);
    assert_eq!(verify(&env, &t, &["--aud", "api"]).0, 0);
    // SPEC §8: a token with an audience needs --aud (or --any-aud).
    assert_eq!(verify(&env, &t, &["--iss", "me"]).0, 1);
    assert_eq!(verify(&env, &t, &["--iss", "me", "--any-aud"]).0, 0);
    assert_eq!(
        verify(&env, &t, &["--aud", "api", "--iss", "me"]),
        (0, "x\n".into(), String::new())
    );
    assert_eq!(
        verify(&env, &t, &["--aud", "web"]),
        (
            1,
            String::new(),
            "jwtauth: invalid token: audience is not \"web\"\n".into()
        )
    );
    assert_eq!(
        verify(&env, &t, &["--iss", "you", "--any-aud"]),
        (
            1,
            String::new(),
            "jwtauth: invalid token: issuer is not \"you\"\n".into()
        )
    );
    // Not asked: refused (SPEC §8), unless any audience is accepted.
    assert_eq!(verify(&env, &t, &[]).0, 1);
    assert_eq!(verify(&env, &t, &["--any-aud"]).0, 0);
    // Asked but absent.
    let bare = env.mint(&["--sub", "x"]);
    assert_eq!(verify(&env, &bare, &["--aud", "api"]).0, 1);
    assert_eq!(verify(&env, &bare, &["--iss", "me"]).0, 1);
    // aud as an array (RFC 7519 §4.1.3), hand-signed.
    let key = secret_bytes(&env);
    let arr = hs256(
        &key,
        &json!({"sub": "y", "exp": now() + 600, "aud": ["web", "api"], "iss": "me"}),
    );
    assert_eq!(
        verify(&env, &arr, &["--aud", "api", "--iss", "me"]),
        (0, "y\n".into(), String::new())
    );
    assert_eq!(verify(&env, &arr, &["--aud", "web"]).0, 0);
    assert_eq!(verify(&env, &arr, &["--aud", "other"]).0, 1);
    // aud of the wrong type is invalid, not a crash.
    let odd = hs256(&key, &json!({"sub": "y", "exp": now() + 600, "aud": 5}));
    let (code, _, err) = verify(&env, &odd, &["--aud", "api"]);
    assert_eq!(code, 1);
    assert_one_error_line(&err, "aud 5");
}

#[test]
fn algorithm_selection() {
    let env = Env::new();
    env.init();
    let t256 = env.mint(&["--sub", "x"]);
    let (code, out, err) = verify(&env, &t256, &["--alg", "HS384"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_one_error_line(&err, "alg");
    assert!(
        err.contains("HS256") && err.contains("not accepted"),
        "{err}"
    );
    assert_eq!(verify(&env, &t256, &["--alg", "HS256"]).0, 0);

    let t512 = env.mint(&["--sub", "x", "--alg", "HS512"]);
    assert_eq!(header(&env, &t512)["alg"], "HS512");
    assert_eq!(
        t512.rsplit('.').next().unwrap().len(),
        86,
        "a 64-byte HS512 signature"
    );
    assert_eq!(verify(&env, &t512, &[]), (0, "x\n".into(), String::new()));
    assert_eq!(verify(&env, &t512, &["--alg", "HS512"]).0, 0);
    assert_eq!(verify(&env, &t512, &["--alg", "HS256"]).0, 1);
    let t384 = env.mint(&["--sub", "x", "--alg", "HS384"]);
    assert_eq!(header(&env, &t384)["alg"], "HS384");
    assert_eq!(verify(&env, &t384, &[]).0, 0);
    // An unknown --alg is a usage error.
    assert_eq!(verify(&env, &t256, &["--alg", "none"]).0, 2);
}

// ---------------------------------------------------------------------------------------
// Revocation through user commands and logout --all
// ---------------------------------------------------------------------------------------

/// Asserts `before` is revoked by the subject mark and a token issued after it is valid.
fn assert_subject_revoked(env: &Env, before: &str, after: &str, sub: &str) {
    let (code, out, err) = verify(env, before, &[]);
    assert_eq!((code, out.as_str()), (4, ""), "{err}");
    assert!(
        err.starts_with(&format!(
            "jwtauth: token revoked: every token of \"{sub}\" issued up to "
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    assert_eq!(
        verify(env, after, &[]),
        (0, format!("{sub}\n"), String::new()),
        "a token issued after the revocation stays valid"
    );
    // --no-revocation skips the list.
    assert_eq!(
        verify(env, before, &["--no-revocation"]),
        (0, format!("{sub}\n"), String::new())
    );
    let at = revocations(env)["users"][sub].as_i64().expect("users mark");
    let iat = payload(env, after)["iat"].as_i64().unwrap();
    assert!(iat > at, "new token iat {iat} > revoked_at {at}");
}

#[test]
fn user_passwd_revokes_earlier_tokens() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let before = env.login("alice", PW);
    env.cmd()
        .args(["user", "passwd", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("new password\n")
        .assert()
        .code(0);
    let after = env.login("alice", "new password");
    assert_subject_revoked(&env, &before, &after, "alice");
}

#[test]
fn user_disable_and_remove_revoke_earlier_tokens() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    let a_before = env.login("alice", PW);
    let b_before = env.login("bob", PW);
    env.cmd()
        .args(["user", "disable", "alice"])
        .assert()
        .code(0);
    env.cmd().args(["user", "remove", "bob"]).assert().code(0);
    // Neither can log in; mint still issues (it waits past the revocation second).
    let a_after = env.mint(&["--sub", "alice"]);
    let b_after = env.mint(&["--sub", "bob"]);
    assert_subject_revoked(&env, &a_before, &a_after, "alice");
    assert_subject_revoked(&env, &b_before, &b_after, "bob");
}

#[test]
fn logout_all_revokes_any_subject() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let before = env.login("alice", PW);
    let svc = env.mint(&["--sub", "svc"]);
    let other = env.mint(&["--sub", "other"]);
    env.cmd()
        .args(["logout", "--all", "alice"])
        .assert()
        .code(0)
        .stdout("");
    env.cmd()
        .args(["-q", "logout", "--all", "svc", "--force"])
        .stderr_only(0, "");
    let after = env.login("alice", PW);
    assert_subject_revoked(&env, &before, &after, "alice");
    assert_eq!(verify(&env, &svc, &[]).0, 4);
    assert_eq!(
        verify(&env, &other, &[]),
        (0, "other\n".into(), String::new())
    );
    // mint --iat at or before the mark is refused (the token would be born revoked).
    let at = revocations(&env)["users"]["svc"].as_i64().unwrap();
    let out = env
        .cmd()
        .args(["mint", "--sub", "svc", "--iat", &at.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_one_error_line(&stderr_str(&out), "born revoked");
    let later = env.mint(&["--sub", "svc", "--iat", &(at + 1).to_string()]);
    assert_eq!(payload(&env, &later)["iat"], at + 1);
    assert_eq!(verify(&env, &later, &["--leeway", "5s"]).0, 0);
}

// ---------------------------------------------------------------------------------------
// RFC 7515 Appendix A.1
// ---------------------------------------------------------------------------------------

#[test]
fn rfc7515_appendix_a1_example() {
    let env = Env::new();
    let key = URL_SAFE_NO_PAD.decode(RFC7515_A1_K).unwrap();
    assert_eq!(key.len(), 64);
    assert_ne!(key.last(), Some(&b'\n'), "no newline to strip");
    let kf = env.path().join("rfc.key");
    common::write_secret(&kf, &key);
    let k = kf.to_str().unwrap();

    let out = env
        .cmd()
        .args(["decode", "--json", RFC7515_A1_TOKEN])
        .exits(0);
    let v = json(&out.stdout);
    assert_eq!(v["header"], json!({"typ": "JWT", "alg": "HS256"}));
    assert_eq!(
        v["payload"],
        json!({"iss": "joe", "exp": 1_300_819_380, "http://example.com/is_root": true})
    );
    assert_eq!(
        v["signature"],
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    // The signature is good, the token expired in 2011.
    assert_eq!(
        verify(&env, RFC7515_A1_TOKEN, &["--key", k]),
        (
            3,
            String::new(),
            format!(
                "jwtauth: {}\n",
                expired_msg("2011-03-22T18:43:00Z", 1_300_819_380)
            )
        )
    );
    assert_eq!(
        verify(&env, RFC7515_A1_TOKEN, &["--key", k, "--no-exp-required"]).0,
        3
    );
    // With a century of leeway it verifies; no sub, so the claims are printed.
    assert_eq!(
        verify(&env, RFC7515_A1_TOKEN, &["--key", k, "--leeway", "36500d"]),
        (
            0,
            "{\"exp\":1300819380,\"http://example.com/is_root\":true,\"iss\":\"joe\"}\n".into(),
            String::new()
        )
    );
    // The same key file with one trailing newline is the same key.
    let kf2 = env.path().join("rfc-nl.key");
    let mut with_nl = key.clone();
    with_nl.push(b'\n');
    common::write_secret(&kf2, &with_nl);
    assert_eq!(
        verify(
            &env,
            RFC7515_A1_TOKEN,
            &["--key", kf2.to_str().unwrap(), "--leeway", "36500d"]
        )
        .0,
        0
    );
    // Any other key: invalid, not expired.
    env.init();
    assert_eq!(verify(&env, RFC7515_A1_TOKEN, &[]).0, 1);
}

// ---------------------------------------------------------------------------------------
// Attack tokens (RFC 8725) and hostile input: one error line, never a panic
// ---------------------------------------------------------------------------------------

#[test]
fn attack_tokens_are_invalid_with_one_error_line() {
    let env = Env::new();
    env.init();
    let key = secret_bytes(&env);
    let good = env.mint(&["--sub", "alice"]);
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let payload_json = String::from_utf8(URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    let exp = now() + 600;

    let none = |alg: &str| {
        format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes()),
            p
        )
    };
    let swapped = format!("{}.{p}.{s}", b64(br#"{"alg":"HS512","typ":"JWT"}"#));
    let admin = format!(
        "{h}.{}.{s}",
        b64(payload_json.replace("\"alice\"", "\"admin\"").as_bytes())
    );
    let rs256_with_hmac = hand_sign(
        &key,
        Algorithm::HS256,
        br#"{"alg":"RS256","typ":"JWT"}"#,
        json!({"sub": "x", "exp": exp}).to_string().as_bytes(),
    );
    let crit = hand_sign(
        &key,
        Algorithm::HS256,
        br#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        json!({"sub": "x", "exp": exp}).to_string().as_bytes(),
    );
    let nested = hand_sign(
        &key,
        Algorithm::HS256,
        br#"{"alg":"HS256"}"#,
        format!(
            r#"{{"sub":"x","exp":{exp},"deep":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .as_bytes(),
    );
    let nested_header = hand_sign(
        &key,
        Algorithm::HS256,
        format!(
            r#"{{"alg":"HS256","x":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        )
        .as_bytes(),
        json!({"sub": "x", "exp": exp}).to_string().as_bytes(),
    );
    let not_object = hand_sign(&key, Algorithm::HS256, br#"{"alg":"HS256"}"#, b"[1,2]");
    // Arrays that a field-order deserializer would read as {"exp": 4000000000, …}.
    let array_payload = hand_sign(
        &key,
        Algorithm::HS256,
        br#"{"alg":"HS256"}"#,
        b"[4000000000,null,null,\"x\",\"j\"]",
    );
    let array_header = hand_sign(
        &key,
        Algorithm::HS256,
        br#"["HS256"]"#,
        json!({"sub": "x", "exp": exp}).to_string().as_bytes(),
    );
    let bad_utf8_payload = hand_sign(
        &key,
        Algorithm::HS256,
        br#"{"alg":"HS256"}"#,
        b"{\"sub\":\"\xff\",\"exp\":9999999999}",
    );
    let exp_string = hs256(&key, &json!({"sub": "x", "exp": "tomorrow"}));
    let no_exp = hs256(&key, &json!({"sub": "x"}));
    let big = format!("{h}.{}.{s}", "A".repeat(70_000));

    let cases: Vec<(&str, String)> = vec![
        ("alg none", none("none")),
        ("alg None", none("None")),
        ("alg NONE", none("NONE")),
        ("alg swapped HS256->HS512", swapped),
        ("payload changed", admin),
        ("HMAC signature under alg RS256", rs256_with_hmac),
        ("crit header", crit),
        ("truncated", good[..good.len() - 5].to_string()),
        ("truncated in the payload", good[..h.len() + 10].to_string()),
        ("two parts", format!("{h}.{p}")),
        ("four parts", format!("{good}.{s}")),
        ("five parts", format!("{h}.{p}.{s}.{s}.{s}")),
        ("extra dot", format!("{h}.{p}..{s}")),
        ("empty signature", format!("{h}.{p}.")),
        (
            "non-base64url in payload",
            format!("{h}.{}+/.{s}", &p[..p.len() - 2]),
        ),
        ("padding", format!("{h}.{p}==.{s}")),
        (
            "non-base64url in signature",
            format!("{h}.{p}.{}!", &s[1..]),
        ),
        ("over 64 KiB", big),
        ("deeply nested JSON, signed", nested),
        ("deeply nested header, signed", nested_header),
        ("payload not an object", not_object),
        ("payload an array", array_payload),
        ("header an array", array_header),
        ("invalid UTF-8 in payload", bad_utf8_payload),
        ("exp not a number", exp_string),
        ("no exp", no_exp),
        ("garbage", "hello world".into()),
        ("dots only", "..".into()),
    ];
    // Every path that checks a token: text and --json, argument and stdin (batch), and
    // logout (which must write nothing).
    for (what, token) in &cases {
        for json_mode in [false, true] {
            let flags: &[&str] = if json_mode { &["--json"] } else { &[] };
            let out = env
                .cmd()
                .arg("verify")
                .args(flags)
                .arg(token)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{what} {flags:?}");
            let err = stderr_str(&out);
            assert_one_error_line(&err, what);
            assert!(err.starts_with("jwtauth: invalid token: "), "{what}: {err}");
            // --json answers a failure too (SPEC §8), with the message of stderr.
            let expected = if json_mode {
                let msg = err.trim_end().strip_prefix("jwtauth: ").unwrap();
                format!(
                    "{}\n",
                    json!({"valid": false, "exit_code": 1, "error": msg})
                )
            } else {
                String::new()
            };
            assert_eq!(stdout_str(&out), expected, "{what} {flags:?}");
            // The one token on stdin, TOKEN omitted: the same answer as the argument.
            let alone = env
                .cmd()
                .arg("verify")
                .args(flags)
                .write_stdin(format!("{token}\n"))
                .output()
                .unwrap();
            assert_eq!(alone.status.code(), Some(1), "{what} {flags:?} (stdin)");
            assert_eq!(stdout_str(&alone), expected, "{what} {flags:?} (stdin)");
            assert_eq!(stderr_str(&alone), err, "{what} {flags:?} (stdin)");

            let out = env
                .cmd()
                .args(["verify", "-"])
                .args(flags)
                .write_stdin(format!("{token}\n"))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{what} {flags:?} (stdin)");
            let so = stdout_str(&out);
            assert_eq!(so.lines().count(), 1, "{what} {flags:?} (stdin): {so:?}");
            if json_mode {
                let v = json(so.as_bytes());
                assert_eq!(keys_of(&v), ["error", "exit_code", "line"], "{what}: {v}");
                assert_eq!(v["exit_code"], 1, "{what}: {v}");
            } else {
                assert!(so.starts_with("error 1 invalid token: "), "{what}: {so:?}");
            }
            assert_one_error_line(&stderr_str(&out), what);
        }
        let out = env.cmd().args(["logout", token]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "logout {what}");
        assert_one_error_line(&stderr_str(&out), what);
        assert!(!env.state().exists(), "logout {what} wrote the state");
    }
    // The good token itself passes, so the cases fail for their own reason.
    assert_eq!(verify(&env, &good, &[]).0, 0);
    // An over-long token on stdin (no newline at all) is bounded too.
    let out = env
        .cmd()
        .args(["verify", "-"])
        .write_stdin("A".repeat(200_000))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_str(&out).starts_with("error 1 invalid token: token is over"),
        "{}",
        stdout_str(&out)
    );
    assert_one_error_line(&stderr_str(&out), "long stdin");
}

#[test]
fn hostile_stdin_is_one_error_line() {
    let env = Env::new();
    env.init();
    for (what, input) in [
        ("invalid UTF-8", b"\xff\xfe\x00\x80abc\n".to_vec()),
        ("invalid UTF-8 with dots", b"\xff.\xfe.\x80\n".to_vec()),
    ] {
        for cmd in ["verify", "decode"] {
            let out = env
                .cmd()
                .args([cmd, "-"])
                .write_stdin(input.clone())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{cmd} {what}");
            let so = stdout_str(&out);
            assert!(
                so.starts_with("error 1 ") && so.lines().count() == 1,
                "{cmd} {what}: {so:?}"
            );
            assert_one_error_line(&stderr_str(&out), what);
        }
    }
    // No tokens: exit 1; each empty line is answered (SPEC §15), none invented at the end.
    for (what, input, answers) in [
        ("empty", "", ""),
        (
            "blank lines",
            "\n \n\r\n",
            "error 1 empty line\nerror 1 empty line\nerror 1 empty line\n",
        ),
    ] {
        for cmd in ["verify", "decode"] {
            for arg in [Some("-"), None] {
                let out = env
                    .cmd()
                    .arg(cmd)
                    .args(arg)
                    .write_stdin(input)
                    .output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(1), "{cmd} {arg:?} {what}");
                assert_eq!(stdout_str(&out), answers, "{cmd} {what}");
                assert_eq!(
                    stderr_str(&out),
                    "jwtauth: invalid token: no tokens on stdin\n",
                    "{cmd} {what}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// decode
// ---------------------------------------------------------------------------------------

#[test]
fn decode_text_and_json() {
    let env = Env::new();
    env.init();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    let out = env
        .cmd()
        .args(["decode", &expired])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let text = stdout_str(&out);
    assert!(text.contains("2001-09-09T01:46:40Z"), "exp as UTC: {text}");
    assert!(text.contains("2001-09-09T01:30:00Z"), "iat as UTC: {text}");
    assert!(
        text.lines().any(|l| l.starts_with("Status: expired ")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.trim() == "sub  x"), "{text}");

    let live = env.mint(&["--sub", "x"]);
    let out = env.cmd().args(["decode", &live]).exits(0);
    let text = stdout_str(&out);
    assert!(
        text.lines().any(|l| l.starts_with("Status: not expired")),
        "a live token is not called expired: {text}"
    );

    for t in [&expired, &live] {
        let out = env
            .cmd()
            .args(["decode", "--json", t])
            .assert()
            .code(0)
            .stderr("")
            .get_output()
            .clone();
        let v = json(&out.stdout);
        assert_eq!(keys_of(&v), ["header", "payload", "signature"]);
        assert_eq!(v["header"], json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(v["payload"]["sub"], "x");
        assert_eq!(v["signature"], t.rsplit('.').next().unwrap());
    }
    // decode takes apart even unsigned and forged tokens (it is an inspection).
    let p = live.split('.').nth(1).unwrap();
    let none = format!("{}.{p}.", b64(br#"{"alg":"none"}"#));
    let v = env.decoded(&none);
    assert_eq!(v["header"], json!({"alg": "none"}));
    assert_eq!(v["payload"]["sub"], "x");
    assert_eq!(v["signature"], "");
    env.cmd()
        .args(["decode", &forge_signature(&live)])
        .assert()
        .code(0);
    // …but not what is not a JWS at all.
    let out = env.cmd().args(["decode", "a.b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&stderr_str(&out), "decode a.b");
    // decode needs no key at all.
    let bare = Env::new();
    bare.cmd().args(["decode", &live]).assert().code(0);
}

// ---------------------------------------------------------------------------------------
// Batch mode
// ---------------------------------------------------------------------------------------

#[test]
fn verify_batch_text_and_json() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let good = env.login("alice", PW);
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    let revoked = env.mint(&["--sub", "bob"]);
    env.cmd().args(["logout", &revoked]).assert().code(0);
    let nosub = hs256(&secret_bytes(&env), &json!({"exp": 4_000_000_000i64}));
    let input = format!("{good}\n\n{expired}\n{revoked}\r\ngarbage\n  \n{nosub}\n{good}");
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(input.clone())
        .assert()
        .code(1)
        .stdout(format!(
            "ok alice\n\
             error 1 empty line\n\
             error 3 {}\n\
             error 4 token revoked: this token was logged out\n\
             error 1 invalid token: expected 3 dot-separated parts (header.payload.signature), found 1\n\
             error 1 empty line\n\
             ok {{\"exp\":4000000000}}\n\
             ok alice\n",
            expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
        ))
        .stderr("jwtauth: invalid token: 3 of 6 tokens failed, and there were 2 empty lines\n");

    let out = env
        .cmd()
        .args(["verify", "--json"])
        .write_stdin(input)
        .exits(1);
    // Every line is answered, the empty ones too (SPEC §15).
    let all: Vec<Value> = json_lines(&out);
    assert_eq!(all.len(), 8);
    for n in [2, 6] {
        assert_eq!(
            all[n - 1],
            json!({"line": n, "exit_code": 1, "error": "empty line"})
        );
    }
    let lines: Vec<Value> = all
        .into_iter()
        .filter(|l| l["error"] != "empty line")
        .collect();
    assert_eq!(lines.len(), 6);
    let good_claims = payload(&env, &good);
    assert_eq!(
        lines[0],
        json!({"line": 1, "exit_code": 0, "claims": good_claims})
    );
    assert_eq!(
        lines[1],
        json!({"line": 3, "exit_code": 3, "error": expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)})
    );
    assert_eq!(
        lines[2],
        json!({"line": 4, "exit_code": 4, "error": "token revoked: this token was logged out"})
    );
    assert_eq!(lines[3]["line"], 5);
    assert_eq!(lines[3]["exit_code"], 1);
    assert_eq!(keys_of(&lines[3]), ["error", "exit_code", "line"]);
    assert_eq!(
        lines[4],
        json!({"line": 7, "exit_code": 0, "claims": {"exp": 4_000_000_000i64}})
    );
    assert_eq!(lines[5]["line"], 8);
    assert_eq!(lines[5]["exit_code"], 0);

    // All good: exit 0, nothing on stderr.
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(format!("{good}\n{nosub}\n"))
        .assert()
        .code(0)
        .stdout("ok alice\nok {\"exp\":4000000000}\n")
        .stderr("");
}

#[test]
fn decode_batch_text_and_json() {
    let env = Env::new();
    env.init();
    let a = env.mint(&["--sub", "a"]);
    let expired = env.mint(&["--sub", "old", "--iat", "999999000", "--exp", "1000000000"]);
    let input = format!("{a}\n\n{expired}\nnot.a.token\n");
    env.cmd()
        .args(["decode", "-"])
        .write_stdin(input.clone())
        .assert()
        .code(1)
        .stdout("ok a\nerror 1 empty line\nok old\nerror 1 invalid token: header is not valid base64url\n")
        .stderr("jwtauth: invalid token: 1 of 3 tokens failed, and there was 1 empty line\n");
    let out = env
        .cmd()
        .args(["decode", "--json", "-"])
        .write_stdin(input)
        .exits(1);
    let mut lines: Vec<Value> = json_lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines.remove(1),
        json!({"line": 2, "exit_code": 1, "error": "empty line"})
    );
    assert_eq!(
        keys_of(&lines[0]),
        ["exit_code", "header", "line", "payload", "signature"]
    );
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["exit_code"], 0);
    assert_eq!(lines[0]["payload"], payload(&env, &a));
    assert_eq!(lines[1]["line"], 3);
    assert_eq!(
        lines[1]["exit_code"], 0,
        "decode of an expired token passes"
    );
    assert_eq!(lines[1]["payload"]["sub"], "old");
    assert_eq!(
        lines[2],
        json!({"line": 4, "exit_code": 1, "error": "invalid token: header is not valid base64url"})
    );
    env.cmd()
        .args(["decode", "-"])
        .write_stdin(format!("{a}\n{expired}\n"))
        .assert()
        .code(0)
        .stdout("ok a\nok old\n")
        .stderr("");
}

#[test]
pub(crate) fn verify_batch_of_ten_thousand_tokens() {
    let env = Env::new();
    env.init();
    let tokens: Vec<String> = (0..4)
        .map(|i| env.mint(&["--sub", &format!("u{i}")]))
        .collect();
    let mut input = String::new();
    let mut expected = String::new();
    for i in 0..10_000 {
        input.push_str(&tokens[i % 4]);
        input.push('\n');
        expected.push_str(&format!("ok u{}\n", i % 4));
    }
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(input)
        .assert()
        .code(0)
        .stdout(expected)
        .stderr("");
}

#[test]
pub(crate) fn verify_batch_answers_each_line_before_the_input_ends() {
    let env = Env::new();
    env.init();
    let a = env.mint(&["--sub", "a"]);
    let b = env.mint(&["--sub", "b"]);
    let mut child = env
        .std_cmd()
        .args(["verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    writeln!(stdin, "{a}").unwrap();
    stdin.flush().unwrap();
    let first = rx.recv_timeout(Duration::from_secs(20));
    writeln!(stdin, "{b}").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(
        first.as_deref(),
        Ok("ok a"),
        "the first answer comes while stdin is still open"
    );
    assert_eq!(rx.recv().as_deref(), Ok("ok b"));
    assert!(status.success());
}

// ---------------------------------------------------------------------------------------
// logout and the revocation list
// ---------------------------------------------------------------------------------------

#[test]
fn logout_refuses_expired_and_invalid_tokens_and_writes_nothing() {
    let env = Env::new();
    env.init();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    env.cmd().args(["logout", &expired]).stderr_only(
        3,
        format!(
            "jwtauth: {}\n",
            expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
        ),
    );
    assert!(
        !env.state().exists(),
        "nothing written for an expired token"
    );
    env.cmd()
        .args(["logout", &forge_signature(&env.mint(&["--sub", "x"]))])
        .stderr_only(1, "jwtauth: invalid token: signature does not match\n");
    assert!(
        !env.state().exists(),
        "nothing written for an invalid token"
    );

    // With a state file present, a refused logout leaves it byte for byte.
    env.cmd()
        .args(["logout", "--all", "z", "--force"])
        .assert()
        .code(0);
    let before = common::bytes(&env.state());
    env.cmd().args(["logout", &expired]).assert().code(3);
    env.cmd().args(["logout", "garbage"]).assert().code(1);
    assert_eq!(common::bytes(&env.state()), before);
    // A revoked token again: 4, unchanged.
    let t = env.mint(&["--sub", "y"]);
    env.cmd().args(["logout", &t]).assert().code(0);
    let before = common::bytes(&env.state());
    env.cmd()
        .args(["logout", &t])
        .assert()
        .code(4)
        .stderr("jwtauth: token revoked: this token was logged out\n");
    assert_eq!(common::bytes(&env.state()), before);
}

#[test]
pub(crate) fn logout_reads_the_token_from_stdin() {
    let env = Env::new();
    env.init();
    let a = env.mint(&["--sub", "a"]);
    let b = env.mint(&["--sub", "b"]);
    // `-` is batch mode, even for one token: one result line, `ok <jti>`.
    let jti_a = payload(&env, &a)["jti"].as_str().unwrap().to_string();
    env.cmd()
        .args(["logout", "-"])
        .write_stdin(format!("{a}\n"))
        .assert()
        .code(0)
        .stdout(format!("ok {jti_a}\n"))
        .stderr("");
    // TOKEN omitted and one token: as if it were the argument (nothing on stdout).
    let jti_b = payload(&env, &b)["jti"].as_str().unwrap().to_string();
    env.cmd()
        .arg("logout")
        .write_stdin(format!("\n{b}\r\n"))
        .assert()
        .code(0)
        .stdout("")
        .stderr(format!("jwtauth: logged out token {jti_b}\n"));
    assert_eq!(verify(&env, &a, &[]).0, 4);
    assert_eq!(verify(&env, &b, &[]).0, 4);
    let out = env.cmd().arg("logout").write_stdin("").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_one_error_line(&stderr_str(&out), "empty stdin logout");
    // TOKEN omitted and two lines: batch mode too; the same token twice is revoked once,
    // then found revoked (4), so the run is 1.
    let c = env.mint(&["--sub", "c"]);
    let jti_c = payload(&env, &c)["jti"].as_str().unwrap().to_string();
    env.cmd()
        .arg("logout")
        .write_stdin(format!("{c}\n{c}\n"))
        .assert()
        .code(1)
        .stdout(format!(
            "ok {jti_c}\nerror 4 token revoked: this token was logged out\n"
        ))
        .stderr("jwtauth: invalid token: 1 of 2 tokens failed\n");
    assert_eq!(verify(&env, &c, &[]).0, 4);
}

#[test]
fn revocations_list_text_and_json() {
    let env = Env::new();
    env.init();
    env.cmd()
        .args(["revocations", "list", "--json"])
        .assert()
        .code(0)
        .stdout("{\"tokens\":[],\"users\":[]}\n");
    let exp = 4_000_000_000i64;
    let t = env.mint(&["--sub", "x", "--exp", &exp.to_string()]);
    let jti = payload(&env, &t)["jti"].as_str().unwrap().to_string();
    env.cmd().args(["logout", &t]).assert().code(0);
    env.cmd()
        .args(["logout", "--all", "alice", "--force"])
        .assert()
        .code(0);
    let at = revocations(&env)["users"]["alice"].as_i64().unwrap();
    let out = env.cmd().args(["revocations", "list", "--json"]).exits(0);
    assert_eq!(
        json(&out.stdout),
        json!({"tokens": [{"jti": jti, "exp": exp}], "users": [{"sub": "alice", "revoked_at": at}]})
    );
    let out = env.cmd().args(["revocations", "list"]).exits(0);
    let text = stdout_str(&out);
    assert!(text.contains(&jti), "{text}");
    assert!(text.contains("2096-10-02T07:06:40Z"), "{text}");
    assert!(text.contains("alice"), "{text}");
    // The state file itself.
    assert_eq!(
        revocations(&env),
        json!({"version": 1, "tokens": {jti: exp}, "users": {"alice": at}})
    );
    assert_eq!(common::mode(&env.state()), 0o600);
}

#[test]
fn expired_entries_are_pruned_on_the_next_write_and_by_prune() {
    let env = Env::new();
    env.init();
    let live = now() + 3600;
    std::fs::create_dir_all(env.state().parent().unwrap()).unwrap();
    let write_state = |p: &Path| {
        std::fs::write(
            p,
            format!(
                r#"{{"version": 1, "tokens": {{"old": 1000, "older": 5, "live": {live}}}, "users": {{"bob": 7}}}}"#
            ),
        )
        .unwrap();
    };
    write_state(&env.state());
    env.cmd()
        .args(["logout", "--all", "x", "--force"])
        .assert()
        .code(0);
    let s = revocations(&env);
    assert_eq!(s["tokens"], json!({"live": live}), "{s}");
    assert_eq!(s["users"]["bob"], 7);
    assert!(s["users"]["x"].is_i64());

    write_state(&env.state());
    env.cmd()
        .args(["revocations", "prune", "--json"])
        .assert()
        .code(0)
        .stdout("{\"pruned\":2}\n");
    assert_eq!(revocations(&env)["tokens"], json!({"live": live}));
    env.cmd()
        .args(["revocations", "prune"])
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(revocations(&env)["tokens"], json!({"live": live}));
}

#[test]
fn fifty_concurrent_logouts_are_all_recorded() {
    let env = Env::new();
    env.init();
    let tokens: Vec<String> = (0..50)
        .map(|i| env.mint(&["--sub", &format!("u{i}")]))
        .collect();
    let children: Vec<_> = tokens
        .iter()
        .map(|t| {
            env.std_cmd()
                .args(["logout", t])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr_str(&out));
    }
    let s = revocations(&env);
    let recorded = s["tokens"].as_object().unwrap();
    assert_eq!(recorded.len(), 50);
    let input: String = tokens.iter().map(|t| format!("{t}\n")).collect();
    let out = env
        .cmd()
        .args(["verify", "--json", "-"])
        .write_stdin(input)
        .exits(1);
    let lines: Vec<Value> = json_lines(&out);
    assert_eq!(lines.len(), 50);
    for (t, l) in tokens.iter().zip(&lines) {
        let jti = payload(&env, t)["jti"].as_str().unwrap().to_string();
        assert!(recorded.contains_key(&jti), "{jti} missing");
        assert_eq!(l["exit_code"], 4, "{l}");
    }
}

#[test]
fn concurrent_first_logins_share_one_new_key() {
    let env = Env::new();
    env.add_user("alice", PW);
    let children: Vec<_> = (0..10)
        .map(|_| {
            let mut c = env
                .std_cmd()
                .args(["login", "alice", "--password-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            writeln!(stdin, "{PW}").unwrap();
            c
        })
        .collect();
    let mut announced = 0;
    let mut tokens = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = stderr_str(&out);
        assert!(out.status.success(), "{err}");
        announced += err.lines().count();
        tokens.push(stdout_str(&out).trim().to_string());
    }
    assert_eq!(
        announced, 1,
        "exactly one process created (and announced) the key"
    );
    assert_eq!(common::mode(&env.secret()), 0o600);
    for t in &tokens {
        assert_eq!(verify(&env, t, &[]), (0, "alice\n".into(), String::new()));
    }
}

#[test]
fn logout_of_a_token_without_jti_points_to_logout_all() {
    let env = Env::new();
    env.init();
    let t = hs256(
        &secret_bytes(&env),
        &json!({"sub": "x", "exp": now() + 600}),
    );
    assert_eq!(verify(&env, &t, &[]).0, 0);
    let out = env.cmd().args(["logout", &t]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_str(&out);
    assert_one_error_line(&err, "no jti");
    assert!(err.contains("logout --all"), "{err}");
    assert!(!env.state().exists());
}

// ---------------------------------------------------------------------------------------
// Issue 12: what jwt-cli and step users reach for (SPEC §8 "Tokens")
// ---------------------------------------------------------------------------------------

/// Every file under the temp home with its bytes: "nothing changed on disk" is this map
/// before and after.
fn disk(env: &Env) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(env.path(), &mut out);
    out.sort();
    out
}

/// Runs `jwtauth ARGS` with `stdin`: (code, stdout, stderr).
fn run(env: &Env, args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = env.cmd().args(args).write_stdin(stdin).output().unwrap();
    (
        out.status.code().expect("exit code"),
        stdout_str(&out),
        stderr_str(&out),
    )
}

#[test]
fn verify_accepts_any_of_repeated_aud_and_iss() {
    let env = Env::new();
    env.init();
    let t = env.mint(&["--sub", "x", "--aud", "api", "--iss", "idp-a"]);
    assert_eq!(
        verify(&env, &t, &["--aud", "web", "--aud", "api"]),
        (0, "x\n".into(), String::new())
    );
    assert_eq!(
        verify(&env, &t, &["--aud", "web", "--aud", "mobile"]),
        (
            1,
            String::new(),
            "jwtauth: invalid token: audience is not one of \"web\", \"mobile\"\n".into()
        )
    );
    assert_eq!(
        verify(&env, &t, &["--any-aud", "--iss", "idp-b", "--iss", "idp-a"]),
        (0, "x\n".into(), String::new())
    );
    assert_eq!(
        verify(
            &env,
            &t,
            &["--aud", "api", "--iss", "idp-b", "--iss", "idp-c"]
        ),
        (
            1,
            String::new(),
            "jwtauth: invalid token: issuer is not one of \"idp-b\", \"idp-c\"\n".into()
        )
    );
    // --any-aud still conflicts with --aud, however many.
    let (code, out, err) = verify(&env, &t, &["--aud", "a", "--aud", "b", "--any-aud"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_one_error_line(&err, "--aud with --any-aud");
    // An array aud (minted by us now): any one of the wanted values in any one of its.
    let arr = env.mint(&["--sub", "y", "--aud", "orders", "--aud", "billing"]);
    assert_eq!(verify(&env, &arr, &["--aud", "billing"]).0, 0);
    assert_eq!(verify(&env, &arr, &["--aud", "x", "--aud", "orders"]).0, 0);
    assert_eq!(verify(&env, &arr, &["--aud", "x", "--aud", "z"]).0, 1);
    assert_eq!(verify(&env, &arr, &[]).0, 1, "an audience needs --aud");
    // In a stream too.
    env.cmd()
        .args(["verify", "-", "--aud", "nope", "--aud", "billing"])
        .write_stdin(format!("{arr}\n{t}\n"))
        .assert()
        .code(1)
        .stdout("ok y\nerror 1 invalid token: audience is not one of \"nope\", \"billing\"\n")
        .stderr("jwtauth: invalid token: 1 of 2 tokens failed\n");
}

#[test]
fn repeated_aud_on_mint_and_login_makes_an_array() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    let one = env.mint(&["--sub", "s", "--aud", "api"]);
    assert_eq!(
        payload(&env, &one)["aud"],
        json!("api"),
        "one --aud is a string"
    );
    let two = env.mint(&["--sub", "s", "--aud", "api", "--aud", "billing"]);
    assert_eq!(payload(&env, &two)["aud"], json!(["api", "billing"]));
    let out = env
        .cmd()
        .args([
            "mint", "--json", "--sub", "s", "--aud", "a", "--aud", "b", "--aud", "c",
        ])
        .exits(0);
    assert_eq!(json(&out.stdout)["claims"]["aud"], json!(["a", "b", "c"]));
    let login = |extra: &[&str]| {
        let mut cmd = env.cmd();
        cmd.args(["login", "alice", "--password-stdin"])
            .args(extra)
            .write_stdin(format!("{PW}\n"));
        stdout_str(&cmd.exits(0)).trim().to_string()
    };
    let t = login(&["--aud", "api", "--aud", "billing"]);
    assert_eq!(payload(&env, &t)["aud"], json!(["api", "billing"]));
    assert_eq!(verify(&env, &t, &["--aud", "billing"]).0, 0);
    // The configured audience is the default; flags replace it.
    env.write_config("audience = \"portal\"\n");
    assert_eq!(payload(&env, &login(&[]))["aud"], json!("portal"));
    let t = login(&["--aud", "x", "--aud", "y"]);
    assert_eq!(payload(&env, &t)["aud"], json!(["x", "y"]));
}

#[test]
fn mint_header_sets_extra_fields_but_never_alg() {
    let env = Env::new();
    env.init();
    let t = env.mint(&[
        "--sub",
        "s",
        "--header",
        "kid=2024-01",
        "--header",
        "typ=at+jwt",
        "--header",
        "cty=JWT",
        "--header",
        "x5t#S256=1",
        "--header",
        "jku=https://idp.example/jwks.json",
    ]);
    assert_eq!(
        header(&env, &t),
        json!({"alg": "HS256", "typ": "at+jwt", "kid": "2024-01", "cty": "JWT",
               "x5t#S256": 1, "jku": "https://idp.example/jwks.json"})
    );
    // kid, typ and cty are strings whatever they look like (RFC 7515 §4.1).
    let t2 = env.mint(&["--sub", "s", "--header", "kid=42", "--header", "typ=null"]);
    assert_eq!(
        header(&env, &t2),
        json!({"alg": "HS256", "typ": "null", "kid": "42"})
    );
    // The token still verifies: the key, not the header, decides.
    assert_eq!(verify(&env, &t, &[]), (0, "s\n".into(), String::new()));
    let out = env.cmd().args(["verify", "--json", &t]).exits(0);
    assert_eq!(json(&out.stdout)["header"]["kid"], "2024-01");
    // Bad --header values: exit 2, nothing on stdout, one line, nothing written.
    let before = disk(&env);
    for (arg, msg) in [
        (
            "alg=none",
            "--header alg: the algorithm is not a header flag: it comes from the key, or --alg",
        ),
        (
            "alg=HS512",
            "--header alg: the algorithm is not a header flag: it comes from the key, or --alg",
        ),
        (
            "noequals",
            "--header \"noequals\": expected K=V, e.g. --header kid=2024-01",
        ),
        ("=x", "--header \"=x\": the field name is empty"),
    ] {
        env.cmd()
            .args(["mint", "--sub", "s", "--header", arg])
            .stderr_only(2, format!("jwtauth: {msg}\n"));
    }
    env.cmd()
        .args([
            "mint", "--sub", "s", "--header", "kid=a", "--header", "kid=b",
        ])
        .stderr_only(2, "jwtauth: --header kid: is given twice\n");
    // --header is mint's: login has none.
    let (code, out, err) = run(&env, &["login", "a", "--header", "kid=x"], "");
    assert_eq!((code, out.as_str()), (2, ""));
    assert_one_error_line(&err, "login --header");
    assert_eq!(disk(&env), before, "a refused mint writes nothing");
}

#[test]
fn mint_payload_takes_claims_from_a_json_object_and_flags_win() {
    let env = Env::new();
    env.init();
    let file = env.path().join("claims.json");
    std::fs::write(
        &file,
        r#"{"sub": "from-file", "role": "admin", "iat": 1900000000, "exp": 4000000000,
            "nbf": 1900000000, "aud": ["a", "b"], "iss": "idp", "jti": "j-1",
            "n": 12345678901234567890123}"#,
    )
    .unwrap();
    let p = file.to_str().unwrap();
    let t = env.mint(&["--payload", p]);
    assert_eq!(
        payload(&env, &t),
        json!({"sub": "from-file", "role": "admin", "iat": 1900000000, "exp": 4000000000i64,
               "nbf": 1900000000, "aud": ["a", "b"], "iss": "idp", "jti": "j-1",
               "n": 12345678901234567890123u128})
    );
    // Flags win over the payload's fields.
    let t = env.mint(&[
        "--payload",
        p,
        "--sub",
        "flag",
        "--aud",
        "c",
        "--iss",
        "me",
        "--iat",
        "1900000100",
        "--exp",
        "3000000000",
        "--nbf",
        "1900000100",
        "--claim",
        "role=user",
        "--claim",
        "jti=j-2",
    ]);
    let c = payload(&env, &t);
    assert_eq!(
        (
            &c["sub"], &c["aud"], &c["iss"], &c["iat"], &c["exp"], &c["nbf"], &c["role"], &c["jti"]
        ),
        (
            &json!("flag"),
            &json!("c"),
            &json!("me"),
            &json!(1900000100),
            &json!(3000000000i64),
            &json!(1900000100),
            &json!("user"),
            &json!("j-2")
        )
    );
    // An explicit --ttl beats the payload's exp: exp = iat + ttl.
    let t = env.mint(&["--payload", p, "--ttl", "1m"]);
    assert_eq!(payload(&env, &t)["exp"], json!(1900000060));
    // From stdin; without times in it, iat is now, exp iat + 15m and jti random.
    let out = env
        .cmd()
        .args(["mint", "--json", "--payload", "-"])
        .write_stdin(r#"{"sub": "svc", "scope": "read"}"#)
        .exits(0);
    let v = json(&out.stdout);
    let claims = &v["claims"];
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["sub"], "svc");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_jti(claims);
    assert_eq!(verify(&env, v["access_token"].as_str().unwrap(), &[]).0, 0);

    // Bad payloads: the exit code, nothing on stdout, one line, nothing written.
    let dir = env.path().join("a-dir");
    std::fs::create_dir(&dir).unwrap();
    let before_dir = disk(&env);
    let cases: Vec<(&str, i32, String)> = vec![
        ("not json", 2, "--payload -: is not valid JSON: expected ident at line 1 column 2".into()),
        ("", 2, "--payload -: is not valid JSON: EOF while parsing a value at line 1 column 0".into()),
        ("[1, 2]", 2, "--payload -: is not a JSON object (found an array); expected the claims, e.g. {\"sub\": \"svc\", \"role\": \"admin\"}".into()),
        ("\"sub\"", 2, "--payload -: is not a JSON object (found a string); expected the claims, e.g. {\"sub\": \"svc\", \"role\": \"admin\"}".into()),
        ("1.5", 2, "--payload -: is not a JSON object (found a number); expected the claims, e.g. {\"sub\": \"svc\", \"role\": \"admin\"}".into()),
        ("{\"sub\": \"a\", \"role\": 1, \"sub\": \"b\"}", 2, "--payload -: claim \"sub\" is given twice at line 1 column 29".into()),
        ("{\"role\": \"x\"}", 2, "--sub: is required: give --sub, or a sub in the --payload object".into()),
        ("{\"sub\": 5}", 2, "--payload sub: must be a string".into()),
        ("{\"sub\": \"\"}", 2, "--sub: must not be empty".into()),
        ("{\"sub\": \"s\", \"exp\": \"soon\"}", 2, "--payload exp: must be unix seconds, a whole number from 0 to 253402300799 (year 9999)".into()),
        ("{\"sub\": \"s\", \"iat\": 1.5}", 2, "--payload iat: must be unix seconds, a whole number from 0 to 253402300799 (year 9999)".into()),
        ("{\"sub\": \"s\", \"nbf\": -1}", 2, "--payload nbf: must be unix seconds, a whole number from 0 to 253402300799 (year 9999)".into()),
        ("{\"sub\": \"s\", \"jti\": 7}", 2, "--payload jti: must be a string".into()),
        ("{\"sub\": \"s\", \"iss\": [\"a\"]}", 2, "--payload iss: must be a string".into()),
        ("{\"sub\": \"s\", \"aud\": [\"a\", 1]}", 2, "--payload aud: must be a string or an array of strings".into()),
    ];
    for (stdin, code, msg) in &cases {
        env.cmd()
            .args(["mint", "--payload", "-"])
            .write_stdin(*stdin)
            .stderr_only(*code, format!("jwtauth: {msg}\n"));
    }
    // Deeply nested and oversized payloads are refused, never a crash.
    let deep = format!(
        "{{\"sub\":\"s\",\"d\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let (code, out, err) = run(&env, &["mint", "--payload", "-"], &deep);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("recursion limit exceeded"), "{err}");
    assert_one_error_line(&err, "deep payload");
    let big = format!("{{\"sub\":\"s\",\"pad\":\"{}\"}}", "x".repeat(70_000));
    env.cmd()
        .args(["mint", "--payload", "-"])
        .write_stdin(big)
        .stderr_only(
            2,
            "jwtauth: --payload -: is over 64 KiB, the largest token accepted\n",
        );
    // Files that cannot be read are exit 8 (SPEC §4), naming the file.
    let missing = env.path().join("missing.json");
    env.cmd()
        .args(["mint", "--payload", missing.to_str().unwrap()])
        .stderr_only(
            8,
            format!(
                "jwtauth: --payload {}: No such file or directory (os error 2)\n",
                missing.display()
            ),
        );
    env.cmd()
        .args(["mint", "--payload", dir.to_str().unwrap()])
        .stderr_only(
            8,
            format!(
                "jwtauth: --payload {}: Is a directory (os error 21)\n",
                dir.display()
            ),
        );
    assert_eq!(disk(&env), before_dir, "a refused mint writes nothing");
    // A payload that is fine but no key: exit 8 with the hint, as ever, and nothing created.
    std::fs::remove_file(env.secret()).unwrap();
    let (code, out, err) = run(&env, &["mint", "--payload", p], "");
    assert_eq!((code, out.as_str()), (8, ""));
    assert!(err.contains("run 'jwtauth init'"), "{err}");
    assert!(!env.secret().exists() && !env.state().exists());
}

#[test]
fn bearer_prefixes_are_removed_everywhere_a_token_is_taken() {
    let env = Env::new();
    env.init();
    let t = env.mint(&["--sub", "alice"]);
    for given in [
        format!("Bearer {t}"),
        format!("Authorization: Bearer {t}"),
        format!("authorization: bearer   {t}  "),
        format!("  {t}\t"),
    ] {
        assert_eq!(
            verify(&env, &given, &[]),
            (0, "alice\n".into(), String::new()),
            "{given:?}"
        );
        let out = env.cmd().args(["decode", "--json", &given]).exits(0);
        assert_eq!(json(&out.stdout)["payload"]["sub"], "alice", "{given:?}");
        // Stdin: one token alone, and in a stream.
        assert_eq!(
            run(&env, &["verify"], &format!("{given}\n")),
            (0, "alice\n".into(), String::new())
        );
        assert_eq!(
            run(&env, &["verify", "-"], &format!("{given}\n{given}\n")),
            (0, "ok alice\nok alice\n".into(), String::new())
        );
        assert_eq!(
            run(&env, &["decode", "-"], &format!("{given}\n")),
            (0, "ok alice\n".into(), String::new())
        );
    }
    // Only a whole word is a prefix: "Bearerx" stays and is not a token.
    let (code, _, err) = verify(&env, &format!("Bearerx{t}"), &[]);
    assert_eq!(code, 1);
    assert_one_error_line(&err, "Bearerx");
    // logout, by argument and on stdin.
    let a = env.mint(&["--sub", "a"]);
    let b = env.mint(&["--sub", "b"]);
    env.cmd()
        .args(["logout", &format!("Authorization: Bearer {a}")])
        .assert()
        .code(0);
    env.cmd()
        .arg("logout")
        .write_stdin(format!("Bearer {b}\n"))
        .assert()
        .code(0);
    assert_eq!(verify(&env, &a, &[]).0, 4);
    assert_eq!(verify(&env, &b, &[]).0, 4);
}

#[test]
fn one_token_on_stdin_is_answered_like_an_argument() {
    let env = Env::new();
    env.init();
    // Times years away, so that "issued …ago" and "expires in …" read the same however many
    // seconds pass between the runs compared.
    let t = env.mint(&[
        "--sub",
        "alice",
        "--claim",
        "role=admin",
        "--iat",
        "1000000000",
        "--exp",
        "4000000000",
    ]);
    // decode: the full view, text and JSON, exactly as for the argument (`pbpaste | decode`).
    for flags in [&[][..], &["--json"]] {
        let by_arg = env.cmd().arg("decode").args(flags).arg(&t).exits(0);
        for stdin in [format!("{t}\n"), format!("\n  {t}\r\n\n"), t.clone()] {
            let by_stdin = env
                .cmd()
                .arg("decode")
                .args(flags)
                .write_stdin(stdin)
                .exits(0);
            assert_eq!(stdout_str(&by_stdin), stdout_str(&by_arg), "{flags:?}");
            assert_eq!(stderr_str(&by_stdin), "");
        }
    }
    assert!(
        stdout_str(&env.cmd().arg("decode").write_stdin(t.clone()).exits(0)).contains("Claims")
    );
    // verify: the token's own exit code and message, not a batch summary.
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    assert_eq!(
        run(&env, &["verify"], &format!("{expired}\n")),
        (
            3,
            String::new(),
            format!(
                "jwtauth: {}\n",
                expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
            )
        )
    );
    let out = env
        .cmd()
        .args(["verify", "--json"])
        .write_stdin(t.clone())
        .exits(0);
    let v = json(&out.stdout);
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"]["role"], "admin");
    // An explicit `-` is batch mode whatever the number of tokens.
    assert_eq!(
        run(&env, &["verify", "-"], &format!("{expired}\n")),
        (
            1,
            format!(
                "error 3 {}\n",
                expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
            ),
            "jwtauth: invalid token: 1 of 1 tokens failed\n".into()
        )
    );
    assert_eq!(
        run(&env, &["decode", "-"], &format!("{t}\n")),
        (0, "ok alice\n".into(), String::new())
    );
    // TOKEN omitted and two tokens: batch mode, every line answered (the blank ones too).
    let out = env
        .cmd()
        .args(["verify", "--json"])
        .write_stdin(format!("\n{t}\n\n{expired}\n"))
        .exits(1);
    let mut lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for n in [3, 1] {
        assert_eq!(
            lines.remove(n - 1),
            json!({"line": n, "exit_code": 1, "error": "empty line"})
        );
    }
    assert_eq!(
        (&lines[0]["line"], &lines[0]["exit_code"]),
        (&json!(2), &json!(0))
    );
    assert_eq!(
        (&lines[1]["line"], &lines[1]["exit_code"]),
        (&json!(4), &json!(3))
    );
    // One token over 64 KiB on stdin: the argument's message.
    let big = format!("{}.a.b", "A".repeat(70_000));
    let (code, out, err) = run(&env, &["verify"], &format!("{big}\n"));
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!(
            "jwtauth: invalid token: token is {} bytes, over the 64 KiB limit\n",
            big.len()
        )
    );
    assert_eq!(verify(&env, &big, &[]).2, err);
}

#[test]
fn verify_json_and_hash_check_json_print_a_document_on_failure() {
    let env = Env::new();
    env.init();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    let msg = expired_msg("2001-09-09T01:46:40Z", 1_000_000_000);
    env.cmd()
        .args(["verify", "--json", &expired])
        .assert()
        .code(3)
        .stdout(format!(
            "{}\n",
            json!({"valid": false, "exit_code": 3, "error": msg})
        ))
        .stderr(format!("jwtauth: {msg}\n"));
    let t = env.mint(&["--sub", "y"]);
    env.cmd().args(["logout", &t]).assert().code(0);
    let out = env.cmd().args(["verify", "--json", &t]).exits(4);
    assert_eq!(
        json(&out.stdout),
        json!({"valid": false, "exit_code": 4, "error": "token revoked: this token was logged out"})
    );
    // Errors that are no verdict on the token print no document: a usage error, a missing key.
    env.cmd()
        .args(["verify", "--json", "--leeway", "soon", &t])
        .assert()
        .code(2)
        .stdout("");
    let other = Env::new();
    other
        .cmd()
        .args(["verify", "--json", &t])
        .assert()
        .code(8)
        .stdout("");

    // hash --check --json: {"match": true|false}, exit 0|1; a malformed hash is 2, no document.
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin("secret pw\n")
        .exits(0);
    let hash = stdout_str(&out).trim().to_string();
    for (pw, code, doc) in [
        ("secret pw\n", 0, json!({"match": true})),
        ("other pw\n", 1, json!({"match": false})),
    ] {
        let out = env
            .cmd()
            .args(["hash", "--json", "--check", &hash, "--password-stdin"])
            .write_stdin(pw)
            .exits(code);
        assert_eq!(json(&out.stdout), doc);
        let err = stderr_str(&out);
        if code == 0 {
            assert_eq!(err, "");
        } else {
            assert_eq!(err, "jwtauth: password does not match the hash\n");
        }
    }
    env.cmd()
        .args([
            "hash",
            "--json",
            "--check",
            "$2b$12$short",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .assert()
        .code(2)
        .stdout("");
}

#[test]
fn logout_dash_revokes_every_token_on_stdin() {
    let env = Env::new();
    env.init();
    let a = env.mint(&["--sub", "a"]);
    let b = env.mint(&["--sub", "b", "--aud", "api"]);
    let c = env.mint(&["--sub", "c"]);
    let jti = |t: &str| payload(&env, t)["jti"].as_str().unwrap().to_string();
    let expired = env.mint(&["--sub", "x", "--iat", "999999000", "--exp", "1000000000"]);
    // Only failures: nothing is written at all.
    env.cmd()
        .args(["logout", "-"])
        .write_stdin(format!("{expired}\ngarbage\n"))
        .assert()
        .code(1)
        .stdout(format!(
            "error 3 {}\nerror 1 invalid token: expected 3 dot-separated parts (header.payload.signature), found 1\n",
            expired_msg("2001-09-09T01:46:40Z", 1_000_000_000)
        ))
        .stderr("jwtauth: invalid token: 2 of 2 tokens failed\n");
    assert!(!env.state().exists(), "a refused logout writes nothing");
    // All good (any audience, Bearer prefixes): exit 0, one `ok <jti>` each.
    env.cmd()
        .args(["logout", "-"])
        .write_stdin(format!("{a}\nBearer {b}\n"))
        .assert()
        .code(0)
        .stdout(format!("ok {}\nok {}\n", jti(&a), jti(&b)))
        .stderr("");
    assert_eq!(verify(&env, &a, &[]).0, 4);
    assert_eq!(verify(&env, &b, &["--aud", "api"]).0, 4);
    // Mixed, --json: one document per token, exit 1, the good one revoked.
    let out = env
        .cmd()
        .args(["logout", "--json", "-"])
        .write_stdin(format!("{a}\n{c}\n"))
        .exits(1);
    let lines = json_lines(&out);
    assert_eq!(
        lines,
        [
            json!({"line": 1, "exit_code": 4, "error": "token revoked: this token was logged out"}),
            json!({"line": 2, "exit_code": 0, "jti": jti(&c), "exp": payload(&env, &c)["exp"]}),
        ]
    );
    assert_eq!(
        stderr_str(&out),
        "jwtauth: invalid token: 1 of 2 tokens failed\n"
    );
    assert_eq!(verify(&env, &c, &[]).0, 4);
    let listed = revocations(&env);
    assert_eq!(listed["tokens"].as_object().unwrap().len(), 3);
    // No tokens at all: exit 1, as verify - and decode -; each empty line answered.
    assert_eq!(
        run(&env, &["logout", "-"], "\n\n"),
        (
            1,
            "error 1 empty line\nerror 1 empty line\n".into(),
            "jwtauth: invalid token: no tokens on stdin\n".into()
        )
    );
}

// ---------------------------------------------------------------------------------------
// A zero lifetime is refused everywhere (SPEC §15), as config `ttl = 0` is
// ---------------------------------------------------------------------------------------

/// Every file under the temp home with its bytes.
fn files_under(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_zero_ttl_is_exit_2_with_the_reason_and_changes_nothing() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    // A state file and a key ring exist, so "nothing changed" covers them too.
    let t = env.login("alice", PW);
    env.cmd().args(["logout", &t]).exits(0);
    let before = files_under(env.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["login", "alice", "--password-stdin", "--ttl", "0"],
            "--ttl \"0\"",
        ),
        (
            &["login", "alice", "--password-stdin", "--ttl", "0m"],
            "--ttl \"0m\"",
        ),
        (&["mint", "--sub", "svc", "--ttl", "0"], "--ttl \"0\""),
        (&["mint", "--sub", "svc", "--ttl", "0s"], "--ttl \"0s\""),
        (
            &["--json", "mint", "--sub", "svc", "--ttl", " 0 "],
            "--ttl \"0\"",
        ),
        // The old binary served (forever) with tokens born expired; the timeout ends it.
        (
            &["serve", "--listen", "127.0.0.1:0", "--ttl", "0"],
            "--ttl \"0\"",
        ),
    ];
    for (args, what) in cases {
        env.cmd()
            .args(*args)
            .write_stdin(format!("{PW}\n"))
            .timeout(Duration::from_secs(30))
            .stderr_only(2, format!("jwtauth: {what}: must be longer than zero\n"));
        assert_eq!(files_under(env.path()), before, "{args:?} changed a file");
    }
    // The shortest lifetime there is still works.
    let short = env.mint(&["--sub", "svc", "--ttl", "1s"]);
    let p = payload(&env, &short);
    assert_eq!(
        p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap(),
        1,
        "{p}"
    );
    // And the configuration file refuses 0 as before.
    env.write_config("ttl = 0\n");
    let out = env.cmd().args(["mint", "--sub", "svc"]).exits(8);
    assert!(
        stderr_str(&out).contains("ttl: must be longer than zero"),
        "{}",
        stderr_str(&out)
    );
}
