-- mailbox.sql: the company mailbox (R5).  CALL crm.mail_poll() (mailbox.c)
-- reads the messages of the folder whose UID is past the watermark
-- (UIDVALIDITY, UID), fetches each with BODY.PEEK[] and loads it through
-- crm.mailbox_handle in its own transaction, which advances the watermark.

-- Loads one message; a message crm.ingest_email refuses, or one too large
-- to fetch, is quarantined with its bytes and the error: nothing in the
-- mailbox is dropped.
CREATE FUNCTION crm.mailbox_handle(key text, raw bytea, size bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  st text;
  msg text;
  det text;
BEGIN
  IF raw IS NULL THEN
    PERFORM crm.integration_quarantine_put('mailbox', key, NULL, jsonb_build_object('size', size),
      '54000', format('the message has %s bytes, more than mailbox.max_message_bytes', size),
      'It was not fetched; it is still in the mailbox.');
    RETURN 'quarantined';
  END IF;
  BEGIN
    PERFORM crm.ingest_email(raw);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    IF NOT crm.integration_refusal(st) THEN
      RAISE;
    END IF;
    PERFORM crm.integration_quarantine_put('mailbox', key, raw, jsonb_build_object('size', size),
                                           st, msg, NULLIF(det, ''));
    RETURN 'quarantined';
  END;
  PERFORM crm.integration_quarantine_resolve('mailbox', key);
  RETURN 'ingested';
END
$$;
REVOKE ALL ON FUNCTION crm.mailbox_handle(text, bytea, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.mailbox_handle(text, bytea, bigint) TO crm_admin, crm_integration;

CREATE PROCEDURE crm.mail_poll()
LANGUAGE c AS 'MODULE_PATHNAME', 'crm_mail_poll';
COMMENT ON PROCEDURE crm.mail_poll() IS 'loads new messages of the company mailbox (IMAP) through crm.ingest_email, each in its own transaction (R5); CALL it outside a transaction block';
REVOKE ALL ON PROCEDURE crm.mail_poll() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.mail_poll() TO crm_admin, crm_integration;
