/*
 * order.c
 *	  Customer orders (R15) and their split (R16): crm.place_order and
 *	  crm.split_order.
 *
 * The split, per line: first reserve what is free in stock (the warehouse
 * order, allocate.c); the rest becomes a production order if the company
 * makes the product, otherwise a supplier order from the product's preferred
 * active supplier.  Each line runs in its own subtransaction: a line that
 * cannot be processed (product inactive or blocked, no supplier configured,
 * any data or state error) is rolled back alone and gets the exception
 * recorded on it, and the other lines go on.  Errors that are not about the
 * line (deadlock, serialization failure, lock timeout, cancel, out of
 * memory, internal errors) abort the whole call as usual.
 *
 * Lines are split in product order, so that two orders with the same
 * products lock their lots in the same order whatever the order of their
 * lines (no deadlock); the order row itself is locked first.
 *
 * Privileges: these functions run with the caller's rights (SECURITY
 * INVOKER) for the one query that decides whether the caller may act on the
 * customer or the order (row-level security applies), then switch to the
 * owner of the crm schema for the writes, which no group role may do
 * directly (the pg_cron habit: SetUserIdAndSecContext around SPI).  Their
 * search_path is pinned by their declaration.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "fulfilment.h"

PG_FUNCTION_INFO_V1(place_order);
PG_FUNCTION_INFO_V1(create_customer_order);
PG_FUNCTION_INFO_V1(split_order);

/* most lines in one order */
#define MAX_ORDER_LINES 1000

/* a line to split, with what the split needs to know about its product */
typedef struct SplitLine
{
	int64		line_id;
	int64		product_id;
	Numeric		need;
	bool		active;
	char	   *blocked;		/* blocked_reason or NULL */
	bool		made_in_house;
	char	   *sku;
	int32		min_days;		/* minimum remaining shelf life */
	bool		has_production_days;
	int32		production_days;
} SplitLine;

/* the columns of a SplitLine, l = order line, p = product, $cp = customer */
#define LINE_WORK_COLUMNS(cp) \
	"l.id, l.product_id, l.unassigned_qty, p.active, p.blocked_reason, p.made_in_house, p.sku," \
	" GREATEST(COALESCE(p.min_remaining_shelf_days, 0)," \
	"   COALESCE((SELECT max(s.min_remaining_days) FROM crm.customer_shelf_life s" \
	"              WHERE s.counterparty_id = " cp \
	"                AND (s.product_id = l.product_id OR s.product_id IS NULL)), 0))," \
	" p.production_days"

typedef enum
{
	Q_VISIBLE_CUSTOMER,
	Q_VISIBLE_ORDER,
	Q_VISIBLE_DEAL,
	Q_LOCK_DEAL,
	Q_DEAL_ORDER,
	Q_DEAL_LINES,
	Q_DEFAULT_WAREHOUSE,
	Q_INSERT_ORDER,
	Q_WAREHOUSE,
	Q_INSERT_LINES,
	Q_BAD_PRODUCT,
	Q_LOCK_ORDER,
	Q_LINES,
	Q_PRODUCTION,
	Q_SUPPLIER,
	Q_RESERVE_BATCH,
	Q_LINES_BATCH,
	Q_LINE_EXCEPTION,
	N_QUERIES
} QueryId;

typedef struct SplitQuery
{
	const char *sql;
	int			nargs;
	Oid			types[7];
} SplitQuery;

