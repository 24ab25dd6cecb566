//! The serve rules in process: the router (`router::router`) over an `App` built by `App::new`
//! with memory stores, a key file in a temp directory and a `FixedClock`, each request sent
//! with `tower::ServiceExt::oneshot` and the client address as `ConnectInfo`. Time windows
//! pass by moving the clock, so these run in milliseconds; what travels on the wire (headers,
//! cookies, timeouts, signals) stays with the real-HTTP tests in `tests/cli/`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;
use zeroize::Zeroizing;

use super::{App, Options, Stores, ThrottleOptions, router};
use crate::alg::Algorithm;
use crate::authority::MintRequest;
use crate::clock::{Clock as _, FixedClock};
use crate::config::Config;
use crate::keys;
use crate::passwords::{self, Password, Scheme};
use crate::settings::{KeyConfig, KeySource, Settings};
use crate::store::RedisOptions;
use crate::store::memory::{MemoryRevocations, MemoryUsers};
use crate::store::throttle::{MemoryThrottle, RATE_PERIOD};
use crate::users::User;

/// Where every test's clock starts.
const T0: i64 = 1_800_000_000;
/// Hashes cheap enough for many logins per test.
const CHEAP: Scheme = Scheme::Bcrypt { cost: 4 };
const LOCK: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse";
const WRONG: &str = "wrong horse";

/// A service in process: the app, its clock, and the key file it watches.
struct Fx {
    app: Arc<App>,
    clock: Arc<FixedClock>,
    settings: Settings,
    key_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// One response, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Fx {
    /// An HMAC-keyed service with the default options (users hashed cheaply), user `alice`
    /// (password [`PASSWORD`], groups `admins` and `users`).
    fn new() -> Self {
        Fx::with_key(Algorithm::HS256)
    }

    fn with_key(alg: Algorithm) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_path = dir.path().join("key");
        keys::create(LOCK, &key_path, alg, false).expect("key created");
        let settings = Settings {
            users: None,
            state: None,
            key: Some(KeyConfig::File {
                path: key_path.clone(),
                source: KeySource::Flag,
            }),
            key_file: Some(key_path.clone()),
            config_dir: None,
            lock_timeout: LOCK,
            redis: RedisOptions::default(),
            config: Config::default(),
        };
        let key = keys::load(&settings).expect("key loads");
        let mut opts = Options::from_config(&settings.config);
        opts.hashing.scheme = CHEAP;
        opts.hashing.rehash_on_login = false;
        let clock = Arc::new(FixedClock::new(T0));
        let sessions = Arc::new(crate::sessions::Rules::new(opts.session_limits, true));
        let stores = Stores {
            users: Arc::new(MemoryUsers::new()),
            revocations: Arc::new(MemoryRevocations::with_rules(
                Default::default(),
                Arc::clone(&sessions),
            )),
            throttle: Box::new(MemoryThrottle::new(opts.throttle.rules())),
            remote: false,
            sessions,
        };
        let app = App::new(&settings, key, &opts, stores, clock.clone()).expect("app");
        let fx = Fx {
            app,
            clock,
            settings,
            key_path,
            _dir: dir,
        };
        fx.add_user("alice", &["admins", "users"]);
        fx
    }

    /// Adds `name` (password [`PASSWORD`]) through the core, as `user add` would.
    fn add_user(&self, name: &str, groups: &[&str]) {
        let hash = passwords::hash(&password(PASSWORD), &CHEAP).expect("hash");
        let user = User {
            username: name.into(),
            full_name: None,
            email: None,
            hashed_password: hash,
            disabled: false,
            created_at: T0 - 1000,
            password_changed_at: T0 - 1000,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        self.app
            .authority()
            .expect("authority")
            .add_user(name, &mut || Ok(user.clone()))
            .expect("user added");
    }

    fn throttle(&self) -> ThrottleOptions {
        self.app.opts().throttle
    }

    fn ttl(&self) -> i64 {
        self.app.opts().ttl
    }

    /// Sends `req` from `client` through the router.
    async fn send(&self, mut req: Request<Body>, client: &str) -> Answer {
        let ip: IpAddr = client.parse().expect("an address");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
        let res = router::router(self.app.clone())
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `POST /token` as a form, with a device value when given.
    async fn login(&self, name: &str, pw: &str, client: &str, device: Option<&str>) -> Answer {
        let mut form = vec![("username", name), ("password", pw)];
        if let Some(d) = device {
            form.push(("device", d));
        }
        let body = serde_urlencoded::to_string(&form).expect("form");
        let req = Request::builder()
            .method(Method::POST)
            .uri("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        self.send(req, client).await
    }

    /// A token for `name` from a login that must succeed.
    async fn token(&self, name: &str) -> String {
        let a = self.login(name, PASSWORD, "192.0.2.1", None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// `method path` with `token` as the bearer.
    async fn call(&self, method: Method, path: &str, token: &str) -> StatusCode {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        self.send(req, "192.0.2.1").await.status
    }

    async fn protected(&self, token: &str) -> StatusCode {
        self.call(Method::GET, "/protected", token).await
    }

    async fn auth(&self, token: &str) -> StatusCode {
        self.call(Method::GET, "/auth", token).await
    }

    /// The `kid`s `/.well-known/jwks.json` publishes.
    async fn published(&self) -> Vec<String> {
        let req = Request::builder()
            .uri("/.well-known/jwks.json")
            .body(Body::empty())
            .expect("request");
        let a = self.send(req, "192.0.2.1").await;
        assert_eq!(a.status, StatusCode::OK);
        a.body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_string())
            .collect()
    }

    /// The signing key as the key file holds it now.
    fn key(&self) -> keys::Key {
        keys::load(&self.settings).expect("key loads")
    }

    /// `init --rotate` (the old key kept for `keep`, else the ttl and grace), at the clock's
    /// time: the old and the new key's ids.
    fn rotate(&self, keep: Option<i64>) -> (String, String) {
        let alg = self.key().alg;
        let r = keys::rotate(
            LOCK,
            &self.key_path,
            alg,
            keep,
            self.ttl(),
            self.clock.now(),
        )
        .expect("rotated");
        (r.old_kid, r.kid)
    }
}

fn password(s: &str) -> Password {
    Password::new(Zeroizing::new(s.as_bytes().to_vec())).expect("password")
}

fn kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).expect("a JWT").kid
}

fn retry_after(a: &Answer) -> i64 {
    a.headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After")
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).expect("seconds")
}

