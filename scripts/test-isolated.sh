#!/usr/bin/env bash
# Run a command (default: the README's `cargo test --release --locked`) the way a
# stranger's machine would see this repository, without changing this machine:
#   - a private mount namespace (unshare -m): nothing below is visible outside;
#   - /usr/lib/debug hidden under an empty tmpfs (no libc6-dbg debug files);
#   - ../shared hidden under an empty tmpfs (no shared corpus);
#   - core files cannot be written: RLIMIT_CORE soft and hard 0 and CAP_SYS_RESOURCE
#     dropped (so no test can raise it again), and /proc/sys/kernel/core_pattern
#     shown as a systemd-coredump pipe inside the namespace only (a read-only bind
#     mount of a plain file; the kernel's real setting is not touched);
#   - another libc build: libc.so.6 and ld-linux-x86-64.so.2 are replaced, inside the
#     namespace only, by copies whose build-id notes are inverted (same code, so every
#     program still runs, but they are no longer the files the fixture cores recorded);
#   - MUTEXDIAG_REQUIRE_CORPUS unset (CI sets it; here the corpus is absent on purpose).
# Needs root (for unshare -m and mount), util-linux's setpriv and python3.
# Usage: bash scripts/test-isolated.sh [COMMAND ARGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$#" -eq 0 ]; then set -- cargo test --release --locked; fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pattern=$scratch/core_pattern
printf '|/usr/lib/systemd/systemd-coredump %%P %%u %%g %%s %%t %%c %%h\n' >"$pattern"
# Copies of the dynamic loader and libc with another build-id.
libs=()
for l in /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2; do
    real=$(readlink -f "$l")
    [ -f "$real" ] || continue
    copy=$scratch/$(basename "$real")
    python3 - "$real" "$copy" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
head = struct.pack("<III", 4, 20, 3) + b"GNU\0"
i = d.find(head)
assert i > 0, sys.argv[1] + ": no 20-byte GNU build-id note"
j = i + len(head)
d[j:j + 20] = bytes(b ^ 0xff for b in d[j:j + 20])
open(sys.argv[2], "wb").write(d)
PY
    chmod 755 "$copy"
    libs+=("$copy:$real")
done
unset MUTEXDIAG_REQUIRE_CORPUS
unshare -m --propagation private bash -c '
set -euo pipefail
root=$1; pattern=$2; libs=$3; shift 3
for l in $libs; do mount --bind -o ro "${l%%:*}" "${l#*:}"; done
mount -t tmpfs -o ro,size=1m none /usr/lib/debug 2>/dev/null || { mkdir -p /usr/lib/debug && mount -t tmpfs -o ro,size=1m none /usr/lib/debug; }
if [ -e "$root/../shared" ]; then mount -t tmpfs -o ro,size=1m none "$root/../shared"; fi
mount --bind -o ro "$pattern" /proc/sys/kernel/core_pattern
ulimit -c 0
echo "isolated: /usr/lib/debug: $(ls -A /usr/lib/debug | wc -l) entries; ../shared: $(ls -A "$root/../shared" 2>/dev/null | wc -l) entries; core_pattern here: $(cat /proc/sys/kernel/core_pattern); RLIMIT_CORE: $(ulimit -Sc)/$(ulimit -Hc); dropping CAP_SYS_RESOURCE; libc build-id here: $(readelf -n /usr/lib/x86_64-linux-gnu/libc.so.6 2>/dev/null | awk "/Build ID/ {print \$3}")" >&2
cd "$root"
exec setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource -- "$@"
' isolated "$root" "$pattern" "${libs[*]}" "$@"
