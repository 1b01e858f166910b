/*
 * migration_csv_fuzz.c
 *	  libFuzzer harness for the CSV tokenizer and header comparison of the 1C
 *	  migration (src/migration_csv.c), built outside the server with ASan and
 *	  UBSan by test/integration/fuzz.sh.
 * sources: src/migration_csv.c
 *
 * The first byte picks the delimiter.  Besides memory errors it checks the
 * tokenizer's promises: every field lies inside the data, a value is never
 * longer than its raw field, the reader always moves forward, and the values
 * of every record read survive being written out again with full quoting
 * and read back (the same number of fields, the same bytes).  Header
 * comparison is reflexive and symmetric.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration_csv.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 64

static void
check_header(const char *a, size_t alen, const char *b, size_t blen)
{
	if (!crm_csv_header_equal(a, alen, a, alen))
		abort();
	if (crm_csv_header_equal(a, alen, b, blen) != crm_csv_header_equal(b, blen, a, alen))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = {';', ',', '\t', '|'};
	CrmCsvReader r;
	CrmCsvField f[MAXF];
	int			n;
	unsigned	line;
	char	   *buf;
	char	   *out;
	char		delim;
	int			records = 0;

	if (size < 1)
		return 0;
	delim = delims[data[0] % 4];
	data++;
	size--;
	buf = malloc(size + 1);
	out = malloc(6 * size + 16);		/* a field of one quote becomes """", with its separator */
	crm_csv_init(&r, (const char *) data, size, delim);
	for (;;)
	{
		size_t		before = r.pos;
		CrmCsvStatus st = crm_csv_next(&r, f, MAXF, &n, &line);
		size_t		o = 0;
		int			m;

		if (st == CRM_CSV_EOF)
			break;
		if (st == CRM_CSV_UNTERMINATED)
		{
			if (r.pos != size)
				abort();
			break;
		}
		if (r.pos <= before || r.pos > size || n < 1 || line < 1)
			abort();
		records++;
		/* write the record out, every field quoted */
		for (int i = 0; i < n && i < MAXF; i++)
		{
			size_t		len;

			if (f[i].start + f[i].len > size)
				abort();
			len = crm_csv_value(&r, &f[i], buf);
			if (len > f[i].len || buf[len] != '\0')
				abort();
			if (i > 0)
				out[o++] = delim;
			out[o++] = '"';
			for (size_t k = 0; k < len; k++)
			{
				if (buf[k] == '"')
					out[o++] = '"';
				out[o++] = buf[k];
			}
			out[o++] = '"';
		}
		if (n > MAXF)
			continue;
		/* and read it back: the same values */
		{
			CrmCsvReader r2;
			CrmCsvField f2[MAXF];
			unsigned	line2;
			char	   *v1 = malloc(6 * size + 16);
			char	   *v2 = malloc(6 * size + 16);
			CrmCsvStatus st2;

			crm_csv_init(&r2, out, o, delim);
			st2 = crm_csv_next(&r2, f2, MAXF, &m, &line2);
			if (st2 == CRM_CSV_RECORD)
			{
				if (m != n)
					abort();
				for (int i = 0; i < n; i++)
				{
					size_t		l1 = crm_csv_value(&r, &f[i], v1);
					size_t		l2 = crm_csv_value(&r2, &f2[i], v2);

					if (l1 != l2 || memcmp(v1, v2, l1) != 0)
						abort();
				}
			}
			else
			{
				/* only a record of blank values may vanish */
				for (int i = 0; i < n; i++)
				{
					size_t		l1 = crm_csv_value(&r, &f[i], v1);

					for (size_t k = 0; k < l1; k++)
						if (v1[k] != ' ' && v1[k] != '\t' && v1[k] != '"')
							abort();
				}
			}
			if (n >= 2)
			{
				size_t		l1 = crm_csv_value(&r, &f[0], v1);
				size_t		l2 = crm_csv_value(&r, &f[1], v2);

				check_header(v1, l1, v2, l2);
			}
			free(v1);
			free(v2);
		}
		if (records > 10000)
			abort();
	}
	free(buf);
	free(out);
	return 0;
}
