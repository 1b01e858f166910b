#!/usr/bin/env bash
# R5 R6: what the intake writes survives pg_dump / pg_restore -- leads and
# their inquiries (which point at each other), calls, raw e-mails, JivoSite
# events, settings and a template of one's own -- and after the restore the
# same linkedid or Message-ID is still recognised, new rows number on.
set -euo pipefail
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
db=crm_intake_dump_src; db2=crm_intake_dump_dst
cleanup() {
  psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $db2" >/dev/null 2>&1 || true
  psql -d postgres -c "DROP ROLE IF EXISTS dump_intake_head" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
psql -d postgres -c "CREATE DATABASE $db"
psql -d $db <<'SQL'
CREATE EXTENSION crm;
SELECT crm.hire('dump_intake_head', 'Анна Главная', 'alto', 'head');
INSERT INTO crm.intake_settings (untriaged_after) VALUES ('2 hours');
INSERT INTO crm.own_domain (domain) VALUES ('pumpmash.example');
INSERT INTO crm.email_template (code, title, kind, sender_pattern, name_labels) VALUES ('our_form', 'Наша форма', 'form', '^form@', '{Имя}');
SELECT crm.ingest_call(linkedid => 'D1', caller => '+7 903 111-00-01', called => '201', started_at => now(), direction => 'in');
SELECT crm.ingest_call(linkedid => 'D2', caller => NULL, called => '201', started_at => now());
SELECT crm.ingest_email(convert_to(E'From: Иван <ivan@client.example>\r\nMessage-ID: <dump-1@client.example>\r\nSubject: =?UTF-8?B?0J3Rg9C20LXQvSDQvdCw0YHQvtGB?=\r\n\r\nНужен насос.\r\nТел.: +7 903 111-00-01\r\n', 'UTF8'));
SELECT crm.ingest_jivo_event('{"event_name": "offline_message", "offline_message_id": "d-1", "visitor": {"email": "v@visitor.example"}, "message": "hi"}');
SQL
# Restoring contact points must not fire the MailChimp queue again: the
# dumped crm.outbox rows come back as they were, none twice.
counts="SELECT (SELECT count(*) FROM crm.counterparty), (SELECT count(*) FROM crm.inquiry),
  (SELECT count(*) FROM crm.interaction), (SELECT count(*) FROM crm.email_message),
  (SELECT count(*) FROM crm.contact_point), (SELECT count(*) FROM crm.email_template),
  (SELECT count(*) FROM crm.internal_extension), (SELECT count(*) FROM crm.inquiry_category),
  (SELECT string_agg(c.name || '<-' || i.id, ',') FROM crm.counterparty c JOIN crm.inquiry i ON i.id = c.source_inquiry_id),
  (SELECT md5(string_agg(raw::text, '')) FROM crm.email_message),
  (SELECT untriaged_after FROM crm.intake_settings),
  (SELECT count(*) || ':' || coalesce(string_agg(subject || '/' || state, ',' ORDER BY subject), '') FROM crm.outbox)"
before=$(psql -At -d $db -c "$counts")
pg_dump -Fc -d $db -f "$CRM_TEST_WORK/intake.dump" 2>"$CRM_TEST_WORK/intake.dump.log" || { cat "$CRM_TEST_WORK/intake.dump.log"; exit 1; }
if grep -q "counterparty" "$CRM_TEST_WORK/intake.dump.log" && grep -q "inquiry" "$CRM_TEST_WORK/intake.dump.log"; then
  echo "pg_dump reports a foreign-key cycle between counterparty and inquiry:"; cat "$CRM_TEST_WORK/intake.dump.log"; exit 1
fi
psql -d postgres -c "CREATE DATABASE $db2"
pg_restore -d $db2 --exit-on-error "$CRM_TEST_WORK/intake.dump"
after=$(psql -At -d $db2 -c "$counts")
echo "before: $before"; echo "after:  $after"
[ "$before" = "$after" ] || { echo "restored rows differ"; exit 1; }
# the same call and message are still recognised; new ones number on
same=$(psql -At -d $db2 -c "SELECT crm.ingest_call(linkedid => 'D1', caller => '+7 903 111-00-01', called => '201', started_at => now(), direction => 'in') = (SELECT id FROM crm.interaction WHERE dedup_key = 'call:D1')")
[ "$same" = t ] || { echo "the restored linkedid was not recognised"; exit 1; }
same=$(psql -At -d $db2 -c "SELECT crm.ingest_email(raw) = interaction_id FROM crm.email_message WHERE message_id = 'dump-1@client.example'")
[ "$same" = t ] || { echo "the restored Message-ID was not recognised"; exit 1; }
newer=$(psql -At -d $db2 -c "SELECT crm.ingest_call(linkedid => 'D3', caller => '+7 903 111-00-03', called => '201', started_at => now(), direction => 'in') > (SELECT max(id) FROM crm.interaction WHERE dedup_key <> 'call:D3')")
[ "$newer" = t ] || { echo "a new call did not number after the restored ones"; exit 1; }
echo "restored intake data is whole and still deduplicates"
