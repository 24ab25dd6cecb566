//! Command-line declaration: clap derive types only, no logic and no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A local, file-backed JWT login system
///
/// Hash passwords with bcrypt, keep users in a JSON file, log in to get a signed JWT,
/// verify and decode any JWT, and log out by revoking tokens.
#[derive(Debug, Parser)]
#[command(name = "jwtauth", version, about, propagate_version = true)]
#[command(after_help = EX_ROOT)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after any subcommand.
///
/// `--users`/`--state` show their environment variables' names, never their values: a Redis
/// URL there may carry a password (SPEC §15).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Users file [default: <data dir>/users.json]
    #[arg(
        long,
        global = true,
        env = "JWTAUTH_USERS",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub users: Option<PathBuf>,
    /// Revocation state file [default: <data dir>/revocations.json]
    #[arg(
        long,
        global = true,
        env = "JWTAUTH_STATE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub state: Option<PathBuf>,
    /// Signing/verifying key file [default: <config dir>/secret or private.pem]
    #[arg(long, global = true, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Configuration file [env: JWTAUTH_CONFIG] [default: <config dir>/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Silence informational messages on stderr (errors are still printed)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to colour human output: auto (a terminal, NO_COLOR unset, TERM not dumb), always,
    /// never; e.g. `jwtauth --color always decode "$TOKEN" | less -R`
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorChoice,
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour only on a terminal, never with NO_COLOR set or TERM=dumb
    Auto,
    /// Always colour (even when piped, even with NO_COLOR set); never in --json output
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create the signing key
    ///
    /// Writes a new key to the key path (default <config dir>/secret) with mode 0600 and
    /// records the algorithm in `<key file>.alg`. An existing key is never replaced without
    /// --force.
    #[command(after_help = EX_INIT)]
    Init(InitArgs),
    /// Hash a password with bcrypt or argon2id, or check one against a hash
    ///
    /// The password is read from the terminal without echo (twice when hashing), or as the
    /// first line of stdin with --password-stdin; never from the command line. --user NAME
    /// prints an htpasswd line, NAME:HASH, as `htpasswd -nB` does. The scheme is --scheme,
    /// else config password_scheme (bcrypt by default); argon2id takes its parameters from
    /// config argon2_memory_kib, argon2_time and argon2_lanes (m=19456, t=2, p=1).
    #[command(after_help = EX_HASH)]
    Hash(HashArgs),
    /// Manage the users file
    ///
    /// Users live in users.json (bcrypt hashes, never plain passwords). Every change is one
    /// locked, atomic read-modify-write of the file.
    #[command(subcommand)]
    #[command(after_help = EX_USER)]
    User(UserCommand),
    /// Check a user's password and print a signed token
    ///
    /// Unknown user, wrong password and disabled user are refused alike (exit 5). With no key
    /// configured anywhere, the first login creates the default HMAC key.
    #[command(after_help = EX_LOGIN)]
    Login(LoginArgs),
    /// Spend a refresh token for a new access token and a new refresh token
    ///
    /// Reads one refresh token (from 'login --json') from stdin, never from the command
    /// line, and prints the new access token on line 1 and the new refresh token on line 2
    /// (--json: the login document). The token read is spent: presenting it again ends its
    /// session. Exit 3 when the session has expired, 4 when it has ended or the token was
    /// already spent, 1 when it is not a refresh token of this store.
    #[command(after_help = EX_REFRESH)]
    Refresh(RefreshArgs),
    /// List or end sessions (sign-ins)
    ///
    /// Every login begins a session; its tokens carry its id (sid). Ending a session refuses
    /// all of its tokens and refresh tokens at once. A session also ends after config
    /// session_idle without use or session_max_age after sign-in.
    #[command(subcommand)]
    #[command(after_help = EX_SESSIONS)]
    Sessions(SessionsCommand),
    /// `mint`, `verify` and `decode`, in this place among the subcommands.
    #[command(flatten)]
    Token(TokenCommand),
    /// Revoke a token, or every token of a user
    ///
    /// The token is verified first; its jti is then kept in the revocation list until it
    /// expires. `-` revokes every token on stdin, one result line each (exit 0 only if all
    /// were revoked). --all NAME revokes every token of NAME issued up to now.
    #[command(after_help = EX_LOGOUT)]
    Logout(LogoutArgs),
    /// Show or prune the revocation list
    #[command(subcommand)]
    #[command(after_help = EX_REVOCATIONS)]
    Revocations(RevocationsCommand),
    /// Print the public JWK Set of the asymmetric signing key
    ///
    /// Services that verify tokens need only this set (or public.pem), never the private key.
    /// The kid of each key is its RFC 7638 thumbprint, as in the headers of the tokens it signs.
    #[command(after_help = EX_JWKS)]
    Jwks,
    /// List the signing keys, or drop a retired one
    ///
    /// 'jwtauth init --rotate' makes a new signing key and keeps the old one, which still
    /// verifies the tokens it signed until they have expired; these commands show and prune
    /// that key ring (<key file>.keys.json).
    #[command(subcommand)]
    #[command(after_help = EX_KEYS)]
    Keys(KeysCommand),
    /// Print the files in use
    ///
    /// The users file, the revocation state file and the key, with where the key setting came
    /// from (flag, env, JWT_SECRET_KEY or default).
    #[command(after_help = EX_PATHS)]
    Paths,
    /// Print the effective settings and where each came from
    ///
    /// One `key = value  (source)` line per setting of the configuration file (SPEC §12),
    /// where the source is flag, env, file <path> or default. --json prints an object of
    /// key -> {"value", "source"}. A secret (JWT_SECRET_KEY) is never printed, only that it is
    /// set.
    #[command(after_help = EX_CONFIG)]
    Config,
    /// Print a shell completion script
    ///
    /// Write the output where your shell looks for completions.
    #[command(after_help = EX_COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the man page (roff), covering every subcommand
    #[command(after_help = EX_MAN)]
    Man,
    /// Run the login service over HTTP on the same files
    ///
    /// POST /token logs in (OAuth 2.0 password form, JSON or HTTP Basic), GET /protected and
    /// GET /userinfo check a bearer token, DELETE /logout revokes it; /revoke, /introspect,
    /// /.well-known/*, /openapi.json, /healthz and /metrics as README "Service" describes.
    /// Prints "jwtauth: listening on http://ADDR:PORT" on stderr once it accepts connections;
    /// stops on SIGTERM or SIGINT after finishing the requests in flight.
    #[command(after_help = EX_SERVE)]
    Serve(ServeArgs),
    /// Copy the users and the live revocations into another store
    ///
    /// From the configured stores (--users/--state, JWTAUTH_USERS/JWTAUTH_STATE, config) into
    /// the given ones: a file path or a redis:// / rediss:// URL each (file -> Redis,
    /// Redis -> file). Users missing there are added, differing ones made equal, users only
    /// there are kept; revoked tokens that have expired are not copied. Running it again
    /// changes nothing. A Redis password comes from JWTAUTH_REDIS_PASSWORD, never from the
    /// command line.
    #[command(after_help = EX_MIGRATE)]
    Migrate(MigrateArgs),
}

