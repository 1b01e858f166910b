-- test/tap/deal_control.sql: R22 -- tasks (assign, reassign by the head,
-- due dates, completion, overdue reported once) and the head's control views
-- (pipeline, task timeliness, satisfaction), whose numbers are computed here
-- independently from what the test put in and compared.
BEGIN;
SELECT plan(41);

DO $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
  EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO PUBLIC', pg_my_temp_schema()::regnamespace);
END $$;

SELECT crm.hire('tdc_head', 'Анна Главная', 'alto', 'head');
SELECT crm.hire('tdc_mgr1', 'Борис Первый', 'alto', 'manager');
SELECT crm.hire('tdc_mgr2', 'Вера Вторая', 'alto', 'manager');
SELECT crm.hire('tdc_tester', 'Глеб Испытатель', 'testing', 'manager');
SELECT crm.hire('tdc_head_prom', 'Дарья Промова', 'prom', 'head');
SELECT crm.hire('tdc_mgr_prom', 'Егор Промов', 'prom', 'manager');
CREATE FUNCTION pg_temp.emp(r name) RETURNS integer LANGUAGE sql AS
  $$ SELECT id FROM crm.employee WHERE role_name = r $$;
CREATE TEMP TABLE t (name text PRIMARY KEY, id bigint);
GRANT ALL ON t TO PUBLIC;

-- ===================== tasks =====================
SET SESSION AUTHORIZATION tdc_head;
SELECT lives_ok($$INSERT INTO t SELECT 'call', crm.assign_task(pg_temp.emp('tdc_mgr1'), 'Перезвонить по КП', now() + interval '1 day')$$,
  'R22 the head gives a manager of the department a task with a due date');
SELECT lives_ok($$INSERT INTO t SELECT 'tester', crm.assign_task(pg_temp.emp('tdc_tester'), 'Подготовить протокол', now() + interval '2 days')$$,
  'R1 R22 ... and a manager of Testing, which is part of Alto');
SELECT throws_ok($$SELECT crm.assign_task(pg_temp.emp('tdc_mgr_prom'), 'x')$$, '42501', NULL,
  'R22 ... but not a manager of another department');
SELECT throws_ok($$SELECT crm.assign_task(pg_temp.emp('tdc_mgr1'), 'x', now() - interval '1 day')$$, '22023', NULL,
  'a due date in the past is refused');
SELECT throws_ok($$SELECT crm.assign_task(-1, 'x')$$, '23503', NULL, 'an unknown employee is refused');
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT t.title, t.creator_id, t.due_at > now() FROM crm.task t WHERE t.id = (SELECT id FROM t WHERE name = 'call')$$,
  $$VALUES ('Перезвонить по КП'::text, pg_temp.emp('tdc_head'), true)$$, 'the task keeps who gave it and when it is due');

SET SESSION AUTHORIZATION tdc_mgr1;
SELECT is((SELECT count(*) FROM crm.notification WHERE kind = 'task')::int, 1, 'the manager was told about the task');
SELECT lives_ok($$INSERT INTO t SELECT 'own', crm.assign_task(pg_temp.emp('tdc_mgr1'), 'Себе', now() + interval '2 hours')$$,
  'a manager gives themselves a task');
SELECT throws_ok($$SELECT crm.assign_task(pg_temp.emp('tdc_mgr2'), 'x')$$, '42501', NULL,
  'R22 a manager does not direct a colleague');
SELECT lives_ok($$SELECT crm.set_task_due((SELECT id FROM t WHERE name = 'own'), now() + interval '3 hours')$$,
  'a manager moves the due date of their task');
RESET SESSION AUTHORIZATION;

-- R22: the head steps in and hands the task over
SET SESSION AUTHORIZATION tdc_head_prom;
SELECT throws_ok($$SELECT crm.reassign_task((SELECT id FROM t WHERE name = 'call'), pg_temp.emp('tdc_mgr_prom'))$$,
  'P0002', NULL, 'R22 the head of another department cannot take Alto''s task');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdc_head;
