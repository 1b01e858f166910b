-- integration.sql: what the jobs that talk to MikoPBX, the mailbox and
-- MailChimp share (R4, R5, R24, R26): protected configuration and secrets,
-- each peer's state (watermark, backoff, run lease), the run log, the
-- quarantine of refused inbound items, the outbox of what must be sent, and
-- crm.schedule_jobs(), which turns crm.job into pg_cron jobs.
--
-- The procedures (crm.miko_poll, crm.mail_poll, crm.mailchimp_sync, in C)
-- run as their caller and commit between steps, so they cannot be SECURITY
-- DEFINER; every write they make goes through the SECURITY DEFINER functions
-- below, each a short transaction: claim, commit, talk to the peer with no
-- lock held, record, commit.

-- What can be configured, with defaults: documentation as data.
CREATE TABLE crm.integration_option (
  peer           text NOT NULL CHECK (peer IN ('miko', 'mailbox', 'mailchimp', 'jobs')),
  name           text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  kind           text NOT NULL CHECK (kind IN ('text', 'url', 'secret', 'integer', 'choice', 'role',
                                               'timezone', 'numbers', 'regex', 'mailbox', 'file')),
  required       boolean NOT NULL DEFAULT false,
  default_value  text,
  min_value      integer,
  max_value      integer,
  choices        text[],
  description    text NOT NULL,
  PRIMARY KEY (peer, name)
);
COMMENT ON TABLE crm.integration_option IS 'the settings of the integration jobs, their kinds and defaults (set them with crm.configure)';

INSERT INTO crm.integration_option (peer, name, kind, required, default_value, min_value, max_value, choices, description) VALUES
  ('miko', 'url', 'url', true, NULL, NULL, NULL, NULL, 'base URL of the MikoPBX web interface, e.g. https://pbx.example.ru (the poller adds /pbxcore/api/v3/cdr)'),
  ('miko', 'api_key', 'secret', true, NULL, NULL, NULL, NULL, 'MikoPBX REST API key, sent as Authorization: Bearer'),
  ('miko', 'timezone', 'timezone', false, NULL, NULL, NULL, NULL, 'time zone of the PBX''s call times (default: the server''s TimeZone)'),
  ('miko', 'page_size', 'integer', false, '1000', 1, 1000, NULL, 'CDR rows per request (limit, at most 1000)'),
  ('miko', 'max_pages', 'integer', false, '200', 1, 100000, NULL, 'pages read per run at most; the rest waits for the next run'),
  ('miko', 'overlap_minutes', 'integer', false, '180', 0, 10080, NULL, 'each poll re-reads this much before the watermark (the latest call start seen), so that legs that arrive late join their call; longer than the longest call'),
  ('miko', 'initial_days', 'integer', false, '1', 0, 365, NULL, 'how far back the first poll reaches'),
  ('miko', 'lease_seconds', 'integer', false, '120', 2, 86400, NULL, 'a run holds the peer this long between steps; a killed run''s work is taken over after it'),
  ('miko', 'backoff_base_seconds', 'integer', false, '60', 1, 86400, NULL, 'first retry delay after a failure; doubles with each failure (with jitter)'),
  ('miko', 'backoff_max_seconds', 'integer', false, '3600', 1, 604800, NULL, 'longest retry delay'),
  ('miko', 'ca_file', 'file', false, NULL, NULL, NULL, NULL, 'CA certificates (PEM) to verify the PBX''s TLS certificate, if not the system''s'),
  ('mailbox', 'url', 'url', true, NULL, NULL, NULL, NULL, 'IMAP server: imaps://host[:port] or imap://host[:port]'),
  ('mailbox', 'username', 'text', true, NULL, NULL, NULL, NULL, 'IMAP login'),
  ('mailbox', 'password', 'secret', true, NULL, NULL, NULL, NULL, 'IMAP password'),
  ('mailbox', 'folder', 'mailbox', false, 'INBOX', NULL, NULL, NULL, 'the folder that is polled'),
  ('mailbox', 'after_ingest', 'choice', false, 'keep', NULL, NULL, ARRAY['keep', 'seen', 'move'], 'what is done with a message once it is loaded (or quarantined): keep it as it is, mark it \Seen, or move it to move_to'),
  ('mailbox', 'move_to', 'mailbox', false, 'Processed', NULL, NULL, NULL, 'folder for processed messages when after_ingest = move'),
  ('mailbox', 'batch_size', 'integer', false, '200', 1, 100000, NULL, 'messages loaded per run at most'),
  ('mailbox', 'max_message_bytes', 'integer', false, '52428800', 1024, 1073741823, NULL, 'a larger message is quarantined without its body'),
  ('mailbox', 'lease_seconds', 'integer', false, '120', 2, 86400, NULL, 'a run holds the peer this long between steps'),
  ('mailbox', 'backoff_base_seconds', 'integer', false, '60', 1, 86400, NULL, 'first retry delay after a failure'),
  ('mailbox', 'backoff_max_seconds', 'integer', false, '3600', 1, 604800, NULL, 'longest retry delay'),
  ('mailbox', 'ca_file', 'file', false, NULL, NULL, NULL, NULL, 'CA certificates (PEM) to verify the IMAP server''s certificate, if not the system''s'),
  ('mailchimp', 'api_key', 'secret', true, NULL, NULL, NULL, NULL, 'MailChimp API key (…-us21); its suffix is the data centre'),
  ('mailchimp', 'list_id', 'text', true, NULL, NULL, NULL, NULL, 'the audience (list) id'),
  ('mailchimp', 'base_url', 'url', false, NULL, NULL, NULL, NULL, 'API root, by default https://<dc>.api.mailchimp.com/3.0 from the key''s suffix'),
  ('mailchimp', 'company_field', 'text', false, '', NULL, NULL, NULL, 'merge tag for the counterparty''s name (e.g. COMPANY); empty: not sent'),
  ('mailchimp', 'batch_size', 'integer', false, '500', 1, 500, NULL, 'members per batch request (at most 500)'),
  ('mailchimp', 'max_batches', 'integer', false, '200', 1, 100000, NULL, 'batches sent per run at most'),
  ('mailchimp', 'max_attempts', 'integer', false, '8', 1, 1000, NULL, 'a batch that failed this often is dead-lettered'),
  ('mailchimp', 'lease_seconds', 'integer', false, '120', 2, 86400, NULL, 'a run holds the peer and its batch this long; a killed run''s batch is re-sent after it, with the same idempotency key'),
  ('mailchimp', 'backoff_base_seconds', 'integer', false, '60', 1, 86400, NULL, 'first retry delay after a failure'),
  ('mailchimp', 'backoff_max_seconds', 'integer', false, '3600', 1, 604800, NULL, 'longest retry delay'),
  ('mailchimp', 'ca_file', 'file', false, NULL, NULL, NULL, NULL, 'CA certificates (PEM) for the API''s TLS certificate, if not the system''s'),
  ('jobs', 'run_as', 'role', false, NULL, NULL, NULL, NULL, 'login role (member of crm_integration) that the pg_cron jobs run as'),
  ('jobs', 'run_log_days', 'integer', false, '30', 1, 3650, NULL, 'days the run log, sent outbox items and resolved quarantine are kept');

