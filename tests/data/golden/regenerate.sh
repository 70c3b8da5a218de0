#!/usr/bin/env bash
# Regenerate the stored analysis outputs that tests/golden.rs compares with.
# Run from the repository root, after `cargo build --release`; relative paths only,
# so that no path of the machine ends up in the files. Only regenerate on purpose:
# every difference must be an intended change documented in tests/golden.rs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin=target/release/mutexdiag
out=tests/data/golden
for z in fixtures/*/core.*.zst; do
    d=$(dirname "$z"); s=$(basename "$d"); r=$(basename "$z" .zst); r=${r#core.}
    "$bin" "$z" --binary "$d/app" --format json > "$out/$s.$r.json" || true
done
# The system files the fixture cores name, with their build-ids and whether their
# debug files were installed: the outputs hold names and lines read from them.
: > "$out/host.txt"
for f in /usr/lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
         /usr/lib32/libc.so.6 /usr/lib32/ld-linux.so.2; do
    id=$(LC_ALL=C readelf -n "$f" 2>/dev/null | awk '/Build ID/ {print $3}')
    dbg=no
    [ -n "$id" ] && [ -f "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ] && dbg=yes
    echo "$f ${id:-none} $dbg" >> "$out/host.txt"
done
