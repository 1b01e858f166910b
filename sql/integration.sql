-- integration: the integration jobs' configuration and its checks, the
-- backoff, which errors stop a job, the procedures' preconditions, the
-- MailChimp queue (R26) and its claim/record/fail steps, the quarantine
-- (R4, R5), and crm.schedule_jobs() where pg_cron is missing (R24).
-- Refusals are shown with their SQLSTATE; refused statements change nothing.
\pset null '(null)'

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- what can be configured
SELECT peer, name, kind, required, default_value, min_value, max_value, choices
  FROM crm.integration_option ORDER BY peer, name;

-- settings are checked as they are written; a refused one changes nothing
SELECT pg_temp.try($$SELECT crm.configure('nope', 'url', 'x')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'nope', 'x')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'url', 'ftp://pbx.example.ru')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'url', 'https://admin:pw@pbx.example.ru')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'url', 'https://pbx.example.ru/?key=1')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'url', 'https://mail.example.ru')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'url', 'imaps://mail.example.ru/INBOX')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'page_size', '1001')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'page_size', '0')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'page_size', 'ten')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailchimp', 'batch_size', '501')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'after_ingest', 'delete')$$);
SELECT pg_temp.try($$SELECT crm.configure('miko', 'timezone', 'Mars/Olympus_Mons')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'folder', 'Входящие')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'folder', 'a"b')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'ca_file', 'certs/ca.pem')$$);
SELECT pg_temp.try($$SELECT crm.configure('jobs', 'run_as', 'no_such_role')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailbox', 'username', '')$$);
-- a refused secret is never shown in the error
SELECT pg_temp.try($$SELECT crm.configure('mailchimp', 'api_key', ' key0123456789-us1 ')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailchimp', 'api_key', E'key01234\n56789-us1')$$);
SELECT pg_temp.try($$SELECT crm.configure('mailchimp', 'api_key', '')$$);
SELECT count(*) AS settings FROM crm.integration_setting;

-- accepted: trimmed, a second write replaces the first, NULL removes
SELECT crm.configure('miko', 'url', '  https://pbx.example.ru/  ');
SELECT crm.configure('miko', 'timezone', 'Europe/Samara');
INSERT INTO crm.integration_setting (peer, name, value) VALUES ('miko', 'url', 'https://pbx2.example.ru:8443');
SELECT peer, name, value FROM crm.integration_setting ORDER BY peer, name;
SELECT crm.configure('miko', 'url', NULL);
SELECT crm.configure('miko', 'timezone', NULL);
SELECT count(*) AS settings FROM crm.integration_setting;
-- with their defaults; secrets are marked
SELECT name, value, secret FROM crm.integration_settings('mailchimp');

-- the API root of MailChimp comes from the key's data-centre suffix
SELECT crm.mailchimp_api_root('0123456789abcdef-us21') AS root,
       crm.mailchimp_api_root('0123456789abcdef-us21', 'http://127.0.0.1:8000/3.0/') AS overridden;
SELECT pg_temp.try($$SELECT crm.mailchimp_api_root('0123456789abcdef')$$);
SELECT pg_temp.try($$SELECT crm.mailchimp_api_root('0123456789abcdef-US21')$$);

-- exponential backoff with jitter: the n-th failure waits between half and
-- all of min(max, base * 2^(n-1))
SELECT n, bool_and(w >= d / 2 AND w <= d) AS within, min(w) < max(w) AS jittered
  FROM (SELECT n, least(600, 10 * 2 ^ (n - 1)) AS d,
               extract(epoch FROM crm.integration_backoff(n, 10, 600)) AS w
          FROM generate_series(1, 9) n, generate_series(1, 50) k) x
 GROUP BY n ORDER BY n;

-- which failures stop a job (the DBA must act) and which errors of
-- crm.ingest_* mean "refused" (quarantine) rather than "cannot now"
SELECT s AS sqlstate, crm.integration_permanent(s) AS stops_the_job, crm.integration_refusal(s) AS quarantines
  FROM unnest(ARRAY['28000', '42501', '42704', '22023', '57P03', '53300', '58000', '08001', '08006',
                    '22032', '22P02', '22008', '23505', '54000', '40001', '40P01', '57014', '42883',
                    'XX000']) s;

-- the procedures: CALL only, and not inside a transaction block
BEGIN;
CALL crm.mailchimp_sync();
ROLLBACK;
SELECT pg_temp.try($$CALL crm.miko_poll()$$);
-- not configured: they say so and record nothing
CALL crm.mailchimp_sync();
CALL crm.miko_poll();
CALL crm.mail_poll();
SELECT count(*) AS runs FROM crm.integration_run;

-- the jobs of this concern; schedule_jobs needs pg_cron in this database
SELECT name, schedule, command, active, builtin FROM crm.job
 WHERE name IN ('miko_poll', 'mail_poll', 'mailchimp_sync') ORDER BY name;
SELECT pg_temp.try($$SELECT * FROM crm.schedule_jobs('nobody')$$);
SELECT count(*) AS job_runs FROM crm.job_run;
SELECT peer, state, queued, dead_batches, quarantined FROM crm.integration_status ORDER BY peer;

-- R26: consent, the audience, the queue
INSERT INTO crm.counterparty (kind, name) VALUES
  ('lead', 'ИНТ Лид'), ('client', 'ИНТ Клиент'), ('partner', 'ИНТ Партнёр');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
SELECT k.id, v.name, v.consent
  FROM (VALUES ('ИНТ Лид', 'Иванова Анна', true), ('ИНТ Клиент', 'Пётр Сидоров', true),
               ('ИНТ Клиент', 'Без Согласия', false), ('ИНТ Партнёр', 'Пётр Партнёров', true)) v(company, name, consent)
  JOIN crm.counterparty k ON k.name = v.company;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT c.id, c.counterparty_id, 'email', v.email
  FROM (VALUES ('Иванова Анна', 'Anna@Example.COM'), ('Пётр Сидоров', 'petr@example.com'),
               ('Без Согласия', 'nope@example.com'), ('Пётр Партнёров', 'partner@example.com')) v(name, email)
  JOIN crm.contact c ON c.full_name = v.name;
SELECT email, member_hash = md5(lower(email)) AS hash_ok, kind, company, full_name
  FROM crm.mailchimp_audience ORDER BY email;
SELECT subject, state FROM crm.outbox ORDER BY id;
-- a second change of a queued address adds nothing; a rolled-back one neither
UPDATE crm.contact SET full_name = 'Анна Иванова' WHERE full_name = 'Иванова Анна';
BEGIN;
UPDATE crm.contact SET mailing_consent = true WHERE full_name = 'Без Согласия';
ROLLBACK;
SELECT count(*) AS queued FROM crm.outbox;
-- a change that does not matter to MailChimp queues nothing
UPDATE crm.contact SET position = 'инженер' WHERE full_name = 'Пётр Сидоров';
UPDATE crm.contact_point SET is_primary = true WHERE value = 'petr@example.com';
SELECT count(*) AS queued FROM crm.outbox;

-- a claim: one batch of the addresses that need something; the body as sent
SELECT crm.configure('mailchimp', 'list_id', 'aud1');
SELECT batch_id > 0 AS batch, list_id, idempotency_key ~ '^crm-mailchimp-[0-9a-f-]{36}$' AS key_ok,
       jsonb_pretty(body::jsonb) AS body, extra, members, attempts
  FROM crm.mailchimp_claim(0, 500);
SELECT subject, state, result FROM crm.outbox ORDER BY id;
-- addresses in flight are not claimed again; a new change waits for them
UPDATE crm.counterparty SET kind = 'client' WHERE name = 'ИНТ Лид';
SELECT count(*) AS claimed FROM crm.mailchimp_claim(0, 500);
SELECT pg_temp.try($$SELECT * FROM crm.mailchimp_claim(0, 501)$$);

-- MailChimp answered: one member refused -- recorded on it, not failing
SELECT crm.mailchimp_record((SELECT max(id) FROM crm.outbox_batch), 0, 200,
                            ARRAY['petr@example.com'], ARRAY['petr@example.com looks fake or invalid, please enter a real email address.'],
                            ARRAY['ERROR_GENERIC'], ARRAY[''], 1, 0) AS member_errors;
SELECT email, status, tags, sent_hash IS NOT NULL AS sent, last_error, last_error_code, contact_id IS NOT NULL AS has_contact
  FROM crm.mailchimp_member ORDER BY email;
SELECT subject, state, result FROM crm.outbox WHERE batch_id IS NOT NULL ORDER BY id;
SELECT state, http_status, result FROM crm.outbox_batch;
SELECT email, in_audience, mailchimp_status, last_error_code, sync_pending FROM crm.mailchimp_contact_status ORDER BY email;
-- recording it again changes nothing (a take-over recorded it first)
SELECT crm.mailchimp_record((SELECT max(id) FROM crm.outbox_batch), 0, 200, '{}', '{}', '{}', '{}', 0, 0) AS again;

-- the waiting change is claimed now: the kind's tag replaces the old one
SELECT jsonb_pretty(body::jsonb) AS body, jsonb_pretty(extra::jsonb) AS extra FROM crm.mailchimp_claim(0, 500);
-- a failure: back off (attempt counted), or dead letter at max_attempts
SELECT crm.configure('mailchimp', 'max_attempts', '2');
SELECT crm.outbox_batch_fail((SELECT max(id) FROM crm.outbox_batch), 0, '57P03', 'MailChimp is temporarily unavailable', 503, true) AS first;
SELECT state, attempts, next_attempt_at > now() AS later, lease_until IS NULL AS released, last_sqlstate, http_status
  FROM crm.outbox_batch WHERE id = (SELECT max(id) FROM crm.outbox_batch);
UPDATE crm.outbox_batch SET next_attempt_at = now() WHERE id = (SELECT max(id) FROM crm.outbox_batch);
SELECT attempts FROM crm.mailchimp_claim(0, 500);
SELECT crm.outbox_batch_fail((SELECT max(id) FROM crm.outbox_batch), 0, '58000', 'MailChimp failed', 500, true) AS second;
SELECT state, attempts, last_error FROM crm.outbox_batch WHERE id = (SELECT max(id) FROM crm.outbox_batch);
SELECT subject, state, result FROM crm.outbox WHERE batch_id = (SELECT max(id) FROM crm.outbox_batch);
SELECT pg_temp.try($$SELECT crm.outbox_retry((SELECT min(id) FROM crm.outbox_batch))$$);
SELECT crm.outbox_retry((SELECT max(id) FROM crm.outbox_batch));
SELECT state, attempts FROM crm.outbox_batch WHERE id = (SELECT max(id) FROM crm.outbox_batch);
-- another run's batch is not this run's to fail
SELECT crm.outbox_batch_fail((SELECT max(id) FROM crm.outbox_batch), 42, '58000', 'x', 500, true) AS not_mine;

-- the quarantine: kept once per item, counted, resolved when loaded
SELECT crm.integration_quarantine_put('mailbox', 'INBOX/1/7', '\x466f6f'::bytea, '{"size": 3}', '22P02', 'e-mail is not an RFC 5322 message', NULL) > 0 AS put;
SELECT crm.integration_quarantine_put('mailbox', 'INBOX/1/7', '\x466f6f'::bytea, '{"size": 3}', '22P02', 'e-mail is not an RFC 5322 message', NULL) > 0 AS again;
SELECT peer, source_key, raw, sqlstate, error, attempts, resolved_at IS NULL AS open FROM crm.integration_quarantine;
SELECT crm.integration_quarantine_resolve('mailbox', 'INBOX/1/7');
SELECT source_key, resolved_at IS NOT NULL AS resolved FROM crm.integration_quarantine;
SELECT pg_temp.try($$SELECT crm.quarantine_retry(-1)$$);

-- a run: begin takes the lease, a second begin is skipped, end releases it;
-- a permanent failure stops the peer until its configuration changes
SELECT crm.configure('mailchimp', 'api_key', 'regress0123456789-us1');
SELECT run_id > 0 AS started, reason, watermark FROM crm.integration_begin('mailchimp');
SELECT run_id, reason ~ '^run [0-9]+ of mailchimp holds the lease until' AS lease_held FROM crm.integration_begin('mailchimp');
SELECT crm.integration_end((SELECT max(id) FROM crm.integration_run WHERE outcome = 'running'), 'error', '28000',
                           'MailChimp refused the credentials: HTTP 401 ... key regress0123456789-us1 ...', 401) AS state;
SELECT state, last_sqlstate, last_http_status, last_error FROM crm.integration_peer WHERE peer = 'mailchimp';
SELECT outcome, sqlstate, regexp_replace(error, 'run [0-9]+ of mailchimp holds the lease until .*', 'run N of mailchimp holds the lease until T') AS error
  FROM crm.integration_run ORDER BY id;
SELECT run_id, reason ~ '^mailchimp is stopped since' AS stopped FROM crm.integration_begin('mailchimp');
SELECT crm.configure('mailchimp', 'api_key', 'regress9876543210-us1');
SELECT state FROM crm.integration_peer WHERE peer = 'mailchimp';
SELECT pg_temp.try($$SELECT crm.integration_begin('gmail')$$);
SELECT pg_temp.try($$SELECT crm.integration_end(-1, 'ok')$$);
SELECT pg_temp.try($$SELECT crm.integration_end(1, 'fine')$$);

-- leave the database as it was
DELETE FROM crm.integration_quarantine;
DELETE FROM crm.outbox;
DELETE FROM crm.outbox_batch;
DELETE FROM crm.mailchimp_member;
DELETE FROM crm.integration_run;
DELETE FROM crm.integration_peer;
DELETE FROM crm.integration_setting;
DELETE FROM crm.counterparty WHERE name LIKE 'ИНТ %';
