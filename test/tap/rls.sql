-- test/tap/rls.sql: R2, the row-level security matrix of the core tables.
-- Each role's person "logs in" (SET SESSION AUTHORIZATION, which changes
-- session_user and current_user as a login would) and we assert what it sees
-- and what it is refused.  Everything is rolled back at the end.
BEGIN;
SELECT plan(61);

-- pgTAP keeps its state in temporary tables: let the people we become use them
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

-- the company: two sales departments, Testing under Alto, and the other roles
SELECT crm.hire('tap_head_alto', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('tap_mgr_alto1', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('tap_mgr_alto2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('tap_tester', 'Глеб Испытатель', 'testing', 'manager');
SELECT crm.hire('tap_head_prom', 'Дарья Промова', 'prom', 'head');
SELECT crm.hire('tap_mgr_prom', 'Егор Промов', 'prom', 'manager');
SELECT crm.hire('tap_triage', 'Жанна Разбор', 'management', 'triage');
SELECT crm.hire('tap_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('tap_wh', 'Игорь Склад', 'warehouse', 'warehouse');
SELECT crm.hire('tap_admin', 'Кира Админ', 'management', 'admin');
CREATE ROLE tap_bi LOGIN IN ROLE crm_reader;
CREATE ROLE tap_job LOGIN IN ROLE crm_integration;
CREATE ROLE tap_stranger LOGIN;

CREATE TEMP TABLE ids AS
SELECT (SELECT id FROM crm.department WHERE code = 'alto') AS alto,
       (SELECT id FROM crm.department WHERE code = 'testing') AS testing,
       (SELECT id FROM crm.department WHERE code = 'prom') AS prom;
GRANT SELECT ON ids TO PUBLIC;
CREATE FUNCTION pg_temp.emp(r name) RETURNS integer LANGUAGE sql AS
  $$ SELECT id FROM crm.employee WHERE role_name = r $$;

INSERT INTO crm.counterparty (kind, name, inn, department_id, responsible_id) VALUES
  ('client', 'Alto-1 client', '7707083893', (SELECT alto FROM ids), pg_temp.emp('tap_mgr_alto1')),
  ('client', 'Alto-2 client', NULL, (SELECT alto FROM ids), pg_temp.emp('tap_mgr_alto2')),
  ('lead', 'Testing lead', NULL, (SELECT testing FROM ids), pg_temp.emp('tap_tester')),
  ('client', 'Prom client', NULL, (SELECT prom FROM ids), pg_temp.emp('tap_mgr_prom')),
  ('lead', 'New lead', NULL, NULL, NULL);
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Contact of ' || name FROM crm.counterparty;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT c.id, c.counterparty_id, 'email', 'c' || c.id || '@example.com' FROM crm.contact c;
INSERT INTO crm.task (title, assignee_id, creator_id) VALUES
  ('T-alto1', pg_temp.emp('tap_mgr_alto1'), pg_temp.emp('tap_head_alto')),
  ('T-prom', pg_temp.emp('tap_mgr_prom'), pg_temp.emp('tap_head_prom')),
  ('T-tester', pg_temp.emp('tap_tester'), NULL);
SELECT crm.notify(pg_temp.emp('tap_mgr_alto1'), 'new_request', 'N-alto1');
SELECT crm.notify(pg_temp.emp('tap_mgr_prom'), 'new_request', 'N-prom');

-- a sales manager: their own counterparties, contacts, tasks, notifications
SET SESSION AUTHORIZATION tap_mgr_alto1;
SELECT results_eq('SELECT name FROM crm.counterparty ORDER BY name', ARRAY['Alto-1 client'],
  'R2 manager sees only the counterparties they are responsible for');
SELECT results_eq('SELECT full_name FROM crm.contact', ARRAY['Contact of Alto-1 client'],
  'R2 manager sees only the contacts of their counterparties');
SELECT is((SELECT count(*) FROM crm.contact_point)::int, 1, 'R2 manager sees only their contact points');
SELECT results_eq('SELECT title FROM crm.task', ARRAY['T-alto1'], 'R2 manager sees only their tasks');
SELECT results_eq('SELECT message FROM crm.notification', ARRAY['N-alto1'], 'R2 manager sees only their notifications');
SELECT lives_ok($$UPDATE crm.notification SET read_at = now()$$, 'R2 manager marks their notification read');
SELECT is((SELECT count(*) FROM crm.notification WHERE read_at IS NOT NULL)::int, 1, 'the mark is kept');
SELECT lives_ok($$UPDATE crm.counterparty SET note = 'x' WHERE name = 'Alto-2 client'$$,
  'an UPDATE of a colleague''s counterparty is not an error...');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT note FROM crm.counterparty WHERE name = 'Alto-2 client'), NULL, '...but changes nothing');
SET SESSION AUTHORIZATION tap_mgr_alto1;
SELECT throws_ok($$UPDATE crm.counterparty SET responsible_id = responsible_id + 1 WHERE name = 'Alto-1 client'$$,
  '42501', NULL, 'R2 manager cannot hand a counterparty to someone else');
SELECT throws_ok($$INSERT INTO crm.department (code, name, kind) VALUES ('x', 'X', 'sales')$$,
  '42501', NULL, 'R2 manager cannot change reference data (departments)');
SELECT throws_ok($$UPDATE crm.product SET list_price = 0$$, '42501', NULL,
  'R2 manager cannot change reference data (products)');
SELECT throws_ok($$INSERT INTO crm.notification (recipient_id, kind, message) VALUES (1, 'x', 'x')$$,
  '42501', NULL, 'R2 manager cannot forge notifications');
SELECT throws_ok($$SELECT crm.hire('tap_x', 'X', 'alto', 'admin')$$, '42501', NULL,
  'R2 manager cannot hire (or make themselves admin)');
SELECT throws_ok($$SELECT crm.notify(1, 'x', 'x')$$, '42501', NULL,
  'R2 the internal notify() is not callable by people');
SELECT ok((SELECT count(*) FROM crm.product) >= 0 AND (SELECT count(*) FROM crm.department) = 9,
  'R2 manager reads reference data');
RESET SESSION AUTHORIZATION;

-- a head of sales: the whole department, Testing included (R1), not Prom
SET SESSION AUTHORIZATION tap_head_alto;
SELECT results_eq('SELECT name FROM crm.counterparty ORDER BY name',
  ARRAY['Alto-1 client', 'Alto-2 client', 'Testing lead'],
  'R1 R2 head of Alto sees Alto''s and Testing''s counterparties, not Prom''s or untriaged ones');
SELECT is((SELECT count(*) FROM crm.contact)::int, 3, 'R2 head sees the contacts of the department');
SELECT results_eq('SELECT title FROM crm.task ORDER BY title', ARRAY['T-alto1', 'T-tester'],
  'R2 head sees every task of the department''s people');
SELECT is((SELECT count(*) FROM crm.notification)::int, 0, 'R2 head does not read the managers'' notifications');
SELECT lives_ok($$UPDATE crm.task SET assignee_id = (SELECT id FROM crm.employee WHERE role_name = 'tap_mgr_alto2')
  WHERE title = 'T-alto1'$$, 'R22 head reassigns a task within the department');
SELECT throws_ok($$UPDATE crm.task SET assignee_id = (SELECT id FROM crm.employee WHERE role_name = 'tap_mgr_prom')
  WHERE title = 'T-tester'$$, '42501', NULL, 'R2 head cannot hand the department''s work to another department');
SELECT lives_ok($$UPDATE crm.counterparty SET responsible_id = (SELECT id FROM crm.employee WHERE role_name = 'tap_mgr_alto2')
  WHERE name = 'Alto-1 client'$$, 'R2 head assigns the responsible employee');
SELECT throws_ok($$UPDATE crm.counterparty SET department_id = (SELECT prom FROM ids) WHERE name = 'Alto-2 client'$$,
  '42501', NULL, 'R2 head cannot push a counterparty out of their supervision');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION tap_head_prom;
SELECT results_eq('SELECT name FROM crm.counterparty', ARRAY['Prom client'], 'R2 head of Prom sees only Prom');
SELECT results_eq('SELECT title FROM crm.task', ARRAY['T-prom'], 'R2 head of Prom sees only Prom''s tasks');
RESET SESSION AUTHORIZATION;

-- the manager who lost the counterparty no longer sees it
SET SESSION AUTHORIZATION tap_mgr_alto1;
SELECT is((SELECT count(*) FROM crm.counterparty)::int, 0, 'R2 visibility follows the responsible employee');
RESET SESSION AUTHORIZATION;

-- triage: what has no department yet, read-only
SET SESSION AUTHORIZATION tap_triage;
SELECT results_eq('SELECT name FROM crm.counterparty', ARRAY['New lead'], 'R8 triage sees the untriaged requests only');
SELECT is((SELECT count(*) FROM crm.contact_point)::int, 1, 'R8 triage sees how to reach the untriaged');
SELECT throws_ok($$UPDATE crm.counterparty SET department_id = (SELECT prom FROM ids)$$, '42501', NULL,
  'R8 triage changes nothing by hand: assignment goes through the intake functions');
RESET SESSION AUTHORIZATION;

-- marketing: contact data only, no money or legal data, no others' tasks
SET SESSION AUTHORIZATION tap_mkt;
SELECT is((SELECT count(*) FROM crm.counterparty)::int, 5, 'R26 marketing sees every counterparty''s name');
SELECT is((SELECT count(*) FROM crm.contact_point)::int, 5, 'R26 marketing sees every contact point');
SELECT throws_ok('SELECT inn FROM crm.counterparty', '42501', NULL, 'R2 marketing cannot read tax ids');
SELECT throws_ok('SELECT bank_account FROM crm.counterparty', '42501', NULL, 'R2 marketing cannot read payment details');
SELECT is((SELECT count(*) FROM crm.task)::int, 0, 'R2 marketing does not see the sales team''s tasks');
SELECT lives_ok($$INSERT INTO crm.task (kind, title, assignee_id, creator_id, counterparty_id)
  VALUES ('call_client', 'Позвонить', (SELECT id FROM crm.employee WHERE role_name = 'tap_mgr_prom'),
          (SELECT id FROM crm.employee WHERE role_name = 'tap_mkt'), (SELECT id FROM crm.counterparty WHERE name = 'Prom client'))$$,
  'R29 marketing gives a manager the task "call the client"');
SELECT throws_ok($$UPDATE crm.contact_point SET value = 'x@example.com'$$, '42501', NULL,
  'R2 marketing cannot change contact data');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_mgr_prom;
SELECT is((SELECT count(*) FROM crm.task WHERE kind = 'call_client')::int, 1, 'R29 the manager sees the call task');
RESET SESSION AUTHORIZATION;

-- warehouse: names of counterparties for shipping, products; not contacts
SET SESSION AUTHORIZATION tap_wh;
SELECT is((SELECT count(*) FROM crm.counterparty)::int, 5, 'R2 warehouse sees counterparty names');
SELECT throws_ok('SELECT count(*) FROM crm.contact_point', '42501', NULL, 'R2 warehouse cannot read contact data');
SELECT throws_ok('SELECT legal_address FROM crm.counterparty', '42501', NULL, 'R2 warehouse cannot read legal data');
SELECT throws_ok($$UPDATE crm.product SET active = false$$, '42501', NULL, 'R2 warehouse cannot change the catalog');
RESET SESSION AUTHORIZATION;

-- BI and 1C: everything, read-only
SET SESSION AUTHORIZATION tap_bi;
SELECT is((SELECT count(*) FROM crm.counterparty)::int, 5, 'R24 crm_reader sees every counterparty');
SELECT is((SELECT count(*) FROM crm.task)::int, 4, 'R24 crm_reader sees every task');
SELECT is((SELECT count(*) FROM crm.notification)::int, 3,
  'R24 crm_reader sees every notification (the two above and the call task marketing gave, R29)');
SELECT ok((SELECT count(inn) FROM crm.counterparty) = 1, 'R24 crm_reader reads legal data');
SELECT throws_ok($$UPDATE crm.counterparty SET note = 'x'$$, '42501', NULL, 'R24 crm_reader cannot write');
SELECT throws_ok($$INSERT INTO crm.task (title, assignee_id) VALUES ('x', 1)$$, '42501', NULL,
  'R24 crm_reader cannot create tasks');
RESET SESSION AUTHORIZATION;

-- the job role reads no business data directly
SET SESSION AUTHORIZATION tap_job;
SELECT throws_ok('SELECT count(*) FROM crm.counterparty', '42501', NULL, 'R2 crm_integration reads no counterparties');
RESET SESSION AUTHORIZATION;

-- a login that is not in any crm role reaches nothing
SET SESSION AUTHORIZATION tap_stranger;
SELECT throws_ok('SELECT count(*) FROM crm.counterparty', '42501', NULL, 'a stranger cannot reach the schema');
SELECT throws_ok($$SELECT crm.normalize_phone('89161234567')$$, '42501', NULL,
  'a stranger cannot even call the schema''s functions');
RESET SESSION AUTHORIZATION;

-- the administrator changes reference data and sees everything
SET SESSION AUTHORIZATION tap_admin;
SELECT lives_ok($$INSERT INTO crm.product (sku, name) VALUES ('TAP-1', 'Насос')$$, 'R2 admin adds a product');
SELECT lives_ok($$INSERT INTO crm.warehouse (code, name) VALUES ('tap', 'Склад')$$, 'R2 admin adds a warehouse');
SELECT lives_ok($$UPDATE crm.equipment_type SET certification_required = true WHERE code = 'pumps'$$,
  'R20 admin changes the certification rule (data, not code)');
SELECT is((SELECT count(*) FROM crm.counterparty)::int, 5, 'R2 admin sees every counterparty');
SELECT lives_ok($$SELECT crm.hire('tap_new', 'Новый', 'plazo', 'manager')$$, 'R2 admin hires');
RESET SESSION AUTHORIZATION;
SELECT ok(pg_has_role('tap_new', 'crm_manager', 'member'), 'R2 the hired person is in the manager group role');

-- the structure behind the matrix
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind = 'r'
            AND NOT (relrowsecurity AND relforcerowsecurity))::int, 0, 'R2 every table has RLS enabled and forced');
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname LIKE 'crm\_%' AND (rolbypassrls OR rolsuper OR rolcanlogin))::int, 0,
  'R2 no crm group role bypasses RLS, is superuser or logs in');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind = 'v'
            AND NOT coalesce('security_invoker=true' = ANY (reloptions), false))::int, 0,
  'R2 every view runs with the caller''s rights, so RLS applies through it');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'crm'::regnamespace AND prosecdef
            AND has_function_privilege('public', oid, 'EXECUTE'))::int, 0,
  'R2 no SECURITY DEFINER function is executable by PUBLIC');

SELECT * FROM finish();
ROLLBACK;
