//! User experience: help with examples, typo suggestions, version, completions, man page,
//! human decode output, and htpasswd import/export.
use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Env, Exits};
use common::{stderr_str as stderr, stdout_str as stdout};
use serde_json::json;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Every command and subcommand, as argument lists.
const COMMANDS: &[&[&str]] = &[
    &[],
    &["init"],
    &["hash"],
    &["user"],
    &["user", "add"],
    &["user", "list"],
    &["user", "show"],
    &["user", "passwd"],
    &["user", "check"],
    &["user", "set"],
    &["user", "disable"],
    &["user", "enable"],
    &["user", "remove"],
    &["user", "import"],
    &["user", "export"],
    &["login"],
    &["refresh"],
    &["sessions"],
    &["sessions", "list"],
    &["sessions", "revoke"],
    &["mint"],
    &["verify"],
    &["decode"],
    &["logout"],
    &["revocations"],
    &["revocations", "list"],
    &["revocations", "prune"],
    &["jwks"],
    &["keys"],
    &["keys", "list"],
    &["keys", "retire"],
    &["paths"],
    &["config"],
    &["serve"],
    &["migrate"],
    &["completions"],
    &["man"],
];

#[test]
fn every_command_has_help_with_summary_usage_and_examples() {
    let env = Env::new();
    for path in COMMANDS {
        let out = env
            .cmd()
            .args(*path)
            .arg("--help")
            .assert()
            .code(0)
            .stderr("")
            .get_output()
            .clone();
        let text = stdout(&out);
        let usage = format!(
            "Usage: jwtauth{}",
            path.iter().map(|p| format!(" {p}")).collect::<String>()
        );
        assert!(text.contains(&usage), "{path:?}: no {usage:?} in\n{text}");
        let first = text.lines().next().unwrap_or("");
        assert!(
            !first.is_empty() && !first.ends_with('.'),
            "{path:?}: summary line {first:?}"
        );
        let (_, examples) = text
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{path:?}: no Examples block in\n{text}"));
        let lines: Vec<&str> = examples
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert!(
            (2..=3).contains(&lines.len()),
            "{path:?}: {} examples: {lines:?}",
            lines.len()
        );
        assert!(lines[0].contains("jwtauth"), "{path:?}: {lines:?}");
    }
}

#[test]
fn short_help_is_a_summary_of_the_long_help() {
    let env = Env::new();
    let short = env.cmd().args(["decode", "-h"]).exits(0);
    let long = env.cmd().args(["decode", "--help"]).exits(0);
    assert!(stdout(&short).len() < stdout(&long).len());
    assert!(stdout(&long).contains("Exit 0 even for an expired token"));
}

#[test]
fn argument_docs_are_shown() {
    Env::new()
        .cmd()
        .args(["user", "add", "--help"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "User name (1-64 characters, no whitespace or control characters)",
        ));
}

#[test]
fn version_prints_name_and_version() {
    let expected = format!("jwtauth {}\n", env!("CARGO_PKG_VERSION"));
    let env = Env::new();
    env.cmd()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(expected.clone())
        .stderr("");
    env.cmd()
        .arg("-V")
        .assert()
        .code(0)
        .stdout(expected.clone())
        .stderr("");
}

#[test]
fn typos_get_suggestions_and_exit_2() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (&["logn"], "'login'"),
        (&["verfy"], "'verify'"),
        (&["user", "ad"], "'add'"),
        (&["user", "imprt", "f"], "'import'"),
        (&["login", "alice", "--tll", "5m"], "'--ttl'"),
        (&["mint", "--subj", "x"], "'--sub'"),
    ];
    for (args, hint) in cases {
        let out = env
            .cmd()
            .args(*args)
            .assert()
            .code(2)
            .stdout("")
            .get_output()
            .clone();
        let err = stderr(&out);
        assert!(err.starts_with("jwtauth: usage: "), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(hint), "{args:?}: {err}");
    }
}

