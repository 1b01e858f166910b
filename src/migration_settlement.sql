-- migration_settlement.sql: settlement balances per counterparty from the old
-- 1C (R23), loaded as opening balances (crm.opening_balance) that the deals
-- concern's crm.settlement adds to what is shipped and paid in crm.
--
-- The file is 1C's report of mutual settlements (a turnover sheet of account
-- 62/60): one line per counterparty, its code, and either the balance
-- ("Сальдо": positive, the client owes us; negative, we hold an advance or owe
-- it) or the debit and credit balances, as of a date.

-- crm.opening_balance and the crm.settlement view that adds it are the deals
-- concern's (src/document.sql); a balance loaded here names its migration run.
ALTER TABLE crm.opening_balance ADD CONSTRAINT opening_balance_run_id_fkey
  FOREIGN KEY (run_id) REFERENCES crm.migration_run (id) ON DELETE SET NULL;

CREATE FUNCTION crm.migration_settlements(run bigint, doc text,
  OUT records integer, OUT rejected integer, OUT created integer, OUT updated integer, OUT unchanged integer)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  SET LOCAL client_min_messages = warning;
  CREATE TEMP TABLE IF NOT EXISTS crm_stage_settlement (
    line_no integer, problem text, code text, name text, inn text, balance text, debit text, credit text,
    as_of text, note text,
    amount numeric, as_of_d date, counterparty_id bigint, reasons text[]);
  TRUNCATE crm_stage_settlement;
  INSERT INTO crm_stage_settlement (line_no, problem, code, name, inn, balance, debit, credit, as_of, note)
  SELECT t.line_no, t.problem, btrim(t.code), btrim(t.name), regexp_replace(t.inn, '\s', '', 'g'),
         t.balance, t.debit, t.credit, t.as_of, t.note
    FROM crm.csv_read(doc, ARRAY['Код|Код контрагента', '?Контрагент|Наименование', '?ИНН',
                                 '?Сальдо|Сумма|Долг|Остаток|Сумма долга', '?Дебет|Сальдо Дт|Дт|Сальдо дебет',
                                 '?Кредит|Сальдо Кт|Кт|Сальдо кредит', '?Дата|На дату|Дата сальдо',
                                 '?Комментарий|Примечание'])
      AS t(line_no integer, problem text, code text, name text, inn text, balance text, debit text, credit text,
           as_of text, note text);

  UPDATE crm_stage_settlement s SET
    amount = CASE WHEN s.balance IS NOT NULL THEN crm.parse_1c_number(s.balance)
                  ELSE coalesce(crm.parse_1c_number(s.debit), 0) - coalesce(crm.parse_1c_number(s.credit), 0) END,
    as_of_d = crm.parse_1c_date(s.as_of),
    counterparty_id = (SELECT c.id FROM crm.counterparty c WHERE c.code_1c = s.code);
  UPDATE crm_stage_settlement s SET reasons = crm.migration_reasons(
    '22P04 ' || s.problem,
    CASE WHEN s.code IS NULL THEN '23502 no counterparty code (Код)' END,
    CASE WHEN s.code IS NOT NULL AND s.counterparty_id IS NULL
         THEN format('23503 counterparty with 1C code "%s" is not loaded (load the counterparties first)', s.code) END,
    CASE WHEN s.inn IS NOT NULL AND s.counterparty_id IS NOT NULL
              AND s.inn IS DISTINCT FROM (SELECT c.inn FROM crm.counterparty c WHERE c.id = s.counterparty_id)
         THEN format('23514 INN "%s" is not the INN of counterparty "%s"', s.inn,
                     (SELECT c.name FROM crm.counterparty c WHERE c.id = s.counterparty_id)) END,
    CASE WHEN s.balance IS NULL AND s.debit IS NULL AND s.credit IS NULL THEN '23502 no balance (Сальдо, or Дебет and Кредит)' END,
    CASE WHEN s.balance IS NOT NULL AND (s.debit IS NOT NULL OR s.credit IS NOT NULL)
         THEN '22023 both a balance and debit/credit are given' END,
    CASE WHEN s.balance IS NOT NULL AND crm.parse_1c_number(s.balance) IS NULL
         THEN format('22P02 balance "%s" is not a number', s.balance) END,
    CASE WHEN s.debit IS NOT NULL AND crm.parse_1c_number(s.debit) IS NULL THEN format('22P02 debit "%s" is not a number', s.debit) END,
    CASE WHEN s.credit IS NOT NULL AND crm.parse_1c_number(s.credit) IS NULL THEN format('22P02 credit "%s" is not a number', s.credit) END,
    CASE WHEN abs(s.amount) >= 1e12 THEN format('22003 balance %s is too large', s.amount) END,
    CASE WHEN s.as_of IS NULL THEN '23502 no date (Дата)'
         WHEN s.as_of_d IS NULL THEN format('22007 date "%s" is not a date', s.as_of) END,
    (SELECT format('23505 counterparty "%s" repeats line %s', s.code, min(o.line_no)) FROM crm_stage_settlement o
      WHERE o.code = s.code AND o.line_no < s.line_no HAVING count(*) > 0));

  SELECT count(*), count(*) FILTER (WHERE cardinality(s.reasons) > 0) INTO records, rejected FROM crm_stage_settlement s;
  created := 0; updated := 0; unchanged := 0;
  IF rejected > 0 THEN
    PERFORM crm.migration_reject(run, 'pg_temp.crm_stage_settlement', 's.code',
      ARRAY['code', 'name', 'inn', 'balance', 'debit', 'credit', 'as_of', 'note']);
    RETURN;
  END IF;
  SELECT count(*) FILTER (WHERE o.counterparty_id IS NULL),
         count(*) FILTER (WHERE o.counterparty_id IS NOT NULL
                            AND (o.amount, o.as_of, o.note) IS DISTINCT FROM (s.amount, s.as_of_d, coalesce(s.note, o.note)))
    INTO created, updated
    FROM crm_stage_settlement s LEFT JOIN crm.opening_balance o ON o.counterparty_id = s.counterparty_id;
  unchanged := records - created - updated;
  INSERT INTO crm.opening_balance AS o (counterparty_id, amount, as_of, run_id, note)
  SELECT s.counterparty_id, round(s.amount, 2), s.as_of_d, run, s.note FROM crm_stage_settlement s
  ON CONFLICT (counterparty_id) DO UPDATE
    SET amount = excluded.amount, as_of = excluded.as_of, run_id = excluded.run_id,
        note = coalesce(excluded.note, o.note)
    WHERE (o.amount, o.as_of, o.note) IS DISTINCT FROM (excluded.amount, excluded.as_of, coalesce(excluded.note, o.note));
END
$$;

