//! Users: the record of SPEC §1 and the rules for names. Where records are kept is the
//! store's business (`store::UserStore`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One user, with the field names of the classic login service's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user name (also the key in the file, and the token's `sub`).
    #[serde(default)]
    pub username: String,
    /// Full name, if given.
    #[serde(default)]
    pub full_name: Option<String>,
    /// E-mail address, if given.
    #[serde(default)]
    pub email: Option<String>,
    /// bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`).
    pub hashed_password: String,
    /// A disabled user cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix seconds.
    #[serde(default)]
    pub password_changed_at: i64,
}

/// Checks a user name: 1–64 characters, no whitespace or control characters.
///
/// # Errors
/// A usage error saying which rule was broken.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid(format!("user name {name:?}"), why);
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::invalid("user name", "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(bad("is longer than 64 characters"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        check_name("alice").unwrap();
        check_name("ünïcødé@example.com").unwrap();
        check_name(&"x".repeat(64)).unwrap();
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a\tb").is_err());
        assert!(check_name("a\u{1b}[31m").is_err());
    }
}
