-- deal_lifecycle: deals taken through both ways to agree (R13) to closing --
-- the state machine's legal and illegal paths (R12), the documents and their
-- gapless numbers (R19), certification (R20), service (R21), payments, the
-- automatic tasks made exactly once, and every refusal with its SQLSTATE and
-- nothing changed.  One transaction, rolled back at the end.
\pset null '(null)'
BEGIN;

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  IF d LIKE 'Failing row contains%' THEN d := NULL; END IF;
  RETURN pg_temp.num(SQLSTATE || ': ' || SQLERRM || coalesce(' [' || nullif(d, '') || ']', ''));
END $$;
-- document numbers without the year, which is today's
CREATE FUNCTION pg_temp.num(n text) RETURNS text LANGUAGE sql AS $$
  SELECT replace(n, '-' || extract(year FROM current_date) || '-', '-YYYY-')
$$;
-- a snapshot of everything a refused statement must leave as it was
CREATE FUNCTION pg_temp.state(deal bigint) RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|',
    (SELECT row(d.*)::text FROM crm.deal d WHERE d.id = deal),
    (SELECT string_agg(row(l.*)::text, ',' ORDER BY l.id) FROM crm.deal_line l WHERE l.deal_id = deal),
    (SELECT string_agg(row(x.*)::text, ',' ORDER BY x.id) FROM crm.document x WHERE x.deal_id = deal),
    (SELECT string_agg(row(c.*)::text, ',' ORDER BY c.kind, c.year) FROM crm.document_counter c),
    (SELECT string_agg(row(p.*)::text, ',' ORDER BY p.id) FROM crm.payment p WHERE p.deal_id = deal),
    (SELECT count(*) FROM crm.deal_history h WHERE h.deal_id = deal),
    (SELECT string_agg(row(t.*)::text, ',' ORDER BY t.id) FROM crm.task t WHERE t.deal_id = deal)))
$$;
-- the state machine alone: the checks fulfilment registers (a customer order
-- before production, the goods shipped before installation) are proven in
-- sql/fulfilment.sql
DELETE FROM crm.deal_stage_check WHERE check_fn IN ('crm.deal_check_production_ordered(bigint)'::regprocedure,
                                                   'crm.deal_check_shipped(bigint)'::regprocedure);
SELECT setval('crm.deal_id_seq', 7200000), setval('crm.deal_line_id_seq', 7200000),
       setval('crm.document_id_seq', 7200000);
-- numbering starts from nothing for this test (rolled back at the end)
DELETE FROM crm.document_counter;

-- our company, for the print forms
INSERT INTO crm.company (name, legal_name, inn, kpp, address, bank_name, bank_bic, bank_account, corr_account)
VALUES ('ПромНасосМаш', 'ООО «ПромНасосМаш»', '7707083893', '772801001', 'Москва', 'ПАО Сбербанк', '044525225',
        '40702810500000001234', '30101810400000000225');

SELECT crm.hire('regress_lc_head', 'Анна Глава', 'alto', 'head') AS head \gset
SELECT crm.hire('regress_lc_mgr', 'Борис Менеджер', 'alto', 'manager') AS mgr \gset
SELECT crm.hire('regress_lc_mgr2', 'Вера Коллега', 'alto', 'manager') AS mgr2 \gset
SELECT crm.hire('regress_lc_tester', 'Глеб Испытатель', 'testing', 'manager') AS tester \gset
INSERT INTO crm.product (id, sku, name, equipment_type_id, list_price)
SELECT 7200001, 'LC-PUMP', 'Насос ЦНС 38-44', t.id, 285000 FROM crm.equipment_type t WHERE t.code = 'pumps';
INSERT INTO crm.product (id, sku, name, equipment_type_id, list_price)
SELECT 7200002, 'LC-SEAL', 'Уплотнение торцевое', t.id, 8400 FROM crm.equipment_type t WHERE t.code = 'components';
INSERT INTO crm.product (id, sku, name, equipment_type_id, list_price)
SELECT 7200003, 'LC-KTK', 'Камера тепла-холода КТК-800', t.id, 2450000 FROM crm.equipment_type t WHERE t.code = 'climatic';

