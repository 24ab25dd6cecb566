//! `login`, `mint`, `verify` and `decode`, and the token input they share with `logout`: one
//! token (the argument, or the only one on stdin) or a stream of them.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufWriter, IsTerminal as _, Read, Write};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::alg;
use crate::authority::{Authority, Issued, LoginRequest, MintRequest, Policy, Slot};
use crate::cli::args::{DecodeArgs, LoginArgs, MintArgs, VerifyArgs};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result, code};
use crate::cli::flags;
use crate::cli::jwks_url;
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::error::{Error as CoreError, Part, VerifyError};
use crate::json;
use crate::keys;
use crate::settings::{KeyConfig, KeySource};
use crate::store::{Lookups, Query, RevocationStore};
use crate::tokens::{self, Decoded, MAX_TOKEN_BYTES, decode_token};
use crate::users;
use crate::verifier::{Rules, Scratch, Verified, Verifier};

/// `login NAME`: check the password and print a token.
///
/// # Errors
/// Exit 5 for an unknown user, a wrong password or a disabled user, all alike.
pub fn login(args: &LoginArgs, ctx: &Ctx) -> Result<()> {
    users::check_name(&args.name)?;
    let ttl = ctx.ttl(args.claims.ttl.as_deref())?;
    // login has no --sub: the subject is the user name.
    if args
        .claims
        .claims
        .iter()
        .any(|c| c.split_once('=').is_some_and(|(k, _)| k == "sub"))
    {
        return Err(Error::usage(
            "--claim sub",
            "the subject of a login token is the user name; login has no --sub",
        ));
    }
    // The groups of a login token are the user's, from the users file (as `serve` issues
    // them); a token with other groups is a test token: `mint`.
    if args
        .claims
        .claims
        .iter()
        .any(|c| c.split_once('=').is_some_and(|(k, _)| k == "groups"))
    {
        return Err(Error::usage(
            "--claim groups",
            "the groups of a login token are the user's; set them with 'jwtauth user set NAME --group G', or use 'jwtauth mint'",
        ));
    }
    // A login token's session is the one its sign-in begins (SPEC §13).
    for name in ["sid", "amr"] {
        if args
            .claims
            .claims
            .iter()
            .any(|c| c.split_once('=').is_some_and(|(k, _)| k == name))
        {
            return Err(Error::usage(
                format!("--claim {name}"),
                format!("the {name} of a login token is its session's, set by the login"),
            ));
        }
    }
    let mut extra = Map::new();
    flags::claims(&args.claims.claims, &mut extra)?;
    password_input::check_source(&args.password)?;
    // Fail on an unusable key before asking for a password. With no key at all, the first
    // login that succeeds creates it; a refused one creates nothing (SPEC §8).
    let existing = keys::load_existing(&ctx.settings)?;
    if let Some(key) = &existing {
        ctx.warn_about(key);
        key.encoding(key.alg, args.claims.allow_weak_key)?;
    }
    let password = password_input::read(&args.password, Ask::Once)?;
    let key = match existing {
        Some(key) => Slot::ready(Arc::new(key)),
        None => Slot::lazy(|| {
            ctx.key_or_create(args.claims.allow_weak_key)
                .map(Arc::new)
                .map_err(core)
        }),
    };
    let authority = authority(ctx, key)?;
    let issued = authority.login(&LoginRequest {
        name: &args.name,
        password: &password,
        ttl: Some(ttl),
        iss: args.claims.iss.clone(),
        aud: aud_value(&args.claims.aud),
        extra,
        allow_weak_key: args.claims.allow_weak_key,
        client: crate::sessions::Client::Cli,
        browser: false,
    })?;
    drop(password);
    if let Some(rehash) = &issued.rehash {
        ctx.rehashed(&args.name, rehash);
    }
    noted(ctx, &issued);
    print_issued(ctx, &issued, false)
}

/// The core's error inside a command-line one (a key made on first login).
pub(super) fn core(e: Error) -> CoreError {
    match e {
        Error::Core(e) => e,
        other => CoreError::internal("jwtauth", other),
    }
}

/// The configured key, loaded when a use case first needs it.
pub(super) fn lazy_key(ctx: &Ctx) -> Slot<'_, Arc<keys::Key>> {
    Slot::lazy(|| ctx.key().map(Arc::new).map_err(core))
}

/// The authority of a command: the stores opened when first needed, the key as given.
pub(super) fn authority<'a>(ctx: &'a Ctx, key: Slot<'a, Arc<keys::Key>>) -> Result<Authority<'a>> {
    Ok(Authority::new(
        Slot::lazy(|| ctx.users().map(Arc::from).map_err(core)),
        Slot::lazy(|| ctx.revocations(Lookups::Few).map(Arc::from).map_err(core)),
        key,
        ctx.clock.as_ref(),
        Policy {
            hashing: ctx.hash_policy(),
            ttl: ctx.ttl(None)?,
            configured_ttl: ctx.ttl(None)?,
            issuer: ctx.settings.config.issuer.clone(),
            audience: ctx.settings.config.audience.clone(),
            lock_timeout: ctx.settings.lock_timeout,
        },
    )
    .with_rules(Arc::clone(&ctx.rules)))
}

/// The `aud` claim of `--aud` flags: none, one string, or an array of several (SPEC §8).
fn aud_value(flags: &[String]) -> Option<Value> {
    match flags {
        [] => None,
        [one] => Some(Value::String(one.clone())),
        many => Some(Value::Array(
            many.iter().cloned().map(Value::String).collect(),
        )),
    }
}

