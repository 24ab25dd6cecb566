//! The browser's sign-in (SPEC §9, §15): the login page (`GET/POST /login`, one HTML form,
//! the session cookie and the device cookie) and the browser logout (`POST /logout`).
//!
//! Cross-site request forgery: the cookie is `SameSite=Lax`, so a cross-site form post never
//! carries it (a forged `POST /logout` revokes nothing); and `POST /login` and `POST /logout`
//! refuse (403) a request whose `Origin` is not exactly this server's (scheme, host and port,
//! RFC 6454), or which, without `Origin`, has a `Sec-Fetch-Site` other than `same-origin`
//! ([`OwnOrigin::cross_origin`], SPEC §15), so no other origin — not even a sibling subdomain
//! or another port of this host — can log a visitor in under the attacker's account (login
//! CSRF). Browsers without those headers (text browsers) are served as before.
//!
//! A `Secure` cookie set over plain HTTP for a browser on another machine is dropped by the
//! browser, which then loops back to the login page (SPEC §15): the page says so, the sign-in
//! answers a page with the reason and the fix instead of the 303, and the log warns once.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use super::calls::{self, Checking};
use super::error::{ApiError, log_unavailable};
use super::extract::{ClientAddr, OwnOrigin, SessionCookies, query};
use super::login::{LoginFailure, sign_in};
use super::{App, throttle};
use crate::error::Error;
use crate::tokens::SESSION_COOKIE;

/// The one message of a refused browser login, whatever the cause.
const REFUSED: &str = "Incorrect username or password.";

/// What the page says when its `Secure` cookie will be dropped (SPEC §15).
const DROPPED_COOKIE: &str = "This page was reached over plain HTTP, so your browser will drop \
the session cookie (it is marked Secure) and you will be asked to sign in again. To fix it, serve \
this site over HTTPS: end TLS at the reverse proxy and have it send X-Forwarded-Proto: https. \
For development only, set cookie_secure = false in the [serve] configuration.";

/// Whether the session cookie set in answer to this request will be dropped: it is `Secure`
/// (`cookie_secure`, the default), the browser reached us over plain HTTP (no trusted
/// `X-Forwarded-Proto: https`) and is not on this machine (browsers keep `Secure` cookies
/// from `http://localhost`). The first time, the log says so (once per process).
fn cookie_dropped(app: &App, origin: &OwnOrigin, client: IpAddr) -> bool {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let dropped =
        app.opts().cookie_secure && !origin.https() && !client.to_canonical().is_loopback();
    if dropped && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            target: "jwtauth::serve",
            "a Secure session cookie is set over plain HTTP for a remote browser, which will drop it: end TLS at the proxy (with X-Forwarded-Proto: https, from a trusted_proxies address), or set cookie_secure = false for development",
        );
    }
    dropped
}

/// `Set-Cookie` for the session: `Max-Age` seconds, 0 to clear it.
fn set_cookie(app: &App, value: &str, max_age: i64) -> Option<HeaderValue> {
    let mut c =
        format!("{SESSION_COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax");
    if app.opts().cookie_secure {
        c.push_str("; Secure");
    }
    if let Some(d) = &app.opts().cookie_domain {
        c.push_str("; Domain=");
        c.push_str(d);
    }
    HeaderValue::from_str(&c).ok()
}

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
background:#fdecee;border-radius:4px}\
.notice{padding:.6rem .8rem;border:1px solid #8a5a00;border-left-width:4px;color:#5c3c00;\
background:#fff6e0;border-radius:4px}";

/// The login page as an answer: one form, the one error message when there is one, no
/// scripts, no external assets; `Retry-After` when there is a wait.
struct Page<'a> {
    status: StatusCode,
    /// Where to go after signing in (already checked).
    rd: &'a str,
    /// The name to fill in again.
    username: &'a str,
    error: Option<&'static str>,
    /// A note for the operator's sake (the cookie will be dropped), above the form.
    notice: Option<&'static str>,
    retry_after: Option<u64>,
}

