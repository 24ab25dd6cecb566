//! Tokens as people paste them (SPEC §15 "Output and input"): quotes, cookies, a `Cookie:`
//! header line and `login --json`'s / `POST /token`'s JSON answer are taken like a bare token
//! by `decode`, `verify` and `logout`, as an argument, alone on stdin and in a stream;
//! anything else says what it looks like. In a stream every line is answered, an empty one
//! too, so output line N answers input line N. (No TOKEN at a terminal: see `pty.rs`.)

use crate::common;

use common::{Env, Exits, json, json_lines, stderr_str, stdout_str};
use serde_json::{Value, json};

const PW: &str = "correct horse battery";

fn run(env: &Env, args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = env.cmd().args(args).write_stdin(stdin).output().unwrap();
    (
        out.status.code().expect("exit code"),
        stdout_str(&out),
        stderr_str(&out),
    )
}

/// The ways one token gets pasted, each taken like the bare token.
fn pasted_forms(token: &str, login_json: &str) -> Vec<String> {
    vec![
        token.to_string(),
        format!("\"{token}\""),
        format!("  ' {token} '  "),
        format!("'Authorization: Bearer {token}'"),
        format!("jwtauth_session={token}"),
        format!("jwtauth_session={token}; Path=/; HttpOnly; Secure; SameSite=Lax"),
        format!("Cookie: theme=dark; jwtauth_session={token}; lang=en"),
        format!("cookie:jwtauth_session={token}"),
        format!("Set-Cookie: jwtauth_session={token}; Path=/"),
        login_json.trim().to_string(),
        format!(r#"{{"token_type": "bearer", "access_token": "{token}", "expires_in": 900}}"#),
    ]
}

/// A token for alice, and `login --json`'s answer that holds another one.
fn alice(env: &Env) -> (String, String) {
    env.init();
    env.add_user("alice", PW);
    let token = env.login("alice", PW);
    let out = env
        .cmd()
        .args(["login", "alice", "--json", "--password-stdin"])
        .write_stdin(format!("{PW}\n"))
        .exits(0);
    (token, stdout_str(&out))
}

#[test]
fn decode_and_verify_take_pasted_tokens_like_bare_ones() {
    let env = Env::new();
    let (token, login_json) = alice(&env);
    let bare_decode = stdout_str(&env.cmd().args(["decode", "--json", &token]).exits(0));
    for form in pasted_forms(&token, &login_json) {
        // The login document holds a token of its own: same user, other jti.
        let from_login = form.starts_with('{') && !form.contains(&token);
        for args in [vec!["verify", form.as_str()], vec!["verify"]] {
            let stdin = if args.len() == 1 {
                format!("{form}\n")
            } else {
                String::new()
            };
            assert_eq!(
                run(&env, &args, &stdin),
                (0, "alice\n".into(), String::new()),
                "{args:?} {form:?}"
            );
        }
        let (code, out, err) = run(&env, &["decode", "--json", &form], "");
        assert_eq!((code, err.as_str()), (0, ""), "{form:?}");
        if !from_login {
            assert_eq!(out, bare_decode, "{form:?}");
        }
        // In a stream, each form on its own line, between bare tokens.
        for cmd in ["verify", "decode"] {
            assert_eq!(
                run(&env, &[cmd, "-"], &format!("{token}\n{form}\n{token}\n")),
                (0, "ok alice\nok alice\nok alice\n".into(), String::new()),
                "{cmd} - {form:?}"
            );
        }
    }
}

#[test]
fn logout_takes_pasted_tokens_like_bare_ones() {
    let env = Env::new();
    let (_, login_json) = alice(&env);
    // The login document, as an argument: that token is revoked.
    let token = json(login_json.as_bytes())["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.cmd()
        .args(["logout", login_json.trim()])
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(run(&env, &["verify", &token], "").0, 4);
    // A cookie on stdin, alone: revoked too.
    let t2 = env.login("alice", PW);
    env.cmd()
        .arg("logout")
        .write_stdin(format!("Cookie: a=b; jwtauth_session={t2}; c=d\n"))
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(run(&env, &["verify", &t2], "").0, 4);
    // A stream of pasted forms: each revoked, one result line each.
    let t3 = env.login("alice", PW);
    let t4 = env.login("alice", PW);
    let jti = |t: &str| {
        env.decoded(t)["payload"]["jti"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        run(
            &env,
            &["logout", "-"],
            &format!("\"{t3}\"\njwtauth_session={t4}; Path=/\n")
        ),
        (
            0,
            format!("ok {}\nok {}\n", jti(&t3), jti(&t4)),
            String::new()
        )
    );
    assert_eq!(run(&env, &["verify", &t3], "").0, 4);
    assert_eq!(run(&env, &["verify", &t4], "").0, 4);
}

#[test]
fn pasted_non_tokens_say_what_they_look_like() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice"]);
    for (given, why) in [
        ("", "token is empty"),
        ("''", "token is empty"),
        (
            "https://app.example/callback?code=abc",
            "this looks like a URL, not a token",
        ),
        (
            r#"{"token_type":"bearer","expires_in":900}"#,
            "this looks like a JSON document without access_token, not a token",
        ),
        (
            r#"{"access_token":["x"]}"#,
            "this looks like a JSON document whose access_token is not a string, not a token",
        ),
        (
            "jwtauth_session=; Path=/",
            "this looks like a cookie without a token, not a token",
        ),
        (
            "theme=dark",
            "this looks like a cookie without a token, not a token",
        ),
        (
            "Cookie: theme=dark; lang=en",
            "this looks like a Cookie header without jwtauth_session, not a token",
        ),
        (
            "Authorization: Basic YWxpY2U6cHc=",
            "this looks like an Authorization header without a Bearer token, not a token",
        ),
        (
            "Bearer ",
            "this looks like a Bearer prefix without a token, not a token",
        ),
        (
            "-----BEGIN PUBLIC KEY-----",
            "this looks like a PEM key or certificate, not a token",
        ),
    ] {
        let message = format!("jwtauth: invalid token: {why}\n");
        // As the argument of each command: exit 1, one line, nothing on stdout or on disk.
        for cmd in ["decode", "verify", "logout"] {
            env.cmd()
                .args([cmd, "--", given])
                .stderr_only(1, message.clone());
        }
        // Alone on stdin: the same (an empty line there is no token at all: see below).
        for cmd in ["decode", "verify", "logout"]
            .iter()
            .filter(|_| !given.is_empty())
        {
            env.cmd()
                .arg(cmd)
                .write_stdin(format!("{given}\n"))
                .stderr_only(1, message.clone());
        }
        // verify --json: the failed document says it too.
        let out = env.cmd().args(["verify", "--json", "--", given]).exits(1);
        assert_eq!(
            json(&out.stdout),
            json!({"valid": false, "exit_code": 1, "error": format!("invalid token: {why}")})
        );
        // In a stream (not for the empty forms: an empty line is answered as such).
        if !given.trim_matches('\'').is_empty() {
            assert_eq!(
                run(&env, &["verify", "-"], &format!("{token}\n{given}\n")),
                (
                    1,
                    format!("ok alice\nerror 1 invalid token: {why}\n"),
                    "jwtauth: invalid token: 1 of 2 tokens failed\n".into()
                ),
                "{given:?}"
            );
        }
    }
    assert!(!env.state().exists(), "a refused logout writes nothing");
    // A JSON document split over lines is not one line of a stream: it says so.
    let (code, out, _) = run(
        &env,
        &["verify", "-"],
        &format!("{{\n\"access_token\": \"{token}\"\n}}\n"),
    );
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with("error 1 invalid token: this looks like JSON that does not parse (")
            && first.contains("a JSON document in a stream must be on one line"),
        "{out:?}"
    );
}

#[test]
fn a_stream_answers_every_line_an_empty_one_too() {
    let env = Env::new();
    env.init();
    let a = env.mint(&["--sub", "a"]);
    let b = env.mint(&["--sub", "b"]);
    // Blank, whitespace-only and CRLF-only lines are each answered; the final newline ends
    // the last line and starts no other.
    let input = format!("{a}\n\n  \n{b}\r\n\r\n{a}\n");
    for cmd in ["verify", "decode"] {
        for args in [vec![cmd, "-"], vec![cmd]] {
            assert_eq!(
                run(&env, &args, &input),
                (
                    1,
                    "ok a\nerror 1 empty line\nerror 1 empty line\nok b\nerror 1 empty line\nok a\n"
                        .into(),
                    "jwtauth: invalid token: every token passed, but there were 3 empty lines\n"
                        .into()
                ),
                "{args:?}"
            );
        }
        let out = env
            .cmd()
            .args([cmd, "--json", "-"])
            .write_stdin(input.clone())
            .exits(1);
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 6, "{cmd}");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["line"], json!(i + 1), "{cmd}");
        }
        for i in [1, 2, 4] {
            assert_eq!(
                lines[i],
                json!({"line": i + 1, "exit_code": 1, "error": "empty line"}),
                "{cmd}"
            );
        }
        assert_eq!(lines[3]["exit_code"], 0);
    }
    // Without a final newline, the same; a failed token and an empty line are both counted.
    assert_eq!(
        run(&env, &["verify", "-"], &format!("{a}\n\nnot-a-token")),
        (
            1,
            "ok a\nerror 1 empty line\nerror 1 invalid token: expected 3 dot-separated parts (header.payload.signature), found 1\n".into(),
            "jwtauth: invalid token: 1 of 2 tokens failed, and there was 1 empty line\n".into()
        )
    );
    // A final newline is no empty line: all good is exit 0.
    assert_eq!(
        run(&env, &["verify", "-"], &format!("{a}\n{b}\n")),
        (0, "ok a\nok b\n".into(), String::new())
    );
    // Only empty lines: each answered, and no tokens at all is exit 1 as before.
    assert_eq!(
        run(&env, &["verify", "-"], "\n \n"),
        (
            1,
            "error 1 empty line\nerror 1 empty line\n".into(),
            "jwtauth: invalid token: no tokens on stdin\n".into()
        )
    );
    assert_eq!(
        run(&env, &["verify", "-"], ""),
        (
            1,
            String::new(),
            "jwtauth: invalid token: no tokens on stdin\n".into()
        )
    );
    // logout - answers empty lines too, and revokes the tokens around them.
    let (code, out, err) = run(&env, &["logout", "-"], &format!("{a}\n\n{b}\n"));
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[0].starts_with("ok ") && lines[2].starts_with("ok "));
    assert_eq!(lines[1], "error 1 empty line");
    assert_eq!(
        err,
        "jwtauth: invalid token: every token passed, but there was 1 empty line\n"
    );
    assert_eq!(run(&env, &["verify", &a], "").0, 4);
    assert_eq!(run(&env, &["verify", &b], "").0, 4);
    // One token alone among blank lines on stdin is still answered like an argument.
    let c = env.mint(&["--sub", "c"]);
    assert_eq!(
        run(&env, &["verify"], &format!("\n\n{c}\n\n")),
        (0, "c\n".into(), String::new())
    );
    let _: Value = json(
        &env.cmd()
            .args(["decode", "--json"])
            .write_stdin(format!("\n{c}\n"))
            .exits(0)
            .stdout,
    );
}