#[test]
fn completions_for_every_shell() {
    let env = Env::new();
    let cases = [
        ("bash", "_jwtauth()"),
        ("zsh", "#compdef jwtauth"),
        ("fish", "complete -c jwtauth"),
        ("elvish", "edit:completion:arg-completer[jwtauth]"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    for (shell, marker) in cases {
        let out = env
            .cmd()
            .args(["completions", shell])
            .assert()
            .code(0)
            .stderr("")
            .get_output()
            .clone();
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: no {marker:?}");
        for word in ["login", "verify", "import", "password-stdin"] {
            assert!(text.contains(word), "{shell}: no {word:?}");
        }
    }
    env.cmd()
        .args(["completions", "tcsh"])
        .stderr_only(2, predicates::str::contains("invalid value 'tcsh'"));
}

#[test]
fn bash_completion_script_is_valid_bash_and_completes_subcommands() {
    let env = Env::new();
    let script = env.path().join("jwtauth.bash");
    let out = env.cmd().args(["completions", "bash"]).exits(0);
    std::fs::write(&script, &out.stdout).expect("write script");
    // Source it and ask the completion function for `jwtauth us<TAB>` and `jwtauth user <TAB>`.
    let probe = format!(
        "source {}; COMP_WORDS=(jwtauth us); COMP_CWORD=1; _jwtauth jwtauth us jwtauth; \
         echo \"${{COMPREPLY[*]}}\"; \
         COMP_WORDS=(jwtauth user ''); COMP_CWORD=2; _jwtauth jwtauth '' user; echo \"${{COMPREPLY[*]}}\"",
        script.display()
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user"));
    let subs = lines.next().unwrap_or("");
    for s in ["add", "list", "import", "export", "disable"] {
        assert!(subs.split(' ').any(|w| w == s), "no {s} in {subs:?}");
    }
}

#[test]
fn man_page_covers_every_subcommand() {
    let env = Env::new();
    let out = env
        .cmd()
        .arg("man")
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let text = stdout(&out);
    let titles: Vec<&str> = text.lines().filter(|l| l.starts_with(".TH ")).collect();
    assert!(titles[0].starts_with(".TH jwtauth 1 "), "{titles:?}");
    // The top page's title comes before any of its sections.
    assert!(text.find(".TH jwtauth 1 ") < text.find(".SH "));
    for path in &COMMANDS[1..] {
        let page = format!(".TH jwtauth-{} 1 ", path.join("-"));
        assert!(titles.iter().any(|t| t.starts_with(&page)), "no {page:?}");
    }
    assert_eq!(titles.len(), COMMANDS.len());
    for needle in [
        "\\-\\-password\\-stdin",
        "\\-\\-replace",
        "\\-\\-no\\-revocation",
        "jwtauth user import \\-\\-replace site.htpasswd",
    ] {
        assert!(text.contains(needle), "no {needle:?}");
    }
    // Every page carries its examples.
    assert_eq!(
        text.matches("\n.SH EXTRA\nExamples:\n").count(),
        COMMANDS.len()
    );
}

#[test]
fn man_page_renders_with_man_when_available() {
    let env = Env::new();
    let page = env.path().join("jwtauth.1");
    let out = env.cmd().arg("man").exits(0);
    std::fs::write(&page, &out.stdout).expect("write page");
    let Ok(rendered) = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
    else {
        common::skip("man (man-db) not installed");
        return;
    };
    if !rendered.status.success() {
        common::skip(&format!("man -l failed: {}", stderr(&rendered)));
        return;
    }
    let text = stdout(&rendered);
    for s in ["jwtauth-user-import", "jwtauth-verify", "--password-stdin"] {
        assert!(text.contains(s), "rendered man page lacks {s:?}");
    }
}

// ---- human output -------------------------------------------------------------------------

#[test]
fn decode_text_shows_header_claims_and_relative_times() {
    let env = Env::new();
    env.init();
    let t = now();
    let (iat, exp) = (t - 4 * 3600, t - 3 * 3600 - 30);
    let token = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        &iat.to_string(),
        "--exp",
        &exp.to_string(),
        "--claim",
        "role=admin",
        "--claim",
        "scopes=[\"a\",\"b\"]",
    ]);
    let out = env
        .cmd()
        .args(["decode", &token])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..4], ["Header", "  alg  HS256", "  typ  JWT", ""]);
    assert_eq!(lines[4], "Claims");
    let claim = |k: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{k} ")))
            .unwrap_or_else(|| panic!("no {k} line in\n{text}"))
            .to_string()
    };
    assert_eq!(
        claim("sub").split_whitespace().collect::<Vec<_>>(),
        ["sub", "alice"]
    );
    assert_eq!(
        claim("role").split_whitespace().collect::<Vec<_>>(),
        ["role", "admin"]
    );
    assert_eq!(
        claim("scopes").split_whitespace().collect::<Vec<_>>(),
        ["scopes", "[\"a\",\"b\"]"]
    );
    let utc = |s: i64| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &format!("@{s}"), "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .expect("date");
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        claim("exp").split_whitespace().collect::<Vec<_>>(),
        ["exp", &exp.to_string(), &utc(exp), "expired", "3h", "ago"]
    );
    assert_eq!(
        claim("iat").split_whitespace().collect::<Vec<_>>(),
        ["iat", &iat.to_string(), &utc(iat), "issued", "4h", "ago"]
    );
    assert!(
        text.ends_with(
            "\n\nAlgorithm: HS256 (HMAC, shared secret)\nStatus: expired 3h ago\nSignature: not checked (use 'jwtauth verify')\n"
        )
    );
    // Piped: no colour.
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn decode_text_says_expires_in_and_not_yet_valid() {
    let env = Env::new();
    env.init();
    let t = now();
    let token = env.mint(&["--sub", "bob", "--exp", &(t + 14 * 60 + 40).to_string()]);
    env.cmd()
        .args(["decode", &token])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("  expires in 14m\n"))
        .stdout(predicates::str::contains(
            "\nStatus: not expired (expires in 14m)\n",
        ));
    let token = env.mint(&[
        "--sub",
        "bob",
        "--nbf",
        &(t + 2 * 3600 + 40).to_string(),
        "--ttl",
        "7d",
    ]);
    env.cmd()
        .args(["decode", &token])
        .assert()
        .code(0)
        // Issue 11.13: "not valid until <UTC> (in 2h)", not "not valid before in 2h".
        .stdout(predicates::str::contains("  not valid until "))
        .stdout(predicates::str::contains("Z (in 2h)\n"))
        .stdout(predicates::str::contains(
            "\nStatus: not yet valid (starts in 2h)\n",
        ));
}

