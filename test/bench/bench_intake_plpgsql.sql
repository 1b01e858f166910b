-- test/bench/bench_intake_plpgsql.sql: the intake of a call written as plain
-- PL/pgSQL -- the same checks, locks, matching, writes and notifications as
-- crm.ingest_call (src/intake.c, src/intake_match.c), statement by
-- statement as one would write it without C.  It is the bar the C version
-- must clearly beat (test/bench/bench_intake.sh); it is not installed by the
-- extension.
CREATE SCHEMA IF NOT EXISTS bench_plpgsql;

CREATE OR REPLACE FUNCTION bench_plpgsql.ingest_call(
  linkedid text, caller text, called text, started_at timestamptz,
  answered_at timestamptz DEFAULT NULL, ended_at timestamptz DEFAULT NULL,
  duration integer DEFAULT NULL, billsec integer DEFAULT NULL,
  disposition text DEFAULT NULL, recording text DEFAULT NULL, direction text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dkey        text;
  caller_key  text := crm.normalize_phone(caller);
  called_key  text := crm.normalize_phone(called);
  caller_ext  integer;
  called_ext  integer;
  caller_own  boolean;
  called_own  boolean;
  dir         text;
  ext_party   text;
  ext_key     text;
  existing    bigint;
  m           record;
  new_id      bigint;
  cp          bigint;
  ct          bigint;
  iq          bigint;
  descr       text;
BEGIN
  -- the same validation
  IF linkedid IS NULL THEN
    RAISE EXCEPTION 'a call needs its linkedid' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF btrim(linkedid) = '' THEN
    RAISE EXCEPTION 'a call''s linkedid is empty' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF started_at IS NULL THEN
    RAISE EXCEPTION 'a call needs its start time (started_at)' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF answered_at < started_at OR ended_at < started_at OR ended_at < answered_at OR duration < 0
     OR billsec < 0 OR billsec > duration THEN
    RAISE EXCEPTION 'inconsistent call' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF disposition IS NOT NULL AND upper(disposition) NOT IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED') THEN
    RAISE EXCEPTION 'unknown call disposition "%"', disposition USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF direction IS NOT NULL AND direction NOT IN ('in', 'out', 'internal') THEN
    RAISE EXCEPTION 'unknown call direction "%"', direction USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF started_at > clock_timestamp() + COALESCE((SELECT s.max_clock_skew FROM crm.intake_settings s), interval '1 hour') THEN
    RAISE EXCEPTION 'the call''s start time lies in the future' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT NULL::bigint AS counterparty_id, NULL::bigint AS contact_id INTO m;
  IF caller ~ '^\s*[0-9]{1,8}\s*$' THEN caller_ext := btrim(caller)::integer; END IF;
  IF called ~ '^\s*[0-9]{1,8}\s*$' THEN called_ext := btrim(called)::integer; END IF;

  -- one linkedid, one call
  dkey := 'call:' || btrim(linkedid);
  PERFORM pg_advisory_xact_lock(1129467204, hashtext(dkey));
  SELECT i.id INTO existing FROM crm.interaction i WHERE i.dedup_key = dkey;
  IF FOUND THEN
    UPDATE crm.interaction i SET answered_at = COALESCE(ingest_call.answered_at, i.answered_at),
           ended_at = COALESCE(ingest_call.ended_at, i.ended_at), duration = COALESCE(ingest_call.duration, i.duration),
           billsec = COALESCE(ingest_call.billsec, i.billsec),
           disposition = COALESCE(upper(ingest_call.disposition), i.disposition),
           recording = COALESCE(ingest_call.recording, i.recording)
     WHERE i.id = existing;
    RETURN existing;
  END IF;

  -- the company's own numbers and extensions
  caller_own := (caller_key IS NOT NULL AND (EXISTS (SELECT FROM crm.own_phone o WHERE o.normalized = caller_key)
                                             OR EXISTS (SELECT FROM crm.employee e WHERE crm.normalize_phone(e.phone) = caller_key)))
                OR (caller_ext IS NOT NULL AND EXISTS (SELECT FROM crm.internal_extension x
                                                       WHERE caller_ext BETWEEN x.first_number AND x.last_number));
  called_own := (called_key IS NOT NULL AND (EXISTS (SELECT FROM crm.own_phone o WHERE o.normalized = called_key)
                                             OR EXISTS (SELECT FROM crm.employee e WHERE crm.normalize_phone(e.phone) = called_key)))
                OR (called_ext IS NOT NULL AND EXISTS (SELECT FROM crm.internal_extension x
                                                       WHERE called_ext BETWEEN x.first_number AND x.last_number));
  dir := COALESCE(direction, CASE WHEN caller_own AND called_own THEN 'internal' WHEN caller_own THEN 'out' ELSE 'in' END);
  IF (dir = 'in' AND caller_own) OR (dir = 'out' AND called_own) THEN
    dir := 'internal';
  END IF;
  IF dir = 'in' THEN ext_party := caller; ext_key := caller_key;
  ELSIF dir = 'out' THEN ext_party := called; ext_key := called_key;
  END IF;
  descr := CASE dir WHEN 'in' THEN 'звонок с ' || COALESCE(ext_party, 'скрытый номер')
                    WHEN 'out' THEN 'исходящий звонок на ' || COALESCE(ext_party, 'скрытый номер')
                    ELSE 'внутренний звонок' END;

  IF ext_key IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(1129467211, hashtext(ext_key));
    SELECT cp2.counterparty_id, cp2.contact_id INTO m FROM crm.contact_point cp2 WHERE cp2.normalized = ext_key;
  END IF;

  IF dir = 'in' AND ext_key IS NOT NULL AND m.counterparty_id IS NOT NULL THEN
    -- a known number: the history, and who is told
    INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key, party, caller, called,
                                 answered_at, ended_at, duration, billsec, disposition, recording,
                                 counterparty_id, contact_id)
    VALUES ('phone', 'pbx', dir, started_at, dkey, ext_party, caller, called, answered_at, ended_at,
            duration, billsec, upper(disposition), recording, m.counterparty_id, m.contact_id)
    RETURNING id INTO new_id;
    INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)
    SELECT r, 'counterparty_request', format('Новое обращение: «%s» — %s', c.name, descr),
           jsonb_build_object('interaction', new_id, 'channel', 'phone'), c.id
      FROM crm.counterparty c, crm.intake_counterparty_recipients(c.id) r
     WHERE c.id = m.counterparty_id;
    RETURN new_id;
  ELSIF dir = 'in' AND ext_key IS NOT NULL THEN
    -- an unknown number: lead, contact, phone, inquiry, the history, who is told
    INSERT INTO crm.counterparty (kind, name) VALUES ('lead', ext_party) RETURNING id INTO cp;
    INSERT INTO crm.contact (counterparty_id) VALUES (cp) RETURNING id INTO ct;
    INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
    VALUES (ct, cp, 'phone', ext_party, true);
    INSERT INTO crm.inquiry (channel, source, counterparty_id, contact_id, phones)
    VALUES ('phone', 'pbx', cp, ct, ARRAY[ext_key]) RETURNING id INTO iq;
    UPDATE crm.counterparty SET source_inquiry_id = iq WHERE id = cp;
    INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key, party, caller, called,
                                 answered_at, ended_at, duration, billsec, disposition, recording,
                                 counterparty_id, contact_id, inquiry_id)
    VALUES ('phone', 'pbx', dir, started_at, dkey, ext_party, caller, called, answered_at, ended_at,
            duration, billsec, upper(disposition), recording, cp, ct, iq)
    RETURNING id INTO new_id;
    INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)
    SELECT r, 'new_lead', format('Новый лид «%s» — %s', ext_party, descr),
           jsonb_build_object('inquiry', iq, 'interaction', new_id, 'channel', 'phone'), cp
      FROM crm.intake_lead_recipients() r;
    RETURN new_id;
  ELSIF dir = 'in' THEN
    INSERT INTO crm.inquiry (channel, source, anonymous) VALUES ('phone', 'pbx', true) RETURNING id INTO iq;
    INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key, party, caller, called,
                                 answered_at, ended_at, duration, billsec, disposition, recording, inquiry_id)
    VALUES ('phone', 'pbx', dir, started_at, dkey, ext_party, caller, called, answered_at, ended_at,
            duration, billsec, upper(disposition), recording, iq)
    RETURNING id INTO new_id;
    RETURN new_id;
  END IF;
  INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key, party, caller, called,
                               answered_at, ended_at, duration, billsec, disposition, recording,
                               counterparty_id, contact_id)
  VALUES ('phone', 'pbx', dir, started_at, dkey, ext_party, caller, called, answered_at, ended_at,
          duration, billsec, upper(disposition), recording, m.counterparty_id, m.contact_id)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
