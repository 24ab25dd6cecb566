//! The API handlers of SPEC §9 (the routes are in `router`). Handlers are thin: credentials
//! and tokens in, the core's operations, JSON out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tower_http::request_id::RequestId;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::metrics::{self, Login};
use super::{App, net, throttle};
use crate::auth;
use crate::authority::LoginRequest;
use crate::clock::Clock;
use crate::error::{Error, VerifyError};
use crate::passwords::Password;
use crate::verifier::Verified;

type Shared = State<Arc<App>>;

/// One log line and one metrics count per request; never a header, a query or a body.
pub(super) async fn observe(State(app): Shared, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route: &'static str = match req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some(p) => route_name(p),
        None => "other",
    };
    // Shared copies (reference counts, no new text); formatted only into the log line.
    let uri = req.uri().clone();
    let id = req.extensions().get::<RequestId>().cloned();
    let mut res = next.run(req).await;
    let status = res.status();
    if (status.is_client_error() || status.is_server_error())
        && route != "/healthz"
        && !is_json(res.headers())
        && !is_html(res.headers())
    {
        res = json_error(status, res.headers());
    }
    app.metrics.request(route, status.as_u16());
    if !res.headers().contains_key(header::CACHE_CONTROL) && route != "/openapi.json" {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let id = id
        .as_ref()
        .and_then(|r| r.header_value().to_str().ok())
        .unwrap_or("-");
    tracing::info!(
        target: "jwtauth::access",
        method = %method,
        path = %escaped(uri.path()),
        status = status.as_u16(),
        micros,
        request_id = %escaped(id),
    );
    res
}

/// `s` as `str::escape_debug` writes it, without the per-character work when there is nothing
/// to escape (the usual path or request id).
fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'"' | b'\''))
    {
        s.into()
    } else {
        s.escape_debug().to_string().into()
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The login page answers its errors as the page itself, with the message on it.
fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

/// The JSON error body for an error the framework or a layer answered in plain text (or
/// with no body): body too large, method not allowed, request timeout, an unreadable body.
/// The `Allow` and `Retry-After` headers are kept.
fn json_error(status: StatusCode, headers: &HeaderMap) -> Response {
    let (error, description) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "the request body is over 16 KiB"),
        StatusCode::METHOD_NOT_ALLOWED => ("invalid_request", "method not allowed on this route"),
        StatusCode::REQUEST_TIMEOUT => ("invalid_request", "the request took too long"),
        s if s.is_server_error() => ("server_error", "internal error"),
        _ => ("invalid_request", "the request could not be read"),
    };
    let mut res = api_error(status, error, description);
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = headers.get(&h) {
            res.headers_mut().insert(h, v.clone());
        }
    }
    res
}

/// The route as a metrics label (`metrics::ROUTES`; `other` for anything else).
fn route_name(p: &str) -> &'static str {
    let known = &metrics::ROUTES[..metrics::ROUTES.len() - 1];
    known.iter().find(|r| **r == p).copied().unwrap_or("other")
}

// ----- errors -------------------------------------------------------------------------------

/// An API error body (RFC 6749 §5.2 shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// The error code (`invalid_request`, `invalid_grant`, `invalid_token`, …).
    error: String,
    /// A human-readable description.
    error_description: String,
}

pub(super) fn api_error(
    status: StatusCode,
    error: &str,
    description: impl Into<String>,
) -> Response {
    (
        status,
        axum::Json(ApiError {
            error: error.into(),
            error_description: description.into(),
        }),
    )
        .into_response()
}

