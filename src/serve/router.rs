//! The routes of SPEC §9 with their layers, and the OpenAPI document generated from the
//! handlers (the one module that knows every area).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

use super::extract::{Bearer, ClientAddr, OwnOrigin, SessionCookies};
use super::{
    App, MAX_BODY, REQUEST_TIMEOUT, browser, cors, discovery, error, gate, ops, resource, sessions,
    token,
};

/// Request ids: a random prefix per process and a counter, so ids are unique across restarts
/// without a random draw per request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        let mut raw = [0u8; 6];
        let _ = getrandom::fill(&mut raw);
        RequestIds {
            prefix: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .into(),
            next: Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::try_from(format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Builds the router with its layers: body limit, request timeout, CORS, redacted
/// credentials, one log line and one metrics count per request.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/token", post(token::token))
        .route("/protected", get(resource::protected))
        .route("/userinfo", get(resource::userinfo))
        .route(
            "/logout",
            axum::routing::delete(resource::logout).post(logout_post),
        )
        .route("/auth", get(gate::auth))
        .route("/auth/forward", get(gate::auth_forward))
        .route(
            "/login",
            get(browser::login_page).post(browser::login_submit),
        )
        .route("/sessions", get(sessions::list))
        .route("/sessions/{sid}", axum::routing::delete(sessions::end))
        .route("/revoke", post(token::revoke))
        .route("/introspect", post(token::introspect))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // CORS for the bearer routes (inside `observe`, so preflights are logged and counted
        // too; outside the limits, so their 413 and 408 reach the calling script).
        .layer(middleware::from_fn_with_state(app.clone(), cors::cors))
        // Outside the limits, so their 413 and 408 are logged, counted and made JSON too.
        .layer(middleware::from_fn_with_state(app.clone(), ops::observe))
        // Every request gets an `x-request-id` (the proxy's, if it sent one), echoed in the
        // response and in the log line, so one request can be followed through nginx.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .with_state(app)
}

/// `POST /logout`: with a bearer token and no session cookie, an API client's logout, the
/// token ended with `DELETE /logout`'s JSON answer (SPEC §15); else the browser's form logout
/// (303). Decided here, where both areas are known.
#[utoipa::path(post, path = "/logout", tag = "forward", params(browser::RdQuery),
    security((), ("session" = []), ("bearer" = [])),
    request_body(content = browser::LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A bearer token and no session cookie (an API client): the token is revoked, as with `DELETE /logout`", body = resource::Message),
        (status = 303, description = "The session's token is revoked and the cookie cleared; to `rd` (if allowed) or `/login`"),
        (status = 401, description = "A bearer token and no session cookie: the token is invalid, expired or revoked", body = error::ErrorBody),
        (status = 403, description = "A cross-site form post", body = String, content_type = "text/html"),
        (status = 503, description = "Unavailable: nothing was revoked", body = error::ErrorBody),
    ))]
async fn logout_post(
    state: State<Arc<App>>,
    client: ClientAddr,
    bearer: Option<Bearer>,
    cookies: Option<SessionCookies>,
    origin: OwnOrigin,
    uri: Uri,
    body: Bytes,
) -> Response {
    match (bearer, cookies) {
        (Some(bearer), None) => resource::logout(state, client, bearer)
            .await
            .into_response(),
        (_, cookies) => browser::logout_browser(state, client, origin, cookies, uri, body).await,
    }
}

/// The OpenAPI 3.1 document of this service.
#[derive(OpenApi)]
#[openapi(
    info(title = "jwtauth", description = "The classic FastAPI + JWT login service, as jwtauth serve (SPEC §9). \
Browser apps on the origins of the `cors_allowed_origins` setting may call `POST /token`, `GET /userinfo`, `GET /sessions`, `DELETE /sessions/{sid}`, \
`DELETE /logout` and `POST /revoke` (CORS, preflight answered, no credentials mode); by default no origin is allowed."),
    paths(token::token, resource::protected, resource::userinfo, resource::logout, token::revoke,
        token::introspect, discovery::jwks, discovery::metadata, ops::healthz, ops::metrics, openapi,
        gate::auth, gate::auth_forward, browser::login_page, browser::login_submit,
        logout_post, sessions::list, sessions::end),
    components(schemas(error::ErrorBody, token::TokenRequest, token::TokenResponse, resource::Protected,
        resource::UserInfo, resource::Message, token::TokenForm, browser::LoginForm,
        browser::LogoutForm, sessions::SessionList, sessions::SessionInfo, sessions::SessionClient,
        sessions::Cli,        sessions::SessionEnded)),
    modifiers(&BearerScheme),
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new(crate::tokens::SESSION_COOKIE),
            )),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json",
    responses((status = 200, description = "This document", body = Object)))]
async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(doc) => ([(header::CONTENT_TYPE, "application/json")], doc).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
