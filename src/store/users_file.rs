//! The users store on a file (`users.json`): user records keyed by name.
//!
//! Records are kept as raw JSON until one is asked for, so a login or an add in a file of
//! 100,000 users parses only the record it touches.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::json;
use crate::passwords::Scheme;
use crate::store::file::{self as store, Document, ReadAhead};
use crate::store::{Imported, UserStore};
use crate::users::{self, User};

/// The users file in memory: the file's text as read, and one entry per user pointing into
/// it. Parsing validates the whole file but allocates nothing per user, and writing copies the
/// untouched records' bytes as they are, so `login` and `user add` stay fast with 100,000
/// users.
#[derive(Debug, Default)]
pub struct UsersDoc {
    src: String,
    /// Sorted by name, names unique.
    entries: Vec<Entry>,
    /// Unknown fields of the document: the name as JSON and the range of its value in `src`,
    /// written back as read.
    extra: Vec<(String, std::ops::Range<usize>)>,
    /// [`UsersDoc::typical_scheme`], worked out at the first login that asks for it and kept
    /// with this copy of the file (a changed file is a new copy); a change in memory drops it.
    typical: OnceLock<Option<Scheme>>,
}

#[derive(Debug)]
struct Entry {
    name: Text,
    record: Text,
}

/// A string either inside `UsersDoc::src` or owned (a new or changed record, or a name that
/// had escapes in the file).
#[derive(Debug)]
enum Text {
    Src(std::ops::Range<usize>),
    Own(Box<str>),
}

/// The file, borrowing every name and record from the input.
struct UsersFile<'a> {
    version: u64,
    users: Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>,
    /// Fields of the document this version does not know, kept as written (SPEC §8).
    extra: Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>,
}

/// The `users` object, for `UsersFile`: a name given twice is kept, to be reported with the
/// lines of both (`UsersDoc::parse_owned`).
struct UserRecords;

impl json::Object for UserRecords {
    const EXPECTING: &'static str = "an object of user records";
}

impl<'de> Deserialize<'de> for UsersFile<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UsersFile<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a users file")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                use serde::de::Error as _;
                let (mut version, mut users) = (None, None);
                let mut extra: Vec<(std::borrow::Cow<'de, str>, &'de RawValue)> = Vec::new();
                // A repeated key is corrupt, never "last one wins" (SPEC §8).
                json::members::<A, std::borrow::Cow<'de, str>, UsersFile>(map, |k, map| {
                    match k.as_ref() {
                        "version" => version = Some(map.next_value::<u64>()?),
                        "users" => {
                            users = Some(
                                map.next_value::<json::Ordered<_, &'de RawValue, UserRecords>>()?
                                    .entries,
                            )
                        }
                        _ => extra.push((k, map.next_value()?)),
                    }
                    Ok(())
                })?;
                Ok(UsersFile {
                    version: version.ok_or_else(|| A::Error::missing_field("version"))?,
                    users: users.unwrap_or_default(),
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl Document for UsersDoc {
    fn empty() -> Self {
        UsersDoc::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        Self::parse_owned(path, bytes.to_vec())
    }

    fn parse_owned(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let file: UsersFile = store::parse_json(path, &bytes)?;
        store::check_version(path, file.version)?;
        // The offsets of the borrowed names and records within the bytes.
        let base = bytes.as_ptr() as usize;
        let span = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let entries: Vec<Entry> = file
            .users
            .iter()
            .map(|(name, raw)| Entry {
                name: match name {
                    std::borrow::Cow::Borrowed(n) => Text::Src(span(n)),
                    std::borrow::Cow::Owned(n) => Text::Own(n.as_str().into()),
                },
                record: Text::Src(span(raw.get())),
            })
            .collect();
        let extra = file
            .extra
            .iter()
            .map(|(k, raw)| (Value::from(k.as_ref()).to_string(), span(raw.get())))
            .collect();
        drop(file);
        // serde_json accepted the bytes, so they are UTF-8.
        let src = String::from_utf8(bytes)
            .map_err(|e| Error::corrupt(path, format!("not UTF-8: {e}")))?;
        // Each span was cut from the bytes by serde_json, so it lies inside `src` on character
        // boundaries. Checked once here, so that `text` never has to make up a value (an
        // empty name or record would be written back as if it were the file's).
        let spans = entries.iter().flat_map(|e| [&e.name, &e.record]);
        if spans
            .filter_map(|t| match t {
                Text::Src(r) => Some(r),
                Text::Own(_) => None,
            })
            .any(|r| src.get(r.clone()).is_none())
        {
            return Err(Error::corrupt(
                path,
                "internal error: a user record's position does not match the file's text",
            ));
        }
        let mut store = UsersDoc {
            src,
            entries: Vec::new(),
            extra,
            typical: OnceLock::new(),
        };
        store.entries = store.sorted_unique(path, entries)?;
        Ok(store)
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        // One record per line: readable, diffable, and cheap to write. Runs of records that
        // stand in the file as they are are copied in one piece.
        out.write_all(b"{\n  \"version\": 1,")?;
        for (k, v) in &self.extra {
            let v = self.src.get(v.clone()).unwrap_or_default();
            write!(out, "\n  {k}: {v},")?;
        }
        out.write_all(b"\n  \"users\": {")?;
        let mut i = 0;
        while i < self.entries.len() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            if let Some((from, to, next)) = self.source_run(i) {
                out.write_all(&self.src.as_bytes()[from..to])?;
                i = next;
                continue;
            }
            let e = &self.entries[i];
            store::write_json_str(out, self.text(&e.name))?;
            out.write_all(b": ")?;
            out.write_all(self.text(&e.record).as_bytes())?;
            i += 1;
        }
        if !self.entries.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"}\n}\n")
    }
}

