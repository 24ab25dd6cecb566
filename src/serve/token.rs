//! The token endpoints (SPEC §9, §13): `POST /token` (the password grant: a form, JSON or
//! HTTP Basic; the refresh grant: a form or JSON), `POST /revoke` (RFC 7009: an access or a
//! refresh token) and `POST /introspect` (RFC 7662).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::calls::{self, Checking, check, off_worker};
use super::error::{ApiError, ErrorBody};
use super::extract::{Bearer, ClientAddr, user_agent};
use super::login::{LoginFailure, sign_in};
use super::{App, throttle};
use crate::error::Error;

/// The password grant form (FastAPI's `OAuth2PasswordRequestForm`) or JSON body, or the
/// refresh grant (RFC 6749 §6).
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password` (may be omitted, or empty as FastAPI's form takes it) or `refresh_token`.
    #[schema(pattern = "^(password|refresh_token)?$")]
    grant_type: Option<String>,
    /// The password grant's user.
    username: Option<String>,
    /// The password grant's password.
    password: Option<String>,
    /// The refresh grant's refresh token (spent by the request: the answer has a new one).
    refresh_token: Option<String>,
    /// The `device` value of an earlier successful login as this user (exempts it from the
    /// username's throttle).
    #[allow(dead_code)]
    device: Option<String>,
    /// Ignored.
    #[allow(dead_code)]
    scope: Option<String>,
}

/// A successful login or refresh.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires (at most the session's end, SPEC §13).
    expires_in: i64,
    /// The session's refresh token: send it as a refresh grant for a new access token (and a
    /// new refresh token). Spent once used; presenting a spent one again ends the session.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "secret")]
    #[schema(value_type = Option<String>)]
    refresh_token: Option<Zeroizing<String>>,
    /// A device value for this user: sent back as `device` on later logins, it exempts them
    /// from the username's throttle (SPEC §15).
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
}

/// A secret written into the answer, never copied into a `String` that is not zeroized.
fn secret<S: serde::Serializer>(v: &Option<Zeroizing<String>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_some(t.as_str()),
        None => s.serialize_none(),
    }
}

/// A login's failure as the JSON API answers it.
impl From<LoginFailure> for ApiError {
    fn from(f: LoginFailure) -> Self {
        match f {
            LoginFailure::Throttled(wait) => ApiError::Throttled(wait),
            LoginFailure::Busy => ApiError::Busy,
            LoginFailure::Refused => ApiError::BadRequest {
                error: "invalid_grant",
                description: "incorrect username or password",
            },
            LoginFailure::Unavailable(e) => ApiError::Unavailable(e),
        }
    }
}

/// Where a request's credentials came from: a failed HTTP Basic login is a 401, a form or
/// JSON one a 400 (SPEC §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Body,
    Basic,
}

/// What a `POST /token` asks for.
enum GrantRequest {
    /// A password grant: the name, the password, where they came from.
    Password(String, Zeroizing<String>, Via),
    /// A refresh grant (SPEC §13): the refresh token.
    Refresh(Zeroizing<String>),
}

/// The grant of a form, JSON or HTTP Basic. Malformed Basic credentials (not base64, not
/// UTF-8, no `:`) are a malformed request, 400 `invalid_request` as SPEC §9 has it: only
/// well-formed credentials that fail are the 401 (RFC 7617 challenges credentials, not syntax).
/// A refresh grant without a `refresh_token` is `invalid_request` too (RFC 6749 §5.2).
fn grant(headers: &HeaderMap, body: &[u8]) -> Result<GrantRequest, ApiError> {
    let bad = ApiError::invalid_request;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let form: Option<TokenRequest> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else if content_type == "application/json" {
        Some(serde_json::from_slice(body).map_err(|_| bad("the body is not a valid JSON object"))?)
    } else if content_type == "application/x-www-form-urlencoded" || content_type.is_empty() {
        Some(serde_urlencoded::from_bytes(body).map_err(|_| bad("the form is malformed"))?)
    } else {
        return Err(bad("send a form, JSON or HTTP Basic credentials"));
    };
    match form.as_ref().and_then(|f| f.grant_type.as_deref()) {
        None | Some("" | "password") => {}
        Some("refresh_token") => {
            let token = form
                .and_then(|f| f.refresh_token)
                .map(Zeroizing::new)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| bad("a refresh_token is required"))?;
            return Ok(GrantRequest::Refresh(token));
        }
        Some(_) => {
            return Err(ApiError::BadRequest {
                error: "unsupported_grant_type",
                description: "only the password and refresh_token grants are supported",
            });
        }
    }
    if let Some(TokenRequest {
        username: Some(u),
        password: Some(p),
        ..
    }) = form
    {
        return Ok(GrantRequest::Password(u, Zeroizing::new(p), Via::Body));
    }
    // HTTP Basic, as the classic service takes it.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .map(|(_, b)| b.trim());
    let Some(b64) = basic else {
        return Err(bad("username and password are required"));
    };
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("the Basic credentials are not valid base64"))?,
    );
    let text = std::str::from_utf8(&raw).map_err(|_| bad("the Basic credentials are not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("the Basic credentials have no ':'"))?;
    Ok(GrantRequest::Password(
        u.to_string(),
        Zeroizing::new(p.to_string()),
        Via::Basic,
    ))
}

#[utoipa::path(post, path = "/token", tag = "api",
    request_body(content = TokenRequest, description = "OAuth 2.0 password grant as a form (`application/x-www-form-urlencoded`) or JSON; HTTP Basic credentials are accepted too", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "invalid_grant (form or JSON credentials), invalid_request or unsupported_grant_type", body = ErrorBody),
        (status = 401, description = "invalid_grant for HTTP Basic credentials, with `WWW-Authenticate: Basic realm=\"jwtauth\"`", body = ErrorBody),
        (status = 429, description = "Too many failed logins", body = ErrorBody),
        (status = 503, description = "Busy or unavailable", body = ErrorBody),
    ))]
