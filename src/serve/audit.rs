//! The audit log (SPEC §15): the security events of a running service, as `tracing` events
//! with the target `jwtauth::audit`, written like the access log (text, or one JSON object per
//! line with the fields at the top level). Every event has a stable `event` field:
//!
//! | `event` | level | message | fields |
//! |---|---|---|---|
//! | `login` | INFO | sign-in succeeded | `client`, `route`, `sid` (the session it began), `user` |
//! | `login_failed` | WARN | sign-in failed | `client`, `reason` (`bad_credentials`, `throttled`, `busy`, `unavailable`), `retry_after` (seconds, `throttled` only: a ban), `route`, `user` |
//! | `token_ended` | INFO | token ended | `client`, `route` (`/logout`, `/revoke`), `jti`, `sub` |
//! | `session_ended` | INFO | session ended | `client`, `route` (`/logout`, `/revoke`, `/sessions`, `/token` for a reuse), `sid`, `sub` |
//! | `refresh_reused` | WARN | spent refresh token presented again; session ended | `client`, `sid`, `user` |
//! | `refreshed` | DEBUG | refresh token spent | `client`, `sid`, `user` |
//! | `key_changed` | INFO | key change picked up | `kid`, `retired` |
//! | `config_reloaded` | INFO | configuration reloaded | — |
//!
//! `client` is the client's address as the throttle counts it (`ClientAddr`: the peer, or the
//! nearest untrusted hop of `X-Forwarded-For` behind trusted proxies). `reason`
//! `bad_credentials` is one class for an unknown user, a wrong password and a disabled user:
//! the log does not tell them apart either. Never a password, code, token, hash or cookie.
//!
//! A refresh token is never logged, nor any part of it: `sid` is the session's id, which
//! `GET /sessions` shows its owner.
//!
//! The text written by the request (`user`, `sub`, `jti`, `sid`) comes last, quoted and escaped as
//! `str`'s `Debug` does it (quotes, backslashes, control and invisible characters), and cut at
//! [`MAX_SHOWN`] characters: a crafted name cannot end the line, forge another field, or match
//! the fail2ban filter (`examples/fail2ban/jwtauth.conf`), which reads `client` before it.

use std::net::IpAddr;
use std::time::Duration;

/// The most characters of a requested name (or `sub`, `jti`) an event shows; longer ones are
/// cut and end in `…`. No username is this long (`users::MAX_NAME_CHARS`).
pub(super) const MAX_SHOWN: usize = 256;

/// `s` as an event shows it: at most [`MAX_SHOWN`] characters (escaped by the log's writer).
fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(MAX_SHOWN) {
        None => s.into(),
        Some((at, _)) => format!("{}…", &s[..at]).into(),
    }
}

/// `user` signed in from `client` on `route` (`/token`, `/login`), beginning session `sid`.
pub(super) fn signed_in(route: &'static str, client: IpAddr, sid: &str, user: &str) {
    tracing::info!(
        target: "jwtauth::audit",
        event = "login",
        client = %client,
        route,
        sid = &*shown(sid),
        user = &*shown(user),
        "sign-in succeeded",
    );
}

/// A sign-in as `user` from `client` on `route` failed for `reason` (a class:
/// `bad_credentials`, `throttled`, `busy`, `unavailable`); a throttled one (a ban) says how
/// long until the next attempt is checked (`wait`).
pub(super) fn sign_in_failed(
    route: &'static str,
    client: IpAddr,
    user: &str,
    reason: &'static str,
    wait: Option<Duration>,
) {
    let user = &*shown(user);
    match wait {
        Some(wait) => tracing::warn!(
            target: "jwtauth::audit",
            event = "login_failed",
            client = %client,
            reason,
            retry_after = retry_after(wait),
            route,
            user,
            "sign-in failed",
        ),
        None => tracing::warn!(
            target: "jwtauth::audit",
            event = "login_failed",
            client = %client,
            reason,
            route,
            user,
            "sign-in failed",
        ),
    }
}

/// The seconds of a wait as `Retry-After` gives them (at least 1).
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs().max(1)
}

/// A token (`jti`, of `sub`) was ended on `route` by a request from `client`.
pub(super) fn token_ended(route: &'static str, client: IpAddr, jti: &str, sub: Option<&str>) {
    tracing::info!(
        target: "jwtauth::audit",
        event = "token_ended",
        client = %client,
        route,
        jti = &*shown(jti),
        sub = &*shown(sub.unwrap_or("")),
        "token ended",
    );
}

/// A session (`sid`, of `sub`) was ended on `route` by a request from `client`: a logout,
/// `DELETE /sessions/{sid}`, or a reuse of its refresh token (`/token`).
pub(super) fn session_ended(route: &'static str, client: IpAddr, sid: &str, sub: &str) {
    tracing::info!(
        target: "jwtauth::audit",
        event = "session_ended",
        client = %client,
        route,
        sid = &*shown(sid),
        sub = &*shown(sub),
        "session ended",
    );
}

/// A spent refresh token of session `sid` (of `user`) was presented again from `client`:
/// taken as theft (RFC 9700 §4.14.2), the session was ended.
pub(super) fn refresh_reused(client: IpAddr, sid: &str, user: &str) {
    tracing::warn!(
        target: "jwtauth::audit",
        event = "refresh_reused",
        client = %client,
        sid = &*shown(sid),
        user = &*shown(user),
        "spent refresh token presented again; session ended",
    );
}

/// A refresh token of session `sid` (of `user`) was spent by `client` for a new pair.
pub(super) fn refreshed(client: IpAddr, sid: &str, user: &str) {
    tracing::debug!(
        target: "jwtauth::audit",
        event = "refreshed",
        client = %client,
        sid = &*shown(sid),
        user = &*shown(user),
        "refresh token spent",
    );
}

/// The key files changed and were loaded: `kid` signs now, with `retired` retired keys.
pub(super) fn key_changed(kid: &str, retired: usize) {
    tracing::info!(
        target: "jwtauth::audit",
        event = "key_changed",
        kid = %kid,
        retired,
        "key change picked up",
    );
}

/// The configuration was loaded again (`SIGHUP`).
pub(super) fn config_reloaded() {
    tracing::info!(
        target: "jwtauth::audit",
        event = "config_reloaded",
        "configuration reloaded",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut() {
        assert_eq!(shown("alice"), "alice");
        let long = "é".repeat(MAX_SHOWN + 5);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown(&"x".repeat(MAX_SHOWN)), "x".repeat(MAX_SHOWN));
    }
}
