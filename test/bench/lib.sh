# test/bench/lib.sh -- helpers for the benchmarks under test/bench/.
#   source "$(dirname "$0")/lib.sh"

bench_secs=${CRM_BENCH_SECONDS:-10}

# psql against the bench cluster, stopping at the first error
bpsql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# tps DB SCRIPT [CLIENTS] [SECONDS] [pgbench options...]
# Runs pgbench with a custom script (no vacuum, no built-in tables) and prints
# the transactions per second it reports (excluding connection time).
tps() {
  local db=$1 script=$2 clients=${3:-1} secs=${4:-$bench_secs}
  shift 4 2>/dev/null || shift $#
  local out
  out=$(pgbench -n -f "$script" -c "$clients" -j "$clients" -T "$secs" "$@" "$db" 2>&1) ||
    { echo "$out" >&2; echo 0; return 1; }
  echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | tail -1
}

# set_sync DB on|off: synchronous_commit for new sessions of DB
set_sync() { bpsql -d "$1" -c "ALTER DATABASE $1 SET synchronous_commit = $2"; }

# ratio A B: A/B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
