#!/usr/bin/env bash
# R2: the same row-level security the pgTAP matrix (test/tap/rls.sql) proves
# with SET SESSION AUTHORIZATION, seen through real logins: each person
# connects over TCP as their own login role and counts what they can see.
set -euo pipefail
db=crm_rls_login
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  for r in rl_head rl_mgr1 rl_mgr2 rl_triage rl_mkt rl_bi; do
    q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $db"
q -d $db <<'SQL'
CREATE EXTENSION crm;
SELECT crm.hire('rl_head', 'Анна', 'alto', 'head');
SELECT crm.hire('rl_mgr1', 'Борис', 'alto', 'manager');
SELECT crm.hire('rl_mgr2', 'Вера', 'prom', 'manager');
SELECT crm.hire('rl_triage', 'Галя', 'management', 'triage');
SELECT crm.hire('rl_mkt', 'Дина', 'marketing', 'marketing');
CREATE ROLE rl_bi LOGIN IN ROLE crm_reader;
INSERT INTO crm.counterparty (kind, name, department_id, responsible_id)
SELECT 'client', n, d.id, e.id FROM (VALUES ('A1', 'alto', 'rl_mgr1'), ('A2', 'alto', NULL),
  ('P1', 'prom', 'rl_mgr2')) v(n, dep, resp)
  JOIN crm.department d ON d.code = v.dep LEFT JOIN crm.employee e ON e.role_name = v.resp;
INSERT INTO crm.counterparty (kind, name) VALUES ('lead', 'L1'), ('lead', 'L2');
SQL
# login role -> the names it must see
declare -A want=(
  [rl_mgr1]="A1"
  [rl_mgr2]="P1"
  [rl_head]="A1,A2"
  [rl_triage]="L1,L2"
  [rl_mkt]="A1,A2,L1,L2,P1"
  [rl_bi]="A1,A2,L1,L2,P1"
)
fail=0
for r in "${!want[@]}"; do
  got=$(psql -X -At -h 127.0.0.1 -U "$r" -d $db \
        -c "SELECT session_user || ':' || coalesce(string_agg(name, ',' ORDER BY name), '') FROM crm.counterparty")
  if [ "$got" = "$r:${want[$r]}" ]; then
    echo "ok   $got"
  else
    echo "FAIL $r saw '$got', wanted '${want[$r]}'"; fail=1
  fi
done
# a login in no crm role reaches nothing
q -d postgres -c "CREATE ROLE rl_nobody LOGIN" >/dev/null
if psql -X -At -h 127.0.0.1 -U rl_nobody -d $db -c "SELECT count(*) FROM crm.counterparty" 2>/dev/null; then
  echo "FAIL a login in no crm role read crm.counterparty"; fail=1
else
  echo "ok   rl_nobody refused"
fi
q -d postgres -c "DROP ROLE rl_nobody" >/dev/null
exit $fail
