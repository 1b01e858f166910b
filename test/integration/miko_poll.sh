#!/usr/bin/env bash
# R4: crm.miko_poll() against the MikoPBX v3 stub (test/stubs/mikopbx.py):
# GET /pbxcore/api/v3/cdr with Bearer key, dateFrom, limit <= 1000, offset,
# page after page; the legs of one call grouped by linkedid and handed to
# crm.ingest_call once; re-polling the overlap never duplicates; a leg that
# arrives late re-hands its call; a refused call is quarantined with its
# legs; 503 backs off; 401/403 stop with a clear recorded error; a garbled
# answer, a slow PBX and a cancel are handled as for every peer.
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
integ_setup crm_it_miko it_miko_job
integ_intake
key="miko-key-0123456789"
integ_stub mikopbx --key "$key"
integ_secret miko api_key "$key"
q -q <<SQL
SELECT crm.configure('miko', 'url', 'http://127.0.0.1:$MIKOPBX_PORT');
SELECT crm.configure('miko', 'overlap_minutes', '240');
SELECT crm.configure('miko', 'backoff_base_seconds', '1');
SELECT crm.configure('miko', 'backoff_max_seconds', '1');
SQL
# the PBX writes its local time (the cluster's time zone, Europe/Moscow)
pbx_time() { TZ=Europe/Moscow date -d "$1" '+%F %T'; }
reqs() { stub_state mikopbx "[r['params'] for r in s['requests'] if 'params' in r]"; }
last_run() { qa "SELECT outcome || ' ' || COALESCE(sqlstate, '-') || ' ' || COALESCE(http_status::text, '-') FROM crm.integration_run ORDER BY id DESC LIMIT 1"; }
detail() { qa "SELECT COALESCE(detail->>'$1', '-') FROM crm.integration_run WHERE outcome <> 'skipped' ORDER BY id DESC LIMIT 1"; }
handed() { qa "SELECT count(*) FROM $CALLS"; }

# 1200 calls of 2 legs each (the first unanswered, the second answered)
start=$(pbx_time '-5 hours')
stub_control mikopbx "{\"generate\": {\"calls\": 1200, \"legs\": 2, \"start\": \"$start\", \"step_seconds\": 10}}"
job "CALL crm.miko_poll()"
check "R4 the CDR is read in pages of 1000 rows, oldest id first, ungrouped, from dateFrom" \
  "$(reqs | python3 -c 'import json,sys; print([(p["limit"], p["offset"], p["grouped"], p["sort"], p["order"], len(p["dateFrom"])) for p in json.load(sys.stdin)])')" \
  "[('1000', '0', 'false', 'id', 'ASC', 19), ('1000', '1000', 'false', 'id', 'ASC', 19), ('1000', '2000', 'false', 'id', 'ASC', 19)]"
check "R4 the first poll reaches back initial_days (1 day)" \
  "$(reqs | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dateFrom"][:13])')" "$(pbx_time '-1 day' | cut -c1-13)"
check "R4 the PBX is asked with the API key as Bearer" \
  "$(stub_state mikopbx "sorted(set((r['authorization'], r['auth_ok']) for r in s['requests']))")" '[["Bearer", true]]'
check "R4 2400 legs make 1200 calls, each handed once" "$(detail rows) $(detail calls) $(detail ingested) $(handed)" "2400 1200 1200 1200"
check "R4 a call is its legs together: caller, the DID called, first start, answer and end, billsec, disposition, recording" \
  "$(qa "SELECT caller || ' ' || called || ' ' || to_char(occurred_at, 'HH24:MI:SS') || ' ' || to_char(answered_at - occurred_at, 'SS') || ' ' || to_char(ended_at - occurred_at, 'MI:SS') || ' ' || duration || ' ' || billsec || ' ' || disposition || ' ' || (recording LIKE '%.mp3') FROM $CALLS ORDER BY occurred_at LIMIT 1")" \
  "79160000000 74951000000 ${start:11} 08 01:05 65 57 ANSWERED true"
check "R4 the PBX's local times are read in its time zone" \
  "$(qa "SELECT to_char(min(occurred_at) AT TIME ZONE 'Europe/Moscow', 'YYYY-MM-DD HH24:MI:SS') FROM $CALLS")" "$start"
check "R4 every call is remembered with its legs" \
  "$(qa "SELECT count(*) || ' ' || min(legs) || ' ' || max(legs) || ' ' || count(*) FILTER (WHERE interaction_id IS NOT NULL) FROM crm.miko_call_seen")" "1200 2 2 1200"