static const SplitQuery queries[N_QUERIES] = {
	[Q_VISIBLE_CUSTOMER] = {"SELECT 1 FROM crm.counterparty WHERE id = $1", 1, {INT8OID}},
	[Q_VISIBLE_ORDER] = {"SELECT 1 FROM crm.customer_order WHERE id = $1", 1, {INT8OID}},
	[Q_VISIBLE_DEAL] = {"SELECT 1 FROM crm.deal WHERE id = $1", 1, {INT8OID}},
	[Q_LOCK_DEAL] = {
		"SELECT counterparty_id, agreed_at IS NOT NULL, stage FROM crm.deal WHERE id = $1"
		" FOR NO KEY UPDATE", 1, {INT8OID}},
	[Q_DEAL_ORDER] = {
		"SELECT id FROM crm.customer_order WHERE deal_id = $1 AND status <> 'cancelled'", 1, {INT8OID}},
	[Q_DEAL_LINES] = {
		"SELECT count(*)::int4, array_agg(product_id ORDER BY id), array_agg(quantity::numeric ORDER BY id),"
		"       array_agg(unit_price::numeric ORDER BY id), array_agg(id ORDER BY id)"
		"  FROM crm.deal_line WHERE deal_id = $1", 1, {INT8OID}},
	[Q_DEFAULT_WAREHOUSE] = {
		"SELECT id FROM crm.warehouse WHERE active AND (code = $1 OR $1 = '') ORDER BY id LIMIT 1",
		1, {TEXTOID}},
	[Q_INSERT_ORDER] = {
		"INSERT INTO crm.customer_order (counterparty_id, warehouse_id, deal_id, note)"
		" SELECT $1, w.id, $3, $4 FROM crm.warehouse w WHERE w.id = $2 AND w.active"
		" RETURNING id", 4, {INT8OID, INT4OID, INT8OID, TEXTOID}},
	[Q_WAREHOUSE] = {"SELECT active, code FROM crm.warehouse WHERE id = $1", 1, {INT4OID}},
	[Q_INSERT_LINES] = {
		"WITH l AS ("
		"  INSERT INTO crm.order_line (order_id, line_no, product_id, quantity, unit_price, deal_line_id)"
		"  SELECT $1, u.ord, p.id, u.qty, u.price, u.deal_line"
		"    FROM unnest($2::int8[], $3::numeric[], $4::numeric[], $5::int8[])"
		"         WITH ORDINALITY AS u(product, qty, price, deal_line, ord)"
		"    JOIN crm.product p ON p.id = u.product AND (p.active OR $7)"
		"  RETURNING *)"
		" SELECT " LINE_WORK_COLUMNS("$6")
		"   FROM l JOIN crm.product p ON p.id = l.product_id"
		"  ORDER BY l.product_id, l.id",
		7, {INT8OID, INT8ARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID, INT8ARRAYOID, INT8OID, BOOLOID}},
	[Q_BAD_PRODUCT] = {
		"SELECT u.ord, u.product, p.id IS NOT NULL, p.sku"
		"  FROM unnest($1::int8[]) WITH ORDINALITY AS u(product, ord)"
		"  LEFT JOIN crm.product p ON p.id = u.product"
		" WHERE p.id IS NULL OR NOT p.active ORDER BY u.ord LIMIT 1", 1, {INT8ARRAYOID}},
	[Q_LOCK_ORDER] = {
		"SELECT status, warehouse_id, counterparty_id FROM crm.customer_order"
		" WHERE id = $1 FOR NO KEY UPDATE", 1, {INT8OID}},
	[Q_LINES] = {
		"SELECT " LINE_WORK_COLUMNS("$2")
		"  FROM crm.order_line l JOIN crm.product p ON p.id = l.product_id"
		" WHERE l.order_id = $1 AND l.unassigned_qty > 0"
		" ORDER BY l.product_id, l.id", 2, {INT8OID, INT8OID}},
	[Q_PRODUCTION] = {
		"INSERT INTO crm.production_order (order_line_id, product_id, warehouse_id, quantity,"
		"                                  planned_start, planned_finish)"
		" VALUES ($1, $2, $3, $4, CURRENT_DATE, CURRENT_DATE + $5)",
		5, {INT8OID, INT8OID, INT4OID, NUMERICOID, INT4OID}},
	[Q_SUPPLIER] = {
		"INSERT INTO crm.supplier_order (supplier_id, order_line_id, product_id, warehouse_id, quantity,"
		"                                unit_price, expected_on)"
		" SELECT s.supplier_id, $1, s.product_id, $3, $4, s.price, CURRENT_DATE + s.lead_time_days"
		"   FROM crm.product_supplier s"
		"   JOIN crm.counterparty c ON c.id = s.supplier_id AND c.kind IN ('supplier', 'partner')"
		"  WHERE s.product_id = $2 AND s.active"
		"  ORDER BY s.priority, s.supplier_id LIMIT 1"
		" RETURNING id", 4, {INT8OID, INT8OID, INT4OID, NUMERICOID}},
	[Q_RESERVE_BATCH] = {
		"INSERT INTO crm.reservation AS r (order_line_id, lot_id, quantity)"
		" SELECT u.line, u.lot, sum(u.qty) FROM unnest($1::int8[], $2::int8[], $3::numeric[]) AS u(line, lot, qty)"
		"  GROUP BY u.line, u.lot"
		" ON CONFLICT (order_line_id, lot_id) DO UPDATE SET quantity = r.quantity + EXCLUDED.quantity",
		3, {INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID}},
	[Q_LINES_BATCH] = {
		"UPDATE crm.order_line ol SET reserved_qty = ol.reserved_qty + u.r,"
		"  production_qty = ol.production_qty + u.p, supplier_qty = ol.supplier_qty + u.s,"
		"  exception = NULL, exception_sqlstate = NULL, exception_at = NULL"
		" FROM unnest($1::int8[], $2::numeric[], $3::numeric[], $4::numeric[]) AS u(id, r, p, s)"
		" WHERE ol.id = u.id",
		4, {INT8ARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID}},
	[Q_LINE_EXCEPTION] = {
		"UPDATE crm.order_line SET exception = $2, exception_sqlstate = $3, exception_at = now()"
		" WHERE id = $1", 3, {INT8OID, TEXTOID, TEXTOID}},
};

