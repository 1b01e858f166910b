/*
 * integration.h
 *	  What the job procedures (miko.c, mailbox.c, mailchimp.c) share: a run
 *	  of a peer's job, its lease and outcome (src/integration.sql), its
 *	  settings, and transaction steps.
 */
#ifndef CRM_INTEGRATION_H
#define CRM_INTEGRATION_H

#include "fmgr.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "http.h"

#define CRM_RUN_MAX_STATS 16
#define CRM_RUN_MAX_EXTRA_SECRETS 4

typedef struct CrmRun
{
	const char *peer;
	int64		run_id;			/* 0 when the run was skipped */
	char	   *watermark;		/* jsonb text at the start */
	MemoryContext cxt;			/* lives across the run's transactions */
	int			nsettings;
	char	  **names;
	char	  **values;
	const char **secrets;		/* NULL-terminated, for Redact() */
	TimestampTz renewed_at;		/* when the lease was last renewed */
	int			lease_ms;
	int			nstats;
	const char *stat_names[CRM_RUN_MAX_STATS];
	int64		stat_values[CRM_RUN_MAX_STATS];
} CrmRun;

/* Refuses to run inside a transaction block (the procedure commits). */
extern void CrmProcedureCheck(FunctionCallInfo fcinfo, const char *name);

/*
 * Starts a run (SPI must be connected non-atomically): takes the peer's
 * lease and commits.  Returns false, after a NOTICE saying why, when the
 * run is skipped (another run holds the lease, backoff, stopped, not
 * configured).
 */
extern bool CrmRunBegin(CrmRun *run, const char *peer);

extern const char *CrmRunSetting(CrmRun *run, const char *name);

/* One more string never to show (e.g. a secret as it goes on the wire). */
extern void CrmRunAddSecret(CrmRun *run, const char *secret);
extern int	CrmRunSettingInt(CrmRun *run, const char *name);

/* Adds to one of the numbers the run reports in its detail. */
extern void CrmRunCount(CrmRun *run, const char *name, int64 n);
extern int64 CrmRunCounted(CrmRun *run, const char *name);

/*
 * Renews the lease, saves the watermark (jsonb text, or NULL) and the
 * counts, and commits.  false: another run took the peer over; stop.
 */
extern bool CrmRunProgress(CrmRun *run, const char *watermark);

/*
 * Renews the lease (CrmRunProgress) only when a third of it has passed since
 * the last renewal: a long run keeps its peer without a commit per step.
 */
extern bool CrmRunKeepLease(CrmRun *run);

/* Records the outcome ("ok", "error", "cancelled") and commits. */
extern void CrmRunEnd(CrmRun *run, const char *outcome, const CrmPeerError *err, const char *watermark);

/* Records a failure and raises it. */
extern void CrmRunFail(CrmRun *run, const CrmPeerError *err, const char *watermark) pg_attribute_noreturn();

/*
 * Runs fn(arg) in a subtransaction (which takes no lock): returns NULL, or
 * the error it raised (a cancel, while talking to a peer), copied into the
 * run's context.  Peer failures come back as data, not through here.
 */
extern ErrorData *CrmGuard(CrmRun *run, void (*fn) (void *), void *arg);

/*
 * Runs a step of transaction work (fn) guarded: if it raises, the run is
 * ended with that error (recorded, lease released) and the error raised.
 */
extern void CrmStep(CrmRun *run, void (*fn) (void *), void *arg, const char *watermark);

/* After CrmGuard caught error: records the run as cancelled/failed, re-raises. */
extern void CrmRunRethrow(CrmRun *run, ErrorData *edata, const char *watermark) pg_attribute_noreturn();

/* Executes SQL with parameters, checking the result code. */
extern void CrmSpiExec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect);

/* Commits the current transaction (a new one starts at once). */
extern void CrmCommit(void);

/*
 * From now on the run's transactions commit without waiting for the WAL to
 * reach disk (synchronous_commit = off, transaction by transaction): for a
 * job whose work a crash could only make it do again -- what it writes comes
 * from the peer and the watermark moves with it -- and that changes nothing
 * at the peer after a commit.
 */
extern void CrmRunCommitAsync(void);

#endif							/* CRM_INTEGRATION_H */
