//! Password schemes (SPEC §11) through the binary: argon2id hashes made, checked and
//! stored beside bcrypt; argon2i/argon2d and out-of-bounds parameters refused; hashes that
//! upgrade themselves on a successful login (`login`, and `POST /token` over HTTP), kept when
//! `rehash_on_login = false`, never by `user check`; and interop both ways with Python's
//! argon2-cffi (the C reference implementation).
//!
//! Most tests use small argon2 parameters (m=64 KiB, t=1) from the configuration, so they stay
//! fast; the interop tests use the defaults on both sides.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Env, Exits, bytes, json, stderr_str, stdout_str};
use serde_json::Value;

const PW: &str = "correct horse battery";
/// A small argon2id configuration: the tests stay fast.
const SMALL: &str = "password_scheme = \"argon2id\"\nargon2_memory_kib = 64\nargon2_time = 1\n";
const SMALL_PREFIX: &str = "$argon2id$v=19$m=64,t=1,p=1$";

fn hash(env: &Env, args: &[&str], pw: &str) -> String {
    let out = env
        .cmd()
        .arg("hash")
        .args(args)
        .arg("--password-stdin")
        .write_stdin(format!("{pw}\n"))
        .exits(0);
    assert_eq!(stderr_str(&out), "");
    stdout_str(&out).trim_end().to_string()
}

