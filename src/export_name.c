/*
 * export_name.c
 *	  Splitting a full name into first and last name for MailChimp's columns
 *	  (see export_name.h).  Pure C: no server headers, no allocation.
 *
 * Russian names come in two orders: the formal "surname name patronymic" of
 * documents and 1C, and the spoken "name patronymic surname" or "name
 * surname".  A patronymic is recognised by its ending (-вич, -вна, -ична,
 * оглы, кызы), a surname by the common endings (-ов, -ева, -ин, -ский, -ко,
 * -ук, ...), compared without regard to case (ASCII and Cyrillic).
 */
#include <stdbool.h>
#include <string.h>

#include "export_name.h"

#define NAME_MAX_WORDS 32
#define NAME_LOWER_MAX 64

typedef struct Word
{
	const char *s;
	size_t		len;
} Word;

/* Length of a separator at p (space, tab, CR, LF, U+00A0), or 0. */
static size_t
separator_len(const unsigned char *p, const unsigned char *end)
{
	if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		return 1;
	if (*p == 0xC2 && p + 1 < end && p[1] == 0xA0)
		return 2;
	return 0;
}

/*
 * Lower-cases the last bytes of a word (ASCII, and Cyrillic А-Я, Ё) into
 * buf, so that endings can be compared.  Only the tail matters, so at most
 * NAME_LOWER_MAX - 1 bytes are taken, starting at a character boundary.
 */
static size_t
lower_tail(const Word *w, char *buf)
{
	const unsigned char *s = (const unsigned char *) w->s;
	size_t		start = w->len > NAME_LOWER_MAX - 1 ? w->len - (NAME_LOWER_MAX - 1) : 0;
	size_t		i,
				n = 0;

	while (start < w->len && (s[start] & 0xC0) == 0x80)
		start++;
	for (i = start; i < w->len; i++)
	{
		unsigned char c = s[i];

		if (c >= 'A' && c <= 'Z')
			buf[n++] = (char) (c + 32);
		else if (c == 0xD0 && i + 1 < w->len)
		{
			unsigned char d = s[i + 1];

			/* U+0410..U+041F -> U+0430..U+043F; U+0420..U+042F -> U+0440..U+044F; Ё */
			if (d >= 0x90 && d <= 0x9F)
			{
				buf[n++] = (char) 0xD0;
				buf[n++] = (char) (d + 0x20);
			}
			else if (d >= 0xA0 && d <= 0xAF)
			{
				buf[n++] = (char) 0xD1;
				buf[n++] = (char) (d - 0x20);
			}
			else if (d == 0x81)
			{
				buf[n++] = (char) 0xD1;
				buf[n++] = (char) 0x91;
			}
			else
			{
				buf[n++] = (char) c;
				buf[n++] = (char) d;
			}
			i++;
		}
		else
			buf[n++] = (char) c;
	}
	buf[n] = '\0';
	return n;
}

static bool
ends_with_any(const Word *w, const char *const *endings)
{
	char		buf[NAME_LOWER_MAX + 1];
	size_t		n = lower_tail(w, buf);

	for (; *endings; endings++)
	{
		size_t		e = strlen(*endings);

		/* the ending must leave something before it */
		if (n > e && memcmp(buf + n - e, *endings, e) == 0)
			return true;
	}
	return false;
}

static const char *const patronymic_endings[] = {
	"вич", "вна", "ична", "оглы", "кызы", NULL
};

/* "Мамедов Ильхам Гейдар оглы": the Turkic patronymic is two words */
static bool
is_word(const Word *w, const char *lower)
{
	char		buf[NAME_LOWER_MAX + 1];
	size_t		n = lower_tail(w, buf);

	return n == w->len && strcmp(buf, lower) == 0;
}

static const char *const surname_endings[] = {
	"ов", "ова", "ев", "ева", "ёв", "ёва", "ин", "ина", "ын", "ына",
	"ский", "ская", "цкий", "цкая", "ской", "ко", "ук", "юк", "ых", "их",
	"ян", "дзе", "швили", NULL
};

/* Appends words[from..to) to out, joined by single spaces. */
static void
join(char *out, const Word *words, int from, int to)
{
	size_t		n = 0;

	for (int i = from; i < to; i++)
	{
		if (n > 0)
			out[n++] = ' ';
		memcpy(out + n, words[i].s, words[i].len);
		n += words[i].len;
	}
	out[n] = '\0';
}

void
crm_split_person_name(const char *in, size_t len, char *first, char *last)
{
	const unsigned char *p = (const unsigned char *) in;
	const unsigned char *end = p + len;
	Word		words[NAME_MAX_WORDS];
	int			n = 0;

	first[0] = '\0';
	last[0] = '\0';
	while (p < end)
	{
		size_t		sep = separator_len(p, end);
		const unsigned char *start;

		if (sep > 0)
		{
			p += sep;
			continue;
		}
		start = p;
		while (p < end && separator_len(p, end) == 0)
			p++;
		if (n < NAME_MAX_WORDS)
		{
			words[n].s = (const char *) start;
			words[n].len = (size_t) (p - start);
			n++;
		}
		else					/* more words than we split: the rest joins the last one */
			words[n - 1].len = (size_t) (p - (const unsigned char *) words[n - 1].s);
	}

	if (n == 0)
		return;
	if (n == 1)
		join(first, words, 0, 1);
	else if (n == 4 && (is_word(&words[3], "оглы") || is_word(&words[3], "кызы")))
	{
		join(first, words, 1, 4);
		join(last, words, 0, 1);
	}
	else if (n >= 3 && ends_with_any(&words[2], patronymic_endings))
	{
		/* surname, name, patronymic [, anything] */
		join(first, words, 1, 3);
		join(last, words, 0, 1);
		if (n > 3)
		{
			size_t		l = strlen(last);

			last[l] = ' ';
			join(last + l + 1, words, 3, n);
		}
	}
	else if (n >= 3 && ends_with_any(&words[1], patronymic_endings))
	{
		/* name, patronymic, surname */
		join(first, words, 0, 2);
		join(last, words, 2, n);
	}
	else if (n == 2 && ends_with_any(&words[0], surname_endings) &&
			 !ends_with_any(&words[1], surname_endings))
	{
		join(first, words, 1, 2);
		join(last, words, 0, 1);
	}
	else
	{
		join(first, words, 0, 1);
		join(last, words, 1, n);
	}
}
