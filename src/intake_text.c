/*
 * intake_text.c
 *	  The pure C text work of the intake (R5): header-section check, HTML to
 *	  text, fields by label, phones and e-mail addresses in free text.
 *
 * Templates (crm.email_template) are data: a new website form is a new row
 * with the labels its e-mails use ("Ваше имя", "Телефон", "Сообщение" ...),
 * and this code finds the values after those labels.  It must never read out
 * of bounds or loop whatever bytes arrive, so it is fuzzed outside the server
 * (test/fuzz/intake_text_fuzz.c).  See intake_text.h for the contracts.
 */
#include "intake_text.h"

#include <stdint.h>
#include <string.h>

/* ---- small UTF-8 helpers ------------------------------------------------ */

/* the length of the UTF-8 sequence starting at s[i] (1 for a bad byte) */
static inline size_t
u8len(const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i];
	size_t		w;
	size_t		k;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		w = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		w = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		w = 4;
	else
		return 1;
	if (i + w > n)
		return 1;
	for (k = 1; k < w; k++)
		if ((s[i + k] & 0xC0) != 0x80)
			return 1;
	return w;
}

/* a horizontal space at s[i]: space, tab, NBSP; its width in *w */
static inline int
hspace_at(const unsigned char *s, size_t i, size_t n, size_t *w)
{
	if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f')
	{
		*w = 1;
		return 1;
	}
	if (i + 1 < n && s[i] == 0xC2 && s[i + 1] == 0xA0)
	{
		*w = 2;
		return 1;
	}
	return 0;
}

/* a dash at s[i]: '-', U+2010..U+2015; its width in *w */
static inline int
dash_at(const unsigned char *s, size_t i, size_t n, size_t *w)
{
	if (s[i] == '-')
	{
		*w = 1;
		return 1;
	}
	if (i + 2 < n && s[i] == 0xE2 && s[i + 1] == 0x80 && s[i + 2] >= 0x90 && s[i + 2] <= 0x95)
	{
		*w = 3;
		return 1;
	}
	return 0;
}

/*
 * Folds the character at s[i] for a case-insensitive comparison: ASCII and
 * Cyrillic А-Я, Ё to lower case (same UTF-8 length).  Writes its bytes into
 * out and returns the width.
 */
static inline size_t
fold_at(const unsigned char *s, size_t i, size_t n, unsigned char out[4])
{
	size_t		w = u8len(s, i, n);
	unsigned char c = s[i];

	memcpy(out, s + i, w);
	if (c >= 'A' && c <= 'Z')
		out[0] = (unsigned char) (c + ('a' - 'A'));
	else if (w == 2 && c == 0xD0)
	{
		unsigned char d = s[i + 1];

		if (d >= 0x90 && d <= 0x9F)
			out[1] = (unsigned char) (d + 0x20);
		else if (d >= 0xA0 && d <= 0xAF)
		{
			out[0] = 0xD1;
			out[1] = (unsigned char) (d - 0x20);
		}
		else if (d == 0x81)
		{
			out[0] = 0xD1;
			out[1] = 0x91;
		}
	}
	return w;
}

/* folds a whole string of n bytes into out (same length) */
static void
fold_str(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char f[4];
		size_t		w = fold_at(s, i, n, f);

		memcpy(out + i, f, w);
		i += w;
	}
}

/* an ASCII letter or digit, or a Cyrillic letter, at s[i] */
static inline int
word_char_at(const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i];

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return 1;
	return i + 1 < n && (c == 0xD0 || c == 0xD1) && (s[i + 1] & 0xC0) == 0x80;
}

/* ---- header section -------------------------------------------------------- */

CrmHeaderStatus
crm_header_check(const char *msg, size_t len, int *line)
{
	const unsigned char *s = (const unsigned char *) msg;
	size_t		i = 0;
	int			ln = 0;
	int			saw_field = 0;
	int			from = 0;
	size_t		k;

	*line = 0;
	for (k = 0; k < len; k++)
		if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r' && s[k] != '\n')
			break;
	if (k == len)
		return CRM_HEADER_EMPTY;

	while (i < len)
	{
		size_t		ls = i,
					le,
					next;

		ln++;
		while (i < len && s[i] != '\n')
			i++;
		next = (i < len) ? i + 1 : i;
		le = i;
		if (le > ls && s[le - 1] == '\r')
			le--;
		i = next;

		if (memchr(s + ls, '\0', le - ls) != NULL)
		{
			*line = ln;
			return CRM_HEADER_NUL;
		}
		if (le == ls)
			break;				/* the empty line that ends the header section */
		if (s[ls] == ' ' || s[ls] == '\t')
		{
			if (!saw_field)
			{
				*line = ln;
				return CRM_HEADER_NO_FIELDS;
			}
			continue;			/* folded continuation of the previous field */
		}
		/* field name: printable US-ASCII except ':', then optional WSP, ':' */
		k = ls;
		while (k < le && s[k] >= 33 && s[k] <= 126 && s[k] != ':')
			k++;
		{
			size_t		name_end = k;

			while (k < le && (s[k] == ' ' || s[k] == '\t'))
				k++;
			if (name_end == ls || k >= le || s[k] != ':')
			{
				*line = ln;
				return saw_field ? CRM_HEADER_BAD_LINE : CRM_HEADER_NO_FIELDS;
			}
			if (name_end - ls == 4)
			{
				unsigned char f[4];

				fold_str(s + ls, 4, f);
				if (memcmp(f, "from", 4) == 0)
					from = 1;
			}
		}
		saw_field = 1;
	}
	if (!saw_field)
	{
		*line = 1;
		return CRM_HEADER_NO_FIELDS;
	}
	if (!from)
		return CRM_HEADER_NO_FROM;
	return CRM_HEADER_OK;
}

