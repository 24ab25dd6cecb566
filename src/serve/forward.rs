//! Forward-auth and the browser login (SPEC §9): `GET /auth` for nginx `auth_request`,
//! `GET /auth/forward` for Traefik ForwardAuth and Caddy `forward_auth`, the login page
//! (`GET/POST /login`), the browser logout (`POST /logout`), the session cookie, and the rule
//! for where a browser may be sent afterwards (`rd`).
//!
//! Identity comes only from a verified token (bearer header or session cookie): `Remote-*`
//! headers a client sends are never read. `X-Forwarded-*` headers are read only from a
//! trusted proxy.
//!
//! Cross-site request forgery: the cookie is `SameSite=Lax`, so a cross-site form post never
//! carries it (a forged `POST /logout` revokes nothing); and `POST /login` and `POST /logout`
//! refuse (403) a request whose `Origin` (or, without it, `Sec-Fetch-Site: cross-site`) says it
//! came from a page on another site, so no site can log a visitor in under the attacker's
//! account (login CSRF). Browsers without those headers (text browsers) are served as before.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use super::api::{
    self, Checking, api_error, check, client_ip, revoke_verified, token_failure, unauthorized,
    unavailable,
};
use super::metrics::Login;
use super::{App, throttle};
use crate::error::Error;

type Shared = State<Arc<App>>;

/// The session cookie's name (SPEC §9).
pub const COOKIE: &str = "jwtauth_session";
/// The longest `rd` taken; longer ones go to `/`.
const MAX_RD: usize = 4096;
/// The one message of a refused browser login, whatever the cause.
const REFUSED: &str = "Incorrect username or password.";

// ----- where a browser may be sent ----------------------------------------------------------

/// `rd` if it is a safe place to send a browser, else `/`: a path on this host (not `//…`,
/// not `/\…`, also once percent-decoded), or an `http(s)://` URL without user-info whose host
/// is `own_host` or listed in `allowed` (a host, or `.domain` for the domain and every
/// subdomain). Anything with whitespace, control, non-ASCII or backslash characters, an
/// encoded one of those, another scheme (`javascript:`, `https:evil`), a trailing dot or a
/// port that is not digits goes to `/`.
pub fn safe_redirect(rd: &str, own_host: Option<&str>, allowed: &[String]) -> String {
    if is_safe(rd, own_host, allowed) {
        rd.to_string()
    } else {
        "/".to_string()
    }
}

fn is_safe(rd: &str, own_host: Option<&str>, allowed: &[String]) -> bool {
    if rd.is_empty() || rd.len() > MAX_RD || !rd.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let Some(decoded) = percent_decode(rd) else {
        return false;
    };
    // Backslashes are slashes to browsers; some strip control characters.
    if decoded.iter().any(|b| b.is_ascii_control() || *b == b'\\') {
        return false;
    }
    if rd.starts_with('/') {
        return !rd.starts_with("//") && !decoded.starts_with(b"//");
    }
    let rest = ["https://", "http://"].iter().find_map(|scheme| {
        rd.get(..scheme.len())
            .filter(|p| p.eq_ignore_ascii_case(scheme))
            .map(|_| &rd[scheme.len()..])
    });
    let Some(rest) = rest else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains(['@', '%']) {
        return false;
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return false,
        None => authority,
    };
    host_allowed(host, own_host, allowed)
}

/// Whether `host` (no port) is the own host or an allowed one, compared case-insensitively.
fn host_allowed(host: &str, own_host: Option<&str>, allowed: &[String]) -> bool {
    let valid = !host.is_empty()
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-'])
        && !host.contains("..")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !valid {
        return false;
    }
    let host = host.to_ascii_lowercase();
    if own_host.is_some_and(|own| strip_port(own).eq_ignore_ascii_case(&host)) {
        return true;
    }
    allowed.iter().any(|a| match a.strip_prefix('.') {
        Some(domain) => {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        }
        None => host == *a,
    })
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// Percent-decodes once; `None` for a broken escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    // A `%` not followed by two hex digits is refused rather than kept as it is.
    let well_formed = s.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_encoding::percent_decode_str(s).collect())
}

