-- intake_triage: triage, assignment, qualification, escalation (R8, R9);
-- JivoSite webhook events (R5) and call notes typed by people (R8), which
-- go through the same matching (R6).  One transaction, rolled back.
\pset null '(null)'
BEGIN;
SET LOCAL timezone = 'Europe/Moscow';

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO PUBLIC;
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;
-- (the helpers run as the test's superuser, whoever is logged in)
CREATE FUNCTION pg_temp.emp(r name) RETURNS integer LANGUAGE sql SECURITY DEFINER AS
  $$ SELECT id FROM crm.employee WHERE role_name = r $$;
GRANT EXECUTE ON FUNCTION pg_temp.emp(name) TO PUBLIC;
-- the inquiry of a call, by linkedid
CREATE FUNCTION pg_temp.iq(l text) RETURNS bigint LANGUAGE sql SECURITY DEFINER AS
  $$ SELECT inquiry_id FROM crm.interaction WHERE dedup_key = 'call:' || l $$;
GRANT EXECUTE ON FUNCTION pg_temp.iq(text) TO PUBLIC;
CREATE FUNCTION pg_temp.inquiry(i bigint) RETURNS TABLE (status text, category text, department text,
  responsible name, genuine boolean, close_reason text, triaged_by name, assigned_by name, qualified_by name,
  lead_department text, lead_responsible name)
LANGUAGE sql AS $$
  SELECT q.status, q.category, d.code, r.role_name, q.genuine, q.close_reason, t.role_name, a.role_name, f.role_name,
         cd.code, cr.role_name
    FROM crm.inquiry q LEFT JOIN crm.department d ON d.id = q.department_id
    LEFT JOIN crm.employee r ON r.id = q.responsible_id LEFT JOIN crm.employee t ON t.id = q.triaged_by
    LEFT JOIN crm.employee a ON a.id = q.assigned_by LEFT JOIN crm.employee f ON f.id = q.qualified_by
    LEFT JOIN crm.counterparty c ON c.id = q.counterparty_id LEFT JOIN crm.department cd ON cd.id = c.department_id
    LEFT JOIN crm.employee cr ON cr.id = c.responsible_id
   WHERE q.id = i
$$;
CREATE FUNCTION pg_temp.news() RETURNS TABLE (recipient name, kind text, message text) LANGUAGE sql AS $$
  SELECT e.role_name, n.kind, regexp_replace(n.message, '№[0-9]+', '№N')
    FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
   WHERE n.id > COALESCE(current_setting('rt.seen', true), '0')::bigint ORDER BY e.role_name, n.id
$$;
CREATE FUNCTION pg_temp.seen() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('rt.seen', COALESCE((SELECT max(id) FROM crm.notification), 0)::text, true)::text, NULL::void
$$;

SELECT count(crm.hire(login, full_name, dep, pos)) AS hired
  FROM (VALUES ('rt_head_alto', 'Анна Главная', 'alto', 'head'),
               ('rt_head_prom', 'Дарья Промова', 'prom', 'head'),
               ('rt_mgr_alto', 'Борис Первый', 'alto', 'manager'),
               ('rt_tester', 'Глеб Испытатель', 'testing', 'manager'),
               ('rt_mgr_prom', 'Егор Промов', 'prom', 'manager'),
               ('rt_triage', 'Жанна Разбор', 'management', 'triage'),
               ('rt_admin', 'Кира Админ', 'management', 'admin')) AS e(login, full_name, dep, pos);
-- a person with two roles: logs in as rt_boss, acts as the triage officer by SET ROLE
CREATE ROLE rt_boss LOGIN IN ROLE rt_triage;
INSERT INTO crm.intake_settings (head_of_sales_id, notify_triage) VALUES (pg_temp.emp('rt_head_alto'), false);

-- three new leads by phone, one anonymous call
SELECT count(crm.ingest_call(linkedid => l, caller => c, called => '200', started_at => now() - interval '1 hour'))
  FROM (VALUES ('T1', '+7 903 100-00-01'), ('T2', '+7 903 100-00-02'), ('T3', '+7 903 100-00-03'),
               ('T4', NULL)) AS x(l, c);
-- R8: with a head of sales configured (and triage not told), only that head hears of new leads
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R8: triage classifies and gives a department; the head of that
-- department is told.  Who triaged is whoever called -- here the person
-- logged in as rt_boss acting as rt_triage by SET ROLE.
SET SESSION AUTHORIZATION rt_boss;
SET ROLE rt_triage;
SELECT crm.triage_inquiry(pg_temp.iq('T1'), 'equipment', 'prom', 'насосы ЦНС');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T1'));
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset
-- Testing has no head of its own: Alto's head is told
SET SESSION AUTHORIZATION rt_triage;
SELECT crm.triage_inquiry(pg_temp.iq('T2'), 'testing', 'testing');
-- a closing category closes without a department
SELECT crm.triage_inquiry(pg_temp.iq('T3'), 'wrong_number', NULL, 'ошиблись номером');
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T2'));
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T3'));
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R8: the head of the department assigns the responsible employee, who is told
SET SESSION AUTHORIZATION rt_head_prom;
SELECT crm.assign_inquiry(pg_temp.iq('T1'), pg_temp.emp('rt_mgr_prom'));
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T1'));
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset
-- Alto's head assigns in Testing (a department under Alto)
SET SESSION AUTHORIZATION rt_head_alto;
SELECT crm.assign_inquiry(pg_temp.iq('T2'), pg_temp.emp('rt_tester'));
RESET SESSION AUTHORIZATION;

-- R9: the responsible employee qualifies: genuine -> ready for a deal
SELECT crm.lead_is_qualified(counterparty_id) AS before_qualification FROM crm.inquiry WHERE id = pg_temp.iq('T1');
SET SESSION AUTHORIZATION rt_mgr_prom;
SELECT crm.qualify_inquiry(pg_temp.iq('T1'), true);
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T1'));
SELECT crm.lead_is_qualified(counterparty_id) AS after_qualification FROM crm.inquiry WHERE id = pg_temp.iq('T1');
-- not genuine -> closed with the reason; the lead stays a lead, not qualified
SET SESSION AUTHORIZATION rt_tester;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, false)', pg_temp.iq('T2')));
SELECT crm.qualify_inquiry(pg_temp.iq('T2'), false, 'студент, курсовая работа');
RESET SESSION AUTHORIZATION;
SELECT * FROM pg_temp.inquiry(pg_temp.iq('T2'));
SELECT c.kind, crm.lead_is_qualified(c.id) AS qualified FROM crm.counterparty c
  JOIN crm.inquiry i ON i.counterparty_id = c.id WHERE i.id = pg_temp.iq('T2');
