/*
 * intake_match.c
 *	  Matching a request against every contact point and what follows from it
 *	  (R6, R7): a known counterparty gets the interaction in its history and
 *	  its responsible employee is told; an unknown sender becomes a lead with
 *	  a contact, contact points and an inquiry, and the head of sales is
 *	  told; keys of two counterparties make a conflict for triage (no merge);
 *	  a caller without a number makes an anonymous inquiry.
 *
 * Concurrency.  Two requests of the same unknown person at the same moment
 * must make one lead.  Every request first takes transaction-level advisory
 * locks: one on its dedup key (the call's linkedid, the Message-ID ...), then
 * one per matching key (E.164 phone, canonical e-mail), in the order of the
 * lock tags, so two requests sharing keys never wait for each other in a
 * cycle.  The second waits until the first commits; at READ COMMITTED its
 * next statement sees the new lead and appends to it.  At REPEATABLE READ
 * and SERIALIZABLE its snapshot is older than the lead: the lookups are then
 * repeated with a current snapshot, and when they see what the transaction
 * cannot, the request fails with 40001 (serialization_failure) before it has
 * changed anything -- the caller retries the transaction, which then finds
 * the lead.  The unique index on contact_point.normalized stays the last
 * guard: a contact point added concurrently by hand (without the locks)
 * also ends in 40001 here rather than in a duplicate.
 *
 * Every statement is a saved plan (SPI_prepare + SPI_keepplan), with
 * parameters; the paths write with one statement each (data-modifying CTEs).
 * The lookups of a call with a known direction are read straight from the
 * indexes at READ COMMITTED (direct_call_lookup: starting the executor for
 * them cost a third of a known call).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "intake.h"

/* ---- the saved plans -------------------------------------------------- */

/* columns of crm.interaction every path writes, and their parameters */
#define IX_COLS "channel, source, direction, occurred_at, dedup_key, party, subject, body, employee_id, " \
	"caller, called, answered_at, ended_at, duration, billsec, disposition, recording"
#define IX_VALS "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17"
#define IX_NPARAMS 18			/* $18 is the description for notifications */

/* is the key k.key one of the company's own numbers or addresses? */
#define OWN_KEY(k) \
	"(CASE WHEN " k " LIKE '+%' THEN " \
	"   EXISTS (SELECT FROM crm.own_phone o WHERE o.normalized = " k ")" \
	"   OR EXISTS (SELECT FROM crm.employee e WHERE crm.normalize_phone(e.phone) = " k ")" \
	" ELSE EXISTS (SELECT FROM crm.own_domain d WHERE d.domain = pg_catalog.split_part(" k ", '@', 2))" \
	"   OR EXISTS (SELECT FROM crm.employee e WHERE crm.normalize_email(e.email) = " k ") END)"

/* the counterparty, contact and active responsible employee of a key */
#define MATCH_KEY(k) \
	"SELECT cp.counterparty_id, cp.contact_id, c.name," \
	"       (SELECT e.id FROM crm.employee e WHERE e.id = c.responsible_id AND e.active) AS responsible" \
	"  FROM crm.contact_point cp JOIN crm.counterparty c ON c.id = cp.counterparty_id" \
	" WHERE cp.normalized = " k

/* the same for a key known to be a phone (the calls' plans: fewer nodes) */
#define OWN_PHONE(k) \
	"(EXISTS (SELECT FROM crm.own_phone o WHERE o.normalized = " k ")" \
	" OR EXISTS (SELECT FROM crm.employee e WHERE crm.normalize_phone(e.phone) = " k "))"

typedef enum PlanId
{
	P_EXIST,
	P_MATCH,
	P_CALL_IN,
	P_CALL_KNOWN,
	P_KNOWN_DIRECT,
	P_KNOWN,
	P_NEW,
	P_ANON,
	P_ADD_POINTS,
	P_FUTURE,
	P_MAX_BYTES,
	P_CALL_HEAD,
	P_CALL_UPDATE,
	P_OWN,
	P_COUNT
} PlanId;

typedef struct PlanDef
{
	const char *sql;
	int			nargs;
	Oid			types[32];
} PlanDef;

#define IX_TYPES TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, \
	TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID

