//! No password, hash or key ever appears in the output of an error path.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::Env;

const PASSWORD: &str = "Sup3r-Secret-Passw0rd";
const OTHER_PASSWORD: &str = "0ther-Guess-Pa55";
const KEY: &str = "KEYMATERIAL-0123456789abcdef-KEYMATERIAL";
const WEAK_KEY: &str = "weak-KEYMATERIAL";

/// Runs a command and asserts it fails with `code` and that no secret is in stdout or stderr.
fn assert_no_secret(cmd: &mut assert_cmd::Command, code: i32, secrets: &[&str]) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "{text}");
    assert!(!out.stderr.is_empty(), "an error path says why");
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} leaked: {text}");
        // Not even a long piece of it (e.g. a hash's salt and digest).
        if s.len() > 24 {
            assert!(!text.contains(&s[7..29]), "part of {s:?} leaked: {text}");
        }
    }
}

fn setup() -> (Env, String) {
    let env = Env::new();
    fs::create_dir_all(env.secret().parent().unwrap()).unwrap();
    fs::write(env.secret(), format!("{KEY}\n")).unwrap();
    fs::set_permissions(env.secret(), fs::Permissions::from_mode(0o600)).unwrap();
    env.add_user("alice", PASSWORD);
    let users = fs::read_to_string(env.users()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&users).unwrap();
    let hash = v["users"]["alice"]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    (env, hash)
}

#[test]
fn login_failures_show_neither_password_nor_hash() {
    let (env, hash) = setup();
    let secrets = [PASSWORD, OTHER_PASSWORD, hash.as_str(), KEY];
    for name in ["alice", "nobody"] {
        assert_no_secret(
            env.cmd()
                .args(["login", name, "--password-stdin"])
                .write_stdin(format!("{OTHER_PASSWORD}\n")),
            5,
            &secrets,
        );
    }
    env.cmd()
        .args(["user", "disable", "alice"])
        .assert()
        .success();
    assert_no_secret(
        env.cmd()
            .args(["login", "alice", "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n")),
        5,
        &secrets,
    );
}

