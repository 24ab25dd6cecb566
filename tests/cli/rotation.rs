//! Key rotation: `init --rotate`, the key ring `<key file>.keys.json`,
//! choosing the key by `kid`, `jwks` with every live key, `keys list` and `keys retire`.
//! No sleeping: a key past its time is made with `--keep 0s` or by writing the ring's
//! `expires_at` into the past, as a later clock would find it.
use crate::common;

use std::path::PathBuf;

use common::{Env, Exits, json, stderr_str, stdout_str};
use predicates::prelude::*;
use serde_json::{Value, json};

fn ring(env: &Env) -> PathBuf {
    env.path().join("config/jwtauth/secret.keys.json")
}

fn private(env: &Env) -> PathBuf {
    env.path().join("config/jwtauth/private.pem")
}

fn keys(env: &Env) -> Vec<Value> {
    let out = env.cmd().args(["keys", "list", "--json"]).exits(0);
    json(&out.stdout)["keys"].as_array().expect("keys").clone()
}

fn kids(env: &Env) -> Vec<String> {
    keys(env)
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

fn header(env: &Env, token: &str) -> Value {
    env.decoded(token)["header"].clone()
}

fn rotate(env: &Env, args: &[&str]) -> Value {
    let out = env
        .cmd()
        .args(["init", "--rotate", "--json"])
        .args(args)
        .exits(0);
    json(&out.stdout)
}

fn verify(env: &Env, token: &str) -> std::process::Output {
    env.cmd().args(["verify", token]).output().expect("run")
}

#[test]
fn rotating_an_hmac_key_keeps_old_tokens_valid_and_new_tokens_carry_the_new_kid() {
    let env = Env::new();
    env.init();
    let old = env.mint(&["--sub", "old"]);
    // Before any rotation an HMAC token's header is as it always was.
    assert_eq!(header(&env, &old), json!({"alg": "HS256", "typ": "JWT"}));
    let first = kids(&env);
    assert_eq!(first.len(), 1);

    env.cmd()
        .args(["init", "--rotate"])
        .assert()
        .code(0)
        .stdout("")
        .stderr(
            predicate::str::contains("created HS256 key").and(predicate::str::contains(format!(
                "retired key {} verifies its tokens until",
                first[0]
            ))),
        );
    let new = env.mint(&["--sub", "new"]);
    let now = kids(&env);
    assert_eq!(now.len(), 2);
    assert_eq!(now[1], first[0], "the old key is listed as retired");
    assert_ne!(now[0], first[0]);
    assert_eq!(
        header(&env, &new),
        json!({"alg": "HS256", "typ": "JWT", "kid": now[0]})
    );
    let listed = keys(&env);
    assert_eq!(listed[0]["state"], "current");
    assert_eq!(listed[1]["state"], "retired");
    assert_eq!(listed[1]["alg"], "HS256");
    // The default retention: the configured ttl (15m) plus a minute's grace.
    assert_eq!(
        listed[1]["expires_at"].as_i64().unwrap() - listed[1]["retired_at"].as_i64().unwrap(),
        15 * 60 + 60
    );

    for (t, sub) in [(&old, "old"), (&new, "new")] {
        let out = env.cmd().args(["verify", t]).exits(0);
        assert_eq!(stdout_str(&out), format!("{sub}\n"));
    }
    // The ring holds a secret: 0600 like the key.
    #[cfg(unix)]
    assert_eq!(common::mode(&ring(&env)), 0o600);
    // logout verifies with the ring too, and the revocation holds.
    env.cmd().args(["logout", &old]).exits(0);
    env.cmd().args(["verify", &old]).exits(4);

    // Text listing: one line per key, with the state.
    let out = env.cmd().args(["keys", "list"]).exits(0);
    let text = stdout_str(&out);
    assert!(text.starts_with("KID"), "{text}");
    assert!(
        text.contains(&format!("{}  HS256  current", now[0])),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}  HS256  retired", now[1])),
        "{text}"
    );
}

