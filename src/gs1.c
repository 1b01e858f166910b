/*
 * gs1.c
 *	  Pure C barcode arithmetic and GS1 element-string parser (R30, R32);
 *	  see gs1.h.  Written from the GS1 General Specifications: the AI table
 *	  below is the subset a warehouse of equipment and spare parts meets
 *	  (identification keys, lots, dates, serials, counts, trade and logistic
 *	  measures, order and routing data, internal AIs).
 *
 * No PostgreSQL headers: linked into the server module and the fuzz harness.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gs1.h"

/* what a field's content must satisfy beyond its character set */
enum
{
	CHK_NONE = 0,
	CHK_CSUM,					/* the last digit is the GS1 check digit */
	CHK_DATE0,					/* YYMMDD, DD may be 00 (month only) */
	CHK_DATETIME				/* YYMMDDHHMM, a real day */
};

typedef struct AiDef
{
	const char *prefix;			/* the AI without its last digit */
	char		lo;				/* range of the AI's last digit */
	char		hi;
	unsigned char minlen;		/* length of the data field */
	unsigned char maxlen;
	unsigned char ndigits;		/* leading characters that must be digits */
	bool		predefined;		/* predefined length: no FNC1 needed after it */
	unsigned char check;
	const char *title;
} AiDef;

/*
 * GS1 AIs are prefix-free, so the first entry that matches the digits at the
 * current position is the AI.  Trade and logistic measures (31nn-36nn) are
 * matched by MeasureAi below.
 */
static const AiDef ai_table[] = {
	{"0", '0', '0', 18, 18, 18, true, CHK_CSUM, "SSCC"},
	{"0", '1', '1', 14, 14, 14, true, CHK_CSUM, "GTIN"},
	{"0", '2', '2', 14, 14, 14, true, CHK_CSUM, "CONTENT"},
	{"1", '0', '0', 1, 20, 0, false, CHK_NONE, "BATCH/LOT"},
	{"1", '1', '1', 6, 6, 6, true, CHK_DATE0, "PROD DATE"},
	{"1", '3', '3', 6, 6, 6, true, CHK_DATE0, "PACK DATE"},
	{"1", '5', '5', 6, 6, 6, true, CHK_DATE0, "BEST BEFORE or BEST BY"},
	{"1", '6', '6', 6, 6, 6, true, CHK_DATE0, "SELL BY"},
	{"1", '7', '7', 6, 6, 6, true, CHK_DATE0, "USE BY or EXPIRY"},
	{"2", '0', '0', 2, 2, 2, true, CHK_NONE, "VARIANT"},
	{"2", '1', '1', 1, 20, 0, false, CHK_NONE, "SERIAL"},
	{"2", '2', '2', 1, 20, 0, false, CHK_NONE, "CPV"},
	{"23", '5', '5', 1, 28, 0, false, CHK_NONE, "TPX"},
	{"24", '0', '0', 1, 30, 0, false, CHK_NONE, "ADDITIONAL ID"},
	{"24", '1', '1', 1, 30, 0, false, CHK_NONE, "CUST. PART No."},
	{"24", '2', '2', 1, 6, 6, false, CHK_NONE, "MTO VARIANT"},
	{"25", '0', '0', 1, 30, 0, false, CHK_NONE, "SECONDARY SERIAL"},
	{"25", '1', '1', 1, 30, 0, false, CHK_NONE, "REF. TO SOURCE"},
	{"25", '4', '4', 1, 20, 0, false, CHK_NONE, "GLN EXTENSION COMPONENT"},
	{"3", '0', '0', 1, 8, 8, false, CHK_NONE, "VAR. COUNT"},
	{"3", '7', '7', 1, 8, 8, false, CHK_NONE, "COUNT"},
	{"40", '0', '0', 1, 30, 0, false, CHK_NONE, "ORDER NUMBER"},
	{"40", '1', '1', 1, 30, 0, false, CHK_NONE, "GINC"},
	{"40", '2', '2', 17, 17, 17, false, CHK_CSUM, "GSIN"},
	{"40", '3', '3', 1, 30, 0, false, CHK_NONE, "ROUTE"},
	{"41", '0', '7', 13, 13, 13, true, CHK_CSUM, "GLN"},
	{"42", '0', '0', 1, 20, 0, false, CHK_NONE, "SHIP TO POST"},
	{"42", '1', '1', 4, 12, 3, false, CHK_NONE, "SHIP TO POST"},
	{"42", '2', '2', 3, 3, 3, false, CHK_NONE, "ORIGIN"},
	{"700", '3', '3', 10, 10, 10, false, CHK_DATETIME, "EXPIRY TIME"},
	{"800", '5', '5', 6, 6, 6, false, CHK_NONE, "PRICE PER UNIT"},
	{"9", '0', '0', 1, 30, 0, false, CHK_NONE, "INTERNAL"},
	{"9", '1', '9', 1, 90, 0, false, CHK_NONE, "INTERNAL"},
};

