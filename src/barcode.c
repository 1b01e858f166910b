/*
 * barcode.c
 *	  SQL functions over the pure C barcode code of gs1.c (R30, R32):
 *	  check digits (crm.gs1_check_digit, crm.barcode_kind, crm.barcode_valid,
 *	  crm.gtin14) and the GS1 element-string parser (crm.parse_gs1,
 *	  crm.gs1_elements, crm.gs1_hri).
 *
 * A code that does not parse is an error with SQLSTATE 22P02, its reason as
 * the message and the character position in the detail.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "gs1.h"

PG_FUNCTION_INFO_V1(gs1_check_digit_sql);
PG_FUNCTION_INFO_V1(barcode_kind);
PG_FUNCTION_INFO_V1(barcode_valid);
PG_FUNCTION_INFO_V1(gtin14);
PG_FUNCTION_INFO_V1(parse_gs1);
PG_FUNCTION_INFO_V1(gs1_elements);
PG_FUNCTION_INFO_V1(gs1_hri);

/* the year of the transaction start in the session's time zone */
static int
CurrentYear(void)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("timestamp out of range")));
	return tm.tm_year;
}

static void
ReportGs1Error(const Gs1Message *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("%s", msg->errmsg),
			 errdetail("The GS1 code is malformed at character %d.", msg->errpos + 1),
			 (msg->error == GS1_ERR_CHECK_DIGIT ?
			  errhint("Rescan the code; if it fails again the label is misprinted.") :
			  msg->error == GS1_ERR_FIELD_LONG || msg->error == GS1_ERR_SEPARATOR ?
			  errhint("Check that the scanner transmits FNC1 as the GS character (0x1D).") : 0)));
}

/* Parses a code; errors are reported.  strict applies the pairing rules. */
static void
ParseOrReport(text *code, bool strict, Gs1Message *msg)
{
	if (gs1_parse(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), CurrentYear(), msg) != GS1_OK)
		ReportGs1Error(msg);
	if (strict && gs1_check_associations(msg) != GS1_OK)
		ReportGs1Error(msg);
}

static void
CheckDigitsOnly(const char *s, size_t n, size_t maxlen)
{
	size_t		i;

	if (n == 0 || n > maxlen)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a GS1 number has 1 to %zu digits before its check digit", maxlen)));
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							errmsg("a GS1 number has only digits"),
							errdetail("Character %zu is not a digit.", i + 1)));
}

/* crm.gs1_check_digit(body text) -> the check digit to append */
Datum
gs1_check_digit_sql(PG_FUNCTION_ARGS)
{
	text	   *body = PG_GETARG_TEXT_PP(0);
	size_t		n = VARSIZE_ANY_EXHDR(body);

	CheckDigitsOnly(VARDATA_ANY(body), n, 17);
	PG_RETURN_INT32(gs1_check_digit(VARDATA_ANY(body), n));
}

/* crm.barcode_kind(code text) -> 'EAN-8', 'UPC-A', 'EAN-13', 'GTIN-14', 'SSCC' or NULL */
Datum
barcode_kind(PG_FUNCTION_ARGS)
{
	text	   *code = PG_GETARG_TEXT_PP(0);
	const char *kind = gs1_code_kind(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code));

	if (kind == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(kind));
}

/* crm.barcode_valid(code text) -> the code is a GS1 number with the right check digit */
Datum
barcode_valid(PG_FUNCTION_ARGS)
{
	text	   *code = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(gs1_code_kind(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code)) != NULL);
}

/* crm.gtin14(code text) -> the GTIN-14 of an EAN-8, UPC-A, EAN-13 or GTIN-14 */
Datum
gtin14(PG_FUNCTION_ARGS)
{
	text	   *code = PG_GETARG_TEXT_PP(0);
	size_t		n = VARSIZE_ANY_EXHDR(code);
	char		out[15];
	Gs1Error	err = gs1_gtin14(VARDATA_ANY(code), n, out);

	if (err == GS1_ERR_CHECK_DIGIT)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("check digit of GTIN \"%s\" is wrong", text_to_cstring(code)),
						errdetail("The check digit should be %d.",
								  gs1_check_digit(VARDATA_ANY(code), n - 1))));
	if (err != GS1_OK)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("a GTIN has 8, 12, 13 or 14 digits"),
						errdetail("The value given has %zu characters or a non-digit.", n)));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

