-- intake_call: calls of the PBX become interactions, leads and triage cases
-- (R3, R4, R6, R7, R8).  Everything runs in one transaction that is rolled
-- back at the end, so the shared database is left as it was found.
\pset null '(null)'
BEGIN;
SET LOCAL timezone = 'Europe/Moscow';

-- runs a statement, returns 'ok' or 'SQLSTATE: message'
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- everything the intake writes, counted: pg_temp.mark() remembers the
-- counts, pg_temp.delta() tells what was added since (a refused call: nothing)
CREATE FUNCTION pg_temp.counts() RETURNS TABLE (interactions bigint, inquiries bigint, counterparties bigint,
  contacts bigint, points bigint, notifications bigint) LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM crm.interaction), (SELECT count(*) FROM crm.inquiry),
         (SELECT count(*) FROM crm.counterparty), (SELECT count(*) FROM crm.contact),
         (SELECT count(*) FROM crm.contact_point), (SELECT count(*) FROM crm.notification)
$$;
CREATE TEMP TABLE mark AS SELECT * FROM pg_temp.counts();
CREATE FUNCTION pg_temp.mark() RETURNS void LANGUAGE sql AS $$
  DELETE FROM mark; INSERT INTO mark SELECT * FROM pg_temp.counts();
$$;
CREATE FUNCTION pg_temp.delta() RETURNS text LANGUAGE sql AS $$
  SELECT format('+%s interactions, +%s inquiries, +%s counterparties, +%s contacts, +%s points, +%s notifications',
                c.interactions - m.interactions, c.inquiries - m.inquiries, c.counterparties - m.counterparties,
                c.contacts - m.contacts, c.points - m.points, c.notifications - m.notifications)
    FROM pg_temp.counts() c, mark m
$$;
CREATE FUNCTION pg_temp.emp(r name) RETURNS integer LANGUAGE sql AS
  $$ SELECT id FROM crm.employee WHERE role_name = r $$;

-- the company: two sales departments with heads, a manager, triage; its
-- own number; a known client with a responsible manager
SELECT count(crm.hire(login, full_name, dep, pos, email, phone)) AS hired
  FROM (VALUES ('rc_head_alto', 'Анна Главная', 'alto', 'head', NULL, NULL),
               ('rc_head_prom', 'Дарья Промова', 'prom', 'head', NULL, NULL),
               ('rc_mgr', 'Борис Первый', 'alto', 'manager', NULL, '+7 916 700-00-01'),
               ('rc_triage', 'Жанна Разбор', 'management', 'triage', NULL, NULL)) AS e(login, full_name, dep, pos, email, phone);
INSERT INTO crm.own_phone (number, note) VALUES ('+7 (495) 100-00-00', 'многоканальный');
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
  SELECT 'client', 'Климатест', d.id, pg_temp.emp('rc_mgr') FROM crm.department d WHERE d.code = 'alto';
INSERT INTO crm.counterparty (kind, name, department_id)
  SELECT 'client', 'Без менеджера', d.id FROM crm.department d WHERE d.code = 'prom';
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Андрей Белов' FROM crm.counterparty WHERE name = 'Климатест';
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Ирина Сама' FROM crm.counterparty WHERE name = 'Без менеджера';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '+7 916 210-33-44' FROM crm.contact WHERE full_name = 'Андрей Белов';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '8 (3452) 11-22-33' FROM crm.contact WHERE full_name = 'Ирина Сама';
SELECT pg_temp.mark() AS _ \gset

-- what an interaction looks like, by linkedid
CREATE FUNCTION pg_temp.call(l text) RETURNS TABLE (direction text, counterparty text, contact text, inquiry_status text,
  party text, disposition text, answered boolean, ended boolean, duration integer, billsec integer, recording text)
LANGUAGE sql AS $$
  SELECT x.direction, c.name, ct.full_name, i.status, x.party, x.disposition, x.answered_at IS NOT NULL,
         x.ended_at IS NOT NULL, x.duration, x.billsec, x.recording
    FROM crm.interaction x LEFT JOIN crm.counterparty c ON c.id = x.counterparty_id
    LEFT JOIN crm.contact ct ON ct.id = x.contact_id LEFT JOIN crm.inquiry i ON i.id = x.inquiry_id
   WHERE x.dedup_key = 'call:' || l
