//! Issuing JWTs and taking them apart (SPEC §3): signing, the compact-form parts, token ids,
//! and finding the token in pasted text. Checking a token is `verifier`'s; the command line's
//! `--claim`/`--header`/duration flags are parsed in `cli::flags`.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::alg::{self, Algorithm};
use crate::error::{Error, Lookalike, Part, Reason, Result, VerifyError};
use crate::keys::Key;
use crate::random::fill_random;

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A fresh token id: 128 random bits, base64url.
///
/// # Errors
/// Exit 8 when the OS random number generator fails.
pub fn new_jti() -> Result<String> {
    let mut raw = [0u8; 16];
    fill_random(&mut raw)?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// Signs `claims` with `key` as `alg`; the header is `{"alg","typ":"JWT"}` plus the key's
/// `kid` when it has one.
///
/// # Errors
/// Exit 8 when the key cannot sign `alg` (see `Key::encoding`).
pub fn sign(
    key: &Key,
    alg: Algorithm,
    claims: &Map<String, Value>,
    allow_weak: bool,
) -> Result<String> {
    sign_with_header(key, alg, &Map::new(), claims, allow_weak)
}

/// `sign` with extra header fields (`mint --header`): they are added after `alg`, `typ` and
/// `kid`, and replace `typ` and `kid` when they name them. `alg` is never taken from `extra`
/// (`mint --header` refuses it).
///
/// # Errors
/// Exit 8 when the key cannot sign `alg` (see `Key::encoding`).
pub fn sign_with_header(
    key: &Key,
    alg: Algorithm,
    extra: &Map<String, Value>,
    claims: &Map<String, Value>,
    allow_weak: bool,
) -> Result<String> {
    let encoding = key.encoding(alg, allow_weak)?;
    let mut header = Map::new();
    header.insert("alg".into(), alg::name(alg).into());
    header.insert("typ".into(), Value::String("JWT".into()));
    if let Some(kid) = &key.kid {
        header.insert("kid".into(), Value::String(kid.clone()));
    }
    for (k, v) in extra {
        if k != "alg" {
            header.insert(k.clone(), v.clone());
        }
    }
    let mut message = b64_json(&Value::Object(header));
    message.push('.');
    message.push_str(&b64_json(&Value::Object(claims.clone())));
    let failed = |why: String| Error::key(format!("signing with {}", key.name()), why);
    let signature = match rsa_sign(encoding.as_bytes(), alg, message.as_bytes()) {
        Some(signed) => URL_SAFE_NO_PAD.encode(signed.map_err(failed)?),
        None => jsonwebtoken::crypto::sign(message.as_bytes(), encoding, alg)
            .map_err(|e| failed(e.to_string()))?,
    };
    message.push('.');
    message.push_str(&signature);
    Ok(message)
}

/// RSA signatures (`None` for the other families). `ring` signs whenever it takes the key
/// (2048–4096-bit modulus, public exponent at least 65537): its private-key arithmetic is
/// constant-time, where the `rsa` crate behind `jsonwebtoken`'s RustCrypto backend is not
/// (RUSTSEC-2023-0071, the Marvin attack), which matters once `serve` signs for anyone on the
/// network. Other keys, which only an explicit `--allow-weak-key` or an unusually large key
/// reaches, are signed by the `rsa` crate (blinded) through its fallible calls: a key too
/// small for the padding is an error, never a panic.
fn rsa_sign(der: &[u8], alg: Algorithm, message: &[u8]) -> Option<Result<Vec<u8>, String>> {
    use ring::signature as rs;
    use sha2::{Sha256, Sha384, Sha512};
    let (padding, pss): (&'static dyn rs::RsaEncoding, _) = match alg {
        Algorithm::RS256 => (&rs::RSA_PKCS1_SHA256, false),
        Algorithm::RS384 => (&rs::RSA_PKCS1_SHA384, false),
        Algorithm::RS512 => (&rs::RSA_PKCS1_SHA512, false),
        Algorithm::PS256 => (&rs::RSA_PSS_SHA256, true),
        Algorithm::PS384 => (&rs::RSA_PSS_SHA384, true),
        Algorithm::PS512 => (&rs::RSA_PSS_SHA512, true),
        _ => return None,
    };
    if let Ok(pair) = rs::RsaKeyPair::from_der(der) {
        let mut signature = vec![0; pair.public().modulus_len()];
        let rng = ring::rand::SystemRandom::new();
        return Some(
            pair.sign(padding, &rng, message, &mut signature)
                .map(|()| signature)
                .map_err(|_| "the RSA signature failed".to_string()),
        );
    }
    Some(match alg {
        Algorithm::RS256 | Algorithm::PS256 => rsa_crate_sign::<Sha256>(der, message, pss),
        Algorithm::RS384 | Algorithm::PS384 => rsa_crate_sign::<Sha384>(der, message, pss),
        _ => rsa_crate_sign::<Sha512>(der, message, pss),
    })
}

fn rsa_crate_sign<H>(der: &[u8], message: &[u8], pss: bool) -> Result<Vec<u8>, String>
where
    H: sha2::Digest + rsa::pkcs8::AssociatedOid + sha2::digest::FixedOutputReset,
{
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    let key = rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| e.to_string())?;
    let mut rng = rand_core::OsRng;
    let signed = if pss {
        rsa::pss::BlindedSigningKey::<H>::new(key)
            .try_sign_with_rng(&mut rng, message)
            .map(|s| s.to_vec())
    } else {
        rsa::pkcs1v15::SigningKey::<H>::new(key)
            .try_sign_with_rng(&mut rng, message)
            .map(|s| s.to_vec())
    };
    signed.map_err(|_| {
        "the key is too small for this algorithm's padding; use a larger key or RS256".to_string()
    })
}

