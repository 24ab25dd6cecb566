//! `jwtauth hash`: make a bcrypt or argon2id hash (bare, or as an htpasswd line with
//! `--user`), or check a password against one of either scheme or a legacy htpasswd hash.

use crate::cli::args::HashArgs;
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::passwords;
use crate::users;

/// Prints the `$2b$` or `$argon2id$` hash of a password (`NAME:HASH` with `--user NAME`, as
/// `htpasswd -nB` does), or with `--check` exits 0/1 on match/mismatch.
///
/// # Errors
/// Exit 1 on mismatch, 2 for a malformed hash, a bad `--user` name or bad password input.
pub fn run(args: &HashArgs, ctx: &Ctx) -> Result<()> {
    if let Some(hash) = &args.check {
        passwords::accepted(hash, ctx.settings.config.allow_legacy_hashes)?;
        let pw = password_input::read(&args.password, Ask::Once)?;
        if !passwords::verify(&pw, hash)? {
            // SPEC §8: `--json` answers a mismatch too, with the same exit code (1).
            if ctx.json {
                output::json(&serde_json::json!({"match": false}))?;
            }
            return Err(Error::PasswordMismatch);
        }
        if ctx.json {
            output::json(&serde_json::json!({"match": true}))?;
        }
        return Ok(());
    }
    // The name is checked before a password is asked for: an htpasswd line with a name that
    // has a ':' or a line break in it would be a different line.
    if let Some(name) = &args.user {
        users::check_name(name)?;
    }
    let scheme = ctx.scheme(args.scheme, args.cost)?;
    let pw = password_input::read(&args.password, Ask::Confirm)?;
    let hash = passwords::hash(&pw, &scheme)?;
    drop(pw);
    match (&args.user, ctx.json) {
        (None, true) => output::json(&serde_json::json!({"hash": hash})),
        (None, false) => output::text(hash),
        (Some(name), true) => output::json(&serde_json::json!({
            "hash": hash,
            "username": name,
            "htpasswd": format!("{name}:{hash}"),
        })),
        (Some(name), false) => output::text(format!("{name}:{hash}")),
    }
}
