-- demo/30_deals.sql: deals (R10-R14, R19-R22) -- the company's own
-- requisites for the print forms, five deals of the demo clients: two taken
-- to closing by the two ways to agree (proposal -> agreement -> invoice, and
-- contract/invoice directly), one waiting for the client's answer to a
-- proposal, one in production, one rejected; payments, tasks, a survey.
-- The manager of each deal does the sales work (SET ROLE); where fulfilment
-- is installed (customer orders, production, shipping) the goods go through
-- it, otherwise the shipping documents are issued here.  Then the proposal
-- of the first deal is written to a PDF file (named at the end).
\set ON_ERROR_STOP 1
SELECT NOT EXISTS (SELECT FROM crm.deal) AS fresh_deals \gset
\if :fresh_deals
\echo demo: deals through both ways to agree, to closing
BEGIN;

-- our own company, on every print form
CREATE FUNCTION pg_temp.inn10(body text) RETURNS text LANGUAGE sql AS $$
  SELECT body || (sum(substr(body, i, 1)::int * (ARRAY[2,4,10,3,5,9,4,6,8])[i]) % 11 % 10)::text
    FROM generate_series(1, 9) i
$$;
-- a settlement account with the control key of its bank's BIC
CREATE FUNCTION pg_temp.account(bic text, body text) RETURNS text LANGUAGE sql AS $$
  WITH d AS (SELECT right(bic, 3) || overlay(body PLACING '0' FROM 9 FOR 1) AS s)
  SELECT overlay(body PLACING ((sum((substr(s, i, 1)::int * (ARRAY[7, 1, 3])[(i - 1) % 3 + 1]) % 10) * 3) % 10)::text
                 FROM 9 FOR 1)
    FROM d, generate_series(1, 23) i GROUP BY body
$$;
INSERT INTO crm.company (name, legal_name, inn, kpp, ogrn, address, phone, email, website, bank_name, bank_bic,
                         bank_account, corr_account, director, accountant)
VALUES ('ПромНасосМаш', 'ООО «ПромНасосМаш»', pg_temp.inn10('503612345'), '503601001', '1025003212345',
        '142100, Московская обл., г. Подольск, ул. Заводская, д. 12', '+7 495 100-00-00',
        'sales@pumpmash.example', 'pumpmash.example', 'ПАО Сбербанк', '044525225',
        pg_temp.account('044525225', '40702810000000012345'), '30101810400000000225',
        'Смирнова Кира Андреевна', 'Орлова Наталья Викторовна')
ON CONFLICT (id) DO NOTHING;

