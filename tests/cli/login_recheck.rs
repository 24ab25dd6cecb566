//! A login re-reads the user's record after its slow password check and before signing
//! (SPEC §15 "Logins over HTTP"): a user disabled, removed or given a new password while the
//! check ran gets no token, and the token's groups are those of the record as re-read.
//!
//! No sleeping: the user's argon2id hash is slow to check (about a second), the login is sent
//! on a thread, and the change is made once `/metrics` shows the check running
//! (`jwtauth_hash_running 1`); the change itself takes milliseconds.
use crate::common;

use common::{Env, Exits, json};
use reqwest::StatusCode;
use serde_json::Value;

use crate::serve::{ALICE_PW, Server};

/// A slow argon2id for alice (m = 64 MiB, t = 16), with the group `admins`.
fn slow_alice() -> Env {
    let env = Env::new();
    env.init();
    env.write_config(
        "password_scheme = \"argon2id\"\nargon2_memory_kib = 65536\nargon2_time = 16\n",
    );
    env.cmd()
        .args(["user", "add", "alice", "--password-stdin"])
        .write_stdin(format!("{ALICE_PW}\n"))
        .exits(0);
    env.cmd()
        .args(["user", "set", "alice", "--group", "admins"])
        .exits(0);
    env
}

/// Waits (polling `/metrics`, no sleeping) until a password check is running.
fn until_checking(server: &Server) {
    loop {
        let text = server
            .get("/metrics")
            .send()
            .expect("metrics")
            .text()
            .expect("metrics text");
        if text.lines().any(|l| l == "jwtauth_hash_running 1") {
            return;
        }
    }
}

/// `POST /token` for alice while `change` runs; the status and body of the answer.
fn login_during(env: &Env, change: &[&str], stdin: Option<&str>) -> (StatusCode, Value) {
    let server = Server::start(env);
    std::thread::scope(|s| {
        let login = s.spawn(|| {
            let res = server.login_form("alice", ALICE_PW);
            let status = res.status();
            (status, json(&res.bytes().expect("body")))
        });
        until_checking(&server);
        let mut cmd = env.cmd();
        cmd.args(change);
        if let Some(input) = stdin {
            cmd.write_stdin(input.to_string());
        }
        cmd.exits(0);
        login.join().expect("login thread")
    })
}

fn assert_refused((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[test]
fn a_user_disabled_during_the_password_check_gets_no_token() {
    let env = slow_alice();
    assert_refused(login_during(&env, &["user", "disable", "alice"], None));
}

#[test]
fn a_user_removed_during_the_password_check_gets_no_token() {
    let env = slow_alice();
    assert_refused(login_during(&env, &["user", "remove", "alice"], None));
}

#[test]
fn a_password_changed_during_the_password_check_gets_no_token() {
    let env = slow_alice();
    assert_refused(login_during(
        &env,
        &[
            "user",
            "passwd",
            "alice",
            "--scheme",
            "bcrypt",
            "--cost",
            "4",
            "--password-stdin",
        ],
        Some("a-New-Pw-8hT$qL\n"),
    ));
}

#[test]
fn a_group_taken_away_during_the_password_check_is_not_in_the_token() {
    let env = slow_alice();
    let (status, body) = login_during(
        &env,
        &["user", "set", "alice", "--remove-group", "admins"],
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    let claims = &env.decoded(token)["payload"];
    assert_eq!(claims["sub"], "alice");
    assert!(claims.get("groups").is_none(), "{claims}");
}

#[test]
fn on_redis_a_user_disabled_during_the_password_check_gets_no_token() {
    let Some(redis) = common::redis::RedisServer::start() else {
        return;
    };
    common::on_store(&redis.url(), || {
        let env = slow_alice();
        assert_refused(login_during(&env, &["user", "disable", "alice"], None));
    });
}
