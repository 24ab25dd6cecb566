//! Property tests over the library API: sign→verify round trips for arbitrary claims, no panic
//! on any bytes in decode/verify, and write→parse round trips of both data files.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value};

use jwtauth::cli::commands::token::describe;
use jwtauth::cli::flags::{self, RESERVED_CLAIMS};
use jwtauth::keys::{Key, parse_key};
use jwtauth::store::file::Document;
use jwtauth::store::memory::MemoryRevocations;
use jwtauth::store::revocations_file::Revocations;
use jwtauth::store::users_file::UsersDoc as UserStore;
use jwtauth::tokens;
use jwtauth::tokens::decode_token;
use jwtauth::users::User;
use jwtauth::verifier::{Rules, Scratch, Verifier};

/// The exit code the command line gives a core error.
fn code(e: jwtauth::error::Error) -> u8 {
    jwtauth::cli::error::Error::from(e).exit_code()
}

const NOW: i64 = 1_764_115_200;

fn key() -> Key {
    parse_key(
        Path::new("test-key"),
        b"0123456789abcdef0123456789abcdef-properties\n",
    )
    .unwrap()
}

/// Any JSON value a claim can carry (nested a little).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e15f64..1e15).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn user() -> impl Strategy<Value = User> {
    (
        "[^\\s\\p{Cc}]{1,64}",
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<String>()),
        "\\$2[abxy]\\$(0[4-9]|[12][0-9]|3[01])\\$[./A-Za-z0-9]{53}",
        any::<bool>(),
        any::<i64>(),
        any::<i64>(),
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(
            |(
                username,
                full_name,
                email,
                hashed_password,
                disabled,
                created_at,
                changed,
                groups,
            )| {
                User {
                    username,
                    full_name,
                    email,
                    hashed_password,
                    disabled,
                    created_at,
                    password_changed_at: changed,
                    groups,
                }
            },
        )
}

