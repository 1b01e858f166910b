-- marketing_migration: the one-off import from the old 1C (R23) -- product
-- and client catalogues from CommerceML import.xml and CSV (windows-1251 and
-- UTF-8, ";"), settlement balances; every rejected record in the report;
-- all or nothing per file; re-runs create nothing twice; broken files give
-- clear errors and change nothing.  Fixtures: test/fixtures/1c/.
\pset null '(null)'
\getenv abs_srcdir PG_ABS_SRCDIR
\set fixtures :abs_srcdir '/test/fixtures/1c/'
BEGIN;
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the files as 1C wrote them
CREATE TEMP TABLE f AS
SELECT name, pg_read_binary_file(:'fixtures' || name) AS data
  FROM unnest(ARRAY['products.csv', 'products_missing_column.csv', 'products_unterminated.csv', 'import.xml',
                    'import_truncated.xml', 'not_commerceml.xml', 'contragents.xml', 'counterparties.csv',
                    'counterparties_bad.csv', 'settlements.csv', 'stock.csv', 'stock_bad.csv', 'orders.csv',
                    'orders_unknown_product.csv']) name;
GRANT SELECT ON f TO PUBLIC;
CREATE FUNCTION pg_temp.file(n text) RETURNS bytea LANGUAGE sql AS $$ SELECT data FROM f WHERE name = n $$;
-- what the catalogues hold, to show that a refused file changed nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT md5(coalesce((SELECT string_agg(p::text, '|' ORDER BY p.id) FROM crm.product p), '')
          || coalesce((SELECT string_agg(c::text, '|' ORDER BY c.id) FROM crm.counterparty c), '')
          || coalesce((SELECT string_agg(k::text, '|' ORDER BY k.id) FROM crm.contact k), '')
          || coalesce((SELECT string_agg(p::text, '|' ORDER BY p.id) FROM crm.contact_point p), '')
          || coalesce((SELECT string_agg(o::text, '|' ORDER BY o.counterparty_id) FROM crm.opening_balance o), '')
          || coalesce((SELECT string_agg(l::text, '|' ORDER BY l.id) FROM crm.lot l), '')
          || coalesce((SELECT string_agg(m::text, '|' ORDER BY m.id) FROM crm.stock_move m), '')
          || coalesce((SELECT string_agg(o::text, '|' ORDER BY o.id) FROM crm.customer_order o), '')
          || coalesce((SELECT string_agg(l::text, '|' ORDER BY l.id) FROM crm.order_line l), ''))
$$;
CREATE FUNCTION pg_temp.import(kind text, n text)
RETURNS TABLE (file text, enc text, status text, records integer, rejected integer, created integer,
               updated integer, unchanged integer, sqlstate text)
LANGUAGE sql AS $$
  SELECT r.file_name, r.encoding, r.status, r.records, r.rejected, r.created, r.updated, r.unchanged, r.sqlstate
    FROM crm.import_1c(kind, pg_temp.file(n), n) r
$$;
CREATE FUNCTION pg_temp.report(n text) RETURNS TABLE (line_no integer, natural_key text, sqlstate text, reasons text[])
LANGUAGE sql AS $$
  SELECT e.line_no, e.natural_key, e.sqlstate, e.reasons FROM crm.migration_error e
   WHERE e.run_id = (SELECT max(r.id) FROM crm.migration_run r WHERE r.file_name = n) ORDER BY e.line_no, e.id
$$;

-- the files: encodings as 1C writes them
SELECT name, crm.detect_1c_encoding(data) AS encoding, length(data) AS bytes FROM f ORDER BY name;
-- reading 1C's numbers and dates never raises
SELECT v, crm.parse_1c_number(v) FROM unnest(ARRAY['1 234 567,89', E'2\u00a0450\u00a0000,00', '-300000', '12.5',
  '1,2,3', '', 'abc', '1e5', ',5', '5,', '-', '12 345.6']) v;
SELECT v, crm.parse_1c_date(v) FROM unnest(ARRAY['31.12.2024', '1.2.2025 0:00:00', '2024-12-31', '2024-12-31T10:00:00',
  '29.02.2023', '29.02.2024', '31.04.2024', '2024-13-01', '31/12/2024', '', '31.12.24']) v;