fn check(env: &Env, hash: &str, pw: &str) -> i32 {
    env.cmd()
        .args(["hash", "--check", hash, "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}

/// The stored hash of `name`, read from the file itself.
fn stored(env: &Env, name: &str) -> String {
    let doc = json(&bytes(&env.users()));
    doc["users"][name]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string()
}

fn record(env: &Env, name: &str) -> Value {
    json(&bytes(&env.users()))["users"][name].clone()
}

fn login(env: &Env, name: &str, pw: &str) -> std::process::Output {
    env.cmd()
        .args(["login", name, "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .output()
        .unwrap()
}

#[test]
fn hash_makes_and_checks_both_schemes() {
    let env = Env::new();
    env.write_config("argon2_memory_kib = 64\nargon2_time = 1\n");
    // The default scheme is bcrypt.
    let b = hash(&env, &["--cost", "4"], PW);
    assert!(b.starts_with("$2b$04$"), "{b}");
    let a = hash(&env, &["--scheme", "argon2id"], PW);
    assert!(a.starts_with(SMALL_PREFIX), "{a}");
    assert_eq!(a.len(), SMALL_PREFIX.len() + 22 + 1 + 43, "{a}");
    for h in [&a, &b] {
        assert_eq!(check(&env, h, PW), 0, "{h}");
        assert_eq!(check(&env, h, "wrong"), 1, "{h}");
    }
    let out = env
        .cmd()
        .args(["hash", "--check", &a, "--password-stdin", "--json"])
        .write_stdin("wrong\n")
        .exits(1);
    assert_eq!(json(&out.stdout), serde_json::json!({"match": false}));
    // Config password_scheme = argon2id makes it the default; --scheme bcrypt still works.
    env.write_config(SMALL);
    let a2 = hash(&env, &[], PW);
    assert!(a2.starts_with(SMALL_PREFIX), "{a2}");
    assert_ne!(a, a2, "a fresh salt each time");
    assert!(hash(&env, &["--scheme", "bcrypt", "--cost", "4"], PW).starts_with("$2b$04$"));
    // --cost is bcrypt's: with argon2id it is a usage error, not silently ignored.
    env.cmd()
        .args(["hash", "--cost", "5", "--password-stdin"])
        .write_stdin("pw\npw\n")
        .stderr_only(
            2,
            "jwtauth: --cost: is a bcrypt cost, and the scheme is argon2id (its parameters are config argon2_memory_kib, argon2_time and argon2_lanes); add --scheme bcrypt for bcrypt\n",
        );
    // --user prints an htpasswd-style line with the argon2id hash.
    let line = hash(&env, &["--user", "alice"], PW);
    assert!(line.starts_with(&format!("alice:{SMALL_PREFIX}")), "{line}");
}

#[test]
fn owasp_defaults_when_not_configured() {
    let env = Env::new();
    let a = hash(&env, &["--scheme", "argon2id"], PW);
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
    assert_eq!(check(&env, &a, PW), 0);
}

#[test]
fn argon2i_argon2d_and_absurd_parameters_are_refused() {
    let env = Env::new();
    env.write_config(SMALL);
    let good = hash(&env, &[], PW);
    let cases = [
        (
            good.replacen("$argon2id$", "$argon2i$", 1),
            "jwtauth: argon2 hash: argon2i is not supported, only argon2id ($argon2id$v=19$m=…,t=…,p=…$…)\n",
        ),
        (
            good.replacen("$argon2id$", "$argon2d$", 1),
            "jwtauth: argon2 hash: argon2d is not supported, only argon2id ($argon2id$v=19$m=…,t=…,p=…$…)\n",
        ),
        // 4 GiB: refused before anything is allocated.
        (
            good.replacen("m=64", "m=4194304", 1),
            "jwtauth: argon2 hash: m=4194304 is out of range: 8 KiB per lane (8 × p) to 262144 KiB (256 MiB)\n",
        ),
        (
            good.replacen("t=1", "t=1000000", 1),
            "jwtauth: argon2 hash: t=1000000 is out of range: 1-64\n",
        ),
        (
            good.replacen("p=1", "p=100000", 1),
            "jwtauth: argon2 hash: p=100000 is out of range: 1-255\n",
        ),
    ];
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    for (bad, err) in &cases {
        env.cmd()
            .args(["hash", "--check", bad, "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .stderr_only(2, *err);
        env.cmd()
            .args(["user", "add", "bob", "--hash", bad])
            .stderr_only(2, *err);
        env.cmd()
            .args(["user", "passwd", "alice", "--hash", bad])
            .stderr_only(2, *err);
    }
    assert_eq!(bytes(&env.users()), before, "nothing was written");
    // A stored record with such a hash is a broken store (exit 8 naming the user and the
    // file, never the hash), and it is reported as unsupported: no allocation, no crash.
    let huge = good.replacen("m=64", "m=4194304", 1);
    let doc = format!(
        r#"{{"version":1,"users":{{"eve":{{"username":"eve","hashed_password":"{huge}","disabled":false,"created_at":1,"password_changed_at":1}}}}}}"#
    );
    std::fs::write(env.users(), &doc).unwrap();
    let out = login(&env, "eve", PW);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(stdout_str(&out), "");
    let err = stderr_str(&out);
    assert!(
        err.contains("\"eve\"") && err.contains("not a supported password hash"),
        "{err}"
    );
    assert!(!err.contains("4194304"), "the hash is never printed: {err}");
    let shown = json(
        &env.cmd()
            .args(["user", "show", "eve", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(shown["hash_supported"], false);
    assert_eq!(bytes(&env.users()), doc.as_bytes());
}

#[test]
fn argon2id_hashes_are_stored_and_log_in() {
    let env = Env::new();
    env.write_config(SMALL);
    // `user add` hashes with the configured scheme.
    env.cmd()
        .args(["user", "add", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    assert!(stored(&env, "alice").starts_with(SMALL_PREFIX));
    let before = bytes(&env.users());
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert_eq!(
        bytes(&env.users()),
        before,
        "a current hash is not rewritten"
    );
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("wrong\n")
        .stderr_only(
            5,
            "jwtauth: login refused: incorrect username or password\n",
        );
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    // `user add --hash` and `user passwd --hash` take an argon2id hash as it is.
    let h = hash(&env, &[], "other");
    env.cmd()
        .args(["user", "add", "bob", "--hash", &h])
        .exits(0);
    assert_eq!(stored(&env, "bob"), h);
    assert_eq!(login(&env, "bob", "other").status.code(), Some(0));
    env.cmd()
        .args(["user", "passwd", "alice", "--hash", &h])
        .exits(0);
    assert_eq!(stored(&env, "alice"), h);
    // `user passwd` with a password uses the configured scheme; --scheme bcrypt overrides.
    env.cmd()
        .args([
            "user",
            "passwd",
            "alice",
            "--scheme",
            "bcrypt",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    assert!(stored(&env, "alice").starts_with("$2b$04$"));
}

#[test]
fn login_rehashes_bcrypt_to_argon2id_and_keeps_the_rest_of_the_record() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    env.add_user("bob", "bob-pw");
    // A field this version does not know, in the record and in the document, must survive.
    let text = String::from_utf8(bytes(&env.users())).unwrap();
    let text = text
        .replacen(
            "\"username\":\"alice\"",
            "\"username\":\"alice\",\"shell\":\"/bin/sh\"",
            1,
        )
        .replacen("\"version\": 1", "\"version\": 1, \"site\": \"x\"", 1);
    std::fs::write(env.users(), &text).unwrap();
    let old = record(&env, "alice");
    assert!(
        old["hashed_password"]
            .as_str()
            .unwrap()
            .starts_with("$2b$04$")
    );
    let bob_before = record(&env, "bob");
    env.write_config(SMALL);
    // `user check` writes nothing, rehash or not.
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    assert_eq!(bytes(&env.users()), text.as_bytes());
    // A wrong password rehashes nothing.
    assert_eq!(login(&env, "alice", "wrong").status.code(), Some(5));
    assert_eq!(bytes(&env.users()), text.as_bytes());
    // The login succeeds, silently, and the stored hash is now argon2id.
    let out = login(&env, "alice", PW);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr_str(&out), "");
    let new = record(&env, "alice");
    let h = new["hashed_password"].as_str().unwrap();
    assert!(h.starts_with(SMALL_PREFIX), "{h}");
    assert_eq!(check(&env, h, PW), 0);
    // Everything else is as it was: the password did not change, so neither did
    // password_changed_at; unknown fields stay; bob is untouched.
    let mut expected = old.clone();
    expected["hashed_password"] = Value::from(h);
    assert_eq!(new, expected);
    assert_eq!(new["shell"], "/bin/sh");
    assert_eq!(json(&bytes(&env.users()))["site"], "x");
    assert_eq!(record(&env, "bob"), bob_before);
    // The next login verifies the argon2id hash and leaves it.
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert_eq!(stored(&env, "alice"), h);
    // Other argon2 parameters are an upgrade too (differ, not only weaker).
    env.write_config(&SMALL.replace("argon2_time = 1", "argon2_time = 2"));
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert!(stored(&env, "alice").starts_with("$argon2id$v=19$m=64,t=2,p=1$"));
    // And back to bcrypt, at the configured cost.
    env.write_config("bcrypt_cost = 5\n");
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert!(stored(&env, "alice").starts_with("$2b$05$"));
}

#[test]
fn bcrypt_cost_changes_are_upgraded_and_rehash_on_login_false_keeps_hashes() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.write_config("bcrypt_cost = 5\nrehash_on_login = false\n");
    let before = bytes(&env.users());
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert_eq!(bytes(&env.users()), before);
    env.write_config(&format!("{SMALL}rehash_on_login = false\n"));
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert_eq!(bytes(&env.users()), before);
    env.write_config("bcrypt_cost = 5\n");
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert!(stored(&env, "alice").starts_with("$2b$05$"));
}

#[test]
fn a_rehash_that_cannot_be_stored_is_a_warning_not_a_failed_login() {
    let env = Env::new();
    env.init();
    env.add_user("alice", PW);
    env.write_config(SMALL);
    let before = bytes(&env.users());
    // Another writer holds the users file's lock: the upgrade cannot be written.
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(env.users().with_file_name("users.json.lock"))
        .unwrap();
    holder.lock().unwrap();
    let out = env
        .cmd()
        .env("JWTAUTH_LOCK_TIMEOUT", "0")
        .args(["login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    let token = stdout_str(&out);
    assert_eq!(token.matches('.').count(), 2, "a token: {token:?}");
    let err = stderr_str(&out);
    assert!(
        err.starts_with("jwtauth: warning: could not store the upgraded password hash of alice: ")
            && err.contains("locked")
            && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(bytes(&env.users()), before);
    // -q silences the warning; the login still succeeds.
    env.cmd()
        .env("JWTAUTH_LOCK_TIMEOUT", "0")
        .args(["-q", "login", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .assert()
        .code(0)
        .stderr("");
    drop(holder);
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert!(stored(&env, "alice").starts_with(SMALL_PREFIX));
}

#[test]
fn disabled_and_unknown_users_are_refused_alike_under_argon2id() {
    let env = Env::new();
    env.add_user("alice", PW);
    env.cmd().args(["user", "disable", "alice"]).exits(0);
    env.write_config(SMALL);
    let before = bytes(&env.users());
    for name in ["alice", "nobody"] {
        env.cmd()
            .args(["login", name, "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .stderr_only(
                5,
                "jwtauth: login refused: incorrect username or password\n",
            );
    }
    assert_eq!(
        bytes(&env.users()),
        before,
        "a disabled user is not rehashed"
    );
}

/// A login form body for `name` with [`PW`].
fn form(name: &str) -> String {
    serde_urlencoded::to_string([("username", name), ("password", PW)]).unwrap()
}

#[test]
fn post_token_rehashes_over_http() {
    use crate::serve::Server;
    let env = Env::new();
    env.add_user("alice", PW);
    env.add_user("bob", PW);
    env.write_config(&format!("{SMALL}[serve]\ncookie_secure = false\n"));
    env.init();
    let bob = stored(&env, "bob");
    let server = Server::start(&env);
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("alice"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(body["token_type"], "bearer");
    let h = stored(&env, "alice");
    assert!(h.starts_with(SMALL_PREFIX), "{h}");
    // The browser login page's form post rehashes the same way.
    let res = http
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("bob"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_ne!(stored(&env, "bob"), bob);
    assert!(stored(&env, "bob").starts_with(SMALL_PREFIX));
    // A second login verifies the new hash and leaves it.
    let res = http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("alice"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(stored(&env, "alice"), h);
    let res = http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("nobody"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[test]
fn post_token_keeps_hashes_when_rehash_is_off() {
    use crate::serve::Server;
    let env = Env::new();
    env.add_user("alice", PW);
    env.write_config(&format!("{SMALL}rehash_on_login = false\n"));
    env.init();
    let before = bytes(&env.users());
    let server = Server::start(&env);
    let res = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form("alice"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(bytes(&env.users()), before);
}

/// The peak resident set of a process, in KiB (Linux `VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Issue 17, point 4: argon2 holds m KiB while it runs, and the server runs at most one
/// password check (with its rehash) per core at a time, whatever the number of clients: a
/// flood of logins raises the peak memory by about cores × m, not clients × m.
#[cfg(target_os = "linux")]
#[test]
fn the_hashing_pool_bounds_argon2_memory_in_serve() {
    use crate::serve::Server;
    // Above glibc's largest mmap threshold (32 MiB): each argon2 memory is its own mapping,
    // returned when freed, so the peak counts the computations running at once.
    const M_KIB: u64 = 40 * 1024;
    const CLIENTS: usize = 12;
    let env = Env::new();
    env.init();
    env.write_config(&format!(
        "password_scheme = \"argon2id\"\nargon2_memory_kib = {M_KIB}\nargon2_time = 1\n[serve]\nthrottle_max_failures = 1000000\n"
    ));
    env.cmd()
        .args(["user", "add", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    env.add_user("bob", PW); // bcrypt: its login also rehashes to argon2id
    let server = Server::start(&env);
    let before = peak_rss_kib(server.pid());
    let url = server.url("/token");
    std::thread::scope(|s| {
        for i in 0..CLIENTS {
            let url = url.clone();
            s.spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .no_proxy()
                    .build()
                    .unwrap();
                for j in 0..3 {
                    let who = ["alice", "bob", "nobody"][(i + j) % 3];
                    let res = http
                        .post(&url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form(who))
                        .send()
                        .unwrap();
                    assert!([200, 400, 503].contains(&res.status().as_u16()));
                }
            });
        }
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let grew = peak_rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grew >= M_KIB,
        "argon2 ran with m={M_KIB} KiB: the peak grew by only {grew} KiB"
    );
    assert!(
        grew <= cores * M_KIB + 24 * 1024,
        "{CLIENTS} clients on {cores} cores: the peak grew by {grew} KiB, more than {cores} × {M_KIB} KiB"
    );
    assert!(stored(&env, "bob").starts_with("$argon2id$v=19$m=40960,t=1,p=1$"));
}

// ----- interop with argon2-cffi ----------------------------------------------------------

/// Python with argon2-cffi, or `None` after `common::skip`.
fn python_argon2() -> Option<std::path::PathBuf> {
    let py = common::python()?;
    let ok = Command::new(&py)
        .args(["-c", "import argon2"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::skip("interop peer missing: python with argon2-cffi");
        return None;
    }
    Some(py)
}

/// argon2-cffi's `PasswordHasher().verify(hash, pw)`.
fn cffi_verifies(py: &Path, hash: &str, pw: &str) -> bool {
    let out = Command::new(py)
        .args([
            "-c",
            "import argon2, sys\n\
             try:\n    argon2.PasswordHasher().verify(sys.argv[1], sys.argv[2]); print('match')\n\
             except argon2.exceptions.VerifyMismatchError:\n    print('mismatch')",
            hash,
            pw,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match String::from_utf8_lossy(&out.stdout).trim() {
        "match" => true,
        "mismatch" => false,
        other => panic!("python said {other:?}"),
    }
}

/// argon2-cffi's hash of `pw` with `PasswordHasher(**kwargs)` (Python keywords, each with
/// a trailing comma) and
/// argon2 type `kind` (`ID`, `I`).
fn cffi_hash(py: &Path, pw: &str, kwargs: &str, kind: &str) -> String {
    let out = Command::new(py)
        .args([
            "-c",
            &format!(
                "import argon2, sys\n\
                 print(argon2.PasswordHasher({kwargs}type=argon2.Type.{kind}).hash(sys.argv[1]))"
            ),
            pw,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn jwtauth_argon2id_hashes_verify_with_argon2_cffi() {
    let Some(py) = python_argon2() else { return };
    let env = Env::new();
    // OWASP's defaults, and a small configuration.
    let a = hash(&env, &["--scheme", "argon2id"], PW);
    assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(cffi_verifies(&py, &a, PW));
    assert!(!cffi_verifies(&py, &a, "wrong"));
    env.write_config("password_scheme = \"argon2id\"\nargon2_memory_kib = 256\nargon2_time = 3\nargon2_lanes = 4\n");
    let b = hash(&env, &[], "pässwörd ✓");
    assert!(b.starts_with("$argon2id$v=19$m=256,t=3,p=4$"), "{b}");
    assert!(cffi_verifies(&py, &b, "pässwörd ✓"));
}

#[test]
fn argon2_cffi_hashes_log_in_here_and_are_upgraded() {
    let Some(py) = python_argon2() else { return };
    let env = Env::new();
    // argon2-cffi's own defaults (m=65536, t=3, p=4) and OWASP's.
    let theirs = cffi_hash(&py, PW, "", "ID");
    assert!(
        theirs.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
        "{theirs}"
    );
    let owasp = cffi_hash(
        &py,
        PW,
        "memory_cost=19456, time_cost=2, parallelism=1,",
        "ID",
    );
    for h in [&theirs, &owasp] {
        assert_eq!(check(&env, h, PW), 0, "{h}");
        assert_eq!(check(&env, h, "wrong"), 1, "{h}");
    }
    env.cmd()
        .args(["user", "add", "alice", "--hash", &theirs])
        .exits(0);
    env.cmd()
        .args(["user", "add", "bob", "--hash", &owasp])
        .exits(0);
    // A weaker argon2-cffi hash (less memory, one pass).
    let weak = cffi_hash(
        &py,
        PW,
        "memory_cost=8192, time_cost=1, parallelism=1,",
        "ID",
    );
    env.cmd()
        .args(["user", "add", "dave", "--hash", &weak])
        .exits(0);
    // The configured scheme is argon2id with OWASP's parameters: bob's hash is current and
    // alice's (argon2-cffi's defaults) stronger, so both are kept (SPEC §11: only weaker
    // parameters are upgraded); dave's is upgraded on his login.
    env.write_config("password_scheme = \"argon2id\"\n");
    assert_eq!(login(&env, "bob", PW).status.code(), Some(0));
    assert_eq!(stored(&env, "bob"), owasp);
    assert_eq!(login(&env, "alice", PW).status.code(), Some(0));
    assert_eq!(stored(&env, "alice"), theirs);
    assert_eq!(login(&env, "dave", PW).status.code(), Some(0));
    let upgraded = stored(&env, "dave");
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    assert!(cffi_verifies(&py, &upgraded, PW));
    // argon2-cffi's argon2i is refused with the reason.
    let argon2i = cffi_hash(&py, PW, "memory_cost=64, time_cost=1,", "I");
    env.cmd()
        .args(["user", "add", "carol", "--hash", &argon2i])
        .stderr_only(
            2,
            "jwtauth: argon2 hash: argon2i is not supported, only argon2id ($argon2id$v=19$m=…,t=…,p=…$…)\n",
        );
}