static SPIPlanPtr plans[N_QUERIES];

/* crm.lot_expiry_alert_days: read by crm.alert_expiring_lots() */
static int	lot_expiry_alert_days = 30;

/* crm.default_warehouse: code of the warehouse deal orders ship from */
static char *default_warehouse = NULL;

void
FulfilmentInit(void)
{
	DefineCustomIntVariable("crm.lot_expiry_alert_days",
							"Days ahead the expiry alert job warns about expiring lots.",
							"Read by crm.alert_expiring_lots() when it is called without a horizon.",
							&lot_expiry_alert_days, 30, 0, 3650, PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("crm.default_warehouse",
							   "Code of the warehouse that reserves and ships the orders made from deals.",
							   "Empty: the active warehouse with the lowest id.",
							   &default_warehouse, "", PGC_USERSET, 0,
							   NULL, NULL, NULL);
}

/* Runs a kept plan; returns SPI_processed. */
static uint64
Run(QueryId q, Datum *values, const char *nulls, bool read_only)
{
	int			rc;

	if (plans[q] == NULL)
	{
		/* a generic plan at once: these run thousands of times with new parameters */
		SPIPlanPtr	plan = SPI_prepare_cursor(queries[q].sql, queries[q].nargs, (Oid *) queries[q].types,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for fulfilment query %d: %s", (int) q,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plans[q] = plan;
	}
	rc = SPI_execute_plan(plans[q], values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "fulfilment query %d failed: %s", (int) q, SPI_result_code_string(rc));
	return SPI_processed;
}

static Datum
Col(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* The owner of schema crm: the role the writes run as. */
static Oid
CrmOwner(void)
{
	Oid			nsp = get_namespace_oid("crm", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema crm");
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

typedef struct Identity
{
	Oid			userid;
	int			sec_context;
} Identity;

static void
BecomeOwner(Identity *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(CrmOwner(), saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

static void
RestoreIdentity(const Identity *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

/* reads the SplitLines of the current SPI result (in the current context) */
static SplitLine *
ReadLines(uint64 n)
{
	SplitLine  *lines = palloc0(sizeof(SplitLine) * (n > 0 ? n : 1));
	uint64		i;

	for (i = 0; i < n; i++)
	{
		SplitLine  *l = &lines[i];
		bool		isnull;
		Datum		d;

		l->line_id = DatumGetInt64(Col(i, 1, &isnull));
		l->product_id = DatumGetInt64(Col(i, 2, &isnull));
		l->need = DatumGetNumericCopy(Col(i, 3, &isnull));
		l->active = DatumGetBool(Col(i, 4, &isnull));
		d = Col(i, 5, &isnull);
		l->blocked = isnull ? NULL : TextDatumGetCString(d);
		l->made_in_house = DatumGetBool(Col(i, 6, &isnull));
		l->sku = TextDatumGetCString(Col(i, 7, &isnull));
		l->min_days = DatumGetInt32(Col(i, 8, &isnull));
		d = Col(i, 9, &isnull);
		l->has_production_days = !isnull;
		l->production_days = isnull ? 0 : DatumGetInt32(d);
	}
	return lines;
}

/* what the split of a line came to */
typedef struct LineResult
{
	Numeric		reserved;
	Numeric		production;
	Numeric		supplier;
} LineResult;

/*
 * The split of one line: allocation (what it takes is appended to taken)
 * and replenishment.  Any error rolls the line back (SplitLines).
 */
static void
SplitOneLine(const SplitLine *l, int32 warehouse_id, TakenList *taken, LineResult *result)
{
	Numeric		reserved;
	Numeric		rest;
	Numeric		production = NumericZero();
	Numeric		supplier = NumericZero();
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (!l->active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("product %s is not active", l->sku),
				 errdetail("An inactive product is neither reserved nor replenished.")));
	if (l->blocked != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("product %s is blocked for sale: %s", l->sku, l->blocked),
				 errdetail("A blocked product is neither reserved nor replenished.")));

	reserved = AllocateLine(l->line_id, l->product_id, warehouse_id, l->need, l->min_days, taken);
	rest = NumericSub(l->need, reserved);
	if (NumericIsPositive(rest))
	{
		values[0] = Int64GetDatum(l->line_id);
		values[1] = Int64GetDatum(l->product_id);
		values[2] = Int32GetDatum(warehouse_id);
		values[3] = NumericGetDatum(rest);
		if (l->made_in_house)
		{
			values[4] = Int32GetDatum(l->production_days);
			nulls[4] = l->has_production_days ? ' ' : 'n';
			Run(Q_PRODUCTION, values, nulls, false);
			production = rest;
		}
		else
		{
			if (Run(Q_SUPPLIER, values, NULL, false) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("no supplier is configured for product %s", l->sku),
						 errdetail("%s of %s are not in stock and the company does not make it.",
								   NumericText(rest), NumericText(l->need)),
						 errhint("Add an active supplier to crm.product_supplier, then run crm.split_order().")));
			supplier = rest;
		}
	}
	result->reserved = reserved;
	result->production = production;
	result->supplier = supplier;
}

static Datum
Int8Array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
NumericArray(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, NUMERICOID, -1, false, TYPALIGN_INT));
}

/*
 * Errors that say something about the line are recorded on it; the others
 * (the transaction must be retried, the session is being cancelled, the
 * server is in trouble) abort the whole call.
 */
static bool
LineError(int sqlerrcode)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_INVALID_TRANSACTION_STATE:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			break;
	}
	return sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE && sqlerrcode != ERRCODE_OBJECT_IN_USE;
}

/*
 * Splits the lines, each in its own subtransaction: a failing line is rolled
 * back alone and its exception recorded.  Then the reservations and the
 * quantities of the lines that succeeded are written in two set-based
 * statements.  Returns the number of exceptions.
 */
static int
SplitLines(const SplitLine *lines, uint64 n, int32 warehouse_id)
{
	volatile int exceptions = 0;
	volatile uint64 i;
	TakenList	taken = {NULL, 0, 0};
	Datum	   *done_id = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	Datum	   *done_r = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	Datum	   *done_p = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	Datum	   *done_s = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	volatile int ndone = 0;

	for (i = 0; i < n; i++)
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		int			taken_before = taken.n;
		LineResult	result;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcontext);
		PG_TRY();
		{
			SplitOneLine(&lines[i], warehouse_id, &taken, &result);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			done_id[ndone] = Int64GetDatum(lines[i].line_id);
			done_r[ndone] = NumericGetDatum(result.reserved);
			done_p[ndone] = NumericGetDatum(result.production);
			done_s[ndone] = NumericGetDatum(result.supplier);
			ndone++;
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			Datum		values[3];

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			if (!LineError(edata->sqlerrcode))
				ReThrowError(edata);
			taken.n = taken_before; /* its lots were rolled back with it */
			values[0] = Int64GetDatum(lines[i].line_id);
			values[1] = CStringGetTextDatum(edata->message ? edata->message : "error");
			values[2] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
			Run(Q_LINE_EXCEPTION, values, NULL, false);
			FreeErrorData(edata);
			exceptions++;
		}
		PG_END_TRY();
	}

	if (taken.n > 0)
	{
		Datum	   *line_ids = palloc(sizeof(Datum) * taken.n);
		Datum	   *lot_ids = palloc(sizeof(Datum) * taken.n);
		Datum	   *qty = palloc(sizeof(Datum) * taken.n);
		Datum		values[3];
		int			k;

		for (k = 0; k < taken.n; k++)
		{
			line_ids[k] = Int64GetDatum(taken.items[k].line_id);
			lot_ids[k] = Int64GetDatum(taken.items[k].lot_id);
			qty[k] = NumericGetDatum(taken.items[k].quantity);
		}
		values[0] = Int8Array(line_ids, taken.n);
		values[1] = Int8Array(lot_ids, taken.n);
		values[2] = NumericArray(qty, taken.n);
		Run(Q_RESERVE_BATCH, values, NULL, false);
	}
	if (ndone > 0)
	{
		Datum		values[4];

		values[0] = Int8Array(done_id, ndone);
		values[1] = NumericArray(done_r, ndone);
		values[2] = NumericArray(done_p, ndone);
		values[3] = NumericArray(done_s, ndone);
		Run(Q_LINES_BATCH, values, NULL, false);
	}
	return exceptions;
}

