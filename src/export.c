/*
 * export.c
 *	  Marketing exports of a segment (R27, R28): an Excel workbook written with
 *	  libxlsxwriter, or UTF-8 CSV, in one of two layouts -- MailChimp's import
 *	  columns or a telephone-marketing list -- returned as bytea.
 *
 * The rows come from crm.segment_members() through an SPI cursor, a batch at
 * a time, so a large segment never sits in memory twice.  libxlsxwriter keeps
 * to malloc and writes to a file: the workbook is written in constant-memory
 * mode into PostgreSQL's temporary-file directory (base/pgsql_tmp, named with
 * the pgsql_tmp prefix so that a crash leaves nothing the server does not
 * clean up at restart), read back into a palloc'd bytea and unlinked.  Every
 * error path frees the workbook and removes the file before the error leaves
 * this file.
 *
 * crm.export_segment() runs with the caller's rights.  crm.export_segment_as()
 * is for the scheduled exports (crm.run_export_schedules): it produces the
 * file with the rights of the employee who asked for it, switching the
 * current user around the query as pg_cron does for its jobs.
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/pg_tablespace_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include <xlsxwriter.h>

#include "export_name.h"

PG_FUNCTION_INFO_V1(export_segment);
PG_FUNCTION_INFO_V1(export_segment_as);
PG_FUNCTION_INFO_V1(person_name);

#define EXPORT_BATCH		1000
#define EXPORT_MAX_COLS		8
#define XLSX_MAX_ROWS		1048576
#define XLSX_MAX_CELL		32767

typedef enum ExportColumnKind
{
	EXPORT_TEXT,
	EXPORT_DATE
} ExportColumnKind;

typedef struct ExportColumn
{
	const char *header;
	ExportColumnKind kind;
	double		width;
} ExportColumn;

typedef struct ExportLayout
{
	const char *name;
	const char *sheet;
	const char *query;			/* $1 = segment id; columns as in cols[] */
	int			ncols;
	ExportColumn cols[EXPORT_MAX_COLS];
} ExportLayout;

/*
 * The layouts.  MailChimp's importer recognises these header names; every
 * address appears once (contact points are unique across the company), and
 * only of a contact who agreed to be mailed (crm.contact.mailing_consent,
 * R26): a mailing list is no place for the others.  The telephone list has
 * one row per contact that has a phone.
 */
static const ExportLayout layouts[] = {
	{
		"mailchimp", "Contacts",
		"SELECT m.email, m.first_name, m.last_name, m.company, m.phone, m.tags "
		"FROM crm.segment_members($1) WITH ORDINALITY AS m "
		"WHERE m.email IS NOT NULL AND m.mailing_consent ORDER BY m.ordinality",
		6,
		{
			{"Email Address", EXPORT_TEXT, 32},
			{"First Name", EXPORT_TEXT, 22},
			{"Last Name", EXPORT_TEXT, 20},
			{"Company", EXPORT_TEXT, 36},
			{"Phone Number", EXPORT_TEXT, 16},
			{"Tags", EXPORT_TEXT, 30}
		}
	},
	{
		"phone", "Обзвон",
		"SELECT m.company, m.contact_name, m.position, m.phones, m.email, m.region, "
		"m.responsible, (m.last_contact_at)::date "
		"FROM crm.segment_members($1) WITH ORDINALITY AS m "
		"WHERE m.phones IS NOT NULL ORDER BY m.ordinality",
		8,
		{
			{"Компания", EXPORT_TEXT, 36},
			{"Контактное лицо", EXPORT_TEXT, 28},
			{"Должность", EXPORT_TEXT, 20},
			{"Телефоны", EXPORT_TEXT, 34},
			{"E-mail", EXPORT_TEXT, 28},
			{"Регион", EXPORT_TEXT, 18},
			{"Ответственный менеджер", EXPORT_TEXT, 24},
			{"Последний контакт", EXPORT_DATE, 16}
		}
	}
};

typedef enum ExportFormat
{
	EXPORT_XLSX,
	EXPORT_CSV
} ExportFormat;

static uint32 export_counter = 0;

static const ExportLayout *
LookupLayout(text *name)
{
	char	   *s = text_to_cstring(name);

	for (size_t i = 0; i < lengthof(layouts); i++)
		if (strcmp(layouts[i].name, s) == 0)
			return &layouts[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown export layout \"%s\"", s),
			 errhint("The layouts are \"mailchimp\" and \"phone\".")));
	return NULL;				/* keep compiler quiet */
}

