#!/usr/bin/env python3
"""argon2-cffi (the C reference implementation, libargon2) hashing one password, timed in
process: the peer of `jwtauth hash --scheme argon2id` (SPEC §7). Prints the median
milliseconds per hash over RUNS hashes, after one warm-up.

  bench/argon2_cffi.py M_KIB T P RUNS
"""

import statistics
import sys
import time

import argon2

m, t, p, runs = (int(x) for x in sys.argv[1:5])
hasher = argon2.PasswordHasher(memory_cost=m, time_cost=t, parallelism=p)
hasher.hash("warm-up")
times = []
for _ in range(runs):
    start = time.perf_counter()
    hasher.hash("correct horse battery staple")
    times.append(time.perf_counter() - start)
print(f"{statistics.median(times) * 1000:.4f}")