#define N_AI (sizeof(ai_table) / sizeof(ai_table[0]))

static const AiDef measure_def = {"3", '0', '5', 6, 6, 6, true, CHK_NONE, "MEASURE"};

static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* GS1 character set 82 (the characters allowed in alphanumeric fields) */
static bool
is_cset82(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return true;
	if (c >= 'a' && c <= 'z')
		return true;
	if (c >= '%' && c <= '?')	/* % & ' ( ) * + , - . / 0-9 : ; < = > ? */
		return true;
	return c == '!' || c == '"' || c == '_';
}

/*
 * Trade and logistic measures 31nn-36nn: the third digit names the measure,
 * the fourth the position of the decimal point (0-5).
 */
static bool
measure_ai(const char *s)
{
	static const char *const third[] = {
		/* 31n */ "0123456", /* 32n */ "0123456789", /* 33n */ "01234567",
		/* 34n */ "0123456789", /* 35n */ "01234567", /* 36n */ "0123456789"
	};

	if (s[0] != '3' || s[1] < '1' || s[1] > '6' || !is_digit(s[2]) || s[3] < '0' || s[3] > '5')
		return false;
	return strchr(third[s[1] - '1'], s[2]) != NULL;
}

static const char *
measure_title(const char *ai)
{
	if (strncmp(ai, "310", 3) == 0)
		return "NET WEIGHT (kg)";
	if (strncmp(ai, "311", 3) == 0)
		return "LENGTH (m)";
	if (strncmp(ai, "312", 3) == 0)
		return "WIDTH (m)";
	if (strncmp(ai, "313", 3) == 0)
		return "HEIGHT (m)";
	if (strncmp(ai, "315", 3) == 0)
		return "NET VOLUME (l)";
	if (strncmp(ai, "330", 3) == 0)
		return "GROSS WEIGHT (kg)";
	return "MEASURE";
}

/*
 * The AI whose digits start s (avail characters available), or NULL.  *ailen
 * gets the number of digits of the AI.
 */
static const AiDef *
lookup_ai(const char *s, size_t avail, int *ailen)
{
	size_t		i;

	for (i = 0; i < N_AI; i++)
	{
		const AiDef *d = &ai_table[i];
		size_t		pl = strlen(d->prefix);

		if (avail < pl + 1)
			continue;
		if (memcmp(s, d->prefix, pl) == 0 && s[pl] >= d->lo && s[pl] <= d->hi)
		{
			*ailen = (int) pl + 1;
			return d;
		}
	}
	if (avail >= 4 && measure_ai(s))
	{
		*ailen = 4;
		return &measure_def;
	}
	return NULL;
}

/* The definition of an AI given as a whole ("01", "3103"), or NULL. */
static const AiDef *
lookup_ai_exact(const char *ai, size_t n)
{
	int			ailen;
	const AiDef *d;

	if (n < 2 || n > 4)
		return NULL;
	d = lookup_ai(ai, n, &ailen);
	if (d == NULL || (size_t) ailen != n)
		return NULL;
	return d;
}

int
gs1_check_digit(const char *body, size_t n)
{
	int			sum = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		char		c = body[n - 1 - i];

		if (!is_digit(c))
			return -1;
		sum += (c - '0') * ((i % 2 == 0) ? 3 : 1);
	}
	return (10 - sum % 10) % 10;
}

