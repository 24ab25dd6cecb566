//! The interactive password prompt, driven for real through a pseudo-terminal (rexpect):
//! no echo, confirmation, Ctrl-C, and colour only on a terminal.
#![cfg(unix)]
use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Env;
use nix::sys::termios::{LocalFlags, tcgetattr};
use rexpect::process::{Signal, WaitStatus};
use rexpect::session::{PtySession, spawn_command};

const TIMEOUT_MS: u64 = 20_000;

/// Runs jwtauth in a pseudo-terminal. rexpect turns the terminal's echo off before it starts
/// the child, which would hide an echoing prompt; `stty echo` turns it back on first, so the
/// no-echo checks below fail if jwtauth does not switch echo off itself.
fn spawn(env: &Env, args: &[&str]) -> PtySession {
    spawn_with(env, &[], args)
}

fn spawn_with(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> PtySession {
    let base = env.std_cmd();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("stty echo && exec \"$0\" \"$@\"")
        .arg(base.get_program())
        .args(args);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(dir) = base.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn in a pty")
}

/// Whether the terminal echoes typed input right now. The master side of a pty reports the
/// line discipline's settings, which the program on the slave side changes.
fn echoing(p: &PtySession) -> bool {
    let master = p.process().get_file_handle().expect("pty handle");
    let attrs = tcgetattr(&master).expect("tcgetattr");
    attrs.local_flags.contains(LocalFlags::ECHO)
}

/// Waits (bounded) until the terminal's echo is in the given state. Typed text is echoed or
/// not by the terminal when it arrives, so a test that types before a program has switched
/// echo off would see an echo that no user at a keyboard could produce; a program that never
/// switches echo off fails here.
fn wait_for_echo(p: &PtySession, on: bool) {
    let deadline = Instant::now() + Duration::from_millis(TIMEOUT_MS);
    while echoing(p) != on {
        assert!(
            Instant::now() < deadline,
            "the terminal's echo never turned {}",
            if on { "on" } else { "off" }
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Answers a password prompt the way a person does: once it is shown and echo is off.
fn answer(p: &mut PtySession, prompt: &str, text: &str) -> String {
    let seen = p.exp_string(prompt).expect(prompt);
    wait_for_echo(p, false);
    p.send_line(text).expect("send");
    seen
}

#[test]
fn the_pty_echoes_typed_input_unless_the_program_turns_echo_off() {
    // Guards the no-echo tests: with a plain `read`, the typed text does come back.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "stty echo && echo ready && read x && echo got"]);
    let mut p = spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn");
    p.exp_string("ready").expect("ready");
    wait_for_echo(&p, true);
    p.send_line("visible-input").expect("send");
    let out = p.exp_eof().expect("eof");
    assert!(out.contains("visible-input"), "{out:?}");
}

/// Every file under the temp home with its bytes (lock sidecars included).
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

fn exit_code(p: &mut PtySession) -> i32 {
    match p.process().wait().expect("wait") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("did not exit normally: {other:?}"),
    }
}

#[test]
fn user_add_prompts_twice_without_echo() {
    let env = Env::new();
    let mut p = spawn(&env, &["user", "add", "bob", "--cost", "4"]);
    let mut seen = answer(&mut p, "Password: ", "s3cret-typed");
    seen += &answer(&mut p, "Retype password: ", "s3cret-typed");
    seen += &p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(
        !seen.contains("s3cret"),
        "the password was echoed: {seen:?}"
    );
    assert!(seen.contains("jwtauth: added user bob"), "{seen:?}");
    // The password set at the prompt is the one that logs in.
    env.login("bob", "s3cret-typed");
}

#[test]
fn mismatched_retype_is_exit_2_and_leaves_users_file_unchanged() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = snapshot(env.path());
    let mut p = spawn(&env, &["user", "add", "bob", "--cost", "4"]);
    answer(&mut p, "Password: ", "one-password");
    answer(&mut p, "Retype password: ", "another-one");
    let rest = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 2);
    assert!(
        rest.contains("jwtauth: password: the two entries do not match"),
        "{rest:?}"
    );
    assert!(!rest.contains("password\r\n") && !rest.contains("one-password"));
    assert_eq!(snapshot(env.path()), before);
}

#[test]
fn ctrl_c_at_the_prompt_leaves_files_untouched() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = snapshot(env.path());
    let mut p = spawn(&env, &["user", "add", "bob", "--cost", "4"]);
    answer(&mut p, "Password: ", "half");
    p.exp_string("Retype password: ").expect("second prompt");
    wait_for_echo(&p, false);
    p.send_control('c').expect("ctrl-c");
    match p.process().wait().expect("wait") {
        WaitStatus::Signaled(_, sig, _) => assert_eq!(sig, Signal::SIGINT),
        WaitStatus::Exited(_, code) => assert_ne!(code, 0),
        other => panic!("unexpected: {other:?}"),
    }
    assert_eq!(snapshot(env.path()), before);
    env.cmd()
        .args(["user", "show", "bob"])
        .assert()
        .code(6)
        .stdout("");
}

