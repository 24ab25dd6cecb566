//! Sessions (SPEC §13): one record per sign-in, the rules that say when one is over, and the
//! refresh tokens that continue one. A leaf of the core: the stores keep the records
//! ([`crate::store::SessionStore`]), the authority decides (`Authority::login`, `refresh`,
//! `end_sessions`), and every check of a token with a `sid` asks [`Rules::judge`], once, here.
//!
//! Design (SPEC §13 "Details"):
//! - A session's end is computed at each check from its times and the *current* limits
//!   ([`Limits`]); the store keeps only times, never a precomputed end.
//! - A refresh token names its session and generation: `base64url(sid ‖ generation ‖ 32
//!   random bytes ‖ tag)`, where the tag is a MAC of sid and generation under a key derived from
//!   the signing key. The store keeps the SHA-256 of the current generation's token only;
//!   spending compares it (constant time) and is a compare-and-set on the generation. An older
//!   generation with a valid tag is a reuse: the session ends (outside
//!   `refresh_reuse_grace` for the one just spent). Storage does not grow per refresh.
//! - A `serve` check is a use: [`Rules`] keeps the last uses in memory and the server writes
//!   them at most about once a minute ([`Rules::take_uses`]), never on the request's path. A
//!   command-line `verify` reads but does not record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};

use serde_json::{Map, Value};

use crate::error::Revoked;

/// Default `session_max_age`: 7 days.
pub const DEFAULT_MAX_AGE: i64 = 7 * 24 * 3600;
/// Default `session_idle`: 1 day.
pub const DEFAULT_IDLE: i64 = 24 * 3600;
/// Default `session_max_per_user`.
pub const DEFAULT_MAX_PER_USER: usize = 100;
/// Default `refresh_reuse_grace`: none.
pub const DEFAULT_REUSE_GRACE: i64 = 0;
/// How often, at most, a use is written by `serve` (seconds).
pub const USE_WRITE_PERIOD: i64 = 60;

/// The configured limits (SPEC §13), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `session_max_age`: from sign-in.
    pub max_age: i64,
    /// `session_idle`: since last use.
    pub idle: i64,
    /// `session_max_per_user`.
    pub max_per_user: usize,
    /// `refresh_reuse_grace`.
    pub reuse_grace: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_age: DEFAULT_MAX_AGE,
            idle: DEFAULT_IDLE,
            max_per_user: DEFAULT_MAX_PER_USER,
            reuse_grace: DEFAULT_REUSE_GRACE,
        }
    }
}

/// Where a session was begun: `"cli"`, or an HTTP client (JSON `{"address","user_agent"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// `jwtauth login`.
    Cli,
    /// `POST /token` or `POST /login`.
    Http {
        /// The client address as `serve` sees it (after trusted proxies).
        address: String,
        /// The `User-Agent` header, if any (at most 256 characters kept).
        user_agent: Option<String>,
    },
}

/// What a sign-in issued, issued again by each refresh: the lifetime asked for and the claims
/// beyond `sub`, `groups` and the times (`aud`, `iss`, `--claim`s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Issue {
    /// The access token's lifetime, in seconds (before the session's limits cap it).
    pub ttl: i64,
    /// Claims beyond `sub`, `groups`, `iat`, `exp`, `jti`, `sid`.
    pub claims: Map<String, Value>,
    /// A browser sign-in (`POST /login`): its cookie's token lives to the session's absolute
    /// end, and it has no refresh token.
    pub browser: bool,
}

/// The refresh state of a session: which generation is current and the hash of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// The current generation (0 for the sign-in's token).
    pub generation: u64,
    /// SHA-256 of the current generation's token, lowercase hex.
    pub hash: String,
    /// When the current generation was made (the previous one spent).
    pub rotated_at: i64,
}

/// One session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Its id: ≥ 128 random bits, base64url.
    pub sid: String,
    /// The user.
    pub sub: String,
    /// When it began (unix seconds): the `iat` of its first token.
    pub created_at: i64,
    /// When it was last used, as written (a server may hold a later one in memory).
    pub last_used_at: i64,
    /// Where from.
    pub client: Client,
    /// Authentication methods (RFC 8176): `["pwd"]`, `["pwd","otp"]`.
    pub amr: Vec<String>,
    /// What a refresh issues.
    pub issue: Issue,
    /// The refresh state; `None` for a session without refresh tokens (a browser sign-in).
    pub refresh: Option<Refresh>,
    /// The live access tokens issued in it: `jti` → `exp`. Ending the session revokes each in
    /// the revocation list too, where older versions look (SPEC §13 "Details").
    pub tokens: BTreeMap<String, i64>,
    /// When it was ended early, if it was (a tombstone, kept until its absolute end).
    pub ended_at: Option<i64>,
}

