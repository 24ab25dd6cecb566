//! The binary-level tests, as one integration-test crate (one build, one link; ripgrep's
//! `tests/tests.rs` does the same). Each module was a test crate of its own before; the shared
//! helpers are in `common`.

mod common;

/// Generates, for each test function `f(&Env)`, `file::f` and `redis::f`: the two-store
/// pattern of `stores`, `sessions` and `serve_sessions`, defined before the modules so each
/// can use it.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod file {
            $( #[test] fn $name() { super::$name(&super::Env::new()) } )*
        }
        mod redis {
            $( #[test] fn $name() {
                let Some(server) = super::RedisServer::start() else { return };
                super::$name(&super::Env::with_store(&server.url()));
                drop(server);
            } )*
        }
    };
}

mod architecture;
mod argon2;
mod asym;
mod audit;
mod bad_input;
mod bcrypt_vectors;
mod concurrency;
mod config;
mod core;
mod cors;
mod crash;
mod faults;
mod forward_auth;
mod hints;
mod interop_asym;
mod interop_bcrypt;
mod interop_pyjwt;
mod jwks_url;
mod legacy_hashes;
mod login_recheck;
mod properties;
mod pty;
mod recipes;
mod redis;
mod redis_stream;
mod revocation_index;
mod rotation;
mod safety;
mod secrets;
mod serve;
mod serve_account;
mod serve_keys;
mod serve_safety;
mod serve_sessions;
mod sessions;
mod sessions_file;
mod stores;
mod stream;
mod systemd;
mod throttle;
mod timing;
mod token_input;
mod tokens;
mod user_import;
mod usernames;
mod users;
mod ux;
