/*
 * crm.c
 *	  Module entry point of the crm extension: _PG_init calls one init per
 *	  concern, then reserves the "crm." prefix for our settings.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "crm.h"
#include "fulfilment.h"

PG_MODULE_MAGIC;

void
_PG_init(void)
{
	/* one call per concern that defines settings or hooks */
	DealPrintInit();
	FulfilmentInit();
	IntegrationInit();
	MarkGUCPrefixReserved("crm");
}
