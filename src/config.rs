//! The configuration file of SPEC §12: `<config dir>/config.toml`, or the file named by
//! `--config FILE` / `JWTAUTH_CONFIG`. It is parsed strictly (an unknown key or a bad value is
//! a configuration error naming the file, the line, the column and the key) into a typed,
//! validated [`Config`] that remembers where each value came from. Every key has a default,
//! so the file is optional. Flags and the environment are the front ends' to read: they
//! override values with [`Config::set_source`] (a flag beats the environment, which beats the
//! file, which beats the default).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use toml::{Spanned, Value};

use crate::duration;
use crate::error::{Error, Result};
use crate::store::file::line_col;

/// The file name of the default configuration file in the config directory.
pub const CONFIG_FILE: &str = "config.toml";

/// A configuration file larger than this is refused (it is a few hundred bytes in practice).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The configuration file at this path.
    File(PathBuf),
    /// The built-in default.
    Default,
}

impl Source {
    /// The short name shown by `jwtauth config` (`flag`, `env`, `file`, `default`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::File(_) => "file",
            Source::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "file {}", p.display()),
            other => f.write_str(other.as_str()),
        }
    }
}

/// The scheme of new password hashes (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordScheme {
    /// `$2b$` bcrypt (the default, so `htpasswd` and the classic service keep working).
    #[default]
    Bcrypt,
    /// `$argon2id$` PHC strings.
    Argon2id,
}

impl PasswordScheme {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordScheme::Bcrypt => "bcrypt",
            PasswordScheme::Argon2id => "argon2id",
        }
    }
}

/// The server's request log format (SPEC §9 `--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per request.
    #[default]
    Text,
    /// One JSON object per request.
    Json,
}

impl LogFormat {
    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// An IP network (`ipnet`): an address and a prefix length. A plain address is a network of
/// one (`/32` or `/128`). Host bits may be set (`127.0.0.1/8`); they are ignored when matching
/// and kept when shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// True if `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`)
    /// matches the IPv4 networks it maps to.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }

    /// The prefix length: 0–32 for IPv4, 0–128 for IPv6.
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bad_prefix = || format!("{s:?}: the prefix length must be 0-{max}");
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would take `+8`.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad_prefix())?
            }
            Some(_) => return Err(bad_prefix()),
        };
        IpNet::new(addr, prefix).map(Cidr).map_err(|_| bad_prefix())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.addr(), self.0.prefix_len())
    }
}

/// The `[serve]` table: the HTTP service's settings (SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// `listen`: the address to listen on (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// `cookie_secure`: the session cookie's `Secure` attribute (true).
    pub cookie_secure: bool,
    /// `cookie_domain`: the session cookie's `Domain` (none: the host only).
    pub cookie_domain: Option<String>,
    /// `allowed_redirect_hosts`: hosts/domains `rd` may point to besides the server's own.
    pub allowed_redirect_hosts: Vec<String>,
    /// `trusted_proxies`: peers whose `X-Forwarded-*` headers are honoured (loopback).
    pub trusted_proxies: Vec<Cidr>,
    /// `introspection_subjects`: the `sub`s allowed to call `/introspect` (none).
    pub introspection_subjects: Vec<String>,
    /// `throttle_max_failures`: failed logins allowed within the window (5).
    pub throttle_max_failures: u32,
    /// `throttle_window`: the window failures are counted in (5m).
    pub throttle_window: Duration,
    /// `throttle_ban`: how long further attempts are refused with 429 (5m).
    pub throttle_ban: Duration,
    /// `throttle_user_rate`: checks per minute for a username being guessed, from all
    /// addresses together (10).
    pub throttle_user_rate: u32,
    /// `log_format`: `text` or `json` (text).
    pub log_format: LogFormat,
    /// `login_url`: where `/auth/forward` sends browsers: a path on the original host
    /// (`/login` when unset) or an absolute `http(s)://` URL.
    pub login_url: Option<String>,
    /// `cors_allowed_origins`: the browser origins (`https://app.example`, exact) whose
    /// scripts may call the bearer endpoints (none).
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cookie_secure: true,
            cookie_domain: None,
            allowed_redirect_hosts: Vec::new(),
            trusted_proxies: vec![
                Cidr(IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::LOCALHOST, 8))),
                Cidr(IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128))),
            ],
            introspection_subjects: Vec::new(),
            throttle_max_failures: 5,
            throttle_window: Duration::from_secs(300),
            throttle_ban: Duration::from_secs(300),
            throttle_user_rate: 10,
            log_format: LogFormat::Text,
            login_url: None,
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// The effective configuration: typed, validated, with the source of every value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The configuration file that was read, if one was.
    pub file: Option<PathBuf>,
    /// `users`: the users store (none: `<data dir>/users.json`).
    pub users: Option<PathBuf>,
    /// `state`: the revocation store (none: `<data dir>/revocations.json`).
    pub state: Option<PathBuf>,
    /// `key`: an explicit key file (none: the default files in the config directory).
    pub key: Option<PathBuf>,
    /// `ttl`: the lifetime of `login`/`mint`/`serve` tokens (15m).
    pub ttl: Duration,
    /// `issuer`: the `iss` of tokens `login` and `serve` issue (none).
    pub issuer: Option<String>,
    /// `audience`: the `aud` of tokens `login` and `serve` issue, and the one `serve` expects
    /// (none).
    pub audience: Option<String>,
    /// `password_scheme`: the scheme of new hashes (bcrypt).
    pub password_scheme: PasswordScheme,
    /// `bcrypt_cost`: 4–31 (12).
    pub bcrypt_cost: u32,
    /// `argon2_memory_kib` (19456).
    pub argon2_memory_kib: u32,
    /// `argon2_time`: iterations (2).
    pub argon2_time: u32,
    /// `argon2_lanes`: parallelism (1).
    pub argon2_lanes: u32,
    /// `rehash_on_login`: upgrade hashes on a successful login (true).
    pub rehash_on_login: bool,
    /// `allow_legacy_hashes`: accept the legacy htpasswd hashes (`$apr1$`, `{SHA}`, `$1$`,
    /// `$5$`, `$6$`) in the users store, `--hash` and `hash --check` (true; SPEC §15).
    pub allow_legacy_hashes: bool,
    /// `redis_prefix`: the prefix of every Redis key (`jwtauth:`).
    pub redis_prefix: String,
    /// `redis_timeout`: how long to wait for Redis before failing closed (2s).
    pub redis_timeout: Duration,
    /// `session_max_age`: a session's lifetime from sign-in (7d; SPEC §13).
    pub session_max_age: Duration,
    /// `session_idle`: a session ends after this long without use (1d).
    pub session_idle: Duration,
    /// `session_max_per_user`: a sign-in beyond it ends the user's least recently used
    /// session (100).
    pub session_max_per_user: u32,
    /// `refresh_reuse_grace`: within it, the refresh token spent just before is refused
    /// without ending its session (0s).
    pub refresh_reuse_grace: Duration,
    /// The `[serve]` table.
    pub serve: ServeConfig,
    /// Where each key's value came from; a key not listed is [`Source::Default`].
    sources: BTreeMap<&'static str, Source>,
}