SELECT crm.lead_is_qualified(-1) AS unknown_counterparty;

-- what may not be done, with its SQLSTATE
SET SESSION AUTHORIZATION rt_triage;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L, %L)', pg_temp.iq('T1'), 'equipment', 'alto')) AS already_assigned;
SELECT pg_temp.try('SELECT crm.triage_inquiry(-1, ''equipment'', ''alto'')') AS no_such_inquiry;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L, %L)', pg_temp.iq('T4'), 'bananas', 'alto')) AS unknown_category;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L)', pg_temp.iq('T4'), 'equipment')) AS no_department;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L, %L)', pg_temp.iq('T4'), 'equipment', 'nowhere')) AS unknown_department;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L, %L)', pg_temp.iq('T4'), 'equipment', 'alto')) AS anonymous_has_no_lead;
SELECT pg_temp.try(format('SELECT crm.assign_inquiry(%s, %s)', pg_temp.iq('T4'), pg_temp.emp('rt_mgr_alto'))) AS triage_cannot_assign;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, true)', pg_temp.iq('T4'))) AS triage_cannot_qualify;
RESET SESSION AUTHORIZATION;
-- a new lead for the assignment checks
SELECT crm.ingest_call(linkedid => 'T5', caller => '+7 903 100-00-05', called => '200', started_at => now()) > 0 AS recorded;
SET SESSION AUTHORIZATION rt_triage;
SELECT crm.triage_inquiry(pg_temp.iq('T5'), 'spare_parts', 'alto');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rt_head_prom;
SELECT pg_temp.try(format('SELECT crm.assign_inquiry(%s, %s)', pg_temp.iq('T5'), pg_temp.emp('rt_mgr_prom'))) AS head_of_another_department;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rt_head_alto;
SELECT pg_temp.try(format('SELECT crm.assign_inquiry(%s, %s)', pg_temp.iq('T5'), pg_temp.emp('rt_mgr_prom'))) AS responsible_of_another_department;
SELECT pg_temp.try(format('SELECT crm.assign_inquiry(%s, -1)', pg_temp.iq('T5'))) AS no_such_employee;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, true)', pg_temp.iq('T5'))) AS not_yet_assigned;
SELECT crm.assign_inquiry(pg_temp.iq('T5'), pg_temp.emp('rt_mgr_alto'));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rt_mgr_prom;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, true)', pg_temp.iq('T5'))) AS not_the_responsible;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rt_mgr_alto;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, NULL)', pg_temp.iq('T5'))) AS genuine_or_not;
SELECT pg_temp.try(format('SELECT crm.qualify_inquiry(%s, false, %L)', pg_temp.iq('T5'), '   ')) AS blank_reason;
-- the internal functions are not for people: only the extension owner runs them
SELECT pg_temp.try(format('SELECT crm._qualify_inquiry(%s::oid, %s, true, NULL)',
                          (SELECT oid FROM pg_roles WHERE rolname = 'rt_admin'), pg_temp.iq('T5'))) AS forge_caller;
