#!/usr/bin/env bash
# R27 R28: the exports read back as a user's spreadsheet program reads them.
# A segment of 1500 contacts (Cyrillic, quotes, commas, a formula-looking
# name, several phones; most agreed to be mailed, R26 -- MailChimp's layout
# takes only those) is exported by a marketing employee in both layouts
# as xlsx and CSV; LibreOffice (headless, its own profile) converts each xlsx
# to CSV, and every file must equal crm.segment_members() row for row.
# Then a scheduled export is produced by pg_cron running the command of the
# crm.job row, and its file in crm.export_file equals the segment too.
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
work=${CRM_TEST_WORK:-$(mktemp -d)}/export_xlsx
db=crm_export_test
rm -rf "$work"
mkdir -p "$work/lo" "$work/out"
chmod 777 "$work"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  psql -d crm_cron -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'crm-export-test'" >/dev/null 2>&1 || true
  psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS export_test_mkt" \
    -c "DROP ROLE IF EXISTS export_test_mgr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
command -v soffice >/dev/null || { echo "LibreOffice (soffice) is not installed"; exit 1; }

psql -d postgres -c "CREATE DATABASE $db"
psql -d "$db" <<'SQL'
CREATE EXTENSION crm;
SELECT crm.hire('export_test_mkt', 'Зоя Маркетинг', 'marketing', 'marketing');
SELECT crm.hire('export_test_mgr', 'Борис Петров', 'alto', 'manager');
INSERT INTO crm.counterparty (kind, name, region, department_id, responsible_id)
SELECT (ARRAY['client', 'lead', 'partner'])[1 + g % 3],
       CASE g WHEN 1 THEN 'ООО «Ромашка», филиал "Север"' WHEN 2 THEN '=СУММ(A1:A9)' WHEN 3 THEN 'Ёлка & Co'
              ELSE 'Компания №' || g END,
       (ARRAY['Москва', 'Татарстан', 'Санкт-Петербург'])[1 + g % 3],
       (SELECT id FROM crm.department WHERE code = 'alto'), (SELECT id FROM crm.employee WHERE role_name = 'export_test_mgr')
  FROM generate_series(1, 1500) g;
INSERT INTO crm.contact (counterparty_id, full_name, position)
SELECT id, (ARRAY['Иванов Иван Иванович', 'Анна Смирнова', 'Ким Юлия', 'Ёжиков Пётр'])[1 + id % 4] || ' ' || id,
       CASE WHEN id % 7 = 0 THEN 'инженер, "главный"' END
  FROM crm.counterparty;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'email', 'user' || id || '@пример.example' FROM crm.contact WHERE id % 5 <> 0;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'phone', '8 916 ' || lpad(id::text, 7, '0') FROM crm.contact WHERE id % 3 <> 0;
INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)
SELECT id, counterparty_id, 'phone', '8 (495) ' || lpad(id::text, 7, '0') || ' доб. ' || id FROM crm.contact WHERE id % 4 = 0;
UPDATE crm.contact SET mailing_consent = true WHERE id % 7 <> 6;
INSERT INTO crm.task (kind, title, assignee_id, counterparty_id, done_at, outcome)
SELECT 'call_client', 'Звонок', (SELECT id FROM crm.employee WHERE role_name = 'export_test_mgr'), id,
       ('2024-11-0' || (1 + id % 9) || ' 12:00+03')::timestamptz, 'ok'
  FROM crm.counterparty WHERE id % 10 = 0;
SELECT count(crm.tag(id, 'выставка-2024')) FROM crm.counterparty WHERE id % 2 = 0;
SELECT count(crm.tag(id, 'VIP')) FROM crm.counterparty WHERE id % 6 = 0;
INSERT INTO crm.segment (name, kinds) VALUES ('Экспорт-тест', '{client,lead,partner}');
SQL

