//! `jwtauth jwks`: the public JWK Set of the asymmetric signing key.

use jsonwebtoken::jwk::JwkSet;

use crate::cli::context::Ctx;
use crate::cli::error::{Error, Result};
use crate::cli::output;

/// Prints `{"keys":[<public JWK>…]}` for the configured key and the retired keys that still
/// verify (`init --rotate`), current first (pretty in text mode, one line with `--json`).
/// Each JWK's `alg` is its key's signing algorithm and its `kid` the RFC 7638 thumbprint that
/// jwtauth puts in token headers.
///
/// # Errors
/// Exit 8 without a key, or for an HMAC key (a secret is never published).
pub fn run(ctx: &Ctx) -> Result<()> {
    let key = ctx.key()?;
    let published = crate::keys::jwks(&key, ctx.now);
    if published.is_empty() {
        return Err(Error::config(
            format!("key {}", key.name()),
            "is an HMAC secret, which has no public part and must never be published; a JWK Set needs an asymmetric key (jwtauth init --alg ES256, RS256, EdDSA, ...)",
        ));
    }
    // Through a `Value`, whose objects keep their members sorted: the output is stable.
    let set =
        serde_json::to_value(JwkSet { keys: published }).map_err(|e| Error::Output(e.into()))?;
    if ctx.json {
        output::json(&set)
    } else {
        output::text(serde_json::to_string_pretty(&set).map_err(|e| Error::Output(e.into()))?)
    }
}
