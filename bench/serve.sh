#!/usr/bin/env bash
# jwtauth serve benchmark (SPEC §7 `serve` rows, issue 15): `jwtauth serve` against the classic
# FastAPI service and a bare axum handler, side by side in one run, with wrk on loopback.
#
#   bench/serve.sh            full run (100,000 users and revocations, cost 12, 10 s GET runs,
#                             20 s login runs, 3 rounds; about 10 minutes)
#   bench/serve.sh --quick    seconds-long runs on small files, for CI (bench/run.sh --quick)
#   bench/serve.sh --strict   also exit 3 when a SPEC target is missed
#
# Environment overrides: BENCH_SERVE_SECS (seconds per GET run and per refresh run),
# BENCH_SERVE_LOGIN_SECS (seconds per POST /token run and per run under a login flood),
# BENCH_SERVE_ROUNDS, BENCH_SERVE_CONNS (connections of the GET runs), BENCH_SERVE_THREADS
# (wrk threads), BENCH_SERVE_COST (bcrypt cost of the login user), BENCH_SERVE_USERS,
# BENCH_SERVE_REVOCATIONS, BENCH_SERVE_SESSIONS (live sessions seeded), BENCH_SERVE_REFRESH_CONNS
# (connections chaining refresh tokens), BENCH_SERVE_ONLY=refresh (only the refresh rows and
# the password-login row they are compared with: no classic service, no bare handler),
# BENCH_PEERS (peer cache, default target/bench-peers), BENCH_JWTAUTH (bench this binary
# instead of building target/release/jwtauth).
#
# Peers, built or installed here, outside the repository's build configuration, and cached:
# - wrk (Debian package, apt-get when missing) as the load generator: keep-alive, loopback,
#   bench/wrk/bench.lua reports rate, latency percentiles and errors; any error or non-2xx
#   answer fails the run (timeouts of the classic service, which stalls while it hashes, only
#   make its latency a lower bound);
# - the classic FastAPI + JWT service (bench/classic/main.py: FastAPI + uvicorn, passlib
#   bcrypt with bcrypt 4.0.1, python-jose HS256, `async def` handlers) in a venv at
#   $BENCH_PEERS/classic-venv, run with 2 and with 1 uvicorn worker on the same users file
#   and key as jwtauth;
# - a bare axum handler returning a constant (bench/axumbare, its own Cargo project with
#   jwtauth's release profile and runtime layout) in $BENCH_PEERS/axumbare-target;
# - redis-server (Debian package, apt-get when missing), started here on a free loopback port
#   with AOF everysec, for the Redis refresh row (CI installs it for the tests anyway).
#
# Sessions (SPEC §13): the state holds SESSIONS live sessions, written directly (bench/tool.py
# gen-state). The bearer token and the cookie come from a real `jwtauth login` (they carry a
# `sid`, so every check also checks the session); a `mint` token (no `sid`) runs the same
# routes for comparison.
#
# Runs: GET /protected (bearer) on jwtauth, the bare handler and both classic services, and
# GET /auth (session cookie) on jwtauth, in ROUNDS rounds that rotate which goes first;
# POST /token (Basic, 16 connections) on jwtauth and both classic services; GET /protected
# on 4 connections while 16 others flood POST /token (jwtauth, classic with 2 workers); idle
# RSS of a fresh jwtauth on the same files after one request per route; POST /token with
# grant_type=refresh_token (bench/wrk/refresh.lua, REFRESH_CONNS connections, one per wrk
# thread, each chaining its own refresh tokens from one password login before the run) on a
# file store and on a Redis store, each holding SESSIONS seeded live sessions, compared with
# the password logins/s of the same run. Every server logs as it does by default, to
# /dev/null. Medians over the rounds.
#
# Prints a Markdown table and writes it to target/bench/serve-results.md.
# Exit status: 0 when every section ran (targets missed are reported, not fatal, unless
# --strict), 1 when a section failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
STRICT=0
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    --strict) STRICT=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/serve.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  SECS=${BENCH_SERVE_SECS:-2}
  LOGIN_SECS=${BENCH_SERVE_LOGIN_SECS:-3}
  ROUNDS=${BENCH_SERVE_ROUNDS:-1}
  COST=${BENCH_SERVE_COST:-6}
  USERS=${BENCH_SERVE_USERS:-1000}
  REVOCATIONS=${BENCH_SERVE_REVOCATIONS:-1000}
  SESSIONS=${BENCH_SERVE_SESSIONS:-1000}
