//! Benchmark peer for `bench/run.sh`.
//!
//! `jwtdecode mint N KEYFILE OUT [SIDS]` writes N distinct HS256 tokens (one per line) signed
//! with the secret in KEYFILE (its bytes up to one optional trailing newline, as jwtauth reads
//! it). With SIDS (lines `sid sub`, as `bench/tool.py gen-state --sids` writes them), token i
//! carries the `sid` and `sub` of line i mod the number of lines, as a session's tokens do.
//!
//! `jwtdecode decode TOKENS KEYFILE [struct|value]` is the bare `jsonwebtoken` loop: it reads
//! the tokens into memory, then decodes and validates each one (HS256, exp required) and
//! prints `tokens=N secs=S tokens_per_s=R`. Only the loop is timed.

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use std::{env, fs, process};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

fn die(msg: &str) -> ! {
    eprintln!("jwtdecode: {msg}");
    process::exit(2);
}

fn secret(path: &str) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn mint(n: u64, key: &str, out: &str, sids: Option<&str>) {
    let sessions: Vec<(String, String)> = sids.map_or_else(Vec::new, |path| {
        fs::read_to_string(path)
            .unwrap_or_else(|e| die(&format!("{path}: {e}")))
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sid, sub)| (sid.to_string(), sub.to_string()))
            .collect()
    });
    if sids.is_some() && sessions.is_empty() {
        die("no sessions in SIDS");
    }
    let key = EncodingKey::from_secret(&secret(key));
    let header = Header::new(Algorithm::HS256);
    let now = now();
    let seed = splitmix64(now as u64 ^ u64::from(process::id()));
    let mut text = String::with_capacity(n as usize * 200);
    for i in 0..n {
        // 128-bit jti: a random-looking half and the counter, so every jti is distinct.
        let mut jti = [0u8; 16];
        jti[..8].copy_from_slice(&splitmix64(seed ^ i).to_le_bytes());
        jti[8..].copy_from_slice(&i.to_le_bytes());
        let session = sessions.get((i % sessions.len().max(1) as u64) as usize);
        let i = i as i64;
        let claims = Claims {
            sub: session.map_or_else(|| format!("user{i}"), |s| s.1.clone()),
            iat: now - 60 - i % 86_400,
            exp: now + 30 * 86_400 + i,
            jti: b64url(&jti),
            sid: session.map(|s| s.0.clone()),
        };
        let token = encode(&header, &claims, &key).unwrap_or_else(|e| die(&e.to_string()));
        text.push_str(&token);
        text.push('\n');
    }
    fs::write(out, text).unwrap_or_else(|e| die(&format!("{out}: {e}")));
}

fn run_decode<T: serde::de::DeserializeOwned>(tokens: &[&str], key: &DecodingKey) -> usize {
    let validation = Validation::new(Algorithm::HS256);
    let mut ok = 0;
    for t in tokens {
        if decode::<T>(t, key, &validation).is_ok() {
            ok += 1;
        }
    }
    ok
}

fn bench_decode(path: &str, key: &str, claims: &str) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let tokens: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let key = DecodingKey::from_secret(&secret(key));
    let start = Instant::now();
    let ok = match claims {
        "struct" => run_decode::<Claims>(&tokens, &key),
        "value" => run_decode::<serde_json::Value>(&tokens, &key),
        _ => die("claims must be struct or value"),
    };
    let secs = start.elapsed().as_secs_f64();
    if ok != tokens.len() {
        die(&format!(
            "{} of {} tokens failed",
            tokens.len() - ok,
            tokens.len()
        ));
    }
    println!(
        "tokens={} secs={secs:.6} tokens_per_s={:.0}",
        tokens.len(),
        tokens.len() as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["mint", n, key, out] => mint(n.parse().unwrap_or_else(|_| die("bad N")), key, out, None),
        ["mint", n, key, out, sids] => mint(
            n.parse().unwrap_or_else(|_| die("bad N")),
            key,
            out,
            Some(sids),
        ),
        ["decode", tokens, key] => bench_decode(tokens, key, "struct"),
        ["decode", tokens, key, claims] => bench_decode(tokens, key, claims),
        _ => die(
            "usage: jwtdecode mint N KEYFILE OUT [SIDS] | jwtdecode decode TOKENS KEYFILE [struct|value]",
        ),
    }
}
