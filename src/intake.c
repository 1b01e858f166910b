/*
 * intake.c
 *	  The SQL-callable functions of the intake (R3-R9):
 *
 *	  crm.ingest_call(...)        a PBX call: one linkedid = one call (R4)
 *	  crm.ingest_email(bytea)     a raw RFC 5322 message, read by template (R5)
 *	  crm.parse_email(bytea)      what ingest_email would read; stores nothing
 *	  crm._intake_request(...)    the core for JivoSite events and call notes
 *	  intake_as_caller            the shim of the people's functions (triage,
 *	                              assignment, qualification, call notes)
 *	  crm.interaction_row_valid(...), crm.inquiry_row_valid(...)
 *	                              the CHECK rules of crm.interaction and
 *	                              crm.inquiry (see below why in C)
 *	  crm.notification_announce() task.sql's AFTER INSERT trigger on
 *	                              crm.notification (pg_notify on channel crm),
 *	                              in C because every request that tells
 *	                              someone fires it (test/bench/bench_intake.sh)
 *
 * Validation comes first and changes nothing; then the dedup key is locked
 * and looked up; then intake_match.c matches and records.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "intake.h"
#include "intake_text.h"

PG_FUNCTION_INFO_V1(ingest_call);
PG_FUNCTION_INFO_V1(ingest_email);
PG_FUNCTION_INFO_V1(parse_email);
PG_FUNCTION_INFO_V1(intake_request);
PG_FUNCTION_INFO_V1(intake_as_caller);
PG_FUNCTION_INFO_V1(notification_announce);
PG_FUNCTION_INFO_V1(interaction_row_valid);
PG_FUNCTION_INFO_V1(inquiry_row_valid);

#define MAX_TEXT_ARG 200		/* linkedid, numbers, disposition ... */

/* ---- small helpers ------------------------------------------------------- */

static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static bool
blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

static char *
trimmed(const char *s)
{
	const char *b = s,
			   *e;

	if (s == NULL)
		return NULL;
	while (*b && isspace((unsigned char) *b))
		b++;
	e = b + strlen(b);
	while (e > b && isspace((unsigned char) e[-1]))
		e--;
	return pnstrdup(b, e - b);
}

static void
check_length(const char *s, const char *what, size_t max)
{
	if (s != NULL && strlen(s) > max)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long", what),
				 errdetail("It has %zu bytes; at most %zu are accepted.", strlen(s), max)));
}

