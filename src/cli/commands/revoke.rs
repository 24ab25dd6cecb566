//! `logout` and `revocations list|prune`.

use std::io::Read;

use serde_json::json;

use crate::cli::args::{LogoutArgs, RevocationsCommand};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::store::Lookups;
use crate::tokens::MAX_TOKEN_BYTES;
use crate::verifier::{Rules, Scratch};

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
        ctx.revocations(Lookups::Few)?
            .revoke_subject(sub, ctx.now, ctx.now)?;
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
        // Revoking is not granting: any audience may be logged out (SPEC §8).
        any_aud: true,
        ..Rules::default()
    };
    let verifier = super::token::verifier(ctx, rules)?;
    let revocations = ctx.revocations(Lookups::Few)?;
    let checked = verifier.verify(
        token.as_bytes(),
        ctx.now,
        &mut Scratch::new(),
        Some(revocations.as_ref()),
        None,
    )?;
    let (Some(jti), Some(exp)) = (checked.jti, checked.exp) else {
        return Err(Error::token(
            "token has no jti to revoke; use 'jwtauth logout --all SUBJECT'",
        ));
    };
    revocations.revoke_token(&jti, exp, ctx.now)?;
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
        .map_err(|e| Error::token(format!("cannot read the token from stdin: {e}")))?;
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let token = lines
        .next()
        .ok_or_else(|| Error::token("no token on stdin"))?;
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
            // A missing state file stays missing (SPEC §8): the store prunes nothing then.
            let store = ctx.revocations(Lookups::Few)?;
            if store.is_remote() && !ctx.json {
                ctx.info(
                    "Redis drops every revoked token's key at the token's exp by itself: nothing to prune",
                );
            }
            let pruned = store.prune(ctx.now)?;
            if ctx.json {
                return output::json(&json!({"pruned": pruned}));
            }
            ctx.info(format!("pruned {pruned} expired entries"));
            Ok(())
        }
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let r = ctx.revocations(Lookups::Few)?.list()?;
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
