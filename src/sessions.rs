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

// The stored form (SPEC §13): a session is a JSON record under its sid (the key it is stored
// by, never a field of the record), with the exact field names `sessions list --json` shows:
// `{"sub", "created_at", "last_used_at", "client": "cli" | {"address","user_agent"}, "amr",
// "issue": {"ttl","claims","browser"}, "refresh": {"generation","hash","rotated_at"} (absent
// when none), "tokens": {jti: exp}, "ended_at" (absent when live)}`. Shared by the file and
// Redis stores. A repeated field is an error (SPEC §8: never "last one wins"); fields this
// version does not know are kept in [`Record::extra`] and written back.

/// A session as stored, with the fields of its record this version does not know (name →
/// value as read), kept on every rewrite (SPEC §8).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session (its `sid` is the key the record was stored under).
    pub session: Session,
    /// Unknown fields, written back as they were.
    pub extra: Map<String, Value>,
}

impl From<Session> for Record {
    fn from(session: Session) -> Self {
        Record {
            session,
            extra: Map::new(),
        }
    }
}

impl Record {
    /// Parses one record stored under `sid`.
    ///
    /// # Errors
    /// serde_json's error (with line and column) for a record that is not one.
    pub fn parse(sid: &str, text: &str) -> serde_json::Result<Self> {
        let mut r: Record = serde_json::from_str(text)?;
        r.session.sid = sid.to_string();
        Ok(r)
    }

    /// The record's JSON text (compact, one line).
    pub fn to_json(&self) -> String {
        // Writing to a String cannot fail: every key is a string.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Session {
    /// The record's JSON text (compact, one line), without unknown fields.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&RecordRef {
            s: self,
            extra: None,
        })
        .unwrap_or_default()
    }
}

struct RecordRef<'a> {
    s: &'a Session,
    extra: Option<&'a Map<String, Value>>,
}

impl serde::Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        RecordRef {
            s: &self.session,
            extra: Some(&self.extra),
        }
        .serialize(ser)
    }
}

impl serde::Serialize for Session {
    /// The record (without `sid`).
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        RecordRef {
            s: self,
            extra: None,
        }
        .serialize(ser)
    }
}

impl serde::Serialize for RecordRef<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let s = self.s;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("sub", &s.sub)?;
        m.serialize_entry("created_at", &s.created_at)?;
        m.serialize_entry("last_used_at", &s.last_used_at)?;
        m.serialize_entry("client", &s.client)?;
        m.serialize_entry("amr", &s.amr)?;
        m.serialize_entry("issue", &s.issue)?;
        if let Some(r) = &s.refresh {
            m.serialize_entry("refresh", r)?;
        }
        m.serialize_entry("tokens", &s.tokens)?;
        if let Some(at) = s.ended_at {
            m.serialize_entry("ended_at", &at)?;
        }
        for (k, v) in self.extra.into_iter().flatten() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl serde::Serialize for Client {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Client::Cli => ser.serialize_str("cli"),
            Client::Http {
                address,
                user_agent,
            } => {
                let mut m = ser.serialize_map(Some(2))?;
                m.serialize_entry("address", address)?;
                m.serialize_entry("user_agent", user_agent)?;
                m.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Client {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Http {
            address: String,
            #[serde(default)]
            user_agent: Option<String>,
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Http(Http),
        }
        // Not `untagged` on the record itself: its errors would lose the field's position.
        match Raw::deserialize(d)? {
            Raw::Name(n) if n == "cli" => Ok(Client::Cli),
            Raw::Name(n) => Err(serde::de::Error::custom(format!(
                "unknown client {n:?} (expected \"cli\" or {{\"address\", \"user_agent\"}})"
            ))),
            Raw::Http(h) => Ok(Client::Http {
                address: h.address,
                user_agent: h.user_agent,
            }),
        }
    }
}

impl serde::Serialize for Issue {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(3))?;
        m.serialize_entry("ttl", &self.ttl)?;
        m.serialize_entry("claims", &self.claims)?;
        m.serialize_entry("browser", &self.browser)?;
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Issue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            ttl: i64,
            #[serde(default)]
            claims: Option<crate::json::Unique<String, Value, ClaimsObject>>,
            #[serde(default)]
            browser: bool,
        }
        let r = Raw::deserialize(d)?;
        Ok(Issue {
            ttl: r.ttl,
            claims: r
                .claims
                .map(|c| c.entries.into_iter().collect())
                .unwrap_or_default(),
            browser: r.browser,
        })
    }
}

impl serde::Serialize for Refresh {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(3))?;
        m.serialize_entry("generation", &self.generation)?;
        m.serialize_entry("hash", &self.hash)?;
        m.serialize_entry("rotated_at", &self.rotated_at)?;
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Refresh {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            generation: u64,
            hash: String,
            rotated_at: i64,
        }
        let r = Raw::deserialize(d)?;
        Ok(Refresh {
            generation: r.generation,
            hash: r.hash,
            rotated_at: r.rotated_at,
        })
    }
}

struct RecordObject;
impl crate::json::Object for RecordObject {
    const EXPECTING: &'static str = "a session record";
}
struct ClaimsObject;
impl crate::json::Object for ClaimsObject {
    const EXPECTING: &'static str = "an object of claims";
}
struct TokensObject;
impl crate::json::Object for TokensObject {
    const EXPECTING: &'static str = "an object of token ids and expiry times";
    fn repeated(key: &str) -> String {
        format!("duplicate entry {key:?}")
    }
}

