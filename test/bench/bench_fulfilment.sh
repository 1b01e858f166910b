#!/usr/bin/env bash
# test/bench/bench_fulfilment.sh -- R15 R16 R31: what placing an order costs.
#
#   1. a 5-line order (order + lines + split + FEFO allocation from stock),
#      crm.place_order (C), against a raw single-row INSERT into a plain
#      table, in the same run, with synchronous_commit on (durable) and off
#      (CPU-bound); and against a plain PL/pgSQL version of the same logic
#      (defined here, not in the extension: per line an exception block, the
#      lots locked one by one), the bar to beat.  Also the C split's careful
#      path alone (crm.fast_split = off: every line in its own
#      subtransaction, as before the fast path).
#      Goals: >= 40% of the raw INSERT durable, >= 15% CPU-bound.
#   2. allocation time with 100 and with 100,000 free lots of one product
#      (a 1-line order).  Goal: <= 1.5x slower at 100k.
#   3. 2 clients ordering different products against 1 client.
#      Goal: >= 1.6x the throughput.  The raw INSERT's own 1 -> 2 client
#      scaling in the same run, and the CPU the server backends got, show
#      what the machine allows.
#
# Besides transactions per second, each run measures the CPU time its
# server backends used per transaction (from /proc/<pid>/schedstat while
# pgbench runs): on a machine shared with other work, tps depends on who
# else runs, CPU per transaction much less.  In the CPU-bound case the CPU
# ratio is the cost ratio.
#
# Run by `make bench` (test/bench/run.sh), CRM_BENCH_ONLY=fulfilment;
# CRM_BENCH_SECONDS per run (10), CRM_BENCH_ROUNDS rounds (3): the
# workloads of a round run one after the other, and each keeps its best
# round (highest tps, lowest CPU per transaction).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
db=bench_fulfilment
secs=$bench_secs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
bpsql -d $db <<'SQL'
CREATE EXTENSION crm;
CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer bigint NOT NULL,
                        product bigint NOT NULL, quantity numeric(15, 3) NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO crm.warehouse (id, code, name) VALUES (1, 'bench', 'Bench warehouse');
INSERT INTO crm.counterparty (id, kind, name) SELECT i, 'client', 'Client ' || i FROM generate_series(1, 10) i;
INSERT INTO crm.counterparty (id, kind, name) VALUES (100, 'supplier', 'Supplier');
-- products 1..10: two sets of five (one per client in the scaling run);
-- 1001: 100 lots, 1002: 100,000 lots
INSERT INTO crm.product (id, sku, name, made_in_house)
  SELECT i, 'B-' || i, 'Bench product ' || i, i % 5 = 0 FROM generate_series(1, 10) i;
INSERT INTO crm.product (id, sku, name) VALUES (1001, 'B-100', '100 lots'), (1002, 'B-100K', '100k lots');
INSERT INTO crm.product_supplier (product_id, supplier_id) SELECT id, 100 FROM crm.product;
-- stock that does not run out during the run: 20 lots per product, FEFO
SELECT count(crm.receive_lot(1, p, 10000000, 'L' || p || '-' || i, CURRENT_DATE + 30 + i))
  FROM generate_series(1, 10) p, generate_series(1, 20) i;
SELECT count(crm.receive_lot(1, 1001, 1000000, 'H' || i, CURRENT_DATE + 10 + i)) FROM generate_series(1, 100) i;
-- 100k lots loaded in bulk (as an import would) with the journal that goes with them
INSERT INTO crm.lot (product_id, warehouse_id, lot_number, expiry, expiry_precision, on_hand, source)
  SELECT 1002, 1, 'K' || i, CURRENT_DATE + 10 + i % 3000, 'day', 1000000, 'import' FROM generate_series(1, 100000) i;
INSERT INTO crm.stock_move (lot_id, kind, quantity) SELECT id, 'import', on_hand FROM crm.lot WHERE product_id = 1002;

