//! Where a browser may be sent after signing in or out (`rd`, SPEC §9): a path here, the
//! server's own host, or one of `allowed_redirect_hosts`; everything else goes to `/`.

/// The longest `rd` taken; longer ones go to `/`.
pub(super) const MAX_RD: usize = 4096;

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
pub(super) fn host_allowed(host: &str, own_host: Option<&str>, allowed: &[String]) -> bool {
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

pub(super) fn strip_port(host: &str) -> &str {
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
}
