#!/usr/bin/env bash
# Issue 4, item 7 (R4, R5, R26): crm.schedule_jobs() turns the active rows of
# crm.job into pg_cron jobs "crm:<name>" -- created, updated, removed; a
# second call changes nothing -- and the jobs really run from pg_cron (in
# the database crm_cron, cron.use_background_workers = on) against the
# MikoPBX and MailChimp stubs and Dovecot; no run overlaps itself; each
# run's outcome is visible in crm.job_run (cron.job_run_details joined with
# the run log).
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
source "$(dirname "$0")/../lib/dovecot.sh"
INTEG_DB=crm_cron INTEG_JOB=it_cron_job
INTEG_ROLES="it_cron_admin it_cron_super it_cron_nologin it_cron_outsider"
export INTEG_DB INTEG_JOB
cleanup() {
  local c
  for c in "${integ_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  psql -X -q -d crm_cron -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'crm:%'" \
    -c "DELETE FROM cron.job_run_details WHERE command LIKE '%crm.%'" \
    -c "DROP EXTENSION IF EXISTS crm CASCADE" >/dev/null 2>&1 || true
  for c in $INTEG_JOB $INTEG_ROLES; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
[ "$(psql -X -At -d crm_cron -c "SELECT count(*) FROM pg_extension WHERE extname = 'crm'")" = 0 ] ||
  { echo "crm is already installed in crm_cron"; exit 1; }
q -c "CREATE EXTENSION crm"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE ROLE $INTEG_JOB LOGIN IN ROLE crm_integration" \
  -c "CREATE ROLE it_cron_super LOGIN SUPERUSER" -c "CREATE ROLE it_cron_nologin IN ROLE crm_integration" \
  -c "CREATE ROLE it_cron_outsider LOGIN"
q -q -c "SELECT crm.hire('it_cron_admin', 'Админ', 'management', 'admin')"
integ_intake

# the peers
integ_stub mailchimp --key "cron-key-us3" --list "aud3"
integ_stub mikopbx --key "cron-miko-key"
dovecot_start "$work/dovecot-cron" sales 'cron-imap-pw'
integ_cleanups+=("dovecot_stop")
integ_secret mailchimp api_key "cron-key-us3"
integ_secret miko api_key "cron-miko-key"
integ_secret mailbox password "cron-imap-pw"
q -q <<SQL
SELECT crm.configure('mailchimp', 'list_id', 'aud3');
SELECT crm.configure('mailchimp', 'base_url', 'http://127.0.0.1:$MAILCHIMP_PORT/3.0');
SELECT crm.configure('miko', 'url', 'http://127.0.0.1:$MIKOPBX_PORT');
SELECT crm.configure('mailbox', 'url', 'imap://127.0.0.1:$DOVECOT_PORT');
SELECT crm.configure('mailbox', 'username', 'sales');
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'Клиент по расписанию');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT id, 'Контакт ' || g, true FROM crm.counterparty, generate_series(1, 7) g;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'email', 'cron' || id || '@example.com' FROM crm.contact;
SQL
stub_control mikopbx "{\"generate\": {\"calls\": 5, \"legs\": 2, \"start\": \"$(TZ=Europe/Moscow date -d '-1 hour' '+%F %T')\"}}"
printf 'From: cron@client.example\r\nSubject: by cron\r\nMessage-ID: <cron-1@client.example>\r\n\r\nx\r\n' >"$work/cron.eml"
dovecot_deliver "$work/cron.eml"

cronjobs() { qa "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', jobname, schedule, command, database, username, active), E'\n' ORDER BY jobname) FROM cron.job WHERE jobname LIKE 'crm:%'"; }
ours="'miko_poll', 'mail_poll', 'mailchimp_sync'"

# who the jobs run as
check_match "R24 without a role to run as, schedule_jobs says so (22023)" \
  "$(q -At -v VERBOSITY=sqlstate -c "SELECT * FROM crm.schedule_jobs()" 2>&1 || true)" "22023"
for r in it_cron_super it_cron_nologin it_cron_outsider; do
  check_match "R24 the jobs do not run as $r (superuser, no login, not in crm_integration)" \
    "$(q -At -v VERBOSITY=verbose -c "SELECT * FROM crm.schedule_jobs('$r')" 2>&1 || true)" "22023: role \"$r\" cannot run the jobs"
done

# create: every active job of crm.job, each concern's rows included
out=$(psql -X -q -At -U it_cron_admin -d crm_cron -c "SELECT job, action FROM crm.schedule_jobs('$INTEG_JOB')")
check "R24 crm_admin schedules every active crm.job row" \
  "$out" "$(qa "SELECT string_agg(name || '|created', E'\n' ORDER BY name) FROM crm.job WHERE active")"
