-- migration_stock.sql: stock balances by warehouse with lots and expiry, and
-- the open customer orders with their lines, from the old 1C (R23), into the
-- fulfilment concern's tables through its own entry points: crm.receive_lot
-- (source 'import') and crm.place_order.
--
-- Stock: 1C's report of balances by warehouse and series ("Остатки товаров"):
-- warehouse, product code, series, best before, quantity, received.  A series
-- is a lot; a product without series goes to one lot per warehouse named
-- "1C".  Loaded again, a lot whose import already holds the same quantity is
-- left as it is; any other quantity is refused -- stock is never doubled.
-- Orders: 1C's open customer orders, one line per row: number, date,
-- counterparty code, warehouse, product code, quantity, price.  An order is
-- placed (and split: reserved from the imported stock, or sent to production
-- or a supplier) once; its 1C number is its key.

ALTER TABLE crm.customer_order
  ADD COLUMN code_1c text CONSTRAINT customer_order_code_1c_valid
    CHECK (pg_catalog.btrim(code_1c) <> '' AND pg_catalog.length(code_1c) <= 50);
CREATE UNIQUE INDEX customer_order_code_1c_key ON crm.customer_order (code_1c);
COMMENT ON COLUMN crm.customer_order.code_1c IS 'number of the order in the old 1C (Номер, with its year), natural key of the migration (R23)';

CREATE FUNCTION crm.parse_1c_month(text) RETURNS date
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'parse_1c_month';
COMMENT ON FUNCTION crm.parse_1c_month(text) IS '"06.2032" or "2032-06" -> 2032-06-01: a month without a day; NULL when it is not one';

-- ---- stock -------------------------------------------------------------------

-- A warehouse's names as the old 1C may write them: crm.migration_map, the
-- code, the name (compared in lower case, trimmed).
CREATE FUNCTION crm.migration_warehouse_names() RETURNS TABLE (name text, warehouse_id integer, active boolean)
LANGUAGE sql STABLE ROWS 20 SET search_path = pg_catalog, pg_temp AS $$
  SELECT DISTINCT ON (n.name) n.name, w.id, w.active
    FROM (SELECT lower(btrim(m.source)) AS name, m.target AS code, 1 AS pref FROM crm.migration_map m WHERE m.kind = 'warehouse'
          UNION ALL SELECT lower(x.code), x.code, 2 FROM crm.warehouse x
          UNION ALL SELECT lower(btrim(x.name)), x.code, 3 FROM crm.warehouse x) n
    JOIN crm.warehouse w ON w.code = n.code
   ORDER BY n.name, n.pref
$$;

