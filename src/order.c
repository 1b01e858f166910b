/*
 * order.c
 *	  Customer orders (R15) and their split (R16): crm.place_order and
 *	  crm.split_order.
 *
 * The split, per line: first reserve what is free in stock (the warehouse
 * order, allocate.c); the rest becomes a production order if the company
 * makes the product, otherwise a supplier order from the product's preferred
 * active supplier.  A line that cannot be processed (product inactive or
 * blocked, no supplier configured, any data or state error) is rolled back
 * alone and gets the exception recorded on it, and the other lines go on.
 * Errors that are not about the line (deadlock, serialization failure, lock
 * timeout, cancel, out of memory, internal errors) abort the whole call as
 * usual.
 *
 * Two ways to get there, with the same outcome:
 *  - the fast path (FastSplit), taken first: one query reads, for every
 *    line, what decides its split (product active or blocked, made in house,
 *    shelf-life rule, preferred supplier, the free quantity of its first
 *    lot); lines of an inactive or blocked product get their exception as
 *    data, with nothing to roll back.  Then, in ONE subtransaction: the
 *    first lot of every product is locked and reserved in one statement
 *    (allocate.c, AllocateFirstLots), a product that needs more lots goes on
 *    lot by lot, and all the writes of the order -- lines, reservations,
 *    production and supplier orders -- are one statement.
 *  - the careful path (SplitLines), each line in its own subtransaction,
 *    when the fast path cannot give the per-line outcome: any error in the
 *    fast path's subtransaction that is about a line (it is rolled back as a
 *    whole and the order is split again line by line, so the error lands on
 *    its line), a line that reserved some stock but has no way to get the
 *    rest (no supplier: its reservation must be undone alone), or a product
 *    that turned out to need a second lot after a later product's lot was
 *    locked (see the lock order below).
 *
 * Lines are split in product order, so that two orders with the same
 * products lock their lots in the same order whatever the order of their
 * lines (no deadlock); the order row itself is locked first.  The fast path
 * keeps that order: AllocateFirstLots locks the products' first lots in
 * product order, only the last product of a batch may go on to further lots,
 * and a product predicted to need more than its first lot ends its batch.
 * A prediction that proves wrong under concurrency sends the order to the
 * careful path before any lot is waited for out of order.
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
#include "utils/lsyscache.h"
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
	Q_NEW_ORDER_INFO,
	Q_OPEN_LINES_INFO,
	Q_SUPPLIED,
	Q_WRITE_NEW_STOCK,
	Q_WRITE_NEW,
	Q_WRITE_OPEN_STOCK,
	Q_WRITE_OPEN,
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
	Oid			types[15];
} SplitQuery;

/*
 * What decides the split of a line, for the fast path: p = product, $cp =
 * customer, $wh = warehouse.  m: the minimum remaining shelf life; f: the
 * free quantity of the first lot the allocation would take (a prediction:
 * nothing is locked here; the shelf life is capped so that no data makes
 * this query fail -- errors belong to the lines, in the subtransaction).
 */
#define LINE_INFO_COLUMNS \
	"p.id IS NOT NULL, p.active, p.blocked_reason, p.made_in_house, p.sku, m.days, p.production_days, f.free"
#define LINE_INFO_JOINS(cp, wh) \
	" LEFT JOIN LATERAL (SELECT GREATEST(COALESCE(p.min_remaining_shelf_days, 0)," \
	"   COALESCE((SELECT max(c.min_remaining_days) FROM crm.customer_shelf_life c" \
	"              WHERE c.counterparty_id = " cp \
	"                AND (c.product_id = p.id OR c.product_id IS NULL)), 0)) AS days) m ON true" \
	" LEFT JOIN LATERAL (SELECT x.on_hand - x.reserved AS free FROM crm.lot x" \
	"  WHERE x.product_id = p.id AND x.warehouse_id = " wh " AND x.on_hand > 0 AND x.reserved < x.on_hand" \
	"    AND x.alloc_key >= CURRENT_DATE + LEAST(m.days, 1000000)" \
	"  ORDER BY x.alloc_key, x.received_at, x.id LIMIT 1) f ON true"

