//! bcrypt interop: hashes made by jwtauth verify with Python `bcrypt` and `htpasswd`, and
//! hashes made by them are accepted by `hash --check` and by `user add --hash` + `login`.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::{Env, Exits};

const PW: &str = "correct horse battery";

fn jwtauth_hash(env: &Env, pw: &str, cost: &str) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", cost, "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .exits(0)
        .stdout;
    String::from_utf8(out).unwrap().trim_end().to_string()
}

/// Python's `bcrypt.checkpw(pw, hash)`; password and hash go through argv.
fn python_checks(py: &Path, pw: &str, hash: &str) -> bool {
    let out = Command::new(py)
        .args([
            "-c",
            "import bcrypt, sys\n\
             ok = bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode())\n\
             print('match' if ok else 'mismatch')",
            pw,
            hash,
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

fn python_hash(py: &Path, pw: &str, cost: u32) -> String {
    let out = Command::new(py)
        .args([
            "-c",
            "import bcrypt, sys\n\
             print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(int(sys.argv[2]))).decode())",
            pw,
            &cost.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// `htpasswd -vb FILE user PW` against a file holding `user:HASH`.
fn htpasswd_checks(env: &Env, hash: &str, pw: &str) -> bool {
    let file = env.path().join("htpasswd");
    std::fs::write(&file, format!("user:{hash}\n")).unwrap();
    let out = Command::new("htpasswd")
        .arg("-vb")
        .arg(&file)
        .args(["user", pw])
        .output()
        .unwrap();
    out.status.success()
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

/// `user add NAME --hash HASH`, then a login with `pw` succeeds and a wrong one is refused.
fn import_and_login(env: &Env, name: &str, hash: &str, pw: &str) {
    env.cmd()
        .args(["user", "add", name, "--hash", hash])
        .assert()
        .code(0);
    let token = env.login(name, pw);
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout(format!("{name}\n"));
    env.cmd()
        .args(["login", name, "--password-stdin"])
        .write_stdin(format!("{}?\n", &pw[..pw.len() - 1]))
        .assert()
        .code(5)
        .stderr("jwtauth: login refused: incorrect username or password\n");
}

#[test]
fn jwtauth_hashes_verify_with_python_bcrypt() {
    let Some(py) = common::python() else { return };
    let env = Env::new();
    let h = jwtauth_hash(&env, PW, "5");
    assert!(h.starts_with("$2b$05$"), "{h}");
    assert!(python_checks(&py, PW, &h));
    assert!(!python_checks(&py, "correct horse battery!", &h));
    // At the 72-byte limit every byte counts, the same way on both sides.
    let long = "L".repeat(72);
    let h = jwtauth_hash(&env, &long, "4");
    assert!(python_checks(&py, &long, &h));
    assert!(!python_checks(&py, &format!("{}M", &long[..71]), &h));
    // Non-ASCII bytes.
    let h = jwtauth_hash(&env, "pässwörd ✓", "4");
    assert!(python_checks(&py, "pässwörd ✓", &h));
}

#[test]
fn jwtauth_hashes_verify_with_htpasswd() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    let h = jwtauth_hash(&env, PW, "5");
    assert!(htpasswd_checks(&env, &h, PW));
    assert!(!htpasswd_checks(&env, &h, "wrong password"));
    // The same hash as $2y$ (htpasswd's own prefix) too.
    let y = format!("$2y${}", &h[4..]);
    assert!(htpasswd_checks(&env, &y, PW));
    assert!(!htpasswd_checks(&env, &y, "wrong password"));
}

#[test]
fn python_bcrypt_hashes_are_accepted() {
    let Some(py) = common::python() else { return };
    let env = Env::new();
    let h = python_hash(&py, PW, 5);
    assert!(h.starts_with("$2b$05$"), "{h}");
    assert_eq!(check(&env, &h, PW), 0);
    assert_eq!(check(&env, &h, "nope"), 1);
    import_and_login(&env, "pyuser", &h, PW);
    let long = "L".repeat(72);
    let h = python_hash(&py, &long, 4);
    assert_eq!(check(&env, &h, &long), 0);
    assert_eq!(check(&env, &h, &format!("{}M", &long[..71])), 1);
    import_and_login(&env, "longpw", &h, &long);
}

#[test]
fn htpasswd_hashes_are_accepted() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    let out = Command::new("htpasswd")
        .args(["-nbB", "-C", "5", "user", PW])
        .output()
        .unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let h = line
        .trim_end()
        .strip_prefix("user:")
        .expect("user:HASH")
        .to_string();
    assert!(h.starts_with("$2y$05$"), "{h}");
    assert_eq!(check(&env, &h, PW), 0);
    assert_eq!(check(&env, &h, "nope"), 1);
    // At the configured cost, a login does not rehash (SPEC §11): a `$2y$` prefix is no
    // reason to.
    env.write_config("bcrypt_cost = 5\n");
    import_and_login(&env, "apache", &h, PW);
    // The record keeps the hash exactly as imported.
    let doc: serde_json::Value = serde_json::from_slice(&common::bytes(&env.users())).unwrap();
    assert_eq!(doc["users"]["apache"]["hashed_password"], h.as_str());
}
