/*
 * requisites.c
 *	  Check digits of Russian requisites (R10): INN (10 digits for an
 *	  organisation, 12 for an individual), KPP (format), BIC (Bank of Russia
 *	  format), and the 20-digit accounts whose control key depends on the BIC.
 *
 * Pure C: the SQL wrappers are in deal_requisites.c; the fuzz harness
 * test/fuzz/requisites_fuzz.c links this file alone.
 *
 * Algorithms (Federal Tax Service order, Bank of Russia regulation 385-P):
 *  - INN-10: digits 1..9 weighted 2 4 10 3 5 9 4 6 8, sum mod 11 mod 10 is
 *    digit 10.  INN-12: digits 1..10 weighted 7 2 4 10 3 5 9 4 6 8 give digit
 *    11; digits 1..11 weighted 3 7 2 4 10 3 5 9 4 6 8 give digit 12.
 *  - KPP: NNNN PP XXX -- four digits (tax office), two digits or capital
 *    Latin letters (reason), three digits.  It has no check digit.
 *  - BIC: nine digits beginning 04 (Russia).
 *  - account key: three digits taken from the BIC followed by the 20 digits
 *    of the account, weighted 7 1 3 repeating: the sum must end in 0.  For a
 *    settlement account the three digits are the BIC's last three (for an
 *    account held directly at a Bank of Russia division, BIC ending 000..002,
 *    "0" and BIC digits 5-6); for a correspondent account always "0" and BIC
 *    digits 5-6.
 */
#include "requisites.h"

#include <stdio.h>
#include <string.h>

static void
say(char *why, size_t whylen, const char *msg)
{
	if (whylen == 0)
		return;
	snprintf(why, whylen, "%s", msg);
}

static bool
all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int
weighted(const char *s, const int *w, int n)
{
	int			sum = 0;

	for (int i = 0; i < n; i++)
		sum += (s[i] - '0') * w[i];
	return sum;
}

bool
crm_check_inn(const char *s, size_t len, char *why, size_t whylen)
{
	static const int w10[] = {2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w11[] = {7, 2, 4, 10, 3, 5, 9, 4, 6, 8};
	static const int w12[] = {3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8};
	char		buf[CRM_REQ_WHY_MAX];

	if ((len != 10 && len != 12) || !all_digits(s, len))
	{
		say(why, whylen, "An INN is 10 digits (organisation) or 12 digits (individual).");
		return false;
	}
	if (len == 10)
	{
		int			c = weighted(s, w10, 9) % 11 % 10;

		if (c != s[9] - '0')
		{
			snprintf(buf, sizeof buf, "The check digit of INN %.10s is wrong: the 10th digit should be %d.", s, c);
			say(why, whylen, buf);
			return false;
		}
		return true;
	}
	{
		int			c11 = weighted(s, w11, 10) % 11 % 10;
		int			c12 = weighted(s, w12, 11) % 11 % 10;

		if (c11 != s[10] - '0')
		{
			snprintf(buf, sizeof buf, "The check digits of INN %.12s are wrong: the 11th digit should be %d.", s, c11);
			say(why, whylen, buf);
			return false;
		}
		if (c12 != s[11] - '0')
		{
			snprintf(buf, sizeof buf, "The check digits of INN %.12s are wrong: the 12th digit should be %d.", s, c12);
			say(why, whylen, buf);
			return false;
		}
	}
	return true;
}

bool
crm_check_kpp(const char *s, size_t len, char *why, size_t whylen)
{
	if (len != 9 || !all_digits(s, 4) || !all_digits(s + 6, 3))
	{
		say(why, whylen, "A KPP is nine characters: four digits, two digits or capital Latin letters, three digits.");
		return false;
	}
	for (int i = 4; i < 6; i++)
	{
		char		c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
		{
			say(why, whylen, "A KPP is nine characters: four digits, two digits or capital Latin letters, three digits.");
			return false;
		}
	}
	if (memcmp(s, "0000", 4) == 0)
	{
		say(why, whylen, "The first four digits of a KPP are the code of a tax office and cannot be 0000.");
		return false;
	}
	return true;
}

bool
crm_check_bic(const char *s, size_t len, char *why, size_t whylen)
{
	if (len != 9 || !all_digits(s, len))
	{
		say(why, whylen, "A BIC is nine digits.");
		return false;
	}
	if (s[0] != '0' || s[1] != '4')
	{
		say(why, whylen, "A Russian bank's BIC begins with 04.");
		return false;
	}
	return true;
}

/* the 23-digit key: prefix (3 digits) + account (20 digits), weights 7 1 3 */
static bool
account_key_ok(const char prefix[3], const char *acc)
{
	static const int w[3] = {7, 1, 3};
	int			sum = 0;

	for (int i = 0; i < 23; i++)
	{
		char		c = i < 3 ? prefix[i] : acc[i - 3];

		sum += ((c - '0') * w[i % 3]) % 10;
	}
	return sum % 10 == 0;
}

static bool
account_common(const char *acc, size_t alen, const char *bic, size_t blen,
			   char *why, size_t whylen, const char *what)
{
	char		buf[CRM_REQ_WHY_MAX];

	if (alen != 20 || !all_digits(acc, alen))
	{
		snprintf(buf, sizeof buf, "A %s is 20 digits.", what);
		say(why, whylen, buf);
		return false;
	}
	if (!crm_check_bic(bic, blen, buf, sizeof buf))
	{
		char		b2[CRM_REQ_WHY_MAX];

		snprintf(b2, sizeof b2, "The %s cannot be checked: %s", what, buf);
		say(why, whylen, b2);
		return false;
	}
	return true;
}

bool
crm_check_account(const char *acc, size_t alen, const char *bic, size_t blen,
				  char *why, size_t whylen)
{
	char		prefix[3];

	if (!account_common(acc, alen, bic, blen, why, whylen, "bank account"))
		return false;
	if (bic[6] == '0' && bic[7] == '0' && bic[8] <= '2')
	{
		/* an account held directly at a Bank of Russia division */
		prefix[0] = '0';
		prefix[1] = bic[4];
		prefix[2] = bic[5];
	}
	else
		memcpy(prefix, bic + 6, 3);
	if (!account_key_ok(prefix, acc))
	{
		char		buf[CRM_REQ_WHY_MAX];

		snprintf(buf, sizeof buf, "Bank account %.20s does not match the control key of BIC %.9s.", acc, bic);
		say(why, whylen, buf);
		return false;
	}
	return true;
}

bool
crm_check_corr_account(const char *acc, size_t alen, const char *bic, size_t blen,
					   char *why, size_t whylen)
{
	char		prefix[3];

	if (!account_common(acc, alen, bic, blen, why, whylen, "correspondent account"))
		return false;
	if (memcmp(acc, "30101", 5) != 0)
	{
		say(why, whylen, "A correspondent account begins with 30101.");
		return false;
	}
	prefix[0] = '0';
	prefix[1] = bic[4];
	prefix[2] = bic[5];
	if (!account_key_ok(prefix, acc))
	{
		char		buf[CRM_REQ_WHY_MAX];

		snprintf(buf, sizeof buf, "Correspondent account %.20s does not match the control key of BIC %.9s.", acc, bic);
		say(why, whylen, buf);
		return false;
	}
	return true;
}
