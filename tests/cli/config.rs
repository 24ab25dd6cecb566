//! The configuration file (SPEC §12) through the binary: defaults without a file, the file's
//! values, precedence (flag > env > file > default), strict errors with file:line:column and
//! key (exit 8), `jwtauth config` in text and JSON, and the commands that read the settings.
use crate::common;

use common::{Env, Exits, json, stderr_str, stdout_str};
use serde_json::{Value, json};

/// Every key `jwtauth config` reports, in its order.
const KEYS: &[&str] = &[
    "config",
    "users",
    "state",
    "key",
    "ttl",
    "issuer",
    "audience",
    "password_scheme",
    "bcrypt_cost",
    "argon2_memory_kib",
    "argon2_time",
    "argon2_lanes",
    "rehash_on_login",
    "allow_legacy_hashes",
    "redis_prefix",
    "redis_timeout",
    "session_max_age",
    "session_idle",
    "session_max_per_user",
    "refresh_reuse_grace",
    "serve.listen",
    "serve.cookie_secure",
    "serve.cookie_domain",
    "serve.allowed_redirect_hosts",
    "serve.trusted_proxies",
    "serve.introspection_subjects",
    "serve.throttle_max_failures",
    "serve.throttle_window",
    "serve.throttle_ban",
    "serve.throttle_user_rate",
    "serve.log_format",
    "serve.login_url",
    "serve.cors_allowed_origins",
];

fn config_json(env: &Env, args: &[&str]) -> Value {
    let out = env.cmd().args(args).args(["config", "--json"]).exits(0);
    assert_eq!(stderr_str(&out), "");
    json(&out.stdout)
}

/// The one stderr line of a command that must fail with exit 8 and print nothing on stdout.
fn exit8(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.exits(8);
    assert_eq!(stdout_str(&out), "");
    let err = stderr_str(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    err
}

#[test]
fn without_a_file_every_setting_is_its_default() {
    let env = Env::new();
    let v = config_json(&env, &[]);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
    for k in KEYS {
        assert_eq!(v[k]["source"], "default", "{k}");
    }
    let dir = env.path().join("config/jwtauth");
    assert_eq!(
        v["config"],
        json!({"value": dir.join("config.toml"), "source": "default", "loaded": false})
    );
    assert_eq!(v["users"]["value"], json!(env.users()));
    assert_eq!(v["state"]["value"], json!(env.state()));
    assert_eq!(v["key"]["value"], json!(env.secret()));
    assert_eq!(v["ttl"]["value"], "15m");
    assert_eq!(v["issuer"]["value"], Value::Null);
    assert_eq!(v["password_scheme"]["value"], "bcrypt");
    assert_eq!(v["bcrypt_cost"]["value"], 12);
    assert_eq!(v["argon2_memory_kib"]["value"], 19456);
    assert_eq!(v["argon2_time"]["value"], 2);
    assert_eq!(v["argon2_lanes"]["value"], 1);
    assert_eq!(v["rehash_on_login"]["value"], true);
    assert_eq!(v["allow_legacy_hashes"]["value"], true);
    assert_eq!(v["redis_prefix"]["value"], "jwtauth:");
    assert_eq!(v["redis_timeout"]["value"], "2s");
    assert_eq!(v["session_max_age"]["value"], "7d");
    assert_eq!(v["session_idle"]["value"], "1d");
    assert_eq!(v["session_max_per_user"]["value"], 100);
    assert_eq!(v["refresh_reuse_grace"]["value"], "0s");
    assert_eq!(v["serve.listen"]["value"], "127.0.0.1:8080");
    assert_eq!(v["serve.cookie_secure"]["value"], true);
    assert_eq!(v["serve.allowed_redirect_hosts"]["value"], json!([]));
    assert_eq!(
        v["serve.trusted_proxies"]["value"],
        json!(["127.0.0.1/8", "::1/128"])
    );
    assert_eq!(v["serve.throttle_max_failures"]["value"], 5);
    assert_eq!(v["serve.throttle_window"]["value"], "5m");
    assert_eq!(v["serve.throttle_ban"]["value"], "5m");
    assert_eq!(v["serve.throttle_user_rate"]["value"], 10);
    assert_eq!(v["serve.log_format"]["value"], "text");
    assert_eq!(v["serve.login_url"]["value"], Value::Null);
    assert_eq!(v["serve.cors_allowed_origins"]["value"], json!([]));
    // Reading the settings creates nothing.
    assert!(!env.path().join("config").exists());
    assert!(!env.path().join("data").exists());
}

#[test]
fn text_mode_prints_one_line_per_setting_with_its_source() {
    let env = Env::new();
    env.write_config("ttl = \"1h\"\n[serve]\nlisten = \"127.0.0.1:9000\"\n");
    let out = env.cmd().arg("config").exits(0);
    assert_eq!(stderr_str(&out), "");
    let text = stdout_str(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), KEYS.len(), "{text}");
    for (line, key) in lines.iter().zip(KEYS) {
        assert!(line.starts_with(&format!("{key} ")), "{line}");
        assert!(line.contains(" = "), "{line}");
    }
    let file = env.config_file();
    let f = file.display();
    assert!(text.contains(&format!("= {f}  (default)\n")), "{text}");
    assert!(text.contains(&format!("= 1h  (file {f})\n")), "{text}");
    assert!(
        text.contains(&format!("= 127.0.0.1:9000  (file {f})\n")),
        "{text}"
    );
    assert!(text.contains("= 12  (default)\n"), "{text}");
    assert!(text.contains("= (none)  (default)\n"), "{text}");
    // A default file that does not exist says so.
    let bare = Env::new();
    let text = stdout_str(&bare.cmd().arg("config").exits(0));
    assert!(text.starts_with("config "), "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("(default, not present)"),
        "{text}"
    );
}