check "R24 ...as pg_cron jobs crm:<name> running in this database as the job role" \
  "$(qa "SELECT count(*) FROM cron.job c JOIN crm.job j ON c.jobname = 'crm:' || j.name AND c.schedule = j.schedule AND c.command = j.command AND c.database = 'crm_cron' AND c.username = '$INTEG_JOB' AND c.active")" \
  "$(qa "SELECT count(*) FROM crm.job WHERE active")"
check "R4 R5 R26 the integration jobs: PBX and mailbox every minute, MailChimp every 15 minutes" \
  "$(qa "SELECT string_agg(jobname || ' ' || schedule || ' ' || command, '; ' ORDER BY jobname) FROM cron.job WHERE jobname IN ('crm:miko_poll', 'crm:mail_poll', 'crm:mailchimp_sync')")" \
  "crm:mail_poll * * * * * CALL crm.mail_poll(); crm:mailchimp_sync */15 * * * * CALL crm.mailchimp_sync(); crm:miko_poll * * * * * CALL crm.miko_poll()"
before=$(qa "SELECT string_agg(c::text, E'\n' ORDER BY jobid) FROM cron.job c")
out=$(qa "SELECT string_agg(DISTINCT action, ',') FROM crm.schedule_jobs('$INTEG_JOB')")
check "R24 re-running schedule_jobs changes nothing" "$out $(qa "SELECT string_agg(c::text, E'\n' ORDER BY jobid) FROM cron.job c" | md5sum)" "unchanged $(echo "$before" | md5sum)"

# the role from the settings; an inactive job goes; a removed row goes
q -q -c "SELECT crm.configure('jobs', 'run_as', '$INTEG_JOB')"
q -q -c "INSERT INTO crm.job (name, schedule, command, description) VALUES ('it_extra', '0 3 * * *', 'SELECT crm.normalize_phone(''1'')', 'a test job')"
check "R24 a new crm.job row is created (run_as from jobs.run_as)" \
  "$(qa "SELECT action FROM crm.schedule_jobs() WHERE job = 'it_extra'")" "created"
q -q -c "UPDATE crm.job SET active = false WHERE name = 'it_extra'"
check "R24 an inactive job is unscheduled" "$(qa "SELECT action FROM crm.schedule_jobs() WHERE job = 'it_extra'") $(qa "SELECT count(*) FROM cron.job WHERE jobname = 'crm:it_extra'")" "removed 0"
q -q -c "UPDATE crm.job SET active = true WHERE name = 'it_extra'" -c "SELECT crm.schedule_jobs()" -c "DELETE FROM crm.job WHERE name = 'it_extra'"
check "R24 a deleted crm.job row is unscheduled" "$(qa "SELECT action FROM crm.schedule_jobs() WHERE job = 'it_extra'") $(qa "SELECT count(*) FROM cron.job WHERE jobname = 'crm:it_extra'")" "removed 0"

# pg_cron 1.4 (Debian 12) schedules by the minute: the jobs run at the next
# minute.  Every job runs each minute here, and a second pg_cron job
# (crm:miko_poll_2) starts the same procedure at the same moment, while the
# PBX answers slowly: the two runs never overlap.
q -q -c "UPDATE crm.job SET schedule = '* * * * *' WHERE name IN ($ours)" \
  -c "INSERT INTO crm.job (name, schedule, command, description) VALUES ('miko_poll_2', '* * * * *', 'CALL crm.miko_poll()', 'the PBX poll again, at the same time')"
stub_control mikopbx '{"delay": 3}'
# schedule late in a minute so that the next one comes soon
while [ "$(date +%S)" -lt 40 ]; do sleep 1; done
check "R24 changed schedules update the pg_cron jobs" \
  "$(qa "SELECT string_agg(job || ':' || action, ' ' ORDER BY job) FROM crm.schedule_jobs() WHERE job IN ($ours, 'miko_poll_2')")" \
  "mail_poll:unchanged mailchimp_sync:updated miko_poll:unchanged miko_poll_2:created"
for i in $(seq 1 90); do
  n=$(qa "SELECT count(DISTINCT peer) FROM crm.integration_run WHERE outcome = 'ok'")
  [ "$n" = 3 ] && [ "$(qa "SELECT count(*) FROM cron.job_run_details WHERE status IN ('starting', 'running')")" = 0 ] && break
  sleep 1
