-- fulfilment: R15-R18, R30-R32 -- customer orders split into stock,
-- production and supplier orders; lots with expiry and FEFO/FIFO allocation;
-- production and supplier receipts; shipping only from the warehouse by
-- scan; write-off and expiry alert; every bad input refused with its SQLSTATE
-- and nothing changed.  Dates are relative to today, so the output does not
-- depend on the day it runs.  Everything is rolled back at the end.
\pset null '(null)'
SET datestyle = 'ISO, YMD';
BEGIN;

-- runs a statement, returns 'ok' or 'SQLSTATE: message'; dates and row ids
-- in the message are masked, so that the output does not depend on the day
-- or on what other tests numbered before
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(regexp_replace(SQLERRM,
    '\d{4}-\d{2}-\d{2}', 'YYYY-MM-DD', 'g'), '\d{4}-\d{2}', 'YYYY-MM', 'g'),
    '(order line|customer order|production order|supplier order|shipment|counterparty) \d{1,5}\M', '\1 #', 'g');
END $$;
CREATE FUNCTION pg_temp.p(sku text) RETURNS bigint LANGUAGE sql AS
  $$ SELECT id FROM crm.product WHERE product.sku = p.sku $$;
CREATE FUNCTION pg_temp.gtin(body text) RETURNS text LANGUAGE sql AS
  $$ SELECT body || crm.gs1_check_digit(body) $$;
-- the split of an order: one row per line
CREATE FUNCTION pg_temp.split(o bigint) RETURNS TABLE (line integer, sku text, qty numeric, reserved numeric,
  production numeric, supplier numeric, unassigned numeric, exception text, sqlstate text)
LANGUAGE sql AS $$
  SELECT l.line_no, p.sku, l.quantity, l.reserved_qty, l.production_qty, l.supplier_qty, l.unassigned_qty,
         l.exception, l.exception_sqlstate
    FROM crm.order_line l JOIN crm.product p ON p.id = l.product_id WHERE l.order_id = o ORDER BY l.line_no
$$;
-- the lots of a product: number, on hand, reserved
CREATE FUNCTION pg_temp.lots(sku text) RETURNS TABLE (lot text, on_hand numeric, reserved numeric)
LANGUAGE sql AS $$
  SELECT l.lot_number, l.on_hand, l.reserved FROM crm.lot l WHERE l.product_id = pg_temp.p(sku)
   ORDER BY l.alloc_key, l.received_at, l.id
$$;
-- a fingerprint of everything fulfilment writes, to show that a refused call changed nothing
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws(' ',
    (SELECT count(*) FROM crm.customer_order), (SELECT count(*) FROM crm.order_line),
    (SELECT count(*) FROM crm.reservation), (SELECT count(*) FROM crm.production_order),
    (SELECT count(*) FROM crm.supplier_order), (SELECT count(*) FROM crm.lot),
    (SELECT COALESCE(sum(on_hand), 0) || '/' || COALESCE(sum(reserved), 0) FROM crm.lot),
    (SELECT count(*) FROM crm.stock_move), (SELECT count(*) FROM crm.shipment_line),
    (SELECT count(*) FROM crm.shipment WHERE status = 'shipped'))
$$;

INSERT INTO crm.warehouse (code, name) VALUES ('t_main', 'Test main'), ('t_closed', 'Test closed');
UPDATE crm.warehouse SET active = false WHERE code = 't_closed';
SELECT id AS wh FROM crm.warehouse WHERE code = 't_main' \gset
SELECT id AS wh_closed FROM crm.warehouse WHERE code = 't_closed' \gset
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'T Client'), ('client', 'T Picky client'),
  ('supplier', 'T Supplier'), ('supplier', 'T Second supplier');
