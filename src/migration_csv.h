/*
 * migration_csv.h
 *	  A tokenizer for the CSV files 1C writes (";"-separated, RFC 4180
 *	  quoting, CRLF), and the comparison of header names.  Pure C: no server
 *	  headers, no allocation; also built into the fuzz harness.
 */
#ifndef MIGRATION_CSV_H
#define MIGRATION_CSV_H

#include <stdbool.h>
#include <stddef.h>

typedef struct CrmCsvReader
{
	const char *data;
	size_t		len;
	size_t		pos;			/* where the next record starts */
	unsigned	line;			/* line number (1-based) at pos */
	char		delim;
} CrmCsvReader;

typedef struct CrmCsvField
{
	size_t		start;			/* offset in data of the raw field */
	size_t		len;			/* raw length, quotes included */
	bool		quoted;
} CrmCsvField;

typedef enum CrmCsvStatus
{
	CRM_CSV_RECORD,				/* a record was read */
	CRM_CSV_EOF,				/* no more records */
	CRM_CSV_UNTERMINATED		/* a quoted field runs to the end of the data */
} CrmCsvStatus;

extern void crm_csv_init(CrmCsvReader *r, const char *data, size_t len, char delim);

/*
 * Reads the next record that is not blank (a record whose fields are all
 * empty or spaces is skipped).  Fills fields[0..max) and sets *nfields to the
 * number of fields the record has (which may exceed max) and *line to the
 * line it starts on.  Records end at LF, CRLF or CR outside quotes.  A quote
 * opens a quoted field only as the field's first character; inside, a
 * doubled quote is a quote; after the closing quote the rest of the field is
 * taken as it is.  On CRM_CSV_UNTERMINATED, *line is where the field began.
 */
extern CrmCsvStatus crm_csv_next(CrmCsvReader *r, CrmCsvField *fields, int max,
								 int *nfields, unsigned *line);

/*
 * Writes the value of a field to out, which must hold f->len + 1 bytes:
 * without the enclosing quotes, doubled quotes made single, NUL-terminated.
 * Returns its length (never more than f->len).
 */
extern size_t crm_csv_value(const CrmCsvReader *r, const CrmCsvField *f, char *out);

/*
 * Whether two header names are the same for a person: ASCII and Cyrillic
 * letters compared without case, Ё as Е, and spaces, no-break spaces,
 * underscores, dots, hyphens and a byte-order mark ignored -- so that
 * "Годен до", "ГоденДо" and "годен_до" match.
 */
extern bool crm_csv_header_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif							/* MIGRATION_CSV_H */