/// Every error the command line reports with exit 8 (a store, key or configuration problem)
/// is 503 here, with `Retry-After`; the detail goes to the log, not to the client.
pub(super) fn unavailable(e: &Error) -> Response {
    tracing::error!(target: "jwtauth::serve", error = %e.to_string().escape_debug());
    let mut res = api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the service cannot reach its data; try again shortly",
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// 401 with the RFC 6750 challenge: `error="invalid_token"` when a token was sent.
pub(super) fn unauthorized(sent: bool, why: &str) -> Response {
    let challenge = if sent {
        format!("Bearer error=\"invalid_token\", error_description=\"{why}\"")
    } else {
        "Bearer".to_string()
    };
    let mut res = api_error(
        StatusCode::UNAUTHORIZED,
        if sent {
            "invalid_token"
        } else {
            "invalid_request"
        },
        if sent {
            why
        } else {
            "a bearer token is required"
        },
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// A fixed description per kind of failure: nothing from the token is echoed.
pub(super) fn token_failure(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Expired { .. } => "the token has expired",
        VerifyError::NotYetValid(_) | VerifyError::IssuedInFuture(_) => {
            "the token is not valid yet"
        }
        VerifyError::Revoked(_) => "the token has been revoked",
        VerifyError::Invalid(_) => "the token is invalid",
    }
}

// ----- bearer tokens ------------------------------------------------------------------------

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Which verifier of the current key set checks a token.
#[derive(Debug, Clone, Copy)]
pub(super) enum Checking {
    /// The configured audience (access checks).
    Access,
    /// Any audience (revoking and introspecting: revoking is not granting).
    AnyAudience,
}

impl Checking {
    fn of(any: bool) -> Self {
        if any {
            Checking::AnyAudience
        } else {
            Checking::Access
        }
    }
}

/// Verifies `token` now, against the current revocations.
/// With `claims_out`, the payload is returned too (for introspection).
pub(super) fn check(
    app: &App,
    with: Checking,
    token: &str,
    claims_out: Option<&mut Value>,
) -> Result<Verified, Error> {
    let started = Instant::now();
    // The keys as the key files are now (`init --rotate`, `keys retire`: SPEC §15).
    let keys = app.keys();
    let checker = match with {
        Checking::Access => &keys.access,
        Checking::AnyAudience => &keys.any,
    };
    app.revocations.refresh()?;
    let out = checker.with(|verifier, scratch| {
        verifier.verify(
            token.as_bytes(),
            app.clock.now(),
            scratch,
            Some(app.revocations.as_ref()),
            claims_out,
        )
    });
    app.metrics.verified(started.elapsed());
    out
}

/// The one way a handler reaches the core when that may ask a store: `f` runs off the async
/// workers when a store is remote (a Redis round trip must not stall the other connections
/// of the worker, and many requests then wait for Redis at once, each on a pooled
/// connection); local stores answer in place, as fast as before. `failed` makes the answer
/// when the blocking thread could not run.
pub(super) async fn off_worker<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> T + Send + 'static,
    failed: impl FnOnce(Error) -> T,
) -> T {
    if !app.remote {
        return f(app);
    }
    blocking(app, f, failed).await
}

/// [`off_worker`] for a durable write (a revocation): always on a blocking thread, since a
/// local file store's write waits for the disk.
async fn off_worker_always<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    blocking(app, f, Err).await
}

async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> T + Send + 'static,
    failed: impl FnOnce(Error) -> T,
) -> T {
    let worker = app.clone();
    match tokio::task::spawn_blocking(move || f(&worker)).await {
        Ok(out) => out,
        Err(e) => failed(Error::internal("serve", e)),
    }
}

/// `authorize` with the access verifier (or, with `any`, the one that accepts any
/// audience), off the async workers when the stores are remote.
#[allow(clippy::result_large_err)]
async fn authorize_off(
    app: &Arc<App>,
    any: bool,
    headers: &HeaderMap,
) -> Result<Verified, Response> {
    if !app.remote {
        return authorize(app, Checking::of(any), headers);
    }
    let headers = headers.clone();
    off_worker(
        app,
        move |app| authorize(app, Checking::of(any), &headers),
        |e| Err(unavailable(&e)),
    )
    .await
}

/// The bearer token of the request, verified by `verifier`, or the response to send.
#[allow(clippy::result_large_err)]
fn authorize(app: &App, verifier: Checking, headers: &HeaderMap) -> Result<Verified, Response> {
    let Some(token) = bearer(headers) else {
        return Err(unauthorized(false, ""));
    };
    match check(app, verifier, token, None) {
        Ok(v) => Ok(v),
        Err(Error::Token(e)) => Err(unauthorized(true, token_failure(&e))),
        Err(e) => Err(unavailable(&e)),
    }
}

// ----- POST /token --------------------------------------------------------------------------

