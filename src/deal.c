/*
 * deal.c
 *	  The deal state machine (R12): trigger crm.deal_transition, BEFORE
 *	  UPDATE on crm.deal, so that whatever client issues the UPDATE:
 *
 *	  - a closed or rejected deal is kept as it was (55000);
 *	  - a deal changed by another transaction after this statement's snapshot
 *	    is not overwritten: the second writer gets 40001 (two managers moving
 *	    one deal at once: one wins, the other is told);
 *	  - only the legal transitions are allowed (23514):
 *	      equipment_selection -> production -> sale_from_stock -> installation
 *	      -> service -> closed, the shortcut equipment_selection ->
 *	      sale_from_stock (everything in stock, no production), and
 *	      not_suitable from any open stage (with a reason, 23502);
 *	  - every precondition registered in crm.deal_stage_check for the target
 *	    stage is called (by OID, as the table's owner so that a check sees all
 *	    it needs); any reasons refuse the move with them in the detail (55000);
 *	  - the change is written to crm.deal_history (who, when, from, to, why);
 *	  - the automatic tasks (not_suitable: the head checks the salesperson's
 *	    work; service: "offer service"; consent: "conclude a service contract")
 *	    are made exactly once through crm.deal_auto_task (dedup_key).
 *
 * The SQL the trigger runs is prepared once per backend (SPI_keepplan) and
 * always takes its values as parameters.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(deal_transition);
PG_FUNCTION_INFO_V1(deal_stage_allowed);
PG_FUNCTION_INFO_V1(deal_outer_role);
PG_FUNCTION_INFO_V1(deal_stage_check_changed);

/* stages, in the order of crm.deal_stage.position */
typedef enum DealStage
{
	ST_EQUIPMENT_SELECTION,
	ST_PRODUCTION,
	ST_SALE_FROM_STOCK,
	ST_INSTALLATION,
	ST_SERVICE,
	ST_CLOSED,
	ST_NOT_SUITABLE,
	ST_COUNT,
	ST_UNKNOWN = -1
} DealStage;

static const char *const stage_code[ST_COUNT] = {
	"equipment_selection", "production", "sale_from_stock", "installation",
	"service", "closed", "not_suitable"
};

/* allowed[from][to] */
static const bool allowed[ST_COUNT][ST_COUNT] = {
	/* equipment_selection: to production, or straight to sale from stock */
	[ST_EQUIPMENT_SELECTION] = {[ST_PRODUCTION] = true, [ST_SALE_FROM_STOCK] = true, [ST_NOT_SUITABLE] = true},
	[ST_PRODUCTION] = {[ST_SALE_FROM_STOCK] = true, [ST_NOT_SUITABLE] = true},
	[ST_SALE_FROM_STOCK] = {[ST_INSTALLATION] = true, [ST_NOT_SUITABLE] = true},
	[ST_INSTALLATION] = {[ST_SERVICE] = true, [ST_NOT_SUITABLE] = true},
	[ST_SERVICE] = {[ST_CLOSED] = true, [ST_NOT_SUITABLE] = true},
	/* closed and not_suitable are final */
};

static DealStage
StageFromCode(const char *code)
{
	if (code == NULL)
		return ST_UNKNOWN;
	for (int i = 0; i < ST_COUNT; i++)
		if (strcmp(code, stage_code[i]) == 0)
			return (DealStage) i;
	return ST_UNKNOWN;
}

static inline bool
StageIsOpen(DealStage s)
{
	return s >= ST_EQUIPMENT_SELECTION && s <= ST_SERVICE;
}

static inline bool
TransitionAllowed(DealStage from, DealStage to)
{
	if (from == ST_UNKNOWN || to == ST_UNKNOWN)
		return false;
	return allowed[from][to];
}

/* The text of the legal next stages, for the error detail. */
static char *
NextStages(DealStage from)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < ST_COUNT; i++)
	{
		if (!TransitionAllowed(from, (DealStage) i))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, stage_code[i]);
	}
	if (buf.len == 0)
		appendStringInfoString(&buf, "none");
	return buf.data;
}

Datum
deal_stage_allowed(PG_FUNCTION_ARGS)
{
	char	   *from = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *to = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(TransitionAllowed(StageFromCode(from), StageFromCode(to)));
}

