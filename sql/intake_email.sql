-- intake_email: raw e-mails are read by template and matched (R3, R5, R6,
-- R7).  The fixtures of test/fixtures/mail/ are read with crm.parse_email and
-- compared with their manifest, then loaded with crm.ingest_email.  All in
-- one transaction, rolled back at the end.
\pset null '(null)'
\getenv abs_srcdir PG_ABS_SRCDIR
\set mail :abs_srcdir '/test/fixtures/mail/'
BEGIN;
SET LOCAL timezone = 'Europe/Moscow';

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.counts() RETURNS TABLE (interactions bigint, inquiries bigint, counterparties bigint,
  contacts bigint, points bigint, messages bigint, notifications bigint) LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM crm.interaction), (SELECT count(*) FROM crm.inquiry),
         (SELECT count(*) FROM crm.counterparty), (SELECT count(*) FROM crm.contact),
         (SELECT count(*) FROM crm.contact_point), (SELECT count(*) FROM crm.email_message),
         (SELECT count(*) FROM crm.notification)
$$;
CREATE TEMP TABLE mark AS SELECT * FROM pg_temp.counts();
CREATE FUNCTION pg_temp.mark() RETURNS void LANGUAGE sql AS $$
  DELETE FROM mark; INSERT INTO mark SELECT * FROM pg_temp.counts();
$$;
CREATE FUNCTION pg_temp.delta() RETURNS text LANGUAGE sql AS $$
  SELECT format('+%s interactions, +%s inquiries, +%s counterparties, +%s contacts, +%s points, +%s messages, +%s notifications',
                c.interactions - m.interactions, c.inquiries - m.inquiries, c.counterparties - m.counterparties,
                c.contacts - m.contacts, c.points - m.points, c.messages - m.messages, c.notifications - m.notifications)
    FROM pg_temp.counts() c, mark m
$$;
-- a message built here: headers and a body, CRLF line ends
CREATE FUNCTION pg_temp.msg(headers text, body text) RETURNS bytea LANGUAGE sql AS $$
  SELECT convert_to(replace(headers, E'\n', E'\r\n') || E'\r\n\r\n' || replace(body, E'\n', E'\r\n'), 'UTF8')
$$;

-- the company: its domain and number, a head of sales, triage, a manager
-- with a company address; a known client
SELECT count(crm.hire(login, full_name, dep, pos, email, phone)) AS hired
  FROM (VALUES ('re_head', 'Анна Главная', 'alto', 'head', NULL, NULL),
               ('re_triage', 'Жанна Разбор', 'management', 'triage', NULL, NULL),
               ('re_petrov', 'Борис Петров', 'alto', 'manager', 'petrov@pumpmash.example', '+7 495 100-00-11')) AS e(login, full_name, dep, pos, email, phone);
INSERT INTO crm.own_domain (domain) VALUES ('pumpmash.example');
INSERT INTO crm.own_phone (number) VALUES ('+7 495 100-00-00');
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
  SELECT 'client', 'Климатест', d.id, e.id FROM crm.department d, crm.employee e
   WHERE d.code = 'alto' AND e.role_name = 're_petrov';
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'Водоканал-Сервис');
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Андрей Белов' FROM crm.counterparty WHERE name = 'Климатест';
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Виктор Семёнов' FROM crm.counterparty WHERE name = 'Водоканал-Сервис';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'email', 'belov@klimatest.example' FROM crm.contact WHERE full_name = 'Андрей Белов';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '8 (473) 255-10-10' FROM crm.contact WHERE full_name = 'Виктор Семёнов';

-- ---------------------------------------------------------------------------
-- R5: the fixtures, as their manifest describes them

CREATE TEMP TABLE fixture AS
SELECT m.ord, m.e ->> 'file' AS file, m.e AS expect, pg_read_binary_file(:'mail' || (m.e ->> 'file')) AS raw
  FROM jsonb_array_elements(pg_read_file(:'mail' || 'manifest.json')::jsonb) WITH ORDINALITY AS m(e, ord);