-- The same logic in plain PL/pgSQL: order, lines, split per line in product
-- order with an exception block, FEFO lots locked and reserved one by one,
-- the rest to production or the preferred supplier.
CREATE FUNCTION bench_place_order_plpgsql(customer bigint, warehouse integer, products bigint[], quantities numeric[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  o bigint;
  l record;
  lt record;
  need numeric;
  took numeric;
  got numeric;
  rest numeric;
  prod numeric;
  sup numeric;
  n integer;
BEGIN
  PERFORM 1 FROM crm.counterparty c WHERE c.id = customer;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'customer % does not exist', customer USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO crm.customer_order (counterparty_id, warehouse_id)
  SELECT customer, w.id FROM crm.warehouse w WHERE w.id = warehouse AND w.active RETURNING id INTO o;
  IF o IS NULL THEN
    RAISE EXCEPTION 'warehouse % does not exist or is inactive', warehouse USING ERRCODE = 'foreign_key_violation';
  END IF;
  INSERT INTO crm.order_line (order_id, line_no, product_id, quantity)
  SELECT o, u.ord, p.id, u.q FROM unnest(products, quantities) WITH ORDINALITY AS u(pr, q, ord)
    JOIN crm.product p ON p.id = u.pr AND p.active;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> cardinality(products) THEN
    RAISE EXCEPTION 'a product is missing or inactive' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  FOR l IN
    SELECT ol.id, ol.product_id, ol.quantity, p.blocked_reason, p.made_in_house, p.sku, p.production_days,
           GREATEST(COALESCE(p.min_remaining_shelf_days, 0),
             COALESCE((SELECT max(s.min_remaining_days) FROM crm.customer_shelf_life s
                        WHERE s.counterparty_id = customer AND (s.product_id = ol.product_id OR s.product_id IS NULL)), 0)) AS min_days
      FROM crm.order_line ol JOIN crm.product p ON p.id = ol.product_id
     WHERE ol.order_id = o ORDER BY ol.product_id, ol.id
  LOOP
    BEGIN
      IF l.blocked_reason IS NOT NULL THEN
        RAISE EXCEPTION 'product % is blocked for sale: %', l.sku, l.blocked_reason
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      need := l.quantity;
      got := 0;
      FOR lt IN
        SELECT x.id, x.on_hand - x.reserved AS free FROM crm.lot x
         WHERE x.product_id = l.product_id AND x.warehouse_id = warehouse AND x.on_hand > 0 AND x.reserved < x.on_hand
           AND x.alloc_key >= CURRENT_DATE + l.min_days
         ORDER BY x.alloc_key, x.received_at, x.id FOR NO KEY UPDATE
      LOOP
        took := LEAST(lt.free, need);
        UPDATE crm.lot x SET reserved = x.reserved + took WHERE x.id = lt.id;
        INSERT INTO crm.reservation AS r (order_line_id, lot_id, quantity) VALUES (l.id, lt.id, took)
        ON CONFLICT (order_line_id, lot_id) DO UPDATE SET quantity = r.quantity + EXCLUDED.quantity;
        got := got + took;
        need := need - took;
        EXIT WHEN need <= 0;
      END LOOP;
      rest := l.quantity - got;
      prod := 0;
      sup := 0;
      IF rest > 0 THEN
        IF l.made_in_house THEN
          INSERT INTO crm.production_order (order_line_id, product_id, warehouse_id, quantity, planned_start, planned_finish)
          VALUES (l.id, l.product_id, warehouse, rest, CURRENT_DATE, CURRENT_DATE + l.production_days);
          prod := rest;
        ELSE
          INSERT INTO crm.supplier_order (supplier_id, order_line_id, product_id, warehouse_id, quantity, unit_price, expected_on)
          SELECT s.supplier_id, l.id, s.product_id, warehouse, rest, s.price, CURRENT_DATE + s.lead_time_days
            FROM crm.product_supplier s WHERE s.product_id = l.product_id AND s.active
           ORDER BY s.priority, s.supplier_id LIMIT 1;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'no supplier is configured for product %', l.sku USING ERRCODE = 'object_not_in_prerequisite_state';
          END IF;
          sup := rest;
        END IF;
      END IF;
      UPDATE crm.order_line x SET reserved_qty = x.reserved_qty + got, production_qty = x.production_qty + prod,
                                  supplier_qty = x.supplier_qty + sup
       WHERE x.id = l.id;
    EXCEPTION WHEN OTHERS THEN
      IF SQLSTATE LIKE '40%' OR SQLSTATE LIKE '57%' OR SQLSTATE = '55P03' THEN
        RAISE;
      END IF;
      UPDATE crm.order_line x SET exception = SQLERRM, exception_sqlstate = SQLSTATE, exception_at = now() WHERE x.id = l.id;
    END;
  END LOOP;
  RETURN o;
END
$$;
VACUUM ANALYZE;
SQL

cat >"$work/raw.sql" <<'PGB'
INSERT INTO bench_raw (customer, product, quantity) VALUES (1, 1, 1);
PGB
cat >"$work/c.sql" <<'PGB'
SELECT crm.place_order(1, 1, ARRAY[1, 2, 3, 4, 5]::bigint[], ARRAY[1, 1, 1, 1, 1]::numeric[]);
PGB
cat >"$work/plpgsql.sql" <<'PGB'
SELECT bench_place_order_plpgsql(1, 1, ARRAY[1, 2, 3, 4, 5]::bigint[], ARRAY[1, 1, 1, 1, 1]::numeric[]);
PGB
cat >"$work/lots100.sql" <<'PGB'
SELECT crm.place_order(2, 1, ARRAY[1001]::bigint[], ARRAY[1]::numeric[]);
PGB
cat >"$work/lots100k.sql" <<'PGB'
SELECT crm.place_order(3, 1, ARRAY[1002]::bigint[], ARRAY[1]::numeric[]);
PGB
# client 1 orders products 1-5 as customer 4, client 2 products 6-10 as customer 5
cat >"$work/scale.sql" <<'PGB'
\set base (:client_id % 2) * 5
\set cust 4 + :client_id % 2
SELECT crm.place_order(:cust, 1, ARRAY[:base + 1, :base + 2, :base + 3, :base + 4, :base + 5]::bigint[],
                       ARRAY[1, 1, 1, 1, 1]::numeric[]);
PGB

vacuum() { bpsql -d $db -c "VACUUM ANALYZE" >/dev/null; }

# run KEY SCRIPT CLIENTS [PGOPTIONS]: one pgbench run of $secs seconds;
# keeps the best tps in t[KEY], the lowest backend CPU per transaction (us)
# in u[KEY] and the CPU the backends got (cores) in b[KEY].  The backends'
# CPU is sampled every 0.2 s from the moment all clients are connected to
# the last sample before they exit; CPU per transaction = CPU in that
# window / (tps x window).
declare -A t u b
run() {
  local key=$1 script=$2 clients=$3 opts=${4:-} out pids pg i p c0 c1 t0 t1 now cpu v tpsv
  out=$(mktemp)
  vacuum
  PGOPTIONS="$opts" pgbench -n -f "$script" -c "$clients" -j "$clients" -T "$secs" $db >"$out" 2>&1 &
  pg=$!
  pids=
  for i in $(seq 100); do
    pids=$(bpsql -At -d postgres -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'pgbench'")
    [ "$(echo "$pids" | grep -c .)" -ge "$clients" ] && break
    sleep 0.05
  done
  c0=; t0=; c1=; t1=
  while kill -0 $pg 2>/dev/null; do
    now=$(date +%s.%N)
    cpu=0
    for p in $pids; do
      v=$(cut -d' ' -f1 "/proc/$p/schedstat" 2>/dev/null) || { cpu=; break; }
      cpu=$((cpu + v))
    done
    [ -n "$cpu" ] || break
    if [ -z "$c0" ]; then c0=$cpu; t0=$now; else c1=$cpu; t1=$now; fi
    sleep 0.2
  done
  wait $pg || { cat "$out" >&2; rm -f "$out"; echo "bench_fulfilment: pgbench failed" >&2; exit 1; }
  tpsv=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -1)
  rm -f "$out"
  t[$key]=$(awk -v a="$tpsv" -v b="${t[$key]:-0}" 'BEGIN { print (a > b) ? a : b }')
  if [ -n "$c1" ]; then
    read -r v cpu < <(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tps="$tpsv" \
      'BEGIN { w = t1 - t0; printf "%.1f %.2f\n", (c1 - c0) / 1000 / (tps * w), (c1 - c0) / 1e9 / w }')
    if [ -z "${u[$key]:-}" ] || awk -v a="$v" -v b="${u[$key]}" 'BEGIN { exit !(a < b) }'; then
      u[$key]=$v
      b[$key]=$cpu
    fi
  fi
}

rounds=${CRM_BENCH_ROUNDS:-3}
echo "machine before: $(uptime | sed 's/.*load/load/'), $(nproc) cores"
for r in $(seq "$rounds"); do
  for sync in on off; do
    set_sync $db $sync
    for w in raw c plpgsql; do
      run "$w-$sync" "$work/$w.sql" 1
    done
    run "careful-$sync" "$work/c.sql" 1 "-c crm.fast_split=off"
  done
  set_sync $db off
  run lots100 "$work/lots100.sql" 1
  run lots100k "$work/lots100k.sql" 1
  run scale1 "$work/scale.sql" 1
  run scale2 "$work/scale.sql" 2
  run raw1 "$work/raw.sql" 1
  run raw2 "$work/raw.sql" 2
done
echo "machine after:  $(uptime | sed 's/.*load/load/')"

# the work was what it claims: every bench order was fully reserved from stock
bad=$(bpsql -d $db -At -c "SELECT count(*) FROM crm.order_line WHERE reserved_qty <> quantity OR exception IS NOT NULL")
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }
ms() { awk -v a="$1" 'BEGIN { if (a > 0) printf "%.3f", 1000 / a; else print "n/a" }'; }
f0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
row() { printf '  %-46s %9s %9s %9s %9s %10s\n' "$@"; }

echo
echo "placing a 5-line order (order + split + FEFO allocation), 1 client, best of $rounds rounds of ${secs}s:"
row "" "sync on" "" "sync off" "" "sync off"
row "" "tps" "vs raw" "tps" "vs raw" "CPU us/txn"
for w in raw c careful plpgsql; do
  case $w in
    raw) name="raw single-row INSERT (plain PostgreSQL)" ;;
    c) name="crm.place_order, 5 lines (C)" ;;
    careful) name="  its careful path alone (fast_split off)" ;;
    plpgsql) name="same logic in plain PL/pgSQL" ;;
  esac
  row "$name" "$(f0 "${t[$w-on]}")" "$(pct "${t[$w-on]}" "${t[raw-on]}")" "$(f0 "${t[$w-off]}")" \
    "$(pct "${t[$w-off]}" "${t[raw-off]}")" "${u[$w-off]:-n/a}"
