//! `Ctx`: the command line's run-time context, built once from the flags and the environment:
//! the core's [`Settings`] plus the output mode. Commands never read `std::env` themselves.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cli::args::GlobalArgs;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::keys::{self, Key};
use crate::settings::{DEFAULT_LOCK_TIMEOUT, KeyConfig, KeySource, Settings};
use crate::store::{self, Lookups, RevocationStore, UserStore};

/// Everything a command needs to know about its environment.
#[derive(Debug)]
pub struct Ctx {
    /// Where things are (shared with the core).
    pub settings: Settings,
    /// `--json`
    pub json: bool,
    /// `-q`
    pub quiet: bool,
    /// Colour human output on stdout: only when stdout is a terminal, `NO_COLOR` is unset or
    /// empty, and `TERM` is not `dumb` (never in `--json`).
    pub color: bool,
    /// Now, in unix seconds, read once: a one-shot command decides by one time. A stream
    /// (`verify -`) reads its clock per token instead.
    pub now: i64,
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
            settings: Settings {
                users: global
                    .users
                    .clone()
                    .or_else(|| data_dir.as_ref().map(|d| d.join("users.json"))),
                state: global
                    .state
                    .clone()
                    .or_else(|| data_dir.as_ref().map(|d| d.join("revocations.json"))),
                key,
                key_file: global.key.clone().or(key_file_env),
                config_dir,
                lock_timeout,
            },
            json: global.json,
            quiet: global.quiet,
            color: !global.json && color_wanted(),
            now: jiff::Timestamp::now().as_second(),
        })
    }

    /// The users store.
    ///
    /// # Errors
    /// A configuration error when no location is known.
    pub fn users(&self) -> Result<Box<dyn UserStore>> {
        Ok(store::open_users(
            self.settings.users_path()?,
            self.settings.lock_timeout,
        ))
    }

    /// The revocation store, opened for `lookups`.
    ///
    /// # Errors
    /// A configuration error when no location is known.
    pub fn revocations(&self, lookups: Lookups) -> Result<Box<dyn RevocationStore>> {
        Ok(store::open_revocations(
            self.settings.state_path()?,
            self.settings.lock_timeout,
            lookups,
        ))
    }

    /// The configured key; its warning (a loose file mode) goes to stderr unless `-q`.
    ///
    /// # Errors
    /// As `keys::load`.
    pub fn key(&self) -> Result<Key> {
        let key = keys::load(&self.settings)?;
        self.warn_about(&key);
        Ok(key)
    }

    /// Prints a loaded key's warning, if any, unless `-q`.
    pub fn warn_about(&self, key: &Key) {
        if let Some(w) = &key.warning {
            self.info(w);
        }
    }

    /// Prints an informational line on stderr unless `-q`.
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            // Messages name users, token ids and files: escape what they quote.
            eprintln!("jwtauth: {}", output::printable(&msg.to_string()));
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

#[cfg(unix)]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(s))
}

#[cfg(not(unix))]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.to_string_lossy().into_owned().into_bytes())
}
