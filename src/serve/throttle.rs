//! The login throttle as `serve` uses it (SPEC §15): the counters are a
//! [`ThrottleStore`](crate::store::throttle) (memory, or Redis when the revocations are
//! there); this module turns a request into an [`Attempt`] and keeps the device cookies.
//!
//! Device cookie (OWASP "slow down online guessing attacks with device cookies"): after a
//! successful login, the browser gets `__Host-jwtauth_device` (with `cookie_secure`, the
//! default: `Secure`, host-only, `Path=/`) or `jwtauth_device` (with `cookie_secure = false`,
//! where a `__Host-` cookie would be refused), `HttpOnly`, `SameSite=Strict`, for
//! [`DEVICE_LIFETIME`]; `POST /token` answers the same value as `device`, and API clients may
//! send it back as a `device` form/JSON field. Its value is `<nonce>.<time>.<mac>`: a random
//! nonce, the unix time it was made, and an HMAC-SHA256 over the username, nonce and time,
//! keyed from the signing key ([`DeviceKey`], made with each key set: every instance with the
//! key accepts it, across restarts; a new signing key — `init --rotate`, `init --force` —
//! forgets every device at once, even in a running server). It is valid for that user only, stops counting
//! once the user's password changed after it was made, and after `throttle_max_failures`
//! failures of its own (counted per nonce in the store).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use ring::hmac;

use crate::error::Result;
use crate::store::throttle::{Attempt, DEVICE_LIFETIME, ThrottleStore, client_key};

/// The device cookie's name where it can be `Secure` (a `__Host-` cookie must be).
pub const DEVICE_COOKIE_SECURE: &str = "__Host-jwtauth_device";
/// Its name over plain HTTP (`cookie_secure = false`).
pub const DEVICE_COOKIE_PLAIN: &str = "jwtauth_device";

/// The counters. Every method reaches the store (Redis, when the revocations are there): call
/// them through `calls::off_worker`.
pub struct Throttle {
    store: Box<dyn ThrottleStore>,
}

/// A check the throttle let go; hand it back to [`Throttle::end`].
pub struct Check(Attempt);

impl Throttle {
    /// The counters in `store`.
    pub fn new(store: Box<dyn ThrottleStore>) -> Self {
        Throttle { store }
    }

    /// Counts a password check for `name` from `client` at `now`: the check to end, or how long
    /// to wait. `device` is a nonce [`DeviceKey::nonce`] accepted for `name`.
    ///
    /// # Errors
    /// The store is unreachable: the caller fails closed (503), the password is not checked.
    pub fn begin(
        &self,
        name: &str,
        client: IpAddr,
        device: Option<String>,
        now: i64,
    ) -> Result<std::result::Result<Check, Duration>> {
        let a = Attempt {
            name: name.to_string(),
            client: client_key(client),
            device,
            id: getrandom::u64().unwrap_or_default(),
        };
        Ok(match self.store.begin(&a, now)? {
            None => Ok(Check(a)),
            Some(wait) => Err(Duration::from_secs(wait)),
        })
    }

    /// Replaces the limits (`SIGHUP`); counts and bans so far stay.
    pub fn set_rules(&self, rules: crate::store::throttle::ThrottleRules) {
        self.store.set_rules(rules);
    }

    /// Ends a check: `ok` refunds it (right password, or no password check after all).
    pub fn end(&self, check: Check, ok: bool, now: i64) {
        // A failure not counted (the store away) bans nobody; `begin` fails closed meanwhile.
        if let Err(e) = self.store.end(&check.0, ok, now) {
            tracing::warn!(
                target: "jwtauth::serve",
                error = %e.to_string().escape_debug(),
                "could not count a login in the throttle",
            );
        }
    }
}

/// The key of the device values, derived from the signing key's bytes; part of each key set,
/// so it changes when the key does.
pub struct DeviceKey(hmac::Key);

impl DeviceKey {
    /// The key for device values of the signing key whose bytes are `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&derive, b"jwtauth device cookie v1");
        DeviceKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    fn mac(&self, name: &str, nonce: &str, time: i64) -> hmac::Tag {
        hmac::sign(&self.0, &signed(name, nonce, time))
    }

    /// A new device cookie value for `name`, made at `now`.
    pub fn new_device(&self, name: &str, now: i64) -> String {
        let mut bytes = [0u8; 16];
        let _ = getrandom::fill(&mut bytes);
        let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mac = self.mac(name, &nonce, now);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref());
        format!("{nonce}.{now}.{b64}")
    }

    /// The nonce of `value` when it is a device cookie made for `name` after the user's last
    /// password change (`changed_at`; in the same second counts as before), not expired at `now`.
    pub fn nonce(&self, value: &str, name: &str, changed_at: i64, now: i64) -> Option<String> {
        let mut parts = value.split('.');
        let (nonce, time, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || nonce.len() != 32
            || !nonce.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let time: i64 = time.parse().ok()?;
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(mac)
            .ok()?;
        hmac::verify(&self.0, &signed(name, nonce, time), &mac).ok()?;
        (time > changed_at && time <= now && now - time < DEVICE_LIFETIME)
            .then(|| nonce.to_string())
    }
}

