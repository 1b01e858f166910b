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

-- One call of the poll, its legs already grouped (miko.c): a call handed
-- before with the same legs is skipped; otherwise the PBX's local times are
-- read in its time zone and the call is handed to crm.ingest_call, and
-- remembered.  Raises if crm refuses the call (crm.miko_handle_call below
-- catches that).  miko.c's fast path does the same for a few hundred calls
-- at once in one subtransaction (crm.ingest_call direct, then
-- crm.miko_remember), and only if crm refuses one of them hands them again
-- one by one through crm.miko_handle_call.  The direction is left to
-- crm.ingest_call, which knows the company's own numbers and extensions.
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

-- The same, call by call: a call crm refuses (or whose times cannot be
-- read) is quarantined and remembered as such; one that cannot be handed
-- now (a conflict, a missing function or privilege, a shortage) raises, and
-- the run is retried.
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

-- The calls miko.c's fast path handed to crm.ingest_call, remembered all at
-- once (parallel arrays), and any quarantine of theirs resolved.
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

-- A quarantined call, loaded again (crm.quarantine_retry).
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

CREATE PROCEDURE crm.miko_poll()
LANGUAGE c AS 'MODULE_PATHNAME', 'crm_miko_poll';
COMMENT ON PROCEDURE crm.miko_poll() IS 'pulls new calls from MikoPBX (GET /pbxcore/api/v3/cdr) and hands each to crm.ingest_call (R4); CALL it outside a transaction block';
REVOKE ALL ON PROCEDURE crm.miko_poll() FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE crm.miko_poll() TO crm_admin, crm_integration;