# what the segment says, as CSV (the expected files): python reads and writes
# both sides, so that quoting differences do not matter, only values
psql -d "$db" -c "\\copy (SELECT m.email, m.first_name, m.last_name, m.company, m.phone, m.tags FROM crm.segment_members('Экспорт-тест') WITH ORDINALITY m WHERE m.email IS NOT NULL AND m.mailing_consent ORDER BY m.ordinality) TO '$work/mailchimp.expected.csv' WITH (FORMAT csv)"
psql -d "$db" -c "\\copy (SELECT m.company, m.contact_name, m.position, m.phones, m.email, m.region, m.responsible, to_char(m.last_contact_at, 'DD.MM.YYYY') FROM crm.segment_members('Экспорт-тест') WITH ORDINALITY m WHERE m.phones IS NOT NULL ORDER BY m.ordinality) TO '$work/phone.expected.csv' WITH (FORMAT csv)"

# the exports, made by marketing
for layout in mailchimp phone; do
  for format in xlsx csv; do
    psql -d "$db" -At -c "SET ROLE export_test_mkt" \
      -c "SELECT encode(crm.export_segment('Экспорт-тест', '$layout', '$format'), 'base64')" |
      base64 -d >"$work/$layout.$format"
  done
done
# an xlsx file is a ZIP archive: it starts with "PK\3\4"
for f in "$work/mailchimp.xlsx" "$work/phone.xlsx"; do
  [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 504b0304 ] || { echo "$f is not a ZIP archive"; exit 1; }
done

# LibreOffice reads the workbooks and writes them as UTF-8 CSV (44 = comma,
# 34 = quote, 76 = UTF-8), with its own profile in the scratch directory
export HOME=$work
timeout 180 soffice --headless --norestore -env:UserInstallation="file://$work/lo" \
  --convert-to 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false' \
  --outdir "$work/out" "$work/mailchimp.xlsx" "$work/phone.xlsx" >"$work/soffice.log" 2>&1 ||
  { cat "$work/soffice.log"; exit 1; }

python3 - "$work" <<'PY'
import csv, sys
w = sys.argv[1]
def rows(path, header):
    with open(path, newline='', encoding='utf-8') as f:
        r = [row for row in csv.reader(f)]
    if header:
        r = r[1:]
    # a spreadsheet shows an empty cell as nothing; trailing empty cells vanish
    return [[c for c in row] + [''] * 0 for row in r]
def norm(r, n):
    return [row + [''] * (n - len(row)) for row in r]
fail = False
for layout, n, headers in (('mailchimp', 6, ['Email Address', 'First Name', 'Last Name', 'Company', 'Phone Number', 'Tags']),
                          ('phone', 8, ['Компания', 'Контактное лицо', 'Должность', 'Телефоны', 'E-mail', 'Регион',
                                        'Ответственный менеджер', 'Последний контакт'])):
    expected = norm(rows(f'{w}/{layout}.expected.csv', False), n)
    # the segment may hold a value a spreadsheet would take for a formula: the
    # export writes it with a leading apostrophe in CSV, as a string in xlsx
    for kind, path in (('xlsx (read by LibreOffice)', f'{w}/out/{layout}.csv'), ('csv', f'{w}/{layout}.csv')):
        with open(path, newline='', encoding='utf-8') as f:
            got = [row for row in csv.reader(f)]
        if got[0] != headers:
            print(f'FAIL {layout} {kind}: header {got[0]}'); fail = True
        got = norm(got[1:], n)
        if kind == 'csv':
            got = [[c[1:] if c.startswith("'") and c[1:2] in ('=', '+', '-', '@') else c for c in row] for row in got]
            if layout == 'phone':   # CSV writes dates as ISO 8601, the sheet shows them dd.mm.yyyy
                got = [row[:7] + ['.'.join(reversed(row[7].split('-'))) if row[7] else ''] for row in got]
        if len(got) != len(expected):
            print(f'FAIL {layout} {kind}: {len(got)} rows, the segment has {len(expected)}'); fail = True
        bad = [(i, e, g) for i, (e, g) in enumerate(zip(expected, got)) if e != g]
        for i, e, g in bad[:5]:
            print(f'FAIL {layout} {kind} row {i + 2}:\n  segment {e}\n  file    {g}'); fail = True
        if not bad and len(got) == len(expected):
            print(f'ok   {layout} {kind}: {len(got)} rows equal to the segment')
    # the special values made it through
    text = open(f'{w}/out/{layout}.csv', encoding='utf-8').read()
    for probe in ('ООО «Ромашка», филиал ""Север""',) + (('Ёлка & Co',) if layout == 'mailchimp' else ()):
        if probe not in text:
            print(f'FAIL {layout}: {probe!r} not in the spreadsheet\'s CSV'); fail = True
    if layout == 'mailchimp' and '=СУММ(A1:A9)' not in text:
        print('FAIL: the formula-looking name was not kept as text'); fail = True
