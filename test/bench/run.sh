#!/usr/bin/env bash
# test/bench/run.sh -- `make bench`: the benchmarks, not part of `make test`.
# Starts a throwaway cluster with durable settings (fsync on, as a real server)
# and runs every test/bench/bench_*.sh with test/bench/lib.sh available.  Each
# benchmark prints its own table: ratios against plain PostgreSQL doing the
# minimal equivalent work in the same run, and cost as the data grows.
#
#   CRM_BENCH_ONLY=<regex>   run only the benchmarks whose name matches
#   CRM_BENCH_SECONDS=<n>    seconds per pgbench measurement (default 10)
set -uo pipefail
shopt -s nullglob
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
source "$top/test/lib/cluster.sh"
export CRM_BENCH_SECONDS=${CRM_BENCH_SECONDS:-10}

cluster_start "shared_buffers = '1GB'" "max_wal_size = '4GB'" "checkpoint_timeout = '30min'" \
  "log_min_messages = error" || exit 1
trap cluster_stop EXIT

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%FT%TZ)"
status=0
for b in test/bench/bench_*.sh; do
  name=$(basename "$b" .sh)
  [[ -z "${CRM_BENCH_ONLY:-}" || "$name" =~ ${CRM_BENCH_ONLY} ]] || continue
  echo
  echo "== $name"
  bash "$b" || { echo "$name FAILED"; status=1; }
done
exit $status