static ExportFormat
LookupFormat(text *name)
{
	char	   *s = text_to_cstring(name);

	if (strcmp(s, "xlsx") == 0)
		return EXPORT_XLSX;
	if (strcmp(s, "csv") == 0)
		return EXPORT_CSV;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown export format \"%s\"", s),
			 errhint("The formats are \"xlsx\" and \"csv\".")));
	return EXPORT_XLSX;			/* keep compiler quiet */
}

/* The segment must exist (and be readable by the current user). */
static void
CheckSegment(int64 segment)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(segment)};

	if (SPI_execute_with_args("SELECT 1 FROM crm.segment WHERE id = $1",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up segment " INT64_FORMAT, segment);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("segment " INT64_FORMAT " does not exist", segment),
				 errhint("Segments are listed in crm.segment.")));
}

/* ---- CSV ---------------------------------------------------------------- */

/*
 * RFC 4180: a field is quoted when it holds a comma, a quote, a line break or
 * leading/trailing space; quotes are doubled.  A text that a spreadsheet
 * would take for a formula (= @ tab CR, or + - not followed by a digit) gets
 * a leading apostrophe, so that opening the file cannot run anything.
 */
static void
CsvField(StringInfo out, const char *s)
{
	bool		quote = false;
	const char *p;
	size_t		len = strlen(s);

	if (s[0] == '=' || s[0] == '@' || s[0] == '\t' || s[0] == '\r' ||
		((s[0] == '+' || s[0] == '-') && !(s[1] >= '0' && s[1] <= '9')))
	{
		appendStringInfoChar(out, '"');
		appendStringInfoChar(out, '\'');
		quote = true;
	}
	else
	{
		for (p = s; *p; p++)
			if (*p == ',' || *p == '"' || *p == '\n' || *p == '\r')
			{
				quote = true;
				break;
			}
		if (len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
			quote = true;
		if (quote)
			appendStringInfoChar(out, '"');
	}
	for (p = s; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(out, '"');
		appendStringInfoChar(out, *p);
	}
	if (quote)
		appendStringInfoChar(out, '"');
}

/* ---- xlsx --------------------------------------------------------------- */

static void
CheckLxw(lxw_error err, const char *what)
{
	if (err == LXW_NO_ERROR)
		return;
	if (err == LXW_ERROR_WORKSHEET_INDEX_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the export has more rows than an Excel sheet holds"),
				 errdetail("A sheet holds %d rows, the header included.", XLSX_MAX_ROWS),
				 errhint("Export the segment as CSV, or narrow it.")));
	if (err == LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("a value is too long for an Excel cell"),
				 errdetail("A cell holds at most %d characters.", XLSX_MAX_CELL),
				 errhint("Export the segment as CSV.")));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not write the Excel file: %s", what),
			 errdetail("libxlsxwriter: %s.", lxw_strerror(err))));
}

