//! One test per row of the README table ("What bad input gets"): the exit code and the shape
//! of the one-line message. Files given bad content are left byte-for-byte as they were.

use crate::common;

use std::fs;
use std::path::Path;

use base64::Engine as _;
use common::{Env, Exits, bytes};
use serde_json::{Map, Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const FAR: &str = "4000000000";

/// Runs and asserts: exit `code`, empty stdout, stderr exactly `jwtauth: <msg>\n`.
fn fails(cmd: &mut assert_cmd::Command, code: i32, msg: &str) {
    cmd.stderr_only(code, format!("jwtauth: {msg}\n"));
}

/// As `fails`, with only the message's start fixed (the rest is the parser's detail).
fn fails_with_prefix(cmd: &mut assert_cmd::Command, code: i32, prefix: &str) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.starts_with(&format!("jwtauth: {prefix}")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `verify --json TOKEN` that fails: exit `code`, one stderr line starting `jwtauth: <prefix>`,
/// and on stdout the failure document of SPEC §8 with the same code and message.
fn json_verify_fails_with_prefix(env: &Env, token: &str, code: i32, prefix: &str) {
    let out = env
        .cmd()
        .args(["--json", "verify", token])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.starts_with(&format!("jwtauth: {prefix}")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = err.trim_end().strip_prefix("jwtauth: ").unwrap();
    assert_eq!(
        doc,
        json!({"valid": false, "exit_code": code, "error": msg}),
        "{err}"
    );
}

fn env_with_key() -> Env {
    let env = Env::new();
    env.init();
    env
}

/// Signs arbitrary header and payload bytes with the env's key, so the checks behind the
/// signature are reached.
fn sign_raw(env: &Env, header: &[u8], payload: &[u8]) -> String {
    let key = jwtauth::keys::parse_key(Path::new("k"), &fs::read(env.secret()).unwrap()).unwrap();
    let message = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let enc = key.encoding(jsonwebtoken::Algorithm::HS256, false).unwrap();
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), enc, jsonwebtoken::Algorithm::HS256)
        .unwrap();
    format!("{message}.{sig}")
}

const HS256: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

#[test]
fn token_with_wrong_number_of_parts() {
    let env = env_with_key();
    fails(
        env.cmd().args(["verify", "a.b"]),
        1,
        "invalid token: expected 3 dot-separated parts (header.payload.signature), found 2",
    );
    fails(
        env.cmd().args(["decode", "abc"]),
        1,
        "invalid token: expected 3 dot-separated parts (header.payload.signature), found 1",
    );
}

#[test]
fn encrypted_token() {
    fails(
        env_with_key().cmd().args(["verify", "a.b.c.d.e"]),
        1,
        "invalid token: this is an encrypted token (JWE, 5 parts); only signed tokens (JWS) are supported",
    );
}

#[test]
fn oversized_token() {
    let env = env_with_key();
    let big = "a".repeat(64 * 1024 + 1);
    for cmd in ["verify", "decode"] {
        fails(
            env.cmd().args([cmd, &big]),
            1,
            "invalid token: token is 65537 bytes, over the 64 KiB limit",
        );
    }
}

#[test]
fn part_not_base64url() {
    fails(
        env_with_key().cmd().args(["decode", "a!.b.c"]),
        1,
        "invalid token: header is not valid base64url",
    );
}

#[test]
fn part_not_json_or_not_an_object() {
    let env = env_with_key();
    let t = format!("{}.{}.c2ln", B64.encode(HS256), B64.encode("not json"));
    fails_with_prefix(
        env.cmd().args(["decode", &t]),
        1,
        "invalid token: payload is not valid JSON: ",
    );
    let t = format!("{}.{}.c2ln", B64.encode(HS256), B64.encode("[1]"));
    fails(
        env.cmd().args(["decode", &t]),
        1,
        "invalid token: payload is not a JSON object",
    );
    // Behind a valid signature, verify says the same.
    let t = sign_raw(&env, HS256, b"not json");
    fails_with_prefix(
        env.cmd().args(["verify", &t]),
        1,
        "invalid token: payload is not valid JSON: ",
    );
}

#[test]
fn payload_with_invalid_utf8_behind_a_valid_signature() {
    // Found by fuzzing (fuzz/artifacts/verify): text mode skipped the unused string and said
    // "expired" (3) while --json said invalid (1). Both are now 1.
    let env = env_with_key();
    let raw = fs::read("tests/data/fuzz-verify-invalid-utf8").unwrap();
    let t = sign_raw(&env, HS256, &raw[1..]);
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(format!("{t}\n"))
        .assert()
        .code(1)
        .stdout("error 1 invalid token: payload is not valid JSON: invalid UTF-8 at byte 11\n");
    fails_with_prefix(
        env.cmd().args(["verify", &t]),
        1,
        "invalid token: payload is not valid JSON: ",
    );
    json_verify_fails_with_prefix(&env, &t, 1, "invalid token: payload is not valid JSON: ");
}

#[test]
fn json_nested_too_deep() {
    let env = env_with_key();
    let mut deep = Value::Null;
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    let payload = json!({"sub": "x", "exp": 4_000_000_000u64, "deep": deep}).to_string();
    let t = sign_raw(&env, HS256, payload.as_bytes());
    for args in [&["verify", &t][..], &["decode", &t]] {
        fails_with_prefix(
            env.cmd().args(args),
            1,
            "invalid token: payload is not valid JSON: recursion limit exceeded",
        );
    }
    json_verify_fails_with_prefix(
        &env,
        &t,
        1,
        "invalid token: payload is not valid JSON: recursion limit exceeded",
    );
}

#[test]
fn alg_none() {
    let t = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
    fails(
        env_with_key().cmd().args(["verify", &t]),
        1,
        "invalid token: alg none (an unsigned token) is never accepted",
    );
}

#[test]
fn algorithm_of_another_key_family() {
    let t = format!("{}.e30.c2ln", B64.encode(r#"{"alg":"RS256"}"#));
    fails(
        env_with_key().cmd().args(["verify", &t]),
        1,
        "invalid token: algorithm RS256 is not accepted for this key (accepted: HS256, HS384, HS512)",
    );
}

#[test]
fn forged_signature_even_when_expired() {
    let env = env_with_key();
    let t = env.mint(&["--sub", "bob", "--exp", "1000"]);
    let forged = format!("{}AAAA", &t[..t.rfind('.').unwrap() + 1]);
    fails(
        env.cmd().args(["verify", &forged]),
        1,
        "invalid token: signature does not match",
    );
}

#[test]
fn expired_or_not_yet_valid() {
    let env = env_with_key();
    let t = env.mint(&["--sub", "bob", "--iat", "0", "--exp", "1000"]);
    // SPEC §8: `token expired: at <UTC> (<how long> ago)`.
    fails_with_prefix(
        env.cmd().args(["verify", &t]),
        3,
        "token expired: at 1970-01-01T00:16:40Z (",
    );
    let t = env.mint(&["--sub", "bob", "--nbf", "4000000000", "--exp", "4000000001"]);
    fails(
        env.cmd().args(["verify", &t]),
        3,
        "token not valid before 2096-10-02T07:06:40Z",
    );
}

#[test]
fn revoked_token() {
    let env = env_with_key();
    let t = env.mint(&["--sub", "bob", "--exp", FAR]);
    env.cmd().args(["-q", "logout", &t]).assert().success();
    fails(
        env.cmd().args(["verify", &t]),
        4,
        "token revoked: this token was logged out",
    );
}

#[test]
fn batch_lines_that_are_not_tokens() {
    let env = env_with_key();
    env.cmd()
        .args(["verify", "-"])
        .write_stdin("x\ny.z\n")
        .assert()
        .code(1)
        .stdout(
            "error 1 invalid token: expected 3 dot-separated parts (header.payload.signature), found 1\n\
             error 1 invalid token: expected 3 dot-separated parts (header.payload.signature), found 2\n",
        )
        .stderr("jwtauth: invalid token: 2 of 2 tokens failed\n");
}

#[test]
fn extreme_times_in_decode() {
    // Found by the property tests: the text view's "expired … ago" overflowed (a panic in
    // debug builds) on times like -1e300.
    let env = env_with_key();
    for v in [
        "-1e300",
        "1e300",
        "-9223372036854775808",
        "9223372036854775807",
    ] {
        let payload = format!(r#"{{"exp":{v},"nbf":{v},"iat":{v}}}"#);
        let t = format!("{}.{}.c2ln", B64.encode(HS256), B64.encode(payload));
        let out = env.cmd().args(["decode", &t]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{v}: {out:?}");
        assert!(out.stderr.is_empty(), "{v}: {out:?}");
    }
}

#[test]
fn bad_duration_time_or_claim() {
    let env = env_with_key();
    fails_with_prefix(
        env.cmd().args(["mint", "--sub", "x", "--ttl", "soon"]),
        2,
        "--ttl \"soon\": ",
    );
    fails(
        env.cmd().args(["mint", "--sub", "x", "--ttl", "1000y"]),
        2,
        "--ttl \"1000y\": is longer than 100 years",
    );
    fails(
        env.cmd().args(["mint", "--sub", "x", "--exp", "tomorrow"]),
        2,
        "--exp \"tomorrow\": expected unix seconds or an RFC 3339 time such as 2026-01-01T00:00:00Z",
    );
    fails(
        env.cmd().args(["mint", "--sub", "x", "--claim", "novalue"]),
        2,
        "--claim \"novalue\": expected K=V",
    );
    fails(
        env.cmd().args(["mint", "--sub", "x", "--claim", "exp=1"]),
        2,
        "--claim exp: set exp with its own flag (--exp)",
    );
    fails_with_prefix(
        env.cmd().args(["verify", "--leeway", "5x", "a.b.c"]),
        2,
        "--leeway \"5x\": ",
    );
}

#[test]
fn bad_user_name() {
    fails(
        Env::new()
            .cmd()
            .args(["user", "add", "a b", "--password-stdin"])
            .write_stdin("pw\n"),
        2,
        "user name \"a b\": must not contain whitespace or control characters",
    );
}

#[test]
fn bad_password_input() {
    let env = Env::new();
    let add = || {
        let mut c = env.cmd();
        c.args(["user", "add", "bob", "--cost", "4", "--password-stdin"]);
        c
    };
    fails(add().write_stdin("\n"), 2, "password: must not be empty");
    fails(
        add().write_stdin(format!("{}\n", "x".repeat(73))),
        2,
        "password: is 73 bytes; bcrypt uses at most 72, and longer passwords are refused rather than truncated (argon2id takes up to 1024: --scheme argon2id)",
    );
    // SPEC §15: over 1024 bytes is refused whatever the scheme.
    fails(
        env.cmd()
            .args([
                "user",
                "add",
                "bob",
                "--scheme",
                "argon2id",
                "--password-stdin",
            ])
            .write_stdin(format!("{}\n", "x".repeat(1025))),
        2,
        "password: is 1025 bytes; at most 1024 are accepted",
    );
    fails(
        env.cmd().args(["user", "add", "bob"]).write_stdin(""),
        2,
        "password: stdin is not a terminal; pipe the password in with --password-stdin",
    );
    assert!(!env.users().exists());
}

#[test]
fn malformed_bcrypt_hash() {
    fails(
        Env::new()
            .cmd()
            .args(["user", "add", "bob", "--hash", "nothash"]),
        2,
        "password hash: expected a bcrypt hash ($2b$12$…, 60 characters), an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$…) or a legacy htpasswd hash ($apr1$, {SHA}, $1$, $5$, $6$)",
    );
}

#[test]
fn bad_lock_timeout() {
    fails(
        Env::new()
            .cmd()
            .env("JWTAUTH_LOCK_TIMEOUT", "abc")
            .args(["user", "list"]),
        2,
        "JWTAUTH_LOCK_TIMEOUT=abc: expected a number of seconds",
    );
}

#[test]
fn corrupt_users_file_is_never_overwritten() {
    let env = Env::new();
    fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    fs::write(env.users(), "{\"version\":1,\"users\":{\n").unwrap();
    let before = bytes(&env.users());
    let p = env.users().display().to_string();
    for args in [
        &["user", "list"][..],
        &[
            "-q",
            "user",
            "add",
            "bob",
            "--cost",
            "4",
            "--password-stdin",
        ],
    ] {
        fails(
            env.cmd().args(args).write_stdin("pw\n"),
            8,
            &format!(
                "{p}: not a valid jwtauth file at line 2 column 0: EOF while parsing an object; fix or move it away (it was not changed)"
            ),
        );
    }
    assert_eq!(bytes(&env.users()), before);
}

#[test]
fn unknown_file_version() {
    let env = Env::new();
    fs::create_dir_all(env.state().parent().unwrap()).unwrap();
    // Version 2 is the state file with sessions (SPEC §13); 3 is not known.
    fs::write(env.state(), r#"{"version":3,"tokens":{},"users":{}}"#).unwrap();
    let before = bytes(&env.state());
    fails(
        env.cmd().args(["logout", "--all", "bob", "--force"]),
        8,
        &format!(
            "{}: unsupported file version 3 (this jwtauth reads versions 1 to 2); it was not changed",
            env.state().display()
        ),
    );
    assert_eq!(bytes(&env.state()), before);
}

#[test]
fn bad_user_record() {
    let env = Env::new();
    fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    fs::write(
        env.users(),
        r#"{"version":1,"users":{"x":{"hashed_password":5}}}"#,
    )
    .unwrap();
    fails(
        env.cmd().args(["user", "show", "x"]),
        8,
        &format!(
            "{}: the record of user \"x\" is not valid at line 1 column 46: invalid type: integer `5`, expected a string; fix or move it away (it was not changed)",
            env.users().display()
        ),
    );
}

#[test]
fn missing_key() {
    let env = Env::new();
    fails(
        env.cmd().args(["mint", "--sub", "x"]),
        8,
        "no signing key: run 'jwtauth init' to create one (or set JWT_SECRET_KEY or pass --key)",
    );
    fails(
        env.cmd()
            .args(["--key", "/nonexistent/key", "verify", "a.b.c"]),
        8,
        // Issue 11.13: the user named the key; no hint to create one.
        "key /nonexistent/key: does not exist",
    );
    assert!(!Path::new("/nonexistent/key").exists());
}

#[test]
fn weak_empty_or_unsupported_key() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let key = env.path().join("k");
    let write = |content: &str| {
        fs::write(&key, content).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    };
    let k = key.display().to_string();
    write("short");
    fails(
        env.cmd()
            .arg("--key")
            .arg(&key)
            .args(["mint", "--sub", "x"]),
        8,
        &format!(
            "key {k}: HMAC secret is 5 bytes, under the 32-byte minimum; run 'jwtauth init' for a strong one, or pass --allow-weak-key"
        ),
    );
    write("");
    fails(
        env.cmd()
            .arg("--key")
            .arg(&key)
            .args(["mint", "--sub", "x"]),
        8,
        &format!("key {k}: is empty"),
    );
    write("0123456789abcdef0123456789abcdef-long-enough\n");
    fs::write(env.path().join("k.alg"), "XX999\n").unwrap();
    fails(
        env.cmd()
            .arg("--key")
            .arg(&key)
            .args(["mint", "--sub", "x"]),
        8,
        &format!("{k}.alg: unknown algorithm \"XX999\""),
    );
}

#[test]
fn login_refused_looks_the_same_for_every_reason() {
    let env = env_with_key();
    env.add_user("alice", "right");
    env.add_user("dora", "right");
    env.cmd()
        .args(["-q", "user", "disable", "dora"])
        .assert()
        .success();
    for (name, pw) in [("nobody", "right"), ("alice", "wrong"), ("dora", "right")] {
        fails(
            env.cmd()
                .args(["login", name, "--password-stdin"])
                .write_stdin(format!("{pw}\n")),
            5,
            "login refused: incorrect username or password",
        );
    }
}

#[test]
fn unknown_user_in_a_user_command() {
    fails(
        Env::new().cmd().args(["user", "show", "nobody"]),
        6,
        "no such user: nobody",
    );
}

#[test]
fn float_claims_keep_every_digit() {
    // Found by the property tests: serde_json's default float parser was off by one ulp.
    let env = env_with_key();
    let t = env.mint(&["--sub", "x", "--claim", "f=-140719682071902.03"]);
    let out = env.cmd().args(["--json", "verify", &t]).exits(0).stdout;
    let v = common::json(&out);
    assert_eq!(v["claims"]["f"].to_string(), "-140719682071902.03");
    let _: Map<String, Value> = serde_json::from_value(v["claims"].clone()).unwrap();
}

#[test]
fn duplicated_registered_claim() {
    // Found by fuzzing (tests/data/fuzz-verify-duplicate-claim): text mode refused a
    // duplicated `nbf` (1) while --json kept the last one and said "not yet valid" (3).
    // RFC 7519 §4 allows refusing; both modes now refuse.
    let env = env_with_key();
    let raw = fs::read("tests/data/fuzz-verify-duplicate-claim").unwrap();
    let sep = raw.iter().position(|&b| b == 0xff).unwrap();
    let t = sign_raw(&env, &raw[1..sep], &raw[sep + 1..]);
    fails_with_prefix(
        env.cmd().args(["verify", &t]),
        1,
        "invalid token: payload: duplicate field `nbf`",
    );
    json_verify_fails_with_prefix(&env, &t, 1, "invalid token: payload: duplicate field `nbf`");
}

#[test]
fn header_or_payload_that_is_an_array() {
    // Found by fuzzing (tests/data/fuzz-verify-array-payload, `[1]`): serde read the array as
    // the claims struct, so text mode said "expired" (3) where --json said invalid (1).
    let env = env_with_key();
    let raw = fs::read("tests/data/fuzz-verify-array-payload").unwrap();
    let t = sign_raw(&env, HS256, &raw[1..]);
    fails(
        env.cmd().args(["verify", &t]),
        1,
        "invalid token: payload is not a JSON object",
    );
    json_verify_fails_with_prefix(&env, &t, 1, "invalid token: payload is not a JSON object");
    let t = sign_raw(&env, br#"["HS256"]"#, br#"{"sub":"x"}"#);
    fails(
        env.cmd().args(["verify", &t]),
        1,
        "invalid token: header is not a JSON object",
    );
}