/* a span of text as a palloc'd string with inner whitespace runs collapsed */
static char *
span_text(const char *text, CrmSpan sp, size_t maxlen)
{
	StringInfoData buf;
	size_t		i;
	bool		space = false;

	initStringInfo(&buf);
	for (i = 0; i < sp.len && (size_t) buf.len < maxlen; i++)
	{
		char		c = text[sp.off + i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			space = true;
		else
		{
			if (space && buf.len > 0)
				appendStringInfoChar(&buf, ' ');
			space = false;
			appendStringInfoChar(&buf, c);
		}
	}
	/* never cut a UTF-8 character */
	while (buf.len > 0 && ((unsigned char) buf.data[buf.len - 1] & 0xC0) == 0x80 && (size_t) buf.len >= maxlen)
		buf.data[--buf.len] = '\0';
	if (buf.len > 0 && ((unsigned char) buf.data[buf.len - 1] & 0xC0) == 0xC0)
		buf.data[--buf.len] = '\0';
	return buf.len > 0 ? buf.data : NULL;
}

static void
json_key_str(StringInfo js, const char *key, const char *val, bool *first)
{
	if (!*first)
		appendStringInfoString(js, ", ");
	*first = false;
	escape_json(js, key);
	appendStringInfoString(js, ": ");
	if (val)
		escape_json(js, val);
	else
		appendStringInfoString(js, "null");
}

static const char *
describe_phone(const char *raw)
{
	return raw ? raw : "скрытый номер";
}

/* ---- crm.ingest_call ------------------------------------------------------- */

static const char *const dispositions[] = {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", NULL};

Datum
ingest_call(PG_FUNCTION_ARGS)
{
	char	   *linkedid = trimmed(arg_text(fcinfo, 0));
	char	   *caller = trimmed(arg_text(fcinfo, 1));
	char	   *called = trimmed(arg_text(fcinfo, 2));
	char	   *disposition = trimmed(arg_text(fcinfo, 8));
	char	   *recording = trimmed(arg_text(fcinfo, 9));
	char	   *direction = trimmed(arg_text(fcinfo, 10));
	IntakeRequest r;
	IntakeOutcome outcome;
	char		caller_key[CRM_PHONE_MAX],
				called_key[CRM_PHONE_MAX],
				ext[CRM_PHONE_EXT_MAX];
	long		caller_ext = -1,
				called_ext = -1;
	bool		caller_own,
				called_own;
	int64		id;
	const char *external = NULL;
	const char *external_key = NULL;
	const char *dir;

	IntakeRequestInit(&r);
	r.channel = "phone";
	r.source = "pbx";

	/* -- validation: nothing is read or written before it passes -- */
	if (linkedid == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a call needs its linkedid"),
				 errdetail("One linkedid is one call, whatever its legs; it is the key that makes re-polling safe.")));
	if (linkedid[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a call's linkedid is empty")));
	check_length(linkedid, "linkedid", MAX_TEXT_ARG);
	check_length(caller, "caller", MAX_TEXT_ARG);
	check_length(called, "called", MAX_TEXT_ARG);
	check_length(recording, "recording", 2000);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a call needs its start time (started_at)")));
	r.occurred_at = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(r.occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a call's start time must be finite")));
	if (!PG_ARGISNULL(4))
	{
		r.has_answered = true;
		r.answered_at = PG_GETARG_TIMESTAMPTZ(4);
		if (r.answered_at < r.occurred_at || TIMESTAMP_NOT_FINITE(r.answered_at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a call cannot be answered before it started"),
					 errdetail("answered_at %s, started_at %s.", timestamptz_to_str(r.answered_at),
							   timestamptz_to_str(r.occurred_at))));
	}
	if (!PG_ARGISNULL(5))
	{
		r.has_ended = true;
		r.ended_at = PG_GETARG_TIMESTAMPTZ(5);
		if (r.ended_at < r.occurred_at || (r.has_answered && r.ended_at < r.answered_at) ||
			TIMESTAMP_NOT_FINITE(r.ended_at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a call cannot end before it started or was answered"),
					 errdetail("ended_at %s.", timestamptz_to_str(r.ended_at))));
	}
	if (!PG_ARGISNULL(6))
	{
		r.has_duration = true;
		r.duration = PG_GETARG_INT32(6);
		if (r.duration < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a call's duration cannot be negative")));
	}
	if (!PG_ARGISNULL(7))
	{
		r.has_billsec = true;
		r.billsec = PG_GETARG_INT32(7);
		if (r.billsec < 0 || (r.has_duration && r.billsec > r.duration))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a call's billsec must lie between 0 and its duration"),
					 errdetail("billsec %d, duration %s.", r.billsec,
							   r.has_duration ? psprintf("%d", r.duration) : "unknown")));
	}
	if (disposition != NULL)
	{
		int			i;

		for (i = 0; dispositions[i] != NULL; i++)
			if (pg_strcasecmp(disposition, dispositions[i]) == 0)
				break;
		if (dispositions[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown call disposition \"%s\"", disposition),
					 errhint("A disposition is ANSWERED, NO ANSWER, BUSY or FAILED.")));
		r.disposition = dispositions[i];
	}
	if (direction != NULL && strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0 &&
		strcmp(direction, "internal") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown call direction \"%s\"", direction),
				 errhint("A direction is in, out or internal (or NULL to infer it from the numbers).")));
	r.recording = (recording && recording[0]) ? recording : NULL;
	r.caller = (caller && caller[0]) ? caller : NULL;
	r.called = (called && called[0]) ? called : NULL;

	/* the matching keys of both numbers, and whether they look like extensions */
	caller_key[0] = called_key[0] = '\0';
	if (r.caller)
	{
		crm_parse_phone(r.caller, strlen(r.caller), caller_key, ext);
		caller_ext = crm_extension_number(r.caller, strlen(r.caller));
	}
	if (r.called)
	{
		crm_parse_phone(r.called, strlen(r.called), called_key, ext);
		called_ext = crm_extension_number(r.called, strlen(r.called));
	}
	r.dedup_key = psprintf("call:%s", linkedid);

	if (direction != NULL && strcmp(direction, "in") == 0 && caller_key[0] != '\0')
	{
		/* the PBX says it is incoming, from a real number: the fast path */
		bool		existed;

		r.direction = "in";
		r.party = r.caller;
		IntakeAddKey(&r, 'p', r.caller, caller_key);
		r.describe = psprintf("%s с %s", r.disposition && strcmp(r.disposition, "ANSWERED") != 0 ?
							  "пропущенный звонок" : "звонок", r.caller);
		SPI_connect();
		id = IntakeCallIn(&r, &existed, &outcome);
		if (existed)
			IntakeCallUpdate(id, &r);
		SPI_finish();
		PG_RETURN_INT64(id);
	}

	SPI_connect();
	IntakeCheckFuture(r.occurred_at, "the call's start time");

	IntakeLockKey(INTAKE_LOCK_DEDUP, r.dedup_key);
	id = IntakeCallHead(r.dedup_key, caller_key[0] ? caller_key : NULL, caller_ext,
						called_key[0] ? called_key : NULL, called_ext, &caller_own, &called_own);
	if (id != 0)
	{
		/* polled again: the same call, maybe answered or ended since */
		IntakeCallUpdate(id, &r);
		SPI_finish();
		PG_RETURN_INT64(id);
	}

	/* which way it went; the company's own numbers never make leads (R4) */
	if (direction != NULL)
		dir = direction;
	else if (caller_own && called_own)
		dir = "internal";
	else if (caller_own)
		dir = "out";
	else
		dir = "in";
	if ((strcmp(dir, "in") == 0 && caller_own) || (strcmp(dir, "out") == 0 && called_own))
		dir = "internal";
	r.direction = dir;
	if (strcmp(dir, "in") == 0)
	{
		external = r.caller;
		external_key = caller_key;
	}
	else if (strcmp(dir, "out") == 0)
	{
		external = r.called;
		external_key = called_key;
	}
	r.party = external;
	if (external_key != NULL && external_key[0] != '\0')
		IntakeAddKey(&r, 'p', external, external_key);

	if (strcmp(dir, "in") == 0)
		r.describe = psprintf("%s с %s", r.disposition && strcmp(r.disposition, "ANSWERED") != 0 ?
							  "пропущенный звонок" : "звонок", describe_phone(external));
	else if (strcmp(dir, "out") == 0)
		r.describe = psprintf("исходящий звонок на %s", describe_phone(external));
	else
		r.describe = "внутренний звонок";

	id = IntakeProcess(&r, &outcome);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- crm.ingest_email / crm.parse_email ------------------------------------ */

typedef struct MailRead
{
	MailMessage m;
	char	   *message_key;	/* Message-ID, or sha256:<hex> */
	bool		hashed;
	int32		template_id;	/* 0: no template row matched */
	char	   *template_code;
	char	   *template_kind;
	char	   *template_title;
	bool		sender_is_contact;
	bool		contacts_in_request;
	char	   *name;
	char	   *company;
	char	   *request;
	char	   *contact_address;	/* the sender's address, when it is the contact */
	IntakeRequest r;
} MailRead;

static IntakePlanPtr template_plan;
static IntakePlanPtr email_insert_plan;

static char *
sha256_hex(const char *data, size_t len)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);
	int			i;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "crm intake: could not compute SHA-256");
	pg_cryptohash_free(ctx);
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return hex;
}

