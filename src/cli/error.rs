//! The command line's error: the core's typed errors plus what only a command line has, and
//! the one place that maps them to the exit codes of SPEC §4 (as the `rage` binary wraps the
//! `age` library's errors).

use std::fmt;
use std::process::ExitCode;

use crate::error::{Error as CoreError, StoreError, VerifyError};

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
    /// Interrupted at a prompt (Ctrl-C): 128 + SIGINT, as a shell reports it.
    pub const INTERRUPTED: u8 = 130;
}

/// What a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure of the core.
    #[error(transparent)]
    Core(#[from] CoreError),

    /// `hash --check` did not match (exit 1).
    #[error("password does not match the hash")]
    PasswordMismatch,

    /// `user import` found users in its file but imported none of them (exit 1, SPEC §4):
    /// every one was skipped or already there.
    #[error("user import: nothing imported from {file}: {why}")]
    NothingImported { file: String, why: String },
    /// `logout --all NAME` for a NAME that is not a user, without `--force` (exit 6): a typo
    /// would otherwise revoke nothing anyone holds and look like success (SPEC §15).
    #[error(
        "no such user: {0}; to revoke the tokens of a subject that is not a user (a minted token's sub), add --force"
    )]
    NoSuchSubject(String),

    /// Ctrl-C at a password prompt (exit 130, no message: the terminal shows `^C`'s line).
    #[error("interrupted")]
    Interrupted,

    /// Writing to stdout failed (a closed pipe is not reported).
    #[error("writing output: {0}")]
    Output(std::io::Error),
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Self {
        Error::Core(e.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Core(e.into())
    }
}

/// Shorthand for results of commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A usage error (exit 2): `what` is the offending input, `why` the reason.
    pub fn usage(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        CoreError::invalid(what, why).into()
    }

    /// A configuration error (exit 8).
    pub fn config(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        CoreError::config(what, why).into()
    }

    /// An invalid token (exit 1).
    pub fn token(why: impl Into<String>) -> Self {
        CoreError::token(why).into()
    }

    /// The process exit code of SPEC §4.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::PasswordMismatch | Error::NothingImported { .. } => code::INVALID,
            Error::NoSuchSubject(_) => code::NO_USER,
            Error::Interrupted => code::INTERRUPTED,
            Error::Output(_) => code::DATA,
            Error::Core(e) => match e {
                CoreError::Invalid { .. } => code::USAGE,
                CoreError::Token(VerifyError::Revoked(_)) => code::REVOKED,
                CoreError::Token(t) if t.is_time() => code::EXPIRED,
                CoreError::Token(_) => code::INVALID,
                CoreError::LoginRefused => code::LOGIN_REFUSED,
                CoreError::UserNotFound(_) => code::NO_USER,
                CoreError::UserExists(_) | CoreError::UserConfusable { .. } => code::USER_EXISTS,
                CoreError::Store(_) | CoreError::Key(_) | CoreError::Config { .. } => code::DATA,
            },
        }
    }

    /// True for Ctrl-C at a prompt: exit 130 without a message.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
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