SELECT throws_ok($$SELECT crm.reassign_task((SELECT id FROM t WHERE name = 'call'), pg_temp.emp('tdc_mgr_prom'))$$,
  '42501', NULL, 'R22 the head does not hand a task out of the department');
SELECT lives_ok($$SELECT crm.reassign_task((SELECT id FROM t WHERE name = 'call'), pg_temp.emp('tdc_mgr2'), 'Борис в отпуске')$$,
  'R22 the head hands a task to another manager of the department');
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT assignee_id, note FROM crm.task WHERE id = (SELECT id FROM t WHERE name = 'call')$$,
  $$VALUES (pg_temp.emp('tdc_mgr2'), 'Борис в отпуске'::text)$$, 'R22 the task is the other manager''s now, with why');
SELECT results_eq($$SELECT e.role_name::text COLLATE "default", n.kind FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
  WHERE n.payload ->> 'task' = (SELECT id::text FROM t WHERE name = 'call') ORDER BY n.id$$,
  $$VALUES ('tdc_mgr1'::text, 'task'::text), ('tdc_mgr2', 'task'), ('tdc_mgr1', 'task_reassigned')$$,
  'R22 both managers were told');
SET SESSION AUTHORIZATION tdc_mgr1;
SELECT throws_ok($$SELECT crm.reassign_task((SELECT id FROM t WHERE name = 'call'), pg_temp.emp('tdc_mgr1'))$$,
  'P0002', NULL, 'the former assignee cannot take it back');
SELECT throws_ok($$SELECT crm.complete_task((SELECT id FROM t WHERE name = 'call'))$$, 'P0002', NULL,
  '... nor complete it');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdc_mgr2;
SELECT lives_ok($$SELECT crm.complete_task((SELECT id FROM t WHERE name = 'call'), 'клиент согласен')$$,
  'the new assignee completes the task, with its outcome');
SELECT throws_ok($$SELECT crm.complete_task((SELECT id FROM t WHERE name = 'call'))$$, '55000', NULL,
  'a task is completed once');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdc_head;
SELECT throws_ok($$SELECT crm.reassign_task((SELECT id FROM t WHERE name = 'call'), pg_temp.emp('tdc_mgr1'))$$,
  '55000', NULL, 'a done task is not handed over');
RESET SESSION AUTHORIZATION;

-- ===================== overdue, reported once =====================
DELETE FROM crm.notification;
INSERT INTO t
SELECT 'late' || i, id FROM (
  SELECT i, (crm.assign_task(pg_temp.emp(r), 'Просроченная ' || i, now() + interval '1 hour')) AS id
    FROM (VALUES (1, 'tdc_mgr1'), (2, 'tdc_mgr1'), (3, 'tdc_tester')) v(i, r)) x;
-- time passes: their due dates are behind us
UPDATE crm.task SET due_at = now() - interval '1 hour' WHERE id IN (SELECT id FROM t WHERE name LIKE 'late%');
SELECT is(crm.notify_overdue_tasks(), 3, 'R22 the three overdue tasks are reported');
SELECT is(crm.notify_overdue_tasks(), 0, 'R22 ... once: the next run reports nothing');
SELECT results_eq($$SELECT e.role_name::text COLLATE "default", count(*)::int FROM crm.notification n JOIN crm.employee e ON e.id = n.recipient_id
  WHERE n.kind = 'task_overdue' GROUP BY e.role_name ORDER BY 1$$,
  $$VALUES ('tdc_head'::text, 3), ('tdc_mgr1', 2), ('tdc_tester', 1)$$,
  'R22 each assignee about their own, the head of Alto about all three (Testing is Alto''s)');
SELECT set_eq($$SELECT task_id FROM crm.overdue_task WHERE assignee_role LIKE 'tdc\_%'$$,
  $$SELECT id FROM t WHERE name LIKE 'late%'$$, 'R22 the overdue view lists them');
