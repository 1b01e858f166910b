#!/usr/bin/env bash
# R26 under faults (issue 4, item 9): 503, 429, 500, a reset connection and a
# garbled answer back off with jitter and re-send the same batch with the
# same idempotency key; a peer slower than crm.http_timeout fails within the
# timeout plus a margin and is retried later; pg_cancel_backend during a
# transfer returns within about a second; while the stub sleeps another
# session sees no lock of the job in pg_locks; a run killed mid-flight
# (pg_terminate_backend) is taken over after its lease and re-sent with the
# same key -- no duplicate member, no contact skipped; a second run never
# overlaps the first; wrong credentials stop the job with a clear recorded
# error until the configuration changes; a batch that failed max_attempts
# times is dead-lettered and can be revived; a batch MailChimp refuses as
# a whole (400) is dead-lettered at once.
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
integ_setup crm_it_mcfault it_mcf_job
key="feedc0de0123456789-us7"
integ_stub mailchimp --key "$key" --list "aud9"
integ_secret mailchimp api_key "$key"
q -q <<SQL
SELECT crm.configure('mailchimp', 'list_id', 'aud9');
SELECT crm.configure('mailchimp', 'base_url', 'http://127.0.0.1:$MAILCHIMP_PORT/3.0');
SELECT crm.configure('mailchimp', 'backoff_base_seconds', '1');
SELECT crm.configure('mailchimp', 'backoff_max_seconds', '2');
SELECT crm.configure('mailchimp', 'lease_seconds', '3');
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'Клиент');
SQL

batch_no=0
# n new consenting contacts of the client, queued by the trigger
add_contacts() {
  batch_no=$((batch_no + 1))
  q -c "INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
        SELECT id, 'Контакт $batch_no-' || g, true FROM crm.counterparty, generate_series(1, $1) g WHERE name = 'Клиент';
        INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
        SELECT c.id, c.counterparty_id, 'email', 'c' || c.id || '@example.com' FROM crm.contact c
         WHERE c.full_name LIKE 'Контакт $batch_no-%';"
}
nreq() { stub_state mailchimp "len([r for r in s['requests'] if r['path'] == '/3.0/lists/aud9'])"; }
last_run() { qa "SELECT outcome || ' ' || COALESCE(sqlstate, '-') || ' ' || COALESCE(http_status::text, '-') FROM crm.integration_run ORDER BY id DESC LIMIT 1"; }
keys_of_last_two() { stub_state mailchimp "[r['idempotency_key'] for r in s['requests'] if r['path'] == '/3.0/lists/aud9'][-2:]"; }
due() { sleep "${1:-2.2}"; }   # longer than the longest backoff (2 s)
wait_requests() {   # until the stub has seen n batch requests
  local i
  for i in $(seq 1 100); do [ "$(nreq)" -ge "$1" ] && return 0; sleep 0.1; done
  echo "the stub did not get request $1"; return 1
}
job_pid() { qa "SELECT pid FROM pg_stat_activity WHERE usename = '$INTEG_JOB' AND query LIKE 'CALL crm.mailchimp_sync()%' AND state = 'active'"; }
all_sent() { qa "SELECT count(*) FILTER (WHERE state IN ('pending', 'batched')) || ' ' || count(*) FILTER (WHERE state = 'dead') FROM crm.outbox"; }

