#!/usr/bin/env bash
# Login timing: unknown user vs wrong password vs disabled user must take the same time
# (SPEC §6). Release build, RUNS runs each (default 30), interleaved so that machine load hits
# all three alike. Prints the medians and their ratio; exits 1 if the slowest median is more
# than 10% above the fastest. Uses hyperfine when installed.
# COMMAND is `login` (default) or `check` (`user check`, htpasswd -v, the same core path).
# SCHEME is the configured scheme (SPEC §11), of the users' hashes and of the unknown user's
# dummy hash: `bcrypt` (default; config bcrypt_cost = 10) or `argon2id` (config
# password_scheme = "argon2id", OWASP's m=19456 KiB, t=2, p=1).
# Usage: bench/timing.sh [RUNS] [COMMAND] [SCHEME]
#        (TIMING_NO_HYPERFINE=1 forces the built-in timer)
# On a loaded machine, bench/login_timing.py (interleaved, with CPU times) is the steadier.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
case "${2:-login}" in
  login) verb="login" ;;
  check) verb="user check" ;;
  *) echo "COMMAND must be login or check" >&2; exit 2 ;;
esac
case "${3:-bcrypt}" in
  bcrypt) config='bcrypt_cost = 10'; scheme="bcrypt cost 10" ;;
  argon2id) config='password_scheme = "argon2id"'; scheme="argon2id m=19456,t=2,p=1" ;;
  *) echo "SCHEME must be bcrypt or argon2id" >&2; exit 2 ;;
esac
cargo build --release --quiet
bin="$PWD/target/release/jwtauth"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HOME="$work" XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
unset JWT_SECRET_KEY JWTAUTH_USERS JWTAUTH_STATE JWTAUTH_KEY_FILE JWTAUTH_CONFIG
mkdir -p "$work/config/jwtauth"
echo "$config" > "$work/config/jwtauth/config.toml"
"$bin" -q init
# The users' hashes are of the configured scheme and cost, as every hash is once its user has
# logged in (rehash on login).
echo right-password | "$bin" -q user add alice --password-stdin
echo right-password | "$bin" -q user add dora --password-stdin
"$bin" -q user disable dora
echo wrong-password > "$work/wrong"
echo right-password > "$work/right"

declare -A cmd=(
  [unknown]="$bin $verb nobody --password-stdin < $work/right"
  [wrong]="$bin $verb alice --password-stdin < $work/wrong"
  [disabled]="$bin $verb dora --password-stdin < $work/right"
)
# Each case must be refused with exit 5, or the comparison is meaningless.
for c in unknown wrong disabled; do
  set +e; sh -c "${cmd[$c]}" >/dev/null 2>&1; rc=$?; set -e
  [ "$rc" -eq 5 ] || { echo "$c: expected exit 5, got $rc" >&2; exit 1; }
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

if [ -z "${TIMING_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null 2>&1; then
  hyperfine -N --warmup 3 --runs "$runs" -i --export-json "$work/h.json" \
    -n unknown "sh -c '${cmd[unknown]}'" -n wrong "sh -c '${cmd[wrong]}'" \
    -n disabled "sh -c '${cmd[disabled]}'" >/dev/null
  for c in unknown wrong disabled; do
    python3 -c "import json,sys; r={x['command']:x for x in json.load(open('$work/h.json'))['results']}; print(r['$c']['median']*1000)" > "$work/$c.median"
  done
else
  for c in unknown wrong disabled; do sh -c "${cmd[$c]}" >/dev/null 2>&1 || true; done # warm-up
  for _ in $(seq "$runs"); do
    for c in unknown wrong disabled; do
      s=$(date +%s%N)
      sh -c "${cmd[$c]}" >/dev/null 2>&1 || true
      e=$(date +%s%N)
      echo "scale=3; ($e - $s) / 1000000" | bc >> "$work/$c.ms"
    done
  done
  for c in unknown wrong disabled; do median < "$work/$c.ms" > "$work/$c.median"; done
fi

u=$(cat "$work/unknown.median"); w=$(cat "$work/wrong.median"); d=$(cat "$work/disabled.median")
printf '%s, %s, %s runs each (median ms)\n' "$verb" "$scheme" "$runs"
printf '  unknown user    %8.2f\n  wrong password  %8.2f\n  disabled user   %8.2f\n' "$u" "$w" "$d"
python3 - "$u" "$w" "$d" <<'PY'
import sys
v = [float(x) for x in sys.argv[1:]]
ratio = max(v) / min(v)
print(f"  max/min ratio   {ratio:8.3f}  ({'ok' if ratio <= 1.10 else 'FAIL'}: must be <= 1.10)")
sys.exit(0 if ratio <= 1.10 else 1)
PY