/* the header-section check (pure C, before GMime sees the bytes) */
static void
check_rfc5322(const char *raw, size_t len)
{
	int			line;
	CrmHeaderStatus st = crm_header_check(raw, len, &line);

	switch (st)
	{
		case CRM_HEADER_OK:
			return;
		case CRM_HEADER_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is empty")));
			break;
		case CRM_HEADER_NO_FIELDS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is not an RFC 5322 message"),
					 errdetail("Line %d is not a header field (\"Name: value\"); a message starts with its header section.", line)));
			break;
		case CRM_HEADER_BAD_LINE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is not an RFC 5322 message"),
					 errdetail("Line %d of the header section is neither a header field nor a folded continuation.", line)));
			break;
		case CRM_HEADER_NUL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is not an RFC 5322 message"),
					 errdetail("Line %d of the header section contains a NUL byte.", line)));
			break;
		case CRM_HEADER_NO_FROM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("e-mail is not an RFC 5322 message"),
					 errdetail("It has no From header field, which RFC 5322 requires.")));
			break;
	}
}

/* a template's label array as C strings */
static void
labels_from(Datum arr, const char ***labels, int *count)
{
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				k = 0;
	const char **out;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	out = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (!nulls[i])
			out[k++] = TextDatumGetCString(elems[i]);
	*labels = out;
	*count = k;
}

/*
 * Reads a message: the header check, GMime, the Message-ID (or hash), the
 * template and its fields, the keys.  Needs SPI; stores nothing.
 */
static void
read_mail(bytea *raw, MailRead *mr)
{
	const char *data = VARDATA_ANY(raw);
	size_t		len = VARSIZE_ANY_EXHDR(raw);
	int32		max_bytes = IntakeMaxMessageBytes();
	static const Oid tpl_types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		tv[3];
	bool		isnull;
	CrmLabels	labels;
	CrmFields	f;
	const char **lab[CRM_FIELD_COUNT];
	int			nlab[CRM_FIELD_COUNT];
	int			i,
				k;
	const char *text;
	size_t		tlen;
	IntakeRequest *r = &mr->r;

	memset(mr, 0, sizeof(*mr));
	IntakeRequestInit(r);
	if (len > (size_t) max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("e-mail is too large"),
				 errdetail("It has %zu bytes; crm.intake_settings.max_message_bytes is %d.", len, max_bytes)));
	check_rfc5322(data, len);
	MailParse(data, len, &mr->m);

	if (mr->m.message_id != NULL && strlen(mr->m.message_id) <= 500)
		mr->message_key = mr->m.message_id;
	else
	{
		mr->message_key = psprintf("sha256:%s", sha256_hex(data, len));
		mr->hashed = true;
	}

	/* the template: first active one by priority whose patterns match */
	tv[0] = CStringGetTextDatum(mr->m.from_addr ? mr->m.from_addr : "");
	tv[1] = CStringGetTextDatum(mr->m.subject ? mr->m.subject : "");
	tv[2] = CStringGetTextDatum(mr->m.text);
	IntakeExec(IntakeSavedPlan(&template_plan,
							   "SELECT t.id, t.code, t.kind, t.title, t.sender_is_contact, t.contacts_in_request,"
							   "       t.name_labels, t.phone_labels, t.email_labels, t.company_labels,"
							   "       t.request_labels"
							   "  FROM crm.email_template t"
							   " WHERE t.active AND $1 ~* t.sender_pattern AND $2 ~* t.subject_pattern"
							   "   AND $3 ~* t.body_pattern"
							   " ORDER BY t.priority, t.id LIMIT 1",
							   3, tpl_types),
			   tv, NULL, true, 1);
	memset(&labels, 0, sizeof(labels));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;

		mr->template_id = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		mr->template_code = SPI_getvalue(tup, td, 2);
		mr->template_kind = SPI_getvalue(tup, td, 3);
		mr->template_title = SPI_getvalue(tup, td, 4);
		mr->sender_is_contact = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		mr->contacts_in_request = DatumGetBool(SPI_getbinval(tup, td, 6, &isnull));
		for (i = 0; i < CRM_FIELD_COUNT; i++)
		{
			labels_from(SPI_getbinval(tup, td, 7 + i, &isnull), &lab[i], &nlab[i]);
			labels.label[i] = lab[i];
			labels.count[i] = nlab[i];
		}
	}
	else
	{
		/* no active template at all: read it as hand-written */
		mr->template_code = "handwritten";
		mr->template_kind = "handwritten";
		mr->template_title = "Письмо";
		mr->sender_is_contact = true;
	}

	text = mr->m.text;
	tlen = strlen(text);
	crm_extract_fields(text, tlen, &labels, &f);

	if (f.nvalues[CRM_FIELD_NAME] > 0)
		mr->name = span_text(text, f.value[CRM_FIELD_NAME][0], 200);
	if (f.nvalues[CRM_FIELD_COMPANY] > 0)
		mr->company = span_text(text, f.value[CRM_FIELD_COMPANY][0], 300);
	if (f.nvalues[CRM_FIELD_REQUEST] > 0)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (k = 0; k < f.nvalues[CRM_FIELD_REQUEST]; k++)
		{
			if (k > 0)
				appendStringInfoString(&buf, "\n\n");
			appendBinaryStringInfo(&buf, text + f.value[CRM_FIELD_REQUEST][k].off,
								   f.value[CRM_FIELD_REQUEST][k].len);
		}
		mr->request = buf.data;
	}

	/* the sender is the contact only in hand-written mail; Reply-To wins */
	if (mr->sender_is_contact)
	{
		char		key[CRM_EMAIL_MAX + 1];
		const char *addr = NULL;
		const char *name = NULL;

		if (mr->m.reply_to_addr && strlen(mr->m.reply_to_addr) <= CRM_EMAIL_MAX &&
			crm_parse_email(mr->m.reply_to_addr, strlen(mr->m.reply_to_addr), key) > 0)
		{
			addr = mr->m.reply_to_addr;
			name = mr->m.reply_to_name ? mr->m.reply_to_name : mr->m.from_name;
		}
		else if (mr->m.from_addr && strlen(mr->m.from_addr) <= CRM_EMAIL_MAX &&
				 crm_parse_email(mr->m.from_addr, strlen(mr->m.from_addr), key) > 0)
		{
			addr = mr->m.from_addr;
			name = mr->m.from_name;
		}
		if (addr)
		{
			IntakeAddKey(r, 'e', addr, key);
			mr->contact_address = pstrdup(addr);
		}
		if (mr->name == NULL && name != NULL)
			mr->name = pstrdup(name);
		if (mr->request == NULL)
		{
			CrmSpan		sp = {0, f.body_end};

			/* the sender's own words, above the quoted reply */
			while (sp.len > 0 && isspace((unsigned char) text[sp.len - 1]))
				sp.len--;
			mr->request = sp.len > 0 ? pnstrdup(text, sp.len) : NULL;
		}
	}
	else if (mr->request == NULL && tlen > 0)
		mr->request = pstrdup(text);

	/* phones of the phone fields: the whole value, else every number in it */
	for (k = 0; k < f.nvalues[CRM_FIELD_PHONE]; k++)
	{
		CrmSpan		sp = f.value[CRM_FIELD_PHONE][k];
		char		e164[CRM_PHONE_MAX],
					ext[CRM_PHONE_EXT_MAX];

		if (sp.len < 128 && crm_parse_phone(text + sp.off, sp.len, e164, ext) > 0)
			IntakeAddKey(r, 'p', pnstrdup(text + sp.off, sp.len), e164);
		else
		{
			char		found[8][CRM_PHONE_MAX];
			int			n = crm_find_phones(text + sp.off, sp.len, found, 8);

			for (i = 0; i < n; i++)
				IntakeAddKey(r, 'p', found[i], found[i]);
		}
	}
	for (k = 0; k < f.nvalues[CRM_FIELD_EMAIL]; k++)
	{
		CrmSpan		sp = f.value[CRM_FIELD_EMAIL][k];
		char		found[8][CRM_EMAIL_MAX + 1];
		int			n = crm_find_emails(text + sp.off, sp.len, found, 8);

		for (i = 0; i < n; i++)
			IntakeAddKey(r, 'e', found[i], found[i]);
	}
	if (mr->contacts_in_request && mr->request != NULL)
	{
		char		phones[8][CRM_PHONE_MAX];
		char		emails[8][CRM_EMAIL_MAX + 1];
		size_t		rl = strlen(mr->request);
		int			n;

		n = crm_find_phones(mr->request, rl, phones, 8);
		for (i = 0; i < n; i++)
			IntakeAddKey(r, 'p', phones[i], phones[i]);
		n = crm_find_emails(mr->request, rl, emails, 8);
		for (i = 0; i < n; i++)
			IntakeAddKey(r, 'e', emails[i], emails[i]);
	}

	/* dated when it arrived if the sender's clock is ahead */
	if (mr->m.has_date && !IntakeIsFuture(mr->m.date))
		r->occurred_at = mr->m.date;
	else
		r->occurred_at = GetCurrentTimestamp();

	r->channel = "email";
	r->source = mr->template_code;
	r->quiet = mr->m.automatic != NULL;
	r->direction = "in";
	r->dedup_key = psprintf("email:%s", mr->message_key);
	r->party = mr->contact_address ? mr->contact_address : mr->m.from_addr;
	r->subject = mr->m.subject;
	r->body = mr->m.text;
	r->request = mr->request;
	r->contact_name = mr->name;
	r->company = mr->company;
	if (mr->sender_is_contact)
		r->describe = psprintf("письмо от %s%s%s%s", r->party ? r->party : "неизвестного отправителя",
							   r->subject ? ": «" : "", r->subject ? r->subject : "", r->subject ? "»" : "");
	else
		r->describe = psprintf("%s%s%s%s", mr->template_title,
							   r->subject ? ": «" : "", r->subject ? r->subject : "", r->subject ? "»" : "");
}