/// Default `bcrypt_cost` (SPEC §2).
pub const DEFAULT_BCRYPT_COST: u32 = crate::passwords::DEFAULT_COST;
/// Default `ttl` (SPEC §2): 15 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

impl Default for Config {
    fn default() -> Self {
        Config {
            file: None,
            users: None,
            state: None,
            key: None,
            ttl: DEFAULT_TTL,
            issuer: None,
            audience: None,
            password_scheme: PasswordScheme::Bcrypt,
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            argon2_memory_kib: 19_456,
            argon2_time: 2,
            argon2_lanes: 1,
            rehash_on_login: true,
            allow_legacy_hashes: true,
            redis_prefix: "jwtauth:".to_string(),
            redis_timeout: Duration::from_secs(2),
            session_max_age: Duration::from_secs(crate::sessions::DEFAULT_MAX_AGE as u64),
            session_idle: Duration::from_secs(crate::sessions::DEFAULT_IDLE as u64),
            session_max_per_user: crate::sessions::DEFAULT_MAX_PER_USER as u32,
            refresh_reuse_grace: Duration::from_secs(crate::sessions::DEFAULT_REUSE_GRACE as u64),
            serve: ServeConfig::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// Every key of the file, in the order `jwtauth config` prints them; `[serve]` keys are
/// `serve.<key>`.
pub const KEYS: &[&str] = &[
    "users",
    "state",
    "key",
    "ttl",
    "issuer",
    "audience",
    "password_scheme",
    "bcrypt_cost",
    "argon2_memory_kib",
    "argon2_time",
    "argon2_lanes",
    "rehash_on_login",
    "allow_legacy_hashes",
    "redis_prefix",
    "redis_timeout",
    "session_max_age",
    "session_idle",
    "session_max_per_user",
    "refresh_reuse_grace",
    "serve.listen",
    "serve.cookie_secure",
    "serve.cookie_domain",
    "serve.allowed_redirect_hosts",
    "serve.trusted_proxies",
    "serve.introspection_subjects",
    "serve.throttle_max_failures",
    "serve.throttle_window",
    "serve.throttle_ban",
    "serve.throttle_user_rate",
    "serve.log_format",
    "serve.login_url",
    "serve.cors_allowed_origins",
];

impl Config {
    /// Reads the configuration file at `path`. A missing file is the default configuration
    /// when it is the default location (`explicit` false), and an error when it was named
    /// (`--config`, `JWTAUTH_CONFIG`).
    ///
    /// # Errors
    /// A configuration error naming the file: unreadable, missing though named, not UTF-8,
    /// not TOML, an unknown key or a bad value (with the line, column and key).
    pub fn load(path: &Path, explicit: bool) -> Result<Config> {
        let text = match std::fs::File::open(path) {
            Ok(f) => {
                use std::io::Read;
                let mut bytes = Vec::new();
                f.take(MAX_CONFIG_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| file_error(path, e))?;
                if bytes.len() as u64 > MAX_CONFIG_BYTES {
                    return Err(Error::config(
                        path.display(),
                        "the configuration file is larger than 1 MiB",
                    ));
                }
                String::from_utf8(bytes).map_err(|e| {
                    let (line, col) = line_col(e.as_bytes(), e.utf8_error().valid_up_to());
                    Error::config(
                        format!("{}:{line}:{col}", path.display()),
                        "the configuration file is not valid UTF-8",
                    )
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config::default());
            }
            Err(e) => return Err(file_error(path, e)),
        };
        Config::parse(&text, path)
    }

    /// Parses the text of a configuration file; `path` names it in errors and sources, and
    /// relative `users`/`state`/`key` paths are taken relative to its directory.
    ///
    /// # Errors
    /// A configuration error `<path>:<line>:<column>: <key>: <why>`.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let mut b = Builder {
            text,
            path,
            config: Config {
                file: Some(path.to_path_buf()),
                ..Config::default()
            },
        };
        b.build(raw)?;
        Ok(b.config)
    }

    /// The scheme and parameters of new password hashes: `password_scheme` with
    /// `bcrypt_cost` or `argon2_*` (all validated when read, within the bounds of
    /// `passwords`).
    pub fn scheme(&self) -> crate::passwords::Scheme {
        use crate::passwords::{Argon2Params, Scheme};
        match self.password_scheme {
            PasswordScheme::Bcrypt => Scheme::Bcrypt {
                cost: self.bcrypt_cost,
            },
            PasswordScheme::Argon2id => Scheme::Argon2id(Argon2Params {
                memory_kib: self.argon2_memory_kib,
                time: self.argon2_time,
                lanes: self.argon2_lanes,
            }),
        }
    }

    /// Where the value of `key` (one of [`KEYS`]) came from.
    pub fn source(&self, key: &str) -> &Source {
        self.sources.get(key).unwrap_or(&Source::Default)
    }

    /// Records where the value of `key` came from, for a front end that set it from a flag
    /// or the environment. `key` must be one of [`KEYS`].
    pub fn set_source(&mut self, key: &'static str, source: Source) {
        debug_assert!(KEYS.contains(&key), "unknown configuration key {key}");
        if source == Source::Default {
            self.sources.remove(key);
        } else {
            self.sources.insert(key, source);
        }
    }

    /// The effective value of every key, in [`KEYS`] order, as JSON (durations as strings
    /// like `15m`, absent values as `null`), for `jwtauth config`.
    pub fn values(&self) -> Vec<(&'static str, Json)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map_or(Json::Null, |p| json!(p));
        let s = &self.serve;
        let cidrs: Vec<String> = s.trusted_proxies.iter().map(Cidr::to_string).collect();
        let values = vec![
            path(&self.users),
            path(&self.state),
            path(&self.key),
            json!(format_duration(self.ttl)),
            json!(self.issuer),
            json!(self.audience),
            json!(self.password_scheme.as_str()),
            json!(self.bcrypt_cost),
            json!(self.argon2_memory_kib),
            json!(self.argon2_time),
            json!(self.argon2_lanes),
            json!(self.rehash_on_login),
            json!(self.allow_legacy_hashes),
            json!(self.redis_prefix),
            json!(format_duration(self.redis_timeout)),
            json!(format_duration(self.session_max_age)),
            json!(format_duration(self.session_idle)),
            json!(self.session_max_per_user),
            json!(format_duration(self.refresh_reuse_grace)),
            json!(s.listen.to_string()),
            json!(s.cookie_secure),
            json!(s.cookie_domain),
            json!(s.allowed_redirect_hosts),
            json!(cidrs),
            json!(s.introspection_subjects),
            json!(s.throttle_max_failures),
            json!(format_duration(s.throttle_window)),
            json!(format_duration(s.throttle_ban)),
            json!(s.throttle_user_rate),
            json!(s.log_format.as_str()),
            json!(s.login_url),
            json!(s.cors_allowed_origins),
        ];
        KEYS.iter().copied().zip(values).collect()
    }

    /// The session limits these settings configure (SPEC §13), in seconds.
    pub fn session_limits(&self) -> crate::sessions::Limits {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        crate::sessions::Limits {
            max_age: secs(self.session_max_age),
            idle: secs(self.session_idle),
            max_per_user: self.session_max_per_user as usize,
            reuse_grace: secs(self.refresh_reuse_grace),
        }
    }
}

/// A duration the way the file takes it: `20s`, `15m`, `2h`, `7d` (the largest unit that
/// divides it), or `0s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

fn file_error(path: &Path, e: std::io::Error) -> Error {
    let why = if e.kind() == std::io::ErrorKind::NotFound {
        "no such configuration file".to_string()
    } else {
        format!("cannot read the configuration file: {e}")
    };
    Error::config(path.display(), why)
}

/// A toml error (syntax, unknown key, a table where a value belongs) as one line with the
/// position and, where it can be told, the key.
fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let msg = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return Error::config(path.display(), msg);
    };
    let (line, col) = line_col(text.as_bytes(), span.start.min(text.len()));
    let msg = if let Some(field) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f)
    {
        let key = unknown_key(text, span.start, field);
        format!("unknown key {key:?}; see 'jwtauth config' for the keys and their defaults")
    } else if let Some(key) = key_at(text, span.start) {
        format!("{key}: {msg}")
    } else {
        msg
    };
    Error::config(format!("{}:{line}:{col}", path.display()), msg)
}

