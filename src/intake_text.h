/*
 * intake_text.h
 *	  Pure C text work of the intake (R5): the RFC 5322 header-section check,
 *	  HTML reduced to text, fields found by their labels in the text of a
 *	  form, a chat transcript or a signature, and phones and e-mail addresses
 *	  found in free text.
 *
 * No PostgreSQL or GMime headers here and no allocation: the same code is
 * linked into the server module and into test/fuzz/intake_text_fuzz.c.
 * Every function takes a length and never reads past it; text is UTF-8 (the
 * MIME layer has already converted it), but any bytes are safe.
 */
#ifndef CRM_INTAKE_TEXT_H
#define CRM_INTAKE_TEXT_H

#include <stddef.h>

#include "contactkey.h"

/* ---- the header section of a message (RFC 5322 section 2.2) ---------- */

typedef enum CrmHeaderStatus
{
	CRM_HEADER_OK = 0,
	CRM_HEADER_EMPTY,			/* nothing, or only blank space */
	CRM_HEADER_NO_FIELDS,		/* the first line is not "name: value" */
	CRM_HEADER_BAD_LINE,		/* a later line of the header section is neither a
								 * field nor a folded continuation */
	CRM_HEADER_NUL,				/* a NUL byte in the header section */
	CRM_HEADER_NO_FROM			/* no From: field (RFC 5322 3.6 requires it) */
} CrmHeaderStatus;

/*
 * Checks that msg starts with an RFC 5322 header section: lines "name:
 * value" (name of printable ASCII other than ':') or folded continuations,
 * ended by an empty line or the end of the message, with a From field.
 * Lines may end in CRLF or LF.  On failure *line is the 1-based number of
 * the offending line.
 */
extern CrmHeaderStatus crm_header_check(const char *msg, size_t len, int *line);

/* ---- HTML to text ------------------------------------------------------ */

/*
 * Reduces an HTML document to plain text into out (capacity outcap, always
 * NUL-terminated when outcap > 0): tags are removed, <script>, <style>,
 * <head> and comments dropped, block elements (p, div, br, tr, li, h1-h6,
 * table ...) end lines, table cells are separated by a tab, character
 * references (named ones in common use, &#N; and &#xN;) are decoded, runs of
 * spaces collapsed and blank lines limited to one.  Returns the length
 * written.  outcap = len + 64 is always enough.
 */
extern size_t crm_html_to_text(const char *html, size_t len, char *out, size_t outcap);

/* ---- fields by label --------------------------------------------------- */

enum
{
	CRM_FIELD_NAME = 0,
	CRM_FIELD_PHONE,
	CRM_FIELD_EMAIL,
	CRM_FIELD_COMPANY,
	CRM_FIELD_REQUEST,
	CRM_FIELD_COUNT
};

#define CRM_FIELD_MAX_VALUES 4
#define CRM_LABEL_MAX 64		/* bytes of one label; longer ones are ignored */

/* the labels of each field, as a template gives them (any case, UTF-8) */
typedef struct CrmLabels
{
	const char *const *label[CRM_FIELD_COUNT];
	int			count[CRM_FIELD_COUNT];
} CrmLabels;

typedef struct CrmSpan
{
	size_t		off;
	size_t		len;
} CrmSpan;

typedef struct CrmFields
{
	CrmSpan		value[CRM_FIELD_COUNT][CRM_FIELD_MAX_VALUES];
	int			nvalues[CRM_FIELD_COUNT];
	size_t		body_end;		/* where the sender's own text ends (a quoted
								 * reply or "Original message" starts) */
} CrmFields;

/*
 * Finds the fields of a form, a chat transcript or a signature in text.  A
 * field is a line that starts with one of its labels (case-insensitive for
 * ASCII and Cyrillic, bullets and "*" marks around it allowed) followed by a
 * separator (':' '=' '-' a dash or a tab) and the value, or a line with the
 * label alone and the value on the next non-empty line.  The request field
 * takes every following line up to the next labelled line or a signature
 * separator.  Lines quoted with '>' are not read, and nothing after a reply
 * or forward header ("-----Original Message-----", "... wrote:", "...
 * пишет:").  Each field keeps its first CRM_FIELD_MAX_VALUES values, as
 * trimmed spans of text.
 */
extern void crm_extract_fields(const char *text, size_t len, const CrmLabels *labels,
							   CrmFields *out);

/* ---- phones and e-mail addresses in free text -------------------------- */

/*
 * Finds up to max distinct phone numbers in free text ("8 916 111-22-33,
 * +7 (495) 100-20-30 доб. 5") and writes their E.164 keys into keys.
 * Returns how many were found.
 */
extern int	crm_find_phones(const char *s, size_t len, char keys[][CRM_PHONE_MAX], int max);

/*
 * Finds up to max distinct e-mail addresses in free text and writes their
 * canonical form (crm_parse_email) into keys.  Returns how many.
 */
extern int	crm_find_emails(const char *s, size_t len, char keys[][CRM_EMAIL_MAX + 1], int max);

/*
 * Decides whether a caller or called number is an internal extension
 * candidate: 1 to 8 digits and nothing else (spaces around allowed).
 * Returns the number, or -1.
 */
extern long crm_extension_number(const char *s, size_t len);



/* ---- RFC 2047: adjacent base64 encoded-words ------------------------- */

/*
 * Merges every run of adjacent RFC 2047 B-encoded words of one charset
 * ("=?UTF-8?B?0J3Qvg==?= =?UTF-8?B?0LLQsA==?=", separated by white space or
 * folding) into one encoded-word whose payload is the base64 of the bytes
 * of all of them, each decoded on its own.  GMime 3.2.13 (Debian 12)
 * decodes only the first word of such a run when it ends in padding
 * (jstedfast/gmime#133); merged, a character split between two words is
 * also whole again.  Everything else is copied unchanged.  out must hold
 * len + 4 bytes; returns the length written (never more than len + 4).
 */
extern size_t crm_rfc2047_merge(const char *in, size_t len, char *out);

#endif							/* CRM_INTAKE_TEXT_H */
