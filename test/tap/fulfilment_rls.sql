-- test/tap/fulfilment_rls.sql: R2 for fulfilment (R15-R18, R30-R32) -- who
-- sees orders, stock and production, and who may place, split, receive,
-- make, ship and write off.  Nobody writes the fulfilment tables directly:
-- every change goes through the functions.  Everything is rolled back.
BEGIN;
SELECT plan(46);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('tapf_mgr1', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('tapf_mgr2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('tapf_head_prom', 'Дарья Промова', 'prom', 'head');
SELECT crm.hire('tapf_wh', 'Игорь Склад', 'warehouse', 'warehouse');
SELECT crm.hire('tapf_prod', 'Сергей Цех', 'production', 'production');
SELECT crm.hire('tapf_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('tapf_admin', 'Кира Админ', 'management', 'admin');
CREATE ROLE tapf_bi LOGIN IN ROLE crm_reader;
CREATE ROLE tapf_job LOGIN IN ROLE crm_integration;

CREATE TEMP TABLE ids AS
SELECT (SELECT id FROM crm.employee WHERE role_name = 'tapf_mgr1') AS mgr1,
       (SELECT id FROM crm.employee WHERE role_name = 'tapf_mgr2') AS mgr2,
       (SELECT id FROM crm.department WHERE code = 'alto') AS alto;
INSERT INTO crm.warehouse (code, name) VALUES ('tapf', 'Склад TAP');
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
SELECT 'client', 'TAPF client 1', alto, mgr1 FROM ids UNION ALL
SELECT 'client', 'TAPF client 2', alto, mgr2 FROM ids;
INSERT INTO crm.counterparty (kind, name) VALUES ('supplier', 'TAPF supplier');
INSERT INTO crm.product (sku, name, gtin, made_in_house) VALUES
  ('TAPF-BUY', 'Покупной', '0460999100001' || crm.gs1_check_digit('0460999100001'), false),
  ('TAPF-MADE', 'Свой', NULL, true);
INSERT INTO crm.product_supplier (product_id, supplier_id)
SELECT p.id, c.id FROM crm.product p, crm.counterparty c WHERE p.sku = 'TAPF-BUY' AND c.name = 'TAPF supplier';
ALTER TABLE ids ADD COLUMN wh integer, ADD COLUMN c1 bigint, ADD COLUMN c2 bigint, ADD COLUMN buy bigint,
  ADD COLUMN made bigint, ADD COLUMN o2 bigint, ADD COLUMN po bigint;
UPDATE ids SET wh = (SELECT id FROM crm.warehouse WHERE code = 'tapf'),
  c1 = (SELECT id FROM crm.counterparty WHERE name = 'TAPF client 1'),
  c2 = (SELECT id FROM crm.counterparty WHERE name = 'TAPF client 2'),
  buy = (SELECT id FROM crm.product WHERE sku = 'TAPF-BUY'),
  made = (SELECT id FROM crm.product WHERE sku = 'TAPF-MADE');
SELECT crm.receive_lot(wh, buy, 10, 'TAPF-L1') FROM ids;
UPDATE ids SET o2 = crm.place_order(c2, wh, ARRAY[buy, made], ARRAY[2, 1]);
GRANT SELECT ON ids TO PUBLIC;
UPDATE ids SET po = (SELECT po.id FROM crm.production_order po JOIN crm.order_line l ON l.id = po.order_line_id
                      WHERE l.order_id = ids.o2);

-- a sales manager: orders for their own customers, sees only those
SET SESSION AUTHORIZATION tapf_mgr1;
SELECT lives_ok($$SELECT crm.place_order((SELECT c1 FROM ids), (SELECT wh FROM ids), ARRAY[(SELECT buy FROM ids)], ARRAY[3])$$,
  'R15 a manager places an order for their customer');
SELECT throws_ok($$SELECT crm.place_order((SELECT c2 FROM ids), (SELECT wh FROM ids), ARRAY[(SELECT buy FROM ids)], ARRAY[1])$$,
  '23503', NULL, 'R2 a manager cannot order for a colleague''s customer');
SELECT is((SELECT count(*) FROM crm.customer_order)::int, 1, 'R2 a manager sees only the orders of their customers');
SELECT is((SELECT count(*) FROM crm.order_line)::int, 1, 'R2 ... and only their lines');
SELECT is((SELECT sum(reserved) FROM crm.order_fulfilment)::numeric, 3.000, 'R16 the manager sees the split of their order');
SELECT is((SELECT count(*) FROM crm.reservation)::int, 1, 'R2 ... and only its reservations');
SELECT ok((SELECT free FROM crm.stock_balance WHERE sku = 'TAPF-BUY') = 5, 'R18 a manager sees what is free in stock');
SELECT throws_ok($$SELECT crm.split_order((SELECT o2 FROM ids))$$, '23503', NULL,
  'R2 a manager cannot split a colleague''s order');
SELECT throws_ok($$INSERT INTO crm.customer_order (counterparty_id, warehouse_id) SELECT c1, wh FROM ids$$, '42501', NULL,
  'R2 nobody inserts orders directly');
SELECT throws_ok($$UPDATE crm.lot SET reserved = 0$$, '42501', NULL, 'R31 nobody changes lots directly');
SELECT throws_ok($$UPDATE crm.order_line SET reserved_qty = 0$$, '42501', NULL, 'R16 nobody changes order lines directly');
SELECT throws_ok($$SELECT crm.receive_lot((SELECT wh FROM ids), (SELECT buy FROM ids), 1)$$, '42501', NULL,
  'R18 a manager does not receive goods');
SELECT throws_ok($$SELECT crm.ship_order(1)$$, '42501', NULL, 'R18 a manager does not ship');
SELECT throws_ok($$SELECT crm.complete_production(1)$$, '42501', NULL, 'R17 a manager does not complete production');
SELECT lives_ok($$INSERT INTO crm.customer_shelf_life (counterparty_id, min_remaining_days) SELECT c1, 90 FROM ids$$,
  'R31 a manager sets the shelf life their customer demands');
SELECT throws_ok($$INSERT INTO crm.customer_shelf_life (counterparty_id, min_remaining_days) SELECT c2, 90 FROM ids$$,
  '42501', NULL, 'R31 ... not for a colleague''s customer');
SELECT throws_ok($$INSERT INTO crm.product_supplier (product_id, supplier_id) SELECT made, c1 FROM ids$$, '42501', NULL,
  'R16 a manager does not configure suppliers');
RESET SESSION AUTHORIZATION;

-- a head of another department sees none of it
SET SESSION AUTHORIZATION tapf_head_prom;
SELECT is((SELECT count(*) FROM crm.customer_order)::int, 0, 'R2 the head of Prom does not see Alto''s orders');
SELECT is((SELECT count(*) FROM crm.order_fulfilment)::int, 0, 'R2 ... nor their split');
RESET SESSION AUTHORIZATION;

-- the warehouse: all orders and stock; receives, scans, ships, writes off
SET SESSION AUTHORIZATION tapf_wh;
SELECT is((SELECT count(*) FROM crm.customer_order)::int, 2, 'R18 the warehouse sees every order');
SELECT lives_ok($$SELECT crm.scan_receive((SELECT wh FROM ids), '(01)' || (SELECT gtin FROM crm.product WHERE sku = 'TAPF-BUY') || '(10)TAPF-L2', 4)$$,
  'R30 the warehouse receives by scanning');
SELECT lives_ok($$SELECT crm.receive_lot((SELECT wh FROM ids), (SELECT buy FROM ids), 1, 'TAPF-L3')$$,
  'R18 the warehouse receives a lot');
SELECT lives_ok($$SELECT crm.ship_order((SELECT o2 FROM ids))$$, 'R18 the warehouse ships an order');
SELECT ok((SELECT shipped_at IS NOT NULL FROM crm.shipment WHERE order_id = (SELECT o2 FROM ids)), 'R18 ... and sees the shipment');
SELECT lives_ok($$SELECT crm.write_off_expired()$$, 'R31 the warehouse writes off expired lots');
SELECT lives_ok($$CALL crm.alert_expiring_lots(30)$$, 'R31 the warehouse runs the expiry alert');
SELECT lives_ok($$INSERT INTO crm.product_supplier (product_id, supplier_id, priority)
  SELECT made, (SELECT id FROM crm.counterparty WHERE name = 'TAPF supplier'), 5 FROM ids$$,
  'R16 the warehouse (purchasing) configures suppliers');
SELECT throws_ok($$SELECT crm.place_order((SELECT c1 FROM ids), (SELECT wh FROM ids), ARRAY[(SELECT buy FROM ids)], ARRAY[1])$$,
  '42501', NULL, 'R15 the warehouse does not take orders');
SELECT throws_ok($$SELECT crm.complete_production((SELECT po FROM ids))$$, '42501', NULL,
  'R17 the warehouse does not complete production');
SELECT throws_ok($$SELECT crm.cancel_order((SELECT o2 FROM ids))$$, '42501', NULL, 'R16 the warehouse does not cancel orders');
RESET SESSION AUTHORIZATION;

-- production: its board, progress and completion
SET SESSION AUTHORIZATION tapf_prod;
SELECT is((SELECT count(*) FROM crm.production_board)::int, 1, 'R17 production sees its orders');
SELECT lives_ok($$SELECT crm.production_progress((SELECT po FROM ids), 50, CURRENT_DATE, CURRENT_DATE + 7)$$,
  'R17 production records readiness and dates');
SELECT lives_ok($$SELECT crm.complete_production((SELECT po FROM ids))$$, 'R17 production completes an order');
SELECT throws_ok($$SELECT crm.receive_lot((SELECT wh FROM ids), (SELECT buy FROM ids), 1)$$, '42501', NULL,
  'R18 production receives only through completion');
SELECT throws_ok($$SELECT crm.ship_order((SELECT o2 FROM ids))$$, '42501', NULL, 'R18 production does not ship');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT reserved_qty FROM crm.order_line WHERE order_id = (SELECT o2 FROM ids) AND product_id = (SELECT made FROM ids)),
  1.000, 'R17 what production completed is reserved for the waiting line');

-- marketing: nothing of fulfilment
SET SESSION AUTHORIZATION tapf_mkt;
SELECT throws_ok('SELECT count(*) FROM crm.lot', '42501', NULL, 'R2 marketing does not read stock');
SELECT throws_ok('SELECT count(*) FROM crm.customer_order', '42501', NULL, 'R2 marketing does not read orders');
SELECT lives_ok($$SELECT crm.parse_gs1('4006381333931')$$, 'R30 anyone in crm may parse a barcode');
RESET SESSION AUTHORIZATION;

-- BI and 1C read everything, write nothing
SET SESSION AUTHORIZATION tapf_bi;
SELECT is((SELECT count(*) FROM crm.customer_order)::int, 2, 'R24 crm_reader sees every order');
SELECT ok((SELECT count(*) FROM crm.stock_move) > 0, 'R24 crm_reader reads the stock journal');
SELECT throws_ok($$SELECT crm.split_order(1)$$, '42501', NULL, 'R24 crm_reader cannot split');
SELECT throws_ok($$DELETE FROM crm.reservation$$, '42501', NULL, 'R24 crm_reader cannot write');
RESET SESSION AUTHORIZATION;

-- the job role: the expiry alert and importing balances (R23)
SET SESSION AUTHORIZATION tapf_job;
SELECT lives_ok($$CALL crm.alert_expiring_lots()$$, 'R31 the job role runs the expiry alert');
SELECT lives_ok($$SELECT crm.receive_lot((SELECT wh FROM ids), (SELECT buy FROM ids), 7, 'IMPORT-1', '2031-05-01', 'month',
  '2020-01-01', 'import')$$, 'R23 the job role imports a balance with its lot and expiry');
RESET SESSION AUTHORIZATION;

-- the structure: fulfilment tables are written only by functions
SELECT is((SELECT count(*) FROM information_schema.table_privileges
            WHERE table_schema = 'crm' AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE')
              AND table_name IN ('lot', 'stock_move', 'customer_order', 'order_line', 'reservation', 'production_order',
                                 'supplier_order', 'shipment', 'shipment_line', 'write_off', 'write_off_line')
              AND grantee LIKE 'crm\_%')::int, 0, 'R2 no group role writes the fulfilment tables directly');

SELECT * FROM finish();
ROLLBACK;
