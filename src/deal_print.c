/*
 * deal_print.c
 *	  Print forms of a deal (R14): the commercial proposal and the invoice
 *	  for payment as PDF, laid out with libharu.  The text of the form comes
 *	  from crm.print_header and crm.print_lines (deal_print.sql), under the
 *	  caller's row-level security; this file only places it on A4 pages.
 *
 * Cyrillic: the DejaVu TrueType fonts are embedded (libharu subsets them
 * and writes a ToUnicode map, so the text can be searched and extracted)
 * and all text is UTF-8.  The font files are settings: crm.pdf_font and
 * crm.pdf_font_bold.
 *
 * libharu allocates with malloc and reports errors through a callback.  The
 * callback only records the error (never longjmps through libharu); the
 * document is freed in PG_FINALLY, so neither a libharu error nor an ERROR
 * raised while rendering (out of memory) leaks it.
 *
 * Also here: crm.amount_in_words, over deal_words.c.
 */
#include "postgres.h"

#include <unistd.h>

#include <hpdf.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "crm.h"
#include "deal_words.h"

PG_FUNCTION_INFO_V1(render_pdf);
PG_FUNCTION_INFO_V1(amount_in_words);

static char *pdf_font = NULL;
static char *pdf_font_bold = NULL;

void
DealPrintInit(void)
{
	DefineCustomStringVariable("crm.pdf_font",
							   "TrueType font file for the text of print forms (R14).",
							   "It must have Cyrillic glyphs; it is embedded into every PDF.",
							   &pdf_font,
							   "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.pdf_font_bold",
							   "TrueType font file for the headings of print forms (R14).",
							   NULL,
							   &pdf_font_bold,
							   "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
							   PGC_SUSET, 0, NULL, NULL, NULL);
}

/* ---- amount in words ---- */

Datum
amount_in_words(PG_FUNCTION_ARGS)
{
	Datum		amount = PG_GETARG_DATUM(0);
	Datum		kop;
	int64		kopecks;
	char		buf[CRM_WORDS_MAX];
	size_t		len;

	kop = DirectFunctionCall2(numeric_mul, amount, NumericGetDatum(int64_to_numeric(100)));
	kop = DirectFunctionCall2(numeric_round, kop, Int32GetDatum(0));
	kopecks = DatumGetInt64(DirectFunctionCall1(numeric_int8, kop));
	len = crm_amount_in_words(kopecks, buf, sizeof buf);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("amount is too large to be written in words"),
				 errdetail("Amounts up to 999 999 999 999 999,99 roubles are written.")));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, len));
}

/* ---- the data of a form ---- */

typedef struct Header
{
	int			n;
	char	  **keys;
	char	  **values;
} Header;

#define LINE_FIELDS 10
typedef struct Lines
{
	int			n;
	char	 *(*rows)[LINE_FIELDS];
} Lines;

static const char *
H(const Header *h, const char *key)
{
	for (int i = 0; i < h->n; i++)
		if (strcmp(h->keys[i], key) == 0)
			return h->values[i] ? h->values[i] : "";
	elog(ERROR, "print form has no field \"%s\"", key);
	return "";
}

static bool
HasH(const Header *h, const char *key)
{
	const char *v = H(h, key);

	return v[0] != '\0';
}

