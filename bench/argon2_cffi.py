#!/usr/bin/env python3
"""argon2-cffi (the C reference implementation, libargon2) hashing one password, timed in
process: the peer of `jwtauth hash --scheme argon2id` (SPEC §7). Prints the median
milliseconds per hash over RUNS hashes, after three warm-ups: wall clock, then CPU time.

  bench/argon2_cffi.py M_KIB T P RUNS
"""

import statistics
import sys
import time

import argon2

m, t, p, runs = (int(x) for x in sys.argv[1:5])
hasher = argon2.PasswordHasher(memory_cost=m, time_cost=t, parallelism=p)
for _ in range(3):
    hasher.hash("warm-up")
wall, cpu = [], []
for _ in range(runs):
    start, c0 = time.perf_counter(), time.process_time()
    hasher.hash("correct horse battery staple")
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - c0)
print(f"{statistics.median(wall) * 1000:.4f} {statistics.median(cpu) * 1000:.4f}")