-- The values.  Secrets are here too: this table is readable only by
-- crm_admin and crm_integration; no setting is a GUC, so nothing shows in
-- SHOW, pg_settings or current_setting().  An INSERT of an existing setting
-- replaces it; crm.integration_setting_load below takes COPY ... FROM STDIN,
-- whose data no statement log records.
CREATE TABLE crm.integration_setting (
  peer        text NOT NULL,
  name        text NOT NULL,
  value       text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (peer, name),
  FOREIGN KEY (peer, name) REFERENCES crm.integration_option (peer, name)
);
COMMENT ON TABLE crm.integration_setting IS 'configuration of the integration jobs, secrets included; readable by crm_admin and crm_integration only';

-- Each peer's state: its watermark, the lease of the run working on it,
-- consecutive failures and when to try again, the last error for the DBA.
CREATE TABLE crm.integration_peer (
  peer              text PRIMARY KEY CHECK (peer IN ('miko', 'mailbox', 'mailchimp')),
  state             text NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'running', 'backoff', 'failed')),
  watermark         jsonb NOT NULL DEFAULT '{}',
  run_id            bigint,
  lease_until       timestamptz,
  attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at   timestamptz NOT NULL DEFAULT '-infinity',
  last_run_at       timestamptz,
  last_success_at   timestamptz,
  last_error        text,
  last_sqlstate     text,
  last_http_status  integer,
  last_error_at     timestamptz,
  CONSTRAINT integration_peer_running_has_lease CHECK ((state = 'running') = (run_id IS NOT NULL AND lease_until IS NOT NULL))
);
COMMENT ON TABLE crm.integration_peer IS 'state of each peer: watermark, run lease, backoff, and "failed" (stopped until the DBA changes its configuration); a row appears with the first run';
COMMENT ON COLUMN crm.integration_peer.watermark IS 'where the next poll starts (MikoPBX: last call start and id; mailbox: UIDVALIDITY and last UID)';

