/*
 * migration.c
 *	  The C side of the one-off import from the old 1C (R23): decoding the
 *	  files 1C writes (UTF-8 or windows-1251), reading CSV by header names,
 *	  parsing 1C's numbers and dates without ever raising on bad input, and
 *	  crm.load_1c(), the procedure that keeps a rejected file's report and
 *	  then fails with the rejection's SQLSTATE.
 *
 * The staging, validation and loading are SQL (src/migration.sql); this file
 * only does what SQL does badly or slowly.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "migration_csv.h"

PG_FUNCTION_INFO_V1(decode_1c);
PG_FUNCTION_INFO_V1(detect_1c_encoding);
PG_FUNCTION_INFO_V1(csv_read);
PG_FUNCTION_INFO_V1(parse_1c_number);
PG_FUNCTION_INFO_V1(parse_1c_date);
PG_FUNCTION_INFO_V1(parse_1c_month);
PG_FUNCTION_INFO_V1(load_1c);

#define CSV_MAX_COLUMNS 64
#define CSV_MAX_FIELDS 1024

/* ---- encodings ------------------------------------------------------------ */

static bool
HasUtf8Bom(const char *s, int len)
{
	return len >= 3 && (unsigned char) s[0] == 0xEF && (unsigned char) s[1] == 0xBB &&
		(unsigned char) s[2] == 0xBF;
}

/*
 * The encoding a 1C file is in: "UTF8" when it is valid UTF-8 (with or
 * without a byte-order mark), else "WIN1251", which 1C uses for everything
 * it calls ANSI.  An XML file's declaration, when there is one, decides.
 */
static int
DetectEncoding(const char *s, int len)
{
	if (HasUtf8Bom(s, len))
		return PG_UTF8;
	if (len >= 5 && memcmp(s, "<?xml", 5) == 0)
	{
		const char *end = memchr(s, '>', Min(len, 200));
		const char *enc = end ? strstr(pnstrdup(s, end - s), "encoding") : NULL;

		if (enc != NULL)
		{
			char		name[32];
			int			i = 0;

			enc += strlen("encoding");
			while (*enc == ' ' || *enc == '=')
				enc++;
			if (*enc == '"' || *enc == '\'')
				enc++;
			while (*enc && *enc != '"' && *enc != '\'' && i < (int) sizeof(name) - 1)
				name[i++] = *enc++;
			name[i] = '\0';
			if (pg_strcasecmp(name, "windows-1251") == 0 || pg_strcasecmp(name, "cp1251") == 0)
				return PG_WIN1251;
			if (pg_strcasecmp(name, "utf-8") == 0 || pg_strcasecmp(name, "utf8") == 0)
				return PG_UTF8;
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("the XML file is in an unsupported encoding \"%s\"", name),
					 errhint("1C writes UTF-8 or windows-1251.")));
		}
	}
	if (pg_verify_mbstr(PG_UTF8, s, len, true))
		return PG_UTF8;
	return PG_WIN1251;
}

static int
EncodingArg(text *arg, const char *s, int len)
{
	char	   *name = text_to_cstring(arg);
	int			enc;

	if (pg_strcasecmp(name, "auto") == 0)
		return DetectEncoding(s, len);
	enc = pg_char_to_encoding(name);
	if (pg_strcasecmp(name, "windows-1251") == 0 || pg_strcasecmp(name, "cp1251") == 0)
		enc = PG_WIN1251;
	if (pg_strcasecmp(name, "utf-8") == 0)
		enc = PG_UTF8;
	if (enc != PG_UTF8 && enc != PG_WIN1251)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported encoding \"%s\" for a 1C file", name),
				 errhint("Use \"auto\", \"utf-8\" or \"windows-1251\".")));
	return enc;
}

/*
 * crm.detect_1c_encoding(data bytea) RETURNS text: 'UTF8' or 'WIN1251'.
 */
Datum
detect_1c_encoding(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(pg_encoding_to_char(
		DetectEncoding(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data)))));
}

/*
 * crm.decode_1c(data bytea, encoding text DEFAULT 'auto') RETURNS text
 * The file as text of the database (UTF-8), without a byte-order mark.
 * Bytes that are not valid in the encoding are an error (22021); so is a NUL.
 */
