//! The htpasswd habits of SPEC §8 "Users", through the binary: `user check` (htpasswd `-v`),
//! `user set`, `user passwd --hash`, `user add --update` (upsert), `hash --user`, `user export`
//! (htpasswd by default, `--json`), and the `groups` of a record in `user show/list` and in
//! the tokens `login` makes.
use crate::common;

use std::path::{Path, PathBuf};

use common::{Env, Exits, json, stderr_str as stderr, stdout_str as stdout};
use serde_json::{Value, json};

const REFUSED: &str = "jwtauth: login refused: incorrect username or password\n";

/// Every file under `root` with its bytes.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
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

/// A snapshot without the empty `*.lock` sidecars a locked look at a file leaves.
fn without_locks(mut files: Vec<(PathBuf, Vec<u8>)>) -> Vec<(PathBuf, Vec<u8>)> {
    files.retain(|(p, bytes)| !(p.extension().is_some_and(|e| e == "lock") && bytes.is_empty()));
    files
}

/// The users file as JSON.
fn users_json(env: &Env) -> Value {
    json(&common::bytes(&env.users()))
}

/// A user's record as `user show --json --with-hash` prints it.
fn shown(env: &Env, name: &str) -> Value {
    json(
        &env.cmd()
            .args(["user", "show", name, "--json", "--with-hash"])
            .exits(0)
            .stdout,
    )
}

/// `jwtauth hash` at cost 4.
fn hash(env: &Env, pw: &str) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .exits(0);
    stdout(&out).trim().to_string()
}

/// `user check NAME` with `pw` on stdin and extra arguments.
fn check(env: &Env, name: &str, pw: &str, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["user", "check", name, "--password-stdin"])
        .args(extra)
        .write_stdin(format!("{pw}\n"))
        .output()
        .expect("run jwtauth")
}

/// Writes a users file by hand: alice with a record field and a document field this version
/// does not know.
fn hand_written(env: &Env, groups: &str) -> String {
    let h = hash(env, "pw");
    let text = format!(
        r#"{{"version": 1, "x-owner": "ops", "users": {{"alice": {{"username": "alice", "full_name": "Alice", "email": "a@example.com", "hashed_password": "{h}", "disabled": false, "created_at": 1700000000, "password_changed_at": 1700000000, "shell": "/bin/zsh"{groups}}}}}}}"#
    );
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(env.users(), &text).unwrap();
    h
}

/// A users file that does not parse.
fn corrupt(env: &Env) -> Vec<u8> {
    let bytes = b"{\"version\": 1, \"users\": {\"alice\": ".to_vec();
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(env.users(), &bytes).unwrap();
    bytes
}

fn payload(env: &Env, token: &str) -> Value {
    env.decoded(token)["payload"].clone()
}

// ----- user check ------------------------------------------------------------------------------

#[test]
pub(crate) fn user_check_is_exit_0_on_a_match_and_says_so_on_stderr() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let out = check(&env, "alice", "correct horse", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        "jwtauth: password for user alice is correct\n"
    );
    let out = check(&env, "alice", "correct horse", &["-q"]);
    assert_eq!(
        (out.status.code(), stdout(&out), stderr(&out)),
        (Some(0), String::new(), String::new())
    );
    let out = check(&env, "alice", "correct horse", &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out.stdout), json!({"match": true}));
    assert_eq!(stderr(&out), "");
}

#[test]
fn user_check_refuses_unknown_user_wrong_password_and_disabled_user_alike() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "bobpw");
    env.cmd().args(["-q", "user", "disable", "bob"]).exits(0);
    let before = snapshot(env.path());
    for (name, pw) in [("nobody", "pw"), ("alice", "wrong"), ("bob", "bobpw")] {
        let out = check(&env, name, pw, &[]);
        assert_eq!(out.status.code(), Some(5), "{name}");
        assert_eq!(stdout(&out), "", "{name}");
        assert_eq!(stderr(&out), REFUSED, "{name}");
        let out = check(&env, name, pw, &["--json"]);
        assert_eq!(out.status.code(), Some(5), "{name}");
        assert_eq!(json(&out.stdout), json!({"match": false}), "{name}");
        assert_eq!(stderr(&out), REFUSED, "{name}");
    }
    // Nothing was written: no key, state and users files as they were.
    assert_eq!(snapshot(env.path()), before);
    assert!(!env.secret().exists());
}

