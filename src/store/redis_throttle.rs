//! The login throttle in Redis (SPEC §10, §15), shared by every `serve` instance on the same
//! server and prefix: the rules of [`super::throttle`], each call one Lua script (atomic).
//!
//! Keys (under the prefix): `throttle:a:<client>` and `throttle:p:<client>:<name>` sorted sets
//! of the checks counted for a client and a (client, name) pair (member the check's id, score
//! its start), with `ban:a:…` / `ban:p:…` holding a ban's end; `throttle:n:<name>` (checks
//! within the window), `throttle:r:<name>` (checks within the minute) and `throttle:u:<name>`
//! (under the rate until) for a username; `throttle:d:<nonce>` the checks of a device cookie.
//! Every key expires with what it holds.

use std::sync::RwLock;

use super::redis::Redis;
use super::throttle::{Attempt, DEVICE_LIFETIME, RATE_PERIOD, ThrottleRules, ThrottleStore};
use crate::error::Result;

/// `KEYS`: client set, client ban, pair set, pair ban, name set, name minute set, name
/// under-rate, device set. `ARGV`: now, window, max, rate, period, id, device lifetime, has
/// device. Returns 0 (go, counted) or the seconds to wait.
const BEGIN: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local period = tonumber(ARGV[5])
local id = ARGV[6]
local life = tonumber(ARGV[7])
for _, i in ipairs({1, 3}) do
  local b = tonumber(redis.call('GET', KEYS[i + 1]) or '0')
  if b > now then return b - now end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= max then
    local o = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(o[2]) + window - now)
  end
end
local exempt = false
if ARGV[8] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - life)
  exempt = redis.call('ZCARD', KEYS[8]) < max
end
if exempt then
  redis.call('ZADD', KEYS[8], now, id)
  redis.call('EXPIRE', KEYS[8], life)
else
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - period)
  local attacked = tonumber(redis.call('GET', KEYS[7]) or '0') > now
    or redis.call('ZCARD', KEYS[5]) >= max
  if attacked and redis.call('ZCARD', KEYS[6]) >= rate then
    local o = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(o[2]) + period - now)
  end
  redis.call('ZADD', KEYS[5], now, id)
  redis.call('EXPIRE', KEYS[5], window)
  redis.call('ZADD', KEYS[6], now, id)
  redis.call('EXPIRE', KEYS[6], period)
end
for _, i in ipairs({1, 3}) do
  redis.call('ZADD', KEYS[i], now, id)
  redis.call('EXPIRE', KEYS[i], window)
end
return 0";

/// `KEYS` as `BEGIN`'s; `ARGV`: now, window, max, ban, id, ok.
const END: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local ban = tonumber(ARGV[4])
local id = ARGV[5]
if ARGV[6] == '1' then
  for _, i in ipairs({1, 3, 5, 6, 8}) do redis.call('ZREM', KEYS[i], id) end
  return 0
end
for _, i in ipairs({1, 3}) do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= max then
    redis.call('SET', KEYS[i + 1], now + ban, 'EX', ban)
    redis.call('DEL', KEYS[i])
  end
end
if redis.call('ZSCORE', KEYS[5], id) then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
  if tonumber(redis.call('GET', KEYS[7]) or '0') > now or redis.call('ZCARD', KEYS[5]) >= max then
    redis.call('SET', KEYS[7], now + window, 'EX', window)
  end
end
return 0";

/// The throttle's counters in Redis.
pub struct RedisThrottle {
    redis: Redis,
    rules: RwLock<ThrottleRules>,
    begin: redis::Script,
    end: redis::Script,
}

impl RedisThrottle {
    /// Counters on `redis` under its prefix.
    pub fn new(redis: Redis, rules: ThrottleRules) -> Self {
        RedisThrottle {
            redis,
            rules: RwLock::new(rules),
            begin: redis::Script::new(BEGIN),
            end: redis::Script::new(END),
        }
    }

    fn keys(&self, a: &Attempt) -> [String; 8] {
        let r = &self.redis;
        let c = a.client.as_str();
        let n = a.name.as_str();
        [
            r.key(&["throttle:a:", c]),
            r.key(&["ban:a:", c]),
            r.key(&["throttle:p:", c, ":", n]),
            r.key(&["ban:p:", c, ":", n]),
            r.key(&["throttle:n:", n]),
            r.key(&["throttle:r:", n]),
            r.key(&["throttle:u:", n]),
            r.key(&["throttle:d:", a.device.as_deref().unwrap_or("")]),
        ]
    }
}

impl ThrottleStore for RedisThrottle {
    fn set_rules(&self, rules: ThrottleRules) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    fn begin(&self, a: &Attempt, now: i64) -> Result<Option<u64>> {
        let keys = self.keys(a);
        let r = *self.rules.read().unwrap_or_else(|p| p.into_inner());
        let wait: u64 = self.redis.with(|c| {
            let mut inv = self.begin.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(now)
                .arg(r.window.max(1))
                .arg(r.max_failures)
                .arg(r.user_rate)
                .arg(RATE_PERIOD)
                .arg(a.id.to_string())
                .arg(DEVICE_LIFETIME)
                .arg(u8::from(a.device.is_some()))
                .invoke(c)
        })?;
        Ok((wait > 0).then_some(wait))
    }

    fn end(&self, a: &Attempt, ok: bool, now: i64) -> Result<()> {
        let keys = self.keys(a);
        let r = *self.rules.read().unwrap_or_else(|p| p.into_inner());
        self.redis.with(|c| {
            let mut inv = self.end.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(now)
                .arg(r.window.max(1))
                .arg(r.max_failures)
                .arg(r.ban.max(1))
                .arg(a.id.to_string())
                .arg(u8::from(ok))
                .invoke::<()>(c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::testing::server;
    use crate::store::throttle::rules;

    #[test]
    fn redis_store_follows_the_rules() {
        let Some((_server, port)) = server() else {
            return;
        };
        let n = std::cell::Cell::new(0);
        rules::all(&|r| {
            // A fresh prefix per rule: the rules start from empty counters.
            n.set(n.get() + 1);
            let opts = crate::store::RedisOptions {
                prefix: format!("t{}:", n.get()),
                ..crate::store::RedisOptions::default()
            };
            let redis = Redis::open(&format!("redis://127.0.0.1:{port}/0"), &opts).unwrap();
            Box::new(RedisThrottle::new(redis, r))
        });
    }
}
