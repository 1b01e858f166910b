#!/usr/bin/env bash
# test/bench/bench_intake.sh -- how fast the intake is (R4-R6), against plain
# PostgreSQL doing the minimal equivalent work, in one run on one cluster:
#
#   raw call      one INSERT of the call into a table with a unique text key
#   C known       crm.ingest_call, a number of a known client: matched, the
#                 call appended to the history, the responsible manager told
#   C new         crm.ingest_call, a new number: a lead, contact, phone,
#                 inquiry, the call, the head of sales and triage told
#   PL known/new  the same logic as plain PL/pgSQL (bench_intake_plpgsql.sql)
#   floor known   the two INSERTs a known call cannot do without (the
#                 interaction, the notification: same tables, their keys,
#                 checks and triggers), as one plain SQL statement with the
#                 ids given -- what any implementation pays at least
#   raw mail      one INSERT of the same 20 KB message bytes, unique key
#   C mail        crm.ingest_email of that 20 KB message (multipart text+HTML,
#                 Russian, from a known client: read, template, matched,
#                 stored raw, manager told)
#
# with 10k and 1M existing contacts, synchronous_commit on (durable) and off
# (CPU-bound).  Goals (issue 3): durable known >= 70% of raw, new >= 65%;
# CPU-bound >= 55% / >= 45%; e-mail >= 25%; at most 1.3x slower at 1M than
# at 10k.  Run: make bench CRM_BENCH_ONLY=intake   (CRM_BENCH_SECONDS, default
# 10; CRM_BENCH_CLIENTS, default 1; CRM_BENCH_SMALL / CRM_BENCH_LARGE, the
# contact counts, default 10000 / 1000000; CRM_BENCH_REPEAT, default 2: each
# figure is the best of that many runs, the runs of a row interleaved, so
# that a burst of other work on the machine does not decide a ratio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
db=bench_intake
clients=${CRM_BENCH_CLIENTS:-1}
repeat=${CRM_BENCH_REPEAT:-2}
small=${CRM_BENCH_SMALL:-10000}
large=${CRM_BENCH_LARGE:-1000000}
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  for r in bench_head bench_mgr bench_triage; do
    bpsql -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