/// `mint --sub S`: sign a token with no password check.
///
/// Claims come from `--payload` (if any), then the flags, which win: `sub` is `--sub`, else
/// the payload's; `iat` is `--iat`, else the payload's, else now; `exp` is `--exp`, else
/// `iat` + `--ttl` when `--ttl` is given, else the payload's, else `iat` + the default ttl;
/// `nbf`, `iss`, `aud` are their flags', else the payload's; `jti` is `--claim jti`, else the
/// payload's, else random; `--claim`s replace payload fields of the same name.
///
/// # Errors
/// Exit 8 without a key (or for an unreadable `--payload` file), 2 for bad values.
pub fn mint(args: &MintArgs, ctx: &Ctx) -> Result<()> {
    let mut header = Map::new();
    flags::header_fields(&args.headers, &mut header)?;
    let mut payload = match &args.payload {
        Some(path) => read_payload(path)?,
        None => Map::new(),
    };
    let sub = match (&args.sub, payload.get("sub")) {
        (Some(sub), _) => sub.clone(),
        (None, Some(Value::String(sub))) => sub.clone(),
        (None, Some(_)) => return Err(payload_error("sub", "must be a string")),
        (None, None) => {
            return Err(Error::usage(
                "--sub",
                "is required: give --sub, or a sub in the --payload object",
            ));
        }
    };
    if sub.is_empty() {
        return Err(Error::usage("--sub", "must not be empty"));
    }
    let ttl = ctx.ttl(args.claims.ttl.as_deref())?;
    let time = |flag: &Option<String>, name: &str| -> Result<Option<i64>> {
        match flag {
            Some(t) => Ok(Some(flags::time(&format!("--{name}"), t)?)),
            None => payload_time(&payload, name),
        }
    };
    let iat_given = time(&args.iat, "iat")?;
    let nbf = time(&args.nbf, "nbf")?;
    let exp = match (&args.exp, &args.claims.ttl) {
        (Some(_), _) => time(&args.exp, "exp")?,
        // An explicit --ttl is a flag, and flags win over the payload's exp.
        (None, Some(_)) => None,
        (None, None) => payload_time(&payload, "exp")?,
    };
    let mut extra = Map::new();
    flags::claims(&args.claims.claims, &mut extra)?;
    let jti = match (extra.remove("jti"), payload.remove("jti")) {
        (Some(jti), _) => jti,
        (None, Some(jti @ Value::String(_))) => jti,
        (None, Some(_)) => return Err(payload_error("jti", "must be a string")),
        (None, None) => tokens::new_jti()?.into(),
    };
    let iss = match (&args.claims.iss, payload.get("iss")) {
        (Some(iss), _) => Some(Value::String(iss.clone())),
        (None, Some(iss @ Value::String(_))) => Some(iss.clone()),
        (None, Some(_)) => return Err(payload_error("iss", "must be a string")),
        // The configured issuer, as `login` and `serve` set it (SPEC §15), so a minted token
        // passes the checks that require it.
        (None, None) => ctx.settings.config.issuer.clone().map(Value::String),
    };
    let aud = match (aud_value(&args.claims.aud), payload.get("aud")) {
        (Some(aud), _) => Some(aud),
        (None, Some(aud @ Value::String(_))) => Some(aud.clone()),
        (None, Some(Value::Array(v))) if v.iter().all(Value::is_string) => {
            Some(Value::Array(v.clone()))
        }
        (None, Some(_)) => {
            return Err(payload_error(
                "aud",
                "must be a string or an array of strings",
            ));
        }
        (None, None) => None,
    };
    let key = ctx.key()?;
    key.encoding(
        args.alg.map_or(key.alg, |a| a.algorithm()),
        args.claims.allow_weak_key,
    )?;
    if let Some(t) = iat_given {
        let state = ctx.revocations(Lookups::Few)?;
        if let Some(at) = state.subject_revoked_at(&sub)?
            && t <= at
        {
            let what = match args.iat {
                Some(_) => format!("--iat {t}"),
                None => format!("--payload iat {t}"),
            };
            return Err(Error::usage(
                what,
                format!(
                    "is at or before the revocation of {:?} at {}, so the token would be born revoked",
                    sub,
                    output::utc(at)
                ),
            ));
        }
    }
    payload.remove("sub");
    let authority = authority(ctx, Slot::ready(Arc::new(key)))?;
    let issued = authority.mint(MintRequest {
        sub,
        iat: iat_given,
        exp,
        ttl: Some(ttl),
        nbf,
        jti: Some(jti),
        iss,
        aud,
        base: payload,
        extra,
        header,
        alg: args.alg.map(|a| a.algorithm()),
        allow_weak_key: args.claims.allow_weak_key,
    })?;
    noted(ctx, &issued);
    print_issued(ctx, &issued, true)
}

/// A usage error about a field of the `--payload` object.
fn payload_error(field: &str, why: &str) -> Error {
    Error::usage(format!("--payload {field}"), why)
}

/// A time claim of the `--payload` object: unix seconds, as `--iat`/`--exp`/`--nbf` take.
fn payload_time(payload: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match payload.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|t| (0..=253_402_300_799).contains(t))
            .map(Some)
            .ok_or_else(|| {
                payload_error(
                    name,
                    "must be unix seconds, a whole number from 0 to 253402300799 (year 9999)",
                )
            }),
    }
}

