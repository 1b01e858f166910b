-- schema: the core data model (R1, R2, R7) and every constraint's rejection
-- with its SQLSTATE.  Rejected statements leave nothing behind.
\pset null '(null)'

-- runs a statement, returns 'ok' or 'SQLSTATE: message'
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- R1: the seeded departments; Testing belongs to Alto
SELECT d.code, d.name, d.kind, p.code AS parent, d.builtin
  FROM crm.department d LEFT JOIN crm.department p ON p.id = d.parent_id ORDER BY d.id;
-- R20: certification rule per equipment type is data
SELECT code, certification_required FROM crm.equipment_type ORDER BY id;

-- R1: department constraints
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind) VALUES ('Bad Code', 'X', 'sales')$$);
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind) VALUES ('x', '  ', 'sales')$$);
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind) VALUES ('x', 'X', 'finance')$$);
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind) VALUES ('lab', 'Lab', 'testing')$$);
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind) VALUES ('alto', 'Alto 2', 'sales')$$);
SELECT pg_temp.try($$UPDATE crm.department SET parent_id = id WHERE code = 'prom'$$);
SELECT pg_temp.try($$INSERT INTO crm.department (code, name, kind, parent_id) VALUES ('x', 'X', 'sales', 9999)$$);

-- R2: employees are login roles in the group role of their position
SELECT crm.hire('regress_head_alto', 'Анна Иванова', 'alto', 'head', 'anna@example.com', '+7 916 000 00 01') > 0 AS hired;
SELECT crm.hire('regress_mgr_alto', 'Борис Петров', 'alto', 'manager') > 0 AS hired;
SELECT e.role_name, e.full_name, d.code, e.position, e.email, e.phone,
       pg_has_role(e.role_name, 'crm_' || e.position, 'member') AS in_group,
       r.rolcanlogin, r.rolbypassrls
  FROM crm.employee e JOIN crm.department d ON d.id = e.department_id
  JOIN pg_roles r ON r.rolname = e.role_name ORDER BY e.id;
SELECT pg_temp.try($$SELECT crm.hire('regress_x', 'X', 'nowhere', 'manager')$$);
SELECT pg_temp.try($$SELECT crm.hire('crm_admin', 'X', 'alto', 'manager')$$);
SELECT pg_temp.try($$SELECT crm.hire(current_user, 'X', 'alto', 'manager')$$);
SELECT pg_temp.try($$SELECT crm.hire('regress_x', 'X', 'alto', 'boss')$$);
SELECT pg_temp.try($$SELECT crm.hire('regress_head_alto', 'Again', 'alto', 'head')$$);
SELECT pg_temp.try($$SELECT crm.hire('regress_x', '', 'alto', 'manager')$$);
SELECT pg_temp.try($$SELECT crm.hire('regress_x', 'X', 'alto', 'manager', 'not-an-email')$$);
SELECT pg_temp.try($$SELECT crm.hire('regress_x', 'X', 'alto', 'manager', NULL, '12-34')$$);
-- a rejected hire leaves no employee and no role behind
SELECT count(*) AS employees_x FROM crm.employee WHERE role_name = 'regress_x';
SELECT count(*) AS roles_x FROM pg_roles WHERE rolname = 'regress_x';
-- the group roles: nobody logs in or bypasses RLS through them
SELECT rolname, rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname LIKE 'crm\_%' ORDER BY 1;

-- R7: counterparties
SELECT pg_temp.try($$INSERT INTO crm.counterparty (kind, name) VALUES ('prospect', 'X')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name) VALUES ('')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, inn) VALUES ('X', '123456789')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, inn) VALUES ('X', '77070838930')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, inn, kpp) VALUES ('X', '7707083893', '77010100')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, inn, kpp) VALUES ('X', '500100732259', '773601001')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, kpp) VALUES ('X', '773601001')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, ogrn) VALUES ('X', '10277000132')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, bank_bic) VALUES ('X', '44525225')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, bank_account) VALUES ('X', '4070281003800000000')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, corr_account) VALUES ('X', '3010181040000000022A')$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, department_id) VALUES ('X', 9999)$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, responsible_id) VALUES ('X', 9999)$$);
SELECT pg_temp.try($$INSERT INTO crm.counterparty (name, legal_name) VALUES ('X', ' ')$$);
SELECT count(*) AS counterparties_after_rejections FROM crm.counterparty;

INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, ogrn, bank_bic, bank_account, corr_account, department_id)
  SELECT 'client', 'Сбербанк', 'ПАО Сбербанк', '7707083893', '773601001', '1027700132195',
         '044525225', '40702810038000000001', '30101810400000000225', id
    FROM crm.department WHERE code = 'alto';
INSERT INTO crm.counterparty (kind, name, inn) VALUES ('lead', 'ИП Сидоров', '500100732259');
SELECT kind, name, inn, kpp, created_at = updated_at AS untouched FROM crm.counterparty ORDER BY id;
UPDATE crm.counterparty SET note = 'проверено' WHERE name = 'ИП Сидоров';
SELECT name, updated_at >= created_at AS touched FROM crm.counterparty WHERE name = 'ИП Сидоров';

-- R6: contacts and contact points; the normalised value is unique company-wide
INSERT INTO crm.contact (counterparty_id, full_name)
  SELECT id, 'Герман Греф' FROM crm.counterparty WHERE name = 'Сбербанк';
INSERT INTO crm.contact (counterparty_id, full_name)
  SELECT id, 'Пётр Сидоров' FROM crm.counterparty WHERE name = 'ИП Сидоров';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT c.id, c.counterparty_id, k, v
    FROM crm.contact c,
         (VALUES ('phone', '8 (495) 500-55-50 доб. 12'), ('email', ' GREF@Sberbank.RU ')) t(k, v)
   WHERE c.full_name = 'Герман Греф';
