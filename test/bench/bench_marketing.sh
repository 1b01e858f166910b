#!/usr/bin/env bash
# test/bench/bench_marketing.sh -- how fast marketing's exports and the 1C
# migration are, against plain PostgreSQL doing the minimal equivalent work in
# the same run on the same cluster (issue 7):
#
#   export    crm.export_segment(segment, 'mailchimp', 'xlsx') of N contacts,
#             the file sent to the client (COPY ... TO STDOUT, binary)
#             against COPY (the same rows of crm.segment_members) TO STDOUT;
#             goal: at most 3x the COPY time.  Also the phone layout and CSV,
#             and the time per contact at N/10 and N contacts.
#   stock     crm.import_1c('stock', <file>) of M stock-balance lines (a lot
#             each, windows-1251, ";") -- read, staged, validated, loaded into
#             fulfilment's lots with their stock moves -- against a plain
#             COPY of the same file into a staging table of text columns;
#             goal: at least 25% of COPY's rows per second.  Also the staging
#             step alone (crm.csv_read into a temporary table), a re-run
#             (everything already loaded), and fulfilment's per-lot
#             crm.receive_lot on a sample, for scale.
#
# Each time is the best of CRM_BENCH_REPEAT runs (default 3).  Sizes:
# CRM_BENCH_CONTACTS (default 100000), CRM_BENCH_STOCK_ROWS (default 1000000).
# Run: make bench CRM_BENCH_ONLY=marketing
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
db=bench_marketing
n=${CRM_BENCH_CONTACTS:-100000}
m=${CRM_BENCH_STOCK_ROWS:-1000000}
repeat=${CRM_BENCH_REPEAT:-3}
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  rm -rf "$work"
  bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  bpsql -d postgres -c "DROP ROLE IF EXISTS bench_mkt" -c "DROP ROLE IF EXISTS bench_mgr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# best wall time in seconds of running "$@" $repeat times