#[test]
fn password_rule_and_check_failures_do_not_echo_the_password() {
    let (env, hash) = setup();
    let long = format!("{PASSWORD}{}", "x".repeat(60));
    assert_no_secret(
        env.cmd()
            .args(["user", "add", "bob", "--cost", "4", "--password-stdin"])
            .write_stdin(format!("{long}\n")),
        2,
        &[&long, PASSWORD],
    );
    assert_no_secret(
        env.cmd()
            .args(["hash", "--check", &hash, "--password-stdin"])
            .write_stdin(format!("{OTHER_PASSWORD}\n")),
        1,
        &[OTHER_PASSWORD, &hash],
    );
    // A malformed hash given to --check / --hash is not echoed back either.
    let bad = format!("{}!", &hash[..59]);
    assert_no_secret(
        env.cmd()
            .args(["hash", "--check", &bad, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n")),
        2,
        &[PASSWORD, &bad],
    );
    assert_no_secret(
        env.cmd().args(["user", "add", "bob", "--hash", &bad]),
        2,
        &[&bad],
    );
    assert_no_secret(
        env.cmd()
            .args(["user", "passwd", "alice", "--cost", "4", "--password-stdin"])
            .write_stdin("\n"),
        2,
        &[&hash],
    );
}

#[test]
fn corrupt_users_files_do_not_show_the_hashes_in_them() {
    let (env, hash) = setup();
    let good = fs::read_to_string(env.users()).unwrap();
    // (file, whole-file error?) A bad record only fails the commands that read that record.
    let cases = [
        // Truncated in the middle of the hash.
        (good[..good.find(&hash).unwrap() + 40].to_string(), true),
        // The hash where a boolean belongs.
        (
            good.replace("\"disabled\": false", &format!("\"disabled\": \"{hash}\""))
                .replace("\"disabled\":false", &format!("\"disabled\":\"{hash}\"")),
            false,
        ),
        // The hash as a number-typed field.
        (
            good.replace(
                "\"created_at\":",
                &format!("\"created_at\": \"{hash}\", \"x\":"),
            ),
            false,
        ),
        // A version that is not 1, with the hash still in the file.
        (
            good.replace("\"version\": 1", "\"version\": 2")
                .replace("\"version\":1", "\"version\":2"),
            true,
        ),
    ];
    for (bad, whole) in cases {
        assert_ne!(bad, good);
        fs::write(env.users(), &bad).unwrap();
        for args in [
            &["user", "list"][..],
            &["user", "show", "alice"][..],
            &[
                "-q",
                "user",
                "add",
                "bob",
                "--cost",
                "4",
                "--password-stdin",
            ][..],
        ] {
            if !whole && args[1] == "user" && args[2] == "add" {
                continue;
            }
            assert_no_secret(
                env.cmd().args(args).write_stdin(format!("{PASSWORD}\n")),
                8,
                &[&hash, PASSWORD],
            );
        }
        assert_no_secret(
            env.cmd()
                .args(["login", "alice", "--password-stdin"])
                .write_stdin(format!("{PASSWORD}\n")),
            8,
            &[&hash, PASSWORD],
        );
        assert_eq!(fs::read_to_string(env.users()).unwrap(), bad);
    }
}

#[test]
fn key_errors_never_show_the_key() {
    let (env, _) = setup();
    let weak = env.path().join("weak");
    fs::write(&weak, WEAK_KEY).unwrap();
    fs::set_permissions(&weak, fs::Permissions::from_mode(0o600)).unwrap();
    assert_no_secret(
        env.cmd()
            .arg("--key")
            .arg(&weak)
            .args(["mint", "--sub", "x"]),
        8,
        &[WEAK_KEY],
    );
    assert_no_secret(
        env.cmd()
            .env("JWT_SECRET_KEY", WEAK_KEY)
            .args(["mint", "--sub", "x"]),
        8,
        &[WEAK_KEY],
    );
    // A token signed with another key, checked with ours: no key in the message.
    let token = env
        .cmd()
        .env("JWT_SECRET_KEY", "another-key-of-enough-length-0123456789")
        .args(["mint", "--sub", "x"])
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap();
    assert_no_secret(env.cmd().args(["verify", token.trim()]), 1, &[KEY]);
    assert_no_secret(env.cmd().args(["logout", token.trim()]), 1, &[KEY]);
    // An unknown algorithm file next to the key, and a PEM-looking key.
    fs::write(env.path().join("config/jwtauth/secret.alg"), "XX999\n").unwrap();
    assert_no_secret(env.cmd().args(["mint", "--sub", "x"]), 8, &[KEY]);
    let pem = env.path().join("pem");
    let pem_body = format!("-----BEGIN PRIVATE KEY-----\n{KEY}\n-----END PRIVATE KEY-----\n");
    fs::write(&pem, &pem_body).unwrap();
    fs::set_permissions(&pem, fs::Permissions::from_mode(0o600)).unwrap();
    assert_no_secret(
        env.cmd()
            .arg("--key")
            .arg(&pem)
            .args(["mint", "--sub", "x"]),
        8,
        &[KEY],
    );
}

#[test]
fn listing_users_never_shows_hashes_without_with_hash() {
    let (env, hash) = setup();
    for args in [
        &["user", "list"][..],
        &["user", "list", "--json"][..],
        &["user", "show", "alice"][..],
        &["--json", "user", "show", "alice"][..],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(&hash), "{args:?}: {text}");
    }
}

/// The subcommand names listed under `Commands:` in a help text (`help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Runs `jwtauth … --help` for every help page, found by walking the `Commands:` lists from
/// the top, with `env_vars` set; calls `page` with each page's command path and text, and
/// returns how many pages there were.
fn each_help_page(env_vars: &[(&str, &str)], mut page: impl FnMut(&[String], &str)) -> usize {
    let env = Env::new();
    let mut todo = vec![Vec::<String>::new()];
    let mut pages = 0;
    while let Some(path) = todo.pop() {
        let mut cmd = env.cmd();
        for (k, v) in env_vars {
            cmd.env(k, v);
        }
        let out = cmd.args(&path).arg("--help").output().unwrap();
        let help = common::stdout_str(&out);
        assert_eq!(out.status.code(), Some(0), "{path:?}: {help}");
        page(&path, &help);
        pages += 1;
        for sub in subcommands(&help) {
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
    }
    pages
}

#[test]
fn help_never_shows_a_redis_password_from_the_environment() {
    let password = "Redis-Pa55-In-The-Env";
    let users = format!("redis://:{password}@127.0.0.1:1/0");
    let state = format!("rediss://u:{password}@db.example/1");
    let vars = [("JWTAUTH_USERS", &*users), ("JWTAUTH_STATE", &*state)];
    let pages = each_help_page(&vars, |path, help| {
        assert!(!help.contains(password), "{path:?} --help: {help}");
        assert!(help.contains("[env: JWTAUTH_USERS]"), "{path:?}: {help}");
        assert!(help.contains("Global options:"), "{path:?}: {help}");
    });
    assert!(pages > 25, "walked only {pages} help pages");
}

// ----- no --help example puts a password where ps or the shell history shows it (SPEC §6) ------

/// Why `line` shows a literal password on a command line, if it does: `echo`/`printf` of a
/// literal piped into `--password-stdin`, a `--password` flag, htpasswd's batch mode (`-b`),
/// or `curl -u name:password`.
fn password_on_display(line: &str) -> Option<&'static str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        if *w == "--password" || w.starts_with("--password=") {
            return Some("a --password flag");
        }
        if w.ends_with("htpasswd")
            && next.starts_with('-')
            && !next.starts_with("--")
            && next.contains('b')
        {
            return Some("htpasswd -b takes the password as an argument");
        }
        if (*w == "-u" || *w == "--user") && next.contains(':') {
            return Some("curl -u NAME:PASSWORD");
        }
    }
    let segments: Vec<&str> = line.split('|').collect();
    for pair in segments.windows(2) {
        let (source, reader) = (pair[0], pair[1]);
        if !reader.contains("--password-stdin") {
            continue;
        }
        // The last echo or printf before the pipe, with its arguments: a password from a
        // variable ("$PASSWORD") is fine, a literal one is not.
        let start = ["echo ", "printf "]
            .iter()
            .filter_map(|c| source.rfind(c))
            .max();
        if let Some(start) = start
            && !source[start..].contains('$')
        {
            return Some("a literal password piped into --password-stdin");
        }
    }
    None
}

