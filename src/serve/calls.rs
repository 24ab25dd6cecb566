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

/// Ends every live session of `sub` but `keep` ("sign out everywhere else", the account
/// page), durably before answering, on a blocking thread; each one ended is audited with the
/// `route` and `client`. Returns the sids ended.
///
/// # Errors
/// A store or key error.
pub(super) async fn end_other_sessions(
    app: &Arc<App>,
    sub: String,
    keep: Option<String>,
    route: &'static str,
    client: IpAddr,
) -> Result<Vec<String>, Error> {
    let who = sub.clone();
    let ended = blocking(app, move |app| {
        app.authority()?.end_user_sessions(&who, keep.as_deref())
    })
    .await?;
    for sid in &ended {
        audit::session_ended(route, client, sid, &sub);
    }
    Ok(ended)
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

/// Ends a verified token (its `jti` revoked durably, before answering), on a blocking
/// thread: a write, to a file or to Redis. The end is audited with the `route` and the
/// `client` that asked for it.
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
    let (jti, _) = blocking(app, move |app| app.authority()?.end(&v)).await?;
    audit::token_ended(route, client, &jti, sub.as_deref());
    Ok(())
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
