//! Sessions and refresh tokens over HTTP (SPEC §13) through a real `jwtauth serve` and a real
//! client, on both stores (each test runs on the default files and on a Redis server of its
//! own): the password grant's refresh token, rotation, reuse ending the session everywhere,
//! two clients racing one refresh token, `GET /sessions` and `DELETE /sessions/{sid}`, and
//! the logout paths ending sessions.
use crate::common;
use crate::serve::{
    ALICE_PW, BOB_PW, FormBody, Server, assert_error, body_json, header_of, send, write_config,
};

use std::sync::{Arc, Barrier};

use common::Env;
use common::redis::RedisServer;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

on_both_stores!(
    the_curl_exchange_rotates_and_a_reused_refresh_token_ends_the_session,
    two_clients_racing_one_refresh_token_get_exactly_one_success_then_the_session_ends,
    delete_sessions_ends_a_session_another_client_uses_and_only_the_owners,
    logout_paths_end_the_session_and_an_ended_one_is_still_a_200,
    refresh_grant_bad_input,
);

/// An HS256 key, alice and bob, and `introspector` may introspect.
fn setup(env: &Env) {
    env.init();
    env.add_user("alice", ALICE_PW);
    env.add_user("bob", BOB_PW);
    write_config(
        env,
        "[serve]\nintrospection_subjects = [\"introspector\"]\n",
    );
}

