/*
 * intake.h
 *	  Declarations shared by the C files of the intake concern (R3-R9):
 *	  intake.c (the SQL-callable functions), intake_match.c (matching, leads,
 *	  the saved plans), intake_mime.c (GMime) and intake_text.c (pure C).
 */
#ifndef CRM_INTAKE_H
#define CRM_INTAKE_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "contactkey.h"

/* at most this many phones + e-mails of one request are matched */
#define INTAKE_MAX_KEYS 16

/*
 * One request, whatever its channel: what intake_match.c records, matches
 * and turns into a lead, an appended interaction or a triage case.
 */
typedef struct IntakeRequest
{
	const char *channel;		/* phone, email, chat */
	const char *source;			/* pbx, manual, jivo_..., template code */
	const char *direction;		/* in, out, internal: only "in" makes leads */
	TimestampTz occurred_at;
	const char *dedup_key;		/* call:<linkedid>, email:<id> ... */
	const char *party;			/* the other side as it arrived */
	const char *subject;
	const char *body;
	const char *request;		/* what they asked */
	const char *contact_name;
	const char *company;
	const char *describe;		/* for notifications: "звонок с +7..." */
	const char *details;		/* jsonb text, or NULL for {} */
	int32		employee_id;	/* who typed it, 0 for none */
	bool		quiet;			/* sent by a machine (bounce, auto-reply): recorded,
								 * joins a known counterparty's history, but makes
								 * no lead, no inquiry and tells nobody */

	/* the matching keys: raw value as given, key, 'p'hone or 'e'-mail */
	int			nkeys;
	const char *value[INTAKE_MAX_KEYS];
	const char *key[INTAKE_MAX_KEYS];
	char		kind[INTAKE_MAX_KEYS];

	/* call columns (NULL / has_* false for other channels) */
	const char *caller;
	const char *called;
	const char *disposition;
	const char *recording;
	bool		has_answered,
				has_ended,
				has_duration,
				has_billsec;
	TimestampTz answered_at;
	TimestampTz ended_at;
	int32		duration;
	int32		billsec;
} IntakeRequest;

/* what became of a request */
typedef enum IntakeOutcome
{
	INTAKE_EXISTED,				/* the dedup key was known: nothing new */
	INTAKE_KNOWN,				/* appended to a known counterparty's history */
	INTAKE_NEW_LEAD,			/* a lead and its inquiry were created */
	INTAKE_ANONYMOUS,			/* an inquiry without contacts, for triage */
	INTAKE_CONFLICT,			/* keys of different counterparties: triage */
	INTAKE_PLAIN				/* recorded only (internal, outgoing) */
} IntakeOutcome;

/* intake_match.c */
typedef struct _SPI_plan *IntakePlanPtr;
extern IntakePlanPtr IntakeSavedPlan(IntakePlanPtr *slot, const char *sql, int nargs, const Oid *types);
extern void IntakeExec(IntakePlanPtr plan, Datum *values, const char *nulls, bool read_only, long tcount);
extern bool IntakeIsFuture(TimestampTz ts);
extern int64 IntakeCallHead(const char *dedup_key, const char *caller_key, long caller_ext,
							const char *called_key, long called_ext, bool *caller_own, bool *called_own);
extern void IntakeCallUpdate(int64 id, const IntakeRequest *r);
extern void IntakeOwnKeys(const IntakeRequest *r, bool *own);
extern void IntakeRequestInit(IntakeRequest *r);
extern bool IntakeAddKey(IntakeRequest *r, char kind, const char *value, const char *key);
extern void IntakeLockKey(uint32 space, const char *key);
extern int64 IntakeFindExisting(const char *dedup_key);
extern int64 IntakeProcess(IntakeRequest *r, IntakeOutcome *outcome);
extern int64 IntakeCallIn(IntakeRequest *r, bool *existed, IntakeOutcome *outcome);
extern void IntakeCheckFuture(TimestampTz ts, const char *what);
extern int32 IntakeMaxMessageBytes(void);
extern bool IntakeEmployeeRole(int32 employee, char **role);

/* lock spaces (the first key of the advisory lock tag) */
#define INTAKE_LOCK_DEDUP	0x43524D44	/* 'CRMD': one call / message / event */
#define INTAKE_LOCK_CONTACT	0x43524D4B	/* 'CRMK': one phone or e-mail key */

/* intake_mime.c: a message as GMime reads it, copied into palloc'd memory */
typedef struct MailAttachment
{
	char	   *filename;
	char	   *content_type;
	int64		size;
} MailAttachment;

typedef struct MailMessage
{
	char	   *message_id;		/* without <>, or NULL */
	char	   *from_name;
	char	   *from_addr;
	char	   *reply_to_name;
	char	   *reply_to_addr;
	char	   *to;				/* the To addresses, comma-separated */
	char	   *subject;		/* decoded (RFC 2047), UTF-8 */
	bool		has_date;
	TimestampTz date;
	char	   *text;			/* the body as UTF-8 text */
	bool		text_from_html; /* reduced from an HTML-only body */
	char	   *charset;		/* the body part's declared charset */
	List	   *attachments;	/* of MailAttachment */
	char	   *automatic;		/* why it was sent by a machine, or NULL */
	List	   *notes;			/* of char *: MIME damage found, charset guesses */
} MailMessage;

extern void MailParse(const char *raw, size_t len, MailMessage *m);

#endif							/* CRM_INTAKE_H */
