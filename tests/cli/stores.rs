//! The same command-line assertions on both stores (SPEC §10: "semantics are those of the file
//! store"): every test here runs once on the default files and once on a Redis server of its
//! own (`common::redis`), so the two stores cannot drift.
use crate::common;

use common::redis::RedisServer;
use common::{Env, Exits, json, json_lines, stderr_str, stdout_str};
use predicates::str::contains;
use serde_json::Value;

const PW: &str = "alice-Pw-7gQ!zX";
const HASH4: &str = "$2b$04$Ldy4VhR1kqtn0ZHi0u1kXOIHUmOZ1EpDzDu0G7Bu7Du1cCsQqGKpC";

/// Tests of other modules, written for the default files, run again on a Redis server of
/// their own (`common::on_store` points every `Env::new()` of the test at it): those that
/// assert only through the commands (the others read the files themselves; what they check
/// is covered on both stores below).
macro_rules! also_on_redis {
    ($($name:ident => $test:path),* $(,)?) => {
        mod existing_on_redis {
            $( #[test] fn $name() {
                let Some(server) = super::RedisServer::start() else { return };
                crate::common::on_store(&server.url(), $test);
                drop(server);
            } )*
        }
    };
}

also_on_redis!(
    user_check => crate::users::user_check_is_exit_0_on_a_match_and_says_so_on_stderr,
    user_set_group_revokes => crate::users::user_set_taking_a_group_away_revokes_earlier_tokens_adding_one_does_not,
    show_and_list_groups => crate::users::show_and_list_display_groups_in_text_and_json,
    login_token_groups => crate::users::a_login_token_carries_the_users_groups,
    classic_flow => crate::tokens::classic_flow_login_verify_logout,
    login_json_shape => crate::tokens::login_json_shape_and_default_ttl,
    expired_and_leeway => crate::tokens::expired_not_yet_valid_and_leeway,
    verify_batch_ten_thousand => crate::tokens::verify_batch_of_ten_thousand_tokens,
    verify_batch_answers_each_line => crate::tokens::verify_batch_answers_each_line_before_the_input_ends,
    stream_sees_a_later_logout => crate::stream::verify_stream_sees_a_logout_made_by_another_process_after_it_started,
    stream_judges_by_the_time_read => crate::stream::verify_stream_judges_each_token_by_the_time_it_is_read,
    logout_from_stdin => crate::tokens::logout_reads_the_token_from_stdin,
    nfd_names => crate::usernames::a_name_typed_in_nfd_is_stored_in_nfc_and_found_either_way,
    confusable_add => crate::usernames::user_add_refuses_a_name_confusable_with_a_user,
    json_import_round_trip => crate::user_import::user_export_json_imports_back_as_it_was,
    confusable_import => crate::user_import::import_skips_names_confusable_with_a_user_or_an_earlier_line,
    logout_all_needs_a_user_or_force => crate::users::logout_all_of_a_name_that_is_no_user_is_exit_6_unless_forced,
);

on_both_stores!(
    user_add_list_show_and_exists,
    user_set_passwd_check_disable_enable_remove,
    user_import_adds_keeps_and_replaces,
    login_verify_logout_and_logout_all,
    password_change_disable_and_remove_revoke_tokens,
    batch_verify_and_batch_logout,
    revocations_list_and_prune,
    concurrent_adds_of_one_name_give_one_success,
    concurrent_writers_lose_nothing,
);

fn setup(env: &Env) {
    env.init();
    env.add_user("alice", PW);
}