#[test]
fn decode_text_never_prints_control_characters_from_the_token() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "x\u{1b}[2Jy", "--claim", "k=\"\\u0007bell\""]);
    let out = env.cmd().args(["decode", &token]).exits(0);
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    // SPEC §8: escaped as `\u{1b}`, not JSON-quoted.
    assert!(text.contains("x\\u{1b}[2Jy"), "{text}");
    assert!(text.contains("\\u{7}bell"), "{text}");
}

#[test]
fn decode_json_shape_is_stable() {
    let env = Env::new();
    env.init();
    let token = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1700000000",
        "--exp",
        "1700000900",
    ]);
    let out = env
        .cmd()
        .args(["decode", "--json", &token])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let v = common::json(&out.stdout);
    let signature = token.rsplit('.').next().unwrap();
    assert_eq!(v["header"], json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(v["signature"], json!(signature));
    assert_eq!(v["payload"]["sub"], json!("alice"));
    assert_eq!(v["payload"]["exp"], json!(1700000900));
    assert_eq!(v.as_object().unwrap().len(), 3);
}

#[test]
fn verify_text_stdout_is_only_the_subject_even_with_human_detail_available() {
    let env = Env::new();
    env.init();
    let token = env.mint(&["--sub", "alice", "--claim", "role=admin"]);
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(0)
        .stdout("alice\n")
        .stderr("");
}

// ---- htpasswd import / export ---------------------------------------------------------------

