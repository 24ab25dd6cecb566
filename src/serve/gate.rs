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
use super::extract::{Bearer, SessionCookies, header_str, peer_trusted, sane_host};
use super::redirect::MAX_RD;

/// `?group=G&mfa=1`: what the user must have besides a valid token. Any other parameter is
/// ignored (a proxy may pass the app's own query string on), except a near miss of these
/// two ([`near_miss`]), which is a 403.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// A group the token's `groups` claim must contain (else 403).
    group: Option<String>,
    /// Present (any value): a second factor is required, the token's `amr` must hold `otp`
    /// (else 403). No token carries it yet (TOTP is not built), so today this is always 403:
    /// failing closed.
    mfa: Option<String>,
}

/// The parameters `/auth` and `/auth/forward` know.
const KNOWN: [&str; 2] = ["group", "mfa"];

/// Whether a query parameter's name is a near miss of a known one (SPEC §15): not exactly
/// `group` or `mfa`, but that once lower-cased, with every character that is not an ASCII
/// letter dropped (`[]`, `_`, `-`, digits, spaces) and then one trailing `s`: `groups`,
/// `Group`, `GROUPS`, `group[]`, `_group`, `mfas`, `MFA`. A name with other letters around
/// (`subgroup`, `groupby`, `xgroup`) is another word, and is ignored as unknown.
pub(super) fn near_miss(name: &str) -> bool {
    if KNOWN.contains(&name) {
        return false;
    }
    let letters: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let stem = letters.strip_suffix('s').unwrap_or(&letters);
    KNOWN.contains(&letters.as_str()) || KNOWN.contains(&stem)
}

/// The query of a forward-auth request: the known parameters, or a 400 when it is not a form
/// or names one twice, or a 403 for a near miss (with an error line naming it, so the
/// operator finds the typo: a misspelt `group` must never skip the group check).
fn forward_query(uri: &Uri) -> Result<GroupQuery, ApiError> {
    let malformed = || ApiError::invalid_request("the query string is malformed");
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).map_err(|_| malformed())?;
    let mut q = GroupQuery {
        group: None,
        mfa: None,
    };
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "group" => &mut q.group,
            "mfa" => &mut q.mfa,
            other if near_miss(other) => {
                let shown: String = other.chars().take(64).collect();
                tracing::error!(
                    target: "jwtauth::serve",
                    parameter = %shown.escape_debug(),
                    "forward-auth refused a query parameter that looks like a misspelt 'group' or 'mfa'; fix the proxy's auth URL",
                );
                return Err(ApiError::Forbidden(
                    "a query parameter looks like a misspelt 'group' or 'mfa'; see the service's log",
                ));
            }
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(malformed());
        }
    }
    Ok(q)
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
    let q = forward_query(uri)?;
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
    // `?mfa`: a second factor (`amr` with `otp`, RFC 8176). Sessions without one get 403.
    if q.mfa.is_some()
        && !claims
            .get("amr")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("otp")))
    {
        return Err(ApiError::InsufficientScope("a second factor is required"));
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
        (status = 400, description = "Malformed query, or `group`/`mfa` given twice", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 403, description = "Not in the required group (`insufficient_scope`), no second factor for `mfa` (`insufficient_scope`; always, until sessions carry one), or a query parameter that is a near miss of `group`/`mfa` such as `groups` or `Group` (`invalid_request`, logged)", body = ErrorBody),
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
        (status = 400, description = "Malformed query, or `group`/`mfa` given twice", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 403, description = "Not in the required group (`insufficient_scope`), no second factor for `mfa` (`insufficient_scope`; always, until sessions carry one), or a query parameter that is a near miss of `group`/`mfa` such as `groups` or `Group` (`invalid_request`, logged)", body = ErrorBody),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_of_group_and_mfa_are_told_from_other_words() {
        for name in [
            "groups", "Group", "GROUPS", "group[]", "groups[]", "_group", "group_", "group1",
            "g-roup", " group ", "Groups", "mfas", "MFA", "Mfa", "mfa[]", "m.f.a",
        ] {
            assert!(near_miss(name), "{name:?}");
        }
        for name in [
            "group", "mfa", "subgroup", "groupby", "xgroup", "grp", "page", "rd", "", "s", "gróup",
            "mfax", "amfa",
        ] {
            assert!(!near_miss(name), "{name:?}");
        }
    }

    #[test]
    fn the_query_takes_the_known_parameters_once() {
        let q = |s: &str| forward_query(&s.parse::<Uri>().unwrap());
        let ok = q("/auth?group=admins&page=2&mfa=1").ok().unwrap();
        assert_eq!(ok.group.as_deref(), Some("admins"));
        assert_eq!(ok.mfa.as_deref(), Some("1"));
        assert!(matches!(
            q("/auth?group=a&group=b"),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(q("/auth?groups=a"), Err(ApiError::Forbidden(_))));
        assert!(matches!(
            q("/auth?group%5B%5D=a"),
            Err(ApiError::Forbidden(_))
        ));
        assert!(q("/auth").is_ok());
    }
}