-- three counterparties with complete legal data: two leads, one client
CREATE FUNCTION pg_temp.party(p_id bigint, p_kind text, p_name text, p_dep text, p_resp integer) RETURNS bigint
LANGUAGE sql AS $$
  INSERT INTO crm.counterparty (id, kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account,
                                corr_account, physical_address, department_id, responsible_id)
  SELECT p_id, p_kind, p_name, 'ООО «' || p_name || '»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
         '40702810500000001234', '30101810400000000225', 'Москва, ул. Заводская, 1', d.id, p_resp
    FROM crm.department d WHERE d.code = p_dep;
  INSERT INTO crm.contact (id, counterparty_id, full_name) VALUES (p_id, p_id, 'Контакт ' || p_name);
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  VALUES (p_id, p_id, 'email', 'buyer' || p_id || '@example.com');
  -- a lead's inquiry was qualified as genuine by its manager (intake, R9)
  INSERT INTO crm.inquiry (channel, source, status, counterparty_id, department_id, responsible_id, genuine)
  SELECT 'phone', 'regress', 'qualified', p_id, d.id, p_resp, true FROM crm.department d
   WHERE d.code = p_dep AND p_kind = 'lead';
  SELECT p_id
$$;
SELECT pg_temp.party(7200001, 'lead', 'Водоканал', 'alto', :mgr) AS lead1,
       pg_temp.party(7200002, 'lead', 'Климатест', 'alto', :mgr) AS lead2,
       pg_temp.party(7200003, 'client', 'Авиаприбор', 'testing', :tester) AS client3 \gset

-- ============ path 1: proposal -> agreement -> invoice (R13) ============
SELECT crm.create_deal(:lead1, 'Два насоса для насосной станции', equipment_type => 'pumps') AS d1 \gset
SELECT crm.add_deal_line(:d1, 7200001, 2, delivery_terms => 'со склада, 5 дней') AS d1l1 \gset
SELECT crm.add_deal_line(:d1, 7200002, 4) AS d1l2 \gset

-- documents that do not belong to this stage are refused, nothing changes
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'service_contract', amount => 1000)$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'passport')$$, :d1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;

-- the proposal: amounts from the lines
SELECT crm.create_document(:d1, 'proposal') AS p1 \gset
SELECT pg_temp.num(number), kind, status, net_amount, vat_amount, total_amount,
       valid_until = current_date + 30 AS valid_30_days FROM crm.document WHERE id = :p1;
SELECT line_no, description, unit, quantity, unit_price, vat_rate, net_amount, vat_amount, total_amount, delivery_terms
  FROM crm.document_line WHERE document_id = :p1 ORDER BY line_no;
SELECT agreement_path, agreed_at FROM crm.deal WHERE id = :d1;
-- while the client considers it: lines frozen, no invoice, no contract, no moving on
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format('UPDATE crm.deal_line SET quantity = 3 WHERE id = %s', :d1l1));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, 7200002, 1)', :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'invoice')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'contract')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'sale_from_stock')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.reject_document(%s, '  ')$$, :p1));
SELECT pg_temp.try(format($$SELECT crm.set_document_status(%s, 'superseded')$$, :p1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;
-- the client declines; the lines change; a new proposal, then a newer one replaces it
SELECT crm.reject_document(:p1, 'дорого, просят скидку');
UPDATE crm.deal_line SET unit_price = 270000 WHERE id = :d1l1;
SELECT crm.create_document(:d1, 'proposal') AS p2 \gset
SELECT crm.create_document(:d1, 'proposal', valid_until => current_date + 10) AS p3 \gset
SELECT pg_temp.num(number), status, status_reason IS NOT NULL AS has_reason, total_amount
  FROM crm.document WHERE deal_id = :d1 ORDER BY id;
SELECT pg_temp.try(format($$SELECT crm.accept_document(%s)$$, :p2));
SELECT pg_temp.try(format($$SELECT crm.cancel_document(%s, 'ошибка')$$, :p1));
-- the client agrees: the deal is agreed on the proposal path; its lines are frozen for good
SELECT crm.accept_document(:p3);
SELECT agreement_path, agreed_at IS NOT NULL AS agreed, won_at FROM crm.deal WHERE id = :d1;
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format('UPDATE crm.deal_line SET quantity = 3 WHERE id = %s', :d1l1));
SELECT pg_temp.try(format('DELETE FROM crm.deal_line WHERE id = %s', :d1l2));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'proposal')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.accept_document(%s)$$, :p3));
SELECT pg_temp.try(format($$UPDATE crm.deal SET agreed_at = NULL WHERE id = %s$$, :d1));
SELECT pg_temp.try(format($$UPDATE crm.deal SET agreement_path = 'direct' WHERE id = %s$$, :d1));
SELECT pg_temp.try(format($$UPDATE crm.deal SET counterparty_id = %s WHERE id = %s$$, :lead2, :d1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;
-- the invoice follows the agreed proposal
SELECT crm.create_document(:d1, 'invoice') AS inv1 \gset
SELECT pg_temp.num(number), total_amount, based_on_id = :p3 AS based_on_agreed_proposal FROM crm.document WHERE id = :inv1;
-- one invoice covers every line: a second one has nothing to invoice
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'invoice')$$, :d1));

