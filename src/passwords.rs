//! Passwords: reading them without echo or from stdin, the length rules, bcrypt hashing
//! and verification.

use std::fmt;
use std::io::{BufRead, IsTerminal};

use zeroize::Zeroizing;

use crate::cli::PasswordArgs;
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
            return Err(Error::usage("password", "must not be empty"));
        }
        if bytes.len() > MAX_PASSWORD_BYTES {
            return Err(Error::usage(
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

/// How a password is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Once (checking a password).
    Once,
    /// Twice, and both must match (setting a password).
    Confirm,
}

/// Reads a password: the first line of stdin with `--password-stdin` (a trailing `\n` or
/// `\r\n` removed), else a no-echo prompt on the terminal. Never hangs: with neither a
/// terminal nor `--password-stdin` it fails at once.
///
/// # Errors
/// Usage errors for a missing terminal, empty stdin, a mismatch on confirmation, or a
/// password that breaks the length rules.
pub fn read(args: &PasswordArgs, ask: Ask) -> Result<Password> {
    check_source(args)?;
    if args.password_stdin {
        return read_stdin_line();
    }
    let first = prompt("Password: ")?;
    if ask == Ask::Confirm {
        let second = prompt("Retype password: ")?;
        if first.as_bytes() != second.as_bytes() {
            return Err(Error::usage("password", "the two entries do not match"));
        }
    }
    Ok(first)
}

/// Fails at once when there is nowhere to read a password from, so a command can refuse
/// before doing anything else.
///
/// # Errors
/// A usage error when neither `--password-stdin` is given nor stdin is a terminal.
pub fn check_source(args: &PasswordArgs) -> Result<()> {
    // Prompting needs a terminal; rpassword talks to /dev/tty, but when stdin is not a
    // terminal the caller is a script, and a prompt would hang it.
    if !args.password_stdin && !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "password",
            "stdin is not a terminal; pipe the password in with --password-stdin",
        ));
    }
    Ok(())
}

fn prompt(text: &str) -> Result<Password> {
    let s = rpassword::prompt_password(text)
        .map_err(|e| Error::usage("password", format!("cannot read from the terminal: {e}")))?;
    Password::new(Zeroizing::new(s.into_bytes()))
}

fn read_stdin_line() -> Result<Password> {
    let mut buf = Zeroizing::new(Vec::with_capacity(128));
    let n = std::io::stdin()
        .lock()
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::usage("password", format!("cannot read stdin: {e}")))?;
    if n == 0 {
        return Err(Error::usage(
            "password",
            "stdin is empty; expected the password on its first line",
        ));
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Password::new(buf)
}

/// Checks that `hash` is a well-formed bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost
/// of 4–31, 53 characters of bcrypt base64).
///
/// # Errors
/// A usage error saying what is wrong.
pub fn check_hash_format(hash: &str) -> Result<()> {
    let bad = |why: &str| Error::usage("bcrypt hash", why);
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
    bcrypt::hash(password.as_bytes(), cost).map_err(|e| Error::usage("bcrypt", e.to_string()))
}

/// Checks a password against a bcrypt hash; the hash must be well formed.
///
/// # Errors
/// A usage error for a malformed hash.
pub fn verify(password: &Password, hash: &str) -> Result<bool> {
    check_hash_format(hash)?;
    bcrypt::verify(password.as_bytes(), hash)
        .map_err(|e| Error::usage("bcrypt hash", e.to_string()))
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
