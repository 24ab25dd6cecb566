//! The browser's sessions in process (SPEC §13): the account page (`GET`/`POST /account`) and
//! a `/login` session that lasts while it is used, on the fixed clock.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use tower::ServiceExt as _;

use super::{Fx, PASSWORD, audited};
use crate::clock::Clock as _;
use crate::serve::router;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
Chrome/120.0.0.0 Safari/537.36";
/// A user agent that would run a script if it were not escaped.
const HOSTILE: &str = "Evil/1.0 <script>alert(\"x\")</script> & 'more'";

/// One answer with its body as text (the pages are HTML).
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` of the session cookie, if any.
    fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("jwtauth_session="))
            .map(str::to_string)
    }
}

async fn send(fx: &Fx, mut req: Request<Body>, client: &str) -> Page {
    let ip: IpAddr = client.parse().expect("an address");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
    let res = router::router(fx.app.clone())
        .oneshot(req)
        .await
        .expect("the router answers");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    Page {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Signs `name` in through the login form from `client` (a loopback address: over plain
/// HTTP a remote browser gets the dropped-cookie page instead of the 303) with
/// `user_agent`: the session cookie's value (the sign-in must succeed).
async fn sign_in(fx: &Fx, name: &str, client: &str, user_agent: &str) -> String {
    let body =
        serde_urlencoded::to_string([("username", name), ("password", PASSWORD)]).expect("form");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::USER_AGENT, user_agent)
        .header(header::HOST, "auth.example.com")
        .body(Body::from(body))
        .expect("request");
    let p = send(fx, req, client).await;
    let shown = p
        .text
        .find("<main>")
        .map_or(&p.text[..], |at| &p.text[at..]);
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{shown}");
    let set = p.session_cookie().expect("the session cookie");
    let value = set
        .strip_prefix("jwtauth_session=")
        .and_then(|c| c.split(';').next())
        .expect("a value");
    value.to_string()
}

/// `GET /account` with the session cookie `cookie` (none when empty).
async fn account(fx: &Fx, cookie: &str) -> Page {
    let mut req = Request::builder()
        .uri("/account")
        .header(header::HOST, "auth.example.com");
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, format!("jwtauth_session={cookie}"));
    }
    send(fx, req.body(Body::empty()).expect("request"), "192.0.2.1").await
}

/// `POST /account` with `form`, the cookie (none when empty) and `headers` (by default, the
/// browser's own `Origin`).
async fn post(fx: &Fx, cookie: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/account")
        .header(header::HOST, "auth.example.com")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, format!("jwtauth_session={cookie}"));
    }
    if headers.is_empty() {
        req = req.header(header::ORIGIN, "http://auth.example.com");
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let body = serde_urlencoded::to_string(form).expect("form");
    send(
        fx,
        req.body(Body::from(body)).expect("request"),
        "192.0.2.1",
    )
    .await
}

/// `GET /auth` with the session cookie: the status.
async fn auth(fx: &Fx, cookie: &str) -> StatusCode {
    let req = Request::builder()
        .uri("/auth")
        .header(header::COOKIE, format!("jwtauth_session={cookie}"))
        .body(Body::empty())
        .expect("request");
    send(fx, req, "192.0.2.1").await.status
}

/// `GET /auth/forward` with the session cookie, from a trusted proxy (loopback) for a
/// browser: the status and `Location`.
async fn forward(fx: &Fx, cookie: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .uri("/auth/forward")
        .header(header::COOKIE, format!("jwtauth_session={cookie}"))
        .header(header::ACCEPT, "text/html")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/wiki")
        .body(Body::empty())
        .expect("request");
    let p = send(fx, req, "127.0.0.1").await;
    (p.status, p.location().to_string())
}

/// The `sid` claim of a token (unverified: the test made it).
fn sid(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .expect("base64url");
    let claims: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    claims["sid"].as_str().expect("a sid").to_string()
}

fn header<'a>(p: &'a Page, name: &str) -> &'a str {
    p.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The login page's headers: no caching, no framing, no script.
fn assert_page_headers(p: &Page) {
    assert_eq!(header(p, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(p, "cache-control"), "no-store");
    assert_eq!(
        header(p, "content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(header(p, "x-frame-options"), "DENY");
    assert_eq!(header(p, "x-content-type-options"), "nosniff");
    assert!(!p.text.contains("<script"), "no script on the page");
}

#[tokio::test]
async fn the_account_page_lists_the_users_live_sessions_and_marks_this_browser() {
    let fx = Fx::new();
    fx.add_user("bob", &[]);
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    fx.clock.advance(60);
    let there = sign_in(&fx, "alice", "127.0.0.20", HOSTILE).await;
    let api = fx.token("alice").await;
    let bobs = sign_in(&fx, "bob", "127.0.0.5", CHROME).await;
    let p = account(&fx, &here).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_page_headers(&p);
    assert!(p.text.contains("<title>Your sessions</title>"));
    assert!(p.text.contains("Signed in as <strong>alice</strong>"));
    // Three sessions of alice (two browsers and the API sign-in), none of bob's.
    assert_eq!(
        p.text.matches("<li class=\"session").count(),
        3,
        "{}",
        p.text
    );
    assert_eq!(p.text.matches("<li class=\"session current\"").count(), 1);
    for s in [sid(&here), sid(&there), sid(&api)] {
        assert!(
            p.text.contains(&format!("name=\"end\" value=\"{s}\"")),
            "{s}"
        );
    }
    assert!(!p.text.contains(&sid(&bobs)));
    // This browser first, marked, with its address and browser in a few words.
    let current = &p.text[p.text.find("session current").expect("current")..];
    let current = &current[..current.find("</li>").expect("item end")];
    assert!(current.contains("this browser"), "{current}");
    assert!(
        current.contains(">Chrome on Linux<span class=\"badge\">"),
        "{current}"
    );
    assert!(current.contains("<dd>127.0.0.10</dd>"), "{current}");
    assert!(
        current.contains("<dt>With</dt><dd>password</dd>"),
        "{current}"
    );
    assert!(current.contains("Sign out"));
    assert!(
        current.contains("2027-01-15 08:00:00 UTC"),
        "began: {current}"
    );
    // The hostile user agent is escaped, never markup.
    assert!(!p.text.contains("<script>alert"));
    assert!(
        p.text
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;more&#39;")
    );
    assert!(p.text.contains("Sign out everywhere else"));
}

#[tokio::test]
async fn ending_another_session_from_the_page_refuses_it_at_once_and_is_audited() {
    let fx = Fx::new();
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let there = sign_in(&fx, "alice", "127.0.0.20", CHROME).await;
    assert_eq!(auth(&fx, &there).await, StatusCode::OK);
    let other = sid(&there);
    let events = audited(async {
        let p = post(&fx, &here, &[("end", other.as_str())], &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
        assert_eq!(p.location(), "/account");
        assert!(
            p.session_cookie().is_none(),
            "this browser's cookie is kept"
        );
    })
    .await;
    assert_eq!(auth(&fx, &there).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth(&fx, &here).await, StatusCode::OK);
    // Through a proxy's `/auth/forward`, the ended browser is sent to the login page.
    let (status, location) = forward(&fx, &there).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        location.starts_with("https://app.example.com/login?rd="),
        "{location}"
    );
    assert_eq!(forward(&fx, &here).await.0, StatusCode::OK);
    let p = account(&fx, &there).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/login?rd=%2Faccount");
    let p = account(&fx, &here).await;
    assert_eq!(p.text.matches("<li class=\"session").count(), 1);
    assert!(p.text.contains("You are not signed in anywhere else."));
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "session_ended")
        .collect();
    assert_eq!(ended.len(), 1, "{events:#?}");
    assert_eq!(ended[0]["route"], "/account");
    assert_eq!(ended[0]["client"], "192.0.2.1");
    assert_eq!(ended[0]["sub"], "alice");
    assert_eq!(ended[0]["sid"], other.as_str());
    // Ending it again: not a live session any more.
    let p = post(&fx, &here, &[("end", other.as_str())], &[]).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.text.contains("not one of yours, or it has ended already"));
}

#[tokio::test]
async fn sign_out_everywhere_else_ends_the_other_sessions_only() {
    let fx = Fx::new();
    fx.add_user("bob", &[]);
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let there = sign_in(&fx, "alice", "127.0.0.20", CHROME).await;
    let api = fx.token("alice").await;
    let bobs = sign_in(&fx, "bob", "127.0.0.5", CHROME).await;
    let p = post(&fx, &here, &[("others", "1")], &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert_eq!(p.location(), "/account");
    assert_eq!(auth(&fx, &here).await, StatusCode::OK);
    assert_eq!(auth(&fx, &there).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fx.protected(&api).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        auth(&fx, &bobs).await,
        StatusCode::OK,
        "another user's stays"
    );
}

#[tokio::test]
async fn ending_this_browsers_own_session_is_a_sign_out() {
    let fx = Fx::new();
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let there = sign_in(&fx, "alice", "127.0.0.20", CHROME).await;
    let p = post(&fx, &here, &[("end", sid(&here).as_str())], &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert_eq!(p.location(), "/login");
    let cleared = p.session_cookie().expect("the cookie is cleared");
    assert!(cleared.starts_with("jwtauth_session=;") && cleared.contains("Max-Age=0"));
    assert_eq!(auth(&fx, &here).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth(&fx, &there).await, StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_post_ends_nothing() {
    let fx = Fx::new();
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let there = sign_in(&fx, "alice", "127.0.0.20", CHROME).await;
    let other = sid(&there);
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "http://auth.example.com:8443")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
    ] {
        for form in [&[("end", other.as_str())][..], &[("others", "1")]] {
            let p = post(&fx, &here, form, headers).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{headers:?}");
            assert_page_headers(&p);
            assert!(p.text.contains("sent from another site"));
        }
    }
    assert_eq!(auth(&fx, &there).await, StatusCode::OK);
    // The same form from the page itself (or a text browser, which sends neither) works.
    let p = post(
        &fx,
        &here,
        &[("end", other.as_str())],
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn without_a_valid_session_cookie_the_page_sends_to_the_login_page() {
    let fx = Fx::new();
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    for cookie in ["", "junk", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
        let p = account(&fx, cookie).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{cookie:?}");
        assert_eq!(p.location(), "/login?rd=%2Faccount");
        assert_eq!(header(&p, "cache-control"), "no-store");
        let p = post(&fx, cookie, &[("others", "1")], &[]).await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{cookie:?}");
        assert_eq!(p.location(), "/login?rd=%2Faccount");
    }
    assert_eq!(auth(&fx, &here).await, StatusCode::OK, "nothing ended");
    // The login page takes rd=/account and sends the browser back after signing in.
    let body = serde_urlencoded::to_string([
        ("username", "alice"),
        ("password", PASSWORD),
        ("rd", "/account"),
    ])
    .expect("form");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let p = send(&fx, req, "127.0.0.10").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location(), "/account");
}

#[tokio::test]
async fn a_bad_form_or_a_session_not_the_users_is_refused_with_the_page() {
    let fx = Fx::new();
    fx.add_user("bob", &[]);
    let here = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let bobs = sign_in(&fx, "bob", "127.0.0.5", CHROME).await;
    for form in [
        &[][..],
        &[("end", "")],
        &[("end", "x"), ("others", "1")],
        &[("end", "a"), ("end", "b")],
        &[("something", "else")],
    ] {
        let p = post(&fx, &here, form, &[]).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_page_headers(&p);
        assert!(p.text.contains("role=\"alert\""));
        assert!(
            p.text.contains("<li class=\"session current\""),
            "the list again"
        );
    }
    // Another user's session, or none: 404, and bob's session is untouched.
    for s in [
        sid(&bobs),
        "AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "<b>".to_string(),
    ] {
        let p = post(&fx, &here, &[("end", s.as_str())], &[]).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND, "{s}");
        assert!(!p.text.contains("<b>"));
    }
    assert_eq!(auth(&fx, &bobs).await, StatusCode::OK);
    assert_eq!(auth(&fx, &here).await, StatusCode::OK);
}

#[tokio::test]
async fn a_browser_session_lasts_while_used_and_ends_after_session_idle() {
    let fx = Fx::new();
    let mut limits = fx.app.sessions.limits();
    limits.idle = 3600;
    limits.max_age = 6 * 3600;
    fx.app.sessions.set_limits(limits);
    let cookie = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    // The cookie's token lives to the session's absolute end, well past the access ttl; the
    // user stays signed in while using it, each check a use.
    assert!(fx.ttl() < 3000, "the access ttl is shorter than the steps");
    for _ in 0..5 {
        fx.clock.advance(3000);
        assert_eq!(auth(&fx, &cookie).await, StatusCode::OK);
    }
    // A whole `session_idle` without use: over, at the next request.
    fx.clock.advance(3600);
    assert_eq!(auth(&fx, &cookie).await, StatusCode::UNAUTHORIZED);
    let p = account(&fx, &cookie).await;
    assert_eq!(p.location(), "/login?rd=%2Faccount");

    // Used all along, a session still ends at `session_max_age`.
    let cookie = sign_in(&fx, "alice", "127.0.0.10", CHROME).await;
    let began = fx.clock.now();
    while fx.clock.now() + 3000 < began + 6 * 3600 {
        fx.clock.advance(3000);
        assert_eq!(auth(&fx, &cookie).await, StatusCode::OK);
    }
    fx.clock.advance(began + 6 * 3600 - fx.clock.now());
    assert_eq!(auth(&fx, &cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_cookie_lives_as_long_as_the_session() {
    let fx = Fx::new();
    let body =
        serde_urlencoded::to_string([("username", "alice"), ("password", PASSWORD)]).expect("form");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let p = send(&fx, req, "127.0.0.10").await;
    let cookie = p.session_cookie().expect("the cookie");
    let max_age = fx.app.sessions.limits().max_age;
    assert!(cookie.contains(&format!("Max-Age={max_age};")), "{cookie}");
}
