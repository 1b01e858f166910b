/*
 * imap_parse.c
 *	  The pieces of IMAP responses the mailbox poll reads (imap_parse.h).
 *
 * Strict where a wrong reading would cost mail: a UID or UIDVALIDITY is an
 * nz-number of at most 32 bits (RFC 3501, section 9: "nz-number", "uniqueid")
 * -- a larger one from a broken server would otherwise become the watermark
 * and hide every later message.  Keywords are matched without regard to case.
 */
#include "imap_parse.h"

/* whether s starts with the upper-case ASCII word w, in any case */
static int
starts_with_ci(const char *s, const char *w)
{
	for (; *w; s++, w++)
	{
		char		c = *s;

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (c != *w)
			return 0;
	}
	return 1;
}

/* an nz-number of 32 bits at *p: its value, *p moved past it; 0 if none */
static uint32_t
nz_number(const char **p)
{
	const char *s = *p;
	uint64_t	n = 0;

	if (*s < '1' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++)
	{
		n = n * 10 + (uint64_t) (*s - '0');
		if (n > UINT32_MAX)
			return 0;
	}
	*p = s;
	return (uint32_t) n;
}

int64_t
crm_imap_literal_size(const char *line, size_t len)
{
	size_t		i;
	int64_t		n = 0;
	int64_t		mult = 1;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	i = len - 2;
	if (line[i] == '+')
	{
		if (i == 0)
			return -1;
		i--;
	}
	if (line[i] < '0' || line[i] > '9')
		return -1;
	for (;;)
	{
		if (mult > CRM_IMAP_LITERAL_MAX)
		{
			/* more digits than any size we take: leading zeros only */
			if (line[i] != '0')
				return -2;
		}
		else
		{
			n += (line[i] - '0') * mult;
			if (n > CRM_IMAP_LITERAL_MAX)
				return -2;
			mult *= 10;
		}
		if (i == 0)
			return -1;			/* no '{' */
		i--;
		if (line[i] < '0' || line[i] > '9')
			break;
	}
	return line[i] == '{' ? n : -1;
}

uint32_t
crm_imap_uidvalidity(const char *line)
{
	const char *p;

	for (p = line; *p; p++)
	{
		if (*p == '[' && starts_with_ci(p + 1, "UIDVALIDITY "))
		{
			const char *q = p + 13;
			uint32_t	n = nz_number(&q);

			return (n != 0 && *q == ']') ? n : 0;
		}
	}
	return 0;
}

int
crm_imap_is_search(const char *line, const char **rest)
{
	if (line[0] != '*' || line[1] != ' ' || !starts_with_ci(line + 2, "SEARCH"))
		return 0;
	if (line[8] != '\0' && line[8] != ' ')
		return 0;				/* another word, e.g. SEARCHRES */
	*rest = line + 8;
	return 1;
}

int
crm_imap_search_next(const char **pos, uint32_t *uid)
{
	const char *p = *pos;
	uint32_t	n;

	if (*p == '\0')
		return 0;
	if (*p != ' ')
		return -1;
	p++;
	if (*p == '\0')
		return 0;				/* a trailing space, as some servers send */
	n = nz_number(&p);
	if (n == 0 || (*p != ' ' && *p != '\0'))
		return -1;
	*uid = n;
	*pos = p;
	return 1;
}
