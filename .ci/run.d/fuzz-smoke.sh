#!/usr/bin/env bash
# Fuzz smoke test: every cargo-fuzz target for ~10 s. cargo-fuzz is installed only when missing
# (a cached ~/.cargo/bin keeps it between runs); a crash fails CI and leaves the input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
exec fuzz/run.sh "${FUZZ_SECONDS:-10}" 1
