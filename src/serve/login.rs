//! A login over HTTP, once for `POST /token` and `POST /login` (SPEC §9, §15): the throttle
//! counts the check when it starts, the hashing pool admits it (or the login is busy), the
//! core checks the password and signs on a hashing thread, the throttle ends the check
//! (refunded unless the password was wrong), the outcome is counted, and a signed-in user
//! gets a new device value. Each handler only renders the answer: JSON, or the page and its
//! cookies.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Map;
use zeroize::Zeroizing;

use super::calls::off_worker;
use super::metrics::Login;
use super::{App, audit, throttle};
use crate::auth;
use crate::authority::LoginRequest;
use crate::error::Error;
use crate::passwords::Password;
use crate::sessions::Client;

/// A login that got a token.
pub(super) struct SignedIn {
    /// The access token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The session the sign-in began (SPEC §13).
    pub sid: Option<String>,
    /// Its refresh token (`POST /token`; a browser sign-in has none). Handed out once.
    pub refresh_token: Option<Zeroizing<String>>,
    /// A new device value for this user (SPEC §15: the device cookie, or `/token`'s `device`).
    pub device: String,
}

/// Why a login got no token.
#[derive(Debug)]
pub(super) enum LoginFailure {
    /// Too many failed checks: no password check; try again after this long.
    Throttled(Duration),
    /// The hashing queue is full: no password check.
    Busy,
    /// Unknown user, wrong password, disabled user (or one changed during the check).
    Refused,
    /// A store, key or configuration error: the detail is for the log.
    Unavailable(Error),
}

impl LoginFailure {
    /// The reason class the audit log gives (one for every refusal of the credentials).
    fn reason(&self) -> &'static str {
        match self {
            LoginFailure::Throttled(_) => "throttled",
            LoginFailure::Busy => "busy",
            LoginFailure::Refused => "bad_credentials",
            LoginFailure::Unavailable(_) => "unavailable",
        }
    }

    /// How long a throttled client must wait.
    fn wait(&self) -> Option<Duration> {
        match self {
            LoginFailure::Throttled(wait) => Some(*wait),
            _ => None,
        }
    }
}

/// Logs `name` in from `client` (with its `User-Agent`, as `extract::user_agent` keeps it)
/// with `password` on `route` (`/token`, `/login`); `device` is the device value the request
/// carried (a cookie or a field), if any. The session it begins records the client; a
/// `/login` sign-in is a browser's (SPEC §13: its token lives as long as the session, and it
/// gets no refresh token). The name is taken in
/// NFC (SPEC §15): the same user, and the same throttle counts, whatever the client typed.
/// The outcome is audited (`audit`), success or failure.
///
/// # Errors
/// The [`LoginFailure`].
pub(super) async fn sign_in(
    app: &Arc<App>,
    route: &'static str,
    name: &str,
    password: Zeroizing<String>,
    client: IpAddr,
    user_agent: Option<String>,
    device: Option<String>,
) -> Result<SignedIn, LoginFailure> {
    let name = crate::users::normalize_name(name).into_owned();
    let from = Client::Http {
        address: client.to_string(),
        user_agent,
    };
    let browser = route == "/login";
    let out = attempt(app, &name, password, client, (from, browser), device).await;
    match &out {
        Ok(s) => audit::signed_in(route, client, s.sid.as_deref().unwrap_or(""), &name),
        Err(failure) => {
            audit::sign_in_failed(route, client, &name, failure.reason(), failure.wait());
        }
    }
    out
}

