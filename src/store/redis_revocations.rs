//! `RedisRevocations`: the revocation store on Redis (SPEC §10), shared by every host.
//!
//! Keys (under the prefix):
//! - `jti:<jti>` — a revoked token, value its `exp`, written `SET … <exp> EXAT <exp> NX`: Redis
//!   drops it when the token would have expired anyway, so nothing ever needs pruning.
//! - `sub:<sub>` — "every token of `sub` issued up to this time is revoked"; moved only forward
//!   by a Lua script (`FORWARD`), so two hosts revoking at once keep the later time.
//!
//! A check is one `MGET` of the two keys. A stream of checks (`verify -`) asks about the
//! tokens it has read ahead and verified in one [`RevocationStore::check_many`]: one `MGET`
//! of up to `MGET_KEYS` keys. Nothing is cached: every answer is Redis's at the time asked.

use crate::error::{Error, Result, Revoked, StoreError};
use crate::sessions::{Limits, Session};
use crate::store::redis::Redis;
use crate::store::{Query, RevocationList, RevocationStore};

/// Moves `KEYS[i]` forward to `ARGV[1]`, never back.
const FORWARD: &str = r"
local at = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k))
  if cur == nil or cur < at then redis.call('SET', k, ARGV[1]) end
end
return 0";

/// Keys per `MGET` (and commands per pipeline) when many are asked or written at once.
pub const MGET_KEYS: usize = 2048;

/// Revocations in Redis.
pub struct RedisRevocations {
    redis: Redis,
    forward: redis::Script,
    /// The session rules checks are judged by.
    rules: std::sync::Arc<crate::sessions::Rules>,
}

impl RedisRevocations {
    /// The store on `redis`.
    pub fn new(redis: Redis, rules: std::sync::Arc<crate::sessions::Rules>) -> Self {
        RedisRevocations {
            redis,
            forward: redis::Script::new(FORWARD),
            rules,
        }
    }

    fn jti_key(&self, jti: &str) -> String {
        self.redis.key(&["jti:", jti])
    }

    fn sub_key(&self, sub: &str) -> String {
        self.redis.key(&["sub:", sub])
    }

    fn scan(&self, pattern: &str) -> Result<Vec<(String, Option<i64>)>> {
        let keys: Vec<String> = self.redis.with(|c| {
            let mut out = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)?;
                out.extend(batch);
                if next == 0 {
                    return Ok(out);
                }
                cursor = next;
            }
        })?;
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MGET_KEYS) {
            let values: Vec<Option<i64>> = self
                .redis
                .with(|c| redis::cmd("MGET").arg(chunk).query(c))?;
            out.extend(chunk.iter().cloned().zip(values));
        }
        Ok(out)
    }
}

