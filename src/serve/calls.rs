//! How a handler reaches the core: [`off_worker`], the one way to anything that may ask a store
//! (users, revocations, the throttle), and the calls made through it — checking a token
//! ([`check`]) and ending one ([`end`]).
//!
//! `serve`'s async workers are single-threaded runtimes: a Redis round trip on one (or
//! `redis_timeout` when Redis hangs) would stall every other connection of that worker. So
//! with a remote store the call runs on tokio's blocking pool, where many requests wait for
//! Redis at once, each on a pooled connection; local stores answer in place, as fast as
//! before. A durable write (a revocation) always runs on the blocking pool: a file store's
//! write waits for the disk.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use zeroize::Zeroizing;

use super::{App, audit};
use crate::error::{Error, VerifyError};
use crate::verifier::Verified;

/// Runs `f` with the app: in place when every store is local, else on a blocking thread. A
/// blocking thread that could not run gives `E::from` an error (a 503).
pub(super) async fn off_worker<T, E>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    if !app.remote {
        return f(app);
    }
    blocking(app, f).await
}

/// Runs `f` on a blocking thread: [`off_worker`] for a remote store, and every durable write
/// (a file store's write waits for the disk).
async fn blocking<T, E>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    let worker = Arc::clone(app);
    match tokio::task::spawn_blocking(move || f(&worker)).await {
        Ok(out) => out,
        Err(e) => Err(E::from(Error::internal("serve", e))),
    }
}

/// Which verifier of the current key set checks a token.
#[derive(Debug, Clone, Copy)]
pub(super) enum Checking {
    /// The configured audience and issuer (access checks).
    Access,
    /// Any audience, the configured issuer (`/introspect`'s caller).
    Caller,
    /// Any audience and issuer (revoking and the token introspected: revoking is not
    /// granting).
    AnyAudience,
}

/// A token presented to end its session (or, without one, itself), as [`ending`] finds it.
pub(super) enum Ending {
    /// It passes (an expired one included): the token to end.
    Live(Verified),
    /// It is a token of this server with a `sid`, refused as revoked: its session has ended
    /// already (or was never known here).
    Ended,
}

/// Checks `token` for a path that ends a session (SPEC §13 "Details": `DELETE` and `POST
/// /logout`, `/revoke`, `DELETE /sessions/{sid}`), as revoking does (any audience, any
/// issuer), and a token whose only fault is that it expired passes: it is checked as it was
/// just before its `exp`, then against the revocations and its session now. A store call:
/// run it through [`off_worker`].
///
/// # Errors
/// A token error when it does not pass otherwise; a store or key error.
pub(super) fn ending(app: &App, token: &str) -> Result<Ending, Error> {
    let keys = app.keys();
    app.revocations.refresh()?;
    let now = app.clock.now();
    keys.any.with(|verifier, scratch| {
        let bytes = token.as_bytes();
        let v = match verifier.check(bytes, now, scratch, None) {
            Err(Error::Token(VerifyError::Expired { exp, .. })) => {
                verifier.check(bytes, exp.saturating_sub(1), scratch, None)?
            }
            other => other?,
        };
        match app.revocations.check(&v.query(now))? {
            None => Ok(Ending::Live(v)),
            Some(_) if v.sid.is_some() => Ok(Ending::Ended),
            Some(why) => Err(VerifyError::Revoked(why).into()),
        }
    })
}

/// Verifies `token` now, against the current revocations (a store call: run it through
/// [`off_worker`]). With `claims_out`, the payload is returned too (for introspection and the
/// `groups` of forward-auth).
///
/// # Errors
/// A token error when it does not pass; a store or key error.
pub(super) fn check(
    app: &App,
    with: Checking,
    token: &str,
    claims_out: Option<&mut Value>,
) -> Result<Verified, Error> {
    let started = Instant::now();
    // The keys as the key files are now (`init --rotate`, `keys retire`: SPEC §15).
    let keys = app.keys();
    let checker = match with {
        Checking::Access => &keys.access,
        Checking::Caller => &keys.caller,
        Checking::AnyAudience => &keys.any,
    };
    app.revocations.refresh()?;
    let out = checker.with(|verifier, scratch| {
        verifier.verify(
            token.as_bytes(),
            app.clock.now(),
            scratch,
            Some(app.revocations.as_ref()),
            claims_out,
        )
    });
    app.metrics.verified(started.elapsed());
    out
}

/// The checked session cookies: the valid ones with their claims, and the first refusal.
pub(super) type Sessions = (Vec<(Verified, Value)>, Option<VerifyError>);

