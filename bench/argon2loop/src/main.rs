//! Benchmark peer for `bench/run.sh`.
//!
//! `argon2loop M_KIB T P RUNS` hashes one password RUNS times (after three warm-ups) exactly as
//! jwtauth's `passwords::hash` does for argon2id (a random 16-byte salt from the OS, argon2id
//! v=19, a 32-byte digest, the PHC string) and prints the median milliseconds per hash, wall
//! clock and CPU time (this thread's, from Linux `schedstat`; `-` elsewhere). Only the hashing
//! is timed, as bench/argon2_cffi.py times argon2-cffi's.

use std::time::Instant;
use std::{env, process};

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let args: Vec<u32> = env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or_else(|_| usage()))
        .collect();
    let [m, t, p, runs] = args[..] else { usage() };
    let params = Params::new(m, t, p, None).unwrap_or_else(|e| {
        eprintln!("argon2loop: {e}");
        process::exit(2)
    });
    let hash = || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"correct horse battery staple", &salt)
            .map(|h| h.to_string())
            .unwrap_or_else(|e| {
                eprintln!("argon2loop: {e}");
                process::exit(1)
            })
    };
    // Warm-up, as bench/argon2_cffi.py does: the allocator settles on reusing the memory.
    for _ in 0..3 {
        assert!(hash().starts_with("$argon2id$v=19$"));
    }
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..runs.max(1) {
        let (start, c0) = (Instant::now(), cpu_ns());
        std::hint::black_box(hash());
        wall.push(start.elapsed().as_secs_f64() * 1000.0);
        if let (Some(a), Some(b)) = (c0, cpu_ns()) {
            cpu.push((b - a) as f64 / 1e6);
        }
    }
    let cpu = if cpu.is_empty() {
        "-".to_string()
    } else {
        format!("{:.4}", median(cpu))
    };
    println!("{:.4} {cpu}", median(wall));
}

/// This thread's time on a CPU so far, in nanoseconds (Linux `schedstat`), if known.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn usage() -> ! {
    eprintln!("usage: argon2loop M_KIB T P RUNS");
    process::exit(2)
}
