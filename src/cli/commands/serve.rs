//! `serve`: the options from flags (and later the configuration file), the key, then the
//! service itself (`crate::serve`).

use crate::cli::args::{GlobalArgs, LogFormatArg, ServeArgs};
use crate::cli::context::Ctx;
use crate::cli::error::Result;
use crate::error::Error as CoreError;
use crate::serve::{self, LogFormat, Options, Reloaded};

/// Runs the service until SIGTERM or SIGINT; SIGHUP reloads the configuration.
///
/// # Errors
/// Exit 8 when the address cannot be bound or the key cannot be used; 2 for bad values.
pub fn run(args: &ServeArgs, global: &GlobalArgs, ctx: &Ctx) -> Result<()> {
    let opts = options(args, ctx)?;
    // The service is the login: like the first `login`, it creates the default key when none
    // is configured anywhere.
    // It refuses a key that cannot sign before accepting the first login.
    let key = ctx.key_or_create(false)?;
    // SIGHUP: the configuration file and the environment read again, the flags given at
    // start applied over them as at start.
    let (args, global, clock) = (args.clone(), global.clone(), ctx.clock.clone());
    let reload = move || {
        let ctx =
            Ctx::new(&global, clock.clone()).map_err(|e| CoreError::config("configuration", e))?;
        let opts = options(&args, &ctx).map_err(|e| CoreError::config("configuration", e))?;
        Ok(Reloaded {
            opts,
            settings: ctx.settings,
        })
    };
    serve::run(
        &ctx.settings,
        key,
        opts,
        ctx.clock.clone(),
        reload,
        |addr| {
            eprintln!("jwtauth: listening on http://{addr}");
        },
    )?;
    Ok(())
}

/// The options of the configuration, with the flags applied over them.
fn options(args: &ServeArgs, ctx: &Ctx) -> Result<Options> {
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
    Ok(opts)
}