fn b64_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The three parts of a compact JWS, still encoded.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    /// `header.payload`, the signed message.
    pub message: &'a [u8],
    /// base64url header.
    pub header: &'a [u8],
    /// base64url payload.
    pub payload: &'a [u8],
    /// base64url signature.
    pub signature: &'a [u8],
}

/// Splits a compact JWS after the size check.
///
/// # Errors
/// An invalid token for an oversized or malformed token.
pub fn split(token: &[u8]) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(too_long(Some(token.len())).into());
    }
    if token.is_empty() {
        return Err(Reason::Empty.into());
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(a), Some(b), None) = (dots.next(), dots.next(), dots.next()) else {
        let n = memchr::memchr_iter(b'.', token).count() + 1;
        let why = if n == 5 {
            Reason::Encrypted
        } else {
            Reason::Parts(n)
        };
        return Err(why.into());
    };
    Ok(Parts {
        message: &token[..b],
        header: &token[..a],
        payload: &token[a + 1..b],
        signature: &token[b + 1..],
    })
}

/// Decodes one base64url part into `buf` (cleared first).
///
/// # Errors
/// An invalid token naming the part.
pub fn b64_decode_into(part: &[u8], what: Part, buf: &mut Vec<u8>) -> Result<(), VerifyError> {
    buf.clear();
    URL_SAFE_NO_PAD
        .decode_vec(part, buf)
        .map_err(|_| Reason::NotBase64(what).into())
}

/// Parses a decoded part as a JSON object.
///
/// # Errors
/// An invalid token naming the part.
pub fn json_object(bytes: &[u8], what: Part) -> Result<Map<String, Value>, VerifyError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Reason::NotObject(what).into()),
        Err(e) => Err(Reason::NotJson {
            part: what,
            detail: e.to_string(),
        }
        .into()),
    }
}

/// The reason for a token over [`MAX_TOKEN_BYTES`] (of `len` bytes, when it is known).
pub fn too_long(len: Option<usize>) -> Reason {
    Reason::TooLong {
        len,
        limit: MAX_TOKEN_BYTES,
    }
}