// ----- the request's origin -----------------------------------------------------------------

fn peer_trusted(app: &App, peer: IpAddr) -> bool {
    app.opts().trusted_proxies.iter().any(|c| c.contains(peer))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A host header value worth using: ASCII host characters and an optional port.
fn sane_host(h: &str) -> Option<&str> {
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then_some(h)
}

/// The host the browser asked for: `X-Forwarded-Host` from a trusted proxy, else `Host`.
fn own_host<'a>(app: &App, peer: IpAddr, headers: &'a HeaderMap) -> Option<&'a str> {
    let forwarded = peer_trusted(app, peer)
        .then(|| header_str(headers, "x-forwarded-host"))
        .flatten()
        .map(|h| h.split(',').next().unwrap_or("").trim());
    forwarded
        .or_else(|| header_str(headers, "host"))
        .and_then(sane_host)
}

/// Whether a form post came from a page of another site (login CSRF): its `Origin` names a
/// host that is neither this one nor an allowed one, or, without `Origin`,
/// `Sec-Fetch-Site: cross-site`.
fn cross_site(app: &App, peer: IpAddr, headers: &HeaderMap) -> bool {
    let own = own_host(app, peer, headers);
    match headers.get(header::ORIGIN).map(|v| v.to_str().ok()) {
        Some(Some(origin)) => {
            let origin = origin.trim();
            let host = ["https://", "http://"].iter().find_map(|s| {
                origin
                    .get(..s.len())
                    .filter(|p| p.eq_ignore_ascii_case(s))
                    .map(|_| &origin[s.len()..])
            });
            match host {
                Some(h) => !host_allowed(strip_port(h), own, &app.opts().allowed_redirect_hosts),
                // `Origin: null` (a sandboxed or privacy-sensitive context) and the like.
                None => true,
            }
        }
        Some(None) => true,
        None => header_str(headers, "sec-fetch-site") == Some("cross-site"),
    }
}

// ----- the session cookie -------------------------------------------------------------------

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let value = pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"=")?;
            std::str::from_utf8(value.trim_ascii()).ok()
        })
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for the session: `Max-Age` seconds, 0 to clear it.
fn set_cookie(app: &App, value: &str, max_age: i64) -> Option<HeaderValue> {
    let mut c = format!("{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax");
    if app.opts().cookie_secure {
        c.push_str("; Secure");
    }
    if let Some(d) = &app.opts().cookie_domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    HeaderValue::from_str(&c).ok()
}

// ----- GET /auth, GET /auth/forward ---------------------------------------------------------

/// `?group=G`: the group the user must be in.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// A group the token's `groups` claim must contain (else 403).
    group: Option<String>,
}

/// The query string as a form, or `None` when it is not one.
fn query<T: for<'de> Deserialize<'de>>(uri: &Uri) -> Option<T> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).ok()
}

enum Check {
    /// The identity headers to answer 200 with.
    Allowed(Response),
    /// 401: no token, or a token that does not pass.
    Unauthorized(Response),
    /// 403, 400 or 503: answered as is.
    Other(Response),
}

/// `forward_check`, off the async workers when the stores are remote (see `off_worker`).
async fn forward_check_off(app: &Arc<App>, uri: &Uri, headers: &HeaderMap) -> Check {
    if !app.remote {
        return forward_check(app, uri, headers);
    }
    let (uri, headers) = (uri.clone(), headers.clone());
    super::api::off_worker(
        app,
        move |app| forward_check(app, &uri, &headers),
        |e| Check::Other(unavailable(&e)),
    )
    .await
}