#[test]
fn login_via_prompt_prints_a_token_that_verifies() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let mut p = spawn(&env, &["-q", "login", "alice"]);
    let mut seen = answer(&mut p, "Password: ", "correct horse");
    let out = p.exp_eof().expect("eof");
    seen += &out;
    assert_eq!(exit_code(&mut p), 0);
    assert!(!seen.contains("correct horse"), "echoed: {seen:?}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("eyJ"))
        .unwrap_or_else(|| panic!("no token in {out:?}"))
        .to_string();
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n");
    // A wrong password at the prompt is refused like any other.
    let mut p = spawn(&env, &["login", "alice"]);
    answer(&mut p, "Password: ", "wrong");
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 5);
    assert!(out.contains("jwtauth: login refused: incorrect username or password"));
}

#[test]
fn user_check_via_prompt_asks_once_and_writes_nothing() {
    let env = Env::new();
    env.add_user("alice", "correct horse");
    let before = snapshot(env.path());
    let mut p = spawn(&env, &["user", "check", "alice"]);
    let mut seen = answer(&mut p, "Password: ", "correct horse");
    seen += &p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(!seen.contains("correct horse"), "echoed: {seen:?}");
    assert!(!seen.contains("Retype"), "asked twice: {seen:?}");
    assert!(
        seen.contains("jwtauth: password for user alice is correct"),
        "{seen:?}"
    );
    let mut p = spawn(&env, &["user", "check", "alice"]);
    answer(&mut p, "Password: ", "wrong");
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 5);
    assert!(out.contains("jwtauth: login refused: incorrect username or password"));
    assert_eq!(snapshot(env.path()), before);
}

#[test]
fn decode_is_coloured_on_a_terminal_but_not_with_no_color() {
    let env = Env::new();
    env.init();
    let token = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1700000000",
        "--exp",
        "1700000900",
    ]);
    let mut p = spawn(&env, &["decode", &token]);
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(out.contains("\u{1b}[31mexpired "), "{out:?}");
    assert!(out.contains("\u{1b}[1mHeader\u{1b}[0m"), "{out:?}");

    let mut p = spawn_with(&env, &[("NO_COLOR", "1")], &["decode", &token]);
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("Status: expired "), "{out:?}");

    // --json is never coloured, terminal or not.
    let mut p = spawn(&env, &["decode", "--json", &token]);
    let out = p.exp_eof().expect("eof");
    assert!(!out.contains('\u{1b}'), "{out:?}");

    // --color never turns it off on a terminal; --color always beats NO_COLOR there too.
    let mut p = spawn(&env, &["--color", "never", "decode", &token]);
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(
        !out.contains('\u{1b}') && out.contains("Status: expired "),
        "{out:?}"
    );
    let mut p = spawn_with(
        &env,
        &[("NO_COLOR", "1")],
        &["decode", "--color", "always", &token],
    );
    let out = p.exp_eof().expect("eof");
    assert_eq!(exit_code(&mut p), 0);
    assert!(out.contains("\u{1b}[1mHeader\u{1b}[0m"), "{out:?}");
}

#[test]
fn no_token_at_a_terminal_is_a_usage_error_not_a_silent_wait() {
    let env = Env::new();
    env.init();
    for cmd in ["decode", "verify", "logout"] {
        let mut p = spawn(&env, &[cmd]);
        // It must end by itself, without any input: rexpect's timeout fails a program that
        // waits for a token the user does not know is expected.
        let out = p.exp_eof().unwrap_or_else(|e| panic!("{cmd} waited: {e}"));
        assert_eq!(exit_code(&mut p), 2, "{cmd}: {out:?}");
        assert_eq!(
            out.trim_end(),
            "jwtauth: no token given: pass TOKEN, or pipe tokens on stdin ('-' reads them from the terminal)",
            "{cmd}"
        );
    }
    assert!(!env.state().exists(), "nothing was written");
}

// ----- Ctrl-C at a hidden prompt gives the terminal back (SPEC §15) ---------------------------

#[test]
fn ctrl_c_at_a_password_prompt_turns_echo_back_on_and_exits_130() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let before = snapshot(env.path());
    // (args, the prompt to interrupt, prompts answered before it)
    let cases: &[(&[&str], &str, &[&str])] = &[
        (&["user", "add", "bob", "--cost", "4"], "Password: ", &[]),
        (
            &["user", "add", "bob", "--cost", "4"],
            "Retype password: ",
            &["Password: "],
        ),
        (&["login", "alice"], "Password: ", &[]),
        (&["user", "check", "alice"], "Password: ", &[]),
        (
            &["user", "passwd", "alice", "--cost", "4"],
            "Password: ",
            &[],
        ),
        (&["hash", "--cost", "4"], "Password: ", &[]),
    ];
    for (args, at, answered) in cases {
        let mut p = spawn(&env, args);
        for prompt in *answered {
            answer(&mut p, prompt, "half-typed");
        }
        p.exp_string(at).expect("prompt");
        wait_for_echo(&p, false);
        p.send_control('c').expect("ctrl-c");
        let out = p.exp_eof().expect("eof");
        assert!(
            echoing(&p),
            "{args:?} at {at:?}: the terminal's echo is still off after Ctrl-C"
        );
        assert_eq!(exit_code(&mut p), 130, "{args:?} at {at:?}: {out:?}");
        assert!(!out.contains("half-typed"), "{out:?}");
        assert_eq!(snapshot(env.path()), before, "{args:?} changed a file");
    }
}
