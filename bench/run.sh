#!/usr/bin/env bash
# jwtauth benchmark (SPEC §7, issue 6): jwtauth against its peers, side by side in one run.
#
#   bench/run.sh            full run (1,000,000 tokens in the batch test, many repetitions)
#   bench/run.sh --quick    small N and few runs, for CI (.ci/run.d/bench-quick.sh)
#   bench/run.sh --strict   also exit 3 when a SPEC target is missed (combinable with --quick)
#
# Then it runs bench/serve.sh (the `serve` rows: jwtauth serve against the classic FastAPI
# service and a bare axum handler, with wrk) on the same jwtauth binary, with the same --quick
# and --strict; `bench/serve.sh` alone runs only those.
#
# Environment overrides: BENCH_N (batch tokens), BENCH_ROUNDS, BENCH_PROC_RUNS (hyperfine runs
# per round for one-process commands), BENCH_BCRYPT_RUNS, BENCH_ARGON2_RUNS, BENCH_PYJWT_MAX (tokens PyJWT
# decodes; its rate is per token), BENCH_PEERS (peer cache dir, default target/bench-peers),
# BENCH_JWTAUTH (bench this jwtauth binary instead of building target/release/jwtauth) and
# BENCH_JWTAUTH_STATIC (the same for the static build; without it, no static rows when
# BENCH_JWTAUTH is set).
#
# Works on a fresh clone: installs its peers itself. Debian packages hyperfine, time
# (/usr/bin/time) and apache2-utils (htpasswd) via apt-get when missing (as root, else sudo);
# jwt-cli with `cargo install --locked` into target/bench-peers/jwt-cli; PyJWT in a venv at
# target/bench-peers/venv (with argon2-cffi); the bare jsonwebtoken loop (bench/jwtdecode, its
# own Cargo project) built into target/bench-peers/jwtdecode-target, and jwtauth's argon2id
# hashing in a loop (bench/argon2loop, the same) into target/bench-peers/argon2loop-target. Peers are cached, so reruns are fast.
# jwtauth itself is built twice, as README "Quick start" installs it: the default build
# (`cargo build --release`, a plain host build, dynamically linked like jwt-cli) into
# target/release, and on Linux x86_64 also the static opt-in (RUSTFLAGS crt-static with
# `--target x86_64-unknown-linux-gnu`) into its own target dir, target/bench-static. The
# one-process rows of SPEC §7 compare both with jwt-cli in the same rounds; every other row
# uses the default build.
#
# Prints a Markdown table (work | jwtauth | peer | ratio | target | met?) and writes it to
# target/bench/results.md; scratch files go to target/bench/work (recreated on every run).
# Times are medians. The one-process comparisons run in rounds that rotate which command goes
# first (jwtauth, jwt-cli, static jwtauth; then jwt-cli first; …) so that load from other
# processes on the machine hits every side.
# Exit status: 0 when every section ran (targets missed are reported, not fatal, unless
# --strict), 1 when a section failed to run.
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
    *) echo "bench/run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  N=${BENCH_N:-20000}
  ROUNDS=${BENCH_ROUNDS:-2}
  PROC_RUNS=${BENCH_PROC_RUNS:-15}
  BCRYPT_RUNS=${BENCH_BCRYPT_RUNS:-2}
  ARGON2_RUNS=${BENCH_ARGON2_RUNS:-20}
  PYJWT_MAX=${BENCH_PYJWT_MAX:-5000}
  BATCH_RUNS=1
else
  N=${BENCH_N:-1000000}
  ROUNDS=${BENCH_ROUNDS:-6}
  PROC_RUNS=${BENCH_PROC_RUNS:-100}
  BCRYPT_RUNS=${BENCH_BCRYPT_RUNS:-5}
  ARGON2_RUNS=${BENCH_ARGON2_RUNS:-50}
  PYJWT_MAX=${BENCH_PYJWT_MAX:-200000}
  BATCH_RUNS=3
fi
[ "$PYJWT_MAX" -gt "$N" ] && PYJWT_MAX=$N
SMALL_N=$((N / 10))
REVOCATIONS=100000
SESSIONS=100000
USERS=100000

PEERS=${BENCH_PEERS:-$ROOT/target/bench-peers}
OUTDIR=$ROOT/target/bench
W=$OUTDIR/work
METRICS=$W/metrics.txt
TOOL="python3 $ROOT/bench/tool.py"

