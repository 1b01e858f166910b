/*
 * miko.c
 *	  CALL crm.miko_poll(): every call of the PBX is recorded (R4).
 *
 *	  Reads GET /pbxcore/api/v3/cdr (Authorization: Bearer <key>) with
 *	  grouped=false, sort=id, order=ASC, dateFrom = the watermark minus an
 *	  overlap (miko.overlap_minutes), limit = miko.page_size (at most 1000)
 *	  and offset, page after page, with no transaction work and no lock.
 *	  The rows (legs) are grouped by linkedid -- one linkedid, one call,
 *	  however many legs -- and each call is handed to crm.ingest_call
 *	  through crm.miko_handle_call, in transactions of up to 500 calls; a
 *	  call handed before with the same legs is skipped, so re-reading the
 *	  overlap never duplicates.  The watermark (latest call start, last row
 *	  id) is saved with the run's outcome.  503 (the PBX's queue is full)
 *	  and other transient failures back off; 401/403 stop the job with the
 *	  error recorded for the DBA.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "integration.h"
#include "json.h"

PG_FUNCTION_INFO_V1(crm_miko_poll);

/*
 * Each call is handed in its own subtransaction; a subtransaction's end
 * walks the locks its transaction holds (intake takes advisory locks per
 * call), so a transaction of many calls costs in the square of their number:
 * a few hundred per transaction is the sweet spot.
 */
#define CALLS_PER_TRANSACTION 250

typedef struct FetchArgs
{
	CrmHttpRequest *req;
	CrmHttpResponse *resp;
	CrmPeerError *err;
} FetchArgs;

static void
GuardedFetch(void *arg)
{
	FetchArgs  *a = (FetchArgs *) arg;

	a->err = HttpPerform(a->req, a->resp);
}

static int
CdrOrder(const void *a, const void *b)
{
	const CrmCdr *x = *(const CrmCdr *const *) a;
	const CrmCdr *y = *(const CrmCdr *const *) b;
	int			c = strcmp(x->linkedid, y->linkedid);

	if (c != 0)
		return c;
	c = strcmp(x->start, y->start);
	if (c != 0)
		return c;
	return (x->id > y->id) - (x->id < y->id);
}

/* "YYYY-MM-DD HH:MM:SS" at the start, with plausible fields. */
static bool
PlausibleTime(const char *s)
{
	int			i;
	static const char shape[] = "dddd-dd-dd dd:dd:dd";

	for (i = 0; shape[i]; i++)
	{
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : (s[i] != shape[i] && !(i == 10 && s[i] == 'T')))
			return false;
	}
	return strncmp(s + 5, "13", 2) < 0 && strncmp(s + 5, "01", 2) >= 0 &&
		strncmp(s + 8, "32", 2) < 0 && strncmp(s + 8, "01", 2) >= 0 &&
		strncmp(s + 11, "24", 2) < 0 && strncmp(s + 14, "60", 2) < 0 && strncmp(s + 17, "60", 2) < 0;
}

static bool
Answered(const CrmCdr *c)
{
	return strcmp(c->disposition, "ANSWERED") == 0 || strcmp(c->disposition, "ANSWER") == 0 || c->billsec > 0;
}

/* The SQL plan that hands one call; prepared once per backend. */
static SPIPlanPtr handle_plan = NULL;

