//! What a request carries, as axum extractors over the shared [`App`]: the bearer token
//! ([`Bearer`]), the session cookie ([`SessionCookie`]), the client's address behind trusted
//! proxies ([`ClientAddr`]) and the server's own origin with where a form post came from
//! ([`OwnOrigin`]). Each reads headers only; checking a token is the handler's call into the
//! core.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Uri, header};
use serde::Deserialize;

use super::error::ApiError;
use super::redirect::safe_redirect;
use super::{App, net};
use crate::tokens::SESSION_COOKIE;

/// The `Authorization: Bearer <token>` of a request (the scheme in any case). Required: its
/// rejection is the 401 with the bare `Bearer` challenge; `Option<Bearer>` when a request may
/// come without one.
#[derive(Debug)]
pub(super) struct Bearer(pub String);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<Arc<App>> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<App>) -> Result<Self, ApiError> {
        bearer(&parts.headers)
            .map(|t| Bearer(t.to_string()))
            .ok_or(ApiError::MissingToken)
    }
}

impl OptionalFromRequestParts<Arc<App>> for Bearer {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<App>,
    ) -> Result<Option<Self>, Infallible> {
        Ok(bearer(&parts.headers).map(|t| Bearer(t.to_string())))
    }
}

/// Every `jwtauth_session` cookie's value (a token each), in the order the request's `Cookie`
/// headers give them, as `Option<SessionCookies>` (`None` when there is none that is not
/// empty). Which one counts is the handler's rule (`calls::sessions`, SPEC §15: any valid one,
/// so a junk cookie tossed in first from a sibling subdomain signs no one out). At most
/// [`MAX_SESSION_COOKIES`] are taken: each is a signature check.
#[derive(Debug)]
pub(super) struct SessionCookies(pub Vec<String>);

/// The most `jwtauth_session` values of one request that are looked at.
pub(super) const MAX_SESSION_COOKIES: usize = 16;

/// The first `name` cookie of the request, as text (a value that is not UTF-8 is skipped);
/// `None` when it is empty.
pub(super) fn first_cookie<'a>(headers: &'a HeaderMap, name: &'a str) -> Option<&'a str> {
    all_cookies(headers, name).next().filter(|v| !v.is_empty())
}

/// Every `name` cookie of the request, as text (values that are not UTF-8 are skipped).
fn all_cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| crate::cookies::values(v.as_bytes(), name))
        .filter_map(|v| std::str::from_utf8(v).ok())
}

/// The session cookies' values that are not empty, at most [`MAX_SESSION_COOKIES`].
fn session_cookies(headers: &HeaderMap) -> Vec<String> {
    all_cookies(headers, SESSION_COOKIE)
        .filter(|v| !v.is_empty())
        .take(MAX_SESSION_COOKIES)
        .map(str::to_string)
        .collect()
}

impl OptionalFromRequestParts<Arc<App>> for SessionCookies {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<App>,
    ) -> Result<Option<Self>, Infallible> {
        let all = session_cookies(&parts.headers);
        Ok((!all.is_empty()).then_some(SessionCookies(all)))
    }
}

/// The peer's address (the connection's).
async fn peer(parts: &mut Parts, app: &Arc<App>) -> Result<IpAddr, ExtensionRejection> {
    let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app).await?;
    Ok(peer.ip())
}

/// Whether `peer` is one of the configured `trusted_proxies` (their `X-Forwarded-*` headers
/// are believed).
pub(super) fn peer_trusted(app: &App, peer: IpAddr) -> bool {
    app.opts().trusted_proxies.iter().any(|c| c.contains(peer))
}

/// The client's address: the peer's, or behind trusted proxies the nearest untrusted hop of
/// `X-Forwarded-For` (`net::client_ip`). What the throttle counts.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddr(pub IpAddr);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = ExtensionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, ExtensionRejection> {
        let peer = peer(parts, app).await?;
        let xff = parts
            .headers
            .get_all(HeaderName::from_static("x-forwarded-for"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientAddr(net::client_ip(
            &app.opts().trusted_proxies,
            peer,
            (!xff.is_empty()).then_some(xff.as_str()),
        )))
    }
}

/// The most characters of a `User-Agent` a session records (SPEC §13).
pub(super) const MAX_USER_AGENT: usize = 256;

