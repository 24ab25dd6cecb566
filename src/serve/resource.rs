//! What a bearer token opens (SPEC §9): the classic `GET /protected`, `GET /userinfo` (the
//! token's user) and `DELETE /logout` (the token's session ended, SPEC §13).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::App;
use super::calls::{self, Checking, LoggedOut, off_worker};
use super::error::{ApiError, ErrorBody};
use super::extract::{Bearer, ClientAddr};

/// The classic protected route's answer.
#[derive(Serialize, ToSchema)]
pub struct Protected {
    user: String,
    message: &'static str,
}

#[utoipa::path(get, path = "/protected", tag = "api", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid", body = Protected),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn protected(
    State(app): State<Arc<App>>,
    Bearer(token): Bearer,
) -> Result<Json<Protected>, ApiError> {
    let v = calls::verify(&app, Checking::Access, token).await?;
    Ok(Json(Protected {
        user: v.sub.unwrap_or_default(),
        message: "This is a protected route!",
    }))
}

/// The token's user (never the hash).
#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    sub: String,
    username: String,
    full_name: Option<String>,
    email: Option<String>,
    groups: Vec<String>,
}

#[utoipa::path(get, path = "/userinfo", tag = "api", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's user", body = UserInfo),
        (status = 401, description = "Missing, invalid, expired or revoked token, or the user is gone", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn userinfo(
    State(app): State<Arc<App>>,
    Bearer(token): Bearer,
) -> Result<Json<UserInfo>, ApiError> {
    let v = calls::verify(&app, Checking::Access, token).await?;
    let sub = v.sub.unwrap_or_default();
    let who = sub.clone();
    match off_worker(&app, move |app| app.users.get(&who)).await {
        Ok(Some(u)) if !u.disabled => Ok(Json(UserInfo {
            sub,
            username: u.username,
            full_name: u.full_name,
            email: u.email,
            groups: u.groups,
        })),
        Ok(_) => Err(ApiError::InvalidToken(
            "the token's user does not exist or is disabled",
        )),
        Err(e) => Err(ApiError::Unavailable(e)),
    }
}

/// A plain message.
#[derive(Serialize, ToSchema)]
pub struct Message {
    message: &'static str,
}

#[utoipa::path(delete, path = "/logout", tag = "api", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's session is ended (every token of it, and its refresh token), or had ended already (the message says so); an expired token is accepted", body = Message),
        (status = 401, description = "Missing, invalid or revoked token", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn logout(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    Bearer(token): Bearer,
) -> Result<Json<Message>, ApiError> {
    let message = match calls::logout(&app, token, "/logout", client).await? {
        LoggedOut::Ended => "Successfully logged out",
        LoggedOut::AlreadyEnded => "The session had already ended",
    };
    Ok(Json(Message { message }))
}
