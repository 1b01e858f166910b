-- demo/60_marketing.sql: the move from the old 1C (R23), marketing's
-- segments and files (R26-R29), and the door 1C reads through (R24).
--
-- Once: the old 1C's catalogues (CommerceML import.xml and CSV in
-- windows-1251 and UTF-8), counterparties with their contact persons,
-- settlement balances, stock by warehouse and lot, and open customer orders
-- are imported from test/fixtures/1c (the files 1C would write); the demo's
-- own products and clients are found again by article and INN, nothing is
-- doubled.  Marketing (volkov) tags clients, builds two segments, asks for a
-- weekly telephone-marketing export and gives managers call tasks.  The 1C
-- login "onec" (password "demo") is created.
-- Every run: the two segments are written to /tmp/crm-demo/ as files --
-- obzvon.xlsx (telephone marketing) and mailchimp.csv (MailChimp import).
\set ON_ERROR_STOP 1
SELECT NOT EXISTS (SELECT FROM crm.migration_run) AS fresh_marketing \gset
\if :fresh_marketing
\echo demo: importing the old 1C (catalogues, counterparties, balances, stock, open orders)
-- names the old 1C uses that crm knows by other names
INSERT INTO crm.migration_map (kind, source, target) VALUES
  ('equipment_type', 'Климатическая техника', 'climatic'),
  ('warehouse', 'Склад СПб', 'spb'),
  ('employee', 'Петров Борис Сергеевич', 'petrov'),
  ('employee', 'Лебедева Екатерина Андреевна', 'lebedeva'),
  ('employee', 'Кузнецов Глеб Олегович', 'kuznetsov'),
  ('employee', 'Попов Дмитрий', 'popov'),
  ('employee', 'Новикова Мария Ивановна', 'novikova');
-- the files, as the administrator would pass them from psql
\set f_products `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/products.csv"`
\set f_import `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/import.xml"`
\set f_counterparties `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/counterparties.csv"`
\set f_contragents `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/contragents.xml"`
\set f_settlements `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/settlements.csv"`
\set f_stock `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/stock.csv"`
\set f_orders `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/orders.csv"`
SET ROLE smirnova;
SELECT r.kind, r.file_name, r.encoding, r.status, r.records, r.created, r.updated, r.unchanged, r.rejected
  FROM (VALUES (1, 'products', :'f_products', 'products.csv'), (2, 'commerceml', :'f_import', 'import.xml'),
               (3, 'counterparties', :'f_counterparties', 'counterparties.csv'),
               (4, 'commerceml', :'f_contragents', 'contragents.xml'), (5, 'settlements', :'f_settlements', 'settlements.csv'),
               (6, 'stock', :'f_stock', 'stock.csv'), (7, 'orders', :'f_orders', 'orders.csv')) f(n, kind, data, name),
       LATERAL crm.import_1c(f.kind, decode(f.data, 'base64'), f.name) r
 ORDER BY f.n;
-- what a refused file looks like: an order line for a product the old 1C
-- knew and crm does not; nothing of the file is loaded, the report says why
\set f_bad `base64 -w0 "${CRM_DEMO_TOP:-.}/test/fixtures/1c/orders_unknown_product.csv"`
SELECT r.id AS bad_run, r.status, r.rejected, r.sqlstate
  FROM crm.import_1c('orders', decode(:'f_bad', 'base64'), 'orders_unknown_product.csv') r \gset
SELECT :'status' AS status, :'sqlstate' AS sqlstate, e.line_no, e.natural_key AS order_no, e.reasons
  FROM crm.migration_error e WHERE e.run_id = :bad_run;
-- the 1C login for the ODBC external data source
SELECT crm.create_1c_login('onec');
RESET ROLE;
ALTER ROLE onec PASSWORD 'demo';
-- who agreed to be mailed (R26): every contact of the clients with an e-mail,
-- but not the supplier's people
UPDATE crm.contact k SET mailing_consent = true
  FROM crm.counterparty c
 WHERE c.id = k.counterparty_id AND c.kind IN ('client', 'lead')
   AND EXISTS (SELECT FROM crm.contact_point p WHERE p.contact_id = k.id AND p.kind = 'email');
\endif

SELECT NOT EXISTS (SELECT FROM crm.segment) AS fresh_segments \gset
\if :fresh_segments
\echo demo: marketing (volkov) tags clients, builds two segments, asks for a weekly export, gives call tasks
SET ROLE volkov;
SELECT count(crm.tag(c.id, 'выставка Химмаш-2024')) AS tagged
  FROM crm.counterparty c WHERE c.name IN ('Климатест', 'Нефтехимпром', 'Авиаприбор', 'ТермоЛаб');
SELECT count(crm.tag(c.id, 'ключевой клиент')) AS tagged
  FROM crm.counterparty c WHERE c.name IN ('Климатест', 'Авиаприбор');
INSERT INTO crm.segment (name, description, kinds, regions, has_email, mailing_consent) VALUES
  ('Рассылка: клиенты Москвы и области', 'клиенты и лиды из Москвы и области с согласием на рассылку',
   '{client,lead}', '{Москва,Московская область}', true, true);
INSERT INTO crm.segment (name, description, kinds, equipment_types, tags, has_phone) VALUES
  ('Обзвон: испытательное оборудование', 'кто интересовался климатическим и испытательным оборудованием или был на выставке',
   '{client,lead,partner}', NULL, '{выставка Химмаш-2024}', true);
SELECT crm.schedule_export('Обзвон: испытательное оборудование', 'phone', 'xlsx', '7 days', now() + interval '1 hour') > 0
  AS weekly_export_scheduled;
SELECT crm.give_call_tasks('Обзвон: испытательное оборудование',
                           'Пригласить на демонстрацию камеры КТК-800 в январе', now() + interval '3 days') AS call_tasks;
RESET ROLE;
\endif

-- the files marketing takes away, written every run
\! mkdir -p /tmp/crm-demo
\pset format unaligned
\pset tuples_only on
SET ROLE volkov;
SELECT encode(crm.export_segment('Обзвон: испытательное оборудование', 'phone', 'xlsx'), 'base64') \g /tmp/crm-demo/obzvon.b64
SELECT encode(crm.export_segment('Рассылка: клиенты Москвы и области', 'mailchimp', 'csv'), 'base64') \g /tmp/crm-demo/mailchimp.b64
RESET ROLE;
\! base64 -d /tmp/crm-demo/obzvon.b64 > /tmp/crm-demo/obzvon.xlsx && rm -f /tmp/crm-demo/obzvon.b64
\! base64 -d /tmp/crm-demo/mailchimp.b64 > /tmp/crm-demo/mailchimp.csv && rm -f /tmp/crm-demo/mailchimp.b64
\pset format aligned
\pset tuples_only off
\echo demo: telephone marketing list in /tmp/crm-demo/obzvon.xlsx, MailChimp import file in /tmp/crm-demo/mailchimp.csv
