#!/usr/bin/env bash
# Start a single-node Slurm cluster on localhost: munged (with a generated key),
# slurmctld and slurmd, every state/spool/log file under DIR.
#
#   scripts/slurm/start.sh DIR
#
# On success it prints `export SLURM_CONF=DIR/slurm.conf` (eval it) and leaves the
# daemons' PIDs in DIR/run/*.pid for scripts/slurm/stop.sh. Exit 3 when Slurm or munge
# is not installed; exit 1 when they are but the cluster did not come up (DIR/log says why).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: start.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

for p in munged mungekey slurmctld slurmd sbatch sinfo; do
    if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
        echo "slurm: $p is not installed" >&2
        exit 3
    fi
done
PATH="$PATH:/usr/sbin"

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
chmod 700 "$dir/munge"

# A fresh munge key, never reused.
mungekey --create --keyfile="$dir/munge/munge.key" --force 2>/dev/null \
    || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force \
    --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munge.seed"

# Ports: free ones, so a second cluster or a system one does not collide.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
node="$(hostname -s 2>/dev/null || echo localhost)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ {print int($2/1024) - 256}' /proc/meminfo)"
[ "$mem_mb" -gt 256 ] || mem_mb=256
sed -e "s|@DIR@|$dir|g" -e "s|@NODE@|$node|g" -e "s|@USER@|$(id -un)|g" \
    -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
    -e "s|@CTLD_PORT@|$(free_port)|g" -e "s|@SLURMD_PORT@|$(free_port)|g" \
    "$here/slurm.conf.in" >"$dir/slurm.conf"
# Slurm reads cgroup.conf next to slurm.conf when a cgroup plugin is used; none is.
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF" -N "$node"

# Wait until the node takes jobs.
for _ in $(seq 1 60); do
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)"
    case "$state" in
        idle*|mixed*|allocated*)
            echo "export SLURM_CONF=$SLURM_CONF"
            exit 0 ;;
    esac
    sleep 0.5
done
echo "slurm: the node did not become ready (state: ${state:-unknown}); see $dir/log" >&2
exit 1
