-- demo/40_fulfilment.sql: fulfilment (R15-R18, R30-R32) -- who supplies the
-- bought products, what is in stock (lots with expiry, month-only too), an
-- order that splits three ways (stock, production, supplier), a production
-- order completed into stock, a supplier delivery received by scanning its
-- GS1 labels, FEFO lots shipped, the line of a deal order that waited for a
-- supplier set right, and the expiry alert.  Each person works in their role
-- (SET ROLE).  Loads once: the marker is the supplier configuration.
\set ON_ERROR_STOP 1
SELECT NOT EXISTS (SELECT FROM crm.product_supplier) AS fresh_fulfilment \gset
\if :fresh_fulfilment
\echo demo: fulfilment -- stock, a three-way split, production, a scanned delivery, FEFO shipping
BEGIN;
CREATE FUNCTION pg_temp.p(s text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM crm.product WHERE sku = s $$;
CREATE FUNCTION pg_temp.gtin(s text) RETURNS text LANGUAGE sql AS $$ SELECT gtin FROM crm.product WHERE sku = s $$;
DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace); END $$;
CREATE TEMP TABLE demo_ful (name text PRIMARY KEY, id bigint);
GRANT ALL ON demo_ful TO PUBLIC;

-- who supplies what we buy (R16), and how long things take
SET ROLE solovyov;
INSERT INTO crm.product_supplier (product_id, supplier_id, supplier_sku, lead_time_days, price, priority)
SELECT pg_temp.p(x.sku), c.id, x.supplier_sku, x.days, x.price, x.priority
  FROM (VALUES ('PN-GRN-12', 'Грундфос', 'SP 12-10', 21, 150000, 10),
               ('PN-DOS-2', 'Грундфос', 'DDA 2.5', 28, 76000, 10),
               ('CM-ATL-22', 'Атлас Копко', 'GA22 VSD+', 45, 1650000, 10),
               ('CM-OSU-1', 'Атлас Копко', 'FD 10', 30, 120000, 10),
               ('CP-OIL-20', 'Атлас Копко', 'Roto-Inject 20L', 7, 8200, 10),
               ('CP-FLT-VK', 'Атлас Копко', 'AF-1613', 7, 3500, 10),
               ('CP-SEP-VK', 'Атлас Копко', 'OS-1622', 14, 15000, 10),
               ('CP-SEAL-38', 'Грундфос', 'MS-38', 10, 7000, 10),
               ('CP-SEAL-60', 'Грундфос', 'MS-60', 10, 9500, 10),
               ('CP-SALT-25', 'Атлас Копко', 'NaCl-25', 5, 3100, 10),
               ('CP-GLY-10', 'Атлас Копко', 'GLY-10', 5, 5200, 10),
               ('CP-BRG-6308', 'Грундфос', '6308-2RS', 5, 1500, 10),
               ('CP-SENS-T', 'Грундфос', 'PT100-A', 5, 2100, 10),
               ('KL-TS-60', 'Атлас Копко', 'TS-60', 30, 230000, 10)) AS x(sku, supplier, supplier_sku, days, price, priority)
  JOIN crm.counterparty c ON c.name = x.supplier;
RESET ROLE;
UPDATE crm.product SET production_days = d.days
  FROM (VALUES ('PN-CNS-38', 20), ('PN-CNS-60', 25), ('PN-K-80', 15), ('PN-NB-50', 30), ('CM-VK-5', 30),
               ('CM-VK-15', 35), ('KL-KSK-1000', 45), ('CP-CTL-TC', 10), ('CP-IMP-38', 7)) AS d(sku, days)
 WHERE product.sku = d.sku;
UPDATE crm.product SET min_remaining_shelf_days = 90 WHERE sku IN ('CP-SEAL-38', 'CP-SEAL-60', 'CP-OIL-20');
-- Нефтехимпром takes seals only with at least half a year left
SET ROLE lebedeva;
INSERT INTO crm.customer_shelf_life (counterparty_id, product_id, min_remaining_days)
SELECT c.id, pg_temp.p('CP-SEAL-38'), 180 FROM crm.counterparty c WHERE c.name = 'Нефтехимпром';
RESET ROLE;

-- the warehouse (R18, R31): balances taken over from 1C, with lots and
-- expiry -- by day, by month only (GS1 YYMM00), or none
SET ROLE solovyov;
SELECT count(crm.receive_lot(w.id, pg_temp.p(x.sku), x.qty, x.lot,
                             CASE x.prec WHEN 'month' THEN date_trunc('month', current_date + x.days)::date
                                         WHEN 'day' THEN current_date + x.days END,
                             x.prec, now() - x.age * interval '1 day', 'import')) AS lots_taken_over
  FROM (VALUES ('PN-CNS-38', 1, 'СЕР-2411-07', NULL, NULL, 40),
               ('PN-K-80', 2, 'СЕР-2502-11', NULL, NULL, 20),
               ('PN-GRN-12', 1, 'GF-88231', NULL, NULL, 60),
               ('CM-VK-5', 1, 'ВК5-0131', NULL, NULL, 15),
               ('CP-SEAL-38', 6, 'MS38-2403', 'month', 25, 300),
               ('CP-SEAL-38', 10, 'MS38-2409', 'day', 150, 120),
               ('CP-SEAL-38', 10, 'MS38-2502', 'month', 400, 30),
               ('CP-SEAL-60', 4, 'MS60-2406', 'day', 40, 200),
               ('CP-OIL-20', 12, 'RI-2310', 'month', -45, 400),
               ('CP-OIL-20', 20, 'RI-2412', 'day', 300, 60),
               ('CP-FLT-VK', 30, 'AF-2501', 'day', 700, 30),
               ('CP-BRG-6308', 40, 'BRG-01', NULL, NULL, 90),
               ('CP-BRG-6308', 25, 'BRG-02', NULL, NULL, 10),
               ('CP-SENS-T', 15, 'PT-2502', NULL, NULL, 25)) AS x(sku, qty, lot, prec, days, age)
  CROSS JOIN (SELECT id FROM crm.warehouse WHERE code = 'main') w;