log() { printf '== %s\n' "$*" >&2; }
metric() { printf '%s=%s\n' "$1" "$2" >>"$METRICS"; }

# ---------------------------------------------------------------------------------------------
# Peers

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

install_peers() {
  local missing=()
  command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
  [ -x /usr/bin/time ] || missing+=(time)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

  mkdir -p "$PEERS"
  JWT=$PEERS/jwt-cli/bin/jwt
  if [ ! -x "$JWT" ]; then
    log "cargo install jwt-cli (cached in $PEERS/jwt-cli)"
    # From outside the repository, so that no configuration of ours applies: the peer is
    # measured as its users install it.
    (cd / && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo install jwt-cli --locked --quiet --root "$PEERS/jwt-cli")
  fi

  log "building the bare jsonwebtoken loop (bench/jwtdecode)"
  (cd / && cargo build --release --locked --quiet --manifest-path "$ROOT/bench/jwtdecode/Cargo.toml" \
    --target-dir "$PEERS/jwtdecode-target")
  BARE=$PEERS/jwtdecode-target/release/jwtdecode

  log "building jwtauth's argon2id hashing in a loop (bench/argon2loop)"
  (cd / && cargo build --release --locked --quiet --manifest-path "$ROOT/bench/argon2loop/Cargo.toml" \
    --target-dir "$PEERS/argon2loop-target")
  ARGON2LOOP=$PEERS/argon2loop-target/release/argon2loop

  VENV=$PEERS/venv
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import jwt, argon2' 2>/dev/null; then
    log "creating the PyJWT and argon2-cffi venv ($VENV)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check pyjwt argon2-cffi
  fi
  PY=$VENV/bin/python

  JS=""
  if [ -n "${BENCH_JWTAUTH:-}" ]; then
    J=$(realpath "$BENCH_JWTAUTH")
    log "using $J (BENCH_JWTAUTH), not building"
    if [ -n "${BENCH_JWTAUTH_STATIC:-}" ]; then
      JS=$(realpath "$BENCH_JWTAUTH_STATIC")
      log "using $JS (BENCH_JWTAUTH_STATIC), not building"
    fi
  else
    log "cargo build --release (jwtauth, default build)"
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo build --release --locked --quiet
    J=$ROOT/target/release/jwtauth
    if [ "$(uname -sm)" = "Linux x86_64" ]; then
      log "cargo build --release, static opt-in (jwtauth, into target/bench-static)"
      RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --quiet \
        --target x86_64-unknown-linux-gnu --target-dir "$ROOT/target/bench-static"
      JS=$ROOT/target/bench-static/x86_64-unknown-linux-gnu/release/jwtauth
    else
      log "not Linux x86_64: no static opt-in build, its rows are n/a"
    fi
  fi
  # The SPEC rows compare a dynamically linked jwtauth and jwt-cli, and a static jwtauth.
  linkage "$JWT" dynamic
  linkage "$J" dynamic
  [ -z "$JS" ] || linkage "$JS" static
}

# linkage BINARY dynamic|static: fails unless the binary is linked that way (ELF only;
# elsewhere, e.g. macOS, everything is dynamic and nothing is checked).
linkage() {
  local what
  what=$(file -L "$1")
  case $what in
    *ELF*) ;;
    *) return 0 ;;
  esac
  if [[ $what == *"statically linked"* || $what == *"static-pie linked"* ]]; then
    [ "$2" = static ] && return 0
  else
    [ "$2" = dynamic ] && return 0
  fi
  echo "$1 is not $2ally linked: $what" >&2
  return 1
}

# ---------------------------------------------------------------------------------------------
# Measuring

