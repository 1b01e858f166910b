-- demo/20_intake.sql: a morning of calls and e-mails (R3-R9).  The PBX
-- calls and the mailbox's messages (the fixtures of test/fixtures/mail, read
-- by psql from the repository and decoded in the server) arrive as the
-- pollers would feed them; known clients' requests join their history,
-- strangers become leads, triage and the heads do their part.  The morning
-- is the three hours before the demo is loaded.  Loaded once.
SELECT NOT EXISTS (SELECT FROM crm.interaction WHERE dedup_key = 'call:demo.0900.1') AS fresh \gset
\if :fresh
\echo demo: a morning of calls and e-mails
-- the messages, read by psql (run from the repository, as make demo does)
\set m01 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/01_jivo_chat_ru.eml`
\set m04 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/04_jivo_offline_ru.eml`
\set m06 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/06_site_form_ru_html_cp1251.eml`
\set m09 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/09_site_form_callback_phone_only.eml`
\set m11 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/11_handwritten_ru_plain_utf8.eml`
\set m15 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/15_handwritten_html_only_outlook.eml`
\set m18 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/18_handwritten_huge_attachment.eml`
\set m27 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/27_known_client_reply_quoted.eml`
\set m32 `base64 -w0 "${CRM_DEMO_TOP:-.}"/test/fixtures/mail/32_same_person_as_jivo_chat.eml`
BEGIN;
-- the company's main number and mail domain (extensions 100-9999 are built in);
-- Anna Ivanova, Alto's head, is the head of sales who hears of new leads
INSERT INTO crm.own_phone (number, note) VALUES ('+7 (495) 100-00-00', 'многоканальный, MikoPBX') ON CONFLICT DO NOTHING;
INSERT INTO crm.own_domain (domain, note) VALUES ('pumpmash.example', 'почта компании') ON CONFLICT DO NOTHING;
INSERT INTO crm.intake_settings (head_of_sales_id)
  SELECT id FROM crm.employee WHERE role_name = 'ivanova' ON CONFLICT (id) DO NOTHING;

CREATE TEMP TABLE demo_clock AS SELECT now() - interval '3 hours' AS t0;
CREATE FUNCTION pg_temp.at(minutes integer) RETURNS timestamptz LANGUAGE sql AS
  $$ SELECT t0 + minutes * interval '1 minute' FROM demo_clock $$;

-- the PBX, as the poller feeds it (MikoPBX CDR: one linkedid per call)
SELECT count(crm.ingest_call(linkedid => l, caller => c, called => d, started_at => pg_temp.at(m),
                             answered_at => CASE WHEN disp = 'ANSWERED' THEN pg_temp.at(m) + interval '8 seconds' END,
                             ended_at => pg_temp.at(m) + (dur || ' seconds')::interval, duration => dur,
                             billsec => CASE WHEN disp = 'ANSWERED' THEN dur - 8 ELSE 0 END,
                             disposition => disp, recording => CASE WHEN disp = 'ANSWERED' THEN 'rec/' || l || '.mp3' END,
                             direction => dir)) AS calls
  FROM (VALUES
    ('demo.0900.1', '+7 916 210-33-44', '+74951000000', 5, 'ANSWERED', 312, 'in'),     -- Климатест, known
    ('demo.0900.2', '89035551234', '+74951000000', 12, 'ANSWERED', 185, 'in'),         -- a stranger: a lead
    ('demo.0900.3', NULL, '+74951000000', 17, 'NO ANSWER', 20, 'in'),                  -- hidden number
    ('demo.0900.4', '+7 (473) 255-10-10', '+74951000000', 26, 'NO ANSWER', 25, 'in'),  -- Водоканал-Сервис, missed
    ('demo.0900.5', '211', '8 (473) 255-10-10', 40, 'ANSWERED', 140, 'out'),           -- Новикова calls back
    ('demo.0900.6', '212', '213', 45, 'ANSWERED', 60, 'internal'),
    ('demo.0900.7', '+7 903 555 12 34', '+74951000000', 95, 'ANSWERED', 240, 'in'),    -- the stranger again
    ('demo.0900.8', '+7 912 640 11 22', '+74951000000', 150, 'BUSY', 5, 'in')          -- a new number
  ) AS x(l, c, d, m, disp, dur, dir);
