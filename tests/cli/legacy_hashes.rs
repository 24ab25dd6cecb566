//! Legacy htpasswd hashes and long passwords (SPEC §15 "Users and hashes"): `$apr1$`
//! (htpasswd's default), `{SHA}` (`htpasswd -s`), `$1$`, `$5$` and `$6$` (`openssl passwd`)
//! are checked wherever a stored hash is and never made; a successful login (`login`, `POST
//! /token`) replaces them with the configured scheme whatever `rehash_on_login` says, `user
//! check` never; `allow_legacy_hashes = false` refuses them; SHA-crypt's rounds are bounded.
//! A stored bcrypt hash is checked on a password's first 72 bytes, as bcrypt made it
//! (`htpasswd -B`, Python bcrypt), while new bcrypt hashes still refuse over 72 bytes; argon2id
//! takes up to 1024 bytes.
//!
//! The hashes are made by the real tools (`htpasswd`, `openssl passwd`, Python `bcrypt`), so
//! the test checks jwtauth against them rather than against itself.
use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use common::{Env, Exits, bytes, json, stderr_str, stdout_str};

/// The cheapest bcrypt target, so upgrades on login stay fast.
const BCRYPT4: &str = "bcrypt_cost = 4\n";
/// A small argon2id target.
const SMALL_ARGON2: &str =
    "password_scheme = \"argon2id\"\nargon2_memory_kib = 64\nargon2_time = 1\n";

/// True if `tool` runs; else false after `common::skip` (a failure in CI).
fn tool(tool: &str) -> bool {
    let ok = StdCommand::new(tool).arg("version").output().is_ok();
    if !ok {
        common::skip(&format!("test peer missing: {tool}"));
    }
    ok
}

