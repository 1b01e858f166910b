/*
 * allocate.c
 *	  FEFO/FIFO allocation of free stock to an order line (R31, R16).
 *
 * Allocation order: lots that expire first (their last usable day,
 * crm.lot.expires_on, which is the end of the month for a month-only expiry),
 * never a lot that expires sooner than the minimum remaining shelf life asks;
 * lots without expiry after them, oldest received first; ties by id.  The
 * partial index crm.lot_fefo_idx holds only lots with goods on hand, in that
 * order, so the cost does not grow with the number of lots a product has
 * had (emptied lots leave the index); lots fully reserved and waiting for
 * their shipment are skipped by the scan.  reserved is in no index, so a
 * reservation is a HOT update.
 *
 * One statement takes one lot: it locks the first free lot (FOR NO KEY
 * UPDATE, re-checked after waiting: a lot another order emptied meanwhile is
 * skipped) and reserves min(free, need) in it; what was taken is collected,
 * and the caller writes the reservations and the order lines for all the
 * lines of the order at once (order.c).  The
 * loop stops when the need is met or no free lot is left.  Lots are locked
 * one at a time in allocation order, the same order on every path, so two
 * orders competing for the same lots wait for each other but never deadlock.
 *
 * AllocateFirstLots does the first step of that loop for several products
 * in one statement: for each product, in the order given (ascending product
 * id), it locks the product's first free lot and reserves min(free, need)
 * there -- the same locks, taken in the same order, as the loop would take
 * for those products as long as each needs no second lot.  The caller
 * (order.c) only lets the last product of a batch go on to a second lot,
 * so no lot is ever waited for while a lot of a later product is held.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

#include "fulfilment.h"

static SPIPlanPtr take_lot_plan = NULL;

static const char *const take_lot_sql =
"WITH pick AS ("
"  SELECT l.id, l.on_hand - l.reserved AS free"
"    FROM crm.lot l"
"   WHERE l.product_id = $1 AND l.warehouse_id = $2 AND l.on_hand > 0 AND l.reserved < l.on_hand"
"     AND l.alloc_key >= CURRENT_DATE + $3"
"   ORDER BY l.alloc_key, l.received_at, l.id"
"   LIMIT 1"
"   FOR NO KEY UPDATE OF l)"
" UPDATE crm.lot l SET reserved = l.reserved + LEAST(pick.free, $4)"
"   FROM pick WHERE l.id = pick.id"
" RETURNING l.id, LEAST(pick.free, $4)";

static SPIPlanPtr take_first_plan = NULL;

/*
 * The first free lot of each product, locked in the order of the arrays
 * (the nested loop over the ordered unnest drives the locking subquery), and
 * what was reserved there.  Same predicate, order and re-check as
 * take_lot_sql.
 */
static const char *const take_first_sql =
"WITH pick AS MATERIALIZED ("
"  SELECT u.i, x.id, x.free, u.need"
"    FROM unnest($1::int8[], $2::numeric[], $3::int4[]) WITH ORDINALITY AS u(product, need, min_days, i)"
"   CROSS JOIN LATERAL ("
"     SELECT l.id, l.on_hand - l.reserved AS free"
"       FROM crm.lot l"
"      WHERE l.product_id = u.product AND l.warehouse_id = $4 AND l.on_hand > 0 AND l.reserved < l.on_hand"
"        AND l.alloc_key >= CURRENT_DATE + u.min_days"
"      ORDER BY l.alloc_key, l.received_at, l.id"
"      LIMIT 1"
"      FOR NO KEY UPDATE OF l) x)"
" UPDATE crm.lot l SET reserved = l.reserved + LEAST(p.free, p.need)"
"   FROM pick p WHERE l.id = p.id"
" RETURNING p.i, l.id, LEAST(p.free, p.need)";

