/*
 * http.h
 *	  The HTTP and IMAP client of crm (libcurl): requests that can be
 *	  cancelled, with timeouts from crm.http_connect_timeout and
 *	  crm.http_timeout, whose failures come back as data (CrmPeerError) so
 *	  that a job can record them before it raises them.
 */
#ifndef CRM_HTTP_H
#define CRM_HTTP_H

#include "lib/stringinfo.h"

/* A failure talking to a peer, as an error to record and then raise. */
typedef struct CrmPeerError
{
	int			sqlerrcode;		/* ERRCODE_... */
	char	   *message;		/* errmsg: lower case, no period */
	char	   *detail;			/* errdetail: the peer's status and message */
	char	   *hint;			/* or NULL */
	long		http_status;	/* 0 when there was no HTTP answer */
	bool		retry;			/* transient: back off and try again */
} CrmPeerError;

typedef struct CrmHttpRequest
{
	const char *peer;			/* "mailchimp", for messages */
	const char *method;			/* GET, POST, PUT */
	const char *url;
	const char *body;			/* or NULL */
	size_t		body_len;
	const char *content_type;	/* of the body */
	const char *bearer;			/* Authorization: Bearer, or NULL */
	const char *basic_user;		/* HTTP Basic, or NULL */
	const char *basic_password;
	const char *idempotency_key;	/* Idempotency-Key header, or NULL */
	const char *ca_file;		/* CA bundle, or NULL for the system's */
	const char *const *secrets; /* NULL-terminated; never shown in errors */
} CrmHttpRequest;

typedef struct CrmHttpResponse
{
	long		status;			/* HTTP status, 0 if none */
	StringInfoData body;		/* palloc'd, NUL-terminated */
	char	   *content_type;	/* or NULL */
	double		seconds;		/* total time */
} CrmHttpResponse;

extern int	crm_http_connect_timeout;
extern int	crm_http_timeout;

extern void HttpInit(void);

/*
 * Performs a request.  Returns NULL when the peer answered (any status;
 * the caller judges it), or the transport failure (timeout, refused,
 * reset, TLS) as a CrmPeerError.  curl's memory is freed before it returns;
 * a pending cancel or termination is raised after that (never inside curl).
 */
extern CrmPeerError *HttpPerform(const CrmHttpRequest *req, CrmHttpResponse *resp);

/*
 * An HTTP answer that is not a success, as a CrmPeerError: 401/403 refused
 * credentials, 404 not found, 429 and 503 busy, other 5xx peer error, other
 * 4xx a request the peer refused.  peer_message is the peer's own message
 * (from its error body), or NULL.
 */
extern CrmPeerError *HttpStatusError(const CrmHttpRequest *req, const CrmHttpResponse *resp,
									 const char *peer_message);

/* Raises a peer error (ERROR). */
extern void PeerErrorRaise(const CrmPeerError *err) pg_attribute_noreturn();

/* A CrmPeerError made from parts. */
extern CrmPeerError *PeerErrorMake(int sqlerrcode, bool retry, long http_status,
								   const char *message, const char *detail);

/* Replaces every secret in text by ******** (in place when possible). */
extern char *Redact(const char *text, const char *const *secrets);

/* A peer's text fit for a message: printable, valid UTF-8, at most 300 bytes. */
extern char *PeerText(const char *text);

/* URL-encodes a query or path component (palloc'd). */
extern char *HttpEscape(const char *s);

/* ---- IMAP over the same client: a session on one connection ---- */
typedef struct CrmImapSession CrmImapSession;

/* One untagged response: its line(s), with each literal in literals[]. */
typedef struct CrmImapUntagged
{
	char	   *line;			/* the response without literals, NUL-terminated */
	int			nliterals;
	StringInfo *literals;		/* NULL where a literal was too large to keep */
	int64	   *sizes;			/* each literal's size */
} CrmImapUntagged;

typedef struct CrmImapReply
{
	char	   *status;			/* OK, NO or BAD */
	char	   *text;			/* the rest of the tagged line */
	int			nuntagged;
	CrmImapUntagged *untagged;
} CrmImapReply;

/*
 * Connects and logs in (imap:// or imaps:// URL, no path).  The session is
 * closed when the memory context it was made in goes, if not before.
 */
extern CrmPeerError *ImapConnect(const char *url, const char *user, const char *password,
								 const char *ca_file, const char *const *secrets,
								 size_t max_literal, CrmImapSession **session);

/* Sends one command (without tag) and reads the reply up to its tag. */
extern CrmPeerError *ImapCommand(CrmImapSession *s, const char *command, CrmImapReply *reply);

/* Logs out (best effort) and closes the connection. */
extern void ImapClose(CrmImapSession *s);

/* Quotes a string for an IMAP command (quoted form). */
extern char *ImapQuote(const char *s);

#endif							/* CRM_HTTP_H */