-- One row per run of a job procedure: its outcome, what it did, its error.
CREATE TABLE crm.integration_run (
  id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  peer         text NOT NULL CHECK (peer IN ('miko', 'mailbox', 'mailchimp')),
  pid          integer NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
  run_by       name NOT NULL DEFAULT SESSION_USER,
  started_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  finished_at  timestamptz,
  outcome      text NOT NULL DEFAULT 'running'
               CHECK (outcome IN ('running', 'ok', 'error', 'cancelled', 'skipped', 'abandoned')),
  sqlstate     text,
  error        text,
  http_status  integer,
  detail       jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE crm.integration_run IS 'run log of crm.miko_poll, crm.mail_poll and crm.mailchimp_sync; see also the view crm.job_run';
CREATE INDEX integration_run_started_idx ON crm.integration_run (started_at);
CREATE INDEX integration_run_peer_idx ON crm.integration_run (peer, id) WHERE outcome = 'running';

-- Inbound items a peer gave us that crm refused: nothing is dropped.
CREATE TABLE crm.integration_quarantine (
  id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  peer             text NOT NULL CHECK (peer IN ('miko', 'mailbox', 'mailchimp')),
  source_key       text NOT NULL,
  raw              bytea,
  data             jsonb,
  sqlstate         text NOT NULL,
  error            text NOT NULL,
  detail           text,
  attempts         integer NOT NULL DEFAULT 1,
  received_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
  last_attempt_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  resolved_at      timestamptz,
  UNIQUE (peer, source_key)
);
COMMENT ON TABLE crm.integration_quarantine IS 'messages and calls that crm.ingest_email / crm.ingest_call refused, with the raw bytes and the error; crm.quarantine_retry(id) loads one again';
COMMENT ON COLUMN crm.integration_quarantine.source_key IS 'mailbox: folder/UIDVALIDITY/UID; miko: the linkedid';

-- The outbox: what must be sent.  Items (one per subject, e.g. an e-mail
-- address) are coalesced while pending and sent in batches; a batch carries
-- the idempotency key, the attempts, the next attempt time (exponential
-- backoff with jitter), the lease of the run sending it, and the dead-letter
-- state with the last error.  Its request is stored, so a batch taken over
-- from a killed run is re-sent byte for byte under the same key.
CREATE TABLE crm.outbox_batch (
  id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  peer             text NOT NULL CHECK (peer IN ('miko', 'mailbox', 'mailchimp')),
  idempotency_key  text NOT NULL UNIQUE,
  state            text NOT NULL DEFAULT 'claimed' CHECK (state IN ('claimed', 'sent', 'dead')),
  request          jsonb NOT NULL,
  extra            jsonb NOT NULL DEFAULT '[]',
  attempts         integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  run_id           bigint,
  lease_until      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  sent_at          timestamptz,
  http_status      integer,
  last_sqlstate    text,
  last_error       text,
  result           jsonb
);
COMMENT ON TABLE crm.outbox_batch IS 'requests to a peer: idempotency key, attempts, backoff, lease, dead letter (state dead, last_error); crm.outbox_retry(id) revives a dead one';
COMMENT ON COLUMN crm.outbox_batch.extra IS 'follow-up requests of the batch (MailChimp: tags to take off members)';
CREATE INDEX outbox_batch_open_idx ON crm.outbox_batch (peer, id) WHERE state = 'claimed';
CREATE INDEX outbox_batch_created_idx ON crm.outbox_batch (created_at);

CREATE TABLE crm.outbox (
  id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  peer         text NOT NULL CHECK (peer IN ('miko', 'mailbox', 'mailchimp')),
  subject      text NOT NULL CHECK (subject <> ''),
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'batched', 'done', 'skipped', 'dead')),
  batch_id     bigint REFERENCES crm.outbox_batch (id) ON DELETE CASCADE,
  enqueued_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  done_at      timestamptz,
  result       text,
  CONSTRAINT outbox_batched_has_batch CHECK (state NOT IN ('batched', 'done', 'dead') OR batch_id IS NOT NULL)
);
COMMENT ON TABLE crm.outbox IS 'what must be sent to a peer (MailChimp: e-mail addresses whose member must be brought up to date); queued by triggers in the business transaction';
-- a subject is pending at most once: a second change before the sync adds nothing
CREATE UNIQUE INDEX outbox_pending_key ON crm.outbox (peer, subject) WHERE state = 'pending';
CREATE INDEX outbox_in_flight_idx ON crm.outbox (peer, subject) WHERE state = 'batched';
CREATE INDEX outbox_batch_idx ON crm.outbox (batch_id);
CREATE INDEX outbox_pending_idx ON crm.outbox (peer, id) WHERE state = 'pending';

-- Row-level security: configuration for crm_admin (and the job role reads
-- it); state, runs, quarantine and outbox readable by admin, reader, jobs.
ALTER TABLE crm.integration_option ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.integration_setting ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.integration_peer ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.integration_run ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.integration_quarantine ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.outbox_batch ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.outbox ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY integration_option_read ON crm.integration_option FOR SELECT
  TO crm_admin, crm_integration, crm_reader USING (true);
CREATE POLICY integration_setting_admin ON crm.integration_setting TO crm_admin USING (true) WITH CHECK (true);
CREATE POLICY integration_setting_job ON crm.integration_setting FOR SELECT TO crm_integration USING (true);
CREATE POLICY integration_peer_admin ON crm.integration_peer TO crm_admin USING (true) WITH CHECK (true);
CREATE POLICY integration_peer_read ON crm.integration_peer FOR SELECT TO crm_integration, crm_reader USING (true);
CREATE POLICY integration_run_read ON crm.integration_run FOR SELECT
  TO crm_admin, crm_integration, crm_reader USING (true);
CREATE POLICY integration_quarantine_admin ON crm.integration_quarantine TO crm_admin USING (true) WITH CHECK (true);
CREATE POLICY integration_quarantine_read ON crm.integration_quarantine FOR SELECT
  TO crm_integration, crm_reader USING (true);
CREATE POLICY outbox_batch_read ON crm.outbox_batch FOR SELECT
  TO crm_admin, crm_integration, crm_reader USING (true);
CREATE POLICY outbox_read ON crm.outbox FOR SELECT TO crm_admin, crm_integration, crm_reader USING (true);

GRANT SELECT ON crm.integration_option TO crm_admin, crm_integration, crm_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.integration_setting TO crm_admin;
GRANT SELECT ON crm.integration_setting TO crm_integration;
GRANT SELECT ON crm.integration_peer, crm.integration_run, crm.integration_quarantine,
  crm.outbox_batch, crm.outbox TO crm_admin, crm_integration, crm_reader;
GRANT UPDATE (state, attempts, next_attempt_at) ON crm.integration_peer TO crm_admin;
GRANT UPDATE (resolved_at) ON crm.integration_quarantine TO crm_admin;

SELECT crm.keep_in_dump('crm.integration_setting', '');
SELECT crm.keep_in_dump('crm.integration_peer', '');
SELECT crm.keep_in_dump('crm.integration_run', '');
SELECT crm.keep_in_dump('crm.integration_quarantine', '');
SELECT crm.keep_in_dump('crm.outbox_batch', '');
SELECT crm.keep_in_dump('crm.outbox', '');

