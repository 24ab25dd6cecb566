//! Issuing and checking JWTs (SPEC §3): the claims `login` and `mint` sign, and a `Verifier`
//! built once per process that checks tokens by the rules of RFC 8725.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::JwtVerifier;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::asym;
use crate::error::{Error, Result};
use crate::keys::{self, Key};
use crate::revocations::{RevocationView, Revoked};

/// Largest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Claims a `--claim` may not set: each has its own flag.
pub const RESERVED_CLAIMS: [&str; 6] = ["sub", "iat", "exp", "nbf", "iss", "aud"];

/// A fresh token id: 128 random bits, base64url.
///
/// # Errors
/// Exit 8 when the OS random number generator fails.
pub fn new_jti() -> Result<String> {
    let mut raw = [0u8; 16];
    fill_random(&mut raw)?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

/// Fills `buf` from the OS random number generator.
///
/// # Errors
/// Exit 8 when the generator fails.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::config("random number generator", e.to_string()))
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
    let encoding = key.encoding(alg, allow_weak)?;
    let mut header = Map::new();
    header.insert("alg".into(), alg_name(alg).into());
    header.insert("typ".into(), Value::String("JWT".into()));
    if let Some(kid) = &key.kid {
        header.insert("kid".into(), Value::String(kid.clone()));
    }
    let mut message = b64_json(&Value::Object(header));
    message.push('.');
    message.push_str(&b64_json(&Value::Object(claims.clone())));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), encoding, alg)
        .map_err(|e| Error::config(format!("signing with {}", key.name()), e.to_string()))?;
    message.push('.');
    message.push_str(&signature);
    Ok(message)
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
/// `TokenInvalid` for an oversized or malformed token.
pub fn split(token: &[u8]) -> Result<Parts<'_>> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::TokenInvalid(format!(
            "token is {} bytes, over the {} KiB limit",
            token.len(),
            MAX_TOKEN_BYTES / 1024
        )));
    }
    if token.is_empty() {
        return Err(Error::TokenInvalid("token is empty".into()));
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(a), Some(b), None) = (dots.next(), dots.next(), dots.next()) else {
        let n = memchr::memchr_iter(b'.', token).count() + 1;
        let why = if n == 5 {
            "this is an encrypted token (JWE, 5 parts); only signed tokens (JWS) are supported"
                .to_string()
        } else {
            format!("expected 3 dot-separated parts (header.payload.signature), found {n}")
        };
        return Err(Error::TokenInvalid(why));
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
/// `TokenInvalid` naming the part.
pub fn b64_decode_into(part: &[u8], what: &str, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    URL_SAFE_NO_PAD
        .decode_vec(part, buf)
        .map_err(|_| Error::TokenInvalid(format!("{what} is not valid base64url")))
}

/// Parses a decoded part as a JSON object.
///
/// # Errors
/// `TokenInvalid` naming the part.
pub fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::TokenInvalid(format!("{what} is not a JSON object"))),
        Err(e) => Err(Error::TokenInvalid(format!(
            "{what} is not valid JSON: {e}"
        ))),
    }
}

/// serde_json skips unknown fields without applying its recursion limit, so a view struct
/// alone would accept any nesting. Input with more brackets than the limit (128) is parsed in
/// full, which refuses nesting deeper than serde's default as every other path does (SPEC §6).
fn check_depth(bytes: &[u8], what: &str) -> Result<()> {
    if bytes.iter().filter(|&&b| b == b'[' || b == b'{').count() > 128 {
        json_object(bytes, what)?;
    }
    Ok(())
}

/// View structs deserialize from JSON arrays too (serde fills the fields in order), but a
/// JOSE header and a claims set must be objects: anything else gets `json_object`'s error.
fn require_object(bytes: &[u8], what: &str) -> Result<()> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        json_object(bytes, what)?;
        return Err(Error::TokenInvalid(format!("{what} is not a JSON object")));
    }
    Ok(())
}

#[derive(Deserialize)]
struct HeaderView<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    crit: Option<Vec<Cow<'a, str>>>,
}

/// A string or a list of strings (`aud`, `iss`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    One(#[serde(borrow)] Cow<'a, str>),
    Many(#[serde(borrow)] Vec<Cow<'a, str>>),
}