SELECT id AS cust FROM crm.counterparty WHERE name = 'T Client' \gset
SELECT id AS picky FROM crm.counterparty WHERE name = 'T Picky client' \gset
SELECT id AS sup FROM crm.counterparty WHERE name = 'T Supplier' \gset
SELECT id AS sup2 FROM crm.counterparty WHERE name = 'T Second supplier' \gset
INSERT INTO crm.product (sku, name, gtin, made_in_house, production_days, shelf_life_days) VALUES
  ('T-STOCK', 'bought, in stock', pg_temp.gtin('0460999000001'), false, NULL, NULL),
  ('T-MADE', 'made in house', pg_temp.gtin('0460999000002'), true, 20, NULL),
  ('T-BUY', 'bought', pg_temp.gtin('0460999000003'), false, NULL, NULL),
  ('T-NOSUP', 'bought, no supplier', pg_temp.gtin('0460999000004'), false, NULL, NULL),
  ('T-BLOCK', 'blocked', pg_temp.gtin('0460999000005'), false, NULL, NULL),
  ('T-OFF', 'inactive', pg_temp.gtin('0460999000006'), false, NULL, NULL),
  ('T-FEFO', 'with expiry', pg_temp.gtin('0460999000007'), false, NULL, 365),
  ('T-SEAL', 'seal', pg_temp.gtin('0460999000008'), false, NULL, 730),
  ('T-LATE', 'bought, supplier found late', pg_temp.gtin('0460999000009'), false, NULL, NULL);
UPDATE crm.product SET blocked_reason = 'quality hold' WHERE sku = 'T-BLOCK';
UPDATE crm.product SET active = false WHERE sku = 'T-OFF';
INSERT INTO crm.product_supplier (product_id, supplier_id, lead_time_days, price, priority)
SELECT pg_temp.p(s), :sup, 10, 100, 100 FROM unnest(ARRAY['T-STOCK', 'T-BUY', 'T-BLOCK', 'T-FEFO', 'T-SEAL']) s;
-- a second, preferred supplier for T-BUY; an inactive one for T-NOSUP
INSERT INTO crm.product_supplier (product_id, supplier_id, lead_time_days, priority) VALUES
  (pg_temp.p('T-BUY'), :sup2, 3, 10);
INSERT INTO crm.product_supplier (product_id, supplier_id, active) VALUES (pg_temp.p('T-NOSUP'), :sup2, false);
-- R16: only a supplier (or partner) supplies
SELECT pg_temp.try(format('INSERT INTO crm.product_supplier (product_id, supplier_id) VALUES (%s, %s)',
                          pg_temp.p('T-NOSUP'), :cust));

SELECT crm.receive_lot(:wh, pg_temp.p('T-STOCK'), 5, 'S1') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-MADE'), 2, 'M1') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-BUY'), 1, 'B1') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-NOSUP'), 1, 'N1') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-BLOCK'), 9, 'K1') > 0 AS received;

-- R15 R16: one order, every mix of stock/make/buy: stock only, stock +
-- production, stock + supplier (from the preferred supplier), and lines that
-- cannot be processed (no supplier, product blocked) get an exception while
-- the other lines go on
SELECT crm.place_order(:cust, :wh,
  ARRAY[pg_temp.p('T-STOCK'), pg_temp.p('T-MADE'), pg_temp.p('T-BUY'), pg_temp.p('T-NOSUP'), pg_temp.p('T-BLOCK')],
  ARRAY[3, 5, 4, 3, 2], ARRAY[10, 20, 30, 40, 50]) AS o1 \gset
SELECT * FROM pg_temp.split(:o1);
-- the failed line's own reservation was rolled back with it; the blocked product's stock is untouched
SELECT * FROM pg_temp.lots('T-NOSUP');
SELECT * FROM pg_temp.lots('T-BLOCK');
SELECT p.sku, po.quantity, po.status, po.readiness, po.planned_start = CURRENT_DATE AS starts_today,
       po.planned_finish - po.planned_start AS planned_days
  FROM crm.production_order po JOIN crm.product p ON p.id = po.product_id
  JOIN crm.order_line l ON l.id = po.order_line_id WHERE l.order_id = :o1;
SELECT p.sku, c.name AS supplier, so.quantity, so.status, so.expected_on - CURRENT_DATE AS lead_days
  FROM crm.supplier_order so JOIN crm.product p ON p.id = so.product_id JOIN crm.counterparty c ON c.id = so.supplier_id
  JOIN crm.order_line l ON l.id = so.order_line_id WHERE l.order_id = :o1;
-- R16: the split as the deal shows it
SELECT line_no, sku, quantity, reserved, in_production, from_supplier, unassigned, exception,
       production->0->>'status' AS production_status, supply->0->>'status' AS supply_status
  FROM crm.order_fulfilment WHERE order_id = :o1 ORDER BY line_no;

