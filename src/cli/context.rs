//! `Ctx`: the command line's run-time context, built once from the flags, the environment and
//! the configuration file: the core's [`Settings`] plus the output mode. Commands never read
//! `std::env` themselves.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::cli::args::{ColorChoice, GlobalArgs, SchemeArg};
use crate::cli::error::{Error, Result};
use crate::cli::output;
use crate::clock::Clock;
use crate::config::{CONFIG_FILE, Config, Source};
use crate::keys::{self, Key};
use crate::settings::{DEFAULT_LOCK_TIMEOUT, KeyConfig, KeySource, Settings};
use crate::store::{self, Lookups, RevocationStore, UserStore};

/// Everything a command needs to know about its environment.
#[derive(Debug)]
pub struct Ctx {
    /// Where things are (shared with the core).
    pub settings: Settings,
    /// The configuration file looked at (`--config`, `JWTAUTH_CONFIG`, or the default
    /// location; none when no home directory is known) and where that choice came from.
    pub config_file: (Option<PathBuf>, Source),
    /// `--json`
    pub json: bool,
    /// `-q`
    pub quiet: bool,
    /// Colour human output on stdout (never in `--json`): `--color always`, or with `--color
    /// auto` (the default) only when stdout is a terminal, `NO_COLOR` is unset or empty, and
    /// `TERM` is not `dumb`.
    pub color: bool,
    /// Now, in unix seconds, read once from `clock`: a one-shot command decides by one time.
    /// A stream (`verify -`) reads `clock` per token instead.
    pub now: i64,
    /// The clock the command was given (`cli::run` makes the system clock): the use cases and
    /// `serve` ask it, never the system directly.
    pub clock: Arc<dyn Clock>,
    /// The session rules of this process (SPEC §13): the configured limits; a command-line
    /// check reads a session but is not a use.
    pub rules: Arc<crate::sessions::Rules>,
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|s| !s.is_empty())
}

