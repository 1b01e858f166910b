/*
 * intake_mime.c
 *	  Reads a raw RFC 5322 message with GMime 3 (R5): headers with RFC 2047
 *	  decoded, the body as UTF-8 text (multipart walked, quoted-printable and
 *	  base64 decoded, the declared charset converted, an HTML-only body
 *	  reduced to text), the attachments listed.  The result is copied into
 *	  palloc'd memory (MailMessage, intake.h).
 *
 * GMime and glib allocate with malloc and know nothing of PostgreSQL's error
 * handling.  Every GMime object, stream and iconv descriptor lives in a
 * MimeCtx that PG_FINALLY releases, so an error (an unknown charset, an
 * interrupt, out of memory) never leaks them; no GMime callback calls
 * PostgreSQL.  GMime and glib export no symbol that the postgres executable
 * also exports (checked with nm -D --defined-only, see test/integration/
 * intake_symbols.sh), so they are linked dynamically.
 */
#include "postgres.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>

#include <gmime/gmime.h>

#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/timestamp.h"

#include "intake.h"
#include "intake_text.h"

/* the charsets tried for text that does not say (or lies about) its charset */
#define FALLBACK_CHARSET "windows-1251"

#define MAX_WARNINGS 16
#define MAX_NESTING 32

typedef struct MimeCtx
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeParserOptions *options;
	GMimeMessage *message;
	GMimeStream *part_stream;	/* a part's decoded content being read */
	iconv_t		cd;				/* (iconv_t) -1 when none is open */
	/* filled by the parser's warning callback (no palloc there) */
	int			nwarnings;
	int			warnings[MAX_WARNINGS];
	/* the body candidates found by the walk (borrowed GMime objects) */
	GMimePart  *plain;
	GMimePart  *html;
	GMimeMessagePart *forwarded;
	const char *prologue;		/* of a multipart without parts */
} MimeCtx;

static bool gmime_ready = false;

static void
mime_init(void)
{
	if (!gmime_ready)
	{
		g_mime_init();
		gmime_ready = true;
	}
}

static void
warning_cb(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer user_data)
{
	MimeCtx    *ctx = (MimeCtx *) user_data;

	if (ctx->nwarnings < MAX_WARNINGS)
		ctx->warnings[ctx->nwarnings++] = (int) code;
}

static const char *
warning_text(int code)
{
	switch (code)
	{
		case GMIME_WARN_DUPLICATED_HEADER:
			return "duplicated header";
		case GMIME_WARN_DUPLICATED_PARAMETER:
			return "duplicated header parameter";
		case GMIME_WARN_UNENCODED_8BIT_HEADER:
			return "unencoded 8-bit header";
		case GMIME_WARN_INVALID_CONTENT_TYPE:
			return "invalid content type";
		case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
			return "invalid RFC 2047 header value";
		case GMIME_WARN_MALFORMED_MULTIPART:
			return "malformed multipart";
		case GMIME_WARN_TRUNCATED_MESSAGE:
			return "truncated message";
		case GMIME_WARN_MALFORMED_MESSAGE:
			return "malformed message";
		case GMIME_CRIT_INVALID_HEADER_NAME:
			return "invalid header name";
		case GMIME_CRIT_CONFLICTING_HEADER:
			return "conflicting header";
		case GMIME_CRIT_CONFLICTING_PARAMETER:
			return "conflicting header parameter";
		case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
			return "multipart without boundary";
		case GMIME_WARN_INVALID_PARAMETER:
			return "invalid header parameter";
		case GMIME_WARN_INVALID_ADDRESS_LIST:
			return "invalid address list";
		case GMIME_CRIT_NESTING_OVERFLOW:
			return "MIME nesting too deep";
		case GMIME_WARN_PART_WITHOUT_CONTENT:
			return "part without content";
		case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
			return "part without headers or content";
	}
	return "MIME damage";
}

