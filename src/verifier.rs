//! The token verifier (SPEC §3, RFC 8725): built once from the key(s) and the rules,
//! immutable and `Send + Sync`, so one instance serves every token of a stream and every
//! request of a server. The time is passed in per token; the buffers live in a per-caller
//! [`Scratch`]; revocation is asked of a [`RevocationStore`] per token.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::crypto::JwtVerifier;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::alg::{self, Algorithm};
use crate::asym;
use crate::error::{Error, KeyError, Part, Reason, Result, Unusable, VerifyError};
use crate::keys::Key;
use crate::store::{Query, RevocationStore};
use crate::tokens::{b64_decode_into, json_object, split};

/// A verification result before it becomes an [`Error`].
type Checked<T> = std::result::Result<T, VerifyError>;

fn invalid(why: Reason) -> VerifyError {
    VerifyError::Invalid(why)
}

/// `json_object`'s verdict.
fn object(bytes: &[u8], what: Part) -> Checked<serde_json::Map<String, Value>> {
    json_object(bytes, what)
}

/// serde_json skips unknown fields without applying its recursion limit, so a view struct
/// alone would accept any nesting. Input with more brackets than the limit (128) is parsed in
/// full, which refuses nesting deeper than serde's default as every other path does (SPEC §6).
fn check_depth(bytes: &[u8], what: Part) -> Checked<()> {
    if bytes.iter().filter(|&&b| b == b'[' || b == b'{').count() > 128 {
        object(bytes, what)?;
    }
    Ok(())
}

/// View structs deserialize from JSON arrays too (serde fills the fields in order), but a
/// JOSE header and a claims set must be objects: anything else gets `json_object`'s error.
fn require_object(bytes: &[u8], what: Part) -> Checked<()> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        object(bytes, what)?;
        return Err(invalid(Reason::NotObject(what)));
    }
    Ok(())
}

/// A JSON string, borrowed from the input when it has no escapes. serde borrows a
/// `Cow<str>` field only when it is not wrapped: an `Option<Cow<str>>` is always a new
/// `String`; an `Option<Text>` is not.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct HeaderView<'a> {
    #[serde(borrow)]
    alg: Option<Text<'a>>,
    #[serde(default, borrow)]
    kid: Option<Text<'a>>,
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
    sub: Option<Text<'a>>,
    #[serde(default, borrow)]
    jti: Option<Text<'a>>,
    #[serde(default, borrow)]
    sid: Option<Text<'a>>,
    #[serde(default, borrow)]
    iss: Option<OneOrMany<'a>>,
    #[serde(default, borrow)]
    aud: Option<OneOrMany<'a>>,
}

/// A NumericDate claim: a JSON number of seconds (fractions allowed, RFC 7519 §2).
fn numeric_date(v: Option<&RawValue>, name: &'static str) -> Checked<Option<f64>> {
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
            .ok_or_else(|| invalid(Reason::UnusableNumber(name))),
        _ if raw == "null" => Ok(None),
        _ => Err(invalid(Reason::NotSeconds(name))),
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
    /// `iat` in whole seconds (rounded down), if present.
    pub iat: Option<i64>,
    /// `sid` (SPEC §13), if present and sessions are looked up (not for a `--jwks` check,
    /// whose identity provider's tokens carry their own).
    pub sid: Option<String>,
}

impl Verified {
    /// What the revocation store is asked about this token at `now`: its `jti`, `sub`, `iat`
    /// and `sid`.
    pub fn query(&self, now: i64) -> Query<'_> {
        Query {
            jti: self.jti.as_deref(),
            sub: self.sub.as_deref(),
            iat: self.iat,
            sid: self.sid.as_deref(),
            now,
        }
    }
}