static void
PrepareHandle(void)
{
	Oid			types[13] = {TEXTOID, INT4OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};

	if (handle_plan != NULL)
		return;
	handle_plan = SPI_prepare("SELECT crm.miko_handle_call($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
							  13, types);
	if (handle_plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(handle_plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
}

/* One leg as JSON: the fields of the CDR row crm read. */
static void
AppendLeg(StringInfo buf, const CrmCdr *c)
{
	const char *names[] = {"linkedid", "start", "answer", "endtime", "src_num", "dst_num", "did",
	"disposition", "recordingfile"};
	const char *values[] = {c->linkedid, c->start, c->answer, c->endtime, c->src_num, c->dst_num, c->did,
	c->disposition, c->recordingfile};
	int			i;

	appendStringInfo(buf, "{\"id\": " INT64_FORMAT, c->id);
	for (i = 0; i < (int) lengthof(names); i++)
	{
		appendStringInfo(buf, ", \"%s\": ", names[i]);
		escape_json(buf, values[i]);
	}
	appendStringInfo(buf, ", \"duration\": %d, \"billsec\": %d}", c->duration, c->billsec);
}

/* A call was put in quarantine: its legs go with it. */
static void
QuarantineLegs(const char *linkedid, CrmCdr **legs, int n, StringInfo buf)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			i;

	resetStringInfo(buf);
	appendStringInfoChar(buf, '[');
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		AppendLeg(buf, legs[i]);
	}
	appendStringInfoChar(buf, ']');
	values[0] = CStringGetTextDatum(linkedid);
	values[1] = CStringGetTextDatum(buf->data);
	CrmSpiExec("SELECT crm.miko_quarantine_legs($1, $2::jsonb)", 2, types, values, NULL, SPI_OK_SELECT);
	SPI_freetuptable(SPI_tuptable);
}

typedef struct HandArgs
{
	CrmRun	   *run;
	CrmCdr	  **rows;			/* sorted by linkedid, start, id */
	int			nrows;
	int			next;			/* the first row not handed yet */
	const char *tz;
	StringInfoData legs;
} HandArgs;

/* Hands the next CALLS_PER_TRANSACTION calls (a guarded step). */
static void
HandCalls(void *arg)
{
	HandArgs   *h = (HandArgs *) arg;
	CrmCdr	  **rows = h->rows;
	int			ncalls = 0;
	int			i;

	while (h->next < h->nrows && ncalls < CALLS_PER_TRANSACTION)
	{
		int			start = h->next;
		int			end = start;
		CrmCdr	   *first = rows[start];
		const char *called = NULL;
		const char *answered = "";
		const char *ended = "";
		const char *disposition;
		const char *recording = "";
		int			duration = 0;
		int			billsec = 0;
		int64		last_id = 0;
		Datum		values[13];
		char		nulls[13];
		int			rc;
		bool		isnull;
		char	   *outcome;
		bool		any_answered = false;

		while (end < h->nrows && strcmp(rows[end]->linkedid, first->linkedid) == 0)
			end++;
		for (i = start; i < end; i++)
		{
			CrmCdr	   *c = rows[i];

			if (called == NULL && c->did[0] != '\0')
				called = c->did;
			if (Answered(c))
			{
				any_answered = true;
				if (c->answer[0] != '\0' && (answered[0] == '\0' || strcmp(c->answer, answered) < 0))
					answered = c->answer;
				billsec += c->billsec;
				if (recording[0] == '\0' && c->recordingfile[0] != '\0')
					recording = c->recordingfile;
			}
			if (c->endtime[0] != '\0' && strcmp(c->endtime, ended) > 0)
				ended = c->endtime;
			duration = Max(duration, c->duration);
			last_id = Max(last_id, c->id);
		}
		if (called == NULL)
			called = first->dst_num;
		disposition = any_answered ? "ANSWERED" : rows[end - 1]->disposition;
		if (recording[0] == '\0')
			for (i = start; i < end && recording[0] == '\0'; i++)
				recording = rows[i]->recordingfile;

		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(first->linkedid);
		values[1] = Int32GetDatum(end - start);
		values[2] = Int64GetDatum(last_id);
		values[3] = CStringGetTextDatum(first->src_num);
		values[4] = CStringGetTextDatum(called);
		values[5] = CStringGetTextDatum(first->start);
		values[6] = CStringGetTextDatum(answered);
		values[7] = CStringGetTextDatum(ended);
		values[8] = Int32GetDatum(duration);
		values[9] = Int32GetDatum(billsec);
		values[10] = CStringGetTextDatum(disposition);
		values[11] = CStringGetTextDatum(recording);
		values[12] = CStringGetTextDatum(h->tz);
		rc = SPI_execute_plan(handle_plan, values, nulls, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "crm.miko_handle_call failed: %s", SPI_result_code_string(rc));
		outcome = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		CrmRunCount(h->run, "calls", 1);
		CrmRunCount(h->run, strcmp(outcome, "ingested") == 0 ? "ingested" :
					strcmp(outcome, "unchanged") == 0 ? "unchanged" : "quarantined", 1);
		if (strcmp(outcome, "quarantined") == 0)
			QuarantineLegs(first->linkedid, rows + start, end - start, &h->legs);
		for (i = 0; i < 13; i++)
			if (i != 1 && i != 2 && i != 8 && i != 9)
				pfree(DatumGetPointer(values[i]));
		pfree(outcome);
		h->next = end;
		ncalls++;
	}
}

