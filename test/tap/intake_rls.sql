-- test/tap/intake_rls.sql: R2 for the intake's tables (R4-R9): who sees which
-- interactions, inquiries and raw e-mails, who may change the reference
-- data, and who may call which intake function.  Each person "logs in" with
-- SET SESSION AUTHORIZATION; everything is rolled back.
BEGIN;
SELECT plan(50);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('ti_head_alto', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('ti_mgr_alto', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('ti_mgr_alto2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('ti_head_prom', 'Дарья Промова', 'prom', 'head');
SELECT crm.hire('ti_triage', 'Жанна Разбор', 'management', 'triage');
SELECT crm.hire('ti_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('ti_wh', 'Игорь Склад', 'warehouse', 'warehouse');
SELECT crm.hire('ti_admin', 'Кира Админ', 'management', 'admin');
CREATE ROLE ti_bi LOGIN IN ROLE crm_reader;
CREATE ROLE ti_job LOGIN IN ROLE crm_integration;

CREATE TEMP TABLE ids AS SELECT
  (SELECT id FROM crm.department WHERE code = 'alto') AS alto,
  (SELECT id FROM crm.department WHERE code = 'prom') AS prom,
  (SELECT id FROM crm.employee WHERE role_name = 'ti_mgr_alto') AS mgr;
GRANT SELECT ON ids TO PUBLIC;

-- an Alto client of ti_mgr_alto, a Prom client, and their calls and mails
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id) VALUES
  ('client', 'Alto client', (SELECT alto FROM ids), (SELECT mgr FROM ids)),
  ('client', 'Prom client', (SELECT prom FROM ids), NULL);
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Contact of ' || name FROM crm.counterparty
 WHERE name IN ('Alto client', 'Prom client');
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT c.id, c.counterparty_id, 'phone', CASE p.name WHEN 'Alto client' THEN '+7 916 111-00-01' ELSE '+7 916 111-00-02' END
    FROM crm.contact c JOIN crm.counterparty p ON p.id = c.counterparty_id WHERE p.name IN ('Alto client', 'Prom client');
SELECT crm.ingest_call(linkedid => 'TI-alto', caller => '+79161110001', called => '200', started_at => now());
SELECT crm.ingest_call(linkedid => 'TI-prom', caller => '+79161110002', called => '200', started_at => now());
SELECT crm.ingest_call(linkedid => 'TI-new', caller => '+79161110003', called => '200', started_at => now());
SELECT crm.ingest_email(convert_to(E'From: client@alto-client.example\r\nMessage-ID: <ti-1@x>\r\nSubject: Alto\r\n\r\nТел.: +7 916 111-00-01\r\n', 'UTF8'));
-- the new lead goes to Prom and is assigned there (as the superuser here)
CREATE TEMP TABLE newq AS SELECT inquiry_id AS id FROM crm.interaction WHERE dedup_key = 'call:TI-new';
GRANT SELECT ON newq TO PUBLIC;

-- a sales manager: the history of their own clients only
SET SESSION AUTHORIZATION ti_mgr_alto;
SELECT results_eq($$SELECT dedup_key FROM crm.interaction ORDER BY 1$$,
  ARRAY['call:TI-alto', 'email:ti-1@x'], 'R2 R6 manager sees the correspondence of their own clients');
SELECT is((SELECT count(*) FROM crm.inquiry)::int, 0, 'R2 manager sees no inquiry they are not responsible for');
SELECT is((SELECT count(*) FROM crm.email_message)::int, 1, 'R2 manager reads the raw e-mails of their clients');
SELECT is((SELECT count(*) FROM crm.correspondence)::int, 2, 'R2 the correspondence view runs with the manager''s rights');
SELECT throws_ok($$INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key) VALUES ('phone', 'x', 'in', now(), 'forged')$$,
  '42501', NULL, 'R2 manager cannot write the history directly');
SELECT throws_ok($$UPDATE crm.inquiry SET status = 'qualified'$$, '42501', NULL,
  'R2 manager cannot change inquiries directly (only through the functions)');
SELECT throws_ok($$INSERT INTO crm.email_template (code, title, kind) VALUES ('x', 'X', 'form')$$, '42501', NULL,
  'R2 R5 manager cannot add templates');
SELECT throws_ok($$INSERT INTO crm.own_phone (number) VALUES ('+7 916 000 00 00')$$, '42501', NULL,
  'R2 R4 manager cannot declare company numbers');
SELECT throws_ok($$SELECT crm.ingest_call(linkedid => 'm', caller => '1', called => '2', started_at => now())$$, '42501', NULL,
  'R2 R4 manager cannot feed the PBX intake');
SELECT throws_ok($$SELECT crm.assign_inquiry(1, 1)$$, '42501', NULL, 'R2 R8 manager cannot assign');
SELECT is((SELECT count(*) FROM crm.email_template WHERE builtin)::int, 4, 'R5 everyone reads the templates');
RESET SESSION AUTHORIZATION;

-- another manager of the same department sees none of it
SET SESSION AUTHORIZATION ti_mgr_alto2;
SELECT is((SELECT count(*) FROM crm.interaction)::int, 0, 'R2 manager sees nothing of a colleague''s clients');
SELECT is((SELECT count(*) FROM crm.email_message)::int, 0, 'R2 nor their e-mails');
RESET SESSION AUTHORIZATION;

-- a head: their departments' history, and every new (untriaged) inquiry
SET SESSION AUTHORIZATION ti_head_alto;
SELECT results_eq($$SELECT dedup_key FROM crm.interaction ORDER BY 1$$,
  ARRAY['call:TI-alto', 'call:TI-new', 'email:ti-1@x'], 'R2 R8 Alto''s head sees Alto''s history and the new inquiry''s call');
SELECT results_eq($$SELECT i.id FROM crm.inquiry i$$, $$SELECT id FROM newq$$, 'R8 head of sales sees the new inquiry');
SELECT is((SELECT count(*) FROM crm.triage_queue)::int, 1, 'R8 and it is in the queue they see');
RESET SESSION AUTHORIZATION;

-- triage sees every inquiry and the calls of inquiries, not clients' history
SET SESSION AUTHORIZATION ti_triage;
SELECT results_eq($$SELECT dedup_key FROM crm.interaction ORDER BY 1$$, ARRAY['call:TI-new'],
  'R2 R8 triage sees the calls of inquiries, not the history of clients with a department');
SELECT is((SELECT count(*) FROM crm.inquiry)::int, 1, 'R8 triage sees every inquiry');
SELECT lives_ok(format('SELECT crm.triage_inquiry(%s, %L, %L)', (SELECT id FROM newq), 'equipment', 'prom'),
  'R8 triage gives the inquiry a department');
SELECT throws_ok($$UPDATE crm.counterparty SET department_id = NULL$$, '42501', NULL,
  'R2 triage still cannot update counterparties directly');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ti_head_alto;
SELECT is((SELECT count(*) FROM crm.inquiry)::int, 0, 'R2 once it is Prom''s, Alto''s head no longer sees it');
SELECT throws_ok(format('SELECT crm.assign_inquiry(%s, %s)', (SELECT id FROM newq), (SELECT mgr FROM ids)), '42501',
  'only the head of the inquiry''s department can assign it', 'R2 R8 Alto''s head cannot assign Prom''s inquiry');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ti_head_prom;
SELECT is((SELECT count(*) FROM crm.inquiry)::int, 1, 'R2 R8 Prom''s head sees it');
SELECT results_eq($$SELECT dedup_key FROM crm.interaction ORDER BY 1$$, ARRAY['call:TI-new', 'call:TI-prom'],
  'R2 Prom''s head sees Prom''s history and the inquiry''s call');
SELECT lives_ok(format('SELECT crm.assign_inquiry(%s, %s)', (SELECT id FROM newq), (SELECT id FROM crm.employee WHERE role_name = 'ti_head_prom')),
  'R8 a head may make themselves responsible');
SELECT is((SELECT responsible_id FROM crm.counterparty c JOIN newq ON c.source_inquiry_id = newq.id),
  (SELECT id FROM crm.employee WHERE role_name = 'ti_head_prom'), 'R8 the lead has its responsible employee');
RESET SESSION AUTHORIZATION;

-- marketing: when and with whom (last activity), never what was said
SET SESSION AUTHORIZATION ti_mkt;
SELECT is((SELECT count(*) FROM (SELECT counterparty_id, max(occurred_at) FROM crm.interaction
                                  WHERE counterparty_id IS NOT NULL GROUP BY 1) x)::int, 3,
  'R2 R26 marketing reads the last activity of every counterparty');
SELECT throws_ok($$SELECT body FROM crm.interaction$$, '42501', NULL, 'R2 marketing cannot read the content of the history');
SELECT throws_ok($$SELECT 1 FROM crm.inquiry$$, '42501', NULL, 'R2 marketing cannot read inquiries');
SELECT throws_ok($$SELECT 1 FROM crm.email_message$$, '42501', NULL, 'R2 marketing cannot read e-mails');
RESET SESSION AUTHORIZATION;

-- warehouse: nothing of the intake
SET SESSION AUTHORIZATION ti_wh;
SELECT throws_ok($$SELECT 1 FROM crm.interaction$$, '42501', NULL, 'R2 warehouse cannot read the history');
SELECT throws_ok($$SELECT crm.register_call_note('+79160000000', 'x')$$, '42501', NULL, 'R2 warehouse types no call notes');
SELECT is((SELECT count(*) FROM crm.inquiry_category)::int, (SELECT count(*) FROM crm.inquiry_category)::int,
  'R8 the categories are readable by all');
RESET SESSION AUTHORIZATION;

-- BI and 1C: everything, read-only
SET SESSION AUTHORIZATION ti_bi;
SELECT is((SELECT count(*) FROM crm.interaction)::int, 4, 'R2 reader sees the whole history');
SELECT is((SELECT count(*) FROM crm.inquiry)::int, 1, 'R2 reader sees every inquiry');
SELECT is((SELECT count(*) FROM crm.email_message)::int, 1, 'R2 reader sees the e-mails');
SELECT throws_ok($$DELETE FROM crm.interaction$$, '42501', NULL, 'R2 reader changes nothing');
SELECT throws_ok($$SELECT crm.ingest_jivo_event('{}')$$, '42501', NULL, 'R2 reader feeds no intake');
RESET SESSION AUTHORIZATION;

-- the pollers' role: the intake functions and the escalation job, no tables
SET SESSION AUTHORIZATION ti_job;
SELECT lives_ok($$SELECT crm.ingest_call(linkedid => 'TI-job', caller => '+79161110009', called => '200', started_at => now())$$,
  'R4 R24 the integration role feeds calls');
SELECT lives_ok($$SELECT crm.ingest_email(convert_to(E'From: j@job.example\r\nMessage-ID: <ti-job@x>\r\n\r\nhello', 'UTF8'))$$,
  'R5 R24 the integration role feeds e-mails');
SELECT lives_ok($$SELECT crm.ingest_jivo_event('{"event_name": "offline_message", "offline_message_id": "ti", "visitor": {"email": "v@visitor.example"}, "message": "hi"}')$$,
  'R5 the integration role feeds JivoSite events');
SELECT lives_ok($$SELECT crm.escalate_inquiries()$$, 'R8 the integration role runs the escalation job');
SELECT lives_ok($$SELECT crm.parse_email(convert_to(E'From: j@job.example\r\n\r\nhello', 'UTF8'))$$,
  'R5 the integration role may try a message');
SELECT throws_ok($$SELECT 1 FROM crm.interaction$$, '42501', NULL, 'R2 the integration role reads no history');
SELECT throws_ok($$SELECT crm.triage_inquiry(1, 'spam')$$, '42501', NULL, 'R2 the integration role does not triage');
RESET SESSION AUTHORIZATION;

-- the administrator: reference data of the intake
SET SESSION AUTHORIZATION ti_admin;
SELECT lives_ok($$INSERT INTO crm.own_phone (number) VALUES ('+7 495 100-00-00')$$, 'R4 admin declares the company''s numbers');
SELECT lives_ok($$INSERT INTO crm.own_domain (domain) VALUES ('pumpmash.example')$$, 'R5 admin declares the company''s domains');
SELECT lives_ok($$INSERT INTO crm.email_template (code, title, kind, sender_pattern) VALUES ('new_form', 'Новая форма', 'form', '^form@')$$,
  'R5 admin adds a template for a new form');
SELECT lives_ok($$INSERT INTO crm.intake_settings (untriaged_after) VALUES ('2 hours')$$, 'R8 admin sets the escalation time');
SELECT is((SELECT count(*) FROM crm.interaction)::int, 7, 'R2 admin sees the whole history');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
