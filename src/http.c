/*
 * http.c
 *	  The HTTP and IMAP client of crm over libcurl (R4, R5, R26).
 *
 *	  As pgsql-http and pg_net taught: one easy handle per backend, reset
 *	  before every request (its connections stay cached, so a run's requests
 *	  reuse one connection); every option set through a checking macro;
 *	  CURLOPT_ERRORBUFFER for readable messages; explicit connect and total
 *	  timeouts (crm.http_connect_timeout, crm.http_timeout); protocols limited
 *	  to http, https, imap and imaps; libcurl stays on malloc.  A cancel or a
 *	  termination stops a transfer through the progress callback, which only
 *	  returns nonzero: nothing is ever raised inside a curl callback.  After
 *	  curl returns, its header lists are freed, then CHECK_FOR_INTERRUPTS()
 *	  raises the cancel.  The answer's body goes into a palloc'd buffer whose
 *	  growth cannot raise either (MCXT_ALLOC_NO_OOM; a size limit).
 *
 *	  IMAP needs BODY.PEEK[] and literals, which libcurl's IMAP commands do
 *	  not give, so an IMAP session lets libcurl connect, start TLS and log
 *	  in (CURLOPT_CONNECT_ONLY) and then speaks IMAP itself over
 *	  curl_easy_send/curl_easy_recv, waiting on the socket in short slices so
 *	  that a cancel is seen within 0.1 s.
 */
#include "postgres.h"

#include <ctype.h>
#include <poll.h>

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http.h"
#include "imap_parse.h"

int			crm_http_connect_timeout = 1000;
int			crm_http_timeout = 10000;
static int	crm_http_max_response_kb = 65536;

static bool curl_ready = false;
static CURL *http_handle = NULL;

void
HttpInit(void)
{
	DefineCustomIntVariable("crm.http_connect_timeout",
							"Time allowed to connect to a peer (MikoPBX, IMAP server, MailChimp).",
							NULL, &crm_http_connect_timeout, 1000, 1, 600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.http_timeout",
							"Time allowed for one request to a peer (or one IMAP command), connecting included.",
							NULL, &crm_http_timeout, 10000, 1, 3600000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.http_max_response_size",
							"Largest answer accepted from a peer.",
							NULL, &crm_http_max_response_kb, 65536, 1, 1048575,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
}

static void
CurlEnsure(void)
{
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_ready = true;
	}
}

/* ---- errors ---------------------------------------------------------------- */

CrmPeerError *
PeerErrorMake(int sqlerrcode, bool retry, long http_status, const char *message, const char *detail)
{
	CrmPeerError *err = palloc0(sizeof(CrmPeerError));

	err->sqlerrcode = sqlerrcode;
	err->retry = retry;
	err->http_status = http_status;
	err->message = pstrdup(message);
	err->detail = detail ? pstrdup(detail) : NULL;
	return err;
}

void
PeerErrorRaise(const CrmPeerError *err)
{
	ereport(ERROR,
			(errcode(err->sqlerrcode),
			 errmsg("%s", err->message),
			 err->detail ? errdetail("%s", err->detail) : 0,
			 err->hint ? errhint("%s", err->hint) : 0));
	pg_unreachable();
}

char *
Redact(const char *text, const char *const *secrets)
{
	char	   *out;
	const char *const *s;

	if (text == NULL)
		return NULL;
	out = pstrdup(text);
	if (secrets == NULL)
		return out;
	for (s = secrets; *s != NULL; s++)
	{
		size_t		n = strlen(*s);
		char	   *hit;
		StringInfoData buf;
		char	   *p;

		if (n < 4 || strstr(out, *s) == NULL)
			continue;
		initStringInfo(&buf);
		p = out;
		while ((hit = strstr(p, *s)) != NULL)
		{
			appendBinaryStringInfo(&buf, p, hit - p);
			appendStringInfoString(&buf, "********");
			p = hit + n;
		}
		appendStringInfoString(&buf, p);
		pfree(out);
		out = buf.data;
	}
	return out;
}

/* Up to max bytes of a peer's text, printable, for a message. */
static char *
Excerpt(const char *data, size_t len, size_t max)
{
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	for (i = 0; i < len && i < max; i++)
	{
		unsigned char c = (unsigned char) data[i];

		appendStringInfoChar(&buf, (c < 0x20 || c == 0x7f) ? ' ' : (char) c);
	}
	if (len > max)
		appendStringInfoString(&buf, "...");
	/* a cut may leave half a UTF-8 sequence: drop it */
	while (buf.len > 0 && pg_verifymbstr(buf.data, buf.len, true) == false)
		buf.data[--buf.len] = '\0';
	return buf.data;
}