best() {
  local b="" t0 t1 t
  for _ in $(seq 1 "$repeat"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$b" ] || awk -v x="$t" -v y="$b" 'BEGIN { exit !(x < y) }'; then b=$t; fi
  done
  echo "$b"
}
q() { bpsql -d $db -At "$@"; }

bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
bpsql -d $db <<'SQL' >/dev/null
CREATE EXTENSION crm;
SELECT crm.hire('bench_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('bench_mgr', 'Борис Петров', 'alto', 'manager');
-- counterparties from `from` to `upto`, each with a contact, an e-mail, a
-- phone (every third with a second one and an extension) and tags
CREATE FUNCTION bench_populate(upto integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  have integer := (SELECT count(*) FROM crm.counterparty);
BEGIN
  INSERT INTO crm.counterparty (kind, name, region, department_id, responsible_id)
  SELECT (ARRAY['lead', 'client', 'partner'])[1 + g % 3], 'ООО «Компания №' || g || '»',
         (ARRAY['Москва', 'Татарстан', 'Санкт-Петербург', 'Свердловская область'])[1 + g % 4],
         (SELECT id FROM crm.department WHERE code = 'alto'), (SELECT id FROM crm.employee WHERE role_name = 'bench_mgr')
    FROM generate_series(have + 1, upto) g;
  INSERT INTO crm.contact (counterparty_id, full_name, position)
  SELECT c.id, (ARRAY['Иванов Иван Иванович', 'Анна Смирнова', 'Ким Юлия', 'Пётр Сергеевич Орлов'])[1 + c.id % 4],
         'инженер' FROM crm.counterparty c WHERE c.id > have;
  UPDATE crm.contact SET mailing_consent = true WHERE counterparty_id > have;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT k.id, k.counterparty_id, 'email', 'user' || k.id || '@bench.example' FROM crm.contact k WHERE k.counterparty_id > have;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT k.id, k.counterparty_id, 'phone', '+7 916 ' || lpad(k.id::text, 7, '0') FROM crm.contact k WHERE k.counterparty_id > have;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
  SELECT k.id, k.counterparty_id, 'phone', '8 495 ' || lpad(k.id::text, 7, '0') || ' доб. 12'
    FROM crm.contact k WHERE k.counterparty_id > have AND k.id % 3 = 0;
  INSERT INTO crm.counterparty_tag (counterparty_id, tag_id)
  SELECT c.id, t.id FROM crm.counterparty c, crm.tag t WHERE c.id > have AND (c.id % 2 = 0 OR t.name = 'VIP' AND c.id % 5 = 0);
  ANALYZE;
END $$;
INSERT INTO crm.tag (name) VALUES ('выставка-2024'), ('VIP');
INSERT INTO crm.segment (name) VALUES ('bench');
SQL

echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "-- export of a segment: $n contacts at most, best of $repeat"
printf '%-10s %-28s %10s %10s %8s %12s\n' contacts what seconds "copy s" ratio "µs/contact"
export_row() {   # contacts label layout format
  local c=$1 label=$2 layout=$3 format=$4 cols t tc
  if [ "$layout" = mailchimp ]; then
    cols="m.email, m.first_name, m.last_name, m.company, m.phone, m.tags FROM crm.segment_members(1) WITH ORDINALITY m WHERE m.email IS NOT NULL AND m.mailing_consent ORDER BY m.ordinality"
  else
    cols="m.company, m.contact_name, m.position, m.phones, m.email, m.region, m.responsible, (m.last_contact_at)::date FROM crm.segment_members(1) WITH ORDINALITY m WHERE m.phones IS NOT NULL ORDER BY m.ordinality"
  fi
  tc=$(best q -c "SET ROLE bench_mkt" -c "COPY (SELECT $cols) TO STDOUT")
  t=$(best q -c "SET ROLE bench_mkt" -c "COPY (SELECT crm.export_segment(1, '$layout', '$format')) TO STDOUT (FORMAT binary)")
  printf '%-10s %-28s %10s %10s %8s %12s\n' "$c" "$label" "$t" "$tc" "$(ratio "$t" "$tc")" \
    "$(awk -v t="$t" -v c="$c" 'BEGIN { printf "%.1f", t * 1e6 / c }')"
}
small=$((n / 10))
q -c "SELECT bench_populate($small)" >/dev/null
export_row "$small" "xlsx mailchimp" mailchimp xlsx
q -c "SELECT bench_populate($n)" >/dev/null
export_row "$n" "xlsx mailchimp" mailchimp xlsx
export_row "$n" "xlsx phone" phone xlsx
export_row "$n" "csv mailchimp" mailchimp csv
echo "(ratio: export time / COPY time of the same rows; goal for the xlsx MailChimp export: <= 3.00)"
size=$(q -c "SELECT pg_size_pretty(length(crm.export_segment(1, 'mailchimp', 'xlsx'))::bigint)")
echo "(the $n-contact MailChimp workbook is $size)"

echo
echo "-- import of $m stock-balance lines from 1C, best of $repeat"
bpsql -d $db <<'SQL' >/dev/null
INSERT INTO crm.warehouse (code, name) VALUES ('main', 'Основной склад'), ('spb', 'Склад Санкт-Петербург');
INSERT INTO crm.product (sku, name, code_1c, shelf_life_days)
SELECT 'B-' || g, 'Товар ' || g, '00-' || lpad(g::text, 8, '0'), 365 FROM generate_series(1, 1000) g;
CREATE TABLE bench_stage (warehouse text, code text, name text, lot text, expiry text, quantity text, received text);
SQL
python3 - "$work/stock.csv" "$m" <<'PY'
import sys
path, m = sys.argv[1], int(sys.argv[2])
wh = ('Основной склад', 'Склад Санкт-Петербург')
with open(path, 'w', encoding='cp1251', newline='') as f:
    f.write('Склад;Код номенклатуры;Номенклатура;Серия;Годен до;Количество;Дата поступления\r\n')
    for i in range(m):
        p = 1 + i % 1000
        exp = f'{1 + i % 28:02d}.{1 + i % 12:02d}.{2030 + i % 5}' if i % 4 else f'{1 + i % 12:02d}.{2031 + i % 3}'
        f.write(f'{wh[i % 2]};00-{p:08d};Товар {p};П-{i:07d};{exp};{1 + i % 90},{i % 10};{1 + i % 28:02d}.{1 + i % 12:02d}.2024\r\n')
PY
chmod 644 "$work/stock.csv"
bytes=$(stat -c %s "$work/stock.csv")
tcopy=$(best q -c "TRUNCATE bench_stage" -c "COPY bench_stage FROM '$work/stock.csv' WITH (FORMAT csv, DELIMITER ';', HEADER, ENCODING 'WIN1251')")
tstage=$(best q -c "CREATE TEMP TABLE s AS SELECT * FROM crm.csv_read(crm.decode_1c(pg_read_binary_file('$work/stock.csv')), ARRAY['Склад', 'Код номенклатуры', 'Номенклатура', 'Серия', 'Годен до', 'Количество', 'Дата поступления']) AS t(line_no integer, problem text, a text, b text, c text, d text, e text, f text, g text)")
clean() { q -c "DELETE FROM crm.stock_move" -c "DELETE FROM crm.lot" -c "DELETE FROM crm.migration_run" -c "VACUUM crm.lot, crm.stock_move" >/dev/null; }
timport=""
for _ in $(seq 1 "$repeat"); do
  clean
  t0=$(date +%s.%N)
  st=$(q -c "SELECT status FROM crm.import_1c('stock', pg_read_binary_file('$work/stock.csv'), 'stock.csv')")
  t1=$(date +%s.%N)
  [ "$st" = loaded ] || { echo "the stock import did not load: $st"; exit 1; }
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  if [ -z "$timport" ] || awk -v x="$t" -v y="$timport" 'BEGIN { exit !(x < y) }'; then timport=$t; fi
done
lots=$(q -c "SELECT count(*) FROM crm.lot")
[ "$lots" = "$m" ] || { echo "expected $m lots, found $lots"; exit 1; }
trerun=$(best q -c "SELECT unchanged FROM crm.import_1c('stock', pg_read_binary_file('$work/stock.csv'), 'stock.csv')")
sample=$(( m < 20000 ? m : 20000 ))
tlot=$(best q -c "BEGIN" -c "SELECT count(crm.receive_lot(1, p.id, 1, 'R-' || g, NULL, NULL, NULL, 'import')) FROM generate_series(1, $sample) g JOIN crm.product p ON p.code_1c = '00-' || lpad((1 + g % 1000)::text, 8, '0')" -c "ROLLBACK")
rate() { awk -v r="$1" -v t="$2" 'BEGIN { printf "%.0f", r / t }'; }
printf '%-52s %10s %12s %10s\n' what seconds "rows/s" "% of COPY"
printf '%-52s %10s %12s %10s\n' "COPY into a staging table (text columns)" "$tcopy" "$(rate "$m" "$tcopy")" 100
printf '%-52s %10s %12s %10s\n' "staging step alone (decode + crm.csv_read)" "$tstage" "$(rate "$m" "$tstage")" \
  "$(awk -v a="$tcopy" -v b="$tstage" 'BEGIN { printf "%.0f", 100 * a / b }')"
printf '%-52s %10s %12s %10s\n' "crm.import_1c('stock'): staged, validated, loaded" "$timport" "$(rate "$m" "$timport")" \
  "$(awk -v a="$tcopy" -v b="$timport" 'BEGIN { printf "%.0f", 100 * a / b }')"
printf '%-52s %10s %12s %10s\n' "the same file again (all unchanged)" "$trerun" "$(rate "$m" "$trerun")" \
  "$(awk -v a="$tcopy" -v b="$trerun" 'BEGIN { printf "%.0f", 100 * a / b }')"
printf '%-52s %10s %12s %10s\n' "crm.receive_lot per lot ($sample lots), for scale" "$tlot" "$(rate "$sample" "$tlot")" \
  "$(awk -v a="$tcopy" -v b="$tlot" -v s="$sample" -v m="$m" 'BEGIN { printf "%.0f", 100 * (s / b) / (m / a) }')"
echo "(file: $bytes bytes; goal for crm.import_1c: >= 25% of COPY's rows/s)"