/// A bcrypt hash of `pw` at cost 4, made by jwtauth itself.
fn hash(env: &Env, pw: &str) -> String {
    let out = env
        .cmd()
        .args(["hash", "--cost", "4", "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .exits(0);
    stdout(&out).trim().to_string()
}

fn login_code(env: &Env, name: &str, pw: &str) -> i32 {
    env.cmd()
        .args(["login", name, "--password-stdin"])
        .write_stdin(format!("{pw}\n"))
        .output()
        .expect("run")
        .status
        .code()
        .expect("exit code")
}

#[test]
fn import_takes_supported_lines_and_skips_the_rest_with_a_summary() {
    let env = Env::new();
    env.add_user("carol", "old");
    let users_before = common::bytes(&env.users());
    let h = hash(&env, "pw");
    let hy = h.replacen("$2b$", "$2y$", 1);
    let ha = h.replacen("$2b$", "$2a$", 1);
    let file = env.path().join("site.htpasswd");
    std::fs::write(
        &file,
        format!(
            "alice:{hy}\nbob:{ha}\nmd5:$apr1$FnfyviYu$q3Nq616udBrmPCku0CCzs1\n\
             sha:{{SHA}}GpHWL3ymc5liWkNopqtdSjuqYHM=\ndes:VkW14JL15w4Wg\n\
             bad name:{h}\ncarol:{h}\nlocked:!{h}\n"
        ),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["user", "import", "site.htpasswd"])
        .assert()
        .code(0)
        .stdout("")
        .get_output()
        .clone();
    assert_eq!(
        stderr(&out),
        // Legacy hashes ($apr1$, {SHA}) import too (SPEC §15); DES crypt does not.
        "jwtauth: site.htpasswd:5: \"des\" skipped: crypt or plain text hash, not supported\n\
         jwtauth: site.htpasswd:6: \"bad name\" skipped: invalid user name: must not contain whitespace or control characters\n\
         jwtauth: site.htpasswd:7: \"carol\" skipped: user already exists (use --replace)\n\
         jwtauth: imported 5, skipped 3: 1 crypt or plain text, 1 existing user, 1 invalid user name\n"
    );
    assert_ne!(common::bytes(&env.users()), users_before);
    // The hashes are kept as they were ($2y$/$2a$ included).
    let out = env
        .cmd()
        .args(["user", "list", "--json", "--with-hash"])
        .exits(0);
    let v = common::json(&out.stdout);
    let users: Vec<(String, String, bool)> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["hashed_password"].as_str().unwrap().to_string(),
                u["disabled"].as_bool().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = users.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "locked", "md5", "sha"]);
    assert_eq!(users[0].1, hy);
    assert_eq!(users[1].1, ha);
    assert!(users[3].2, "locked is disabled");
    assert_eq!(users[3].1, h);
    assert_eq!(login_code(&env, "alice", "pw"), 0);
    assert_eq!(login_code(&env, "bob", "pw"), 0);
    assert_eq!(
        login_code(&env, "carol", "old"),
        0,
        "carol kept her password"
    );
    assert_eq!(login_code(&env, "locked", "pw"), 5);
    // -q silences the summary; nothing new to import the second time, which is exit 1
    // (SPEC §4, §15).
    env.cmd()
        .args(["-q", "user", "import", "site.htpasswd"])
        .stderr_only(
            1,
            "jwtauth: user import: nothing imported from site.htpasswd: all 8 skipped\n",
        );
}

#[test]
fn import_json_summary_and_replace() {
    let env = Env::new();
    env.add_user("carol", "old");
    let token = env.login("carol", "old");
    let h = hash(&env, "new");
    std::fs::write(
        env.path().join("f"),
        format!("carol:{h}\ndave:{h}\nmd5:$apr1$x$y\n"),
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["user", "import", "--replace", "--json", "f"])
        .exits(0);
    assert_eq!(
        common::json(&out.stdout),
        json!({
            "imported": ["dave"],
            "replaced": ["carol"],
            "skipped": [{"line": 3, "name": "md5", "reason": "MD5 ($apr1$) hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt"}]
        })
    );
    assert_eq!(
        stderr(&out),
        "jwtauth: f:3: \"md5\" skipped: MD5 ($apr1$) hash: expected a digest of 22 characters of [./0-9A-Za-z] after the salt\n\
         jwtauth: imported 1, replaced 1, skipped 1: 1 MD5 ($apr1$)\n"
    );
    assert_eq!(login_code(&env, "carol", "old"), 5);
    assert_eq!(login_code(&env, "carol", "new"), 0);
    // A replaced password revokes the user's earlier tokens, as `user passwd` does.
    env.cmd()
        .args(["verify", &token])
        .assert()
        .code(4)
        .stdout("");
}