-- a new due date is reported again when it passes, once
SELECT crm.set_task_due((SELECT id FROM t WHERE name = 'late1'), now() + interval '1 day');
SELECT is(crm.notify_overdue_tasks(), 0, 'a task due tomorrow is not overdue');
UPDATE crm.task SET due_at = now() - interval '1 minute' WHERE id = (SELECT id FROM t WHERE name = 'late1');
SELECT is(crm.notify_overdue_tasks(), 1, 'R22 ... and is reported again when the new date passes');
SELECT is((SELECT count(*)::int FROM crm.job WHERE name = 'deal_overdue_tasks' AND command = 'SELECT crm.notify_overdue_tasks()'),
  1, 'the report runs as a periodic job');

-- ===================== task timeliness, counted independently =====================
SELECT crm.hire('tdc_t1', 'Тимур Первый', 'alto', 'manager');
SELECT crm.hire('tdc_t2', 'Таня Вторая', 'alto', 'manager');
-- what each of two people did: category, how many
CREATE TEMP TABLE spec (who name, category text, n int);
INSERT INTO spec VALUES ('tdc_t1', 'on_time', 3), ('tdc_t1', 'late', 2), ('tdc_t1', 'overdue', 1),
  ('tdc_t1', 'open', 2), ('tdc_t1', 'no_due', 1), ('tdc_t2', 'on_time', 1), ('tdc_t2', 'late', 1),
  ('tdc_t2', 'overdue', 2);
INSERT INTO crm.task (title, assignee_id, due_at, done_at)
SELECT s.category, pg_temp.emp(s.who),
       CASE s.category WHEN 'on_time' THEN now() - interval '2 days' WHEN 'late' THEN now() - interval '5 days'
                       WHEN 'overdue' THEN now() - interval '1 day' WHEN 'open' THEN now() + interval '1 day' END,
       CASE s.category WHEN 'on_time' THEN now() - interval '3 days' WHEN 'late' THEN now() - interval '4 days'
                       WHEN 'no_due' THEN now() - interval '1 day' END
  FROM spec s, generate_series(1, s.n);
SELECT results_eq(
  $$SELECT role_name::text COLLATE "default", tasks::int, done_on_time::int, done_late::int, overdue::int, open_in_time::int,
           done_without_due_date::int, on_time_percent FROM crm.task_timeliness WHERE role_name IN ('tdc_t1', 'tdc_t2') ORDER BY 1$$,
  $$SELECT who::text COLLATE "default", sum(n)::int,
           coalesce(sum(n) FILTER (WHERE category = 'on_time'), 0)::int, coalesce(sum(n) FILTER (WHERE category = 'late'), 0)::int,
           coalesce(sum(n) FILTER (WHERE category = 'overdue'), 0)::int, coalesce(sum(n) FILTER (WHERE category = 'open'), 0)::int,
           coalesce(sum(n) FILTER (WHERE category = 'no_due'), 0)::int,
           round(100.0 * coalesce(sum(n) FILTER (WHERE category = 'on_time'), 0)
                 / sum(n) FILTER (WHERE category IN ('on_time', 'late', 'overdue')), 1)
      FROM spec GROUP BY who ORDER BY 1$$,
  'R22 task timeliness per salesperson: the view agrees with the count made here');
SELECT results_eq($$SELECT on_time_percent FROM crm.task_timeliness WHERE role_name IN ('tdc_t1', 'tdc_t2') ORDER BY role_name$$,
  $$VALUES (50.0), (25.0)$$, 'R22 ... 3 of 6 and 1 of 4 on time');
SET SESSION AUTHORIZATION tdc_head_prom;
SELECT is((SELECT count(*)::int FROM crm.task_timeliness WHERE role_name LIKE 'tdc\_t%'), 0,
  'R22 the head of Prom does not see Alto''s people');
RESET SESSION AUTHORIZATION;

-- ===================== pipeline, summed independently =====================
INSERT INTO crm.product (sku, name, list_price) VALUES ('TDC-1', 'Насос', 1), ('TDC-2', 'Камера', 1);
CREATE FUNCTION pg_temp.party(p_name text, p_resp name) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  cp bigint;
  ct bigint;
