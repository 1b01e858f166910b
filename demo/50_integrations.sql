-- demo/50_integrations.sql: the integration jobs of the demo (R4, R5, R24, R26)
-- talk to the peers demo/peers.sh runs on 127.0.0.1 (MikoPBX and MailChimp
-- stubs, a Dovecot mailbox): their URLs (refreshed on every run: the peers may
-- listen on new ports), the keys (loaded with COPY from the peers' keys.sql,
-- as a DBA should load them), the
-- role pg_cron runs the jobs as, the consent of some contacts to be mailed,
-- and a first run of each job, so that the summary has something to show.
-- pg_cron then runs them: PBX and mailbox every minute, MailChimp every 15.
\getenv peers CRM_DEMO_PEERS
\if :{?peers}
\else
\set peers /var/lib/crm-demo
\endif
SELECT :'peers' || '/peers.psql' AS peers_file \gset
SELECT (pg_catalog.pg_stat_file(:'peers_file', true)).size IS NOT NULL AS have_peers \gset
\if :have_peers
\i :peers_file

-- the role pg_cron runs crm's jobs as: it can log in (pg_cron's background
-- workers connect as it), it is in crm_integration, it is not a superuser
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'crm_jobs') AS need_role \gset
\if :need_role
CREATE ROLE crm_jobs LOGIN IN ROLE crm_integration;
\endif

BEGIN;
SELECT crm.configure('jobs', 'run_as', 'crm_jobs');
SELECT crm.configure('miko', 'url', :'miko_url');
SELECT crm.configure('miko', 'timezone', 'Europe/Moscow');
SELECT crm.configure('mailbox', 'url', :'imap_url');
SELECT crm.configure('mailbox', 'username', 'sales');
SELECT crm.configure('mailchimp', 'base_url', :'mailchimp_url');
SELECT crm.configure('mailchimp', 'list_id', 'demo0list1');
SELECT crm.configure('mailchimp', 'company_field', 'COMPANY');
-- the keys, from the peers' own file: COPY, whose data is not a statement
-- (no statement log records it)
\i :peers/keys.sql
COMMIT;

-- who may be mailed (once): contacts of leads and clients go to MailChimp,
-- a partner's contact does not even with consent
SELECT NOT EXISTS (SELECT FROM crm.contact WHERE mailing_consent) AS fresh \gset
\if :fresh
\echo demo: consent to mailing for some contacts
UPDATE crm.contact SET mailing_consent = true
 WHERE full_name IN ('Рустам Гарипов', 'Лилия Хасанова', 'Андрей Белов', 'Наталья Орлова', 'Юлия Ким',
                     'Денис Фролов', 'Ирина Власова');
\endif

-- a first run of each job as the job role (pg_cron takes over from here)
SET ROLE crm_jobs;
CALL crm.miko_poll();
CALL crm.mail_poll();
CALL crm.mailchimp_sync();
RESET ROLE;
\else
\echo demo: the integration peers are not running (demo/peers.sh start); their jobs stay unconfigured
\endif