static const PlanDef plan_defs[P_COUNT] = {
	[P_EXIST] = {
		"SELECT i.id FROM crm.interaction i WHERE i.dedup_key = $1",
		1, {TEXTOID}
	},
	[P_MATCH] = {
		"SELECT k.key, " OWN_KEY("k.key") " AS own, m.counterparty_id, m.contact_id, m.name, m.responsible"
		"  FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS k(key, n)"
		"  LEFT JOIN LATERAL (" MATCH_KEY("k.key") ") m ON true"
		" ORDER BY k.n",
		1, {TEXTARRAYOID}
	},
	/*
	 * A call with its direction given, from an external number: whether the
	 * linkedid is known, whether the number is the company's, whom it
	 * belongs to, and whether the call lies in the future -- one statement.
	 */
	[P_CALL_IN] = {
		"SELECT (SELECT i.id FROM crm.interaction i WHERE i.dedup_key = $1), " OWN_PHONE("$2") ","
		"       m.counterparty_id, m.contact_id, m.name, m.responsible,"
		"       $3 > pg_catalog.clock_timestamp()"
		"            + COALESCE((SELECT s.max_clock_skew FROM crm.intake_settings s), interval '1 hour')"
		"  FROM (SELECT 1) AS one LEFT JOIN LATERAL (" MATCH_KEY("$2") ") m ON true",
		3, {TEXTOID, TEXTOID, TIMESTAMPTZOID}
	},
	/*
	 * The same at READ COMMITTED, with the commonest outcome written in the
	 * same statement: a known client with a responsible employee gets the
	 * call in its history and the employee is told.  Anything else (known
	 * linkedid, the company's own number, a new number, nobody responsible,
	 * a call in the future) writes nothing here and is taken on in C from
	 * what the lookup returned.  $19 is the number's key.
	 */
	[P_CALL_KNOWN] = {
		"WITH m AS MATERIALIZED ("
		"  SELECT (SELECT i.id FROM crm.interaction i WHERE i.dedup_key = $5) AS existing,"
		"         " OWN_PHONE("$19") " AS own, mk.counterparty_id, mk.contact_id, mk.name, mk.responsible,"
		"         $4 > pg_catalog.clock_timestamp()"
		"              + COALESCE((SELECT s.max_clock_skew FROM crm.intake_settings s), interval '1 hour') AS future"
		"    FROM (SELECT 1) AS one LEFT JOIN LATERAL (" MATCH_KEY("$19") ") mk ON true)"
		", ix AS ("
		"  INSERT INTO crm.interaction (" IX_COLS ", counterparty_id, contact_id)"
		"  SELECT " IX_VALS ", m.counterparty_id, m.contact_id FROM m"
		"   WHERE m.existing IS NULL AND NOT m.own AND NOT m.future AND m.responsible IS NOT NULL"
		"  RETURNING id)"
		", nt AS ("
		"  INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)"
		"  SELECT m.responsible, 'counterparty_request', pg_catalog.format('Новое обращение: «%s» — %s', m.name, $18),"
		"         pg_catalog.jsonb_build_object('interaction', ix.id, 'channel', $1), m.counterparty_id"
		"    FROM m, ix WHERE m.responsible IS DISTINCT FROM $9)"
		"SELECT m.existing, m.own, m.counterparty_id, m.contact_id, m.name, m.responsible, m.future,"
		"       (SELECT ix.id FROM ix) FROM m",
		19, {IX_TYPES, TEXTOID}
	},
	/* a known counterparty whose responsible employee is known: told directly */
	[P_KNOWN_DIRECT] = {
		"WITH ix AS ("
		"  INSERT INTO crm.interaction (" IX_COLS ", counterparty_id, contact_id)"
		"  VALUES (" IX_VALS ", $19, $20) RETURNING id)"
		", nt AS ("
		"  INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)"
		"  SELECT $21, 'counterparty_request', pg_catalog.format('Новое обращение: «%s» — %s', $22, $18),"
		"         pg_catalog.jsonb_build_object('interaction', ix.id, 'channel', $1), $19"
		"    FROM ix WHERE $21 IS DISTINCT FROM $9)"
		"SELECT id FROM ix",
		22, {IX_TYPES, INT8OID, INT8OID, INT4OID, TEXTOID}
	},
	/* a known counterparty (or none): the interaction, and who is told */
	[P_KNOWN] = {
		"WITH ix AS ("
		"  INSERT INTO crm.interaction (" IX_COLS ", counterparty_id, contact_id)"
		"  VALUES (" IX_VALS ", $19, $20) RETURNING id)"
		", nt AS ("
		"  INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)"
		"  SELECT r, 'counterparty_request',"
		"         pg_catalog.format('Новое обращение: «%s» — %s', c.name, $18),"
		"         pg_catalog.jsonb_build_object('interaction', ix.id, 'channel', $1), c.id"
		"    FROM ix, crm.counterparty c, crm.intake_counterparty_recipients(c.id) r"
		"   WHERE $21 AND c.id = $19 AND r IS DISTINCT FROM $9)"
		"SELECT id FROM ix",
		21, {IX_TYPES, INT8OID, INT8OID, BOOLOID}
	},
	/* an unknown sender: lead, contact, contact points, inquiry, interaction */
	[P_NEW] = {
		"WITH ids AS MATERIALIZED ("
		"  SELECT pg_catalog.nextval('crm.counterparty_id_seq'::pg_catalog.regclass) AS cp,"
		"         pg_catalog.nextval('crm.contact_id_seq'::pg_catalog.regclass) AS ct,"
		"         pg_catalog.nextval('crm.inquiry_id_seq'::pg_catalog.regclass) AS iq)"
		", cp AS ("
		"  INSERT INTO crm.counterparty (id, kind, name, source_inquiry_id)"
		"  SELECT ids.cp, 'lead', $19, ids.iq FROM ids)"
		", ct AS ("
		"  INSERT INTO crm.contact (id, counterparty_id, full_name)"
		"  SELECT ids.ct, ids.cp, $20 FROM ids)"
		", pt AS ("
		"  INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value, is_primary)"
		"  SELECT ids.ct, ids.cp, k.kind, k.value, k.n = 1"
		"    FROM ids, ROWS FROM (pg_catalog.unnest($21::text[]), pg_catalog.unnest($22::text[])) WITH ORDINALITY AS k(value, kind, n)"
		"  ON CONFLICT (normalized) DO NOTHING RETURNING 1)"
		", iq AS ("
		"  INSERT INTO crm.inquiry (id, channel, source, counterparty_id, contact_id, contact_name, company,"
		"                           phones, emails, request, details)"
		"  SELECT ids.iq, $1, $2, ids.cp, ids.ct, $20, $23, $24, $25, $26, COALESCE($27, '{}') FROM ids)"
		", ix AS ("
		"  INSERT INTO crm.interaction (" IX_COLS ", counterparty_id, contact_id, inquiry_id)"
		"  SELECT " IX_VALS ", ids.cp, ids.ct, ids.iq FROM ids RETURNING id)"
		", nt AS ("
		"  INSERT INTO crm.notification (recipient_id, kind, message, payload, counterparty_id)"
		"  SELECT r, 'new_lead', pg_catalog.format('Новый лид «%s» — %s', $19, $18),"
		"         pg_catalog.jsonb_build_object('inquiry', ids.iq, 'interaction', ix.id, 'channel', $1), ids.cp"
		"    FROM ids, ix, crm.intake_lead_recipients() r"
		"   WHERE r IS DISTINCT FROM $9)"
		"SELECT ix.id, ids.cp, ids.iq, (SELECT pg_catalog.count(*) FROM pt) FROM ids, ix",
		27, {IX_TYPES, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTOID, JSONBOID}
	},
	/* no usable contact, or contacts of different counterparties: triage */
	[P_ANON] = {
		"WITH iq AS ("
		"  INSERT INTO crm.inquiry (channel, source, anonymous, conflict, conflict_counterparty_ids,"
		"                           contact_name, company, phones, emails, request, details)"
		"  VALUES ($1, $2, $19, $20, $21, $22, $23, $24, $25, $26, COALESCE($27, '{}')) RETURNING id)"
		", ix AS ("
		"  INSERT INTO crm.interaction (" IX_COLS ", inquiry_id)"
		"  SELECT " IX_VALS ", iq.id FROM iq RETURNING id)"
		", nt AS ("
		"  INSERT INTO crm.notification (recipient_id, kind, message, payload)"
		"  SELECT r, 'inquiry_conflict',"
		"         pg_catalog.format('Обращение №%s: телефон и e-mail принадлежат разным контрагентам — %s',"
		"                           iq.id, $18),"
		"         pg_catalog.jsonb_build_object('inquiry', iq.id, 'interaction', ix.id, 'channel', $1,"
		"                                       'counterparties', $21)"
		"    FROM iq, ix, crm.intake_lead_recipients() r"
		"   WHERE $20 AND r IS DISTINCT FROM $9)"
		"SELECT ix.id, iq.id FROM iq, ix",
		27, {IX_TYPES, BOOLOID, BOOLOID, INT8ARRAYOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTOID, JSONBOID}
	},
	/* a call: known already? are its numbers the company's own? */
	[P_CALL_HEAD] = {
		"SELECT (SELECT i.id FROM crm.interaction i WHERE i.dedup_key = $1),"
		"  ($2 IS NOT NULL AND " OWN_PHONE("$2") ")"
		"  OR ($3 IS NOT NULL AND EXISTS (SELECT FROM crm.internal_extension x"
		"                                  WHERE $3 BETWEEN x.first_number AND x.last_number)),"
		"  ($4 IS NOT NULL AND " OWN_PHONE("$4") ")"
		"  OR ($5 IS NOT NULL AND EXISTS (SELECT FROM crm.internal_extension x"
		"                                  WHERE $5 BETWEEN x.first_number AND x.last_number))",
		5, {TEXTOID, TEXTOID, INT4OID, TEXTOID, INT4OID}
	},
	/* a call polled again: what is new about it (no dead row when nothing is) */
	[P_CALL_UPDATE] = {
		"UPDATE crm.interaction i SET answered_at = COALESCE($2, i.answered_at),"
		"       ended_at = COALESCE($3, i.ended_at), duration = COALESCE($4, i.duration),"
		"       billsec = COALESCE($5, i.billsec), disposition = COALESCE($6, i.disposition),"
		"       recording = COALESCE($7, i.recording)"
		" WHERE i.id = $1"
		"   AND (i.answered_at, i.ended_at, i.duration, i.billsec, i.disposition, i.recording)"
		"       IS DISTINCT FROM (COALESCE($2, i.answered_at), COALESCE($3, i.ended_at),"
		"                         COALESCE($4, i.duration), COALESCE($5, i.billsec),"
		"                         COALESCE($6, i.disposition), COALESCE($7, i.recording))",
		7, {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID, INT4OID, TEXTOID, TEXTOID}
	},
	[P_OWN] = {
		"SELECT " OWN_KEY("k.key") " FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS k(key, n) ORDER BY k.n",
		1, {TEXTARRAYOID}
	},
	/* a known contact's new phone or address joins its contact points */
	[P_ADD_POINTS] = {
		"INSERT INTO crm.contact_point (contact_id, counterparty_id, kind, value)"
		"SELECT $1, $2, k.kind, k.value FROM ROWS FROM (pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::text[])) AS k(value, kind)"
		"ON CONFLICT (normalized) DO NOTHING",
		4, {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID}
	},
	[P_FUTURE] = {
		"SELECT $1 > pg_catalog.clock_timestamp()"
		"          + COALESCE((SELECT s.max_clock_skew FROM crm.intake_settings s), interval '1 hour')",
		1, {TIMESTAMPTZOID}
	},
	[P_MAX_BYTES] = {
		"SELECT COALESCE((SELECT s.max_message_bytes FROM crm.intake_settings s), 52428800)",
		0, {InvalidOid}
	},
};