Datum
deal_outer_role(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

/* ---- plans kept for the life of the backend ---- */

static SPIPlanPtr history_plan = NULL;
static SPIPlanPtr task_plan = NULL;
static SPIPlanPtr reassign_plan = NULL;
static SPIPlanPtr role_plan = NULL;
static SPIPlanPtr done_plan = NULL;

static SPIPlanPtr
KeepPlan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

static void
WriteHistory(int64 deal, const char *field, const char *from, const char *to,
			 const char *reason, const char *who)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	int			rc;

	plan = KeepPlan(&history_plan,
					"INSERT INTO crm.deal_history (deal_id, field, from_value, to_value, reason, changed_by, changed_by_role) "
					"VALUES ($1, $2, $3, $4, $5, "
					"(SELECT e.id FROM crm.employee e WHERE e.role_name = $6 AND e.active), $6)",
					6, types);
	values[0] = Int64GetDatum(deal);
	values[1] = CStringGetTextDatum(field);
	values[2] = from ? CStringGetTextDatum(from) : (Datum) 0;
	nulls[2] = from ? ' ' : 'n';
	values[3] = to ? CStringGetTextDatum(to) : (Datum) 0;
	nulls[3] = to ? ' ' : 'n';
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[4] = reason ? ' ' : 'n';
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(who));
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "writing the deal history failed: %s", SPI_result_code_string(rc));
}

/* An automatic task, made at most once: crm.deal_auto_task(deal, kind, note). */
static void
AutoTask(int64 deal, const char *kind, const char *note)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	SPIPlanPtr	plan;
	int			rc;

	plan = KeepPlan(&task_plan, "SELECT crm.deal_auto_task($1, $2, $3)", 3, types);
	values[0] = Int64GetDatum(deal);
	values[1] = CStringGetTextDatum(kind);
	values[2] = note ? CStringGetTextDatum(note) : (Datum) 0;
	nulls[2] = note ? ' ' : 'n';
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "creating the task failed: %s", SPI_result_code_string(rc));
}

/* An automatic task whose purpose is fulfilled: crm.deal_auto_task_done. */
static void
AutoTaskDone(int64 deal, const char *kind, const char *outcome)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	int			rc;

	plan = KeepPlan(&done_plan, "SELECT crm.deal_auto_task_done($1, $2, $3)", 3, types);
	values[0] = Int64GetDatum(deal);
	values[1] = CStringGetTextDatum(kind);
	values[2] = CStringGetTextDatum(outcome);
	rc = SPI_execute_plan(plan, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "completing the task failed: %s", SPI_result_code_string(rc));
}

/* the login role of an employee, as the history names people */
static char *
EmployeeRole(int32 employee)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	SPIPlanPtr	plan;
	int			rc;

	plan = KeepPlan(&role_plan, "SELECT role_name::text FROM crm.employee WHERE id = $1", 1, types);
	values[0] = Int32GetDatum(employee);
	rc = SPI_execute_plan(plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading employee %d failed: %s", employee, SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return psprintf("%d", employee);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The deal changes hands: its open tasks follow it, the new manager is told. */
static void
Reassign(int64 deal, int32 from, int32 to)
{
	Oid			types[3] = {INT8OID, INT4OID, INT4OID};
	Datum		values[3];
	SPIPlanPtr	plan;
	int			rc;

	plan = KeepPlan(&reassign_plan, "SELECT crm.deal_reassigned($1, $2, $3)", 3, types);
	values[0] = Int64GetDatum(deal);
	values[1] = Int32GetDatum(from);
	values[2] = Int32GetDatum(to);
	rc = SPI_execute_plan(plan, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reassigning the deal's tasks failed: %s", SPI_result_code_string(rc));
}

/*
 * The registered checks, per target stage, with their FmgrInfo kept for the
 * life of the backend (so a PL/pgSQL check keeps its cached plans).  Any
 * change to crm.deal_stage_check (its statement trigger sends a relcache
 * invalidation, see deal_stage_check_changed) or to any function reloads it.
 */
typedef struct StageChecks
{
	bool		valid;
	MemoryContext cxt;
	Oid			relid;
	int			n[ST_COUNT];
	FmgrInfo   *fns[ST_COUNT];
} StageChecks;

static StageChecks checks;
/* bumped by every invalidation of the checks (see LoadChecks) */
static uint64 checks_generation = 0;

static void
ChecksRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == checks.relid)
	{
		checks.valid = false;
		checks_generation++;
	}
}