static char *
pstrdup_or_null(const char *s)
{
	return (s != NULL && s[0] != '\0') ? pstrdup(s) : NULL;
}

/* NUL bytes cannot be stored in text: they are dropped */
static char *
strip_nul(char *s, size_t *len)
{
	size_t		i,
				j = 0;

	for (i = 0; i < *len; i++)
		if (s[i] != '\0')
			s[j++] = s[i];
	s[j] = '\0';
	*len = j;
	return s;
}

/* CRLF and lone CR become LF */
static void
unix_newlines(char *s, size_t *len)
{
	size_t		i,
				j = 0;

	for (i = 0; i < *len; i++)
	{
		if (s[i] == '\r')
		{
			s[j++] = '\n';
			if (i + 1 < *len && s[i + 1] == '\n')
				i++;
		}
		else
			s[j++] = s[i];
	}
	s[j] = '\0';
	*len = j;
}

/* the first mailbox of an address list (descending into groups) */
static InternetAddressMailbox *
first_mailbox(InternetAddressList *list, int depth)
{
	int			i,
				n;

	if (list == NULL || depth > 4)
		return NULL;
	n = internet_address_list_length(list);
	for (i = 0; i < n; i++)
	{
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			return INTERNET_ADDRESS_MAILBOX(ia);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
		{
			InternetAddressMailbox *mb =
				first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), depth + 1);

			if (mb != NULL)
				return mb;
		}
	}
	return NULL;
}

static void
copy_mailbox(InternetAddressList *list, char **name, char **addr)
{
	InternetAddressMailbox *mb = first_mailbox(list, 0);

	*name = NULL;
	*addr = NULL;
	if (mb == NULL)
		return;
	*addr = pstrdup_or_null(internet_address_mailbox_get_addr(mb));
	*name = pstrdup_or_null(internet_address_get_name(INTERNET_ADDRESS(mb)));
}

static char *
copy_address_list(InternetAddressList *list)
{
	StringInfoData buf;
	int			i,
				n;

	if (list == NULL || (n = internet_address_list_length(list)) == 0)
		return NULL;
	initStringInfo(&buf);
	for (i = 0; i < n && i < 50; i++)
	{
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
	}
	return buf.len > 0 ? buf.data : NULL;
}

/* decodes a part's content (transfer encoding undone) into a palloc'd buffer */
static char *
part_bytes(MimeCtx *ctx, GMimePart *part, size_t *len)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GByteArray *ba;
	char	   *out;

	*len = 0;
	if (content == NULL)
		return NULL;
	ctx->part_stream = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, ctx->part_stream);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ctx->part_stream));
	out = palloc(ba->len + 1);
	memcpy(out, ba->data, ba->len);
	out[ba->len] = '\0';
	*len = ba->len;
	g_object_unref(ctx->part_stream);
	ctx->part_stream = NULL;
	return out;
}

/* the decoded size of a part, without keeping it */
static int64
part_size(MimeCtx *ctx, GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	ssize_t		n;

	if (content == NULL)
		return 0;
	ctx->part_stream = g_mime_stream_null_new();
	n = g_mime_data_wrapper_write_to_stream(content, ctx->part_stream);
	g_object_unref(ctx->part_stream);
	ctx->part_stream = NULL;
	return n < 0 ? 0 : (int64) n;
}

/* a charset name as iconv takes it, without option suffixes: [A-Za-z0-9._:+-] */
static bool
charset_name_ok(const char *cs)
{
	size_t		n = strlen(cs);
	size_t		i;

	if (n == 0 || n > 40)
		return false;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char) cs[i]) || strchr("._:+-", cs[i]) != NULL))
			return false;
	return true;
}

/*
 * Converts len bytes in charset cs to UTF-8 with iconv; a byte the charset
 * does not define becomes U+FFFD.  Returns false when iconv does not know
 * the charset.
 */