done
check "R4 R5 R26 the three jobs ran from pg_cron and succeeded" \
  "$(qa "SELECT string_agg(DISTINCT c.jobname || ':' || d.status, ' ') FROM cron.job_run_details d JOIN cron.job c USING (jobid) WHERE c.jobname IN ('crm:miko_poll', 'crm:mail_poll', 'crm:mailchimp_sync')")" \
  "crm:mail_poll:succeeded crm:mailchimp_sync:succeeded crm:miko_poll:succeeded"
check "R4 pg_cron's MikoPBX job pulled the calls" "$(qa "SELECT count(*) FROM $CALLS")" "5"
check "R5 pg_cron's mailbox job loaded the message" "$(qa "SELECT count(*) FROM $MAILS")" "1"
check "R26 pg_cron's MailChimp job pushed the contacts" \
  "$(stub_state mailchimp "len([m for m in s['peer']['members'] if m['status'] == 'subscribed'])")" "7"
check "R24 the runs were made by the job role in pg_cron's background workers" \
  "$(qa "SELECT string_agg(DISTINCT run_by, ' ') FROM crm.integration_run WHERE outcome = 'ok'")" "$INTEG_JOB"
check "R24 crm.job_run shows each pg_cron run with the outcome its procedure recorded" \
  "$(qa "SELECT string_agg(DISTINCT regexp_replace(job, '_2$', '') || ':' || cron_status || ':' || outcome || ':' || peer, ' ') FROM crm.job_run WHERE source = 'pg_cron' AND outcome = 'ok'")" \
  "mail_poll:succeeded:ok:mailbox mailchimp_sync:succeeded:ok:mailchimp miko_poll:succeeded:ok:miko"
check "R24 ...with what each run did" \
  "$(qa "SELECT (detail->>'ingested') || ' ' || (detail->>'calls') FROM crm.job_run WHERE peer = 'miko' AND outcome = 'ok'")" "5 5"
check "R24 the PBX poll started twice at once ran once; the other run saw the lease and did nothing" \
  "$(qa "SELECT string_agg(outcome, ' ' ORDER BY outcome) FROM crm.job_run WHERE source = 'pg_cron' AND peer = 'miko'")" "ok skipped"
check "R24 runs of one procedure never overlap" \
  "$(qa "SELECT count(*) FROM crm.integration_run a JOIN crm.integration_run b ON a.peer = b.peer AND a.id < b.id WHERE a.outcome <> 'skipped' AND b.outcome <> 'skipped' AND tstzrange(a.started_at, COALESCE(a.finished_at, 'infinity')) && tstzrange(b.started_at, COALESCE(b.finished_at, 'infinity'))")" "0"
check_match "R24 ...though the slow run and the skipped one were at the same time" \
  "$(qa "SELECT count(*) FROM crm.integration_run a JOIN crm.integration_run b ON a.peer = 'miko' AND b.peer = 'miko' AND a.outcome = 'ok' AND b.outcome = 'skipped' WHERE b.started_at BETWEEN a.started_at AND a.finished_at")" "^1$"

# a failing job: pg_cron records the failure, crm.job_run the reason
stub_control mikopbx '{"delay": 0, "key": "rotated"}'
q -q -c "UPDATE crm.job SET active = false WHERE name IN ('miko_poll_2', 'mail_poll', 'mailchimp_sync')" -c "SELECT crm.schedule_jobs()"
for i in $(seq 1 75); do
  [ "$(qa "SELECT count(*) FROM crm.job_run WHERE job = 'miko_poll' AND cron_status = 'failed'")" -gt 0 ] && break
  sleep 1
done
check_match "R4 a refused key: pg_cron shows the run failed with crm's message" \
  "$(qa "SELECT cron_message FROM crm.job_run WHERE job = 'miko_poll' AND cron_status = 'failed' LIMIT 1")" \
  "MikoPBX refused the credentials"
check "R4 ...and crm.job_run the outcome the procedure recorded" \
  "$(qa "SELECT outcome || ' ' || sqlstate FROM crm.job_run WHERE job = 'miko_poll' AND cron_status = 'failed' LIMIT 1")" "error 28000"
check "R4 ...no key in what pg_cron recorded" "$(qa "SELECT count(*) FROM cron.job_run_details WHERE return_message LIKE '%cron-miko-key%'")" "0"
q -q -c "UPDATE crm.job SET active = false" -c "SELECT crm.schedule_jobs()"
check "R24 with every job inactive nothing of crm is scheduled" "$(qa "SELECT count(*) FROM cron.job WHERE jobname LIKE 'crm:%'")" "0"
integ_done
