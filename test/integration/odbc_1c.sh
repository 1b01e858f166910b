#!/usr/bin/env bash
# R24: 1C reads crm through ODBC.  The real psqlODBC driver (odbc-postgresql)
# and unixODBC's isql, as the read-only 1C login, read every view of crm_1c:
# every row and column equals what psql reads (Cyrillic included), the
# column types the driver reports are ones 1C maps, and writing is refused.
# Data: the 1C fixtures loaded through crm.import_1c, plus a deal with lines,
# an invoice, a payment and a task.
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
work=${CRM_TEST_WORK:-$(mktemp -d)}/odbc_1c
driver=/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so
db=crm_odbc_test
login=odbc_test_1c
rm -rf "$work"
mkdir -p "$work"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $login" \
    -c "DROP ROLE IF EXISTS odbc_test_mgr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
[ -f "$driver" ] || { echo "psqlODBC driver $driver is not installed"; exit 1; }

psql -d postgres -c "CREATE DATABASE $db"
psql -d "$db" -c "CREATE EXTENSION crm"
fx=$top/test/fixtures/1c
b64() { base64 -w0 "$1"; }
psql -d "$db" -v products="$(b64 "$fx/products.csv")" -v xml="$(b64 "$fx/import.xml")" \
  -v cps="$(b64 "$fx/counterparties.csv")" -v agents="$(b64 "$fx/contragents.xml")" \
  -v settle="$(b64 "$fx/settlements.csv")" -v stock="$(b64 "$fx/stock.csv")" -v orders="$(b64 "$fx/orders.csv")" <<'SQL'
SELECT crm.hire('odbc_test_mgr', 'Борис Петров', 'alto', 'manager');
INSERT INTO crm.warehouse (code, name, address) VALUES ('main', 'Основной склад', 'г. Подольск, ул. Заводская, 12'),
  ('spb', 'Склад Санкт-Петербург', NULL);
INSERT INTO crm.migration_map (kind, source, target) VALUES
  ('equipment_type', 'Климатическая техника', 'climatic'),
  ('employee', 'Петров Борис Сергеевич', 'odbc_test_mgr'), ('employee', 'Лебедева Екатерина Андреевна', 'odbc_test_mgr'),
  ('employee', 'Кузнецов Глеб Олегович', 'odbc_test_mgr'), ('employee', 'Попов Дмитрий', 'odbc_test_mgr'),
  ('employee', 'Новикова Мария Ивановна', 'odbc_test_mgr'), ('warehouse', 'Склад СПб', 'spb');
SELECT status FROM crm.import_1c('products', decode(:'products', 'base64'), 'products.csv');
SELECT status FROM crm.import_1c('commerceml', decode(:'xml', 'base64'), 'import.xml');
SELECT status FROM crm.import_1c('counterparties', decode(:'cps', 'base64'), 'counterparties.csv');
SELECT status FROM crm.import_1c('commerceml', decode(:'agents', 'base64'), 'contragents.xml');
SELECT status FROM crm.import_1c('settlements', decode(:'settle', 'base64'), 'settlements.csv');
SELECT status FROM crm.import_1c('stock', decode(:'stock', 'base64'), 'stock.csv');
SELECT status FROM crm.import_1c('orders', decode(:'orders', 'base64'), 'orders.csv');
DO $$
DECLARE
  d bigint;
  inv bigint;
BEGIN
  IF (SELECT count(*) FROM crm.migration_run WHERE status = 'loaded') <> 7 THEN
    RAISE EXCEPTION 'the fixtures did not load';
  END IF;
  d := crm.create_deal((SELECT id FROM crm.counterparty WHERE code_1c = '000000101'),
                       'Камера тепла-холода на -70..+150 °C', equipment_type => 'climatic',
                       contact => (SELECT k.id FROM crm.contact k WHERE k.full_name = 'Белов Андрей Викторович'));
  PERFORM crm.add_deal_line(d, (SELECT id FROM crm.product WHERE sku = 'KL-KTK-800'), 1, 2450000, 20, 'самовывоз');
  PERFORM crm.add_deal_line(d, (SELECT id FROM crm.product WHERE sku = 'CP-GLY-10'), 4, 6100, 20, NULL);
  inv := crm.create_document(d, 'invoice');
  PERFORM crm.record_payment(inv, 1000000, current_date, 'п/п № 417');
  INSERT INTO crm.task (kind, title, note, assignee_id, counterparty_id, due_at)
  SELECT 'call_client', 'Позвонить клиенту: Климатест', 'Уточнить сроки монтажа', e.id, c.id, now() + interval '1 day'
    FROM crm.employee e, crm.counterparty c WHERE e.role_name = 'odbc_test_mgr' AND c.code_1c = '000000101';
END $$;
SQL
psql -d "$db" -c "SELECT crm.create_1c_login('$login')" >/dev/null

