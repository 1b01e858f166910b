/*
 * mailbox.c
 *	  CALL crm.mail_poll(): e-mails are loaded from the company mailbox (R5).
 *
 *	  Over IMAP or IMAPS (http.c: libcurl connects and logs in, crm speaks
 *	  IMAP): EXAMINE the folder (SELECT when processed mail is marked or
 *	  moved), read its UIDVALIDITY, UID SEARCH the UIDs past the watermark,
 *	  and for each: UID FETCH (BODY.PEEK[]) -- which leaves the message
 *	  unseen -- then, in its own transaction, crm.mailbox_handle (which
 *	  calls crm.ingest_email, or quarantines the message with its bytes and
 *	  the error) together with the new watermark; commit.  Optionally the
 *	  message is then marked \Seen or moved.  A changed UIDVALIDITY (the
 *	  folder was rebuilt) reads the folder from the start: crm.ingest_email
 *	  is idempotent by Message-ID.  No lock or transaction is held while the
 *	  server is talked to.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "imap_parse.h"
#include "integration.h"

PG_FUNCTION_INFO_V1(crm_mail_poll);

typedef struct ImapArgs
{
	bool		connect;
	const char *url;
	const char *user;
	const char *password;
	const char *ca_file;
	const char *const *secrets;
	size_t		max_literal;
	CrmImapSession *session;
	const char *command;
	CrmImapReply reply;
	CrmPeerError *err;
} ImapArgs;

static void
GuardedImap(void *arg)
{
	ImapArgs   *a = (ImapArgs *) arg;

	if (a->connect)
		a->err = ImapConnect(a->url, a->user, a->password, a->ca_file, a->secrets, a->max_literal, &a->session);
	else
		a->err = ImapCommand(a->session, a->command, &a->reply);
}

/* Runs one IMAP command; a failure ends the run (and raises). */
static CrmImapReply *
Imap(CrmRun *run, ImapArgs *a, const char *command, const char *watermark)
{
	ErrorData  *edata;

	a->connect = false;
	a->command = command;
	a->err = NULL;
	edata = CrmGuard(run, GuardedImap, a);
	if (edata)
		CrmRunRethrow(run, edata, watermark);
	if (a->err)
		CrmRunFail(run, a->err, watermark);
	return &a->reply;
}

/* Loads one message (crm.mailbox_handle), a guarded step. */
typedef struct HandleArgs
{
	const char *key;
	StringInfo	raw;			/* NULL: too large to fetch */
	int64		size;
	char	   *outcome;
} HandleArgs;

static void
GuardedHandle(void *arg)
{
	HandleArgs *h = (HandleArgs *) arg;
	Oid			types[3] = {TEXTOID, BYTEAOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	bytea	   *b = NULL;
	bool		isnull;

	if (h->raw)
	{
		b = (bytea *) palloc(VARHDRSZ + h->raw->len);
		SET_VARSIZE(b, VARHDRSZ + h->raw->len);
		memcpy(VARDATA(b), h->raw->data, h->raw->len);
	}
	values[0] = CStringGetTextDatum(h->key);
	values[1] = PointerGetDatum(b);
	nulls[1] = b ? ' ' : 'n';
	values[2] = Int64GetDatum(h->size);
	CrmSpiExec("SELECT crm.mailbox_handle($1, $2, $3)", 3, types, values, nulls, SPI_OK_SELECT);
	h->outcome = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	if (b)
		pfree(b);
}

static char *
Watermark(const char *folder, int64 uidvalidity, int64 uid)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"folder\": \"%s\", \"uidvalidity\": " INT64_FORMAT ", \"uid\": " INT64_FORMAT "}",
					 folder, uidvalidity, uid);
	return buf.data;
}

