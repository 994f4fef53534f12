#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine (slurmctld, slurmd, munge), as root.
# Idempotent: daemons already running are left alone. No accounting database: use squeue.
set -euo pipefail
H=$(hostname -s)
cat >/etc/slurm/slurm.conf <<EOC
ClusterName=repro
SlurmctldHost=$H
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ReturnToService=2
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
NodeName=$H CPUs=$(nproc) RealMemory=$(( $(free -m | awk '/Mem:/{print $2}') - 1024 )) State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOC
printf 'CgroupAutomount=no\nCgroupPlugin=cgroup/v1\n' >/etc/slurm/cgroup.conf
mkdir -p /var/spool/slurmctld /var/spool/slurmd /run/munge
[ -f /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
chown -R munge:munge /etc/munge /run/munge; chmod 400 /etc/munge/munge.key
pgrep munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pgrep slurmctld >/dev/null || slurmctld
pgrep slurmd >/dev/null || slurmd
