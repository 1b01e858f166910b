# test/lib/integ.sh -- helpers for the integration scripts of the integration
# concern (test/integration/{mailchimp,miko,mailbox,integration}_*.sh).
# Sourced after `set -euo pipefail`.
#
#   integ_setup DB JOBROLE   a database DB with crm, a login role JOBROLE in
#                            crm_integration (the pg_cron job role), and an
#                            EXIT trap that drops both and stops the stubs
#   q ARGS / qa SQL          psql on DB, quiet / one unaligned value
#   job SQL                  runs SQL connected as JOBROLE (as pg_cron would)
#   check NAME ACTUAL EXPECTED   prints ok/FAILED, counts failures
#   integ_done               exits 1 if any check failed
integ_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$integ_top/test/lib/stubs.sh"
work=${CRM_TEST_WORK:?CRM_TEST_WORK is set by test/run.sh}
integ_failures=0
integ_cleanups=()

q() { psql -X -q -v ON_ERROR_STOP=1 -d "$INTEG_DB" "$@"; }
qa() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$INTEG_DB" -c "$1"; }
job() { psql -X -q -v ON_ERROR_STOP=1 -At -U "$INTEG_JOB" -d "$INTEG_DB" -c "$1"; }
# like job, but errors and notices are its output ("SQLSTATE: message" and
# their DETAIL/HINT lines), not a failure
job_try() {
  psql -X -q -At -U "$INTEG_JOB" -d "$INTEG_DB" -v VERBOSITY=verbose -c "$1" 2>&1 |
    sed -E 's/^(ERROR|NOTICE|WARNING|FATAL): +//' | grep -v '^LOCATION:' || true
}

check() {
  if [ "$2" == "$3" ]; then
    echo "ok      $1"
  else
    echo "FAILED  $1"; echo "        expected: $3"; echo "        actual:   $2"
    integ_failures=$((integ_failures + 1))
  fi
}

# check_match NAME ACTUAL REGEX
check_match() {
  if [[ "$2" =~ $3 ]]; then
    echo "ok      $1"
  else
    echo "FAILED  $1"; echo "        expected to match: $3"; echo "        actual: $2"
    integ_failures=$((integ_failures + 1))
  fi
}

integ_cleanup() {
  local c
  for c in "${integ_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $INTEG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  for c in $INTEG_JOB ${INTEG_ROLES:-}; do
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS $c" >/dev/null 2>&1 || true
  done
}

integ_setup() {
  INTEG_DB=$1 INTEG_JOB=$2
  export INTEG_DB INTEG_JOB
  trap integ_cleanup EXIT
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $INTEG_DB WITH (FORCE)" -c "DROP ROLE IF EXISTS $INTEG_JOB"
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $INTEG_DB"
  q -c "CREATE EXTENSION crm"
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $INTEG_JOB LOGIN IN ROLE crm_integration"
}

# a stub, stopped on exit
integ_stub() {
  local name=$1; shift
  stub_start "$name" "$work" "$@"
  integ_cleanups+=("stub_stop $name")
}

# stores a secret with COPY, so that no statement text carries it
integ_secret() {   # peer name value
  printf '%s\t%s\t%s\n' "$1" "$2" "$3" | q -c "COPY crm.integration_setting_load (peer, name, value) FROM STDIN"
}

# milliseconds since the epoch
now_ms() { date +%s%3N; }

integ_done() {
  if [ "$integ_failures" -gt 0 ]; then
    echo "$integ_failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}

# Where the calls and messages handed to intake (crm.ingest_call,
# crm.ingest_email) can be read: crm.interaction.
integ_intake() {
  CALLS="(SELECT * FROM crm.interaction WHERE channel = 'phone') calls"
  MAILS="(SELECT * FROM crm.interaction WHERE channel IN ('email', 'chat')) mails"
  MAIL_TABLE=crm.interaction MAIL_WHERE="channel IN ('email', 'chat')"
}
