//! `jwtauth init`: create the signing key.

use serde_json::json;

use crate::cli::InitArgs;
use crate::context::Ctx;
use crate::error::Result;
use crate::{keys, output};

/// Creates the key at the key path and records its algorithm.
///
/// # Errors
/// Exit 8 when the key exists without `--force`, or on I/O failure.
pub fn run(args: &InitArgs, ctx: &Ctx) -> Result<()> {
    let alg = args.alg.algorithm();
    let path = keys::init_path(ctx, alg)?;
    keys::create(&path, alg, args.force)?;
    if matches!(ctx.key, Some(crate::context::KeyConfig::Secret(_))) && ctx.key_flag.is_none() {
        ctx.info("note: JWT_SECRET_KEY is set and takes precedence over this key file");
    }
    if ctx.json {
        output::json(&json!({"key": path, "alg": format!("{alg:?}")}))
    } else {
        ctx.info(format!("created {alg:?} key {}", path.display()));
        Ok(())
    }
}
