#!/usr/bin/env bash
# Issue 4, item 6 (R24, R26): the peers' keys and passwords are readable only
# by crm_admin and the job role (crm_integration) -- not through SHOW,
# pg_settings, current_setting(), a SELECT by any other role, an error
# message (even when the peer repeats the key it got), pg_stat_activity, or
# the server log, with every statement and every error logged verbosely.
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
integ_setup crm_it_secrets it_sec_job
mc_key="s3cr3tMailchimpKey0123456789-us5"
miko_key="S3cretMikoBearerToken-987654"
imap_pw="S3cretImapPassw0rd"
integ_stub mailchimp --key "other-key-us5" --list "aud5"
integ_stub mikopbx --key "other-miko-key"
INTEG_ROLES="it_sec_admin it_sec_head it_sec_mgr it_sec_mkt it_sec_triage it_sec_wh it_sec_bi"
q -q <<'SQL'
SELECT crm.hire('it_sec_admin', 'Админ', 'management', 'admin');
SELECT crm.hire('it_sec_head', 'Глава', 'alto', 'head');
SELECT crm.hire('it_sec_mgr', 'Менеджер', 'alto', 'manager');
SELECT crm.hire('it_sec_mkt', 'Маркетолог', 'marketing', 'marketing');
SELECT crm.hire('it_sec_triage', 'Разбор', 'management', 'triage');
SELECT crm.hire('it_sec_wh', 'Склад', 'warehouse', 'warehouse');
CREATE ROLE it_sec_bi LOGIN IN ROLE crm_reader;
SQL
# log every statement (with its parameters) and every error verbosely
q -q -c "ALTER DATABASE $INTEG_DB SET log_statement = 'all'" \
  -c "ALTER DATABASE $INTEG_DB SET log_error_verbosity = 'verbose'" \
  -c "ALTER DATABASE $INTEG_DB SET log_min_error_statement = 'debug5'" \
  -c "ALTER DATABASE $INTEG_DB SET log_min_messages = 'info'" \
  -c "ALTER DATABASE $INTEG_DB SET log_parameter_max_length_on_error = -1" \
  -c "ALTER DATABASE $INTEG_DB SET log_min_duration_statement = 0"

# the keys are loaded with COPY (a crm_admin would do the same): the data of
# COPY ... FROM STDIN is not a statement, no statement log records it
load() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" | psql -X -q -v ON_ERROR_STOP=1 -U it_sec_admin -d "$INTEG_DB" \
  -c "COPY crm.integration_setting_load (peer, name, value) FROM STDIN"; }
load mailchimp api_key "$mc_key"
load miko api_key "$miko_key"
load mailbox password "$imap_pw"
psql -X -q -v ON_ERROR_STOP=1 -U it_sec_admin -d "$INTEG_DB" <<SQL
SELECT crm.configure('mailchimp', 'list_id', 'aud5');
SELECT crm.configure('mailchimp', 'base_url', 'http://127.0.0.1:$MAILCHIMP_PORT/3.0');
SELECT crm.configure('miko', 'url', 'http://127.0.0.1:$MIKOPBX_PORT');
SELECT crm.configure('mailbox', 'url', 'imap://127.0.0.1:1');
SELECT crm.configure('mailbox', 'username', 'sales');
SQL
q -q -c "INSERT INTO crm.counterparty (kind, name) VALUES ('lead', 'L');
         INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent) SELECT id, 'Иван Иванов', true FROM crm.counterparty;
         INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value) SELECT id, counterparty_id, 'email', 'i@example.com' FROM crm.contact;"
# runs SQL as a role (each -c on its own: a CALL must not share a transaction)
as() { local r=$1; shift; local a=(); for c in "$@"; do a+=(-c "$c"); done
       psql -X -q -At -U "$r" -d "$INTEG_DB" -v VERBOSITY=verbose "${a[@]}" 2>&1 || true; }
md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }
# (no statement of this test carries a key: the server log is checked below)
secret_in() { grep -F -e "$mc_key" -e "$miko_key" -e "$imap_pw" -e "$(printf 'crm:%s' "$mc_key" | base64 -w0)" >/dev/null; }
# "clean" when the text holds no key; a query output must hold no error either
has_secret() { local t; t=$(cat); if secret_in <<<"$t"; then echo LEAK; elif [[ "$t" == *"ERROR:  "[0-9A-Z]* && "$t" != *"28000"* && "$t" != *"08001"* ]]; then echo "query failed: $t"; else echo clean; fi; }

check "the admin reads the keys" \
  "$(as it_sec_admin "SELECT count(*) FROM crm.integration_setting WHERE md5(value) IN ('$(md5 "$mc_key")', '$(md5 "$miko_key")', '$(md5 "$imap_pw")')")" "3"
check "the job role reads the keys" \
  "$(as "$INTEG_JOB" "SELECT count(*) FROM crm.integration_settings('mailchimp') WHERE secret AND md5(value) = '$(md5 "$mc_key")'")" "1"
