//! `revocations.json`: parse, check, prune, and write→parse is the identity.
#![no_main]

use std::path::Path;

use jwtauth::error::Revoked;
use jwtauth::store::file::Document;
use jwtauth::store::revocations_file::{RevocationView, Revocations};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("revocations.json");
    let Ok(mut r) = Revocations::parse(path, data) else {
        return;
    };
    let mut out = Vec::new();
    r.write(&mut out).unwrap();
    let back = Revocations::parse(path, &out).expect("a written state file parses");
    assert_eq!(back, r);
    // The lookup view agrees with the document it was built from.
    let view = RevocationView::from(&r);
    for (sub, at) in &r.users {
        assert_eq!(view.subject_revoked_at(sub), Some(*at));
        assert_eq!(view.check(None, Some(sub), Some(*at)), Some(Revoked::Subject { sub: sub.clone(), at: *at }));
        if *at < i64::MAX {
            assert_eq!(view.check(None, Some(sub), Some(at + 1)), None);
        }
    }
    for jti in r.tokens.keys() {
        assert_eq!(view.check(Some(jti), None, None), Some(Revoked::Token));
    }
    let _ = r.prune(1_764_115_200);
});