cat >"$work/odbc.ini" <<INI
[crm1c]
Description = crm for 1C external data sources
Driver      = $driver
Servername  = 127.0.0.1
Port        = $PGPORT
Database    = $db
Username    = $login
BoolsAsChar = 0
INI
: >"$work/odbcinst.ini"
export ODBCINI=$work/odbc.ini ODBCSYSINI=$work
export LANG=C.UTF-8 LC_ALL=C.UTF-8
isql_q() { echo "$1" | isql -b -v -d'|' crm1c 2>&1; }

# the session 1C gets: read-only, crm_1c first
[ "$(isql_q 'SHOW default_transaction_read_only')" = "on" ] || { echo "the 1C session is not read-only"; exit 1; }

views=$(psql -d "$db" -At -c "SELECT relname FROM pg_class WHERE relnamespace = 'crm_1c'::regnamespace AND relkind = 'v' ORDER BY 1")
[ "$(echo "$views" | wc -l)" -ge 15 ] || { echo "too few views: $views"; exit 1; }
fail=0
for v in $views; do
  # psql, as the same login: booleans as 1/0 as the driver gives them, NULL as empty
  cols=$(psql -d "$db" -At -c "SELECT string_agg(CASE WHEN atttypid = 'boolean'::regtype THEN format('(%I)::int', attname)
                                                      ELSE format('%I', attname) END, ', ' ORDER BY attnum)
                                 FROM pg_attribute WHERE attrelid = 'crm_1c.$v'::regclass AND attnum > 0")
  psql -U "$login" -d "$db" -At -F'|' -c "SELECT $cols FROM crm_1c.$v ORDER BY 1" >"$work/$v.psql"
  isql_q "SELECT * FROM $v ORDER BY 1" >"$work/$v.odbc"
  rows=$(wc -l <"$work/$v.psql")
  if [ "$rows" -eq 0 ]; then
    echo "FAIL $v: no rows to compare"; fail=1
  elif ! diff -u "$work/$v.psql" "$work/$v.odbc" >"$work/$v.diff"; then
    echo "FAIL $v: ODBC reads differently"; head -20 "$work/$v.diff"; fail=1
  else
    echo "ok   $v: $rows rows equal through psqlODBC"
  fi
  # the count, as 1C's query would ask
  n=$(isql_q "SELECT count(*) FROM crm_1c.$v")
  [ "$n" = "$rows" ] || { echo "FAIL $v: count $n, rows $rows"; fail=1; }
done

# Cyrillic through the driver, spelled out
name=$(isql_q "SELECT name FROM counterparty WHERE code_1c = '000000101'")
[ "$name" = "Климатест" ] || { echo "FAIL: Cyrillic name read as '$name'"; fail=1; }
stage=$(isql_q "SELECT stage_title FROM deal")
[ "$stage" = "Подбор оборудования" ] || { echo "FAIL: stage read as '$stage'"; fail=1; }
grep -q '|Насос К 80-50-200 & рама|' "$work/product.odbc" || { echo "FAIL: product name with & not read back"; fail=1; }

# what the driver says of the columns: only types 1C maps (SQLColumns)
echo "help counterparty" | isql -b -d'|' crm1c >"$work/columns.txt" 2>&1
for v in $views; do echo "help $v" | isql -b -d'|' crm1c; done 2>&1 |
  awk -F'|' 'NF > 5 && $5 ~ /^-?[0-9]+$/ { print $5 "|" $6 }' | sort -u >"$work/types.txt"
echo "ODBC types reported: $(tr '\n' ' ' <"$work/types.txt")"
# -5 BIGINT, -7 BIT, -1 LONGVARCHAR (text), 2 NUMERIC, 4 INTEGER, 5 SMALLINT, 9/91 DATE, 11/93 TIMESTAMP, 12 VARCHAR
if grep -vE '^(-5|-7|-1|2|4|5|9|91|11|93|12)\|' "$work/types.txt"; then
  echo "FAIL: a column has a type outside the ODBC-friendly list"; fail=1
fi

# 1C only reads
out=$(isql_q "UPDATE counterparty SET name = 'x'")
echo "$out" | grep -qE 'permission denied|read-only' || { echo "FAIL: an UPDATE through ODBC was not refused: $out"; fail=1; }
out=$(isql_q "DELETE FROM crm.task")
echo "$out" | grep -qE 'permission denied|read-only' || { echo "FAIL: a DELETE through ODBC was not refused: $out"; fail=1; }
[ "$(psql -d "$db" -At -c "SELECT count(*) FROM crm.counterparty WHERE name = 'x'")" = 0 ] || { echo "FAIL: a write went through"; fail=1; }

# a DSN-less connection string, as 1C's external data source can be given
n=$(echo "SELECT count(*) FROM crm_1c.counterparty" |
    isql -b -d'|' -k "Driver=$driver;Servername=127.0.0.1;Port=$PGPORT;Database=$db;Uid=$login;Pwd=;BoolsAsChar=0" 2>&1)
[ "$n" = "$(wc -l <"$work/counterparty.psql")" ] || { echo "FAIL: DSN-less connection read '$n'"; fail=1; }

[ $fail -eq 0 ] && echo "every 1C view reads the same through psqlODBC"
exit $fail
