-- intake.sql: calls and e-mails become interactions, inquiries and leads
-- (R3-R9), implemented in intake.c.

-- The contract with the pollers (MikoPBX, IMAP): called with named arguments.
CREATE FUNCTION crm.ingest_call(linkedid text, caller text, called text, started_at timestamptz,
                                answered_at timestamptz DEFAULT NULL, ended_at timestamptz DEFAULT NULL,
                                duration integer DEFAULT NULL, billsec integer DEFAULT NULL,
                                disposition text DEFAULT NULL, recording text DEFAULT NULL,
                                direction text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ingest_call'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer,
                                    integer, text, text, text) IS
  'records a call of the PBX (one linkedid = one call; again = update) and matches its number (R4, R6); returns the interaction id';

CREATE FUNCTION crm.ingest_email(message bytea) RETURNS bigint
AS 'MODULE_PATHNAME', 'ingest_email'
LANGUAGE C VOLATILE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION crm.ingest_email(bytea) IS
  'loads a raw RFC 5322 message (idempotent by Message-ID), classifies it by template and matches its sender (R5, R6); returns the interaction id';

REVOKE ALL ON FUNCTION crm.ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer,
                                       integer, text, text, text),
                       crm.ingest_email(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.ingest_call(text, text, text, timestamptz, timestamptz, timestamptz, integer,
                                          integer, text, text, text),
                          crm.ingest_email(bytea) TO crm_integration, crm_admin;
