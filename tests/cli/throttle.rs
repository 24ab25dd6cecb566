//! The login throttle over real HTTP (SPEC §15): a password check counts when it starts (a
//! parallel burst gets at most `throttle_max_failures` checks), a username being guessed from
//! many addresses gets `throttle_user_rate` checks a minute, and the owner's device cookie is
//! exempt from that, so the owner still signs in. The rules' windows and edge cases are unit
//! tests of `store::throttle` (in-process, a fixed clock, memory and Redis).

use std::sync::{Arc, Barrier};

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::Value;

use crate::common::{Env, Exits};
use crate::serve::{ALICE_PW, FormBody, Server, body_json, env, header_of, send, write_config};

/// A `POST /token` as `user` from client `from` (loopback is a trusted proxy by default, so
/// `X-Forwarded-For` names the client), with an optional `device` field.
fn token_from(s: &Server, from: &str, user: &str, pw: &str, device: Option<&str>) -> Response {
    let mut fields = vec![("username", user), ("password", pw)];
    if let Some(d) = device {
        fields.push(("device", d));
    }
    send(
        s.post("/token")
            .header("x-forwarded-for", from)
            .form_body(&fields),
    )
}

/// `POST /login` (the sign-in page's form), without following its redirect.
fn page_login(s: &Server) -> reqwest::blocking::RequestBuilder {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
        .post(s.url("/login"))
        // As through a proxy that ends TLS: a browser elsewhere keeps the Secure cookies.
        .header("x-forwarded-proto", "https")
}