/* Validates the line arrays of an order; returns the number of lines. */
static int
CheckLines(ArrayType *products, ArrayType *quantities, ArrayType *prices)
{
	int			n;
	Datum	   *q;
	bool	   *qnull;
	int			nq;
	int			i;

	if (ARR_NDIM(products) == 0 || ARR_NDIM(quantities) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("an order needs at least one line")));
	if (ARR_NDIM(products) != 1 || ARR_NDIM(quantities) != 1 ||
		(prices != NULL && ARR_NDIM(prices) > 1))
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("products, quantities and prices are one-dimensional arrays")));
	n = ArrayGetNItems(1, ARR_DIMS(products));
	if (ArrayGetNItems(1, ARR_DIMS(quantities)) != n ||
		(prices != NULL && ARR_NDIM(prices) == 1 && ArrayGetNItems(1, ARR_DIMS(prices)) != n))
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("products, quantities and prices must have the same number of elements")));
	if (n > MAX_ORDER_LINES)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("an order has at most %d lines", MAX_ORDER_LINES)));
	if (array_contains_nulls(products))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("every order line needs a product")));
	deconstruct_array(quantities, NUMERICOID, -1, false, TYPALIGN_INT, &q, &qnull, &nq);
	for (i = 0; i < nq; i++)
	{
		Numeric		v;

		if (qnull[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("line %d of the order has no quantity", i + 1)));
		v = DatumGetNumeric(q[i]);
		if (!NumericIsPositive(v) || numeric_is_inf(v))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("quantity of line %d must be positive, not %s", i + 1, NumericText(v))));
		if (!DatumGetBool(DirectFunctionCall2(numeric_eq, q[i],
											  DirectFunctionCall2(numeric_round, q[i], Int32GetDatum(3)))))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("quantity of line %d has more than 3 decimals: %s", i + 1, NumericText(v))));
	}
	if (prices != NULL && ARR_NDIM(prices) == 1)
	{
		deconstruct_array(prices, NUMERICOID, -1, false, TYPALIGN_INT, &q, &qnull, &nq);
		for (i = 0; i < nq; i++)
			if (!qnull[i] && (numeric_is_nan(DatumGetNumeric(q[i])) ||
							  NumericGreater(NumericZero(), DatumGetNumeric(q[i]))))
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("price of line %d must not be negative, not %s", i + 1,
									   NumericText(DatumGetNumeric(q[i])))));
	}
	return n;
}