-- Validates a setting as it is written (INSERT, UPDATE, COPY).  An INSERT of
-- a setting that exists replaces its value.  No error shows a secret's value.
-- A changed configuration lifts the peer's stop ("failed") and its backoff.
CREATE FUNCTION crm.integration_setting_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  o crm.integration_option;
  shown text;
  n bigint;
  r pg_roles;
BEGIN
  SELECT * INTO o FROM crm.integration_option WHERE peer = NEW.peer AND name = NEW.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown setting %.%', NEW.peer, NEW.name
      USING ERRCODE = 'undefined_object', HINT = 'The settings are listed in crm.integration_option.';
  END IF;
  IF o.kind <> 'secret' THEN
    NEW.value := btrim(NEW.value);
  END IF;
  shown := CASE WHEN o.kind = 'secret' THEN '(secret)' ELSE quote_literal(NEW.value) END;
  IF NEW.value = '' AND (o.required OR o.kind NOT IN ('text', 'numbers')) THEN
    RAISE EXCEPTION 'setting %.% must not be empty', NEW.peer, NEW.name
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use crm.configure(peer, name, NULL) to remove a setting.';
  END IF;
  CASE o.kind
  WHEN 'secret' THEN
    IF NEW.value ~ '[[:cntrl:]]' OR NEW.value <> btrim(NEW.value) THEN
      RAISE EXCEPTION 'setting %.% has spaces or control characters around or in it', NEW.peer, NEW.name
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  WHEN 'url' THEN
    IF NEW.peer = 'mailbox' AND NEW.value !~* '^imaps?://[^/?#@[:space:]]+/?$' THEN
      RAISE EXCEPTION 'setting %.% = % is not an IMAP server URL', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Write imaps://host[:port] or imap://host[:port]; the folder is the setting mailbox.folder, the login mailbox.username.';
    ELSIF NEW.peer <> 'mailbox' AND NEW.value !~* '^https?://[^/?#@[:space:]]+(/[^?#[:space:]]*)?$' THEN
      RAISE EXCEPTION 'setting %.% = % is not an http(s) URL', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Write https://host[:port][/path], without credentials, query or fragment.';
    END IF;
    NEW.value := rtrim(NEW.value, '/');
  WHEN 'integer' THEN
    IF NEW.value !~ '^[0-9]{1,9}$' THEN
      RAISE EXCEPTION 'setting %.% = % is not a whole number', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := NEW.value::bigint;
    IF n < o.min_value OR n > o.max_value THEN
      RAISE EXCEPTION 'setting %.% = % is out of range', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = format('It must be between %s and %s.', o.min_value, o.max_value);
    END IF;
  WHEN 'choice' THEN
    IF NOT NEW.value = ANY (o.choices) THEN
      RAISE EXCEPTION 'setting %.% = % is not one of %', NEW.peer, NEW.name, shown, array_to_string(o.choices, ', ')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  WHEN 'timezone' THEN
    IF NOT EXISTS (SELECT FROM pg_timezone_names WHERE name = NEW.value) THEN
      RAISE EXCEPTION 'setting %.% = % is not a time zone', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Time zones are listed in pg_timezone_names, e.g. Europe/Moscow.';
    END IF;
  WHEN 'regex' THEN
    BEGIN
      PERFORM '' ~ NEW.value;
    EXCEPTION WHEN invalid_regular_expression THEN
      RAISE EXCEPTION 'setting %.% = % is not a regular expression', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value';
    END;
  WHEN 'numbers' THEN
    IF EXISTS (SELECT FROM unnest(string_to_array(NEW.value, ',')) AS x(num)
                WHERE btrim(num) <> '' AND crm.normalize_phone(num) IS NULL AND btrim(num) !~ '^[0-9]{2,6}$') THEN
      RAISE EXCEPTION 'setting %.% = % has something that is not a phone number', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Write the numbers comma-separated, e.g. +7 495 100-00-00, 8 800 200-00-00.';
    END IF;
  WHEN 'mailbox' THEN
    IF NEW.value !~ '^[A-Za-z0-9 _./&+-]{1,200}$' THEN
      RAISE EXCEPTION 'setting %.% = % is not a folder name crm can use', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Use ASCII letters, digits, spaces and _ . / & + -.';
    END IF;
  WHEN 'file' THEN
    IF NEW.value !~ '^/' THEN
      RAISE EXCEPTION 'setting %.% = % is not an absolute path', NEW.peer, NEW.name, shown
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  WHEN 'role' THEN
    SELECT * INTO r FROM pg_roles WHERE rolname = NEW.value;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'role % does not exist', shown USING ERRCODE = 'undefined_object';
    END IF;
  ELSE
    NULL;
  END CASE;
  NEW.updated_at := now();
  IF TG_OP = 'INSERT' THEN
    UPDATE crm.integration_setting s SET value = NEW.value WHERE s.peer = NEW.peer AND s.name = NEW.name;
    IF FOUND THEN
      RETURN NULL;
    END IF;
  END IF;
  UPDATE crm.integration_peer p SET state = 'idle', attempts = 0, next_attempt_at = '-infinity'
   WHERE p.peer = NEW.peer AND p.state IN ('failed', 'backoff');
  RETURN NEW;
END
$$;
CREATE TRIGGER integration_setting_check BEFORE INSERT OR UPDATE ON crm.integration_setting
  FOR EACH ROW EXECUTE FUNCTION crm.integration_setting_check();

