#!/usr/bin/env bash
# Schema conformance of `jwtauth serve`: Schemathesis (from PyPI, in a venv under target/)
# generates requests from the served /openapi.json and checks that no answer is a server error
# and that every answer matches the document (status, content type, body schema). The server
# runs on temp files with one user; any failure fails CI.
#
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (default 50); SCHEMATHESIS_SEED (default 1, so CI is
# reproducible; set it empty for a random seed); SCHEMATHESIS_CHECKS (a comma-separated list,
# or "all"); JWTAUTH_BIN (a built jwtauth to use instead of asking cargo).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV="${SCHEMATHESIS_VENV:-$PWD/target/schemathesis-venv}"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check schemathesis
fi
"$VENV/bin/schemathesis" --version

# The binary `cargo test` already built for the integration tests (so this is a no-op build
# after it; a plain `cargo build` would rebuild with other features), wherever the target is.
BIN="${JWTAUTH_BIN:-}"
if [ -z "$BIN" ]; then
  BIN="$(cargo test --quiet --no-run --message-format=json-render-diagnostics |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and "bin" in m["target"]["kind"] and m["target"]["name"] == "jwtauth"
            and not m["profile"]["test"]):
        print(m["executable"])')"
fi
[ -x "$BIN" ] || { echo "schemathesis.sh: no jwtauth binary ($BIN)" >&2; exit 1; }

WORK="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# An isolated home: nothing of the real user's, no jwtauth variables from outside.
export HOME="$WORK/home" XDG_DATA_HOME="$WORK/home/data" XDG_CONFIG_HOME="$WORK/home/config"
unset JWT_SECRET_KEY JWTAUTH_USERS JWTAUTH_STATE JWTAUTH_KEY_FILE JWTAUTH_CONFIG || true
mkdir -p "$HOME" "$XDG_CONFIG_HOME/jwtauth"
# alice may introspect (SPEC §12), so POST /introspect is exercised past its 401.
printf '[serve]\nintrospection_subjects = ["alice"]\n' >"$XDG_CONFIG_HOME/jwtauth/config.toml"
"$BIN" -q init
printf 'schemathesis-Pw-1\n' | "$BIN" user add alice --cost 4 --password-stdin
# A long-lived token, so the bearer routes are exercised past the 401 (until /logout revokes it).
TOKEN="$("$BIN" mint --sub alice --ttl 1d)"

LOG="$WORK/serve.log"
"$BIN" serve --listen 127.0.0.1:0 2>"$LOG" &
SERVER=$!
ADDR=""
for _ in $(seq 1 600); do
  ADDR="$(sed -n 's|^jwtauth: listening on http://||p' "$LOG" | head -n 1)"
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  echo "schemathesis.sh: the server did not start:" >&2
  cat "$LOG" >&2
  exit 1
fi
echo "jwtauth serve on $ADDR"

SEED="${SCHEMATHESIS_SEED-1}"
status=0
# From the temp dir, so its example database and reports stay out of the work tree.
(cd "$WORK" && exec "$VENV/bin/schemathesis" run "http://$ADDR/openapi.json" \
  --checks "${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  ${SEED:+--seed "$SEED"} \
  --workers 1 \
  --request-timeout 30 \
  --suppress-health-check all \
  -H "Authorization: Bearer $TOKEN") || status=$?

# The server must still be up and then stop cleanly on SIGTERM.
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "schemathesis.sh: the server died during the run:" >&2
  tail -n 50 "$LOG" >&2
  exit 1
fi
kill -TERM "$SERVER"
serve_status=0
wait "$SERVER" || serve_status=$?
SERVER=""
if [ "$serve_status" -ne 0 ]; then
  echo "schemathesis.sh: jwtauth serve exited $serve_status after SIGTERM" >&2
  tail -n 50 "$LOG" >&2
  exit 1
fi
if grep -q -- 'schemathesis-Pw-1' "$LOG" || grep -q -F -- "$TOKEN" "$LOG"; then
  echo "schemathesis.sh: a secret appeared in the server's log" >&2
  exit 1
fi
exit "$status"