impl<'de> serde::Deserialize<'de> for Record {
    /// A record with an empty `sid` (the caller knows the key it was stored under).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a session record")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Record, A::Error> {
                use serde::de::Error as _;
                let (mut sub, mut created_at, mut last_used_at, mut client) =
                    (None, None, None, None);
                let (mut amr, mut issue, mut refresh, mut tokens, mut ended_at) =
                    (None, None, None, None, None);
                let mut extra = Map::new();
                crate::json::members::<A, String, RecordObject>(map, |k, map| {
                    match k.as_str() {
                        "sub" => sub = Some(map.next_value::<String>()?),
                        "created_at" => created_at = Some(map.next_value::<i64>()?),
                        "last_used_at" => last_used_at = Some(map.next_value::<i64>()?),
                        "client" => client = Some(map.next_value::<Client>()?),
                        "amr" => amr = Some(map.next_value::<Vec<String>>()?),
                        "issue" => issue = Some(map.next_value::<Issue>()?),
                        "refresh" => refresh = map.next_value::<Option<Refresh>>()?,
                        "tokens" => {
                            let t =
                                map.next_value::<crate::json::Unique<String, i64, TokensObject>>()?;
                            tokens = Some(t.entries.into_iter().collect());
                        }
                        "ended_at" => ended_at = map.next_value::<Option<i64>>()?,
                        _ => {
                            extra.insert(k, map.next_value::<Value>()?);
                        }
                    }
                    Ok(())
                })?;
                Ok(Record {
                    session: Session {
                        sid: String::new(),
                        sub: sub.ok_or_else(|| A::Error::missing_field("sub"))?,
                        created_at: created_at
                            .ok_or_else(|| A::Error::missing_field("created_at"))?,
                        last_used_at: last_used_at
                            .ok_or_else(|| A::Error::missing_field("last_used_at"))?,
                        client: client.ok_or_else(|| A::Error::missing_field("client"))?,
                        amr: amr.unwrap_or_default(),
                        issue: issue.ok_or_else(|| A::Error::missing_field("issue"))?,
                        refresh,
                        tokens: tokens.unwrap_or_default(),
                        ended_at,
                    },
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;

    fn sample() -> Session {
        let mut claims = Map::new();
        claims.insert("aud".into(), Value::from("app"));
        claims.insert("n".into(), serde_json::from_str("1.50").unwrap());
        Session {
            sid: "s1".into(),
            sub: "alice".into(),
            created_at: 100,
            last_used_at: 150,
            client: Client::Http {
                address: "10.0.0.1".into(),
                user_agent: Some("curl/8".into()),
            },
            amr: vec!["pwd".into(), "otp".into()],
            issue: Issue {
                ttl: 900,
                claims,
                browser: false,
            },
            refresh: Some(Refresh {
                generation: 3,
                hash: "ab".repeat(32),
                rotated_at: 140,
            }),
            tokens: [("j1".to_string(), 1000), ("j2".to_string(), 2000)].into(),
            ended_at: Some(160),
        }
    }

    #[test]
    fn a_record_round_trips_with_its_unknown_fields() {
        let s = sample();
        let text = s.to_json();
        assert!(!text.contains("\"sid\""), "{text}");
        assert_eq!(Record::parse("s1", &text).unwrap().session, s);
        // The minimal one: cli, no refresh, live, no tokens.
        let mut m = sample();
        m.client = Client::Cli;
        m.refresh = None;
        m.ended_at = None;
        m.tokens.clear();
        let text = m.to_json();
        assert!(text.contains("\"client\":\"cli\""), "{text}");
        assert!(
            !text.contains("refresh") && !text.contains("ended_at"),
            "{text}"
        );
        assert_eq!(Record::parse("s1", &text).unwrap().session, m);
        // Unknown fields are kept and written back.
        let with = text.replacen('{', "{\"later\":{\"x\":[1,2.50]},", 1);
        let r = Record::parse("s1", &with).unwrap();
        assert_eq!(r.session, m);
        assert_eq!(r.extra["later"].to_string(), "{\"x\":[1,2.50]}");
        assert_eq!(Record::parse("s1", &r.to_json()).unwrap(), r);
    }

    #[test]
    fn a_repeated_field_or_token_is_refused() {
        let text = sample().to_json();
        let twice = text.replacen(
            "{\"sub\":\"alice\"",
            "{\"sub\":\"alice\",\"sub\":\"bob\"",
            1,
        );
        let e = Record::parse("s1", &twice).unwrap_err();
        assert!(e.to_string().contains("duplicate field `sub`"), "{e}");
        let twice = text.replacen("\"j1\":1000", "\"j1\":1000,\"j1\":3", 1);
        let e = Record::parse("s1", &twice).unwrap_err();
        assert!(e.to_string().contains("duplicate entry \"j1\""), "{e}");
        assert!(Record::parse("s1", "{\"sub\":\"a\"}").is_err());
        assert!(Record::parse("s1", "[]").is_err());
        let bad = text.replacen(
            "{\"address\":\"10.0.0.1\",\"user_agent\":\"curl/8\"}",
            "\"web\"",
            1,
        );
        assert!(Record::parse("s1", &bad).is_err());
    }
}