wm=$(qa "SELECT watermark->>'start' FROM crm.integration_peer WHERE peer = 'miko'")
check "R4 the watermark is the latest call start" "$wm" "$(TZ=UTC date -d "$start UTC + $((1199 * 10 + 5)) seconds" '+%F %T').000"

check "R4 the poll's own transactions commit asynchronously; the session's setting is untouched" \
  "$(psql -X -q -At -U "$INTEG_JOB" -d "$INTEG_DB" -c "SET synchronous_commit = on" -c "CALL crm.miko_poll()" -c "SHOW synchronous_commit")" "on"

# re-polling: the overlap is read again, nothing is handed twice
curl -sf -X POST "http://127.0.0.1:$MIKOPBX_PORT/_control/log/clear" >/dev/null
job "CALL crm.miko_poll()"
check "R4 the next poll starts at the watermark minus the overlap (240 min)" \
  "$(reqs | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dateFrom"])')" \
  "$(TZ=UTC date -d "${wm%.*} UTC - 240 minutes" '+%F %T')"
check "R4 re-polling hands nothing again" "$(detail calls) $(detail unchanged) $(detail ingested) $(handed)" "1200 1200 - 1200"

# a leg that arrives late joins its call, which is handed again
lk=$(qa "SELECT linkedid FROM crm.miko_call_seen ORDER BY started_at LIMIT 1")
late=$(TZ=UTC date -d "$start UTC + 70 seconds" '+%F %T')
late_end=$(TZ=UTC date -d "$start UTC + 130 seconds" '+%F %T')
stub_control mikopbx "{\"add_cdr\": [{\"start\": \"$late.000\", \"answer\": \"$late.000\", \"endtime\": \"$late_end.000\", \"src_num\": \"202\", \"dst_num\": \"203\", \"linkedid\": \"$lk\", \"disposition\": \"ANSWERED\", \"duration\": 60, \"billsec\": 60}]}"
job "CALL crm.miko_poll()"
check "R4 a late leg re-hands its call (3 legs), the others stay" "$(detail ingested) $(detail unchanged)" "1 1199"
check "R4 ...and the call now ends with the late leg" \
  "$(qa "SELECT to_char(ended_at - occurred_at, 'MI:SS') || ' ' || billsec FROM $CALLS WHERE dedup_key = 'call:$lk'")" "02:10 117"
check "R4 still one call per linkedid" "$(handed)" "1200"

# a call crm refuses is quarantined with its legs; a garbled time too
t=$(pbx_time '-1 hour')
stub_control mikopbx "{\"add_cdr\": [{\"start\": \"$t\", \"answer\": \"$t\", \"endtime\": \"$t\", \"src_num\": \"79161112233\", \"dst_num\": \"201\", \"did\": \"74951000000\", \"linkedid\": \"bad-billsec\", \"disposition\": \"ANSWERED\", \"duration\": 10, \"billsec\": 50}, {\"start\": \"${t:0:5}13-45 99:99:99\", \"src_num\": \"79161112244\", \"dst_num\": \"201\", \"linkedid\": \"bad-time\", \"disposition\": \"NO ANSWER\"}, {\"start\": \"$t\", \"endtime\": \"$t\", \"src_num\": \"79161112255\", \"dst_num\": \"201\", \"did\": \"74951000000\", \"linkedid\": \"good-among-bad\", \"disposition\": \"NO ANSWER\"}]}"
out=$(job_try "CALL crm.miko_poll()")
check "R4 refused calls do not fail the run" "$out" ""
check "R4 two calls quarantined, the good one among them handed (the batch redone call by call)" \
  "$(detail quarantined) $(detail ingested) $(detail chunks_redone) $(qa "SELECT count(*) FROM $CALLS WHERE dedup_key = 'call:good-among-bad'")" "2 1 1 1"
check "R4 the refused call is in quarantine with its legs and the error" \
  "$(qa "SELECT sqlstate || ' ' || error || ' | ' || jsonb_array_length(data->'legs') || ' ' || (data->'legs'->0->>'billsec') FROM crm.integration_quarantine WHERE source_key = 'bad-billsec'")" \
  "22023 a call's billsec must lie between 0 and its duration | 1 50"
check "R4 the call with a garbled time is in quarantine" \
  "$(qa "SELECT sqlstate FROM crm.integration_quarantine WHERE source_key = 'bad-time'")" "22008"
check "R4 crm.integration_status counts them" "$(qa "SELECT quarantined FROM crm.integration_status WHERE peer = 'miko'")" "2"
out=$(job_try "CALL crm.miko_poll()")
check "R4 a quarantined call is not retried by every poll" \
  "$(qa "SELECT attempts FROM crm.integration_quarantine WHERE source_key = 'bad-billsec'")" "1"
