//! `login`, `mint`, `verify` and `decode`.

use std::io::{self, BufRead, BufWriter, Write};

use serde_json::{Map, Value, json};

use crate::alg;
use crate::auth;
use crate::cli::args::{ClaimArgs, DecodeArgs, LoginArgs, MintArgs, VerifyArgs};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result, code};
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::keys::{self, Key};
use crate::settings::{KeyConfig, KeySource};
use crate::store::Lookups;
use crate::tokens::{self, Decoded, MAX_TOKEN_BYTES, decode_token};
use crate::users;
use crate::verifier::{Rules, Scratch, Verifier};

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
    let mut claims = Map::new();
    tokens::parse_claims(&args.claims.claims, &mut claims)?;
    password_input::check_source(&args.password)?;
    // Fail on an unusable key before asking for a password. With no key at all, the first
    // login that succeeds creates it; a refused one creates nothing (SPEC §8).
    let existing = keys::load_existing(&ctx.settings)?;
    if let Some(key) = &existing {
        ctx.warn_about(key);
        key.encoding(key.alg, args.claims.allow_weak_key)?;
    }
    let password = password_input::read(&args.password, Ask::Once)?;
    let logged_in = auth::authenticate(
        ctx.users()?.as_ref(),
        &args.name,
        &password,
        &ctx.hash_policy(),
    )?;
    drop(password);
    ctx.rehashed(&logged_in);
    let user = logged_in.user;
    claims.extend(auth::user_claims(&user));
    let key = match existing {
        Some(key) => key,
        None => ctx.key_or_create(args.claims.allow_weak_key)?,
    };
    let iat = issue_time(ctx, &args.name)?;
    let exp = iat + ttl;
    issue(
        ctx,
        &key,
        key.alg,
        &args.name,
        iat,
        exp,
        None,
        &args.claims,
        Some(&ctx.settings.config),
        claims,
        false,
    )
}

/// `mint --sub S`: sign a token with no password check.
///
/// # Errors
/// Exit 8 without a key, 2 for bad values.
pub fn mint(args: &MintArgs, ctx: &Ctx) -> Result<()> {
    if args.sub.is_empty() {
        return Err(Error::usage("--sub", "must not be empty"));
    }
    let ttl = ctx.ttl(args.claims.ttl.as_deref())?;
    let exp = args
        .exp
        .as_deref()
        .map(|t| tokens::parse_time("--exp", t))
        .transpose()?;
    let nbf = args
        .nbf
        .as_deref()
        .map(|t| tokens::parse_time("--nbf", t))
        .transpose()?;
    let iat = args
        .iat
        .as_deref()
        .map(|t| tokens::parse_time("--iat", t))
        .transpose()?;
    let mut claims = Map::new();
    tokens::parse_claims(&args.claims.claims, &mut claims)?;
    let key = ctx.key()?;
    let alg = args.alg.map_or(key.alg, |a| a.algorithm());
    key.encoding(alg, args.claims.allow_weak_key)?;
    let iat = match iat {
        Some(t) => {
            let state = ctx.revocations(Lookups::Few)?;
            if let Some(at) = state.subject_revoked_at(&args.sub)?
                && t <= at
            {
                return Err(Error::usage(
                    format!("--iat {t}"),
                    format!(
                        "is at or before the revocation of {:?} at {}, so the token would be born revoked",
                        args.sub,
                        output::utc(at)
                    ),
                ));
            }
            t
        }
        None => issue_time(ctx, &args.sub)?,
    };
    let exp = exp.unwrap_or(iat + ttl);
    issue(
        ctx,
        &key,
        alg,
        &args.sub,
        iat,
        exp,
        nbf,
        &args.claims,
        None,
        claims,
        true,
    )
}

/// The `iat` of a new token for `sub` (see `auth::issue_time`).
fn issue_time(ctx: &Ctx, sub: &str) -> Result<i64> {
    let state = ctx.revocations(Lookups::Few)?;
    Ok(auth::issue_time(state.as_ref(), sub, &SystemClock)?)
}