#[test]
fn user_check_creates_nothing_even_on_a_match() {
    let env = Env::new();
    // No users file at all: refused, and still nothing on disk.
    let out = check(&env, "alice", "pw", &[]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(stderr(&out), REFUSED);
    assert_eq!(snapshot(env.path()), vec![]);
    assert!(!env.path().join("data").exists() && !env.path().join("config").exists());
    env.add_user("alice", "pw");
    let before = snapshot(env.path());
    let out = check(&env, "alice", "pw", &["-q"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(snapshot(env.path()), before);
    assert!(!env.secret().exists() && !env.state().exists());
}

#[test]
fn user_check_bad_input() {
    let env = Env::new();
    env.add_user("alice", "pw");
    // A name that can never be a user is a usage error, as for login.
    env.cmd()
        .args(["user", "check", "a b", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(
            2,
            "jwtauth: user name \"a b\": must not contain whitespace or control characters\n",
        );
    // No terminal and no --password-stdin: fails at once, never hangs.
    env.cmd()
        .args(["user", "check", "alice"])
        .write_stdin("pw\n")
        .stderr_only(2, predicates::str::contains("--password-stdin"));
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin("")
        .stderr_only(2, predicates::str::contains("stdin is empty"));
    // A corrupt users file: exit 8 naming it, left as it was.
    let bytes = corrupt(&env);
    let out = check(&env, "alice", "pw", &[]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(&env.users().display().to_string()),
        "{}",
        stderr(&out)
    );
    assert_eq!(common::bytes(&env.users()), bytes);
    // A record whose hash is not one jwtauth can check: exit 8, not "refused".
    std::fs::write(
        env.users(),
        r#"{"version": 1, "users": {"alice": {"hashed_password": "$apr1$x$y"}}}"#,
    )
    .unwrap();
    let out = check(&env, "alice", "pw", &[]);
    assert_eq!(out.status.code(), Some(8));
    assert!(stderr(&out).contains("\"alice\""), "{}", stderr(&out));
    assert!(!stderr(&out).contains("$apr1$"), "{}", stderr(&out));
}

// ----- user set --------------------------------------------------------------------------------

#[test]
fn user_set_changes_only_the_named_fields_and_keeps_unknown_ones() {
    let env = Env::new();
    let h = hand_written(&env, "");
    env.cmd()
        .args(["user", "set", "alice", "--email", "alice@example.org"])
        .stderr_only(0, "jwtauth: updated user alice\n");
    let v = users_json(&env);
    let rec = &v["users"]["alice"];
    assert_eq!(rec["email"], "alice@example.org");
    assert_eq!(rec["full_name"], "Alice");
    assert_eq!(rec["hashed_password"], h.as_str());
    assert_eq!(rec["created_at"], 1700000000);
    assert_eq!(rec["password_changed_at"], 1700000000);
    assert_eq!(rec["shell"], "/bin/zsh");
    assert_eq!(v["x-owner"], "ops");
    assert!(rec.get("groups").is_none(), "{rec}");
    // Groups: replaced by --group (repeated names count once), edited, cleared.
    let out = env
        .cmd()
        .args([
            "user", "set", "alice", "--group", "admins", "--group", "ops", "--group", "admins",
            "--json",
        ])
        .exits(0);
    assert_eq!(stderr(&out), "");
    let printed = json(&out.stdout);
    assert_eq!(printed["groups"], json!(["admins", "ops"]));
    assert!(printed.get("hashed_password").is_none());
    assert_eq!(
        users_json(&env)["users"]["alice"]["groups"],
        json!(["admins", "ops"])
    );
    env.cmd()
        .args(["-q", "user", "set", "alice", "--add-group", "dev"])
        .stderr_only(0, "");
    assert_eq!(
        shown(&env, "alice")["groups"],
        json!(["admins", "ops", "dev"])
    );
    env.cmd()
        .args([
            "-q",
            "user",
            "set",
            "alice",
            "--remove-group",
            "ops",
            "--remove-group",
            "not-a-member",
        ])
        .stderr_only(0, "");
    assert_eq!(shown(&env, "alice")["groups"], json!(["admins", "dev"]));
    // An empty value clears a field; --no-groups clears the list and the key goes.
    env.cmd()
        .args([
            "-q",
            "user",
            "set",
            "alice",
            "--full-name",
            "",
            "--no-groups",
        ])
        .stderr_only(0, "");
    let v = users_json(&env);
    let rec = &v["users"]["alice"];
    assert!(rec["full_name"].is_null());
    assert!(rec.get("groups").is_none(), "{rec}");
    assert_eq!(rec["shell"], "/bin/zsh");
    assert_eq!(v["x-owner"], "ops");
    assert_eq!(shown(&env, "alice")["groups"], json!([]));
}

#[test]
fn user_set_refusals_change_nothing() {
    let env = Env::new();
    hand_written(&env, r#", "groups": ["admins"]"#);
    let before = snapshot(env.path());
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["user", "set", "alice"],
            2,
            "jwtauth: user set: nothing to change: give --full-name, --email, --group, --no-groups, --add-group or --remove-group\n",
        ),
        (
            &["user", "set", "bob", "--email", "b@example.com"],
            6,
            "jwtauth: no such user: bob\n",
        ),
        (
            &["user", "set", "a:b", "--email", "b@example.com"],
            2,
            "jwtauth: user name \"a:b\": must not contain ':' (htpasswd separates name and hash with it)\n",
        ),
        (
            &["user", "set", "alice", "--group", "a,b"],
            2,
            "jwtauth: group \"a,b\": must not contain ',' (Remote-Groups separates groups with it); repeat --group instead\n",
        ),
        (
            &["user", "set", "alice", "--add-group", "two words"],
            2,
            "jwtauth: group \"two words\": must not contain whitespace, control or invisible format characters\n",
        ),
        (
            &["user", "set", "alice", "--group", ""],
            2,
            "jwtauth: group: must not be empty\n",
        ),
        (
            &["user", "set", "alice", "--full-name", "A\u{1b}[31m"],
            2,
            "jwtauth: --full-name: must not contain control characters\n",
        ),
    ];
    for (args, code, err) in cases {
        env.cmd().args(*args).stderr_only(*code, *err);
    }
    // Conflicting group flags are clap's usage errors.
    for args in [
        &["user", "set", "alice", "--group", "a", "--no-groups"][..],
        &["user", "set", "alice", "--group", "a", "--add-group", "b"][..],
        &["user", "set", "alice", "--no-groups", "--remove-group", "b"][..],
    ] {
        env.cmd()
            .args(args)
            .stderr_only(2, predicates::str::contains("cannot be used with"));
    }
    assert_eq!(snapshot(env.path()), before);
    // A corrupt users file: exit 8, untouched.
    let bytes = corrupt(&env);
    env.cmd()
        .args(["user", "set", "alice", "--email", "x@example.com"])
        .assert()
        .code(8)
        .stdout("")
        .stderr(predicates::str::contains(env.users().display().to_string()));
    assert_eq!(common::bytes(&env.users()), bytes);
}

#[test]
pub(crate) fn user_set_taking_a_group_away_revokes_earlier_tokens_adding_one_does_not() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.cmd()
        .args(["-q", "user", "set", "alice", "--group", "admins"])
        .stderr_only(0, "");
    let token = env.login("alice", "pw");
    env.cmd()
        .args([
            "user",
            "set",
            "alice",
            "--add-group",
            "ops",
            "--email",
            "a@x",
        ])
        .stderr_only(0, "jwtauth: updated user alice\n");
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    env.cmd()
        .args(["user", "set", "alice", "--remove-group", "admins"])
        .stderr_only(
            0,
            "jwtauth: updated user alice; a group was removed, so their earlier tokens are revoked\n",
        );
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(4)
        .stdout("");
    // A new login carries the groups as they are now.
    let fresh = env.login("alice", "pw");
    assert_eq!(payload(&env, &fresh)["groups"], json!(["ops"]));
}

// ----- groups in show, list and tokens ---------------------------------------------------------

#[test]
pub(crate) fn show_and_list_display_groups_in_text_and_json() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw");
    env.cmd()
        .args([
            "-q", "user", "set", "alice", "--group", "admins", "--group", "ops",
        ])
        .stderr_only(0, "");
    let out = env.cmd().args(["user", "show", "alice"]).exits(0);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l == "groups               admins,ops"),
        "{}",
        stdout(&out)
    );
    let out = env.cmd().args(["user", "show", "bob"]).exits(0);
    assert!(
        stdout(&out).lines().any(|l| l == "groups               -"),
        "{}",
        stdout(&out)
    );
    let out = env.cmd().args(["user", "list"]).exits(0);
    let text = stdout(&out);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("GROUPS"), "{text}");
    let col = header.find("GROUPS").unwrap();
    let alice = lines.next().unwrap();
    let bob = lines.next().unwrap();
    assert!(alice[col..].starts_with("admins,ops "), "{text}");
    assert!(bob[col..].starts_with("- "), "{text}");
    let v = json(&env.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    assert_eq!(v["users"][0]["groups"], json!(["admins", "ops"]));
    assert_eq!(v["users"][1]["groups"], json!([]));
    assert_eq!(shown(&env, "alice")["groups"], json!(["admins", "ops"]));
}

