-- odbc.sql: the views 1C:Trade Management reads through ODBC "external data
-- sources" (R24), in their own schema crm_1c.
--
-- The contract, checked by test/tap/marketing_odbc.sql:
--   * every view's first column is its key: unique and never NULL;
--   * exposed columns use only types every ODBC client maps: text, varchar,
--     numeric (with precision and scale), integer, bigint, smallint, boolean,
--     date, timestamp (without time zone, to the second, in the session's
--     time zone) -- never arrays, jsonb, enums or composite values;
--   * every view and column carries a comment (the reference for 1C's side);
--   * views run with the caller's rights (security_invoker): the 1C login is
--     a member of crm_reader, which reads everything and writes nothing.
-- Columns are only ever added at the end; a change that would alter or drop
-- one is a new view.

CREATE SCHEMA crm_1c;
COMMENT ON SCHEMA crm_1c IS 'crm: stable, ODBC-friendly views for 1C external data sources (R24)';
REVOKE ALL ON SCHEMA crm_1c FROM PUBLIC;
GRANT USAGE ON SCHEMA crm_1c TO crm_reader, crm_admin;

CREATE VIEW crm_1c.department WITH (security_invoker = true) AS
SELECT d.id::integer AS id, d.code, d.name, d.kind, d.parent_id::integer AS parent_id
  FROM crm.department d;
COMMENT ON VIEW crm_1c.department IS 'departments (Alto, Prom, Plazo, Testing under Alto, ...)';
COMMENT ON COLUMN crm_1c.department.id IS 'key';
COMMENT ON COLUMN crm_1c.department.code IS 'stable code: alto, prom, plazo, testing, production, marketing, warehouse, service, management';
COMMENT ON COLUMN crm_1c.department.name IS 'name';
COMMENT ON COLUMN crm_1c.department.kind IS 'sales, testing, production, marketing, warehouse, service or management';
COMMENT ON COLUMN crm_1c.department.parent_id IS 'department this one belongs to (department.id), or NULL';

CREATE VIEW crm_1c.employee WITH (security_invoker = true) AS
SELECT e.id::integer AS id, e.full_name, e.role_name::text AS login, e.department_id::integer AS department_id,
       e.position, e.email, e.phone, e.active
  FROM crm.employee e;
COMMENT ON VIEW crm_1c.employee IS 'employees: managers, heads of sales and the other roles';
COMMENT ON COLUMN crm_1c.employee.id IS 'key';
COMMENT ON COLUMN crm_1c.employee.full_name IS 'full name';
COMMENT ON COLUMN crm_1c.employee.login IS 'database login';
COMMENT ON COLUMN crm_1c.employee.department_id IS 'department.id';
COMMENT ON COLUMN crm_1c.employee.position IS 'manager, head, triage, marketing, warehouse, production, service or admin';
COMMENT ON COLUMN crm_1c.employee.email IS 'work e-mail';
COMMENT ON COLUMN crm_1c.employee.phone IS 'work phone';
COMMENT ON COLUMN crm_1c.employee.active IS 'still works here';

CREATE VIEW crm_1c.counterparty WITH (security_invoker = true) AS
SELECT c.id, c.kind,
       CASE c.kind WHEN 'lead' THEN 'Потенциальный клиент' WHEN 'client' THEN 'Клиент'
                   WHEN 'partner' THEN 'Партнёр' WHEN 'supplier' THEN 'Поставщик' END AS kind_name,
       c.name, c.legal_name, c.inn, c.kpp, c.ogrn,
       c.bank_name, c.bank_bic, c.bank_account, c.corr_account,
       c.legal_address, c.physical_address, c.region,
       c.department_id::integer AS department_id, c.responsible_id::integer AS responsible_id,
       c.note,
       date_trunc('second', c.created_at)::timestamp(0) AS created_at,
       date_trunc('second', c.updated_at)::timestamp(0) AS updated_at,
       c.code_1c, c.guid_1c
  FROM crm.counterparty c;
COMMENT ON VIEW crm_1c.counterparty IS 'counterparties: leads, clients, partners, suppliers (Контрагенты)';
COMMENT ON COLUMN crm_1c.counterparty.id IS 'key';
COMMENT ON COLUMN crm_1c.counterparty.kind IS 'lead, client, partner or supplier';
COMMENT ON COLUMN crm_1c.counterparty.kind_name IS 'kind in Russian';
COMMENT ON COLUMN crm_1c.counterparty.name IS 'short name (Наименование)';
COMMENT ON COLUMN crm_1c.counterparty.legal_name IS 'full legal name (Полное наименование)';
COMMENT ON COLUMN crm_1c.counterparty.inn IS 'ИНН: 10 digits (organisation) or 12 (person)';
COMMENT ON COLUMN crm_1c.counterparty.kpp IS 'КПП';
COMMENT ON COLUMN crm_1c.counterparty.ogrn IS 'ОГРН or ОГРНИП';
COMMENT ON COLUMN crm_1c.counterparty.bank_name IS 'bank';
COMMENT ON COLUMN crm_1c.counterparty.bank_bic IS 'БИК of the bank';
COMMENT ON COLUMN crm_1c.counterparty.bank_account IS 'settlement account (расчётный счёт), 20 digits';
COMMENT ON COLUMN crm_1c.counterparty.corr_account IS 'correspondent account of the bank, 20 digits';
COMMENT ON COLUMN crm_1c.counterparty.legal_address IS 'legal address';
COMMENT ON COLUMN crm_1c.counterparty.physical_address IS 'physical (delivery) address';
COMMENT ON COLUMN crm_1c.counterparty.region IS 'region';
COMMENT ON COLUMN crm_1c.counterparty.department_id IS 'department.id that works with it';
COMMENT ON COLUMN crm_1c.counterparty.responsible_id IS 'employee.id responsible for it';
COMMENT ON COLUMN crm_1c.counterparty.note IS 'note';
COMMENT ON COLUMN crm_1c.counterparty.created_at IS 'created (local time)';
COMMENT ON COLUMN crm_1c.counterparty.updated_at IS 'last changed (local time)';
COMMENT ON COLUMN crm_1c.counterparty.code_1c IS 'code in the old 1C (Код), when it came from there';
COMMENT ON COLUMN crm_1c.counterparty.guid_1c IS 'GUID in the old 1C (Ид), when it came from there';

CREATE VIEW crm_1c.contact WITH (security_invoker = true) AS
SELECT k.id, k.counterparty_id, k.full_name, k.position,
       (SELECT p.normalized FROM crm.contact_point p WHERE p.contact_id = k.id AND p.kind = 'phone'
         ORDER BY p.is_primary DESC, p.id LIMIT 1) AS phone,
       (SELECT p.normalized FROM crm.contact_point p WHERE p.contact_id = k.id AND p.kind = 'email'
         ORDER BY p.is_primary DESC, p.id LIMIT 1) AS email,
       k.note,
       date_trunc('second', k.created_at)::timestamp(0) AS created_at
  FROM crm.contact k;
COMMENT ON VIEW crm_1c.contact IS 'contact persons of counterparties (Контактные лица), with their main phone and e-mail';
COMMENT ON COLUMN crm_1c.contact.id IS 'key';
COMMENT ON COLUMN crm_1c.contact.counterparty_id IS 'counterparty.id';
COMMENT ON COLUMN crm_1c.contact.full_name IS 'full name';
COMMENT ON COLUMN crm_1c.contact.position IS 'position';
COMMENT ON COLUMN crm_1c.contact.phone IS 'main phone, E.164 (+79161234567); every phone is in contact_point';
COMMENT ON COLUMN crm_1c.contact.email IS 'main e-mail; every address is in contact_point';
COMMENT ON COLUMN crm_1c.contact.note IS 'note';
COMMENT ON COLUMN crm_1c.contact.created_at IS 'created (local time)';

CREATE VIEW crm_1c.contact_point WITH (security_invoker = true) AS
SELECT p.id, p.contact_id, p.counterparty_id, p.kind, p.value, p.normalized, p.extension, p.is_primary
  FROM crm.contact_point p;
COMMENT ON VIEW crm_1c.contact_point IS 'every phone and e-mail of every contact';
COMMENT ON COLUMN crm_1c.contact_point.id IS 'key';
COMMENT ON COLUMN crm_1c.contact_point.contact_id IS 'contact.id';
COMMENT ON COLUMN crm_1c.contact_point.counterparty_id IS 'counterparty.id';
COMMENT ON COLUMN crm_1c.contact_point.kind IS 'phone or email';
COMMENT ON COLUMN crm_1c.contact_point.value IS 'as written';
COMMENT ON COLUMN crm_1c.contact_point.normalized IS 'E.164 phone or lower-cased e-mail; unique across the company';
COMMENT ON COLUMN crm_1c.contact_point.extension IS 'phone extension (добавочный)';
COMMENT ON COLUMN crm_1c.contact_point.is_primary IS 'the contact''s main phone or e-mail';

CREATE VIEW crm_1c.equipment_type WITH (security_invoker = true) AS
SELECT t.id::integer AS id, t.code, t.name, t.certification_required
  FROM crm.equipment_type t;
COMMENT ON VIEW crm_1c.equipment_type IS 'equipment types (pumps, compressors, climatic, simulation, components)';
COMMENT ON COLUMN crm_1c.equipment_type.id IS 'key';
COMMENT ON COLUMN crm_1c.equipment_type.code IS 'stable code';
COMMENT ON COLUMN crm_1c.equipment_type.name IS 'name';
COMMENT ON COLUMN crm_1c.equipment_type.certification_required IS 'a certificate is needed before shipping (R20)';

CREATE VIEW crm_1c.product WITH (security_invoker = true) AS
SELECT p.id, p.sku, p.name, p.gtin, p.equipment_type_id::integer AS equipment_type_id,
       p.made_in_house, p.stocked, p.shelf_life_days::integer AS shelf_life_days, p.unit,
       p.list_price::numeric(14, 2) AS list_price, p.active,
       date_trunc('second', p.created_at)::timestamp(0) AS created_at,
       p.code_1c, p.guid_1c
  FROM crm.product p;
COMMENT ON VIEW crm_1c.product IS 'products (Номенклатура)';
COMMENT ON COLUMN crm_1c.product.id IS 'key';
COMMENT ON COLUMN crm_1c.product.sku IS 'article (Артикул), unique';
COMMENT ON COLUMN crm_1c.product.name IS 'name';
COMMENT ON COLUMN crm_1c.product.gtin IS 'GTIN-14 (an EAN-13 with a leading zero)';
COMMENT ON COLUMN crm_1c.product.equipment_type_id IS 'equipment_type.id';
COMMENT ON COLUMN crm_1c.product.made_in_house IS 'the company makes it';
COMMENT ON COLUMN crm_1c.product.stocked IS 'kept in stock';
COMMENT ON COLUMN crm_1c.product.shelf_life_days IS 'shelf life in days, where goods expire';
COMMENT ON COLUMN crm_1c.product.unit IS 'unit of measure';
COMMENT ON COLUMN crm_1c.product.list_price IS 'list price, roubles';
COMMENT ON COLUMN crm_1c.product.active IS 'may be sold';
COMMENT ON COLUMN crm_1c.product.created_at IS 'created (local time)';
COMMENT ON COLUMN crm_1c.product.code_1c IS 'code in the old 1C (Код), when it came from there';
COMMENT ON COLUMN crm_1c.product.guid_1c IS 'GUID in the old 1C (Ид), when it came from there';

CREATE VIEW crm_1c.warehouse WITH (security_invoker = true) AS
SELECT w.id::integer AS id, w.code, w.name, w.address, w.active
  FROM crm.warehouse w;
COMMENT ON VIEW crm_1c.warehouse IS 'warehouses (Склады)';
COMMENT ON COLUMN crm_1c.warehouse.id IS 'key';
COMMENT ON COLUMN crm_1c.warehouse.code IS 'stable code';
COMMENT ON COLUMN crm_1c.warehouse.name IS 'name';
COMMENT ON COLUMN crm_1c.warehouse.address IS 'address';
COMMENT ON COLUMN crm_1c.warehouse.active IS 'in use';

CREATE VIEW crm_1c.task WITH (security_invoker = true) AS
SELECT t.id, t.kind, k.title AS kind_title, t.title, t.note,
       t.assignee_id::integer AS assignee_id, t.creator_id::integer AS creator_id, t.counterparty_id,
       date_trunc('second', t.due_at)::timestamp(0) AS due_at,
       date_trunc('second', t.done_at)::timestamp(0) AS done_at,
       t.done_at IS NOT NULL AS done,
       t.outcome,
       date_trunc('second', t.created_at)::timestamp(0) AS created_at
  FROM crm.task t JOIN crm.task_kind k ON k.code = t.kind;
COMMENT ON VIEW crm_1c.task IS 'tasks of employees (calls to make, offers of service, checks ...)';
COMMENT ON COLUMN crm_1c.task.id IS 'key';
COMMENT ON COLUMN crm_1c.task.kind IS 'kind code (call_client, general, ...)';
COMMENT ON COLUMN crm_1c.task.kind_title IS 'kind in Russian';
COMMENT ON COLUMN crm_1c.task.title IS 'what to do';
COMMENT ON COLUMN crm_1c.task.note IS 'details';
COMMENT ON COLUMN crm_1c.task.assignee_id IS 'employee.id who does it';
COMMENT ON COLUMN crm_1c.task.creator_id IS 'employee.id who gave it; NULL when the system did';
COMMENT ON COLUMN crm_1c.task.counterparty_id IS 'counterparty.id it is about';
COMMENT ON COLUMN crm_1c.task.due_at IS 'due (local time)';
COMMENT ON COLUMN crm_1c.task.done_at IS 'done (local time)';
COMMENT ON COLUMN crm_1c.task.done IS 'is done';
COMMENT ON COLUMN crm_1c.task.outcome IS 'result';
COMMENT ON COLUMN crm_1c.task.created_at IS 'created (local time)';

CREATE VIEW crm_1c.deal WITH (security_invoker = true) AS
SELECT d.id, d.title, d.counterparty_id, d.contact_id, d.department_id::integer AS department_id,
       d.manager_id::integer AS manager_id, d.stage, st.title AS stage_title, st.is_open,
       d.stage_reason, date_trunc('second', d.stage_changed_at)::timestamp(0) AS stage_changed_at,
       d.needs, d.application_area, d.equipment_type_id::integer AS equipment_type_id, d.processed_materials,
       d.payment_terms, d.delivery_terms, d.agreement_path,
       date_trunc('second', d.agreed_at)::timestamp(0) AS agreed_at,
       date_trunc('second', d.won_at)::timestamp(0) AS won_at,
       d.service_decision,
       a.net_amount::numeric(14, 2) AS net_amount, a.vat_amount::numeric(14, 2) AS vat_amount,
       a.total_amount::numeric(14, 2) AS total_amount, a.invoiced::numeric(14, 2) AS invoiced,
       a.paid::numeric(14, 2) AS paid,
       date_trunc('second', d.created_at)::timestamp(0) AS created_at,
       date_trunc('second', d.closed_at)::timestamp(0) AS closed_at
  FROM crm.deal d
  JOIN crm.deal_stage st ON st.code = d.stage
  LEFT JOIN crm.deal_amounts a ON a.deal_id = d.id;
COMMENT ON VIEW crm_1c.deal IS 'deals (Сделки) with their stage and amounts';
COMMENT ON COLUMN crm_1c.deal.id IS 'key';
COMMENT ON COLUMN crm_1c.deal.title IS 'title';
COMMENT ON COLUMN crm_1c.deal.counterparty_id IS 'counterparty.id';
COMMENT ON COLUMN crm_1c.deal.contact_id IS 'contact.id';
COMMENT ON COLUMN crm_1c.deal.department_id IS 'department.id';
COMMENT ON COLUMN crm_1c.deal.manager_id IS 'employee.id of the manager';
COMMENT ON COLUMN crm_1c.deal.stage IS 'equipment_selection, production, sale_from_stock, installation, service, closed, not_suitable';
COMMENT ON COLUMN crm_1c.deal.stage_title IS 'stage in Russian';
COMMENT ON COLUMN crm_1c.deal.is_open IS 'the deal is still being worked on';
COMMENT ON COLUMN crm_1c.deal.stage_reason IS 'why it is in its stage';
COMMENT ON COLUMN crm_1c.deal.stage_changed_at IS 'entered its stage (local time)';
COMMENT ON COLUMN crm_1c.deal.needs IS 'the client''s needs';
COMMENT ON COLUMN crm_1c.deal.application_area IS 'application area';
COMMENT ON COLUMN crm_1c.deal.equipment_type_id IS 'equipment_type.id';
COMMENT ON COLUMN crm_1c.deal.processed_materials IS 'type of processed materials';
COMMENT ON COLUMN crm_1c.deal.payment_terms IS 'payment terms';
COMMENT ON COLUMN crm_1c.deal.delivery_terms IS 'delivery terms';
COMMENT ON COLUMN crm_1c.deal.agreement_path IS 'proposal or direct';
COMMENT ON COLUMN crm_1c.deal.agreed_at IS 'the client agreed (local time)';
COMMENT ON COLUMN crm_1c.deal.won_at IS 'won: first signed contract or payment (local time)';
COMMENT ON COLUMN crm_1c.deal.service_decision IS 'accepted or declined service';
COMMENT ON COLUMN crm_1c.deal.net_amount IS 'lines without VAT, roubles';
COMMENT ON COLUMN crm_1c.deal.vat_amount IS 'VAT, roubles';
COMMENT ON COLUMN crm_1c.deal.total_amount IS 'lines with VAT, roubles';
COMMENT ON COLUMN crm_1c.deal.invoiced IS 'invoiced for payment, roubles';
COMMENT ON COLUMN crm_1c.deal.paid IS 'paid, roubles';
COMMENT ON COLUMN crm_1c.deal.created_at IS 'created (local time)';
COMMENT ON COLUMN crm_1c.deal.closed_at IS 'closed (local time)';

CREATE VIEW crm_1c.deal_line WITH (security_invoker = true) AS
SELECT l.id, l.deal_id, l.product_id, l.quantity::numeric(14, 3) AS quantity,
       l.unit_price::numeric(14, 2) AS unit_price, l.vat_rate::numeric(5, 2) AS vat_rate,
       l.net_amount::numeric(14, 2) AS net_amount, l.vat_amount::numeric(14, 2) AS vat_amount,
       l.total_amount::numeric(14, 2) AS total_amount, l.delivery_terms
  FROM crm.deal_line l;
COMMENT ON VIEW crm_1c.deal_line IS 'lines of deals: product, quantity, price';
COMMENT ON COLUMN crm_1c.deal_line.id IS 'key';
COMMENT ON COLUMN crm_1c.deal_line.deal_id IS 'deal.id';
COMMENT ON COLUMN crm_1c.deal_line.product_id IS 'product.id';
COMMENT ON COLUMN crm_1c.deal_line.quantity IS 'quantity';
COMMENT ON COLUMN crm_1c.deal_line.unit_price IS 'price of one unit without VAT, roubles';
COMMENT ON COLUMN crm_1c.deal_line.vat_rate IS 'VAT rate, percent';
COMMENT ON COLUMN crm_1c.deal_line.net_amount IS 'amount without VAT';
COMMENT ON COLUMN crm_1c.deal_line.vat_amount IS 'VAT';
COMMENT ON COLUMN crm_1c.deal_line.total_amount IS 'amount with VAT';
COMMENT ON COLUMN crm_1c.deal_line.delivery_terms IS 'delivery terms';

CREATE VIEW crm_1c.document WITH (security_invoker = true) AS
SELECT x.id, x.deal_id, d.counterparty_id, x.kind, k.title AS kind_title, x.number, x.issued_on, x.status,
       x.net_amount::numeric(14, 2) AS net_amount, x.vat_amount::numeric(14, 2) AS vat_amount,
       x.total_amount::numeric(14, 2) AS total_amount, x.valid_until, x.external_number, x.issuer,
       x.based_on_id, x.note, date_trunc('second', x.created_at)::timestamp(0) AS created_at
  FROM crm.document x JOIN crm.document_kind k ON k.code = x.kind JOIN crm.deal d ON d.id = x.deal_id;
COMMENT ON VIEW crm_1c.document IS 'documents of deals: proposals, invoices, contracts, consignment notes, VAT invoices, waybills, service contracts, certificates';
COMMENT ON COLUMN crm_1c.document.id IS 'key';
COMMENT ON COLUMN crm_1c.document.deal_id IS 'deal.id';
COMMENT ON COLUMN crm_1c.document.counterparty_id IS 'counterparty.id of the deal';
COMMENT ON COLUMN crm_1c.document.kind IS 'proposal, invoice, contract, consignment_note, vat_invoice, waybill, service_contract, certificate';
COMMENT ON COLUMN crm_1c.document.kind_title IS 'kind in Russian';
COMMENT ON COLUMN crm_1c.document.number IS 'number (prefix, year, sequence)';
COMMENT ON COLUMN crm_1c.document.issued_on IS 'date';
COMMENT ON COLUMN crm_1c.document.status IS 'issued, accepted, rejected, superseded or cancelled';
COMMENT ON COLUMN crm_1c.document.net_amount IS 'amount without VAT';
COMMENT ON COLUMN crm_1c.document.vat_amount IS 'VAT';
COMMENT ON COLUMN crm_1c.document.total_amount IS 'amount with VAT';
COMMENT ON COLUMN crm_1c.document.valid_until IS 'valid until (proposals, certificates)';
COMMENT ON COLUMN crm_1c.document.external_number IS 'number given by someone else (a certificate''s)';
COMMENT ON COLUMN crm_1c.document.issuer IS 'who issued it, when not us';
COMMENT ON COLUMN crm_1c.document.based_on_id IS 'document.id it was made from';
COMMENT ON COLUMN crm_1c.document.note IS 'note';
COMMENT ON COLUMN crm_1c.document.created_at IS 'created (local time)';

CREATE VIEW crm_1c.document_line WITH (security_invoker = true) AS
SELECT l.document_id || '/' || l.line_no AS id, l.document_id, l.line_no, l.deal_line_id, l.product_id,
       l.description, l.unit, l.quantity::numeric(14, 3) AS quantity, l.unit_price::numeric(14, 2) AS unit_price,
       l.vat_rate::numeric(5, 2) AS vat_rate, l.net_amount::numeric(14, 2) AS net_amount,
       l.vat_amount::numeric(14, 2) AS vat_amount, l.total_amount::numeric(14, 2) AS total_amount
  FROM crm.document_line l;
COMMENT ON VIEW crm_1c.document_line IS 'lines of documents as issued';
COMMENT ON COLUMN crm_1c.document_line.id IS 'key: document id / line number';
COMMENT ON COLUMN crm_1c.document_line.document_id IS 'document.id';
COMMENT ON COLUMN crm_1c.document_line.line_no IS 'line number in the document';
COMMENT ON COLUMN crm_1c.document_line.deal_line_id IS 'deal_line.id';
COMMENT ON COLUMN crm_1c.document_line.product_id IS 'product.id';
COMMENT ON COLUMN crm_1c.document_line.description IS 'what, as printed';
COMMENT ON COLUMN crm_1c.document_line.unit IS 'unit of measure';
COMMENT ON COLUMN crm_1c.document_line.quantity IS 'quantity';
COMMENT ON COLUMN crm_1c.document_line.unit_price IS 'price of one unit without VAT';
COMMENT ON COLUMN crm_1c.document_line.vat_rate IS 'VAT rate, percent';
COMMENT ON COLUMN crm_1c.document_line.net_amount IS 'amount without VAT';
COMMENT ON COLUMN crm_1c.document_line.vat_amount IS 'VAT';
COMMENT ON COLUMN crm_1c.document_line.total_amount IS 'amount with VAT';

CREATE VIEW crm_1c.payment WITH (security_invoker = true) AS
SELECT p.id, p.invoice_id, p.deal_id, p.counterparty_id, p.amount::numeric(14, 2) AS amount, p.paid_on,
       p.reference, date_trunc('second', p.created_at)::timestamp(0) AS created_at
  FROM crm.payment p;
COMMENT ON VIEW crm_1c.payment IS 'payments received against invoices';
COMMENT ON COLUMN crm_1c.payment.id IS 'key';
COMMENT ON COLUMN crm_1c.payment.invoice_id IS 'document.id of the invoice';
COMMENT ON COLUMN crm_1c.payment.deal_id IS 'deal.id';
COMMENT ON COLUMN crm_1c.payment.counterparty_id IS 'counterparty.id';
COMMENT ON COLUMN crm_1c.payment.amount IS 'amount, roubles';
COMMENT ON COLUMN crm_1c.payment.paid_on IS 'date of payment';
COMMENT ON COLUMN crm_1c.payment.reference IS 'bank reference (payment order number)';
COMMENT ON COLUMN crm_1c.payment.created_at IS 'recorded (local time)';

CREATE VIEW crm_1c.settlement WITH (security_invoker = true) AS
SELECT s.counterparty_id, s.name, s.opening::numeric(16, 2) AS opening, s.invoiced::numeric(16, 2) AS invoiced,
       s.shipped::numeric(16, 2) AS shipped, s.paid::numeric(16, 2) AS paid, s.balance::numeric(16, 2) AS balance,
       s.invoiced_unpaid::numeric(16, 2) AS invoiced_unpaid, o.as_of AS opening_as_of
  FROM crm.settlement s LEFT JOIN crm.opening_balance o ON o.counterparty_id = s.counterparty_id;
COMMENT ON VIEW crm_1c.settlement IS 'settlement balance per counterparty (Взаиморасчёты)';
COMMENT ON COLUMN crm_1c.settlement.counterparty_id IS 'key: counterparty.id';
COMMENT ON COLUMN crm_1c.settlement.name IS 'counterparty name';
COMMENT ON COLUMN crm_1c.settlement.opening IS 'balance carried over from the old 1C, roubles';
COMMENT ON COLUMN crm_1c.settlement.invoiced IS 'invoiced for payment in crm';
COMMENT ON COLUMN crm_1c.settlement.shipped IS 'shipped (consignment notes) in crm';
COMMENT ON COLUMN crm_1c.settlement.paid IS 'paid in crm';
COMMENT ON COLUMN crm_1c.settlement.balance IS 'opening + shipped - paid; positive: the counterparty owes us';
COMMENT ON COLUMN crm_1c.settlement.invoiced_unpaid IS 'invoiced and not yet paid';
COMMENT ON COLUMN crm_1c.settlement.opening_as_of IS 'date of the opening balance';

GRANT SELECT ON ALL TABLES IN SCHEMA crm_1c TO crm_reader, crm_admin;

-- A read-only login for 1C: a member of crm_reader, read-only by default,
-- looking at crm_1c first.  Its password is set by the DBA with psql's
-- \password (hashed on the client, never logged in clear).
CREATE FUNCTION crm.create_1c_login(login name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF login LIKE 'crm\_%' OR login LIKE 'pg\_%' THEN
    RAISE EXCEPTION 'login "%" is reserved', login USING ERRCODE = 'reserved_name';
  END IF;
  IF EXISTS (SELECT FROM pg_roles r WHERE r.rolname = login AND (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb)) THEN
    RAISE EXCEPTION 'role "%" is privileged', login USING ERRCODE = 'insufficient_privilege',
      DETAIL = 'The 1C login must be an ordinary role.';
  END IF;
  IF EXISTS (SELECT FROM crm.employee e WHERE e.role_name = login) THEN
    RAISE EXCEPTION 'role "%" is an employee', login USING ERRCODE = 'duplicate_object',
      DETAIL = 'The 1C login is a technical account of its own.';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = login) THEN
    EXECUTE format('CREATE ROLE %I LOGIN', login);
  END IF;
  EXECUTE format('GRANT crm_reader TO %I', login);
  EXECUTE format('ALTER ROLE %I SET default_transaction_read_only = on', login);
  EXECUTE format('ALTER ROLE %I SET search_path = crm_1c, crm', login);
END
$$;
COMMENT ON FUNCTION crm.create_1c_login(name) IS 'R24: creates the read-only login 1C connects with (member of crm_reader); set its password with \password';
REVOKE ALL ON FUNCTION crm.create_1c_login(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.create_1c_login(name) TO crm_admin;
