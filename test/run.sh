#!/usr/bin/env bash
# test/run.sh -- runs every test of crm against a throwaway PostgreSQL 15
# cluster with pg_cron preloaded, and ends with the line "N passed, N failed".
#
# Called by `make test` after crm is built and installed.  Suites, in order:
#   regress      pg_regress: sql/*.sql against expected/*.out (Makefile REGRESS)
#   tap          pgTAP files test/tap/*.sql, through pg_prove
#   isolation    isolationtester specs test/isolation/specs/*.spec
#   upgrade      every released version installed, then ALTER EXTENSION UPDATE,
#                and the catalog compared with a fresh install
#   integration  scripts test/integration/*.sh (real peers, files, fuzzing)
# A unit is one pg_regress test, one pgTAP file, one spec, one upgrade path or
# one integration script; the counts in the last line are of units.
#
# Environment:
#   CRM_PGROOT   a private copy of the PostgreSQL tree (see test/devroot.sh);
#                by default the system's /usr/lib/postgresql/15 is used
#   CRM_SUITES   comma-separated subset of the suites above (default: all)
#   CRM_ONLY     a regex: run only the units whose name matches
#   CRM_KEEP=1   leave the cluster running and its directory in place
set -uo pipefail
shopt -s nullglob

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

source "$top/test/lib/cluster.sh"
suites=${CRM_SUITES:-regress,tap,isolation,upgrade,integration}
only=${CRM_ONLY:-}

passed=0
failed=0
failures=()

want_suite() { [[ ",$suites," == *",$1,"* ]]; }
want_unit() { [[ -z "$only" || "$1" =~ $only ]]; }
ok() { passed=$((passed + 1)); printf 'ok      %s\n' "$1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); printf 'FAILED  %s\n' "$1"; }

# --- the throwaway cluster -------------------------------------------------
# tests do not measure speed: durability is traded for it
cluster_start "fsync = off" "synchronous_commit = off" "full_page_writes = off" || exit 1
trap cluster_stop EXIT

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

make_db() {   # name, extensions...
  local db=$1; shift
  psql_q -d postgres -c "CREATE DATABASE $db" || return 1
  local e
  for e in "$@"; do psql_q -d "$db" -c "CREATE EXTENSION $e" || return 1; done
}

# --- regress -----------------------------------------------------------------
if want_suite regress; then
  echo "== regress"
  tests=()
  for t in $(make -s print-REGRESS); do want_unit "$t" && tests+=("$t"); done
  if [ ${#tests[@]} -gt 0 ]; then
    make_db crm_regress crm
    out="$work/regress"
    mkdir -p "$out"
    "$pgxs_test/regress/pg_regress" --use-existing --dbname=crm_regress \
      --inputdir="$CRM_TEST_SRC" --outputdir="$out" --bindir="$bindir" \
      --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" "${tests[@]}" >"$out/log" 2>&1
    for t in "${tests[@]}"; do
      line=$(grep -E "^(test |     |ok |not ok )?.* ${t} +\.\.\. " "$out/log" | head -1)
      if [[ "$line" == *"... ok"* ]]; then ok "regress/$t"; else fail "regress/$t"; fi
    done
    [ -s "$out/regression.diffs" ] && head -c 20000 "$out/regression.diffs"
  fi
fi

# --- tap -----------------------------------------------------------------------
if want_suite tap; then
  echo "== tap"
  files=()
  for f in test/tap/*.sql; do [ -f "$f" ] && want_unit "$(basename "$f" .sql)" && files+=("$f"); done
  if [ ${#files[@]} -gt 0 ]; then
    make_db crm_tap pgtap crm
    for f in "${files[@]}"; do
      name=tap/$(basename "$f" .sql)
      if pg_prove -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d crm_tap "$f" >"$work/$(basename "$f").tap" 2>&1; then
        ok "$name"
      else
        fail "$name"
        grep -vE '^ok ' "$work/$(basename "$f").tap" | head -60
      fi
    done
  fi
fi

# --- isolation ---------------------------------------------------------------
if want_suite isolation; then
  echo "== isolation"
  specs=()
  for f in test/isolation/specs/*.spec; do
    [ -f "$f" ] && want_unit "$(basename "$f" .spec)" && specs+=("$(basename "$f" .spec)")
  done
  if [ ${#specs[@]} -gt 0 ]; then
    make_db crm_iso crm
    out="$work/isolation"
    mkdir -p "$out"
    "$pgxs_test/isolation/pg_isolation_regress" --use-existing --dbname=crm_iso \
      --inputdir="$top/test/isolation" --outputdir="$out" --bindir="$bindir" \
      --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" "${specs[@]}" >"$out/log" 2>&1
    for s in "${specs[@]}"; do
      line=$(grep -E " ${s} +\.\.\. " "$out/log" | head -1)
      if [[ "$line" == *"... ok"* ]]; then ok "isolation/$s"; else fail "isolation/$s"; fi
    done
    [ -s "$out/regression.diffs" ] && head -c 20000 "$out/regression.diffs"
  fi
fi

# --- upgrade -------------------------------------------------------------------
if want_suite upgrade; then
  echo "== upgrade"
  current=$(make -s print-EXTVERSION)
  make_db crm_fresh crm
  psql_q -d crm_fresh -At -f test/upgrade/catalog.sql >"$work/catalog-fresh.txt"
  n=0
  for f in src/upgrade/crm--*.sql; do
    base=$(basename "$f" .sql)
    v=${base#crm--}
    [[ "$v" == *--* || "$v" == "$current" ]] && continue
    want_unit "upgrade-$v" || continue
    n=$((n + 1))
    db="crm_from_${v//./_}"
    if make_db "$db" && psql_q -d "$db" -c "CREATE EXTENSION crm VERSION '$v'" &&
       psql_q -d "$db" -c "ALTER EXTENSION crm UPDATE" &&
       psql_q -d "$db" -At -f test/upgrade/catalog.sql >"$work/catalog-$v.txt" &&
       diff -u "$work/catalog-fresh.txt" "$work/catalog-$v.txt" >"$work/upgrade-$v.diff"; then
      ok "upgrade/$v-to-$current"
    else
      fail "upgrade/$v-to-$current"
      head -100 "$work/upgrade-$v.diff" 2>/dev/null
    fi
  done
  [ $n -eq 0 ] && echo "(no released version before $current: nothing to upgrade from)"
fi

# --- integration ---------------------------------------------------------------
if want_suite integration; then
  echo "== integration"
  for f in test/integration/*.sh; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .sh)
    want_unit "$name" || continue
    log="$work/integration-$name.log"
    if "$f" >"$log" 2>&1; then
      ok "integration/$name"
    else
      fail "integration/$name"
      tail -40 "$log"
    fi
  done
fi

if [ $failed -gt 0 ]; then
  echo "== failed: ${failures[*]}"
  echo "== server log (last lines)"
  tail -30 "$work/server.log"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