SELECT count(*) AS fixtures, count(*) FILTER (WHERE expect ? 'error') AS to_refuse,
       count(DISTINCT expect ->> 'template') AS templates, max(length(raw)) > 2000000 AS one_is_huge
  FROM fixture;

-- what crm.parse_email reads, or the SQLSTATE it refuses with
CREATE FUNCTION pg_temp.parse(raw bytea) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RETURN crm.parse_email(raw);
EXCEPTION WHEN OTHERS THEN
  RETURN jsonb_build_object('error', SQLSTATE, 'message', SQLERRM);
END $$;
CREATE FUNCTION pg_temp.sorted(j jsonb) RETURNS text[] LANGUAGE sql AS $$
  SELECT COALESCE(array_agg(x ORDER BY x), '{}') FROM jsonb_array_elements_text(j) x
$$;
-- the phones / e-mails found, less the company's own ones
CREATE FUNCTION pg_temp.keys(got jsonb, what text) RETURNS text[] LANGUAGE sql AS $$
  SELECT COALESCE(array_agg(x ORDER BY x), '{}') FROM jsonb_array_elements_text(got -> what) x
   WHERE NOT (got -> 'own') ? x
$$;
CREATE TEMP TABLE parsed AS SELECT f.*, pg_temp.parse(f.raw) AS got FROM fixture f;

SELECT file, COALESCE(got ->> 'template', got ->> 'error') AS template, got ->> 'name' AS name,
       pg_temp.keys(got, 'phones') AS phones, pg_temp.keys(got, 'emails') AS emails, got ->> 'company' AS company
  FROM parsed ORDER BY ord;

