-- deal_control.sql: the work around deals -- tasks assigned, reassigned
-- (the head stepping in, R22), given due dates and completed, overdue tasks
-- found and reported once -- and the head of sales' control (R22): the
-- pipeline, the conversion funnel, task timeliness per salesperson and the
-- customer satisfaction survey.

ALTER TABLE crm.task ADD COLUMN overdue_notified_at timestamptz;
COMMENT ON COLUMN crm.task.overdue_notified_at IS 'when the assignee and their head were told the task is overdue (once per due date)';

-- the departments a role supervises (crm.supervised_departments for any role)
CREATE FUNCTION crm.supervised_departments_of(r name) RETURNS integer[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE d(id) AS (
    SELECT e.department_id FROM crm.employee e WHERE e.role_name = r AND e.active AND e.position = 'head'
    UNION
    SELECT c.id FROM crm.department c JOIN d ON c.parent_id = d.id
  )
  SELECT coalesce(array_agg(id), '{}') FROM d
$$;

-- whether the role that issued the statement may direct the work of an
-- employee: themselves, a head for the people of their departments, an admin
CREATE FUNCTION crm.may_direct(employee integer) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM pg_roles r WHERE r.rolname = crm.outer_role() AND r.rolsuper)
      OR pg_has_role(crm.outer_role(), 'crm_admin', 'MEMBER')
      OR employee = crm.current_employee_id_outer()
      OR (SELECT e.department_id FROM crm.employee e WHERE e.id = employee)
         = ANY (crm.supervised_departments_of(crm.outer_role()))
$$;

-- R22: a task for a person, with a due date; about a deal or a counterparty.
-- Anyone gives themselves work; a head gives it to the people of their
-- departments; an admin to anyone.
CREATE FUNCTION crm.assign_task(assignee integer, title text, due_at timestamptz DEFAULT NULL,
                                deal bigint DEFAULT NULL, counterparty bigint DEFAULT NULL,
                                note text DEFAULT NULL, kind text DEFAULT 'general')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  me integer := crm.current_employee_id_outer();
  d crm.deal;
  id bigint;
BEGIN
  IF NOT EXISTS (SELECT FROM crm.employee e WHERE e.id = assignee AND e.active) THEN
    RAISE EXCEPTION 'employee % does not exist or has left', assignee USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF NOT crm.may_direct(assignee) THEN
    RAISE EXCEPTION 'you cannot give work to employee %', assignee
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A head directs the people of their departments; others assign tasks to themselves.';
  END IF;
  IF deal IS NOT NULL THEN
    SELECT * INTO d FROM crm.deal x WHERE x.id = assign_task.deal;
    IF NOT FOUND OR NOT (crm.may_direct(d.manager_id)) THEN
      RAISE EXCEPTION 'deal % does not exist or is not yours', deal USING ERRCODE = 'foreign_key_violation';
    END IF;
    counterparty := coalesce(counterparty, d.counterparty_id);
  END IF;
  IF due_at IS NOT NULL AND due_at < now() - interval '1 minute' THEN
    RAISE EXCEPTION 'the due date % is in the past', due_at USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO crm.task (kind, title, note, assignee_id, creator_id, counterparty_id, deal_id, due_at)
  VALUES (assign_task.kind, assign_task.title, assign_task.note, assignee, me, counterparty, deal, assign_task.due_at)
  RETURNING task.id INTO id;
  IF assignee IS DISTINCT FROM me THEN
    PERFORM crm.notify(assignee, 'task', title, jsonb_build_object('task', id, 'deal', deal), counterparty);
  END IF;
  RETURN id;
END
$$;
COMMENT ON FUNCTION crm.assign_task(integer, text, timestamptz, bigint, bigint, text, text)
  IS 'R22: gives a person a task with a due date (yourself; a head: the people of their departments)';

