#!/bin/bash
# A one-node SLURM cluster on this machine (Debian's slurm-wlm 22.05), as root, without systemd:
# munge, MariaDB + slurmdbd (for sacct), slurmctld and slurmd. Run it again to restart SLURM.
# nox -s slurm installs the packages and runs this; tests/test_slurm_cluster.py then submits jobs.
set -euo pipefail
node=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
state=/var/lib/slurm-test
mkdir -p "$state"/{ctld,d} /var/log/slurm /run/munge /var/run/mysqld
chown munge:munge /run/munge; chown mysql:mysql /var/run/mysqld

pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x slurmdbd || true
sleep 1

# munge: SLURM's authentication between the daemons and the commands.
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
fi

# MariaDB for slurmdbd (sacct reads the accounting database).
if ! pgrep -x mariadbd >/dev/null; then
    runuser -u mysql -- /usr/sbin/mariadbd --skip-networking=0 --bind-address=127.0.0.1 \
        --socket=/var/run/mysqld/mysqld.sock >/var/log/slurm/mariadb.log 2>&1 &
    for _ in $(seq 60); do mariadb -e "select 1" >/dev/null 2>&1 && break; sleep 0.5; done
fi
mariadb -e "create database if not exists slurm_acct_db;
create user if not exists 'slurm'@'localhost' identified by 'slurm';
grant all on slurm_acct_db.* to 'slurm'@'localhost'; flush privileges;"

cat >/etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=$state/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
chmod 600 /etc/slurm/slurmdbd.conf

cat >/etc/slurm/slurm.conf <<CONF
ClusterName=scaffold
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobRequeue=1
# How long the training may take to save after a SIGTERM (scancel, preemption) before SIGKILL.
KillWait=30
MinJobAge=600
# A requeued job waits cred_expire seconds before it may start again (SLURM's default: 120).
AuthInfo=cred_expire=30
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

/usr/sbin/slurmdbd
for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i add cluster scaffold >/dev/null 2>&1 || true
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -qE "^idle" && break; sleep 0.5; done
sinfo