-- every expectation of the manifest that is not met (none)
SELECT p.file, c.what, c.expected, c.actual
  FROM parsed p, LATERAL (VALUES
    ('error', p.expect -> 'error', p.got -> 'error'),
    ('template', p.expect -> 'template', p.got -> 'template'),
    ('name', p.expect -> 'name', p.got -> 'name'),
    ('company', p.expect -> 'company', p.got -> 'company'),
    ('phones', to_jsonb(pg_temp.sorted(p.expect -> 'phones')), to_jsonb(pg_temp.keys(p.got, 'phones'))),
    ('emails', to_jsonb(pg_temp.sorted(p.expect -> 'emails')), to_jsonb(pg_temp.keys(p.got, 'emails'))),
    ('request', p.expect -> 'request_starts',
     CASE WHEN p.expect ->> 'request_starts' IS NULL THEN p.expect -> 'request_starts'
          ELSE to_jsonb(left(p.got ->> 'request', length(p.expect ->> 'request_starts'))) END),
    ('body_from_html', p.expect -> 'body_from_html', p.got -> 'body_from_html'),
    ('automatic', to_jsonb(COALESCE((p.expect ->> 'automatic')::boolean, false)),
     to_jsonb(jsonb_typeof(p.got -> 'automatic') = 'string')),
    ('attachments', p.expect -> 'attachments',
     CASE WHEN p.expect -> 'attachments' = 'null' THEN 'null' ELSE to_jsonb(jsonb_array_length(p.got -> 'attachments')) END),
    ('attachment_names', p.expect -> 'attachment_names',
     CASE WHEN p.expect ? 'attachment_names' THEN (SELECT jsonb_agg(a -> 'filename') FROM jsonb_array_elements(p.got -> 'attachments') a) END),
    ('attachment_sizes', p.expect -> 'attachment_sizes',
     CASE WHEN p.expect ? 'attachment_sizes' THEN (SELECT jsonb_agg(a -> 'size') FROM jsonb_array_elements(p.got -> 'attachments') a) END),
    ('charset', p.expect -> 'charset', CASE WHEN p.expect ? 'charset' THEN p.got -> 'charset' END),
    ('subject', p.expect -> 'subject', CASE WHEN p.expect ? 'subject' THEN p.got -> 'subject' END),
    ('date', p.expect -> 'date', CASE WHEN p.expect ? 'date' THEN p.got -> 'date' END),
    ('message_id_hashed', p.expect -> 'message_id_hashed', CASE WHEN p.expect ? 'message_id_hashed' THEN p.got -> 'message_id_hashed' END),
    ('notes', p.expect -> 'notes_contain',
     CASE WHEN p.expect ? 'notes_contain' THEN
       (SELECT to_jsonb(n) FROM jsonb_array_elements_text(p.got -> 'notes') n WHERE n LIKE '%' || (p.expect ->> 'notes_contain') || '%' LIMIT 1)
     END)
  ) AS c(what, expected, actual)
 WHERE c.expected IS DISTINCT FROM c.actual
   AND NOT (c.what = 'notes' AND c.actual #>> '{}' LIKE '%' || (c.expected #>> '{}') || '%')
   AND NOT (p.expect ? 'error' AND c.what <> 'error')
 ORDER BY p.ord, c.what;

-- the refused ones say why
SELECT file, got ->> 'error' AS sqlstate, got ->> 'message' AS message FROM parsed WHERE got ? 'error' ORDER BY ord;

-- one message in full, as an administrator trying a template sees it
SELECT jsonb_pretty(got - 'body' - 'date') FROM parsed WHERE file = '05_jivo_offline_koi8r.eml';
SELECT got ->> 'body' AS body_of_html_chat FROM parsed WHERE file = '01_jivo_chat_ru.eml';

-- ---------------------------------------------------------------------------
-- R5 R6 R7: loaded in order, each becomes what the manifest says

SELECT pg_temp.mark() AS _ \gset
CREATE TEMP TABLE loaded (ord bigint, file text, id bigint, outcome text);
DO $$
DECLARE
  f record;
  id bigint;
BEGIN
  FOR f IN SELECT * FROM fixture WHERE NOT expect ? 'error' ORDER BY ord LOOP
    id := crm.ingest_email(f.raw);
    INSERT INTO loaded VALUES (f.ord, f.file, id, NULL);
  END LOOP;
END $$;
UPDATE loaded l SET outcome =
  CASE WHEN i.id IS NOT NULL AND i.anonymous THEN 'anonymous'
       WHEN i.id IS NOT NULL AND i.conflict THEN 'conflict'
       WHEN i.id IS NOT NULL THEN 'new_lead'
       WHEN x.counterparty_id IS NOT NULL THEN 'known'
       WHEN x.direction = 'in' THEN 'recorded'
       ELSE x.direction END
  FROM crm.interaction x LEFT JOIN crm.inquiry i ON i.id = x.inquiry_id
 WHERE x.id = l.id;
SELECT l.file, l.outcome, x.source, x.direction, c.name AS counterparty,
       x.occurred_at = m.sent_at AS dated_by_header
  FROM loaded l JOIN crm.interaction x ON x.id = l.id LEFT JOIN crm.counterparty c ON c.id = x.counterparty_id
  JOIN crm.email_message m ON m.interaction_id = x.id
 ORDER BY l.ord;
SELECT l.file, l.outcome, f.expect ->> 'outcome' AS expected
  FROM loaded l JOIN fixture f USING (ord) WHERE l.outcome IS DISTINCT FROM f.expect ->> 'outcome';
SELECT pg_temp.delta();

-- the lead of the JivoSite chat (01) also got the hand-written follow-up (32)
SELECT c.name, c.kind, array_agg(DISTINCT cp.normalized ORDER BY cp.normalized) AS keys,
       count(DISTINCT x.id) AS interactions, count(DISTINCT i.id) AS inquiries
  FROM crm.counterparty c JOIN crm.contact_point cp ON cp.counterparty_id = c.id
  JOIN crm.interaction x ON x.counterparty_id = c.id LEFT JOIN crm.inquiry i ON i.counterparty_id = c.id
 WHERE cp.normalized = 'igor.vasnetsov@agroholding-yug.example' GROUP BY c.id;

-- machines' mail (a bounce, a known client's auto-reply) makes no lead and
-- tells nobody; the auto-reply still joins the client's history
SELECT l.file, l.outcome, c.name AS counterparty, m.extracted ->> 'automatic' AS automatic,
       (SELECT count(*) FROM crm.notification n WHERE n.payload ->> 'interaction' = l.id::text) AS told
  FROM loaded l JOIN crm.interaction x ON x.id = l.id JOIN crm.email_message m ON m.interaction_id = l.id
  LEFT JOIN crm.counterparty c ON c.id = x.counterparty_id
 WHERE l.file LIKE '3%auto%' ORDER BY l.ord;