#[test]
fn no_help_example_shows_a_literal_password() {
    // The checker itself catches what the examples used to say.
    for bad in [
        "  printf 'pw\\n' | jwtauth user add alice --password-stdin",
        "  TOKEN=$(printf 'pw\\n' | jwtauth login alice --password-stdin)",
        "  echo 'pw' | jwtauth hash --password-stdin --user alice",
        "  echo \"s3cret\" | jwtauth user check alice --password-stdin && echo correct",
        "  jwtauth user add carol --hash \"$(htpasswd -nbB carol pw | cut -d: -f2)\"",
        "  htpasswd -vb site.htpasswd alice 'pw'",
        "  curl -s -u alice:PASSWORD -X POST http://127.0.0.1:8080/token",
        "  jwtauth login alice --password hunter2",
    ] {
        assert!(password_on_display(bad).is_some(), "not caught: {bad}");
    }
    for fine in [
        "  printf '%s\\n' \"$PASSWORD\" | jwtauth login alice --password-stdin --ttl 1h",
        "  jwtauth user check alice --password-stdin < password.txt && echo correct",
        "  echo '{\"sub\":\"old\"}' | jwtauth mint --payload -",
        "  jwtauth user add carol --hash \"$(htpasswd -nB carol | cut -d: -f2)\"",
        "  curl -s -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/protected",
    ] {
        assert_eq!(password_on_display(fine), None, "{fine}");
    }

    let mut stdin_examples = 0;
    let pages = each_help_page(&[], |path, help| {
        for line in help.lines() {
            if let Some(why) = password_on_display(line) {
                panic!("jwtauth {} --help: {why}:\n{line}", path.join(" "));
            }
            if line.contains("| jwtauth") && line.contains("--password-stdin") {
                stdin_examples += 1;
            }
        }
    });
    assert!(pages > 25, "walked only {pages} help pages");
    assert!(
        stdin_examples > 0,
        "no --password-stdin example was looked at"
    );
}
