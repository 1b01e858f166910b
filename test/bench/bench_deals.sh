#!/usr/bin/env bash
# test/bench/bench_deals.sh -- the deal state machine and the print forms (R12, R14).
#
#   stage transitions per second: UPDATE crm.deal SET stage = ... through the C
#   trigger (legal-transition matrix, concurrency check, the registered
#   preconditions called by OID, the history row; one move in three enters
#   "service" and makes the "offer service" task and its notification),
#   against a raw single-row UPDATE of a plain table with the same shape, in
#   the same run, with synchronous_commit on and off.  Goal: >= 60% (on),
#   >= 40% (off).
#
#   proposal PDFs per second for 3 and 30 lines, against reading the same form
#   data without laying it out.
#
# Run by test/bench/run.sh (make bench; CRM_BENCH_ONLY=deals, CRM_BENCH_SECONDS).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
db=bench_deals
clients=${CRM_BENCH_CLIENTS:-2}
work=$(mktemp -d /tmp/bench-deals.XXXXXX)
trap 'rm -rf "$work"' EXIT

bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
bpsql -d $db >/dev/null <<'SQL'
CREATE EXTENSION crm;
INSERT INTO crm.company (name, legal_name, inn, kpp, address, bank_name, bank_bic, bank_account, corr_account)
VALUES ('ПромНасосМаш', 'ООО «ПромНасосМаш»', '7707083893', '772801001', 'г. Подольск, ул. Заводская, 12',
        'ПАО Сбербанк', '044525225', '40702810500000001234', '30101810400000000225');
INSERT INTO crm.employee (role_name, full_name, department_id, position)
SELECT 'bench_head', 'Анна Иванова', id, 'head' FROM crm.department WHERE code = 'alto';
INSERT INTO crm.employee (role_name, full_name, department_id, position)
SELECT 'bench_mgr', 'Борис Петров', id, 'manager' FROM crm.department WHERE code = 'alto';
INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                              physical_address, department_id, responsible_id)
SELECT 'client', 'Климатест', 'АО «Климатест»', '7707083893', '770701001', 'ПАО Сбербанк', '044525225',
       '40702810500000001234', '30101810400000000225', 'Москва, Научный проезд, 8', d.id, e.id
  FROM crm.department d, crm.employee e WHERE d.code = 'alto' AND e.role_name = 'bench_mgr';
INSERT INTO crm.contact (counterparty_id, full_name) SELECT id, 'Андрей Белов' FROM crm.counterparty;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'phone', '+7 916 210-33-44' FROM crm.contact;
INSERT INTO crm.product (sku, name, list_price, equipment_type_id)
SELECT 'B-' || i, 'Насос ЦНС 38-44, исполнение ' || i || ', с торцевым уплотнением и двигателем 11 кВт', 1000 * i,
       (SELECT id FROM crm.equipment_type WHERE code = 'pumps')
  FROM generate_series(1, 30) i;
-- the state machine with the deal-owned preconditions: the fulfilment checks
-- (a customer order with production lines, the goods shipped) need orders and
-- shipments for every deal and measure fulfilment, not the state machine
DELETE FROM crm.deal_stage_check WHERE check_fn::text NOT LIKE 'crm.deal\_check\_%'
   OR check_fn::text IN ('crm.deal_check_production_ordered(bigint)', 'crm.deal_check_shipped(bigint)');
-- the plain table of the baseline: the same row shape, no trigger
CREATE TABLE bench_raw (id bigint PRIMARY KEY, stage text NOT NULL, stage_reason text,
                        stage_changed_at timestamptz, updated_at timestamptz);
SQL

# deals for the moves: each client owns a range and moves each of its deals
# through equipment_selection -> sale_from_stock -> installation -> service
make_deals() {  # n: fresh agreed deals, and as many raw rows; prints the first id
  local n=$1
  bpsql -d $db -At <<SQL
CREATE TEMP TABLE fresh AS
WITH ins AS (
  INSERT INTO crm.deal (counterparty_id, contact_id, needs, equipment_type_id)
  SELECT c.counterparty_id, c.id, 'бенчмарк', (SELECT id FROM crm.equipment_type WHERE code = 'pumps')
    FROM crm.contact c, generate_series(1, $n)
  RETURNING id)
SELECT id FROM ins;
UPDATE crm.deal SET agreement_path = 'direct', agreed_at = now() WHERE id IN (SELECT id FROM fresh);
TRUNCATE bench_raw;
INSERT INTO bench_raw SELECT id, 'equipment_selection' FROM fresh;
SELECT min(id) FROM fresh;
SQL
}