/// What `program args` prints on stdout, trimmed; it must succeed.
fn run(program: &str, args: &[&str]) -> String {
    let out = StdCommand::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The hash of an `htpasswd -n…` line.
fn htpasswd_hash(args: &[&str]) -> String {
    let line = run("htpasswd", args);
    line.split_once(':').unwrap().1.to_string()
}

fn stored(env: &Env, name: &str) -> String {
    json(&bytes(&env.users()))["users"][name]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string()
}

fn with_stdin(cmd: &mut assert_cmd::Command, pw: &str) -> i32 {
    cmd.write_stdin(format!("{pw}\n"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

fn login(env: &Env, name: &str, pw: &str) -> i32 {
    with_stdin(env.cmd().args(["login", name, "--password-stdin"]), pw)
}

fn user_check(env: &Env, name: &str, pw: &str) -> i32 {
    with_stdin(
        env.cmd().args(["user", "check", name, "--password-stdin"]),
        pw,
    )
}

fn hash_check(env: &Env, hash: &str, pw: &str) -> i32 {
    with_stdin(
        env.cmd()
            .args(["hash", "--check", hash, "--password-stdin"]),
        pw,
    )
}

/// The README's htpasswd migration recipe, run as it is written: a file made by plain
/// `htpasswd -c` (MD5, `$apr1$`) imports, its user logs in, and the hash is then bcrypt.
#[test]
fn the_readme_htpasswd_recipe_works_with_a_plain_htpasswd_file() {
    if !common::htpasswd() {
        return;
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .find("### Operator: import users from an htpasswd file")
        .expect("the recipe's section");
    let start = section + readme[section..].find("```sh\n").expect("its block") + 6;
    let block = &readme[start..start + readme[start..].find("```").expect("closed")];
    assert!(
        block.contains("htpasswd -cb "),
        "made by plain htpasswd -c:\n{block}"
    );
    let env = Env::new();
    let bin_dir = common::bin().parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = env
        .std_cmd_for("bash")
        .args(["--norc", "--noprofile", "-euo", "pipefail", "-c", block])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{block}\n{out:?}");
    let err = stderr_str(&out);
    assert!(
        err.contains("imported 2, skipped 1: 1 crypt or plain text"),
        "{err}"
    );
    // erin's $apr1$ hash became bcrypt at the default cost on her first login.
    assert!(
        stored(&env, "erin").starts_with("$2b$12$"),
        "{}",
        stored(&env, "erin")
    );
    assert_eq!(user_check(&env, "erin", "erin pw"), 0);
    assert_eq!(user_check(&env, "erin", "wrong"), 5);
}

/// Every legacy scheme, made by the tools that make them: checked by `hash --check`, `user
/// check` (which writes nothing) and `login`, which replaces it with bcrypt although
/// `rehash_on_login = false`.
#[test]
fn every_legacy_scheme_is_checked_and_replaced_at_login_whatever_rehash_on_login_says() {
    if !common::htpasswd() || !tool("openssl") {
        return;
    }
    let env = Env::new();
    env.write_config(&format!("{BCRYPT4}rehash_on_login = false\n"));
    let pw = "legacy pw";
    let hashes = [
        ("apr1", htpasswd_hash(&["-nbm", "u", pw])),
        ("sha1", htpasswd_hash(&["-nbs", "u", pw])),
        ("apr1", run("openssl", &["passwd", "-apr1", pw])),
        ("md5-crypt", run("openssl", &["passwd", "-1", pw])),
        ("sha256-crypt", run("openssl", &["passwd", "-5", pw])),
        ("sha512-crypt", run("openssl", &["passwd", "-6", pw])),
        (
            "sha512-crypt",
            run(
                "openssl",
                &["passwd", "-6", "-salt", "rounds=2000$saltsalt", pw],
            ),
        ),
    ];
    assert!(hashes[0].1.starts_with("$apr1$") && hashes[1].1.starts_with("{SHA}"));
    for (i, (scheme, h)) in hashes.iter().enumerate() {
        assert_eq!(hash_check(&env, h, pw), 0, "{h}");
        assert_eq!(hash_check(&env, h, "wrong"), 1, "{h}");
        let name = format!("u{i}");
        env.cmd()
            .args(["user", "add", &name, "--hash", h])
            .stderr_only(0, format!("jwtauth: added user {name}\n"));
        let shown = json(
            &env.cmd()
                .args(["--json", "user", "show", &name])
                .exits(0)
                .stdout,
        );
        assert_eq!(shown["hash_scheme"], *scheme, "{h}");
        assert_eq!(shown["legacy"], true);
        assert_eq!(shown["hash_supported"], true);
        let text = stdout_str(&env.cmd().args(["user", "show", &name]).exits(0));
        assert!(
            text.contains(&format!("legacy_hash          {scheme} (")),
            "{text}"
        );
        // A check writes nothing, a wrong password neither.
        let before = bytes(&env.users());
        assert_eq!(user_check(&env, &name, pw), 0);
        assert_eq!(login(&env, &name, "wrong"), 5);
        assert_eq!(bytes(&env.users()), before, "{h}");
        // A login replaces it, with rehash_on_login = false.
        assert_eq!(login(&env, &name, pw), 0, "{h}");
        let new = stored(&env, &name);
        assert!(new.starts_with("$2b$04$"), "{h} -> {new}");
        assert_eq!(login(&env, &name, pw), 0);
        assert_eq!(stored(&env, &name), new, "upgraded once");
        let shown = json(
            &env.cmd()
                .args(["--json", "user", "show", &name])
                .exits(0)
                .stdout,
        );
        assert_eq!(
            (shown["hash_scheme"].as_str(), &shown["legacy"]),
            (Some("bcrypt"), &false.into())
        );
    }
    let list = stdout_str(&env.cmd().args(["user", "list"]).exits(0));
    assert!(!list.contains("legacy"), "all upgraded:\n{list}");
    // `hash --scheme` offers no legacy scheme.
    env.cmd()
        .args(["hash", "--scheme", "apr1", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(2)
        .stdout("");
}

/// The upgrade goes to argon2id when that is the configured scheme; `user list` marks a
/// legacy hash until then.
#[test]
fn a_legacy_hash_is_upgraded_to_argon2id_when_configured() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    env.write_config(SMALL_ARGON2);
    let h = htpasswd_hash(&["-nb", "u", "pw"]);
    assert!(h.starts_with("$apr1$"), "htpasswd's default is MD5: {h}");
    std::fs::write(env.path().join("site.htpasswd"), format!("grace:{h}\n")).unwrap();
    env.cmd()
        .args(["user", "import", "site.htpasswd"])
        .stderr_only(0, "jwtauth: imported 1, skipped 0\n");
    let list = stdout_str(&env.cmd().args(["user", "list"]).exits(0));
    assert!(list.contains("enabled, legacy hash"), "{list}");
    let v = json(&env.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    assert_eq!(v["users"][0]["hash_scheme"], "apr1");
    assert_eq!(v["users"][0]["legacy"], true);
    assert_eq!(login(&env, "grace", "pw"), 0);
    let new = stored(&env, "grace");
    assert!(new.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{new}");
    assert_eq!(login(&env, "grace", "pw"), 0);
}

/// `POST /token` replaces a legacy hash too (the same `auth::authenticate`).
#[test]
fn a_login_over_http_replaces_a_legacy_hash() {
    let env = Env::new();
    env.init();
    env.write_config(&format!("{BCRYPT4}rehash_on_login = false\n"));
    // Apache's manual: "myPassword".
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--hash",
            "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
        ])
        .exits(0);
    let mut child = env
        .std_cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _server = Killed(child);
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("serve says where it listens").unwrap();
        if let Some(url) = line.strip_prefix("jwtauth: listening on ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let token = |pw: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{base}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=password&username=alice&password={pw}"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(token("wrong"), 400);
    assert!(stored(&env, "alice").starts_with("$apr1$"));
    assert_eq!(token("myPassword"), 200);
    assert!(
        stored(&env, "alice").starts_with("$2b$04$"),
        "{}",
        stored(&env, "alice")
    );
    assert_eq!(token("myPassword"), 200);
}

/// Kills the server when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `allow_legacy_hashes = false`: a stored legacy hash is an unsupported hash (login exit 8
/// naming the user and the file, nothing written), `--hash` and `--check` exit 2, `user import`
/// skips the line with the reason.
#[test]
fn allow_legacy_hashes_false_refuses_them_as_unsupported() {
    let env = Env::new();
    let apr1 = "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/";
    let sha = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=";
    env.cmd()
        .args(["user", "add", "alice", "--hash", apr1])
        .exits(0);
    env.write_config("allow_legacy_hashes = false\n");
    let before = bytes(&env.users());
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("myPassword\n")
        .assert()
        .code(8)
        .stdout("")
        .get_output()
        .clone();
    let err = stderr_str(&out);
    assert!(
        err.starts_with("jwtauth: ")
            && err.lines().count() == 1
            && err.contains("\"alice\"")
            && err.contains(&env.users().display().to_string())
            && err.contains("allow_legacy_hashes = false")
            && !err.contains("r31."),
        "{err}"
    );
    assert_eq!(user_check(&env, "alice", "myPassword"), 8);
    assert_eq!(bytes(&env.users()), before);
    assert!(!env.secret().exists(), "a failed login creates no key");
    let refused = "jwtauth: password hash: apr1 is a legacy scheme, refused by the configuration (allow_legacy_hashes = false)\n";
    env.cmd()
        .args(["user", "add", "bob", "--hash", apr1])
        .stderr_only(2, refused);
    env.cmd()
        .args(["user", "passwd", "alice", "--hash", apr1])
        .stderr_only(2, refused);
    env.cmd()
        .args(["hash", "--check", apr1, "--password-stdin"])
        .write_stdin("myPassword\n")
        .stderr_only(2, refused);
    assert_eq!(bytes(&env.users()), before);
    // Listed as unsupported, still known for what it is.
    let list = stdout_str(&env.cmd().args(["user", "list"]).exits(0));
    assert!(list.contains("enabled, unsupported hash"), "{list}");
    let shown = json(
        &env.cmd()
            .args(["--json", "user", "show", "alice"])
            .exits(0)
            .stdout,
    );
    assert_eq!(shown["hash_supported"], false);
    assert_eq!(shown["legacy"], true);
    assert_eq!(shown["hash_scheme"], "apr1");
    // Import: the legacy lines are skipped with the reason, bcrypt ones still import.
    let b = stdout_str(
        &env.cmd()
            .args(["hash", "--cost", "4", "--password-stdin"])
            .write_stdin("pw\n")
            .exits(0),
    );
    std::fs::write(
        env.path().join("f"),
        format!("carol:{apr1}\ndave:{sha}\nerin:{}\n", b.trim()),
    )
    .unwrap();
    env.cmd().args(["user", "import", "f"]).stderr_only(
        0,
        "jwtauth: f:1: \"carol\" skipped: MD5 ($apr1$) hash, refused by allow_legacy_hashes = false\n\
         jwtauth: f:2: \"dave\" skipped: SHA-1 ({SHA}) hash, refused by allow_legacy_hashes = false\n\
         jwtauth: imported 1, skipped 2: 1 MD5 ($apr1$), 1 SHA-1 ({SHA})\n",
    );
    // Allowed again (the default): alice logs in, and her hash is replaced.
    env.write_config("bcrypt_cost = 4\n");
    assert_eq!(login(&env, "alice", "myPassword"), 0);
    assert!(stored(&env, "alice").starts_with("$2b$04$"));
}

/// SHA-crypt's `rounds=` is bounded: a hostile value is refused before any round is
/// computed (a glibc maximum of 999,999,999 would take minutes), and so is a malformed hash.
#[test]
fn sha_crypt_rounds_out_of_bounds_are_refused_before_computing() {
    let env = Env::new();
    let digest = ".".repeat(86);
    let cases = [
        (
            format!("$6$rounds=999999999$saltsalt${digest}"),
            "jwtauth: $6$ hash: rounds=999999999 is out of range: 1000-1000000\n",
        ),
        (
            format!("$5$rounds=4294967296$saltsalt${}", ".".repeat(43)),
            "jwtauth: $5$ hash: rounds=4294967296 is out of range: 1000-1000000\n",
        ),
        (
            format!("$6$rounds=999$saltsalt${digest}"),
            "jwtauth: $6$ hash: rounds=999 is out of range: 1000-1000000\n",
        ),
        (
            format!("$6$rounds=1e9$saltsalt${digest}"),
            "jwtauth: $6$ hash: rounds= must be a decimal number: 1000-1000000\n",
        ),
        (
            "$6$saltsalt$short".to_string(),
            "jwtauth: $6$ hash: expected a digest of 86 characters of [./0-9A-Za-z] after the salt\n",
        ),
        (
            "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA".to_string(),
            "jwtauth: $apr1$ hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt\n",
        ),
        (
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g".to_string(),
            "jwtauth: {SHA} hash: expected 28 characters of base64 (a SHA-1 digest) after {SHA}\n",
        ),
    ];
    for (h, err) in &cases {
        env.cmd()
            .args(["hash", "--check", h, "--password-stdin"])
            .write_stdin("pw\n")
            .timeout(Duration::from_secs(10))
            .stderr_only(2, *err);
        env.cmd()
            .args(["user", "add", "bob", "--hash", h])
            .stderr_only(2, *err);
    }
    assert!(!env.users().exists());
    // In the users file: a broken record (exit 8), at once.
    env.add_user("alice", "pw");
    let text = std::fs::read_to_string(env.users()).unwrap();
    let h = stored(&env, "alice");
    std::fs::write(env.users(), text.replace(&h, &cases[0].0)).unwrap();
    let before = bytes(&env.users());
    let out = env
        .cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .timeout(Duration::from_secs(10))
        .assert()
        .code(8)
        .stdout("")
        .get_output()
        .clone();
    assert!(
        stderr_str(&out).contains("\"alice\""),
        "{}",
        stderr_str(&out)
    );
    assert_eq!(bytes(&env.users()), before);
}

/// A 100-byte password: `htpasswd -B` hashes its first 72 bytes, and jwtauth checks it so
/// after import; the login keeps that hash when the configured scheme is bcrypt (the password
/// would not fit) and moves it to argon2id when that is configured.
#[test]
fn a_long_password_logs_in_against_an_htpasswd_bcrypt_hash() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    env.write_config(BCRYPT4);
    let long = "0123456789".repeat(10);
    let h = htpasswd_hash(&["-nbB", "-C", "4", "u", &long]);
    std::fs::write(env.path().join("site.htpasswd"), format!("ivan:{h}\n")).unwrap();
    env.cmd()
        .args(["user", "import", "site.htpasswd"])
        .stderr_only(0, "jwtauth: imported 1, skipped 0\n");
    assert_eq!(hash_check(&env, &h, &long), 0);
    assert_eq!(
        hash_check(&env, &h, &long[..72]),
        0,
        "bcrypt reads 72 bytes"
    );
    assert_eq!(hash_check(&env, &h, &long[..71]), 1);
    assert_eq!(login(&env, "ivan", &long), 0);
    assert_eq!(
        stored(&env, "ivan"),
        h,
        "not rehashed to bcrypt: it would not fit"
    );
    assert_eq!(user_check(&env, "ivan", &long), 0);
    env.write_config(SMALL_ARGON2);
    assert_eq!(login(&env, "ivan", &long), 0);
    let new = stored(&env, "ivan");
    assert!(new.starts_with("$argon2id$"), "{new}");
    // argon2id uses every byte.
    assert_eq!(login(&env, "ivan", &long), 0);
    assert_eq!(login(&env, "ivan", &long[..72]), 5);
}

/// Python's bcrypt (5.0 refuses over 72 bytes, so it hashes the first 72 as older versions
/// and htpasswd did): a user with that hash logs in with the whole long password.
#[test]
fn a_long_password_logs_in_against_a_python_bcrypt_hash_of_its_first_72_bytes() {
    let Some(py) = common::python() else {
        return;
    };
    let env = Env::new();
    env.write_config(BCRYPT4);
    let long = "x".repeat(72) + &"y".repeat(28);
    let out = StdCommand::new(py)
        .args([
            "-c",
            "import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode()[:72], bcrypt.gensalt(4)).decode())",
            &long,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let h = String::from_utf8(out.stdout).unwrap().trim().to_string();
    env.cmd()
        .args(["user", "add", "judy", "--hash", &h])
        .exits(0);
    assert_eq!(login(&env, "judy", &long), 0);
    assert_eq!(login(&env, "judy", &"x".repeat(71)), 5);
}

/// New bcrypt hashes still refuse over 72 bytes (exit 2, nothing written); argon2id takes up
/// to 1024; over 1024 is refused everywhere.
#[test]
fn new_hashes_refuse_what_their_scheme_cannot_take() {
    let env = Env::new();
    env.write_config(&format!(
        "{BCRYPT4}argon2_memory_kib = 64\nargon2_time = 1\n"
    ));
    env.add_user("kim", "short");
    let before = bytes(&env.users());
    let p73 = "z".repeat(73);
    let p1024 = "w".repeat(1024);
    let p1025 = "w".repeat(1025);
    let too_long_for_bcrypt = "jwtauth: password: is 73 bytes; bcrypt uses at most 72, and longer passwords are refused rather than truncated (argon2id takes up to 1024: --scheme argon2id)\n";
    for args in [
        &["hash", "--password-stdin"][..],
        &["user", "add", "leo", "--password-stdin"],
        &["user", "passwd", "kim", "--password-stdin"],
    ] {
        env.cmd()
            .args(args)
            .write_stdin(format!("{p73}\n"))
            .stderr_only(2, too_long_for_bcrypt);
        env.cmd()
            .args(args)
            .write_stdin(format!("{p1025}\n"))
            .stderr_only(
                2,
                "jwtauth: password: is 1025 bytes; at most 1024 are accepted\n",
            );
    }
    assert_eq!(bytes(&env.users()), before);
    env.cmd()
        .args(["login", "kim", "--password-stdin"])
        .write_stdin(format!("{p1025}\n"))
        .stderr_only(
            2,
            "jwtauth: password: is 1025 bytes; at most 1024 are accepted\n",
        );
    let h = stdout_str(
        &env.cmd()
            .args(["hash", "--scheme", "argon2id", "--password-stdin"])
            .write_stdin(format!("{p1024}\n"))
            .exits(0),
    );
    assert_eq!(hash_check(&env, h.trim(), &p1024), 0);
    assert_eq!(hash_check(&env, h.trim(), &p1024[..1023]), 1);
    assert_eq!(hash_check(&env, h.trim(), &p1025), 2);
    env.cmd()
        .args([
            "user",
            "passwd",
            "kim",
            "--scheme",
            "argon2id",
            "--password-stdin",
        ])
        .write_stdin(format!("{p1024}\n"))
        .exits(0);
    assert_eq!(login(&env, "kim", &p1024), 0);
    assert!(
        stored(&env, "kim").starts_with("$argon2id$"),
        "kept: bcrypt cannot take it"
    );
}