BEGIN
  INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                                physical_address, department_id, responsible_id)
  SELECT 'client', p_name, p_name, '7707083893', '770701001', 'Банк', '044525225', '40702810500000001234',
         '30101810400000000225', 'Москва', e.department_id, e.id
    FROM crm.employee e WHERE e.role_name = p_resp
  RETURNING id INTO cp;
  INSERT INTO crm.contact (counterparty_id, full_name) VALUES (cp, 'К') RETURNING id INTO ct;
  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value) VALUES (ct, cp, 'email', 'tdc' || cp || '@example.com');
  RETURN cp;
END $$;
-- twelve deals: manager, the stage to reach, lines (product, quantity, price, VAT rate)
CREATE TEMP TABLE pspec AS
SELECT i, (ARRAY['tdc_mgr1', 'tdc_mgr2', 'tdc_tester', 'tdc_mgr_prom'])[1 + i % 4]::name AS who,
       (ARRAY['equipment_selection', 'production', 'sale_from_stock', 'installation', 'service', 'closed', 'not_suitable'])[1 + i % 7] AS stage,
       NULL::bigint AS deal
  FROM generate_series(1, 12) i;
CREATE TEMP TABLE lspec AS
SELECT p.i, j, (SELECT id FROM crm.product WHERE sku = 'TDC-' || (1 + j % 2)) AS product,
       (1 + (p.i * j) % 5)::numeric * 1.5 AS qty, (1000 + p.i * 137.33 + j * 11.11)::numeric(14, 2) AS price,
       (ARRAY[20, 10, 0])[1 + (p.i + j) % 3]::numeric AS rate
  FROM pspec p, generate_series(1, 1 + p.i % 3) j;