static SPIPlanPtr plans[P_COUNT];

/* direct lookups through the indexes (below) */
static bool direct_ready(void);
static bool direct_begin(Snapshot *snap);
static int64 direct_existing(const char *dedup_key, Snapshot snap);
static bool direct_is_future(TimestampTz ts, Snapshot snap);
static int32 direct_max_message_bytes(Snapshot snap);

/* a saved plan, prepared once per backend in *slot (SPI must be connected) */
SPIPlanPtr
IntakeSavedPlan(SPIPlanPtr *slot, const char *sql, int nargs, const Oid *types)
{
	if (*slot == NULL)
	{
		/*
		 * A generic plan, always: these statements are planned once per
		 * backend.  Left to choose, the plan cache would keep planning
		 * custom plans on every call (their constant-folded costs look
		 * cheaper), which costs more than the statements themselves.
		 */
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, (Oid *) types, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL)
			elog(ERROR, "crm intake: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "crm intake: SPI_keepplan failed");
		*slot = p;
	}
	return *slot;
}

void
IntakeExec(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, long tcount)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);

	if (rc < 0)
		elog(ERROR, "crm intake: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

static SPIPlanPtr
get_plan(PlanId id)
{
	return IntakeSavedPlan(&plans[id], plan_defs[id].sql, plan_defs[id].nargs, plan_defs[id].types);
}

static void
exec_plan(PlanId id, Datum *values, const char *nulls, bool read_only, long tcount)
{
	IntakeExec(get_plan(id), values, nulls, read_only, tcount);
}

/* the same with the latest snapshot (the REPEATABLE READ cross-check) */
static void
exec_plan_latest(PlanId id, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_snapshot(get_plan(id), values, nulls, GetLatestSnapshot(),
										  InvalidSnapshot, true, false, 0);

	if (rc < 0)
		elog(ERROR, "crm intake: SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
}

static Datum text_or_null(const char *s, char *null);
static Datum text_array(const char *const *items, int n);

static int64
int8_at(int row, int col, bool *isnull)
{
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull));
}

static void
serialization_failure(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize intake of the request: a concurrent transaction registered %s", what),
			 errdetail("The transaction's snapshot is older than that change."),
			 errhint("Retry the transaction: it will find what the other one registered.")));
}

/* ---- helpers for callers ----------------------------------------------- */

void
IntakeRequestInit(IntakeRequest *r)
{
	memset(r, 0, sizeof(*r));
	r->direction = "in";
}

/* adds a matching key once; false when it is already there or there is no room */
bool
IntakeAddKey(IntakeRequest *r, char kind, const char *value, const char *key)
{
	int			i;

	if (key == NULL || key[0] == '\0')
		return false;
	for (i = 0; i < r->nkeys; i++)
		if (strcmp(r->key[i], key) == 0)
			return false;
	if (r->nkeys >= INTAKE_MAX_KEYS)
		return false;
	r->kind[r->nkeys] = kind;
	r->value[r->nkeys] = pstrdup(value ? value : key);
	r->key[r->nkeys] = pstrdup(key);
	r->nkeys++;
	return true;
}

static uint32
key_hash(const char *key)
{
	return hash_bytes((const unsigned char *) key, (int) strlen(key));
}

static void
lock_hash(uint32 space, uint32 h)
{
	LOCKTAG		tag;

	/* as pg_advisory_xact_lock(int4, int4): visible in pg_locks */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, space, h, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

void
IntakeLockKey(uint32 space, const char *key)
{
	lock_hash(space, key_hash(key));
}

static int
cmp_uint32(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a,
				y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/* The interaction of a dedup key, or 0; at REPEATABLE READ cross-checked. */
int64
IntakeFindExisting(const char *dedup_key)
{
	Datum		v[1] = {CStringGetTextDatum(dedup_key)};
	bool		isnull;
	Snapshot	snap;

	if (direct_begin(&snap))
	{
		int64		id = direct_existing(dedup_key, snap);

		UnregisterSnapshot(snap);
		return id;
	}
	exec_plan(P_EXIST, v, NULL, false, 1);
	if (SPI_processed > 0)
		return int8_at(0, 1, &isnull);
	if (IsolationUsesXactSnapshot())
	{
		exec_plan_latest(P_EXIST, v, NULL);
		if (SPI_processed > 0)
			serialization_failure("the same call or message");
	}
	return 0;
}

bool
IntakeIsFuture(TimestampTz ts)
{
	Datum		v[1] = {TimestampTzGetDatum(ts)};
	bool		isnull;

	/* read-only: as the statement that called us sees the settings */
	if (direct_ready())
		return direct_is_future(ts, GetActiveSnapshot());
	exec_plan(P_FUTURE, v, NULL, true, 1);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void
IntakeCheckFuture(TimestampTz ts, const char *what)
{
	if (IntakeIsFuture(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s lies in the future", what),
				 errdetail("%s is later than now plus crm.intake_settings.max_clock_skew.",
						   timestamptz_to_str(ts)),
				 errhint("Check the clock of the system that sent it.")));
}

int32
IntakeMaxMessageBytes(void)
{
	bool		isnull;

	if (direct_ready())
		return direct_max_message_bytes(GetActiveSnapshot());
	exec_plan(P_MAX_BYTES, NULL, NULL, true, 1);
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * A call's first look: its interaction if the linkedid is known (0 if not;
 * at REPEATABLE READ cross-checked), and whether caller and called are the
 * company's own (numbers, employees' phones, internal extensions).
 */
int64
IntakeCallHead(const char *dedup_key, const char *caller_key, long caller_ext,
			   const char *called_key, long called_ext, bool *caller_own, bool *called_own)
{
	Datum		v[5];
	char		n[6] = "     ";
	bool		isnull;
	int64		id;

	v[0] = CStringGetTextDatum(dedup_key);
	v[1] = text_or_null(caller_key, &n[1]);
	v[2] = Int32GetDatum((int32) caller_ext);
	n[2] = caller_ext >= 0 ? ' ' : 'n';
	v[3] = text_or_null(called_key, &n[3]);
	v[4] = Int32GetDatum((int32) called_ext);
	n[4] = called_ext >= 0 ? ' ' : 'n';
	exec_plan(P_CALL_HEAD, v, n, false, 1);
	id = int8_at(0, 1, &isnull);
	if (isnull)
		id = 0;
	*caller_own = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) && !isnull;
	*called_own = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) && !isnull;
	if (id == 0 && IsolationUsesXactSnapshot())
	{
		exec_plan_latest(P_EXIST, v, NULL);
		if (SPI_processed > 0)
			serialization_failure("the same call");
	}
	return id;
}

