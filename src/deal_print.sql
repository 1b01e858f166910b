-- deal_print.sql: print forms (R14) -- the commercial proposal and the
-- invoice for payment as real PDF files (libharu, DejaVu fonts embedded, so
-- Cyrillic is right everywhere).  The data of a form comes from the two SQL
-- functions below, under the caller's row-level security; src/deal_print.c
-- only lays it out.

-- money as Russians write it: 1 234 567,89
CREATE FUNCTION crm.money_text(amount numeric) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT pg_catalog.translate(pg_catalog.to_char(amount, 'FM999,999,999,999,990.00'), ',.', ' ,')
$$;
COMMENT ON FUNCTION crm.money_text(numeric) IS 'R14: an amount as written on Russian documents: 1 234 567,89';

CREATE FUNCTION crm.amount_in_words(amount numeric) RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'amount_in_words';
COMMENT ON FUNCTION crm.amount_in_words(numeric) IS 'R14: an amount in roubles in Russian words, as on an invoice: "Сто двадцать тысяч рублей 00 копеек"';

CREATE FUNCTION crm.date_long(d date) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT pg_catalog.format('%s %s %s г.', extract(day FROM d)::int,
    (ARRAY['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября',
           'октября', 'ноября', 'декабря'])[extract(month FROM d)::int], extract(year FROM d)::int)
$$;

-- The document a form prints: the given one, or the deal's latest live one
-- of the kind; for a proposal without one, a draft from the deal's lines.
CREATE FUNCTION crm.print_document(deal bigint, kind text, document bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  doc bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM crm.deal d WHERE d.id = print_document.deal) THEN
    RAISE EXCEPTION 'deal % does not exist or is not yours', deal USING ERRCODE = 'no_data_found';
  END IF;
  IF document IS NOT NULL THEN
    SELECT x.id INTO doc FROM crm.document x
     WHERE x.id = document AND x.deal_id = print_document.deal AND x.kind = print_document.kind;
    IF doc IS NULL THEN
      RAISE EXCEPTION 'document % is not a % of deal %', document, kind, deal USING ERRCODE = 'no_data_found';
    END IF;
    RETURN doc;
  END IF;
  SELECT x.id INTO doc FROM crm.document x
   WHERE x.deal_id = print_document.deal AND x.kind = print_document.kind AND crm.document_is_live(x.status)
   ORDER BY x.id DESC LIMIT 1;
  IF doc IS NULL AND kind <> 'proposal' THEN
    RAISE EXCEPTION 'deal % has no % to print', deal, kind
      USING ERRCODE = 'no_data_found', HINT = format('Create it first: crm.create_document(%s, %L).', deal, kind);
  END IF;
  RETURN doc;
END
$$;

