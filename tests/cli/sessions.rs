//! Sessions and refresh tokens on the command line (SPEC §13): `login --json`, `refresh`,
//! `sessions list|revoke`, logout ending a session, the account changes that end every session
//! of a user, `verify` of a token whose session ended (4) or expired (3), a running `verify -`,
//! `migrate`, and the refresh token never shown beyond the one place it is handed out. Each
//! test runs on the default files and on a Redis server of its own; the time-based ones move a
//! session's times back in the state file (no sleep), so they run on the file store.
use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Output, Stdio};

use common::redis::RedisServer;
use common::{Env, Exits, json, stderr_str, stdout_str};
use serde_json::Value;

const PW: &str = "alice-Pw-7gQ!zX";
const DAY: i64 = 24 * 3600;

on_both_stores!(
    login_json_carries_the_session_and_a_refresh_token,
    login_claims_sid_or_amr_are_usage_errors,
    refresh_rotates_and_prints_two_lines_or_the_login_document,
    a_spent_refresh_token_presented_again_ends_the_session,
    refresh_reads_one_token_from_stdin_and_refuses_anything_else,
    sessions_list_shows_the_live_sessions_newest_first,
    sessions_revoke_is_all_or_nothing_and_user_ends_sessions_not_minted_tokens,
    logout_ends_the_session_and_again_is_a_success_said_so,
    account_changes_end_every_session_of_the_user,
    a_running_verify_stream_refuses_the_next_token_of_an_ended_session,
    a_sid_this_store_does_not_know_is_refused_but_not_by_jwks_or_no_revocation,
    migrate_copies_the_sessions_ended_ones_too,
    the_refresh_token_is_shown_only_where_it_is_handed_out,
);

fn setup(env: &Env) {
    env.init();
    env.add_user("alice", PW);
}

/// `login alice --json`: the document.
fn login_json(env: &Env) -> Value {
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin", "--json"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    json(&out.stdout)
}

