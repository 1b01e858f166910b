-- marketing_segment: tags, segments and their members (R27, R28), the names
-- a mailing uses, and the task "call the client" marketing gives (R29).
-- Everything runs in one transaction that is rolled back at the end.
\pset null '(null)'
BEGIN;
SET LOCAL timezone = 'Europe/Moscow';

-- runs a statement, returns 'ok' or 'SQLSTATE: message'
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- the same, with the numbers in the message (ids) masked
CREATE FUNCTION pg_temp.try_n(stmt text) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(pg_temp.try(stmt), '([^0-9A-Z])[0-9]+', '\1N', 'g')
$$;

-- R27: first and last name for MailChimp from a full name as people write it
SELECT n AS full_name, (crm.person_name(n)).*
  FROM unnest(ARRAY['Иванов Иван Иванович', 'Иван Иванович Иванов', 'Иванова Анна', 'Анна Иванова',
                    'Марина Кузнецова', 'ИВАНОВ ИВАН', 'Ким', E'  Юлия\u00a0 Ким ', 'Anna Smith',
                    'Anna Maria Smith', 'Мамедов Ильхам Гейдар оглы', 'Петренко Ольга', 'Иванов  Иван  Иванович младший',
                    '', '   ']) n;
SELECT crm.person_name(NULL) IS NULL AS null_name_gives_null;

-- the company: two sales departments (Testing under Alto), marketing
SELECT crm.hire('regress_mkt', 'Зоя Маркетинг', 'marketing', 'marketing') > 0 AS hired;
SELECT crm.hire('regress_mkt_mgr', 'Борис Первый', 'alto', 'manager') > 0 AS hired;
SELECT crm.hire('regress_mkt_tester', 'Глеб Испытатель', 'testing', 'manager') > 0 AS hired;
SELECT crm.hire('regress_mkt_head', 'Дарья Промова', 'prom', 'head') > 0 AS hired;
SELECT crm.hire('regress_mkt_wh', 'Игорь Склад', 'warehouse', 'warehouse') > 0 AS hired;
CREATE FUNCTION pg_temp.emp(r text) RETURNS integer LANGUAGE sql AS $$ SELECT id FROM crm.employee WHERE role_name = r $$;
SELECT pg_temp.emp('regress_mkt_wh') AS wh \gset

INSERT INTO crm.counterparty (kind, name, region, department_id, responsible_id) VALUES
  ('client', 'Альфа-Насос', 'Москва', (SELECT id FROM crm.department WHERE code = 'alto'), pg_temp.emp('regress_mkt_mgr')),
  ('client', 'Бета Термо', '  москва ', (SELECT id FROM crm.department WHERE code = 'testing'), pg_temp.emp('regress_mkt_tester')),
  ('lead', 'Гамма', 'Татарстан', (SELECT id FROM crm.department WHERE code = 'prom'), NULL),
  ('partner', 'Дельта', 'Татарстан', (SELECT id FROM crm.department WHERE code = 'prom'), pg_temp.emp('regress_mkt_head')),
  ('supplier', 'Эпсилон', NULL, NULL, NULL),
  ('lead', 'Жёлудь', NULL, NULL, NULL);