impl UsersDoc {
    /// Files jwtauth writes are sorted already; a hand-edited one may not be. A repeated
    /// name is corrupt (SPEC §8): which record would count is anyone's guess.
    fn sorted_unique(&self, path: &Path, mut entries: Vec<Entry>) -> Result<Vec<Entry>> {
        if entries.is_sorted_by(|a, b| self.text(&a.name) < self.text(&b.name)) {
            return Ok(entries);
        }
        entries.sort_by(|a, b| self.text(&a.name).cmp(self.text(&b.name)));
        if let Some(w) = entries
            .windows(2)
            .find(|w| self.text(&w[0].name) == self.text(&w[1].name))
        {
            let at = [&w[0], &w[1]]
                .iter()
                .filter_map(|e| match &e.record {
                    Text::Src(r) => Some(store::line_col(self.src.as_bytes(), r.start).0),
                    Text::Own(_) => None,
                })
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(" and ");
            return Err(store::corrupt(
                path,
                format!(
                    "user {:?} is listed twice (lines {at})",
                    self.text(&w[0].name)
                ),
            ));
        }
        Ok(entries)
    }

    /// The longest run of entries from `i` on that stand one after the other in the source
    /// text (separated only by a comma and white space), as the byte range from the first
    /// name's opening quote to the last record's end, and the index after the run.
    fn source_run(&self, i: usize) -> Option<(usize, usize, usize)> {
        let src = |e: &Entry| match (&e.name, &e.record) {
            (Text::Src(n), Text::Src(r)) => Some((n.start.checked_sub(1)?, r.end)),
            _ => None,
        };
        let (from, mut to) = src(&self.entries[i])?;
        let mut j = i + 1;
        while let Some((start, end)) = self.entries.get(j).and_then(src) {
            let gap = self.src.get(to..start)?.trim_ascii();
            if start < to || gap != "," {
                break;
            }
            to = end;
            j += 1;
        }
        Some((from, to, j))
    }

    fn text<'a>(&'a self, t: &'a Text) -> &'a str {
        match t {
            // Every `Src` span was checked against `src` (which never changes) when parsed.
            Text::Src(r) => &self.src[r.clone()],
            Text::Own(s) => s,
        }
    }

