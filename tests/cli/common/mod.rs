//! Shared helpers for the binary-level tests: every test gets its own temp home, and the
//! real home and the real environment's jwtauth variables are never touched.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output};

use assert_cmd::Command;
use assert_cmd::assert::{Assert, IntoOutputPredicate};
use predicates::Predicate;
use tempfile::TempDir;

/// A temp home with the XDG directories pointed into it.
pub struct Env {
    pub home: TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            home: tempfile::tempdir().expect("temp dir"),
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
            .env_remove("JWTAUTH_LOCK_TIMEOUT")
            .env_remove("NO_COLOR")
            .current_dir(h);
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

    /// Default HMAC key file.
    pub fn secret(&self) -> PathBuf {
        self.path().join("config/jwtauth/secret")
    }

    /// Runs `jwtauth init` (HS256) and asserts success.
    pub fn init(&self) {
        self.cmd().arg("init").assert().success();
    }

    /// Adds a user with password `pw` at bcrypt cost 4 (fast).
    pub fn add_user(&self, name: &str, pw: &str) {
        self.cmd()
            .args(["user", "add", name, "--cost", "4", "--password-stdin"])
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

/// Path of the built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_jwtauth"))
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

/// The Python interpreter with bcrypt/pyjwt/cryptography, if available. When
/// `JWTAUTH_REQUIRE_INTEROP` is set (CI), a missing peer is a failure, not a skip.
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

/// True if `htpasswd` is installed (see `python` for CI behaviour).
pub fn htpasswd() -> bool {
    let ok = StdCommand::new("htpasswd").arg("-h").output().is_ok();
    peer(ok, "htpasswd (apache2-utils)")
}

fn peer(ok: bool, what: &str) -> bool {
    if !ok {
        if std::env::var_os("JWTAUTH_REQUIRE_INTEROP").is_some() {
            panic!("interop peer missing: {what}");
        }
        eprintln!("skipping: interop peer missing: {what}");
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
