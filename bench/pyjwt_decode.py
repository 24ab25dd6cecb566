"""PyJWT peer for bench/run.sh: decode (verify) HS256 tokens in one Python process.

python pyjwt_decode.py TOKENS KEYFILE MAX
Reads the first MAX tokens, then times only the decode loop (HS256, exp required) and prints
`tokens=N secs=S tokens_per_s=R`.
"""

import sys
import time

import jwt

path, key_path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(key_path, "rb") as f:
    key = f.read()
if key.endswith(b"\n"):
    key = key[:-1]
tokens = []
with open(path) as f:
    for line in f:
        line = line.strip()
        if line:
            tokens.append(line)
            if len(tokens) >= limit:
                break
options = {"require": ["exp"]}
decode = jwt.decode
start = time.perf_counter()
for t in tokens:
    decode(t, key, algorithms=["HS256"], options=options)
secs = time.perf_counter() - start
print(f"tokens={len(tokens)} secs={secs:.6f} tokens_per_s={len(tokens) / secs:.0f}")