/// The one-shot token commands. They are their own enum so that [`TokenCli`] can parse them
/// without the other subcommands.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum TokenCommand {
    /// Sign a token for any subject, without a password (test tokens)
    ///
    /// Times take unix seconds or RFC 3339, so tests can mint expired or not-yet-valid tokens
    /// without sleeping. --header shapes the header (kid, typ, cty, …) and --payload takes the
    /// claims from a JSON object, so a token can look like an identity provider's. Needs an
    /// existing key (run 'jwtauth init').
    #[command(after_help = EX_MINT)]
    Mint(MintArgs),
    /// Verify a token: signature, algorithm, expiry, audience, issuer, revocation
    ///
    /// Prints the subject (or the claims as compact JSON when there is no sub); --json prints
    /// {"valid", "header", "claims"}, or {"valid": false, "exit_code", "error"} when the token
    /// fails. Exit 0 valid, 1 invalid, 3 expired or not yet valid, 4 revoked. With `-`,
    /// checks one token per line of stdin; with no TOKEN, a single token on stdin is checked
    /// as if it were given, several one per line.
    #[command(after_help = EX_VERIFY)]
    Verify(VerifyArgs),
    /// Print a token's header and claims without checking the signature
    ///
    /// Text mode lists the header and the claims, shows exp/iat/nbf as UTC dates with the time
    /// relative to now, and says whether the token is expired. Exit 0 even for an expired
    /// token: decoding is an inspection, not a check.
    #[command(after_help = EX_DECODE)]
    Decode(DecodeArgs),
}

// `Cli` with only `TokenCommand`'s subcommands, for their start-up: clap clones every global
// flag into every subcommand it knows when it builds the command, most of the parse of a
// `decode`. `cli::parse_args` uses it for a command line whose subcommand is one of these,
// when only global flags come before it and no help or version is asked for; then the
// root's other subcommands make no difference. Its doc comment and root attributes are
// `Cli`'s (a unit test in `cli` compares the two).
/// A local, file-backed JWT login system
///
/// Hash passwords with bcrypt, keep users in a JSON file, log in to get a signed JWT,
/// verify and decode any JWT, and log out by revoking tokens.
#[derive(Debug, Parser)]
#[command(name = "jwtauth", version, about, propagate_version = true)]
#[command(after_help = EX_ROOT)]
pub struct TokenCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

