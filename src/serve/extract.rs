//! What a request carries, as axum extractors over the shared [`App`]: the bearer token
//! ([`Bearer`]), the session cookie ([`SessionCookie`]), the client's address behind trusted
//! proxies ([`ClientAddr`]) and the server's own host with where a form post came from
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
use super::redirect::{host_allowed, safe_redirect, strip_port};
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

/// The server's own host as the browser asked for it (`X-Forwarded-Host` from a trusted
/// proxy, else `Host`), and where the request says it was sent from (`Origin`, else
/// `Sec-Fetch-Site`): what redirects may go to and what the cross-site form check compares.
#[derive(Debug)]
pub(super) struct OwnOrigin {
    host: Option<String>,
    sender: Sender,
}

/// Where a request says it comes from.
#[derive(Debug)]
enum Sender {
    /// No `Origin`; `Sec-Fetch-Site: cross-site` or not.
    Unnamed { cross_site: bool },
    /// `Origin: http(s)://…`: what follows the scheme.
    Web(String),
    /// Any other `Origin` (`null` from a sandboxed or privacy-sensitive context, another
    /// scheme, a value that is not text).
    Opaque,
}

impl OwnOrigin {
    /// `rd` when it is a safe place to send the browser (`redirect::safe_redirect`: a path
    /// here, this host, or one of `allowed`), else `/`.
    pub fn safe_redirect(&self, rd: &str, allowed: &[String]) -> String {
        safe_redirect(rd, self.host.as_deref(), allowed)
    }

    /// Whether a form post came from a page of another site (login CSRF): its `Origin` names
    /// a host that is neither this one nor one of `allowed`, or is opaque; or, without
    /// `Origin`, `Sec-Fetch-Site: cross-site`.
    pub fn cross_site(&self, allowed: &[String]) -> bool {
        match &self.sender {
            Sender::Unnamed { cross_site } => *cross_site,
            Sender::Web(h) => !host_allowed(strip_port(h), self.host.as_deref(), allowed),
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
        let forwarded = peer_trusted(app, peer)
            .then(|| header_str(headers, "x-forwarded-host"))
            .flatten()
            .map(|h| h.split(',').next().unwrap_or("").trim());
        let host = forwarded
            .or_else(|| header_str(headers, "host"))
            .and_then(sane_host)
            .map(str::to_string);
        let sender = match headers.get(header::ORIGIN).map(|v| v.to_str().ok()) {
            Some(Some(origin)) => {
                let origin = origin.trim();
                ["https://", "http://"]
                    .iter()
                    .find_map(|s| {
                        origin
                            .get(..s.len())
                            .filter(|p| p.eq_ignore_ascii_case(s))
                            .map(|_| Sender::Web(origin[s.len()..].to_string()))
                    })
                    .unwrap_or(Sender::Opaque)
            }
            Some(None) => Sender::Opaque,
            None => Sender::Unnamed {
                cross_site: header_str(headers, "sec-fetch-site") == Some("cross-site"),
            },
        };
        Ok(OwnOrigin { host, sender })
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
}
