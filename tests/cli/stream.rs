//! A long-running `verify -` judges each token by the time it is read and by the revocations
//! as they are then, not by those of its start-up (issue "Core seams", item 3).

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use common::Env;

/// A `verify -` process fed line by line through a pipe.
struct Stream {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Stream {
    fn start(env: &Env) -> Self {
        let mut child = env
            .std_cmd()
            .args(["verify", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start verify -");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Stream {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one token and reads its result line (the stream flushes as soon as its input
    /// has nothing more buffered).
    fn check(&mut self, token: &str) -> String {
        writeln!(self.stdin, "{token}").expect("write token");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read result");
        line.trim_end().to_string()
    }

    fn finish(self) -> i32 {
        let Stream {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        child.wait().expect("wait").code().unwrap_or(-1)
    }
}

#[test]
pub(crate) fn verify_stream_sees_a_logout_made_by_another_process_after_it_started() {
    let env = Env::new();
    env.init();
    env.add_user("alice", "pw-alice-1");
    let token = env.login("alice", "pw-alice-1");
    let other = env.login("alice", "pw-alice-1");
    let mut stream = Stream::start(&env);
    assert_eq!(stream.check(&token), "ok alice");
    // Another process logs the token out while the stream runs.
    env.cmd().args(["logout", &token]).assert().success();
    let line = stream.check(&token);
    assert!(line.starts_with("error 4 "), "{line}");
    // Only that token: the other one of the same user still passes.
    assert_eq!(stream.check(&other), "ok alice");
    // And a `logout --all` reaches the stream too.
    env.cmd()
        .args(["logout", "--all", "alice"])
        .assert()
        .success();
    let line = stream.check(&other);
    assert!(line.starts_with("error 4 "), "{line}");
    assert_eq!(stream.finish(), 1);
}

#[test]
pub(crate) fn verify_stream_judges_each_token_by_the_time_it_is_read() {
    let env = Env::new();
    env.init();
    let now = jiff::Timestamp::now().as_second();
    // Valid for about two more seconds.
    let token = env.mint(&[
        "--sub",
        "bob",
        "--iat",
        &now.to_string(),
        "--exp",
        &(now + 2).to_string(),
    ]);
    let mut stream = Stream::start(&env);
    assert_eq!(stream.check(&token), "ok bob");
    // Ask again until the answer changes: a stream that kept its start-up time would say
    // "ok" forever.
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let line = stream.check(&token);
        if line != "ok bob" || Instant::now() > deadline {
            break line;
        }
        std::thread::yield_now();
    };
    assert!(line.starts_with("error 3 "), "{line}");
    assert_eq!(stream.finish(), 1);
}
