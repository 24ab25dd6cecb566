//! jwtauth: a JWT login system. The core (users, passwords, keys, tokens, the verifier, the
//! stores, the clock, the settings) returns data and typed errors and never prints; the front
//! ends render them: [`cli`] as text, JSON and exit codes, [`serve`] as HTTP.
//! `ARCHITECTURE.md` draws the picture.
#![forbid(unsafe_code)]

pub mod alg;
pub mod asym;
pub mod auth;
pub mod authority;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod duration;
pub mod error;
pub mod json;
pub mod keyring;
pub mod keys;
pub mod passwords;
pub mod random;
pub mod refresh;
pub mod sessions;
pub mod settings;
pub mod store;
pub mod tokens;
pub mod users;
pub mod verifier;

pub mod cli;
pub mod serve;