/*
 * The production orders and supplier orders of the lines of a write (CTE l:
 * id, product_id, p = to produce, s = to buy; days joined by "lines"), in
 * product order; the supplier is the product's preferred active one, as in
 * Q_SUPPLIER (a line without one gets no row: the caller counts them).
 */
#define WRITE_REPLENISHMENT(lines, days, wh) \
	" po AS (" \
	"  INSERT INTO crm.production_order (order_line_id, product_id, warehouse_id, quantity," \
	"                                    planned_start, planned_finish)" \
	"  SELECT l.id, l.product_id, " wh ", l.p, CURRENT_DATE, CURRENT_DATE + " days " FROM " lines \
	"   WHERE l.p > 0 ORDER BY l.product_id, l.id RETURNING 1)," \
	" so AS (" \
	"  INSERT INTO crm.supplier_order (supplier_id, order_line_id, product_id, warehouse_id, quantity," \
	"                                  unit_price, expected_on)" \
	"  SELECT s.supplier_id, l.id, l.product_id, " wh ", l.s, s.price, CURRENT_DATE + s.lead_time_days" \
	"    FROM l CROSS JOIN LATERAL (" \
	"      SELECT ps.supplier_id, ps.price, ps.lead_time_days FROM crm.product_supplier ps" \
	"        JOIN crm.counterparty c ON c.id = ps.supplier_id AND c.kind IN ('supplier', 'partner')" \
	"       WHERE ps.product_id = l.product_id AND ps.active ORDER BY ps.priority, ps.supplier_id LIMIT 1) s" \
	"   WHERE l.s > 0 ORDER BY l.product_id, l.id RETURNING 1)" \
	" SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM v), (SELECT count(*) FROM po)," \
	"        (SELECT count(*) FROM so)"
#define WRITE_STOCK_ONLY \
	" SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM v), 0::int8, 0::int8"

/* the lines of a new order with their split (Q_WRITE_NEW*), and their reservations by position */
#define WRITE_NEW_LINES \
	"WITH l AS (" \
	"  INSERT INTO crm.order_line (order_id, line_no, product_id, quantity, unit_price, deal_line_id," \
	"                              reserved_qty, production_qty, supplier_qty," \
	"                              exception, exception_sqlstate, exception_at)" \
	"  SELECT $1, u.ord, u.product, u.qty, u.price, u.deal_line, u.r, u.p, u.s, u.exc, u.state," \
	"         CASE WHEN u.exc IS NOT NULL THEN pg_catalog.now() END" \
	"    FROM unnest($2::int8[], $3::numeric[], $4::numeric[], $5::int8[], $6::numeric[], $7::numeric[]," \
	"                $8::numeric[], $9::text[], $10::text[])" \
	"         WITH ORDINALITY AS u(product, qty, price, deal_line, r, p, s, exc, state, ord)" \
	"  RETURNING id, line_no, product_id, production_qty AS p, supplier_qty AS s)," \
	" v AS (" \
	"  INSERT INTO crm.reservation (order_line_id, lot_id, quantity)" \
	"  SELECT l.id, r.lot, sum(r.qty) FROM unnest($12::int8[], $13::int8[], $14::numeric[]) AS r(ord, lot, qty)" \
	"    JOIN l ON l.line_no = r.ord GROUP BY l.id, r.lot RETURNING 1)"
#define WRITE_NEW_TYPES \
	{INT8OID, INT8ARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, \
	 NUMERICARRAYOID, NUMERICARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, \
	 INT8ARRAYOID, NUMERICARRAYOID, INT4OID}

/* the open lines of an order with what their split added (Q_WRITE_OPEN*), and their reservations */
#define WRITE_OPEN_LINES \
	"WITH l AS (" \
	"  UPDATE crm.order_line ol SET reserved_qty = ol.reserved_qty + u.r," \
	"         production_qty = ol.production_qty + u.p, supplier_qty = ol.supplier_qty + u.s," \
	"         exception = u.exc, exception_sqlstate = u.state," \
	"         exception_at = CASE WHEN u.exc IS NOT NULL THEN pg_catalog.now() END" \
	"    FROM unnest($1::int8[], $2::numeric[], $3::numeric[], $4::numeric[], $5::text[], $6::text[], $7::int4[])" \
	"         AS u(id, r, p, s, exc, state, days)" \
	"   WHERE ol.id = u.id" \
	"  RETURNING ol.id, ol.product_id, u.p, u.s, u.days)," \
	" v AS (" \
	"  INSERT INTO crm.reservation AS r (order_line_id, lot_id, quantity)" \
	"  SELECT x.line, x.lot, sum(x.qty) FROM unnest($8::int8[], $9::int8[], $10::numeric[]) AS x(line, lot, qty)" \
	"   GROUP BY x.line, x.lot" \
	"  ON CONFLICT (order_line_id, lot_id) DO UPDATE SET quantity = r.quantity + EXCLUDED.quantity" \
	"  RETURNING 1)"