else
  SECS=${BENCH_SERVE_SECS:-10}
  # At cost 12 a login takes a quarter of a second of one core: long enough for many of them.
  LOGIN_SECS=${BENCH_SERVE_LOGIN_SECS:-20}
  ROUNDS=${BENCH_SERVE_ROUNDS:-3}
  COST=${BENCH_SERVE_COST:-12}
  USERS=${BENCH_SERVE_USERS:-100000}
  REVOCATIONS=${BENCH_SERVE_REVOCATIONS:-100000}
  SESSIONS=${BENCH_SERVE_SESSIONS:-10000}
fi
CONNS=${BENCH_SERVE_CONNS:-64}
THREADS=${BENCH_SERVE_THREADS:-2}
LOGIN_CONNS=16
FLOOD_CONNS=4
REFRESH_CONNS=${BENCH_SERVE_REFRESH_CONNS:-16}
ONLY=${BENCH_SERVE_ONLY:-}
case $ONLY in
  "") SECTIONS=(verify login refresh flood rss) ;;
  refresh) SECTIONS=(login refresh) ;;
  *) echo "bench/serve.sh: BENCH_SERVE_ONLY must be empty or refresh, not $ONLY" >&2; exit 2 ;;
esac

PEERS=${BENCH_PEERS:-$ROOT/target/bench-peers}
OUTDIR=$ROOT/target/bench
W=$OUTDIR/serve-work
METRICS=$W/metrics.txt
TOOL="python3 $ROOT/bench/tool.py"
LUA=$ROOT/bench/wrk/bench.lua
REFRESH_LUA=$ROOT/bench/wrk/refresh.lua

log() { printf '== %s\n' "$*" >&2; }
metric() { printf '%s=%s\n' "$1" "$2" >>"$METRICS"; }

# ---------------------------------------------------------------------------------------------
# Peers

install_peers() {
  local missing=()
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  mkdir -p "$PEERS"
  build_jwtauth
  VENV=$PEERS/classic-venv
  [ -z "$ONLY" ] || return 0
  local req=$ROOT/bench/classic/requirements.txt
  if ! cmp -s "$req" "$VENV/requirements.txt" 2>/dev/null; then
    log "creating the classic FastAPI service's venv ($VENV)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$VENV/requirements.txt"
  fi

  # From outside the repository, so that no configuration of ours applies. A quick run (whose
  # figures do not count) builds it without LTO, in a quarter of the time, for CI.
  local bare_target=$PEERS/axumbare-target lto=()
  if [ "$QUICK" = 1 ]; then
    bare_target=$PEERS/axumbare-quick-target
    lto=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16)
  fi
  log "building the bare axum handler (bench/axumbare)${lto[*]:+ without LTO (quick)}"
  (cd / && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS "${lto[@]}" cargo build --release --locked \
    --quiet --manifest-path "$ROOT/bench/axumbare/Cargo.toml" --target-dir "$bare_target")
  BARE=$bare_target/release/axumbare
}

build_jwtauth() {
  if [ -n "${BENCH_JWTAUTH:-}" ]; then
    J=$(realpath "$BENCH_JWTAUTH")
    log "using $J (BENCH_JWTAUTH), not building"
  else
    log "cargo build --release (jwtauth, default build)"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo build --release --locked --quiet
    J=$ROOT/target/release/jwtauth
  fi
}

# ---------------------------------------------------------------------------------------------
# Servers

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# start NAME CMD...: starts a server on a free port (CMD contains @PORT@), sets PORT_<NAME>
# and PID_<NAME>, and waits until it answers. Its output goes to /dev/null: every server keeps
# its default request log, and pays for writing it.
start() {
  local name=$1 port
  shift
  port=$($TOOL free-port)
  local args=("${@//@PORT@/$port}")
  "${args[@]}" >/dev/null 2>&1 &
  PIDS+=($!)
  declare -g "PORT_$name=$port" "PID_$name=$!"
  $TOOL wait-http "http://127.0.0.1:$port/" 60
}