/* the fields as found, as a JSON object (extracted / details) */
static char *
fields_json(const MailRead *mr, bool full)
{
	StringInfoData js;
	bool		first = true;
	int			i;
	ListCell   *lc;

	initStringInfo(&js);
	appendStringInfoChar(&js, '{');
	json_key_str(&js, "template", mr->template_code, &first);
	json_key_str(&js, "name", mr->name, &first);
	appendStringInfoString(&js, ", \"phones\": [");
	for (i = 0, first = true; i < mr->r.nkeys; i++)
		if (mr->r.kind[i] == 'p')
		{
			if (!first)
				appendStringInfoString(&js, ", ");
			first = false;
			escape_json(&js, mr->r.key[i]);
		}
	appendStringInfoString(&js, "], \"emails\": [");
	for (i = 0, first = true; i < mr->r.nkeys; i++)
		if (mr->r.kind[i] == 'e')
		{
			if (!first)
				appendStringInfoString(&js, ", ");
			first = false;
			escape_json(&js, mr->r.key[i]);
		}
	appendStringInfoChar(&js, ']');
	first = false;
	json_key_str(&js, "company", mr->company, &first);
	if (!full && mr->m.automatic)
		json_key_str(&js, "automatic", mr->m.automatic, &first);
	if (full)
		json_key_str(&js, "request", mr->request, &first);
	else
		appendStringInfo(&js, ", \"request_length\": %d", mr->request ? (int) strlen(mr->request) : 0);
	if (full)
	{
		bool		own[INTAKE_MAX_KEYS] = {0};

		/* which of the keys are the company's own (they never match) */
		IntakeOwnKeys(&mr->r, own);
		appendStringInfoString(&js, ", \"own\": [");
		for (i = 0, first = true; i < mr->r.nkeys; i++)
			if (own[i])
			{
				if (!first)
					appendStringInfoString(&js, ", ");
				first = false;
				escape_json(&js, mr->r.key[i]);
			}
		appendStringInfoChar(&js, ']');
		first = false;
		json_key_str(&js, "message_id", mr->message_key, &first);
		appendStringInfo(&js, ", \"message_id_hashed\": %s", mr->hashed ? "true" : "false");
		json_key_str(&js, "from", mr->m.from_addr, &first);
		json_key_str(&js, "from_name", mr->m.from_name, &first);
		json_key_str(&js, "reply_to", mr->m.reply_to_addr, &first);
		json_key_str(&js, "to", mr->m.to, &first);
		json_key_str(&js, "subject", mr->m.subject, &first);
		json_key_str(&js, "date", mr->m.has_date ? timestamptz_to_str(mr->m.date) : NULL, &first);
		json_key_str(&js, "kind", mr->template_kind, &first);
		json_key_str(&js, "body", mr->m.text, &first);
		appendStringInfo(&js, ", \"body_from_html\": %s", mr->m.text_from_html ? "true" : "false");
		json_key_str(&js, "charset", mr->m.charset, &first);
		json_key_str(&js, "automatic", mr->m.automatic, &first);
		appendStringInfoString(&js, ", \"attachments\": [");
		first = true;
		foreach(lc, mr->m.attachments)
		{
			MailAttachment *a = lfirst(lc);
			bool		f2 = true;

			if (!first)
				appendStringInfoString(&js, ", ");
			first = false;
			appendStringInfoChar(&js, '{');
			json_key_str(&js, "filename", a->filename, &f2);
			json_key_str(&js, "content_type", a->content_type, &f2);
			appendStringInfo(&js, ", \"size\": " INT64_FORMAT "}", a->size);
		}
		appendStringInfoChar(&js, ']');
	}
	appendStringInfoString(&js, ", \"notes\": [");
	first = true;
	foreach(lc, mr->m.notes)
	{
		if (!first)
			appendStringInfoString(&js, ", ");
		first = false;
		escape_json(&js, (char *) lfirst(lc));
	}
	appendStringInfoString(&js, "]}");
	return js.data;
}

