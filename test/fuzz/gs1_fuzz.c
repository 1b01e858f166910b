/*
 * gs1_fuzz.c
 *	  libFuzzer harness for the GS1 barcode parser and check digits
 *	  (src/gs1.c), built outside the server with ASan and UBSan by
 *	  test/integration/fuzz.sh.
 * sources: src/gs1.c
 *
 * Besides memory errors it checks the parser's promises on every input:
 * - a failure leaves no elements, an error message and a position inside
 *   the input; a success leaves no error;
 * - every element's AI is known, its data is 1..90 characters of digits and
 *   GS1 character set 82 (never a GS, a bracket escape or a control byte);
 * - AIs (00), (01), (02) carry 18/14/14 digits with a right check digit;
 *   date AIs carry a valid YYMMDD (DD may be 00);
 * - the pairing check only ever removes a success, never invents one;
 * - what parses formats back, as an element string and in brackets, to
 *   text that parses again to exactly the same elements (round trip);
 * - check digit helpers agree with each other on the first digits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs1.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cset82(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '%' && c <= '?') ||
		c == '!' || c == '"' || c == '_';
}

static void
check_message(const char *in, size_t len, const Gs1Message *m)
{
	int			i;

	if (m->error != GS1_OK)
	{
		if (m->nelements != 0 || m->errmsg[0] == '\0' || m->errpos < 0 ||
			(size_t) m->errpos > (len > GS1_MAX_INPUT ? (size_t) GS1_MAX_INPUT : len))
			abort();
		return;
	}
	if (m->nelements < 1 || m->nelements > GS1_MAX_ELEMENTS || m->errmsg[0] != '\0')
		abort();
	for (i = 0; i < m->nelements; i++)
	{
		const Gs1Element *e = &m->elements[i];
		size_t		n = strlen(e->value);
		size_t		k;
		int			y,
					mo,
					d;

		if (gs1_ai_title(e->ai) == NULL || n == 0 || n > 90 || e->pos < 0 || (size_t) e->pos >= len)
			abort();
		for (k = 0; k < n; k++)
			if (!cset82((unsigned char) e->value[k]))
				abort();
		if ((strcmp(e->ai, "00") == 0 && n != 18) ||
			((strcmp(e->ai, "01") == 0 || strcmp(e->ai, "02") == 0) && n != 14))
			abort();
		if (strcmp(e->ai, "00") == 0 || strcmp(e->ai, "01") == 0 || strcmp(e->ai, "02") == 0)
			if (gs1_check_digit(e->value, n - 1) != e->value[n - 1] - '0')
				abort();
		if ((strcmp(e->ai, "11") == 0 || strcmp(e->ai, "13") == 0 || strcmp(e->ai, "15") == 0 ||
			 strcmp(e->ai, "16") == 0 || strcmp(e->ai, "17") == 0) &&
			(n != 6 || !gs1_decode_date(e->value, 2025, true, &y, &mo, &d) ||
			 mo < 1 || mo > 12 || d < 0 || d > 31))
			abort();
		if (gs1_find(m, e->ai) != e)	/* no AI twice */
			abort();
	}
	(void) in;
}

static int
same_elements(const Gs1Message *a, const Gs1Message *b)
{
	int			i;

	if (a->nelements != b->nelements)
		return 0;
	for (i = 0; i < a->nelements; i++)
		if (strcmp(a->elements[i].ai, b->elements[i].ai) != 0 ||
			strcmp(a->elements[i].value, b->elements[i].value) != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static Gs1Message m;
	static Gs1Message again;
	static Gs1Message strict;
	static char out[2 * GS1_MAX_ELEMENTS * (GS1_MAX_VALUE + 8) + 4];
	const char *in = (const char *) data;
	int			n;
	const char *kind;
	char		gtin[15];

	gs1_parse(in, size, 2025, &m);
	check_message(in, size, &m);

	/* the pairing rules only take successes away */
	strict = m;
	gs1_check_associations(&strict);
	check_message(in, size, &strict);
	if (m.error != GS1_OK && strict.error == GS1_OK)
		abort();
	if (strict.error == GS1_OK && !same_elements(&m, &strict))
		abort();

	if (m.error == GS1_OK)
	{
		/* element string (behind ]C1, so that a short one is not read as a bare EAN) */
		memcpy(out, "]C1", 3);
		n = gs1_format(&m, false, out + 3, sizeof(out) - 3);
		if (n < 0)
			abort();
		if (gs1_parse(out, (size_t) n + 3, 2025, &again) != GS1_OK || !same_elements(&m, &again))
			abort();
		n = gs1_format(&m, true, out, sizeof(out));
		if (n < 0)
			abort();
		if (gs1_parse(out, (size_t) n, 2025, &again) != GS1_OK || !same_elements(&m, &again))
			abort();
	}

	/* check digits: a kind is only given to a code whose check digit is right */
	kind = gs1_code_kind(in, size);
	if (kind != NULL)
	{
		if (gs1_check_digit(in, size - 1) != in[size - 1] - '0')
			abort();
		if (strcmp(kind, "SSCC") != 0 && (gs1_gtin14(in, size, gtin) != GS1_OK || strlen(gtin) != 14 ||
										  memcmp(gtin + 14 - size, in, size) != 0))
			abort();
	}
	else if (gs1_gtin14(in, size, gtin) == GS1_OK)
		abort();
	return 0;
}