impl RevocationStore for RedisRevocations {
    fn check(&self, q: &Query<'_>) -> Result<Option<Revoked>> {
        // SESSIONS-TODO: q.sid
        let (jti, sub, iat) = (q.jti, q.sub, q.iat);
        let mut keys = Vec::with_capacity(2);
        if let Some(j) = jti {
            keys.push(self.jti_key(j));
        }
        if let Some(s) = sub {
            keys.push(self.sub_key(s));
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let values: Vec<Option<i64>> = self
            .redis
            .with(|c| redis::cmd("MGET").arg(&keys).query(c))?;
        let revoked = jti.is_some() && values.first().is_some_and(Option::is_some);
        let at = if sub.is_some() {
            values.last().copied().flatten()
        } else {
            None
        };
        Ok(verdict(revoked, sub, at, iat))
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

    fn check_many(&self, queries: &[Query<'_>], answers: &mut Vec<Option<Revoked>>) -> Result<()> {
        answers.clear();
        // The keys in query order: `jti:` then `sub:` of each query, those it has.
        let mut keys = queries.iter().flat_map(|q| {
            let jti = q.jti.map(|j| ("jti:", j));
            let sub = q.sub.map(|s| ("sub:", s));
            jti.into_iter().chain(sub)
        });
        let mut values: Vec<Option<i64>> = Vec::with_capacity(queries.len() * 2);
        let mut key = String::new();
        loop {
            // Each key is copied into the command's one buffer: no allocation per key.
            let mut mget = redis::cmd("MGET");
            let mut asked = 0;
            for (tag, name) in keys.by_ref().take(MGET_KEYS) {
                key.clear();
                key.push_str(&self.redis.prefix);
                key.push_str(tag);
                key.push_str(name);
                mget.arg(key.as_str());
                asked += 1;
            }
            if asked == 0 {
                break;
            }
            let got: Vec<Option<i64>> = self.redis.with(|c| mget.query(c))?;
            // An answer short of a value would read as "not revoked": fail closed instead.
            if got.len() != asked {
                return Err(Error::Store(StoreError::Remote {
                    location: self.redis.location().to_string(),
                    why: format!("MGET of {asked} keys answered {} values", got.len()),
                }));
            }
            values.extend(got);
        }
        let mut values = values.into_iter();
        for q in queries {
            let revoked = q.jti.is_some() && values.next().flatten().is_some();
            let at = match q.sub {
                Some(_) => values.next().flatten(),
                None => None,
            };
            answers.push(verdict(revoked, q.sub, at, q.iat));
        }
        Ok(())
    }

    fn subject_revoked_at(&self, sub: &str) -> Result<Option<i64>> {
        let key = self.sub_key(sub);
        self.redis.with(|c| redis::cmd("GET").arg(&key).query(c))
    }

    fn revoke_token(&self, jti: &str, exp: i64, now: i64) -> Result<()> {
        if exp <= now {
            // Expired already: no check can pass it, and Redis would drop the key at once.
            return Ok(());
        }
        let key = self.jti_key(jti);
        self.redis.with(|c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(exp)
                .arg("EXAT")
                .arg(exp)
                .arg("NX")
                .query::<()>(c)
        })
    }

    fn revoke_subjects(&self, subs: &[&str], at: i64, _now: i64) -> Result<()> {
        if subs.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = subs.iter().map(|s| self.sub_key(s)).collect();
        self.redis.with(|c| {
            let mut inv = self.forward.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(at).invoke::<()>(c)
        })
    }

    fn list(&self) -> Result<RevocationList> {
        let strip = |k: String, tag: &str| {
            k.strip_prefix(&self.redis.prefix)
                .and_then(|k| k.strip_prefix(tag))
                .map(str::to_string)
        };
        let glob = glob_escape(&self.redis.prefix);
        let mut tokens: Vec<(String, i64)> = self
            .scan(&format!("{glob}jti:*"))?
            .into_iter()
            .filter_map(|(k, v)| Some((strip(k, "jti:")?, v?)))
            .collect();
        let mut users: Vec<(String, i64)> = self
            .scan(&format!("{glob}sub:*"))?
            .into_iter()
            .filter_map(|(k, v)| Some((strip(k, "sub:")?, v?)))
            .collect();
        tokens.sort();
        users.sort();
        Ok(RevocationList { tokens, users })
    }

    fn merge(&self, from: &RevocationList, now: i64) -> Result<()> {
        let live: Vec<&(String, i64)> = from.tokens.iter().filter(|(_, e)| *e > now).collect();
        for chunk in live.chunks(MGET_KEYS) {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for (jti, exp) in chunk {
                    p.cmd("SET")
                        .arg(self.jti_key(jti))
                        .arg(exp)
                        .arg("EXAT")
                        .arg(exp)
                        .arg("NX")
                        .ignore();
                }
                p.query::<()>(c)
            })?;
        }
        for chunk in from.users.chunks(MGET_KEYS) {
            self.redis.with(|c| {
                let mut p = redis::pipe();
                for (sub, at) in chunk {
                    p.cmd("EVAL")
                        .arg(FORWARD)
                        .arg(1)
                        .arg(self.sub_key(sub))
                        .arg(at)
                        .ignore();
                }
                p.query::<()>(c)
            })?;
        }
        Ok(())
    }

    fn prune(&self, _now: i64) -> Result<usize> {
        // Every token key expires at its token's `exp`: Redis prunes them itself.
        Ok(0)
    }

    fn is_remote(&self) -> bool {
        true
    }
}

/// The answer to a check from what Redis holds: whether the token's `jti` key exists, and
/// the time of its subject's mark, if any.
fn verdict(revoked: bool, sub: Option<&str>, at: Option<i64>, iat: Option<i64>) -> Option<Revoked> {
    if revoked {
        return Some(Revoked::Token);
    }
    let (Some(sub), Some(at)) = (sub, at) else {
        return None;
    };
    // A token without `iat` cannot prove it was issued after the mark.
    iat.is_none_or(|iat| iat <= at).then(|| Revoked::Subject {
        sub: sub.to_string(),
        at,
    })
}

/// `s` with the glob characters of `SCAN MATCH` escaped.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
