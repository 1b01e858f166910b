/*
 * deal_requisites.c
 *	  SQL wrappers over requisites.c: crm.inn_problem, crm.kpp_problem,
 *	  crm.bic_problem, crm.account_problem, crm.corr_account_problem.  Each
 *	  returns NULL when the value is valid, otherwise a sentence saying what
 *	  is wrong, so that a caller can name every problem at once (R10).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "requisites.h"

PG_FUNCTION_INFO_V1(inn_problem);
PG_FUNCTION_INFO_V1(kpp_problem);
PG_FUNCTION_INFO_V1(bic_problem);
PG_FUNCTION_INFO_V1(account_problem);
PG_FUNCTION_INFO_V1(corr_account_problem);

typedef bool (*check1) (const char *, size_t, char *, size_t);
typedef bool (*check2) (const char *, size_t, const char *, size_t, char *, size_t);

static Datum
one(FunctionCallInfo fcinfo, check1 fn)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char		why[CRM_REQ_WHY_MAX];

	if (fn(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), why, sizeof why))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}

static Datum
two(FunctionCallInfo fcinfo, check2 fn)
{
	text	   *acc = PG_GETARG_TEXT_PP(0);
	text	   *bic = PG_GETARG_TEXT_PP(1);
	char		why[CRM_REQ_WHY_MAX];

	if (fn(VARDATA_ANY(acc), VARSIZE_ANY_EXHDR(acc), VARDATA_ANY(bic), VARSIZE_ANY_EXHDR(bic),
		   why, sizeof why))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}

Datum
inn_problem(PG_FUNCTION_ARGS)
{
	return one(fcinfo, crm_check_inn);
}

Datum
kpp_problem(PG_FUNCTION_ARGS)
{
	return one(fcinfo, crm_check_kpp);
}

Datum
bic_problem(PG_FUNCTION_ARGS)
{
	return one(fcinfo, crm_check_bic);
}

Datum
account_problem(PG_FUNCTION_ARGS)
{
	return two(fcinfo, crm_check_account);
}

Datum
corr_account_problem(PG_FUNCTION_ARGS)
{
	return two(fcinfo, crm_check_corr_account);
}