/* Says why an order line could not be inserted: a product missing or inactive. */
static void
ReportBadProduct(Datum products)
{
	bool		isnull;
	int32		ord;
	int64		product;

	if (Run(Q_BAD_PRODUCT, &products, NULL, true) == 0)
		elog(ERROR, "order lines were not inserted, and every product is active");
	ord = (int32) DatumGetInt64(Col(0, 1, &isnull));
	product = DatumGetInt64(Col(0, 2, &isnull));
	if (!DatumGetBool(Col(0, 3, &isnull)))
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("product %lld of line %d does not exist", (long long) product, ord)));
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("product %s of line %d is not active",
						   TextDatumGetCString(Col(0, 4, &isnull)), ord),
					errdetail("Inactive products cannot be ordered.")));
}

static void
ReportBadWarehouse(int32 warehouse)
{
	Datum		v = Int32GetDatum(warehouse);
	bool		isnull;

	if (Run(Q_WAREHOUSE, &v, NULL, true) == 0)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("warehouse %d does not exist", warehouse)));
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("warehouse \"%s\" is not active", TextDatumGetCString(Col(0, 2, &isnull)))));
}

/*
 * Creates a customer order with its lines and splits it.  Runs inside
 * SPI_connect.  deal and deal_lines may be null (Datum 0 with their null
 * flag).  Returns the order id.
 */