/// Reads the `--payload` object: a file, or stdin for `-`, of at most the largest token.
fn read_payload(path: &Path) -> Result<Map<String, Value>> {
    let limit = MAX_TOKEN_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::usage("--payload -", format!("cannot read stdin: {e}")))?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(|e| Error::config(format!("--payload {}", path.display()), e))?;
    }
    let what = format!("--payload {}", path.display());
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(Error::usage(
            what,
            format!(
                "is over {} KiB, the largest token accepted",
                MAX_TOKEN_BYTES / 1024
            ),
        ));
    }
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    match serde_json::from_slice::<Claims>(text) {
        Ok(Claims(Value::Object(m))) => Ok(m),
        Ok(Claims(other)) => {
            let found = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err(Error::usage(
                what,
                format!(
                    "is not a JSON object (found {found}); expected the claims, e.g. {{\"sub\": \"svc\", \"role\": \"admin\"}}"
                ),
            ))
        }
        // A data error is ours: a claim given twice (the JSON itself is fine).
        Err(e) if e.is_data() => Err(Error::usage(what, e)),
        Err(e) => Err(Error::usage(what, format!("is not valid JSON: {e}"))),
    }
}

/// A JSON value whose top-level object, if it is one, names no claim twice: serde_json would
/// keep the last of two `sub`s without a word, and a token with a duplicated claim is refused
/// by `verify` (RFC 7519 §4), so `mint` refuses the payload instead.
struct Claims(Value);

impl json::Object for Claims {
    const EXPECTING: &'static str = "a JSON value";
    fn repeated(key: &str) -> String {
        format!("claim {key:?} is given twice")
    }
}

