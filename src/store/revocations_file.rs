//! The revocation store on a file (`revocations.json`): revoked token ids with their expiry,
//! per-subject "everything issued up to this time is revoked" marks, and the lookup index
//! beside the file that spares a reader the parse of a large state file.

use crate::sessions::{Limits, Session};
use crate::store::Query;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use serde::Deserialize;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Revoked};
use crate::json;
use crate::store::file::{self as store, Document};
use crate::store::{Lookups, RevocationList, RevocationStore};

/// The revocation state in memory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Revocations {
    /// Revoked `jti` → that token's `exp` (unix seconds).
    pub tokens: BTreeMap<String, i64>,
    /// Subject → every token of it with `iat` at or before this time is revoked.
    pub users: BTreeMap<String, i64>,
}

/// The state file as `update` rewrites it: the revocations, plus the fields of the document
/// this version does not know as (name as JSON, value as written), kept on every write
/// (SPEC §8).
#[derive(Debug, Default)]
struct StateDoc {
    r: Revocations,
    extra: Vec<(String, String)>,
}

impl Document for StateDoc {
    fn empty() -> Self {
        StateDoc::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file: StateFile = store::parse_json(path, bytes)?;
        store::check_version(path, file.version)?;
        Ok(StateDoc {
            r: Revocations {
                tokens: file.tokens,
                users: file.users,
            },
            extra: file.extra,
        })
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        write_state(out, &self.r, &self.extra)
    }
}

struct StateFile {
    version: u64,
    tokens: BTreeMap<String, i64>,
    users: BTreeMap<String, i64>,
    extra: Vec<(String, String)>,
}

/// A map of names to unix seconds in which a repeated name is an error (SPEC §8: never "last
/// one wins").
struct UniqueMap(BTreeMap<String, i64>);

/// The objects of the state file, for [`json::members`].
struct Times;

impl json::Object for Times {
    const EXPECTING: &'static str = "an object of unix times";
    fn repeated(key: &str) -> String {
        format!("duplicate entry {key:?}")
    }
}

impl json::Object for StateFile {
    const EXPECTING: &'static str = "a revocation state file";
}

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let u = json::Unique::<String, i64, Times>::deserialize(d)?;
        Ok(UniqueMap(u.entries.into_iter().collect()))
    }
}