-- R7: the lead card holds what the first contact gave
SELECT i.source, i.contact_name, i.company, i.phones, i.emails, left(i.request, 60) AS request,
       i.details ->> 'template' AS template
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id
  JOIN loaded l ON l.id = x.id WHERE l.file = '06_site_form_ru_html_cp1251.eml';
SELECT c.name AS lead, ct.full_name AS contact, cp.kind, cp.value, cp.normalized, cp.extension, cp.is_primary
  FROM crm.counterparty c JOIN crm.contact ct ON ct.counterparty_id = c.id JOIN crm.contact_point cp ON cp.contact_id = ct.id
 WHERE c.source_inquiry_id = (SELECT x.inquiry_id FROM crm.interaction x JOIN loaded l ON l.id = x.id
                               WHERE l.file = '06_site_form_ru_html_cp1251.eml')
 ORDER BY cp.id;

-- R5: forms and chats never make the robot's From a contact; hand-written
-- mail honours Reply-To
SELECT count(*) AS robot_contact_points FROM crm.contact_point
 WHERE normalized IN ('noreply@jivosite.com', 'notifications@mail.jivo.ru', 'noreply@pumpmash.example',
                      'robot@pumpmash.example', 'wordpress@pumpmash.example', 'robot@tilda.ws', 'forms@pumpmash.example');
SELECT cp.normalized FROM crm.contact_point cp
 WHERE cp.normalized IN ('o.kravtsov@romashka-electro.example', 'office@romashka-electro.example');
-- the operator's own number in a chat is not the visitor's (03)
SELECT i.phones FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id JOIN loaded l ON l.id = x.id
 WHERE l.file = '03_jivo_chat_phone_in_message.eml';

-- R5: the raw message is kept byte for byte, with what was read from it
SELECT count(*) AS kept_exactly FROM fixture f JOIN loaded l USING (ord)
  JOIN crm.email_message m ON m.interaction_id = l.id WHERE m.raw = f.raw;
SELECT l.file, m.message_id, m.message_id_hashed, m.from_address, m.reply_to, m.subject, m.sent_at,
       t.code AS template, jsonb_array_length(m.attachments) AS attachments
  FROM loaded l JOIN crm.email_message m ON m.interaction_id = l.id LEFT JOIN crm.email_template t ON t.id = m.template_id
 WHERE l.file IN ('12_handwritten_reply_to.eml', '18_handwritten_huge_attachment.eml', '19_missing_message_id.eml',
                  '20_missing_date_and_subject.eml')
 ORDER BY l.ord;
SELECT (x.occurred_at >= now()) AS dated_on_arrival FROM crm.interaction x JOIN loaded l ON l.id = x.id
 WHERE l.file = '20_missing_date_and_subject.eml';
SELECT count(*) AS stored_as_read FROM parsed p JOIN loaded l USING (ord) JOIN crm.email_message m ON m.interaction_id = l.id
  JOIN crm.interaction x ON x.id = l.id
 WHERE m.extracted ->> 'name' IS NOT DISTINCT FROM p.got ->> 'name'
   AND m.extracted -> 'phones' = p.got -> 'phones' AND m.extracted -> 'emails' = p.got -> 'emails'
   AND (m.extracted ->> 'request_length')::int = COALESCE(octet_length(p.got ->> 'request'), 0)
   AND x.body = p.got ->> 'body';