impl OneOrMany<'_> {
    fn contains(&self, want: &str) -> bool {
        match self {
            OneOrMany::One(s) => s == want,
            OneOrMany::Many(v) => v.iter().any(|s| s == want),
        }
    }
}

/// The registered claims verification looks at, borrowed from the payload.
#[derive(Deserialize)]
struct ClaimsView<'a> {
    // Raw, so a number costs no allocation (serde_json's arbitrary_precision would give a
    // `Value` number its own string) and is read as written.
    #[serde(default, borrow)]
    exp: Option<&'a RawValue>,
    #[serde(default, borrow)]
    nbf: Option<&'a RawValue>,
    #[serde(default, borrow)]
    iat: Option<&'a RawValue>,
    #[serde(default, borrow)]
    sub: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    jti: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    iss: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    aud: Option<OneOrMany<'a>>,
}

/// A NumericDate claim: a JSON number of seconds (fractions allowed, RFC 7519 §2).
fn numeric_date(v: Option<&RawValue>, name: &str) -> Result<Option<f64>> {
    let Some(raw) = v.map(RawValue::get) else {
        return Ok(None);
    };
    match raw.as_bytes().first() {
        // serde_json checked the JSON syntax, and JSON numbers are valid Rust floats.
        Some(b'-' | b'0'..=b'9') => raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| Error::TokenInvalid(format!("claim {name} is not a usable number"))),
        _ if raw == "null" => Ok(None),
        _ => Err(Error::TokenInvalid(format!(
            "claim {name} is not a number of seconds"
        ))),
    }
}

/// What a verified token tells: enough for text output, logout and revocation.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `sub`, if present.
    pub sub: Option<String>,
    /// `jti`, if present.
    pub jti: Option<String>,
    /// `exp` in whole seconds (rounded up), if present.
    pub exp: Option<i64>,
}

/// The settings of one `verify` run.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Accept only this algorithm (else every algorithm of the key's family).
    pub alg: Option<Algorithm>,
    /// Required audience.
    pub aud: Option<String>,
    /// Required issuer.
    pub iss: Option<String>,
    /// Clock skew allowed for `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
    /// Whether `exp` must be present.
    pub exp_required: bool,
}

/// One verifying key with a verifier built for each algorithm it accepts.
struct Entry {
    /// The key's `kid` (used only when keys are chosen from a set).
    kid: Option<String>,
    verifiers: Vec<(Algorithm, Box<dyn JwtVerifier>)>,
}

