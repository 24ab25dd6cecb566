//! The JSON API's errors: [`ApiError`], what a handler returns with `?`, rendered as the RFC
//! 6749 §5.2 body ([`ErrorBody`]) with the status and headers of its kind. The core's errors
//! come in through `From`: a token that does not pass is a 401 with a fixed description
//! (nothing from the token is echoed), everything else a 503 whose detail goes to the log,
//! never to the client.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Grant, VerifyError};

/// An API error body: RFC 6749 §5.2's `error` and `error_description`, and FastAPI's
/// `detail` (the same description) for clients written against the classic service (SPEC §15).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiError)]
pub struct ErrorBody {
    /// The error code (`invalid_request`, `invalid_grant`, `invalid_token`, …).
    error: &'static str,
    /// A human-readable description.
    error_description: &'static str,
    /// The description again, where FastAPI's clients read it (`{"detail": …}`).
    detail: &'static str,
}

/// Why a JSON request failed; each kind is one status with its headers.
#[derive(Debug)]
pub(super) enum ApiError {
    /// No bearer token: 401 with the bare `Bearer` challenge (RFC 6750 §3.1).
    MissingToken,
    /// A token that does not pass, or may not do this: 401 `invalid_token` with this fixed
    /// description in the body and the challenge.
    InvalidToken(&'static str),
    /// 400 with an error code (`invalid_request`, `invalid_grant`, …) and a description.
    BadRequest {
        error: &'static str,
        description: &'static str,
    },
    /// Failed HTTP Basic credentials on `POST /token` (unknown user, wrong password, disabled
    /// user): 401 `invalid_grant` with `WWW-Authenticate: Basic realm="jwtauth"` (RFC 7617, as
    /// the classic service answers; SPEC §15). Form and JSON credentials get the 400.
    BasicRefused,
    /// A valid token that may not do this (its user is not in the group asked for, or is not
    /// an introspection caller): 403 `insufficient_scope` with this description (RFC 6750
    /// §3.1).
    InsufficientScope(&'static str),
    /// A request refused whatever its token (a forward-auth parameter that is a near miss):
    /// 403 `invalid_request` with this description.
    Forbidden(&'static str),
    /// Too many failed logins: 429 `slow_down`, `Retry-After` the wait in seconds (at least 1).
    Throttled(Duration),
    /// The hashing queue is full: 503, `Retry-After: 1`.
    Busy,
    /// A store, key or configuration error (exit 8 on the command line): 503, `Retry-After:
    /// 1`; the detail is logged, not sent.
    Unavailable(Error),
    /// 404 with a description.
    NotFound(&'static str),
}

impl ApiError {
    /// 400 `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        ApiError::BadRequest {
            error: "invalid_request",
            description,
        }
    }

    /// A 401: no token or one that does not pass (forward-auth sends browsers to the login
    /// page instead).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::MissingToken | ApiError::InvalidToken(_))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Token(e) => ApiError::InvalidToken(token_failure(&e)),
            // RFC 6749 §5.2: an unknown, expired, ended, spent or reused refresh token.
            Error::Grant(g) => ApiError::BadRequest {
                error: "invalid_grant",
                description: grant_failure(g),
            },
            // Not a live session of the caller, whether or not it exists (SPEC §13).
            Error::SessionNotFound(_) => ApiError::NotFound("no such session"),
            e => ApiError::Unavailable(e),
        }
    }
}

/// A fixed description per kind of failure: nothing from the token is echoed.
pub(super) fn token_failure(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Expired { .. } => "the token has expired",
        VerifyError::NotYetValid(_) | VerifyError::IssuedInFuture(_) => {
            "the token is not valid yet"
        }
        VerifyError::Revoked(_) => "the token has been revoked",
        VerifyError::Invalid(_) => "the token is invalid",
    }
}