/* ---- HTML to text -------------------------------------------------------- */

typedef struct TextOut
{
	char	   *buf;
	size_t		cap;
	size_t		len;
	int			newlines;		/* newlines at the end of the output */
	int			space;			/* a space is pending */
	int			at_line_start;
} TextOut;

static void
out_bytes(TextOut *o, const char *b, size_t n)
{
	if (o->cap == 0)
		return;
	if (o->len + n > o->cap - 1)
		n = (o->len < o->cap - 1) ? o->cap - 1 - o->len : 0;
	memcpy(o->buf + o->len, b, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* text content: a pending space is written only between words of a line */
static void
out_text(TextOut *o, const char *b, size_t n)
{
	if (n == 0)
		return;
	if (o->space && !o->at_line_start)
		out_bytes(o, " ", 1);
	o->space = 0;
	out_bytes(o, b, n);
	o->newlines = 0;
	o->at_line_start = 0;
}

/* ends the line; at most one blank line in a row, none at the start */
static void
out_newline(TextOut *o, int max_newlines)
{
	o->space = 0;
	if (o->len == 0 || o->newlines >= max_newlines)
		return;
	/* no trailing spaces or tabs before a line break */
	while (o->len > 0 && (o->buf[o->len - 1] == ' ' || o->buf[o->len - 1] == '\t'))
		o->buf[--o->len] = '\0';
	out_bytes(o, "\n", 1);
	o->newlines++;
	o->at_line_start = 1;
}

static size_t
utf8_encode(unsigned long cp, char *b)
{
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80)
	{
		b[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		b[0] = (char) (0xC0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		b[0] = (char) (0xE0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	b[0] = (char) (0xF0 | (cp >> 18));
	b[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	b[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	b[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

static const struct
{
	const char *name;
	unsigned long cp;
}			html_entities[] =
{
	{"nbsp", ' '}, {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"laquo", 0xAB}, {"raquo", 0xBB}, {"ndash", 0x2013}, {"mdash", 0x2014},
	{"hellip", 0x2026}, {"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122},
	{"bull", 0x2022}, {"middot", 0xB7}, {"deg", 0xB0}, {"times", 0xD7},
	{"euro", 0x20AC}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
	{"rdquo", 0x201D}, {"bdquo", 0x201E}, {"shy", 0}, {"zwnj", 0}, {"zwj", 0},
	{"thinsp", ' '}, {"ensp", ' '}, {"emsp", ' '}, {"minus", 0x2212}, {"plusmn", 0xB1},
	{"sect", 0xA7}, {"para", 0xB6}, {"rarr", 0x2192}, {"larr", 0x2190},
	{NULL, 0}
};

/*
 * Decodes the character reference at s[i] ('&').  Returns the bytes it
 * consumed (0 if it is not one) and the decoded UTF-8 in b / *bn.
 */
static size_t
html_entity(const unsigned char *s, size_t i, size_t n, char *b, size_t *bn)
{
	size_t		j = i + 1;
	size_t		k;

	*bn = 0;
	if (j < n && s[j] == '#')
	{
		unsigned long cp = 0;
		int			hex = 0,
					nd = 0;

		j++;
		if (j < n && (s[j] == 'x' || s[j] == 'X'))
		{
			hex = 1;
			j++;
		}
		while (j < n && nd < 8)
		{
			unsigned char c = s[j];
			int			v;

			if (c >= '0' && c <= '9')
				v = c - '0';
			else if (hex && c >= 'a' && c <= 'f')
				v = c - 'a' + 10;
			else if (hex && c >= 'A' && c <= 'F')
				v = c - 'A' + 10;
			else
				break;
			cp = cp * (hex ? 16 : 10) + (unsigned long) v;
			nd++;
			j++;
		}
		if (nd == 0)
			return 0;
		if (j < n && s[j] == ';')
			j++;
		if (cp == 0xA0)
			cp = ' ';
		if (cp == 0xAD || cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0xFEFF)
			return j - i;		/* soft hyphen, zero widths: nothing */
		*bn = utf8_encode(cp, b);
		return j - i;
	}
	for (k = 0; html_entities[k].name != NULL; k++)
	{
		size_t		l = strlen(html_entities[k].name);

		if (j + l <= n && memcmp(s + j, html_entities[k].name, l) == 0 &&
			(j + l == n || s[j + l] == ';' || !word_char_at(s, j + l, n)))
		{
			size_t		used = 1 + l + ((j + l < n && s[j + l] == ';') ? 1 : 0);

			if (html_entities[k].cp != 0)
				*bn = utf8_encode(html_entities[k].cp, b);
			return used;
		}
	}
	return 0;
}

/* does the lower-cased tag name t (length tl) belong to the list? */
static int
tag_in(const char *t, size_t tl, const char *const *list)
{
	int			k;

	for (k = 0; list[k] != NULL; k++)
		if (strlen(list[k]) == tl && memcmp(list[k], t, tl) == 0)
			return 1;
	return 0;
}

static const char *const block_tags[] = {
	"p", "div", "tr", "table", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
	"blockquote", "pre", "hr", "section", "article", "header", "footer", "form",
	"dl", "dt", "dd", "address", "center", "tbody", "thead", "tfoot", "caption",
	"fieldset", "legend", "nav", "aside", "main", "figure", "figcaption", "body", "html",
	NULL
};
static const char *const paragraph_tags[] = {
	"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "hr", NULL
};
static const char *const skip_tags[] = {
	"script", "style", "head", "title", "noscript", "template", "svg", "object", NULL
};

/* finds the case-insensitive "</name" from i on; returns its offset or n */
static size_t
find_close_tag(const unsigned char *s, size_t i, size_t n, const char *name, size_t nl)
{
	for (; i + 2 + nl <= n; i++)
	{
		size_t		k;

		if (s[i] != '<' || s[i + 1] != '/')
			continue;
		for (k = 0; k < nl; k++)
		{
			unsigned char c = s[i + 2 + k];

			if (c >= 'A' && c <= 'Z')
				c = (unsigned char) (c + 32);
			if (c != (unsigned char) name[k])
				break;
		}
		if (k == nl && (i + 2 + nl == n || !word_char_at(s, i + 2 + nl, n)))
			return i;
	}
	return n;
}

size_t
crm_html_to_text(const char *html, size_t len, char *out, size_t outcap)
{
	const unsigned char *s = (const unsigned char *) html;
	TextOut		o = {out, outcap, 0, 0, 0, 1};
	size_t		i = 0;
	int			pre = 0;

	if (outcap > 0)
		out[0] = '\0';
	while (i < len)
	{
		unsigned char c = s[i];

		if (c == '<')
		{
			size_t		j = i + 1;
			int			closing = 0;
			char		name[16];
			size_t		nl = 0;

			if (len - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
			{
				size_t		k = i + 4;

				while (k + 3 <= len && memcmp(s + k, "-->", 3) != 0)
					k++;
				i = (k + 3 <= len) ? k + 3 : len;
				continue;
			}
			if (j < len && (s[j] == '!' || s[j] == '?'))
			{
				while (j < len && s[j] != '>')
					j++;
				i = (j < len) ? j + 1 : len;
				continue;
			}
			if (j < len && s[j] == '/')
			{
				closing = 1;
				j++;
			}
			while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
							   (s[j] >= '0' && s[j] <= '9')))
			{
				if (nl < sizeof(name))
					name[nl] = (char) ((s[j] >= 'A' && s[j] <= 'Z') ? s[j] + 32 : s[j]);
				nl++;
				j++;
			}
			if (nl == 0 || nl > sizeof(name))
			{
				if (nl == 0)
				{
					/* "a < b": a literal '<' */
					out_text(&o, "<", 1);
					i++;
					continue;
				}
				nl = 0;			/* an overlong name: an unknown tag */
			}
			/* attributes up to '>', quotes respected */
			{
				unsigned char q = 0;

				while (j < len)
				{
					if (q)
					{
						if (s[j] == q)
							q = 0;
					}
					else if (s[j] == '"' || s[j] == '\'')
						q = s[j];
					else if (s[j] == '>')
						break;
					j++;
				}
			}
			i = (j < len) ? j + 1 : len;
			if (nl == 0)
				continue;
			if (!closing && tag_in(name, nl, skip_tags) && !(j > 0 && s[j - 1] == '/'))
			{
				char		lname[16];

				memcpy(lname, name, nl);
				lname[nl] = '\0';
				i = find_close_tag(s, i, len, lname, nl);
				/* the closing tag itself is consumed as an ordinary tag next */
				continue;
			}
			if (nl == 2 && memcmp(name, "br", 2) == 0)
			{
				/* <br> always ends a line, even an empty one (but not 3 in a row) */
				o.space = 0;
				if (o.len > 0 && o.newlines < 2)
				{
					while (o.len > 0 && (o.buf[o.len - 1] == ' ' || o.buf[o.len - 1] == '\t'))
						o.buf[--o.len] = '\0';
					out_bytes(&o, "\n", 1);
					o.newlines++;
					o.at_line_start = 1;
				}
			}
			else if ((nl == 2 && (memcmp(name, "td", 2) == 0 || memcmp(name, "th", 2) == 0)) && !closing)
			{
				if (!o.at_line_start)
				{
					while (o.len > 0 && o.buf[o.len - 1] == ' ')
						o.buf[--o.len] = '\0';
					out_bytes(&o, "\t", 1);
					o.space = 0;
				}
			}
			else if (tag_in(name, nl, block_tags))
			{
				out_newline(&o, tag_in(name, nl, paragraph_tags) ? 2 : 1);
				if (nl == 3 && memcmp(name, "pre", 3) == 0)
					pre = !closing;
			}
			continue;
		}
		if (c == '&')
		{
			char		b[8];
			size_t		bn;
			size_t		used = html_entity(s, i, len, b, &bn);

			if (used > 0)
			{
				if (bn == 1 && b[0] == ' ')
					o.space = 1;
				else if (bn > 0)
					out_text(&o, b, bn);
				i += used;
				continue;
			}
			out_text(&o, "&", 1);
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v')
		{
			if (pre && c == '\n')
				out_newline(&o, 2);
			else
				o.space = 1;
			i++;
			continue;
		}
		{
			size_t		w = u8len(s, i, len);

			if (w == 2 && c == 0xC2 && s[i + 1] == 0xA0)
				o.space = 1;
			else if (c < 0x20 || c == 0x7F)
				o.space = 1;	/* control characters are not text */
			else
				out_text(&o, (const char *) s + i, w);
			i += w;
		}
	}
	/* no trailing blank space */
	while (o.len > 0 && (o.buf[o.len - 1] == '\n' || o.buf[o.len - 1] == ' ' || o.buf[o.len - 1] == '\t'))
		o.buf[--o.len] = '\0';
	return o.len;
}

/* ---- fields by label ------------------------------------------------------ */

#define MAX_LABELS_PER_FIELD 32

typedef struct FoldedLabels
{
	unsigned char text[CRM_FIELD_COUNT][MAX_LABELS_PER_FIELD][CRM_LABEL_MAX];
	size_t		len[CRM_FIELD_COUNT][MAX_LABELS_PER_FIELD];
	int			count[CRM_FIELD_COUNT];
} FoldedLabels;

/* a label as the template gives it: trimmed, a trailing ':' dropped, folded */
static void
prepare_labels(const CrmLabels *labels, FoldedLabels *fl)
{
	int			f,
				k;

	for (f = 0; f < CRM_FIELD_COUNT; f++)
	{
		fl->count[f] = 0;
		if (labels == NULL || labels->label[f] == NULL)
			continue;
		for (k = 0; k < labels->count[f] && fl->count[f] < MAX_LABELS_PER_FIELD; k++)
		{
			const unsigned char *l = (const unsigned char *) labels->label[f][k];
			size_t		b = 0,
						e;

			if (l == NULL)
				continue;
			e = strlen((const char *) l);
			while (b < e && (l[b] == ' ' || l[b] == '\t'))
				b++;
			while (e > b && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == ':'))
				e--;
			if (e == b || e - b > CRM_LABEL_MAX)
				continue;
			fold_str(l + b, e - b, fl->text[f][fl->count[f]]);
			fl->len[f][fl->count[f]] = e - b;
			fl->count[f]++;
		}
	}
}

/* does the folded text at s[i..n) start with the folded label? */
static int
starts_with_folded(const unsigned char *s, size_t i, size_t n, const unsigned char *label, size_t ll)
{
	size_t		k = 0;

	while (k < ll)
	{
		unsigned char f[4];
		size_t		w;

		if (i >= n)
			return 0;
		w = fold_at(s, i, n, f);
		if (k + w > ll || memcmp(f, label + k, w) != 0)
			return 0;
		k += w;
		i += w;
	}
	return 1;
}

/* skips bullets and decoration at the start of a line */
static size_t
skip_decoration(const unsigned char *s, size_t i, size_t e)
{
	for (;;)
	{
		size_t		w;

		if (i < e && hspace_at(s, i, e, &w))
			i += w;
		else if (i < e && (s[i] == '*' || s[i] == '|' || s[i] == '#'))
			i++;
		else if (i + 2 < e && s[i] == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA2 || s[i + 2] == 0xA3))
			i += 3;				/* bullets */
		else if (i + 1 < e && s[i] == 0xC2 && s[i + 1] == 0xB7)
			i += 2;				/* middle dot */
		else if (i < e && dash_at(s, i, e, &w) && i + w < e && (s[i + w] == ' ' || s[i + w] == '\t'))
			i += w;				/* "- " list item */
		else
			return i;
	}
}

/* does the (folded) label end with a letter or digit? */
static int
ends_with_word_char(const unsigned char *l, size_t ll)
{
	unsigned char c = l[ll - 1];

	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
		return 1;
	return ll >= 2 && (c & 0xC0) == 0x80 && (l[ll - 2] == 0xD0 || l[ll - 2] == 0xD1);
}

typedef struct LabelMatch
{
	int			field;			/* -1: no label */
	size_t		value;			/* where the value starts (== line end when alone) */
} LabelMatch;

/*
 * Is the line [ls, le) a labelled line?  The longest matching label wins;
 * it must end at a word boundary and be followed by optional '*' / '.' and a
 * separator, or by the end of the line.
 */
static LabelMatch
match_label(const unsigned char *s, size_t ls, size_t le, const FoldedLabels *fl)
{
	LabelMatch	m = {-1, le};
	size_t		best = 0;
	size_t		i = skip_decoration(s, ls, le);
	int			f,
				k;

	for (f = 0; f < CRM_FIELD_COUNT; f++)
		for (k = 0; k < fl->count[f]; k++)
		{
			size_t		ll = fl->len[f][k];
			size_t		j,
						w;
			int			sep = 0;
			int			dot;

			if (ll <= best || !starts_with_folded(s, i, le, fl->text[f][k], ll))
				continue;
			j = i + ll;
			/* "Name" must not match "Namesake" */
			if (j < le && word_char_at(s, j, le) && ends_with_word_char(fl->text[f][k], ll))
				continue;
			dot = 0;
			while (j < le && (s[j] == ' ' || s[j] == '*' || s[j] == '.' || (s[j] == 0xC2 && j + 1 < le && s[j + 1] == 0xA0)))
			{
				if (s[j] == '.')
					dot = 1;
				j += (s[j] == 0xC2) ? 2 : 1;
			}
			if (j < le && (s[j] == ':' || s[j] == '=' || s[j] == '\t'))
			{
				j++;
				sep = 1;
			}
			else if (j + 2 < le && s[j] == 0xEF && s[j + 1] == 0xBC && s[j + 2] == 0x9A)
			{
				j += 3;			/* fullwidth colon */
				sep = 1;
			}
			else if (j < le && dash_at(s, j, le, &w) && j > i + ll)
			{
				/* "Имя - Иван": a dash separates only after a space */
				j += w;
				sep = 1;
			}
			if (!sep && dot && j < le && (s[j] == '+' || s[j] == '(' || (s[j] >= '0' && s[j] <= '9')))
				sep = 1;		/* "тел. (8482) 63-21-40": the abbreviation's dot */
			if (!sep && j < le)
			{
				/*
				 * "Телефон для связи:", "Phone / тел.:", "E-mail для ответа:": a
				 * few more words and then the colon; no digit or '@' before it
				 */
				size_t		q = j;

				while (q < le && q - j < 32 && s[q] != ':' && !(s[q] >= '0' && s[q] <= '9') &&
					   s[q] != '@' && s[q] != '\t')
					q++;
				if (q < le && s[q] == ':' && q > j)
				{
					j = q + 1;
					sep = 1;
				}
			}
			if (!sep && j < le)
				continue;
			while (j < le && hspace_at(s, j, le, &w))
				j += w;
			best = ll;
			m.field = f;
			m.value = j;
		}
	return m;
}

/*
 * 1: a reply or forward header ("-----Original Message-----", "... wrote:"):
 * what follows is not the sender's; 2: the signature separator "-- ": the
 * request ends, the signature (with its phone) is still read; 0: neither.
 */
static int
is_stop_line(const unsigned char *s, size_t ls, size_t le)
{
	size_t		i = ls,
				e = le,
				w;
	unsigned char f[96];
	size_t		n;

	while (i < e && hspace_at(s, i, e, &w))
		i += w;
	while (e > i && hspace_at(s, e - 1, e, &w))
		e--;
	n = e - i;
	if (n == 2 && s[i] == '-' && s[i + 1] == '-')
		return 2;				/* "-- " signature separator */
	if (n < 6)
		return 0;
	if (n > sizeof(f))
	{
		/* only the end of a long line matters: "... wrote:" */
		i = e - sizeof(f);
		while (i < e && (s[i] & 0xC0) == 0x80)
			i++;
		n = e - i;
	}
	fold_str(s + i, n, f);
	{
		static const char *const contains[] = {
			"original message", "исходное сообщение", "forwarded message",
			"пересылаемое сообщение", "переслано", NULL
		};
		static const char *const ends[] = {
			"wrote:", "пишет:", "написал:", "написала:", "написал(а):", NULL
		};
		int			k;

		/* a separator line ("-----Original Message-----", "> ...") names them */
		if (f[0] == '-' || f[0] == '_' || f[0] == '=' || f[0] == '>')
			for (k = 0; contains[k] != NULL; k++)
			{
				size_t		cl = strlen(contains[k]);
				size_t		p;

				for (p = 0; p + cl <= n; p++)
					if (memcmp(f + p, contains[k], cl) == 0)
						return 1;
			}
		for (k = 0; ends[k] != NULL; k++)
		{
			size_t		el = strlen(ends[k]);

			if (n >= el && memcmp(f + n - el, ends[k], el) == 0)
				return 1;
		}
	}
	return 0;
}

/* trims horizontal space (and stray quotes of a label's value) off a span */
static CrmSpan
trim_span(const unsigned char *s, size_t b, size_t e)
{
	CrmSpan		sp;
	size_t		w;

	if (b >= e)
	{
		sp.off = b;
		sp.len = 0;
		return sp;
	}
	while (b < e && (hspace_at(s, b, e, &w) || s[b] == '\n'))
		b += (s[b] == '\n') ? 1 : w;
	while (e > b)
	{
		if (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')
			e--;
		else if (e - b >= 2 && s[e - 2] == 0xC2 && s[e - 1] == 0xA0)
			e -= 2;
		else
			break;
	}
	sp.off = b;
	sp.len = e - b;
	return sp;
}

static void
add_value(CrmFields *out, int field, CrmSpan sp)
{
	if (sp.len == 0 || out->nvalues[field] >= CRM_FIELD_MAX_VALUES)
		return;
	out->value[field][out->nvalues[field]++] = sp;
}

static void
close_request(const unsigned char *s, CrmFields *out, int open, size_t start, size_t end)
{
	if (open && start != SIZE_MAX && start < end)
		add_value(out, CRM_FIELD_REQUEST, trim_span(s, start, end));
}

void
crm_extract_fields(const char *text, size_t len, const CrmLabels *labels, CrmFields *out)
{
	const unsigned char *s = (const unsigned char *) text;
	FoldedLabels fl;
	size_t		i = 0;
	int			pending = -1;	/* a label alone: its value is on a next line */
	int			req_open = 0;	/* collecting the request's lines */
	int			signature = 0;	/* past the "-- " line */
	size_t		req_start = 0,	/* SIZE_MAX: no line of it yet */
				req_end = 0;

	memset(out, 0, sizeof(*out));
	out->body_end = len;
	prepare_labels(labels, &fl);

	while (i < len)
	{
		size_t		ls = i,
					le;
		LabelMatch	m;
		int			blank;
		size_t		k,
					w;

		while (i < len && s[i] != '\n')
			i++;
		le = i;
		if (i < len)
			i++;
		if (le > ls && s[le - 1] == '\r')
			le--;

		for (k = ls; k < le && hspace_at(s, k, le, &w); k += w)
			;
		blank = (k == le);

		if (!blank)
		{
			int			stop = (s[k] == '>') ? 1 : is_stop_line(s, ls, le);

			if (stop == 1)
			{
				/* a quote or a reply header: the rest is not the sender's */
				close_request(s, out, req_open, req_start, req_end);
				if (!signature)
					out->body_end = ls;
				return;
			}
			if (stop == 2)
			{
				/* the signature: the request ends, its fields are still read */
				close_request(s, out, req_open, req_start, req_end);
				req_open = 0;
				pending = -1;
				if (!signature)
					out->body_end = ls;
				signature = 1;
				continue;
			}
		}
		if (blank)
			continue;

		m = match_label(s, ls, le, &fl);
		if (m.field >= 0)
		{
			close_request(s, out, req_open, req_start, req_end);
			req_open = 0;
			pending = -1;
			if (m.field == CRM_FIELD_REQUEST)
			{
				req_open = 1;
				req_start = (m.value < le) ? m.value : SIZE_MAX;
				req_end = le;
			}
			else if (m.value < le)
				add_value(out, m.field, trim_span(s, m.value, le));
			else
				pending = m.field;
			continue;
		}
		if (pending >= 0)
		{
			add_value(out, pending, trim_span(s, ls, le));
			pending = -1;
			continue;
		}
		if (req_open)
		{
			if (req_start == SIZE_MAX)
				req_start = ls;
			req_end = le;
		}
	}
	close_request(s, out, req_open, req_start, req_end);
}

/* ---- phones and e-mail addresses in free text ------------------------- */

int
crm_find_phones(const char *in, size_t len, char keys[][CRM_PHONE_MAX], int max)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		i = 0;
	int			found = 0;

	while (i < len && found < max)
	{
		unsigned char c = s[i];

		if ((c >= '0' && c <= '9') || c == '+' || (c == '(' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9'))
		{
			size_t		start = i,
						j = i,
						last = i,
						w;
			int			digits = 0;
			int			gap = 0;

			/* not the tail of a word or of a longer number ("ГОСТ12345", "№ 5") */
			if (start > 0 && word_char_at(s, start - 1, len) && !(s[start - 1] >= '0' && s[start - 1] <= '9'))
			{
				i++;
				continue;
			}
			while (j < len)
			{
				unsigned char d = s[j];

				if (d >= '0' && d <= '9')
				{
					digits++;
					j++;
					last = j;
					gap = 0;
				}
				else if ((d == '+' && j == start) || d == '(' || d == ')' || d == '.' || d == '-' || d == '/')
				{
					j++;
					gap++;
				}
				else if (hspace_at(s, j, len, &w) || dash_at(s, j, len, &w))
				{
					j += w;
					gap++;
				}
				else
					break;
				if (gap > 3 || digits > 18)
					break;
			}
			if (digits >= 7 && digits <= 15)
			{
				char		e164[CRM_PHONE_MAX];
				char		ext[CRM_PHONE_EXT_MAX];

				if (crm_parse_phone((const char *) s + start, last - start, e164, ext) > 0)
				{
					int			k;

					for (k = 0; k < found; k++)
						if (strcmp(keys[k], e164) == 0)
							break;
					if (k == found)
						memcpy(keys[found++], e164, CRM_PHONE_MAX);
				}
			}
			i = (last > i) ? last : i + 1;
			continue;
		}
		i += u8len(s, i, len);
	}
	return found;
}

static inline int
email_local_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(c != 0 && strchr("._%+-!#$&'*/=?^`{|}~", c) != NULL);
}

static inline int
email_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '.' || c >= 0x80;
}

int
crm_find_emails(const char *in, size_t len, char keys[][CRM_EMAIL_MAX + 1], int max)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		i;
	int			found = 0;

	for (i = 0; i < len && found < max; i++)
	{
		size_t		b,
					e;
		char		key[CRM_EMAIL_MAX + 1];

		if (s[i] != '@')
			continue;
		b = i;
		while (b > 0 && email_local_char(s[b - 1]) && i - b < 64)
			b--;
		while (b < i && (s[b] == '.' || s[b] == '\''))
			b++;
		e = i + 1;
		while (e < len && email_domain_char(s[e]) && e - i < 255)
		{
			/* non-ASCII (IDN) only as whole UTF-8 characters */
			if (s[e] >= 0x80)
			{
				size_t		w = u8len(s, e, len);

				if (w == 1 || (w == 2 && s[e] == 0xC2 && s[e + 1] == 0xA0))
					break;
				e += w;
			}
			else
				e++;
		}
		while (e > i + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
			e--;
		if (b == i || e == i + 1 || e - b > CRM_EMAIL_MAX)
			continue;
		if (crm_parse_email((const char *) s + b, e - b, key) > 0)
		{
			int			k;

			for (k = 0; k < found; k++)
				if (strcmp(keys[k], key) == 0)
					break;
			if (k == found)
				memcpy(keys[found++], key, CRM_EMAIL_MAX + 1);
		}
	}
	return found;
}

long
crm_extension_number(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		b = 0,
				e = len;
	long		v = 0;

	while (b < e && (s[b] == ' ' || s[b] == '\t'))
		b++;
	while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (e == b || e - b > 8)
		return -1;
	for (; b < e; b++)
	{
		if (s[b] < '0' || s[b] > '9')
			return -1;
		v = v * 10 + (s[b] - '0');
	}
	return v;
}

/* ---- RFC 2047: adjacent base64 encoded-words ------------------------- */

static inline int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

typedef struct EncodedWord
{
	size_t		cs_off,
				cs_len;			/* the charset */
	char		enc;			/* 'b' or 'q' */
	size_t		p_off,
				p_len;			/* the encoded text */
	size_t		end;			/* just after "?=" */
} EncodedWord;

/* parses "=?charset?X?text?=" at s[i]; 0 if there is none */
static int
encoded_word_at(const unsigned char *s, size_t i, size_t n, EncodedWord *w)
{
	size_t		j;

	if (i + 1 >= n || s[i] != '=' || s[i + 1] != '?')
		return 0;
	j = i + 2;
	while (j < n && s[j] != '?' && s[j] > ' ' && s[j] < 0x7F && j - (i + 2) < 64)
		j++;
	if (j >= n || s[j] != '?' || j == i + 2)
		return 0;
	w->cs_off = i + 2;
	w->cs_len = j - (i + 2);
	j++;
	if (j + 1 >= n || s[j + 1] != '?')
		return 0;
	if (s[j] == 'B' || s[j] == 'b')
		w->enc = 'b';
	else if (s[j] == 'Q' || s[j] == 'q')
		w->enc = 'q';
	else
		return 0;
	j += 2;
	w->p_off = j;
	while (j + 1 < n && !(s[j] == '?' && s[j + 1] == '='))
	{
		if (s[j] <= ' ' || s[j] >= 0x7F || j - w->p_off > 2048)
			return 0;
		j++;
	}
	if (j + 1 >= n)
		return 0;
	w->p_len = j - w->p_off;
	w->end = j + 2;
	return 1;
}

static int
same_charset(const unsigned char *s, const EncodedWord *a, const EncodedWord *b)
{
	size_t		k;

	if (a->cs_len != b->cs_len)
		return 0;
	for (k = 0; k < a->cs_len; k++)
	{
		unsigned char x = s[a->cs_off + k],
					y = s[b->cs_off + k];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char) (x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char) (y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

/* white space between encoded words, folding included; its end, or i */
static size_t
skip_lwsp(const unsigned char *s, size_t i, size_t n)
{
	for (;;)
	{
		if (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		else if (i + 2 < n && s[i] == '\r' && s[i + 1] == '\n' && (s[i + 2] == ' ' || s[i + 2] == '\t'))
			i += 3;
		else if (i + 1 < n && s[i] == '\n' && (s[i + 1] == ' ' || s[i + 1] == '\t'))
			i += 2;
		else
			return i;
	}
}

typedef struct B64Out
{
	char	   *out;
	size_t		cap;
	size_t		len;
	unsigned char group[3];
	int			ng;
} B64Out;

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_put_char(B64Out *b, char c)
{
	if (b->len < b->cap)
		b->out[b->len++] = c;
}

static void
b64_put_byte(B64Out *b, unsigned char byte)
{
	b->group[b->ng++] = byte;
	if (b->ng == 3)
	{
		b64_put_char(b, b64_alphabet[b->group[0] >> 2]);
		b64_put_char(b, b64_alphabet[((b->group[0] & 3) << 4) | (b->group[1] >> 4)]);
		b64_put_char(b, b64_alphabet[((b->group[1] & 15) << 2) | (b->group[2] >> 6)]);
		b64_put_char(b, b64_alphabet[b->group[2] & 63]);
		b->ng = 0;
	}
}

static void
b64_flush(B64Out *b)
{
	if (b->ng == 0)
		return;
	if (b->ng == 1)
		b->group[1] = 0;
	b->group[2] = 0;
	b64_put_char(b, b64_alphabet[b->group[0] >> 2]);
	b64_put_char(b, b64_alphabet[((b->group[0] & 3) << 4) | (b->group[1] >> 4)]);
	b64_put_char(b, b->ng == 2 ? b64_alphabet[((b->group[1] & 15) << 2)] : '=');
	b64_put_char(b, '=');
	b->ng = 0;
}

size_t
crm_rfc2047_merge(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		cap = len + 4;
	size_t		o = 0;
	size_t		i = 0;

	while (i < len)
	{
		EncodedWord first;

		if (s[i] == '=' && encoded_word_at(s, i, len, &first) && first.enc == 'b')
		{
			EncodedWord w = first;
			size_t		run_end = first.end;
			int			count = 1;

			for (;;)
			{
				size_t		k = skip_lwsp(s, run_end, len);
				EncodedWord next;

				if (k == run_end || !encoded_word_at(s, k, len, &next) || next.enc != 'b' ||
					!same_charset(s, &first, &next))
					break;
				run_end = next.end;
				count++;
			}
			if (count >= 2)
			{
				B64Out		b;
				size_t		p;
				size_t		k;

				/* "=?charset?B?" */
				for (k = i; k < first.p_off && o < cap; k++)
					out[o++] = (char) s[k];
				b.out = out + o;
				b.cap = cap - o;
				b.len = 0;
				b.ng = 0;
				/* each word's bytes on their own, then all as one */
				w = first;
				for (;;)
				{
					unsigned long acc = 0;
					int			bits = 0;

					for (p = w.p_off; p < w.p_off + w.p_len; p++)
					{
						int			v = b64_value(s[p]);

						if (v < 0)
							continue;
						acc = ((acc << 6) | (unsigned long) v) & 0xFFFFFF;
						bits += 6;
						if (bits >= 8)
						{
							bits -= 8;
							b64_put_byte(&b, (unsigned char) ((acc >> bits) & 0xFF));
						}
					}
					if (w.end >= run_end)
						break;
					k = skip_lwsp(s, w.end, len);
					if (!encoded_word_at(s, k, len, &w))
						break;	/* cannot happen: the run was parsed above */
				}
				b64_flush(&b);
				o += b.len;
				if (o < cap)
					out[o++] = '?';
				if (o < cap)
					out[o++] = '=';
				i = run_end;
				continue;
			}
			for (; i < first.end && o < cap; i++)
				out[o++] = (char) s[i];
			i = first.end;
			continue;
		}
		if (o < cap)
			out[o++] = (char) s[i];
		i++;
	}
	return o;
}