$$;
CREATE FUNCTION pg_temp.news() RETURNS TABLE (recipient name, kind text, message text) LANGUAGE sql AS $$
  SELECT e.role_name, n.kind, n.message FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
   WHERE n.id > COALESCE(current_setting('rc.seen', true), '0')::bigint ORDER BY e.role_name, n.id
$$;
CREATE FUNCTION pg_temp.seen() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('rc.seen', COALESCE((SELECT max(id) FROM crm.notification), 0)::text, true)::text, NULL::void
$$;

-- R4 R6: a known client calls, the number written as the PBX gives it:
-- the call joins Климатест's history; its responsible manager is told; no
-- inquiry, no lead
SELECT crm.ingest_call(linkedid => '1715580000.11', caller => '89162103344', called => '+74951000000',
                       started_at => now() - interval '10 minutes', answered_at => now() - interval '599 seconds',
                       ended_at => now() - interval '5 minutes', duration => 300, billsec => 299,
                       disposition => 'ANSWERED', recording => 'rec/2024/05/13/1715580000.11.mp3',
                       direction => 'in') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580000.11');
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R4: the same linkedid again is the same call: same id, nothing added
SELECT pg_temp.mark() AS _ \gset
SELECT crm.ingest_call(linkedid => '1715580000.11', caller => '89162103344', called => '+74951000000',
                       started_at => now() - interval '10 minutes') =
       (SELECT id FROM crm.interaction WHERE dedup_key = 'call:1715580000.11') AS same_call;
SELECT pg_temp.delta();

-- R6: a known client nobody is responsible for: the department head is told
SELECT crm.ingest_call(linkedid => '1715580000.12', caller => '+7 3452 11 22 33', called => '+74951000000',
                       started_at => now() - interval '9 minutes', disposition => 'NO ANSWER') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580000.12');
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R6 R7: an unknown number: a lead with a contact and its phone, an
-- inquiry (the triage queue), the head of sales and triage are told
SELECT crm.ingest_call(linkedid => '1715580100.20', caller => '+7 (903) 555-12-34', called => '+74951000000',
                       started_at => now() - interval '8 minutes') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580100.20');
SELECT c.kind, c.name, c.department_id, c.responsible_id, ct.full_name, cp.kind AS point, cp.value, cp.normalized,
       cp.is_primary, i.channel, i.source, i.status, i.phones, i.anonymous, i.conflict,
       c.source_inquiry_id = i.id AS lead_links_inquiry
  FROM crm.counterparty c JOIN crm.contact ct ON ct.counterparty_id = c.id
  JOIN crm.contact_point cp ON cp.contact_id = ct.id JOIN crm.inquiry i ON i.counterparty_id = c.id
 WHERE cp.normalized = '+79035551234';
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R4: polled again once it ended: the call is updated, not added
SELECT pg_temp.mark() AS _ \gset
SELECT crm.ingest_call(linkedid => '1715580100.20', caller => '+7 (903) 555-12-34', called => '+74951000000',
                       started_at => now() - interval '8 minutes', answered_at => now() - interval '7 minutes',
                       ended_at => now() - interval '6 minutes', duration => 120, billsec => 60,
                       disposition => 'answered') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580100.20');
SELECT pg_temp.delta();
-- polled a third time with nothing new: no new row version either
SELECT xmin AS before FROM crm.interaction WHERE dedup_key = 'call:1715580100.20' \gset
SELECT crm.ingest_call(linkedid => '1715580100.20', caller => '+7 (903) 555-12-34', called => '+74951000000',
                       started_at => now() - interval '8 minutes', duration => 120) > 0 AS recorded;
SELECT xmin = :'before' AS untouched FROM crm.interaction WHERE dedup_key = 'call:1715580100.20';

-- R6: the new lead calls again from the same number: no second lead, no
-- second inquiry; nobody is responsible yet and it has no department, so
-- the head of sales hears of it
SELECT crm.ingest_call(linkedid => '1715580200.30', caller => '8 903 555 12 34', called => '+74951000000',
                       started_at => now() - interval '4 minutes') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580200.30');
