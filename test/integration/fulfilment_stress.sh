#!/usr/bin/env bash
# R16 R18 R31: many processes place small orders against a known stock at the
# same time (pgbench, 8 clients), then ship while others keep ordering and the
# warehouse keeps receiving.  At the end:
#   - free stock is exactly zero after phase 1 (demand exceeds stock), and
#     what is reserved equals what was in stock (expired lots untouched);
#   - no lot is negative, none has more reserved than on hand;
#   - every order line is either fully reserved or the rest was sent to
#     production or a supplier (no unassigned quantity, no exception);
#   - the books balance: lot.reserved = its reservations, line.reserved_qty =
#     its reservations, on hand = the stock journal, shipped = shipment lines;
#   - no transaction failed and the server logged no deadlock.
# CRM_STRESS_CLIENTS (8) and CRM_STRESS_ORDERS (orders per client, 60) size it.
set -euo pipefail
clients=${CRM_STRESS_CLIENTS:-8}
per_client=${CRM_STRESS_ORDERS:-60}
db=crm_stress
pgbench="${CRM_TEST_BINDIR:-/usr/lib/postgresql/15/bin}/pgbench"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work=${CRM_TEST_WORK:-$(mktemp -d)}
log_before=$(wc -l <"$work/server.log" 2>/dev/null || echo 0)

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d $db <<'SQL'
CREATE EXTENSION crm;
INSERT INTO crm.warehouse (id, code, name) VALUES (1, 'stress', 'Stress warehouse');
INSERT INTO crm.counterparty (id, kind, name)
  SELECT i, 'client', 'Client ' || i FROM generate_series(1, 20) i;
INSERT INTO crm.counterparty (id, kind, name) VALUES (100, 'supplier', 'Supplier');
-- 101 bought (lots with day expiry), 102 made in house (no expiry),
-- 103 bought (month-only expiry, one lot expired), 104 bought (no expiry, FIFO)
INSERT INTO crm.product (id, sku, name, made_in_house) VALUES
  (101, 'ST-101', 'bought, expiring', false), (102, 'ST-102', 'made', true),
  (103, 'ST-103', 'bought, month-only expiry', false), (104, 'ST-104', 'bought, no expiry', false);
INSERT INTO crm.product_supplier (product_id, supplier_id) SELECT p, 100 FROM unnest(ARRAY[101, 103, 104]) p;
SELECT count(crm.receive_lot(1, 101, 7, 'A' || i, CURRENT_DATE + 30 + i)) FROM generate_series(1, 12) i;
SELECT count(crm.receive_lot(1, 102, 5, 'B' || i)) FROM generate_series(1, 10) i;
SELECT count(crm.receive_lot(1, 103, 9, 'C' || i, date_trunc('month', CURRENT_DATE + 40 * i)::date, 'month'))
  FROM generate_series(1, 6) i;
SELECT crm.receive_lot(1, 103, 50, 'C-EXPIRED', date_trunc('month', CURRENT_DATE - 40)::date, 'month');
SELECT count(crm.receive_lot(1, 104, 3, 'D' || i, NULL, NULL, now() - i * interval '1 hour')) FROM generate_series(1, 20) i;
SQL
stock=$(psql -d $db -At -c "SELECT sum(on_hand) FROM crm.lot WHERE alloc_key >= CURRENT_DATE")
echo "stock to allocate: $stock (plus 50 expired)"

