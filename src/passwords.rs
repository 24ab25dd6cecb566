//! Passwords: the length rules, bcrypt hashing and verification. Reading them from a
//! terminal or stdin is the command line's business (`cli::password_input`).

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// bcrypt reads at most 72 bytes; longer passwords are refused rather than truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Default bcrypt cost.
pub const DEFAULT_COST: u32 = 12;

/// A password, zeroized on drop and redacted in `Debug`.
pub struct Password(Zeroizing<Vec<u8>>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(redacted)")
    }
}

impl Password {
    /// Wraps bytes after checking the length rules.
    ///
    /// # Errors
    /// A usage error for an empty password or one over 72 bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        if bytes.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(
                "password",
                format!(
                    "is {} bytes; bcrypt uses at most {MAX_PASSWORD_BYTES}, and longer passwords are refused rather than truncated",
                    bytes.len()
                ),
            ));
        }
        Ok(Password(bytes))
    }

    /// The password's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Checks that `hash` is a well-formed bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost
/// of 4–31, 53 characters of bcrypt base64).
///
/// # Errors
/// A usage error saying what is wrong.
pub fn check_hash_format(hash: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid("bcrypt hash", why);
    let b = hash.as_bytes();
    if b.len() != 60 {
        return Err(bad("expected 60 characters like $2b$12$…"));
    }
    if !(b[0] == b'$' && b[1] == b'2' && matches!(b[2], b'a' | b'b' | b'x' | b'y') && b[3] == b'$')
    {
        return Err(bad("expected a $2a$, $2b$, $2x$ or $2y$ prefix"));
    }
    let cost = std::str::from_utf8(&b[4..6])
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    if b[6] != b'$' || !matches!(cost, Some(4..=31)) {
        return Err(bad("expected a two-digit cost from 04 to 31"));
    }
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/';
    if !b[7..].iter().all(alphabet) {
        return Err(bad("salt and digest must be bcrypt base64 ([./A-Za-z0-9])"));
    }
    Ok(())
}

/// Hashes a password with bcrypt at `cost`, as `$2b$`.
///
/// # Errors
/// A usage error if bcrypt refuses the cost.
pub fn hash(password: &Password, cost: u32) -> Result<String> {
    // `Password` is at most 72 bytes, so nothing is truncated. (The crate's `non_truncating_*`
    // functions count bcrypt's NUL terminator and so refuse a 72-byte password; the plain ones
    // hash its 72 bytes exactly as OpenBSD, htpasswd and Python bcrypt do.)
    bcrypt::hash(password.as_bytes(), cost).map_err(|e| Error::invalid("bcrypt", e.to_string()))
}

/// Checks a password against a bcrypt hash; the hash must be well formed.
///
/// # Errors
/// A usage error for a malformed hash.
pub fn verify(password: &Password, hash: &str) -> Result<bool> {
    check_hash_format(hash)?;
    bcrypt::verify(password.as_bytes(), hash)
        .map_err(|e| Error::invalid("bcrypt hash", e.to_string()))
}

/// A well-formed hash that no password matches, at `cost`: verifying against it costs the
/// same time as verifying against a real hash of that cost, so an unknown user cannot be told
/// apart from a wrong password by timing.
pub fn dummy_hash(cost: u32) -> String {
    // A real salt and digest (of a phrase no password check ever sends), at any cost.
    format!("$2b${cost:02}$G71Mpa6snruqHLJybrRnHeomX7DHBWwVdFoChTlPgAcKrMkkwAoBy")
}

/// The cost of a well-formed bcrypt hash.
pub fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_well_formed() {
        for cost in 4..=31 {
            check_hash_format(&dummy_hash(cost)).unwrap();
        }
    }

    #[test]
    fn dummy_hash_matches_nothing() {
        let pw = Password::new(Zeroizing::new(b"password".to_vec())).unwrap();
        assert!(!verify(&pw, &dummy_hash(4)).unwrap());
    }

    #[test]
    fn hash_format_rejects_bad_prefix_cost_and_alphabet() {
        let good = bcrypt::hash("x", 4).unwrap();
        check_hash_format(&good).unwrap();
        assert!(check_hash_format(&good.replacen("$2b$", "$2c$", 1)).is_err());
        assert!(check_hash_format(&good.replacen("$04$", "$03$", 1)).is_err());
        assert!(check_hash_format(&good.replacen("$04$", "$32$", 1)).is_err());
        assert!(check_hash_format(&format!("{}!", &good[..59])).is_err());
        assert!(check_hash_format(&good[..59]).is_err());
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::new(Zeroizing::new(vec![])).is_err());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 72])).is_ok());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 73])).is_err());
    }
}
