#!/usr/bin/env python3
"""POST /token refusal timing (issue 13): unknown user, wrong password and disabled user must
take the same time. Starts `jwtauth serve` on temp files (throttle raised so it does not
answer first), sends N refused logins of each kind, interleaved, and prints the medians.

  bench/serve_timing.py JWTAUTH_BINARY [N] [COST|argon2id]

COST is the configured bcrypt cost (default 10); `argon2id` configures argon2id with OWASP's
parameters instead (SPEC §11). The users' hashes and the unknown user's dummy hash are of the
configured scheme, as every hash is once its user has logged in.
"""

import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
cost = sys.argv[3] if len(sys.argv) > 3 else "10"
home = tempfile.mkdtemp()
env = dict(os.environ, HOME=home, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
for k in ("JWT_SECRET_KEY", "JWTAUTH_USERS", "JWTAUTH_STATE", "JWTAUTH_KEY_FILE", "JWTAUTH_CONFIG"):
    env.pop(k, None)
os.makedirs(f"{home}/config/jwtauth")
with open(f"{home}/config/jwtauth/config.toml", "w") as f:
    scheme = ('password_scheme = "argon2id"' if cost == "argon2id" else f"bcrypt_cost = {cost}")
    f.write(f"{scheme}\n[serve]\nthrottle_max_failures = 1000000\n")
run = lambda *a, **kw: subprocess.run([binary, *a], env=env, check=True, **kw)
run("init", "-q")
for name in ("alice", "dora"):
    run("user", "add", name, "--password-stdin", input=b"right-password\n")
run("user", "disable", "dora", "-q")
server = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"], env=env,
                          stderr=subprocess.PIPE, text=True)
line = server.stderr.readline()
url = line.strip().rsplit(" ", 1)[-1] + "/token"


def attempt(user, password):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(url, method="POST", headers={"Authorization": f"Basic {auth}"})
    start = time.perf_counter()
    try:
        urllib.request.urlopen(req).read()
        status = 200
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    took = time.perf_counter() - start
    # Refused HTTP Basic credentials: 401 (RFC 7617), the same for every kind.
    assert status == 401, (user, status)
    return took


kinds = {
    "unknown user": lambda i: attempt(f"nobody{i}", "right-password"),
    "wrong password": lambda i: attempt("alice", "wrong-password"),
    "disabled user": lambda i: attempt("dora", "right-password"),
}
times = {k: [] for k in kinds}
try:
    for k, f in kinds.items():
        f(-1)  # warm-up
    order = list(kinds)
    for i in range(n):
        # Rotate which kind goes first, so load from elsewhere hits every kind alike.
        for k in order[i % 3:] + order[:i % 3]:
            times[k].append(kinds[k](i))
finally:
    server.terminate()
    server.wait()
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
for k, m in med.items():
    print(f"{k:15} median {m:8.2f} ms over {n}")
print(f"max/min of the medians: {max(med.values()) / min(med.values()):.3f}")
