#!/usr/bin/env bash
# R5: GMime and glib allocate with malloc, outside PostgreSQL's memory
# contexts; intake_mime.c releases every GMime object, stream and iconv
# descriptor itself, on errors too (PG_FINALLY).  A backend reads the
# fixtures -- with the 2 MB attachment, nested and broken MIME, and a
# message refused for its unknown charset, i.e. through the error path --
# hundreds of times, and its resident memory must stay flat.
set -euo pipefail
top=${CRM_TEST_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
db=crm_intake_memory
psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -d $db -c "CREATE EXTENSION crm"

# read by the server: the copy it can read (test/lib/cluster.sh)
mail=${CRM_TEST_SRC:-$top}/test/fixtures/mail
out=$(psql -d $db -At <<SQL
CREATE TEMP TABLE m AS
  SELECT f, pg_read_binary_file('$mail/' || f) AS raw
    FROM unnest(ARRAY['18_handwritten_huge_attachment.eml', '25_nested_related_inline_image.eml',
                      '21_broken_multipart_no_closing_boundary.eml', '30_raw_8bit_headers_cp1251.eml',
                      '01_jivo_chat_ru.eml', '90_refused_unknown_charset.eml']) f;
CREATE FUNCTION pg_temp.rounds(n int) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE
  r record;
  errors int := 0;
BEGIN
  FOR i IN 1..n LOOP
    FOR r IN SELECT raw FROM m LOOP
      BEGIN
        PERFORM crm.parse_email(r.raw);
      EXCEPTION WHEN invalid_parameter_value THEN
        errors := errors + 1;
      END;
    END LOOP;
  END LOOP;
  RETURN errors;
END \$\$;
SELECT pg_backend_pid() AS pid \gset
\setenv BACKEND :pid
SELECT pg_temp.rounds(30) AS warmup_errors;
\! grep VmRSS /proc/\$BACKEND/status | awk '{print "rss_before", \$2}'
SELECT pg_temp.rounds(300) AS errors;
\! grep VmRSS /proc/\$BACKEND/status | awk '{print "rss_after", \$2}'
SQL
)
echo "$out"
before=$(echo "$out" | awk '/^rss_before/{print $2}')
after=$(echo "$out" | awk '/^rss_after/{print $2}')
errors=$(echo "$out" | grep -xE '[0-9]+' | tail -1)
[[ "$before" =~ ^[0-9]+$ && "$after" =~ ^[0-9]+$ ]] || { echo "could not read the backend's resident memory"; exit 1; }
[ "$errors" = 300 ] || { echo "expected 300 refusals (unknown charset), got $errors"; exit 1; }
# 300 rounds read 600 MB of attachments: a leak of any of it would show
growth=$((after - before))
echo "resident memory: ${before} kB -> ${after} kB (+${growth} kB over 1800 messages, 300 of them refused)"
[ "$growth" -lt 20480 ] || { echo "the backend grew by ${growth} kB: GMime memory is leaking"; exit 1; }