#[test]
pub(crate) fn a_login_token_carries_the_users_groups() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw");
    env.cmd()
        .args([
            "-q", "user", "set", "alice", "--group", "admins", "--group", "ops",
        ])
        .stderr_only(0, "");
    let token = env.login("alice", "pw");
    let p = payload(&env, &token);
    assert_eq!(p["groups"], json!(["admins", "ops"]));
    assert_eq!(p["sub"], "alice");
    // No groups, no claim.
    let token = env.login("bob", "pw");
    assert!(payload(&env, &token).get("groups").is_none());
    // The groups of a login token are the user's: --claim cannot set them.
    env.cmd()
        .args(["login", "bob", "--password-stdin", "--claim", "groups=[\"admins\"]"])
        .write_stdin("pw\n")
        .stderr_only(
            2,
            "jwtauth: --claim groups: the groups of a login token are the user's; set them with 'jwtauth user set NAME --group G', or use 'jwtauth mint'\n",
        );
}

#[test]
fn a_record_whose_groups_are_not_a_list_of_strings_is_corrupt() {
    let env = Env::new();
    hand_written(&env, r#", "groups": "admins""#);
    let before = common::bytes(&env.users());
    env.cmd()
        .args(["user", "show", "alice"])
        .assert()
        .code(8)
        .stdout("")
        .stderr(predicates::str::contains(
            "the record of user \"alice\" is not valid",
        ));
    env.cmd()
        .args(["user", "set", "alice", "--group", "ops"])
        .assert()
        .code(8)
        .stdout("");
    assert_eq!(common::bytes(&env.users()), before);
}

// ----- user passwd --hash ----------------------------------------------------------------------

#[test]
fn user_passwd_hash_stores_a_ready_made_hash_and_revokes() {
    let env = Env::new();
    hand_written(&env, r#", "groups": ["admins"]"#);
    let token = env.login("alice", "pw");
    let new = hash(&env, "new pw");
    env.cmd()
        .args(["user", "passwd", "alice", "--hash", &new])
        .stderr_only(
            0,
            "jwtauth: changed the password of alice; their earlier tokens are revoked\n",
        );
    let rec = &users_json(&env)["users"]["alice"];
    assert_eq!(rec["hashed_password"], new.as_str());
    assert_eq!(rec["shell"], "/bin/zsh");
    assert_eq!(rec["groups"], json!(["admins"]));
    assert!(rec["password_changed_at"].as_i64().unwrap() > 1700000000);
    env.cmd().args(["verify", &token]).assert().code(4);
    let out = check(&env, "alice", "new pw", &["-q"]);
    assert_eq!(out.status.code(), Some(0));
    let out = check(&env, "alice", "pw", &[]);
    assert_eq!(out.status.code(), Some(5));
    // An htpasswd-style $2y$ hash is stored as it is.
    let y = new.replacen("$2b$", "$2y$", 1);
    env.cmd()
        .args(["-q", "user", "passwd", "alice", "--hash", &y])
        .stderr_only(0, "");
    assert_eq!(shown(&env, "alice")["hashed_password"], y.as_str());
}

#[test]
fn user_passwd_hash_refusals_change_nothing() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let good = hash(&env, "x");
    let before = snapshot(env.path());
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["user", "passwd", "alice", "--hash", "secret"],
            2,
            "jwtauth: password hash: expected a bcrypt hash ($2b$12$…, 60 characters), an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$…) or a legacy htpasswd hash ($apr1$, {SHA}, $1$, $5$, $6$)\n",
        ),
        (
            &["user", "passwd", "alice", "--hash", "$apr1$abcdefgh$0123"],
            2,
            "jwtauth: $apr1$ hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt\n",
        ),
        (
            &["user", "passwd", "nobody", "--hash", &good],
            6,
            "jwtauth: no such user: nobody\n",
        ),
        (
            &["user", "passwd", "a b", "--hash", &good],
            2,
            "jwtauth: user name \"a b\": must not contain whitespace or control characters\n",
        ),
    ];
    for (args, code, err) in cases {
        env.cmd().args(*args).stderr_only(*code, *err);
    }
    let wrong_prefix = good.replacen("$2b$", "$3b$", 1);
    env.cmd()
        .args(["user", "passwd", "alice", "--hash", &wrong_prefix])
        .stderr_only(
            2,
            "jwtauth: bcrypt hash: expected a $2a$, $2b$, $2x$ or $2y$ prefix\n",
        );
    // A hash and a password at once: clap says no.
    for extra in [&["--password-stdin"][..], &["--cost", "5"][..]] {
        env.cmd()
            .args(["user", "passwd", "alice", "--hash", &good])
            .args(extra)
            .write_stdin("pw\n")
            .stderr_only(2, predicates::str::contains("cannot be used with"));
    }
    assert_eq!(snapshot(env.path()), before);
    let bytes = corrupt(&env);
    env.cmd()
        .args(["user", "passwd", "alice", "--hash", &good])
        .assert()
        .code(8)
        .stdout("");
    assert_eq!(common::bytes(&env.users()), bytes);
}

