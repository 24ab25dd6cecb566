//! Reading a password the way SPEC §2 asks: from the terminal without echo, or as the first
//! line of stdin with `--password-stdin`; never from the command line, never hanging.

use std::io::{BufRead, IsTerminal};

use zeroize::Zeroizing;

use crate::cli::args::PasswordArgs;
use crate::cli::error::{Error, Result};
use crate::passwords::Password;

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
    Ok(Password::new(Zeroizing::new(s.into_bytes()))?)
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
    Ok(Password::new(buf)?)
}
