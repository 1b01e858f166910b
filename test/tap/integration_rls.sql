-- test/tap/integration_rls.sql: R2, R24, R26 -- who may read and change the
-- integration jobs' configuration (keys above all), state, run log,
-- quarantine and outbox; who may run the jobs; that the SECURITY DEFINER
-- functions pin search_path and are not open to PUBLIC; and that a manager's
-- change of a contact queues it for MailChimp through the trigger although
-- the manager cannot read the queue.  Everything is rolled back.
BEGIN;
SELECT plan(57);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('tap_i_admin', 'Админ', 'management', 'admin');
SELECT crm.hire('tap_i_head', 'Глава', 'alto', 'head');
SELECT crm.hire('tap_i_mgr', 'Менеджер', 'alto', 'manager');
SELECT crm.hire('tap_i_mkt', 'Маркетолог', 'marketing', 'marketing');
SELECT crm.hire('tap_i_triage', 'Разбор', 'management', 'triage');
SELECT crm.hire('tap_i_wh', 'Кладовщик', 'warehouse', 'warehouse');
CREATE ROLE tap_i_bi LOGIN IN ROLE crm_reader;
CREATE ROLE tap_i_job LOGIN IN ROLE crm_integration;
CREATE ROLE tap_i_stranger LOGIN;

SELECT crm.configure('mailchimp', 'api_key', 'tapkey0123456789-us1');
SELECT crm.configure('mailchimp', 'list_id', 'taplist');
INSERT INTO crm.integration_peer (peer, state, last_error) VALUES ('miko', 'failed', 'MikoPBX refused the credentials');
INSERT INTO crm.integration_run (peer, outcome) VALUES ('miko', 'error');
INSERT INTO crm.integration_quarantine (peer, source_key, raw, sqlstate, error) VALUES ('mailbox', 'INBOX/1/1', 'x', '22P02', 'refused');
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
SELECT 'client', 'TAP клиент', d.id, e.id FROM crm.department d, crm.employee e WHERE d.code = 'alto' AND e.role_name = 'tap_i_mgr';
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent) SELECT id, 'Контакт', false FROM crm.counterparty WHERE name = 'TAP клиент';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'email', 'tap.contact@example.com' FROM crm.contact WHERE full_name = 'Контакт';
DELETE FROM crm.outbox;

-- crm_admin: the whole configuration, keys included
SET SESSION AUTHORIZATION tap_i_admin;
SELECT is((SELECT value FROM crm.integration_setting WHERE name = 'api_key'), 'tapkey0123456789-us1', 'R24 crm_admin reads the keys');
SELECT lives_ok($$SELECT crm.configure('miko', 'url', 'https://pbx.example.ru')$$, 'R24 crm_admin configures');
SELECT lives_ok($$INSERT INTO crm.integration_setting_load (peer, name, value) VALUES ('miko', 'api_key', 'tapmikokey')$$,
  'R24 crm_admin loads a key through crm.integration_setting_load');
SELECT is((SELECT count(*)::int FROM crm.integration_setting_load), 0, 'crm.integration_setting_load reads nothing');
SELECT is((SELECT state FROM crm.integration_peer WHERE peer = 'miko'), 'idle', 'R24 a changed configuration lifts the stop of its peer');
SELECT lives_ok($$SELECT crm.integration_reset('miko')$$, 'crm_admin lifts a stop by hand');
SELECT is((SELECT count(*)::int FROM crm.integration_quarantine), 1, 'crm_admin sees the quarantine');
SELECT lives_ok($$UPDATE crm.integration_quarantine SET resolved_at = now()$$, 'crm_admin marks quarantined items resolved');
SELECT is((SELECT count(*)::int FROM crm.integration_run), 1, 'crm_admin reads the run log');
SELECT throws_ok($$INSERT INTO crm.integration_run (peer) VALUES ('miko')$$, '42501', NULL, 'the run log is written by the jobs only');
SELECT throws_ok($$INSERT INTO crm.outbox (peer, subject) VALUES ('mailchimp', 'x@example.com')$$, '42501', NULL,
  'the outbox is written by triggers only');
SELECT lives_ok($$SELECT crm.mailchimp_resync()$$, 'crm_admin queues a full MailChimp resync');
RESET SESSION AUTHORIZATION;
DELETE FROM crm.outbox;

