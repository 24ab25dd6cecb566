//! `jwtauth completions SHELL` and `jwtauth man`: documentation generated from the clap
//! declaration, so it never drifts from the real flags.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::args::{Cli, CompletionsArgs};
use crate::cli::error::{Error, Result};

/// Prints the completion script for a shell on stdout.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "jwtauth", &mut out);
    write_stdout(&out)
}

/// Prints the man page: the top-level page followed by one page per subcommand (nested ones
/// included), each with its own `.TH`, so `man -l` shows every option of every command.
///
/// # Errors
/// `Error::Output` when stdout fails.
pub fn man() -> Result<()> {
    let mut cmd = Cli::command();
    // Sets every subcommand's bin name ("jwtauth user add") and copies the global flags down.
    cmd.build();
    let mut out = Vec::new();
    render(&cmd, "jwtauth", &mut out).map_err(Error::Output)?;
    write_stdout(&out)
}

fn render(cmd: &clap::Command, page: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone().display_name(page))
        .title(page)
        .source(concat!("jwtauth ", env!("CARGO_PKG_VERSION")));
    man.render(out)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        render(sub, &format!("{page}-{}", sub.get_name()), out)?;
    }
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
