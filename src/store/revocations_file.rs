//! The revocation store on a file (`revocations.json`): revoked token ids with their expiry,
//! per-subject "everything issued up to this time is revoked" marks, the sessions (SPEC §13:
//! sid → record under `"sessions"`, which makes the file version 2), and the lookup index
//! beside the file that spares a reader the parse of a large state file.

use crate::sessions::{Limits, Record, Rules, Session, Times};
use crate::store::Query;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock, mpsc};
use std::time::Duration;

use serde::Deserialize;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Revoked, StoreError};
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

/// The state file as `update` rewrites it: the revocations, the sessions, the version read
/// (never lowered), plus the fields of the document this version does not know as (name as
/// JSON, value as written), kept on every write (SPEC §8).
#[derive(Debug)]
struct StateDoc {
    r: Revocations,
    /// The sessions. A change to a record must drop its text from `texts` ([`Self::changed`]).
    sessions: BTreeMap<String, Record>,
    version: u64,
    extra: Vec<(String, String)>,
    /// sid → its record's JSON as last written, so that a write serialises only the records
    /// that changed since ([`Self::text`]); one missing is serialised again.
    texts: HashMap<String, Vec<u8>>,
}

impl Default for StateDoc {
    fn default() -> Self {
        StateDoc {
            r: Revocations::default(),
            sessions: BTreeMap::new(),
            version: store::FORMAT_VERSION,
            extra: Vec::new(),
            texts: HashMap::new(),
        }
    }
}

impl Document for StateDoc {
    fn empty() -> Self {
        StateDoc::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file: StateFile = store::parse_json(path, bytes)?;
        store::check_version_upto(path, file.version, store::STATE_VERSION)?;
        Ok(StateDoc {
            r: Revocations {
                tokens: file.tokens,
                users: file.users,
            },
            sessions: file.sessions,
            version: file.version,
            extra: file.extra,
            texts: HashMap::new(),
        })
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        write_state(
            out,
            &self.r,
            &self.sessions,
            self.written_version(),
            &self.extra,
            &mut |out, rec| serde_json::to_writer(out, rec).map_err(io::Error::other),
        )
    }
}

impl StateDoc {
    /// The version a write gives the file: the first write with a session makes it 2 (SPEC
    /// §13 "Details"), so an older jwtauth refuses it rather than ignore ended sessions.
    /// Never lowered.
    fn written_version(&self) -> u64 {
        if self.sessions.is_empty() {
            self.version
        } else {
            self.version.max(store::STATE_VERSION)
        }
    }

    /// What every write does besides its change, in one pass over the state: drops the
    /// revoked ids expired at `now`, the sessions whose absolute end (`created_at +
    /// max_age`) has passed (ended or not), and the expired token ids inside the rest.
    fn tidy(&mut self, now: i64, max_age: i64) {
        self.r.prune(now);
        let texts = &mut self.texts;
        self.sessions.retain(|sid, rec| {
            let before = rec.session.tokens.len();
            rec.session.tokens.retain(|_, exp| *exp > now);
            if rec.session.tokens.len() != before {
                texts.remove(sid);
            }
            rec.session.created_at.saturating_add(max_age) > now
        });
    }

    /// Notes that the record of `sid` changed (or is new): the next write serialises it.
    fn changed(&mut self, sid: &str) {
        self.texts.remove(sid);
    }

    /// Stores `rec` under its sid.
    fn insert(&mut self, rec: Record) {
        self.changed(&rec.session.sid);
        self.sessions.insert(rec.session.sid.clone(), rec);
    }

    /// The file's text, as [`Document::write`] writes it, into a buffer of `capacity`: the
    /// records that did not change since the last time are copied as they were serialised.
    fn text(&mut self, capacity: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(capacity);
        let version = self.written_version();
        let texts = &mut self.texts;
        write_state(
            &mut out,
            &self.r,
            &self.sessions,
            version,
            &self.extra,
            &mut |out, rec| {
                let sid = &rec.session.sid;
                if let Some(text) = texts.get(sid) {
                    debug_assert_eq!(
                        Some(text),
                        serde_json::to_vec(rec).ok().as_ref(),
                        "the record of {sid} changed without `StateDoc::changed`"
                    );
                    return out.write_all(text);
                }
                let text = serde_json::to_vec(rec).map_err(io::Error::other)?;
                out.write_all(&text)?;
                texts.insert(sid.clone(), text);
                Ok(())
            },
        )?;
        if texts.len() > self.sessions.len() {
            texts.retain(|sid, _| self.sessions.contains_key(sid));
        }
        Ok(out)
    }

    /// Ends the live session `sid` at `now`: its tombstone keeps `ended_at`, and its live
    /// token ids go into the revoked ids, where older versions and the plain id check look.
    /// Whether it was live (stored and not ended).
    fn end(&mut self, sid: &str, now: i64) -> bool {
        let Some(rec) = self.sessions.get_mut(sid) else {
            return false;
        };
        if rec.session.ended_at.is_some() {
            return false;
        }
        self.texts.remove(sid);
        rec.session.ended_at = Some(now);
        for (jti, exp) in std::mem::take(&mut rec.session.tokens) {
            if exp > now {
                let e = self.r.tokens.entry(jti).or_insert(exp);
                *e = (*e).max(exp);
            }
        }
        true
    }

    /// The sessions' times, for the index.
    fn times(&self) -> impl Iterator<Item = (&str, Times)> {
        self.sessions
            .iter()
            .map(|(sid, rec)| (sid.as_str(), rec.session.times()))
    }
}

struct StateFile {
    version: u64,
    tokens: BTreeMap<String, i64>,
    users: BTreeMap<String, i64>,
    sessions: BTreeMap<String, Record>,
    extra: Vec<(String, String)>,
}

/// The `"sessions"` object of the state file, for [`json::Unique`].
struct SessionsObject;

impl json::Object for SessionsObject {
    const EXPECTING: &'static str = "an object of sessions";
    fn repeated(key: &str) -> String {
        format!("duplicate session {key:?}")
    }
}

/// A map of names to unix seconds in which a repeated name is an error (SPEC §8: never "last
/// one wins").
struct UniqueMap(BTreeMap<String, i64>);

/// The objects of the state file, for [`json::members`].
struct TimesObject;

