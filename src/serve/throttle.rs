//! Brute-force protection (RFC 6749 §4.3.2, SPEC §9): failed logins are counted per username
//! (whether or not it exists) and per client address; past the limit within the window, that
//! username or address is refused for the ban time without a password check. In memory, for
//! one process; or, when the revocations are on Redis, in Redis, so every `serve` instance
//! shares them: `throttle:n:<name>` / `throttle:a:<addr>` count failures (expiring `window`
//! after the first one), `ban:n:…` / `ban:a:…` hold the ban's end (expiring with it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::ThrottleOptions;
use crate::error::Result;
use crate::store::redis::Redis;

/// Counts a failure on `KEYS[1..2]` (counters) and bans on `KEYS[3..4]`: `ARGV` window ms,
/// max failures, ban ms, the ban's end (unix ms).
const FAILED: &str = r"
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  if n >= tonumber(ARGV[2]) then
    redis.call('SET', KEYS[i + 2], ARGV[4], 'PX', ARGV[3])
    redis.call('DEL', KEYS[i])
  end
end
return 0";

/// The shared counters.
struct Shared {
    redis: Redis,
    failed: redis::Script,
}

#[derive(Debug, Default)]
struct Record {
    /// Failure times within the window, oldest first.
    failures: Vec<Instant>,
    banned_until: Option<Instant>,
}

/// The counters.
pub struct Throttle {
    /// Replaced when `SIGHUP` reloads the configuration.
    opts: RwLock<ThrottleOptions>,
    names: Mutex<HashMap<String, Record>>,
    addrs: Mutex<HashMap<IpAddr, Record>>,
    shared: Option<Shared>,
}

/// Entries kept before old ones are swept, so a flood of made-up names cannot grow memory
/// without bound.
const SWEEP_AT: usize = 100_000;

impl Throttle {
    /// Empty counters.
    pub fn new(opts: ThrottleOptions) -> Self {
        Throttle {
            opts: RwLock::new(opts),
            names: Mutex::default(),
            addrs: Mutex::default(),
            shared: None,
        }
    }

    /// The options in force.
    fn opts(&self) -> ThrottleOptions {
        *self.opts.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the options (`SIGHUP`); counts and bans so far stay.
    pub fn set_options(&self, opts: ThrottleOptions) {
        *self.opts.write().unwrap_or_else(|p| p.into_inner()) = opts;
    }

    /// Counters in Redis, shared by every instance that uses the same server and prefix.
    pub fn shared(opts: ThrottleOptions, redis: Redis) -> Self {
        Throttle {
            shared: Some(Shared {
                redis,
                failed: redis::Script::new(FAILED),
            }),
            ..Throttle::new(opts)
        }
    }

    fn keys(r: &Redis, kind: &str, name: &str, addr: IpAddr) -> [String; 2] {
        [
            r.key(&[kind, ":n:", name]),
            r.key(&[kind, ":a:", &addr.to_string()]),
        ]
    }

    /// How long `name` or `addr` is still banned, if either is.
    ///
    /// # Errors
    /// With shared counters, Redis unreachable: the caller fails closed (503), the password is
    /// not checked.
    pub fn banned(&self, name: &str, addr: IpAddr) -> Result<Option<Duration>> {
        if let Some(s) = &self.shared {
            let keys = Self::keys(&s.redis, "ban", name, addr);
            let ends: Vec<Option<u64>> =
                s.redis.with(|c| redis::cmd("MGET").arg(&keys).query(c))?;
            let now = unix_ms();
            return Ok(ends
                .into_iter()
                .flatten()
                .filter(|end| *end > now)
                .max()
                .map(|end| Duration::from_millis(end - now)));
        }
        let now = Instant::now();
        let left = |r: Option<&Record>| {
            r.and_then(|r| r.banned_until)
                .and_then(|t| t.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        let a = left(lock(&self.names).get(name));
        let b = left(lock(&self.addrs).get(&addr));
        Ok(a.max(b))
    }

    /// Counts a failed login.
    pub fn failed(&self, name: &str, addr: IpAddr) {
        if let Some(s) = &self.shared {
            let [n, a] = Self::keys(&s.redis, "throttle", name, addr);
            let [bn, ba] = Self::keys(&s.redis, "ban", name, addr);
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
            let ban = ms(self.opts().ban);
            // A failure not counted (Redis away) bans nobody; `banned` fails closed meanwhile.
            let _ = s.redis.with(|c| {
                s.failed
                    .key(&n)
                    .key(&a)
                    .key(&bn)
                    .key(&ba)
                    .arg(ms(self.opts().window))
                    .arg(self.opts().max_failures.max(1))
                    .arg(ban)
                    .arg(unix_ms().saturating_add(ban))
                    .invoke::<()>(c)
            });
            return;
        }
        let now = Instant::now();
        self.count(&mut lock(&self.names), name.to_string(), now);
        self.count(&mut lock(&self.addrs), addr, now);
    }

    fn count<K: std::hash::Hash + Eq>(&self, map: &mut HashMap<K, Record>, key: K, now: Instant) {
        if map.len() >= SWEEP_AT {
            let window = self.opts().window.max(self.opts().ban);
            map.retain(|_, r| {
                r.failures
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < window)
                    || r.banned_until.is_some_and(|t| t > now)
            });
        }
        let r = map.entry(key).or_default();
        r.failures
            .retain(|t| now.duration_since(*t) < self.opts().window);
        r.failures.push(now);
        if r.failures.len() >= self.opts().max_failures as usize {
            r.banned_until = Some(now + self.opts().ban);
            r.failures.clear();
        }
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_after_the_limit_by_name_and_by_address() {
        let t = Throttle::new(ThrottleOptions {
            max_failures: 3,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(60),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..2 {
            t.failed("alice", a);
        }
        assert!(t.banned("alice", a).unwrap().is_none());
        t.failed("alice", a);
        assert!(
            t.banned("alice", b).unwrap().is_some(),
            "the name is banned from anywhere"
        );
        assert!(
            t.banned("bob", a).unwrap().is_some(),
            "the address is banned for any name"
        );
        assert!(t.banned("bob", b).unwrap().is_none());
    }
}