fn rt(doc: &Value) -> String {
    doc["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

fn at(doc: &Value) -> String {
    doc["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `refresh` with `input` on stdin (and `args` before it).
fn refresh(env: &Env, args: &[&str], input: &str) -> Output {
    env.cmd()
        .args(args)
        .arg("refresh")
        .write_stdin(input.to_string())
        .output()
        .expect("run refresh")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

/// `refresh --json` with `token`: the new document (exit 0).
fn refreshed(env: &Env, token: &str) -> Value {
    let out = refresh(env, &["--json"], &format!("{token}\n"));
    assert_eq!(code(&out), 0, "{}", stderr_str(&out));
    assert_eq!(stderr_str(&out), "");
    json(&out.stdout)
}

fn claims(env: &Env, token: &str) -> Value {
    env.decoded(token)["payload"].clone()
}

fn login_json_carries_the_session_and_a_refresh_token(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "sid",
            "token_type"
        ]
    );
    assert_eq!(doc["token_type"], "bearer");
    assert_eq!(doc["expires_in"], 900);
    let sid = doc["sid"].as_str().unwrap();
    // ≥ 128 random bits, base64url; the refresh token ≥ 256 bits and opaque (not a JWT).
    assert!(sid.len() >= 22, "{sid}");
    assert!(
        sid.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let r = rt(&doc);
    assert!(r.len() >= 43 && !r.contains('.'), "{r}");
    let c = claims(env, &at(&doc));
    assert_eq!(c["sid"], sid);
    assert_eq!(c["sub"], "alice");
    env.cmd().args(["verify", &at(&doc)]).exits(0);
    // Text mode prints the access token only.
    let token = env.login("alice", PW);
    assert_eq!(token.lines().count(), 1);
    assert!(claims(env, &token)["sid"].is_string());
    // A session_idle shorter than the ttl caps exp, and expires_in says so.
    env.write_config("session_idle = \"5m\"\n");
    assert_eq!(login_json(env)["expires_in"], 300);
}

fn login_claims_sid_or_amr_are_usage_errors(env: &Env) {
    setup(env);
    for claim in ["sid=mine", "amr=[\"pwd\"]"] {
        let out = env
            .cmd()
            .args(["login", "alice", "--password-stdin", "--claim", claim])
            .write_stdin(format!("{PW}\n"))
            .exits(2);
        assert_eq!(stdout_str(&out), "");
        let err = stderr_str(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("jwtauth: --claim "), "{err}");
    }
    let listed = env.cmd().args(["sessions", "list", "--json"]).exits(0);
    assert_eq!(json(&listed.stdout)["sessions"], serde_json::json!([]));
}

fn refresh_rotates_and_prints_two_lines_or_the_login_document(env: &Env) {
    setup(env);
    env.cmd()
        .args(["user", "set", "alice", "--group", "admins"])
        .exits(0);
    let doc = login_json(env);
    let out = refresh(env, &[], &format!("{}\n", rt(&doc)));
    assert_eq!(code(&out), 0, "{}", stderr_str(&out));
    assert_eq!(stderr_str(&out), "");
    let text = stdout_str(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let (access, next) = (lines[0], lines[1]);
    assert_ne!(next, rt(&doc));
    let c = claims(env, access);
    assert_eq!(c["sid"], doc["sid"]);
    assert_eq!(c["groups"], serde_json::json!(["admins"]));
    assert_ne!(c["jti"], claims(env, &at(&doc))["jti"]);
    env.cmd().args(["verify", access]).exits(0);
    // The user's current groups; `--json` answers the login document.
    env.cmd()
        .args(["user", "set", "alice", "--add-group", "ops"])
        .exits(0);
    let again = refreshed(env, next);
    assert_eq!(again["sid"], doc["sid"]);
    assert_eq!(again["token_type"], "bearer");
    assert_eq!(again["expires_in"], 900);
    assert_eq!(
        claims(env, &at(&again))["groups"],
        serde_json::json!(["admins", "ops"])
    );
    // The refresh token may be pasted with surrounding blanks.
    refreshed(env, &format!("  {}  ", rt(&again)));
}

fn a_spent_refresh_token_presented_again_ends_the_session(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let first = refreshed(env, &rt(&doc));
    let second = refreshed(env, &rt(&first));
    let other = login_json(env);
    // The one spent first, again: exit 4, and the whole session ends.
    let out = refresh(env, &[], &rt(&doc));
    assert_eq!(code(&out), 4);
    assert_eq!(stdout_str(&out), "");
    assert_eq!(
        stderr_str(&out),
        "jwtauth: refresh refused: the session has ended, or this refresh token was already used\n"
    );
    assert_eq!(code(&refresh(env, &[], &rt(&second))), 4);
    for token in [at(&doc), at(&first), at(&second)] {
        env.cmd().args(["verify", &token]).exits(4);
    }
    // Another session of the same user is untouched.
    env.cmd().args(["verify", &at(&other)]).exits(0);
    refreshed(env, &rt(&other));
}

fn refresh_reads_one_token_from_stdin_and_refuses_anything_else(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let one_line = |out: &Output, code_: i32| {
        assert_eq!(code(out), code_, "{}", stderr_str(out));
        assert_eq!(stdout_str(out), "");
        let err = stderr_str(out);
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    // Nothing, two lines, too much: usage errors (2).
    for input in [
        String::new(),
        "\n\n".to_string(),
        format!("{}\n{}\n", rt(&doc), rt(&doc)),
        "x".repeat(5000),
    ] {
        let err = one_line(&refresh(env, &[], &input), 2);
        assert!(err.starts_with("jwtauth: refresh token: "), "{err}");
    }
    // Never from argv, and not echoed back.
    let out = env.cmd().args(["refresh", &rt(&doc)]).exits(2);
    assert_eq!(stdout_str(&out), "");
    let err = stderr_str(&out);
    assert!(!err.contains(&rt(&doc)[4..]), "echoed: {err}");
    assert!(err.contains("never from the command line"), "{err}");
    // Not a refresh token of this store: 1.
    let foreign = {
        let other = Env::new();
        setup(&other);
        rt(&login_json(&other))
    };
    for input in [
        "garbage".to_string(),
        at(&doc),
        foreign,
        "\u{1F600}".to_string(),
    ] {
        let err = one_line(&refresh(env, &[], &input), 1);
        assert_eq!(
            err,
            "jwtauth: refresh refused: not a refresh token of this store\n"
        );
    }
    // None of that spent or ended anything.
    refreshed(env, &rt(&doc));
}

fn sessions_list_shows_the_live_sessions_newest_first(env: &Env) {
    setup(env);
    env.add_user("bob", PW);
    let a1 = login_json(env);
    let b1 = {
        let out = env
            .cmd()
            .args(["login", "bob", "--password-stdin", "--json"])
            .write_stdin(format!("{PW}\n"))
            .exits(0);
        json(&out.stdout)
    };
    let a2 = login_json(env);
    let ended = login_json(env);
    env.cmd().args(["logout", &at(&ended)]).exits(0);
    let out = env.cmd().args(["sessions", "list", "--json"]).exits(0);
    let all = json(&out.stdout)["sessions"].as_array().unwrap().clone();
    let sids: Vec<&Value> = all.iter().map(|s| &s["sid"]).collect();
    let mut want = vec![&a1["sid"], &b1["sid"], &a2["sid"]];
    // Newest first: created_at descending (sessions begun in one second in any order).
    let created: Vec<i64> = all
        .iter()
        .map(|s| s["created_at"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    want.sort_by_key(|s| s.as_str().unwrap().to_string());
    let mut got = sids.clone();
    got.sort_by_key(|s| s.as_str().unwrap().to_string());
    assert_eq!(got, want);
    let s = &all[0];
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "amr",
            "client",
            "created_at",
            "expires_at",
            "last_used_at",
            "sid",
            "sub"
        ]
    );
    assert_eq!(s["client"], "cli");
    assert_eq!(s["amr"], serde_json::json!(["pwd"]));
    assert_eq!(
        s["expires_at"].as_i64().unwrap(),
        s["last_used_at"].as_i64().unwrap() + DAY
    );
    // One user's; a user with none.
    let out = env
        .cmd()
        .args(["sessions", "list", "bob", "--json"])
        .exits(0);
    let bobs = json(&out.stdout)["sessions"].clone();
    assert_eq!(bobs.as_array().unwrap().len(), 1);
    assert_eq!(bobs[0]["sid"], b1["sid"]);
    assert_eq!(bobs[0]["sub"], "bob");
    env.cmd()
        .args(["sessions", "list", "carol"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("jwtauth: no live sessions of carol\n");
    // Text: a table with a header and one row per session.
    let out = env.cmd().args(["sessions", "list", "alice"]).exits(0);
    let text = stdout_str(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("SID") && lines[0].contains("LAST USED") && lines[0].ends_with("AMR"),
        "{text}"
    );
    assert!(text.contains(a1["sid"].as_str().unwrap()), "{text}");
    assert!(!text.contains(ended["sid"].as_str().unwrap()), "{text}");
    assert!(
        lines[1].contains(" cli ") && lines[1].ends_with("pwd"),
        "{text}"
    );
}

fn sessions_revoke_is_all_or_nothing_and_user_ends_sessions_not_minted_tokens(env: &Env) {
    setup(env);
    let a = login_json(env);
    let b = login_json(env);
    let c = login_json(env);
    let sid = |d: &Value| d["sid"].as_str().unwrap().to_string();
    // One unknown sid: exit 6, nothing ended.
    env.cmd()
        .args(["sessions", "revoke", &sid(&a), "no-such-sid"])
        .stderr_only(6, "jwtauth: no such session: no-such-sid\n");
    env.cmd().args(["verify", &at(&a)]).exits(0);
    env.cmd()
        .args(["sessions", "revoke", &sid(&a), &sid(&b)])
        .assert()
        .code(0)
        .stdout("")
        .stderr(format!(
            "jwtauth: ended session {}\njwtauth: ended session {}\n",
            sid(&a),
            sid(&b)
        ));
    for d in [&a, &b] {
        env.cmd().args(["verify", &at(d)]).exits(4);
        assert_eq!(code(&refresh(env, &[], &rt(d))), 4);
    }
    // An ended one is no longer found.
    env.cmd()
        .args(["sessions", "revoke", &sid(&a)])
        .stderr_only(6, format!("jwtauth: no such session: {}\n", sid(&a)));
    env.cmd().args(["verify", &at(&c)]).exits(0);
    // --user: every session of the user, not a token minted for that name.
    let minted = env.mint(&["--sub", "alice"]);
    let out = env
        .cmd()
        .args(["sessions", "revoke", "--user", "alice", "--json"])
        .exits(0);
    assert_eq!(json(&out.stdout), serde_json::json!({"ended": [sid(&c)]}));
    env.cmd().args(["verify", &at(&c)]).exits(4);
    env.cmd().args(["verify", &minted]).exits(0);
    env.cmd()
        .args(["sessions", "revoke", "--user", "nobody"])
        .stderr_only(6, "jwtauth: no such user: nobody\n");
    // Neither, or both: usage errors.
    env.cmd().args(["sessions", "revoke"]).exits(2);
    env.cmd()
        .args(["sessions", "revoke", "x", "--user", "alice"])
        .exits(2);
}

fn logout_ends_the_session_and_again_is_a_success_said_so(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let sid = doc["sid"].as_str().unwrap().to_string();
    let next = refreshed(env, &rt(&doc));
    let jti = claims(env, &at(&doc))["jti"].as_str().unwrap().to_string();
    env.cmd()
        .args(["logout", &at(&doc)])
        .assert()
        .code(0)
        .stdout("")
        .stderr(format!(
            "jwtauth: logged out token {jti} and ended its session {sid}\n"
        ));
    // Every token and the newest refresh token of the session are refused.
    env.cmd().args(["verify", &at(&next)]).exits(4);
    assert_eq!(code(&refresh(env, &[], &rt(&next))), 4);
    // Logging out a token of the ended session: success, said so.
    let jti2 = claims(env, &at(&next))["jti"].as_str().unwrap().to_string();
    env.cmd()
        .args(["logout", &at(&next)])
        .assert()
        .code(0)
        .stderr(format!(
            "jwtauth: logged out token {jti2}: its session had already ended\n"
        ));
    let out = env.cmd().args(["logout", &at(&doc), "--json"]).exits(0);
    let v = json(&out.stdout);
    assert_eq!(v["sid"], sid.as_str());
    assert_eq!(v["session_already_ended"], true);
    // A token without a session keeps the old answers.
    let minted = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &minted]).exits(0);
    env.cmd().args(["logout", &minted]).exits(4);
}

fn account_changes_end_every_session_of_the_user(env: &Env) {
    setup(env);
    env.cmd()
        .args(["user", "set", "alice", "--group", "admins"])
        .exits(0);
    let changes: [(&str, &[&str], Option<&str>); 5] = [
        ("logout --all", &["logout", "--all", "alice"], None),
        (
            "remove a group",
            &["user", "set", "alice", "--remove-group", "admins"],
            None,
        ),
        (
            "passwd",
            &["user", "passwd", "alice", "--password-stdin"],
            Some(PW),
        ),
        ("disable", &["user", "disable", "alice"], None),
        ("remove", &["user", "remove", "alice"], None),
    ];
    for (what, args, stdin) in changes {
        let doc = login_json(env);
        let mut cmd = env.cmd();
        cmd.args(args);
        if let Some(pw) = stdin {
            cmd.write_stdin(format!("{pw}\n"));
        }
        cmd.exits(0);
        assert_eq!(code(&refresh(env, &[], &rt(&doc))), 4, "{what}");
        env.cmd().args(["verify", &at(&doc)]).exits(4);
        let out = env.cmd().args(["sessions", "list", "--json"]).exits(0);
        assert_eq!(
            json(&out.stdout)["sessions"],
            serde_json::json!([]),
            "{what}"
        );
        if what == "disable" {
            env.cmd().args(["user", "enable", "alice"]).exits(0);
        }
    }
}

fn a_running_verify_stream_refuses_the_next_token_of_an_ended_session(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let other = login_json(env);
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
    assert_eq!(check(&at(&doc)), "ok alice");
    assert_eq!(check(&at(&other)), "ok alice");
    env.cmd()
        .args(["sessions", "revoke", doc["sid"].as_str().unwrap()])
        .exits(0);
    let line = check(&at(&doc));
    assert!(line.starts_with("error 4 "), "{line}");
    assert_eq!(check(&at(&other)), "ok alice");
    // A token issued by the ended session's refresh token never comes: it is refused.
    assert_eq!(code(&refresh(env, &[], &rt(&doc))), 4);
    drop(stdin);
    assert_eq!(child.wait().expect("wait").code(), Some(1));
}

fn a_sid_this_store_does_not_know_is_refused_but_not_by_jwks_or_no_revocation(env: &Env) {
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    let token = env.mint(&["--sub", "alice", "--claim", "sid=from-elsewhere"]);
    env.cmd()
        .args(["verify", &token])
        .stderr_only(4, predicates::str::contains("session"));
    env.cmd()
        .args(["verify", "--no-revocation", &token])
        .exits(0);
    let jwks = env.path().join("jwks.json");
    let out = env.cmd().arg("jwks").exits(0);
    std::fs::write(&jwks, &out.stdout).unwrap();
    env.cmd()
        .args(["verify", "--jwks", jwks.to_str().unwrap(), &token])
        .exits(0);
}

fn migrate_copies_the_sessions_ended_ones_too(env: &Env) {
    setup(env);
    let live = login_json(env);
    let ended = login_json(env);
    env.cmd().args(["logout", &at(&ended)]).exits(0);
    let to = env.path().join("copy.json");
    let out = env
        .cmd()
        .args(["migrate", "--state-to", to.to_str().unwrap(), "--json"])
        .exits(0);
    assert_eq!(json(&out.stdout)["revocations"]["sessions"], 2);
    let there = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.args(["--state", to.to_str().unwrap()]).args(args);
        cmd
    };
    let out = there(&["sessions", "list", "--json"]).exits(0);
    let listed = json(&out.stdout)["sessions"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["sid"], live["sid"]);
    there(&["verify", &at(&live)]).exits(0);
    there(&["verify", &at(&ended)]).exits(4);
    // Again: nothing changes.
    env.cmd()
        .args(["migrate", "--state-to", to.to_str().unwrap()])
        .exits(0);
    // The refresh token works against the copy.
    let out = there(&["refresh"]).write_stdin(rt(&live)).exits(0);
    assert_eq!(stdout_str(&out).lines().count(), 2);
}

fn the_refresh_token_is_shown_only_where_it_is_handed_out(env: &Env) {
    setup(env);
    let doc = login_json(env);
    let r = rt(&doc);
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    assert!(!stdout_str(&out).contains(&r));
    // Not in the state, not in the listing, not in any later output.
    if env.store.is_none() {
        let state = std::fs::read_to_string(env.state()).expect("state");
        assert!(!state.contains(&r), "the plain refresh token is stored");
    }
    for args in [
        &["sessions", "list", "--json"][..],
        &["revocations", "list", "--json"][..],
    ] {
        let out = env.cmd().args(args).exits(0);
        assert!(!stdout_str(&out).contains(&r[8..]), "{args:?}");
        assert!(!stderr_str(&out).contains(&r[8..]), "{args:?}");
    }
    let out = refresh(env, &[], &r);
    assert_eq!(stderr_str(&out), "");
    assert!(!stdout_str(&out).contains(&r));
    // A refused one is not echoed either.
    let out = refresh(env, &[], &r);
    assert!(!stderr_str(&out).contains(&r[8..]));
}

// ----- lifetimes (the file store: a session's times moved back in the state file) -----------

/// Moves every session of the state file `secs` into the past (as if begun and last used
/// then), and drops the lookup index so it is rebuilt.
fn age_sessions(env: &Env, secs: i64) {
    age_only(env, secs, None);
}

/// [`age_sessions`], of the session `only` when given.
fn age_only(env: &Env, secs: i64, only: Option<&str>) {
    let path = env.state();
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (sid, s) in doc["sessions"]
        .as_object_mut()
        .expect("sessions")
        .iter_mut()
    {
        if only.is_some_and(|o| o != sid.as_str()) {
            continue;
        }
        for k in ["created_at", "last_used_at"] {
            s[k] = (s[k].as_i64().unwrap() - secs).into();
        }
        if let Some(r) = s.get_mut("refresh").and_then(Value::as_object_mut) {
            let t = r["rotated_at"].as_i64().unwrap() - secs;
            r.insert("rotated_at".into(), t.into());
        }
        if let Some(e) = s.get_mut("ended_at").filter(|e| e.is_i64()) {
            *e = (e.as_i64().unwrap() - secs).into();
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn a_session_idle_or_past_its_max_age_is_expired_3() {
    let env = Env::new();
    setup(&env);
    let idle = login_json(&env);
    // Past session_idle (1d) but not the access token's own exp.
    age_sessions(&env, DAY + 60);
    let out = env.cmd().args(["verify", &at(&idle)]).exits(3);
    assert!(
        stderr_str(&out).contains("its session expired at"),
        "{}",
        stderr_str(&out)
    );
    let out = refresh(&env, &[], &rt(&idle));
    assert_eq!(code(&out), 3);
    assert_eq!(
        stderr_str(&out),
        "jwtauth: refresh refused: the session has expired\n"
    );
    let out = env.cmd().args(["sessions", "list", "--json"]).exits(0);
    assert_eq!(json(&out.stdout)["sessions"], serde_json::json!([]));
    // Kept in use, it is live until session_max_age (7d) since it began.
    let used = login_json(&env);
    age_sessions(&env, 7 * DAY);
    let out = env.cmd().args(["verify", &at(&used)]).exits(3);
    assert!(stderr_str(&out).contains("its session expired at"));
    assert_eq!(code(&refresh(&env, &[], &rt(&used))), 3);
    // A shorter config limit applies to sessions already begun.
    let fresh = login_json(&env);
    env.cmd().args(["verify", &at(&fresh)]).exits(0);
    env.write_config("session_max_age = \"1h\"\n");
    age_sessions(&env, 3600);
    env.cmd().args(["verify", &at(&fresh)]).exits(3);
    // Logging out its token still ends it (expired is not an error there).
    env.cmd().args(["logout", &at(&fresh)]).exits(0);
}

#[test]
fn prune_drops_sessions_past_their_absolute_end_and_keeps_ended_ones_until_then() {
    let env = Env::new();
    setup(&env);
    let old = login_json(&env);
    let ended = login_json(&env);
    env.cmd().args(["logout", &at(&ended)]).exits(0);
    age_only(&env, 8 * DAY, old["sid"].as_str());
    let out = env.cmd().args(["revocations", "prune", "--json"]).exits(0);
    assert!(json(&out.stdout)["pruned"].as_i64().unwrap() >= 1);
    let state = std::fs::read_to_string(env.state()).unwrap();
    assert!(!state.contains(old["sid"].as_str().unwrap()), "{state}");
    assert!(state.contains(ended["sid"].as_str().unwrap()), "{state}");
    env.cmd().args(["verify", &at(&ended)]).exits(4);
    // A session no longer known is refused as revoked.
    env.cmd().args(["verify", &at(&old)]).exits(4);
}

#[test]
fn a_token_outlives_neither_its_session_nor_session_idle() {
    let env = Env::new();
    setup(&env);
    env.write_config("session_max_age = \"10m\"\nsession_idle = \"1h\"\n");
    let doc = login_json(&env);
    assert_eq!(doc["expires_in"], 600);
    let c = claims(&env, &at(&doc));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    // A --ttl longer than session_idle is capped too.
    env.write_config("session_idle = \"2m\"\n");
    let out = env
        .cmd()
        .args([
            "login",
            "alice",
            "--password-stdin",
            "--json",
            "--ttl",
            "1h",
        ])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    assert_eq!(json(&out.stdout)["expires_in"], 120);
}

#[test]
fn session_limits_in_the_config_are_validated() {
    let env = Env::new();
    env.write_config("session_max_per_user = 0\n");
    let out = env.cmd().arg("sessions").arg("list").exits(8);
    assert!(
        stderr_str(&out).contains("session_max_per_user: 0 is out of range"),
        "{}",
        stderr_str(&out)
    );
}

#[test]
fn a_sign_in_beyond_session_max_per_user_ends_the_least_recently_used() {
    let env = Env::new();
    setup(&env);
    env.write_config("session_max_per_user = 2\n");
    let a = login_json(&env);
    let b = login_json(&env);
    let c = login_json(&env);
    let out = env.cmd().args(["sessions", "list", "--json"]).exits(0);
    let live: Vec<Value> = json(&out.stdout)["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].clone())
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.contains(&c["sid"]));
    // Of a and b (begun in the same second, maybe), exactly one was ended.
    let ended = [&a, &b]
        .iter()
        .filter(|d| !live.contains(&d["sid"]))
        .count();
    assert_eq!(ended, 1);
}

#[test]
fn two_refreshes_racing_one_token_exactly_one_wins_on_both_stores() {
    let server = RedisServer::start();
    let mut envs = vec![Env::new()];
    envs.extend(server.as_ref().map(|s| Env::with_store(&s.url())));
    for env in envs {
        setup(&env);
        let doc = login_json(&env);
        let token = rt(&doc);
        let children: Vec<_> = (0..2)
            .map(|_| {
                let mut child = env
                    .std_cmd()
                    .arg("refresh")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start refresh");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(token.as_bytes())
                    .unwrap();
                child
            })
            .collect();
        let mut codes: Vec<i32> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, [0, 4], "{:?}", env.store);
        // The loser was a reuse: the session has ended.
        env.cmd().args(["verify", &at(&doc)]).exits(4);
    }
}
