//! Forward-auth (SPEC §9): `GET /auth` for nginx `auth_request`, `GET /auth/forward` for
//! Traefik ForwardAuth and Caddy `forward_auth` (a browser without a valid session that came
//! through a trusted proxy is sent to the login page instead of a 401).
//!
//! Identity comes only from a verified token (bearer header, else the session cookie):
//! `Remote-*` headers a client sends are never read. `X-Forwarded-*` headers are read only
//! from a trusted proxy.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::App;
use super::calls::{Checking, check, off_worker, session};
use super::error::{ApiError, ErrorBody};
use super::extract::{Bearer, SessionCookies, header_str, peer_trusted, query, sane_host};
use super::redirect::MAX_RD;

/// `?group=G`: the group the user must be in.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// A group the token's `groups` claim must contain (else 403).
    group: Option<String>,
}

/// The token (bearer, else the session cookie) checked, its user looked up, the group
/// required: the 200 with the identity headers, or why not. Reaches the stores: run it
/// through `off_worker`.
fn forward_check(
    app: &App,
    uri: &Uri,
    bearer: Option<String>,
    cookies: &[String],
) -> Result<Response, ApiError> {
    let Some(q) = query::<GroupQuery>(uri) else {
        return Err(ApiError::invalid_request("the query string is malformed"));
    };
    let (v, claims) = match bearer {
        Some(token) => {
            let mut claims = Value::Null;
            let v = check(app, Checking::Access, &token, Some(&mut claims))?;
            (v, claims)
        }
        // Any valid session cookie counts; those of different users count as none.
        None => session(app, Checking::Access, cookies)?.ok_or(ApiError::MissingToken)?,
    };
    let sub = v.sub.unwrap_or_default();
    let who = match super::identity::lookup(app.users.as_ref(), &sub)? {
        Some(who) if !who.disabled => who,
        _ => {
            return Err(ApiError::InvalidToken(
                "the token's user does not exist or is disabled",
            ));
        }
    };
    let groups: Vec<&str> = claims
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(g) = q.group.as_deref()
        && !groups.contains(&g)
    {
        return Err(ApiError::InsufficientScope(
            "the user is not in the required group",
        ));
    }
    // A group name with a comma cannot be told apart in the list: it is left out.
    let groups = groups
        .iter()
        .filter(|g| !g.contains(','))
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    for (name, value) in [
        ("remote-user", sub.as_str()),
        ("remote-name", who.name.as_deref().unwrap_or("")),
        ("remote-email", who.email.as_deref().unwrap_or("")),
        ("remote-groups", groups.as_str()),
    ] {
        // UTF-8 is sent as is (as Authelia does); a value a header cannot carry is empty.
        let value = HeaderValue::from_bytes(value.as_bytes())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        h.insert(HeaderName::from_static(name), value);
    }
    Ok(res)
}

/// [`forward_check`] off the async workers when a store is remote.
async fn forward(
    app: &Arc<App>,
    uri: Uri,
    bearer: Option<Bearer>,
    cookies: Option<SessionCookies>,
) -> Result<Response, ApiError> {
    let bearer = bearer.map(|b| b.0);
    let cookies = cookies.map(|c| c.0).unwrap_or_default();
    off_worker(app, move |app| forward_check(app, &uri, bearer, &cookies)).await
}

#[utoipa::path(get, path = "/auth", tag = "forward", params(GroupQuery), security((), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The token or session is valid: `Remote-User`, `Remote-Name`, `Remote-Email`, `Remote-Groups` headers"),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 403, description = "Not in the required group", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn auth(
    State(app): State<Arc<App>>,
    bearer: Option<Bearer>,
    cookies: Option<SessionCookies>,
    uri: Uri,
) -> Result<Response, ApiError> {
    forward(&app, uri, bearer, cookies).await
}

#[utoipa::path(get, path = "/auth/forward", tag = "forward", params(GroupQuery), security((), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The token or session is valid: `Remote-User`, `Remote-Name`, `Remote-Email`, `Remote-Groups` headers"),
        (status = 302, description = "A browser without a valid session, through a trusted proxy: to the login page with `rd`"),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 403, description = "Not in the required group", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn auth_forward(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    bearer: Option<Bearer>,
    cookies: Option<SessionCookies>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match forward(&app, uri, bearer, cookies).await {
        Ok(res) => res,
        Err(e) if e.is_unauthorized() => match login_redirect(&app, peer.ip(), &headers) {
            Some(res) => res,
            None => e.into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// The 302 to the login page for a browser request that came through a trusted proxy with
/// `X-Forwarded-Proto`, `-Host` and `-Uri`; `None` for anything else.
fn login_redirect(app: &App, peer: IpAddr, headers: &HeaderMap) -> Option<Response> {
    if !peer_trusted(app, peer) {
        return None;
    }
    let browser = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    if !browser {
        return None;
    }
    let proto = header_str(headers, "x-forwarded-proto")?
        .split(',')
        .next()?
        .trim()
        .to_ascii_lowercase();
    if proto != "http" && proto != "https" {
        return None;
    }
    let host = sane_host(
        header_str(headers, "x-forwarded-host")?
            .split(',')
            .next()?
            .trim(),
    )?;
    let path = header_str(headers, "x-forwarded-uri")?;
    if !path.starts_with('/') || path.starts_with("//") || path.len() > MAX_RD {
        return None;
    }
    let original = format!("{proto}://{host}{path}");
    let login = match app.opts().login_url.as_deref() {
        Some(u) if !u.starts_with('/') => u.to_string(),
        Some(p) => format!("{proto}://{host}{p}"),
        None => format!("{proto}://{host}/login"),
    };
    let sep = if login.contains('?') { '&' } else { '?' };
    let rd = serde_urlencoded::to_string([("rd", original.as_str())]).ok()?;
    let location = HeaderValue::from_str(&format!("{login}{sep}{rd}")).ok()?;
    let mut res = StatusCode::FOUND.into_response();
    res.headers_mut().insert(header::LOCATION, location);
    Some(res)
}