fn forward_check(app: &App, uri: &Uri, headers: &HeaderMap) -> Check {
    let Some(q) = query::<GroupQuery>(uri) else {
        return Check::Other(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the query string is malformed",
        ));
    };
    let Some(token) = api::bearer(headers).or_else(|| session_cookie(headers)) else {
        return Check::Unauthorized(unauthorized(false, ""));
    };
    let mut claims = Value::Null;
    let v = match check(app, Checking::Access, token, Some(&mut claims)) {
        Ok(v) => v,
        Err(Error::Token(e)) => return Check::Unauthorized(unauthorized(true, token_failure(&e))),
        Err(e) => return Check::Other(unavailable(&e)),
    };
    let sub = v.sub.unwrap_or_default();
    let who = match super::identity::lookup(app.users.as_ref(), &sub) {
        Ok(Some(who)) if !who.disabled => who,
        Ok(_) => {
            return Check::Unauthorized(unauthorized(
                true,
                "the token's user does not exist or is disabled",
            ));
        }
        Err(e) => return Check::Other(unavailable(&e)),
    };
    let groups: Vec<&str> = claims
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(g) = q.group.as_deref()
        && !groups.contains(&g)
    {
        let mut res = api_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the user is not in the required group",
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
        );
        return Check::Other(res);
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
    Check::Allowed(res)
}

#[utoipa::path(get, path = "/auth", params(GroupQuery), security((), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The token or session is valid: `Remote-User`, `Remote-Name`, `Remote-Email`, `Remote-Groups` headers"),
        (status = 400, description = "Malformed query", body = api::ApiError),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = api::ApiError),
        (status = 403, description = "Not in the required group", body = api::ApiError),
        (status = 503, description = "Unavailable", body = api::ApiError),
    ))]
pub async fn auth(State(app): Shared, uri: Uri, headers: HeaderMap) -> Response {
    match forward_check_off(&app, &uri, &headers).await {
        Check::Allowed(r) | Check::Unauthorized(r) | Check::Other(r) => r,
    }
}

#[utoipa::path(get, path = "/auth/forward", params(GroupQuery), security((), ("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The token or session is valid: `Remote-User`, `Remote-Name`, `Remote-Email`, `Remote-Groups` headers"),
        (status = 302, description = "A browser without a valid session, through a trusted proxy: to the login page with `rd`"),
        (status = 400, description = "Malformed query", body = api::ApiError),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = api::ApiError),
        (status = 403, description = "Not in the required group", body = api::ApiError),
        (status = 503, description = "Unavailable", body = api::ApiError),
    ))]
pub async fn auth_forward(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match forward_check_off(&app, &uri, &headers).await {
        Check::Unauthorized(r) => login_redirect(&app, peer.ip(), &headers).unwrap_or(r),
        Check::Allowed(r) | Check::Other(r) => r,
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

// ----- the login page -----------------------------------------------------------------------

/// `?rd=URL`: where to go after signing in.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RdQuery {
    /// Where to go afterwards: a path on this host or a URL on an allowed host (else `/`).
    rd: Option<String>,
}

/// The login form.
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    /// Where to go afterwards (as `?rd=`).
    rd: Option<String>,
}