-- R12: illegal moves are refused; nothing changes
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'installation')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'service')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'closed')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'won')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, NULL)$$, :d1));
SELECT pg_temp.try(format($$UPDATE crm.deal SET id = -id WHERE id = %s$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.record_service_decision(%s, true)$$, :d1));
-- the rules on its values, whatever tool writes them
SELECT pg_temp.try(format($$UPDATE crm.deal SET needs = '  ' WHERE id = %s$$, :d1));
SELECT pg_temp.try(format($$UPDATE crm.deal SET title = '' WHERE id = %s$$, :d1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;
-- everything is in stock: the shortcut past production (R12)
SELECT crm.move_deal(:d1, 'sale_from_stock', 'всё есть на складе');
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'production')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'equipment_selection')$$, :d1));
-- shipping documents; a partial shipment first
SELECT crm.create_document(:d1, 'consignment_note', line_quantities => format('{"%s": 1}', :d1l1)::jsonb) AS tn1 \gset
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note', line_quantities => '{"%s": 2}')$$, :d1, :d1l1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note', line_quantities => '{"%s": -1}')$$, :d1, :d1l1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note', line_quantities => '{"999": 1}')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note', line_quantities => '{"%s": "x"}')$$, :d1, :d1l1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'consignment_note', line_quantities => '[1]')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'proposal', line_quantities => '{}')$$, :d1));
SELECT pg_temp.try(format($$INSERT INTO crm.document (deal_id, kind, total_amount) VALUES (%s, 'vat_invoice', 1)$$, :d1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;
SELECT crm.create_document(:d1, 'consignment_note') AS tn2 \gset
SELECT crm.create_document(:d1, 'vat_invoice') AS sf1 \gset
SELECT pg_temp.num(d.number), d.kind, l.line_no, l.description, l.quantity, d.total_amount
  FROM crm.document d JOIN crm.document_line l ON l.document_id = d.id
 WHERE d.id IN (:tn1, :tn2, :sf1) ORDER BY d.id, l.line_no;
SELECT crm.move_deal(:d1, 'installation');
SELECT crm.move_deal(:d1, 'service');
-- R21: entering service gives the manager "offer service"
SELECT t.kind, t.title, t.assignee_id = :mgr AS to_manager, t.creator_id, t.dedup_key ~ '^deal:[0-9]+:offer_service$' AS keyed,
       t.due_at - now() AS due_in FROM crm.task t WHERE t.deal_id = :d1;
-- R21: closing needs the service question settled, full payment, every accounting document
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'closed')$$, :d1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;
SELECT crm.record_service_decision(:d1, false, 'своя служба эксплуатации');
-- payments: never more than the invoice awaits; the first one makes the lead a client
SELECT pg_temp.try(format('SELECT crm.record_payment(%s, 1000000)', :inv1));
SELECT pg_temp.try(format('SELECT crm.record_payment(%s, 0)', :inv1));
SELECT pg_temp.try(format('SELECT crm.record_payment(%s, -5)', :inv1));
SELECT pg_temp.try(format('SELECT crm.record_payment(%s, 5)', :tn1));
SELECT kind FROM crm.counterparty WHERE id = :lead1;
SELECT crm.record_payment(:inv1, 300000, reference => 'п/п 118') > 0 AS paid;
SELECT kind FROM crm.counterparty WHERE id = :lead1;
SELECT won_at IS NOT NULL AS won FROM crm.deal WHERE id = :d1;
SELECT pg_temp.try(format($$SELECT crm.cancel_document(%s, 'ошибка')$$, :inv1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'closed')$$, :d1));
SELECT crm.record_payment(:inv1, (SELECT total_amount - 300000 FROM crm.document WHERE id = :inv1)) > 0 AS paid;
SELECT * FROM crm.deal_amounts WHERE deal_id = :d1;
SELECT crm.move_deal(:d1, 'closed', 'оплачено, отгружено');
SELECT stage, stage_reason, closed_at IS NOT NULL AS closed FROM crm.deal WHERE id = :d1;
-- a closed deal is kept as it was: nothing about it changes
SELECT pg_temp.state(:d1) AS s \gset
SELECT pg_temp.try(format($$UPDATE crm.deal SET needs = 'другое' WHERE id = %s$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'not_suitable', 'передумали')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'service')$$, :d1));
SELECT pg_temp.try(format('UPDATE crm.deal_line SET quantity = 1 WHERE id = %s', :d1l1));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, 7200002, 1)', :d1));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'waybill')$$, :d1));
SELECT pg_temp.try(format($$SELECT crm.cancel_document(%s, 'ошибка')$$, :tn1));
SELECT pg_temp.try(format($$SELECT crm.record_payment(%s, 1)$$, :inv1));
SELECT pg_temp.state(:d1) = :'s' AS unchanged;

