-- deal_print: what the print forms (R14) write besides the layout -- amounts
-- as Russian documents write them, in figures and in words.
SELECT v, crm.money_text(v) FROM (VALUES (0), (0.5), (7), (1234.5), (1000000), (759600), (-1234567.891),
  (999999999999999.99)) t(v);
-- amounts in words: the three plural forms, feminine thousands, 11..14, kopecks
SELECT v, crm.amount_in_words(v) FROM (VALUES (0), (0.01), (0.02), (0.05), (0.11), (0.21), (1), (2), (4), (5),
  (11), (12), (14), (15), (20), (21), (22), (25), (101), (111), (112), (1000), (1001), (2000), (2001), (4000),
  (5000), (11000), (12000), (21000), (22000), (100000), (1000000), (2000000), (5000000), (21000000),
  (1000000000), (2000000000), (1000000000000), (759600), (684000), (2196000), (123456789.99),
  (999999999999999.99), (-5.5), (0.005), (0.004), (1.999)) t(v);
-- too large to write, and NULL
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.try('SELECT crm.amount_in_words(1000000000000000)');
SELECT pg_temp.try('SELECT crm.amount_in_words(-1e30)');
SELECT crm.amount_in_words(NULL) IS NULL AS strict;
SELECT crm.date_long('2026-03-08'), crm.date_long('2025-12-31');
-- the print forms exist only for proposals and invoices
SELECT pg_temp.try($$SELECT crm.render_pdf(1, 'waybill', NULL)$$);
