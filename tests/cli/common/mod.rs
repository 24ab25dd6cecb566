//! Shared helpers for the binary-level tests: every test gets its own temp home, and the
//! real home and the real environment's jwtauth variables are never touched.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use assert_cmd::Command;
use assert_cmd::assert::{Assert, IntoOutputPredicate};
use predicates::Predicate;
use tempfile::TempDir;

pub mod redis;

/// A temp home with the XDG directories pointed into it.
pub struct Env {
    pub home: TempDir,
    /// A Redis URL for the users and the revocations (`JWTAUTH_USERS`, `JWTAUTH_STATE`), or
    /// `None` for the default files.
    pub store: Option<String>,
}

thread_local! {
    /// The store `Env::new` gives this thread's test (see `on_store`).
    static STORE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `test` with every `Env::new()` of this thread on the Redis store at `url`: a test
/// written for the default files runs unchanged against Redis (`stores.rs`).
pub fn on_store(url: &str, test: impl FnOnce()) {
    STORE.with(|s| *s.borrow_mut() = Some(url.to_string()));
    test();
    STORE.with(|s| *s.borrow_mut() = None);
}

impl Env {
    pub fn new() -> Self {
        Env {
            home: tempfile::tempdir().expect("temp dir"),
            store: STORE.with(|s| s.borrow().clone()),
        }
    }

    /// A temp home whose users and revocations are at the Redis `url`.
    pub fn with_store(url: &str) -> Self {
        Env {
            home: tempfile::tempdir().expect("temp dir"),
            store: Some(url.to_string()),
        }
    }

    /// `jwtauth` with HOME/XDG pointed into the temp dir and the jwtauth variables cleared.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// The same, as a plain `std::process::Command` (for concurrent processes).
    pub fn std_cmd(&self) -> StdCommand {
        let mut cmd = StdCommand::new(bin());
        self.apply(&mut cmd);
        cmd
    }

    /// Any program (e.g. `bash` for a recipe) with the same isolated environment.
    pub fn std_cmd_for(&self, program: &str) -> StdCommand {
        let mut cmd = StdCommand::new(program);
        self.apply(&mut cmd);
        cmd
    }

    fn apply(&self, cmd: &mut StdCommand) {
        let h = self.home.path();
        cmd.env("HOME", h)
            .env("XDG_DATA_HOME", h.join("data"))
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env_remove("JWT_SECRET_KEY")
            .env_remove("JWTAUTH_USERS")
            .env_remove("JWTAUTH_STATE")
            .env_remove("JWTAUTH_KEY_FILE")
            .env_remove("JWTAUTH_CONFIG")
            .env_remove("JWTAUTH_LOCK_TIMEOUT")
            .env_remove("NO_COLOR")
            .env_remove("JWTAUTH_REDIS_PASSWORD")
            .current_dir(h);
        if let Some(url) = &self.store {
            cmd.env("JWTAUTH_USERS", url).env("JWTAUTH_STATE", url);
        }
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// Default users file.
    pub fn users(&self) -> PathBuf {
        self.path().join("data/jwtauth/users.json")
    }

    /// Default revocation state file.
    pub fn state(&self) -> PathBuf {
        self.path().join("data/jwtauth/revocations.json")
    }

    /// Default configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.path().join("config/jwtauth/config.toml")
    }

    /// Writes the default configuration file.
    pub fn write_config(&self, toml: &str) {
        let p = self.config_file();
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&p, toml).expect("write config");
    }

    /// Default HMAC key file.
    pub fn secret(&self) -> PathBuf {
        self.path().join("config/jwtauth/secret")
    }

    /// `jwtauth` for a test of file permissions, which root bypasses: as root, it runs as the
    /// unprivileged user `nobody` (uid and gid 65534, through setpriv(1)), which is given the
    /// temp home and a copy of the binary in it (the build directory may be closed to others).
    /// As anyone else, it is `cmd()`. `None` after `skip` when root has no setpriv.
    #[cfg(unix)]
    pub fn cmd_unprivileged(&self) -> Option<Command> {
        use std::os::unix::fs::MetadataExt;
        // A file we create is owned by our effective uid.
        let probe = tempfile::NamedTempFile::new_in(self.path()).expect("probe file");
        let root = probe.as_file().metadata().expect("metadata").uid() == 0;
        drop(probe);
        if !root {
            return Some(self.cmd());
        }
        if StdCommand::new("setpriv")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("running as root, and setpriv(1) (util-linux) to drop root is not installed");
            return None;
        }
        let copy = self.path().join(".bin/jwtauth");
        if !copy.exists() {
            std::fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir .bin");
            // Copied by a child process, never through a descriptor of ours: a test thread
            // that forks while we write would carry that descriptor into its child until the
            // child's exec, and our exec of the copy would fail with "Text file busy".
            let copied = StdCommand::new("cp")
                .arg(bin())
                .arg(&copy)
                .status()
                .expect("run cp");
            assert!(copied.success(), "cp of the binary failed");
        }
        chown_tree(self.path(), NOBODY);
        let mut cmd = self.std_cmd_for("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .args(["--clear-groups", "--"])
            .arg(copy);
        Some(Command::from_std(cmd))
    }

    /// Runs `jwtauth init` (HS256) and asserts success.
    pub fn init(&self) {
        self.cmd().arg("init").assert().success();
    }

    /// Adds a user with password `pw` at bcrypt cost 4 (fast), whatever the configured
    /// scheme.
    pub fn add_user(&self, name: &str, pw: &str) {
        self.cmd()
            .args([
                "user",
                "add",
                name,
                "--scheme",
                "bcrypt",
                "--cost",
                "4",
                "--password-stdin",
            ])
            .write_stdin(format!("{pw}\n"))
            .assert()
            .success();
    }

    /// Logs in and returns the token.
    pub fn login(&self, name: &str, pw: &str) -> String {
        let mut cmd = self.cmd();
        cmd.args(["login", name, "--password-stdin"])
            .write_stdin(format!("{pw}\n"));
        token_printed_by(cmd)
    }

    /// Mints a token with extra arguments and returns it.
    pub fn mint(&self, args: &[&str]) -> String {
        let mut cmd = self.cmd();
        cmd.arg("mint").args(args);
        token_printed_by(cmd)
    }

    /// `decode --json TOKEN`: the token's header, payload and signature.
    pub fn decoded(&self, token: &str) -> serde_json::Value {
        json(&self.cmd().args(["decode", "--json", token]).exits(0).stdout)
    }
}

