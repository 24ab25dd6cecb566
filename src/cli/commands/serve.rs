//! `serve`: the options from flags (and later the configuration file), the key, then the
//! service itself (`crate::serve`).

use crate::cli::args::{LogFormatArg, ServeArgs};
use crate::cli::context::Ctx;
use crate::cli::error::Result;
use crate::serve::{self, LogFormat, Options};

/// Runs the service until SIGTERM or SIGINT.
///
/// # Errors
/// Exit 8 when the address cannot be bound or the key cannot be used; 2 for bad values.
pub fn run(args: &ServeArgs, ctx: &Ctx) -> Result<()> {
    let mut opts = Options::from_config(&ctx.settings.config);
    if let Some(listen) = &args.listen {
        opts.listen.clone_from(listen);
    }
    opts.ttl = ctx.ttl(args.ttl.as_deref())?;
    if let Some(f) = args.log_format {
        opts.log_format = match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    // The service is the login: like the first `login`, it creates the default key when none
    // is configured anywhere.
    // It refuses a key that cannot sign before accepting the first login.
    let key = ctx.key_or_create(false)?;
    serve::run(&ctx.settings, key, opts, |addr| {
        eprintln!("jwtauth: listening on http://{addr}");
    })?;
    Ok(())
}