// ----- user add --update -----------------------------------------------------------------------

#[test]
fn user_add_update_replaces_the_password_and_keeps_the_rest() {
    let env = Env::new();
    hand_written(&env, r#", "groups": ["admins"]"#);
    let token = env.login("alice", "pw");
    // Without --update: exit 7, nothing changed. (The add looked under the users file's
    // lock, so the empty lock sidecar may now exist; no data changed.)
    let before = without_locks(snapshot(env.path()));
    env.cmd()
        .args(["user", "add", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("new pw\n")
        .stderr_only(7, "jwtauth: user already exists: alice\n");
    assert_eq!(without_locks(snapshot(env.path())), before);
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--update",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("new pw\n")
        .stderr_only(
            0,
            "jwtauth: updated the password of alice; their earlier tokens are revoked\n",
        );
    let v = users_json(&env);
    let rec = &v["users"]["alice"];
    assert_eq!(rec["created_at"], 1700000000);
    assert!(rec["password_changed_at"].as_i64().unwrap() > 1700000000);
    assert_eq!(rec["full_name"], "Alice");
    assert_eq!(rec["groups"], json!(["admins"]));
    assert_eq!(rec["shell"], "/bin/zsh");
    assert_eq!(v["x-owner"], "ops");
    env.cmd().args(["verify", &token]).assert().code(4);
    assert_eq!(check(&env, "alice", "new pw", &[]).status.code(), Some(0));
    assert_eq!(check(&env, "alice", "pw", &[]).status.code(), Some(5));
    // --full-name/--email given with --update replace those fields; --json prints the record.
    let h = hash(&env, "third");
    let out = env
        .cmd()
        .args([
            "user",
            "add",
            "alice",
            "--update",
            "--hash",
            &h,
            "--email",
            "new@example.com",
            "--json",
        ])
        .exits(0);
    assert_eq!(stderr(&out), "");
    let printed = json(&out.stdout);
    assert_eq!(printed["email"], "new@example.com");
    assert_eq!(printed["full_name"], "Alice");
    assert_eq!(printed["groups"], json!(["admins"]));
    assert!(printed.get("hashed_password").is_none());
    assert_eq!(shown(&env, "alice")["hashed_password"], h.as_str());
    // A new name with --update is a plain add.
    env.cmd()
        .args([
            "user",
            "add",
            "bob",
            "--update",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("bobpw\n")
        .stderr_only(0, "jwtauth: added user bob\n");
    assert_eq!(check(&env, "bob", "bobpw", &[]).status.code(), Some(0));
}

#[test]
fn user_add_update_refusals_change_nothing() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = snapshot(env.path());
    env.cmd()
        .args(["user", "add", "alice", "--update", "--hash", "nope"])
        .stderr_only(
            2,
            "jwtauth: password hash: expected a bcrypt hash ($2b$12$…, 60 characters), an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$…) or a legacy htpasswd hash ($apr1$, {SHA}, $1$, $5$, $6$)\n",
        );
    env.cmd()
        .args(["user", "add", "a\tb", "--update", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(
            2,
            "jwtauth: user name \"a\\tb\": must not contain whitespace or control characters\n",
        );
    assert_eq!(snapshot(env.path()), before);
    let bytes = corrupt(&env);
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--update",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .assert()
        .code(8)
        .stdout("");
    assert_eq!(common::bytes(&env.users()), bytes);
}

#[test]
fn user_add_update_over_an_htpasswd_import_round_trips_with_htpasswd() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    let file = env.path().join("site.htpasswd");
    let out = std::process::Command::new("htpasswd")
        .args(["-cbB", "-C", "5"])
        .arg(&file)
        .args(["dave", "old pw"])
        .output()
        .expect("htpasswd");
    assert!(out.status.success(), "{}", stderr(&out));
    env.cmd()
        .args(["-q", "user", "import"])
        .arg(&file)
        .stderr_only(0, "");
    // htpasswd's default is an upsert; so is --update.
    env.cmd()
        .args([
            "-q",
            "user",
            "add",
            "dave",
            "--update",
            "--cost",
            "5",
            "--password-stdin",
        ])
        .write_stdin("new pw\n")
        .stderr_only(0, "");
    let out = env.cmd().args(["-q", "user", "export"]).exits(0);
    std::fs::write(&file, &out.stdout).unwrap();
    let verifies = |pw: &str| {
        std::process::Command::new("htpasswd")
            .arg("-vb")
            .arg(&file)
            .args(["dave", pw])
            .output()
            .expect("htpasswd")
            .status
            .success()
    };
    assert!(verifies("new pw"));
    assert!(!verifies("old pw"));
    // ...and a line from `hash --user` is one htpasswd reads.
    let out = env
        .cmd()
        .args(["hash", "--user", "erin", "--cost", "5", "--password-stdin"])
        .write_stdin("erin pw\n")
        .exits(0);
    std::fs::write(&file, &out.stdout).unwrap();
    let ok = std::process::Command::new("htpasswd")
        .arg("-vb")
        .arg(&file)
        .args(["erin", "erin pw"])
        .output()
        .expect("htpasswd")
        .status
        .success();
    assert!(ok);
}

// ----- hash --user -----------------------------------------------------------------------------

#[test]
fn hash_user_prints_an_htpasswd_line() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["hash", "--user", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(0);
    assert_eq!(stderr(&out), "");
    let text = stdout(&out);
    let line = text.strip_suffix('\n').expect("one line");
    let (name, h) = line.split_once(':').expect("name:hash");
    assert_eq!(name, "alice");
    assert!(h.starts_with("$2b$04$") && h.len() == 60, "{h}");
    env.cmd()
        .args(["hash", "--check", h, "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(0);
    // The line imports as a user.
    std::fs::write(env.path().join("f"), &text).unwrap();
    env.cmd()
        .args(["user", "import", "f"])
        .stderr_only(0, "jwtauth: imported 1, skipped 0\n");
    assert_eq!(check(&env, "alice", "pw", &["-q"]).status.code(), Some(0));
    let out = env
        .cmd()
        .args([
            "hash",
            "--user",
            "bob",
            "--cost",
            "4",
            "--password-stdin",
            "--json",
        ])
        .write_stdin("pw\n")
        .exits(0);
    let v = json(&out.stdout);
    let h = v["hash"].as_str().unwrap();
    assert_eq!(v["username"], "bob");
    assert_eq!(v["htpasswd"], format!("bob:{h}"));
    // Hashing needs no users file, key or state: nothing was created by it.
    assert!(!env.secret().exists() && !env.state().exists());
}

#[test]
fn hash_user_refuses_bad_names_before_reading_a_password() {
    let env = Env::new();
    for (name, why) in [
        (
            "a:b",
            "must not contain ':' (htpasswd separates name and hash with it)",
        ),
        ("a\nb", "must not contain whitespace or control characters"),
        (
            "x\u{202e}",
            "must not contain invisible format characters (zero-width, bidi controls, BOM)",
        ),
    ] {
        let out = env
            .cmd()
            .args(["hash", "--user", name, "--cost", "4", "--password-stdin"])
            .write_stdin("pw\n")
            .exits(2);
        assert_eq!(stdout(&out), "");
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    env.cmd()
        .args(["hash", "--user", "", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(2, "jwtauth: user name: must not be empty\n");
    env.cmd()
        .args([
            "hash",
            "--user",
            "alice",
            "--check",
            "x",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .stderr_only(2, predicates::str::contains("cannot be used with"));
    assert_eq!(snapshot(env.path()), vec![]);
}

// ----- user export -----------------------------------------------------------------------------

#[test]
fn user_export_defaults_to_htpasswd_and_offers_json() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw2");
    env.cmd().args(["-q", "user", "disable", "bob"]).exits(0);
    env.cmd()
        .args(["-q", "user", "set", "alice", "--group", "admins"])
        .stderr_only(0, "");
    let ha = shown(&env, "alice")["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    let hb = shown(&env, "bob")["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    let lines = format!("alice:{ha}\nbob:!{hb}\n");
    let note =
        "jwtauth: 1 disabled user(s) exported with '!' before the hash, so no password matches\n";
    env.cmd()
        .args(["user", "export"])
        .assert()
        .code(0)
        .stdout(lines.clone())
        .stderr(note);
    env.cmd()
        .args(["user", "export", "--htpasswd"])
        .assert()
        .code(0)
        .stdout(lines)
        .stderr(note);
    let out = env.cmd().args(["user", "export", "--json"]).exits(0);
    assert_eq!(stderr(&out), "");
    let v = json(&out.stdout);
    let list = json(
        &env.cmd()
            .args(["user", "list", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    assert_eq!(v, list);
    assert_eq!(v["users"][0]["hashed_password"], ha.as_str());
    assert_eq!(v["users"][0]["groups"], json!(["admins"]));
    assert_eq!(v["users"][1]["disabled"], true);
    env.cmd()
        .args(["user", "export", "--json", "--htpasswd"])
        .stderr_only(
            2,
            "jwtauth: --json with --htpasswd: choose one format: htpasswd lines (the default) or --json\n",
        );
    // An empty or missing users file: nothing in either format.
    let empty = env.path().join("none.json");
    env.cmd()
        .arg("--users")
        .arg(&empty)
        .args(["user", "export"])
        .stderr_only(0, "");
    let out = env
        .cmd()
        .arg("--users")
        .arg(&empty)
        .args(["user", "export", "--json"])
        .exits(0);
    assert_eq!(json(&out.stdout), json!({"users": []}));
    assert!(!empty.exists());
    // A corrupt users file: exit 8, untouched.
    let bytes = corrupt(&env);
    env.cmd()
        .args(["user", "export"])
        .assert()
        .code(8)
        .stdout("");
    assert_eq!(common::bytes(&env.users()), bytes);
}

// ----- user list without a users file (SPEC §15) ----------------------------------------------

#[test]
fn user_list_without_a_users_file_says_so_on_stderr_and_exits_0_with_no_users() {
    let env = Env::new();
    let note = |path: &Path| {
        format!(
            "jwtauth: no users file at {}; 'jwtauth user add NAME' creates it\n",
            path.display()
        )
    };
    let out = env.cmd().args(["user", "list"]).exits(0);
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), note(&env.users()));
    let out = env.cmd().args(["user", "list", "--json"]).exits(0);
    assert_eq!(json(&out.stdout), json!({"users": []}));
    assert_eq!(stderr(&out), note(&env.users()));
    // -q keeps stderr for errors only.
    env.cmd().args(["-q", "user", "list"]).stderr_only(0, "");
    // A --users path that does not exist is named as given.
    let elsewhere = env.path().join("elsewhere/users.json");
    env.cmd()
        .arg("--users")
        .arg(&elsewhere)
        .args(["user", "list"])
        .stderr_only(0, note(&elsewhere));
    assert!(
        !env.users().exists() && !elsewhere.exists(),
        "listing created a file"
    );
    // A users file with no users in it is another case.
    env.add_user("alice", "pw");
    env.cmd().args(["user", "remove", "alice"]).exits(0);
    env.cmd().args(["user", "list"]).stderr_only(
        0,
        format!("jwtauth: no users in {}\n", env.users().display()),
    );
    let out = env.cmd().args(["user", "list", "--json"]).exits(0);
    assert_eq!(json(&out.stdout), json!({"users": []}));
    assert_eq!(stderr(&out), "");
}

// ----- logout --all NAME: a user, unless --force (SPEC §15) -----------------------------------

/// Also run on Redis (`stores.rs`): it asserts only through the commands.
#[test]
pub(crate) fn logout_all_of_a_name_that_is_no_user_is_exit_6_unless_forced() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw");
    let alice = env.login("alice", "pw");
    let svc = env.mint(&["--sub", "svc-orders"]);
    let revoked = || {
        json(
            &env.cmd()
                .args(["revocations", "list", "--json"])
                .exits(0)
                .stdout,
        )
    };
    let before = revoked();
    let refused = |name: &str| {
        format!(
            "jwtauth: no such user: {name}; to revoke the tokens of a subject that is not a user (a minted token's sub), add --force\n"
        )
    };
    // A typo of a user's name, and a minted token's subject: nothing is revoked.
    for args in [
        &["logout", "--all", "alcie"][..],
        &["--json", "logout", "--all", "alcie"],
        &["-q", "logout", "--all", "alcie"],
    ] {
        env.cmd().args(args).stderr_only(6, refused("alcie"));
    }
    env.cmd()
        .args(["logout", "--all", "svc-orders"])
        .stderr_only(6, refused("svc-orders"));
    assert_eq!(revoked(), before);
    env.cmd().args(["verify", &svc]).exits(0);
    env.cmd().args(["verify", &alice]).exits(0);
    // --force revokes any subject.
    let out = env
        .cmd()
        .args(["--json", "logout", "--all", "svc-orders", "--force"])
        .exits(0);
    assert_eq!(json(&out.stdout)["sub"], "svc-orders");
    env.cmd().args(["verify", &svc]).exits(4);
    // A user needs no --force (and --force changes nothing for one).
    env.cmd().args(["logout", "--all", "alice"]).exits(0);
    env.cmd().args(["verify", &alice]).exits(4);
    env.cmd()
        .args(["logout", "--all", "alice", "--force"])
        .exits(0);
    // --force only goes with --all.
    env.cmd()
        .args(["logout", "--force"])
        .stderr_only(2, predicates::str::contains("--all <NAME>"));
    let out = env.cmd().args(["logout", "--force", &svc]).exits(2);
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).starts_with("jwtauth: usage: ") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
}
