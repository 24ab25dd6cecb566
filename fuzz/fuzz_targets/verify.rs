//! `Verifier::verify` on raw bytes, and on tokens correctly signed over fuzzed header and
//! payload bytes (so the claim checks behind the signature are reached too).
#![no_main]

use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::Algorithm;
use jwtauth::keys::parse_key;
use jwtauth::error::{Error, VerifyError};
use jwtauth::store::memory::MemoryRevocations;
use jwtauth::store::revocations_file::Revocations;
use jwtauth::verifier::{Rules, Scratch, Verifier};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-fuzz";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = parse_key(Path::new("fuzz-key"), SECRET).unwrap();
    let mut revocations = Revocations::default();
    revocations.tokens.insert("revoked".into(), i64::MAX);
    revocations.users.insert("alice".into(), 1_764_115_200);
    let rules = Rules {
        alg: None,
        aud: (mode & 2 != 0).then(|| "api".to_string()).into_iter().collect(),
        // Without a required audience, a token's `aud` is accepted only with any_aud (SPEC
        // §8); the leeway's low bit picks it, so both paths are reached.
        any_aud: mode & 0x10 != 0,
        iss: (mode & 4 != 0).then(|| "me".to_string()).into_iter().collect(),
        leeway: i64::from(mode >> 4),
        exp_required: mode & 8 != 0,
        ignore_sid: mode & 0x40 != 0,
    };
    let verifier = Verifier::new(&key, rules).unwrap();
    let revocations = MemoryRevocations::new(revocations);
    let now = 1_764_115_200;
    let mut scratch = Scratch::new();
    let token = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        // rest = header JSON bytes, 0xff, payload JSON bytes: sign them for real.
        let (header, payload) = match rest.iter().position(|&b| b == 0xff) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], rest),
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!("{}.{}", b64.encode(header), b64.encode(payload));
        let enc = key.encoding(Algorithm::HS256, false).unwrap();
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), enc, Algorithm::HS256).unwrap();
        format!("{message}.{sig}").into_bytes()
    };
    let plain = verifier.verify(&token, now, &mut scratch, Some(&revocations), None);
    let mut claims = serde_json::Value::Null;
    let with_json = verifier.verify(&token, now, &mut scratch, Some(&revocations), Some(&mut claims));
    // Known, accepted divergence: a claim verify does not read holding a number serde_json
    // cannot represent (`1e3000`) passes in text mode, while --json, which must print every
    // claim, refuses it (exit 1 where text mode gives 0, 3 or 4). Text mode does not parse claims
    // it does not check (speed of `verify -`). With serde_json's arbitrary_precision (issue
    // 11.9) such a number is kept as written, so this no longer happens; the guard stays for
    // any other "out of range" a future serde_json may report.
    if matches!(&with_json, Err(Error::Token(VerifyError::Invalid(m))) if m.to_string().contains("number out of range"))
    {
        return;
    }
    // Otherwise the two paths (text and --json) must agree on the exit code.
    assert_eq!(
        plain.as_ref().err().map(exit_code),
        with_json.as_ref().err().map(exit_code),
        "{plain:?} vs {with_json:?}"
    );
});

/// The exit code the command line gives an error (the contract the two paths must share).
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Token(v) => jwtauth::cli::error::Error::from(v.clone()).exit_code(),
        // Not a verdict on the token (a store error): the same for both paths.
        _ => jwtauth::cli::error::code::INVALID,
    }
}
