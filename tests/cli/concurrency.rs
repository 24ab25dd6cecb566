//! 100 concurrent processes on the same files: `user add`, `user passwd`, `logout TOKEN`
//! writers and `verify` / `user list` readers. Every acknowledged write is present, no reader
//! fails, and no file is ever half-written.

use crate::common;

use std::io::Write;
use std::process::{Child, Output, Stdio};

use common::{Env, json};
use jwtauth::store::file::Document;
use jwtauth::store::revocations_file::Revocations;
use jwtauth::store::users_file::UsersDoc as UserStore;

const FAR: &str = "4000000000";

enum Job {
    Add(String),
    Passwd(String),
    Logout(String),
    Verify(String),
    List,
}

fn spawn(env: &Env, job: &Job) -> Child {
    let mut cmd = env.std_cmd();
    let stdin: Option<String> = match job {
        Job::Add(n) => {
            cmd.args(["-q", "user", "add", n, "--cost", "4", "--password-stdin"]);
            Some(format!("pw-{n}\n"))
        }
        Job::Passwd(n) => {
            cmd.args(["-q", "user", "passwd", n, "--cost", "4", "--password-stdin"]);
            Some(format!("new-{n}\n"))
        }
        Job::Logout(t) => {
            cmd.args(["-q", "logout", t]);
            None
        }
        Job::Verify(t) => {
            cmd.args(["verify", t]);
            None
        }
        Job::List => {
            cmd.args(["user", "list", "--json"]);
            None
        }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jwtauth");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    child
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn hundred_concurrent_writers_and_readers_lose_nothing() {
    let env = Env::new();
    env.init();
    for i in 0..15 {
        env.add_user(&format!("old{i}"), "old-pw");
    }
    env.add_user("reader", "reader-pw");
    let reader_token = env.mint(&["--sub", "reader", "--exp", FAR]);
    let mut jobs = Vec::new();
    let mut jtis = Vec::new();
    for i in 0..40 {
        jobs.push(Job::Add(format!("new{i}")));
    }
    for i in 0..15 {
        jobs.push(Job::Passwd(format!("old{i}")));
    }
    for i in 0..20 {
        let t = env.mint(&["--sub", &format!("svc{i}"), "--exp", FAR]);
        let payload = jwtauth::tokens::decode_token(t.as_bytes()).unwrap();
        jtis.push(payload.payload["jti"].as_str().unwrap().to_string());
        jobs.push(Job::Logout(t));
    }
    for i in 0..25 {
        jobs.push(if i % 2 == 0 {
            Job::Verify(reader_token.clone())
        } else {
            Job::List
        });
    }
    // Interleave kinds so writers and readers really overlap.
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| (i * 37) % jobs.len());
    assert_eq!(order.len(), 100);
    let children: Vec<(usize, Child)> = order.iter().map(|&i| (i, spawn(&env, &jobs[i]))).collect();
    let mut writes = 0;
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        match &jobs[i] {
            Job::Add(_) | Job::Passwd(_) | Job::Logout(_) => {
                assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
                assert!(out.stderr.is_empty(), "{}", describe(&out));
                writes += 1;
            }
            Job::Verify(_) => {
                assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
                assert_eq!(out.stdout, b"reader\n", "{}", describe(&out));
            }
            Job::List => {
                assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
                let list = json(&out.stdout);
                let n = list["users"].as_array().unwrap().len();
                // Users are only ever added here: a reader sees the 16 old ones and some new.
                assert!((16..=56).contains(&n), "{}", describe(&out));
            }
        }
    }
    // Every acknowledged write is in the files, which parse whole.
    let path = env.users();
    let store = UserStore::parse(&path, &std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(store.len(), 56);
    for i in 0..40 {
        assert!(store.contains(&format!("new{i}")));
    }
    let state = Revocations::parse(&env.state(), &std::fs::read(env.state()).unwrap()).unwrap();
    for jti in &jtis {
        assert!(state.tokens.contains_key(jti), "logout of {jti} lost");
    }
    for i in 0..15 {
        assert!(
            state.users.contains_key(&format!("old{i}")),
            "passwd revocation lost"
        );
    }
    // Each password change took: the new password logs in, the old one does not.
    for i in [0, 7, 14] {
        let name = format!("old{i}");
        env.login(&name, &format!("new-{name}"));
        env.cmd()
            .args(["login", &name, "--password-stdin"])
            .write_stdin("old-pw\n")
            .assert()
            .code(5);
    }
    for i in [0, 39] {
        let name = format!("new{i}");
        env.login(&name, &format!("pw-{name}"));
    }
    eprintln!(
        "concurrency: 100 processes, {writes} writes acknowledged and all recorded (40 add, 15 passwd, 20 logout), 25 readers ok"
    );
}

/// `user set --add-group` computes the new list under the users file's lock: 20 concurrent
/// edits of one user's groups all land.
#[test]
fn concurrent_add_group_edits_all_land() {
    let env = Env::new();
    env.add_user("alice", "pw");
    let children: Vec<Child> = (0..20)
        .map(|i| {
            env.std_cmd()
                .args(["-q", "user", "set", "alice", "--add-group"])
                .arg(format!("g{i}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn jwtauth")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{}",
            describe(&out)
        );
    }
    let out = env
        .std_cmd()
        .args(["user", "show", "alice", "--json"])
        .output()
        .expect("show");
    let mut groups: Vec<String> = json(&out.stdout)["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g.as_str().expect("a string").to_string())
        .collect();
    groups.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("g{i}")).collect();
    want.sort();
    assert_eq!(groups, want);
}
