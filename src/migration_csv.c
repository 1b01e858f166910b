/*
 * migration_csv.c
 *	  The CSV tokenizer and header comparison of migration_csv.h.
 *
 * 1C writes CSV with ";" between fields, CRLF between records, fields with a
 * separator, quote or line break in double quotes, and quotes doubled.  Real
 * files also have bare LF, a stray quote inside an unquoted field, text after
 * a closing quote, and blank lines at the end; all are read as a spreadsheet
 * would read them.  Only a quoted field that never ends is an error.
 */
#include <string.h>

#include "migration_csv.h"

void
crm_csv_init(CrmCsvReader *r, const char *data, size_t len, char delim)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
	r->line = 1;
	r->delim = delim;
}

static bool
is_blank_field(const CrmCsvReader *r, const CrmCsvField *f)
{
	for (size_t i = 0; i < f->len; i++)
	{
		char		c = r->data[f->start + i];

		if (c != ' ' && c != '\t' && !(f->quoted && c == '"'))
			return false;
	}
	return true;
}

CrmCsvStatus
crm_csv_next(CrmCsvReader *r, CrmCsvField *fields, int max, int *nfields, unsigned *line)
{
	const char *d = r->data;
	size_t		n = r->len;

	for (;;)
	{
		size_t		p = r->pos;
		int			count = 0;
		bool		blank = true;
		bool		end_of_record = false;

		if (p >= n)
			return CRM_CSV_EOF;
		*line = r->line;
		while (!end_of_record)
		{
			CrmCsvField f;

			f.start = p;
			f.quoted = p < n && d[p] == '"';
			if (f.quoted)
			{
				unsigned	started = r->line;

				p++;
				for (;;)
				{
					if (p >= n)
					{
						*line = started;
						r->pos = n;
						return CRM_CSV_UNTERMINATED;
					}
					if (d[p] == '"')
					{
						if (p + 1 < n && d[p + 1] == '"')
						{
							p += 2;
							continue;
						}
						p++;
						break;
					}
					if (d[p] == '\n' || (d[p] == '\r' && !(p + 1 < n && d[p + 1] == '\n')))
						r->line++;
					p++;
				}
			}
			/* the unquoted field, or what follows a closing quote */
			while (p < n && d[p] != r->delim && d[p] != '\n' && d[p] != '\r')
				p++;
			f.len = p - f.start;
			if (count < max)
				fields[count] = f;
			count++;
			if (!is_blank_field(r, &f))
				blank = false;

			if (p >= n)
				end_of_record = true;
			else if (d[p] == r->delim)
				p++;
			else
			{
				/* CRLF, LF or CR */
				if (d[p] == '\r' && p + 1 < n && d[p + 1] == '\n')
					p++;
				p++;
				r->line++;
				end_of_record = true;
			}
		}
		r->pos = p;
		if (!blank)
		{
			*nfields = count;
			return CRM_CSV_RECORD;
		}
	}
}

size_t
crm_csv_value(const CrmCsvReader *r, const CrmCsvField *f, char *out)
{
	const char *s = r->data + f->start;
	size_t		i = 0,
				o = 0;

	if (f->quoted)
	{
		i = 1;
		while (i < f->len)
		{
			if (s[i] == '"')
			{
				if (i + 1 < f->len && s[i + 1] == '"')
				{
					out[o++] = '"';
					i += 2;
					continue;
				}
				i++;			/* the closing quote */
				break;
			}
			out[o++] = s[i++];
		}
	}
	while (i < f->len)
		out[o++] = s[i++];
	out[o] = '\0';
	return o;
}

/*
 * The next significant character of a header name at *p, folded: ASCII
 * upper case to lower, Cyrillic А-Я to а-я, Ё and ё to е.  Returns 0 at the
 * end; a character is returned as its UTF-8 bytes packed into an unsigned.
 */
static unsigned
next_folded(const unsigned char *s, size_t len, size_t *p)
{
	while (*p < len)
	{
		unsigned char c = s[*p];

		if (c == ' ' || c == '\t' || c == '_' || c == '.' || c == '-')
		{
			(*p)++;
			continue;
		}
		if (c == 0xC2 && *p + 1 < len && s[*p + 1] == 0xA0)	/* no-break space */
		{
			*p += 2;
			continue;
		}
		if (c == 0xEF && *p + 2 < len && s[*p + 1] == 0xBB && s[*p + 2] == 0xBF)	/* BOM */
		{
			*p += 3;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
		{
			(*p)++;
			return c + 32;
		}
		if ((c == 0xD0 || c == 0xD1) && *p + 1 < len)
		{
			unsigned char d = s[*p + 1];
			unsigned	cp = ((unsigned) (c & 0x1F) << 6) | (d & 0x3F);	/* code point */

			*p += 2;
			if (cp >= 0x410 && cp <= 0x42F)
				cp += 0x20;
			if (cp == 0x401 || cp == 0x451)
				cp = 0x435;
			return 0x10000 | cp;
		}
		(*p)++;
		return c;
	}
	return 0;
}

bool
crm_csv_header_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		pa = 0,
				pb = 0;

	for (;;)
	{
		unsigned	ca = next_folded((const unsigned char *) a, alen, &pa);
		unsigned	cb = next_folded((const unsigned char *) b, blen, &pb);

		if (ca != cb)
			return false;
		if (ca == 0)
			return true;
	}
}
