//! Times (`--exp`, `--nbf`, `--iat`): unix seconds or RFC 3339.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(t) = jwtauth::cli::flags::time("--exp", s) {
        assert!(t >= 0);
        let _ = jwtauth::clock::utc(t);
    }
});
