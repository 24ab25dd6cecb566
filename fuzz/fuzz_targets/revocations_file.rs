//! `revocations.json`: parse, check, prune, and write→parse is the identity.
#![no_main]

use std::path::Path;

use jwtauth::revocations::Revocations;
use jwtauth::store::Document;
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
    for (sub, at) in r.users.clone() {
        let _ = r.check(None, Some(&sub), Some(at));
        let _ = r.check(None, Some(&sub), Some(at.wrapping_add(1)));
    }
    let _ = r.prune(1_764_115_200);
});