# --- transient failures: backoff, then the same batch under the same key ----
for fault in '503:57P03' '429:53300' '500:58000' 'malformed:22032' 'reset:08006'; do
  kind=${fault%%:*} state=${fault##*:}
  add_contacts 3
  case $kind in
    malformed) stub_control mailchimp '{"malformed": 1}' ;;
    reset) stub_control mailchimp '{"reset": 1}' ;;
    *) stub_control mailchimp "{\"fail\": [{\"status\": $kind, \"times\": 1}]}" ;;
  esac
  out=$(job_try "CALL crm.mailchimp_sync()")
  check_match "R26 $kind: the run fails with SQLSTATE $state" "$out" "^$state"
  check_match "R26 $kind: the run is recorded with its error" "$(last_run)" "^error $state"
  check "R26 $kind: the batch waits for its next attempt (backoff), lease released" \
    "$(qa "SELECT state || ' ' || attempts || ' ' || (next_attempt_at > now()) || ' ' || (lease_until IS NULL) FROM crm.outbox_batch ORDER BY id DESC LIMIT 1")" \
    "claimed 1 true true"
  check "R26 $kind: the peer backs off" "$(qa "SELECT state FROM crm.integration_peer WHERE peer = 'mailchimp'")" "backoff"
  out=$(job_try "CALL crm.mailchimp_sync()")
  check_match "R26 $kind: a run during the backoff does nothing and says why" "$out" "backing off after 1 failed attempts"
  due
  job "CALL crm.mailchimp_sync()"
  check "R26 $kind: retried later, the batch is sent" "$(last_run)" "ok - -"
  check "R26 $kind: the retry carries the same idempotency key" \
    "$(keys_of_last_two | python3 -c 'import json,sys; k=json.load(sys.stdin); print(len(k) == 2 and k[0] == k[1] and k[0] is not None)')" "True"
  check "R26 $kind: everything queued is sent" "$(all_sent)" "0 0"
done
check "R26 no member is held twice" \
  "$(stub_state mailchimp "len(s['peer']['members']) == len(set(m['email_address'].lower() for m in s['peer']['members']))")" "true"

# --- a peer slower than the timeout fails within the timeout plus a margin --
add_contacts 2
stub_control mailchimp '{"delay": 4}'
t0=$(now_ms)
out=$(PGOPTIONS="-c crm.http_timeout=1000" job_try "CALL crm.mailchimp_sync()")
elapsed=$(( $(now_ms) - t0 ))
check_match "R26 slow peer: the run fails as a timeout (08006)" "$out" "^08006"
check "R26 slow peer: it gives up within 1 s + 0.9 s margin (took ${elapsed} ms)" "$([ "$elapsed" -lt 1900 ] && echo yes)" "yes"
check_match "R26 slow peer: the recorded error names the limit" \
  "$(qa "SELECT error FROM crm.integration_run ORDER BY id DESC LIMIT 1")" "^MailChimp did not answer within 1000 ms"
stub_control mailchimp '{"delay": 0}'
due
job "CALL crm.mailchimp_sync()"
check "R26 slow peer: retried later, sent" "$(last_run) $(all_sent)" "ok - - 0 0"

# --- while the stub sleeps: no lock held, no transaction id ----------------
add_contacts 2
stub_control mailchimp '{"delay": 3}'
n=$(nreq)
( job_try "CALL crm.mailchimp_sync()" >"$work/mcf_bg.out" ) &
bg=$!
wait_requests $((n + 1))
pid=$(job_pid)
check "while the stub sleeps the job's backend is found" "$([ -n "$pid" ] && echo yes)" "yes"
check "while the stub sleeps the job holds no lock in pg_locks (no row, relation or transaction lock)" \
  "$(qa "SELECT COALESCE(string_agg(locktype || ':' || mode || ':' || COALESCE(relation::regclass::text, ''), ', '), 'none') FROM pg_locks WHERE pid = $pid AND locktype <> 'virtualxid'")" "none"
check "while the stub sleeps the job has no transaction id (nothing written, nothing locked)" \
  "$(qa "SELECT backend_xid IS NULL AND backend_xmin IS NULL FROM pg_stat_activity WHERE pid = $pid")" "t"
check "while the stub sleeps another session can change the queued contacts at once" \
  "$(qa "SET lock_timeout = '200ms'; UPDATE crm.contact SET full_name = full_name WHERE full_name LIKE 'Контакт $batch_no-%'; SELECT 'free'" | tail -1)" "free"
