//! CORS (SPEC §15): browser apps on the origins of `cors_allowed_origins` may call the bearer
//! endpoints — `POST /token`, `GET /userinfo`, `GET /sessions`, `DELETE /sessions/{sid}`,
//! `DELETE /logout`, `POST /revoke` — from their
//! scripts, preflight included, through `tower-http`'s `CorsLayer`. Tokens travel as bearer
//! tokens, so there is no credentials mode (`Access-Control-Allow-Credentials` is never sent)
//! and the cookie routes (`/login`, `POST /logout`, `/auth`) never get CORS headers. With no
//! origin configured (the default) nothing here adds a header. The list is read per request,
//! so `SIGHUP` changes it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::App;

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The method browser apps may call `path` with, for the routes CORS applies to.
fn cors_method(path: &str) -> Option<Method> {
    match path {
        "/token" | "/revoke" => Some(Method::POST),
        "/userinfo" | "/sessions" => Some(Method::GET),
        "/logout" => Some(Method::DELETE),
        p if p.strip_prefix("/sessions/").is_some_and(|sid| !sid.is_empty()) => {
            Some(Method::DELETE)
        }
        _ => None,
    }
}

/// The CORS answer for one route's method: the request's origin (already checked against the
/// list) echoed, `Authorization` and `Content-Type` allowed, `WWW-Authenticate` and
/// `Retry-After` readable by the script, no credentials.
fn layer(method: Method) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([method])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// The middleware: a request to a CORS route from an allowed origin — its method, or a
/// preflight (`OPTIONS` with `Access-Control-Request-Method`) for it — goes through the
/// `CorsLayer`; any other request passes as it is (a preflight then gets the route's 405),
/// with `Vary: Origin` on the CORS routes while origins are configured, so a cache never
/// serves one origin's answer to another.
pub(super) async fn cors(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(method) = cors_method(req.uri().path()) else {
        return next.run(req).await;
    };
    let opts = app.opts();
    if opts.cors_allowed_origins.is_empty() {
        return next.run(req).await;
    }
    let headers = req.headers();
    let allowed = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| {
            opts.cors_allowed_origins
                .iter()
                .any(|a| a.eq_ignore_ascii_case(o))
        });
    let asked = if req.method() == Method::OPTIONS {
        headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .and_then(|m| m.parse::<Method>().ok())
    } else {
        Some(req.method().clone())
    };
    if !allowed || asked.as_ref() != Some(&method) {
        let mut res = next.run(req).await;
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        return res;
    }
    match layer(method).layer(next).oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}
