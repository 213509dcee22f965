#!/usr/bin/env bash
# Bring up a one-node Slurm cluster on this machine (controller and compute node are this host), for the
# cluster-profile workflow test. Idempotent: does nothing when `sinfo` already answers. Needs root and Debian.
#
#   tools/slurm-up.sh          start (installing slurm-wlm and munge if missing)
#   tools/slurm-up.sh down     stop what this script started
#
# There is no accounting daemon: `sacct` answers "accounting storage is disabled", so the Snakemake Slurm
# executor must be run with `--slurm-status-command squeue` (profiles/cluster does that). squeue only
# shows a finished job for MinJobAge seconds, and the executor (2.8.0) ignores `squeue` and falls back to
# the useless `sacct` unless MinJobAge >= 3 x its first status-check delay (40 s by default): keep
# MinJobAge at Slurm's default of 300 s.
set -euo pipefail

STATE_DIR=/var/lib/bams3-slurm
CONF_DIR=/etc/slurm
MARK="$STATE_DIR/started-by-bams3"

log() { echo "slurm-up: $*" >&2; }

# Stop the daemon whose pid file is $1 (only that process, never others of the same name).
stop_pidfile() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    [ -f "$MARK" ] || { log "nothing started by this script"; return 0; }
    stop_pidfile /run/slurmd.pid
    stop_pidfile /run/slurmctld.pid
    if [ -f "$STATE_DIR/started-munged" ]; then
        stop_pidfile /run/munge/munged.pid
        rm -f "$STATE_DIR/started-munged"
    fi
    # Our slurm.conf names a controller that is gone now: Slurm's client tools would wait ~9 s for it
    # on every call, and the Snakemake Slurm executor plugin calls `scontrol show config` whenever
    # Snakemake starts (any executor). Without the file they fail at once. `up` writes it again.
    if head -1 "$CONF_DIR/slurm.conf" 2>/dev/null | grep -q "Written by bams3 tools/slurm-up.sh"; then
        rm -f "$CONF_DIR/slurm.conf"
    fi
    rm -f "$MARK"
    log "stopped"
}

if [ "${1:-up}" = "down" ]; then down; exit 0; fi

if command -v sinfo >/dev/null && timeout 5 sinfo -h >/dev/null 2>&1; then
    log "Slurm already answers"; exit 0
fi

if [ "$(id -u)" -ne 0 ]; then log "needs root"; exit 3; fi
if ! command -v apt-get >/dev/null; then log "needs a Debian system (apt-get)"; exit 3; fi

bash "$(dirname "$0")/ensure-debian-packages.sh" slurm-wlm munge

mkdir -p "$STATE_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge "$CONF_DIR"
chown munge:munge /run/munge 2>/dev/null || true

# munge: a key of our own, daemon run as the munge user.
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged --force
    touch "$STATE_DIR/started-munged"  # `down` stops munged only when this script started it
fi

HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))

cat > "$CONF_DIR/slurm.conf" <<CONF
# Written by bams3 tools/slurm-up.sh: a one-node test cluster.
ClusterName=bams3-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

/usr/sbin/slurmctld -i
/usr/sbin/slurmd
touch "$MARK"

for _ in $(seq 1 30); do
    if sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mixed|allocated"; then
        log "up: $(sinfo -h -o '%P %D %c cpus %m MB %T')"
        exit 0
    fi
    sleep 1
done
log "Slurm did not become ready; see /var/log/slurm/"
sinfo || true
exit 1
