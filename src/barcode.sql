-- barcode.sql: barcodes (R30, R32) -- GS1 check digits and the parser of
-- what scanners send (src/gs1.c, pure C; SQL wrappers in src/barcode.c).

CREATE FUNCTION crm.gs1_check_digit(body text) RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'gs1_check_digit_sql';
COMMENT ON FUNCTION crm.gs1_check_digit(text) IS 'R30: the GS1 mod-10 check digit to append to 1..17 digits';

CREATE FUNCTION crm.barcode_kind(code text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'barcode_kind';
COMMENT ON FUNCTION crm.barcode_kind(text) IS 'R30: EAN-8, UPC-A, EAN-13, GTIN-14 or SSCC by length, when the check digit is right; else NULL';

CREATE FUNCTION crm.barcode_valid(code text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'barcode_valid';
COMMENT ON FUNCTION crm.barcode_valid(text) IS 'R30: the code is an EAN-8, UPC-A, EAN-13, GTIN-14 or SSCC with the right check digit';

CREATE FUNCTION crm.gtin14(code text) RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'gtin14';
COMMENT ON FUNCTION crm.gtin14(text) IS 'R30: the GTIN-14 (zero-padded) of an EAN-8, UPC-A, EAN-13 or GTIN-14; 22P02 when malformed';

-- STABLE: a two-digit year is resolved against the current year (GS1 7.12)
CREATE FUNCTION crm.parse_gs1(code text, strict boolean DEFAULT true,
  OUT symbology text, OUT sscc text, OUT gtin text, OUT content_gtin text,
  OUT lot text, OUT serial text,
  OUT production_date date, OUT production_date_precision text,
  OUT best_before date, OUT best_before_precision text,
  OUT expiry date, OUT expiry_precision text,
  OUT variable_count integer, OUT count integer, OUT hri text)
LANGUAGE C STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'parse_gs1';
COMMENT ON FUNCTION crm.parse_gs1(text, boolean) IS
  'R30 R32: the fields of a scanned GS1 code (]C1 ]d2 ]Q3 ]e0 element strings with FNC1 as GS, bare EAN/UPC/ITF-14/SSCC, bracketed form). A date with GS1 day 00 has precision month and is given as the first day of that month. strict applies the GS1 pairing rules. 22P02 when malformed';

CREATE FUNCTION crm.gs1_elements(code text, strict boolean DEFAULT false)
RETURNS TABLE (pos integer, ai text, title text, value text)
LANGUAGE C STABLE PARALLEL SAFE ROWS 6 AS 'MODULE_PATHNAME', 'gs1_elements';
COMMENT ON FUNCTION crm.gs1_elements(text, boolean) IS 'R30: every element of a GS1 code: position, AI, data title, data';

CREATE FUNCTION crm.gs1_hri(code text) RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'gs1_hri';
COMMENT ON FUNCTION crm.gs1_hri(text) IS 'R30: a GS1 code in the bracketed human-readable form (01)...(10)...';

-- The GTINs of the catalogue carry a right check digit (their format is
-- product_gtin_format's business).  A database that
-- already holds a wrong one gets the constraint NOT VALID (new and changed
-- rows are checked) and a warning naming them, so the upgrade does not fail.
DO $$
DECLARE
  bad text;
BEGIN
  SELECT pg_catalog.string_agg(p.sku || ' ' || p.gtin, ', ') INTO bad
    FROM crm.product p WHERE p.gtin ~ '^[0-9]{14}$' AND NOT crm.barcode_valid(p.gtin);
  IF bad IS NULL THEN
    ALTER TABLE crm.product ADD CONSTRAINT product_gtin_check_digit
      CHECK (gtin !~ '^[0-9]{14}$' OR crm.barcode_valid(gtin));
  ELSE
    ALTER TABLE crm.product ADD CONSTRAINT product_gtin_check_digit
      CHECK (gtin !~ '^[0-9]{14}$' OR crm.barcode_valid(gtin)) NOT VALID;
    RAISE WARNING 'products with a wrong GTIN check digit: %', bad
      USING HINT = 'Correct them, then ALTER TABLE crm.product VALIDATE CONSTRAINT product_gtin_check_digit.';
  END IF;
END
$$;
