//! `verify --jwks URL` (SPEC §15): the JWK Set is fetched over HTTPS, or plain HTTP from a
//! loopback host; 5 s for the whole fetch, at most 1 MiB, a few redirects. The servers here
//! are threads on 127.0.0.1 that answer a fixed number of connections with canned bytes.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{Env, Exits, json, stdout_str};
use serde_json::{Value, json};

/// Reads a request's head (up to the blank line); false when the client went away first.
fn read_head(stream: &TcpStream) -> bool {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" || line == "\n" => return true,
            Ok(_) => {}
        }
    }
}

/// A server on 127.0.0.1 that answers one connection with each of `answers`, in order,
/// then stops listening.
fn serve(answers: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for answer in answers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            if read_head(&stream) {
                // The client may hang up before the end (a body over the limit).
                let _ = stream.write_all(&answer);
            }
        }
    });
    addr
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn ok(body: &[u8]) -> Vec<u8> {
    response(
        "200 OK",
        &[("Content-Type", "application/jwk-set+json")],
        body,
    )
}

/// An ES256 key set of its own (`init --alg ES256`), its `jwks` output and a token it signed.
fn signer(sub: &str) -> (Env, Value, String) {
    let env = Env::new();
    env.cmd()
        .args(["init", "--alg", "ES256"])
        .assert()
        .success();
    let set = json(&env.cmd().arg("jwks").exits(0).stdout);
    let token = env.mint(&["--sub", sub]);
    (env, set, token)
}

fn verify(env: &Env, url: &str, token: &str) -> (i32, String, String) {
    let out = env
        .cmd()
        .args(["verify", "--jwks", url, token])
        .output()
        .expect("run");
    (
        out.status.code().expect("exit code"),
        stdout_str(&out),
        common::stderr_str(&out),
    )
}

#[test]
fn verify_fetches_the_set_and_picks_the_key_by_kid() {
    let (_a, set_a, token_a) = signer("alice");
    let (_b, set_b, token_b) = signer("bob");
    let mut keys = set_a["keys"].as_array().unwrap().clone();
    keys.extend(set_b["keys"].as_array().unwrap().iter().cloned());
    let both = serde_json::to_vec(&json!({"keys": keys})).unwrap();
    // A machine with no key of its own verifies with the fetched set.
    let env = Env::new();
    let addr = serve(vec![ok(&both), ok(&both)]);
    let url = format!("http://{addr}/.well-known/jwks.json");
    assert_eq!(
        verify(&env, &url, &token_a),
        (0, "alice\n".into(), String::new())
    );
    assert_eq!(
        verify(&env, &url, &token_b),
        (0, "bob\n".into(), String::new())
    );
    // `localhost` is loopback too, and a redirect on this host is followed.
    let addr = serve(vec![
        response("302 Found", &[("Location", "/keys")], b""),
        ok(&both),
    ]);
    let url = format!("http://localhost:{}/jwks", addr.port());
    assert_eq!(
        verify(&env, &url, &token_b),
        (0, "bob\n".into(), String::new())
    );
    // A set without the token's key: refused as with a file (1).
    let addr = serve(vec![ok(&serde_json::to_vec(&set_a).unwrap())]);
    let (code, out, _) = verify(&env, &format!("http://{addr}/"), &token_b);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(!env.state().exists(), "verify writes nothing");
}

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused_before_any_network_access() {
    let env = Env::new();
    for (url, why) in [
        (
            "http://example.invalid/jwks.json",
            "plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://",
        ),
        (
            "http://10.0.0.1/jwks.json",
            "plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://",
        ),
        (
            "ftp://example.invalid/jwks.json",
            "only https:// URLs (or http:// to a loopback host) are fetched",
        ),
    ] {
        let started = Instant::now();
        env.cmd()
            .args(["verify", "--jwks", url, "e.a.b"])
            .stderr_only(2, format!("jwtauth: --jwks {url}: {why}\n"));
        // No connection was tried: a refusal, not a timeout.
        assert!(started.elapsed() < Duration::from_secs(4), "{url}");
    }
    env.cmd()
        .args(["verify", "--jwks", "https://", "e.a.b"])
        .stderr_only(2, "jwtauth: --jwks https://: not a valid URL: empty host\n");
}