static bool
all_digits(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static bool
check_ok(const char *code, size_t n)
{
	return n >= 2 && all_digits(code, n) &&
		gs1_check_digit(code, n - 1) == code[n - 1] - '0';
}

const char *
gs1_code_kind(const char *code, size_t n)
{
	const char *kind;

	switch (n)
	{
		case 8:
			kind = "EAN-8";
			break;
		case 12:
			kind = "UPC-A";
			break;
		case 13:
			kind = "EAN-13";
			break;
		case 14:
			kind = "GTIN-14";
			break;
		case 18:
			kind = "SSCC";
			break;
		default:
			return NULL;
	}
	return check_ok(code, n) ? kind : NULL;
}

Gs1Error
gs1_gtin14(const char *code, size_t n, char out[15])
{
	out[0] = '\0';
	if ((n != 8 && n != 12 && n != 13 && n != 14) || !all_digits(code, n))
		return GS1_ERR_SYNTAX;
	if (!check_ok(code, n))
		return GS1_ERR_CHECK_DIGIT;
	memset(out, '0', 14 - n);
	memcpy(out + 14 - n, code, n);
	out[14] = '\0';
	return GS1_OK;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[month - 1];
}

bool
gs1_decode_date(const char *s, int this_year, bool month_only_ok,
				int *year, int *month, int *day)
{
	int			yy,
				mm,
				dd,
				cc,
				diff;

	if (!all_digits(s, 6))
		return false;
	yy = (s[0] - '0') * 10 + (s[1] - '0');
	mm = (s[2] - '0') * 10 + (s[3] - '0');
	dd = (s[4] - '0') * 10 + (s[5] - '0');
	if (mm < 1 || mm > 12)
		return false;
	/* GS1 General Specifications 7.12: the century of a two-digit year */
	cc = this_year / 100;
	diff = yy - this_year % 100;
	if (diff >= 51)
		cc--;
	else if (diff <= -50)
		cc++;
	*year = cc * 100 + yy;
	*month = mm;
	if (dd == 0)
	{
		if (!month_only_ok)
			return false;
	}
	else if (dd > days_in_month(*year, mm))
		return false;
	*day = dd;
	return true;
}

static Gs1Error fail(Gs1Message *msg, Gs1Error err, int pos, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

static Gs1Error
fail(Gs1Message *msg, Gs1Error err, int pos, const char *fmt,...)
{
	va_list		ap;

	msg->error = err;
	msg->errpos = pos;
	va_start(ap, fmt);
	vsnprintf(msg->errmsg, sizeof(msg->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

static void
ai_text(char out[5], const char *s, int ailen)
{
	memcpy(out, s, ailen);
	out[ailen] = '\0';
}

/*
 * Checks the data of one element against its AI and appends it.  pos is the
 * offset of the AI in the input, vpos that of the data (for messages).
 */
static Gs1Error
add_element(Gs1Message *msg, const AiDef *d, const char *ai, const char *val,
			size_t n, int pos, int vpos, int this_year)
{
	size_t		i;
	int			y,
				m,
				dd;
	Gs1Element *e;

	if (n == 0)
		return fail(msg, GS1_ERR_FIELD_EMPTY, vpos, "element (%s) has no data", ai);
	if (n < d->minlen)
		return fail(msg, GS1_ERR_FIELD_SHORT, vpos, "data of element (%s) is too short", ai);
	if (n > d->maxlen)
		return fail(msg, GS1_ERR_FIELD_LONG, vpos, "data of element (%s) is too long", ai);
	for (i = 0; i < n; i++)
	{
		if (i < d->ndigits ? !is_digit(val[i]) : !is_cset82((unsigned char) val[i]))
			return fail(msg, GS1_ERR_CHARSET, vpos + (int) i,
						"element (%s) has character 0x%02X where %s", ai, (unsigned char) val[i],
						i < d->ndigits ? "a digit is expected" : "GS1 allows none");
	}
	if (d->check == CHK_CSUM && gs1_check_digit(val, n - 1) != val[n - 1] - '0')
		return fail(msg, GS1_ERR_CHECK_DIGIT, vpos + (int) n - 1,
					"check digit of element (%s) is wrong", ai);
	if (d->check == CHK_DATE0 && !gs1_decode_date(val, this_year, true, &y, &m, &dd))
		return fail(msg, GS1_ERR_DATE, vpos, "element (%s) is not a valid date YYMMDD", ai);
	if (d->check == CHK_DATETIME &&
		(!gs1_decode_date(val, this_year, false, &y, &m, &dd) ||
		 (val[6] - '0') * 10 + (val[7] - '0') > 23 || (val[8] - '0') * 10 + (val[9] - '0') > 59))
		return fail(msg, GS1_ERR_DATE, vpos, "element (%s) is not a valid date and time YYMMDDHHMM", ai);

	for (i = 0; i < (size_t) msg->nelements; i++)
	{
		e = &msg->elements[i];
		if (strcmp(e->ai, ai) == 0)
		{
			if (strlen(e->value) == n && memcmp(e->value, val, n) == 0)
				return GS1_OK;	/* the same element twice says nothing new */
			return fail(msg, GS1_ERR_DUPLICATE, pos, "element (%s) occurs twice with different data", ai);
		}
	}
	if (msg->nelements >= GS1_MAX_ELEMENTS)
		return fail(msg, GS1_ERR_TOO_MANY, pos, "more than %d elements", GS1_MAX_ELEMENTS);
	e = &msg->elements[msg->nelements++];
	strcpy(e->ai, ai);
	memcpy(e->value, val, n);
	e->value[n] = '\0';
	e->pos = pos;
	return GS1_OK;
}

/* an element string as scanners send it: AIs and data, FNC1 as GS */
static Gs1Error
parse_raw(const char *s, int p, int end, int this_year, Gs1Message *msg)
{
	if (p < end && s[p] == GS1_GS)	/* FNC1 in first position */
		p++;
	if (p >= end)
		return fail(msg, GS1_ERR_EMPTY, p, "the code has no data");
	while (p < end)
	{
		int			ailen = 0;
		const AiDef *d = lookup_ai(s + p, (size_t) (end - p), &ailen);
		char		ai[5];
		int			pos = p;
		int			q;
		Gs1Error	err;

		if (d == NULL)
		{
			if (s[p] == GS1_GS)
				return fail(msg, GS1_ERR_FIELD_EMPTY, p, "two FNC1 separators in a row");
			return fail(msg, GS1_ERR_UNKNOWN_AI, p, "unknown application identifier");
		}
		ai_text(ai, s + p, ailen);
		p += ailen;
		if (d->minlen == d->maxlen)
		{
			/* fixed length: a separator inside it means data is missing */
			for (q = p; q < end && q - p < d->minlen; q++)
				if (s[q] == GS1_GS)
					break;
			if (q - p < d->minlen)
				return fail(msg, GS1_ERR_FIELD_SHORT, p, "data of element (%s) is too short", ai);
		}
		else
		{
			for (q = p; q < end && s[q] != GS1_GS; q++)
				if (q - p > d->maxlen)
					break;
			if (q - p > d->maxlen)
				return fail(msg, GS1_ERR_FIELD_LONG, p + d->maxlen,
							"data of element (%s) is too long: is an FNC1 separator missing?", ai);
		}
		err = add_element(msg, d, ai, s + p, (size_t) (q - p), pos, p, this_year);
		if (err != GS1_OK)
			return err;
		p = q;
		if (p < end)
		{
			if (s[p] == GS1_GS)
				p++;
			else if (!d->predefined)
				return fail(msg, GS1_ERR_SEPARATOR, p,
							"an FNC1 separator must follow element (%s)", ai);
		}
	}
	return GS1_OK;
}

/* the human-readable form: (AI)data(AI)data, '(' in data escaped as "\(" */
static Gs1Error
parse_bracketed(const char *s, int p, int end, int this_year, Gs1Message *msg)
{
	char		val[GS1_MAX_VALUE];

	while (p < end)
	{
		int			q,
					pos,
					vpos;
		size_t		n = 0;
		const AiDef *d;
		char		ai[5];
		Gs1Error	err;

		while (p < end && s[p] == ' ')
			p++;
		if (p >= end)
			break;
		pos = p;
		if (s[p] != '(')
			return fail(msg, GS1_ERR_SYNTAX, p, "expected \"(\" and an application identifier");
		for (q = p + 1; q < end && is_digit(s[q]) && q - p <= 4; q++)
			;
		if (q >= end || s[q] != ')' || q - p - 1 < 2)
			return fail(msg, GS1_ERR_SYNTAX, p, "expected an application identifier of 2 to 4 digits in brackets");
		d = lookup_ai_exact(s + p + 1, (size_t) (q - p - 1));
		if (d == NULL)
		{
			char		unknown[5];

			ai_text(unknown, s + p + 1, q - p - 1);
			return fail(msg, GS1_ERR_UNKNOWN_AI, p + 1, "unknown application identifier (%s)", unknown);
		}
		ai_text(ai, s + p + 1, q - p - 1);
		p = q + 1;
		while (p < end && s[p] == ' ')
			p++;
		vpos = p;
		while (p < end && s[p] != '(')
		{
			char		c = s[p];

			if (c == '\\' && p + 1 < end && s[p + 1] == '(')
			{
				c = '(';
				p++;
			}
			if (n >= sizeof(val) - 1)
				return fail(msg, GS1_ERR_FIELD_LONG, vpos, "data of element (%s) is too long", ai);
			val[n++] = c;
			p++;
		}
		while (n > 0 && val[n - 1] == ' ')
			n--;
		err = add_element(msg, d, ai, val, n, pos, vpos, this_year);
		if (err != GS1_OK)
			return err;
	}
	if (msg->nelements == 0)
		return fail(msg, GS1_ERR_EMPTY, p, "the code has no data");
	return GS1_OK;
}

/* a bare EAN/UPC/ITF-14 (as GTIN-14, AI 01) or SSCC (AI 00) */
static Gs1Error
parse_bare(const char *s, int p, int end, Gs1Message *msg)
{
	size_t		n = (size_t) (end - p);
	char		gtin[15];
	Gs1Error	err;

	if (n == 18)
	{
		if (!check_ok(s + p, n))
			return fail(msg, GS1_ERR_CHECK_DIGIT, end - 1, "check digit of the SSCC is wrong");
		msg->nelements = 1;
		strcpy(msg->elements[0].ai, "00");
		memcpy(msg->elements[0].value, s + p, n);
		msg->elements[0].value[n] = '\0';
		msg->elements[0].pos = p;
		return GS1_OK;
	}
	err = gs1_gtin14(s + p, n, gtin);
	if (err == GS1_ERR_CHECK_DIGIT)
		return fail(msg, err, end - 1, "check digit of the GTIN is wrong");
	if (err != GS1_OK)
		return fail(msg, err, p, "a bare number must be an EAN-8, UPC-A, EAN-13, GTIN-14 or SSCC");
	msg->nelements = 1;
	strcpy(msg->elements[0].ai, "01");
	strcpy(msg->elements[0].value, gtin);
	msg->elements[0].pos = p;
	return GS1_OK;
}

const Gs1Element *
gs1_find(const Gs1Message *msg, const char *ai)
{
	int			i;

	for (i = 0; i < msg->nelements; i++)
		if (strcmp(msg->elements[i].ai, ai) == 0)
			return &msg->elements[i];
	return NULL;
}

static bool
has_any(const Gs1Message *msg, const char *a, const char *b, const char *c)
{
	return (a && gs1_find(msg, a)) || (b && gs1_find(msg, b)) || (c && gs1_find(msg, c));
}

/*
 * The pairing rules of the GS1 General Specifications (4.14) for the AIs we
 * know: what an attribute needs a key for, and keys that exclude each other.
 */
static Gs1Error
check_associations(Gs1Message *msg)
{
	static const struct
	{
		const char *ai;
		const char *req1;
		const char *req2;
	}			reqs[] = {
		{"10", "01", "02"}, {"11", "01", "02"}, {"13", "01", "02"},
		{"15", "01", "02"}, {"16", "01", "02"}, {"17", "01", "02"},
		{"20", "01", "02"}, {"21", "01", NULL}, {"22", "01", NULL},
		{"235", "01", NULL}, {"240", "01", "02"}, {"241", "01", "02"},
		{"242", "01", "02"}, {"250", "01", NULL}, {"250", "21", NULL},
		{"251", "01", NULL}, {"254", "414", NULL}, {"30", "01", "02"},
		{"37", "02", NULL}, {"02", "37", NULL}, {"403", "00", NULL},
		{"422", "01", "02"}, {"7003", "01", "02"}, {"8005", "01", "02"},
	};
	size_t		i;
	int			j,
				k;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
	{
		const Gs1Element *e = gs1_find(msg, reqs[i].ai);

		if (e != NULL && !has_any(msg, reqs[i].req1, reqs[i].req2, NULL))
			return fail(msg, GS1_ERR_ASSOCIATION, e->pos, "element (%s) needs element (%s)%s%s%s",
						reqs[i].ai, reqs[i].req1, reqs[i].req2 ? " or (" : "",
						reqs[i].req2 ? reqs[i].req2 : "", reqs[i].req2 ? ")" : "");
	}
	if (gs1_find(msg, "01") && (gs1_find(msg, "02") || gs1_find(msg, "37")))
		return fail(msg, GS1_ERR_ASSOCIATION, gs1_find(msg, "01")->pos,
					"element (01) cannot be combined with (02) or (37): a count belongs to the GTIN of contained items");
	if (gs1_find(msg, "420") && gs1_find(msg, "421"))
		return fail(msg, GS1_ERR_ASSOCIATION, gs1_find(msg, "421")->pos,
					"elements (420) and (421) exclude each other");
	for (j = 0; j < msg->nelements; j++)
	{
		const Gs1Element *e = &msg->elements[j];

		if (strlen(e->ai) != 4 || !measure_ai(e->ai))
			continue;
		if (!has_any(msg, "00", "01", "02"))
			return fail(msg, GS1_ERR_ASSOCIATION, e->pos, "element (%s) needs element (00), (01) or (02)", e->ai);
		for (k = j + 1; k < msg->nelements; k++)
			if (strlen(msg->elements[k].ai) == 4 && strncmp(e->ai, msg->elements[k].ai, 3) == 0)
				return fail(msg, GS1_ERR_ASSOCIATION, msg->elements[k].pos,
							"element (%s) repeats a measure already given", msg->elements[k].ai);
	}
	return GS1_OK;
}

static Gs1Error
parse_internal(const char *in, size_t len, int this_year, Gs1Message *msg)
{
	int			p = 0;
	int			end = (int) len;
	int			i;

	while (p < end && (in[p] == ' ' || in[p] == '\t' || in[p] == '\r' || in[p] == '\n'))
		p++;
	while (end > p && (in[end - 1] == ' ' || in[end - 1] == '\t' || in[end - 1] == '\r' || in[end - 1] == '\n'))
		end--;
	if (p >= end)
		return fail(msg, GS1_ERR_EMPTY, p, "the code is empty");

	if (in[p] == ']')
	{
		char		sym[4];

		if (end - p < 3)
			return fail(msg, GS1_ERR_SYMBOLOGY, p, "incomplete symbology identifier");
		sym[0] = ']';
		sym[1] = in[p + 1];
		sym[2] = in[p + 2];
		sym[3] = '\0';
		if (strcmp(sym, "]C1") == 0)
			msg->symbology = GS1_SYM_GS1_128;
		else if (strcmp(sym, "]d2") == 0)
			msg->symbology = GS1_SYM_DATAMATRIX;
		else if (strcmp(sym, "]Q3") == 0)
			msg->symbology = GS1_SYM_QR;
		else if (strcmp(sym, "]e0") == 0)
			msg->symbology = GS1_SYM_DATABAR;
		else if (strcmp(sym, "]E0") == 0)
			msg->symbology = GS1_SYM_EAN13;
		else if (strcmp(sym, "]E4") == 0)
			msg->symbology = GS1_SYM_EAN8;
		else if (strcmp(sym, "]I1") == 0)
			msg->symbology = GS1_SYM_ITF14;
		else
		{
			for (i = 1; i < 3; i++)
				if ((unsigned char) sym[i] < 0x21 || (unsigned char) sym[i] > 0x7e)
					sym[i] = '?';
			return fail(msg, GS1_ERR_SYMBOLOGY, p,
						"symbology identifier %s does not carry GS1 data", sym);
		}
		p += 3;
		switch (msg->symbology)
		{
			case GS1_SYM_EAN13:
				if (end - p != 13 && end - p != 12)
					return fail(msg, GS1_ERR_SYNTAX, p, "an EAN-13 has 13 digits");
				return parse_bare(in, p, end, msg);
			case GS1_SYM_EAN8:
				if (end - p != 8)
					return fail(msg, GS1_ERR_SYNTAX, p, "an EAN-8 has 8 digits");
				return parse_bare(in, p, end, msg);
			case GS1_SYM_ITF14:
				if (end - p != 14)
					return fail(msg, GS1_ERR_SYNTAX, p, "an ITF-14 has 14 digits");
				return parse_bare(in, p, end, msg);
			default:
				if (p < end && in[p] == '(')
					return parse_bracketed(in, p, end, this_year, msg);
				return parse_raw(in, p, end, this_year, msg);
		}
	}
	if (in[p] == '(')
	{
		msg->symbology = GS1_SYM_BRACKETED;
		return parse_bracketed(in, p, end, this_year, msg);
	}
	if (all_digits(in + p, (size_t) (end - p)))
	{
		int			n = end - p;

		if (n == 8 || n == 12 || n == 13 || n == 14 || n == 18)
			return parse_bare(in, p, end, msg);
	}
	return parse_raw(in, p, end, this_year, msg);
}

Gs1Error
gs1_parse(const char *in, size_t len, int this_year, Gs1Message *msg)
{
	memset(msg, 0, sizeof(*msg));
	if (len > GS1_MAX_INPUT)
		return fail(msg, GS1_ERR_TOO_LONG, GS1_MAX_INPUT, "the code is longer than %d characters", GS1_MAX_INPUT);
	if (parse_internal(in, len, this_year, msg) != GS1_OK)
	{
		msg->nelements = 0;
		return msg->error;
	}
	return GS1_OK;
}

Gs1Error
gs1_check_associations(Gs1Message *msg)
{
	if (msg->error != GS1_OK)
		return msg->error;
	if (check_associations(msg) != GS1_OK)
		msg->nelements = 0;
	return msg->error;
}

int
gs1_format(const Gs1Message *msg, bool bracketed, char *out, size_t outlen)
{
	size_t		n = 0;
	int			i;

#define PUT(c) do { if (n + 1 >= outlen) return -1; out[n++] = (c); } while (0)
	for (i = 0; i < msg->nelements; i++)
	{
		const Gs1Element *e = &msg->elements[i];
		const AiDef *d = lookup_ai_exact(e->ai, strlen(e->ai));
		const char *c;

		if (d == NULL)
			return -1;
		if (bracketed)
			PUT('(');
		for (c = e->ai; *c; c++)
			PUT(*c);
		if (bracketed)
			PUT(')');
		for (c = e->value; *c; c++)
		{
			if (bracketed && *c == '(')
				PUT('\\');
			PUT(*c);
		}
		if (!bracketed && !d->predefined && i + 1 < msg->nelements)
			PUT(GS1_GS);
	}
#undef PUT
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return (int) n;
}

const char *
gs1_ai_title(const char *ai)
{
	const AiDef *d = lookup_ai_exact(ai, strlen(ai));

	if (d == NULL)
		return NULL;
	if (d == &measure_def)
		return measure_title(ai);
	return d->title;
}

const char *
gs1_symbology_name(Gs1Symbology s)
{
	switch (s)
	{
		case GS1_SYM_GS1_128:
			return "GS1-128";
		case GS1_SYM_DATAMATRIX:
			return "GS1 DataMatrix";
		case GS1_SYM_QR:
			return "GS1 QR Code";
		case GS1_SYM_DATABAR:
			return "GS1 DataBar";
		case GS1_SYM_EAN13:
			return "EAN-13";
		case GS1_SYM_EAN8:
			return "EAN-8";
		case GS1_SYM_ITF14:
			return "ITF-14";
		case GS1_SYM_BRACKETED:
			return "bracketed";
		case GS1_SYM_NONE:
			break;
	}
	return "none";
}
