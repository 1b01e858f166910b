/*
 * intake.c
 *	  Intake of calls and e-mails (R3-R9): crm.ingest_call and crm.ingest_email.
 *
 * This first version only fixes the SQL signatures the pollers call; the
 * logic follows in the next commits.
 */
#include "postgres.h"

#include "fmgr.h"

PG_FUNCTION_INFO_V1(ingest_call);
PG_FUNCTION_INFO_V1(ingest_email);

Datum
ingest_call(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("crm.ingest_call is not implemented yet")));
	PG_RETURN_NULL();
}

Datum
ingest_email(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("crm.ingest_email is not implemented yet")));
	PG_RETURN_NULL();
}