-- Everything a form shows but its lines, as text ready to print.
CREATE FUNCTION crm.print_header(deal bigint, kind text, document bigint DEFAULT NULL)
RETURNS TABLE (form text, doc_title text, number text, issued_on text, issued_on_long text, valid_until text,
               draft boolean, basis text,
               company_name text, company_legal_name text, company_inn text, company_kpp text, company_ogrn text,
               company_address text, company_phone text, company_email text, company_website text,
               company_bank_name text, company_bic text, company_account text, company_corr_account text,
               company_director text, company_accountant text,
               client_name text, client_legal_name text, client_inn text, client_kpp text, client_address text,
               contact_name text, contact_phone text, contact_email text,
               deal_title text, needs text, application_area text, equipment_type text, processed_materials text,
               payment_terms text, delivery_terms text,
               manager_name text, manager_phone text, manager_email text,
               line_count integer, net_total text, vat_total text, grand_total text, total_words text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
  doc bigint := crm.print_document(print_header.deal, print_header.kind, print_header.document);
  x crm.document;
  co crm.company;
  tot record;
BEGIN
  SELECT * INTO co FROM crm.company LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the company''s own requisites are not recorded'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'The administrator fills in crm.company (name, INN, address, bank details) once.';
  END IF;
  SELECT * INTO x FROM crm.document WHERE id = doc;
  SELECT count(*)::int AS n, sum(l.net_amount) AS net, sum(l.vat_amount) AS vat, sum(l.total_amount) AS total
    INTO tot FROM crm.print_lines_raw(print_header.deal, doc) l;
  RETURN QUERY
  SELECT print_header.kind,
         (SELECT k.title FROM crm.document_kind k WHERE k.code = print_header.kind),
         x.number,
         to_char(coalesce(x.issued_on, current_date), 'DD.MM.YYYY'),
         crm.date_long(coalesce(x.issued_on, current_date)),
         to_char(coalesce(x.valid_until, current_date + co.proposal_valid_days), 'DD.MM.YYYY'),
         doc IS NULL,
         (SELECT format('%s № %s от %s', k.title, b.number, to_char(b.issued_on, 'DD.MM.YYYY'))
            FROM crm.document b JOIN crm.document_kind k ON k.code = b.kind WHERE b.id = x.based_on_id),
         co.name, co.legal_name, co.inn, co.kpp, co.ogrn, co.address, co.phone, co.email, co.website,
         co.bank_name, co.bank_bic, co.bank_account, co.corr_account, co.director, co.accountant,
         c.name, coalesce(c.legal_name, c.name), c.inn, c.kpp, coalesce(c.physical_address, c.legal_address),
         ct.full_name,
         (SELECT string_agg(cp.value, ', ' ORDER BY cp.is_primary DESC, cp.id) FROM crm.contact_point cp
           WHERE cp.contact_id = ct.id AND cp.kind = 'phone'),
         (SELECT string_agg(cp.value, ', ' ORDER BY cp.is_primary DESC, cp.id) FROM crm.contact_point cp
           WHERE cp.contact_id = ct.id AND cp.kind = 'email'),
         d.title, d.needs, d.application_area, et.name, d.processed_materials, d.payment_terms, d.delivery_terms,
         e.full_name, e.phone, e.email,
         tot.n, crm.money_text(coalesce(tot.net, 0)), crm.money_text(coalesce(tot.vat, 0)),
         crm.money_text(coalesce(tot.total, 0)), crm.amount_in_words(coalesce(tot.total, 0))
    FROM crm.deal d
    JOIN crm.counterparty c ON c.id = d.counterparty_id
    JOIN crm.contact ct ON ct.id = d.contact_id
    JOIN crm.employee e ON e.id = d.manager_id
    LEFT JOIN crm.equipment_type et ON et.id = d.equipment_type_id
   WHERE d.id = print_header.deal;
END
$$;
COMMENT ON FUNCTION crm.print_header(bigint, text, bigint) IS 'R14: the header, parties, terms and totals of a print form, as text';

-- the lines of the printed document (or of the draft proposal), as numbers
CREATE FUNCTION crm.print_lines_raw(deal bigint, document bigint)
RETURNS TABLE (line_no integer, description text, delivery_terms text, quantity numeric, unit text,
               unit_price numeric, vat_rate numeric, net_amount numeric, vat_amount numeric, total_amount numeric)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT l.line_no, l.description, l.delivery_terms, l.quantity, l.unit, l.unit_price, l.vat_rate,
         l.net_amount, l.vat_amount, l.total_amount
    FROM crm.document_line l WHERE l.document_id = document
  UNION ALL
  SELECT p.line_no, p.description, p.delivery_terms, p.quantity, p.unit, p.unit_price, p.vat_rate,
         p.net_amount, p.vat_amount, p.total_amount
    FROM crm.document_plan(deal, 'proposal') p WHERE document IS NULL
  ORDER BY 1
$$;

-- The lines of a form, as text ready to print.
CREATE FUNCTION crm.print_lines(deal bigint, kind text, document bigint DEFAULT NULL)
RETURNS TABLE (line_no text, description text, delivery_terms text, quantity text, unit text, unit_price text,
               vat_rate text, net_amount text, vat_amount text, total_amount text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT l.line_no::text, l.description, l.delivery_terms,
         rtrim(rtrim(to_char(l.quantity, 'FM999999999990.999'), '0'), '.'),
         l.unit, crm.money_text(l.unit_price),
         rtrim(rtrim(to_char(l.vat_rate, 'FM990.99'), '0'), '.') || '%',
         crm.money_text(l.net_amount), crm.money_text(l.vat_amount), crm.money_text(l.total_amount)
    FROM crm.print_lines_raw(deal, crm.print_document(deal, kind, document)) l
   ORDER BY l.line_no
$$;
COMMENT ON FUNCTION crm.print_lines(bigint, text, bigint) IS 'R14: the lines of a print form, as text';

CREATE FUNCTION crm.render_pdf(deal bigint, kind text, document bigint) RETURNS bytea
LANGUAGE c AS 'MODULE_PATHNAME', 'render_pdf';
COMMENT ON FUNCTION crm.render_pdf(bigint, text, bigint) IS 'R14: lays out a print form (proposal or invoice) as a PDF; use crm.proposal_pdf / crm.invoice_pdf';

-- R14: the commercial proposal of a deal: its latest live proposal, or a
-- draft from the lines when none is issued yet.
CREATE FUNCTION crm.proposal_pdf(deal bigint) RETURNS bytea
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  SELECT crm.render_pdf(deal, 'proposal', NULL)
$$;
COMMENT ON FUNCTION crm.proposal_pdf(bigint) IS 'R14: the commercial proposal of the deal as a PDF (a draft if no proposal is issued yet)';

-- R14: an invoice for payment as a PDF (or any printable document by id).
CREATE FUNCTION crm.document_pdf(document bigint) RETURNS bytea
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  x record;
BEGIN
  SELECT d.deal_id, d.kind INTO x FROM crm.document d WHERE d.id = document;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'document % does not exist or is not yours', document USING ERRCODE = 'no_data_found';
  END IF;
  IF x.kind NOT IN ('proposal', 'invoice') THEN
    RAISE EXCEPTION 'there is no print form for a % yet', x.kind
      USING ERRCODE = 'feature_not_supported', DETAIL = 'Proposals and invoices for payment are printed.';
  END IF;
  RETURN crm.render_pdf(x.deal_id, x.kind, document);
END
$$;
CREATE FUNCTION crm.invoice_pdf(document bigint) RETURNS bytea
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM crm.document d WHERE d.id = document AND d.kind = 'invoice') THEN
    RAISE EXCEPTION 'document % is not an invoice for payment (or is not yours)', document
      USING ERRCODE = 'no_data_found';
  END IF;
  RETURN crm.document_pdf(document);
END
$$;
COMMENT ON FUNCTION crm.document_pdf(bigint) IS 'R14: a proposal or an invoice for payment as a PDF';
COMMENT ON FUNCTION crm.invoice_pdf(bigint) IS 'R14: the invoice for payment as a PDF';

REVOKE ALL ON FUNCTION crm.print_document(bigint, text, bigint), crm.print_header(bigint, text, bigint),
  crm.print_lines_raw(bigint, bigint), crm.print_lines(bigint, text, bigint), crm.render_pdf(bigint, text, bigint),
  crm.proposal_pdf(bigint), crm.document_pdf(bigint), crm.invoice_pdf(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.print_document(bigint, text, bigint), crm.print_header(bigint, text, bigint),
  crm.print_lines_raw(bigint, bigint), crm.print_lines(bigint, text, bigint), crm.render_pdf(bigint, text, bigint),
  crm.proposal_pdf(bigint), crm.document_pdf(bigint), crm.invoice_pdf(bigint)
  TO crm_admin, crm_head, crm_manager, crm_reader;
