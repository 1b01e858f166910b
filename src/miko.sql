-- miko.sql: calls from MikoPBX (R4).  CALL crm.miko_poll() (miko.c) reads
-- GET /pbxcore/api/v3/cdr page by page from the watermark minus an overlap,
-- groups the legs of each call by linkedid and hands every call to
-- crm.ingest_call (intake) through crm.miko_handle_call below, which
-- remembers what it handed so that re-reading the overlap costs nothing.
-- Which calls are internal is intake's to decide (crm.own_phone,
-- crm.internal_extension): the poller hands every call.

-- The calls handed: a call is handed again only when MikoPBX shows it with
-- other legs (a leg that arrived late).
CREATE TABLE crm.miko_call_seen (
  linkedid        text PRIMARY KEY,
  legs            integer NOT NULL,
  last_leg_id     bigint NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('ingested', 'quarantined')),
  interaction_id  bigint,
  started_at      timestamptz,
  handed_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.miko_call_seen IS 'calls of MikoPBX handed to crm.ingest_call (or quarantined), by linkedid (R4)';
CREATE INDEX miko_call_seen_handed_idx ON crm.miko_call_seen (handed_at);
ALTER TABLE crm.miko_call_seen ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY miko_call_seen_read ON crm.miko_call_seen FOR SELECT
  TO crm_admin, crm_integration, crm_reader USING (true);
GRANT SELECT ON crm.miko_call_seen TO crm_admin, crm_integration, crm_reader;
SELECT crm.keep_in_dump('crm.miko_call_seen', '');

-- Hands one call to crm.ingest_call: the PBX's local times are read in its
-- time zone, and the call handed, in one subtransaction; a call crm refuses
-- (or whose times cannot be read) is quarantined; one that cannot be handed
-- now (conflict, missing function, shortage) raises, and the run is retried.
CREATE FUNCTION crm.miko_ingest_call(linkedid text, caller text, called text, started text, answered text,
                                     ended text, leg_duration integer, billsec integer, disposition text,
                                     recording text, tz text, nlegs integer, last_leg_id bigint)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  iid bigint;
  t0 timestamptz;
  t1 timestamptz;
  t2 timestamptz;
  st text;
  msg text;
  det text;
  result text := 'ingested';
BEGIN
  BEGIN
    t0 := started::timestamp AT TIME ZONE tz;
    t1 := NULLIF(answered, '')::timestamp AT TIME ZONE tz;
    t2 := NULLIF(ended, '')::timestamp AT TIME ZONE tz;
    iid := crm.ingest_call(linkedid => miko_ingest_call.linkedid, caller => NULLIF(caller, ''),
                           called => NULLIF(called, ''), started_at => t0, answered_at => t1, ended_at => t2,
                           duration => COALESCE(ceil(extract(epoch FROM t2 - t0))::integer, leg_duration),
                           billsec => miko_ingest_call.billsec, disposition => NULLIF(disposition, ''),
                           recording => NULLIF(recording, ''));
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    IF NOT crm.integration_refusal(st) THEN
      RAISE;
    END IF;
    PERFORM crm.integration_quarantine_put('miko', miko_ingest_call.linkedid, NULL,
      jsonb_build_object('call', jsonb_build_object(
          'linkedid', miko_ingest_call.linkedid, 'caller', caller, 'called', called, 'started', started,
          'answered', answered, 'ended', ended, 'leg_duration', leg_duration,
          'billsec', miko_ingest_call.billsec, 'disposition', disposition, 'recording', recording,
          'tz', tz, 'nlegs', nlegs, 'last_leg_id', last_leg_id)),
      st, msg, NULLIF(det, ''));
    result := 'quarantined';
  END;
  INSERT INTO crm.miko_call_seen AS s (linkedid, legs, last_leg_id, outcome, interaction_id, started_at)
  VALUES (miko_ingest_call.linkedid, nlegs, last_leg_id, result, iid, t0)
  ON CONFLICT ON CONSTRAINT miko_call_seen_pkey DO UPDATE
     SET legs = EXCLUDED.legs, last_leg_id = EXCLUDED.last_leg_id, outcome = EXCLUDED.outcome,
         interaction_id = COALESCE(EXCLUDED.interaction_id, s.interaction_id),
         started_at = COALESCE(EXCLUDED.started_at, s.started_at), handed_at = now();
  IF result = 'ingested' AND EXISTS (SELECT FROM crm.integration_quarantine q
                                      WHERE q.peer = 'miko' AND q.source_key = miko_ingest_call.linkedid
                                        AND q.resolved_at IS NULL) THEN
    PERFORM crm.integration_quarantine_resolve('miko', miko_ingest_call.linkedid);
  END IF;
  RETURN result;