impl json::Object for TimesObject {
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
        let u = json::Unique::<String, i64, TimesObject>::deserialize(d)?;
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
                let (mut version, mut tokens, mut users, mut sessions) = (None, None, None, None);
                let mut extra: Vec<(String, String)> = Vec::new();
                json::members::<A, String, StateFile>(map, |k, map| {
                    match k.as_str() {
                        "version" => version = Some(map.next_value::<u64>()?),
                        "tokens" => tokens = Some(map.next_value::<UniqueMap>()?.0),
                        "users" => users = Some(map.next_value::<UniqueMap>()?.0),
                        "sessions" => {
                            let u =
                                map.next_value::<json::Unique<String, Record, SessionsObject>>()?;
                            let mut m = BTreeMap::new();
                            for (sid, mut rec) in u.entries {
                                rec.session.sid.clone_from(&sid);
                                m.insert(sid, rec);
                            }
                            sessions = Some(m);
                        }
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
                    sessions: sessions.unwrap_or_default(),
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

    /// The revocations of a state file (its sessions are not read into this type: a file
    /// is rewritten only through the store, which keeps them).
    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        StateDoc::parse(path, bytes).map(|d| d.r)
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        write_state(
            out,
            self,
            &BTreeMap::new(),
            store::FORMAT_VERSION,
            &[],
            &mut |_, _| Ok(()),
        )
    }
}

/// The state file's text: version, the unknown fields as they were, tokens, users, and the
/// sessions when there are any (one record per line).
fn write_state(
    out: &mut dyn Write,
    r: &Revocations,
    sessions: &BTreeMap<String, Record>,
    version: u64,
    extra: &[(String, String)],
    record: &mut dyn FnMut(&mut dyn Write, &Record) -> io::Result<()>,
) -> io::Result<()> {
    write!(out, "{{\n  \"version\": {version},")?;
    for (k, v) in extra {
        write!(out, "\n  {k}: {v},")?;
    }
    out.write_all(b"\n  \"tokens\": ")?;
    write_map(out, &r.tokens)?;
    out.write_all(b",\n  \"users\": ")?;
    write_map(out, &r.users)?;
    if !sessions.is_empty() {
        out.write_all(b",\n  \"sessions\": {")?;
        for (i, (sid, rec)) in sessions.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            store::write_json_str(out, sid)?;
            out.write_all(b": ")?;
            record(&mut *out, rec)?;
        }
        out.write_all(b"\n  }")?;
    }
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
    ///
    /// The subject's mark is asked first: when both apply (a session's tokens are also
    /// revoked one by one when the user's sessions end), it says why.
    pub fn check(&self, jti: Option<&str>, sub: Option<&str>, iat: Option<i64>) -> Option<Revoked> {
        if let Some(sub) = sub
            && let Some(&at) = self.users.get(sub)
            // A token without `iat` cannot prove it was issued after the mark.
            && iat.is_none_or(|iat| iat <= at)
        {
            return Some(Revoked::Subject {
                sub: sub.to_string(),
                at,
            });
        }
        jti.is_some_and(|j| self.tokens.contains_key(j))
            .then_some(Revoked::Token)
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
/// Layout (little-endian): 8-byte magic, 5 stamp words, token count, subject count, session
/// count, then the token pairs and the subject pairs, 16 bytes each, then the sessions, 32
/// bytes each (sid hash, `created_at`, `last_used_at`, 1 when ended else 0), each list sorted
/// by hash. The view keeps these bytes as they are and binary-searches them in place; a view
/// opened for a single check reads only the ~60 words its searches touch (the file is
/// replaced by rename, never changed in place, so an open handle keeps seeing one consistent
/// version). A view loaded for many lookups also keeps the sessions in a hash map.
#[derive(Debug)]
pub struct RevocationView {
    image: Image,
    tokens: usize,
    users: usize,
    sessions: usize,
    /// Whether lookups go through the thread's memo of index keys ([`memo_key_hash`]) and
    /// the sessions' hash map: for a view loaded for many lookups.
    memo: bool,
    /// sid key → times, for a view loaded for many lookups.
    times: Option<HashMap<u64, Times>>,
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

/// Version 2 of the index adds the sessions; an index of version 1 is not this magic, so it
/// is rebuilt, never misread.
const INDEX_MAGIC: &[u8; 8] = b"JWTAIDX2";
const INDEX_HEADER: usize = 72;
const PAIR: usize = 16;
const SESSION_ENTRY: usize = 32;

/// The key of a revoked id, subject or session in the index: the first 8 bytes of its
/// SHA-256. A false match would need a 64-bit collision; for ids and subjects it could only
/// make a token look revoked, and the sids looked up come from tokens whose signature was
/// checked (made by this store's sign-ins), so no outsider chooses one to match another's.
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

/// Writes `<state>.idx` for the state file just written (the caller holds the lock); its
/// bytes.
fn write_index(state: &Path, d: &StateDoc) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(state).map_err(|e| Error::io(state, e))?;
    let mut image = image_of(&d.r, d.times());
    for (i, n) in store::stamp(&meta).into_iter().enumerate() {
        image[8 + 8 * i..16 + 8 * i].copy_from_slice(&n.to_le_bytes());
    }
    store::write_cache(&index_path(state), |w| w.write_all(&image))?;
    Ok(image)
}

/// The index bytes of `r` and the sessions' times, with a zero stamp.
fn image_of<'a>(r: &Revocations, sessions: impl Iterator<Item = (&'a str, Times)>) -> Vec<u8> {
    let sorted = |map: &BTreeMap<String, i64>| {
        let mut v: Vec<(u64, i64)> = map.iter().map(|(k, t)| (key_hash(k), *t)).collect();
        v.sort_unstable();
        v
    };
    let (tokens, users) = (sorted(&r.tokens), sorted(&r.users));
    let mut sessions: Vec<(u64, i64, i64, bool)> = sessions
        .map(|(sid, t)| (key_hash(sid), t.created_at, t.last_used_at, t.ended))
        .collect();
    sessions.sort_unstable();
    let mut image = Vec::with_capacity(
        INDEX_HEADER + PAIR * (tokens.len() + users.len()) + SESSION_ENTRY * sessions.len(),
    );
    image.extend_from_slice(INDEX_MAGIC);
    image.resize(48, 0); // the stamp, filled in when written to disk
    image.extend_from_slice(&(tokens.len() as u64).to_le_bytes());
    image.extend_from_slice(&(users.len() as u64).to_le_bytes());
    image.extend_from_slice(&(sessions.len() as u64).to_le_bytes());
    for (h, t) in tokens.iter().chain(&users) {
        image.extend_from_slice(&h.to_le_bytes());
        image.extend_from_slice(&t.to_le_bytes());
    }
    for (h, created, used, ended) in &sessions {
        image.extend_from_slice(&h.to_le_bytes());
        image.extend_from_slice(&created.to_le_bytes());
        image.extend_from_slice(&used.to_le_bytes());
        image.extend_from_slice(&u64::from(*ended).to_le_bytes());
    }
    image
}

/// The index is a cache (SPEC §8): one that is missing or stale (a state file jwtauth did not
/// write, or edited by hand) is rebuilt by the first command that can write beside the state
/// file, under its lock, so later readers need not parse the JSON again. `None` when it cannot
/// (lock busy, directory not writable, the file belongs to another user, or it does not
/// parse): the caller then answers from the JSON, only slower.
fn heal_index(state: &Path, meta: &std::fs::Metadata) -> Option<StateDoc> {
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
    let d: StateDoc = store::load(state).ok()?;
    // Best effort, like the index every write leaves.
    let _ = write_index(state, &d);
    Some(d)
}

impl From<&Revocations> for RevocationView {
    fn from(r: &Revocations) -> Self {
        Self::of(r, std::iter::empty())
    }
}

impl From<&StateDoc> for RevocationView {
    fn from(d: &StateDoc) -> Self {
        Self::of(&d.r, d.times())
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
                return Ok(Self::from(&Revocations::default()).for_lookups(lookups));
            }
            Err(e) => return Err(Error::io(state, e)),
        };
        if let Some(view) = Self::from_index(&index_path(state), &meta, lookups) {
            return Ok(view.for_lookups(lookups));
        }
        if let Some(d) = heal_index(state, &meta) {
            return Ok(Self::from(&d).for_lookups(lookups));
        }
        let d: StateDoc = store::load(state)?;
        Ok(Self::from(&d).for_lookups(lookups))
    }

    /// A view of these revocations and sessions, held in memory.
    fn of<'a>(r: &Revocations, sessions: impl Iterator<Item = (&'a str, Times)>) -> Self {
        let image = image_of(r, sessions);
        let sessions = word(&image, 64).unwrap_or(0) as usize;
        RevocationView {
            tokens: r.tokens.len(),
            users: r.users.len(),
            sessions,
            image: Image::Bytes(image),
            memo: false,
            times: None,
        }
    }

    /// A view of the index bytes `image` made from `d` (by [`image_of`]).
    fn of_image(image: Vec<u8>, d: &StateDoc) -> Self {
        RevocationView {
            tokens: d.r.tokens.len(),
            users: d.r.users.len(),
            sessions: d.sessions.len(),
            image: Image::Bytes(image),
            memo: false,
            times: None,
        }
    }

    /// The view set up for `lookups`: for many, the memo of index keys and the sessions'
    /// hash map.
    fn for_lookups(mut self, lookups: Lookups) -> Self {
        if lookups == Lookups::Many {
            self.memo = true;
            let base = INDEX_HEADER + PAIR * (self.tokens + self.users);
            let mut m = HashMap::with_capacity(self.sessions);
            for i in 0..self.sessions {
                let at = base + SESSION_ENTRY * i;
                if let Some(e) = self.session_at(at) {
                    m.insert(self.image.word(at).unwrap_or(0), e);
                }
            }
            self.times = Some(m);
        }
        self
    }

    /// The session entry at byte `at`.
    fn session_at(&self, at: usize) -> Option<Times> {
        Some(Times {
            created_at: self.image.word(at + 8)? as i64,
            last_used_at: self.image.word(at + 16)? as i64,
            ended: self.image.word(at + 24)? != 0,
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
        let sessions = image.word(64)? as usize;
        let pairs = tokens.checked_add(users)?.checked_mul(PAIR)?;
        let entries = sessions.checked_mul(SESSION_ENTRY)?;
        let len = INDEX_HEADER.checked_add(pairs)?.checked_add(entries)?;
        if image.len()? != len as u64 {
            return None;
        }
        Some(RevocationView {
            image,
            tokens,
            users,
            sessions,
            memo: false,
            times: None,
        })
    }

    /// The index key of `key`.
    fn hash(&self, key: &str) -> u64 {
        if self.memo {
            memo_key_hash(key)
        } else {
            key_hash(key)
        }
    }

    /// Binary search of the key `h` among `n` entries of `stride` bytes starting at byte
    /// `base`: the byte offset of the entry.
    fn search(&self, base: usize, stride: usize, n: usize, h: u64) -> Option<usize> {
        let hash_at = |i: usize| self.image.word(base + stride * i).unwrap_or(u64::MAX);
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if hash_at(mid) < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < n && hash_at(lo) == h).then_some(base + stride * lo)
    }

    /// Binary search of `key` among `n` pairs starting at pair `first`.
    fn find(&self, first: usize, n: usize, key: &str) -> Option<i64> {
        if n == 0 {
            return None;
        }
        let at = self.search(INDEX_HEADER + PAIR * first, PAIR, n, self.hash(key))?;
        self.image.word(at + 8).map(|t| t as i64)
    }

    /// The times of the session `sid`, if this state has it.
    pub fn session_times(&self, sid: &str) -> Option<Times> {
        if self.sessions == 0 {
            return None;
        }
        let h = self.hash(sid);
        if let Some(m) = &self.times {
            return m.get(&h).copied();
        }
        let base = INDEX_HEADER + PAIR * (self.tokens + self.users);
        let at = self.search(base, SESSION_ENTRY, self.sessions, h)?;
        self.session_at(at)
    }

    /// The whole check of a token (SPEC §13): its id and subject as [`Self::check`], then,
    /// with a `sid`, its session's times judged by `rules`.
    pub fn check_query(&self, q: &Query<'_>, rules: &Rules) -> Option<Revoked> {
        if let Some(r) = self.check(q.jti, q.sub, q.iat) {
            return Some(r);
        }
        let sid = q.sid?;
        rules.judge(sid, self.session_times(sid), q.now)
    }

    /// When every token of `sub` issued up to then was revoked, if ever.
    pub fn subject_revoked_at(&self, sub: &str) -> Option<i64> {
        self.find(self.tokens, self.users, sub)
    }

    /// Whether a token with these claims is revoked.
    ///
    /// The subject's mark first, as [`Revocations::check`].
    pub fn check(&self, jti: Option<&str>, sub: Option<&str>, iat: Option<i64>) -> Option<Revoked> {
        if let Some(sub) = sub
            && let Some(at) = self.subject_revoked_at(sub)
            // A token without `iat` cannot prove it was issued after the mark.
            && iat.is_none_or(|iat| iat <= at)
        {
            return Some(Revoked::Subject {
                sub: sub.to_string(),
                at,
            });
        }
        jti.is_some_and(|j| self.find(0, self.tokens, j).is_some())
            .then_some(Revoked::Token)
    }
}

