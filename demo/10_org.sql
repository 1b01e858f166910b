-- demo/10_org.sql: the people of the company (R1, R2) and its catalogue.
SELECT NOT EXISTS (SELECT FROM crm.employee WHERE role_name = 'ivanova') AS fresh \gset
\if :fresh
\echo demo: loading employees, products, warehouses, counterparties
BEGIN;
SELECT count(crm.hire(login, full_name, dep, pos, email, phone)) AS hired
  FROM (VALUES
    ('smirnova', 'Кира Смирнова', 'management', 'admin', 'smirnova@pumpmash.example', '+7 495 100-00-01'),
    ('ivanova', 'Анна Иванова', 'alto', 'head', 'ivanova@pumpmash.example', '+7 495 100-00-10'),
    ('petrov', 'Борис Петров', 'alto', 'manager', 'petrov@pumpmash.example', '+7 495 100-00-11'),
    ('sokolova', 'Вера Соколова', 'alto', 'manager', 'sokolova@pumpmash.example', '+7 495 100-00-12'),
    ('kuznetsov', 'Глеб Кузнецов', 'testing', 'manager', 'kuznetsov@pumpmash.example', '+7 495 100-00-13'),
    ('popov', 'Дмитрий Попов', 'prom', 'head', 'popov@pumpmash.example', '+7 495 100-00-20'),
    ('lebedeva', 'Екатерина Лебедева', 'prom', 'manager', 'lebedeva@pumpmash.example', '+7 495 100-00-21'),
    ('kozlov', 'Иван Козлов', 'plazo', 'head', 'kozlov@pumpmash.example', '+7 495 100-00-30'),
    ('novikova', 'Мария Новикова', 'plazo', 'manager', 'novikova@pumpmash.example', '+7 495 100-00-31'),
    ('morozova', 'Ольга Морозова', 'management', 'triage', 'morozova@pumpmash.example', '+7 495 100-00-02'),
    ('volkov', 'Павел Волков', 'marketing', 'marketing', 'volkov@pumpmash.example', '+7 495 100-00-40'),
    ('solovyov', 'Роман Соловьёв', 'warehouse', 'warehouse', 'solovyov@pumpmash.example', '+7 495 100-00-50'),
    ('vasiliev', 'Сергей Васильев', 'production', 'production', 'vasiliev@pumpmash.example', '+7 495 100-00-60'),
    ('zaitseva', 'Татьяна Зайцева', 'service', 'service', 'zaitseva@pumpmash.example', '+7 495 100-00-70')
  ) AS e(login, full_name, dep, pos, email, phone);
DO $$
DECLARE r text;
BEGIN
  FOR r IN SELECT role_name FROM crm.employee LOOP
    EXECUTE format('ALTER ROLE %I PASSWORD %L', r, 'demo');
  END LOOP;
END $$;

INSERT INTO crm.warehouse (code, name, address) VALUES
  ('main', 'Основной склад', 'Московская обл., г. Подольск, ул. Заводская, 12'),
  ('spb', 'Склад Санкт-Петербург', 'Санкт-Петербург, Промышленная ул., 5');

-- GTIN-13 with its check digit, stored as GTIN-14
CREATE FUNCTION pg_temp.gtin(body text) RETURNS text LANGUAGE sql AS $$
  SELECT '0' || body || ((10 - (sum(substr(body, i, 1)::int * CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END) % 10)) % 10)::text
    FROM generate_series(1, 12) i
