//! `verify -` on a Redis revocation store: the stream reads ahead, verifies each token once,
//! asks Redis about the verified tokens of the whole group in one round trip, then answers
//! each line — with exactly the lines and exit code the file store gives.
use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use common::redis::RedisServer;
use common::{Env, Exits, stderr_str, stdout_str};

/// A token signed with `secret` whatever its claims (no `sub`, no `jti`, no `iat`).
fn hs256(secret: &[u8], payload: &Value) -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let message = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(payload.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{sig}")
}

/// The key bytes of the secret file (its trailing newline removed).
fn secret_bytes(env: &Env) -> Vec<u8> {
    let mut b = common::bytes(&env.secret());
    if b.last() == Some(&b'\n') {
        b.pop();
    }
    b
}

/// `token` with the first character of its signature changed.
fn forged(token: &str) -> String {
    let (msg, sig) = token.rsplit_once('.').expect("three parts");
    let swapped = if sig.starts_with('A') { 'B' } else { 'A' };
    format!("{msg}.{swapped}{}", &sig[1..])
}

/// An environment on the file store and one on `redis`, with the same signing key.
fn file_and_redis(redis: &RedisServer) -> (Env, Env) {
    let file = Env::new();
    file.init();
    let on_redis = Env::with_store(&redis.url());
    if let Some(dir) = on_redis.secret().parent() {
        std::fs::create_dir_all(dir).expect("key dir");
    }
    common::write_secret(
        &on_redis.secret(),
        std::fs::read(file.secret()).expect("key"),
    );
    (file, on_redis)
}

/// Runs `verify - [extra]` on `input`: (exit code, stdout, stderr).
fn verify_stream(env: &Env, input: &str, extra: &[&str]) -> (i32, String, String) {
    let out = env
        .cmd()
        .args(["verify", "-"])
        .args(extra)
        .write_stdin(input.to_string())
        .output()
        .expect("run verify -");
    (
        out.status.code().unwrap_or(-1),
        stdout_str(&out),
        stderr_str(&out),
    )
}

/// The keys Redis has been asked to read so far (`keyspace_hits` + `keyspace_misses`).
fn keys_read(redis: &RedisServer) -> u64 {
    let info = redis.command(&["INFO", "stats"]);
    ["keyspace_hits:", "keyspace_misses:"]
        .iter()
        .map(|field| {
            info.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("INFO stats field")
        })
        .sum()
}

#[test]
fn a_redis_stream_answers_every_line_as_the_file_store_does() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (file, on_redis) = file_and_redis(&redis);
    let secret = secret_bytes(&file);
    let far = jiff::Timestamp::now().as_second() + 3600;
    let mint = |sub: &str, jti: &str| {
        file.mint(&[
            "--sub",
            sub,
            "--claim",
            &format!("jti={jti}"),
            "--ttl",
            "1h",
        ])
    };
    let good = mint("alice", "j-good");
    let logged_out = mint("alice", "j-out");
    let of_carol = mint("carol", "j-carol");
    // The same revocations on both stores, made through the command line.
    for env in [&file, &on_redis] {
        env.cmd().args(["logout", &logged_out]).exits(0);
        env.cmd()
            .args(["logout", "--all", "carol", "--force"])
            .exits(0);
    }
    let no_sub = hs256(&secret, &json!({"jti": "j-nosub", "exp": far}));
    let no_jti = hs256(&secret, &json!({"sub": "dave", "exp": far}));
    let no_ids = hs256(&secret, &json!({"exp": far, "role": "x"}));
    // `carol` without `iat`: it cannot prove it was issued after her mark.
    let carol_no_iat = hs256(&secret, &json!({"sub": "carol", "exp": far}));
    let expired = hs256(
        &secret,
        &json!({"sub": "erin", "jti": "j-exp", "iat": 1_000_000_000, "exp": 1_000_000_100}),
    );
    let cycle: Vec<String> = vec![
        good.clone(),
        logged_out.clone(),
        of_carol,
        no_sub,
        no_jti,
        no_ids,
        carol_no_iat,
        expired,
        forged(&good),
        forged(&logged_out),
        "not.a.token".into(),
        String::new(),
        "   ".into(),
        format!("Bearer {good}"),
        format!("\"{logged_out}\""),
        json!({"access_token": good}).to_string(),
        format!("Cookie: jwtauth_session={logged_out}"),
        "a".repeat(70_000),
        good.clone(),
    ];
    // Over two groups of 1,024 lines, with the cycle not dividing them.
    let mut input = String::new();
    for line in cycle.iter().cycle().take(2_300) {
        input.push_str(line);
        input.push('\n');
    }
    // The last line without its newline.
    input.push_str(&logged_out);
    for extra in [&[][..], &["--json"][..]] {
        let on_file = verify_stream(&file, &input, extra);
        let on_redis = verify_stream(&on_redis, &input, extra);
        assert_eq!(on_file.0, 1, "{extra:?}: {}", on_file.2);
        assert_eq!(on_file.1.lines().count(), 2_301, "{extra:?}");
        assert!(
            on_file.1.contains("ok alice") || on_file.1.contains(r#""sub":"alice""#),
            "{extra:?}"
        );
        assert!(
            on_file.1.contains("revoked") && on_file.1.contains("expired"),
            "{extra:?}"
        );
        // Line by line, then the whole: the same answers, exit code and summary.
        for (n, (f, r)) in on_file.1.lines().zip(on_redis.1.lines()).enumerate() {
            assert_eq!(f, r, "{extra:?} line {}", n + 1);
        }
        assert_eq!(on_file, on_redis, "{extra:?}");
    }
}