impl<'de> Deserialize<'de> for StateFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StateFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a revocation state file")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let (mut version, mut tokens, mut users) = (None, None, None);
                let mut extra: Vec<(String, String)> = Vec::new();
                json::members::<A, String, StateFile>(map, |k, map| {
                    match k.as_str() {
                        "version" => version = Some(map.next_value::<u64>()?),
                        "tokens" => tokens = Some(map.next_value::<UniqueMap>()?.0),
                        "users" => users = Some(map.next_value::<UniqueMap>()?.0),
                        _ => {
                            let raw = map.next_value::<Box<serde_json::value::RawValue>>()?;
                            extra.push((
                                serde_json::Value::from(k).to_string(),
                                raw.get().to_string(),
                            ));
                        }
                    }
                    Ok(())
                })?;
                Ok(StateFile {
                    version: version.ok_or_else(|| A::Error::missing_field("version"))?,
                    tokens: tokens.unwrap_or_default(),
                    users: users.unwrap_or_default(),
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl Document for Revocations {
    fn empty() -> Self {
        Revocations::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        StateDoc::parse(path, bytes).map(|d| d.r)
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        write_state(out, self, &[])
    }
}

/// The state file's text: version, the unknown fields as they were, tokens, users.
fn write_state(out: &mut dyn Write, r: &Revocations, extra: &[(String, String)]) -> io::Result<()> {
    out.write_all(b"{\n  \"version\": 1,")?;
    for (k, v) in extra {
        write!(out, "\n  {k}: {v},")?;
    }
    out.write_all(b"\n  \"tokens\": ")?;
    write_map(out, &r.tokens)?;
    out.write_all(b",\n  \"users\": ")?;
    write_map(out, &r.users)?;
    out.write_all(b"\n}\n")
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

impl Revocations {
    /// Revokes every token of `sub` issued up to `now` (a later time already recorded stays).
    pub fn revoke_subject(&mut self, sub: &str, now: i64) {
        let at = self.users.entry(sub.to_string()).or_insert(now);
        *at = (*at).max(now);
    }

    /// Whether a token with these claims is revoked (the rule every store follows).
    pub fn check(&self, jti: Option<&str>, sub: Option<&str>, iat: Option<i64>) -> Option<Revoked> {
        if jti.is_some_and(|j| self.tokens.contains_key(j)) {
            return Some(Revoked::Token);
        }
        let sub = sub?;
        let at = *self.users.get(sub)?;
        // A token without `iat` cannot prove it was issued after the mark.
        (iat.is_none_or(|iat| iat <= at)).then(|| Revoked::Subject {
            sub: sub.to_string(),
            at,
        })
    }

    /// Drops the entries of tokens whose `exp` has passed.
    pub fn prune(&mut self, now: i64) -> usize {
        let before = self.tokens.len();
        self.tokens.retain(|_, exp| *exp > now);
        before - self.tokens.len()
    }
}

/// A read-only view of the revocations, shaped for lookups: sorted `(key hash, time)` pairs.
///
/// A single `verify` must not parse a 100,000-entry state file (tens of milliseconds), so
/// every write also leaves `<state>.idx`: the same pairs, sorted, stamped with the identity of
/// the JSON file they were made from. A reader uses the index only when the stamp matches the
/// JSON file it sees (so a hand edit, a crash between the two writes, or a missing index all
/// fall back to parsing the JSON): the JSON stays the one source of truth.
///
/// Layout (little-endian): 8-byte magic, 5 stamp words, token count, subject count, then the
/// token pairs and the subject pairs, 16 bytes each, each list sorted by hash. The view keeps
/// these bytes as they are and binary-searches them in place; a view opened for a single
/// check reads only the ~34 words its searches touch (the file is replaced by rename, never
/// changed in place, so an open handle keeps seeing one consistent version).
#[derive(Debug)]
pub struct RevocationView {
    image: Image,
    tokens: usize,
    users: usize,
    /// Whether lookups go through the thread's memo of index keys ([`memo_key_hash`]): for a
    /// view loaded for many lookups.
    memo: bool,
}

#[derive(Debug)]
enum Image {
    Bytes(Vec<u8>),
    #[cfg(unix)]
    File(std::fs::File),
}

impl Image {
    fn word(&self, at: usize) -> Option<u64> {
        match self {
            Image::Bytes(b) => word(b, at),
            #[cfg(unix)]
            Image::File(f) => {
                let mut buf = [0u8; 8];
                std::os::unix::fs::FileExt::read_exact_at(f, &mut buf, at as u64).ok()?;
                Some(u64::from_le_bytes(buf))
            }
        }
    }

    fn len(&self) -> Option<u64> {
        match self {
            Image::Bytes(b) => Some(b.len() as u64),
            #[cfg(unix)]
            Image::File(f) => f.metadata().ok().map(|m| m.len()),
        }
    }
}

const INDEX_MAGIC: &[u8; 8] = b"JWTAIDX1";
const INDEX_HEADER: usize = 64;
const PAIR: usize = 16;

/// The key of a revoked id or subject in the index: the first 8 bytes of its SHA-256. A false
/// match would need a 64-bit collision, and could only make a token look revoked.
fn key_hash(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// How many ids and subjects each thread remembers the index key of.
const MEMO_SLOTS: usize = 256;
/// Longer ids and subjects are hashed every time (and never kept).
const MEMO_MAX_LEN: usize = 128;

thread_local! {
    /// The index keys of the ids and subjects this thread looked up last, by slot.
    static MEMO: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// [`key_hash`] through a small per-thread memo: a server checks the same tokens and subjects
/// again and again, and a SipHash of the text and a comparison cost much less than a SHA-256
/// (several times less even with the CPU's SHA extensions, ten times without). Exact: a slot
/// answers only for the very text it was computed from. The ids and subjects come from tokens
/// whose signature was checked, so no outsider chooses them; two that share a slot only cost
/// the SHA-256, as before.
fn memo_key_hash(s: &str) -> u64 {
    if s.len() > MEMO_MAX_LEN {
        return key_hash(s);
    }
    MEMO.with(|m| {
        let Ok(mut m) = m.try_borrow_mut() else {
            return key_hash(s);
        };
        if m.is_empty() {
            m.resize(MEMO_SLOTS, (String::new(), key_hash("")));
        }
        let at = BuildHasherDefault::<DefaultHasher>::default().hash_one(s) as usize % MEMO_SLOTS;
        let slot = &mut m[at];
        if slot.0 != s {
            slot.1 = key_hash(s);
            slot.0.clear();
            slot.0.push_str(s);
        }
        slot.1
    })
}

/// `<state file>.idx`.
pub fn index_path(state: &Path) -> std::path::PathBuf {
    store::sidecar(state, ".idx")
}

fn word(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Writes `<state>.idx` for the state file just written (the caller holds the lock).
fn write_index(state: &Path, r: &Revocations) -> Result<()> {
    let meta = std::fs::metadata(state).map_err(|e| Error::io(state, e))?;
    let mut image = image_of(r);
    for (i, n) in store::stamp(&meta).into_iter().enumerate() {
        image[8 + 8 * i..16 + 8 * i].copy_from_slice(&n.to_le_bytes());
    }
    store::write_atomic(&index_path(state), |w| w.write_all(&image))
}

/// The index bytes of `r`, with a zero stamp.
fn image_of(r: &Revocations) -> Vec<u8> {
    let sorted = |map: &BTreeMap<String, i64>| {
        let mut v: Vec<(u64, i64)> = map.iter().map(|(k, t)| (key_hash(k), *t)).collect();
        v.sort_unstable();
        v
    };
    let (tokens, users) = (sorted(&r.tokens), sorted(&r.users));
    let mut image = Vec::with_capacity(INDEX_HEADER + PAIR * (tokens.len() + users.len()));
    image.extend_from_slice(INDEX_MAGIC);
    image.resize(48, 0); // the stamp, filled in when written to disk
    image.extend_from_slice(&(tokens.len() as u64).to_le_bytes());
    image.extend_from_slice(&(users.len() as u64).to_le_bytes());
    for (h, t) in tokens.iter().chain(&users) {
        image.extend_from_slice(&h.to_le_bytes());
        image.extend_from_slice(&t.to_le_bytes());
    }
    image
}

/// The index is a cache (SPEC §8): one that is missing or stale (a state file jwtauth did not
/// write, or edited by hand) is rebuilt by the first command that can write beside the state
/// file, under its lock, so later readers need not parse the JSON again. `None` when it cannot
/// (lock busy, directory not writable, the file belongs to another user, or it does not
/// parse): the caller then answers from the JSON, only slower.
fn heal_index(state: &Path, meta: &std::fs::Metadata) -> Option<Revocations> {
    // Never leave our own lock and index files beside another user's state file: they would
    // lock its owner out of the next write.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata("/proc/self").ok()?.uid() != meta.uid() {
            return None;
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = meta;
        return None;
    }
    // Not waiting: a writer holding the lock rebuilds the index itself.
    let _lock = store::lock(state, std::time::Duration::ZERO).ok()?;
    let r: Revocations = store::load(state).ok()?;
    // Best effort, like the index every write leaves.
    let _ = write_index(state, &r);
    Some(r)
}

impl From<&Revocations> for RevocationView {
    fn from(r: &Revocations) -> Self {
        RevocationView {
            tokens: r.tokens.len(),
            users: r.users.len(),
            image: Image::Bytes(image_of(r)),
            memo: false,
        }
    }
}

impl RevocationView {
    /// Loads the revocations for lookups: from the index when it matches the state file,
    /// else by parsing the state file. A missing state file means nothing is revoked.
    ///
    /// # Errors
    /// `Error::Io` or `Error::Corrupt` for the state file (never for the index).
    pub fn load(state: &Path, lookups: Lookups) -> Result<Self> {
        let meta = match std::fs::metadata(state) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Self::from(&Revocations::default()));
            }
            Err(e) => return Err(Error::io(state, e)),
        };
        let memo = lookups == Lookups::Many;
        if let Some(view) = Self::from_index(&index_path(state), &meta, lookups) {
            return Ok(Self { memo, ..view });
        }
        if let Some(r) = heal_index(state, &meta) {
            return Ok(Self {
                memo,
                ..Self::from(&r)
            });
        }
        let r: Revocations = store::load(state)?;
        Ok(Self {
            memo,
            ..Self::from(&r)
        })
    }

    fn from_index(path: &Path, meta: &std::fs::Metadata, lookups: Lookups) -> Option<Self> {
        let image = match lookups {
            #[cfg(unix)]
            Lookups::Few => Image::File(std::fs::File::open(path).ok()?),
            _ => Image::Bytes(std::fs::read(path).ok()?),
        };
        if image.word(0)? != u64::from_le_bytes(*INDEX_MAGIC) {
            return None;
        }
        let want = store::stamp(meta);
        if (0..5).any(|i| image.word(8 + 8 * i) != Some(want[i])) {
            return None;
        }
        let (tokens, users) = (image.word(48)? as usize, image.word(56)? as usize);
        let pairs = tokens.checked_add(users)?.checked_mul(PAIR)?;
        if image.len()? != (INDEX_HEADER + pairs) as u64 {
            return None;
        }
        Some(RevocationView {
            image,
            tokens,
            users,
            memo: false,
        })
    }

    /// Binary search of `key` among `n` pairs starting at pair `first`.
    fn find(&self, first: usize, n: usize, key: &str) -> Option<i64> {
        if n == 0 {
            return None;
        }
        let h = if self.memo {
            memo_key_hash(key)
        } else {
            key_hash(key)
        };
        let hash_at = |i: usize| {
            self.image
                .word(INDEX_HEADER + PAIR * (first + i))
                .unwrap_or(u64::MAX)
        };
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if hash_at(mid) < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < n && hash_at(lo) == h)
            .then(|| self.image.word(INDEX_HEADER + PAIR * (first + lo) + 8))
            .flatten()
            .map(|t| t as i64)
    }

    /// When every token of `sub` issued up to then was revoked, if ever.
    pub fn subject_revoked_at(&self, sub: &str) -> Option<i64> {
        self.find(self.tokens, self.users, sub)
    }

    /// Whether a token with these claims is revoked.
    pub fn check(&self, jti: Option<&str>, sub: Option<&str>, iat: Option<i64>) -> Option<Revoked> {
        if jti.is_some_and(|j| self.find(0, self.tokens, j).is_some()) {
            return Some(Revoked::Token);
        }
        let sub = sub?;
        let at = self.subject_revoked_at(sub)?;
        // A token without `iat` cannot prove it was issued after the mark.
        (iat.is_none_or(|iat| iat <= at)).then(|| Revoked::Subject {
            sub: sub.to_string(),
            at,
        })
    }
}

/// The revocation store on a file. Writes are read-modify-writes under the lock that also
/// rebuild the index; checks use a view of the index kept in memory, which
/// [`RevocationStore::refresh`] replaces when the file has changed since it was loaded.
#[derive(Debug)]
pub struct FileRevocations {
    path: PathBuf,
    lock_timeout: Duration,
    lookups: Lookups,
    /// The view checks use, with the stamp of the file version it was loaded from.
    view: RwLock<Option<Loaded>>,
    /// The session rules checks are judged by.
    rules: std::sync::Arc<crate::sessions::Rules>,
}

#[derive(Debug)]
struct Loaded {
    stamp: Option<[u64; 5]>,
    view: RevocationView,
}

impl FileRevocations {
    /// The store at `path` (a missing file means nothing is revoked).
    pub fn new(
        path: &Path,
        lock_timeout: Duration,
        lookups: Lookups,
        rules: std::sync::Arc<crate::sessions::Rules>,
    ) -> Self {
        FileRevocations {
            path: path.to_path_buf(),
            lock_timeout,
            lookups,
            rules,
            view: RwLock::new(None),
        }
    }

    /// Read-modify-write of the state file under its lock; expired entries are pruned on
    /// every write, and the lookup index beside the file is rebuilt.
    fn update<T>(&self, now: i64, change: impl FnOnce(&mut Revocations) -> T) -> Result<T> {
        let path = &self.path;
        store::update_then(
            path,
            self.lock_timeout,
            None,
            |d: &mut StateDoc| {
                let out = change(&mut d.r);
                d.r.prune(now);
                Ok(out)
            },
            |StateDoc { r, .. }| {
                store::remove_stale_temps(&index_path(path));
                // The index only speeds readers up: one that is missing or stale is ignored
                // by them, so failing to write it must not fail a revocation already on disk.
                let _ = write_index(path, r);
            },
        )
    }

    /// Runs `f` on the current view, loading it first if there is none.
    fn with_view<T>(&self, f: impl FnOnce(&RevocationView) -> T) -> Result<T> {
        {
            let guard = self.view.read().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = guard.as_ref() {
                return Ok(f(&l.view));
            }
        }
        let loaded = self.load()?;
        let out = f(&loaded.view);
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
        Ok(out)
    }

    fn load(&self) -> Result<Loaded> {
        // The stamp is taken before reading: a change in between makes the next refresh
        // load again, never keeps a view older than its stamp says.
        let stamp = stamp_of(&self.path)?;
        Ok(Loaded {
            stamp,
            view: RevocationView::load(&self.path, self.lookups)?,
        })
    }
}

/// The identity of the state file's current version; `None` when there is none.
fn stamp_of(path: &Path) -> Result<Option<[u64; 5]>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(store::stamp(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl RevocationStore for FileRevocations {
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>> {
        // SESSIONS-TODO: q.sid
        self.with_view(|v| v.check(q.jti, q.sub, q.iat))
    }

    // SESSIONS-TODO: the session operations of this store (SPEC §13).
    fn begin_session(&self, _s: &Session, _limits: &Limits, _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn session(&self, _sid: &str) -> Result<Option<Session>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn sessions(&self, _sub: Option<&str>) -> Result<Vec<Session>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn replace_session(&self, _new: &Session, _generation: u64) -> Result<bool> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn end_sessions(&self, _sids: &[&str], _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn end_user_sessions(&self, _sub: &str, _keep: Option<&str>, _now: i64) -> Result<Vec<String>> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn touch_sessions(&self, _uses: &[(String, i64)]) -> Result<()> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn prune_sessions(&self, _now: i64, _max_age: i64) -> Result<usize> {
        Err(Error::internal("sessions", "not built yet"))
    }
    fn import_sessions(&self, _sessions: &[Session]) -> Result<()> {
        Err(Error::internal("sessions", "not built yet"))
    }

    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>> {
        self.with_view(|v| v.subject_revoked_at(sub))
    }

    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()> {
        self.update(now, |r| {
            r.tokens.insert(jti.to_string(), exp);
        })
    }

    fn revoke_subjects(&self, subs: &[&str], at: i64, now: i64) -> Result<()> {
        self.update(now, |r| {
            for sub in subs {
                r.revoke_subject(sub, at);
            }
        })
    }

    fn merge(&self, from: &RevocationList, now: i64) -> Result<()> {
        // One locked rewrite for all of it.
        self.update(now, |r| {
            for (jti, exp) in from.tokens.iter().filter(|(_, exp)| *exp > now) {
                r.tokens.insert(jti.clone(), *exp);
            }
            for (sub, at) in &from.users {
                r.revoke_subject(sub, *at);
            }
        })
    }

    fn list(&self) -> Result<RevocationList> {
        let r: Revocations = store::load(&self.path)?;
        Ok(RevocationList {
            tokens: r.tokens.into_iter().collect(),
            users: r.users.into_iter().collect(),
        })
    }

    fn prune(&self, now: i64) -> Result<usize> {
        // Nothing to prune without a state file, and nothing to create (SPEC §8).
        if stamp_of(&self.path)?.is_none() {
            return Ok(0);
        }
        self.update(now, |r| r.prune(now))
    }

    fn refresh(&self) -> Result<()> {
        let stamp = stamp_of(&self.path)?;
        let stale = {
            let guard = self.view.read().unwrap_or_else(|p| p.into_inner());
            guard.as_ref().is_some_and(|l| l.stamp != stamp)
        };
        if stale {
            let loaded = self.load()?;
            *self.view.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_mark_revokes_tokens_issued_at_or_before_it() {
        let mut r = Revocations::default();
        r.users.insert("alice".into(), 100);
        let r = RevocationView::from(&r);
        let alice = Some(Revoked::Subject {
            sub: "alice".into(),
            at: 100,
        });
        assert_eq!(r.check(None, Some("alice"), Some(100)), alice);
        assert_eq!(r.check(None, Some("alice"), Some(99)), alice);
        assert_eq!(r.check(None, Some("alice"), Some(101)), None);
        assert_eq!(r.check(None, Some("alice"), None), alice);
        assert_eq!(r.check(None, Some("bob"), Some(1)), None);
    }

    #[test]
    fn the_memo_gives_the_index_key_of_the_very_text() {
        // More texts than slots, so slots are shared and replaced; "" and a long text too.
        let texts: Vec<String> = (0..3 * MEMO_SLOTS)
            .map(|i| format!("user{i}"))
            .chain([String::new(), "x".repeat(MEMO_MAX_LEN + 1)])
            .collect();
        for _ in 0..2 {
            for t in &texts {
                assert_eq!(memo_key_hash(t), key_hash(t), "{t}");
            }
        }
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

    #[test]
    fn index_matches_only_the_file_it_was_made_from() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("revocations.json");
        let mut r = Revocations::default();
        r.tokens.insert("jti-1".into(), i64::MAX);
        r.users.insert("alice".into(), 100);
        store::write_atomic(&state, |w| r.write(w)).unwrap();
        write_index(&state, &r).unwrap();
        let meta = std::fs::metadata(&state).unwrap();
        let view = RevocationView::from_index(&index_path(&state), &meta, Lookups::Few)
            .expect("fresh index");
        assert_eq!(view.check(Some("jti-1"), None, None), Some(Revoked::Token));
        assert_eq!(view.check(Some("jti-2"), Some("alice"), Some(101)), None);
        assert_eq!(view.subject_revoked_at("alice"), Some(100));
        // Any rewrite of the JSON makes the index stale.
        store::write_atomic(&state, |w| Revocations::default().write(w)).unwrap();
        let meta = std::fs::metadata(&state).unwrap();
        assert!(RevocationView::from_index(&index_path(&state), &meta, Lookups::Many).is_none());
        let view = RevocationView::load(&state, Lookups::Many).unwrap();
        assert_eq!(view.check(Some("jti-1"), None, None), None);
    }

    #[test]
    fn a_json_array_is_not_a_state_file() {
        let e = Revocations::parse(Path::new("x"), b"\n  [1, {}]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x: not a valid jwtauth file at line 2 column 3: expected a JSON object; fix or move it away (it was not changed)"
        );
        assert!(Revocations::parse(Path::new("x"), b" {\"version\": 1}").is_ok());
    }
}