static void
ChecksSyscacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	checks.valid = false;
	checks_generation++;
}

/* called within SPI, as the owner */
static void
LoadChecks(void)
{
	static bool registered = false;
	int			rc;
	uint64		n;
	uint64		gen;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(ChecksRelcacheCallback, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, ChecksSyscacheCallback, (Datum) 0);
		registered = true;
	}
	if (checks.cxt == NULL)
		checks.cxt = AllocSetContextCreate(TopMemoryContext, "crm deal stage checks", ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(checks.cxt);
	memset(checks.n, 0, sizeof checks.n);
	memset(checks.fns, 0, sizeof checks.fns);
	checks.relid = get_relname_relid("deal_stage_check", get_namespace_oid("crm", false));
	/*
	 * Valid only once the whole list is read: an error or a cancel while
	 * reading leaves it invalid (read again by the next call), never a
	 * partial list that would let a deal skip a check.  An invalidation that
	 * arrives while we read bumps the generation: the list read is used for
	 * this call and read again by the next one.
	 */
	checks.valid = false;
	gen = checks_generation;

	rc = SPI_execute("SELECT to_stage, check_fn::oid FROM crm.deal_stage_check "
					 "ORDER BY builtin DESC, check_fn::text", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the stage checks failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	for (int st = 0; st < ST_COUNT; st++)
		checks.fns[st] = MemoryContextAllocZero(checks.cxt, sizeof(FmgrInfo) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		char	   *stage = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Oid			fn = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		DealStage	st = StageFromCode(stage);

		if (st == ST_UNKNOWN)
			continue;
		fmgr_info_cxt(fn, &checks.fns[st][checks.n[st]], checks.cxt);
		checks.n[st]++;
	}
	checks.valid = (gen == checks_generation);
}

/*
 * Calls every check registered for the target stage; returns the reasons
 * (one sentence each, space separated), or NULL when all are satisfied.
 * The result is allocated in the caller's (upper) memory context.
 */
static char *
RunChecks(int64 deal, DealStage to, MemoryContext upper)
{
	StringInfoData reasons;

	if (!checks.valid)
		LoadChecks();
	if (checks.n[to] == 0)
		return NULL;
	initStringInfo(&reasons);
	for (int i = 0; i < checks.n[to]; i++)
	{
		LOCAL_FCINFO(fcinfo, 1);
		Datum		result;

		InitFunctionCallInfoData(*fcinfo, &checks.fns[to][i], 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = Int64GetDatum(deal);
		fcinfo->args[0].isnull = false;
		result = FunctionCallInvoke(fcinfo);
		if (!fcinfo->isnull)
		{
			char	   *why = TextDatumGetCString(result);

			if (reasons.len > 0)
				appendStringInfoChar(&reasons, ' ');
			appendStringInfoString(&reasons, why);
		}
	}
	if (reasons.len == 0)
		return NULL;
	return MemoryContextStrdup(upper, reasons.data);
}

/*
 * Statement trigger on crm.deal_stage_check: every backend reloads the checks
 * (a relcache invalidation of the table, sent at commit).
 */
Datum
deal_stage_check_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deal_stage_check_changed must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

/* ---- the trigger ---- */

typedef struct DealCols
{
	int			id;
	int			stage;
	int			stage_reason;
	int			stage_changed_at;
	int			manager_id;
	int			service_decision;
	int			service_decided_at;
	int			updated_at;
	int			closed_at;
} DealCols;

/*
 * The number of a column of crm.deal.  Looked up by name once and kept, and
 * checked by name on every use (columns may be added by other concerns).
 */
#define MAX_COLS 32
static struct
{
	const char *name;
	int			attnum;
}			colcache[MAX_COLS];

static int
Col(TupleDesc desc, const char *name)
{
	int			n;
	int			slot = -1;

	for (int i = 0; i < MAX_COLS && colcache[i].name != NULL; i++)
		if (colcache[i].name == name || strcmp(colcache[i].name, name) == 0)
		{
			slot = i;
			n = colcache[i].attnum;
			if (n > 0 && n <= desc->natts && !TupleDescAttr(desc, n - 1)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, n - 1)->attname), name) == 0)
				return n;
			break;
		}
	n = SPI_fnumber(desc, name);
	if (n <= 0)
		elog(ERROR, "crm.deal has no column \"%s\"", name);
	if (slot < 0)
		for (int i = 0; i < MAX_COLS; i++)
			if (colcache[i].name == NULL)
			{
				slot = i;
				colcache[i].name = name;
				break;
			}
	if (slot >= 0)
		colcache[slot].attnum = n;
	return n;
}

