-- fulfilment_split: R16 -- the split has two paths with one outcome.  The
-- fast path (one subtransaction for the order, the first lots of all
-- products locked in one statement, the writes in one statement) and the
-- careful path (each line in its own subtransaction, crm.fast_split = off)
-- must leave exactly the same lines, reservations, lots, production and
-- supplier orders and exceptions, for every kind of line: several lots,
-- two lines of one product, make, buy, blocked, no supplier with and without
-- stock, and errors that only show while writing (a date out of range).
-- Each order is placed twice from the same state (a savepoint), once per
-- path, and the outcomes compared; the careful outcome is shown.
\pset null '(null)'
SET datestyle = 'ISO, YMD';
BEGIN;

CREATE FUNCTION pg_temp.p(sku text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT id FROM crm.product WHERE product.sku = p.sku $$;
-- everything an order's split left, as text: per line its quantities and
-- exception, its reservations (lot: quantity, in allocation order), its
-- production and supplier orders; then the lots of the test products
CREATE FUNCTION pg_temp.outcome(o bigint) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(format('%s %s q=%s r=%s p=%s s=%s u=%s %s %s [%s] [%s] [%s]', l.line_no, p.sku, l.quantity,
           l.reserved_qty, l.production_qty, l.supplier_qty, l.unassigned_qty, l.exception_sqlstate,
           regexp_replace(l.exception, 'order \d+', 'order #'),
           (SELECT string_agg(t.lot_number || ':' || v.quantity, ' ' ORDER BY t.alloc_key, t.received_at, t.id)
              FROM crm.reservation v JOIN crm.lot t ON t.id = v.lot_id WHERE v.order_line_id = l.id),
           (SELECT string_agg(po.quantity || '/' || (po.planned_finish - po.planned_start) || 'd', ' ' ORDER BY po.id)
              FROM crm.production_order po WHERE po.order_line_id = l.id),
           (SELECT string_agg(so.quantity || '/' || c.name || '/' || (so.expected_on - CURRENT_DATE) || 'd', ' ' ORDER BY so.id)
              FROM crm.supplier_order so JOIN crm.counterparty c ON c.id = so.supplier_id WHERE so.order_line_id = l.id)),
         E'\n' ORDER BY l.line_no)
    || E'\nlots: ' || (SELECT string_agg(t.lot_number || '=' || t.reserved || '/' || t.on_hand, ' ' ORDER BY t.lot_number)
                         FROM crm.lot t JOIN crm.product x ON x.id = t.product_id WHERE x.sku LIKE 'X-%')
    || E'\nexceptions: ' || (SELECT count(*) FROM crm.order_line WHERE order_id = o AND exception IS NOT NULL)
    FROM crm.order_line l JOIN crm.product p ON p.id = l.product_id WHERE l.order_id = o
$$;

INSERT INTO crm.warehouse (code, name) VALUES ('x_split', 'Split test');
SELECT id AS wh FROM crm.warehouse WHERE code = 'x_split' \gset
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'X Client'), ('supplier', 'X Supplier');
SELECT id AS cust FROM crm.counterparty WHERE name = 'X Client' \gset
SELECT id AS sup FROM crm.counterparty WHERE name = 'X Supplier' \gset
INSERT INTO crm.product (sku, name, made_in_house, production_days) VALUES
  ('X-MULTI', 'three lots of 2', false, NULL), ('X-ONE', 'one big lot', false, NULL),
  ('X-DUP', 'two lines of it', false, NULL), ('X-NOSUP', 'no supplier, 3 in stock', false, NULL),
  ('X-EMPTY', 'no supplier, no stock', false, NULL), ('X-MADE', 'made, 1 in stock', true, 7),
  ('X-BUY', 'bought, no stock', false, NULL), ('X-BLOCK', 'blocked', false, NULL),
  ('X-FAR', 'made, production takes too long for a date', true, 2147483647),
  ('X-PICKY', 'a shelf life no date can meet', false, NULL);
UPDATE crm.product SET blocked_reason = 'recall' WHERE sku = 'X-BLOCK';
UPDATE crm.product SET min_remaining_shelf_days = 2147483647 WHERE sku = 'X-PICKY';
INSERT INTO crm.product_supplier (product_id, supplier_id, lead_time_days)
SELECT pg_temp.p(s), :sup, 12 FROM unnest(ARRAY['X-MULTI', 'X-ONE', 'X-DUP', 'X-BUY', 'X-BLOCK', 'X-PICKY']) s;
SELECT count(*) AS lots FROM (
  SELECT crm.receive_lot(:wh, pg_temp.p('X-MULTI'), 2, 'M' || i, CURRENT_DATE + 10 * i) FROM generate_series(1, 3) i
  UNION ALL SELECT crm.receive_lot(:wh, pg_temp.p('X-ONE'), 10, 'O1')
  UNION ALL SELECT crm.receive_lot(:wh, pg_temp.p('X-DUP'), 3, 'D' || i, CURRENT_DATE + 10 * i) FROM generate_series(1, 2) i
  UNION ALL SELECT crm.receive_lot(:wh, pg_temp.p('X-NOSUP'), 3, 'N1')
  UNION ALL SELECT crm.receive_lot(:wh, pg_temp.p('X-MADE'), 1, 'K1')
  UNION ALL SELECT crm.receive_lot(:wh, pg_temp.p('X-PICKY'), 5, 'P1', CURRENT_DATE + 100)) x;

