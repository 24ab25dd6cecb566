//! The Redis connection every Redis store shares (SPEC §10): a location given as a `redis://`
//! or `rediss://` URL, the password from the URL or `JWTAUTH_REDIS_PASSWORD` (read by the front
//! end, never from the command line), the key prefix, and a small pool of synchronous
//! connections, each with `redis_timeout` as its connect, read and write timeout. Nothing
//! connects until the first command, so opening a store costs nothing.
//!
//! Every failure to reach Redis is a [`StoreError::Remote`]: the caller fails closed (exit 8,
//! HTTP 503), never a pass. A pooled connection that turns out dead (Redis restarted) is
//! replaced once at once, so the first request after Redis is back works.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{Error, Result, StoreError};

/// How to reach Redis, beyond the URL: from config `redis_prefix`, `redis_timeout` and the
/// environment's `JWTAUTH_REDIS_PASSWORD`.
#[derive(Clone)]
pub struct RedisOptions {
    /// The prefix of every key (`jwtauth:`).
    pub prefix: String,
    /// Connect, read and write timeout (2 s).
    pub timeout: Duration,
    /// A password for a URL that has none (`JWTAUTH_REDIS_PASSWORD`).
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "jwtauth:".to_string(),
            timeout: Duration::from_secs(2),
            password: None,
        }
    }
}

/// The URL, if `location` is a Redis URL rather than a path.
pub fn url_of(location: &Path) -> Option<&str> {
    let s = location.to_str()?;
    (s.starts_with("redis://") || s.starts_with("rediss://")).then_some(s)
}

/// Whether `location` looks like a Redis URL typed wrong (`redis:/h`, `redis//h`, `rediss:h`,
/// `Redis://h`): `redis` or `rediss` in any case followed by `:` or `//`, yet not a
/// `redis://` or `rediss://` URL. Taking such a value as a file name would quietly put the
/// users or the revocations in a local file instead of the shared store (SPEC §15).
/// `redis/users.json` (a directory named `redis`) stays a path.
pub fn looks_mistyped(location: &Path) -> bool {
    let s = location.to_string_lossy();
    if s.starts_with("redis://") || s.starts_with("rediss://") {
        return false;
    }
    let Some(head) = s.get(..5).filter(|h| h.eq_ignore_ascii_case("redis")) else {
        return false;
    };
    let mut rest = &s[head.len()..];
    if let Some(r) = rest.strip_prefix(['s', 'S']) {
        rest = r;
    }
    rest.starts_with(':') || rest.starts_with("//")
}

/// Refuses a location that [`looks_mistyped`], naming it as `what` with any password shown
/// as `***`.
///
/// # Errors
/// A usage error (`Error::Invalid`).
pub fn refuse_mistyped(what: &str, location: &Path) -> Result<()> {
    if !looks_mistyped(location) {
        return Ok(());
    }
    Err(Error::invalid(
        format!("{what} {}", mask_mistyped(&location.to_string_lossy())),
        "looks like a mistyped Redis URL: a Redis URL starts with redis:// or rediss:// (lower case); for a file of that name, start the path with ./",
    ))
}

/// A mistyped URL (which the URL parser cannot read) with the user information before its
/// last `@` hidden: `user:***` when it has a user name, else `***`.
fn mask_mistyped(s: &str) -> String {
    let Some((before, host)) = s.rsplit_once('@') else {
        return s.to_string();
    };
    // The scheme as typed (`redis`, `rediss`, then any `:` and `/`), then the user information.
    let scheme_len = before
        .char_indices()
        .skip(5)
        .find(|&(i, c)| !(c == ':' || c == '/' || (i == 5 && c.eq_ignore_ascii_case(&'s'))))
        .map_or(before.len(), |(i, _)| i);
    let (scheme, userinfo) = before.split_at(scheme_len);
    let hidden = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{scheme}{hidden}@{host}")
}

/// Whether a Redis URL carries a password (which must never come from the command line).
pub fn has_password(url: &str) -> bool {
    redis::parse_redis_url(url).is_some_and(|u| u.password().is_some_and(|p| !p.is_empty()))
}

/// A location for messages and `paths`: a path as it is, a URL with its password hidden.
pub fn display(location: &Path) -> String {
    match url_of(location) {
        Some(url) => redact(url),
        None => location.display().to_string(),
    }
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        None => url.split('@').next_back().unwrap_or_default().to_string(),
    }
}

/// Idle connections kept for reuse.
const POOL: usize = 16;

/// A Redis server and the connections to it.
pub struct Redis {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    /// The prefix of every key.
    pub prefix: String,
    timeout: Duration,
    location: String,
}