/// The password grant form (FastAPI's `OAuth2PasswordRequestForm`) or JSON body.
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password` (may be omitted, or empty as FastAPI's form takes it).
    #[schema(pattern = "^(password)?$")]
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// The `device` value of an earlier successful login as this user (exempts it from the
    /// username's throttle).
    #[allow(dead_code)]
    device: Option<String>,
    /// Ignored.
    #[allow(dead_code)]
    scope: Option<String>,
}

/// A successful login.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub(super) access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the token expires.
    pub(super) expires_in: i64,
    /// A device value for this user: sent back as `device` on later logins, it exempts them
    /// from the username's throttle (SPEC §15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) device: Option<String>,
}

/// Credentials from a form, JSON or HTTP Basic, or the 400 to answer.
#[allow(clippy::result_large_err)]
fn credentials(headers: &HeaderMap, body: &[u8]) -> Result<(String, Zeroizing<String>), Response> {
    let bad = |why: &str| api_error(StatusCode::BAD_REQUEST, "invalid_request", why);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let form: Option<TokenRequest> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else if content_type == "application/json" {
        Some(serde_json::from_slice(body).map_err(|_| bad("the body is not a valid JSON object"))?)
    } else if content_type == "application/x-www-form-urlencoded" || content_type.is_empty() {
        Some(serde_urlencoded::from_bytes(body).map_err(|_| bad("the form is malformed"))?)
    } else {
        return Err(bad("send a form, JSON or HTTP Basic credentials"));
    };
    if let Some(g) = form.as_ref().and_then(|f| f.grant_type.as_deref())
        && !g.is_empty()
        && g != "password"
    {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only the password grant is supported",
        ));
    }
    if let Some(TokenRequest {
        username: Some(u),
        password: Some(p),
        ..
    }) = form
    {
        return Ok((u, Zeroizing::new(p)));
    }
    // HTTP Basic, as the classic service takes it.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .map(|(_, b)| b.trim());
    let Some(b64) = basic else {
        return Err(bad("username and password are required"));
    };
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("the Basic credentials are not valid base64"))?,
    );
    let text = std::str::from_utf8(&raw).map_err(|_| bad("the Basic credentials are not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("the Basic credentials have no ':'"))?;
    Ok((u.to_string(), Zeroizing::new(p.to_string())))
}

#[utoipa::path(post, path = "/token",
    request_body(content = TokenRequest, description = "OAuth 2.0 password grant as a form (`application/x-www-form-urlencoded`) or JSON; HTTP Basic credentials are accepted too", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "invalid_grant, invalid_request or unsupported_grant_type", body = ApiError),
        (status = 429, description = "Too many failed logins", body = ApiError),
        (status = 503, description = "Busy or unavailable", body = ApiError),
    ))]
pub(super) async fn token(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, password) = match credentials(&headers, &body) {
        Ok(c) => c,
        Err(res) => return res,
    };
    // In NFC (SPEC §15): the same user, and the same throttle counts, whatever the form typed.
    let name = crate::users::normalize_name(&name).into_owned();
    let client = client_ip(&app, peer.ip(), &headers);
    // ----- throttle (SPEC §15): counted now, refunded on success --------------------------
    let device = throttle::device_value(app.opts().cookie_secure, &headers, &body)
        .and_then(|v| throttle::device_of(&app, &name, &v));
    let check = match app.throttle.begin(&name, client, device, app.clock.now()) {
        Ok(b) => b,
        Err(e) => return unavailable(&e),
    };
    let check = match check {
        Ok(c) => c,
        Err(left) => {
            app.metrics.login(Login::Throttled);
            let mut res = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "too many failed logins; try again later",
            );
            if let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    };
    // ----- end throttle ---------------------------------------------------------------------
    let Some(ticket) = app.hashing.admit() else {
        app.throttle.end(check, true, app.clock.now());
        app.metrics.login(Login::Busy);
        let mut res = api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "too many logins at once; try again shortly",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    let worker = app.clone();
    let who = name.clone();
    let issued = app
        .hashing
        .run(ticket, move || issue(&worker, &who, password))
        .await;
    let refused = matches!(
        issued,
        Some(Err(Error::LoginRefused | Error::Invalid { .. }))
    );
    app.throttle.end(check, !refused, app.clock.now());
    match issued {
        Some(Ok(mut body)) => {
            app.metrics.login(Login::Success);
            body.device = Some(app.throttle.new_device(&name, app.clock.now()));
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Some(Err(Error::LoginRefused | Error::Invalid { .. })) => {
            app.metrics.login(Login::Refused);
            api_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "incorrect username or password",
            )
        }
        Some(Err(e)) => unavailable(&e),
        None => unavailable(&Error::internal("hashing", "the worker stopped")),
    }
}

/// Checks the password and signs a token (on a hashing thread).
pub(super) fn issue(
    app: &App,
    name: &str,
    password: Zeroizing<String>,
) -> Result<TokenResponse, Error> {
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
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "bearer",
        expires_in: issued.exp - app.clock.now().max(issued.iat),
        device: None,
    })
}

pub(super) fn client_ip(app: &App, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let xff = headers
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    net::client_ip(
        &app.opts().trusted_proxies,
        peer,
        (!xff.is_empty()).then_some(xff.as_str()),
    )
}

// ----- the protected route and the token's user -----------------------------------------------

/// The classic protected route's answer.
#[derive(Serialize, ToSchema)]
pub struct Protected {
    user: String,
    message: &'static str,
}

#[utoipa::path(get, path = "/protected", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid", body = Protected),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ApiError),
        (status = 503, description = "Unavailable", body = ApiError),
    ))]
pub(super) async fn protected(State(app): Shared, headers: HeaderMap) -> Response {
    match authorize_off(&app, false, &headers).await {
        Ok(v) => axum::Json(Protected {
            user: v.sub.unwrap_or_default(),
            message: "This is a protected route!",
        })
        .into_response(),
        Err(res) => res,
    }
}

/// The token's user (never the hash).
#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    sub: String,
    username: String,
    full_name: Option<String>,
    email: Option<String>,
    groups: Vec<String>,
}

#[utoipa::path(get, path = "/userinfo", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = UserInfo),
        (status = 401, description = "Missing, invalid, expired or revoked token, or the user is gone", body = ApiError),
        (status = 503, description = "Unavailable", body = ApiError),
    ))]
pub(super) async fn userinfo(State(app): Shared, headers: HeaderMap) -> Response {
    let v = match authorize_off(&app, false, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    let sub = v.sub.unwrap_or_default();
    let who = sub.clone();
    let user = off_worker(&app, move |app| app.users.get(&who), Err).await;
    match user {
        Ok(Some(u)) if !u.disabled => axum::Json(UserInfo {
            sub: sub.clone(),
            username: u.username,
            full_name: u.full_name,
            email: u.email,
            groups: u.groups,
        })
        .into_response(),
        Ok(_) => unauthorized(true, "the token's user does not exist or is disabled"),
        Err(e) => unavailable(&e),
    }
}

// ----- logging out --------------------------------------------------------------------------

/// A plain message.
#[derive(Serialize, ToSchema)]
pub struct Message {
    message: &'static str,
}

/// Ends a verified token (its `jti` revoked durably, before answering), on a blocking
/// thread: a write, to a file or to Redis.
pub(super) async fn revoke_verified(app: &Arc<App>, v: Verified) -> Result<(), Error> {
    off_worker_always(app, move |app| app.authority()?.end(&v).map(|_| ())).await
}

#[utoipa::path(delete, path = "/logout", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is revoked", body = Message),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ApiError),
        (status = 503, description = "Unavailable", body = ApiError),
    ))]
pub(super) async fn logout(State(app): Shared, headers: HeaderMap) -> Response {
    let v = match authorize_off(&app, true, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    match revoke_verified(&app, v).await {
        Ok(()) => axum::Json(Message {
            message: "Successfully logged out",
        })
        .into_response(),
        Err(Error::Token(e)) => unauthorized(true, token_failure(&e)),
        Err(e) => unavailable(&e),
    }
}

/// RFC 7009 / RFC 7662 form: the token in question.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// The token (not empty or blank).
    #[schema(min_length = 1, pattern = "\\S")]
    token: String,
    /// `access_token` (others are accepted and ignored).
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

fn token_form(body: &[u8]) -> Option<TokenForm> {
    serde_urlencoded::from_bytes::<TokenForm>(body)
        .ok()
        .filter(|f| !f.token.trim().is_empty())
}

#[utoipa::path(post, path = "/revoke",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2)"),
        (status = 400, description = "Malformed request", body = ApiError),
        (status = 503, description = "Unavailable", body = ApiError),
    ))]
pub(super) async fn revoke(State(app): Shared, body: Bytes) -> Response {
    let Some(form) = token_form(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a token form field is required",
        );
    };
    // A token that does not verify (forged, expired, already revoked) has nothing to revoke.
    let token = form.token;
    let checked = off_worker(
        &app,
        move |app| check(app, Checking::AnyAudience, token.trim(), None),
        Err,
    )
    .await;
    let verified = match checked {
        Ok(v) => v,
        Err(Error::Token(_)) => return StatusCode::OK.into_response(),
        Err(e) => return unavailable(&e),
    };
    match revoke_verified(&app, verified).await {
        Ok(()) | Err(Error::Token(_)) => StatusCode::OK.into_response(),
        Err(e) => unavailable(&e),
    }
}

#[utoipa::path(post, path = "/introspect", security(("bearer" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 answer: `{\"active\": false}` or the token's claims with `active: true`", body = Object),
        (status = 400, description = "Malformed request", body = ApiError),
        (status = 401, description = "The caller may not introspect", body = ApiError),
        (status = 503, description = "Unavailable", body = ApiError),
    ))]