proptest! {
    // Failing cases are kept beside this file, in properties.proptest-regressions. (The
    // default, `SourceParallel`, would look for tests/proptest-regressions/properties.txt,
    // since tests/cli has a main.rs.)
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions"
        ))),
        ..ProptestConfig::default()
    })]

    /// Whatever claims are signed come back from verify unchanged.
    #[test]
    fn sign_then_verify_round_trips(
        sub in any::<String>(),
        extra in prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.:-]{0,20}", json_value(), 0..6),
        ttl in 1i64..100 * 366 * 86_400,
        jti in "[A-Za-z0-9_-]{1,30}",
    ) {
        let key = key();
        let mut claims = Map::new();
        for (k, v) in extra {
            if !RESERVED_CLAIMS.contains(&k.as_str()) && k != "jti" {
                claims.insert(k, v);
            }
        }
        claims.insert("sub".into(), Value::String(sub.clone()));
        claims.insert("iat".into(), NOW.into());
        claims.insert("exp".into(), (NOW + ttl).into());
        claims.insert("jti".into(), Value::String(jti.clone()));
        let token = tokens::sign(&key, key.alg, &claims, false).unwrap();
        let v = Verifier::new(&key, Rules { exp_required: true, ..Rules::default() }).unwrap();
        let none = MemoryRevocations::default();
        let mut scratch = Scratch::new();
        let mut out = Value::Null;
        let got = v.verify(token.as_bytes(), NOW, &mut scratch, Some(&none), Some(&mut out)).unwrap();
        prop_assert_eq!(got.sub.as_deref(), Some(sub.as_str()));
        prop_assert_eq!(got.jti.as_deref(), Some(jti.as_str()));
        prop_assert_eq!(got.exp, Some(NOW + ttl));
        prop_assert_eq!(&out, &Value::Object(claims.clone()));
        // The text path agrees, and decode shows the same payload.
        prop_assert!(v.verify(token.as_bytes(), NOW, &mut scratch, Some(&none), None).is_ok());
        let d = decode_token(token.as_bytes()).unwrap();
        prop_assert_eq!(Value::Object(d.payload), Value::Object(claims));
    }

    /// verify and decode never panic, whatever the bytes.
    #[test]
    fn verify_and_decode_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_no_panic(&bytes);
    }

    /// …nor on token-shaped input (three base64url parts, some of them JSON).
    #[test]
    fn verify_and_decode_never_panic_on_token_shapes(
        header in prop_oneof![json_value().prop_map(|v| v.to_string()), any::<String>()],
        payload in prop_oneof![json_value().prop_map(|v| v.to_string()), any::<String>(), json_value().prop_map(|v| format!("{{\"exp\":{v},\"iat\":{v},\"nbf\":{v}}}"))],
        sig in "[A-Za-z0-9_-]{0,90}",
    ) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!("{}.{}.{sig}", b64.encode(header), b64.encode(payload));
        check_no_panic(token.as_bytes());
    }

    /// Every claim time decode can be shown, at any "now".
    #[test]
    fn describe_never_panics(exp in json_value(), iat in any::<f64>(), now in any::<i64>()) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = serde_json::json!({"exp": exp, "nbf": exp, "iat": iat});
        let token = format!("{}.{}.x", b64.encode("{}"), b64.encode(payload.to_string()));
        if let Ok(d) = decode_token(token.as_bytes()) {
            let _ = describe(&d, now, false);
        }
    }

    /// users.json: write→parse keeps every record.
    #[test]
    fn users_file_round_trips(users in prop::collection::vec(user(), 0..8)) {
        let path = Path::new("users.json");
        let mut store = UserStore::default();
        let mut want = std::collections::BTreeMap::new();
        for u in users {
            store.put(&u).unwrap();
            want.insert(u.username.clone(), u);
        }
        let mut buf = Vec::new();
        store.write(&mut buf).unwrap();
        let back = UserStore::parse(path, &buf).unwrap();
        prop_assert_eq!(back.all(path).unwrap(), want.into_values().collect::<Vec<_>>());
        let mut again = Vec::new();
        back.write(&mut again).unwrap();
        prop_assert_eq!(again, buf);
    }

    /// revocations.json: write→parse is the identity.
    #[test]
    fn revocations_file_round_trips(
        tokens in prop::collection::btree_map(any::<String>(), any::<i64>(), 0..16),
        users in prop::collection::btree_map(any::<String>(), any::<i64>(), 0..16),
    ) {
        let r = Revocations { tokens, users };
        let mut buf = Vec::new();
        r.write(&mut buf).unwrap();
        prop_assert_eq!(Revocations::parse(Path::new("r.json"), &buf).unwrap(), r);
    }

    /// Any bytes given as a data file either parse or give exit 8, never a panic.
    #[test]
    fn data_files_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let p = Path::new("f.json");
        if let Err(e) = UserStore::parse(p, &bytes) { prop_assert_eq!(code(e), 8); }
        if let Err(e) = Revocations::parse(p, &bytes) { prop_assert_eq!(code(e), 8); }
    }

    /// Durations, times and claims parse or fail with a usage error (2).
    #[test]
    fn value_parsers_fail_as_usage_errors(s in any::<String>()) {
        for r in [flags::duration("--ttl", &s).map(drop), flags::time("--exp", &s).map(drop),
                  flags::claims(std::slice::from_ref(&s), &mut Map::new())] {
            if let Err(e) = r { prop_assert_eq!(code(e), 2); }
        }
    }
}

fn check_no_panic(bytes: &[u8]) {
    let key = key();
    let mut r = Revocations::default();
    r.users.insert("alice".into(), NOW);
    for rules in [
        Rules::default(),
        Rules {
            aud: vec!["a".into()],
            any_aud: false,
            iss: vec!["i".into()],
            leeway: 60,
            exp_required: true,
            alg: None,
            ignore_sid: false,
        },
        Rules {
            any_aud: true,
            ..Rules::default()
        },
    ] {
        let v = Verifier::new(&key, rules).unwrap();
        let revoked = MemoryRevocations::new(r.clone());
        let mut scratch = Scratch::new();
        let e = code(
            v.verify(bytes, NOW, &mut scratch, Some(&revoked), None)
                .unwrap_err(),
        );
        assert!(matches!(e, 1 | 3 | 4), "{e}");
        let mut out = Value::Null;
        let e2 = v
            .verify(bytes, NOW, &mut scratch, Some(&revoked), Some(&mut out))
            .unwrap_err();
        assert_eq!(e, code(e2));
    }
    if let Ok(d) = decode_token(bytes) {
        let _ = describe(&d, NOW, false);
    }
}
