//! The audit log of `jwtauth serve` (SPEC §15): security events with the target
//! `jwtauth::audit` — sign-ins and their failures (user, client address, reason class), bans,
//! token ends, configuration reloads — in text and JSON, never a secret; and the fail2ban
//! filter of `examples/fail2ban/` run by `fail2ban-regex` against a real server's log.
//!
//! Through real processes: the server of `serve.rs`, talked to over HTTP.
use crate::common;
use crate::serve::{ALICE_PW, FormBody, Server, body_json, env, send, write_config};

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, Exits};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

const CAROL_PW: &str = "carol-Pw-4vL&qS8";
/// A name that tries to forge a second audit line (and fields of this one) for another address.
const FORGED: &str = "mallory\" client=6.6.6.6 reason=\"bad_credentials\"\n2030-01-01T00:00:00.000000Z  WARN jwtauth::audit: sign-in failed event=\"login_failed\" client=6.6.6.6 reason=\"bad_credentials\" route=\"/token\" user=\"x\"";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// True if `fail2ban-regex` (Debian's fail2ban) is installed; else false after `common::skip`.
fn fail2ban_regex() -> bool {
    let ok = Command::new("fail2ban-regex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip("fail2ban-regex (Debian's fail2ban) is not installed");
    }
    ok
}

/// A client that shows redirects instead of following them (the login page's 303).
fn no_redirects() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// `POST /token` with a password grant form, as if from `client` behind the (trusted,
/// loopback) proxy when given.
fn attempt(server: &Server, user: &str, pw: &str, client: Option<&str>) -> StatusCode {
    let mut req = server.post("/token").form_body(&[
        ("grant_type", "password"),
        ("username", user),
        ("password", pw),
    ]);
    if let Some(c) = client {
        req = req.header("x-forwarded-for", c);
    }
    send(req).status()
}

/// The server's log once it has stopped, written to a file as its stderr was.
fn stopped_log(mut server: Server, env: &Env) -> (Vec<String>, PathBuf) {
    assert!(server.stop().success());
    let lines = server.log();
    let file = env.path().join("serve.log");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the log");
    (lines, file)
}

/// The audit events among JSON log lines; every line but the start-up line must be JSON.
fn audit_events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| !l.starts_with("jwtauth: "))
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v["target"] == "jwtauth::audit")
        .collect()
}

fn events<'a>(all: &'a [Value], event: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == event).collect()
}

/// `kill -HUP` and wait (with requests, never sleeping) for the reload's audit line.
fn hangup(server: &Server) {
    let ok = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    let end = Instant::now() + Duration::from_secs(60);
    while !server.log().iter().any(|l| l.contains("config_reloaded")) {
        assert!(Instant::now() < end, "no reload line: {:?}", server.log());
        assert_eq!(send(server.get("/healthz")).status(), StatusCode::OK);
    }
}

