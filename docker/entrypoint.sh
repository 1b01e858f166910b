#!/bin/sh
# Starts the cluster, creates the crm database with pg_cron and crm on first
# start, sets the postgres password from POSTGRES_PASSWORD, and stays in the
# foreground.
set -eu
pg_ctlcluster 15 main start
runuser -u postgres -- psql -Xq -tc "SELECT 1 FROM pg_database WHERE datname = 'crm'" | grep -q 1 || {
  runuser -u postgres -- createdb -E UTF8 -T template0 crm
  runuser -u postgres -- psql -Xq -d crm -c "CREATE EXTENSION pg_cron" -c "CREATE EXTENSION crm"
}
if [ -n "${POSTGRES_PASSWORD:-}" ]; then
  runuser -u postgres -- psql -Xq -c "ALTER ROLE postgres PASSWORD '$POSTGRES_PASSWORD'"
fi
pg_ctlcluster 15 main stop
exec runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main \
  -c config_file=/etc/postgresql/15/main/postgresql.conf