Datum
crm_miko_poll(PG_FUNCTION_ARGS)
{
	CrmRun		run;
	const char *base;
	const char *key;
	const char *tz;
	int			page_size;
	int			max_pages;
	char	   *date_from;
	CrmCdr	  **rows = NULL;
	int			nrows = 0;
	int			cap = 0;
	int			page;
	int			offset = 0;
	bool		cut_off = false;
	char	   *last_page_min_start = NULL;
	char	   *max_start = NULL;
	int64		max_id = 0;
	char	   *watermark = NULL;
	MemoryContext pagecxt;
	int			i;

	CrmProcedureCheck(fcinfo, "crm.miko_poll()");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	if (!CrmRunBegin(&run, "miko"))
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	MemoryContextSwitchTo(run.cxt);
	/* the PBX is only read and every call is handed idempotently */
	CrmRunCommitAsync();
	base = CrmRunSetting(&run, "url");
	key = CrmRunSetting(&run, "api_key");
	page_size = CrmRunSettingInt(&run, "page_size");
	max_pages = CrmRunSettingInt(&run, "max_pages");

	/* the PBX's time zone and the poll's dateFrom */
	{
		Oid			types[4] = {TEXTOID, INT4OID, INT4OID, TEXTOID};
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};

		values[0] = run.watermark ? CStringGetTextDatum(run.watermark) : (Datum) 0;
		nulls[0] = run.watermark ? ' ' : 'n';
		values[1] = Int32GetDatum(CrmRunSettingInt(&run, "overlap_minutes"));
		values[2] = Int32GetDatum(CrmRunSettingInt(&run, "initial_days"));
		values[3] = CStringGetTextDatum(CrmRunSetting(&run, "timezone") ? CrmRunSetting(&run, "timezone") : "");
		CrmSpiExec("WITH z AS (SELECT COALESCE(NULLIF($4, ''), current_setting('TimeZone')) AS tz) "
				   "SELECT z.tz, crm.miko_date_from($1::jsonb, $2, $3, z.tz) FROM z",
				   4, types, values, nulls, SPI_OK_SELECT);
		tz = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		date_from = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		SPI_freetuptable(SPI_tuptable);
		CrmCommit();
	}

	/* read every page, holding nothing */
	pagecxt = AllocSetContextCreate(run.cxt, "crm miko page", ALLOCSET_DEFAULT_SIZES);
	for (page = 0; page < max_pages; page++)
	{
		CrmHttpRequest req;
		CrmHttpResponse resp;
		FetchArgs	args;
		ErrorData  *edata;
		CrmCdrPage cdr;
		char	   *bad;
		MemoryContext old;

		MemoryContextReset(pagecxt);
		old = MemoryContextSwitchTo(pagecxt);
		memset(&req, 0, sizeof(req));
		req.peer = "MikoPBX";
		req.method = "GET";
		req.url = psprintf("%s/pbxcore/api/v3/cdr?dateFrom=%s&limit=%d&offset=%d&grouped=false&sort=id&order=ASC",
						   base, HttpEscape(date_from), page_size, offset);
		req.bearer = key;
		req.ca_file = CrmRunSetting(&run, "ca_file");
		req.secrets = run.secrets;
		args.req = &req;
		args.resp = &resp;
		args.err = NULL;
		CrmRunCount(&run, "requests", 1);
		edata = CrmGuard(&run, GuardedFetch, &args);
		if (edata)
			CrmRunRethrow(&run, edata, NULL);
		if (args.err)
			CrmRunFail(&run, args.err, NULL);
		if (resp.status != 200)
			CrmRunFail(&run, HttpStatusError(&req, &resp, JsonMikoMessage(resp.body.data, resp.body.len)), NULL);
		/* the rows outlive the page: parse into the run's context */
		MemoryContextSwitchTo(run.cxt);
		bad = JsonMikoCdrPage(resp.body.data, resp.body.len, &cdr);
		MemoryContextSwitchTo(pagecxt);
		if (bad)
		{
			CrmPeerError *err = PeerErrorMake(ERRCODE_INVALID_JSON_TEXT, true, resp.status,
											  "MikoPBX gave an answer crm cannot read",
											  Redact(psprintf("HTTP 200 from GET %s: %s", req.url, bad), run.secrets));

			err->hint = pstrdup("It is read again later.");
			CrmRunFail(&run, err, NULL);
		}
		MemoryContextSwitchTo(run.cxt);
		if (nrows + cdr.nrecords > cap)
		{
			cap = Max(cap * 2, nrows + cdr.nrecords + 64);
			rows = rows ? repalloc_huge(rows, sizeof(CrmCdr *) * cap) : palloc_extended(sizeof(CrmCdr *) * cap, MCXT_ALLOC_HUGE);
		}
		last_page_min_start = NULL;
		for (i = 0; i < cdr.nrecords; i++)
		{
			CrmCdr	   *c = &cdr.records[i];

			if (c->linkedid[0] == '\0')
				c->linkedid = psprintf("cdr-" INT64_FORMAT, c->id);
			rows[nrows++] = c;
			if (!PlausibleTime(c->start))
				continue;		/* quarantined later; it moves no watermark */
			if (max_start == NULL || strcmp(c->start, max_start) > 0)
				max_start = c->start;
			if (last_page_min_start == NULL || strcmp(c->start, last_page_min_start) < 0)
				last_page_min_start = c->start;
			max_id = Max(max_id, c->id);
		}
		CrmRunCount(&run, "rows", cdr.nrecords);
		MemoryContextSwitchTo(old);
		if (!cdr.has_more || cdr.nrecords == 0)
			break;
		offset += cdr.nrecords;
		if (page + 1 == max_pages)
			cut_off = true;
		else if (!CrmRunKeepLease(&run))
			goto lost;
	}
	MemoryContextSwitchTo(run.cxt);

	/* group the legs by linkedid and hand each call */
	if (nrows > 0)
	{
		HandArgs	h;

		qsort(rows, nrows, sizeof(CrmCdr *), CdrOrder);
		PrepareHandle();
		memset(&h, 0, sizeof(h));
		h.run = &run;
		h.rows = rows;
		h.nrows = nrows;
		h.tz = tz;
		initStringInfo(&h.legs);
		while (h.next < nrows)
		{
			/* up to CALLS_PER_TRANSACTION calls, then commit */
			CrmStep(&run, HandCalls, &h, NULL);
			if (!CrmRunProgress(&run, NULL))
				goto lost;
		}

		/* where the next poll starts: the latest call start seen, or when
		 * this run stopped at max_pages, the earliest start of its last page */
		if (max_start != NULL)
		{
			StringInfoData wm;

			initStringInfo(&wm);
			appendStringInfoString(&wm, "{\"start\": ");
			escape_json(&wm, (cut_off && last_page_min_start) ? last_page_min_start : max_start);
			appendStringInfo(&wm, ", \"id\": " INT64_FORMAT "}", max_id);
			watermark = wm.data;
		}
	}
	{
		Oid			types[1] = {INT4OID};
		Datum		values[1];

		values[0] = Int32GetDatum(Max(CrmRunSettingInt(&run, "overlap_minutes") / 1440 + 7, 30));
		CrmSpiExec("SELECT crm.miko_forget($1)", 1, types, values, NULL, SPI_OK_SELECT);
		SPI_freetuptable(SPI_tuptable);
	}
	if (cut_off)
		CrmRunCount(&run, "stopped_at_max_pages", 1);
	CrmRunEnd(&run, "ok", NULL, watermark);
lost:
	SPI_finish();
	PG_RETURN_VOID();
}