/// What a check needs of a session: its times, and whether it was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// When it began.
    pub created_at: i64,
    /// When it was last used (as the store has it).
    pub last_used_at: i64,
    /// Whether it was ended early.
    pub ended: bool,
}

impl Session {
    /// Its times, for a check.
    pub fn times(&self) -> Times {
        Times {
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            ended: self.ended_at.is_some(),
        }
    }
}

/// Why a session is over, as a check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// Ended early (logout, revoke, reuse, a user change), or not known to this store.
    Ended,
    /// Past `session_max_age` (at this time).
    MaxAge(i64),
    /// Past `session_idle` without use (at this time).
    Idle(i64),
}

impl Limits {
    /// Whether a session with these times is over at `now` (`last_used` is the latest use
    /// known, which may be later than the stored one).
    pub fn over(&self, t: Option<Times>, last_used: i64, now: i64) -> Option<Over> {
        let Some(t) = t else {
            return Some(Over::Ended);
        };
        if t.ended {
            return Some(Over::Ended);
        }
        let absolute = t.created_at.saturating_add(self.max_age);
        if now >= absolute {
            return Some(Over::MaxAge(absolute));
        }
        let idle = last_used.max(t.last_used_at).saturating_add(self.idle);
        if now >= idle {
            return Some(Over::Idle(idle));
        }
        None
    }

    /// The session's absolute end.
    pub fn absolute_end(&self, created_at: i64) -> i64 {
        created_at.saturating_add(self.max_age)
    }

    /// When the session ends if not used again: the earlier of the two limits.
    pub fn ends_at(&self, t: Times, last_used: i64) -> i64 {
        self.absolute_end(t.created_at)
            .min(last_used.max(t.last_used_at).saturating_add(self.idle))
    }
}

/// The rules every check of a `sid` goes through, shared by a process's store and its
/// front end: the current limits (a reload replaces them) and, in `serve`, the uses not yet
/// written.
#[derive(Debug)]
pub struct Rules {
    limits: RwLock<Limits>,
    /// `Some` when checks are uses (`serve`): sid → latest use not yet written.
    uses: Option<Mutex<HashMap<String, i64>>>,
}

impl Rules {
    /// Rules with these limits; `record_uses` when a check is a use (`serve`).
    pub fn new(limits: Limits, record_uses: bool) -> Self {
        Rules {
            limits: RwLock::new(limits),
            uses: record_uses.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        *self
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the limits (a configuration reload).
    pub fn set_limits(&self, limits: Limits) {
        *self
            .limits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = limits;
    }

    /// The latest use of `sid` held in memory (`i64::MIN` when none).
    pub fn held_use(&self, sid: &str) -> i64 {
        self.uses.as_ref().map_or(i64::MIN, |m| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(sid)
                .copied()
                .unwrap_or(i64::MIN)
        })
    }

    /// The one judgement of a token's session: `times` is what the store has for `sid`
    /// (`None`: unknown, refused as revoked). A session still live at `now` is a use when
    /// checks are uses (recorded in memory only).
    pub fn judge(&self, sid: &str, times: Option<Times>, now: i64) -> Option<Revoked> {
        let limits = self.limits();
        let held = self.held_use(sid);
        match limits.over(times, held, now) {
            Some(Over::Ended) => Some(Revoked::Session),
            Some(Over::MaxAge(at) | Over::Idle(at)) => Some(Revoked::SessionExpired { at }),
            None => {
                if let (Some(uses), Some(t)) = (&self.uses, times)
                    && now - held.max(t.last_used_at) >= 1
                {
                    let mut m = uses
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let e = m.entry(sid.to_string()).or_insert(now);
                    *e = (*e).max(now);
                }
                None
            }
        }
    }

    /// Puts back uses taken by [`Rules::take_uses`] that could not be written (a later use
    /// held meanwhile stays).
    pub fn put_back(&self, taken: Vec<(String, i64)>) {
        if let Some(uses) = &self.uses {
            let mut m = uses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (sid, at) in taken {
                let e = m.entry(sid).or_insert(at);
                *e = (*e).max(at);
            }
        }
    }

    /// The uses held in memory, emptied: `serve` writes them ([`crate::store::SessionStore::touch`])
    /// about once a minute.
    pub fn take_uses(&self) -> Vec<(String, i64)> {
        self.uses.as_ref().map_or_else(Vec::new, |m| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .drain()
                .collect()
        })
    }
}