setup() {
  export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
  unset JWT_SECRET_KEY JWTAUTH_KEY_FILE JWTAUTH_USERS JWTAUTH_STATE JWTAUTH_CONFIG || true
  mkdir -p "$HOME"
  KEY=$W/secret
  USERS_FILE=$W/users.json
  STATE=$W/revocations.json
  "$J" -q --key "$KEY" init
  # The login user's hash is at the configured cost, so logins measure verification, not a
  # rehash to the default cost (SPEC §11 upgrades weaker hashes on login).
  # The throttle counts a check while it runs (SPEC §15: a burst from one address gets at most
  # throttle_max_failures checks at once): 16 connections from 127.0.0.1 logging in are such a
  # burst. The classic service has no throttle; the rows measure logins, so it is lifted.
  export JWTAUTH_CONFIG=$W/config.toml
  printf 'bcrypt_cost = %s\n[serve]\nthrottle_max_failures = 1000000\n' "$COST" >"$JWTAUTH_CONFIG"
  log "generating $USERS users and $REVOCATIONS live revocations"
  local filler hash pw='correct horse battery staple'
  filler=$(printf '%s\n' "$pw" | "$J" hash --cost 4 --password-stdin)
  hash=$(printf '%s\n' "$pw" | "$J" hash --cost "$COST" --password-stdin)
  $TOOL gen-users "$USERS_FILE" $((USERS - 1)) "$filler"
  "$J" -q --users "$USERS_FILE" user add bench --hash "$hash" --full-name 'Bench User' \
    --email bench@example.com
  # The reader's token is the one the GET rows send: another user than the login rows', whose
  # hundreds of sign-ins would end the reader's session past session_max_per_user.
  "$J" -q --users "$USERS_FILE" user add reader --hash "$hash" --full-name 'Bench Reader' \
    --email reader@example.com
  log "generating $REVOCATIONS live revocations and $SESSIONS live sessions"
  $TOOL gen-state "$STATE" "$REVOCATIONS" --sessions "$SESSIONS"
  # jwtauth rewrites the state in its own layout and builds the lookup index.
  "$J" -q --state "$STATE" revocations prune
  J_ARGS=(--users "$USERS_FILE" --state "$STATE" --key "$KEY")
  # A real sign-in: its token carries a sid, so every check also checks the session (SPEC
  # §13). A day's token (login caps it at the session's idle limit, 1d by default), as the run
  # is longer than the default 15 minutes. MINT has no sid: the rows without sessions.
  TOKEN=$(printf '%s\n' "$pw" | "$J" "${J_ARGS[@]}" login reader --password-stdin --ttl 1d)
  [ "$("$J" decode --json "$TOKEN" | $TOOL json-has payload.sid)" = yes ] ||
    { echo "the login token has no sid" >&2; return 1; }
  MINT=$("$J" "${J_ARGS[@]}" mint --sub reader --ttl 1d)
  # A token whose session was ended (a logout ends the session of the token), and a revoked
  # minted token.
  REVOKED=$(printf '%s\n' "$pw" | "$J" "${J_ARGS[@]}" login reader --password-stdin --ttl 1d)
  "$J" -q "${J_ARGS[@]}" logout "$REVOKED"
  REVOKED_MINT=$("$J" "${J_ARGS[@]}" mint --sub reader --ttl 1d)
  "$J" -q "${J_ARGS[@]}" logout "$REVOKED_MINT"
  BASIC=$(printf 'bench:%s' "$pw" | base64 -w0)
  metric users_n "$USERS"
  metric revocations_n "$REVOCATIONS"
  metric sessions_n "$SESSIONS"
  metric refresh_conns "$REFRESH_CONNS"
  metric cost "$COST"
  metric conns "$CONNS"
  metric login_conns "$LOGIN_CONNS"
  metric flood_conns "$FLOOD_CONNS"

  setup_refresh
  log "starting jwtauth serve"
  start jwtauth "$J" "${J_ARGS[@]}" serve --listen 127.0.0.1:@PORT@
  if [ -n "$ONLY" ]; then
    $TOOL http-check 200 GET "http://127.0.0.1:$PORT_jwtauth/protected" "Authorization: Bearer $TOKEN"
    $TOOL http-check 200 POST "http://127.0.0.1:$PORT_jwtauth/token" "Authorization: Basic $BASIC"
    return 0
  fi
  log "starting the bare axum handler and the classic service (1 and 2 workers)"
  start bare "$BARE" 127.0.0.1:@PORT@
  local secret
  secret=$(head -c "$(($(wc -c <"$KEY") - 1))" "$KEY")
  local w
  for w in 1 2; do
    start "classic$w" env CLASSIC_USERS="$USERS_FILE" JWT_SECRET_KEY="$secret" \
      "$VENV/bin/uvicorn" --app-dir "$ROOT/bench/classic" main:app --host 127.0.0.1 \
      --port @PORT@ --workers "$w"
  done

  # The comparison is void unless every side answers as it should.
  # (A wrong password in HTTP Basic credentials: 401 from both, RFC 7617.)
  local bearer="Authorization: Bearer $TOKEN" p
  local wrong="Authorization: Basic $(printf 'bench:wrong' | base64 -w0)"
  for p in $PORT_jwtauth $PORT_classic1 $PORT_classic2; do
    $TOOL http-check 200 GET "http://127.0.0.1:$p/protected" "$bearer"
    $TOOL http-check 401 GET "http://127.0.0.1:$p/protected" "Authorization: Bearer ${TOKEN}x"
    $TOOL http-check 200 POST "http://127.0.0.1:$p/token" "Authorization: Basic $BASIC"
    $TOOL http-check 401 POST "http://127.0.0.1:$p/token" "$wrong"
  done
  local t
  for t in "$REVOKED" "$REVOKED_MINT"; do
    $TOOL http-check 401 GET "http://127.0.0.1:$PORT_jwtauth/protected" "Authorization: Bearer $t"
    $TOOL http-check 401 GET "http://127.0.0.1:$PORT_jwtauth/auth" "Cookie: jwtauth_session=$t"
  done
  $TOOL http-check 200 GET "http://127.0.0.1:$PORT_jwtauth/protected" "Authorization: Bearer $MINT"
  for t in "$TOKEN" "$MINT"; do
    $TOOL http-check 200 GET "http://127.0.0.1:$PORT_jwtauth/auth" "Cookie: jwtauth_session=$t"
  done
  $TOOL http-check 200 GET "http://127.0.0.1:$PORT_bare/protected" "$bearer"
}