UPDATE pspec SET deal = crm.create_deal(pg_temp.party('Клиент ' || i, who), 'потребность ' || i);
SELECT count(crm.add_deal_line(p.deal, l.product, l.qty, l.price, l.rate)) FROM lspec l JOIN pspec p USING (i);
-- the stage checks are left out here (this test is about the sums), and come back at ROLLBACK
DELETE FROM crm.deal_stage_check;
CREATE FUNCTION pg_temp.walk(deal bigint, target text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s text;
BEGIN
  IF target = 'not_suitable' THEN
    PERFORM crm.move_deal(deal, 'not_suitable', 'тест');
    RETURN;
  END IF;
  FOREACH s IN ARRAY ARRAY['production', 'sale_from_stock', 'installation', 'service', 'closed'] LOOP
    EXIT WHEN (SELECT stage FROM crm.deal d WHERE d.id = deal) = target;
    PERFORM crm.move_deal(deal, s);
  END LOOP;
END $$;
SELECT count(pg_temp.walk(deal, stage)) FROM pspec;
GRANT SELECT ON pspec, lspec TO PUBLIC;
-- three deals are paid in part
SELECT count(crm.record_payment(crm.create_document(deal, 'invoice'), 100 * i)) FROM pspec WHERE i IN (3, 7, 11);
SELECT set_eq(
  $$SELECT stage, department, manager_role::text COLLATE "default", deals::int, net_amount, vat_amount, total_amount, paid
      FROM crm.pipeline WHERE manager_role LIKE 'tdc\_%'$$,
  $$WITH l AS (
      SELECT i, sum(round(qty * price, 2)) AS net, sum(round(round(qty * price, 2) * rate / 100, 2)) AS vat
        FROM lspec GROUP BY i)
    SELECT p.stage AS stage, d.code AS department, p.who::text COLLATE "default" AS manager, count(*)::int AS deals,
           sum(l.net)::numeric(16, 2) AS net, sum(l.vat)::numeric(16, 2) AS vat,
           sum(l.net + l.vat)::numeric(16, 2) AS total,
           sum(CASE WHEN p.i IN (3, 7, 11) THEN 100 * p.i ELSE 0 END)::numeric(16, 2) AS paid
      FROM pspec p JOIN l USING (i) JOIN crm.employee e ON e.role_name = p.who JOIN crm.department d ON d.id = e.department_id
     GROUP BY p.stage, d.code, p.who$$,
  'R22 the pipeline by stage, department and manager agrees with the sums made here from the lines');
SELECT results_eq($$SELECT DISTINCT sales_department FROM crm.pipeline WHERE department = 'testing'$$, $$VALUES ('alto'::text)$$,
  'R1 R22 Testing''s deals count in Alto''s pipeline');
SET SESSION AUTHORIZATION tdc_head;
SELECT results_eq($$SELECT sum(deals)::int FROM crm.pipeline$$,
  $$SELECT count(*)::int FROM pspec WHERE who <> 'tdc_mgr_prom'$$, 'R22 the head of Alto sees Alto''s and Testing''s pipeline');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION tdc_head_prom;
SELECT results_eq($$SELECT sum(deals)::int, sum(total_amount) FROM crm.pipeline$$,
  $$SELECT count(*)::int, (SELECT sum(round(qty * price, 2) + round(round(qty * price, 2) * rate / 100, 2))
                             FROM lspec l WHERE l.i IN (SELECT i FROM pspec WHERE who = 'tdc_mgr_prom'))
      FROM pspec WHERE who = 'tdc_mgr_prom'$$, 'R22 the head of Prom sees Prom''s pipeline only');
RESET SESSION AUTHORIZATION;

-- ===================== satisfaction surveys =====================
SET SESSION AUTHORIZATION tdc_head;
SELECT lives_ok($$SELECT crm.record_survey(deal, 1 + i % 5, 'опрос ' || i, i % 2 = 0) FROM pspec WHERE who <> 'tdc_mgr_prom'$$,
  'R22 the head records phone-survey results for the department''s deals');
SELECT throws_ok($$SELECT crm.record_survey((SELECT deal FROM pspec WHERE who = 'tdc_mgr_prom' LIMIT 1), 5)$$,
  '42501', NULL, 'R22 ... not for another department''s deals');
SELECT throws_ok($$SELECT crm.record_survey((SELECT deal FROM pspec LIMIT 1), 0)$$, '23514', NULL, 'R22 a score is 1..5');
SELECT throws_ok($$SELECT crm.record_survey((SELECT deal FROM pspec LIMIT 1), 3, surveyed_at => now() + interval '1 day')$$,
  '22023', NULL, 'R22 a survey is not recorded for the future');
SELECT set_eq(
  $$SELECT manager_role::text COLLATE "default", surveys::int, average_score, satisfied::int, dissatisfied::int, would_recommend::int FROM crm.satisfaction_summary$$,
  $$SELECT who::text COLLATE "default" AS manager, count(*)::int AS surveys, round(avg(1 + i % 5), 2) AS average,
           count(*) FILTER (WHERE 1 + i % 5 >= 4)::int AS satisfied, count(*) FILTER (WHERE 1 + i % 5 <= 2)::int AS dissatisfied,
           count(*) FILTER (WHERE i % 2 = 0)::int AS recommend
      FROM pspec WHERE who <> 'tdc_mgr_prom' GROUP BY who$$,
  'R22 the satisfaction summary per manager agrees with the scores recorded');
RESET SESSION AUTHORIZATION;

-- ===================== conversion funnel, counted independently =====================
-- inquiries by channel and department, and how far each went
CREATE TEMP TABLE fspec (n serial, channel text, dep text, outcome text, inquiry bigint, lead bigint, deal bigint);
INSERT INTO fspec (channel, dep, outcome) VALUES
  ('phone', 'alto', 'none'), ('phone', 'alto', 'lead'), ('phone', 'alto', 'lead'), ('phone', 'alto', 'deal'),
  ('phone', 'alto', 'won'), ('email', 'alto', 'lead'), ('email', 'alto', 'won'), ('email', 'alto', 'won'),
  ('email', 'prom', 'none'), ('email', 'prom', 'deal'), ('chat', NULL, 'none'), ('chat', NULL, 'none'),
  ('phone', 'testing', 'won');
DO $$
DECLARE
  f record;
  dep integer;
  resp integer;
  inq bigint;
  cp bigint;
  ct bigint;
  dl bigint;
BEGIN
  FOR f IN SELECT * FROM fspec ORDER BY n LOOP
    SELECT id INTO dep FROM crm.department WHERE code = f.dep;
    SELECT e.id INTO resp FROM crm.employee e WHERE e.department_id = dep AND e.position = 'manager'
       AND e.role_name LIKE 'tdc\_%' ORDER BY e.id LIMIT 1;
    INSERT INTO crm.inquiry (channel, source, status, department_id, responsible_id, genuine, close_reason)
    VALUES (f.channel, 'tap', CASE WHEN f.dep IS NULL THEN 'new' WHEN f.outcome = 'none' THEN 'closed' ELSE 'qualified' END,
            dep, CASE WHEN f.outcome <> 'none' THEN resp END, CASE WHEN f.outcome <> 'none' THEN true END,
            CASE WHEN f.dep IS NOT NULL AND f.outcome = 'none' THEN 'ошибочный звонок' END)
    RETURNING id INTO inq;
    UPDATE fspec SET inquiry = inq WHERE n = f.n;
    CONTINUE WHEN f.outcome = 'none';
    INSERT INTO crm.counterparty (kind, name, legal_name, inn, kpp, bank_name, bank_bic, bank_account, corr_account,
                                  physical_address, department_id, responsible_id, source_inquiry_id)
    VALUES ('lead', 'Лид ' || f.n, 'ООО «Лид ' || f.n || '»', '7707083893', '770701001', 'Банк', '044525225',
            '40702810500000001234', '30101810400000000225', 'Москва', dep, resp, inq)
    RETURNING id INTO cp;
    UPDATE crm.inquiry SET counterparty_id = cp WHERE id = inq;
    INSERT INTO crm.contact (counterparty_id, full_name) VALUES (cp, 'К') RETURNING id INTO ct;
    INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value) VALUES (ct, cp, 'email', 'funnel' || cp || '@example.com');
    UPDATE fspec SET lead = cp WHERE n = f.n;
    CONTINUE WHEN f.outcome = 'lead';
    dl := crm.create_deal(cp, 'воронка ' || f.n);
    PERFORM crm.add_deal_line(dl, (SELECT id FROM crm.product WHERE sku = 'TDC-1'), 1, 1000, 20);
    UPDATE fspec SET deal = dl WHERE n = f.n;
    CONTINUE WHEN f.outcome = 'deal';
    PERFORM crm.record_payment(crm.create_document(dl, 'invoice'), 1200);
  END LOOP;