#[test]
fn import_reads_stdin_and_fails_cleanly_on_missing_file() {
    let env = Env::new();
    let h = hash(&env, "pw");
    env.cmd()
        .args(["user", "import", "--json", "-"])
        .write_stdin(format!("erin:{h}\n"))
        .assert()
        .code(0)
        .stdout("{\"imported\":[\"erin\"],\"replaced\":[],\"skipped\":[]}\n")
        .stderr("jwtauth: imported 1, skipped 0\n");
    let before = common::bytes(&env.users());
    let out = env
        .cmd()
        .args(["user", "import", "nope.htpasswd"])
        .assert()
        .code(8)
        .stdout("")
        .get_output()
        .clone();
    assert!(
        stderr(&out).starts_with("jwtauth: nope.htpasswd: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(common::bytes(&env.users()), before);
}

#[test]
fn import_never_overwrites_a_corrupt_users_file() {
    let env = Env::new();
    std::fs::create_dir_all(env.users().parent().unwrap()).unwrap();
    std::fs::write(env.users(), b"{\"version\": 1, \"users\": {").unwrap();
    let h = hash(&env, "pw");
    std::fs::write(env.path().join("f"), format!("alice:{h}\n")).unwrap();
    env.cmd()
        .args(["user", "import", "f"])
        .assert()
        .code(8)
        .stdout("");
    assert_eq!(
        common::bytes(&env.users()),
        b"{\"version\": 1, \"users\": {"
    );
}

#[test]
fn export_writes_htpasswd_lines_with_disabled_users_marked() {
    let env = Env::new();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw2");
    env.cmd().args(["user", "disable", "bob"]).assert().code(0);
    let out = env
        .cmd()
        .args(["user", "list", "--json", "--with-hash"])
        .exits(0);
    let v = common::json(&out.stdout);
    let ha = v["users"][0]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    let hb = v["users"][1]["hashed_password"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env
        .cmd()
        .args(["user", "export", "--htpasswd"])
        .assert()
        .code(0)
        .stdout(format!("alice:{ha}\nbob:!{hb}\n"))
        .get_output()
        .clone();
    assert_eq!(
        stderr(&out),
        "jwtauth: 1 disabled user(s) exported with '!' before the hash, so no password matches\n"
    );
    // Round trip into a fresh users file keeps bob disabled.
    std::fs::write(env.path().join("exported"), &out.stdout).unwrap();
    let other = env.path().join("other.json");
    env.cmd()
        .arg("--users")
        .arg(&other)
        .args(["-q", "user", "import", "exported"])
        .assert()
        .code(0)
        .stderr("");
    let out = env
        .cmd()
        .arg("--users")
        .arg(&other)
        .args(["user", "export", "--htpasswd", "-q"])
        .exits(0);
    assert_eq!(stdout(&out), format!("alice:{ha}\nbob:!{hb}\n"));
    // An empty users file exports nothing; htpasswd is the default format (tests/cli/users.rs).
    let empty = env.path().join("empty.json");
    env.cmd()
        .arg("--users")
        .arg(&empty)
        .args(["user", "export", "--htpasswd"])
        .stderr_only(0, "");
    env.cmd()
        .arg("--users")
        .arg(&empty)
        .args(["user", "export"])
        .stderr_only(0, "");
}

#[test]
fn htpasswd_round_trip_with_apache_htpasswd() {
    if !common::htpasswd() {
        return;
    }
    let env = Env::new();
    let file = env.path().join("site.htpasswd");
    let st = std::process::Command::new("htpasswd")
        .args(["-cbB", "-C", "5"])
        .arg(&file)
        .args(["alice", "pw"])
        .output()
        .expect("htpasswd");
    assert!(st.status.success(), "{}", stderr(&st));
    env.cmd()
        .args(["user", "import"])
        .arg(&file)
        .stderr_only(0, "jwtauth: imported 1, skipped 0\n");
    assert_eq!(login_code(&env, "alice", "pw"), 0);
    assert_eq!(login_code(&env, "alice", "wrong"), 5);
    env.add_user("bob", "bobpw");
    let out = env
        .cmd()
        .args(["user", "export", "--htpasswd"])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let exported = env.path().join("exported");
    std::fs::write(&exported, &out.stdout).unwrap();
    let check = |name: &str, pw: &str| {
        std::process::Command::new("htpasswd")
            .arg("-vb")
            .arg(&exported)
            .args([name, pw])
            .output()
            .expect("htpasswd")
            .status
            .success()
    };
    assert!(check("alice", "pw"));
    assert!(check("bob", "bobpw"));
    assert!(!check("bob", "wrong"));
    // A disabled user's exported hash matches no password, not even the right one.
    env.cmd().args(["user", "disable", "bob"]).assert().code(0);
    let out = env
        .cmd()
        .args(["-q", "user", "export", "--htpasswd"])
        .exits(0);
    std::fs::write(&exported, &out.stdout).unwrap();
    assert!(check("alice", "pw"));
    assert!(!check("bob", "bobpw"));
}

#[test]
fn decode_text_calls_out_an_exp_that_is_not_a_number() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(r#"{"sub":"x","exp":"tomorrow"}"#)
    );
    let env = Env::new();
    let out = env
        .cmd()
        .args(["decode", &token])
        .assert()
        .code(0)
        .stderr("")
        .get_output()
        .clone();
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l == "Status: exp is not a number of seconds: verify refuses this token"),
        "{text}"
    );
}

