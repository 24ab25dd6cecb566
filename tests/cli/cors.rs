//! CORS of `jwtauth serve` (SPEC §15) over real HTTP: browser apps on the origins of
//! `[serve] cors_allowed_origins` may call `POST /token`, `GET /userinfo`, `DELETE /logout` and
//! `POST /revoke` (preflight answered, no credentials mode); no other route and no other
//! origin gets a CORS header, and none at all is sent by default.
use crate::common;
use crate::serve::{ALICE_PW, FormBody, Server, body_json, env, header_of, send, write_config};
use crate::serve_keys::hangup;

use common::{Exits, stderr_str, stdout_str};
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

const APP: &str = "https://app.example";

/// Every `Access-Control-*` header of an answer.
fn cors_headers(h: &HeaderMap) -> Vec<String> {
    h.keys()
        .map(|k| k.as_str().to_string())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// A preflight: `OPTIONS path` from `origin` asking for `method`.
fn preflight(s: &Server, path: &str, origin: &str, method: &str) -> Response {
    send(
        s.http()
            .request(Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            ),
    )
}

/// Asserts an answer carries no CORS header at all.
fn assert_no_cors(res: &Response, what: &str) {
    assert_eq!(
        cors_headers(res.headers()),
        Vec::<String>::new(),
        "{what}: {res:?}"
    );
}

/// Asserts an answer lets `APP`'s script read it: the origin echoed, never credentials.
fn assert_cors(res: &Response, what: &str) {
    let h = res.headers();
    assert_eq!(header_of(h, "access-control-allow-origin"), APP, "{what}");
    assert!(
        h.get("access-control-allow-credentials").is_none(),
        "{what}"
    );
    assert!(
        h.get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("origin")),
        "{what}: {h:?}"
    );
}

fn from(req: RequestBuilder, origin: &str) -> Response {
    send(req.header("origin", origin))
}

#[test]
fn without_configured_origins_no_answer_has_cors_headers() {
    let env = env();
    let s = Server::start(&env);
    let res = preflight(&s, "/token", APP, "POST");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_no_cors(&res, "preflight");
    let res = from(
        s.post("/token")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
        APP,
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_cors(&res, "POST /token");
}

#[test]
fn allowed_origins_may_call_the_bearer_endpoints_and_nothing_else() {
    let env = env();
    write_config(
        &env,
        "[serve]\ncors_allowed_origins = [\"https://other.example\", \"https://APP.example:443\"]\n",
    );
    let s = Server::start(&env);

    // Preflights of the four bearer routes, each for its own method.
    for (path, method) in [
        ("/token", "POST"),
        ("/userinfo", "GET"),
        ("/logout", "DELETE"),
        ("/revoke", "POST"),
    ] {
        let res = preflight(&s, path, APP, method);
        assert!(res.status().is_success(), "{path}: {res:?}");
        assert_cors(&res, path);
        let h = res.headers();
        assert_eq!(
            header_of(h, "access-control-allow-methods"),
            method,
            "{path}"
        );
        let allowed = header_of(h, "access-control-allow-headers").to_ascii_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{path}: {allowed}"
        );
        assert!(h.get("access-control-max-age").is_some());
    }

    // The calls themselves, answers and errors alike.
    let res = from(
        s.post("/token")
            .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
        APP,
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_cors(&res, "POST /token");
    let token = body_json(res)["access_token"].as_str().unwrap().to_string();
    let res = from(
        s.post("/token")
            .form_body(&[("username", "alice"), ("password", "wrong")]),
        APP,
    );
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_cors(&res, "refused POST /token");
    let res = from(s.get("/userinfo").bearer_auth(&token), APP);
    assert_eq!(res.status(), StatusCode::OK);
    assert_cors(&res, "GET /userinfo");
    let res = from(s.get("/userinfo"), APP);
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_cors(&res, "GET /userinfo without a token");
    assert!(
        header_of(res.headers(), "access-control-expose-headers")
            .to_ascii_lowercase()
            .contains("www-authenticate")
    );
    let res = from(
        s.post("/revoke").form_body(&[("token", "not-a-token")]),
        APP,
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_cors(&res, "POST /revoke");
    let res = from(s.delete("/logout").bearer_auth(&token), APP);
    assert_eq!(res.status(), StatusCode::OK);
    assert_cors(&res, "DELETE /logout");

    // Another origin, or a look-alike: no CORS headers, and its preflight is refused.
    for origin in [
        "https://evil.example",
        "https://app.example.evil",
        "http://app.example",
        "https://app.example:8443",
        "null",
    ] {
        let res = preflight(&s, "/token", origin, "POST");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{origin}");
        assert_no_cors(&res, origin);
        let res = from(
            s.post("/token")
                .form_body(&[("username", "alice"), ("password", ALICE_PW)]),
            origin,
        );
        assert_eq!(res.status(), StatusCode::OK);
        assert_no_cors(&res, origin);
    }

    // Other routes and methods never get CORS headers: the cookie's form posts, forward-auth,
    // introspection, discovery.
    let token = s.token("alice", ALICE_PW);
    for (path, method) in [
        ("/logout", "POST"),
        ("/login", "POST"),
        ("/token", "DELETE"),
        ("/introspect", "POST"),
        ("/protected", "GET"),
        ("/auth", "GET"),
    ] {
        let res = preflight(&s, path, APP, method);
        assert_no_cors(&res, &format!("preflight {method} {path}"));
        assert!(!res.status().is_success(), "{method} {path}: {res:?}");
    }
    for req in [
        s.get("/protected").bearer_auth(&token),
        s.get("/auth").bearer_auth(&token),
        s.get("/login"),
        s.post("/logout"),
        s.get("/healthz"),
        s.get("/openapi.json"),
        s.post("/introspect")
            .bearer_auth(&token)
            .form_body(&[("token", &token)]),
    ] {
        let res = from(req, APP);
        assert_no_cors(&res, res.url().path());
    }
}

#[test]
fn a_bad_origin_in_the_config_is_refused_at_start_naming_the_key() {
    let env = env();
    for (value, shown) in [
        ("\"https://app.example/\"", "https://app.example/"),
        ("\"*\"", "*"),
        ("\"app.example\"", "app.example"),
    ] {
        let path = write_config(
            &env,
            &format!("[serve]\ncors_allowed_origins = [{value}]\n"),
        );
        let out = env
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .exits(8);
        assert_eq!(stdout_str(&out), "");
        assert_eq!(
            stderr_str(&out),
            format!(
                "jwtauth: {}:2:24: serve.cors_allowed_origins: item 1: {shown:?} is not an origin: scheme://host[:port], such as https://app.example (no path)\n",
                path.display()
            )
        );
    }
}

#[test]
fn sighup_applies_a_changed_origin_list() {
    let env = env();
    let config = write_config(&env, "[serve]\n");
    let s = Server::start(&env);
    assert_no_cors(&preflight(&s, "/token", APP, "POST"), "before");
    std::fs::write(
        &config,
        "[serve]\ncors_allowed_origins = [\"https://app.example\"]\n",
    )
    .unwrap();
    hangup(&s);
    let res = preflight(&s, "/token", APP, "POST");
    assert!(res.status().is_success(), "{res:?}");
    assert_cors(&res, "after SIGHUP");
}