bpsql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
bpsql -d $db >/dev/null <<'SQL'
CREATE EXTENSION crm;
SELECT crm.hire('bench_head', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('bench_mgr', 'Борис Петров', 'alto', 'manager');
SELECT crm.hire('bench_triage', 'Ольга Морозова', 'management', 'triage');
-- the recommended set-up: one head of sales hears of new leads, triage too
INSERT INTO crm.intake_settings (head_of_sales_id) SELECT id FROM crm.employee WHERE role_name = 'bench_head';
INSERT INTO crm.own_phone (number) VALUES ('+7 495 100-00-00');
INSERT INTO crm.own_domain (domain) VALUES ('pumpmash.example');

-- plain PostgreSQL: the same row, a unique text key
CREATE TABLE bench_raw (k text PRIMARY KEY, caller text, called text, started_at timestamptz);
CREATE TABLE bench_raw_mail (k text PRIMARY KEY, raw bytea);
CREATE SEQUENCE bench_call;
CREATE SEQUENCE bench_new;

-- existing clients up to n, each with a contact and a phone +7916nnnnnnn
CREATE FUNCTION bench_populate(n integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  have integer := COALESCE((SELECT max(note::integer) FROM crm.counterparty WHERE kind = 'client' AND note ~ '^[0-9]+$'), 0);
  mark bigint := COALESCE((SELECT max(id) FROM crm.counterparty), 0);
  dep integer := (SELECT id FROM crm.department WHERE code = 'alto');
  mgr integer := (SELECT id FROM crm.employee WHERE role_name = 'bench_mgr');
BEGIN
  INSERT INTO crm.counterparty (kind, name, department_id, responsible_id, note)
  SELECT 'client', 'Клиент ' || g, dep, mgr, g::text FROM generate_series(have + 1, n) g;
  INSERT INTO crm.contact (counterparty_id, full_name)
  SELECT id, 'Контакт ' || note FROM crm.counterparty WHERE id > mark;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)
  SELECT ct.id, c.id, 'phone', '+7916' || lpad(c.note, 7, '0'), true
    FROM crm.counterparty c JOIN crm.contact ct ON ct.counterparty_id = c.id WHERE c.id > mark;
END $$;

-- a 20 KB message from client 1: multipart, plain and HTML, Russian
CREATE TABLE bench_msg (msg text);
SQL
bpsql -d $db -f "$here/bench_intake_plpgsql.sql" >/dev/null

load() {   # contacts
  local t0=$SECONDS
  set_sync $db off >/dev/null
  bpsql -d $db -c "SELECT bench_populate($1)" >/dev/null
  bpsql -d $db -c "VACUUM ANALYZE" >/dev/null
  echo "   loaded $1 contacts in $((SECONDS - t0)) s"
}

bpsql -d $db >/dev/null <<'SQL'
SELECT bench_populate(1);
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT ct.id, ct.counterparty_id, 'email', 'zakupki@client1.example'
  FROM crm.contact ct JOIN crm.counterparty c ON c.id = ct.counterparty_id WHERE c.note = '1';
INSERT INTO bench_msg
SELECT 'From: =?UTF-8?B?0JDQvdC00YDQtdC5INCR0LXQu9C+0LI=?= <zakupki@client1.example>' || E'\r\n' ||
       'To: zakaz@pumpmash.example' || E'\r\n' ||
       'Subject: =?UTF-8?B?UkU6INCa0J8g0L3QsCDQvdCw0YHQvtGB0Ysg0KbQndChIDM4LTQ0?=' || E'\r\n' ||
       'Date: Mon, 20 May 2024 10:15:42 +0300' || E'\r\n' ||
       'Message-ID: <bench-@@ID@@@client1.example>' || E'\r\n' ||
       'MIME-Version: 1.0' || E'\r\n' ||
       'Content-Type: multipart/alternative; boundary="b1"' || E'\r\n\r\n' ||
       '--b1' || E'\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' ||
       'Борис, добрый день!' || E'\r\n\r\n' ||
       repeat('Подтверждаем потребность в насосах ЦНС 38-44 для станции второго подъёма, просим уточнить сроки. ' || E'\r\n', 45) ||
       E'\r\nАндрей Белов\r\nТел.: +7 916 000-00-01\r\n\r\n' ||
       '--b1' || E'\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' ||
       '<html><body><p>Борис, добрый день!</p>' ||
       repeat('<p>Подтверждаем потребность в насосах ЦНС 38-44 для станции второго подъёма, просим уточнить сроки.</p>' || E'\r\n', 45) ||
       '<p>Андрей Белов<br>Тел.: +7 916 000-00-01</p></body></html>' || E'\r\n--b1--\r\n';
SQL
msg_bytes=$(bpsql -d $db -At -c "SELECT octet_length(convert_to(msg, 'UTF8')) FROM bench_msg")

cat >"$work/raw_call.sql" <<'EOF'
\set n random(1, :contacts)
INSERT INTO bench_raw VALUES ('call:' || nextval('bench_call'), '+7916' || lpad(:n::text, 7, '0'), '+74951000000', now());
EOF
cat >"$work/floor_known.sql" <<'EOF'
\set n random(2, :small)
WITH ix AS (
  INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key, party, caller, called, counterparty_id, contact_id)
  VALUES ('phone', 'pbx', 'in', now(), 'call:' || nextval('bench_call'), '+7916' || lpad(:n::text, 7, '0'), '+7916' || lpad(:n::text, 7, '0'), '+74951000000', :n, :n)
  RETURNING id)
INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)
SELECT :mgr, 'counterparty_request', 'Новое обращение', jsonb_build_object('interaction', ix.id), :n FROM ix;
EOF
cat >"$work/c_known.sql" <<'EOF'
\set n random(1, :contacts)
SELECT crm.ingest_call(linkedid => 'b' || nextval('bench_call'), caller => '+7916' || lpad(:n::text, 7, '0'), called => '+74951000000', started_at => now(), direction => 'in');
EOF
cat >"$work/c_new.sql" <<'EOF'
SELECT crm.ingest_call(linkedid => 'b' || nextval('bench_call'), caller => '+7903' || lpad(nextval('bench_new')::text, 7, '0'), called => '+74951000000', started_at => now(), direction => 'in');
EOF
sed 's/crm\.ingest_call/bench_plpgsql.ingest_call/' "$work/c_known.sql" >"$work/pl_known.sql"
sed 's/crm\.ingest_call/bench_plpgsql.ingest_call/' "$work/c_new.sql" >"$work/pl_new.sql"
cat >"$work/raw_mail.sql" <<'EOF'
WITH s AS (SELECT nextval('bench_call')::text AS id)
INSERT INTO bench_raw_mail SELECT 'email:' || s.id, convert_to(replace(m.msg, '@@ID@@', s.id), 'UTF8') FROM s, bench_msg m;
EOF
cat >"$work/c_mail.sql" <<'EOF'
WITH s AS (SELECT nextval('bench_call')::text AS id)
SELECT crm.ingest_email(convert_to(replace(m.msg, '@@ID@@', s.id), 'UTF8')) FROM s, bench_msg m;
EOF