END $$;
SELECT set_eq(
  $$SELECT channel, sales_department, inquiries::int, leads::int, qualified::int, with_deal::int, won::int, won_amount,
           lead_percent, overall_percent FROM crm.sales_funnel$$,
  $$SELECT channel, CASE dep WHEN 'testing' THEN 'alto' ELSE dep END AS sales_department, count(*)::int AS inquiries,
           count(*) FILTER (WHERE outcome <> 'none')::int AS leads, count(*) FILTER (WHERE outcome <> 'none')::int AS qualified,
           count(*) FILTER (WHERE outcome IN ('deal', 'won'))::int AS with_deal, count(*) FILTER (WHERE outcome = 'won')::int AS won,
           (1200 * count(*) FILTER (WHERE outcome = 'won'))::numeric(16, 2) AS won_amount,
           round(100.0 * count(*) FILTER (WHERE outcome <> 'none') / count(*), 1) AS lead_percent,
           round(100.0 * count(*) FILTER (WHERE outcome = 'won') / count(*), 1) AS overall_percent
      FROM fspec GROUP BY channel, CASE dep WHEN 'testing' THEN 'alto' ELSE dep END$$,
  'R22 the conversion funnel inquiry -> lead -> deal -> won by channel and department agrees with the count made here');
SELECT results_eq($$SELECT inquiries::int, leads::int, with_deal::int, won::int, lead_percent, deal_percent, won_percent
                     FROM crm.sales_funnel WHERE channel = 'phone' AND sales_department = 'alto'$$,
  $$VALUES (6, 5, 3, 2, 83.3, 60.0, 66.7)$$,
  'R22 phone in Alto with Testing: 6 inquiries, 5 leads, 3 with a deal, 2 won');

SELECT * FROM finish();
ROLLBACK;
