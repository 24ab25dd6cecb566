//! Forward-auth and the browser login of `jwtauth serve` (SPEC §9) over real HTTP:
//! `GET /auth`, `GET /auth/forward`, `GET/POST /login`, `POST /logout`, the session cookie's
//! attributes, every classic open-redirect trick, trusted and untrusted `X-Forwarded-*`,
//! client-sent `Remote-*` headers, and bad input. Redirects are never followed, so each test
//! sees the exact status and `Location`.
use crate::common;
use crate::serve::{
    ALICE_PW, FormBody, Server, assert_error, body_json, env, header_of, send, write_config,
};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Env, Exits};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap};

const COOKIE: &str = "jwtauth_session";
const REFUSED: &str = "Incorrect username or password.";

/// A client that never follows redirects and keeps no cookies.
fn client() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

struct Fx {
    s: Server,
    http: Client,
}

impl Fx {
    fn new(env: &Env) -> Fx {
        Fx {
            s: Server::start(env),
            http: client(),
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.s.url(path))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.s.url(path))
    }

    /// `POST /login` with a form.
    fn login(&self, fields: &[(&str, &str)]) -> Response {
        send(self.post("/login").form_body(fields))
    }

    /// Logs alice in through the page; returns the cookie's value and the `Set-Cookie` line.
    fn session(&self, user: &str, pw: &str) -> (String, String) {
        let res = self.login(&[("username", user), ("password", pw)]);
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
        let line = header_of(res.headers(), "set-cookie").to_string();
        let value = line
            .strip_prefix(&format!("{COOKIE}="))
            .and_then(|r| r.split(';').next())
            .expect("cookie value")
            .to_string();
        (value, line)
    }

    fn auth_with_cookie(&self, path: &str, cookie: &str) -> Response {
        send(
            self.get(path)
                .header(header::COOKIE, format!("{COOKIE}={cookie}")),
        )
    }
}

fn location(res: &Response) -> &str {
    header_of(res.headers(), "location")
}

/// 401 with `WWW-Authenticate: Bearer` (no error: nothing was sent) or with
/// `error="invalid_token"` (a token was sent), RFC 6750 §3.
fn assert_401(res: Response, sent: bool) {
    let (h, _) = assert_error(
        res,
        StatusCode::UNAUTHORIZED,
        if sent {
            "invalid_token"
        } else {
            "invalid_request"
        },
    );
    let challenge = header_of(&h, "www-authenticate");
    if sent {
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
            "{challenge}"
        );
    } else {
        assert_eq!(challenge, "Bearer");
    }
    assert!(h.get("remote-user").is_none());
    assert!(h.get("location").is_none());
}

fn remote(h: &HeaderMap) -> [String; 4] {
    [
        "remote-user",
        "remote-name",
        "remote-email",
        "remote-groups",
    ]
    .map(|n| {
        String::from_utf8(
            h.get(n)
                .unwrap_or_else(|| panic!("no {n} in {h:?}"))
                .as_bytes()
                .to_vec(),
        )
        .expect("UTF-8")
    })
}

fn add_carol(env: &Env) {
    env.cmd()
        .args([
            "user",
            "add",
            "carol",
            "--full-name",
            "Carol Ünïcode",
            "--email",
            "carol@example.com",
            "--cost",
            "4",
            "--password-stdin",
        ])
        .write_stdin("carol-Pw-93kd!\n")
        .exits(0);
}

// ----- GET /auth ------------------------------------------------------------------------------