SELECT v, crm.parse_1c_bool(v) FROM unnest(ARRAY['Да', 'нет', 'ИСТИНА', 'Ложь', 'yes', '0', 'может быть']) v;
SELECT v, crm.migration_gtin(v) FROM unnest(ARRAY['4601234560016', '4601234560017', '46012344', '012345678905',
  '04601234560016', '460123456001']) v;

-- the people the old 1C names, as crm knows them
SELECT crm.hire('regress_mig_admin', 'Кира Админ', 'management', 'admin') > 0 AS hired;
SELECT crm.hire('regress_mig_petrov', 'Борис Петров', 'alto', 'manager') > 0 AS hired;
SELECT crm.hire('regress_mig_lebedeva', 'Екатерина Лебедева', 'prom', 'manager') > 0 AS hired;
SELECT crm.hire('regress_mig_kuznetsov', 'Глеб Кузнецов', 'testing', 'manager') > 0 AS hired;
SELECT crm.hire('regress_mig_popov', 'Дмитрий Попов', 'prom', 'head') > 0 AS hired;
SELECT crm.hire('regress_mig_novikova', 'Новикова Мария Ивановна', 'plazo', 'manager') > 0 AS hired;

SET ROLE regress_mig_admin;
-- R23: products from a windows-1251 CSV: a product group 1C calls differently
-- from crm rejects the file, with every record's reasons; nothing is loaded
SELECT pg_temp.state() AS before \gset
SELECT * FROM pg_temp.import('products', 'products.csv');
SELECT * FROM pg_temp.report('products.csv');
SELECT pg_temp.state() = :'before' AS nothing_loaded;
-- the administrator maps the name, and the same file loads
INSERT INTO crm.migration_map (kind, source, target) VALUES ('equipment_type', 'Климатическая техника', 'climatic');
SELECT pg_temp.try($$INSERT INTO crm.migration_map (kind, source, target) VALUES ('warehouse', 'Склад №1', 'nowhere')$$) AS unknown_target;
SELECT * FROM pg_temp.import('products', 'products.csv');
SELECT p.code_1c, p.sku, p.name, p.gtin, t.code AS type, p.list_price, p.shelf_life_days, p.unit, p.made_in_house, p.stocked
  FROM crm.product p LEFT JOIN crm.equipment_type t ON t.id = p.equipment_type_id WHERE p.code_1c IS NOT NULL ORDER BY p.code_1c;
-- R23: again: nothing twice
SELECT * FROM pg_temp.import('products', 'products.csv');
SELECT count(*) AS products FROM crm.product WHERE code_1c IS NOT NULL;

-- CommerceML 2 import.xml (UTF-8): groups nested in the classifier, the
-- nearest group that is an equipment type counts; products already loaded
-- from CSV are found by their 1C code and get their GUID; a product marked
-- deleted is inactive
SELECT * FROM pg_temp.import('commerceml', 'import.xml');
SELECT p.code_1c, p.guid_1c, p.sku, p.name, t.code AS type, p.active
  FROM crm.product p LEFT JOIN crm.equipment_type t ON t.id = p.equipment_type_id WHERE p.guid_1c IS NOT NULL ORDER BY p.guid_1c;
SELECT * FROM pg_temp.import('commerceml', 'import.xml');

-- R23: counterparties from a UTF-8 CSV (with BOM); the managers 1C names
-- are mapped first; one counterparty on two lines is one counterparty with
-- two contact persons
SELECT * FROM pg_temp.import('counterparties', 'counterparties.csv');
SELECT * FROM pg_temp.report('counterparties.csv');
INSERT INTO crm.migration_map (kind, source, target) VALUES
  ('employee', 'Петров Борис Сергеевич', 'regress_mig_petrov'),
  ('employee', 'Лебедева Екатерина Андреевна', 'regress_mig_lebedeva'),
  ('employee', 'Кузнецов Глеб Олегович', 'regress_mig_kuznetsov'),
  ('employee', 'Попов Дмитрий', 'regress_mig_popov');
SELECT * FROM pg_temp.import('counterparties', 'counterparties.csv');
SELECT c.code_1c, c.kind, c.name, c.legal_name, c.inn, c.kpp, c.ogrn, c.bank_bic, c.bank_account, c.region,
       d.code AS department, e.role_name AS responsible
  FROM crm.counterparty c LEFT JOIN crm.department d ON d.id = c.department_id
  LEFT JOIN crm.employee e ON e.id = c.responsible_id WHERE c.code_1c IS NOT NULL ORDER BY c.code_1c;
