-- crm 1.1 -> 1.2: the changes to objects that 1.1 already had.
\echo Use "ALTER EXTENSION crm UPDATE TO '1.2'" to load this file. \quit

-- task (intake perf): the announcement of a notification is a C trigger
-- function; the payload is the same.

CREATE OR REPLACE FUNCTION crm.notification_announce() RETURNS trigger
AS 'MODULE_PATHNAME', 'notification_announce'
LANGUAGE C;

-- intake (perf): the CHECK rules of crm.inquiry and crm.interaction, each
-- one C call, exactly the SQL expression they replace (sql/intake_rules.sql)
CREATE FUNCTION crm.inquiry_row_valid(source text, status text, close_reason text, department_id integer,
                                      responsible_id integer, genuine boolean, conflict boolean,
                                      conflict_counterparty_ids bigint[])
RETURNS boolean
AS 'MODULE_PATHNAME', 'inquiry_row_valid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.inquiry_row_valid(text, text, text, integer, integer, boolean, boolean, bigint[]) IS
  'the CHECK rule of crm.inquiry: btrim(source) <> '''' AND status IN (''new'', ''triaged'', ''assigned'', ''qualified'', ''closed'') AND (status <> ''closed'' OR btrim(close_reason) <> '''') AND (status NOT IN (''triaged'', ''assigned'', ''qualified'') OR department_id IS NOT NULL) AND (status NOT IN (''assigned'', ''qualified'') OR responsible_id IS NOT NULL) AND ((status = ''qualified'') = (genuine IS TRUE)) AND (NOT conflict OR cardinality(conflict_counterparty_ids) >= 2)';