impl<'de> serde::Deserialize<'de> for Claims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Claims;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Claims, A::Error> {
                let mut m = Map::new();
                let mut number = false;
                // A claim given twice is refused as the stores' files refuse a key given
                // twice: by the crate's one strict-JSON reader.
                json::members::<A, String, Claims>(map, |k, map| {
                    // serde_json's arbitrary_precision hands a number over as a map with
                    // this one key: a number, not claims.
                    if m.is_empty() && k == "$serde_json::private::Number" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        number = true;
                    } else {
                        m.insert(k, map.next_value()?);
                    }
                    Ok(())
                })?;
                Ok(Claims(if number {
                    Value::from(0)
                } else {
                    Value::Object(m)
                }))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Claims, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Claims(Value::Array(Vec::new())))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::String(String::new())))
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::Bool(b)))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::from(0)))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::from(0)))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::from(0)))
            }
            fn visit_unit<E>(self) -> std::result::Result<Claims, E> {
                Ok(Claims(Value::Null))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Says that a token outliving the configured ttl could not be recorded in the key ring (a
/// key in a place this user cannot write still signs): a rotation will need --keep.
fn noted(ctx: &Ctx, issued: &Issued) {
    if let Some(e) = &issued.ttl_not_noted {
        ctx.info(format!(
            "warning: the token's lifetime could not be recorded in the key ring ({e}); when rotating this key, pass 'init --rotate --keep' at least that long"
        ));
    }
}

/// Prints an issued token: the token, or with `--json` the login document (plus the signed
/// `claims` for `mint`).
pub(super) fn print_issued(ctx: &Ctx, issued: &Issued, with_claims: bool) -> Result<()> {
    if ctx.json {
        let mut out = json!({
            "access_token": issued.token,
            "token_type": "bearer",
            "expires_in": issued.exp - ctx.now.max(issued.iat),
        });
        // A sign-in's session and refresh token (SPEC §13): printed here only.
        if let Some(refresh_token) = &issued.refresh_token {
            out["refresh_token"] = Value::String(refresh_token.to_string());
        }
        if let Some(sid) = &issued.sid {
            out["sid"] = Value::String(sid.clone());
        }
        if with_claims {
            out["claims"] = Value::Object(issued.claims.clone());
        }
        output::json(&out)
    } else {
        output::text(&issued.token)
    }
}

/// `verify`'s rules: `--iss` replaces the configured `issuer`, which is required otherwise
/// (SPEC §15: with `issuer` configured, every check requires it).
fn rules(args: &VerifyArgs, ctx: &Ctx) -> Result<Rules> {
    let iss = if args.iss.is_empty() {
        ctx.settings.config.issuer.iter().cloned().collect()
    } else {
        args.iss.clone()
    };
    Ok(Rules {
        alg: args.alg.map(|a| a.algorithm()),
        aud: args.aud.clone(),
        any_aud: args.any_aud,
        iss,
        leeway: flags::duration("--leeway", &args.leeway)?,
        exp_required: !args.no_exp_required,
        // An identity provider's tokens carry their own sid (SPEC §13).
        ignore_sid: args.jwks.is_some(),
    })
}

/// Builds the verifier for `verify` and `logout`: the configured key.
pub fn verifier(ctx: &Ctx, rules: Rules) -> Result<Verifier> {
    Ok(Verifier::new(&ctx.key()?, rules)?)
}

/// Builds the verifier for `verify --jwks FILE|URL`: the keys of a JWK Set, chosen by `kid`.
fn jwks_verifier(ctx: &Ctx, path: &std::path::Path, rules: Rules) -> Result<Verifier> {
    if matches!(
        ctx.settings.key,
        Some(KeyConfig::File {
            source: KeySource::Flag,
            ..
        })
    ) {
        return Err(Error::usage(
            "--jwks",
            "cannot be combined with --key; verify with one or the other",
        ));
    }
    // A URL is fetched (SPEC §15); the HTTP client is built only on this path.
    let (name, bytes) = match path.to_str().filter(|s| jwks_url::is_url(s)) {
        Some(given) => {
            let url = jwks_url::parse(given)?;
            (jwks_url::shown(&url), jwks_url::fetch(&url)?)
        }
        None => {
            if let Err(e) = std::fs::metadata(path)
                && e.kind() == io::ErrorKind::NotFound
            {
                return Err(Error::config(
                    format!("--jwks {}", path.display()),
                    "no such file",
                ));
            }
            (path.display().to_string(), keys::read_bounded(path)?)
        }
    };
    let (set, skipped) = crate::asym::parse_jwks(&bytes)
        .map_err(|why| Error::config(format!("key set {name}"), why))?;
    Ok(Verifier::from_set(&name, &set, &skipped, rules)?)
}

/// Where the tokens of `verify`, `decode` and `logout` come from (SPEC §2, §8).
pub(crate) enum Input {
    /// One token, taken out of what was pasted (`tokens::pasted_token`): the argument, or the
    /// only token on stdin
    /// when TOKEN was omitted. It gets the full output and its own exit code.
    One(Vec<u8>),
    /// A stream, one result line per token: `-` (always, whatever the number of tokens), or
    /// TOKEN omitted and not exactly one token on stdin.
    Many(Lines),
}

impl Input {
    /// The input that the TOKEN argument names.
    ///
    /// # Errors
    /// Exit 2 when stdin cannot be read; exit 1 when the one token on stdin is too long.
    pub(crate) fn of(token: &Option<String>) -> Result<Input> {
        Self::with_buffer(token, 1 << 16)
    }

    /// `of`, reading stdin `buffer` bytes at a time (a stream checked against a remote store
    /// reads further ahead, so each group it asks about at once is a full one).
    fn with_buffer(token: &Option<String>, buffer: usize) -> Result<Input> {
        match token.as_deref() {
            Some("-") => Ok(Input::Many(Lines::stdin(buffer))),
            Some(t) => Ok(Input::One(tokens::pasted_token(t.as_bytes())?.into_owned())),
            // Nothing given and nothing piped: say so at once, rather than wait silently
            // for a token that the user does not know is expected (SPEC §15).
            None if io::stdin().is_terminal() => Err(Error::usage(
                "no token given",
                "pass TOKEN, or pipe tokens on stdin ('-' reads them from the terminal)",
            )),
            None => Lines::stdin(buffer).one_or_many(),
        }
    }
}

/// The lines of stdin, with the few read ahead to tell one token from many served first.
pub(crate) struct Lines {
    input: io::BufReader<io::StdinLock<'static>>,
    /// Lines read ahead: (blank lines before it, the line, its full length).
    ahead: VecDeque<(u64, Vec<u8>, usize)>,
    /// Blank lines read ahead after the last line in `ahead`.
    blanks: u64,
}

/// Bytes of a line kept beyond `MAX_TOKEN_BYTES`, so that a token of the largest size still
/// fits with surrounding whitespace and an `Authorization: Bearer ` prefix.
const LINE_SLACK: usize = 64;

impl Lines {
    fn stdin(buffer: usize) -> Self {
        Lines {
            input: io::BufReader::with_capacity(buffer, io::stdin().lock()),
            ahead: VecDeque::new(),
            blanks: 0,
        }
    }

    /// Reads until a second token or the end of the input: one token is `Input::One`.
    fn one_or_many(mut self) -> Result<Input> {
        let mut buf = Vec::new();
        let mut blanks = 0;
        while self.ahead.len() < 2 {
            let Some(len) = read_line(&mut self.input, &mut buf)? else {
                break;
            };
            if buf.trim_ascii().is_empty() && len <= MAX_TOKEN_BYTES + LINE_SLACK {
                blanks += 1;
            } else {
                self.ahead
                    .push_back((blanks, std::mem::take(&mut buf), len));
                blanks = 0;
            }
        }
        self.blanks = blanks;
        if self.ahead.len() != 1 {
            return Ok(Input::Many(self));
        }
        let (_, line, len) = self.ahead.pop_front().unwrap_or_default();
        if len > MAX_TOKEN_BYTES + LINE_SLACK {
            return Err(too_long(len));
        }
        Ok(Input::One(tokens::pasted_token(&line)?.into_owned()))
    }

    /// The next line into `buf` (without its `\n`, at most `MAX_TOKEN_BYTES + LINE_SLACK`
    /// bytes of it): `None` at the end, else the line's full length.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>> {
        if let Some(front) = self.ahead.front_mut() {
            buf.clear();
            if front.0 > 0 {
                front.0 -= 1;
                return Ok(Some(0));
            }
            let (_, line, len) = self.ahead.pop_front().unwrap_or_default();
            *buf = line;
            return Ok(Some(len));
        }
        if self.blanks > 0 {
            self.blanks -= 1;
            buf.clear();
            return Ok(Some(0));
        }
        read_line(&mut self.input, buf)
    }

    /// True when a whole line has been read already, so taking it cannot wait for the
    /// producer.
    fn has_line(&self) -> bool {
        !self.ahead.is_empty()
            || self.blanks > 0
            || memchr::memchr(b'\n', self.input.buffer()).is_some()
    }

    /// True when the next read may wait for the producer.
    fn waits(&self) -> bool {
        self.ahead.is_empty() && self.blanks == 0 && self.input.buffer().is_empty()
    }
}

fn too_long(len: usize) -> Error {
    CoreError::from(tokens::too_long(Some(len))).into()
}

/// `verify [TOKEN|-]`.
///
/// # Errors
/// Exit 1, 3 or 4 for a token that fails; in batch mode 1 if any failed.
pub fn verify(args: &VerifyArgs, ctx: &Ctx) -> Result<()> {
    let rules = rules(args, ctx)?;
    let v = match &args.jwks {
        Some(path) => jwks_verifier(ctx, path, rules)?,
        None => verifier(ctx, rules)?,
    };
    // Against Redis, the stream reads a MiB ahead: each group asked about at once is then a
    // full one.
    let remote = (!args.no_revocation)
        && ctx
            .settings
            .state_path()
            .is_ok_and(|p| crate::store::redis::url_of(p).is_some());
    let buffer = if remote { 1 << 20 } else { 1 << 16 };
    let input = match Input::with_buffer(&args.token, buffer) {
        Ok(input) => input,
        Err(e) => return verify_failed(ctx, e),
    };
    // One token searches the revocation index in place; a stream loads it once.
    let lookups = match input {
        Input::One(_) => Lookups::Few,
        Input::Many(_) => Lookups::Many,
    };
    let revocations = (!args.no_revocation)
        .then(|| ctx.revocations(lookups))
        .transpose()?;
    let revocations = revocations.as_deref();
    let mut scratch = Scratch::new();
    let lines = match input {
        Input::One(token) => {
            return match verify_one(ctx, &v, &token, &mut scratch, revocations) {
                Ok(()) => Ok(()),
                Err(e) => verify_failed(ctx, e),
            };
        }
        Input::Many(lines) => lines,
    };
    // A stream may run for hours: each token is judged by the time it is read and by the
    // revocations as they are then (see `batch`), never by those of start-up.
    let clock = ctx.clock.as_ref();
    let refresh = || revocations.map_or(Ok(()), |r| r.refresh().map_err(Error::from));
    // A remote store (Redis) is asked about the tokens read ahead in one round trip, not one
    // per token: each token is verified (decoded once), then the group's revocations are
    // asked from their verified claims, then each line is answered.
    let remote = revocations.is_some_and(|r| r.is_remote());
    let ahead = if remote { AHEAD_TOKENS } else { 1 };
    let mut answers = Vec::new();
    batch_ahead(
        ctx,
        lines,
        ahead,
        refresh,
        |token| {
            let mut claims = Value::Null;
            let checked = v.check(
                token,
                clock.now(),
                &mut scratch,
                ctx.json.then_some(&mut claims),
            )?;
            Ok((checked, claims))
        },
        |results: &mut [Result<(Verified, Value)>]| {
            let Some(store) = revocations else {
                return Ok(());
            };
            let revoked = |why| Err(Error::from(CoreError::from(VerifyError::Revoked(why))));
            if remote {
                let queries: Vec<Query<'_>> = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok().map(|(c, _)| c.query(clock.now())))
                    .collect();
                store.check_many(&queries, &mut answers)?;
                let mut answers = answers.drain(..);
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    match answers.next() {
                        Some(None) => {}
                        Some(Some(why)) => *r = revoked(why),
                        // Fewer answers than questions: fail closed.
                        None => {
                            *r = Err(Error::Core(CoreError::internal(
                                "verify",
                                "a revocation check without its answer",
                            )))
                        }
                    }
                }
            } else {
                for r in results.iter_mut() {
                    if let Ok((c, _)) = r
                        && let Some(why) = store.check(&c.query(clock.now()))?
                    {
                        *r = revoked(why);
                    }
                }
            }
            Ok(())
        },
        |token, result, out| {
            let (checked, claims) = result?;
            if ctx.json {
                out.json_fields([("claims", claims)])
            } else {
                match checked.sub {
                    Some(sub) => out.text_ok(&sub),
                    None => out.text_ok(&Value::Object(payload(token)?).to_string()),
                }
            }
        },
    )
}

