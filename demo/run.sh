#!/usr/bin/env bash
# demo/run.sh -- command 1 (make demo): a persistent local PostgreSQL 15
# cluster "crm" with pg_cron preloaded, a database "crm" with the extension and
# demo data, then a summary and how to connect.  Safe to re-run: the cluster,
# database and data are created only where missing, and the extension is
# brought up to the installed version.
#
#   CRM_DEMO_PORT   port of the cluster (default 5433, beside a default 5432)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
port=${CRM_DEMO_PORT:-5433}
cluster=crm
db=crm

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates a system cluster with pg_createcluster)" >&2
  exit 1
fi

if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "15/$cluster"; then
  echo "demo: creating cluster 15/$cluster on port $port"
  pg_createcluster 15 "$cluster" --port "$port" --locale C.UTF-8 --encoding UTF8 >/dev/null
fi
conf=/etc/postgresql/15/$cluster/postgresql.conf
port=$(sed -n "s/^port *= *\([0-9]*\).*/\1/p" "$conf")
# pg_cron is preloaded and works in the crm database, with background workers
# (no connection or password needed for jobs).
if ! grep -q "^shared_preload_libraries = 'pg_cron'" "$conf"; then
  cat >>"$conf" <<CONF
# --- crm demo ---
shared_preload_libraries = 'pg_cron'
cron.database_name = '$db'
cron.use_background_workers = on
max_worker_processes = 32
timezone = 'Europe/Moscow'
CONF
  pg_ctlcluster 15 "$cluster" stop >/dev/null 2>&1 || true
fi
pg_ctlcluster 15 "$cluster" start >/dev/null 2>&1 || true
pg_ctlcluster 15 "$cluster" status >/dev/null || { echo "demo: the cluster did not start" >&2; exit 1; }

export PGPORT=$port PGHOST=/var/run/postgresql
as_pg() { runuser -u postgres -- "$@"; }
psql_db() { as_pg psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }

as_pg psql -X -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
  as_pg createdb -E UTF8 -T template0 "$db"
psql_db -c "CREATE EXTENSION IF NOT EXISTS pg_cron"
installed=$(psql_db -tAc "SELECT extversion FROM pg_extension WHERE extname = 'crm'")
if [ -z "$installed" ]; then
  psql_db -c "CREATE EXTENSION crm"
else
  psql_db -c "ALTER EXTENSION crm UPDATE"
fi

# the peers of the integration jobs (MikoPBX and MailChimp stubs, a Dovecot
# mailbox on 127.0.0.1): they keep running in the background after this script
# ends (demo/peers.sh stop|status; files in /var/lib/crm-demo)
"$top/demo/peers.sh" start || echo "demo: the integration peers did not start; their jobs stay unconfigured" >&2

# the demo data, one file per concern; each file loads itself only once
# (20_intake and 60_marketing read the mail and 1C files under test/fixtures
# from CRM_DEMO_TOP).
# psql runs as postgres, which may not read the checkout (a clone in /root
# is private): the scripts and the fixtures are read from a copy it owns.
src=/var/lib/crm-demo/src
rm -rf "$src"
install -d -o postgres -g postgres /var/lib/crm-demo "$src" "$src/test/fixtures"
cp -r "$top/demo" "$src/demo"
cp -r "$top/test/fixtures/1c" "$top/test/fixtures/mail" "$src/test/fixtures/"
chown -R postgres:postgres "$src"
export CRM_DEMO_TOP=$src
# the files the demo writes (print forms, exports) go to /tmp/crm-demo,
# written by psql running as postgres
install -d -o postgres -g postgres /tmp/crm-demo
chown -R postgres:postgres /tmp/crm-demo
for f in "$src"/demo/[0-9]*.sql; do
  psql_db -f "$f"
done
psql_db -c "SELECT crm.schedule_jobs()" >/dev/null 2>&1 || true

psql_db -f "$src/demo/summary.psql"
cat <<TXT

crm is running: PostgreSQL 15 cluster "$cluster" on port $port, database "$db", pg_cron preloaded.
Connect as the DBA:         sudo -u postgres psql -p $port $db
Connect as an employee:     psql "host=localhost port=$port dbname=$db user=ivanova password=demo"
                            (every demo employee's password is "demo"; see the list above)
Stop / start the cluster:   pg_ctlcluster 15 $cluster stop | start
TXT
