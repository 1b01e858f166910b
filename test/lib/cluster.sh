# test/lib/cluster.sh -- sourced by test/run.sh and test/bench/run.sh: starts a
# throwaway PostgreSQL 15 cluster with pg_cron preloaded in a temporary
# directory on a free port, and exports PGHOST/PGPORT/PGUSER for it.
#
#   cluster_start [extra postgresql.conf lines...]   sets $work, $bindir, as_pg
#   cluster_stop                                     stops it, removes $work
#                                                    (kept when CRM_KEEP=1)
# CRM_PGROOT selects a private copy of the server tree (test/devroot.sh).

PGVER=15
root=${CRM_PGROOT:-}
bindir="$root/usr/lib/postgresql/$PGVER/bin"
pgxs_test="$root/usr/lib/postgresql/$PGVER/lib/pgxs/src/test"

cluster_start() {
  work=$(mktemp -d /tmp/crm-test.XXXXXX)
  chmod 755 "$work"
  if [ "$(id -u)" -eq 0 ]; then
    pguser=postgres
    chown postgres: "$work"
    as_pg() { runuser -u postgres -- "$@"; }
  else
    pguser=$(id -un)
    as_pg() { "$@"; }
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  export PGHOST="$work" PGPORT="$port" PGUSER="$pguser" PGDATABASE=postgres
  export CRM_TEST_WORK="$work" CRM_TEST_BINDIR="$bindir" CRM_TEST_TOP="$top"
  # What the server reads itself (pg_regress scripts and their expected
  # output, the fixtures read by pg_read_binary_file) is copied where the
  # server's user can read it: the checkout may be private (a clone in /root).
  export CRM_TEST_SRC="$work/src"
  mkdir -p "$CRM_TEST_SRC/test"
  cp -r "$top/sql" "$top/expected" "$CRM_TEST_SRC/" &&
    cp -r "$top/test/fixtures" "$CRM_TEST_SRC/test/" &&
    chmod -R a+rX "$CRM_TEST_SRC" || { echo "cannot copy the test sources to $CRM_TEST_SRC" >&2; return 1; }
  echo "== cluster: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on port $port, in $work"
  as_pg "$bindir/initdb" -D "$work/data" -U "$pguser" --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; return 1; }
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$work'"
    echo "shared_preload_libraries = 'pg_cron'"
    echo "cron.database_name = 'crm_cron'"
    echo "cron.use_background_workers = on"
    echo "max_worker_processes = 32"
    echo "max_connections = 100"
    echo "max_prepared_transactions = 10"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "log_min_messages = warning"
    echo "timezone = 'Europe/Moscow'"
    local l
    for l in "$@"; do echo "$l"; done
  } >>"$work/data/postgresql.conf"
  as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null ||
    { cat "$work/server.log"; return 1; }
  # pg_cron's launcher works in crm_cron (cron.database_name above)
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE crm_cron" &&
    psql -X -q -v ON_ERROR_STOP=1 -d crm_cron -c "CREATE EXTENSION pg_cron"
}

cluster_stop() {
  if [ "${CRM_KEEP:-0}" = 1 ]; then
    echo "cluster kept: PGHOST=$work PGPORT=$port PGUSER=$pguser (data in $work/data)"
    return
  fi
  local f
  for f in "$work"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$work"
}
