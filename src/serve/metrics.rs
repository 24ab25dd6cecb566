//! `GET /metrics` in the Prometheus text format: requests by route and status, logins by
//! outcome, throttled attempts, the hashing queue's depth, and a verification latency
//! histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the verification latency buckets, in seconds.
const BUCKETS: [f64; 8] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.001, 0.01, 0.1,
];

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

/// The counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    logins: [AtomicU64; 4],
    verify_buckets: [AtomicU64; BUCKETS.len()],
    verify_count: AtomicU64,
    verify_nanos: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route, status))
            .or_default() += 1;
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
    pub fn render(&self, queue_depth: usize) -> String {
        let mut s = String::new();
        s.push_str("# HELP jwtauth_http_requests_total Requests answered, by route and status.\n# TYPE jwtauth_http_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
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