/// The request's `User-Agent` as a session records it: at most [`MAX_USER_AGENT`]
/// characters, control characters dropped, trimmed; `None` when absent or empty. Bytes that
/// are not UTF-8 are replaced (`U+FFFD`).
pub(super) fn user_agent(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::USER_AGENT)?;
    let text = String::from_utf8_lossy(raw.as_bytes());
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

/// A header's value as trimmed text, `None` when absent, not text or empty.
pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A host header value worth using: ASCII host characters and an optional port.
pub(super) fn sane_host(h: &str) -> Option<&str> {
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then_some(h)
}

/// The server's own origin as the browser asked for it (RFC 6454: scheme, host and port) and
/// where the request says it was sent from (`Origin`, else `Sec-Fetch-Site`): what redirects
/// may go to and what the cross-origin form check compares (SPEC §15). The host is a trusted
/// proxy's `X-Forwarded-Host`, else `Host`; the scheme a trusted proxy's `X-Forwarded-Proto`,
/// else `http` (serve itself speaks plain HTTP; TLS ends at the proxy).
#[derive(Debug)]
pub(super) struct OwnOrigin {
    host: Option<String>,
    https: bool,
    sender: Sender,
}

/// Where a request says it comes from.
#[derive(Debug)]
enum Sender {
    /// No `Origin`; whether `Sec-Fetch-Site` is absent or `same-origin`.
    Unnamed { same_origin: bool },
    /// `Origin: http(s)://host[:port]`.
    Web(WebOrigin),
    /// Any other `Origin` (`null` from a sandboxed or privacy-sensitive context, another
    /// scheme, a path, a value that is not text).
    Opaque,
}

/// A tuple origin (RFC 6454 §4): scheme, host (lower case) and port (the scheme's default
/// when none is written, so `https://h` and `https://h:443` are one origin).
#[derive(Debug, PartialEq, Eq)]
struct WebOrigin {
    https: bool,
    host: String,
    port: u16,
}

