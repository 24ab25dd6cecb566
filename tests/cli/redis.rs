//! Shared stores on Redis (SPEC §10) beyond what `stores` runs on both stores: several hosts
//! (two `serve` processes with their own config dirs and the command line of a third) on one
//! Redis, concurrent writers across them, failing closed when Redis is gone or hangs and
//! resuming when it is back, `migrate`, and the password rules.
use crate::common;
use crate::serve::{ALICE_PW, Server, send};

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{Env, Exits, json, stderr_str, stdout_str};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use reqwest::StatusCode;

const HASH4: &str = "$2b$04$Ldy4VhR1kqtn0ZHi0u1kXOIHUmOZ1EpDzDu0G7Bu7Du1cCsQqGKpC";

/// Three "hosts" on one Redis: each its own home and config dir, the same signing key.
fn hosts(server: &RedisServer, extra_config: &str) -> [Env; 3] {
    let hosts = [0, 1, 2].map(|_| Env::with_store(&server.url()));
    hosts[0].init();
    let key = std::fs::read(hosts[0].secret()).expect("key");
    for h in &hosts {
        h.write_config(extra_config);
        if !h.secret().exists() {
            common::write_secret(&h.secret(), &key);
        }
    }
    hosts[0].add_user("alice", ALICE_PW);
    hosts
}

#[test]
fn two_servers_and_the_command_line_share_logouts_and_users() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a_env, b_env, cli] = hosts(&redis, "");
    let a = Server::start(&a_env);
    let b = Server::start(&b_env);

    // Login on A, verify on B.
    let t = a.token("alice", ALICE_PW);
    assert_eq!(b.protected(&t).status(), StatusCode::OK);
    cli.cmd().args(["verify", &t]).exits(0);
    // Logout on B: refused on A and by the command line on the very next request.
    let res = send(b.delete("/logout").bearer_auth(&t));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(a.protected(&t).status(), StatusCode::UNAUTHORIZED);
    cli.cmd().args(["verify", &t]).exits(4);

    // A logout from the command line is refused by both servers.
    let t2 = cli.login("alice", ALICE_PW);
    assert_eq!(a.protected(&t2).status(), StatusCode::OK);
    cli.cmd().args(["logout", &t2]).exits(0);
    assert_eq!(a.protected(&t2).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(b.protected(&t2).status(), StatusCode::UNAUTHORIZED);

    // A user added on one host logs in on another.
    cli.add_user("bob", "bob-Pw-K2m#rT9");
    let tb = b.token("bob", "bob-Pw-K2m#rT9");
    assert_eq!(a.protected(&tb).status(), StatusCode::OK);

    // `user disable` on A (its command line): login refused on B, its tokens refused on B.
    let t3 = b.token("alice", ALICE_PW);
    a_env.cmd().args(["user", "disable", "alice"]).exits(0);
    let res = b.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.protected(&t3).status(), StatusCode::UNAUTHORIZED);
    a_env.cmd().args(["user", "enable", "alice"]).exits(0);
    b.token("alice", ALICE_PW);

    // Failed logins are counted in Redis: this address failed once on B above, four more on
    // A make five, and the ban holds on B.
    for _ in 0..4 {
        let res = a.login_form("carol", "wrong-Pw-123");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = b.login_form("carol", "wrong-Pw-123");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn a_hundred_concurrent_writers_across_three_hosts_lose_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a_env, b_env, cli] = hosts(&redis, "");
    let a = Server::start(&a_env);
    let b = Server::start(&b_env);
    for i in 0..10 {
        cli.cmd()
            .args(["user", "add", &format!("p{i}"), "--hash", HASH4])
            .exits(0);
    }
    // Tokens to revoke: 30 through the servers, 20 through the command lines.
    let http_tokens: Vec<String> = (0..30).map(|_| a.token("alice", ALICE_PW)).collect();
    let cli_tokens: Vec<String> = (0..20).map(|_| cli.login("alice", ALICE_PW)).collect();
    let envs = [&a_env, &b_env, &cli];
    let mut children = Vec::new();
    // 30 user adds, 10 password changes, 10 disables: the command lines of all three hosts.
    for i in 0..30 {
        let mut c = envs[i % 3].std_cmd();
        c.args(["user", "add", &format!("n{i}"), "--hash", HASH4]);
        children.push(c);
    }
    for i in 0..10 {
        let mut c = envs[i % 3].std_cmd();
        c.args(["user", "passwd", &format!("p{i}"), "--hash", HASH4]);
        children.push(c);
        let mut c = envs[(i + 1) % 3].std_cmd();
        c.args(["user", "disable", &format!("p{i}")]);
        children.push(c);
    }
    for (i, t) in cli_tokens.iter().enumerate() {
        let mut c = envs[i % 3].std_cmd();
        c.args(["logout", t]);
        children.push(c);
    }
    let running: Vec<_> = children
        .iter_mut()
        .map(|c| {
            c.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    // Meanwhile, 30 logouts over HTTP, half on each server.
    std::thread::scope(|s| {
        for (i, t) in http_tokens.iter().enumerate() {
            let server = if i % 2 == 0 { &a } else { &b };
            s.spawn(move || {
                let res = send(server.delete("/logout").bearer_auth(t));
                assert_eq!(res.status(), StatusCode::OK, "logout {i}");
            });
        }
    });
    for c in running {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr_str(&out));
    }
    // Every acknowledged write is there.
    let list = json(&cli.cmd().args(["user", "list", "--json"]).exits(0).stdout);
    let users = list["users"].as_array().expect("users");
    assert_eq!(users.len(), 1 + 10 + 30);
    for u in users {
        let name = u["username"].as_str().expect("name");
        assert_eq!(u["disabled"], name.starts_with('p'), "{u}");
    }
    let revoked = json(
        &cli.cmd()
            .args(["revocations", "list", "--json"])
            .exits(0)
            .stdout,
    );
    assert_eq!(revoked["tokens"].as_array().expect("tokens").len(), 50);
    let all: String = http_tokens
        .iter()
        .chain(&cli_tokens)
        .map(|t| format!("{t}\n"))
        .collect();
    let out = cli.cmd().args(["verify", "-"]).write_stdin(all).exits(1);
    assert_eq!(
        stdout_str(&out)
            .lines()
            .filter(|l| l.starts_with("error 4 "))
            .count(),
        50
    );
}