/// The revocation store on a file. Writes are read-modify-writes under the lock that also
/// rebuild the index; checks use a view of the index kept in memory, which
/// [`RevocationStore::refresh`] replaces when the file has changed since it was loaded.
///
/// Writes of one process are combined (group commit): each change is queued, and one thread
/// (the first to find no write under way) takes the state lock once, applies every queued
/// change in arrival order, writes the file once and then hands each caller its own result.
/// A `serve` under many refreshes thus pays one rewrite of the file for many of them; see
/// [`FileRevocations::write`].
#[derive(Debug)]
pub struct FileRevocations {
    path: PathBuf,
    lock_timeout: Duration,
    lookups: Lookups,
    /// The view checks use, with the stamp of the file version it was loaded from.
    view: RwLock<Option<Loaded>>,
    /// The changes waiting for a write, and the state as last written.
    writes: Mutex<Writes>,
    /// Signalled when a write is over (its callers' results sent, the state back in
    /// `writes`).
    written: Condvar,
    /// The length of the state file's text as last written, to size the next one's buffer.
    text_len: AtomicUsize,
    /// The session rules checks are judged by.
    rules: std::sync::Arc<crate::sessions::Rules>,
}

/// What the writers of one store share.
#[derive(Default)]
struct Writes {
    /// The changes not yet taken by a writer, in arrival order.
    queue: Vec<Box<dyn Pending>>,
    /// Whether a thread is writing a batch now.
    writing: bool,
    /// Whether a reader is parsing the file for the others (who wait for it rather than
    /// parse it too: sixteen parses of a 4 MB file at once would cost a second).
    loading: bool,
    /// The whole state as last read or written by this process, with the stamp of that file
    /// version: a write or a session read finds it still current after one `stat` and skips
    /// the parse (a refresh on a state with 10,000 sessions would parse megabytes). A writer
    /// takes it out while it changes it, so a reader never sees a change before it is on disk.
    parsed: Option<([u64; 5], StateDoc)>,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes")
            .field("queued", &self.queue.len())
            .field("writing", &self.writing)
            .field("parsed", &self.parsed.as_ref().map(|(at, _)| at))
            .finish()
    }
}

/// A change queued for a write, with the way back to its caller.
trait Pending: Send {
    /// Applies the change to the state (a change that fails leaves it as it was); whether it
    /// changed anything. Its result is kept until the write is over.
    fn apply(&mut self, doc: &mut StateDoc) -> bool;
    /// The time the write tidies the state at, if this change asks for it.
    fn now(&self) -> Option<i64>;
    /// Sends the caller its result once the write holding the change is on disk (or was not
    /// needed); when the write failed, the write's error instead.
    fn finish(self: Box<Self>, write: std::result::Result<(), &Error>);
}

struct Job<T, F> {
    change: Option<F>,
    now: Option<i64>,
    out: Option<Result<T>>,
    to: mpsc::Sender<Result<T>>,
}

impl<T, F> Pending for Job<T, F>
where
    T: Send,
    F: FnOnce(&mut StateDoc) -> Result<(T, bool)> + Send,
{
    fn apply(&mut self, doc: &mut StateDoc) -> bool {
        let Some(change) = self.change.take() else {
            return false;
        };
        let (out, changed) = match change(doc) {
            Ok((t, changed)) => (Ok(t), changed),
            Err(e) => (Err(e), false),
        };
        self.out = Some(out);
        changed
    }

    fn now(&self) -> Option<i64> {
        self.now
    }

    fn finish(self: Box<Self>, write: std::result::Result<(), &Error>) {
        let out = match (write, self.out) {
            (Err(e), _) => Err(copy_error(e)),
            (Ok(()), Some(out)) => out,
            (Ok(()), None) => Err(Error::internal("state file", "a change was not applied")),
        };
        // The caller waits for it; one that is gone needs nothing.
        let _ = self.to.send(out);
    }
}

/// The same error for every change of a failed write (the error types are not `Clone`): the
/// same variant, message and I/O kind, so exit codes and statuses do not change.
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Store(StoreError::Io { path, source }) => {
            Error::io(path, io::Error::new(source.kind(), source.to_string()))
        }
        Error::Store(StoreError::Corrupt { path, why }) => Error::Store(StoreError::Corrupt {
            path: path.clone(),
            why: why.clone(),
        }),
        Error::Store(StoreError::Locked { path, pid, secs }) => Error::Store(StoreError::Locked {
            path: path.clone(),
            pid: *pid,
            secs: *secs,
        }),
        Error::Store(StoreError::Remote { location, why }) => Error::Store(StoreError::Remote {
            location: location.clone(),
            why: why.clone(),
        }),
        other => Error::internal("state file", other),
    }
}