Datum
decode_1c(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const char *s = VARDATA_ANY(data);
	int			len = VARSIZE_ANY_EXHDR(data);
	int			enc = EncodingArg(PG_GETARG_TEXT_PP(1), s, len);
	char	   *out;

	if (enc == PG_UTF8 && HasUtf8Bom(s, len))
	{
		s += 3;
		len -= 3;
	}
	if (memchr(s, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the file contains a NUL byte"),
				 errdetail("A text file from 1C never does; this one may be binary or UTF-16."),
				 errhint("Save it from 1C as text in UTF-8 or windows-1251.")));
	if (enc == PG_UTF8)
	{
		pg_verify_mbstr(PG_UTF8, s, len, false);
		PG_RETURN_TEXT_P(cstring_to_text_with_len(s, len));
	}
	out = (char *) pg_do_encoding_conversion((unsigned char *) s, len, enc, GetDatabaseEncoding());
	if (out == s)
		PG_RETURN_TEXT_P(cstring_to_text_with_len(s, len));
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/* ---- CSV --------------------------------------------------------------------- */

typedef struct ColumnSpec
{
	char	   *label;			/* the first name, for messages */
	char	  **names;			/* alternatives */
	int			nnames;
	bool		optional;
	int			field;			/* index in the record, or -1 */
} ColumnSpec;

/* "?Name|Other name" -> optional, two alternatives */
static void
ParseSpec(ColumnSpec *spec, char *s)
{
	char	   *p;
	int			n = 1;

	spec->optional = (*s == '?');
	if (spec->optional)
		s++;
	for (p = s; *p; p++)
		if (*p == '|')
			n++;
	spec->names = palloc(n * sizeof(char *));
	spec->nnames = 0;
	for (p = strtok(s, "|"); p != NULL; p = strtok(NULL, "|"))
		spec->names[spec->nnames++] = p;
	if (spec->nnames == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an empty column name was asked for")));
	spec->label = spec->names[0];
	spec->field = -1;
}

/*
 * crm.csv_read(data text, columns text[], delimiter text DEFAULT ';')
 *   RETURNS SETOF record (line_no integer, problem text, <one text per column>)
 *
 * The first record is the header.  Each requested column is found in it by
 * name ("?" before it: optional; "|" between alternative names; compared as
 * crm_csv_header_equal does); a missing required column is an error 22P04.
 * Every further record gives a row: its line, NULL or what is wrong with its
 * shape (a field count other than the header's), and the values of the
 * requested columns, an empty field as NULL.  A quoted field that never ends
 * is an error 22P04.  The caller gives the column definition list.
 */
Datum
csv_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *data = PG_GETARG_TEXT_PP(0);
	ArrayType  *cols = PG_GETARG_ARRAYTYPE_P(1);
	char	   *delim = text_to_cstring(PG_GETARG_TEXT_PP(2));
	Datum	   *colnames;
	bool	   *colnulls;
	int			ncols;
	ColumnSpec *specs;
	CrmCsvReader reader;
	CrmCsvField *fields;
	int			nfields;
	int			nheader;
	unsigned	line;
	CrmCsvStatus st;
	TupleDesc	tupdesc;
	Datum	   *values;
	bool	   *nulls;
	char	   *buf;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	StringInfoData found;

	if (strlen(delim) != 1 || delim[0] == '"' || delim[0] == '\n' || delim[0] == '\r')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the CSV delimiter must be one character other than a quote or line break")));
	deconstruct_array(cols, TEXTOID, -1, false, TYPALIGN_INT, &colnames, &colnulls, &ncols);
	if (ncols < 1 || ncols > CSV_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("between 1 and %d columns may be asked for", CSV_MAX_COLUMNS)));
	specs = palloc(ncols * sizeof(ColumnSpec));
	for (int i = 0; i < ncols; i++)
	{
		if (colnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a column name is NULL")));
		ParseSpec(&specs[i], TextDatumGetCString(colnames[i]));
	}

	InitMaterializedSRF(fcinfo, 0);
	tupdesc = rsinfo->setDesc;
	if (tupdesc->natts != ncols + 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the column definition list has %d columns, %d are needed", tupdesc->natts, ncols + 2),
				 errhint("Give line_no integer, problem text and one text column per requested column.")));
	if (TupleDescAttr(tupdesc, 0)->atttypid != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the first column of the result must be integer")));
	for (int i = 1; i < tupdesc->natts; i++)
		if (TupleDescAttr(tupdesc, i)->atttypid != TEXTOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column %d of the result must be text", i + 1)));

	crm_csv_init(&reader, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), delim[0]);
	fields = palloc(CSV_MAX_FIELDS * sizeof(CrmCsvField));
	buf = palloc(VARSIZE_ANY_EXHDR(data) + 1);

	/* the header */
	st = crm_csv_next(&reader, fields, CSV_MAX_FIELDS, &nheader, &line);
	if (st == CRM_CSV_EOF)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("the CSV data is empty"),
				 errdetail("A file from 1C starts with a header line naming its columns.")));
	if (st == CRM_CSV_UNTERMINATED)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("unterminated quoted field in the CSV header"),
				 errdetail("The quoted field starts on line %u and never ends.", line)));
	if (nheader > CSV_MAX_FIELDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the CSV header has %d columns, at most %d are read", nheader, CSV_MAX_FIELDS)));
	initStringInfo(&found);
	for (int f = 0; f < nheader; f++)
	{
		size_t		len = crm_csv_value(&reader, &fields[f], buf);

		if (f > 0)
			appendStringInfoString(&found, "; ");
		appendBinaryStringInfo(&found, buf, len);
		for (int i = 0; i < ncols; i++)
			for (int a = 0; a < specs[i].nnames; a++)
				if (crm_csv_header_equal(buf, len, specs[i].names[a], strlen(specs[i].names[a])))
				{
					if (specs[i].field >= 0 && specs[i].field != f)
						ereport(ERROR,
								(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
								 errmsg("column \"%s\" appears twice in the CSV header", specs[i].label),
								 errdetail("The header has: %s.", found.data)));
					specs[i].field = f;
				}
	}
	for (int i = 0; i < ncols; i++)
		if (specs[i].field < 0 && !specs[i].optional)
		{
			StringInfoData names;

			initStringInfo(&names);
			for (int a = 0; a < specs[i].nnames; a++)
				appendStringInfo(&names, "%s\"%s\"", a > 0 ? " or " : "", specs[i].names[a]);
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("column \"%s\" is missing from the CSV header", specs[i].label),
					 errdetail("The header has: %s.", found.data),
					 errhint("The column may be called %s.", names.data)));
		}

	values = palloc(tupdesc->natts * sizeof(Datum));
	nulls = palloc(tupdesc->natts * sizeof(bool));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "crm csv row", ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		st = crm_csv_next(&reader, fields, CSV_MAX_FIELDS, &nfields, &line);
		if (st == CRM_CSV_EOF)
			break;
		if (st == CRM_CSV_UNTERMINATED)
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("unterminated quoted field in the CSV data"),
					 errdetail("The quoted field starts on line %u and never ends.", line),
					 errhint("A quote inside a quoted field is written twice.")));
		oldcxt = MemoryContextSwitchTo(rowcxt);
		values[0] = Int32GetDatum((int32) line);
		nulls[0] = false;
		if (nfields != nheader)
		{
			values[1] = CStringGetTextDatum(psprintf("the record has %d fields, the header has %d",
													 nfields, nheader));
			nulls[1] = false;
		}
		else
			nulls[1] = true;
		for (int i = 0; i < ncols; i++)
		{
			int			f = specs[i].field;
			size_t		len;

			nulls[i + 2] = true;
			if (f < 0 || f >= nfields || f >= CSV_MAX_FIELDS)
				continue;
			len = crm_csv_value(&reader, &fields[f], buf);
			if (len == 0)
				continue;
			values[i + 2] = PointerGetDatum(cstring_to_text_with_len(buf, len));
			nulls[i + 2] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, tupdesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
		CHECK_FOR_INTERRUPTS();
	}
	return (Datum) 0;
}

