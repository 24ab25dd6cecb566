//! `RedisUsers`: the users on Redis (SPEC §10), shared by every host.
//!
//! Keys (under the prefix):
//! - `user:<name>` — one hash per user, the fields of SPEC §1 (`disabled` as `0`/`1`,
//!   `groups` as a JSON array, absent when empty; an absent field is `None`). Fields this
//!   version does not know are never touched.
//! - `users` — a set of every name (for `user list`).
//!
//! Writes are Lua scripts, atomic on the server: `CREATE` adds the hash and the name only if
//! the hash does not exist (two hosts adding one name: one success, one exit 7); `CHANGE`
//! writes only the fields an update changed, and only if each still holds the value the
//! update read (else the update is read and applied again), so concurrent changes to other
//! fields survive; `REMOVE` deletes the hash and the name together.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::passwords::Scheme;
use crate::store::redis::Redis;
use crate::store::{Imported, UserStore};
use crate::users::{self, User};

/// `KEYS[1]` the hash, `KEYS[2]` the index; `ARGV[1]` the name, then field, value pairs.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1";

/// `KEYS[1]` the hash; `ARGV` triples: field, expected (`\0` absent), new (`\0` delete).
/// Returns -1 when the user is gone, 0 when a field changed meanwhile, 1 when written.
const CHANGE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur == false then cur = '\0' end
  if cur ~= ARGV[i + 1] then return 0 end