-- The stock file is the largest a migration sees (a lot per line, a million
-- lines is not rare), so it is staged, validated and loaded set by set.  The
-- load does exactly what crm.receive_lot(..., source => 'import') does for a
-- lot it has not seen -- a crm.lot row and its crm.stock_move -- for all the
-- new lots in two statements; everything receive_lot would refuse is refused
-- here first, record by record (sql/marketing_migration.sql checks that the
-- two give the same rows).  Lots are written only by fulfilment's functions
-- and this one, so it runs as the owner of crm, for the administrator only.
CREATE FUNCTION crm.migration_stock(run bigint, doc text,
  OUT records integer, OUT rejected integer, OUT created integer, OUT updated integer, OUT unchanged integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  SET LOCAL client_min_messages = warning;
  CREATE TEMP TABLE IF NOT EXISTS crm_stage_stock (
    line_no integer, problem text, warehouse text, product_code text, sku text, product_name text, lot text,
    expiry text, quantity text, received text,
    warehouse_id integer, warehouse_active boolean, product_id bigint, lot_number text, expiry_d date,
    expiry_precision text, quantity_n numeric, received_d date,
    lot_id bigint, lot_expiry date, lot_precision text, imported numeric, reasons text[]);
  TRUNCATE crm_stage_stock;
  -- one pass: read, parse, resolve warehouse and product, find the lot and
  -- what an earlier import put into it
  INSERT INTO crm_stage_stock (line_no, problem, warehouse, product_code, sku, product_name, lot, expiry, quantity,
                               received, warehouse_id, warehouse_active, product_id, lot_number, expiry_d,
                               expiry_precision, quantity_n, received_d, lot_id, lot_expiry, lot_precision, imported)
  SELECT t.line_no, t.problem, t.warehouse, t.code, t.sku, t.name, t.lot, t.expiry, t.quantity, t.received,
         w.warehouse_id, w.active, t.product_id, t.lot_number,
         coalesce(t.day, t.month), CASE WHEN t.day IS NOT NULL THEN 'day' WHEN t.month IS NOT NULL THEN 'month' END,
         t.quantity_n, t.received_d, l.id, l.expiry, l.expiry_precision, im.quantity
    FROM (SELECT r.*, coalesce(p.id, ps.id) AS product_id, coalesce(r.lot, '1C') AS lot_number
            FROM (SELECT c.line_no, c.problem, btrim(c.warehouse) AS warehouse, btrim(c.code) AS code, btrim(c.sku) AS sku,
                         btrim(c.name) AS name, NULLIF(btrim(c.lot), '') AS lot, btrim(c.expiry) AS expiry, c.quantity, c.received,
                         crm.parse_1c_date(c.expiry) AS day, crm.parse_1c_month(c.expiry) AS month,
                         crm.parse_1c_number(c.quantity) AS quantity_n, crm.parse_1c_date(c.received) AS received_d
                    FROM crm.csv_read(doc, ARRAY['Склад', '?Код|Код номенклатуры', '?Артикул', '?Номенклатура|Наименование',
                                                 '?Серия|Партия|Номер партии|Серия номенклатуры', '?Годен до|Срок годности|Годен',
                                                 'Количество|Остаток|Конечный остаток|Количество остаток',
                                                 '?Дата поступления|Дата прихода|Поступление'])
                      AS c(line_no integer, problem text, warehouse text, code text, sku text, name text, lot text,
                           expiry text, quantity text, received text)) r
            LEFT JOIN crm.product p ON p.code_1c = r.code
            LEFT JOIN crm.product ps ON r.code IS NULL AND ps.sku = r.sku) t
    LEFT JOIN crm.migration_warehouse_names() w ON w.name = lower(t.warehouse)
    LEFT JOIN crm.lot l ON l.product_id = t.product_id AND l.warehouse_id = w.warehouse_id AND l.lot_number = t.lot_number
    LEFT JOIN (SELECT m.lot_id, sum(m.quantity) AS quantity FROM crm.stock_move m WHERE m.kind = 'import'
                GROUP BY m.lot_id) im ON im.lot_id = l.id;

  -- the reasons, computed where something is wrong
  UPDATE crm_stage_stock s SET reasons = r.reasons
    FROM (SELECT x.line_no, array_remove(ARRAY[
      '22P04 ' || x.problem,
      CASE WHEN x.warehouse IS NULL THEN '23502 no warehouse (Склад)'
           WHEN x.warehouse_id IS NULL THEN format('23503 warehouse "%s" is unknown (add it to crm.migration_map)', x.warehouse)
           WHEN NOT x.warehouse_active THEN format('55000 warehouse "%s" is not active', x.warehouse) END,
      CASE WHEN x.product_code IS NULL AND x.sku IS NULL THEN '23502 no product code (Код) or article (Артикул)'
           WHEN x.product_id IS NULL THEN format('23503 product "%s" is not loaded (load the catalogue first)',
                                                 coalesce(x.product_code, x.sku)) END,
      CASE WHEN length(x.lot) > 64 THEN format('22001 series "%s" is longer than 64 characters', x.lot)
           WHEN x.lot ~ '[[:cntrl:]]' THEN format('22P02 series "%s" has a control character', x.lot) END,
      CASE WHEN x.quantity IS NULL THEN '23502 no quantity (Количество)'
           WHEN x.quantity_n IS NULL THEN format('22P02 quantity "%s" is not a number', x.quantity)
           WHEN x.quantity_n <= 0 THEN format('23514 quantity %s is not positive', x.quantity_n)
           WHEN x.quantity_n <> round(x.quantity_n, 3) THEN format('22P02 quantity %s has more than 3 decimals', x.quantity_n)
           WHEN x.quantity_n >= 1e12 THEN format('22003 quantity %s is too large', x.quantity_n) END,
      CASE WHEN x.expiry IS NOT NULL AND x.expiry_d IS NULL THEN format('22007 best before "%s" is not a date or month', x.expiry) END,
      CASE WHEN x.received IS NOT NULL AND x.received_d IS NULL THEN format('22007 received "%s" is not a date', x.received) END,
      CASE WHEN x.lot_id IS NOT NULL AND x.imported IS NULL
           THEN format('23505 lot "%s" of %s is already in stock, not from 1C', x.lot_number, coalesce(x.product_code, x.sku))
           WHEN x.lot_id IS NOT NULL AND x.imported <> x.quantity_n
           THEN format('23505 lot "%s" of %s was loaded from 1C with %s, this file says %s', x.lot_number,
                       coalesce(x.product_code, x.sku), x.imported, x.quantity_n)
           WHEN x.lot_id IS NOT NULL AND (x.lot_expiry, x.lot_precision) IS DISTINCT FROM (x.expiry_d, x.expiry_precision)
           THEN format('23505 lot "%s" of %s is in stock with another best before', x.lot_number, coalesce(x.product_code, x.sku)) END],
      NULL) AS reasons
            FROM crm_stage_stock x
           WHERE x.problem IS NOT NULL OR x.warehouse_id IS NULL OR NOT x.warehouse_active OR x.product_id IS NULL
              OR length(x.lot) > 64 OR x.lot ~ '[[:cntrl:]]' OR x.quantity_n IS NULL OR x.quantity_n <= 0
              OR x.quantity_n <> round(x.quantity_n, 3) OR x.quantity_n >= 1e12
              OR (x.expiry IS NOT NULL AND x.expiry_d IS NULL) OR (x.received IS NOT NULL AND x.received_d IS NULL)
              OR (x.lot_id IS NOT NULL AND (x.imported IS DISTINCT FROM x.quantity_n
                   OR (x.lot_expiry, x.lot_precision) IS DISTINCT FROM (x.expiry_d, x.expiry_precision)))) r
   WHERE r.line_no = s.line_no;
  -- the same lot twice in the file
  UPDATE crm_stage_stock s SET reasons = coalesce(s.reasons, '{}') || format('23505 lot "%s" of %s in %s repeats line %s',
                                                             s.lot_number, coalesce(s.product_code, s.sku), s.warehouse, d.first)
    FROM (SELECT x.warehouse_id, x.product_id, x.lot_number, min(x.line_no) AS first
            FROM crm_stage_stock x WHERE x.product_id IS NOT NULL AND x.warehouse_id IS NOT NULL
           GROUP BY 1, 2, 3 HAVING count(*) > 1) d
   WHERE s.warehouse_id = d.warehouse_id AND s.product_id = d.product_id AND s.lot_number = d.lot_number
     AND s.line_no > d.first;

  SELECT count(*), count(*) FILTER (WHERE cardinality(s.reasons) > 0), count(*) FILTER (WHERE s.lot_id IS NOT NULL)
    INTO records, rejected, unchanged FROM crm_stage_stock s;
  created := 0; updated := 0;
  IF rejected > 0 THEN
    unchanged := 0;
    PERFORM crm.migration_reject(run, 'pg_temp.crm_stage_stock', 'coalesce(s.product_code, s.sku) || '' / '' || coalesce(s.lot, ''-'')',
      ARRAY['warehouse', 'product_code', 'sku', 'product_name', 'lot', 'expiry', 'quantity', 'received']);
    RETURN;
  END IF;
  -- the new lots, as crm.receive_lot(..., source => 'import') makes them,
  -- in lock order (product, warehouse, lot)
  WITH lots AS (
    INSERT INTO crm.lot (product_id, warehouse_id, lot_number, received_at, expiry, expiry_precision, on_hand, source)
    SELECT x.product_id, x.warehouse_id, x.lot_number,
           coalesce(x.received_d::timestamptz, now()), x.expiry_d, x.expiry_precision, x.quantity_n, 'import'
      FROM (SELECT * FROM crm_stage_stock y WHERE y.lot_id IS NULL ORDER BY y.product_id, y.warehouse_id, y.lot_number) x
    RETURNING id, on_hand)
  INSERT INTO crm.stock_move (lot_id, kind, quantity)
  SELECT lots.id, 'import', lots.on_hand FROM lots;
  GET DIAGNOSTICS created = ROW_COUNT;
END
$$;

REVOKE ALL ON FUNCTION crm.migration_stock(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.migration_stock(bigint, text) TO crm_admin;

-- ---- open customer orders ------------------------------------------------------

-- Orders are placed by fulfilment's crm.place_order and then carry their 1C
-- number, which only the owner of crm writes: this runs as that owner, for
-- the administrator only.
CREATE FUNCTION crm.migration_orders(run bigint, doc text,
  OUT records integer, OUT rejected integer, OUT created integer, OUT updated integer, OUT unchanged integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rec record;
  new_order bigint;
BEGIN
  SET LOCAL client_min_messages = warning;
  CREATE TEMP TABLE IF NOT EXISTS crm_stage_order (
    line_no integer, problem text, number text, order_date text, counterparty_code text, counterparty_name text,
    warehouse text, product_code text, sku text, product_name text, quantity text, price text, note text,
    order_key text, date_d date, counterparty_id bigint, warehouse_id integer, product_id bigint,
    quantity_n numeric, price_n numeric, order_id bigint, first_line integer, reasons text[]);
  TRUNCATE crm_stage_order;
  INSERT INTO crm_stage_order (line_no, problem, number, order_date, counterparty_code, counterparty_name, warehouse,
                               product_code, sku, product_name, quantity, price, note, date_d, quantity_n, price_n)
  SELECT t.line_no, t.problem, btrim(t.number), btrim(t.odate), btrim(t.cp), btrim(t.cpname), btrim(t.warehouse),
         btrim(t.code), btrim(t.sku), btrim(t.name), t.quantity, t.price, btrim(t.note),
         crm.parse_1c_date(t.odate), crm.parse_1c_number(t.quantity), crm.parse_1c_number(t.price)
    FROM crm.csv_read(doc, ARRAY['Номер|Номер заказа', 'Дата|Дата заказа', 'Код контрагента|Контрагент код',
                                 '?Контрагент|Покупатель', '?Склад', '?Код|Код номенклатуры', '?Артикул',
                                 '?Номенклатура|Наименование', 'Количество', '?Цена', '?Комментарий'])
      AS t(line_no integer, problem text, number text, odate text, cp text, cpname text, warehouse text, code text,
           sku text, name text, quantity text, price text, note text);

  -- an order is its number within its year (1C numbers restart every year)
  UPDATE crm_stage_order s SET order_key = s.number || '/' || extract(year FROM s.date_d)
   WHERE s.number IS NOT NULL AND s.date_d IS NOT NULL;
  UPDATE crm_stage_order s SET first_line = f.first
    FROM (SELECT x.order_key, min(x.line_no) AS first FROM crm_stage_order x GROUP BY x.order_key) f
   WHERE f.order_key = s.order_key;
  UPDATE crm_stage_order s SET counterparty_id = c.id FROM crm.counterparty c WHERE c.code_1c = s.counterparty_code;
  WITH w AS (SELECT DISTINCT x.warehouse FROM crm_stage_order x WHERE x.warehouse IS NOT NULL),
       wr AS (SELECT w.warehouse, crm.migration_resolve('warehouse', w.warehouse)::integer AS id FROM w)
  UPDATE crm_stage_order s SET warehouse_id = wr.id FROM wr WHERE wr.warehouse = s.warehouse;
  -- no warehouse named: the one crm ships from by default
  UPDATE crm_stage_order s
     SET warehouse_id = coalesce((SELECT w.id FROM crm.warehouse w
                                   WHERE w.code = current_setting('crm.default_warehouse', true) AND w.active),
                                 (SELECT min(w.id) FROM crm.warehouse w WHERE w.active))
   WHERE s.warehouse IS NULL;
  UPDATE crm_stage_order s SET product_id = p.id FROM crm.product p WHERE p.code_1c = s.product_code;
  UPDATE crm_stage_order s SET product_id = p.id FROM crm.product p
   WHERE s.product_id IS NULL AND s.product_code IS NULL AND p.sku = s.sku;
  UPDATE crm_stage_order s SET order_id = o.id FROM crm.customer_order o WHERE o.code_1c = s.order_key;

  UPDATE crm_stage_order s SET reasons = crm.migration_reasons(
    '22P04 ' || s.problem,
    CASE WHEN s.number IS NULL THEN '23502 no order number (Номер)' END,
    CASE WHEN s.order_date IS NULL THEN '23502 no order date (Дата)'
         WHEN s.date_d IS NULL THEN format('22007 order date "%s" is not a date', s.order_date) END,
    CASE WHEN length(s.order_key) > 50 THEN format('22001 order number "%s" is too long', s.number) END,
    CASE WHEN s.counterparty_code IS NULL THEN '23502 no counterparty code (Код контрагента)'
         WHEN s.counterparty_id IS NULL
         THEN format('23503 counterparty with 1C code "%s" is not loaded (load the counterparties first)', s.counterparty_code) END,
    CASE WHEN s.counterparty_id IS NOT NULL AND (SELECT c.kind FROM crm.counterparty c WHERE c.id = s.counterparty_id) = 'supplier'
         THEN format('23514 counterparty "%s" is a supplier, not a customer', s.counterparty_code) END,
    CASE WHEN s.warehouse IS NOT NULL AND s.warehouse_id IS NULL
         THEN format('23503 warehouse "%s" is unknown (add it to crm.migration_map)', s.warehouse)
         WHEN s.warehouse_id IS NULL THEN '23502 no warehouse, and crm has no active one'
         WHEN NOT (SELECT w.active FROM crm.warehouse w WHERE w.id = s.warehouse_id)
         THEN format('55000 warehouse "%s" is not active', s.warehouse) END,
    CASE WHEN s.product_code IS NULL AND s.sku IS NULL THEN '23502 no product code (Код) or article (Артикул)'
         WHEN s.product_id IS NULL THEN format('23503 order line for an unknown product "%s"', coalesce(s.product_code, s.sku)) END,
    CASE WHEN s.product_id IS NOT NULL AND NOT (SELECT p.active FROM crm.product p WHERE p.id = s.product_id)
         THEN format('55000 product "%s" is not active', coalesce(s.product_code, s.sku)) END,
    CASE WHEN s.quantity IS NULL THEN '23502 no quantity (Количество)'
         WHEN s.quantity_n IS NULL THEN format('22P02 quantity "%s" is not a number', s.quantity)
         WHEN s.quantity_n <= 0 THEN format('23514 quantity %s is not positive', s.quantity_n)
         WHEN s.quantity_n <> round(s.quantity_n, 3) THEN format('22P02 quantity %s has more than 3 decimals', s.quantity_n)
         WHEN s.quantity_n >= 1e12 THEN format('22003 quantity %s is too large', s.quantity_n) END,
    CASE WHEN s.price IS NOT NULL AND s.price_n IS NULL THEN format('22P02 price "%s" is not a number', s.price)
         WHEN s.price_n < 0 THEN format('23514 price %s is negative', s.price_n)
         WHEN s.price_n >= 1e12 THEN format('22003 price %s is too large', s.price_n) END,
    -- the lines of one order agree on what the order is
    (SELECT format('23505 order %s says another counterparty or warehouse on line %s', s.number, f.line_no)
       FROM crm_stage_order f
      WHERE f.line_no = s.first_line AND f.line_no <> s.line_no
        AND (f.counterparty_code, f.warehouse) IS DISTINCT FROM (s.counterparty_code, s.warehouse)),
    -- loaded before: the same lines, or a refusal
    CASE WHEN s.order_id IS NOT NULL AND s.line_no = s.first_line
              AND (SELECT array_agg((l.product_id, l.quantity)::text ORDER BY l.line_no) FROM crm.order_line l
                    WHERE l.order_id = s.order_id)
                  IS DISTINCT FROM
                  (SELECT array_agg((x.product_id, round(x.quantity_n, 3)::numeric(15, 3))::text ORDER BY x.line_no)
                     FROM crm_stage_order x WHERE x.order_key = s.order_key)
         THEN format('23505 order %s was loaded from 1C with other lines', s.order_key) END)
   WHERE true;

  SELECT count(*), count(*) FILTER (WHERE cardinality(s.reasons) > 0) INTO records, rejected FROM crm_stage_order s;
  SELECT count(DISTINCT s.order_key) FILTER (WHERE s.order_id IS NOT NULL) INTO unchanged FROM crm_stage_order s;
  created := 0; updated := 0;
  IF rejected > 0 THEN
    unchanged := 0;
    PERFORM crm.migration_reject(run, 'pg_temp.crm_stage_order', 's.order_key',
      ARRAY['number', 'order_date', 'counterparty_code', 'counterparty_name', 'warehouse', 'product_code', 'sku',
            'product_name', 'quantity', 'price', 'note']);
    RETURN;
  END IF;
  -- each new order placed (and split) by fulfilment, in the order of 1C's dates
  FOR rec IN SELECT s.order_key, min(s.number) AS number, min(s.date_d) AS date_d, min(s.counterparty_id) AS counterparty_id,
                  min(s.warehouse_id) AS warehouse_id,
                  array_agg(s.product_id ORDER BY s.line_no) AS products,
                  array_agg(s.quantity_n ORDER BY s.line_no) AS quantities,
                  CASE WHEN bool_and(s.price_n IS NOT NULL) THEN array_agg(s.price_n ORDER BY s.line_no) END AS prices,
                  string_agg(DISTINCT s.note, '; ') AS note
             FROM crm_stage_order s WHERE s.order_id IS NULL
            GROUP BY s.order_key ORDER BY min(s.date_d), min(s.line_no) LOOP
    new_order := crm.place_order(rec.counterparty_id, rec.warehouse_id, rec.products, rec.quantities, rec.prices,
                                 format('Заказ покупателя %s от %s (1С)%s', rec.number, to_char(rec.date_d, 'DD.MM.YYYY'),
                                        coalesce(': ' || rec.note, '')));
    UPDATE crm.customer_order c SET code_1c = rec.order_key WHERE c.id = new_order;
    created := created + 1;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION crm.migration_orders(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.migration_orders(bigint, text) TO crm_admin;

-- ---- the 1C views of stock and orders (R24; the contract of src/odbc.sql) -----

CREATE VIEW crm_1c.stock WITH (security_invoker = true) AS
SELECT l.id, l.warehouse_id, l.product_id, l.lot_number, l.expiry, l.expiry_precision, l.expires_on,
       date_trunc('second', l.received_at)::timestamp(0) AS received_at,
       l.on_hand::numeric(15, 3) AS on_hand, l.reserved::numeric(15, 3) AS reserved,
       (l.on_hand - l.reserved)::numeric(15, 3) AS free, l.expires_on < CURRENT_DATE AS expired, l.source
  FROM crm.lot l;
COMMENT ON VIEW crm_1c.stock IS 'stock by warehouse and lot (Остатки по складам и сериям), with expiry';
COMMENT ON COLUMN crm_1c.stock.id IS 'key: the lot';
COMMENT ON COLUMN crm_1c.stock.warehouse_id IS 'warehouse.id';
COMMENT ON COLUMN crm_1c.stock.product_id IS 'product.id';
COMMENT ON COLUMN crm_1c.stock.lot_number IS 'lot (series) number';
COMMENT ON COLUMN crm_1c.stock.expiry IS 'best before as labelled; with precision month, the first day of the month';
COMMENT ON COLUMN crm_1c.stock.expiry_precision IS 'day or month (month: the label gave only the month)';
COMMENT ON COLUMN crm_1c.stock.expires_on IS 'last day the lot may be used';
COMMENT ON COLUMN crm_1c.stock.received_at IS 'received (local time)';
COMMENT ON COLUMN crm_1c.stock.on_hand IS 'quantity on hand';
COMMENT ON COLUMN crm_1c.stock.reserved IS 'reserved for customer orders';
COMMENT ON COLUMN crm_1c.stock.free IS 'on hand and not reserved';
COMMENT ON COLUMN crm_1c.stock.expired IS 'past its last day';
COMMENT ON COLUMN crm_1c.stock.source IS 'receipt, supplier, production, import (from the old 1C) or return';

CREATE VIEW crm_1c.customer_order WITH (security_invoker = true) AS
SELECT o.id, o.deal_id, o.counterparty_id, o.warehouse_id::integer AS warehouse_id, o.status, o.note, o.code_1c,
       date_trunc('second', o.created_at)::timestamp(0) AS created_at,
       (SELECT sum(l.quantity * coalesce(l.unit_price, 0)) FROM crm.order_line l WHERE l.order_id = o.id)::numeric(14, 2) AS amount
  FROM crm.customer_order o;
COMMENT ON VIEW crm_1c.customer_order IS 'customer orders (Заказы покупателей)';
COMMENT ON COLUMN crm_1c.customer_order.id IS 'key';
COMMENT ON COLUMN crm_1c.customer_order.deal_id IS 'deal.id it was made from; NULL for an order placed directly or loaded from 1C';
COMMENT ON COLUMN crm_1c.customer_order.counterparty_id IS 'counterparty.id of the customer';
COMMENT ON COLUMN crm_1c.customer_order.warehouse_id IS 'warehouse.id that reserves and ships it';
COMMENT ON COLUMN crm_1c.customer_order.status IS 'open, shipped or cancelled';
COMMENT ON COLUMN crm_1c.customer_order.note IS 'note';
COMMENT ON COLUMN crm_1c.customer_order.code_1c IS 'number/year of the order in the old 1C, when it came from there';
COMMENT ON COLUMN crm_1c.customer_order.created_at IS 'created (local time)';
COMMENT ON COLUMN crm_1c.customer_order.amount IS 'lines times prices without VAT, roubles';

CREATE VIEW crm_1c.order_line WITH (security_invoker = true) AS
SELECT l.id, l.order_id, l.line_no, l.product_id, l.quantity::numeric(15, 3) AS quantity,
       l.unit_price::numeric(14, 2) AS unit_price, l.reserved_qty::numeric(15, 3) AS reserved_qty,
       l.shipped_qty::numeric(15, 3) AS shipped_qty, l.production_qty::numeric(15, 3) AS production_qty,
       l.supplier_qty::numeric(15, 3) AS supplier_qty, l.unassigned_qty::numeric(15, 3) AS unassigned_qty,
       l.exception
  FROM crm.order_line l;
COMMENT ON VIEW crm_1c.order_line IS 'lines of customer orders and how each is covered: reserved, shipped, production, supplier';
COMMENT ON COLUMN crm_1c.order_line.id IS 'key';
COMMENT ON COLUMN crm_1c.order_line.order_id IS 'customer_order.id';
COMMENT ON COLUMN crm_1c.order_line.line_no IS 'line number in the order';
COMMENT ON COLUMN crm_1c.order_line.product_id IS 'product.id';
COMMENT ON COLUMN crm_1c.order_line.quantity IS 'quantity ordered';
COMMENT ON COLUMN crm_1c.order_line.unit_price IS 'price of one unit without VAT';
COMMENT ON COLUMN crm_1c.order_line.reserved_qty IS 'reserved in the warehouse, not yet shipped';
COMMENT ON COLUMN crm_1c.order_line.shipped_qty IS 'shipped';
COMMENT ON COLUMN crm_1c.order_line.production_qty IS 'waiting for production';
COMMENT ON COLUMN crm_1c.order_line.supplier_qty IS 'waiting for a supplier';
COMMENT ON COLUMN crm_1c.order_line.unassigned_qty IS 'not yet covered (see exception)';
COMMENT ON COLUMN crm_1c.order_line.exception IS 'why the line could not be covered';

GRANT SELECT ON crm_1c.stock, crm_1c.customer_order, crm_1c.order_line TO crm_reader, crm_admin;
