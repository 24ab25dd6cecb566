//! The typed errors of the core. The core never decides an exit code or an HTTP status: each
//! front end maps these (the command line in `cli::error`, the server in `serve`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::clock::{relative, utc};

/// Everything the core can fail with, each variant with the context its message needs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given by the user is not acceptable (a username, a duration, a claim, a
    /// malformed hash): `what` is the offending input, `why` the reason.
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },

    /// A token failed verification.
    #[error(transparent)]
    Token(#[from] VerifyError),

    /// Unknown user, wrong password or disabled user: one message for all.
    #[error("login refused: incorrect username or password")]
    LoginRefused,

    /// A user operation named a user that does not exist.
    #[error("no such user: {0}")]
    UserNotFound(String),

    /// An add of an existing name.
    #[error("user already exists: {0}")]
    UserExists(String),

    /// An add of a name that looks like an existing user's (SPEC §15: the same UTS #39
    /// skeleton, e.g. `аlice` with a Cyrillic а beside `alice`). The new name is shown with
    /// its non-ASCII characters escaped, so the difference can be seen.
    #[error(
        "user name {}: confusable with the existing user {existing:?}",
        escape_non_ascii(name)
    )]
    UserConfusable { name: String, existing: String },

    /// A store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A key problem: missing, weak, malformed, of the wrong kind, or already there.
    #[error(transparent)]
    Key(#[from] KeyError),

    /// Any other configuration problem (no home directory, the random number generator).
    #[error("{what}: {why}")]
    Config { what: String, why: String },
}

/// Why a token is not accepted (SPEC §3 order: format, algorithm, signature, claims, times,
/// revocation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Malformed, wrong algorithm, bad signature, audience or issuer: the detail says which.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` has passed (beyond the leeway) at `now` (SPEC §8: `token expired: at <UTC> (3h
    /// ago)`).
    #[error("token expired: at {} ({})", utc(*exp), relative(*exp, *now))]
    Expired { exp: i64, now: i64 },
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid before {}", utc(*.0))]
    NotYetValid(i64),
    /// `iat` is in the future (beyond the leeway).
    #[error("token not yet valid: issued in the future at {}", utc(*.0))]
    IssuedInFuture(i64),
    /// Logged out.
    #[error("token revoked: {0}")]
    Revoked(Revoked),
}

impl VerifyError {
    /// True for the "expired or not yet valid" outcomes (exit 3, not 1).
    pub fn is_time(&self) -> bool {
        matches!(
            self,
            VerifyError::Expired { .. }
                | VerifyError::NotYetValid(_)
                | VerifyError::IssuedInFuture(_)
        )
    }
}

/// Why a token is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Its `jti` was logged out.
    Token,
    /// Its subject was logged out everywhere (or changed password, was disabled or removed)
    /// at `at`, at or after the token's `iat`.
    Subject { sub: String, at: i64 },
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revoked::Token => f.write_str("this token was logged out"),
            Revoked::Subject { sub, at } => write!(
                f,
                "every token of {sub:?} issued up to {} was revoked",
                utc(*at)
            ),
        }
    }
}

/// A store that could not be used. A file that does not parse is never overwritten.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a file, with its path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that does not parse or has an unknown version.
    #[error("{}: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },
    /// A lock stayed held past the timeout.
    #[error("{}: locked by another process{} (gave up after {secs}s)", path.display(), holder(*.pid))]
    Locked {
        path: PathBuf,
        pid: Option<u32>,
        secs: f64,
    },
    /// A remote store (Redis) that could not be used: unreachable, too slow, or refusing.
    #[error("{location}: {why}")]
    Remote { location: String, why: String },
}

fn holder(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// A key that cannot be used as asked: `what` names it, `why` says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {why}")]
pub struct KeyError {
    /// The key (its path, `JWT_SECRET_KEY`, `--alg X`, …).
    pub what: String,
    /// The reason, with a hint where one helps.
    pub why: String,
}

/// Shorthand for results of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An unacceptable value given by the user.
    pub fn invalid(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Invalid {
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// A configuration problem.
    pub fn config(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Config {
            what: what.to_string(),
            why: why.to_string(),
        }
    }

    /// A key problem.
    pub fn key(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Key(KeyError {
            what: what.to_string(),
            why: why.to_string(),
        })
    }

    /// An invalid token, with the detail.
    pub fn token(why: impl Into<String>) -> Self {
        Error::Token(VerifyError::Invalid(why.into()))
    }

    /// An I/O error with the path it happened on.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Store(StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A file that does not parse: `why` should end with what to do.
    pub fn corrupt(path: &Path, why: impl Into<String>) -> Self {
        Error::Store(StoreError::Corrupt {
            path: path.to_path_buf(),
            why: why.into(),
        })
    }
}

/// `name` quoted, with every non-ASCII character as `\u{…}` (so `аlice` shows its Cyrillic а).
fn escape_non_ascii(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        if c.is_ascii() {
            out.extend(c.escape_debug());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out.push('"');
    out
}
