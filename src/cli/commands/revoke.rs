//! `logout` and `revocations list|prune`.

use serde_json::json;

use crate::cli::args::{LogoutArgs, RevocationsCommand};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::clock::{Clock, SystemClock};
use crate::store::{Lookups, RevocationStore};
use crate::verifier::{Rules, Scratch, Verifier};

use super::token::{Input, Lines};

/// `logout TOKEN` revokes one verified token; `logout -` every token on stdin, one result
/// line each; `logout --all NAME` revokes every token of NAME issued up to now, NAME being a
/// user unless `--force`.
///
/// # Errors
/// The token's own exit code when it does not verify (nothing is written); with `-`, 1 if
/// any token was not revoked; 6 for `--all NAME` when NAME is not a user, without `--force`.
pub fn logout(args: &LogoutArgs, ctx: &Ctx) -> Result<()> {
    if let Some(sub) = &args.all {
        if sub.is_empty() {
            return Err(Error::usage("--all", "the subject must not be empty"));
        }
        // A mistyped name would mark a subject no token has and look like success; a minted
        // service token's subject is no user, hence --force (SPEC §15).
        if !args.force && !ctx.users()?.exists(sub)? {
            return Err(Error::NoSuchSubject(sub.clone()));
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
    let rules = Rules {
        exp_required: true,
        // Revoking is not granting: any audience may be logged out (SPEC §8).
        any_aud: true,
        ..Rules::default()
    };
    let verifier = super::token::verifier(ctx, rules)?;
    let token = match Input::of(&args.token)? {
        Input::One(token) => token,
        Input::Many(lines) => return logout_many(ctx, &verifier, lines),
    };
    let revocations = ctx.revocations(Lookups::Few)?;
    let (jti, exp) = revoke(ctx.now, &verifier, &token, revocations.as_ref())?;
    if ctx.json {
        return output::json(&json!({"jti": jti, "exp": exp}));
    }
    ctx.info(format!("logged out token {jti}"));
    Ok(())
}

/// Verifies one token (any audience) at `now` and revokes its `jti` until its `exp`.
fn revoke(
    now: i64,
    verifier: &Verifier,
    token: &[u8],
    revocations: &dyn RevocationStore,
) -> Result<(String, i64)> {
    let checked = verifier.verify(token, now, &mut Scratch::new(), Some(revocations), None)?;
    let (Some(jti), Some(exp)) = (checked.jti, checked.exp) else {
        return Err(Error::token(
            "token has no jti to revoke; use 'jwtauth logout --all SUBJECT'",
        ));
    };
    revocations.revoke_token(&jti, exp, now)?;
    Ok((jti, exp))
}

/// `logout -`: revokes every token on stdin, one result line each (`ok <jti>`, or with
/// `--json` `{"line", "exit_code": 0, "jti", "exp"}`); exit 0 only if all were revoked.
fn logout_many(ctx: &Ctx, verifier: &Verifier, lines: Lines) -> Result<()> {
    // Each token is one locked write: the state is looked at again before every token, so a
    // token given twice is found revoked the second time (4), as it would be in two runs.
    let revocations = ctx.revocations(Lookups::Few)?;
    let clock = SystemClock;
    super::token::batch(
        ctx,
        lines,
        || Ok(()),
        |_, _| Ok(usize::MAX),
        |token, out| {
            revocations.refresh()?;
            let (jti, exp) = revoke(clock.now(), verifier, token, revocations.as_ref())?;
            if ctx.json {
                out.json_fields([("jti", jti.into()), ("exp", exp.into())])
            } else {
                out.text_ok(&jti)
            }
        },
    )
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
