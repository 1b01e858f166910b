/*
 * intake_text_fuzz.c
 *	  libFuzzer harness for the intake's pure C text work (src/intake_text.c):
 *	  the header-section check, HTML to text, fields by label, phones and
 *	  e-mail addresses in free text, extension numbers, and the merge of
 *	  split RFC 2047 words -- with the phone / e-mail parsers it calls.
 *	  Built outside the server with ASan and UBSan by test/integration/fuzz.sh.
 * sources: src/intake_text.c src/contactkey.c
 *
 * Besides memory errors it checks the promises of intake_text.h: HTML text
 * never needs more than len + 64 bytes and is valid UTF-8 when its input
 * is; every field is a trimmed span inside the text; every phone or address
 * found is a key that parses to itself, and none twice; a merge never grows
 * the text by more than 4 bytes and leaves text without "=?" as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake_text.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const name_labels[] = {"Имя", "Ваше имя", "ФИО", "Name", "Посетитель"};
static const char *const phone_labels[] = {"Телефон", "Тел", "Phone", "Моб", "Контактный телефон"};
static const char *const email_labels[] = {"E-mail", "Email", "Почта", "Эл. почта"};
static const char *const company_labels[] = {"Компания", "Организация", "Company"};
static const char *const request_labels[] = {"Сообщение", "Комментарий", "Переписка", "Message"};

/* strict UTF-8 check (no overlongs, no surrogates, at most U+10FFFF) */
static int
valid_utf8(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		w,
					k;
		unsigned long cp;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			w = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			w = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			w = 4, cp = c & 0x07;
		else
			return 0;
		if (i + w > n)
			return 0;
		for (k = 1; k < w; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((w == 3 && cp < 0x800) || (w == 4 && cp < 0x10000) || cp > 0x10FFFF ||
			(cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += w;
	}
	return 1;
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
check_header(const char *in, size_t len)
{
	int			line = -1;
	CrmHeaderStatus st = crm_header_check(in, len, &line);

	if ((int) st < CRM_HEADER_OK || st > CRM_HEADER_NO_FROM || line < 0)
		abort();
	if (st == CRM_HEADER_OK && len == 0)
		abort();
}

static void
check_html(const char *in, size_t len)
{
	size_t		cap = len + 64;
	char	   *out = malloc(cap);
	char	   *big = malloc(4 * len + 64);
	size_t		n = crm_html_to_text(in, len, out, cap);
	size_t		m = crm_html_to_text(in, len, big, 4 * len + 64);

	if (n >= cap || out[n] != '\0' || strlen(out) > n)
		abort();
	/* len + 64 is enough: a larger buffer gives the same text */
	if (m != n || memcmp(out, big, n) != 0)
		abort();
	if (valid_utf8((const unsigned char *) in, len) && !valid_utf8((const unsigned char *) out, strlen(out)))
		abort();
	free(big);
	free(out);
}

static void
check_fields(const char *in, size_t len)
{
	CrmLabels	labels = {
		{name_labels, phone_labels, email_labels, company_labels, request_labels},
		{5, 5, 4, 3, 4}
	};
	CrmFields	f;
	int			k,
				i;
	/* a label taken from the input itself, for the field its first byte picks */
	char		own[CRM_LABEL_MAX + 8];
	const char *own_list[1] = {own};
	size_t		ol = 0;

	while (ol < len && ol < sizeof(own) - 1 && in[ol] != '\n' && in[ol] != ':')
	{
		own[ol] = in[ol] ? in[ol] : ' ';
		ol++;
	}
	own[ol] = '\0';

	crm_extract_fields(in, len, &labels, &f);
	if (f.body_end > len)
		abort();
	for (k = 0; k < CRM_FIELD_COUNT; k++)
	{
		if (f.nvalues[k] < 0 || f.nvalues[k] > CRM_FIELD_MAX_VALUES)
			abort();
		for (i = 0; i < f.nvalues[k]; i++)
		{
			CrmSpan		sp = f.value[k][i];

			if (sp.len == 0 || sp.off > len || sp.len > len - sp.off)
				abort();
			if (is_ws(in[sp.off]) || is_ws(in[sp.off + sp.len - 1]))
				abort();
		}
	}
	if (len > 0)
	{
		int			field = (unsigned char) in[0] % CRM_FIELD_COUNT;
		CrmLabels	mine = {{NULL, NULL, NULL, NULL, NULL}, {0, 0, 0, 0, 0}};

		mine.label[field] = own_list;
		mine.count[field] = 1;
		crm_extract_fields(in, len, &mine, &f);
		for (k = 0; k < CRM_FIELD_COUNT; k++)
			for (i = 0; i < f.nvalues[k]; i++)
				if (f.value[k][i].off > len || f.value[k][i].len > len - f.value[k][i].off)
					abort();
	}
}

static void
check_keys(const char *in, size_t len)
{
	char		phones[8][CRM_PHONE_MAX];
	char		emails[8][CRM_EMAIL_MAX + 1];
	int			np = crm_find_phones(in, len, phones, 8);
	int			ne = crm_find_emails(in, len, emails, 8);
	int			i,
				j;

	if (np < 0 || np > 8 || ne < 0 || ne > 8)
		abort();
	for (i = 0; i < np; i++)
	{
		char		again[CRM_PHONE_MAX],
					ext[CRM_PHONE_EXT_MAX];
		int			n = (int) strlen(phones[i]);

		if (crm_parse_phone(phones[i], (size_t) n, again, ext) != n || strcmp(again, phones[i]) != 0)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(phones[i], phones[j]) == 0)
				abort();
	}
	for (i = 0; i < ne; i++)
	{
		char		again[CRM_EMAIL_MAX + 1];
		size_t		n = strlen(emails[i]);

		if (n == 0 || crm_parse_email(emails[i], n, again) != n || strcmp(again, emails[i]) != 0)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(emails[i], emails[j]) == 0)
				abort();
	}
	{
		long		e = crm_extension_number(in, len);

		if (e < -1 || e >= 100000000L)
			abort();
	}
}

static void
check_merge(const char *in, size_t len)
{
	char	   *out = malloc(len + 4);
	size_t		n = crm_rfc2047_merge(in, len, out);
	size_t		i;
	int			has_ew = 0;

	if (n > len + 4)
		abort();
	for (i = 0; i + 1 < len; i++)
		if (in[i] == '=' && in[i + 1] == '?')
			has_ew = 1;
	if (!has_ew && (n != len || memcmp(in, out, len) != 0))
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exact-size copies, so that ASan sees any read past the input */
	char	   *buf = malloc(size ? size : 1);

	memcpy(buf, data, size);
	check_header(buf, size);
	check_html(buf, size);
	check_fields(buf, size);
	check_keys(buf, size);
	check_merge(buf, size);
	free(buf);
	return 0;
}
