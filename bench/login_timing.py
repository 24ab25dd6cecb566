#!/usr/bin/env python3
"""Login refusal timing with CPU time (SPEC §6, §11): unknown user, wrong password and disabled
user must take the same time, whichever scheme is configured. Like bench/timing.sh, but the
three cases are interleaved run by run (the order rotating) and each run's CPU time (user +
sys of the child, from getrusage) is reported beside its wall time: on a loaded machine the
CPU medians are the steadier. The users and the unknown user's dummy hash are of the
configured scheme (`bcrypt`: bcrypt_cost = 10; `argon2id`: OWASP's m=19456, t=2, p=1).

  bench/login_timing.py JWTAUTH_BINARY bcrypt|argon2id RUNS [COMMAND...]

COMMAND is `login` (default) or `user check`.
"""
import os, resource, statistics, subprocess, sys, tempfile, time
binary, scheme, runs, verb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] or ["login"]
home = tempfile.mkdtemp()
env = dict(os.environ, HOME=home, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
for k in ("JWT_SECRET_KEY","JWTAUTH_USERS","JWTAUTH_STATE","JWTAUTH_KEY_FILE","JWTAUTH_CONFIG"): env.pop(k, None)
os.makedirs(f"{home}/config/jwtauth")
open(f"{home}/config/jwtauth/config.toml","w").write('bcrypt_cost = 10\n' if scheme=="bcrypt" else 'password_scheme = "argon2id"\n')
run=lambda *a, **kw: subprocess.run([binary,*a],env=env,check=True,**kw)
run("-q","init")
for n in ("alice","dora"): run("-q","user","add",n,"--password-stdin",input=b"right-password\n")
run("-q","user","disable","dora")
cases={"unknown user":("nobody","right-password"),"wrong password":("alice","wrong-password"),"disabled user":("dora","right-password")}
wall={k:[] for k in cases}; cpu={k:[] for k in cases}
def one(k):
    u,p=cases[k]; r0=resource.getrusage(resource.RUSAGE_CHILDREN); t0=time.perf_counter()
    rc=subprocess.run([binary,*verb,u,"--password-stdin"],env=env,input=(p+"\n").encode(),stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL).returncode
    t1=time.perf_counter(); r1=resource.getrusage(resource.RUSAGE_CHILDREN)
    assert rc==5,(k,rc)
    return (t1-t0)*1000, ((r1.ru_utime-r0.ru_utime)+(r1.ru_stime-r0.ru_stime))*1000
order=list(cases)
for k in order: one(k)
for i in range(runs):
    for k in order[i%3:]+order[:i%3]:
        w,c=one(k); wall[k].append(w); cpu[k].append(c)
print(f"{' '.join(verb)}, {scheme}, {runs} runs each, interleaved: median wall ms / median CPU (user+sys) ms")
for k in order: print(f"  {k:15} {statistics.median(wall[k]):8.2f}  {statistics.median(cpu[k]):8.2f}")
mw=[statistics.median(v) for v in wall.values()]; mc=[statistics.median(v) for v in cpu.values()]
print(f"  max/min          {max(mw)/min(mw):8.3f}  {max(mc)/min(mc):8.3f}")