/// The full dotted name of an unknown `field` found at `offset`: the table header itself when
/// the offset is on one (`[client]`), else the key as written on its line (`serve.port = 1`)
/// inside the `[table]` in force.
fn unknown_key(text: &str, offset: usize, field: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    if line.starts_with('[') {
        return header(line);
    }
    let local = key_at(text, offset)
        .filter(|k| k.ends_with(field))
        .unwrap_or_else(|| field.to_string());
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(header);
    table.map_or(local.clone(), |t| format!("{t}.{local}"))
}

/// The key on the line of `offset`, when that line reads `key = …`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[start..].split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
    .then(|| key.to_string())
}

/// The file as written: every key optional, every value untyped until validated, so that a
/// bad value is reported with its key and position.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of settings")]
struct RawConfig {
    users: Option<Spanned<Value>>,
    state: Option<Spanned<Value>>,
    key: Option<Spanned<Value>>,
    ttl: Option<Spanned<Value>>,
    issuer: Option<Spanned<Value>>,
    audience: Option<Spanned<Value>>,
    password_scheme: Option<Spanned<Value>>,
    bcrypt_cost: Option<Spanned<Value>>,
    argon2_memory_kib: Option<Spanned<Value>>,
    argon2_time: Option<Spanned<Value>>,
    argon2_lanes: Option<Spanned<Value>>,
    rehash_on_login: Option<Spanned<Value>>,
    allow_legacy_hashes: Option<Spanned<Value>>,
    redis_prefix: Option<Spanned<Value>>,
    redis_timeout: Option<Spanned<Value>>,
    session_max_age: Option<Spanned<Value>>,
    session_idle: Option<Spanned<Value>>,
    session_max_per_user: Option<Spanned<Value>>,
    refresh_reuse_grace: Option<Spanned<Value>>,
    serve: Option<RawServe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [serve] table")]
struct RawServe {
    listen: Option<Spanned<Value>>,
    cookie_secure: Option<Spanned<Value>>,
    cookie_domain: Option<Spanned<Value>>,
    allowed_redirect_hosts: Option<Spanned<Value>>,
    trusted_proxies: Option<Spanned<Value>>,
    introspection_subjects: Option<Spanned<Value>>,
    throttle_max_failures: Option<Spanned<Value>>,
    throttle_window: Option<Spanned<Value>>,
    throttle_ban: Option<Spanned<Value>>,
    throttle_user_rate: Option<Spanned<Value>>,
    log_format: Option<Spanned<Value>>,
    login_url: Option<Spanned<Value>>,
    cors_allowed_origins: Option<Spanned<Value>>,
}

/// Validates raw values into the config, recording the file as their source.
struct Builder<'a> {
    text: &'a str,
    path: &'a Path,
    config: Config,
}