char *
PeerText(const char *text)
{
	return Excerpt(text ? text : "", text ? strlen(text) : 0, 300);
}

char *
HttpEscape(const char *s)
{
	StringInfoData buf;
	const unsigned char *p;

	initStringInfo(&buf);
	for (p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.' || *p == '~')
			appendStringInfoChar(&buf, (char) *p);
		else
			appendStringInfo(&buf, "%%%02X", *p);
	}
	return buf.data;
}

/* The error of a curl call that did not complete. */
static CrmPeerError *
CurlError(const char *peer, const char *what, CURLcode rc, const char *errbuf,
		  bool overflow, bool oom, bool connected, int connect_limit, const char *const *secrets)
{
	const char *why = (errbuf && errbuf[0]) ? errbuf : curl_easy_strerror(rc);
	char	   *detail = Redact(psprintf("%s: %s (curl error %d).", what, why, (int) rc), secrets);
	CrmPeerError *err;

	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			if (!connected)
				err = PeerErrorMake(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, true, 0,
									psprintf("could not connect to %s within %d ms", peer, connect_limit),
									detail);
			else
				err = PeerErrorMake(ERRCODE_CONNECTION_FAILURE, true, 0,
									psprintf("%s did not answer within %d ms", peer, crm_http_timeout),
									detail);
			err->hint = pstrdup("It is tried again later; crm.http_connect_timeout and crm.http_timeout set the limits.");
			return err;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			return PeerErrorMake(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, true, 0,
								 psprintf("could not connect to %s", peer), detail);
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_USE_SSL_FAILED:
			return PeerErrorMake(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, true, 0,
								 psprintf("could not open a TLS connection to %s", peer), detail);
		case CURLE_LOGIN_DENIED:
			err = PeerErrorMake(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, false, 0,
								psprintf("%s refused the login", peer), detail);
			err->hint = pstrdup("Check the user name and password (crm.configure); the job stays stopped until they change.");
			return err;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return PeerErrorMake(ERRCODE_INVALID_PARAMETER_VALUE, false, 0,
								 psprintf("the URL of %s cannot be used", peer), detail);
		case CURLE_WRITE_ERROR:
			if (overflow)
				return PeerErrorMake(ERRCODE_PROGRAM_LIMIT_EXCEEDED, false, 0,
									 psprintf("the answer of %s is larger than crm.http_max_response_size", peer),
									 detail);
			if (oom)
				return PeerErrorMake(ERRCODE_OUT_OF_MEMORY, true, 0,
									 psprintf("out of memory reading the answer of %s", peer), detail);
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			return PeerErrorMake(ERRCODE_QUERY_CANCELED, false, 0,
								 psprintf("the request to %s was cancelled", peer), detail);
		default:
			break;
	}
	return PeerErrorMake(ERRCODE_CONNECTION_FAILURE, true, 0,
						 psprintf("the connection to %s failed", peer), detail);
}

CrmPeerError *
HttpStatusError(const CrmHttpRequest *req, const CrmHttpResponse *resp, const char *peer_message)
{
	const char *peer = req->peer;
	long		st = resp->status;
	char	   *said;
	char	   *detail;
	CrmPeerError *err;

	said = peer_message ? pstrdup(peer_message) : Excerpt(resp->body.data, resp->body.len, 300);
	detail = Redact(psprintf("HTTP %ld from %s %s: %s", st, req->method, req->url,
							 said[0] ? said : "(no message)"), req->secrets);
	if (st == 401 || st == 403)
	{
		err = PeerErrorMake(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, false, st,
							psprintf("%s refused the credentials", peer), detail);
		err->hint = pstrdup("Check the API key (crm.configure); the job stays stopped until the configuration changes.");
	}
	else if (st == 404)
		err = PeerErrorMake(ERRCODE_UNDEFINED_OBJECT, false, st,
							psprintf("%s does not know the requested resource", peer), detail);
	else if (st == 429)
		err = PeerErrorMake(ERRCODE_TOO_MANY_CONNECTIONS, true, st,
							psprintf("%s is rate-limiting requests", peer), detail);
	else if (st == 503)
		err = PeerErrorMake(ERRCODE_CANNOT_CONNECT_NOW, true, st,
							psprintf("%s is temporarily unavailable", peer), detail);
	else if (st >= 500)
		err = PeerErrorMake(ERRCODE_SYSTEM_ERROR, true, st,
							psprintf("%s failed to handle the request", peer), detail);
	else if (st >= 400)
		err = PeerErrorMake(ERRCODE_DATA_EXCEPTION, false, st,
							psprintf("%s refused the request", peer), detail);
	else
		err = PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, st,
							psprintf("%s gave an unexpected answer", peer), detail);
	if (err->retry && err->hint == NULL)
		err->hint = pstrdup("It is tried again later, with exponential backoff.");
	return err;
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct CurlSink
{
	StringInfo	buf;
	MemoryContext cxt;
	size_t		limit;
	bool		overflow;
	bool		oom;
	char		content_type[128];
} CurlSink;