-- ============ path 2: invoice directly, equipment that needs a certificate ============
SELECT crm.create_deal(:lead2, 'Камера тепла-холода для испытаний', equipment_type => 'climatic') AS d2 \gset
SELECT crm.add_deal_line(:d2, 7200003, 1, 2400000) AS d2l1 \gset
-- not agreed yet: production waits
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'production')$$, :d2));
SELECT crm.create_document(:d2, 'invoice') AS inv2 \gset
SELECT agreement_path, agreed_at IS NOT NULL AS agreed FROM crm.deal WHERE id = :d2;
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'proposal')$$, :d2));
-- a contract signed on the direct path wins the deal, and the lead becomes a client
SELECT crm.create_document(:d2, 'contract') AS dp2 \gset
SELECT crm.accept_document(:dp2);
SELECT d.won_at IS NOT NULL AS won, c.kind FROM crm.deal d JOIN crm.counterparty c ON c.id = d.counterparty_id WHERE d.id = :d2;
SELECT crm.move_deal(:d2, 'production', 'камера изготавливается под заказ');
SELECT crm.move_deal(:d2, 'sale_from_stock');
SELECT crm.create_document(:d2, 'consignment_note') AS tn3 \gset
-- R20: climatic equipment needs a valid certificate before installation
SELECT pg_temp.state(:d2) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'installation')$$, :d2));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'certificate', external_number => 'РОСС RU.0001')$$, :d2));
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'certificate', external_number => 'РОСС RU.0001',
  issuer => 'ОС «Тест»', valid_until => current_date - 1)$$, :d2));
SELECT pg_temp.state(:d2) = :'s' AS unchanged;
-- an expired one does not count
SELECT crm.create_document(:d2, 'certificate', issued_on => '2020-03-01', external_number => 'РОСС RU.0000',
  issuer => 'ОС «Тест»', valid_until => '2023-02-28') AS old_cert \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'installation')$$, :d2));
SELECT crm.create_document(:d2, 'certificate', external_number => 'РОСС RU.0001', issuer => 'ОС «Тест»',
  valid_until => current_date + 365) AS cert \gset
SELECT pg_temp.num(number), external_number, issuer, net_amount, total_amount FROM crm.document WHERE id = :cert;
SELECT crm.move_deal(:d2, 'installation');
SELECT crm.move_deal(:d2, 'service');
-- R21: consent gives "conclude a service maintenance contract"; recorded twice, one task
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'service_contract', amount => 120000)$$, :d2));
SELECT crm.record_service_decision(:d2, true, 'согласны на ТО раз в квартал');
SELECT crm.record_service_decision(:d2, false);
SELECT crm.record_service_decision(:d2, true);
SELECT pg_temp.try(format($$UPDATE crm.deal SET service_decision = NULL WHERE id = %s$$, :d2));
SELECT t.kind, t.title, t.assignee_id = :mgr AS to_manager, t.done_at IS NOT NULL AS done, t.outcome
  FROM crm.task t WHERE t.deal_id = :d2 ORDER BY t.id;
