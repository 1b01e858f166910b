-- test/tap/marketing_odbc.sql: the contract of the 1C views (R24), read from
-- the catalog: only ODBC-friendly types, a unique non-NULL key as the first
-- column, comments on every view and column, the caller's rights, and a
-- read-only login for 1C.  test/integration/odbc_1c.sh reads them through the
-- real psqlODBC driver.
BEGIN;
SELECT plan(14);

-- every view the issue names is there
SELECT ok((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class
            WHERE relnamespace = 'crm_1c'::regnamespace AND relkind = 'v')
          @> ARRAY['contact', 'contact_point', 'counterparty', 'customer_order', 'deal', 'deal_line', 'department',
                   'document', 'document_line', 'employee', 'equipment_type', 'order_line', 'payment', 'product',
                   'settlement', 'stock', 'task', 'warehouse'],
  'R24 views for counterparties, contacts, products, stock by warehouse and lot, customer orders and lines, tasks, deals with stage, documents, payments, settlement');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm_1c'::regnamespace AND relkind <> 'v')::int, 0,
  'R24 crm_1c holds views only');

-- R24: only types every ODBC client maps (no arrays, jsonb, enums, composites,
-- unbounded numeric or time zones)
SELECT is(
  (SELECT array_agg(format('%s.%s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY 1)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'crm_1c'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
      AND NOT (format_type(a.atttypid, a.atttypmod) IN ('text', 'integer', 'bigint', 'smallint', 'boolean', 'date',
                                                        'timestamp(0) without time zone', 'timestamp without time zone')
               OR format_type(a.atttypid, a.atttypmod) ~ '^(numeric\(\d+,\d+\)|character varying(\(\d+\))?)$')),
  NULL, 'R24 every exposed column has an ODBC-friendly type');
SELECT is((SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relnamespace = 'crm_1c'::regnamespace AND a.attnum > 0
              AND (t.typcategory IN ('A', 'E', 'C', 'U') OR t.typname IN ('json', 'jsonb', 'timestamptz')))::int, 0,
  'R24 no array, enum, composite, json or time zone in a 1C view');

-- documented, for the people who set up 1C
SELECT is((SELECT array_agg(relname::text) FROM pg_class WHERE relnamespace = 'crm_1c'::regnamespace AND relkind = 'v'
            AND obj_description(oid, 'pg_class') IS NULL), NULL, 'R24 every 1C view has a comment');
SELECT is((SELECT array_agg(c.relname || '.' || a.attname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'crm_1c'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
              AND col_description(c.oid, a.attnum) IS NULL), NULL, 'R24 every column of every 1C view has a comment');
SELECT is((SELECT array_agg(c.relname::text) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'crm_1c'::regnamespace AND c.relkind = 'v' AND a.attnum = 1
              AND col_description(c.oid, 1) NOT LIKE 'key%'), NULL, 'R24 the first column of every 1C view is documented as its key');
SELECT is((SELECT count(*) FROM pg_class WHERE relnamespace = 'crm_1c'::regnamespace AND relkind = 'v'
            AND NOT coalesce('security_invoker=true' = ANY (reloptions), false))::int, 0,
  'R24 every 1C view runs with the caller''s rights');

-- data in every table behind the views, then the key: unique and never NULL
SELECT crm.hire('tapo_mgr', 'Борис Первый', 'alto', 'manager');
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, region, department_id, responsible_id)
VALUES ('client', 'ООО «Ромашка»', 'ООО «Ромашка»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
        '40702810938000012345', '30101810400000000225', 'Москва, ул. Тверская, 1', 'Москва',
        (SELECT id FROM crm.department WHERE code = 'alto'), (SELECT id FROM crm.employee WHERE role_name = 'tapo_mgr'));
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Ольга Ромашкина' FROM crm.counterparty WHERE inn = '7707083893';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT k.id, k.counterparty_id, x.kind, x.v FROM crm.contact k, (VALUES ('phone', '8 916 100 20 30'), ('email', 'olga@romashka.example')) x(kind, v)
 WHERE k.full_name = 'Ольга Ромашкина';
INSERT INTO crm.product (sku, name, list_price) VALUES ('TAPO-1', 'Насос тестовый', 1000), ('TAPO-2', 'Компрессор тестовый', 2000);
INSERT INTO crm.warehouse (code, name) VALUES ('tapo', 'Склад');
INSERT INTO crm.task (kind, title, assignee_id, counterparty_id)
SELECT 'call_client', 'Позвонить', e.id, c.id FROM crm.employee e, crm.counterparty c WHERE e.role_name = 'tapo_mgr' AND c.inn = '7707083893';
SELECT crm.create_deal((SELECT id FROM crm.counterparty WHERE inn = '7707083893'), 'Насос', equipment_type => 'pumps') AS deal \gset
SELECT crm.add_deal_line(:deal, (SELECT id FROM crm.product WHERE sku = 'TAPO-1'), 2, 1000, 20, NULL);
SELECT crm.add_deal_line(:deal, (SELECT id FROM crm.product WHERE sku = 'TAPO-2'), 1, 2000, 20, NULL);
SELECT crm.create_document(:deal, 'invoice') AS invoice \gset
SELECT crm.record_payment(:invoice, 1000, current_date, 'п/п 17');
INSERT INTO crm.opening_balance (counterparty_id, amount, as_of) SELECT id, 500, '2024-12-31' FROM crm.counterparty WHERE inn = '7707083893';
SELECT crm.receive_lot((SELECT id FROM crm.warehouse WHERE code = 'tapo'), (SELECT id FROM crm.product WHERE sku = 'TAPO-1'),
                       5, 'П-01', '2031-06-01', 'month', NULL, 'import');
SELECT crm.place_order((SELECT id FROM crm.counterparty WHERE inn = '7707083893'), (SELECT id FROM crm.warehouse WHERE code = 'tapo'),
                       ARRAY[(SELECT id FROM crm.product WHERE sku = 'TAPO-1')], ARRAY[2::numeric]);

CREATE FUNCTION pg_temp.key_problems() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  v record;
  bad text[] := '{}';
  total bigint;
  distinct_keys bigint;
  nulls bigint;
BEGIN
  FOR v IN SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
            WHERE c.relnamespace = 'crm_1c'::regnamespace AND c.relkind = 'v' ORDER BY 1 LOOP
    EXECUTE format('SELECT count(*), count(DISTINCT %I), count(*) - count(%I) FROM crm_1c.%I', v.attname, v.attname, v.relname)
      INTO total, distinct_keys, nulls;
    IF total = 0 THEN
      bad := bad || (v.relname || ': no rows to check');
    ELSIF total <> distinct_keys OR nulls > 0 THEN
      bad := bad || format('%s: %s rows, %s keys, %s NULL', v.relname, total, distinct_keys, nulls);
    END IF;
  END LOOP;
  RETURN bad;
END $$;
SELECT is(pg_temp.key_problems(), '{}'::text[], 'R24 every 1C view has rows here, and its first column is a unique, non-NULL key');
SELECT is((SELECT stage_title FROM crm_1c.deal WHERE id = :deal), 'Подбор оборудования', 'R24 the deal view shows the stage');
SELECT is((SELECT (total_amount, paid)::text FROM crm_1c.deal WHERE id = :deal), '(4800.00,1000.00)', 'R24 the deal view shows the amounts');
SELECT is((SELECT balance FROM crm_1c.settlement WHERE counterparty_id = (SELECT id FROM crm.counterparty WHERE inn = '7707083893')),
  -500.00::numeric(14, 2), 'R23 R24 the settlement view includes the opening balance from 1C (500 owed, 1000 paid)');

-- the 1C login: read-only member of crm_reader
SELECT crm.create_1c_login('tapo_onec');
SELECT ok(pg_has_role('tapo_onec', 'crm_reader', 'member') AND (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'tapo_onec'),
  'R24 the 1C login can log in and is a member of crm_reader');
SELECT is((SELECT array_agg(c ORDER BY c) FROM pg_db_role_setting s, unnest(s.setconfig) c
            WHERE s.setrole = 'tapo_onec'::regrole), ARRAY['default_transaction_read_only=on', 'search_path=crm_1c, crm'],
  'R24 the 1C login is read-only by default and looks at crm_1c first');

SELECT * FROM finish();
ROLLBACK;
