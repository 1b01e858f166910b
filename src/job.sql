-- job.sql: the periodic work of every concern, as data.  Each concern's SQL
-- file inserts its own rows (builtin); crm.schedule_jobs() (integration
-- concern) turns the active rows into pg_cron jobs named "crm:<name>".

CREATE TABLE crm.job (
  name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  schedule     text NOT NULL CHECK (pg_catalog.btrim(schedule) <> ''),
  command      text NOT NULL CHECK (command ~* '^\s*(CALL|SELECT)\s+crm\.'),
  description  text NOT NULL,
  active       boolean NOT NULL DEFAULT true,
  builtin      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.job IS 'periodic jobs of crm: pg_cron schedule and the crm procedure to CALL; see crm.schedule_jobs()';
COMMENT ON COLUMN crm.job.schedule IS 'pg_cron schedule: five-field cron syntax or ''[1-59] seconds''';

ALTER TABLE crm.job ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY job_admin ON crm.job TO crm_admin USING (true) WITH CHECK (true);
CREATE POLICY job_read ON crm.job FOR SELECT TO crm_reader, crm_integration USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.job TO crm_admin;
GRANT SELECT ON crm.job TO crm_reader, crm_integration;
SELECT crm.keep_in_dump('crm.job', 'WHERE NOT builtin');