-- the people we become (their temporary helpers are ours)
DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;
CREATE TEMP TABLE demo_deal (name text PRIMARY KEY, deal bigint);
GRANT ALL ON demo_deal TO PUBLIC;
CREATE FUNCTION pg_temp.d(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT deal FROM demo_deal WHERE name = n $$;
CREATE FUNCTION pg_temp.p(sku text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM crm.product WHERE product.sku = p.sku $$;
CREATE FUNCTION pg_temp.c(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM crm.counterparty WHERE name = n $$;
CREATE FUNCTION pg_temp.doc(deal bigint, k text) RETURNS bigint LANGUAGE sql AS $$
  SELECT max(id) FROM crm.document WHERE deal_id = deal AND kind = k
$$;
-- a step that may wait for work of another department: done, or said why not
CREATE FUNCTION pg_temp.step(what text, stmt text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  EXECUTE stmt;
  RETURN true;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RAISE NOTICE 'demo: % not done: % %', what, SQLERRM, coalesce(detail, '');
  RETURN false;
END $$;
-- the goods: through fulfilment where it is installed (customer order,
-- production into stock, shipment with its documents), else the shipping
-- documents straight from the deal
CREATE FUNCTION pg_temp.order_goods(deal bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF to_regprocedure('crm.create_customer_order(bigint,integer)') IS NOT NULL THEN
    PERFORM pg_temp.step(format('customer order of deal %s', deal),
                         format('SELECT crm.create_customer_order(%s)', deal));
  END IF;
END $$;
CREATE FUNCTION pg_temp.make_goods(deal bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  po bigint;
BEGIN
  IF to_regprocedure('crm.complete_production(bigint,text,date,text)') IS NULL THEN
    RETURN;
  END IF;
  FOR po IN EXECUTE $q$
    SELECT p.id FROM crm.production_order p JOIN crm.order_line l ON l.id = p.order_line_id
      JOIN crm.customer_order o ON o.id = l.order_id
     WHERE o.deal_id = $1 AND p.status IN ('planned', 'in_progress') ORDER BY p.id$q$ USING deal
  LOOP
    PERFORM pg_temp.step(format('production order %s', po), format('SELECT crm.complete_production(%s)', po));
  END LOOP;
END $$;
CREATE FUNCTION pg_temp.ship_goods(deal bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o bigint;
BEGIN
  IF to_regprocedure('crm.ship_order(bigint)') IS NOT NULL THEN
    FOR o IN EXECUTE 'SELECT id FROM crm.customer_order WHERE deal_id = $1 AND status = ''open''' USING deal LOOP
      PERFORM pg_temp.step(format('shipment of order %s', o), format('SELECT crm.ship_order(%s)', o));
    END LOOP;
  ELSE
    PERFORM crm.create_document(deal, 'consignment_note');
    PERFORM crm.create_document(deal, 'vat_invoice');
    PERFORM crm.create_document(deal, 'waybill');
  END IF;
END $$;

-- bank details of the clients, given when their deals are created
CREATE TEMP TABLE demo_bank (name text, bank text, bic text, corr text, body text);
INSERT INTO demo_bank VALUES
  ('Климатест', 'ПАО Сбербанк', '044525225', '30101810400000000225', '40702810000000077011'),
  ('Нефтехимпром', 'АО «Альфа-Банк»', '044525593', '30101810200000000593', '40702810000000033021'),
  ('Водоканал-Сервис', 'ПАО Сбербанк', '044525225', '30101810400000000225', '40702810000000044031'),
  ('ТермоЛаб', 'АО «ТБанк»', '044525974', '30101810145250000974', '40702810000000055041'),
  ('Авиаприбор', 'АО «Альфа-Банк»', '044525593', '30101810200000000593', '40702810000000066051');
GRANT SELECT ON demo_bank TO PUBLIC;
CREATE FUNCTION pg_temp.deal(client text, needs text, etype text, area text, materials text, pay text, delivery text)
RETURNS bigint LANGUAGE sql AS $$
  SELECT crm.create_deal(pg_temp.c(client), needs, equipment_type => etype, application_area => area,
           contact => (SELECT min(ct.id) FROM crm.contact ct WHERE ct.counterparty_id = pg_temp.c(client)),
           processed_materials => materials, payment_terms => pay, delivery_terms => delivery,
           bank_name => b.bank, bank_bic => b.bic, corr_account => b.corr,
           bank_account => pg_temp.account(b.bic, b.body))
    FROM demo_bank b WHERE b.name = client
$$;

-- ===== 1. Климатест: commercial proposal -> agreement -> invoice (R13) =====
SET ROLE petrov;
INSERT INTO demo_deal SELECT 'klimatest', pg_temp.deal('Климатест',
  'Камера тепла-холода для испытаний электронных блоков по ГОСТ 30630: от −60 до +150 °C, объём не менее 800 л, с контроллером и ПО',
  'climatic', 'испытания электронных блоков', 'воздух; термоциклирование изделий до 40 кг',
  '50% предоплата, 50% после пусконаладки', 'доставка до заказчика, Москва; монтаж силами поставщика');
SELECT crm.add_deal_line(pg_temp.d('klimatest'), pg_temp.p('KL-KTK-800'), 1, 2380000,
         delivery_terms => 'изготовление 45 рабочих дней') > 0 AS line,
       crm.add_deal_line(pg_temp.d('klimatest'), pg_temp.p('CP-CTL-TC'), 2) > 0 AS line;
SELECT crm.create_document(pg_temp.d('klimatest'), 'proposal') > 0 AS proposal;
-- the client agreed to the proposal; the invoice follows it; half is paid in advance
SELECT crm.accept_document(pg_temp.doc(pg_temp.d('klimatest'), 'proposal'), 'согласовано по телефону');
SELECT crm.create_document(pg_temp.d('klimatest'), 'invoice') > 0 AS invoice;
SELECT crm.record_payment(pg_temp.doc(pg_temp.d('klimatest'), 'invoice'),
         round((SELECT total_amount FROM crm.document WHERE id = pg_temp.doc(pg_temp.d('klimatest'), 'invoice')) / 2, 2),
         current_date, 'п/п 1187') > 0 AS advance;
-- R20: climatic equipment needs a certificate before it ships and is installed
SELECT crm.create_document(pg_temp.d('klimatest'), 'certificate', external_number => 'ЕАЭС RU С-RU.АЯ46.В.01234/25',
         issuer => 'ОС «Тест-Климат»', valid_until => current_date + 730) > 0 AS certificate;
RESET ROLE;
SELECT pg_temp.order_goods(pg_temp.d('klimatest'));
SET ROLE petrov;
SELECT crm.move_deal(pg_temp.d('klimatest'), 'production', 'камера изготавливается под заказ');
RESET ROLE;
SELECT pg_temp.make_goods(pg_temp.d('klimatest'));
SET ROLE petrov;
SELECT crm.move_deal(pg_temp.d('klimatest'), 'sale_from_stock', 'камера принята на склад');
RESET ROLE;
SELECT pg_temp.ship_goods(pg_temp.d('klimatest'));
SET ROLE petrov;
SELECT pg_temp.step('installation of Климатест', format($$SELECT crm.move_deal(%s, 'installation', 'отгружено, монтаж')$$, pg_temp.d('klimatest')))
   AND pg_temp.step('service of Климатест', format($$SELECT crm.move_deal(%s, 'service', 'пусконаладка выполнена')$$, pg_temp.d('klimatest')))
   AS in_service;
-- R21: the client agrees to service: a service contract, signed
SELECT pg_temp.step('service decision of Климатест',
         format($$SELECT crm.record_service_decision(%s, true, 'ТО раз в квартал')$$, pg_temp.d('klimatest')))
   AND pg_temp.step('service contract of Климатест',
         format($$SELECT crm.accept_document(crm.create_document(%s, 'service_contract', amount => 180000))$$, pg_temp.d('klimatest')))
   AS service_contract;
SELECT crm.record_payment(pg_temp.doc(pg_temp.d('klimatest'), 'invoice'),
         (SELECT unpaid FROM crm.deal_amounts WHERE deal_id = pg_temp.d('klimatest')), current_date, 'п/п 1254') > 0 AS paid;
SELECT pg_temp.step('closing of Климатест', format($$SELECT crm.move_deal(%s, 'closed', 'оплачено, документы подписаны')$$, pg_temp.d('klimatest'))) AS closed;
RESET ROLE;

-- ===== 2. Нефтехимпром: the contract directly, no proposal (R13) =====
SET ROLE lebedeva;
INSERT INTO demo_deal SELECT 'neftehim', pg_temp.deal('Нефтехимпром',
  'Два шламовых насоса для откачки абразивной пульпы из отстойника, 50 м3/ч, напор 30 м',
  'pumps', 'очистные сооружения', 'шлам, абразивная пульпа до 15% твёрдых частиц',
  '100% предоплата', 'самовывоз со склада в Подольске');
SELECT crm.add_deal_line(pg_temp.d('neftehim'), pg_temp.p('PN-NB-50'), 2, 515000) > 0 AS line,
       crm.add_deal_line(pg_temp.d('neftehim'), pg_temp.p('CP-IMP-38'), 2) > 0 AS line;
SELECT crm.accept_document(crm.create_document(pg_temp.d('neftehim'), 'contract'), 'договор подписан');
SELECT crm.create_document(pg_temp.d('neftehim'), 'invoice') > 0 AS invoice;
SELECT crm.record_payment(pg_temp.doc(pg_temp.d('neftehim'), 'invoice'),
         (SELECT total_amount FROM crm.document WHERE id = pg_temp.doc(pg_temp.d('neftehim'), 'invoice')), current_date,
         'п/п 3301') > 0 AS paid;
RESET ROLE;
SELECT pg_temp.order_goods(pg_temp.d('neftehim'));
SET ROLE lebedeva;
SELECT crm.move_deal(pg_temp.d('neftehim'), 'production', 'насосы в производстве');
RESET ROLE;
SELECT pg_temp.make_goods(pg_temp.d('neftehim'));
SET ROLE lebedeva;
SELECT crm.move_deal(pg_temp.d('neftehim'), 'sale_from_stock');
RESET ROLE;
SELECT pg_temp.ship_goods(pg_temp.d('neftehim'));
SET ROLE lebedeva;
SELECT pg_temp.step('installation of Нефтехимпром', format($$SELECT crm.move_deal(%s, 'installation')$$, pg_temp.d('neftehim')))
   AND pg_temp.step('service of Нефтехимпром', format($$SELECT crm.move_deal(%s, 'service')$$, pg_temp.d('neftehim')))
   AND pg_temp.step('service decision of Нефтехимпром',
         format($$SELECT crm.record_service_decision(%s, false, 'обслуживают сами')$$, pg_temp.d('neftehim')))
   AND pg_temp.step('closing of Нефтехимпром', format($$SELECT crm.move_deal(%s, 'closed')$$, pg_temp.d('neftehim')))
   AS closed;
RESET ROLE;

-- ===== 3. Водоканал-Сервис: a proposal waiting for the client's answer =====
SET ROLE novikova;
INSERT INTO demo_deal SELECT 'vodokanal', pg_temp.deal('Водоканал-Сервис',
  'Замена насосов второго подъёма на насосной станции: 2 рабочих + 1 резервный',
  'pumps', 'водоснабжение', 'питьевая вода', '30% аванс, 70% по факту поставки', 'доставка до Воронежа');
SELECT crm.add_deal_line(pg_temp.d('vodokanal'), pg_temp.p('PN-CNS-60'), 3, delivery_terms => 'со склада, 10 дней') > 0 AS line,
       crm.add_deal_line(pg_temp.d('vodokanal'), pg_temp.p('CP-SEAL-60'), 6) > 0 AS line;
SELECT crm.create_document(pg_temp.d('vodokanal'), 'proposal') > 0 AS proposal;
RESET ROLE;

-- ===== 4. ТермоЛаб: not suitable -- the head checks the salesperson's work =====
SET ROLE kuznetsov;
INSERT INTO demo_deal SELECT 'termolab', pg_temp.deal('ТермоЛаб',
  'Вибростенд на 50 кН для испытаний крупногабаритных изделий', 'simulation', 'испытания на вибропрочность',
  'изделия до 300 кг', NULL, NULL);
SELECT crm.move_deal(pg_temp.d('termolab'), 'not_suitable', 'нужен стенд на 50 кН, мы делаем до 30 кН');
RESET ROLE;

-- ===== 5. Авиаприбор: invoice directly, advance paid, in production =====
SET ROLE sokolova;
INSERT INTO demo_deal SELECT 'aviapribor', pg_temp.deal('Авиаприбор',
  'Камера солевого тумана для испытаний покрытий по ГОСТ 9.308', 'climatic', 'коррозионные испытания',
  'образцы с лакокрасочными и гальваническими покрытиями', '30% аванс', 'доставка до Жуковского');
SELECT crm.add_deal_line(pg_temp.d('aviapribor'), pg_temp.p('KL-KTV-500'), 1) > 0 AS line,
       crm.add_deal_line(pg_temp.d('aviapribor'), pg_temp.p('CP-SALT-25'), 10) > 0 AS line;
SELECT crm.create_document(pg_temp.d('aviapribor'), 'invoice') > 0 AS invoice;
SELECT crm.record_payment(pg_temp.doc(pg_temp.d('aviapribor'), 'invoice'), 700000, current_date, 'п/п 552') > 0 AS advance;
RESET ROLE;
SELECT pg_temp.order_goods(pg_temp.d('aviapribor'));
SET ROLE sokolova;
SELECT pg_temp.step('production of Авиаприбор', format($$SELECT crm.move_deal(%s, 'production')$$, pg_temp.d('aviapribor'))) AS in_production;
RESET ROLE;

-- ===== the head of Alto: a task for a manager, a survey =====
SET ROLE ivanova;
SELECT crm.assign_task((SELECT id FROM crm.employee WHERE role_name = 'sokolova'),
         'Согласовать с Авиаприбором дату приёмки камеры', now() + interval '3 days', pg_temp.d('aviapribor')) > 0 AS task;
SELECT pg_temp.step('survey of Климатест', format($$SELECT crm.record_survey(%s, 5, 'камера работает, монтаж быстрый', true)$$,
         pg_temp.d('klimatest'))) AS survey;
RESET ROLE;
COMMIT;
\endif

-- the proposal of the first demo deal as a PDF file
\set demo_pdf_dir /tmp/crm-demo
\! mkdir -p /tmp/crm-demo
SELECT d.id AS demo_pdf_deal, coalesce((SELECT x.number FROM crm.document x WHERE x.deal_id = d.id AND x.kind = 'proposal'
         AND x.status IN ('issued', 'accepted') ORDER BY x.id DESC LIMIT 1), 'draft') AS demo_pdf_number
  FROM crm.deal d JOIN crm.counterparty c ON c.id = d.counterparty_id
 WHERE c.name = 'Климатест' ORDER BY d.id LIMIT 1 \gset
\pset format unaligned
\pset tuples_only on
SELECT encode(crm.proposal_pdf(:demo_pdf_deal), 'base64') \g /tmp/crm-demo/proposal.b64
\! base64 -d /tmp/crm-demo/proposal.b64 > /tmp/crm-demo/proposal.pdf && rm -f /tmp/crm-demo/proposal.b64
SELECT encode(crm.invoice_pdf((SELECT max(id) FROM crm.document WHERE deal_id = :demo_pdf_deal AND kind = 'invoice')), 'base64')
  \g /tmp/crm-demo/invoice.b64
\! base64 -d /tmp/crm-demo/invoice.b64 > /tmp/crm-demo/invoice.pdf && rm -f /tmp/crm-demo/invoice.b64
\pset format aligned
\pset tuples_only off
\echo demo: the commercial proposal :demo_pdf_number is in /tmp/crm-demo/proposal.pdf, its invoice in /tmp/crm-demo/invoice.pdf