/* whether a column has the same value in both versions of the row */
static bool
SameValue(HeapTuple a, HeapTuple b, TupleDesc desc, int col)
{
	Form_pg_attribute att = TupleDescAttr(desc, col - 1);
	bool		na,
				nb;
	Datum		da = heap_getattr(a, col, desc, &na);
	Datum		db = heap_getattr(b, col, desc, &nb);

	if (na || nb)
		return na == nb;
	return datumIsEqual(da, db, att->attbyval, att->attlen);
}

static char *
GetText(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

static bool
Blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

/*
 * What the deal keeps once it is so: its counterparty and creation, and the
 * facts the documents and payments establish -- the agreement (R13), the
 * win, the end.  Only the triggers set them; nobody takes them back.
 */
static void
CheckKept(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, int64 id)
{
	static const char *const always[] = {"counterparty_id", "created_at", "created_by", "closed_at"};
	static const char *const once_set[] = {"agreed_at", "won_at"};
	bool		isnull;

	for (size_t i = 0; i < lengthof(always); i++)
		if (!SameValue(oldtup, newtup, desc, Col(desc, always[i])))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s of deal " INT64_FORMAT " cannot change", always[i], id),
					 errdetail("It is set when the deal is created or ends.")));
	for (size_t i = 0; i < lengthof(once_set); i++)
	{
		int			col = Col(desc, once_set[i]);

		(void) heap_getattr(oldtup, col, desc, &isnull);
		if (!isnull && !SameValue(oldtup, newtup, desc, col))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s of deal " INT64_FORMAT " cannot change once set", once_set[i], id),
					 errdetail("The client's agreement and the win are facts established by documents and payments.")));
	}
	(void) heap_getattr(oldtup, Col(desc, "agreed_at"), desc, &isnull);
	if (!isnull && !SameValue(oldtup, newtup, desc, Col(desc, "agreement_path")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("agreement_path of deal " INT64_FORMAT " cannot change once agreed", id)));
}

static bool
BlankText(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = GetText(tup, desc, col);

	return Blank(v);
}

/*
 * The rules on a deal's values that CHECK constraints would state (kept here:
 * see deal.sql): checked when the column changes.
 */
static void
CheckValues(HeapTuple oldtup, HeapTuple newtup, TupleDesc desc, int64 id)
{
	static const char *const given[] = {"title", "needs"};
	int			col;
	bool		isnull;
	char	   *v;

	for (size_t i = 0; i < lengthof(given); i++)
	{
		col = Col(desc, given[i]);
		if (!SameValue(oldtup, newtup, desc, col) && BlankText(newtup, desc, col))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("the %s of deal " INT64_FORMAT " cannot be empty", given[i], id)));
	}
	col = Col(desc, "agreement_path");
	if (!SameValue(oldtup, newtup, desc, col))
	{
		v = GetText(newtup, desc, col);
		if (v != NULL && strcmp(v, "proposal") != 0 && strcmp(v, "direct") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("agreement_path of deal " INT64_FORMAT " is proposal or direct, not \"%s\"", id, v)));
	}
	(void) heap_getattr(newtup, Col(desc, "agreed_at"), desc, &isnull);
	if (!isnull && GetText(newtup, desc, col) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("deal " INT64_FORMAT " is agreed without an agreement path", id)));
	col = Col(desc, "service_decision");
	if (!SameValue(oldtup, newtup, desc, col))
	{
		v = GetText(newtup, desc, col);
		if (v != NULL && strcmp(v, "accepted") != 0 && strcmp(v, "declined") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("the service decision of deal " INT64_FORMAT " is accepted or declined, not \"%s\"", id, v)));
	}
}

