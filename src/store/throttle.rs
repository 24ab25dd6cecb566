//! The login throttle (SPEC §15, replacing §9's per-username ban) as a store: the counters
//! every password check goes through, in memory for one `serve` ([`MemoryThrottle`]) or in
//! Redis for every instance together ([`super::redis_throttle::RedisThrottle`]). Both apply
//! the same rules, each atomically (a mutex; one Lua script), and take the time from the
//! caller (no clock inside the rules):
//!
//! - A check is counted when it **starts** ([`ThrottleStore::begin`]) and refunded when the
//!   password was right ([`ThrottleStore::end`] with `ok`), so a burst of parallel guesses gets
//!   at most `max_failures` checks per (username, client) and per client, however many arrive
//!   at once. When a failure brings one of those counts to `max_failures` within `window`, it
//!   is banned for `ban`.
//! - Across all clients, a username that has reached `max_failures` checks within `window`
//!   gets at most `user_rate` checks per minute, until a window passes without a failure.
//! - A check carrying a valid device cookie for the username (its nonce, see
//!   `serve::throttle`) is exempt from the username rule, not from the per-client ones; the
//!   cookie stops counting after `max_failures` failures of its own.
//!
//! The client is [`client_key`]: the address, an IPv6 one as its /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::error::Result;

/// The period of `user_rate` (checks per minute), in seconds.
pub const RATE_PERIOD: i64 = 60;
/// How long a device cookie lives (its `Max-Age`), and so how long its failures are kept.
pub const DEVICE_LIFETIME: i64 = 180 * 86_400;

/// The limits, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Checks (pending or failed) allowed within `window`.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: i64,
    /// How long a ban lasts.
    pub ban: i64,
    /// Checks per minute for a username under attack, from all clients together.
    pub user_rate: u32,
}

/// One password check, as the throttle sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The username (normalized), whether or not it exists.
    pub name: String,
    /// The client, as [`client_key`] gives it.
    pub client: String,
    /// The nonce of a device cookie already checked valid for `name`.
    pub device: Option<String>,
    /// Unique among the checks in flight (random: instances share a Redis).
    pub id: u64,
}

/// The counters of [`ThrottleRules`].
pub trait ThrottleStore: Send + Sync {
    /// Counts a check that starts at `now`: `None` when it may go on, or the seconds (≥ 1) to
    /// wait, when it must not (nothing is counted then).
    ///
    /// # Errors
    /// A store error: the caller fails closed (no password check).
    fn begin(&self, a: &Attempt, now: i64) -> Result<Option<u64>>;

    /// Ends a check that `begin` let go: `ok` refunds it (the password was right, or no check
    /// was made after all); otherwise it stays counted as a failure, which may ban the client
    /// and put the username under its rate.
    ///
    /// # Errors
    /// A store error.
    fn end(&self, a: &Attempt, ok: bool, now: i64) -> Result<()>;
}

/// The throttle's key for a client address: IPv4 (and IPv4-mapped IPv6) as it is, IPv6 as its
/// /64 (one subscriber's network: counting its addresses one by one would give it 2^64 tries).
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// Checks counted for one client or one (username, client): `(start, id)`, oldest first.
#[derive(Debug, Default)]
struct Counter {
    checks: Vec<(i64, u64)>,
    banned_until: i64,
}

impl Counter {
    fn prune(&mut self, since: i64) {
        self.checks.retain(|(t, _)| *t > since);
    }

    fn refusal(&self, now: i64, r: &ThrottleRules) -> Option<u64> {
        if self.banned_until > now {
            return Some(secs(self.banned_until - now));
        }
        if self.checks.len() >= r.max_failures as usize {
            let oldest = self.checks.first().map_or(now, |c| c.0);
            return Some(secs(oldest + r.window - now));
        }
        None
    }

    fn failed(&mut self, now: i64, r: &ThrottleRules) {
        self.prune(now - r.window);
        if self.checks.len() >= r.max_failures as usize {
            self.banned_until = now + r.ban;
            self.checks.clear();
        }
    }

    fn idle(&self, now: i64, r: &ThrottleRules) -> bool {
        self.banned_until <= now && self.checks.iter().all(|c| c.0 <= now - r.window)
    }
}

/// A username's counters across clients.
#[derive(Debug, Default)]
struct Name {
    /// Checks within the window (refunded on success).
    checks: Vec<(i64, u64)>,
    /// Checks within the last minute.
    recent: Vec<(i64, u64)>,
    /// Under the rate until then (a window after its last failure).
    attacked_until: i64,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<String, Counter>,
    pairs: HashMap<(String, String), Counter>,
    names: HashMap<String, Name>,
    /// Device nonce → its checks (failed or pending) within its lifetime.
    devices: HashMap<String, Vec<(i64, u64)>>,
}

