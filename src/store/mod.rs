//! Stores: the operations the front ends need on users and on revocations, as traits, with
//! the file implementations behind them (lock, atomic write, lookup index). Methods are
//! operations, never "give me the whole document", so a Redis store can implement each one
//! with a few commands. [`open_users`] and [`open_revocations`] choose the implementation from
//! the configured location, in one place.

pub mod file;
pub mod memory;
pub mod redis;
pub mod redis_revocations;
pub mod redis_throttle;
pub mod redis_users;
pub mod revocations_file;
pub mod throttle;
pub mod users_file;

use std::path::Path;
use std::time::Duration;

use crate::error::{Result, Revoked};
use crate::passwords::Scheme;
use crate::sessions::{self, Limits, Session};
use crate::users::{self, User, normalize_name};

pub use redis::RedisOptions;
pub use redis_revocations::RedisRevocations;
pub use redis_users::RedisUsers;
pub use revocations_file::FileRevocations;
pub use users_file::FileUsers;

/// The users: records keyed by name.
pub trait UserStore: Send + Sync {
    /// The record of `name`, if any.
    ///
    /// # Errors
    /// A store error; a record that does not parse is corrupt.
    fn get(&self, name: &str) -> Result<Option<User>>;

    /// Whether `name` is a user (without reading its record).
    ///
    /// # Errors
    /// A store error.
    fn exists(&self, name: &str) -> Result<bool>;

    /// Adds the user that `make` builds, failing with `UserExists` if `name` is taken and
    /// with `UserConfusable` if it looks like an existing user's name (SPEC §15).
    /// `make` may be slow (it hashes the password): the store may do its own reading
    /// meanwhile, and checks for the name again once `make` is done.
    ///
    /// # Errors
    /// `UserExists`, `make`'s error, or a store error.
    fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User>;

