//! Crash safety: writers (`user add`, `logout --all`) are killed with SIGKILL at random
//! moments; afterwards every file parses, holds only whole records, keeps every write that was
//! acknowledged (exit 0) before the kill, and leftover temp files do not pile up (the next
//! writer under the lock removes them).

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Env;
use jwtauth::store::file::Document;
use jwtauth::store::revocations_file::Revocations;
use jwtauth::store::users_file::UsersDoc as UserStore;

/// xorshift64*: enough randomness for kill timing, seeded from the clock (printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Job {
    User(String),
    Logout(String),
}

fn spawn(env: &Env, w: &Job) -> Child {
    let mut cmd = env.std_cmd();
    match w {
        Job::User(name) => {
            cmd.args(["user", "add", name, "--cost", "4", "--password-stdin"]);
        }
        Job::Logout(sub) => {
            cmd.args(["logout", "--all", sub, "--force"]);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jwtauth");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"correct horse\n");
    }
    child
}

fn temp_files(env: &Env) -> Vec<String> {
    let dir = env.users().parent().unwrap().to_path_buf();
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killed_writers_lose_nothing_acknowledged_and_leave_whole_files() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let env = Env::new();
    let mut acked_users = BTreeSet::new();
    let mut acked_subjects = BTreeSet::new();
    let (mut killed, mut started, mut max_temps) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut round = 0;
    while round < 60 && Instant::now() < deadline {
        // Four writers at once, so kills land while others wait for or hold the lock.
        let writes: Vec<Job> = (0..4)
            .map(|i| {
                if i % 2 == 0 {
                    Job::User(format!("u{round}-{i}"))
                } else {
                    Job::Logout(format!("s{round}-{i}"))
                }
            })
            .collect();
        let mut children: Vec<Child> = writes.iter().map(|w| spawn(&env, w)).collect();
        started += children.len();
        // A random moment within a writer's life (a cost-4 add takes a few milliseconds).
        std::thread::sleep(Duration::from_micros(rng.below(12_000)));
        for c in children.iter_mut() {
            if rng.below(2) == 0 {
                let _ = c.kill();
            }
        }
        for (w, c) in writes.iter().zip(children) {
            let out = c.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => match w {
                    Job::User(n) => {
                        acked_users.insert(n.clone());
                    }
                    Job::Logout(s) => {
                        acked_subjects.insert(s.clone());
                    }
                },
                Some(code) => panic!(
                    "seed {seed}: a writer that was not killed failed with {code}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                None => {
                    assert_eq!(out.status.signal(), Some(9), "seed {seed}");
                    killed += 1;
                }
            }
        }
        // After every round the files are whole and hold every acknowledged write.
        check_files(&env, &acked_users, &acked_subjects, seed);
        max_temps = max_temps.max(temp_files(&env).len());
        round += 1;
    }
    // Temp files of killed writers are orphans; the next writer removes them.
    env.cmd()
        .args(["user", "add", "final", "--cost", "4", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .success();
    env.cmd()
        .args(["logout", "--all", "final"])
        .assert()
        .success();
    assert_eq!(temp_files(&env), Vec::<String>::new(), "seed {seed}");
    acked_users.insert("final".into());
    acked_subjects.insert("final".into());
    check_files(&env, &acked_users, &acked_subjects, seed);
    eprintln!(
        "crash: {round} rounds, {started} writers started, {killed} killed by SIGKILL, {} users and {} logouts acknowledged and found, at most {max_temps} leftover temp files between rounds",
        acked_users.len(),
        acked_subjects.len()
    );
    assert!(killed > 0, "seed {seed}: no writer was killed");
}

fn check_files(env: &Env, users: &BTreeSet<String>, subjects: &BTreeSet<String>, seed: u64) {
    let path = env.users();
    if let Ok(bytes) = std::fs::read(&path) {
        let store = UserStore::parse(&path, &bytes)
            .unwrap_or_else(|e| panic!("seed {seed}: users file does not parse: {e}"));
        let all = store
            .all(&path)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for u in &all {
            jwtauth::passwords::check_hash_format(&u.hashed_password).unwrap();
            assert!(u.created_at > 0, "seed {seed}: partial record {u:?}");
        }
        for name in users {
            assert!(
                store.contains(name),
                "seed {seed}: acknowledged user {name} lost"
            );
        }
    } else {
        assert!(users.is_empty(), "seed {seed}: users file missing");
    }
    let path = env.state();
    if let Ok(bytes) = std::fs::read(&path) {
        let r = Revocations::parse(&path, &bytes)
            .unwrap_or_else(|e| panic!("seed {seed}: state file does not parse: {e}"));
        for s in subjects {
            assert!(
                r.users.contains_key(s),
                "seed {seed}: acknowledged logout of {s} lost"
            );
        }
    } else {
        assert!(subjects.is_empty(), "seed {seed}: state file missing");
    }
}
