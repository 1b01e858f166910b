-- Upgrade of crm from 1.0 to 1.1: changes to objects that 1.0 already had.
-- The new concerns' files (SQL_NEW in the Makefile) follow this file in the
-- built crm--1.0--1.1.sql.
\echo Use "ALTER EXTENSION crm UPDATE TO '1.1'" to load this file. \quit
