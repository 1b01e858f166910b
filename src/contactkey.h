/*
 * contactkey.h
 *	  Pure C parsers for the keys by which requests are matched to contacts:
 *	  phone numbers to E.164 and e-mail addresses to their canonical form (R6).
 *
 * No PostgreSQL headers here: the same code is linked into the server module
 * and into the fuzz harness under test/fuzz/.
 */
#ifndef CRM_CONTACTKEY_H
#define CRM_CONTACTKEY_H

#include <stddef.h>

/* '+' and at most 15 digits (E.164), plus the terminating NUL */
#define CRM_PHONE_MAX 17
/* an extension has at most 8 digits, plus the terminating NUL */
#define CRM_PHONE_EXT_MAX 9
/* RFC 5321 path limit */
#define CRM_EMAIL_MAX 254

/*
 * Parses a phone number as people write it.  On success writes the E.164 form
 * ("+79161234567") into e164 and the extension digits (possibly "") into ext,
 * and returns the length of e164.  Returns 0 when the text is not a phone
 * number; e164 and ext are then empty strings.
 */
extern int	crm_parse_phone(const char *in, size_t len,
							char e164[CRM_PHONE_MAX], char ext[CRM_PHONE_EXT_MAX]);

/*
 * Canonicalises an e-mail address: trimmed, "mailto:" and angle brackets
 * removed, lower-cased (ASCII and Cyrillic).  out must hold len + 1 bytes.
 * Returns the length written, or 0 when the text does not look like an
 * address (one '@', a dotted domain).
 */
extern size_t crm_parse_email(const char *in, size_t len, char *out);

#endif							/* CRM_CONTACTKEY_H */
