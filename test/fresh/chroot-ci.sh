#!/usr/bin/env bash
# test/fresh/chroot-ci.sh ROOTFS [BRANCH [demo]] -- runs .ci/run from a clean
# clone of this repository in /root/crm (private to root, as a clone on a
# fresh machine is) inside a fresh Debian 12 root file system (made with
# `debootstrap --variant=minbase bookworm ROOTFS`), to check that the test
# command installs everything it needs by itself.  Only gcc, make and git are
# added first, as on the CI machines.  With "demo", then runs `make demo`
# twice (the second must change nothing and succeed), reads the demo data as
# the DBA and as an employee over TCP, and stops the demo.  Not part of
# `make test`; run as root.
set -euo pipefail
rootfs=${1:?usage: test/fresh/chroot-ci.sh ROOTFS [BRANCH [demo]]}
branch=${2:-main}
demo=${3:-}
top=$(cd "$(dirname "$0")/../.." && pwd)

mounts=(proc sys dev dev/pts dev/shm)
cleanup() {
  local m
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "$rootfs/${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount -t proc proc "$rootfs/proc"
mount --rbind /sys "$rootfs/sys"
mount --rbind /dev "$rootfs/dev"
mount -t devpts devpts "$rootfs/dev/pts" 2>/dev/null || true
mount -t tmpfs tmpfs "$rootfs/dev/shm"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"

rm -rf "$rootfs/root/crm"
git clone -q --branch "$branch" "$top" "$rootfs/root/crm"
chroot "$rootfs" /bin/bash -lc '
  set -e
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq gcc make git >/dev/null
  cd /root/crm && ./.ci/run
'
if [ "$demo" = demo ]; then
  chroot "$rootfs" /bin/bash -lc '
    set -e
    cd /root/crm
    make demo >/root/demo-1.log 2>&1 || { tail -30 /root/demo-1.log; exit 1; }
    make demo >/root/demo-2.log 2>&1 || { tail -30 /root/demo-2.log; exit 1; }
    tail -6 /root/demo-2.log
    echo "counterparties seen by the DBA: $(cd / && runuser -u postgres -- psql -p 5433 -d crm -Atc "SELECT count(*) FROM crm.counterparty")"
    echo "deals seen by ivanova (head of Alto): $(PGPASSWORD=demo psql "host=localhost port=5433 dbname=crm user=ivanova" -Atc "SELECT count(*) FROM crm.deal")"
    demo/peers.sh stop >/dev/null 2>&1 || true
    pg_ctlcluster 15 crm stop
  '
fi

