/*
 * fulfilment.h
 *	  Declarations shared by the fulfilment concern's C files: the split of
 *	  customer orders (order.c) and the FEFO/FIFO allocation of lots
 *	  (allocate.c).  Quantities are numeric(15,3), handled as Numeric.
 */
#ifndef CRM_FULFILMENT_H
#define CRM_FULFILMENT_H

#include "postgres.h"

#include "utils/numeric.h"

/* what the allocation took: a quantity of a lot for an order line */
typedef struct Taken
{
	int64		line_id;
	int64		lot_id;
	Numeric		quantity;
} Taken;

typedef struct TakenList
{
	Taken	   *items;
	int			n;
	int			cap;
} TakenList;

extern void TakenAdd(TakenList *list, int64 line_id, int64 lot_id, Numeric quantity);

/*
 * Reserves up to need of free, unexpired stock of a product in a warehouse
 * for an order line, lot by lot in allocation order (first expiring first,
 * lots without expiry oldest received first, ties by id), skipping lots that
 * expire sooner than min_days from today.  Each lot is locked as it is
 * taken, so every path locks a product's lots in the same order.  Updates
 * crm.lot.reserved and appends what it took to taken (in the current memory
 * context); the caller records the reservations.  Must run inside
 * SPI_connect, as the owner of crm.  Returns the quantity reserved.
 */
extern Numeric AllocateLine(int64 line_id, int64 product_id, int32 warehouse_id,
							Numeric need, int32 min_days, TakenList *taken);

/*
 * The first step of AllocateLine for n products at once, in one statement:
 * for products[i] (ascending ids, each once) it locks the first free lot
 * that lasts min_days[i] and reserves min(free, needs[i]) in it, in the
 * order of the array.  lot_ids[i] gets the lot (0: no free lot) and took[i]
 * what was reserved (NULL with no lot).  The caller records the
 * reservations, and must not let any product but the last go on to a
 * second lot (AllocateLine), so that lots stay locked in allocation order.
 */
extern void AllocateFirstLots(int n, const int64 *products, Numeric *needs, const int32 *min_days,
							  int32 warehouse_id, int64 *lot_ids, Numeric *took);

/* defines the fulfilment settings; called from _PG_init */
extern void FulfilmentInit(void);

/* Numeric helpers */
extern Numeric NumericZero(void);
extern bool NumericGreater(Numeric a, Numeric b);
extern bool NumericIsPositive(Numeric a);
extern Numeric NumericSub(Numeric a, Numeric b);
extern Numeric NumericAdd(Numeric a, Numeric b);
extern char *NumericText(Numeric a);

#endif							/* CRM_FULFILMENT_H */
