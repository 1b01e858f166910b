/*
 * gs1.h
 *	  Pure C barcode arithmetic and GS1 element-string parser (R30, R32).
 *
 * Check digits of EAN-8, UPC-A, EAN-13, GTIN-14 and SSCC (GS1 mod 10), and a
 * parser for what scanners send: GS1-128, GS1 DataMatrix, GS1 QR and GS1
 * DataBar element strings (symbology identifiers ]C1 ]d2 ]Q3 ]e0, FNC1 as the
 * GS character 0x1D), bare EAN/UPC/ITF-14/SSCC digits, and the bracketed
 * human-readable form "(01)...(17)...(10)...".
 *
 * No PostgreSQL headers here: the same code is linked into the server module
 * (src/barcode.c) and into the fuzz harness test/fuzz/gs1_fuzz.c.
 */
#ifndef CRM_GS1_H
#define CRM_GS1_H

#include <stdbool.h>
#include <stddef.h>

/* longest input accepted (a GS1 DataMatrix holds at most ~2300 characters) */
#define GS1_MAX_INPUT 1024
/* most elements in one message */
#define GS1_MAX_ELEMENTS 48
/* longest element value (AIs 91-99: X..90) plus NUL */
#define GS1_MAX_VALUE 91
/* the GS character that stands for FNC1 in scanner output */
#define GS1_GS '\x1d'

typedef enum Gs1Symbology
{
	GS1_SYM_NONE = 0,			/* no symbology identifier */
	GS1_SYM_GS1_128,			/* ]C1 */
	GS1_SYM_DATAMATRIX,			/* ]d2 */
	GS1_SYM_QR,					/* ]Q3 */
	GS1_SYM_DATABAR,			/* ]e0 */
	GS1_SYM_EAN13,				/* ]E0: EAN-13 or UPC-A */
	GS1_SYM_EAN8,				/* ]E4 */
	GS1_SYM_ITF14,				/* ]I1: ITF with check digit */
	GS1_SYM_BRACKETED			/* human-readable "(01)..." */
} Gs1Symbology;

typedef enum Gs1Error
{
	GS1_OK = 0,
	GS1_ERR_EMPTY,				/* nothing but blanks */
	GS1_ERR_TOO_LONG,			/* input longer than GS1_MAX_INPUT */
	GS1_ERR_SYMBOLOGY,			/* unknown or non-GS1 symbology identifier */
	GS1_ERR_UNKNOWN_AI,			/* not an application identifier we know */
	GS1_ERR_FIELD_SHORT,		/* a fixed-length field ends early */
	GS1_ERR_FIELD_LONG,			/* a variable-length field exceeds its maximum */
	GS1_ERR_FIELD_EMPTY,		/* an element without data */
	GS1_ERR_CHARSET,			/* a character the field does not allow */
	GS1_ERR_CHECK_DIGIT,		/* wrong check digit */
	GS1_ERR_DATE,				/* not a valid YYMMDD */
	GS1_ERR_SEPARATOR,			/* FNC1 missing after a field that needs it */
	GS1_ERR_DUPLICATE,			/* one AI twice with different values */
	GS1_ERR_TOO_MANY,			/* more than GS1_MAX_ELEMENTS */
	GS1_ERR_SYNTAX,				/* malformed bracketed form or bare number */
	GS1_ERR_ASSOCIATION			/* a required AI missing, or exclusive AIs together */
} Gs1Error;

typedef struct Gs1Element
{
	char		ai[5];			/* "01", "3103", NUL-terminated */
	char		value[GS1_MAX_VALUE];
	int			pos;			/* 0-based offset of the AI in the input */
} Gs1Element;

typedef struct Gs1Message
{
	Gs1Symbology symbology;
	int			nelements;
	Gs1Element	elements[GS1_MAX_ELEMENTS];
	Gs1Error	error;
	int			errpos;			/* 0-based offset where the error was found */
	char		errmsg[160];	/* lower case, no period */
} Gs1Message;

/*
 * Computes the GS1 mod-10 check digit of the n digits of body (weights 3 and
 * 1 alternating from the right).  Returns 0..9, or -1 if body has a non-digit.
 */
extern int	gs1_check_digit(const char *body, size_t n);

/*
 * Kind of a complete code by its length when every character is a digit and
 * the last is the right check digit: "EAN-8", "UPC-A", "EAN-13", "GTIN-14",
 * "SSCC".  Returns NULL otherwise (wrong length, non-digit, bad check digit).
 */
extern const char *gs1_code_kind(const char *code, size_t n);

/*
 * Writes the GTIN-14 of an EAN-8, UPC-A, EAN-13 or GTIN-14 (left-padded with
 * zeros) into out (15 bytes).  Returns GS1_OK, GS1_ERR_SYNTAX (not 8, 12, 13
 * or 14 digits) or GS1_ERR_CHECK_DIGIT.
 */
extern Gs1Error gs1_gtin14(const char *code, size_t n, char out[15]);

/*
 * Decodes a GS1 date YYMMDD.  this_year (e.g. 2025) resolves the century
 * (GS1 General Specifications 7.12: a year more than 50 years ahead belongs to
 * the previous century, more than 49 years back to the next).  DD = 00 means
 * the month only (allowed when month_only_ok): *day is then 0.  Returns false
 * when it is not a valid date.
 */
extern bool gs1_decode_date(const char *yymmdd, int this_year, bool month_only_ok,
							int *year, int *month, int *day);

/*
 * Parses what a scanner (or a person) sent.  this_year resolves two-digit
 * years.  On success msg->error is GS1_OK and msg->elements holds the
 * elements in input order (a bare EAN/UPC/ITF-14 becomes AI 01 as a GTIN-14,
 * a bare SSCC AI 00).  Otherwise msg->error, errpos and errmsg say why.
 * Returns msg->error.
 */
extern Gs1Error gs1_parse(const char *in, size_t len, int this_year, Gs1Message *msg);

/*
 * Applies the GS1 pairing rules to a parsed message (an attribute such as a
 * lot or an expiry date needs the GTIN it qualifies; (01) excludes (02) and
 * (37); (02) and (37) need each other; a measure needs a key and is given
 * once).  A symbol that is one of several on a label may fail this alone, so
 * it is a separate step.  Returns GS1_OK or GS1_ERR_ASSOCIATION (msg->error,
 * errpos, errmsg set and the elements dropped).
 */
extern Gs1Error gs1_check_associations(Gs1Message *msg);

/*
 * Writes the elements of a parsed message as an element string (FNC1 as GS
 * where a separator is needed, no symbology identifier) or in the bracketed
 * form ('(' in data escaped as "\(").  Returns the length written (out is
 * NUL-terminated), or -1 when outlen is too small.
 */
extern int	gs1_format(const Gs1Message *msg, bool bracketed, char *out, size_t outlen);

/* The element with this AI, or NULL. */
extern const Gs1Element *gs1_find(const Gs1Message *msg, const char *ai);

/* Data title of an AI ("GTIN", "BATCH/LOT"...), or NULL if unknown. */
extern const char *gs1_ai_title(const char *ai);

/* Name of a symbology: "GS1-128", "GS1 DataMatrix", ... */
extern const char *gs1_symbology_name(Gs1Symbology s);

#endif							/* CRM_GS1_H */
