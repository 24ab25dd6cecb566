//! The one error type of jwtauth and the exit codes it maps to (SPEC §4).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes are a stable contract: scripts depend on them.
pub mod code {
    /// Token invalid, or password mismatch in `hash --check`.
    pub const INVALID: u8 = 1;
    /// Usage error: bad flags, arguments or values.
    pub const USAGE: u8 = 2;
    /// Token expired or not yet valid.
    pub const EXPIRED: u8 = 3;
    /// Token revoked.
    pub const REVOKED: u8 = 4;
    /// Login refused.
    pub const LOGIN_REFUSED: u8 = 5;
    /// No such user.
    pub const NO_USER: u8 = 6;
    /// User already exists.
    pub const USER_EXISTS: u8 = 7;
    /// Data or configuration error.
    pub const DATA: u8 = 8;
}

/// Everything that can go wrong, each variant with the context its message needs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given by the user is not acceptable (exit 2).
    #[error("{what}: {why}")]
    Usage { what: String, why: String },

    /// `hash --check` did not match (exit 1).
    #[error("password does not match the hash")]
    PasswordMismatch,

    /// The token failed a check (exit 1).
    #[error("invalid token: {0}")]
    TokenInvalid(String),

    /// The token is expired or not yet valid (exit 3).
    #[error("token {0}")]
    TokenTime(String),

    /// The token was revoked (exit 4).
    #[error("token revoked: {0}")]
    TokenRevoked(String),

    /// Unknown user, wrong password or disabled user: one message for all (exit 5).
    #[error("login refused: incorrect username or password")]
    LoginRefused,

    /// A user command named a user that does not exist (exit 6).
    #[error("no such user: {0}")]
    UserNotFound(String),

    /// `user add` of an existing name (exit 7).
    #[error("user already exists: {0}")]
    UserExists(String),

    /// An I/O error on a file, with its path (exit 8).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that does not parse or has an unknown version (exit 8). It is never overwritten.
    #[error("{}: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },

    /// A lock file stayed held past the timeout (exit 8).
    #[error("{}: locked by another process{} (gave up after {secs}s)", path.display(), holder(*.pid))]
    Locked {
        path: PathBuf,
        pid: Option<u32>,
        secs: f64,
    },

    /// A configuration problem: missing or weak key, bad key file, existing key (exit 8).
    #[error("{what}: {why}")]
    Config { what: String, why: String },

    /// Writing to stdout failed (a closed pipe is not reported).
    #[error("writing output: {0}")]
    Output(std::io::Error),
}

fn holder(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A usage error (exit 2): `what` is the offending input, `why` the reason.
    pub fn usage(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Usage {
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// A configuration error (exit 8).
    pub fn config(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Config {
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The process exit code of SPEC §4.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::PasswordMismatch | Error::TokenInvalid(_) => code::INVALID,
            Error::Usage { .. } => code::USAGE,
            Error::TokenTime(_) => code::EXPIRED,
            Error::TokenRevoked(_) => code::REVOKED,
            Error::LoginRefused => code::LOGIN_REFUSED,
            Error::UserNotFound(_) => code::NO_USER,
            Error::UserExists(_) => code::USER_EXISTS,
            Error::Io { .. }
            | Error::Corrupt { .. }
            | Error::Locked { .. }
            | Error::Config { .. } => code::DATA,
            Error::Output(_) => code::DATA,
        }
    }

    /// True when stdout was closed by the reader (`jwtauth … | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The exit code as a process `ExitCode`.
    pub fn exit(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }
}