#[test]
fn a_redis_stream_asks_only_about_tokens_that_verified_in_one_round_trip() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let (file, on_redis) = file_and_redis(&redis);
    let tokens: Vec<String> = (0..10)
        .map(|i| file.mint(&["--sub", &format!("u{i}"), "--ttl", "1h"]))
        .collect();
    on_redis.cmd().args(["logout", &tokens[3]]).exits(0);
    let mut input = String::new();
    for t in &tokens {
        input.push_str(&format!("{t}\n{}\n{}\n", forged(t), forged(t)));
    }
    let before = keys_read(&redis);
    let (code, out, err) = verify_stream(&on_redis, &input, &[]);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 30);
    for (i, l) in lines.iter().enumerate() {
        let want = match (i / 3, i % 3) {
            (3, 0) => "error 4 token revoked",
            (n, 0) => &format!("ok u{n}"),
            _ => "error 1 invalid token: signature does not match",
        };
        assert!(l.starts_with(want), "line {}: {l}", i + 1);
    }
    // The `jti` and `sub` keys of the 10 tokens that verified, and of none of the 20 forged
    // ones: the lookup keys come from the verifier's one decode of each token.
    assert_eq!(keys_read(&redis) - before, 20);

    // Tokens that fail their own checks need no answer from Redis, as a single `verify`
    // of one does not: with Redis gone they are refused for what they are (exit 1), while a
    // good one still fails closed (exit 8).
    redis.kill();
    let bad: String = tokens.iter().map(|t| format!("{}\n", forged(t))).collect();
    let (code, out, err) = verify_stream(&on_redis, &bad, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 10);
    assert!(out.lines().all(|l| l.starts_with("error 1 ")), "{out}");
    on_redis
        .cmd()
        .args(["verify", &forged(&tokens[0])])
        .exits(1);
    let (code, _, err) = verify_stream(&on_redis, &format!("{}\n{}\n", tokens[0], bad), &[]);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("failing closed"), "{err}");
}

/// How many `MGET`s Redis has answered since its statistics were reset.
fn mget_calls(redis: &RedisServer) -> u64 {
    let info = redis.command(&["INFO", "commandstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_mget:calls="))
        .and_then(|l| l.split(',').next())
        .map_or(0, |n| n.parse().expect("calls"))
}

#[test]
fn tokens_with_a_sid_are_judged_by_the_session_redis_holds_in_the_same_round_trip() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (file, on_redis) = file_and_redis(&redis);
    let key = secret_bytes(&file);
    let now = jiff::Timestamp::now().as_second();
    // Sessions as the store writes them (`sid:<sid>` = "created last_used[ ended]"): live,
    // ended, and unused for longer than `session_idle` (default 1d).
    for (sid, times) in [
        ("live", format!("{} {}", now - 60, now - 30)),
        ("ended", format!("{} {} {}", now - 60, now - 30, now - 10)),
        ("idle", format!("{} {}", now - 3 * 86400, now - 2 * 86400)),
    ] {
        let set = redis.command(&["SET", &format!("jwtauth:sid:{sid}"), &times]);
        assert!(set.starts_with("+OK"), "{set}");
    }
    let token = |sid: &str, jti: &str| {
        hs256(
            &key,
            &json!({"sub": "alice", "jti": jti, "iat": now - 5, "exp": now + 3600, "sid": sid}),
        )
    };
    let cases = [
        ("live", "ok alice"),
        ("unknown", "error 4 token revoked: its session was ended"),
        ("ended", "error 4 token revoked: its session was ended"),
        ("idle", "error 3 token revoked: its session expired at"),
    ];
    for (i, (sid, want)) in cases.iter().enumerate() {
        let code = want
            .strip_prefix("error ")
            .map_or(0, |w| w[..1].parse().unwrap());
        let out = on_redis
            .cmd()
            .args(["verify", &token(sid, &format!("j{i}"))])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{sid}: {}", stderr_str(&out));
    }
    // A stream: every token's `jti:`, `sub:` and `sid:` in one MGET, then the answers in order.
    let mut input = String::new();
    for i in 0..100 {
        let (sid, _) = cases[i % cases.len()];
        input.push_str(&token(sid, &format!("s{i}")));
        input.push('\n');
    }
    redis.command(&["CONFIG", "RESETSTAT"]);
    let (code, out, err) = verify_stream(&on_redis, &input, &[]);
    // Three keys per token, read by MGET only (one per group read ahead: the group is as
    // large as the input the stream had read, so not pinned here; the store's own test pins
    // one MGET for 1,024 tokens).
    assert_eq!(keys_read(&redis), 300);
    assert!(
        (1..=3).contains(&mget_calls(&redis)),
        "{}",
        mget_calls(&redis)
    );
    // Mixed failures (exit 3 and 4): 1, with the count (SPEC §8).
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("75 of 100 tokens failed"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 100);
    for (i, l) in lines.iter().enumerate() {
        let (sid, want) = cases[i % cases.len()];
        assert!(l.starts_with(want), "line {} ({sid}): {l}", i + 1);
    }
    // `--no-revocation` looks nothing up, sessions included.
    let unknown = token("unknown", "n1");
    on_redis
        .cmd()
        .args(["verify", "--no-revocation", &unknown])
        .exits(0);
}