type Check<T> = std::result::Result<T, String>;

impl Builder<'_> {
    /// Validates one value with `check` and stores it with `set`.
    fn take<T>(
        &mut self,
        key: &'static str,
        raw: Option<Spanned<Value>>,
        check: impl FnOnce(&Value) -> Check<T>,
        set: impl FnOnce(&mut Config, T),
    ) -> Result<()> {
        let Some(raw) = raw else { return Ok(()) };
        match check(raw.get_ref()) {
            Ok(v) => {
                set(&mut self.config, v);
                self.config
                    .set_source(key, Source::File(self.path.to_path_buf()));
                Ok(())
            }
            Err(why) => {
                let (line, col) = line_col(self.text.as_bytes(), raw.span().start);
                Err(Error::config(
                    format!("{}:{line}:{col}", self.path.display()),
                    format!("{key}: {why}"),
                ))
            }
        }
    }

    fn build(&mut self, raw: RawConfig) -> Result<()> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let in_dir = move |v: &Value| -> Check<PathBuf> {
            let p = PathBuf::from(string(v)?);
            if p.as_os_str().is_empty() {
                return Err("must not be empty".into());
            }
            // A Redis URL (SPEC §10) is a location, not a path relative to the file; nor is
            // a mistyped one (`redis:/h`), which the front end refuses as it was written.
            let url = p.to_str().is_some_and(|s| s.contains("://"))
                || crate::store::redis::looks_mistyped(&p);
            Ok(if p.is_relative() && !url {
                dir.join(p)
            } else {
                p
            })
        };
        let in_dir2 = in_dir.clone();
        let in_dir3 = in_dir.clone();
        self.take("users", raw.users, in_dir, |c, v| c.users = Some(v))?;
        self.take("state", raw.state, in_dir2, |c, v| c.state = Some(v))?;
        self.take("key", raw.key, in_dir3, |c, v| c.key = Some(v))?;
        self.take("ttl", raw.ttl, duration_value, |c, v| c.ttl = v)?;
        self.take("issuer", raw.issuer, non_empty, |c, v| c.issuer = Some(v))?;
        self.take("audience", raw.audience, non_empty, |c, v| {
            c.audience = Some(v)
        })?;
        self.take(
            "password_scheme",
            raw.password_scheme,
            |v| match string(v)? {
                "bcrypt" => Ok(PasswordScheme::Bcrypt),
                "argon2id" => Ok(PasswordScheme::Argon2id),
                other => Err(format!("{other:?} is not a scheme: bcrypt or argon2id")),
            },
            |c, v| c.password_scheme = v,
        )?;
        self.take(
            "bcrypt_cost",
            raw.bcrypt_cost,
            |v| integer(v, 4, 31),
            |c, v| c.bcrypt_cost = v,
        )?;
        self.take(
            "argon2_memory_kib",
            raw.argon2_memory_kib,
            |v| integer(v, 8, crate::passwords::MAX_ARGON2_MEMORY_KIB),
            |c, v| c.argon2_memory_kib = v,
        )?;
        self.take(
            "argon2_time",
            raw.argon2_time,
            |v| integer(v, 1, crate::passwords::MAX_ARGON2_TIME),
            |c, v| c.argon2_time = v,
        )?;
        let lanes_span = raw.argon2_lanes.as_ref().map(|l| l.span());
        self.take(
            "argon2_lanes",
            raw.argon2_lanes,
            |v| integer(v, 1, crate::passwords::MAX_ARGON2_LANES),
            |c, v| c.argon2_lanes = v,
        )?;
        if self.config.argon2_memory_kib < 8 * self.config.argon2_lanes {
            let (line, col) = line_col(
                self.text.as_bytes(),
                lanes_span.map_or(0, |s| s.start).min(self.text.len()),
            );
            return Err(Error::config(
                format!("{}:{line}:{col}", self.path.display()),
                "argon2_memory_kib: must be at least 8 KiB per lane (argon2_lanes)",
            ));
        }
        self.take("rehash_on_login", raw.rehash_on_login, boolean, |c, v| {
            c.rehash_on_login = v
        })?;
        self.take(
            "allow_legacy_hashes",
            raw.allow_legacy_hashes,
            boolean,
            |c, v| c.allow_legacy_hashes = v,
        )?;
        self.take(
            "redis_prefix",
            raw.redis_prefix,
            |v| string(v).map(str::to_string),
            |c, v| c.redis_prefix = v,
        )?;
        self.take(
            "redis_timeout",
            raw.redis_timeout,
            duration_value,
            |c, v| c.redis_timeout = v,
        )?;
        self.take(
            "session_max_age",
            raw.session_max_age,
            duration_value,
            |c, v| c.session_max_age = v,
        )?;
        self.take("session_idle", raw.session_idle, duration_value, |c, v| {
            c.session_idle = v
        })?;
        self.take(
            "session_max_per_user",
            raw.session_max_per_user,
            |v| integer(v, 1, 1_000_000),
            |c, v| c.session_max_per_user = v,
        )?;
        self.take(
            "refresh_reuse_grace",
            raw.refresh_reuse_grace,
            duration_or_zero,
            |c, v| c.refresh_reuse_grace = v,
        )?;
        if let Some(s) = raw.serve {
            self.build_serve(s)?;
        }
        Ok(())
    }

    fn build_serve(&mut self, raw: RawServe) -> Result<()> {
        self.take(
            "serve.listen",
            raw.listen,
            |v| {
                let s = string(v)?;
                s.parse::<SocketAddr>().map_err(|_| {
                    format!("{s:?} is not an address and port (e.g. 127.0.0.1:8080 or [::1]:8080)")
                })
            },
            |c, v| c.serve.listen = v,
        )?;
        self.take("serve.cookie_secure", raw.cookie_secure, boolean, |c, v| {
            c.serve.cookie_secure = v
        })?;
        self.take("serve.cookie_domain", raw.cookie_domain, host, |c, v| {
            c.serve.cookie_domain = Some(v)
        })?;
        self.take(
            "serve.allowed_redirect_hosts",
            raw.allowed_redirect_hosts,
            |v| list(v, host),
            |c, v| c.serve.allowed_redirect_hosts = v,
        )?;
        self.take(
            "serve.trusted_proxies",
            raw.trusted_proxies,
            |v| list(v, |s| string(s)?.parse::<Cidr>()),
            |c, v| c.serve.trusted_proxies = v,
        )?;
        self.take(
            "serve.introspection_subjects",
            raw.introspection_subjects,
            |v| list(v, non_empty),
            |c, v| c.serve.introspection_subjects = v,
        )?;
        self.take(
            "serve.throttle_max_failures",
            raw.throttle_max_failures,
            |v| integer(v, 1, 1_000_000),
            |c, v| c.serve.throttle_max_failures = v,
        )?;
        self.take(
            "serve.throttle_window",
            raw.throttle_window,
            duration_value,
            |c, v| c.serve.throttle_window = v,
        )?;
        self.take(
            "serve.throttle_ban",
            raw.throttle_ban,
            duration_value,
            |c, v| c.serve.throttle_ban = v,
        )?;
        self.take(
            "serve.throttle_user_rate",
            raw.throttle_user_rate,
            |v| integer(v, 1, 1_000_000),
            |c, v| c.serve.throttle_user_rate = v,
        )?;
        self.take(
            "serve.log_format",
            raw.log_format,
            |v| match string(v)? {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                other => Err(format!("{other:?} is not a log format: text or json")),
            },
            |c, v| c.serve.log_format = v,
        )?;
        self.take(
            "serve.login_url",
            raw.login_url,
            |v| login_url(string(v)?),
            |c, v| c.serve.login_url = Some(v),
        )?;
        self.take(
            "serve.cors_allowed_origins",
            raw.cors_allowed_origins,
            |v| list(v, |s| web_origin(string(s)?)),
            |c, v| c.serve.cors_allowed_origins = v,
        )
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn string(v: &Value) -> Check<&str> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, found {}", type_name(v)))
}

