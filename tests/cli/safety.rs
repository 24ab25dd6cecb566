//! Data and output safety (SPEC §8): symbolic links, owners and modes, unknown
//! fields, bad hashes, commands that must create nothing, escaped output, audiences, closed
//! stdout, exact numbers, the self-healing revocation index and a few message fixes.

use crate::common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use serde_json::{Value, json};

use common::{Env, Exits, bytes, stderr_str, stdout_str};

/// The HMAC secret the hand-signed tokens use (given as `JWT_SECRET_KEY`).
const SECRET: &str = "0123456789abcdef0123456789abcdef-safety";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// An HS256 token over exactly these payload bytes, signed with `SECRET`.
fn sign_raw(payload: &str) -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let message = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(payload.as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{sig}")
}

/// A token with `sub` and a live `exp`, signed with `SECRET`.
fn token_for(sub: &str) -> String {
    sign_raw(&json!({"sub": sub, "exp": now() + 3600, "iat": now()}).to_string())
}

/// `jwtauth` with `SECRET` as the key.
fn with_secret(env: &Env) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.env("JWT_SECRET_KEY", SECRET);
    c
}

/// Characters a hostile token could use to forge lines or drive a terminal.
const NASTY: [&str; 9] = [
    "\n",
    "\r",
    "\u{1b}[2J",
    "\u{202e}",
    "\u{2066}",
    "\u{200b}",
    "\u{feff}",
    "\u{2028}",
    "\u{85}",
];

/// No raw control, separator or format character anywhere in `s` except the newlines that end
/// lines.
fn assert_clean(s: &str) {
    for c in s.chars() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{ad}');
        assert!(!bad, "raw {c:?} in output {s:?}");
    }
}

// ---- 6. Output injection ------------------------------------------------------------------

#[test]
fn batch_verify_and_decode_cannot_forge_lines() {
    let env = Env::new();
    let forged = token_for("alice\nok root");
    let input = format!("{forged}\n{}\n", token_for("bob"));
    for cmd in ["verify", "decode"] {
        let out = with_secret(&env)
            .args([cmd, "-"])
            .write_stdin(input.clone())
            .exits(0);
        assert_eq!(stdout_str(&out), "ok alice\\nok root\nok bob\n", "{cmd}");
        assert_eq!(stderr_str(&out), "");
    }
}

#[test]
fn terminal_escapes_in_sub_are_escaped_everywhere() {
    let env = Env::new();
    for bad in NASTY {
        let sub = format!("a{bad}b");
        let token = token_for(&sub);
        // Single verify: the subject.
        let out = with_secret(&env).args(["verify", &token]).exits(0);
        assert_clean(&stdout_str(&out));
        assert_eq!(stdout_str(&out).lines().count(), 1);
        assert!(stdout_str(&out).starts_with('a'));
        // Batch verify and decode: one line each.
        for cmd in ["verify", "decode"] {
            let out = with_secret(&env)
                .args([cmd, "-"])
                .write_stdin(format!("{token}\n"))
                .exits(0);
            assert_clean(&stdout_str(&out));
            assert_eq!(stdout_str(&out).lines().count(), 1, "{cmd} {bad:?}");
        }
        // decode's human view.
        let out = env.cmd().args(["decode", &token]).exits(0);
        assert_clean(&stdout_str(&out));
    }
    // The escapes are the documented ones.
    let out = with_secret(&env)
        .args(["verify", &token_for("x\u{202e}y\tz")])
        .exits(0);
    assert_eq!(stdout_str(&out), "x\\u{202e}y\\tz\n");
}

#[test]
fn claims_without_sub_are_escaped_in_verify_text() {
    let env = Env::new();
    let token = sign_raw(&json!({"exp": now() + 60, "name": "\u{202e}evil\u{200b}"}).to_string());
    let out = with_secret(&env).args(["verify", &token]).exits(0);
    assert_clean(&stdout_str(&out));
    assert!(
        stdout_str(&out).contains("\\u{202e}evil\\u{200b}"),
        "{}",
        stdout_str(&out)
    );
    let out = with_secret(&env)
        .args(["verify", "-"])
        .write_stdin(format!("{token}\n"))
        .exits(0);
    assert_clean(&stdout_str(&out));
}

