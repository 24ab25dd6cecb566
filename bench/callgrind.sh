#!/usr/bin/env bash
# Instructions per request of `jwtauth serve` (or the bare axum handler) under callgrind:
# two runs of the same server, one with WARM requests and one with WARM + N, on the bench's
# files (100,000 live revocations; the token's subject has a revocation mark from before it
# was issued, so both lookups find an entry); (total₂ − total₁) / N is the steady-state cost
# of one request, start-up and the first requests excluded. Stable under load, unlike req/s.
# valgrind does not report the CPU's SHA extensions, so SHA-256 runs in software here and
# weighs more than on the machine.
#
#   bench/callgrind.sh [BINARY] [protected|auth|bare]   (default target/release/jwtauth protected)
# Environment: N (2000), WARM (200), REVOCATIONS (100000), KEEP=1 keeps the callgrind files.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
J=${1:-$ROOT/target/release/jwtauth}
WHAT=${2:-protected}
N=${N:-2000} WARM=${WARM:-200} REVOCATIONS=${REVOCATIONS:-100000}
W=$ROOT/target/bench/callgrind
TOOL="python3 $ROOT/bench/tool.py"
mkdir -p "$W"
export HOME=$W/home XDG_CONFIG_HOME=$W/home/.config XDG_DATA_HOME=$W/home/.local/share
unset JWT_SECRET_KEY JWTAUTH_KEY_FILE JWTAUTH_USERS JWTAUTH_STATE JWTAUTH_CONFIG || true
mkdir -p "$HOME"
KEY=$W/secret USERS_FILE=$W/users.json STATE=$W/revocations.json
if [ ! -s "$W/token" ]; then
  "$J" -q --key "$KEY" init
  $TOOL gen-users "$USERS_FILE" 999 "$(printf 'pw\n' | "$J" hash --cost 4 --password-stdin)"
  printf 'pw\n' | "$J" -q --users "$USERS_FILE" user add user1 --password-stdin
  $TOOL gen-state "$STATE" "$REVOCATIONS"
  "$J" -q --state "$STATE" revocations prune
  "$J" --users "$USERS_FILE" --state "$STATE" --key "$KEY" mint --sub user1 --ttl 30d >"$W/token"
fi
TOKEN=$(cat "$W/token")
case $WHAT in
  protected) path=/protected header="Authorization: Bearer $TOKEN" ;;
  auth) path=/auth header="Cookie: jwtauth_session=$TOKEN" ;;
  bare) path=/protected header="Authorization: Bearer $TOKEN" ;;
  *) echo "bench/callgrind.sh: protected, auth or bare" >&2; exit 2 ;;
esac

run() { # run COUNT -> prints the total instructions of the server process
  local count=$1 port out=$W/callgrind.$WHAT.$1 pid
  port=$($TOOL free-port)
  if [ "$WHAT" = bare ]; then
    valgrind --tool=callgrind --callgrind-out-file="$out" "$J" "127.0.0.1:$port" >/dev/null 2>&1 &
  else
    valgrind --tool=callgrind --callgrind-out-file="$out" "$J" --users "$USERS_FILE" \
      --state "$STATE" --key "$KEY" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  fi
  pid=$!
  $TOOL wait-http "http://127.0.0.1:$port/" 120
  python3 - "$port" "$path" "$header" "$count" <<'PY'
import http.client, sys
port, path, header, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
name, value = header.split(": ", 1)
c = http.client.HTTPConnection("127.0.0.1", int(port))
for _ in range(count):
    c.request("GET", path, headers={name: value})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
PY
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/^totals:|^summary:/ {print $2; exit}' "$out"
}
a=$(run "$WARM")
b=$(run $((WARM + N)))
echo "$WHAT: $(( (b - a) / N )) instructions/request ($(basename "$J"), N=$N)"
[ -n "${KEEP:-}" ] || rm -f "$W/callgrind.$WHAT.$WARM" "$W/callgrind.$WHAT.$((WARM + N))"