/* The path of a new temporary file in PostgreSQL's temporary directory. */
static void
TempPath(char *dir, char *path)
{
	TempTablespacePath(dir, DEFAULTTABLESPACE_OID);
	/* like fd.c, create the directory on first use */
	if (MakePGDirectory(dir) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	snprintf(path, MAXPGPATH, "%s/%scrm_export.%d.%u.xlsx",
			 dir, PG_TEMP_FILE_PREFIX, MyProcPid, export_counter++);
}

static bytea *
ReadAndRemove(const char *path)
{
	int			fd;
	struct stat st;
	bytea	   *result;
	size_t		done = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	if (fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if ((Size) st.st_size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the Excel file is too large to return"),
				 errdetail("It has %lld bytes; a value holds at most 1 GB.", (long long) st.st_size)));
	result = (bytea *) palloc(st.st_size + VARHDRSZ);
	while (done < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, VARDATA(result) + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		done += n;
	}
	CloseTransientFile(fd);
	unlink(path);
	SET_VARSIZE(result, st.st_size + VARHDRSZ);
	return result;
}

/* ---- the export --------------------------------------------------------- */

typedef struct ExportResult
{
	bytea	   *content;
	int64		rows;
} ExportResult;

/* What the row writer needs; lives in memory (its address is taken). */
typedef struct ExportState
{
	const ExportLayout *layout;
	ExportFormat format;
	int64		segment;
	StringInfo	csv;			/* CSV: the file being built */
	lxw_worksheet *ws;			/* xlsx: the sheet */
	lxw_format *date_fmt;
	MemoryContext rowcxt;
	int64		rows;
	bytea	   *content;		/* the finished file */
} ExportState;

/* Runs the layout's query through a cursor and writes every row. */
static void
WriteRows(ExportState *st)
{
	const ExportLayout *layout = st->layout;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(st->segment)};
	MemoryContext spicxt = CurrentMemoryContext;
	Portal		portal;

	portal = SPI_cursor_open_with_args(NULL, layout->query, 1, argtypes, values, NULL, true, 0);
	for (;;)
	{
		TupleDesc	desc;

		SPI_cursor_fetch(portal, true, EXPORT_BATCH);
		if (SPI_processed == 0)
			break;
		desc = SPI_tuptable->tupdesc;
		if (desc->natts != layout->ncols)
			elog(ERROR, "export query returned %d columns, expected %d", desc->natts, layout->ncols);
		MemoryContextSwitchTo(st->rowcxt);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			int64		row = ++st->rows;

			if (st->format == EXPORT_XLSX && row >= XLSX_MAX_ROWS)
				CheckLxw(LXW_ERROR_WORKSHEET_INDEX_OUT_OF_RANGE, "row");
			for (int c = 0; c < layout->ncols; c++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tup, desc, c + 1, &isnull);

				if (st->format == EXPORT_CSV && c > 0)
					appendStringInfoChar(st->csv, ',');
				if (isnull)
					continue;
				if (layout->cols[c].kind == EXPORT_DATE)
				{
					DateADT		date = DatumGetDateADT(d);
					int			y,
								m,
								dd;

					if (DATE_NOT_FINITE(date))
						continue;
					j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
					if (st->format == EXPORT_XLSX)
					{
						lxw_datetime dt = {y, m, dd, 0, 0, 0};

						CheckLxw(worksheet_write_datetime(st->ws, row, c, &dt, st->date_fmt), "date");
					}
					else
						appendStringInfo(st->csv, "%04d-%02d-%02d", y, m, dd);
				}
				else
				{
					char	   *s = TextDatumGetCString(d);

					if (st->format == EXPORT_XLSX)
						CheckLxw(worksheet_write_string(st->ws, row, c, s, NULL), "cell");
					else
						CsvField(st->csv, s);
				}
			}
			if (st->format == EXPORT_CSV)
				appendStringInfoString(st->csv, "\r\n");
		}
		MemoryContextSwitchTo(spicxt);
		MemoryContextReset(st->rowcxt);
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

/*
 * Exports the segment in the layout and format.  Called inside SPI; the
 * result is allocated in the caller's context (SPI_palloc).
 */