static int
UidOrder(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

Datum
crm_mail_poll(PG_FUNCTION_ARGS)
{
	CrmRun		run;
	ImapArgs	a;
	ErrorData  *edata;
	CrmImapReply *reply;
	const char *folder;
	const char *after;
	const char *move_to;
	int			batch_size;
	int64		old_validity = -1;
	int64		last_uid = 0;
	int64		uidvalidity = -1;
	int64	   *uids = NULL;
	int			nuids = 0;
	int			cap = 0;
	char	   *watermark;
	char	   *old_folder = NULL;
	MemoryContext msgcxt;
	int			i;
	int			j;

	CrmProcedureCheck(fcinfo, "crm.mail_poll()");
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	if (!CrmRunBegin(&run, "mailbox"))
	{
		SPI_finish();
		PG_RETURN_VOID();
	}
	MemoryContextSwitchTo(run.cxt);
	folder = CrmRunSetting(&run, "folder");
	after = CrmRunSetting(&run, "after_ingest");
	move_to = CrmRunSetting(&run, "move_to");
	batch_size = CrmRunSettingInt(&run, "batch_size");
	/* a message lost with its watermark is fetched again -- unless it was
	 * marked or moved at the server after the commit */
	if (strcmp(after, "keep") == 0)
		CrmRunCommitAsync();
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1];

		values[0] = CStringGetTextDatum(run.watermark ? run.watermark : "{}");
		CrmSpiExec("SELECT w ->> 'folder', (w ->> 'uidvalidity')::bigint, (w ->> 'uid')::bigint FROM (SELECT $1::jsonb AS w) x",
				   1, types, values, NULL, SPI_OK_SELECT);
		old_folder = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
			char	   *u = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

			if (v && u && old_folder && strcmp(old_folder, folder) == 0)
			{
				old_validity = pg_strtoint64(v);
				last_uid = pg_strtoint64(u);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	watermark = run.watermark;

	memset(&a, 0, sizeof(a));
	a.connect = true;
	a.url = CrmRunSetting(&run, "url");
	a.user = CrmRunSetting(&run, "username");
	a.password = CrmRunSetting(&run, "password");
	a.ca_file = CrmRunSetting(&run, "ca_file");
	a.secrets = run.secrets;
	a.max_literal = (size_t) CrmRunSettingInt(&run, "max_message_bytes");
	CrmRunCount(&run, "commands", 1);
	edata = CrmGuard(&run, GuardedImap, &a);
	if (edata)
		CrmRunRethrow(&run, edata, NULL);
	if (a.err)
		CrmRunFail(&run, a.err, NULL);

	/* the folder, read-only unless processed mail is marked or moved */
	CrmRunCount(&run, "commands", 1);
	reply = Imap(&run, &a, psprintf("%s %s", strcmp(after, "keep") == 0 ? "EXAMINE" : "SELECT", ImapQuote(folder)),
				 NULL);
	if (strcmp(reply->status, "OK") != 0)
	{
		CrmPeerError *err = PeerErrorMake(ERRCODE_UNDEFINED_OBJECT, false, 0,
										  psprintf("the IMAP server cannot open folder \"%s\"", folder),
										  Redact(psprintf("%s %s", PeerText(reply->status), PeerText(reply->text)), run.secrets));

		err->hint = pstrdup("Set the folder with crm.configure('mailbox', 'folder', ...); the job stays stopped until then.");
		ImapClose(a.session);
		CrmRunFail(&run, err, NULL);
	}
	for (i = 0; i < reply->nuntagged; i++)
	{
		uint32		v = crm_imap_uidvalidity(reply->untagged[i].line);

		if (v != 0)
			uidvalidity = v;
	}
	if (uidvalidity <= 0)
	{
		ImapClose(a.session);
		CrmRunFail(&run, PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0,
									   "the IMAP server gave no UIDVALIDITY for the folder", folder), NULL);
	}
	if (uidvalidity != old_validity)
	{
		if (old_validity > 0)
			CrmRunCount(&run, "uidvalidity_changed", 1);
		last_uid = 0;
	}
	watermark = Watermark(folder, uidvalidity, last_uid);

	/* the new messages, oldest first */
	CrmRunCount(&run, "commands", 1);
	reply = Imap(&run, &a, psprintf("UID SEARCH UID " INT64_FORMAT ":*", last_uid + 1), watermark);
	if (strcmp(reply->status, "OK") != 0)
	{
		ImapClose(a.session);
		CrmRunFail(&run, PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0, "the IMAP server refused UID SEARCH",
									   Redact(psprintf("%s %s", PeerText(reply->status), PeerText(reply->text)), run.secrets)),
				   watermark);
	}
	for (i = 0; i < reply->nuntagged; i++)
	{
		const char *p;
		uint32		uid;
		int			r;

		if (!crm_imap_is_search(reply->untagged[i].line, &p))
			continue;
		while ((r = crm_imap_search_next(&p, &uid)) == 1)
		{
			if (uid <= last_uid)
				continue;		/* "n:*" always names the last message */
			if (nuids == cap)
			{
				cap = Max(cap * 2, 64);
				uids = uids ? repalloc(uids, sizeof(int64) * cap) : palloc(sizeof(int64) * cap);
			}
			uids[nuids++] = uid;
		}
		if (r < 0)
		{
			ImapClose(a.session);
			CrmRunFail(&run, PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0,
										   "the IMAP server sent a SEARCH response that is not a list of UIDs",
										   Redact(PeerText(reply->untagged[i].line), run.secrets)),
					   watermark);
		}
	}
	if (nuids > 1)
		qsort(uids, nuids, sizeof(int64), UidOrder);
	if (nuids > batch_size)
	{
		CrmRunCount(&run, "left_for_next_run", nuids - batch_size);
		nuids = batch_size;
	}

	msgcxt = AllocSetContextCreate(run.cxt, "crm mail message", ALLOCSET_DEFAULT_SIZES);
	for (j = 0; j < nuids; j++)
	{
		MemoryContext old;
		StringInfo	raw = NULL;
		int64		size = -1;
		bool		found = false;
		char	   *key;
		char	   *outcome;

		MemoryContextReset(msgcxt);
		old = MemoryContextSwitchTo(msgcxt);
		CrmRunCount(&run, "commands", 1);
		reply = Imap(&run, &a, psprintf("UID FETCH " INT64_FORMAT " (BODY.PEEK[])", uids[j]), watermark);
		if (strcmp(reply->status, "OK") != 0)
		{
			ImapClose(a.session);
			CrmRunFail(&run, PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0, "the IMAP server refused UID FETCH",
										   Redact(psprintf("UID " INT64_FORMAT ": %s %s", uids[j], PeerText(reply->status),
														   PeerText(reply->text)), run.secrets)),
					   watermark);
		}
		for (i = 0; i < reply->nuntagged; i++)
		{
			CrmImapUntagged *u = &reply->untagged[i];

			if (strstr(u->line, " FETCH ") != NULL && strstr(u->line, "BODY[]") != NULL && u->nliterals > 0)
			{
				raw = u->literals[0];
				size = u->sizes[0];
				found = true;
				break;
			}
		}
		key = psprintf("%s/" INT64_FORMAT "/" INT64_FORMAT, folder, uidvalidity, uids[j]);
		watermark = MemoryContextStrdup(run.cxt, Watermark(folder, uidvalidity, uids[j]));
		if (!found)
		{
			/* expunged between SEARCH and FETCH: nothing to load */
			CrmRunCount(&run, "vanished", 1);
			MemoryContextSwitchTo(old);
			if (!CrmRunProgress(&run, watermark))
				goto lost;
			continue;
		}
		{
			HandleArgs	h;

			h.key = key;
			h.raw = raw;
			h.size = size;
			CrmStep(&run, GuardedHandle, &h, watermark);
			outcome = h.outcome;
		}
		CrmRunCount(&run, strcmp(outcome, "ingested") == 0 ? "ingested" : "quarantined", 1);
		CrmRunCount(&run, "bytes", size);
		MemoryContextSwitchTo(old);
		/* the message and the watermark commit together */
		if (!CrmRunProgress(&run, watermark))
			goto lost;

		if (strcmp(after, "keep") != 0)
		{
			MemoryContextSwitchTo(msgcxt);
			CrmRunCount(&run, "commands", 1);
			if (strcmp(after, "seen") == 0)
				reply = Imap(&run, &a, psprintf("UID STORE " INT64_FORMAT " +FLAGS.SILENT (\\Seen)", uids[j]), watermark);
			else
				reply = Imap(&run, &a, psprintf("UID MOVE " INT64_FORMAT " %s", uids[j], ImapQuote(move_to)), watermark);
			if (strcmp(reply->status, "OK") != 0)
			{
				CrmRunCount(&run, "after_ingest_failed", 1);
				ereport(WARNING,
						(errmsg("the IMAP server refused to %s message %s", strcmp(after, "seen") == 0 ? "mark" : "move", key),
						 errdetail("%s", Redact(psprintf("%s %s", PeerText(reply->status), PeerText(reply->text)),
												run.secrets))));
			}
			MemoryContextSwitchTo(old);
		}
	}
	ImapClose(a.session);
	CrmRunEnd(&run, "ok", NULL, watermark);
lost:
	ImapClose(a.session);
	SPI_finish();
	PG_RETURN_VOID();
}