# a second run does not overlap the first: the lease is held
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "a second run while one is in flight does nothing (lease held)" "$out" "holds the lease"
wait $bg
stub_control mailchimp '{"delay": 0}'
check "the first run ends ok" "$(qa "SELECT outcome FROM crm.integration_run WHERE outcome <> 'skipped' ORDER BY id DESC LIMIT 1")" "ok"
job "CALL crm.mailchimp_sync()"    # the contacts touched meanwhile
check "nothing left" "$(all_sent)" "0 0"

# --- pg_cancel_backend during a transfer -----------------------------------
add_contacts 2
stub_control mailchimp '{"delay": 20}'
n=$(nreq)
( job_try "CALL crm.mailchimp_sync()" >"$work/mcf_cancel.out"; now_ms >"$work/mcf_cancel.t" ) &
bg=$!
wait_requests $((n + 1))
sleep 0.3
pid=$(job_pid)
t0=$(now_ms)
qa "SELECT pg_cancel_backend($pid)" >/dev/null
wait $bg
took=$(( $(cat "$work/mcf_cancel.t") - t0 ))
check_match "R26 cancel: the CALL ends with 57014" "$(cat "$work/mcf_cancel.out")" "57014"
check "R26 cancel: it returns within about a second (took ${took} ms)" "$([ "$took" -lt 1500 ] && echo yes)" "yes"
check "R26 cancel: the run is recorded as cancelled" "$(last_run)" "cancelled 57014 -"
check "R26 cancel: the batch is released without counting an attempt" \
  "$(qa "SELECT state || ' ' || attempts || ' ' || (lease_until IS NULL) || ' ' || (next_attempt_at <= now()) FROM crm.outbox_batch ORDER BY id DESC LIMIT 1")" "claimed 0 true true"
stub_control mailchimp '{"delay": 0}'
job "CALL crm.mailchimp_sync()"
check "R26 cancel: the next run sends the batch with the same key" "$(last_run) $(all_sent)" "ok - - 0 0"
check "R26 cancel: same idempotency key" \
  "$(keys_of_last_two | python3 -c 'import json,sys; k=json.load(sys.stdin); print(k[0] == k[1])')" "True"

# --- a run killed mid-flight is taken over after its lease -----------------
add_contacts 4
stub_control mailchimp '{"delay": 6}'
n=$(nreq)
( job_try "CALL crm.mailchimp_sync()" >"$work/mcf_kill.out" ) &
bg=$!
wait_requests $((n + 1))
pid=$(job_pid)
killed_run=$(qa "SELECT run_id FROM crm.integration_peer WHERE peer = 'mailchimp'")
qa "SELECT pg_terminate_backend($pid)" >/dev/null
wait $bg || true
stub_control mailchimp '{"delay": 0}'
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "R26 killed run: until its lease ends, the peer stays with it" "$out" "run $killed_run of mailchimp holds the lease"
sleep 3.2
job "CALL crm.mailchimp_sync()"
check "R26 killed run: after the lease, the next run takes the batch over and sends it" "$(last_run) $(all_sent)" "ok - - 0 0"
check "R26 killed run: the killed run is closed as abandoned" \
  "$(qa "SELECT outcome FROM crm.integration_run WHERE id = $killed_run")" "abandoned"
check "R26 killed run: the take-over re-sent the same members under the same idempotency key" \
  "$(stub_state mailchimp "(lambda b: b[-1]['idempotency_key'] == b[-2]['idempotency_key'] and b[-1]['members'] == b[-2]['members'] and len(b[-1]['members']) == 4)([r for r in s['requests'] if r['path'] == '/3.0/lists/aud9'])")" "true"
check "R26 killed run: MailChimp holds no duplicate and no contact is skipped" \
  "$(stub_state mailchimp "sorted(m['email_address'].lower() for m in s['peer']['members'] if m['status'] == 'subscribed')")" \
  "$(qa "SELECT json_agg(email ORDER BY email) FROM crm.mailchimp_audience" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')"