CREATE FUNCTION pg_temp.cp(n text) RETURNS bigint LANGUAGE sql AS $$ SELECT id FROM crm.counterparty WHERE name = n $$;
INSERT INTO crm.contact (counterparty_id, full_name, position)
SELECT pg_temp.cp(c), f, p FROM (VALUES
  ('Альфа-Насос', 'Орлов Пётр Сергеевич', 'главный механик'),
  ('Альфа-Насос', 'Анна Смирнова', 'снабжение'),
  ('Бета Термо', 'Ким Юлия', NULL),
  ('Гамма', 'Гусейнов Рамиль', NULL),
  ('Дельта', 'Шубин Алексей', 'коммерческий директор'),
  ('Эпсилон', 'Фролов Денис', NULL),
  ('Жёлудь', NULL, NULL)) AS x(c, f, p);
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
SELECT k.id, k.counterparty_id, x.kind, x.value, x.prim
  FROM (VALUES
    ('Орлов Пётр Сергеевич', 'phone', '8 (495) 111-22-33 доб. 12', false),
    ('Орлов Пётр Сергеевич', 'phone', '+7 916 111 22 33', true),
    ('Орлов Пётр Сергеевич', 'email', 'orlov@alfa.example', false),
    ('Анна Смирнова', 'email', 'Smirnova@Alfa.example', true),
    ('Анна Смирнова', 'email', 'anna@alfa.example', false),
    ('Ким Юлия', 'phone', '8 812 600 70 70', false),
    ('Гусейнов Рамиль', 'email', 'ramil@gamma.example', false),
    ('Шубин Алексей', 'phone', '+7 343 300 20 10', false),
    ('Фролов Денис', 'email', 'frolov@eps.example', false)) AS x(n, kind, value, prim)
  JOIN crm.contact k ON k.full_name = x.n;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'phone', '8 900 000 00 01' FROM crm.contact WHERE full_name IS NULL;
UPDATE crm.contact SET mailing_consent = true WHERE full_name IN ('Орлов Пётр Сергеевич', 'Фролов Денис', 'Ким Юлия');
SELECT pg_temp.cp('Альфа-Насос') AS alfa, pg_temp.cp('Бета Термо') AS beta, pg_temp.cp('Гамма') AS gamma,
       pg_temp.cp('Дельта') AS delta, pg_temp.cp('Жёлудь') AS zhelud \gset

-- R27: tags are marketing's; no comma (MailChimp's list separator), unique regardless of case
SET ROLE regress_mkt;
SELECT crm.tag(:alfa, 'выставка-2024', 'VIP') AS added;
SELECT crm.tag(:alfa, 'vip') AS added_again;
SELECT crm.tag(:beta, 'Выставка-2024') AS added;
SELECT crm.tag(:delta, 'VIP', 'не звонить') AS added;
SELECT pg_temp.try(format($$SELECT crm.tag(%s, 'a,b')$$, :alfa)) AS comma_in_tag;
SELECT pg_temp.try(format($$SELECT crm.tag(%s, '  ')$$, :alfa)) AS blank_tag;
SELECT pg_temp.try($$SELECT crm.tag(-1, 'VIP')$$) AS unknown_counterparty;
RESET ROLE;
SELECT name FROM crm.tag ORDER BY lower(name);
-- a manager tags their own counterparty with an existing tag, cannot invent one
SET ROLE regress_mkt_mgr;
SELECT pg_temp.try(format($$SELECT crm.tag(%s, 'Новый тег')$$, :alfa)) AS manager_new_tag;
SELECT crm.untag(:alfa, 'выставка-2024') AS removed;
SELECT pg_temp.try_n(format($$SELECT crm.tag(%s, 'VIP')$$, :delta)) AS manager_tags_others;
SELECT crm.tag(:alfa, 'Выставка-2024') AS added_back;
RESET ROLE;

