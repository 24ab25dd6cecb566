//! `jwtauth paths`: the files in use.

use serde_json::json;

use crate::cli::context::Ctx;
use crate::cli::error::Result;
use crate::cli::output;
use crate::keys;
use crate::store;

/// Prints the users file, state file and key with where the key setting came from.
///
/// # Errors
/// Exit 8 when no home directory is known and no paths were given.
pub fn run(ctx: &Ctx) -> Result<()> {
    // A Redis URL is shown without its password.
    let users = store::redis::display(ctx.settings.users_path()?);
    let state = store::redis::display(ctx.settings.state_path()?);
    let (key, source) = keys::describe(&ctx.settings)?;
    if ctx.json {
        return output::json(&json!({
            "users": users,
            "state": state,
            "key": key,
            "key_source": source.as_str(),
        }));
    }
    // A key from JWT_SECRET_KEY has no file: its source is all there is to say.
    let key = key.map_or_else(
        || format!("({})", source.as_str()),
        |p| format!("{} ({})", p.display(), source.as_str()),
    );
    output::text(format!("users  {}\nstate  {}\nkey    {key}", users, state,))
}
