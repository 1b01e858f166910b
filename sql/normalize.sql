-- normalize: crm.normalize_phone, crm.phone_extension, crm.normalize_email
-- (R6: requests are matched by normalised phone and e-mail).
\pset null '(null)'

-- R6: the same Russian mobile number as people write it; all give +79161234567
SELECT v, crm.normalize_phone(v) AS e164, crm.phone_extension(v) AS ext
FROM (VALUES
  ('8 (916) 123-45-67'), ('+7 916 123 45 67'), ('7-916-1234567'), ('9161234567'),
  ('89161234567'), ('+79161234567'), ('8(916)1234567'), ('8-916-123-45-67'),
  ('+7(916)123-45-67'), ('  8 916 123 45 67  '), (E'8\u00a0916\u00a0123\u00a045\u00a067'),
  ('+7 (916) 123–45–67'), ('8.916.123.45.67'), ('8/916/1234567'),
  ('тел. 8 (916) 123-45-67'), ('Тел.: +7 916 123-45-67'), ('ТЕЛЕФОН: 89161234567'),
  ('моб. 8-916-123-45-67'), ('tel:+79161234567'), ('Phone: +7 916 1234567'),
  ('т. 8 916 123 45 67'),
  ('8 (916) 123-45-67 доб. 123'), ('8 (916) 123-45-67, доб. 123'), ('+7 916 123 45 67 ДОБ.123'),
  ('8 916 1234567 добавочный 45'), ('+7 916 123-45-67 ext 5'), ('+7 916 123-45-67 ext. 5'),
  ('+7 916 123-45-67 x5'), ('89161234567x5'), ('+7 916 123 45 67 #12'), ('8 916 123 45 67 вн. 204'),
  ('8 916 123 45 67 доп. 7'), ('+7 916 123 45 67 Extension: 42'), ('8 916 123 45 67 доб. № 3')
) t(v);

-- landlines, toll-free, international forms
SELECT v, crm.normalize_phone(v) AS e164, crm.phone_extension(v) AS ext
FROM (VALUES
  ('8 (495) 123-45-67'), ('+7 (495) 123-45-67 доб. 2210'), ('495 123 45 67'),
  ('8 800 555-35-35'), ('8-800-555-35-35'), ('(812) 309-00-00'),
  ('+44 20 7946 0958'), ('0044 20 7946 0958'), ('00 49 30 1234567'), ('8 10 49 30 1234567'),
  ('810 375 29 123 45 67'), ('+375 (29) 123-45-67'), ('+1 (212) 555-0100'),
  ('+86 10 1234 5678'), ('+998 71 123 45 67'), ('+7 727 123 4567'), ('+49-30-1234567 ext 12'),
  ('+290 1234')
) t(v);

-- not phone numbers: NULL, never a guess
SELECT v, crm.normalize_phone(v) AS e164, crm.phone_extension(v) AS ext
FROM (VALUES
  (''), ('   '), ('abc'), ('позвоните мне'), ('101'), ('12345'), ('123456789'),
  ('+7 916 123 45 6'), ('+7 916 123 45 678'), ('8 916 123 45 6'), ('891 612 34 56'), ('+7 016 123 45 67'),
  ('8 (116) 123-45-67'), ('+0 123 4567890'), ('+1234567890123456'), ('7+9161234567'),
  ('++79161234567'), ('8 916 123 45 67, 8 916 765 43 21'), ('8 916 123 45 67 доб.'),
  ('8 916 123 45 67 доб. 12a'), ('8 916 123 45 67 доб. 123456789'), ('ext 5'),
  ('8 916 123 45 67 звонить вечером'), ('ivan@example.com'), ('+7 916 abc 45 67'),
  ('375291234567'), ('8916123456789012345678'), ('+'), ('()'), ('--')
) t(v);

SELECT crm.normalize_phone(NULL) AS null_in, crm.normalize_phone(repeat('9', 300)) AS long_in;

-- R6: e-mail: trimmed and lower-cased, or NULL when it is not an address
SELECT v, crm.normalize_email(v) AS email
FROM (VALUES
  ('ivan.petrov@mail.ru'), ('  Ivan.Petrov@Mail.RU  '), (E'\tIVAN@EXAMPLE.COM\n'),
  ('<ivan@example.com>'), ('mailto:Ivan@Example.com'), ('MAILTO:ivan@example.com'),
  ('ivan+crm@example.co.uk'), ('first.last-1@sub.domain.example.org'),
  ('Иван@Почта.РФ'), ('ОЛЕГ.ЁЛКИН@ПРИМЕР.РУС'), ('o''brien@example.ie'), ('a@b.cd'),
  (E'ivan@example.com\u00a0')
) t(v);

SELECT CASE WHEN length(v) > 40 THEN left(v, 30) || '... (' || length(v) || ' chars)' ELSE v END AS v,
       crm.normalize_email(v) AS email
FROM (VALUES
  (''), ('ivan'), ('ivan@'), ('@example.com'), ('ivan@example'), ('ivan@@example.com'),
  ('ivan@exa@mple.com'), ('ivan petrov@example.com'), ('ivan@exa mple.com'),
  ('.ivan@example.com'), ('ivan.@example.com'), ('iv..an@example.com'),
  ('ivan@example..com'), ('ivan@.example.com'), ('ivan@example.com.'), ('ivan@-example.com'),
  ('ivan@example-.com'), ('ivan@example.c'), ('ivan@example.123'), ('ivan@exam_ple.com'),
  ('"ivan"@example.com'), ('ivan,petrov@example.com'), ('ivan@[127.0.0.1]'),
  ('Ivan Petrov <ivan@example.com>'), ('ivan@example.com, oleg@example.com'),
  (repeat('a', 65) || '@example.com'), ('a@' || repeat('b', 64) || '.com'),
  ('a@' || repeat('b.', 130) || 'com'), ('+79161234567'), ('<>'), ('mailto:')
) t(v);

SELECT crm.normalize_email(NULL) AS null_in, crm.normalize_email(repeat('a', 2000)) AS long_in;

-- the normalisers can key a unique index and a generated column
SELECT p.provolatile, p.proisstrict, p.proparallel
  FROM pg_proc p WHERE p.oid IN ('crm.normalize_phone(text)'::regprocedure,
                                  'crm.normalize_email(text)'::regprocedure,
                                  'crm.phone_extension(text)'::regprocedure);