SELECT pg_temp.try($$SELECT crm._intake_request('phone', 'manual', 'in', now(), 'note:x', NULL, NULL, '{+79031000009}', NULL, NULL, NULL, NULL, NULL, NULL, false, false)$$) AS internal_core;
RESET SESSION AUTHORIZATION;
-- the head of the department may qualify for the responsible; an admin may do anything
SET SESSION AUTHORIZATION rt_admin;
SELECT crm.qualify_inquiry(pg_temp.iq('T5'), false, 'дубль: уже ведёт Пром');
RESET SESSION AUTHORIZATION;
SELECT status, close_reason FROM pg_temp.inquiry(pg_temp.iq('T5'));
SELECT pg_temp.seen() AS _ \gset

-- R8: an anonymous or conflicting inquiry is attached to an existing
-- counterparty by triage: its history gets the call, the inquiry closes
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
  SELECT 'client', 'Нефтехимпром', d.id, pg_temp.emp('rt_mgr_prom') FROM crm.department d WHERE d.code = 'prom';
-- (triage does not see clients that have a department: the id is given, as
-- a conflicting inquiry's conflict_counterparty_ids give it)
SELECT id AS nhp FROM crm.counterparty WHERE name = 'Нефтехимпром' \gset
SET SESSION AUTHORIZATION rt_triage;
SELECT pg_temp.try(format('SELECT crm.attach_inquiry(%s, NULL)', pg_temp.iq('T4'))) AS no_counterparty;
SELECT crm.attach_inquiry(pg_temp.iq('T4'), :nhp);
SELECT pg_temp.try(format('SELECT crm.attach_inquiry(%s, %s)', pg_temp.iq('T4'), :nhp)) AS again;
SELECT pg_temp.try(format('SELECT crm.attach_inquiry(%s, -1)', pg_temp.iq('T5'))) AS has_a_lead;
RESET SESSION AUTHORIZATION;
SELECT status, close_reason, triaged_by FROM pg_temp.inquiry(pg_temp.iq('T4'));
SELECT c.name FROM crm.interaction x JOIN crm.counterparty c ON c.id = x.counterparty_id WHERE x.dedup_key = 'call:T4';
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R8: escalation.  Inquiries untriaged longer than untriaged_after give the
-- head of sales a task and a notification; triaged ones without a
-- responsible longer than unassigned_after give the department head one.
-- Each once: running the job again adds nothing.
SELECT name, schedule, command FROM crm.job WHERE name = 'intake_escalation';
SELECT crm.ingest_call(linkedid => 'T6', caller => '+7 903 100-00-06', called => '200', started_at => now()) > 0 AS recorded;
SELECT crm.ingest_call(linkedid => 'T7', caller => '+7 903 100-00-07', called => '200', started_at => now()) > 0 AS recorded;
SET SESSION AUTHORIZATION rt_triage;
SELECT crm.triage_inquiry(pg_temp.iq('T7'), 'service', 'prom');
RESET SESSION AUTHORIZATION;
SELECT pg_temp.seen() AS _ \gset
SELECT crm.escalate_inquiries() AS escalated_now;
SELECT crm.escalate_inquiries(now() + interval '5 hours') AS escalated_in_5_hours;
SELECT crm.escalate_inquiries(now() + interval '5 hours') AS again;
SELECT crm.escalate_inquiries(now() + interval '2 days') AS escalated_in_2_days;
SELECT e.role_name AS assignee, t.kind, regexp_replace(t.title, '№[0-9]+ (.*) с .*', '№N \1') AS title,
       t.due_at > now() AS due_later
  FROM crm.task t JOIN crm.employee e ON e.id = t.assignee_id WHERE t.kind = 'inquiry_escalation' ORDER BY t.id;
SELECT recipient, kind FROM pg_temp.news();
UPDATE crm.intake_settings SET untriaged_after = interval '10 minutes';
SELECT pg_temp.try('INSERT INTO crm.intake_settings (untriaged_after) VALUES (interval ''1 hour'')') AS one_row_only;
SELECT pg_temp.try('UPDATE crm.intake_settings SET unassigned_after = interval ''-1 hour''') AS negative;

-- ---------------------------------------------------------------------------
-- R5: JivoSite webhook events
SELECT pg_temp.seen() AS _ \gset
CREATE TEMP TABLE jivo AS SELECT $${
  "event_name": "chat_finished", "chat_id": 4471290, "widget_id": "Xk2mZa",
  "visitor": {"name": "Олег Ветров", "email": "O.Vetrov@gidromash-nn.example", "phone": "8 (831) 411-22-33", "number": 1781},
  "agents": [{"id": 2, "name": "Анна"}],
  "page": {"url": "https://pumpmash.example/catalog/nb-50", "title": "Насос НБ-50"},
  "chat": {"messages": [
    {"timestamp": 1716190800, "type": "visitor", "message": "Здравствуйте, есть НБ-50 в наличии?"},
    {"timestamp": 1716190830, "type": "agent", "message": "Добрый день! Под заказ, 6 недель."},
    {"timestamp": 1716190860, "type": "visitor", "message": "Пришлите КП, пожалуйста. Доп. телефон +7 920 011-22-33"}]}
}$$::jsonb AS payload;
SELECT crm.ingest_jivo_event(payload) > 0 AS recorded FROM jivo;
SELECT crm.ingest_jivo_event(payload) = (SELECT id FROM crm.interaction WHERE dedup_key = 'jivo:chat_finished:4471290') AS same_event_once
  FROM jivo;
SELECT x.channel, x.source, x.subject, x.occurred_at, c.name AS lead, i.contact_name, i.phones, i.emails,
       i.request, i.details -> 'page' ->> 'url' AS page
  FROM crm.interaction x JOIN crm.inquiry i ON i.id = x.inquiry_id JOIN crm.counterparty c ON c.id = i.counterparty_id
 WHERE x.dedup_key = 'jivo:chat_finished:4471290';
SELECT x.body FROM crm.interaction x WHERE x.dedup_key = 'jivo:chat_finished:4471290';
-- an offline message from the same visitor's e-mail: appended, no second lead
SELECT crm.ingest_jivo_event($${"event_name": "offline_message", "offline_message_id": "om-55",
  "visitor": {"name": "Олег", "email": "o.vetrov@gidromash-nn.example"},
  "message": "Так и не получил КП по НБ-50"}$$) > 0 AS recorded;
SELECT x.source, c.name, x.inquiry_id IS NULL AS no_new_inquiry FROM crm.interaction x
  JOIN crm.counterparty c ON c.id = x.counterparty_id WHERE x.dedup_key = 'jivo:offline_message:om-55';
-- other events are not requests
SELECT crm.ingest_jivo_event('{"event_name": "chat_accepted", "chat_id": 1}') AS not_a_request;
-- malformed events
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('[1, 2]')$$) AS not_an_object;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"chat_id": 1}')$$) AS no_event_name;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"event_name": "chat_finished", "visitor": {"phone": "+79031112233"}}')$$) AS no_chat_id;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"event_name": "chat_finished", "chat_id": 2, "visitor": "Олег"}')$$) AS bad_visitor;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"event_name": "chat_finished", "chat_id": 3, "chat": {"messages": {"a": 1}}}')$$) AS bad_messages;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"event_name": "chat_finished", "chat_id": 4, "chat": {"messages": [{"timestamp": 4102444800, "type": "visitor", "message": "из будущего"}]}}')$$) AS in_the_future;
SELECT pg_temp.try($$SELECT crm.ingest_jivo_event('{"event_name": "chat_finished", "chat_id": 5, "chat": {"messages": [{"timestamp": "вчера", "type": "visitor", "message": "x"}]}}')$$) AS bad_timestamp;
SELECT count(*) AS events_stored FROM crm.interaction WHERE dedup_key LIKE 'jivo:%';