void
IntakeCallUpdate(int64 id, const IntakeRequest *r)
{
	Datum		v[7];
	char		n[8];

	v[0] = Int64GetDatum(id);
	n[0] = ' ';
	v[1] = TimestampTzGetDatum(r->answered_at);
	n[1] = r->has_answered ? ' ' : 'n';
	v[2] = TimestampTzGetDatum(r->ended_at);
	n[2] = r->has_ended ? ' ' : 'n';
	v[3] = Int32GetDatum(r->duration);
	n[3] = r->has_duration ? ' ' : 'n';
	v[4] = Int32GetDatum(r->billsec);
	n[4] = r->has_billsec ? ' ' : 'n';
	v[5] = text_or_null(r->disposition, &n[5]);
	v[6] = text_or_null(r->recording, &n[6]);
	n[7] = '\0';
	exec_plan(P_CALL_UPDATE, v, n, false, 0);
}

/* which keys of a request are the company's own (for crm.parse_email) */
void
IntakeOwnKeys(const IntakeRequest *r, bool *own)
{
	Datum		v[1];
	int			i;

	if (r->nkeys == 0)
		return;
	v[0] = text_array(r->key, r->nkeys);
	exec_plan(P_OWN, v, NULL, true, 0);
	for (i = 0; i < (int) SPI_processed && i < r->nkeys; i++)
	{
		bool		isnull;

		own[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* ---- the paths ------------------------------------------------------------- */

static Datum
text_or_null(const char *s, char *null)
{
	*null = (s == NULL) ? 'n' : ' ';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

static Datum
text_array(const char *const *items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* $1..$18: the interaction's columns and the description */
static void
interaction_params(const IntakeRequest *r, const char *direction, Datum *v, char *n)
{
	v[0] = text_or_null(r->channel, &n[0]);
	v[1] = text_or_null(r->source, &n[1]);
	v[2] = text_or_null(direction, &n[2]);
	v[3] = TimestampTzGetDatum(r->occurred_at);
	n[3] = ' ';
	v[4] = text_or_null(r->dedup_key, &n[4]);
	v[5] = text_or_null(r->party, &n[5]);
	v[6] = text_or_null(r->subject, &n[6]);
	v[7] = text_or_null(r->body, &n[7]);
	v[8] = Int32GetDatum(r->employee_id);
	n[8] = r->employee_id > 0 ? ' ' : 'n';
	v[9] = text_or_null(r->caller, &n[9]);
	v[10] = text_or_null(r->called, &n[10]);
	v[11] = TimestampTzGetDatum(r->answered_at);
	n[11] = r->has_answered ? ' ' : 'n';
	v[12] = TimestampTzGetDatum(r->ended_at);
	n[12] = r->has_ended ? ' ' : 'n';
	v[13] = Int32GetDatum(r->duration);
	n[13] = r->has_duration ? ' ' : 'n';
	v[14] = Int32GetDatum(r->billsec);
	n[14] = r->has_billsec ? ' ' : 'n';
	v[15] = text_or_null(r->disposition, &n[15]);
	v[16] = text_or_null(r->recording, &n[16]);
	v[17] = text_or_null(r->describe ? r->describe : r->channel, &n[17]);
}

static int64
record_known(const IntakeRequest *r, const char *direction, int64 counterparty, int64 contact, bool notify)
{
	Datum		v[21];
	char		n[22];
	bool		isnull;

	interaction_params(r, direction, v, n);
	v[18] = Int64GetDatum(counterparty);
	n[18] = counterparty > 0 ? ' ' : 'n';
	v[19] = Int64GetDatum(contact);
	n[19] = contact > 0 ? ' ' : 'n';
	v[20] = BoolGetDatum(notify && counterparty > 0);
	n[20] = ' ';
	n[21] = '\0';
	exec_plan(P_KNOWN, v, n, false, 0);
	return int8_at(0, 1, &isnull);
}

/* keys of one kind ('p' or 'e') among those not owned by the company */
static Datum
keys_of_kind(const IntakeRequest *r, const bool *own, char kind)
{
	const char *items[INTAKE_MAX_KEYS];
	int			i,
				k = 0;

	for (i = 0; i < r->nkeys; i++)
		if (!own[i] && r->kind[i] == kind)
			items[k++] = r->key[i];
	return text_array(items, k);
}

/* $23..$27 of P_NEW and P_ANON: company, phones, emails, request, details */
static void
inquiry_params(const IntakeRequest *r, const bool *own, Datum *v, char *n)
{
	v[0] = text_or_null(r->company, &n[0]);
	v[1] = keys_of_kind(r, own, 'p');
	n[1] = ' ';
	v[2] = keys_of_kind(r, own, 'e');
	n[2] = ' ';
	v[3] = text_or_null(r->request, &n[3]);
	if (r->details != NULL)
	{
		v[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(r->details));
		n[4] = ' ';
	}
	else
	{
		v[4] = (Datum) 0;
		n[4] = 'n';
	}
}

static int64
record_new_lead(const IntakeRequest *r, const bool *own)
{
	Datum		v[27];
	char		n[28];
	const char *values[INTAKE_MAX_KEYS];
	const char *kinds[INTAKE_MAX_KEYS];
	int			i,
				k = 0;
	const char *name = NULL;
	bool		isnull;
	int64		inserted;

	for (i = 0; i < r->nkeys; i++)
		if (!own[i])
		{
			values[k] = r->value[i];
			kinds[k] = r->kind[i] == 'p' ? "phone" : "email";
			k++;
			if (name == NULL)
				name = r->key[i];
		}
	/* the lead is called by what the first contact gave: company, name, key */
	if (r->company)
		name = r->company;
	else if (r->contact_name)
		name = r->contact_name;

	interaction_params(r, "in", v, n);
	v[18] = CStringGetTextDatum(name);
	n[18] = ' ';
	v[19] = text_or_null(r->contact_name, &n[19]);
	v[20] = text_array(values, k);
	n[20] = ' ';
	v[21] = text_array(kinds, k);
	n[21] = ' ';
	inquiry_params(r, own, v + 22, n + 22);
	n[27] = '\0';
	exec_plan(P_NEW, v, n, false, 0);
	inserted = int8_at(0, 4, &isnull);
	if (inserted != k)
		serialization_failure("a contact point of this request");
	return int8_at(0, 1, &isnull);
}

static int64
record_for_triage(const IntakeRequest *r, const bool *own, bool conflict, const int64 *cps, int ncp)
{
	Datum		v[27];
	char		n[28];
	Datum		ids[INTAKE_MAX_KEYS];
	int			i;
	bool		isnull;

	interaction_params(r, "in", v, n);
	v[18] = BoolGetDatum(!conflict);
	n[18] = ' ';
	v[19] = BoolGetDatum(conflict);
	n[19] = ' ';
	if (conflict)
	{
		for (i = 0; i < ncp; i++)
			ids[i] = Int64GetDatum(cps[i]);
		v[20] = PointerGetDatum(construct_array(ids, ncp, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		n[20] = ' ';
	}
	else
	{
		v[20] = (Datum) 0;
		n[20] = 'n';
	}
	v[21] = text_or_null(r->contact_name, &n[21]);
	inquiry_params(r, own, v + 22, n + 22);
	n[27] = '\0';
	exec_plan(P_ANON, v, n, false, 0);
	return int8_at(0, 1, &isnull);
}

static void
add_points(const IntakeRequest *r, const bool *own, const bool *matched, int64 counterparty, int64 contact)
{
	const char *values[INTAKE_MAX_KEYS];
	const char *kinds[INTAKE_MAX_KEYS];
	int			i,
				k = 0;
	Datum		v[4];

	for (i = 0; i < r->nkeys; i++)
		if (!own[i] && !matched[i])
		{
			values[k] = r->value[i];
			kinds[k] = r->kind[i] == 'p' ? "phone" : "email";
			k++;
		}
	if (k == 0)
		return;
	v[0] = Int64GetDatum(contact);
	v[1] = Int64GetDatum(counterparty);
	v[2] = text_array(values, k);
	v[3] = text_array(kinds, k);
	exec_plan(P_ADD_POINTS, v, NULL, false, 0);
}

/* what the keys of a request matched */
typedef struct IntakeMatch
{
	bool		own[INTAKE_MAX_KEYS];
	int64		cp[INTAKE_MAX_KEYS];	/* 0: no contact point has the key */
	int64		ct[INTAKE_MAX_KEYS];
	int32		resp[INTAKE_MAX_KEYS];	/* 0: nobody (active) responsible */
	char	   *name[INTAKE_MAX_KEYS];
} IntakeMatch;

static void direct_match_key(const char *k, Snapshot snap, IntakeMatch *m, int i);

/* locks on every key, in the order of their tags: no deadlock between us */
static void
lock_keys(const IntakeRequest *r)
{
	uint32		hashes[INTAKE_MAX_KEYS];
	int			i;

	for (i = 0; i < r->nkeys; i++)
		hashes[i] = key_hash(r->key[i]);
	qsort(hashes, r->nkeys, sizeof(uint32), cmp_uint32);
	for (i = 0; i < r->nkeys; i++)
		if (i == 0 || hashes[i] != hashes[i - 1])
			lock_hash(INTAKE_LOCK_CONTACT, hashes[i]);
}

/* reads one match (columns first..first+3: counterparty, contact, name, responsible) */
static void
read_match(int row, int first, IntakeMatch *m, int i)
{
	bool		isnull;
	int64		cp = int8_at(row, first, &isnull);

	if (isnull)
		return;
	m->cp[i] = cp;
	m->ct[i] = int8_at(row, first + 1, &isnull);
	if (isnull)
		m->ct[i] = 0;
	m->name[i] = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, first + 2);
	m->resp[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, first + 3, &isnull));
	if (isnull)
		m->resp[i] = 0;
}

static int
count_matched(const IntakeRequest *r, const IntakeMatch *m)
{
	int			i,
				n = 0;

	for (i = 0; i < r->nkeys; i++)
		if (m->cp[i] > 0)
			n++;
	return n;
}

static void
match_keys(const IntakeRequest *r, IntakeMatch *m)
{
	Datum		v[1];
	int			i;

	Snapshot	snap;

	if (r->nkeys == 0)
		return;
	if (direct_begin(&snap))
	{
		/* READ COMMITTED: through the indexes */
		for (i = 0; i < r->nkeys; i++)
			direct_match_key(r->key[i], snap, m, i);
		UnregisterSnapshot(snap);
		return;
	}
	v[0] = text_array(r->key, r->nkeys);
	exec_plan(P_MATCH, v, NULL, false, 0);
	for (i = 0; i < (int) SPI_processed && i < r->nkeys; i++)
	{
		bool		isnull;

		m->own[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		read_match(i, 3, m, i);
	}
	if (IsolationUsesXactSnapshot())
	{
		IntakeMatch latest;

		memset(&latest, 0, sizeof(latest));
		exec_plan_latest(P_MATCH, v, NULL);
		for (i = 0; i < (int) SPI_processed && i < r->nkeys; i++)
			read_match(i, 3, &latest, i);
		if (count_matched(r, &latest) != count_matched(r, m))
			serialization_failure("a contact with the same phone or e-mail");
	}
}

static int64
record_known_direct(const IntakeRequest *r, int64 counterparty, int64 contact, int32 responsible, const char *name)
{
	Datum		v[22];
	char		n[23];
	bool		isnull;

	interaction_params(r, "in", v, n);
	v[18] = Int64GetDatum(counterparty);
	n[18] = ' ';
	v[19] = Int64GetDatum(contact);
	n[19] = contact > 0 ? ' ' : 'n';
	v[20] = Int32GetDatum(responsible);
	n[20] = ' ';
	v[21] = text_or_null(name, &n[21]);
	n[22] = '\0';
	exec_plan(P_KNOWN_DIRECT, v, n, false, 0);
	return int8_at(0, 1, &isnull);
}

/* the path that follows from what matched */
static int64
record_matched(const IntakeRequest *r, const IntakeMatch *m, IntakeOutcome *outcome)
{
	int64		cps[INTAKE_MAX_KEYS];
	bool		matched[INTAKE_MAX_KEYS];
	int			ncp = 0,
				nown = 0,
				first = -1;
	int			i,
				j;
	bool		incoming = strcmp(r->direction, "in") == 0;

	for (i = 0; i < r->nkeys; i++)
	{
		matched[i] = m->cp[i] > 0;
		if (m->own[i])
		{
			nown++;
			continue;
		}
		if (!matched[i])
			continue;
		if (first < 0)
			first = i;
		for (j = 0; j < ncp; j++)
			if (cps[j] == m->cp[i])
				break;
		if (j == ncp)
			cps[ncp++] = m->cp[i];
	}

	if (r->quiet)
	{
		/* a bounce or an auto-reply: history at most, no lead, nobody told */
		*outcome = ncp == 1 ? INTAKE_KNOWN : INTAKE_PLAIN;
		return record_known(r, r->direction, ncp == 1 ? cps[0] : 0, ncp == 1 ? m->ct[first] : 0, false);
	}
	if (!incoming)
	{
		/* outgoing and internal: recorded, never a lead */
		*outcome = INTAKE_PLAIN;
		return record_known(r, r->direction, ncp == 1 ? cps[0] : 0, ncp == 1 ? m->ct[first] : 0, false);
	}
	if (r->nkeys > 0 && nown == r->nkeys)
	{
		/* only the company's own numbers or addresses: internal */
		*outcome = INTAKE_PLAIN;
		return record_known(r, "internal", 0, 0, false);
	}
	if (r->nkeys == 0)
	{
		*outcome = INTAKE_ANONYMOUS;
		return record_for_triage(r, m->own, false, NULL, 0);
	}
	if (ncp == 0)
	{
		*outcome = INTAKE_NEW_LEAD;
		return record_new_lead(r, m->own);
	}
	if (ncp == 1)
	{
		int64		id;

		*outcome = INTAKE_KNOWN;
		if (m->resp[first] > 0)
			id = record_known_direct(r, cps[0], m->ct[first], m->resp[first], m->name[first]);
		else
			id = record_known(r, "in", cps[0], m->ct[first], true);
		add_points(r, m->own, matched, cps[0], m->ct[first]);
		return id;
	}
	*outcome = INTAKE_CONFLICT;
	return record_for_triage(r, m->own, true, cps, ncp);
}

/*
 * Records a request whose dedup key the caller has locked and found new:
 * locks its keys, matches them, and takes the path that follows.  Returns
 * the interaction id.
 */
int64
IntakeProcess(IntakeRequest *r, IntakeOutcome *outcome)
{
	IntakeMatch m;

	memset(&m, 0, sizeof(m));
	lock_keys(r);
	match_keys(r, &m);
	return record_matched(r, &m, outcome);
}

/* ---- a known caller's lookups, without the executor ----------------------- */

/*
 * At READ COMMITTED the call fast path needs six single-row lookups by a
 * unique (or the employees' phone) index: the linkedid, the company's own
 * numbers, the contact point, its counterparty, the responsible employee,
 * the clock-skew setting.  As SQL they cost a third of a known call -- most
 * of it starting the executor for a dozen plan nodes -- so they are done
 * here with the index access methods directly: the same indexes the planner
 * uses, a fresh snapshot as a new statement takes, the same locks.  Only as
 * a superuser (the extension owner that ingest_call runs as): SQL would apply
 * no privilege check and no row-level security to one either; otherwise, or
 * when an index is not as expected, the SQL statement does it.  The OIDs are
 * looked up once per session and forgotten on any relcache invalidation of
 * these relations (ALTER, DROP, a new extension).
 */
typedef enum DirectRel
{
	D_INTERACTION,
	D_OWN_PHONE,
	D_EMPLOYEE,
	D_CONTACT_POINT,
	D_COUNTERPARTY,
	D_SETTINGS,
	D_OWN_DOMAIN,
	D_NREL
} DirectRel;

typedef enum DirectIndex
{
	DI_DEDUP,					/* interaction (dedup_key) */
	DI_OWN_PHONE,				/* own_phone (normalized) */
	DI_EMPLOYEE_PHONE,			/* employee (crm.normalize_phone(phone)) */
	DI_EMPLOYEE,				/* employee (id) */
	DI_CONTACT_POINT,			/* contact_point (normalized) */
	DI_COUNTERPARTY,			/* counterparty (id) */
	DI_SETTINGS,				/* intake_settings (id) */
	DI_OWN_DOMAIN,				/* own_domain (domain) */
	DI_EMPLOYEE_EMAIL,			/* employee (crm.normalize_email(email)) */
	DI_NINDEX
} DirectIndex;

static const struct
{
	DirectRel	rel;
	const char *name;
	const char *column;			/* NULL: an expression index */
	Oid			keytype;
}			direct_index_defs[DI_NINDEX] = {
	[DI_DEDUP] = {D_INTERACTION, "interaction_dedup_key", "dedup_key", TEXTOID},
	[DI_OWN_PHONE] = {D_OWN_PHONE, "own_phone_normalized_key", "normalized", TEXTOID},
	[DI_EMPLOYEE_PHONE] = {D_EMPLOYEE, "employee_phone_key_idx", NULL, TEXTOID},
	[DI_EMPLOYEE] = {D_EMPLOYEE, "employee_pkey", "id", INT4OID},
	[DI_CONTACT_POINT] = {D_CONTACT_POINT, "contact_point_normalized_key", "normalized", TEXTOID},
	[DI_COUNTERPARTY] = {D_COUNTERPARTY, "counterparty_pkey", "id", INT8OID},
	[DI_SETTINGS] = {D_SETTINGS, "intake_settings_pkey", "id", BOOLOID},
	[DI_OWN_DOMAIN] = {D_OWN_DOMAIN, "own_domain_pkey", "domain", TEXTOID},
	[DI_EMPLOYEE_EMAIL] = {D_EMPLOYEE, "employee_email_key_idx", NULL, TEXTOID},
};

static const char *const direct_rel_names[D_NREL] = {
	"interaction", "own_phone", "employee", "contact_point", "counterparty", "intake_settings", "own_domain"
};

/* the columns read */
typedef enum DirectCol
{
	DC_INTERACTION_ID,
	DC_POINT_COUNTERPARTY,
	DC_POINT_CONTACT,
	DC_COUNTERPARTY_NAME,
	DC_COUNTERPARTY_RESPONSIBLE,
	DC_EMPLOYEE_ACTIVE,
	DC_SETTINGS_SKEW,
	DC_SETTINGS_MAX_BYTES,
	DC_EMPLOYEE_ROLE,
	DC_NCOL
} DirectCol;

static const struct
{
	DirectRel	rel;
	const char *name;
	Oid			type;
}			direct_col_defs[DC_NCOL] = {
	[DC_INTERACTION_ID] = {D_INTERACTION, "id", INT8OID},
	[DC_POINT_COUNTERPARTY] = {D_CONTACT_POINT, "counterparty_id", INT8OID},
	[DC_POINT_CONTACT] = {D_CONTACT_POINT, "contact_id", INT8OID},
	[DC_COUNTERPARTY_NAME] = {D_COUNTERPARTY, "name", TEXTOID},
	[DC_COUNTERPARTY_RESPONSIBLE] = {D_COUNTERPARTY, "responsible_id", INT4OID},
	[DC_EMPLOYEE_ACTIVE] = {D_EMPLOYEE, "active", BOOLOID},
	[DC_SETTINGS_SKEW] = {D_SETTINGS, "max_clock_skew", INTERVALOID},
	[DC_SETTINGS_MAX_BYTES] = {D_SETTINGS, "max_message_bytes", INT4OID},
	[DC_EMPLOYEE_ROLE] = {D_EMPLOYEE, "role_name", NAMEOID},
};

static struct
{
	bool		valid;			/* looked up since the last invalidation */
	bool		usable;			/* every relation, index and column as expected */
	Oid			rel[D_NREL];
	Oid			index[DI_NINDEX];
	RegProcedure eqproc[DI_NINDEX]; /* the equality of the index's key */
	AttrNumber	col[DC_NCOL];
}			direct;

static void
direct_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	if (!direct.valid)
		return;
	if (relid == InvalidOid)
	{
		direct.valid = false;
		return;
	}
	for (i = 0; i < D_NREL; i++)
		if (direct.rel[i] == relid)
			direct.valid = false;
	for (i = 0; i < DI_NINDEX; i++)
		if (direct.index[i] == relid)
			direct.valid = false;
}

/* an index of rel with exactly one key, on the column (or an expression) */
static bool
direct_index_ok(Oid index, Oid rel, AttrNumber column)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	{
		Form_pg_index ix = (Form_pg_index) GETSTRUCT(tup);

		ok = ix->indrelid == rel && ix->indnkeyatts == 1 && ix->indisvalid && ix->indisready &&
			ix->indkey.values[0] == column &&
			(column != 0 || !heap_attisnull(tup, Anum_pg_index_indexprs, NULL)) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL);
	}
	ReleaseSysCache(tup);
	if (ok)
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(index));
		if (!HeapTupleIsValid(tup))
			return false;
		ok = ((Form_pg_class) GETSTRUCT(tup))->relam == BTREE_AM_OID;
		ReleaseSysCache(tup);
	}
	return ok;
}

static void
direct_load(void)
{
	static bool registered = false;
	Oid			nsp;
	int			i;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(direct_relcache_callback, (Datum) 0);
		registered = true;
	}
	memset(&direct, 0, sizeof(direct));
	/* valid from now on: an invalidation arriving while we read clears it */
	direct.valid = true;
	nsp = get_namespace_oid("crm", true);
	if (!OidIsValid(nsp))
		return;
	for (i = 0; i < D_NREL; i++)
		if (!OidIsValid(direct.rel[i] = get_relname_relid(direct_rel_names[i], nsp)))
			return;
	for (i = 0; i < DC_NCOL; i++)
	{
		Oid			rel = direct.rel[direct_col_defs[i].rel];

		direct.col[i] = get_attnum(rel, direct_col_defs[i].name);
		if (direct.col[i] <= 0 || get_atttype(rel, direct.col[i]) != direct_col_defs[i].type)
			return;
	}
	for (i = 0; i < DI_NINDEX; i++)
	{
		Oid			rel = direct.rel[direct_index_defs[i].rel];
		Oid			type = direct_index_defs[i].keytype;
		AttrNumber	column = direct_index_defs[i].column ? get_attnum(rel, direct_index_defs[i].column) : 0;
		Relation	idx;
		Oid			eqop;

		direct.index[i] = get_relname_relid(direct_index_defs[i].name, nsp);
		if (!OidIsValid(direct.index[i]) || (direct_index_defs[i].column && column <= 0) ||
			!direct_index_ok(direct.index[i], rel, column))
			return;
		idx = index_open(direct.index[i], AccessShareLock);
		eqop = get_opfamily_member(idx->rd_opfamily[0], type, type, BTEqualStrategyNumber);
		index_close(idx, AccessShareLock);
		if (!OidIsValid(eqop))
			return;
		direct.eqproc[i] = get_opcode(eqop);
	}
	direct.usable = true;
}