SELECT pg_temp.try(format($$SELECT crm.create_document(%s, 'service_contract')$$, :d2));
SELECT crm.create_document(:d2, 'service_contract', amount => 120000) AS so2 \gset
SELECT pg_temp.num(number), net_amount, vat_amount, total_amount FROM crm.document WHERE id = :so2;
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'closed')$$, :d2));
SELECT crm.accept_document(:so2);
-- signing the service contract is what its task asked for
SELECT t.kind, t.done_at IS NOT NULL AS done, pg_temp.num(t.outcome) AS outcome FROM crm.task t WHERE t.deal_id = :d2 AND t.kind = 'service_contract';
SELECT crm.record_payment(:inv2, 2880000) > 0 AS paid;
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'closed')$$, :d2));
SELECT crm.create_document(:d2, 'vat_invoice') > 0 AS vat_invoice;
SELECT crm.move_deal(:d2, 'closed');

-- ============ not_suitable (R12) and the head stepping in (R22) ============
SELECT crm.create_deal(:client3, 'Стенд для испытаний на вибрацию', contact => :client3) AS d3 \gset
SELECT pg_temp.state(:d3) AS s \gset
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'not_suitable')$$, :d3));
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'not_suitable', '   ')$$, :d3));
SELECT pg_temp.try(format($$UPDATE crm.deal SET stage = 'not_suitable' WHERE id = %s$$, :d3));
SELECT pg_temp.try(format($$UPDATE crm.deal SET agreement_path = 'handshake' WHERE id = %s$$, :d3));
SELECT pg_temp.try(format($$UPDATE crm.deal SET agreed_at = now() WHERE id = %s$$, :d3));
SELECT pg_temp.state(:d3) = :'s' AS unchanged;
-- the head of Alto steps in: the deal of the Testing department goes to another manager
SET ROLE regress_lc_head;
UPDATE crm.deal SET manager_id = :mgr2, stage_reason = 'клиент просил другого менеджера' WHERE id = :d3;
RESET ROLE;
SELECT manager_id = :mgr2 AS reassigned FROM crm.deal WHERE id = :d3;
SELECT crm.move_deal(:d3, 'not_suitable', 'нужен стенд на 50 кН, мы делаем до 30 кН');
SELECT pg_temp.try(format($$SELECT crm.move_deal(%s, 'not_suitable', 'снова')$$, :d3));
-- the head of sales (Alto supervises Testing) checks the salesperson's work, once
SELECT t.kind, t.title, t.assignee_id = :head AS to_head, t.note, t.dedup_key ~ '^deal:[0-9]+:deal_quality_check$' AS keyed
  FROM crm.task t WHERE t.deal_id = :d3;
SELECT n.kind, n.message FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
 WHERE e.role_name LIKE 'regress\_lc\_%' ORDER BY n.id;

-- ============ what was kept ============
-- R12: every change: who, from, to, why
SELECT d.title, h.field, h.from_value, h.to_value, h.reason,
       coalesce(e.role_name, CASE WHEN h.changed_by_role = current_user THEN '(superuser)' END) AS who
  FROM crm.deal_history h JOIN crm.deal d ON d.id = h.deal_id LEFT JOIN crm.employee e ON e.id = h.changed_by
 WHERE h.deal_id IN (:d1, :d2, :d3) ORDER BY h.id;
-- R19: numbered per kind and year, without gaps, whatever was refused on the way
SELECT kind, string_agg(pg_temp.num(number) || ' ' || status, ', ' ORDER BY seq) AS documents,
       max(seq) = count(*) AS no_gaps
  FROM crm.document GROUP BY kind, year ORDER BY kind, year;
SELECT kind, CASE WHEN year = extract(year FROM current_date) THEN 'this year' ELSE year::text END AS year,
       last_number FROM crm.document_counter ORDER BY kind, year;
-- every automatic task exactly once
SELECT kind, count(*) AS tasks, count(DISTINCT dedup_key) AS keys FROM crm.task WHERE deal_id IS NOT NULL
 GROUP BY kind ORDER BY kind;
-- settlement per counterparty: shipped minus paid
SELECT name, invoiced, shipped, paid, balance, invoiced_unpaid FROM crm.settlement
 WHERE counterparty_id IN (:lead1, :lead2, :client3) ORDER BY name;

ROLLBACK;
