//! An unknown user, a wrong password and a disabled user take the same time whatever the
//! stored hashes' parameters (SPEC §6, §15 "Users and hashes"): on the command line
//! (`user check`, the same check as `login`, on the file store and on Redis) and over HTTP
//! (`serve`'s `POST /token`).
//!
//! The users are at bcrypt cost 9 while the configuration makes new hashes at cost 12, so a
//! dummy check at the configured cost would take 8× a wrong password's time; a few users at
//! cost 5 would take a sixteenth of it unless padded. Each case runs a few times, interleaved
//! with the others so that a burst of load hits them alike, and the fastest times are
//! compared within a generous factor: the differences caught are 8× and 16×, not a few
//! percent.

use crate::common;

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{Env, Exits};
use reqwest::StatusCode;

use crate::serve::{FormBody as _, Server, send};

/// The bcrypt cost of most users.
const TYPICAL: u32 = 9;
/// The bcrypt cost of a few weaker users (imported from an old htpasswd file, say).
const WEAK: u32 = 5;
/// How many times each case is measured in one attempt.
const ROUNDS: usize = 7;
/// How many attempts a measurement gets.
const ATTEMPTS: usize = 3;
/// How far a case's time may be from a wrong password's: generous, for a loaded machine.
const FACTOR: (f64, f64) = (0.6, 1.7);
const PW: &str = "right-Pw-4kQ!";

/// A temp home with users at cost `TYPICAL` (`typical1`–`typical3`, and `off`, disabled), two
/// at cost `WEAK` (`weak`, and `weak-off`, disabled), and the configured cost 12.
fn setup(env: &Env, serve: bool) {
    env.init();
    let mut config = String::from("bcrypt_cost = 12\n");
    if serve {
        config.push_str("[serve]\nthrottle_max_failures = 1000000\n");
    }
    env.write_config(&config);
    for (name, cost) in [
        ("typical1", TYPICAL),
        ("typical2", TYPICAL),
        ("typical3", TYPICAL),
        ("off", TYPICAL),
        ("weak", WEAK),
        ("weak-off", WEAK),
    ] {
        env.cmd()
            .args(["user", "add", name, "--scheme", "bcrypt", "--cost"])
            .arg(cost.to_string())
            .arg("--password-stdin")
            .write_stdin(format!("{PW}\n"))
            .exits(0);
    }
    for name in ["off", "weak-off"] {
        env.cmd().args(["user", "disable", name]).exits(0);
    }
}

/// The cases: (label, user name, password). All are refused.
const CASES: [(&str, &str, &str); 5] = [
    ("wrong password", "typical1", "wrong-Pw"),
    ("unknown user", "nobody", PW),
    ("disabled user", "off", PW),
    ("wrong password, weak hash", "weak", "wrong-Pw"),
    ("disabled user, weak hash", "weak-off", PW),
];

/// Runs each case `ROUNDS` times, interleaved, and returns the fastest time of each: load
/// can only slow a run down, so the fastest is the closest to the work itself.
fn fastest(run: &mut impl FnMut(&str, &str) -> Duration) -> Vec<Duration> {
    let mut times = vec![Duration::MAX; CASES.len()];
    for _ in 0..ROUNDS {
        for (i, (_, name, pw)) in CASES.iter().enumerate() {
            times[i] = times[i].min(run(name, pw));
        }
    }
    times
}

/// Asserts that every case takes within `FACTOR` of the wrong password's time. A burst of
/// load on a shared machine can still skew one measurement: it is taken again, up to
/// `ATTEMPTS` times in all. A real difference (8×, 16×) fails every one of them.
fn assert_same_time(mut run: impl FnMut(&str, &str) -> Duration) {
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let times = fastest(&mut run);
        let base = times[0].as_secs_f64();
        let report: Vec<String> = CASES
            .iter()
            .zip(&times)
            .map(|((label, ..), t)| format!("{label}: {t:?}"))
            .collect();
        eprintln!("fastest of {ROUNDS}: {report:?}");
        let off: Vec<String> = CASES
            .iter()
            .zip(&times)
            .skip(1)
            .map(|((label, ..), t)| (label, t.as_secs_f64() / base))
            .filter(|(_, ratio)| !(FACTOR.0..=FACTOR.1).contains(ratio))
            .map(|(label, ratio)| format!("{label} takes {ratio:.2}× a wrong password's time"))
            .collect();
        if off.is_empty() {
            return;
        }
        failures.push(format!("{}; {report:?}", off.join(", ")));
    }
    panic!(
        "refusals told apart by their time in every attempt:\n{}",
        failures.join("\n")
    );
}

/// `user check` of every case in `env` (set up by `setup`).
fn user_checks(env: &Env) {
    assert_same_time(|name, pw| {
        let start = Instant::now();
        let mut child = env
            .std_cmd()
            .args(["user", "check", name, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jwtauth");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{pw}\n").as_bytes())
            .expect("write the password");
        let out = child.wait_with_output().expect("wait");
        let took = start.elapsed();
        assert_eq!(out.status.code(), Some(5), "{name}: {out:?}");
        assert_eq!(
            common::stderr_str(&out),
            "jwtauth: login refused: incorrect username or password\n",
            "{name}: one answer for every refusal"
        );
        assert!(out.stdout.is_empty());
        took
    });
}

#[test]
fn refused_user_checks_take_the_same_time_whatever_the_stored_costs() {
    let env = Env::new();
    setup(&env, false);
    let before = common::bytes(&env.users());
    user_checks(&env);
    assert_eq!(
        common::bytes(&env.users()),
        before,
        "a check writes nothing"
    );
}

/// The same on Redis, whose store samples the users' hashes itself.
#[test]
fn refused_user_checks_on_redis_take_the_same_time_whatever_the_stored_costs() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let env = Env::with_store(&server.url());
    setup(&env, false);
    user_checks(&env);
    drop(server);
}

#[test]
fn refused_logins_over_http_take_the_same_time_whatever_the_stored_costs() {
    let env = Env::new();
    setup(&env, true);
    let server = Server::start(&env);
    assert_same_time(|name, pw| {
        let req = server.post("/token").form_body(&[
            ("grant_type", "password"),
            ("username", name),
            ("password", pw),
        ]);
        let start = Instant::now();
        let res = send(req);
        let took = start.elapsed();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        let body: serde_json::Value = res.json().expect("JSON body");
        assert_eq!(body["error"], "invalid_grant", "{name}: {body}");
        took
    });
}