fn signed(name: &str, nonce: &str, time: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + nonce.len() + 24);
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    m.extend_from_slice(nonce.as_bytes());
    m.push(0);
    m.extend_from_slice(time.to_string().as_bytes());
    m
}

/// The nonce of the device value `value` when it is valid for `name` now: made with the
/// current key set's [`DeviceKey`], and its user exists and has not changed the password since
/// it was made. Reads the user store: call it through `calls::off_worker`.
pub(super) fn device_of(app: &super::App, name: &str, value: &str) -> Option<String> {
    let now = app.clock.now();
    let keys = app.keys();
    // The MAC first: no store read for a made-up value.
    keys.device.nonce(value, name, i64::MIN, now)?;
    let user = app.users.get(name).ok()??;
    keys.device
        .nonce(value, name, user.password_changed_at, now)
}

/// The device cookie's name for this configuration.
pub fn device_cookie_name(cookie_secure: bool) -> &'static str {
    if cookie_secure {
        DEVICE_COOKIE_SECURE
    } else {
        DEVICE_COOKIE_PLAIN
    }
}

/// The device value a request carries: its device cookie, else a `device` form/JSON field.
pub fn device_value(cookie_secure: bool, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let name = device_cookie_name(cookie_secure);
    if let Some(c) = super::extract::first_cookie(headers, name) {
        return Some(c.to_string());
    }
    #[derive(serde::Deserialize)]
    struct Field {
        device: Option<String>,
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let field: Option<Field> = if json {
        serde_json::from_slice(body).ok()
    } else {
        serde_urlencoded::from_bytes(body).ok()
    };
    field.and_then(|f| f.device).filter(|d| !d.is_empty())
}

/// `Set-Cookie` for a device cookie `value`.
pub fn device_set_cookie(cookie_secure: bool, value: &str) -> Option<HeaderValue> {
    let name = device_cookie_name(cookie_secure);
    let secure = if cookie_secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={DEVICE_LIFETIME}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::throttle::MemoryThrottle;
    use crate::store::throttle::rules::RULES;

    fn t() -> Throttle {
        Throttle::new(Box::new(MemoryThrottle::new(RULES)))
    }

    fn k() -> DeviceKey {
        DeviceKey::derive(b"signing key")
    }

    #[test]
    fn device_cookies_are_for_their_user_and_password() {
        let t = k();
        let v = t.new_device("alice", 1000);
        let nonce = t.nonce(&v, "alice", 900, 1001).expect("valid");
        assert_eq!(nonce.len(), 32);
        assert!(v.starts_with(&nonce));
        // Another user, a later password change, expiry, tampering, another key: none.
        assert!(t.nonce(&v, "bob", 900, 1001).is_none());
        // Made in the second of a password change: it may be older than it; refused.
        assert!(t.nonce(&v, "alice", 1000, 1001).is_none());
        assert!(t.nonce(&v, "alice", 999, 1001).is_some());
        assert!(t.nonce(&v, "alice", 900, 1000 + DEVICE_LIFETIME).is_none());
        let forged = v.replace(".1000.", ".1500.");
        assert!(t.nonce(&forged, "alice", 900, 2000).is_none());
        let other = DeviceKey::derive(b"another key");
        assert!(other.nonce(&v, "alice", 900, 1001).is_none());
        for bad in ["", "a.b.c", "x", &format!("{v}.x")] {
            assert!(t.nonce(bad, "alice", 900, 1001).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_device_exempts_from_the_username_rate_until_passwd() {
        let t = t();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An attacker from many addresses puts alice under the rate and uses it up.
        for n in 0..4 {
            let c = t
                .begin("alice", ip(&format!("10.0.0.{n}")), None, 1000)
                .unwrap()
                .ok()
                .unwrap();
            t.end(c, false, 1000);
        }
        assert!(
            t.begin("alice", ip("10.9.9.9"), None, 1001)
                .unwrap()
                .is_err()
        );
        // The owner's device made at 500 still counts...
        let v = k().new_device("alice", 500);
        let d = k().nonce(&v, "alice", 100, 1001);
        assert!(d.is_some());
        let c = t
            .begin("alice", ip("10.9.9.9"), d, 1001)
            .unwrap()
            .ok()
            .unwrap();
        t.end(c, true, 1001);
        // ...until a passwd after it was made.
        assert!(k().nonce(&v, "alice", 600, 1001).is_none());
    }

    #[test]
    fn device_value_comes_from_the_cookie_or_the_field() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; jwtauth_device=abc; __Host-jwtauth_device=def"),
        );
        assert_eq!(device_value(false, &h, b"").as_deref(), Some("abc"));
        assert_eq!(device_value(true, &h, b"").as_deref(), Some("def"));
        let mut j = HeaderMap::new();
        j.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(
            device_value(true, &j, br#"{"device":"x"}"#).as_deref(),
            Some("x")
        );
        assert_eq!(
            device_value(true, &HeaderMap::new(), b"device=y&a=b").as_deref(),
            Some("y")
        );
        assert_eq!(device_value(true, &HeaderMap::new(), b"a=b"), None);
    }
}
