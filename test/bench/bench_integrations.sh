#!/usr/bin/env bash
# test/bench/bench_integrations.sh -- the integration jobs against their stubs
# (issue 4, item 11), run by test/bench/run.sh (CRM_BENCH_ONLY=integrations):
#
#  MailChimp (R26): crm.mailchimp_sync() of N new contacts -- HTTP requests
#    made (goal for 10k: <= 21) and wall time, against the stub's own floor:
#    a minimal Python client POSTing the same batches to the same stub.
#  MikoPBX (R4): crm.miko_poll() of N CDR rows (2 legs a call) -- calls
#    ingested per second, against the same calls handed straight to
#    crm.ingest_call by one SQL statement in a fresh database (goal >= 80%).
#
#  CRM_BENCH_SIZES   sizes to measure (default "1000 10000")
#  CRM_BENCH_ROUNDS  each measurement is the best of this many runs,
#                    workloads interleaved (default 5; the machine is shared)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
source "$top/test/bench/lib.sh"
source "$top/test/lib/stubs.sh"
work=${CRM_TEST_WORK:?run through test/bench/run.sh}
sizes=${CRM_BENCH_SIZES:-1000 10000}
rounds=${CRM_BENCH_ROUNDS:-5}
min() { [ -z "$1" ] || [ "$2" -lt "$1" ] && echo "$2" || echo "$1"; }
trap 'stub_stop mailchimp; stub_stop mikopbx' EXIT
now_ms() { date +%s%3N; }
# CPU time of the session's backend so far, in ms (the machine is shared: CPU
# time is steadier than wall time); call it as the last statement of a psql
cpu_sql="SELECT (split_part(s, ' ', 12)::bigint + split_part(s, ' ', 13)::bigint) * 10
           FROM (SELECT regexp_replace(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), '^.*\\) ', '') AS s) x"
secs() { awk -v ms="$1" 'BEGIN { printf "%.2f", ms / 1000 }'; }

stub_start mailchimp "$work" --key "bench0123456789-us9" --list "benchaud"
stub_start mikopbx "$work" --key "bench-miko-key"

newdb() {   # a fresh database with crm
  PGOPTIONS="-c client_min_messages=warning" bpsql -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
  bpsql -d "$1" -c "CREATE EXTENSION crm"
}

# ---- MailChimp -----------------------------------------------------------------
floor_client() {   # n members in batches of 500, as crm sends them; prints ms
  python3 - "$MAILCHIMP_PORT" "$1" <<'PY'
import base64, http.client, json, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
auth = "Basic " + base64.b64encode(b"crm:bench0123456789-us9").decode()
conn = http.client.HTTPConnection("127.0.0.1", port)
t0 = time.monotonic()
for start in range(0, n, 500):
    members = [{"email_address": f"floor{i}@example.com", "status": "subscribed",
                "merge_fields": {"FNAME": "Контакт", "LNAME": str(i)}, "tags": ["client"]}
               for i in range(start, min(n, start + 500))]
    body = json.dumps({"members": members, "update_existing": True}, ensure_ascii=False).encode()
    conn.request("POST", "/3.0/lists/benchaud", body,
                 {"Authorization": auth, "Content-Type": "application/json", "Accept": "application/json"})
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
print(int((time.monotonic() - t0) * 1000))
PY
}

echo "MailChimp sync (R26): new contacts with consent, one run of crm.mailchimp_sync()"
printf '%8s %9s %10s %10s %12s %8s %16s\n' contacts requests crm_s floor_s crm/floor members unchanged_rerun
for n in $sizes; do
  db=bench_mc_$n
  crm_ms= floor_ms= rerun_ms=
  for r in $(seq 1 "$rounds"); do
    newdb $db
    bpsql -d $db <<SQL >/dev/null
SELECT crm.configure('mailchimp', 'list_id', 'benchaud');
SELECT crm.configure('mailchimp', 'base_url', 'http://127.0.0.1:$MAILCHIMP_PORT/3.0');
SELECT crm.configure('mailchimp', 'api_key', 'bench0123456789-us9');
INSERT INTO crm.counterparty (kind, name) SELECT 'client', 'Клиент ' || g FROM generate_series(1, ($n + 9) / 10) g;
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT k.id, 'Контакт ' || g, true FROM generate_series(1, $n) g JOIN crm.counterparty k ON k.name = 'Клиент ' || ((g - 1) / 10 + 1);
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'email', 'bench' || id || '@example.com' FROM crm.contact;
SQL
    stub_control mailchimp '{"members_clear": true}'
    curl -sf -X POST "http://127.0.0.1:$MAILCHIMP_PORT/_control/log/clear" >/dev/null
    t0=$(now_ms); bpsql -d $db -c "CALL crm.mailchimp_sync()"; crm_ms=$(min "$crm_ms" $(( $(now_ms) - t0 )))
    reqs=$(stub_state mailchimp "len(s['requests'])")
    members=$(stub_state mailchimp "len(s['peer']['members'])")
    t0=$(now_ms); bpsql -d $db -c "SELECT crm.mailchimp_resync()" -c "CALL crm.mailchimp_sync()" >/dev/null
    rerun_ms=$(min "$rerun_ms" $(( $(now_ms) - t0 )))
    rerun_reqs=$(( $(stub_state mailchimp "len(s['requests'])") - reqs ))
    stub_control mailchimp '{"members_clear": true}'
    floor_ms=$(min "$floor_ms" "$(floor_client "$n")")
    bpsql -d postgres -c "DROP DATABASE $db"
  done
  printf '%8s %9s %10s %10s %12s %8s %16s\n' "$n" "$reqs" "$(secs $crm_ms)" "$(secs $floor_ms)" \
    "$(ratio $crm_ms $floor_ms)" "$members" "${rerun_reqs}req/$(secs $rerun_ms)s"