/// Runs a command that must succeed and print one token.
fn token_printed_by(mut cmd: Command) -> String {
    stdout_str(&cmd.exits(0)).trim().to_string()
}

/// Running a command and checking how it ended.
pub trait Exits {
    /// Runs the command, asserts its exit code and returns what it printed.
    fn exits(&mut self, code: i32) -> Output;

    /// Runs the command and asserts its exit code, nothing on stdout, and `stderr`.
    fn stderr_only<I, P>(&mut self, code: i32, stderr: I) -> Assert
    where
        I: IntoOutputPredicate<P>,
        P: Predicate<[u8]>;
}

impl Exits for Command {
    fn exits(&mut self, code: i32) -> Output {
        self.assert().code(code).get_output().clone()
    }

    fn stderr_only<I, P>(&mut self, code: i32, stderr: I) -> Assert
    where
        I: IntoOutputPredicate<P>,
        P: Predicate<[u8]>,
    {
        self.assert().code(code).stdout("").stderr(stderr)
    }
}

/// The uid and gid of `nobody`, as which `Env::cmd_unprivileged` runs jwtauth under root.
#[cfg(unix)]
const NOBODY: u32 = 65534;

/// Gives a directory and everything in it to `id` (user and group).
#[cfg(unix)]
fn chown_tree(path: &Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if std::fs::symlink_metadata(path).expect("metadata").is_dir() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            chown_tree(&entry.expect("dir entry").path(), id);
        }
    }
}

/// Path of the built binary, or `JWTAUTH_TEST_BIN` (to run a test against another build, e.g.
/// to check that a test pinning a bug fails on the old binary).
pub fn bin() -> PathBuf {
    std::env::var_os("JWTAUTH_TEST_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_jwtauth")),
        PathBuf::from,
    )
}

/// Reads a file's bytes (panics if missing).
pub fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Unix mode bits of a path.
#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// A command's stdout as text.
pub fn stdout_str(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// A command's stderr as text.
pub fn stderr_str(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// Parses each line of stdout as JSON (batch `--json` output).
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout_str(out)
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect()
}

/// Parses stdout as JSON.
pub fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// Marks the running test as skipped, for the reason `why` (a tool that is not installed):
/// prints `SKIPPED: <test>: <why>` straight to the process's stderr, past libtest's capture of
/// `eprintln!`, so a plain `cargo test` shows it. The caller then returns. With
/// `JWTAUTH_NO_SKIP` set, as `.ci/run` sets it, a skip is a failure instead: there every test
/// must run for real.
pub fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<unnamed test>");
    if std::env::var_os("JWTAUTH_NO_SKIP").is_some() {
        panic!("{test} would be skipped ({why}), but JWTAUTH_NO_SKIP is set");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// The Python interpreter with bcrypt/pyjwt/cryptography, if available; else `None` after
/// `skip` (a failure when `JWTAUTH_NO_SKIP` is set, as in CI).
pub fn python() -> Option<PathBuf> {
    let py = std::env::var_os("JWTAUTH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = StdCommand::new(&py)
        .args(["-c", "import bcrypt, jwt, cryptography"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    peer(ok, "python with bcrypt, pyjwt and cryptography").then_some(py)
}

/// True if `htpasswd` is installed; else false after `skip` (see `python` for CI behaviour).
pub fn htpasswd() -> bool {
    peer(htpasswd_installed(), "htpasswd (apache2-utils)")
}

/// True if `htpasswd` is installed (no message either way).
pub fn htpasswd_installed() -> bool {
    StdCommand::new("htpasswd").arg("-h").output().is_ok()
}

fn peer(ok: bool, what: &str) -> bool {
    if !ok {
        skip(&format!("interop peer missing: {what}"));
    }
    ok
}

/// Writes a secret or private key file with mode 0600, as `jwtauth init` would (a looser
/// mode makes jwtauth warn on stderr).
pub fn write_secret(p: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}
