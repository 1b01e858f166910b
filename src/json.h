/*
 * json.h
 *	  Reading the peers' JSON (jansson, in json.c only: the server exports a
 *	  json_object() too, see README "Building").  This header does not
 *	  include jansson, so any file may use it.
 */
#ifndef CRM_JSON_H
#define CRM_JSON_H

extern void JsonInit(void);

/* One CDR row of MikoPBX (GET /pbxcore/api/v3/cdr?grouped=false). */
typedef struct CrmCdr
{
	int64		id;
	char	   *linkedid;
	char	   *start;			/* PBX local time, "YYYY-MM-DD HH:MM:SS[.fff]" */
	char	   *answer;			/* or "" */
	char	   *endtime;		/* or "" */
	char	   *src_num;
	char	   *dst_num;
	char	   *did;
	char	   *disposition;
	char	   *recordingfile;
	int			duration;
	int			billsec;
} CrmCdr;

typedef struct CrmCdrPage
{
	int			nrecords;
	CrmCdr	   *records;
	bool		has_more;
	int64		total;
} CrmCdrPage;

/*
 * Parses a MikoPBX CDR list answer {"result": true, "data": {"records": [...],
 * "pagination": {...}}}.  Returns NULL, or what is wrong with it.
 */
extern char *JsonMikoCdrPage(const char *body, size_t len, CrmCdrPage *page);

/* The error messages of a MikoPBX answer ("messages": {"error": [...]}), or NULL. */
extern char *JsonMikoMessage(const char *body, size_t len);

/* A member MailChimp refused in a batch. */
typedef struct CrmMemberError
{
	char	   *email;
	char	   *error;
	char	   *code;
	char	   *field;			/* or NULL */
} CrmMemberError;

typedef struct CrmBatchResult
{
	int			total_created;
	int			total_updated;
	int			error_count;
	int			nerrors;
	CrmMemberError *errors;
} CrmBatchResult;

/*
 * Parses the answer to POST /lists/{list_id} (batch subscribe): totals and
 * errors[] (email_address, error, error_code, field, field_message).
 * Returns NULL, or what is wrong with it.
 */
extern char *JsonMailchimpBatch(const char *body, size_t len, CrmBatchResult *result);

/* "title: detail" of a MailChimp error answer (RFC 7807 problem), or NULL. */
extern char *JsonMailchimpMessage(const char *body, size_t len);

#endif							/* CRM_JSON_H */