/// The settings of one `verify` run.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Accept only this algorithm (else every algorithm of the key's family).
    pub alg: Option<Algorithm>,
    /// Accepted audiences: the token's `aud` must hold one of them (`verify --aud`, which
    /// may be repeated; `serve`'s one configured audience). When empty, a token that carries
    /// `aud` is refused unless `any_aud` (SPEC §8, RFC 7519 §4.1.3).
    pub aud: Vec<String>,
    /// Accept a token whatever its audience when `aud` is empty (`verify --any-aud`;
    /// revoking, since revoking a token grants nothing).
    pub any_aud: bool,
    /// Accepted issuers: when not empty, the token's `iss` must be one of them.
    pub iss: Vec<String>,
    /// Clock skew allowed for `exp`, `nbf` and `iat`, in seconds.
    pub leeway: i64,
    /// Whether `exp` must be present.
    pub exp_required: bool,
    /// Do not look a token's `sid` up (SPEC §13: a `--jwks` check; an identity provider's
    /// tokens carry their own `sid`).
    pub ignore_sid: bool,
}

/// How many algorithms one key can accept at most (RSA: RS256/384/512, PS256/384/512).
const MAX_ALGS: usize = 6;

/// One verifying key and the algorithms it accepts.
struct Entry {
    /// The key's `kid` (used only when keys are chosen from a set or a key ring).
    kid: Option<String>,
    algs: Vec<Algorithm>,
    key: DecodingKey,
    /// A retired key verifies only before this time (unix seconds).
    until: Option<i64>,
}

impl Entry {
    /// Checks once, when the verifier is built, that the crypto provider takes `key` for
    /// every one of `algs`, so a token never meets an unusable key.
    fn build(
        kid: Option<String>,
        algs: &[Algorithm],
        key: DecodingKey,
        name: &str,
    ) -> Result<Self> {
        for alg in algs {
            // An HMAC verifier takes any secret of the HMAC family, of any length: checking
            // that is the provider's own check, without hashing the key into the inner and
            // outer pads of each algorithm (two SHA-512 blocks each for HS384 and HS512), a
            // quarter of a one-shot `verify`'s own instructions.
            if hmac_usable(*alg, &key) {
                continue;
            }
            new_verifier(*alg, &key).map_err(|e| Error::key(name, e))?;
        }
        Ok(Entry {
            kid,
            algs: algs.to_vec(),
            key,
            until: None,
        })
    }

    /// Whether the key may verify at `now` (a retired key only until its time).
    fn live(&self, now: i64) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// The position of `alg` among this key's algorithms.
    fn find(&self, alg: &str) -> Option<usize> {
        self.algs.iter().position(|a| alg::name(*a) == alg)
    }

    fn allowed_names(&self) -> String {
        alg::names(&self.algs)
    }
}

/// Whether `alg` is an HMAC algorithm and `key` a secret [`new_verifier`] builds it for: the
/// checks of the provider's HMAC verifiers (`jsonwebtoken`'s `hmac.rs`), whose `new_from_slice`
/// takes a key of any length. Anything else is left to [`new_verifier`] and its error.
fn hmac_usable(alg: Algorithm, key: &DecodingKey) -> bool {
    use jsonwebtoken::AlgorithmFamily::Hmac;
    alg.family() == Hmac && key.family() == Hmac && key.try_get_as_bytes().is_ok()
}

fn new_verifier(
    alg: Algorithm,
    key: &DecodingKey,
) -> std::result::Result<Box<dyn JwtVerifier>, String> {
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    (provider.verifier_factory)(&alg, key).map_err(|e| e.to_string())
}

/// A JWK Set the keys come from: chosen by the token's `kid`.
struct KeySet {
    /// The file, for messages.
    name: String,
    /// Keys of the file that cannot be used, by `kid`, with the reason.
    skipped: Vec<(String, Unusable)>,
}

/// Per-caller working space: decode buffers and the crypto verifiers built so far, so a
/// stream of tokens allocates nothing per token. One per thread (or per request); the
/// [`Verifier`] itself is shared.
#[derive(Default)]
pub struct Scratch {
    buf: Vec<u8>,
    sig: Vec<u8>,
    /// The crypto verifier of (entry, algorithm), built on first use.
    built: Vec<Option<Box<dyn JwtVerifier>>>,
}

impl Scratch {
    /// Empty scratch space.
    pub fn new() -> Self {
        Scratch {
            buf: Vec::with_capacity(1024),
            sig: Vec::with_capacity(512),
            built: Vec::new(),
        }
    }
}