#[allow(clippy::too_many_arguments)]
fn issue(
    ctx: &Ctx,
    key: &Key,
    alg: jsonwebtoken::Algorithm,
    sub: &str,
    iat: i64,
    exp: i64,
    nbf: Option<i64>,
    flags: &ClaimArgs,
    defaults: Option<&Config>,
    extra: Map<String, Value>,
    with_claims: bool,
) -> Result<()> {
    let mut claims = Map::new();
    claims.insert("sub".into(), sub.into());
    claims.insert("iat".into(), iat.into());
    claims.insert("exp".into(), exp.into());
    if let Some(nbf) = nbf {
        claims.insert("nbf".into(), nbf.into());
    }
    claims.insert("jti".into(), tokens::new_jti()?.into());
    // `login` takes the configured issuer and audience unless a flag names them (`mint` makes
    // test tokens: only what its flags say).
    let iss = flags
        .iss
        .as_deref()
        .or(defaults.and_then(|c| c.issuer.as_deref()));
    let aud = flags
        .aud
        .as_deref()
        .or(defaults.and_then(|c| c.audience.as_deref()));
    if let Some(iss) = iss {
        claims.insert("iss".into(), iss.into());
    }
    if let Some(aud) = aud {
        claims.insert("aud".into(), aud.into());
    }
    claims.extend(extra);
    let token = tokens::sign(key, alg, &claims, flags.allow_weak_key)?;
    // A token that outlives the configured ttl is recorded in the key ring, so that
    // `init --rotate` keeps this key until it has expired (nothing is read or written else).
    // A key in a place this user cannot write still signs: the token is printed, with a
    // warning that a rotation will need --keep.
    if let Err(e) = keys::note_ttl(
        ctx.settings.lock_timeout,
        key,
        exp - iat,
        ctx.ttl(None)?,
        ctx.now,
    ) {
        ctx.info(format!(
            "warning: the token's lifetime could not be recorded in the key ring ({e}); when rotating this key, pass 'init --rotate --keep' at least that long"
        ));
    }
    if ctx.json {
        let mut out = json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": exp - ctx.now.max(iat),
        });
        if with_claims {
            out["claims"] = Value::Object(claims);
        }
        output::json(&out)
    } else {
        output::text(token)
    }
}

fn rules(args: &VerifyArgs) -> Result<Rules> {
    Ok(Rules {
        alg: args.alg.map(|a| a.algorithm()),
        aud: args.aud.clone(),
        any_aud: args.any_aud,
        iss: args.iss.clone(),
        leeway: tokens::parse_duration("--leeway", &args.leeway)?,
        exp_required: !args.no_exp_required,
    })
}

/// Builds the verifier for `verify` and `logout`: the configured key.
pub fn verifier(ctx: &Ctx, rules: Rules) -> Result<Verifier> {
    Ok(Verifier::new(&ctx.key()?, rules)?)
}

/// Builds the verifier for `verify --jwks FILE`: the keys of a JWK Set, chosen by `kid`.
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
    let bytes = keys::read_bounded(path)?;
    let (set, skipped) = crate::asym::parse_jwks(&bytes)
        .map_err(|why| Error::config(format!("key set {}", path.display()), why))?;
    Ok(Verifier::from_set(
        &path.display().to_string(),
        &set,
        &skipped,
        rules,
    )?)
}

/// A single token from the argument, or `None` for batch mode (`-` or nothing).
pub(crate) fn single(token: &Option<String>) -> Option<&str> {
    token.as_deref().filter(|t| *t != "-")
}

/// `verify [TOKEN|-]`.
///
/// # Errors
/// Exit 1, 3 or 4 for a token that fails; in batch mode 1 if any failed.
pub fn verify(args: &VerifyArgs, ctx: &Ctx) -> Result<()> {
    let rules = rules(args)?;
    // One token searches the revocation index in place; a stream loads it once.
    let lookups = match single(&args.token) {
        Some(_) => Lookups::Few,
        None => Lookups::Many,
    };
    let v = match &args.jwks {
        Some(path) => jwks_verifier(ctx, path, rules)?,
        None => verifier(ctx, rules)?,
    };
    let revocations = (!args.no_revocation)
        .then(|| ctx.revocations(lookups))
        .transpose()?;
    let revocations = revocations.as_deref();
    let mut scratch = Scratch::new();
    if let Some(token) = single(&args.token) {
        let mut claims = Value::Null;
        let token = token.trim().as_bytes();
        let checked = v.verify(token, ctx.now, &mut scratch, revocations, Some(&mut claims))?;
        return if ctx.json {
            let header = Value::Object(decode_part(tokens::split(token)?.header, "header")?);
            output::json(&json!({"valid": true, "header": header, "claims": claims}))
        } else {
            output::text(output::printable(
                &checked.sub.unwrap_or_else(|| claims.to_string()),
            ))
        };
    }
    // A stream may run for hours: each token is judged by the time it is read and by the
    // revocations as they are then (see `batch`), never by those of start-up.
    let clock = SystemClock;
    let refresh = || revocations.map_or(Ok(()), |r| r.refresh().map_err(Error::from));
    batch(ctx, refresh, |token, out| {
        let now = clock.now();
        if ctx.json {
            let mut claims = Value::Null;
            v.verify(token, now, &mut scratch, revocations, Some(&mut claims))?;
            out.json_fields([("claims", claims)])
        } else {
            let checked = v.verify(token, now, &mut scratch, revocations, None)?;
            match checked.sub {
                Some(sub) => out.text_ok(&sub),
                None => out.text_ok(&Value::Object(payload(token)?).to_string()),
            }
        }
    })
}

fn decode_part(part: &[u8], what: &str) -> Result<Map<String, Value>> {
    Ok(tokens::decode_part(part, what)?)
}