# The refresh rows' stores: SESSIONS live sessions written directly into a state file of their
# own (no revocations: the SPEC row is "10,000 live sessions"), that file itself for the file
# store, and the same sessions copied into a redis-server of ours with `jwtauth migrate`
# (AOF everysec, as README "Several hosts" advises). Users stay in the users file for both,
# so the rows differ in the state store only.
setup_refresh() {
  REFRESH_STATE=$W/refresh-state.json
  $TOOL gen-state "$REFRESH_STATE" 0 --sessions "$SESSIONS"
  "$J" -q --state "$REFRESH_STATE" revocations prune
  local port
  port=$($TOOL free-port)
  mkdir -p "$W/redis"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
    --dir "$W/redis" --logfile "" --maxmemory-policy noeviction >/dev/null 2>&1 &
  PIDS+=($!)
  REDIS_URL=redis://127.0.0.1:$port/0
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  log "copying the $SESSIONS sessions into Redis ($REDIS_URL)"
  # A copy of the file: serve writes the file store's own.
  cp "$REFRESH_STATE" "$W/refresh-seed.json"
  "$J" -q --state "$W/refresh-seed.json" migrate --state-to "$REDIS_URL"
  log "Redis holds $(redis-cli -p "$port" dbsize) keys"
  log "starting jwtauth serve on the refresh stores (file, Redis)"
  start refresh_file "$J" --users "$USERS_FILE" --state "$REFRESH_STATE" --key "$KEY" \
    serve --listen 127.0.0.1:@PORT@
  start refresh_redis "$J" --users "$USERS_FILE" --state "$REDIS_URL" --key "$KEY" \
    serve --listen 127.0.0.1:@PORT@
  # The rows are void unless a refresh rotates and a spent token ends its session.
  local s
  for s in file redis; do
    local -n port_s=PORT_refresh_$s
    $TOOL login-tokens "http://127.0.0.1:$port_s/token" "$BASIC" 1 "$W/refresh-check.txt"
    $TOOL refresh-check "http://127.0.0.1:$port_s/token" "$W/refresh-check.txt"
    unset -n port_s
  done
}