SELECT c.code_1c, k.full_name, k.position, string_agg(p.normalized || coalesce(' доб. ' || p.extension, ''), ', ' ORDER BY p.id) AS points
  FROM crm.counterparty c JOIN crm.contact k ON k.counterparty_id = c.id
  LEFT JOIN crm.contact_point p ON p.contact_id = k.id WHERE c.code_1c IS NOT NULL
 GROUP BY c.code_1c, k.id ORDER BY c.code_1c, k.id;
SELECT * FROM pg_temp.import('counterparties', 'counterparties.csv');

-- CommerceML counterparties in windows-1251 (the XML declaration says so):
-- Авиаприбор's contact is known by its phone and e-mail, so no duplicate
SELECT * FROM pg_temp.import('commerceml', 'contragents.xml');
SELECT c.guid_1c, c.kind, c.name, c.legal_name, c.inn, c.bank_account, c.legal_address, c.physical_address,
       (SELECT string_agg(k.full_name || ' ' || (SELECT string_agg(p.normalized, ', ' ORDER BY p.id) FROM crm.contact_point p
                                                  WHERE p.contact_id = k.id), '; ')
          FROM crm.contact k WHERE k.counterparty_id = c.id) AS contacts
  FROM crm.counterparty c WHERE c.guid_1c IS NOT NULL ORDER BY c.guid_1c;
SELECT * FROM pg_temp.import('commerceml', 'contragents.xml');