# a client's k-th move takes deal (k mod per) of its range one stage further:
# round 0 equipment_selection -> sale_from_stock, round 1 -> installation
cat >"$work/move.sql" <<'SQL'
\set k :k + 1
\set d :base + :client_id * :per + (:k - 1) % :per
\set r (:k - 1) / :per
UPDATE crm.deal SET stage = CASE :r WHEN 0 THEN 'sale_from_stock' ELSE 'installation' END WHERE id = :d;
SQL
cat >"$work/raw.sql" <<'SQL'
\set k :k + 1
\set d :base + :client_id * :per + (:k - 1) % :per
\set r (:k - 1) / :per
UPDATE bench_raw SET stage = CASE :r WHEN 0 THEN 'sale_from_stock' ELSE 'installation' END,
       stage_changed_at = now(), updated_at = now() WHERE id = :d;
SQL
# installation -> service: the move that also makes the "offer service" task
cat >"$work/service.sql" <<'SQL'
\set k :k + 1
\set d :base + :client_id * :per + (:k - 1) % :per
UPDATE crm.deal SET stage = 'service' WHERE id = :d;
SQL

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# three alternating rounds of raw / move (each a third of the time), so that
# the load of a shared machine falls on both alike; the medians are kept
measure() {  # sync -> "raw_tps move_tps service_tps"
  local sync=$1 raw move per base secs rounds=3 i r m sv
  secs=$(( bench_secs / rounds )); [ "$secs" -ge 1 ] || secs=1
  set_sync $db "$sync" >/dev/null
  # size the deal ranges from a first look at the rate of moves, so that the
  # moves go through both rounds and nobody runs out of deals
  base=$(make_deals $((clients * 300)) | tail -1)
  move=$(tps $db "$work/move.sql" "$clients" 2 -D k=0 -D base="$base" -D per=300)
  per=$(awk -v t="$move" -v s="$secs" -v c="$clients" 'BEGIN { printf "%d", t * s * 1.3 / c / 2 + 100 }')
  : >"$work/raw.$sync"; : >"$work/move.$sync"; : >"$work/service.$sync"
  for i in $(seq $rounds); do
    base=$(make_deals $((clients * per)) | tail -1)
    tps $db "$work/raw.sql" "$clients" "$secs" -D k=0 -D base="$base" -D per="$per" >>"$work/raw.$sync"
    tps $db "$work/move.sql" "$clients" "$secs" -D k=0 -D base="$base" -D per="$per" >>"$work/move.$sync"
    # the deals now in installation move on to service
    bpsql -d $db -q -c "UPDATE crm.deal SET stage = 'installation' WHERE id >= $base AND stage = 'sale_from_stock'"
    tps $db "$work/service.sql" "$clients" "$secs" -D k=0 -D base="$base" -D per="$per" >>"$work/service.$sync"
  done
  # every move was legal, and every deal that entered service got its task once
  local bad
  bad=$(bpsql -d $db -At -c "SELECT count(*) FROM crm.deal d WHERE id >= $base AND (stage NOT IN
          ('equipment_selection', 'sale_from_stock', 'installation', 'service')
          OR (stage = 'service') <> EXISTS (SELECT FROM crm.task t WHERE t.deal_id = d.id AND t.kind = 'offer_service'))")
  [ "$bad" = 0 ] || { echo "moves left deals in a wrong state" >&2; exit 1; }
  if grep -qx '0' "$work/raw.$sync" "$work/move.$sync" "$work/service.$sync" 2>/dev/null ||
     grep -qh ':0$' <(grep -c . "$work/move.$sync"); then
    echo "a measurement failed" >&2; exit 1
  fi
  echo "$(median <"$work/raw.$sync") $(median <"$work/move.$sync") $(median <"$work/service.$sync")"
}