SELECT count(*) AS leads_with_that_number, sum((SELECT count(*) FROM crm.inquiry i WHERE i.counterparty_id = c.id)) AS inquiries
  FROM crm.counterparty c JOIN crm.contact_point cp ON cp.counterparty_id = c.id WHERE cp.normalized = '+79035551234';
SELECT * FROM pg_temp.news();
SELECT pg_temp.seen() AS _ \gset

-- R4 R8: a hidden number is recorded and queued for triage, without a lead
SELECT crm.ingest_call(linkedid => '1715580300.40', caller => NULL, called => '+74951000000',
                       started_at => now() - interval '3 minutes') > 0 AS recorded;
SELECT crm.ingest_call(linkedid => '1715580300.41', caller => 'anonymous', called => '+74951000000',
                       started_at => now() - interval '3 minutes') > 0 AS recorded;
SELECT x.dedup_key, x.direction, x.counterparty_id, x.party, i.status, i.anonymous, i.phones
  FROM crm.interaction x JOIN crm.inquiry i ON i.id = x.inquiry_id
 WHERE x.dedup_key IN ('call:1715580300.40', 'call:1715580300.41') ORDER BY 1;
SELECT count(*) AS new_notifications FROM pg_temp.news();
SELECT dedup_key, waiting < interval '1 hour' AS recent, lead FROM crm.triage_queue q
  JOIN crm.interaction x ON x.inquiry_id = q.inquiry_id WHERE q.anonymous ORDER BY 1;

-- R4: the company's own numbers never create leads: an internal call
-- between extensions, an employee calling from their mobile, a call from
-- the company's own number; directions inferred when the PBX gives none
SELECT pg_temp.mark() AS _ \gset
SELECT crm.ingest_call(linkedid => '1715580400.50', caller => '201', called => '202',
                       started_at => now() - interval '2 minutes') > 0 AS recorded;
SELECT crm.ingest_call(linkedid => '1715580400.51', caller => '+7 916 700 00 01', called => '+74951000000',
                       started_at => now() - interval '2 minutes') > 0 AS recorded;
SELECT crm.ingest_call(linkedid => '1715580400.52', caller => '+74951000000', called => '201',
                       started_at => now() - interval '2 minutes', direction => 'in') > 0 AS recorded;
SELECT dedup_key, direction, counterparty_id, inquiry_id FROM crm.interaction
 WHERE dedup_key LIKE 'call:1715580400.%' ORDER BY 1;
SELECT pg_temp.delta();

-- R4: outgoing calls: to a known client they join its history (nobody is
-- told: the company called); to an unknown number they make no lead
SELECT crm.ingest_call(linkedid => '1715580500.60', caller => '201', called => '8 916 210 33 44',
                       started_at => now() - interval '1 minute') > 0 AS recorded;
SELECT crm.ingest_call(linkedid => '1715580500.61', caller => '201', called => '+7 999 123 45 67',
                       started_at => now() - interval '1 minute', direction => 'out') > 0 AS recorded;
SELECT * FROM pg_temp.call('1715580500.60');
SELECT * FROM pg_temp.call('1715580500.61');
SELECT count(*) AS leads_of_outgoing FROM crm.contact_point WHERE normalized = '+79991234567';
SELECT count(*) AS new_notifications FROM pg_temp.news();

-- R6: the correspondence history of the client, newest first
SELECT channel, direction, party, disposition, billsec, recording FROM crm.correspondence
 WHERE counterparty = 'Климатест' ORDER BY occurred_at DESC;

-- a call a little in the future (the PBX clock runs ahead) is accepted
SELECT crm.ingest_call(linkedid => '1715580600.70', caller => '201', called => '202',
                       started_at => now() + interval '20 minutes') > 0 AS recorded;

