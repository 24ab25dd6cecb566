//! A running `jwtauth serve` sees key changes at once and reloads its configuration on
//! `SIGHUP` (SPEC §15): `init --rotate`, `keys retire` and `init --force` count from its next
//! request (signing, verifying, `/.well-known/jwks.json`), the lifetime it signs is recorded in
//! the key ring, and a changed or broken configuration file is picked up (or refused) on
//! `SIGHUP` without a restart.
//!
//! Through real processes: the server of `serve.rs`, the command line beside it. No sleeping:
//! a wait is a bounded loop of requests until a condition holds.
use crate::common;
use crate::serve::{ALICE_PW, Server, body_json, env, send, write_config};

use std::time::{Duration, Instant};

use common::{Env, Exits, json};
use reqwest::StatusCode;
use serde_json::Value;

/// How long a change may take to be seen (it is seen by the next request; this only bounds
/// a broken server's test).
const DEADLINE: Duration = Duration::from_secs(60);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// `POST /token` for alice: the whole answer.
fn login(server: &Server) -> Value {
    let res = server.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res)
}

fn token(server: &Server) -> String {
    login(server)["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

fn kid(env: &Env, token: &str) -> Option<String> {
    env.decoded(token)["header"]["kid"]
        .as_str()
        .map(str::to_string)
}

fn rotate(env: &Env) -> Value {
    json(
        &env.cmd()
            .args(["init", "--rotate", "--json"])
            .exits(0)
            .stdout,
    )
}

/// The kids `/.well-known/jwks.json` publishes.
fn published(server: &Server) -> Vec<String> {
    let res = send(server.get("/.well-known/jwks.json"));
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res)["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// `kill -SIG PID`.
fn signal(server: &Server, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(server.pid().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// Sends requests (`/healthz`) until a log line satisfies `found`; panics after `DEADLINE`
/// or when the server stops answering.
fn wait_for_log(server: &Server, found: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(l) = server.log().into_iter().find(|l| found(l)) {
            return l;
        }
        assert!(
            Instant::now() < end,
            "no such log line; log:\n{}",
            server.log().join("\n")
        );
        let res = send(server.get("/healthz"));
        assert_eq!(res.status(), StatusCode::OK, "the server stopped answering");
    }
}

#[test]
fn after_init_rotate_serve_signs_with_the_new_key_and_old_tokens_still_verify() {
    let env = env();
    let server = Server::start(&env);
    let old = token(&server);
    let done = rotate(&env);
    let new = token(&server);
    assert_eq!(
        kid(&env, &new).as_deref(),
        done["kid"].as_str(),
        "the next token is signed with the new key"
    );
    assert_ne!(kid(&env, &old), kid(&env, &new));
    for t in [&old, &new] {
        assert_eq!(server.protected(t).status(), StatusCode::OK);
    }
    // The command line agrees with the server on the new token.
    env.cmd().args(["verify", &new]).exits(0);
}

/// The answer to a leaked key: rotate, then retire it. A token forged with the leaked key
/// (the old private key copied aside) opens nothing any more, and the key is not published.
#[test]
fn a_retired_key_opens_nothing_and_is_no_longer_published() {
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    env.add_user("alice", ALICE_PW);
    env.cmd()
        .args(["user", "set", "alice", "--add-group", "admins"])
        .exits(0);
    let private = env.path().join("config/jwtauth/private.pem");
    let leaked = env.path().join("leaked.pem");
    std::fs::copy(&private, &leaked).expect("copy the key aside");
    let server = Server::start(&env);
    let before = token(&server);
    let old_kid = kid(&env, &before).expect("an ES256 token has a kid");
    assert_eq!(published(&server), [old_kid.as_str()]);

    let done = rotate(&env);
    let new_kid = done["kid"].as_str().expect("kid").to_string();
    // Rotated: both keys verify and both are published, the new one first.
    assert_eq!(published(&server), [new_kid.as_str(), old_kid.as_str()]);
    assert_eq!(server.protected(&before).status(), StatusCode::OK);
    let after = token(&server);
    assert_eq!(kid(&env, &after).as_deref(), Some(new_kid.as_str()));

    env.cmd().args(["keys", "retire", &old_kid]).exits(0);
    let leaked = leaked.to_str().expect("utf-8 path");
    let forged = env.mint(&[
        "--key",
        leaked,
        "--sub",
        "alice",
        "--claim",
        r#"groups=["admins"]"#,
    ]);
    assert_eq!(kid(&env, &forged).as_deref(), Some(old_kid.as_str()));
    for t in [&before, &forged] {
        assert_eq!(server.protected(t).status(), StatusCode::UNAUTHORIZED);
        let res = send(server.get("/auth?group=admins").bearer_auth(t));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(published(&server), [new_kid.as_str()]);
    // The command line publishes the same set.
    let cli = json(&env.cmd().arg("jwks").exits(0).stdout);
    let cli: Vec<&str> = cli["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid"))
        .collect();
    assert_eq!(cli, [new_kid.as_str()]);
    // The current key still opens everything.
    assert_eq!(server.protected(&after).status(), StatusCode::OK);
    let res = send(server.get("/auth?group=admins").bearer_auth(&after));
    assert_eq!(res.status(), StatusCode::OK);
    // The change was picked up and said so (audit), with no key material in the log.
    wait_for_log(&server, |l| l.contains("key change picked up"));
    let pem = std::fs::read_to_string(&private).expect("key");
    let body = pem.lines().nth(1).expect("a PEM body line");
    assert!(server.log().iter().all(|l| !l.contains(body)));
}

#[test]
fn after_init_force_old_tokens_are_refused_at_once() {
    let env = env();
    let server = Server::start(&env);
    let old = token(&server);
    assert_eq!(server.protected(&old).status(), StatusCode::OK);
    env.cmd().args(["init", "--force"]).exits(0);
    assert_eq!(server.protected(&old).status(), StatusCode::UNAUTHORIZED);
    let new = token(&server);
    assert_eq!(server.protected(&new).status(), StatusCode::OK);
    env.cmd().args(["verify", &new]).exits(0);
}

/// `serve --ttl 30d` signs 30-day tokens: a rotation must keep the old key that long.
#[test]
fn the_lifetime_serve_signs_is_recorded_in_the_key_ring() {
    let env = env();
    let server = Server::start_with(&env, &["--ttl", "30d"]);
    let before = token(&server);
    // Recording the lifetime rewrote the ring: that is no key change.
    assert!(
        server
            .log()
            .iter()
            .all(|l| !l.contains("key change picked up")),
        "{:?}",
        server.log()
    );
    let started = now();
    let done = rotate(&env);
    let keys = json(&env.cmd().args(["keys", "list", "--json"]).exits(0).stdout);
    let retired = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["expires_at"].is_i64())
        .expect("a retired key")
        .clone();
    let expires_at = retired["expires_at"].as_i64().expect("expires_at");
    assert!(
        expires_at >= started + 30 * 86400,
        "the old key expires at {expires_at}, before the 30-day tokens it signed: {keys}"
    );
    assert_eq!(done["retired"]["expires_at"].as_i64(), Some(expires_at));
    assert_eq!(server.protected(&before).status(), StatusCode::OK);
}

/// A key file that breaks while serving: no token is signed with a key that may be
/// replaced (503), tokens of the last good key still verify, and one ERROR says why.
#[test]
fn a_key_file_broken_while_serving_stops_signing_but_not_verifying() {
    let env = env();
    let server = Server::start(&env);
    let old = token(&server);
    std::fs::write(env.secret(), b"").expect("empty the key file");
    let res = server.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.protected(&old).status(), StatusCode::OK);
    let errors = |log: &[String]| {
        log.iter()
            .filter(|l| l.contains("verifying with the last good keys"))
            .count()
    };
    wait_for_log(&server, |l| l.contains("verifying with the last good keys"));
    assert_eq!(server.protected(&old).status(), StatusCode::OK);
    // The log is read by another thread: once a later request's line is in, so is anything
    // the requests before it logged.
    assert_eq!(
        send(server.get("/log-caught-up")).status(),
        StatusCode::NOT_FOUND
    );
    wait_for_log(&server, |l| l.contains("/log-caught-up"));
    assert_eq!(errors(&server.log()), 1, "{:?}", server.log());
    // A good key again: signing resumes, with it.
    env.cmd().args(["init", "--force"]).exits(0);
    let new = token(&server);
    assert_eq!(server.protected(&new).status(), StatusCode::OK);
    assert_eq!(server.protected(&old).status(), StatusCode::UNAUTHORIZED);
}

/// Sends SIGHUP and waits until the server says it reloaded its configuration.
pub(crate) fn hangup(server: &Server) {
    signal(server, "HUP");
    wait_for_log(server, |l| l.contains("configuration reloaded"));
}

#[test]
fn sighup_reloads_the_configuration_file() {
    let env = env();
    write_config(&env, "ttl = \"1h\"\n");
    let server = Server::start(&env);
    let first = login(&server)["expires_in"].as_i64().expect("expires_in");
    assert!((3590..=3600).contains(&first), "{first}");
    write_config(&env, "ttl = \"2h\"\n");
    hangup(&server);
    let second = login(&server)["expires_in"].as_i64().expect("expires_in");
    assert!((7190..=7200).contains(&second), "{second}");
    // Throttle settings too: one failure now bans.
    write_config(&env, "ttl = \"2h\"\n[serve]\nthrottle_max_failures = 1\n");
    hangup(&server);
    let res = server.login_form("alice", "wrong");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = server.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn sighup_with_a_broken_configuration_keeps_the_old_one_and_says_so() {
    let env = env();
    write_config(&env, "ttl = \"1h\"\n");
    let server = Server::start(&env);
    write_config(&env, "ttl = \n");
    signal(&server, "HUP");
    let line = wait_for_log(&server, |l| l.contains("ERROR") && l.contains("config"));
    assert!(line.contains("keeping"), "{line}");
    let e = login(&server)["expires_in"].as_i64().expect("expires_in");
    assert!((3590..=3600).contains(&e), "{e}");
    assert!(
        server
            .log()
            .iter()
            .all(|l| !l.contains("configuration reloaded")),
        "{:?}",
        server.log()
    );
}

/// What only a restart changes is named, and the rest is applied.
#[test]
fn sighup_warns_about_what_needs_a_restart() {
    let env = env();
    write_config(&env, "ttl = \"1h\"\n");
    let server = Server::start(&env);
    let elsewhere = env.path().join("elsewhere.json");
    write_config(
        &env,
        &format!(
            "ttl = \"2h\"\nusers = {:?}\n",
            elsewhere.to_str().expect("utf-8")
        ),
    );
    hangup(&server);
    let line = wait_for_log(&server, |l| l.contains("WARN") && l.contains("restart"));
    assert!(line.contains("users"), "{line}");
    // The users are still those of the file in use at start.
    let e = login(&server)["expires_in"].as_i64().expect("expires_in");
    assert!((7190..=7200).contains(&e), "{e}");
}

/// The access checks are rebuilt with the reloaded audience.
#[test]
fn sighup_applies_a_new_audience_to_access_checks() {
    let env = env();
    write_config(&env, "audience = \"api-a\"\n");
    let server = Server::start(&env);
    let for_a = token(&server);
    assert_eq!(server.protected(&for_a).status(), StatusCode::OK);
    write_config(&env, "audience = \"api-b\"\n");
    hangup(&server);
    assert_eq!(server.protected(&for_a).status(), StatusCode::UNAUTHORIZED);
    let for_b = token(&server);
    assert_eq!(env.decoded(&for_b)["payload"]["aud"], "api-b");
    assert_eq!(server.protected(&for_b).status(), StatusCode::OK);
}
