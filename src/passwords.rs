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

/// The bcrypt prefixes accepted (SPEC §1: `htpasswd -B` and Python `bcrypt` hashes import as
/// they are).
const PREFIXES: [&str; 4] = ["$2a$", "$2b$", "$2x$", "$2y$"];

/// Checks that `hash` is a well-formed bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost
/// of 4–31, 53 characters of bcrypt base64).
///
/// # Errors
/// A usage error saying what is wrong.
pub fn check_hash_format(hash: &str) -> Result<()> {
    parts(hash).map(drop)
}

/// `hash` taken apart by the bcrypt crate, which `verify` uses too, with the reason in our
/// words when it is not well formed.
fn parts(hash: &str) -> Result<bcrypt::HashParts> {
    let bad = |why: &str| Error::invalid("bcrypt hash", why);
    if hash.len() != 60 {
        return Err(bad("expected 60 characters like $2b$12$…"));
    }
    if !PREFIXES.iter().any(|p| hash.starts_with(p)) {
        return Err(bad("expected a $2a$, $2b$, $2x$ or $2y$ prefix"));
    }
    // The crate names the faulty part only in prose; the cost is the `NN$` after the prefix.
    let cost_field = hash
        .get(4..7)
        .is_some_and(|c| c.as_bytes()[..2].iter().all(u8::is_ascii_digit) && c.ends_with('$'));
    match hash.parse::<bcrypt::HashParts>() {
        Ok(parts) if (4..=31).contains(&parts.get_cost()) => Ok(parts),
        Err(_) if cost_field => Err(bad("salt and digest must be bcrypt base64 ([./A-Za-z0-9])")),
        _ => Err(bad("expected a two-digit cost from 04 to 31")),
    }
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
    parts(hash).ok().map(|p| p.get_cost())
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
        let why = |h: &str| check_hash_format(h).unwrap_err().to_string();
        assert!(why(&good.replacen("$04$", "$x4$", 1)).ends_with("a two-digit cost from 04 to 31"));
        assert!(why(&good.replacen("$04$", "$32$", 1)).ends_with("a two-digit cost from 04 to 31"));
        assert!(why(&format!("{}!", &good[..59])).ends_with("bcrypt base64 ([./A-Za-z0-9])"));
        for prefix in ["$2a$", "$2x$", "$2y$"] {
            let h = good.replacen("$2b$", prefix, 1);
            check_hash_format(&h).unwrap();
            assert_eq!(cost_of(&h), Some(4));
        }
        assert_eq!(cost_of("$2b$04$abc"), None);
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::new(Zeroizing::new(vec![])).is_err());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 72])).is_ok());
        assert!(Password::new(Zeroizing::new(vec![b'a'; 73])).is_err());
    }
}
