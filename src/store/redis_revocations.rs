//! `RedisRevocations`: the revocation store on Redis (SPEC §10), shared by every host.
//!
//! Keys (under the prefix):
//! - `jti:<jti>` — a revoked token, value its `exp`, written `SET … <exp> EXAT <exp> NX`: Redis
//!   drops it when the token would have expired anyway, so nothing ever needs pruning.
//! - `sub:<sub>` — "every token of `sub` issued up to this time is revoked"; moved only forward
//!   by a Lua script (`FORWARD`), so two hosts revoking at once keep the later time.
//!
//! A check is one `MGET` of the two keys. A stream of checks (`verify -`) first hands the
//! tokens it has read ahead to [`RevocationStore::prefetch`]: one `MGET` per few hundred
//! tokens, whose answers the following checks use until the next `refresh`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Result, Revoked};
use crate::store::redis::Redis;
use crate::store::{RevocationList, RevocationStore};

/// Moves `KEYS[i]` forward to `ARGV[1]`, never back.
const FORWARD: &str = r"
local at = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local cur = tonumber(redis.call('GET', k))
  if cur == nil or cur < at then redis.call('SET', k, ARGV[1]) end
end
return 0";

/// Keys per `MGET` when prefetching.
pub const PREFETCH_CHUNK: usize = 2048;

/// What a prefetch learned: per key, its value (`None`: absent).
#[derive(Default)]
struct Known {
    jtis: HashMap<String, bool>,
    subs: HashMap<String, Option<i64>>,
}

/// Revocations in Redis.
pub struct RedisRevocations {
    redis: Redis,
    forward: redis::Script,
    known: Mutex<Known>,
    /// Whether `known` holds anything (so a check without a prefetch takes no lock).
    has_known: AtomicBool,
}

impl RedisRevocations {
    /// The store on `redis`.
    pub fn new(redis: Redis) -> Self {
        RedisRevocations {
            redis,
            forward: redis::Script::new(FORWARD),
            known: Mutex::new(Known::default()),
            has_known: AtomicBool::new(false),
        }
    }

    fn jti_key(&self, jti: &str) -> String {
        self.redis.key(&["jti:", jti])
    }

    fn sub_key(&self, sub: &str) -> String {
        self.redis.key(&["sub:", sub])
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The prefetched answer for this check, if everything it needs was prefetched.
    fn prefetched(&self, jti: Option<&str>, sub: Option<&str>) -> Option<(bool, Option<i64>)> {
        if !self.has_known.load(Ordering::Acquire) {
            return None;
        }
        let k = self.known();
        let revoked = match jti {
            Some(j) => *k.jtis.get(j)?,
            None => false,
        };
        let at = match sub {
            Some(s) => *k.subs.get(s)?,
            None => None,
        };
        Some((revoked, at))
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
        for chunk in keys.chunks(PREFETCH_CHUNK) {
            let values: Vec<Option<i64>> = self
                .redis
                .with(|c| redis::cmd("MGET").arg(chunk).query(c))?;
            out.extend(chunk.iter().cloned().zip(values));
        }
        Ok(out)
    }
}

impl RevocationStore for RedisRevocations {
    fn check(
        &self,
        jti: Option<&str>,
        sub: Option<&str>,
        iat: Option<i64>,
    ) -> Result<Option<Revoked>> {
        let (revoked, at) = match self.prefetched(jti, sub) {
            Some(known) => known,
            None => {
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
                (revoked, at)
            }
        };
        if revoked {
            return Ok(Some(Revoked::Token));
        }
        let (Some(sub), Some(at)) = (sub, at) else {
            return Ok(None);
        };
        // A token without `iat` cannot prove it was issued after the mark.
        Ok(iat.is_none_or(|iat| iat <= at).then(|| Revoked::Subject {
            sub: sub.to_string(),
            at,
        }))
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
        for chunk in live.chunks(PREFETCH_CHUNK) {
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
        for chunk in from.users.chunks(PREFETCH_CHUNK) {
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

    fn refresh(&self) -> Result<()> {
        if self.has_known.swap(false, Ordering::AcqRel) {
            let mut k = self.known();
            k.jtis.clear();
            k.subs.clear();
        }
        Ok(())
    }

    fn prefetch(&self, queries: &[(Option<&str>, Option<&str>)]) -> Result<()> {
        let mut k = Known::default();
        let mut keys = Vec::with_capacity(queries.len() * 2);
        let mut what: Vec<(bool, &str)> = Vec::with_capacity(queries.len() * 2);
        for (jti, sub) in queries {
            if let Some(j) = jti {
                keys.push(self.jti_key(j));
                what.push((true, j));
            }
            if let Some(s) = sub {
                keys.push(self.sub_key(s));
                what.push((false, s));
            }
        }
        for (keys, what) in keys.chunks(PREFETCH_CHUNK).zip(what.chunks(PREFETCH_CHUNK)) {
            let values: Vec<Option<i64>> =
                self.redis.with(|c| redis::cmd("MGET").arg(keys).query(c))?;
            for ((is_jti, name), v) in what.iter().zip(values) {
                if *is_jti {
                    k.jtis.insert((*name).to_string(), v.is_some());
                } else {
                    k.subs.insert((*name).to_string(), v);
                }
            }
        }
        *self.known() = k;
        self.has_known.store(true, Ordering::Release);
        Ok(())
    }

    fn is_remote(&self) -> bool {
        true
    }
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