/// One token's verification and its output: the subject (or the claims), or `--json`'s
/// `{"valid": true, …}`.
fn verify_one(
    ctx: &Ctx,
    v: &Verifier,
    token: &[u8],
    scratch: &mut Scratch,
    revocations: Option<&dyn RevocationStore>,
) -> Result<()> {
    let mut claims = Value::Null;
    let checked = v.verify(token, ctx.now, scratch, revocations, Some(&mut claims))?;
    if ctx.json {
        let header = Value::Object(decode_part(tokens::split(token)?.header, Part::Header)?);
        output::json(&json!({"valid": true, "header": header, "claims": claims}))
    } else {
        output::text(output::printable(
            &checked.sub.unwrap_or_else(|| claims.to_string()),
        ))
    }
}

/// A single token that failed: with `--json`, a verdict on the token (exit 1, 3 or 4) is
/// also a document on stdout, `{"valid": false, "exit_code", "error"}` (SPEC §8). A usage,
/// key or file error says nothing about the token and prints no document.
fn verify_failed(ctx: &Ctx, e: Error) -> Result<()> {
    if ctx.json && matches!(e, Error::Core(CoreError::Token(_))) {
        output::json(&json!({"valid": false, "exit_code": e.exit_code(), "error": e.to_string()}))?;
    }
    Err(e)
}

