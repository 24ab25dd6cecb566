//! `jwtauth keys list` / `keys retire KID`: the signing key and the retired keys that
//! `init --rotate` keeps in `<key file>.keys.json`.

use serde_json::{Value, json};

use crate::cli::args::KeysCommand;
use crate::cli::context::Ctx;
use crate::cli::error::Result;
use crate::cli::output;
use crate::{alg, clock, keyring, keys};

/// Runs a `keys` subcommand.
///
/// # Errors
/// As `list` and `retire`.
pub fn run(cmd: &KeysCommand, ctx: &Ctx) -> Result<()> {
    match cmd {
        KeysCommand::List => list(ctx),
        KeysCommand::Retire(a) => retire(&a.kid, ctx),
    }
}

/// Prints the current key and the retired ones (text table or `--json`).
///
/// # Errors
/// Exit 8 without a key, or on an unreadable or corrupt key ring.
fn list(ctx: &Ctx) -> Result<()> {
    let key = ctx.key()?;
    let ring = match &key.path {
        Some(p) => keyring::load(p)?,
        None => None,
    };
    let created = ring
        .as_ref()
        .and_then(|r| r.current_of(&key.id))
        .and_then(|c| c.created_at)
        .or_else(|| key.path.as_deref().and_then(keys::modified));
    let mut rows = vec![json!({
        "kid": key.id,
        "alg": alg::name(key.alg),
        "state": "current",
        "created_at": created,
        "retired_at": null,
        "expires_at": null,
    })];
    for r in &key.retired {
        rows.push(json!({
            "kid": r.kid,
            "alg": alg::name(r.alg),
            "state": if r.live(ctx.now) { "retired" } else { "expired" },
            "created_at": r.created_at,
            "retired_at": r.retired_at,
            "expires_at": r.expires_at,
        }));
    }
    if ctx.json {
        return output::json(&json!({ "keys": rows }));
    }
    let age = |v: &Value| {
        v.as_i64()
            .map_or("-".to_string(), |t| clock::span(ctx.now.saturating_sub(t)))
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            let expires = r["expires_at"].as_i64().map_or("-".to_string(), |t| {
                format!("{} ({})", clock::utc(t), clock::relative(t, ctx.now))
            });
            vec![
                output::printable(&s("kid")),
                s("alg"),
                s("state"),
                age(&r["created_at"]),
                age(&r["retired_at"]),
                expires,
            ]
        })
        .collect();
    output::text(output::table(
        &["KID", "ALG", "STATE", "AGE", "RETIRED", "VERIFIES UNTIL"],
        &table,
    ))
}

/// Drops the retired key `kid` now.
///
/// # Errors
/// Exit 2 for the current key or an unknown kid; 8 on a corrupt ring or I/O failure.
fn retire(kid: &str, ctx: &Ctx) -> Result<()> {
    let key = ctx.key()?;
    let dropped = keys::retire(ctx.settings.lock_timeout, &key, kid, ctx.now)?;
    if ctx.json {
        return output::json(&json!({"retired": kid, "dropped": dropped}));
    }
    ctx.info(format!(
        "retired key {kid} dropped: the tokens it signed no longer verify"
    ));
    if dropped > 0 {
        ctx.info(format!(
            "dropped {dropped} other retired key(s) past their time"
        ));
    }
    Ok(())
}