pub(super) async fn introspect(State(app): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let caller = match authorize_off(&app, true, &headers).await {
        Ok(v) => v,
        Err(res) => return res,
    };
    if !caller
        .sub
        .as_ref()
        .is_some_and(|s| app.opts().introspection_subjects.contains(s))
    {
        return unauthorized(true, "this token may not introspect");
    }
    let Some(form) = token_form(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a token form field is required",
        );
    };
    let token = form.token;
    let (checked, claims) = off_worker(
        &app,
        move |app| {
            let mut claims = Value::Null;
            let checked = check(app, Checking::AnyAudience, token.trim(), Some(&mut claims));
            (checked, claims)
        },
        |e| (Err(e), Value::Null),
    )
    .await;
    match checked {
        Ok(v) => {
            let mut out = Map::new();
            out.insert("active".into(), true.into());
            for k in ["sub", "exp", "iat", "jti", "iss", "aud"] {
                if let Some(x) = claims.get(k) {
                    out.insert(k.into(), x.clone());
                }
            }
            out.insert("token_type".into(), "Bearer".into());
            if let Some(sub) = v.sub {
                out.insert("username".into(), sub.into());
            }
            axum::Json(Value::Object(out)).into_response()
        }
        Err(Error::Token(_)) => axum::Json(json!({"active": false})).into_response(),
        Err(e) => unavailable(&e),
    }
}