fn non_empty(v: &Value) -> Check<String> {
    let s = string(v)?;
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

fn boolean(v: &Value) -> Check<bool> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", type_name(v)))
}

fn integer(v: &Value, min: u32, max: u32) -> Check<u32> {
    let n = v
        .as_integer()
        .ok_or_else(|| format!("expected an integer, found {}", type_name(v)))?;
    u32::try_from(n)
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{n} is out of range: must be {min}-{max}"))
}

/// A duration: a string as `--ttl` takes it (`20s`, `15m`, `2h`, `7d`, or seconds), or an
/// integer number of seconds. Zero is refused.
fn duration_value(v: &Value) -> Check<Duration> {
    let secs = match v {
        Value::Integer(n) => u64::try_from(*n)
            .map_err(|_| format!("{n} is negative"))
            .and_then(|n| {
                duration::parse_duration(&n.to_string()).map_err(|e| e.to_string())?;
                Ok(n)
            })?,
        Value::String(s) => duration::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))? as u64,
        other => {
            return Err(format!(
                "expected a duration such as \"15m\", found {}",
                type_name(other)
            ));
        }
    };
    if secs == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(Duration::from_secs(secs))
}

/// A duration as [`duration_value`] takes it, zero allowed (`refresh_reuse_grace`).
fn duration_or_zero(v: &Value) -> Check<Duration> {
    let zero = match v {
        Value::Integer(0) => true,
        Value::String(s) => duration::parse_duration(s) == Ok(0),
        _ => false,
    };
    if zero {
        return Ok(Duration::ZERO);
    }
    duration_value(v)
}