$$;
INSERT INTO crm.product (sku, name, gtin, equipment_type_id, made_in_house, stocked, shelf_life_days, unit, list_price)
SELECT p.sku, p.name, pg_temp.gtin('460123456' || lpad(p.n::text, 3, '0')), t.id, p.mih, p.st, p.shelf, p.unit, p.price
  FROM (VALUES
    (1, 'PN-CNS-38', 'Насос ЦНС 38-44', 'pumps', true, true, NULL, 'шт', 285000),
    (2, 'PN-CNS-60', 'Насос ЦНС 60-99', 'pumps', true, true, NULL, 'шт', 412000),
    (3, 'PN-K-80', 'Насос К 80-50-200', 'pumps', true, true, NULL, 'шт', 96500),
    (4, 'PN-NB-50', 'Насос шламовый НБ-50', 'pumps', true, false, NULL, 'шт', 530000),
    (5, 'PN-GRN-12', 'Насос погружной Grundfos SP 12', 'pumps', false, true, NULL, 'шт', 174000),
    (6, 'PN-DOS-2', 'Насос-дозатор НД 2,5', 'pumps', false, false, NULL, 'шт', 88000),
    (7, 'CM-VK-5', 'Компрессор винтовой ВК-5', 'compressors', true, true, NULL, 'шт', 640000),
    (8, 'CM-VK-15', 'Компрессор винтовой ВК-15', 'compressors', true, true, NULL, 'шт', 1150000),
    (9, 'CM-PK-3', 'Компрессор поршневой ПК-3', 'compressors', true, false, NULL, 'шт', 310000),
    (10, 'CM-ATL-22', 'Компрессор Atlas Copco GA 22', 'compressors', false, true, NULL, 'шт', 1890000),
    (11, 'CM-OSU-1', 'Осушитель воздуха ОСВ-1', 'compressors', false, true, NULL, 'шт', 145000),
    (12, 'KL-KTK-800', 'Камера тепла-холода КТК-800', 'climatic', true, false, NULL, 'шт', 2450000),
    (13, 'KL-KTV-500', 'Камера тепла-влаги КТВ-500', 'climatic', true, false, NULL, 'шт', 2100000),
    (14, 'KL-KSK-1000', 'Камера солевого тумана КСТ-1000', 'climatic', true, true, NULL, 'шт', 1780000),
    (15, 'KL-TS-60', 'Термошкаф ТШ-60', 'climatic', false, true, NULL, 'шт', 265000),
    (16, 'SM-VS-300', 'Вибростенд ВС-300', 'simulation', true, false, NULL, 'шт', 3900000),
    (17, 'SM-US-100', 'Ударный стенд УС-100', 'simulation', true, false, NULL, 'шт', 2750000),
    (18, 'SM-BK-2', 'Барокамера БК-2', 'simulation', true, true, NULL, 'шт', 3350000),
    (19, 'SM-PS-50', 'Стенд пылевой ПС-50', 'simulation', false, false, NULL, 'шт', 1220000),
    (20, 'CP-SEAL-38', 'Уплотнение торцевое для ЦНС 38', 'components', false, true, 730, 'шт', 8400),
    (21, 'CP-SEAL-60', 'Уплотнение торцевое для ЦНС 60', 'components', false, true, 730, 'шт', 11200),
    (22, 'CP-OIL-20', 'Масло компрессорное КС-19, 20 л', 'components', false, true, 1095, 'канистра', 9800),
    (23, 'CP-FLT-VK', 'Фильтр воздушный для ВК-5/ВК-15', 'components', false, true, 1825, 'шт', 4300),
    (24, 'CP-SEP-VK', 'Сепаратор масла для ВК-15', 'components', false, true, 1825, 'шт', 17600),
    (25, 'CP-GLY-10', 'Теплоноситель гликолевый, 10 л', 'components', false, true, 540, 'канистра', 6100),
    (26, 'CP-SALT-25', 'Соль для камеры солевого тумана, 25 кг', 'components', false, true, 365, 'мешок', 3900),
    (27, 'CP-BRG-6308', 'Подшипник 6308-2RS', 'components', false, true, NULL, 'шт', 1900),
    (28, 'CP-CTL-TC', 'Контроллер камеры ТК-4', 'components', true, true, NULL, 'шт', 58000),
    (29, 'CP-IMP-38', 'Рабочее колесо ЦНС 38', 'components', true, true, NULL, 'шт', 32000),
    (30, 'CP-SENS-T', 'Датчик температуры Pt100', 'components', false, true, NULL, 'шт', 2600)
  ) AS p(n, sku, name, type_code, mih, st, shelf, unit, price)
  JOIN crm.equipment_type t ON t.code = p.type_code;

-- INN of an organisation (10 digits) with its check digit
CREATE FUNCTION pg_temp.inn10(body text) RETURNS text LANGUAGE sql AS $$
  SELECT body || (sum(substr(body, i, 1)::int * (ARRAY[2,4,10,3,5,9,4,6,8])[i]) % 11 % 10)::text
    FROM generate_series(1, 9) i
$$;
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, legal_address, physical_address, region,
                              department_id, responsible_id)
