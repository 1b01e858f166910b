-- marketing_export: the files marketing takes away (R27, R28) -- MailChimp's
-- layout and the telephone-marketing layout, as UTF-8 CSV here (the xlsx is
-- read back by LibreOffice in test/integration/export_xlsx.sh), and what is
-- refused.  Rolled back at the end.
\pset null '(null)'
BEGIN;
SET LOCAL timezone = 'Europe/Moscow';
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- a CSV export as lines, its line ends shown
CREATE FUNCTION pg_temp.lines(f bytea) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT replace(l, E'\r', '\r') FROM regexp_split_to_table(convert_from(f, 'UTF8'), E'\n') l
$$;

SELECT crm.hire('regress_exp_mkt', 'Зоя Маркетинг', 'marketing', 'marketing') > 0 AS hired;
SELECT crm.hire('regress_exp_mgr', 'Борис Первый', 'alto', 'manager') > 0 AS hired;
INSERT INTO crm.counterparty (kind, name, region, department_id, responsible_id)
SELECT k, n, r, (SELECT id FROM crm.department WHERE code = 'alto'),
       (SELECT id FROM crm.employee WHERE role_name = 'regress_exp_mgr')
  FROM (VALUES ('client', 'ООО «Ромашка», филиал "Север"', 'Москва'),
               ('client', '=HYPERLINK("http://evil.example")', 'Москва'),
               ('lead', 'Завод-Тест', E'Тула\nцентр'),
               ('client', 'Без контактов', 'Москва')) AS x(k, n, r);
INSERT INTO crm.contact (counterparty_id, full_name, position)
SELECT c.id, x.f, x.p FROM crm.counterparty c JOIN (VALUES
  ('ООО «Ромашка», филиал "Север"', 'Орлова Наталья Викторовна', 'начальник лаборатории'),
  ('ООО «Ромашка», филиал "Север"', 'Белов Андрей', ' технический директор '),
  ('=HYPERLINK("http://evil.example")', '+Хакер', NULL),
  ('Завод-Тест', 'Ким Юлия', NULL)) AS x(c, f, p) ON x.c = c.name;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
SELECT k.id, k.counterparty_id, x.kind, x.v, x.prim FROM crm.contact k JOIN (VALUES
  ('Орлова Наталья Викторовна', 'email', 'orlova@romashka.example', true),
  ('Орлова Наталья Викторовна', 'phone', '8 495 556 12 12 доб. 7', false),
  ('Орлова Наталья Викторовна', 'phone', '+7 916 000 11 22', true),
  ('Белов Андрей', 'email', 'belov@romashka.example', false),
  ('Белов Андрей', 'phone', '+7 (495) 730-11-22', false),
  ('+Хакер', 'email', 'h@evil.example', false),
  ('Ким Юлия', 'phone', '8 (812) 600-70-70', false)) AS x(n, kind, v, prim) ON x.n = k.full_name;
SELECT crm.tag(c.id, 'выставка-2024', 'VIP') > 0 AS tagged FROM crm.counterparty c WHERE c.name LIKE 'ООО «Ромашка»%';
-- R26: Белов did not agree to be mailed
UPDATE crm.contact SET mailing_consent = true WHERE full_name IN ('Орлова Наталья Викторовна', '+Хакер', 'Ким Юлия');
UPDATE crm.counterparty SET created_at = now() - interval '1 year';
INSERT INTO crm.task (kind, title, assignee_id, counterparty_id, done_at, outcome)
SELECT 'call_client', 'Позвонить', e.id, c.id, '2024-11-15 10:00+03', 'ok'
  FROM crm.counterparty c, crm.employee e WHERE c.name = 'Завод-Тест' AND e.role_name = 'regress_exp_mgr';
INSERT INTO crm.segment (name) VALUES ('Экспорт');
INSERT INTO crm.segment (name, kinds) VALUES ('Пустой', '{supplier}');

SET ROLE regress_exp_mkt;
-- R27: MailChimp's columns; only contacts with an e-mail who agreed to be
-- mailed (R26: not Белов); RFC 4180 quoting,
-- CRLF; a text a spreadsheet would take for a formula starts with '
SELECT pg_temp.lines(crm.export_segment('Экспорт', 'mailchimp', 'csv'));
-- R28: the telephone list: contacts with a phone, every phone, the last call
SELECT pg_temp.lines(crm.export_segment('Экспорт', 'phone', 'csv'));
-- an empty segment gives the header alone
SELECT pg_temp.lines(crm.export_segment('Пустой', 'mailchimp', 'csv'));
-- xlsx is a zip package (read back by LibreOffice in the integration test)
SELECT substr(crm.export_segment('Экспорт', 'phone', 'xlsx'), 1, 4) = '\x504b0304'::bytea AS is_zip,
       length(crm.export_segment('Экспорт')) > 4000 AS has_content;
