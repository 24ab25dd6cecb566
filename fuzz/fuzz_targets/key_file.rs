//! Key files: parse, then sign and verify a token with what was parsed.
#![no_main]

use std::path::Path;

use jwtauth::keys::parse_key;
use jwtauth::tokens::sign;
use jwtauth::verifier::{Rules, Scratch, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = parse_key(Path::new("key"), data) else {
        return;
    };
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), "alice".into());
    claims.insert("exp".into(), 2_000_000_000.into());
    let Ok(token) = sign(&key, key.alg, &claims, true) else {
        return;
    };
    let v = Verifier::new(&key, Rules::default()).unwrap();
    let got = v
        .verify(token.as_bytes(), 1_764_115_200, &mut Scratch::new(), None, None)
        .expect("a token signed with the key verifies");
    assert_eq!(got.sub.as_deref(), Some("alice"));
});