check "R4 crm.quarantine_retry loads it again (and it is refused again)" \
  "$(qa "SELECT crm.quarantine_retry(id) FROM crm.integration_quarantine WHERE source_key = 'bad-billsec'") $(qa "SELECT attempts FROM crm.integration_quarantine WHERE source_key = 'bad-billsec'")" \
  "quarantined 2"

# 503: the PBX's queue is full -- back off
stub_control mikopbx '{"fail": [{"status": 503, "times": 1}]}'
out=$(job_try "CALL crm.miko_poll()")
check_match "R4 503 fails the run with 57P03" "$out" "^57P03: MikoPBX is temporarily unavailable"
check_match "R4 503: the recorded error carries the PBX's message" \
  "$(qa "SELECT error FROM crm.integration_run ORDER BY id DESC LIMIT 1")" "HTTP 503 from GET .*: Service temporarily unavailable, please retry later"
check "R4 503: the job backs off" "$(qa "SELECT state || ' ' || (next_attempt_at > now()) FROM crm.integration_peer WHERE peer = 'miko'")" "backoff true"
sleep 1.1
job "CALL crm.miko_poll()"
check "R4 503: retried later" "$(last_run)" "ok - -"

# garbled answer
stub_control mikopbx '{"malformed": 1}'
out=$(job_try "CALL crm.miko_poll()")
check_match "R4 a garbled answer fails the run with 22032" "$out" "^22032: MikoPBX gave an answer crm cannot read"
sleep 1.1

# a slow PBX: fails within the timeout plus a margin
stub_control mikopbx '{"delay": 4}'
t0=$(now_ms)
out=$(PGOPTIONS="-c crm.http_timeout=800" job_try "CALL crm.miko_poll()")
took=$(( $(now_ms) - t0 ))
check_match "R4 a slow PBX fails the run with 08006" "$out" "^08006: MikoPBX did not answer within 800 ms"
check "R4 ...within the timeout plus 0.9 s (took $took ms)" "$([ "$took" -lt 1700 ] && echo yes)" "yes"
sleep 1.1

# cancel during the transfer
( job_try "CALL crm.miko_poll()" >"$work/miko_cancel.out"; now_ms >"$work/miko_cancel.t" ) &
bg=$!
for i in $(seq 1 50); do
  pid=$(qa "SELECT pid FROM pg_stat_activity WHERE usename = '$INTEG_JOB' AND query LIKE 'CALL crm.miko_poll()%' AND state = 'active'")
  [ -n "$pid" ] && break; sleep 0.1
done
sleep 0.5
t0=$(now_ms)
qa "SELECT pg_cancel_backend($pid)" >/dev/null
wait $bg
took=$(( $(cat "$work/miko_cancel.t") - t0 ))
check_match "R4 cancel: the CALL ends with 57014" "$(cat "$work/miko_cancel.out")" "57014"
check "R4 cancel: within about a second (took $took ms)" "$([ "$took" -lt 1500 ] && echo yes)" "yes"
check "R4 cancel: recorded, the peer free again" \
  "$(last_run) $(qa "SELECT state FROM crm.integration_peer WHERE peer = 'miko'")" "cancelled 57014 - idle"
stub_control mikopbx '{"delay": 0}'

# wrong key: 401 stops the job with the PBX's words; 403 likewise
stub_control mikopbx '{"key": "rotated-key"}'
out=$(job_try "CALL crm.miko_poll()")
check_match "R4 401 fails the run with 28000" "$out" "^28000: MikoPBX refused the credentials"
check_match "R4 401: the DBA sees why" "$(qa "SELECT state || ' | ' || last_error FROM crm.integration_status WHERE peer = 'miko'")" \
  "^failed \| MikoPBX refused the credentials: HTTP 401 from GET http://127.0.0.1:[0-9]+/pbxcore/api/v3/cdr\?.*: The user isn't authenticated\.$"
out=$(job_try "CALL crm.miko_poll()")
check_match "R4 401: the job stays stopped" "$out" "miko is stopped since"
integ_secret miko api_key "rotated-key"
stub_control mikopbx '{"forbidden": true}'
out=$(job_try "CALL crm.miko_poll()")
check_match "R4 403 stops the job too" \
  "$out $(qa "SELECT last_error FROM crm.integration_peer WHERE peer = 'miko'")" \
  "^28000: MikoPBX refused the credentials.*HTTP 403 .*Access denied"
stub_control mikopbx '{"forbidden": false}'
q -q -c "SELECT crm.integration_reset('miko')"
job "CALL crm.miko_poll()"
check "R4 after the DBA's fix it polls again" "$(last_run)" "ok - -"
integ_done
