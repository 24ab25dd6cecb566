//! Logging in, the same way for every front end: the password check that takes the same
//! time and gives the same error for an unknown user, a wrong password and a disabled user
//! (SPEC §6), the upgrade of a stored hash to the configured scheme on a successful login
//! (SPEC §11), the claims a login token takes from the user's record, and the issue time
//! that keeps a new token from being born revoked.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::clock::{Clock, span, utc};
use crate::error::{Error, Result};
use crate::passwords::{self, Password, Scheme};
use crate::store::{RevocationStore, UserStore};
use crate::users::User;

/// How a login treats password hashes (SPEC §11): the scheme and parameters new hashes are
/// made with (config `password_scheme`, `bcrypt_cost`, `argon2_*`), and whether a successful
/// login replaces a stored hash made otherwise (config `rehash_on_login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashPolicy {
    /// The scheme and parameters of new hashes, and of the dummy hash an unknown user is
    /// checked against.
    pub scheme: Scheme,
    /// Replace a hash of another scheme or other parameters after a successful login.
    pub rehash_on_login: bool,
}

impl HashPolicy {
    /// The same policy without rehashing (a check that writes nothing: `user check`).
    pub fn read_only(self) -> Self {
        HashPolicy {
            rehash_on_login: false,
            ..self
        }
    }
}

/// What a successful login did to the stored hash.
#[derive(Debug)]
pub enum Rehash {
    /// Nothing: the hash is of the configured scheme and parameters, or rehashing is off.
    Kept,
    /// Replaced by a hash of the configured scheme and parameters.
    Upgraded {
        /// What the old hash was.
        from: Scheme,
        /// What the new one is.
        to: Scheme,
    },
    /// Not replaced: the record changed since it was read (another writer wins).
    Superseded,
    /// Not replaced: hashing or writing failed. The login stands; the front end warns.
    Failed(Error),
}

/// A successful login: the user's record (as read before any rehash) and what became of its
/// hash.
#[derive(Debug)]
pub struct LoggedIn {
    /// The user.
    pub user: User,
    /// Whether the stored hash was upgraded.
    pub rehash: Rehash,
}

/// Checks `name`'s password: the user, if it exists, is enabled and the password matches.
/// Unknown user, wrong password and disabled user cost one password verification each and
/// end in the same `LoginRefused`, so neither the message nor the time tells them apart: an
/// unknown user is checked against a dummy hash of the configured scheme and parameters
/// (those every hash converges to as users log in).
///
/// After a successful check, when `policy` rehashes and the stored hash is of another scheme
/// or other parameters than `policy.scheme` (passlib's `verify_and_update`), the password is
/// hashed anew and stored, only if the stored hash is still the one just verified
/// ([`UserStore::replace_hash`]). The login succeeds whatever becomes of that ([`Rehash`]).
///
/// A record whose hash is not one this tool can check is a broken store, not a wrong
/// password (SPEC §8): that is a store error naming the user and the store, never the hash.
///
/// # Errors
/// `LoginRefused`, or a store error (also for an unsupported hash).
pub fn authenticate(
    users: &dyn UserStore,
    name: &str,
    password: &Password,
    policy: &HashPolicy,
) -> Result<LoggedIn> {
    match users.get(name)? {
        Some(user) => {
            let Ok(info) = passwords::inspect(&user.hashed_password) else {
                return Err(Error::corrupt(
                    Path::new(&users.location()),
                    format!(
                        "the record of user {name:?} has a hashed_password that is not a supported password hash (bcrypt $2a$, $2b$, $2x$ or $2y$, or argon2id within the bounds); set one with 'jwtauth user passwd'"
                    ),
                ));
            };
            let matches = passwords::verify(password, &user.hashed_password).unwrap_or(false);
            if !matches || user.disabled {
                return Err(Error::LoginRefused);
            }
            let rehash = if policy.rehash_on_login && info.needs_update(&policy.scheme) {
                rehash(users, &user, password, info.scheme, policy.scheme)
            } else {
                Rehash::Kept
            };
            Ok(LoggedIn { user, rehash })
        }
        None => {
            let _ = passwords::verify(password, &passwords::dummy_hash(&policy.scheme));
            Err(Error::LoginRefused)
        }
    }
}

/// Hashes `password` with `to` and stores it in place of `user`'s hash if that is unchanged.
fn rehash(
    users: &dyn UserStore,
    user: &User,
    password: &Password,
    from: Scheme,
    to: Scheme,
) -> Rehash {
    let new = match passwords::hash(password, &to) {
        Ok(h) => h,
        Err(e) => return Rehash::Failed(e),
    };
    match users.replace_hash(&user.username, &user.hashed_password, &new) {
        Ok(true) => Rehash::Upgraded { from, to },
        Ok(false) => Rehash::Superseded,
        Err(e) => Rehash::Failed(e),
    }
}

/// The claims a login token takes from the user's record, the same for every front end
/// (`login`, `serve`'s `POST /token` and its login page): today the user's `groups`, when
/// there are any (SPEC §8). The caller adds `sub`, the times, `jti`, `iss` and `aud`.
pub fn user_claims(user: &User) -> Map<String, Value> {
    let mut claims = Map::new();
    if !user.groups.is_empty() {
        claims.insert("groups".into(), user.groups.clone().into());
    }
    claims
}

/// The `iat` of a new token for `sub`: now, or the next second when `sub` was revoked in
/// this very second (a token issued then would be born revoked); it waits for that second.
///
/// # Errors
/// A configuration error when the revocation is dated in the future (a wrong clock), or a
/// store error.
pub fn issue_time(revocations: &dyn RevocationStore, sub: &str, clock: &dyn Clock) -> Result<i64> {
    let now = clock.now();
    match revocations.subject_revoked_at(sub)? {
        Some(at) if at >= now => {
            if at > now + 1 {
                return Err(Error::config(
                    format!("revocation of {sub:?}"),
                    format!(
                        "is dated {} in the future ({}); is the clock right?",
                        span(at - now),
                        utc(at)
                    ),
                ));
            }
            while clock.now() <= at {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(at + 1)
        }
        _ => Ok(now),
    }
}