static char *
attachments_json(const MailMessage *m)
{
	StringInfoData js;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&js);
	appendStringInfoChar(&js, '[');
	foreach(lc, m->attachments)
	{
		MailAttachment *a = lfirst(lc);
		bool		f2 = true;

		if (!first)
			appendStringInfoString(&js, ", ");
		first = false;
		appendStringInfoChar(&js, '{');
		json_key_str(&js, "filename", a->filename, &f2);
		json_key_str(&js, "content_type", a->content_type, &f2);
		appendStringInfo(&js, ", \"size\": " INT64_FORMAT "}", a->size);
	}
	appendStringInfoChar(&js, ']');
	return js.data;
}

Datum
ingest_email(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	MailRead	mr;
	IntakeOutcome outcome;
	int64		id;
	static const Oid types[13] = {INT8OID, TEXTOID, BOOLOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TIMESTAMPTZOID, INT4OID, JSONBOID, JSONBOID};
	Datum		v[13];
	char		n[14] = "             ";
	char	   *details;

	SPI_connect();
	read_mail(raw, &mr);

	IntakeLockKey(INTAKE_LOCK_DEDUP, mr.r.dedup_key);
	id = IntakeFindExisting(mr.r.dedup_key);
	if (id != 0)
	{
		/* the same Message-ID (or the same bytes): loaded already */
		SPI_finish();
		PG_RETURN_INT64(id);
	}
	details = fields_json(&mr, false);
	mr.r.details = details;
	id = IntakeProcess(&mr.r, &outcome);

	v[0] = Int64GetDatum(id);
	v[1] = CStringGetTextDatum(mr.message_key);
	v[2] = BoolGetDatum(mr.hashed);
	v[3] = PointerGetDatum(raw);
#define OPT_TEXT(i, s) do { if (s) v[i] = CStringGetTextDatum(s); else n[i] = 'n'; } while (0)
	OPT_TEXT(4, mr.m.from_name);
	OPT_TEXT(5, mr.m.from_addr);
	OPT_TEXT(6, mr.m.reply_to_addr);
	OPT_TEXT(7, mr.m.to);
	OPT_TEXT(8, mr.m.subject);
#undef OPT_TEXT
	v[9] = TimestampTzGetDatum(mr.m.date);
	n[9] = mr.m.has_date ? ' ' : 'n';
	v[10] = Int32GetDatum(mr.template_id);
	n[10] = mr.template_id > 0 ? ' ' : 'n';
	v[11] = DirectFunctionCall1(jsonb_in, CStringGetDatum(details));
	v[12] = DirectFunctionCall1(jsonb_in, CStringGetDatum(attachments_json(&mr.m)));
	IntakeExec(IntakeSavedPlan(&email_insert_plan,
							   "INSERT INTO crm.email_message (interaction_id, message_id, message_id_hashed, raw,"
							   "  from_name, from_address, reply_to, to_addresses, subject, sent_at, template_id,"
							   "  extracted, attachments)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
							   13, types),
			   v, n, false, 0);
	SPI_finish();
	PG_RETURN_INT64(id);
}

Datum
parse_email(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	MailRead	mr;
	char	   *js;
	Datum		result;

	SPI_connect();
	read_mail(raw, &mr);
	js = fields_json(&mr, true);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(js));
	/* into the caller's memory: SPI_finish frees ours */
	result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* ---- crm._intake_request ------------------------------------------------------ */

