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
#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

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

/*
 * The SQL prepared once per backend.  The fast path hands a call straight
 * to crm.ingest_call (which raises if crm refuses it); the safe path
 * (crm.miko_handle_call) quarantines a refused call in its own
 * subtransaction.
 */
static SPIPlanPtr ingest_plan = NULL;
static SPIPlanPtr safe_plan = NULL;

static SPIPlanPtr
KeepPlan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

static void
PrepareHandle(void)
{
	if (ingest_plan == NULL)
	{
		Oid			types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
		TEXTOID, TEXTOID, TEXTOID};

		ingest_plan = KeepPlan("SELECT crm.ingest_call(linkedid => $1, caller => NULLIF($2, ''), called => NULLIF($3, ''),"
							   " started_at => $4::timestamp AT TIME ZONE $11,"
							   " answered_at => NULLIF($5, '')::timestamp AT TIME ZONE $11,"
							   " ended_at => NULLIF($6, '')::timestamp AT TIME ZONE $11,"
							   " duration => COALESCE(ceil(extract(epoch FROM (NULLIF($6, '')::timestamp AT TIME ZONE $11)"
							   "                                 - ($4::timestamp AT TIME ZONE $11)))::integer, $7),"
							   " billsec => $8, disposition => NULLIF($9, ''), recording => NULLIF($10, ''))",
							   11, types);
	}
	if (safe_plan == NULL)
	{
		Oid			types[13] = {TEXTOID, INT4OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};

		safe_plan = KeepPlan("SELECT crm.miko_handle_call($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
							 13, types);
	}
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

/* The end of the call (its legs) that starts at rows[start]. */
static int
CallEnd(HandArgs *h, int start)
{
	int			end = start;

	while (end < h->nrows && strcmp(h->rows[end]->linkedid, h->rows[start]->linkedid) == 0)
		end++;
	return end;
}

/* One call: its legs together. */
typedef struct CrmCall
{
	int			start;			/* its legs are rows[start, end) */
	int			end;
	int64		last_id;
	const char *linkedid;
	const char *caller;
	const char *called;
	const char *started;
	const char *answered;
	const char *ended;
	const char *disposition;
	const char *recording;
	int			duration;
	int			billsec;
} CrmCall;

/*
 * The call whose legs start at rows[start]: the first leg's caller, the DID
 * called (else the first leg's destination), the first start, the first
 * answer and the billsec of the answered legs, the last end, ANSWERED if
 * any leg was, the recording of the answered leg.
 */
static void
BuildCall(HandArgs *h, int start, CrmCall *call)
{
	CrmCdr	  **rows = h->rows;
	CrmCdr	   *first = rows[start];
	bool		any_answered = false;
	int			i;

	memset(call, 0, sizeof(*call));
	call->start = start;
	call->end = CallEnd(h, start);
	call->linkedid = first->linkedid;
	call->caller = first->src_num;
	call->started = first->start;
	call->answered = "";
	call->ended = "";
	call->recording = "";
	for (i = start; i < call->end; i++)
	{
		CrmCdr	   *c = rows[i];

		if (call->called == NULL && c->did[0] != '\0')
			call->called = c->did;
		if (Answered(c))
		{
			any_answered = true;
			if (c->answer[0] != '\0' && (call->answered[0] == '\0' || strcmp(c->answer, call->answered) < 0))
				call->answered = c->answer;
			call->billsec += c->billsec;
			if (call->recording[0] == '\0' && c->recordingfile[0] != '\0')
				call->recording = c->recordingfile;
		}
		if (c->endtime[0] != '\0' && strcmp(c->endtime, call->ended) > 0)
			call->ended = c->endtime;
		call->duration = Max(call->duration, c->duration);
		call->last_id = Max(call->last_id, c->id);
	}
	if (call->called == NULL)
		call->called = first->dst_num;
	call->disposition = any_answered ? "ANSWERED" : rows[call->end - 1]->disposition;
	if (call->recording[0] == '\0')
		for (i = start; i < call->end && call->recording[0] == '\0'; i++)
			call->recording = rows[i]->recordingfile;
}

