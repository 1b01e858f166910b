-- mailchimp.sql: the MailChimp audience (R26) -- the consent of a contact to
-- be mailed, the audience it implies, the queue that triggers fill when a
-- contact changes, and the claim/record steps of crm.mailchimp_sync()
-- (mailchimp.c).

-- Consent: only contacts who agreed are mailed.  Set by the people who
-- work with the contact (it is their column like any other).
ALTER TABLE crm.contact ADD COLUMN mailing_consent boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN crm.contact.mailing_consent IS 'the contact agreed to receive marketing e-mail (R26): with an e-mail and a lead or client counterparty, they are in the MailChimp audience';

-- The audience: every e-mail of a contact who may be mailed, of a lead or a
-- client.  member_hash is MailChimp's subscriber hash, md5(lower(email)).
CREATE VIEW crm.mailchimp_audience WITH (security_invoker = true) AS
SELECT cp.normalized AS email,
       pg_catalog.md5(cp.normalized) AS member_hash,
       c.id AS contact_id,
       k.id AS counterparty_id,
       k.kind,
       k.name AS company,
       c.full_name
  FROM crm.contact_point cp
  JOIN crm.contact c ON c.id = cp.contact_id
  JOIN crm.counterparty k ON k.id = cp.counterparty_id
 WHERE cp.kind = 'email' AND c.mailing_consent AND k.kind IN ('lead', 'client');
COMMENT ON VIEW crm.mailchimp_audience IS 'who should be subscribed in MailChimp: e-mails of consenting contacts of leads and clients (R26)';
GRANT SELECT ON crm.mailchimp_audience TO crm_admin, crm_marketing, crm_reader;

-- What crm last set in MailChimp for each address, and the last per-member
-- error MailChimp gave for it (recorded on the contact, never failing a run).
CREATE TABLE crm.mailchimp_member (
  list_id           text NOT NULL,
  email             text NOT NULL,
  member_hash       text NOT NULL,
  contact_id        bigint REFERENCES crm.contact (id) ON DELETE SET NULL,
  status            text CHECK (status IN ('subscribed', 'unsubscribed')),
  tags              text[] NOT NULL DEFAULT '{}',
  sent_hash         text,
  synced_at         timestamptz,
  last_error        text,
  last_error_code   text,
  last_error_field  text,
  last_error_at     timestamptz,
  PRIMARY KEY (list_id, email)
);
COMMENT ON TABLE crm.mailchimp_member IS 'MailChimp members as crm last set them (status, tags), and the last error MailChimp gave for the contact (R26)';
COMMENT ON COLUMN crm.mailchimp_member.sent_hash IS 'md5 of the member as last accepted: an unchanged contact is not sent again';
CREATE INDEX mailchimp_member_contact_idx ON crm.mailchimp_member (contact_id);

ALTER TABLE crm.mailchimp_member ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY mailchimp_member_read ON crm.mailchimp_member FOR SELECT
  TO crm_admin, crm_integration, crm_marketing, crm_reader USING (true);
GRANT SELECT ON crm.mailchimp_member TO crm_admin, crm_integration, crm_marketing, crm_reader;
SELECT crm.keep_in_dump('crm.mailchimp_member', '');

-- The audience (list) id crm syncs to; not a secret.
CREATE FUNCTION crm.mailchimp_list_id() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT s.value FROM crm.integration_setting s WHERE s.peer = 'mailchimp' AND s.name = 'list_id'
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_list_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.mailchimp_list_id() TO crm_admin, crm_integration, crm_marketing, crm_reader;

-- Each contact's MailChimp state: in the audience or not, what MailChimp
-- holds, and the last error.
CREATE VIEW crm.mailchimp_contact_status WITH (security_invoker = true) AS
SELECT cp.contact_id, cp.counterparty_id, cp.normalized AS email,
       a.email IS NOT NULL AS in_audience,
       m.status AS mailchimp_status, m.tags AS mailchimp_tags, m.synced_at,
       m.last_error, m.last_error_code, m.last_error_field, m.last_error_at,
       EXISTS (SELECT FROM crm.outbox o WHERE o.peer = 'mailchimp' AND o.subject = cp.normalized
                  AND o.state IN ('pending', 'batched')) AS sync_pending
  FROM crm.contact_point cp
  LEFT JOIN crm.mailchimp_audience a ON a.email = cp.normalized
  LEFT JOIN crm.mailchimp_member m ON m.email = cp.normalized AND m.list_id = crm.mailchimp_list_id()
 WHERE cp.kind = 'email';