/* the phones / e-mails of a text[] argument as keys */
static void
keys_from_array(IntakeRequest *r, FunctionCallInfo fcinfo, int argno, char kind, bool strict)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				j;

	if (PG_ARGISNULL(argno))
		return;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *s;
		size_t		len;

		if (nulls[i])
			continue;
		s = trimmed(TextDatumGetCString(elems[i]));
		len = strlen(s);
		if (len == 0)
			continue;
		if (kind == 'p')
		{
			char		e164[CRM_PHONE_MAX],
						ext[CRM_PHONE_EXT_MAX];

			if (len < 256 && crm_parse_phone(s, len, e164, ext) > 0)
				IntakeAddKey(r, 'p', s, e164);
			else if (strict)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is not a phone number", s),
						 errhint("Write it as people do: +7 916 123-45-67, 8 (495) 100-20-30 доб. 5.")));
			else
			{
				char		found[4][CRM_PHONE_MAX];
				int			k = crm_find_phones(s, len, found, 4);

				for (j = 0; j < k; j++)
					IntakeAddKey(r, 'p', found[j], found[j]);
			}
		}
		else
		{
			char	   *key = palloc(len + 1);

			if (len <= 4 * CRM_EMAIL_MAX && crm_parse_email(s, len, key) > 0)
				IntakeAddKey(r, 'e', s, key);
			else if (strict)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is not an e-mail address", s)));
			else
			{
				char		found[4][CRM_EMAIL_MAX + 1];
				int			k = crm_find_emails(s, len, found, 4);

				for (j = 0; j < k; j++)
					IntakeAddKey(r, 'e', found[j], found[j]);
			}
		}
	}
}

Datum
intake_request(PG_FUNCTION_ARGS)
{
	IntakeRequest r;
	IntakeOutcome outcome;
	int64		id;
	char	   *direction = trimmed(arg_text(fcinfo, 2));
	bool		strict = !PG_ARGISNULL(14) && PG_GETARG_BOOL(14);

	IntakeRequestInit(&r);
	r.channel = arg_text(fcinfo, 0);
	r.source = arg_text(fcinfo, 1);
	r.dedup_key = arg_text(fcinfo, 4);
	if (r.channel == NULL || r.source == NULL || r.dedup_key == NULL || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a request needs its channel, source, time and dedup key")));
	if (direction == NULL || (strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0 &&
							  strcmp(direction, "internal") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown direction \"%s\"", direction ? direction : "(null)"),
				 errhint("A direction is in, out or internal.")));
	r.direction = direction;
	r.occurred_at = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(r.occurred_at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the time of a request must be finite")));
	r.contact_name = blank(arg_text(fcinfo, 5)) ? NULL : trimmed(arg_text(fcinfo, 5));
	r.company = blank(arg_text(fcinfo, 6)) ? NULL : trimmed(arg_text(fcinfo, 6));
	r.subject = arg_text(fcinfo, 9);
	r.body = arg_text(fcinfo, 10);
	r.request = blank(arg_text(fcinfo, 11)) ? NULL : arg_text(fcinfo, 11);
	if (!PG_ARGISNULL(12))
		r.details = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(12)));
	r.employee_id = PG_ARGISNULL(13) ? 0 : PG_GETARG_INT32(13);
	keys_from_array(&r, fcinfo, 7, 'p', strict);
	keys_from_array(&r, fcinfo, 8, 'e', strict);
	if (!PG_ARGISNULL(15) && PG_GETARG_BOOL(15) && r.request != NULL)
	{
		char		phones[8][CRM_PHONE_MAX];
		char		emails[8][CRM_EMAIL_MAX + 1];
		size_t		rl = strlen(r.request);
		int			n,
					i;

		n = crm_find_phones(r.request, rl, phones, 8);
		for (i = 0; i < n; i++)
			IntakeAddKey(&r, 'p', phones[i], phones[i]);
		n = crm_find_emails(r.request, rl, emails, 8);
		for (i = 0; i < n; i++)
			IntakeAddKey(&r, 'e', emails[i], emails[i]);
	}
	r.party = r.nkeys > 0 ? r.value[0] : NULL;
	r.describe = psprintf("%s%s%s", r.subject ? r.subject : r.channel, r.party ? ", " : "",
						  r.party ? r.party : "");

	SPI_connect();
	IntakeCheckFuture(r.occurred_at, "the time of the request");
	IntakeLockKey(INTAKE_LOCK_DEDUP, r.dedup_key);
	id = IntakeFindExisting(r.dedup_key);
	if (id == 0)
		id = IntakeProcess(&r, &outcome);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- the people's functions ------------------------------------------------------ */

/*
 * crm.<name>(args) runs crm._<name>(caller, args) as the owner of the
 * latter (the extension owner).  The caller is the role in effect when the
 * shim is called -- GetUserId(), which follows SET ROLE and SET SESSION
 * AUTHORIZATION -- taken before the identity changes, so the internal
 * function knows who asks although it runs with the owner's rights.  Nobody
 * but the owner can execute the internal functions: a caller cannot name
 * someone else.  On an error, transaction (or subtransaction) abort restores
 * the identity.
 */
Datum
intake_as_caller(PG_FUNCTION_ARGS)
{
	Oid			self = fcinfo->flinfo->fn_oid;
	Oid			caller = GetUserId();
	HeapTuple	tp;
	Form_pg_proc proc;
	char	   *impl_name;
	char	   *nspname;
	Oid			argtypes[FUNC_MAX_ARGS];
	int			nargs,
				i;
	Oid			impl;
	Oid			owner;
	FmgrInfo	flinfo;
	Oid			save_user;
	int			save_sec;
	Datum		result;
	bool		isnull;
	LOCAL_FCINFO(impl_fcinfo, FUNC_MAX_ARGS);

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", self);
	proc = (Form_pg_proc) GETSTRUCT(tp);
	nargs = proc->pronargs;
	if (nargs + 1 > FUNC_MAX_ARGS)
		elog(ERROR, "crm intake: too many arguments");
	impl_name = psprintf("_%s", NameStr(proc->proname));
	nspname = get_namespace_name(proc->pronamespace);
	argtypes[0] = OIDOID;
	for (i = 0; i < nargs; i++)
		argtypes[i + 1] = proc->proargtypes.values[i];
	ReleaseSysCache(tp);

	impl = LookupFuncName(list_make2(makeString(nspname), makeString(impl_name)), nargs + 1, argtypes, false);
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(impl));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", impl);
	owner = ((Form_pg_proc) GETSTRUCT(tp))->proowner;
	ReleaseSysCache(tp);

	fmgr_info(impl, &flinfo);
	InitFunctionCallInfoData(*impl_fcinfo, &flinfo, nargs + 1, fcinfo->fncollation, NULL, NULL);
	impl_fcinfo->args[0].value = ObjectIdGetDatum(caller);
	impl_fcinfo->args[0].isnull = false;
	for (i = 0; i < nargs; i++)
		impl_fcinfo->args[i + 1] = fcinfo->args[i];

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	result = FunctionCallInvoke(impl_fcinfo);
	isnull = impl_fcinfo->isnull;
	SetUserIdAndSecContext(save_user, save_sec);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* ---- crm.notification_announce ---------------------------------------------- */

