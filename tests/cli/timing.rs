//! An unknown user, a wrong password and a disabled user take the same time whatever the
//! stored hashes' parameters (SPEC §6, §15 "Users and hashes"): on the command line
//! (`user check`, the same check as `login`, on the file store and on Redis) and over HTTP
//! (`serve`'s `POST /token`).
//!
//! The users are at bcrypt cost 9 while the configuration makes new hashes at cost 12, so a
//! dummy check at the configured cost would take 8× a wrong password's time; a few users at
//! cost 5 would take a sixteenth of it unless padded. What is compared is the CPU time the
//! refusal costs (the `jwtauth` process's, or the `serve` process's over a few requests):
//! that is the work an attacker's clock measures on an idle server, and unlike wall time it
//! does not change when other tests load the machine. The differences caught are 8× and
//! 16×, not a few percent, so the factor allowed is generous.

use crate::common;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use common::redis::RedisServer;
use common::{Env, Exits};
use reqwest::StatusCode;

use crate::serve::{FormBody as _, Server, send};

/// The bcrypt cost of most users.
const TYPICAL: u32 = 9;
/// The bcrypt cost of a few weaker users (imported from an old htpasswd file, say).
const WEAK: u32 = 5;
/// How many times each case is measured in one attempt.
const ROUNDS: usize = 5;
/// How many attempts a measurement gets.
const ATTEMPTS: usize = 3;
/// How far a case's time may be from a wrong password's.
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

/// Runs each case `ROUNDS` times, interleaved, and returns the least CPU time of each.
fn fastest(run: &mut impl FnMut(&str, &str) -> Duration) -> Vec<Duration> {
    let mut times = vec![Duration::MAX; CASES.len()];
    for _ in 0..ROUNDS {
        for (i, (_, name, pw)) in CASES.iter().enumerate() {
            times[i] = times[i].min(run(name, pw));
        }
    }
    times
}

/// Asserts that every case costs within `FACTOR` of the wrong password's CPU time. A
/// measurement that is off is taken again, up to `ATTEMPTS` times in all; a real difference
/// (8×, 16×) fails every one of them.
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
        eprintln!("least CPU time of {ROUNDS}: {report:?}");
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

/// Seconds of `bash`'s `times` output (`0m0.035s`).
fn seconds(field: &str) -> f64 {
    let (m, s) = field
        .trim_end_matches('s')
        .split_once('m')
        .unwrap_or_else(|| panic!("times field {field:?}"));
    m.parse::<f64>().expect("minutes") * 60.0 + s.parse::<f64>().expect("seconds")
}

/// `user check` of every case in `env` (set up by `setup`), each timed by the CPU time of
/// its `jwtauth` process (user + system, from `bash`'s `times` for its children).
fn user_checks(env: &Env) {
    assert_same_time(|name, pw| {
        let mut child = env
            .std_cmd_for("bash")
            .args([
                "-c",
                r#""$0" user check "$1" --password-stdin; rc=$?; times; exit $rc"#,
            ])
            .arg(common::bin())
            .arg(name)
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
        assert_eq!(out.status.code(), Some(5), "{name}: {out:?}");
        assert_eq!(
            common::stderr_str(&out),
            "jwtauth: login refused: incorrect username or password\n",
            "{name}: one answer for every refusal"
        );
        // jwtauth prints nothing on stdout: the two lines are `times`' (the shell's own, then
        // its children's user and system time).
        let stdout = common::stdout_str(&out);
        let children = stdout.lines().nth(1).expect("times' second line");
        let cpu: f64 = children.split_whitespace().map(seconds).sum();
        Duration::from_secs_f64(cpu)
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
    if !std::path::Path::new("/proc/self/stat").exists() {
        common::skip("the server's CPU time is read from /proc (Linux)");
        return;
    }
    let env = Env::new();
    setup(&env, true);
    let server = Server::start(&env);
    // The server's CPU time (user + system, in clock ticks of 10 ms) over `REQUESTS` refusals
    // in a row, from /proc: coarse per request, so summed over several.
    const REQUESTS: usize = 4;
    let stat = format!("/proc/{}/stat", server.pid());
    let ticks = || -> u64 {
        let text = std::fs::read_to_string(&stat).expect("/proc/PID/stat");
        // The fields after the command name (in parentheses): utime and stime are 14 and 15.
        let rest = &text[text.rfind(')').expect("stat") + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    };
    assert_same_time(|name, pw| {
        let before = ticks();
        for _ in 0..REQUESTS {
            let res = send(server.post("/token").form_body(&[
                ("grant_type", "password"),
                ("username", name),
                ("password", pw),
            ]));
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
            let body: serde_json::Value = res.json().expect("JSON body");
            assert_eq!(body["error"], "invalid_grant", "{name}: {body}");
        }
        Duration::from_millis((ticks() - before) * 10)
    });
}
