//! Fetching a JWK Set for `verify --jwks URL` (SPEC §15): HTTPS only (plain HTTP to a
//! loopback host only), a 5 s budget for the whole exchange, redirects followed by hand so
//! that each hop is held to the same rules (at most `MAX_REDIRECTS`, never from HTTPS to
//! HTTP), and a body read up to `MAX_BODY` bytes, never more.
//!
//! The HTTP client (`ureq`, on the rustls/ring stack Redis TLS already links, with the
//! webpki-roots trust anchors) is built here and only here: no other command pays for it.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use url::{Host, Url};

use crate::cli::error::{Error, Result};

/// The whole fetch, redirects and body included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The largest JWK Set accepted, in bytes.
pub const MAX_BODY: u64 = 1024 * 1024;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 3;

/// True when `s` is a URL (`scheme://…`) rather than a path.
pub fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        scheme.len() > 1
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// The URL as messages show it: without a password.
pub fn shown(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// Parses `--jwks URL` and checks it against the rules, before any network access.
///
/// # Errors
/// Exit 2 for a URL that does not parse or that the rules refuse.
pub fn parse(given: &str) -> Result<Url> {
    let url = Url::parse(given)
        .map_err(|e| Error::usage(format!("--jwks {given}"), format!("not a valid URL: {e}")))?;
    allowed(&url, None).map_err(|why| Error::usage(format!("--jwks {}", shown(&url)), why))?;
    Ok(url)
}

/// Checks one hop: `https`, or `http` to a loopback host; after a redirect from `from`,
/// never from `https` down to `http`. `Err` says why not.
fn allowed(url: &Url, from: Option<&Url>) -> std::result::Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if from.is_some_and(|f| f.scheme() == "https") => Err(format!(
            "a redirect from https to plain http ({}) is refused",
            shown(url)
        )),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(
            "plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://"
                .to_string(),
        ),
        _ => Err("only https:// URLs (or http:// to a loopback host) are fetched".to_string()),
    }
}

/// True for `localhost`, 127.0.0.0/8 and ::1 (and ::ffff:127.0.0.0/104).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        None => false,
    }
}

/// Fetches the JWK Set at `url` (already checked by `parse`).
///
/// # Errors
/// Exit 8 naming the URL for a network, TLS or HTTP failure, a status other than 200, a body
/// over `MAX_BODY`, a redirect the rules refuse, or too many redirects.
pub fn fetch(url: &Url) -> Result<Vec<u8>> {
    let deadline = Instant::now() + TIMEOUT;
    let what = format!("--jwks {}", shown(url));
    let mut current = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::config(&what, timed_out()));
        }
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(remaining))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("jwtauth/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&current) {
            // A proxy from the environment has no business with this machine's own server.
            config = config.proxy(None);
        }
        let agent: ureq::Agent = config.build().into();
        let mut response = agent
            .get(current.as_str())
            .header("Accept", "application/jwk-set+json, application/json")
            .call()
            .map_err(|e| Error::config(&what, failure(&e)))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Error::config(
                        &what,
                        format!("the server answered {status} without a Location"),
                    )
                })?;
            let next = current.join(location).map_err(|e| {
                Error::config(&what, format!("the server redirected to a bad URL ({e})"))
            })?;
            if hop == MAX_REDIRECTS {
                break;
            }
            // The server chose this URL, not the user: a refusal is a data error (8).
            allowed(&next, Some(&current)).map_err(|why| {
                Error::config(&what, format!("redirected to {}: {why}", shown(&next)))
            })?;
            current = next;
            continue;
        }
        if status != ureq::http::StatusCode::OK {
            return Err(Error::config(
                &what,
                format!("the server answered {status} (expected 200 with a JWK Set)"),
            ));
        }
        return response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Error::config(
                    &what,
                    format!("the JWK Set is larger than {} KiB", MAX_BODY / 1024),
                ),
                e => Error::config(&what, failure(&e)),
            });
    }
    Err(Error::config(
        &what,
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}

fn timed_out() -> String {
    format!("no complete answer within {} s", TIMEOUT.as_secs())
}

/// What went wrong, in a few words.
fn failure(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => timed_out(),
        ureq::Error::Io(io) => format!("cannot connect or read: {io}"),
        ureq::Error::HostNotFound => "host not found".to_string(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert!(is_url("https://idp.example/jwks.json"));
        assert!(is_url("HTTP://127.0.0.1:8080/"));
        assert!(is_url("ftp://x/"));
        assert!(!is_url("jwks.json"));
        assert!(!is_url("./dir://x"));
        assert!(!is_url("/tmp/a://b"));
    }

    #[test]
    fn rules_before_any_network_access() {
        for ok in [
            "https://idp.example/jwks.json",
            "http://127.0.0.1:1/",
            "http://127.9.9.9/",
            "http://[::1]:8080/x",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.invalid/jwks.json",
            "http://128.0.0.1/",
            "http://localhost.example/",
            "ftp://idp.example/",
            "file:///etc/passwd",
            "https://",
        ] {
            let e = parse(refused).expect_err(refused);
            assert_eq!(e.exit_code(), 2, "{refused}: {e}");
        }
    }

    #[test]
    fn a_downgrade_is_refused() {
        let from = Url::parse("https://idp.example/").unwrap();
        let to = Url::parse("http://127.0.0.1/").unwrap();
        assert!(allowed(&to, Some(&from)).is_err());
        assert!(allowed(&to, None).is_ok());
        let https = Url::parse("https://other.example/").unwrap();
        assert!(allowed(&https, Some(&from)).is_ok());
    }

    #[test]
    fn passwords_are_not_shown() {
        let url = Url::parse("https://u:secret@idp.example/k").unwrap();
        assert_eq!(shown(&url), "https://u:***@idp.example/k");
    }
}
