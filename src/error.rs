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

    /// A refresh token that cannot be spent (SPEC §13): HTTP `invalid_grant`.
    #[error("refresh refused: {0}")]
    Grant(Grant),

    /// A session operation named a sid that is not a live session (of the caller).
    #[error("no such session: {0}")]
    SessionNotFound(String),

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

    /// A default location (the users store, the revocation state, the key) needs the home
    /// directory, and none is known: the front end says how to name the location instead.
    #[error("no default location: the home directory is unknown")]
    NoHome(Place),

    /// A group name that breaks a rule of `users::check_group`.
    #[error("{}: {rule}", group_what(group))]
    Group { group: String, rule: GroupRule },

    /// A new password longer than bcrypt takes (`passwords::fits`): refused rather than
    /// truncated.
    #[error(
        "password: is {bytes} bytes; bcrypt uses at most {bcrypt_max}, and longer passwords are refused rather than truncated (argon2id takes up to {argon2_max})"
    )]
    PasswordTooLong {
        bytes: usize,
        bcrypt_max: usize,
        argon2_max: usize,
    },

    /// A retired key that cannot be retired (`keys::retire`).
    #[error("retire {kid}: {why}")]
    Retire { kid: String, why: RetireRefused },

    /// Any other configuration problem (a configuration file, a listening address, a URL).
    #[error("{what}: {why}")]
    Config { what: String, why: String },

    /// Something that should not fail did: the operating system refused a thread, a runtime
    /// or the random number generator, or a worker stopped. Not the user's configuration.
    #[error("{what}: {why}")]
    Internal { what: String, why: String },
}

/// A default location that needs the home directory ([`Error::NoHome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The users store.
    Users,
    /// The revocation state.
    State,
    /// The signing key.
    Key,
}

/// Which rule a group name breaks ([`Error::Group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupRule {
    /// The empty name.
    #[error("must not be empty")]
    Empty,
    /// Over `users::MAX_GROUP_CHARS` characters.
    #[error("is longer than {0} characters")]
    TooLong(usize),
    /// Whitespace, a control or an invisible format character.
    #[error("must not contain whitespace, control or invisible format characters")]
    Invisible,
    /// A `,`: forward-auth's `Remote-Groups` header separates groups with it.
    #[error("must not contain ',' (Remote-Groups separates groups with it)")]
    Comma,
}

/// `group` for the empty name, else `group "<name>"`.
fn group_what(group: &str) -> String {
    if group.is_empty() {
        "group".to_string()
    } else {
        format!("group {group:?}")
    }
}

/// Why a key cannot be retired ([`Error::Retire`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetireRefused {
    /// It is the current signing key (rotate first).
    #[error("is the current signing key")]
    Current,
    /// No retired key has this `kid`.
    #[error("no retired key has this kid")]
    Unknown,
}

/// Why a token is not accepted (SPEC §3 order: format, algorithm, signature, claims, times,
/// revocation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Malformed, wrong algorithm, bad signature, audience or issuer: the reason says which.
    #[error("invalid token: {0}")]
    Invalid(Reason),
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
                | VerifyError::Revoked(Revoked::SessionExpired { .. })
        )
    }
}