/// Checks tokens against one key (or a JWK Set) and one set of rules. Built once; holds no
/// time, no revocation state and no buffers, so it can be shared by every thread.
pub struct Verifier {
    entries: Vec<Entry>,
    /// `Some` when `entries` come from a JWK Set and are chosen by `kid`.
    set: Option<KeySet>,
    /// True when `entries` are a key and its retired keys (`init --rotate`): chosen by `kid`
    /// when one matches, else tried in order, current first.
    ring: bool,
    rules: Rules,
}

impl Verifier {
    /// Builds a verifier for `key` and its retired keys (`Key::retired`). The accepted
    /// algorithms come from each key (and `--alg`), never from a token. With retired keys, a
    /// token's `kid` chooses the key when it names one; otherwise (an HMAC token from before
    /// the rotation, a foreign `kid`) the current key is tried, then the retired ones. A
    /// retired key verifies only until its `expires_at`.
    ///
    /// # Errors
    /// A key error when `--alg` is not one the key verifies, or the key is unusable.
    pub fn new(key: &Key, rules: Rules) -> Result<Self> {
        let all = key.kind.algorithms();
        let ring = !key.retired.is_empty();
        // `--alg` of a retired key's family only (after a rotation to another family): the
        // retired keys that take it are all there is to verify with.
        let retired_only = rules.alg.is_some_and(|a| {
            !all.contains(&a) && key.retired.iter().any(|r| r.kind.algorithms().contains(&a))
        });
        let allowed: Vec<Algorithm> = match rules.alg {
            Some(_) if retired_only => Vec::new(),
            Some(a) if !all.contains(&a) => {
                return Err(Error::Key(KeyError::AlgMismatch {
                    alg: alg::name(a),
                    key: key.name(),
                    kind: key.kind.article(),
                    verifies: alg::names(all),
                }));
            }
            Some(a) => vec![a],
            None => all.to_vec(),
        };
        let mut entries = Vec::new();
        if !retired_only {
            entries.push(Entry::build(
                ring.then(|| key.id.clone()),
                &allowed,
                key.decoding().clone(),
                &format!("key {}", key.name()),
            )?);
        }
        for r in &key.retired {
            let algs: Vec<Algorithm> = r
                .kind
                .algorithms()
                .iter()
                .copied()
                .filter(|a| rules.alg.is_none_or(|x| x == *a))
                .collect();
            if algs.is_empty() {
                continue;
            }
            let mut e = Entry::build(
                Some(r.kid.clone()),
                &algs,
                r.decoding.clone(),
                &format!("retired key {:?} of {}", r.kid, key.name()),
            )?;
            e.until = Some(r.expires_at);
            entries.push(e);
        }
        Ok(Verifier {
            entries,
            set: None,
            ring,
            rules,
        })
    }