/// Every session cookie of a request checked (SPEC §15, cookie tossing): the valid ones, each
/// with its claims, in order, and the first refusal when one was refused (a store call: run
/// it through [`off_worker`]).
///
/// # Errors
/// A store or key error (never a token error: those are the refusal).
pub(super) fn sessions(app: &App, with: Checking, cookies: &[String]) -> Result<Sessions, Error> {
    let mut valid = Vec::new();
    let mut refused = None;
    for token in cookies {
        let mut claims = Value::Null;
        match check(app, with, token, Some(&mut claims)) {
            Ok(v) => valid.push((v, claims)),
            Err(Error::Token(e)) => {
                refused.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((valid, refused))
}

/// The one session of a request's cookies (SPEC §15): any valid one counts, so junk beside it
/// signs no one out; valid ones of different users count as none (`Ok(None)`, as when there
/// is no cookie); with none valid, the first refusal.
///
/// # Errors
/// A token error when no cookie is valid; a store or key error.
pub(super) fn session(
    app: &App,
    with: Checking,
    cookies: &[String],
) -> Result<Option<(Verified, Value)>, Error> {
    let (mut valid, refused) = sessions(app, with, cookies)?;
    if valid.is_empty() {
        return match refused {
            Some(e) => Err(Error::Token(e)),
            None => Ok(None),
        };
    }
    let first = valid.swap_remove(0);
    if valid.iter().any(|(v, _)| v.sub != first.0.sub) {
        return Ok(None);
    }
    Ok(Some(first))
}

/// [`check`] of `token`, off the async workers when a store is remote.
///
/// # Errors
/// As [`check`].
pub(super) async fn verify(
    app: &Arc<App>,
    with: Checking,
    token: String,
) -> Result<Verified, Error> {
    off_worker(app, move |app| check(app, with, &token, None)).await
}

/// Ends a verified token and its session (SPEC §13: a logout ends the sign-in): the session
/// ended with every token of it and its refresh token, and the token's `jti` revoked, durably
/// before answering, on a blocking thread (a write, to a file or to Redis). Audited with the
/// `route` and the `client` that asked for it: `token_ended`, and `session_ended` when a
/// session was live.
///
/// # Errors
/// A token error when it cannot be ended; a store or key error.
pub(super) async fn end(
    app: &Arc<App>,
    v: Verified,
    route: &'static str,
    client: IpAddr,
) -> Result<(), Error> {
    let sub = v.sub.clone();
    let (jti, ended) = blocking(app, move |app| {
        let authority = app.authority()?;
        let ended = match v.sid.as_deref() {
            Some(sid) => match authority.end_sessions(&[sid], None) {
                Ok(ended) => ended.into_iter().next(),
                // Ended meanwhile.
                Err(Error::SessionNotFound(_)) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let (jti, _) = authority.end(&v)?;
        Ok::<_, Error>((jti, ended))
    })
    .await?;
    let sub = sub.as_deref().unwrap_or("");
    audit::token_ended(route, client, &jti, Some(sub));
    if let Some(sid) = ended {
        audit::session_ended(route, client, &sid, sub);
    }
    Ok(())
}

/// What a logout did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LoggedOut {
    /// The token and its session were ended.
    Ended,
    /// Its session had ended already: nothing to do, and a success (SPEC §13 "Details").
    AlreadyEnded,
}

/// Logs `token` out on `route` (`DELETE`/`POST /logout`, `/revoke`): [`ending`]'s check (an
/// expired token passes), then [`end`].
///
/// # Errors
/// A token error when it does not pass; a store or key error.
pub(super) async fn logout(
    app: &Arc<App>,
    token: String,
    route: &'static str,
    client: IpAddr,
) -> Result<LoggedOut, Error> {
    match off_worker(app, move |app| ending(app, &token)).await? {
        Ending::Live(v) => {
            end(app, v, route, client).await?;
            Ok(LoggedOut::Ended)
        }
        Ending::Ended => Ok(LoggedOut::AlreadyEnded),
    }
}

/// A refresh grant's new pair.
pub(super) struct Refreshed {
    /// The new access token.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The new refresh token.
    pub refresh_token: Option<Zeroizing<String>>,
}

/// Spends `refresh_token` for a new pair (SPEC §13), on a blocking thread: a durable write,
/// and no password check, so never on the hashing pool. A spent token presented again ends
/// its session: audited as `refresh_reused`.
///
/// # Errors
/// `Error::Grant` when it cannot be spent; a store or key error.
pub(super) async fn refresh(
    app: &Arc<App>,
    refresh_token: Zeroizing<String>,
    client: IpAddr,
) -> Result<Refreshed, Error> {
    let out = blocking(app, move |app| {
        let issued = app.authority()?.refresh(&refresh_token)?;
        let expires_in = issued.exp - app.clock.now().max(issued.iat);
        Ok::<_, Error>((issued, expires_in))
    })
    .await;
    match out {
        Ok((issued, expires_in)) => {
            audit::refreshed(
                client,
                issued.sid.as_deref().unwrap_or(""),
                issued.user.as_ref().map_or("", |u| u.username.as_str()),
            );
            Ok(Refreshed {
                token: issued.token,
                expires_in,
                refresh_token: issued.refresh_token,
            })
        }
        Err(e) => Err(e),
    }
}

/// Ends the session `sid` of `owner` (`DELETE /sessions/{sid}`), durably before answering,
/// on a blocking thread; audited with the `route` and `client`.
///
/// # Errors
/// `SessionNotFound` when it is not a live session of `owner`; a store or key error.
pub(super) async fn end_session(
    app: &Arc<App>,
    sid: String,
    owner: String,
    route: &'static str,
    client: IpAddr,
) -> Result<(), Error> {
    let (who, which) = (owner.clone(), sid.clone());
    blocking(app, move |app| {
        app.authority()?
            .end_sessions(&[which.as_str()], Some(who.as_str()))
    })
    .await?;
    audit::session_ended(route, client, &sid, &owner);
    Ok(())
}

/// Ends the session `refresh_token` belongs to (`POST /revoke` of a refresh token, RFC 7009),
/// spent or not, durably before answering, on a blocking thread; audited with the `route`
/// and `client`.
///
/// # Errors
/// `Error::Grant` when it is not a refresh token of this store; a store or key error.
pub(super) async fn end_refresh(
    app: &Arc<App>,
    refresh_token: Zeroizing<String>,
    route: &'static str,
    client: IpAddr,
) -> Result<(), Error> {
    let ended = blocking(app, move |app| app.authority()?.end_refresh(&refresh_token)).await?;
    if let Some((sid, sub)) = ended {
        audit::session_ended(route, client, &sid, &sub);
    }
    Ok(())
}