END
$$;

-- A quarantined call, loaded again (crm.quarantine_retry).
CREATE FUNCTION crm.miko_ingest(call jsonb) RETURNS text
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT crm.miko_ingest_call(call ->> 'linkedid', call ->> 'caller', call ->> 'called', call ->> 'started',
                              call ->> 'answered', call ->> 'ended', (call ->> 'leg_duration')::integer,
                              (call ->> 'billsec')::integer, call ->> 'disposition', call ->> 'recording',
                              call ->> 'tz', (call ->> 'nlegs')::integer, (call ->> 'last_leg_id')::bigint)
$$;

-- One call of the poll, its legs already grouped (miko.c): a call handed
-- before with the same legs is skipped; the others are handed.  The
-- direction is left to crm.ingest_call, which knows the company's own
-- numbers and extensions.
CREATE FUNCTION crm.miko_handle_call(linkedid text, nlegs integer, last_leg_id bigint, caller text, called text,
                                     started text, answered text, ended text, leg_duration integer,
                                     billsec integer, disposition text, recording text, tz text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT FROM crm.miko_call_seen cs
              WHERE cs.linkedid = miko_handle_call.linkedid AND cs.legs = nlegs
                AND cs.last_leg_id = miko_handle_call.last_leg_id) THEN
    RETURN 'unchanged';
  END IF;
  RETURN crm.miko_ingest_call(linkedid, caller, called, started, answered, ended, leg_duration, billsec,
                              disposition, recording, tz, nlegs, last_leg_id);
END
$$;

-- The legs of a call put in quarantine, as MikoPBX gave them (miko.c writes
-- them out only for such a call).
CREATE FUNCTION crm.miko_quarantine_legs(linkedid text, legs jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE crm.integration_quarantine
     SET data = COALESCE(data, '{}') || jsonb_build_object('legs', legs)
   WHERE peer = 'miko' AND source_key = linkedid
$$;

-- The dateFrom of the next poll: the watermark minus the overlap, or
-- initial_days back for the first poll, in the PBX's local time.  A
-- watermark in the future (a PBX clock gone wrong) counts as now.
CREATE FUNCTION crm.miko_date_from(watermark jsonb, overlap_minutes integer, initial_days integer, tz text)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  now_pbx timestamp := now() AT TIME ZONE tz;
  w timestamp;
BEGIN
  BEGIN
    w := (watermark ->> 'start')::timestamp;
  EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
    w := NULL;
  END;
  RETURN to_char(CASE WHEN w IS NULL THEN now_pbx - make_interval(days => initial_days)
                      ELSE least(w, now_pbx) - make_interval(mins => overlap_minutes) END,
                 'YYYY-MM-DD HH24:MI:SS');
END
$$;

-- Forgets calls handed long ago (they are past any overlap).
CREATE FUNCTION crm.miko_forget(days integer) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH d AS (DELETE FROM crm.miko_call_seen WHERE handed_at < now() - make_interval(days => days) RETURNING 1)
  SELECT count(*) FROM d
$$;

REVOKE ALL ON FUNCTION crm.miko_ingest_call(text, text, text, text, text, text, integer, integer, text, text, text,
                                            integer, bigint),
  crm.miko_ingest(jsonb),
  crm.miko_handle_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_forget(integer), crm.miko_quarantine_legs(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.miko_quarantine_legs(text, jsonb) TO crm_admin, crm_integration;
GRANT EXECUTE ON FUNCTION
  crm.miko_handle_call(text, integer, bigint, text, text, text, text, text, integer, integer, text, text, text),
  crm.miko_forget(integer) TO crm_admin, crm_integration;

CREATE PROCEDURE crm.miko_poll()
LANGUAGE c AS 'MODULE_PATHNAME', 'crm_miko_poll';
COMMENT ON PROCEDURE crm.miko_poll() IS 'pulls new calls from MikoPBX (GET /pbxcore/api/v3/cdr) and hands each to crm.ingest_call (R4); CALL it outside a transaction block';
REVOKE ALL ON PROCEDURE crm.miko_poll() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.miko_poll() TO crm_admin, crm_integration;