    /// Builds a verifier for the keys of a JWK Set (`verify --jwks`): each token's key is
    /// chosen by its `kid`; a token without `kid` needs exactly one key in the set that
    /// accepts its algorithm. A key accepts its kind's algorithms, narrowed by the JWK's
    /// `alg` and by `--alg`.
    ///
    /// # Errors
    /// A key error when no key of the set can verify (the allowed algorithms).
    pub fn from_set(
        name: &str,
        keys: &[asym::SetKey],
        skipped: &[asym::Skipped],
        rules: Rules,
    ) -> Result<Self> {
        let mut entries = Vec::new();
        let mut unusable: Vec<(String, Unusable)> = skipped
            .iter()
            .filter_map(|s| s.kid.clone().map(|k| (k, Unusable::Skipped(s.why.clone()))))
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
                    Unusable::OtherAlg {
                        verifies: alg::names(own),
                        alg: rules.alg.map_or("", alg::name),
                    },
                ));
                continue;
            }
            entries.push(Entry::build(
                Some(k.kid.clone()),
                &algs,
                k.public.decoding_key(),
                &format!("key {:?} in {name}", k.kid),
            )?);
        }
        if entries.is_empty() {
            return Err(Error::Key(KeyError::NoneInSet {
                set: name.to_string(),
                alg: rules.alg.map(alg::name),
                reasons: skipped.iter().map(|s| s.why.clone()).collect(),
            }));
        }
        Ok(Verifier {
            entries,
            set: Some(KeySet {
                name: name.to_string(),
                skipped: unusable,
            }),
            ring: false,
            rules,
        })
    }

    /// Checks one token at time `now`: size and shape, header algorithm, signature, then the
    /// claims (exp, nbf, iat, aud, iss), then, with `revocations`, whether it was revoked.
    /// With `claims_out`, the payload is also returned as a JSON object (for `--json`).
    ///
    /// # Errors
    /// `Error::Token` with the reason; a store error when revocation cannot be checked.
    pub fn verify(
        &self,
        token: &[u8],
        now: i64,
        scratch: &mut Scratch,
        revocations: Option<&dyn RevocationStore>,
        claims_out: Option<&mut Value>,
    ) -> Result<Verified> {
        let checked = self.check(token, now, scratch, claims_out)?;
        if let Some(store) = revocations
            && let Some(why) = store.check(&checked.query(now))?
        {
            return Err(VerifyError::Revoked(why).into());
        }
        Ok(checked)
    }

    /// Everything `verify` checks but revocation: the caller then asks the store about
    /// [`Verified::query`] (a stream asks about a whole batch of verified tokens in one
    /// [`RevocationStore::check_many`], so each token is decoded once).
    ///
    /// # Errors
    /// `Error::Token` with the reason.
    pub fn check(
        &self,
        token: &[u8],
        now: i64,
        scratch: &mut Scratch,
        claims_out: Option<&mut Value>,
    ) -> Result<Verified> {
        Ok(self.check_token(token, now, scratch, claims_out)?)
    }

    /// `check`, with the verifier's own error type.
    fn check_token(
        &self,
        token: &[u8],
        now: i64,
        scratch: &mut Scratch,
        claims_out: Option<&mut Value>,
    ) -> Checked<Verified> {
        let parts = split(token)?;
        // Header: only the algorithm matters, and only to pick among those the key allows.
        let buf = &mut scratch.buf;
        b64_decode_into(parts.header, Part::Header, buf)?;
        require_object(buf, Part::Header)?;
        let header: HeaderView = serde_json::from_slice(buf).map_err(|e| {
            invalid(Reason::NotJson {
                part: Part::Header,
                detail: e.to_string(),
            })
        })?;
        check_depth(buf, Part::Header)?;
        let alg = header.alg.ok_or_else(|| invalid(Reason::NoAlg))?.0;
        if alg.eq_ignore_ascii_case("none") {
            return Err(invalid(Reason::AlgNone));
        }
        let (entry, at) = match &self.set {
            None if self.ring => ring_first(&self.entries, &alg, header.kid.as_deref(), now)?,
            None => {
                let entry = &self.entries[0];
                let at = entry.find(&alg).ok_or_else(|| {
                    invalid(Reason::AlgNotAccepted {
                        alg: alg.to_string(),
                        kid: None,
                        accepted: entry.allowed_names(),
                    })
                })?;
                (0, at)
            }
            Some(set) => select(&self.entries, set, &alg, header.kid.as_deref())?,
        };
        // RFC 7515 §4.1.11: extensions we do not understand must be refused.
        if let Some(crit) = header.crit {
            return Err(invalid(Reason::Critical(
                crit.iter().map(|c| c.to_string()).collect(),
            )));
        }
        scratch.sig.clear();
        URL_SAFE_NO_PAD
            .decode_vec(parts.signature, &mut scratch.sig)
            .map_err(|_| invalid(Reason::NotBase64(Part::Signature)))?;
        let mut good =
            self.signature_ok(&mut scratch.built, &scratch.sig, entry, at, parts.message)?;
        if !good && self.ring && header.kid.as_deref() != self.entries[entry].kid.as_deref() {
            // No kid chose the key: try the other live keys that take this algorithm.
            for (i, e) in self.entries.iter().enumerate().skip(entry + 1) {
                if let Some(at) = e.find(&alg).filter(|_| e.live(now))
                    && self.signature_ok(&mut scratch.built, &scratch.sig, i, at, parts.message)?
                {
                    good = true;
                    break;
                }
            }
        }
        if !good {
            return Err(invalid(Reason::BadSignature));
        }
        // Only now, with the signature checked, are the claims looked at.
        let buf = &mut scratch.buf;
        b64_decode_into(parts.payload, Part::Payload, buf)?;
        // serde skips the strings of claims it does not look at without checking their
        // UTF-8; check it here so text and `--json` agree on what is valid JSON.
        let text = std::str::from_utf8(buf).map_err(|e| {
            invalid(Reason::NotUtf8 {
                part: Part::Payload,
                at: e.valid_up_to(),
            })
        })?;
        // serde would also read a struct from a JSON array (`[1]` as `exp: 1`).
        require_object(buf, Part::Payload)?;
        // Parsed the same way in both modes, so a duplicated registered claim (RFC 7519 §4)
        // is refused in both, not silently resolved to its last value by `--json`.
        let claims: ClaimsView = match serde_json::from_str(text) {
            Ok(c) => {
                check_depth(buf, Part::Payload)?;
                c
            }
            Err(e) if e.is_data() => {
                // Not a JSON object, or a registered claim of the wrong type.
                object(buf, Part::Payload)?;
                return Err(invalid(Reason::Claims(e.to_string())));
            }
            Err(e) => {
                return Err(invalid(Reason::NotJson {
                    part: Part::Payload,
                    detail: e.to_string(),
                }));
            }
        };
        if let Some(out) = claims_out {
            *out = Value::Object(object(buf, Part::Payload)?);
        }
        self.check_claims(&claims, now)
    }

    /// Whether `sig` signs `message` under entry `entry` with its `at`-th algorithm; `built`
    /// is the scratch's cache of crypto verifiers.
    #[allow(clippy::ptr_arg)] // `JwtVerifier::verify` takes a `&Vec<u8>`.
    fn signature_ok(
        &self,
        built: &mut Vec<Option<Box<dyn JwtVerifier>>>,
        sig: &Vec<u8>,
        entry: usize,
        at: usize,
        message: &[u8],
    ) -> Checked<bool> {
        let slot = entry * MAX_ALGS + at;
        if built.len() <= slot {
            built.resize_with(slot + 1, || None);
        }
        let crypto = match &mut built[slot] {
            Some(v) => v,
            empty => {
                let e = &self.entries[entry];
                empty.insert(
                    new_verifier(e.algs[at], &e.key).map_err(|e| invalid(Reason::Crypto(e)))?,
                )
            }
        };
        Ok(crypto.verify(message, sig).is_ok())
    }

    fn check_claims(&self, c: &ClaimsView, now: i64) -> Checked<Verified> {
        let now_secs = now;
        let now = now as f64;
        let leeway = self.rules.leeway as f64;
        let exp = numeric_date(c.exp, "exp")?;
        let nbf = numeric_date(c.nbf, "nbf")?;
        let iat = numeric_date(c.iat, "iat")?;
        match exp {
            None if self.rules.exp_required => {
                return Err(invalid(Reason::NoExp));
            }
            Some(exp) if now >= exp + leeway => {
                return Err(VerifyError::Expired {
                    exp: exp.floor() as i64,
                    now: now_secs,
                });
            }
            _ => {}
        }
        if let Some(nbf) = nbf
            && nbf > now + leeway
        {
            return Err(VerifyError::NotYetValid(nbf.ceil() as i64));
        }
        if let Some(iat) = iat
            && iat > now + leeway
        {
            return Err(VerifyError::IssuedInFuture(iat.ceil() as i64));
        }
        let aud = &self.rules.aud;
        if !aud.is_empty() {
            if !c
                .aud
                .as_ref()
                .is_some_and(|a| aud.iter().any(|w| a.contains(w)))
            {
                return Err(invalid(Reason::Audience(aud.clone())));
            }
        } else if c.aud.is_some() && !self.rules.any_aud {
            return Err(invalid(Reason::UnexpectedAudience));
        }
        let iss = &self.rules.iss;
        if !iss.is_empty()
            && !c
                .iss
                .as_ref()
                .is_some_and(|a| iss.iter().any(|w| a.contains(w)))
        {
            return Err(invalid(Reason::Issuer(iss.clone())));
        }
        Ok(Verified {
            sub: c.sub.as_deref().map(str::to_string),
            jti: c.jti.as_deref().map(str::to_string),
            exp: exp.map(|e| e.ceil() as i64),
            iat: iat.map(|t| t.floor() as i64),
            sid: if self.rules.ignore_sid {
                None
            } else {
                c.sid.as_deref().map(str::to_string)
            },
        })
    }
}

