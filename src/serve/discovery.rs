//! Discovery (SPEC §9): the public JWK Set of the live keys and the RFC 8414 metadata.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
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

/// The server's own base URL: the configured issuer, else from the request's Host.
fn base_url(app: &App, headers: &HeaderMap) -> String {
    if let Some(iss) = &app.opts().issuer {
        return iss.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "api",
    responses((status = 200, description = "RFC 8414 metadata", body = Object)))]
pub(super) async fn metadata(State(app): State<Arc<App>>, headers: HeaderMap) -> Json<Value> {
    let base = base_url(&app, &headers);
    let mut m = json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "introspection_endpoint": format!("{base}/introspect"),
        "grant_types_supported": ["password"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    });
    if app.keys().key.public.is_some() {
        m["jwks_uri"] = format!("{base}/.well-known/jwks.json").into();
    }
    Json(m)
}
