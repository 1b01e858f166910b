-- deal: creating deals (R10, R11), the requisites' check digits, lines, and
-- every rejection with its SQLSTATE; a rejected statement leaves nothing.
-- Everything runs in one transaction that is rolled back at the end.
\pset null '(null)'
BEGIN;

-- runs a statement, returns 'ok' or 'SQLSTATE: message [detail]'
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  d text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  IF d LIKE 'Failing row contains%' THEN d := NULL; END IF;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' [' || nullif(d, '') || ']', '');
END $$;

-- fixed numbering, so that ids in messages do not depend on what ran before
SELECT setval('crm.deal_id_seq', 7100000), setval('crm.deal_line_id_seq', 7100000);

-- R10: check digits of the requisites, against known real values
SELECT v, crm.inn_problem(v) FROM (VALUES ('7707083893'), ('7707083894'), ('500100732259'),
  ('500100732258'), ('500100732249'), ('770708389'), ('77070838931'), ('77070838a3'), ('')) t(v);
SELECT v, crm.kpp_problem(v) FROM (VALUES ('773601001'), ('7736AB001'), ('7736ab001'), ('77360100'),
  ('000001001'), ('7736010011')) t(v);
SELECT v, crm.bic_problem(v) FROM (VALUES ('044525225'), ('144525225'), ('04452522'), ('04452522x')) t(v);
-- correspondent accounts of Sberbank, Alfa-Bank and T-Bank, and a wrong digit
SELECT a, b, crm.corr_account_problem(a, b) FROM (VALUES
  ('30101810400000000225', '044525225'), ('30101810200000000593', '044525593'),
  ('30101810145250000974', '044525974'), ('30101810145250000975', '044525974'),
  ('40101810145250000974', '044525974'), ('3010181014525000097', '044525974'),
  ('30101810400000000225', '0445252')) t(a, b);
-- settlement accounts: the key computed here independently (weights 7 1 3 over
-- the BIC's last three digits and the account, key digit at position 9)
CREATE FUNCTION pg_temp.with_key(bic text, acc text) RETURNS text LANGUAGE sql AS $$
  WITH d AS (SELECT right(bic, 3) || overlay(acc PLACING '0' FROM 9 FOR 1) AS s),
  sums AS (SELECT sum((substr(s, i, 1)::int * (ARRAY[7, 1, 3])[(i - 1) % 3 + 1]) % 10) AS t
             FROM d, generate_series(1, 23) i)
  SELECT overlay(acc PLACING ((t * 3) % 10)::text FROM 9 FOR 1) FROM sums
$$;
SELECT pg_temp.with_key('044525225', '40702810000000001234') AS acc \gset
SELECT :'acc' AS account, crm.account_problem(:'acc', '044525225') AS valid,
       crm.account_problem(overlay(:'acc' PLACING ((substr(:'acc', 9, 1)::int + 1) % 10)::text FROM 9 FOR 1),
                           '044525225') AS one_digit_off,
       crm.account_problem(:'acc', '044525593') AS other_bank;

-- the company: a head, two managers of Alto, a manager of Prom
SELECT crm.hire('regress_deal_head', 'Анна Глава', 'alto', 'head') AS head \gset
SELECT crm.hire('regress_deal_mgr', 'Борис Менеджер', 'alto', 'manager') AS mgr \gset
SELECT crm.hire('regress_deal_mgr2', 'Вера Коллега', 'alto', 'manager') AS mgr2 \gset
INSERT INTO crm.product (id, sku, name, equipment_type_id, list_price)
SELECT 7100001, 'REGRESS-PUMP', 'Насос ЦНС 38-44', t.id, 285000 FROM crm.equipment_type t WHERE t.code = 'pumps'
RETURNING id AS pump \gset
INSERT INTO crm.product (id, sku, name, equipment_type_id, list_price)
SELECT 7100002, 'REGRESS-SEAL', 'Уплотнение торцевое', t.id, NULL FROM crm.equipment_type t WHERE t.code = 'components'
RETURNING id AS seal \gset
INSERT INTO crm.product (id, sku, name, list_price, active) VALUES (7100003, 'REGRESS-OLD', 'Снят с производства', 100, false)
RETURNING id AS old \gset

-- a lead with only what the first call gave
INSERT INTO crm.counterparty (id, kind, name, department_id, responsible_id)
SELECT 7100001, 'lead', 'Климатест', d.id, :mgr FROM crm.department d WHERE d.code = 'alto'
RETURNING id AS lead \gset
INSERT INTO crm.contact (id, counterparty_id, full_name) VALUES (7100001, :lead, 'Андрей Белов') RETURNING id AS contact \gset
INSERT INTO crm.contact (id, counterparty_id, full_name) VALUES (7100002, :lead, 'Без телефона') RETURNING id AS mute \gset
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value) VALUES (:contact, :lead, 'phone', '+7 916 210-33-44');
-- R9 R10: a deal is made only for a qualified lead
SELECT pg_temp.try(format('SELECT crm.create_deal(%s, ''Камера'')', :lead));
-- the lead's inquiry, qualified as genuine by its manager (intake)
INSERT INTO crm.inquiry (channel, source, status, counterparty_id, department_id, responsible_id, genuine)
SELECT 'phone', 'regress', 'qualified', :lead, d.id, :mgr, true FROM crm.department d WHERE d.code = 'alto';