static bool
convert_to_utf8(MimeCtx *ctx, const char *in, size_t len, const char *cs, StringInfo out)
{
	char	   *src = (char *) in;
	size_t		left = len;

	if (!charset_name_ok(cs))
		return false;
	ctx->cd = iconv_open("UTF-8", g_mime_charset_iconv_name(cs));
	if (ctx->cd == (iconv_t) -1)
		return false;
	while (left > 0)
	{
		char		chunk[8192];
		char	   *dst = chunk;
		size_t		room = sizeof(chunk);
		size_t		r = iconv(ctx->cd, &src, &left, &dst, &room);
		int			err = errno;

		appendBinaryStringInfo(out, chunk, dst - chunk);
		if (r == (size_t) -1)
		{
			if (err == E2BIG)
				continue;
			/* EILSEQ: an undefined byte; EINVAL: a truncated sequence */
			appendStringInfoString(out, "\xEF\xBF\xBD");
			src++;
			left--;
		}
		CHECK_FOR_INTERRUPTS();
	}
	iconv_close(ctx->cd);
	ctx->cd = (iconv_t) -1;
	return true;
}

static bool
utf8_ok(const char *s, size_t len)
{
	return pg_verify_mbstr(PG_UTF8, s, (int) len, true);
}

/*
 * The text of a text/ part as UTF-8.  Text that declares no charset (or
 * US-ASCII, or UTF-8) but is not valid UTF-8 is read as windows-1251, the
 * usual charset of Russian mail clients that forget to say so; a charset
 * that iconv does not know is an error (22023), after the cleanup.
 */
static char *
part_text(MimeCtx *ctx, GMimePart *part, MailMessage *m, size_t *outlen)
{
	size_t		len;
	char	   *raw = part_bytes(ctx, part, &len);
	const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	StringInfoData buf;
	bool		declared_utf8;

	*outlen = 0;
	if (raw == NULL)
		return NULL;
	strip_nul(raw, &len);
	if (cs != NULL)
		m->charset = pstrdup(cs);
	declared_utf8 = (cs == NULL || pg_strcasecmp(cs, "us-ascii") == 0 || pg_strcasecmp(cs, "ascii") == 0 ||
					 pg_strcasecmp(g_mime_charset_iconv_name(cs), "utf-8") == 0 ||
					 pg_strcasecmp(cs, "utf8") == 0);
	if (declared_utf8)
	{
		if (utf8_ok(raw, len))
		{
			unix_newlines(raw, &len);
			*outlen = len;
			return raw;
		}
		initStringInfo(&buf);
		convert_to_utf8(ctx, raw, len, FALLBACK_CHARSET, &buf);
		m->notes = lappend(m->notes,
						   psprintf("the text is not valid %s: read as %s", cs ? cs : "UTF-8", FALLBACK_CHARSET));
	}
	else
	{
		initStringInfo(&buf);
		if (!convert_to_utf8(ctx, raw, len, cs, &buf))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("e-mail body is in an unknown charset \"%s\"", cs),
					 errdetail("The text part declares a charset that cannot be converted to UTF-8."),
					 errhint("Mail in UTF-8, windows-1251, KOI8-R, ISO-8859-x and the other charsets iconv knows is read.")));
	}
	pfree(raw);
	len = buf.len;
	strip_nul(buf.data, &len);
	unix_newlines(buf.data, &len);
	*outlen = len;
	return buf.data;
}

/*
 * Walks the MIME tree: the first text/plain and text/html parts that are not
 * attachments are the body candidates; every other leaf is an attachment.
 */
