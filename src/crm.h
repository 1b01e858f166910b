/*
 * crm.h
 *	  Declarations shared between the concerns of the crm module.
 */
#ifndef CRM_H
#define CRM_H

extern void _PG_init(void);

/* deal_print.c: settings of the print forms */
extern void DealPrintInit(void);

/* integration: crm.http_* settings, libcurl and jansson (http.c, json.c) */
extern void IntegrationInit(void);

#endif							/* CRM_H */