# hf_rounds NAME CMD_A CMD_B [CMD_C] -- [hyperfine options...]: ROUNDS rounds of hyperfine
# with the commands, rotating which goes first (A B C, B C A, C A B, …); sets MED_A, MED_B, …
# (median ms over all runs) and CPU_A, CPU_B, … (median over the rounds of the mean
# user+system ms).
hf_rounds() {
  local name=$1
  shift
  local cmds=() names=(A B C)
  while [ "$1" != -- ]; do
    cmds+=("$1")
    shift
  done
  shift
  local k=${#cmds[@]} files=() i j c
  for ((i = 0; i < ROUNDS; i++)); do
    local f=$W/hf-$name-$((i + 1)).json order=()
    for ((j = 0; j < k; j++)); do
      c=$(((i + j) % k))
      order+=(-n "${names[c]}" "${cmds[c]}")
    done
    hyperfine --style basic --export-json "$f" "$@" "${order[@]}" >&2
    files+=("$f")
  done
  for ((j = 0; j < k; j++)); do
    c=${names[j]}
    declare -g "MED_$c=$($TOOL hf-median "$c" "${files[@]}" | awk '{printf "%.4f", $1 * 1000}')"
    declare -g "CPU_$c=$($TOOL hf-cpu "$c" "${files[@]}" | awk '{printf "%.4f", $1 * 1000}')"
  done
}

# hf_one NAME CMD [hyperfine options...]: median ms of one command into MED.
hf_one() {
  local name=$1 cmd=$2
  shift 2
  hyperfine --style basic --export-json "$W/hf-$name.json" "$@" -n A "$cmd" >&2
  MED=$($TOOL hf-median A "$W/hf-$name.json" | awk '{printf "%.4f", $1 * 1000}')
}

# rss_kib CMD...: median peak RSS (KiB) of 5 runs, output discarded.
rss_kib() {
  local vals=() i
  for i in 1 2 3 4 5; do
    /usr/bin/time -f %M -o "$W/rss.txt" "$@" >/dev/null
    vals+=("$(tail -n 1 "$W/rss.txt")")
  done
  $TOOL median "${vals[@]}" | awk '{printf "%d", $1}'
}

# ---------------------------------------------------------------------------------------------
# Sections

setup() {
  # A private HOME, so no default key, users or state file of the machine is touched.
  export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
  unset JWT_SECRET_KEY JWTAUTH_KEY_FILE JWTAUTH_USERS JWTAUTH_STATE || true
  mkdir -p "$HOME"
  KEY=$W/secret
  "$J" -q --key "$KEY" init
  # jwt-cli reads `@file` as raw bytes: give it the same key without the trailing newline.
  head -c "$(($(wc -c <"$KEY") - 1))" "$KEY" >"$W/secret.raw"
  EMPTY=$W/empty-state.json # missing: reads as empty
  STATE=$W/state-100k.json
  TOKENS=$W/tokens.txt
  STATE_SID=$W/state-100k-sessions.json
  TOKENS_SID=$W/tokens-sid.txt
  printf 'correct horse battery staple\n' >"$W/pw.txt"
  TOKEN=$("$J" --key "$KEY" --state "$EMPTY" mint --sub x --ttl 1d)
  # The peers must accept the same token with the same key, or the comparison is void.
  "$J" --key "$KEY" --state "$EMPTY" verify "$TOKEN" >/dev/null
  "$JWT" decode -S "@$W/secret.raw" "$TOKEN" >/dev/null
  printf 'not the key' >"$W/wrong.raw"
  if "$JWT" decode -S "@$W/wrong.raw" "$TOKEN" >/dev/null 2>&1; then
    echo "jwt decode -S does not check the signature: the verify comparison is void" >&2
    return 1
  fi
  "$JWT" decode "$TOKEN" >/dev/null
  "$JWT" encode -S "@$W/secret.raw" '{"sub":"x"}' >/dev/null
  "$J" decode "$TOKEN" >/dev/null
  if [ -n "$JS" ]; then
    [ "$("$JS" --key "$KEY" --state "$EMPTY" verify "$TOKEN")" = x ]
    "$JS" decode "$TOKEN" >/dev/null
  fi
}

q() { printf '%q ' "$@"; }

# link_desc BINARY: "dynamically linked" / "static-pie linked" / …, as file(1) says.
link_desc() { file -L "$1" | grep -o '[a-z-]* linked' | head -n 1 || echo '?'; }

section_process() {
  local jd=("$J" decode "$TOKEN") pd=("$JWT" decode "$TOKEN")
  local jv=("$J" --key "$KEY" --state "$EMPTY" verify "$TOKEN")
  local pv=("$JWT" decode -S "@$W/secret.raw" "$TOKEN")
  local jm=("$J" --key "$KEY" --state "$EMPTY" mint --sub x)
  local pm=("$JWT" encode -S "@$W/secret.raw" '{"sub":"x"}')
  local w
  for w in decode verify mint; do
    local -n jc=j${w:0:1} pc=p${w:0:1}
    # The static build runs the same arguments.
    local sc=("$JS" "${jc[@]:1}") cmds=("$(q "${jc[@]}")" "$(q "${pc[@]}")")
    [ -z "$JS" ] || cmds+=("$(q "${sc[@]}")")
    log "one $w process: jwtauth (default build${JS:+, static opt-in}) vs jwt-cli"
    hf_rounds "$w" "${cmds[@]}" -- -N -w 10 -r "$PROC_RUNS"
    metric "${w}_ms" "$MED_A"
    metric "${w}_peer_ms" "$MED_B"
    metric "${w}_cpu_ms" "$CPU_A"
    metric "${w}_peer_cpu_ms" "$CPU_B"
    metric "${w}_rss_kib" "$(rss_kib "${jc[@]}")"
    metric "${w}_peer_rss_kib" "$(rss_kib "${pc[@]}")"
    if [ -n "$JS" ]; then
      metric "${w}_static_ms" "$MED_C"
      metric "${w}_static_cpu_ms" "$CPU_C"
      metric "${w}_static_rss_kib" "$(rss_kib "${sc[@]}")"
    fi
    unset -n jc pc
  done
}

section_state() {
  log "generating $REVOCATIONS live revocations and $N tokens"
  $TOOL gen-state "$STATE" "$REVOCATIONS"
  # Let jwtauth rewrite the file in whatever layout it keeps (nothing expires here), and
  # revoke one token of its own so the checks below prove the list is consulted.
  "$J" -q --state "$STATE" revocations prune >/dev/null
  local revoked rc=0
  revoked=$("$J" --key "$KEY" --state "$EMPTY" mint --sub revoked-one)
  "$J" -q --key "$KEY" --state "$STATE" logout "$revoked"
  "$J" --key "$KEY" --state "$STATE" verify "$revoked" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || { echo "verify of a revoked token: exit $rc, not 4" >&2; return 1; }
  printf '%s\n%s\n' "$TOKEN" "$revoked" >"$W/mixed.txt"
  "$BARE" mint "$N" "$KEY" "$TOKENS"
  head -n "$SMALL_N" "$TOKENS" >"$W/tokens-small.txt"
  [ "$(sort -u "$TOKENS" | wc -l)" = "$N" ] || { echo "tokens are not distinct" >&2; return 1; }

  # Sessions (SPEC §13): the same revocations plus SESSIONS live sessions written directly,
  # and N tokens that carry the sid (and sub) of one of them each, as sign-ins issue them.
  log "generating $REVOCATIONS live revocations, $SESSIONS live sessions and $N tokens with a sid"
  $TOOL gen-state "$STATE_SID" "$REVOCATIONS" --sessions "$SESSIONS" --sub 'user{}' \
    --sids "$W/sids.txt"
  "$J" -q --state "$STATE_SID" revocations prune >/dev/null
  "$BARE" mint "$N" "$KEY" "$TOKENS_SID" "$W/sids.txt"
  [ "$(sort -u "$TOKENS_SID" | wc -l)" = "$N" ] || { echo "tokens are not distinct" >&2; return 1; }
}

section_batch() {
  local vcmd=("$J" --key "$KEY" --state "$STATE" verify -)
  log "verify - over $N tokens: correctness and peak RSS"
  /usr/bin/time -f %M -o "$W/rss.txt" "${vcmd[@]}" <"$TOKENS" >"$W/batch-out.txt"
  local ok
  ok=$(grep -c '^ok user' "$W/batch-out.txt" || true)
  [ "$ok" = "$N" ] || { echo "verify - said ok to $ok of $N tokens" >&2; return 1; }
  metric batch_rss_kib "$(tail -n 1 "$W/rss.txt")"
  /usr/bin/time -f %M -o "$W/rss.txt" "${vcmd[@]}" <"$W/tokens-small.txt" >/dev/null
  metric batch_small_rss_kib "$(tail -n 1 "$W/rss.txt")"
  local mixed
  mixed=$("${vcmd[@]}" <"$W/mixed.txt" 2>/dev/null || true)
  [[ $mixed == "ok x"$'\n'"error 4 "* ]] || {
    echo "verify - does not see the revocation list: $mixed" >&2
    return 1
  }
  metric batch_n "$N"
  metric batch_small_n "$SMALL_N"
  metric revocations "$REVOCATIONS"

  log "verify - throughput vs the bare jsonwebtoken loop ($BATCH_RUNS runs each, alternating)"
  local jt=() bt=() bv=() i s e
  for ((i = 1; i <= BATCH_RUNS; i++)); do
    s=$(date +%s.%N)
    "${vcmd[@]}" <"$TOKENS" >/dev/null
    e=$(date +%s.%N)
    jt+=("$(awk -v n="$N" -v s="$s" -v e="$e" 'BEGIN { printf "%.0f", n / (e - s) }')")
    bt+=("$("$BARE" decode "$TOKENS" "$KEY" struct | sed 's/.*tokens_per_s=//')")
    bv+=("$("$BARE" decode "$TOKENS" "$KEY" value | sed 's/.*tokens_per_s=//')")
    echo "run $i: jwtauth ${jt[-1]} tok/s, bare loop ${bt[-1]} tok/s (Value: ${bv[-1]})" >&2
  done
  metric batch_tps "$($TOOL median "${jt[@]}")"
  metric bare_tps "$($TOOL median "${bt[@]}")"
  metric bare_value_tps "$($TOOL median "${bv[@]}")"

  log "PyJWT over $PYJWT_MAX of the tokens"
  local py
  py=$("$PY" "$ROOT/bench/pyjwt_decode.py" "$TOKENS" "$KEY" "$PYJWT_MAX")
  echo "$py" >&2
  metric pyjwt_tps "${py##*tokens_per_s=}"
  metric pyjwt_n "$PYJWT_MAX"
}

# `verify -` once tokens carry a sid (SPEC §7): every token's session is looked up and judged.
section_batch_sid() {
  local vcmd=("$J" --key "$KEY" --state "$STATE_SID" verify -)
  log "verify - over $N tokens with a sid, $SESSIONS live sessions: correctness"
  "${vcmd[@]}" <"$TOKENS_SID" >"$W/batch-sid-out.txt"
  local ok
  ok=$(grep -c '^ok user' "$W/batch-sid-out.txt" || true)
  [ "$ok" = "$N" ] || { echo "verify - said ok to $ok of $N tokens with a sid" >&2; return 1; }
  # The sessions are consulted: end the session of the first token (a logout ends the session
  # of its token) in a copy of the state; that token and every other one of its session are
  # then refused, and a token of another session is not.
  local copy=$W/state-sid-ended.json first other mixed
  cp "$STATE_SID" "$copy"
  first=$(head -n 1 "$TOKENS_SID")
  other=$(sed -n 2p "$TOKENS_SID")
  "$J" -q --key "$KEY" --state "$copy" logout "$first"
  local lines=("$other" "$first") want="ok user*"$'\n'"error 4 *"
  # Another token of the same session, when N is larger than the number of sessions.
  if [ "$N" -gt "$SESSIONS" ]; then
    lines+=("$(sed -n "$((SESSIONS + 1))p" "$TOKENS_SID")")
    want+=$'\n'"error 4 *"
  fi
  mixed=$(printf '%s\n' "${lines[@]}" | "$J" --key "$KEY" --state "$copy" verify - 2>/dev/null || true)
  # shellcheck disable=SC2053 # $want is a pattern
  [[ $mixed == $want ]] || {
    echo "verify - does not see an ended session: $mixed" >&2
    return 1
  }
  metric sessions "$SESSIONS"

  log "verify - (tokens with a sid) throughput vs the bare jsonwebtoken loop ($BATCH_RUNS runs each, alternating)"
  local jt=() bt=() i s e
  for ((i = 1; i <= BATCH_RUNS; i++)); do
    s=$(date +%s.%N)
    "${vcmd[@]}" <"$TOKENS_SID" >/dev/null
    e=$(date +%s.%N)
    jt+=("$(awk -v n="$N" -v s="$s" -v e="$e" 'BEGIN { printf "%.0f", n / (e - s) }')")
    bt+=("$("$BARE" decode "$TOKENS_SID" "$KEY" struct | sed 's/.*tokens_per_s=//')")
    echo "run $i: jwtauth ${jt[-1]} tok/s, bare loop ${bt[-1]} tok/s" >&2
  done
  metric batch_sid_tps "$($TOOL median "${jt[@]}")"
  metric bare_sid_tps "$($TOOL median "${bt[@]}")"
}

section_single_verify() {
  log "one verify process with $REVOCATIONS live revocations"
  local a=("$J" --key "$KEY" --state "$STATE" verify "$TOKEN")
  "${a[@]}" >/dev/null # fail here, with jwtauth's message, if it fails
  hf_rounds verify-revs "$(q "${a[@]}")" "$(q "$J" --key "$KEY" --state "$EMPTY" verify "$TOKEN")" \
    -- -N -w 5 -r "$PROC_RUNS"
  metric verify_revs_ms "$MED_A"
  metric verify_norevs_ms "$MED_B"
  metric verify_revs_cpu_ms "$CPU_A"
  metric verify_norevs_cpu_ms "$CPU_B"
}

section_hash() {
  log "hash --cost 12 vs htpasswd -B -C 12 (both read the password from stdin)"
  local pw
  pw=$(q "$W/pw.txt")
  hf_rounds hash "$(q "$J") hash --cost 12 --password-stdin <$pw" \
    "htpasswd -nBi -C 12 user <$pw" -- -w 1 -r "$BCRYPT_RUNS"
  metric hash_ms "$MED_A"
  metric htpasswd_ms "$MED_B"
  metric hash_cpu_ms "$CPU_A"
  metric htpasswd_cpu_ms "$CPU_B"
}

section_argon2() {
  # SPEC §7: `hash --scheme argon2id` (m=19456, t=2, p=1) against argon2-cffi, the C reference
  # implementation, for the same parameters. The row compares the hashing in process, both
  # sides warm, one hash at a time, alternating: jwtauth's (bench/argon2loop: the argon2 crate
  # at jwtauth's locked version and features, called as `passwords::hash` calls it, jwtauth's
  # release profile) and argon2-cffi's (bench/argon2_cffi.py around `PasswordHasher.hash`).
  # The process times are reported beside them: `jwtauth hash --scheme argon2id` (which also
  # maps and faults in m KiB afresh, ~5,000 page faults) and a `python -c` hashing one password.
  log "hash --scheme argon2id (m=19456, t=2, p=1) vs argon2-cffi"
  local pw
  pw=$(q "$W/pw.txt")
  # Each must succeed once, failing here with its own message if it does not.
  "$J" hash --scheme argon2id --password-stdin <"$W/pw.txt" | grep -q '^\$argon2id\$v=19\$m=19456,t=2,p=1\$'
  local cffi="import argon2, sys; argon2.PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1).hash(sys.stdin.readline().rstrip())"
  "$PY" -c "$cffi" <"$W/pw.txt"
  # Wall clock and CPU time per hash; on a loaded machine the CPU time is the steadier.
  local r j c jw=() jc=() cw=() cc=()
  for ((r = 0; r < ROUNDS * 2; r++)); do
    read -r j c < <("$ARGON2LOOP" 19456 2 1 "$ARGON2_RUNS")
    jw+=("$j")
    jc+=("$c")
    read -r j c < <("$PY" "$ROOT/bench/argon2_cffi.py" 19456 2 1 "$ARGON2_RUNS")
    cw+=("$j")
    cc+=("$c")
    echo "round $((r + 1)): jwtauth's argon2id ${jw[-1]} ms (CPU ${jc[-1]}), argon2-cffi ${cw[-1]} ms (CPU ${cc[-1]})" >&2
  done
  metric argon2_ms "$($TOOL median "${jw[@]}")"
  metric argon2_cffi_ms "$($TOOL median "${cw[@]}")"
  [ "${jc[0]}" = - ] || metric argon2_cpu_ms "$($TOOL median "${jc[@]}")"
  metric argon2_cffi_cpu_ms "$($TOOL median "${cc[@]}")"
  hf_rounds argon2 "$(q "$J") hash --scheme argon2id --password-stdin <$pw" \
    "$(q "$PY" -c "$cffi") <$pw" -- -w 2 -r "$ARGON2_RUNS"
  metric argon2_proc_ms "$MED_A"
  metric argon2_cffi_proc_ms "$MED_B"
  metric argon2_proc_cpu_ms "$CPU_A"
  metric argon2_cffi_proc_cpu_ms "$CPU_B"
}

section_users() {
  log "users file with $USERS users"
  local filler hash12 pristine=$W/users-pristine.json users=$W/users.json
  filler=$("$J" hash --cost 4 --password-stdin <"$W/pw.txt")
  hash12=$("$J" hash --cost 12 --password-stdin <"$W/pw.txt")
  $TOOL gen-users "$pristine" $((USERS - 1)) "$filler"
  # The measured user goes in through jwtauth, which also writes the file in its own layout.
  "$J" -q --users "$pristine" user add bench --hash "$hash12" --full-name 'Bench User'
  metric users_n "$USERS"
  cp "$pristine" "$users"
  local pw login check add
  pw=$(q "$W/pw.txt")
  login="$(q "$J" --users "$users" --key "$KEY" --state "$EMPTY" login bench --password-stdin) <$pw"
  check="$(q "$J" hash --check "$hash12" --password-stdin) <$pw"
  add="$(q "$J" --users "$users" user add newuser --cost 12 --password-stdin) <$pw"
  # Each must succeed once, failing here with jwtauth's own message if it does not.
  sh -c "$login" >/dev/null
  sh -c "$check"
  sh -c "$add"
  cp "$pristine" "$users"

  log "login ($USERS users) vs the bcrypt work alone (hash --check, cost 12)"
  hf_rounds login "$login" "$check" -- -w 1 -r "$BCRYPT_RUNS"
  metric login_ms "$MED_A"
  local check_ms=$MED_B
  log "user add ($USERS users) vs the bcrypt work alone"
  hf_rounds user-add "$add" "$check" -- -w 1 -r "$BCRYPT_RUNS" \
    --prepare "$(q cp "$pristine" "$users")"
  metric user_add_ms "$MED_A"
  metric check_ms "$($TOOL median "$check_ms" "$MED_B")"
}

# ---------------------------------------------------------------------------------------------

main() {
  install_peers
  local home=$HOME
  # Before setup() points HOME elsewhere (rustup finds its toolchains through HOME).
  local versions
  versions="$(rustc --version); $(hyperfine --version); $("$JWT" --version); PyJWT $("$PY" -c 'import jwt; print(jwt.__version__)'); argon2-cffi $("$PY" -c 'import importlib.metadata as m; print(m.version("argon2-cffi"))'); htpasswd (apache2-utils $(dpkg-query -W -f '${Version}' apache2-utils 2>/dev/null || echo '?'))"
  rm -rf "$W"
  mkdir -p "$W"
  : >"$METRICS"
  setup

  local failed=() s rc
  for s in process state batch batch_sid single_verify hash argon2 users; do
    # batch, batch_sid and single_verify need the generated state and tokens.
    if [[ $s == batch* || $s == single_verify ]] && [[ " ${failed[*]} " == *" state "* ]]; then
      failed+=("$s")
      continue
    fi
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
    echo "## jwtauth benchmark ($([ "$QUICK" = 1 ] && echo quick || echo full) run)"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); jwtauth $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "- machine: $(nproc) CPUs, $cpu; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- jwtauth default build: \`cargo build --release\`, $(link_desc "$J"); static opt-in: $([ -n "$JS" ] && echo "\`RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu\`, $(link_desc "$JS")" || echo "not built (not Linux x86_64)"); jwt-cli: $(link_desc "$JWT")"
    echo "- $versions"
    [ "$QUICK" = 1 ] && echo "- QUICK run: a smoke test of the harness. N and the run counts are too small for the figures to count (the batch rate here includes loading the state once)"
    echo "- medians; one-process times over $ROUNDS rounds of $PROC_RUNS runs (hyperfine -N; the order of the commands rotates each round), bcrypt work $ROUNDS × $BCRYPT_RUNS runs; batch throughput over $BATCH_RUNS runs"
  } >"$W/header.md"
  local strict=()
  [ "$STRICT" = 1 ] && strict=(--strict)
  echo
  local report_rc=0
  $TOOL report "$METRICS" "$W/header.md" "$OUTDIR/results.md" "${strict[@]}" || report_rc=$?

  # The `serve` rows (bench/serve.sh: its own peers, its own table), on the same binary.
  local quick=() serve_rc=0
  [ "$QUICK" = 1 ] && quick=(--quick)
  log "bench/serve.sh ${quick[*]} ${strict[*]}"
  HOME=$home BENCH_JWTAUTH=$J "$ROOT/bench/serve.sh" "${quick[@]}" "${strict[@]}" || serve_rc=$?
  [ ${#failed[@]} -eq 0 ] || exit 1
  [ "$serve_rc" = 0 ] || exit "$serve_rc"
  exit "$report_rc"
}

main