/// The first key of a key ring to try for a token's `alg` and `kid` at `now`: the key its
/// `kid` names (refused when that key's time has passed), else the first live key that takes
/// `alg` (the current key when it does); the caller tries the later ones when the signature
/// does not match.
fn ring_first(
    entries: &[Entry],
    alg: &str,
    kid: Option<&str>,
    now: i64,
) -> Checked<(usize, usize)> {
    if let Some(kid) = kid
        && let Some((i, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.kid.as_deref() == Some(kid))
    {
        if let Some(until) = e.until.filter(|_| !e.live(now)) {
            return Err(invalid(Reason::RetiredKey {
                kid: kid.to_string(),
                until,
            }));
        }
        return match e.find(alg) {
            Some(at) => Ok((i, at)),
            None => Err(invalid(Reason::AlgNotAccepted {
                alg: alg.to_string(),
                kid: Some(kid.to_string()),
                accepted: e.allowed_names(),
            })),
        };
    }
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.live(now))
        .find_map(|(i, e)| e.find(alg).map(|at| (i, at)))
        .ok_or_else(|| {
            invalid(Reason::AlgNotAccepted {
                alg: alg.to_string(),
                kid: None,
                accepted: entries[0].allowed_names(),
            })
        })
}

/// Chooses the key of a JWK Set for a token's `alg` and `kid` (SPEC §3): the entry and the
/// position of the algorithm in it.
fn select(
    entries: &[Entry],
    set: &KeySet,
    alg: &str,
    kid: Option<&str>,
) -> Checked<(usize, usize)> {
    let Some(kid) = kid else {
        let mut usable = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.find(alg).map(|at| (i, at)));
        return match (usable.next(), usable.next()) {
            (Some(found), None) => Ok(found),
            (None, _) => Err(invalid(Reason::AlgNotInSet {
                alg: alg.to_string(),
                set: set.name.clone(),
            })),
            (Some(_), Some(_)) => Err(invalid(Reason::KidNeeded {
                alg: alg.to_string(),
                count: entries.iter().filter(|e| e.find(alg).is_some()).count(),
                set: set.name.clone(),
            })),
        };
    };
    let mut named = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kid.as_deref() == Some(kid))
        .peekable();
    if named.peek().is_none() {
        if let Some((_, why)) = set.skipped.iter().find(|(k, _)| k == kid) {
            return Err(invalid(Reason::UnusableKid {
                kid: kid.to_string(),
                set: set.name.clone(),
                why: why.clone(),
            }));
        }
        return Err(invalid(Reason::UnknownKid {
            kid: kid.to_string(),
            set: set.name.clone(),
        }));
    }
    let mut accepted = Vec::new();
    for (i, e) in named {
        if let Some(at) = e.find(alg) {
            return Ok((i, at));
        }
        accepted.push(e.allowed_names());
    }
    Err(invalid(Reason::AlgNotAccepted {
        alg: alg.to_string(),
        kid: Some(kid.to_string()),
        accepted: accepted.join(", "),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_usable_only_where_the_provider_builds_the_verifier() {
        use jsonwebtoken::Algorithm::{ES256, EdDSA, HS256, HS384, HS512, RS256};
        let keys = [
            DecodingKey::from_secret(b""),
            DecodingKey::from_secret(b"k"),
            DecodingKey::from_secret(&[7; 64]),
            DecodingKey::from_secret(&[7; 300]),
            DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]),
            DecodingKey::from_ec_der(&[4; 65]),
            DecodingKey::from_ed_der(&[9; 32]),
        ];
        for key in &keys {
            for alg in [HS256, HS384, HS512, RS256, ES256, EdDSA] {
                if hmac_usable(alg, key) {
                    assert!(new_verifier(alg, key).is_ok(), "{alg:?}");
                }
            }
            let secret = key.family() == jsonwebtoken::AlgorithmFamily::Hmac;
            assert_eq!(hmac_usable(HS256, key), secret);
            assert!(!hmac_usable(RS256, key) && !hmac_usable(EdDSA, key));
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_verifier_can_be_shared_between_threads() {
        assert_send_sync::<Verifier>();
    }
}