# wrk_run OUT SECS THREADS CONNS URL [wrk options...]: one wrk run, its output in OUT (the
# script is bench/wrk/bench.lua, or $WRK_SCRIPT).
wrk_run() {
  local out=$1 secs=$2 threads=$3 conns=$4 url=$5
  shift 5
  wrk -t "$threads" -c "$conns" -d "${secs}s" --timeout 10s -s "${WRK_SCRIPT:-$LUA}" "$@" "$url" >"$out"
}

# ---------------------------------------------------------------------------------------------
# Sections

section_verify() {
  local names=(protected auth bare classic2 classic1 protected_mint auth_mint) k=7 i j c f
  local -A url hdr
  url[protected]=http://127.0.0.1:$PORT_jwtauth/protected
  url[auth]=http://127.0.0.1:$PORT_jwtauth/auth
  url[bare]=http://127.0.0.1:$PORT_bare/protected
  url[classic2]=http://127.0.0.1:$PORT_classic2/protected
  url[classic1]=http://127.0.0.1:$PORT_classic1/protected
  url[protected_mint]=${url[protected]}
  url[auth_mint]=${url[auth]}
  for c in "${names[@]}"; do
    hdr[$c]="Authorization: Bearer $TOKEN"
  done
  hdr[auth]="Cookie: jwtauth_session=$TOKEN"
  hdr[protected_mint]="Authorization: Bearer $MINT"
  hdr[auth_mint]="Cookie: jwtauth_session=$MINT"
  log "warm-up (1 s each)"
  for c in "${names[@]}"; do
    wrk_run "$W/warm-$c.txt" 1 1 4 "${url[$c]}" -H "${hdr[$c]}"
  done
  for ((i = 0; i < ROUNDS; i++)); do
    for ((j = 0; j < k; j++)); do
      c=${names[(i + j) % k]}
      f=$W/wrk-$c-$((i + 1)).txt
      log "round $((i + 1))/$ROUNDS: GET ${url[$c]} ($c, $SECS s, $THREADS threads, $CONNS connections)"
      wrk_run "$f" "$SECS" "$THREADS" "$CONNS" "${url[$c]}" -H "${hdr[$c]}"
      $TOOL wrk-json "$f" --keep | grep -E '^(rps|p50_ms|p99_ms|errors)=' | tr '\n' ' ' >&2
      echo >&2
    done
  done
  local rc=0
  for c in "${names[@]}"; do
    $TOOL wrk-median "$c" "$W"/wrk-"$c"-*.txt >>"$METRICS" || rc=1
  done
  return $rc
}

section_login() {
  local names=(login classic2_login classic1_login) k=3 i j c f
  local -A url
  url[login]=http://127.0.0.1:$PORT_jwtauth/token
  if [ -n "$ONLY" ]; then
    # BENCH_SERVE_ONLY=refresh: jwtauth's logins only (no classic service).
    names=(login) k=1
  else
    url[classic2_login]=http://127.0.0.1:$PORT_classic2/token
    url[classic1_login]=http://127.0.0.1:$PORT_classic1/token
  fi
  for ((i = 0; i < ROUNDS; i++)); do
    for ((j = 0; j < k; j++)); do
      c=${names[(i + j) % k]}
      f=$W/wrk-$c-$((i + 1)).txt
      local lenient=""
      [ "$c" = login ] || lenient=--lenient
      log "round $((i + 1))/$ROUNDS: POST ${url[$c]} (Basic, cost $COST, $LOGIN_SECS s, $LOGIN_CONNS connections)"
      WRK_METHOD=POST WRK_BASIC=$BASIC wrk_run "$f" "$LOGIN_SECS" 2 "$LOGIN_CONNS" "${url[$c]}"
      $TOOL wrk-json "$f" $lenient --keep | grep -E '^(requests|rps|errors)=' | tr '\n' ' ' >&2
      echo >&2
    done
  done
  local rc=0
  $TOOL wrk-median login "$W"/wrk-login-*.txt >>"$METRICS" || rc=1
  for c in "${names[@]:1}"; do
    $TOOL wrk-median "$c" "$W"/wrk-"$c"-*.txt --lenient >>"$METRICS" || rc=1
  done
  return $rc
}