-- bad input: a clear error with its SQLSTATE, and nothing changed
SELECT pg_temp.mark() AS _ \gset
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => NULL, caller => '+79035550000', called => '201', started_at => now())$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => '  ', caller => '+79035550000', called => '201', started_at => now())$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => repeat('9', 201), caller => '+79035550000', called => '201', started_at => now())$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x1', caller => '+79035550000', called => '201', started_at => NULL)$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x2', caller => '+79035550000', called => '201', started_at => now() + interval '3 days')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x3', caller => '+79035550000', called => '201', started_at => 'infinity')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x4', caller => '+79035550000', called => '201', started_at => now(), answered_at => now() - interval '1 minute')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x5', caller => '+79035550000', called => '201', started_at => now() - interval '5 minutes', answered_at => now() - interval '2 minutes', ended_at => now() - interval '3 minutes')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x6', caller => '+79035550000', called => '201', started_at => now(), duration => -1)$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x7', caller => '+79035550000', called => '201', started_at => now(), duration => 10, billsec => 11)$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x8', caller => '+79035550000', called => '201', started_at => now(), disposition => 'CONGESTION')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x9', caller => '+79035550000', called => '201', started_at => now(), direction => 'incoming')$$);
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x10', caller => repeat('7', 201), called => '201', started_at => now())$$);
-- a known linkedid polled with an impossible end is refused too, and the call is kept as it was
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => '1715580100.20', caller => '+7 (903) 555-12-34', called => '+74951000000', started_at => now() - interval '8 minutes', ended_at => now() - interval '9 minutes')$$);
SELECT pg_temp.delta();
SELECT * FROM pg_temp.call('1715580100.20');

-- the allowed clock skew is a setting
INSERT INTO crm.intake_settings (max_clock_skew) VALUES (interval '5 minutes');
SELECT pg_temp.try($$SELECT crm.ingest_call(linkedid => 'x11', caller => '201', called => '202', started_at => now() + interval '20 minutes')$$);

-- extensions are data: without the range, "203" is no extension but an
-- unusable number, so an incoming call from it is an anonymous one
DELETE FROM crm.internal_extension;
SELECT crm.ingest_call(linkedid => '1715580700.80', caller => '203', called => '+74951000000',
                       started_at => now()) > 0 AS recorded;
SELECT x.direction, i.anonymous, x.party FROM crm.interaction x JOIN crm.inquiry i ON i.id = x.inquiry_id
 WHERE x.dedup_key = 'call:1715580700.80';

ROLLBACK;

-- the same paths at REPEATABLE READ (the lookups are cross-checked against a
-- current snapshot there; with nothing concurrent they take the same paths)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(crm.hire(login, full_name, dep, pos)) AS hired
  FROM (VALUES ('rr_head', 'Анна Главная', 'alto', 'head'), ('rr_mgr', 'Борис Первый', 'alto', 'manager')) AS e(login, full_name, dep, pos);
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
  SELECT 'client', 'RR client', d.id, e.id FROM crm.department d, crm.employee e WHERE d.code = 'alto' AND e.role_name = 'rr_mgr';
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'RR contact' FROM crm.counterparty WHERE name = 'RR client';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '+7 916 210-99-99' FROM crm.contact WHERE full_name = 'RR contact';
SELECT crm.ingest_call(linkedid => 'rr.1', caller => '8 916 210 99 99', called => '200', started_at => now(), direction => 'in') > 0 AS known;
SELECT crm.ingest_call(linkedid => 'rr.2', caller => '8 916 210 99 98', called => '200', started_at => now(), direction => 'in') > 0 AS new;
SELECT crm.ingest_call(linkedid => 'rr.1', caller => '8 916 210 99 99', called => '200', started_at => now(), direction => 'in',
                       ended_at => now() + interval '1 minute', duration => 60) =
       (SELECT id FROM crm.interaction WHERE dedup_key = 'call:rr.1') AS same_call;
SELECT x.dedup_key, c.name AS counterparty, x.inquiry_id IS NOT NULL AS inquiry, x.duration,
       (SELECT string_agg(e.role_name || ':' || n.kind, ', ' ORDER BY e.role_name) FROM crm.notification n
          JOIN crm.employee e ON e.id = n.recipient_id WHERE n.payload ->> 'interaction' = x.id::text) AS told
  FROM crm.interaction x LEFT JOIN crm.counterparty c ON c.id = x.counterparty_id
 WHERE x.dedup_key LIKE 'call:rr.%' ORDER BY 1;
ROLLBACK;