/*
 * True when the row version we are about to update was written by a
 * transaction that this statement's snapshot does not see: someone else
 * changed the deal after we looked at it.
 */
static bool
ChangedConcurrently(HeapTuple oldtup)
{
	TransactionId xmin = HeapTupleHeaderGetXmin(oldtup->t_data);

	if (!TransactionIdIsNormal(xmin) || TransactionIdIsCurrentTransactionId(xmin))
		return false;
	if (!ActiveSnapshotSet())
		return false;
	return XidInMVCCSnapshot(xmin, GetActiveSnapshot());
}

Datum
deal_transition(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	oldtup,
				newtup;
	DealCols	c;
	bool		isnull;
	int64		id;
	char	   *old_stage,
			   *new_stage,
			   *old_reason,
			   *new_reason;
	DealStage	from,
				to;
	bool		stage_changed;
	bool		reason_given;
	char	   *old_sd,
			   *new_sd;
	bool		sd_changed;
	int32		old_mgr,
				new_mgr;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	int			cols[6];
	Datum		vals[6];
	bool		nulls[6];
	int			ncols = 0;
	char	   *who;
	Oid			owner,
				save_userid;
	int			save_sec;
	int			guc_nest;
	MemoryContext upper = CurrentMemoryContext;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("deal_transition must be called as a BEFORE UPDATE FOR EACH ROW trigger")));

	desc = td->tg_relation->rd_att;
	oldtup = td->tg_trigtuple;
	newtup = td->tg_newtuple;
	c.id = Col(desc, "id");
	c.stage = Col(desc, "stage");
	c.stage_reason = Col(desc, "stage_reason");
	c.stage_changed_at = Col(desc, "stage_changed_at");
	c.manager_id = Col(desc, "manager_id");
	c.service_decision = Col(desc, "service_decision");
	c.service_decided_at = Col(desc, "service_decided_at");
	c.updated_at = Col(desc, "updated_at");
	c.closed_at = Col(desc, "closed_at");

	id = DatumGetInt64(heap_getattr(oldtup, c.id, desc, &isnull));
	old_stage = GetText(oldtup, desc, c.stage);
	new_stage = GetText(newtup, desc, c.stage);
	if (new_stage == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("the stage of deal " INT64_FORMAT " cannot be empty", id)));
	from = StageFromCode(old_stage);
	to = StageFromCode(new_stage);

	/* a closed or rejected deal is kept as it was */
	if (!StageIsOpen(from))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deal " INT64_FORMAT " is %s and cannot be changed", id, old_stage),
				 errdetail("A closed or rejected deal is kept as it was when it ended.")));

	/* two writers: the one who saw an older version loses */
	if (ChangedConcurrently(oldtup))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("deal " INT64_FORMAT " was changed by someone else at the same time", id),
				 errdetail("Your change was based on the deal as it was before; it is now in stage %s.", old_stage),
				 errhint("Read the deal again and repeat your change if it still applies.")));

	if (DatumGetInt64(heap_getattr(newtup, c.id, desc, &isnull)) != id)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("the id of deal " INT64_FORMAT " cannot change", id)));
	CheckKept(oldtup, newtup, desc, id);
	CheckValues(oldtup, newtup, desc, id);

	stage_changed = strcmp(old_stage, new_stage) != 0;
	old_reason = GetText(oldtup, desc, c.stage_reason);
	new_reason = GetText(newtup, desc, c.stage_reason);
	/* a reason is given when the UPDATE sets a different one */
	reason_given = new_reason != NULL &&
		(old_reason == NULL || strcmp(old_reason, new_reason) != 0);
	old_sd = GetText(oldtup, desc, c.service_decision);
	new_sd = GetText(newtup, desc, c.service_decision);
	sd_changed = (old_sd == NULL) != (new_sd == NULL) ||
		(old_sd != NULL && strcmp(old_sd, new_sd) != 0);
	old_mgr = DatumGetInt32(heap_getattr(oldtup, c.manager_id, desc, &isnull));
	new_mgr = DatumGetInt32(heap_getattr(newtup, c.manager_id, desc, &isnull));

	if (stage_changed)
	{
		if (to == ST_UNKNOWN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown deal stage \"%s\"", new_stage),
					 errhint("The stages are listed in crm.deal_stage.")));
		if (!TransitionAllowed(from, to))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("deal " INT64_FORMAT " cannot move from %s to %s", id, old_stage, new_stage),
					 errdetail("From %s a deal moves only to: %s.", old_stage, NextStages(from))));
		if (to == ST_NOT_SUITABLE && (!reason_given || Blank(new_reason)))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("deal " INT64_FORMAT " can be rejected only with a reason", id),
					 errhint("Set stage_reason in the same UPDATE, or use crm.move_deal(deal, 'not_suitable', reason).")));
	}
	if (sd_changed)
	{
		if (new_sd == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("the service decision of deal " INT64_FORMAT " cannot be removed", id),
					 errdetail("It can be changed from accepted to declined or back.")));
		if (from != ST_SERVICE || stage_changed)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the service decision of deal " INT64_FORMAT " is recorded in stage service", id),
					 errdetail("The deal is in stage %s; service is offered when it enters stage service (R21).", old_stage)));
	}

	who = GetUserNameFromId(GetOuterUserId(), false);
	owner = td->tg_relation->rd_rel->relowner;

	if (stage_changed || sd_changed || old_mgr != new_mgr)
	{
		char	   *reasons = NULL;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		/*
		 * As the owner, with search_path pinned as a SECURITY DEFINER
		 * function's SET clause would pin it: nothing in the statements below
		 * or in a registered check resolves through the caller's path.  An
		 * error ends the (sub)transaction, which restores the setting.
		 */
		guc_nest = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

		if (stage_changed)
		{
			reasons = RunChecks(id, to, upper);
			if (reasons != NULL)
			{
				SetUserIdAndSecContext(save_userid, save_sec);
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("deal " INT64_FORMAT " cannot enter stage %s yet", id, new_stage),
						 errdetail("%s", reasons)));
			}
			WriteHistory(id, "stage", old_stage, new_stage, reason_given ? new_reason : NULL, who);
			if (to == ST_NOT_SUITABLE)
				AutoTask(id, "deal_quality_check", new_reason);
			else if (to == ST_SERVICE)
				AutoTask(id, "offer_service", NULL);
		}
		if (sd_changed)
		{
			WriteHistory(id, "service_decision", old_sd, new_sd, reason_given ? new_reason : NULL, who);
			/* the offer is answered */
			AutoTaskDone(id, "offer_service", strcmp(new_sd, "accepted") == 0 ? "согласие на сервис" : "отказ от сервиса");
			if (strcmp(new_sd, "accepted") == 0)
				AutoTask(id, "service_contract", NULL);
			else
				AutoTaskDone(id, "service_contract", "отказ от сервиса");
		}
		if (old_mgr != new_mgr)
		{
			char	   *f = EmployeeRole(old_mgr);
			char	   *t = EmployeeRole(new_mgr);

			WriteHistory(id, "manager", f, t, reason_given ? new_reason : NULL, who);
			Reassign(id, old_mgr, new_mgr);
		}

		AtEOXact_GUC(true, guc_nest);
		SetUserIdAndSecContext(save_userid, save_sec);
		SPI_finish();
	}

	/* what the trigger sets itself */
	cols[ncols] = c.updated_at;
	vals[ncols] = TimestampTzGetDatum(now);
	nulls[ncols++] = false;
	if (stage_changed)
	{
		cols[ncols] = c.stage_changed_at;
		vals[ncols] = TimestampTzGetDatum(now);
		nulls[ncols++] = false;
		if (!reason_given)
		{
			/* the reason of the previous stage does not carry over */
			cols[ncols] = c.stage_reason;
			vals[ncols] = (Datum) 0;
			nulls[ncols++] = true;
		}
		if (!StageIsOpen(to))
		{
			cols[ncols] = c.closed_at;
			vals[ncols] = TimestampTzGetDatum(now);
			nulls[ncols++] = false;
		}
	}
	if (sd_changed)
	{
		cols[ncols] = c.service_decided_at;
		vals[ncols] = TimestampTzGetDatum(now);
		nulls[ncols++] = false;
	}
	newtup = heap_modify_tuple_by_cols(newtup, desc, ncols, cols, vals, nulls);
	return PointerGetDatum(newtup);
}
