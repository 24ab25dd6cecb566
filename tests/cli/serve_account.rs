//! The browser's sessions of `jwtauth serve` over real HTTP (SPEC §13): a `/login` sign-in
//! whose cookie lives as long as its session, and the account page (`GET`/`POST /account`)
//! used by two browsers (two cookie jars) — one ends the other, whose next request is refused
//! — on the file store and on Redis. Redirects are never followed.
use crate::common;
use crate::serve::{ALICE_PW, FormBody, Server, env, header_of, send, write_config};

use std::time::Duration;

use common::Env;
use common::redis::RedisServer;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header;

const COOKIE: &str = "jwtauth_session";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const HOSTILE: &str = "Bad/1 <img src=x onerror=alert(1)>";

/// A browser: a client that follows no redirects, and its one session cookie (its jar).
struct Browser<'s> {
    s: &'s Server,
    http: Client,
    user_agent: &'static str,
    cookie: String,
}

impl<'s> Browser<'s> {
    fn new(s: &'s Server, user_agent: &'static str) -> Self {
        Browser {
            s,
            http: Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            user_agent,
            cookie: String::new(),
        }
    }

    /// This server's origin, as the browser sends it with a form post.
    fn origin(&self) -> String {
        self.s.url("")
    }

    /// Signs in through the login page and keeps the cookie: the `Set-Cookie` line.
    fn sign_in(&mut self, user: &str, pw: &str) -> String {
        let res = send(
            self.http
                .post(self.s.url("/login"))
                .header(header::USER_AGENT, self.user_agent)
                .header(header::ORIGIN, self.origin())
                .form_body(&[("username", user), ("password", pw), ("rd", "/account")]),
        );
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
        assert_eq!(header_of(res.headers(), "location"), "/account");
        let line = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{COOKIE}=")))
            .expect("the session cookie")
            .to_string();
        self.cookie = line
            .strip_prefix(&format!("{COOKIE}="))
            .and_then(|r| r.split(';').next())
            .expect("a value")
            .to_string();
        line
    }

    fn get(&self, path: &str) -> Response {
        send(
            self.http
                .get(self.s.url(path))
                .header(header::USER_AGENT, self.user_agent)
                .header(header::COOKIE, format!("{COOKIE}={}", self.cookie)),
        )
    }

    /// `POST /account` with `form` from this server's own page (`Origin` its own), or from
    /// `origin` when given.
    fn post_account(&self, form: &[(&str, &str)], origin: Option<&str>) -> Response {
        let own = self.origin();
        send(
            self.http
                .post(self.s.url("/account"))
                .header(header::USER_AGENT, self.user_agent)
                .header(header::COOKIE, format!("{COOKIE}={}", self.cookie))
                .header(header::ORIGIN, origin.unwrap_or(&own))
                .form_body(form),
        )
    }
}

fn location(res: &Response) -> &str {
    header_of(res.headers(), "location")
}

/// The `sid` of a session cookie's token, as `jwtauth decode` shows it.
fn sid(env: &Env, token: &str) -> String {
    env.decoded(token)["payload"]["sid"]
        .as_str()
        .expect("the token carries a sid")
        .to_string()
}