impl<'a> Page<'a> {
    fn new(
        status: StatusCode,
        rd: &'a str,
        username: &'a str,
        error: Option<&'static str>,
    ) -> Self {
        Page {
            status,
            rd,
            username,
            error,
            notice: None,
            retry_after: None,
        }
    }

    /// The page with `notice` above the form.
    fn notice(self, notice: &'static str) -> Self {
        Page {
            notice: Some(notice),
            ..self
        }
    }

    /// The page with `Retry-After: secs`.
    fn retry_after(self, secs: u64) -> Self {
        Page {
            retry_after: Some(secs),
            ..self
        }
    }

    /// The service is busy (or cannot reach its data): try again in a second.
    fn busy(rd: &'a str, username: &'a str) -> Self {
        Page::new(
            StatusCode::SERVICE_UNAVAILABLE,
            rd,
            username,
            Some("The service is busy. Try again shortly."),
        )
        .retry_after(1)
    }
}

impl IntoResponse for Page<'_> {
    fn into_response(self) -> Response {
        let Page {
            status,
            rd,
            username,
            error,
            notice,
            retry_after,
        } = self;
        let notice_html = notice.map_or(String::new(), |n| {
            format!(
                "<p class=\"notice\" id=\"login-notice\" role=\"status\">{}</p>\n",
                html_escape(n)
            )
        });
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
    </head>\n<body>\n<main>\n<h1>Sign in</h1>\n{notice_html}{error_html}\
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
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
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

#[utoipa::path(get, path = "/login", tag = "forward", params(RdQuery),
    responses((status = 200, description = "The login page", body = String, content_type = "text/html")))]
pub(super) async fn login_page(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    origin: OwnOrigin,
    uri: Uri,
) -> Response {
    let rd = query::<RdQuery>(&uri)
        .and_then(|q| q.rd)
        .unwrap_or_default();
    let rd = origin.safe_redirect(&rd, &app.opts().allowed_redirect_hosts);
    let page = Page::new(StatusCode::OK, &rd, "", None);
    if cookie_dropped(&app, &origin, client) {
        page.notice(DROPPED_COOKIE).into_response()
    } else {
        page.into_response()
    }
}

/// The answer to a sign-in whose cookie the browser will drop ([`cookie_dropped`]): instead
/// of a 303 back into the app (which would send the browser to the login page again, with no
/// explanation), a page that says why and how to fix it, with a link to go on. The cookies
/// are still set: a browser that did reach us over HTTPS keeps them.
fn dropped_cookie_page(rd: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
    <meta name=\"robots\" content=\"noindex\">\n<title>Signed in over plain HTTP</title>\n\
    <style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Signed in over plain HTTP</h1>\n\
    <p class=\"notice\" id=\"login-notice\" role=\"alert\">{notice}</p>\n\
    <p><a href=\"{rd}\">Continue</a></p>\n</main>\n</body>\n</html>\n",
        notice = html_escape(DROPPED_COOKIE),
        rd = html_escape(rd),
    );
    let mut res = (StatusCode::OK, body).into_response();
    page_headers(res.headers_mut());
    res
}

#[utoipa::path(post, path = "/login", tag = "forward", params(RdQuery),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in, but over plain HTTP from a remote browser while the cookie is `Secure`: a page saying the browser will drop the cookie and how to fix it (TLS at the proxy, or `cookie_secure = false`), with a link to `rd`", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: the session cookie is set; to `rd` (if allowed) or `/`"),
        (status = 400, description = "Refused (unknown user, wrong password, disabled user, malformed form): the page again with one message", body = String, content_type = "text/html"),
        (status = 403, description = "A cross-site form post", body = String, content_type = "text/html"),
        (status = 429, description = "Too many failed logins", body = String, content_type = "text/html"),
        (status = 503, description = "Busy or unavailable", body = String, content_type = "text/html"),
    ))]