-- R5: the same Message-ID never loads twice; without one, the same bytes
SELECT pg_temp.mark() AS _ \gset
SELECT count(*) AS same_ids FROM fixture f JOIN loaded l USING (ord) WHERE crm.ingest_email(f.raw) = l.id;
SELECT pg_temp.delta();
-- another copy of a message without Message-ID, one byte different, is another message
SELECT crm.ingest_email(raw || '\x0a'::bytea) <> l.id AS another FROM fixture f JOIN loaded l USING (ord)
 WHERE f.file = '19_missing_message_id.eml';

-- R6: the sender's address points to one counterparty, a phone in the
-- signature to another: no merge, an inquiry for triage, flagged
SELECT pg_temp.mark() AS _ \gset
SELECT crm.ingest_email(pg_temp.msg(
  'From: Andrey Belov <belov@klimatest.example>
To: zakaz@pumpmash.example
Subject: Counterparty conflict
Message-ID: <conflict-1@klimatest.example>
Content-Type: text/plain; charset=utf-8',
  'Добрый день, пишу по поручению водоканала.
--
Тел.: 8 (473) 255-10-10')) > 0 AS loaded;
SELECT i.status, i.conflict, i.anonymous, i.counterparty_id,
       (SELECT array_agg(c.name ORDER BY c.name) FROM crm.counterparty c WHERE c.id = ANY (i.conflict_counterparty_ids)) AS belongs_to,
       i.phones, i.emails
  FROM crm.inquiry i JOIN crm.interaction x ON x.inquiry_id = i.id WHERE x.dedup_key = 'email:conflict-1@klimatest.example';
SELECT e.role_name, n.kind, regexp_replace(n.message, '№[0-9]+', '№N') AS message
  FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
 WHERE n.kind = 'inquiry_conflict' ORDER BY 1;
SELECT pg_temp.delta();

-- R6: a known address with a new phone in the signature: appended to the
-- client's history, and the phone joins that contact's points
SELECT crm.ingest_email(pg_temp.msg(
  'From: Andrey Belov <belov@klimatest.example>
To: zakaz@pumpmash.example
Subject: New mobile
Message-ID: <newphone-1@klimatest.example>
Content-Type: text/plain; charset=utf-8',
  'Мой новый мобильный ниже.
Моб.: +7 926 400-50-60')) > 0 AS loaded;
SELECT ct.full_name, array_agg(cp.normalized ORDER BY cp.normalized) AS keys FROM crm.contact ct
  JOIN crm.contact_point cp ON cp.contact_id = ct.id WHERE ct.full_name = 'Андрей Белов' GROUP BY ct.full_name;

-- R5: mail from the company's own people or domain is not a request
SELECT pg_temp.mark() AS _ \gset
SELECT crm.ingest_email(pg_temp.msg(
  'From: Борис Петров <Petrov@PumpMash.example>
To: zakaz@pumpmash.example
Subject: fwd
Message-ID: <own-1@pumpmash.example>', 'Коллеги, посмотрите.')) > 0 AS loaded;
SELECT crm.ingest_email(pg_temp.msg(
  'From: info@pumpmash.example
To: zakaz@pumpmash.example
Subject: test
Message-ID: <own-2@pumpmash.example>', 'Проверка.')) > 0 AS loaded;
SELECT x.direction, x.counterparty_id, x.inquiry_id FROM crm.interaction x
 WHERE x.dedup_key IN ('email:own-1@pumpmash.example', 'email:own-2@pumpmash.example') ORDER BY x.dedup_key;
SELECT pg_temp.delta();

-- the Date header is the sender's claim: a message dated next year is
-- recorded when it arrived, the claim is kept
SELECT crm.ingest_email(pg_temp.msg(
  'From: future@clock-ahead.example
To: zakaz@pumpmash.example
Subject: From the future
Date: ' || to_char(now() + interval '1 year', 'Dy, DD Mon YYYY HH24:MI:SS') || ' +0300
Message-ID: <future-1@clock-ahead.example>', 'Нужен насос.')) > 0 AS loaded;
SELECT x.occurred_at >= now() AS dated_on_arrival, m.sent_at > now() + interval '300 days' AS claim_kept
  FROM crm.interaction x JOIN crm.email_message m ON m.interaction_id = x.id
 WHERE x.dedup_key = 'email:future-1@clock-ahead.example';

-- ---------------------------------------------------------------------------
-- bad input: a clear error with its SQLSTATE, and nothing changed

SELECT pg_temp.mark() AS _ \gset
SELECT f.file, pg_temp.try(format('SELECT crm.ingest_email(%L::bytea)', f.raw)) AS refused
  FROM fixture f WHERE f.expect ? 'error' ORDER BY f.ord;
SELECT pg_temp.try($$SELECT crm.ingest_email(''::bytea)$$);
SELECT pg_temp.try($$SELECT crm.ingest_email(E'\r\n\r\n  \r\n'::bytea)$$);
SELECT pg_temp.try($$SELECT crm.ingest_email(convert_to(E'From: a@b.example\r\nSubject: x', 'UTF8') || '\x00'::bytea
                                            || convert_to(E'y\r\n\r\nbody', 'UTF8'))$$) AS nul_in_header;
SELECT pg_temp.try(format('SELECT crm.ingest_email(%L::bytea)', pg_temp.msg(
  'From: x@sender.example
Message-ID: <bad-qp-charset@sender.example>
Content-Type: text/html; charset="utf-8//IGNORE"', '<p>hi</p>')));
INSERT INTO crm.intake_settings (max_message_bytes) VALUES (1048576);
SELECT pg_temp.try(format('SELECT crm.ingest_email(%L::bytea)', raw)) AS huge FROM fixture
 WHERE file = '18_handwritten_huge_attachment.eml';
DELETE FROM crm.intake_settings;
SELECT pg_temp.delta();

-- ---------------------------------------------------------------------------
-- R5: templates are data: a new website form is a new row, not new code

CREATE TEMP TABLE service_mail AS SELECT pg_temp.msg(
  'From: Сервисный сайт <service-site@pumpmash-service.example>
To: service@pumpmash.example
Subject: =?UTF-8?B?0JfQsNGP0LLQutCwINC90LAg0YHQtdGA0LLQuNGB?=
Message-ID: <svc-1@pumpmash-service.example>
Content-Type: text/plain; charset=utf-8',
  'Заказчик: ООО «Тепловые сети Самары»
Ответственный: Лидия Шарова
Тел. для связи: 8 846 200 30 40
Почта для ответа: l.sharova@teploseti-samara.example
Неисправность:
Компрессор ВК-15 не набирает давление, ошибка E07.
Серийный номер 15-0457.') AS raw;
-- without a row of its own it is read as hand-written (the robot is the contact)
SELECT got ->> 'template' AS template, got -> 'emails' AS emails, got -> 'phones' AS phones
  FROM (SELECT crm.parse_email(raw) AS got FROM service_mail) x;
INSERT INTO crm.email_template (code, title, kind, priority, sender_pattern, subject_pattern,
                                name_labels, phone_labels, email_labels, company_labels, request_labels)
VALUES ('service_form', 'Заявка на сервис (сайт сервиса)', 'form', 25, '^service-site@', 'заявка на сервис',
        '{Ответственный}', '{Тел. для связи}', '{Почта для ответа}', '{Заказчик}', '{Неисправность}');
SELECT got ->> 'template' AS template, got ->> 'name' AS name, got -> 'phones' AS phones, got -> 'emails' AS emails,
       got ->> 'company' AS company, got ->> 'request' AS request
  FROM (SELECT crm.parse_email(raw) AS got FROM service_mail) x;
-- a bad pattern is refused when the row is written, not when mail arrives
SELECT pg_temp.try($$INSERT INTO crm.email_template (code, title, kind, subject_pattern) VALUES ('bad', 'Bad', 'form', '(unclosed')$$);
SELECT pg_temp.try($$INSERT INTO crm.email_template (code, title, kind, name_labels) VALUES ('bad2', 'Bad', 'form', '{Имя,NULL}')$$);
-- no active template at all: read as hand-written
UPDATE crm.email_template SET active = false;
SELECT crm.parse_email(raw) ->> 'template' AS template FROM service_mail;

ROLLBACK;