for r in it_sec_head it_sec_mgr it_sec_mkt it_sec_triage it_sec_wh it_sec_bi; do
  check_match "SELECT of the settings by $r is refused (42501)" \
    "$(as $r "SELECT value FROM crm.integration_setting")" "^ERROR:  42501: permission denied for table integration_setting"
  check_match "crm.integration_settings() is refused to $r" \
    "$(as $r "SELECT * FROM crm.integration_settings('miko')")" "42501: permission denied for function integration_settings"
  check_match "crm.integration_redact() (an oracle for guesses) is refused to $r" \
    "$(as $r "SELECT crm.integration_redact('miko', 'guess')")" "42501: permission denied for function integration_redact"
  check_match "crm.configure() is refused to $r" \
    "$(as $r "SELECT crm.configure('miko', 'api_key', 'x')")" "42501: permission denied for function configure"
done
check "what crm_reader may read shows no key" \
  "$(as it_sec_bi "SELECT * FROM crm.integration_option; SELECT * FROM crm.integration_status; SELECT * FROM crm.job_run; SELECT * FROM crm.integration_peer" | has_secret)" "clean"
loaded='DO $$ BEGIN PERFORM crm.normalize_phone($n$89161234567$n$); END $$'   # crm.so loaded: its settings exist
check "SHOW ALL shows no key (as the job, crm loaded)" "$(as "$INTEG_JOB" "$loaded" "SHOW ALL" | has_secret)" "clean"
check "...nor as the admin" "$(as it_sec_admin "$loaded" "SHOW ALL" | has_secret)" "clean"
check "pg_settings has no key" "$(as it_sec_admin "$loaded" "SELECT name, setting, reset_val, boot_val FROM pg_settings" | has_secret)" "clean"
check "current_setting() of every crm setting shows no key" \
  "$(as "$INTEG_JOB" "$loaded" "SELECT name, current_setting(name) FROM pg_settings WHERE name LIKE 'crm.%'" | has_secret)" "clean"
check "current_setting() knows no crm key or password" \
  "$(as "$INTEG_JOB" "$loaded" "SELECT current_setting('crm.mailchimp_api_key', true) IS NULL AND current_setting('crm.api_key', true) IS NULL AND current_setting('crm.miko.api_key', true) IS NULL AND current_setting('crm.mailbox.password', true) IS NULL")" "t"
check "no crm setting is a key, password, token or secret" \
  "$(as "$INTEG_JOB" "$loaded" "SELECT count(*) FROM pg_settings WHERE name LIKE 'crm.%' AND name ~ '(key|password|token|secret)'")" "0"

# error messages: wrong keys refused by the peers -- and a careless peer that
# repeats the credentials it received
stub_control mailchimp '{"echo_credentials": true}'
out=$(job_try "CALL crm.mailchimp_sync()")
check_match "MailChimp refuses the key (28000)" "$out" "^28000"
check "the error raised shows no key, though the peer repeated it" "$(echo "$out" | has_secret)" "clean"
check_match "...it shows ******** where the key was" "$out" "Received: Basic \*\*\*\*\*\*\*\* = crm:\*\*\*\*\*\*\*\*"
check "the error recorded shows no key" \
  "$(qa "SELECT error FROM crm.integration_run UNION ALL SELECT last_error FROM crm.integration_peer UNION ALL SELECT last_error FROM crm.outbox_batch" | has_secret)" "clean"
out=$(job_try "CALL crm.miko_poll()")
check_match "MikoPBX refuses the key (28000)" "$out" "^28000"
check "...no key in its error" "$(echo "$out" | has_secret)" "clean"
out=$(job_try "CALL crm.mail_poll()")
check_match "the mailbox cannot be reached (08001)" "$out" "^08001"
check "...no password in its error" "$(echo "$out" | has_secret)" "clean"
out=$(as it_sec_admin "SELECT crm.configure('miko', 'api_key', ' another-secret-value ')")
check_match "a secret refused by crm.configure is not echoed in the error" "$out" \
  "^ERROR:  22023: setting miko.api_key has spaces or control characters"
check "...not even in part" "$(echo "$out" | grep -c another-secret)" "0"

# pg_stat_activity: the job's statement carries no key
stub_control mailchimp '{"delay": 2, "key": "'"$mc_key"'", "echo_credentials": false}'
q -q -c "SELECT crm.integration_reset('mailchimp')"
( job_try "CALL crm.mailchimp_sync()" >/dev/null ) &
bg=$!
sleep 0.8
check "pg_stat_activity shows the job's CALL, no key" \
  "$(qa "SELECT string_agg(query, ' ') FROM pg_stat_activity WHERE usename = '$INTEG_JOB'" | has_secret) $(qa "SELECT count(*) FROM pg_stat_activity WHERE usename = '$INTEG_JOB' AND query = 'CALL crm.mailchimp_sync()'")" "clean 1"
wait $bg

# the server log: every statement and error of this test is in it; no key
sleep 0.5
check_match "the server log recorded the statements (log_statement = all)" \
  "$(grep -c "statement: CALL crm.mailchimp_sync()" "$work/server.log")" "^[1-9]"
check_match "...and the errors, verbosely" "$(grep -c "28000: MikoPBX refused the credentials" "$work/server.log")" "^[1-9]"
check "the server log holds no key" "$(secret_in <"$work/server.log" && echo LEAK || echo clean)" "clean"
integ_done
