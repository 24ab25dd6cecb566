//! The core through the binary: paths, init, hash, the user commands, corrupt
//! files, permissions, locking and real concurrent processes.
use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Env, Exits, bytes, json, mode};
use common::{stderr_str as stderr_of, stdout_str as stdout_of};
use serde_json::Value;

/// Every command gets a watchdog: a hang is a failure, not a stuck test run.
const LIMIT: Duration = Duration::from_secs(60);

const LOGIN_REFUSED: &str = "jwtauth: login refused: incorrect username or password\n";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A `$2b$04$` hash of `pw` made by the binary.
fn hash4(env: &Env, pw: &str) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .timeout(LIMIT)
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let h = stdout_of(&out);
    assert!(h.ends_with('\n'), "{h:?}");
    let h = h.trim_end().to_string();
    assert!(h.starts_with("$2b$04$") && h.len() == 60, "{h:?}");
    h
}

/// Runs `hash --check HASH` with `pw` on stdin and returns the exit code.
fn check(env: &Env, hash: &str, stdin: &str) -> i32 {
    let out = env
        .cmd()
        .args(["hash", "--check", hash, "--password-stdin"])
        .write_stdin(stdin.to_string())
        .timeout(LIMIT)
        .output()
        .expect("run");
    assert_eq!(out.stdout, b"", "hash --check prints nothing in text mode");
    out.status.code().expect("exit code")
}

/// The users file as JSON.
fn users_json(env: &Env) -> Value {
    json(&bytes(&env.users()))
}

fn record(env: &Env, name: &str) -> Value {
    users_json(env)["users"][name].clone()
}

fn revocations_json(env: &Env) -> Value {
    json(&bytes(&env.state()))
}

