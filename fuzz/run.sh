#!/usr/bin/env bash
# Run one fuzz target on a stable toolchain (see docs/reliability.md).
# Usage: fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1; secs=$2; shift 2
[ -d "fuzz/corpus/$target" ] || python3 fuzz/make-seeds.py
export RUSTC_BOOTSTRAP=1
exec cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=64 \
    -max_len=262144 -print_final_stats=1 "$@"
