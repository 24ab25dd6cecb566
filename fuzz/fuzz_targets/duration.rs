//! Durations (`--ttl`, `--leeway`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(secs) = jwtauth::cli::flags::duration("--ttl", s) {
        assert!(secs >= 0);
    }
});