static ExportResult
RunExport(int64 segment, const ExportLayout *layout, ExportFormat format)
{
	ExportResult res = {NULL, 0};
	ExportState st;
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH];
	lxw_workbook *volatile wb = NULL;
	volatile bool file_made = false;
	StringInfoData csv;
	bytea	   *content = NULL;

	CheckSegment(segment);
	memset(&st, 0, sizeof(st));
	st.layout = layout;
	st.format = format;
	st.segment = segment;
	st.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "crm export rows", ALLOCSET_DEFAULT_SIZES);

	if (format == EXPORT_CSV)
	{
		initStringInfo(&csv);
		st.csv = &csv;
		for (int c = 0; c < layout->ncols; c++)
		{
			if (c > 0)
				appendStringInfoChar(&csv, ',');
			CsvField(&csv, layout->cols[c].header);
		}
		appendStringInfoString(&csv, "\r\n");
		WriteRows(&st);
		content = (bytea *) palloc(csv.len + VARHDRSZ);
		memcpy(VARDATA(content), csv.data, csv.len);
		SET_VARSIZE(content, csv.len + VARHDRSZ);
	}
	else
	{
		TempPath(dir, path);
		PG_TRY();
		{
			lxw_workbook_options opts = {.constant_memory = LXW_TRUE,.tmpdir = dir,.use_zip64 = LXW_FALSE};
			lxw_format *head_fmt;
			lxw_workbook *w;

			file_made = true;
			wb = workbook_new_opt(path, &opts);
			if (wb == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not start an Excel workbook")));
			st.ws = workbook_add_worksheet(wb, layout->sheet);
			head_fmt = workbook_add_format(wb);
			st.date_fmt = workbook_add_format(wb);
			if (st.ws == NULL || head_fmt == NULL || st.date_fmt == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not start an Excel worksheet")));
			format_set_bold(head_fmt);
			format_set_num_format(st.date_fmt, "dd.mm.yyyy");
			for (int c = 0; c < layout->ncols; c++)
			{
				CheckLxw(worksheet_set_column(st.ws, c, c, layout->cols[c].width, NULL), "column width");
				CheckLxw(worksheet_write_string(st.ws, 0, c, layout->cols[c].header, head_fmt), "header");
			}
			worksheet_freeze_panes(st.ws, 1, 0);

			WriteRows(&st);

			if (st.rows > 0)
				CheckLxw(worksheet_autofilter(st.ws, 0, 0, st.rows, layout->ncols - 1), "filter");
			w = wb;
			wb = NULL;			/* workbook_close frees it, whatever it returns */
			CheckLxw(workbook_close(w), "closing the workbook");
			st.content = ReadAndRemove(path);
			file_made = false;
		}
		PG_CATCH();
		{
			if (wb != NULL)
				lxw_workbook_free(wb);
			if (file_made)
				unlink(path);
			PG_RE_THROW();
		}
		PG_END_TRY();
		content = st.content;
	}

	/* hand the result to the caller's context before SPI_finish frees ours */
	res.content = (bytea *) SPI_palloc(VARSIZE(content));
	memcpy(res.content, content, VARSIZE(content));
	res.rows = st.rows;
	MemoryContextDelete(st.rowcxt);
	return res;
}

/*
 * crm.export_segment(segment bigint, layout text, format text) RETURNS bytea
 */
Datum
export_segment(PG_FUNCTION_ARGS)
{
	int64		segment = PG_GETARG_INT64(0);
	const ExportLayout *layout = LookupLayout(PG_GETARG_TEXT_PP(1));
	ExportFormat format = LookupFormat(PG_GETARG_TEXT_PP(2));
	ExportResult res;

	SPI_connect();
	res = RunExport(segment, layout, format);
	SPI_finish();
	PG_RETURN_BYTEA_P(res.content);
}

/*
 * crm.export_segment_as(employee integer, segment bigint, layout text,
 *                       format text, OUT content bytea, OUT row_count bigint)
 *
 * The export with the rights of an employee: the current user is that
 * employee's role while the rows are read, so row-level security sees them.
 * Not executable by PUBLIC; crm.run_export_schedules() calls it.
 */
Datum
export_segment_as(PG_FUNCTION_ARGS)
{
	int32		employee = PG_GETARG_INT32(0);
	int64		segment = PG_GETARG_INT64(1);
	const ExportLayout *layout = LookupLayout(PG_GETARG_TEXT_PP(2));
	ExportFormat format = LookupFormat(PG_GETARG_TEXT_PP(3));
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(employee)};
	Oid			save_userid;
	int			save_sec;
	Oid			roleid;
	char	   *rolename;
	ExportResult *res = palloc(sizeof(ExportResult));
	TupleDesc	tupdesc;
	Datum		out[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	SPI_connect();
	if (SPI_execute_with_args("SELECT e.role_name::text FROM crm.employee e WHERE e.id = $1 AND e.active",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up employee %d", employee);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("employee %d is not an active employee", employee),
				 errdetail("A scheduled export is produced with the rights of the employee who asked for it.")));
	rolename = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	roleid = get_role_oid(rolename, false);
	if (!has_privs_of_role(roleid, get_role_oid("crm_marketing", false)) &&
		!has_privs_of_role(roleid, get_role_oid("crm_admin", false)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not export segments", rolename),
				 errdetail("Scheduled exports belong to marketing and the administrator.")));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(roleid, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		*res = RunExport(segment, layout, format);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	SPI_finish();

	out[0] = PointerGetDatum(res->content);
	out[1] = Int64GetDatum(res->rows);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, nulls)));
}

/*
 * crm.person_name(full_name text, OUT first_name text, OUT last_name text)
 * First name (with patronymic) and last name for a mailing; see export_name.h.
 */
Datum
person_name(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	char	   *first = palloc(len + 1);
	char	   *last = palloc(len + 1);
	TupleDesc	tupdesc;
	Datum		out[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	crm_split_person_name(VARDATA_ANY(in), len, first, last);
	out[0] = CStringGetTextDatum(first);
	out[1] = CStringGetTextDatum(last);
	nulls[0] = first[0] == '\0';
	nulls[1] = last[0] == '\0';
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, out, nulls)));
}