COMMENT ON VIEW crm.mailchimp_contact_status IS 'per contact e-mail: should it be in MailChimp, what MailChimp holds, the last per-member error (R26)';
GRANT SELECT ON crm.mailchimp_contact_status TO crm_admin, crm_reader;

-- Queues an address for the next sync (in the caller's transaction: a
-- rolled-back change queues nothing).  A pending address is queued once.
CREATE FUNCTION crm.mailchimp_enqueue(email text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO crm.outbox (peer, subject) SELECT 'mailchimp', email WHERE email IS NOT NULL
  ON CONFLICT (peer, subject) WHERE state = 'pending' DO NOTHING
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_enqueue(text) FROM PUBLIC;

CREATE FUNCTION crm.mailchimp_queue_point() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- pg_restore loads crm.outbox as it was dumped: queue nothing twice
  IF crm.restoring() THEN RETURN NULL; END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'email' THEN
    PERFORM crm.mailchimp_enqueue(OLD.normalized);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'email' THEN
    PERFORM crm.mailchimp_enqueue(NEW.normalized);
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_queue_point() FROM PUBLIC;
CREATE TRIGGER mailchimp_queue AFTER INSERT OR DELETE OR UPDATE OF kind, value, contact_id, counterparty_id
  ON crm.contact_point FOR EACH ROW EXECUTE FUNCTION crm.mailchimp_queue_point();

CREATE FUNCTION crm.mailchimp_queue_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- pg_restore loads crm.outbox as it was dumped: queue nothing twice
  IF crm.restoring() THEN RETURN NULL; END IF;
  PERFORM crm.mailchimp_enqueue(cp.normalized)
     FROM crm.contact_point cp WHERE cp.contact_id = NEW.id AND cp.kind = 'email';
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_queue_contact() FROM PUBLIC;
CREATE TRIGGER mailchimp_queue AFTER UPDATE OF mailing_consent, full_name ON crm.contact
  FOR EACH ROW WHEN (OLD.mailing_consent IS DISTINCT FROM NEW.mailing_consent
                     OR OLD.full_name IS DISTINCT FROM NEW.full_name)
  EXECUTE FUNCTION crm.mailchimp_queue_contact();

CREATE FUNCTION crm.mailchimp_queue_counterparty() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- pg_restore loads crm.outbox as it was dumped: queue nothing twice
  IF crm.restoring() THEN RETURN NULL; END IF;
  PERFORM crm.mailchimp_enqueue(cp.normalized)
     FROM crm.contact_point cp WHERE cp.counterparty_id = NEW.id AND cp.kind = 'email';
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_queue_counterparty() FROM PUBLIC;
CREATE TRIGGER mailchimp_queue AFTER UPDATE OF kind, name ON crm.counterparty
  FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.name IS DISTINCT FROM NEW.name)
  EXECUTE FUNCTION crm.mailchimp_queue_counterparty();

-- Queues every address of the audience and every member crm subscribed:
-- after MailChimp is first configured, or the list changed.  Unchanged
-- members are not sent again (sent_hash).  Returns how many were queued.
CREATE FUNCTION crm.mailchimp_resync() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  INSERT INTO crm.outbox (peer, subject)
  SELECT 'mailchimp', e FROM (
    SELECT a.email AS e FROM crm.mailchimp_audience a
    UNION
    SELECT m.email FROM crm.mailchimp_member m WHERE m.status = 'subscribed') x
  ORDER BY e
  ON CONFLICT (peer, subject) WHERE state = 'pending' DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_resync() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.mailchimp_resync() TO crm_admin, crm_marketing;

