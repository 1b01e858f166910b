-- test/integration/deal_fixture.sql: a company, a sales team and a client with
-- one agreed deal (proposal accepted, invoice issued) whose amounts are known:
-- 2 x 285 000 + 4 x 8 400 + 3 x 9 800 = 633 000,00 without VAT, 126 600,00
-- VAT, 759 600,00 in all.  Used by the deal_* integration scripts.  The company
-- name and address put "ё" before any plain "е" of their font, and the words
-- "ее" follow: the glyph trap of libharu (see deal_print.c).
\set ON_ERROR_STOP 1
INSERT INTO crm.company (name, legal_name, inn, kpp, ogrn, address, phone, email, website, bank_name, bank_bic,
                         bank_account, corr_account, director, accountant)
VALUES ('Счётприбор', 'ООО «Счётприбор» ее', '7707083893', '772801001', '1027700132195',
        '142100, г. Подольск, ул. Лётная, д. 12', '+7 495 100-00-00', 'sales@pumpmash.example', 'pumpmash.example',
        'ПАО Сбербанк', '044525225', '40702810500000001234', '30101810400000000225', 'Смирнова К. А.', 'Орлова Н. В.');
SELECT crm.hire('dfx_head', 'Анна Иванова', 'alto', 'head', 'ivanova@pumpmash.example', '+7 495 100-00-10');
SELECT crm.hire('dfx_mgr', 'Роман Соловьёв', 'alto', 'manager', 'solovyov@pumpmash.example', '+7 495 100-00-50');
SELECT crm.hire('dfx_other', 'Екатерина Лебедева', 'prom', 'manager');
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, department_id, responsible_id)
SELECT 'client', 'Климатест', 'АО «Климатест»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
       '40702810500000001234', '30101810400000000225', 'Москва, Научный проезд, 8', d.id, e.id
  FROM crm.department d, crm.employee e WHERE d.code = 'alto' AND e.role_name = 'dfx_mgr';
INSERT INTO crm.contact (counterparty_id, full_name)
SELECT id, 'Андрей Белов' FROM crm.counterparty WHERE name = 'Климатест';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
SELECT c.id, c.counterparty_id, v.kind, v.value, v.kind = 'phone'
  FROM crm.contact c, (VALUES ('phone', '+7 916 210-33-44'), ('email', 'belov@klimatest.example')) v(kind, value)
 WHERE c.full_name = 'Андрей Белов';
INSERT INTO crm.product (sku, name, unit, list_price) VALUES
  ('DFX-PUMP', 'Насос ЦНС 38-44', 'шт', 285000),
  ('DFX-SEAL', 'Уплотнение торцевое для ЦНС 38', 'шт', 8400),
  ('DFX-OIL', 'Масло компрессорное КС-19, 20 л', 'канистра', 9800);
SELECT crm.create_deal((SELECT id FROM crm.counterparty WHERE name = 'Климатест'), 'Насосы для ёмкостей: ее',
  equipment_type => 'pumps', application_area => 'оборотное водоснабжение',
  processed_materials => 'вода техническая, до 40 °C', title => 'Климатест: насосная станция',
  payment_terms => '50% предоплата, 50% по факту отгрузки',
  delivery_terms => 'самовывоз со склада в Подольске') AS fixture_deal \gset
SELECT crm.add_deal_line(:fixture_deal, (SELECT id FROM crm.product WHERE sku = 'DFX-PUMP'), 2,
                         delivery_terms => 'со склада, 5 дней') > 0 AS line;
SELECT crm.add_deal_line(:fixture_deal, (SELECT id FROM crm.product WHERE sku = 'DFX-SEAL'), 4) > 0 AS line;
SELECT crm.add_deal_line(:fixture_deal, (SELECT id FROM crm.product WHERE sku = 'DFX-OIL'), 3) > 0 AS line;
SELECT crm.accept_document(crm.create_document(:fixture_deal, 'proposal'));
SELECT crm.create_document(:fixture_deal, 'invoice') > 0 AS invoiced;
