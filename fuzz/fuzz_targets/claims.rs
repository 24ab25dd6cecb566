//! `--claim K=V` values (one per line of the input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let specs: Vec<String> = s.split('\n').map(str::to_string).collect();
    let mut m = serde_json::Map::new();
    if jwtauth::cli::flags::claims(&specs, &mut m).is_ok() {
        assert!(m.len() <= specs.len());
        for k in jwtauth::cli::flags::RESERVED_CLAIMS {
            assert!(!m.contains_key(k));
        }
    }
});
