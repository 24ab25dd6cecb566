//! The users file (`users.json`): user records keyed by name.
//!
//! Records are kept as raw JSON until one is asked for, so a login or an add in a file of
//! 100,000 users parses only the record it touches.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::store::{self, Document};

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One user, with the field names of the classic login service's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user name (also the key in the file, and the token's `sub`).
    #[serde(default)]
    pub username: String,
    /// Full name, if given.
    #[serde(default)]
    pub full_name: Option<String>,
    /// E-mail address, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`).
    pub hashed_password: String,
    /// A disabled user cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub password_changed_at: i64,
}

/// Checks a user name: 1–64 characters, no whitespace or control characters.
///
/// # Errors
/// A usage error saying which rule was broken.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| Error::usage(format!("user name {name:?}"), why);
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::usage("user name", "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(bad("is longer than 64 characters"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    Ok(())
}

/// The users file in memory.
#[derive(Debug, Default)]
pub struct UserStore {
    users: BTreeMap<String, Box<RawValue>>,
}

#[derive(Deserialize)]
struct UsersFile {
    version: u64,
    #[serde(default)]
    users: BTreeMap<String, Box<RawValue>>,
}

impl Document for UserStore {
    fn empty() -> Self {
        UserStore::default()
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let file: UsersFile = store::parse_json(path, bytes)?;
        store::check_version(path, file.version)?;
        Ok(UserStore { users: file.users })
    }

    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        // One record per line: readable, diffable, and cheap to write.
        out.write_all(b"{\n  \"version\": 1,\n  \"users\": {")?;
        for (i, (name, raw)) in self.users.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            store::write_json_str(out, name)?;
            out.write_all(b": ")?;
            out.write_all(raw.get().as_bytes())?;
        }
        if !self.users.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"}\n}\n")
    }
}

impl UserStore {
    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True if `name` is a user.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    /// The record of `name`, parsed.
    ///
    /// # Errors
    /// `Error::Corrupt` when the stored record is not a valid user record.
    pub fn get(&self, path: &Path, name: &str) -> Result<Option<User>> {
        self.users
            .get(name)
            .map(|raw| parse_record(path, name, raw))
            .transpose()
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
        self.users
            .iter()
            .map(|(name, raw)| parse_record(path, name, raw))
            .collect()
    }

    /// The bcrypt cost most worth imitating for an unknown user: that of the first record.
    pub fn typical_cost(&self) -> Option<u32> {
        let (_, raw) = self.users.iter().next()?;
        #[derive(Deserialize)]
        struct HashOnly<'a> {
            #[serde(borrow)]
            hashed_password: &'a str,
        }
        let rec: HashOnly = serde_json::from_str(raw.get()).ok()?;
        crate::passwords::cost_of(rec.hashed_password)
    }

    /// Inserts or replaces a record.
    ///
    /// # Errors
    /// Only if serialization fails, which it cannot for this type.
    pub fn put(&mut self, user: &User) -> Result<()> {
        let raw = serde_json::value::to_raw_value(user)
            .map_err(|e| Error::config("users file", e.to_string()))?;
        self.users.insert(user.username.clone(), raw);
        Ok(())
    }

    /// Removes a record; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }
}

fn parse_record(path: &Path, name: &str, raw: &RawValue) -> Result<User> {
    let mut user: User = serde_json::from_str(raw.get()).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        why: format!(
            "the record of user {name:?} is not valid: {}; the file was not changed",
            redact_quoted(&e.to_string())
        ),
    })?;
    // The key is authoritative.
    user.username = name.to_string();
    Ok(user)
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
    fn names() {
        check_name("alice").unwrap();
        check_name("ünïcødé@example.com").unwrap();
        check_name(&"x".repeat(64)).unwrap();
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a\tb").is_err());
        assert!(check_name("a\u{1b}[31m").is_err());
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut s = UserStore::default();
        let u = User {
            username: "al\"ice".into(),
            full_name: Some("Alice".into()),
            email: None,
            hashed_password: "$2b$04$abc".into(),
            disabled: false,
            created_at: 1,
            password_changed_at: 2,
        };
        s.put(&u).unwrap();
        let mut buf = Vec::new();
        s.write(&mut buf).unwrap();
        let back = UserStore::parse(Path::new("x"), &buf).unwrap();
        assert_eq!(back.get(Path::new("x"), "al\"ice").unwrap(), Some(u));
        let mut empty = Vec::new();
        UserStore::default().write(&mut empty).unwrap();
        assert!(UserStore::parse(Path::new("x"), &empty).unwrap().is_empty());
    }
}