/// Two browsers of alice; the first lists both and ends the second from its account page;
/// the second is sent to the login page on its next request. Then "sign out everywhere
/// else", and the first ends its own session: a sign-out.
fn two_browsers_one_ends_the_other() {
    let env = env();
    let s = Server::start(&env);
    let mut here = Browser::new(&s, FIREFOX);
    let mut there = Browser::new(&s, HOSTILE);
    here.sign_in("alice", ALICE_PW);
    there.sign_in("alice", ALICE_PW);
    let (here_sid, there_sid) = (sid(&env, &here.cookie), sid(&env, &there.cookie));
    assert_ne!(here_sid, there_sid);

    let res = here.get("/account");
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    let h = res.headers().clone();
    assert_eq!(header_of(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header_of(&h, "cache-control"), "no-store");
    assert_eq!(header_of(&h, "x-frame-options"), "DENY");
    assert!(header_of(&h, "content-security-policy").contains("frame-ancestors 'none'"));
    let page = res.text().expect("page");
    assert_eq!(page.matches("<li class=\"session").count(), 2, "{page}");
    assert!(
        page.contains(">Firefox on Linux<span class=\"badge\">this browser</span>"),
        "{page}"
    );
    assert!(page.contains("<dd>127.0.0.1</dd>"), "{page}");
    assert!(page.contains(&format!("name=\"end\" value=\"{there_sid}\"")));
    assert!(
        !page.contains("<img"),
        "a user agent is never markup: {page}"
    );
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));

    // A post from another site ends nothing.
    let res = here.post_account(&[("end", &there_sid)], Some("http://evil.example"));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(there.get("/auth").status(), StatusCode::OK);

    let res = here.post_account(&[("end", &there_sid)], None);
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
    assert_eq!(location(&res), "/account");
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    // The other browser's next request: refused; the account page sends it to sign in.
    let res = there.get("/auth");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = there.get("/account");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?rd=%2Faccount");
    assert_eq!(here.get("/auth").status(), StatusCode::OK);
    // Once ended, it is no session of alice's any more.
    let res = here.post_account(&[("end", &there_sid)], None);
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = here.post_account(&[("nothing", "1")], None);
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Sign out everywhere else: a new browser sign-in and an API token end; this one stays.
    there.sign_in("alice", ALICE_PW);
    let api = s.token("alice", ALICE_PW);
    let res = here.post_account(&[("others", "1")], None);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    assert_eq!(there.get("/auth").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.protected(&api).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(here.get("/auth").status(), StatusCode::OK);

    // Ending this browser's own session is a sign-out.
    let res = here.post_account(&[("end", &here_sid)], None);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let cleared = header_of(res.headers(), "set-cookie");
    assert!(cleared.starts_with(&format!("{COOKIE}=;")) && cleared.contains("Max-Age=0"));
    assert_eq!(here.get("/auth").status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn two_browsers_one_ends_the_other_on_files() {
    two_browsers_one_ends_the_other();
}

#[test]
fn two_browsers_one_ends_the_other_on_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    common::on_store(&server.url(), two_browsers_one_ends_the_other);
}

#[test]
fn the_session_cookie_lives_to_session_max_age_and_the_page_logs_each_end() {
    let env = env();
    write_config(&env, "session_max_age = \"2h\"\n");
    let mut s = Server::start(&env);
    let mut a = Browser::new(&s, FIREFOX);
    let mut b = Browser::new(&s, FIREFOX);
    let line = a.sign_in("alice", ALICE_PW);
    // The session's lifetime, less the second the sign-in may have taken to answer.
    let max_age = line.split("; ").find_map(|a| a.strip_prefix("Max-Age="));
    let max_age = max_age.and_then(|v| v.parse::<i64>().ok());
    assert!(
        max_age.is_some_and(|m| (7198..=7200).contains(&m)),
        "{line}"
    );
    let claims = env.decoded(&a.cookie)["payload"].clone();
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(7200), "{claims}");
    b.sign_in("alice", ALICE_PW);
    let other = sid(&env, &b.cookie);
    let res = a.post_account(&[("end", &other)], None);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (ca, cb) = (a.cookie.clone(), b.cookie.clone());
    drop((a, b));
    assert!(s.stop().success());
    let log = s.log();
    let ended: Vec<_> = log.iter().filter(|l| l.contains("session_ended")).collect();
    assert_eq!(ended.len(), 1, "{log:#?}");
    assert!(ended[0].contains(&other) && ended[0].contains("/account"));
    for l in &log {
        assert!(
            !l.contains(&ca) && !l.contains(&cb),
            "a cookie in the log: {l}"
        );
    }
}

#[test]
fn the_account_page_without_a_session_sends_to_the_login_page() {
    let env = env();
    write_config(
        &env,
        "[serve]\nlogin_url = \"https://sso.example.com/login\"\n",
    );
    let s = Server::start(&env);
    let b = Browser::new(&s, FIREFOX);
    let res = b.get("/account");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The login page is on another host: `rd` is this server's URL of the page.
    let rd = serde_urlencoded::to_string([("rd", s.url("/account"))]).expect("form");
    let want = format!("https://sso.example.com/login?{rd}");
    assert_eq!(location(&res), want);
    let res = b.post_account(&[("others", "1")], None);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), want);
}

#[test]
fn the_openapi_document_describes_the_account_page_like_the_login_page() {
    let env = env();
    let s = Server::start(&env);
    let doc = crate::serve::body_json(send(s.get("/openapi.json")));
    for (method, statuses) in [
        ("get", &["200", "303", "503"][..]),
        ("post", &["303", "400", "403", "404", "503"]),
    ] {
        let op = &doc["paths"]["/account"][method];
        assert_eq!(op["tags"][0], "forward", "{op}");
        for status in statuses {
            assert!(
                op["responses"][status].is_object(),
                "{method} {status}: {op}"
            );
        }
    }
    let form = &doc["paths"]["/account"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"];
    assert!(form.is_object(), "{form}");
    assert!(doc["components"]["schemas"]["AccountForm"]["properties"]["end"].is_object());
}

/// The state store cannot be read: the page fails closed with the 503 page (nothing listed,
/// nothing ended), and answers again once the file is back.
#[test]
fn an_unreadable_state_store_is_the_busy_page_not_a_page_without_sessions() {
    let env = env();
    let s = Server::start(&env);
    let mut a = Browser::new(&s, FIREFOX);
    a.sign_in("alice", ALICE_PW);
    let state = env.state();
    let good = std::fs::read(&state).expect("the state file");
    std::fs::write(&state, b"{ not json").expect("spoiled");
    for res in [a.get("/account"), a.post_account(&[("others", "1")], None)] {
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{res:?}");
        assert_eq!(header_of(res.headers(), "retry-after"), "1");
        assert_eq!(
            header_of(res.headers(), "content-type"),
            "text/html; charset=utf-8"
        );
        let page = res.text().expect("page");
        assert!(page.contains("The service is busy."), "{page}");
        assert!(!page.contains("<li"), "{page}");
    }
    std::fs::write(&state, good).expect("restored");
    assert_eq!(a.get("/account").status(), StatusCode::OK);
}
