/*
 * deal_words.c
 *	  An amount in roubles in Russian words ("сумма прописью"), as the
 *	  invoice for payment prints it (R14).  Pure C.
 *
 * Russian counts by groups of three digits; thousands are feminine (одна
 * тысяча, две тысячи), the rest masculine (один рубль, два миллиона); the
 * noun takes one of three forms by the last two digits: 1 рубль, 2-4 рубля,
 * 0 and 5-20 рублей (11-14 always the last).
 */
#include "deal_words.h"

#include <string.h>

static const char *const units_m[10] = {
	"", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"
};
static const char *const units_f[10] = {
	"", "одна", "две", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"
};
static const char *const teens[10] = {
	"десять", "одиннадцать", "двенадцать", "тринадцать", "четырнадцать",
	"пятнадцать", "шестнадцать", "семнадцать", "восемнадцать", "девятнадцать"
};
static const char *const tens[10] = {
	"", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят",
	"семьдесят", "восемьдесят", "девяносто"
};
static const char *const hundreds[10] = {
	"", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот",
	"семьсот", "восемьсот", "девятьсот"
};

typedef struct Group
{
	const char *forms[3];		/* one, few, many */
	int			feminine;
} Group;

/* from the units (roubles) up */
static const Group groups[5] = {
	{{"рубль", "рубля", "рублей"}, 0},
	{{"тысяча", "тысячи", "тысяч"}, 1},
	{{"миллион", "миллиона", "миллионов"}, 0},
	{{"миллиард", "миллиарда", "миллиардов"}, 0},
	{{"триллион", "триллиона", "триллионов"}, 0},
};

static int
plural(int64_t n)
{
	int			n100 = (int) (n % 100);
	int			n10 = (int) (n % 10);

	if (n100 >= 11 && n100 <= 14)
		return 2;
	if (n10 == 1)
		return 0;
	if (n10 >= 2 && n10 <= 4)
		return 1;
	return 2;
}

typedef struct Out
{
	char	   *buf;
	size_t		len;
	size_t		cap;
	int			overflow;
} Out;

static void
put(Out *o, const char *word)
{
	size_t		wl = strlen(word);

	if (wl == 0)
		return;
	if (o->len > 0)
	{
		if (o->len + 1 >= o->cap)
		{
			o->overflow = 1;
			return;
		}
		o->buf[o->len++] = ' ';
	}
	if (o->len + wl >= o->cap)
	{
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, word, wl);
	o->len += wl;
	o->buf[o->len] = '\0';
}

static void
triple(Out *o, int n, int feminine)
{
	put(o, hundreds[n / 100]);
	n %= 100;
	if (n >= 10 && n < 20)
		put(o, teens[n - 10]);
	else
	{
		put(o, tens[n / 10]);
		put(o, feminine ? units_f[n % 10] : units_m[n % 10]);
	}
}

/* upper-cases the first letter, which is a Cyrillic lower-case letter */
static void
capitalize(char *s)
{
	unsigned char *u = (unsigned char *) s;

	if (u[0] == 0xD0 && u[1] >= 0xB0 && u[1] <= 0xBF)
		u[1] -= 0x20;			/* а..п -> А..П */
	else if (u[0] == 0xD1 && u[1] >= 0x80 && u[1] <= 0x8F)
	{
		u[0] = 0xD0;			/* р..я -> Р..Я */
		u[1] += 0x20;
	}
}

size_t
crm_amount_in_words(int64_t kopecks, char *buf, size_t buflen)
{
	Out			o = {buf, 0, buflen, 0};
	int64_t		rub;
	int			kop;
	int			parts[5];
	int			top = 0;
	char		kbuf[4];

	if (buflen == 0 || kopecks > INT64_C(99999999999999999) || kopecks < -INT64_C(99999999999999999))
		return 0;
	buf[0] = '\0';
	if (kopecks < 0)
	{
		put(&o, "минус");
		kopecks = -kopecks;
	}
	rub = kopecks / 100;
	kop = (int) (kopecks % 100);

	for (int i = 0; i < 5; i++)
	{
		parts[i] = (int) (rub % 1000);
		rub /= 1000;
		if (parts[i] != 0)
			top = i;
	}
	if (kopecks / 100 == 0)
		put(&o, "ноль");
	for (int i = top; i >= 0; i--)
	{
		if (parts[i] == 0)
			continue;
		triple(&o, parts[i], groups[i].feminine);
		if (i > 0)
			put(&o, groups[i].forms[plural(parts[i])]);
	}
	put(&o, groups[0].forms[plural(parts[0])]);
	kbuf[0] = (char) ('0' + kop / 10);
	kbuf[1] = (char) ('0' + kop % 10);
	kbuf[2] = '\0';
	put(&o, kbuf);
	put(&o, kop % 100 >= 11 && kop % 100 <= 14 ? "копеек" :
		kop % 10 == 1 ? "копейка" : (kop % 10 >= 2 && kop % 10 <= 4) ? "копейки" : "копеек");
	if (o.overflow)
		return 0;
	capitalize(buf);
	return o.len;
}
