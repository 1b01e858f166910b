/*
 * normalize.c
 *	  SQL functions crm.normalize_phone, crm.phone_extension and
 *	  crm.normalize_email over the parsers of contactkey.c.
 *
 * They are IMMUTABLE, STRICT and PARALLEL SAFE, so contact points keep their
 * normalised value in a generated column with a unique index on it.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "contactkey.h"

PG_FUNCTION_INFO_V1(normalize_phone);
PG_FUNCTION_INFO_V1(phone_extension);
PG_FUNCTION_INFO_V1(normalize_email);

Datum
normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char		e164[CRM_PHONE_MAX];
	char		ext[CRM_PHONE_EXT_MAX];
	int			len;

	len = crm_parse_phone(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), e164, ext);
	if (len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(e164, len));
}

Datum
phone_extension(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char		e164[CRM_PHONE_MAX];
	char		ext[CRM_PHONE_EXT_MAX];

	if (crm_parse_phone(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), e164, ext) == 0 ||
		ext[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ext));
}

Datum
normalize_email(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		inlen = VARSIZE_ANY_EXHDR(in);
	char	   *out;
	size_t		len;

	if (inlen > 4 * CRM_EMAIL_MAX)
		PG_RETURN_NULL();
	out = palloc(inlen + 1);
	len = crm_parse_email(VARDATA_ANY(in), inlen, out);
	if (len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, len));
}