/// `host[:port]` as a host (lower case) and a port (`https`'s or `http`'s default when
/// absent); `None` when the port is not a number or the host is empty. IPv6 hosts keep
/// their brackets.
fn host_port(authority: &str, https: bool) -> Option<(String, u16)> {
    let default = if https { 443 } else { 80 };
    let (host, port) = match authority.rfind(':') {
        // `[::1]` alone: the colon is inside the brackets.
        Some(at) if !authority[at..].contains(']') => {
            let port = &authority[at + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (&authority[..at], port.parse().ok()?)
        }
        _ => (authority, default),
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

impl WebOrigin {
    /// `scheme://host[:port]` (`http` or `https`, in any case), nothing more.
    fn parse(origin: &str) -> Option<Self> {
        let (scheme, authority) = origin.split_once("://")?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return None;
        };
        let authority = sane_host(authority)?;
        let (host, port) = host_port(authority, https)?;
        Some(WebOrigin { https, host, port })
    }
}

impl OwnOrigin {
    /// `rd` when it is a safe place to send the browser (`redirect::safe_redirect`: a path
    /// here, this host, or one of `allowed`), else `/`.
    pub fn safe_redirect(&self, rd: &str, allowed: &[String]) -> String {
        safe_redirect(rd, self.host.as_deref(), allowed)
    }

    /// Whether the browser reached this server over HTTPS (a trusted proxy's
    /// `X-Forwarded-Proto: https`): where a `Secure` cookie is kept.
    pub fn https(&self) -> bool {
        self.https
    }

    /// This server's origin as the request reached it, when its host is known.
    fn own(&self) -> Option<WebOrigin> {
        let (host, port) = host_port(self.host.as_deref()?, self.https)?;
        Some(WebOrigin {
            https: self.https,
            host,
            port,
        })
    }

    /// Whether a form post may come from another origin (login CSRF, SPEC §15): its `Origin`
    /// is not exactly this server's (scheme, host and port), or is opaque (`null`); or, without
    /// `Origin`, `Sec-Fetch-Site` is there and is not `same-origin` (`same-site`,
    /// `cross-site`, and `none`, which browsers send only for what the user typed or
    /// bookmarked: never a form post). Browsers that send neither (text browsers) pass.
    pub fn cross_origin(&self) -> bool {
        match &self.sender {
            Sender::Unnamed { same_origin } => !same_origin,
            Sender::Web(origin) => self.own().as_ref() != Some(origin),
            Sender::Opaque => true,
        }
    }
}

impl FromRequestParts<Arc<App>> for OwnOrigin {
    type Rejection = ExtensionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, ExtensionRejection> {
        let peer = peer(parts, app).await?;
        let headers = &parts.headers;
        let trusted = peer_trusted(app, peer);
        let first = |name| {
            trusted
                .then(|| header_str(headers, name))
                .flatten()
                .map(|h: &str| h.split(',').next().unwrap_or("").trim())
        };
        let host = first("x-forwarded-host")
            .or_else(|| header_str(headers, "host"))
            .and_then(sane_host)
            .map(str::to_string);
        let https = first("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let sender = match headers.get(header::ORIGIN).map(|v| v.to_str().ok()) {
            Some(Some(origin)) => {
                WebOrigin::parse(origin.trim()).map_or(Sender::Opaque, Sender::Web)
            }
            Some(None) => Sender::Opaque,
            None => Sender::Unnamed {
                same_origin: header_str(headers, "sec-fetch-site")
                    .is_none_or(|s| s.eq_ignore_ascii_case("same-origin")),
            },
        };
        Ok(OwnOrigin {
            host,
            https,
            sender,
        })
    }
}

/// The query string as a form, or `None` when it is not one.
pub(super) fn query<T: for<'de> Deserialize<'de>>(uri: &Uri) -> Option<T> {
    serde_urlencoded::from_str(uri.query().unwrap_or("")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; jwtauth_session=tok; b=2"),
        );
        assert_eq!(first_cookie(&h, SESSION_COOKIE), Some("tok"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xjwtauth_session=no"),
        );
        assert_eq!(first_cookie(&h, SESSION_COOKIE), None);
        // Over several `Cookie` headers; the first one counts, even when it is empty.
        h.append(
            header::COOKIE,
            HeaderValue::from_static("jwtauth_session=\"q\""),
        );
        assert_eq!(first_cookie(&h, SESSION_COOKIE), Some("q"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("jwtauth_session=; jwtauth_session=later"),
        );
        assert_eq!(first_cookie(&h, SESSION_COOKIE), None);
    }

    #[test]
    fn every_session_cookie_is_taken_in_order_empty_ones_left_out() {
        let mut h = HeaderMap::new();
        assert!(session_cookies(&h).is_empty());
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "jwtauth_session=junk; a=1; jwtauth_session=; jwtauth_session=tok",
            ),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("jwtauth_session=\"third\""),
        );
        assert_eq!(session_cookies(&h), ["junk", "tok", "third"]);
        let many = vec!["jwtauth_session=x"; 40].join("; ");
        h.insert(header::COOKIE, HeaderValue::from_str(&many).unwrap());
        assert_eq!(session_cookies(&h).len(), MAX_SESSION_COOKIES);
    }

    #[test]
    fn bearer_takes_the_scheme_in_any_case() {
        let mut h = HeaderMap::new();
        for (v, want) in [
            ("Bearer ey.a.b", Some("ey.a.b")),
            ("bearer  ey.a.b ", Some("ey.a.b")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
            assert_eq!(bearer(&h), want, "{v:?}");
        }
    }

    #[test]
    fn user_agent_is_cut_and_cleaned() {
        let mut h = HeaderMap::new();
        assert_eq!(user_agent(&h), None);
        h.insert(header::USER_AGENT, HeaderValue::from_static("  "));
        assert_eq!(user_agent(&h), None);
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl/8.5.0"));
        assert_eq!(user_agent(&h).as_deref(), Some("curl/8.5.0"));
        // A tab is a control character; bytes that are not UTF-8 are replaced.
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_bytes(b"a\tb\xffc").unwrap(),
        );
        assert_eq!(user_agent(&h).as_deref(), Some("ab\u{fffd}c"));
        let long = "é".repeat(MAX_USER_AGENT + 10);
        h.insert(
            header::USER_AGENT,
            HeaderValue::from_bytes(long.as_bytes()).unwrap(),
        );
        assert_eq!(
            user_agent(&h).map(|u| u.chars().count()),
            Some(MAX_USER_AGENT)
        );
    }
}