static Datum
TextArrayOf(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * The fast path for the calls of rows[from, to): which were handed before
 * with the same legs (one query), each other one straight to
 * crm.ingest_call, then all of them remembered (one query).  Raises if crm
 * refuses a call.
 */
static void
HandFast(HandArgs *h, int from, int to, int64 *counts)
{
	int			ncalls = 0;
	int			cap = 16;
	CrmCall    *calls = palloc(sizeof(CrmCall) * cap);
	Datum	   *ids;
	Datum	   *nlegs;
	Datum	   *lasts;
	bool	   *unchanged;
	Datum	   *iids;
	Datum	   *starts;
	int			nhanded = 0;
	int			start;
	int			i;
	uint64		k;

	for (start = from; start < to;)
	{
		if (ncalls == cap)
		{
			cap *= 2;
			calls = repalloc(calls, sizeof(CrmCall) * cap);
		}
		BuildCall(h, start, &calls[ncalls]);
		start = calls[ncalls++].end;
	}
	ids = palloc(sizeof(Datum) * ncalls);
	nlegs = palloc(sizeof(Datum) * ncalls);
	lasts = palloc(sizeof(Datum) * ncalls);
	unchanged = palloc0(sizeof(bool) * ncalls);
	iids = palloc(sizeof(Datum) * ncalls);
	starts = palloc(sizeof(Datum) * ncalls);
	for (i = 0; i < ncalls; i++)
	{
		ids[i] = CStringGetTextDatum(calls[i].linkedid);
		nlegs[i] = Int32GetDatum(calls[i].end - calls[i].start);
		lasts[i] = Int64GetDatum(calls[i].last_id);
	}

	/* the calls handed before with the same legs */
	{
		Oid			types[3] = {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
		Datum		values[3];

		values[0] = TextArrayOf(ids, ncalls);
		values[1] = PointerGetDatum(construct_array(nlegs, ncalls, INT4OID, 4, true, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(lasts, ncalls, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		/* unnest of several arrays is FROM-clause syntax, not a pg_catalog function */
		CrmSpiExec("SELECT u.n FROM unnest($1, $2, $3) WITH ORDINALITY u(l, legs, last, n)"
				   " JOIN crm.miko_call_seen s ON s.linkedid = u.l AND s.legs = u.legs AND s.last_leg_id = u.last",
				   3, types, values, NULL, SPI_OK_SELECT);
		for (k = 0; k < SPI_processed; k++)
		{
			bool		isnull;
			int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

			if (n >= 1 && n <= ncalls)
				unchanged[n - 1] = true;
		}
		SPI_freetuptable(SPI_tuptable);
	}

	/* the others, to crm.ingest_call */
	for (i = 0; i < ncalls; i++)
	{
		CrmCall    *c = &calls[i];
		Datum		values[11];
		bool		isnull;
		int			rc;

		if (unchanged[i])
		{
			counts[1]++;
			continue;
		}
		values[0] = ids[i];
		values[1] = CStringGetTextDatum(c->caller);
		values[2] = CStringGetTextDatum(c->called);
		values[3] = CStringGetTextDatum(c->started);
		values[4] = CStringGetTextDatum(c->answered);
		values[5] = CStringGetTextDatum(c->ended);
		values[6] = Int32GetDatum(c->duration);
		values[7] = Int32GetDatum(c->billsec);
		values[8] = CStringGetTextDatum(c->disposition);
		values[9] = CStringGetTextDatum(c->recording);
		values[10] = CStringGetTextDatum(h->tz);
		rc = SPI_execute_plan(ingest_plan, values, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "crm.ingest_call failed: %s", SPI_result_code_string(rc));
		iids[nhanded] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			iids[nhanded] = Int64GetDatum(0);
		SPI_freetuptable(SPI_tuptable);
		ids[nhanded] = ids[i];
		nlegs[nhanded] = nlegs[i];
		lasts[nhanded] = lasts[i];
		starts[nhanded] = values[3];
		nhanded++;
		counts[0]++;
	}

	/* remembered, all at once */
	if (nhanded > 0)
	{
		Oid			types[6] = {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTOID};
		Datum		values[6];

		values[0] = TextArrayOf(ids, nhanded);
		values[1] = PointerGetDatum(construct_array(nlegs, nhanded, INT4OID, 4, true, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(lasts, nhanded, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[3] = PointerGetDatum(construct_array(iids, nhanded, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[4] = TextArrayOf(starts, nhanded);
		values[5] = CStringGetTextDatum(h->tz);
		CrmSpiExec("SELECT crm.miko_remember($1, $2, $3, $4, $5, $6)", 6, types, values, NULL, SPI_OK_SELECT);
		SPI_freetuptable(SPI_tuptable);
	}
}

/* The safe path: the calls of rows[from, to) one by one, a refusal quarantined. */
static void
HandSafe(HandArgs *h, int from, int to, int64 *counts)
{
	int			start = from;

	while (start < to)
	{
		CrmCall		c;
		Datum		values[13];
		int			rc;
		bool		isnull;
		char	   *outcome;

		BuildCall(h, start, &c);
		values[0] = CStringGetTextDatum(c.linkedid);
		values[1] = Int32GetDatum(c.end - c.start);
		values[2] = Int64GetDatum(c.last_id);
		values[3] = CStringGetTextDatum(c.caller);
		values[4] = CStringGetTextDatum(c.called);
		values[5] = CStringGetTextDatum(c.started);
		values[6] = CStringGetTextDatum(c.answered);
		values[7] = CStringGetTextDatum(c.ended);
		values[8] = Int32GetDatum(c.duration);
		values[9] = Int32GetDatum(c.billsec);
		values[10] = CStringGetTextDatum(c.disposition);
		values[11] = CStringGetTextDatum(c.recording);
		values[12] = CStringGetTextDatum(h->tz);
		rc = SPI_execute_plan(safe_plan, values, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "crm.miko_handle_call failed: %s", SPI_result_code_string(rc));
		outcome = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_freetuptable(SPI_tuptable);
		counts[strcmp(outcome, "ingested") == 0 ? 0 : strcmp(outcome, "unchanged") == 0 ? 1 : 2]++;
		if (strcmp(outcome, "quarantined") == 0)
			QuarantineLegs(c.linkedid, h->rows + c.start, c.end - c.start, &h->legs);
		start = c.end;
	}
}

/* Whether an error of crm.ingest_call means a refused call (crm.integration_refusal). */
static bool
Refused(int sqlerrcode)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	bool		refused;

	values[0] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
	CrmSpiExec("SELECT crm.integration_refusal($1)", 1, types, values, NULL, SPI_OK_SELECT);
	refused = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return refused;
}

/*
 * Hands the next CALLS_PER_TRANSACTION calls (a guarded step).  First all
 * of them in one subtransaction, through the fast path; if crm refuses one,
 * that subtransaction is rolled back and the calls are handed again one by
 * one, each refusal going to quarantine.  (A subtransaction per call, every
 * time, would cost more: its end walks every lock the transaction holds.)
 */
static void
HandCalls(void *arg)
{
	HandArgs   *h = (HandArgs *) arg;
	int			from = h->next;
	int			to = from;
	int			ncalls = 0;
	int64		counts[3] = {0, 0, 0};
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	while (to < h->nrows && ncalls < CALLS_PER_TRANSACTION)
	{
		to = CallEnd(h, to);
		ncalls++;
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		HandFast(h, from, to, counts);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	if (edata != NULL)
	{
		if (!Refused(edata->sqlerrcode))
			ReThrowError(edata);
		counts[0] = counts[1] = counts[2] = 0;
		HandSafe(h, from, to, counts);
		CrmRunCount(h->run, "chunks_redone", 1);
	}
	CrmRunCount(h->run, "calls", ncalls);
	if (counts[0])
		CrmRunCount(h->run, "ingested", counts[0]);
	if (counts[1])
		CrmRunCount(h->run, "unchanged", counts[1]);
	if (counts[2])
		CrmRunCount(h->run, "quarantined", counts[2]);
	h->next = to;
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
		CrmSpiExec("WITH z AS (SELECT COALESCE(NULLIF($4, ''), pg_catalog.current_setting('TimeZone')) AS tz) "
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
