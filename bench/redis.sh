#!/usr/bin/env bash
# Redis store vs file store, side by side in one run (SPEC §7 "Redis store" rows; issue 16
# item 7: when to move to Redis). See bench/redis_bench.py for what is measured.
#
#   bench/redis.sh [--quick]
#
# Installs redis-server (Debian redis-server, which brings redis-cli) and wrk when missing,
# builds target/release/jwtauth (or uses BENCH_JWTAUTH), starts its own redis-server on a free
# loopback port in target/bench/redis, and stops it at the end. Environment: BENCH_REDIS_N
# (tokens), BENCH_REDIS_REVOCATIONS, BENCH_REDIS_ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
J=${BENCH_JWTAUTH:-}
if [ -z "$J" ]; then
  cargo build --release --locked >&2
  J=target/release/jwtauth
fi
exec python3 bench/redis_bench.py "$J" "$@"
