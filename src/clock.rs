//! Time as a dependency (rustls' `TimeProvider`): a long-running process asks a [`Clock`] for
//! every decision instead of keeping the time it started at; tests pass a [`FixedClock`].
//! Also the one formatter of times in messages.

/// Where "now" comes from. A front end makes the one real clock at start-up and hands it on
/// (`Arc<dyn Clock>`); every decision below asks it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in unix seconds.
    fn now(&self) -> i64;

    /// Waits until [`Clock::now`] is at least `t`: the system clock sleeps, a fixed clock
    /// moves forward. The one place the core waits for time to pass.
    fn sleep_until(&self, t: i64);
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        jiff::Timestamp::now().as_second()
    }

    fn sleep_until(&self, t: i64) {
        // One sleep to the start of second `t`; a second one only if the system woke early.
        for _ in 0..2 {
            let now = jiff::Timestamp::now();
            let left = jiff::Timestamp::from_second(t)
                .ok()
                .and_then(|at| at.duration_since(now).try_into().ok())
                .unwrap_or(std::time::Duration::ZERO);
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left);
        }
    }
}

/// A clock that says the same time until told to wait: then it moves to that time at once.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    /// A clock standing at `t`.
    pub fn new(t: i64) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(t))
    }

    /// Moves the clock `secs` forward (a window passing, in a test).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn sleep_until(&self, t: i64) {
        self.0.fetch_max(t, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A unix time as UTC RFC 3339 (`2026-11-26T17:47:19Z`), or the number when out of range.
pub fn utc(t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts.to_string(),
        Err(_) => t.to_string(),
    }
}

/// A span of seconds as a short human phrase: `45s`, `14m`, `3h`, `2d`.
pub fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `t` relative to `now`: `in 14m`, `3h ago`, `now`.
pub fn relative(t: i64, now: i64) -> String {
    match t.cmp(&now) {
        std::cmp::Ordering::Equal => "now".to_string(),
        std::cmp::Ordering::Greater => format!("in {}", span(t.saturating_sub(now))),
        std::cmp::Ordering::Less => format!("{} ago", span(now.saturating_sub(t))),
    }
}
