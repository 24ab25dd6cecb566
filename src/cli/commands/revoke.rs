//! `logout` and `revocations list|prune`.

use serde_json::json;

use crate::authority::{Authority, LoggedOut};
use crate::cli::args::{LogoutArgs, RevocationsCommand};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::error::Error as CoreError;
use crate::store::Lookups;
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
        let authority = authority(ctx)?;
        let at = match authority.logout_all(sub, !args.force) {
            Err(CoreError::UserNotFound(_)) => return Err(Error::NoSuchSubject(sub.clone())),
            other => other?,
        };
        if ctx.json {
            return output::json(&json!({"sub": sub, "revoked_at": at}));
        }
        ctx.info(format!(
            "revoked every token of {sub} issued up to {}",
            output::utc(at)
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
    let authority = authority(ctx)?;
    let out = authority.logout_token(&verifier, &mut Scratch::new(), &token)?;
    if ctx.json {
        let mut doc = json!({"jti": out.jti, "exp": out.exp});
        if let Some(sid) = &out.sid {
            doc["sid"] = sid.as_str().into();
            doc["session_already_ended"] = out.already_ended.into();
        }
        return output::json(&doc);
    }
    ctx.info(logged_out(&out));
    Ok(())
}

/// What a logout says: the token, and its session when it had one (SPEC §13).
fn logged_out(out: &LoggedOut) -> String {
    match (&out.sid, out.already_ended) {
        (Some(_), true) => format!(
            "logged out token {}: its session had already ended",
            out.jti
        ),
        (Some(sid), false) => format!("logged out token {} and ended its session {sid}", out.jti),
        (None, _) => format!("logged out token {}", out.jti),
    }
}

/// The authority of `logout`: the stores opened when first needed.
fn authority(ctx: &Ctx) -> Result<Authority<'_>> {
    super::token::authority(ctx, super::token::lazy_key(ctx))
}

/// `logout -`: revokes every token on stdin, one result line each (`ok <jti>`, or with
/// `--json` `{"line", "exit_code": 0, "jti", "exp"}`); exit 0 only if all were revoked.
fn logout_many(ctx: &Ctx, verifier: &Verifier, lines: Lines) -> Result<()> {
    // Each token is one locked write: the state is looked at again before every token, so a
    // token given twice is found revoked the second time (4), as it would be in two runs.
    let authority = authority(ctx)?;
    let mut scratch = Scratch::new();
    super::token::batch(
        ctx,
        lines,
        || Ok(()),
        |token, out| {
            let done = authority.logout_token(verifier, &mut scratch, token)?;
            if ctx.json {
                out.json_fields([("jti", done.jti.into()), ("exp", done.exp.into())])
            } else {
                out.text_ok(&done.jti)
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
            let authority = authority(ctx)?;
            if authority.revocations()?.is_remote() && !ctx.json {
                ctx.info(
                    "Redis drops every revoked token's key at the token's exp by itself: nothing to prune",
                );
            }
            let pruned = authority.prune()?;
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