impl Ctx {
    /// Builds the context from the global flags and the process environment, with `clock`
    /// for the time.
    ///
    /// # Errors
    /// A usage error for a malformed `JWTAUTH_LOCK_TIMEOUT`.
    pub fn new(global: &GlobalArgs, clock: Arc<dyn Clock>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "jwtauth");
        let data_dir = dirs.as_ref().map(|d| d.data_dir().to_path_buf());
        let config_dir = dirs.as_ref().map(|d| d.config_dir().to_path_buf());
        let (mut config, config_file) = load_config(global, config_dir.as_deref())?;
        // A flag beats the environment, which beats the file, which beats the default.
        if let Some(p) = given(&mut config, "users", &global.users, "JWTAUTH_USERS") {
            config.users = Some(p);
        }
        if let Some(p) = given(&mut config, "state", &global.state, "JWTAUTH_STATE") {
            config.state = Some(p);
        }
        // A mistyped Redis URL (`redis:/h`) is refused wherever it came from, naming it as
        // given (SPEC §15), before anything could create a file of that name.
        for (key, flag, var) in [
            ("users", "--users", "JWTAUTH_USERS"),
            ("state", "--state", "JWTAUTH_STATE"),
        ] {
            let value = if key == "users" {
                &config.users
            } else {
                &config.state
            };
            if let Some(v) = value {
                let what = match config.source(key) {
                    Source::Flag => flag.to_string(),
                    Source::Env => var.to_string(),
                    Source::File(file) => format!("{} {key} =", file.display()),
                    Source::Default => key.to_string(),
                };
                store::redis::refuse_mistyped(&what, v)?;
            }
        }
        for (flag, name) in [(&global.users, "--users"), (&global.state, "--state")] {
            refuse_password_on_argv(
                flag.as_deref(),
                name,
                if name == "--users" {
                    "JWTAUTH_USERS"
                } else {
                    "JWTAUTH_STATE"
                },
            )?;
        }
        let key_file_env = non_empty(std::env::var_os("JWTAUTH_KEY_FILE")).map(PathBuf::from);
        let secret_env = std::env::var_os("JWT_SECRET_KEY").map(os_bytes);
        let key_file = global
            .key
            .clone()
            .or_else(|| key_file_env.clone())
            .or_else(|| config.key.clone());
        let key = if let Some(path) = &global.key {
            Some(KeyConfig::File {
                path: path.clone(),
                source: KeySource::Flag,
            })
        } else if let Some(secret) = secret_env {
            Some(KeyConfig::Secret(secret))
        } else if let Some(path) = &key_file_env {
            Some(KeyConfig::File {
                path: path.clone(),
                source: KeySource::Env,
            })
        } else if let Some(path) = &config.key {
            Some(KeyConfig::File {
                path: path.clone(),
                source: KeySource::Config,
            })
        } else {
            config_dir.clone().map(|dir| KeyConfig::Default { dir })
        };
        match &key {
            Some(KeyConfig::File { path, source }) if *source != KeySource::Config => {
                config.key = Some(path.clone());
                let from = if *source == KeySource::Flag {
                    Source::Flag
                } else {
                    Source::Env
                };
                config.set_source("key", from);
            }
            Some(KeyConfig::Secret(_)) => {
                config.key = None;
                config.set_source("key", Source::Env);
            }
            _ => {}
        }
        let lock_timeout = match std::env::var("JWTAUTH_LOCK_TIMEOUT") {
            Ok(s) if !s.trim().is_empty() => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::usage(
                        format!("JWTAUTH_LOCK_TIMEOUT={s}"),
                        "expected a number of seconds",
                    )
                })?,
            _ => DEFAULT_LOCK_TIMEOUT,
        };
        let redis = store::RedisOptions {
            prefix: config.redis_prefix.clone(),
            timeout: config.redis_timeout,
            password: std::env::var("JWTAUTH_REDIS_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map(Zeroizing::new),
        };
        let rules = Arc::new(crate::sessions::Rules::new(config.session_limits(), false));
        Ok(Ctx {
            settings: Settings {
                users: config
                    .users
                    .clone()
                    .or_else(|| data_dir.as_ref().map(|d| d.join("users.json"))),
                state: config
                    .state
                    .clone()
                    .or_else(|| data_dir.as_ref().map(|d| d.join("revocations.json"))),
                key,
                key_file,
                config_dir,
                lock_timeout,
                redis,
                config,
            },
            config_file,
            json: global.json,
            quiet: global.quiet,
            color: !global.json
                && match global.color {
                    ColorChoice::Always => true,
                    ColorChoice::Never => false,
                    ColorChoice::Auto => color_wanted(),
                },
            now: clock.now(),
            clock,
            rules,
        })
    }

    /// The bcrypt cost: `--cost`, else config `bcrypt_cost` (12 by default).
    pub fn cost(&self, flag: Option<u32>) -> u32 {
        flag.unwrap_or(self.settings.config.bcrypt_cost)
    }

    /// The scheme and parameters of a new hash: `--scheme`, else config `password_scheme`;
    /// bcrypt at `--cost`, else config `bcrypt_cost`; argon2id with config `argon2_*`.
    ///
    /// # Errors
    /// A usage error for `--cost` with argon2id (its parameters are the configuration's).
    pub fn scheme(
        &self,
        scheme: Option<SchemeArg>,
        cost: Option<u32>,
    ) -> Result<crate::passwords::Scheme> {
        use crate::passwords::Scheme;
        let config = &self.settings.config;
        let scheme = match (scheme, config.scheme()) {
            // The configured scheme is never legacy (`Config::scheme`).
            (Some(SchemeArg::Bcrypt), _) | (None, Scheme::Bcrypt { .. } | Scheme::Legacy(_)) => {
                Scheme::Bcrypt {
                    cost: self.cost(cost),
                }
            }
            (_, configured @ Scheme::Argon2id(_)) => configured,
            (Some(SchemeArg::Argon2id), Scheme::Bcrypt { .. } | Scheme::Legacy(_)) => {
                Scheme::Argon2id(crate::passwords::Argon2Params {
                    memory_kib: config.argon2_memory_kib,
                    time: config.argon2_time,
                    lanes: config.argon2_lanes,
                })
            }
        };
        if cost.is_some() && matches!(scheme, Scheme::Argon2id(_)) {
            return Err(Error::usage(
                "--cost",
                "is a bcrypt cost, and the scheme is argon2id (its parameters are config argon2_memory_kib, argon2_time and argon2_lanes); add --scheme bcrypt for bcrypt",
            ));
        }
        Ok(scheme)
    }

    /// How `login` treats hashes: the configured scheme, and `rehash_on_login`.
    pub fn hash_policy(&self) -> crate::auth::HashPolicy {
        crate::auth::HashPolicy {
            scheme: self.settings.config.scheme(),
            rehash_on_login: self.settings.config.rehash_on_login,
            allow_legacy: self.settings.config.allow_legacy_hashes,
            read_only: false,
        }
    }

    /// A token lifetime in seconds: `--ttl`, else config `ttl` (15m by default).
    ///
    /// # Errors
    /// A usage error for a malformed or zero `--ttl`.
    pub fn ttl(&self, flag: Option<&str>) -> Result<i64> {
        match flag {
            Some(s) => Ok(crate::cli::flags::lifetime("--ttl", s)?),
            // Validated when the file was read: at most a century, so it fits.
            None => Ok(i64::try_from(self.settings.config.ttl.as_secs()).unwrap_or(i64::MAX)),
        }
    }

    /// The users store.
    ///
    /// # Errors
    /// A configuration error when no location is known.
    pub fn users(&self) -> Result<Box<dyn UserStore>> {
        Ok(store::open_users(
            self.settings.users_path()?,
            self.settings.lock_timeout,
            &self.settings.redis,
        )?)
    }

    /// The revocation store, opened for `lookups`.
    ///
    /// # Errors
    /// A configuration error when no location is known.
    pub fn revocations(&self, lookups: Lookups) -> Result<Box<dyn RevocationStore>> {
        Ok(store::open_revocations(
            self.settings.state_path()?,
            self.settings.lock_timeout,
            lookups,
            &self.settings.redis,
            Arc::clone(&self.rules),
        )?)
    }

    /// The configured key; its warning (a loose file mode) goes to stderr unless `-q`.
    ///
    /// # Errors
    /// As `keys::load`.
    pub fn key(&self) -> Result<Key> {
        let key = keys::load(&self.settings)?;
        self.warn_about(&key);
        Ok(key)
    }

    /// The configured key, created as `init` would when none is configured anywhere (the
    /// first successful `login`, or `serve`), said on stderr; refused unless it can sign.
    ///
    /// # Errors
    /// As `keys::load_or_create` and `Key::encoding`.
    pub fn key_or_create(&self, allow_weak: bool) -> Result<Key> {
        let (key, created) = keys::load_or_create(&self.settings)?;
        if let Some(path) = created {
            self.info(format!(
                "created a new HS256 signing key at {}",
                path.display()
            ));
        }
        self.warn_about(&key);
        key.encoding(key.alg, allow_weak)?;
        Ok(key)
    }

    /// Prints a loaded key's warning, if any, unless `-q`.
    pub fn warn_about(&self, key: &Key) {
        if let Some(w) = &key.warning {
            self.info(w);
        }
    }

    /// Says on stderr (unless `-q`) that a login could not store its upgraded hash: a warning,
    /// never a failed login. An upgrade that happened, or that another writer's change
    /// pre-empted, is silent (as Django's and passlib's are).
    pub fn rehashed(&self, name: &str, rehash: &crate::auth::Rehash) {
        if let crate::auth::Rehash::Failed(e) = rehash {
            self.info(format!(
                "warning: could not store the upgraded password hash of {name}: {e}"
            ));
        }
    }

    /// Prints an informational line on stderr unless `-q`.
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            // Messages name users, token ids and files: escape what they quote.
            eprintln!("jwtauth: {}", output::printable(&msg.to_string()));
        }
    }
}

