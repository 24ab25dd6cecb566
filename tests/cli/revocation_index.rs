//! The revocation index beside revocations.json: used when it matches the JSON, ignored when
//! the JSON was changed behind its back (the JSON stays the source of truth).
use crate::common;

use common::{Env, Exits};

fn jti_of(env: &Env, token: &str) -> String {
    env.decoded(token)["payload"]["jti"]
        .as_str()
        .expect("jti")
        .to_string()
}

#[test]
fn logout_writes_an_index_that_verify_honours() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &token]).assert().code(0);
    let idx = env.path().join("data/jwtauth/revocations.json.idx");
    assert!(idx.exists(), "index written next to the state file");
    #[cfg(unix)]
    assert_eq!(common::mode(&idx), 0o600);
    env.cmd().args(["verify", &token]).assert().code(4);
}

#[test]
fn hand_edits_of_the_state_file_win_over_a_stale_index() {
    let env = Env::new();
    env.init();
    let revoked = env.mint(&["--sub", "alice"]);
    let other = env.mint(&["--sub", "bob"]);
    env.cmd().args(["logout", &revoked]).assert().code(0);
    // An operator un-revokes the first token and revokes the second by editing the JSON.
    let (jti1, jti2) = (jti_of(&env, &revoked), jti_of(&env, &other));
    let text = std::fs::read_to_string(env.state()).unwrap();
    assert!(text.contains(&jti1));
    std::fs::write(env.state(), text.replace(&jti1, &jti2)).unwrap();
    env.cmd()
        .args(["verify", &revoked])
        .assert()
        .code(0)
        .stdout("alice\n");
    env.cmd().args(["verify", &other]).assert().code(4);
}

#[test]
fn a_corrupt_state_file_is_reported_even_with_an_index() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice"]);
    env.cmd()
        .args(["logout", "--all", "nobody", "--force"])
        .assert()
        .code(0);
    std::fs::write(env.state(), b"{\"version\": 1, \"tokens\": {").unwrap();
    env.cmd()
        .args(["verify", &token])
        .stderr_only(8, predicates::str::contains("revocations.json"))
        .stderr(predicates::str::contains("line 1 column"));
}
