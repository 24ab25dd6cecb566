//! The way out of an error, in the front end's words: the core's messages name no
//! command-line flag or command; the command line adds the one that helps (`--no-exp-required`,
//! `--key`, `--allow-weak-key`, `--alg`, `logout --all`, `init --rotate`, …), word for word
//! as it always has, and `serve` never shows a flag in its log or to an HTTP client.
use crate::common::{self, Env, Exits};
use crate::serve::{ALICE_PW, Server, env as serve_env, send};

use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A token signed with the default HMAC secret of `env` (its one trailing newline removed).
fn hs256(env: &Env, claims: &Value) -> String {
    let mut secret = common::bytes(&env.secret());
    if secret.last() == Some(&b'\n') {
        secret.pop();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&secret),
    )
    .expect("sign")
}

/// The public keys of `env`'s key (`jwtauth jwks`).
fn jwks(env: &Env) -> Value {
    common::json(&env.cmd().arg("jwks").exits(0).stdout)
}

/// True when `text` names a command-line flag (`--` and a letter).
fn names_a_flag(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'-' && w[1] == b'-' && w[2].is_ascii_lowercase())
}

#[test]
fn a_token_without_exp_names_the_flag_that_accepts_it() {
    let env = Env::new();
    env.init();
    let t = hs256(&env, &json!({"sub": "svc"}));
    env.cmd().args(["verify", &t]).stderr_only(
        1,
        "jwtauth: invalid token: token has no exp claim (pass --no-exp-required to accept such tokens)\n",
    );
    env.cmd().args(["verify", "--no-exp-required", &t]).exits(0);
}

#[test]
fn a_token_with_an_unexpected_audience_names_aud_and_any_aud() {
    let env = Env::new();
    env.init();
    let t = hs256(
        &env,
        &json!({"sub": "svc", "aud": "api", "exp": now() + 600}),
    );
    env.cmd().args(["verify", &t]).stderr_only(
        1,
        "jwtauth: invalid token: token has an audience; pass --aud with one of its values, or --any-aud\n",
    );
}

#[test]
fn logout_of_a_token_without_jti_names_logout_all() {
    let env = Env::new();
    env.init();
    let t = hs256(&env, &json!({"sub": "svc", "exp": now() + 600}));
    env.cmd().args(["logout", &t]).stderr_only(
        1,
        "jwtauth: invalid token: token has no jti to revoke; use 'jwtauth logout --all SUBJECT'\n",
    );
    // The same words for each line of a stream.
    let out = env
        .cmd()
        .args(["logout", "-"])
        .write_stdin(format!("{t}\n"))
        .exits(1);
    assert_eq!(
        common::stdout_str(&out),
        "error 1 invalid token: token has no jti to revoke; use 'jwtauth logout --all SUBJECT'\n"
    );
    assert!(!env.state().exists());
}

#[test]
fn two_default_keys_say_choose_with_key() {
    let env = Env::new();
    env.init();
    let private = env.path().join("config/jwtauth/private.pem");
    std::fs::copy(env.secret(), &private).expect("copy");
    env.cmd().args(["mint", "--sub", "svc"]).stderr_only(
        8,
        format!(
            "jwtauth: two default keys: both {} and {} exist; choose with --key\n",
            env.secret().display(),
            private.display()
        ),
    );
}

#[test]
fn no_key_names_init_and_key() {
    let env = Env::new();
    let t = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln";
    env.cmd().args(["verify", t]).stderr_only(
        8,
        "jwtauth: no signing key: run 'jwtauth init' to create one (or set JWT_SECRET_KEY or pass --key)\n",
    );
}

#[test]
fn a_weak_rsa_key_names_init_and_allow_weak_key() {
    let env = Env::new();
    let key = env.path().join("weak.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&key)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        common::skip("openssl cannot make a 1024-bit RSA key");
        return;
    }
    env.cmd()
        .args(["mint", "--key", s(&key), "--sub", "svc"])
        .stderr_only(
            8,
            format!(
                "jwtauth: key {}: RSA key is 1024 bits, under the 2048-bit minimum; run 'jwtauth init --alg RS256' for a strong one, or pass --allow-weak-key\n",
                key.display()
            ),
        );
    env.cmd()
        .args(["mint", "--key", s(&key), "--sub", "svc", "--allow-weak-key"])
        .exits(0);
}

#[test]
fn a_key_set_without_the_algorithm_names_the_alg_flag() {
    let es = Env::new();
    es.cmd().args(["init", "--alg", "ES256"]).exits(0);
    let ed = Env::new();
    ed.cmd().args(["init", "--alg", "EdDSA"]).exits(0);
    let token = es.mint(&["--sub", "svc"]);
    let kid = es.decoded(&token)["header"]["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    // Only the ES256 key: nothing verifies EdDSA.
    let set = es.path().join("es.json");
    std::fs::write(&set, jwks(&es).to_string()).expect("write set");
    es.cmd()
        .args(["verify", "--jwks", s(&set), "--alg", "EdDSA", &token])
        .stderr_only(
            8,
            format!(
                "jwtauth: key set {}: has no key that can verify --alg EdDSA\n",
                set.display()
            ),
        );
    // Both keys: the token's kid names the one that does not take --alg.
    let mut keys = jwks(&es)["keys"].as_array().expect("keys").clone();
    keys.extend(jwks(&ed)["keys"].as_array().expect("keys").iter().cloned());
    let both = es.path().join("both.json");
    std::fs::write(&both, json!({"keys": keys}).to_string()).expect("write set");
    es.cmd()
        .args(["verify", "--jwks", s(&both), "--alg", "EdDSA", &token])
        .stderr_only(
            1,
            format!(
                "jwtauth: invalid token: kid {kid:?} names a key of {} that cannot be used: it verifies only ES256, not --alg EdDSA\n",
                both.display()
            ),
        );
}

#[test]
fn keys_retire_names_init_rotate_and_keys_list() {
    let env = Env::new();
    env.init();
    let out = env.cmd().args(["keys", "list", "--json"]).exits(0);
    let current = common::json(&out.stdout)["keys"][0]["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    env.cmd().args(["keys", "retire", &current]).stderr_only(
        2,
        format!(
            "jwtauth: keys retire {current}: is the current signing key; run 'jwtauth init --rotate' first, then retire it\n"
        ),
    );
    env.cmd().args(["keys", "retire", "no-such-kid"]).stderr_only(
        2,
        "jwtauth: keys retire no-such-kid: no retired key has this kid (see 'jwtauth keys list')\n",
    );
}

/// A key change a running server cannot load is logged in the core's words: the command
/// line's remedy (`choose with --key`) is not the server's to give.
#[test]
fn serve_logs_a_broken_key_change_without_a_flag() {
    let env = serve_env();
    let server = Server::start(&env);
    let private = env.path().join("config/jwtauth/private.pem");
    std::fs::copy(env.secret(), &private).expect("copy");
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        // Every request looks at the key files; a login must sign, so it is refused now.
        let res = server.login_form("alice", ALICE_PW);
        if let Some(l) = server
            .log()
            .into_iter()
            .find(|l| l.contains("two default keys"))
        {
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no log line about the key change; log:\n{}",
            server.log().join("\n")
        );
        assert_eq!(
            send(server.get("/healthz")).status(),
            StatusCode::OK,
            "the server stopped answering"
        );
    };
    assert!(!names_a_flag(&line), "{line}");
    let body = server.login_form("alice", ALICE_PW).text().expect("body");
    assert!(!names_a_flag(&body), "{body}");
}
