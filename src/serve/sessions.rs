//! The caller's sessions over the JSON API (SPEC §13): `GET /sessions` lists the bearer
//! token's user's live sessions (the token's own marked `current`), `DELETE /sessions/{sid}`
//! ends one of them. Another user's session is answered as an unknown one: 404 either way.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::App;
use super::calls::{self, Checking, Ending, off_worker};
use super::error::{ApiError, ErrorBody};
use super::extract::{Bearer, ClientAddr};
use crate::authority::Listed;
use crate::sessions;

/// The caller's live sessions, newest first.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionInfo>,
}

/// One live session (times in unix seconds).
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    /// The session's id.
    sid: String,
    /// Its user.
    sub: String,
    /// When it began (the sign-in).
    created_at: i64,
    /// When it was last used (a sign-in, a refresh, a check by the server).
    last_used_at: i64,
    /// When it ends if not used again: the earlier of `session_max_age` from the sign-in and
    /// `session_idle` from the last use.
    expires_at: i64,
    /// Where it was begun.
    client: SessionClient,
    /// How the user authenticated (RFC 8176): `["pwd"]`, `["pwd","otp"]`.
    amr: Vec<String>,
    /// Whether it is the session of the token this request presented.
    current: bool,
}

/// Where a session was begun: `"cli"` (`jwtauth login`) or an HTTP client.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SessionClient {
    /// `"cli"`.
    Cli(Cli),
    /// `POST /token` or `POST /login`: the client's address (after trusted proxies) and its
    /// `User-Agent` (at most 256 characters; `null` when it sent none).
    Http {
        address: String,
        user_agent: Option<String>,
    },
}

/// The command line, as a session's `client`.
#[derive(Serialize, ToSchema)]
pub enum Cli {
    /// `jwtauth login`.
    #[serde(rename = "cli")]
    Cli,
}

impl SessionInfo {
    fn new(l: Listed, current: Option<&str>) -> Self {
        let s = l.session;
        SessionInfo {
            current: current == Some(s.sid.as_str()),
            sid: s.sid,
            sub: s.sub,
            created_at: s.created_at,
            last_used_at: l.last_used_at,
            expires_at: l.expires_at,
            client: match s.client {
                sessions::Client::Cli => SessionClient::Cli(Cli::Cli),
                sessions::Client::Http {
                    address,
                    user_agent,
                } => SessionClient::Http {
                    address,
                    user_agent,
                },
            },
            amr: s.amr,
        }
    }
}

#[utoipa::path(get, path = "/sessions", tag = "api", security(("bearer" = [])),
    responses(
        (status = 200, description = "The bearer token's user's live sessions, newest first; the token's own has `current: true`", body = SessionList),
        (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorBody),
        (status = 503, description = "Unavailable", body = ErrorBody),
    ))]
pub(super) async fn list(
    State(app): State<Arc<App>>,
    Bearer(token): Bearer,
) -> Result<Json<SessionList>, ApiError> {
    let v = calls::verify(&app, Checking::Access, token).await?;
    let Some(sub) = v.sub else {
        return Ok(Json(SessionList {
            sessions: Vec::new(),
        }));
    };
    let listed = off_worker(&app, move |app| app.authority()?.sessions(Some(&sub))).await?;
    let current = v.sid.as_deref();
    Ok(Json(SessionList {
        sessions: listed
            .into_iter()
            .map(|l| SessionInfo::new(l, current))
            .collect(),
    }))
}

/// A session ended.
#[derive(Serialize, ToSchema)]
pub struct SessionEnded {
    /// `Session ended`.
    message: &'static str,
    /// The session's id.
    sid: String,
}

#[utoipa::path(delete, path = "/sessions/{sid}", tag = "api", security(("bearer" = [])),
    params(("sid" = String, Path, description = "The session's id (`GET /sessions`)")),
    responses(
        (status = 200, description = "The session is ended: every token of it is refused from now on, its refresh token too", body = SessionEnded),
        (status = 401, description = "Missing, invalid or revoked token (an expired one is accepted)", body = ErrorBody),
        (status = 404, description = "Not a live session of the token's user (whether or not it exists)", body = ErrorBody),
        (status = 503, description = "Unavailable: nothing was ended", body = ErrorBody),
    ))]
pub(super) async fn end(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    Bearer(token): Bearer,
    Path(sid): Path<String>,
) -> Result<Json<SessionEnded>, ApiError> {
    let v = match off_worker(&app, move |app| calls::ending(app, &token)).await? {
        Ending::Live(v) => v,
        Ending::Ended => return Err(ApiError::InvalidToken("the token has been revoked")),
    };
    let Some(sub) = v.sub else {
        return Err(ApiError::NotFound("no such session"));
    };
    calls::end_session(&app, sid.clone(), sub, "/sessions", client).await?;
    Ok(Json(SessionEnded {
        message: "Session ended",
        sid,
    }))
}