/// [`sign_in`] of a name already in NFC, before it is audited.
async fn attempt(
    app: &Arc<App>,
    name: &str,
    password: Zeroizing<String>,
    client: IpAddr,
    session: (Client, bool),
    device: Option<String>,
) -> Result<SignedIn, LoginFailure> {
    let name = name.to_owned();
    // ----- throttle (SPEC §15): counted now, refunded on success --------------------------
    let who = name.clone();
    let begun = off_worker(app, move |app| {
        let device = device.and_then(|v| throttle::device_of(app, &who, &v));
        app.throttle.begin(&who, client, device, app.clock.now())
    })
    .await
    .map_err(LoginFailure::Unavailable)?;
    let check = match begun {
        Ok(check) => check,
        Err(wait) => {
            app.metrics.login(Login::Throttled);
            return Err(LoginFailure::Throttled(wait));
        }
    };
    let Some(ticket) = app.hashing.admit() else {
        end(app, check, true).await;
        app.metrics.login(Login::Busy);
        return Err(LoginFailure::Busy);
    };
    let worker = Arc::clone(app);
    let who = name.clone();
    let issued = app
        .hashing
        .run(ticket, move || issue(&worker, &who, password, session))
        .await;
    let refused = matches!(
        issued,
        Some(Err(Error::LoginRefused | Error::Invalid { .. }))
    );
    end(app, check, !refused).await;
    match issued {
        Some(Ok(Signed {
            token,
            expires_in,
            sid,
            refresh_token,
        })) => {
            app.metrics.login(Login::Success);
            // Keyed by the key set in force now (a key change forgets every device).
            let device = app.keys().device.new_device(&name, app.clock.now());
            Ok(SignedIn {
                token,
                expires_in,
                sid,
                refresh_token,
                device,
            })
        }
        Some(Err(Error::LoginRefused | Error::Invalid { .. })) => {
            app.metrics.login(Login::Refused);
            Err(LoginFailure::Refused)
        }
        Some(Err(e)) => Err(LoginFailure::Unavailable(e)),
        None => Err(LoginFailure::Unavailable(Error::internal(
            "hashing",
            "the worker stopped",
        ))),
    }
}

/// Ends a throttled check (`ok`: refunded), off the async workers when the throttle is on
/// Redis. A failure is logged by the throttle; the login's answer does not change.
async fn end(app: &Arc<App>, check: throttle::Check, ok: bool) {
    let _ = off_worker(app, move |app| {
        app.throttle.end(check, ok, app.clock.now());
        Ok::<(), Error>(())
    })
    .await;
}

/// What the hashing thread hands back: the token, its seconds to expiry, its session and
/// refresh token.
struct Signed {
    token: String,
    expires_in: i64,
    sid: Option<String>,
    refresh_token: Option<Zeroizing<String>>,
}

/// Checks the password and signs a token, on a hashing thread, in a new session from
/// `client` (`browser`: a `/login` sign-in).
fn issue(
    app: &App,
    name: &str,
    password: Zeroizing<String>,
    (client, browser): (Client, bool),
) -> Result<Signed, Error> {
    // An empty or over-long password is refused like a wrong one, after the same work.
    let password = Password::new(Zeroizing::new(password.as_bytes().to_vec()))
        .or_else(|_| Password::new(Zeroizing::new(b"\0".to_vec())));
    let password = password?;
    // The check and any rehash (SPEC §11) run here, on the hashing pool's thread: at most one
    // argon2 or bcrypt computation per slot, so the pool bounds their memory too.
    let issued = app.authority()?.login(&LoginRequest {
        name,
        password: &password,
        ttl: None,
        iss: None,
        aud: None,
        extra: Map::new(),
        allow_weak_key: false,
        client,
        browser,
    })?;
    drop(password);
    if let Some(auth::Rehash::Failed(e)) = &issued.rehash {
        tracing::warn!(
            target: "jwtauth::serve",
            user = %name.escape_debug(),
            error = %e.to_string().escape_debug(),
            "could not store the upgraded password hash",
        );
    }
    if let Some(e) = &issued.ttl_not_noted {
        tracing::warn!(
            target: "jwtauth::serve",
            error = %e.to_string().escape_debug(),
            "could not record the token lifetime in the key ring; a rotation needs --keep at least that long",
        );
    }
    let expires_in = issued.exp - app.clock.now().max(issued.iat);
    Ok(Signed {
        token: issued.token,
        expires_in,
        sid: issued.sid,
        refresh_token: issued.refresh_token,
    })
}