CREATE FUNCTION crm.interaction_row_valid(source text, duration integer, billsec integer,
                                          occurred_at timestamptz, answered_at timestamptz,
                                          ended_at timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'interaction_row_valid'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.interaction_row_valid(text, integer, integer, timestamptz, timestamptz, timestamptz) IS
  'the CHECK rule of crm.interaction: btrim(source) <> '''' AND duration >= 0 AND billsec >= 0 AND billsec <= duration AND answered_at >= occurred_at AND ended_at >= occurred_at AND ended_at >= answered_at';
ALTER TABLE crm.inquiry DROP CONSTRAINT inquiry_valid,
  ADD CONSTRAINT inquiry_valid CHECK (crm.inquiry_row_valid(source, status, close_reason, department_id,
                                                        responsible_id, genuine, conflict,
                                                        conflict_counterparty_ids));
ALTER TABLE crm.interaction DROP CONSTRAINT interaction_valid,
  ADD CONSTRAINT interaction_valid CHECK (crm.interaction_row_valid(source, duration, billsec, occurred_at,
                                                                answered_at, ended_at));

-- integrations: the PBX poll re-reads 180 minutes by default; run rows are
-- stamped with the clock; pg_cron runs matched to run rows more robustly
UPDATE crm.integration_option
   SET default_value = '180',
       description = 'each poll re-reads this much before the watermark (the latest call start seen), so that legs that arrive late join their call; longer than the longest call'
 WHERE peer = 'miko' AND name = 'overlap_minutes';
ALTER TABLE crm.integration_run ALTER COLUMN started_at SET DEFAULT pg_catalog.clock_timestamp();

CREATE OR REPLACE FUNCTION crm.integration_begin(p text, OUT run_id bigint, OUT reason text, OUT watermark jsonb)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r crm.integration_peer;
  missing text;
BEGIN
  IF p IS NULL OR p NOT IN ('miko', 'mailbox', 'mailchimp') THEN
    RAISE EXCEPTION 'unknown peer "%"', p USING ERRCODE = 'undefined_object';
  END IF;
  INSERT INTO crm.integration_peer (peer) VALUES (p) ON CONFLICT (peer) DO NOTHING;
  SELECT * INTO r FROM crm.integration_peer WHERE peer = p FOR UPDATE;
  DELETE FROM crm.integration_run ir
   WHERE ir.started_at < now() - make_interval(days => crm.integration_int('jobs', 'run_log_days'));
  IF r.state = 'running' AND r.lease_until < now() THEN
    r.state := 'idle';
    UPDATE crm.integration_peer SET state = 'idle', run_id = NULL, lease_until = NULL WHERE peer = p;
  END IF;
  UPDATE crm.integration_run ir
     SET outcome = 'abandoned', finished_at = now(),
         error = 'the run ended without recording its outcome (terminated or crashed); its work was taken over after its lease'
   WHERE ir.peer = p AND ir.outcome = 'running' AND (r.state <> 'running' OR ir.id <> r.run_id);
  SELECT string_agg(o.name, ', ' ORDER BY o.name) INTO missing
    FROM crm.integration_option o
    LEFT JOIN crm.integration_setting s ON s.peer = o.peer AND s.name = o.name
   WHERE o.peer = p AND o.required AND s.value IS NULL;
  IF missing IS NOT NULL THEN
    reason := format('%s is not configured (missing: %s); see crm.integration_option', p, missing);
    RETURN;
  END IF;
  IF r.state = 'failed' THEN
    reason := format('%s is stopped since %s: %s; change its configuration with crm.configure() to start it again',
                     p, r.last_error_at, r.last_error);
  ELSIF r.state = 'running' THEN
    reason := format('run %s of %s holds the lease until %s', r.run_id, p, r.lease_until);
  ELSIF r.next_attempt_at > now() THEN
    reason := format('%s is backing off after %s failed attempts until %s (last error: %s)',
                     p, r.attempts, r.next_attempt_at, r.last_error);
  END IF;
  IF reason IS NOT NULL THEN
    INSERT INTO crm.integration_run (peer, finished_at, outcome, error)
    VALUES (p, clock_timestamp(), 'skipped', reason);
    RETURN;
  END IF;
  INSERT INTO crm.integration_run (peer) VALUES (p) RETURNING id INTO run_id;
  UPDATE crm.integration_peer
     SET state = 'running', run_id = integration_begin.run_id,
         lease_until = now() + make_interval(secs => crm.integration_int(p, 'lease_seconds')),
         last_run_at = now()
   WHERE peer = p;
  watermark := r.watermark;
END
$$;

CREATE OR REPLACE FUNCTION crm.quarantine_retry(id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q crm.integration_quarantine;
BEGIN
  SELECT * INTO q FROM crm.integration_quarantine iq WHERE iq.id = quarantine_retry.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'quarantined item % does not exist', quarantine_retry.id USING ERRCODE = 'undefined_object';
  END IF;
  IF q.peer = 'mailbox' THEN
    RETURN crm.mailbox_handle(q.source_key, q.raw, (q.data ->> 'size')::bigint);
  ELSIF q.peer = 'miko' AND q.data ? 'call' THEN
    RETURN crm.miko_ingest(q.data -> 'call');
  END IF;
  RAISE EXCEPTION 'quarantined item % cannot be loaded again', quarantine_retry.id
    USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;

CREATE OR REPLACE FUNCTION crm.job_runs(since timestamptz DEFAULT pg_catalog.now() - interval '7 days')
RETURNS TABLE (job text, source text, cron_runid bigint, started_at timestamptz, finished_at timestamptz,
               cron_status text, cron_message text, run_id bigint, peer text, outcome text,
               sqlstate text, error text, detail jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF to_regclass('cron.job_run_details') IS NOT NULL THEN
    RETURN QUERY EXECUTE $q$
      WITH cr AS (
        SELECT substr(cj.jobname, 5) AS job, d.runid, d.job_pid, d.start_time, d.end_time, d.status, d.return_message
          FROM cron.job_run_details d JOIN cron.job cj ON cj.jobid = d.jobid
         WHERE cj.jobname LIKE 'crm:%' AND d.start_time >= $1
      ), matched AS (
        SELECT cr.*, r.id AS rid
          FROM cr LEFT JOIN LATERAL (
                SELECT ir.id FROM crm.integration_run ir
                 WHERE ir.pid = cr.job_pid
                   AND ir.started_at BETWEEN cr.start_time - interval '1 minute'
                                         AND COALESCE(cr.end_time, pg_catalog.now()) + interval '1 second'
                 ORDER BY abs(extract(epoch FROM ir.started_at - cr.start_time)), ir.id LIMIT 1) r ON true
      )
      SELECT m.job, 'pg_cron'::text, m.runid, m.start_time, m.end_time, m.status, m.return_message,
             r.id, r.peer, r.outcome, r.sqlstate, r.error, r.detail
        FROM matched m LEFT JOIN crm.integration_run r ON r.id = m.rid
      UNION ALL
      SELECT NULL, 'manual', NULL, r.started_at, r.finished_at, NULL, NULL,
             r.id, r.peer, r.outcome, r.sqlstate, r.error, r.detail
        FROM crm.integration_run r
       WHERE r.started_at >= $1 AND r.id NOT IN (SELECT rid FROM matched WHERE rid IS NOT NULL)
      ORDER BY 4 DESC, 8 DESC
    $q$ USING since;
  ELSE
    RETURN QUERY
      SELECT NULL::text, 'manual'::text, NULL::bigint, r.started_at, r.finished_at, NULL::text, NULL::text,
             r.id, r.peer, r.outcome, r.sqlstate, r.error, r.detail
        FROM crm.integration_run r WHERE r.started_at >= since
       ORDER BY r.started_at DESC, r.id DESC;
  END IF;
END
$$;

-- integrations: the PBX poll hands a few hundred calls at once
-- (crm.miko_remember), call by call only when crm refuses one; a quarantined
-- call keeps the PBX's own fields and its legs are written only then.
DROP FUNCTION crm.miko_ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer,
                                   integer, text, text, text, integer, bigint);
DROP FUNCTION crm.miko_ingest(jsonb, jsonb);
DROP FUNCTION crm.miko_handle_call(text, integer, bigint, text, text, text, text, text, integer, integer,
                                   text, text, text, text);
CREATE FUNCTION crm.miko_hand_call(linkedid text, nlegs integer, last_leg_id bigint, caller text, called text,
                                   started text, answered text, ended text, leg_duration integer,
                                   billsec integer, disposition text, recording text, tz text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  iid bigint;
  t0 timestamptz;
  t1 timestamptz;
  t2 timestamptz;
BEGIN
  IF EXISTS (SELECT FROM crm.miko_call_seen cs
              WHERE cs.linkedid = miko_hand_call.linkedid AND cs.legs = nlegs
                AND cs.last_leg_id = miko_hand_call.last_leg_id) THEN
    RETURN 'unchanged';
  END IF;
  t0 := started::timestamp AT TIME ZONE tz;
  t1 := NULLIF(answered, '')::timestamp AT TIME ZONE tz;
  t2 := NULLIF(ended, '')::timestamp AT TIME ZONE tz;
  iid := crm.ingest_call(linkedid => miko_hand_call.linkedid, caller => NULLIF(caller, ''),
                         called => NULLIF(called, ''), started_at => t0, answered_at => t1, ended_at => t2,
                         duration => COALESCE(ceil(extract(epoch FROM t2 - t0))::integer, leg_duration),
                         billsec => miko_hand_call.billsec, disposition => NULLIF(disposition, ''),
                         recording => NULLIF(recording, ''));
  INSERT INTO crm.miko_call_seen AS s (linkedid, legs, last_leg_id, outcome, interaction_id, started_at)
  VALUES (miko_hand_call.linkedid, nlegs, miko_hand_call.last_leg_id, 'ingested', iid, t0)
  ON CONFLICT ON CONSTRAINT miko_call_seen_pkey DO UPDATE
     SET legs = EXCLUDED.legs, last_leg_id = EXCLUDED.last_leg_id, outcome = 'ingested',
         interaction_id = EXCLUDED.interaction_id, started_at = EXCLUDED.started_at, handed_at = now();
  IF EXISTS (SELECT FROM crm.integration_quarantine q
              WHERE q.peer = 'miko' AND q.source_key = miko_hand_call.linkedid AND q.resolved_at IS NULL) THEN
    PERFORM crm.integration_quarantine_resolve('miko', miko_hand_call.linkedid);
  END IF;
  RETURN 'ingested';
END
$$;

CREATE FUNCTION crm.miko_handle_call(linkedid text, nlegs integer, last_leg_id bigint, caller text, called text,
                                     started text, answered text, ended text, leg_duration integer,
                                     billsec integer, disposition text, recording text, tz text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  st text;
  msg text;
  det text;
BEGIN
  BEGIN
    RETURN crm.miko_hand_call(linkedid, nlegs, last_leg_id, caller, called, started, answered, ended,
                              leg_duration, billsec, disposition, recording, tz);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    IF NOT crm.integration_refusal(st) THEN
      RAISE;
    END IF;
  END;
  PERFORM crm.integration_quarantine_put('miko', linkedid, NULL,
    jsonb_build_object('call', jsonb_build_object(
        'linkedid', linkedid, 'caller', caller, 'called', called, 'started', started, 'answered', answered,
        'ended', ended, 'leg_duration', leg_duration, 'billsec', billsec, 'disposition', disposition,
        'recording', recording, 'tz', tz, 'nlegs', nlegs, 'last_leg_id', last_leg_id)),
    st, msg, NULLIF(det, ''));
  INSERT INTO crm.miko_call_seen AS s (linkedid, legs, last_leg_id, outcome)
  VALUES (miko_handle_call.linkedid, nlegs, miko_handle_call.last_leg_id, 'quarantined')
  ON CONFLICT ON CONSTRAINT miko_call_seen_pkey DO UPDATE
     SET legs = EXCLUDED.legs, last_leg_id = EXCLUDED.last_leg_id, outcome = 'quarantined', handed_at = now();
  RETURN 'quarantined';
END
$$;

CREATE FUNCTION crm.miko_remember(linkedids text[], nlegs integer[], last_leg_ids bigint[],
                                  interaction_ids bigint[], starts text[], tz text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n integer;
  l text;
BEGIN
  INSERT INTO crm.miko_call_seen AS s (linkedid, legs, last_leg_id, outcome, interaction_id, started_at)
  SELECT u.l, u.legs, u.last, 'ingested', NULLIF(u.iid, 0), u.st::timestamp AT TIME ZONE tz
    FROM unnest(linkedids, nlegs, last_leg_ids, interaction_ids, starts) u(l, legs, last, iid, st)
  ON CONFLICT ON CONSTRAINT miko_call_seen_pkey DO UPDATE
     SET legs = EXCLUDED.legs, last_leg_id = EXCLUDED.last_leg_id, outcome = 'ingested',
         interaction_id = EXCLUDED.interaction_id, started_at = EXCLUDED.started_at, handed_at = now();
  GET DIAGNOSTICS n = ROW_COUNT;
  FOR l IN SELECT q.source_key FROM crm.integration_quarantine q
            WHERE q.peer = 'miko' AND q.resolved_at IS NULL AND q.source_key = ANY (linkedids) LOOP
    PERFORM crm.integration_quarantine_resolve('miko', l);
  END LOOP;
  RETURN n;
END
$$;

CREATE FUNCTION crm.miko_ingest(call jsonb) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM crm.miko_call_seen WHERE linkedid = call ->> 'linkedid';
  RETURN crm.miko_handle_call(call ->> 'linkedid', (call ->> 'nlegs')::integer, (call ->> 'last_leg_id')::bigint,
                              call ->> 'caller', call ->> 'called', call ->> 'started', call ->> 'answered',
                              call ->> 'ended', (call ->> 'leg_duration')::integer, (call ->> 'billsec')::integer,
                              call ->> 'disposition', call ->> 'recording', call ->> 'tz');
END
$$;

CREATE FUNCTION crm.miko_quarantine_legs(linkedid text, legs jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE crm.integration_quarantine
     SET data = COALESCE(data, '{}') || jsonb_build_object('legs', legs)
   WHERE peer = 'miko' AND source_key = linkedid
$$;

REVOKE ALL ON FUNCTION
  crm.miko_remember(text[], integer[], bigint[], bigint[], text[], text),
  crm.miko_hand_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_handle_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_ingest(jsonb), crm.miko_forget(integer), crm.miko_quarantine_legs(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
  crm.miko_remember(text[], integer[], bigint[], bigint[], text[], text),
  crm.miko_hand_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_handle_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_forget(integer), crm.miko_quarantine_legs(text, jsonb) TO crm_admin, crm_integration;
-- quarantined calls of 1.1 carried ingest_call's arguments; 1.2 keeps the
-- PBX's fields (local times and their zone): the times are given in UTC
UPDATE crm.integration_quarantine q
   SET data = q.data || jsonb_build_object('call',
                (q.data -> 'call') - ARRAY['started_at', 'answered_at', 'ended_at', 'duration']
                || jsonb_build_object(
                     'started', to_char((q.data -> 'call' ->> 'started_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                     'answered', COALESCE(to_char((q.data -> 'call' ->> 'answered_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''),
                     'ended', COALESCE(to_char((q.data -> 'call' ->> 'ended_at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''),
                     'leg_duration', q.data -> 'call' -> 'duration',
                     'tz', 'UTC'))
 WHERE q.peer = 'miko' AND q.data ? 'call' AND NOT (q.data -> 'call') ? 'tz';

-- marketing/integrations: the audience gives the contact's full name (first
-- and last name are crm.person_name's, src/segment.sql); the status view
-- depends on it and is made again as it was
DROP VIEW crm.mailchimp_contact_status;
DROP VIEW crm.mailchimp_audience;
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

-- integrations: the queue triggers do nothing while pg_restore loads (the
-- dumped crm.outbox comes back as it was); claim and record as single
-- statements
CREATE OR REPLACE FUNCTION crm.mailchimp_queue_point() RETURNS trigger
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

CREATE OR REPLACE FUNCTION crm.mailchimp_queue_contact() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- pg_restore loads crm.outbox as it was dumped: queue nothing twice
  IF crm.restoring() THEN RETURN NULL; END IF;
  PERFORM crm.mailchimp_enqueue(cp.normalized)
     FROM crm.contact_point cp WHERE cp.contact_id = NEW.id AND cp.kind = 'email';
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION crm.mailchimp_queue_counterparty() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- pg_restore loads crm.outbox as it was dumped: queue nothing twice
  IF crm.restoring() THEN RETURN NULL; END IF;
  PERFORM crm.mailchimp_enqueue(cp.normalized)
     FROM crm.contact_point cp WHERE cp.counterparty_id = NEW.id AND cp.kind = 'email';
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION crm.mailchimp_claim(run bigint, batch_size integer)
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

CREATE OR REPLACE FUNCTION crm.mailchimp_record(batch bigint, run bigint, http_status integer,
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

-- migration: a stock line whose series is blanks only has no series (lot "1C"),
-- as an empty field; it aborted the whole import with 23514
CREATE OR REPLACE FUNCTION crm.migration_stock(run bigint, doc text,
  OUT records integer, OUT rejected integer, OUT created integer, OUT updated integer, OUT unchanged integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  SET LOCAL client_min_messages = warning;
  CREATE TEMP TABLE IF NOT EXISTS crm_stage_stock (
    line_no integer, problem text, warehouse text, product_code text, sku text, product_name text, lot text,
    expiry text, quantity text, received text,
    warehouse_id integer, warehouse_active boolean, product_id bigint, lot_number text, expiry_d date,
    expiry_precision text, quantity_n numeric, received_d date,
    lot_id bigint, lot_expiry date, lot_precision text, imported numeric, reasons text[]);
  TRUNCATE crm_stage_stock;
  -- one pass: read, parse, resolve warehouse and product, find the lot and
  -- what an earlier import put into it
  INSERT INTO crm_stage_stock (line_no, problem, warehouse, product_code, sku, product_name, lot, expiry, quantity,
                               received, warehouse_id, warehouse_active, product_id, lot_number, expiry_d,
                               expiry_precision, quantity_n, received_d, lot_id, lot_expiry, lot_precision, imported)
  SELECT t.line_no, t.problem, t.warehouse, t.code, t.sku, t.name, t.lot, t.expiry, t.quantity, t.received,
         w.warehouse_id, w.active, t.product_id, t.lot_number,
         coalesce(t.day, t.month), CASE WHEN t.day IS NOT NULL THEN 'day' WHEN t.month IS NOT NULL THEN 'month' END,
         t.quantity_n, t.received_d, l.id, l.expiry, l.expiry_precision, im.quantity
    FROM (SELECT r.*, coalesce(p.id, ps.id) AS product_id, coalesce(r.lot, '1C') AS lot_number
            FROM (SELECT c.line_no, c.problem, btrim(c.warehouse) AS warehouse, btrim(c.code) AS code, btrim(c.sku) AS sku,
                         btrim(c.name) AS name, NULLIF(btrim(c.lot), '') AS lot, btrim(c.expiry) AS expiry, c.quantity, c.received,
                         crm.parse_1c_date(c.expiry) AS day, crm.parse_1c_month(c.expiry) AS month,
                         crm.parse_1c_number(c.quantity) AS quantity_n, crm.parse_1c_date(c.received) AS received_d
                    FROM crm.csv_read(doc, ARRAY['Склад', '?Код|Код номенклатуры', '?Артикул', '?Номенклатура|Наименование',
                                                 '?Серия|Партия|Номер партии|Серия номенклатуры', '?Годен до|Срок годности|Годен',
                                                 'Количество|Остаток|Конечный остаток|Количество остаток',
                                                 '?Дата поступления|Дата прихода|Поступление'])
                      AS c(line_no integer, problem text, warehouse text, code text, sku text, name text, lot text,
                           expiry text, quantity text, received text)) r
            LEFT JOIN crm.product p ON p.code_1c = r.code
            LEFT JOIN crm.product ps ON r.code IS NULL AND ps.sku = r.sku) t
    LEFT JOIN crm.migration_warehouse_names() w ON w.name = lower(t.warehouse)
    LEFT JOIN crm.lot l ON l.product_id = t.product_id AND l.warehouse_id = w.warehouse_id AND l.lot_number = t.lot_number
    LEFT JOIN (SELECT m.lot_id, sum(m.quantity) AS quantity FROM crm.stock_move m WHERE m.kind = 'import'
                GROUP BY m.lot_id) im ON im.lot_id = l.id;

  -- the reasons, computed where something is wrong
  UPDATE crm_stage_stock s SET reasons = r.reasons
    FROM (SELECT x.line_no, array_remove(ARRAY[
      '22P04 ' || x.problem,
      CASE WHEN x.warehouse IS NULL THEN '23502 no warehouse (Склад)'
           WHEN x.warehouse_id IS NULL THEN format('23503 warehouse "%s" is unknown (add it to crm.migration_map)', x.warehouse)
           WHEN NOT x.warehouse_active THEN format('55000 warehouse "%s" is not active', x.warehouse) END,
      CASE WHEN x.product_code IS NULL AND x.sku IS NULL THEN '23502 no product code (Код) or article (Артикул)'
           WHEN x.product_id IS NULL THEN format('23503 product "%s" is not loaded (load the catalogue first)',
                                                 coalesce(x.product_code, x.sku)) END,
      CASE WHEN length(x.lot) > 64 THEN format('22001 series "%s" is longer than 64 characters', x.lot)
           WHEN x.lot ~ '[[:cntrl:]]' THEN format('22P02 series "%s" has a control character', x.lot) END,
      CASE WHEN x.quantity IS NULL THEN '23502 no quantity (Количество)'
           WHEN x.quantity_n IS NULL THEN format('22P02 quantity "%s" is not a number', x.quantity)
           WHEN x.quantity_n <= 0 THEN format('23514 quantity %s is not positive', x.quantity_n)
           WHEN x.quantity_n <> round(x.quantity_n, 3) THEN format('22P02 quantity %s has more than 3 decimals', x.quantity_n)
           WHEN x.quantity_n >= 1e12 THEN format('22003 quantity %s is too large', x.quantity_n) END,
      CASE WHEN x.expiry IS NOT NULL AND x.expiry_d IS NULL THEN format('22007 best before "%s" is not a date or month', x.expiry) END,
      CASE WHEN x.received IS NOT NULL AND x.received_d IS NULL THEN format('22007 received "%s" is not a date', x.received) END,
      CASE WHEN x.lot_id IS NOT NULL AND x.imported IS NULL
           THEN format('23505 lot "%s" of %s is already in stock, not from 1C', x.lot_number, coalesce(x.product_code, x.sku))
           WHEN x.lot_id IS NOT NULL AND x.imported <> x.quantity_n
           THEN format('23505 lot "%s" of %s was loaded from 1C with %s, this file says %s', x.lot_number,
                       coalesce(x.product_code, x.sku), x.imported, x.quantity_n)
           WHEN x.lot_id IS NOT NULL AND (x.lot_expiry, x.lot_precision) IS DISTINCT FROM (x.expiry_d, x.expiry_precision)
           THEN format('23505 lot "%s" of %s is in stock with another best before', x.lot_number, coalesce(x.product_code, x.sku)) END],
      NULL) AS reasons
            FROM crm_stage_stock x
           WHERE x.problem IS NOT NULL OR x.warehouse_id IS NULL OR NOT x.warehouse_active OR x.product_id IS NULL
              OR length(x.lot) > 64 OR x.lot ~ '[[:cntrl:]]' OR x.quantity_n IS NULL OR x.quantity_n <= 0
              OR x.quantity_n <> round(x.quantity_n, 3) OR x.quantity_n >= 1e12
              OR (x.expiry IS NOT NULL AND x.expiry_d IS NULL) OR (x.received IS NOT NULL AND x.received_d IS NULL)
              OR (x.lot_id IS NOT NULL AND (x.imported IS DISTINCT FROM x.quantity_n
                   OR (x.lot_expiry, x.lot_precision) IS DISTINCT FROM (x.expiry_d, x.expiry_precision)))) r
   WHERE r.line_no = s.line_no;
  -- the same lot twice in the file
  UPDATE crm_stage_stock s SET reasons = coalesce(s.reasons, '{}') || format('23505 lot "%s" of %s in %s repeats line %s',
                                                             s.lot_number, coalesce(s.product_code, s.sku), s.warehouse, d.first)
    FROM (SELECT x.warehouse_id, x.product_id, x.lot_number, min(x.line_no) AS first
            FROM crm_stage_stock x WHERE x.product_id IS NOT NULL AND x.warehouse_id IS NOT NULL
           GROUP BY 1, 2, 3 HAVING count(*) > 1) d
   WHERE s.warehouse_id = d.warehouse_id AND s.product_id = d.product_id AND s.lot_number = d.lot_number
     AND s.line_no > d.first;

  SELECT count(*), count(*) FILTER (WHERE cardinality(s.reasons) > 0), count(*) FILTER (WHERE s.lot_id IS NOT NULL)
    INTO records, rejected, unchanged FROM crm_stage_stock s;
  created := 0; updated := 0;
  IF rejected > 0 THEN
    unchanged := 0;
    PERFORM crm.migration_reject(run, 'pg_temp.crm_stage_stock', 'coalesce(s.product_code, s.sku) || '' / '' || coalesce(s.lot, ''-'')',
      ARRAY['warehouse', 'product_code', 'sku', 'product_name', 'lot', 'expiry', 'quantity', 'received']);
    RETURN;
  END IF;
  -- the new lots, as crm.receive_lot(..., source => 'import') makes them,
  -- in lock order (product, warehouse, lot)
  WITH lots AS (
    INSERT INTO crm.lot (product_id, warehouse_id, lot_number, received_at, expiry, expiry_precision, on_hand, source)
    SELECT x.product_id, x.warehouse_id, x.lot_number,
           coalesce(x.received_d::timestamptz, now()), x.expiry_d, x.expiry_precision, x.quantity_n, 'import'
      FROM (SELECT * FROM crm_stage_stock y WHERE y.lot_id IS NULL ORDER BY y.product_id, y.warehouse_id, y.lot_number) x
    RETURNING id, on_hand)
  INSERT INTO crm.stock_move (lot_id, kind, quantity)
  SELECT lots.id, 'import', lots.on_hand FROM lots;
  GET DIAGNOSTICS created = ROW_COUNT;
END
$$;
