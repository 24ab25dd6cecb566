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

use args::{Cli, Command, TokenCommand};
use commands::{
    config, docs, hash, init, jwks, keys, migrate, paths, revoke, serve, sessions, token, user,
};
use context::Ctx;

/// Parses the process's command line as `Cli::try_parse` does.
///
/// # Errors
/// clap's error (help and version included), formatted for the root command.
pub fn parse_args() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os().collect())
}

/// [`parse_args`] on given arguments. A `mint`, `verify` or `decode` with only global flags
/// before it is parsed by [`args::TokenCli`], which builds no other subcommand (see there).
fn parse_from(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    if token_subcommand(&args) {
        parse_as::<args::TokenCli>(args).map(|t| Cli {
            global: t.global,
            command: Command::Token(t.command),
        })
    } else {
        parse_as::<Cli>(args)
    }
}

/// `P::try_parse_from(args)`, but the command tree and the matches are not freed: the
/// process ends soon after, and freeing clap's tree one allocation at a time was 7% of a
/// `decode`'s instructions.
fn parse_as<P: clap::Parser>(args: Vec<std::ffi::OsString>) -> Result<P, clap::Error> {
    let mut cmd = P::command();
    let parsed = cmd.try_get_matches_from_mut(args).and_then(|mut matches| {
        let p = P::from_arg_matches_mut(&mut matches);
        std::mem::forget(matches);
        p.map_err(|e| e.format(&mut P::command()))
    });
    std::mem::forget(cmd);
    parsed
}

/// Whether the subcommand is `mint`, `verify` or `decode` with nothing but global flags
/// (with their values) before it. Anything else before it (`-h`, `--version`, `--`, an
/// unknown flag, a value that looks like a flag, a name that is not UTF-8) says no: the full
/// command line handles it.
fn token_subcommand(args: &[std::ffi::OsString]) -> bool {
    const WITH_VALUE: [&str; 5] = ["--users", "--state", "--key", "--config", "--color"];
    let mut rest = args.iter().skip(1).map(|a| a.to_str());
    while let Some(arg) = rest.next() {
        match arg {
            Some("mint" | "verify" | "decode") => return true,
            Some("--json" | "--quiet" | "-q") => {}
            Some(a) if WITH_VALUE.contains(&a) => match rest.next() {
                Some(Some(v)) if !v.starts_with('-') => {}
                _ => return false,
            },
            Some(a)
                if WITH_VALUE
                    .iter()
                    .any(|f| a.strip_prefix(f).is_some_and(|v| v.starts_with('='))) => {}
            _ => return false,
        }
    }
    false
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
        Command::Refresh(a) => sessions::refresh(a, &ctx),
        Command::Sessions(c) => sessions::run(c, &ctx),
        Command::Token(TokenCommand::Mint(a)) => token::mint(a, &ctx),
        Command::Token(TokenCommand::Verify(a)) => token::verify(a, &ctx),
        Command::Token(TokenCommand::Decode(a)) => token::decode(a, &ctx),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn argv(args: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("jwtauth")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect()
    }

    /// What a parse gives, to compare: the command line, or the error as clap renders it.
    fn outcome(r: Result<Cli, clap::Error>) -> String {
        match r {
            Ok(cli) => format!("{cli:?}"),
            Err(e) => format!("{:?}: {}", e.kind(), e.render()),
        }
    }

    #[test]
    fn token_cli_has_clis_root() {
        let (mut full, mut token) = (Cli::command(), args::TokenCli::command());
        full.build();
        token.build();
        assert_eq!(full.get_name(), token.get_name());
        assert_eq!(full.get_version(), token.get_version());
        assert_eq!(full.get_long_version(), token.get_long_version());
        let text = |s: Option<&clap::builder::StyledStr>| s.map(ToString::to_string);
        assert_eq!(text(full.get_about()), text(token.get_about()));
        assert_eq!(text(full.get_long_about()), text(token.get_long_about()));
        assert_eq!(text(full.get_after_help()), text(token.get_after_help()));
        assert_eq!(
            text(full.get_after_long_help()),
            text(token.get_after_long_help())
        );
        let args = |c: &clap::Command| format!("{:?}", c.get_arguments().collect::<Vec<_>>());
        assert_eq!(args(&full), args(&token));
        let names: Vec<&str> = token.get_subcommands().map(|s| s.get_name()).collect();
        assert_eq!(names, ["mint", "verify", "decode", "help"]);
        for sub in token.get_subcommands_mut() {
            let name = sub.get_name().to_owned();
            if name == "help" {
                continue;
            }
            let twin = full
                .find_subcommand_mut(&name)
                .expect("a subcommand of Cli");
            assert_eq!(
                twin.render_long_help().to_string(),
                sub.render_long_help().to_string(),
                "{name}"
            );
            assert_eq!(
                twin.render_usage().to_string(),
                sub.render_usage().to_string()
            );
        }
    }

    #[test]
    fn token_commands_parse_as_with_every_subcommand() {
        for args in [
            &["verify", "T"][..],
            &["--key", "k", "--state", "s", "verify", "T"],
            &[
                "--key=k",
                "--users=u",
                "--config",
                "c",
                "-q",
                "--json",
                "decode",
                "a.b.c",
            ],
            &["--color", "never", "mint", "--sub", "x", "--ttl", "1d"],
            &["--color", "bogus", "verify", "T"],
            &["--json", "verify", "--json", "T"],
            &["verify", "T", "--key", "k2", "--state", "s2"],
            &["--key", "mint", "verify", "T"],
            &["decode"],
            &["decode", "a.b.c", "extra"],
            &["mint"],
            &["mint", "--bogus"],
            &["mint", "--claim", "noequals", "--sub", "x"],
            &["verify", "--help"],
            &["decode", "-h"],
            &["mint", "--version"],
            &["verify", "--", "-T"],
            &["verify", "-"],
        ] {
            let a = argv(args);
            assert!(token_subcommand(&a), "{args:?}");
            assert_eq!(
                outcome(parse_from(a.clone())),
                outcome(Cli::try_parse_from(a)),
                "{args:?}"
            );
        }
    }

    #[test]
    fn other_command_lines_take_the_full_parse() {
        for args in [
            &[][..],
            &["--help", "verify"],
            &["-h", "decode", "T"],
            &["--version", "mint"],
            &["-V"],
            &["--key", "-k", "verify", "T"],
            &["--key"],
            &["--bogus", "verify", "T"],
            &["-qq", "verify", "T"],
            &["--", "verify", "T"],
            &["help", "verify"],
            &["verif", "T"],
            &["login", "alice"],
            &["user", "list"],
        ] {
            let a = argv(args);
            assert!(!token_subcommand(&a), "{args:?}");
        }
    }
}