/// A part of a compact JWS, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The JOSE header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token is invalid ([`VerifyError::Invalid`]), in SPEC §3's order: its form, its
/// header and key, its signature, its claims. The words name no front end's flag: a front end
/// adds its own hint (the command line's `--no-exp-required`, `--aud`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// Nothing at all.
    #[error("token is empty")]
    Empty,
    /// Over `limit` bytes (`len` when it is known).
    #[error("token is {}over the {} KiB limit", len.map(|n| format!("{n} bytes, ")).unwrap_or_default(), limit / 1024)]
    TooLong { len: Option<usize>, limit: usize },
    /// Five parts: a JWE.
    #[error("this is an encrypted token (JWE, 5 parts); only signed tokens (JWS) are supported")]
    Encrypted,
    /// Not three dot-separated parts: how many there are.
    #[error("expected 3 dot-separated parts (header.payload.signature), found {0}")]
    Parts(usize),
    /// A part that is not base64url.
    #[error("{0} is not valid base64url")]
    NotBase64(Part),
    /// A part that is JSON but not an object.
    #[error("{0} is not a JSON object")]
    NotObject(Part),
    /// A part that is not JSON: the parser's detail.
    #[error("{part} is not valid JSON: {detail}")]
    NotJson { part: Part, detail: String },
    /// A part whose bytes are not UTF-8 (so not JSON), from byte `at`.
    #[error("{part} is not valid JSON: invalid UTF-8 at byte {at}")]
    NotUtf8 { part: Part, at: usize },
    /// A registered claim of the wrong type, or given twice: the parser's detail.
    #[error("payload: {0}")]
    Claims(String),
    /// A time claim (`exp`, `nbf`, `iat`) that is a number too large to use.
    #[error("claim {0} is not a usable number")]
    UnusableNumber(&'static str),
    /// A time claim that is not a number.
    #[error("claim {0} is not a number of seconds")]
    NotSeconds(&'static str),
    /// The header has no `alg`.
    #[error("header has no alg")]
    NoAlg,
    /// `alg: none`.
    #[error("alg none (an unsigned token) is never accepted")]
    AlgNone,
    /// An algorithm the key (the one named by `kid`, if any) does not accept.
    #[error(
        "algorithm {alg} is not accepted for {} (accepted: {accepted})",
        kid.as_ref().map_or_else(|| "this key".to_string(), |k| format!("key {k:?}"))
    )]
    AlgNotAccepted {
        alg: String,
        kid: Option<String>,
        accepted: String,
    },
    /// No key of a JWK Set accepts the algorithm.
    #[error("algorithm {alg} is not accepted by any key in {set}")]
    AlgNotInSet { alg: String, set: String },
    /// No `kid`, and several keys of a JWK Set accept the algorithm.
    #[error("token has no kid and {count} keys in {set} accept {alg}; cannot choose")]
    KidNeeded {
        alg: String,
        count: usize,
        set: String,
    },
    /// A `kid` that names no key of the set.
    #[error("unknown kid {kid:?}: no such key in {set}")]
    UnknownKid { kid: String, set: String },
    /// A `kid` that names a key of the set that cannot verify.
    #[error("kid {kid:?} names a key of {set} that cannot be used: {why}")]
    UnusableKid {
        kid: String,
        set: String,
        why: Unusable,
    },
    /// Signed by a retired key whose time has passed.
    #[error("signed by retired key {kid:?}, which stopped verifying at {}", utc(*until))]
    RetiredKey { kid: String, until: i64 },
    /// RFC 7515 §4.1.11: critical extensions, which are not understood.
    #[error("header lists critical extensions this tool does not support: {}", .0.join(", "))]
    Critical(Vec<String>),
    /// The crypto provider refused the key for the algorithm.
    #[error("{0}")]
    Crypto(String),
    /// The signature does not match.
    #[error("signature does not match")]
    BadSignature,
    /// No `exp`, and one is required.
    #[error("token has no exp claim")]
    NoExp,
    /// None of the accepted audiences.
    #[error("audience is not {}", one_of(.0))]
    Audience(Vec<String>),
    /// An `aud`, when no audience is accepted.
    #[error("token has an audience")]
    UnexpectedAudience,
    /// None of the accepted issuers.
    #[error("issuer is not {}", one_of(.0))]
    Issuer(Vec<String>),
    /// Ending a token needs its `jti` and `exp`.
    #[error("token has no jti to revoke")]
    NoJti,
    /// Pasted text that is something else (`tokens::pasted_token`).
    #[error("this looks like {0}, not a token")]
    LooksLike(Lookalike),
}

/// Why a key of a JWK Set cannot be used ([`Reason::UnusableKid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// The set's own reason (`asym::Skipped`).
    #[error("{0}")]
    Skipped(String),
    /// It verifies only other algorithms than the one required.
    #[error("it verifies only {verifies}, not {alg}")]
    OtherAlg { verifies: String, alg: &'static str },
}

/// What a pasted text that is not a token looks like ([`Reason::LooksLike`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lookalike {
    #[error("an Authorization header without a Bearer token")]
    AuthorizationWithoutBearer,
    #[error("a Bearer prefix without a token")]
    BearerWithoutToken,
    #[error("a cookie without a token")]
    EmptyCookie,
    #[error("a Cookie header without jwtauth_session")]
    CookieWithoutSession,
    #[error("a Set-Cookie header without jwtauth_session")]
    SetCookieWithoutSession,
    #[error("a URL")]
    Url,
    #[error("a PEM key or certificate")]
    Pem,
    #[error("a password hash")]
    PasswordHash,
    /// The parser's detail.
    #[error("JSON that does not parse ({0}; a JSON document in a stream must be on one line)")]
    BadJson(String),
    #[error("a JSON document without access_token")]
    JsonWithoutToken,
    #[error("a JSON document whose access_token is not a string")]
    JsonTokenNotString,
}

impl From<Reason> for VerifyError {
    fn from(r: Reason) -> Self {
        VerifyError::Invalid(r)
    }
}

impl From<Reason> for Error {
    fn from(r: Reason) -> Self {
        Error::Token(VerifyError::Invalid(r))
    }
}

