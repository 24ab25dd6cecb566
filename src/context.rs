//! `Ctx`: the validated run-time context (paths, output mode, clock), built once from the
//! command line and the environment. Commands never read `std::env` themselves.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};

/// Default lock wait (SPEC §1), overridable with `JWTAUTH_LOCK_TIMEOUT` seconds.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the signing/verifying key was found (`jwtauth paths`' `key_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `--key PATH`
    Flag,
    /// `JWTAUTH_KEY_FILE`
    Env,
    /// `JWT_SECRET_KEY` (raw bytes, no file)
    SecretEnv,
    /// `<config dir>/secret` or `<config dir>/private.pem`
    Default,
}

impl KeySource {
    /// The name used in `paths --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Flag => "flag",
            KeySource::Env => "env",
            KeySource::SecretEnv => "JWT_SECRET_KEY",
            KeySource::Default => "default",
        }
    }
}

/// The key as configured, before anything is read from disk.
#[derive(Debug)]
pub enum KeyConfig {
    /// An explicit key file (`--key` or `JWTAUTH_KEY_FILE`): it must exist, it is never created.
    File { path: PathBuf, source: KeySource },
    /// The raw bytes of `JWT_SECRET_KEY`.
    Secret(Zeroizing<Vec<u8>>),
    /// The default files in the config directory.
    Default { dir: PathBuf },
}

/// Everything a command needs to know about its environment.
#[derive(Debug)]
pub struct Ctx {
    users: Option<PathBuf>,
    state: Option<PathBuf>,
    /// The key configuration, first match wins: `--key`, `JWT_SECRET_KEY`, `JWTAUTH_KEY_FILE`,
    /// default.
    pub key: Option<KeyConfig>,
    /// `JWTAUTH_KEY_FILE`, remembered even when `JWT_SECRET_KEY` wins, so `init` knows where
    /// a key file goes.
    pub key_file_env: Option<PathBuf>,
    /// The `--key` flag.
    pub key_flag: Option<PathBuf>,
    /// Default config directory (for `init` and first `login`).
    pub config_dir: Option<PathBuf>,
    /// `--json`
    pub json: bool,
    /// `-q`
    pub quiet: bool,
    /// Colour human output on stdout: only when stdout is a terminal, `NO_COLOR` is unset or
    /// empty, and `TERM` is not `dumb` (never in `--json`).
    pub color: bool,
    /// Now, in unix seconds, read once.
    pub now: i64,
    /// How long to wait for a file lock.
    pub lock_timeout: Duration,
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|s| !s.is_empty())
}

impl Ctx {
    /// Builds the context from the global flags and the process environment.
    ///
    /// # Errors
    /// A usage error for a malformed `JWTAUTH_LOCK_TIMEOUT`.
    pub fn new(global: &GlobalArgs) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "jwtauth");
        let data_dir = dirs.as_ref().map(|d| d.data_dir().to_path_buf());
        let config_dir = dirs.as_ref().map(|d| d.config_dir().to_path_buf());
        let key_file_env = non_empty(std::env::var_os("JWTAUTH_KEY_FILE")).map(PathBuf::from);
        let secret_env = std::env::var_os("JWT_SECRET_KEY").map(os_bytes);
        let key = if let Some(path) = &global.key {
            Some(KeyConfig::File {
                path: path.clone(),
                source: KeySource::Flag,
            })
        } else if let Some(secret) = secret_env {
            Some(KeyConfig::Secret(secret))
        } else if let Some(path) = &key_file_env {
            Some(KeyConfig::File {
                path: path.clone(),
                source: KeySource::Env,
            })
        } else {
            config_dir.clone().map(|dir| KeyConfig::Default { dir })
        };
        let lock_timeout = match std::env::var("JWTAUTH_LOCK_TIMEOUT") {
            Ok(s) if !s.trim().is_empty() => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::usage(
                        format!("JWTAUTH_LOCK_TIMEOUT={s}"),
                        "expected a number of seconds",
                    )
                })?,
            _ => DEFAULT_LOCK_TIMEOUT,
        };
        Ok(Ctx {
            users: global
                .users
                .clone()
                .or_else(|| data_dir.as_ref().map(|d| d.join("users.json"))),
            state: global
                .state
                .clone()
                .or_else(|| data_dir.as_ref().map(|d| d.join("revocations.json"))),
            key,
            key_file_env,
            key_flag: global.key.clone(),
            config_dir,
            json: global.json,
            quiet: global.quiet,
            color: !global.json && color_wanted(),
            now: jiff::Timestamp::now().as_second(),
            lock_timeout,
        })
    }

    /// The users file.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no path was given.
    pub fn users_path(&self) -> Result<&Path> {
        self.users.as_deref().ok_or_else(|| no_home("--users"))
    }

    /// The revocation state file.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no path was given.
    pub fn state_path(&self) -> Result<&Path> {
        self.state.as_deref().ok_or_else(|| no_home("--state"))
    }

    /// The key configuration.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no key was given.
    pub fn key_config(&self) -> Result<&KeyConfig> {
        self.key.as_ref().ok_or_else(|| no_home("--key"))
    }

    /// Prints an informational line on stderr unless `-q`.
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            // Messages name users, token ids and files: escape what they quote.
            eprintln!("jwtauth: {}", crate::output::printable(&msg.to_string()));
        }
    }
}

/// Colour is for people: a terminal on stdout, and no opt-out (<https://no-color.org>).
fn color_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stdout().is_terminal()
}

/// The error for a default path that needs the home directory when none is known.
pub(crate) fn no_home(flag: &str) -> Error {
    Error::config(
        "no default location",
        format!("the home directory is unknown; pass {flag} PATH"),
    )
}

#[cfg(unix)]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(s))
}

#[cfg(not(unix))]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.to_string_lossy().into_owned().into_bytes())
}