#[test]
fn fail2ban_filter_matches_failed_sign_ins_by_the_real_client_address() {
    if !fail2ban_regex() {
        return;
    }
    let env = env();
    let server = Server::start(&env);
    // Not failures: a sign-in, and a malformed request (no credentials: no sign-in attempt).
    assert_eq!(attempt(&server, "alice", ALICE_PW, None), StatusCode::OK);
    let res = send(
        server
            .post("/token")
            .form_body(&[("grant_type", "password")]),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // From 127.0.0.1: a wrong password, an unknown user, a forged name, the login page.
    assert_eq!(
        attempt(&server, "alice", "wrong", None),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        attempt(&server, "nobody", "wrong", None),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(attempt(&server, FORGED, "x", None), StatusCode::BAD_REQUEST);
    let res = send(
        no_redirects()
            .post(server.url("/login"))
            .form_body(&[("username", "bob"), ("password", "wrong")]),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Through the (trusted, loopback) proxy for 203.0.113.7: five failures, then banned.
    for _ in 0..5 {
        assert_eq!(
            attempt(&server, "dave", "wrong", Some("203.0.113.7")),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        attempt(&server, "dave", "wrong", Some("203.0.113.7")),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, log) = stopped_log(server, &env);
    let out = Command::new("fail2ban-regex")
        .args(["-o", "ip"])
        .arg(&log)
        .arg(repo_file("examples/fail2ban/jwtauth.conf"))
        .output()
        .expect("run fail2ban-regex");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts: Vec<&str> = text.lines().map(str::trim).collect();
    let count = |h: &str| hosts.iter().filter(|x| **x == h).count();
    assert_eq!(count("127.0.0.1"), 4, "{text}");
    assert_eq!(count("203.0.113.7"), 6, "{text}");
    assert_eq!(hosts.len(), 10, "{text}");
}

#[test]
fn fail2ban_filter_reads_journal_lines_too() {
    if !fail2ban_regex() {
        return;
    }
    let env = env();
    let server = Server::start(&env);
    assert_eq!(
        attempt(&server, "alice", "wrong", Some("198.51.100.9")),
        StatusCode::BAD_REQUEST
    );
    let (lines, _) = stopped_log(server, &env);
    // As fail2ban's systemd backend gives a journal entry ("host ident[pid]: MESSAGE", its
    // date apart), and as syslog writes it to a file.
    for prefix in [
        "host jwtauth[4242]: ",
        "Dec  7 23:24:25 host jwtauth[4242]: ",
    ] {
        let journal: String = lines.iter().map(|l| format!("{prefix}{l}\n")).collect();
        let file = env.path().join("journal.log");
        std::fs::write(&file, journal).expect("write");
        let out = Command::new("fail2ban-regex")
            .args(["-o", "ip"])
            .arg(&file)
            .arg(repo_file("examples/fail2ban/jwtauth.conf"))
            .output()
            .expect("run fail2ban-regex");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.lines().map(str::trim).collect::<Vec<_>>(),
            ["198.51.100.9"],
            "{prefix:?}: {text}"
        );
    }
}

#[test]
fn text_audit_lines_quote_the_name_and_cannot_be_forged() {
    let env = env();
    let server = Server::start(&env);
    assert_eq!(attempt(&server, FORGED, "x", None), StatusCode::BAD_REQUEST);
    assert_eq!(attempt(&server, "alice", ALICE_PW, None), StatusCode::OK);
    let (lines, _) = stopped_log(server, &env);
    let audit: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("jwtauth::audit"))
        .collect();
    assert_eq!(audit.len(), 2, "{lines:#?}");
    assert!(
        audit[0].contains(
            " WARN jwtauth::audit: sign-in failed event=\"login_failed\" client=127.0.0.1 reason=\"bad_credentials\" route=\"/token\" user=\"mallory\\\" client=6.6.6.6"
        ),
        "{}",
        audit[0]
    );
    assert!(audit[0].ends_with("user=\\\"x\\\"\""), "{}", audit[0]);
    // The session it began (SPEC §13) before the name.
    assert!(
        audit[1].contains(
            " INFO jwtauth::audit: sign-in succeeded event=\"login\" client=127.0.0.1 route=\"/token\" sid=\""
        ),
        "{}",
        audit[1]
    );
    assert!(audit[1].ends_with("\" user=\"alice\""), "{}", audit[1]);
    // No line of the log but the real one starts like an audit line for 6.6.6.6.
    assert!(lines.iter().all(|l| !l.starts_with("2030-")), "{lines:#?}");
}

#[test]
fn json_audit_events_name_user_client_and_reason_and_never_a_secret() {
    let env = env();
    env.add_user("carol", CAROL_PW);
    env.cmd().args(["user", "disable", "carol"]).exits(0);
    let server = Server::start_with(&env, &["--log-format", "json"]);
    let http = no_redirects();
    // Sign-ins: JSON, HTTP Basic, the login page (its cookie).
    let res = send(server.post("/token").json(&serde_json::json!({
        "username": "alice", "password": ALICE_PW
    })));
    assert_eq!(res.status(), StatusCode::OK);
    let bearer = body_json(res)["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let res = send(server.post("/token").basic_auth("alice", Some(ALICE_PW)));
    assert_eq!(res.status(), StatusCode::OK);
    let body = body_json(res);
    let revoked = body["access_token"].as_str().expect("token").to_string();
    // The device value (SPEC §15) is a secret too.
    let device = body["device"].as_str().unwrap_or(ALICE_PW).to_string();
    let res = send(
        http.post(server.url("/login"))
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("jwtauth_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    // Failures, one class: a wrong password, an unknown user, a disabled user.
    for (user, pw) in [
        ("alice", "wrong-pw-1"),
        ("nobody", "wrong-pw-2"),
        ("carol", CAROL_PW),
    ] {
        assert_eq!(attempt(&server, user, pw, None), StatusCode::BAD_REQUEST);
    }
    // Token ends: DELETE /logout (bearer), POST /logout (cookie), /revoke.
    let res = send(server.delete("/logout").bearer_auth(&bearer));
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(
        http.post(server.url("/logout"))
            .header("cookie", format!("jwtauth_session={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = send(server.post("/revoke").form_body(&[("token", &revoked)]));
    assert_eq!(res.status(), StatusCode::OK);
    // Nothing left to end: no event.
    let res = send(server.post("/revoke").form_body(&[("token", &revoked)]));
    assert_eq!(res.status(), StatusCode::OK);
    // A ban, seen from behind the proxy: five failures, then refused unchecked.
    for _ in 0..5 {
        assert_eq!(
            attempt(&server, "bob", "wrong-pw-3", Some("203.0.113.7")),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        attempt(&server, "bob", "wrong-pw-4", Some("203.0.113.7")),
        StatusCode::TOO_MANY_REQUESTS
    );
    let users: Value =
        serde_json::from_str(&std::fs::read_to_string(env.users()).expect("users file"))
            .expect("users JSON");
    let alice_hash = users["users"]["alice"]["hashed_password"]
        .as_str()
        .expect("alice's hash")
        .to_string();
    let (lines, _) = stopped_log(server, &env);
    let all = audit_events(&lines);

    let ok = events(&all, "login");
    let routes: Vec<&str> = ok.iter().map(|e| e["route"].as_str().unwrap()).collect();
    assert_eq!(routes, ["/token", "/token", "/login"], "{all:#?}");
    for e in &ok {
        assert_eq!(e["level"], "INFO");
        assert_eq!(e["message"], "sign-in succeeded");
        assert_eq!(e["user"], "alice");
        assert_eq!(e["client"], "127.0.0.1");
    }
    let failed = events(&all, "login_failed");
    let seen: Vec<(&str, &str, &str)> = failed
        .iter()
        .map(|e| {
            assert_eq!(e["level"], "WARN");
            assert_eq!(e["message"], "sign-in failed");
            assert_eq!(e["route"], "/token");
            (
                e["user"].as_str().unwrap(),
                e["client"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    let mut want = vec![
        ("alice", "127.0.0.1", "bad_credentials"),
        ("nobody", "127.0.0.1", "bad_credentials"),
        ("carol", "127.0.0.1", "bad_credentials"),
    ];
    want.extend([("bob", "203.0.113.7", "bad_credentials"); 5]);
    want.push(("bob", "203.0.113.7", "throttled"));
    assert_eq!(seen, want, "{all:#?}");
    let ban = failed.last().unwrap();
    let retry = ban["retry_after"].as_u64().expect("retry_after");
    assert!((1..=300).contains(&retry), "{ban}");
    assert!(failed[..8].iter().all(|e| e.get("retry_after").is_none()));

    let ended = events(&all, "token_ended");
    let jti = |t: &str| {
        env.decoded(t)["payload"]["jti"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let seen: Vec<(&str, String, &str, &str)> = ended
        .iter()
        .map(|e| {
            assert_eq!(e["message"], "token ended");
            (
                e["route"].as_str().unwrap(),
                e["jti"].as_str().unwrap().to_string(),
                e["sub"].as_str().unwrap(),
                e["client"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("/logout", jti(&bearer), "alice", "127.0.0.1"),
            ("/logout", jti(&cookie), "alice", "127.0.0.1"),
            ("/revoke", jti(&revoked), "alice", "127.0.0.1"),
        ],
        "{all:#?}"
    );

    // Never a password, token, cookie, device value or hash, in any line.
    for secret in [
        ALICE_PW,
        CAROL_PW,
        "wrong-pw-1",
        "wrong-pw-2",
        "wrong-pw-3",
        "wrong-pw-4",
        &bearer,
        &revoked,
        &cookie,
        &device,
        &alice_hash,
    ] {
        for l in &lines {
            assert!(!l.contains(secret), "log line {l:?} contains {secret:?}");
        }
    }
}

#[test]
fn key_changes_and_configuration_reloads_are_audited() {
    let env = env();
    let server = Server::start_with(&env, &["--log-format", "json"]);
    let before = server.token("alice", ALICE_PW);
    env.cmd().args(["init", "--rotate"]).exits(0);
    // The next request picks the new key up: the old token still opens, with a retired key.
    server.token("alice", ALICE_PW);
    assert_eq!(server.protected(&before).status(), StatusCode::OK);
    write_config(&env, "ttl = \"2h\"\n");
    hangup(&server);
    let (lines, _) = stopped_log(server, &env);
    let all = audit_events(&lines);
    let changed = events(&all, "key_changed");
    assert_eq!(changed.len(), 1, "{all:#?}");
    assert_eq!(changed[0]["message"], "key change picked up");
    assert!(
        changed[0]["kid"].as_str().is_some_and(|k| !k.is_empty()),
        "{all:#?}"
    );
    assert_eq!(changed[0]["retired"], 1);
    let reloaded = events(&all, "config_reloaded");
    assert_eq!(reloaded.len(), 1, "{all:#?}");
    assert_eq!(reloaded[0]["message"], "configuration reloaded");
    assert_eq!(reloaded[0]["level"], "INFO");
}