    fn find(&self, name: &str) -> std::result::Result<usize, usize> {
        self.entries
            .binary_search_by(|e| self.text(&e.name).cmp(name))
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every user name, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| self.text(&e.name))
    }

    /// True if `name` is a user.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// The record of `name`, parsed.
    ///
    /// # Errors
    /// `Error::Corrupt` when the stored record is not a valid user record.
    pub fn get(&self, path: &Path, name: &str) -> Result<Option<User>> {
        match self.find(name) {
            Ok(i) => self.parse_entry(path, &self.entries[i]).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The record of `name`, or `UserNotFound`.
    ///
    /// # Errors
    /// `Error::UserNotFound`, or `Error::Corrupt` for a bad record.
    pub fn require(&self, path: &Path, name: &str) -> Result<User> {
        self.get(path, name)?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))
    }

    /// Every user, in name order.
    ///
    /// # Errors
    /// `Error::Corrupt` for the first bad record.
    pub fn all(&self, path: &Path) -> Result<Vec<User>> {
        self.entries
            .iter()
            .map(|e| self.parse_entry(path, e))
            .collect()
    }

    /// The scheme with parameters most users have ([`UserStore::typical_scheme`]): counted
    /// over at most [`store::TYPICAL_SAMPLE`](crate::store::TYPICAL_SAMPLE) records spread
    /// evenly in name order (all of them in a smaller file), once per copy of the file.
    /// Records that do not parse, or whose hash this tool cannot read, are not counted.
    pub fn typical_scheme(&self) -> Option<Scheme> {
        *self.typical.get_or_init(|| {
            #[derive(Deserialize)]
            struct HashOnly<'a> {
                #[serde(borrow)]
                hashed_password: std::borrow::Cow<'a, str>,
            }
            let n = self.entries.len();
            let take = n.min(crate::store::TYPICAL_SAMPLE);
            let hashes: Vec<HashOnly> = (0..take)
                .filter_map(|k| {
                    let e = self.entries.get(k * n / take)?;
                    serde_json::from_str(self.text(&e.record)).ok()
                })
                .collect();
            crate::store::most_common_scheme(hashes.iter().map(|h| h.hashed_password.as_ref()))
        })
    }

    /// Inserts or replaces a record.
    ///
    /// # Errors
    /// Only if serialization fails, which it cannot for this type.
    pub fn put(&mut self, user: &User) -> Result<()> {
        let bad = |e: serde_json::Error| Error::internal("users file", e);
        let known = fields(&serde_json::to_string(user).map_err(bad)?).map_err(bad)?;
        // A record that is rewritten keeps the fields this version does not know, in place
        // (SPEC §8); the known ones take their new values.
        let mut all = match self.find(&user.username) {
            Ok(i) => fields(self.text(&self.entries[i].record)).map_err(bad)?,
            Err(_) => Vec::new(),
        };
        for (k, v) in known {
            match all.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => all.push((k, v)),
            }
        }
        // A known field left out when empty (`groups`) was emptied: it must not survive as
        // if it were unknown.
        if user.groups.is_empty() {
            all.retain(|(k, _)| k != "groups");
        }
        let mut record = String::from("{");
        for (i, (k, v)) in all.iter().enumerate() {
            if i > 0 {
                record.push(',');
            }
            record.push_str(&serde_json::to_string(k.as_str()).map_err(bad)?);
            record.push(':');
            record.push_str(v.get());
        }
        record.push('}');
        let record = record.into_boxed_str();
        self.typical = OnceLock::new();
        match self.find(&user.username) {
            Ok(i) => self.entries[i].record = Text::Own(record),
            Err(i) => self.entries.insert(
                i,
                Entry {
                    name: Text::Own(user.username.as_str().into()),
                    record: Text::Own(record),
                },
            ),
        }
        Ok(())
    }

    /// Removes a record; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.find(name) {
            Ok(i) => {
                self.typical = OnceLock::new();
                self.entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn parse_entry(&self, path: &Path, e: &Entry) -> Result<User> {
        let name = self.text(&e.name);
        let text = self.text(&e.record);
        // A repeated field is corrupt, as a repeated name is.
        fields(text).map_err(|err| self.record_error(path, name, e, &err))?;
        let mut user: User =
            serde_json::from_str(text).map_err(|err| self.record_error(path, name, e, &err))?;
        if !user.username.is_empty() && user.username != name {
            return Err(store::corrupt(
                path,
                format!(
                    "the record of user {name:?} says its username is {:?}; the key and the username must be the same",
                    user.username
                ),
            ));
        }
        user.username = name.to_string();
        Ok(user)
    }

    /// A record that does not parse, reported at its line and column in the file (serde's
    /// position is within the record, which means nothing to whoever edits the file).
    fn record_error(&self, path: &Path, name: &str, e: &Entry, err: &serde_json::Error) -> Error {
        let at = match &e.record {
            Text::Src(r) => {
                // The record starts at (line, column); serde counts from there.
                let (line, column) = store::line_col(self.src.as_bytes(), r.start);
                let column = if err.line() == 1 {
                    column - 1 + err.column()
                } else {
                    err.column()
                };
                format!(" at line {} column {column}", line - 1 + err.line())
            }
            Text::Own(_) => String::new(),
        };
        store::corrupt(
            path,
            format!(
                "the record of user {name:?} is not valid{at}: {}",
                redact_quoted(&store::strip_position(err))
            ),
        )
    }
}

