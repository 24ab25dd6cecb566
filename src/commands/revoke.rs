//! `logout` and `revocations list|prune`.

use std::io::Read;

use serde_json::json;

use crate::cli::{LogoutArgs, RevocationsCommand};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::revocations::{self, Lookups, Revocations};
use crate::tokens::{MAX_TOKEN_BYTES, Rules};
use crate::{output, store};

/// `logout TOKEN` revokes one verified token; `logout --all NAME` revokes every token of NAME
/// issued up to now.
///
/// # Errors
/// The token's own exit code when it does not verify (nothing is written).
pub fn logout(args: &LogoutArgs, ctx: &Ctx) -> Result<()> {
    if let Some(sub) = &args.all {
        if sub.is_empty() {
            return Err(Error::usage("--all", "the subject must not be empty"));
        }
        revocations::revoke_subject(ctx, sub)?;
        if ctx.json {
            return output::json(&json!({"sub": sub, "revoked_at": ctx.now}));
        }
        ctx.info(format!(
            "revoked every token of {sub} issued up to {}",
            output::utc(ctx.now)
        ));
        return Ok(());
    }
    let token = match super::token::single(&args.token) {
        Some(t) => t.trim().to_string(),
        None => read_one_token()?,
    };
    let rules = Rules {
        exp_required: true,
        ..Rules::default()
    };
    let mut verifier = super::token::verifier(ctx, rules, Some(Lookups::Few))?;
    // Revoking is not granting: any audience may be logged out (SPEC §8).
    verifier.accept_any_audience(true);
    let checked = verifier.verify(token.as_bytes(), None)?;
    let (Some(jti), Some(exp)) = (checked.jti, checked.exp) else {
        return Err(Error::TokenInvalid(
            "token has no jti to revoke; use 'jwtauth logout --all SUBJECT'".into(),
        ));
    };
    revocations::update(ctx, |r| {
        r.tokens.insert(jti.clone(), exp);
        Ok(())
    })?;
    if ctx.json {
        return output::json(&json!({"jti": jti, "exp": exp}));
    }
    ctx.info(format!("logged out token {jti}"));
    Ok(())
}

fn read_one_token() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_TOKEN_BYTES as u64 + 2)
        .read_to_string(&mut s)
        .map_err(|e| Error::TokenInvalid(format!("cannot read the token from stdin: {e}")))?;
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let token = lines
        .next()
        .ok_or_else(|| Error::TokenInvalid("no token on stdin".into()))?;
    if lines.next().is_some() {
        return Err(Error::usage(
            "stdin",
            "logout takes one token; found more than one line",
        ));
    }
    Ok(token.to_string())
}

/// `revocations list` and `revocations prune`.
///
/// # Errors
/// Exit 8 for file errors.
pub fn run(cmd: &RevocationsCommand, ctx: &Ctx) -> Result<()> {
    match cmd {
        RevocationsCommand::List => list(ctx),
        RevocationsCommand::Prune => {
            // Nothing to prune without a state file, and nothing to create (SPEC §8).
            let pruned = if ctx.state_path()?.exists() {
                revocations::update(ctx, |r| Ok(r.prune(ctx.now)))?
            } else {
                0
            };
            if ctx.json {
                return output::json(&json!({"pruned": pruned}));
            }
            ctx.info(format!("pruned {pruned} expired entries"));
            Ok(())
        }
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let r: Revocations = store::load(ctx.state_path()?)?;
    if ctx.json {
        let tokens: Vec<_> = r
            .tokens
            .iter()
            .map(|(j, e)| json!({"jti": j, "exp": e}))
            .collect();
        let users: Vec<_> = r
            .users
            .iter()
            .map(|(s, t)| json!({"sub": s, "revoked_at": t}))
            .collect();
        return output::json(&json!({"tokens": tokens, "users": users}));
    }
    let mut s = String::new();
    if !r.tokens.is_empty() {
        let rows: Vec<Vec<String>> = r
            .tokens
            .iter()
            .map(|(j, e)| vec![output::printable(j), output::utc(*e)])
            .collect();
        s.push_str(&output::table(&["JTI", "EXPIRES"], &rows));
    }
    if !r.users.is_empty() {
        if !s.is_empty() {
            s.push_str("\n\n");
        }
        let rows: Vec<Vec<String>> = r
            .users
            .iter()
            .map(|(u, t)| vec![output::printable(u), output::utc(*t)])
            .collect();
        s.push_str(&output::table(&["SUBJECT", "TOKENS REVOKED UP TO"], &rows));
    }
    if s.is_empty() {
        ctx.info("no revocations");
        return Ok(());
    }
    output::text(s)
}
