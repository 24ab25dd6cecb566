//! `decode`: the token in pasted text, split, base64url, JSON, and the text view (times,
//! relative spans).
#![no_main]

use jwtauth::cli::commands::token::describe;
use jwtauth::tokens::decode_token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Whatever was pasted, the token found is a part of it (or of its JSON string) and never
    // longer than the text.
    if let Ok(token) = jwtauth::tokens::pasted_token(data) {
        assert!(token.len() <= data.len());
    }
    if let Ok(parts) = jwtauth::tokens::split(data) {
        assert_eq!(parts.message.len() + 1 + parts.signature.len(), data.len());
    }
    if let Ok(d) = decode_token(data) {
        for now in [0, 1_764_115_200, i64::MAX, i64::MIN] {
            let _ = describe(&d, now, false);
        }
    }
});