/// The users store on a file: every change is a read-modify-write of the whole file under
/// its lock, written atomically. Reads (logins, `/userinfo`, forward-auth identities) share
/// one parsed copy of the file, kept in memory and reloaded only when the file's stamp
/// changes: one `stat` per read, so a change by another process counts from the next one.
#[derive(Debug)]
pub struct FileUsers {
    path: PathBuf,
    lock_timeout: Duration,
    /// The file as last read, with the stamp of the version it was read from.
    cached: RwLock<Option<Cached>>,
}

/// A parsed version of the users file and its stamp (`None`: there was no file).
type Cached = (Option<[u64; 5]>, Arc<UsersDoc>);

impl FileUsers {
    /// The store at `path` (a missing file is an empty store).
    pub fn new(path: &Path, lock_timeout: Duration) -> Self {
        FileUsers {
            path: path.to_path_buf(),
            lock_timeout,
            cached: RwLock::new(None),
        }
    }

    /// The current version of the file, parsed: the cached copy while the file's stamp is
    /// unchanged, else read again. Writers never go through it: they re-read under the lock.
    fn load(&self) -> Result<Arc<UsersDoc>> {
        // The stamp is taken before the read: a change in between only causes one more
        // reload on the next call, never a stale copy that lasts.
        let now = stamp_of(&self.path)?;
        {
            let guard = self.cached.read().unwrap_or_else(|p| p.into_inner());
            if let Some((s, doc)) = guard.as_ref()
                && *s == now
            {
                return Ok(Arc::clone(doc));
            }
        }
        // The old copy is dropped before the new one is read, so the two are never held at
        // once (a peak of twice the file) by this store.
        let mut guard = self.cached.write().unwrap_or_else(|p| p.into_inner());
        if let Some((s, doc)) = guard.as_ref()
            && *s == now
        {
            return Ok(Arc::clone(doc));
        }
        *guard = None;
        let doc: Arc<UsersDoc> = Arc::new(store::load(&self.path)?);
        *guard = Some((now, Arc::clone(&doc)));
        Ok(doc)
    }

    fn rewrite<T>(
        &self,
        ahead: Option<ReadAhead<UsersDoc>>,
        change: impl FnOnce(&mut UsersDoc) -> Result<T>,
    ) -> Result<T> {
        store::update_with(&self.path, self.lock_timeout, ahead, change)
    }
}

