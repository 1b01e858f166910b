#!/usr/bin/env bash
# R26: crm.mailchimp_sync() keeps the MailChimp audience (the stub of
# test/stubs/mailchimp.py) equal to the consenting contacts with e-mail of
# leads and clients: batches of at most 500 (POST /lists/{id},
# update_existing), tags by the counterparty's kind (stale ones taken off
# with POST .../members/{hash}/tags), unsubscribe when a contact leaves the
# audience, per-member errors recorded on the contact without failing the
# run, changes queued by trigger (a rolled-back change queues nothing), an
# unchanged contact not sent again.
set -euo pipefail
source "$(dirname "$0")/../lib/integ.sh"
integ_setup crm_it_mcsync it_mc_job
integ_stub mailchimp --key "0123abcd0123abcd-us21" --list "aud1"

integ_secret mailchimp api_key "0123abcd0123abcd-us21"
q <<SQL
SELECT crm.configure('mailchimp', 'list_id', 'aud1');
SELECT crm.configure('mailchimp', 'base_url', 'http://127.0.0.1:$MAILCHIMP_PORT/3.0');
SELECT crm.configure('mailchimp', 'company_field', 'COMPANY');
-- the audience: consenting contacts of leads and clients
INSERT INTO crm.counterparty (kind, name) VALUES
  ('lead', 'ООО Лид'), ('client', 'АО Клиент'), ('partner', 'Партнёр'), ('supplier', 'Поставщик');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT k.id, v.name, v.consent FROM (VALUES
  ('ООО Лид', 'Иван Петров', true), ('ООО Лид', 'Без Согласия', false),
  ('АО Клиент', 'Мария Сидорова', true), ('Партнёр', 'Пётр Партнёров', true),
  ('Поставщик', 'Семён Поставщиков', true)) v(company, name, consent)
JOIN crm.counterparty k ON k.name = v.company;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT c.id, c.counterparty_id, 'email', v.email FROM (VALUES
  ('Иван Петров', 'Ivan.Petrov@Example.com'), ('Иван Петров', 'ivan2@example.com'),
  ('Без Согласия', 'nope@example.com'), ('Мария Сидорова', 'maria@example.com'),
  ('Пётр Партнёров', 'partner@example.com'), ('Семён Поставщиков', 'supplier@example.com')) v(name, email)
JOIN crm.contact c ON c.full_name = v.name;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT c.id, c.counterparty_id, 'phone', '+7 916 000-00-01' FROM crm.contact c WHERE c.full_name = 'Иван Петров';
SQL

# the members the stub holds, as "email status tags" lines
members() {
  stub_state mailchimp "sorted('%s %s %s' % (m['email_address'].lower(), m['status'], ','.join(sorted(m['tags']))) for m in s['peer']['members'])"
}
requests() { stub_state mailchimp "len(s['requests'])"; }

check "R26 changes are queued by trigger (one pending item per address)" \
  "$(qa "SELECT count(*) FILTER (WHERE state = 'pending') || '/' || count(DISTINCT subject) FROM crm.outbox")" "6/6"

job "CALL crm.mailchimp_sync()"
check "R26 the audience is the consenting contacts of leads and clients" "$(members)" \
  '["ivan.petrov@example.com subscribed lead", "ivan2@example.com subscribed lead", "maria@example.com subscribed client"]'
check "R26 one batch request for the whole queue, authenticated, with an idempotency key" \
  "$(stub_state mailchimp "[(r['method'], r['path'], r['auth_ok'], r['idempotency_key'].startswith('crm-mailchimp-')) for r in s['requests']]")" \
  '[["POST", "/3.0/lists/aud1", true, true]]'
check "R26 the batch asks update_existing and names the member's merge fields" \
  "$(stub_state mailchimp "sorted((m['email_address'].lower(), m['merge_fields']) for m in s['peer']['members'])[2]")" \
  '["maria@example.com", {"FNAME": "\u041c\u0430\u0440\u0438\u044f", "LNAME": "\u0421\u0438\u0434\u043e\u0440\u043e\u0432\u0430", "COMPANY": "\u0410\u041e \u041a\u043b\u0438\u0435\u043d\u0442"}]'
check "R26 the run is recorded ok with what it did" \
  "$(qa "SELECT outcome || ' ' || (detail->>'batches') || ' ' || (detail->>'members') || ' ' || (detail->>'requests') FROM crm.integration_run ORDER BY id DESC LIMIT 1")" "ok 1 3 1"