static int64
PlaceOrder(int64 customer, int32 warehouse, Datum products, Datum quantities,
		   Datum prices, bool prices_null, Datum deal_lines, bool deal_lines_null,
		   Datum deal, bool deal_null, Datum note, bool note_null, int nlines)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		order_id;
	uint64		n;
	SplitLine  *lines;

	values[0] = Int64GetDatum(customer);
	values[1] = Int32GetDatum(warehouse);
	values[2] = deal;
	nulls[2] = deal_null ? 'n' : ' ';
	values[3] = note;
	nulls[3] = note_null ? 'n' : ' ';
	if (Run(Q_INSERT_ORDER, values, nulls, false) != 1)
		ReportBadWarehouse(warehouse);
	order_id = DatumGetInt64(Col(0, 1, &isnull));

	values[0] = Int64GetDatum(order_id);
	values[1] = products;
	values[2] = quantities;
	values[3] = prices;
	nulls[3] = prices_null ? 'n' : ' ';
	values[4] = deal_lines;
	nulls[4] = deal_lines_null ? 'n' : ' ';
	values[5] = Int64GetDatum(customer);
	/* an agreed deal's line whose product was deactivated since gets an exception */
	values[6] = BoolGetDatum(!deal_null);
	nulls[2] = nulls[1] = nulls[0] = nulls[5] = ' ';
	n = Run(Q_INSERT_LINES, values, nulls, false);
	if (n != (uint64) nlines)
		ReportBadProduct(products);
	lines = ReadLines(n);
	SplitLines(lines, n, warehouse);
	return order_id;
}

/*
 * crm.place_order(customer bigint, warehouse integer, products bigint[],
 *                 quantities numeric[], unit_prices numeric[] DEFAULT NULL,
 *                 note text DEFAULT NULL) RETURNS bigint
 *
 * Creates a customer order for a customer the caller works with, and splits
 * it at once.  Bad input (no lines, a quantity not positive, an unknown or
 * inactive product or warehouse) is an error and changes nothing.
 */
Datum
place_order(PG_FUNCTION_ARGS)
{
	ArrayType  *products;
	ArrayType  *quantities;
	ArrayType  *prices = NULL;
	int			nlines;
	int64		order_id;
	Identity	saved;
	Datum		values[1];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("customer, warehouse, products and quantities are required")));
	products = PG_GETARG_ARRAYTYPE_P(2);
	quantities = PG_GETARG_ARRAYTYPE_P(3);
	if (!PG_ARGISNULL(4))
		prices = PG_GETARG_ARRAYTYPE_P(4);
	nlines = CheckLines(products, quantities, prices);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* as the caller: may they order for this customer? */
	values[0] = PG_GETARG_DATUM(0);
	if (Run(Q_VISIBLE_CUSTOMER, values, NULL, true) == 0)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("customer %lld does not exist", (long long) PG_GETARG_INT64(0)),
						errdetail("Or it is not among the counterparties you work with.")));
	BecomeOwner(&saved);
	order_id = PlaceOrder(PG_GETARG_INT64(0), PG_GETARG_INT32(1),
						  PointerGetDatum(products), PointerGetDatum(quantities),
						  PointerGetDatum(prices), prices == NULL || ARR_NDIM(prices) == 0,
						  (Datum) 0, true, (Datum) 0, true,
						  PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5), PG_ARGISNULL(5),
						  nlines);
	RestoreIdentity(&saved);
	SPI_finish();
	PG_RETURN_INT64(order_id);
}

/*
 * crm.create_customer_order(deal bigint, warehouse integer DEFAULT NULL)
 * RETURNS bigint
 *
 * R15: the customer order of a deal, made from its agreed lines and split at
 * once (R16).  The caller must see the deal.  Idempotent: a deal has one
 * order (not counting cancelled ones), and a second call returns it.  A line
 * whose product was deactivated after the agreement gets an exception, the
 * others go on.  warehouse NULL: crm.default_warehouse, else the active
 * warehouse with the lowest id.
 */
