//! Cookies as a `Cookie` header carries them (RFC 6265 §4.2.1: `a=1; b=2`): the one parser
//! for the session cookie a pasted `Cookie:` line holds (`tokens::pasted_token`) and for the
//! session and device cookies of a `serve` request. A leaf: it imports nothing of ours.

/// The value of every pair named `name` in the cookie list `header` (`a=b; name=v; c=d`), in
/// order: the name and the value trimmed of whitespace, the double quotes RFC 6265 allows
/// around a value removed. Pairs without `=` are skipped; the name is compared exactly.
///
/// Which of several values counts is the caller's rule, so each is given.
pub fn values<'a>(header: &'a [u8], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    header.split(|b| *b == b';').filter_map(move |pair| {
        let eq = memchr::memchr(b'=', pair)?;
        (pair[..eq].trim_ascii() == name.as_bytes()).then(|| unquote(pair[eq + 1..].trim_ascii()))
    })
}

/// `v` without one pair of surrounding double quotes (RFC 6265 `cookie-value`).
fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all<'a>(header: &'a str, name: &'a str) -> Vec<&'a str> {
        values(header.as_bytes(), name)
            .map(|v| std::str::from_utf8(v).unwrap())
            .collect()
    }

    #[test]
    fn every_value_of_the_name_is_found_in_order() {
        assert_eq!(all("a=1; s=tok; b=2", "s"), ["tok"]);
        assert_eq!(all("s=; s=tok;s = \"q\" ", "s"), ["", "tok", "q"]);
        assert_eq!(all("xs=no; s; sx=no", "s"), Vec::<&str>::new());
        assert_eq!(all("", "s"), Vec::<&str>::new());
        // A value may hold `=`; only the first one separates the name.
        assert_eq!(all("s=a=b", "s"), ["a=b"]);
        // One pair of quotes goes; an unmatched quote stays.
        assert_eq!(all("s=\"\"; s=\"x; s=\"\"y\"\"", "s"), ["", "\"x", "\"y\""]);
    }
}
