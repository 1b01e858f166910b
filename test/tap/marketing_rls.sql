-- test/tap/marketing_rls.sql: who may do what with marketing's tables and
-- functions (R2, R27-R29, R23, R24).  Marketing reads contacts, builds
-- segments, exports them and gives managers call tasks -- and cannot read
-- deals or money.  Each person "logs in" with SET SESSION AUTHORIZATION.
BEGIN;
SELECT plan(47);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('tapm_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('tapm_mgr', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('tapm_mgr2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('tapm_head', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('tapm_wh', 'Игорь Склад', 'warehouse', 'warehouse');
SELECT crm.hire('tapm_admin', 'Кира Админ', 'management', 'admin');
CREATE ROLE tapm_bi LOGIN IN ROLE crm_reader;
CREATE ROLE tapm_job LOGIN IN ROLE crm_integration;

INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, region, department_id, responsible_id)
VALUES ('client', 'Клиент Бориса', 'ООО «Клиент»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
        '40702810938000012345', '30101810400000000225', 'Москва, ул. Тверская, 1', 'Москва',
        (SELECT id FROM crm.department WHERE code = 'alto'), (SELECT id FROM crm.employee WHERE role_name = 'tapm_mgr')),
       ('client', 'Клиент Веры', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'Тула',
        (SELECT id FROM crm.department WHERE code = 'alto'), (SELECT id FROM crm.employee WHERE role_name = 'tapm_mgr2'));
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Контакт ' || name FROM crm.counterparty
 WHERE name IN ('Клиент Бориса', 'Клиент Веры');
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT k.id, k.counterparty_id, 'email', 'c' || k.id || '@tapm.example' FROM crm.contact k
  JOIN crm.counterparty c ON c.id = k.counterparty_id WHERE c.name IN ('Клиент Бориса', 'Клиент Веры');
SELECT crm.create_deal((SELECT id FROM crm.counterparty WHERE name = 'Клиент Бориса'), 'Насос ЦНС', equipment_type => 'pumps');
CREATE TEMP TABLE ids AS SELECT (SELECT id FROM crm.counterparty WHERE name = 'Клиент Бориса') AS boris_cp,
  (SELECT id FROM crm.counterparty WHERE name = 'Клиент Веры') AS vera_cp,
  (SELECT id FROM crm.employee WHERE role_name = 'tapm_mgr') AS mgr,
  (SELECT id FROM crm.employee WHERE role_name = 'tapm_admin') AS admin;
GRANT SELECT ON ids TO PUBLIC;

-- marketing: contacts, tags, segments, exports, call tasks
SET SESSION AUTHORIZATION tapm_mkt;
SELECT ok((SELECT count(*) FROM crm.contact_point WHERE value LIKE '%@tapm.example') = 2, 'R26 marketing reads every contact point');
SELECT lives_ok($$SELECT crm.tag((SELECT boris_cp FROM ids), 'tapm-тег')$$, 'R27 marketing creates and puts tags');
SELECT lives_ok($$INSERT INTO crm.segment (name, tags) VALUES ('tapm сегмент', '{tapm-тег}')$$, 'R27 marketing creates a segment');
SELECT is((SELECT count(*) FROM crm.segment_members('tapm сегмент'))::int, 1, 'R27 marketing lists its members');
SELECT lives_ok($$INSERT INTO crm.segment (name, equipment_types) VALUES ('tapm насосы', '{pumps}')$$,
  'R27 marketing segments by equipment interest');
SELECT is((SELECT company FROM crm.segment_members('tapm насосы')), 'Клиент Бориса',
  'R27 the interest comes from the deals marketing cannot read');
SELECT ok(length(crm.export_segment('tapm сегмент', 'mailchimp', 'xlsx')) > 0, 'R27 marketing exports for MailChimp');
SELECT ok(length(crm.export_segment('tapm сегмент', 'phone', 'xlsx')) > 0, 'R28 marketing exports for telephone marketing');
SELECT lives_ok($$SELECT crm.schedule_export('tapm сегмент', 'phone', 'xlsx', '7 days')$$, 'R28 marketing schedules an export');
SELECT throws_ok($$UPDATE crm.export_schedule SET requested_by = (SELECT admin FROM ids)$$, '42501', NULL,
  'R28 marketing cannot have a file made with the administrator''s rights');
SELECT lives_ok($$SELECT crm.give_call_task((SELECT vera_cp FROM ids), 'Позвонить по акции', now() + interval '1 day')$$,
  'R29 marketing gives a manager "call the client"');
-- ... and no deals, no money
SELECT throws_ok('SELECT count(*) FROM crm.deal', '42501', NULL, 'R29 marketing cannot read deals');
SELECT throws_ok('SELECT count(*) FROM crm.deal_line', '42501', NULL, 'R29 marketing cannot read deal lines');
SELECT throws_ok('SELECT count(*) FROM crm.deal_history', '42501', NULL, 'R29 marketing cannot read deal history');
SELECT throws_ok('SELECT count(*) FROM crm.document', '42501', NULL, 'R29 marketing cannot read documents');
SELECT throws_ok('SELECT count(*) FROM crm.payment', '42501', NULL, 'R29 marketing cannot read payments');
SELECT throws_ok('SELECT count(*) FROM crm.deal_amounts', '42501', NULL, 'R29 marketing cannot read deal amounts');
SELECT throws_ok('SELECT count(*) FROM crm.settlement', '42501', NULL, 'R29 marketing cannot read settlement balances');
SELECT throws_ok('SELECT count(*) FROM crm.opening_balance', '42501', NULL, 'R29 marketing cannot read opening balances');
SELECT throws_ok('SELECT bank_account FROM crm.counterparty', '42501', NULL, 'R29 marketing cannot read payment details');
SELECT throws_ok('SELECT count(*) FROM crm_1c.deal', '42501', NULL, 'R29 marketing cannot reach the 1C views');
SELECT throws_ok($$SELECT crm.import_1c('products', ''::bytea)$$, '42501', NULL, 'R23 marketing cannot import from 1C');
RESET SESSION AUTHORIZATION;

-- the manager: told at once, sees the task; cannot make tags or segments
SET SESSION AUTHORIZATION tapm_mgr2;
SELECT is((SELECT count(*) FROM crm.notification WHERE kind = 'call_client')::int, 1, 'R29 the manager is notified of the call task');
SELECT is((SELECT note FROM crm.task WHERE kind = 'call_client'), 'Позвонить по акции', 'R29 the manager sees the task and its note');
SELECT throws_ok($$INSERT INTO crm.tag (name) VALUES ('свой')$$, '42501', NULL, 'R27 a manager does not invent tags');
SELECT throws_ok($$INSERT INTO crm.segment (name) VALUES ('свой')$$, '42501', NULL, 'R27 a manager does not make segments');
SELECT throws_ok($$SELECT crm.tag((SELECT boris_cp FROM ids), 'tapm-тег')$$, '23503', NULL,
  'R2 a manager cannot tag a colleague''s counterparty');
SELECT is((SELECT count(*) FROM crm.counterparty_tag)::int, 0, 'R2 a manager does not see the tags of counterparties not theirs');
SELECT throws_ok($$SELECT crm.export_segment('tapm сегмент')$$, '42501', NULL,
  'R27 a manager does not export marketing''s base');
SELECT throws_ok('SELECT count(*) FROM crm.export_file', '42501', NULL, 'R28 a manager does not see the export files');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tapm_mgr;
SELECT lives_ok($$SELECT crm.tag((SELECT boris_cp FROM ids), 'tapm-тег')$$, 'R27 a manager tags their own counterparty');
RESET SESSION AUTHORIZATION;

-- warehouse: nothing of marketing's
SET SESSION AUTHORIZATION tapm_wh;
SELECT throws_ok('SELECT count(*) FROM crm.counterparty_tag', '42501', NULL, 'R2 warehouse does not read tags on counterparties');
SELECT throws_ok('SELECT count(*) FROM crm.export_schedule', '42501', NULL, 'R2 warehouse does not read export schedules');
SELECT throws_ok('SELECT count(*) FROM crm.migration_run', '42501', NULL, 'R2 warehouse does not read the migration');
RESET SESSION AUTHORIZATION;

-- the pg_cron job role produces the due exports, with the requester's rights
SET SESSION AUTHORIZATION tapm_job;
SELECT throws_ok('SELECT count(*) FROM crm.export_file', '42501', NULL, 'R28 the job role reads no export file');
SELECT throws_ok($$SELECT crm.export_segment_as(1, 1, 'phone', 'csv')$$, '42501', NULL,
  'R28 the job role cannot make a file as anybody it likes');
RESET SESSION AUTHORIZATION;
SELECT ok(has_function_privilege('crm_integration', 'crm.run_export_schedules()', 'EXECUTE'),
  'R28 the job role may run the scheduled exports');
SELECT is((SELECT command FROM crm.job WHERE name = 'marketing_exports'), 'CALL crm.run_export_schedules()',
  'R28 the exports are a job of crm.job, for pg_cron');

-- BI and 1C: read everything marketing made, write nothing
SET SESSION AUTHORIZATION tapm_bi;
SELECT ok((SELECT count(*) FROM crm.segment) >= 2, 'R24 crm_reader reads segments');
SELECT ok((SELECT count(*) FROM crm_1c.deal) >= 1, 'R24 crm_reader reads the 1C views');
SELECT throws_ok($$INSERT INTO crm.tag (name) VALUES ('x')$$, '42501', NULL, 'R24 crm_reader writes no tag');
SELECT throws_ok($$SELECT crm.import_1c('products', ''::bytea)$$, '42501', NULL, 'R24 crm_reader imports nothing');
RESET SESSION AUTHORIZATION;

-- the administrator runs the migration
SET SESSION AUTHORIZATION tapm_admin;
SELECT is((SELECT status FROM crm.import_1c('settlements', convert_to(E'Код;Сальдо;Дата\r\n', 'UTF8'), 'empty.csv')),
  'loaded', 'R23 the administrator imports from 1C');
SELECT lives_ok($$INSERT INTO crm.migration_map (kind, source, target) VALUES ('department', 'Отдел продаж №1', 'alto')$$,
  'R23 the administrator maps 1C''s names');
RESET SESSION AUTHORIZATION;

-- the structure behind the matrix, for marketing's objects
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm'::regnamespace AND relkind = 'r'
            AND relname IN ('tag', 'counterparty_tag', 'segment', 'export_schedule', 'export_file', 'migration_map',
                            'migration_run', 'migration_error', 'opening_balance')
            AND relrowsecurity AND relforcerowsecurity)::int, 9, 'R2 marketing''s tables have RLS enabled and forced');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm_1c'::regnamespace AND relkind = 'v'
            AND NOT coalesce('security_invoker=true' = ANY (reloptions), false))::int, 0,
  'R24 every 1C view runs with the caller''s rights');
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'crm'::regnamespace AND prosecdef
            AND has_function_privilege('public', oid, 'EXECUTE'))::int, 0,
  'R2 no SECURITY DEFINER function is executable by PUBLIC');

SELECT * FROM finish();
ROLLBACK;
