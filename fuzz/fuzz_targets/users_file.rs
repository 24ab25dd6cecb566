//! `users.json`: parse, read every record, and write→parse gives the same records.
#![no_main]

use std::path::Path;

use jwtauth::store::file::Document;
use jwtauth::store::users_file::UsersDoc as UserStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("users.json");
    let Ok(store) = UserStore::parse(path, data) else {
        return;
    };
    let _ = store.typical_scheme();
    let all = store.all(path);
    let mut out = Vec::new();
    store.write(&mut out).unwrap();
    let back = UserStore::parse(path, &out).expect("a written users file parses");
    assert_eq!(back.len(), store.len());
    if let Ok(all) = all {
        assert_eq!(back.all(path).unwrap(), all);
    }
});