-- the same CDR polled again changes nothing
SELECT crm.ingest_call(linkedid => 'demo.0900.2', caller => '89035551234', called => '+74951000000',
                       started_at => pg_temp.at(12), disposition => 'ANSWERED', direction => 'in') > 0 AS polled_again;

-- the mailbox, as the IMAP poller feeds it
SELECT count(crm.ingest_email(decode(m, 'base64'))) AS messages
  FROM unnest(ARRAY[:'m01', :'m04', :'m06', :'m09', :'m11', :'m15', :'m18', :'m27', :'m32']) AS m;

-- a JivoSite webhook event forwarded by the receiver
SELECT crm.ingest_jivo_event(jsonb_build_object(
  'event_name', 'chat_finished', 'chat_id', 99871, 'widget_id', 'demo',
  'visitor', jsonb_build_object('name', 'Олег Ветров', 'email', 'o.vetrov@gidromash-nn.example', 'phone', '8 (831) 411-22-33'),
  'page', jsonb_build_object('url', 'https://pumpmash.example/catalog/nb-50'),
  'chat', jsonb_build_object('messages', jsonb_build_array(
    jsonb_build_object('timestamp', extract(epoch FROM pg_temp.at(100)), 'type', 'visitor', 'message', 'Есть НБ-50 в наличии?'),
    jsonb_build_object('timestamp', extract(epoch FROM pg_temp.at(101)), 'type', 'agent', 'message', 'Под заказ, 6 недель.'),
    jsonb_build_object('timestamp', extract(epoch FROM pg_temp.at(102)), 'type', 'visitor', 'message', 'Пришлите КП.'))))) > 0 AS chat;

-- a manager types a conversation on their mobile (the only manual entry, R8)
SELECT pg_temp.at(120) AS t120 \gset
SET ROLE petrov;
SELECT crm.register_call_note(phone => '+7 (915) 300-40-50', summary => 'Звонил на мобильный: нужен вибростенд ВС-300 для испытаний блоков',
                              occurred_at => :'t120', contact_name => 'Сергей Ильин', company => 'ООО «ВиброЛаб»',
                              email => 's.ilin@vibrolab.example') > 0 AS note;
RESET ROLE;

-- triage classifies (R8) ...
SET ROLE morozova;
SELECT count(*) AS done FROM (SELECT crm.triage_inquiry(i.id, 'equipment', 'prom', 'насосы ЦНС')
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id WHERE x.dedup_key = 'call:demo.0900.2') x;
SELECT count(*) AS done FROM (SELECT crm.triage_inquiry(i.id, 'testing', 'testing')
  FROM crm.inquiry i WHERE i.source = 'handwritten' AND 'e.miroshnikova@res-nsk.example' = ANY (i.emails)) x;
SELECT count(*) AS done FROM (SELECT crm.triage_inquiry(i.id, 'wrong_number', NULL, 'не дозвонились, номер скрыт')
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id WHERE x.dedup_key = 'call:demo.0900.3') x;
RESET ROLE;
-- ... the heads assign (R8) ...
SET ROLE popov;
SELECT count(*) AS done FROM (SELECT crm.assign_inquiry(i.id, (SELECT id FROM crm.employee WHERE role_name = 'lebedeva'))
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id WHERE x.dedup_key = 'call:demo.0900.2') x;
RESET ROLE;
SET ROLE ivanova;
SELECT count(*) AS done FROM (SELECT crm.assign_inquiry(i.id, (SELECT id FROM crm.employee WHERE role_name = 'kuznetsov'))
  FROM crm.inquiry i WHERE i.source = 'handwritten' AND 'e.miroshnikova@res-nsk.example' = ANY (i.emails)) x;
RESET ROLE;
-- ... and the responsible manager qualifies (R9)
SET ROLE lebedeva;
SELECT count(*) AS done FROM (SELECT crm.qualify_inquiry(i.id, true)
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id WHERE x.dedup_key = 'call:demo.0900.2') x;
RESET ROLE;
COMMIT;
\endif
