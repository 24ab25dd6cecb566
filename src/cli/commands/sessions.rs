//! `refresh` and `sessions list|revoke` (SPEC §13).

use std::io::{IsTerminal as _, Read as _};

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::authority::{Authority, Listed};
use crate::cli::args::{RefreshArgs, SessionsCommand, SessionsListArgs, SessionsRevokeArgs};
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::error::Error as CoreError;
use crate::sessions::Client;

/// The longest input `refresh` reads: a refresh token is about 110 characters.
const MAX_INPUT: u64 = 4096;

/// The authority of a sessions command: the stores and the key opened when first needed.
fn authority(ctx: &Ctx) -> Result<Authority<'_>> {
    super::token::authority(ctx, super::token::lazy_key(ctx))
}

/// `refresh`: spends the refresh token on stdin; prints the new access token and the new
/// refresh token (line 1 and 2), or with `--json` the login document.
///
/// # Errors
/// Exit 2 for input that is not one line; 3, 4 or 1 for a refused token (SPEC §13).
pub fn refresh(args: &RefreshArgs, ctx: &Ctx) -> Result<()> {
    if !args.argv.is_empty() {
        return Err(Error::usage(
            "refresh",
            "the refresh token is read from stdin, never from the command line (where ps and the shell's history would show it): jwtauth refresh < token.txt",
        ));
    }
    let token = read_token()?;
    let issued = authority(ctx)?.refresh(&token)?;
    drop(token);
    if ctx.json {
        return super::token::print_issued(ctx, &issued, false);
    }
    let Some(new) = &issued.refresh_token else {
        return Err(Error::Core(CoreError::internal(
            "refresh",
            "no refresh token was made",
        )));
    };
    let text = Zeroizing::new(format!("{}\n{}", issued.token, new.as_str()));
    output::text(text.as_str())
}

/// The one refresh token on stdin (never from argv: it would show in `ps` and the shell's
/// history).
fn read_token() -> Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::usage(
            "refresh token",
            "is read from stdin, not a terminal: pipe it in, e.g. jwtauth refresh < token.txt",
        ));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    stdin
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::usage("refresh token", format!("cannot read stdin: {e}")))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Error::usage(
            "refresh token",
            "stdin holds more than one refresh token",
        ));
    }
    let Ok(text) = std::str::from_utf8(&buf) else {
        return Err(Error::usage("refresh token", "stdin is not text"));
    };
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match (lines.next(), lines.next()) {
        (Some(one), None) => Ok(Zeroizing::new(one.to_string())),
        (None, _) => Err(Error::usage(
            "refresh token",
            "stdin is empty; expected one refresh token",
        )),
        (Some(_), Some(_)) => Err(Error::usage(
            "refresh token",
            "stdin holds more than one line; expected one refresh token",
        )),
    }
}

/// `sessions list` and `sessions revoke`.
///
/// # Errors
/// Exit 6 for an unknown session or user; exit 8 for store errors.
pub fn run(cmd: &SessionsCommand, ctx: &Ctx) -> Result<()> {
    match cmd {
        SessionsCommand::List(a) => list(a, ctx),
        SessionsCommand::Revoke(a) => revoke(a, ctx),
    }
}

fn client_json(c: &Client) -> Value {
    match c {
        Client::Cli => json!("cli"),
        Client::Http {
            address,
            user_agent,
        } => json!({"address": address, "user_agent": user_agent}),
    }
}

fn client_text(c: &Client) -> String {
    match c {
        Client::Cli => "cli".into(),
        Client::Http {
            address,
            user_agent,
        } => match user_agent {
            Some(ua) => output::printable(&format!("{address} {ua}")),
            None => output::printable(address),
        },
    }
}

/// One session as `sessions list --json` (and `GET /sessions`, without `current`) shows it.
pub fn listed_json(l: &Listed) -> Value {
    json!({
        "sid": l.session.sid,
        "sub": l.session.sub,
        "created_at": l.session.created_at,
        "last_used_at": l.last_used_at,
        "expires_at": l.expires_at,
        "client": client_json(&l.session.client),
        "amr": l.session.amr,
    })
}

fn list(args: &SessionsListArgs, ctx: &Ctx) -> Result<()> {
    let authority = authority(ctx)?;
    let listed = authority.sessions(args.user.as_deref())?;
    if ctx.json {
        let all: Vec<Value> = listed.iter().map(listed_json).collect();
        return output::json(&json!({ "sessions": all }));
    }
    if listed.is_empty() {
        ctx.info(match &args.user {
            Some(u) => format!("no live sessions of {}", output::printable(u)),
            None => "no live sessions".to_string(),
        });
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|l| {
            vec![
                l.session.sid.clone(),
                output::printable(&l.session.sub),
                output::utc(l.session.created_at),
                output::utc(l.last_used_at),
                output::utc(l.expires_at),
                client_text(&l.session.client),
                output::printable(&l.session.amr.join(",")),
            ]
        })
        .collect();
    output::text(output::table(
        &["SID", "USER", "BEGAN", "LAST USED", "ENDS", "CLIENT", "AMR"],
        &rows,
    ))
}

fn revoke(args: &SessionsRevokeArgs, ctx: &Ctx) -> Result<()> {
    let authority = authority(ctx)?;
    let ended = match &args.user {
        Some(user) => {
            if !authority.users()?.exists(user)? {
                return Err(Error::Core(CoreError::UserNotFound(user.clone())));
            }
            authority.end_user_sessions(user, None)?
        }
        None => {
            let sids: Vec<&str> = args.sids.iter().map(String::as_str).collect();
            authority.end_sessions(&sids, None)?
        }
    };
    if ctx.json {
        return output::json(&json!({ "ended": ended }));
    }
    match &args.user {
        Some(user) => ctx.info(format!(
            "ended {} session{} of {}",
            ended.len(),
            if ended.len() == 1 { "" } else { "s" },
            output::printable(user)
        )),
        None => {
            for sid in &ended {
                ctx.info(format!("ended session {sid}"));
            }
        }
    }
    Ok(())
}