/*
 * The AFTER INSERT ... FOR EACH ROW trigger of crm.notification (task.sql):
 * announces the new row on LISTEN channel "crm" with the payload
 *
 *	  {"notification" : <id>, "recipient" : "<role>", "kind" : "<kind>"}
 *
 * exactly as the PL/pgSQL version of 1.0 did (json_build_object's layout;
 * "recipient" is null when the recipient's row cannot be read).  The
 * recipient's role is read as the caller (the trigger is not SECURITY
 * DEFINER: row-level security and privileges apply as before): with a saved
 * plan, or for a superuser -- whom neither applies to; the intake's functions
 * run as one -- straight from the index (IntakeEmployeeRole).
 * NOTIFY itself delivers at commit and never on rollback.
 */
static IntakePlanPtr announce_plan;

static int
announce_attnum(TupleDesc desc, const char *name, Oid type)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
		{
			if (a->atttypid != type)
				break;
			return i + 1;
		}
	}
	elog(ERROR, "crm.notification_announce: the table has no column %s of type %u", name, type);
	return 0;					/* not reached */
}

Datum
notification_announce(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tuple;
	Datum		id,
				recipient,
				kind;
	bool		id_null,
				recipient_null,
				kind_null;
	char	   *role = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	StringInfoData js;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.notification_announce() must be an AFTER INSERT ... FOR EACH ROW trigger")));
	desc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	id = heap_getattr(tuple, announce_attnum(desc, "id", INT8OID), desc, &id_null);
	recipient = heap_getattr(tuple, announce_attnum(desc, "recipient_id", INT4OID), desc, &recipient_null);
	kind = heap_getattr(tuple, announce_attnum(desc, "kind", TEXTOID), desc, &kind_null);

	/* through the index (as a superuser), else with SQL */
	if (!recipient_null && !IntakeEmployeeRole(DatumGetInt32(recipient), &role))
	{
		static const Oid types[1] = {INT4OID};
		Datum		v[1] = {recipient};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "crm.notification_announce: SPI_connect failed");
		/* not read-only: a new snapshot, as the PL/pgSQL version took */
		IntakeExec(IntakeSavedPlan(&announce_plan,
								   "SELECT e.role_name FROM crm.employee e WHERE e.id = $1", 1, types),
				   v, NULL, false, 1);
		if (SPI_processed > 0)
		{
			char	   *r = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			/* into the trigger's memory: SPI_finish frees SPI's */
			if (r != NULL)
				role = MemoryContextStrdup(caller_cxt, r);
		}
		SPI_finish();
	}

	/* the layout of json_build_object('notification', ..., 'recipient', ..., 'kind', ...) */
	initStringInfo(&js);
	appendStringInfoString(&js, "{\"notification\" : ");
	if (id_null)
		appendStringInfoString(&js, "null");
	else
		appendStringInfo(&js, INT64_FORMAT, DatumGetInt64(id));
	appendStringInfoString(&js, ", \"recipient\" : ");
	if (role == NULL)
		appendStringInfoString(&js, "null");
	else
		escape_json(&js, role);
	appendStringInfoString(&js, ", \"kind\" : ");
	if (kind_null)
		appendStringInfoString(&js, "null");
	else
		escape_json(&js, TextDatumGetCString(kind));
	appendStringInfoChar(&js, '}');

	/* as pg_catalog.pg_notify('crm', payload) */
	PreventCommandDuringRecovery("NOTIFY");
	Async_Notify("crm", js.data);
	if (role != NULL)
		pfree(role);
	pfree(js.data);
	return PointerGetDatum(NULL);
}

/* ---- the CHECK rules of crm.interaction and crm.inquiry ------------------------ */

/*
 * PostgreSQL 15 reads a table's CHECK constraints from their stored node
 * trees and plans them again for every INSERT or UPDATE statement
 * (ExecRelCheck: stringToNode + ExecPrepareExpr), at a cost that grows with
 * the size of the expression: the rules of crm.interaction (2.9 kB as a node
 * tree) and crm.inquiry (6.4 kB) cost more than the rest of writing the row.
 * So each table's rule is one call of these functions (a few hundred bytes
 * to read), which evaluate exactly the SQL expression they replace, with its
 * three-valued logic: false when one conjunct is false, else NULL when one
 * is NULL (a CHECK lets NULL pass), else true.  The SQL each replaces is in
 * its comment in intake.sql.
 */
typedef enum Tri
{
	TRI_TRUE,
	TRI_NULL,
	TRI_FALSE
} Tri;

#define TRI_AND(acc, t) ((acc) = ((t) > (acc) ? (t) : (acc)))
#define TRI_OR(a, b) ((a) == TRI_TRUE || (b) == TRI_TRUE ? TRI_TRUE : \
					  (a) == TRI_NULL || (b) == TRI_NULL ? TRI_NULL : TRI_FALSE)
#define TRI_NOT(a) ((a) == TRI_NULL ? TRI_NULL : (a) == TRI_TRUE ? TRI_FALSE : TRI_TRUE)
#define TRI_BOOL(b) ((b) ? TRI_TRUE : TRI_FALSE)

/* pg_catalog.btrim(arg) <> '' (btrim removes spaces only) */
static Tri
tri_not_blank(FunctionCallInfo fcinfo, int n)
{
	text	   *t;
	const char *p;
	int			len,
				i;

	if (PG_ARGISNULL(n))
		return TRI_NULL;
	t = PG_GETARG_TEXT_PP(n);
	p = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	for (i = 0; i < len; i++)
		if (p[i] != ' ')
			return TRI_TRUE;
	return TRI_FALSE;
}