-- R22: the head steps in: the task goes to another person.
CREATE FUNCTION crm.reassign_task(task bigint, assignee integer, note text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t crm.task;
  me integer := crm.current_employee_id_outer();
BEGIN
  SELECT * INTO t FROM crm.task x WHERE x.id = reassign_task.task FOR UPDATE;
  IF NOT FOUND OR NOT (crm.may_direct(t.assignee_id) OR t.creator_id = me) THEN
    RAISE EXCEPTION 'task % does not exist or is not yours to hand over', task USING ERRCODE = 'no_data_found';
  END IF;
  IF t.done_at IS NOT NULL THEN
    RAISE EXCEPTION 'task % is already done', task USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF NOT EXISTS (SELECT FROM crm.employee e WHERE e.id = assignee AND e.active) THEN
    RAISE EXCEPTION 'employee % does not exist or has left', assignee USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF NOT crm.may_direct(assignee) THEN
    RAISE EXCEPTION 'you cannot give work to employee %', assignee
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A head hands tasks over within their departments.';
  END IF;
  IF assignee = t.assignee_id THEN
    RETURN;
  END IF;
  UPDATE crm.task x SET assignee_id = assignee, overdue_notified_at = NULL,
                        note = CASE WHEN reassign_task.note IS NULL THEN x.note
                                    ELSE concat_ws(E'\n', x.note, reassign_task.note) END
   WHERE x.id = t.id;
  PERFORM crm.notify(assignee, 'task', format('Вам передана задача: %s', t.title),
                     jsonb_build_object('task', t.id, 'deal', t.deal_id, 'from', t.assignee_id), t.counterparty_id);
  PERFORM crm.notify(t.assignee_id, 'task_reassigned', format('Задача передана другому сотруднику: %s', t.title),
                     jsonb_build_object('task', t.id, 'deal', t.deal_id, 'to', assignee), t.counterparty_id);
END
$$;
COMMENT ON FUNCTION crm.reassign_task(bigint, integer, text) IS 'R22: hands an open task to another person (the head within their departments, or the task''s creator)';

CREATE FUNCTION crm.set_task_due(task bigint, due_at timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t crm.task;
BEGIN
  SELECT * INTO t FROM crm.task x WHERE x.id = set_task_due.task FOR UPDATE;
  IF NOT FOUND OR NOT (crm.may_direct(t.assignee_id) OR t.creator_id = crm.current_employee_id_outer()) THEN
    RAISE EXCEPTION 'task % does not exist or is not yours', task USING ERRCODE = 'no_data_found';
  END IF;
  IF t.done_at IS NOT NULL THEN
    RAISE EXCEPTION 'task % is already done', task USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  -- a new due date is reported again when it passes
  UPDATE crm.task x SET due_at = set_task_due.due_at,
                        overdue_notified_at = CASE WHEN set_task_due.due_at IS NULL OR set_task_due.due_at > now()
                                                   THEN NULL ELSE x.overdue_notified_at END
   WHERE x.id = t.id;
END
$$;
COMMENT ON FUNCTION crm.set_task_due(bigint, timestamptz) IS 'R22: sets (or moves) the due date of an open task';

CREATE FUNCTION crm.complete_task(task bigint, outcome text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  done timestamptz;
BEGIN
  SELECT t.done_at INTO done FROM crm.task t WHERE t.id = complete_task.task;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'task % does not exist or is not yours', task USING ERRCODE = 'no_data_found';
  END IF;
  IF done IS NOT NULL THEN
    RAISE EXCEPTION 'task % was done at %', task, done USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE crm.task t SET done_at = clock_timestamp(), outcome = complete_task.outcome WHERE t.id = complete_task.task;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'task % is not yours to complete', task USING ERRCODE = 'insufficient_privilege';
  END IF;
END
$$;
COMMENT ON FUNCTION crm.complete_task(bigint, text) IS 'marks a task done, with what came of it';

-- Overdue: open tasks past their due date.
CREATE VIEW crm.overdue_task WITH (security_invoker = true) AS
SELECT t.id AS task_id, t.kind, t.title, t.due_at, now() - t.due_at AS overdue_by,
       e.id AS assignee_id, e.full_name AS assignee, e.role_name AS assignee_role,
       dep.code AS department, t.deal_id, t.counterparty_id, t.overdue_notified_at
  FROM crm.task t
  JOIN crm.employee e ON e.id = t.assignee_id
  JOIN crm.department dep ON dep.id = e.department_id
 WHERE t.done_at IS NULL AND t.due_at < now();
COMMENT ON VIEW crm.overdue_task IS 'R22: open tasks past their due date, with how late they are';

-- The periodic job: each overdue task is reported once (per due date) to its
-- assignee and to the head of the assignee's department.
CREATE FUNCTION crm.notify_overdue_tasks() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t record;
  head integer;
  n integer := 0;
BEGIN
  FOR t IN
    SELECT x.id, x.title, x.due_at, x.assignee_id, x.counterparty_id, x.deal_id, e.full_name, e.department_id
      FROM crm.task x JOIN crm.employee e ON e.id = x.assignee_id
     WHERE x.done_at IS NULL AND x.due_at < now() AND x.overdue_notified_at IS NULL
     ORDER BY x.due_at
       FOR UPDATE OF x SKIP LOCKED
  LOOP
    PERFORM crm.notify(t.assignee_id, 'task_overdue',
      format('Просрочена задача: %s (срок %s)', t.title, to_char(t.due_at, 'DD.MM.YYYY HH24:MI')),
      jsonb_build_object('task', t.id, 'deal', t.deal_id), t.counterparty_id);
    head := crm.head_of(t.department_id);
    IF head IS NOT NULL AND head <> t.assignee_id THEN
      PERFORM crm.notify(head, 'task_overdue',
        format('Просрочена задача сотрудника %s: %s (срок %s)', t.full_name, t.title, to_char(t.due_at, 'DD.MM.YYYY HH24:MI')),
        jsonb_build_object('task', t.id, 'deal', t.deal_id, 'assignee', t.assignee_id), t.counterparty_id);
    END IF;
    UPDATE crm.task SET overdue_notified_at = now() WHERE id = t.id;
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION crm.notify_overdue_tasks() IS 'R22: tells assignees and their heads about tasks that became overdue, once each; run by the job deal_overdue_tasks';
INSERT INTO crm.job (name, schedule, command, description, builtin) VALUES
  ('deal_overdue_tasks', '*/15 * * * *', 'SELECT crm.notify_overdue_tasks()',
   'R22: report tasks that became overdue to their assignees and heads (once each)', true);

-- R22: task timeliness per person: done on time, done late, overdue now.
CREATE VIEW crm.task_timeliness WITH (security_invoker = true) AS
SELECT e.id AS employee_id, e.role_name, e.full_name, dep.code AS department, e.position,
       count(*) AS tasks,
       count(*) FILTER (WHERE t.done_at IS NOT NULL AND t.due_at IS NOT NULL AND t.done_at <= t.due_at) AS done_on_time,
       count(*) FILTER (WHERE t.done_at IS NOT NULL AND t.done_at > t.due_at) AS done_late,
       count(*) FILTER (WHERE t.done_at IS NULL AND t.due_at < now()) AS overdue,
       count(*) FILTER (WHERE t.done_at IS NULL AND (t.due_at IS NULL OR t.due_at >= now())) AS open_in_time,
       count(*) FILTER (WHERE t.done_at IS NOT NULL AND t.due_at IS NULL) AS done_without_due_date,
       round(100.0 * count(*) FILTER (WHERE t.done_at IS NOT NULL AND t.due_at IS NOT NULL AND t.done_at <= t.due_at)
             / nullif(count(*) FILTER (WHERE t.due_at IS NOT NULL AND (t.done_at IS NOT NULL OR t.due_at < now())), 0),
             1) AS on_time_percent
  FROM crm.task t
  JOIN crm.employee e ON e.id = t.assignee_id
  JOIN crm.department dep ON dep.id = e.department_id
 GROUP BY e.id, e.role_name, e.full_name, dep.code, e.position;
COMMENT ON VIEW crm.task_timeliness IS 'R22: per person: tasks done on time, done late, overdue, open; on_time_percent over the tasks whose due date has come';

-- R22: the pipeline -- deals by stage, department and manager, with amounts
-- and how long they have been in their stage (where deals stall).
CREATE VIEW crm.pipeline WITH (security_invoker = true) AS
SELECT s.position AS stage_position, d.stage, s.title AS stage_title, s.is_open,
       coalesce(top.code, dep.code) AS sales_department, dep.code AS department,
       e.role_name AS manager_role, e.full_name AS manager,
       count(*) AS deals,
       coalesce(sum(a.net_amount), 0)::numeric(16, 2) AS net_amount,
       coalesce(sum(a.vat_amount), 0)::numeric(16, 2) AS vat_amount,
       coalesce(sum(a.total_amount), 0)::numeric(16, 2) AS total_amount,
       coalesce(sum(a.paid), 0)::numeric(16, 2) AS paid,
       max(now() - d.stage_changed_at) AS longest_in_stage,
       avg(now() - d.stage_changed_at) AS average_in_stage
  FROM crm.deal d
  JOIN crm.deal_stage s ON s.code = d.stage
  JOIN crm.department dep ON dep.id = d.department_id
  LEFT JOIN crm.department top ON top.id = dep.parent_id
  JOIN crm.employee e ON e.id = d.manager_id
  LEFT JOIN crm.deal_amounts a ON a.deal_id = d.id
 GROUP BY s.position, d.stage, s.title, s.is_open, coalesce(top.code, dep.code), dep.code, e.role_name, e.full_name;
COMMENT ON VIEW crm.pipeline IS 'R22: deals by stage, department (and the sales department it belongs to) and manager: count, amounts without VAT / VAT / total, paid, time in stage';

-- R22: the conversion funnel inquiry -> lead -> deal -> won, by channel and
-- sales department.  Each inquiry (intake) is followed through the lead it
-- made (crm.counterparty.source_inquiry_id) to that lead's deals; a deal is
-- won at its first signed contract or payment.  The department is the one
-- triage gave the inquiry (Testing counts in Alto); NULL: not triaged yet.
CREATE VIEW crm.sales_funnel WITH (security_invoker = true) AS
WITH per_inquiry AS (
  SELECT i.id, i.channel, coalesce(top.code, dep.code) AS sales_department, i.status,
         c.id AS lead_id,
         (SELECT count(*) FROM crm.deal d WHERE d.counterparty_id = c.id) AS deals,
         (SELECT count(*) FROM crm.deal d WHERE d.counterparty_id = c.id AND d.won_at IS NOT NULL) AS won_deals,
         (SELECT sum(a.total_amount) FROM crm.deal d JOIN crm.deal_amounts a ON a.deal_id = d.id
           WHERE d.counterparty_id = c.id AND d.won_at IS NOT NULL) AS won_amount
    FROM crm.inquiry i
    LEFT JOIN crm.department dep ON dep.id = i.department_id
    LEFT JOIN crm.department top ON top.id = dep.parent_id
    LEFT JOIN crm.counterparty c ON c.source_inquiry_id = i.id
)
SELECT channel, sales_department,
       count(DISTINCT id) AS inquiries,
       count(DISTINCT id) FILTER (WHERE lead_id IS NOT NULL) AS leads,
       count(DISTINCT id) FILTER (WHERE status = 'qualified') AS qualified,
       count(DISTINCT id) FILTER (WHERE deals > 0) AS with_deal,
       count(DISTINCT id) FILTER (WHERE won_deals > 0) AS won,
       coalesce(sum(deals), 0) AS deals,
       coalesce(sum(won_deals), 0) AS won_deals,
       coalesce(sum(won_amount), 0)::numeric(16, 2) AS won_amount,
       round(100.0 * count(DISTINCT id) FILTER (WHERE lead_id IS NOT NULL) / nullif(count(DISTINCT id), 0), 1) AS lead_percent,
       round(100.0 * count(DISTINCT id) FILTER (WHERE deals > 0)
             / nullif(count(DISTINCT id) FILTER (WHERE lead_id IS NOT NULL), 0), 1) AS deal_percent,
       round(100.0 * count(DISTINCT id) FILTER (WHERE won_deals > 0)
             / nullif(count(DISTINCT id) FILTER (WHERE deals > 0), 0), 1) AS won_percent,
       round(100.0 * count(DISTINCT id) FILTER (WHERE won_deals > 0) / nullif(count(DISTINCT id), 0), 1) AS overall_percent
  FROM per_inquiry
 GROUP BY channel, sales_department;
COMMENT ON VIEW crm.sales_funnel IS 'R22: conversion inquiry -> lead -> deal -> won by channel and sales department; percents: leads of inquiries, with a deal of leads, won of those with a deal, won of all inquiries';

-- R22: the customer satisfaction survey: the head records phone-survey
-- results per deal.
CREATE TABLE crm.satisfaction_survey (
  id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  deal_id          bigint NOT NULL REFERENCES crm.deal (id) ON DELETE CASCADE,
  contact_id       bigint REFERENCES crm.contact (id) ON DELETE SET NULL,
  surveyed_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
  score            smallint NOT NULL CONSTRAINT satisfaction_score_range CHECK (score BETWEEN 1 AND 5),
  would_recommend  boolean,
  comment          text,
  recorded_by      integer REFERENCES crm.employee (id),
  created_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.satisfaction_survey IS 'R22: results of phone surveys of customer satisfaction, per deal: score 1..5, would recommend, comment';
CREATE INDEX satisfaction_survey_deal_idx ON crm.satisfaction_survey (deal_id);

CREATE FUNCTION crm.satisfaction_survey_before_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF crm.restoring() THEN RETURN NEW; END IF;
  IF NEW.contact_id IS NOT NULL AND NOT EXISTS (
       SELECT FROM crm.contact c JOIN crm.deal d ON d.counterparty_id = c.counterparty_id
        WHERE c.id = NEW.contact_id AND d.id = NEW.deal_id) THEN
    RAISE EXCEPTION 'contact % is not a contact of the deal''s client', NEW.contact_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF NEW.surveyed_at > now() THEN
    RAISE EXCEPTION 'a survey cannot be recorded for the future' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  NEW.recorded_by := crm.current_employee_id_outer();
  NEW.created_at := now();
  RETURN NEW;
END
$$;
CREATE TRIGGER satisfaction_survey_before_insert BEFORE INSERT ON crm.satisfaction_survey
  FOR EACH ROW EXECUTE FUNCTION crm.satisfaction_survey_before_insert();

CREATE FUNCTION crm.record_survey(deal bigint, score integer, comment text DEFAULT NULL,
                                  would_recommend boolean DEFAULT NULL, contact bigint DEFAULT NULL,
                                  surveyed_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO crm.satisfaction_survey (deal_id, contact_id, surveyed_at, score, would_recommend, comment)
  VALUES (deal, contact, coalesce(surveyed_at, now()), score, would_recommend, comment)
  RETURNING id
$$;
COMMENT ON FUNCTION crm.record_survey(bigint, integer, text, boolean, bigint, timestamptz)
  IS 'R22: the head records the result of a phone survey of the client of a deal';

CREATE VIEW crm.satisfaction_summary WITH (security_invoker = true) AS
SELECT coalesce(top.code, dep.code) AS sales_department, e.role_name AS manager_role, e.full_name AS manager,
       count(*) AS surveys, count(DISTINCT s.deal_id) AS deals,
       round(avg(s.score), 2) AS average_score,
       count(*) FILTER (WHERE s.score >= 4) AS satisfied,
       count(*) FILTER (WHERE s.score <= 2) AS dissatisfied,
       count(*) FILTER (WHERE s.would_recommend) AS would_recommend,
       max(s.surveyed_at) AS last_survey
  FROM crm.satisfaction_survey s
  JOIN crm.deal d ON d.id = s.deal_id
  JOIN crm.department dep ON dep.id = d.department_id
  LEFT JOIN crm.department top ON top.id = dep.parent_id
  JOIN crm.employee e ON e.id = d.manager_id
 GROUP BY coalesce(top.code, dep.code), e.role_name, e.full_name;
COMMENT ON VIEW crm.satisfaction_summary IS 'R22: survey results per sales department and manager';

-- ---- privileges ----
ALTER TABLE crm.satisfaction_survey ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY satisfaction_survey_admin ON crm.satisfaction_survey TO crm_admin USING (true) WITH CHECK (true);
CREATE POLICY satisfaction_survey_reader ON crm.satisfaction_survey FOR SELECT TO crm_reader USING (true);
-- the head records and reads the surveys of their departments' deals
CREATE POLICY satisfaction_survey_head ON crm.satisfaction_survey TO crm_head
  USING (EXISTS (SELECT FROM crm.deal d WHERE d.id = deal_id
                  AND d.department_id = ANY ((SELECT crm.supervised_departments())::integer[])))
  WITH CHECK (EXISTS (SELECT FROM crm.deal d WHERE d.id = deal_id
                       AND d.department_id = ANY ((SELECT crm.supervised_departments())::integer[])));
-- a manager reads what their clients said about their deals
CREATE POLICY satisfaction_survey_manager ON crm.satisfaction_survey FOR SELECT TO crm_manager
  USING (EXISTS (SELECT FROM crm.deal d WHERE d.id = deal_id));

GRANT SELECT ON crm.satisfaction_survey TO crm_admin, crm_head, crm_manager, crm_reader;
GRANT INSERT (deal_id, contact_id, surveyed_at, score, would_recommend, comment) ON crm.satisfaction_survey
  TO crm_admin, crm_head;
GRANT UPDATE (score, would_recommend, comment), DELETE ON crm.satisfaction_survey TO crm_admin, crm_head;
GRANT SELECT ON crm.overdue_task, crm.task_timeliness, crm.pipeline, crm.satisfaction_summary, crm.sales_funnel
  TO crm_admin, crm_head, crm_manager, crm_reader;

REVOKE ALL ON FUNCTION crm.assign_task(integer, text, timestamptz, bigint, bigint, text, text),
  crm.reassign_task(bigint, integer, text), crm.set_task_due(bigint, timestamptz), crm.complete_task(bigint, text),
  crm.notify_overdue_tasks(), crm.record_survey(bigint, integer, text, boolean, bigint, timestamptz),
  crm.satisfaction_survey_before_insert(), crm.supervised_departments_of(name), crm.may_direct(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.assign_task(integer, text, timestamptz, bigint, bigint, text, text),
  crm.reassign_task(bigint, integer, text), crm.set_task_due(bigint, timestamptz), crm.complete_task(bigint, text)
  TO crm_admin, crm_head, crm_manager, crm_triage, crm_marketing, crm_warehouse, crm_production, crm_service;
GRANT EXECUTE ON FUNCTION crm.notify_overdue_tasks() TO crm_admin, crm_integration;
GRANT EXECUTE ON FUNCTION crm.record_survey(bigint, integer, text, boolean, bigint, timestamptz) TO crm_admin, crm_head;

SELECT crm.keep_in_dump('crm.satisfaction_survey', '');
