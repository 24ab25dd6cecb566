//! The `jwtauth` binary: parse, run, print the error, exit with its code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match jwtauth::cli::parse_args() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match jwtauth::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `jwtauth … | head` is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        // Ctrl-C at a prompt: 130, as if the signal had ended it, once the terminal is back.
        Err(e) if e.is_interrupted() => e.exit(),
        Err(e) => {
            // An error detail may quote a token or a file: never a raw control character.
            eprintln!(
                "jwtauth: {}",
                jwtauth::cli::output::printable(&e.to_string())
            );
            e.exit()
        }
    }
}

/// Help and version go out as clap renders them; every other parse error becomes the one
/// line `jwtauth: usage: <what clap said>` (SPEC §5) with exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(jwtauth::cli::error::code::USAGE)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.render().to_string();
    // clap's message may continue on indented lines (e.g. the missing arguments) before the
    // "Usage:" block; fold them into one line.
    let mut what = Vec::new();
    let mut tip = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(t) = line.strip_prefix("tip: ") {
            tip = format!(" ({t})");
        } else if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        } else {
            what.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    let first = what.join(" ");
    eprintln!("jwtauth: usage: {first}{tip}; see 'jwtauth --help'");
    ExitCode::from(jwtauth::cli::error::code::USAGE)
}
