//! The `jwtauth` binary: parse, run, print the error, exit with its code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match jwtauth::run(jwtauth::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // `jwtauth … | head` is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwtauth: {e}");
            e.exit()
        }
    }
}