-- R16: the cause fixed (a supplier configured, the block lifted), the split
-- goes on for those lines only
UPDATE crm.product_supplier SET active = true WHERE product_id = pg_temp.p('T-NOSUP');
UPDATE crm.product SET blocked_reason = NULL WHERE sku = 'T-BLOCK';
SELECT crm.split_order(:o1) AS exceptions_left;
SELECT * FROM pg_temp.split(:o1);
SELECT crm.split_order(:o1) AS nothing_more_to_split;

-- R16: production only; supplier only, once a supplier is configured; a
-- product deactivated after the order was taken gets an exception when its
-- line is split again
SELECT crm.place_order(:cust, :wh, ARRAY[pg_temp.p('T-MADE'), pg_temp.p('T-LATE')], ARRAY[1, 2]) AS o2 \gset
SELECT * FROM pg_temp.split(:o2);
INSERT INTO crm.product_supplier (product_id, supplier_id) VALUES (pg_temp.p('T-LATE'), :sup);
UPDATE crm.product SET active = false WHERE sku = 'T-LATE';
SELECT crm.split_order(:o2) AS exceptions_left;
SELECT * FROM pg_temp.split(:o2);
UPDATE crm.product SET active = true WHERE sku = 'T-LATE';
SELECT crm.split_order(:o2) AS exceptions_left;
SELECT * FROM pg_temp.split(:o2);

-- R31: lots with expiry.  Month-only expiry stays month-only and lasts to
-- the end of its month; a real day is the last usable day
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-PLUS100', CURRENT_DATE + 100) > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-MONTH+2', date_trunc('month', CURRENT_DATE + 62)::date, 'month') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-PLUS40', CURRENT_DATE + 40) > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-TODAY', CURRENT_DATE) > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-THISMONTH', date_trunc('month', CURRENT_DATE)::date, 'month') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-LASTMONTH', date_trunc('month', CURRENT_DATE - 31)::date, 'month') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-YESTERDAY', CURRENT_DATE - 1) > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-NONE-NEW', NULL, NULL, now() - interval '1 day') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-NONE-OLD', NULL, NULL, now() - interval '10 days') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-NONE-TIE-A', NULL, NULL, now() - interval '5 days') > 0 AS received;
SELECT crm.receive_lot(:wh, pg_temp.p('T-FEFO'), 1, 'F-NONE-TIE-B', NULL, NULL, now() - interval '5 days') > 0 AS received;
SELECT lot_number, crm.expiry_text(expiry, expiry_precision) ~ '^\d{4}-\d{2}$' AS month_only,
       expires_on = (date_trunc('month', expiry) + interval '1 month - 1 day')::date AS lasts_to_month_end,
       expires_on < CURRENT_DATE AS expired
  FROM crm.lot WHERE product_id = pg_temp.p('T-FEFO') AND expiry_precision = 'month' ORDER BY lot_number;
