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
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
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
		SPIPlanPtr	plan = SPI_prepare_cursor(take_lot_sql, 4, types, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for the lot allocation: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		take_lot_plan = plan;
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
