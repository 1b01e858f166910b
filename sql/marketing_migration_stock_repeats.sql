-- marketing_migration_stock_repeats: R23 -- a stock file that names the same
-- lot (warehouse, product, series) on two lines is refused, each later line
-- with its reason, and nothing is loaded: a lot not yet in stock, a lot an
-- earlier import loaded, and a repeated lot beside a series of blanks only
-- (which the load itself could not write).  Everything is rolled back.
\pset null '(null)'
SET datestyle = 'ISO, YMD';
BEGIN;
INSERT INTO crm.warehouse (code, name) VALUES ('rp_wh', 'Склад повторов');
INSERT INTO crm.product (sku, name, code_1c) VALUES ('RP-1', 'Товар повторов', '00-RP1');
CREATE FUNCTION pg_temp.load(n text, lines text) RETURNS TABLE (status text, records integer, rejected integer,
                                                                created integer, unchanged integer, sqlstate text)
LANGUAGE sql AS $$
  SELECT r.status, r.records, r.rejected, r.created, r.unchanged, r.sqlstate
    FROM crm.import_1c('stock', convert_to(E'Склад;Код номенклатуры;Серия;Годен до;Количество\r\n' || lines, 'UTF8'), n) r
$$;
CREATE FUNCTION pg_temp.report(n text) RETURNS TABLE (line_no integer, natural_key text, sqlstate text, reasons text[])
LANGUAGE sql AS $$
  SELECT e.line_no, e.natural_key, e.sqlstate, e.reasons FROM crm.migration_error e
   WHERE e.run_id = (SELECT max(r.id) FROM crm.migration_run r WHERE r.file_name = n) ORDER BY e.line_no, e.id
$$;
CREATE FUNCTION pg_temp.lots() RETURNS TABLE (lot_number text, expiry date, on_hand numeric, moves bigint)
LANGUAGE sql AS $$
  SELECT l.lot_number, l.expiry, l.on_hand, (SELECT count(*) FROM crm.stock_move m WHERE m.lot_id = l.id)
    FROM crm.lot l JOIN crm.warehouse w ON w.id = l.warehouse_id WHERE w.code = 'rp_wh' ORDER BY l.lot_number
$$;

-- a new lot twice, otherwise a good file
SELECT * FROM pg_temp.load('new.csv', E'Склад повторов;00-RP1;B;;2\r\nСклад повторов;00-RP1;A;31.12.2030;1\r\n'
                                   || E'Склад повторов;00-RP1;A;31.12.2030;1\r\nСклад повторов;00-RP1;A;;5\r\n');
SELECT * FROM pg_temp.report('new.csv');
SELECT * FROM pg_temp.lots();
-- loaded once; then the same lot twice again, now that it is in stock
SELECT * FROM pg_temp.load('first.csv', E'Склад повторов;00-RP1;A;31.12.2030;1\r\nСклад повторов;00-RP1;B;;2\r\n');
SELECT * FROM pg_temp.load('again.csv', E'Склад повторов;00-RP1;A;31.12.2030;1\r\nСклад повторов;00-RP1;A;31.12.2030;1\r\n'
                                     || E'Склад повторов;00-RP1;C;;3\r\n');
SELECT * FROM pg_temp.report('again.csv');
SELECT * FROM pg_temp.lots();
-- a repeated lot and a series of blanks only: refused for the repeat
SELECT * FROM pg_temp.load('blank.csv', E'Склад повторов;00-RP1;   ;;2\r\nСклад повторов;00-RP1;D;;1\r\n'
                                     || E'Склад повторов;00-RP1;D;;1\r\n');
SELECT * FROM pg_temp.report('blank.csv');
SELECT * FROM pg_temp.lots();
-- a series of blanks only is no series, as an empty field is: the lot is "1C"
-- (it aborted the whole import with 23514 before 1.2)
SELECT * FROM pg_temp.load('blank_alone.csv', E'Склад повторов;00-RP1;   ;;2\r\n');
SELECT * FROM pg_temp.report('blank_alone.csv');
SELECT * FROM pg_temp.lots();
ROLLBACK;