static SPIPlanPtr
KeptPlan(const char *sql, int nargs, Oid *types)
{
	/* a generic plan at once: it runs thousands of times with new parameters */
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for the lot allocation: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

Numeric
NumericZero(void)
{
	return int64_to_numeric(0);
}

bool
NumericGreater(Numeric a, Numeric b)
{
	return DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(a), NumericGetDatum(b)));
}

bool
NumericIsPositive(Numeric a)
{
	return !numeric_is_nan(a) && NumericGreater(a, NumericZero());
}

Numeric
NumericSub(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_sub, NumericGetDatum(a), NumericGetDatum(b)));
}

Numeric
NumericAdd(Numeric a, Numeric b)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(a), NumericGetDatum(b)));
}

char *
NumericText(Numeric a)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(a)));
}

void
TakenAdd(TakenList *list, int64 line_id, int64 lot_id, Numeric quantity)
{
	if (list->n == list->cap)
	{
		list->cap = list->cap ? 2 * list->cap : 16;
		list->items = list->items ? repalloc(list->items, sizeof(Taken) * list->cap)
			: palloc(sizeof(Taken) * list->cap);
	}
	list->items[list->n].line_id = line_id;
	list->items[list->n].lot_id = lot_id;
	list->items[list->n].quantity = quantity;
	list->n++;
}

Numeric
AllocateLine(int64 line_id, int64 product_id, int32 warehouse_id, Numeric need, int32 min_days,
			 TakenList *taken)
{
	Numeric		total = NumericZero();

	if (take_lot_plan == NULL)
	{
		Oid			types[4] = {INT8OID, INT4OID, INT4OID, NUMERICOID};

		take_lot_plan = KeptPlan(take_lot_sql, 4, types);
	}

	while (NumericIsPositive(need))
	{
		Datum		values[4];
		bool		isnull;
		Numeric		took;
		int64		lot_id;
		int			rc;

		values[0] = Int64GetDatum(product_id);
		values[1] = Int32GetDatum(warehouse_id);
		values[2] = Int32GetDatum(min_days);
		values[3] = NumericGetDatum(need);
		rc = SPI_execute_plan(take_lot_plan, values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "lot allocation failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			break;				/* no free lot left */
		lot_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		took = DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		SPI_freetuptable(SPI_tuptable);
		TakenAdd(taken, line_id, lot_id, took);
		total = NumericAdd(total, took);
		need = NumericSub(need, took);
	}
	return total;
}

void
AllocateFirstLots(int n, const int64 *products, Numeric *needs, const int32 *min_days,
				  int32 warehouse_id, int64 *lot_ids, Numeric *took)
{
	Datum	   *p = palloc(sizeof(Datum) * n);
	Datum	   *q = palloc(sizeof(Datum) * n);
	Datum	   *d = palloc(sizeof(Datum) * n);
	Datum		values[4];
	uint64		k;
	int			i;
	int			rc;

	if (take_first_plan == NULL)
	{
		Oid			types[4] = {INT8ARRAYOID, NUMERICARRAYOID, INT4ARRAYOID, INT4OID};

		take_first_plan = KeptPlan(take_first_sql, 4, types);
	}
	for (i = 0; i < n; i++)
	{
		p[i] = Int64GetDatum(products[i]);
		q[i] = NumericGetDatum(needs[i]);
		d[i] = Int32GetDatum(min_days[i]);
		lot_ids[i] = 0;
		took[i] = NULL;
	}
	values[0] = PointerGetDatum(construct_array(p, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(q, n, NUMERICOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	values[3] = Int32GetDatum(warehouse_id);
	rc = SPI_execute_plan(take_first_plan, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "lot allocation failed: %s", SPI_result_code_string(rc));
	for (k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		int64		pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));

		if (pos < 1 || pos > n || lot_ids[pos - 1] != 0)
			elog(ERROR, "lot allocation returned product position %lld twice or out of range", (long long) pos);
		lot_ids[pos - 1] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 2, &isnull));
		took[pos - 1] = DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 3, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
}
