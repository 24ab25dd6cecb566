#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), JOBS at a time (default 1), and prints
# executions and crashes per target. Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly
# toolchain, or a stable one with RUSTC_BOOTSTRAP=1 (set here if no nightly is installed).
# Usage: fuzz/run.sh [SECONDS] [JOBS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
jobs="${2:-1}"
shift $(( $# > 2 ? 2 : $# ))
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
cargo "${toolchain[@]}" fuzz build -a || exit 1
mkdir -p logs
run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "seeds/$t"
  cargo "${toolchain[@]}" fuzz run -a "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
    >"logs/$t.log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
  local crashes
  crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%-18s %4ss  executions %-10s crash artifacts %s  exit %s\n' "$t" "$secs" "${execs:-?}" "$crashes" "$rc"
  return $rc
}
status=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