/// The answer of a grant that must succeed: `(access_token, refresh_token, expires_in)`.
fn pair(res: Response) -> (String, String, i64) {
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    assert_eq!(header_of(res.headers(), "cache-control"), "no-store");
    let b = body_json(res);
    assert_eq!(b["token_type"], "bearer", "{b}");
    (
        b["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        b["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
        b["expires_in"].as_i64().expect("expires_in"),
    )
}

/// A password grant as `user` with this `User-Agent`.
fn sign_in(s: &Server, user: &str, pw: &str, agent: &str) -> (String, String, i64) {
    pair(send(
        s.post("/token")
            .header("user-agent", agent)
            .form_body(&[("username", user), ("password", pw)]),
    ))
}

/// `grant_type=refresh_token` as a form.
fn refresh(s: &Server, rt: &str) -> Response {
    send(
        s.post("/token")
            .form_body(&[("grant_type", "refresh_token"), ("refresh_token", rt)]),
    )
}

/// `grant_type=refresh_token` as JSON.
fn refresh_json(s: &Server, rt: &str) -> Response {
    send(s.post("/token").raw(
        "application/json",
        json!({"grant_type": "refresh_token", "refresh_token": rt}).to_string(),
    ))
}

/// A refused refresh: 400 `invalid_grant` (RFC 6749 §5.2), with FastAPI's `detail` too.
fn assert_invalid_grant(res: Response) {
    let (h, _) = assert_error(res, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(h.get("www-authenticate").is_none(), "{h:?}");
}

fn sid_of(env: &Env, token: &str) -> String {
    env.decoded(token)["payload"]["sid"]
        .as_str()
        .expect("a sid claim")
        .to_string()
}

fn sessions(s: &Server, token: &str) -> Vec<Value> {
    let res = send(s.get("/sessions").bearer_auth(token));
    assert_eq!(res.status(), StatusCode::OK, "{res:?}");
    body_json(res)["sessions"]
        .as_array()
        .expect("sessions")
        .clone()
}

fn introspect(s: &Server, caller: &str, token: &str) -> Value {
    let res = send(
        s.post("/introspect")
            .bearer_auth(caller)
            .form_body(&[("token", token)]),
    );
    assert_eq!(res.status(), StatusCode::OK);
    body_json(res)
}

/// Every way a bearer token is used refuses `token` (SPEC §13: ending a session refuses every
/// token of it), and introspection calls it inactive.
fn assert_refused_everywhere(s: &Server, caller: &str, token: &str) {
    for path in ["/protected", "/userinfo", "/auth", "/sessions"] {
        let res = send(s.get(path).bearer_auth(token));
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            header_of(res.headers(), "www-authenticate").contains("error=\"invalid_token\""),
            "{path}"
        );
    }
    assert_eq!(introspect(s, caller, token), json!({"active": false}));
}

fn the_curl_exchange_rotates_and_a_reused_refresh_token_ends_the_session(env: &Env) {
    setup(env);
    let s = Server::start(env);
    let caller = env.mint(&["--sub", "introspector"]);
    // curl -d username=alice -d password=… /token
    let (a1, r1, expires_in) = sign_in(&s, "alice", ALICE_PW, "curl/8.5.0");
    assert_eq!(expires_in, 900, "the default ttl");
    // Opaque (not a JWT), at least 256 bits, base64url.
    assert!(!r1.contains('.'), "{r1}");
    assert!(r1.len() >= 43, "{r1}");
    assert!(
        r1.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{r1}"
    );
    let sid = sid_of(env, &a1);
    assert_eq!(s.protected(&a1).status(), StatusCode::OK);
    // The session as its owner sees it.
    let listed = sessions(&s, &a1);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let me = &listed[0];
    assert_eq!(me["sid"], sid.as_str());
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["current"], true);
    assert_eq!(me["amr"], json!(["pwd"]));
    assert_eq!(
        me["client"],
        json!({"address": "127.0.0.1", "user_agent": "curl/8.5.0"})
    );
    let created = me["created_at"].as_i64().expect("created_at");
    assert!(me["last_used_at"].as_i64().expect("last_used_at") >= created);
    // The default limits: a day without use, 7 days at most.
    let expires_at = me["expires_at"].as_i64().expect("expires_at");
    assert!(expires_at > created && expires_at <= created + 7 * 86400);
    // curl -d grant_type=refresh_token -d refresh_token=R1 /token: a new pair, same session.
    let (a2, r2, _) = pair(refresh(&s, &r1));
    assert_ne!(r2, r1);
    assert_ne!(a2, a1);
    assert_eq!(sid_of(env, &a2), sid);
    assert_eq!(s.protected(&a2).status(), StatusCode::OK);
    // The same in JSON.
    let (a3, r3, _) = pair(refresh_json(&s, &r2));
    assert_eq!(sid_of(env, &a3), sid);
    assert_eq!(introspect(&s, &caller, &a3)["active"], true);
    // R1 again: spent, so taken as theft. The whole session ends: every access token of it
    // and its newest refresh token are refused from now on.
    assert_invalid_grant(refresh(&s, &r1));
    for t in [&a1, &a2, &a3] {
        assert_refused_everywhere(&s, &caller, t);
    }
    assert_invalid_grant(refresh(&s, &r3));
    // A new sign-in is a new session.
    let (a4, _, _) = sign_in(&s, "alice", ALICE_PW, "curl/8.5.0");
    assert_ne!(sid_of(env, &a4), sid);
    assert_eq!(s.protected(&a4).status(), StatusCode::OK);
    let mut s = s;
    assert!(s.stop().success());
    let log = s.log();
    // The reuse is a security event; no refresh token is ever written to the log.
    assert!(
        log.iter()
            .any(|l| l.contains("refresh_reused") && l.contains(&sid) && l.contains("127.0.0.1")),
        "{log:#?}"
    );
    for l in &log {
        for secret in [&r1, &r2, &r3, &a1] {
            assert!(!l.contains(secret.as_str()), "{l}");
        }
    }
}

fn two_clients_racing_one_refresh_token_get_exactly_one_success_then_the_session_ends(env: &Env) {
    setup(env);
    let s = Server::start(env);
    let (access, rt, _) = sign_in(&s, "alice", ALICE_PW, "phone");
    let url = s.url("/token");
    let gate = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (url, rt, gate) = (url.clone(), rt.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                // A client of its own: its own connection.
                let http = Client::builder().no_proxy().build().expect("client");
                let body = serde_urlencoded::to_string([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                ])
                .expect("form");
                gate.wait();
                let res = http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .expect("HTTP request");
                let status = res.status();
                (status, body_json(res))
            })
        })
        .collect();
    let answers: Vec<(StatusCode, Value)> = racers
        .into_iter()
        .map(|r| r.join().expect("racer"))
        .collect();
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    let lost: Vec<&Value> = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::BAD_REQUEST)
        .map(|(_, b)| b)
        .collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{answers:?}");
    assert_eq!(lost[0]["error"], "invalid_grant");
    // The loser presented a spent token: the session ended, the winner's new pair with it.
    let new_rt = won[0]["refresh_token"].as_str().expect("refresh_token");
    let new_access = won[0]["access_token"].as_str().expect("access_token");
    assert_invalid_grant(refresh(&s, new_rt));
    assert_eq!(s.protected(new_access).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.protected(&access).status(), StatusCode::UNAUTHORIZED);
}