/* Grows buf to hold n more bytes without ever raising an error. */
static bool
SinkReserve(CurlSink *sink, size_t n)
{
	StringInfo	buf = sink->buf;
	size_t		need = (size_t) buf->len + n + 1;
	size_t		newlen;
	char	   *p;

	if (need <= (size_t) buf->maxlen)
		return true;
	newlen = Max((size_t) buf->maxlen * 2, need);
	if (newlen > MaxAllocHugeSize)
		return false;
	p = MemoryContextAllocExtended(sink->cxt, newlen, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (p == NULL)
		return false;
	memcpy(p, buf->data, buf->len + 1);
	pfree(buf->data);
	buf->data = p;
	buf->maxlen = (int) Min(newlen, (size_t) PG_INT32_MAX);
	return true;
}

static size_t
SinkWrite(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	CurlSink   *sink = (CurlSink *) userdata;
	size_t		n = size * nmemb;

	if ((size_t) sink->buf->len + n > sink->limit)
	{
		sink->overflow = true;
		return 0;
	}
	if (!SinkReserve(sink, n))
	{
		sink->oom = true;
		return 0;
	}
	memcpy(sink->buf->data + sink->buf->len, ptr, n);
	sink->buf->len += (int) n;
	sink->buf->data[sink->buf->len] = '\0';
	return n;
}

static size_t
SinkHeader(char *ptr, size_t size, size_t nitems, void *userdata)
{
	CurlSink   *sink = (CurlSink *) userdata;
	size_t		n = size * nitems;

	if (n > 13 && pg_strncasecmp(ptr, "content-type:", 13) == 0)
	{
		size_t		i = 13,
					j = 0;

		while (i < n && (ptr[i] == ' ' || ptr[i] == '\t'))
			i++;
		while (i < n && ptr[i] != '\r' && ptr[i] != '\n' && j < sizeof(sink->content_type) - 1)
			sink->content_type[j++] = ptr[i++];
		sink->content_type[j] = '\0';
	}
	return n;
}

/* Stops a transfer when the backend is asked to cancel or to die. */
static int
Interrupted(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

#define CURL_SETOPT(h, opt, val) \
	do { \
		if ((setopt_rc = curl_easy_setopt((h), (opt), (val))) != CURLE_OK) \
		{ \
			setopt_name = #opt; \
			goto setopt_failed; \
		} \
	} while (0)

CrmPeerError *
HttpPerform(const CrmHttpRequest *req, CrmHttpResponse *resp)
{
	CURLcode	rc;
	CURLcode	setopt_rc = CURLE_OK;
	const char *setopt_name = NULL;
	struct curl_slist *headers = NULL;
	struct curl_slist *next;
	char		errbuf[CURL_ERROR_SIZE];
	CurlSink	sink;
	long		status = 0;
	curl_off_t	total_us = 0;
	curl_off_t	connect_us = 0;
	char	   *h_auth = NULL;
	char	   *h_key = NULL;
	char	   *h_type = NULL;
	char	   *what;

	CurlEnsure();
	/* everything that can raise is done before curl holds memory */
	memset(resp, 0, sizeof(*resp));
	initStringInfo(&resp->body);
	memset(&sink, 0, sizeof(sink));
	sink.buf = &resp->body;
	sink.cxt = CurrentMemoryContext;
	sink.limit = (size_t) crm_http_max_response_kb * 1024;
	errbuf[0] = '\0';
	if (req->bearer)
		h_auth = psprintf("Authorization: Bearer %s", req->bearer);
	if (req->idempotency_key)
		h_key = psprintf("Idempotency-Key: %s", req->idempotency_key);
	if (req->body)
		h_type = psprintf("Content-Type: %s", req->content_type ? req->content_type : "application/json");
	what = psprintf("%s %s", req->method, req->url);
	if (http_handle == NULL)
	{
		http_handle = curl_easy_init();
		if (http_handle == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	}

	curl_easy_reset(http_handle);
	next = curl_slist_append(headers, "Accept: application/json");
	if (next)
		headers = next;
	if (next && h_auth && (next = curl_slist_append(headers, h_auth)) != NULL)
		headers = next;
	if (next && h_key && (next = curl_slist_append(headers, h_key)) != NULL)
		headers = next;
	if (next && h_type && (next = curl_slist_append(headers, h_type)) != NULL)
		headers = next;
	if (next && (next = curl_slist_append(headers, "Expect:")) != NULL)
		headers = next;
	if (next == NULL)
	{
		curl_slist_free_all(headers);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}

	CURL_SETOPT(http_handle, CURLOPT_URL, req->url);
	CURL_SETOPT(http_handle, CURLOPT_PROTOCOLS_STR, "http,https");
	CURL_SETOPT(http_handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	CURL_SETOPT(http_handle, CURLOPT_FOLLOWLOCATION, 0L);
	CURL_SETOPT(http_handle, CURLOPT_NOSIGNAL, 1L);
	CURL_SETOPT(http_handle, CURLOPT_CONNECTTIMEOUT_MS, (long) crm_http_connect_timeout);
	CURL_SETOPT(http_handle, CURLOPT_TIMEOUT_MS, (long) crm_http_timeout);
	CURL_SETOPT(http_handle, CURLOPT_ERRORBUFFER, errbuf);
	CURL_SETOPT(http_handle, CURLOPT_WRITEFUNCTION, SinkWrite);
	CURL_SETOPT(http_handle, CURLOPT_WRITEDATA, &sink);
	CURL_SETOPT(http_handle, CURLOPT_HEADERFUNCTION, SinkHeader);
	CURL_SETOPT(http_handle, CURLOPT_HEADERDATA, &sink);
	CURL_SETOPT(http_handle, CURLOPT_NOPROGRESS, 0L);
	CURL_SETOPT(http_handle, CURLOPT_XFERINFOFUNCTION, Interrupted);
	CURL_SETOPT(http_handle, CURLOPT_USERAGENT, "crm/" CRM_VERSION " (PostgreSQL extension)");
	CURL_SETOPT(http_handle, CURLOPT_HTTPHEADER, headers);
	CURL_SETOPT(http_handle, CURLOPT_ACCEPT_ENCODING, "");
	if (req->ca_file)
		CURL_SETOPT(http_handle, CURLOPT_CAINFO, req->ca_file);
	if (req->basic_user)
	{
		CURL_SETOPT(http_handle, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		CURL_SETOPT(http_handle, CURLOPT_USERNAME, req->basic_user);
		CURL_SETOPT(http_handle, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
	}
	if (strcmp(req->method, "GET") == 0)
		CURL_SETOPT(http_handle, CURLOPT_HTTPGET, 1L);
	else
	{
		if (strcmp(req->method, "POST") != 0)
			CURL_SETOPT(http_handle, CURLOPT_CUSTOMREQUEST, req->method);
		CURL_SETOPT(http_handle, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (req->body ? req->body_len : 0));
		CURL_SETOPT(http_handle, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}

	rc = curl_easy_perform(http_handle);
	curl_easy_getinfo(http_handle, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(http_handle, CURLINFO_TOTAL_TIME_T, &total_us);
	curl_easy_getinfo(http_handle, CURLINFO_CONNECT_TIME_T, &connect_us);
	/* forget the credentials and the headers; the connection stays cached */
	curl_easy_reset(http_handle);
	curl_slist_free_all(headers);
	headers = NULL;

	/* curl has returned and holds nothing of ours: now a cancel may raise */
	CHECK_FOR_INTERRUPTS();

	if (rc != CURLE_OK)
		return CurlError(req->peer, what, rc, errbuf, sink.overflow, sink.oom, connect_us > 0,
						 crm_http_connect_timeout, req->secrets);
	resp->status = status;
	resp->seconds = total_us / 1e6;
	resp->content_type = sink.content_type[0] ? pstrdup(sink.content_type) : NULL;
	return NULL;

setopt_failed:
	curl_easy_reset(http_handle);
	curl_slist_free_all(headers);
	ereport(ERROR,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("could not set libcurl option %s", setopt_name),
			 errdetail("%s", curl_easy_strerror(setopt_rc))));
	pg_unreachable();
}

/* ---- IMAP ------------------------------------------------------------------ */

struct CrmImapSession
{
	CURL	   *h;
	curl_socket_t sock;
	int			tagno;
	StringInfoData in;			/* received and not yet consumed from pos */
	int			pos;
	size_t		max_literal;
	const char *const *secrets;
	char	   *url;
	char		errbuf[CURL_ERROR_SIZE];
	MemoryContextCallback cb;
	bool		closed;
};

static void
ImapRelease(void *arg)
{
	CrmImapSession *s = (CrmImapSession *) arg;

	if (!s->closed)
	{
		s->closed = true;
		curl_easy_cleanup(s->h);
		s->h = NULL;
	}
}

char *
ImapQuote(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *s);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

CrmPeerError *
ImapConnect(const char *url, const char *user, const char *password, const char *ca_file,
			const char *const *secrets, size_t max_literal, CrmImapSession **session)
{
	CrmImapSession *s;
	CURLcode	rc;
	CURLcode	setopt_rc = CURLE_OK;
	const char *setopt_name = NULL;
	curl_off_t	connect_us = 0;
	curl_socket_t sock = CURL_SOCKET_BAD;

	CurlEnsure();
	s = palloc0(sizeof(CrmImapSession));
	s->url = pstrdup(url);
	s->max_literal = max_literal;
	s->secrets = secrets;
	initStringInfo(&s->in);
	s->h = curl_easy_init();
	if (s->h == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not create a libcurl handle")));
	/* from here on the handle is freed with the session's memory context */
	s->cb.func = ImapRelease;
	s->cb.arg = s;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &s->cb);

	CURL_SETOPT(s->h, CURLOPT_URL, url);
	CURL_SETOPT(s->h, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	CURL_SETOPT(s->h, CURLOPT_NOSIGNAL, 1L);
	/* for IMAP, libcurl's connect phase includes the greeting and the login
	 * (which a server may delay after a failure): crm.http_timeout bounds it */
	CURL_SETOPT(s->h, CURLOPT_CONNECTTIMEOUT_MS, (long) Max(crm_http_connect_timeout, crm_http_timeout));
	CURL_SETOPT(s->h, CURLOPT_TIMEOUT_MS, (long) crm_http_timeout);
	CURL_SETOPT(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
	CURL_SETOPT(s->h, CURLOPT_NOPROGRESS, 0L);
	CURL_SETOPT(s->h, CURLOPT_XFERINFOFUNCTION, Interrupted);
	CURL_SETOPT(s->h, CURLOPT_USERNAME, user);
	CURL_SETOPT(s->h, CURLOPT_PASSWORD, password);
	CURL_SETOPT(s->h, CURLOPT_CONNECT_ONLY, 1L);
	if (ca_file)
		CURL_SETOPT(s->h, CURLOPT_CAINFO, ca_file);

	rc = curl_easy_perform(s->h);
	curl_easy_getinfo(s->h, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(s->h, CURLINFO_ACTIVESOCKET, &sock);
	if (rc != CURLE_OK || sock == CURL_SOCKET_BAD)
	{
		char	   *errcopy = pstrdup(s->errbuf);

		ImapRelease(s);
		CHECK_FOR_INTERRUPTS();
		return CurlError("the IMAP server", psprintf("connecting to %s", url),
						 rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc, errcopy,
						 false, false, connect_us > 0, Max(crm_http_connect_timeout, crm_http_timeout), secrets);
	}
	s->sock = sock;
	*session = s;
	return NULL;

setopt_failed:
	ImapRelease(s);
	ereport(ERROR,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("could not set libcurl option %s", setopt_name),
			 errdetail("%s", curl_easy_strerror(setopt_rc))));
	pg_unreachable();
}

typedef enum
{
	WAIT_READY,
	WAIT_TIMEOUT,
	WAIT_INTERRUPT,
	WAIT_ERROR
} WaitResult;

/* Waits until the socket can be read (or written), in slices of 100 ms. */
static WaitResult
ImapWait(CrmImapSession *s, bool for_write, TimestampTz deadline)
{
	for (;;)
	{
		struct pollfd pfd;
		long		secs;
		int			usecs;
		int			ms;
		int			n;

		if (QueryCancelPending || ProcDiePending)
			return WAIT_INTERRUPT;
		TimestampDifference(GetCurrentTimestamp(), deadline, &secs, &usecs);
		ms = (int) Min((long) 100, secs * 1000 + usecs / 1000);
		if (ms <= 0)
			return WAIT_TIMEOUT;
		pfd.fd = s->sock;
		pfd.events = for_write ? POLLOUT : POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return (pfd.revents & (POLLERR | POLLNVAL)) ? WAIT_ERROR : WAIT_READY;
		if (n < 0 && errno != EINTR)
			return WAIT_ERROR;
	}
}

/* The error for an IMAP exchange that failed; closes the session. */
static CrmPeerError *
ImapFail(CrmImapSession *s, WaitResult why, CURLcode rc, const char *what)
{
	char	   *detail;
	CrmPeerError *err;

	ImapRelease(s);
	if (why == WAIT_INTERRUPT)
	{
		CHECK_FOR_INTERRUPTS();
		return PeerErrorMake(ERRCODE_QUERY_CANCELED, false, 0, "the IMAP command was cancelled", what);
	}
	if (why == WAIT_TIMEOUT)
	{
		detail = Redact(psprintf("%s on %s: no complete answer within %d ms.", what, s->url, crm_http_timeout),
						s->secrets);
		err = PeerErrorMake(ERRCODE_CONNECTION_FAILURE, true, 0,
							psprintf("the IMAP server did not answer within %d ms", crm_http_timeout), detail);
		err->hint = pstrdup("It is tried again later; crm.http_timeout sets the limit.");
		return err;
	}
	detail = Redact(psprintf("%s on %s: %s.", what, s->url,
							 rc != CURLE_OK ? curl_easy_strerror(rc) : "the server closed the connection"),
					s->secrets);
	return PeerErrorMake(ERRCODE_CONNECTION_FAILURE, true, 0, "the connection to the IMAP server was lost", detail);
}

/* Receives more bytes into s->in; NULL or the failure. */
static CrmPeerError *
ImapReceive(CrmImapSession *s, TimestampTz deadline, const char *what)
{
	char		buf[16384];

	for (;;)
	{
		size_t		n = 0;
		CURLcode	rc = curl_easy_recv(s->h, buf, sizeof(buf), &n);

		if (rc == CURLE_AGAIN)
		{
			WaitResult w = ImapWait(s, false, deadline);

			if (w != WAIT_READY && w != WAIT_ERROR)
				return ImapFail(s, w, CURLE_OK, what);
			continue;
		}
		if (rc != CURLE_OK)
			return ImapFail(s, WAIT_ERROR, rc, what);
		if (n == 0)
			return ImapFail(s, WAIT_ERROR, CURLE_OK, what);
		/* drop what was consumed before growing */
		if (s->pos > 0)
		{
			memmove(s->in.data, s->in.data + s->pos, s->in.len - s->pos);
			s->in.len -= s->pos;
			s->in.data[s->in.len] = '\0';
			s->pos = 0;
		}
		appendBinaryStringInfo(&s->in, buf, (int) n);
		return NULL;
	}
}

CrmPeerError *
ImapCommand(CrmImapSession *s, const char *command, CrmImapReply *reply)
{
	char		tag[16];
	char	   *out;
	size_t		outlen;
	size_t		sent = 0;
	TimestampTz deadline;
	int			cap = 8;
	CrmImapUntagged *current = NULL;
	StringInfoData line;
	char	   *what;

	if (s->closed)
		return PeerErrorMake(ERRCODE_CONNECTION_FAILURE, true, 0, "the IMAP session is closed", NULL);
	memset(reply, 0, sizeof(*reply));
	reply->untagged = palloc0(sizeof(CrmImapUntagged) * cap);
	snprintf(tag, sizeof(tag), "C%d", ++s->tagno);
	out = psprintf("%s %s\r\n", tag, command);
	outlen = strlen(out);
	what = psprintf("IMAP %s", strncmp(command, "LOGIN", 5) == 0 ? "LOGIN" : command);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), crm_http_timeout);

	while (sent < outlen)
	{
		size_t		n = 0;
		CURLcode	rc = curl_easy_send(s->h, out + sent, outlen - sent, &n);

		if (rc == CURLE_AGAIN)
		{
			WaitResult w = ImapWait(s, true, deadline);

			if (w != WAIT_READY && w != WAIT_ERROR)
				return ImapFail(s, w, CURLE_OK, what);
			continue;
		}
		if (rc != CURLE_OK)
			return ImapFail(s, WAIT_ERROR, rc, what);
		sent += n;
	}

	initStringInfo(&line);
	for (;;)
	{
		char	   *crlf;
		int			linelen;
		int64		lit;
		CrmPeerError *err;

		/* one line, up to CRLF */
		while ((crlf = memchr(s->in.data + s->pos, '\n', s->in.len - s->pos)) == NULL)
		{
			if (s->in.len - s->pos > 1024 * 1024)
			{
				ImapRelease(s);
				return PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0,
									 "the IMAP server sent a line longer than 1 MB", what);
			}
			if ((err = ImapReceive(s, deadline, what)) != NULL)
				return err;
		}
		linelen = (int) (crlf - (s->in.data + s->pos));
		resetStringInfo(&line);
		appendBinaryStringInfo(&line, s->in.data + s->pos, linelen);
		if (line.len > 0 && line.data[line.len - 1] == '\r')
			line.data[--line.len] = '\0';
		s->pos += linelen + 1;

		if (current == NULL)
		{
			size_t		taglen = strlen(tag);

			if (strncmp(line.data, tag, taglen) == 0 && line.data[taglen] == ' ')
			{
				char	   *rest = line.data + taglen + 1;
				char	   *sp = strchr(rest, ' ');

				reply->status = sp ? pnstrdup(rest, sp - rest) : pstrdup(rest);
				reply->text = pstrdup(sp ? sp + 1 : "");
				return NULL;
			}
			if (line.data[0] != '*' && line.data[0] != '+')
			{
				ImapRelease(s);
				return PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0,
									 "the IMAP server sent something that is not a response",
									 Excerpt(line.data, line.len, 200));
			}
			if (reply->nuntagged == cap)
			{
				cap *= 2;
				reply->untagged = repalloc(reply->untagged, sizeof(CrmImapUntagged) * cap);
			}
			current = &reply->untagged[reply->nuntagged++];
			memset(current, 0, sizeof(*current));
			current->line = pstrdup("");
		}
		current->line = psprintf("%s%s", current->line, line.data);
		lit = crm_imap_literal_size(line.data, (size_t) line.len);
		if (lit == -2)
		{
			ImapRelease(s);
			return PeerErrorMake(ERRCODE_PROTOCOL_VIOLATION, true, 0, "the IMAP server announced an impossible literal", what);
		}
		if (lit < 0)
		{
			current = NULL;		/* the response is complete */
			continue;
		}
		/* a literal of lit bytes follows, then the rest of the response */
		{
			int64		left = lit;
			StringInfo	data = NULL;

			if ((size_t) lit <= s->max_literal)
			{
				data = makeStringInfo();
				enlargeStringInfo(data, (int) lit);
			}
			while (left > 0)
			{
				int			avail = s->in.len - s->pos;
				int			take;

				if (avail == 0)
				{
					if ((err = ImapReceive(s, deadline, what)) != NULL)
						return err;
					continue;
				}
				take = (int) Min((int64) avail, left);
				if (data)
					appendBinaryStringInfo(data, s->in.data + s->pos, take);
				s->pos += take;
				left -= take;
			}
			current->literals = current->nliterals == 0
				? palloc(sizeof(StringInfo) * 4)
				: repalloc(current->literals, sizeof(StringInfo) * (current->nliterals + 4));
			current->sizes = current->nliterals == 0
				? palloc(sizeof(int64) * 4)
				: repalloc(current->sizes, sizeof(int64) * (current->nliterals + 4));
			current->sizes[current->nliterals] = lit;
			current->literals[current->nliterals++] = data;		/* NULL: too large */
			if (data == NULL)
				current->line = psprintf("%s (literal of " INT64_FORMAT " bytes not kept)", current->line, lit);
		}
	}
}

void
ImapClose(CrmImapSession *s)
{
	if (s == NULL || s->closed)
		return;
	/* a polite LOGOUT when it is quick; the connection goes either way */
	{
		const char *bye = "Z LOGOUT\r\n";
		size_t		n = 0;

		(void) curl_easy_send(s->h, bye, strlen(bye), &n);
	}
	ImapRelease(s);
}