static void
LoadForm(int64 deal, const char *kind, Datum document, bool document_null,
		 Header *hdr, Lines *lines)
{
	MemoryContext upper = CurrentMemoryContext;
	Oid			types[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			rc;
	TupleDesc	desc;

	values[0] = Int64GetDatum(deal);
	values[1] = CStringGetTextDatum(kind);
	values[2] = document;
	nulls[2] = document_null ? 'n' : ' ';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT * FROM crm.print_header($1, $2, $3)", 3, types, values, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the print header failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("deal " INT64_FORMAT " cannot be printed: its counterparty, contact or manager is not visible",
						deal),
				 errdetail("The print form names the client, its contact and the manager; one of them cannot be read.")));
	desc = SPI_tuptable->tupdesc;
	hdr->n = desc->natts;
	hdr->keys = MemoryContextAlloc(upper, sizeof(char *) * hdr->n);
	hdr->values = MemoryContextAlloc(upper, sizeof(char *) * hdr->n);
	for (int i = 0; i < hdr->n; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], desc, i + 1);

		hdr->keys[i] = MemoryContextStrdup(upper, NameStr(TupleDescAttr(desc, i)->attname));
		hdr->values[i] = v ? MemoryContextStrdup(upper, v) : NULL;
	}

	rc = SPI_execute_with_args("SELECT * FROM crm.print_lines($1, $2, $3)", 3, types, values, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "crm.print_lines failed");
	desc = SPI_tuptable->tupdesc;
	if (desc->natts != LINE_FIELDS)
		elog(ERROR, "crm.print_lines returned %d columns, not %d", desc->natts, LINE_FIELDS);
	lines->n = (int) SPI_processed;
	lines->rows = MemoryContextAllocZero(upper, sizeof(*lines->rows) * Max(lines->n, 1));
	for (int r = 0; r < lines->n; r++)
		for (int c = 0; c < LINE_FIELDS; c++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[r], desc, c + 1);

			lines->rows[r][c] = MemoryContextStrdup(upper, v ? v : "");
		}
	SPI_finish();
}

/* ---- layout ---- */

#define PAGE_W		595.0f		/* A4 in points */
#define PAGE_H		842.0f
#define MARGIN		42.0f
#define BOTTOM		56.0f
#define CONTENT_W	(PAGE_W - 2 * MARGIN)
#define MAX_PAGES	200

typedef struct Pdf
{
	HPDF_Doc	doc;
	HPDF_Page	page;
	HPDF_Font	reg;
	HPDF_Font	bold;
	float		y;				/* the top of the next thing to draw */
	int			npages;
	HPDF_Page	pages[MAX_PAGES];
	bool		failed;
	unsigned long err;
	unsigned long detail;
	bool		in_table;
	const char *title;			/* for the page footers */
} Pdf;

static void
PdfError(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
	Pdf		   *p = (Pdf *) user_data;

	/* the end of the output stream is not a failure */
	if (error_no == HPDF_STREAM_EOF)
		return;
	/* only note it: never longjmp out of libharu */
	if (!p->failed)
	{
		p->failed = true;
		p->err = error_no;
		p->detail = detail_no;
	}
}

/* a table column */
typedef struct FormCol
{
	const char *title;
	float		width;
	int			align;			/* 0 left, 1 right, 2 centre */
	int			field;			/* index into a line row */
} FormCol;

static const FormCol cols[] = {
	{"№", 20, 2, 0},
	{"Наименование", 180, 0, 1},
	{"Кол-во", 36, 1, 3},
	{"Ед.", 46, 2, 4},
	{"Цена без НДС, ₽", 66, 1, 5},
	{"НДС", 30, 2, 6},
	{"Сумма без НДС, ₽", 67, 1, 7},
	{"Сумма с НДС, ₽", 70, 1, 9},
};
#define NCOLS lengthof(cols)

static float
Width(Pdf *p, HPDF_Font font, float size, const char *s)
{
	HPDF_Page_SetFontAndSize(p->page, font, size);
	return HPDF_Page_TextWidth(p->page, s);
}

static void
Put(Pdf *p, HPDF_Font font, float size, float x, float baseline, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return;
	HPDF_Page_BeginText(p->page);
	HPDF_Page_SetFontAndSize(p->page, font, size);
	HPDF_Page_TextOut(p->page, x, baseline, s);
	HPDF_Page_EndText(p->page);
}

