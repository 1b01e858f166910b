/*
 * requisites_fuzz.c
 *	  libFuzzer harness for the check digits of Russian requisites
 *	  (src/requisites.c) and the amount in words (src/deal_words.c), built
 *	  outside the server with ASan and UBSan by test/integration/fuzz.sh.
 *
 * sources: src/requisites.c src/deal_words.c
 *
 * Besides memory errors it checks each checker against a second, plain
 * implementation of the same rule written here (INN-10/12 weights, the KPP
 * pattern, the BIC prefix, the 7-1-3 account keys), that a refusal always
 * says why in a NUL-terminated sentence that fits, and that an amount in
 * words is valid UTF-8 that starts with a capital letter and names the
 * kopecks, whatever the buffer size (0 when it does not fit).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deal_words.h"
#include "requisites.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int
wsum(const char *s, const int *w, int n)
{
	int			t = 0;

	for (int i = 0; i < n; i++)
		t += (s[i] - '0') * w[i];
	return t;
}

static bool
inn_ok(const char *s, size_t n)
{
	static const int w10[] = {2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w11[] = {7, 2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w12[] = {3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8};

	if (!digits(s, n))
		return false;
	if (n == 10)
		return wsum(s, w10, 9) % 11 % 10 == s[9] - '0';
	if (n == 12)
		return wsum(s, w11, 10) % 11 % 10 == s[10] - '0' && wsum(s, w12, 11) % 11 % 10 == s[11] - '0';
	return false;
}

static bool
kpp_ok(const char *s, size_t n)
{
	if (n != 9 || !digits(s, 4) || !digits(s + 6, 3) || memcmp(s, "0000", 4) == 0)
		return false;
	for (int i = 4; i < 6; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

static bool
bic_ok(const char *s, size_t n)
{
	return n == 9 && digits(s, 9) && s[0] == '0' && s[1] == '4';
}

/* 7 1 3 over prefix + account; the sum of the products ends in 0 */
static bool
key_ok(const char *prefix, const char *acc)
{
	char		k[23];
	int			t = 0;

	memcpy(k, prefix, 3);
	memcpy(k + 3, acc, 20);
	for (int i = 0; i < 23; i++)
		t += (k[i] - '0') * (i % 3 == 0 ? 7 : i % 3 == 1 ? 1 : 3);
	return t % 10 == 0;
}

static bool
account_ok(const char *a, size_t an, const char *b, size_t bn, bool corr)
{
	char		prefix[3];

	if (an != 20 || !digits(a, 20) || !bic_ok(b, bn))
		return false;
	if (corr)
	{
		if (memcmp(a, "30101", 5) != 0)
			return false;
		prefix[0] = '0';
		prefix[1] = b[4];
		prefix[2] = b[5];
	}
	else if (b[6] == '0' && b[7] == '0' && b[8] <= '2')
	{
		prefix[0] = '0';
		prefix[1] = b[4];
		prefix[2] = b[5];
	}
	else
		memcpy(prefix, b + 6, 3);
	return key_ok(prefix, a);
}

static void
check_why(bool valid, const char *why)
{
	const char *nul = memchr(why, '\0', CRM_REQ_WHY_MAX);
	size_t		n = nul ? (size_t) (nul - why) : CRM_REQ_WHY_MAX;

	if (!valid && (n == 0 || n >= CRM_REQ_WHY_MAX))
		abort();
}

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;)
	{
		int			len = s[i] < 0x80 ? 1 : (s[i] & 0xE0) == 0xC0 ? 2 : (s[i] & 0xF0) == 0xE0 ? 3 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (int j = 1; j < len; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void
check_words(const uint8_t *data, size_t size)
{
	int64_t		kop = 0;
	char		buf[CRM_WORDS_MAX];
	size_t		cap = size > 8 ? data[8] : sizeof buf;
	size_t		n;

	memcpy(&kop, data, size < 8 ? size : 8);
	if (cap > sizeof buf)
		cap = sizeof buf;
	memset(buf, 'x', sizeof buf);
	n = crm_amount_in_words(kop, buf, cap);
	if (kop > INT64_C(99999999999999999) || kop < -INT64_C(99999999999999999))
	{
		if (n != 0)
			abort();
		return;
	}
	if (cap == sizeof buf && n == 0)
		abort();				/* the full buffer always fits */
	if (n == 0)
		return;
	if (n >= cap || buf[n] != '\0' || strlen(buf) != n || !utf8_valid((const unsigned char *) buf, n))
		abort();
	/* a capital Cyrillic letter first (А..Я are D0 90..D0 AF) */
	if ((unsigned char) buf[0] != 0xD0 || (unsigned char) buf[1] < 0x90 || (unsigned char) buf[1] > 0xAF)
		abort();
	if (strstr(buf, "копе") == NULL || strstr(buf, "руб") == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		why[CRM_REQ_WHY_MAX];
	const char *s;
	size_t		n;
	const char *bar;
	bool		valid;

	if (size < 1)
		return 0;
	s = (const char *) data + 1;
	n = size - 1;
	memset(why, 0, sizeof why);
	switch (data[0] % 6)
	{
		case 0:
			valid = crm_check_inn(s, n, why, sizeof why);
			if (valid != inn_ok(s, n))
				abort();
			check_why(valid, why);
			break;
		case 1:
			valid = crm_check_kpp(s, n, why, sizeof why);
			if (valid != kpp_ok(s, n))
				abort();
			check_why(valid, why);
			break;
		case 2:
			valid = crm_check_bic(s, n, why, sizeof why);
			if (valid != bic_ok(s, n))
				abort();
			check_why(valid, why);
			break;
		case 3:
		case 4:
			/* account|bic */
			bar = memchr(s, '|', n);
			if (bar == NULL)
				return 0;
			if (data[0] % 6 == 3)
				valid = crm_check_account(s, (size_t) (bar - s), bar + 1, n - (size_t) (bar - s) - 1, why, sizeof why);
			else
				valid = crm_check_corr_account(s, (size_t) (bar - s), bar + 1, n - (size_t) (bar - s) - 1, why, sizeof why);
			if (valid != account_ok(s, (size_t) (bar - s), bar + 1, n - (size_t) (bar - s) - 1, data[0] % 6 == 4))
				abort();
			check_why(valid, why);
			break;
		default:
			check_words(data + 1, n);
			break;
	}
	/* a tiny buffer is always NUL-terminated */
	{
		char		tiny[4] = {'x', 'x', 'x', 'x'};

		(void) crm_check_inn(s, n, tiny, 1);
		if (tiny[0] != '\0' && !inn_ok(s, n))
			abort();
	}
	return 0;
}