-- R10: every missing mandatory field is named; nothing is created
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, '  ')$$, :lead));
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос на 40 м3/ч', contact => %s)$$, :lead, :mute));
-- R10: wrong check digits are named, even alongside missing fields
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос', inn => '7707083894', bank_bic => '044525225',
  bank_account => '40702810000000001234')$$, :lead));
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос', legal_name => 'АО «Климатест»',
  inn => '7707083894', kpp => '770701001', bank_name => 'ПАО Сбербанк', bank_bic => '044525225',
  bank_account => %L, corr_account => '30101810400000000225', physical_address => 'Москва, Научный пр., 8')$$,
  :lead, :'acc'));
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос', legal_name => 'АО «Климатест»',
  inn => '7707083893', kpp => '770701001', bank_name => 'ПАО Сбербанк', bank_bic => '044525225',
  bank_account => '40702810000000001234', corr_account => '30101810400000000226', physical_address => 'Москва')$$,
  :lead));
-- a format error is the counterparty's own constraint
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос', inn => '77070838')$$, :lead));
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'Насос', equipment_type => 'rockets')$$, :lead));
SELECT pg_temp.try($$SELECT crm.create_deal(-1, 'Насос')$$);
-- nothing of that was kept: no deal, the lead's legal data untouched
SELECT count(*) AS deals FROM crm.deal WHERE counterparty_id = :lead;
SELECT kind, legal_name, inn, bank_account FROM crm.counterparty WHERE id = :lead;

-- R10 R11: the deal, with its key parameters; the legal data is stored on the counterparty
SELECT crm.create_deal(:lead, 'Насос на 40 м3/ч для оборотной воды', equipment_type => 'pumps',
  application_area => 'водоподготовка', processed_materials => 'оборотная вода, 40 °C',
  legal_name => 'АО «Климатест»', inn => '7707083893', kpp => '770701001', bank_name => 'ПАО Сбербанк',
  bank_bic => '044525225', bank_account => :'acc', corr_account => '30101810400000000225',
  physical_address => 'Москва, Научный проезд, 8', payment_terms => '50% предоплата',
  delivery_terms => 'самовывоз, Подольск') AS deal \gset
SELECT d.title, d.stage, d.needs, d.application_area, t.code AS equipment_type, d.processed_materials,
       d.contact_id = :contact AS only_reachable_contact, d.manager_id = :mgr AS manager_is_responsible,
       dp.code AS department, d.agreement_path, d.agreed_at, d.won_at, d.payment_terms, d.delivery_terms
  FROM crm.deal d JOIN crm.equipment_type t ON t.id = d.equipment_type_id
  JOIN crm.department dp ON dp.id = d.department_id WHERE d.id = :deal;
SELECT kind, legal_name, inn, kpp, bank_bic, bank_account = :'acc' AS account, physical_address
  FROM crm.counterparty WHERE id = :lead;
-- R12: the first history row
SELECT field, from_value, to_value, reason, changed_by_role = current_user AS by_me FROM crm.deal_history WHERE deal_id = :deal;

-- a deal is made with a lead, client or partner only, and starts at the start
INSERT INTO crm.counterparty (id, kind, name) VALUES (7100002, 'supplier', 'Поставщик') RETURNING id AS supplier \gset
SELECT pg_temp.try(format($$SELECT crm.create_deal(%s, 'x')$$, :supplier));
SELECT pg_temp.try(format($$INSERT INTO crm.deal (counterparty_id, contact_id, needs, stage)
  VALUES (%s, %s, 'x', 'service')$$, :lead, :contact));

-- R11: lines: product, quantity, price (default: the list price), VAT, delivery terms
SELECT crm.add_deal_line(:deal, :pump, 2) AS line1 \gset
SELECT crm.add_deal_line(:deal, :seal, 4, 8400.50, 20, 'со склада') AS line2 \gset
SELECT product_id = :pump AS pump, quantity, unit_price, vat_rate, delivery_terms, net_amount, vat_amount, total_amount
  FROM crm.deal_line WHERE deal_id = :deal ORDER BY id;
-- bad lines: nothing is added or changed
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, -1)', :deal, :pump));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 0)', :deal, :pump));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 1, -5)', :deal, :pump));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 1, 5, 100)', :deal, :pump));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 1)', :deal, :seal));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 1)', :deal, :old));
SELECT pg_temp.try(format('SELECT crm.add_deal_line(%s, %s, 1)', -1, :pump));
SELECT pg_temp.try(format('UPDATE crm.deal_line SET quantity = -2 WHERE id = %s', :line1));
SELECT pg_temp.try(format('UPDATE crm.deal_line SET deal_id = -1 WHERE id = %s', :line1));
SELECT count(*) AS lines, sum(quantity) AS quantity, sum(total_amount) AS total FROM crm.deal_line WHERE deal_id = :deal;
SELECT * FROM crm.deal_amounts WHERE deal_id = :deal;

-- R12: the legal transitions, as the state machine knows them
SELECT f.code AS from_stage, string_agg(t.code, ', ' ORDER BY t.position) AS may_move_to
  FROM crm.deal_stage f CROSS JOIN crm.deal_stage t
 WHERE crm.deal_stage_allowed(f.code, t.code) GROUP BY f.code, f.position ORDER BY f.position;
-- the registered preconditions
SELECT to_stage, check_fn, description FROM crm.deal_stage_check WHERE builtin ORDER BY to_stage, check_fn::text;
-- a stage check has a fixed signature
SELECT pg_temp.try($$INSERT INTO crm.deal_stage_check VALUES ('closed', 'crm.inn_problem(text)', 'x')$$);

ROLLBACK;