const EX_MIGRATE: &str = "Examples:
  jwtauth migrate --users-to redis://db/0 --state-to redis://db/0
  jwtauth --users redis://db/0 migrate --users-to users.json";

/// `migrate`'s options.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("to").required(true).multiple(true))]
pub struct MigrateArgs {
    /// Where the users go: a users file or a Redis URL
    #[arg(long, value_name = "PATH|URL", group = "to")]
    pub users_to: Option<std::path::PathBuf>,
    /// Where the revocations go: a state file or a Redis URL
    #[arg(long, value_name = "PATH|URL", group = "to")]
    pub state_to: Option<std::path::PathBuf>,
}

const EX_SERVE: &str = "Examples:
  jwtauth serve --listen 127.0.0.1:8080
  curl -s -u alice -X POST http://127.0.0.1:8080/token     # curl asks for the password
  curl -s -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/protected";

// `serve`'s options.
// (Not a doc comment: with `defer`, an `Args` doc comment would replace the help
// text of every command that flattens it.)
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one) [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log line format
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// Lifetime of issued tokens: 20s, 15m, 2h, 7d or seconds [default: 15m]
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub ttl: Option<String>,
}

/// `--scheme` values: the password hashing scheme of a new hash (SPEC §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemeArg {
    /// `$2b$` bcrypt at --cost (config bcrypt_cost)
    Bcrypt,
    /// `$argon2id$` with config argon2_memory_kib, argon2_time, argon2_lanes (OWASP's m=19456,t=2,p=1)
    Argon2id,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// One human line per request
    Text,
    /// One JSON object per request
    Json,
}

/// Signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    #[value(name = "EdDSA")]
    EdDSA,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Signing algorithm of the new key: HS* makes a 512-bit secret, RS*/PS* an RSA 3072-bit
    /// key, ES256 a P-256 key, ES384 a P-384 key, EdDSA an Ed25519 key [default: HS256; with
    /// --rotate, the current key's algorithm]
    #[arg(long, value_enum)]
    pub alg: Option<Alg>,
    /// Overwrite an existing key (every token signed with it stops verifying)
    #[arg(long, conflicts_with = "rotate")]
    pub force: bool,
    /// Replace the existing key with a new one, keeping the old one for verification until
    /// the tokens it signed have expired (see --keep); e.g. `jwtauth init --rotate`
    #[arg(long)]
    pub rotate: bool,
    /// With --rotate: how long the old key still verifies, e.g. `--keep 7d` [default: the
    /// longest token lifetime it signed (config ttl, or a longer --ttl/--exp used), plus 1m]
    #[arg(long, value_name = "D", requires = "rotate")]
    pub keep: Option<String>,
}

/// `keys list` / `keys retire`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum KeysCommand {
    /// List the signing key and the retired keys that still verify
    ///
    /// One line per key: kid, algorithm, state (current, retired, or expired: past its time
    /// and dropped by the next rotation), age, and when a retired key stops verifying.
    /// --json prints {"keys": [{"kid", "alg", "state", "created_at", "retired_at",
    /// "expires_at"}]}.
    #[command(after_help = EX_KEYS_LIST)]
    List,
    /// Drop a retired key now: the tokens it signed stop verifying at once
    ///
    /// The current signing key cannot be retired (exit 2): rotate first with
    /// 'jwtauth init --rotate'.
    #[command(after_help = EX_KEYS_RETIRE)]
    Retire(KeysRetireArgs),
}

#[derive(Debug, Args)]
pub struct KeysRetireArgs {
    /// The kid of the retired key, as 'jwtauth keys list' shows it
    // A base64url kid may begin with '-': it is the value, not a flag.
    #[arg(allow_hyphen_values = true)]
    pub kid: String,
}