-- R23: settlement balances (debit and credit as 1C's turnover sheet has them)
-- become opening balances in crm.settlement
SELECT * FROM pg_temp.import('settlements', 'settlements.csv');
SELECT c.code_1c, s.name, s.opening, s.balance FROM crm.settlement s JOIN crm.counterparty c ON c.id = s.counterparty_id
 ORDER BY c.code_1c;
SELECT * FROM pg_temp.import('settlements', 'settlements.csv');

-- R23: stock balances by warehouse with lots (series) and best-before dates,
-- month-only ones included; a product without series is one lot "1C"
INSERT INTO crm.warehouse (code, name) VALUES ('main', 'Основной склад'), ('spb', 'Санкт-Петербург'),
  ('eq_main', 'Сверка 1'), ('eq_spb', 'Сверка 2');
INSERT INTO crm.migration_map (kind, source, target) VALUES ('warehouse', 'Склад СПб', 'spb');
SELECT * FROM pg_temp.import('stock', 'stock.csv');
SELECT w.code AS warehouse, p.code_1c, l.lot_number, crm.expiry_text(l.expiry, l.expiry_precision) AS best_before,
       l.expires_on, l.on_hand, l.reserved, l.source, CASE WHEN l.received_at = now() THEN 'now' ELSE l.received_at::date::text END AS received
  FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.product p ON p.id = l.product_id
 WHERE w.code IN ('main', 'spb') ORDER BY w.code, p.code_1c, l.lot_number;
SELECT * FROM pg_temp.import('stock', 'stock.csv');
-- the load makes what fulfilment's crm.receive_lot(..., source => 'import')
-- makes from the same lines: the same lots and the same stock moves
RESET ROLE;
SELECT count(crm.receive_lot(CASE w.code WHEN 'main' THEN (SELECT id FROM crm.warehouse WHERE code = 'eq_main')
                                        ELSE (SELECT id FROM crm.warehouse WHERE code = 'eq_spb') END,
                             l.product_id, m.quantity, l.lot_number, l.expiry, l.expiry_precision, l.received_at, 'import'))
  FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.stock_move m ON m.lot_id = l.id
 WHERE w.code IN ('main', 'spb');
SELECT count(*) AS differences FROM (
  (SELECT replace(w.code, 'eq_', '') AS w, l.product_id, l.lot_number, l.received_at, l.expiry, l.expiry_precision,
          l.expires_on, l.alloc_key, l.on_hand, l.reserved, l.source, m.kind, m.quantity, m.serial, m.scanned_code,
          m.document_id, m.moved_at, m.moved_by
     FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.stock_move m ON m.lot_id = l.id
    WHERE w.code IN ('main', 'spb')
   EXCEPT
   SELECT replace(w.code, 'eq_', ''), l.product_id, l.lot_number, l.received_at, l.expiry, l.expiry_precision,
          l.expires_on, l.alloc_key, l.on_hand, l.reserved, l.source, m.kind, m.quantity, m.serial, m.scanned_code,
          m.document_id, m.moved_at, m.moved_by
     FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.stock_move m ON m.lot_id = l.id
    WHERE w.code IN ('eq_main', 'eq_spb'))
  UNION ALL
  (SELECT replace(w.code, 'eq_', ''), l.product_id, l.lot_number, l.received_at, l.expiry, l.expiry_precision,
          l.expires_on, l.alloc_key, l.on_hand, l.reserved, l.source, m.kind, m.quantity, m.serial, m.scanned_code,
          m.document_id, m.moved_at, m.moved_by
     FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.stock_move m ON m.lot_id = l.id
    WHERE w.code IN ('eq_main', 'eq_spb')
   EXCEPT
   SELECT w.code, l.product_id, l.lot_number, l.received_at, l.expiry, l.expiry_precision,
          l.expires_on, l.alloc_key, l.on_hand, l.reserved, l.source, m.kind, m.quantity, m.serial, m.scanned_code,
          m.document_id, m.moved_at, m.moved_by
     FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id JOIN crm.stock_move m ON m.lot_id = l.id
    WHERE w.code IN ('main', 'spb'))) d;
DELETE FROM crm.stock_move WHERE lot_id IN (SELECT l.id FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id WHERE w.code LIKE 'eq\_%');
DELETE FROM crm.lot WHERE warehouse_id IN (SELECT id FROM crm.warehouse WHERE code LIKE 'eq\_%');
SET ROLE regress_mig_admin;
-- a stock file with bad lines; loading again never doubles stock
SELECT pg_temp.state() AS before \gset
SELECT * FROM pg_temp.import('stock', 'stock_bad.csv');
SELECT * FROM pg_temp.report('stock_bad.csv');
SELECT pg_temp.state() = :'before' AS nothing_loaded;

-- R23: open customer orders, one line per row: placed and split by
-- fulfilment -- reserved from the imported stock (FEFO, the expired lot
-- left alone), the rest to production
SELECT * FROM pg_temp.import('orders', 'orders.csv');
SELECT o.code_1c, c.code_1c AS customer, w.code AS warehouse, o.status, o.note, p.code_1c AS product, l.quantity,
       l.unit_price, l.reserved_qty, l.production_qty, l.supplier_qty, l.unassigned_qty, l.exception
  FROM crm.customer_order o JOIN crm.counterparty c ON c.id = o.counterparty_id JOIN crm.warehouse w ON w.id = o.warehouse_id
  JOIN crm.order_line l ON l.order_id = o.id JOIN crm.product p ON p.id = l.product_id
 ORDER BY o.code_1c, l.line_no;
SELECT l.lot_number, r.quantity FROM crm.reservation r JOIN crm.lot l ON l.id = r.lot_id ORDER BY l.lot_number;
SELECT * FROM pg_temp.import('orders', 'orders.csv');
-- an order line for an unknown product: the whole file is refused
SELECT pg_temp.state() AS before \gset
SELECT * FROM pg_temp.import('orders', 'orders_unknown_product.csv');
SELECT * FROM pg_temp.report('orders_unknown_product.csv');
SELECT pg_temp.state() = :'before' AS nothing_loaded;

-- R23: a file with bad records: every record's reasons, all or nothing
SELECT pg_temp.state() AS before \gset
SELECT * FROM pg_temp.import('counterparties', 'counterparties_bad.csv');
SELECT * FROM pg_temp.report('counterparties_bad.csv');
SELECT record FROM crm.migration_error
 WHERE run_id = (SELECT max(id) FROM crm.migration_run) AND line_no = 3;
SELECT pg_temp.state() = :'before' AS nothing_loaded;

-- broken files: a clear error, an SQLSTATE, and nothing changed
SELECT pg_temp.try($$SELECT crm.import_1c('products', pg_temp.file('products_missing_column.csv'), 'products_missing_column.csv')$$) AS missing_column;
SELECT pg_temp.try($$SELECT crm.import_1c('products', pg_temp.file('products_unterminated.csv'), 'products_unterminated.csv')$$) AS unterminated_quote;
SELECT pg_temp.try($$SELECT crm.import_1c('commerceml', pg_temp.file('import_truncated.xml'), 'import_truncated.xml')$$) AS malformed_xml;
SELECT pg_temp.try($$SELECT crm.import_1c('commerceml', pg_temp.file('not_commerceml.xml'), 'not_commerceml.xml')$$) AS not_commerceml;
SELECT pg_temp.try($$SELECT crm.import_1c('commerceml', pg_temp.file('products.csv'), 'products.csv')$$) AS csv_as_xml;
SELECT pg_temp.try($$SELECT crm.import_1c('products', ''::bytea, 'empty.csv')$$) AS empty_file;
SELECT pg_temp.try($$SELECT crm.import_1c('products', '\x436f643b00'::bytea, 'nul.csv')$$) AS nul_byte;
SELECT pg_temp.try($$SELECT crm.import_1c('products', pg_temp.file('products.csv'), 'products.csv', 'utf-8')$$) AS wrong_encoding;
SELECT pg_temp.try($$SELECT crm.import_1c('products', pg_temp.file('products.csv'), 'products.csv', 'koi8-r')$$) AS unsupported_encoding;
SELECT pg_temp.try($$SELECT crm.import_1c('prices', pg_temp.file('products.csv'))$$) AS unknown_kind;
SELECT pg_temp.try($$SELECT crm.import_1c('stock', pg_temp.file('products.csv'))$$) AS products_as_stock;
SELECT status, rejected, sqlstate
  FROM crm.import_1c('settlements', convert_to(E'Код;Сальдо;Дата\r\n000000999;100;31.12.2024\r\n000000101;;\r\n', 'UTF8'), 'x.csv');
SELECT * FROM pg_temp.report('x.csv');
SELECT pg_temp.state() = :'before' AS nothing_changed;
-- the CSV reader: alternative and optional columns, a short record, quotes
SELECT * FROM crm.csv_read(E'\ufeffкод ;"Наименование"; лишнее\r\n1;"a;""b""\nc"\r\n\r\n2\r\n;;\r\n3;x;y;z', ARRAY['Код', 'Наименование|Имя', '?Цена'])
  AS t(line_no integer, problem text, code text, name text, price text);
SELECT pg_temp.try($$SELECT * FROM crm.csv_read('a;b', ARRAY['a'], ';;') AS t(l integer, p text, a text)$$) AS bad_delimiter;
SELECT pg_temp.try($$SELECT * FROM crm.csv_read('a;b', ARRAY['a', 'b']) AS t(l integer, p text, a text)$$) AS wrong_column_list;
SELECT pg_temp.try($$SELECT * FROM crm.csv_read('a;b;a', ARRAY['a']) AS t(l integer, p text, a text)$$) AS duplicate_header;
RESET ROLE;

-- the migration is the administrator's
SET ROLE regress_mig_petrov;
SELECT pg_temp.try($$SELECT crm.import_1c('products', pg_temp.file('products.csv'))$$) AS manager_imports;
SELECT pg_temp.try($$SELECT count(*) FROM crm.migration_run$$) AS manager_reads_runs;
RESET ROLE;
ROLLBACK;

-- CALL crm.load_1c: a rejected file ends in an error with the SQLSTATE of its
-- first invalid record, and the report is kept (the CALL commits it)
\set VERBOSITY terse
SELECT count(*) AS runs_before FROM crm.migration_run \gset
CALL crm.load_1c('counterparties', pg_read_binary_file(:'fixtures' || 'counterparties_bad.csv'), 'counterparties_bad.csv');
\echo :LAST_ERROR_SQLSTATE
SELECT r.status, r.records, r.rejected, r.sqlstate, (SELECT count(*) FROM crm.migration_error e WHERE e.run_id = r.id) AS reported
  FROM crm.migration_run r ORDER BY r.id DESC LIMIT 1;
SELECT count(*) - :runs_before AS runs_kept FROM crm.migration_run;
-- inside a transaction block the error undoes the report with everything else
BEGIN;
CALL crm.load_1c('counterparties', pg_read_binary_file(:'fixtures' || 'counterparties_bad.csv'), 'counterparties_bad.csv');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) - :runs_before AS runs_kept FROM crm.migration_run;
-- the issue's case: an order line for an unknown product ends in 23503
CALL crm.load_1c('orders', pg_read_binary_file(:'fixtures' || 'orders_unknown_product.csv'), 'orders_unknown_product.csv');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS orders FROM crm.customer_order;
-- a good file: no error
CALL crm.load_1c('settlements', convert_to(E'Код;Сальдо;Дата\r\n', 'UTF8'), 'empty_settlements.csv');
SELECT status, records FROM crm.migration_run WHERE file_name = 'empty_settlements.csv';
\set VERBOSITY default
DELETE FROM crm.migration_run;
