-- test/tap/deal_rls.sql: R2, R22 -- who sees and changes deals, their lines,
-- history, documents, payments and surveys.  Each person "logs in" with SET
-- SESSION AUTHORIZATION; everything is rolled back at the end.
BEGIN;
SELECT plan(52);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('tdr_head_alto', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('tdr_mgr_alto1', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('tdr_mgr_alto2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('tdr_tester', 'Глеб Испытатель', 'testing', 'manager');
SELECT crm.hire('tdr_head_prom', 'Дарья Промова', 'prom', 'head');
SELECT crm.hire('tdr_mgr_prom', 'Егор Промов', 'prom', 'manager');
SELECT crm.hire('tdr_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('tdr_wh', 'Игорь Склад', 'warehouse', 'warehouse');
SELECT crm.hire('tdr_admin', 'Кира Админ', 'management', 'admin');
CREATE ROLE tdr_bi LOGIN IN ROLE crm_reader;
CREATE ROLE tdr_stranger LOGIN;

CREATE FUNCTION pg_temp.emp(r name) RETURNS integer LANGUAGE sql AS
  $$ SELECT id FROM crm.employee WHERE role_name = r $$;
-- a counterparty with complete legal data and a reachable contact
CREATE FUNCTION pg_temp.party(p_name text, p_dep text, p_resp name) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  cp bigint;
  ct bigint;
BEGIN
  INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                                physical_address, department_id, responsible_id)
  SELECT 'client', p_name, 'ООО «' || p_name || '»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
         '40702810500000001234', '30101810400000000225', 'Москва', d.id, pg_temp.emp(p_resp)
    FROM crm.department d WHERE d.code = p_dep
  RETURNING id INTO cp;
  INSERT INTO crm.contact (counterparty_id, full_name) VALUES (cp, 'Контакт') RETURNING id INTO ct;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  VALUES (ct, cp, 'email', 'tdr-' || cp || '@example.com');
  RETURN cp;
END $$;
CREATE TEMP TABLE ids AS
SELECT pg_temp.party('A1', 'alto', 'tdr_mgr_alto1') AS a1, pg_temp.party('T1', 'testing', 'tdr_tester') AS t1,
       pg_temp.party('P1', 'prom', 'tdr_mgr_prom') AS p1;
INSERT INTO crm.product (sku, name, list_price) VALUES ('TDR-1', 'Насос', 1000);
-- deals of Testing and Prom, made by the system owner
ALTER TABLE ids ADD COLUMN dt bigint, ADD COLUMN dp bigint, ADD COLUMN da bigint;
UPDATE ids SET dt = crm.create_deal(t1, 'Стенд'), dp = crm.create_deal(p1, 'Компрессор');
SELECT crm.add_deal_line((SELECT dp FROM ids), (SELECT id FROM crm.product WHERE sku = 'TDR-1'), 1);
ALTER TABLE ids ADD COLUMN ip bigint;
UPDATE ids SET ip = crm.create_document(dp, 'invoice');
GRANT SELECT, UPDATE ON ids TO PUBLIC;

-- ===== a sales manager: their own deals
SET SESSION AUTHORIZATION tdr_mgr_alto1;
SELECT lives_ok($$UPDATE ids SET da = crm.create_deal(a1, 'Насос на 40 м3/ч')$$,
  'R10 a manager creates a deal for their own counterparty');
SELECT throws_ok($$SELECT crm.create_deal((SELECT p1 FROM ids), 'x')$$, '23503', NULL,
  'R2 ... not for a counterparty of another manager');
SELECT results_eq('SELECT counterparty_id FROM crm.deal', 'SELECT a1 FROM ids',
  'R2 a manager sees only their own deals');
SELECT lives_ok($$SELECT crm.add_deal_line((SELECT da FROM ids), (SELECT id FROM crm.product WHERE sku = 'TDR-1'), 3)$$,
  'R11 a manager adds lines to their deal');
SELECT throws_ok($$SELECT crm.add_deal_line((SELECT dp FROM ids), (SELECT id FROM crm.product WHERE sku = 'TDR-1'), 3)$$,
  '42501', NULL, 'R2 ... not to another manager''s deal');
SELECT is((SELECT count(*) FROM crm.deal_line)::int, 1, 'R2 a manager sees the lines of their deals only');
SELECT throws_ok($$UPDATE crm.deal SET agreed_at = now()$$, '42501', NULL,
  'R13 the agreement is not set by hand');
SELECT throws_ok($$UPDATE crm.deal SET manager_id = manager_id$$, '42501', NULL,
  'R22 a manager cannot hand a deal over (the head does)');
SELECT throws_ok($$INSERT INTO crm.deal_history (deal_id, field, changed_by_role) SELECT da, 'stage', 'x' FROM ids$$,
  '42501', NULL, 'R12 the history is written only by the state machine');
SELECT throws_ok($$DELETE FROM crm.deal$$, '42501', NULL, 'a manager cannot delete deals');
SELECT lives_ok($$SELECT crm.create_document((SELECT da FROM ids), 'proposal')$$, 'R19 a manager issues a proposal for their deal');
SELECT throws_ok($$SELECT crm.create_document((SELECT dp FROM ids), 'proposal')$$, '23503', NULL,
  'R19 ... not for another manager''s deal');
SELECT throws_ok($$INSERT INTO crm.document (deal_id, kind) SELECT dp, 'proposal' FROM ids$$, '42501', NULL,
  'R19 ... not even by a direct INSERT');
SELECT throws_ok($$UPDATE crm.document SET number = 'X-1'$$, '42501', NULL, 'R19 a document''s number is not edited');
SELECT throws_ok($$INSERT INTO crm.document_counter VALUES ('invoice', 2099, 1)$$, '42501', NULL,
  'R19 the numbering is not touched by hand');
SELECT is((SELECT count(*) FROM crm.document)::int, 1, 'R2 a manager sees the documents of their deals only');
SELECT throws_ok($$SELECT crm.record_payment((SELECT ip FROM ids), 1)$$,
  '42501', NULL, 'a manager cannot record a payment against an invoice they cannot see');
SELECT throws_ok($$SELECT crm.record_survey((SELECT da FROM ids), 5)$$, '42501', NULL,
  'R22 a manager does not record satisfaction surveys');
SELECT throws_ok($$INSERT INTO crm.deal_stage_check VALUES ('closed', 'crm.deal_check_paid(bigint)', 'x')$$, '42501', NULL,
  'R12 the stage preconditions are not changed by people');
SELECT lives_ok($$SELECT crm.move_deal((SELECT da FROM ids), 'not_suitable', 'клиент выбрал конкурента')$$,
  'R12 a manager rejects their deal with a reason');
SELECT is((SELECT changed_by FROM crm.deal_history WHERE field = 'stage' AND to_value = 'not_suitable'),
  pg_temp.emp('tdr_mgr_alto1'), 'R12 the history names the manager who moved it');
SELECT is((SELECT count(*) FROM crm.task)::int, 0,
  'R12 the "check the salesperson" task goes to the head, not to the manager');
RESET SESSION AUTHORIZATION;

-- ===== the head of Alto: Alto and Testing, not Prom
SET SESSION AUTHORIZATION tdr_head_alto;
SELECT set_eq('SELECT counterparty_id FROM crm.deal', 'SELECT unnest(ARRAY[a1, t1]) FROM ids',
  'R1 R22 the head of Alto sees Alto''s and Testing''s deals');
SELECT results_eq($$SELECT kind, assignee_id FROM crm.task$$,
  $$VALUES ('deal_quality_check', pg_temp.emp('tdr_head_alto'))$$,
  'R12 the head got the task to check the quality of the rejected deal');
SELECT lives_ok($$UPDATE crm.deal SET manager_id = pg_temp.emp('tdr_mgr_alto2'), stage_reason = 'в отпуске'
  WHERE id = (SELECT dt FROM ids)$$, 'R22 the head steps in: a Testing deal goes to another Alto manager');
SELECT results_eq($$SELECT from_value, to_value, reason, changed_by FROM crm.deal_history WHERE field = 'manager'$$,
  $$VALUES ('tdr_tester'::text, 'tdr_mgr_alto2'::text, 'в отпуске'::text, pg_temp.emp('tdr_head_alto'))$$,
  'R12 R22 the handover is in the history');
SELECT throws_ok($$UPDATE crm.deal SET manager_id = pg_temp.emp('tdr_mgr_prom') WHERE id = (SELECT dt FROM ids)$$,
  '23514', NULL, 'R22 a deal is not handed to a manager of another sales department');
SELECT throws_ok($$SELECT crm.move_deal((SELECT dp FROM ids), 'not_suitable', 'x')$$, 'P0002', NULL,
  'R2 the head of Alto cannot move Prom''s deal');
SELECT lives_ok($$SELECT crm.record_survey((SELECT dt FROM ids), 4, 'довольны, но долго')$$,
  'R22 the head records a satisfaction survey for a deal of the department');
SELECT throws_ok($$SELECT crm.record_survey((SELECT dp FROM ids), 4)$$, '42501', NULL,
  'R22 ... not for another department''s deal');
SELECT throws_ok($$SELECT crm.record_survey((SELECT dt FROM ids), 6)$$, '23514', NULL, 'R22 a score is 1..5');
SELECT is((SELECT recorded_by FROM crm.satisfaction_survey), pg_temp.emp('tdr_head_alto'),
  'R22 the survey names who recorded it');
SELECT is((SELECT count(*) FROM crm.deal_line)::int, 1, 'R22 the head sees the lines of the department''s deals');
RESET SESSION AUTHORIZATION;

-- the manager who got the deal sees it, and the open tasks of the deal follow it
SET SESSION AUTHORIZATION tdr_mgr_alto2;
SELECT results_eq('SELECT counterparty_id FROM crm.deal', 'SELECT t1 FROM ids', 'R22 the new manager sees the deal');
SELECT is((SELECT count(*) FROM crm.notification WHERE kind = 'deal_assigned')::int, 1,
  'R22 and was told about it');
SELECT is((SELECT count(*) FROM crm.satisfaction_survey)::int, 1, 'R22 a manager reads what the client said');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdr_tester;
SELECT is((SELECT count(*) FROM crm.deal)::int, 0, 'R22 the former manager no longer sees it');
RESET SESSION AUTHORIZATION;

-- ===== the head of Prom
SET SESSION AUTHORIZATION tdr_head_prom;
SELECT results_eq('SELECT counterparty_id FROM crm.deal', 'SELECT p1 FROM ids', 'R2 the head of Prom sees Prom only');
SELECT lives_ok($$SELECT crm.record_payment((SELECT ip FROM ids), 600)$$,
  'a head records a payment against the department''s invoice');
SELECT results_eq('SELECT paid, invoiced_unpaid FROM crm.settlement', $$VALUES (600.00::numeric, 600.00::numeric)$$,
  'the settlement of the counterparty shows it');
SELECT is((SELECT count(*) FROM crm.satisfaction_survey)::int, 0, 'R22 the head of Prom does not see Alto''s surveys');
RESET SESSION AUTHORIZATION;

-- ===== warehouse, marketing, BI, a stranger
SET SESSION AUTHORIZATION tdr_wh;
SELECT is((SELECT count(*) FROM crm.deal)::int, 3, 'R2 the warehouse sees the deals it ships');
SELECT throws_ok($$UPDATE crm.deal SET stage = 'installation'$$, '42501', NULL, 'R2 the warehouse does not move deals');
SELECT throws_ok($$SELECT crm.create_document((SELECT dp FROM ids), 'invoice')$$, '42501', NULL,
  'R19 the warehouse issues shipping documents only');
SELECT throws_ok('SELECT count(*) FROM crm.payment', '42501', NULL, 'R2 the warehouse does not read payments');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdr_mkt;
SELECT throws_ok('SELECT count(*) FROM crm.deal', '42501', NULL, 'R2 marketing does not read deals');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdr_bi;
SELECT is((SELECT count(*) FROM crm.deal)::int, 3, 'R2 BI and 1C read every deal');
SELECT is((SELECT count(*) FROM crm.pipeline)::int, 3, 'R22 ... and the control views');
SELECT throws_ok($$UPDATE crm.deal SET needs = 'x'$$, '42501', NULL, 'R2 ... and change nothing');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdr_stranger;
SELECT throws_ok('SELECT count(*) FROM crm.deal', '42501', NULL, 'R2 a login without a crm role sees nothing');
SELECT throws_ok($$SELECT crm.create_deal(1, 'x')$$, '42501', NULL, 'R2 ... and cannot create deals');
RESET SESSION AUTHORIZATION;

-- ===== the admin
SET SESSION AUTHORIZATION tdr_admin;
SELECT is((SELECT count(*) FROM crm.deal)::int, 3, 'R2 the admin sees every deal');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