/// The value of metric line `name` (exact label set included).
fn metric(s: &Server, name: &str) -> u64 {
    let text = send(s.get("/metrics")).text().expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Moves every user's `created_at` / `password_changed_at` 10 s back, so a device cookie made
/// now is newer than the password (a cookie from the same second as a `passwd` is refused).
fn age_passwords(env: &Env) {
    let path = env.users();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for u in doc["users"].as_object_mut().unwrap().values_mut() {
        for k in ["created_at", "password_changed_at"] {
            let t = u[k].as_i64().unwrap();
            u[k] = (t - 10).into();
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn a_parallel_burst_from_one_address_gets_at_most_max_failures_checks() {
    let env = env();
    let s = Arc::new(Server::start(&env));
    let n = 60;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let s = s.clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                token_from(&s, "203.0.113.9", "alice", "wrong-guess", None).status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let refused = statuses
        .iter()
        .filter(|c| **c == StatusCode::BAD_REQUEST)
        .count();
    let throttled = statuses
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        (1..=5).contains(&refused),
        "{refused} password checks ran (limit 5): {statuses:?}"
    );
    assert_eq!(refused + throttled, n, "{statuses:?}");
    // The server agrees: at most 5 checks reached the password.
    assert_eq!(
        metric(&s, "jwtauth_logins_total{outcome=\"refused\"}"),
        refused as u64
    );
    // And the address stays banned, even with the right password.
    assert_eq!(
        token_from(&s, "203.0.113.9", "alice", ALICE_PW, None).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn the_owner_with_a_device_cookie_signs_in_while_the_name_is_guessed_from_many_addresses() {
    let env = env();
    age_passwords(&env);
    write_config(
        &env,
        "[serve]\nthrottle_max_failures = 3\nthrottle_user_rate = 2\n",
    );
    let s = Server::start(&env);
    // The owner signs in through the page once: a device cookie besides the session.
    let res = send(
        page_login(&s)
            .header("x-forwarded-for", "198.51.100.1")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
    let device_line = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|l| l.starts_with("__Host-jwtauth_device="))
        .expect("a device cookie");
    for attr in [
        "; HttpOnly",
        "; SameSite=Strict",
        "; Path=/",
        "; Secure",
        "; Max-Age=",
    ] {
        assert!(device_line.contains(attr), "{device_line}");
    }
    assert!(!device_line.contains("Domain"), "host-only: {device_line}");
    let device = device_line
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-jwtauth_device=")
        .to_string();
    // An attacker guesses alice's password from twenty addresses.
    let mut codes = Vec::new();
    for i in 1..=20 {
        codes.push(token_from(&s, &format!("203.0.113.{i}"), "alice", "guess", None).status());
    }
    let checked = codes
        .iter()
        .filter(|c| **c == StatusCode::BAD_REQUEST)
        .count();
    assert!(
        checked <= 3 + 2,
        "the rate let {checked} guesses through: {codes:?}"
    );
    assert_eq!(codes.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    // Without the device, the right password waits too (from a fresh address)...
    let res = token_from(&s, "192.0.2.77", "alice", ALICE_PW, None);
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        header_of(res.headers(), "retry-after")
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // ...with it, the owner signs in: the page with the cookie...
    let res = send(
        page_login(&s)
            .header("x-forwarded-for", "192.0.2.77")
            .header("cookie", format!("__Host-jwtauth_device={device}"))
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
    // ...and POST /token with it as a field, which answers a device value to keep.
    let res = token_from(&s, "192.0.2.78", "alice", ALICE_PW, Some(&device));
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    let body = body_json(res);
    let api_device = body["device"]
        .as_str()
        .expect("device in the answer")
        .to_string();
    let res = send(
        s.post("/token")
            .header("x-forwarded-for", "192.0.2.79")
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"username": "alice", "password": ALICE_PW, "device": api_device})
                    .to_string(),
            ),
    );
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    // A forged value is no device.
    // (The last character changed: to one it is not, or a 1-in-16 run forges nothing.)
    let last = if device.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &device[..device.len() - 1]);
    let res = token_from(&s, "192.0.2.80", "alice", ALICE_PW, Some(&forged));
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // A passwd makes the device stop counting.
    env.cmd()
        .args(["user", "passwd", "alice", "--password-stdin"])
        .write_stdin("alice-new-Pw-5512\n")
        .assert()
        .success();
    let res = token_from(
        &s,
        "192.0.2.81",
        "alice",
        "alice-new-Pw-5512",
        Some(&device),
    );
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A new signing key (`init --force`, the answer to a leaked key) forgets every device value
/// made with the old one, in the running server: it no longer exempts from the username's rate.
#[test]
fn a_new_signing_key_forgets_the_device_values_of_the_old_one() {
    let env = env();
    age_passwords(&env);
    write_config(
        &env,
        "[serve]\nthrottle_max_failures = 3\nthrottle_user_rate = 2\n",
    );
    let s = Server::start(&env);
    let res = token_from(&s, "198.51.100.1", "alice", ALICE_PW, None);
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    let device = body_json(res)["device"]
        .as_str()
        .expect("device in the answer")
        .to_string();
    // alice's name is guessed from many addresses until it is under its rate...
    for i in 1..=20 {
        token_from(&s, &format!("203.0.113.{i}"), "alice", "guess", None);
    }
    assert_eq!(
        token_from(&s, "192.0.2.77", "alice", ALICE_PW, None).status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...where the device still lets the owner in...
    let res = token_from(&s, "192.0.2.78", "alice", ALICE_PW, Some(&device));
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    // ...until the key changes.
    env.cmd().args(["init", "--force"]).exits(0);
    let res = token_from(&s, "192.0.2.79", "alice", ALICE_PW, Some(&device));
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{res:?}");
    let res = send(
        page_login(&s)
            .header("x-forwarded-for", "192.0.2.80")
            .header("cookie", format!("__Host-jwtauth_device={device}"))
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{res:?}");
}

#[test]
fn without_cookie_secure_the_device_cookie_has_no_host_prefix() {
    let env = env();
    age_passwords(&env);
    write_config(&env, "[serve]\ncookie_secure = false\n");
    let s = Server::start(&env);
    let res = send(page_login(&s).form_body(&[("username", "alice"), ("password", ALICE_PW)]));
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
    let line = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|l| l.starts_with("jwtauth_device="))
        .expect("a device cookie");
    assert!(
        line.contains("; SameSite=Strict") && line.contains("; HttpOnly"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "{line}");
}

#[test]
fn a_zero_user_rate_is_refused_at_start() {
    let env = env();
    write_config(&env, "[serve]\nthrottle_user_rate = 0\n");
    let out = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(8));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("jwtauth: ")
            && err.contains("serve.throttle_user_rate")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn on_redis_a_burst_across_two_servers_gets_max_failures_checks_in_all() {
    let Some(redis) = crate::common::redis::RedisServer::start() else {
        return;
    };
    let envs = [0, 1].map(|_| Env::with_store(&redis.url()));
    for e in &envs {
        e.write_config("[serve]\nthrottle_max_failures = 3\n");
    }
    envs[0].init();
    let key = std::fs::read(envs[0].secret()).expect("key");
    crate::common::write_secret(&envs[1].secret(), &key);
    envs[0].add_user("alice", ALICE_PW);
    let servers = envs.each_ref().map(|e| Arc::new(Server::start(e)));
    // 60 parallel guesses from one address, half on each server: at most 3 checks in all.
    let n = 60;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let s = servers[i % 2].clone();
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                token_from(&s, "203.0.113.9", "alice", "wrong-guess", None).status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let checked = statuses
        .iter()
        .filter(|c| **c == StatusCode::BAD_REQUEST)
        .count();
    assert!(
        (1..=3).contains(&checked),
        "{checked} password checks ran (limit 3): {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|c| [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS].contains(c))
    );
    // The ban holds on both.
    for s in &servers {
        assert_eq!(
            token_from(s, "203.0.113.9", "alice", ALICE_PW, None).status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