SELECT sku, on_hand, reserved, free, expired, lots FROM crm.stock_balance WHERE sku = 'T-FEFO';
-- R31: FEFO, never an expired lot (today's is still good), month-only by
-- the end of its month; then lots without expiry oldest first, ties by id
SELECT crm.place_order(:cust, :wh, ARRAY[pg_temp.p('T-FEFO')], ARRAY[10]) AS o3 \gset
SELECT l.lot_number, v.quantity FROM crm.reservation v JOIN crm.lot l ON l.id = v.lot_id
  JOIN crm.order_line ol ON ol.id = v.order_line_id WHERE ol.order_id = :o3
 ORDER BY l.alloc_key, l.received_at, l.id;
SELECT * FROM pg_temp.split(:o3);
SELECT crm.cancel_order(:o3);
SELECT sum(reserved) AS reserved_after_cancel FROM crm.lot WHERE product_id = pg_temp.p('T-FEFO');

-- R31: minimum remaining shelf life: the product asks 45 days (this month's
-- lot and the +40 one are too short); a customer asks 95 for it (the lot of
-- the month after next ends at most 93 days from now)
UPDATE crm.product SET min_remaining_shelf_days = 45 WHERE sku = 'T-FEFO';
INSERT INTO crm.customer_shelf_life (counterparty_id, product_id, min_remaining_days) VALUES (:picky, pg_temp.p('T-FEFO'), 95);
SELECT crm.place_order(:cust, :wh, ARRAY[pg_temp.p('T-FEFO')], ARRAY[1]) AS o4 \gset
SELECT crm.place_order(:picky, :wh, ARRAY[pg_temp.p('T-FEFO')], ARRAY[1]) AS o5 \gset
SELECT o.counterparty_id = :picky AS picky, l.lot_number FROM crm.reservation v JOIN crm.lot l ON l.id = v.lot_id
  JOIN crm.order_line ol ON ol.id = v.order_line_id JOIN crm.customer_order o ON o.id = ol.order_id
 WHERE o.id IN (:o4, :o5) ORDER BY o.id;
-- a customer rule for all products is the stricter one here: nothing is old enough... but lots without expiry
INSERT INTO crm.customer_shelf_life (counterparty_id, product_id, min_remaining_days) VALUES (:picky, NULL, 500);
SELECT crm.place_order(:picky, :wh, ARRAY[pg_temp.p('T-FEFO')], ARRAY[3]) AS o6 \gset
SELECT l.lot_number FROM crm.reservation v JOIN crm.lot l ON l.id = v.lot_id
  JOIN crm.order_line ol ON ol.id = v.order_line_id WHERE ol.order_id = :o6 ORDER BY l.alloc_key, l.received_at, l.id;
SELECT * FROM pg_temp.split(:o6);
SELECT pg_temp.try(format('INSERT INTO crm.customer_shelf_life (counterparty_id, product_id, min_remaining_days) VALUES (%s, NULL, 1)', :picky));
SELECT crm.cancel_order(o) FROM unnest(ARRAY[:o4, :o5, :o6]::bigint[]) o;
UPDATE crm.product SET min_remaining_shelf_days = NULL WHERE sku = 'T-FEFO';

-- R17: production progress (readiness never goes back, 0..100) and dates
SELECT id AS po FROM crm.production_order WHERE order_line_id = (SELECT id FROM crm.order_line WHERE order_id = :o1 AND line_no = 2) \gset
SELECT crm.production_progress(:po, 40, CURRENT_DATE + 1, CURRENT_DATE + 15);
SELECT pg_temp.try(format('SELECT crm.production_progress(%s, 30)', :po));
SELECT pg_temp.try(format('SELECT crm.production_progress(%s, 101)', :po));
SELECT pg_temp.try('SELECT crm.production_progress(999999, 50)');
SELECT status, readiness, planned_finish - planned_start AS planned_days, actual_start = CURRENT_DATE AS started_today,
       overdue, order_id = :o1 AS for_o1 FROM crm.production_board WHERE production_order = :po;
-- R17 R18: completion receives the goods as a lot and reserves it at once for the waiting line
SELECT crm.complete_production(:po) AS po_lot \gset
SELECT lot_number = 'PO' || :po AS numbered_after_order, on_hand, reserved, source FROM crm.lot WHERE id = :po_lot;
SELECT status, readiness, actual_finish = CURRENT_DATE AS finished_today, lot_id = :po_lot AS lot FROM crm.production_order WHERE id = :po;
SELECT * FROM pg_temp.split(:o1) WHERE sku = 'T-MADE';
SELECT pg_temp.try(format('SELECT crm.complete_production(%s)', :po));

-- R18: a supplier delivers part, then the rest and a surplus: each receipt a
-- lot reserved for the waiting line; the surplus is free stock
SELECT so.id AS so_buy FROM crm.supplier_order so JOIN crm.order_line l ON l.id = so.order_line_id
 WHERE l.order_id = :o1 AND l.product_id = pg_temp.p('T-BUY') \gset
SELECT crm.receive_supplier_order(:so_buy, 1, 'D1') > 0 AS received;
SELECT status, received_qty FROM crm.supplier_order WHERE id = :so_buy;
SELECT crm.receive_supplier_order(:so_buy, 4, 'D2') > 0 AS received;
SELECT status, received_qty FROM crm.supplier_order WHERE id = :so_buy;
SELECT * FROM pg_temp.lots('T-BUY');
SELECT * FROM pg_temp.split(:o1) WHERE sku = 'T-BUY';
SELECT pg_temp.try(format('SELECT crm.receive_supplier_order(%s, 1)', :so_buy));

-- R30 R32 R18: receiving by scanning: a pallet label (00)(02)(37)(10)(17)
-- with a month-only expiry fills the open supplier order of T-NOSUP
SELECT pg_temp.state() AS before \gset
SELECT crm.scan_receive(:wh, ']C1' || '00346012345000000013' || '02' || pg_temp.gtin('0460999000004') || '373'
                             || chr(29) || '10SCAN-1' || chr(29) || '17' || to_char(CURRENT_DATE + 400, 'YYMM') || '00') AS scan_lot \gset
SELECT lot_number, expiry_precision, on_hand, reserved, source FROM crm.lot WHERE id = :scan_lot;
SELECT * FROM pg_temp.split(:o1) WHERE sku = 'T-NOSUP';
SELECT m.kind, m.quantity, m.scanned_code ~ '^\(00\)346012345000000013\(02\)' AS hri_kept
  FROM crm.stock_move m WHERE m.lot_id = :scan_lot;
-- the same lot number with another expiry is refused
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(17)%s(10)SCAN-1')$$, :wh, pg_temp.gtin('0460999000004'),
                          to_char(CURRENT_DATE + 500, 'YYMMDD')));
