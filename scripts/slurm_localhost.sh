#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for testing the cluster profile (docs/cluster.md).
#
#   scripts/slurm_localhost.sh up      # install slurm-wlm + munge if missing, start munged, slurmctld, slurmd
#   scripts/slurm_localhost.sh check   # up, then the tiny synthetic workflow locally and through
#                                      #   --executor slurm; the two results/tables/all.csv must be equal
#   scripts/slurm_localhost.sh check TABLE   # the same against the all.csv of a local run already made
#                                      #   on config/ci.yaml (the test suite passes its smoke run's)
#   scripts/slurm_localhost.sh down    # stop the daemons
#
# Debian/Ubuntu only (apt-get), as root or with passwordless sudo; the daemons run as the calling user
# (root in CI). The config goes where every SLURM command looks, /etc/slurm/slurm.conf (Snakemake's
# job steps drop SLURM_CONF before their srun), and the script refuses to replace one it did not
# write: this is for test machines, never for a node of a real cluster. Everything else the cluster
# writes lives in $FAMNET_SLURM_DIR (default ${TMPDIR:-/tmp}/famnet-slurm). One partition, `local`,
# one node (this host) with all its CPUs and 90 % of its memory; no accounting daemon, so job states
# come from squeue (MinJobAge is long enough for Snakemake to see every finished job).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
state="${FAMNET_SLURM_DIR:-${TMPDIR:-/tmp}/famnet-slurm}"
conf=/etc/slurm/slurm.conf
marker="# Written by scripts/slurm_localhost.sh"
partition=local

log() { echo ">> $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || { echo "slurm_localhost: needs apt-get (Debian/Ubuntu) to install slurm-wlm and munge" >&2; exit 1; }
  log "installing slurm-wlm and munge (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$state/apt.log" 2>&1 || {
    as_root apt-get update -q >>"$state/apt.log" 2>&1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >>"$state/apt.log" 2>&1
  } || { tail -20 "$state/apt.log" >&2; echo "slurm_localhost: apt-get install slurm-wlm munge failed ($state/apt.log)" >&2; exit 1; }
}

start_munge() {
  # munged authenticates every slurm RPC; the package makes /etc/munge/munge.key, else we do.
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [ -f /etc/munge/munge.key ] || as_root mungekey --create --keyfile /etc/munge/munge.key
  as_root mkdir -p /run/munge /var/log/munge /var/lib/munge
  as_root chown -R "$(stat -c %U /etc/munge/munge.key)" /run/munge /var/log/munge /var/lib/munge
  log "starting munged"
  as_root runuser -u "$(stat -c %U /etc/munge/munge.key)" -- /usr/sbin/munged 2>/dev/null ||
    as_root /usr/sbin/munged --force
  for _ in $(seq 20); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.5; done
  echo "slurm_localhost: munged did not start (see /var/log/munge/munged.log)" >&2; exit 1
}

write_conf() {
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
  if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
    echo "slurm_localhost: $conf exists and was not written by this script; not replacing a real cluster's config" >&2
    exit 1
  fi
  mkdir -p "$state/spool/ctld" "$state/spool/d"
  as_root mkdir -p "$(dirname "$conf")"
  as_root tee "$conf" >/dev/null <<EOF
$marker: a single-node test cluster.
ClusterName=famnet-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# No cgroups in containers: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for an hour (no accounting daemon, so no sacct).
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
SlurmdTimeout=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

daemon_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
  mkdir -p "$state"
  install_packages
  start_munge
  if daemon_running "$state/slurmctld.pid" && daemon_running "$state/slurmd.pid"; then
    log "SLURM already running ($conf)"
  else
    write_conf
    log "starting slurmctld and slurmd ($conf)"
    as_root /usr/sbin/slurmctld -c -i
    as_root /usr/sbin/slurmd -c
  fi
  local node_state=""
  for _ in $(seq 60); do
    node_state="$(sinfo -h -p "$partition" -o %T 2>/dev/null | head -1 || true)"
    case "$node_state" in idle|mixed|allocated) break ;; esac
    sleep 1
  done
  case "$node_state" in
    idle|mixed|allocated) ;;
    *) tail -5 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
       echo "slurm_localhost: node not up (state '${node_state:-none}'); logs in $state" >&2; exit 1 ;;
  esac
  # A real job through the scheduler before anything relies on it.
  local out
  out="$(srun -p "$partition" -N1 -n1 -t 1 hostname)"
  log "partition '$partition' up: $(sinfo -h -p "$partition" -o '%D node(s), %c CPUs, %m MB') (srun ran on $out)"
}