/// The thread writing a batch: gives the state back and wakes the waiters when dropped, also
/// when unwinding (their changes are then dropped unanswered, which they see as an error),
/// so no caller ever waits for a writer that is gone.
struct Writer<'a> {
    store: &'a FileRevocations,
    parsed: Option<([u64; 5], StateDoc)>,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let mut w = self.store.writes_lock();
        w.writing = false;
        w.parsed = self.parsed.take();
        drop(w);
        self.store.written.notify_all();
    }
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
            writes: Mutex::new(Writes::default()),
            written: Condvar::new(),
            text_len: AtomicUsize::new(0),
        }
    }

    /// Read-modify-write of the revocations under the state file's lock; expired entries
    /// are pruned on every write (see [`FileRevocations::write`]).
    fn update<T: Send + 'static>(
        &self,
        now: i64,
        change: impl FnOnce(&mut Revocations) -> T + Send + 'static,
    ) -> Result<T> {
        self.write(Some(now), move |d| Ok((change(&mut d.r), true)))
    }

    /// Read-modify-write of the whole state under its lock (SPEC §1/§8: atomic replace,
    /// symlinks, owner and mode kept, a file that does not parse never overwritten). `change`
    /// says whether it changed anything (a change that fails must leave the state as it
    /// was). A write first tidies the state at `now` ([`StateDoc::tidy`], with the current
    /// `session_max_age`), then rebuilds the lookup index beside the file.
    ///
    /// The changes of concurrent callers are combined: `change` is queued, and the first
    /// caller to find no write under way writes everything queued so far as one batch (in
    /// arrival order, each change seeing the ones before it, so of two compare-and-sets on
    /// one session exactly one wins). Each caller gets its own change's result, and only
    /// once the write holding it is on disk (SPEC §13: "spent atomically and durably before
    /// the answer"); when that write fails, every change of the batch fails with its error
    /// and none is kept (the state is read from disk again). When no change changed
    /// anything, nothing is written.
    fn write<T: Send + 'static>(
        &self,
        now: Option<i64>,
        change: impl FnOnce(&mut StateDoc) -> Result<(T, bool)> + Send + 'static,
    ) -> Result<T> {
        let (to, answer) = mpsc::channel();
        let mut w = self.writes_lock();
        w.queue.push(Box::new(Job {
            change: Some(change),
            now,
            out: None,
            to,
        }));
        loop {
            match answer.try_recv() {
                Ok(out) => return out,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(Error::internal("state file", "a write stopped"));
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if w.writing {
                w = self
                    .written
                    .wait(w)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            // No write under way and no answer: this change is still queued, and this thread
            // writes the batch (it answers itself through the channel like the others).
            let batch = std::mem::take(&mut w.queue);
            w.writing = true;
            drop(w);
            let mut writer = Writer {
                store: self,
                parsed: None,
            };
            writer.parsed = self.commit(batch);
            drop(writer);
            w = self.writes_lock();
        }
    }

    /// Writes one batch of changes and answers each: the state as written, with its stamp,
    /// for the next batch and for readers (`None` when it is not known to be on disk).
    fn commit(&self, mut batch: Vec<Box<dyn Pending>>) -> Option<([u64; 5], StateDoc)> {
        match self.apply_and_write(&mut batch) {
            Ok(parsed) => {
                for job in batch {
                    job.finish(Ok(()));
                }
                parsed
            }
            Err(e) => {
                for job in batch {
                    job.finish(Err(&e));
                }
                None
            }
        }
    }

    fn apply_and_write(
        &self,
        batch: &mut [Box<dyn Pending>],
    ) -> Result<Option<([u64; 5], StateDoc)>> {
        let path = &self.path;
        let _lock = store::lock(path, self.lock_timeout)?;
        store::remove_stale_temps(path);
        // Under the lock, nobody else writes: the copy of the file version on disk is it.
        // Readers of this process wait while it is out of their reach (being changed).
        let stamp = stamp_of(path)?;
        let cached = self.writes_lock().parsed.take();
        let mut doc = match cached {
            Some((at, doc)) if Some(at) == stamp => doc,
            _ => store::load(path)?,
        };
        let (mut changed, mut now) = (false, None);
        for job in batch.iter_mut() {
            if job.apply(&mut doc) {
                changed = true;
                now = now.max(job.now());
            }
        }
        if !changed {
            return Ok(stamp.map(|at| (at, doc)));
        }
        if let Some(now) = now {
            doc.tidy(now, self.rules.limits().max_age);
        }
        // Into memory first, sized by the last write: one write of the whole text.
        let text = doc
            .text(self.text_len.load(Ordering::Relaxed) + (64 << 10))
            .map_err(|e| Error::io(path, e))?;
        self.text_len.store(text.len(), Ordering::Relaxed);
        store::write_atomic(path, |w| w.write_all(&text))?;
        drop(text);
        doc.version = doc.written_version();
        store::remove_stale_temps(&index_path(path));
        // The index only speeds readers up: one that is missing or stale is ignored by them,
        // so failing to write it must not fail a change already on disk.
        let image = write_index(path, &doc).ok();
        let Some(at) = stamp_of(path)? else {
            return Ok(None);
        };
        // Checks of this process see the change at once, from the index just made (one that
        // would load it again after every refresh would read and sort it twice).
        // Built before the view's lock is taken: checks never wait for it.
        let loaded_before = self
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if let (Some(image), true) = (image, loaded_before) {
            let fresh = Loaded {
                stamp: Some(at),
                view: RevocationView::of_image(image, &doc).for_lookups(self.lookups),
            };
            *self.view.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
        }
        Ok(Some((at, doc)))
    }

    fn writes_lock(&self) -> MutexGuard<'_, Writes> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `f` of the whole state as it is on disk now (sessions read this way are never stale,
    /// and never ahead of the disk): the copy in memory when the file has not changed since,
    /// else the file parsed again. While this process writes, it waits for that write.
    fn read<T>(&self, f: impl FnOnce(&StateDoc) -> T) -> Result<T> {
        let mut w = self.writes_lock();
        loop {
            let stamp = stamp_of(&self.path)?;
            if let Some((at, doc)) = w.parsed.as_ref()
                && Some(*at) == stamp
            {
                return Ok(f(doc));
            }
            if !w.writing && !w.loading {
                break;
            }
            w = self
                .written
                .wait(w)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        w.loading = true;
        drop(w);
        let read = (|| {
            let stamp = stamp_of(&self.path)?;
            let doc: StateDoc = store::load(&self.path)?;
            // Kept only when the file did not change while it was read.
            let stable = stamp.is_some() && stamp_of(&self.path)? == stamp;
            Ok::<_, Error>((stamp.filter(|_| stable), doc))
        })();
        let mut w = self.writes_lock();
        w.loading = false;
        let out = read.map(|(stamp, doc)| {
            let out = f(&doc);
            // Not over a newer state a writer of this process holds.
            if let Some(at) = stamp
                && !w.writing
            {
                w.parsed = Some((at, doc));
            }
            out
        });
        drop(w);
        self.written.notify_all();
        out
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
        self.with_view(|v| v.check_query(q, &self.rules))
    }

    fn begin_session(&self, s: &Session, limits: &Limits, now: i64) -> Result<Vec<String>> {
        let (s, limits) = (s.clone(), *limits);
        self.write(Some(now), move |d| {
            if d.sessions.contains_key(&s.sid) {
                return Err(Error::internal("sessions", "a new session's id is taken"));
            }
            // The user's other live sessions, least recently used first.
            let mut live: Vec<(i64, i64, &str)> = d
                .sessions
                .values()
                .map(|r| &r.session)
                .filter(|o| {
                    o.sub == s.sub && limits.over(Some(o.times()), o.last_used_at, now).is_none()
                })
                .map(|o| (o.last_used_at, o.created_at, o.sid.as_str()))
                .collect();
            live.sort_unstable();
            let over = (live.len() + 1).saturating_sub(limits.max_per_user.max(1));
            let ended: Vec<String> = live[..over]
                .iter()
                .map(|(_, _, sid)| sid.to_string())
                .collect();
            for sid in &ended {
                d.end(sid, now);
            }
            d.insert(Record::from(s));
            // Sessions past their absolute end by these limits go too (tidy uses the
            // process's current ones, which are normally the same).
            d.sessions
                .retain(|_, r| limits.absolute_end(r.session.created_at) > now);
            Ok((ended, true))
        })
    }

    fn session(&self, sid: &str) -> Result<Option<Session>> {
        self.read(|d| d.sessions.get(sid).map(|r| r.session.clone()))
    }

    fn sessions(&self, sub: Option<&str>) -> Result<Vec<Session>> {
        self.read(|d| {
            d.sessions
                .values()
                .map(|r| &r.session)
                .filter(|s| sub.is_none_or(|sub| s.sub == sub))
                .cloned()
                .collect()
        })
    }

    fn replace_session(&self, new: &Session, generation: u64) -> Result<bool> {
        // A refresh is a use: its time is the write's "now".
        let now = new.last_used_at;
        let new = new.clone();
        self.write(Some(now), move |d| {
            let Some(rec) = d.sessions.get_mut(&new.sid) else {
                return Ok((false, false));
            };
            let current = rec.session.ended_at.is_none()
                && rec.session.refresh.as_ref().map(|r| r.generation) == Some(generation);
            if current {
                rec.session = new;
                let sid = rec.session.sid.clone();
                d.changed(&sid);
            }
            Ok((current, current))
        })
    }

    fn end_sessions(&self, sids: &[&str], now: i64) -> Result<Vec<String>> {
        let sids: Vec<String> = sids.iter().map(|sid| sid.to_string()).collect();
        self.write(Some(now), move |d| {
            let ended: Vec<String> = sids.into_iter().filter(|sid| d.end(sid, now)).collect();
            let changed = !ended.is_empty();
            Ok((ended, changed))
        })
    }

    fn end_user_sessions(&self, sub: &str, keep: Option<&str>, now: i64) -> Result<Vec<String>> {
        let (sub, keep) = (sub.to_string(), keep.map(str::to_string));
        self.write(Some(now), move |d| {
            let sids: Vec<String> = d
                .sessions
                .values()
                .map(|r| &r.session)
                .filter(|s| s.sub == sub && s.ended_at.is_none() && Some(&s.sid) != keep.as_ref())
                .map(|s| s.sid.clone())
                .collect();
            for sid in &sids {
                d.end(sid, now);
            }
            let changed = !sids.is_empty();
            Ok((sids, changed))
        })
    }

    fn touch_sessions(&self, uses: &[(String, i64)]) -> Result<()> {
        let Some(now) = uses.iter().map(|(_, t)| *t).max() else {
            return Ok(());
        };
        let uses = uses.to_vec();
        self.write(Some(now), move |d| {
            let mut changed = false;
            for (sid, t) in &uses {
                if let Some(rec) = d.sessions.get_mut(sid)
                    && *t > rec.session.last_used_at
                {
                    rec.session.last_used_at = *t;
                    d.changed(sid);
                    changed = true;
                }
            }
            Ok(((), changed))
        })
    }

    fn prune_sessions(&self, now: i64, max_age: i64) -> Result<usize> {
        // Nothing to prune without a state file, and nothing to create (SPEC §8).
        if stamp_of(&self.path)?.is_none() {
            return Ok(0);
        }
        self.write(Some(now), move |d| {
            let before = d.sessions.len();
            d.sessions
                .retain(|_, r| r.session.created_at.saturating_add(max_age) > now);
            let dropped = before - d.sessions.len();
            Ok((dropped, dropped > 0))
        })
    }

    fn import_sessions(&self, sessions: &[Session]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let sessions = sessions.to_vec();
        self.write(None, move |d| {
            let mut changed = false;
            for s in sessions {
                if !d.sessions.contains_key(&s.sid) {
                    d.insert(Record::from(s));
                    changed = true;
                }
            }
            Ok(((), changed))
        })
    }

    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>> {
        self.with_view(|v| v.subject_revoked_at(sub))
    }

    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()> {
        let jti = jti.to_string();
        self.update(now, move |r| {
            r.tokens.insert(jti, exp);
        })
    }

    fn revoke_subjects(&self, subs: &[&str], at: i64, now: i64) -> Result<()> {
        let subs: Vec<String> = subs.iter().map(|s| s.to_string()).collect();
        self.update(now, move |r| {
            for sub in &subs {
                r.revoke_subject(sub, at);
            }
        })
    }

    fn merge(&self, from: &RevocationList, now: i64) -> Result<()> {
        // One locked rewrite for all of it.
        let from = from.clone();
        self.update(now, move |r| {
            for (jti, exp) in from.tokens.into_iter().filter(|(_, exp)| *exp > now) {
                r.tokens.insert(jti, exp);
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
        self.update(now, move |r| r.prune(now))
    }

    fn refresh(&self) -> Result<()> {
        let stamp = stamp_of(&self.path)?;
        let stale = {
            let guard = self.view.read().unwrap_or_else(|p| p.into_inner());
            guard.as_ref().is_some_and(|l| l.stamp != stamp)
        };
        // While this process writes, the file on disk may be ahead of its index: loading it
        // then would parse the whole state (and every check would). The writer puts the new
        // view in place as soon as the index is written; until then checks see the state as
        // it was before the write, whose changes nobody has been answered yet.
        if stale && !self.writes_lock().writing {
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
        let d = StateDoc {
            r: r.clone(),
            ..StateDoc::default()
        };
        write_index(&state, &d).unwrap();
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

    // Sessions (SPEC §13).

    use crate::sessions::{Client, Issue, Refresh};
    use std::sync::Arc;

    const DAY: i64 = 24 * 3600;
    const NOW: i64 = 1_800_000_000;

    fn sess(sid: &str, sub: &str, created: i64, used: i64) -> Session {
        Session {
            sid: sid.into(),
            sub: sub.into(),
            created_at: created,
            last_used_at: used,
            client: Client::Cli,
            amr: vec!["pwd".into()],
            issue: Issue {
                ttl: 900,
                ..Issue::default()
            },
            refresh: Some(Refresh {
                generation: 0,
                hash: "00".repeat(32),
                rotated_at: created,
            }),
            tokens: [(format!("{sid}-jti"), used + 900)].into(),
            ended_at: None,
        }
    }

    fn store_at(path: &Path, lookups: Lookups) -> FileRevocations {
        FileRevocations::new(
            path,
            Duration::from_secs(5),
            lookups,
            Arc::new(Rules::new(Limits::default(), false)),
        )
    }

    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocations.json");
        (dir, path)
    }

    fn q(sid: &str, now: i64) -> Query<'_> {
        Query {
            jti: None,
            sub: Some("alice"),
            iat: Some(NOW),
            sid: Some(sid),
            now,
        }
    }

    fn version_of(path: &Path) -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["version"].as_u64().unwrap()
    }

    fn file_stamp(path: &Path) -> [u64; 5] {
        store::stamp(&std::fs::metadata(path).unwrap())
    }

    #[test]
    fn a_session_makes_the_file_version_2_and_reads_back() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        st.revoke_token("j", NOW + 100, NOW).unwrap();
        assert_eq!(version_of(&path), 1, "no session: still version 1");
        let s = sess("s1", "alice", NOW, NOW);
        assert_eq!(
            st.begin_session(&s, &Limits::default(), NOW).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(version_of(&path), 2);
        assert_eq!(st.session("s1").unwrap(), Some(s.clone()));
        assert_eq!(st.session("s2").unwrap(), None);
        assert_eq!(st.sessions(Some("alice")).unwrap(), vec![s.clone()]);
        assert!(st.sessions(Some("bob")).unwrap().is_empty());
        // Once 2, always 2, even when the sessions are gone.
        assert_eq!(st.prune_sessions(NOW + 8 * DAY, 7 * DAY).unwrap(), 1);
        assert_eq!(version_of(&path), 2);
        assert!(st.sessions(None).unwrap().is_empty());
        // Version 3 is refused, and left alone.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"version\": 2", "\"version\": 3");
        std::fs::write(&path, &text).unwrap();
        let e = st
            .begin_session(&sess("s3", "a", NOW, NOW), &Limits::default(), NOW)
            .unwrap_err();
        assert!(e.to_string().contains("unsupported file version 3"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_version_1_file_reads_as_having_no_sessions() {
        let (_d, path) = temp();
        std::fs::write(
            &path,
            "{\"version\": 1, \"tokens\": {\"j\": 9999999999}, \"users\": {}, \"later\": [1]}",
        )
        .unwrap();
        let st = store_at(&path, Lookups::Few);
        assert!(st.sessions(None).unwrap().is_empty());
        assert_eq!(st.check(&q("s1", NOW)).unwrap(), Some(Revoked::Session));
        st.begin_session(&sess("s1", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        assert!(text.contains("\"later\": [1]"), "{text}");
        assert!(text.contains("\"j\": 9999999999"), "{text}");
    }

    #[test]
    fn unknown_fields_of_a_record_and_of_the_file_are_kept() {
        let (_d, path) = temp();
        let rec =
            sess("s1", "alice", NOW, NOW)
                .to_json()
                .replacen('{', "{\"later\":{\"a\":1.50},", 1);
        std::fs::write(
            &path,
            format!("{{\"version\": 2, \"top\": \"x\", \"tokens\": {{}}, \"users\": {{}}, \"sessions\": {{\"s1\": {rec}}}}}"),
        )
        .unwrap();
        let st = store_at(&path, Lookups::Few);
        st.touch_sessions(&[("s1".into(), NOW + 60)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"later\":{\"a\":1.50}"), "{text}");
        assert!(text.contains("\"top\": \"x\""), "{text}");
        assert_eq!(st.session("s1").unwrap().unwrap().last_used_at, NOW + 60);
    }

    #[test]
    fn a_repeated_sid_is_corrupt_and_never_overwritten() {
        let (_d, path) = temp();
        let rec = sess("s1", "alice", NOW, NOW).to_json();
        let text = format!(
            "{{\"version\": 2, \"tokens\": {{}}, \"users\": {{}}, \"sessions\": {{\"s1\": {rec},\n \"s1\": {rec}}}}}"
        );
        std::fs::write(&path, &text).unwrap();
        let st = store_at(&path, Lookups::Few);
        let e = st.session("s1").unwrap_err();
        assert!(e.to_string().contains("duplicate session \"s1\""), "{e}");
        assert!(st.end_sessions(&["s1"], NOW).is_err());
        assert!(st.check(&q("s1", NOW)).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn beyond_max_per_user_the_least_recently_used_end() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        let limits = Limits {
            max_per_user: 2,
            ..Limits::default()
        };
        st.begin_session(&sess("a", "alice", NOW, NOW + 50), &limits, NOW + 50)
            .unwrap();
        st.begin_session(&sess("b", "alice", NOW, NOW + 10), &limits, NOW + 50)
            .unwrap();
        st.begin_session(&sess("x", "bob", NOW, NOW), &limits, NOW + 50)
            .unwrap();
        let ended = st
            .begin_session(&sess("c", "alice", NOW + 60, NOW + 60), &limits, NOW + 60)
            .unwrap();
        assert_eq!(ended, vec!["b".to_string()]);
        let b = st.session("b").unwrap().unwrap();
        assert_eq!(b.ended_at, Some(NOW + 60));
        assert!(b.tokens.is_empty(), "a tombstone is small");
        assert!(st.list().unwrap().tokens.iter().any(|(j, _)| j == "b-jti"));
        for live in ["a", "c", "x"] {
            assert_eq!(st.session(live).unwrap().unwrap().ended_at, None, "{live}");
        }
    }

    #[test]
    fn a_write_drops_sessions_past_their_absolute_end_and_expired_token_ids() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        let mut old = sess("old", "alice", NOW - 8 * DAY, NOW - 8 * DAY);
        old.ended_at = Some(NOW - 8 * DAY);
        let mut two = sess("two", "alice", NOW - DAY, NOW - 100);
        two.tokens.insert("gone".into(), NOW - 1);
        st.import_sessions(&[old, two]).unwrap();
        assert_eq!(
            st.sessions(None).unwrap().len(),
            2,
            "import keeps what it is given"
        );
        st.begin_session(&sess("new", "bob", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        let all = st.sessions(None).unwrap();
        let sids: Vec<_> = all.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(sids, ["new", "two"]);
        let two = st.session("two").unwrap().unwrap();
        assert!(!two.tokens.contains_key("gone"), "{:?}", two.tokens);
        assert!(two.tokens.contains_key("two-jti"));
        // Any write tidies: a token revocation too.
        st.revoke_token("j", NOW + 10 * DAY, NOW + 6 * DAY).unwrap();
        let sids: Vec<_> = st
            .sessions(None)
            .unwrap()
            .into_iter()
            .map(|s| s.sid)
            .collect();
        assert_eq!(sids, ["new"]);
    }

    #[test]
    fn a_refresh_is_spent_once_when_two_race() {
        let (_d, path) = temp();
        let st = Arc::new(store_at(&path, Lookups::Few));
        st.begin_session(&sess("s", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        for round in 0..3u64 {
            let wins: Vec<bool> = (0..2)
                .map(|i| {
                    let st = Arc::clone(&st);
                    std::thread::spawn(move || {
                        let mut new = sess("s", "alice", NOW, NOW + 10 + round as i64);
                        new.refresh = Some(Refresh {
                            generation: round + 1,
                            hash: format!("{i:02}").repeat(32),
                            rotated_at: NOW + 10,
                        });
                        st.replace_session(&new, round).unwrap()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect();
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
            let now = st.session("s").unwrap().unwrap();
            assert_eq!(now.refresh.unwrap().generation, round + 1);
        }
        // A spent generation, an unknown or an ended session: no write.
        let stamp = file_stamp(&path);
        let mut new = sess("s", "alice", NOW, NOW + 20);
        new.refresh.as_mut().unwrap().generation = 9;
        assert!(!st.replace_session(&new, 0).unwrap());
        new.sid = "nope".into();
        assert!(!st.replace_session(&new, 3).unwrap());
        assert_eq!(file_stamp(&path), stamp);
        st.end_sessions(&["s"], NOW + 30).unwrap();
        new.sid = "s".into();
        assert!(!st.replace_session(&new, 3).unwrap());
    }

    #[test]
    fn ending_sessions_revokes_their_tokens_and_answers_the_live_ones() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        for (sid, sub) in [("a", "alice"), ("b", "alice"), ("c", "alice"), ("x", "bob")] {
            st.begin_session(&sess(sid, sub, NOW, NOW), &Limits::default(), NOW)
                .unwrap();
        }
        assert_eq!(
            st.end_sessions(&["a", "zz"], NOW + 5).unwrap(),
            vec!["a".to_string()]
        );
        let stamp = file_stamp(&path);
        assert!(st.end_sessions(&["a", "zz"], NOW + 6).unwrap().is_empty());
        assert_eq!(file_stamp(&path), stamp, "nothing ended: no write");
        // Where older versions look: the revoked ids.
        let reader = store_at(&path, Lookups::Few);
        let jti = Query {
            jti: Some("a-jti"),
            sid: None,
            ..q("a", NOW + 10)
        };
        assert_eq!(reader.check(&jti).unwrap(), Some(Revoked::Token));
        let mut ended = st.end_user_sessions("alice", Some("c"), NOW + 7).unwrap();
        ended.sort();
        assert_eq!(ended, ["b"]);
        assert_eq!(st.session("c").unwrap().unwrap().ended_at, None);
        assert_eq!(st.session("x").unwrap().unwrap().ended_at, None);
        assert_eq!(st.end_user_sessions("alice", None, NOW + 8).unwrap(), ["c"]);
        let reader = store_at(&path, Lookups::Few);
        assert_eq!(
            reader.check(&q("b", NOW + 10)).unwrap(),
            Some(Revoked::Session)
        );
        assert_eq!(reader.check(&q("x", NOW + 10)).unwrap(), None);
    }

    #[test]
    fn a_check_judges_the_session_by_its_times() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        st.import_sessions(&[
            sess("live", "alice", NOW - DAY, NOW - 60),
            sess("old", "alice", NOW - 8 * DAY, NOW - 60),
            sess("idle", "alice", NOW - 3 * DAY, NOW - 2 * DAY),
        ])
        .unwrap();
        for lookups in [Lookups::Few, Lookups::Many] {
            let r = store_at(&path, lookups);
            assert_eq!(r.check(&q("live", NOW)).unwrap(), None);
            assert_eq!(r.check(&q("unknown", NOW)).unwrap(), Some(Revoked::Session));
            assert_eq!(
                r.check(&q("old", NOW)).unwrap(),
                Some(Revoked::SessionExpired { at: NOW - DAY })
            );
            assert_eq!(
                r.check(&q("idle", NOW)).unwrap(),
                Some(Revoked::SessionExpired { at: NOW - DAY })
            );
        }
    }

    #[test]
    fn touching_raises_the_last_use_in_one_write_or_none() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        st.import_sessions(&[
            sess("a", "alice", NOW, NOW + 100),
            sess("b", "alice", NOW, NOW),
        ])
        .unwrap();
        let stamp = file_stamp(&path);
        st.touch_sessions(&[("a".into(), NOW + 50), ("zz".into(), NOW + 60)])
            .unwrap();
        assert_eq!(file_stamp(&path), stamp, "nothing raised: no write");
        st.touch_sessions(&[("a".into(), NOW + 50), ("b".into(), NOW + 70)])
            .unwrap();
        assert_eq!(st.session("a").unwrap().unwrap().last_used_at, NOW + 100);
        assert_eq!(st.session("b").unwrap().unwrap().last_used_at, NOW + 70);
        st.touch_sessions(&[]).unwrap();
    }

    #[test]
    fn the_copy_in_memory_never_hides_another_writer() {
        let (_d, path) = temp();
        let one = store_at(&path, Lookups::Many);
        let two = store_at(&path, Lookups::Many);
        one.begin_session(&sess("a", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        two.begin_session(&sess("b", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        assert!(
            one.session("b").unwrap().is_some(),
            "a read sees the other writer"
        );
        two.end_sessions(&["a"], NOW + 1).unwrap();
        one.begin_session(&sess("c", "alice", NOW, NOW), &Limits::default(), NOW + 2)
            .unwrap();
        let all = two.sessions(None).unwrap();
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(two.session("a").unwrap().unwrap().ended_at, Some(NOW + 1));
    }

    #[test]
    fn import_keeps_an_existing_sid() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        let a = sess("a", "alice", NOW, NOW);
        st.import_sessions(std::slice::from_ref(&a)).unwrap();
        let mut other = sess("a", "mallory", NOW, NOW);
        other.ended_at = Some(NOW);
        st.import_sessions(&[other, sess("b", "bob", NOW, NOW)])
            .unwrap();
        assert_eq!(st.session("a").unwrap(), Some(a));
        assert!(st.session("b").unwrap().is_some());
    }

    #[test]
    fn prune_sessions_without_a_file_creates_none() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        assert_eq!(st.prune_sessions(NOW, DAY).unwrap(), 0);
        assert!(!path.exists());
    }

    #[test]
    fn a_running_reader_sees_a_session_ended_by_another_process() {
        let (_d, path) = temp();
        let writer = store_at(&path, Lookups::Few);
        writer
            .begin_session(&sess("s", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        let stream = store_at(&path, Lookups::Many);
        assert_eq!(stream.check(&q("s", NOW + 1)).unwrap(), None);
        writer.end_sessions(&["s"], NOW + 2).unwrap();
        stream.refresh().unwrap();
        assert_eq!(
            stream.check(&q("s", NOW + 3)).unwrap(),
            Some(Revoked::Session)
        );
    }

    #[test]
    fn an_index_of_version_1_is_rebuilt_not_misread() {
        let (_d, path) = temp();
        let st = store_at(&path, Lookups::Few);
        st.begin_session(&sess("s", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        let mut image = std::fs::read(index_path(&path)).unwrap();
        image[..8].copy_from_slice(b"JWTAIDX1");
        std::fs::write(index_path(&path), &image).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(RevocationView::from_index(&index_path(&path), &meta, Lookups::Few).is_none());
        let view = RevocationView::load(&path, Lookups::Few).unwrap();
        assert_eq!(view.session_times("s").map(|t| t.created_at), Some(NOW));
        let image = std::fs::read(index_path(&path)).unwrap();
        assert_eq!(&image[..8], INDEX_MAGIC, "healed");
    }

    #[test]
    fn concurrent_writes_are_combined_each_answered_and_all_on_disk() {
        const THREADS: usize = 32;
        const EACH: usize = 8;
        let (_d, path) = temp();
        let st = Arc::new(store_at(&path, Lookups::Many));
        // A view loaded before the writes: each write gives it the new state.
        assert_eq!(st.check(&q("s0-0", NOW)).unwrap(), Some(Revoked::Session));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let st = Arc::clone(&st);
                let path = path.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let sid = format!("s{t}-{i}");
                        st.revoke_token(&format!("j{t}-{i}"), NOW + DAY, NOW)
                            .unwrap();
                        let user = format!("u{t}");
                        st.begin_session(&sess(&sid, &user, NOW, NOW), &Limits::default(), NOW)
                            .unwrap();
                        let e = st
                            .begin_session(&sess(&sid, "bob", NOW, NOW), &Limits::default(), NOW)
                            .unwrap_err();
                        assert!(e.to_string().contains("id is taken"), "{e}");
                        let mut next = sess(&sid, &user, NOW, NOW + 1);
                        next.refresh.as_mut().unwrap().generation = 1;
                        assert!(
                            st.replace_session(&next, 0).unwrap(),
                            "{sid}: the first spend wins"
                        );
                        assert!(!st.replace_session(&next, 0).unwrap(), "{sid}: spent");
                        // Answered only once on disk: another reader sees it.
                        let other = store_at(&path, Lookups::Few);
                        let s = other.session(&sid).unwrap().unwrap();
                        assert_eq!(s.refresh.unwrap().generation, 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let fresh = store_at(&path, Lookups::Few);
        let sessions = fresh.sessions(None).unwrap();
        assert_eq!(sessions.len(), THREADS * EACH);
        assert!(
            sessions
                .iter()
                .all(|s| s.sid.starts_with(&format!("s{}-", &s.sub[1..]))
                    && s.last_used_at == NOW + 1
                    && s.refresh.as_ref().unwrap().generation == 1)
        );
        let revoked = fresh.list().unwrap().tokens;
        assert_eq!(revoked.len(), THREADS * EACH);
        for t in 0..THREADS {
            for i in 0..EACH {
                assert_eq!(text.matches(&format!("\"j{t}-{i}\"")).count(), 1);
                assert_eq!(text.matches(&format!("\"s{t}-{i}\":")).count(), 1);
                let id = format!("j{t}-{i}");
                let jti = Query {
                    jti: Some(&id),
                    sid: None,
                    ..q("", NOW)
                };
                assert_eq!(st.check(&jti).unwrap(), Some(Revoked::Token));
                assert_eq!(st.check(&q(&format!("s{t}-{i}"), NOW)).unwrap(), None);
            }
        }
        // The index on disk agrees.
        let meta = std::fs::metadata(&path).unwrap();
        let view = RevocationView::from_index(&index_path(&path), &meta, Lookups::Few).unwrap();
        assert!(view.session_times("s31-7").is_some());
    }

    #[test]
    fn a_failed_write_fails_every_change_of_it_and_keeps_none() {
        let (_d, path) = temp();
        let st = Arc::new(store_at(&path, Lookups::Few));
        st.begin_session(&sess("s", "alice", NOW, NOW), &Limits::default(), NOW)
            .unwrap();
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, b"{\"version\": 2, \"tokens\": [").unwrap();
        let errors: Vec<Error> = (0..8)
            .map(|t| {
                let st = Arc::clone(&st);
                std::thread::spawn(move || {
                    if t % 2 == 0 {
                        st.revoke_token(&format!("j{t}"), NOW + DAY, NOW)
                            .unwrap_err()
                    } else {
                        let mut next = sess("s", "alice", NOW, NOW + 1);
                        next.refresh.as_mut().unwrap().generation = 1;
                        st.replace_session(&next, 0).unwrap_err()
                    }
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for e in &errors {
            assert!(
                matches!(e, Error::Store(StoreError::Corrupt { .. })),
                "{e:?}"
            );
            assert!(e.to_string().contains("it was not changed"), "{e}");
        }
        assert_eq!(std::fs::read(&path).unwrap()[..10], b"{\"version\""[..]);
        // Put back: none of the refused changes is there, and the spend still works once.
        std::fs::write(&path, &good).unwrap();
        assert!(st.list().unwrap().tokens.is_empty());
        let mut next = sess("s", "alice", NOW, NOW + 1);
        next.refresh.as_mut().unwrap().generation = 1;
        assert!(st.replace_session(&next, 0).unwrap());
        assert!(!st.replace_session(&next, 0).unwrap());
    }

    #[test]
    fn a_write_error_is_copied_with_its_kind_and_message() {
        let e = Error::io(
            Path::new("x"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        let c = copy_error(&e);
        assert_eq!(c.to_string(), e.to_string());
        assert!(matches!(
            c,
            Error::Store(StoreError::Io { ref source, .. }) if source.kind() == io::ErrorKind::PermissionDenied
        ));
        let e: Error = StoreError::Locked {
            path: "x".into(),
            pid: Some(7),
            secs: 1.0,
        }
        .into();
        assert_eq!(copy_error(&e).to_string(), e.to_string());
    }

    /// The file store's refresh rate (SPEC §7: refresh ≥ 5× password logins/s, 10,000 live
    /// sessions): 16 threads, each spending its own session's refresh token as `serve` does
    /// (read the session, then the compare-and-set), through one store loaded for many
    /// lookups, on a state file of 10,000 sessions and 10,000 revoked ids. Writes spends/s,
    /// and where one write's time goes, to `JWTAUTH_BENCH_REPORT` (default
    /// `target/spends_per_second.txt`: the core prints nothing, tests included).
    /// `JWTAUTH_BENCH_SECS` (default 3), `JWTAUTH_BENCH_SESSIONS` (10,000),
    /// `JWTAUTH_BENCH_THREADS` (16), `JWTAUTH_BENCH_DIR` (default: a temp directory).
    /// `cargo test --release --lib spends_per_second -- --ignored`
    #[test]
    #[ignore = "a benchmark"]
    fn spends_per_second() {
        let env = |name: &str, default: f64| -> f64 {
            std::env::var(name)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default)
        };
        let secs = env("JWTAUTH_BENCH_SECS", 3.0);
        let sessions = env("JWTAUTH_BENCH_SESSIONS", 10_000.0) as usize;
        let threads = env("JWTAUTH_BENCH_THREADS", 16.0) as usize;
        let dir = match std::env::var_os("JWTAUTH_BENCH_DIR") {
            Some(d) => tempfile::tempdir_in(d).unwrap(),
            None => tempfile::tempdir().unwrap(),
        };
        let path = dir.path().join("revocations.json");
        let mut d = StateDoc::default();
        for i in 0..sessions {
            let sid = format!("{i:022}");
            let s = sess(&sid, &format!("user{}", i % 1000), NOW, NOW);
            d.sessions.insert(sid, Record::from(s));
            d.r.tokens.insert(format!("revoked-{i:016}"), NOW + DAY);
        }
        // Where one write's time goes (the mean of 5 of each step).
        let report = std::cell::RefCell::new(String::new());
        let time = |what: &str, f: &mut dyn FnMut()| {
            let t = std::time::Instant::now();
            for _ in 0..5 {
                f();
            }
            let ms = t.elapsed().as_secs_f64() * 200.0;
            report
                .borrow_mut()
                .push_str(&format!("  {what}: {ms:.2} ms\n"));
        };
        let mut text = Vec::new();
        time("serialise", &mut || {
            text = Vec::with_capacity(text.len() + (64 << 10));
            d.write(&mut text).unwrap();
        });
        let _ = d.text(0).unwrap();
        time("serialise, 16 records changed since", &mut || {
            for i in 0..16 {
                d.changed(&format!("{i:022}"));
            }
            text = d.text(text.len() + (64 << 10)).unwrap();
        });
        time("write + fsync + rename + fsync dir", &mut || {
            store::write_atomic(&path, |w| w.write_all(&text)).unwrap();
        });
        time("parse (a reader without the copy)", &mut || {
            let _: StateDoc = store::load(&path).unwrap();
        });
        time("tidy", &mut || d.tidy(NOW, 7 * DAY));
        let mut image = Vec::new();
        time("index image (hash, sort)", &mut || {
            image = image_of(&d.r, d.times());
        });
        time("index write + fsync + rename", &mut || {
            store::write_cache(&index_path(&path), |w| w.write_all(&image)).unwrap();
        });
        time("view for many lookups", &mut || {
            let _ = RevocationView::of_image(image.clone(), &d).for_lookups(Lookups::Many);
        });
        store::write_atomic(&path, |w| d.write(w)).unwrap();
        write_index(&path, &d).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let st = Arc::new(store_at(&path, Lookups::Many));
        // Steady state: the first read parses the file, the first write serialises it all.
        let warm = st
            .session(&format!("{:022}", sessions - 1))
            .unwrap()
            .unwrap();
        st.touch_sessions(&[(warm.sid, NOW + 1)]).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
        let started = std::time::Instant::now();
        let spent: usize = (0..threads)
            .map(|t| {
                let st = Arc::clone(&st);
                std::thread::spawn(move || {
                    let sid = format!("{t:022}");
                    let mut n = 0;
                    while std::time::Instant::now() < deadline {
                        let cur = st.session(&sid).unwrap().unwrap();
                        let generation = cur.refresh.as_ref().unwrap().generation;
                        let mut next = cur.clone();
                        next.refresh = Some(Refresh {
                            generation: generation + 1,
                            hash: format!("{:064x}", generation + 1),
                            rotated_at: NOW,
                        });
                        next.tokens.insert(format!("{sid}-{n}"), NOW + 900);
                        next.tokens.retain(|_, e| *e > NOW);
                        assert!(st.replace_session(&next, generation).unwrap());
                        n += 1;
                    }
                    n
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        let took = started.elapsed().as_secs_f64();
        let mut report = report.into_inner();
        report.push_str(&format!(
            "spends_per_second: {:.0} spends/s ({spent} in {took:.2}s, {threads} threads, {sessions} sessions, state file {:.1} MB)\n",
            spent as f64 / took,
            size as f64 / 1e6
        ));
        let out = std::env::var_os("JWTAUTH_BENCH_REPORT").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/spends_per_second.txt"),
            PathBuf::from,
        );
        std::fs::write(out, report).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn index_lookups_equal_the_state_in_memory(
            tokens in proptest::collection::btree_map("[a-e]{1,3}", 0i64..100, 0..20),
            users in proptest::collection::btree_map("[a-e]{1,3}", 0i64..100, 0..20),
            sessions in proptest::collection::btree_map("[a-e]{1,3}", (0i64..100, 0i64..100, proptest::bool::ANY), 0..20),
            probes in proptest::collection::vec("[a-e]{1,3}", 1..20),
        ) {
            let (_d, path) = temp();
            let mut d = StateDoc { r: Revocations { tokens, users }, ..StateDoc::default() };
            for (sid, (c, u, ended)) in &sessions {
                let mut s = sess(sid, "u", *c, *u);
                s.ended_at = ended.then_some(*u);
                d.sessions.insert(sid.clone(), Record::from(s));
            }
            store::write_atomic(&path, |w| d.write(w)).unwrap();
            write_index(&path, &d).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            let few = RevocationView::from_index(&index_path(&path), &meta, Lookups::Few).unwrap();
            let many = RevocationView::load(&path, Lookups::Many).unwrap();
            let mem = RevocationView::from(&d);
            for p in &probes {
                let want = d.sessions.get(p).map(|r| r.session.times());
                for v in [&few, &many, &mem] {
                    proptest::prop_assert_eq!(v.session_times(p), want);
                    proptest::prop_assert_eq!(v.check(Some(p), Some(p), Some(50)), d.r.check(Some(p), Some(p), Some(50)));
                }
            }
        }
    }
}
