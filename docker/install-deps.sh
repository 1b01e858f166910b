#!/bin/sh
# docker/install-deps.sh -- the one place that lists the system packages crm needs.
#
# Used by `make demo`, `make test`, .ci/run and docker/Dockerfile.  Idempotent: when every
# package is already installed it returns at once without touching apt.
set -eu

PACKAGES="
  build-essential pkg-config clang libclang-rt-14-dev
  postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap pgtap
  libcurl4-openssl-dev libjansson-dev libgmime-3.0-dev libglib2.0-dev
  libxlsxwriter-dev libhpdf-dev fonts-dejavu-core
  odbc-postgresql unixodbc
  dovecot-imapd
  poppler-utils libreoffice-calc-nogui
  python3 procps iproute2 curl
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing" >&2
  echo "install-deps: run as root (or install them) and try again" >&2
  exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# postgresql-common would create a default "main" cluster on install; crm manages its own.
mkdir -p /etc/postgresql-common/createcluster.d
[ -f /etc/postgresql-common/createcluster.d/crm-no-main.conf ] || \
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/crm-no-main.conf
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# dovecot's package starts a system daemon; crm's scripts run their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
  systemctl stop dovecot || true
fi
echo "install-deps: done"