/// Reads the configuration file: `--config FILE`, else `JWTAUTH_CONFIG`, else
/// `<config dir>/config.toml`. Only the default file may be missing. Returns the file looked
/// at and where that choice came from, too.
fn load_config(
    global: &GlobalArgs,
    config_dir: Option<&Path>,
) -> Result<(Config, (Option<PathBuf>, Source))> {
    let env = non_empty(std::env::var_os("JWTAUTH_CONFIG")).map(PathBuf::from);
    let (path, source) = match (&global.config, env) {
        (Some(p), _) => (Some(p.clone()), Source::Flag),
        (None, Some(p)) => (Some(p), Source::Env),
        (None, None) => (config_dir.map(|d| d.join(CONFIG_FILE)), Source::Default),
    };
    let config = match &path {
        Some(p) => Config::load(p, source != Source::Default)?,
        None => Config::default(),
    };
    Ok((config, (path, source)))
}

/// A path given by a flag (clap also fills it from `env_var`), with its source recorded in
/// `config`. clap merges a flag and its variable, so a value equal to the variable's is taken
/// to be the variable's.
fn given(
    config: &mut Config,
    key: &'static str,
    flag: &Option<PathBuf>,
    env_var: &str,
) -> Option<PathBuf> {
    let path = flag.clone()?;
    let from_env = std::env::var_os(env_var).is_some_and(|v| v == path.as_os_str());
    config.set_source(key, if from_env { Source::Env } else { Source::Flag });
    Some(path)
}

/// Refuses a Redis URL with a password given as a flag: argv is visible to every user of the
/// machine (`ps`). clap also fills the flag from its variable, which is fine.
///
/// # Errors
/// A usage error naming where the password may come from.
pub fn refuse_password_on_argv(value: Option<&Path>, flag: &str, env_var: &str) -> Result<()> {
    let Some(url) = value.and_then(store::redis::url_of) else {
        return Ok(());
    };
    let from_env = !env_var.is_empty() && std::env::var_os(env_var).is_some_and(|v| v == url);
    if !from_env && store::redis::has_password(url) {
        let instead = if env_var.is_empty() {
            "set JWTAUTH_REDIS_PASSWORD instead".to_string()
        } else {
            format!("set {env_var} or the configuration file, or JWTAUTH_REDIS_PASSWORD")
        };
        return Err(Error::usage(
            format!("{flag} {}", store::redis::redact(url)),
            format!(
                "a Redis password is never taken from the command line (ps shows it): {instead}"
            ),
        ));
    }
    Ok(())
}

/// `--color auto`: colour is for people: a terminal on stdout, and no opt-out
/// (<https://no-color.org>; an explicit `--color always` overrides `NO_COLOR`, as the
/// convention asks of command-line flags).
fn color_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stdout().is_terminal()
}

#[cfg(unix)]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(s))
}

#[cfg(not(unix))]
fn os_bytes(s: OsString) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(s.to_string_lossy().into_owned().into_bytes())
}
