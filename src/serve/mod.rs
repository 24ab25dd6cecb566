//! `jwtauth serve`: the login service over HTTP (SPEC §9). It stands on the same core as the
//! command line — settings, keys, one shared `Verifier`, the user and revocation stores — so a
//! logout from either side is refused by the other on its next request. It maps the core's
//! typed errors to HTTP statuses; it never imports the command line.
//!
//! The runtime is started here and only here: a one-shot command never pays for it.

mod audit;
mod browser;
mod calls;
mod cors;
mod discovery;
mod error;
mod extract;
mod gate;
mod hashing;
mod identity;
mod login;
mod metrics;
mod net;
mod ops;
mod redirect;
mod resource;
mod router;
#[cfg(test)]
mod tests;
mod throttle;
mod token;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::authority::{Authority, Policy, Slot};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::{Key, KeyEvent, LiveKeys};
use crate::settings::Settings;
use crate::store::throttle::ThrottleStore;
use crate::store::{self, Lookups, RevocationStore, UserStore};
use crate::verifier::{Rules, Scratch, Verifier};

pub use crate::config::LogFormat;
use crate::config::{Cidr, Config};

/// How long a client may take to send its request headers (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run on after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Largest request body.
pub const MAX_BODY: usize = 16 * 1024;

/// Brute-force protection (SPEC §9).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleOptions {
    /// Failures within `window` that trigger a ban.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban: Duration,
    /// Checks per minute for a username under attack, from all addresses together.
    pub user_rate: u32,
}

impl ThrottleOptions {
    /// The rules, in seconds.
    pub fn rules(&self) -> store::throttle::ThrottleRules {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1);
        store::throttle::ThrottleRules {
            max_failures: self.max_failures.max(1),
            window: secs(self.window),
            ban: secs(self.ban),
            user_rate: self.user_rate.max(1),
        }
    }
}

/// Everything `serve` needs beyond the core's [`Settings`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Lifetime of the tokens `POST /token` issues, in seconds.
    pub ttl: i64,
    /// The configuration's `ttl`: what `init --rotate` keeps a key for without a record in
    /// the key ring, so a longer `ttl` is recorded there (SPEC §15).
    pub configured_ttl: i64,
    /// `iss` of issued tokens, and the metadata's `issuer`.
    pub issuer: Option<String>,
    /// `aud` of issued tokens, and the audience access checks expect.
    pub audience: Option<String>,
    /// Subjects whose bearer tokens may call `POST /introspect`.
    pub introspection_subjects: Vec<String>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Login throttling.
    pub throttle: ThrottleOptions,
    /// Log line format.
    pub log_format: LogFormat,
    /// The session cookie's `Secure` attribute.
    pub cookie_secure: bool,
    /// The session cookie's `Domain`, if any.
    pub cookie_domain: Option<String>,
    /// Hosts (and `.domain`s) `rd` may send a browser to besides the server's own.
    pub allowed_redirect_hosts: Vec<String>,
    /// Where `/auth/forward` sends browsers (`/login` on the original host when unset).
    pub login_url: Option<String>,
    /// Origins whose scripts may call the bearer endpoints (CORS; none by default).
    pub cors_allowed_origins: Vec<String>,
    /// Password checks that may wait for a hashing thread before `POST /token` answers 503.
    pub hash_queue: usize,
    /// The scheme of new hashes and of the unknown-user dummy, and rehash on login (SPEC
    /// §11: `password_scheme`, `bcrypt_cost`, `argon2_*`, `rehash_on_login`).
    pub hashing: crate::auth::HashPolicy,
    /// The session limits (SPEC §13: `session_max_age`, `session_idle`,
    /// `session_max_per_user`, `refresh_reuse_grace`); a reload applies them.
    pub session_limits: crate::sessions::Limits,
}

