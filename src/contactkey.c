/*
 * contactkey.c
 *	  Phone numbers to E.164 and e-mail addresses to their canonical form.
 *
 * These are the keys by which every call, e-mail and form is matched to the
 * contacts of all counterparties (R6), so they must accept what people really
 * type ("8 (916) 123-45-67 доб. 12", "Тел.: +7 916 123 45 67",
 * " Ivan.Petrov@Mail.RU ") and refuse what is not a number or an address,
 * rather than invent one.  The rules:
 *
 *	  phone   a leading label (тел., телефон, моб., tel, phone, mob) is skipped;
 *			  an extension (доб., доп., вн., ext, x, #) is split off and is not
 *			  part of the key; separators are spaces, - . / ( ) and dashes;
 *			  "+" or "00" or the Russian "8 10" starts an international number
 *			  (country code 1-9, 7..15 digits in all); 11 digits starting with
 *			  7 or 8, or 10 digits, are a Russian number (+7 and a national
 *			  number that starts with 3..9 but not 89); anything else is not a
 *			  phone.
 *	  e-mail  trimmed; "mailto:" and <...> removed; ASCII and Cyrillic letters
 *			  lower-cased; exactly one '@'; a local part of 1..64 characters
 *			  without spaces, quotes or specials, no leading, trailing or double
 *			  dot; a domain of at least two labels (letters, digits, '-', or
 *			  non-ASCII for IDN), each 1..63 long, a TLD of 2+ non-digits.
 *
 * Pure C, no allocation: linked into the module and into test/fuzz.
 */
#include "contactkey.h"

#include <string.h>

#define PHONE_INPUT_MAX 256

static inline int
is_space_at(const unsigned char *s, size_t i, size_t n, size_t *width)
{
	if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
	{
		*width = 1;
		return 1;
	}
	/* U+00A0 NO-BREAK SPACE */
	if (i + 1 < n && s[i] == 0xC2 && s[i + 1] == 0xA0)
	{
		*width = 2;
		return 1;
	}
	return 0;
}

/*
 * Lower-cases ASCII and the basic Cyrillic alphabet (А-Я, Ё) from src into
 * dst; UTF-8 byte lengths are unchanged by this mapping.
 */
static void
fold_case(const unsigned char *src, size_t n, unsigned char *dst)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = src[i];

		if (c >= 'A' && c <= 'Z')
		{
			dst[i] = (unsigned char) (c + ('a' - 'A'));
			i++;
		}
		else if (c == 0xD0 && i + 1 < n && (src[i + 1] & 0xC0) == 0x80)
		{
			unsigned char d = src[i + 1];

			if (d >= 0x90 && d <= 0x9F)		/* А..П -> а..п */
			{
				dst[i] = 0xD0;
				dst[i + 1] = (unsigned char) (d + 0x20);
			}
			else if (d >= 0xA0 && d <= 0xAF)	/* Р..Я -> р..я */
			{
				dst[i] = 0xD1;
				dst[i + 1] = (unsigned char) (d - 0x20);
			}
			else if (d == 0x81) /* Ё -> ё */
			{
				dst[i] = 0xD1;
				dst[i + 1] = 0x91;
			}
			else
			{
				dst[i] = c;
				dst[i + 1] = d;
			}
			i += 2;
		}
		else
		{
			dst[i] = c;
			i++;
		}
	}
}

/* Does the (already folded) text at s[i..n) start with word? */
static inline int
starts_with(const unsigned char *s, size_t i, size_t n, const char *word)
{
	size_t		w = strlen(word);

	return n - i >= w && memcmp(s + i, word, w) == 0;
}

