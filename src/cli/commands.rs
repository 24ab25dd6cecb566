//! One module per subcommand group; each exposes `run(args, &Ctx)`.

pub mod config;
pub mod docs;
pub mod hash;
pub mod htpasswd;
pub mod init;
pub mod jwks;
pub mod keys;
pub mod migrate;
pub mod paths;
mod records;
pub mod revoke;
pub mod serve;
pub mod sessions;
pub mod token;
pub mod user;
