-- normalize.sql: the matching keys of contact points (R6), implemented in
-- normalize.c over contactkey.c.

CREATE FUNCTION crm.normalize_phone(text) RETURNS text
AS 'MODULE_PATHNAME', 'normalize_phone'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_phone(text) IS
  'E.164 form of a phone number as people write it (8 (916) 123-45-67 -> +79161234567); the extension is not part of it; NULL when the text is not a phone number';

CREATE FUNCTION crm.phone_extension(text) RETURNS text
AS 'MODULE_PATHNAME', 'phone_extension'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.phone_extension(text) IS
  'the extension digits of a phone number (доб. 123, ext 5, x5), or NULL';

CREATE FUNCTION crm.normalize_email(text) RETURNS text
AS 'MODULE_PATHNAME', 'normalize_email'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.normalize_email(text) IS
  'trimmed, lower-cased e-mail address; NULL when the text does not look like an address';

GRANT EXECUTE ON FUNCTION crm.normalize_phone(text), crm.phone_extension(text),
  crm.normalize_email(text) TO PUBLIC;
