#!/usr/bin/env bash
# The benchmark in quick mode, so the harness cannot rot: every section must run (exit 1 if
# one breaks). Missed SPEC targets are reported in the table but do not fail CI; the full
# run (`bench/run.sh`) gives the figures that count. It ends with bench/serve.sh --quick (the
# `serve` rows: wrk from apt-get, the classic FastAPI service in a venv from PyPI, the bare axum
# handler), which installs what it needs itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench/run.sh --quick