/*
 * The first row of the index's table whose key equals key, visible to snap:
 * found or not, and the wanted columns (copied into the current context).
 */
static bool
direct_fetch(DirectIndex ix, Datum key, Snapshot snap, int ncols, const DirectCol *cols, Datum *values,
			 bool *nulls)
{
	Relation	rel = table_open(direct.rel[direct_index_defs[ix].rel], AccessShareLock);
	Relation	idx = index_open(direct.index[ix], AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	ScanKeyData sk;
	IndexScanDesc scan;
	bool		found = false;
	int			i;

	ScanKeyEntryInitialize(&sk, 0, 1, BTEqualStrategyNumber, direct_index_defs[ix].keytype,
						   idx->rd_indcollation[0], direct.eqproc[ix], key);
	scan = index_beginscan(rel, idx, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		found = true;
		for (i = 0; i < ncols; i++)
		{
			Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), direct.col[cols[i]] - 1);

			values[i] = slot_getattr(slot, direct.col[cols[i]], &nulls[i]);
			if (!nulls[i])
				values[i] = datumCopy(values[i], a->attbyval, a->attlen);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return found;
}

/*
 * Starts direct lookups: false when they cannot be (not a superuser, an index
 * not as expected) and SQL must do them.  Else *snap is what a new statement
 * would see: our own changes so far, and every commit before now.
 */
static bool
direct_ready(void)
{
	if (!superuser())
		return false;
	if (!direct.valid)
		direct_load();
	return direct.usable;
}

static bool
direct_begin(Snapshot *snap)
{
	if (IsolationUsesXactSnapshot() || !direct_ready())
		return false;
	CommandCounterIncrement();
	*snap = RegisterSnapshot(GetTransactionSnapshot());
	return true;
}

/* (SELECT i.id FROM crm.interaction i WHERE i.dedup_key = $1), 0 for none */
static int64
direct_existing(const char *dedup_key, Snapshot snap)
{
	static const DirectCol id_col[] = {DC_INTERACTION_ID};
	Datum		v[1];
	bool		nl[1];

	if (direct_fetch(DI_DEDUP, CStringGetTextDatum(dedup_key), snap, 1, id_col, v, nl) && !nl[0])
		return DatumGetInt64(v[0]);
	return 0;
}

/* the row of crm.intake_settings, if any: its max_clock_skew */
static bool
direct_settings_skew(Snapshot snap, Datum *skew)
{
	static const DirectCol skew_col[] = {DC_SETTINGS_SKEW};
	bool		nl[1];

	return direct_fetch(DI_SETTINGS, BoolGetDatum(true), snap, 1, skew_col, skew, nl) && !nl[0];
}

/*
 * Key i of a request, as P_MATCH reads it: OWN_KEY (a phone key -- E.164,
 * '+' first -- is the company's number or an employee's; an address is in
 * one of the company's domains or an employee's) and MATCH_KEY (the contact
 * point, its counterparty, an active responsible employee).
 */
static void
direct_match_key(const char *k, Snapshot snap, IntakeMatch *m, int i)
{
	static const DirectCol point_cols[] = {DC_POINT_COUNTERPARTY, DC_POINT_CONTACT};
	static const DirectCol cp_cols[] = {DC_COUNTERPARTY_NAME, DC_COUNTERPARTY_RESPONSIBLE};
	static const DirectCol active_col[] = {DC_EMPLOYEE_ACTIVE};
	Datum		key = CStringGetTextDatum(k);
	Datum		v[2];
	bool		nl[2];

	if (k[0] == '+')
		m->own[i] = direct_fetch(DI_OWN_PHONE, key, snap, 0, NULL, NULL, NULL) ||
			direct_fetch(DI_EMPLOYEE_PHONE, key, snap, 0, NULL, NULL, NULL);
	else
	{
		/* pg_catalog.split_part(k, '@', 2) */
		const char *at = strchr(k, '@');
		const char *domain = at ? at + 1 : "";
		const char *end = strchr(domain, '@');
		int			len = end ? (int) (end - domain) : (int) strlen(domain);

		m->own[i] = direct_fetch(DI_OWN_DOMAIN, PointerGetDatum(cstring_to_text_with_len(domain, len)),
								 snap, 0, NULL, NULL, NULL) ||
			direct_fetch(DI_EMPLOYEE_EMAIL, key, snap, 0, NULL, NULL, NULL);
	}

	if (direct_fetch(DI_CONTACT_POINT, key, snap, 2, point_cols, v, nl) && !nl[0])
	{
		int64		cp = DatumGetInt64(v[0]);
		int64		ct = nl[1] ? 0 : DatumGetInt64(v[1]);

		if (direct_fetch(DI_COUNTERPARTY, Int64GetDatum(cp), snap, 2, cp_cols, v, nl))
		{
			m->cp[i] = cp;
			m->ct[i] = ct;
			m->name[i] = nl[0] ? NULL : TextDatumGetCString(v[0]);
			if (!nl[1])
			{
				int32		resp = DatumGetInt32(v[1]);

				if (direct_fetch(DI_EMPLOYEE, Int32GetDatum(resp), snap, 1, active_col, v, nl) &&
					!nl[0] && DatumGetBool(v[0]))
					m->resp[i] = resp;
			}
		}
	}
}

/* $1 > clock_timestamp() + COALESCE(max_clock_skew, interval '1 hour') */
static bool
direct_is_future(TimestampTz ts, Snapshot snap)
{
	Interval	hour = {.time = USECS_PER_HOUR};
	Datum		skew = IntervalPGetDatum(&hour);
	Datum		limit;

	(void) direct_settings_skew(snap, &skew);
	limit = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(GetCurrentTimestamp()), skew);
	return ts > DatumGetTimestampTz(limit);
}