static void
PutAligned(Pdf *p, HPDF_Font font, float size, float x, float width, int align, float baseline, const char *s)
{
	float		w;

	if (s == NULL || s[0] == '\0')
		return;
	w = Width(p, font, size, s);
	if (align == 1)
		x += width - w;
	else if (align == 2)
		x += (width - w) / 2;
	Put(p, font, size, x, baseline, s);
}

static int
Utf8Len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		return 2;
	if ((c & 0xF0) == 0xE0)
		return 3;
	if ((c & 0xF8) == 0xF0)
		return 4;
	return 1;
}

/*
 * Breaks s into lines no wider than width (at spaces where it can, inside a
 * word where it must; at every newline).  Returns the number of lines; when
 * out is not NULL, the lines are stored there (palloc'd).
 */
static int
Breaks(Pdf *p, HPDF_Font font, float size, float width, const char *s, char ***out)
{
	int			n = 0;
	int			cap = 8;
	char	  **lines = out ? palloc(sizeof(char *) * cap) : NULL;
	const char *rest = s ? s : "";

	HPDF_Page_SetFontAndSize(p->page, font, size);
	do
	{
		const char *nl = strchr(rest, '\n');
		size_t		plen = nl ? (size_t) (nl - rest) : strlen(rest);
		char	   *para = pnstrdup(rest, plen);
		const char *q = para;

		rest = nl ? nl + 1 : NULL;
		do
		{
			HPDF_REAL	real;
			HPDF_UINT	take;
			size_t		qlen = strlen(q);
			size_t		l;

			take = HPDF_Font_MeasureText(font, (const HPDF_BYTE *) q, (HPDF_UINT) qlen, width, size,
										 0, 0, HPDF_TRUE, &real);
			if (take == 0)
				take = HPDF_Font_MeasureText(font, (const HPDF_BYTE *) q, (HPDF_UINT) qlen, width, size,
											 0, 0, HPDF_FALSE, &real);
			if (take == 0 && qlen > 0)
				take = (HPDF_UINT) Min((size_t) Utf8Len((unsigned char) q[0]), qlen);
			/* never end inside a UTF-8 sequence */
			while (take < qlen && ((unsigned char) q[take] & 0xC0) == 0x80)
				take++;
			l = take;
			while (l > 0 && q[l - 1] == ' ')
				l--;
			if (out)
			{
				if (n == cap)
				{
					cap *= 2;
					lines = repalloc(lines, sizeof(char *) * cap);
				}
				lines[n] = pnstrdup(q, l);
			}
			n++;
			q += take;
			while (*q == ' ')
				q++;
		} while (*q != '\0');
	} while (rest != NULL);
	if (out)
		*out = lines;
	return n;
}

static void Footer(Pdf *p);

