#!/usr/bin/env bash
# Did a change make jwtauth slower? Two builds side by side in one run, on the same files:
#
#   bench/compare.sh OLD_BINARY NEW_BINARY
#
# Rows: one-shot `verify TOKEN` (hyperfine, the two alternating, warm page cache), `verify -`
# over 1,000,000 tokens (tokens/s, median of 5 runs each, alternating), and serve's `GET /protected` with a bearer
# token (wrk, 8 connections, 5 s runs, 3 rounds that alternate which goes first; median).
# 10,000 users and 10,000 live revocations, an HS256 key. Build both with `cargo build
# --release` (an older commit in a `git worktree`). Needs hyperfine and wrk (Debian packages).
# Environment: COMPARE_TOKENS (tokens for `verify -`), COMPARE_SECS (seconds per wrk run),
# COMPARE_ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ $# -ne 2 ]; then
  echo "usage: bench/compare.sh OLD_BINARY NEW_BINARY" >&2
  exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
TOKENS=${COMPARE_TOKENS:-1000000}
SECS=${COMPARE_SECS:-5}
ROUNDS=${COMPARE_ROUNDS:-3}
TOOL="python3 $ROOT/bench/tool.py"
W=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
unset JWT_SECRET_KEY JWTAUTH_KEY_FILE JWTAUTH_USERS JWTAUTH_STATE JWTAUTH_CONFIG || true
mkdir -p "$HOME"

ARGS=(--users "$W/users.json" --state "$W/state.json" --key "$W/secret")
"$OLD" -q "${ARGS[@]}" init
filler=$(printf 'pw\n' | "$OLD" hash --cost 4 --password-stdin)
$TOOL gen-users "$W/users.json" 10000 "$filler"
$TOOL gen-state "$W/state.json" 10000
"$OLD" -q "${ARGS[@]}" revocations prune
TOKEN=$("$OLD" "${ARGS[@]}" mint --sub user1 --ttl 1d)
for _ in $(seq "$TOKENS"); do printf '%s\n' "$TOKEN"; done >"$W/tokens"

echo "| row | old | new | new/old |"
echo "|---|---|---|---|"

# One-shot verify: hyperfine medians.
hyperfine -N -w 20 -r 300 --export-json "$W/hf.json" \
  -n old "$OLD ${ARGS[*]} verify $TOKEN" -n new "$NEW ${ARGS[*]} verify $TOKEN" >/dev/null 2>&1
python3 - "$W/hf.json" <<'EOF'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"| one-shot `verify` (ms, median) | {r['old']:.3f} | {r['new']:.3f} | {r['new'] / r['old']:.3f} |")
EOF

# verify -: the median of 5 runs each, alternating.
rate() {
  local bin=$1 start end
  start=$(date +%s.%N)
  "$bin" "${ARGS[@]}" verify - <"$W/tokens" >/dev/null
  end=$(date +%s.%N)
  python3 -c "print($TOKENS / ($end - $start))"
}
olds=() news=()
for _ in 1 2 3 4 5; do
  olds+=("$(rate "$OLD")")
  news+=("$(rate "$NEW")")
done
python3 - "${olds[*]}" "${news[*]}" <<'EOF'
import statistics, sys
o = statistics.median(map(float, sys.argv[1].split()))
n = statistics.median(map(float, sys.argv[2].split()))
print(f"| `verify -` (tokens/s, median of 5) | {o:,.0f} | {n:,.0f} | {n / o:.3f} |")
EOF

# serve GET /protected: both servers up, wrk alternating.
# start VAR BIN: serves BIN on a free port, named in VAR (no subshell: the PIDs are kept
# for the clean-up).
start() {
  local port
  port=$($TOOL free-port)
  "$2" "${ARGS[@]}" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  PIDS+=($!)
  $TOOL wait-http "http://127.0.0.1:$port/" 60
  printf -v "$1" '%s' "$port"
}
start P_OLD "$OLD"
start P_NEW "$NEW"
run() {
  wrk -t2 -c8 -d"${SECS}s" -s "$ROOT/bench/wrk/bench.lua" -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$1/protected" >"$2"
}
for i in $(seq "$ROUNDS"); do
  if [ $((i % 2)) = 1 ]; then
    run "$P_OLD" "$W/old.$i"; run "$P_NEW" "$W/new.$i"
  else
    run "$P_NEW" "$W/new.$i"; run "$P_OLD" "$W/old.$i"
  fi
done
o=$($TOOL wrk-median old "$W"/old.* | sed -n 's/^old_rps=//p')
n=$($TOOL wrk-median new "$W"/new.* | sed -n 's/^new_rps=//p')
python3 -c "print(f'| serve \`GET /protected\` (req/s, median of $ROUNDS) | {$o:,.0f} | {$n:,.0f} | {$n / $o:.3f} |')"