/* COALESCE((SELECT s.max_message_bytes FROM crm.intake_settings s), 52428800) */
static int32
direct_max_message_bytes(Snapshot snap)
{
	static const DirectCol col[] = {DC_SETTINGS_MAX_BYTES};
	Datum		v[1];
	bool		nl[1];

	if (direct_fetch(DI_SETTINGS, BoolGetDatum(true), snap, 1, col, v, nl) && !nl[0])
		return DatumGetInt32(v[0]);
	return 52428800;
}

/*
 * For crm.notification_announce: the role of an employee, as
 * "SELECT e.role_name FROM crm.employee e WHERE e.id = $1" would read it in
 * a new statement.  False when it cannot be read directly (see direct_begin);
 * else *role is the role name, or NULL when there is no such employee.
 */
bool
IntakeEmployeeRole(int32 employee, char **role)
{
	static const DirectCol col[] = {DC_EMPLOYEE_ROLE};
	Snapshot	snap;
	Datum		v[1];
	bool		nl[1];

	if (!direct_begin(&snap))
		return false;
	*role = NULL;
	if (direct_fetch(DI_EMPLOYEE, Int32GetDatum(employee), snap, 1, col, v, nl) && !nl[0])
		*role = pstrdup(NameStr(*DatumGetName(v[0])));
	UnregisterSnapshot(snap);
	return true;
}