/// The reason of a core `Invalid` error (without the offending input, which the caller
/// names).
fn list<T>(v: &Value, item: impl Fn(&Value) -> Check<T>) -> Check<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(format!("expected an array, found {}", type_name(v)));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| item(x).map_err(|e| format!("item {}: {e}", i + 1)))
        .collect()
}

/// A host name or domain (`example.com`, `.example.com`), no scheme, port or path.
fn host(v: &Value) -> Check<String> {
    let s = string(v)?;
    let name = s.strip_prefix('.').unwrap_or(s);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "{s:?} is not a host name (e.g. example.com, without scheme, port or path)"
        ))
    }
}

/// A login page: a path on the original host (`/login`), or an absolute `http(s)://` URL.
fn login_url(s: &str) -> Check<String> {
    let bad = s
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    let path = s.starts_with('/') && !s.starts_with("//");
    let absolute = ["https://", "http://"].iter().any(|scheme| {
        s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && s[scheme.len()..]
                .split(['/', '?', '#'])
                .next()
                .is_some_and(|h| !h.is_empty() && !h.contains('@'))
    });
    if !bad && (path || absolute) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is neither a path such as /login nor an absolute http(s) URL"
        ))
    }
}

/// A web origin as browsers send it in `Origin` (RFC 6454): `http(s)://host[:port]`, nothing
/// more (no path, not even `/`; no user-info, query or wildcard). Kept in lower case and
/// without the scheme's default port, the form browsers send.
fn web_origin(s: &str) -> Check<String> {
    let refuse = || {
        Err(format!(
            "{s:?} is not an origin: scheme://host[:port], such as https://app.example (no path)"
        ))
    };
    let Some((scheme, authority)) = s.split_once("://") else {
        return refuse();
    };
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return refuse(),
    };
    let (host, port) = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        _ => (authority, None),
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let ipv6_ok = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    if !(name_ok || ipv6_ok) || !port_ok {
        return refuse();
    }
    let host = host.to_ascii_lowercase();
    Ok(match port.map(|p| p.trim_start_matches('0')) {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/jwtauth/config.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(
            Config {
                file: None,
                ..c.clone()
            },
            Config::default()
        );
        assert_eq!(
            c.file.as_deref(),
            Some(Path::new("/etc/jwtauth/config.toml"))
        );
        assert!(KEYS.iter().all(|k| c.source(k) == &Source::Default));
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        for bad in [
            "*",
            "null",
            "app.example",
            "https://",
            "https://app.example/",
            "https://app.example/path",
            "https://user@app.example",
            "https://app.example:",
            "https://app.example:0",
            "https://app.example:65536",
            "https://app.example?x",
            "https://*.example",
            "ftp://app.example",
            "https://[nope]",
        ] {
            assert!(web_origin(bad).is_err(), "{bad}");
        }
        for (good, kept) in [
            ("https://app.example", "https://app.example"),
            ("HTTPS://App.Example:443", "https://app.example"),
            ("http://app.example:80", "http://app.example"),
            ("http://app.example:443", "http://app.example:443"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(web_origin(good).as_deref(), Ok(kept), "{good}");
        }
    }

    #[test]
    fn every_key_parses_and_records_the_file() {
        let c = parse(
            r#"
users = "users.json"
state = "redis://127.0.0.1/0"
key = "/etc/jwtauth/private.pem"
ttl = "1h"
issuer = "https://auth.example.com"
audience = "api"
password_scheme = "argon2id"
bcrypt_cost = 10
argon2_memory_kib = 65536
argon2_time = 3
argon2_lanes = 4
rehash_on_login = false
allow_legacy_hashes = false
redis_prefix = "app:"
redis_timeout = 5
session_max_age = "30d"
session_idle = "2h"
session_max_per_user = 5
refresh_reuse_grace = "5s"

[serve]
listen = "[::1]:9000"
cookie_secure = false
cookie_domain = ".Example.com"
allowed_redirect_hosts = ["app.example.com"]
trusted_proxies = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]
introspection_subjects = ["gateway"]
throttle_max_failures = 10
throttle_window = "10m"
throttle_ban = "1h"
throttle_user_rate = 3
log_format = "json"
login_url = "https://auth.example.com/login"
cors_allowed_origins = ["https://App.example", "http://localhost:3000", "https://b.example:443"]
"#,
        )
        .unwrap();
        assert_eq!(
            c.users.as_deref(),
            Some(Path::new("/etc/jwtauth/users.json"))
        );
        assert_eq!(c.state.as_deref(), Some(Path::new("redis://127.0.0.1/0")));
        assert_eq!(
            c.key.as_deref(),
            Some(Path::new("/etc/jwtauth/private.pem"))
        );
        assert_eq!(c.ttl, Duration::from_secs(3600));
        assert_eq!(c.issuer.as_deref(), Some("https://auth.example.com"));
        assert_eq!(c.password_scheme, PasswordScheme::Argon2id);
        assert_eq!(
            (
                c.bcrypt_cost,
                c.argon2_memory_kib,
                c.argon2_time,
                c.argon2_lanes
            ),
            (10, 65536, 3, 4)
        );
        assert!(!c.rehash_on_login);
        assert!(!c.allow_legacy_hashes);
        assert_eq!(c.redis_prefix, "app:");
        assert_eq!(c.redis_timeout, Duration::from_secs(5));
        assert_eq!(
            c.session_limits(),
            crate::sessions::Limits {
                max_age: 30 * 86_400,
                idle: 7200,
                max_per_user: 5,
                reuse_grace: 5,
            }
        );
        let s = &c.serve;
        assert_eq!(s.listen, "[::1]:9000".parse().unwrap());
        assert!(!s.cookie_secure);
        assert_eq!(s.cookie_domain.as_deref(), Some(".example.com"));
        assert_eq!(s.trusted_proxies.len(), 3);
        assert_eq!(
            s.cors_allowed_origins,
            [
                "https://app.example",
                "http://localhost:3000",
                "https://b.example"
            ]
        );
        assert_eq!(s.throttle_max_failures, 10);
        assert_eq!(s.throttle_ban, Duration::from_secs(3600));
        assert_eq!(s.throttle_user_rate, 3);
        assert_eq!(s.log_format, LogFormat::Json);
        for k in KEYS {
            assert_eq!(
                c.source(k),
                &Source::File("/etc/jwtauth/config.toml".into()),
                "{k}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_position() {
        let e = err("ttl = \"5m\"\ncolour = \"red\"\n");
        assert!(
            e.starts_with("/etc/jwtauth/config.toml:2:1: unknown key \"colour\""),
            "{e}"
        );
        let e = err("[serve]\nlisten = \"127.0.0.1:1\"\n  port = 8080\n");
        assert!(
            e.starts_with("/etc/jwtauth/config.toml:3:3: unknown key \"serve.port\""),
            "{e}"
        );
        let e = err("[client]\nx = 1\n");
        assert!(e.contains(":1:") && e.contains("\"client\""), "{e}");
        let e = err("serve.port = 1\n");
        assert!(e.contains(":1:") && e.contains("\"serve.port\""), "{e}");
    }

    #[test]
    fn bad_values_are_named_with_key_and_position() {
        let cases = [
            (
                "bcrypt_cost = 99",
                "1:15: bcrypt_cost: 99 is out of range: must be 4-31",
            ),
            (
                "bcrypt_cost = \"12\"",
                "1:15: bcrypt_cost: expected an integer",
            ),
            ("\nttl = \"soon\"", "2:7: ttl: \"soon\""),
            ("ttl = 0", "ttl: must be longer than zero"),
            ("ttl = -5", "ttl: -5 is negative"),
            (
                "password_scheme = \"md5\"",
                "password_scheme: \"md5\" is not a scheme",
            ),
            (
                "rehash_on_login = \"yes\"",
                "rehash_on_login: expected true or false",
            ),
            (
                "argon2_lanes = 4\nargon2_memory_kib = 16",
                "argon2_memory_kib: must be at least",
            ),
            (
                "[serve]\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "2:19: serve.trusted_proxies: item 1",
            ),
            (
                "[serve]\ntrusted_proxies = [\"localhost\"]",
                "is not an IP address or CIDR",
            ),
            (
                "[serve]\nlisten = \"localhost\"",
                "serve.listen: \"localhost\"",
            ),
            ("[serve]\nlog_format = \"xml\"", "serve.log_format"),
            ("[serve]\nlogin_url = \"//evil.example\"", "serve.login_url"),
            (
                "[serve]\nlogin_url = \"javascript:alert(1)\"",
                "serve.login_url",
            ),
            (
                "[serve]\ncookie_domain = \"https://x\"",
                "serve.cookie_domain",
            ),
            (
                "[serve]\nthrottle_window = \"1 fortnight\"",
                "serve.throttle_window",
            ),
            (
                "[serve]\nthrottle_user_rate = 0",
                "serve.throttle_user_rate",
            ),
            ("issuer = \"\"", "issuer: must not be empty"),
            (
                "[serve]\ncors_allowed_origins = [\"https://app.example/\"]",
                "2:24: serve.cors_allowed_origins: item 1: \"https://app.example/\" is not an origin",
            ),
            (
                "[serve]\ncors_allowed_origins = \"https://app.example\"",
                "serve.cors_allowed_origins",
            ),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with("/etc/jwtauth/config.toml:"), "{e}");
            assert!(!e.contains('\n'), "one line: {e:?}");
        }
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = err("ttl = \"5m\"\nbcrypt_cost = \n");
        assert!(e.starts_with("/etc/jwtauth/config.toml:2:"), "{e}");
        assert!(!e.contains('\n'), "{e:?}");
        let e = err("serve = 5\n");
        assert!(
            e.ends_with(":1:9: serve: invalid type: integer `5`, expected a [serve] table"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_default_file_is_the_defaults_but_a_named_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        assert_eq!(Config::load(&p, false).unwrap(), Config::default());
        let e = Config::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("config.toml: no such configuration file"), "{e}");
        std::fs::write(&p, "ttl = \"2h\"\n").unwrap();
        assert_eq!(
            Config::load(&p, true).unwrap().ttl,
            Duration::from_secs(7200)
        );
        std::fs::write(&p, b"ttl = \"\xff\"\n").unwrap();
        let e = Config::load(&p, false).unwrap_err().to_string();
        assert!(
            e.contains("config.toml:1:8: ") && e.contains("UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn cidrs_match_their_networks() {
        let c: Cidr = "127.0.0.1/8".parse().unwrap();
        assert!(c.contains("127.200.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.contains("128.0.0.1".parse().unwrap()));
        let one: Cidr = "192.168.1.7".parse().unwrap();
        assert_eq!(one.prefix(), 32);
        assert_eq!(one.to_string(), "192.168.1.7/32");
        assert_eq!(c.to_string(), "127.0.0.1/8");
        assert!(one.contains("192.168.1.7".parse().unwrap()));
        assert!(!one.contains("192.168.1.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "host",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let d = ServeConfig::default().trusted_proxies;
        assert!(d.iter().any(|c| c.contains("127.0.0.1".parse().unwrap())));
        assert!(d.iter().any(|c| c.contains("::1".parse().unwrap())));
        assert!(!d.iter().any(|c| c.contains("10.0.0.1".parse().unwrap())));
    }

    #[test]
    fn sources_can_be_overridden_by_the_front_end() {
        let mut c = parse("ttl = \"1h\"\n").unwrap();
        c.users = Some("/x".into());
        c.set_source("users", Source::Flag);
        assert_eq!(c.source("users"), &Source::Flag);
        assert_eq!(c.source("ttl").as_str(), "file");
        assert_eq!(c.source("state"), &Source::Default);
        let values = c.values();
        assert_eq!(values.len(), KEYS.len());
        assert_eq!(values[0], ("users", json!("/x")));
        assert_eq!(values[3], ("ttl", json!("1h")));
    }

    #[test]
    fn durations_print_in_the_largest_unit() {
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(86_400 * 7)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(0)), "0s");
    }
}
