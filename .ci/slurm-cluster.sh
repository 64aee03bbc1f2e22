#!/usr/bin/env bash
# A single-node Slurm cluster for the end-to-end test (test/cli/slurm.test.ts), self-contained in
# one folder: its own munged socket and key, slurm.conf, state, logs and ports, so it touches no
# system-wide Slurm or munge setup.
#   slurm-cluster.sh start DIR   start munged, slurmctld, slurmd; wait until the node is idle;
#                                clients then need SLURM_CONF=DIR/slurm.conf
#   slurm-cluster.sh stop DIR    stop the daemons started in DIR
# Needs Debian's slurmctld, slurmd, slurm-client and munge (.ci/run installs them), run as root.
set -euo pipefail
cmd=${1:?usage: slurm-cluster.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: slurm-cluster.sh start|stop DIR}" && cd "$2" && pwd)

stop() {
  # Only the daemons whose pid files are in DIR: ours.
  for p in slurmd slurmctld munged; do
    if [[ -f "$dir/$p.pid" ]]; then
      pid=$(cat "$dir/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$p.pid"
    fi
  done
}

if [[ $cmd == stop ]]; then stop; exit 0; fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" >/dev/null || { echo "slurm-cluster.sh: $b is not installed (apt-get install slurmctld slurmd slurm-client munge; see .ci/run)" >&2; exit 1; }
done
trap 'echo "slurm-cluster.sh: start failed; logs in $dir" >&2; stop' ERR

host=$(hostname -s)
# Ports from the pid, so two clusters on one machine do not collide.
port=$((20000 + ($$ % 20000)))
mkdir -p "$dir/munge" "$dir/ctld" "$dir/spool"
chmod 700 "$dir/munge"
head -c 1024 /dev/urandom > "$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"

cat > "$dir/slurm.conf" <<EOF
ClusterName=adagrpo-test
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [[ $state == idle ]] && { echo "slurm cluster up in $dir (node $host idle)"; exit 0; }
  sleep 0.2
done
echo "slurm-cluster.sh: node $host did not become idle (state: ${state:-none})" >&2
false