/// Decodes one base64url part as a JSON object.
///
/// # Errors
/// An invalid token naming the part.
pub fn decode_part(part: &[u8], what: Part) -> Result<Map<String, Value>, VerifyError> {
    let mut buf = Vec::new();
    b64_decode_into(part, what, &mut buf)?;
    json_object(&buf, what)
}

/// A token taken apart without any check.
#[derive(Debug)]
pub struct Decoded {
    /// The header object.
    pub header: Map<String, Value>,
    /// The payload object.
    pub payload: Map<String, Value>,
    /// The signature, still base64url.
    pub signature: String,
}

/// Takes a token apart without checking it (the `decode` path; public for fuzzing).
///
/// # Errors
/// An invalid token for a token that is not three base64url JSON parts.
pub fn decode_token(token: &[u8]) -> Result<Decoded, VerifyError> {
    let parts = split(token)?;
    Ok(Decoded {
        header: decode_part(parts.header, Part::Header)?,
        payload: decode_part(parts.payload, Part::Payload)?,
        signature: String::from_utf8_lossy(parts.signature).into_owned(),
    })
}

/// The name of `serve`'s session cookie, whose value is a token.
pub const SESSION_COOKIE: &str = "jwtauth_session";

/// The token in a text as people paste it (SPEC §15), taken like a bare token:
/// - surrounding whitespace, and surrounding single or double quotes (as copied from a shell
///   command line);
/// - an `Authorization: Bearer ` or `Bearer ` prefix (as copied from an HTTP request or a curl
///   command line; the header name and the scheme without regard to case, RFC 9110 §5.1,
///   §11.1);
/// - `jwtauth_session=<token>`, with or without the attributes of a `Set-Cookie` after it
///   (`; Path=/; HttpOnly`), a `Set-Cookie:` line, or a whole `Cookie:` header line
///   (`Cookie: a=b; jwtauth_session=<token>; c=d`);
/// - a JSON document with `access_token` (the answer of `serve`'s `POST /token` and of
///   `login --json`), on one line.
///
/// A token (it starts with `ey`, base64url of `{"`) costs a trim and one comparison, and
/// nothing is allocated unless the token is a JSON string with escapes in it.
///
/// # Errors
/// An invalid token that says what the text looks like instead ("a URL", "a JSON document
/// without access_token", "a Cookie header without jwtauth_session", …), or that it is empty.
pub fn pasted_token(text: &[u8]) -> Result<Cow<'_, [u8]>, VerifyError> {
    let t = text.trim_ascii();
    if t.first() == Some(&b'e') {
        return Ok(Cow::Borrowed(t));
    }
    let t = unquote(t);
    let Some(&first) = t.first() else {
        return Err(Reason::Empty.into());
    };
    if first == b'e' {
        return Ok(Cow::Borrowed(t));
    }
    if first == b'{' {
        return json_access_token(t);
    }
    if let Some(rest) = strip_prefix_ci(t, b"authorization:") {
        let rest = rest.trim_ascii_start();
        return match strip_word_ci(rest, b"bearer") {
            Some(token) => bearer_token(token),
            None => Err(looks_like(Lookalike::AuthorizationWithoutBearer)),
        };
    }
    if let Some(token) = strip_word_ci(t, b"bearer") {
        return bearer_token(token);
    }
    if let Some(rest) = strip_prefix_ci(t, b"cookie:") {
        return match cookie_value(rest) {
            Some(v) if !v.is_empty() => Ok(Cow::Borrowed(v)),
            Some(_) => Err(looks_like(Lookalike::EmptyCookie)),
            None => Err(looks_like(Lookalike::CookieWithoutSession)),
        };
    }
    if let Some(rest) = strip_prefix_ci(t, b"set-cookie:") {
        // The first pair is the cookie; the rest are its attributes.
        let first_pair = rest.split(|b| *b == b';').next().unwrap_or_default();
        return match cookie_value(first_pair) {
            Some(v) if !v.is_empty() => Ok(Cow::Borrowed(v)),
            Some(_) => Err(looks_like(Lookalike::EmptyCookie)),
            None => Err(looks_like(Lookalike::SetCookieWithoutSession)),
        };
    }
    if strip_prefix_ci(t, b"http://").is_some() || strip_prefix_ci(t, b"https://").is_some() {
        return Err(looks_like(Lookalike::Url));
    }
    if t.starts_with(b"-----BEGIN") {
        return Err(looks_like(Lookalike::Pem));
    }
    if t.starts_with(b"$2") || t.starts_with(b"$argon2") {
        return Err(looks_like(Lookalike::PasswordHash));
    }
    if is_cookie_pair(t) {
        // `jwtauth_session=<token>; Path=/`, or a cookie string (`a=b; jwtauth_session=…`).
        return match cookie_value(t) {
            Some(v) if !v.is_empty() => Ok(Cow::Borrowed(v)),
            _ => Err(looks_like(Lookalike::EmptyCookie)),
        };
    }
    Ok(Cow::Borrowed(t))
}