fn decode_part(part: &[u8], what: Part) -> Result<Map<String, Value>> {
    Ok(tokens::decode_part(part, what)?)
}

fn payload(token: &[u8]) -> Result<Map<String, Value>> {
    decode_part(tokens::split(token)?.payload, Part::Payload)
}

/// `decode [TOKEN|-]`: header and claims, no signature check.
///
/// # Errors
/// Exit 1 for a token that cannot be taken apart; in batch mode 1 if any failed.
pub fn decode(args: &DecodeArgs, ctx: &Ctx) -> Result<()> {
    let lines = match Input::of(&args.token)? {
        Input::One(token) => {
            let d = decode_token(&token)?;
            return if ctx.json {
                output::json(
                    &json!({"header": d.header, "payload": d.payload, "signature": d.signature}),
                )
            } else {
                output::text(describe(&d, ctx.now, ctx.color))
            };
        }
        Input::Many(lines) => lines,
    };
    batch(
        ctx,
        lines,
        || Ok(()),
        |token, out| {
            let d = decode_token(token)?;
            if ctx.json {
                out.json_fields([
                    ("header", Value::Object(d.header)),
                    ("payload", Value::Object(d.payload)),
                    ("signature", Value::String(d.signature)),
                ])
            } else {
                let sub = d.payload.get("sub").and_then(Value::as_str);
                match sub {
                    Some(sub) => out.text_ok(sub),
                    None => out.text_ok(&Value::Object(d.payload).to_string()),
                }
            }
        },
    )
}

/// The human view of a decoded token: header and claims one per line, times also as UTC
/// dates with the time relative to `now`, and whether the token is expired.
pub fn describe(d: &Decoded, now: i64, color: bool) -> String {
    use output::{Style, paint};
    // A time the calendar can show (years -9999 to 9999); anything else is shown only as the
    // number it is written as, never as a clamped i64.
    let seconds = |v: &Value| {
        v.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f.floor() as i64)
            .filter(|t| jiff::Timestamp::from_second(*t).is_ok())
    };
    let time = |k: &str| d.payload.get(k).and_then(seconds);
    let section = |title: &str, m: &Map<String, Value>, times: bool| {
        let keys: Vec<String> = m.keys().map(|k| output::printable(k)).collect();
        let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
        let mut s = paint(color, Style::Bold, title);
        if m.is_empty() {
            s.push_str("\n  (empty)");
        }
        for (key, (k, v)) in keys.iter().zip(m) {
            let pad = width - key.chars().count();
            s.push_str(&format!("\n  {key}{:pad$}  {}", "", output::value(v)));
            let is_time = matches!(k.as_str(), "exp" | "iat" | "nbf");
            if let (true, true, Some(t)) = (times, is_time, seconds(v)) {
                let (utc, rel) = (output::utc(t), output::relative(t, now));
                let detail = match k.as_str() {
                    "exp" if t <= now => format!("{utc}  expired {rel}"),
                    "exp" => format!("{utc}  expires {rel}"),
                    "iat" => format!("{utc}  issued {rel}"),
                    "nbf" if t <= now => format!("{utc}  valid since {rel}"),
                    _ => format!("not valid until {utc} ({rel})"),
                };
                s.push_str(&format!("  {}", paint(color, Style::Dim, &detail)));
            } else if times && is_time && v.is_number() {
                let detail = "not a date this tool can show";
                s.push_str(&format!("  {}", paint(color, Style::Dim, detail)));
            }
        }
        s
    };
    let (status, style) = match (time("exp"), time("nbf")) {
        (Some(exp), _) if now >= exp => (
            format!("expired {} ago", output::span(now.saturating_sub(exp))),
            Style::Red,
        ),
        (_, Some(nbf)) if nbf > now => (
            format!(
                "not yet valid (starts in {})",
                output::span(nbf.saturating_sub(now))
            ),
            Style::Yellow,
        ),
        (Some(exp), _) => (
            format!(
                "not expired (expires in {})",
                output::span(exp.saturating_sub(now))
            ),
            Style::Green,
        ),
        (None, _)
            if d.payload
                .get("exp")
                .and_then(Value::as_f64)
                .is_some_and(f64::is_finite) =>
        {
            let past = d
                .payload
                .get("exp")
                .and_then(Value::as_f64)
                .is_some_and(|f| f < 0.0);
            if past {
                ("expired (exp is before year -9999)".to_string(), Style::Red)
            } else {
                ("exp is after year 9999".to_string(), Style::Yellow)
            }
        }
        (None, _) if d.payload.contains_key("exp") => (
            "exp is not a number of seconds: verify refuses this token".to_string(),
            Style::Red,
        ),
        (None, _) => ("no exp claim: never expires".to_string(), Style::Yellow),
    };
    let alg = d
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("(none)");
    let mut s = format!(
        "{}\n\n{}\n\n{} {} ({})",
        section("Header", &d.header, false),
        section("Claims", &d.payload, true),
        paint(color, Style::Bold, "Algorithm:"),
        output::printable(alg),
        alg::family_description(alg),
    );
    if let Some(kid) = d.header.get("kid") {
        let kid = kid.as_str().map_or_else(|| kid.to_string(), str::to_string);
        s.push_str(&format!(
            "\n{} {}",
            paint(color, Style::Bold, "Key ID:"),
            output::printable(&kid)
        ));
    }
    s.push_str(&format!(
        "\n{} {}\n{} not checked (use 'jwtauth verify')",
        paint(color, Style::Bold, "Status:"),
        paint(color, style, &status),
        paint(color, Style::Bold, "Signature:"),
    ));
    s
}