#[test]
fn a_set_over_one_mib_is_refused() {
    let env = Env::new();
    let (_, _, token) = signer("alice");
    let big = vec![b' '; 1024 * 1024 + 1];
    let addr = serve(vec![ok(&big)]);
    let url = format!("http://{addr}/jwks.json");
    env.cmd()
        .args(["verify", "--jwks", &url, &token])
        .stderr_only(
            8,
            format!("jwtauth: --jwks {url}: the JWK Set is larger than 1024 KiB\n"),
        );
}

#[test]
fn an_answer_other_than_200_is_exit_8_naming_the_status() {
    let env = Env::new();
    let (_, _, token) = signer("alice");
    let addr = serve(vec![response("404 Not Found", &[], b"no such page")]);
    let url = format!("http://127.0.0.1:{}/jwks.json", addr.port());
    env.cmd().args(["verify", "--jwks", &url, &token]).stderr_only(
        8,
        format!(
            "jwtauth: --jwks {url}: the server answered 404 Not Found (expected 200 with a JWK Set)\n"
        ),
    );
    // Redirects: a few at most.
    let hop = || response("302 Found", &[("Location", "/again")], b"");
    let addr = serve(vec![hop(), hop(), hop(), hop(), hop()]);
    let url = format!("http://{addr}/jwks.json");
    env.cmd()
        .args(["verify", "--jwks", &url, &token])
        .stderr_only(8, format!("jwtauth: --jwks {url}: more than 3 redirects\n"));
    // A redirect to plain http on another host: refused, not followed.
    let addr = serve(vec![response(
        "301 Moved Permanently",
        &[("Location", "http://example.invalid/jwks.json")],
        b"",
    )]);
    let url = format!("http://{addr}/jwks.json");
    env.cmd().args(["verify", "--jwks", &url, &token]).stderr_only(
        8,
        format!(
            "jwtauth: --jwks {url}: redirected to http://example.invalid/jwks.json: plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost); use https://\n"
        ),
    );
    // Not a JWK Set: the set's own error, exit 8.
    let addr = serve(vec![ok(b"<html>hello</html>")]);
    let url = format!("http://{addr}/jwks.json");
    let out = env.cmd().args(["verify", "--jwks", &url, &token]).exits(8);
    let err = common::stderr_str(&out);
    assert!(
        err.starts_with(&format!("jwtauth: key set {url}: ")) && err.lines().count() == 1,
        "{err:?}"
    );
    // Nothing listening: exit 8.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let out = env.cmd().args(["verify", "--jwks", &url, &token]).exits(8);
    assert!(
        common::stderr_str(&out).starts_with(&format!("jwtauth: --jwks {url}: cannot connect")),
        "{out:?}"
    );
}

#[test]
fn a_missing_jwks_file_says_no_such_file() {
    let env = Env::new();
    let path = env.path().join("nowhere/jwks.json");
    env.cmd()
        .args(["verify", "--jwks", path.to_str().unwrap(), "e.a.b"])
        .stderr_only(
            8,
            format!("jwtauth: --jwks {}: no such file\n", path.display()),
        );
}

#[test]
fn a_server_that_never_answers_times_out_after_5_s() {
    let env = Env::new();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts, reads the request, and answers nothing until the client hangs up.
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
    });
    let url = format!("http://{addr}/jwks.json");
    let started = Instant::now();
    env.cmd()
        .args(["verify", "--jwks", &url, "e.a.b"])
        .stderr_only(
            8,
            format!("jwtauth: --jwks {url}: no complete answer within 5 s\n"),
        );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(15),
        "{took:?}"
    );
}