static Datum
DateDatum(int y, int m, int d)
{
	return DateADTGetDatum(date2j(y, m, d == 0 ? 1 : d) - POSTGRES_EPOCH_JDATE);
}

/* fills a date and its precision ('day' or 'month') from a YYMMDD element */
static void
DateOut(const Gs1Message *msg, const char *ai, int year, Datum *values, bool *nulls, int i)
{
	const Gs1Element *e = gs1_find(msg, ai);
	int			y,
				m,
				d;

	if (e == NULL || !gs1_decode_date(e->value, year, true, &y, &m, &d))
	{
		nulls[i] = nulls[i + 1] = true;
		return;
	}
	values[i] = DateDatum(y, m, d);
	values[i + 1] = CStringGetTextDatum(d == 0 ? "month" : "day");
}

static void
TextOut(const Gs1Message *msg, const char *ai, Datum *values, bool *nulls, int i)
{
	const Gs1Element *e = gs1_find(msg, ai);

	if (e == NULL)
		nulls[i] = true;
	else
		values[i] = CStringGetTextDatum(e->value);
}

static void
IntOut(const Gs1Message *msg, const char *ai, Datum *values, bool *nulls, int i)
{
	const Gs1Element *e = gs1_find(msg, ai);

	if (e == NULL)
		nulls[i] = true;
	else
		values[i] = Int32GetDatum((int32) strtol(e->value, NULL, 10));	/* N..8: fits */
}

static char *
FormatHri(const Gs1Message *msg)
{
	/* every value can double ('(' escaped), plus brackets and AIs */
	size_t		len = 2 * GS1_MAX_ELEMENTS * (GS1_MAX_VALUE + 8);
	char	   *out = palloc(len);

	if (gs1_format(msg, true, out, len) < 0)
		elog(ERROR, "GS1 message does not fit its buffer");
	return out;
}

/*
 * crm.parse_gs1(code text, strict boolean DEFAULT true): the fields of a
 * scanned code.  Dates come with their precision: a GS1 day 00 gives
 * precision 'month' and the first day of the month as the date.
 */
Datum
parse_gs1(PG_FUNCTION_ARGS)
{
	text	   *code;
	bool		strict = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	Gs1Message *msg;
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15] = {0};
	int			year = CurrentYear();

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	code = PG_GETARG_TEXT_PP(0);
	msg = palloc(sizeof(Gs1Message));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != lengthof(values))
		elog(ERROR, "crm.parse_gs1 is declared with %d columns, expected %d",
			 tupdesc->natts, (int) lengthof(values));
	tupdesc = BlessTupleDesc(tupdesc);

	ParseOrReport(code, strict, msg);
	values[0] = CStringGetTextDatum(gs1_symbology_name(msg->symbology));
	TextOut(msg, "00", values, nulls, 1);
	TextOut(msg, "01", values, nulls, 2);
	TextOut(msg, "02", values, nulls, 3);
	TextOut(msg, "10", values, nulls, 4);
	TextOut(msg, "21", values, nulls, 5);
	DateOut(msg, "11", year, values, nulls, 6);
	DateOut(msg, "15", year, values, nulls, 8);
	DateOut(msg, "17", year, values, nulls, 10);
	IntOut(msg, "30", values, nulls, 12);
	IntOut(msg, "37", values, nulls, 13);
	values[14] = CStringGetTextDatum(FormatHri(msg));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* crm.gs1_elements(code text, strict boolean DEFAULT false): every element */
Datum
gs1_elements(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		strict = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	Gs1Message *msg = palloc(sizeof(Gs1Message));
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	ParseOrReport(PG_GETARG_TEXT_PP(0), strict, msg);
	for (i = 0; i < msg->nelements; i++)
	{
		const Gs1Element *e = &msg->elements[i];
		const char *title = gs1_ai_title(e->ai);
		Datum		values[4];
		bool		nulls[4] = {0};

		values[0] = Int32GetDatum(e->pos + 1);
		values[1] = CStringGetTextDatum(e->ai);
		values[2] = CStringGetTextDatum(title ? title : "");
		values[3] = CStringGetTextDatum(e->value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* crm.gs1_hri(code text): the code in the bracketed human-readable form */
Datum
gs1_hri(PG_FUNCTION_ARGS)
{
	text	   *code = PG_GETARG_TEXT_PP(0);
	Gs1Message *msg = palloc(sizeof(Gs1Message));

	ParseOrReport(code, false, msg);
	PG_RETURN_TEXT_P(cstring_to_text(FormatHri(msg)));
}
