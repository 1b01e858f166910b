-- deal_search_path: R2 -- the deal trigger (crm.deal_transition, C) works as
-- the owner of crm; while it does, the caller's search_path must not decide
-- what its statements mean.  A schema with its own "=" for names, put before
-- pg_catalog, would otherwise be called as the owner by the history it
-- writes.  The move below must write its history and its task without
-- calling it (no NOTICE from it).  Everything is rolled back.
\pset null '(null)'
BEGIN;
SELECT crm.hire('regress_sp_head', 'Ольга Главная', 'alto', 'head') AS head \gset
SELECT crm.hire('regress_sp_mgr', 'Пётр Путев', 'alto', 'manager') AS mgr \gset
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, department_id, responsible_id)
SELECT 'lead', 'Путь поиска', 'ООО «Путь поиска»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
       '40702810500000001234', '30101810400000000225', 'Москва, ул. Заводская, 1', d.id, :mgr
  FROM crm.department d WHERE d.code = 'alto'
RETURNING id AS lead \gset
INSERT INTO crm.contact (counterparty_id, full_name) VALUES (:lead, 'Ирина Путева') RETURNING id AS contact \gset
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value) VALUES (:contact, :lead, 'phone', '+7 916 555-01-02');
INSERT INTO crm.inquiry (channel, source, status, counterparty_id, department_id, responsible_id, genuine)
SELECT 'phone', 'regress', 'qualified', :lead, d.id, :mgr, true FROM crm.department d WHERE d.code = 'alto';
SELECT crm.create_deal(:lead, 'Стенд испытательный') AS deal \gset

CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.name_eq(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'regress_evil.= called as %', current_user;
  RETURN $1::text = $2::text;
END $$;
CREATE OPERATOR regress_evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = regress_evil.name_eq);
-- the operator is real: with it first in the path, a name comparison calls it
SET search_path = regress_evil, pg_catalog;
SELECT 'a'::name = 'a'::name AS shadowed;
-- the trigger, reached by a plain UPDATE in that session: no NOTICE
UPDATE crm.deal SET stage = 'not_suitable', stage_reason = 'нет бюджета' WHERE id = :deal;
RESET search_path;
SELECT field, from_value, to_value, reason FROM crm.deal_history WHERE deal_id = :deal ORDER BY id;
SELECT kind FROM crm.task WHERE deal_id = :deal ORDER BY kind;
ROLLBACK;
