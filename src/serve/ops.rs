//! Operations: the per-request log line and metrics count (`observe`, a middleware on every
//! route), `GET /healthz`, `GET /metrics`, and the JSON 404 of every other path.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

use super::calls::off_worker;
use super::error::{ApiError, body as error_body};
use super::{App, metrics};

/// One log line and one metrics count per request; never a header, a query or a body.
pub(super) async fn observe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
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

/// The log lines' timestamp: exactly what `tracing_subscriber`'s `SystemTime` writes (RFC
/// 3339, UTC, microseconds), with the part up to the second formatted by it once a second per
/// thread instead of for every line (about 2,400 instructions of a `GET /protected`).
pub(super) struct LogTime;

thread_local! {
    /// The second last formatted by this thread, and its text up to the `.` of the fraction.
    static LOG_SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for LogTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).ok();
        let Some(now) = since(std::time::SystemTime::now()) else {
            return SystemTime.format_time(w);
        };
        let secs = now.as_secs();
        LOG_SECOND.with(|cached| {
            let Ok(mut cached) = cached.try_borrow_mut() else {
                return SystemTime.format_time(w);
            };
            if cached.0 != secs {
                let mut text = String::new();
                SystemTime.format_time(&mut Writer::new(&mut text))?;
                // Kept only when the formatter's own reading of the clock fell in this second.
                let after = since(std::time::SystemTime::now()).map(|d| d.as_secs());
                match text.rfind('.') {
                    Some(dot) if after == Some(secs) && text.len() == dot + 8 => {
                        text.truncate(dot + 1);
                        *cached = (secs, text);
                    }
                    _ => return w.write_str(&text),
                }
            }
            let mut fraction = *b"000000Z";
            let mut micros = now.subsec_micros();
            for d in fraction[..6].iter_mut().rev() {
                *d = b'0' + (micros % 10) as u8;
                micros /= 10;
            }
            w.write_str(&cached.1)?;
            w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
        })
    }
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
    let mut res = error_body(status, error, description);
    // The CORS headers too, so a calling script can read the error.
    for h in [
        header::ALLOW,
        header::RETRY_AFTER,
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::VARY,
    ] {
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

#[utoipa::path(get, path = "/healthz", tag = "api",
    responses(
        (status = 200, description = "The stores are readable", body = String),
        (status = 503, description = "A store is not", body = String),
    ))]
pub(super) async fn healthz(State(app): State<Arc<App>>) -> Response {
    let healthy = off_worker(&app, |app| {
        app.users.typical_scheme()?;
        app.revocations.refresh()?;
        app.revocations.subject_revoked_at("")
    })
    .await;
    match healthy {
        Ok(_) => (StatusCode::OK, "ok").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "api",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics
            .render(app.hashing.queue_depth(), app.hashing.running()),
    )
        .into_response()
}

/// Every path that is not a route.
pub(super) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_time_is_what_tracing_writes() {
        let (mut ours, mut theirs) = (String::new(), String::new());
        for _ in 0..3 {
            ours.clear();
            theirs.clear();
            LogTime.format_time(&mut Writer::new(&mut ours)).unwrap();
            SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            // Read a moment apart: the same second (unless one just ended), the same shape.
            assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
            assert!(ours.ends_with('Z') && ours.as_bytes()[ours.len() - 8] == b'.');
            if ours[..ours.len() - 8] == theirs[..theirs.len() - 8] {
                return;
            }
        }
        panic!("{ours} is not {theirs}");
    }

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