// ----- throttle windows (SPEC §15 "Logins over HTTP") ------------------------------------

#[tokio::test]
async fn failures_for_one_user_and_address_ban_them_until_the_ban_has_passed() {
    let fx = Fx::new();
    let t = fx.throttle();
    for _ in 0..t.max_failures {
        let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    // Banned: even the right password is not checked.
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.body["error"], "slow_down");
    assert_eq!(retry_after(&a), secs(t.ban));
    // The same user from elsewhere is not banned.
    let a = fx.login("alice", PASSWORD, "198.51.100.8", None).await;
    assert_eq!(a.status, StatusCode::OK);
    // One second before the ban ends: still banned; then allowed again.
    fx.clock.advance(secs(t.ban) - 1);
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&a), 1);
    fx.clock.advance(1);
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn failures_older_than_the_window_no_longer_count() {
    let fx = Fx::new();
    let t = fx.throttle();
    for _ in 1..t.max_failures {
        let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    // One short of the limit; once the window has passed, the count starts again.
    fx.clock.advance(secs(t.window) + 1);
    for _ in 1..t.max_failures {
        let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn the_address_limit_counts_failures_across_user_names() {
    let fx = Fx::new();
    let t = fx.throttle();
    for n in 0..t.max_failures {
        // Unknown users count the same as known ones.
        let a = fx
            .login(&format!("nobody{n}"), WRONG, "198.51.100.7", None)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&a), secs(t.ban));
    let a = fx.login("alice", PASSWORD, "198.51.100.9", None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn a_guessed_name_gets_the_user_rate_across_addresses_per_minute() {
    let fx = Fx::new();
    let t = fx.throttle();
    assert!(t.user_rate >= t.max_failures, "the defaults");
    // Each guess from another address: no address reaches its own limit.
    for n in 0..t.user_rate {
        let a = fx.login("alice", WRONG, &format!("10.0.{n}.1"), None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "guess {n}");
    }
    // The name has had its checks for this minute, from anywhere, right password or not.
    let a = fx.login("alice", WRONG, "10.1.0.1", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=RATE_PERIOD).contains(&retry_after(&a)));
    let a = fx.login("alice", PASSWORD, "10.1.0.2", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    // Other names are not affected.
    fx.add_user("bob", &[]);
    let a = fx.login("bob", PASSWORD, "10.1.0.3", None).await;
    assert_eq!(a.status, StatusCode::OK);
    // A minute later the name gets checks again.
    fx.clock.advance(RATE_PERIOD);
    let a = fx.login("alice", PASSWORD, "10.1.0.4", None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn the_owners_device_from_an_earlier_success_is_not_locked_out_by_guesses() {
    let fx = Fx::new();
    let t = fx.throttle();
    let a = fx.login("alice", PASSWORD, "203.0.113.5", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let device = a.body["device"].as_str().expect("device").to_string();
    fx.clock.advance(10);
    for n in 0..t.user_rate {
        let a = fx.login("alice", WRONG, &format!("10.0.{n}.1"), None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    // Without the device, locked out; with it (from any address), in.
    let a = fx.login("alice", PASSWORD, "203.0.113.6", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let a = fx
        .login("alice", PASSWORD, "203.0.113.6", Some(&device))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Another user's device value does not exempt alice's guessers.
    fx.add_user("bob", &[]);
    let b = fx.login("bob", PASSWORD, "203.0.113.7", None).await;
    let bobs = b.body["device"].as_str().expect("device").to_string();
    let a = fx
        .login("alice", PASSWORD, "203.0.113.8", Some(&bobs))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_success_refunds_its_own_check() {
    let fx = Fx::new();
    let t = fx.throttle();
    // More right passwords than the limit, from one address: none counts.
    for _ in 0..=t.max_failures {
        let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::OK);
    }
    // Failures one short of the limit, a success, one more failure: still checked...
    for _ in 1..t.max_failures {
        let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
    }
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // ...and that one was the limit.
    let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
}

// ----- token checks at fixed times ---------------------------------------------------------

#[tokio::test]
async fn a_token_is_accepted_until_its_exp_and_refused_after() {
    let fx = Fx::new();
    let token = fx.token("alice").await;
    fx.clock.advance(fx.ttl() - 1);
    assert_eq!(fx.protected(&token).await, StatusCode::OK);
    assert_eq!(fx.auth(&token).await, StatusCode::OK);
    fx.clock.advance(2);
    assert_eq!(fx.protected(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.auth(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_not_yet_valid_or_issued_in_the_future_is_refused() {
    let fx = Fx::new();
    let mint = |req: MintRequest| {
        fx.app
            .authority()
            .expect("authority")
            .mint(req)
            .expect("minted")
            .token
    };
    let future_iat = mint(MintRequest {
        sub: "alice".into(),
        iat: Some(T0 + 60),
        ..MintRequest::default()
    });
    let future_nbf = mint(MintRequest {
        sub: "alice".into(),
        nbf: Some(T0 + 60),
        ..MintRequest::default()
    });
    for token in [&future_iat, &future_nbf] {
        assert_eq!(fx.protected(token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(fx.auth(token).await, StatusCode::UNAUTHORIZED);
    }
    fx.clock.advance(60);
    for token in [&future_iat, &future_nbf] {
        assert_eq!(fx.protected(token).await, StatusCode::OK);
    }
}

// ----- revocation and account changes reach the next request --------------------------------

#[tokio::test]
async fn after_logout_the_token_is_refused() {
    let fx = Fx::new();
    let token = fx.token("alice").await;
    assert_eq!(
        fx.call(Method::DELETE, "/logout", &token).await,
        StatusCode::OK
    );
    assert_eq!(fx.protected(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.auth(&token).await, StatusCode::UNAUTHORIZED);
    // Another token of the same user is not touched.
    let other = fx.token("alice").await;
    assert_eq!(fx.protected(&other).await, StatusCode::OK);
    // POST /logout with the bearer and no cookie ends it too (SPEC §15), and again is a 401.
    assert_eq!(
        fx.call(Method::POST, "/logout", &other).await,
        StatusCode::OK
    );
    assert_eq!(fx.protected(&other).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        fx.call(Method::POST, "/logout", &other).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_disabled_user_loses_earlier_tokens_and_cannot_log_in() {
    let fx = Fx::new();
    let token = fx.token("alice").await;
    fx.clock.advance(10);
    fx.app
        .authority()
        .expect("authority")
        .set_disabled("alice", true)
        .expect("disabled");
    assert_eq!(fx.protected(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.auth(&token).await, StatusCode::UNAUTHORIZED);
    let a = fx.login("alice", PASSWORD, "192.0.2.1", None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"], "invalid_grant");
    // Enabled again: new logins work, the old token stays revoked.
    fx.clock.advance(1);
    fx.app
        .authority()
        .expect("authority")
        .set_disabled("alice", false)
        .expect("enabled");
    let new = fx.token("alice").await;
    assert_eq!(fx.protected(&new).await, StatusCode::OK);
    assert_eq!(fx.protected(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_group_taken_away_ends_earlier_tokens_and_new_ones_lack_it() {
    let fx = Fx::new();
    let token = fx.token("alice").await;
    let admins = "/auth?group=admins";
    assert_eq!(fx.call(Method::GET, admins, &token).await, StatusCode::OK);
    fx.clock.advance(10);
    fx.app
        .authority()
        .expect("authority")
        .edit_user("alice", &mut |u| u.groups.retain(|g| g != "admins"))
        .expect("edited");
    assert_eq!(
        fx.call(Method::GET, admins, &token).await,
        StatusCode::UNAUTHORIZED
    );
    let new = fx.token("alice").await;
    assert_eq!(
        fx.call(Method::GET, admins, &new).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        fx.call(Method::GET, "/auth?group=users", &new).await,
        StatusCode::OK
    );
}

// ----- key changes (SPEC §15: a running serve sees them at once) ---------------------------

#[tokio::test]
async fn after_a_rotation_logins_sign_with_the_new_key_and_old_tokens_verify_until_retired() {
    let fx = Fx::new();
    let old = fx.token("alice").await;
    let (old_kid, new_kid) = fx.rotate(None);
    let new = fx.token("alice").await;
    assert_eq!(kid(&new).as_deref(), Some(new_kid.as_str()));
    assert_eq!(fx.protected(&old).await, StatusCode::OK);
    assert_eq!(fx.protected(&new).await, StatusCode::OK);
    keys::retire(LOCK, &fx.key(), &old_kid, fx.clock.now()).expect("retired");
    assert_eq!(fx.protected(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.auth(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.protected(&new).await, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_key_verifies_until_its_keep_time_on_the_clock() {
    let fx = Fx::new();
    let old = fx.token("alice").await;
    fx.rotate(Some(100));
    fx.clock.advance(99);
    assert_eq!(fx.protected(&old).await, StatusCode::OK);
    fx.clock.advance(1);
    assert_eq!(fx.protected(&old).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_replaced_by_init_force_refuses_its_tokens_at_once() {
    let fx = Fx::new();
    let old = fx.token("alice").await;
    keys::create(LOCK, &fx.key_path, Algorithm::HS256, true).expect("replaced");
    assert_eq!(fx.protected(&old).await, StatusCode::UNAUTHORIZED);
    let new = fx.token("alice").await;
    assert_eq!(fx.protected(&new).await, StatusCode::OK);
}

#[tokio::test]
async fn the_jwks_publishes_the_live_keys_only() {
    let fx = Fx::with_key(Algorithm::ES256);
    let first = fx.key().id;
    assert_eq!(fx.published().await, [first.as_str()]);
    let old = fx.token("alice").await;
    let (old_kid, new_kid) = fx.rotate(Some(100));
    assert_eq!(old_kid, first);
    let new = fx.token("alice").await;
    assert_eq!(kid(&new).as_deref(), Some(new_kid.as_str()));
    assert_eq!(fx.published().await, [new_kid.clone(), old_kid.clone()]);
    assert_eq!(fx.protected(&old).await, StatusCode::OK);
    // Past its time the old key is neither published nor accepted...
    fx.clock.advance(100);
    assert_eq!(fx.published().await, [new_kid.as_str()]);
    assert_eq!(fx.protected(&old).await, StatusCode::UNAUTHORIZED);
    // ...and retiring it early does the same at once.
    fx.rotate(Some(1000));
    assert_eq!(fx.published().await.len(), 2);
    keys::retire(LOCK, &fx.key(), &new_kid, fx.clock.now()).expect("retired");
    assert_eq!(fx.published().await, [fx.key().id]);
    assert_eq!(fx.protected(&new).await, StatusCode::UNAUTHORIZED);
}

thread_local! {
    /// The log lines written on this thread while [`audited`] runs.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Where the test subscriber writes: this thread's capture, if one is running, else nowhere.
struct Captured;

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| {
            if let Some(buf) = c.borrow_mut().as_mut() {
                buf.extend_from_slice(b);
            }
        });
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `jwtauth::audit` events logged on this thread (as JSON, as `--log-format json`
/// writes them) while `f` runs. The subscriber is the process's global one, installed once:
/// a scoped one (`set_default`) misses events whose callsite another test's thread is
/// registering at the same moment.
async fn audited<F: std::future::Future<Output = ()>>(f: F) -> Vec<Value> {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Captured)
            .with_max_level(tracing::Level::INFO)
            .json()
            .flatten_event(true)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
    // The tests run on a current-thread runtime: the whole future runs on this thread.
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f.await;
    let bytes = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    let text = String::from_utf8(bytes).expect("UTF-8");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|v| v["target"] == "jwtauth::audit")
        .collect()
}

#[tokio::test]
async fn sign_ins_bans_and_logouts_are_audited_with_client_reason_and_wait() {
    let fx = Fx::new();
    let t = fx.throttle();
    let events = audited(async {
        for _ in 0..t.max_failures {
            let a = fx.login("alice", WRONG, "198.51.100.7", None).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST);
        }
        let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        fx.clock.advance(secs(t.ban) - 1);
        let a = fx.login("alice", PASSWORD, "198.51.100.7", None).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        let token = fx.token("alice").await;
        assert_eq!(
            fx.call(Method::DELETE, "/logout", &token).await,
            StatusCode::OK
        );
    })
    .await;
    let seen: Vec<(&str, &str, Option<&str>, Option<u64>)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().expect("event"),
                e["client"].as_str().expect("client"),
                e["reason"].as_str(),
                e["retry_after"].as_u64(),
            )
        })
        .collect();
    let ban = u64::try_from(secs(t.ban)).expect("seconds");
    let mut want = vec![
        (
            "login_failed",
            "198.51.100.7",
            Some("bad_credentials"),
            None
        );
        5
    ];
    want.extend([
        ("login_failed", "198.51.100.7", Some("throttled"), Some(ban)),
        ("login_failed", "198.51.100.7", Some("throttled"), Some(1)),
        ("login", "192.0.2.1", None, None),
        ("token_ended", "192.0.2.1", None, None),
    ]);
    assert_eq!(seen, want, "{events:#?}");
    assert!(events[..8].iter().all(|e| e["user"] == "alice"));
    assert_eq!(events[8]["sub"], "alice");
    assert_eq!(events[8]["route"], "/logout");
    assert!(events[8]["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

// ----- browser form posts (SPEC §15 "CSRF") ----------------------------------------------

/// `POST /login` as alice from `client` with `headers`: the status.
async fn page_login(fx: &Fx, client: &str, headers: &[(&str, &str)]) -> StatusCode {
    let body =
        serde_urlencoded::to_string([("username", "alice"), ("password", PASSWORD)]).expect("form");
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    fx.send(req.body(Body::from(body)).expect("request"), client)
        .await
        .status
}

#[tokio::test]
async fn a_form_post_must_come_from_the_own_origin_scheme_host_and_port() {
    let fx = Fx::new();
    let host = ("host", "auth.example.com:8080");
    let proxied = [
        ("host", "127.0.0.1:8080"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "auth.example.com"),
    ];
    let with = |base: &[(&'static str, &'static str)], origin: &'static str| {
        let mut h = base.to_vec();
        h.push(("origin", origin));
        h
    };
    let ok = StatusCode::SEE_OTHER;
    let no = StatusCode::FORBIDDEN;
    for (client, headers, want) in [
        (
            "192.0.2.1",
            with(&[host], "http://auth.example.com:8080"),
            ok,
        ),
        (
            "192.0.2.1",
            with(&[host], "http://auth.example.com:8081"),
            no,
        ),
        (
            "192.0.2.1",
            with(&[host], "https://auth.example.com:8080"),
            no,
        ),
        (
            "192.0.2.1",
            with(&[host], "http://auth.example.com:8080/"),
            no,
        ),
        ("192.0.2.1", with(&[host], "null"), no),
        (
            "192.0.2.1",
            vec![("host", "[::1]:8080"), ("origin", "http://[::1]:8080")],
            ok,
        ),
        (
            "192.0.2.1",
            vec![("host", "[::1]"), ("origin", "http://[::1]:80")],
            ok,
        ),
        ("192.0.2.1", vec![("origin", "http://auth.example.com")], no),
        // A trusted proxy (loopback) ending TLS.
        ("127.0.0.1", with(&proxied, "https://auth.example.com"), ok),
        ("127.0.0.1", with(&proxied, "http://auth.example.com"), no),
        ("127.0.0.1", with(&proxied, "http://127.0.0.1:8080"), no),
        // The same headers from an untrusted peer are ignored.
        ("192.0.2.1", with(&proxied, "https://auth.example.com"), no),
        ("192.0.2.1", with(&proxied, "http://127.0.0.1:8080"), ok),
        (
            "192.0.2.1",
            vec![host, ("sec-fetch-site", "same-origin")],
            ok,
        ),
        ("192.0.2.1", vec![host, ("sec-fetch-site", "none")], no),
        ("192.0.2.1", vec![host, ("sec-fetch-site", "same-site")], no),
    ] {
        // Past the check: 303, or 200 when the cookie will be dropped (plain HTTP, remote).
        let status = page_login(&fx, client, &headers).await;
        assert_eq!(
            status == StatusCode::FORBIDDEN,
            want == no,
            "{client} {headers:?}: {status}"
        );
    }
}

// ----- CORS (SPEC §15) ----------------------------------------------------------------------

/// A preflight from `origin` for `method path`: the status and the `Access-Control-*`
/// headers' names.
async fn preflight(fx: &Fx, path: &str, origin: &str, method: &str) -> (StatusCode, Vec<String>) {
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri(path)
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .body(Body::empty())
        .expect("request");
    let a = fx.send(req, "192.0.2.1").await;
    let cors = a
        .headers
        .keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    (a.status, cors)
}

#[tokio::test]
async fn cors_answers_allowed_origins_on_the_bearer_routes_only() {
    let fx = Fx::new();
    let app = "https://app.example";
    // Off by default.
    let (status, cors) = preflight(&fx, "/token", app, "POST").await;
    assert_eq!((status, cors.len()), (StatusCode::METHOD_NOT_ALLOWED, 0));
    let mut opts = (*fx.app.opts()).clone();
    opts.cors_allowed_origins = vec![app.to_string()];
    *fx.app.shared.opts.write().expect("options") = Arc::new(opts);
    for (path, method) in [
        ("/token", "POST"),
        ("/userinfo", "GET"),
        ("/logout", "DELETE"),
        ("/revoke", "POST"),
    ] {
        let (status, cors) = preflight(&fx, path, app, method).await;
        assert!(status.is_success(), "{path}: {status}");
        assert!(cors.contains(&"access-control-allow-origin".to_string()));
        assert!(!cors.contains(&"access-control-allow-credentials".to_string()));
    }
    for (path, origin, method) in [
        ("/logout", app, "POST"),
        ("/login", app, "POST"),
        ("/introspect", app, "POST"),
        ("/token", app, "GET"),
        ("/token", "https://evil.example", "POST"),
        ("/token", "https://app.example.evil", "POST"),
    ] {
        let (status, cors) = preflight(&fx, path, origin, method).await;
        assert_eq!(cors.len(), 0, "{origin} {method} {path}");
        assert!(!status.is_success(), "{origin} {method} {path}");
    }
}

// ----- a Secure cookie over plain HTTP (SPEC §15) -------------------------------------------

#[tokio::test]
async fn a_secure_cookie_over_plain_http_to_a_remote_browser_gets_the_page_not_the_redirect() {
    let fx = Fx::new();
    let https = [("host", "auth.example.com"), ("x-forwarded-proto", "https")];
    for (client, headers, want) in [
        (
            "192.0.2.1",
            &[("host", "auth.example.com")][..],
            StatusCode::OK,
        ),
        // X-Forwarded-Proto from an untrusted peer is not believed.
        ("192.0.2.1", &https[..], StatusCode::OK),
        ("127.0.0.1", &https[..], StatusCode::SEE_OTHER),
        (
            "127.0.0.1",
            &[("host", "localhost:8080")][..],
            StatusCode::SEE_OTHER,
        ),
        ("::1", &[("host", "[::1]:8080")][..], StatusCode::SEE_OTHER),
        // Through a trusted proxy: the client behind it counts.
        (
            "127.0.0.1",
            &[
                ("host", "auth.example.com"),
                ("x-forwarded-for", "192.0.2.9"),
            ][..],
            StatusCode::OK,
        ),
    ] {
        assert_eq!(
            page_login(&fx, client, headers).await,
            want,
            "{client} {headers:?}"
        );
    }
    let mut opts = (*fx.app.opts()).clone();
    opts.cookie_secure = false;
    *fx.app.shared.opts.write().expect("options") = Arc::new(opts);
    assert_eq!(
        page_login(&fx, "192.0.2.1", &[("host", "auth.example.com")]).await,
        StatusCode::SEE_OTHER
    );
}
