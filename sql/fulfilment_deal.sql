-- fulfilment_deal: R15-R20 with deals -- the customer order made from a
-- deal's agreed lines, its split shown on the deal, the stage checks
-- fulfilment registers (production needs production lines, installation
-- needs the goods shipped), shipping with the deal's consignment note, VAT
-- invoice and waybill (whole and partial), the certificate gate (R20), and
-- who may do what.  One transaction, rolled back at the end.
\pset null '(null)'
SET datestyle = 'ISO, YMD';
BEGIN;

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM || coalesce(' [' || nullif(d, '') || ']', ''),
    '(deal|order line|customer order|shipment) \d+', '\1 #', 'g');
END $$;
CREATE FUNCTION pg_temp.split(o bigint) RETURNS TABLE (sku text, qty numeric, reserved numeric, production numeric,
  supplier numeric, shipped numeric, exception text)
LANGUAGE sql AS $$
  SELECT sku, quantity, reserved, in_production, from_supplier, shipped, exception
    FROM crm.deal_fulfilment WHERE order_id = o ORDER BY line_no
$$;

INSERT INTO crm.company (name, legal_name, inn, kpp, address, bank_name, bank_bic, bank_account, corr_account)
VALUES ('ПромНасосМаш', 'ООО «ПромНасосМаш»', '7707083893', '772801001', 'Москва', 'ПАО Сбербанк', '044525225',
        '40702810500000001234', '30101810400000000225');
SELECT crm.hire('regress_fd_mgr', 'Борис Менеджер', 'alto', 'manager') AS mgr \gset
SELECT crm.hire('regress_fd_mgr2', 'Вера Коллега', 'alto', 'manager') AS mgr2 \gset
SELECT crm.hire('regress_fd_wh', 'Игорь Склад', 'warehouse', 'warehouse') AS wh_emp \gset
INSERT INTO crm.warehouse (code, name) VALUES ('fd_main', 'Deal test warehouse');
SELECT id AS wh FROM crm.warehouse WHERE code = 'fd_main' \gset
SET LOCAL crm.default_warehouse = 'fd_main';
INSERT INTO crm.product (sku, name, equipment_type_id, made_in_house, list_price)
SELECT 'FD-PUMP', 'Насос ЦНС 38-44', t.id, true, 285000 FROM crm.equipment_type t WHERE t.code = 'pumps';
INSERT INTO crm.product (sku, name, equipment_type_id, made_in_house, list_price)
SELECT 'FD-SEAL', 'Уплотнение', t.id, false, 8400 FROM crm.equipment_type t WHERE t.code = 'components';
INSERT INTO crm.product (sku, name, equipment_type_id, made_in_house, list_price)
SELECT 'FD-KTK', 'Камера тепла-холода КТК-800', t.id, true, 2450000 FROM crm.equipment_type t WHERE t.code = 'climatic';
CREATE FUNCTION pg_temp.p(s text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM crm.product WHERE sku = s $$;
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, department_id, responsible_id)
SELECT 'client', 'FD Водоканал', 'МУП «FD Водоканал»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
       '40702810500000001234', '30101810400000000225', 'Воронеж', d.id, :mgr FROM crm.department d WHERE d.code = 'alto';
SELECT id AS cust FROM crm.counterparty WHERE name = 'FD Водоканал' \gset
INSERT INTO crm.contact (counterparty_id, full_name) VALUES (:cust, 'Виктор Семёнов');
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, :cust, 'email', 'fd-buyer@example.com' FROM crm.contact WHERE counterparty_id = :cust;
SELECT crm.receive_lot(:wh, pg_temp.p('FD-PUMP'), 1, 'P1') > 0 AS in_stock,
       crm.receive_lot(:wh, pg_temp.p('FD-SEAL'), 10, 'S1', CURRENT_DATE + 200) > 0 AS in_stock,
       crm.receive_lot(:wh, pg_temp.p('FD-KTK'), 1, 'K1') > 0 AS in_stock;

