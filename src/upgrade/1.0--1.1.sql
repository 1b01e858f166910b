-- Upgrade of crm from 1.0 to 1.1: changes to objects that 1.0 already had.
-- The new concerns' files (SQL_NEW in the Makefile) follow this file in the
-- built crm--1.0--1.1.sql.
\echo Use "ALTER EXTENSION crm UPDATE TO '1.1'" to load this file. \quit

-- intake (perf): the announcement of a notification (task.sql) is a C
-- trigger function; the payload is the same.
CREATE OR REPLACE FUNCTION crm.notification_announce() RETURNS trigger
AS 'MODULE_PATHNAME', 'notification_announce'
LANGUAGE C;
