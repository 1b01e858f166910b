-- intake_rules: the CHECK rules of crm.interaction and crm.inquiry (R4, R6,
-- R8, R9) are one C call each (crm.interaction_row_valid,
-- crm.inquiry_row_valid: PostgreSQL re-plans a CHECK expression for every
-- INSERT, see src/intake.sql).  This proves that each function is exactly
-- the SQL expression it replaces -- same true / false / NULL on every
-- combination of edge values -- and that the tables refuse what the rules
-- refuse (23514) and change nothing.  Everything is rolled back.
\pset null '(null)'
BEGIN;

-- crm.interaction: every combination of the edge values of the six columns
CREATE TEMP TABLE ix_grid AS
SELECT s.source, d.duration, b.billsec, o.occurred_at, a.answered_at, e.ended_at,
       (pg_catalog.btrim(s.source) <> '' AND d.duration >= 0 AND b.billsec >= 0
        AND b.billsec <= d.duration AND a.answered_at >= o.occurred_at
        AND e.ended_at >= o.occurred_at AND e.ended_at >= a.answered_at) AS by_sql,
       crm.interaction_row_valid(s.source, d.duration, b.billsec, o.occurred_at, a.answered_at,
                                 e.ended_at) AS by_c
  FROM unnest(ARRAY[NULL, '', '   ', E'\t', ' pbx ']) s(source),
       unnest(ARRAY[NULL, -1, 0, 10]) d(duration),
       unnest(ARRAY[NULL, -1, 0, 5, 10, 11]) b(billsec),
       unnest(ARRAY[NULL, '2024-05-20 10:00:00+03']::timestamptz[]) o(occurred_at),
       unnest(ARRAY[NULL, '2024-05-20 09:59:59+03', '2024-05-20 10:00:00+03',
                    '2024-05-20 10:00:05+03', 'infinity']::timestamptz[]) a(answered_at),
       unnest(ARRAY[NULL, '-infinity', '2024-05-20 09:59:59+03', '2024-05-20 10:00:03+03',
                    '2024-05-20 10:00:10+03']::timestamptz[]) e(ended_at);
-- the grid reaches all three outcomes, and C and SQL never differ
SELECT count(*) AS combinations, count(*) FILTER (WHERE by_sql) AS "true",
       count(*) FILTER (WHERE NOT by_sql) AS "false", count(*) FILTER (WHERE by_sql IS NULL) AS "null",
       count(*) FILTER (WHERE by_c IS DISTINCT FROM by_sql) AS differ
  FROM ix_grid;

-- crm.inquiry: every combination of the edge values of the eight columns
CREATE TEMP TABLE iq_grid AS
SELECT s.source, st.status, r.close_reason, d.department_id, p.responsible_id, g.genuine, c.conflict, i.ids,
       (pg_catalog.btrim(s.source) <> ''
        AND st.status IN ('new', 'triaged', 'assigned', 'qualified', 'closed')
        AND (st.status <> 'closed' OR pg_catalog.btrim(r.close_reason) <> '')
        AND (st.status NOT IN ('triaged', 'assigned', 'qualified') OR d.department_id IS NOT NULL)
        AND (st.status NOT IN ('assigned', 'qualified') OR p.responsible_id IS NOT NULL)
        AND ((st.status = 'qualified') = (g.genuine IS TRUE))
        AND (NOT c.conflict OR pg_catalog.cardinality(i.ids) >= 2)) AS by_sql,
       crm.inquiry_row_valid(s.source, st.status, r.close_reason, d.department_id, p.responsible_id,
                             g.genuine, c.conflict, i.ids) AS by_c
  FROM unnest(ARRAY[NULL, '', '  ', 'pbx']) s(source),
       unnest(ARRAY[NULL, 'new', 'triaged', 'assigned', 'qualified', 'closed', 'Closed', 'close']) st(status),
       unnest(ARRAY[NULL, '', ' ', 'spam']) r(close_reason),
       unnest(ARRAY[NULL, 7]) d(department_id),
       unnest(ARRAY[NULL, 9]) p(responsible_id),
       unnest(ARRAY[NULL, false, true]) g(genuine),
       unnest(ARRAY[NULL, false, true]) c(conflict),
       (VALUES (NULL::bigint[]), ('{}'), ('{1}'), ('{1,2}'), ('{{1,2},{3,4}}')) i(ids);