# --- wrong credentials: a clear error, the job stops until reconfigured ----
add_contacts 1
stub_control mailchimp '{"key": "another-key-us7"}'
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "R26 wrong key: the run fails with 28000" "$out" "^28000"
check_match "R26 wrong key: the error says what MailChimp said" \
  "$(qa "SELECT error FROM crm.integration_run ORDER BY id DESC LIMIT 1")" \
  "^MailChimp refused the credentials: HTTP 401 from POST http://127\.0\.0\.1:[0-9]+/3\.0/lists/aud9: API Key Invalid: Your API key may be invalid"
check_match "R26 wrong key: the DBA sees the peer stopped with the error (crm.integration_status)" \
  "$(qa "SELECT state || ' | ' || last_error FROM crm.integration_status WHERE peer = 'mailchimp'")" "^failed \| MailChimp refused the credentials"
check "R26 wrong key: the batch keeps its attempts (not its fault)" \
  "$(qa "SELECT state || ' ' || attempts FROM crm.outbox_batch ORDER BY id DESC LIMIT 1")" "claimed 0"
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "R26 wrong key: later runs do nothing and say why" "$out" "mailchimp is stopped since .*refused the credentials"
check "R26 wrong key: ...and send nothing" "$(stub_state mailchimp "s['requests'][-1]['auth_ok']")" "false"
integ_secret mailchimp api_key "another-key-us7"
check "R26 wrong key: a new key lifts the stop" "$(qa "SELECT state FROM crm.integration_peer WHERE peer = 'mailchimp'")" "idle"
job "CALL crm.mailchimp_sync()"
check "R26 wrong key: with the right key the batch is sent" "$(last_run) $(all_sent)" "ok - - 0 0"

# --- dead letters -----------------------------------------------------------
q -q -c "SELECT crm.configure('mailchimp', 'max_attempts', '2')"
add_contacts 2
stub_control mailchimp '{"fail": [{"status": 502, "times": 2}]}'
job_try "CALL crm.mailchimp_sync()" >/dev/null
due
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "R26 dead letter: the second failure is reported" "$out" "^58000"
check_match "R26 dead letter: after max_attempts the batch is dead with its last error" \
  "$(qa "SELECT state || ' ' || attempts || ' ' || http_status || ' ' || last_error FROM crm.outbox_batch ORDER BY id DESC LIMIT 1")" \
  "^dead 2 502 MailChimp failed to handle the request: HTTP 502"
check "R26 dead letter: its items are dead too" "$(all_sent)" "0 2"
check "R26 dead letter: crm.integration_status counts it" \
  "$(qa "SELECT dead_batches FROM crm.integration_status WHERE peer = 'mailchimp'")" "1"
due
job "CALL crm.mailchimp_sync()"
check "R26 dead letter: it is not sent again by itself" "$(all_sent)" "0 2"
q -q -c "SELECT crm.outbox_retry((SELECT max(id) FROM crm.outbox_batch))"
job "CALL crm.mailchimp_sync()"
check "R26 dead letter: crm.outbox_retry revives it and it is sent" "$(last_run) $(all_sent)" "ok - - 0 0"

# --- a batch MailChimp refuses as a whole (400) is dead at once -------------
add_contacts 1
stub_control mailchimp '{"fail": [{"status": 400, "times": 1, "body": {"type": "x", "title": "Invalid Resource", "status": 400, "detail": "The resource submitted could not be validated.", "instance": "i"}}]}'
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "R26 400: the run goes on and warns" "$out" "MailChimp refused the request; MailChimp batch [0-9]+ is dead-lettered"
check "R26 400: the run is ok, the batch dead" \
  "$(last_run) $(qa "SELECT state || ' ' || http_status FROM crm.outbox_batch ORDER BY id DESC LIMIT 1")" "ok - - dead 400"
integ_done
