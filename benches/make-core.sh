#!/usr/bin/env bash
# benches/make-core.sh - make a real kernel core dump of a given shape, for the benchmarks.
#
#   benches/make-core.sh OUT [make-core options]
#
# Builds benches/make-core.c (once, into the cache folder), runs it in a scratch folder
# with `ulimit -c unlimited`, and moves the kernel's core to OUT and the program's facts
# to OUT.facts. Does nothing if OUT and OUT.facts already exist.
#
# make-core options (see make-core.c):
#   --mib N                size of the big region in MiB (default 16)
#   --shared | --private   MAP_SHARED|MAP_ANONYMOUS (default) or MAP_PRIVATE|MAP_ANONYMOUS
#   --fill KIND            ordinary (default) | random | touch | zero
#   --mutexes K            plant K locked pthread mutexes (7 kinds, round robin) in the region
#   --maps M               M extra one-page mappings (separate VMAs; every third is a file
#                          mapping, so it also adds an NT_FILE entry)
#   --threads T            T extra threads (each adds its NT_PRSTATUS/FPREGSET/XSTATE notes)
#   --seed S               seed of the fill's pseudo-random generator (default 1)
#   --blocks               list every fill block (start, end, kind) in the facts
#
# Examples:
#   benches/make-core.sh /tmp/mutexdiag-bench/big.core --mib 1152 --mutexes 16 --blocks
#   benches/make-core.sh /tmp/x.core --mib 1024 --fill random --private
#
# Requirements: a C compiler (cc), pthreads, kernel.core_pattern = "core" (the kernel
# writes the core as "core" in the crashing process's folder), core_uses_pid 0 or 1, and
# enough space under the cache folder (MUTEXDIAG_BENCH_DIR, default /tmp/mutexdiag-bench).
set -euo pipefail

die() { echo "make-core.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: make-core.sh OUT [options]"
OUT=$1
shift
if [ -s "$OUT" ] && [ -s "$OUT.facts" ]; then
    exit 0
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MUTEXDIAG_BENCH_DIR:-/tmp/mutexdiag-bench}
mkdir -p "$CACHE" "$(dirname "$OUT")"

pattern=$(cat /proc/sys/kernel/core_pattern)
case "$pattern" in
    core | core.%p) ;;
    *) die "kernel.core_pattern is '$pattern'; this script needs 'core' (sysctl -w kernel.core_pattern=core)" ;;
esac

BIN=$CACHE/make-core
if [ ! -x "$BIN" ] || [ "$HERE/make-core.c" -nt "$BIN" ]; then
    cc -O2 -pthread -Wall -Wextra -o "$BIN.tmp" "$HERE/make-core.c"
    mv "$BIN.tmp" "$BIN"
fi

SCRATCH=$(mktemp -d "$CACHE/scratch.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
set +e
(
    cd "$SCRATCH"
    ulimit -c unlimited
    exec "$BIN" --facts "$SCRATCH/facts" "$@"
)
rc=$?
set -e
# SIGABRT with a core: 128 + 6.
[ "$rc" -eq 134 ] || die "make-core exited with status $rc (expected SIGABRT, 134)"
core=$(find "$SCRATCH" -maxdepth 1 -name 'core*' -type f | head -n 1)
[ -n "$core" ] && [ -s "$core" ] || die "no core file was written in $SCRATCH (ulimit -c? core_pattern?)"
mv "$SCRATCH/facts" "$OUT.facts.tmp"
mv "$core" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
mv "$OUT.facts.tmp" "$OUT.facts"
echo "make-core.sh: wrote $OUT ($(stat -c %s "$OUT") bytes)" >&2