/* arg a >= arg b for two int4 or two timestamptz (both int64-comparable) */
static Tri
tri_ge_int4(FunctionCallInfo fcinfo, int a, int b)
{
	if (PG_ARGISNULL(a) || PG_ARGISNULL(b))
		return TRI_NULL;
	return TRI_BOOL(PG_GETARG_INT32(a) >= PG_GETARG_INT32(b));
}

static Tri
tri_ge_tstz(FunctionCallInfo fcinfo, int a, int b)
{
	if (PG_ARGISNULL(a) || PG_ARGISNULL(b))
		return TRI_NULL;
	return TRI_BOOL(timestamp_cmp_internal(PG_GETARG_TIMESTAMPTZ(a), PG_GETARG_TIMESTAMPTZ(b)) >= 0);
}

static Tri
tri_nonnegative(FunctionCallInfo fcinfo, int a)
{
	if (PG_ARGISNULL(a))
		return TRI_NULL;
	return TRI_BOOL(PG_GETARG_INT32(a) >= 0);
}

static Datum
tri_result(FunctionCallInfo fcinfo, Tri t)
{
	if (t == TRI_NULL)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(t == TRI_TRUE);
}

/*
 * crm.interaction_row_valid(source, duration, billsec, occurred_at,
 * answered_at, ended_at) =
 *	 btrim(source) <> '' AND duration >= 0 AND billsec >= 0
 *	 AND billsec <= duration AND answered_at >= occurred_at
 *	 AND ended_at >= occurred_at AND ended_at >= answered_at
 */
Datum
interaction_row_valid(PG_FUNCTION_ARGS)
{
	Tri			r = TRI_TRUE;

	TRI_AND(r, tri_not_blank(fcinfo, 0));
	TRI_AND(r, tri_nonnegative(fcinfo, 1));
	TRI_AND(r, tri_nonnegative(fcinfo, 2));
	TRI_AND(r, tri_ge_int4(fcinfo, 1, 2));
	TRI_AND(r, tri_ge_tstz(fcinfo, 4, 3));
	TRI_AND(r, tri_ge_tstz(fcinfo, 5, 3));
	TRI_AND(r, tri_ge_tstz(fcinfo, 5, 4));
	return tri_result(fcinfo, r);
}

/* text arg = one of the given words; NULL for NULL */
static Tri
tri_text_in(FunctionCallInfo fcinfo, int n, const char *const *words)
{
	text	   *t;
	int			len;

	if (PG_ARGISNULL(n))
		return TRI_NULL;
	t = PG_GETARG_TEXT_PP(n);
	len = VARSIZE_ANY_EXHDR(t);
	for (; *words; words++)
		if ((int) strlen(*words) == len && memcmp(VARDATA_ANY(t), *words, len) == 0)
			return TRI_TRUE;
	return TRI_FALSE;
}

/*
 * crm.inquiry_row_valid(source, status, close_reason, department_id,
 * responsible_id, genuine, conflict, conflict_counterparty_ids) =
 *	 btrim(source) <> ''
 *	 AND status IN ('new', 'triaged', 'assigned', 'qualified', 'closed')
 *	 AND (status <> 'closed' OR btrim(close_reason) <> '')
 *	 AND (status NOT IN ('triaged', 'assigned', 'qualified') OR department_id IS NOT NULL)
 *	 AND (status NOT IN ('assigned', 'qualified') OR responsible_id IS NOT NULL)
 *	 AND ((status = 'qualified') = (genuine IS TRUE))
 *	 AND (NOT conflict OR cardinality(conflict_counterparty_ids) >= 2)
 */
Datum
inquiry_row_valid(PG_FUNCTION_ARGS)
{
	static const char *const all[] = {"new", "triaged", "assigned", "qualified", "closed", NULL};
	static const char *const closed[] = {"closed", NULL};
	static const char *const has_department[] = {"triaged", "assigned", "qualified", NULL};
	static const char *const has_responsible[] = {"assigned", "qualified", NULL};
	static const char *const qualified[] = {"qualified", NULL};
	Tri			r = TRI_TRUE;
	Tri			genuine,
				conflict_ok;

	TRI_AND(r, tri_not_blank(fcinfo, 0));
	TRI_AND(r, tri_text_in(fcinfo, 1, all));
	TRI_AND(r, TRI_OR(TRI_NOT(tri_text_in(fcinfo, 1, closed)), tri_not_blank(fcinfo, 2)));
	TRI_AND(r, TRI_OR(TRI_NOT(tri_text_in(fcinfo, 1, has_department)), TRI_BOOL(!PG_ARGISNULL(3))));
	TRI_AND(r, TRI_OR(TRI_NOT(tri_text_in(fcinfo, 1, has_responsible)), TRI_BOOL(!PG_ARGISNULL(4))));
	/* (status = 'qualified') = (genuine IS TRUE): NULL when status is */
	genuine = TRI_BOOL(!PG_ARGISNULL(5) && PG_GETARG_BOOL(5));
	{
		Tri			q = tri_text_in(fcinfo, 1, qualified);

		TRI_AND(r, q == TRI_NULL ? TRI_NULL : TRI_BOOL(q == genuine));
	}
	/* NOT conflict OR cardinality(ids) >= 2 */
	if (PG_ARGISNULL(6))
		conflict_ok = TRI_OR(TRI_NULL, PG_ARGISNULL(7) ? TRI_NULL :
							 TRI_BOOL(ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(7)),
													 ARR_DIMS(PG_GETARG_ARRAYTYPE_P(7))) >= 2));
	else if (!PG_GETARG_BOOL(6))
		conflict_ok = TRI_TRUE;
	else if (PG_ARGISNULL(7))
		conflict_ok = TRI_NULL;
	else
	{
		ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(7);

		conflict_ok = TRI_BOOL(ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids)) >= 2);
	}
	TRI_AND(r, conflict_ok);
	return tri_result(fcinfo, r);
}
