//! The revocation state (`revocations.json`): revoked token ids with their expiry, and
//! per-subject "everything issued up to this time is revoked" marks.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde::Deserialize;

use crate::context::Ctx;
use crate::error::Result;
use crate::store::{self, Document};

/// The revocation state in memory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Revocations {
    /// Revoked `jti` → that token's `exp` (unix seconds).
    pub tokens: BTreeMap<String, i64>,
    /// Subject → every token of it with `iat` at or before this time is revoked.
    pub users: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct StateFile {
    version: u64,
    #[serde(default)]
    tokens: BTreeMap<String, i64>,
    #[serde(default)]
    users: BTreeMap<String, i64>,
}

impl Document for Revocations {
    fn empty() -> Self {
        Revocations::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file: StateFile = store::parse_json(path, bytes)?;
        store::check_version(path, file.version)?;
        Ok(Revocations {
            tokens: file.tokens,
            users: file.users,
        })
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"{\n  \"version\": 1,\n  \"tokens\": ")?;
        write_map(out, &self.tokens)?;
        out.write_all(b",\n  \"users\": ")?;
        write_map(out, &self.users)?;
        out.write_all(b"\n}\n")
    }
}

/// One entry per line, so the file stays readable and cheap to write.
fn write_map(out: &mut dyn Write, map: &BTreeMap<String, i64>) -> io::Result<()> {
    out.write_all(b"{")?;
    for (i, (k, v)) in map.iter().enumerate() {
        out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        store::write_json_str(out, k)?;
        write!(out, ": {v}")?;
    }
    if !map.is_empty() {
        out.write_all(b"\n  ")?;
    }
    out.write_all(b"}")
}

/// Why a token is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Its `jti` was logged out.
    Token,
    /// Its subject was logged out everywhere (or changed password, was disabled or removed)
    /// at this time, at or after the token's `iat`.
    Subject(i64),
}

impl Revocations {
    /// Whether a token with these claims is revoked.
    pub fn check(&self, jti: Option<&str>, sub: Option<&str>, iat: Option<i64>) -> Option<Revoked> {
        if jti.is_some_and(|j| self.tokens.contains_key(j)) {
            return Some(Revoked::Token);
        }
        let at = *self.users.get(sub?)?;
        // A token without `iat` cannot prove it was issued after the mark.
        (iat.is_none_or(|iat| iat <= at)).then_some(Revoked::Subject(at))
    }

    /// Drops the entries of tokens whose `exp` has passed.
    pub fn prune(&mut self, now: i64) -> usize {
        let before = self.tokens.len();
        self.tokens.retain(|_, exp| *exp > now);
        before - self.tokens.len()
    }
}

/// Read-modify-write of the state file under its lock; expired entries are pruned on every
/// write.
///
/// # Errors
/// As `store::update`.
pub fn update<T>(ctx: &Ctx, change: impl FnOnce(&mut Revocations) -> Result<T>) -> Result<T> {
    store::update(
        ctx.state_path()?,
        ctx.lock_timeout,
        |r: &mut Revocations| {
            let out = change(r)?;
            r.prune(ctx.now);
            Ok(out)
        },
    )
}

/// Records that every token of `sub` issued up to `ctx.now` is revoked.
///
/// # Errors
/// As `update`.
pub fn revoke_subject(ctx: &Ctx, sub: &str) -> Result<()> {
    update(ctx, |r| {
        let at = r.users.entry(sub.to_string()).or_insert(ctx.now);
        *at = (*at).max(ctx.now);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_mark_revokes_tokens_issued_at_or_before_it() {
        let mut r = Revocations::default();
        r.users.insert("alice".into(), 100);
        assert_eq!(
            r.check(None, Some("alice"), Some(100)),
            Some(Revoked::Subject(100))
        );
        assert_eq!(
            r.check(None, Some("alice"), Some(99)),
            Some(Revoked::Subject(100))
        );
        assert_eq!(r.check(None, Some("alice"), Some(101)), None);
        assert_eq!(
            r.check(None, Some("alice"), None),
            Some(Revoked::Subject(100))
        );
        assert_eq!(r.check(None, Some("bob"), Some(1)), None);
    }

    #[test]
    fn prune_keeps_only_live_tokens() {
        let mut r = Revocations::default();
        r.tokens.insert("a".into(), 10);
        r.tokens.insert("b".into(), 11);
        assert_eq!(r.prune(10), 1);
        assert_eq!(r.tokens.keys().collect::<Vec<_>>(), vec!["b"]);
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut r = Revocations::default();
        r.tokens.insert("j\"ti".into(), 10);
        r.users.insert("alice".into(), 5);
        let mut buf = Vec::new();
        r.write(&mut buf).unwrap();
        assert_eq!(Revocations::parse(Path::new("x"), &buf).unwrap(), r);
    }
}