-- clear errors, nothing changed: unknown GTIN, bad check digit, expired lot,
-- no GTIN, no such warehouse, a bad quantity
SELECT pg_temp.state() AS before \gset
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(10)X')$$, :wh, pg_temp.gtin('0460999000099')));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(10)X')$$, :wh,
                          '0460999000004' || (crm.gs1_check_digit('0460999000004') + 1) % 10));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(17)%s(10)OLD')$$, :wh, pg_temp.gtin('0460999000004'),
                          to_char(CURRENT_DATE - 1, 'YYMMDD')));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(17)%s00(10)OLD')$$, :wh, pg_temp.gtin('0460999000004'),
                          to_char(CURRENT_DATE - 31, 'YYMM')));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(00)346012345000000013')$$, :wh));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(999999, '(01)%s(10)X')$$, pg_temp.gtin('0460999000004')));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(10)X', 0)$$, :wh, pg_temp.gtin('0460999000004')));
SELECT pg_temp.try(format($$SELECT crm.scan_receive(%s, '(01)%s(10)X', -2)$$, :wh, pg_temp.gtin('0460999000004')));
SELECT pg_temp.state() = :'before' AS nothing_changed;

-- R18 R30: shipping by scan, only reserved lots of the order, never expired
SELECT crm.create_shipment(:o1) AS s1 \gset
SELECT pg_temp.state() AS before \gset
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)S9')$$, :s1, pg_temp.gtin('0460999000001')));
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)F-PLUS40')$$, :s1, pg_temp.gtin('0460999000007')));
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)S1', 4)$$, :s1, pg_temp.gtin('0460999000001')));
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)S1', 0)$$, :s1, pg_temp.gtin('0460999000001')));
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)S1')$$, :s1,
                          '0460999000001' || (crm.gs1_check_digit('0460999000001') + 1) % 10));
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)S1')$$, :s1, pg_temp.gtin('0460999000099')));
SELECT pg_temp.try(format('SELECT crm.shipment_add(%s, %s, 6)', :s1,
                          (SELECT id FROM crm.order_line WHERE order_id = :o1 AND line_no = 2)));
SELECT pg_temp.try(format('SELECT crm.shipment_add(%s, %s, 1)', :s1,
                          (SELECT id FROM crm.order_line WHERE order_id = :o2 AND line_no = 1)));
SELECT pg_temp.try(format('SELECT crm.post_shipment(%s)', :s1));
SELECT pg_temp.state() = :'before' AS nothing_changed;
SELECT crm.scan_ship(:s1, '(01)' || pg_temp.gtin('0460999000001') || '(10)S1', 2) = :s1 AS picked;
SELECT crm.scan_ship(:s1, ']E0' || substr(pg_temp.gtin('0460999000001'), 2)) = :s1 AS picked_fefo;
SELECT crm.shipment_add(:s1, (SELECT id FROM crm.order_line WHERE order_id = :o1 AND line_no = 2), 5);
SELECT p.sku, l.lot_number, sl.quantity FROM crm.shipment_line sl JOIN crm.lot l ON l.id = sl.lot_id
  JOIN crm.product p ON p.id = l.product_id WHERE sl.shipment_id = :s1 ORDER BY p.sku, l.lot_number;
SELECT crm.post_shipment(:s1) = :s1 AS shipped;
SELECT pg_temp.try(format('SELECT crm.post_shipment(%s)', :s1));
SELECT status, shipped_at IS NOT NULL AS dated, consignment_note_id, vat_invoice_id, waybill_id FROM crm.shipment WHERE id = :s1;
SELECT * FROM pg_temp.split(:o1);
SELECT * FROM pg_temp.lots('T-STOCK');
-- the rest in one go; the order is shipped when every line is
SELECT crm.ship_order(:o1) > 0 AS shipped;
SELECT status FROM crm.customer_order WHERE id = :o1;
SELECT pg_temp.try(format('SELECT crm.ship_order(%s)', :o1));
SELECT pg_temp.try(format('SELECT crm.ship_order(%s)', :o2));

