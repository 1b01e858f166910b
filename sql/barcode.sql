-- barcode: R30, R32 -- GS1 check digits and the parser of what scanners
-- send, with every malformed code refused with SQLSTATE 22P02 and a reason.
\pset null '(null)'
SET datestyle = 'ISO, YMD';

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- a scanned code as the scanner sends it: <GS> stands for the GS character
CREATE FUNCTION pg_temp.scan(code text) RETURNS text LANGUAGE sql AS
  $$ SELECT replace(code, '<GS>', chr(29)) $$;
CREATE FUNCTION pg_temp.parse(code text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE g record;
BEGIN
  g := crm.parse_gs1(pg_temp.scan(code));
  RETURN g.hri;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- R30: check digits of EAN-8, UPC-A, EAN-13, GTIN-14, SSCC (published examples)
SELECT code, crm.barcode_kind(code) AS kind, crm.barcode_valid(code) AS valid
  FROM (VALUES ('96385074'), ('96385075'), ('036000291452'), ('036000291453'), ('4006381333931'),
               ('4006381333932'), ('10614141000415'), ('10614141000416'), ('346012345000000013'),
               ('346012345000000014'), ('4006381333'), ('400638133393A'), (''), ('0000000000000')) AS c(code);
SELECT crm.gs1_check_digit('400638133393') AS ean13, crm.gs1_check_digit('9638507') AS ean8,
       crm.gs1_check_digit('03600029145') AS upca, crm.gs1_check_digit('1061414100041') AS gtin14,
       crm.gs1_check_digit('34601234500000001') AS sscc;
SELECT pg_temp.try($$SELECT crm.gs1_check_digit('12a4')$$);
SELECT pg_temp.try($$SELECT crm.gs1_check_digit('')$$);
SELECT pg_temp.try($$SELECT crm.gs1_check_digit('123456789012345678')$$);
-- GTIN-14 from the shorter GTINs
SELECT crm.gtin14('96385074') AS ean8, crm.gtin14('036000291452') AS upca,
       crm.gtin14('4006381333931') AS ean13, crm.gtin14('10614141000415') AS gtin14;
SELECT pg_temp.try($$SELECT crm.gtin14('4006381333932')$$);
SELECT pg_temp.try($$SELECT crm.gtin14('400638133393')$$);
SELECT pg_temp.try($$SELECT crm.gtin14('346012345000000013')$$);

-- R30: GS1 element strings as scanners send them: symbology identifiers ]C1
-- (GS1-128), ]d2 (DataMatrix), ]Q3 (QR), ]e0 (DataBar); FNC1 as GS after
-- variable-length fields; fixed-length AIs need none
SELECT * FROM crm.parse_gs1(pg_temp.scan(']C10104006381333931172503001' || '0LOT-A<GS>21SN-1'));
SELECT * FROM crm.parse_gs1(pg_temp.scan(']d2<GS>0104006381333931<GS>10A(B<GS>17261200'));
SELECT * FROM crm.parse_gs1(pg_temp.scan(']Q30104006381333931' || '3103001250' || '15280229' || '11250115' || '10X1'));
SELECT * FROM crm.gs1_elements(pg_temp.scan(']e00104006381333931' || '3103001250' || '3020<GS>10X1'));
-- a pallet: SSCC, content GTIN and count (00, 02, 37), lot and month-only expiry
SELECT symbology, sscc, gtin, content_gtin, lot, expiry, expiry_precision, count, hri
  FROM crm.parse_gs1(pg_temp.scan(']C100346012345000000013' || '0204006381333931' || '3712<GS>10P-7<GS>17280100'));
-- R31: the expiry YYMM00 stays month-only; a real day has precision day
SELECT code, expiry, expiry_precision FROM (VALUES ('(01)04006381333931(17)280200'), ('(01)04006381333931(17)280229'),
  ('(01)04006381333931(17)281231'), ('(01)04006381333931(17)991231'), ('(01)04006381333931(17)500101')) AS c(code),
  LATERAL crm.parse_gs1(code);
-- the bracketed human-readable form, spaces between elements allowed, '(' in data escaped
SELECT * FROM crm.gs1_elements('(01) 04006381333931 (17) 280300 (10) A\(1)');
SELECT crm.gs1_hri(pg_temp.scan(']C10104006381333931' || '10AB<GS>21C')) AS hri;
-- bare numbers: EAN-13, EAN-8, UPC-A (]E0/]E4 too), ITF-14, SSCC
SELECT translate(code, chr(13) || chr(10), '<>') AS code, g.symbology, g.gtin, g.sscc
  FROM (VALUES ('4006381333931'), ('96385074'), ('036000291452'), (']E04006381333931'), (']E496385074'),
               (']I110614141000415'), ('346012345000000013'), ('  4006381333931' || chr(13) || chr(10))) AS c(code),
       LATERAL crm.parse_gs1(code) g;