/// Lists the names in a directory (empty if it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Writes a users file holding `names`, each with `hash`, created at time 0.
fn write_users(path: &Path, names: &[String], hash: &str) {
    let mut users = serde_json::Map::new();
    for n in names {
        users.insert(
            n.clone(),
            serde_json::json!({
                "username": n, "full_name": null, "email": null, "hashed_password": hash,
                "disabled": false, "created_at": 0, "password_changed_at": 0
            }),
        );
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        serde_json::to_vec(&serde_json::json!({"version": 1, "users": users})).unwrap(),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// paths
// ---------------------------------------------------------------------------------------------

#[test]
fn paths_text_and_json_show_the_default_files() {
    let env = Env::new();
    let p = env.path().display().to_string();
    env.cmd()
        .arg("paths")
        .assert()
        .code(0)
        .stderr("")
        .stdout(format!(
            "users  {p}/data/jwtauth/users.json\nstate  {p}/data/jwtauth/revocations.json\nkey    {p}/config/jwtauth/secret (default)\n"
        ));
    let out = env
        .cmd()
        .args(["paths", "--json"])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .stdout
        .clone();
    assert!(out.ends_with(b"}\n"), "one JSON line");
    assert_eq!(
        json(&out),
        serde_json::json!({
            "users": format!("{p}/data/jwtauth/users.json"),
            "state": format!("{p}/data/jwtauth/revocations.json"),
            "key": format!("{p}/config/jwtauth/secret"),
            "key_source": "default",
        })
    );
    // Read-only: nothing was created.
    assert_eq!(entries(env.path()), Vec::<String>::new());
}

fn paths_json(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.assert().code(0).stderr("").get_output().stdout.clone();
    json(&out)
}

#[test]
fn paths_key_source_flag_env_secret_and_default() {
    let env = Env::new();
    let p = env.path();
    // default
    let j = paths_json(env.cmd().args(["paths", "--json"]));
    assert_eq!(j["key_source"], "default");
    // JWTAUTH_KEY_FILE beats the default
    let j = paths_json(
        env.cmd()
            .args(["paths", "--json"])
            .env("JWTAUTH_KEY_FILE", p.join("envkey")),
    );
    assert_eq!(j["key_source"], "env");
    assert_eq!(j["key"], p.join("envkey").display().to_string());
    // JWT_SECRET_KEY beats JWTAUTH_KEY_FILE; there is no key file then
    let j = paths_json(
        env.cmd()
            .args(["paths", "--json"])
            .env("JWTAUTH_KEY_FILE", p.join("envkey"))
            .env("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(j["key_source"], "JWT_SECRET_KEY");
    assert_eq!(j["key"], Value::Null);
    env.cmd()
        .arg("paths")
        .env("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef")
        .assert()
        .code(0)
        // Issue 11.13: the source is named once.
        .stdout(predicates::str::ends_with("\nkey    (JWT_SECRET_KEY)\n"));
    // --key beats everything
    let j = paths_json(
        env.cmd()
            .args(["paths", "--json", "--key"])
            .arg(p.join("flagkey"))
            .env("JWTAUTH_KEY_FILE", p.join("envkey"))
            .env("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(j["key_source"], "flag");
    assert_eq!(j["key"], p.join("flagkey").display().to_string());
    env.cmd()
        .arg("paths")
        .arg("--key")
        .arg(p.join("flagkey"))
        .assert()
        .code(0)
        .stdout(predicates::str::ends_with(format!(
            "\nkey    {} (flag)\n",
            p.join("flagkey").display()
        )));
    assert_eq!(entries(p), Vec::<String>::new());
}

#[test]
fn paths_flag_beats_env_beats_default_for_users_and_state() {
    let env = Env::new();
    let p = env.path();
    let j = paths_json(
        env.cmd()
            .args(["paths", "--json"])
            .env("JWTAUTH_USERS", p.join("env-users.json"))
            .env("JWTAUTH_STATE", p.join("env-state.json")),
    );
    assert_eq!(j["users"], p.join("env-users.json").display().to_string());
    assert_eq!(j["state"], p.join("env-state.json").display().to_string());
    let j = paths_json(
        env.cmd()
            .args(["paths", "--json", "--users"])
            .arg(p.join("flag-users.json"))
            .arg("--state")
            .arg(p.join("flag-state.json"))
            .env("JWTAUTH_USERS", p.join("env-users.json"))
            .env("JWTAUTH_STATE", p.join("env-state.json")),
    );
    assert_eq!(j["users"], p.join("flag-users.json").display().to_string());
    assert_eq!(j["state"], p.join("flag-state.json").display().to_string());
    assert_eq!(entries(p), Vec::<String>::new());
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let env = Env::new();
    let p = env.path();
    let users = p.join("u.json").display().to_string();
    let state = p.join("s.json").display().to_string();
    let key = p.join("k").display().to_string();
    let expected = serde_json::json!({
        "users": users, "state": state, "key": key, "key_source": "flag"
    });
    let before = paths_json(env.cmd().args([
        "--json", "--users", &users, "--state", &state, "--key", &key, "paths",
    ]));
    let after = paths_json(env.cmd().args([
        "paths", "--users", &users, "--state", &state, "--key", &key, "--json",
    ]));
    assert_eq!(before, expected);
    assert_eq!(after, expected);
    // After a nested subcommand too: -q and --users after `user add NAME`.
    env.cmd()
        .args(["user", "add", "alice", "--cost", "4", "--password-stdin"])
        .args(["--users", &users, "-q"])
        .write_stdin("pw\n")
        .stderr_only(0, "");
    assert!(json(&bytes(Path::new(&users)))["users"]["alice"].is_object());
    assert!(!env.users().exists());
    // And before it.
    env.cmd()
        .args(["--users", &users, "--json", "user", "show", "alice"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(r#""username":"alice""#));
}

#[test]
fn read_only_commands_create_no_files_or_directories() {
    let env = Env::new();
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJl";
    env.cmd().arg("paths").assert().code(0);
    env.cmd().args(["paths", "--json"]).assert().code(0);
    env.cmd().args(["user", "list"]).assert().code(0).stdout("");
    env.cmd()
        .args(["user", "list", "--json"])
        .assert()
        .code(0)
        .stdout("{\"users\":[]}\n");
    env.cmd()
        .args(["user", "show", "alice"])
        .stderr_only(6, "jwtauth: no such user: alice\n");
    env.cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(0);
    env.cmd().args(["decode", token]).assert().code(0);
    env.cmd().args(["--json", "decode", token]).assert().code(0);
    assert_eq!(entries(env.path()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------------

fn assert_secret(path: &Path) {
    let b = bytes(path);
    assert_eq!(b.len(), 87, "86 characters and a newline: {b:?}");
    assert_eq!(b[86], b'\n');
    assert!(
        b[..86]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'),
        "base64url: {}",
        String::from_utf8_lossy(&b)
    );
    assert_eq!(mode(path), 0o600);
}

fn alg_file(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_os_string();
    s.push(".alg");
    PathBuf::from(s)
}

#[test]
fn init_creates_a_private_secret_and_refuses_to_overwrite_it() {
    let env = Env::new();
    env.cmd().arg("init").stderr_only(
        0,
        format!("jwtauth: created HS256 key {}\n", env.secret().display()),
    );
    assert_secret(&env.secret());
    let dir = env.path().join("config/jwtauth");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&env.path().join("config")), 0o700);
    assert_eq!(bytes(&alg_file(&env.secret())), b"HS256\n");
    assert_eq!(mode(&alg_file(&env.secret())), 0o600);
    assert_eq!(mode(&dir.join("secret.lock")), 0o600);

    let first = bytes(&env.secret());
    let out = env
        .cmd()
        .arg("init")
        .assert()
        .code(8)
        .stdout("")
        .get_output()
        .clone();
    let err = stderr_of(&out);
    assert!(
        err.starts_with(&format!("jwtauth: key {}: ", env.secret().display()))
            && err.contains("--force")
            && err.ends_with('\n')
            && err.lines().count() == 1,
        "{err:?}"
    );
    assert_eq!(bytes(&env.secret()), first, "key unchanged");
    // Also with another --alg.
    env.cmd().args(["init", "--alg", "HS512"]).assert().code(8);
    assert_eq!(bytes(&env.secret()), first, "key unchanged");
    assert_eq!(bytes(&alg_file(&env.secret())), b"HS256\n");

    env.cmd()
        .args(["-q", "init", "--force", "--alg", "HS512"])
        .stderr_only(0, "");
    assert_secret(&env.secret());
    assert_ne!(bytes(&env.secret()), first, "--force replaced the key");
    assert_eq!(bytes(&alg_file(&env.secret())), b"HS512\n");
}

#[test]
fn init_alg_is_recorded_and_used_for_signing() {
    for alg in ["HS256", "HS384", "HS512"] {
        let env = Env::new();
        env.cmd().args(["init", "--alg", alg]).assert().code(0);
        assert_secret(&env.secret());
        assert_eq!(
            bytes(&alg_file(&env.secret())),
            format!("{alg}\n").as_bytes()
        );
        let token = env.mint(&["--sub", "x"]);
        let out = env.cmd().args(["--json", "decode", &token]).exits(0).stdout;
        assert_eq!(json(&out)["header"]["alg"], alg);
    }
    let env = Env::new();
    env.cmd().args(["init", "--alg", "XS256"]).assert().code(2);
    assert!(!env.secret().exists());
}

#[test]
fn init_key_flag_and_key_file_env_choose_where_it_goes() {
    let env = Env::new();
    let flag = env.path().join("keys/flag-secret");
    env.cmd()
        .args(["-q", "init", "--key"])
        .arg(&flag)
        .assert()
        .code(0)
        .stderr("");
    assert_secret(&flag);
    assert_eq!(mode(&env.path().join("keys")), 0o700);
    assert_eq!(bytes(&alg_file(&flag)), b"HS256\n");
    assert!(!env.secret().exists());

    let envkey = env.path().join("env-secret");
    env.cmd()
        .args(["-q", "init", "--alg", "HS384"])
        .env("JWTAUTH_KEY_FILE", &envkey)
        .assert()
        .code(0);
    assert_secret(&envkey);
    assert_eq!(bytes(&alg_file(&envkey)), b"HS384\n");
    assert!(!env.secret().exists());
    let before = bytes(&envkey);
    env.cmd()
        .arg("init")
        .env("JWTAUTH_KEY_FILE", &envkey)
        .assert()
        .code(8);
    assert_eq!(bytes(&envkey), before);
    assert!(!env.secret().exists());

    // The key file signs: JWT_SECRET_KEY="$(cat secret)" gives the same key.
    let token = env.mint(&["--sub", "bob", "--key", flag.to_str().unwrap()]);
    let secret = String::from_utf8(bytes(&flag)).unwrap();
    env.cmd()
        .args(["verify", &token])
        .env("JWT_SECRET_KEY", secret.trim_end())
        .assert()
        .code(0)
        .stdout("bob\n");
}

// ---------------------------------------------------------------------------------------------
// hash
// ---------------------------------------------------------------------------------------------

#[test]
fn hash_default_cost_is_12() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["hash", "--password-stdin"])
        .write_stdin("correct horse\n")
        .timeout(LIMIT)
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let h = stdout_of(&out);
    assert!(
        h.starts_with("$2b$12$") && h.len() == 61 && h.ends_with('\n'),
        "{h:?}"
    );
    assert_eq!(check(&env, h.trim_end(), "correct horse\n"), 0);
}

#[test]
fn hash_cost_bounds() {
    let env = Env::new();
    for bad in ["3", "32", "0", "x"] {
        env.cmd()
            .args(["hash", "--cost", bad, "--password-stdin"])
            .write_stdin("pw\n")
            .assert()
            .code(2)
            .stdout("");
    }
    let out = env
        .cmd()
        .args(["--json", "hash", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(0)
        .stdout;
    let h = json(&out)["hash"].as_str().expect("hash").to_string();
    assert!(h.starts_with("$2b$04$"), "{h}");
    let h5 = stdout_of(
        &env.cmd()
            .args(["hash", "--cost", "5", "--password-stdin"])
            .write_stdin("pw\n")
            .output()
            .unwrap(),
    );
    assert!(h5.starts_with("$2b$05$"), "{h5}");
}

#[test]
fn hash_check_matches_mismatches_and_accepts_every_prefix() {
    let env = Env::new();
    let h = hash4(&env, "secret pw");
    // A new salt every time.
    assert_ne!(h, hash4(&env, "secret pw"));
    for prefix in ["$2a$", "$2b$", "$2x$", "$2y$"] {
        let hp = format!("{prefix}{}", &h[4..]);
        assert_eq!(check(&env, &hp, "secret pw\n"), 0, "{hp}");
        assert_eq!(check(&env, &hp, "secret px\n"), 1, "{hp}");
    }
    env.cmd()
        .args(["hash", "--check", &h, "--password-stdin"])
        .write_stdin("wrong\n")
        .stderr_only(1, "jwtauth: password does not match the hash\n");
    env.cmd()
        .args(["hash", "--check", &h, "--password-stdin"])
        .write_stdin("secret pw\n")
        .stderr_only(0, "");
    env.cmd()
        .args(["--json", "hash", "--check", &h, "--password-stdin"])
        .write_stdin("secret pw\n")
        .assert()
        .code(0)
        .stdout("{\"match\":true}\n");
}

#[test]
fn hash_check_refuses_malformed_hashes() {
    let env = Env::new();
    let h = hash4(&env, "pw");
    let bad = [
        String::new(),
        "not a hash".to_string(),
        format!("$2c${}", &h[4..]),
        format!("$1${}", &h[3..]),
        h.replacen("$04$", "$03$", 1),
        h.replacen("$04$", "$32$", 1),
        h.replacen("$04$", "$4$", 1),
        format!("{}!", &h[..59]),
        h[..59].to_string(),
        format!("{h}x"),
    ];
    for b in &bad {
        let out = env
            .cmd()
            .args(["hash", "--check", b, "--password-stdin"])
            .write_stdin("pw\n")
            .timeout(LIMIT)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{b:?}: {}", stderr_of(&out));
        assert_eq!(out.stdout, b"");
        let err = stderr_of(&out);
        assert!(
            (err.starts_with("jwtauth: bcrypt hash: ")
                || err.starts_with("jwtauth: password hash: ")
                || err.starts_with("jwtauth: $1$ hash: "))
                && err.lines().count() == 1,
            "{b:?}: {err:?}"
        );
    }
}

#[test]
fn hash_password_length_rules() {
    let env = Env::new();
    for (input, what) in [
        ("\n", "empty line"),
        ("", "empty stdin"),
        ("\r\n", "CRLF only"),
    ] {
        let out = env
            .cmd()
            .args(["hash", "--cost", "4", "--password-stdin"])
            .write_stdin(input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert_eq!(out.stdout, b"", "{what}");
        assert!(stderr_of(&out).starts_with("jwtauth: password: "), "{what}");
    }
    // 73 bytes in 72 characters: the limit is in bytes.
    let multibyte = "a".repeat(71) + "é";
    assert_eq!(multibyte.len(), 73);
    env.cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{multibyte}\n"))
        .stderr_only(
            2,
            predicates::str::starts_with("jwtauth: password: is 73 bytes"),
        );
    let p73 = "b".repeat(73);
    env.cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{p73}\r\n"))
        .assert()
        .code(2)
        .stdout("");
    // 72 bytes are accepted and all 72 count.
    let p = "c".repeat(72);
    let h = hash4(&env, &p);
    assert_eq!(check(&env, &h, &format!("{p}\n")), 0);
    assert_eq!(check(&env, &h, &format!("{}d\n", &p[..71])), 1);
    // SPEC §15: a stored bcrypt hash is checked as bcrypt made it, on the first 72 bytes.
    assert_eq!(check(&env, &h, &format!("{p}c\n")), 0);
}

#[test]
fn hash_password_stdin_strips_crlf_and_reads_only_the_first_line() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\r\n")
        .exits(0);
    let h = stdout_of(&out).trim_end().to_string();
    assert_eq!(check(&env, &h, "pw\n"), 0);
    assert_eq!(check(&env, &h, "pw"), 0, "no newline at all");
    assert_eq!(check(&env, &h, "pw\r\n"), 0);
    assert_eq!(check(&env, &h, "pw \n"), 1, "other whitespace is kept");
    assert_eq!(check(&env, &h, "pw\npw\n"), 0, "only the first line");
    assert_eq!(
        check(&env, &h, "pw\r\r\n"),
        1,
        "only one CR is part of the line end"
    );
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\nsecond line\n")
        .exits(0);
    assert_eq!(check(&env, stdout_of(&out).trim_end(), "pw\n"), 0);
}

#[test]
fn no_password_stdin_and_no_terminal_fails_at_once() {
    let env = Env::new();
    let h = hash4(&env, "pw");
    let msg =
        "jwtauth: password: stdin is not a terminal; pipe the password in with --password-stdin\n";
    let cases: Vec<Vec<&str>> = vec![
        vec!["hash", "--cost", "4"],
        vec!["hash", "--check", &h],
        vec!["user", "add", "alice", "--cost", "4"],
    ];
    for args in &cases {
        for piped in [false, true] {
            let start = Instant::now();
            let mut cmd = env.cmd();
            cmd.args(args).timeout(Duration::from_secs(20));
            if piped {
                // A password waiting on stdin is still not read without --password-stdin.
                cmd.write_stdin("pw\n");
            }
            cmd.stderr_only(2, msg);
            assert!(start.elapsed() < Duration::from_secs(10), "{args:?}");
        }
    }
    assert!(!env.users().exists());
    // passwd of an existing user too, and the hash is unchanged.
    env.add_user("bob", "pw");
    let before = bytes(&env.users());
    env.cmd()
        .args(["user", "passwd", "bob", "--cost", "4"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(msg);
    assert_eq!(bytes(&env.users()), before);
    assert!(!env.state().exists(), "nothing revoked by a failed passwd");
}

// ---------------------------------------------------------------------------------------------
// users
// ---------------------------------------------------------------------------------------------

fn add(env: &Env, args: &[&str], stdin: &str) -> std::process::Output {
    env.cmd()
        .args(["user", "add"])
        .args(args)
        .write_stdin(stdin.to_string())
        .timeout(LIMIT)
        .output()
        .unwrap()
}

#[test]
fn user_add_writes_the_record_of_spec_section_1() {
    let env = Env::new();
    let t0 = now();
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--full-name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("wonderland\n")
        .stderr_only(0, "jwtauth: added user alice\n");
    let t1 = now();
    let doc = users_json(&env);
    assert_eq!(doc["version"], 1);
    let obj = doc.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{doc}");
    let rec = doc["users"]["alice"].as_object().expect("record").clone();
    let mut keys: Vec<&str> = rec.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "disabled",
            "email",
            "full_name",
            "hashed_password",
            "password_changed_at",
            "username"
        ]
    );
    assert_eq!(rec["username"], "alice");
    assert_eq!(rec["full_name"], "Alice Liddell");
    assert_eq!(rec["email"], "alice@example.com");
    assert_eq!(rec["disabled"], false);
    let created = rec["created_at"].as_i64().expect("integer created_at");
    assert!((t0..=t1).contains(&created), "{created} not in {t0}..={t1}");
    assert_eq!(rec["password_changed_at"].as_i64(), Some(created));
    let h = rec["hashed_password"].as_str().unwrap();
    assert!(h.starts_with("$2b$04$") && h.len() == 60, "{h}");
    assert_eq!(check(&env, h, "wonderland\n"), 0);

    // --json prints the record without the hash.
    let out = env
        .cmd()
        .args([
            "--json",
            "user",
            "add",
            "bob",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .exits(0)
        .stdout;
    let j = json(&out);
    assert_eq!(j["username"], "bob");
    assert_eq!(j["full_name"], Value::Null);
    assert!(j.get("hashed_password").is_none(), "{j}");
    assert_eq!(users_json(&env)["users"].as_object().unwrap().len(), 2);
    // -q silences the note.
    env.cmd()
        .args([
            "-q",
            "user",
            "add",
            "carol",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .stderr_only(0, "");
}

#[test]
fn user_add_existing_is_7_and_changes_nothing() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    let out = add(
        &env,
        &["alice", "--cost", "4", "--password-stdin"],
        "other\n",
    );
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stderr_of(&out), "jwtauth: user already exists: alice\n");
    assert_eq!(out.stdout, b"");
    let h = hash4(&env, "x");
    let out = add(&env, &["alice", "--hash", &h], "");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(bytes(&env.users()), before);
}

#[test]
fn user_names_are_checked() {
    let env = Env::new();
    let long65 = "x".repeat(65);
    let uni65 = "é".repeat(65);
    let bad: Vec<&str> = vec![
        "",
        &long65,
        &uni65,
        "a b",
        " alice",
        "alice ",
        "a\tb",
        "a\nb",
        "a\u{7}b",
        "a\u{1b}[31m",
        "a\u{7f}",
        "a\u{a0}b",
    ];
    for name in &bad {
        let out = add(&env, &[name, "--cost", "4", "--password-stdin"], "pw\n");
        assert_eq!(out.status.code(), Some(2), "{name:?}");
        let err = stderr_of(&out);
        assert!(
            err.starts_with("jwtauth: user name") && err.lines().count() == 1,
            "{name:?}: {err:?}"
        );
        // The other user commands refuse it the same way (not "no such user").
        for args in [
            vec!["user", "show", name],
            vec!["user", "passwd", name, "--cost", "4", "--password-stdin"],
            vec!["user", "disable", name],
            vec!["user", "enable", name],
            vec!["user", "remove", name],
        ] {
            let out = env.cmd().args(&args).write_stdin("pw\n").output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(
                stderr_of(&out).starts_with("jwtauth: user name"),
                "{args:?}"
            );
        }
    }
    assert!(!env.users().exists(), "no invalid name was written");
    let long64 = "x".repeat(64);
    let uni64 = "é".repeat(64);
    for name in [
        long64.as_str(),
        uni64.as_str(),
        "alice@example.com",
        "ünïcødé",
        "a-b_c.d",
    ] {
        let out = add(&env, &[name, "--cost", "4", "--password-stdin"], "pw\n");
        assert_eq!(out.status.code(), Some(0), "{name:?}: {}", stderr_of(&out));
        assert_eq!(record(&env, name)["username"], name);
    }
}

#[test]
fn user_add_with_hash_imports_it_and_refuses_malformed_ones() {
    let env = Env::new();
    let h = hash4(&env, "imported");
    let h2y = format!("$2y${}", &h[4..]);
    env.cmd()
        .args(["user", "add", "alice", "--hash", &h2y])
        .timeout(LIMIT)
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(record(&env, "alice")["hashed_password"], h2y.as_str());
    env.login("alice", "imported");
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("imported2\n")
        .assert()
        .code(5)
        .stderr(LOGIN_REFUSED);
    let before = bytes(&env.users());
    for bad in [
        "plain".to_string(),
        format!("$2c${}", &h[4..]),
        h[..59].to_string(),
        h.replacen("$04$", "$03$", 1),
        format!("{}*", &h[..59]),
    ] {
        let out = add(&env, &["bob", "--hash", &bad], "");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr_of(&out);
        assert!(
            err.starts_with("jwtauth: bcrypt hash: ")
                || err.starts_with("jwtauth: password hash: "),
            "{bad}"
        );
    }
    assert_eq!(bytes(&env.users()), before);
}

#[test]
fn user_add_refuses_bad_passwords_and_writes_nothing() {
    let env = Env::new();
    for input in [
        "\n".to_string(),
        String::new(),
        format!("{}\n", "p".repeat(73)),
    ] {
        let out = add(&env, &["alice", "--cost", "4", "--password-stdin"], &input);
        assert_eq!(out.status.code(), Some(2), "{input:?}");
        assert!(stderr_of(&out).starts_with("jwtauth: password: "));
    }
    let out = add(&env, &["alice", "--cost", "3", "--password-stdin"], "pw\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(!env.users().exists());
    let out = add(
        &env,
        &["alice", "--cost", "4", "--password-stdin"],
        &format!("{}\n", "p".repeat(72)),
    );
    assert_eq!(out.status.code(), Some(0));
    env.login("alice", &"p".repeat(72));
}

#[test]
fn unknown_users_are_6_for_every_user_command() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    for sub in ["show", "disable", "enable", "remove"] {
        env.cmd()
            .args(["user", sub, "bob"])
            .stderr_only(6, "jwtauth: no such user: bob\n");
    }
    env.cmd()
        .args(["user", "passwd", "bob", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(6, "jwtauth: no such user: bob\n");
    assert_eq!(bytes(&env.users()), before);
    assert!(!env.state().exists(), "nothing revoked for an unknown user");
    // With no users file at all.
    let empty = Env::new();
    empty
        .cmd()
        .args(["user", "disable", "bob"])
        .assert()
        .code(6);
    assert_eq!(entries(empty.path()), Vec::<String>::new());
}

#[test]
fn list_and_show_hide_hashes_unless_asked() {
    let env = Env::new();
    let h = hash4(&env, "pw");
    // Hand-written records with fixed times, so the text output is exact.
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(
        env.users(),
        format!(
            r#"{{"version": 1, "users": {{
  "alice": {{"username": "alice", "full_name": "Alice Liddell", "email": "alice@example.com",
             "hashed_password": "{h}", "disabled": false, "created_at": 0, "password_changed_at": 86400}},
  "bob": {{"username": "bob", "full_name": null, "email": null,
           "hashed_password": "{h}", "disabled": true, "created_at": 60, "password_changed_at": 60}}
}}}}"#
        ),
    )
    .unwrap();
    env.cmd()
        .args(["user", "list"])
        .assert()
        .code(0)
        .stderr("")
        .stdout(
            "USERNAME  FULL NAME      EMAIL              GROUPS  STATUS    CREATED\n\
             alice     Alice Liddell  alice@example.com  -       enabled   1970-01-01T00:00:00Z\n\
             bob       -              -                  -       disabled  1970-01-01T00:01:00Z\n",
        );
    let out = env
        .cmd()
        .args(["user", "list", "--with-hash"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout_of(&out);
    assert!(text.lines().next().unwrap().ends_with("  HASH"), "{text}");
    assert_eq!(text.matches(&h).count(), 2, "{text}");

    let alice = serde_json::json!({
        "username": "alice", "full_name": "Alice Liddell", "email": "alice@example.com",
        "disabled": false, "created_at": 0, "password_changed_at": 86400,
        "hash_supported": true,
        "hash_scheme": "bcrypt", "legacy": false, // SPEC §15
        "groups": []
    });
    let bob = serde_json::json!({
        "username": "bob", "full_name": null, "email": null,
        "disabled": true, "created_at": 60, "password_changed_at": 60,
        "hash_supported": true, "hash_scheme": "bcrypt", "legacy": false, "groups": []
    });
    let out = env.cmd().args(["user", "list", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout_of(&out).contains("$2b$"));
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({"users": [alice, bob]})
    );
    let out = env
        .cmd()
        .args(["user", "list", "--json", "--with-hash"])
        .output()
        .unwrap();
    let mut a = alice.clone();
    a["hashed_password"] = h.clone().into();
    let mut b = bob.clone();
    b["hashed_password"] = h.clone().into();
    assert_eq!(json(&out.stdout), serde_json::json!({"users": [a, b]}));

    env.cmd()
        .args(["user", "show", "alice"])
        .assert()
        .code(0)
        .stderr("")
        .stdout(
            "username             alice\n\
             full_name            Alice Liddell\n\
             email                alice@example.com\n\
             groups               -\n\
             disabled             false\n\
             created_at           1970-01-01T00:00:00Z\n\
             password_changed_at  1970-01-02T00:00:00Z\n",
        );
    env.cmd()
        .args(["user", "show", "bob", "--with-hash"])
        .assert()
        .code(0)
        .stdout(predicates::str::ends_with(format!(
            "disabled             true\ncreated_at           1970-01-01T00:01:00Z\npassword_changed_at  1970-01-01T00:01:00Z\nhashed_password      {h}\n"
        )));
    let out = env
        .cmd()
        .args(["--json", "user", "show", "alice"])
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout), alice);
    let out = env
        .cmd()
        .args(["user", "show", "alice", "--json", "--with-hash"])
        .output()
        .unwrap();
    assert_eq!(json(&out.stdout), a);
}

#[test]
fn passwd_changes_the_hash_and_revokes() {
    let env = Env::new();
    env.add_user("alice", "old pw");
    env.add_user("bob", "bob pw");
    let old = record(&env, "alice");
    // Make password_changed_at observably move: pretend the user was created long ago.
    let text = String::from_utf8(bytes(&env.users())).unwrap();
    let created = old["created_at"].as_i64().unwrap();
    std::fs::write(
        env.users(),
        text.replace(
            &format!("\"password_changed_at\":{created}"),
            "\"password_changed_at\":1000",
        ),
    )
    .unwrap();
    assert_eq!(record(&env, "alice")["password_changed_at"], 1000);
    let token = env.login("alice", "old pw");
    let t0 = now();
    env.cmd()
        .args(["user", "passwd", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("new pw\n")
        .stderr_only(
            0,
            "jwtauth: changed the password of alice; their earlier tokens are revoked\n",
        );
    let t1 = now();
    let new = record(&env, "alice");
    assert_ne!(new["hashed_password"], old["hashed_password"]);
    assert_eq!(
        check(&env, new["hashed_password"].as_str().unwrap(), "new pw\n"),
        0
    );
    let changed = new["password_changed_at"].as_i64().unwrap();
    assert!((t0..=t1).contains(&changed), "{changed}");
    assert_eq!(new["created_at"], old["created_at"]);
    assert_eq!(new["disabled"], false);
    let revoked = revocations_json(&env);
    // Version 2: the login before began a session (SPEC §13).
    assert_eq!(revoked["version"], 2);
    let at = revoked["users"]["alice"].as_i64().expect("alice revoked");
    assert!((t0..=t1).contains(&at), "{at}");
    assert!(revoked["users"].get("bob").is_none());
    // Old password refused, new one works, the old token is revoked.
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("old pw\n")
        .stderr_only(5, LOGIN_REFUSED);
    env.cmd().args(["verify", &token]).assert().code(4);
    let fresh = env.login("alice", "new pw");
    env.cmd()
        .args(["verify", &fresh])
        .assert()
        .code(0)
        .stdout("alice\n");
    // bob is untouched.
    env.login("bob", "bob pw");
}

#[test]
fn disable_enable_remove_and_their_revocations() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw");
    env.add_user("carol", "pw");
    let token = env.login("alice", "pw");

    let t0 = now();
    env.cmd()
        .args(["user", "disable", "alice"])
        .stderr_only(0, "jwtauth: disabled user (tokens revoked) alice\n");
    let t1 = now();
    assert_eq!(record(&env, "alice")["disabled"], true);
    let at = revocations_json(&env)["users"]["alice"]
        .as_i64()
        .expect("revoked");
    assert!((t0..=t1).contains(&at));
    env.cmd().args(["verify", &token]).assert().code(4);
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .stderr_only(5, LOGIN_REFUSED);
    // Disabling twice is fine.
    env.cmd()
        .args(["-q", "user", "disable", "alice"])
        .assert()
        .code(0)
        .stderr("");

    // enable does not record a revocation (carol has none; alice's mark stays as it was).
    let state_before = bytes(&env.state());
    env.cmd()
        .args(["user", "enable", "alice"])
        .stderr_only(0, "jwtauth: enabled user alice\n");
    env.cmd().args(["user", "enable", "carol"]).assert().code(0);
    assert_eq!(
        bytes(&env.state()),
        state_before,
        "enable wrote no revocation"
    );
    assert_eq!(record(&env, "alice")["disabled"], false);
    env.login("alice", "pw");

    // remove revokes and deletes.
    env.cmd()
        .args(["user", "remove", "bob"])
        .stderr_only(0, "jwtauth: removed user bob (tokens revoked)\n");
    assert!(users_json(&env)["users"].get("bob").is_none());
    assert!(revocations_json(&env)["users"]["bob"].is_i64());
    assert!(revocations_json(&env)["users"].get("carol").is_none());
    env.cmd()
        .args(["user", "remove", "bob"])
        .assert()
        .code(6)
        .stderr("jwtauth: no such user: bob\n");
    env.cmd()
        .args(["login", "bob", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(5)
        .stderr(LOGIN_REFUSED);
    // The name can be added again.
    env.add_user("bob", "pw2");
    env.login("bob", "pw2");
}

#[test]
fn enable_alone_writes_no_revocation_file() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.cmd().args(["user", "enable", "alice"]).assert().code(0);
    assert!(!env.state().exists());
}

#[test]
fn login_refusals_share_one_message() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw");
    env.add_user("dis", "pw");
    env.cmd().args(["user", "disable", "dis"]).assert().code(0);
    for (name, pw) in [
        ("alice", "wrong"),
        ("nobody", "pw"),
        ("dis", "pw"),
        ("alice", "PW"),
    ] {
        env.cmd()
            .args(["login", name, "--password-stdin"])
            .write_stdin(format!("{pw}\n"))
            .timeout(LIMIT)
            .stderr_only(5, LOGIN_REFUSED);
    }
    // An unknown user with no users file at all.
    let fresh = Env::new();
    fresh.init();
    fresh
        .cmd()
        .args(["login", "nobody", "--password-stdin"])
        .write_stdin("pw\n")
        .timeout(LIMIT)
        .assert()
        .code(5)
        .stderr(LOGIN_REFUSED);
    assert!(!fresh.users().exists());
    env.login("alice", "pw");
}

// ---------------------------------------------------------------------------------------------
// corrupt files
// ---------------------------------------------------------------------------------------------

/// Asserts a one-line exit-8 error naming `path`, and (if given) `line L column C`.
fn assert_corrupt(out: &std::process::Output, path: &Path, pos: Option<(u32, u32)>, what: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(8), "{what}: {err}");
    assert_eq!(out.stdout, b"", "{what}");
    assert!(
        err.starts_with(&format!("jwtauth: {}: ", path.display())),
        "{what}: {err:?}"
    );
    assert!(
        err.ends_with('\n') && err.lines().count() == 1,
        "{what}: {err:?}"
    );
    if let Some((l, c)) = pos {
        assert!(
            err.contains(&format!("line {l} column {c}")),
            "{what}: {err:?}"
        );
    }
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Expected position, `None` for a version error.
    pos: Option<(u32, u32)>,
}

fn case(name: &'static str, bytes: &[u8], pos: Option<(u32, u32)>) -> Case {
    Case {
        name,
        bytes: bytes.to_vec(),
        pos,
    }
}

fn corrupt_users_cases(h: &str) -> Vec<Case> {
    vec![
        // A 0-byte file is an empty store (SPEC §15, safety.rs); whitespace alone is not.
        case("only a newline", b"\n", Some((2, 0))),
        case("truncated", br#"{"version": 1, "users": {"alice": {"username": "al"#, Some((1, 50))),
        case("garbage", b"\x00\xffnot json at all", Some((1, 1))),
        case("trailing garbage", b"{\"version\": 1, \"users\": {}}\n}", Some((2, 1))),
        case("version is a string", br#"{"version": "1", "users": {}}"#, Some((1, 15))),
        case("users is an array", b"{\"version\": 1,\n  \"users\": []}", Some((2, 11))),
        case("users is a number", b"{\"version\": 1,\n\"users\": 5}", Some((2, 10))),
        case("no version", br#"{"users": {}}"#, Some((1, 13))),
        case(
            "record has a wrong type",
            format!("{{\"version\": 1, \"users\": {{\n\"alice\": {{\"username\": \"alice\", \"disabled\": \"no\", \"hashed_password\": \"{h}\"}}}}}}").as_bytes(),
            Some((2, 47)),
        ),
        case("record is a number", b"{\"version\": 1, \"users\": {\n\"alice\": 5}}", Some((2, 10))),
        case("version 2", br#"{"version": 2, "users": {}}"#, None),
    ]
}

#[test]
fn corrupt_users_file_is_never_overwritten() {
    let env = Env::new();
    env.init();
    let h = hash4(&env, "pw");
    for c in corrupt_users_cases(&h) {
        std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
        std::fs::write(env.users(), &c.bytes).unwrap();
        let pos = c.pos;
        let runs: Vec<(&str, Vec<&str>, &str)> = vec![
            (
                "user add",
                vec!["user", "add", "bob", "--cost", "4", "--password-stdin"],
                "pw\n",
            ),
            (
                "user add --hash",
                vec!["user", "add", "bob", "--hash", &h],
                "",
            ),
            (
                "user passwd",
                vec!["user", "passwd", "alice", "--cost", "4", "--password-stdin"],
                "pw\n",
            ),
            ("user disable", vec!["user", "disable", "alice"], ""),
            ("user enable", vec!["user", "enable", "alice"], ""),
            ("user remove", vec!["user", "remove", "alice"], ""),
            ("user list", vec!["user", "list"], ""),
            ("user list --json", vec!["user", "list", "--json"], ""),
            ("user show", vec!["user", "show", "alice"], ""),
            ("login", vec!["login", "alice", "--password-stdin"], "pw\n"),
        ];
        for (what, args, stdin) in runs {
            if c.name.starts_with("record ") && what.starts_with("user add") {
                // Adding bob does not read alice's record (records are parsed lazily, so a
                // 100,000-user file is not parsed whole); alice's bytes are kept as they are.
                continue;
            }
            let out = env
                .cmd()
                .args(&args)
                .write_stdin(stdin)
                .timeout(LIMIT)
                .output()
                .unwrap();
            assert_corrupt(&out, &env.users(), pos, &format!("{}: {what}", c.name));
            assert_eq!(
                bytes(&env.users()),
                c.bytes,
                "{}: {what} changed the file",
                c.name
            );
            if c.pos.is_none() {
                let err = stderr_of(&out);
                assert!(err.contains("unsupported file version 2"), "{err}");
            }
        }
        assert!(!env.state().exists(), "{}: nothing was revoked", c.name);
    }
}

#[test]
fn corrupt_state_file_is_never_overwritten() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw");
    let token = env.login("alice", "pw");
    let users_before = bytes(&env.users());
    let cases = vec![
        // A 0-byte file is an empty store (SPEC §15, safety.rs); whitespace alone is not.
        case("only a newline", b"\n", Some((2, 0))),
        case(
            "truncated",
            b"{\"version\": 1, \"tokens\": {\"abc\": 17",
            Some((1, 35)),
        ),
        case("garbage", b"revocations!", Some((1, 1))),
        case(
            "exp is a string",
            b"{\"version\": 1,\n\"tokens\": {\"j\": \"soon\"}, \"users\": {}}",
            Some((2, 22)),
        ),
        case(
            "tokens is an array",
            br#"{"version": 1, "tokens": [], "users": {}}"#,
            Some((1, 25)),
        ),
        case(
            "user time is a float",
            b"{\"version\": 1, \"tokens\": {},\n\"users\": {\"alice\": 1.5}}",
            Some((2, 22)),
        ),
        // Version 2 is the state file with sessions (SPEC §13); 3 is not known.
        case(
            "version 3",
            br#"{"version": 3, "tokens": {}, "users": {}}"#,
            None,
        ),
    ];
    for c in cases {
        std::fs::write(env.state(), &c.bytes).unwrap();
        let runs: Vec<(&str, Vec<&str>, &str)> = vec![
            ("logout --all", vec!["logout", "--all", "alice"], ""),
            (
                "logout --all other",
                vec!["logout", "--all", "someone-else", "--force"],
                "",
            ),
            ("logout TOKEN", vec!["logout", &token], ""),
            (
                "user passwd",
                vec!["user", "passwd", "alice", "--cost", "4", "--password-stdin"],
                "pw2\n",
            ),
            ("user disable", vec!["user", "disable", "alice"], ""),
            ("user remove", vec!["user", "remove", "alice"], ""),
            ("revocations list", vec!["revocations", "list"], ""),
            ("revocations prune", vec!["revocations", "prune"], ""),
            ("verify", vec!["verify", &token], ""),
            ("login", vec!["login", "alice", "--password-stdin"], "pw\n"),
        ];
        for (what, args, stdin) in runs {
            let out = env
                .cmd()
                .args(&args)
                .write_stdin(stdin)
                .timeout(LIMIT)
                .output()
                .unwrap();
            assert_corrupt(&out, &env.state(), c.pos, &format!("{}: {what}", c.name));
            assert_eq!(
                bytes(&env.state()),
                c.bytes,
                "{}: {what} changed the file",
                c.name
            );
            assert_eq!(
                bytes(&env.users()),
                users_before,
                "{}: {what} changed users.json",
                c.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn created_files_are_0600_and_directories_0700() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw");
    env.cmd()
        .args(["logout", "--all", "alice"])
        .assert()
        .code(0);
    let data = env.path().join("data");
    let config = env.path().join("config");
    for d in [
        &data,
        &data.join("jwtauth"),
        &config,
        &config.join("jwtauth"),
    ] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert_eq!(
        entries(&data.join("jwtauth")),
        [
            "revocations.json",
            "revocations.json.idx",
            "revocations.json.lock",
            "users.json",
            "users.json.lock"
        ]
    );
    for f in entries(&data.join("jwtauth")) {
        assert_eq!(mode(&data.join("jwtauth").join(&f)), 0o600, "{f}");
    }
    assert_eq!(
        entries(&config.join("jwtauth")),
        ["secret", "secret.alg", "secret.lock"]
    );
    for f in entries(&config.join("jwtauth")) {
        assert_eq!(mode(&config.join("jwtauth").join(&f)), 0o600, "{f}");
    }
    // Files given by flag, in new nested directories.
    let users = env.path().join("a/b/users.json");
    let state = env.path().join("c/d/state.json");
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
        .arg(&users)
        .arg("--state")
        .arg(&state)
        .write_stdin("pw\n")
        .assert()
        .code(0);
    env.cmd()
        .args(["user", "disable", "bob", "--users"])
        .arg(&users)
        .env("JWTAUTH_STATE", &state)
        .assert()
        .code(0);
    for d in ["a", "a/b", "c", "c/d"] {
        assert_eq!(mode(&env.path().join(d)), 0o700, "{d}");
    }
    for f in [&users, &state] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // No temp files left behind.
    assert_eq!(
        entries(&env.path().join("a/b")),
        ["users.json", "users.json.lock"]
    );
    assert_eq!(
        entries(&env.path().join("c/d")),
        ["state.json", "state.json.idx", "state.json.lock"]
    );
}

#[test]
fn rewriting_keeps_0600_and_never_widens() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.add_user("alice", "pw");
    assert_eq!(mode(&env.users()), 0o600);
    env.add_user("bob", "pw");
    env.cmd().args(["user", "disable", "bob"]).assert().code(0);
    assert_eq!(mode(&env.users()), 0o600);
    assert_eq!(mode(&env.state()), 0o600);
    // A mode an operator chose is kept (SPEC §8: a rewrite keeps the file's mode).
    std::fs::set_permissions(env.users(), std::fs::Permissions::from_mode(0o644)).unwrap();
    env.cmd().args(["user", "enable", "bob"]).assert().code(0);
    assert_eq!(mode(&env.users()), 0o644);
    // A narrower one stays narrower.
    std::fs::set_permissions(env.state(), std::fs::Permissions::from_mode(0o400)).unwrap();
    env.cmd()
        .args(["logout", "--all", "alice"])
        .assert()
        .code(0);
    assert_eq!(mode(&env.state()), 0o400);
    assert!(revocations_json(&env)["users"]["alice"].is_i64());
}

// ---------------------------------------------------------------------------------------------
// locking and concurrency
// ---------------------------------------------------------------------------------------------

#[test]
fn a_held_lock_times_out_with_exit_8_naming_the_file() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    let lock_path = env.path().join("data/jwtauth/users.json.lock");
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let start = Instant::now();
    let out = env
        .cmd()
        .args(["user", "add", "bob", "--cost", "4", "--password-stdin"])
        .env("JWTAUTH_LOCK_TIMEOUT", "0.2")
        .write_stdin("pw\n")
        .timeout(LIMIT)
        .output()
        .unwrap();
    let took = start.elapsed();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    // The holder wrote no pid into the lock file, so none is named.
    assert_eq!(
        err,
        format!(
            "jwtauth: {}: locked by another process (gave up after 0.2s)\n",
            env.users().display()
        )
    );
    assert_eq!(out.stdout, b"");
    assert!(took >= Duration::from_millis(200), "waited {took:?}");
    assert!(took < Duration::from_secs(5), "waited {took:?}");
    assert_eq!(bytes(&env.users()), before);
    // Other writers of the same file wait too.
    env.cmd()
        .args(["user", "disable", "alice"])
        .env("JWTAUTH_LOCK_TIMEOUT", "0")
        .assert()
        .code(8)
        .stderr(predicates::str::contains("locked by another process"));
    // Readers do not take the lock.
    env.cmd().args(["user", "show", "alice"]).assert().code(0);
    assert_eq!(bytes(&env.users()), before);
    held.unlock().unwrap();
    env.cmd()
        .args(["user", "add", "bob", "--cost", "4", "--password-stdin"])
        .env("JWTAUTH_LOCK_TIMEOUT", "0.2")
        .write_stdin("pw\n")
        .assert()
        .code(0);
    // A bad timeout value is a usage error.
    env.cmd()
        .args(["user", "list"])
        .env("JWTAUTH_LOCK_TIMEOUT", "soon")
        .assert()
        .code(2);
}

fn spawn_with_stdin(mut cmd: std::process::Command, stdin: &str) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child
}

#[test]
fn fifty_concurrent_adds_lose_nothing() {
    let env = Env::new();
    let names: Vec<String> = (0..50).map(|i| format!("user{i:02}")).collect();
    let children: Vec<Child> = names
        .iter()
        .map(|n| {
            let mut cmd = env.std_cmd();
            cmd.args(["user", "add", n, "--cost", "4", "--password-stdin"]);
            spawn_with_stdin(cmd, &format!("pw-{n}\n"))
        })
        .collect();
    for (n, child) in names.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{n}: {}", stderr_of(&out));
    }
    let doc = users_json(&env);
    let users = doc["users"].as_object().unwrap();
    assert_eq!(users.len(), 50);
    for n in &names {
        let h = users[n]["hashed_password"].as_str().unwrap();
        assert_eq!(check(&env, h, &format!("pw-{n}\n")), 0, "{n}");
    }
    assert_eq!(
        entries(&env.path().join("data/jwtauth")),
        ["users.json", "users.json.lock"],
        "no temp files left"
    );
}

#[test]
fn fifty_concurrent_passwd_and_disable_lose_nothing() {
    let env = Env::new();
    let old = hash4(&env, "old");
    let names: Vec<String> = (0..50).map(|i| format!("u{i:02}")).collect();
    write_users(&env.users(), &names, &old);
    let children: Vec<(bool, Child)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut cmd = env.std_cmd();
            let passwd = i % 2 == 0;
            if passwd {
                cmd.args(["user", "passwd", n, "--cost", "4", "--password-stdin"]);
            } else {
                cmd.args(["user", "disable", n]);
            }
            (passwd, spawn_with_stdin(cmd, &format!("new-{n}\n")))
        })
        .collect();
    let kinds: Vec<bool> = children.iter().map(|(p, _)| *p).collect();
    for (n, (_, child)) in names.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{n}: {}", stderr_of(&out));
    }
    let doc = users_json(&env);
    assert_eq!(doc["users"].as_object().unwrap().len(), 50);
    for (n, passwd) in names.iter().zip(kinds) {
        let rec = &doc["users"][n];
        let h = rec["hashed_password"].as_str().unwrap();
        if passwd {
            assert_ne!(h, old, "{n}: password not changed");
            assert_eq!(check(&env, h, &format!("new-{n}\n")), 0, "{n}");
            assert_eq!(rec["disabled"], false, "{n}");
            assert_ne!(rec["password_changed_at"], 0, "{n}");
        } else {
            assert_eq!(h, old, "{n}");
            assert_eq!(rec["disabled"], true, "{n}: not disabled");
        }
    }
    let state = revocations_json(&env);
    let revoked = state["users"].as_object().unwrap();
    assert_eq!(revoked.len(), 50, "{state}");
    for n in &names {
        assert!(revoked[n].is_i64(), "{n}");
    }
}
