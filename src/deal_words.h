/*
 * deal_words.h
 *	  An amount of money in Russian words, as invoices write it (R14).
 *	  Pure C: no PostgreSQL headers.
 */
#ifndef CRM_DEAL_WORDS_H
#define CRM_DEAL_WORDS_H

#include <stddef.h>
#include <stdint.h>

/* kopecks must be within +-(10^17 - 1); the output needs at most this */
#define CRM_WORDS_MAX 640

/*
 * Writes "Один миллион двести тысяч рублей 05 копеек" for 100000005 kopecks
 * into buf; returns its length, or 0 when the amount is out of range or buf
 * is too small.
 */
extern size_t crm_amount_in_words(int64_t kopecks, char *buf, size_t buflen);

#endif							/* CRM_DEAL_WORDS_H */