#[test]
fn color_flag_overrides_the_automatic_choice() {
    let env = Env::new();
    env.init();
    let token = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1700000000",
        "--exp",
        "1700000900",
    ]);
    let decode = |pre: &[&str], post: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = env.cmd();
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.args(pre).arg("decode").args(post).arg(&token).exits(0);
        assert_eq!(stderr(&out), "");
        stdout(&out)
    };
    // Piped (not a terminal): no colour by default or with auto, colour with always.
    let plain = decode(&[], &[], &[]);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    assert_eq!(decode(&["--color", "auto"], &[], &[]), plain);
    assert_eq!(decode(&["--color", "never"], &[], &[]), plain);
    let coloured = decode(&["--color", "always"], &[], &[]);
    assert!(
        coloured.contains("\u{1b}[1mHeader\u{1b}[0m"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\u{1b}[31mexpired "), "{coloured:?}");
    // Without the escapes it is the plain text.
    let stripped = coloured
        .split('\u{1b}')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('m').map_or(part, |(_, r)| r)
            }
        })
        .collect::<String>();
    assert_eq!(stripped, plain);
    // A flag beats NO_COLOR and TERM=dumb; it works after the subcommand too.
    assert_eq!(
        decode(&[], &["--color", "always"], &[("NO_COLOR", "1")]),
        coloured
    );
    assert_eq!(
        decode(&["--color=always"], &[], &[("TERM", "dumb")]),
        coloured
    );
    // --json is never coloured.
    let json_out = decode(&["--color", "always", "--json"], &[], &[]);
    assert!(!json_out.contains('\u{1b}'), "{json_out:?}");
    // A bad value is a usage error naming the values.
    env.cmd()
        .args(["--color", "sometimes", "decode", &token])
        .stderr_only(
            2,
            "jwtauth: usage: invalid value 'sometimes' for '--color <WHEN>' [possible values: auto, always, never]; see 'jwtauth --help'\n",
        );
}

#[test]
fn new_token_flags_are_documented_with_examples() {
    let env = Env::new();
    let help = |args: &[&str]| stdout(&env.cmd().args(args).arg("--help").exits(0));
    let root = help(&[]);
    assert!(root.contains("--color <WHEN>"), "{root}");
    assert!(root.contains("--color always decode"), "{root}");
    let mint = help(&["mint"]);
    for want in [
        "--header <K=V>",
        "--header kid=2024-01",
        "never alg",
        "--payload <FILE>",
        "jwtauth mint --payload -",
        "--aud api --aud billing",
    ] {
        assert!(mint.contains(want), "mint --help lacks {want:?}:\n{mint}");
    }
    let verify = help(&["verify"]);
    for want in [
        "--aud api",
        "--iss",
        "repeatable",
        "Bearer $TOKEN",
        "{\"valid\": false, \"exit_code\", \"error\"}",
    ] {
        assert!(
            verify.contains(want),
            "verify --help lacks {want:?}:\n{verify}"
        );
    }
    assert!(help(&["login"]).contains("--aud api --aud billing"));
    assert!(help(&["logout"]).contains("jwtauth logout -"));
    assert!(help(&["decode"]).contains("Authorization: Bearer"));
}