impl Entry {
    fn build(
        kid: Option<String>,
        algs: &[Algorithm],
        decoding: &jsonwebtoken::DecodingKey,
        name: &str,
    ) -> Result<Self> {
        let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
        let verifiers = algs
            .iter()
            .map(|alg| {
                (provider.verifier_factory)(alg, decoding)
                    .map(|v| (*alg, v))
                    .map_err(|e| Error::config(name, e.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(Entry { kid, verifiers })
    }

    fn find(&self, alg: &str) -> Option<&dyn JwtVerifier> {
        self.verifiers
            .iter()
            .find(|(a, _)| alg_name(*a) == alg)
            .map(|(_, v)| v.as_ref())
    }

    fn allowed_names(&self) -> String {
        let algs: Vec<Algorithm> = self.verifiers.iter().map(|(a, _)| *a).collect();
        keys::names(&algs)
    }
}

/// A JWK Set the keys come from: chosen by the token's `kid`.
struct KeySet {
    /// The file, for messages.
    name: String,
    /// Keys of the file that cannot be used, by `kid`, with the reason.
    skipped: Vec<(String, String)>,
}

/// Checks tokens against one key (or a JWK Set) and one set of rules; built once, used for
/// every token.
pub struct Verifier {
    entries: Vec<Entry>,
    /// `Some` when `entries` come from a JWK Set and are chosen by `kid`.
    set: Option<KeySet>,
    rules: Rules,
    now: i64,
    revocations: Option<RevocationView>,
    /// Accept a token's `aud` without `rules.aud` naming it (`--any-aud`, and `logout`).
    any_aud: bool,
    /// Reused decode buffers: no allocation per token in the hot loop.
    buf: Vec<u8>,
    sig: Vec<u8>,
}

impl Verifier {
    /// Builds a verifier for `key`. The accepted algorithms come from the key (and `--alg`),
    /// never from a token.
    ///
    /// # Errors
    /// Exit 8 when `--alg` is not one the key verifies, or the key is unusable.
    pub fn new(
        key: &Key,
        rules: Rules,
        now: i64,
        revocations: Option<RevocationView>,
    ) -> Result<Self> {
        let all = key.kind.algorithms();
        let allowed: Vec<Algorithm> = match rules.alg {
            Some(a) if !all.contains(&a) => {
                return Err(Error::config(
                    format!("--alg {}", alg_name(a)),
                    format!(
                        "does not fit key {}, which is {} key (it verifies {})",
                        key.name(),
                        keys::article(key.kind),
                        keys::names(all)
                    ),
                ));
            }
            Some(a) => vec![a],
            None => all.to_vec(),
        };
        let entry = Entry::build(
            None,
            &allowed,
            key.decoding(),
            &format!("key {}", key.name()),
        )?;
        Ok(Self::with_entries(
            vec![entry],
            None,
            rules,
            now,
            revocations,
        ))
    }

    /// Builds a verifier for the keys of a JWK Set (`verify --jwks`): each token's key is
    /// chosen by its `kid`; a token without `kid` needs exactly one key in the set that
    /// accepts its algorithm. A key accepts its kind's algorithms, narrowed by the JWK's
    /// `alg` and by `--alg`.
    ///
    /// # Errors
    /// Exit 8 when no key of the set can verify (the allowed algorithms).
    pub fn from_set(
        name: &str,
        keys: &[asym::SetKey],
        skipped: &[asym::Skipped],
        rules: Rules,
        now: i64,
        revocations: Option<RevocationView>,
    ) -> Result<Self> {
        let mut entries = Vec::new();
        let mut unusable: Vec<(String, String)> = skipped
            .iter()
            .filter_map(|s| s.kid.clone().map(|k| (k, s.why.clone())))
            .collect();
        for k in keys {
            let algs: Vec<Algorithm> = k
                .public
                .kind()
                .algorithms()
                .iter()
                .copied()
                .filter(|a| k.alg.is_none_or(|x| x == *a) && rules.alg.is_none_or(|x| x == *a))
                .collect();
            if algs.is_empty() {
                let own: &[Algorithm] = match &k.alg {
                    Some(a) => std::slice::from_ref(a),
                    None => k.public.kind().algorithms(),
                };
                unusable.push((
                    k.kid.clone(),
                    format!(
                        "it verifies only {}, not --alg {}",
                        keys::names(own),
                        rules.alg.map_or("", alg_name)
                    ),
                ));
                continue;
            }
            entries.push(Entry::build(
                Some(k.kid.clone()),
                &algs,
                &k.public.decoding_key(),
                &format!("key {:?} in {name}", k.kid),
            )?);
        }
        if entries.is_empty() {
            let mut why = match rules.alg {
                Some(a) => format!("has no key that can verify --alg {}", alg_name(a)),
                None => "has no key that can verify signatures (RSA, P-256, P-384 or Ed25519)"
                    .to_string(),
            };
            let reasons: Vec<&str> = skipped.iter().map(|s| s.why.as_str()).collect();
            if !reasons.is_empty() {
                why = format!("{why}: {}", reasons.join("; "));
            }
            return Err(Error::config(format!("key set {name}"), why));
        }
        let set = KeySet {
            name: name.to_string(),
            skipped: unusable,
        };
        Ok(Self::with_entries(
            entries,
            Some(set),
            rules,
            now,
            revocations,
        ))
    }

    fn with_entries(
        entries: Vec<Entry>,
        set: Option<KeySet>,
        rules: Rules,
        now: i64,
        revocations: Option<RevocationView>,
    ) -> Self {
        Verifier {
            entries,
            set,
            rules,
            now,
            revocations,
            any_aud: false,
            buf: Vec::with_capacity(1024),
            sig: Vec::with_capacity(512),
        }
    }

    /// Accepts tokens whatever their audience when no `aud` is required (`verify --any-aud`;
    /// `logout`, since revoking a token grants nothing). Without it, a token that carries
    /// `aud` is refused unless `Rules::aud` names one of its values (SPEC §8, RFC 7519
    /// §4.1.3).
    pub fn accept_any_audience(&mut self, yes: bool) {
        self.any_aud = yes;
    }

    /// Checks one token: size and shape, header algorithm, signature, then the claims
    /// (exp, nbf, iat, aud, iss), then revocation. With `claims_out`, the payload is also
    /// returned as a JSON object (for `--json`).
    ///
    /// # Errors
    /// `TokenInvalid` (1), `TokenTime` (3) or `TokenRevoked` (4).
    pub fn verify(&mut self, token: &[u8], claims_out: Option<&mut Value>) -> Result<Verified> {
        let parts = split(token)?;
        // Header: only the algorithm matters, and only to pick among those the key allows.
        b64_decode_into(parts.header, "header", &mut self.buf)?;
        require_object(&self.buf, "header")?;
        let header: HeaderView = serde_json::from_slice(&self.buf)
            .map_err(|e| Error::TokenInvalid(format!("header is not valid JSON: {e}")))?;
        check_depth(&self.buf, "header")?;
        let alg = header
            .alg
            .ok_or_else(|| Error::TokenInvalid("header has no alg".into()))?;
        if alg.eq_ignore_ascii_case("none") {
            return Err(Error::TokenInvalid(
                "alg none (an unsigned token) is never accepted".into(),
            ));
        }
        let verifier = match &self.set {
            None => {
                let entry = &self.entries[0];
                entry.find(&alg).ok_or_else(|| {
                    Error::TokenInvalid(format!(
                        "algorithm {alg} is not accepted for this key (accepted: {})",
                        entry.allowed_names()
                    ))
                })?
            }
            Some(set) => select(&self.entries, set, &alg, header.kid.as_deref())?,
        };
        // RFC 7515 §4.1.11: extensions we do not understand must be refused.
        if let Some(crit) = header.crit {
            return Err(Error::TokenInvalid(format!(
                "header lists critical extensions this tool does not support: {}",
                crit.join(", ")
            )));
        }
        self.sig.clear();
        URL_SAFE_NO_PAD
            .decode_vec(parts.signature, &mut self.sig)
            .map_err(|_| Error::TokenInvalid("signature is not valid base64url".into()))?;
        if verifier.verify(parts.message, &self.sig).is_err() {
            return Err(Error::TokenInvalid("signature does not match".into()));
        }
        // Only now, with the signature checked, are the claims looked at.
        b64_decode_into(parts.payload, "payload", &mut self.buf)?;
        // serde skips the strings of claims it does not look at without checking their
        // UTF-8; check it here so text and `--json` agree on what is valid JSON.
        let text = std::str::from_utf8(&self.buf).map_err(|e| {
            Error::TokenInvalid(format!(
                "payload is not valid JSON: invalid UTF-8 at byte {}",
                e.valid_up_to()
            ))
        })?;
        // serde would also read a struct from a JSON array (`[1]` as `exp: 1`).
        require_object(&self.buf, "payload")?;
        // Parsed the same way in both modes, so a duplicated registered claim (RFC 7519 §4)
        // is refused in both, not silently resolved to its last value by `--json`.
        let claims: ClaimsView = match serde_json::from_str(text) {
            Ok(c) => {
                check_depth(&self.buf, "payload")?;
                c
            }
            Err(e) if e.is_data() => {
                // Not a JSON object, or a registered claim of the wrong type.
                json_object(&self.buf, "payload")?;
                return Err(Error::TokenInvalid(format!("payload: {e}")));
            }
            Err(e) => {
                return Err(Error::TokenInvalid(format!(
                    "payload is not valid JSON: {e}"
                )));
            }
        };
        if let Some(out) = claims_out {
            *out = Value::Object(json_object(&self.buf, "payload")?);
        }
        self.check_claims(&claims)
    }

    fn check_claims(&self, c: &ClaimsView) -> Result<Verified> {
        let now = self.now as f64;
        let leeway = self.rules.leeway as f64;
        let exp = numeric_date(c.exp, "exp")?;
        let nbf = numeric_date(c.nbf, "nbf")?;
        let iat = numeric_date(c.iat, "iat")?;
        match exp {
            None if self.rules.exp_required => {
                return Err(Error::TokenInvalid(
                    "token has no exp claim (pass --no-exp-required to accept such tokens)".into(),
                ));
            }
            Some(exp) if now >= exp + leeway => {
                let at = exp.floor() as i64;
                return Err(Error::TokenTime(format!(
                    "expired: at {} ({})",
                    crate::output::utc(at),
                    crate::output::relative(at, self.now)
                )));
            }
            _ => {}
        }
        if let Some(nbf) = nbf
            && nbf > now + leeway
        {
            return Err(Error::TokenTime(format!(
                "not valid before {}",
                crate::output::utc(nbf.ceil() as i64)
            )));
        }
        if let Some(iat) = iat
            && iat > now + leeway
        {
            return Err(Error::TokenTime(format!(
                "not yet valid: issued in the future at {}",
                crate::output::utc(iat.ceil() as i64)
            )));
        }
        match &self.rules.aud {
            Some(want) if !c.aud.as_ref().is_some_and(|a| a.contains(want)) => {
                return Err(Error::TokenInvalid(format!("audience is not {want:?}")));
            }
            None if c.aud.is_some() && !self.any_aud => {
                return Err(Error::TokenInvalid(
                    "token has an audience; pass --aud with one of its values, or --any-aud".into(),
                ));
            }
            _ => {}
        }
        if let Some(want) = &self.rules.iss
            && !c.iss.as_ref().is_some_and(|a| a.contains(want))
        {
            return Err(Error::TokenInvalid(format!("issuer is not {want:?}")));
        }
        let iat_secs = iat.map(|t| t.floor() as i64);
        if let Some(r) = &self.revocations
            && let Some(why) = r.check(c.jti.as_deref(), c.sub.as_deref(), iat_secs)
        {
            return Err(Error::TokenRevoked(match why {
                Revoked::Token => "this token was logged out".to_string(),
                Revoked::Subject(at) => format!(
                    "every token of {:?} issued up to {} was revoked",
                    c.sub.as_deref().unwrap_or_default(),
                    crate::output::utc(at)
                ),
            }));
        }
        Ok(Verified {
            sub: c.sub.as_ref().map(|s| s.to_string()),
            jti: c.jti.as_ref().map(|s| s.to_string()),
            exp: exp.map(|e| e.ceil() as i64),
        })
    }
}

/// Chooses the verifier of a JWK Set for a token's `alg` and `kid` (SPEC §3).
fn select<'a>(
    entries: &'a [Entry],
    set: &KeySet,
    alg: &str,
    kid: Option<&str>,
) -> Result<&'a dyn JwtVerifier> {
    let Some(kid) = kid else {
        let mut usable = entries.iter().filter_map(|e| e.find(alg));
        return match (usable.next(), usable.next()) {
            (Some(v), None) => Ok(v),
            (None, _) => Err(Error::TokenInvalid(format!(
                "algorithm {alg} is not accepted by any key in {}",
                set.name
            ))),
            (Some(_), Some(_)) => Err(Error::TokenInvalid(format!(
                "token has no kid and {} keys in {} accept {alg}; cannot choose",
                entries.iter().filter(|e| e.find(alg).is_some()).count(),
                set.name
            ))),
        };
    };
    let mut named = entries
        .iter()
        .filter(|e| e.kid.as_deref() == Some(kid))
        .peekable();
    if named.peek().is_none() {
        if let Some((_, why)) = set.skipped.iter().find(|(k, _)| k == kid) {
            return Err(Error::TokenInvalid(format!(
                "kid {kid:?} names a key of {} that cannot be used: {why}",
                set.name
            )));
        }
        return Err(Error::TokenInvalid(format!(
            "unknown kid {kid:?}: no such key in {}",
            set.name
        )));
    }
    let mut accepted = Vec::new();
    for e in named {
        if let Some(v) = e.find(alg) {
            return Ok(v);
        }
        accepted.push(e.allowed_names());
    }
    Err(Error::TokenInvalid(format!(
        "algorithm {alg} is not accepted for key {kid:?} (accepted: {})",
        accepted.join(", ")
    )))
}

/// The JOSE name of an algorithm (`HS256`, `EdDSA`, …).
pub fn alg_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// Parses a duration: `20s`, `15m`, `2h`, `7d`, or plain seconds.
///
/// # Errors
/// A usage error naming `flag`.
pub fn parse_duration(flag: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    let secs = if let Ok(n) = s.parse::<u64>() {
        n
    } else {
        humantime::parse_duration(s)
            .map_err(|e| {
                Error::usage(
                    format!("{flag} {s:?}"),
                    format!("{e}; expected e.g. 20s, 15m, 2h, 7d or seconds"),
                )
            })?
            .as_secs()
    };
    // A century is more than any token needs, and keeps the arithmetic far from overflow.
    if secs > 100 * 366 * 86_400 {
        return Err(Error::usage(
            format!("{flag} {s:?}"),
            "is longer than 100 years",
        ));
    }
    Ok(secs as i64)
}

/// Parses a time: unix seconds or RFC 3339 (`2026-01-01T00:00:00Z`).
///
/// # Errors
/// A usage error naming `flag`.
pub fn parse_time(flag: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return if (0..=253_402_300_799).contains(&n) {
            Ok(n)
        } else {
            Err(Error::usage(
                format!("{flag} {s}"),
                "unix seconds must be between 0 and 253402300799 (year 9999)",
            ))
        };
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            Error::usage(
                format!("{flag} {s:?}"),
                "expected unix seconds or an RFC 3339 time such as 2026-01-01T00:00:00Z",
            )
        })
        .and_then(|t| {
            if t < 0 {
                Err(Error::usage(format!("{flag} {s:?}"), "is before 1970"))
            } else {
                Ok(t)
            }
        })
}

