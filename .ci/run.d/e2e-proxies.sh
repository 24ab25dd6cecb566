#!/usr/bin/env bash
# End-to-end with real reverse proxies and a real browser (issue 14): jwtauth serve behind
# nginx (`auth_request /auth`, examples/nginx.conf) and Caddy (`forward_auth /auth/forward`,
# examples/Caddyfile), and headless Chromium driven by Playwright through nginx. Installs
# Debian's nginx-light, caddy and chromium when missing (as root), and Playwright from PyPI in
# a venv under target/ (its own browsers are not downloaded: Debian's chromium is used).
# Every server runs on a free loopback port and is stopped at the end. The login page's
# screenshot goes to target/ci-output/login.png, the account page's (two browsers signed in)
# to target/ci-output/account.png (E2E_OUT to change it).
#
# Knobs: JWTAUTH_BIN (a built jwtauth to use instead of asking cargo), E2E_VENV.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # The packages would start their system services (nginx on port 80): this test runs its
  # own servers, so service starts are refused during the install unless a policy exists.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq >/dev/null
  # Debian 12's smallest nginx with auth_request is nginx-light (later releases: nginx).
  if [[ " ${missing[*]} " == *" nginx "* ]] && apt-cache show nginx-light >/dev/null 2>&1; then
    missing=("${missing[@]/#nginx/nginx-light}")
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
fi
nginx -V 2>&1 | grep -q -- --with-http_auth_request_module ||
  { echo "e2e-proxies.sh: nginx lacks auth_request" >&2; exit 1; }
caddy version
/usr/bin/chromium --version 2>/dev/null || true

VENV="${E2E_VENV:-$PWD/target/e2e-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import playwright' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check playwright
fi

# The binary `cargo test` already built (as schemathesis.sh does).
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
[ -x "$BIN" ] || { echo "e2e-proxies.sh: no jwtauth binary ($BIN)" >&2; exit 1; }

JWTAUTH_BIN="$BIN" E2E_OUT="${E2E_OUT:-$PWD/target/ci-output}" CHROMIUM=/usr/bin/chromium \
  "$VENV/bin/python" .ci/e2e/proxies.py
echo "e2e-proxies.sh: done in $((SECONDS - started)) s"
