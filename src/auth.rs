//! Logging in, the same way for every front end: the password check that takes the same
//! time and gives the same error for an unknown user, a wrong password and a disabled user
//! (SPEC §6), the claims a login token takes from the user's record, and the issue time
//! that keeps a new token from being born revoked.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::clock::{Clock, span, utc};
use crate::error::{Error, Result};
use crate::passwords::{self, Password};
use crate::store::{RevocationStore, UserStore};
use crate::users::User;

/// Checks `name`'s password: the user, if it exists, is enabled and the password matches.
/// Unknown user, wrong password and disabled user cost one bcrypt verification each and end
/// in the same `LoginRefused`, so neither the message nor the time tells them apart.
///
/// A record whose hash is not one this tool can check is a broken store, not a wrong
/// password (SPEC §8): that is a store error naming the user and the store, never the hash.
///
/// # Errors
/// `LoginRefused`, or a store error (also for an unsupported hash).
pub fn authenticate(users: &dyn UserStore, name: &str, password: &Password) -> Result<User> {
    match users.get(name)? {
        Some(user) if passwords::check_hash_format(&user.hashed_password).is_err() => {
            Err(Error::corrupt(
                Path::new(&users.location()),
                format!(
                    "the record of user {name:?} has a hashed_password that is not a supported bcrypt hash ($2a$, $2b$, $2x$ or $2y$); set one with 'jwtauth user passwd'"
                ),
            ))
        }
        Some(user) => {
            let matches = passwords::verify(password, &user.hashed_password).unwrap_or(false);
            if matches && !user.disabled {
                Ok(user)
            } else {
                Err(Error::LoginRefused)
            }
        }
        None => {
            let cost = users.typical_cost()?.unwrap_or(passwords::DEFAULT_COST);
            let _ = passwords::verify(password, &passwords::dummy_hash(cost));
            Err(Error::LoginRefused)
        }
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
