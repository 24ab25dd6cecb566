//! Issue 11 ("Data and output safety") as the HTTP service sees it: the audience rule of
//! `verify` applies to access checks but not to revoking, and a user record with a hash
//! jwtauth cannot check is a store error (503), not a refused password.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::Env;
use serde_json::Value;

/// `jwtauth serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(env: &Env) -> Self {
        let mut child = env
            .std_cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start jwtauth serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("serve says where it listens").unwrap();
            if let Some(url) = line.strip_prefix("jwtauth: listening on ") {
                break url.to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

#[test]
fn access_checks_refuse_a_token_with_an_audience_and_revoking_accepts_it() {
    let env = Env::new();
    env.init();
    let server = Server::start(&env);
    let plain = env.mint(&["--sub", "alice"]);
    let with_aud = env.mint(&["--sub", "alice", "--aud", "api"]);
    let get = |token: &str| {
        client()
            .get(server.url("/protected"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(&plain), 200);
    // No audience is configured: a token meant for some audience is not for this service.
    assert_eq!(get(&with_aud), 401);
    // Logging it out is still possible: revoking is not granting.
    let out = client()
        .delete(server.url("/logout"))
        .bearer_auth(&with_aud)
        .send()
        .unwrap();
    assert_eq!(out.status().as_u16(), 200);
    env.cmd()
        .args(["verify", "--any-aud", &with_aud])
        .assert()
        .code(4);
}

#[test]
fn a_login_with_an_unsupported_hash_is_unavailable_not_refused() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw");
    env.add_user("bob", "pw");
    let text = std::fs::read_to_string(env.users()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let h = v["users"]["alice"]["hashed_password"].as_str().unwrap();
    std::fs::write(env.users(), text.replace(h, "VkW14JL15w4Wg")).unwrap();
    let server = Server::start(&env);
    let login = |name: &str| {
        client()
            .post(server.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=password&username={name}&password=pw"))
            .send()
            .unwrap()
    };
    let out = login("alice");
    assert_eq!(out.status().as_u16(), 503);
    let body = out.text().unwrap();
    assert!(!body.contains("VkW14"), "the hash is never sent: {body}");
    // Other users still log in.
    assert_eq!(login("bob").status().as_u16(), 200);
}