#[test]
fn error_details_from_a_token_are_escaped() {
    let env = Env::new();
    // serde quotes a wrong value; `crit` names are listed in the error as they are.
    let token = sign_raw(&json!({"exp": now() + 60, "sub": ["\u{1b}[2J\u{202e}"]}).to_string());
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","crit":["k\u001b[2J\u202e\nok root"]}"#);
    let rest = token.split_once('.').unwrap().1;
    let with_kid = format!("{header}.{rest}");
    for t in [token.as_str(), with_kid.as_str()] {
        let out = with_secret(&env)
            .args(["verify", t])
            .assert()
            .get_output()
            .clone();
        assert_ne!(out.status.code(), Some(0));
        assert_clean(&stderr_str(&out));
        let out = with_secret(&env)
            .args(["verify", "-"])
            .write_stdin(format!("{t}\n"))
            .exits(1);
        assert_clean(&stdout_str(&out));
        assert_eq!(stdout_str(&out).lines().count(), 1);
    }
}

#[test]
fn user_list_show_and_revocations_list_escape_file_values() {
    let env = Env::new();
    env.add_user("alice", "pw");
    // A hand edit puts escapes into alice's full name.
    let text = std::fs::read_to_string(env.users()).unwrap();
    let text = text.replace(
        "\"full_name\":null",
        "\"full_name\":\"A\\u001b[31m\\u202eB\\nC\"",
    );
    std::fs::write(env.users(), &text).unwrap();
    for args in [&["user", "list"][..], &["user", "show", "alice"]] {
        let out = env.cmd().args(args).exits(0);
        assert_clean(&stdout_str(&out));
        assert!(
            stdout_str(&out).contains("A\\u{1b}[31m\\u{202e}B\\nC"),
            "{}",
            stdout_str(&out)
        );
    }
    std::fs::write(
        env.state(),
        r#"{"version":1,"tokens":{"j\u001b]0;x\u0007":9999999999},"users":{"b\u202eob":1}}"#,
    )
    .unwrap();
    let out = env.cmd().args(["revocations", "list"]).exits(0);
    assert_clean(&stdout_str(&out));
    assert!(stdout_str(&out).contains("b\\u{202e}ob"));
}

/// Any string, with line breaks, escapes and format characters much more likely than chance.
fn sub() -> impl Strategy<Value = String> {
    let nasty = prop::sample::select(vec![
        '\n', '\r', '\u{b}', '\u{c}', '\u{1b}', '\u{85}', '\u{2028}', '\u{2029}', '\u{202e}',
        '\u{200b}',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), nasty], 0..12)
        .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// No token can make a batch run print more lines than it read.
    #[test]
    fn batch_output_has_one_line_per_token(subs in prop::collection::vec(sub(), 1..8)) {
        let env = Env::new();
        let mut input = String::new();
        for s in &subs {
            input.push_str(&token_for(s));
            input.push('\n');
        }
        for cmd in ["verify", "decode"] {
            for json in [false, true] {
                let mut c = with_secret(&env);
                c.args([cmd, "-"]);
                if json {
                    c.arg("--json");
                }
                let out = c.write_stdin(input.clone()).exits(0);
                let text = stdout_str(&out);
                prop_assert_eq!(text.matches('\n').count(), subs.len());
                prop_assert_eq!(text.lines().count(), subs.len());
                if !json {
                    assert_clean(&text);
                }
            }
        }
    }
}

// ---- 1. Symbolic links ----------------------------------------------------------------------

#[cfg(unix)]
fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// The names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
#[test]
fn users_file_symlink_is_written_through() {
    let env = Env::new();
    let real = env.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let target = real.join("users.json");
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--cost",
            "4",
            "--password-stdin",
            "--users",
        ])
        .arg(&target)
        .write_stdin("pw\n")
        .exits(0);
    let links = env.path().join("links");
    std::fs::create_dir(&links).unwrap();
    let link = links.join("users.json");
    symlink("../real/users.json", &link);
    env.cmd()
        .args([
            "user",
            "add",
            "bob",
            "--cost",
            "4",
            "--password-stdin",
            "--users",
        ])
        .arg(&link)
        .write_stdin("pw\n")
        .stderr_only(0, "jwtauth: added user bob\n");
    // The link is still a link, and its target has both users.
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let v: Value = serde_json::from_slice(&bytes(&target)).unwrap();
    assert!(
        v["users"]["alice"].is_object() && v["users"]["bob"].is_object(),
        "{v}"
    );
    // The lock sidecar and any temp file belong beside the target, not the link.
    assert_eq!(names_in(&links), ["users.json"]);
    assert_eq!(names_in(&real), ["users.json", "users.json.lock"]);
}