-- ---------------------------------------------------------------------------
-- R8: a phone conversation typed by an employee goes through the same
-- matching: the lead of T6 is found by its number, the typist is recorded,
-- nobody is told of their own note
SELECT pg_temp.seen() AS _ \gset
SET SESSION AUTHORIZATION rt_mgr_alto;
SELECT crm.register_call_note('8 903 100 00 06', 'Перезвонил, уточнил: нужны 2 насоса К 80-50-200', now() - interval '5 minutes') > 0 AS noted;
SELECT crm.register_call_note(phone => '+7 (915) 300-40-50', summary => 'Звонок на мобильный: интересуется вибростендом',
                              contact_name => 'Сергей Ильин', company => 'ООО «ВиброЛаб»', email => 's.ilin@vibrolab.example') > 0 AS noted;
SELECT pg_temp.try($$SELECT crm.register_call_note('+7 915 300-40-50', '  ')$$) AS no_summary;
SELECT pg_temp.try($$SELECT crm.register_call_note(NULL, 'разговор')$$) AS no_phone;
SELECT pg_temp.try($$SELECT crm.register_call_note('12-34', 'разговор')$$) AS not_a_phone;
SELECT pg_temp.try($$SELECT crm.register_call_note('+7 915 300-40-50', 'разговор', email => 'not an address')$$) AS not_an_email;
SELECT pg_temp.try($$SELECT crm.register_call_note('+7 915 300-40-50', 'разговор', now() + interval '2 days')$$) AS in_the_future;
SELECT pg_temp.try($$SELECT crm.register_call_note('+7 915 300-40-50', 'разговор', direction => 'sideways')$$) AS bad_direction;
RESET SESSION AUTHORIZATION;
SELECT x.channel, x.source, x.direction, c.name AS counterparty, e.role_name AS typed_by, x.inquiry_id IS NOT NULL AS new_inquiry,
       x.body
  FROM crm.interaction x LEFT JOIN crm.counterparty c ON c.id = x.counterparty_id JOIN crm.employee e ON e.id = x.employee_id
 WHERE x.source = 'manual' ORDER BY x.id;