-- the job role: reads the configuration, keys included; changes none
SET SESSION AUTHORIZATION tap_i_job;
SELECT is((SELECT value FROM crm.integration_setting WHERE name = 'api_key' AND peer = 'mailchimp'), 'tapkey0123456789-us1',
  'R24 the job role reads the keys');
SELECT is((SELECT value FROM crm.integration_settings('mailchimp') WHERE name = 'batch_size'), '500', 'the job role reads settings with defaults');
SELECT throws_ok($$UPDATE crm.integration_setting SET value = 'x'$$, '42501', NULL, 'R24 the job role cannot change the configuration');
SELECT throws_ok($$SELECT crm.configure('miko', 'url', 'https://evil.example')$$, '42501', NULL, 'R24 the job role cannot configure');
SELECT throws_ok($$INSERT INTO crm.integration_setting_load VALUES ('miko', 'url', 'https://evil.example')$$, '42501', NULL,
  'R24 ...nor load settings');
SELECT throws_ok($$SELECT crm.schedule_jobs()$$, '42501', NULL, 'R24 the job role cannot schedule jobs');
SELECT ok(has_function_privilege('crm.integration_begin(text)', 'EXECUTE'), 'the job role runs the steps of a job');
SELECT ok(has_function_privilege('crm.mailchimp_sync()', 'EXECUTE') AND has_function_privilege('crm.miko_poll()', 'EXECUTE')
          AND has_function_privilege('crm.mail_poll()', 'EXECUTE'), 'R4 R5 R26 the job role may CALL the three procedures');
RESET SESSION AUTHORIZATION;

-- crm_reader: state, runs, quarantine, outbox; no configuration
SET SESSION AUTHORIZATION tap_i_bi;
SELECT throws_ok($$SELECT value FROM crm.integration_setting$$, '42501', NULL, 'R24 crm_reader cannot read the configuration');
SELECT throws_ok($$SELECT * FROM crm.integration_settings('mailchimp')$$, '42501', NULL, 'R24 ...nor through crm.integration_settings');
SELECT is((SELECT count(*)::int FROM crm.integration_status), 3, 'crm_reader sees each peer''s state');
SELECT is((SELECT count(*)::int FROM crm.integration_quarantine), 1, 'crm_reader sees the quarantine');
SELECT is((SELECT count(*)::int FROM crm.integration_run), 1, 'crm_reader sees the run log');
SELECT lives_ok($$SELECT * FROM crm.job_run$$, 'crm_reader sees the job runs');
SELECT throws_ok($$UPDATE crm.integration_peer SET state = 'idle'$$, '42501', NULL, 'crm_reader changes no state');
SELECT throws_ok($$CALL crm.mailchimp_sync()$$, '42501', NULL, 'crm_reader cannot run a job');
SELECT ok(NOT has_function_privilege('crm.integration_redact(text, text)', 'EXECUTE'), 'R24 crm_reader cannot probe keys with crm.integration_redact');
RESET SESSION AUTHORIZATION;

-- crm_marketing: the audience and MailChimp's view of each contact
SET SESSION AUTHORIZATION tap_i_mkt;
SELECT lives_ok($$SELECT * FROM crm.mailchimp_audience$$, 'R26 marketing sees the audience');
SELECT lives_ok($$SELECT * FROM crm.mailchimp_member$$, 'R26 marketing sees what MailChimp holds and its errors');
SELECT lives_ok($$SELECT crm.mailchimp_resync()$$, 'R26 marketing queues a full resync');
SELECT throws_ok($$SELECT value FROM crm.integration_setting$$, '42501', NULL, 'R24 marketing cannot read the keys');
SELECT throws_ok($$SELECT * FROM crm.integration_quarantine$$, '42501', NULL, 'marketing cannot read the quarantine (mail bodies)');
SELECT throws_ok($$SELECT crm.configure('mailchimp', 'list_id', 'x')$$, '42501', NULL, 'marketing cannot change the list');
RESET SESSION AUTHORIZATION;
DELETE FROM crm.outbox;