done
row "goal for crm.place_order (vs raw INSERT)" "" ">= 40%" "" ">= 15%" ""
echo "  CPU-bound cost, raw INSERT / order: $(pct "${u[raw-off]:-0}" "${u[c-off]:-0}") of the raw INSERT's throughput per core"
echo "  C / PL/pgSQL: $(ratio "${t[c-on]}" "${t[plpgsql-on]}")x (sync on), $(ratio "${t[c-off]}" "${t[plpgsql-off]}")x (sync off), CPU $(ratio "${u[plpgsql-off]:-0}" "${u[c-off]:-0}")x less"
echo "  fast path / careful path: $(ratio "${t[c-off]}" "${t[careful-off]}")x the tps, CPU $(ratio "${u[careful-off]:-0}" "${u[c-off]:-0}")x less"
echo
echo "allocation as lots grow (1-line order, sync off):"
printf '  %-46s %9s %9s %10s\n' "" "tps" "ms/order" "CPU us/txn"
printf '  %-46s %9s %9s %10s\n' "100 free lots of the product" "$(f0 "${t[lots100]}")" "$(ms "${t[lots100]}")" "${u[lots100]:-n/a}"
printf '  %-46s %9s %9s %10s\n' "100,000 free lots of the product" "$(f0 "${t[lots100k]}")" "$(ms "${t[lots100k]}")" "${u[lots100k]:-n/a}"
printf '  %-46s %9s %9s %10s\n' "slowdown at 100k (goal <= 1.5x)" "$(ratio "${t[lots100]}" "${t[lots100k]}")x" "" "$(ratio "${u[lots100k]:-0}" "${u[lots100]:-0}")x"
echo
echo "clients on different products (sync off; $(nproc) cores shared by the backends, pgbench and anything else running):"
printf '  %-32s %9s %9s %8s %11s %11s %11s\n' "" "1 client" "2 clients" "scaling" "CPU us/txn" "CPU us/txn" "backends"
printf '  %-32s %9s %9s %8s %11s %11s %11s\n' "" "tps" "tps" "" "1 client" "2 clients" "got cores"
printf '  %-32s %9s %9s %8s %11s %11s %11s\n' "crm.place_order (goal >= 1.6x)" "$(f0 "${t[scale1]}")" "$(f0 "${t[scale2]}")" \
  "$(ratio "${t[scale2]}" "${t[scale1]}")x" "${u[scale1]:-n/a}" "${u[scale2]:-n/a}" "${b[scale1]:-?} -> ${b[scale2]:-?}"
printf '  %-32s %9s %9s %8s %11s %11s %11s\n' "raw single-row INSERT" "$(f0 "${t[raw1]}")" "$(f0 "${t[raw2]}")" \
  "$(ratio "${t[raw2]}" "${t[raw1]}")x" "${u[raw1]:-n/a}" "${u[raw2]:-n/a}" "${b[raw1]:-?} -> ${b[raw2]:-?}"
echo "  (scaling is bounded by the cores the backends get: CPU per order that stays flat from 1 to 2 clients"
echo "   means the clients do not wait for each other; more cores, not less work, would raise it)"
echo
if [ "$bad" != 0 ]; then
  echo "bench_fulfilment: $bad order lines were not fully reserved: the numbers above are not of the claimed work" >&2
  exit 1
fi
bpsql -d postgres -c "DROP DATABASE $db"
