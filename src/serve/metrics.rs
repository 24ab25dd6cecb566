//! `GET /metrics` in the Prometheus text format: requests by route and status, logins by
//! outcome, throttled attempts, the hashing queue's depth, and a verification latency
//! histogram.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the verification latency buckets, in seconds.
const BUCKETS: [f64; 8] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.001, 0.01, 0.1,
];

/// The routes as metrics labels, `other` last: a fixed set, so a scan of made-up paths adds
/// no series.
pub const ROUTES: [&str; 16] = [
    "/auth",
    "/auth/forward",
    "/login",
    "/account",
    "/token",
    "/protected",
    "/userinfo",
    "/logout",
    "/revoke",
    "/introspect",
    "/.well-known/jwks.json",
    "/.well-known/oauth-authorization-server",
    "/openapi.json",
    "/healthz",
    "/metrics",
    "other",
];

/// The status codes counted: every code `http::StatusCode` can hold, 100–999.
const STATUS_MIN: usize = 100;
const STATUSES: usize = 900;

/// Login outcomes.
#[derive(Debug, Clone, Copy)]
pub enum Login {
    /// A token was issued.
    Success,
    /// Unknown user, wrong password or disabled user.
    Refused,
    /// Too many failures: refused without a password check.
    Throttled,
    /// The hashing queue was full.
    Busy,
}

/// The counters: atomics only, so the worker threads never wait for each other here (a
/// mutex-guarded map was a contended lock on every request; issue 15).
pub struct Metrics {
    /// Per route (index in `ROUTES`) and status.
    requests: Box<[AtomicU64]>,
    logins: [AtomicU64; 4],
    verify_buckets: [AtomicU64; BUCKETS.len()],
    verify_count: AtomicU64,
    verify_nanos: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..ROUTES.len() * STATUSES)
                .map(|_| AtomicU64::new(0))
                .collect(),
            logins: Default::default(),
            verify_buckets: Default::default(),
            verify_count: AtomicU64::default(),
            verify_nanos: AtomicU64::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered request (`route` one of `ROUTES`; anything else counts as `other`).
    pub fn request(&self, route: &'static str, status: u16) {
        let r = ROUTES
            .iter()
            .position(|x| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        let s = usize::from(status)
            .saturating_sub(STATUS_MIN)
            .min(STATUSES - 1);
        self.requests[r * STATUSES + s].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a login outcome.
    pub fn login(&self, outcome: Login) {
        self.logins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long one verification took.
    pub fn verified(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.verify_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.verify_count.fetch_add(1, Ordering::Relaxed);
        self.verify_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self, queue_depth: usize, running: usize) -> String {
        let mut s = String::new();
        s.push_str("# HELP jwtauth_http_requests_total Requests answered, by route and status.\n# TYPE jwtauth_http_requests_total counter\n");
        // In label order, as the map this replaced printed them.
        let mut counted: Vec<(&str, usize, u64)> = self
            .requests
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| (ROUTES[i / STATUSES], STATUS_MIN + i % STATUSES, n))
            })
            .collect();
        counted.sort_unstable();
        for (route, status, n) in counted {
            let _ = writeln!(
                s,
                "jwtauth_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        s.push_str("# HELP jwtauth_logins_total Login attempts, by outcome.\n# TYPE jwtauth_logins_total counter\n");
        for (i, name) in ["success", "refused", "throttled", "busy"]
            .iter()
            .enumerate()
        {
            let _ = writeln!(
                s,
                "jwtauth_logins_total{{outcome=\"{name}\"}} {}",
                self.logins[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP jwtauth_login_throttled_total Login attempts refused by the throttle.\n# TYPE jwtauth_login_throttled_total counter\njwtauth_login_throttled_total {}",
            self.logins[Login::Throttled as usize].load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP jwtauth_hash_queue_depth Password checks waiting for a hashing thread.\n# TYPE jwtauth_hash_queue_depth gauge\njwtauth_hash_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            s,
            "# HELP jwtauth_hash_running Password checks running on a hashing thread.\n# TYPE jwtauth_hash_running gauge\njwtauth_hash_running {running}"
        );
        s.push_str("# HELP jwtauth_verify_seconds Time to verify a token.\n# TYPE jwtauth_verify_seconds histogram\n");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "jwtauth_verify_seconds_bucket{{le=\"{le}\"}} {}",
                self.verify_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.verify_count.load(Ordering::Relaxed);
        let _ = writeln!(s, "jwtauth_verify_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "jwtauth_verify_seconds_sum {}",
            self.verify_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "jwtauth_verify_seconds_count {count}");
        s
    }
}