# every script must work before it is timed
for s in c_known c_new pl_known pl_new c_mail; do
  pgbench -n -f "$work/$s.sql" -D contacts=1 -t 1 -M prepared $db >/dev/null 2>&1 ||
    { pgbench -n -f "$work/$s.sql" -D contacts=1 -t 1 -M prepared $db; exit 1; }
done

mgr=$(bpsql -d $db -At -c "SELECT id FROM crm.employee WHERE role_name = 'bench_mgr'")
run() {   # script contacts
  tps $db "$work/$1.sql" "$clients" "$bench_secs" -M prepared -D contacts="$2" -D small="$small" -D mgr="$mgr"
}

declare -A r
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }
scripts="raw_call floor_known c_known c_new pl_known pl_new raw_mail c_mail"
for n in "$small" "$large"; do
  load "$n"
  for sync in on off; do
    set_sync $db $sync >/dev/null
    bpsql -d $db -c "CHECKPOINT" >/dev/null
    for s in $scripts; do r[$n,$sync,$s]=0; done
    for ((i = 1; i <= repeat; i++)); do
      for s in $scripts; do
        r[$n,$sync,$s]=$(best "${r[$n,$sync,$s]}" "$(run $s "$n")")
      done
    done
    echo "   measured: $n contacts, synchronous_commit=$sync"
  done
done

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
echo
echo "crm.ingest_call / ingest_email: TPS with $clients client(s), best of $repeat x ${bench_secs}s, pgbench -M prepared; e-mail $msg_bytes bytes"
printf '%-8s %-4s|%8s %8s %8s %8s %8s %8s|%6s %6s %6s|%6s %6s|%8s %8s %5s\n' \
  contacts sync raw_call floor_kn C_known C_new PL_known PL_new known new floor C/PL_k C/PL_n raw_mail C_mail mail
for n in "$small" "$large"; do
  for sync in on off; do
    raw=${r[$n,$sync,raw_call]}; fl=${r[$n,$sync,floor_known]}; k=${r[$n,$sync,c_known]}; nw=${r[$n,$sync,c_new]}
    pk=${r[$n,$sync,pl_known]}; pn=${r[$n,$sync,pl_new]}; rm=${r[$n,$sync,raw_mail]}; cm=${r[$n,$sync,c_mail]}
    printf '%-8s %-4s|%8.0f %8.0f %8.0f %8.0f %8.0f %8.0f|%6s %6s %6s|%6s %6s|%8.0f %8.0f %5s\n' \
      "$n" "$sync" "$raw" "$fl" "$k" "$nw" "$pk" "$pn" "$(pct "$k" "$raw")" "$(pct "$nw" "$raw")" "$(pct "$fl" "$raw")" \
      "$(ratio "$k" "$pk")" "$(ratio "$nw" "$pn")" "$rm" "$cm" "$(pct "$cm" "$rm")"
  done
done
echo "known, new, floor, mail: TPS as a share of the raw INSERT's (goals: sync on known 70% new 65%;"
echo "sync off known 55% new 45%; mail 25%).  C/PL: C against the plain PL/pgSQL version (x)."
echo
echo "cost as the contacts grow: TPS at $small / TPS at $large (goal: at most 1.30)"
for sync in on off; do
  printf '  sync=%-3s  known %s  new %s  mail %s  (raw call %s, PL known %s)\n' "$sync" \
    "$(ratio "${r[$small,$sync,c_known]}" "${r[$large,$sync,c_known]}")" \
    "$(ratio "${r[$small,$sync,c_new]}" "${r[$large,$sync,c_new]}")" \
    "$(ratio "${r[$small,$sync,c_mail]}" "${r[$large,$sync,c_mail]}")" \
    "$(ratio "${r[$small,$sync,raw_call]}" "${r[$large,$sync,raw_call]}")" \
    "$(ratio "${r[$small,$sync,pl_known]}" "${r[$large,$sync,pl_known]}")"
done
