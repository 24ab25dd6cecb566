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
    // Held while rpassword has the terminal's echo off: Ctrl-C then restores it and exits 130.
    let _interrupt = interrupt::guard();
    let s = rpassword::prompt_password(text).map_err(|e| {
        // rpassword reads with the terminal's signals off; a typed Ctrl-C comes back as
        // `Interrupted` (after it raised SIGINT, which the guard's thread also answers with
        // 130), with the terminal's settings already put back by rpassword.
        if e.kind() == std::io::ErrorKind::Interrupted {
            interrupt::raised();
            Error::Interrupted
        } else {
            Error::usage("password", format!("cannot read from the terminal: {e}"))
        }
    })?;
    Ok(Password::new(Zeroizing::new(s.into_bytes()))?)
}

/// A signal at a hidden prompt (SPEC §15). rpassword turns the terminal's echo (and its
/// signal keys) off and puts them back when it returns, but on a typed Ctrl-C it raises SIGINT
/// first, which killed the process in between and left the shell without echo (`stty sane` to
/// recover). While a prompt is shown, the terminal's settings as they were are kept here; a
/// thread of signal-hook's (started at the first prompt, never by a command that does not
/// prompt) catches SIGINT, SIGTERM, SIGHUP and SIGQUIT, writes them back and exits 128 + the
/// signal (130 for Ctrl-C). Outside a prompt the signal does what it would have done without
/// this (`emulate_default_handler`).
#[cfg(unix)]
mod interrupt {
    use std::fs::{File, OpenOptions};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, OnceLock, PoisonError};

    use rustix::termios::{OptionalActions, Termios, tcgetattr, tcsetattr};
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::Signals;

    /// The terminal and its settings from before the prompt, while one is shown.
    static SAVED: Mutex<Option<(File, Termios)>> = Mutex::new(None);
    /// Whether the signal thread runs (started once).
    static STARTED: OnceLock<bool> = OnceLock::new();
    /// rpassword raised SIGINT for a typed Ctrl-C and the command exits 130 by itself: the
    /// thread, which may see that signal only after the prompt is over, lets it pass once.
    static RAISED: AtomicBool = AtomicBool::new(false);

    /// Keeps the terminal's settings until dropped (when the prompt has returned).
    pub struct Guard(());

    impl Drop for Guard {
        fn drop(&mut self) {
            *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Saves the terminal's settings and makes sure the signal thread runs. Without a
    /// terminal to read (rpassword then fails by itself) it saves nothing.
    pub fn guard() -> Guard {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty");
        if let Ok(tty) = tty
            && let Ok(settings) = tcgetattr(&tty)
        {
            *SAVED.lock().unwrap_or_else(PoisonError::into_inner) = Some((tty, settings));
            STARTED.get_or_init(start);
        }
        Guard(())
    }

    /// Says that rpassword raised SIGINT (a typed Ctrl-C) while the guard is still held.
    pub fn raised() {
        RAISED.store(true, Ordering::SeqCst);
    }

    fn start() -> bool {
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else {
            return false;
        };
        std::thread::Builder::new()
            .name("jwtauth-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some((tty, settings)) = saved {
                        let _ = tcsetattr(&tty, OptionalActions::Now, &settings);
                        std::process::exit(128 + signal);
                    }
                    if signal == SIGINT && RAISED.swap(false, Ordering::SeqCst) {
                        continue;
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            })
            .is_ok()
    }
}

/// No terminal settings to restore where rpassword does not use termios.
#[cfg(not(unix))]
mod interrupt {
    pub struct Guard;

    pub fn guard() -> Guard {
        Guard
    }

    pub fn raised() {}
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