#[test]
fn auth_answers_the_identity_headers_for_a_bearer_token_or_the_cookie() {
    let env = env();
    add_carol(&env);
    let f = Fx::new(&env);
    let token = env.mint(&["--sub", "carol", "--claim", r#"groups=["admins","dev"]"#]);
    for res in [
        send(f.get("/auth").bearer_auth(&token)),
        f.auth_with_cookie("/auth", &token),
        send(f.get("/auth/forward").bearer_auth(&token)),
        f.auth_with_cookie("/auth/forward", &token),
    ] {
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
        assert_eq!(
            remote(res.headers()),
            ["carol", "Carol Ünïcode", "carol@example.com", "admins,dev"]
        );
    }
    // Group membership comes from the token's `groups` claim.
    for path in ["/auth?group=admins", "/auth/forward?group=dev"] {
        assert_eq!(
            send(f.get(path).bearer_auth(&token)).status(),
            StatusCode::OK
        );
    }
    for path in [
        "/auth?group=root",
        "/auth/forward?group=Admins",
        "/auth?group=",
    ] {
        let (h, _) = assert_error(
            send(f.get(path).bearer_auth(&token)),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        );
        assert!(header_of(&h, "www-authenticate").contains("insufficient_scope"));
        assert!(h.get("remote-user").is_none());
    }
    // A token without groups: empty header, never a member.
    let plain = env.mint(&["--sub", "alice"]);
    let res = send(f.get("/auth").bearer_auth(&plain));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(remote(res.headers()), ["alice", "", "", ""]);
    assert_eq!(
        send(f.get("/auth?group=admins").bearer_auth(&plain)).status(),
        StatusCode::FORBIDDEN
    );
    // The bearer header wins over the cookie.
    let res = send(
        f.get("/auth")
            .bearer_auth(&plain)
            .header(header::COOKIE, format!("{COOKIE}={token}")),
    );
    assert_eq!(header_of(res.headers(), "remote-user"), "alice");
}

#[test]
fn a_near_miss_of_group_or_mfa_is_403_and_logged_other_parameters_are_ignored() {
    let env = env();
    let f = Fx::new(&env);
    let token = env.mint(&["--sub", "alice", "--claim", r#"groups=["admins"]"#]);
    // A typo must never skip the group check (SPEC §15): 403 (nginx turns anything else into
    // a 500), with or without a token, and an error line naming the parameter.
    for route in ["/auth", "/auth/forward"] {
        for query in [
            "groups=admins",
            "Group=admins",
            "GROUPS=admins",
            "group%5B%5D=admins",
            "group_=admins",
            "mfas=1",
            "MFA=1",
            "page=2&groups=root",
        ] {
            let path = format!("{route}?{query}");
            for res in [
                send(f.get(&path).bearer_auth(&token)),
                send(forwarded(f.get(&path), "text/html")),
            ] {
                let (h, body) = assert_error(res, StatusCode::FORBIDDEN, "invalid_request");
                assert!(h.get("remote-user").is_none() && h.get("location").is_none());
                assert!(
                    body["error_description"]
                        .as_str()
                        .unwrap()
                        .contains("'group' or 'mfa'"),
                    "{body}"
                );
            }
        }
        // Other unknown parameters are ignored (a proxy may pass the app's query on).
        for query in [
            "page=2",
            "subgroup=x",
            "groupby=name",
            "xgroup=1",
            "group=admins&rd=/x",
        ] {
            let res = send(f.get(&format!("{route}?{query}")).bearer_auth(&token));
            assert_eq!(res.status(), StatusCode::OK, "{route}?{query}");
        }
        // `mfa`: no token carries a second factor yet, so it fails closed (403); without a
        // token it is the 401 as always.
        let (h, _) = assert_error(
            send(f.get(&format!("{route}?mfa=1")).bearer_auth(&token)),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        );
        assert!(header_of(&h, "www-authenticate").contains("insufficient_scope"));
        assert_401(send(f.get(&format!("{route}?mfa=1"))), false);
        // A known parameter twice is malformed.
        assert_error(
            send(
                f.get(&format!("{route}?group=a&group=admins"))
                    .bearer_auth(&token),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
    let mut s = f.s;
    assert!(s.stop().success());
    let log = s.log();
    for name in [
        "groups", "Group", "GROUPS", "group[]", "group_", "mfas", "MFA",
    ] {
        assert!(
            log.iter().any(|l| l.contains("ERROR")
                && l.contains("jwtauth::serve")
                && l.split_whitespace()
                    .any(|w| w == format!("parameter={name}"))),
            "no error line naming {name:?}: {log:?}"
        );
    }
    // The token is never in it.
    assert!(log.iter().all(|l| !l.contains(&token)));
}

#[test]
fn auth_refuses_missing_bad_expired_and_revoked_tokens_with_401_never_a_redirect() {
    let env = env();
    let f = Fx::new(&env);
    // Browser-looking requests through a trusted proxy: /auth still never redirects.
    let browser = |rb: RequestBuilder| {
        rb.header(header::ACCEPT, "text/html,application/xhtml+xml")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", "/x")
    };
    assert_401(send(browser(f.get("/auth"))), false);
    assert_401(send(f.get("/auth")), false);
    let expired = env.mint(&["--sub", "alice", "--iat", "1000", "--exp", "2000"]);
    let revoked = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &revoked]).exits(0);
    let forged = format!("{}x", env.mint(&["--sub", "alice"]));
    let ghost = env.mint(&["--sub", "nobody"]);
    for bad in [expired.as_str(), &revoked, &forged, &ghost, "not-a-jwt"] {
        assert_401(send(browser(f.get("/auth")).bearer_auth(bad)), true);
        assert_401(f.auth_with_cookie("/auth", bad), true);
        assert_401(f.auth_with_cookie("/auth/forward", bad), true);
    }
    // The command line's `user disable` is refused on the next request.
    let token = env.mint(&["--sub", "bob"]);
    assert_eq!(f.auth_with_cookie("/auth", &token).status(), StatusCode::OK);
    env.cmd().args(["user", "disable", "bob"]).exits(0);
    assert_401(f.auth_with_cookie("/auth", &token), true);
}

#[test]
fn auth_expects_the_configured_audience_like_protected() {
    let env = env();
    write_config(&env, "audience = \"app\"\n");
    let f = Fx::new(&env);
    let right = env.mint(&["--sub", "alice", "--aud", "app"]);
    let wrong = env.mint(&["--sub", "alice", "--aud", "other"]);
    assert_eq!(
        send(f.get("/auth").bearer_auth(&right)).status(),
        StatusCode::OK
    );
    assert_401(send(f.get("/auth").bearer_auth(&wrong)), true);
    assert_401(f.auth_with_cookie("/auth/forward", &wrong), true);
}

#[test]
fn client_sent_remote_headers_are_never_identity() {
    let env = env();
    let f = Fx::new(&env);
    let spoof = |rb: RequestBuilder| {
        rb.header("remote-user", "admin")
            .header("remote-groups", "admins")
            .header("remote-email", "admin@example.com")
    };
    assert_401(send(spoof(f.get("/auth"))), false);
    assert_eq!(
        send(spoof(f.get("/auth?group=admins"))).status(),
        StatusCode::UNAUTHORIZED
    );
    let token = env.mint(&["--sub", "alice"]);
    let res = send(spoof(f.get("/auth")).bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(remote(res.headers()), ["alice", "", "", ""]);
}

#[test]
fn the_identity_follows_changes_to_the_users_file() {
    let env = env();
    add_carol(&env);
    let f = Fx::new(&env);
    let token = env.mint(&["--sub", "carol"]);
    let res = f.auth_with_cookie("/auth", &token);
    assert_eq!(
        header_of(res.headers(), "remote-email"),
        "carol@example.com"
    );
    // An edit of the file by hand (as an operator might) is seen on the next request.
    let users = std::fs::read_to_string(env.users()).unwrap();
    std::fs::write(
        env.users(),
        users.replace("carol@example.com", "c@example.org"),
    )
    .unwrap();
    let res = f.auth_with_cookie("/auth", &token);
    assert_eq!(header_of(res.headers(), "remote-email"), "c@example.org");
    env.cmd().args(["user", "remove", "carol"]).exits(0);
    assert_401(f.auth_with_cookie("/auth", &token), true);
}

// ----- GET /auth/forward ----------------------------------------------------------------------

fn forwarded(rb: RequestBuilder, accept: &str) -> RequestBuilder {
    rb.header(header::ACCEPT, accept)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/wiki/page?a=1&b=%2F")
        .header("x-forwarded-method", "GET")
}

#[test]
fn auth_forward_sends_browsers_to_the_login_page_with_the_original_url() {
    let env = env();
    let f = Fx::new(&env);
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";
    let res = send(forwarded(f.get("/auth/forward"), html));
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        location(&res),
        "https://app.example.com/login?rd=https%3A%2F%2Fapp.example.com%2Fwiki%2Fpage%3Fa%3D1%26b%3D%252F"
    );
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    // A bad or revoked session is redirected the same way.
    let revoked = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &revoked]).exits(0);
    let res = send(
        forwarded(f.get("/auth/forward"), html)
            .header(header::COOKIE, format!("{COOKIE}={revoked}")),
    );
    assert_eq!(res.status(), StatusCode::FOUND);
    // Not a browser (API clients, curl): the 401 of /auth.
    for accept in ["application/json", "*/*"] {
        assert_401(send(forwarded(f.get("/auth/forward"), accept)), false);
    }
    // Without the proxy's headers there is no original URL: 401.
    for missing in ["x-forwarded-proto", "x-forwarded-host", "x-forwarded-uri"] {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/x"),
        ] {
            if k != missing {
                h.insert(k, v.parse().unwrap());
            }
        }
        let res = send(
            f.get("/auth/forward")
                .headers(h)
                .header(header::ACCEPT, html),
        );
        assert_401(res, false);
    }
    // Nonsense from the proxy: 401, not a redirect somewhere odd.
    for (k, v) in [
        ("x-forwarded-proto", "javascript"),
        ("x-forwarded-host", "evil.example/x"),
        ("x-forwarded-host", "a@evil.example"),
        ("x-forwarded-uri", "//evil.example/"),
        ("x-forwarded-uri", "x"),
    ] {
        let mut req = forwarded(f.get("/auth/forward"), html).build().unwrap();
        req.headers_mut().insert(k, v.parse().unwrap());
        let res = f.http.execute(req).expect("HTTP request");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{k}: {v}");
    }
    // A group refusal is a 403, not a trip to the login page.
    let token = env.mint(&["--sub", "alice"]);
    let res = send(
        forwarded(f.get("/auth/forward?group=admins"), html)
            .header(header::COOKIE, format!("{COOKIE}={token}")),
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[test]
fn auth_forward_uses_the_configured_login_url() {
    let env = env();
    write_config(
        &env,
        "[serve]\nlogin_url = \"https://auth.example.com/login?theme=dark\"\n",
    );
    let f = Fx::new(&env);
    let res = send(forwarded(f.get("/auth/forward"), "text/html"));
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        location(&res),
        "https://auth.example.com/login?theme=dark&rd=https%3A%2F%2Fapp.example.com%2Fwiki%2Fpage%3Fa%3D1%26b%3D%252F"
    );
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let env = env();
    write_config(
        &env,
        "[serve]\ntrusted_proxies = [\"10.0.0.0/8\"]\nthrottle_max_failures = 2\n",
    );
    let f = Fx::new(&env);
    // The loopback peer is not trusted now: no redirect from its X-Forwarded-* headers...
    assert_401(send(forwarded(f.get("/auth/forward"), "text/html")), false);
    // ...its X-Forwarded-Host is not this server's host for rd...
    let res = send(
        f.post("/login")
            .header("x-forwarded-host", "app.example.com")
            .form_body(&[
                ("username", "alice"),
                ("password", ALICE_PW),
                ("rd", "https://app.example.com/x"),
            ]),
    );
    assert_eq!(location(&res), "/");
    // ...and its X-Forwarded-For does not move the throttling to another address.
    for n in 0..2 {
        let res = send(
            f.post("/login")
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .form_body(&[("username", "nobody"), ("password", "wrong")]),
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = send(
        f.post("/login")
            .header("x-forwarded-for", "198.51.100.9")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn forwarded_host_from_a_trusted_proxy_is_the_own_host() {
    let env = env();
    let f = Fx::new(&env);
    let res = send(
        f.post("/login")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-proto", "https")
            .form_body(&[
                ("username", "alice"),
                ("password", ALICE_PW),
                ("rd", "https://app.example.com/x?y=1"),
            ]),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "https://app.example.com/x?y=1");
}

// ----- the login page -------------------------------------------------------------------------

fn assert_page_headers(h: &HeaderMap) {
    assert_eq!(header_of(h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header_of(h, "cache-control"), "no-store");
    assert_eq!(header_of(h, "x-frame-options"), "DENY");
    let csp = header_of(h, "content-security-policy");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
}

#[test]
fn the_login_page_is_one_accessible_form_without_scripts_or_external_assets() {
    let env = env();
    let f = Fx::new(&env);
    let res = send(f.get("/login?rd=%2Fwiki%3Fa%3D1%26b%3D%22%3E%3Cscript%3E"));
    assert_eq!(res.status(), StatusCode::OK);
    assert_page_headers(res.headers());
    let html = res.text().unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert_eq!(html.matches("<form").count(), 1);
    assert!(html.contains("<form method=\"post\" action=\"/login\">"));
    assert!(html.contains("<label for=\"username\">"));
    assert!(html.contains("<label for=\"password\">"));
    assert!(html.contains("autocomplete=\"username\""));
    assert!(html.contains("autocomplete=\"current-password\""));
    assert!(html.contains("type=\"password\""));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("src="), "{html}");
    assert!(!html.contains("href="), "{html}");
    assert!(!html.contains("role=\"alert\""));
    // rd is kept for the post, HTML-escaped.
    assert!(
        html.contains("name=\"rd\" value=\"/wiki?a=1&amp;b=&quot;&gt;&lt;script&gt;\""),
        "{html}"
    );
    assert!(html.len() < 4096, "{} bytes", html.len());
}

#[test]
fn login_sets_the_session_cookie_and_goes_to_rd() {
    let env = env();
    let f = Fx::new(&env);
    let res = f.login(&[
        ("username", "alice"),
        ("password", ALICE_PW),
        ("rd", "/wiki?a=1"),
    ]);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/wiki?a=1");
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    let line = header_of(res.headers(), "set-cookie").to_string();
    let attrs: Vec<&str> = line.split("; ").collect();
    assert!(attrs[0].starts_with("jwtauth_session=ey"), "{line}");
    // The cookie lives as long as the session (SPEC §13: `session_max_age`, 7 days by
    // default), not the access token's 15-minute ttl (less the second the sign-in may have
    // taken to answer).
    let max_age = attrs.iter().find_map(|a| a.strip_prefix("Max-Age="));
    let max_age = max_age.and_then(|v| v.parse::<i64>().ok());
    assert!(
        max_age.is_some_and(|m| (604_798..=604_800).contains(&m)),
        "{line}"
    );
    for a in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(attrs.contains(&a), "{a} missing in {line}");
    }
    assert!(!line.contains("Domain"), "{line}");
    let token = attrs[0].strip_prefix("jwtauth_session=").unwrap();
    env.cmd().args(["verify", token]).exits(0);
    assert_eq!(
        header_of(f.auth_with_cookie("/auth", token).headers(), "remote-user"),
        "alice"
    );
    // rd may also come in the query (the form's action keeps it there for some proxies).
    let res = send(
        f.post("/login?rd=%2Fq")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(location(&res), "/q");
    // No rd: the site's root.
    let res = f.login(&[("username", "alice"), ("password", ALICE_PW)]);
    assert_eq!(location(&res), "/");
}

#[test]
fn cookie_attributes_follow_the_configuration() {
    let env = env();
    write_config(
        &env,
        "session_max_age = \"2h\"\n[serve]\ncookie_secure = false\ncookie_domain = \".example.com\"\n",
    );
    let f = Fx::new(&env);
    let (_, line) = f.session("alice", ALICE_PW);
    let attrs: Vec<&str> = line.split("; ").collect();
    let max_age = attrs.iter().find_map(|a| a.strip_prefix("Max-Age="));
    let max_age = max_age.and_then(|v| v.parse::<i64>().ok());
    assert!(
        max_age.is_some_and(|m| (7198..=7200).contains(&m)),
        "{line}"
    );
    assert!(attrs.contains(&"Domain=.example.com"), "{line}");
    assert!(!attrs.contains(&"Secure"), "{line}");
}

#[test]
fn a_refused_login_is_the_page_again_with_one_message_for_every_cause() {
    let env = env();
    env.add_user("dora", "dora-Pw-1x!");
    env.cmd().args(["user", "disable", "dora"]).exits(0);
    let f = Fx::new(&env);
    let mut pages = Vec::new();
    for (u, p) in [
        ("alice", "wrong-password"),
        ("nobody", "whatever-pw"),
        ("dora", "dora-Pw-1x!"),
        ("alice", ""),
    ] {
        let res = f.login(&[("username", u), ("password", p), ("rd", "/x")]);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{u}");
        assert_page_headers(res.headers());
        assert!(res.headers().get("set-cookie").is_none());
        let html = res.text().unwrap();
        assert_eq!(html.matches(REFUSED).count(), 1, "{html}");
        assert_eq!(html.matches("role=\"alert\"").count(), 1);
        assert!(html.contains("name=\"rd\" value=\"/x\""));
        pages.push(html.replace(&format!("value=\"{u}\""), "value=\"\""));
    }
    // Identical pages apart from the username typed in.
    assert!(pages.windows(2).all(|w| w[0] == w[1]));
    // Malformed forms: the same page, 400.
    for body in [
        &b"username=alice"[..],
        b"password=x",
        b"",
        b"%zz=%zz&&==",
        b"username=%FF%FE&password=%C3",
        b"\xff\xfe\x00garbage",
    ] {
        let res = send(
            f.post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.to_vec()),
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert!(res.text().unwrap().contains(REFUSED));
    }
}

#[test]
fn failed_page_logins_are_throttled_like_post_token() {
    let env = env();
    write_config(&env, "[serve]\nthrottle_max_failures = 2\n");
    let f = Fx::new(&env);
    for _ in 0..2 {
        let res = f.login(&[("username", "alice"), ("password", "wrong")]);
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    let res = f.login(&[("username", "alice"), ("password", ALICE_PW)]);
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_page_headers(res.headers());
    assert!(
        header_of(res.headers(), "retry-after")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(res.headers().get("set-cookie").is_none());
    // POST /token shares the counters.
    let res = send(
        f.post("/token")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn cross_site_form_posts_are_refused() {
    let env = env();
    write_config(
        &env,
        "[serve]\nallowed_redirect_hosts = [\"app.example.com\"]\n",
    );
    let f = Fx::new(&env);
    let own = format!("http://{}", f.s.addr);
    for (origin, status) in [
        ("https://evil.example", StatusCode::FORBIDDEN),
        ("null", StatusCode::FORBIDDEN),
        (own.as_str(), StatusCode::SEE_OTHER),
        // A host `rd` may go to is still another origin: it may not post the form (SPEC §15).
        ("https://app.example.com", StatusCode::FORBIDDEN),
    ] {
        let res = send(
            f.post("/login")
                .header(header::ORIGIN, origin)
                .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
        );
        assert_eq!(res.status(), status, "{origin}");
        if status == StatusCode::FORBIDDEN {
            assert!(res.headers().get("set-cookie").is_none());
        }
    }
    let res = send(
        f.post("/login")
            .header("sec-fetch-site", "cross-site")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A forged logout revokes nothing.
    let (cookie, _) = f.session("alice", ALICE_PW);
    let res = send(
        f.post("/logout")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, format!("{COOKIE}={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        f.auth_with_cookie("/auth", &cookie).status(),
        StatusCode::OK
    );
}

/// `POST /login` as alice with `headers`: the status, and whether a cookie was set.
fn login_with(f: &Fx, headers: &[(&str, &str)]) -> (StatusCode, bool) {
    let mut req = f.post("/login");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = send(req.form_body(&[("username", "alice"), ("password", ALICE_PW)]));
    let status = res.status();
    let cookie = res.headers().get("set-cookie").is_some();
    if status == StatusCode::FORBIDDEN {
        assert!(!cookie);
        assert!(
            res.text()
                .expect("page")
                .contains("This sign-in form was sent from another site."),
        );
    }
    (status, cookie)
}

// The form's own origin is scheme, host and port (RFC 6454, SPEC §15): another port or scheme
// of the same host name may not post it; the scheme and host behind a trusted proxy are its
// X-Forwarded-Proto and X-Forwarded-Host.
#[test]
fn form_posts_must_come_from_the_exact_own_origin() {
    let env = env();
    let f = Fx::new(&env);
    let port = f.s.addr.port();
    let own = format!("http://127.0.0.1:{port}");
    let other_port = format!(
        "http://127.0.0.1:{}",
        if port == 9999 { 9998 } else { 9999 }
    );
    let other_scheme = format!("https://127.0.0.1:{port}");
    let upper = format!("HTTP://127.0.0.1:{port}");
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "auth.example.com"),
    ];
    let cases: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        (vec![("origin", &own)], StatusCode::SEE_OTHER),
        (vec![("origin", &upper)], StatusCode::SEE_OTHER),
        (vec![("origin", &other_port)], StatusCode::FORBIDDEN),
        (vec![("origin", &other_scheme)], StatusCode::FORBIDDEN),
        (vec![("origin", "null")], StatusCode::FORBIDDEN),
        (vec![("origin", "http://127.0.0.1")], StatusCode::FORBIDDEN),
        (vec![("origin", "file://")], StatusCode::FORBIDDEN),
        // Without Origin: Sec-Fetch-Site same-origin or none at all (text browsers).
        (
            vec![("sec-fetch-site", "same-origin")],
            StatusCode::SEE_OTHER,
        ),
        (vec![], StatusCode::SEE_OTHER),
        (vec![("sec-fetch-site", "same-site")], StatusCode::FORBIDDEN),
        (
            vec![("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        // `none` is a typed or bookmarked navigation, never a form post.
        (vec![("sec-fetch-site", "none")], StatusCode::FORBIDDEN),
        // Behind a trusted proxy (loopback, the default) ending TLS: its origin is https.
        (
            [&forwarded[..], &[("origin", "https://auth.example.com")]].concat(),
            StatusCode::SEE_OTHER,
        ),
        (
            [
                &forwarded[..],
                &[("origin", "https://AUTH.example.com:443")],
            ]
            .concat(),
            StatusCode::SEE_OTHER,
        ),
        (
            [&forwarded[..], &[("origin", "http://auth.example.com")]].concat(),
            StatusCode::FORBIDDEN,
        ),
        (
            [
                &forwarded[..],
                &[("origin", "https://auth.example.com:8443")],
            ]
            .concat(),
            StatusCode::FORBIDDEN,
        ),
        (
            [&forwarded[..], &[("origin", own.as_str())]].concat(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (headers, want) in cases {
        let (status, cookie) = login_with(&f, &headers);
        assert_eq!(status, want, "{headers:?}");
        assert_eq!(cookie, want == StatusCode::SEE_OTHER, "{headers:?}");
    }
    // The sign-out form too: a cookie posted from another port of this host revokes nothing.
    let (cookie, _) = f.session("alice", ALICE_PW);
    let res = send(
        f.post("/logout")
            .header(header::ORIGIN, &other_port)
            .header(header::COOKIE, format!("{COOKIE}={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(
        f.auth_with_cookie("/auth", &cookie).status(),
        StatusCode::OK
    );
    let res = send(
        f.post("/logout")
            .header(header::ORIGIN, &own)
            .header(header::COOKIE, format!("{COOKIE}={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_401(f.auth_with_cookie("/auth", &cookie), true);
}

// An untrusted peer's X-Forwarded-Proto/Host are ignored: its origin is the request's own.
#[test]
fn an_untrusted_peers_forwarded_origin_is_ignored() {
    let env = env();
    write_config(&env, "[serve]\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
    let f = Fx::new(&env);
    let own = format!("http://{}", f.s.addr);
    let https = format!("https://{}", f.s.addr);
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "auth.example.com"),
    ];
    for (headers, want) in [
        (
            &forwarded[..],
            "https://auth.example.com",
            StatusCode::FORBIDDEN,
        ),
        (&forwarded[..1], https.as_str(), StatusCode::FORBIDDEN),
        (&forwarded[..], own.as_str(), StatusCode::SEE_OTHER),
    ]
    .map(|(h, origin, want)| ([h, &[("origin", origin)]].concat(), want))
    {
        assert_eq!(login_with(&f, &headers).0, want, "{headers:?}");
    }
}

// A Secure cookie set over plain HTTP for a browser elsewhere is dropped by the browser, which
// then loops back to the login page (SPEC §15): the page says so and how to fix it, and the log
// warns once. Loopback browsers (development on localhost) and HTTPS behind the proxy keep the
// 303.
#[test]
fn a_secure_cookie_over_plain_http_for_a_remote_browser_gets_an_explanation() {
    let env = env();
    let f = Fx::new(&env);
    let remote = ("x-forwarded-for", "203.0.113.7");
    let warning = "a Secure session cookie is set over plain HTTP";
    let sign_in = |headers: &[(&str, &str)]| {
        let mut req = f.post("/login?rd=/app/");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        send(req.form_body(&[("username", "alice"), ("password", ALICE_PW)]))
    };
    for _ in 0..2 {
        let res = sign_in(&[remote]);
        assert_eq!(res.status(), StatusCode::OK);
        assert_page_headers(res.headers());
        assert!(res.headers().get("location").is_none());
        assert!(header_of(res.headers(), "set-cookie").contains("; Secure"));
        let page = res.text().expect("page");
        for want in [
            "will drop the session cookie",
            "X-Forwarded-Proto: https",
            "cookie_secure = false",
            "<a href=\"/app/\">Continue</a>",
        ] {
            assert!(page.contains(want), "{want:?} missing in {page}");
        }
    }
    // The login page says it before the password is typed.
    let page = send(f.get("/login").header(remote.0, remote.1))
        .text()
        .expect("page");
    assert!(page.contains("will drop the session cookie"), "{page}");
    // Over HTTPS at the proxy, or from this machine: signed in as before.
    for headers in [&[remote, ("x-forwarded-proto", "https")][..], &[]] {
        let res = sign_in(headers);
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{headers:?}");
        assert_eq!(location(&res), "/app/");
    }
    let page = send(f.get("/login")).text().expect("page");
    assert!(!page.contains("will drop"), "{page}");
    let warned: Vec<String> =
        f.s.log()
            .into_iter()
            .filter(|l| l.contains(warning))
            .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("jwtauth::serve"),
        "{warned:?}"
    );

    // cookie_secure = false (development): no page, no warning.
    let env = crate::serve::env();
    write_config(&env, "[serve]\ncookie_secure = false\n");
    let f = Fx::new(&env);
    let res = send(
        f.post("/login")
            .header(remote.0, remote.1)
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(f.s.log().iter().all(|l| !l.contains(warning)));
}

/// The headers `examples/nginx.conf` sets on its way to `location = /login`, as nginx would
/// send them for a browser at 203.0.113.7 asking for `scheme://auth.example.com`.
fn nginx_login_headers(scheme: &str) -> Vec<(String, String)> {
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx.conf"))
        .expect("examples/nginx.conf");
    let block = conf
        .split("location = /login {")
        .nth(1)
        .and_then(|b| b.split('}').next())
        .expect("a location = /login block");
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("proxy_set_header "))
        .map(|l| {
            let (name, value) = l.trim_end_matches(';').split_once(' ').expect("name value");
            let value = value
                .replace("$http_host", "auth.example.com")
                .replace("$proxy_add_x_forwarded_for", "203.0.113.7")
                .replace("$scheme", scheme);
            (name.to_ascii_lowercase(), value)
        })
        .collect()
}

// The README's nginx recipe ends TLS at nginx and passes X-Forwarded-Proto: replayed as nginx
// sends it, an HTTPS sign-in is the 303 with the Secure cookie, and a plain-HTTP one the page
// that explains the dropped cookie (SPEC §15).
#[test]
fn the_nginx_example_passes_the_scheme_so_tls_at_nginx_signs_in_and_plain_http_explains() {
    let env = env();
    let f = Fx::new(&env);
    let headers = nginx_login_headers("https");
    for name in [
        "host",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ] {
        assert!(
            headers.iter().any(|(n, _)| n == name),
            "{name}: {headers:?}"
        );
    }
    for scheme in ["https", "http"] {
        let mut req = f
            .post("/login")
            .header("origin", format!("{scheme}://auth.example.com"));
        for (name, value) in nginx_login_headers(scheme) {
            req = req.header(name, value);
        }
        let res = send(req.form_body(&[("username", "alice"), ("password", ALICE_PW)]));
        assert!(header_of(res.headers(), "set-cookie").contains("; Secure"));
        if scheme == "https" {
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
        } else {
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.text().unwrap().contains("will drop the session cookie"));
        }
    }
}

// ----- POST /logout ---------------------------------------------------------------------------

#[test]
fn logout_revokes_the_cookie_and_clears_it() {
    let env = env();
    write_config(
        &env,
        "[serve]\nallowed_redirect_hosts = [\"app.example.com\"]\ncookie_domain = \"example.com\"\n",
    );
    let f = Fx::new(&env);
    let (cookie, _) = f.session("alice", ALICE_PW);
    assert_eq!(
        f.auth_with_cookie("/auth", &cookie).status(),
        StatusCode::OK
    );
    let res = send(
        f.post("/logout")
            .header(header::COOKIE, format!("{COOKIE}={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    let clear = header_of(res.headers(), "set-cookie");
    let attrs: Vec<&str> = clear.split("; ").collect();
    for a in [
        "jwtauth_session=",
        "Max-Age=0",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Domain=example.com",
    ] {
        assert!(attrs.contains(&a), "{a} missing in {clear}");
    }
    // The same cookie, replayed: refused everywhere, and the command line agrees.
    assert_401(f.auth_with_cookie("/auth", &cookie), true);
    let res = send(
        forwarded(f.get("/auth/forward"), "text/html")
            .header(header::COOKIE, format!("{COOKIE}={cookie}")),
    );
    assert_eq!(res.status(), StatusCode::FOUND);
    env.cmd().args(["verify", &cookie]).exits(4);

    // rd: allowed → there; not allowed → /; no cookie at all → still cleared and redirected.
    for (rd, to) in [
        ("https://app.example.com/bye", "https://app.example.com/bye"),
        ("//evil.example", "/"),
        ("", "/login"),
    ] {
        let res = send(f.post("/logout").form_body(&[("rd", rd)]));
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), to, "{rd}");
        assert!(header_of(res.headers(), "set-cookie").contains("Max-Age=0"));
    }
    // A garbage cookie is not an error either.
    let res = send(
        f.post("/logout")
            .header(header::COOKIE, format!("{COOKIE}=garbage; other=1")),
    );
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // DELETE /logout (the classic bearer logout) is still there.
    let token = env.mint(&["--sub", "alice"]);
    let res = send(f.http.delete(f.s.url("/logout")).bearer_auth(&token));
    assert_eq!(res.status(), StatusCode::OK);
}

// ----- several session cookies (cookie tossing) ----------------------------------------------

/// A request with these `jwtauth_session` values, in order, in one `Cookie` header.
fn with_sessions(rb: RequestBuilder, values: &[&str]) -> RequestBuilder {
    let line = values
        .iter()
        .map(|v| format!("{COOKIE}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    rb.header(header::COOKIE, line)
}

#[test]
fn any_valid_session_cookie_counts_and_those_of_two_users_count_as_none() {
    let env = env();
    let f = Fx::new(&env);
    let (alice, _) = f.session("alice", ALICE_PW);
    let (alice2, _) = f.session("alice", ALICE_PW);
    let (bob, _) = f.session("bob", crate::serve::BOB_PW);
    let revoked = env.mint(&["--sub", "alice"]);
    env.cmd().args(["logout", &revoked]).exits(0);
    // A junk (or revoked) cookie tossed in first from a sibling subdomain signs no one out
    // (SPEC §15): any valid one counts, wherever it is.
    for values in [
        vec!["junk", alice.as_str()],
        vec![revoked.as_str(), alice.as_str(), "junk"],
        vec![alice.as_str(), alice2.as_str()],
    ] {
        for path in ["/auth", "/auth/forward"] {
            let res = send(with_sessions(f.get(path), &values));
            assert_eq!(res.status(), StatusCode::OK, "{path} {values:?}");
            assert_eq!(remote(res.headers())[0], "alice");
        }
    }
    // Valid sessions of two users count as none: 401 as without a cookie, and the login page
    // for a browser through the proxy.
    assert_401(send(with_sessions(f.get("/auth"), &[&alice, &bob])), false);
    assert_401(
        send(with_sessions(f.get("/auth"), &["junk", &bob, &alice])),
        false,
    );
    let res = send(with_sessions(
        forwarded(f.get("/auth/forward"), "text/html"),
        &[&bob, &alice],
    ));
    assert_eq!(res.status(), StatusCode::FOUND);
    // Only junk: the refusal of a token that was sent.
    assert_401(
        send(with_sessions(f.get("/auth"), &["junk", &revoked])),
        true,
    );
    // The browser's logout ends every valid session among them, and only those.
    let res = send(with_sessions(f.post("/logout"), &["junk", &alice, &bob]));
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for t in [&alice, &bob] {
        assert_401(f.auth_with_cookie("/auth", t), true);
        env.cmd().args(["verify", t]).exits(4);
    }
    assert_eq!(
        f.auth_with_cookie("/auth", &alice2).status(),
        StatusCode::OK
    );
}

// ----- open redirects -------------------------------------------------------------------------

/// Every classic open-redirect trick: each goes to `/`, on the login post, the logout post and
/// the login page's hidden field.
#[test]
fn every_open_redirect_trick_goes_to_the_root() {
    let env = env();
    write_config(
        &env,
        "[serve]\nallowed_redirect_hosts = [\"app.example.com\", \".corp.example\"]\n",
    );
    let f = Fx::new(&env);
    let own = f.s.addr.to_string();
    let evil = [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/%2F..",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "https:evil.example",
        "https:/evil.example",
        "http:\\\\evil.example",
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "java%0ascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "%2F%2Fevil.example",
        "%2f%2fevil.example",
        "/%2F%2Fevil.example",
        "/%2fevil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "%5C%5Cevil.example",
        "/%09/evil.example",
        "/%0D%0ALocation:%20https://evil.example",
        "https://app.example.com@evil.example/",
        "https://app.example.com:443@evil.example/",
        "https://evil.example#@app.example.com/",
        "https://evil.example?@app.example.com/",
        "https://evil.example\\@app.example.com/",
        "https://app.example.com%40evil.example/",
        "https://app.example.com.evil.example/",
        "https://app.example.com./",
        "https://evil.example./",
        "https://wiki.corp.example./",
        "https://evilcorp.example/",
        "https://corp.example.evil/",
        "HTTPS://EVIL.EXAMPLE/",
        "HtTp://EvIl.ExAmPlE",
        "//EVIL.example",
        " https://evil.example/",
        "https://evil.example/ ",
        "\thttps://evil.example/",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://evil.example\u{0}.app.example.com/",
        "https://аpp.example.com/",
        "https://app.exаmple.com/",
        "https://evil.example。app.example.com/",
        "https://evil.example%E3%80%82app.example.com/",
        "https://[::1]/",
        "https://127.0.0.2/",
        "https://app.example.com:bad/",
        "ftp://app.example.com/",
        "/%zz",
    ];
    assert!(!evil.iter().any(|e| e.contains(&own)));
    for rd in evil {
        let res = f.login(&[("username", "alice"), ("password", ALICE_PW), ("rd", rd)]);
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{rd:?}");
        assert_eq!(location(&res), "/", "login rd {rd:?}");
        let res = send(f.post("/logout").form_body(&[("rd", rd)]));
        assert_eq!(location(&res), "/", "logout rd {rd:?}");
        let q = serde_urlencoded::to_string([("rd", rd)]).unwrap();
        let html = send(f.get(&format!("/login?{q}"))).text().unwrap();
        assert!(
            html.contains("name=\"rd\" value=\"/\""),
            "page rd {rd:?}: {html}"
        );
    }
    // What is allowed: paths here, this host, the listed hosts and domains (any case).
    for rd in [
        "/".to_string(),
        "/wiki/Main%20Page?x=1#top".to_string(),
        format!("http://{own}/home"),
        "https://app.example.com/".to_string(),
        "https://APP.example.com:8443/x".to_string(),
        "https://corp.example".to_string(),
        "https://wiki.corp.example/a?b=c".to_string(),
    ] {
        let res = f.login(&[("username", "alice"), ("password", ALICE_PW), ("rd", &rd)]);
        assert_eq!(location(&res), rd);
    }
    // A huge rd is not an error: it goes to / too.
    let huge = format!("/{}", "a".repeat(12_000));
    let res = f.login(&[("username", "alice"), ("password", ALICE_PW), ("rd", &huge)]);
    assert_eq!(location(&res), "/");
}

// ----- bad input ------------------------------------------------------------------------------

/// Sends raw bytes and returns the status line's code.
fn raw_status(f: &Fx, request: &[u8]) -> u16 {
    let mut c = TcpStream::connect(f.s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(request).expect("write");
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&got).to_string();
    line.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
}

#[test]
fn bad_input_gets_a_clean_4xx() {
    let env = env();
    let f = Fx::new(&env);
    // Malformed cookies: 401, never a 5xx.
    for cookie in [
        &b"jwtauth_session="[..],
        b"jwtauth_session",
        b"jwtauth_session=\"\"",
        b"jwtauth_session=a.b.c",
        b"jwtauth_session=\xff\xfe",
        b";;;==;",
    ] {
        let res = send(f.get("/auth").header(
            header::COOKIE,
            header::HeaderValue::from_bytes(cookie).unwrap(),
        ));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{cookie:?}");
    }
    // A malformed query: 400 on /auth, ignored on the page.
    assert_error(
        send(f.get("/auth?group=%zz&group=1")),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let res = send(f.get(&format!("/login?rd={}", "%2F".repeat(3000))));
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().unwrap().contains("name=\"rd\" value=\"/\""));
    // Invalid UTF-8 in the request line and headers.
    for req in [
        &b"GET /login?rd=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
        b"GET /auth?group=%FF HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /auth HTTP/1.1\r\nHost: \xff\r\nCookie: jwtauth_session=\xff\r\nConnection: close\r\n\r\n",
        b"GET /auth/forward HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: \xff\xfe\r\nX-Forwarded-Uri: /\xff\r\nConnection: close\r\n\r\n",
        b"POST /login HTTP/1.1\r\nHost: \xff\r\nOrigin: \xff\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\xff\xfe\xfd",
    ] {
        let code = raw_status(&f, req);
        assert!((400..500).contains(&code), "{code} for {req:?}");
    }
    // Over 16 KiB: 413.
    let res = send(
        f.post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(vec![b'a'; 20_000]),
    );
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Wrong methods.
    assert_eq!(
        send(f.http.put(f.s.url("/login"))).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        send(f.post("/auth")).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    // Still serving.
    assert_eq!(send(f.get("/healthz")).status(), StatusCode::OK);
}

#[test]
fn the_openapi_document_describes_the_new_routes() {
    let env = env();
    let f = Fx::new(&env);
    let doc = body_json(send(f.get("/openapi.json")));
    for (path, method) in [
        ("/auth", "get"),
        ("/auth/forward", "get"),
        ("/login", "get"),
        ("/login", "post"),
        ("/logout", "post"),
        ("/logout", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{path} {method}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        "jwtauth_session"
    );
}

/// The README shows the proxy configurations inline: they must be the files the end-to-end
/// test runs, byte for byte.
#[test]
fn the_readme_shows_the_example_files_as_they_are() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for file in ["examples/nginx.conf", "examples/Caddyfile"] {
        let marker = format!("<!-- {file} -->\n```");
        let at = readme
            .find(&marker)
            .unwrap_or_else(|| panic!("README has no {marker:?}"));
        let block = &readme[at + marker.len()..];
        let block = &block[block.find('\n').unwrap() + 1..];
        let block = &block[..block.find("```").unwrap()];
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert_eq!(block, text, "README's copy of {file} differs from the file");
    }
}