// ----- discovery ------------------------------------------------------------------------------

#[utoipa::path(get, path = "/.well-known/jwks.json",
    responses(
        (status = 200, description = "The public JWK Set", body = Object),
        (status = 404, description = "The key is an HMAC secret: there is nothing public", body = ApiError),
    ))]
pub(super) async fn jwks(State(app): Shared) -> Response {
    // The signing key and the retired keys that still verify (`init --rotate`).
    let published = crate::keys::jwks(&app.keys().key, app.clock.now());
    if published.is_empty() {
        api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "the signing key is an HMAC secret; there is no public key to publish",
        )
    } else {
        axum::Json(json!({ "keys": published })).into_response()
    }
}

/// The server's own base URL: the configured issuer, else from the request's Host.
fn base_url(app: &App, headers: &HeaderMap) -> String {
    if let Some(iss) = &app.opts().issuer {
        return iss.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server",
    responses((status = 200, description = "RFC 8414 metadata", body = Object)))]
pub(super) async fn metadata(State(app): Shared, headers: HeaderMap) -> Response {
    let base = base_url(&app, &headers);
    let mut m = json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "introspection_endpoint": format!("{base}/introspect"),
        "grant_types_supported": ["password"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    });
    if app.keys().key.public.is_some() {
        m["jwks_uri"] = format!("{base}/.well-known/jwks.json").into();
    }
    axum::Json(m).into_response()
}

#[utoipa::path(get, path = "/healthz",
    responses(
        (status = 200, description = "The stores are readable", body = String),
        (status = 503, description = "A store is not", body = String),
    ))]
pub(super) async fn healthz(State(app): Shared) -> Response {
    let healthy = off_worker(
        &app,
        |app| {
            app.users.typical_scheme()?;
            app.revocations.refresh()?;
            app.revocations.subject_revoked_at("")
        },
        Err,
    )
    .await;
    match healthy {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response(),
    }
}

#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(app): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics
            .render(app.hashing.queue_depth(), app.hashing.running()),
    )
        .into_response()
}

pub(super) async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_are_escaped_as_escape_debug_does() {
        for s in [
            "/protected",
            "",
            "-",
            "/a b",
            "/x\"y",
            "/it's",
            "/a\\b",
            "/\n",
            "/\u{202e}",
            "/é",
            "/\u{7f}",
        ] {
            assert_eq!(escaped(s), s.escape_debug().to_string(), "{s:?}");
        }
    }
}