/* ---- numbers and dates ------------------------------------------------------------ */

/*
 * crm.parse_1c_number(text) RETURNS numeric, NULL when it is not a number.
 * 1C writes "1 234 567,89" (spaces or no-break spaces between thousands, a
 * comma before the fraction); "1234567.89" and a leading minus are taken
 * too.  At most 28 digits.
 */
Datum
parse_1c_number(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const unsigned char *s = (const unsigned char *) VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	char		out[40];
	int			o = 0;
	int			digits = 0;
	bool		point = false;
	bool		digit_after_point = false;

	for (int i = 0; i < len; i++)
	{
		unsigned char c = s[i];

		if (c == ' ' || c == '\t')
			continue;
		if (c == 0xC2 && i + 1 < len && s[i + 1] == 0xA0)	/* U+00A0 */
		{
			i++;
			continue;
		}
		if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0xAF || s[i + 2] == 0x89))	/* U+202F, U+2009 */
		{
			i += 2;
			continue;
		}
		if (c == '-' && o == 0)
			out[o++] = '-';
		else if (c >= '0' && c <= '9')
		{
			if (++digits > 28)
				PG_RETURN_NULL();
			out[o++] = (char) c;
			if (point)
				digit_after_point = true;
		}
		else if ((c == ',' || c == '.') && !point && digits > 0)
		{
			point = true;
			out[o++] = '.';
		}
		else
			PG_RETURN_NULL();
	}
	if (digits == 0 || (point && !digit_after_point))
		PG_RETURN_NULL();
	out[o] = '\0';
	PG_RETURN_DATUM(DirectFunctionCall3(numeric_in, CStringGetDatum(out),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

static bool
ReadInt(const char *s, int len, int *pos, int mindigits, int maxdigits, int *value)
{
	int			n = 0;

	*value = 0;
	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9' && n < maxdigits)
	{
		*value = *value * 10 + (s[*pos] - '0');
		(*pos)++;
		n++;
	}
	return n >= mindigits;
}

/*
 * crm.parse_1c_date(text) RETURNS date, NULL when it is not a date.
 * "31.12.2024" (1C), "31.12.2024 0:00:00" (1C with time, taken as the date),
 * "2024-12-31" and "2024-12-31T10:00:00" (ISO, XML).  The day must exist.
 */
Datum
parse_1c_date(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			p = 0;
	int			y,
				m,
				d;

	while (p < len && s[p] == ' ')
		p++;
	while (len > p && s[len - 1] == ' ')
		len--;
	if (len - p >= 10 && s[p + 4] == '-')
	{
		if (!ReadInt(s, len, &p, 4, 4, &y) || p >= len || s[p++] != '-' ||
			!ReadInt(s, len, &p, 2, 2, &m) || p >= len || s[p++] != '-' ||
			!ReadInt(s, len, &p, 2, 2, &d))
			PG_RETURN_NULL();
		if (p < len && s[p] != 'T' && s[p] != ' ')
			PG_RETURN_NULL();
	}
	else
	{
		if (!ReadInt(s, len, &p, 1, 2, &d) || p >= len || s[p++] != '.' ||
			!ReadInt(s, len, &p, 1, 2, &m) || p >= len || s[p++] != '.' ||
			!ReadInt(s, len, &p, 4, 4, &y))
			PG_RETURN_NULL();
		if (p < len && s[p] != ' ')
			PG_RETURN_NULL();
	}
	/* what follows is a time of day, which a date does not keep */
	for (; p < len; p++)
		if (!((s[p] >= '0' && s[p] <= '9') || s[p] == ':' || s[p] == ' ' || s[p] == 'T' ||
			  s[p] == '.' || s[p] == 'Z' || s[p] == '+' || s[p] == '-'))
			PG_RETURN_NULL();
	if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(date2j(y, m, d) - POSTGRES_EPOCH_JDATE);
}

/*
 * crm.parse_1c_month(text) RETURNS date: a month without a day, as a best
 * before is often written -- "06.2032", "6.2032", "2032-06" -- as the first
 * day of that month; NULL when it is not one.
 */
Datum
parse_1c_month(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(in);
	int			len = VARSIZE_ANY_EXHDR(in);
	int			p = 0;
	int			y,
				m;

	while (p < len && s[p] == ' ')
		p++;
	while (len > p && s[len - 1] == ' ')
		len--;
	if (len - p >= 6 && s[p + 4] == '-')
	{
		if (!ReadInt(s, len, &p, 4, 4, &y) || p >= len || s[p++] != '-' || !ReadInt(s, len, &p, 1, 2, &m))
			PG_RETURN_NULL();
	}
	else if (!ReadInt(s, len, &p, 1, 2, &m) || p >= len || s[p++] != '.' || !ReadInt(s, len, &p, 4, 4, &y))
		PG_RETURN_NULL();
	if (p != len || y < 1900 || y > 2999 || m < 1 || m > 12)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(date2j(y, m, 1) - POSTGRES_EPOCH_JDATE);
}

/* ---- crm.load_1c ------------------------------------------------------------------ */

/*
 * CALL crm.load_1c(kind text, data bytea, file_name text, encoding text)
 *
 * crm.import_1c() loads the file or, when any record is invalid, loads
 * nothing and records the report; it never fails for bad records.  This
 * procedure fails then, with the SQLSTATE of the first rejected record and
 * the first reasons in the detail -- after committing the report, when it is
 * called outside a transaction block (a plain CALL), so that the report
 * survives the error.  Inside a transaction block the error rolls the report
 * back with everything else, and the hint says so.
 */
Datum
load_1c(PG_FUNCTION_ARGS)
{
	bool		atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
						   !castNode(CallContext, fcinfo->context)->atomic);
	Oid			argtypes[4] = {TEXTOID, BYTEAOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	char	   *status;
	char	   *sqlstate = NULL;
	char	   *message = NULL;
	char	   *detail = NULL;
	char	   *run_id = NULL;
	Datum		run;
	MemoryContext keep = CurrentMemoryContext;

	for (int i = 0; i < 4; i++)
	{
		if (PG_ARGISNULL(i))
		{
			if (i < 2)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("the kind and the data of a 1C file are required")));
			nulls[i] = 'n';
			values[i] = (Datum) 0;
		}
		else
			values[i] = PG_GETARG_DATUM(i);
	}

	SPI_connect_ext(atomic ? 0 : SPI_OPT_NONATOMIC);
	if (SPI_execute_with_args(
		"SELECT r.status, r.id, r.sqlstate, "
		"  pg_catalog.format('1C import of %s rejected: %s of %s records are invalid', "
		"         coalesce(pg_catalog.quote_literal(NULLIF(r.file_name, '')), r.kind || ' data'), "
		"         r.rejected, r.records) "
		"FROM crm.import_1c($1, $2, coalesce($3, ''), coalesce($4, 'auto')) r",
		4, argtypes, values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm.import_1c() returned no run");

	/* what the error needs, kept where a commit does not free it */
	{
		MemoryContext old = MemoryContextSwitchTo(keep);
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		status = SPI_getvalue(tup, desc, 1);
		run_id = SPI_getvalue(tup, desc, 2);
		run = SPI_getbinval(tup, desc, 2, &isnull);
		sqlstate = SPI_getvalue(tup, desc, 3);
		message = SPI_getvalue(tup, desc, 4);
		MemoryContextSwitchTo(old);
	}
	if (strcmp(status, "rejected") == 0)
	{
		Oid			runtype[1] = {INT8OID};

		/* the first reasons, in a statement of their own that sees the report */
		if (SPI_execute_with_args(
			"SELECT pg_catalog.string_agg(pg_catalog.format('line %s%s: %s', e.line_no, "
			"         coalesce(' (' || e.natural_key || ')', ''), pg_catalog.array_to_string(e.reasons, '; ')), "
			"         E'\\n' ORDER BY e.line_no, e.id) "
			"FROM (SELECT * FROM crm.migration_error x WHERE x.run_id = $1 ORDER BY x.line_no, x.id LIMIT 10) e",
			1, runtype, &run, NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			MemoryContext old = MemoryContextSwitchTo(keep);

			detail = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			MemoryContextSwitchTo(old);
		}
	}

	if (strcmp(status, "rejected") == 0)
	{
		int			code = ERRCODE_DATA_EXCEPTION;

		if (sqlstate != NULL && strlen(sqlstate) == 5)
			code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
		if (!atomic)
		{
			SPI_commit();
			SPI_start_transaction();	/* a no-op since PostgreSQL 15, needed before */
		}
		SPI_finish();
		ereport(ERROR,
				(errcode(code),
				 errmsg("%s", message),
				 errdetail("%s", detail ? detail : ""),
				 atomic ?
				 errhint("Nothing was loaded.  Inside a transaction block this error also undoes the report; "
						 "CALL crm.load_1c() on its own, or use crm.import_1c(), to keep it.") :
				 errhint("Nothing was loaded.  The report: SELECT * FROM crm.migration_error WHERE run_id = %s;",
						 run_id)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}
