//! Brute-force protection (RFC 6749 §4.3.2, SPEC §9): failed logins are counted per username
//! (whether or not it exists) and per client address; past the limit within the window, that
//! username or address is refused for the ban time without a password check. In memory, for
//! one process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ThrottleOptions;

#[derive(Debug, Default)]
struct Record {
    /// Failure times within the window, oldest first.
    failures: Vec<Instant>,
    banned_until: Option<Instant>,
}

/// The counters.
pub struct Throttle {
    opts: ThrottleOptions,
    names: Mutex<HashMap<String, Record>>,
    addrs: Mutex<HashMap<IpAddr, Record>>,
}

/// Entries kept before old ones are swept, so a flood of made-up names cannot grow memory
/// without bound.
const SWEEP_AT: usize = 100_000;

impl Throttle {
    /// Empty counters.
    pub fn new(opts: ThrottleOptions) -> Self {
        Throttle {
            opts,
            names: Mutex::default(),
            addrs: Mutex::default(),
        }
    }

    /// How long `name` or `addr` is still banned, if either is.
    pub fn banned(&self, name: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let left = |r: Option<&Record>| {
            r.and_then(|r| r.banned_until)
                .and_then(|t| t.checked_duration_since(now))
                .filter(|d| !d.is_zero())
        };
        let a = left(lock(&self.names).get(name));
        let b = left(lock(&self.addrs).get(&addr));
        a.max(b)
    }

    /// Counts a failed login.
    pub fn failed(&self, name: &str, addr: IpAddr) {
        let now = Instant::now();
        self.count(&mut lock(&self.names), name.to_string(), now);
        self.count(&mut lock(&self.addrs), addr, now);
    }

    fn count<K: std::hash::Hash + Eq>(&self, map: &mut HashMap<K, Record>, key: K, now: Instant) {
        if map.len() >= SWEEP_AT {
            let window = self.opts.window.max(self.opts.ban);
            map.retain(|_, r| {
                r.failures
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < window)
                    || r.banned_until.is_some_and(|t| t > now)
            });
        }
        let r = map.entry(key).or_default();
        r.failures
            .retain(|t| now.duration_since(*t) < self.opts.window);
        r.failures.push(now);
        if r.failures.len() >= self.opts.max_failures as usize {
            r.banned_until = Some(now + self.opts.ban);
            r.failures.clear();
        }
    }
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
        assert!(t.banned("alice", a).is_none());
        t.failed("alice", a);
        assert!(
            t.banned("alice", b).is_some(),
            "the name is banned from anywhere"
        );
        assert!(
            t.banned("bob", a).is_some(),
            "the address is banned for any name"
        );
        assert!(t.banned("bob", b).is_none());
    }
}