-- Claims the next batch for a run: a batch whose lease ran out (a killed
-- run's, or one due again after a failure) is taken over as it was -- same
-- idempotency key, same body; otherwise up to batch_size pending addresses
-- (none that is already in flight) become a new batch.  For each address
-- the member is computed from the contact as it is now: subscribed with its
-- name and a tag for the counterparty's kind, or unsubscribed if crm had
-- subscribed it and it left the audience; an address that needs nothing is
-- marked skipped.  Returns no row when there is nothing to send.  First and
-- last name come from crm.person_name (marketing, src/segment.sql).
CREATE FUNCTION crm.mailchimp_claim(run bigint, batch_size integer)
RETURNS TABLE (batch_id bigint, list_id text, idempotency_key text, body text, extra text, members integer,
               attempts integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  b crm.outbox_batch;
  list text := (SELECT s.value FROM crm.integration_setting s WHERE s.peer = 'mailchimp' AND s.name = 'list_id');
  company_field text := COALESCE((SELECT s.value FROM crm.integration_setting s
                                   WHERE s.peer = 'mailchimp' AND s.name = 'company_field'), '');
  lease interval := make_interval(secs => crm.integration_int('mailchimp', 'lease_seconds'));
  keep_days integer := crm.integration_int('jobs', 'run_log_days');
  picked bigint[];
  member_list jsonb;
  removals jsonb;
  batched bigint[];
BEGIN
  IF list IS NULL THEN
    RAISE EXCEPTION 'mailchimp.list_id is not configured' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF batch_size NOT BETWEEN 1 AND 500 THEN
    RAISE EXCEPTION 'batch size % is out of range', batch_size
      USING ERRCODE = 'invalid_parameter_value', DETAIL = 'MailChimp takes 1 to 500 members per batch.';
  END IF;
  -- keep the outbox short: what was sent long ago goes (with its items)
  DELETE FROM crm.outbox_batch ob
   WHERE ob.peer = 'mailchimp' AND ob.state = 'sent' AND ob.created_at < now() - make_interval(days => keep_days);
  DELETE FROM crm.outbox o
   WHERE o.peer = 'mailchimp' AND o.state = 'skipped' AND o.done_at < now() - make_interval(days => keep_days);

  SELECT * INTO b FROM crm.outbox_batch ob
   WHERE ob.peer = 'mailchimp' AND ob.state = 'claimed'
     AND (ob.lease_until IS NULL OR ob.lease_until < now()) AND ob.next_attempt_at <= now()
   ORDER BY ob.id LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF FOUND THEN
    UPDATE crm.outbox_batch ob SET run_id = run, lease_until = now() + lease, attempts = ob.attempts + 1
     WHERE ob.id = b.id RETURNING * INTO b;
    RETURN QUERY SELECT b.id, b.request ->> 'list_id', b.idempotency_key, (b.request - 'list_id')::text,
                        b.extra::text, jsonb_array_length(b.request -> 'members'), b.attempts;
    RETURN;
  END IF;

  LOOP
    SELECT array_agg(q.id ORDER BY q.id) INTO picked FROM (
      SELECT o.id FROM crm.outbox o
       WHERE o.peer = 'mailchimp' AND o.state = 'pending'
         AND o.subject NOT IN (SELECT f.subject FROM crm.outbox f       -- in flight: one hashed set
                                WHERE f.peer = 'mailchimp' AND f.state = 'batched')
       ORDER BY o.id LIMIT batch_size FOR UPDATE SKIP LOCKED) q;
    IF picked IS NULL THEN
      RETURN;
    END IF;

    -- each address as MailChimp should hold it now; the ones that need
    -- nothing (not in the audience and never subscribed by crm, or exactly
    -- as MailChimp last accepted them) are marked skipped
    WITH work AS (
      SELECT o.id, o.subject AS email, w.member, md5(o.subject) AS member_hash, r.removal,
             COALESCE(w.member IS NULL OR (m.sent_hash = md5(w.member::text) AND m.last_error IS NULL
                                           AND COALESCE(cardinality(r.removal), 0) = 0), false) AS skip
        FROM crm.outbox o
        -- crm.mailchimp_audience, looked up address by address (OFFSET 0:
        -- an index lookup per address, not a scan of the whole audience)
        LEFT JOIN LATERAL (
          SELECT cp.normalized AS email, k.kind, k.name AS company, c.full_name
            FROM crm.contact_point cp
            JOIN crm.contact c ON c.id = cp.contact_id
            JOIN crm.counterparty k ON k.id = cp.counterparty_id
           WHERE cp.normalized = o.subject AND cp.kind = 'email' AND c.mailing_consent
             AND k.kind IN ('lead', 'client')
          OFFSET 0) a ON true
        LEFT JOIN LATERAL (
          SELECT mm.status, mm.tags, mm.sent_hash, mm.last_error FROM crm.mailchimp_member mm
           WHERE mm.list_id = list AND mm.email = o.subject OFFSET 0) m ON true
        LEFT JOIN LATERAL crm.person_name(a.full_name) pn ON true
        CROSS JOIN LATERAL (
          SELECT CASE
            WHEN a.email IS NOT NULL THEN
              jsonb_build_object('email_address', a.email, 'status', 'subscribed',
                                 'merge_fields', jsonb_strip_nulls(jsonb_build_object(
                                   'FNAME', COALESCE(pn.first_name, ''), 'LNAME', COALESCE(pn.last_name, ''))
                                   || CASE WHEN company_field <> '' THEN jsonb_build_object(company_field, a.company)
                                           ELSE '{}' END),
                                 'tags', jsonb_build_array(a.kind))
            WHEN m.status = 'subscribed' THEN
              jsonb_build_object('email_address', o.subject, 'status', 'unsubscribed')
          END AS member) w
        CROSS JOIN LATERAL (
          SELECT CASE WHEN a.email IS NOT NULL AND m.status = 'subscribed'
                      THEN ARRAY(SELECT t FROM unnest(m.tags) t WHERE t <> a.kind ORDER BY t) END AS removal) r
       WHERE o.id = ANY (picked)
    ), skipped AS (
      UPDATE crm.outbox o
         SET state = 'skipped', done_at = now(),
             result = CASE WHEN w.member IS NULL THEN 'not in the audience' ELSE 'unchanged' END
        FROM work w
       WHERE o.id = w.id AND w.skip
      RETURNING o.id
    )
    SELECT array_agg(w.id ORDER BY w.id) FILTER (WHERE NOT w.skip),
           jsonb_agg(w.member ORDER BY w.id) FILTER (WHERE NOT w.skip),
           COALESCE(jsonb_agg(jsonb_build_object('email', w.email, 'hash', w.member_hash,
                                                 'body', jsonb_build_object('tags',
                                                   (SELECT jsonb_agg(jsonb_build_object('name', t, 'status', 'inactive')
                                                                     ORDER BY t)
                                                      FROM unnest(w.removal) t))) ORDER BY w.id)
                      FILTER (WHERE NOT w.skip AND cardinality(w.removal) > 0), '[]')
      INTO batched, member_list, removals
      FROM work w;
    IF batched IS NOT NULL THEN
      INSERT INTO crm.outbox_batch (peer, idempotency_key, request, extra, run_id, lease_until)
      VALUES ('mailchimp', 'crm-mailchimp-' || gen_random_uuid(),
              jsonb_build_object('members', member_list, 'update_existing', true, 'list_id', list),
              removals, run, now() + lease)
      RETURNING * INTO b;
      UPDATE crm.outbox SET state = 'batched', batch_id = b.id WHERE id = ANY (batched);
      RETURN QUERY SELECT b.id, list, b.idempotency_key, (b.request - 'list_id')::text, b.extra::text,
                          jsonb_array_length(member_list), b.attempts;
      RETURN;
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_claim(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.mailchimp_claim(bigint, integer) TO crm_admin, crm_integration;

-- Records a batch MailChimp answered (HTTP 200): members it accepted and the
-- errors it gave per member (email, message, code, field).  A member error
-- is recorded on the contact's member row and does not fail anything.
-- tag_failed lists the addresses whose stale tags could not be taken off.
CREATE FUNCTION crm.mailchimp_record(batch bigint, run bigint, http_status integer,
                                     err_emails text[], err_messages text[], err_codes text[], err_fields text[],
                                     created integer, updated integer, tag_failed text[] DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  b crm.outbox_batch;
  list text;
  nerr integer;
BEGIN
  SELECT * INTO b FROM crm.outbox_batch WHERE id = batch FOR UPDATE;
  IF NOT FOUND OR b.state <> 'claimed' THEN
    RETURN NULL;          -- recorded already (by a run that took it over)
  END IF;
  list := b.request ->> 'list_id';
  tag_failed := COALESCE(tag_failed, '{}');
  WITH work AS (
    SELECT lower(mem ->> 'email_address') AS email, mem AS member, e.error, e.code, e.field
      FROM jsonb_array_elements(b.request -> 'members') mem
      LEFT JOIN (SELECT DISTINCT ON (lower(x.email)) lower(x.email) AS email, x.error, x.code,
                        NULLIF(x.field, '') AS field
                   FROM unnest(err_emails, err_messages, err_codes, err_fields) x(email, error, code, field)
                  ORDER BY lower(x.email)) e ON e.email = lower(mem ->> 'email_address')
  ), members AS (
    INSERT INTO crm.mailchimp_member AS m (list_id, email, member_hash, contact_id, status, tags, sent_hash,
                                           synced_at, last_error, last_error_code, last_error_field, last_error_at)
    SELECT list, w.email, md5(w.email),
           (SELECT cp.contact_id FROM crm.contact_point cp WHERE cp.kind = 'email' AND cp.normalized = w.email),
           CASE WHEN w.error IS NULL THEN w.member ->> 'status' END,
           CASE WHEN w.error IS NULL AND w.member ->> 'status' = 'subscribed'
                THEN ARRAY(SELECT jsonb_array_elements_text(w.member -> 'tags')) ELSE '{}' END,  -- what crm set
           CASE WHEN w.error IS NULL THEN md5(w.member::text) END,
           now(), w.error, w.code, w.field, CASE WHEN w.error IS NOT NULL THEN now() END
      FROM work w
    ON CONFLICT (list_id, email) DO UPDATE
       SET contact_id = COALESCE(EXCLUDED.contact_id, m.contact_id),
           status = COALESCE(EXCLUDED.status, m.status),
           tags = CASE WHEN EXCLUDED.last_error IS NOT NULL OR EXCLUDED.status = 'unsubscribed' THEN m.tags
                       WHEN EXCLUDED.email = ANY (tag_failed)
                       THEN ARRAY(SELECT DISTINCT t FROM unnest(m.tags || EXCLUDED.tags) t ORDER BY t)
                       ELSE EXCLUDED.tags END,
           sent_hash = CASE WHEN EXCLUDED.last_error IS NOT NULL OR EXCLUDED.email = ANY (tag_failed)
                            THEN m.sent_hash ELSE EXCLUDED.sent_hash END,
           synced_at = now(),
           last_error = CASE WHEN EXCLUDED.email = ANY (tag_failed) AND EXCLUDED.last_error IS NULL
                             THEN 'the tags crm no longer gives could not be removed' ELSE EXCLUDED.last_error END,
           last_error_code = EXCLUDED.last_error_code, last_error_field = EXCLUDED.last_error_field,
           last_error_at = CASE WHEN EXCLUDED.last_error IS NOT NULL OR EXCLUDED.email = ANY (tag_failed)
                                THEN now() ELSE m.last_error_at END
    RETURNING 1
  ), items AS (
    UPDATE crm.outbox o
       SET state = 'done', done_at = now(), result = COALESCE(w.code || ': ' || w.error, w.member ->> 'status')
      FROM work w
     WHERE o.batch_id = batch AND o.subject = w.email
    RETURNING 1
  )
  SELECT count(*) FILTER (WHERE w.error IS NOT NULL) INTO nerr FROM work w;
  UPDATE crm.outbox_batch
     SET state = 'sent', sent_at = now(), run_id = NULL, lease_until = NULL,
         http_status = mailchimp_record.http_status, last_error = NULL, last_sqlstate = NULL,
         result = jsonb_build_object('total_created', created, 'total_updated', updated, 'error_count', nerr,
                                     'tags_not_removed', cardinality(tag_failed))
   WHERE id = batch;
  RETURN nerr;
END
$$;
REVOKE ALL ON FUNCTION crm.mailchimp_record(bigint, bigint, integer, text[], text[], text[], text[], integer, integer, text[])
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.mailchimp_record(bigint, bigint, integer, text[], text[], text[], text[], integer, integer, text[])
  TO crm_admin, crm_integration;

-- The API root: base_url when set, else https://<dc>.api.mailchimp.com/3.0
-- from the key's data-centre suffix (…-us21).  The key never shows in an error.
CREATE FUNCTION crm.mailchimp_api_root(api_key text, base_url text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dc text;
BEGIN
  IF base_url IS NOT NULL THEN
    RETURN rtrim(base_url, '/');
  END IF;
  dc := substring(api_key FROM '-([a-z]+[0-9]+)$');
  IF dc IS NULL THEN
    RAISE EXCEPTION 'the MailChimp API key has no data-centre suffix'
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A MailChimp key ends with its data centre, e.g. "-us21".',
            HINT = 'Set the right key, or the API root as mailchimp.base_url (crm.configure).';
  END IF;
  RETURN 'https://' || dc || '.api.mailchimp.com/3.0';
END
$$;

CREATE PROCEDURE crm.mailchimp_sync()
LANGUAGE c AS 'MODULE_PATHNAME', 'crm_mailchimp_sync';
COMMENT ON PROCEDURE crm.mailchimp_sync() IS 'sends queued contact changes to the MailChimp audience in batches of up to 500 (R26); CALL it outside a transaction block';
REVOKE ALL ON PROCEDURE crm.mailchimp_sync() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.mailchimp_sync() TO crm_admin, crm_integration;
