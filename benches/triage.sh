#!/usr/bin/env bash
# Triage throughput on an archive of N real small cores (the fixture cores, repeated
# under different names as hard links: fine for throughput, they are real cores), side by
# side in the same run with a loop of `eu-stack` and of `gdb -batch -ex 'thread apply all
# bt'` over the same cores (a sample of them: both are run per core), and peak memory of
# the triage at N/4 and N cores.
#
#   benches/triage.sh [N]          (default 1000; needs a release build, zstd, time(1)
#                                   or python3; eu-stack and gdb are optional)
#
# Prints cores/s of each and the ratios to the references measured in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
BIN=target/release/mutexdiag
[ -x "$BIN" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The plain (uncompressed) fixture cores: eu-stack and gdb cannot read .zst.
mapfile -t zst < <(ls fixtures/*/core.*.zst | grep -v qemu | sort)
mkdir -p "$work/plain" "$work/bin"
i=0
for z in "${zst[@]}"; do
    d=$(dirname "$z")
    zstd -q -d -c "$z" > "$work/plain/$i.core"
    [ -f "$d/app" ] && cp "$d/app" "$work/bin/app.$i"
    i=$((i + 1))
done
kinds=$i
make_archive() {  # $1 = count, $2 = dir
    mkdir -p "$2"
    for ((k = 0; k < $1; k++)); do
        ln "$work/plain/$((k % kinds)).core" "$2/core.$k"
    done
}
make_archive "$N" "$work/big"
make_archive $((N / 4)) "$work/small"

peak_kib() {  # peak RSS of a command and its children, KiB (python3's getrusage)
    python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}
now() { date +%s.%N; }

t0=$(now)
"$BIN" triage -q -j 2 --binary-dir "$work/bin" --format json -o "$work/out.json" "$work/big" || true
t1=$(now)
triage_s=$(awk "BEGIN { print $t1 - $t0 }")
analysed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["analysed"])' "$work/out.json")
rate=$(awk "BEGIN { print $analysed / $triage_s }")
printf 'triage: %d cores analysed in %.2f s wall = %.1f cores/s (-j 2)\n' "$analysed" "$triage_s" "$rate"

sample=$((kinds * 2 < N ? kinds * 2 : N))
if command -v eu-stack >/dev/null; then
    t0=$(now)
    for ((k = 0; k < sample; k++)); do eu-stack --core "$work/big/core.$k" >/dev/null 2>&1 || true; done
    t1=$(now)
    eu=$(awk "BEGIN { print ($t1 - $t0) / $sample }")
    printf 'eu-stack: %.1f ms per core (%d cores, one process each) = %.1f cores/s; triage/eu-stack rate ratio %.2f\n' \
        "$(awk "BEGIN { print $eu * 1000 }")" "$sample" "$(awk "BEGIN { print 1 / $eu }")" "$(awk "BEGIN { print $rate * $eu }")"
fi
if command -v gdb >/dev/null; then
    gs=$((sample < 20 ? sample : 20))
    t0=$(now)
    for ((k = 0; k < gs; k++)); do
        gdb -batch -nx -ex 'thread apply all bt' -c "$work/big/core.$k" >/dev/null 2>&1 || true
    done
    t1=$(now)
    g=$(awk "BEGIN { print ($t1 - $t0) / $gs }")
    printf 'gdb bt: %.1f ms per core (%d cores) = %.1f cores/s; triage/gdb rate ratio %.2f\n' \
        "$(awk "BEGIN { print $g * 1000 }")" "$gs" "$(awk "BEGIN { print 1 / $g }")" "$(awk "BEGIN { print $rate * $g }")"
fi
small_kib=$(peak_kib "$BIN" triage -q -j 2 --binary-dir "$work/bin" --format json -o /dev/null "$work/small")
big_kib=$(peak_kib "$BIN" triage -q -j 2 --binary-dir "$work/bin" --format json -o /dev/null "$work/big")
printf 'peak RSS (largest process): %d KiB at %d cores, %d KiB at %d cores (ratio %.2f)\n' \
    "$small_kib" $((N / 4)) "$big_kib" "$N" "$(awk "BEGIN { print $big_kib / $small_kib }")"