#[test]
fn rotating_an_es256_key_keeps_the_algorithm_and_jwks_publishes_both_keys() {
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    let old = env.mint(&["--sub", "old"]);
    let done = rotate(&env, &[]);
    assert_eq!(done["alg"], "ES256");
    let new = env.mint(&["--sub", "new"]);
    let k = kids(&env);
    assert_eq!(header(&env, &old)["kid"], k[1]);
    assert_eq!(header(&env, &new)["kid"], k[0]);
    assert_eq!(done["kid"], k[0]);
    assert_eq!(done["retired"]["kid"], k[1]);

    let out = env.cmd().args(["jwks", "--json"]).exits(0);
    let set = json(&out.stdout);
    let published: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kid"].as_str().unwrap())
        .collect();
    assert_eq!(published, [k[0].as_str(), k[1].as_str()]);
    assert!(
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["alg"] == "ES256" && j.get("d").is_none())
    );
    // A verifier with only the published set accepts both tokens, by kid.
    let jwks = env.path().join("jwks.json");
    std::fs::write(&jwks, &out.stdout).unwrap();
    for (t, sub) in [(&old, "old"), (&new, "new")] {
        let out = Env::new()
            .cmd()
            .args(["verify", "--jwks"])
            .arg(&jwks)
            .arg(t)
            .exits(0);
        assert_eq!(stdout_str(&out), format!("{sub}\n"));
        env.cmd().args(["verify", t]).exits(0);
    }
    // Only the public half of a retired key pair is kept.
    let text =
        std::fs::read_to_string(env.path().join("config/jwtauth/private.pem.keys.json")).unwrap();
    assert!(!text.contains("PRIVATE"), "{text}");
    assert!(text.contains("BEGIN PUBLIC KEY"), "{text}");

    // --alg changes the algorithm within the key pair family; all three keys verify.
    let done = rotate(&env, &["--alg", "EdDSA"]);
    assert_eq!(done["alg"], "EdDSA");
    let newest = env.mint(&["--sub", "newest"]);
    assert_eq!(header(&env, &newest)["alg"], "EdDSA");
    assert_eq!(kids(&env).len(), 3);
    for t in [&old, &new, &newest] {
        env.cmd().args(["verify", t]).exits(0);
    }
}

#[test]
fn a_retired_key_past_its_time_verifies_nothing() {
    // --keep 0s: the old key stops verifying at once.
    let env = Env::new();
    env.init();
    let old = env.mint(&["--sub", "old"]);
    rotate(&env, &["--keep", "0s"]);
    let out = verify(&env, &old);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_str(&out));
    assert!(stderr_str(&out).contains("signature does not match"));
    assert_eq!(keys(&env)[1]["state"], "expired");

    // A key pair's token names its key: the message says why.
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    let old = env.mint(&["--sub", "old"]);
    rotate(&env, &["--keep", "7d"]);
    env.cmd().args(["verify", &old]).exits(0);
    // What a clock eight days later would see: the ring's time for the key has passed.
    let path = env.path().join("config/jwtauth/private.pem.keys.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let old_kid = doc["retired"][0]["kid"].as_str().unwrap().to_string();
    doc["retired"][0]["expires_at"] = json!(1_000_000_000);
    std::fs::write(&path, doc.to_string()).unwrap();
    env.cmd()
        .args(["verify", &old])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "signed by retired key {old_kid:?}, which stopped verifying at 2001-09-09T01:46:40Z"
        )));
    // Not published, listed as expired, and dropped by the next rotation.
    let set = json(&env.cmd().args(["jwks", "--json"]).exits(0).stdout);
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys(&env)[1]["state"], "expired");
    let done = rotate(&env, &[]);
    assert_eq!(done["dropped"], 1);
    let k = kids(&env);
    assert_eq!(k.len(), 2);
    assert!(!k.contains(&old_kid));
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&old_kid));
}

#[test]
fn the_longest_ttl_signed_decides_how_long_the_old_key_is_kept() {
    let env = Env::new();
    env.init();
    // Tokens of the configured lifetime write nothing.
    env.mint(&["--sub", "a"]);
    assert!(!ring(&env).exists());
    env.mint(&["--sub", "a", "--ttl", "2h"]);
    env.mint(&["--sub", "a", "--ttl", "1h"]);
    let doc: Value = serde_json::from_slice(&std::fs::read(ring(&env)).unwrap()).unwrap();
    assert_eq!(doc["current"]["max_ttl"], 7200);
    let done = rotate(&env, &[]);
    let listed = keys(&env);
    assert_eq!(done["retired"]["expires_at"], listed[1]["expires_at"]);
    assert_eq!(
        listed[1]["expires_at"].as_i64().unwrap() - listed[1]["retired_at"].as_i64().unwrap(),
        7200 + 60
    );
    // The new key starts over; --keep wins over what was recorded.
    let env = Env::new();
    env.init();
    env.mint(&["--sub", "a", "--ttl", "2h"]);
    rotate(&env, &["--keep", "30d"]);
    let listed = keys(&env);
    assert_eq!(
        listed[1]["expires_at"].as_i64().unwrap() - listed[1]["retired_at"].as_i64().unwrap(),
        30 * 86_400
    );
}

