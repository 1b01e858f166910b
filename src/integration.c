/*
 * integration.c
 *	  What the job procedures share: a run of a peer's job in steps that
 *	  each commit -- begin (take the peer's lease), progress (renew it, save
 *	  the watermark), end (record the outcome, release the lease) -- through
 *	  the SECURITY DEFINER functions of src/integration.sql; the settings of
 *	  the run; and a guard that runs a talk with a peer in a subtransaction,
 *	  so that a cancel can be recorded before it is raised again.
 *
 *	  The procedures are not SECURITY DEFINER (a procedure that is cannot
 *	  commit): they run as their caller, the job role, and write only
 *	  through the functions granted to it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "crm.h"
#include "integration.h"
#include "json.h"

void
IntegrationInit(void)
{
	HttpInit();
	JsonInit();
}

void
CrmProcedureCheck(FunctionCallInfo fcinfo, const char *name)
{
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("%s must be called with CALL outside a transaction block", name),
				 errdetail("It commits between its steps, so that no transaction or lock is held while it talks to the peer."),
				 errhint("Run \"CALL %s\" on its own, as its pg_cron job does.", name)));
}

void
CrmSpiExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args returned %d for: %s", rc, sql);
}

static bool commit_async = false;

static void
SetCommitMode(void)
{
	if (commit_async)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
}

void
CrmCommit(void)
{
	SPI_commit();
	SPI_start_transaction();	/* a no-op since PostgreSQL 15 */
	SetCommitMode();			/* a local setting ends with each transaction */
}

void
CrmRunCommitAsync(void)
{
	commit_async = true;
	SetCommitMode();
}

/* A text column of the first row of SPI_tuptable, copied into cxt (NULL if null). */
static char *
SpiText(int row, int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	char	   *out = v ? MemoryContextStrdup(cxt, v) : NULL;

	if (v)
		pfree(v);
	return out;
}

bool
CrmRunBegin(CrmRun *run, const char *peer)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *reason;
	char	   *run_id;
	uint64		i;
	int			nsecrets = 0;

	memset(run, 0, sizeof(*run));
	run->peer = peer;
	commit_async = false;		/* each run decides */
	/* SPI's procedure context is a child of the CALL's portal: it survives commits */
	run->cxt = AllocSetContextCreate(CurrentMemoryContext, "crm run", ALLOCSET_DEFAULT_SIZES);
	values[0] = CStringGetTextDatum(peer);

	CrmSpiExec("SELECT run_id, reason, watermark::text FROM crm.integration_begin($1)",
			   1, types, values, NULL, SPI_OK_SELECT);
	run_id = SpiText(0, 1, run->cxt);
	reason = SpiText(0, 2, run->cxt);
	run->watermark = SpiText(0, 3, run->cxt);
	SPI_freetuptable(SPI_tuptable);

	CrmSpiExec("SELECT name, value, secret FROM crm.integration_settings($1)",
			   1, types, values, NULL, SPI_OK_SELECT);
	run->nsettings = (int) SPI_processed;
	run->names = MemoryContextAlloc(run->cxt, sizeof(char *) * (run->nsettings + 1));
	run->values = MemoryContextAlloc(run->cxt, sizeof(char *) * (run->nsettings + 1));
	run->secrets = MemoryContextAllocZero(run->cxt, sizeof(char *) * (run->nsettings + 1 + CRM_RUN_MAX_EXTRA_SECRETS));
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *secret = SpiText(i, 3, run->cxt);

		run->names[i] = SpiText(i, 1, run->cxt);
		run->values[i] = SpiText(i, 2, run->cxt);
		if (secret && strcmp(secret, "t") == 0 && run->values[i] != NULL)
			run->secrets[nsecrets++] = run->values[i];
	}
	SPI_freetuptable(SPI_tuptable);
	CrmCommit();

	if (run_id == NULL)
	{
		ereport(NOTICE,
				(errmsg("%s: nothing done", peer),
				 errdetail("%s.", reason ? reason : "skipped")));
		return false;
	}
	run->run_id = pg_strtoint64(run_id);
	run->renewed_at = GetCurrentTimestamp();
	run->lease_ms = CrmRunSetting(run, "lease_seconds") ? CrmRunSettingInt(run, "lease_seconds") * 1000 : 60000;
	return true;
}

void
CrmRunAddSecret(CrmRun *run, const char *secret)
{
	int			n = 0;

	while (run->secrets[n] != NULL)
		n++;
	if (n >= run->nsettings + CRM_RUN_MAX_EXTRA_SECRETS)
		elog(ERROR, "too many secrets in a run");
	run->secrets[n] = MemoryContextStrdup(run->cxt, secret);
}

