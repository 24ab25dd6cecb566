//! The validated settings every front end builds once (from flags, the environment and the
//! configuration file) and the core reads: where the users, the revocations and the key are,
//! how long to wait for a lock, and the rest of the configuration (SPEC §12). The core never
//! reads `std::env` itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::Config;
use crate::error::{Error, Place, Result};
use crate::store::RedisOptions;

/// Default lock wait (SPEC §1), overridable with `JWTAUTH_LOCK_TIMEOUT` seconds.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the signing/verifying key was found (`jwtauth paths`' `key_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `--key PATH`
    Flag,
    /// `JWTAUTH_KEY_FILE`
    Env,
    /// `key` in the configuration file
    Config,
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
            KeySource::Config => "config",
            KeySource::SecretEnv => "JWT_SECRET_KEY",
            KeySource::Default => "default",
        }
    }
}

/// The key as configured, before anything is read from disk.
#[derive(Debug, Clone)]
pub enum KeyConfig {
    /// An explicit key file (`--key`, `JWTAUTH_KEY_FILE` or config `key`): it must exist, it is
    /// never created.
    File { path: PathBuf, source: KeySource },
    /// The raw bytes of `JWT_SECRET_KEY`.
    Secret(Zeroizing<Vec<u8>>),
    /// The default files in the config directory.
    Default { dir: PathBuf },
}

/// Where things are and how to wait for them.
#[derive(Debug)]
pub struct Settings {
    /// The users store (`--users`, `JWTAUTH_USERS`, config `users`, `<data dir>/users.json`).
    pub users: Option<PathBuf>,
    /// The revocation store (`--state`, `JWTAUTH_STATE`, config `state`,
    /// `<data dir>/revocations.json`).
    pub state: Option<PathBuf>,
    /// The key configuration, first match wins: `--key`, `JWT_SECRET_KEY`, `JWTAUTH_KEY_FILE`,
    /// config `key`, default.
    pub key: Option<KeyConfig>,
    /// `--key`, else `JWTAUTH_KEY_FILE`, else config `key`, remembered even when
    /// `JWT_SECRET_KEY` wins, so `init` knows where a key file goes.
    pub key_file: Option<PathBuf>,
    /// Default config directory (for `init` and first `login`).
    pub config_dir: Option<PathBuf>,
    /// How long to wait for a file lock.
    pub lock_timeout: Duration,
    /// How to reach Redis when `users` or `state` is a Redis URL (SPEC §10).
    pub redis: RedisOptions,
    /// The effective configuration (SPEC §12) with the source of every value: the file's
    /// values with the flags and environment applied over them. Its `users`, `state` and
    /// `key` are what was configured; the fields above are what is used.
    pub config: Config,
}

impl Settings {
    /// The users file.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no path was given.
    pub fn users_path(&self) -> Result<&Path> {
        self.users.as_deref().ok_or(Error::NoHome(Place::Users))
    }

    /// The revocation state file.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no path was given.
    pub fn state_path(&self) -> Result<&Path> {
        self.state.as_deref().ok_or(Error::NoHome(Place::State))
    }

    /// The key configuration.
    ///
    /// # Errors
    /// A configuration error when no home directory is known and no key was given.
    pub fn key_config(&self) -> Result<&KeyConfig> {
        self.key.as_ref().ok_or(Error::NoHome(Place::Key))
    }
}
