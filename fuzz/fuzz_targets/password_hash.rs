//! Password hashes (`--hash`, `hash --check`, a stored `hashed_password`): bcrypt, argon2id and
//! the legacy htpasswd hashes (`$apr1$`, `{SHA}`, `$1$`, `$5$`, `$6$`), and the bounds on
//! argon2's parameters and SHA-crypt's rounds. A hash the format check accepts must verify without
//! an error (true or false), never panic; a small argon2 one is verified for real.
#![no_main]

use jwtauth::passwords::{Legacy, Password, Scheme, check_hash_format, inspect, verify};
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

fuzz_target!(|s: &str| {
    let Ok(info) = inspect(s) else {
        assert!(check_hash_format(s).is_err());
        return;
    };
    let cheap = match info.scheme {
        Scheme::Bcrypt { cost } => cost <= 6,
        Scheme::Argon2id(p) => p.memory_kib <= 1024 && p.time <= 4,
        Scheme::Legacy(Legacy::Sha256Crypt { rounds } | Legacy::Sha512Crypt { rounds }) => {
            rounds <= 10_000
        }
        Scheme::Legacy(_) => true,
    };
    if cheap {
        let pw = Password::new(Zeroizing::new(b"password".to_vec())).unwrap();
        assert!(verify(&pw, s).is_ok(), "accepted but not verifiable: {s:?}");
    }
});
