#!/usr/bin/env bash
# Make a real Linux core of at least 1 GiB for benches/magic_scan.rs: a small C
# program fills 1.1 GiB of anonymous memory with non-zero pseudo-random data, plants
# a few Solaris-layout mutexes (MUTEX_MAGIC 0x4d58 at +6, lock byte 1 at +15, owner at
# +16) and aborts with core dumps enabled. Usage: make-big-core.sh OUT.core
# The core is never committed (it lives under target/).
set -euo pipefail
out=${1:?usage: make-big-core.sh OUT.core}
pattern=$(cat /proc/sys/kernel/core_pattern)
if [ "$pattern" != "core" ]; then
    echo "make-big-core.sh: kernel.core_pattern is '$pattern', need 'core' (cores written to the current directory)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/big.c" <<'C'
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
int main(void) {
    size_t size = (size_t)1100 << 20;
    uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < size / 8; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint64_t v = x; /* full byte distribution, but no zero byte */
        for (int b = 0; b < 64; b += 8)
            if (((v >> b) & 0xff) == 0)
                v |= 1ull << b;
        p[i] = v;
    }
    /* 64 mutexes at 8-aligned offsets spread over the region */
    for (int k = 0; k < 64; k++) {
        unsigned char *m = (unsigned char *)p + ((size / 64) * k + 4096) / 8 * 8;
        memset(m, 0, 24);
        m[0] = 0x04;           /* LOCK_INITED */
        m[6] = 0x58; m[7] = 0x4d; /* MUTEX_MAGIC, little-endian */
        m[15] = 0x01;          /* lock byte held */
        uint64_t owner = 0x7f0000001000ull + 0x1000ull * k;
        memcpy(m + 16, &owner, 8);
    }
    fprintf(stderr, "filled %zu bytes at %p\n", size, (void *)p);
    abort();
}
C
gcc -O2 -o "$work/big" "$work/big.c"
( cd "$work" && ulimit -c unlimited && ./big ) || true
if [ ! -s "$work/core" ]; then
    echo "make-big-core.sh: no core was written" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
mv "$work/core" "$out"
ls -l "$out"