SELECT kind, value, normalized, extension FROM crm.contact_point ORDER BY id;
SELECT pg_temp.try($$INSERT INTO crm.contact (counterparty_id, full_name) VALUES (9999, 'X')$$);
SELECT pg_temp.try($$INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, '' FROM crm.counterparty LIMIT 1$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', 'позвоните мне' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'email', 'sidorov at mail.ru' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'fax', '+7 495 500 55 50' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '  ' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
-- the same number written another way, for another counterparty's contact
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '+7 495 5005550' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'email', 'Gref@sberbank.ru' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
-- a contact point must name its contact's own counterparty
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT c.id, o.id, 'phone', '+7 916 111 22 33' FROM crm.contact c, crm.counterparty o
   WHERE c.full_name = 'Пётр Сидоров' AND o.name = 'Сбербанк'$$);
SELECT pg_temp.try($$INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, normalized)
  SELECT id, counterparty_id, 'phone', '+7 916 111 22 33', '+79161112233' FROM crm.contact WHERE full_name = 'Пётр Сидоров'$$);
SELECT count(*) AS contact_points_after_rejections FROM crm.contact_point;
-- moving a contact to another counterparty carries its points along
UPDATE crm.contact SET counterparty_id = (SELECT id FROM crm.counterparty WHERE name = 'ИП Сидоров')
 WHERE full_name = 'Герман Греф';
SELECT count(*) AS points_following FROM crm.contact_point p JOIN crm.contact c ON c.id = p.contact_id
 WHERE p.counterparty_id = c.counterparty_id;

-- catalog: products and warehouses
INSERT INTO crm.product (sku, name, gtin, equipment_type_id, made_in_house, shelf_life_days)
  SELECT 'P-1', 'Насос ЦНС 38-44', '04600000000015', id, true, NULL FROM crm.equipment_type WHERE code = 'pumps';
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name) VALUES ('P-1', 'Дубль')$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name) VALUES (' ', 'X')$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, gtin) VALUES ('P-2', 'X', '460000000001')$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, gtin) VALUES ('P-2', 'X', '04600000000015')$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, list_price) VALUES ('P-2', 'X', -1)$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, shelf_life_days) VALUES ('P-2', 'X', 0)$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, equipment_type_id) VALUES ('P-2', 'X', 9999)$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, unit) VALUES ('P-2', 'X', '')$$);
SELECT pg_temp.try($$INSERT INTO crm.warehouse (code, name) VALUES ('Main', 'X')$$);
INSERT INTO crm.warehouse (code, name) VALUES ('main', 'Основной склад');
SELECT pg_temp.try($$INSERT INTO crm.warehouse (code, name) VALUES ('main', 'X')$$);
SELECT pg_temp.try($$INSERT INTO crm.equipment_type (code, name) VALUES ('pumps', 'X')$$);

-- tasks and notifications
SELECT pg_temp.try($$INSERT INTO crm.task (kind, title, assignee_id) SELECT 'dance', 'X', id FROM crm.employee LIMIT 1$$);
SELECT pg_temp.try($$INSERT INTO crm.task (title, assignee_id) SELECT ' ', id FROM crm.employee LIMIT 1$$);
SELECT pg_temp.try($$INSERT INTO crm.task (title, assignee_id) VALUES ('X', 9999)$$);
SELECT pg_temp.try($$INSERT INTO crm.task (title, assignee_id, outcome) SELECT 'X', id, 'done' FROM crm.employee LIMIT 1$$);
INSERT INTO crm.task (kind, title, assignee_id, dedup_key)
  SELECT 'call_client', 'Позвонить', id, 'regress:1' FROM crm.employee WHERE role_name = 'regress_mgr_alto';
SELECT pg_temp.try($$INSERT INTO crm.task (kind, title, assignee_id, dedup_key)
  SELECT 'call_client', 'Позвонить', id, 'regress:1' FROM crm.employee WHERE role_name = 'regress_mgr_alto'$$);
SELECT count(*) AS tasks FROM crm.task;
SELECT pg_temp.try($$INSERT INTO crm.notification (recipient_id, kind, message) SELECT id, 'New Lead', 'X' FROM crm.employee LIMIT 1$$);
SELECT pg_temp.try($$INSERT INTO crm.notification (recipient_id, kind, message) SELECT id, 'x', '' FROM crm.employee LIMIT 1$$);
SELECT crm.notify(id, 'hello', 'Добро пожаловать', '{"a": 1}') > 0 AS notified
  FROM crm.employee WHERE role_name = 'regress_mgr_alto';
SELECT kind, message, payload, read_at FROM crm.notification;

-- every table of the schema has row-level security enabled and forced
-- (listed: the tables that do not; other concerns' tables are covered too)
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
  FROM pg_class c WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r'
   AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1;
-- SECURITY DEFINER functions pin their search_path
SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');
-- user tables are kept by pg_dump (the core tables; each concern checks its own)
SELECT c::regclass AS config_table, cond FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(c, cond)
 WHERE e.extname = 'crm' AND regexp_replace(c::regclass::text, '_id_seq$', '') IN ('crm.department', 'crm.employee', 'crm.counterparty',
   'crm.contact', 'crm.contact_point', 'crm.equipment_type', 'crm.product', 'crm.warehouse', 'crm.task_kind',
   'crm.task', 'crm.notification', 'crm.job')
 ORDER BY c::regclass::text;

-- clean up the cluster-wide roles hire() created
DELETE FROM crm.task;
DELETE FROM crm.notification;
DELETE FROM crm.employee WHERE role_name LIKE 'regress\_%';
DROP ROLE regress_head_alto, regress_mgr_alto;