SELECT c.kind, c.name, c.legal_name, pg_temp.inn10(c.inn9), c.kpp, c.addr, c.addr, c.region, d.id, e.id
  FROM (VALUES
    ('client', 'Нефтехимпром', 'ООО «Нефтехимпром»', '165012345', '165001001', 'Республика Татарстан, г. Нижнекамск, Промзона, 1', 'Татарстан', 'prom', 'lebedeva'),
    ('client', 'Климатест', 'АО «Климатест»', '771234567', '771401001', 'Москва, Научный проезд, 8', 'Москва', 'alto', 'petrov'),
    ('client', 'Авиаприбор', 'ПАО «Авиаприбор»', '502987654', '502701001', 'Московская обл., г. Жуковский, ул. Гагарина, 2', 'Московская область', 'alto', 'sokolova'),
    ('client', 'Водоканал-Сервис', 'МУП «Водоканал-Сервис»', '366112233', '366101001', 'г. Воронеж, ул. Ленина, 17', 'Воронежская область', 'plazo', 'novikova'),
    ('client', 'ТермоЛаб', 'ООО «ТермоЛаб»', '784455667', '780101001', 'Санкт-Петербург, Кантемировская ул., 7', 'Санкт-Петербург', 'testing', 'kuznetsov'),
    ('partner', 'Уралнасосмаш', 'ООО «Уралнасосмаш»', '667788990', '667001001', 'г. Екатеринбург, ул. Фронтовых бригад, 18', 'Свердловская область', 'prom', 'popov'),
    ('supplier', 'Атлас Копко', 'ООО «Атлас Копко»', '504711223', '504701001', 'Московская обл., г. Химки, Вашутинское ш., 15', 'Московская область', NULL, NULL),
    ('supplier', 'Грундфос', 'ООО «Грундфос»', '503334455', '503001001', 'Московская обл., г. Истра, Лешково, 188', 'Московская область', NULL, NULL)
  ) AS c(kind, name, legal_name, inn9, kpp, addr, region, dep, resp)
  LEFT JOIN crm.department d ON d.code = c.dep
  LEFT JOIN crm.employee e ON e.role_name = c.resp;

INSERT INTO crm.contact (counterparty_id, full_name, position)
SELECT cp.id, x.full_name, x.position
  FROM (VALUES
    ('Нефтехимпром', 'Рустам Гарипов', 'главный механик'),
    ('Нефтехимпром', 'Лилия Хасанова', 'отдел снабжения'),
    ('Климатест', 'Андрей Белов', 'технический директор'),
    ('Авиаприбор', 'Наталья Орлова', 'начальник испытательной лаборатории'),
    ('Водоканал-Сервис', 'Виктор Семёнов', 'главный инженер'),
    ('ТермоЛаб', 'Юлия Ким', 'руководитель лаборатории'),
    ('Уралнасосмаш', 'Алексей Шубин', 'коммерческий директор'),
    ('Атлас Копко', 'Денис Фролов', 'менеджер по работе с партнёрами'),
    ('Грундфос', 'Ирина Власова', 'менеджер по продажам')
  ) AS x(company, full_name, position)
  JOIN crm.counterparty cp ON cp.name = x.company;

INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
SELECT c.id, c.counterparty_id, x.kind, x.value, x.prim
  FROM (VALUES
    ('Рустам Гарипов', 'phone', '8 (8555) 49-12-30 доб. 214', true),
    ('Рустам Гарипов', 'email', 'R.Garipov@neftehimprom.example', false),
    ('Лилия Хасанова', 'email', 'snab@neftehimprom.example', true),
    ('Андрей Белов', 'phone', '+7 916 210-33-44', true),
    ('Андрей Белов', 'email', 'belov@klimatest.example', false),
    ('Наталья Орлова', 'phone', '8-495-556-12-12', true),
    ('Наталья Орлова', 'email', 'orlova@aviapribor.example', false),
    ('Виктор Семёнов', 'phone', '8 (473) 255-10-10', true),
    ('Юлия Ким', 'email', 'kim@termolab.example', true),
    ('Юлия Ким', 'phone', '+7 (812) 600-70-70', false),
    ('Алексей Шубин', 'phone', '+7 343 300 20 10', true),
    ('Денис Фролов', 'email', 'denis.frolov@atlascopco.example', true),
    ('Ирина Власова', 'email', 'ivlasova@grundfos.example', true)
  ) AS x(full_name, kind, value, prim)
  JOIN crm.contact c ON c.full_name = x.full_name;
COMMIT;
\endif
