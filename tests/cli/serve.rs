//! `jwtauth serve` (SPEC §9) through a real server process and a real HTTP client: every
//! route's statuses, headers and JSON bodies, freshness both ways with the command line,
//! throttling, robustness against bad clients, graceful shutdown, and logs without secrets.
//!
//! Each test starts its own `jwtauth serve --listen 127.0.0.1:0` in a temp home, waits for the
//! start-up line (no sleeping), and stops it with SIGTERM when the `Server` is dropped.
use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Env, Exits, json, stdout_str};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

/// How long a server may take to start, or to stop after SIGTERM (a loaded 2-core builder).
const DEADLINE: Duration = Duration::from_secs(60);

pub(crate) const ALICE_PW: &str = "alice-Pw-7gQ!zX";
pub(crate) const BOB_PW: &str = "bob-Pw-K2m#rT9";

// ----- the server under test ---------------------------------------------------------------

/// A running `jwtauth serve`; SIGTERM (then SIGKILL) on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    http: Client,
}

impl Server {
    /// Starts `jwtauth serve --listen 127.0.0.1:0` in `env` and waits for its start-up line.
    pub(crate) fn start(env: &Env) -> Server {
        Server::start_with(env, &[])
    }

    pub(crate) fn start_with(env: &Env, args: &[&str]) -> Server {
        let mut child = env
            .std_cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jwtauth serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let lines = log.clone();
        // Drains stderr for the server's whole life, so it never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        if let Some(a) = line.strip_prefix("jwtauth: listening on http://") {
                            let _ = tx.send(a.to_string());
                        }
                        lines.lock().unwrap().push(line);
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(DEADLINE) {
            Ok(a) => a
                .parse()
                .unwrap_or_else(|e| panic!("bad address {a:?}: {e}")),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                panic!(
                    "no start-up line ({e}); stderr:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let http = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Server {
            child,
            addr,
            log,
            reader: Some(reader),
            http,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The HTTP client, for methods without a helper.
    pub(crate) fn http(&self) -> &Client {
        &self.http
    }

    pub(crate) fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    pub(crate) fn delete(&self, path: &str) -> RequestBuilder {
        self.http.delete(self.url(path))
    }

    /// `POST /token` with a password grant form.
    pub(crate) fn login_form(&self, user: &str, pw: &str) -> Response {
        send(self.post("/token").form_body(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", pw),
        ]))
    }

    /// Logs in with a form and returns the access token.
    pub(crate) fn token(&self, user: &str, pw: &str) -> String {
        let res = self.login_form(user, pw);
        assert_eq!(res.status(), StatusCode::OK);
        body_json(res)["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub(crate) fn protected(&self, token: &str) -> Response {
        send(self.get("/protected").bearer_auth(token))
    }

    fn healthy(&self) {
        let res = send(self.get("/healthz"));
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().expect("body"), "ok");
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub(crate) fn stop(&mut self) -> ExitStatus {
        signal(&self.child, "TERM");
        let status = wait_until(&mut self.child, DEADLINE).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("the server did not stop within {DEADLINE:?} of SIGTERM");
        });
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr lines so far (all of them once stopped).
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Stops the server and asserts that no log line contains any of `secrets`.
    pub(crate) fn assert_logs_free_of(mut self, secrets: &[&str]) {
        assert!(self.stop().success());
        let log = self.log();
        assert!(
            log.iter().any(|l| l.contains("/token")),
            "no request lines in the log: {log:?}"
        );
        for s in secrets {
            assert!(!s.is_empty());
            for l in &log {
                assert!(!l.contains(s), "log line {l:?} contains the secret {s:?}");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            signal(&self.child, "TERM");
            if wait_until(&mut self.child, Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// `kill -SIG PID`.
fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {} failed", child.id());
}

fn wait_until(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return Some(s);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----- HTTP helpers --------------------------------------------------------------------------

/// Form bodies without reqwest's `form` feature.
pub(crate) trait FormBody {
    fn form_body(self, fields: &[(&str, &str)]) -> Self;
    fn raw(self, content_type: &str, body: impl Into<Vec<u8>>) -> Self;
}

impl FormBody for RequestBuilder {
    fn form_body(self, fields: &[(&str, &str)]) -> Self {
        let body = serde_urlencoded::to_string(fields).expect("form");
        self.raw("application/x-www-form-urlencoded", body)
    }

    fn raw(self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.header(header::CONTENT_TYPE, content_type)
            .body(body.into())
    }
}

pub(crate) fn send(req: RequestBuilder) -> Response {
    req.send().expect("HTTP request")
}

pub(crate) fn body_json(res: Response) -> Value {
    let bytes = res.bytes().expect("body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

pub(crate) fn header_of<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        .to_str()
        .expect("ASCII header")
}

/// Asserts an API error: status, `{"error","error_description","detail"}` with exactly that
/// `error`, and `detail` (FastAPI's shape, SPEC §15) the description again.
pub(crate) fn assert_error(res: Response, status: StatusCode, error: &str) -> (HeaderMap, Value) {
    assert_eq!(res.status(), status, "{res:?}");
    let headers = res.headers().clone();
    assert!(
        header_of(&headers, "content-type").starts_with("application/json"),
        "{headers:?}"
    );
    let body = body_json(res);
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body["detail"], body["error_description"], "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    (headers, body)
}

fn invalid_grant() -> Value {
    json!({
        "error": "invalid_grant",
        "error_description": "incorrect username or password",
        "detail": "incorrect username or password",
    })
}

/// 401 with `WWW-Authenticate: Bearer error="invalid_token"…` (RFC 6750 §3).
fn assert_invalid_token(res: Response) {
    let (h, _) = assert_error(res, StatusCode::UNAUTHORIZED, "invalid_token");
    let challenge = header_of(&h, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

// ----- set-up --------------------------------------------------------------------------------

/// A temp home with an HS256 key and the users alice and bob (cost 4).
pub(crate) fn env() -> Env {
    let env = Env::new();
    env.init();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", BOB_PW);
    env
}

/// Writes `<config dir>/jwtauth/config.toml` (SPEC §12).
pub(crate) fn write_config(env: &Env, toml: &str) -> PathBuf {
    let dir = env.path().join("config/jwtauth");
    std::fs::create_dir_all(&dir).expect("config dir");
    let p = dir.join("config.toml");
    std::fs::write(&p, toml).expect("config.toml");
    p
}

/// The token's claims, as the command line decodes them.
fn claims(env: &Env, token: &str) -> Value {
    env.decoded(token)["payload"].clone()
}

fn revoked_jtis(env: &Env) -> Vec<String> {
    let out = env.cmd().args(["revocations", "list", "--json"]).exits(0);
    json(&out.stdout)["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["jti"].as_str().expect("jti").to_string())
        .collect()
}

// ----- POST /token ---------------------------------------------------------------------------

#[test]
fn token_from_a_password_grant_form() {
    let env = env();
    let s = Server::start(&env);
    let res = s.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    assert!(header_of(res.headers(), "content-type").starts_with("application/json"));
    let body = body_json(res);
    let obj = body.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["access_token", "device", "expires_in", "token_type"]
    );
    // The device value for later logins (SPEC §15): `<nonce>.<time>.<mac>`.
    assert_eq!(body["device"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900, "default ttl 15m");
    let token = body["access_token"].as_str().unwrap();
    let c = claims(&env, token);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 22));
    // The command line accepts what the server issued.
    env.cmd().args(["verify", token]).exits(0);

    // grant_type may be omitted (or empty, as FastAPI's form takes it); scope is accepted and
    // ignored (OAuth2PasswordRequestForm).
    for form in [
        vec![("username", "alice"), ("password", ALICE_PW)],
        vec![
            ("grant_type", ""),
            ("username", "alice"),
            ("password", ALICE_PW),
        ],
        vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", ALICE_PW),
            ("scope", "read write"),
        ],
    ] {
        let res = send(s.post("/token").form_body(&form));
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
        assert_eq!(body_json(res)["token_type"], "bearer");
    }
    s.assert_logs_free_of(&[ALICE_PW, token]);
}

#[test]
fn the_classic_client_flow_with_http_basic() {
    let env = env();
    let s = Server::start(&env);
    let auth = basic("alice", ALICE_PW);
    let res = send(s.post("/token").header(header::AUTHORIZATION, &auth));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    let body = body_json(res);
    assert_eq!(body["token_type"], "bearer");
    let token = body["access_token"].as_str().unwrap().to_string();

    let res = s.protected(&token);
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res),
        json!({"user": "alice", "message": "This is a protected route!"})
    );

    let res = send(s.delete("/logout").bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res),
        json!({"message": "Successfully logged out"})
    );

    assert_invalid_token(s.protected(&token));
    // Logging out twice: the token is already revoked.
    assert_invalid_token(send(s.delete("/logout").bearer_auth(&token)));

    // Failed Basic credentials are 401 with the Basic challenge (RFC 7617, SPEC §15), one
    // answer for a wrong password, an unknown user and a disabled user.
    env.cmd().args(["user", "disable", "bob"]).exits(0);
    for (user, pw) in [("alice", "nope"), ("nobody", "nope"), ("bob", BOB_PW)] {
        let res = send(
            s.post("/token")
                .header(header::AUTHORIZATION, basic(user, pw)),
        );
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(
            header_of(res.headers(), "www-authenticate"),
            "Basic realm=\"jwtauth\""
        );
        assert_eq!(body_json(res), invalid_grant(), "{user}");
    }
    // Form credentials keep the 400, without a challenge.
    let res = s.login_form("alice", "nope");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("www-authenticate").is_none());
    let b64 = auth.trim_start_matches("Basic ").to_string();
    s.assert_logs_free_of(&[ALICE_PW, &token, &auth, &b64]);
}

#[test]
fn token_from_json() {
    let env = env();
    let s = Server::start(&env);
    let res = send(
        s.post("/token")
            .json(&json!({"username": "bob", "password": BOB_PW})),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    let body = body_json(res);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(
        claims(&env, body["access_token"].as_str().unwrap())["sub"],
        "bob"
    );

    let res = send(
        s.post("/token")
            .json(&json!({"username": "bob", "password": "wrong"})),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res), invalid_grant());
}

#[test]
fn unknown_user_wrong_password_and_disabled_user_get_one_answer() {
    let env = env();
    env.cmd().args(["user", "disable", "bob"]).exits(0);
    let s = Server::start(&env);
    for (user, pw) in [
        ("nobody", ALICE_PW),
        ("alice", "wrong password"),
        ("bob", BOB_PW),
    ] {
        let res = s.login_form(user, pw);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{user}");
        assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_json(res), invalid_grant(), "{user}");
    }
    // An empty or over-long password is refused the same way, not as malformed.
    for pw in ["", &"x".repeat(73)] {
        let res = s.login_form("alice", pw);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body_json(res), invalid_grant());
    }
}

#[test]
fn malformed_and_unsupported_token_requests() {
    let env = env();
    let s = Server::start(&env);
    let form = |fields: &[(&str, &str)]| send(s.post("/token").form_body(fields));
    // Missing fields, nothing at all.
    assert_error(
        form(&[("username", "alice")]),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        form(&[("password", ALICE_PW)]),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        send(s.post("/token")),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // Broken JSON, and a content type it does not take.
    assert_error(
        send(s.post("/token").raw("application/json", "{\"username\": ")),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        send(
            s.post("/token")
                .raw("text/plain", "username=alice&password=x"),
        ),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // Other grant types, even with good credentials.
    for g in ["client_credentials", "authorization_code", "refresh_token"] {
        let (h, _) = assert_error(
            form(&[
                ("grant_type", g),
                ("username", "alice"),
                ("password", ALICE_PW),
            ]),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        );
        assert_eq!(header_of(&h, "cache-control"), "no-store");
    }
    let res = send(s.post("/token").json(
        &json!({"grant_type": "client_credentials", "username": "alice", "password": ALICE_PW}),
    ));
    assert_error(res, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    // Wrong method: 405 with Allow, a JSON error like every other.
    let (h, _) = assert_error(
        send(s.get("/token")),
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
    );
    assert_eq!(header_of(&h, "allow"), "POST");
    s.healthy();
}

// ----- GET /protected, GET /userinfo -----------------------------------------------------------

#[test]
fn protected_needs_a_valid_unrevoked_token() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    assert_eq!(s.protected(&token).status(), StatusCode::OK);
    // The scheme is case-insensitive (RFC 6750 / RFC 7235).
    let res = send(
        s.get("/protected")
            .header(header::AUTHORIZATION, format!("bearer {token}")),
    );
    assert_eq!(body_json(res)["user"], "alice");

    // No token: 401 with the bare challenge.
    let res = send(s.get("/protected"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    let body = body_json(res);
    assert!(body["error"].is_string() && body["error_description"].is_string());
    // Basic credentials are not a bearer token.
    let res = send(
        s.get("/protected")
            .header(header::AUTHORIZATION, basic("alice", ALICE_PW)),
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");

    // Garbage, a forged signature, a token of another key.
    assert_invalid_token(s.protected("not.a.token"));
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_invalid_token(s.protected(&forged));
    let other = Env::new();
    other.init();
    assert_invalid_token(s.protected(&other.mint(&["--sub", "alice"])));

    // Expired: minted with explicit past times (no sleeping).
    let expired = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1000000000",
        "--exp",
        "1000000600",
    ]);
    assert_invalid_token(s.protected(&expired));
    // Not yet valid.
    let future = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "4000000000",
        "--exp",
        "4000000600",
    ]);
    assert_invalid_token(s.protected(&future));
    // A minted token for any subject is accepted (like `verify`).
    let minted = env.mint(&["--sub", "carol"]);
    assert_eq!(
        body_json(s.protected(&minted)),
        json!({"user": "carol", "message": "This is a protected route!"})
    );
    // Revoked from the command line.
    env.cmd().args(["logout", &minted]).exits(0);
    assert_invalid_token(s.protected(&minted));
    s.healthy();
}

#[test]
fn a_token_with_an_audience_is_refused_when_none_is_configured() {
    let env = env();
    let s = Server::start(&env);
    let aud = env.mint(&["--sub", "alice", "--aud", "someone-else"]);
    assert_invalid_token(s.protected(&aud));
    assert_invalid_token(send(s.get("/userinfo").bearer_auth(&aud)));
    // Revoking is not granting: it may still log out.
    let res = send(s.delete("/logout").bearer_auth(&aud));
    assert_eq!(res.status(), StatusCode::OK);
}

#[test]
fn userinfo_shows_the_record_without_the_hash() {
    let env = Env::new();
    env.init();
    env.cmd()
        .args([
            "user",
            "add",
            "alice",
            "--cost",
            "4",
            "--password-stdin",
            "--full-name",
            "Alice Liddell",
            "--email",
            "alice@example.com",
        ])
        .write_stdin(format!("{ALICE_PW}\n"))
        .assert()
        .success();
    env.add_user("bob", BOB_PW);
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    let res = send(s.get("/userinfo").bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().unwrap();
    assert!(!text.contains("$2"), "a hash in {text}");
    assert!(!text.contains("hash"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body,
        json!({"sub": "alice", "username": "alice", "full_name": "Alice Liddell",
               "email": "alice@example.com", "groups": []})
    );
    // A user without a name or email: the members are there, null.
    let res = send(s.get("/userinfo").bearer_auth(s.token("bob", BOB_PW)));
    let body = body_json(res);
    assert_eq!(body["sub"], "bob");
    assert_eq!(body["username"], "bob");
    assert!(body["full_name"].is_null() && body["email"].is_null());
    assert_eq!(body["groups"], json!([]));

    // Without a token, with a bad token, and for a subject that is not a user.
    let res = send(s.get("/userinfo"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    assert_invalid_token(send(s.get("/userinfo").bearer_auth("x.y.z")));
    assert_invalid_token(send(
        s.get("/userinfo")
            .bearer_auth(env.mint(&["--sub", "ghost"])),
    ));
}

#[test]
fn token_and_userinfo_carry_the_users_groups() {
    let env = env();
    env.cmd()
        .args([
            "-q", "user", "set", "alice", "--group", "admins", "--group", "ops",
        ])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    assert_eq!(
        env.decoded(&token)["payload"]["groups"],
        json!(["admins", "ops"])
    );
    let res = send(s.get("/userinfo").bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
    let body = body_json(res);
    assert_eq!(body["groups"], json!(["admins", "ops"]));
    assert_eq!(body["username"], "alice");
    // A user without groups: no claim, and an empty list.
    let token = s.token("bob", BOB_PW);
    assert!(env.decoded(&token)["payload"].get("groups").is_none());
    let res = send(s.get("/userinfo").bearer_auth(&token));
    assert_eq!(body_json(res)["groups"], json!([]));
    // The record is read per request: a change from the command line shows at once.
    env.cmd()
        .args(["-q", "user", "set", "bob", "--add-group", "dev"])
        .assert()
        .code(0);
    let res = send(s.get("/userinfo").bearer_auth(&token));
    assert_eq!(body_json(res)["groups"], json!(["dev"]));
}

// ----- logging out ----------------------------------------------------------------------------

#[test]
fn delete_logout_revokes_the_bearer_token_only() {
    let env = env();
    let s = Server::start(&env);
    let first = s.token("alice", ALICE_PW);
    let second = s.token("alice", ALICE_PW);
    let res = send(s.delete("/logout").bearer_auth(&first));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res),
        json!({"message": "Successfully logged out"})
    );
    assert_invalid_token(s.protected(&first));
    assert_eq!(s.protected(&second).status(), StatusCode::OK);
    // Without a token; with garbage; with an expired token.
    let res = send(s.delete("/logout"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    assert_invalid_token(send(s.delete("/logout").bearer_auth("garbage")));
    let expired = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1000000000",
        "--exp",
        "1000000600",
    ]);
    // A token whose only fault is that it expired is logged out (SPEC §13 "Details").
    let res = send(s.delete("/logout").bearer_auth(&expired));
    assert_eq!(res.status(), StatusCode::OK);
    // The revocation is on disk.
    let jti = claims(&env, &first)["jti"].as_str().unwrap().to_string();
    assert!(revoked_jtis(&env).contains(&jti));
}

#[test]
fn post_logout_with_a_bearer_and_no_cookie_ends_the_token_with_json() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    let other = s.token("alice", ALICE_PW);
    // An API client that logs out with POST (SPEC §15): 200 JSON as DELETE /logout, and the
    // token is refused from then on, by the server and the command line. No CSRF check:
    // bearer endpoints follow CORS only.
    let res = send(
        s.post("/logout")
            .bearer_auth(&token)
            .header(header::ORIGIN, "https://elsewhere.example"),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(res.headers(), "content-type").starts_with("application/json"));
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(
        body_json(res),
        json!({"message": "Successfully logged out"})
    );
    assert_invalid_token(s.protected(&token));
    env.cmd().args(["verify", &token]).exits(4);
    assert_eq!(s.protected(&other).status(), StatusCode::OK);
    let jti = claims(&env, &token)["jti"].as_str().unwrap().to_string();
    assert_eq!(revoked_jtis(&env), [jti]);
    // Again: its session has ended already, a success said so (SPEC §13); garbage: 401
    // invalid_token; expired and nothing else: logged out. As DELETE /logout.
    let res = send(s.post("/logout").bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body_json(res),
        json!({"message": "The session had already ended"})
    );
    assert_invalid_token(send(s.post("/logout").bearer_auth("garbage")));
    let expired = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1000000000",
        "--exp",
        "1000000600",
    ]);
    assert_eq!(
        send(s.post("/logout").bearer_auth(&expired)).status(),
        StatusCode::OK
    );
    // With a session cookie it stays the browser's logout: the cookie's token ends, 303.
    let no_redirects = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let res = send(
        no_redirects
            .post(s.url("/logout"))
            .bearer_auth(&other)
            .header(header::COOKIE, format!("jwtauth_session={other}")),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(header_of(res.headers(), "set-cookie").contains("Max-Age=0"));
    assert_invalid_token(s.protected(&other));
}

#[test]
fn revoke_follows_rfc_7009() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    let other = s.token("alice", ALICE_PW);
    let revoke = |fields: &[(&str, &str)]| send(s.post("/revoke").form_body(fields));

    let res = revoke(&[("token", &token), ("token_type_hint", "access_token")]);
    assert_eq!(res.status(), StatusCode::OK);
    assert_invalid_token(s.protected(&token));
    assert_eq!(s.protected(&other).status(), StatusCode::OK);
    // Again (already revoked), unknown, garbage, a token of another key, a refresh hint: 200.
    let stranger = {
        let e = Env::new();
        e.init();
        e.mint(&["--sub", "alice"])
    };
    for t in [token.as_str(), "garbage", "a.b.c", &stranger] {
        assert_eq!(revoke(&[("token", t)]).status(), StatusCode::OK, "{t}");
    }
    assert_eq!(
        revoke(&[("token", &other), ("token_type_hint", "refresh_token")]).status(),
        StatusCode::OK
    );
    assert_invalid_token(s.protected(&other));
    // No token field, an empty one: 400 invalid_request.
    assert_error(revoke(&[]), StatusCode::BAD_REQUEST, "invalid_request");
    assert_error(
        revoke(&[("token_type_hint", "access_token")]),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        revoke(&[("token", "")]),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let mut jtis = revoked_jtis(&env);
    jtis.sort();
    let mut want = vec![
        claims(&env, &token)["jti"].as_str().unwrap().to_string(),
        claims(&env, &other)["jti"].as_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(jtis, want);
    s.assert_logs_free_of(&[&token, &other, ALICE_PW]);
}

// ----- POST /introspect -------------------------------------------------------------------------

#[test]
fn introspect_refuses_callers_not_configured() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    let form = [("token", token.as_str())];
    // No caller token at all.
    let res = send(s.post("/introspect").form_body(&form));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    // A valid token whose subject is not in introspection_subjects (none by default): 403
    // insufficient_scope (RFC 6750 §3.1, SPEC §15), not 401.
    let (h, _) = assert_error(
        send(s.post("/introspect").bearer_auth(&token).form_body(&form)),
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    assert_eq!(
        header_of(&h, "www-authenticate"),
        "Bearer error=\"insufficient_scope\""
    );
    // A bad caller token.
    assert_invalid_token(send(
        s.post("/introspect")
            .bearer_auth("garbage")
            .form_body(&form),
    ));
}

#[test]
fn introspect_answers_configured_callers() {
    let env = env();
    write_config(
        &env,
        "[serve]\nintrospection_subjects = [\"introspector\"]\n",
    );
    let s = Server::start(&env);
    let caller = env.mint(&["--sub", "introspector"]);
    let token = s.token("alice", ALICE_PW);
    let introspect = |t: &str| {
        send(
            s.post("/introspect")
                .bearer_auth(&caller)
                .form_body(&[("token", t)]),
        )
    };
    let res = introspect(&token);
    assert_eq!(res.status(), StatusCode::OK);
    let c = claims(&env, &token);
    assert_eq!(
        body_json(res),
        json!({"active": true, "sub": "alice", "exp": c["exp"], "iat": c["iat"],
               "jti": c["jti"], "token_type": "Bearer", "username": "alice"})
    );
    // A token with an audience is introspected whatever its audience (revoking is not granting).
    let aud = env.mint(&[
        "--sub",
        "bob",
        "--aud",
        "api",
        "--iss",
        "https://issuer.example",
    ]);
    let body = body_json(introspect(&aud));
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], "api");
    assert_eq!(body["iss"], "https://issuer.example");
    // Not active: revoked, expired, garbage, of another key.
    env.cmd().args(["logout", &token]).exits(0);
    let expired = env.mint(&[
        "--sub",
        "alice",
        "--iat",
        "1000000000",
        "--exp",
        "1000000600",
    ]);
    let stranger = {
        let e = Env::new();
        e.init();
        e.mint(&["--sub", "alice"])
    };
    for t in [token.as_str(), &expired, "garbage", &stranger] {
        let res = introspect(t);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_json(res), json!({"active": false}), "{t}");
    }
    // A missing token field.
    assert_error(
        send(s.post("/introspect").bearer_auth(&caller).form_body(&[])),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // Other subjects still may not.
    let alice = s.token("alice", ALICE_PW);
    assert_error(
        send(
            s.post("/introspect")
                .bearer_auth(&alice)
                .form_body(&[("token", &alice)]),
        ),
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
}

// ----- discovery, health, metrics -------------------------------------------------------------

#[test]
fn jwks_is_404_for_an_hmac_key() {
    let env = env();
    let s = Server::start(&env);
    assert_error(
        send(s.get("/.well-known/jwks.json")),
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[test]
fn metadata_only_with_an_issuer_and_never_from_the_host_header() {
    let env = env();
    // No issuer configured: 404 JSON, whatever Host the request names (SPEC §15).
    let s = Server::start(&env);
    for host in [None, Some("evil.example")] {
        let mut req = s.get("/.well-known/oauth-authorization-server");
        if let Some(h) = host {
            req = req.header(header::HOST, h);
        }
        assert_error(send(req), StatusCode::NOT_FOUND, "not_found");
    }
    drop(s);
    // With one, every URL is built from it; a lying Host changes nothing.
    write_config(&env, "issuer = \"https://auth.example.com/\"\n");
    let s = Server::start(&env);
    let want = json!({
        "issuer": "https://auth.example.com/",
        "token_endpoint": "https://auth.example.com/token",
        "revocation_endpoint": "https://auth.example.com/revoke",
        "introspection_endpoint": "https://auth.example.com/introspect",
        "grant_types_supported": ["password"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    });
    for host in [None, Some("evil.example")] {
        let mut req = s.get("/.well-known/oauth-authorization-server");
        if let Some(h) = host {
            req = req.header(header::HOST, h);
        }
        let res = send(req);
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_json(res), want);
    }
}

#[test]
fn jwks_and_metadata_for_an_es256_key() {
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    env.add_user("alice", ALICE_PW);
    write_config(&env, "issuer = \"https://auth.example.com\"\n");
    let s = Server::start(&env);
    let res = send(s.get("/.well-known/jwks.json"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(res.headers(), "content-type").starts_with("application/json"));
    let served = body_json(res);
    let cli = json(&env.cmd().arg("jwks").exits(0).stdout);
    assert_eq!(served, cli);
    assert_eq!(served["keys"][0]["kty"], "EC");
    assert!(served["keys"][0].get("d").is_none(), "no private part");

    let m = body_json(send(s.get("/.well-known/oauth-authorization-server")));
    let base = "https://auth.example.com";
    assert_eq!(m["issuer"], base);
    assert_eq!(m["token_endpoint"], format!("{base}/token"));
    assert_eq!(m["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(m["revocation_endpoint"], format!("{base}/revoke"));
    assert_eq!(m["introspection_endpoint"], format!("{base}/introspect"));
    assert_eq!(m["grant_types_supported"], json!(["password"]));
    assert_eq!(m["response_types_supported"], json!([]));
    assert_eq!(m["token_endpoint_auth_methods_supported"], json!(["none"]));

    // Its tokens are ES256 with the key's kid, and verify against the served JWK Set.
    let token = s.token("alice", ALICE_PW);
    let header = env.decoded(&token)["header"].clone();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], served["keys"][0]["kid"]);
    let jwks = env.path().join("served-jwks.json");
    std::fs::write(&jwks, served.to_string()).unwrap();
    let out = Env::new()
        .cmd()
        .args(["verify", "--jwks"])
        .arg(&jwks)
        .arg(&token)
        .exits(0);
    assert_eq!(stdout_str(&out).trim(), "alice");
}

#[test]
fn openapi_describes_every_route() {
    let env = env();
    let s = Server::start(&env);
    let res = send(s.get("/openapi.json"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(res.headers(), "content-type").starts_with("application/json"));
    let doc = body_json(res);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    for (path, method) in [
        ("/token", "post"),
        ("/protected", "get"),
        ("/userinfo", "get"),
        ("/logout", "delete"),
        ("/revoke", "post"),
        ("/introspect", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/openapi.json", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from {}",
            doc["paths"]
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
}

#[test]
fn every_json_error_has_fastapis_detail_too() {
    let env = env();
    let s = Server::start(&env);
    // The handlers' errors, the fallback's 404 and the framework's 405 and 413 alike
    // (SPEC §15): `detail` is the description, as FastAPI's clients read it.
    let big = format!("username=alice&password={}", "x".repeat(17 * 1024));
    for (res, status, error) in [
        (send(s.get("/protected")), 401, "invalid_request"),
        (
            send(s.get("/protected").bearer_auth("junk")),
            401,
            "invalid_token",
        ),
        (s.login_form("alice", "wrong"), 400, "invalid_grant"),
        (send(s.post("/revoke")), 400, "invalid_request"),
        (send(s.get("/no-such-route")), 404, "not_found"),
        (send(s.get("/token")), 405, "invalid_request"),
        (
            send(
                s.post("/token")
                    .raw("application/x-www-form-urlencoded", big),
            ),
            413,
            "invalid_request",
        ),
    ] {
        let (_, body) = assert_error(res, StatusCode::from_u16(status).unwrap(), error);
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
    }
    // The OpenAPI document says so, and documents the statuses of SPEC §15.
    let doc = body_json(send(s.get("/openapi.json")));
    for (path, method, status) in [
        ("/token", "post", "401"),
        ("/introspect", "post", "403"),
        ("/logout", "post", "200"),
        ("/logout", "post", "401"),
        ("/.well-known/oauth-authorization-server", "get", "404"),
        ("/auth", "get", "403"),
        ("/auth/forward", "get", "403"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"][status].is_object(),
            "{method} {path} {status} undocumented"
        );
    }
    let schema = &doc["components"]["schemas"]["ApiError"];
    assert_eq!(schema["properties"]["detail"]["type"], "string", "{schema}");
    assert!(
        schema["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("detail"))),
        "{schema}"
    );
}

#[test]
fn healthz_and_metrics() {
    let env = env();
    let s = Server::start(&env);
    let res = send(s.get("/healthz"));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().unwrap(), "ok");

    let token = s.token("alice", ALICE_PW);
    assert_eq!(
        s.login_form("alice", "wrong").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(s.protected(&token).status(), StatusCode::OK);
    assert_eq!(send(s.get("/nope")).status(), StatusCode::NOT_FOUND);

    let res = send(s.get("/metrics"));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(res.headers(), "content-type").starts_with("text/plain"));
    let text = res.text().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for want in [
        "jwtauth_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "jwtauth_http_requests_total{route=\"/token\",status=\"200\"} 1",
        "jwtauth_http_requests_total{route=\"/token\",status=\"400\"} 1",
        "jwtauth_http_requests_total{route=\"/protected\",status=\"200\"} 1",
        "jwtauth_http_requests_total{route=\"other\",status=\"404\"} 1",
        "jwtauth_logins_total{outcome=\"success\"} 1",
        "jwtauth_logins_total{outcome=\"refused\"} 1",
        "jwtauth_logins_total{outcome=\"throttled\"} 0",
        "jwtauth_login_throttled_total 0",
        "jwtauth_hash_queue_depth 0",
        "jwtauth_hash_running 0",
        "jwtauth_verify_seconds_bucket{le=\"+Inf\"} 1",
        "jwtauth_verify_seconds_count 1",
        "# TYPE jwtauth_http_requests_total counter",
        "# TYPE jwtauth_verify_seconds histogram",
        "# TYPE jwtauth_hash_queue_depth gauge",
    ] {
        assert!(lines.contains(&want), "{want:?} not in:\n{text}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("jwtauth_verify_seconds_sum "))
    );
    // Every sample line is `name{labels} number`.
    for l in lines.iter().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
    // Made-up paths add no series.
    assert!(!text.contains("/nope"));
}

// ----- freshness with the command line ----------------------------------------------------------

#[test]
fn a_command_line_logout_is_refused_on_the_next_request() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    assert_eq!(s.protected(&token).status(), StatusCode::OK);
    env.cmd().args(["logout", &token]).exits(0);
    assert_invalid_token(s.protected(&token));
    assert_invalid_token(send(s.get("/userinfo").bearer_auth(&token)));

    // logout --all: every token of the subject issued up to now; a new login works.
    let t2 = s.token("alice", ALICE_PW);
    env.cmd().args(["logout", "--all", "alice"]).exits(0);
    assert_invalid_token(s.protected(&t2));
    let t3 = s.token("alice", ALICE_PW);
    assert_eq!(s.protected(&t3).status(), StatusCode::OK);
}

#[test]
fn a_command_line_disable_refuses_the_login_and_the_old_token() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    env.cmd().args(["user", "disable", "alice"]).exits(0);
    let res = s.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(res), invalid_grant());
    assert_invalid_token(s.protected(&token));
    // Enabled again: she logs in; the old token stays revoked.
    env.cmd().args(["user", "enable", "alice"]).exits(0);
    let fresh = s.token("alice", ALICE_PW);
    assert_eq!(s.protected(&fresh).status(), StatusCode::OK);
    assert_invalid_token(s.protected(&token));
    // A password changed on the command line: the old password is refused over HTTP.
    env.cmd()
        .args(["user", "passwd", "bob", "--password-stdin"])
        .write_stdin("bob-new-Pw-5512\n")
        .assert()
        .success();
    assert_eq!(
        s.login_form("bob", BOB_PW).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.login_form("bob", "bob-new-Pw-5512").status(),
        StatusCode::OK
    );
    // A user added on the command line can log in at once.
    env.add_user("carol", "carol-Pw-0091");
    assert_eq!(
        s.login_form("carol", "carol-Pw-0091").status(),
        StatusCode::OK
    );
}

#[test]
fn an_http_logout_is_refused_by_the_command_line() {
    let env = env();
    let s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    env.cmd().args(["verify", &token]).exits(0);
    assert_eq!(
        send(s.delete("/logout").bearer_auth(&token)).status(),
        StatusCode::OK
    );
    env.cmd().args(["verify", &token]).exits(4);
    let other = s.token("alice", ALICE_PW);
    assert_eq!(
        send(s.post("/revoke").form_body(&[("token", &other)])).status(),
        StatusCode::OK
    );
    env.cmd().args(["verify", &other]).exits(4);
}

// ----- throttling --------------------------------------------------------------------------------

fn assert_throttled(res: Response) {
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{res:?}");
    let secs: u64 = header_of(res.headers(), "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=300).contains(&secs), "Retry-After {secs}");
    let body = body_json(res);
    assert!(body["error"].is_string() && body["error_description"].is_string());
}

/// A login as `user` from client address `from` (loopback is a trusted proxy by default, so
/// `X-Forwarded-For` names the client).
fn login_from(s: &Server, from: &str, user: &str, pw: &str) -> Response {
    send(
        s.post("/token")
            .header("x-forwarded-for", from)
            .form_body(&[("username", user), ("password", pw)]),
    )
}

#[test]
fn a_guessed_username_gets_its_rate_from_any_address() {
    let env = env();
    let s = Server::start(&env);
    // Each failure from another address, so only the username's count reaches 5: from then
    // on, 10 checks a minute (5 used) from all addresses together.
    for i in 1..=10 {
        let res = login_from(&s, &format!("203.0.113.{i}"), "alice", "wrong");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "failure {i}");
        assert_eq!(body_json(res), invalid_grant());
    }
    // Past the rate, even the right password waits, from a fresh address (no device cookie).
    assert_throttled(login_from(&s, "198.51.100.7", "alice", ALICE_PW));
    assert_throttled(send(
        s.post("/token")
            .header("x-forwarded-for", "198.51.100.8")
            .header(header::AUTHORIZATION, basic("alice", ALICE_PW)),
    ));
    // Other users are not affected, and alice's tokens still work.
    assert_eq!(
        login_from(&s, "198.51.100.7", "bob", BOB_PW).status(),
        StatusCode::OK
    );
    let minted = env.mint(&["--sub", "alice"]);
    assert_eq!(s.protected(&minted).status(), StatusCode::OK);
    let metrics = send(s.get("/metrics")).text().unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "jwtauth_login_throttled_total 2"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "jwtauth_http_requests_total{route=\"/token\",status=\"429\"} 2"),
        "{metrics}"
    );
}

#[test]
fn five_failures_from_an_address_ban_it_for_every_username() {
    let env = env();
    let s = Server::start(&env);
    for i in 1..=5 {
        let res = login_from(&s, "203.0.113.50", &format!("guess{i}"), "wrong");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "failure {i}");
    }
    assert_throttled(login_from(&s, "203.0.113.50", "bob", BOB_PW));
    // The same user from another address is fine.
    assert_eq!(
        login_from(&s, "203.0.113.51", "bob", BOB_PW).status(),
        StatusCode::OK
    );
}

#[test]
fn the_direct_peer_is_throttled_too() {
    // Without X-Forwarded-For the client is the peer itself (127.0.0.1).
    let env = env();
    let s = Server::start(&env);
    for i in 1..=5 {
        assert_eq!(
            s.login_form(&format!("nobody{i}"), "wrong").status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_throttled(s.login_form("alice", ALICE_PW));
    // Verification is never throttled.
    assert_eq!(
        s.protected(&env.mint(&["--sub", "alice"])).status(),
        StatusCode::OK
    );
}

#[test]
fn throttle_limits_come_from_the_config_file() {
    let env = env();
    write_config(
        &env,
        "[serve]\nthrottle_max_failures = 2\nthrottle_window = \"10m\"\nthrottle_ban = \"90s\"\n",
    );
    let s = Server::start(&env);
    for i in 1..=2 {
        let res = login_from(&s, "203.0.113.1", &format!("user{i}"), "wrong");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "failure {i}");
    }
    let res = login_from(&s, "203.0.113.1", "alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = header_of(res.headers(), "retry-after").parse().unwrap();
    assert!(
        (1..=90).contains(&secs),
        "Retry-After {secs} beyond throttle_ban"
    );
}

#[test]
fn ttl_issuer_and_audience_come_from_the_config_file() {
    let env = env();
    write_config(
        &env,
        "ttl = \"2h\"\nissuer = \"https://auth.example.com\"\naudience = \"my-api\"\n",
    );
    let s = Server::start(&env);
    let res = s.login_form("alice", ALICE_PW);
    assert_eq!(res.status(), StatusCode::OK);
    let body = body_json(res);
    assert_eq!(body["expires_in"], 7200);
    let token = body["access_token"].as_str().unwrap();
    let c = claims(&env, token);
    assert_eq!(c["iss"], "https://auth.example.com");
    assert_eq!(c["aud"], "my-api");
    assert_eq!(s.protected(token).status(), StatusCode::OK);
    // Access checks expect the configured audience.
    assert_invalid_token(s.protected(&env.mint(&["--sub", "alice", "--aud", "other-api"])));
    let m = body_json(send(s.get("/.well-known/oauth-authorization-server")));
    assert_eq!(m["issuer"], "https://auth.example.com");
    assert_eq!(m["token_endpoint"], "https://auth.example.com/token");
}

#[test]
fn with_an_issuer_every_access_check_requires_it_and_revoking_takes_any() {
    let env = env();
    // Tokens without `iss` and with another one, minted before the issuer is configured.
    let none = || env.mint(&["--sub", "alice"]);
    let other = || env.mint(&["--sub", "alice", "--iss", "https://other.example"]);
    let (none1, none2, none3) = (none(), none(), none());
    let (other1, other2, other3) = (other(), other(), other());
    let stranger_caller = env.mint(&["--sub", "introspector", "--iss", "https://other.example"]);
    write_config(
        &env,
        "issuer = \"https://auth.example.com\"\n[serve]\nintrospection_subjects = [\"introspector\"]\n",
    );
    // mint now sets the configured issuer (SPEC §15), unless --iss is given.
    let minted = env.mint(&["--sub", "alice"]);
    assert_eq!(claims(&env, &minted)["iss"], "https://auth.example.com");
    let s = Server::start(&env);
    let login = s.token("alice", ALICE_PW);
    for t in [&login, &minted] {
        for path in ["/protected", "/userinfo", "/auth", "/auth/forward"] {
            let res = send(s.get(path).bearer_auth(t));
            assert_eq!(res.status(), StatusCode::OK, "{path}");
        }
        env.cmd().args(["verify", t]).exits(0);
    }
    // Refused by every access check of the server, and by the command line's verify.
    for t in [&none1, &other1] {
        for path in ["/protected", "/userinfo", "/auth", "/auth/forward"] {
            assert_invalid_token(send(s.get(path).bearer_auth(t)));
        }
        env.cmd().args(["verify", t]).exits(1);
    }
    // verify --iss replaces the configured value.
    env.cmd()
        .args(["verify", "--iss", "https://other.example", &other1])
        .exits(0);
    env.cmd()
        .args(["verify", "--iss", "https://other.example", &login])
        .exits(1);
    // /introspect's caller needs the issuer; the token it asks about may have any.
    let caller = env.mint(&["--sub", "introspector"]);
    assert_invalid_token(send(
        s.post("/introspect")
            .bearer_auth(&stranger_caller)
            .form_body(&[("token", &login)]),
    ));
    let res = send(
        s.post("/introspect")
            .bearer_auth(&caller)
            .form_body(&[("token", &other1)]),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res)["iss"], "https://other.example");
    // Paths that revoke accept any iss, as they accept any aud.
    let res = send(s.delete("/logout").bearer_auth(&none1));
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(s.post("/logout").bearer_auth(&none2));
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(s.post("/revoke").form_body(&[("token", &other1)]));
    assert_eq!(res.status(), StatusCode::OK);
    env.cmd().args(["logout", &other2]).exits(0);
    for t in [&other1, &other2] {
        env.cmd()
            .args(["verify", "--iss", "https://other.example", t])
            .exits(4);
    }
    let jtis = revoked_jtis(&env);
    for t in [&none1, &none2, &other1, &other2] {
        let jti = claims(&env, t)["jti"].as_str().unwrap().to_string();
        assert!(jtis.contains(&jti), "{t} not revoked");
    }
    for t in [&none3, &other3] {
        let jti = claims(&env, t)["jti"].as_str().unwrap().to_string();
        assert!(!jtis.contains(&jti));
    }
}

// ----- robustness --------------------------------------------------------------------------------

#[test]
fn bodies_over_16_kib_are_413() {
    let env = env();
    let s = Server::start(&env);
    let big = format!("username=alice&password={}", "x".repeat(17 * 1024));
    let res = send(
        s.post("/token")
            .raw("application/x-www-form-urlencoded", big.clone()),
    );
    let (h, _) = assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert_eq!(header_of(&h, "cache-control"), "no-store");
    let res = send(s.post("/revoke").raw(
        "application/x-www-form-urlencoded",
        format!("token={}", "a".repeat(20_000)),
    ));
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    // Chunked, with no Content-Length: cut off at 16 KiB all the same.
    let chunked = reqwest::blocking::Body::new(std::io::Cursor::new(big.into_bytes()));
    let res = send(
        s.post("/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(chunked),
    );
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    // Just under the limit is read (and refused as a login, not as too large).
    let under = format!("username=alice&password={}", "x".repeat(15 * 1024));
    let res = send(
        s.post("/token")
            .raw("application/x-www-form-urlencoded", under),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    s.healthy();
}

#[test]
fn bad_requests_get_clean_4xx_and_the_server_keeps_serving() {
    let env = env();
    let s = Server::start(&env);
    let token_with = |auth: &str| send(s.post("/token").header(header::AUTHORIZATION, auth));
    // Malformed Basic: not base64, no colon, not UTF-8, empty.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for auth in [
        "Basic !!!not-base64!!!".to_string(),
        format!("Basic {}", b64(b"no-colon-here")),
        format!("Basic {}", b64(b"\xff\xfe:\xff")),
        "Basic".to_string(),
        "Basic ".to_string(),
        "Negotiate abc".to_string(),
    ] {
        assert_error(
            token_with(&auth),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
    // Invalid UTF-8 in a form (raw and percent-encoded): a clean 400.
    for body in [
        b"username=\xff\xfe&password=\xc3\x28".to_vec(),
        b"username=%ff%fe&password=%c3%28".to_vec(),
    ] {
        let res = send(
            s.post("/token")
                .raw("application/x-www-form-urlencoded", body),
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body = body_json(res);
        assert!(
            body["error"] == "invalid_request" || body["error"] == "invalid_grant",
            "{body}"
        );
    }
    // JSON that is not an object, or has the wrong types, or nests deeply.
    for body in [
        "[\"alice\", \"pw\"]",
        "\"alice\"",
        "42",
        "null",
        "{\"username\": 1, \"password\": 2}",
        &format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
        &format!("{}{}", "{\"a\":".repeat(1_000), "}".repeat(1_000)),
    ] {
        assert_error(
            send(s.post("/token").raw("application/json", body.to_string())),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
    // A header-injection attempt: CR/LF in a form username is just a wrong username.
    let evil = "alice\r\nX-Injected: 1\r\n\r\nHTTP/1.1 200 OK";
    let res = s.login_form(evil, ALICE_PW);
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("x-injected").is_none());
    assert_eq!(body_json(res), invalid_grant());
    let res = send(
        s.post("/token")
            .json(&json!({"username": evil, "password": ALICE_PW})),
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A bearer token with CR/LF-like junk and non-ASCII bytes.
    let res = send(
        s.get("/protected")
            .header(header::AUTHORIZATION, b"Bearer \xff\xfe.x.y".as_slice()),
    );
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The revoke and introspect forms with junk.
    let res = send(s.post("/revoke").raw(
        "application/x-www-form-urlencoded",
        b"token=%ff\xff".to_vec(),
    ));
    assert!(res.status() == StatusCode::OK || res.status() == StatusCode::BAD_REQUEST);
    let res = send(
        s.post("/revoke")
            .raw("application/json", "{\"token\": \"x\"}"),
    );
    assert!(res.status().is_client_error() || res.status() == StatusCode::OK);
    // Unknown routes: JSON 404.
    assert_error(send(s.get("/admin")), StatusCode::NOT_FOUND, "not_found");
    s.healthy();
    // Every line the server logged is one line with no raw control characters.
    let log = s.log();
    for l in &log {
        assert!(!l.chars().any(|c| c.is_control()), "{l:?}");
    }
    s.assert_logs_free_of(&[ALICE_PW]);
}

#[test]
fn garbage_on_the_wire_is_answered_or_dropped_cleanly() {
    let env = env();
    let s = Server::start(&env);
    for raw in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ] {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(raw).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{:?} -> {text}",
            String::from_utf8_lossy(raw)
        );
    }
    s.healthy();
}

#[test]
fn a_slow_client_does_not_hold_up_others_and_is_cut_off() {
    let env = env();
    let s = Server::start(&env);
    // Half a request line, then nothing.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET /heal").unwrap();
    let started = Instant::now();
    // Meanwhile, other clients are served at once, over new connections.
    for _ in 0..5 {
        let t = Instant::now();
        let c = Client::builder().no_proxy().build().unwrap();
        let res = c.get(s.url("/healthz")).send().unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let token = s.token("alice", ALICE_PW);
    assert_eq!(s.protected(&token).status(), StatusCode::OK);
    // The slow client is cut off once the header timeout (10 s) has passed: the connection
    // is closed (after a 408 at most), never left open.
    slow.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let mut answer = Vec::new();
    let closed = slow.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(
        closed.is_ok()
            || matches!(
                closed.as_ref().map_err(|e| e.kind()),
                Err(std::io::ErrorKind::ConnectionReset)
            ),
        "{closed:?} after {waited:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(waited >= Duration::from_secs(9), "cut off after {waited:?}");
    assert!(waited < Duration::from_secs(35), "cut off after {waited:?}");
    s.healthy();
}

// ----- shutdown and secrets --------------------------------------------------------------------

#[test]
fn sigterm_exits_0_with_every_acknowledged_logout_on_disk() {
    let env = env();
    let mut s = Server::start(&env);
    let mut jtis = Vec::new();
    for i in 0..6 {
        let t = s.token("alice", ALICE_PW);
        let res = if i % 2 == 0 {
            send(s.delete("/logout").bearer_auth(&t))
        } else {
            send(s.post("/revoke").form_body(&[("token", &t)]))
        };
        assert_eq!(res.status(), StatusCode::OK);
        jtis.push(claims(&env, &t)["jti"].as_str().unwrap().to_string());
    }
    let status = s.stop();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut on_disk = revoked_jtis(&env);
    on_disk.sort();
    jtis.sort();
    assert_eq!(on_disk, jtis);
}

#[test]
fn sigterm_finishes_a_request_in_flight() {
    let env = env();
    let mut s = Server::start(&env);
    let token = s.token("alice", ALICE_PW);
    let body = format!("token={token}");
    // A request whose handler is reading its body when SIGTERM arrives: with
    // `Expect: 100-continue` the server says so (100 Continue) once it starts to read it.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        c,
        "POST /revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    signal(&s.child, "TERM");
    // The listener closes at once: new connections are refused from then on.
    let end = Instant::now() + DEADLINE;
    while TcpStream::connect(s.addr).is_ok() {
        assert!(Instant::now() < end, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The request in flight is finished, and the revocation is on disk.
    c.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = wait_until(&mut s.child, DEADLINE).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let jti = claims(&env, &token)["jti"].as_str().unwrap().to_string();
    assert_eq!(revoked_jtis(&env), [jti]);
}

#[test]
fn sigint_exits_0_too() {
    let env = env();
    let mut s = Server::start(&env);
    s.healthy();
    signal(&s.child, "INT");
    let status = wait_until(&mut s.child, DEADLINE).expect("exit after SIGINT");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn logs_never_carry_passwords_tokens_or_authorization_values() {
    let env = env();
    let s = Server::start_with(&env, &["--log-format", "json"]);
    let auth = basic("alice", ALICE_PW);
    let t1 = body_json(send(s.post("/token").header(header::AUTHORIZATION, &auth)))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let t2 = s.token("bob", BOB_PW);
    let _ = s.login_form("alice", "wrong-Secret-991");
    let _ = send(
        s.post("/token")
            .json(&json!({"username": "bob", "password": "json-Secret-222"})),
    );
    let _ = s.protected(&t1);
    let _ = send(s.get("/userinfo").bearer_auth(&t2));
    let _ = send(
        s.post("/introspect")
            .bearer_auth(&t2)
            .form_body(&[("token", &t1)]),
    );
    let _ = send(s.post("/revoke").form_body(&[("token", &t2)]));
    let _ = send(s.delete("/logout").bearer_auth(&t1));
    // A token in the query string is not logged either (the log has the path only).
    let _ = send(s.get(&format!("/protected?access_token={t1}")));
    let log = s.log();
    for l in log.iter().filter(|l| !l.starts_with("jwtauth: listening")) {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        // Request lines; the audit events beside them are `audit.rs`'s.
        if v["target"] == "jwtauth::access" {
            assert!(v["method"].is_string() && v["path"].is_string() && v["status"].is_u64());
        } else {
            assert_eq!(v["target"], "jwtauth::audit", "{l}");
        }
    }
    let signatures: Vec<&str> = [&t1, &t2]
        .iter()
        .map(|t| t.rsplit('.').next().unwrap())
        .collect();
    let b64 = auth.trim_start_matches("Basic ").to_string();
    s.assert_logs_free_of(&[
        ALICE_PW,
        BOB_PW,
        "wrong-Secret-991",
        "json-Secret-222",
        &t1,
        &t2,
        signatures[0],
        signatures[1],
        &auth,
        &b64,
    ]);
}

// ----- key rotation ----------------------------------------------------------------------------

/// After `init --rotate` and a restart, the server publishes both keys, signs with the new
/// one, and still accepts a token of the retired key on /protected (chosen by its kid); once
/// that key is retired with `keys retire` (and the server restarted), the token is refused.
#[test]
fn after_a_rotation_the_server_publishes_both_keys_and_accepts_the_retired_keys_tokens() {
    let env = Env::new();
    env.cmd().args(["init", "--alg", "ES256"]).exits(0);
    env.add_user("alice", ALICE_PW);
    let old = {
        let s = Server::start(&env);
        s.token("alice", ALICE_PW)
    };
    env.cmd().args(["init", "--rotate"]).exits(0);
    let listed = json(&env.cmd().args(["keys", "list", "--json"]).exits(0).stdout);
    let (current, retired) = (&listed["keys"][0]["kid"], &listed["keys"][1]["kid"]);

    let s = Server::start(&env);
    let served = body_json(send(s.get("/.well-known/jwks.json")));
    let kids: Vec<&Value> = served["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids, [current, retired]);
    let res = s.protected(&old);
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res)["user"], "alice");
    let new = s.token("alice", ALICE_PW);
    assert_eq!(&env.decoded(&new)["header"]["kid"], current);
    assert_eq!(s.protected(&new).status(), StatusCode::OK);
    drop(s);

    env.cmd()
        .args(["keys", "retire", retired.as_str().unwrap()])
        .exits(0);
    let s = Server::start(&env);
    assert_invalid_token(s.protected(&old));
    assert_eq!(s.protected(&new).status(), StatusCode::OK);
    let served = body_json(send(s.get("/.well-known/jwks.json")));
    assert_eq!(served["keys"].as_array().unwrap().len(), 1);
}

// ----- start-up warnings (SPEC §15) --------------------------------------------------------------

#[test]
fn serve_warns_at_start_when_the_users_file_does_not_exist() {
    let env = Env::new();
    env.init();
    let mut s = Server::start(&env);
    // It serves all the same: users may be added while it runs.
    assert_eq!(
        s.login_form("alice", ALICE_PW).status(),
        StatusCode::BAD_REQUEST
    );
    // Only the log is checked here: a SIGTERM soon after start can end the server before
    // its handler for it is installed (not a graceful stop), which other tests cover.
    s.stop();
    let log = s.log();
    let users = env.users().display().to_string();
    let warned: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("the users file does not exist"))
        .collect();
    assert_eq!(warned.len(), 1, "{log:?}");
    assert!(
        warned[0].contains(" WARN ") && warned[0].contains(&users),
        "{warned:?}"
    );
    // The warning comes before the start-up line.
    let listening = log
        .iter()
        .position(|l| l.starts_with("jwtauth: listening on "))
        .expect("start-up line");
    let warning = log.iter().position(|l| l == warned[0]).unwrap();
    assert!(warning < listening, "{log:?}");

    // With a users file (even one without users) there is nothing to warn about.
    env.add_user("alice", ALICE_PW);
    let mut s = Server::start(&env);
    s.healthy();
    s.stop();
    let log = s.log();
    assert!(
        !log.iter().any(|l| l.contains("users file")),
        "a warning with a users file: {log:?}"
    );
}
