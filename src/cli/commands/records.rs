//! A user as `user show --json`, `user list --json` and `user export --json` print it: one
//! shape for the three (`user` and `htpasswd` both use it, neither owns it).

use serde::Serialize;

use crate::passwords;
use crate::users::User;

/// A user as printed: the hash only when asked for.
#[derive(Serialize)]
pub(super) struct Record<'a> {
    username: &'a str,
    full_name: Option<&'a str>,
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hashed_password: Option<&'a str>,
    disabled: bool,
    created_at: i64,
    password_changed_at: i64,
    /// False when `hashed_password` is not a hash jwtauth can check (bcrypt, argon2id within
    /// the bounds, or a legacy htpasswd hash unless `allow_legacy_hashes = false`): `login`
    /// refuses such a user with exit 8 (SPEC §8).
    hash_supported: bool,
    /// The hash's scheme (`bcrypt`, `argon2id`, `apr1`, `md5-crypt`, `sha1`, `sha256-crypt`,
    /// `sha512-crypt`), or none when it is not a hash jwtauth knows.
    hash_scheme: Option<&'static str>,
    /// True for a legacy htpasswd hash (SPEC §15): the next login replaces it.
    legacy: bool,
    /// The user's groups (empty when none), as a login token carries them.
    groups: &'a [String],
}

impl<'a> Record<'a> {
    /// `u` as printed, with its hash when `with_hash`, as the default configuration sees it
    /// (legacy hashes supported; see [`Record::allowing_legacy`]).
    pub(super) fn new(u: &'a User, with_hash: bool) -> Self {
        let info = passwords::inspect(&u.hashed_password).ok();
        Record {
            username: &u.username,
            full_name: u.full_name.as_deref(),
            email: u.email.as_deref(),
            hashed_password: with_hash.then_some(u.hashed_password.as_str()),
            disabled: u.disabled,
            created_at: u.created_at,
            password_changed_at: u.password_changed_at,
            hash_supported: info.is_some(),
            hash_scheme: info.map(|i| i.scheme.name()),
            legacy: info.is_some_and(|i| i.is_legacy()),
            groups: &u.groups,
        }
    }

    /// With config `allow_legacy_hashes = false`, a legacy hash is not supported.
    pub(super) fn allowing_legacy(mut self, allow: bool) -> Self {
        self.hash_supported &= allow || !self.legacy;
        self
    }
}
