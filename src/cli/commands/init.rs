//! `jwtauth init`: create the signing key.

use serde_json::json;

use crate::alg::{Algorithm, KeyKind};
use crate::cli::args::InitArgs;
use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::flags;
use crate::cli::output;
use crate::settings::KeyConfig;
use crate::{alg, clock, keys};

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
    if args.rotate {
        return rotate(args, ctx);
    }
    let alg = args.alg.map_or(Algorithm::HS256, |a| a.algorithm());
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

/// `init --rotate`: a new key at the current key's file, the old one kept in
/// `<key file>.keys.json` to verify until `--keep` (or the longest token lifetime) has passed.
///
/// # Errors
/// Exit 8 without a key file to rotate (none yet, or only `JWT_SECRET_KEY`), for a public
/// key, for a change between an HMAC secret and a key pair at the default location (the file
/// name says which it is), on a corrupt key ring, or on I/O failure; 2 for a bad `--keep`.
fn rotate(args: &InitArgs, ctx: &Ctx) -> Result<()> {
    let keep = args
        .keep
        .as_deref()
        // `--keep 0` is no token lifetime: the old key stops verifying at once, which is
        // meaningful (and what `keys retire` does later), so it stays allowed.
        .map(|d| flags::duration("--keep", d))
        .transpose()?;
    if matches!(ctx.settings.key, Some(KeyConfig::Secret(_))) && ctx.settings.key_file.is_none() {
        return Err(Error::config(
            "JWT_SECRET_KEY",
            "is set: a key given in the environment cannot be rotated by jwtauth; pass --key PATH (or unset it) to rotate a key file",
        ));
    }
    let path = match &ctx.settings.key_file {
        Some(p) => p.clone(),
        None => keys::describe(&ctx.settings)?
            .0
            .ok_or_else(|| Error::config("no signing key", "run 'jwtauth init' to create one"))?,
    };
    if !path.exists() {
        return Err(Error::config(
            format!("key {}", path.display()),
            "does not exist, so there is nothing to rotate; run 'jwtauth init' to create it",
        ));
    }
    let old = keys::parse_key(&path, &keys::read_bounded(&path)?)?;
    let alg = args.alg.map_or(old.alg, |a| a.algorithm());
    let family_changes = (old.kind == KeyKind::Hmac) != alg::is_hmac(alg);
    if family_changes && ctx.settings.key_file.is_none() {
        return Err(Error::config(
            format!("init --rotate --alg {}", alg::name(alg)),
            format!(
                "the default key {} is {} key; rotating between an HMAC secret and a key pair changes the default file name, which would lose the old key: keep the family, or rotate a key given with --key PATH",
                path.display(),
                old.kind.article()
            ),
        ));
    }
    let ttl = ctx.ttl(None)?;
    let done = keys::rotate(ctx.settings.lock_timeout, &path, alg, keep, ttl, ctx.now)?;
    if let Some(public) = &done.removed_public {
        ctx.info(format!(
            "removed the public key {} of the replaced key (it is kept in the key ring until it expires)",
            public.display()
        ));
    }
    if matches!(ctx.settings.key, Some(KeyConfig::Secret(_))) {
        ctx.info("note: JWT_SECRET_KEY is set and takes precedence over this key file");
    }
    if ctx.json {
        output::json(&json!({
            "key": path,
            "alg": alg::name(alg),
            "kid": done.kid,
            "public_key": done.public_path,
            "retired": {"kid": done.old_kid, "expires_at": done.expires_at},
            "dropped": done.dropped,
        }))
    } else {
        ctx.info(format!(
            "created {} key {} (kid {})",
            alg::name(alg),
            path.display(),
            done.kid
        ));
        ctx.info(format!(
            "retired key {} verifies its tokens until {} ({})",
            done.old_kid,
            clock::utc(done.expires_at),
            clock::relative(done.expires_at, ctx.now)
        ));
        if done.dropped > 0 {
            ctx.info(format!(
                "dropped {} retired key(s) past their time",
                done.dropped
            ));
        }
        Ok(())
    }
}