#[test]
fn keys_retire_drops_a_retired_key_and_refuses_the_current_one() {
    let env = Env::new();
    env.init();
    let old = env.mint(&["--sub", "old"]);
    rotate(&env, &[]);
    let new = env.mint(&["--sub", "new"]);
    let k = kids(&env);
    env.cmd().args(["keys", "retire", &k[0]]).stderr_only(
        2,
        predicate::str::contains("is the current signing key")
            .and(predicate::str::contains("jwtauth init --rotate")),
    );
    env.cmd()
        .args(["keys", "retire", "no-such-kid"])
        .stderr_only(2, predicate::str::contains("no retired key has this kid"));
    env.cmd()
        .args(["keys", "retire", &k[1]])
        .stderr_only(0, predicate::str::contains("no longer verify"));
    env.cmd().args(["verify", &old]).exits(1);
    env.cmd().args(["verify", &new]).exits(0);
    assert_eq!(kids(&env), [k[0].clone()]);
    // Retiring it again: it is gone.
    env.cmd().args(["keys", "retire", &k[1]]).exits(2);
    // A kid may begin with '-' (base64url): it is taken as the kid, not as a flag.
    env.cmd().args(["keys", "retire", "-Zz9"]).stderr_only(
        2,
        predicate::str::contains("-Zz9: no retired key has this kid"),
    );
}

#[test]
fn corrupt_key_ring_or_key_file_is_exit_8_and_left_untouched() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "a"]);
    rotate(&env, &[]);
    for bad in [
        &b"{\"version\": 1, \"retired\": [}"[..],
        b"{\"version\": 2, \"retired\": []}",
        b"{\"version\": 1, \"retired\": [{\"kid\": \"x\", \"alg\": \"HS256\", \"retired_at\": 1, \"expires_at\": 9999999999}]}",
        b"[]",
    ] {
        std::fs::write(ring(&env), bad).unwrap();
        for args in [
            &["verify", token.as_str()][..],
            &["init", "--rotate"],
            &["keys", "list"],
            &["keys", "retire", "x"],
            &["mint", "--sub", "a"],
            &["jwks"],
        ] {
            env.cmd().args(args).stderr_only(
                8,
                predicate::str::contains("secret.keys.json")
                    .and(predicate::str::contains("not changed")),
            );
            assert_eq!(common::bytes(&ring(&env)), bad, "{args:?}");
        }
    }
    // A broken key file is not rotated away.
    let env = Env::new();
    env.init();
    std::fs::write(env.secret(), b"").unwrap();
    env.cmd()
        .args(["init", "--rotate"])
        .stderr_only(8, predicate::str::contains("is empty"));
    assert_eq!(common::bytes(&env.secret()), b"");
    assert!(!ring(&env).exists());
}

