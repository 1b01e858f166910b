/*
 * imap_parse_fuzz.c
 *	  libFuzzer harness for the IMAP response parsers (src/imap_parse.c),
 *	  built outside the server with ASan and UBSan by
 *	  test/integration/fuzz.sh.
 * sources: src/imap_parse.c
 *
 * Besides memory errors it checks the parsers' promises: a literal size is
 * -2, -1 or 0..CRM_IMAP_LITERAL_MAX, and when it is one the line ends with
 * "{digits}" or "{digits+}" of that value; a UIDVALIDITY or UID is 1..2^32-1
 * and is written in the line as those digits; the UIDs of a SEARCH response
 * are read moving forward only, and stop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_literal(const char *line, size_t len)
{
	int64_t		n = crm_imap_literal_size(line, len);
	size_t		i;
	int64_t		v = 0;

	if (n < -2 || n > CRM_IMAP_LITERAL_MAX)
		abort();
	if (n < 0)
		return;
	if (len < 3 || line[len - 1] != '}')
		abort();
	i = len - 2;
	if (line[i] == '+')
		i--;
	/* the digits before, read forwards, give n */
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || line[i - 1] != '{')
		abort();
	for (; line[i] >= '0' && line[i] <= '9'; i++)
	{
		v = v * 10 + (line[i] - '0');
		if (v > CRM_IMAP_LITERAL_MAX)
			abort();
	}
	if (v != n)
		abort();
}

static void
check_uidvalidity(const char *line)
{
	uint32_t	v = crm_imap_uidvalidity(line);
	char		want[32];

	if (v == 0)
		return;
	snprintf(want, sizeof(want), " %u]", (unsigned) v);
	if (strstr(line, want) == NULL)
		abort();
}

static void
check_search(const char *line, size_t len)
{
	const char *p;
	uint32_t	uid;
	int			r;
	size_t		steps = 0;

	if (!crm_imap_is_search(line, &p))
		return;
	if (p != line + 8)
		abort();
	while ((r = crm_imap_search_next(&p, &uid)) == 1)
	{
		char		want[16];
		int			w;

		if (uid == 0 || p > line + len)
			abort();
		w = snprintf(want, sizeof(want), "%u", (unsigned) uid);
		if (memcmp(p - w, want, (size_t) w) != 0 || p[-w - 1] != ' ')
			abort();
		if (++steps > len)
			abort();
	}
	if (r != 0 && r != -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *line = malloc(size + 1);
	size_t		len;

	if (line == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	/* the server module hands a line without its CRLF, up to any NUL */
	check_literal(line, size);
	len = strlen(line);
	check_uidvalidity(line);
	check_search(line, len);
	free(line);
	return 0;
}