# POST /token with grant_type=refresh_token on the file and the Redis refresh stores (their
# order rotates each round): REFRESH_CONNS connections, one per wrk thread, each chaining its
# own refresh tokens (bench/wrk/refresh.lua) from one password login done before the run.
# Any answer but 200 breaks a chain and fails the run.
section_refresh() {
  local names=(refresh_file refresh_redis) k=2 i j c f url
  for ((i = 0; i < ROUNDS; i++)); do
    for ((j = 0; j < k; j++)); do
      c=${names[(i + j) % k]}
      local -n port_c=PORT_$c
      url=http://127.0.0.1:$port_c/token
      unset -n port_c
      f=$W/wrk-$c-$((i + 1)).txt
      $TOOL login-tokens "$url" "$BASIC" "$REFRESH_CONNS" "$W/refresh-tokens.txt"
      log "round $((i + 1))/$ROUNDS: POST $url (refresh_token, $SESSIONS live sessions, $SECS s, $REFRESH_CONNS chaining connections)"
      WRK_SCRIPT=$REFRESH_LUA WRK_REFRESH_TOKENS=$W/refresh-tokens.txt \
        wrk_run "$f" "$SECS" "$REFRESH_CONNS" "$REFRESH_CONNS" "$url"
      rm -f "$W/refresh-tokens.txt"
      grep '^refresh chains' "$f" >&2
      $TOOL wrk-json "$f" --keep | grep -E '^(requests|rps|p50_ms|p99_ms|errors)=' | tr '\n' ' ' >&2
      echo >&2
    done
  done
  metric refresh_state_kib $(($(stat -c %s "$REFRESH_STATE") / 1024))
  # The physical login limit (SPEC §7's login row): cores ÷ the CPU time of one hash.
  local hash_cpu
  hash_cpu=$($TOOL hash-cpu "$J" "$COST" 5)
  metric hash_cpu_ms "$(awk -v c="$hash_cpu" 'BEGIN { printf "%.3f", c * 1000 }')"
  metric cores "$(nproc)"
  metric hash_limit_rps "$(awk -v c="$hash_cpu" -v n="$(nproc)" 'BEGIN { printf "%.3f", n / c }')"
  local rc=0
  for c in "${names[@]}"; do
    $TOOL wrk-median "$c" "$W"/wrk-"$c"-*.txt >>"$METRICS" || rc=1
  done
  return $rc
}

# GET /protected on FLOOD_CONNS connections while LOGIN_CONNS others flood POST /token; the
# flood starts first and outlasts the measurement by a second on each side.
section_flood() {
  local names=(flood classic2_flood) i c f port lenient
  for ((i = 0; i < ROUNDS; i++)); do
    for c in "${names[@]}"; do
      if [ "$c" = flood ]; then port=$PORT_jwtauth lenient=""; else port=$PORT_classic2 lenient=--lenient; fi
      f=$W/wrk-$c-$((i + 1)).txt
      log "round $((i + 1))/$ROUNDS: GET :$port/protected ($LOGIN_SECS s) while $LOGIN_CONNS clients flood POST /token"
      WRK_METHOD=POST WRK_BASIC=$BASIC wrk_run "$W/wrk-${c}_login-$((i + 1)).txt" $((LOGIN_SECS + 2)) 1 \
        "$LOGIN_CONNS" "http://127.0.0.1:$port/token" &
      local flood=$!
      sleep 1
      wrk_run "$f" "$LOGIN_SECS" 1 "$FLOOD_CONNS" "http://127.0.0.1:$port/protected" \
        -H "Authorization: Bearer $TOKEN"
      wait "$flood"
      $TOOL wrk-json "$f" $lenient --keep | grep -E '^(rps|p50_ms|p99_ms|errors)=' | tr '\n' ' ' >&2
      echo >&2
    done
  done
  local rc=0
  $TOOL wrk-median flood "$W"/wrk-flood-*.txt >>"$METRICS" || rc=1
  $TOOL wrk-median flood_login "$W"/wrk-flood_login-*.txt >"$W/flood-login.txt" || rc=1
  grep -E '_(rps|errors)=' "$W/flood-login.txt" >>"$METRICS" || true
  $TOOL wrk-median classic2_flood "$W"/wrk-classic2_flood-*.txt --lenient >>"$METRICS" || rc=1
  $TOOL wrk-median classic2_flood_login "$W"/wrk-classic2_flood_login-*.txt --lenient |
    grep _rps= >>"$METRICS" || rc=1
  return $rc
}