/// Entries kept before idle ones are swept, so a flood of made-up names cannot grow memory
/// without bound.
const SWEEP_AT: usize = 100_000;

/// The counters in memory, for one process.
#[derive(Debug)]
pub struct MemoryThrottle {
    rules: ThrottleRules,
    state: Mutex<State>,
}

impl MemoryThrottle {
    /// Empty counters.
    pub fn new(rules: ThrottleRules) -> Self {
        MemoryThrottle {
            rules,
            state: Mutex::default(),
        }
    }
}

fn secs(s: i64) -> u64 {
    u64::try_from(s).unwrap_or(0).max(1)
}

fn remove(v: &mut Vec<(i64, u64)>, id: u64) {
    v.retain(|c| c.1 != id);
}

impl State {
    fn sweep(&mut self, now: i64, r: &ThrottleRules) {
        if self.clients.len() >= SWEEP_AT {
            self.clients.retain(|_, c| !c.idle(now, r));
        }
        if self.pairs.len() >= SWEEP_AT {
            self.pairs.retain(|_, c| !c.idle(now, r));
        }
        if self.names.len() >= SWEEP_AT {
            self.names.retain(|_, n| {
                n.attacked_until > now || n.checks.iter().any(|c| c.0 > now - r.window)
            });
        }
        if self.devices.len() >= SWEEP_AT {
            self.devices
                .retain(|_, d| d.iter().any(|c| c.0 > now - DEVICE_LIFETIME));
        }
    }
}

impl ThrottleStore for MemoryThrottle {
    fn begin(&self, a: &Attempt, now: i64) -> Result<Option<u64>> {
        let r = &self.rules;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.sweep(now, r);
        let st = &mut *st;
        let client = st.clients.entry(a.client.clone()).or_default();
        client.prune(now - r.window);
        if let Some(wait) = client.refusal(now, r) {
            return Ok(Some(wait));
        }
        let pair = st
            .pairs
            .entry((a.name.clone(), a.client.clone()))
            .or_default();
        pair.prune(now - r.window);
        if let Some(wait) = pair.refusal(now, r) {
            return Ok(Some(wait));
        }
        let device = a.device.as_ref().and_then(|nonce| {
            let d = st.devices.entry(nonce.clone()).or_default();
            d.retain(|c| c.0 > now - DEVICE_LIFETIME);
            (d.len() < r.max_failures as usize).then_some(d)
        });
        if let Some(d) = device {
            d.push((now, a.id));
        } else {
            let n = st.names.entry(a.name.clone()).or_default();
            n.checks.retain(|c| c.0 > now - r.window);
            n.recent.retain(|c| c.0 > now - RATE_PERIOD);
            let attacked = n.attacked_until > now || n.checks.len() >= r.max_failures as usize;
            if attacked && n.recent.len() >= r.user_rate as usize {
                let oldest = n.recent.first().map_or(now, |c| c.0);
                return Ok(Some(secs(oldest + RATE_PERIOD - now)));
            }
            n.checks.push((now, a.id));
            n.recent.push((now, a.id));
        }
        if let Some(c) = st.clients.get_mut(&a.client) {
            c.checks.push((now, a.id));
        }
        if let Some(p) = st.pairs.get_mut(&(a.name.clone(), a.client.clone())) {
            p.checks.push((now, a.id));
        }
        Ok(None)
    }

    fn end(&self, a: &Attempt, ok: bool, now: i64) -> Result<()> {
        let r = &self.rules;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let pair_key = (a.name.clone(), a.client.clone());
        if ok {
            if let Some(c) = st.clients.get_mut(&a.client) {
                remove(&mut c.checks, a.id);
            }
            if let Some(p) = st.pairs.get_mut(&pair_key) {
                remove(&mut p.checks, a.id);
            }
            if let Some(n) = st.names.get_mut(&a.name) {
                remove(&mut n.checks, a.id);
                remove(&mut n.recent, a.id);
            }
            if let Some(nonce) = &a.device
                && let Some(d) = st.devices.get_mut(nonce)
            {
                remove(d, a.id);
            }
            return Ok(());
        }
        if let Some(c) = st.clients.get_mut(&a.client) {
            c.failed(now, r);
        }
        if let Some(p) = st.pairs.get_mut(&pair_key) {
            p.failed(now, r);
        }
        if let Some(n) = st.names.get_mut(&a.name)
            && n.checks.iter().any(|c| c.1 == a.id)
        {
            n.checks.retain(|c| c.0 > now - r.window);
            if n.attacked_until > now || n.checks.len() >= r.max_failures as usize {
                n.attacked_until = now + r.window;
            }
        }
        Ok(())
    }
}

/// The rules every [`ThrottleStore`] must follow, run against a fresh store made by `make`
/// (the memory one here, the Redis one in its module's tests).
#[cfg(test)]
pub(crate) mod rules {
    use super::*;

