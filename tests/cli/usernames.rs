//! SPEC §15 "Users and hashes", §8 "Usernames": names are stored and compared in Unicode NFC
//! (a name typed in NFD finds its NFC user, on the command line and over HTTP), and `user add`
//! refuses a name confusable with an existing user's (UTS #39 skeleton), exit 7 naming it.
use crate::common;

use common::{Env, Exits, bytes, json, stderr_str as stderr};
use reqwest::StatusCode;

/// `josé` with a precomposed é (NFC) and typed as e + U+0301 (NFD).
const NFC: &str = "jos\u{e9}";
const NFD: &str = "jose\u{301}";
const PW: &str = "jose-Pw-5tR!q";

fn names(env: &Env) -> Vec<String> {
    let v = json(&env.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[test]
pub(crate) fn a_name_typed_in_nfd_is_stored_in_nfc_and_found_either_way() {
    let env = Env::new();
    env.init();
    env.add_user(NFD, PW);
    assert_eq!(names(&env), [NFC]);
    if env.store.is_none() {
        let raw = String::from_utf8(bytes(&env.users())).unwrap();
        assert!(raw.contains(NFC) && !raw.contains(NFD), "{raw}");
    }
    // Adding it again, in either form, is the same user.
    for name in [NFC, NFD] {
        env.cmd()
            .args(["user", "add", name, "--cost", "4", "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .stderr_only(7, format!("jwtauth: user already exists: {NFC}\n"));
    }
    // Every lookup takes either form.
    for name in [NFC, NFD] {
        let v = json(
            &env.cmd()
                .args(["user", "show", name, "--json"])
                .exits(0)
                .stdout,
        );
        assert_eq!(v["username"], NFC);
        env.cmd()
            .args(["-q", "user", "check", name, "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .stderr_only(0, "");
    }
    // A login typed in NFD gets a token for the NFC user.
    let token = env.login(NFD, PW);
    assert_eq!(env.decoded(&token)["payload"]["sub"], NFC);
    env.cmd().args(["verify", &token]).exits(0);
    // logout --all in NFD revokes the NFC user's tokens.
    env.cmd()
        .args(["-q", "logout", "--all", NFD])
        .stderr_only(0, "");
    env.cmd().args(["verify", &token]).exits(4);
    // set, disable, enable, passwd and remove find the user in NFD too.
    env.cmd()
        .args(["-q", "user", "set", NFD, "--email", "j@example.com"])
        .stderr_only(0, "");
    env.cmd()
        .args(["-q", "user", "disable", NFD])
        .stderr_only(0, "");
    env.cmd()
        .args(["-q", "user", "enable", NFD])
        .stderr_only(0, "");
    env.cmd()
        .args([
            "-q",
            "user",
            "passwd",
            NFD,
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("new-Pw-5tR!q\n")
        .stderr_only(0, "");
    env.cmd()
        .args(["-q", "user", "remove", NFD])
        .stderr_only(0, "");
    assert!(names(&env).is_empty());
}

#[test]
fn hash_user_prints_the_nfc_name() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["hash", "--user", NFD, "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with(&format!("{NFC}:$2")), "{line}");
}

#[test]
fn serve_logs_in_a_name_typed_in_nfd() {
    let env = Env::new();
    env.init();
    env.add_user(NFC, PW);
    let s = crate::serve::Server::start(&env);
    let res = s.login_form(NFD, PW);
    assert_eq!(res.status(), StatusCode::OK);
    let body = crate::serve::body_json(res);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(env.decoded(token)["payload"]["sub"], NFC);
}

#[test]
pub(crate) fn user_add_refuses_a_name_confusable_with_a_user() {
    let env = Env::new();
    env.add_user("alice", PW);
    let listed = || env.cmd().args(["user", "list", "--json"]).exits(0).stdout;
    let before = listed();
    // A Cyrillic а, and a capital I for the l: refused, whichever way the password comes.
    for (name, shown) in [("\u{430}lice", "\\u{430}lice"), ("aIice", "aIice")] {
        let refused = format!(
            "jwtauth: user name \"{shown}\": confusable with the existing user \"alice\"\n"
        );
        env.cmd()
            .args(["user", "add", name, "--cost", "4", "--password-stdin"])
            .write_stdin(format!("{PW}\n"))
            .stderr_only(7, refused.clone());
        let hash = "$2b$04$Ldy4VhR1kqtn0ZHi0u1kXOIHUmOZ1EpDzDu0G7Bu7Du1cCsQqGKpC";
        env.cmd()
            .args(["user", "add", name, "--hash", hash])
            .stderr_only(7, refused);
        assert_eq!(listed(), before, "{name}");
        if env.store.is_none() {
            assert!(
                !String::from_utf8(bytes(&env.users()))
                    .unwrap()
                    .contains(name)
            );
        }
    }
    // Case is not folded, and names that only look different are fine.
    env.add_user("Alice", PW);
    env.add_user("alicia", PW);
    assert_eq!(names(&env), ["Alice", "alice", "alicia"]);
}

#[test]
fn a_refused_confusable_add_asks_for_no_password() {
    // Without --password-stdin and no terminal, a prompt would be a usage error (2): the
    // look-alike is refused before that.
    let env = Env::new();
    env.add_user("alice", PW);
    let out = env
        .cmd()
        .args(["user", "add", "\u{430}lice"])
        .write_stdin("")
        .exits(7);
    assert!(stderr(&out).contains("confusable"), "{}", stderr(&out));
}