/// The logout form.
#[derive(Deserialize, ToSchema)]
pub struct LogoutForm {
    /// Where to go afterwards (else `/login`).
    rd: Option<String>,
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:22rem;\
margin:4rem auto;padding:0 1rem;color:#111;background:#fff;line-height:1.4}\
h1{font-size:1.5rem;margin-bottom:1.5rem}\
label{display:block;margin-top:1rem;font-weight:600}\
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;\
font-size:1rem;border:1px solid #555;border-radius:4px}\
button{margin-top:1.5rem;width:100%;padding:.6rem;font-size:1rem;font-weight:600;\
background:#1747b8;color:#fff;border:0;border-radius:4px;cursor:pointer}\
input:focus-visible,button:focus-visible{outline:3px solid #e8a200;outline-offset:2px}\
.error{padding:.6rem .8rem;border:1px solid #b00020;border-left-width:4px;color:#8a0019;\
background:#fdecee;border-radius:4px}";

/// The login page: one form, the one error message when there is one, no scripts, no
/// external assets.
fn page(status: StatusCode, rd: &str, username: &str, error: Option<&str>) -> Response {
    let error_html = error.map_or(String::new(), |e| {
        format!(
            "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>\n",
            html_escape(e)
        )
    });
    let described = if error.is_some() {
        " aria-describedby=\"login-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"robots\" content=\"noindex\">\n<title>Sign in</title>\n<style>{STYLE}</style>\n\
</head>\n<body>\n<main>\n<h1>Sign in</h1>\n{error_html}\
<form method=\"post\" action=\"/login\">\n\
<input type=\"hidden\" name=\"rd\" value=\"{rd}\">\n\
<label for=\"username\">Username</label>\n\
<input id=\"username\" name=\"username\" type=\"text\" value=\"{username}\" autocomplete=\"username\" \
autocapitalize=\"none\" spellcheck=\"false\" required{focus_user}{described}>\n\
<label for=\"password\">Password</label>\n\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{focus_password}{described}>\n\
<button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n",
        rd = html_escape(rd),
        username = html_escape(username),
        // After a refusal the name is kept and the password is what to type again.
        focus_user = if username.is_empty() {
            " autofocus"
        } else {
            ""
        },
        focus_password = if username.is_empty() {
            ""
        } else {
            " autofocus"
        },
    );
    let mut res = (status, body).into_response();
    page_headers(res.headers_mut());
    res
}

/// No caching (the back button must not show a signed-in page again), no framing
/// (clickjacking), no scripts, no external anything.
fn page_headers(h: &mut HeaderMap) {
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// A 303 to `location` (already checked), with `Set-Cookie` when given.
fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    if let Some(c) = cookie {
        h.insert(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(get, path = "/login", params(RdQuery),
    responses((status = 200, description = "The login page", body = String, content_type = "text/html")))]
pub async fn login_page(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let rd = query::<RdQuery>(&uri)
        .and_then(|q| q.rd)
        .unwrap_or_default();
    let own = own_host(&app, peer.ip(), &headers);
    let rd = safe_redirect(&rd, own, &app.opts().allowed_redirect_hosts);
    page(StatusCode::OK, &rd, "", None)
}

#[utoipa::path(post, path = "/login", params(RdQuery),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the session cookie is set; to `rd` (if allowed) or `/`"),
        (status = 400, description = "Refused (unknown user, wrong password, disabled user, malformed form): the page again with one message", body = String, content_type = "text/html"),
        (status = 403, description = "A cross-site form post", body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed logins", body = String, content_type = "text/html"),
        (status = 503, description = "Busy or unavailable", body = String, content_type = "text/html"),
    ))]
pub async fn login_submit(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let own = own_host(&app, peer.ip(), &headers);
    let form: Option<LoginForm> = serde_urlencoded::from_bytes(&body).ok();
    let rd = form
        .as_ref()
        .and_then(|f| f.rd.clone())
        .or_else(|| query::<RdQuery>(&uri).and_then(|q| q.rd))
        .unwrap_or_default();
    let rd = safe_redirect(&rd, own, &app.opts().allowed_redirect_hosts);
    if cross_site(&app, peer.ip(), &headers) {
        return page(
            StatusCode::FORBIDDEN,
            &rd,
            "",
            Some("This sign-in form was sent from another site."),
        );
    }
    let Some(LoginForm {
        username: Some(name),
        password: Some(password),
        ..
    }) = form
    else {
        return page(StatusCode::BAD_REQUEST, &rd, "", Some(REFUSED));
    };
    let password = Zeroizing::new(password);
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
            let mut res = page(
                StatusCode::TOO_MANY_REQUESTS,
                &rd,
                &name,
                Some("Too many failed sign-ins. Try again later."),
            );
            if let Ok(v) = HeaderValue::from_str(&left.as_secs().max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    };
    // ----- end throttle ---------------------------------------------------------------------
    let busy = || {
        let mut res = page(
            StatusCode::SERVICE_UNAVAILABLE,
            &rd,
            &name,
            Some("The service is busy. Try again shortly."),
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    };
    let Some(ticket) = app.hashing.admit() else {
        app.throttle.end(check, true, app.clock.now());
        app.metrics.login(Login::Busy);
        return busy();
    };
    let worker = app.clone();
    let who = name.clone();
    let issued = app
        .hashing
        .run(ticket, move || api::issue(&worker, &who, password))
        .await;
    let refused = matches!(
        issued,
        Some(Err(Error::LoginRefused | Error::Invalid { .. }))
    );
    app.throttle.end(check, !refused, app.clock.now());
    match issued {
        Some(Ok(t)) => {
            app.metrics.login(Login::Success);
            let mut res = see_other(&rd, set_cookie(&app, &t.access_token, t.expires_in));
            let device = app.throttle.new_device(&name, app.clock.now());
            if let Some(c) = throttle::device_set_cookie(app.opts().cookie_secure, &device) {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Some(Err(Error::LoginRefused | Error::Invalid { .. })) => {
            app.metrics.login(Login::Refused);
            page(StatusCode::BAD_REQUEST, &rd, &name, Some(REFUSED))
        }
        Some(Err(e)) => {
            let _ = unavailable(&e);
            busy()
        }
        None => busy(),
    }
}

#[utoipa::path(post, path = "/logout", params(RdQuery),
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "The session's token is revoked and the cookie cleared; to `rd` (if allowed) or `/login`"),
        (status = 403, description = "A cross-site form post", body = String, content_type = "text/html"),
        (status = 503, description = "Unavailable: nothing was revoked", body = api::ApiError),
    ))]
pub async fn logout_browser(
    State(app): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let own = own_host(&app, peer.ip(), &headers);
    let rd = serde_urlencoded::from_bytes::<LogoutForm>(&body)
        .ok()
        .and_then(|f| f.rd)
        .or_else(|| query::<RdQuery>(&uri).and_then(|q| q.rd))
        .filter(|rd| !rd.is_empty())
        .map_or_else(
            || "/login".to_string(),
            |rd| safe_redirect(&rd, own, &app.opts().allowed_redirect_hosts),
        );
    if cross_site(&app, peer.ip(), &headers) {
        return page(
            StatusCode::FORBIDDEN,
            "",
            "",
            Some("This sign-out form was sent from another site."),
        );
    }
    if let Some(token) = session_cookie(&headers).map(str::to_string) {
        // A token that does not verify (forged, expired, already revoked) has nothing to revoke.
        let checked = super::api::off_worker(
            &app,
            move |app| check(app, Checking::AnyAudience, &token, None),
            Err,
        )
        .await;
        match checked {
            Ok(v) => match revoke_verified(&app, v).await {
                Ok(()) | Err(Error::Token(_)) => {}
                Err(e) => return unavailable(&e),
            },
            Err(Error::Token(_)) => {}
            Err(e) => return unavailable(&e),
        }
    }
    see_other(&rd, set_cookie(&app, "", 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_allowed_hosts() {
        let allowed = vec!["app.example.com".to_string(), ".corp.example".to_string()];
        let own = Some("auth.example.com:8443");
        let ok = [
            "/",
            "/app?x=1&y=%20",
            "https://auth.example.com/x",
            "http://AUTH.example.com:80/",
            "https://app.example.com",
            "https://wiki.corp.example/page#top",
            "https://corp.example/",
        ];
        for rd in ok {
            assert_eq!(safe_redirect(rd, own, &allowed), rd, "{rd}");
        }
        let bad = [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https:evil.example",
            "https:/evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "%2F%2Fevil.example",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "https://app.example.com@evil.example/",
            "https://evil.example\\@app.example.com/",
            "https://app.example.com.evil.example/",
            "https://evilcorp.example/",
            "https://app.example.com./",
            "https://app.example.com:x/",
            "HTTPS://EVIL.EXAMPLE/",
            " /x",
            "/x y",
            "/\tx",
            "https://аpp.example.com/",
            "https://xn--pp-8cd.example.com.evil/",
            "https://%65vil.example/",
            "ftp://app.example.com/",
            "/%zz",
        ];
        for rd in bad {
            assert_eq!(safe_redirect(rd, own, &allowed), "/", "{rd:?}");
        }
        assert_eq!(safe_redirect(&"/a".repeat(5000), own, &allowed), "/");
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; jwtauth_session=tok; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("tok"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xjwtauth_session=no"),
        );
        assert_eq!(session_cookie(&h), None);
    }
}
