//! The routes of SPEC §9 with their layers, and the OpenAPI document generated from the
//! handlers of `api` and `forward` (the one module that knows both).

use std::sync::Arc;

use axum::Router;
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

use super::{App, MAX_BODY, REQUEST_TIMEOUT, api, forward};

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

/// Builds the router with its layers: body limit, request timeout, redacted credentials,
/// one log line and one metrics count per request.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/token", post(api::token))
        .route("/protected", get(api::protected))
        .route("/userinfo", get(api::userinfo))
        .route(
            "/logout",
            axum::routing::delete(api::logout).post(forward::logout_browser),
        )
        .route("/auth", get(forward::auth))
        .route("/auth/forward", get(forward::auth_forward))
        .route(
            "/login",
            get(forward::login_page).post(forward::login_submit),
        )
        .route("/revoke", post(api::revoke))
        .route("/introspect", post(api::introspect))
        .route("/.well-known/jwks.json", get(api::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(api::metadata),
        )
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Outside the limits, so their 413 and 408 are logged, counted and made JSON too.
        .layer(middleware::from_fn_with_state(app.clone(), api::observe))
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

/// The OpenAPI 3.1 document of this service.
#[derive(OpenApi)]
#[openapi(
    info(title = "jwtauth", description = "The classic FastAPI + JWT login service, as jwtauth serve (SPEC §9)."),
    paths(api::token, api::protected, api::userinfo, api::logout, api::revoke, api::introspect, api::jwks,
        api::metadata, api::healthz, api::metrics, openapi,
        forward::auth, forward::auth_forward, forward::login_page, forward::login_submit, forward::logout_browser),
    components(schemas(api::ApiError, api::TokenRequest, api::TokenResponse, api::Protected, api::UserInfo,
        api::Message, api::TokenForm,
        forward::LoginForm, forward::LogoutForm)),
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
                utoipa::openapi::security::ApiKeyValue::new(forward::COOKIE),
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