end
for i = 1, #ARGV, 3 do
  if ARGV[i + 2] == '\0' then redis.call('HDEL', KEYS[1], ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
end
return 1";

/// `KEYS[1]` the hash, `KEYS[2]` the index, `ARGV[1]` the name: the record, or nil.
const REMOVE: &str = r"
local r = redis.call('HGETALL', KEYS[1])
if #r == 0 then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return r";

/// `user import` of one user: `KEYS` as `CREATE`; `ARGV[1]` replace (`1`/`0`), `ARGV[2]`
/// hash, `ARGV[3]` password_changed_at, `ARGV[4]` disabled, `ARGV[5]` name, then the new
/// record's field, value pairs. Returns 1 added, 2 replaced, 0 kept.
const IMPORT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[1] ~= '1' then return 0 end
  if redis.call('HGET', KEYS[1], 'hashed_password') ~= ARGV[2] then
    redis.call('HSET', KEYS[1], 'hashed_password', ARGV[2], 'password_changed_at', ARGV[3])
  end
  redis.call('HSET', KEYS[1], 'disabled', ARGV[4])
  return 2
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('SADD', KEYS[2], ARGV[5])
return 1";

/// How often an update is read and applied again when other writers keep changing the same
/// fields.
const RETRIES: usize = 100;

/// Users in Redis.
pub struct RedisUsers {
    redis: Redis,
    create: redis::Script,
    change: redis::Script,
    remove: redis::Script,
    /// [`UserStore::typical_scheme`] as last worked out, and when.
    typical: Mutex<Option<(Instant, Option<Scheme>)>>,
}

/// How long [`UserStore::typical_scheme`]'s answer is kept: a server follows the store as
/// logins rehash its users, at the cost of one sample a minute.
const TYPICAL_FOR: Duration = Duration::from_secs(60);

/// Absent, in `CHANGE`'s arguments.
const ABSENT: &str = "\0";

impl RedisUsers {
    /// The store on `redis`.
    pub fn new(redis: Redis) -> Self {
        RedisUsers {
            redis,
            create: redis::Script::new(CREATE),
            change: redis::Script::new(CHANGE),
            remove: redis::Script::new(REMOVE),
            typical: Mutex::new(None),
        }
    }

    fn user_key(&self, name: &str) -> String {
        self.redis.key(&["user:", name])
    }

    fn index_key(&self) -> String {
        self.redis.key(&["users"])
    }

    /// Every user name (the index set), unordered.
    fn names(&self) -> Result<Vec<String>> {
        let index = self.index_key();
        self.redis
            .with(|c| redis::cmd("SMEMBERS").arg(&index).query(c))
    }

    fn parse(&self, name: &str, fields: HashMap<String, String>) -> Result<Option<User>> {
        if fields.is_empty() {
            return Ok(None);
        }
        let key = self.user_key(name);
        let int = |f: &str| -> Result<i64> {
            fields.get(f).map_or(Ok(0), |v| {
                v.parse()
                    .map_err(|_| self.redis.corrupt(&key, format!("{f} is not a number")))
            })
        };
        let hashed_password = fields
            .get("hashed_password")
            .cloned()
            .ok_or_else(|| self.redis.corrupt(&key, "no hashed_password"))?;
        let groups = match fields.get("groups") {
            Some(g) => serde_json::from_str(g)
                .map_err(|e| self.redis.corrupt(&key, format!("groups: {e}")))?,
            None => Vec::new(),
        };
        Ok(Some(User {
            username: name.to_string(),
            full_name: fields.get("full_name").cloned(),
            email: fields.get("email").cloned(),
            hashed_password,
            disabled: matches!(
                fields.get("disabled").map(String::as_str),
                Some("1" | "true")
            ),
            created_at: int("created_at")?,
            password_changed_at: int("password_changed_at")?,
            groups,
        }))
    }

    fn fetch(&self, name: &str) -> Result<Option<User>> {
        let key = self.user_key(name);
        let fields: HashMap<String, String> = self
            .redis
            .with(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        self.parse(name, fields)
    }
}

/// A record as hash fields (absent ones left out).
fn fields(u: &User) -> Vec<(&'static str, String)> {
    let mut f = vec![("username", u.username.clone())];
    if let Some(v) = &u.full_name {
        f.push(("full_name", v.clone()));
    }
    if let Some(v) = &u.email {
        f.push(("email", v.clone()));
    }
    f.push(("hashed_password", u.hashed_password.clone()));
    f.push(("disabled", if u.disabled { "1" } else { "0" }.to_string()));
    f.push(("created_at", u.created_at.to_string()));
    f.push(("password_changed_at", u.password_changed_at.to_string()));
    if !u.groups.is_empty() {
        f.push((
            "groups",
            serde_json::to_string(&u.groups).unwrap_or_else(|_| "[]".to_string()),
        ));
    }
    f
}

/// Each field as `CHANGE` sees it: its value, or `ABSENT`.
fn field_map(u: &User) -> HashMap<&'static str, String> {
    let mut m: HashMap<&'static str, String> = fields(u).into_iter().collect();
    for f in ["full_name", "email", "groups"] {
        m.entry(f).or_insert_with(|| ABSENT.to_string());
    }
    m
}

impl UserStore for RedisUsers {
    fn get(&self, name: &str) -> Result<Option<User>> {
        self.fetch(name)
    }

    fn exists(&self, name: &str) -> Result<bool> {
        let key = self.user_key(name);
        self.redis.with(|c| redis::cmd("EXISTS").arg(&key).query(c))
    }

    fn add(&self, name: &str, make: &mut dyn FnMut() -> Result<User>) -> Result<User> {
        // Refuse early without hashing; the script decides for real.
        if self.exists(name)? {
            return Err(Error::UserExists(name.to_string()));
        }
        // Read, then created by a separate script: two hosts adding look-alike names at the
        // same instant may both succeed (the exact name is still decided atomically).
        if let Some(existing) = self.confusable_user(name)? {
            return Err(Error::UserConfusable {
                name: name.to_string(),
                existing,
            });
        }
        let user = make()?;
        let (key, index) = (self.user_key(name), self.index_key());
        let created: i64 = self.redis.with(|c| {
            let mut inv = self.create.prepare_invoke();
            inv.key(&key).key(&index).arg(name);
            for (f, v) in fields(&user) {
                inv.arg(f).arg(v);
            }
            inv.invoke(c)
        })?;
        if created == 0 {
            return Err(Error::UserExists(name.to_string()));
        }
        Ok(user)
    }

    fn update(&self, name: &str, change: &mut dyn FnMut(&mut User) -> Result<()>) -> Result<User> {
        let key = self.user_key(name);
        for _ in 0..RETRIES {
            let before = self
                .fetch(name)?
                .ok_or_else(|| Error::UserNotFound(name.to_string()))?;
            let mut after = before.clone();
            change(&mut after)?;
            after.username = before.username.clone();
            let (old, new) = (field_map(&before), field_map(&after));
            let changed: Vec<(&str, &str, &str)> = new
                .iter()
                .filter(|(f, v)| old.get(*f) != Some(*v))
                .map(|(f, v)| (*f, old.get(f).map_or(ABSENT, String::as_str), v.as_str()))
                .collect();
            if changed.is_empty() {
                return Ok(after);
            }
            let done: i64 = self.redis.with(|c| {
                let mut inv = self.change.prepare_invoke();
                inv.key(&key);
                for (f, was, now) in &changed {
                    inv.arg(*f).arg(*was).arg(*now);
                }
                inv.invoke(c)
            })?;
            match done {
                1 => return Ok(after),
                -1 => return Err(Error::UserNotFound(name.to_string())),
                _ => {}
            }
        }
        Err(Error::Store(crate::error::StoreError::Remote {
            location: self.redis.location().to_string(),
            why: format!("user {name:?} kept changing under this update; try again"),
        }))
    }

    fn remove(&self, name: &str) -> Result<User> {
        let (key, index) = (self.user_key(name), self.index_key());
        let flat: Option<Vec<String>> = self.redis.with(|c| {
            self.remove
                .prepare_invoke()
                .key(&key)
                .key(&index)
                .arg(name)
                .invoke(c)
        })?;
        let flat = flat.ok_or_else(|| Error::UserNotFound(name.to_string()))?;
        let fields: HashMap<String, String> = flat
            .chunks_exact(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect();
        self.parse(name, fields)?
            .ok_or_else(|| Error::UserNotFound(name.to_string()))
    }

    fn confusable_user(&self, name: &str) -> Result<Option<String>> {
        let names = self.names()?;
        Ok(users::confusable_with(name, names.iter().map(String::as_str)).map(str::to_string))
    }

    fn list(&self) -> Result<Vec<User>> {
        let index = self.index_key();
        let mut names: Vec<String> = self
            .redis
            .with(|c| redis::cmd("SMEMBERS").arg(&index).query(c))?;
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(512) {
            let records: Vec<HashMap<String, String>> = self.redis.with(|c| {
                let mut p = redis::pipe();
                for n in chunk {
                    p.cmd("HGETALL").arg(self.user_key(n));
                }
                p.query(c)
            })?;
            for (name, fields) in chunk.iter().zip(records) {
                // A name whose hash is gone was removed meanwhile.
                if let Some(u) = self.parse(name, fields)? {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    fn import(&self, new: Vec<User>, replace: bool) -> Result<Imported> {
        let mut done = Imported::default();
        let index = self.index_key();
        // Look-alike names are sorted out against the names as read now (as `add` does).
        let existing: HashSet<String> = self.names()?.into_iter().collect();
        let mut skeletons = users::Skeletons::new(existing.iter().map(String::as_str));
        let mut users = Vec::with_capacity(new.len());
        for u in new {
            if !existing.contains(&u.username) {
                if let Some(other) = skeletons.confusable(&u.username) {
                    done.confusable.push((u.username, other.to_string()));
                    continue;
                }
                skeletons.insert(&u.username);
            }
            users.push(u);
        }
        for chunk in users.chunks(256) {
            let results: Vec<i64> = self.redis.with(|c| {
                let mut p = redis::pipe();
                for u in chunk {
                    let cmd = p
                        .cmd("EVAL")
                        .arg(IMPORT)
                        .arg(2)
                        .arg(self.user_key(&u.username))
                        .arg(&index)
                        .arg(if replace { "1" } else { "0" })
                        .arg(&u.hashed_password)
                        .arg(u.password_changed_at)
                        .arg(if u.disabled { "1" } else { "0" })
                        .arg(&u.username);
                    for (f, v) in fields(u) {
                        cmd.arg(f).arg(v);
                    }
                }
                p.query(c)
            })?;
            for (u, r) in chunk.iter().zip(results) {
                let list = match r {
                    1 => &mut done.added,
                    2 => &mut done.replaced,
                    _ => &mut done.kept,
                };
                list.push(u.username.clone());
            }
        }
        Ok(done)
    }

    fn typical_scheme(&self) -> Result<Option<Scheme>> {
        // Kept a while, so a server's logins do not each read the store for it, and every
        // refused login meanwhile imitates the same parameters. The lock is not held while
        // Redis is asked: a hanging server must not queue every login behind one another.
        if let Some((at, typical)) = *self.typical.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < TYPICAL_FOR
        {
            return Ok(typical);
        }
        // A random sample of the names (all of them in a smaller store), then their hashes.
        let index = self.index_key();
        let names: Vec<String> = self.redis.with(|c| {
            redis::cmd("SRANDMEMBER")
                .arg(&index)
                .arg(super::TYPICAL_SAMPLE)
                .query(c)
        })?;
        let hashes: Vec<Option<String>> = if names.is_empty() {
            Vec::new()
        } else {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for n in &names {
                    p.cmd("HGET").arg(self.user_key(n)).arg("hashed_password");
                }
                p.query(c)
            })?
        };
        let typical = super::most_common_scheme(hashes.iter().flatten().map(String::as_str));
        *self.typical.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), typical));
        Ok(typical)
    }

    fn location(&self) -> String {
        self.redis.location().to_string()
    }
}
