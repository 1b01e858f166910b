#!/usr/bin/env bash
# test/fresh/chroot-ci.sh ROOTFS [BRANCH] -- runs .ci/run from a clean clone of
# this repository inside a fresh Debian 12 root file system (made with
# `debootstrap --variant=minbase bookworm ROOTFS`), to check that the test
# command installs everything it needs by itself.  Only gcc, make and git are
# added first, as on the CI machines.  Not part of `make test`; run as root.
set -euo pipefail
rootfs=${1:?usage: test/fresh/chroot-ci.sh ROOTFS [BRANCH]}
branch=${2:-main}
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