static inline int
is_ascii_letter(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

/* a lower-case Cyrillic letter in UTF-8 starts at s[i] (а..п, р..я, ё) */
static inline int
is_cyr_letter(const unsigned char *s, size_t i, size_t n)
{
	return i + 1 < n &&
		((s[i] == 0xD0 && s[i + 1] >= 0xB0 && s[i + 1] <= 0xBF) ||
		 (s[i] == 0xD1 && ((s[i + 1] >= 0x80 && s[i + 1] <= 0x8F) || s[i + 1] == 0x91)));
}

/* Labels people put before a number, longest first (folded). */
static const char *const phone_labels[] = {
	"телефон", "мобильный", "моб", "тел", "т", "phone", "mobile", "mob", "tel", NULL
};

/* Extension markers (folded); trailing letters of longer forms are skipped. */
static const char *const ext_markers[] = {
	"доб", "доп", "вн", "ext", "x", "#", NULL
};

static size_t
skip_spaces(const unsigned char *s, size_t i, size_t n)
{
	size_t		w;

	while (i < n && is_space_at(s, i, n, &w))
		i += w;
	return i;
}

/*
 * Parses the extension part starting at s[i]: separators, a marker, digits,
 * then only spaces.  Returns 1 and fills ext, or 0 if malformed.
 */
static int
parse_extension(const unsigned char *s, size_t i, size_t n, char ext[CRM_PHONE_EXT_MAX])
{
	int			m;
	size_t		nd = 0;

	while (i < n && (s[i] == ',' || s[i] == ';' || s[i] == ' ' || s[i] == '\t' ||
					 (i + 1 < n && s[i] == 0xC2 && s[i + 1] == 0xA0)))
		i += (s[i] == 0xC2) ? 2 : 1;

	for (m = 0; ext_markers[m] != NULL; m++)
		if (starts_with(s, i, n, ext_markers[m]))
			break;
	if (ext_markers[m] == NULL)
		return 0;
	i += strlen(ext_markers[m]);
	/* "добавочный", "extension", "внутр." ... */
	while (i < n && (is_ascii_letter(s[i]) || is_cyr_letter(s, i, n)))
		i += is_ascii_letter(s[i]) ? 1 : 2;
	/* ". : №" and spaces */
	for (;;)
	{
		size_t		w;

		if (i < n && (s[i] == '.' || s[i] == ':'))
			i++;
		else if (i + 2 < n && s[i] == 0xE2 && s[i + 1] == 0x84 && s[i + 2] == 0x96)	/* № */
			i += 3;
		else if (i < n && is_space_at(s, i, n, &w))
			i += w;
		else
			break;
	}
	while (i < n && s[i] >= '0' && s[i] <= '9')
	{
		if (nd + 1 >= CRM_PHONE_EXT_MAX)
			return 0;
		ext[nd++] = (char) s[i++];
	}
	ext[nd] = '\0';
	if (nd == 0)
		return 0;
	return skip_spaces(s, i, n) == n;
}

int
crm_parse_phone(const char *in, size_t len, char e164[CRM_PHONE_MAX], char ext[CRM_PHONE_EXT_MAX])
{
	unsigned char s[PHONE_INPUT_MAX];
	char		d[24];
	size_t		nd = 0;
	size_t		i,
				n = len;
	int			plus = 0;
	const char *nsn;
	size_t		nsn_len;
	int			l;

	e164[0] = '\0';
	ext[0] = '\0';
	if (in == NULL || len == 0 || len >= PHONE_INPUT_MAX)
		return 0;
	fold_case((const unsigned char *) in, len, s);

	/* trim trailing spaces; leading ones are skipped below */
	while (n > 0)
	{
		size_t		w;

		if (is_space_at(s, n - 1, n, &w) && w == 1)
			n--;
		else if (n >= 2 && s[n - 2] == 0xC2 && s[n - 1] == 0xA0)
			n -= 2;
		else
			break;
	}
	i = skip_spaces(s, 0, n);

	for (l = 0; phone_labels[l] != NULL; l++)
	{
		size_t		w = strlen(phone_labels[l]);

		if (starts_with(s, i, n, phone_labels[l]) && i + w < n &&
			!is_ascii_letter(s[i + w]) && !is_cyr_letter(s, i + w, n))
		{
			i += w;
			while (i < n && (s[i] == '.' || s[i] == ':' || s[i] == ' ' || s[i] == '\t'))
				i++;
			i = skip_spaces(s, i, n);
			break;
		}
	}

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		w;

		if (c >= '0' && c <= '9')
		{
			if (nd >= sizeof(d) - 1)
				return 0;
			d[nd++] = (char) c;
			i++;
		}
		else if (c == '+')
		{
			if (plus || nd > 0)
				return 0;
			plus = 1;
			i++;
		}
		else if (c == '-' || c == '(' || c == ')' || c == '.' || c == '/')
			i++;
		else if (is_space_at(s, i, n, &w))
			i += w;
		else if (i + 2 < n && c == 0xE2 && s[i + 1] == 0x80 &&
				 (s[i + 2] == 0x90 || s[i + 2] == 0x91 || s[i + 2] == 0x92 ||
				  s[i + 2] == 0x93 || s[i + 2] == 0x94))
			i += 3;				/* U+2010..U+2014 hyphens and dashes */
		else
		{
			if (nd == 0 || !parse_extension(s, i, n, ext))
			{
				ext[0] = '\0';
				return 0;
			}
			break;
		}
	}
	d[nd] = '\0';

	if (!plus && nd > 2 && d[0] == '0' && d[1] == '0')
	{
		plus = 1;
		memmove(d, d + 2, nd - 1);
		nd -= 2;
	}
	else if (!plus && nd == 11 && (d[0] == '7' || d[0] == '8'))
	{
		/* Russian trunk prefix 8 or country code 7 written without '+' */
		d[0] = '7';
		plus = 1;
	}
	else if (!plus && nd >= 12 && d[0] == '8' && d[1] == '1' && d[2] == '0')
	{
		/* Russian international prefix 8-10 */
		plus = 1;
		memmove(d, d + 3, nd - 2);
		nd -= 3;
	}
	else if (!plus && nd == 10)
	{
		memmove(d + 1, d, nd + 1);
		d[0] = '7';
		nd++;
		plus = 1;
	}
	if (!plus)
		goto fail;

	if (nd < 7 || nd > 15 || d[0] == '0')
		goto fail;
	if (d[0] == '7')
	{
		nsn = d + 1;
		nsn_len = nd - 1;
		/* no Russian or Kazakh number starts with 0, 1, 2 or 89 */
		if (nsn_len != 10 || nsn[0] < '3' || (nsn[0] == '8' && nsn[1] == '9'))
			goto fail;
	}
	e164[0] = '+';
	memcpy(e164 + 1, d, nd + 1);
	return (int) nd + 1;

fail:
	e164[0] = '\0';
	ext[0] = '\0';
	return 0;
}