echo "stage transitions, $clients clients, ${bench_secs}s each (median of 3 alternating rounds):"
printf '%-20s %12s %14s %7s %6s %18s %7s\n' "synchronous_commit" "raw UPDATE/s" "transitions/s" "ratio" "goal" "into service/s" "ratio"
read -r raw_on move_on svc_on <<<"$(measure on)"
printf '%-20s %12.0f %14.0f %7s %6s %18.0f %7s\n' on "$raw_on" "$move_on" "$(ratio "$move_on" "$raw_on")" 0.60 \
  "$svc_on" "$(ratio "$svc_on" "$raw_on")"
read -r raw_off move_off svc_off <<<"$(measure off)"
printf '%-20s %12.0f %14.0f %7s %6s %18.0f %7s\n' off "$raw_off" "$move_off" "$(ratio "$move_off" "$raw_off")" 0.40 \
  "$svc_off" "$(ratio "$svc_off" "$raw_off")"
echo "(transitions: equipment_selection -> sale_from_stock -> installation, with the check and the history row;"
echo " into service: installation -> service, which also makes the \"offer service\" task and its notification)"
hist=$(bpsql -d $db -At -c "SELECT count(*) FROM crm.deal_history")
tasks=$(bpsql -d $db -At -c "SELECT count(*) || ' tasks, ' || count(DISTINCT dedup_key) || ' distinct' FROM crm.task")
echo "(history rows written: $hist; automatic tasks: $tasks)"

# cost as the data grows: transitions with many more deals and history rows
echo
echo "transitions as the data grows (synchronous_commit off):"
printf '%-22s %14s\n' "deals in the table" "transitions/s"
printf '%-22s %14.0f\n' "$(bpsql -d $db -At -c 'SELECT count(*) FROM crm.deal')" "$move_off"
bpsql -d $db -q -c "SELECT count(*) FROM (SELECT crm.create_deal(c.counterparty_id, 'рост') FROM crm.contact c, generate_series(1, ${CRM_BENCH_GROWTH:-20000})) x" >/dev/null
read -r _ move_big _ <<<"$(measure off)"
printf '%-22s %14.0f\n' "$(bpsql -d $db -At -c 'SELECT count(*) FROM crm.deal')" "$move_big"

# proposal PDFs
set_sync $db on >/dev/null
pdf_deal() {  # lines -> deal id
  bpsql -d $db -At <<SQL | tail -1
SELECT crm.create_deal(c.counterparty_id, 'Насосная станция оборотного водоснабжения', equipment_type => 'pumps',
         application_area => 'водоподготовка', payment_terms => '50% предоплата', delivery_terms => 'самовывоз')
  FROM crm.contact c LIMIT 1 \gset
SELECT count(crm.add_deal_line(:create_deal, p.id, 2)) FROM crm.product p WHERE p.sku LIKE 'B-%' AND substr(p.sku, 3)::int <= $1;
SELECT :create_deal;
SQL
}
d3=$(pdf_deal 3)
d30=$(pdf_deal 30)
echo "SELECT length(crm.proposal_pdf(:deal));" >"$work/pdf.sql"
echo "SELECT count(*) FROM crm.print_header(:deal, 'proposal') h, crm.print_lines(:deal, 'proposal') l;" >"$work/data.sql"
echo
echo "proposal PDFs ($clients clients, ${bench_secs}s each):"
printf '%-10s %12s %10s %8s %12s\n' "lines" "form data/s" "PDFs/s" "ratio" "PDF size"
for d in "$d3:3" "$d30:30"; do
  id=${d%%:*}; n=${d##*:}
  data=$(tps $db "$work/data.sql" "$clients" "$bench_secs" -D deal="$id")
  pdf=$(tps $db "$work/pdf.sql" "$clients" "$bench_secs" -D deal="$id")
  size=$(bpsql -d $db -At -c "SELECT pg_size_pretty(length(crm.proposal_pdf($id))::bigint)")
  printf '%-10s %12.0f %10.1f %8s %12s\n' "$n" "$data" "$pdf" "$(ratio "$pdf" "$data")" "$size"
done

bpsql -d postgres -c "DROP DATABASE $db" >/dev/null
