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
# How the core is made (MUTEXDIAG_CORE_METHOD = auto (default) | kernel | gcore):
#   kernel  the kernel's core, which needs RLIMIT_CORE to be raisable and a
#           kernel.core_pattern that writes "core*" into the process's folder;
#   gcore   the program runs under gdb, which stops it at its SIGABRT and writes the
#           core with `gcore` (needs gdb; no core_pattern or RLIMIT_CORE involved);
#   auto    kernel, and gcore when the kernel wrote no core.
#
# Requirements: a C compiler (cc), pthreads, one of the two methods above, and enough
# space under the cache folder (MUTEXDIAG_BENCH_DIR, default /tmp/mutexdiag-bench).
# Exit status 77 (the automake "skipped" code) when a requirement is missing, so a test
# can tell "cannot be made here" from a failure.
set -euo pipefail

die() { echo "make-core.sh: $*" >&2; exit 1; }
skip() { echo "make-core.sh: cannot make a core here: $*" >&2; exit 77; }

[ $# -ge 1 ] || die "usage: make-core.sh OUT [options]"
OUT=$1
shift
if [ -s "$OUT" ] && [ -s "$OUT.facts" ]; then
    exit 0
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MUTEXDIAG_BENCH_DIR:-/tmp/mutexdiag-bench}
mkdir -p "$CACHE" "$(dirname "$OUT")"

METHOD=${MUTEXDIAG_CORE_METHOD:-auto}
case "$METHOD" in auto | kernel | gcore) ;; *) die "MUTEXDIAG_CORE_METHOD=$METHOD (auto, kernel or gcore)" ;; esac

command -v cc >/dev/null || skip "no C compiler (cc)"
BIN=$CACHE/make-core
if [ ! -x "$BIN" ] || [ "$HERE/make-core.c" -nt "$BIN" ]; then
    cc -O2 -pthread -Wall -Wextra -o "$BIN.tmp" "$HERE/make-core.c"
    mv "$BIN.tmp" "$BIN"
fi

SCRATCH=$(mktemp -d "$CACHE/scratch.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
core=
why=
if [ "$METHOD" != gcore ]; then
    set +e
    (
        cd "$SCRATCH"
        ulimit -c unlimited 2>/dev/null || exit 3
        exec "$BIN" --facts "$SCRATCH/facts" "$@"
    )
    rc=$?
    set -e
    case "$rc" in
        134) # SIGABRT: 128 + 6.
            core=$(find "$SCRATCH" -maxdepth 1 -name 'core*' -type f | head -n 1)
            [ -n "$core" ] && [ -s "$core" ] ||
                why="the kernel wrote no core in the process's folder (kernel.core_pattern is '$(cat /proc/sys/kernel/core_pattern 2>/dev/null)')"
            ;;
        3) why="RLIMIT_CORE cannot be raised (hard limit $(ulimit -Hc))" ;;
        *) die "make-core exited with status $rc (expected SIGABRT, 134)" ;;
    esac
    [ -n "$core" ] || [ "$METHOD" = auto ] || skip "$why"
fi
if [ -z "$core" ]; then
    command -v gdb >/dev/null || skip "${why:+$why, and }gdb (for gcore) is not installed"
    [ -z "$why" ] || echo "make-core.sh: $why; using gdb's gcore" >&2
    rm -f "$SCRATCH/facts"
    (
        cd "$SCRATCH"
        gdb -batch -nx -iex 'set debuginfod enabled off' \
            -ex 'set pagination off' -ex run -ex 'gcore core.gcore' -ex kill \
            --args "$BIN" --facts "$SCRATCH/facts" "$@" >"$SCRATCH/gdb.log" 2>&1
    ) || true
    grep -q 'SIGABRT' "$SCRATCH/gdb.log" || die "make-core did not stop at SIGABRT under gdb: $(tail -n 5 "$SCRATCH/gdb.log")"
    core=$SCRATCH/core.gcore
    [ -s "$core" ] || die "gcore wrote no core: $(tail -n 5 "$SCRATCH/gdb.log")"
fi
mv "$SCRATCH/facts" "$OUT.facts.tmp"
mv "$core" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
mv "$OUT.facts.tmp" "$OUT.facts"
echo "make-core.sh: wrote $OUT ($(stat -c %s "$OUT") bytes)" >&2
