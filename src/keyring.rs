//! The key ring of a key file (issue 12, key rotation): `<key file>.keys.json` keeps the keys
//! that `init --rotate` retired, until every token they signed has expired, so they still
//! verify; and what is known of the current key (when it became current, the longest token
//! lifetime it signed). The current key itself stays in the key file.
//!
//! Retired HMAC secrets are kept as base64url bytes (so the file is a secret: 0600 like the
//! key); of a retired asymmetric key only the public key (SPKI PEM) is kept: it never signs
//! again.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::alg::{self, Algorithm, KeyKind};
use crate::asym::{self, PublicKey};
use crate::error::{Error, Result};
use crate::store::file::{self as store, Document};

/// The ring file's suffix: `<key file>.keys.json`.
pub const SUFFIX: &str = ".keys.json";

/// Where the ring of the key file at `key_path` lives.
pub fn path(key_path: &Path) -> PathBuf {
    store::sidecar(key_path, SUFFIX)
}

/// The `kid` of an HMAC secret: the first 128 bits of SHA-256 over a fixed label and the
/// secret, as 22 base64url characters. It names the key without revealing anything that
/// a token signed with it does not already (both let an attacker test a guessed secret).
pub fn hmac_kid(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"jwtauth hmac kid\0");
    h.update(secret);
    URL_SAFE_NO_PAD.encode(&h.finalize()[..16])
}

/// What the ring knows of the current key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Current {
    /// The key's `kid`: the record is about that key only (a key replaced by `init --force`
    /// starts over).
    pub kid: String,
    /// When it became the signing key (unix seconds), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// The longest lifetime (`exp - iat`, seconds) of a token it signed beyond the configured
    /// ttl, recorded by `login`/`mint` (only when longer than the configured ttl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<i64>,
    /// Fields of a later version, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One retired key, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Its `kid` (RFC 7638 thumbprint, or `hmac_kid`).
    pub kid: String,
    /// The algorithm it signed with.
    pub alg: String,
    /// When it became the signing key, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// When it stopped signing.
    pub retired_at: i64,
    /// When it stops verifying (and is dropped by the next write).
    pub expires_at: i64,
    /// An HMAC secret's bytes, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// An asymmetric key's public key, SPKI PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Fields of a later version, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `<key file>.keys.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ring {
    /// Always 1.
    pub version: u64,
    /// What is known of the current key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
    /// Retired keys, newest first.
    #[serde(default)]
    pub retired: Vec<Record>,
    /// Fields of a later version, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Document for Ring {
    fn empty() -> Self {
        Ring {
            version: store::FORMAT_VERSION,
            ..Ring::default()
        }
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let ring: Ring = store::parse_json(path, bytes)?;
        store::check_version(path, ring.version)?;
        let mut seen = std::collections::HashSet::new();
        for r in &ring.retired {
            if !seen.insert(r.kid.as_str()) {
                return Err(store::corrupt(
                    path,
                    format!("retired key {:?} is listed twice", r.kid),
                ));
            }
            // Every record must be usable, so a broken one is found here, not by a token.
            RetiredKey::from_record(path, r)?;
        }
        Ok(ring)
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }
}

impl Ring {
    /// Drops the retired keys whose time has passed at `now`.
    pub fn prune(&mut self, now: i64) {
        self.retired.retain(|r| r.expires_at > now);
    }

    /// The record of the current key `kid`, made if missing or about another key.
    pub fn current_mut(&mut self, kid: &str) -> &mut Current {
        if self.current.as_ref().is_none_or(|c| c.kid != kid) {
            self.current = Some(Current {
                kid: kid.to_string(),
                ..Current::default()
            });
        }
        self.current.get_or_insert_with(Current::default)
    }

    /// What is known of the current key `kid`.
    pub fn current_of(&self, kid: &str) -> Option<&Current> {
        self.current.as_ref().filter(|c| c.kid == kid)
    }
}

