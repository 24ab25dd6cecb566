#!/usr/bin/env python3
"""Redis store against file store (SPEC section 7 "Redis store" rows, issue 16 item 7), side by
side in one run. Standard library only; needs redis-server, redis-cli and wrk (bench/redis.sh
installs them).

  bench/redis_bench.py JWTAUTH_BINARY [--quick]

Rows:
- verify - over N HS256 tokens with R live revocations (10% of the tokens among them), file
  store vs Redis store: tokens/s (target: Redis >= 0.4x file);
- serve GET /protected with a valid token, wrk keep-alive on loopback, file vs Redis
  (target: Redis >= 0.5x file);
- logout: the cost of one `jwtauth logout` process with L live revocations in the state file
  (L = 1k, 10k, 100k), the linear fit cost(L) = a + b*L, and the sustainable logout rate at the
  default ttl (900 s): live entries = rate * ttl and one locked rewrite per logout, so the
  rate r solves r * (a + b * r * ttl) = 1. For Redis, the measured rate of logout processes
  (4 at a time) with R revocations in Redis: Redis does not rewrite anything per logout, so
  it does not depend on L; on this machine it is bound by process start-up, not Redis.

Prints a Markdown table and writes it to target/bench/redis/results.md.
"""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

J = os.path.abspath(sys.argv[1])
QUICK = "--quick" in sys.argv
N = int(os.environ.get("BENCH_REDIS_N", 50000 if QUICK else 200000))
R = int(os.environ.get("BENCH_REDIS_REVOCATIONS", 20000 if QUICK else 100000))
ROUNDS = int(os.environ.get("BENCH_REDIS_ROUNDS", 1 if QUICK else 3))
WRK_SECS = 3 if QUICK else 8
TTL = 900
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W = os.path.join(ROOT, "target/bench/redis")
shutil.rmtree(W, ignore_errors=True)
os.makedirs(W)
HOME = os.path.join(W, "home")
ENV = dict(os.environ, HOME=HOME, XDG_DATA_HOME=f"{HOME}/data", XDG_CONFIG_HOME=f"{HOME}/config")
for k in ("JWT_SECRET_KEY", "JWTAUTH_USERS", "JWTAUTH_STATE", "JWTAUTH_KEY_FILE", "JWTAUTH_CONFIG",
          "JWTAUTH_REDIS_PASSWORD"):
    ENV.pop(k, None)
os.makedirs(HOME)


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def run(*args, stdin=None, env=None, check=True):
    return subprocess.run([J, *args], env=env or ENV, stdin=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=check)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jti():
    return b64(os.urandom(16)).decode()


def write_state(path, jtis, far):
    with open(path, "w") as f:
        json.dump({"version": 1, "tokens": {j: far for j in jtis}, "users": {}}, f)