-- the people who work with clients: nothing of the integration's, and yet
-- their changes of a contact are queued by the trigger
SET SESSION AUTHORIZATION tap_i_mgr;
SELECT throws_ok($$SELECT * FROM crm.integration_setting$$, '42501', NULL, 'R24 a manager cannot read the keys');
SELECT throws_ok($$SELECT * FROM crm.outbox$$, '42501', NULL, 'a manager cannot read the outbox');
SELECT throws_ok($$SELECT * FROM crm.integration_run$$, '42501', NULL, 'a manager cannot read the run log');
SELECT throws_ok($$CALL crm.miko_poll()$$, '42501', NULL, 'a manager cannot run a job');
SELECT lives_ok($$UPDATE crm.contact SET mailing_consent = true WHERE full_name = 'Контакт'$$,
  'R26 a manager records the consent of their contact');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(subject || ':' || state, ',') FROM crm.outbox), 'tap.contact@example.com:pending',
  'R26 ...and the trigger queued the address for MailChimp');
SET SESSION AUTHORIZATION tap_i_head;
SELECT throws_ok($$SELECT * FROM crm.integration_setting$$, '42501', NULL, 'R24 a head of sales cannot read the keys');
SELECT throws_ok($$SELECT * FROM crm.integration_quarantine$$, '42501', NULL, 'a head of sales cannot read the quarantine');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_i_triage;
SELECT throws_ok($$SELECT * FROM crm.integration_setting$$, '42501', NULL, 'R24 triage cannot read the keys');
SELECT throws_ok($$SELECT crm.quarantine_retry(1)$$, '42501', NULL, 'triage cannot load quarantined items');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_i_wh;
SELECT throws_ok($$SELECT * FROM crm.integration_setting$$, '42501', NULL, 'R24 the warehouse cannot read the keys');
SELECT throws_ok($$SELECT * FROM crm.mailchimp_member$$, '42501', NULL, 'the warehouse cannot read the MailChimp members');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tap_i_stranger;
SELECT throws_ok($$SELECT * FROM crm.integration_setting$$, '42501', NULL, 'R24 a role outside crm cannot read the keys');
SELECT throws_ok($$SELECT * FROM crm.integration_status$$, '42501', NULL, 'a role outside crm sees nothing');
SELECT throws_ok($$CALL crm.mail_poll()$$, '42501', NULL, 'a role outside crm cannot run a job');
RESET SESSION AUTHORIZATION;

-- every SECURITY DEFINER function of the integration concern pins
-- search_path and is not executable by PUBLIC; the procedures are not
-- SECURITY DEFINER (they could not commit) and have no SET clause
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'crm' AND p.prosecdef
              AND (p.proname ~ '^(integration|outbox|mailchimp|miko|mailbox|quarantine|schedule_jobs|job_runs)')
              AND NOT COALESCE('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)), 0,
  'R2 every SECURITY DEFINER function of the integrations pins search_path');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'crm' AND p.prosecdef
              AND (p.proname ~ '^(integration|outbox|mailchimp|miko|mailbox|quarantine|schedule_jobs|job_runs)')
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
  'R2 no SECURITY DEFINER function of the integrations is executable by PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'crm' AND p.prokind = 'p' AND p.proname IN ('mailchimp_sync', 'miko_poll', 'mail_poll')
              AND NOT p.prosecdef AND p.proconfig IS NULL AND NOT has_function_privilege('public', p.oid, 'EXECUTE')), 3,
  'the procedures run as their caller, without SET clauses, not for PUBLIC');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'crm' AND c.relkind = 'r'
              AND c.relname IN ('integration_option', 'integration_setting', 'integration_peer', 'integration_run',
                                'integration_quarantine', 'outbox_batch', 'outbox', 'mailchimp_member', 'miko_call_seen')
              AND c.relrowsecurity AND c.relforcerowsecurity AND c.relpersistence = 'p'), 9,
  'R2 the integration tables have row-level security, forced, and are logged (not UNLOGGED)');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'crm' AND c.relkind = 'v'
              AND c.relname IN ('mailchimp_audience', 'mailchimp_contact_status', 'integration_status', 'job_run',
                                'integration_setting_load')
              AND c.reloptions @> ARRAY['security_invoker=true']), 5, 'the integration views run with the caller''s rights');
SELECT is((SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'crm' AND has_table_privilege('public', c.oid, 'SELECT')
              AND c.relname ~ '^(integration|outbox|mailchimp|miko)'), 0, 'PUBLIC reads none of them');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name LIKE 'crm.%' AND name ~ '(key|password|secret|token)'), 0,
  'R24 no crm setting holds a key or password');

SELECT * FROM finish();
ROLLBACK;
