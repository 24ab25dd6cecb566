//! The command line's error: the core's typed errors plus what only a command line has, and
//! the one place that maps them to the exit codes of SPEC §4 (as the `rage` binary wraps the
//! `age` library's errors).

use std::fmt;
use std::process::ExitCode;

use crate::error::{
    Error as CoreError, Grant, GroupRule, KeyError, Place, Reason, RetireRefused, StoreError,
    Unusable, VerifyError, reasons_suffix,
};

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
    /// A failure of the core, in the command line's words ([`Words`]).
    #[error("{}", Words(.0))]
    Core(#[from] CoreError),

    /// `verify -` or `logout -` read no token (exit 1).
    #[error("invalid token: no tokens on stdin")]
    NoTokens,

    /// A stream in which tokens failed or lines were empty (exit 1); the per-line results
    /// say which.
    #[error("invalid token: {}", batch_summary(*failed, *tokens, *empty))]
    Batch {
        failed: u64,
        tokens: u64,
        empty: u64,
    },

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

    /// The process exit code of SPEC §4.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::PasswordMismatch
            | Error::NothingImported { .. }
            | Error::NoTokens
            | Error::Batch { .. } => code::INVALID,
            Error::NoSuchSubject(_) => code::NO_USER,
            Error::Interrupted => code::INTERRUPTED,
            Error::Output(_) => code::DATA,
            Error::Core(e) => match e {
                CoreError::Invalid { .. }
                | CoreError::Group { .. }
                | CoreError::PasswordTooLong { .. }
                | CoreError::Retire { .. } => code::USAGE,
                // A session over by time is an expiry, though a session's answer.
                CoreError::Token(t) if t.is_time() => code::EXPIRED,
                CoreError::Token(VerifyError::Revoked(_)) => code::REVOKED,
                CoreError::Grant(Grant::Expired) => code::EXPIRED,
                CoreError::Grant(Grant::Ended | Grant::Reused) => code::REVOKED,
                CoreError::Grant(Grant::Unknown) => code::INVALID,
                CoreError::SessionNotFound(_) => code::NO_USER,
                CoreError::Token(_) => code::INVALID,
                CoreError::LoginRefused => code::LOGIN_REFUSED,
                CoreError::UserNotFound(_) => code::NO_USER,
                CoreError::UserExists(_) | CoreError::UserConfusable { .. } => code::USER_EXISTS,
                CoreError::Store(_)
                | CoreError::Key(_)
                | CoreError::NoHome(_)
                | CoreError::Config { .. }
                | CoreError::Internal { .. } => code::DATA,
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

/// The summary of a stream that did not all pass: `2 of 5 tokens failed`, `every token passed,
/// but there was 1 empty line`, ….
fn batch_summary(failed: u64, tokens: u64, empty: u64) -> String {
    let empty_lines = match empty {
        1 => "was 1 empty line".to_string(),
        n => format!("were {n} empty lines"),
    };
    match (failed, empty) {
        (_, 0) => format!("{failed} of {tokens} tokens failed"),
        (0, _) => format!("every token passed, but there {empty_lines}"),
        _ => format!("{failed} of {tokens} tokens failed, and there {empty_lines}"),
    }
}

/// What the command line adds to a group name with a `,`.
const GROUP_HINT: &str = "; repeat --group instead";

/// A group rule in the command line's words (a skipped record of `user import`).
pub fn group_rule(rule: GroupRule) -> String {
    match rule {
        GroupRule::Comma => format!("{rule}{GROUP_HINT}"),
        _ => rule.to_string(),
    }
}

/// The flag that names a location the home directory would give.
fn place_flag(place: Place) -> &'static str {
    match place {
        Place::Users => "--users",
        Place::State => "--state",
        Place::Key => "--key",
    }
}

/// A core error in the command line's words: the core names no flag or command, so where a
/// flag or a command is the way out, it is added here (the messages of SPEC §4).
pub struct Words<'a>(pub &'a CoreError);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match e {
            CoreError::Token(VerifyError::Invalid(reason)) => match reason {
                Reason::NoExp => write!(f, "{e} (pass --no-exp-required to accept such tokens)"),
                Reason::UnexpectedAudience => {
                    write!(f, "{e}; pass --aud with one of its values, or --any-aud")
                }
                Reason::UnusableKid {
                    kid,
                    set,
                    why: Unusable::OtherAlg { verifies, alg },
                } => write!(
                    f,
                    "invalid token: kid {kid:?} names a key of {set} that cannot be used: it verifies only {verifies}, not --alg {alg}"
                ),
                Reason::NoJti => write!(f, "{e}; use 'jwtauth logout --all SUBJECT'"),
                _ => write!(f, "{e}"),
            },
            CoreError::Key(k) => match k {
                KeyError::Missing => f.write_str(
                    "no signing key: run 'jwtauth init' to create one (or set JWT_SECRET_KEY or pass --key)",
                ),
                KeyError::PemSecret => write!(f, "{e}; pass the key file with --key"),
                KeyError::TwoDefaults { .. } => write!(f, "{e}; choose with --key"),
                KeyError::WeakRsa { .. } => write!(
                    f,
                    "{e}; run 'jwtauth init --alg RS256' for a strong one, or pass --allow-weak-key"
                ),
                KeyError::WeakHmac { .. } => write!(
                    f,
                    "{e}; run 'jwtauth init' for a strong one, or pass --allow-weak-key"
                ),
                KeyError::Exists { .. } => write!(
                    f,
                    "{e}; pass --force to replace it (tokens signed with it will stop verifying)"
                ),
                KeyError::PublicKeyFile { .. } => write!(
                    f,
                    "{e} (with or without --force): choose another path with --key"
                ),
                KeyError::AlgMismatch {
                    alg,
                    key,
                    kind,
                    verifies,
                } => write!(
                    f,
                    "--alg {alg}: does not fit key {key}, which is {kind} key (it verifies {verifies})"
                ),
                KeyError::NoneInSet {
                    set,
                    alg: Some(alg),
                    reasons,
                } => write!(
                    f,
                    "key set {set}: has no key that can verify --alg {alg}{}",
                    reasons_suffix(reasons)
                ),
                _ => write!(f, "{e}"),
            },
            CoreError::NoHome(place) => write!(f, "{e}; pass {} PATH", place_flag(*place)),
            CoreError::Group { rule, .. } if *rule == GroupRule::Comma => {
                write!(f, "{e}{}", GROUP_HINT)
            }
            CoreError::PasswordTooLong {
                bytes,
                bcrypt_max,
                argon2_max,
            } => write!(
                f,
                "password: is {bytes} bytes; bcrypt uses at most {bcrypt_max}, and longer passwords are refused rather than truncated (argon2id takes up to {argon2_max}: --scheme argon2id)"
            ),
            CoreError::Retire { kid, why } => match why {
                RetireRefused::Current => write!(
                    f,
                    "keys retire {kid}: is the current signing key; run 'jwtauth init --rotate' first, then retire it"
                ),
                RetireRefused::Unknown => write!(
                    f,
                    "keys retire {kid}: no retired key has this kid (see 'jwtauth keys list')"
                ),
            },
            _ => write!(f, "{e}"),
        }
    }
}
