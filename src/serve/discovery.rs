//! Discovery (SPEC §9): the public JWK Set of the live keys and the RFC 8414 metadata.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::App;
use super::error::{ApiError, ErrorBody};

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "api",
    responses(
        (status = 200, description = "The public JWK Set", body = Object),
        (status = 404, description = "The key is an HMAC secret: there is nothing public", body = ErrorBody),
    ))]
pub(super) async fn jwks(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    // The signing key and the retired keys that still verify (`init --rotate`).
    let published = crate::keys::jwks(&app.keys().key, app.clock.now());
    if published.is_empty() {
        Err(ApiError::NotFound(
            "the signing key is an HMAC secret; there is no public key to publish",
        ))
    } else {
        Ok(Json(json!({ "keys": published })))
    }
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "api",
    responses(
        (status = 200, description = "RFC 8414 metadata, its URLs built from the configured `issuer`", body = Object),
        (status = 404, description = "No `issuer` is configured: there is no metadata to publish", body = ErrorBody),
    ))]
pub(super) async fn metadata(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    // Only from the configured issuer, never from the request's `Host` (SPEC §15): a client
    // would otherwise be told endpoints on whatever host it (or an attacker) named.
    let Some(issuer) = app.opts().issuer.clone() else {
        return Err(ApiError::NotFound(
            "no issuer is configured; set 'issuer' to publish the metadata",
        ));
    };
    let base = issuer.trim_end_matches('/');
    let mut m = json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "introspection_endpoint": format!("{base}/introspect"),
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    });
    if app.keys().key.public.is_some() {
        m["jwks_uri"] = format!("{base}/.well-known/jwks.json").into();
    }
    Ok(Json(m))
}