-- R15: only an agreed deal has a customer order
SELECT crm.create_deal(:cust, 'Два насоса и уплотнения', equipment_type => 'pumps') AS d1 \gset
SELECT crm.add_deal_line(:d1, pg_temp.p('FD-PUMP'), 2, 280000) AS d1l1 \gset
SELECT crm.add_deal_line(:d1, pg_temp.p('FD-SEAL'), 4, 8000) AS d1l2 \gset
SELECT pg_temp.try(format('SELECT crm.create_customer_order(%s)', :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'production')$$, :d1));
SELECT crm.create_document(:d1, 'invoice') > 0 AS invoiced;   -- the direct path: agreed
-- R15 R16: made from the agreed lines, split at once; a second call returns the same order
SELECT crm.create_customer_order(:d1) AS o1 \gset
SELECT crm.create_customer_order(:d1) = :o1 AS same_order;
SELECT o.counterparty_id = :cust AS customer, o.warehouse_id = :wh AS default_warehouse,
       array_agg(l.deal_line_id ORDER BY l.line_no) = ARRAY[:d1l1, :d1l2]::bigint[] AS from_deal_lines,
       array_agg(l.unit_price ORDER BY l.line_no) AS prices
  FROM crm.customer_order o JOIN crm.order_line l ON l.order_id = o.id WHERE o.id = :o1 GROUP BY o.id;
-- R16 R17: the split, as shown on the deal
SELECT deal_id = :d1 AS on_deal, sku, quantity, reserved, in_production, from_supplier,
       production->0->>'status' AS production, (production->0->>'planned_start')::date = CURRENT_DATE AS planned
  FROM crm.deal_fulfilment WHERE deal_id = :d1 ORDER BY line_no;

-- R12: entering production needs a customer order with production lines
SELECT crm.move_deal(:d1, 'production', 'насосы в производстве');
SELECT crm.create_deal(:cust, 'Только уплотнения', equipment_type => 'components') AS d2 \gset
SELECT crm.add_deal_line(:d2, pg_temp.p('FD-SEAL'), 4, 8000) AS d2l1 \gset
SELECT crm.create_document(:d2, 'invoice') > 0 AS invoiced;
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'production')$$, :d2));
SELECT crm.create_customer_order(:d2) AS o2 \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'production')$$, :d2));
SELECT crm.move_deal(:d2, 'sale_from_stock', 'всё на складе');

-- R18 R19: a partial shipment of d2: the documents cover what was shipped
SELECT crm.create_shipment(:o2) AS s2 \gset
SELECT crm.shipment_add(:s2, (SELECT id FROM crm.order_line WHERE order_id = :o2), 1);
SELECT crm.post_shipment(:s2) = :s2 AS shipped;
SELECT d.kind, d.deal_id = :d2 AS of_deal, dl.deal_line_id = :d2l1 AS deal_line, dl.quantity, d.total_amount
  FROM crm.shipment s JOIN crm.document d ON d.id IN (s.consignment_note_id, s.vat_invoice_id, s.waybill_id)
  JOIN crm.document_line dl ON dl.document_id = d.id WHERE s.id = :s2 ORDER BY d.kind;
-- R12: installation needs the goods shipped
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'installation')$$, :d2));
SELECT crm.ship_order(:o2) > 0 AS rest_shipped;
SELECT d.kind, sum(dl.quantity) AS quantity FROM crm.document d JOIN crm.document_line dl ON dl.document_id = d.id
 WHERE d.deal_id = :d2 AND d.kind IN ('consignment_note', 'vat_invoice', 'waybill') GROUP BY d.kind ORDER BY d.kind;
SELECT crm.move_deal(:d2, 'installation');

-- R17 R18: production done, the deal moves to sale from stock and ships with its documents
SELECT crm.complete_production(po.id) > 0 AS made FROM crm.production_order po
  JOIN crm.order_line l ON l.id = po.order_line_id WHERE l.order_id = :o1;
SELECT * FROM pg_temp.split(:o1);
SELECT pg_temp.try(format('SELECT crm.ship_order(%s)', :o1));   -- a consignment note is not issued in production
SELECT crm.move_deal(:d1, 'sale_from_stock');
SELECT crm.ship_order(:o1) AS s1 \gset
SELECT s.consignment_note_id IS NOT NULL AS consignment_note, s.vat_invoice_id IS NOT NULL AS vat_invoice,
       s.waybill_id IS NOT NULL AS waybill, o.status
  FROM crm.shipment s JOIN crm.customer_order o ON o.id = s.order_id WHERE s.id = :s1;
