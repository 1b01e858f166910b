/*
 * requisites.h
 *	  Check digits of Russian legal-entity requisites (R10): INN, KPP, bank
 *	  BIC, settlement and correspondent accounts.  Pure C, no PostgreSQL
 *	  headers, so the fuzz harness links it alone.
 *
 * Every checker takes a byte string with its length (not NUL-terminated),
 * returns true when the value is valid, and otherwise writes one English
 * sentence saying what is wrong into why[whylen] (always NUL-terminated).
 */
#ifndef CRM_REQUISITES_H
#define CRM_REQUISITES_H

#include <stdbool.h>
#include <stddef.h>

#define CRM_REQ_WHY_MAX 160

extern bool crm_check_inn(const char *s, size_t len, char *why, size_t whylen);
extern bool crm_check_kpp(const char *s, size_t len, char *why, size_t whylen);
extern bool crm_check_bic(const char *s, size_t len, char *why, size_t whylen);
/* a settlement (current) account held at the bank with this BIC */
extern bool crm_check_account(const char *acc, size_t alen, const char *bic, size_t blen,
							  char *why, size_t whylen);
/* the bank's correspondent account at the Bank of Russia */
extern bool crm_check_corr_account(const char *acc, size_t alen, const char *bic, size_t blen,
								   char *why, size_t whylen);

#endif							/* CRM_REQUISITES_H */