# ----- set-up ------------------------------------------------------------------------------
port = free_port()
rdir = os.path.join(W, "redis-data")
os.makedirs(rdir)
log(f"redis-server on 127.0.0.1:{port} (AOF everysec, as README 'Several hosts' advises)")
redis = subprocess.Popen(
    ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
     "--appendonly", "yes", "--appendfsync", "everysec", "--dir", rdir, "--logfile", "",
     "--maxmemory-policy", "noeviction"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for line in redis.stdout:
    if "Ready to accept connections" in line:
        break
URL = f"redis://127.0.0.1:{port}/0"
results = []


def cleanup():
    redis.kill()
    redis.wait()


try:
    KEY = os.path.join(W, "secret")
    run("-q", "--key", KEY, "init")
    with open(KEY, "rb") as f:
        secret = f.read().rstrip(b"\n")
    ENV["JWTAUTH_KEY_FILE"] = KEY
    now = int(time.time())
    far = now + 86400
    header = b64(b'{"alg":"HS256","typ":"JWT"}')

    def token(sub, j):
        payload = b64(json.dumps({"sub": sub, "iat": now - 10, "exp": far, "jti": j},
                                 separators=(",", ":")).encode())
        msg = header + b"." + payload
        return (msg + b"." + b64(hmac.new(secret, msg, hashlib.sha256).digest())).decode()

    log(f"{N} tokens, {R} live revocations ({N // 10} of the tokens among them)")
    jtis = [jti() for _ in range(N)]
    tokens_path = os.path.join(W, "tokens.txt")
    with open(tokens_path, "w") as f:
        for i, j in enumerate(jtis):
            f.write(token(f"user{i % 1000}", j) + "\n")
    revoked = set(jtis[::10])
    state = os.path.join(W, "state.json")
    write_state(state, list(revoked) + [jti() for _ in range(max(0, R - len(revoked)))], far)
    # Let jwtauth write the file and its index its own way, then copy it into Redis.
    run("-q", "--state", state, "revocations", "prune")
    run("-q", "--state", state, "migrate", "--state-to", URL)
    redis_keys = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                                text=True, check=True).stdout.strip()
    log(f"Redis holds {redis_keys} keys")

    # ----- verify - ------------------------------------------------------------------------
    def verify_rate(store):
        with open(tokens_path, "rb") as f:
            t0 = time.perf_counter()
            out = subprocess.run([J, "--state", store, "verify", "-"], env=ENV, stdin=f,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            dt = time.perf_counter() - t0
        ok = out.stdout.count(b"\nok ") + out.stdout.startswith(b"ok ")
        if ok != N - len(revoked):
            raise SystemExit(f"verify - on {store}: {ok} ok of {N}, expected {N - len(revoked)}")
        return N / dt

    rates = {"file": [], "redis": []}
    for r in range(ROUNDS):
        for name, store in ([("file", state), ("redis", URL)] if r % 2 == 0
                            else [("redis", URL), ("file", state)]):
            log(f"verify - round {r + 1}: {name}")
            rates[name].append(verify_rate(store))
    vf, vr = statistics.median(rates["file"]), statistics.median(rates["redis"])
    results.append(("`verify -`, %d tokens, %d live revocations" % (N, R),
                    f"{vf:,.0f} tokens/s", f"{vr:,.0f} tokens/s", vr / vf, 0.4))

    # ----- serve /protected ----------------------------------------------------------------
    good = token("alice", jti())

    def protected_rate(store):
        p = subprocess.Popen([J, "--state", store, "--users", store if store == URL else
                              os.path.join(W, "users.json"), "serve", "--listen", "127.0.0.1:0"],
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            addr = None
            for line in p.stderr:
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    addr = m.group(1)
                    break
            # Drain the request log so the server never blocks on it.
            import threading
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            out = subprocess.run(["wrk", "-t1", "-c16", f"-d{WRK_SECS}s", "-H",
                                  f"Authorization: Bearer {good}", f"{addr}/protected"],
                                 capture_output=True, text=True, check=True).stdout
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            if non2xx:
                raise SystemExit(f"/protected on {store}: {non2xx.group(1)} failed responses")
            return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        finally:
            p.terminate()
            p.wait()

    prates = {"file": [], "redis": []}
    for r in range(ROUNDS):
        for name, store in ([("file", state), ("redis", URL)] if r % 2 == 0
                            else [("redis", URL), ("file", state)]):
            log(f"serve /protected round {r + 1}: {name}")
            prates[name].append(protected_rate(store))
    pf, pr = statistics.median(prates["file"]), statistics.median(prates["redis"])
    results.append(("`serve` `GET /protected` (wrk, 16 connections)", f"{pf:,.0f} req/s",
                    f"{pr:,.0f} req/s", pr / pf, 0.5))

    # ----- logout ----------------------------------------------------------------------------
    K = 10 if QUICK else 20
    costs = []
    for live in (1000, 10000, 100000):
        path = os.path.join(W, f"logout-{live}.json")
        write_state(path, [jti() for _ in range(live)], far)
        run("-q", "--state", path, "revocations", "prune")
        toks = [token("bob", jti()) for _ in range(K)]
        t0 = time.perf_counter()
        for t in toks:
            run("-q", "--state", path, "logout", t)
        c = (time.perf_counter() - t0) / K
        costs.append((live, c))
        log(f"file logout with {live} live revocations: {c * 1000:.1f} ms")
    xs, ys = [c[0] for c in costs], [c[1] for c in costs]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((x - mx) * (y - my) for x, y in costs) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    b = max(b, 1e-12)
    # r * (a + b * r * TTL) = 1
    file_rate = (-a + math.sqrt(a * a + 4 * b * TTL)) / (2 * b * TTL)
    M = 100 if QUICK else 400
    toks = [token("carol", jti()) for _ in range(M)]
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        for r in ex.map(lambda t: run("-q", "--state", URL, "logout", t, check=False), toks):
            if r.returncode != 0:
                raise SystemExit(f"redis logout failed: {r.stderr.decode()}")
    redis_rate = M / (time.perf_counter() - t0)
    for live, c in costs:
        results.append((f"one `logout` process, {live:,} live revocations",
                        f"{c * 1000:.1f} ms (file)", "", None, None))
    results.append((f"sustainable logouts/s at ttl {TTL}s (file: fit {a * 1000:.2f} ms + "
                    f"{b * 1e6:.2f} ms per 1,000 entries)",
                    f"{file_rate:,.0f}/s ({file_rate * TTL:,.0f} live)",
                    f"{redis_rate:,.0f}/s (4 processes, bound by process start-up)",
                    redis_rate / file_rate, None))
finally:
    cleanup()

lines = ["| work | file store | Redis store | Redis / file | target |", "|---|---|---|---|---|"]
for work, f, r, ratio, target in results:
    rt = "" if ratio is None else f"{ratio:.2f}x"
    tg = "" if target is None else (f">= {target}x " + ("met" if ratio >= target else "MISSED"))
    lines.append(f"| {work} | {f} | {r} | {rt} | {tg} |")
table = "\n".join(lines)
print(table)
with open(os.path.join(W, "results.md"), "w") as f:
    f.write(table + "\n")