static void
NewPage(Pdf *p)
{
	if (p->npages >= MAX_PAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the print form would have more than %d pages", MAX_PAGES)));
	p->page = HPDF_AddPage(p->doc);
	HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	p->pages[p->npages++] = p->page;
	p->y = PAGE_H - MARGIN;
}

/* a paragraph: label in bold (optional), then the text, wrapped */
static void Need(Pdf *p, float h);

static void
Para(Pdf *p, float size, const char *label, const char *text)
{
	char	   *full;
	char	  **lines;
	int			n;
	float		lead = size * 1.35f;

	if ((text == NULL || text[0] == '\0') && label == NULL)
		return;
	full = label ? psprintf("%s %s", label, text ? text : "") : pstrdup(text);
	/* a bold label is a little wider than the regular text it was measured as */
	n = Breaks(p, p->reg, size, label ? CONTENT_W - 14 : CONTENT_W, full, &lines);
	for (int i = 0; i < n; i++)
	{
		Need(p, lead);
		if (i == 0 && label)
		{
			float		lw;

			Put(p, p->bold, size, MARGIN, p->y - size, label);
			lw = Width(p, p->bold, size, label) + Width(p, p->reg, size, " ");
			/* the rest of the first line after the label, re-broken in the regular font */
			if (strlen(lines[0]) > strlen(label))
				Put(p, p->reg, size, MARGIN + lw, p->y - size, lines[0] + strlen(label) + 1);
		}
		else
			Put(p, p->reg, size, MARGIN, p->y - size, lines[i]);
		p->y -= lead;
	}
}

static void
Heading(Pdf *p, float size, const char *text)
{
	char	  **lines;
	int			n = Breaks(p, p->bold, size, CONTENT_W, text, &lines);

	for (int i = 0; i < n; i++)
	{
		Need(p, size * 1.4f + (i == 0 ? 4 : 0));
		if (i == 0)
			p->y -= 4;
		Put(p, p->bold, size, MARGIN, p->y - size, lines[i]);
		p->y -= size * 1.4f;
	}
}

static void
Rule(Pdf *p, float width)
{
	HPDF_Page_SetLineWidth(p->page, width);
	HPDF_Page_MoveTo(p->page, MARGIN, p->y);
	HPDF_Page_LineTo(p->page, PAGE_W - MARGIN, p->y);
	HPDF_Page_Stroke(p->page);
}

static void
Box(Pdf *p, float x, float top, float w, float h)
{
	HPDF_Page_SetLineWidth(p->page, 0.5f);
	HPDF_Page_Rectangle(p->page, x, top - h, w, h);
	HPDF_Page_Stroke(p->page);
}

#define T_SIZE 8.0f
#define T_LEAD 10.0f
#define T_PAD 3.0f

static void
TableHeader(Pdf *p)
{
	float		h = 0;
	float		x = MARGIN;

	for (size_t c = 0; c < NCOLS; c++)
		h = Max(h, Breaks(p, p->bold, T_SIZE, cols[c].width - 2 * T_PAD, cols[c].title, NULL) * T_LEAD);
	h += 2 * T_PAD;
	HPDF_Page_SetGrayFill(p->page, 0.92f);
	HPDF_Page_Rectangle(p->page, MARGIN, p->y - h, CONTENT_W, h);
	HPDF_Page_Fill(p->page);
	HPDF_Page_SetGrayFill(p->page, 0);
	for (size_t c = 0; c < NCOLS; c++)
	{
		char	  **lines;
		int			n = Breaks(p, p->bold, T_SIZE, cols[c].width - 2 * T_PAD, cols[c].title, &lines);

		for (int i = 0; i < n; i++)
			PutAligned(p, p->bold, T_SIZE, x + T_PAD, cols[c].width - 2 * T_PAD, 2,
					   p->y - T_PAD - T_SIZE - i * T_LEAD, lines[i]);
		Box(p, x, p->y, cols[c].width, h);
		x += cols[c].width;
	}
	p->y -= h;
}

static void
Need(Pdf *p, float h)
{
	if (p->y - h >= BOTTOM)
		return;
	NewPage(p);
	if (p->in_table)
		TableHeader(p);
}

static void
Table(Pdf *p, const Lines *lines)
{
	p->in_table = true;
	Need(p, 40);
	TableHeader(p);
	for (int r = 0; r < lines->n; r++)
	{
		char	  **name;
		char	  **terms = NULL;
		int			nn,
					nt = 0;
		float		h,
					x = MARGIN;
		const char *delivery = lines->rows[r][2];

		nn = Breaks(p, p->reg, T_SIZE, cols[1].width - 2 * T_PAD, lines->rows[r][1], &name);
		if (delivery[0] != '\0')
			nt = Breaks(p, p->reg, T_SIZE - 1, cols[1].width - 2 * T_PAD,
						psprintf("Поставка: %s", delivery), &terms);
		h = (nn + nt) * T_LEAD + 2 * T_PAD;
		Need(p, h);
		for (size_t c = 0; c < NCOLS; c++)
		{
			if (c == 1)
			{
				for (int i = 0; i < nn; i++)
					Put(p, p->reg, T_SIZE, x + T_PAD, p->y - T_PAD - T_SIZE - i * T_LEAD, name[i]);
				HPDF_Page_SetGrayFill(p->page, 0.35f);
				for (int i = 0; i < nt; i++)
					Put(p, p->reg, T_SIZE - 1, x + T_PAD, p->y - T_PAD - T_SIZE - (nn + i) * T_LEAD, terms[i]);
				HPDF_Page_SetGrayFill(p->page, 0);
			}
			else
				PutAligned(p, p->reg, T_SIZE, x + T_PAD, cols[c].width - 2 * T_PAD, cols[c].align,
						   p->y - T_PAD - T_SIZE, lines->rows[r][cols[c].field]);
			Box(p, x, p->y, cols[c].width, h);
			x += cols[c].width;
		}
		p->y -= h;
	}
	p->in_table = false;
}

/* label: value, right-aligned under the table */
static void
Total(Pdf *p, const char *label, const char *value, bool strong)
{
	HPDF_Font	f = strong ? p->bold : p->reg;
	float		size = 9.5f;

	Need(p, size * 1.5f);
	PutAligned(p, f, size, MARGIN, CONTENT_W - 120, 1, p->y - size - 2, label);
	PutAligned(p, f, size, PAGE_W - MARGIN - 115, 115, 1, p->y - size - 2, value);
	p->y -= size * 1.5f;
}

static void
Footer(Pdf *p)
{
	for (int i = 0; i < p->npages; i++)
	{
		char	   *s = psprintf("%s · страница %d из %d", p->title, i + 1, p->npages);

		p->page = p->pages[i];
		HPDF_Page_SetGrayFill(p->page, 0.45f);
		PutAligned(p, p->reg, 7.5f, MARGIN, CONTENT_W, 1, BOTTOM - 24, s);
		HPDF_Page_SetGrayFill(p->page, 0);
	}
}

static char *
JoinParts(const char *sep, int n, const char *parts[])
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < n; i++)
	{
		if (parts[i] == NULL || parts[i][0] == '\0')
			continue;
		if (b.len > 0)
			appendStringInfoString(&b, sep);
		appendStringInfoString(&b, parts[i]);
	}
	return b.data;
}