-- R27: segments are data; their codes and tags must exist
SET ROLE regress_mkt;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, departments) VALUES ('x', '{nowhere}')$$) AS unknown_department;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, equipment_types) VALUES ('x', '{toasters}')$$) AS unknown_equipment;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, tags) VALUES ('x', '{нет такого}')$$) AS unknown_tag;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, exclude_tags) VALUES ('x', '{нет такого}')$$) AS unknown_excluded_tag;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, kinds) VALUES ('x', '{customer}')$$) AS unknown_kind;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, active_within) VALUES ('x', '-1 day')$$) AS negative_window;
SELECT pg_temp.try($$INSERT INTO crm.segment (name, active_within, inactive_for) VALUES ('x', '30 days', '90 days')$$) AS empty_window;
SELECT pg_temp.try($$INSERT INTO crm.segment (name) VALUES ('  ')$$) AS blank_name;
INSERT INTO crm.segment (name, kinds, departments, regions, tags, exclude_tags, has_email, has_phone, equipment_types,
                         active_within, inactive_for) VALUES
  ('Все', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('Клиенты Alto', '{client}', '{alto}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('Москва', NULL, NULL, '{МОСКВА}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('VIP без отказников', NULL, NULL, NULL, '{vip}', '{Не звонить}', NULL, NULL, NULL, NULL, NULL),
  ('С почтой', '{lead,client,partner}', NULL, NULL, NULL, NULL, true, NULL, NULL, NULL, NULL),
  ('Без телефона', NULL, NULL, NULL, NULL, NULL, NULL, false, NULL, NULL, NULL),
  ('Климат', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{climatic}', NULL, NULL),
  ('Активные за неделю', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '7 days', NULL),
  ('Спящие полгода', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '180 days');
-- R26 R27: consent to mailing is the contact's (the MailChimp integration's column)
INSERT INTO crm.segment (name, has_email, mailing_consent) VALUES ('Согласились на рассылку', true, true);
SELECT pg_temp.try($$INSERT INTO crm.segment (name) VALUES ('все')$$) AS duplicate_name;
RESET ROLE;
SET ROLE regress_mkt_mgr;
SELECT pg_temp.try($$INSERT INTO crm.segment (name) VALUES ('Мой')$$) AS manager_makes_segment;
RESET ROLE;

-- activity: Гамма came two years ago and nothing happened since; Дельта
-- came a year ago but a call about it was done yesterday
UPDATE crm.counterparty SET created_at = now() - interval '2 years' WHERE name IN ('Гамма', 'Эпсилон', 'Жёлудь');
UPDATE crm.counterparty SET created_at = now() - interval '1 year' WHERE name IN ('Дельта', 'Бета Термо');
INSERT INTO crm.task (kind, title, assignee_id, counterparty_id, done_at, outcome)
VALUES ('call_client', 'Позвонить', pg_temp.emp('regress_mkt_head'), :delta, now() - interval '1 day', 'договорились');
-- the intake's history: Эпсилон called two days ago and was answered (a
-- contact); Жёлудь called and nobody answered (activity, not a contact)
INSERT INTO crm.interaction (channel, source, direction, occurred_at, counterparty_id, dedup_key, disposition)
VALUES ('phone', 'pbx', 'in', now() - interval '2 days', (SELECT id FROM crm.counterparty WHERE name = 'Эпсилон'),
        'call:regress-mkt-1', 'ANSWERED'),
       ('phone', 'pbx', 'in', now() - interval '3 days', :zhelud, 'call:regress-mkt-2', 'NO ANSWER');

-- R27: equipment interest from a deal (climatic) for Бета Термо
UPDATE crm.counterparty SET legal_name = 'ООО «Бета Термо»', inn = '7844556679', kpp = '780101001',
       bank_name = 'ПАО Сбербанк', bank_bic = '044525225', bank_account = '40702810938000012345',
       corr_account = '30101810400000000225', physical_address = 'Санкт-Петербург, Кантемировская ул., 7',
       legal_address = 'Санкт-Петербург, Кантемировская ул., 7'
 WHERE name = 'Бета Термо';
SELECT crm.create_deal(:beta, 'Камера тепла-холода на -70..+150', equipment_type => 'climatic') > 0 AS deal;

-- the members of each segment, as marketing sees them
SET ROLE regress_mkt;
SELECT s.name AS segment, m.company, m.contact_name, m.email, m.phone, m.tags, m.mailing_consent AS consent
  FROM crm.segment s, crm.segment_members(s.id) m ORDER BY s.id, m.company, m.contact_name;
-- one row in full: every phone with its extension, primary first; primary e-mail
SELECT kind, company, region, department, responsible, contact_name, first_name, last_name, position, email,
       phone, phones, tags, last_activity_at > now() - interval '1 hour' AS active_now, last_contact_at, mailing_consent
  FROM crm.segment_members('Клиенты Alto') WHERE contact_name = 'Орлов Пётр Сергеевич' \gx
-- last activity and last contact: Дельта's call task done yesterday,
-- Эпсилон's answered call; Жёлудь's missed call is activity, not a contact
SELECT company, last_activity_at > now() - interval '4 days' AS recent, last_contact_at > now() - interval '4 days' AS spoke
  FROM crm.segment_members('Все') WHERE company IN ('Дельта', 'Гамма', 'Эпсилон', 'Жёлудь') ORDER BY 1;
SELECT pg_temp.try($$SELECT * FROM crm.segment_members('Нет такого')$$) AS unknown_segment_name;
SELECT pg_temp.try($$SELECT * FROM crm.segment_members(-1)$$) AS unknown_segment_id;
RESET ROLE;

-- a manager cannot see marketing's whole base through a segment
SET ROLE regress_mkt_mgr;
SELECT pg_temp.try($$SELECT count(*) FROM crm.segment_members('Все')$$) AS manager_members;
RESET ROLE;

-- R29: marketing gives a manager "call the client", with a note and due date
SET ROLE regress_mkt;
SELECT crm.give_call_task(:alfa, 'Предложить новый ЦНС 60, акция до конца месяца',
                          now() + interval '3 days') > 0 AS given;
-- nobody responsible for Гамма: the head of its department (Prom) gets it
SELECT crm.give_call_task(:gamma, 'Узнать, актуален ли запрос', now() + interval '1 day') > 0 AS given;
SELECT pg_temp.try(format($$SELECT crm.give_call_task(%s, 'x', now() - interval '1 day')$$, :delta)) AS due_in_past;
SELECT pg_temp.try(format($$SELECT crm.give_call_task(%s, '  ', now() + interval '1 day')$$, :delta)) AS no_note;
SELECT pg_temp.try(format($$SELECT crm.give_call_task(%s, 'x', NULL)$$, :delta)) AS no_due;
SELECT pg_temp.try(format($$SELECT crm.give_call_task(%s, 'x', now() + interval '1 day')$$, :zhelud)) AS nobody_responsible;
SELECT pg_temp.try_n(format($$SELECT crm.give_call_task(%s, 'x', now() + interval '1 day', %s)$$,
                          :delta, :wh)) AS not_a_sales_person;
SELECT pg_temp.try($$SELECT crm.give_call_task(-1, 'x', now() + interval '1 day')$$) AS unknown_counterparty;
-- for a whole segment: once per counterparty and day, however often it is run
SELECT crm.give_call_tasks('VIP без отказников', 'Пригласить на выставку', now() + interval '5 days') AS created;
SELECT crm.give_call_tasks('VIP без отказников', 'Пригласить на выставку', now() + interval '5 days') AS created_again;
SELECT crm.give_call_tasks('Все', 'Поздравить с Новым годом', now() + interval '5 days') AS created;
RESET ROLE;
SELECT t.kind, t.title, t.note, a.role_name AS assignee, c.role_name AS creator, t.due_at > now() AS due_ahead
  FROM crm.task t JOIN crm.employee a ON a.id = t.assignee_id LEFT JOIN crm.employee c ON c.id = t.creator_id
 WHERE t.creator_id IS NOT NULL ORDER BY t.note, t.title;
-- the manager is told at once, and sees the task
SELECT r.role_name AS recipient, n.kind, n.message FROM crm.notification n JOIN crm.employee r ON r.id = n.recipient_id
 WHERE n.kind = 'call_client' ORDER BY n.message;
SET ROLE regress_mkt_mgr;
SELECT title, note FROM crm.task WHERE kind = 'call_client' ORDER BY note;
RESET ROLE;

ROLLBACK;