/// An invalid-token error naming what the text looks like.
fn looks_like(what: Lookalike) -> VerifyError {
    Reason::LooksLike(what).into()
}

/// Removes surrounding matching quotes (and the whitespace inside them), however nested.
fn unquote(mut t: &[u8]) -> &[u8] {
    while let [q @ (b'"' | b'\''), inner @ .., last] = t
        && q == last
    {
        t = inner.trim_ascii();
    }
    t
}

/// `s` without a leading `word` (any case) followed by whitespace; `None` when `s` does not
/// start with that whole word. `Some(b"")` for the word alone.
fn strip_word_ci<'a>(s: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let rest = strip_prefix_ci(s, word)?;
    match rest.first() {
        None => Some(rest),
        Some(b) if b.is_ascii_whitespace() => Some(rest.trim_ascii_start()),
        Some(_) => None,
    }
}

/// What follows a `Bearer` scheme: a token, not nothing.
fn bearer_token(token: &[u8]) -> Result<Cow<'_, [u8]>, VerifyError> {
    if token.is_empty() {
        return Err(looks_like(Lookalike::BearerWithoutToken));
    }
    Ok(Cow::Borrowed(token))
}

/// True when `t` starts as a cookie does: a cookie name (RFC 6265 §4.1.1: RFC 9110 token
/// characters), then `=`. A token never has `=` (base64url without padding).
fn is_cookie_pair(t: &[u8]) -> bool {
    let Some(eq) = memchr::memchr(b'=', t) else {
        return false;
    };
    eq > 0
        && t[..eq]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// The value of the first `jwtauth_session` cookie in `a=b; jwtauth_session=v; c=d` that has
/// one (trimmed, without the quotes RFC 6265 allows around it, or the shell's), else the
/// empty value of one that has none; `None` when no pair is named `jwtauth_session`.
fn cookie_value(list: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    for value in crate::cookies::values(list, SESSION_COOKIE) {
        let value = unquote(value.trim_ascii());
        if !value.is_empty() {
            return Some(value);
        }
        found = Some(value);
    }
    found
}

/// The `access_token` of a JSON document (`/token`'s and `login --json`'s answer).
fn json_access_token(t: &[u8]) -> Result<Cow<'_, [u8]>, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        access_token: Option<&'a serde_json::value::RawValue>,
    }
    let answer: Answer =
        serde_json::from_slice(t).map_err(|e| looks_like(Lookalike::BadJson(e.to_string())))?;
    let Some(raw) = answer.access_token else {
        return Err(looks_like(Lookalike::JsonWithoutToken));
    };
    let raw = raw.get();
    // The token as written, when it needs no unescaping (a JWT has no backslash or quote).
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Ok(Cow::Borrowed(inner.as_bytes()));
    }
    match serde_json::from_str::<String>(raw) {
        Ok(token) => Ok(Cow::Owned(token.into_bytes())),
        Err(_) => Err(looks_like(Lookalike::JsonTokenNotString)),
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pasted_token`, as text (panics on a non-UTF-8 answer).
    fn pasted(text: &str) -> std::result::Result<String, String> {
        pasted_token(text.as_bytes())
            .map(|t| String::from_utf8(t.into_owned()).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn pasted_forms_give_the_token() {
        for given in [
            "ey.a.b",
            "  ey.a.b \r\n",
            "Bearer ey.a.b",
            "bearer  ey.a.b",
            "Authorization: Bearer ey.a.b",
            "authorization:bearer\tey.a.b",
            " AUTHORIZATION:  BEARER ey.a.b ",
            "\"ey.a.b\"",
            "' ey.a.b '",
            "\"'ey.a.b'\"",
            "'Authorization: Bearer ey.a.b'",
            "jwtauth_session=ey.a.b",
            "jwtauth_session=\"ey.a.b\"",
            "jwtauth_session=ey.a.b; Path=/; HttpOnly; Secure; SameSite=Lax",
            "Cookie: a=b; jwtauth_session=ey.a.b; c=d",
            "cookie:jwtauth_session=;jwtauth_session=ey.a.b",
            "a=b; jwtauth_session=ey.a.b",
            "Set-Cookie: jwtauth_session=ey.a.b; Path=/; HttpOnly",
            r#"{"access_token":"ey.a.b","token_type":"bearer","expires_in":900}"#,
            r#" { "token_type": "bearer", "access_token" : "ey.a.b" } "#,
            r#"{"access_token":"\u0065y.a.b"}"#,
            r#"'{"access_token":"ey.a.b"}'"#,
        ] {
            assert_eq!(pasted(given).as_deref(), Ok("ey.a.b"), "{given:?}");
        }
        // Whatever else is not recognised is passed on for the token checks to judge.
        assert_eq!(pasted("Bearerx.a.b").as_deref(), Ok("Bearerx.a.b"));
        assert_eq!(pasted("garbage").as_deref(), Ok("garbage"));
    }

    #[test]
    fn pasted_non_tokens_say_what_they_look_like() {
        for (given, like) in [
            ("", "token is empty"),
            ("  \"\" ", "token is empty"),
            ("Bearer", "a Bearer prefix without a token"),
            ("Authorization: Bearer ", "a Bearer prefix without a token"),
            (
                "Authorization: Basic abc",
                "an Authorization header without a Bearer token",
            ),
            ("jwtauth_session=", "a cookie without a token"),
            ("jwtauth_session=; Path=/", "a cookie without a token"),
            ("theme=dark", "a cookie without a token"),
            (
                "Cookie: a=b; c=d",
                "a Cookie header without jwtauth_session",
            ),
            ("Cookie: jwtauth_session=\"\"", "a cookie without a token"),
            (
                "Set-Cookie: other=ey.a.b; Path=/",
                "a Set-Cookie header without jwtauth_session",
            ),
            (
                r#"{"token_type":"bearer"}"#,
                "a JSON document without access_token",
            ),
            (
                r#"{"access_token":42}"#,
                "a JSON document whose access_token is not a string",
            ),
            ("{", "JSON that does not parse"),
            ("https://example.com/?t=ey.a.b", "a URL"),
            ("HTTP://x", "a URL"),
            ("-----BEGIN PUBLIC KEY-----", "a PEM key or certificate"),
            ("$2b$12$abc", "a password hash"),
        ] {
            let err = pasted(given).expect_err(given);
            assert!(err.contains(like), "{given:?}: {err}");
            assert!(err.starts_with("invalid token: "), "{given:?}: {err}");
        }
    }

    #[test]
    fn split_counts_parts() {
        assert!(split(b"a.b.c").is_ok());
        assert!(split(b"a.b").is_err());
        assert!(split(b"a.b.c.d").is_err());
        assert!(split(b"").is_err());
        assert!(split(&vec![b'a'; MAX_TOKEN_BYTES + 1]).is_err());
    }
}
