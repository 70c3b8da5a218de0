#!/usr/bin/env bash
# Stop the daemons scripts/slurm/start.sh DIR started, by the PIDs it recorded.
#
#   scripts/slurm/stop.sh DIR
set -uo pipefail
dir="${1:?usage: stop.sh DIR}"
for d in slurmd slurmctld munged; do
    f="$dir/run/$d.pid"
    [ -s "$f" ] || continue
    pid="$(cat "$f")"
    # Only the daemon we started: the PID must still be that program.
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$d" ]; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$f"
done
exit 0
