//! Refresh tokens (SPEC §13): their format, their tag and their stored hash. A leaf of the
//! core (but `error` and `random`).
//!
//! A refresh token is `base64url(len ‖ sid ‖ generation ‖ 32 random bytes ‖ tag)`: `len` one
//! byte, the length of `sid` (its text); `generation` a big-endian u64; `tag` the first 16
//! bytes of HMAC-SHA256(K, `"jwtauth refresh v1"` ‖ len ‖ sid ‖ generation), K derived from
//! the signing key ([`crate::keys::Key::refresh_key`]). The tag lets a spent token of an
//! older generation be told from a forgery without storing anything per refresh: only the
//! SHA-256 of the current generation's token is stored ([`hash`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::random::fill_random;

/// The label every tag begins with.
const LABEL: &[u8] = b"jwtauth refresh v1";
/// Random bytes per token (256 bits).
const RANDOM: usize = 32;
/// Bytes of the tag kept.
const TAG: usize = 16;
/// The longest token text read (a longer input is not one of ours).
const MAX_TEXT: usize = 512;

/// What a refresh token names: its session and generation, and whether its tag is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The session.
    pub sid: String,
    /// The generation.
    pub generation: u64,
    /// The tag, as carried (check it with [`Parsed::tag_ok`]).
    tag: [u8; TAG],
}

impl Parsed {
    /// Whether its tag is the MAC of its sid and generation under `key` (constant time).
    pub fn tag_ok(&self, key: &[u8; 32]) -> bool {
        tag(key, &self.sid, self.generation).ct_eq(&self.tag).into()
    }
}

fn tag(key: &[u8; 32], sid: &str, generation: u64) -> [u8; TAG] {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&k);
    ctx.update(LABEL);
    ctx.update(&[sid.len() as u8]);
    ctx.update(sid.as_bytes());
    ctx.update(&generation.to_be_bytes());
    let full = ctx.sign();
    let mut out = [0u8; TAG];
    out.copy_from_slice(&full.as_ref()[..TAG]);
    out
}

/// A new refresh token for generation `generation` of session `sid` (at most 255 bytes).
///
/// # Errors
/// The random number generator failed; an internal error for a sid too long.
pub fn make(key: &[u8; 32], sid: &str, generation: u64) -> Result<Zeroizing<String>> {
    let len = u8::try_from(sid.len())
        .map_err(|_| crate::error::Error::internal("refresh token", "session id too long"))?;
    let mut raw = Zeroizing::new(Vec::with_capacity(1 + sid.len() + 8 + RANDOM + TAG));
    raw.push(len);
    raw.extend_from_slice(sid.as_bytes());
    raw.extend_from_slice(&generation.to_be_bytes());
    let mut random = Zeroizing::new([0u8; RANDOM]);
    fill_random(random.as_mut())?;
    raw.extend_from_slice(random.as_ref());
    raw.extend_from_slice(&tag(key, sid, generation));
    Ok(Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_slice())))
}

/// Reads a refresh token: `None` when it is not one in form (never panics, whatever the
/// input). Its tag is not checked here.
pub fn parse(token: &str) -> Option<Parsed> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TEXT {
        return None;
    }
    let raw = Zeroizing::new(URL_SAFE_NO_PAD.decode(token).ok()?);
    let (&len, rest) = raw.split_first()?;
    let len = usize::from(len);
    if len == 0 || rest.len() != len + 8 + RANDOM + TAG {
        return None;
    }
    let (sid, rest) = rest.split_at(len);
    let sid = std::str::from_utf8(sid).ok()?;
    if !sid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let (generation, rest) = rest.split_at(8);
    let generation = u64::from_be_bytes(generation.try_into().ok()?);
    let tag: [u8; TAG] = rest[RANDOM..].try_into().ok()?;
    Some(Parsed {
        sid: sid.to_string(),
        generation,
        tag,
    })
}

/// The hash a store keeps of a refresh token: SHA-256 of its text, lowercase hex.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.trim().as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `token` is the one whose hash is `stored` (constant time).
pub fn matches(token: &str, stored: &str) -> bool {
    hash(token).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: [u8; 32] = [7; 32];

    #[test]
    fn a_token_names_its_session_and_generation_under_a_tag() {
        let t = make(&K, "abcDEF_-123", 41).unwrap();
        // ≥ 256 random bits: two tokens of one generation differ.
        assert_ne!(*t, *make(&K, "abcDEF_-123", 41).unwrap());
        let p = parse(&t).unwrap();
        assert_eq!((p.sid.as_str(), p.generation), ("abcDEF_-123", 41));
        assert!(p.tag_ok(&K));
        assert!(!p.tag_ok(&[8; 32]));
        assert!(matches(&t, &hash(&t)));
        assert!(!matches(&t, &hash("other")));
        assert_eq!(hash("x").len(), 64);
        // Another generation or session under the same tag is a forgery.
        let mut forged = p.clone();
        forged.generation = 40;
        assert!(!forged.tag_ok(&K));
        forged.generation = 41;
        forged.sid = "abcDEF_-124".into();
        assert!(!forged.tag_ok(&K));
    }

    #[test]
    fn anything_else_is_not_a_refresh_token_and_never_panics() {
        let good = make(&K, "sid", 0).unwrap();
        for bad in [
            "",
            " ",
            "a",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            "!!!!",
            &"A".repeat(600),
            &good[..good.len() - 1],
            &format!("{}A", &*good),
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        // Every byte string of every length up to a token's and a bit more, decoded:
        // a few shapes of length byte, sid bytes and lengths.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for n in 0..2000usize {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = n % 120;
            let raw: Vec<u8> = (0..len)
                .map(|i| (seed.rotate_left(i as u32 % 64) >> (i % 8)) as u8)
                .collect();
            let _ = parse(&URL_SAFE_NO_PAD.encode(&raw));
            let text: String = raw.iter().map(|&b| char::from(b % 128)).collect();
            let _ = parse(&text);
        }
        // A well-formed token whose sid is not base64url text is refused too.
        let mut raw = vec![3u8, b'a', b'/', b'b'];
        raw.extend_from_slice(&[0; 8 + RANDOM + TAG]);
        assert!(parse(&URL_SAFE_NO_PAD.encode(&raw)).is_none());
        raw[2] = b'c';
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode(&raw)).unwrap().sid, "acb");
    }

    proptest::proptest! {
        /// Any text, and any bytes encoded as a token would be: never a panic, and whatever
        /// parses names a base64url sid.
        #[test]
        fn parse_never_panics(text in ".{0,200}", raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..140)) {
            let _ = parse(&text);
            if let Some(p) = parse(&URL_SAFE_NO_PAD.encode(&raw)) {
                proptest::prop_assert!(!p.sid.is_empty());
                proptest::prop_assert!(p.sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
        }

        #[test]
        fn a_made_token_parses_back(sid in "[A-Za-z0-9_-]{1,64}", generation in proptest::prelude::any::<u64>()) {
            let t = make(&K, &sid, generation).unwrap();
            let p = parse(&t).unwrap();
            proptest::prop_assert_eq!(&p.sid, &sid);
            proptest::prop_assert_eq!(p.generation, generation);
            proptest::prop_assert!(p.tag_ok(&K));
        }
    }
}