pub(super) async fn token(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TokenResponse>, ApiError> {
    let (name, password, via) = match grant(&headers, &body)? {
        GrantRequest::Password(name, password, via) => (name, password, via),
        GrantRequest::Refresh(refresh_token) => {
            // No password check: on the blocking pool (a durable write), never queued
            // behind hashing (SPEC §13).
            let r = calls::refresh(&app, refresh_token, client).await?;
            return Ok(Json(TokenResponse {
                access_token: r.token,
                token_type: "bearer",
                expires_in: r.expires_in,
                refresh_token: r.refresh_token,
                device: None,
            }));
        }
    };
    let device = throttle::device_value(app.opts().cookie_secure, &headers, &body);
    let agent = user_agent(&headers);
    let signed = match sign_in(&app, "/token", &name, password, client, agent, device).await {
        Ok(signed) => signed,
        Err(LoginFailure::Refused) if via == Via::Basic => return Err(ApiError::BasicRefused),
        Err(f) => return Err(f.into()),
    };
    Ok(Json(TokenResponse {
        access_token: signed.token,
        token_type: "bearer",
        expires_in: signed.expires_in,
        refresh_token: signed.refresh_token,
        device: Some(signed.device),
    }))
}

/// RFC 7009 / RFC 7662 form: the token in question.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// The token (not empty or blank).
    #[schema(min_length = 1, pattern = "\\S")]
    token: String,
    /// `access_token` (others are accepted and ignored).
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// The token of an RFC 7009 / 7662 form.
fn token_form(body: &[u8]) -> Result<String, ApiError> {
    serde_urlencoded::from_bytes::<TokenForm>(body)
        .ok()
        .map(|f| f.token.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::invalid_request("a token form field is required"))
}

#[utoipa::path(post, path = "/revoke", tag = "api",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2). An access token or a refresh token (SPEC §13): either ends its session, every token of it and its refresh token; an expired access token is accepted"),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn revoke(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = Zeroizing::new(token_form(&body)?);
    // RFC 7009 §2.1: the token is either kind, whatever the hint says. A JWT has dots; a
    // refresh token (base64url) has none.
    let out = if token.contains('.') {
        calls::logout(&app, token.to_string(), "/revoke", client)
            .await
            .map(drop)
    } else {
        calls::end_refresh(&app, token, "/revoke", client).await
    };
    match out {
        // A token that does not pass (forged, of another server, already revoked) or a
        // refresh token that is not one of this store has nothing to revoke.
        Ok(()) | Err(Error::Token(_) | Error::Grant(_)) => Ok(StatusCode::OK),
        Err(e) => Err(ApiError::Unavailable(e)),
    }
}

#[utoipa::path(post, path = "/introspect", tag = "api", security(("bearer" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 answer: `{\"active\": false}` or the token's claims with `active: true`", body = Object),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No caller token, or one that does not pass", body = ErrorBody),
        (status = 403, description = "insufficient_scope: the caller's subject is not in `introspection_subjects`", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn introspect(
    State(app): State<Arc<App>>,
    Bearer(caller): Bearer,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = calls::verify(&app, Checking::Caller, caller).await?;
    if !caller
        .sub
        .as_ref()
        .is_some_and(|s| app.opts().introspection_subjects.contains(s))
    {
        // A valid caller that is not listed: RFC 6750 §3.1's 403, not a 401 (SPEC §15).
        return Err(ApiError::InsufficientScope(
            "this token's subject may not introspect",
        ));
    }
    let token = token_form(&body)?;
    let (checked, claims) = off_worker(&app, move |app| {
        let mut claims = Value::Null;
        let checked = check(app, Checking::AnyAudience, &token, Some(&mut claims));
        Ok::<_, Error>((checked, claims))
    })
    .await?;
    match checked {
        Ok(v) => {
            let mut out = Map::new();
            out.insert("active".into(), true.into());
            for k in ["sub", "exp", "iat", "jti", "iss", "aud"] {
                if let Some(x) = claims.get(k) {
                    out.insert(k.into(), x.clone());
                }
            }
            out.insert("token_type".into(), "Bearer".into());
            if let Some(sub) = v.sub {
                out.insert("username".into(), sub.into());
            }
            Ok(Json(Value::Object(out)))
        }
        Err(Error::Token(_)) => Ok(Json(json!({"active": false}))),
        Err(e) => Err(ApiError::Unavailable(e)),
    }
}