static void
walk(MimeCtx *ctx, GMimeObject *obj, MailMessage *m, int depth)
{
	CHECK_FOR_INTERRUPTS();
	if (obj == NULL || depth > MAX_NESTING)
		return;
	if (GMIME_IS_MULTIPART(obj))
	{
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int			i,
					n = g_mime_multipart_get_count(mp);

		if (n == 0 && ctx->prologue == NULL)
			ctx->prologue = g_mime_multipart_get_prologue(mp);
		/* signed / encrypted: only the first part is content */
		if (GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj))
			n = Min(n, 1);
		for (i = 0; i < n; i++)
			walk(ctx, g_mime_multipart_get_part(mp, i), m, depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj))
	{
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		MailAttachment *a = palloc0(sizeof(MailAttachment));

		a->content_type = pstrdup("message/rfc822");
		a->filename = pstrdup_or_null(inner ? g_mime_message_get_subject(inner) : NULL);
		if (inner != NULL)
		{
			ssize_t		n;

			ctx->part_stream = g_mime_stream_null_new();
			n = g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, ctx->part_stream);
			g_object_unref(ctx->part_stream);
			ctx->part_stream = NULL;
			a->size = n < 0 ? 0 : (int64) n;
		}
		m->attachments = lappend(m->attachments, a);
		if (ctx->forwarded == NULL)
			ctx->forwarded = GMIME_MESSAGE_PART(obj);
		return;
	}
	if (GMIME_IS_PART(obj))
	{
		GMimePart  *part = GMIME_PART(obj);
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		bool		attachment = g_mime_part_is_attachment(part);

		if (!attachment && ct != NULL && g_mime_content_type_is_type(ct, "text", "plain"))
		{
			if (ctx->plain == NULL)
			{
				ctx->plain = part;
				return;
			}
		}
		else if (!attachment && ct != NULL && g_mime_content_type_is_type(ct, "text", "html"))
		{
			if (ctx->html == NULL)
			{
				ctx->html = part;
				return;
			}
		}
		{
			MailAttachment *a = palloc0(sizeof(MailAttachment));
			char	   *mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;

			a->content_type = pstrdup(mt ? mt : "application/octet-stream");
			if (mt)
				g_free(mt);
			a->filename = pstrdup_or_null(g_mime_part_get_filename(part));
			a->size = part_size(ctx, part);
			m->attachments = lappend(m->attachments, a);
		}
	}
}

/* the body text from the candidates: plain text first, else HTML reduced */
static void
read_body(MimeCtx *ctx, MailMessage *m)
{
	size_t		len = 0;
	char	   *text = NULL;
	size_t		k;

	if (ctx->plain != NULL)
	{
		text = part_text(ctx, ctx->plain, m, &len);
		for (k = 0; k < len; k++)
			if (!isspace((unsigned char) text[k]))
				break;
		if (k == len)
			text = NULL;		/* an empty plain part next to an HTML one */
	}
	if (text == NULL && ctx->html != NULL)
	{
		size_t		hlen;
		char	   *html = part_text(ctx, ctx->html, m, &hlen);

		if (html != NULL)
		{
			text = palloc(hlen + 64);
			len = crm_html_to_text(html, hlen, text, hlen + 64);
			m->text_from_html = true;
			pfree(html);
		}
	}
	if (text == NULL && ctx->prologue != NULL && ctx->prologue[0] != '\0')
	{
		/* a multipart without (findable) parts: its preamble is all there is */
		StringInfoData buf;

		len = strlen(ctx->prologue);
		if (utf8_ok(ctx->prologue, len))
			text = pnstrdup(ctx->prologue, len);
		else
		{
			initStringInfo(&buf);
			convert_to_utf8(ctx, ctx->prologue, len, FALLBACK_CHARSET, &buf);
			text = buf.data;
			len = buf.len;
		}
		unix_newlines(text, &len);
		m->notes = lappend(m->notes, pstrdup("no MIME part found: the text before the first boundary is read"));
	}
	m->text = text ? text : pstrdup("");
	(void) len;
}

/*
 * Was the message sent by a machine rather than a person?  RFC 3834
 * Auto-Submitted (anything but "no"), Precedence bulk / junk / list /
 * auto_reply, the X-Autoreply family, a delivery or disposition report
 * (multipart/report), or MAILER-DAEMON / postmaster as the sender.
 * Returns the reason (palloc'd) or NULL.
 */
