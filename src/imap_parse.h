/*
 * imap_parse.h
 *	  Pure C parsers for the pieces of IMAP responses the mailbox poll reads
 *	  (RFC 3501/9051): the literal announced at the end of a line, the
 *	  UIDVALIDITY response code, the UIDs of a SEARCH response.
 *
 * No PostgreSQL headers here: the same code is linked into the server module
 * (src/http.c, src/mailbox.c) and into the fuzz harness
 * test/fuzz/imap_parse_fuzz.c.  What an IMAP server sends is untrusted.
 */
#ifndef CRM_IMAP_PARSE_H
#define CRM_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* a literal larger than this is refused as impossible (1 TB) */
#define CRM_IMAP_LITERAL_MAX INT64_C(1099511627776)

/*
 * The size of the literal announced at the end of line[0, len) -- "{123}" or
 * the non-synchronising "{123+}" -- or -1 if the line announces none, or -2
 * if the size is above CRM_IMAP_LITERAL_MAX.
 */
extern int64_t crm_imap_literal_size(const char *line, size_t len);

/*
 * The UIDVALIDITY in a NUL-terminated untagged response ("* OK [UIDVALIDITY
 * 3857529045] UIDs valid"; the code in any case), an nz-number of 32 bits;
 * 0 if the line has none or it is malformed.
 */
extern uint32_t crm_imap_uidvalidity(const char *line);

/*
 * Whether the NUL-terminated line is an untagged SEARCH response ("* SEARCH
 * 2 84 882", in any case); if so *rest points past "SEARCH".
 */
extern int	crm_imap_is_search(const char *line, const char **rest);

/*
 * The next UID of a SEARCH response, from *pos (as crm_imap_is_search left
 * it): 1 and the UID in *uid (1..4294967295), *pos moved past it; 0 at the
 * end of the line; -1 if what follows is not " nz-number" (a zero, a sign,
 * more than 32 bits, anything but a number).
 */
extern int	crm_imap_search_next(const char **pos, uint32_t *uid);

#endif							/* CRM_IMAP_PARSE_H */