down() {
  for daemon in slurmd slurmctld; do
    if daemon_running "$state/$daemon.pid"; then
      as_root kill "$(cat "$state/$daemon.pid")" && log "stopped $daemon"
    fi
  done
}

workflow_copy() {
  rm -rf "$1" && mkdir -p "$1"
  cp "$repo/Snakefile" "$1/"
  cp -r "$repo/workflow" "$repo/config" "$repo/profiles" "$1/"
}

check() {
  local reference="${1:-}" work="$state/check" started
  if [ -n "$reference" ] && [ ! -f "$reference" ]; then
    echo "slurm_localhost: reference table $reference not found" >&2; exit 2
  fi
  [ -z "$reference" ] || reference="$(realpath "$reference")"
  up
  # The runs go in scratch copies beside each other (the cluster's nodes share this filesystem).
  if [ -z "$reference" ]; then
    workflow_copy "$work/local"
    started=$SECONDS
    log "local run (tiny synthetic config, profiles/ci)"
    (cd "$work/local" && snakemake --profile profiles/ci >"$work/local.log" 2>&1) ||
      { tail -40 "$work/local.log" >&2; echo "slurm_localhost: the local run failed ($work/local.log)" >&2; exit 1; }
    log "local run done in $((SECONDS - started)) s"
    reference="$work/local/results/tables/all.csv"
  else
    log "local run: $reference (given)"
  fi
  workflow_copy "$work/slurm"
  started=$SECONDS
  log "SLURM run (--workflow-profile profiles/slurm, squeue for job states)"
  # Sized for this node: threads capped at its CPUs (as --cores caps them locally), the tiny
  # config's jobs need far less memory than the profile's paper-size requests, and its jobs last
  # seconds, so job states are polled every 5 s instead of the plugin's 40.
  (cd "$work/slurm" && snakemake --workflow-profile profiles/slurm --configfile config/ci.yaml \
      --max-threads "$(nproc)" --set-resources train:mem_mb=3000 preprocess:mem_mb=3000 \
      --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 5 \
      >"$work/slurm.log" 2>&1) ||
    { tail -60 "$work/slurm.log" >&2; echo "slurm_localhost: the SLURM run failed ($work/slurm.log)" >&2; exit 1; }
  local submitted per_rule
  submitted="$(grep -c "has been submitted with SLURM jobid" "$work/slurm.log" || true)"
  per_rule="$(grep "has been submitted with SLURM jobid" "$work/slurm.log" | grep -o "slurm_logs/rule_[a-z_0-9]*/" |
              sed 's|slurm_logs/rule_||; s|/$||' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}')"
  log "SLURM run done in $((SECONDS - started)) s: $submitted sbatch submissions ($per_rule; log: $work/slurm.log)"
  [ "$submitted" -gt 0 ] || { echo "slurm_localhost: no job went through sbatch" >&2; exit 1; }
  log "first submission: $(grep -m1 "has been submitted with SLURM jobid" "$work/slurm.log")"
  if cmp -s "$reference" "$work/slurm/results/tables/all.csv"; then
    log "results/tables/all.csv identical in both runs ($(($(wc -l <"$reference") - 1)) rows)"
  else
    diff "$reference" "$work/slurm/results/tables/all.csv" >&2 || true
    echo "slurm_localhost: the SLURM run's table differs from the local run's" >&2; exit 1
  fi
}

case "${1:-check}" in
  up) up ;;
  down) down ;;
  check) check "${2:-}" ;;
  *) echo "usage: $0 [up|check [TABLE]|down]" >&2; exit 2 ;;
esac