#[cfg(unix)]
#[test]
fn state_and_key_symlinks_are_written_through() {
    let env = Env::new();
    let real = env.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(
        real.join("state.json"),
        r#"{"version":1,"tokens":{},"users":{}}"#,
    )
    .unwrap();
    let state = env.path().join("state-link.json");
    symlink("real/state.json", &state);
    env.cmd()
        .args(["logout", "--all", "carol", "--force", "--state"])
        .arg(&state)
        .exits(0);
    assert!(
        std::fs::symlink_metadata(&state)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let v: Value = serde_json::from_slice(&bytes(&real.join("state.json"))).unwrap();
    assert!(v["users"]["carol"].is_i64(), "{v}");
    assert!(real.join("state.json.lock").exists());
    assert!(!env.path().join("state-link.json.lock").exists());

    // A key path that is a link to a missing file: init creates the target, keeps the link.
    let key = env.path().join("key-link");
    symlink("real/secret", &key);
    env.cmd().args(["init", "--key"]).arg(&key).exits(0);
    assert!(
        std::fs::symlink_metadata(&key)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(bytes(&real.join("secret")).len(), 87);
    env.cmd()
        .args(["init", "--force", "--key"])
        .arg(&key)
        .exits(0);
    assert!(
        std::fs::symlink_metadata(&key)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!env.path().join("key-link.lock").exists());
    let token = env.mint(&["--sub", "x", "--key", key.to_str().unwrap()]);
    env.cmd()
        .args(["verify", "--key"])
        .arg(real.join("secret"))
        .arg(&token)
        .exits(0);
}

// ---- 2. Owner, group and mode --------------------------------------------------------------

#[cfg(unix)]
fn owner(p: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn a_rewrite_keeps_mode_and_never_widens_it() {
    let env = Env::new();
    env.add_user("alice", "pw");
    assert_eq!(common::mode(&env.users()), 0o600, "a new file is 0600");
    chmod(&env.users(), 0o640);
    env.add_user("bob", "pw");
    assert_eq!(common::mode(&env.users()), 0o640, "640 stays 640");
    chmod(&env.users(), 0o400);
    env.add_user("carol", "pw");
    assert_eq!(common::mode(&env.users()), 0o400, "a narrower mode stays");
    env.cmd().args(["logout", "--all", "alice"]).exits(0);
    assert_eq!(common::mode(&env.state()), 0o600);
    chmod(&env.state(), 0o644);
    env.cmd().args(["logout", "--all", "bob"]).exits(0);
    assert_eq!(common::mode(&env.state()), 0o644);
}

#[cfg(unix)]
#[test]
fn a_rewrite_keeps_owner_and_group() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let (uid, _, _) = owner(&env.users());
    if uid != 0 {
        eprintln!("skipping: changing a file's owner needs root");
        return;
    }
    std::os::unix::fs::chown(env.users(), Some(4321), Some(5432)).unwrap();
    chmod(&env.users(), 0o640);
    env.add_user("bob", "pw");
    assert_eq!(owner(&env.users()), (4321, 5432, 0o640));
    env.cmd().args(["user", "disable", "alice"]).exits(0);
    assert_eq!(owner(&env.users()), (4321, 5432, 0o640));
    env.cmd().args(["logout", "--all", "x", "--force"]).exits(0);
    std::os::unix::fs::chown(env.state(), Some(4321), Some(5432)).unwrap();
    env.cmd().args(["logout", "--all", "y", "--force"]).exits(0);
    assert_eq!(owner(&env.state()), (4321, 5432, 0o600));
}

// ---- 3. Nothing unknown is dropped; duplicates are corrupt ----------------------------------

/// A bcrypt hash of "pw" at cost 4.
fn hash_of_pw(env: &Env) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(0);
    stdout_str(&out).trim().to_string()
}

#[test]
fn unknown_fields_of_records_and_documents_survive_every_write() {
    let env = Env::new();
    let h = hash_of_pw(&env);
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    let text = format!(
        r#"{{"version":1,"comment":{{"owner":"ops","n":12345678901234567890123}},"users":{{
        "alice":{{"username":"alice","hashed_password":"{h}","groups":["admin"],"x-note":"keep me","disabled":false}}}}}}"#
    );
    std::fs::write(env.users(), &text).unwrap();
    env.add_user("bob", "pw");
    env.cmd().args(["user", "disable", "alice"]).exits(0);
    env.cmd().args(["user", "enable", "alice"]).exits(0);
    env.cmd()
        .args(["user", "passwd", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("pw2\n")
        .exits(0);
    let after = String::from_utf8(bytes(&env.users())).unwrap();
    let v: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(v["comment"]["owner"], "ops", "{after}");
    assert!(after.contains("12345678901234567890123"), "{after}");
    assert_eq!(v["users"]["alice"]["groups"], json!(["admin"]), "{after}");
    assert_eq!(v["users"]["alice"]["x-note"], "keep me", "{after}");
    assert!(v["users"]["bob"].is_object());

    std::fs::write(
        env.state(),
        r#"{"version":1,"tokens":{},"users":{},"replicated_from":"host-a","epoch":7}"#,
    )
    .unwrap();
    env.cmd()
        .args(["logout", "--all", "carol", "--force"])
        .exits(0);
    env.cmd().args(["revocations", "prune"]).exits(0);
    let v: Value = serde_json::from_slice(&bytes(&env.state())).unwrap();
    assert_eq!(v["replicated_from"], "host-a");
    assert_eq!(v["epoch"], 7);
    assert!(v["users"]["carol"].is_i64());
}

/// Runs each command against the files as they are and checks exit 8 with the path named,
/// and that no file changed.
fn refused_untouched(env: &Env, file: &Path, cmds: &[&[&str]], why: &str) {
    let before = bytes(file);
    for args in cmds {
        let out = env
            .cmd()
            .args(*args)
            .write_stdin("pw\npw\n")
            .assert()
            .code(8)
            .stdout("")
            .get_output()
            .clone();
        let err = stderr_str(&out);
        assert!(err.contains(&file.display().to_string()), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert_eq!(bytes(file), before, "{args:?} changed the file");
    }
}

#[test]
fn duplicate_keys_and_mismatched_usernames_are_corrupt() {
    let env = Env::new();
    env.init();
    let h = hash_of_pw(&env);
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    let rec = |name: &str| format!(r#"{{"username":"{name}","hashed_password":"{h}"}}"#);
    let add: &[&str] = &["user", "add", "zoe", "--cost", "4", "--password-stdin"];
    let login: &[&str] = &["login", "alice", "--password-stdin"];
    let list: &[&str] = &["user", "list"];

    // The same user twice.
    std::fs::write(
        env.users(),
        format!(
            r#"{{"version":1,"users":{{"alice":{},"alice":{}}}}}"#,
            rec("alice"),
            rec("alice")
        ),
    )
    .unwrap();
    refused_untouched(&env, &env.users(), &[add, login, list], "listed twice");

    // A field of a record twice.
    std::fs::write(
        env.users(),
        format!(
            r#"{{"version":1,"users":{{"alice":{{"username":"alice","hashed_password":"{h}","disabled":true,"disabled":false}}}}}}"#
        ),
    )
    .unwrap();
    refused_untouched(
        &env,
        &env.users(),
        &[login, list],
        "duplicate field `disabled`",
    );

    // A document field twice.
    std::fs::write(
        env.users(),
        format!(
            r#"{{"version":1,"users":{{}},"users":{{"alice":{}}}}}"#,
            rec("alice")
        ),
    )
    .unwrap();
    refused_untouched(
        &env,
        &env.users(),
        &[add, login, list],
        "duplicate field `users`",
    );

    // A key that is not the record's username.
    std::fs::write(
        env.users(),
        format!(r#"{{"version":1,"users":{{"alice":{}}}}}"#, rec("mallory")),
    )
    .unwrap();
    refused_untouched(
        &env,
        &env.users(),
        &[login, list, &["user", "show", "alice"]],
        "\"mallory\"",
    );

    // The revocation state: a token id twice.
    std::fs::write(
        env.state(),
        r#"{"version":1,"tokens":{"j1":9999999999,"j1":1},"users":{}}"#,
    )
    .unwrap();
    refused_untouched(
        &env,
        &env.state(),
        &[
            &["logout", "--all", "x", "--force"],
            &["revocations", "list"],
        ],
        "duplicate entry \"j1\"",
    );
}

// ---- 5. Refused and read-only commands create nothing ---------------------------------------

/// Every file under the temp home, relative to it.
fn all_files(env: &Env) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    walk(env.path(), env.path(), &mut v);
    v.sort();
    v
}

#[test]
fn a_refused_login_creates_no_key() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = all_files(&env);
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("wrong\n")
        .stderr_only(
            5,
            "jwtauth: login refused: incorrect username or password\n",
        );
    env.cmd()
        .args(["login", "nobody", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(5);
    assert_eq!(all_files(&env), before);
    assert!(!env.secret().exists());
    // The first successful login creates it.
    let token = env.login("alice", "pw");
    assert!(env.secret().exists());
    env.cmd().args(["verify", &token]).exits(0);
}

#[test]
fn a_login_with_an_unreadable_users_file_creates_no_key() {
    let env = Env::new();
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(env.users(), "{not json").unwrap();
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(8);
    assert_eq!(all_files(&env), ["data/jwtauth/users.json"]);
}

#[test]
fn read_only_commands_on_a_fresh_home_create_nothing() {
    let env = Env::new();
    env.cmd()
        .args(["revocations", "prune"])
        .stderr_only(0, "jwtauth: pruned 0 expired entries\n");
    env.cmd().args(["revocations", "prune", "--json"]).exits(0);
    env.cmd().args(["revocations", "list"]).exits(0);
    env.cmd().args(["user", "list"]).exits(0);
    env.cmd().args(["paths"]).exits(0);
    with_secret(&env).args(["verify", &token_for("a")]).exits(0);
    assert_eq!(all_files(&env), Vec::<String>::new());
}

// ---- 10. Audience ---------------------------------------------------------------------------

#[test]
fn a_token_with_an_audience_needs_aud_or_any_aud() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice", "--aud", "api"]);
    env.cmd().args(["verify", &token]).stderr_only(
        1,
        "jwtauth: invalid token: token has an audience; pass --aud with one of its values, or --any-aud\n",
    );
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(format!("{token}\n"))
        .exits(1);
    env.cmd()
        .args(["verify", "--aud", "api", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    env.cmd().args(["verify", "--aud", "web", &token]).exits(1);
    env.cmd()
        .args(["verify", "--any-aud", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    // One of several values.
    let many = sign_raw(&json!({"sub": "bob", "exp": now() + 60, "aud": ["a", "b"]}).to_string());
    with_secret(&env).args(["verify", &many]).exits(1);
    with_secret(&env)
        .args(["verify", "--aud", "b", &many])
        .exits(0);
    // A token without aud is unaffected.
    let plain = env.mint(&["--sub", "carol"]);
    env.cmd().args(["verify", &plain]).exits(0);
    // Revoking is not granting: logout takes any audience.
    env.cmd().args(["logout", &token]).exits(0);
    env.cmd().args(["verify", "--aud", "api", &token]).exits(4);
}

// ---- 11. Discarded output is success; a failed write is an error; a stopped reader is not ---------------------------

/// Runs `jwtauth ARGS… REDIRECT` through `sh` with `SECRET` as the key; returns (code, stderr).
fn through_sh(env: &Env, args: &str, redirect: &str, stdin: &str) -> (i32, String) {
    sh(env, &format!("\"$0\" {args} {redirect}"), stdin)
}

/// Runs a `sh` script in which `$0` is jwtauth; returns (code, stderr).
fn sh(env: &Env, script: &str, stdin: &str) -> (i32, String) {
    use std::io::Write as _;
    let mut cmd = env.std_cmd_for("sh");
    cmd.env("JWT_SECRET_KEY", SECRET)
        .args(["-c", script])
        .arg(common::bin())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("sh");
    // A command that reads no stdin closes the pipe early; that is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), stderr_str(&out))
}

/// Runs jwtauth with stdout on `/dev/null` opened read-write, as Python's
/// `subprocess.DEVNULL` and Go's `os.DevNull` leave it; returns (code, stderr).
fn to_devnull_read_write(env: &Env, args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write as _;
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut child = env
        .std_cmd()
        .env("JWT_SECRET_KEY", SECRET)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(devnull)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), stderr_str(&out))
}

#[test]
fn discarded_output_is_success_and_a_full_disk_is_exit_8() {
    let env = Env::new();
    let token = token_for("alice");
    let line = format!("{token}\n");
    for (args, stdin) in [
        (&["mint", "--sub", "x"][..], ""),
        (&["mint", "--sub", "x", "--json"], ""),
        (&["verify", "-"], &*line),
        (&["decode", "-"], &*line),
        (&["verify", &token], ""),
    ] {
        // Python's subprocess.DEVNULL (read-write) and a shell's >/dev/null (write-only).
        assert_eq!(
            to_devnull_read_write(&env, args, stdin),
            (0, String::new()),
            "{args:?}"
        );
        let (code, err) = through_sh(&env, &args.join(" "), ">/dev/null", stdin);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
        // A closed stdout cannot be told from it once Rust has reopened fd 1 on /dev/null
        // (read-write) before main: discarded output wins (SPEC §15, README).
        let (code, err) = through_sh(&env, &args.join(" "), ">&-", stdin);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    }
    // A failing write is an error; a reader that stopped is not.
    let (code, err) = through_sh(&env, "mint --sub x", ">/dev/full", "");
    assert_eq!(code, 8, "{err}");
    assert!(err.starts_with("jwtauth: writing output: "), "{err}");
    let many = line.repeat(20_000);
    let script = r#"{ "$0" verify -; echo "exit $?" >&2; } | head -n 1 >/dev/null"#;
    let (code, err) = sh(&env, script, &many);
    assert_eq!((code, err.as_str()), (0, "exit 0\n"));
}

// ---- 9. Exact numbers -----------------------------------------------------------------------

/// The payload JSON text of a token, as signed.
fn payload_text(token: &str) -> String {
    let p = token.split('.').nth(1).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

#[test]
fn big_numbers_are_signed_and_shown_exactly() {
    let env = Env::new();
    env.init();
    let token = env.mint(&[
        "--sub",
        "a",
        "--claim",
        "big=12345678901234567890123",
        "--claim",
        "neg=-98765432109876543210",
        "--claim",
        "dec=0.1000000000000000000001",
    ]);
    let signed = payload_text(&token);
    for n in [
        "12345678901234567890123",
        "-98765432109876543210",
        "0.1000000000000000000001",
    ] {
        assert!(signed.contains(n), "{signed}");
        for args in [&["decode", "--json"][..], &["verify", "--json"]] {
            let out = env.cmd().args(args).arg(&token).exits(0);
            assert!(
                stdout_str(&out).contains(n),
                "{args:?}: {}",
                stdout_str(&out)
            );
        }
        let out = env.cmd().args(["decode", &token]).exits(0);
        assert!(stdout_str(&out).contains(n), "{}", stdout_str(&out));
    }
    // A foreign token's big numbers, in batch JSON too.
    let foreign = sign_raw(&format!(
        r#"{{"sub":"x","exp":{},"id":123456789012345678901234567890,"f":1e400}}"#,
        now() + 60
    ));
    for args in [&["verify", "--json", "-"][..], &["decode", "--json", "-"]] {
        let out = with_secret(&env)
            .args(args)
            .write_stdin(format!("{foreign}\n"))
            .exits(0);
        let text = stdout_str(&out);
        assert!(text.contains("123456789012345678901234567890"), "{text}");
        // The value is kept; serde_json spells the exponent with its sign.
        assert!(text.contains("1e400") || text.contains("1e+400"), "{text}");
    }
}

// ---- 4. A hash jwtauth cannot check --------------------------------------------------------

#[test]
fn an_unsupported_hash_is_a_data_error_and_is_flagged() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let sha = "VkW14JL15w4Wg";
    let text = std::fs::read_to_string(env.users()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let h = v["users"]["alice"]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(env.users(), text.replace(&h, sha)).unwrap();
    let before = bytes(&env.users());
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("password\n")
        .assert()
        .code(8)
        .stdout("")
        .get_output()
        .clone();
    let err = stderr_str(&out);
    assert!(
        err.contains("\"alice\"") && err.contains(&env.users().display().to_string()),
        "{err}"
    );
    assert!(err.contains("not a supported password hash"), "{err}");
    assert!(!err.contains("VkW14"), "the hash is never printed: {err}");
    assert_eq!(bytes(&env.users()), before);
    assert!(!env.secret().exists());
    // Other users still log in.
    env.add_user("bob", "pw");
    env.login("bob", "pw");

    let out = env.cmd().args(["user", "list"]).exits(0);
    assert!(
        stdout_str(&out).contains("enabled, unsupported hash"),
        "{}",
        stdout_str(&out)
    );
    let out = env.cmd().args(["user", "list", "--json"]).exits(0);
    let v = common::json(&out.stdout);
    assert_eq!(v["users"][0]["hash_supported"], false);
    assert_eq!(v["users"][1]["hash_supported"], true);
    let out = env.cmd().args(["user", "show", "alice", "--json"]).exits(0);
    assert_eq!(common::json(&out.stdout)["hash_supported"], false);
    let out = env.cmd().args(["user", "show", "alice"]).exits(0);
    assert!(
        stdout_str(&out).contains("hash_supported       false"),
        "{}",
        stdout_str(&out)
    );
}

// ---- 7. init never writes a private key over a public key -----------------------------------

#[test]
fn init_force_never_overwrites_a_public_key() {
    let env = Env::new();
    let dir = env.path().join("idp");
    let private = dir.join("private.pem");
    env.cmd()
        .args(["init", "--alg", "ES256", "--key"])
        .arg(&private)
        .exits(0);
    let public = dir.join("public.pem");
    let before = bytes(&public);
    assert!(String::from_utf8_lossy(&before).contains("PUBLIC KEY"));
    for alg in ["HS256", "ES256", "RS256"] {
        for force in [true, false] {
            let mut c = env.cmd();
            c.args(["init", "--alg", alg, "--key"]).arg(&public);
            if force {
                c.arg("--force");
            }
            let out = c.assert().code(8).stdout("").get_output().clone();
            if force {
                assert_eq!(
                    stderr_str(&out),
                    format!(
                        "jwtauth: key {}: holds a public key or certificate, not a signing key; init never writes over it (with or without --force): choose another path with --key\n",
                        public.display()
                    )
                );
            }
            assert_eq!(bytes(&public), before, "{alg} force={force}");
            assert!(!dir.join("public.pem.alg").exists());
        }
    }
    // The private key itself may still be replaced with --force.
    env.cmd()
        .args(["init", "--alg", "ES256", "--force", "--key"])
        .arg(&private)
        .exits(0);
}

// ---- 8. Usernames ---------------------------------------------------------------------------

#[test]
fn usernames_refuse_format_characters_and_colons() {
    let env = Env::new();
    for (name, why) in [
        ("a\u{200b}b", "invisible format characters"),
        ("\u{feff}alice", "invisible format characters"),
        ("evil\u{202e}txt", "invisible format characters"),
        ("a\u{2066}b", "invisible format characters"),
        ("a:b", "must not contain ':'"),
    ] {
        env.cmd()
            .args(["user", "add", name, "--cost", "4", "--password-stdin"])
            .write_stdin("pw\n")
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains(why));
    }
    assert!(!env.users().exists());
    // 64 scalar values are fine, 65 are not; non-ASCII letters are fine.
    env.add_user(&"é".repeat(64), "pw");
    env.cmd()
        .args([
            "user",
            "add",
            &"é".repeat(65),
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .exits(2);
}

#[test]
fn user_import_strips_a_bom() {
    let env = Env::new();
    let h = hash_of_pw(&env);
    let file = env.path().join("htpasswd");
    std::fs::write(&file, format!("\u{feff}alice:{h}\nbob:{h}\n")).unwrap();
    env.cmd().args(["user", "import"]).arg(&file).exits(0);
    let out = env.cmd().args(["user", "list", "--json"]).exits(0);
    let names: Vec<String> = common::json(&out.stdout)["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    env.login("alice", "pw");
}

// ---- 12. The revocation index heals itself --------------------------------------------------

#[test]
fn a_missing_or_stale_index_is_rebuilt_by_the_next_reader() {
    let env = Env::new();
    let token = token_for("alice");
    let idx = env.path().join("data/jwtauth/revocations.json.idx");
    std::fs::create_dir_all(env.state().parent().unwrap()).unwrap();
    // A state file jwtauth did not write (restored from a backup): no index.
    std::fs::write(
        env.state(),
        format!(
            r#"{{"version":1,"tokens":{{}},"users":{{"alice":{}}}}}"#,
            now() + 5
        ),
    )
    .unwrap();
    with_secret(&env).args(["verify", &token]).exits(4);
    assert!(idx.exists(), "verify rebuilt the index");
    let first = bytes(&idx);
    with_secret(&env).args(["verify", &token]).exits(4);
    assert_eq!(bytes(&idx), first, "a fresh index is left alone");
    // A hand edit makes it stale: the next reader rebuilds it, and answers from the JSON.
    std::fs::write(env.state(), r#"{"version":1,"tokens":{},"users":{}}"#).unwrap();
    with_secret(&env).args(["verify", &token]).exits(0);
    assert_ne!(bytes(&idx), first);
    with_secret(&env).args(["verify", &token]).exits(0);
}

#[cfg(unix)]
#[test]
fn a_reader_that_cannot_write_still_answers_from_the_json() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let token = token_for("alice");
    std::fs::create_dir_all(env.state().parent().unwrap()).unwrap();
    std::fs::write(
        env.state(),
        format!(
            r#"{{"version":1,"tokens":{{}},"users":{{"alice":{}}}}}"#,
            now() + 5
        ),
    )
    .unwrap();
    if std::fs::metadata(env.state()).unwrap().uid() == 0 {
        // Another user's state file: root does not leave its own lock and index beside it.
        std::os::unix::fs::chown(env.state(), Some(4321), Some(4321)).unwrap();
    } else {
        chmod(env.state().parent().unwrap(), 0o500);
    }
    with_secret(&env).args(["verify", &token]).exits(4);
    let names = names_in(env.state().parent().unwrap());
    chmod(env.state().parent().unwrap(), 0o700);
    assert_eq!(names, ["revocations.json"]);
}

// ---- 13. Small ones -------------------------------------------------------------------------

#[test]
fn login_claim_sub_does_not_suggest_a_flag_login_lacks() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.cmd()
        .args(["login", "alice", "--password-stdin", "--claim", "sub=root"])
        .write_stdin("pw\n")
        .stderr_only(
            2,
            "jwtauth: --claim sub: the subject of a login token is the user name; login has no --sub\n",
        );
}

#[test]
fn paths_names_jwt_secret_key_once() {
    let env = Env::new();
    let out = with_secret(&env).arg("paths").exits(0);
    let text = stdout_str(&out);
    assert_eq!(text.matches("JWT_SECRET_KEY").count(), 1, "{text}");
    assert!(text.ends_with("key    (JWT_SECRET_KEY)\n"), "{text}");
}

#[test]
fn a_missing_named_key_gets_no_init_hint() {
    let env = Env::new();
    env.cmd()
        .args(["verify", "--key", "missing.pem", "a.b.c"])
        .stderr_only(8, "jwtauth: key missing.pem: does not exist\n");
    assert!(!env.path().join("missing.pem").exists());
}

#[test]
fn expiry_errors_keep_the_what_colon_why_shape() {
    let env = Env::new();
    let t = sign_raw(&json!({"sub": "a", "exp": now() - 3 * 3600 - 30}).to_string());
    let out = with_secret(&env).args(["verify", &t]).exits(3);
    let err = stderr_str(&out);
    assert!(err.starts_with("jwtauth: token expired: at 20"), "{err}");
    assert!(err.ends_with("Z (3h ago)\n"), "{err}");
}

#[test]
fn decode_shows_absurd_times_as_written_and_says_not_valid_until() {
    let env = Env::new();
    let t = sign_raw(r#"{"sub":"a","exp":-1e300,"iat":1e300}"#);
    let out = env.cmd().args(["decode", &t]).exits(0);
    let text = stdout_str(&out);
    assert!(!text.contains("9223372036854775"), "{text}");
    assert!(
        text.contains("-1e300") || text.contains("-1e+300"),
        "{text}"
    );
    let t =
        sign_raw(&json!({"sub": "a", "nbf": now() + 3600 + 30, "exp": now() + 7200}).to_string());
    let out = env.cmd().args(["decode", &t]).exits(0);
    let text = stdout_str(&out);
    assert!(text.contains("  not valid until 20"), "{text}");
    assert!(text.contains("Z (in 1h)\n"), "{text}");
    assert!(!text.contains("not valid before in"), "{text}");
}

#[test]
fn disabling_a_disabled_user_says_it_already_was() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.cmd()
        .args(["user", "disable", "alice"])
        .stderr_only(0, "jwtauth: disabled user (tokens revoked) alice\n");
    let before = bytes(&env.users());
    env.cmd().args(["user", "disable", "alice"]).stderr_only(
        0,
        "jwtauth: user alice is already disabled; nothing changed\n",
    );
    assert_eq!(bytes(&env.users()), before);
    env.cmd().args(["user", "enable", "alice"]).exits(0);
    env.cmd().args(["user", "enable", "alice"]).stderr_only(
        0,
        "jwtauth: user alice is already enabled; nothing changed\n",
    );
}

#[test]
fn a_negative_ttl_gets_the_duration_error() {
    let env = Env::new();
    env.init();
    let out = env
        .cmd()
        .args(["mint", "--sub", "a", "--ttl", "-5"])
        .exits(2);
    let err = stderr_str(&out);
    assert!(err.starts_with("jwtauth: --ttl \"-5\": "), "{err}");
    assert!(!err.contains("unexpected argument"), "{err}");
    env.cmd()
        .args(["verify", "--leeway", "-5", "a.b.c"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with("jwtauth: --leeway \"-5\": "));
}

// ----- A 0-byte users or state file is an empty store (SPEC §15) ------------------------------

#[cfg(unix)]
#[test]
fn a_zero_byte_users_or_state_file_is_an_empty_store_that_takes_writes_and_keeps_its_mode() {
    let env = Env::new();
    env.init();
    // As an administrator prepares them: created empty, with the mode they should keep.
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    for p in [env.users(), env.state()] {
        std::fs::write(&p, b"").unwrap();
        chmod(&p, 0o640);
    }
    env.cmd().args(["user", "list"]).stderr_only(
        0,
        format!("jwtauth: no users in {}\n", env.users().display()),
    );
    let out = env.cmd().args(["user", "list", "--json"]).exits(0);
    assert_eq!(common::json(&out.stdout), json!({"users": []}));
    env.cmd().args(["user", "show", "alice"]).exits(6);
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(
            5,
            "jwtauth: login refused: incorrect username or password\n",
        );
    let out = env.cmd().args(["revocations", "list", "--json"]).exits(0);
    assert_eq!(
        common::json(&out.stdout),
        json!({"tokens": [], "users": []})
    );
    let minted = env.mint(&["--sub", "svc"]);
    env.cmd().args(["verify", &minted]).exits(0);
    assert_eq!(bytes(&env.users()), b"", "reading wrote nothing");
    assert_eq!(bytes(&env.state()), b"", "reading wrote nothing");

    // The first write fills them, keeping the mode.
    env.add_user("alice", "pw");
    assert_eq!(common::mode(&env.users()), 0o640);
    // A token without a session: the emptied store below must not refuse it for that.
    let token = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &token]).exits(0);
    assert_eq!(common::mode(&env.state()), 0o640);
    env.cmd().args(["verify", &token]).exits(4);
    env.cmd().args(["user", "show", "alice", "--json"]).exits(0);

    // Emptied in place again (the inode stays, so only the size and times tell): the
    // revocation index of the old contents is not used for it.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(env.state())
        .unwrap();
    env.cmd().args(["verify", &token]).exits(0);
    env.cmd()
        .args(["verify", "-"])
        .write_stdin(format!("{token}\n"))
        .exits(0);

    // Whitespace alone is not empty: still a corrupt file, left as it is.
    std::fs::write(env.users(), b"\n").unwrap();
    let out = env.cmd().args(["user", "list"]).exits(8);
    assert!(
        stderr_str(&out).contains("not a valid jwtauth file at line 2 column 0"),
        "{}",
        stderr_str(&out)
    );
    assert_eq!(bytes(&env.users()), b"\n");
}