impl UserStore for FileUsers {
    fn get(&self, name: &str) -> Result<Option<User>> {
        self.load()?.get(&self.path, name)
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.load()?.contains(name))
    }

    fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
        // `make` hashes a password: meanwhile a second thread reads the file ahead of the
        // update, so even a file of 100,000 users costs little beyond the hashing itself.
        let (user, ahead) = std::thread::scope(|s| {
            let ahead = s.spawn(|| store::read_ahead::<UsersDoc>(&self.path));
            let user = make();
            let ahead = ahead.join().ok().flatten();
            user.map(|u| (u, ahead))
        })?;
        self.rewrite(ahead, |doc| {
            if doc.contains(name) {
                return Err(Error::UserExists(name.to_string()));
            }
            // Under the lock: of two concurrent adds of look-alike names, one fails.
            if let Some(existing) = users::confusable_with(name, doc.names()) {
                return Err(Error::UserConfusable {
                    name: name.to_string(),
                    existing: existing.to_string(),
                });
            }
            doc.put(&user)
        })?;
        Ok(user)
    }

    fn update(&self, name: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
        self.rewrite(None, |doc| {
            let mut u = doc.require(&self.path, name)?;
            change(&mut u)?;
            doc.put(&u)?;
            Ok(u)
        })
    }

    fn replace_hash(&self, name: &str, current: &str, new: &str) -> Result<bool> {
        // Under the lock: the record as it is now, not as the login read it. A record that
        // changed hash (or went) is left alone and the file is not rewritten.
        let replaced = store::update_if(&self.path, self.lock_timeout, |doc: &mut UsersDoc| {
            let Some(mut u) = doc.get(&self.path, name)? else {
                return Ok(None);
            };
            if u.hashed_password != current {
                return Ok(None);
            }
            u.hashed_password = new.to_string();
            doc.put(&u)?;
            Ok(Some(()))
        })?;
        Ok(replaced.is_some())
    }

    fn remove(&self, name: &str) -> Result<User> {
        self.rewrite(None, |doc| {
            let u = doc.require(&self.path, name)?;
            doc.remove(name);
            Ok(u)
        })
    }

    fn confusable_user(&self, name: &str) -> Result<Option<String>> {
        let doc = self.load()?;
        Ok(users::confusable_with(name, doc.names()).map(str::to_string))
    }

    fn list(&self) -> Result<Vec<User>> {
        self.load()?.all(&self.path)
    }

    fn import(&self, users: Vec<User>, replace: bool) -> Result<Imported> {
        let mut done = Imported::default();
        self.rewrite(None, |doc| {
            let mut skeletons = users::Skeletons::new(doc.names());
            for new in users {
                let stored = doc.get(&self.path, &new.username)?;
                let Some(user) = done.merge(stored, new, replace, &mut skeletons) else {
                    continue;
                };
                doc.put(&user)?;
            }
            Ok(())
        })?;
        Ok(done)
    }

    fn typical_scheme(&self) -> Result<Option<Scheme>> {
        Ok(self.load()?.typical_scheme())
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// The identity of the file's current version; `None` when there is none.
fn stamp_of(path: &Path) -> Result<Option<[u64; 5]>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(store::stamp(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// A user record, for [`json::Unique`].
struct RecordObject;

impl json::Object for RecordObject {
    const EXPECTING: &'static str = "a user record (a JSON object)";
}

impl json::Object for UsersFile<'_> {
    const EXPECTING: &'static str = "a users file";
}

/// The fields of a JSON object in order, values as written; a repeated field is an error.
fn fields(text: &str) -> serde_json::Result<Vec<(String, Box<RawValue>)>> {
    let mut d = serde_json::Deserializer::from_str(text);
    let v = json::Unique::<String, Box<RawValue>, RecordObject>::deserialize(&mut d)?;
    d.end()?;
    Ok(v.entries)
}

/// serde quotes the offending value in its messages (`invalid type: string "$2b$12$…",
/// expected a boolean`); a record's values may be a password hash, so they are left out.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut parts = msg.split('"');
    out.push_str(parts.next().unwrap_or_default());
    let mut inside = true;
    for part in parts {
        out.push('"');
        out.push_str(if inside { "…" } else { part });
        inside = !inside;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_errors_leave_values_out() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "$2b$04$x", expected a boolean at line 1"#),
            r#"invalid type: string "…", expected a boolean at line 1"#
        );
        assert_eq!(redact_quoted("missing field `x`"), "missing field `x`");
    }

    #[test]
    fn replace_hash_is_a_compare_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        let users = FileUsers::new(&path, Duration::from_secs(5));
        let u = User {
            username: "alice".into(),
            full_name: None,
            email: None,
            hashed_password: "old".into(),
            disabled: false,
            created_at: 1,
            password_changed_at: 2,
            groups: Vec::new(),
        };
        users.add("alice", &mut || Ok(u.clone())).unwrap();
        // A stale `current` (another writer changed the hash since it was read): no write.
        let before = std::fs::read(&path).unwrap();
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(!users.replace_hash("alice", "stale", "new").unwrap());
        assert!(!users.replace_hash("nobody", "old", "new").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), stamp);
        // The current one: replaced, nothing else changes.
        assert!(users.replace_hash("alice", "old", "new").unwrap());
        let after = users.get("alice").unwrap().unwrap();
        assert_eq!(
            after,
            User {
                hashed_password: "new".into(),
                ..u
            }
        );
        assert!(!users.replace_hash("alice", "old", "newer").unwrap());
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut s = UsersDoc::default();
        let u = User {
            username: "al\"ice".into(),
            full_name: Some("Alice".into()),
            email: None,
            hashed_password: "$2b$04$abc".into(),
            disabled: false,
            created_at: 1,
            password_changed_at: 2,
            groups: Vec::new(),
        };
        s.put(&u).unwrap();
        let mut buf = Vec::new();
        s.write(&mut buf).unwrap();
        let back = UsersDoc::parse(Path::new("x"), &buf).unwrap();
        assert_eq!(back.get(Path::new("x"), "al\"ice").unwrap(), Some(u));
        let mut empty = Vec::new();
        UsersDoc::default().write(&mut empty).unwrap();
        assert!(UsersDoc::parse(Path::new("x"), &empty).unwrap().is_empty());
    }

    #[test]
    fn hand_edited_files_are_sorted_and_unescaped_and_duplicates_refused() {
        let rec = |h: &str| format!(r#"{{"hashed_password":"{h}"}}"#);
        let text = format!(
            r#"{{"version":1,"users":{{"zed":{},"b\u0062":{},"amy":{},"zed":{}}}}}"#,
            rec("1"),
            rec("2"),
            rec("3"),
            rec("4")
        );
        let p = Path::new("x");
        // A repeated name is corrupt (SPEC §8), not "last one wins".
        let e = UsersDoc::parse(p, text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("\"zed\" is listed twice"), "{e}");
        let text = format!(
            r#"{{"version":1,"users":{{"b\u0062":{},"amy":{},"zed":{}}}}}"#,
            rec("2"),
            rec("3"),
            rec("4")
        );
        let mut s = UsersDoc::parse(p, text.as_bytes()).unwrap();
        let names: Vec<String> = s.all(p).unwrap().into_iter().map(|u| u.username).collect();
        assert_eq!(names, ["amy", "bb", "zed"]);
        assert_eq!(s.get(p, "zed").unwrap().unwrap().hashed_password, "4");
        assert_eq!(s.get(p, "bb").unwrap().unwrap().hashed_password, "2");
        let mut u = s.require(p, "amy").unwrap();
        u.username = "carl".into();
        s.put(&u).unwrap();
        assert!(s.remove("zed"));
        assert!(!s.remove("zed"));
        let mut out = Vec::new();
        s.write(&mut out).unwrap();
        let back = UsersDoc::parse(p, &out).unwrap();
        let names: Vec<String> = back
            .all(p)
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["amy", "bb", "carl"]);
    }

    #[test]
    fn emptied_groups_leave_the_record_and_unknown_fields_stay() {
        let p = Path::new("x");
        let text =
            br#"{"version":1,"users":{"a":{"hashed_password":"x","groups":["g"],"shell":"sh"}}}"#;
        let mut s = UsersDoc::parse(p, text).unwrap();
        let mut a = s.require(p, "a").unwrap();
        assert_eq!(a.groups, ["g"]);
        a.groups.clear();
        s.put(&a).unwrap();
        let mut out = Vec::new();
        s.write(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["users"]["a"].get("groups").is_none(), "{v}");
        assert_eq!(v["users"]["a"]["shell"], "sh");
        a.groups = vec!["h".into()];
        s.put(&a).unwrap();
        assert_eq!(s.require(p, "a").unwrap().groups, ["h"]);
    }

    #[test]
    fn unchanged_records_are_copied_byte_for_byte() {
        let p = Path::new("x");
        let mut s = UsersDoc::default();
        for name in ["a", "b", "c", "d"] {
            let u = User {
                username: name.into(),
                full_name: None,
                email: None,
                hashed_password: format!("h{name}"),
                disabled: false,
                created_at: 1,
                password_changed_at: 1,
                groups: Vec::new(),
            };
            s.put(&u).unwrap();
        }
        let mut first = Vec::new();
        s.write(&mut first).unwrap();
        let mut s = UsersDoc::parse(p, &first).unwrap();
        let mut again = Vec::new();
        s.write(&mut again).unwrap();
        assert_eq!(first, again, "a rewrite of an unchanged file is identical");
        // A change in the middle splits the copied runs; the result is still the same
        // document as a fresh write of the same records.
        let mut c = s.require(p, "c").unwrap();
        c.disabled = true;
        s.put(&c).unwrap();
        s.remove("a");
        let mut changed = Vec::new();
        s.write(&mut changed).unwrap();
        let back = UsersDoc::parse(p, &changed).unwrap();
        assert_eq!(back.all(p).unwrap(), s.all(p).unwrap());
        assert_eq!(back.len(), 3);
        // A hand-written layout (other spacing) is copied as it is, and stays valid JSON.
        let hand = br#"{"version":1,"users":{"a":{"hashed_password":"x"} ,  "b":{"hashed_password":"y"}}}"#;
        let s = UsersDoc::parse(p, hand).unwrap();
        let mut out = Vec::new();
        s.write(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["users"]["b"]["hashed_password"], "y");
    }
}
