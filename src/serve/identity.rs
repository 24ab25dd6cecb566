//! The users as forward-auth sees them: name, e-mail and whether they may sign in. A thin
//! view over the user store: the file store keeps one parsed copy of `users.json` in memory
//! (reloaded when the file changes, one `stat` per lookup) shared with logins and
//! `/userinfo`, so `GET /auth` never reads the file per request and holds no copy of its own
//! (SPEC §7: `/auth` as fast as `/protected`); on Redis each lookup is one round trip.

use crate::error::Result;
use crate::store::UserStore;

/// What the identity headers need of one user record.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// `full_name`.
    pub name: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// A disabled user is refused even with an unrevoked token.
    pub disabled: bool,
}

/// The identity of `name`, if it is a user.
///
/// # Errors
/// A store error (the users file changed and cannot be read, or Redis is unreachable).
pub fn lookup(users: &dyn UserStore, name: &str) -> Result<Option<Identity>> {
    Ok(users.get(name)?.map(|u| Identity {
        name: u.full_name,
        email: u.email,
        disabled: u.disabled,
    }))
}
