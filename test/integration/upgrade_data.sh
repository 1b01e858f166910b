#!/usr/bin/env bash
# R32 upgrades keep the data: a database made with the released 1.1, holding
# what its users wrote (a lead from a call, a notification, a quarantined PBX
# call in 1.1's form, a MailChimp queue item), is brought to the current
# version by ALTER EXTENSION crm UPDATE; the rows are all there, the rules of
# the new version hold for them, and the quarantined call, converted to the
# new form, loads when retried.  (The upgrade suite compares the catalog; this
# compares the rows.)
set -euo pipefail
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
db=crm_upgrade_data
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db <<'SQL'
CREATE EXTENSION crm VERSION '1.1';
SELECT crm.ingest_call(linkedid => 'U-1', caller => '+7 916 100-20-30', called => '201',
                       started_at => '2026-11-20 10:00:00+03', direction => 'in');
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'ООО Апгрейд');
INSERT INTO crm.contact (counterparty_id, full_name, mailing_consent)
  SELECT id, 'Ольга Петрова', true FROM crm.counterparty WHERE name = 'ООО Апгрейд';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'email', 'olga@upgrade.example' FROM crm.contact WHERE full_name = 'Ольга Петрова';
-- a call crm 1.1 refused, quarantined in 1.1's form (ingest_call's arguments)
SELECT crm.integration_quarantine_put('miko', 'U-2', NULL,
  jsonb_build_object('call', jsonb_build_object('linkedid', 'U-2', 'caller', '+79031110002', 'called', '201',
    'started_at', '2026-11-20 10:00:05+03'::timestamptz, 'answered_at', '2026-11-20 10:00:12+03'::timestamptz,
    'ended_at', '2026-11-20 10:00:45+03'::timestamptz, 'duration', 40, 'billsec', 33,
    'disposition', 'ANSWERED', 'recording', NULL, 'nlegs', 2, 'last_leg_id', 77),
    'legs', '[{"id": 76}, {"id": 77}]'::jsonb), '22023', 'refused then', NULL);
SQL
counts="SELECT (SELECT count(*) FROM crm.counterparty), (SELECT count(*) FROM crm.inquiry),
  (SELECT count(*) FROM crm.interaction), (SELECT count(*) FROM crm.notification),
  (SELECT string_agg(subject || '/' || state, ',' ORDER BY subject) FROM crm.outbox),
  (SELECT count(*) FROM crm.integration_quarantine WHERE resolved_at IS NULL)"
before=$(psql -At -d $db -c "$counts")
psql -d $db -c "ALTER EXTENSION crm UPDATE"
after=$(psql -At -d $db -c "$counts")
echo "before: $before"; echo "after:  $after"
[ "$before" = "$after" ] || { echo "rows differ after the upgrade"; exit 1; }
[ "$(psql -At -d $db -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")" = "$(make -s print-EXTVERSION)" ]
psql -At -d $db <<'SQL'
\set ON_ERROR_STOP on
-- the 1.2 CHECK rules (C) accept what 1.1 wrote and still refuse what it refused
DO $$
BEGIN
  UPDATE crm.interaction SET duration = duration WHERE dedup_key = 'call:U-1';
  BEGIN
    UPDATE crm.interaction SET billsec = 10, duration = 5 WHERE dedup_key = 'call:U-1';
    RAISE EXCEPTION 'interaction_valid let billsec > duration through';
  EXCEPTION WHEN check_violation THEN NULL;
  END;
END $$;
-- the quarantined call, converted, loads when retried
SELECT crm.quarantine_retry(id) FROM crm.integration_quarantine WHERE source_key = 'U-2';
SQL
n=$(psql -At -d $db -c "SELECT count(*) FROM crm.interaction WHERE dedup_key = 'call:U-2'
   AND occurred_at = '2026-11-20 10:00:05+03' AND answered_at = '2026-11-20 10:00:12+03' AND billsec = 33")
[ "$n" = 1 ] || { echo "the retried call is not there as it was ($n)"; exit 1; }
[ "$(psql -At -d $db -c "SELECT count(*) FROM crm.integration_quarantine WHERE resolved_at IS NULL")" = 0 ]
psql -d postgres -c "DROP DATABASE $db"
echo "upgrade kept the rows; the quarantined call loads"