# Idle RSS of a fresh jwtauth on the same files, after one request per route (the users
# and revocations it keeps are loaded by then), and of the one that took the load.
section_rss() {
  start fresh "$J" "${J_ARGS[@]}" serve --listen 127.0.0.1:@PORT@
  local base=http://127.0.0.1:$PORT_fresh
  $TOOL http-check 200 GET "$base/protected" "Authorization: Bearer $TOKEN"
  $TOOL http-check 200 GET "$base/auth" "Cookie: jwtauth_session=$TOKEN"
  sleep 1
  local checks
  checks=$($TOOL rss-kib "$PID_fresh")
  $TOOL http-check 200 GET "$base/userinfo" "Authorization: Bearer $TOKEN"
  $TOOL http-check 200 POST "$base/token" "Authorization: Basic $BASIC"
  sleep 1
  local idle after
  idle=$($TOOL rss-kib "$PID_fresh")
  after=$($TOOL rss-kib "$PID_jwtauth")
  kill "$PID_fresh"
  wait "$PID_fresh" || true
  metric checks_rss_kib "$checks"
  metric idle_rss_kib "$idle"
  metric after_rss_kib "$after"
  log "idle RSS: $idle KiB fresh, $after KiB after the load runs"
}

# ---------------------------------------------------------------------------------------------

main() {
  install_peers
  local versions
  versions="$(rustc --version); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); $("$VENV/bin/python" -c 'import sys, fastapi, uvicorn, jose, passlib, bcrypt; print(f"Python {sys.version.split()[0]}, FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__}, python-jose {jose.__version__}, passlib {passlib.__version__}, bcrypt {bcrypt.__version__}")' 2>/dev/null); $(redis-server --version | cut -d' ' -f1-3)"
  rm -rf "$W"
  mkdir -p "$W"
  : >"$METRICS"
  setup

  local failed=() s rc
  for s in "${SECTIONS[@]}"; do
    set +e
    (set -e; "section_$s")
    rc=$?
    set -e
    [ "$rc" = 0 ] || { log "section $s FAILED ($rc)"; failed+=("$s"); }
  done
  metric failed_sections "${failed[*]}"

  local cpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
  {
    echo "## jwtauth serve benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full) run)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); jwtauth $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs, $cpu; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $versions"
    [ "$QUICK" = 1 ] && echo "- QUICK run: a smoke test of the harness; the runs are too short and the files too small for the figures to count"
    echo "- wrk on loopback, keep-alive; GET runs: $THREADS threads, $CONNS connections, $SECS s; login runs and runs under a login flood: $LOGIN_SECS s; $ROUNDS rounds (the order rotates each round), medians; $USERS users, $REVOCATIONS live revocations, $SESSIONS live sessions (seeded; the GET rows' token and cookie from a real \`jwtauth login\`, so they carry a \`sid\`; the \`mint\` rows' without); refresh runs: $SECS s, $REFRESH_CONNS connections each chaining its own refresh tokens, on a state of $SESSIONS seeded live sessions (file, and Redis with AOF everysec), users in the users file; every server writes its default request log to /dev/null; ≥: the classic service completed nothing (or timed out, after 10 s) in some run, so its latency is at least that"
  } >"$W/header.md"
  local strict=()
  [ "$STRICT" = 1 ] && strict=(--strict)
  [ -z "$ONLY" ] || strict+=(--only "$ONLY")
  echo
  $TOOL serve-report "$METRICS" "$W/header.md" "$OUTDIR/serve-results.md" "${strict[@]}"
  [ ${#failed[@]} -eq 0 ] || exit 1
}

main