#[test]
fn rotation_refusals() {
    let env = Env::new();
    // Nothing to rotate yet.
    env.cmd()
        .args(["init", "--rotate"])
        .stderr_only(8, predicate::str::contains("run 'jwtauth init'"));
    env.init();
    env.cmd()
        .args(["init", "--keep", "1d"])
        .stderr_only(2, predicate::str::contains("--rotate"));
    env.cmd()
        .args(["init", "--rotate", "--force"])
        .stderr_only(2, predicate::str::contains("--force"));
    env.cmd()
        .args(["init", "--rotate", "--keep", "soon"])
        .stderr_only(2, predicate::str::contains("--keep"));
    // The default file name says secret or key pair: no switching there.
    env.cmd()
        .args(["init", "--rotate", "--alg", "ES256"])
        .stderr_only(8, predicate::str::contains("changes the default file name"));
    assert!(!private(&env).exists());
    // A key from the environment is not jwtauth's to rotate.
    env.cmd()
        .env(
            "JWT_SECRET_KEY",
            "a shared secret of at least thirty-two bytes",
        )
        .args(["init", "--rotate"])
        .stderr_only(8, predicate::str::contains("JWT_SECRET_KEY"));
    // A public key signs nothing and is not rotated.
    let idp = Env::new();
    idp.cmd().args(["init", "--alg", "EdDSA"]).exits(0);
    let public = idp.path().join("config/jwtauth/public.pem");
    let before = common::bytes(&public);
    env.cmd()
        .arg("--key")
        .arg(&public)
        .args(["init", "--rotate"])
        .stderr_only(8, predicate::str::contains("not a signing key"));
    assert_eq!(common::bytes(&public), before);
    // At an explicit path the family may change: the old secret still verifies.
    let path = env.path().join("svc.key");
    env.cmd().arg("--key").arg(&path).arg("init").exits(0);
    let old = env.mint(&["--key", path.to_str().unwrap(), "--sub", "old"]);
    env.cmd()
        .arg("--key")
        .arg(&path)
        .args(["init", "--rotate", "--alg", "ES256"])
        .exits(0);
    let new = env.mint(&["--key", path.to_str().unwrap(), "--sub", "new"]);
    assert_eq!(header(&env, &new)["alg"], "ES256");
    for t in [&old, &new] {
        env.cmd()
            .arg("--key")
            .arg(&path)
            .args(["verify", t])
            .exits(0);
    }
    // --alg narrows to the keys that take it, retired ones included.
    for (alg, t, code) in [
        ("HS256", &old, 0),
        ("HS256", &new, 1),
        ("ES256", &old, 1),
        ("ES256", &new, 0),
    ] {
        env.cmd()
            .arg("--key")
            .arg(&path)
            .args(["verify", "--alg", alg, t])
            .exits(code);
    }
    env.cmd()
        .arg("--key")
        .arg(&path)
        .args(["verify", "--alg", "EdDSA", &old])
        .stderr_only(8, predicate::str::contains("does not fit key"));
    // The secret is never published.
    let set = json(
        &env.cmd()
            .arg("--key")
            .arg(&path)
            .args(["jwks", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
}

#[cfg(unix)]
#[test]
fn the_ring_is_written_through_a_symlink_and_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.init();
    rotate(&env, &[]);
    let elsewhere = env.path().join("ring-target.json");
    std::fs::rename(ring(&env), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, ring(&env)).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o640)).unwrap();
    rotate(&env, &[]);
    assert!(
        std::fs::symlink_metadata(ring(&env))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(common::mode(&elsewhere), 0o640);
    assert_eq!(kids(&env).len(), 3);
}

#[test]
fn init_force_over_the_other_default_key_removes_its_ring_too() {
    let env = Env::new();
    env.init();
    let old = env.mint(&["--sub", "old"]);
    rotate(&env, &[]);
    assert!(ring(&env).exists());
    env.cmd()
        .args(["init", "--alg", "EdDSA", "--force"])
        .exits(0);
    assert!(!env.secret().exists());
    assert!(!ring(&env).exists());
    env.cmd().args(["verify", &old]).exits(1);
    // Replacing the key in place keeps the ring: its retired keys verify until their time.
    let env = Env::new();
    env.init();
    let old = env.mint(&["--sub", "old"]);
    rotate(&env, &[]);
    env.cmd().args(["init", "--force"]).exits(0);
    env.cmd().args(["verify", &old]).exits(0);
}

#[test]
fn a_long_lived_token_from_serve_keeps_the_old_key_as_long_after_a_rotation() {
    // serve --ttl 30d signs 30-day tokens: the ring must know it, as for `login --ttl 30d`
    // (before, only the command line recorded it and the old key was kept 16 minutes).
    let env = Env::new();
    env.init();
    env.add_user("alice", crate::serve::ALICE_PW);
    let server = crate::serve::Server::start_with(&env, &["--ttl", "30d"]);
    let token = server.token("alice", crate::serve::ALICE_PW);
    drop(server);
    rotate(&env, &[]);
    let listed = keys(&env);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let kept =
        listed[1]["expires_at"].as_i64().unwrap() - listed[1]["retired_at"].as_i64().unwrap();
    assert!(kept >= 30 * 86400, "the old key is kept only {kept} s");
    // And the token still verifies after the rotation.
    env.cmd().args(["verify", &token]).exits(0);
}