-- bad requests: clear errors, SQLSTATE
SELECT pg_temp.try($$SELECT crm.export_segment('Нет такого', 'mailchimp', 'xlsx')$$) AS unknown_segment;
SELECT pg_temp.try($$SELECT crm.export_segment(-1::bigint, 'mailchimp', 'csv')$$) AS unknown_segment_id;
SELECT pg_temp.try($$SELECT crm.export_segment('Экспорт', 'vcard', 'csv')$$) AS unknown_layout;
SELECT pg_temp.try($$SELECT crm.export_segment('Экспорт', 'phone', 'pdf')$$) AS unknown_format;
SELECT crm.export_segment('Экспорт', NULL, 'csv') IS NULL AS null_layout_gives_null;
RESET ROLE;

-- an Excel cell holds 32767 characters: a longer value is refused, the CSV takes it
UPDATE crm.contact SET position = repeat('ж', 40000) WHERE full_name = 'Ким Юлия';
SELECT pg_temp.try($$SELECT crm.export_segment('Экспорт', 'phone', 'xlsx')$$) AS too_long_for_excel;
SELECT length(crm.export_segment('Экспорт', 'phone', 'csv')) > 80000 AS csv_takes_it;

-- R28: a scheduled export is asked for by marketing and made with their rights
SET ROLE regress_exp_mkt;
SELECT crm.schedule_export('Экспорт', 'phone', 'xlsx', '1 day') > 0 AS scheduled;
SELECT pg_temp.try($$SELECT crm.schedule_export('Нет такого')$$) AS unknown_segment;
SELECT pg_temp.try($$SELECT crm.schedule_export('Экспорт', 'phone', 'xlsx', '5 minutes')$$) AS too_often;
SELECT pg_temp.try($$SELECT crm.schedule_export('Экспорт', 'fax')$$) AS unknown_layout;
-- nobody makes a file with someone else's rights
SELECT pg_temp.try($$UPDATE crm.export_schedule SET requested_by = requested_by + 1$$) AS forged_requester;
SELECT s.layout, s.format, s.every, e.role_name AS requested_by, s.active
  FROM crm.export_schedule s JOIN crm.employee e ON e.id = s.requested_by;
RESET ROLE;
-- the job's step (pg_cron runs it in test/integration/export_xlsx.sh): the
-- 40000-character position is still there, so the file fails -- recorded on
-- the schedule, not raised; the periodic export waits for its next turn
SELECT crm.run_one_export() AS produced_something;
SELECT layout, failures, last_error, active, next_run_at > now() + interval '23 hours' AS next_turn
  FROM crm.export_schedule;
UPDATE crm.contact SET position = NULL WHERE full_name = 'Ким Юлия';
UPDATE crm.export_schedule SET next_run_at = now() - interval '1 minute';
SELECT crm.run_one_export() AS produced_something;
SELECT crm.run_one_export() AS nothing_more_due;
SELECT layout, failures, last_error, active, next_run_at > now() AS next_turn_ahead FROM crm.export_schedule;
SELECT file_name ~ '^Экспорт_phone_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{4}\.xlsx$' AS named, layout, format, row_count,
       substr(content, 1, 2) = 'PK'::bytea AS xlsx, segment_name
  FROM crm.export_file;
-- the one-off export of someone who has left: refused, three attempts, then given up
SET ROLE regress_exp_mkt;
SELECT crm.schedule_export('Экспорт', 'mailchimp', 'csv') > 0 AS scheduled_once;
RESET ROLE;
UPDATE crm.employee SET active = false WHERE role_name = 'regress_exp_mkt';
SELECT crm.run_one_export() AS tried;
UPDATE crm.export_schedule SET next_run_at = now() - interval '1 minute' WHERE every IS NULL;
SELECT crm.run_one_export() AS tried;
UPDATE crm.export_schedule SET next_run_at = now() - interval '1 minute' WHERE every IS NULL;
SELECT crm.run_one_export() AS tried;
SELECT format, failures, regexp_replace(last_error, 'employee [0-9]+', 'employee N') AS last_error, active
  FROM crm.export_schedule WHERE every IS NULL;
-- the file maker and the job's steps are not for people
SET ROLE regress_exp_mgr;
SELECT pg_temp.try($$SELECT crm.export_segment_as(1, 1, 'phone', 'csv')$$) AS internal;
SELECT pg_temp.try($$SELECT crm.run_one_export()$$) AS job_step;
SELECT pg_temp.try($$CALL crm.run_export_schedules()$$) AS job_procedure;
RESET ROLE;
ROLLBACK;