/// Where batch results go: one line per token, text or JSON.
pub(crate) struct BatchOut<W: Write> {
    out: W,
    json: bool,
    line: u64,
}

impl<W: Write> BatchOut<W> {
    /// `ok <what>` (text mode).
    pub(crate) fn text_ok(&mut self, what: &str) -> Result<()> {
        writeln!(self.out, "ok {}", output::printable(what)).map_err(Error::Output)
    }

    /// `{"line", "exit_code": 0, <fields>}` (`--json`).
    pub(crate) fn json_fields<const N: usize>(&mut self, fields: [(&str, Value); N]) -> Result<()> {
        let mut m = Map::new();
        m.insert("line".into(), self.line.into());
        m.insert("exit_code".into(), 0.into());
        for (k, v) in fields {
            m.insert(k.into(), v);
        }
        serde_json::to_writer(&mut self.out, &m).map_err(|e| Error::Output(e.into()))?;
        self.out.write_all(b"\n").map_err(Error::Output)
    }

    /// The answer to an empty line: `error 1 empty line`, or its `--json` document.
    fn empty_line(&mut self) -> Result<()> {
        if self.json {
            let v = json!({"line": self.line, "exit_code": code::INVALID, "error": "empty line"});
            serde_json::to_writer(&mut self.out, &v).map_err(|e| Error::Output(e.into()))?;
            self.out.write_all(b"\n").map_err(Error::Output)
        } else {
            writeln!(self.out, "error {} empty line", code::INVALID).map_err(Error::Output)
        }
    }

    fn error(&mut self, e: &Error) -> Result<()> {
        let code = e.exit_code();
        if self.json {
            let v = json!({"line": self.line, "exit_code": code, "error": e.to_string()});
            serde_json::to_writer(&mut self.out, &v).map_err(|e| Error::Output(e.into()))?;
            self.out.write_all(b"\n").map_err(Error::Output)
        } else {
            writeln!(
                self.out,
                "error {code} {}",
                output::printable(&e.to_string())
            )
            .map_err(Error::Output)
        }
    }
}

/// How often a stream looks at the revocation state at least, when its input never waits.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The writer batch results go to.
pub(crate) type BatchStdout = BatchOut<BufWriter<io::StdoutLock<'static>>>;

/// Runs `check` on every token of `lines` (one per line, taken out of what was pasted:
/// `tokens::pasted_token`), printing one result line each, an empty line included (`error 1
/// empty line`), so that output line N answers input line N; a final newline ends the last
/// line, it does not start an empty one. Streams in constant memory; output is
/// flushed whenever the input has nothing more buffered, so an interactive producer sees
/// each answer at once. `refresh` runs before the first token, whenever the input made the
/// stream wait, and at least every `REFRESH_EVERY` (a revocation state that changed is then
/// reloaded).
pub(crate) fn batch<R, F>(ctx: &Ctx, lines: Lines, refresh: R, mut check: F) -> Result<()>
where
    R: FnMut() -> Result<()>,
    F: FnMut(&[u8], &mut BatchStdout) -> Result<()>,
{
    batch_ahead(
        ctx,
        lines,
        1,
        refresh,
        |_| (),
        |_| Ok(()),
        |token, (), out| check(token, out),
    )
}

/// How one line of a stream is answered.
enum Line<'a> {
    /// Over `MAX_TOKEN_BYTES` (with its slack): refused unread.
    Oversized,
    /// Nothing but whitespace: `error 1 empty line`.
    Empty,
    /// The token taken out of the line, or why none could be.
    Token(std::result::Result<std::borrow::Cow<'a, [u8]>, Error>),
}

impl<'a> Line<'a> {
    /// `text`, the kept part of a line of `len` bytes.
    fn of(text: &'a [u8], len: usize) -> Self {
        if len > MAX_TOKEN_BYTES + LINE_SLACK {
            Line::Oversized
        } else if text.trim_ascii().is_empty() {
            Line::Empty
        } else {
            Line::Token(tokens::pasted_token(text).map_err(Error::from))
        }
    }
}

