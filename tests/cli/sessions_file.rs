//! Sessions in the file store (SPEC §13): `revocations.json` holds them under `"sessions"` and
//! becomes version 2, which an older jwtauth refuses; a one-shot `verify` and a running
//! `verify -` judge a token's `sid` by the session's record.
use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::{Env, Exits};

const DAY: i64 = 24 * 3600;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// One session record as the state file keeps it (the JSON of SPEC §13's store).
fn record(created_at: i64, last_used_at: i64, ended_at: Option<i64>) -> serde_json::Value {
    let mut r = serde_json::json!({
        "sub": "alice",
        "created_at": created_at,
        "last_used_at": last_used_at,
        "client": {"address": "127.0.0.1", "user_agent": "curl/8"},
        "amr": ["pwd"],
        "issue": {"ttl": 900, "claims": {}, "browser": false},
        "refresh": {"generation": 0, "hash": "00".repeat(32), "rotated_at": created_at},
        "tokens": {"some-jti": created_at + 900},
    });
    if let Some(at) = ended_at {
        r["ended_at"] = at.into();
    }
    r
}

/// Writes a version-2 state file with these sessions.
fn seed(env: &Env, sessions: &[(&str, serde_json::Value)]) -> String {
    let sessions: serde_json::Map<_, _> = sessions
        .iter()
        .map(|(sid, r)| (sid.to_string(), r.clone()))
        .collect();
    let doc = serde_json::json!({
        "version": 2,
        "tokens": {},
        "users": {},
        "sessions": sessions,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json");
    std::fs::create_dir_all(env.state().parent().expect("parent")).expect("mkdir");
    std::fs::write(env.state(), &text).expect("write state");
    text
}

fn token_of(env: &Env, sid: &str) -> String {
    env.mint(&["--sub", "alice", "--claim", &format!("sid={sid}")])
}

#[test]
fn a_one_shot_verify_judges_the_token_s_session() {
    let env = Env::new();
    env.init();
    let t = now();
    seed(
        &env,
        &[
            ("live-sid", record(t - DAY, t - 60, None)),
            ("ended-sid", record(t - DAY, t - 60, Some(t - 30))),
            ("old-sid", record(t - 8 * DAY, t - 60, None)),
            ("idle-sid", record(t - 3 * DAY, t - 2 * DAY, None)),
        ],
    );
    env.cmd()
        .args(["verify", &token_of(&env, "live-sid")])
        .assert()
        .code(0)
        .stdout("alice\n");
    for (sid, code) in [
        ("unknown-sid", 4),
        ("ended-sid", 4),
        ("old-sid", 3),
        ("idle-sid", 3),
    ] {
        let out = env.cmd().args(["verify", &token_of(&env, sid)]).exits(code);
        assert!(out.stdout.is_empty(), "{sid}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("jwtauth: "), "{sid}: {err}");
    }
    // A token without `sid` (minted) is not asked about sessions.
    env.cmd()
        .args(["verify", &env.mint(&["--sub", "alice"])])
        .assert()
        .code(0);
    // The first reader that owns the hand-written file left the lookup index beside it.
    assert!(
        env.path()
            .join("data/jwtauth/revocations.json.idx")
            .exists()
    );
}

#[test]
fn without_a_state_file_a_token_with_a_sid_is_refused() {
    let env = Env::new();
    env.init();
    env.cmd()
        .args(["verify", &token_of(&env, "any-sid")])
        .assert()
        .code(4);
    env.cmd()
        .args(["verify", "--no-revocation", &token_of(&env, "any-sid")])
        .assert()
        .code(0);
}

#[test]
fn a_version_2_state_file_is_read_and_its_unknown_fields_kept() {
    let env = Env::new();
    env.init();
    let t = now();
    let text = seed(&env, &[("live-sid", record(t - DAY, t - 60, None))]);
    let text = text.replacen("{", "{\n  \"later\": {\"x\": 1.50},", 1);
    std::fs::write(env.state(), &text).unwrap();
    let token = env.mint(&["--sub", "bob"]);
    env.cmd().args(["verify", &token]).assert().code(0);
    env.cmd().args(["logout", &token]).assert().code(0);
    env.cmd().args(["verify", &token]).assert().code(4);
    let after = std::fs::read_to_string(env.state()).unwrap();
    assert!(after.contains("\"version\": 2"), "{after}");
    assert!(after.contains("\"later\": {\"x\": 1.50}"), "{after}");
    assert!(after.contains("\"live-sid\""), "{after}");
    env.cmd()
        .args(["verify", &token_of(&env, "live-sid")])
        .assert()
        .code(0);
}

/// How a jwtauth that reads only version 1 (every release before sessions) meets a state
/// file with sessions: exit 8 on `verify` and `logout`, the file left as it was. The binary
/// of that older release is given in `JWTAUTH_OLD_BIN`; without it, this build is checked for
/// the same rule one version on (a version-3 file).
#[test]
fn an_older_jwtauth_refuses_a_state_file_with_sessions() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice"]);
    let t = now();
    let mut text = seed(&env, &[("live-sid", record(t - DAY, t - 60, None))]);
    let older = std::env::var_os("JWTAUTH_OLD_BIN");
    let run = |args: &[&str]| {
        let mut cmd = match &older {
            Some(bin) => env.std_cmd_for(&bin.to_string_lossy()),
            None => env.std_cmd(),
        };
        cmd.args(args).stdin(Stdio::null()).output().expect("run")
    };
    if older.is_none() {
        text = text.replace("\"version\": 2", "\"version\": 3");
        std::fs::write(env.state(), &text).unwrap();
    }
    for args in [&["verify", &token][..], &["logout", &token][..]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(8), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("revocations.json"), "{err}");
        assert!(err.contains("version"), "{err}");
        assert_eq!(std::fs::read_to_string(env.state()).unwrap(), text);
    }
}

#[test]
fn a_running_verify_stream_sees_a_session_ended_by_another_process() {
    let env = Env::new();
    env.init();
    let t = now();
    seed(&env, &[("s1", record(t - DAY, t - 60, None))]);
    let token = token_of(&env, "s1");
    let mut child = env
        .std_cmd()
        .args(["verify", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start verify -");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut check = |token: &str| {
        writeln!(stdin, "{token}").expect("write token");
        stdin.flush().expect("flush");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read result");
        line.trim_end().to_string()
    };
    assert_eq!(check(&token), "ok alice");
    // Another process ends the session (here by hand, as `sessions revoke` would write it).
    seed(&env, &[("s1", record(t - DAY, t - 60, Some(t)))]);
    let line = check(&token);
    assert!(line.starts_with("error 4 "), "{line}");
    drop(stdin);
    assert_eq!(child.wait().expect("wait").code(), Some(1));
}