/// Parses `--claim K=V` values into a claims map: V is JSON if it parses, else a string.
///
/// # Errors
/// A usage error for a missing `=`, an empty key, a reserved claim or a duplicate.
pub fn parse_claims(specs: &[String], into: &mut Map<String, Value>) -> Result<()> {
    let mut seen = HashSet::new();
    for spec in specs {
        let Some((k, v)) = spec.split_once('=') else {
            return Err(Error::usage(format!("--claim {spec:?}"), "expected K=V"));
        };
        if k.is_empty() {
            return Err(Error::usage(
                format!("--claim {spec:?}"),
                "the claim name is empty",
            ));
        }
        if RESERVED_CLAIMS.contains(&k) {
            return Err(Error::usage(
                format!("--claim {k}"),
                format!("set {k} with its own flag (--{k})"),
            ));
        }
        if !seen.insert(k) {
            return Err(Error::usage(format!("--claim {k}"), "is given twice"));
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        // A token id is a string (RFC 7519 §4.1.7); a number here would mint a token that
        // verification and logout cannot use.
        if k == "jti" && !value.is_string() {
            return Err(Error::usage(
                format!("--claim {spec:?}"),
                "jti must be a string",
            ));
        }
        into.insert(k.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("--ttl", "20s").unwrap(), 20);
        assert_eq!(parse_duration("--ttl", "15m").unwrap(), 900);
        assert_eq!(parse_duration("--ttl", "2h").unwrap(), 7200);
        assert_eq!(parse_duration("--ttl", "7d").unwrap(), 604_800);
        assert_eq!(parse_duration("--ttl", "42").unwrap(), 42);
        assert!(parse_duration("--ttl", "soon").is_err());
        assert!(parse_duration("--ttl", "-5").is_err());
        assert!(parse_duration("--ttl", "1000y").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("--exp", "0").unwrap(), 0);
        assert_eq!(
            parse_time("--exp", "2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600
        );
        assert_eq!(
            parse_time("--exp", "2026-01-01T01:00:00+01:00").unwrap(),
            1_767_225_600
        );
        assert!(parse_time("--exp", "tomorrow").is_err());
        assert!(parse_time("--exp", "-1").is_err());
    }

    #[test]
    fn claims() {
        let mut m = Map::new();
        parse_claims(
            &[
                "n=1".into(),
                "s=x".into(),
                "o={\"a\":[1]}".into(),
                "q=\"7\"".into(),
                "e=".into(),
            ],
            &mut m,
        )
        .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"n":1,"s":"x","o":{"a":[1]},"q":"7","e":""})
        );
        assert!(parse_claims(&["x".into()], &mut Map::new()).is_err());
        assert!(parse_claims(&["=1".into()], &mut Map::new()).is_err());
        assert!(parse_claims(&["exp=1".into()], &mut Map::new()).is_err());
        assert!(parse_claims(&["a=1".into(), "a=2".into()], &mut Map::new()).is_err());
        assert!(parse_claims(&["jti=1".into()], &mut Map::new()).is_err());
        assert!(parse_claims(&["jti=abc".into()], &mut Map::new()).is_ok());
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