-- R31 R18: a lot that expired while reserved can be neither picked nor shipped
SELECT crm.receive_lot(:wh, pg_temp.p('T-SEAL'), 2, 'E1', CURRENT_DATE + 10) > 0 AS received;
SELECT crm.place_order(:cust, :wh, ARRAY[pg_temp.p('T-SEAL')], ARRAY[2]) AS o8 \gset
SELECT crm.create_shipment(:o8) AS s8 \gset
SELECT crm.scan_ship(:s8, '(01)' || pg_temp.gtin('0460999000008') || '(10)E1') = :s8 AS picked_one;
UPDATE crm.lot SET expiry = CURRENT_DATE - 1 WHERE lot_number = 'E1';
SELECT pg_temp.state() AS before \gset
SELECT pg_temp.try(format($$SELECT crm.scan_ship(%s, '(01)%s(10)E1')$$, :s8, pg_temp.gtin('0460999000008')));
SELECT pg_temp.try(format('SELECT crm.post_shipment(%s)', :s8));
SELECT pg_temp.try(format('SELECT crm.shipment_add(%s, %s, 1)', :s8, (SELECT id FROM crm.order_line WHERE order_id = :o8)));
SELECT pg_temp.state() = :'before' AS nothing_changed;

-- R15 R16 bad input: clear error, SQLSTATE, nothing changed
SELECT pg_temp.state() AS before \gset
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[1])', :cust, :wh, pg_temp.p('T-OFF')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s, %s], ARRAY[1, 0])', :cust, :wh, pg_temp.p('T-STOCK'), pg_temp.p('T-BUY')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[-1])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[NULL::numeric])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY['NaN'::numeric])$$, :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[1.0005])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, 999999, ARRAY[%s], ARRAY[1])', :cust, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[1])', :cust, :wh_closed, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s, 999999], ARRAY[1, 1])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(999999, %s, ARRAY[%s], ARRAY[1])', :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.place_order(%s, %s, '{}', '{}')$$, :cust, :wh));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[1, 2])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[%s], ARRAY[1], ARRAY[-5])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(NULL, %s, ARRAY[%s], ARRAY[1])', :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.place_order(%s, %s, ARRAY[[%s]], ARRAY[[1]])', :cust, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.split_order(%s)', :o1));
SELECT pg_temp.try('SELECT crm.split_order(999999)');
-- receiving: no such warehouse, inactive warehouse, no such product, bad
-- quantity, a month-only expiry with a day, a precision without expiry, an
-- existing lot number with another expiry
SELECT pg_temp.try(format('SELECT crm.receive_lot(999999, %s, 1)', pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.receive_lot(%s, %s, 1)', :wh_closed, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.receive_lot(%s, 999999, 1)', :wh));
SELECT pg_temp.try(format('SELECT crm.receive_lot(%s, %s, 0)', :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format('SELECT crm.receive_lot(%s, %s, -3)', :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 'NaN')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, 'X', '2030-05-17', 'month')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, 'X', NULL, 'month')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, 'X', '2030-05-17', 'week')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, 'F-PLUS40', '2030-05-17')$$, :wh, pg_temp.p('T-FEFO')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, 'X', NULL, NULL, NULL, 'gift')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.try(format($$SELECT crm.receive_lot(%s, %s, 1, E'X\tY')$$, :wh, pg_temp.p('T-STOCK')));
SELECT pg_temp.state() = :'before' AS nothing_changed;
-- R31: the table holds the line whatever a function forgets
SELECT pg_temp.try(format($$UPDATE crm.lot SET reserved = on_hand + 1 WHERE lot_number = 'S1' AND warehouse_id = %s$$, :wh));
SELECT pg_temp.try(format($$UPDATE crm.lot SET on_hand = -1 WHERE lot_number = 'S1' AND warehouse_id = %s$$, :wh));
SELECT pg_temp.try(format($$UPDATE crm.lot SET expiry = '2030-05-17', expiry_precision = 'month' WHERE lot_number = 'S1' AND warehouse_id = %s$$, :wh));