impl Options {
    /// The options the configuration gives (SPEC §12: `ttl`, `issuer`, `audience` and the
    /// `[serve]` table).
    pub fn from_config(c: &Config) -> Self {
        Options {
            listen: c.serve.listen.to_string(),
            ttl: i64::try_from(c.ttl.as_secs()).unwrap_or(i64::MAX),
            configured_ttl: i64::try_from(c.ttl.as_secs()).unwrap_or(i64::MAX),
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            introspection_subjects: c.serve.introspection_subjects.clone(),
            trusted_proxies: c.serve.trusted_proxies.clone(),
            throttle: ThrottleOptions {
                max_failures: c.serve.throttle_max_failures,
                window: c.serve.throttle_window,
                ban: c.serve.throttle_ban,
                user_rate: c.serve.throttle_user_rate,
            },
            log_format: c.serve.log_format,
            cookie_secure: c.serve.cookie_secure,
            cookie_domain: c.serve.cookie_domain.clone(),
            allowed_redirect_hosts: c.serve.allowed_redirect_hosts.clone(),
            login_url: c.serve.login_url.clone(),
            cors_allowed_origins: c.serve.cors_allowed_origins.clone(),
            hash_queue: 64,
            hashing: crate::auth::HashPolicy {
                scheme: c.scheme(),
                rehash_on_login: c.rehash_on_login,
                allow_legacy: c.allow_legacy_hashes,
                read_only: false,
            },
            session_limits: c.session_limits(),
        }
    }
}

/// A shared [`Verifier`] with the per-call [`Scratch`] it verifies with kept per thread, so a
/// request reuses the decode buffers and the crypto verifiers (for HMAC, the keyed hash state)
/// an earlier request on the same worker built, instead of building them again (issue 15:
/// they were a sixth of the instructions of a `GET /protected`).
pub(crate) struct Checker {
    verifier: Verifier,
    /// Tells this checker's scratch from another's on the same thread; never reused.
    id: u64,
}

/// Scratch kept per thread: the three checkers of the current key set, and a few of earlier
/// sets that requests in flight may still use.
const MAX_SCRATCH: usize = 9;

thread_local! {
    /// The scratch of each checker this thread has verified with (a serve process has three).
    static SCRATCH: RefCell<Vec<(u64, Scratch)>> = const { RefCell::new(Vec::new()) };
}

impl Checker {
    fn new(verifier: Verifier) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Checker {
            verifier,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Runs `f` with the verifier and this thread's scratch for it.
    pub fn with<R>(&self, f: impl FnOnce(&Verifier, &mut Scratch) -> R) -> R {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut all) => {
                let at = match all.iter().position(|(id, _)| *id == self.id) {
                    Some(at) => at,
                    None => {
                        // Key changes build new checkers: the scratch of the oldest ones,
                        // no longer used, goes.
                        if all.len() >= MAX_SCRATCH {
                            all.remove(0);
                        }
                        all.push((self.id, Scratch::new()));
                        all.len() - 1
                    }
                };
                f(&self.verifier, &mut all[at].1)
            }
            // Not reentered today; if it ever is, fresh scratch is still correct.
            Err(_) => f(&self.verifier, &mut Scratch::new()),
        })
    }
}

/// The signing key as loaded now, with the verifiers built from it (and its retired keys).
pub(crate) struct KeySet {
    pub key: Arc<Key>,
    /// Access checks (`/protected`, `/userinfo`, forward-auth): the configured audience and
    /// issuer.
    pub access: Checker,
    /// `/introspect`'s caller: any audience, the configured issuer.
    pub caller: Checker,
    /// Revoking, and the token introspected: any audience, any issuer (revoking is not
    /// granting).
    pub any: Checker,
    /// The device cookies' key, derived from this key: a key change forgets every device.
    pub device: throttle::DeviceKey,
}

/// What the key set is built from besides the key: the options (replaced on `SIGHUP`), the
/// longest token lifetime this process has signed, recorded in each key's ring, and the clock.
struct Shared {
    opts: RwLock<Arc<Options>>,
    /// The longest `ttl` signed with since start (SIGHUP may shorten `ttl`; tokens out there
    /// keep their lifetime).
    longest_ttl: AtomicI64,
    lock_timeout: Duration,
    clock: Arc<dyn Clock>,
    /// `JWT_SECRET_KEY`'s bytes, when that is the key (the device cookies' key comes from it).
    env_secret: Option<zeroize::Zeroizing<Vec<u8>>>,
}