Datum
create_customer_order(PG_FUNCTION_ARGS)
{
	int64		deal = PG_GETARG_INT64(0);
	Identity	saved;
	Datum		values[1];
	bool		isnull;
	int64		customer;
	int32		warehouse;
	int32		nlines;
	int64		order_id;
	char	   *stage;
	Datum		products,
				quantities,
				prices,
				deal_lines;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(deal);
	if (Run(Q_VISIBLE_DEAL, values, NULL, true) == 0)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("deal %lld does not exist", (long long) deal),
						errdetail("Or it is not among the deals you work with.")));
	BecomeOwner(&saved);
	/* one order per deal: concurrent calls for a deal wait for each other */
	if (Run(Q_LOCK_DEAL, values, NULL, false) != 1)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("deal %lld does not exist", (long long) deal)));
	customer = DatumGetInt64(Col(0, 1, &isnull));
	stage = TextDatumGetCString(Col(0, 3, &isnull));
	if (!DatumGetBool(Col(0, 2, &isnull)))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("deal %lld is not agreed yet", (long long) deal),
						errdetail("The customer order is made from the agreed lines of a deal (R15)."),
						errhint("The client agrees by accepting the proposal, or by an invoice or contract issued directly.")));
	if (strcmp(stage, "closed") == 0 || strcmp(stage, "not_suitable") == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("deal %lld is %s", (long long) deal, stage)));
	if (Run(Q_DEAL_ORDER, values, NULL, false) > 0)
	{
		order_id = DatumGetInt64(Col(0, 1, &isnull));
		RestoreIdentity(&saved);
		SPI_finish();
		PG_RETURN_INT64(order_id);
	}

	if (!PG_ARGISNULL(1))
		warehouse = PG_GETARG_INT32(1);
	else
	{
		Datum		code = CStringGetTextDatum(default_warehouse ? default_warehouse : "");

		if (Run(Q_DEFAULT_WAREHOUSE, &code, NULL, true) == 0)
			ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							errmsg("no active warehouse%s%s%s to ship deal %lld from",
								   default_warehouse && *default_warehouse ? " \"" : "",
								   default_warehouse ? default_warehouse : "",
								   default_warehouse && *default_warehouse ? "\"" : "", (long long) deal),
							errhint("Pass the warehouse, or set crm.default_warehouse to the code of an active one.")));
		warehouse = DatumGetInt32(Col(0, 1, &isnull));
	}

	Run(Q_DEAL_LINES, values, NULL, false);
	nlines = DatumGetInt32(Col(0, 1, &isnull));
	if (nlines == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("deal %lld has no lines", (long long) deal)));
	products = SPI_datumTransfer(Col(0, 2, &isnull), false, -1);
	quantities = SPI_datumTransfer(Col(0, 3, &isnull), false, -1);
	prices = SPI_datumTransfer(Col(0, 4, &isnull), false, -1);
	deal_lines = SPI_datumTransfer(Col(0, 5, &isnull), false, -1);

	order_id = PlaceOrder(customer, warehouse, products, quantities, prices, false,
						  deal_lines, false, Int64GetDatum(deal), false, (Datum) 0, true, nlines);
	RestoreIdentity(&saved);
	SPI_finish();
	PG_RETURN_INT64(order_id);
}

/*
 * crm.split_order(customer_order bigint) RETURNS integer
 *
 * Splits the lines of an open order that still have an unassigned quantity
 * (new lines, lines whose split failed and whose cause was fixed, lines
 * whose reservation an expired lot took back).  Returns how many lines are
 * left with an exception.
 */
Datum
split_order(PG_FUNCTION_ARGS)
{
	int64		order_id = PG_GETARG_INT64(0);
	Identity	saved;
	Datum		values[2];
	bool		isnull;
	char	   *status;
	int32		warehouse;
	int64		customer;
	uint64		n;
	SplitLine  *lines;
	int			exceptions;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int64GetDatum(order_id);
	if (Run(Q_VISIBLE_ORDER, values, NULL, true) == 0)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("customer order %lld does not exist", (long long) order_id)));
	BecomeOwner(&saved);
	if (Run(Q_LOCK_ORDER, values, NULL, false) != 1)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("customer order %lld does not exist", (long long) order_id)));
	status = TextDatumGetCString(Col(0, 1, &isnull));
	warehouse = DatumGetInt32(Col(0, 2, &isnull));
	customer = DatumGetInt64(Col(0, 3, &isnull));
	if (strcmp(status, "open") != 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("customer order %lld is %s", (long long) order_id, status),
						errdetail("Only open orders are split.")));
	values[1] = Int64GetDatum(customer);
	n = Run(Q_LINES, values, NULL, false);
	lines = ReadLines(n);
	exceptions = SplitLines(lines, n, warehouse);
	RestoreIdentity(&saved);
	SPI_finish();
	PG_RETURN_INT32(exceptions);
}