static inline int
is_local_char(unsigned char c)
{
	if (c >= 0x80)
		return 1;				/* RFC 6531 internationalised local parts */
	if (c <= 0x20 || c == 0x7F)
		return 0;
	return strchr("()<>,;:\\\"[]@", c) == NULL;
}

static inline int
is_domain_char(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

size_t
crm_parse_email(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		b = 0,
				e = len,
				n,
				i,
				at = 0,
				nat = 0,
				label_len = 0,
				labels = 0,
				w;
	int			tld_all_digits = 1;

	out[0] = '\0';
	if (in == NULL)
		return 0;
	while (b < e && is_space_at(s, b, e, &w))
		b += w;
	while (e > b)
	{
		if (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')
			e--;
		else if (e - b >= 2 && s[e - 2] == 0xC2 && s[e - 1] == 0xA0)
			e -= 2;
		else
			break;
	}
	if (e - b >= 7)
	{
		unsigned char p[7];

		fold_case(s + b, 7, p);
		if (memcmp(p, "mailto:", 7) == 0)
			b += 7;
	}
	if (e - b >= 2 && s[b] == '<' && s[e - 1] == '>')
	{
		b++;
		e--;
	}
	/* no space of any kind inside an address, NBSP included */
	for (i = b; i < e; i++)
		if (s[i] <= ' ' || (i + 1 < e && s[i] == 0xC2 && s[i + 1] == 0xA0))
			return 0;
	n = e - b;
	if (n == 0 || n > CRM_EMAIL_MAX)
		return 0;
	fold_case(s + b, n, (unsigned char *) out);
	out[n] = '\0';

	for (i = 0; i < n; i++)
		if (out[i] == '@')
		{
			at = i;
			nat++;
		}
	if (nat != 1 || at == 0 || at > 64 || at == n - 1)
		goto fail;

	/* local part */
	if (out[0] == '.' || out[at - 1] == '.')
		goto fail;
	for (i = 0; i < at; i++)
	{
		if (!is_local_char((unsigned char) out[i]))
			goto fail;
		if (out[i] == '.' && out[i + 1] == '.')
			goto fail;
	}

	/* domain */
	for (i = at + 1; i <= n; i++)
	{
		unsigned char c = (i < n) ? (unsigned char) out[i] : '.';

		if (c == '.')
		{
			if (label_len == 0 || label_len > 63 ||
				out[i - 1] == '-' || out[i - label_len] == '-')
				goto fail;
			labels++;
			if (i < n)
			{
				label_len = 0;
				tld_all_digits = 1;
			}
		}
		else if (is_domain_char(c))
		{
			label_len++;
			if (!(c >= '0' && c <= '9'))
				tld_all_digits = 0;
		}
		else
			goto fail;
	}
	if (labels < 2 || label_len < 2 || tld_all_digits)
		goto fail;
	return n;

fail:
	out[0] = '\0';
	return 0;
}