impl Shared {
    fn opts(&self) -> Arc<Options> {
        Arc::clone(&self.opts.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The key set of `key` for the current options; the longest lifetime signed is
    /// recorded in its ring first (SPEC §15, like the command line's `login`).
    fn key_set(&self, key: Key) -> Result<KeySet> {
        let opts = self.opts();
        let longest = self
            .longest_ttl
            .fetch_max(opts.ttl, Ordering::Relaxed)
            .max(opts.ttl);
        if let Err(e) = crate::keys::note_ttl(
            self.lock_timeout,
            &key,
            longest,
            opts.configured_ttl,
            self.clock.now(),
        ) {
            tracing::warn!(
                target: "jwtauth::serve",
                error = %e.to_string().escape_debug(),
                "the token lifetime could not be recorded in the key ring; when rotating this key, pass 'init --rotate --keep' at least that long",
            );
        }
        // With `issuer` configured, every access check requires it (SPEC §15); revoking
        // accepts any `iss`, as it accepts any `aud`.
        let iss: Vec<String> = opts.issuer.iter().cloned().collect();
        let access = Verifier::new(
            &key,
            Rules {
                aud: opts.audience.iter().cloned().collect(),
                iss: iss.clone(),
                exp_required: true,
                ..Rules::default()
            },
        )?;
        let caller = Verifier::new(
            &key,
            Rules {
                iss,
                exp_required: true,
                any_aud: true,
                ..Rules::default()
            },
        )?;
        let any = Verifier::new(
            &key,
            Rules {
                exp_required: true,
                any_aud: true,
                ..Rules::default()
            },
        )?;
        let device = throttle::DeviceKey::derive(&crate::keys::material(
            self.env_secret.as_ref().map(|s| s.as_slice()),
            &key,
        )?);
        Ok(KeySet {
            key: Arc::new(key),
            access: Checker::new(access),
            caller: Checker::new(caller),
            any: Checker::new(any),
            device,
        })
    }
}

/// The state every request shares.
pub(crate) struct App {
    shared: Arc<Shared>,
    /// The key and its verifiers, as the key files are now (SPEC §15).
    keys: LiveKeys<KeySet>,
    pub users: Arc<dyn UserStore>,
    pub revocations: Arc<dyn RevocationStore>,
    /// A store is remote (Redis): handlers reach the core off the async workers
    /// (`calls::off_worker`).
    pub remote: bool,
    pub hashing: hashing::Pool,
    pub throttle: throttle::Throttle,
    pub metrics: metrics::Metrics,
    /// Where every decision's time comes from (throttle windows, token checks, key-ring
    /// notes, device cookies): the system clock in `run`, a fixed one in tests.
    pub clock: Arc<dyn Clock>,
    /// The session rules (SPEC §13), shared with the revocation store: the limits in force
    /// (a reload replaces them) and the uses not yet written (`Authority::write_uses`).
    pub sessions: Arc<crate::sessions::Rules>,
}

/// The stores a service stands on: users, revocations and the throttle's counters.
pub(crate) struct Stores {
    pub users: Arc<dyn UserStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub throttle: Box<dyn ThrottleStore>,
    /// A store is remote (Redis): handlers reach the core off the async workers.
    pub remote: bool,
    /// The session rules the revocation store judges by (the same `Arc`).
    pub sessions: Arc<crate::sessions::Rules>,
}

impl Stores {
    /// The stores `settings` configure; the throttle is shared on Redis when the revocations
    /// are there, else in memory.
    ///
    /// # Errors
    /// A store that cannot be opened.
    fn open(settings: &Settings, opts: &Options) -> Result<Self> {
        let lock_timeout = settings.lock_timeout;
        let users: Arc<dyn UserStore> =
            store::open_users(settings.users_path()?, lock_timeout, &settings.redis)?.into();
        // Serving with no users file is allowed (users may be added while it runs), but it is
        // most often a wrong path or home: say so once at start (SPEC §15).
        if store::is_missing_file(settings.users_path()?) {
            tracing::warn!(
                users = %settings.users_path()?.display(),
                "the users file does not exist: no one can log in until 'jwtauth user add' creates it"
            );
        }
        // The configured limits; a check by the server is a use (SPEC §13).
        let rules = Arc::new(crate::sessions::Rules::new(opts.session_limits, true));
        let revocations: Arc<dyn RevocationStore> = store::open_revocations(
            settings.state_path()?,
            lock_timeout,
            Lookups::Many,
            &settings.redis,
            Arc::clone(&rules),
        )?
        .into();
        let throttle_rules = opts.throttle.rules();
        let throttle: Box<dyn ThrottleStore> = match store::redis::url_of(settings.state_path()?) {
            Some(url) => Box::new(store::redis_throttle::RedisThrottle::new(
                store::redis::Redis::open(url, &settings.redis)?,
                throttle_rules,
            )),
            None => Box::new(store::throttle::MemoryThrottle::new(throttle_rules)),
        };
        let remote =
            revocations.is_remote() || store::redis::url_of(settings.users_path()?).is_some();
        Ok(Stores {
            users,
            revocations,
            throttle,
            remote,
            sessions: rules,
        })
    }
}

impl App {
    /// The options in force (the last configuration loaded).
    pub fn opts(&self) -> Arc<Options> {
        self.shared.opts()
    }

    /// The key set to verify and publish with: the key files as they are now (a `stat`
    /// each); when they changed and cannot be loaded, the last good set.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.current().set
    }

    /// The key set to sign with: as `keys`, but refused (a 503) while the key files are
    /// changed and unloadable, rather than signing with a key that may be replaced.
    ///
    /// # Errors
    /// A key error while the current key files cannot be loaded.
    pub fn signing_keys(&self) -> Result<Arc<KeySet>> {
        let current = self.keys.current();
        if current.stale {
            return Err(Error::key(
                format!("key {}", current.set.key.name()),
                "changed and cannot be loaded; not signing until it can",
            ));
        }
        Ok(current.set)
    }

    /// The use cases (login, logout, …) over the stores, the key to sign with now and the
    /// options in force: made per call, so that a key change or a `SIGHUP` reaches the next
    /// request. The key ring already holds this server's longest lifetime (`Shared::key_set`),
    /// so a login does not read it again.
    ///
    /// # Errors
    /// A key error while the current key files cannot be loaded.
    pub fn authority(&self) -> Result<Authority<'_>> {
        let opts = self.opts();
        let keys = self.signing_keys()?;
        Ok(Authority::new(
            Slot::ready(Arc::clone(&self.users)),
            Slot::ready(Arc::clone(&self.revocations)),
            Slot::ready(Arc::clone(&keys.key)),
            self.clock.as_ref(),
            Policy {
                hashing: opts.hashing,
                ttl: opts.ttl,
                configured_ttl: opts.configured_ttl,
                issuer: opts.issuer.clone(),
                audience: opts.audience.clone(),
                lock_timeout: self.shared.lock_timeout,
            },
        )
        .ring_notes(self.shared.longest_ttl.load(Ordering::Relaxed))
        .with_rules(Arc::clone(&self.sessions)))
    }
}