#[test]
fn redis_gone_or_hanging_fails_closed_and_service_resumes_when_it_is_back() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let [a_env, _, cli] = hosts(&redis, "redis_timeout = \"1s\"\n");
    let a = Server::start(&a_env);
    let t = a.token("alice", ALICE_PW);
    assert_eq!(a.protected(&t).status(), StatusCode::OK);
    let within = Duration::from_secs(10);

    // Hanging (accepts connections, never answers): 503 / exit 8 after redis_timeout.
    redis.signal("STOP");
    let started = Instant::now();
    let res = a.protected(&t);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
    let started = Instant::now();
    cli.cmd()
        .args(["verify", &t])
        .stderr_only(8, contains("redis_timeout").and(contains("failing closed")));
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
    redis.signal("CONT");
    assert_eq!(a.protected(&t).status(), StatusCode::OK);

    // Gone: refused at once.
    redis.kill();
    assert_eq!(a.protected(&t).status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        send(a.get("/healthz")).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        a.login_form("alice", ALICE_PW).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    cli.cmd()
        .args(["verify", &t])
        .stderr_only(8, contains("unreachable").and(contains("failing closed")));
    cli.cmd().args(["logout", &t]).exits(8);
    cli.cmd().args(["user", "list"]).exits(8);
    let tokens = format!("{t}\n{t}\n");
    cli.cmd().args(["verify", "-"]).write_stdin(tokens).exits(8);

    // Back (empty: this test server keeps nothing): the same server answers again.
    redis.resume();
    assert_eq!(send(a.get("/healthz")).status(), StatusCode::OK);
    // The emptied store no longer knows t's session: refused, never brought back (SPEC §13).
    assert_eq!(a.protected(&t).status(), StatusCode::UNAUTHORIZED);
    let minted = cli.mint(&["--sub", "svc"]);
    assert_eq!(a.protected(&minted).status(), StatusCode::OK);
    cli.add_user("alice", ALICE_PW);
    let t2 = a.token("alice", ALICE_PW);
    cli.cmd().args(["logout", &t2]).exits(0);
    assert_eq!(a.protected(&t2).status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn migrate_copies_users_and_live_revocations_both_ways_idempotently() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let env = Env::new();
    env.init();
    env.add_user("alice", ALICE_PW);
    env.cmd()
        .args([
            "user",
            "set",
            "alice",
            "--email",
            "a@example.com",
            "--group",
            "g",
        ])
        .exits(0);
    env.cmd()
        .args(["user", "add", "bob", "--hash", HASH4])
        .exits(0);
    env.cmd().args(["user", "disable", "bob"]).exits(0);
    let live = env.login("alice", ALICE_PW);
    env.cmd().args(["logout", &live]).exits(0);
    let url = redis.url();
    let to = ["migrate", "--users-to", &url, "--state-to", &url];
    let first = json(&env.cmd().args(to).arg("--json").exits(0).stdout);
    assert_eq!(first["users"]["added"], 2);
    let again = json(&env.cmd().args(to).arg("--json").exits(0).stdout);
    assert_eq!(again["users"]["added"], 0);
    assert_eq!(again["users"]["unchanged"], 2);

    // The Redis side has the same users and revocations as the files.
    let on_redis = Env::with_store(&url);
    common::write_secret(
        &{
            std::fs::create_dir_all(on_redis.secret().parent().expect("dir")).expect("mkdir");
            on_redis.secret()
        },
        std::fs::read(env.secret()).expect("key"),
    );
    for args in [
        &["user", "list", "--json"][..],
        &["revocations", "list", "--json"][..],
    ] {
        let f = json(&env.cmd().args(args).exits(0).stdout);
        let r = json(&on_redis.cmd().args(args).exits(0).stdout);
        assert_eq!(f, r, "{args:?}");
    }
    on_redis.cmd().args(["verify", &live]).exits(4);

    // And back into new files.
    let back = Env::new();
    let (users, state) = (back.path().join("u.json"), back.path().join("r.json"));
    on_redis
        .cmd()
        .arg("migrate")
        .arg("--users-to")
        .arg(&users)
        .arg("--state-to")
        .arg(&state)
        .exits(0);
    let f = json(
        &env.cmd()
            .args(["user", "list", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    let b = json(
        &env.cmd()
            .arg("--users")
            .arg(&users)
            .args(["user", "list", "--json", "--with-hash"])
            .exits(0)
            .stdout,
    );
    assert_eq!(f, b);
    env.cmd()
        .arg("--state")
        .arg(&state)
        .args(["verify", &live])
        .exits(4);
}

#[test]
fn a_redis_password_never_comes_from_the_command_line() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    redis.command(&["CONFIG", "SET", "requirepass", "s3cret-Pw"]);
    let env = Env::new();
    env.init();
    let with_pw = format!("redis://:s3cret-Pw@127.0.0.1:{}/0", redis.port);
    let out = env
        .cmd()
        .args(["--users", &with_pw, "user", "list"])
        .stderr_only(2, contains("never taken from the command line"))
        .get_output()
        .clone();
    assert!(
        !stderr_str(&out).contains("s3cret"),
        "the password is not echoed"
    );
    env.cmd().args(["migrate", "--users-to", &with_pw]).exits(2);
    // From the environment: the URL's own password, or JWTAUTH_REDIS_PASSWORD.
    env.cmd()
        .env("JWTAUTH_USERS", &with_pw)
        .args(["user", "add", "alice", "--hash", HASH4])
        .exits(0);
    env.cmd()
        .args(["--users", &redis.url(), "user", "list"])
        .env("JWTAUTH_REDIS_PASSWORD", "s3cret-Pw")
        .exits(0);
    // A wrong or missing password fails closed, naming the server, not the password.
    env.cmd()
        .args(["--users", &redis.url(), "user", "list"])
        .exits(8);
    let paths = env
        .cmd()
        .env("JWTAUTH_USERS", &with_pw)
        .args(["paths", "--json"])
        .exits(0);
    let paths = stdout_str(&paths);
    assert!(
        !paths.contains("s3cret") && paths.contains("***"),
        "{paths}"
    );
    env.cmd()
        .env("JWTAUTH_STATE", redis.url())
        .env("JWTAUTH_REDIS_PASSWORD", "s3cret-Pw")
        .args(["revocations", "prune"])
        .assert()
        .success()
        .stderr(contains("Redis drops"));
}