cat >"$work/order.sql" <<'PGB'
\set c random(1, 20)
\set p1 random(101, 104)
\set p2 random(101, 104)
\set p3 random(101, 104)
\set q1 random(1, 4)
\set q2 random(1, 4)
\set q3 random(1, 4)
SELECT crm.place_order(:c, 1, ARRAY[:p1, :p2, :p3]::bigint[], ARRAY[:q1, :q2, :q3]::numeric[]);
PGB
echo "== phase 1: $clients clients x $per_client orders"
out=$("$pgbench" -n -f "$work/order.sql" -c "$clients" -j "$clients" -t "$per_client" $db 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E "processed|failed|tps" || true
processed=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
[ "$processed" = $((clients * per_client)) ] || { echo "only $processed of $((clients * per_client)) orders went through"; exit 1; }

check() {   # name, SQL returning one value, expected value
  local got
  got=$(psql -d $db -At -c "$2")
  if [ "$got" != "$3" ]; then echo "FAIL $1: got '$got', expected '$3'"; exit 1; fi
  echo "ok   $1: $got"
}
books() {
  check "no negative lot, reserved within on hand" \
    "SELECT count(*) FROM crm.lot WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand" 0
  check "lot reserved = its reservations" \
    "SELECT count(*) FROM crm.lot l WHERE l.reserved <> COALESCE((SELECT sum(quantity) FROM crm.reservation v WHERE v.lot_id = l.id), 0)" 0
  check "line reserved = its reservations" \
    "SELECT count(*) FROM crm.order_line ol WHERE ol.reserved_qty <> COALESCE((SELECT sum(quantity) FROM crm.reservation v WHERE v.order_line_id = ol.id), 0)" 0
  check "on hand = stock journal" \
    "SELECT count(*) FROM crm.lot l WHERE l.on_hand <> (SELECT sum(quantity) FROM crm.stock_move m WHERE m.lot_id = l.id)" 0
  check "every line fully reserved or sent to replenishment" \
    "SELECT count(*) FROM crm.order_line WHERE unassigned_qty <> 0 OR exception IS NOT NULL
        OR reserved_qty + shipped_qty + production_qty + supplier_qty <> quantity" 0
  check "production and supplier orders match what lines wait for" \
    "SELECT count(*) FROM crm.order_line ol WHERE ol.production_qty <> COALESCE((SELECT sum(quantity) FROM crm.production_order p WHERE p.order_line_id = ol.id AND p.status IN ('planned', 'in_progress')), 0)
        OR ol.supplier_qty <> COALESCE((SELECT sum(quantity - received_qty) FROM crm.supplier_order s WHERE s.order_line_id = ol.id AND s.status IN ('placed', 'partially_received')), 0)" 0
}
check "free stock after phase 1" "SELECT sum(on_hand - reserved) FROM crm.lot WHERE alloc_key >= CURRENT_DATE" 0.000
check "reserved = what was in stock" "SELECT sum(reserved) FROM crm.lot" "$stock"
check "the expired lot untouched" "SELECT reserved FROM crm.lot WHERE lot_number = 'C-EXPIRED'" 0.000
check "orders" "SELECT count(*) FROM crm.customer_order" $((clients * per_client))
books

echo "== phase 2: 4 shippers, 4 clients ordering, 1 receiver, at once"
for k in 0 1 2 3; do
  sed "s/:k/$k/" >"$work/ship-$k.sql" <<'SQL'
DO $$
DECLARE o bigint;
BEGIN
  FOR o IN SELECT id FROM crm.customer_order WHERE id % 4 = :k AND status = 'open' ORDER BY id LOOP
    IF EXISTS (SELECT FROM crm.order_line WHERE order_id = o AND reserved_qty > 0) THEN
      PERFORM crm.ship_order(o);
    END IF;
    COMMIT;
  END LOOP;
END $$;
SQL
  psql -d $db -f "$work/ship-$k.sql" >"$work/ship-$k.log" 2>&1 &
  echo $! >"$work/ship-$k.pid"
done
psql -d $db >"$work/receive.log" 2>&1 <<'SQL' &
DO $$
BEGIN
  FOR i IN 1 .. 40 LOOP
    PERFORM crm.receive_lot(1, 100 + 1 + i % 4, 2, 'R' || i, CASE WHEN i % 4 IN (0, 2) THEN CURRENT_DATE + 100 + i END);
    COMMIT;
  END LOOP;
END $$;
SQL
receiver=$!
out=$("$pgbench" -n -f "$work/order.sql" -c 4 -j 4 -t "$per_client" $db 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -E "processed|failed" || true
status=0
for k in 0 1 2 3; do wait "$(cat "$work/ship-$k.pid")" || { echo "shipper $k failed:"; cat "$work/ship-$k.log"; status=1; }; done
wait $receiver || { echo "receiver failed:"; cat "$work/receive.log"; status=1; }
[ $status -eq 0 ] || exit 1
check "orders" "SELECT count(*) FROM crm.customer_order" $((clients * per_client + 4 * per_client))
check "shipped = shipment lines" \
  "SELECT count(*) FROM crm.order_line ol WHERE ol.shipped_qty <> COALESCE((SELECT sum(sl.quantity) FROM crm.shipment_line sl JOIN crm.shipment s ON s.id = sl.shipment_id WHERE s.status = 'shipped' AND sl.order_line_id = ol.id), 0)" 0
check "shipped out of stock = received - on hand" \
  "SELECT (SELECT -sum(quantity) FROM crm.stock_move WHERE kind = 'shipment') = (SELECT sum(quantity) FROM crm.stock_move WHERE quantity > 0) - (SELECT sum(on_hand) FROM crm.lot)" t
books
shipped=$(psql -d $db -At -c "SELECT count(*) FROM crm.shipment WHERE status = 'shipped'")
echo "shipments: $shipped"
[ "$shipped" -gt 0 ] || { echo "nothing was shipped"; exit 1; }

if [ -f "$work/server.log" ] && tail -n +"$((log_before + 1))" "$work/server.log" | grep -q "deadlock detected"; then
  echo "FAIL the server logged a deadlock"; exit 1
fi
echo "ok   no deadlock in the server log"
psql -d postgres -c "DROP DATABASE $db"