-- AIs (30) variable count, (21) serial, GLN (414) with its extension (254), internal (90, 91)
SELECT * FROM crm.gs1_elements(pg_temp.scan(']C1414' || '4601234560009' || '254A-1<GS>90INT<GS>91X'));
SELECT variable_count, serial FROM crm.parse_gs1(pg_temp.scan(']C10104006381333931' || '3025<GS>21S/N-9'));
-- strict pairing rules can be left out for one symbol of a multi-symbol label
SELECT lot, expiry FROM crm.parse_gs1('(10)LOT-A(17)280300', false);

-- every malformed code: 22P02 and the reason
SELECT code, pg_temp.parse(code) AS result FROM (VALUES
  (''), ('   '),
  ('(01)04006381333932'),                       -- bad check digit in (01)
  ('4006381333932'),                            -- bad check digit of a bare EAN-13
  (']C100346012345000000014'),                  -- bad SSCC check digit
  ('346012345000000014'),                       -- bad bare SSCC
  (']C0hello'), (']X1abc'), (']C'),             -- not GS1 symbologies
  (']E0400638133393'),                          -- EAN-13 with 12 digits and a wrong check digit
  (']E012345'),                                 -- too short for EAN
  (']C1'),                                      -- nothing after the identifier
  (']C1990'),                                   -- internal AI, fine
  (']C17712'),                                  -- unknown AI 77
  (']C101040063813339'),                        -- (01) cut short
  (']C1010400638133393<GS>1'),                  -- GS inside the fixed (01)
  (']C10104006381333931' || '11'),              -- (11) without its date
  (']C10104006381333931172513' || '01'),        -- month 13
  (']C10104006381333931' || '17250230'),        -- 30 February
  (']C10104006381333931' || '17270229'),        -- 29 February 2027
  (']C10104006381333931' || '10' || repeat('A', 21)),   -- lot longer than 20: FNC1 missing
  (']C10104006381333931' || '10AB CD'),         -- a space in a lot
  (']C10104006381333931' || '10ÄB'),            -- a non-ASCII character in a lot
  (']C10104006381333931' || '10<GS><GS>21X'),   -- empty lot
  (']C10104006381333931' || '10A<GS><GS>21X'),  -- two separators
  (']C10104006381333931' || '30123456789'),     -- count longer than 8
  (']C10104006381333931' || '30A1'),            -- count not numeric
  (']C1422643' || '0104006381333931'),          -- (422) needs FNC1 after it
  (']C10104006381333931' || '10A<GS>10B'),      -- one AI twice with different data
  (']C10104006381333931' || '10A<GS>10A'),      -- the same element twice is fine
  (']C1' || '10LOT'),                           -- a lot without a GTIN
  (']C1' || '0104006381333931' || '3712'),      -- (37) belongs with (02), not (01)
  (']C1' || '0204006381333931'),                -- (02) needs (37)
  (']C1' || '0104006381333931' || '3103000100' || '3102000100'),   -- one measure twice
  (']C1' || '3103000100'),                      -- a measure without a key
  ('(01)'), ('(01)0400638133393'), ('01)04006381333931'), ('(1)x'), ('(0104006381333931'),
  ('(77)123'), ('(10)A(B'), ('(01)04006381333931(10)'),
  ('12345'), ('123456789012345678901234567890')
) AS c(code);
-- the position and a hint for the person at the scanner
SELECT crm.parse_gs1(pg_temp.scan(']C10104006381333931' || '10' || repeat('A', 25)));
SELECT crm.parse_gs1('(01)04006381333932(10)A');
SELECT pg_temp.try($$SELECT crm.parse_gs1(repeat('9', 1100))$$);
SELECT pg_temp.parse(']C10104006381333931' || '10A' || chr(1)) AS control_character;
SELECT crm.parse_gs1(NULL) IS NULL AS null_in_null_out;

-- R30: a GTIN with a wrong check digit cannot enter the catalogue
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, gtin) VALUES ('BC-1', 'x', '04006381333932')$$);
SELECT pg_temp.try($$INSERT INTO crm.product (sku, name, gtin) VALUES ('BC-1', 'x', '04006381333931')$$);
SELECT count(*) AS bad_gtin_rows FROM crm.product WHERE sku = 'BC-1' AND NOT crm.barcode_valid(gtin);
DELETE FROM crm.product WHERE sku = 'BC-1';