    pub const RULES: ThrottleRules = ThrottleRules {
        max_failures: 3,
        window: 300,
        ban: 120,
        user_rate: 4,
    };

    pub struct Fx<'s> {
        pub s: &'s dyn ThrottleStore,
        next: std::cell::Cell<u64>,
    }

    impl<'s> Fx<'s> {
        pub fn new(s: &'s dyn ThrottleStore) -> Self {
            Fx {
                s,
                next: std::cell::Cell::new(1),
            }
        }
        pub fn attempt(&self, name: &str, client: &str, device: Option<&str>) -> Attempt {
            let id = self.next.get();
            self.next.set(id + 1);
            Attempt {
                name: name.into(),
                client: client.into(),
                device: device.map(Into::into),
                id,
            }
        }
        /// Begins and ends one check: `Ok(())` if it ran, `Err(wait)` if refused.
        pub fn check(
            &self,
            name: &str,
            client: &str,
            device: Option<&str>,
            ok: bool,
            now: i64,
        ) -> std::result::Result<(), u64> {
            let a = self.attempt(name, client, device);
            match self.s.begin(&a, now).unwrap() {
                Some(w) => Err(w),
                None => {
                    self.s.end(&a, ok, now).unwrap();
                    Ok(())
                }
            }
        }
    }

    pub const RATE2: ThrottleRules = ThrottleRules {
        user_rate: 2,
        ..RULES
    };

    pub fn all(make: &dyn Fn(ThrottleRules) -> Box<dyn ThrottleStore>) {
        burst_is_capped_per_client_and_pair(&*make(RULES));
        failures_ban_the_client_for_ban_time(&*make(RULES));
        successes_are_refunded(&*make(RULES));
        window_forgets_old_failures(&*make(RULES));
        user_rate_across_clients(&*make(RATE2));
        device_is_exempt_from_the_username_rule_only(&*make(RULES));
        device_stops_counting_after_its_own_failures(&*make(RULES));
    }

    pub fn burst_is_capped_per_client_and_pair(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        // 60 checks start before any ends: 3 go.
        let started: Vec<Attempt> = (0..60)
            .map(|_| fx.attempt("alice", "10.0.0.1", None))
            .collect();
        let went: Vec<&Attempt> = started
            .iter()
            .filter(|a| s.begin(a, 1000).unwrap().is_none())
            .collect();
        assert_eq!(went.len(), 3);
        for a in went {
            s.end(a, false, 1001).unwrap();
        }
        // Banned now, for other names too, with the ban time.
        assert_eq!(fx.check("bob", "10.0.0.1", None, true, 1002), Err(119));
        // Another client is not.
        assert_eq!(fx.check("bob", "10.0.0.2", None, true, 1002), Ok(()));
        // After the ban, it may try again.
        assert_eq!(fx.check("bob", "10.0.0.1", None, true, 1121), Ok(()));
    }

    pub fn failures_ban_the_client_for_ban_time(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        for n in 0..3 {
            assert_eq!(
                fx.check(&format!("u{n}"), "10.0.0.1", None, false, 1000 + n),
                Ok(())
            );
        }
        assert_eq!(fx.check("x", "10.0.0.1", None, true, 1002), Err(120));
        assert_eq!(fx.check("x", "10.0.0.1", None, true, 1121), Err(1));
        assert_eq!(fx.check("x", "10.0.0.1", None, true, 1122), Ok(()));
    }

    pub fn successes_are_refunded(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        for t in 0..20 {
            assert_eq!(fx.check("alice", "10.0.0.1", None, true, 1000 + t), Ok(()));
        }
        // Two failures and a success leave room for exactly one more failure.
        assert_eq!(fx.check("alice", "10.0.0.1", None, false, 1100), Ok(()));
        assert_eq!(fx.check("alice", "10.0.0.1", None, false, 1101), Ok(()));
        assert_eq!(fx.check("alice", "10.0.0.1", None, true, 1102), Ok(()));
        assert_eq!(fx.check("alice", "10.0.0.1", None, false, 1103), Ok(()));
        assert!(fx.check("alice", "10.0.0.1", None, true, 1104).is_err());
    }

    pub fn window_forgets_old_failures(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        assert_eq!(fx.check("a", "10.0.0.1", None, false, 1000), Ok(()));
        assert_eq!(fx.check("b", "10.0.0.1", None, false, 1100), Ok(()));
        // The first failure is out of the window at 1300: two count, no ban.
        assert_eq!(fx.check("c", "10.0.0.1", None, false, 1300), Ok(()));
        assert_eq!(fx.check("d", "10.0.0.1", None, true, 1301), Ok(()));
        // Two pending checks count like failures: a third is let in, a fourth not.
        let a = fx.attempt("e", "10.0.0.1", None);
        assert_eq!(s.begin(&a, 1302).unwrap(), None);
        let b = fx.attempt("f", "10.0.0.1", None);
        assert!(s.begin(&b, 1302).unwrap().is_some());
        s.end(&a, true, 1303).unwrap();
        assert_eq!(fx.check("g", "10.0.0.1", None, true, 1303), Ok(()));
    }

    pub fn user_rate_across_clients(s: &dyn ThrottleStore) {
        // Made with RATE2: max_failures 3, user_rate 2.
        let fx = Fx::new(s);
        // Three failures, each from another client: the third puts the name under the rate.
        for c in 1..=3 {
            assert_eq!(
                fx.check("alice", &format!("10.0.1.{c}"), None, false, 1000),
                Ok(())
            );
        }
        // The right password from a fresh client waits for the minute to pass; others don't.
        assert_eq!(fx.check("alice", "10.0.1.5", None, true, 1001), Err(59));
        assert_eq!(fx.check("bob", "10.0.1.5", None, true, 1001), Ok(()));
        assert_eq!(fx.check("alice", "10.0.1.6", None, false, 1061), Ok(()));
        assert_eq!(fx.check("alice", "10.0.1.7", None, false, 1061), Ok(()));
        assert_eq!(fx.check("alice", "10.0.1.8", None, false, 1061), Err(60));
        // Still under it a window after the last failure less a second...
        let a = fx.attempt("alice", "10.0.2.1", None);
        let b = fx.attempt("alice", "10.0.2.2", None);
        assert_eq!(s.begin(&a, 1360).unwrap(), None);
        assert_eq!(s.begin(&b, 1360).unwrap(), None);
        assert!(fx.check("alice", "10.0.2.3", None, false, 1360).is_err());
        s.end(&a, true, 1360).unwrap();
        s.end(&b, true, 1360).unwrap();
        // ...and no longer once a whole window passed without one.
        for c in 1..=3 {
            assert_eq!(
                fx.check("alice", &format!("10.0.3.{c}"), None, false, 1361),
                Ok(())
            );
        }
    }

    pub fn device_is_exempt_from_the_username_rule_only(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        for c in 0..4 {
            let _ = fx.check("alice", &format!("10.0.1.{c}"), None, false, 1000);
        }
        assert!(fx.check("alice", "10.0.9.9", None, true, 1001).is_err());
        // The owner's device goes through, and does not use up the rate.
        assert_eq!(
            fx.check("alice", "10.0.9.9", Some("n1"), true, 1001),
            Ok(())
        );
        assert_eq!(
            fx.check("alice", "10.0.9.9", Some("n1"), true, 1001),
            Ok(())
        );
        // Not the per-client limits: a banned client stays banned with a device.
        for n in 0..3 {
            let _ = fx.check(&format!("x{n}"), "10.0.7.7", None, false, 1002);
        }
        assert!(
            fx.check("alice", "10.0.7.7", Some("n1"), true, 1003)
                .is_err()
        );
    }

    pub fn device_stops_counting_after_its_own_failures(s: &dyn ThrottleStore) {
        let fx = Fx::new(s);
        for c in 0..4 {
            let _ = fx.check("alice", &format!("10.0.1.{c}"), None, false, 1000);
        }
        // Three failures with the device, each from another client.
        for c in 0..3 {
            assert_eq!(
                fx.check("alice", &format!("10.0.5.{c}"), Some("n2"), false, 1001),
                Ok(())
            );
        }
        // Spent: the username's rate applies again.
        assert!(
            fx.check("alice", "10.0.6.1", Some("n2"), true, 1002)
                .is_err()
        );
        // Another device of the owner's is still good.
        assert_eq!(
            fx.check("alice", "10.0.6.1", Some("n3"), true, 1002),
            Ok(())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_follows_the_rules() {
        rules::all(&|r| Box::new(MemoryThrottle::new(r)));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let k = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(k("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
        assert_ne!(k("2001:db8:1:3::1"), k("2001:db8:1:2::1"));
        assert_eq!(k("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(k("192.0.2.1"), "192.0.2.1");
        // Two addresses of one /64 share the ban.
        let s = MemoryThrottle::new(rules::RULES);
        let fx = rules::Fx::new(&s);
        for n in 0..3 {
            let c = k(&format!("2001:db8:1:2::{n}"));
            assert_eq!(fx.check("x", &c, None, false, 1000), Ok(()));
        }
        assert!(
            fx.check("y", &k("2001:db8:1:2:ffff::1"), None, true, 1001)
                .is_err()
        );
        assert_eq!(
            fx.check("y", &k("2001:db8:1:3::1"), None, true, 1001),
            Ok(())
        );
    }
}