impl App {
    /// The shared state of a service: `opts` over `stores`, signing with `key` (watched on
    /// disk as `settings` configure it, SPEC §15), every time from `clock`. `run` calls it
    /// with the configured stores and the system clock; the in-process tests with memory
    /// stores and a fixed clock.
    ///
    /// # Errors
    /// A key error when the key cannot verify; an error reading the device cookies' key.
    pub(crate) fn new(
        settings: &Settings,
        key: Key,
        opts: &Options,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>> {
        let throttle = throttle::Throttle::new(stores.throttle);
        let shared = Arc::new(Shared {
            opts: RwLock::new(Arc::new(opts.clone())),
            longest_ttl: AtomicI64::new(opts.ttl),
            lock_timeout: settings.lock_timeout,
            clock: Arc::clone(&clock),
            env_secret: match settings.key_config()? {
                crate::settings::KeyConfig::Secret(bytes) => Some(bytes.clone()),
                _ => None,
            },
        });
        let keys = {
            let shared = Arc::clone(&shared);
            LiveKeys::new(settings, key, move |key| shared.key_set(key), key_event)?
        };
        Ok(Arc::new(App {
            hashing: hashing::Pool::new(cores(), opts.hash_queue),
            throttle,
            metrics: metrics::Metrics::default(),
            shared,
            keys,
            users: stores.users,
            revocations: stores.revocations,
            remote: stores.remote,
            sessions: stores.sessions,
            clock,
        }))
    }
}

/// The cores to run on: one accept loop and one hashing slot each.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What `LiveKeys` reports, logged: a key change picked up (audit), or one that could not be.
fn key_event(event: KeyEvent<'_>) {
    match event {
        KeyEvent::Reloaded { id, retired } => audit::key_changed(id, retired),
        KeyEvent::Failed(e) => tracing::error!(
            target: "jwtauth::serve",
            error = %e.to_string().escape_debug(),
            "the key files changed and cannot be loaded: verifying with the last good keys, not signing",
        ),
    }
}

/// The log of SPEC §9: `tracing` events (one per request, `jwtauth::access`; the security
/// events of SPEC §15, `jwtauth::audit`; store errors, `jwtauth::serve`) written to stderr as
/// text or as one JSON object per line, with the event's fields at the top level. No event
/// carries a header value, a query string or a body.
///
/// Each line is written with one `write(2)` on a second handle on stderr, without taking
/// stderr's lock: a line up to `PIPE_BUF` (4096 bytes) is written whole even when the workers
/// log at the same moment (`eprintln!` made one `write` per formatted piece, 13 for a `GET
/// /protected`, under a lock the workers contended for: issue 15).
fn logging(format: LogFormat) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let writer = match stderr_handle() {
        Some(file) => BoxMakeWriter::new(Arc::new(file)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_timer(ops::LogTime)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false);
    // Already installed (a second `run` in one process): the first one stays.
    let _ = match format {
        LogFormat::Text => builder.with_target(true).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs the service until SIGTERM or SIGINT; `key` is the signing key (the caller loads or
/// creates it), `clock` the time every decision is made by (the system clock), `reload` loads the configuration again on `SIGHUP` (as at start: file,
/// environment, then the flags given at start), `on_listening` is called once with the bound
/// address, when connections are accepted.
///
/// # Errors
/// A configuration error when the address cannot be bound or the runtime cannot start; a key
/// error when the key cannot verify.
pub fn run(
    settings: &Settings,
    key: Key,
    opts: Options,
    clock: Arc<dyn Clock>,
    reload: impl Fn() -> Result<Reloaded> + Send + Sync + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    logging(opts.log_format);
    let stores = Stores::open(settings, &opts)?;
    let app = App::new(settings, key, &opts, stores, clock)?;
    let cores = cores();
    let bind_error = |e: std::io::Error| Error::config(format!("listen {}", opts.listen), e);
    let listener = std::net::TcpListener::bind(&opts.listen).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    // One single-threaded runtime per core, each accepting on the same socket: as many
    // workers as tokio's multi-threaded scheduler, without linking it (its statistics pull
    // libm into every one-shot command's start-up).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for n in 1..cores {
        let listener = listener.try_clone().map_err(bind_error)?;
        let (app, mut stopped) = (app.clone(), stopped.clone());
        let worker = std::thread::Builder::new()
            .name(format!("jwtauth-serve-{n}"))
            .spawn(move || {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                accept_loop(listener, app, shutdown)
            })
            .map_err(|e| Error::internal("serve", format!("cannot start a worker: {e}")))?;
        workers.push(worker);
    }
    // The main thread's runtime is made before the start-up line, so SIGHUP is handled (not
    // fatal) from the moment anyone can know the server runs.
    let runtime = runtime()?;
    let hangups = {
        let _entered = runtime.enter();
        hangup_signal()
    };
    let fixed = fixed_settings(settings, &app.opts());
    let reload: Arc<dyn Fn() -> Result<Reloaded> + Send + Sync> = Arc::new(reload);
    on_listening(addr);
    let on_hangup = on_hangups(hangups, Arc::clone(&app), reload, fixed);
    let result = serve_on(runtime, listener, app, async move {
        tokio::select! {
            () = shutdown_signal() => {},
            () = on_hangup => {},
        }
        let _ = stop.send(true);
    });
    for w in workers {
        let _ = w.join();
    }
    result
}

/// A configuration loaded again (`SIGHUP`): the options, and the settings they came with.
pub struct Reloaded {
    /// The new options (the flags given at start applied over the file and environment).
    pub opts: Options,
    /// Where the stores and the key are now configured: only a restart moves them.
    pub settings: Settings,
}

/// What only a restart changes, by name: the listen address, the stores, the key's place,
/// how Redis is reached, the log format and the hashing queue.
fn fixed_settings(settings: &Settings, opts: &Options) -> Vec<(&'static str, String)> {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let key = match crate::keys::describe(settings) {
        Ok((Some(p), _)) => p.display().to_string(),
        Ok((None, source)) => source.as_str().to_string(),
        Err(e) => e.to_string(),
    };
    vec![
        ("listen", opts.listen.clone()),
        ("users", path(&settings.users).unwrap_or_default()),
        ("state", path(&settings.state).unwrap_or_default()),
        ("key", key),
        ("redis_prefix", settings.redis.prefix.clone()),
        ("redis_timeout", format!("{:?}", settings.redis.timeout)),
        ("log_format", format!("{:?}", opts.log_format)),
        ("hash_queue", opts.hash_queue.to_string()),
    ]
}

/// SIGHUP, if it can be caught here (else it is left as it is).
#[cfg(unix)]
fn hangup_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Option<()> {
    None
}

/// Reloads the configuration on every SIGHUP, off the async worker; never resolves.
#[cfg(unix)]
async fn on_hangups(
    hangups: Option<tokio::signal::unix::Signal>,
    app: Arc<App>,
    reload: Arc<dyn Fn() -> Result<Reloaded> + Send + Sync>,
    fixed: Vec<(&'static str, String)>,
) {
    let Some(mut hangups) = hangups else {
        return std::future::pending().await;
    };
    let fixed = Arc::new(fixed);
    while hangups.recv().await.is_some() {
        let (app, reload, fixed) = (Arc::clone(&app), Arc::clone(&reload), Arc::clone(&fixed));
        let _ = tokio::task::spawn_blocking(move || reconfigure(&app, reload(), &fixed)).await;
    }
    std::future::pending().await
}

#[cfg(not(unix))]
async fn on_hangups(
    _: Option<()>,
    _: Arc<App>,
    _: Arc<dyn Fn() -> Result<Reloaded> + Send + Sync>,
    _: Vec<(&'static str, String)>,
) {
    std::future::pending().await
}

/// Applies a reloaded configuration: every option but those only a restart changes (a WARN
/// names them when they changed), then the keys are loaded again. A configuration that
/// cannot be loaded changes nothing (an ERROR says why).
fn reconfigure(app: &App, reloaded: Result<Reloaded>, fixed: &[(&'static str, String)]) {
    let Reloaded { mut opts, settings } = match reloaded {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(
                target: "jwtauth::serve",
                error = %e.to_string().escape_debug(),
                "the configuration could not be reloaded; keeping the one in force",
            );
            return;
        }
    };
    let old = app.opts();
    let changed: Vec<&str> = fixed
        .iter()
        .zip(fixed_settings(&settings, &opts))
        .filter(|((_, was), (_, now))| was != now)
        .map(|((name, _), _)| *name)
        .collect();
    if !changed.is_empty() {
        tracing::warn!(
            target: "jwtauth::serve",
            settings = %changed.join(", "),
            "changed in the configuration, but only a restart applies them; they keep their values",
        );
    }
    opts.listen.clone_from(&old.listen);
    opts.log_format = old.log_format;
    opts.hash_queue = old.hash_queue;
    app.throttle.set_rules(opts.throttle.rules());
    app.sessions.set_limits(opts.session_limits);
    *app.shared.opts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(opts);
    // The verifiers carry the audience; the key is read again too.
    app.keys.reload_now();
    audit::config_reloaded();
}

/// A second handle on stderr (a duplicated descriptor), for the log (see `logging`).
#[cfg(unix)]
fn stderr_handle() -> Option<std::fs::File> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    Some(std::fs::File::from(fd))
}

#[cfg(not(unix))]
fn stderr_handle() -> Option<std::fs::File> {
    None
}

/// A single-threaded runtime for one accept loop.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("serve", format!("cannot start the runtime: {e}")))
}

/// Runs one accept loop on its own single-threaded runtime until `shutdown` resolves.
fn accept_loop(
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    serve_on(runtime()?, listener, app, shutdown)
}

/// Runs one accept loop on `runtime` until `shutdown` resolves.
fn serve_on(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)
            .map_err(|e| Error::internal("serve", format!("cannot use the socket: {e}")))?;
        net::serve(listener, router::router(app), shutdown).await;
        Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