-- R31: the expiry alert tasks the warehouse once per lot: expiring within
-- the horizon, and expired lots still on hand
SELECT crm.hire('regress_ful_wh', 'Склад Тестов', 'warehouse', 'warehouse') > 0 AS hired;
CALL crm.alert_expiring_lots(45);
CALL crm.alert_expiring_lots(45);
SELECT t.kind, split_part(t.dedup_key, ':', 1) AS key, e.role_name, count(*)
  FROM crm.task t JOIN crm.employee e ON e.id = t.assignee_id
 WHERE t.kind IN ('lot_expiring', 'lot_expired') AND t.note ~ 'T-FEFO' GROUP BY 1, 2, 3 ORDER BY 1;
SELECT t.title ~ 'F-PLUS40' AS about_plus40 FROM crm.task t WHERE t.kind = 'lot_expiring' AND t.note ~ 'T-FEFO' ORDER BY t.id;
SELECT pg_temp.try('CALL crm.alert_expiring_lots(-1)');
SELECT name, schedule, command, active FROM crm.job WHERE name LIKE 'lot\_%' ORDER BY name;

-- R31: write-off of expired lots by a document: a reservation on a lot that
-- expired is released and the line split again (here: the next lot)
SELECT crm.place_order(:cust, :wh, ARRAY[pg_temp.p('T-FEFO')], ARRAY[1]) AS o7 \gset
SELECT l.lot_number FROM crm.reservation v JOIN crm.lot l ON l.id = v.lot_id
  JOIN crm.order_line ol ON ol.id = v.order_line_id WHERE ol.order_id = :o7;
UPDATE crm.lot SET expiry = CURRENT_DATE - 2 WHERE lot_number = 'F-TODAY' AND product_id = pg_temp.p('T-FEFO');
SELECT count(*) AS documents FROM crm.write_off_expired(:wh);
SELECT w.reason, l.lot_number, wl.quantity FROM crm.write_off w JOIN crm.write_off_line wl ON wl.write_off_id = w.id
  JOIN crm.lot l ON l.id = wl.lot_id WHERE w.warehouse_id = :wh ORDER BY l.lot_number;
SELECT l.lot_number FROM crm.reservation v JOIN crm.lot l ON l.id = v.lot_id
  JOIN crm.order_line ol ON ol.id = v.order_line_id WHERE ol.order_id = :o7;
SELECT * FROM pg_temp.split(:o7);
SELECT count(*) AS nothing_left_to_write_off FROM crm.write_off_expired(:wh);
SELECT lot_number, on_hand FROM crm.lot WHERE product_id = pg_temp.p('T-FEFO') AND expires_on < CURRENT_DATE ORDER BY 1;

-- R32: a lot's label scans back to the lot
SELECT crm.lot_barcode(id) AS label,
       crm.lot_barcode(id, true) ~ ('^\(01\)' || pg_temp.gtin('0460999000007') || '\(17\)\d{4}00\(10\)F-MONTH\+2$') AS hri,
       (crm.parse_gs1(crm.lot_barcode(id))).lot = lot_number AS lot_back,
       (crm.parse_gs1(crm.lot_barcode(id))).expiry_precision AS precision_back
  FROM crm.lot WHERE lot_number = 'F-MONTH+2' \gset
SELECT :'hri' AS hri, :'lot_back' AS lot_back, :'precision_back' AS precision_back;

-- the books balance: lot reserved = its reservations; line reserved = its
-- reservations; on hand = the stock journal; nothing negative
SELECT count(*) AS lots_off FROM crm.lot l
 WHERE l.reserved <> COALESCE((SELECT sum(v.quantity) FROM crm.reservation v WHERE v.lot_id = l.id), 0)
    OR l.on_hand <> (SELECT sum(m.quantity) FROM crm.stock_move m WHERE m.lot_id = l.id);
SELECT count(*) AS lines_off FROM crm.order_line ol
 WHERE ol.reserved_qty <> COALESCE((SELECT sum(v.quantity) FROM crm.reservation v WHERE v.order_line_id = ol.id), 0)
    OR ol.shipped_qty <> COALESCE((SELECT sum(sl.quantity) FROM crm.shipment_line sl JOIN crm.shipment s ON s.id = sl.shipment_id
                                    WHERE sl.order_line_id = ol.id AND s.status = 'shipped'), 0);
ROLLBACK;