check "R26 addresses outside the audience are not sent (skipped, never subscribed)" \
  "$(qa "SELECT string_agg(subject || ':' || state, ' ' ORDER BY subject) FROM crm.outbox WHERE state <> 'done'")" \
  "nope@example.com:skipped partner@example.com:skipped supplier@example.com:skipped"
check "R26 each member is recorded with its contact" \
  "$(qa "SELECT count(*) FROM crm.mailchimp_member m JOIN crm.contact_point cp ON cp.normalized = m.email AND cp.contact_id = m.contact_id WHERE m.status = 'subscribed' AND m.member_hash = md5(m.email)")" "3"

# a rolled-back business change queues nothing; a new sync sends nothing
q -c "BEGIN" -c "UPDATE crm.contact SET mailing_consent = false WHERE full_name = 'Мария Сидорова'" \
  -c "UPDATE crm.counterparty SET name = 'АО Клиент 2' WHERE name = 'АО Клиент'" -c "ROLLBACK"
check "R26 a rolled-back change queues nothing" \
  "$(qa "SELECT count(*) FROM crm.outbox WHERE state = 'pending'")" "0"
before=$(requests)
job "CALL crm.mailchimp_sync()"
check "R26 nothing queued, nothing sent" "$(requests)" "$before"

# an unchanged contact is not sent again (a resync queues everyone)
check "R26 crm.mailchimp_resync queues the audience and the subscribed members" \
  "$(q -At -c "SELECT crm.mailchimp_resync()")" "3"
job "CALL crm.mailchimp_sync()"
check "R26 unchanged members are not sent again" "$(requests)" "$before"
check "R26 ...they are marked skipped as unchanged" \
  "$(qa "SELECT count(*) FROM crm.outbox WHERE result = 'unchanged'")" "3"

# changes: a lead becomes a client (its tag changes), consent withdrawn,
# an address changed, a contact deleted, a partner becomes a lead
q <<'SQL'
UPDATE crm.counterparty SET kind = 'client' WHERE name = 'ООО Лид';
UPDATE crm.contact SET mailing_consent = false WHERE full_name = 'Мария Сидорова';
UPDATE crm.contact_point SET value = 'ivan.new@example.com' WHERE value = 'ivan2@example.com';
UPDATE crm.counterparty SET kind = 'lead' WHERE name = 'Партнёр';
SQL
job "CALL crm.mailchimp_sync()"
check "R26 changes: new tag, stale tag taken off, unsubscribed, old address unsubscribed, new one subscribed" "$(members)" \
  '["ivan.new@example.com subscribed client", "ivan.petrov@example.com subscribed client", "ivan2@example.com unsubscribed lead", "maria@example.com unsubscribed client", "partner@example.com subscribed lead"]'
check "R26 the stale tag was taken off with POST /members/{md5(lower(email))}/tags" \
  "$(stub_state mailchimp "[(r['path'], r['tags']) for r in s['requests'] if r['path'].endswith('/tags')]")" \
  "[[\"/3.0/lists/aud1/members/$(qa "SELECT md5('ivan.petrov@example.com')")/tags\", [[\"lead\", \"inactive\"]]]]"
check "R26 crm records what it set" \
  "$(qa "SELECT string_agg(email || ' ' || status || ' ' || array_to_string(tags, ','), '; ' ORDER BY email) FROM crm.mailchimp_member")" \
  "ivan.new@example.com subscribed client; ivan.petrov@example.com subscribed client; ivan2@example.com unsubscribed lead; maria@example.com unsubscribed client; partner@example.com subscribed lead"
q -c "DELETE FROM crm.contact WHERE full_name = 'Пётр Партнёров'"
job "CALL crm.mailchimp_sync()"
check "R26 a deleted contact is unsubscribed" \
  "$(stub_state mailchimp "[m['status'] for m in s['peer']['members'] if m['email_address'] == 'partner@example.com']")" '["unsubscribed"]'

# per-member errors: recorded on the contact, never failing the run
stub_control mailchimp '{"fake": ["fake@example.com"], "compliance": ["gone@example.com"], "required_merge_fields": ["FNAME"]}'
q <<'SQL'
INSERT INTO crm.counterparty (kind, name) VALUES ('lead', 'Ошибки');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT id, n, true FROM crm.counterparty, (VALUES ('Фейк Фейков'), ('Ушедший Клиент'), (NULL), ('Хороший Клиент')) v(n)
 WHERE name = 'Ошибки';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT c.id, c.counterparty_id, 'email', v.email
  FROM crm.contact c JOIN (VALUES ('Фейк Фейков', 'fake@example.com'), ('Ушедший Клиент', 'gone@example.com'),
                              (NULL, 'noname@example.com'), ('Хороший Клиент', 'good@example.com')) v(n, email)
    ON c.full_name IS NOT DISTINCT FROM v.n
 WHERE c.counterparty_id = (SELECT id FROM crm.counterparty WHERE name = 'Ошибки');