RESET ROLE;

-- a repeat order from the partner Уралнасосмаш (R15, R16), split at once:
-- pumps PN-CNS-38 (1 in stock, the rest made), Grundfos pumps (1 in stock,
-- the rest from the supplier), seals (from stock, first expiring first)
SET ROLE popov;
INSERT INTO demo_ful
SELECT 'order', crm.place_order(c.id, w.id, ARRAY[pg_temp.p('PN-CNS-38'), pg_temp.p('PN-GRN-12'), pg_temp.p('CP-SEAL-38')],
                                ARRAY[3, 4, 8], ARRAY[280000, 170000, 8400], 'повторный заказ, самовывоз')
  FROM crm.counterparty c, crm.warehouse w WHERE c.name = 'Уралнасосмаш' AND w.code = 'main';
SELECT sku, quantity, reserved, in_production, from_supplier, reserved_lots
  FROM crm.order_fulfilment WHERE order_id = (SELECT id FROM demo_ful WHERE name = 'order') ORDER BY line_no;
RESET ROLE;

-- production (R17): progress with dates, then completion into stock,
-- reserved at once for the order
SET ROLE vasiliev;
SELECT crm.production_progress(po.id, 60, current_date - 5, current_date + 10)
  FROM crm.production_order po JOIN crm.order_line l ON l.id = po.order_line_id
 WHERE l.order_id = (SELECT id FROM demo_ful WHERE name = 'order');
SELECT crm.complete_production(po.id, 'ЦНС38-' || to_char(current_date, 'YYMMDD')) > 0 AS received_into_stock
  FROM crm.production_order po JOIN crm.order_line l ON l.id = po.order_line_id
 WHERE l.order_id = (SELECT id FROM demo_ful WHERE name = 'order');
RESET ROLE;

-- a Grundfos delivery received by scanning (R30, R32): a GS1-128 pallet
-- label (SSCC, content GTIN, count, lot, month-only expiry) and a GS1
-- DataMatrix on a single pump (GTIN, serial); the open supplier order is
-- filled and the goods reserved for the waiting line
SET ROLE solovyov;
SELECT crm.scan_receive((SELECT id FROM crm.warehouse WHERE code = 'main'),
         ']C1' || '00' || '146012345' || '00000001' || crm.gs1_check_digit('14601234500000001')
         || '02' || pg_temp.gtin('PN-GRN-12') || '372' || chr(29) || '10GF-90412' || chr(29)
         || '17' || to_char(current_date + 3650, 'YYMM') || '00') > 0 AS pallet_received;
SELECT crm.scan_receive((SELECT id FROM crm.warehouse WHERE code = 'main'),
         ']d2' || chr(29) || '01' || pg_temp.gtin('PN-GRN-12') || '21SN-77015' || chr(29) || '10GF-90413') > 0 AS pump_received;
-- a label that does not scan is refused with the reason
SELECT crm.gs1_hri(']C1' || '01' || pg_temp.gtin('PN-GRN-12') || '10GF-90414') AS label_read_back;
RESET ROLE;
SELECT sku, quantity, reserved, in_production, from_supplier, unassigned, supply->0->>'status' AS supplier_order
  FROM crm.order_fulfilment WHERE order_id = (SELECT id FROM demo_ful WHERE name = 'order') ORDER BY line_no;

-- shipping (R18): everything reserved leaves the warehouse; the seals come
-- from the first-expiring lot that still has the 90 days the product asks
-- for (the month-only lot MS38-2403 is too short, MS38-2502 lasts longer)
SET ROLE solovyov;
INSERT INTO demo_ful SELECT 'shipment', crm.ship_order((SELECT id FROM demo_ful WHERE name = 'order'));
SELECT p.sku, l.lot_number, crm.expiry_text(l.expiry, l.expiry_precision) AS expiry, sl.quantity
  FROM crm.shipment_line sl JOIN crm.lot l ON l.id = sl.lot_id JOIN crm.product p ON p.id = l.product_id
 WHERE sl.shipment_id = (SELECT id FROM demo_ful WHERE name = 'shipment') ORDER BY p.sku, l.alloc_key, l.lot_number;
RESET ROLE;

-- the deal of Авиаприбор waited for salt that nobody supplied: now that a
-- supplier is configured, its order is split again
SELECT crm.split_order(o.id) AS exceptions_left
  FROM crm.customer_order o JOIN crm.deal d ON d.id = o.deal_id JOIN crm.counterparty c ON c.id = d.counterparty_id
 WHERE c.name = 'Авиаприбор' AND o.status = 'open';

-- the expiry alert (R31): tasks for the warehouse; the expired oil written off
CALL crm.alert_expiring_lots(60);
SELECT kind, title FROM crm.task WHERE kind IN ('lot_expiring', 'lot_expired') ORDER BY id;
SET ROLE solovyov;
SELECT count(*) AS write_off_documents FROM crm.write_off_expired();
RESET ROLE;
COMMIT;
\endif