fn user_add_list_show_and_exists(env: &Env) {
    setup(env);
    env.cmd()
        .args(["user", "add", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("x-Pw-1234567\n")
        .stderr_only(7, contains("user already exists: alice"));
    env.cmd()
        .args(["user", "add", "bob", "--hash", HASH4])
        .args(["--full-name", "Bob B", "--email", "bob@example.com"])
        .exits(0);
    let list = json(&env.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    let names: Vec<&str> = list["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["username"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(list["users"][0].get("hashed_password").is_none());
    let bob = json(
        &env.cmd()
            .args(["user", "show", "bob", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(bob["full_name"], "Bob B");
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["disabled"], false);
    assert!(bob.get("hashed_password").is_none());
    let with_hash = json(
        &env.cmd()
            .args(["user", "show", "bob", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    assert_eq!(with_hash["hashed_password"], HASH4);
    env.cmd()
        .args(["user", "show", "carol"])
        .stderr_only(6, contains("no such user: carol"));
    let text = stdout_str(&env.cmd().args(["user", "list"]).exits(0));
    assert!(text.contains("alice") && text.contains("Bob B"), "{text}");
}

fn user_set_passwd_check_disable_enable_remove(env: &Env) {
    setup(env);
    env.cmd()
        .args(["user", "set", "alice", "--full-name", "Alice L"])
        .args([
            "--email",
            "a@example.com",
            "--group",
            "admins",
            "--group",
            "dev",
        ])
        .exits(0);
    let a = json(
        &env.cmd()
            .args(["user", "show", "alice", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(a["full_name"], "Alice L");
    assert_eq!(a["groups"], serde_json::json!(["admins", "dev"]));
    // Clearing one field leaves the others.
    env.cmd()
        .args(["user", "set", "alice", "--full-name", ""])
        .exits(0);
    let a = json(
        &env.cmd()
            .args(["user", "show", "alice", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(a["full_name"], Value::Null);
    assert_eq!(a["email"], "a@example.com");
    // The login token carries the groups.
    let t = env.login("alice", PW);
    assert_eq!(
        env.decoded(&t)["payload"]["groups"],
        serde_json::json!(["admins", "dev"])
    );
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin("wrong-Pw-123\n")
        .stderr_only(5, contains("login refused"));
    env.cmd()
        .args(["user", "passwd", "alice", "--cost", "4", "--password-stdin"])
        .write_stdin("new-Pw-7654321\n")
        .exits(0);
    env.cmd()
        .args(["user", "check", "alice", "--password-stdin"])
        .write_stdin("new-Pw-7654321\n")
        .exits(0);
    env.cmd().args(["user", "disable", "alice"]).exits(0);
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("new-Pw-7654321\n")
        .stderr_only(
            5,
            contains("jwtauth: login refused: incorrect username or password"),
        );
    env.cmd().args(["user", "enable", "alice"]).exits(0);
    env.login("alice", "new-Pw-7654321");
    env.cmd().args(["user", "remove", "alice"]).exits(0);
    env.cmd().args(["user", "remove", "alice"]).exits(6);
    env.cmd().args(["user", "disable", "nobody"]).exits(6);
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("new-Pw-7654321\n")
        .exits(5);
}

fn user_import_adds_keeps_and_replaces(env: &Env) {
    setup(env);
    let other = "$2y$04$Ldy4VhR1kqtn0ZHi0u1kXOIHUmOZ1EpDzDu0G7Bu7Du1cCsQqGKpC";
    let file = env.path().join("htpasswd");
    std::fs::write(
        &file,
        format!("alice:{other}\ncarol:{HASH4}\ndave:!{HASH4}\nerin:$apr1$x$y\n"),
    )
    .expect("write htpasswd");
    let out = json(
        &env.cmd()
            .args(["user", "import", "--json"])
            .arg(&file)
            .exits(0)
            .stdout,
    );
    assert_eq!(
        out["imported"],
        serde_json::json!(["carol", "dave"]),
        "{out}"
    );
    let alice = json(
        &env.cmd()
            .args(["user", "show", "alice", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    assert_ne!(alice["hashed_password"], other, "kept without --replace");
    let dave = json(
        &env.cmd()
            .args(["user", "show", "dave", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(dave["disabled"], true);
    env.cmd()
        .args(["user", "import", "--replace"])
        .arg(&file)
        .exits(0);
    let alice = json(
        &env.cmd()
            .args(["user", "show", "alice", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    assert_eq!(alice["hashed_password"], other);
}

fn login_verify_logout_and_logout_all(env: &Env) {
    setup(env);
    let t = env.login("alice", PW);
    let out = env.cmd().args(["verify", &t]).exits(0);
    assert_eq!(stdout_str(&out).trim(), "alice");
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("wrong-Pw-123\n")
        .stderr_only(5, contains("login refused"));
    env.cmd()
        .args(["login", "mallory", "--password-stdin"])
        .write_stdin("wrong-Pw-123\n")
        .stderr_only(5, contains("login refused"));
    let t2 = env.login("alice", PW);
    env.cmd().args(["logout", &t]).exits(0);
    env.cmd()
        .args(["verify", &t])
        .stderr_only(4, contains("token revoked: this token was logged out"));
    env.cmd().args(["verify", &t2]).exits(0);
    // A login token logged out again is a success, said so: its session had already
    // ended (SPEC §13). A token without a session cannot (it is verified first).
    env.cmd()
        .args(["logout", &t])
        .stderr_only(0, contains("its session had already ended"));
    let minted = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &minted]).exits(0);
    env.cmd().args(["logout", &minted]).exits(4);
    env.cmd().args(["logout", "--all", "alice"]).exits(0);
    env.cmd()
        .args(["verify", &t2])
        .stderr_only(4, contains("every token of \"alice\" issued up to"));
    // A new login after "log out everywhere" is never born revoked.
    let t3 = env.login("alice", PW);
    env.cmd().args(["verify", &t3]).exits(0);
    // `logout --all --force` takes any subject; a minted token of it is revoked.
    let m = env.mint(&["--sub", "svc", "--iat", "1000000000", "--exp", "4000000000"]);
    env.cmd()
        .args(["logout", "--all", "svc", "--force"])
        .exits(0);
    env.cmd().args(["verify", &m]).exits(4);
    // Verification refusals that are no revocation are the same on both stores.
    let expired = env.mint(&[
        "--sub",
        "carol",
        "--iat",
        "1000000000",
        "--exp",
        "1000000100",
    ]);
    env.cmd().args(["verify", &expired]).exits(3);
    env.cmd().args(["verify", "not.a.token"]).exits(1);
    env.cmd().args(["verify", "--no-revocation", &t]).exits(0);
}

fn password_change_disable_and_remove_revoke_tokens(env: &Env) {
    setup(env);
    for (i, step) in ["passwd", "disable", "remove"].iter().enumerate() {
        let name = format!("u{i}");
        env.add_user(&name, PW);
        let t = env.login(&name, PW);
        env.cmd().args(["verify", &t]).exits(0);
        let mut cmd = env.cmd();
        cmd.args(["user", step, &name]);
        if *step == "passwd" {
            cmd.args(["--cost", "4", "--password-stdin"])
                .write_stdin("other-Pw-98765\n");
        }
        cmd.exits(0);
        env.cmd().args(["verify", &t]).exits(4);
    }
}

fn batch_verify_and_batch_logout(env: &Env) {
    setup(env);
    let tokens: Vec<String> = (0..5).map(|_| env.login("alice", PW)).collect();
    env.cmd().args(["logout", &tokens[1]]).exits(0);
    env.cmd()
        .args(["logout", "-"])
        .write_stdin(format!("{}\n", tokens[3]))
        .exits(0);
    // Many lines, so a remote store prefetches them in one round trip.
    let mut input = String::new();
    for _ in 0..60 {
        for t in &tokens {
            input.push_str(t);
            input.push('\n');
        }
    }
    input.push_str("garbage\n");
    let out = env
        .cmd()
        .args(["verify", "-", "--json"])
        .write_stdin(input)
        .exits(1);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 301);
    for (i, l) in lines.iter().enumerate().take(300) {
        let want = if i % 5 == 1 || i % 5 == 3 { 4 } else { 0 };
        assert_eq!(l["exit_code"], want, "line {}: {l}", i + 1);
        assert_eq!(l["line"], i + 1);
    }
    assert_eq!(lines[300]["exit_code"], 1);
    let text = env
        .cmd()
        .args(["verify", "-"])
        .write_stdin(format!("{}\n{}\n", tokens[0], tokens[1]))
        .exits(1);
    let text = stdout_str(&text);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ok alice"));
    assert!(lines.next().is_some_and(|l| l.starts_with("error 4 ")));
}

fn revocations_list_and_prune(env: &Env) {
    setup(env);
    let empty = json(
        &env.cmd()
            .args(["revocations", "list", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(empty, serde_json::json!({"tokens": [], "users": []}));
    let t = env.login("alice", PW);
    env.cmd().args(["logout", &t]).exits(0);
    env.cmd()
        .args(["logout", "--all", "bob", "--force"])
        .exits(0);
    let jti = env.decoded(&t)["payload"]["jti"].clone();
    let exp = env.decoded(&t)["payload"]["exp"].clone();
    let list = json(
        &env.cmd()
            .args(["revocations", "list", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(
        list["tokens"],
        serde_json::json!([{"jti": jti, "exp": exp}])
    );
    assert_eq!(list["users"][0]["sub"], "bob");
    assert!(list["users"][0]["revoked_at"].as_i64().is_some());
    let out = env.cmd().args(["revocations", "prune"]).exits(0);
    assert!(
        stderr_str(&out).contains("pruned 0"),
        "{}",
        stderr_str(&out)
    );
    // Live entries stay.
    let again = json(
        &env.cmd()
            .args(["revocations", "list", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(again, list);
}

fn concurrent_adds_of_one_name_give_one_success(env: &Env) {
    env.init();
    let children: Vec<_> = (0..12)
        .map(|_| {
            let mut c = env.std_cmd();
            c.args(["user", "add", "dup", "--hash", HASH4])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            c.spawn().expect("spawn")
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|mut c| c.wait().expect("wait").code().expect("exit code"))
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 7).count(), 11, "{codes:?}");
}

fn concurrent_writers_lose_nothing(env: &Env) {
    setup(env);
    let tokens: Vec<String> = (0..10).map(|_| env.login("alice", PW)).collect();
    let mut children = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let mut c = env.std_cmd();
        c.args(["user", "add", &format!("w{i}"), "--hash", HASH4]);
        children.push(c);
        let mut c = env.std_cmd();
        c.args(["logout", token]);
        children.push(c);
        let mut c = env.std_cmd();
        c.args(["user", "set", "alice", "--add-group", &format!("g{i}")]);
        children.push(c);
    }
    let running: Vec<_> = children
        .iter_mut()
        .map(|c| {
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in running {
        assert_eq!(c.wait().expect("wait").code(), Some(0));
    }
    let list = json(&env.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    assert_eq!(list["users"].as_array().expect("users").len(), 11);
    let alice = json(
        &env.cmd()
            .args(["user", "show", "alice", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(
        alice["groups"].as_array().expect("groups").len(),
        10,
        "{alice}"
    );
    for t in &tokens {
        env.cmd().args(["verify", t]).exits(4);
    }
}