static char *
WithPrefix(const char *prefix, const char *v)
{
	return (v && v[0]) ? psprintf("%s %s", prefix, v) : NULL;
}

static void
CompanyHeader(Pdf *p, const Header *h)
{
	const char *ids[] = {WithPrefix("ИНН", H(h, "company_inn")), WithPrefix("КПП", H(h, "company_kpp")),
	WithPrefix("ОГРН", H(h, "company_ogrn"))};
	const char *contacts[] = {H(h, "company_address"), WithPrefix("тел.", H(h, "company_phone")),
		WithPrefix("e-mail:", H(h, "company_email")), H(h, "company_website")};

	Heading(p, 13, H(h, "company_legal_name"));
	Para(p, 8.5f, NULL, JoinParts(", ", 3, ids));
	Para(p, 8.5f, NULL, JoinParts("; ", 4, contacts));
	p->y -= 3;
	Rule(p, 1.2f);
	p->y -= 8;
}

static void
Parties(Pdf *p, const Header *h, const char *label)
{
	const char *client[] = {H(h, "client_legal_name"), WithPrefix("ИНН", H(h, "client_inn")),
	WithPrefix("КПП", H(h, "client_kpp")), H(h, "client_address")};
	const char *contact[] = {H(h, "contact_name"), H(h, "contact_phone"), H(h, "contact_email")};

	Para(p, 9.5f, label, JoinParts(", ", 4, client));
	if (HasH(h, "contact_name"))
		Para(p, 9.5f, "Контактное лицо:", JoinParts(", ", 3, contact));
}