-- Write-only: settings (keys above all) loaded with
--   COPY crm.integration_setting_load (peer, name, value) FROM STDIN
-- whose data no statement log records (COPY FROM cannot write into a table
-- under row-level security; this view passes each row on to
-- crm.integration_setting as its caller).  Reading it gives nothing.
CREATE VIEW crm.integration_setting_load WITH (security_invoker = true) AS
  SELECT s.peer, s.name, NULL::text AS value FROM crm.integration_setting s WHERE false;
COMMENT ON VIEW crm.integration_setting_load IS 'write-only: COPY crm.integration_setting_load (peer, name, value) FROM STDIN sets settings without a statement carrying their values';

CREATE FUNCTION crm.integration_setting_load() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO crm.integration_setting (peer, name, value) VALUES (NEW.peer, NEW.name, NEW.value);
  RETURN NULL;
END
$$;
CREATE TRIGGER integration_setting_load INSTEAD OF INSERT ON crm.integration_setting_load
  FOR EACH ROW EXECUTE FUNCTION crm.integration_setting_load();
GRANT SELECT, INSERT ON crm.integration_setting_load TO crm_admin;

-- Sets (or with NULL removes) a setting.  For a secret, prefer loading it
-- through crm.integration_setting_load: a statement log records this call.
CREATE FUNCTION crm.configure(peer text, name text, value text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF value IS NULL THEN
    DELETE FROM crm.integration_setting s WHERE s.peer = configure.peer AND s.name = configure.name;
  ELSE
    INSERT INTO crm.integration_setting (peer, name, value) VALUES (configure.peer, configure.name, configure.value);
  END IF;
END
$$;
REVOKE ALL ON FUNCTION crm.configure(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.configure(text, text, text) TO crm_admin;

-- A peer's settings with their defaults (secrets included: for the job).
CREATE FUNCTION crm.integration_settings(p text) RETURNS TABLE (name text, value text, secret boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT o.name, COALESCE(s.value, o.default_value), o.kind = 'secret'
    FROM crm.integration_option o
    LEFT JOIN crm.integration_setting s ON s.peer = o.peer AND s.name = o.name
   WHERE o.peer = p
   ORDER BY o.name
$$;
REVOKE ALL ON FUNCTION crm.integration_settings(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.integration_settings(text) TO crm_admin, crm_integration;

-- One setting as an integer (the default when unset).
CREATE FUNCTION crm.integration_int(p text, n text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT COALESCE(s.value, o.default_value)::integer
    FROM crm.integration_option o
    LEFT JOIN crm.integration_setting s ON s.peer = o.peer AND s.name = o.name
   WHERE o.peer = p AND o.name = n AND o.kind = 'integer'
$$;
REVOKE ALL ON FUNCTION crm.integration_int(text, text) FROM PUBLIC;

-- Replaces every secret of a peer that occurs in a text by ********: applied
-- to everything recorded from a peer's answers or errors.
CREATE FUNCTION crm.integration_redact(p text, msg text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  secret text;
BEGIN
  IF msg IS NULL THEN
    RETURN NULL;
  END IF;
  FOR secret IN
    SELECT s.value FROM crm.integration_setting s JOIN crm.integration_option o USING (peer, name)
     WHERE o.kind = 'secret' AND length(s.value) >= 4
  LOOP
    msg := replace(msg, secret, '********');
  END LOOP;
  RETURN msg;
END
$$;
REVOKE ALL ON FUNCTION crm.integration_redact(text, text) FROM PUBLIC;

-- Exponential backoff with jitter: the n-th consecutive failure waits
-- between half and all of min(max, base * 2^(n-1)) seconds.
CREATE FUNCTION crm.integration_backoff(attempts integer, base_seconds integer, max_seconds integer)
RETURNS interval
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  SELECT make_interval(secs => d / 2 + random() * d / 2)
    FROM (SELECT least(max_seconds::float8,
                       base_seconds * power(2::float8, least(greatest(attempts, 1) - 1, 40))) AS d) x
$$;
REVOKE ALL ON FUNCTION crm.integration_backoff(integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.integration_backoff(integer, integer, integer) TO crm_admin, crm_integration;

-- Whether an error (SQLSTATE) needs the DBA: wrong credentials, a missing
-- list or folder, a bad setting.  Such a failure stops the peer ("failed")
-- until its configuration changes; any other is retried with backoff.
CREATE FUNCTION crm.integration_permanent(sqlstate text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT sqlstate IN ('28000', '28P01', '42501', '42704', '22023')
$$;

-- Whether an error raised by crm.ingest_call / crm.ingest_email means "crm
-- refused this item" (it goes to quarantine) rather than "crm could not work
-- now" (the run fails and is retried): a conflict, a cancel, a shortage, a
-- missing function or privilege is never blamed on the item.
CREATE FUNCTION crm.integration_refusal(sqlstate text) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT substr(sqlstate, 1, 2) NOT IN ('08', '40', '53', '55', '57', '58', 'F0', 'HV')
     AND sqlstate NOT IN ('42883', '42501', '42P01', '42703', '3F000', '25P02')
$$;

-- Starts a run of a peer's job: takes the peer's lease unless another run
-- holds it, the peer is backing off or stopped, or it is not configured
-- (then run_id is NULL and reason says why).  Runs whose lease ran out
-- without an outcome (terminated, crashed) are closed as abandoned.
CREATE FUNCTION crm.integration_begin(p text, OUT run_id bigint, OUT reason text, OUT watermark jsonb)
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

-- Renews the lease of a run (and saves its watermark, if given); false when
-- the run has lost its lease to another run and must stop.
CREATE FUNCTION crm.integration_progress(run bigint, watermark jsonb DEFAULT NULL, detail jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p text;
BEGIN
  UPDATE crm.integration_peer ip
     SET lease_until = now() + make_interval(secs => crm.integration_int(ip.peer, 'lease_seconds')),
         watermark = COALESCE(integration_progress.watermark, ip.watermark)
   WHERE ip.run_id = run AND ip.state = 'running'
   RETURNING ip.peer INTO p;
  IF detail IS NOT NULL THEN
    UPDATE crm.integration_run SET detail = integration_progress.detail WHERE id = run;
  END IF;
  RETURN p IS NOT NULL;
END
$$;

-- Ends a run: records its outcome; releases the peer's lease (if the run
-- still holds it), resets or counts its failures: a permanent error stops
-- the peer, any other sets the next attempt with backoff.  Returns the
-- peer's new state.
CREATE FUNCTION crm.integration_end(run bigint, outcome text, sqlstate text DEFAULT NULL, error text DEFAULT NULL,
                                    http_status integer DEFAULT NULL, detail jsonb DEFAULT NULL,
                                    watermark jsonb DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p text;
  r crm.integration_peer;
  msg text;
BEGIN
  IF outcome NOT IN ('ok', 'error', 'cancelled') THEN
    RAISE EXCEPTION 'invalid run outcome "%"', outcome USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT ir.peer INTO p FROM crm.integration_run ir WHERE ir.id = run;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'run % does not exist', run USING ERRCODE = 'undefined_object';
  END IF;
  msg := crm.integration_redact(p, error);
  UPDATE crm.integration_run ir
     SET finished_at = now(), outcome = integration_end.outcome, sqlstate = integration_end.sqlstate,
         error = msg, http_status = integration_end.http_status,
         detail = COALESCE(integration_end.detail, ir.detail)
   WHERE ir.id = run;
  SELECT * INTO r FROM crm.integration_peer ip WHERE ip.peer = p AND ip.run_id = run FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'lost';        -- another run took over; it owns the state now
  END IF;
  IF outcome = 'ok' THEN
    UPDATE crm.integration_peer ip
       SET state = 'idle', run_id = NULL, lease_until = NULL, attempts = 0, next_attempt_at = '-infinity',
           last_success_at = now(), watermark = COALESCE(integration_end.watermark, ip.watermark)
     WHERE ip.peer = p;
    RETURN 'idle';
  ELSIF outcome = 'cancelled' THEN
    UPDATE crm.integration_peer ip
       SET state = 'idle', run_id = NULL, lease_until = NULL,
           watermark = COALESCE(integration_end.watermark, ip.watermark),
           last_error = msg, last_sqlstate = integration_end.sqlstate, last_error_at = now()
     WHERE ip.peer = p;
    RETURN 'idle';
  ELSIF crm.integration_permanent(sqlstate) THEN
    UPDATE crm.integration_peer ip
       SET state = 'failed', run_id = NULL, lease_until = NULL, attempts = ip.attempts + 1,
           watermark = COALESCE(integration_end.watermark, ip.watermark),
           last_error = msg, last_sqlstate = integration_end.sqlstate,
           last_http_status = integration_end.http_status, last_error_at = now()
     WHERE ip.peer = p;
    RETURN 'failed';
  ELSE
    UPDATE crm.integration_peer ip
       SET state = 'backoff', run_id = NULL, lease_until = NULL, attempts = ip.attempts + 1,
           next_attempt_at = now() + crm.integration_backoff(ip.attempts + 1,
                                                            crm.integration_int(p, 'backoff_base_seconds'),
                                                            crm.integration_int(p, 'backoff_max_seconds')),
           watermark = COALESCE(integration_end.watermark, ip.watermark),
           last_error = msg, last_sqlstate = integration_end.sqlstate,
           last_http_status = integration_end.http_status, last_error_at = now()
     WHERE ip.peer = p;
    RETURN 'backoff';
  END IF;
END
$$;

-- Records an inbound item that crm refused (again: counts the attempt).
CREATE FUNCTION crm.integration_quarantine_put(p text, key text, raw bytea, data jsonb,
                                               sqlstate text, error text, detail text)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO crm.integration_quarantine AS q (peer, source_key, raw, data, sqlstate, error, detail)
  VALUES (p, key, raw, data, sqlstate, error, detail)
  ON CONFLICT (peer, source_key) DO UPDATE
     SET raw = COALESCE(EXCLUDED.raw, q.raw), data = COALESCE(EXCLUDED.data, q.data),
         sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, detail = EXCLUDED.detail,
         attempts = q.attempts + 1, last_attempt_at = now(), resolved_at = NULL
  RETURNING id
$$;

-- An item that was refused before and is now accepted leaves quarantine.
CREATE FUNCTION crm.integration_quarantine_resolve(p text, key text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE crm.integration_quarantine SET resolved_at = now(), last_attempt_at = now()
   WHERE peer = p AND source_key = key AND resolved_at IS NULL
$$;

REVOKE ALL ON FUNCTION crm.integration_begin(text), crm.integration_progress(bigint, jsonb, jsonb),
  crm.integration_end(bigint, text, text, text, integer, jsonb, jsonb),
  crm.integration_quarantine_put(text, text, bytea, jsonb, text, text, text),
  crm.integration_quarantine_resolve(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.integration_begin(text), crm.integration_progress(bigint, jsonb, jsonb),
  crm.integration_end(bigint, text, text, text, integer, jsonb, jsonb),
  crm.integration_quarantine_put(text, text, bytea, jsonb, text, text, text),
  crm.integration_quarantine_resolve(text, text) TO crm_admin, crm_integration;

-- Loads a quarantined item again (after crm learned to read it): returns
-- 'ingested', or 'quarantined' with the new error recorded.
CREATE FUNCTION crm.quarantine_retry(id bigint) RETURNS text
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
REVOKE ALL ON FUNCTION crm.quarantine_retry(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.quarantine_retry(bigint) TO crm_admin;

-- Lifts a peer's stop or backoff by hand (the next run tries at once).
CREATE FUNCTION crm.integration_reset(p text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  UPDATE crm.integration_peer SET state = 'idle', attempts = 0, next_attempt_at = '-infinity'
   WHERE peer = p AND state IN ('failed', 'backoff')
$$;
REVOKE ALL ON FUNCTION crm.integration_reset(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.integration_reset(text) TO crm_admin;

-- Makes a dead-lettered batch due again, with its attempts reset.
CREATE FUNCTION crm.outbox_retry(batch bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE crm.outbox_batch SET state = 'claimed', attempts = 0, next_attempt_at = now(), run_id = NULL, lease_until = NULL
   WHERE id = batch AND state = 'dead';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'outbox batch % is not dead-lettered', batch
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE crm.outbox SET state = 'batched', done_at = NULL, result = NULL WHERE batch_id = batch;
END
$$;
REVOKE ALL ON FUNCTION crm.outbox_retry(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.outbox_retry(bigint) TO crm_admin;

-- Marks a batch that failed: due again after a backoff, or dead-lettered
-- (with its items) when it failed max_attempts times or cannot succeed.
-- count_attempt = false gives the attempt back (the peer refused our
-- credentials; the batch itself is not at fault).
CREATE FUNCTION crm.outbox_batch_fail(batch bigint, run bigint, sqlstate text, error text,
                                      http_status integer, retry boolean, count_attempt boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  b crm.outbox_batch;
  msg text;
BEGIN
  SELECT * INTO b FROM crm.outbox_batch WHERE id = batch FOR UPDATE;
  IF NOT FOUND OR b.state <> 'claimed' OR b.run_id IS DISTINCT FROM run THEN
    RETURN 'lost';
  END IF;
  msg := crm.integration_redact(b.peer, error);
  IF NOT count_attempt THEN
    b.attempts := greatest(b.attempts - 1, 0);
  END IF;
  IF retry AND b.attempts < crm.integration_int(b.peer, 'max_attempts') THEN
    UPDATE crm.outbox_batch
       SET attempts = b.attempts, run_id = NULL, lease_until = NULL,
           next_attempt_at = CASE WHEN count_attempt
                                  THEN now() + crm.integration_backoff(b.attempts,
                                                 crm.integration_int(b.peer, 'backoff_base_seconds'),
                                                 crm.integration_int(b.peer, 'backoff_max_seconds'))
                                  ELSE now() END,
           http_status = outbox_batch_fail.http_status, last_sqlstate = sqlstate, last_error = msg
     WHERE id = batch;
    RETURN 'retry';
  END IF;
  UPDATE crm.outbox_batch
     SET state = 'dead', attempts = b.attempts, run_id = NULL, lease_until = NULL,
         http_status = outbox_batch_fail.http_status, last_sqlstate = sqlstate, last_error = msg
   WHERE id = batch;
  UPDATE crm.outbox SET state = 'dead', done_at = now(), result = msg WHERE batch_id = batch;
  RETURN 'dead';
END
$$;
REVOKE ALL ON FUNCTION crm.outbox_batch_fail(bigint, bigint, text, text, integer, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.outbox_batch_fail(bigint, bigint, text, text, integer, boolean, boolean)
  TO crm_admin, crm_integration;

-- Renews the lease of a batch being sent (with the run's lease).
CREATE FUNCTION crm.outbox_batch_renew(batch bigint, run bigint) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE crm.outbox_batch ob
     SET lease_until = now() + make_interval(secs => crm.integration_int(ob.peer, 'lease_seconds'))
   WHERE ob.id = batch AND ob.run_id = run AND ob.state = 'claimed'
  RETURNING true
$$;
REVOKE ALL ON FUNCTION crm.outbox_batch_renew(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.outbox_batch_renew(bigint, bigint) TO crm_admin, crm_integration;

-- Turns the active rows of crm.job into pg_cron jobs named "crm:<name>" in
-- this database, run as run_as (a login role in crm_integration; default:
-- the setting jobs.run_as): creates what is missing, updates what differs,
-- unschedules what is inactive or gone.  Re-running changes nothing.
-- pg_cron runs at most one instance of a job at a time; the procedures of
-- this concern also hold their peer's lease, so a manual CALL never overlaps
-- a scheduled run either.
CREATE FUNCTION crm.schedule_jobs(run_as name DEFAULT NULL)
RETURNS TABLE (job text, cron_job text, schedule text, action text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who name := COALESCE(run_as, (SELECT s.value FROM crm.integration_setting s
                                  WHERE s.peer = 'jobs' AND s.name = 'run_as'));
  role_row pg_roles;
  j record;
  c record;
  found_it boolean;
BEGIN
  IF to_regclass('cron.job') IS NULL THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'crm and pg_cron share one database: set cron.database_name to it and CREATE EXTENSION pg_cron there.';
  END IF;
  IF who IS NULL THEN
    RAISE EXCEPTION 'no role to run the jobs as'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Create a login role in crm_integration and name it: SELECT crm.schedule_jobs(''crm_jobs'') or crm.configure(''jobs'', ''run_as'', ''crm_jobs'').';
  END IF;
  SELECT * INTO role_row FROM pg_roles WHERE rolname = who;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', who USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT role_row.rolcanlogin OR role_row.rolsuper OR NOT pg_has_role(who, 'crm_integration', 'MEMBER') THEN
    RAISE EXCEPTION 'role "%" cannot run the jobs', who
      USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The jobs run as a role that can log in, is a member of crm_integration and is not a superuser.';
  END IF;
  FOR j IN SELECT * FROM crm.job ORDER BY crm.job.name LOOP
    job := j.name;
    cron_job := 'crm:' || j.name;
    schedule := j.schedule;
    found_it := false;
    FOR c IN EXECUTE 'SELECT jobid, schedule, command, database, username, active FROM cron.job WHERE jobname = $1 ORDER BY jobid'
             USING cron_job LOOP
      IF NOT j.active OR c.username <> who OR found_it THEN
        PERFORM cron.unschedule(c.jobid);
        action := 'removed';
        RETURN NEXT;
      ELSE
        found_it := true;
        IF c.schedule IS DISTINCT FROM j.schedule OR c.command IS DISTINCT FROM j.command
           OR c.database IS DISTINCT FROM current_database() OR NOT c.active THEN
          PERFORM cron.alter_job(c.jobid, j.schedule, j.command, current_database(), NULL, true);
          action := 'updated';
        ELSE
          action := 'unchanged';
        END IF;
        RETURN NEXT;
      END IF;
    END LOOP;
    IF j.active AND NOT found_it THEN
      PERFORM cron.schedule_in_database(cron_job, j.schedule, j.command, current_database(), who, true);
      action := 'created';
      RETURN NEXT;
    END IF;
  END LOOP;
  -- pg_cron jobs of crm whose crm.job row is gone
  FOR c IN EXECUTE 'SELECT jobid, jobname, schedule FROM cron.job WHERE jobname LIKE ''crm:%'' ORDER BY jobid' LOOP
    IF NOT EXISTS (SELECT FROM crm.job WHERE 'crm:' || crm.job.name = c.jobname) THEN
      PERFORM cron.unschedule(c.jobid);
      job := substr(c.jobname, 5); cron_job := c.jobname; schedule := c.schedule; action := 'removed';
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION crm.schedule_jobs(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.schedule_jobs(name) TO crm_admin;

-- The runs of crm's jobs: each pg_cron run of a "crm:" job (its status and
-- message) with the run log row the procedure wrote in it (outcome, what it
-- did, its error), and the runs started by hand.  A run log row belongs to
-- the pg_cron run of the same backend (job_pid) at about the same time
-- (pg_cron's launcher may note the start after the worker began).
CREATE FUNCTION crm.job_runs(since timestamptz DEFAULT pg_catalog.now() - interval '7 days')
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
REVOKE ALL ON FUNCTION crm.job_runs(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.job_runs(timestamptz) TO crm_admin, crm_integration, crm_reader;

CREATE VIEW crm.job_run WITH (security_invoker = true) AS
  SELECT * FROM crm.job_runs();
COMMENT ON VIEW crm.job_run IS 'runs of crm''s pg_cron jobs (status from cron.job_run_details) with the outcome each procedure recorded, and runs started by hand; last 7 days';
GRANT SELECT ON crm.job_run TO crm_admin, crm_integration, crm_reader;

-- The integration jobs (crm.schedule_jobs() turns them into pg_cron jobs).
INSERT INTO crm.job (name, schedule, command, description, builtin) VALUES
  ('miko_poll', '* * * * *', 'CALL crm.miko_poll()', 'pulls new calls from MikoPBX (R4)', true),
  ('mail_poll', '* * * * *', 'CALL crm.mail_poll()', 'loads new messages from the company mailbox (R5)', true),
  ('mailchimp_sync', '*/15 * * * *', 'CALL crm.mailchimp_sync()', 'brings the MailChimp audience up to date (R26)', true);

-- At a glance, for the DBA: each peer's state, last run, last error, what
-- waits to be sent, what is dead-lettered, what is quarantined.
CREATE VIEW crm.integration_status WITH (security_invoker = true) AS
SELECT n.peer, COALESCE(p.state, 'idle') AS state, p.last_run_at, p.last_success_at,
       CASE WHEN p.state = 'backoff' THEN p.next_attempt_at END AS next_attempt_at,
       COALESCE(p.attempts, 0) AS failures, p.last_error, p.last_error_at, COALESCE(p.watermark, '{}') AS watermark,
       (SELECT count(*) FROM crm.outbox o WHERE o.peer = n.peer AND o.state IN ('pending', 'batched')) AS queued,
       (SELECT count(*) FROM crm.outbox_batch b WHERE b.peer = n.peer AND b.state = 'dead') AS dead_batches,
       (SELECT count(*) FROM crm.integration_quarantine q WHERE q.peer = n.peer AND q.resolved_at IS NULL) AS quarantined
  FROM (VALUES ('miko'), ('mailbox'), ('mailchimp')) n(peer)
  LEFT JOIN crm.integration_peer p ON p.peer = n.peer;
COMMENT ON VIEW crm.integration_status IS 'each peer: state (idle, running, backoff, failed), last run and error, queued items, dead-lettered batches, quarantined items';
GRANT SELECT ON crm.integration_status TO crm_admin, crm_integration, crm_reader;