impl Redis {
    /// A handle on the server at `url` (nothing is connected yet).
    ///
    /// # Errors
    /// A configuration error for a URL the client cannot use.
    pub fn open(url: &str, opts: &RedisOptions) -> Result<Self> {
        let location = redact(url);
        let bad = |e: redis::RedisError| {
            Error::config(
                &location,
                format!(
                    "not a usable Redis URL ({e}); expected redis://[:password@]host[:port][/db] or rediss://…"
                ),
            )
        };
        let mut info = redis::IntoConnectionInfo::into_connection_info(url).map_err(bad)?;
        // No `CLIENT SETINFO` on connect: one command less for every one-shot command.
        let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
        if settings.password().is_none()
            && let Some(pw) = &opts.password
        {
            settings = settings.set_password(pw.as_str());
        }
        info = info.set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(bad)?;
        Ok(Redis {
            client,
            idle: Mutex::new(Vec::new()),
            prefix: opts.prefix.clone(),
            timeout: opts.timeout,
            location,
        })
    }

    /// The URL without its password, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// `prefix` + `parts`.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push_str(p);
        }
        k
    }

    /// A new connection. The command that follows gets what is left of `redis_timeout`, so
    /// connecting and answering together never take longer; pooled connections get the whole
    /// timeout back.
    fn connect(&self, started: Instant) -> redis::RedisResult<redis::Connection> {
        let con = self.client.get_connection_with_timeout(self.timeout)?;
        let left = self
            .timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        con.set_read_timeout(Some(left))?;
        con.set_write_timeout(Some(left))?;
        Ok(con)
    }

    /// Runs `f` on a connection (a pooled one, else a new one). A pooled connection that
    /// fails with a dropped connection is replaced by a new one and `f` runs again: that
    /// command never reached the server (it was restarted or the connection idled out).
    ///
    /// # Errors
    /// `StoreError::Remote` when Redis cannot be reached or answers with an error.
    pub fn with<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (mut con, mut fresh) = match pooled {
            Some(c) => (c, false),
            None => (self.connect(started).map_err(|e| self.error(&e))?, true),
        };
        let out = match f(&mut con) {
            Err(e) if !fresh && (e.is_connection_dropped() || e.is_connection_refusal()) => {
                con = self.connect(started).map_err(|e| self.error(&e))?;
                fresh = true;
                f(&mut con)
            }
            other => other,
        };
        match out {
            Ok(v) => {
                if fresh
                    && (con.set_read_timeout(Some(self.timeout)).is_err()
                        || con.set_write_timeout(Some(self.timeout)).is_err())
                {
                    return Ok(v);
                }
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < POOL {
                    idle.push(con);
                }
                Ok(v)
            }
            // A failed connection may be half-way through a reply: never reuse it.
            Err(e) => Err(self.error(&e)),
        }
    }

    /// The error for a failed command.
    pub fn error(&self, e: &redis::RedisError) -> Error {
        let why = if e.is_timeout() {
            format!(
                "no answer within redis_timeout ({}s); failing closed",
                self.timeout.as_secs_f64()
            )
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            format!("unreachable ({e}); failing closed")
        } else {
            e.to_string()
        };
        Error::Store(StoreError::Remote {
            location: self.location.clone(),
            why,
        })
    }

    /// A value in Redis that this version cannot read.
    pub fn corrupt(&self, key: &str, why: impl std::fmt::Display) -> Error {
        Error::Store(StoreError::Remote {
            location: format!("{} key {key:?}", self.location),
            why: format!("unreadable record: {why}"),
        })
    }
}

/// A throwaway `redis-server` for the in-crate tests of the Redis stores.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    /// A redis-server on a free loopback port, killed on drop.
    pub struct Server(std::process::Child);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts one (with its port), or `None` when redis-server is not installed and
    /// `JWTAUTH_NO_SKIP` is unset (with `JWTAUTH_NO_SKIP`, a missing server fails the test).
    pub fn server() -> Option<(Server, u16)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            assert!(
                std::env::var_os("JWTAUTH_NO_SKIP").is_none(),
                "redis-server is not installed"
            );
            eprintln!("SKIPPED: redis-server is not installed (Debian package redis-server)");
            return None;
        };
        let out = child.stdout.take()?;
        let server = Server(child);
        for line in BufReader::new(out).lines() {
            if line.ok()?.contains("Ready to accept connections") {
                return Some((server, port));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_redis_urls_are_told_from_urls_and_paths() {
        for typo in [
            "redis:/h",
            "redis//h",
            "rediss:h",
            "redis:h",
            "Redis://h",
            "REDISS://h:6379/0",
            "redis:",
            "rediss//h",
        ] {
            assert!(looks_mistyped(Path::new(typo)), "{typo}");
        }
        for fine in [
            "redis://h",
            "rediss://h:6380/1",
            "redis/users.json",
            "redis.json",
            "rediscache:x",
            "./redis:/h",
            "/var/lib/redis:/x",
            "users.json",
        ] {
            assert!(!looks_mistyped(Path::new(fine)), "{fine}");
        }
    }

    #[test]
    fn a_mistyped_url_is_named_without_its_password() {
        let e = refuse_mistyped("--users", Path::new("redis:/:Secret@h:6379/0"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--users redis:/:***@h:6379/0: "), "{e}");
        let e = refuse_mistyped("--state", Path::new("Rediss://u:Secret@h"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--state Rediss://u:***@h: "), "{e}");
        assert_eq!(mask_mistyped("redis:h"), "redis:h");
        assert!(refuse_mistyped("--users", Path::new("redis://h")).is_ok());
    }
}