static char *
automatic_reason(GMimeMessage *msg, const char *from)
{
	GMimeObject *obj = GMIME_OBJECT(msg);
	const char *h;
	GMimeObject *top;

	h = g_mime_object_get_header(obj, "Auto-Submitted");
	if (h != NULL)
	{
		while (*h == ' ' || *h == '\t')
			h++;
		if (pg_strncasecmp(h, "no", 2) != 0 || isalnum((unsigned char) h[2]) || h[2] == '-')
			return psprintf("Auto-Submitted: %.40s", h);
	}
	h = g_mime_object_get_header(obj, "Precedence");
	if (h != NULL)
	{
		while (*h == ' ' || *h == '\t')
			h++;
		if (pg_strncasecmp(h, "bulk", 4) == 0 || pg_strncasecmp(h, "junk", 4) == 0 ||
			pg_strncasecmp(h, "list", 4) == 0 || pg_strncasecmp(h, "auto_reply", 10) == 0)
			return psprintf("Precedence: %.20s", h);
	}
	if (g_mime_object_get_header(obj, "X-Autoreply") != NULL ||
		g_mime_object_get_header(obj, "X-Autorespond") != NULL ||
		g_mime_object_get_header(obj, "X-Autogenerated") != NULL)
		return pstrdup("X-Autoreply");
	top = g_mime_message_get_mime_part(msg);
	if (top != NULL)
	{
		GMimeContentType *ct = g_mime_object_get_content_type(top);

		if (ct != NULL && g_mime_content_type_is_type(ct, "multipart", "report"))
			return pstrdup("a delivery report (multipart/report)");
	}
	if (from != NULL && (pg_strncasecmp(from, "mailer-daemon@", 14) == 0 ||
						 pg_strncasecmp(from, "postmaster@", 11) == 0))
		return psprintf("sent by %.60s", from);
	return NULL;
}

static void
release(MimeCtx *ctx)
{
	if (ctx->part_stream)
		g_object_unref(ctx->part_stream);
	if (ctx->cd != (iconv_t) -1)
		iconv_close(ctx->cd);
	if (ctx->message)
		g_object_unref(ctx->message);
	if (ctx->parser)
		g_object_unref(ctx->parser);
	if (ctx->stream)
		g_object_unref(ctx->stream);
	if (ctx->options)
		g_mime_parser_options_free(ctx->options);
	memset(ctx, 0, sizeof(*ctx));
	ctx->cd = (iconv_t) -1;
}