/// `batch`, reading ahead: the stream is taken in groups of up to `ahead` lines (the first
/// line, which may wait for the producer, and the complete lines already read behind it,
/// which never wait). For each group, `prepare` runs on every token in order (`verify`:
/// signature and claims, at the time the token is read), then `prepared` once on all their
/// results (`verify` on a remote store: the revocations of the whole group in one round
/// trip), then `check` on each token with its result, printing its line. With `ahead` 1 it
/// is `batch`, token by token.
pub(crate) fn batch_ahead<T, R, P, G, F>(
    ctx: &Ctx,
    mut lines: Lines,
    ahead: usize,
    mut refresh: R,
    mut prepare: P,
    mut prepared: G,
    mut check: F,
) -> Result<()>
where
    R: FnMut() -> Result<()>,
    P: FnMut(&[u8]) -> T,
    G: FnMut(&mut [T]) -> Result<()>,
    F: FnMut(&[u8], T, &mut BatchStdout) -> Result<()>,
{
    let mut out = BatchOut {
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        json: ctx.json,
        line: 0,
    };
    let mut tally = Tally::default();
    // The group's first line, with its full length; the lines after it one after another in
    // `rest`, with where each ends and its full length. They were complete in the input
    // buffer when taken, so `rest` is bounded by that buffer.
    let mut first = Vec::with_capacity(1024);
    let mut buf = Vec::with_capacity(1024);
    let mut rest: Vec<u8> = Vec::new();
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut results: Vec<T> = Vec::new();
    let mut refreshed: Option<std::time::Instant> = None;
    loop {
        // An empty buffer means this read may wait for the producer: whatever happened in
        // the meantime (a logout) must count for the tokens that come after it.
        let waits = lines.waits();
        let Some(first_len) = lines.next(&mut first)? else {
            break;
        };
        rest.clear();
        ends.clear();
        while ends.len() + 1 < ahead && lines.has_line() {
            let Some(len) = lines.next(&mut buf)? else {
                break;
            };
            rest.extend_from_slice(&buf);
            ends.push((rest.len(), len));
        }
        if waits || refreshed.is_none_or(|t| t.elapsed() >= REFRESH_EVERY) {
            refresh()?;
            refreshed = Some(std::time::Instant::now());
        }
        if ends.is_empty() {
            // One line (always so without read-ahead): taken apart once.
            let line = Line::of(&first, first_len);
            let mut result = match &line {
                Line::Token(Ok(token)) => Some(prepare(token)),
                _ => None,
            };
            prepared(result.as_mut().map_or(&mut [][..], std::slice::from_mut))?;
            tally.answer(&mut out, line, result, &mut check)?;
        } else {
            let line = |i: usize| match i {
                0 => Line::of(&first, first_len),
                i => {
                    let start = if i == 1 { 0 } else { ends[i - 2].0 };
                    Line::of(&rest[start..ends[i - 1].0], ends[i - 1].1)
                }
            };
            results.clear();
            for i in 0..=ends.len() {
                if let Line::Token(Ok(token)) = line(i) {
                    results.push(prepare(&token));
                }
            }
            prepared(&mut results)?;
            let mut results = results.drain(..);
            for i in 0..=ends.len() {
                let line = line(i);
                let result = match &line {
                    Line::Token(Ok(_)) => results.next(),
                    _ => None,
                };
                tally.answer(&mut out, line, result, &mut check)?;
            }
        }
        if lines.waits() {
            out.out.flush().map_err(Error::Output)?;
        }
    }
    out.out.flush().map_err(Error::Output)?;
    if tally.tokens == 0 {
        return Err(Error::NoTokens);
    }
    // The per-line results already say what failed; the summary goes to stderr.
    match tally {
        Tally {
            failed: 0,
            empty: 0,
            ..
        } => Ok(()),
        Tally {
            tokens,
            failed,
            empty,
        } => Err(Error::Batch {
            failed,
            tokens,
            empty,
        }),
    }
}

/// What a stream has answered so far.
#[derive(Default)]
struct Tally {
    tokens: u64,
    failed: u64,
    empty: u64,
}

impl Tally {
    /// Prints the answer to the next line: `line`, with what `prepare` and `prepared` made of
    /// its token (`result`), through `check`. An empty line is answered too, so that output
    /// line N answers input line N.
    ///
    /// # Errors
    /// An output error, or a data error (a file or key problem is not a verdict on one token:
    /// the stream stops at once).
    fn answer<T, F>(
        &mut self,
        out: &mut BatchStdout,
        line: Line<'_>,
        result: Option<T>,
        check: &mut F,
    ) -> Result<()>
    where
        F: FnMut(&[u8], T, &mut BatchStdout) -> Result<()>,
    {
        out.line += 1;
        let verdict = match line {
            Line::Oversized => {
                self.tokens += 1;
                Err(CoreError::from(tokens::too_long(None)).into())
            }
            Line::Empty => {
                self.empty += 1;
                return out.empty_line();
            }
            Line::Token(Err(e)) => {
                self.tokens += 1;
                Err(e)
            }
            Line::Token(Ok(token)) => {
                self.tokens += 1;
                match result {
                    Some(r) => check(&token, r, out),
                    None => Err(Error::Core(CoreError::internal(
                        "batch",
                        "a token without its prepared result",
                    ))),
                }
            }
        };
        match verdict {
            Ok(()) => Ok(()),
            Err(e) if matches!(e, Error::Output(_)) || e.exit_code() == code::DATA => Err(e),
            Err(e) => {
                self.failed += 1;
                out.error(&e)
            }
        }
    }
}

/// Tokens a stream on a remote store reads ahead and asks about at once (two keys each, one
/// `MGET`).
const AHEAD_TOKENS: usize = 1024;

/// Reads one line into `buf` (without its `\n`), keeping at most `MAX_TOKEN_BYTES +
/// LINE_SLACK` bytes of it so an endless line cannot exhaust memory. `None` at end of input;
/// otherwise the line's full length (saturating).
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<Option<usize>> {
    buf.clear();
    let mut seen_any = false;
    let mut len = 0usize;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::usage("stdin", e)),
        };
        if chunk.is_empty() {
            return Ok(seen_any.then_some(len));
        }
        seen_any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, i + 1),
            None => (chunk.len(), chunk.len()),
        };
        let room = (MAX_TOKEN_BYTES + LINE_SLACK + 1).saturating_sub(buf.len());
        len = len.saturating_add(take);
        buf.extend_from_slice(&chunk[..take.min(room)]);
        let ended = done == take + 1;
        input.consume(done);
        if ended {
            return Ok(Some(len));
        }
    }
}