SELECT c.kind, c.name, ct.full_name, array_agg(cp.normalized ORDER BY cp.normalized) AS keys
  FROM crm.counterparty c JOIN crm.contact ct ON ct.counterparty_id = c.id JOIN crm.contact_point cp ON cp.contact_id = ct.id
 WHERE c.name = 'ООО «ВиброЛаб»' GROUP BY c.kind, c.name, ct.full_name;
SELECT recipient, kind, message FROM pg_temp.news();
-- who is not an employee cannot type notes; who is not in the groups cannot call the functions at all
CREATE ROLE rt_outsider LOGIN IN ROLE crm_manager;
SET SESSION AUTHORIZATION rt_outsider;
SELECT pg_temp.try($$SELECT crm.register_call_note('+7 915 300-40-51', 'разговор')$$) AS not_an_employee;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rt_mgr_alto;
SELECT pg_temp.try(format('SELECT crm.triage_inquiry(%s, %L, %L)', pg_temp.iq('T6'), 'equipment', 'alto')) AS manager_cannot_triage;
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'Z', caller => '+79031000000', called => '200', started_at => now())$$) AS manager_cannot_ingest;
SELECT pg_temp.try($$SELECT crm.escalate_inquiries()$$) AS manager_cannot_escalate;
RESET SESSION AUTHORIZATION;

ROLLBACK;
