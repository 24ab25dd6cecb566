//! `jwtauth hash`: make a bcrypt hash, or check a password against one.

use crate::cli::args::HashArgs;
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::cli::password_input::{self, Ask};
use crate::passwords;

/// Prints the `$2b$` hash of a password, or with `--check` exits 0/1 on match/mismatch.
///
/// # Errors
/// Exit 1 on mismatch, 2 for a malformed hash or bad password input.
pub fn run(args: &HashArgs, ctx: &Ctx) -> Result<()> {
    if let Some(hash) = &args.check {
        passwords::check_hash_format(hash)?;
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
    let pw = password_input::read(&args.password, Ask::Confirm)?;
    let hash = passwords::hash(&pw, ctx.cost(args.cost))?;
    if ctx.json {
        output::json(&serde_json::json!({"hash": hash}))
    } else {
        output::text(hash)
    }
}
