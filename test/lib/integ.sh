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

# Until intake's crm.ingest_call / crm.ingest_email are installed (issue 3),
# stand-ins with the same signatures and the same refusals the tests rely on
# record what they are handed.  CALLS / MAILS name where the handed calls
# and messages can be read, with intake's column names (crm.interaction).
integ_intake() {
  if [ "$(qa "SELECT to_regprocedure('crm.ingest_call(text,text,text,timestamptz,timestamptz,timestamptz,integer,integer,text,text,text)') IS NOT NULL")" = t ]; then
    CALLS="(SELECT * FROM crm.interaction WHERE channel = 'phone') calls"
    MAILS="(SELECT * FROM crm.interaction WHERE channel IN ('email', 'chat')) mails"
    MAIL_TABLE=crm.interaction MAIL_WHERE="channel IN ('email', 'chat')"
    INTAKE=real
    return
  fi
  INTAKE=standin
  CALLS="public.standin_interaction calls"
  MAILS="(SELECT * FROM public.standin_interaction WHERE channel = 'email') mails"
  MAIL_TABLE=public.standin_interaction MAIL_WHERE="channel = 'email'"
  q <<'SQL'
CREATE TABLE public.standin_interaction (
  id bigserial PRIMARY KEY, channel text, dedup_key text UNIQUE, caller text, called text,
  occurred_at timestamptz, answered_at timestamptz, ended_at timestamptz, duration integer,
  billsec integer, disposition text, recording text, direction text, raw bytea, handed integer DEFAULT 1);
CREATE FUNCTION crm.ingest_call(linkedid text, caller text, called text, started_at timestamptz,
    answered_at timestamptz DEFAULT NULL, ended_at timestamptz DEFAULT NULL, duration integer DEFAULT NULL,
    billsec integer DEFAULT NULL, disposition text DEFAULT NULL, recording text DEFAULT NULL,
    direction text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE i bigint;
BEGIN
  IF billsec < 0 OR billsec > duration THEN
    RAISE EXCEPTION 'a call''s billsec must lie between 0 and its duration' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO public.standin_interaction AS s (channel, dedup_key, caller, called, occurred_at, answered_at, ended_at,
                                               duration, billsec, disposition, recording, direction)
  VALUES ('phone', 'call:' || linkedid, caller, called, started_at, answered_at, ended_at, duration, billsec,
          disposition, recording, direction)
  ON CONFLICT (dedup_key) DO UPDATE SET caller = EXCLUDED.caller, called = EXCLUDED.called,
    occurred_at = EXCLUDED.occurred_at, answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at,
    duration = EXCLUDED.duration, billsec = EXCLUDED.billsec, disposition = EXCLUDED.disposition,
    recording = EXCLUDED.recording, handed = s.handed + 1
  RETURNING id INTO i;
  RETURN i;
END $$;
CREATE FUNCTION crm.ingest_email(message bytea) RETURNS bigint
LANGUAGE plpgsql STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE t text := convert_from(message, 'SQL_ASCII'); k text; i bigint;
BEGIN
  IF t !~* '^[a-z-]+:' OR position(E'\n\n' IN replace(t, E'\r', '')) = 0 OR t !~* '(^|\n)from:' THEN
    RAISE EXCEPTION 'e-mail is not an RFC 5322 message' USING ERRCODE = 'invalid_text_representation';
  END IF;
  k := 'email:' || COALESCE(substring(t FROM '(?in)^message-id:\s*(<[^>]+>)'), encode(sha256(message), 'hex'));
  INSERT INTO public.standin_interaction AS s (channel, dedup_key, raw) VALUES ('email', k, message)
  ON CONFLICT (dedup_key) DO UPDATE SET handed = s.handed + 1 RETURNING id INTO i;
  RETURN i;
END $$;
REVOKE ALL ON FUNCTION crm.ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer, integer, text, text, text), crm.ingest_email(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer, integer, text, text, text), crm.ingest_email(bytea) TO crm_integration;
SQL
}
