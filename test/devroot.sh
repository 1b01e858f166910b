#!/bin/sh
# test/devroot.sh ROOT -- makes ROOT a private copy of the PostgreSQL 15 server
# tree (binaries, libraries, share), so that `make test CRM_PGROOT=ROOT`
# installs crm there and tests it without touching the system's installation.
# PostgreSQL finds its share and lib directories relative to its binary, so
# the copy works as it is.  Used when several checkouts are tested at once.
set -eu
root=${1:?usage: test/devroot.sh ROOT}
if [ ! -x "$root/usr/lib/postgresql/15/bin/postgres" ]; then
  mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
  cp -a /usr/lib/postgresql/15 "$root/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
  echo "devroot: made $root"
fi