// Where a password comes from.
// (Not a doc comment: with `defer`, an `Args` doc comment would replace the help
// text of every command that flattens it.)
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of stdin instead of the terminal
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// Hashing scheme [default: config password_scheme, else bcrypt]
    #[arg(long, value_name = "SCHEME")]
    pub scheme: Option<SchemeArg>,
    /// bcrypt cost (4-31) [default: config bcrypt_cost, else 12]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: Option<u32>,
    /// Check the password against HASH (bcrypt, argon2id, or a legacy htpasswd hash) instead:
    /// exit 0 on match, 1 on mismatch
    #[arg(long, value_name = "HASH", conflicts_with_all = ["cost", "scheme"])]
    pub check: Option<String>,
    /// Print an htpasswd line, `NAME:HASH`, instead of the bare hash
    ///
    /// NAME follows the user name rules (1-64 characters, no whitespace, control characters
    /// or ':'). Example: `jwtauth hash --user alice >> site.htpasswd`.
    #[arg(long, value_name = "NAME", conflicts_with = "check", value_parser = user_name)]
    pub user: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum UserCommand {
    /// Add a user
    #[command(after_help = EX_USER_ADD)]
    Add(UserAddArgs),
    /// List users
    #[command(after_help = EX_USER_LIST)]
    List(UserListArgs),
    /// Show one user
    #[command(after_help = EX_USER_SHOW)]
    Show(UserShowArgs),
    /// Change a user's password (revokes the user's tokens)
    ///
    /// The new password is read from the terminal (twice) or with --password-stdin; --hash
    /// stores a ready-made bcrypt or argon2id hash instead (from `htpasswd -nB` or `jwtauth
    /// hash`).
    #[command(after_help = EX_USER_PASSWD)]
    Passwd(UserPasswdArgs),
    /// Check a user's password, as `htpasswd -v` does: exit 0 if it matches, 5 if not
    ///
    /// The same check as `login` (an unknown user, a wrong password and a disabled user are
    /// one answer, exit 5, in the same time), but no token is made and nothing is written:
    /// no key, no state file.
    #[command(after_help = EX_USER_CHECK)]
    Check(UserCheckArgs),
    /// Change a user's full name, e-mail address or groups
    ///
    /// Only the fields named change; everything else in the record stays, fields this version
    /// does not know included. An empty value clears a field (--full-name ''). --group
    /// replaces the whole list of groups (repeat it for several), --no-groups empties it,
    /// --add-group and --remove-group change one group and keep the others. A login token
    /// carries the groups as its `groups` claim; when a group is taken away, the user's
    /// earlier tokens are revoked (they still name it).
    #[command(after_help = EX_USER_SET)]
    Set(UserSetArgs),
    /// Disable a user: login is refused and existing tokens are revoked
    #[command(after_help = EX_USER_DISABLE)]
    Disable(UserNameArg),
    /// Enable a disabled user
    #[command(after_help = EX_USER_ENABLE)]
    Enable(UserNameArg),
    /// Remove a user (revokes the user's tokens)
    #[command(after_help = EX_USER_REMOVE)]
    Remove(UserNameArg),
    /// Import users from an htpasswd file
    ///
    /// Each `name:hash` line with a bcrypt hash ($2y$, $2b$, $2a$, $2x$, as written by
    /// `htpasswd -B`) becomes a user. A hash prefixed with `!` (as `user export --htpasswd`
    /// writes for disabled users) is imported as a disabled user. So are argon2id and the
    /// legacy hashes (MD5 $apr1$, SHA-1 {SHA}, $1$, $5$, $6$: replaced at each user's next
    /// login; refused by config allow_legacy_hashes = false). DES crypt and plain text are
    /// skipped, as are
    /// invalid user names and users that already exist (unless --replace). All of it is one
    /// locked update of the users file. A summary goes to stderr; --json prints it on stdout.
    #[command(after_help = EX_USER_IMPORT)]
    Import(UserImportArgs),
    /// Export users, as htpasswd lines (the default) or as JSON
    ///
    /// By default (or with --htpasswd) prints one `name:hash` line per user, readable by
    /// Apache and `htpasswd -v`. htpasswd has no "disabled" flag, so a disabled user's hash is
    /// written with a `!` in front: no password matches it, and `user import` turns it back
    /// into a disabled user. Names containing `:` cannot be written in htpasswd format and are
    /// skipped with a note. --json prints every record with its hash instead, as
    /// `user list --json --with-hash` does: {"users": [...]}.
    #[command(after_help = EX_USER_EXPORT)]
    Export(UserExportArgs),
}

/// A user name as given on the command line, in Unicode NFC (SPEC §15), so a name typed in NFD
/// is the user's everywhere: lookups, revocations, messages. The command checks the name's
/// rules itself, so its errors keep their shape.
fn user_name(s: &str) -> Result<String, std::convert::Infallible> {
    Ok(crate::users::normalize_name(s).into_owned())
}