const char *
CrmRunSetting(CrmRun *run, const char *name)
{
	int			i;

	for (i = 0; i < run->nsettings; i++)
		if (strcmp(run->names[i], name) == 0)
			return run->values[i];
	return NULL;
}

int
CrmRunSettingInt(CrmRun *run, const char *name)
{
	const char *v = CrmRunSetting(run, name);

	if (v == NULL)
		elog(ERROR, "setting %s.%s has no value", run->peer, name);
	return pg_strtoint32(v);
}

void
CrmRunCount(CrmRun *run, const char *name, int64 n)
{
	int			i;

	for (i = 0; i < run->nstats; i++)
		if (strcmp(run->stat_names[i], name) == 0)
		{
			run->stat_values[i] += n;
			return;
		}
	if (run->nstats == CRM_RUN_MAX_STATS)
		elog(ERROR, "too many counters in a run");
	run->stat_names[run->nstats] = name;
	run->stat_values[run->nstats++] = n;
}

int64
CrmRunCounted(CrmRun *run, const char *name)
{
	int			i;

	for (i = 0; i < run->nstats; i++)
		if (strcmp(run->stat_names[i], name) == 0)
			return run->stat_values[i];
	return 0;
}

/* The counts as a JSON object (names are fixed identifiers). */
static char *
RunDetail(CrmRun *run)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < run->nstats; i++)
		appendStringInfo(&buf, "%s\"%s\": " INT64_FORMAT, i ? ", " : "", run->stat_names[i], run->stat_values[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

bool
CrmRunProgress(CrmRun *run, const char *watermark)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	bool		held;
	bool		isnull;

	values[0] = Int64GetDatum(run->run_id);
	values[1] = watermark ? CStringGetTextDatum(watermark) : (Datum) 0;
	nulls[1] = watermark ? ' ' : 'n';
	values[2] = CStringGetTextDatum(RunDetail(run));
	CrmSpiExec("SELECT crm.integration_progress($1, $2::jsonb, $3::jsonb)", 3, types, values, nulls, SPI_OK_SELECT);
	held = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	CrmCommit();
	run->renewed_at = GetCurrentTimestamp();
	if (!held)
		ereport(WARNING,
				(errmsg("%s: run " INT64_FORMAT " lost its lease to another run and stops", run->peer, run->run_id),
				 errhint("Raise %s.lease_seconds if a run needs longer between its steps.", run->peer)));
	return held;
}

bool
CrmRunKeepLease(CrmRun *run)
{
	if (!TimestampDifferenceExceeds(run->renewed_at, GetCurrentTimestamp(), run->lease_ms / 3))
		return true;
	return CrmRunProgress(run, NULL);
}

void
CrmRunEnd(CrmRun *run, const char *outcome, const CrmPeerError *err, const char *watermark)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', 'n', 'n', 'n', ' ', 'n'};

	values[0] = Int64GetDatum(run->run_id);
	values[1] = CStringGetTextDatum(outcome);
	if (err)
	{
		values[2] = CStringGetTextDatum(unpack_sql_state(err->sqlerrcode));
		nulls[2] = ' ';
		values[3] = CStringGetTextDatum(Redact(err->detail ? psprintf("%s: %s", err->message, err->detail)
											   : err->message, run->secrets));
		nulls[3] = ' ';
		if (err->http_status)
		{
			values[4] = Int32GetDatum((int32) err->http_status);
			nulls[4] = ' ';
		}
	}
	values[5] = CStringGetTextDatum(RunDetail(run));
	if (watermark)
	{
		values[6] = CStringGetTextDatum(watermark);
		nulls[6] = ' ';
	}
	CrmSpiExec("SELECT crm.integration_end($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)",
			   7, types, values, nulls, SPI_OK_SELECT);
	SPI_freetuptable(SPI_tuptable);
	CrmCommit();
}

void
CrmRunFail(CrmRun *run, const CrmPeerError *err, const char *watermark)
{
	CrmRunEnd(run, "error", err, watermark);
	PeerErrorRaise(err);
}

ErrorData *
CrmGuard(CrmRun *run, void (*fn) (void *), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(run->cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	return edata;
}

void
CrmStep(CrmRun *run, void (*fn) (void *), void *arg, const char *watermark)
{
	ErrorData  *edata = CrmGuard(run, fn, arg);

	if (edata)
		CrmRunRethrow(run, edata, watermark);
}

void
CrmRunRethrow(CrmRun *run, ErrorData *edata, const char *watermark)
{
	CrmPeerError err;

	memset(&err, 0, sizeof(err));
	err.sqlerrcode = edata->sqlerrcode;
	err.message = edata->message ? edata->message : "error";
	err.detail = edata->detail;
	CrmRunEnd(run, edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? "cancelled" : "error", &err, watermark);
	ReThrowError(edata);
}
