//! Faults: a held lock, a stale lock, an unwritable or missing directory, a full disk, a path
//! that is a directory, a key file others can read. Each is a one-line error with the right
//! exit code, and nothing already stored is lost.

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Env, bytes, mode};

/// Asserts a failure of exactly one stderr line `jwtauth: …` with `code`; returns that line.
fn one_line_error(out: &std::process::Output, code: i32) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(
        err.starts_with("jwtauth: ") && err.ends_with('\n'),
        "{err:?}"
    );
    assert_eq!(err.lines().count(), 1, "{err:?}");
    err
}

fn add(env: &Env, name: &str) -> std::process::Output {
    env.cmd()
        .args(["-q", "user", "add", name, "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .output()
        .unwrap()
}

#[test]
fn a_held_lock_makes_writers_give_up_naming_the_holder() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    let lock_path = env.users().with_file_name("users.json.lock");
    let mut holder = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap();
    holder.lock().unwrap();
    holder.set_len(0).unwrap();
    write!(holder, "{}", std::process::id()).unwrap();
    let started = std::time::Instant::now();
    let out = env
        .cmd()
        .env("JWTAUTH_LOCK_TIMEOUT", "0.3")
        .args(["user", "add", "bob", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    let waited = started.elapsed();
    let err = one_line_error(&out, 8);
    assert_eq!(
        err,
        format!(
            "jwtauth: {}: locked by another process (pid {}) (gave up after 0.3s)\n",
            env.users().display(),
            std::process::id()
        )
    );
    assert!(waited.as_secs_f64() >= 0.3, "gave up too early: {waited:?}");
    assert_eq!(bytes(&env.users()), before);
    // Readers do not take the lock.
    env.cmd().args(["user", "list"]).assert().success();
    drop(holder);
    assert_eq!(add(&env, "bob").status.code(), Some(0));
}

#[test]
fn a_lock_left_by_a_killed_holder_blocks_no_one() {
    let env = Env::new();
    let lock_path = env.state().with_file_name("revocations.json.lock");
    fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    // A real holder process (flock(1) uses the same flock(2) lock as jwtauth), killed while
    // it holds the lock: the lock file stays, with a dead pid in it. `--no-fork` makes the
    // holder `sleep` itself: with a forked `sleep`, killing flock(1) left the `sleep` behind
    // for ten minutes, holding the test's stdout open (so `cargo test | tail` hung).
    let Ok(mut holder) = Command::new("flock")
        .arg("--no-fork")
        .arg(&lock_path)
        .args(["sleep", "600"])
        .stdin(Stdio::null())
        .spawn()
    else {
        common::skip("flock(1) (util-linux) not installed");
        return;
    };
    let probe = || {
        env.cmd()
            .env("JWTAUTH_LOCK_TIMEOUT", "0")
            .args(["logout", "--all", "probe", "--force"])
            .output()
            .unwrap()
    };
    // Wait until the holder has the lock, i.e. a writer is refused.
    assert!(
        (0..500).any(|_| probe().status.code() == Some(8)),
        "the flock holder never held the lock"
    );
    // flock(1) does not record its pid as jwtauth does; record it for it.
    fs::write(&lock_path, holder.id().to_string()).unwrap();
    let err = one_line_error(&probe(), 8);
    assert_eq!(
        err,
        format!(
            "jwtauth: {}: locked by another process (pid {}) (gave up after 0s)\n",
            env.state().display(),
            holder.id()
        )
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(lock_path.exists());
    let out = env
        .cmd()
        .env("JWTAUTH_LOCK_TIMEOUT", "0.3")
        .args(["logout", "--all", "bob", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn missing_parent_directories_are_created_0700() {
    let env = Env::new();
    let users = env.path().join("a/b/users.json");
    env.cmd()
        .arg("--users")
        .arg(&users)
        .args([
            "-q",
            "user",
            "add",
            "alice",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .assert()
        .success();
    assert_eq!(mode(&env.path().join("a")), 0o700);
    assert_eq!(mode(&env.path().join("a/b")), 0o700);
    assert_eq!(mode(&users), 0o600);
}

#[test]
fn a_path_under_a_regular_file_is_exit_8() {
    let env = Env::new();
    let file = env.path().join("plain");
    fs::write(&file, "x").unwrap();
    let users = file.join("users.json");
    let out = env
        .cmd()
        .arg("--users")
        .arg(&users)
        .args(["user", "add", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    let err = one_line_error(&out, 8);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert_eq!(bytes(&file), b"x");
}

#[test]
fn a_read_only_directory_is_exit_8_and_the_file_is_kept() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = bytes(&env.users());
    let dir = env.users().parent().unwrap().to_path_buf();
    // Root ignores directory permissions: as root, jwtauth runs as an unprivileged user.
    let Some(mut logout) = env.cmd_unprivileged() else {
        return;
    };
    let mut add_bob = env.cmd_unprivileged().expect("as above");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
    let out = logout.args(["logout", "--all", "alice"]).output().unwrap();
    let out2 = add_bob
        .args([
            "-q",
            "user",
            "add",
            "bob",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("pw\n")
        .output()
        .unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let err = one_line_error(&out, 8);
    assert!(err.contains("Permission denied"), "{err}");
    one_line_error(&out2, 8);
    assert_eq!(bytes(&env.users()), before);
}

#[test]
fn a_directory_where_a_file_belongs_is_exit_8() {
    let env = Env::new();
    let dir = env.path().join("users-dir");
    fs::create_dir(&dir).unwrap();
    for args in [
        &[
            "-q",
            "user",
            "add",
            "alice",
            "--cost",
            "4",
            "--password-stdin",
        ][..],
        &["user", "list"][..],
    ] {
        let out = env
            .cmd()
            .arg("--users")
            .arg(&dir)
            .args(args)
            .write_stdin("pw\n")
            .output()
            .unwrap();
        let err = one_line_error(&out, 8);
        assert_eq!(
            err,
            format!("jwtauth: {}: Is a directory (os error 21)\n", dir.display())
        );
    }
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

/// Runs a writer with RLIMIT_FSIZE of 1 KiB (the users file is bigger), SIGXFSZ ignored or not.
fn add_with_small_fsize(env: &Env, name: &str, ignore_sigxfsz: bool) -> std::process::Output {
    let trap = if ignore_sigxfsz { "trap '' XFSZ; " } else { "" };
    let mut cmd = env.std_cmd();
    let program = cmd.get_program().to_owned();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!(
            "{trap}ulimit -f 2 && exec \"$0\" -q user add {name} --cost 4 --password-stdin"
        ))
        .arg(program);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.current_dir(env.path());
    cmd = sh;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_full_disk_is_exit_8_and_the_old_file_is_kept() {
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    for i in 0..8 {
        env.add_user(&format!("user{i}"), "pw");
    }
    let before = bytes(&env.users());
    assert!(before.len() > 1024, "the file must outgrow the limit");
    // With SIGXFSZ ignored (as a disk-full ENOSPC would behave), write fails with EFBIG.
    let out = add_with_small_fsize(&env, "bob", true);
    let err = one_line_error(&out, 8);
    let want = format!(
        "jwtauth: {}: File too large (os error 27)",
        env.users().display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert_eq!(bytes(&env.users()), before);
    let dir = env.users().parent().unwrap().to_path_buf();
    let temps = |d: &std::path::Path| {
        fs::read_dir(d)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count()
    };
    assert_eq!(temps(&dir), 0, "the failed writer removes its temp file");
    // With the default disposition the kernel kills the writer mid-write: the old file is
    // still whole, and the next writer removes the orphaned temp file.
    let out = add_with_small_fsize(&env, "carol", false);
    assert_eq!(out.status.signal(), Some(25), "{out:?}"); // SIGXFSZ
    assert_eq!(bytes(&env.users()), before);
    assert_eq!(add(&env, "dave").status.code(), Some(0));
    assert_eq!(temps(&dir), 0);
    env.cmd().args(["user", "show", "user0"]).assert().success();
}

#[test]
fn a_key_file_others_can_read_gets_a_warning() {
    let env = Env::new();
    let key = env.path().join("shared-secret");
    fs::write(&key, "0123456789abcdef0123456789abcdef-shared\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .cmd()
        .arg("--key")
        .arg(&key)
        .args(["mint", "--sub", "svc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "jwtauth: warning: key {k} is accessible by group or others (mode 0644); run 'chmod 600 {k}'\n",
            k = key.display()
        )
    );
    // -q silences it; a 0600 key never warns.
    env.cmd()
        .arg("--key")
        .arg(&key)
        .args(["-q", "mint", "--sub", "svc"])
        .assert()
        .success()
        .stderr("");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    env.cmd()
        .arg("--key")
        .arg(&key)
        .args(["mint", "--sub", "svc"])
        .assert()
        .success()
        .stderr("");
}