#[test]
fn the_files_values_are_used_and_relative_paths_are_beside_it() {
    let env = Env::new();
    env.write_config(
        "users = \"u.json\"\nstate = \"/nonexistent-dir/s.json\"\nkey = \"k.secret\"\n",
    );
    let dir = env.path().join("config/jwtauth");
    let paths = json(&env.cmd().args(["paths", "--json"]).exits(0).stdout);
    assert_eq!(
        paths,
        json!({
            "users": dir.join("u.json"),
            "state": "/nonexistent-dir/s.json",
            "key": dir.join("k.secret"),
            "key_source": "config",
        })
    );
    let v = config_json(&env, &[]);
    let file = json!(env.config_file());
    for k in ["users", "state", "key"] {
        assert_eq!(v[k]["source"], "file", "{k}");
        assert_eq!(v[k]["file"], file, "{k}");
    }
    assert_eq!(v["config"]["loaded"], true);
    // A configured key file is explicit: it must exist, and login does not create it.
    env.cmd()
        .args(["login", "alice", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(8)
        .stdout("");
    assert!(!dir.join("k.secret").exists());
    // `init` writes it where the file says.
    env.init();
    assert!(dir.join("k.secret").exists());
    assert!(!env.secret().exists());
}

#[test]
fn the_environment_beats_the_file_and_a_flag_beats_both() {
    let env = Env::new();
    env.write_config("users = \"/from-file/users.json\"\nstate = \"/from-file/s.json\"\n");
    let v = config_json(&env, &[]);
    assert_eq!(v["users"]["value"], "/from-file/users.json");
    assert_eq!(v["users"]["source"], "file");

    let mut cmd = env.cmd();
    cmd.env("JWTAUTH_USERS", "/from-env/users.json")
        .env("JWTAUTH_KEY_FILE", "/from-env/key")
        .args(["config", "--json"]);
    let v = json(&cmd.exits(0).stdout);
    assert_eq!(
        v["users"],
        json!({"value": "/from-env/users.json", "source": "env"})
    );
    assert_eq!(v["key"], json!({"value": "/from-env/key", "source": "env"}));
    assert_eq!(v["state"]["source"], "file");

    let mut cmd = env.cmd();
    cmd.env("JWTAUTH_USERS", "/from-env/users.json").args([
        "config",
        "--json",
        "--users",
        "/from-flag/users.json",
    ]);
    let v = json(&cmd.exits(0).stdout);
    assert_eq!(
        v["users"],
        json!({"value": "/from-flag/users.json", "source": "flag"})
    );
}

#[test]
fn config_flag_and_variable_choose_the_file() {
    let env = Env::new();
    env.write_config("ttl = \"1h\"\n");
    let other = env.path().join("other.toml");
    std::fs::write(&other, "ttl = \"2h\"\n").unwrap();
    let third = env.path().join("third.toml");
    std::fs::write(&third, "ttl = \"3h\"\n").unwrap();
    assert_eq!(config_json(&env, &[])["ttl"]["value"], "1h");
    let mut cmd = env.cmd();
    cmd.env("JWTAUTH_CONFIG", &other).args(["config", "--json"]);
    let v = json(&cmd.exits(0).stdout);
    assert_eq!(v["ttl"]["value"], "2h");
    assert_eq!(
        v["config"],
        json!({"value": other, "source": "env", "loaded": true})
    );
    // The flag beats the variable, before or after the subcommand.
    let mut cmd = env.cmd();
    cmd.env("JWTAUTH_CONFIG", &other)
        .args(["config", "--json", "--config"])
        .arg(&third);
    let v = json(&cmd.exits(0).stdout);
    assert_eq!(v["ttl"]["value"], "3h");
    assert_eq!(v["config"]["source"], "flag");
    assert_eq!(v["ttl"]["file"], json!(third));
}

#[test]
fn a_named_config_file_that_is_missing_is_exit_8() {
    let env = Env::new();
    let err = exit8(env.cmd().args(["--config", "missing.toml", "paths"]));
    assert_eq!(err, "jwtauth: missing.toml: no such configuration file\n");
    let err = exit8(env.cmd().env("JWTAUTH_CONFIG", "gone.toml").arg("config"));
    assert_eq!(err, "jwtauth: gone.toml: no such configuration file\n");
    // A directory is not a file.
    let err = exit8(env.cmd().args(["--config", ".", "config"]));
    assert!(
        err.starts_with("jwtauth: .: cannot read the configuration file"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_is_exit_8_naming_file_line_and_key() {
    let env = Env::new();
    env.write_config("ttl = \"5m\"\n\ncolour = \"blue\"\n");
    let f = env.config_file();
    for args in [&["paths"][..], &["config"], &["decode", "x.y.z"]] {
        let err = exit8(env.cmd().args(args));
        assert!(
            err.starts_with(&format!(
                "jwtauth: {}:3:1: unknown key \"colour\"",
                f.display()
            )),
            "{args:?}: {err}"
        );
    }
    env.write_config("[serve]\nlisten = \"127.0.0.1:1\"\nport = 8080\n");
    let err = exit8(env.cmd().arg("config"));
    assert!(
        err.starts_with(&format!(
            "jwtauth: {}:3:1: unknown key \"serve.port\"",
            f.display()
        )),
        "{err}"
    );
}

#[test]
fn a_bad_value_is_exit_8_naming_file_line_and_key() {
    let env = Env::new();
    let f = env.config_file().display().to_string();
    let cases = [
        (
            "bcrypt_cost = 99\n",
            "1:15: bcrypt_cost: 99 is out of range: must be 4-31",
        ),
        ("# tokens\nttl = \"soon\"\n", "2:7: ttl: \"soon\": "),
        (
            "[serve]\ntrusted_proxies = [\"127.0.0.1/8\", \"10.0.0.300/8\"]\n",
            "2:19: serve.trusted_proxies: item 2: \"10.0.0.300/8\" is not an IP address or CIDR",
        ),
        (
            "[serve]\ntrusted_proxies = [\"10.0.0.0/40\"]\n",
            "2:19: serve.trusted_proxies: item 1: \"10.0.0.0/40\": the prefix length must be 0-32",
        ),
        (
            "password_scheme = \"md5\"\n",
            "1:19: password_scheme: \"md5\" is not a scheme",
        ),
        (
            "rehash_on_login = 1\n",
            "1:19: rehash_on_login: expected true or false",
        ),
        (
            "allow_legacy_hashes = \"no\"\n",
            "1:23: allow_legacy_hashes: expected true or false",
        ),
        ("users = \n", "1:9: "),
        (
            "session_max_per_user = 0\n",
            "1:24: session_max_per_user: 0 is out of range: must be 1-1000000",
        ),
        (
            "session_idle = \"0s\"\n",
            "1:16: session_idle: must be longer than zero",
        ),
        (
            "session_max_age = \"forever\"\n",
            "1:19: session_max_age: \"forever\": ",
        ),
        (
            "refresh_reuse_grace = -1\n",
            "1:23: refresh_reuse_grace: -1 is negative",
        ),
    ];
    for (text, want) in cases {
        env.write_config(text);
        let err = exit8(env.cmd().arg("paths"));
        let want = format!("jwtauth: {f}:{want}");
        assert!(err.starts_with(&want), "{text:?}:\n{err}\nwant {want}");
    }
}

#[test]
fn the_session_limits_are_read_and_a_max_age_under_the_ttl_is_valid() {
    let env = Env::new();
    env.write_config(
        "ttl = \"1h\"\nsession_max_age = \"30m\"\nsession_idle = 600\nsession_max_per_user = 3\nrefresh_reuse_grace = \"10s\"\n",
    );
    let v = config_json(&env, &[]);
    assert_eq!(v["session_max_age"]["value"], "30m");
    assert_eq!(v["session_idle"]["value"], "10m");
    assert_eq!(v["session_max_per_user"]["value"], 3);
    assert_eq!(v["refresh_reuse_grace"]["value"], "10s");
    assert!(v["session_idle"]["source"].to_string().contains("file"));
    env.write_config("refresh_reuse_grace = 0\n");
    assert_eq!(config_json(&env, &[])["refresh_reuse_grace"]["value"], "0s");
}

#[test]
fn json_shape_is_key_to_value_and_source() {
    let env = Env::new();
    env.write_config("issuer = \"https://auth.example.com\"\n");
    let v = config_json(&env, &["--state", "/x/state.json"]);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), KEYS.len());
    for (k, entry) in obj {
        let e = entry.as_object().unwrap();
        assert!(e.contains_key("value") && e.contains_key("source"), "{k}");
        let source = e["source"].as_str().unwrap();
        assert!(["flag", "env", "file", "default"].contains(&source), "{k}");
        assert_eq!(e.contains_key("file"), source == "file", "{k}");
    }
    assert_eq!(
        v["issuer"],
        json!({"value": "https://auth.example.com", "source": "file", "file": env.config_file()})
    );
    assert_eq!(
        v["state"],
        json!({"value": "/x/state.json", "source": "flag"})
    );
}

#[test]
fn a_secret_in_the_environment_is_never_printed() {
    let env = Env::new();
    let secret = "do-not-print-this-secret-0123456789abcdef";
    for json_mode in [false, true] {
        let mut cmd = env.cmd();
        cmd.env("JWT_SECRET_KEY", secret).arg("config");
        if json_mode {
            cmd.arg("--json");
        }
        let out = cmd.exits(0);
        let all = format!("{}{}", stdout_str(&out), stderr_str(&out));
        assert!(!all.contains(secret), "{all}");
        assert!(all.contains("JWT_SECRET_KEY is set"), "{all}");
    }
    let v = json(
        &env.cmd()
            .env("JWT_SECRET_KEY", secret)
            .args(["config", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(v["key"]["source"], "env");
}

fn lifetime(env: &Env, token: &str) -> i64 {
    let p = &env.decoded(token)["payload"];
    p["exp"].as_i64().unwrap() - p["iat"].as_i64().unwrap()
}

#[test]
fn login_takes_ttl_issuer_and_audience_from_the_config() {
    let env = Env::new();
    env.write_config("ttl = \"1h\"\nissuer = \"https://auth.example.com\"\naudience = \"api\"\n");
    env.add_user("alice", "pw");
    let token = env.login("alice", "pw");
    assert_eq!(lifetime(&env, &token), 3600);
    let p = &env.decoded(&token)["payload"];
    assert_eq!(p["iss"], "https://auth.example.com");
    assert_eq!(p["aud"], "api");
    // Flags still win.
    let mut cmd = env.cmd();
    cmd.args([
        "login",
        "alice",
        "--password-stdin",
        "--ttl",
        "20s",
        "--iss",
        "cli",
    ])
    .args(["--aud", "web", "--json"])
    .write_stdin("pw\n");
    let out = json(&cmd.exits(0).stdout);
    assert_eq!(out["expires_in"], 20);
    let token = out["access_token"].as_str().unwrap();
    assert_eq!(lifetime(&env, token), 20);
    let p = &env.decoded(token)["payload"];
    assert_eq!((&p["iss"], &p["aud"]), (&json!("cli"), &json!("web")));
    // mint takes the ttl too, and the issuer (every check requires it, SPEC §15) unless
    // --iss is given; no audience unless --aud is.
    let token = env.mint(&["--sub", "bot"]);
    assert_eq!(lifetime(&env, &token), 3600);
    let p = &env.decoded(&token)["payload"];
    assert_eq!(p["iss"], "https://auth.example.com");
    assert!(p.get("aud").is_none(), "{p}");
    let token = env.mint(&["--sub", "bot", "--iss", "ci"]);
    assert_eq!(env.decoded(&token)["payload"]["iss"], "ci");
}

#[test]
fn without_a_config_login_and_mint_keep_the_15_minute_default() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let token = env.login("alice", "pw");
    assert_eq!(lifetime(&env, &token), 900);
    let p = &env.decoded(&token)["payload"];
    assert!(p.get("iss").is_none() && p.get("aud").is_none(), "{p}");
    assert_eq!(lifetime(&env, &env.mint(&["--sub", "x"])), 900);
}

fn hash_with(env: &Env, args: &[&str]) -> String {
    let out = env
        .cmd()
        .args(["hash", "--password-stdin"])
        .args(args)
        .write_stdin("pw\n")
        .exits(0);
    stdout_str(&out).trim().to_string()
}

#[test]
fn hash_and_user_add_take_the_bcrypt_cost_from_the_config() {
    let env = Env::new();
    env.write_config("bcrypt_cost = 5\n");
    assert!(hash_with(&env, &[]).starts_with("$2b$05$"));
    assert!(hash_with(&env, &["--cost", "4"]).starts_with("$2b$04$"));
    env.cmd()
        .args(["user", "add", "bob", "--password-stdin"])
        .write_stdin("pw\n")
        .exits(0);
    let users: Value = json(&std::fs::read(env.users()).unwrap());
    let hash = users["users"]["bob"]["hashed_password"].as_str().unwrap();
    assert!(hash.starts_with("$2b$05$"), "{hash}");
    env.cmd()
        .args(["user", "passwd", "bob", "--password-stdin"])
        .write_stdin("pw2\n")
        .exits(0);
    let users: Value = json(&std::fs::read(env.users()).unwrap());
    let hash = users["users"]["bob"]["hashed_password"].as_str().unwrap();
    assert!(hash.starts_with("$2b$05$"), "{hash}");
    // `--check` still refuses `--cost`, whatever the file says.
    env.cmd()
        .args(["hash", "--check", "$2b$04$x", "--cost", "4"])
        .assert()
        .code(2);
}

#[test]
fn a_default_file_in_an_unreadable_state_is_reported_not_ignored() {
    let env = Env::new();
    env.write_config("");
    let p = env.config_file();
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    let err = exit8(env.cmd().arg("paths"));
    assert!(
        err.starts_with(&format!("jwtauth: {}: cannot read", p.display())),
        "{err}"
    );
}

/// The README's example `config.toml` parses, and every value it sets is the default it claims.
#[test]
fn the_readme_example_lists_the_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &readme[start..start + readme[start..].find("```").expect("closed")];
    let env = Env::new();
    let file = env.path().join("example.toml");
    std::fs::write(&file, block).unwrap();
    let from_file = config_json(&env, &["--config", file.to_str().unwrap()]);
    let defaults = config_json(&env, &[]);
    for k in &KEYS[1..] {
        assert_eq!(from_file[k]["value"], defaults[k]["value"], "{k}");
        let commented = block.contains(&format!("# {} = ", k.trim_start_matches("serve.")));
        let expected = if commented { "default" } else { "file" };
        assert_eq!(from_file[k]["source"], expected, "{k}");
    }
}

// ----- A mistyped Redis URL is never a file (SPEC §15) -----------------------------------------

/// Every file under `root` (the files a command might have created).
fn file_list(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            out.push(p.clone());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

const MISTYPED: &str = "looks like a mistyped Redis URL: a Redis URL starts with redis:// or rediss:// (lower case); for a file of that name, start the path with ./";

#[test]
fn a_mistyped_redis_url_from_flag_env_or_config_is_exit_2_and_never_a_file() {
    let env = Env::new();
    env.init();
    // Commands that write the users store, the revocation store, or only read them.
    let commands: &[&[&str]] = &[
        &["user", "add", "bob", "--cost", "4", "--password-stdin"],
        &["logout", "--all", "bob", "--force"],
        &["user", "list"],
        &["revocations", "list"],
        &["paths"],
    ];
    for typo in [
        "redis:/127.0.0.1:6379",
        "redis//127.0.0.1",
        "rediss:cache.example",
        "redis:cache",
        "Redis://127.0.0.1",
        "REDISS://cache.example:6380/1",
    ] {
        for key in ["users", "state"] {
            let config = env.config_file();
            let flag = format!("--{key}");
            let var = format!("JWTAUTH_{}", key.to_uppercase());
            let in_file = format!("{} {key} =", config.display());
            for what in [&flag, &var, &in_file] {
                if what == &in_file {
                    env.write_config(&format!("{key} = \"{typo}\"\n"));
                }
                let before = file_list(env.path());
                for args in commands {
                    let mut cmd = env.cmd();
                    if what == &flag {
                        cmd.arg(&flag).arg(typo);
                    } else if what == &var {
                        cmd.env(&var, typo);
                    }
                    cmd.args(*args)
                        .write_stdin("pw\n")
                        .stderr_only(2, format!("jwtauth: {what} {typo}: {MISTYPED}\n"));
                    assert_eq!(
                        file_list(env.path()),
                        before,
                        "{what} {typo}: {args:?} created a file"
                    );
                }
                if what == &in_file {
                    std::fs::remove_file(&config).unwrap();
                }
            }
        }
    }
    // A password in it is shown as ***.
    let out = env
        .cmd()
        .env("JWTAUTH_USERS", "redis:/:Typo-Secret-1@cache:6379/0")
        .args(["user", "list"])
        .exits(2);
    assert_eq!(
        stderr_str(&out),
        format!("jwtauth: JWTAUTH_USERS redis:/:***@cache:6379/0: {MISTYPED}\n")
    );
    let out = env
        .cmd()
        .env("JWTAUTH_STATE", "rediss:ops:Typo-Secret-2@cache")
        .args(["paths"])
        .exits(2);
    assert_eq!(
        stderr_str(&out),
        format!("jwtauth: JWTAUTH_STATE rediss:ops:***@cache: {MISTYPED}\n")
    );
    // `migrate` names its own flags.
    env.cmd()
        .args(["migrate", "--users-to", "redis:/cache"])
        .stderr_only(2, format!("jwtauth: --users-to redis:/cache: {MISTYPED}\n"));
    // What only starts like one is a path: a directory named redis, or ./ before the name.
    std::fs::create_dir(env.path().join("redis")).unwrap();
    for path in ["redis/users.json", "./redis:cache"] {
        env.cmd()
            .args(["--users", path, "user", "add", "carol", "--cost", "4"])
            .arg("--password-stdin")
            .write_stdin("pw\n")
            .exits(0);
        assert!(env.path().join(path).is_file(), "{path}");
    }
}