done

# ---- MikoPBX -------------------------------------------------------------------
echo
echo "MikoPBX poll (R4): CDR rows of 2 legs a call, one run of crm.miko_poll(), against crm.ingest_call direct"
printf '%8s %7s %9s %8s %8s %12s %14s %7s %10s %12s %9s %16s\n' cdr_rows calls requests poll_s stub_s poll_calls/s direct_calls/s ratio poll_cpu_s direct_cpu_s cpu_ratio unchanged_repoll
start=$(TZ=Europe/Moscow date -d '-20 hours' '+%F %T')
stub_pages() {   # the stub alone: the same pages fetched by a minimal client; prints ms
  python3 - "$MIKOPBX_PORT" "$1" <<'PY'
import http.client, json, sys, time, urllib.parse
port, date_from = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port)
t0, offset = time.monotonic(), 0
while True:
    q = urllib.parse.urlencode({"dateFrom": date_from, "limit": 1000, "offset": offset, "grouped": "false",
                                "sort": "id", "order": "ASC"})
    conn.request("GET", "/pbxcore/api/v3/cdr?" + q, headers={"Authorization": "Bearer bench-miko-key"})
    page = json.loads(conn.getresponse().read())["data"]
    offset += len(page["records"])
    if not page["pagination"]["hasMore"] or not page["records"]:
        break
print(int((time.monotonic() - t0) * 1000))
PY
}
for rows in $sizes; do
  calls=$((rows / 2))
  stub_control mikopbx "{\"cdr_clear\": true, \"generate\": {\"calls\": $calls, \"legs\": 2, \"start\": \"$start\", \"step_seconds\": 7}}"
  poll_ms= direct_ms= repoll_ms= stub_ms= poll_cpu= direct_cpu=
  for r in $(seq 1 "$rounds"); do
    db=bench_miko_$rows
    newdb $db
    bpsql -d $db -c "SELECT crm.configure('miko', 'url', 'http://127.0.0.1:$MIKOPBX_PORT')" \
      -c "SELECT crm.configure('miko', 'api_key', 'bench-miko-key')" -c "SELECT crm.configure('miko', 'timezone', 'Europe/Moscow')" >/dev/null
    curl -sf -X POST "http://127.0.0.1:$MIKOPBX_PORT/_control/log/clear" >/dev/null
    t0=$(now_ms); cpu=$(bpsql -At -d $db -c "CALL crm.miko_poll()" -c "$cpu_sql"); poll_ms=$(min "$poll_ms" $(( $(now_ms) - t0 )))
    poll_cpu=$(min "$poll_cpu" "$cpu")
    reqs=$(stub_state mikopbx "len(s['requests'])")
    got=$(bpsql -At -d $db -c "SELECT count(*) FROM crm.miko_call_seen WHERE outcome = 'ingested'")
    date_from=$(stub_state mikopbx "s['requests'][0]['params']['dateFrom']" | tr -d '"')
    t0=$(now_ms); bpsql -d $db -c "CALL crm.miko_poll()"; repoll_ms=$(min "$repoll_ms" $(( $(now_ms) - t0 )))
    repoll_reqs=$(( $(stub_state mikopbx "len(s['requests'])") - reqs ))
    bpsql -d postgres -c "DROP DATABASE $db"
    stub_ms=$(min "$stub_ms" "$(stub_pages "$date_from")")
    # the same calls (as the stub generated them) straight to crm.ingest_call
    direct=bench_direct_$rows
    newdb $direct
    t0=$(now_ms)
    cpu=$(bpsql -At -d $direct -c "SELECT count(crm.ingest_call(
        linkedid => 'direct-' || i, caller => (79160000000 + i)::text, called => '74951000000',
        started_at => (s AT TIME ZONE 'Europe/Moscow'), answered_at => ((s + interval '8 seconds') AT TIME ZONE 'Europe/Moscow'),
        ended_at => ((s + interval '65 seconds') AT TIME ZONE 'Europe/Moscow'), duration => 65, billsec => 57,
        disposition => 'ANSWERED', recording => '/storage/usbdisk1/mikopbx/astspool/monitor/direct-' || i || '.mp3'))
      FROM (SELECT i, '$start'::timestamp + make_interval(secs => i * 7) AS s FROM generate_series(0, $calls - 1) i) x" \
      -c "$cpu_sql" | tail -1)
    direct_ms=$(min "$direct_ms" $(( $(now_ms) - t0 )))
    direct_cpu=$(min "$direct_cpu" "$cpu")
    bpsql -d postgres -c "DROP DATABASE $direct"
  done
  poll_rate=$(awk -v n="$got" -v ms="$poll_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
  direct_rate=$(awk -v n="$calls" -v ms="$direct_ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
  printf '%8s %7s %9s %8s %8s %12s %14s %7s %10s %12s %9s %16s\n' "$rows" "$got" "$reqs" "$(secs $poll_ms)" "$(secs $stub_ms)" \
    "$poll_rate" "$direct_rate" "$(ratio $poll_rate $direct_rate)" "$(secs $poll_cpu)" "$(secs $direct_cpu)" \
    "$(ratio $direct_cpu $poll_cpu)" "${repoll_reqs}req/$(secs $repoll_ms)s"
done
echo
echo "goals: MailChimp <= 21 requests for 10000 contacts; PBX poll >= 0.80 of direct crm.ingest_call"
echo "(stub_s: the stub serving the same pages to a minimal client -- part of poll_s; best of $rounds rounds each;"
echo " cpu: the backend's CPU time, poll against direct -- steadier than wall time on a shared machine)"