pub(super) async fn login_submit(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    origin: OwnOrigin,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let opts = app.opts();
    let form: Option<LoginForm> = serde_urlencoded::from_bytes(&body).ok();
    let rd = form
        .as_ref()
        .and_then(|f| f.rd.clone())
        .or_else(|| query::<RdQuery>(&uri).and_then(|q| q.rd))
        .unwrap_or_default();
    let rd = origin.safe_redirect(&rd, &opts.allowed_redirect_hosts);
    if origin.cross_origin() {
        return Page::new(
            StatusCode::FORBIDDEN,
            &rd,
            "",
            Some("This sign-in form was sent from another site."),
        )
        .into_response();
    }
    let Some(LoginForm {
        username: Some(name),
        password: Some(password),
        ..
    }) = form
    else {
        return Page::new(StatusCode::BAD_REQUEST, &rd, "", Some(REFUSED)).into_response();
    };
    let password = Zeroizing::new(password);
    let device = throttle::device_value(opts.cookie_secure, &headers, &body);
    let agent = super::extract::user_agent(&headers);
    match sign_in(&app, "/login", &name, password, client, agent, device).await {
        Ok(signed) => {
            let cookie = set_cookie(&app, &signed.token, signed.expires_in);
            let mut res = if cookie_dropped(&app, &origin, client) {
                let mut res = dropped_cookie_page(&rd);
                if let Some(c) = cookie {
                    res.headers_mut().insert(header::SET_COOKIE, c);
                }
                res
            } else {
                see_other(&rd, cookie)
            };
            if let Some(c) = throttle::device_set_cookie(opts.cookie_secure, &signed.device) {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Err(LoginFailure::Throttled(wait)) => Page::new(
            StatusCode::TOO_MANY_REQUESTS,
            &rd,
            &name,
            Some("Too many failed sign-ins. Try again later."),
        )
        .retry_after(wait.as_secs().max(1))
        .into_response(),
        Err(LoginFailure::Refused) => {
            Page::new(StatusCode::BAD_REQUEST, &rd, &name, Some(REFUSED)).into_response()
        }
        Err(LoginFailure::Busy) => Page::busy(&rd, &name).into_response(),
        Err(LoginFailure::Unavailable(e)) => {
            log_unavailable(&e);
            Page::busy(&rd, &name).into_response()
        }
    }
}

/// The browser's `POST /logout` (`router::logout_post` documents the route): the session
/// cookie's token revoked, the cookie cleared, 303.
pub(super) async fn logout_browser(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    origin: OwnOrigin,
    cookies: Option<SessionCookies>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let opts = app.opts();
    let rd = serde_urlencoded::from_bytes::<LogoutForm>(&body)
        .ok()
        .and_then(|f| f.rd)
        .or_else(|| query::<RdQuery>(&uri).and_then(|q| q.rd))
        .filter(|rd| !rd.is_empty())
        .map_or_else(
            || "/login".to_string(),
            |rd| origin.safe_redirect(&rd, &opts.allowed_redirect_hosts),
        );
    if origin.cross_origin() {
        return Page::new(
            StatusCode::FORBIDDEN,
            "",
            "",
            Some("This sign-out form was sent from another site."),
        )
        .into_response();
    }
    if let Some(SessionCookies(tokens)) = cookies {
        // Every valid session among the cookies ends (SPEC §15); a token that does not verify
        // (forged, expired, already revoked) has nothing to revoke.
        let valid = match calls::off_worker(&app, move |app| {
            calls::sessions(app, Checking::AnyAudience, &tokens)
        })
        .await
        {
            Ok((valid, _)) => valid,
            Err(e) => return ApiError::Unavailable(e).into_response(),
        };
        for (v, _) in valid {
            match calls::end(&app, v, "/logout", client).await {
                Ok(()) | Err(Error::Token(_)) => {}
                Err(e) => return ApiError::Unavailable(e).into_response(),
            }
        }
    }
    see_other(&rd, set_cookie(&app, "", 0))
}