static void
Totals(Pdf *p, const Header *h)
{
	p->y -= 4;
	Total(p, "Итого без НДС:", H(h, "net_total"), false);
	Total(p, "НДС:", H(h, "vat_total"), false);
	Total(p, "Всего с НДС, ₽:", H(h, "grand_total"), true);
	p->y -= 4;
	Para(p, 9.5f, NULL, psprintf("Всего наименований %s, на сумму %s руб.", H(h, "line_count"), H(h, "grand_total")));
	Para(p, 9.5f, "Сумма прописью:", H(h, "total_words"));
}

static void
ProposalBody(Pdf *p, const Header *h, const Lines *lines)
{
	const char *title = strcmp(H(h, "draft"), "t") == 0
		? psprintf("Коммерческое предложение (проект) от %s", H(h, "issued_on"))
		: psprintf("Коммерческое предложение № %s от %s", H(h, "number"), H(h, "issued_on"));
	const char *mgr[] = {H(h, "manager_name"), WithPrefix("тел.", H(h, "manager_phone")),
	WithPrefix("e-mail:", H(h, "manager_email"))};

	p->title = title;
	CompanyHeader(p, h);
	Heading(p, 14, title);
	p->y -= 4;
	Parties(p, h, "Кому:");
	p->y -= 6;
	Heading(p, 10.5f, "Потребность клиента");
	Para(p, 9.5f, NULL, H(h, "needs"));
	if (HasH(h, "application_area") || HasH(h, "equipment_type") || HasH(h, "processed_materials"))
	{
		Heading(p, 10.5f, "Параметры");
		if (HasH(h, "application_area"))
			Para(p, 9.5f, "Область применения:", H(h, "application_area"));
		if (HasH(h, "equipment_type"))
			Para(p, 9.5f, "Тип оборудования:", H(h, "equipment_type"));
		if (HasH(h, "processed_materials"))
			Para(p, 9.5f, "Обрабатываемые материалы:", H(h, "processed_materials"));
	}
	Heading(p, 10.5f, "Предлагаемое оборудование");
	p->y -= 2;
	Table(p, lines);
	Totals(p, h);
	Heading(p, 10.5f, "Условия");
	Para(p, 9.5f, "Оплата:", HasH(h, "payment_terms") ? H(h, "payment_terms") : "по согласованию");
	Para(p, 9.5f, "Поставка:", HasH(h, "delivery_terms") ? H(h, "delivery_terms") : "по согласованию");
	Para(p, 9.5f, "Срок действия предложения:", psprintf("до %s", H(h, "valid_until")));
	p->y -= 6;
	Para(p, 9.5f, "Ответственный менеджер:", JoinParts(", ", 3, mgr));
}