void
MailParse(const char *raw, size_t len, MailMessage *m)
{
	/* on the heap, so that what the PG_TRY block stores survives a longjmp */
	MimeCtx    *ctx = palloc0(sizeof(MimeCtx));
	static const char *fallback[] = {"UTF-8", FALLBACK_CHARSET, NULL};

	mime_init();
	memset(m, 0, sizeof(*m));
	ctx->cd = (iconv_t) -1;

	PG_TRY();
	{
		GDateTime  *date;
		int			i;

		ctx->options = g_mime_parser_options_new();
		g_mime_parser_options_set_rfc2047_compliance_mode(ctx->options, GMIME_RFC_COMPLIANCE_LOOSE);
		g_mime_parser_options_set_address_compliance_mode(ctx->options, GMIME_RFC_COMPLIANCE_LOOSE);
		g_mime_parser_options_set_parameter_compliance_mode(ctx->options, GMIME_RFC_COMPLIANCE_LOOSE);
		g_mime_parser_options_set_fallback_charsets(ctx->options, fallback);
		g_mime_parser_options_set_warning_callback(ctx->options, warning_cb, ctx);
		/* GMime 3.2.13 misreads split base64 encoded-words: merge them first */
		{
			char	   *fixed = palloc(len + 4);
			size_t		flen = crm_rfc2047_merge(raw, len, fixed);

			ctx->stream = g_mime_stream_mem_new_with_buffer(fixed, flen);
			pfree(fixed);
		}
		ctx->parser = g_mime_parser_new_with_stream(ctx->stream);
		g_mime_parser_set_format(ctx->parser, GMIME_FORMAT_MESSAGE);
		ctx->message = g_mime_parser_construct_message(ctx->parser, ctx->options);
		if (ctx->message == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is not an RFC 5322 message"),
					 errdetail("GMime could not read a message from the input.")));

		m->message_id = pstrdup_or_null(g_mime_message_get_message_id(ctx->message));
		copy_mailbox(g_mime_message_get_from(ctx->message), &m->from_name, &m->from_addr);
		copy_mailbox(g_mime_message_get_reply_to(ctx->message), &m->reply_to_name, &m->reply_to_addr);
		m->to = copy_address_list(g_mime_message_get_to(ctx->message));
		m->subject = pstrdup_or_null(g_mime_message_get_subject(ctx->message));
		date = g_mime_message_get_date(ctx->message);
		if (date != NULL)
		{
			m->has_date = true;
			m->date = (TimestampTz) (g_date_time_to_unix(date) -
									 ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)) * USECS_PER_SEC;
		}

		m->automatic = automatic_reason(ctx->message, m->from_addr);
		walk(ctx, g_mime_message_get_mime_part(ctx->message), m, 0);
		if (ctx->plain == NULL && ctx->html == NULL && ctx->forwarded != NULL)
		{
			/* only a forwarded message: its body is the text */
			GMimeMessage *inner = g_mime_message_part_get_message(ctx->forwarded);
			int			outer = list_length(m->attachments);

			if (inner != NULL)
				walk(ctx, g_mime_message_get_mime_part(inner), m, 1);
			m->attachments = list_truncate(m->attachments, outer);
			if (ctx->plain || ctx->html)
				m->notes = lappend(m->notes, pstrdup("the text is that of the forwarded message"));
		}
		read_body(ctx, m);

		for (i = 0; i < ctx->nwarnings; i++)
		{
			const char *w = warning_text(ctx->warnings[i]);
			ListCell   *lc;
			bool		seen = false;

			foreach(lc, m->notes)
				if (strcmp((char *) lfirst(lc), w) == 0)
					seen = true;
			if (!seen)
				m->notes = lappend(m->notes, pstrdup(w));
		}
		{
			size_t		sl;

			/* headers decoded with a fallback charset can hold NUL bytes */
			if (m->subject)
			{
				sl = strlen(m->subject);
				strip_nul(m->subject, &sl);
				if (!utf8_ok(m->subject, sl))
					m->subject = NULL;
			}
			if (m->from_name && !utf8_ok(m->from_name, strlen(m->from_name)))
				m->from_name = NULL;
			if (m->reply_to_name && !utf8_ok(m->reply_to_name, strlen(m->reply_to_name)))
				m->reply_to_name = NULL;
			if (m->message_id && !utf8_ok(m->message_id, strlen(m->message_id)))
				m->message_id = NULL;
			if (m->from_addr && !utf8_ok(m->from_addr, strlen(m->from_addr)))
				m->from_addr = NULL;
			if (m->reply_to_addr && !utf8_ok(m->reply_to_addr, strlen(m->reply_to_addr)))
				m->reply_to_addr = NULL;
			if (m->to && !utf8_ok(m->to, strlen(m->to)))
				m->to = NULL;
			if (m->automatic && !utf8_ok(m->automatic, strlen(m->automatic)))
				m->automatic = pstrdup("sent by a machine");
		}
		{
			ListCell   *lc;

			foreach(lc, m->attachments)
			{
				MailAttachment *a = lfirst(lc);

				if (a->filename && !utf8_ok(a->filename, strlen(a->filename)))
					a->filename = NULL;
				if (a->content_type && !utf8_ok(a->content_type, strlen(a->content_type)))
					a->content_type = pstrdup("application/octet-stream");
			}
		}
	}
	PG_FINALLY();
	{
		release(ctx);
	}
	PG_END_TRY();
	pfree(ctx);
}