-- 1. lines the fast path splits itself (no DEBUG1 message): several lots
-- (X-MULTI needs 5 of lots of 2), two lines of one product (X-DUP: the
-- first line takes the first lot), make, buy, blocked, no supplier and no
-- stock; listed out of product order
SET client_min_messages = debug1;
\set VERBOSITY terse
SAVEPOINT s1;
SET crm.fast_split = on;
SELECT pg_temp.outcome(crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('X-BUY'), pg_temp.p('X-DUP'), pg_temp.p('X-MULTI'), pg_temp.p('X-EMPTY'), pg_temp.p('X-DUP'),
        pg_temp.p('X-MADE'), pg_temp.p('X-BLOCK'), pg_temp.p('X-ONE')],
  ARRAY[2, 2, 5, 1, 3, 4, 1, 3])) AS fast \gset
ROLLBACK TO SAVEPOINT s1;
SET crm.fast_split = off;
SELECT pg_temp.outcome(crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('X-BUY'), pg_temp.p('X-DUP'), pg_temp.p('X-MULTI'), pg_temp.p('X-EMPTY'), pg_temp.p('X-DUP'),
        pg_temp.p('X-MADE'), pg_temp.p('X-BLOCK'), pg_temp.p('X-ONE')],
  ARRAY[2, 2, 5, 1, 3, 4, 1, 3])) AS careful \gset
RESET client_min_messages;
\set VERBOSITY default
SELECT :'fast' = :'careful' AS same_outcome;
SELECT :'careful' AS outcome;
ROLLBACK TO SAVEPOINT s1;

-- 2. lines the fast path hands to the careful path (a DEBUG1 message says
-- so): X-NOSUP's second line would take the last unit and then find no
-- supplier, so only its own reservation is undone (the lot keeps it free);
-- X-FAR's production date and X-PICKY's shelf-life date are out of range,
-- errors about those lines alone (22008); the other lines go on
SET client_min_messages = debug1;
\set VERBOSITY terse
SET crm.fast_split = on;
SELECT pg_temp.outcome(crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('X-NOSUP'), pg_temp.p('X-ONE'), pg_temp.p('X-NOSUP'), pg_temp.p('X-FAR'), pg_temp.p('X-PICKY')],
  ARRAY[2, 1, 2, 1, 1])) AS fast \gset
ROLLBACK TO SAVEPOINT s1;
SET crm.fast_split = off;
SELECT pg_temp.outcome(crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('X-NOSUP'), pg_temp.p('X-ONE'), pg_temp.p('X-NOSUP'), pg_temp.p('X-FAR'), pg_temp.p('X-PICKY')],
  ARRAY[2, 1, 2, 1, 1])) AS careful \gset
RESET client_min_messages;
\set VERBOSITY default
SELECT :'fast' = :'careful' AS same_outcome;
SELECT :'careful' AS outcome;

-- 3. the same order again, on what order 2 left (one unit of N1 free: both
-- X-NOSUP lines fail now), then crm.split_order after the causes are fixed,
-- by either path: X-NOSUP gets a supplier, X-FAR a short production,
-- X-PICKY a sane shelf life
SET crm.fast_split = on;
SELECT crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('X-NOSUP'), pg_temp.p('X-ONE'), pg_temp.p('X-NOSUP'), pg_temp.p('X-FAR'), pg_temp.p('X-PICKY')],
  ARRAY[2, 1, 2, 1, 1]) AS o \gset
INSERT INTO crm.product_supplier (product_id, supplier_id, lead_time_days) VALUES (pg_temp.p('X-NOSUP'), :sup, 3);
UPDATE crm.product SET production_days = 5 WHERE sku = 'X-FAR';
UPDATE crm.product SET min_remaining_shelf_days = 30 WHERE sku = 'X-PICKY';
SAVEPOINT s3;
SELECT crm.split_order(:o) AS exceptions_left_fast \gset
SELECT pg_temp.outcome(:o) AS fast \gset
ROLLBACK TO SAVEPOINT s3;
SET crm.fast_split = off;
SELECT crm.split_order(:o) AS exceptions_left_careful \gset
SELECT pg_temp.outcome(:o) AS careful \gset
SELECT :'fast' = :'careful' AS same_outcome, :exceptions_left_fast AS exceptions_left_fast,
       :exceptions_left_careful AS exceptions_left_careful;
SELECT :'careful' AS outcome;
RESET crm.fast_split;

-- the books balance: lot reserved = its reservations, line reserved = its reservations
SELECT count(*) AS lots_off FROM crm.lot l
 WHERE l.reserved <> COALESCE((SELECT sum(v.quantity) FROM crm.reservation v WHERE v.lot_id = l.id), 0);
SELECT count(*) AS lines_off FROM crm.order_line ol
 WHERE ol.reserved_qty <> COALESCE((SELECT sum(v.quantity) FROM crm.reservation v WHERE v.order_line_id = ol.id), 0);
ROLLBACK;