SELECT * FROM pg_temp.split(:o1);
SELECT crm.move_deal(:d1, 'installation');

-- R20: equipment that needs a certificate does not ship without a valid one
SELECT crm.create_deal(:cust, 'Камера КТК-800', equipment_type => 'climatic') AS d3 \gset
SELECT crm.add_deal_line(:d3, pg_temp.p('FD-KTK'), 1, 2400000) > 0 AS line;
SELECT crm.create_document(:d3, 'invoice') > 0 AS invoiced;
SELECT crm.create_customer_order(:d3) AS o3 \gset
SELECT crm.move_deal(:d3, 'sale_from_stock');
SELECT pg_temp.try(format('SELECT crm.ship_order(%s)', :o3));
SELECT count(*) AS shipments_left FROM crm.shipment WHERE order_id = :o3;
SELECT crm.create_document(:d3, 'certificate', external_number => 'РОСС RU.0001', issuer => 'ОС «Тест»',
                           valid_until => CURRENT_DATE + 365) > 0 AS certified;
SELECT crm.ship_order(:o3) > 0 AS shipped;

-- R16: a line whose product was deactivated after the agreement gets an
-- exception; the other lines of the deal go on
SELECT crm.create_deal(:cust, 'Ещё уплотнения и насос', equipment_type => 'pumps') AS d4 \gset
SELECT crm.add_deal_line(:d4, pg_temp.p('FD-SEAL'), 2, 8000) > 0 AS line,
       crm.add_deal_line(:d4, pg_temp.p('FD-PUMP'), 1, 280000) > 0 AS line;
SELECT crm.create_document(:d4, 'invoice') > 0 AS invoiced;
UPDATE crm.product SET active = false WHERE sku = 'FD-PUMP';
SELECT crm.create_customer_order(:d4) AS o4 \gset
SELECT * FROM pg_temp.split(:o4);
UPDATE crm.product SET active = true WHERE sku = 'FD-PUMP';

-- who may do what: a manager orders for the deals they see and sees their
-- split; a colleague sees neither; the warehouse ships, sales do not
DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace); END $$;
SELECT crm.receive_lot(:wh, pg_temp.p('FD-SEAL'), 5, 'S2', CURRENT_DATE + 300) > 0 AS in_stock;
SELECT crm.create_deal(:cust, 'Уплотнение для менеджера', equipment_type => 'components') AS d5 \gset
SELECT crm.add_deal_line(:d5, pg_temp.p('FD-SEAL'), 1, 8000) > 0 AS line;
SELECT crm.create_document(:d5, 'invoice') > 0 AS invoiced;
SET SESSION AUTHORIZATION regress_fd_mgr2;
SELECT pg_temp.try(format('SELECT crm.create_customer_order(%s)', :d5));
SELECT count(*) AS colleague_sees FROM crm.deal_fulfilment WHERE deal_id IN (:d1, :d5);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_fd_mgr;
SELECT crm.create_customer_order(:d5) > 0 AS ordered;
SELECT crm.move_deal(:d5, 'sale_from_stock');
SELECT count(*) AS manager_sees FROM crm.deal_fulfilment WHERE deal_id IN (:d1, :d5);
SELECT pg_temp.try(format('SELECT crm.ship_order(%s)', (SELECT id FROM crm.customer_order WHERE deal_id = :d5)));
SELECT pg_temp.try('UPDATE crm.lot SET reserved = 0');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_fd_wh;
SELECT crm.ship_order((SELECT id FROM crm.customer_order WHERE deal_id = :d5)) > 0 AS warehouse_ships;
SELECT pg_temp.try(format('SELECT crm.create_customer_order(%s)', :d5));
RESET SESSION AUTHORIZATION;
SELECT created_by FROM crm.customer_order WHERE deal_id = :d5;
ROLLBACK;