/* the bank block of a Russian invoice for payment */
static void
BankBlock(Pdf *p, const Header *h)
{
	float		w1 = 290,
				w2 = 48,
				w3 = CONTENT_W - w1 - w2;
	float		top = p->y;
	float		r1 = 30,
				r2 = 44;
	float		x2 = MARGIN + w1,
				x3 = x2 + w2;

	Need(p, r1 + r2 + 10);
	top = p->y;
	HPDF_Page_SetLineWidth(p->page, 0.5f);
	HPDF_Page_Rectangle(p->page, MARGIN, top - r1 - r2, CONTENT_W, r1 + r2);
	HPDF_Page_MoveTo(p->page, MARGIN, top - r1);
	HPDF_Page_LineTo(p->page, x3, top - r1);
	HPDF_Page_MoveTo(p->page, x2, top);
	HPDF_Page_LineTo(p->page, x2, top - r1 - r2);
	HPDF_Page_MoveTo(p->page, x3, top);
	HPDF_Page_LineTo(p->page, x3, top - r1 - r2);
	HPDF_Page_MoveTo(p->page, MARGIN, top - r1 - 14);
	HPDF_Page_LineTo(p->page, x2, top - r1 - 14);
	HPDF_Page_MoveTo(p->page, MARGIN + w1 / 2, top - r1);
	HPDF_Page_LineTo(p->page, MARGIN + w1 / 2, top - r1 - 14);
	HPDF_Page_MoveTo(p->page, x2, top - 15);
	HPDF_Page_LineTo(p->page, x3 + w3, top - 15);
	HPDF_Page_Stroke(p->page);

	Put(p, p->reg, 9, MARGIN + 3, top - 11, H(h, "company_bank_name"));
	Put(p, p->reg, 7, MARGIN + 3, top - r1 + 4, "Банк получателя");
	Put(p, p->reg, 9, x2 + 3, top - 11, "БИК");
	Put(p, p->reg, 9, x3 + 3, top - 11, H(h, "company_bic"));
	Put(p, p->reg, 9, x2 + 3, top - 26, "Сч. №");
	Put(p, p->reg, 9, x3 + 3, top - 26, H(h, "company_corr_account"));
	Put(p, p->reg, 9, MARGIN + 3, top - r1 - 10, psprintf("ИНН %s", H(h, "company_inn")));
	Put(p, p->reg, 9, MARGIN + w1 / 2 + 3, top - r1 - 10, HasH(h, "company_kpp") ? psprintf("КПП %s", H(h, "company_kpp")) : "");
	Put(p, p->reg, 9, x2 + 3, top - r1 - 10, "Сч. №");
	Put(p, p->reg, 9, x3 + 3, top - r1 - 10, H(h, "company_account"));
	Put(p, p->reg, 9, MARGIN + 3, top - r1 - 26, H(h, "company_legal_name"));
	Put(p, p->reg, 7, MARGIN + 3, top - r1 - r2 + 4, "Получатель");
	p->y = top - r1 - r2 - 10;
}

static void
InvoiceBody(Pdf *p, const Header *h, const Lines *lines)
{
	const char *title = psprintf("Счёт на оплату № %s от %s", H(h, "number"), H(h, "issued_on_long"));
	const char *supplier[] = {H(h, "company_legal_name"), WithPrefix("ИНН", H(h, "company_inn")),
		WithPrefix("КПП", H(h, "company_kpp")), H(h, "company_address"),
	WithPrefix("тел.", H(h, "company_phone"))};

	p->title = psprintf("Счёт на оплату № %s", H(h, "number"));
	CompanyHeader(p, h);
	BankBlock(p, h);
	Heading(p, 14, title);
	Rule(p, 1.2f);
	p->y -= 6;
	Para(p, 9.5f, "Поставщик:", JoinParts(", ", 5, supplier));
	Parties(p, h, "Покупатель:");
	if (HasH(h, "basis"))
		Para(p, 9.5f, "Основание:", H(h, "basis"));
	p->y -= 6;
	Table(p, lines);
	Totals(p, h);
	if (HasH(h, "payment_terms"))
		Para(p, 9.5f, "Условия оплаты:", H(h, "payment_terms"));
	p->y -= 24;
	Need(p, 30);
	Put(p, p->bold, 9.5f, MARGIN, p->y, "Руководитель");
	Put(p, p->reg, 9.5f, MARGIN + 82, p->y, psprintf("____________ %s", H(h, "company_director")));
	Put(p, p->bold, 9.5f, MARGIN + 280, p->y, "Бухгалтер");
	Put(p, p->reg, 9.5f, MARGIN + 340, p->y, psprintf("____________ %s", H(h, "company_accountant")));
	p->y -= 20;
	Para(p, 9.5f, "Ответственный менеджер:", H(h, "manager_name"));
}

/*
 * libharu 2.3.0 loses a glyph that is first used as a component of a
 * composite glyph: with DejaVu, "Счёт" drawn before any plain "е" leaves
 * every later "е" blank (seen in the rendered page; the extracted text is
 * still right, so only looking at the page shows it).  Using the base
 * letters and combining marks of the composites once, before any text is
 * drawn, registers them properly.
 */