fn payload(token: &[u8]) -> Result<Map<String, Value>> {
    decode_part(tokens::split(token)?.payload, "payload")
}

/// `decode [TOKEN|-]`: header and claims, no signature check.
///
/// # Errors
/// Exit 1 for a token that cannot be taken apart; in batch mode 1 if any failed.
pub fn decode(args: &DecodeArgs, ctx: &Ctx) -> Result<()> {
    if let Some(token) = single(&args.token) {
        let d = decode_token(token.trim().as_bytes())?;
        return if ctx.json {
            output::json(
                &json!({"header": d.header, "payload": d.payload, "signature": d.signature}),
            )
        } else {
            output::text(describe(&d, ctx.now, ctx.color))
        };
    }
    batch(
        ctx,
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
pub struct BatchOut<W: Write> {
    out: W,
    json: bool,
    line: u64,
}

impl<W: Write> BatchOut<W> {
    fn text_ok(&mut self, what: &str) -> Result<()> {
        writeln!(self.out, "ok {}", output::printable(what)).map_err(Error::Output)
    }

    fn json_fields<const N: usize>(&mut self, fields: [(&str, Value); N]) -> Result<()> {
        let mut m = Map::new();
        m.insert("line".into(), self.line.into());
        m.insert("exit_code".into(), 0.into());
        for (k, v) in fields {
            m.insert(k.into(), v);
        }
        serde_json::to_writer(&mut self.out, &m).map_err(|e| Error::Output(e.into()))?;
        self.out.write_all(b"\n").map_err(Error::Output)
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

/// Runs `check` on every token of stdin (one per line; blank lines skipped), printing one
/// result line each. Streams in constant memory; output is flushed whenever the input has
/// nothing more buffered, so an interactive producer sees each answer at once. `refresh`
/// runs before the first token, whenever the input made the stream wait, and at least every
/// `REFRESH_EVERY` (a revocation state that changed is then reloaded).
fn batch<R, F>(ctx: &Ctx, mut refresh: R, mut check: F) -> Result<()>
where
    R: FnMut() -> Result<()>,
    F: FnMut(&[u8], &mut BatchOut<BufWriter<io::StdoutLock<'static>>>) -> Result<()>,
{
    output::check_stdout()?;
    let stdin = io::stdin();
    let mut input = io::BufReader::with_capacity(1 << 16, stdin.lock());
    let mut out = BatchOut {
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        json: ctx.json,
        line: 0,
    };
    let mut buf = Vec::with_capacity(1024);
    let (mut tokens, mut failed) = (0u64, 0u64);
    let mut refreshed: Option<std::time::Instant> = None;
    loop {
        out.line += 1;
        // An empty buffer means this read may wait for the producer: whatever happened in
        // the meantime (a logout) must count for the tokens that come after it.
        let waits = input.buffer().is_empty();
        let Some(oversized) = read_line(&mut input, &mut buf)? else {
            break;
        };
        if waits || refreshed.is_none_or(|t| t.elapsed() >= REFRESH_EVERY) {
            refresh()?;
            refreshed = Some(std::time::Instant::now());
        }
        let token = buf.trim_ascii();
        if token.is_empty() && !oversized {
            continue;
        }
        tokens += 1;
        let result = if oversized {
            Err(Error::token(format!(
                "token is over the {} KiB limit",
                MAX_TOKEN_BYTES / 1024
            )))
        } else {
            check(token, &mut out)
        };
        if let Err(e) = result {
            if matches!(e, Error::Output(_)) {
                return Err(e);
            }
            // A file or key problem is not a verdict on one token: stop at once.
            if e.exit_code() == code::DATA {
                return Err(e);
            }
            failed += 1;
            out.error(&e)?;
        }
        if input.buffer().is_empty() {
            out.out.flush().map_err(Error::Output)?;
        }
    }
    out.out.flush().map_err(Error::Output)?;
    if tokens == 0 {
        return Err(Error::token("no tokens on stdin"));
    }
    if failed > 0 {
        // The per-line results already say what failed; the summary goes to stderr.
        return Err(Error::token(format!("{failed} of {tokens} tokens failed")));
    }
    Ok(())
}

/// Reads one line into `buf` (without its `\n`), keeping at most `MAX_TOKEN_BYTES + 1` bytes
/// of it so an endless line cannot exhaust memory. `None` at end of input; otherwise whether
/// the line was over the limit.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<Option<bool>> {
    buf.clear();
    let mut seen_any = false;
    let mut oversized = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::usage("stdin", e)),
        };
        if chunk.is_empty() {
            return Ok(seen_any.then_some(oversized));
        }
        seen_any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, i + 1),
            None => (chunk.len(), chunk.len()),
        };
        let room = (MAX_TOKEN_BYTES + 1).saturating_sub(buf.len());
        if take > room {
            oversized = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        let ended = done == take + 1;
        input.consume(done);
        if ended {
            return Ok(Some(oversized));
        }
    }
}