    /// Changes one user; `UserNotFound` if there is none.
    ///
    /// # Errors
    /// `UserNotFound`, `change`'s error, or a store error.
    fn update(&self, name: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User>;

    /// Replaces `name`'s password hash with `new` only if it is still `current` (a
    /// compare-and-set, for rehashing on login: another writer since the read wins). Nothing
    /// else in the record changes (not `password_changed_at`: the password is the same).
    /// Returns whether the hash was replaced; a user that is gone is `false`.
    ///
    /// The default goes through [`UserStore::update`], which is atomic.
    ///
    /// # Errors
    /// A store error.
    fn replace_hash(&self, name: &str, current: &str, new: &str) -> Result<bool> {
        let mut replaced = false;
        let changed = self.update(name, &mut |u| {
            replaced = u.hashed_password == current;
            if replaced {
                u.hashed_password = new.to_string();
            }
            Ok(())
        });
        match changed {
            Ok(_) => Ok(replaced),
            Err(crate::error::Error::UserNotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes one user; `UserNotFound` if there is none.
    ///
    /// # Errors
    /// `UserNotFound` or a store error.
    fn remove(&self, name: &str) -> Result<User>;

    /// An existing user whose name is confusable with `name` (SPEC §15, UTS #39 skeleton:
    /// `аlice` beside `alice`), if any; `name` itself does not count. `add` and `import` refuse
    /// such names; a front end may ask first, before prompting for a password.
    ///
    /// The default reads every record; the stores read only the names.
    ///
    /// # Errors
    /// A store error.
    fn confusable_user(&self, name: &str) -> Result<Option<String>> {
        let all = self.list()?;
        Ok(
            users::confusable_with(name, all.iter().map(|u| u.username.as_str()))
                .map(str::to_string),
        )
    }

    /// Every user, in name order.
    ///
    /// # Errors
    /// A store error, or the first record that does not parse.
    fn list(&self) -> Result<Vec<User>>;

    /// Adds many users in one step (`user import`): existing names are replaced when
    /// `replace`, else kept; a new name confusable with an existing user's (or with one added
    /// earlier in `users`) is not added. Returns what became of each name.
    ///
    /// # Errors
    /// A store error; nothing is written then.
    fn import(&self, users: Vec<User>, replace: bool) -> Result<Imported>;

    /// The scheme and parameters most users' hashes have (SPEC §15 "Users and hashes"):
    /// what an unknown user's dummy check imitates and a cheaper stored hash's check is padded
    /// to (`auth::authenticate`); `None` for a store without a hash this tool can read. Taken
    /// from at most [`TYPICAL_SAMPLE`] users spread over the store (every user below that),
    /// and cached, so a login pays next to nothing for it. Also `serve`'s health check.
    ///
    /// # Errors
    /// A store error.
    fn typical_scheme(&self) -> Result<Option<Scheme>>;

    /// A name for messages (the file's path, or the URL without password).
    fn location(&self) -> String;
}

/// How many users' hashes [`UserStore::typical_scheme`] looks at, at most: enough to find
/// what most users have in any store (a kind held by a clear majority is all but certain to
/// lead a sample this size), little enough to cost a millisecond or so.
pub const TYPICAL_SAMPLE: usize = 1000;

/// The scheme with parameters that most of `hashes` have (ties: the first seen); hashes this
/// tool cannot read are not counted. Legacy schemes count as kinds of their own.
pub fn most_common_scheme<'a>(hashes: impl IntoIterator<Item = &'a str>) -> Option<Scheme> {
    let mut counts: Vec<(Scheme, usize)> = Vec::new();
    for hash in hashes {
        let Ok(info) = crate::passwords::inspect(hash) else {
            continue;
        };
        match counts.iter_mut().find(|(s, _)| *s == info.scheme) {
            Some((_, n)) => *n += 1,
            None => counts.push((info.scheme, 1)),
        }
    }
    // `max_by_key` keeps the last of equals: scanned in reverse, that is the first seen.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(s, _)| s)
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Names that were new.
    pub added: Vec<String>,
    /// Names that replaced an existing user.
    pub replaced: Vec<String>,
    /// Names that existed and were kept (without `replace`).
    pub kept: Vec<String>,
    /// New names not added because they are confusable with a user's: `(name, that user)`.
    pub confusable: Vec<(String, String)>,
}

impl Imported {
    /// The record an import writes for `new`, given the one stored under its name, with the
    /// outcome noted; `None` when nothing is written (kept without `replace`, or a new name
    /// confusable with one in `skeletons`). A replaced user keeps its other fields; its
    /// `password_changed_at` moves only with a different hash. The one rule of every store.
    pub fn merge(
        &mut self,
        stored: Option<User>,
        new: User,
        replace: bool,
        skeletons: &mut users::Skeletons,
    ) -> Option<User> {
        match stored {
            Some(_) if !replace => {
                self.kept.push(new.username);
                None
            }
            Some(mut u) => {
                if u.hashed_password != new.hashed_password {
                    u.hashed_password = new.hashed_password;
                    u.password_changed_at = new.password_changed_at;
                }
                u.disabled = new.disabled;
                self.replaced.push(u.username.clone());
                Some(u)
            }
            None => {
                if let Some(other) = skeletons.confusable(&new.username) {
                    self.confusable.push((new.username, other.to_string()));
                    return None;
                }
                skeletons.insert(&new.username);
                self.added.push(new.username.clone());
                Some(new)
            }
        }
    }
}

/// The revocations: revoked token ids until their `exp`, and per-subject "everything issued
/// up to this time" marks that only move forward.
pub trait RevocationStore: Send + Sync {
    /// Whether a token with these claims is revoked, by the state as last seen (see
    /// [`RevocationStore::refresh`]).
    ///
    /// # Errors
    /// A store error: the check fails closed.
    ///
    /// A query with a `sid` also asks about its session (SPEC §13): the store reads the
    /// session's times and asks the process's [`sessions::Rules::judge`].
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>>;

    /// When every token of `sub` issued up to then was revoked, if ever.
    ///
    /// # Errors
    /// A store error.
    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>>;

    /// Revokes the token `jti` until its `exp`; entries expired at `now` may be dropped.
    ///
    /// # Errors
    /// A store error; the revocation is durable when this returns `Ok`.
    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()>;

    /// Revokes every token of `sub` issued up to `at` (a later mark already there stays).
    ///
    /// # Errors
    /// A store error; the revocation is durable when this returns `Ok`.
    fn revoke_subject(&self, sub: &str, at: i64, now: i64) -> Result<()> {
        self.revoke_subjects(&[sub], at, now)
    }

    /// `revoke_subject` for several subjects in one step.
    ///
    /// # Errors
    /// A store error; the revocations are durable when this returns `Ok`.
    fn revoke_subjects(&self, subs: &[&str], at: i64, now: i64) -> Result<()>;

    /// Every live entry.
    ///
    /// # Errors
    /// A store error.
    fn list(&self) -> Result<RevocationList>;

    /// Adds every entry of `from` (tokens still live at `now`; a subject's later mark already
    /// here stays), in as few writes as the store can: `migrate`.
    ///
    /// # Errors
    /// A store error.
    fn merge(&self, from: &RevocationList, now: i64) -> Result<()> {
        for (jti, exp) in from.tokens.iter().filter(|(_, exp)| *exp > now) {
            self.revoke_token(jti, *exp, now)?;
        }
        for (sub, at) in &from.users {
            self.revoke_subject(sub, *at, now)?;
        }
        Ok(())
    }

    /// Drops the entries of tokens expired at `now`; returns how many.
    ///
    /// # Errors
    /// A store error.
    fn prune(&self, now: i64) -> Result<usize>;

    /// Makes the next checks see the current state: a store that caches (the file store keeps
    /// an index in memory) looks whether the state changed since (a `stat`), and reloads if so.
    /// Long-running callers call it before each request, or, in a stream, whenever the input
    /// made them wait and at least every 100 ms.
    ///
    /// # Errors
    /// A store error.
    fn refresh(&self) -> Result<()> {
        Ok(())
    }

    /// `check` for each of `queries`, in order, in as few round trips as the store can: the
    /// answers replace what `answers` held, one per query. A stream (`verify -`) asks about
    /// the tokens it has read ahead and verified in one call (Redis: one `MGET`).
    ///
    /// # Errors
    /// A store error: then no answer is given.
    fn check_many(&self, queries: &[Query<'_>], answers: &mut Vec<Option<Revoked>>) -> Result<()> {
        answers.clear();
        for q in queries {
            answers.push(self.check(q)?);
        }
        Ok(())
    }

    /// Whether every check is a round trip to another machine (Redis): streams then ask
    /// about many tokens at once (`check_many`).
    fn is_remote(&self) -> bool {
        false
    }

    // Sessions (SPEC §13) live in the same state store, under the same lock or script as the
    // revocations: ending a session and revoking its tokens is one write.

    /// Records the new session `s` (its `sid` is new), then ends `s.sub`'s least recently
    /// used live sessions beyond `limits.max_per_user` and drops every session (ended or not)
    /// whose absolute end (`created_at + limits.max_age`) is at or before `now`. The first
    /// session written makes the state's `"version"` 2 (SPEC §13 "Details"). Durable before
    /// `Ok`. Returns the sids ended for the limit.
    ///
    /// # Errors
    /// A store error; nothing is written then.
    fn begin_session(&self, s: &Session, limits: &Limits, now: i64) -> Result<Vec<String>>;

    /// The session `sid`, ended or not; `None` when this store does not know it.
    ///
    /// # Errors
    /// A store error.
    fn session(&self, sid: &str) -> Result<Option<Session>>;

    /// Every stored session, ended ones included (of `sub` only, when given), in no set order.
    ///
    /// # Errors
    /// A store error.
    fn sessions(&self, sub: Option<&str>) -> Result<Vec<Session>>;

    /// Replaces the stored session `new.sid` with `new` only if it is not ended and its
    /// refresh generation is still `generation`: the compare-and-set that spends a refresh
    /// token (two racing spends: exactly one gets `true`). Durable before `Ok(true)`.
    ///
    /// # Errors
    /// A store error; nothing is written then.
    fn replace_session(&self, new: &Session, generation: u64) -> Result<bool>;

    /// Ends the sessions `sids` at `now`: each keeps a tombstone (`ended_at`) until its
    /// absolute end, and each of its live `tokens` is revoked like a logged-out `jti` (where
    /// older versions look). Returns the sids that were live (unknown or already ended ones
    /// are not).
    ///
    /// # Errors
    /// A store error; nothing is written then.
    fn end_sessions(&self, sids: &[&str], now: i64) -> Result<Vec<String>>;

    /// Ends every live session of `sub` but `keep`, as [`RevocationStore::end_sessions`];
    /// returns their sids.
    ///
    /// # Errors
    /// A store error.
    fn end_user_sessions(&self, sub: &str, keep: Option<&str>, now: i64) -> Result<Vec<String>>;

    /// Raises the stored last use of each session named (a later one stored stays; unknown
    /// sids are ignored), in one write: `serve`'s batch of uses.
    ///
    /// # Errors
    /// A store error.
    fn touch_sessions(&self, uses: &[(String, i64)]) -> Result<()>;

    /// Drops the sessions whose absolute end (`created_at + max_age`) is at or before `now`;
    /// returns how many.
    ///
    /// # Errors
    /// A store error.
    fn prune_sessions(&self, now: i64, max_age: i64) -> Result<usize>;

    /// Adds sessions from another store (`migrate`; ended ones too): a sid already here
    /// stays as it is.
    ///
    /// # Errors
    /// A store error.
    fn import_sessions(&self, sessions: &[Session]) -> Result<()>;
}

/// What a revocation check asks about one token (the argument of
/// [`RevocationStore::check`]): its `jti`, `sub`, `iat` and `sid`, at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// The token's `jti`, if any.
    pub jti: Option<&'a str>,
    /// The token's `sub`, if any.
    pub sub: Option<&'a str>,
    /// The token's `iat` in whole seconds, if any.
    pub iat: Option<i64>,
    /// The token's `sid`, if any and if sessions are to be checked (not for `--jwks`).
    pub sid: Option<&'a str>,
    /// The time of the check (a session's limits are judged at it).
    pub now: i64,
}

/// The revocations as listed: `(jti, exp)` and `(sub, revoked_at)`, each sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RevocationList {
    /// Revoked token ids and their expiry.
    pub tokens: Vec<(String, i64)>,
    /// Subjects and the time up to which their tokens are revoked.
    pub users: Vec<(String, i64)>,
}

/// How a revocation store will be used: a few lookups (read the index on demand) or many
/// (load it once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookups {
    /// One process, one token: search the file in place.
    Few,
    /// A stream of tokens or a server: load the whole index into memory.
    Many,
}

/// Whether `location` names a file that does not exist (a Redis URL never does): the store
/// then reads as empty, which `user list` and `serve` point out (SPEC §15).
pub fn is_missing_file(location: &Path) -> bool {
    redis::url_of(location).is_none()
        && matches!(std::fs::metadata(location), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// Opens the users store at `location`: a file, or a `redis://`/`rediss://` URL (nothing is
/// connected until the first operation). A location that looks like a mistyped Redis URL
/// (`redis:/h`) is refused, never taken as a file of that name.
///
/// # Errors
/// A configuration error for a Redis URL that cannot be used; a usage error for a mistyped one.
pub fn open_users(
    location: &Path,
    lock_timeout: Duration,
    redis: &RedisOptions,
) -> Result<Box<dyn UserStore>> {
    redis::refuse_mistyped("users", location)?;
    let store: Box<dyn UserStore> = match redis::url_of(location) {
        Some(url) => Box::new(RedisUsers::new(redis::Redis::open(url, redis)?)),
        None => Box::new(FileUsers::new(location, lock_timeout)),
    };
    Ok(Box::new(NfcUsers(store)))
}

/// A users store that takes every name in Unicode NFC (SPEC §15): the one place where
/// lookups are normalized, for every front end (`login`, the `user` commands, `serve`'s logins
/// and `/auth` checks) and both stores. A name typed in NFD finds its NFC user, and what is
/// written is NFC. Front ends still normalize a name they use elsewhere (a revocation's
/// subject, a throttle key) with [`users::normalize_name`].
struct NfcUsers(Box<dyn UserStore>);

impl UserStore for NfcUsers {
    fn get(&self, name: &str) -> Result<Option<User>> {
        self.0.get(&normalize_name(name))
    }

    fn exists(&self, name: &str) -> Result<bool> {
        self.0.exists(&normalize_name(name))
    }

    fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
        self.0.add(&normalize_name(name), &mut || {
            let mut u = make()?;
            u.username = normalize_name(&u.username).into_owned();
            Ok(u)
        })
    }

    fn update(&self, name: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
        self.0.update(&normalize_name(name), change)
    }

    fn replace_hash(&self, name: &str, current: &str, new: &str) -> Result<bool> {
        self.0.replace_hash(&normalize_name(name), current, new)
    }

    fn remove(&self, name: &str) -> Result<User> {
        self.0.remove(&normalize_name(name))
    }

    fn confusable_user(&self, name: &str) -> Result<Option<String>> {
        self.0.confusable_user(&normalize_name(name))
    }

    fn list(&self) -> Result<Vec<User>> {
        self.0.list()
    }

    fn import(&self, mut users: Vec<User>, replace: bool) -> Result<Imported> {
        for u in &mut users {
            if let std::borrow::Cow::Owned(n) = normalize_name(&u.username) {
                u.username = n;
            }
        }
        self.0.import(users, replace)
    }

    fn typical_scheme(&self) -> Result<Option<Scheme>> {
        self.0.typical_scheme()
    }

    fn location(&self) -> String {
        self.0.location()
    }
}

/// Opens the revocation store at `location`: a file, or a `redis://`/`rediss://` URL (a
/// mistyped one is refused, as by [`open_users`]).
///
/// # Errors
/// A configuration error for a Redis URL that cannot be used; a usage error for a mistyped one.
///
/// `rules` are the session rules of this process (SPEC §13): every check of a token with a
/// `sid` is judged by them.
pub fn open_revocations(
    location: &Path,
    lock_timeout: Duration,
    lookups: Lookups,
    redis: &RedisOptions,
    rules: std::sync::Arc<sessions::Rules>,
) -> Result<Box<dyn RevocationStore>> {
    redis::refuse_mistyped("state", location)?;
    Ok(match redis::url_of(location) {
        Some(url) => Box::new(RedisRevocations::new(
            redis::Redis::open(url, redis)?,
            rules,
        )),
        None => Box::new(FileRevocations::new(location, lock_timeout, lookups, rules)),
    })
}