/// `"a"` for one wanted value, `one of "a", "b"` for several (messages).
fn one_of(wanted: &[String]) -> String {
    match wanted {
        [one] => format!("{one:?}"),
        many => {
            let quoted: Vec<String> = many.iter().map(|w| format!("{w:?}")).collect();
            format!("one of {}", quoted.join(", "))
        }
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
    /// Its session (`sid`) was ended, or is not known to this store (SPEC §13).
    Session,
    /// Its session is over by time (`session_max_age` or `session_idle`) since `at`: an
    /// expiry (exit 3), not a revocation.
    SessionExpired { at: i64 },
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
            Revoked::Session => f.write_str("its session was ended"),
            Revoked::SessionExpired { at } => write!(f, "its session expired at {}", utc(*at)),
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

/// A key that cannot be used as asked. The words name no front end's flag: the command line
/// adds its own hint (`--key`, `--force`, `--allow-weak-key`, `--alg`).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key (its path, `JWT_SECRET_KEY`, …) and the reason.
    #[error("{what}: {why}")]
    Unusable { what: String, why: String },
    /// No key is configured anywhere (no key file, no `JWT_SECRET_KEY`, no default key).
    #[error("no signing key: none is configured")]
    Missing,
    /// `JWT_SECRET_KEY` holds a PEM key, which is never taken as an HMAC secret (RFC 8725
    /// §2.1).
    #[error("JWT_SECRET_KEY: holds a PEM key, not an HMAC secret")]
    PemSecret,
    /// Both default key files exist.
    #[error("two default keys: both {} and {} exist", secret.display(), private.display())]
    TwoDefaults { secret: PathBuf, private: PathBuf },
    /// An RSA key under `min` bits, to sign with.
    #[error("key {key}: RSA key is {bits} bits, under the {min}-bit minimum")]
    WeakRsa {
        key: String,
        bits: usize,
        min: usize,
    },
    /// An HMAC secret under `min` bytes, to sign with.
    #[error("key {key}: HMAC secret is {len} bytes, under the {min}-byte minimum")]
    WeakHmac { key: String, len: usize, min: usize },
    /// A key file that `init` would replace.
    #[error("key {}: already exists", path.display())]
    Exists { path: PathBuf },
    /// A public key or certificate where `init` would write a signing key: never replaced.
    #[error(
        "key {}: holds a public key or certificate, not a signing key; init never writes over it",
        path.display()
    )]
    PublicKeyFile { path: PathBuf },
    /// An algorithm that the key cannot verify.
    #[error(
        "algorithm {alg}: does not fit key {key}, which is {kind} key (it verifies {verifies})"
    )]
    AlgMismatch {
        alg: &'static str,
        key: String,
        /// "an RSA", "a P-256", …
        kind: String,
        verifies: String,
    },
    /// A JWK Set with no key that can verify (the required algorithm, if any), and the
    /// reasons of the keys it skipped.
    #[error(
        "key set {set}: has no key that can verify {}{}",
        alg.map_or_else(|| "signatures (RSA, P-256, P-384 or Ed25519)".to_string(), |a| format!("{a} signatures")),
        reasons_suffix(reasons)
    )]
    NoneInSet {
        set: String,
        alg: Option<&'static str>,
        reasons: Vec<String>,
    },
}

/// `: a; b` for the skipped keys' reasons, or nothing.
pub fn reasons_suffix(reasons: &[String]) -> String {
    if reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", reasons.join("; "))
    }
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

    /// A failure of something that should not fail (a thread, a runtime, a worker).
    pub fn internal(what: impl fmt::Display, why: impl fmt::Display) -> Self {
        Error::Internal {
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
        Error::Key(KeyError::Unusable {
            what: what.to_string(),
            why: why.to_string(),
        })
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

/// Why a refresh token was refused (SPEC §13): each is `invalid_grant` over HTTP; the
/// command line exits 3, 4 (`Ended` and `Reused`) and 1 respectively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Its session is over by time (`session_max_age`, `session_idle`).
    Expired,
    /// Its session was ended, or the token was spent already (a reuse ends the session).
    Ended,
    /// Not a refresh token of this store (malformed, unknown session, a bad tag).
    Unknown,
    /// Spent already and presented again (or spent by a racing request first): taken as
    /// theft, the session was ended by this attempt (a security event for the front end's
    /// log). Outside `refresh_reuse_grace`.
    Reused,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grant::Expired => "the session has expired",
            // A reuse says no more than an ended session: the holder may be the thief.
            Grant::Ended | Grant::Reused => {
                "the session has ended, or this refresh token was already used"
            }
            Grant::Unknown => "not a refresh token of this store",
        })
    }
}
