//! The command line: clap types, one module per command, text/JSON rendering, and the error
//! type that owns the exit codes. Only this module (and `serve`) may print.

pub mod args;
pub mod commands;
pub mod context;
pub mod error;
pub mod flags;
pub mod jwks_url;
pub mod output;
pub mod password_input;

use args::{Cli, Command};
use commands::{config, docs, hash, init, jwks, keys, migrate, paths, revoke, serve, token, user};
use context::Ctx;

/// Parses the process's command line as `Cli::try_parse` does.
///
/// The command tree and the matches are not freed: the process ends soon after, and freeing
/// clap's tree one allocation at a time was 7% of a `decode`'s instructions.
///
/// # Errors
/// clap's error (help and version included), formatted for the root command.
pub fn parse_args() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let parsed = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut matches| {
            let cli = Cli::from_arg_matches_mut(&mut matches);
            std::mem::forget(matches);
            cli.map_err(|e| e.format(&mut Cli::command()))
        });
    std::mem::forget(cmd);
    parsed
}

/// Runs one parsed command line.
///
/// # Errors
/// Any [`error::Error`]; its `exit_code` is the process exit code.
pub fn run(cli: Cli) -> error::Result<()> {
    // The one real clock of a run: everything after asks it (`Ctx::clock`).
    let ctx = Ctx::new(&cli.global, std::sync::Arc::new(crate::clock::SystemClock))?;
    match &cli.command {
        Command::Init(a) => init::run(a, &ctx),
        Command::Hash(a) => hash::run(a, &ctx),
        Command::User(c) => user::run(c, &ctx),
        Command::Login(a) => token::login(a, &ctx),
        Command::Mint(a) => token::mint(a, &ctx),
        Command::Verify(a) => token::verify(a, &ctx),
        Command::Decode(a) => token::decode(a, &ctx),
        Command::Logout(a) => revoke::logout(a, &ctx),
        Command::Revocations(c) => revoke::run(c, &ctx),
        Command::Jwks => jwks::run(&ctx),
        Command::Keys(c) => keys::run(c, &ctx),
        Command::Paths => paths::run(&ctx),
        Command::Config => config::run(&ctx),
        Command::Completions(a) => docs::completions(a),
        Command::Man => docs::man(),
        Command::Serve(a) => serve::run(a, &cli.global, &ctx),
        Command::Migrate(a) => migrate::run(a, &ctx),
    }
}