sys.exit(1 if fail else 0)
PY

# R28: a periodic export, produced by pg_cron running crm.job's command in
# this database, with the rights of the marketer who asked for it
cmd=$(psql -d "$db" -At -c "SELECT command FROM crm.job WHERE name = 'marketing_exports'")
[ "$cmd" = "CALL crm.run_export_schedules()" ] || { echo "unexpected job command: $cmd"; exit 1; }
psql -d "$db" -c "SET ROLE export_test_mkt" -c "SELECT crm.schedule_export('Экспорт-тест', 'phone', 'xlsx', '1 day')" \
  -c "SELECT crm.schedule_export('Экспорт-тест', 'mailchimp', 'csv')" >/dev/null
psql -d crm_cron -c "SELECT cron.schedule_in_database('crm-export-test', '* * * * *', \$\$$cmd\$\$, '$db')" >/dev/null
echo "waiting for pg_cron (at most 100 s)"
for i in $(seq 1 100); do
  n=$(psql -d "$db" -At -c "SELECT count(*) FROM crm.export_file")
  [ "$n" -ge 2 ] && break
  sleep 1
done
psql -d crm_cron -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'crm-export-test'" >/dev/null
psql -d "$db" -c "SELECT f.file_name, f.layout, f.format, f.row_count, length(f.content) AS bytes, e.role_name AS requested_by
                    FROM crm.export_file f JOIN crm.employee e ON e.id = f.requested_by ORDER BY f.id"
psql -d "$db" -c "SELECT layout, format, every, active, failures, last_error, next_run_at > now() AS next_run_ahead
                    FROM crm.export_schedule ORDER BY id"
[ "$n" -ge 2 ] || { psql -d crm_cron -c "SELECT status, return_message FROM cron.job_run_details ORDER BY runid DESC LIMIT 3"; echo "pg_cron produced $n files"; exit 1; }
ok=$(psql -d "$db" -At -c "
  SELECT bool_and(CASE f.layout WHEN 'phone' THEN f.row_count = (SELECT count(*) FROM crm.segment_members('Экспорт-тест') m WHERE m.phones IS NOT NULL)
                                ELSE f.row_count = (SELECT count(*) FROM crm.segment_members('Экспорт-тест') m WHERE m.email IS NOT NULL AND m.mailing_consent) END)
         AND bool_and(f.requested_by = (SELECT id FROM crm.employee WHERE role_name = 'export_test_mkt'))
         AND (SELECT NOT active FROM crm.export_schedule WHERE every IS NULL)
         AND (SELECT active AND next_run_at > now() FROM crm.export_schedule WHERE every IS NOT NULL)
    FROM crm.export_file f")
[ "$ok" = t ] || { echo "the scheduled files do not match the segment"; exit 1; }
psql -d "$db" -At -c "SELECT encode(content, 'base64') FROM crm.export_file WHERE format = 'csv'" | base64 -d >"$work/scheduled.csv"
cmp "$work/scheduled.csv" "$work/mailchimp.csv" || { echo "the scheduled CSV differs from the one marketing made by hand"; exit 1; }
echo "pg_cron produced the scheduled exports, equal to the segment"