static const char font_bases[] =
	"еЕиИгГкКуУіІьЬзЗ"
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZıȷ"
	"\xcc\x80\xcc\x81\xcc\x82\xcc\x83\xcc\x84\xcc\x86\xcc\x87\xcc\x88\xcc\x8a\xcc\x8b\xcc\x8c\xcc\xa7\xcc\xa8";

static void
PrimeFont(HPDF_Font font)
{
	HPDF_Font_TextWidth(font, (const HPDF_BYTE *) font_bases, (HPDF_UINT) strlen(font_bases));
}

static void
FontReadable(const char *path, const char *setting)
{
	if (path == NULL || access(path, R_OK) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("font file \"%s\" cannot be read", path ? path : ""),
				 errhint("Install fonts-dejavu-core or point %s at a TrueType font with Cyrillic glyphs.", setting)));
}

Datum
render_pdf(PG_FUNCTION_ARGS)
{
	int64		deal = PG_GETARG_INT64(0);
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Header		hdr;
	Lines		lines;
	Pdf		   *p;
	bytea	   *volatile result = NULL;
	HPDF_Doc volatile doc = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (strcmp(kind, "proposal") != 0 && strcmp(kind, "invoice") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("there is no print form for a %s", kind)));
	FontReadable(pdf_font, "crm.pdf_font");
	FontReadable(pdf_font_bold, "crm.pdf_font_bold");

	/* everything the form shows, read first */
	LoadForm(deal, kind, PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2), &hdr, &lines);

	p = palloc0(sizeof(Pdf));
	PG_TRY();
	{
		const char *fr,
				   *fb;
		HPDF_UINT32 size;

		doc = HPDF_New(PdfError, p);
		if (doc == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not start a PDF document")));
		p->doc = doc;
		HPDF_SetCompressionMode(doc, HPDF_COMP_ALL);
		HPDF_UseUTFEncodings(doc);
		HPDF_SetCurrentEncoder(doc, "UTF-8");
		HPDF_SetInfoAttr(doc, HPDF_INFO_CREATOR, "crm (PostgreSQL extension)");
		fr = HPDF_LoadTTFontFromFile(doc, pdf_font, HPDF_TRUE);
		fb = HPDF_LoadTTFontFromFile(doc, pdf_font_bold, HPDF_TRUE);
		if (!p->failed)
		{
			p->reg = HPDF_GetFont(doc, fr, "UTF-8");
			p->bold = HPDF_GetFont(doc, fb, "UTF-8");
		}
		if (!p->failed)
		{
			PrimeFont(p->reg);
			PrimeFont(p->bold);
		}
		if (!p->failed)
		{
			NewPage(p);
			if (strcmp(kind, "proposal") == 0)
				ProposalBody(p, &hdr, &lines);
			else
				InvoiceBody(p, &hdr, &lines);
			Footer(p);
		}
		if (!p->failed && HPDF_SaveToStream(doc) == HPDF_OK)
		{
			size = HPDF_GetStreamSize(doc);
			result = (bytea *) palloc(VARHDRSZ + size);
			SET_VARSIZE(result, VARHDRSZ + size);
			HPDF_ResetStream(doc);
			{
				HPDF_UINT32 got = 0;

				while (got < size && !p->failed)
				{
					HPDF_UINT32 len = size - got;
					HPDF_STATUS st = HPDF_ReadFromStream(doc, (HPDF_BYTE *) VARDATA(result) + got, &len);

					got += len;
					if (st == HPDF_STREAM_EOF || len == 0)
						break;
				}
				if (got != size)
					p->failed = true;
			}
		}
	}
	PG_FINALLY();
	{
		if (doc != NULL)
			HPDF_Free(doc);
	}
	PG_END_TRY();

	if (p->failed || result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not lay out the %s as PDF", kind),
				 errdetail("libharu error 0x%04lX (detail %lu).", p->err, p->detail)));
	PG_RETURN_BYTEA_P(result);
}
