#!/usr/bin/env bash
# Deals survive pg_dump / pg_restore as they were: the user tables are
# registered with pg_extension_config_dump, and while pg_restore loads them
# (a superuser session with row_security off) the triggers keep the rows as
# dumped -- no history row made twice, no document renumbered or re-priced, no
# deal refused for starting in a later stage.  Afterwards numbering goes on
# after the restored documents and the state machine guards the restored deals.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=crm_deal_dump_src; db2=crm_deal_dump_dst
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  for d in $db $db2; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
  for r in dfx_head dfx_mgr dfx_other; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $db"
q -d $db -c "CREATE EXTENSION crm"
q -d $db -f "$here/deal_fixture.sql" >/dev/null
# the fixture's deal taken to closing; a second one rejected; a survey
q -d $db >/dev/null <<'SQL'
DELETE FROM crm.deal_stage_check WHERE NOT (check_fn::text LIKE 'crm.deal\_check\_%' AND check_fn::text NOT IN
  ('crm.deal_check_production_ordered(bigint)', 'crm.deal_check_shipped(bigint)'));
SELECT id AS d FROM crm.deal \gset
SELECT crm.record_payment((SELECT id FROM crm.document WHERE kind = 'invoice'), 759600);
SELECT crm.move_deal(:d, 'sale_from_stock', 'всё на складе');
SELECT crm.create_document(:d, 'consignment_note');
SELECT crm.create_document(:d, 'vat_invoice');
SELECT crm.move_deal(:d, 'installation');
SELECT crm.move_deal(:d, 'service');
SELECT crm.record_service_decision(:d, false, 'сами');
SELECT crm.move_deal(:d, 'closed', 'готово');
-- a precondition the company added itself is dumped (the built-in ones come with the extension)
INSERT INTO crm.deal_stage_check VALUES ('not_suitable', 'crm.deal_check_agreed(bigint)', 'своя проверка', false);
DELETE FROM crm.deal_stage_check WHERE NOT builtin;
INSERT INTO crm.deal_stage_check VALUES ('service', 'crm.deal_check_agreed(bigint)', 'своя проверка', false);
SELECT crm.create_deal(c.id, 'второй запрос') AS d2 FROM crm.counterparty c WHERE c.name = 'Климатест' \gset
SELECT crm.move_deal(:d2, 'not_suitable', 'не наш профиль');
SET ROLE dfx_head;
SELECT crm.record_survey(:d, 5, 'всё хорошо');
RESET ROLE;
-- (not about deals: the MailChimp queue trigger on contact points queues the
-- contact's e-mail again while pg_restore loads crm.contact_point, and the
-- restored crm.outbox then collides with it -- reported to the integrations
-- concern; an empty queue keeps this test to what it proves)
DO $$ BEGIN IF to_regclass('crm.outbox') IS NOT NULL THEN EXECUTE 'DELETE FROM crm.outbox'; END IF; END $$;
SQL
rows="
  SELECT 'deal ' || row(id, title, counterparty_id, stage, stage_reason, agreement_path, agreed_at, won_at, service_decision, closed_at)::text AS t FROM crm.deal
  UNION ALL SELECT 'line ' || row(l.*)::text FROM crm.deal_line l
  UNION ALL SELECT 'history ' || row(h.deal_id, h.field, h.from_value, h.to_value, h.reason, h.changed_at)::text FROM crm.deal_history h
  UNION ALL SELECT 'doc ' || row(x.*)::text FROM crm.document x
  UNION ALL SELECT 'docline ' || row(dl.*)::text FROM crm.document_line dl
  UNION ALL SELECT 'counter ' || row(c.*)::text FROM crm.document_counter c
  UNION ALL SELECT 'payment ' || row(p.*)::text FROM crm.payment p
  UNION ALL SELECT 'survey ' || row(s.*)::text FROM crm.satisfaction_survey s
  UNION ALL SELECT 'task ' || row(t.kind, t.title, t.deal_id, t.dedup_key, t.done_at)::text FROM crm.task t
  UNION ALL SELECT 'company ' || row(co.*)::text FROM crm.company co
  UNION ALL SELECT 'check ' || row(k.to_stage, k.check_fn::text)::text FROM crm.deal_stage_check k WHERE NOT k.builtin"
snapshot="SELECT md5(string_agg(t, '|' ORDER BY t)) FROM ($rows) x"
detail="SELECT t FROM ($rows) x ORDER BY t"
counts="SELECT (SELECT count(*) FROM crm.deal), (SELECT count(*) FROM crm.deal_history),
  (SELECT count(*) FROM crm.document), (SELECT count(*) FROM crm.document_line), (SELECT count(*) FROM crm.payment),
  (SELECT count(*) FROM crm.task WHERE deal_id IS NOT NULL), (SELECT count(*) FROM crm.satisfaction_survey)"
before=$(q -At -d $db -c "$snapshot"); before_n=$(q -At -d $db -c "$counts")
q -At -d $db -c "$detail" > "$CRM_TEST_WORK/deal_before.txt"
pg_dump -Fc -d $db -f "$CRM_TEST_WORK/deal_dump.fc"
q -d postgres -c "CREATE DATABASE $db2"
pg_restore -d $db2 --exit-on-error "$CRM_TEST_WORK/deal_dump.fc"
after=$(q -At -d $db2 -c "$snapshot"); after_n=$(q -At -d $db2 -c "$counts")
q -At -d $db2 -c "$detail" > "$CRM_TEST_WORK/deal_after.txt"
echo "before: $before_n $before"
echo "after:  $after_n $after"
[ "$before" = "$after" ] || { echo "FAIL: the restored deals differ"; diff "$CRM_TEST_WORK/deal_before.txt" "$CRM_TEST_WORK/deal_after.txt"; exit 1; }
# numbering goes on after the restored documents, without a gap
next=$(q -At -d $db2 <<'SQL'
SELECT crm.create_deal(c.id, 'после восстановления') AS d3 FROM crm.counterparty c WHERE c.name = 'Климатест' \gset
SELECT crm.add_deal_line(:d3, (SELECT id FROM crm.product WHERE sku = 'DFX-PUMP'), 1) > 0;
SELECT crm.create_document(:d3, 'invoice') AS inv \gset
SELECT seq FROM crm.document WHERE id = :inv;
SQL
)
[ "$(tail -1 <<<"$next")" = 2 ] || { echo "FAIL: the next invoice is number $(tail -1 <<<"$next"), expected 2"; exit 1; }
[ "$(q -At -d $db2 -c "SELECT count(*) FROM crm.deal_stage_check WHERE NOT builtin")" = 1 ] ||
  { echo "FAIL: the company's own stage check was not restored"; exit 1; }
# the restored closed deal is still guarded
if q -d $db2 -c "UPDATE crm.deal SET needs = 'x' WHERE stage = 'closed'" 2>/dev/null; then
  echo "FAIL: a restored closed deal could be edited"; exit 1
fi
echo "deal_dump: restored as dumped; numbering and the state machine go on"