/// A fixed description per kind of refused refresh token (SPEC §13).
pub(super) fn grant_failure(g: Grant) -> &'static str {
    match g {
        Grant::Expired => "the session has expired",
        Grant::Ended => "the session has ended, or this refresh token was already used",
        Grant::Unknown => "not a valid refresh token",
    }
}

/// Logs a store, key or configuration error that is answered with a 503 (its detail never
/// reaches the client).
pub(super) fn log_unavailable(e: &Error) {
    tracing::error!(target: "jwtauth::serve", error = %e.to_string().escape_debug());
}

/// The JSON error body with `status`: the one place every JSON error (the handlers' and the
/// framework's, `ops::json_error`) is made.
pub(super) fn body(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    (
        status,
        axum::Json(ErrorBody {
            error,
            error_description: description,
            detail: description,
        }),
    )
        .into_response()
}

/// `Retry-After: secs`.
fn retry_after(mut res: Response, secs: u64) -> Response {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::MissingToken => {
                let mut res = body(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request",
                    "a bearer token is required",
                );
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res
            }
            ApiError::InvalidToken(why) => {
                let mut res = body(StatusCode::UNAUTHORIZED, "invalid_token", why);
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{why}\"");
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                res
            }
            ApiError::BasicRefused => {
                let mut res = body(
                    StatusCode::UNAUTHORIZED,
                    "invalid_grant",
                    "incorrect username or password",
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"jwtauth\""),
                );
                res
            }
            ApiError::BadRequest { error, description } => {
                body(StatusCode::BAD_REQUEST, error, description)
            }
            ApiError::InsufficientScope(why) => {
                let mut res = body(StatusCode::FORBIDDEN, "insufficient_scope", why);
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                );
                res
            }
            ApiError::Forbidden(description) => {
                body(StatusCode::FORBIDDEN, "invalid_request", description)
            }
            ApiError::Throttled(wait) => retry_after(
                body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    "too many failed logins; try again later",
                ),
                wait.as_secs().max(1),
            ),
            ApiError::Busy => retry_after(
                body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "too many logins at once; try again shortly",
                ),
                1,
            ),
            ApiError::Unavailable(e) => {
                log_unavailable(&e);
                retry_after(
                    body(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "temporarily_unavailable",
                        "the service cannot reach its data; try again shortly",
                    ),
                    1,
                )
            }
            ApiError::NotFound(description) => {
                body(StatusCode::NOT_FOUND, "not_found", description)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(res: &Response, name: header::HeaderName) -> &str {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[test]
    fn each_kind_has_its_status_and_headers() {
        let res = ApiError::MissingToken.into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&res, header::WWW_AUTHENTICATE), "Bearer");
        let res = ApiError::from(Error::Token(VerifyError::Invalid(
            crate::error::Reason::Empty,
        )))
        .into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&res, header::WWW_AUTHENTICATE),
            "Bearer error=\"invalid_token\", error_description=\"the token is invalid\""
        );
        let res = ApiError::Throttled(Duration::from_millis(10)).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&res, header::RETRY_AFTER), "1");
        let res = ApiError::Throttled(Duration::from_secs(300)).into_response();
        assert_eq!(header(&res, header::RETRY_AFTER), "300");
        let res = ApiError::from(Error::LoginRefused).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&res, header::RETRY_AFTER), "1");
        let res = ApiError::Busy.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&res, header::RETRY_AFTER), "1");
        let res = ApiError::BasicRefused.into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            header(&res, header::WWW_AUTHENTICATE),
            "Basic realm=\"jwtauth\""
        );
        let res = ApiError::InsufficientScope("x").into_response();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            ApiError::NotFound("x").into_response().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::invalid_request("x").into_response().status(),
            StatusCode::BAD_REQUEST
        );
        for g in [Grant::Expired, Grant::Ended, Grant::Unknown] {
            let res = ApiError::from(Error::Grant(g)).into_response();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            assert_eq!(header(&res, header::WWW_AUTHENTICATE), "");
        }
        let res = ApiError::from(Error::SessionNotFound("s".into())).into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
