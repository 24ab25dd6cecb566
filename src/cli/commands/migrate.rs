//! `jwtauth migrate --users-to PATH|URL --state-to PATH|URL`: copies the users and the live
//! revocations from the configured stores into others (SPEC §10), file ↔ Redis, idempotently.

use std::collections::HashMap;

use serde_json::json;

use crate::cli::args::MigrateArgs;
use crate::cli::context::{Ctx, refuse_password_on_argv};
use crate::cli::error::Result;
use crate::cli::output;
use crate::store::{self, Lookups, redis};

/// Copies what was asked; a summary on stderr (`--json`: on stdout).
///
/// # Errors
/// Exit 2 for a Redis URL with a password on the command line; exit 8 when a store cannot be
/// read or written (nothing is half-copied into a file: each file is one locked rewrite).
pub fn run(args: &MigrateArgs, ctx: &Ctx) -> Result<()> {
    refuse_password_on_argv(args.users_to.as_deref(), "--users-to", "")?;
    refuse_password_on_argv(args.state_to.as_deref(), "--state-to", "")?;
    for (flag, to) in [
        ("--users-to", &args.users_to),
        ("--state-to", &args.state_to),
    ] {
        if let Some(to) = to {
            redis::refuse_mistyped(flag, to)?;
        }
    }
    let s = &ctx.settings;
    let mut report = serde_json::Map::new();
    if let Some(to) = &args.users_to {
        let from = ctx.users()?;
        let dest = store::open_users(to, s.lock_timeout, &s.redis)?;
        let users = from.list()?;
        let there: HashMap<String, _> = dest
            .list()?
            .into_iter()
            .map(|u| (u.username.clone(), u))
            .collect();
        let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0usize);
        for u in users {
            match there.get(&u.username) {
                None => new.push(u),
                Some(t) if *t == u => same += 1,
                Some(_) => changed.push(u),
            }
        }
        let added = new.len();
        if !new.is_empty() {
            // Whole records: `import` adds a new name exactly as given.
            dest.import(new, false)?;
        }
        for u in &changed {
            dest.update(&u.username, &mut |d| {
                *d = u.clone();
                Ok(())
            })?;
        }
        ctx.info(format!(
            "users: {added} added, {} updated, {same} already there, in {}",
            changed.len(),
            redis::display(to)
        ));
        report.insert(
            "users".into(),
            json!({"added": added, "updated": changed.len(), "unchanged": same}),
        );
    }
    if let Some(to) = &args.state_to {
        let from = ctx.revocations(Lookups::Few)?;
        let dest = store::open_revocations(
            to,
            s.lock_timeout,
            Lookups::Few,
            &s.redis,
            std::sync::Arc::clone(&ctx.rules),
        )?;
        let mut list = from.list()?;
        list.tokens.retain(|(_, exp)| *exp > ctx.now);
        dest.merge(&list, ctx.now)?;
        // Sessions, ended ones too (SPEC §13): a copied store never brings an ended one back.
        let sessions = from.sessions(None)?;
        dest.import_sessions(&sessions)?;
        ctx.info(format!(
            "revocations: {} live tokens, {} subjects and {} sessions, in {}",
            list.tokens.len(),
            list.users.len(),
            sessions.len(),
            redis::display(to)
        ));
        report.insert(
            "revocations".into(),
            json!({"tokens": list.tokens.len(), "users": list.users.len(), "sessions": sessions.len()}),
        );
    }
    if ctx.json {
        return output::json(&serde_json::Value::Object(report));
    }
    Ok(())
}
