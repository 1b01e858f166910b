/*
 * export_name_fuzz.c
 *	  libFuzzer harness for the name splitting of the MailChimp export
 *	  (src/export_name.c), built outside the server with ASan and UBSan by
 *	  test/integration/fuzz.sh.
 * sources: src/export_name.c
 *
 * Besides memory errors it checks the promises of crm_split_person_name:
 * both parts are NUL-terminated within len + 1 bytes, neither starts or ends
 * with a space, together they are never longer than the input, and an input
 * with no word gives two empty parts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export_name.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
bounded_len(const char *s, size_t max)
{
	const char *z = memchr(s, '\0', max);

	return z ? (size_t) (z - s) : max;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *first;
	char	   *last;
	size_t		fl,
				ll;
	int			words = 0;

	/* text from the server never holds a NUL: the name ends at one */
	size = bounded_len((const char *) data, size);
	first = malloc(size + 1);
	last = malloc(size + 1);

	crm_split_person_name((const char *) data, size, first, last);
	fl = bounded_len(first, size + 1);
	ll = bounded_len(last, size + 1);
	if (fl > size || ll > size || fl + ll > size)
		abort();
	if ((fl > 0 && (first[0] == ' ' || first[fl - 1] == ' ')) ||
		(ll > 0 && (last[0] == ' ' || last[ll - 1] == ' ')))
		abort();
	for (size_t i = 0; i < size; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r' && data[i] != '\n' &&
			!(data[i] == 0xC2 && i + 1 < size && data[i + 1] == 0xA0) &&
			!(data[i] == 0xA0 && i > 0 && data[i - 1] == 0xC2))
			words = 1;
	if (!words && (fl != 0 || ll != 0))
		abort();
	if (words && fl == 0)
		abort();
	free(first);
	free(last);
	return 0;
}