SELECT count(*) AS combinations, count(*) FILTER (WHERE by_sql) AS "true",
       count(*) FILTER (WHERE NOT by_sql) AS "false", count(*) FILTER (WHERE by_sql IS NULL) AS "null",
       count(*) FILTER (WHERE by_c IS DISTINCT FROM by_sql) AS differ
  FROM iq_grid;

-- the tables enforce them: a refused row is 23514 and nothing is written
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT count(*) AS interactions_before FROM crm.interaction WHERE dedup_key LIKE 'rules:%';
SELECT pg_temp.try(format($$INSERT INTO crm.interaction (channel, source, direction, occurred_at, dedup_key,
                                                         duration, billsec, answered_at, ended_at)
                           VALUES ('phone', %L, 'in', '2024-05-20 10:00+03', %L, %L, %L, %L, %L)$$,
                          t.source, 'rules:' || t.n, t.duration, t.billsec, t.answered_at, t.ended_at)) AS result,
       t.what
  FROM (VALUES (1, 'pbx', 60, 50, '2024-05-20 10:00:05+03', '2024-05-20 10:01:05+03', 'a whole call'),
               (2, '  ', 60, 50, '2024-05-20 10:00:05+03', '2024-05-20 10:01:05+03', 'a blank source'),
               (3, 'pbx', 60, 61, '2024-05-20 10:00:05+03', '2024-05-20 10:01:05+03', 'billsec over the duration'),
               (4, 'pbx', -1, NULL, NULL, NULL, 'a negative duration'),
               (5, 'pbx', 60, 50, '2024-05-20 09:59:00+03', NULL, 'answered before it started'),
               (6, 'pbx', NULL, NULL, NULL, '2024-05-20 09:59:00+03', 'ended before it started'),
               (7, 'pbx', NULL, NULL, '2024-05-20 10:00:30+03', '2024-05-20 10:00:10+03', 'ended before the answer'),
               (8, 'pbx', NULL, NULL, NULL, NULL, 'a call not yet answered'))
       AS t(n, source, duration, billsec, answered_at, ended_at, what)
 ORDER BY t.n;
SELECT count(*) AS interactions_after FROM crm.interaction WHERE dedup_key LIKE 'rules:%';
SELECT pg_temp.try(format($$INSERT INTO crm.inquiry (channel, source, status, close_reason, genuine, conflict,
                                                     conflict_counterparty_ids)
                           VALUES ('phone', 'pbx', %L, %L, %L, %L, %L)$$,
                          t.status, t.close_reason, t.genuine, t.conflict, t.ids)) AS result,
       t.what
  FROM (VALUES (1, 'new', NULL, NULL, false, NULL::bigint[], 'a new inquiry'),
               (2, 'open', NULL, NULL, false, NULL, 'an unknown status'),
               (3, 'closed', ' ', NULL, false, NULL, 'closed with a blank reason'),
               (4, 'closed', 'spam', NULL, false, NULL, 'closed with a reason'),
               (5, 'triaged', NULL, NULL, false, NULL, 'triaged without a department'),
               (6, 'new', NULL, true, false, NULL, 'genuine but not qualified'),
               (7, 'new', NULL, NULL, true, '{5}', 'a conflict of one counterparty'),
               (8, 'new', NULL, NULL, true, '{5,6}', 'a conflict of two'))
       AS t(n, status, close_reason, genuine, conflict, ids, what)
 ORDER BY t.n;
-- the catalog says what the rules are
SELECT conrelid::regclass AS "table", conname, pg_get_constraintdef(oid) AS rule
  FROM pg_constraint WHERE conname IN ('interaction_valid', 'inquiry_valid') ORDER BY 1;
ROLLBACK;