/* what P_CALL_KNOWN's lookup returns, read directly (see direct_begin) */
static bool
direct_call_lookup(const IntakeRequest *r, int64 *existing, bool *future, IntakeMatch *m)
{
	Snapshot	snap;

	if (!direct_begin(&snap))
		return false;
	*existing = direct_existing(r->dedup_key, snap);
	*future = direct_is_future(r->occurred_at, snap);
	direct_match_key(r->key[0], snap, m, 0);
	UnregisterSnapshot(snap);
	return true;
}

/*
 * The fast path of a call whose direction the PBX gave as "in", from a
 * number with a key (r->key[0]): the dedup key and the number's key are
 * locked (in that order, as everywhere), then both are looked up -- at READ
 * COMMITTED directly through the indexes (direct_call_lookup), else, or
 * when that cannot be, by one statement (which at READ COMMITTED also
 * writes a known client's call).
 * *existed tells the caller that the linkedid is known (the returned id is
 * that call's, nothing was written).
 */
int64
IntakeCallIn(IntakeRequest *r, bool *existed, IntakeOutcome *outcome)
{
	IntakeMatch m;
	Datum		v[22];
	char		n[23];
	bool		isnull;
	int64		id;
	HeapTuple	tup;
	TupleDesc	td;

	Assert(r->nkeys == 1);
	memset(&m, 0, sizeof(m));
	*existed = false;
	IntakeLockKey(INTAKE_LOCK_DEDUP, r->dedup_key);
	lock_keys(r);

	if (!IsolationUsesXactSnapshot())
	{
		int64		existing;
		bool		future;

		/* READ COMMITTED: look up directly, then the path that follows */
		if (direct_call_lookup(r, &existing, &future, &m))
		{
			if (existing != 0)
			{
				*existed = true;
				*outcome = INTAKE_EXISTED;
				return existing;
			}
			if (future)
				IntakeCheckFuture(r->occurred_at, "the call's start time");	/* raises */
			return record_matched(r, &m, outcome);
		}

		/* otherwise: look up, and for a known client write, at once */
		interaction_params(r, "in", v, n);
		v[18] = CStringGetTextDatum(r->key[0]);
		n[18] = ' ';
		n[19] = '\0';
		exec_plan(P_CALL_KNOWN, v, n, false, 1);
		tup = SPI_tuptable->vals[0];
		td = SPI_tuptable->tupdesc;
		id = DatumGetInt64(SPI_getbinval(tup, td, 8, &isnull));
		if (!isnull)
		{
			*outcome = INTAKE_KNOWN;
			return id;
		}
		id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		if (!isnull)
		{
			*existed = true;
			*outcome = INTAKE_EXISTED;
			return id;
		}
		if (DatumGetBool(SPI_getbinval(tup, td, 7, &isnull)))
			IntakeCheckFuture(r->occurred_at, "the call's start time");	/* raises */
		m.own[0] = DatumGetBool(SPI_getbinval(tup, td, 2, &isnull));
		read_match(0, 3, &m, 0);
		return record_matched(r, &m, outcome);
	}

	/* REPEATABLE READ and SERIALIZABLE: look up, cross-check, then write */
	v[0] = CStringGetTextDatum(r->dedup_key);
	v[1] = CStringGetTextDatum(r->key[0]);
	v[2] = TimestampTzGetDatum(r->occurred_at);
	exec_plan(P_CALL_IN, v, NULL, false, 1);
	tup = SPI_tuptable->vals[0];
	id = int8_at(0, 1, &isnull);
	if (!isnull)
	{
		*existed = true;
		*outcome = INTAKE_EXISTED;
		return id;
	}
	if (DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 7, &isnull)))
		IntakeCheckFuture(r->occurred_at, "the call's start time");	/* raises */
	m.own[0] = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	read_match(0, 3, &m, 0);
	{
		IntakeMatch latest;

		memset(&latest, 0, sizeof(latest));
		exec_plan_latest(P_CALL_IN, v, NULL);
		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			serialization_failure("the same call");
		read_match(0, 3, &latest, 0);
		if (latest.cp[0] != m.cp[0])
			serialization_failure("a contact with the same phone or e-mail");
	}
	return record_matched(r, &m, outcome);
}