#define WRITE_OPEN_TYPES \
	{INT8ARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID, NUMERICARRAYOID, TEXTARRAYOID, TEXTARRAYOID, \
	 INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, NUMERICARRAYOID, INT4OID}

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
	/* the new order (none if the warehouse is missing or inactive), and its lines to split */
	[Q_NEW_ORDER_INFO] = {
		"WITH o AS ("
		"  INSERT INTO crm.customer_order (counterparty_id, warehouse_id, deal_id, note)"
		"  SELECT $1, w.id, $3, $4 FROM crm.warehouse w WHERE w.id = $2 AND w.active"
		"  RETURNING id)"
		" SELECT u.ord, u.product, u.qty, " LINE_INFO_COLUMNS ", o.id"
		"   FROM o CROSS JOIN unnest($5::int8[], $6::numeric[]) WITH ORDINALITY AS u(product, qty, ord)"
		"   LEFT JOIN crm.product p ON p.id = u.product"
		LINE_INFO_JOINS("$1", "$2")
		"  ORDER BY u.product, u.ord",
		6, {INT8OID, INT4OID, INT8OID, TEXTOID, INT8ARRAYOID, NUMERICARRAYOID}},
	/* the lines of an open order still to split */
	[Q_OPEN_LINES_INFO] = {
		"SELECT l.id, l.product_id, l.unassigned_qty::numeric, " LINE_INFO_COLUMNS
		"  FROM crm.order_line l LEFT JOIN crm.product p ON p.id = l.product_id"
		LINE_INFO_JOINS("$2", "$3")
		" WHERE l.order_id = $1 AND l.unassigned_qty > 0"
		" ORDER BY l.product_id, l.id", 3, {INT8OID, INT8OID, INT4OID}},
	/* which of these products have an active supplier (the same rule as Q_SUPPLIER) */
	[Q_SUPPLIED] = {
		"SELECT u.product FROM unnest($1::int8[]) AS u(product)"
		" WHERE EXISTS (SELECT FROM crm.product_supplier ps"
		"                 JOIN crm.counterparty c ON c.id = ps.supplier_id AND c.kind IN ('supplier', 'partner')"
		"                WHERE ps.product_id = u.product AND ps.active)", 1, {INT8ARRAYOID}},
	/*
	 * Everything the fast path writes, in one statement: the lines with
	 * their split, their reservations, and (when a line needs them) their
	 * production and supplier orders.  Returns the counts written.
	 */
	[Q_WRITE_NEW_STOCK] = {WRITE_NEW_LINES WRITE_STOCK_ONLY, 15, WRITE_NEW_TYPES},
	[Q_WRITE_NEW] = {
		WRITE_NEW_LINES ","
		WRITE_REPLENISHMENT("l JOIN unnest($11::int4[]) WITH ORDINALITY AS d(days, ord) ON d.ord = l.line_no",
							"d.days", "$15"),
	15, WRITE_NEW_TYPES},
	[Q_WRITE_OPEN_STOCK] = {WRITE_OPEN_LINES WRITE_STOCK_ONLY, 11, WRITE_OPEN_TYPES},
	[Q_WRITE_OPEN] = {WRITE_OPEN_LINES "," WRITE_REPLENISHMENT("l", "l.days", "$11"), 11, WRITE_OPEN_TYPES},
	[Q_WAREHOUSE] = {"SELECT active, code FROM crm.warehouse WHERE id = $1", 1, {INT4OID}},
	[Q_INSERT_LINES] = {
		"WITH l AS ("
		"  INSERT INTO crm.order_line (order_id, line_no, product_id, quantity, unit_price, deal_line_id)"
		"  SELECT $1, u.ord, p.id, u.qty, u.price, u.deal_line"
		"    FROM unnest($2::int8[], $3::numeric[], $4::numeric[], $5::int8[])"
		"         WITH ORDINALITY AS u(product, qty, price, deal_line, ord)"
		"    JOIN crm.product p ON p.id = u.product AND (p.active OR $7)"
		"   ORDER BY u.ord"		/* ids in line order: lines of one product are split in that order */
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

/* crm.fast_split: try the fast path of the split first */
static bool fast_split = true;

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
	DefineCustomBoolVariable("crm.fast_split",
							 "Splits customer orders by the fast path when it gives the same result.",
							 "On: one subtransaction and set-based writes per order, line by line only when a line "
							 "fails or needs it; off: every line in its own subtransaction. The outcome is the same.",
							 &fast_split, true, PGC_USERSET, 0,
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

static Datum
MakeArray(Datum *elems, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
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

/* ---------------------------------------------------------------------------
 * The fast path
 */

/* a line as the fast path sees it (LINE_INFO_COLUMNS), and what its split came to */
typedef struct FastLine
{
	int64		key;			/* order line id; for a new order, its position (1..n) */
	int64		product_id;
	Numeric		need;
	bool		exists;
	bool		active;
	char	   *blocked;		/* blocked_reason or NULL */
	bool		made_in_house;
	char	   *sku;
	int32		min_days;
	bool		has_production_days;
	int32		production_days;
	bool		has_first_free;
	Numeric		first_free;		/* free quantity of its first lot, when it was read */
	/* the split */
	Numeric		reserved;
	Numeric		production;
	Numeric		supplier;
	char	   *exception;		/* why it was not split (SQLSTATE 55000), or NULL */
} FastLine;

/* the lines of one product (consecutive in the line list) */
typedef struct ProductGroup
{
	int			first;
	int			count;
	int64		product_id;
	Numeric		need;
	int32		min_days;
	bool		predicted_short;	/* its first lot will not be enough */
} ProductGroup;

/* what the fast path writes to: the lines of a new order, or an open order's lines */
typedef struct OrderWrite
{
	bool		new_lines;
	int64		order_id;
	int32		warehouse;
	/* new lines: the order's arrays, as given */
	int			nlines;
	Datum		products;
	Datum		quantities;
	Datum		prices;
	bool		prices_null;
	Datum		deal_lines;
	bool		deal_lines_null;
} OrderWrite;

/* reads the FastLines of the current SPI result (in the current context) */
static FastLine *
ReadInfo(uint64 n)
{
	FastLine   *lines = palloc0(sizeof(FastLine) * (n > 0 ? n : 1));
	uint64		i;

	for (i = 0; i < n; i++)
	{
		FastLine   *l = &lines[i];
		bool		isnull;
		Datum		d;

		l->key = DatumGetInt64(Col(i, 1, &isnull));
		l->product_id = DatumGetInt64(Col(i, 2, &isnull));
		l->need = DatumGetNumericCopy(Col(i, 3, &isnull));
		l->exists = DatumGetBool(Col(i, 4, &isnull));
		if (!l->exists)
			continue;
		l->active = DatumGetBool(Col(i, 5, &isnull));
		d = Col(i, 6, &isnull);
		l->blocked = isnull ? NULL : TextDatumGetCString(d);
		l->made_in_house = DatumGetBool(Col(i, 7, &isnull));
		l->sku = TextDatumGetCString(Col(i, 8, &isnull));
		l->min_days = DatumGetInt32(Col(i, 9, &isnull));
		d = Col(i, 10, &isnull);
		l->has_production_days = !isnull;
		l->production_days = isnull ? 0 : DatumGetInt32(d);
		d = Col(i, 11, &isnull);
		l->has_first_free = !isnull;
		l->first_free = isnull ? NULL : DatumGetNumericCopy(d);
	}
	return lines;
}

/*
 * Locks and reserves the lots of the groups, in product order: batches of
 * products in one statement each (their first lots), a batch ending with a
 * product predicted to need more than its first lot, which then goes on lot
 * by lot.  What is taken is appended to taken, tagged with the group index,
 * and groups come in order.  Returns false when a product that is not the
 * last of its batch needs a second lot after all (a concurrent order took
 * part of its first): taking it now would wait for a lot while holding a
 * lot of a later product, so the order takes the careful path instead.
 */
static bool
AllocateGroups(ProductGroup *groups, int ngroups, int32 warehouse, TakenList *taken)
{
	int			from = 0;
	int			k;

	for (k = 0; k < ngroups; k++)
	{
		int			nb = k - from + 1;
		int64	   *products;
		Numeric    *needs;
		int32	   *days;
		int64	   *lots;
		Numeric    *took;
		int			j;

		if (!groups[k].predicted_short && k < ngroups - 1)
			continue;
		products = palloc(sizeof(int64) * nb);
		needs = palloc(sizeof(Numeric) * nb);
		days = palloc(sizeof(int32) * nb);
		lots = palloc(sizeof(int64) * nb);
		took = palloc(sizeof(Numeric) * nb);
		for (j = 0; j < nb; j++)
		{
			products[j] = groups[from + j].product_id;
			needs[j] = groups[from + j].need;
			days[j] = groups[from + j].min_days;
		}
		AllocateFirstLots(nb, products, needs, days, warehouse, lots, took);
		for (j = 0; j < nb; j++)
		{
			ProductGroup *g = &groups[from + j];
			Numeric		rest;

			if (lots[j] == 0)
				continue;		/* no free lot of it */
			TakenAdd(taken, from + j, lots[j], took[j]);
			rest = NumericSub(g->need, took[j]);
			if (!NumericIsPositive(rest))
				continue;
			if (j < nb - 1)
				return false;
			AllocateLine(from + j, g->product_id, warehouse, rest, g->min_days, taken);
		}
		from = k + 1;
	}
	return true;
}

/*
 * The lines to be bought (supplier set by Distribute) whose product has no
 * active supplier: the exception "no supplier" if the line took no stock,
 * else false (its reservation must be undone alone: the careful path).
 * One query, only when some line is to be bought.
 */
static bool
CheckSuppliers(FastLine *lines, int n)
{
	Datum	   *products = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	int64	   *supplied;
	uint64		ns;
	uint64		k;
	int			m = 0;
	int			i;
	Datum		arg;

	for (i = 0; i < n; i++)
		if (lines[i].supplier != NULL && (m == 0 || DatumGetInt64(products[m - 1]) != lines[i].product_id))
			products[m++] = Int64GetDatum(lines[i].product_id);
	if (m == 0)
		return true;
	arg = MakeArray(products, NULL, m, INT8OID);
	ns = Run(Q_SUPPLIED, &arg, NULL, true);
	supplied = palloc(sizeof(int64) * (ns > 0 ? ns : 1));
	for (k = 0; k < ns; k++)
	{
		bool		isnull;

		supplied[k] = DatumGetInt64(Col(k, 1, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		FastLine   *l = &lines[i];
		bool		found = false;

		if (l->supplier == NULL)
			continue;
		for (k = 0; k < ns && !found; k++)
			found = supplied[k] == l->product_id;
		if (found)
			continue;
		if (NumericIsPositive(l->reserved))
			return false;
		l->supplier = NULL;
		l->exception = psprintf("no supplier is configured for product %s", l->sku);
	}
	return true;
}

/*
 * Gives the lots each product took to its lines in line order (as the lines
 * one after the other would have taken them), and the rest of each line to
 * production or to the supplier.  A line of a bought product without an
 * active supplier gets its exception if it took nothing; if it took some
 * stock, that reservation would have to be rolled back alone (and the next
 * line of the product take it instead): returns false, the careful path.
 * Nothing is written here.  reservations gets (line key, lot, quantity).
 */
static bool
Distribute(FastLine *lines, int n, ProductGroup *groups, int ngroups, const TakenList *taken,
		   TakenList *reservations)
{
	int			t = 0;
	int			k;

	for (k = 0; k < ngroups; k++)
	{
		Numeric		left = NULL;	/* what is left of taken item t */
		int			i;

		for (i = groups[k].first; i < groups[k].first + groups[k].count; i++)
		{
			FastLine   *l = &lines[i];
			Numeric		want = l->need;

			l->reserved = NumericZero();
			while (NumericIsPositive(want) && t < taken->n && taken->items[t].line_id == k)
			{
				Numeric		avail = left ? left : taken->items[t].quantity;
				Numeric		q = NumericGreater(avail, want) ? want : avail;

				TakenAdd(reservations, l->key, taken->items[t].lot_id, q);
				l->reserved = NumericAdd(l->reserved, q);
				want = NumericSub(want, q);
				avail = NumericSub(avail, q);
				if (NumericIsPositive(avail))
					left = avail;
				else
				{
					left = NULL;
					t++;
				}
			}
			if (!NumericIsPositive(want))
				continue;
			if (l->made_in_house)
				l->production = want;
			else
				l->supplier = want;
		}
		if (left != NULL || (t < taken->n && taken->items[t].line_id == k))
			elog(ERROR, "the lots taken for product %lld exceed what its lines need",
				 (long long) groups[k].product_id);
	}
	return CheckSuppliers(lines, n);
}

/*
 * Writes the split of the lines in one statement (Q_WRITE_*).  A line that
 * was to be bought but whose product has no active supplier is an error
 * about a line (the caller's subtransaction is rolled back and the careful
 * path records it on its line).
 */
pg_noinline static void
WriteSplit(const FastLine *lines, int n, const TakenList *reservations, const OrderWrite *w)
{
	int			size = w->new_lines ? w->nlines : n;
	Datum	   *ids = palloc0(sizeof(Datum) * size);
	Datum	   *r = palloc0(sizeof(Datum) * size);
	Datum	   *p = palloc0(sizeof(Datum) * size);
	Datum	   *s = palloc0(sizeof(Datum) * size);
	Datum	   *exc = palloc0(sizeof(Datum) * size);
	Datum	   *state = palloc0(sizeof(Datum) * size);
	Datum	   *days = palloc0(sizeof(Datum) * size);
	bool	   *exc_null = palloc(sizeof(bool) * size);
	bool	   *days_null = palloc(sizeof(bool) * size);
	Datum	   *res_key = palloc(sizeof(Datum) * (reservations->n + 1));
	Datum	   *res_lot = palloc(sizeof(Datum) * (reservations->n + 1));
	Datum	   *res_qty = palloc(sizeof(Datum) * (reservations->n + 1));
	bool	   *seen = palloc0(sizeof(bool) * size);
	Datum		values[15];
	char		nulls[15];
	int64		expect_p = 0;
	int64		expect_s = 0;
	QueryId		q;
	bool		isnull;
	int			i;

	for (i = 0; i < n; i++)
	{
		const FastLine *l = &lines[i];
		int			at = w->new_lines ? (int) l->key - 1 : i;
		bool		split = l->exception == NULL;

		if (at < 0 || at >= size || seen[at])
			elog(ERROR, "order line position %lld out of range or twice", (long long) l->key);
		seen[at] = true;
		ids[at] = Int64GetDatum(l->key);
		r[at] = NumericGetDatum(split ? l->reserved : NumericZero());
		p[at] = NumericGetDatum(split && l->production ? l->production : NumericZero());
		s[at] = NumericGetDatum(split && l->supplier ? l->supplier : NumericZero());
		exc_null[at] = split;
		exc[at] = split ? (Datum) 0 : CStringGetTextDatum(l->exception);
		state[at] = split ? (Datum) 0 : CStringGetTextDatum("55000");
		days_null[at] = !(split && l->production && l->has_production_days);
		days[at] = days_null[at] ? (Datum) 0 : Int32GetDatum(l->production_days);
		if (split && l->production)
			expect_p++;
		if (split && l->supplier)
			expect_s++;
	}
	for (i = 0; i < size; i++)
		if (!seen[i])
			elog(ERROR, "order line at position %d was not read", i + 1);
	for (i = 0; i < reservations->n; i++)
	{
		res_key[i] = Int64GetDatum(reservations->items[i].line_id);
		res_lot[i] = Int64GetDatum(reservations->items[i].lot_id);
		res_qty[i] = NumericGetDatum(reservations->items[i].quantity);
	}

	memset(nulls, ' ', sizeof(nulls));
	if (w->new_lines)
	{
		values[0] = Int64GetDatum(w->order_id);
		values[1] = w->products;
		values[2] = w->quantities;
		values[3] = w->prices;
		nulls[3] = w->prices_null ? 'n' : ' ';
		values[4] = w->deal_lines;
		nulls[4] = w->deal_lines_null ? 'n' : ' ';
		i = 5;
	}
	else
	{
		values[0] = MakeArray(ids, NULL, size, INT8OID);
		i = 1;
	}
	values[i++] = MakeArray(r, NULL, size, NUMERICOID);
	values[i++] = MakeArray(p, NULL, size, NUMERICOID);
	values[i++] = MakeArray(s, NULL, size, NUMERICOID);
	values[i++] = MakeArray(exc, exc_null, size, TEXTOID);
	values[i++] = MakeArray(state, exc_null, size, TEXTOID);
	values[i++] = MakeArray(days, days_null, size, INT4OID);
	values[i++] = MakeArray(res_key, NULL, reservations->n, INT8OID);
	values[i++] = MakeArray(res_lot, NULL, reservations->n, INT8OID);
	values[i++] = MakeArray(res_qty, NULL, reservations->n, NUMERICOID);
	values[i++] = Int32GetDatum(w->warehouse);

	if (w->new_lines)
		q = expect_p + expect_s > 0 ? Q_WRITE_NEW : Q_WRITE_NEW_STOCK;
	else
		q = expect_p + expect_s > 0 ? Q_WRITE_OPEN : Q_WRITE_OPEN_STOCK;
	if (Run(q, values, nulls, false) != 1 ||
		DatumGetInt64(Col(0, 1, &isnull)) != size ||
		DatumGetInt64(Col(0, 2, &isnull)) > reservations->n ||
		DatumGetInt64(Col(0, 3, &isnull)) != expect_p)
		elog(ERROR, "the split of order %lld was not written as computed", (long long) w->order_id);
	if (DatumGetInt64(Col(0, 4, &isnull)) != expect_s)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no supplier is configured for a product of order %lld", (long long) w->order_id)));
}

/*
 * The fast path (see the head of this file).  lines are in product order.
 * Returns the number of lines left with an exception, or -1 when nothing
 * was done and the order must take the careful path (SplitLines).
 */
static int
FastSplit(FastLine *lines, int n, const OrderWrite *w)
{
	ProductGroup *groups = palloc(sizeof(ProductGroup) * (n > 0 ? n : 1));
	int			ngroups = 0;
	int			exceptions = 0;
	volatile bool done = false;
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			i;

	if (!fast_split)
		return -1;

	/* lines of a product that is inactive or blocked: an exception, nothing to undo */
	for (i = 0; i < n; i++)
	{
		FastLine   *l = &lines[i];

		if (!l->exists || (i > 0 && lines[i - 1].product_id > l->product_id))
			elog(ERROR, "order lines to split are not existing products in product order");
		if (!l->active)
			l->exception = psprintf("product %s is not active", l->sku);
		else if (l->blocked != NULL)
			l->exception = psprintf("product %s is blocked for sale: %s", l->sku, l->blocked);
		if (l->exception != NULL)
			continue;
		if (ngroups > 0 && groups[ngroups - 1].product_id == l->product_id)
		{
			groups[ngroups - 1].count++;
			groups[ngroups - 1].need = NumericAdd(groups[ngroups - 1].need, l->need);
		}
		else
		{
			groups[ngroups].first = i;
			groups[ngroups].count = 1;
			groups[ngroups].product_id = l->product_id;
			groups[ngroups].need = l->need;
			groups[ngroups].min_days = l->min_days;
			ngroups++;
		}
	}
	for (i = 0; i < ngroups; i++)
	{
		FastLine   *l = &lines[groups[i].first];

		groups[i].predicted_short = l->has_first_free && NumericGreater(groups[i].need, l->first_free);
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		TakenList	taken = {NULL, 0, 0};
		TakenList	reservations = {NULL, 0, 0};

		if (AllocateGroups(groups, ngroups, w->warehouse, &taken) &&
			Distribute(lines, n, groups, ngroups, &taken, &reservations))
		{
			WriteSplit(lines, n, &reservations, w);
			ReleaseCurrentSubTransaction();
			done = true;
		}
		else
		{
			RollbackAndReleaseCurrentSubTransaction();
			ereport(DEBUG1,
					(errmsg_internal("crm: an order is split line by line: a line needs another lot or a supplier"),
					 errdetail_internal("Customer order %lld.", (long long) w->order_id)));
		}
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (!LineError(edata->sqlerrcode))
			ReThrowError(edata);
		/* about one of the lines: the careful path finds which */
		ereport(DEBUG1,
				(errmsg_internal("crm: an order is split line by line after an error: %s", edata->message),
				 errdetail_internal("Customer order %lld.", (long long) w->order_id)));
		FreeErrorData(edata);
	}
	PG_END_TRY();

	if (!done)
		return -1;
	for (i = 0; i < n; i++)
		if (lines[i].exception != NULL)
			exceptions++;
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
	FastLine   *info;
	FastLine   *bad = NULL;
	OrderWrite	w;
	SplitLine  *lines;
	uint64		i;

	/* the order, and what decides the split of its lines */
	values[0] = Int64GetDatum(customer);
	values[1] = Int32GetDatum(warehouse);
	values[2] = deal;
	nulls[2] = deal_null ? 'n' : ' ';
	values[3] = note;
	nulls[3] = note_null ? 'n' : ' ';
	values[4] = products;
	values[5] = quantities;
	n = Run(Q_NEW_ORDER_INFO, values, nulls, false);
	if (n == 0)
		ReportBadWarehouse(warehouse);
	if (n != (uint64) nlines)
		elog(ERROR, "order lines read: %llu of %d", (unsigned long long) n, nlines);
	order_id = DatumGetInt64(Col(0, 12, &isnull));
	info = ReadInfo(n);

	/*
	 * A product that does not exist, or (a direct order) is not active: the
	 * order is refused (the first such line says why).  An agreed deal's
	 * line whose product was deactivated since gets an exception.
	 */
	for (i = 0; i < n; i++)
		if ((!info[i].exists || (!info[i].active && deal_null)) && (bad == NULL || info[i].key < bad->key))
			bad = &info[i];
	if (bad != NULL && !bad->exists)
		ereport(ERROR, (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						errmsg("product %lld of line %d does not exist", (long long) bad->product_id,
							   (int) bad->key)));
	if (bad != NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("product %s of line %d is not active", bad->sku, (int) bad->key),
						errdetail("Inactive products cannot be ordered.")));

	w.new_lines = true;
	w.order_id = order_id;
	w.warehouse = warehouse;
	w.nlines = nlines;
	w.products = products;
	w.quantities = quantities;
	w.prices = prices;
	w.prices_null = prices_null;
	w.deal_lines = deal_lines;
	w.deal_lines_null = deal_lines_null;
	if (FastSplit(info, (int) n, &w) >= 0)
		return order_id;

	/* the careful path: the lines first, then each split in its own subtransaction */
	values[0] = Int64GetDatum(order_id);
	values[1] = products;
	values[2] = quantities;
	values[3] = prices;
	nulls[3] = prices_null ? 'n' : ' ';
	values[4] = deal_lines;
	nulls[4] = deal_lines_null ? 'n' : ' ';
	values[5] = Int64GetDatum(customer);
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
	Datum		values[3];
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
	values[2] = Int32GetDatum(warehouse);
	n = Run(Q_OPEN_LINES_INFO, values, NULL, false);
	exceptions = 0;
	if (n > 0)
	{
		OrderWrite	w;

		memset(&w, 0, sizeof(w));
		w.new_lines = false;
		w.order_id = order_id;
		w.warehouse = warehouse;
		exceptions = FastSplit(ReadInfo(n), (int) n, &w);
	}
	if (exceptions < 0)
	{
		/* the careful path: each line in its own subtransaction */
		n = Run(Q_LINES, values, NULL, false);
		lines = ReadLines(n);
		exceptions = SplitLines(lines, n, warehouse);
	}
	RestoreIdentity(&saved);
	SPI_finish();
	PG_RETURN_INT32(exceptions);
}
