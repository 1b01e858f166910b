#!/usr/bin/env bash
# The user tables are registered with pg_extension_config_dump: pg_dump keeps
# their rows (and the seeded rows are not duplicated), and a restored database
# goes on numbering rows after the restored ones.
set -euo pipefail
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
db=crm_dump_src; db2=crm_dump_dst
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $db2" -c "CREATE DATABASE $db"
psql -d $db <<'SQL'
CREATE EXTENSION crm;
INSERT INTO crm.department (code, name, kind) VALUES ('lab2', 'Лаборатория', 'service');
INSERT INTO crm.employee (role_name, full_name, department_id, position)
  SELECT 'dump_mgr', 'Иван Дампов', id, 'manager' FROM crm.department WHERE code = 'alto';
INSERT INTO crm.counterparty (kind, name) VALUES ('client', 'ООО Ромашка'), ('lead', 'Лид');
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Ольга' FROM crm.counterparty WHERE name = 'ООО Ромашка';
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT id, counterparty_id, 'phone', '8 916 100 20 30' FROM crm.contact;
INSERT INTO crm.product (sku, name) VALUES ('D-1', 'Компрессор');
INSERT INTO crm.task (title, assignee_id) SELECT 'Позвонить', id FROM crm.employee;
SQL
counts="SELECT (SELECT count(*) FROM crm.department), (SELECT count(*) FROM crm.employee),
  (SELECT count(*) FROM crm.counterparty), (SELECT count(*) FROM crm.contact_point),
  (SELECT count(*) FROM crm.product), (SELECT count(*) FROM crm.task),
  (SELECT count(*) FROM crm.equipment_type), (SELECT string_agg(normalized, ',') FROM crm.contact_point)"
before=$(psql -At -d $db -c "$counts")
pg_dump -Fc -d $db -f "$CRM_TEST_WORK/dump.fc"
psql -d postgres -c "CREATE DATABASE $db2"
pg_restore -d $db2 --exit-on-error "$CRM_TEST_WORK/dump.fc"
after=$(psql -At -d $db2 -c "$counts")
echo "before: $before"; echo "after:  $after"
[ "$before" = "$after" ] || { echo "restored rows differ"; exit 1; }
# numbering goes on after the restored rows
psql -d $db2 -c "INSERT INTO crm.counterparty (kind, name) VALUES ('lead', 'После восстановления')"
psql -d $db2 -c "INSERT INTO crm.department (code, name, kind) VALUES ('lab3', 'X', 'service')"
echo "new rows insert after restore"
psql -d postgres -c "DROP DATABASE $db" -c "DROP DATABASE $db2" -c "DROP ROLE IF EXISTS dump_mgr"
