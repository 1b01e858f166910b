/*
 * contactkey_fuzz.c
 *	  libFuzzer harness for the phone and e-mail parsers (src/contactkey.c),
 *	  built outside the server with ASan and UBSan by test/integration/fuzz.sh.
 *
 * Besides memory errors it checks the parsers' promises: a phone key is '+'
 * and 7..15 digits and parses to itself; an extension is 1..8 digits; an
 * e-mail key has exactly one '@', no upper-case ASCII, no spaces, and parses
 * to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contactkey.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_phone(const char *in, size_t len)
{
	char		e164[CRM_PHONE_MAX];
	char		ext[CRM_PHONE_EXT_MAX];
	char		again[CRM_PHONE_MAX];
	char		ext2[CRM_PHONE_EXT_MAX];
	int			n = crm_parse_phone(in, len, e164, ext);
	int			i;

	if (n == 0)
	{
		if (e164[0] != '\0' || ext[0] != '\0')
			abort();
		return;
	}
	if (n < 8 || n > 16 || e164[0] != '+' || (int) strlen(e164) != n)
		abort();
	for (i = 1; i < n; i++)
		if (e164[i] < '0' || e164[i] > '9')
			abort();
	if (strlen(ext) > 8)
		abort();
	for (i = 0; ext[i]; i++)
		if (ext[i] < '0' || ext[i] > '9')
			abort();
	if (crm_parse_phone(e164, (size_t) n, again, ext2) != n || strcmp(again, e164) != 0 || ext2[0])
		abort();
}

static void
check_email(const char *in, size_t len)
{
	char	   *out = malloc(len + 1);
	char	   *again;
	size_t		n = crm_parse_email(in, len, out);
	size_t		i,
				ats = 0;

	if (n == 0)
	{
		if (out[0] != '\0')
			abort();
		free(out);
		return;
	}
	if (n > CRM_EMAIL_MAX || strlen(out) != n)
		abort();
	for (i = 0; i < n; i++)
	{
		if (out[i] == '@')
			ats++;
		if ((out[i] >= 'A' && out[i] <= 'Z') || out[i] == ' ')
			abort();
	}
	if (ats != 1)
		abort();
	again = malloc(n + 1);
	if (crm_parse_email(out, n, again) != n || memcmp(again, out, n) != 0)
		abort();
	free(again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copies, so that ASan sees any read past the input */
	char	   *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	check_phone(buf, size);
	check_email(buf, size);
	free(buf);
	return 0;
}
