/*
 * mailchimp.c
 *	  CALL crm.mailchimp_sync(): keeps the MailChimp audience equal to the
 *	  contacts who may be mailed (R26).
 *
 *	  Each batch is one round of short transactions: claim (up to 500
 *	  queued addresses become a batch with an idempotency key and its
 *	  request, or a batch left by a killed or failed run is taken over as it
 *	  was), commit; POST /lists/{list_id} (batch subscribe, update_existing)
 *	  with no transaction work and no lock; POST .../members/{hash}/tags to
 *	  take off tags crm no longer gives; record the answer, commit.  Errors
 *	  MailChimp gives per member are recorded on the contact's member row
 *	  and never fail the run.  429 and 5xx (and timeouts, resets, garbled
 *	  answers) put the batch back with exponential backoff and jitter, and
 *	  the run ends with the error; refused credentials stop the job until
 *	  its configuration changes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "common/base64.h"
#include "utils/memutils.h"

#include "integration.h"
#include "json.h"

PG_FUNCTION_INFO_V1(crm_mailchimp_sync);

typedef struct SendArgs
{
	CrmHttpRequest *req;
	CrmHttpResponse *resp;
	CrmPeerError *err;
} SendArgs;

static void
GuardedSend(void *arg)
{
	SendArgs   *a = (SendArgs *) arg;

	a->err = HttpPerform(a->req, a->resp);
}

typedef struct RootArgs
{
	const char *key;
	const char *base;
	char	   *root;
} RootArgs;

/* The API root, from crm.mailchimp_api_root (which may refuse the key). */
static void
GuardedRoot(void *arg)
{
	RootArgs   *a = (RootArgs *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = CStringGetTextDatum(a->key);
	values[1] = a->base ? CStringGetTextDatum(a->base) : (Datum) 0;
	nulls[1] = a->base ? ' ' : 'n';
	CrmSpiExec("SELECT crm.mailchimp_api_root($1, $2)", 2, types, values, nulls, SPI_OK_SELECT);
	a->root = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The claim of the next batch (crm.mailchimp_claim), or batch = 0. */
typedef struct ClaimArgs
{
	CrmRun	   *run;
	int			batch_size;
	int64		batch;
	char	   *list_id;
	char	   *ikey;
	char	   *body;
	char	   *extra;
	int			members;
} ClaimArgs;

static void
GuardedClaim(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	HeapTuple	t;
	TupleDesc	d;

	values[0] = Int64GetDatum(a->run->run_id);
	values[1] = Int32GetDatum(a->batch_size);
	CrmSpiExec("SELECT batch_id, list_id, idempotency_key, body, extra, members FROM crm.mailchimp_claim($1, $2)",
			   2, types, values, NULL, SPI_OK_SELECT);
	a->batch = 0;
	if (SPI_processed > 0)
	{
		t = SPI_tuptable->vals[0];
		d = SPI_tuptable->tupdesc;
		a->batch = pg_strtoint64(SPI_getvalue(t, d, 1));
		a->list_id = SPI_getvalue(t, d, 2);
		a->ikey = SPI_getvalue(t, d, 3);
		a->body = SPI_getvalue(t, d, 4);
		a->extra = SPI_getvalue(t, d, 5);
		a->members = pg_strtoint32(SPI_getvalue(t, d, 6));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* The follow-up requests of a batch (tags to take off), as arrays. */
typedef struct ExtraArgs
{
	char	   *extra;
	int			n;
	char	  **email;
	char	  **hash;
	char	  **body;
} ExtraArgs;

static void
GuardedExtra(void *arg)
{
	ExtraArgs  *a = (ExtraArgs *) arg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;

	values[0] = CStringGetTextDatum(a->extra);
	CrmSpiExec("SELECT e ->> 'email', e ->> 'hash', (e -> 'body')::text FROM pg_catalog.jsonb_array_elements($1::jsonb) e",
			   1, types, values, NULL, SPI_OK_SELECT);
	a->n = (int) SPI_processed;
	a->email = palloc(sizeof(char *) * Max(a->n, 1));
	a->hash = palloc(sizeof(char *) * Max(a->n, 1));
	a->body = palloc(sizeof(char *) * Max(a->n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		a->email[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		a->hash[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		a->body[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		if (a->email[i] == NULL || a->hash[i] == NULL || a->body[i] == NULL)
			elog(ERROR, "a MailChimp batch has a malformed follow-up request");
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Records MailChimp's answer to a batch (crm.mailchimp_record). */
typedef struct RecordArgs
{
	int64		batch;
	int64		run_id;
	long		status;
	Datum		values[10];
} RecordArgs;

static void
GuardedRecord(void *arg)
{
	RecordArgs *a = (RecordArgs *) arg;
	Oid			types[10] = {INT8OID, INT8OID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT4OID, INT4OID, TEXTARRAYOID};

	a->values[0] = Int64GetDatum(a->batch);
	a->values[1] = Int64GetDatum(a->run_id);
	a->values[2] = Int32GetDatum((int32) a->status);
	CrmSpiExec("SELECT crm.mailchimp_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			   10, types, a->values, NULL, SPI_OK_SELECT);
	SPI_freetuptable(SPI_tuptable);
}

static Datum
TextArray(List *items)
{
	int			n = list_length(items);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, items)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* Takes a batch back (backoff or dead letter) and commits. */
static void
BatchFail(CrmRun *run, int64 batch, const CrmPeerError *err, bool retry, bool count_attempt)
{
	Oid			types[7] = {INT8OID, INT8OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, BOOLOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(batch);
	values[1] = Int64GetDatum(run->run_id);
	values[2] = CStringGetTextDatum(unpack_sql_state(err->sqlerrcode));
	values[3] = CStringGetTextDatum(Redact(err->detail ? psprintf("%s: %s", err->message, err->detail)
										   : err->message, run->secrets));
	values[4] = Int32GetDatum((int32) err->http_status);
	nulls[4] = err->http_status ? ' ' : 'n';
	values[5] = BoolGetDatum(retry);
	values[6] = BoolGetDatum(count_attempt);
	CrmSpiExec("SELECT crm.outbox_batch_fail($1, $2, $3, $4, $5, $6, $7)", 7, types, values, nulls, SPI_OK_SELECT);
	SPI_freetuptable(SPI_tuptable);
	CrmCommit();
}

Datum
crm_mailchimp_sync(PG_FUNCTION_ARGS)
{
	CrmRun		run;
	const char *key;
	char	   *root;
	CrmPeerError *err;
	int			batch_size;
	int			max_batches;
	int			nb;
	MemoryContext batchcxt;
	MemoryContext oldcxt;

	CrmProcedureCheck(fcinfo, "crm.mailchimp_sync()");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	if (!CrmRunBegin(&run, "mailchimp"))
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	/* a batch whose record is lost is sent again, under the same key */
	CrmRunCommitAsync();
	key = CrmRunSetting(&run, "api_key");
	/* the key as it goes on the wire (HTTP Basic) is a secret too */
	{
		char	   *userpass = psprintf("crm:%s", key);
		int			len = pg_b64_enc_len(strlen(userpass));
		char	   *b64 = palloc0(len + 1);

		if (pg_b64_encode(userpass, strlen(userpass), b64, len) > 0)
			CrmRunAddSecret(&run, b64);
	}
	batch_size = CrmRunSettingInt(&run, "batch_size");
	max_batches = CrmRunSettingInt(&run, "max_batches");
	{
		RootArgs	ra = {key, CrmRunSetting(&run, "base_url"), NULL};
		ErrorData  *edata = CrmGuard(&run, GuardedRoot, &ra);

		if (edata)
		{
			CrmPeerError refused = {edata->sqlerrcode, edata->message, edata->detail, edata->hint, 0, false};

			CrmRunFail(&run, &refused, NULL);
		}
		root = MemoryContextStrdup(run.cxt, ra.root);
	}
	batchcxt = AllocSetContextCreate(run.cxt, "crm mailchimp batch", ALLOCSET_DEFAULT_SIZES);

	for (nb = 0; nb < max_batches; nb++)
	{
		ClaimArgs	claim;
		int64		batch;
		char	   *list_id;
		char	   *ikey;
		char	   *body;
		char	   *extra;
		int			members;
		CrmHttpRequest req;
		CrmHttpResponse resp;
		SendArgs	args;
		ErrorData  *edata;
		CrmBatchResult result;
		char	   *bad;
		List	   *tag_failed = NIL;
		List	   *e_emails = NIL,
				   *e_messages = NIL,
				   *e_codes = NIL,
				   *e_fields = NIL;
		int			j;

		MemoryContextReset(batchcxt);
		oldcxt = MemoryContextSwitchTo(batchcxt);

		if (!CrmRunKeepLease(&run))
			break;
		claim.run = &run;
		claim.batch_size = batch_size;
		CrmStep(&run, GuardedClaim, &claim, NULL);
		CrmCommit();			/* the claim is ours; nothing is held from here on */
		if (claim.batch == 0)
		{
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		batch = claim.batch;
		list_id = claim.list_id;
		ikey = claim.ikey;
		body = claim.body;
		extra = claim.extra;
		members = claim.members;

		memset(&req, 0, sizeof(req));
		req.peer = "MailChimp";
		req.method = "POST";
		req.url = psprintf("%s/lists/%s", root, HttpEscape(list_id));
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/json";
		req.basic_user = "crm";
		req.basic_password = key;
		req.idempotency_key = ikey;
		req.ca_file = CrmRunSetting(&run, "ca_file");
		req.secrets = run.secrets;
		args.req = &req;
		args.resp = &resp;
		args.err = NULL;
		CrmRunCount(&run, "requests", 1);
		edata = CrmGuard(&run, GuardedSend, &args);
		if (edata)
		{
			CrmPeerError cancel = {edata->sqlerrcode, edata->message, edata->detail, NULL, 0, true};

			BatchFail(&run, batch, &cancel, true, false);
			CrmRunRethrow(&run, edata, NULL);
		}
		if (args.err)
		{
			BatchFail(&run, batch, args.err, args.err->retry, true);
			CrmRunFail(&run, args.err, NULL);
		}
		if (resp.status != 200)
		{
			err = HttpStatusError(&req, &resp, JsonMailchimpMessage(resp.body.data, resp.body.len));
			if (resp.status == 401 || resp.status == 403 || resp.status == 404)
			{
				/* the batch is not at fault: it waits for the DBA with the job */
				BatchFail(&run, batch, err, true, false);
				CrmRunFail(&run, err, NULL);
			}
			if (err->retry)
			{
				BatchFail(&run, batch, err, true, true);
				CrmRunFail(&run, err, NULL);
			}
			/* MailChimp refused the batch itself: it goes to the dead letters */
			BatchFail(&run, batch, err, false, true);
			CrmRunCount(&run, "batches_dead", 1);
			ereport(WARNING,
					(errmsg("%s; MailChimp batch " INT64_FORMAT " is dead-lettered", err->message, batch),
					 errdetail("%s", err->detail)));
			MemoryContextSwitchTo(oldcxt);
			continue;
		}
		bad = JsonMailchimpBatch(resp.body.data, resp.body.len, &result);
		if (bad)
		{
			err = PeerErrorMake(ERRCODE_INVALID_JSON_TEXT, true, resp.status,
								"MailChimp gave an answer crm cannot read",
								Redact(psprintf("HTTP %ld from POST %s: %s", resp.status, req.url, bad), run.secrets));
			err->hint = pstrdup("The batch is sent again later, with the same idempotency key.");
			BatchFail(&run, batch, err, true, true);
			CrmRunFail(&run, err, NULL);
		}

		/* tags crm gave and no longer gives: taken off member by member */
		{
			ExtraArgs	x;

			memset(&x, 0, sizeof(x));
			x.extra = extra;
			CrmStep(&run, GuardedExtra, &x, NULL);
			for (j = 0; j < x.n; j++)
			{
				CrmHttpRequest treq = req;
				CrmHttpResponse tresp;

				treq.url = psprintf("%s/lists/%s/members/%s/tags", root, HttpEscape(list_id), x.hash[j]);
				treq.body = x.body[j];
				treq.body_len = strlen(x.body[j]);
				treq.idempotency_key = psprintf("%s-tags-%s", ikey, x.hash[j]);
				args.req = &treq;
				args.resp = &tresp;
				args.err = NULL;
				CrmRunCount(&run, "requests", 1);
				edata = CrmGuard(&run, GuardedSend, &args);
				if (edata)
				{
					CrmPeerError cancel = {edata->sqlerrcode, edata->message, edata->detail, NULL, 0, true};

					BatchFail(&run, batch, &cancel, true, false);
					CrmRunRethrow(&run, edata, NULL);
				}
				if (args.err || (tresp.status != 204 && tresp.status != 200))
					tag_failed = lappend(tag_failed, x.email[j]);
			}
		}

		for (j = 0; j < result.nerrors; j++)
		{
			e_emails = lappend(e_emails, result.errors[j].email);
			e_messages = lappend(e_messages, Redact(result.errors[j].error, run.secrets));
			e_codes = lappend(e_codes, result.errors[j].code);
			e_fields = lappend(e_fields, result.errors[j].field ? result.errors[j].field : "");
		}
		{
			RecordArgs	rec;

			rec.batch = batch;
			rec.run_id = run.run_id;
			rec.status = resp.status;
			rec.values[3] = TextArray(e_emails);
			rec.values[4] = TextArray(e_messages);
			rec.values[5] = TextArray(e_codes);
			rec.values[6] = TextArray(e_fields);
			rec.values[7] = Int32GetDatum(result.total_created);
			rec.values[8] = Int32GetDatum(result.total_updated);
			rec.values[9] = TextArray(tag_failed);
			CrmStep(&run, GuardedRecord, &rec, NULL);
		}
		CrmRunCount(&run, "batches", 1);
		CrmRunCount(&run, "members", members);
		CrmRunCount(&run, "member_errors", result.nerrors);
		CrmRunCount(&run, "created", result.total_created);
		CrmRunCount(&run, "updated", result.total_updated);
		if (tag_failed != NIL)
			CrmRunCount(&run, "tag_errors", list_length(tag_failed));
		CrmCommit();
		MemoryContextSwitchTo(oldcxt);
	}
	CrmRunEnd(&run, "ok", NULL, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