/// A retired key, ready to verify.
pub struct RetiredKey {
    /// Its `kid`.
    pub kid: String,
    /// What it is.
    pub kind: KeyKind,
    /// The algorithm it signed with.
    pub alg: Algorithm,
    /// Its public key (asymmetric keys), for `jwks`.
    pub public: Option<PublicKey>,
    /// When it became the signing key, if known.
    pub created_at: Option<i64>,
    /// When it stopped signing.
    pub retired_at: i64,
    /// When it stops verifying.
    pub expires_at: i64,
    /// The key for verifying.
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for RetiredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetiredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl RetiredKey {
    /// Whether it still verifies at `now`.
    pub fn live(&self, now: i64) -> bool {
        now < self.expires_at
    }

    fn from_record(path: &Path, r: &Record) -> Result<Self> {
        let bad = |why: String| store::corrupt(path, format!("retired key {:?}: {why}", r.kid));
        let alg: Algorithm = r
            .alg
            .parse()
            .map_err(|_| bad(format!("unknown algorithm {:?}", r.alg)))?;
        let (kind, public, decoding) = match (&r.secret, &r.public_key) {
            (Some(secret), None) => {
                let bytes = Zeroizing::new(
                    URL_SAFE_NO_PAD
                        .decode(secret)
                        .map_err(|_| bad("secret is not base64url".into()))?,
                );
                if bytes.is_empty() {
                    return Err(bad("secret is empty".into()));
                }
                (KeyKind::Hmac, None, DecodingKey::from_secret(&bytes))
            }
            (None, Some(pem)) => {
                let parsed = asym::parse_pem(pem.as_bytes()).map_err(bad)?;
                let decoding = parsed.public.decoding_key();
                (parsed.public.kind(), Some(parsed.public), decoding)
            }
            _ => return Err(bad("needs exactly one of secret and public_key".into())),
        };
        if !kind.algorithms().contains(&alg) {
            return Err(bad(format!(
                "is {} key, which cannot verify {}",
                kind.article(),
                alg::name(alg)
            )));
        }
        Ok(RetiredKey {
            kid: r.kid.clone(),
            kind,
            alg,
            public,
            created_at: r.created_at,
            retired_at: r.retired_at,
            expires_at: r.expires_at,
            decoding,
        })
    }
}

/// Reads the ring of the key file at `key_path`: `None` when there is none.
///
/// # Errors
/// Exit 8 for an unreadable or corrupt ring (the file is left as it was).
pub fn load(key_path: &Path) -> Result<Option<Ring>> {
    let path = path(key_path);
    match store::read_optional(&path)? {
        Some(bytes) => Ring::parse(&path, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The retired keys of `ring`, ready to verify, newest first.
///
/// # Errors
/// Exit 8 for a record that cannot be used (already refused by `parse`).
pub fn retired(key_path: &Path, ring: &Ring) -> Result<Vec<RetiredKey>> {
    let path = path(key_path);
    ring.retired
        .iter()
        .map(|r| RetiredKey::from_record(&path, r))
        .collect()
}

/// Read-modify-write of the ring under its lock (`<ring>.lock`); a corrupt ring is never
/// overwritten.
///
/// # Errors
/// `change`'s error, or the lock, parse and write errors.
pub fn update<T>(
    key_path: &Path,
    timeout: std::time::Duration,
    change: impl FnOnce(&mut Ring) -> Result<T>,
) -> Result<T> {
    store::update(&path(key_path), timeout, change)
}

/// The record of a key being retired.
pub fn record(
    kid: &str,
    alg: Algorithm,
    created_at: Option<i64>,
    retired_at: i64,
    expires_at: i64,
    material: Material,
) -> Record {
    let (secret, public_key) = match material {
        Material::Secret(bytes) => (Some(URL_SAFE_NO_PAD.encode(&bytes[..])), None),
        Material::Public(pem) => (None, Some(pem)),
    };
    Record {
        kid: kid.to_string(),
        alg: alg::name(alg).to_string(),
        created_at,
        retired_at,
        expires_at,
        secret,
        public_key,
        extra: Map::new(),
    }
}

/// What of a retired key is kept.
pub enum Material {
    /// An HMAC secret's bytes.
    Secret(Zeroizing<Vec<u8>>),
    /// An asymmetric key's public key, SPKI PEM.
    Public(String),
}

/// An error for a ring problem that is not the file's shape.
pub fn error(key_path: &Path, why: impl std::fmt::Display) -> Error {
    Error::key(format!("key ring {}", path(key_path).display()), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_kids_differ_per_secret_and_do_not_contain_it() {
        let a = hmac_kid(b"secret one, long enough to be a key");
        let b = hmac_kid(b"secret two, long enough to be a key");
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(!a.contains("secret"));
    }

    #[test]
    fn a_ring_round_trips_and_keeps_unknown_fields() {
        let text = br#"{"version":1,"later":true,"retired":[{"kid":"k","alg":"HS256","retired_at":1,"expires_at":2,"secret":"c2VjcmV0","x":1}]}"#;
        let ring = Ring::parse(Path::new("r"), text).expect("parses");
        let mut out = Vec::new();
        ring.write(&mut out).expect("writes");
        let again = Ring::parse(Path::new("r"), &out).expect("parses again");
        assert_eq!(ring, again);
        assert_eq!(again.extra["later"], Value::Bool(true));
        assert_eq!(again.retired[0].extra["x"], serde_json::json!(1));
    }

    #[test]
    fn broken_records_are_corrupt() {
        for text in [
            &br#"{"version":2}"#[..],
            br#"{"version":1,"retired":[{"kid":"k","alg":"HS256","retired_at":1,"expires_at":2}]}"#,
            br#"{"version":1,"retired":[{"kid":"k","alg":"ES256","retired_at":1,"expires_at":2,"secret":"c2VjcmV0"}]}"#,
            br#"{"version":1,"retired":[{"kid":"k","alg":"HS256","retired_at":1,"expires_at":2,"secret":"!"}]}"#,
            br#"{"version":1,"retired":[{"kid":"k","alg":"HS256","retired_at":1,"expires_at":2,"secret":"c2Vj"},{"kid":"k","alg":"HS256","retired_at":1,"expires_at":2,"secret":"c2Vj"}]}"#,
            b"[1]",
            br#"{"version":1,"version":1}"#,
            br#"{"version":1,"retired":[{"kid":"k","kid":"j","alg":"HS256","retired_at":1,"expires_at":2,"secret":"c2Vj"}]}"#,
        ] {
            assert!(Ring::parse(Path::new("r"), text).is_err(), "{text:?}");
        }
    }
}
