-- crm.sql: the head of the install script -- guard, prerequisites, group roles.
-- The install script crm--<version>.sql is this file followed by the other
-- src/*.sql files in the order the Makefile lists (SQL_SOURCES).

\echo Use "CREATE EXTENSION crm" to load this file. \quit

DO $$
BEGIN
  IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
    RAISE EXCEPTION 'crm needs a UTF8 database'
      USING ERRCODE = 'feature_not_supported',
            DETAIL = pg_catalog.format('This database is encoded in %s.', pg_catalog.getdatabaseencoding()),
            HINT = 'Create the database WITH ENCODING ''UTF8''.';
  END IF;
END
$$;

-- Group roles (R2).  Roles belong to the cluster, not to the database, so they
-- are created only where missing and survive DROP EXTENSION.  None of them can
-- log in or bypass row-level security; people are login roles made members of
-- them by crm.hire().
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['crm_admin', 'crm_head', 'crm_manager', 'crm_triage',
                           'crm_marketing', 'crm_warehouse', 'crm_production',
                           'crm_service', 'crm_integration', 'crm_reader']
  LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOBYPASSRLS', r);
    END IF;
  END LOOP;
END
$$;

COMMENT ON SCHEMA crm IS 'crm: sales, fulfilment and warehouse process of an equipment maker';
REVOKE ALL ON SCHEMA crm FROM PUBLIC;
GRANT USAGE ON SCHEMA crm TO crm_admin, crm_head, crm_manager, crm_triage, crm_marketing,
  crm_warehouse, crm_production, crm_service, crm_integration, crm_reader;

-- Keeps updated_at true whatever client issues the UPDATE.
CREATE FUNCTION crm.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;

-- Registers a user table, and the sequences of its identity columns, with
-- pg_extension_config_dump so that pg_dump keeps its rows and its numbering.
-- filter excludes the rows the install script itself seeds.
CREATE FUNCTION crm.keep_in_dump(tbl regclass, filter text DEFAULT '') RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  seq text;
BEGIN
  PERFORM pg_extension_config_dump(tbl, filter);
  FOR seq IN
    SELECT pg_get_serial_sequence(tbl::text, a.attname)
      FROM pg_attribute a WHERE a.attrelid = tbl AND a.attidentity <> '' AND NOT a.attisdropped
  LOOP
    PERFORM pg_extension_config_dump(seq::regclass, '');
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION crm.keep_in_dump(regclass, text) FROM PUBLIC;