SQL
out=$(job_try "CALL crm.mailchimp_sync()")
check "R26 per-member errors do not fail the run" "$out" ""
check "R26 the run is ok and counts the member errors" \
  "$(qa "SELECT outcome || ' ' || (detail->>'member_errors') FROM crm.integration_run ORDER BY id DESC LIMIT 1")" "ok 3"
check "R26 'looks fake or invalid' is recorded on the contact" \
  "$(qa "SELECT last_error_code || ': ' || last_error FROM crm.mailchimp_contact_status WHERE email = 'fake@example.com'")" \
  "ERROR_GENERIC: fake@example.com looks fake or invalid, please enter a real email address."
check "R26 'in a compliance state' is recorded on the contact" \
  "$(qa "SELECT last_error FROM crm.mailchimp_contact_status WHERE email = 'gone@example.com'")" \
  "gone@example.com is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed."
check "R26 a merge-field error is recorded with its field" \
  "$(qa "SELECT last_error_field || ': ' || last_error FROM crm.mailchimp_contact_status WHERE email = 'noname@example.com'")" \
  "FNAME: Your merge fields were invalid. (FNAME: Please enter a value)"
check "R26 the others of the batch are subscribed" \
  "$(stub_state mailchimp "[m['status'] for m in s['peer']['members'] if m['email_address'] == 'good@example.com']")" '["subscribed"]'
check "R26 the errors are on the contact's row (crm.mailchimp_contact_status)" \
  "$(qa "SELECT string_agg(email || ':' || in_audience || ':' || COALESCE(mailchimp_status, '-') || ':' || (last_error IS NOT NULL), ' ' ORDER BY email) FROM crm.mailchimp_contact_status s JOIN crm.contact c ON c.id = s.contact_id JOIN crm.counterparty k ON k.id = c.counterparty_id WHERE k.name = 'Ошибки'")" \
  "fake@example.com:true:-:true gone@example.com:true:-:true good@example.com:true:subscribed:false noname@example.com:true:-:true"
# a refused member is sent again when the contact changes, and the error clears
stub_control mailchimp '{"required_merge_fields": []}'
q -c "UPDATE crm.contact SET full_name = 'Безымянный' WHERE id = (SELECT contact_id FROM crm.contact_point WHERE value = 'noname@example.com')"
job "CALL crm.mailchimp_sync()"
check "R26 a corrected contact is accepted and its error cleared" \
  "$(qa "SELECT status || ':' || (last_error IS NULL) FROM crm.mailchimp_member WHERE email = 'noname@example.com'")" "subscribed:true"

# batches are at most 500 members: 1200 new contacts, 3 requests
stub_control mailchimp '{"clear": true}'
curl -sf -X POST "http://127.0.0.1:$MAILCHIMP_PORT/_control/log/clear" >/dev/null
q <<'SQL'
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'Большой клиент');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT k.id, 'Контакт ' || g, true FROM crm.counterparty k, generate_series(1, 1200) g WHERE k.name = 'Большой клиент';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT c.id, c.counterparty_id, 'email', 'bulk' || c.id || '@example.com'
  FROM crm.contact c JOIN crm.counterparty k ON k.id = c.counterparty_id WHERE k.name = 'Большой клиент';
SQL
job "CALL crm.mailchimp_sync()"
check "R26 1200 members go in batches of at most 500" \
  "$(stub_state mailchimp "[len(r.get('members', [])) for r in s['requests']]")" "[500, 500, 200]"
check "R26 each batch has its own idempotency key" \
  "$(stub_state mailchimp "len(set(r['idempotency_key'] for r in s['requests']))")" "3"
check "R26 after the sync the stub's subscribed members are exactly the audience" \
  "$(stub_state mailchimp "sorted(m['email_address'].lower() for m in s['peer']['members'] if m['status'] == 'subscribed')" | md5sum)" \
  "$(qa "SELECT json_agg(email ORDER BY email) FROM crm.mailchimp_audience WHERE email NOT IN ('fake@example.com', 'gone@example.com')" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))' | md5sum)"
check "R26 nothing is left in the queue" "$(qa "SELECT count(*) FROM crm.outbox WHERE state IN ('pending', 'batched')")" "0"
integ_done