fn delete_sessions_ends_a_session_another_client_uses_and_only_the_owners(env: &Env) {
    setup(env);
    let s = Server::start(env);
    let (phone, _, _) = sign_in(&s, "alice", ALICE_PW, "phone");
    let (laptop, laptop_rt, _) = sign_in(&s, "alice", ALICE_PW, "laptop");
    let (bob, _, _) = sign_in(&s, "bob", BOB_PW, "bob's");
    let laptop_sid = sid_of(env, &laptop);
    let phone_sid = sid_of(env, &phone);
    // The phone sees both of alice's sessions, itself as current; not bob's. (Newest first:
    // begun in the same second here, so the order is not asserted; the in-process tests do.)
    let listed = sessions(&s, &phone);
    let mut seen: Vec<(&str, bool, &str)> = listed
        .iter()
        .map(|x| {
            (
                x["sid"].as_str().unwrap(),
                x["current"].as_bool().unwrap(),
                x["client"]["user_agent"].as_str().unwrap(),
            )
        })
        .collect();
    seen.sort_by_key(|x| x.2);
    assert_eq!(
        seen,
        [
            (laptop_sid.as_str(), false, "laptop"),
            (phone_sid.as_str(), true, "phone")
        ]
    );
    // Bob may not end alice's session, nor learn that it exists: 404 as for an unknown sid.
    for sid in [laptop_sid.as_str(), "no-such-session"] {
        assert_error(
            send(s.delete(&format!("/sessions/{sid}")).bearer_auth(&bob)),
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(s.protected(&laptop).status(), StatusCode::OK);
    // No token, a bad one: 401 with the RFC 6750 challenge.
    let res = send(s.delete(&format!("/sessions/{laptop_sid}")));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    let res = send(s.get("/sessions"));
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(res.headers(), "www-authenticate"), "Bearer");
    for res in [
        send(s.get("/sessions").bearer_auth("garbage")),
        send(
            s.delete(&format!("/sessions/{laptop_sid}"))
                .bearer_auth("garbage"),
        ),
    ] {
        let (h, _) = assert_error(res, StatusCode::UNAUTHORIZED, "invalid_token");
        assert!(header_of(&h, "www-authenticate").contains("error=\"invalid_token\""));
    }
    // The phone ends the laptop's session: the laptop's token and refresh token are refused.
    let res = send(
        s.delete(&format!("/sessions/{laptop_sid}"))
            .bearer_auth(&phone),
    );
    assert_eq!(res.status(), StatusCode::OK);
    let body = body_json(res);
    assert_eq!(body["sid"], laptop_sid.as_str(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    let res = s.protected(&laptop);
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_invalid_grant(refresh(&s, &laptop_rt));
    // The phone goes on; the ended session is no longer listed, and a second DELETE is 404.
    assert_eq!(s.protected(&phone).status(), StatusCode::OK);
    let listed = sessions(&s, &phone);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["sid"], phone_sid.as_str());
    assert_error(
        send(
            s.delete(&format!("/sessions/{laptop_sid}"))
                .bearer_auth(&phone),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Bob's session was not touched.
    assert_eq!(s.protected(&bob).status(), StatusCode::OK);
    // Its own session may be ended too: then its token is refused.
    let res = send(
        s.delete(&format!("/sessions/{phone_sid}"))
            .bearer_auth(&phone),
    );
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.protected(&phone).status(), StatusCode::UNAUTHORIZED);
}

fn logout_paths_end_the_session_and_an_ended_one_is_still_a_200(env: &Env) {
    setup(env);
    let s = Server::start(env);
    // DELETE /logout of one token ends its session: the refreshed token is refused too.
    let (a1, r1, _) = sign_in(&s, "alice", ALICE_PW, "one");
    let (a2, r2, _) = pair(refresh(&s, &r1));
    let res = send(s.delete("/logout").bearer_auth(&a1));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_json(res)["message"], "Successfully logged out");
    assert_eq!(s.protected(&a2).status(), StatusCode::UNAUTHORIZED);
    assert_invalid_grant(refresh(&s, &r2));
    // Logging out a token whose session already ended is success, said so.
    for res in [
        send(s.delete("/logout").bearer_auth(&a2)),
        send(s.post("/logout").bearer_auth(&a2)),
    ] {
        assert_eq!(res.status(), StatusCode::OK);
        let message = body_json(res)["message"]
            .as_str()
            .expect("message")
            .to_string();
        assert!(message.contains("already"), "{message}");
    }
    // POST /logout with a bearer (an API client) ends the session too.
    let (b1, b_rt, _) = sign_in(&s, "alice", ALICE_PW, "two");
    let res = send(s.post("/logout").bearer_auth(&b1));
    assert_eq!(res.status(), StatusCode::OK);
    assert_invalid_grant(refresh(&s, &b_rt));
    // POST /revoke of a refresh token (RFC 7009: either kind) ends its session.
    let (c1, c_rt, _) = sign_in(&s, "alice", ALICE_PW, "three");
    let res = send(s.post("/revoke").form_body(&[
        ("token", c_rt.as_str()),
        ("token_type_hint", "refresh_token"),
    ]));
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.protected(&c1).status(), StatusCode::UNAUTHORIZED);
    assert_invalid_grant(refresh(&s, &c_rt));
    // And of an access token: its session's refresh token is refused.
    let (d1, d_rt, _) = sign_in(&s, "alice", ALICE_PW, "four");
    let res = send(s.post("/revoke").form_body(&[("token", d1.as_str())]));
    assert_eq!(res.status(), StatusCode::OK);
    assert_invalid_grant(refresh(&s, &d_rt));
    // Again, and a refresh token that is no one's: still 200 (RFC 7009 §2.2).
    for t in [d1.as_str(), d_rt.as_str(), "AAAA", "not a token"] {
        let res = send(s.post("/revoke").form_body(&[("token", t)]));
        assert_eq!(res.status(), StatusCode::OK, "{t}");
    }
}

fn refresh_grant_bad_input(env: &Env) {
    setup(env);
    let s = Server::start(env);
    let (_, rt, _) = sign_in(&s, "alice", ALICE_PW, "x");
    // No refresh_token, an empty one: invalid_request.
    for form in [
        vec![("grant_type", "refresh_token")],
        vec![("grant_type", "refresh_token"), ("refresh_token", "")],
        vec![("grant_type", "refresh_token"), ("refresh_token", "  ")],
    ] {
        assert_error(
            send(s.post("/token").form_body(&form)),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        );
    }
    assert_error(
        send(
            s.post("/token")
                .raw("application/json", r#"{"grant_type":"refresh_token"}"#),
        ),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // A refresh token of the wrong JSON type is a malformed body.
    assert_error(
        send(s.post("/token").raw(
            "application/json",
            r#"{"grant_type":"refresh_token","refresh_token":7}"#,
        )),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // Not a refresh token of this server: garbage, an access token, one byte changed.
    let access = s.token("alice", ALICE_PW);
    // A character of the tag (at the end) changed.
    let mut tampered = rt.clone().into_bytes();
    let at = tampered.len() - 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("text");
    for bad in [
        "garbage",
        "AAAA",
        &"A".repeat(5000),
        access.as_str(),
        tampered.as_str(),
        "ä😀\u{0}",
    ] {
        assert_invalid_grant(refresh(&s, bad));
    }
    // The tampered one spent nothing: the real one still works.
    pair(refresh(&s, &rt));
    // Other grant types stay unsupported.
    assert_error(
        send(
            s.post("/token")
                .form_body(&[("grant_type", "client_credentials"), ("refresh_token", "x")]),
        ),
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}
