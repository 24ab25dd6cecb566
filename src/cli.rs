//! Command-line declaration: clap derive types only, no logic and no I/O.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A local, file-backed JWT login system
///
/// Hash passwords with bcrypt, keep users in a JSON file, log in to get a signed JWT,
/// verify and decode any JWT, and log out by revoking tokens.
#[derive(Debug, Parser)]
#[command(name = "jwtauth", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after any subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Users file [default: <data dir>/users.json]
    #[arg(long, global = true, env = "JWTAUTH_USERS", value_name = "PATH")]
    pub users: Option<PathBuf>,
    /// Revocation state file [default: <data dir>/revocations.json]
    #[arg(long, global = true, env = "JWTAUTH_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Signing/verifying key file [default: <config dir>/secret or private.pem]
    #[arg(long, global = true, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Silence informational messages on stderr (errors are still printed)
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the signing key
    Init(InitArgs),
    /// Hash a password with bcrypt, or check one against a hash
    Hash(HashArgs),
    /// Manage the users file
    #[command(subcommand)]
    User(UserCommand),
    /// Check a user's password and print a signed token
    Login(LoginArgs),
    /// Sign a token for any subject, without a password (test tokens)
    Mint(MintArgs),
    /// Verify a token: signature, algorithm, expiry, audience, issuer, revocation
    Verify(VerifyArgs),
    /// Print a token's header and claims without checking the signature
    Decode(DecodeArgs),
    /// Revoke a token, or every token of a user
    Logout(LogoutArgs),
    /// Show or prune the revocation list
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// Print the public JWK Set of the asymmetric signing key
    Jwks,
    /// Print the files in use
    Paths,
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
    /// key, ES256 a P-256 key, ES384 a P-384 key, EdDSA an Ed25519 key
    #[arg(long, value_enum, default_value = "HS256")]
    pub alg: Alg,
    /// Overwrite an existing key (every token signed with it stops verifying)
    #[arg(long)]
    pub force: bool,
}

/// Where a password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of stdin instead of the terminal
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// bcrypt cost (4-31)
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: u32,
    /// Check the password against HASH instead: exit 0 on match, 1 on mismatch
    #[arg(long, value_name = "HASH", conflicts_with = "cost")]
    pub check: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user
    Add(UserAddArgs),
    /// List users
    List(UserListArgs),
    /// Show one user
    Show(UserShowArgs),
    /// Change a user's password (revokes the user's tokens)
    Passwd(UserPasswdArgs),
    /// Disable a user: login is refused and existing tokens are revoked
    Disable(UserNameArg),
    /// Enable a disabled user
    Enable(UserNameArg),
    /// Remove a user (revokes the user's tokens)
    Remove(UserNameArg),
}

#[derive(Debug, Args)]
pub struct UserNameArg {
    /// User name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// User name (1-64 characters, no whitespace or control characters)
    pub name: String,
    /// Full name
    #[arg(long, value_name = "S")]
    pub full_name: Option<String>,
    /// E-mail address
    #[arg(long, value_name = "S")]
    pub email: Option<String>,
    /// bcrypt cost (4-31)
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: u32,
    /// Use an existing bcrypt hash ($2a$, $2b$, $2x$, $2y$) instead of reading a password
    #[arg(long, value_name = "HASH", conflicts_with_all = ["cost", "password_stdin"])]
    pub hash: Option<String>,
    #[command(flatten)]
    pub password: PasswordArgs,
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
    pub name: String,
    /// Include the password hash
    #[arg(long)]
    pub with_hash: bool,
}

#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// User name
    pub name: String,
    /// bcrypt cost (4-31)
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31))]
    pub cost: u32,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Claims shared by `login` and `mint`.
#[derive(Debug, Args)]
pub struct ClaimArgs {
    /// Lifetime of the token: 20s, 15m, 2h, 7d or plain seconds
    #[arg(long, value_name = "D", default_value = "15m")]
    pub ttl: String,
    /// Audience claim (aud)
    #[arg(long, value_name = "S")]
    pub aud: Option<String>,
    /// Issuer claim (iss)
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
    pub name: String,
    #[command(flatten)]
    pub claims: ClaimArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct MintArgs {
    /// Subject claim (sub)
    #[arg(long, value_name = "S")]
    pub sub: String,
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
    #[command(flatten)]
    pub claims: ClaimArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token; `-` or nothing reads one token per line from stdin
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
    /// Require this audience
    #[arg(long, value_name = "S")]
    pub aud: Option<String>,
    /// Require this issuer
    #[arg(long, value_name = "S")]
    pub iss: Option<String>,
    /// Allowed clock skew for exp, nbf and iat: 20s, 15m, 2h, 7d or seconds
    #[arg(long, value_name = "D", default_value = "0")]
    pub leeway: String,
    /// Accept only this algorithm [default: every algorithm of the key's family]
    #[arg(long, value_enum)]
    pub alg: Option<Alg>,
    /// Verify with the public keys of a JWK Set file, chosen by the token's kid
    #[arg(long, value_name = "PATH")]
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
    /// The token; `-` or nothing reads one token per line from stdin
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The token to revoke; `-` or nothing reads it from stdin
    #[arg(value_name = "TOKEN", conflicts_with = "all")]
    pub token: Option<String>,
    /// Revoke every token of this subject issued up to now
    #[arg(long, value_name = "NAME")]
    pub all: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// Show the revocation list
    List,
    /// Drop entries of tokens that have expired
    Prune,
}
