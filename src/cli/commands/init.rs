//! `jwtauth init`: create the signing key.

use serde_json::json;

use crate::cli::args::InitArgs;
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::{alg, keys};

/// Creates the key at the key path and records its algorithm.
///
/// On the default location only one of `secret` and `private.pem` may exist (with both,
/// every command would have to ask which to use): making one while the other exists is
/// refused without `--force`, and with `--force` the other is removed once the new key is
/// in place.
///
/// # Errors
/// Exit 8 when the key (or the other default key) exists without `--force`, or on I/O
/// failure.
pub fn run(args: &InitArgs, ctx: &Ctx) -> Result<()> {
    let alg = args.alg.algorithm();
    let path = keys::init_path(&ctx.settings, alg)?;
    let other = keys::other_default(&ctx.settings, alg).filter(|p| p.exists());
    if let Some(other) = &other
        && !args.force
    {
        return Err(Error::config(
            format!("key {}", other.display()),
            format!(
                "already exists as the default key; pass --force to replace it with a new {} key at {}, or --key PATH to create the new key elsewhere",
                alg::name(alg),
                path.display()
            ),
        ));
    }
    let created = keys::create(ctx.settings.lock_timeout, &path, alg, args.force)?;
    if let Some(public) = &created.removed_public {
        ctx.info(format!(
            "removed the public key {} of the replaced key",
            public.display()
        ));
    }
    if let Some(other) = &other {
        keys::remove(ctx.settings.lock_timeout, other)?;
        ctx.info(format!(
            "removed the previous default key {}",
            other.display()
        ));
    }
    if matches!(
        ctx.settings.key,
        Some(crate::settings::KeyConfig::Secret(_))
    ) {
        ctx.info("note: JWT_SECRET_KEY is set and takes precedence over this key file");
    }
    if ctx.json {
        output::json(&json!({
            "key": path,
            "alg": alg::name(alg),
            "kid": created.kid,
            "public_key": created.public_path,
        }))
    } else {
        ctx.info(format!("created {} key {}", alg::name(alg), path.display()));
        if let (Some(public), Some(kid)) = (&created.public_path, &created.kid) {
            ctx.info(format!("public key {} (kid {kid})", public.display()));
        }
        Ok(())
    }
}