#[derive(Debug, Args)]
pub struct UserNameArg {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// User name (1-64 characters, no whitespace or control characters)
    #[arg(value_parser = user_name)]
    pub name: String,
    /// Full name
    #[arg(long, value_name = "S")]
    pub full_name: Option<String>,
    /// E-mail address
    #[arg(long, value_name = "S")]
    pub email: Option<String>,
    /// Hashing scheme [default: config password_scheme, else bcrypt]
    #[arg(long, value_name = "SCHEME")]
    pub scheme: Option<SchemeArg>,
    /// bcrypt cost (4-31) [default: config bcrypt_cost, else 12]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: Option<u32>,
    /// Use an existing hash instead of reading a password: bcrypt ($2a$, $2b$, $2x$, $2y$),
    /// argon2id ($argon2id$) or a legacy htpasswd hash ($apr1$, {SHA}, $1$, $5$, $6$)
    #[arg(long, value_name = "HASH", conflicts_with_all = ["cost", "scheme", "password_stdin"])]
    pub hash: Option<String>,
    /// If NAME exists, replace its password instead of failing (htpasswd's default)
    ///
    /// The user's earlier tokens are revoked, as `user passwd` does; --full-name and --email,
    /// when given, replace those fields too; groups, the disabled flag and fields this version
    /// does not know are kept. Without --update an existing NAME is exit 7.
    /// Example: `printf '%s\n' "$PASSWORD" | jwtauth user add alice --update --password-stdin`.
    #[arg(long)]
    pub update: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct UserCheckArgs {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct UserSetArgs {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
    /// New full name; '' clears it (e.g. --full-name 'Alice Liddell')
    #[arg(long, value_name = "S")]
    pub full_name: Option<String>,
    /// New e-mail address; '' clears it (e.g. --email alice@example.com)
    #[arg(long, value_name = "S")]
    pub email: Option<String>,
    /// Set the groups to these, replacing the list (repeatable: --group admins --group ops)
    #[arg(long = "group", value_name = "G", conflicts_with_all = ["no_groups", "add_group", "remove_group"])]
    pub groups: Vec<String>,
    /// Remove every group (e.g. `jwtauth user set alice --no-groups`)
    #[arg(long, conflicts_with_all = ["add_group", "remove_group"])]
    pub no_groups: bool,
    /// Add a group, keeping the others (repeatable; e.g. --add-group dev)
    #[arg(long, value_name = "G")]
    pub add_group: Vec<String>,
    /// Remove a group, keeping the others (repeatable; e.g. --remove-group ops)
    #[arg(long, value_name = "G")]
    pub remove_group: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UserListArgs {
    /// Include the password hashes
    #[arg(long)]
    pub with_hash: bool,
}

#[derive(Debug, Args)]
pub struct UserShowArgs {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
    /// Include the password hash
    #[arg(long)]
    pub with_hash: bool,
}

#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
    /// Hashing scheme [default: config password_scheme, else bcrypt]
    #[arg(long, value_name = "SCHEME")]
    pub scheme: Option<SchemeArg>,
    /// bcrypt cost (4-31) [default: config bcrypt_cost, else 12]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: Option<u32>,
    /// Store this hash (bcrypt $2a$, $2b$, $2x$, $2y$, or argon2id $argon2id$) instead of
    /// reading a password
    ///
    /// Example: `jwtauth user passwd alice --hash "$(htpasswd -nB alice | cut -d: -f2)"`
    /// (htpasswd asks for the password).
    #[arg(long, value_name = "HASH", conflicts_with_all = ["cost", "scheme", "password_stdin"])]
    pub hash: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

// Claims shared by `login` and `mint`.
// (Not a doc comment: with `defer`, an `Args` doc comment would replace the help
// text of every command that flattens it.)
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// Lifetime of the token: 20s, 15m, 2h, 7d or plain seconds [default: config ttl, else 15m]
    // A negative value reaches the duration parser, which says why it is wrong.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub ttl: Option<String>,
    /// Audience claim (aud), repeatable: several make aud an array, e.g. `--aud api --aud
    /// billing` [login: default config audience; mint: none]
    #[arg(long, value_name = "S")]
    pub aud: Vec<String>,
    /// Issuer claim (iss) [default: config issuer]
    #[arg(long, value_name = "S")]
    pub iss: Option<String>,
    /// Extra claim; V is parsed as JSON if it parses, else taken as a string (repeatable)
    #[arg(long = "claim", value_name = "K=V")]
    pub claims: Vec<String>,
    /// Sign even with an HMAC secret shorter than 32 bytes
    #[arg(long)]
    pub allow_weak_key: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name
    #[arg(value_parser = user_name)]
    pub name: String,
    #[command(flatten)]
    pub claims: ClaimArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct MintArgs {
    /// Subject claim (sub); may come from --payload instead
    #[arg(long, value_name = "S", required_unless_present = "payload")]
    pub sub: Option<String>,
    /// Expiry: unix seconds or RFC 3339 (overrides --ttl)
    #[arg(long, value_name = "T")]
    pub exp: Option<String>,
    /// Not-before: unix seconds or RFC 3339
    #[arg(long, value_name = "T")]
    pub nbf: Option<String>,
    /// Issued-at: unix seconds or RFC 3339 [default: now]
    #[arg(long, value_name = "T")]
    pub iat: Option<String>,
    /// Signing algorithm [default: the key's]
    #[arg(long, value_enum)]
    pub alg: Option<Alg>,
    /// Extra header field, repeatable (never alg), e.g. `--header kid=2024-01 --header
    /// typ=at+jwt`; kid, typ and cty are taken as strings, other values as JSON if they parse
    #[arg(long = "header", value_name = "K=V")]
    pub headers: Vec<String>,
    /// Take the claims from a JSON object in FILE (`-`: stdin); the flags still win, e.g.
    /// `jwtauth mint --payload claims.json --ttl 5m`
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,
    #[command(flatten)]
    pub claims: ClaimArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token, as pasted (quotes, `Bearer `, `Authorization: Bearer `, `jwtauth_session=`,
    /// a `Cookie:` line or `{"access_token": …}` are taken off); `-` reads one
    /// token per line from stdin, one result line each; nothing reads stdin too, and a single
    /// token there is answered as if it were given here
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// Require this audience, repeatable: any one must be in the token's aud, e.g. `--aud api
    /// --aud billing` (a token that has an audience is refused without --aud)
    #[arg(long, value_name = "S")]
    pub aud: Vec<String>,
    /// Accept a token whatever its audience
    #[arg(long, conflicts_with = "aud")]
    pub any_aud: bool,
    /// Require this issuer, repeatable: the token's iss must be one of them, e.g. `--iss
    /// https://idp.example --iss https://idp2.example` [default: config issuer, if any]
    #[arg(long, value_name = "S")]
    pub iss: Vec<String>,
    /// Allowed clock skew for exp, nbf and iat: 20s, 15m, 2h, 7d or seconds
    #[arg(
        long,
        value_name = "D",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub leeway: String,
    /// Accept only this algorithm [default: every algorithm of the key's family]
    #[arg(long, value_enum)]
    pub alg: Option<Alg>,
    /// Verify with the public keys of a JWK Set, chosen by the token's kid: a file, or a URL
    /// fetched once (https://, or http:// to a loopback host; 5 s timeout; at most 1 MiB)
    #[arg(long, value_name = "PATH|URL")]
    pub jwks: Option<PathBuf>,
    /// Do not check the revocation list
    #[arg(long)]
    pub no_revocation: bool,
    /// Accept tokens without an exp claim (for foreign tokens)
    #[arg(long)]
    pub no_exp_required: bool,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The token, as pasted (quotes, `Bearer `, `Authorization: Bearer `, `jwtauth_session=`,
    /// a `Cookie:` line or `{"access_token": …}` are taken off); `-` reads one
    /// token per line from stdin, one result line each; nothing reads stdin too, and a single
    /// token there is answered as if it were given here
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The token to revoke, as pasted (quotes, `Bearer `, a cookie or `{"access_token": …}`
    /// are taken off); `-` revokes every token on stdin,
    /// one per line, one result line each; nothing reads stdin too, and a single token there
    /// is revoked as if it were given here
    #[arg(value_name = "TOKEN", conflicts_with = "all")]
    pub token: Option<String>,
    /// Revoke every token of this subject issued up to now; NAME must be a user (exit 6
    /// otherwise) unless --force
    #[arg(long, value_name = "NAME", value_parser = user_name)]
    pub all: Option<String>,
    /// With --all: revoke even when NAME is not a user in the users store (the subject of
    /// minted service tokens)
    #[arg(long, requires = "all", conflicts_with = "token")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Refused: a refresh token on the command line would show in `ps` and the shell's
    /// history (caught here so that it is not echoed back).
    #[arg(hide = true, value_name = "REFUSED", num_args = 0..)]
    pub argv: Vec<String>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SessionsCommand {
    /// List the live sessions, newest first
    ///
    /// sid, user, began, last used, ends (the earlier of the two limits), client and amr.
    /// --json prints {"sessions": [{"sid", "sub", "created_at", "last_used_at",
    /// "expires_at", "client", "amr"}]} (times in unix seconds).
    #[command(after_help = EX_SESSIONS_LIST)]
    List(SessionsListArgs),
    /// End sessions: each named, or every one of a user
    ///
    /// Nothing is ended when one SID is not a live session (exit 6). --user NAME ends the
    /// user's sessions, not the tokens minted for NAME (see 'logout --all').
    #[command(after_help = EX_SESSIONS_REVOKE)]
    Revoke(SessionsRevokeArgs),
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    /// Only the sessions of this user
    #[arg(value_name = "USER")]
    pub user: Option<String>,
}

#[derive(Debug, Args)]
pub struct SessionsRevokeArgs {
    /// The sessions to end (their sid, as 'sessions list' shows it)
    #[arg(
        value_name = "SID",
        required_unless_present = "user",
        conflicts_with = "user"
    )]
    pub sids: Vec<String>,
    /// End every session of this user
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum RevocationsCommand {
    /// Show the revocation list
    #[command(after_help = EX_REVOCATIONS_LIST)]
    List,
    /// Drop entries of tokens that have expired
    #[command(after_help = EX_REVOCATIONS_PRUNE)]
    Prune,
}

#[derive(Debug, Args)]
pub struct UserImportArgs {
    /// The htpasswd file; `-` reads stdin
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace the password hash of users that already exist (their tokens are revoked)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct UserExportArgs {
    /// Print `name:hash` lines (htpasswd format; disabled users get `!` before the hash); the
    /// default, kept for scripts that name it
    #[arg(long)]
    pub htpasswd: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

// Examples shown at the end of `--help`, one block per command.

const EX_ROOT: &str = "\
Examples:
  jwtauth user add alice                # asks for the password twice, without echo
  TOKEN=$(printf '%s\\n' \"$PASSWORD\" | jwtauth login alice --password-stdin)
  jwtauth verify \"$TOKEN\" && jwtauth logout \"$TOKEN\"

Exit codes: 0 ok, 1 invalid token, 2 usage, 3 expired, 4 revoked, 5 login refused,
6 no such user, 7 user exists, 8 data or configuration error.";

const EX_JWKS: &str = "\
Examples:
  jwtauth init --alg EdDSA && jwtauth jwks > jwks.json
  jwtauth verify --jwks jwks.json \"$TOKEN\"";

const EX_INIT: &str = "\
Examples:
  jwtauth init --alg HS512 --force
  jwtauth --key ./service.key init
  jwtauth init --rotate --keep 7d       # new key; the old one verifies its tokens for 7 days";

const EX_KEYS: &str = "\
Examples:
  jwtauth init --rotate && jwtauth keys list
  jwtauth keys retire 3q2-7wEjHJ4lZ1tW0kp2Yw";

const EX_KEYS_LIST: &str = "\
Examples:
  jwtauth keys list
  jwtauth keys list --json | jq -r '.keys[] | select(.state == \"retired\") | .kid'";

const EX_KEYS_RETIRE: &str = "\
Examples:
  jwtauth keys retire 3q2-7wEjHJ4lZ1tW0kp2Yw   # tokens of that key stop verifying now
  jwtauth keys list --json | jq -r '.keys[1:][].kid' | xargs -n1 jwtauth keys retire";

const EX_HASH: &str = "\
Examples:
  jwtauth hash --cost 12               # or --scheme argon2id
  jwtauth hash --user alice >> site.htpasswd      # asks for the password twice
  jwtauth hash --password-stdin --check \"$HASH\" < password.txt && echo match";

const EX_USER: &str = "\
Examples:
  jwtauth user add alice --full-name 'Alice Liddell' --email alice@example.com
  jwtauth user list
  jwtauth user import site.htpasswd";

const EX_LOGIN: &str = "\
Examples:
  jwtauth login alice
  printf '%s\\n' \"$PASSWORD\" | jwtauth login alice --password-stdin --ttl 1h --aud api --aud billing
  jwtauth login alice --json";

const EX_MINT: &str = "\
Examples:
  jwtauth mint --sub test-user --ttl 5m --claim role=admin --header kid=2024-01
  jwtauth mint --sub bot --aud api --aud billing --iss ci --claim 'scopes=[\"read\",\"write\"]'
  echo '{\"sub\":\"old\",\"iat\":1577836800,\"exp\":1577837700}' | jwtauth mint --payload -";

const EX_VERIFY: &str = "\
Examples:
  jwtauth verify \"$TOKEN\"
  jwtauth verify --aud api --aud billing --iss ci --leeway 30s \"Bearer $TOKEN\"
  cat tokens.txt | jwtauth verify --json -";

const EX_DECODE: &str = "\
Examples:
  jwtauth decode --json \"$TOKEN\"
  pbpaste | jwtauth --color never decode     # one token on stdin: the full view
  cat tokens.txt | jwtauth decode -";

const EX_LOGOUT: &str = "\
Examples:
  jwtauth logout \"$TOKEN\"                   # ends the token's session
  cat tokens.txt | jwtauth logout -          # one result line per token
  jwtauth logout --all alice                 # --force for a subject that is no user";

const EX_REFRESH: &str = "\
Examples:
  jwtauth login alice --json > login.json
  jq -r .refresh_token login.json | jwtauth refresh --json > login.json.new
  jwtauth refresh < refresh-token.txt";

const EX_SESSIONS: &str = "\
Examples:
  jwtauth sessions list alice
  jwtauth sessions revoke \"$SID\"
  jwtauth sessions revoke --user alice";

const EX_SESSIONS_LIST: &str = "\
Examples:
  jwtauth sessions list
  jwtauth sessions list alice --json";

const EX_SESSIONS_REVOKE: &str = "\
Examples:
  jwtauth sessions revoke \"$SID\"
  jwtauth sessions revoke --user alice";

const EX_REVOCATIONS: &str = "\
Examples:
  jwtauth revocations list
  jwtauth revocations list --json
  jwtauth revocations prune";

const EX_PATHS: &str = "\
Examples:
  jwtauth paths
  jwtauth paths --json
  jwtauth --users ./users.json paths";

const EX_CONFIG: &str = "\
Examples:
  jwtauth config
  jwtauth config --json
  jwtauth --config ./jwtauth.toml config";

const EX_COMPLETIONS: &str = "\
Examples:
  jwtauth completions bash > ~/.local/share/bash-completion/completions/jwtauth
  jwtauth completions zsh > ~/.zfunc/_jwtauth
  jwtauth completions fish > ~/.config/fish/completions/jwtauth.fish";

const EX_MAN: &str = "\
Examples:
  jwtauth man | man -l -
  jwtauth man > /usr/local/share/man/man1/jwtauth.1";

const EX_USER_IMPORT: &str = "\
Examples:
  htpasswd -cB site.htpasswd alice && jwtauth user import site.htpasswd
  jwtauth user import --replace site.htpasswd
  jwtauth user import --json - < site.htpasswd";

const EX_USER_EXPORT: &str = "\
Examples:
  jwtauth user export > site.htpasswd
  htpasswd -v site.htpasswd alice        # asks for alice's password
  jwtauth user export --json > users-backup.json";

const EX_USER_ADD: &str = "\
Examples:
  jwtauth user add alice --full-name 'Alice Liddell' --email alice@example.com
  jwtauth user add bob --password-stdin --update < bob-password.txt
  jwtauth user add carol --hash \"$(htpasswd -nB carol | cut -d: -f2)\"   # htpasswd asks";

const EX_USER_LIST: &str = "\
Examples:
  jwtauth user list
  jwtauth user list --json
  jwtauth user list --with-hash";

const EX_USER_SHOW: &str = "\
Examples:
  jwtauth user show alice
  jwtauth user show alice --json";

const EX_USER_PASSWD: &str = "\
Examples:
  jwtauth user passwd alice
  printf '%s\\n' \"$NEW_PASSWORD\" | jwtauth user passwd alice --password-stdin
  jwtauth user passwd alice --hash \"$(jwtauth hash)\"";

const EX_USER_CHECK: &str = "\
Examples:
  jwtauth user check alice
  jwtauth user check alice --password-stdin < password.txt && echo correct";

const EX_USER_SET: &str = "\
Examples:
  jwtauth user set alice --full-name 'Alice Liddell' --email alice@example.com
  jwtauth user set alice --group admins --group ops
  jwtauth user set alice --add-group dev --remove-group ops --email ''";

const EX_USER_DISABLE: &str = "\
Examples:
  jwtauth user disable bob
  jwtauth user show bob --json";

const EX_USER_ENABLE: &str = "\
Examples:
  jwtauth user enable bob
  jwtauth user list";

const EX_USER_REMOVE: &str = "\
Examples:
  jwtauth user remove bob
  jwtauth -q user remove bob || echo \"exit $? (6: no such user)\"";

const EX_REVOCATIONS_LIST: &str = "\
Examples:
  jwtauth revocations list
  jwtauth revocations list --json";

const EX_REVOCATIONS_PRUNE: &str = "\
Examples:
  jwtauth revocations prune
  jwtauth revocations prune --json";

impl Alg {
    /// The algorithm this flag value names.
    pub fn algorithm(self) -> crate::alg::Algorithm {
        use crate::alg::Algorithm;
        match self {
            Alg::HS256 => Algorithm::HS256,
            Alg::HS384 => Algorithm::HS384,
            Alg::HS512 => Algorithm::HS512,
            Alg::RS256 => Algorithm::RS256,
            Alg::RS384 => Algorithm::RS384,
            Alg::RS512 => Algorithm::RS512,
            Alg::PS256 => Algorithm::PS256,
            Alg::PS384 => Algorithm::PS384,
            Alg::PS512 => Algorithm::PS512,
            Alg::ES256 => Algorithm::ES256,
            Alg::ES384 => Algorithm::ES384,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}
