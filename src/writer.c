/*-------------------------------------------------------------------------
 *
 * writer.c
 *		The background writer: takes captured events from the shared-memory
 *		queue (queue.c) and inserts them, in batches, into audit_log.events
 *		of the database named by audit_log.database.
 *
 * Every audit_log.flush_interval (or sooner, when the queue fills up or
 * audit_log.flush() asks) the writer copies up to AL_BATCH_MAX ready events,
 * inserts them in one transaction by table multi-insert (writer_bulk.c), or
 * with one prepared INSERT ... SELECT FROM unnest(...) where that path
 * steps back and for the batches that may hold rows already written (ON
 * CONFLICT DO NOTHING), and only after the commit frees their slots.  A
 * batch that fails is retried one event at a time, so that one bad event
 * cannot block the queue: an event that fails alone with a
 * data error is written to the server log and counted as dropped; any other
 * error (disk full, extension missing) makes the writer wait and retry.
 *
 * On a hot standby the writer sends the events to the primary
 * (standby_ship.c).  On SIGTERM it writes what is queued, waits briefly for
 * the LOGOUTs of client backends that are exiting too (fast shutdown), then
 * exits; whatever is left is saved by the postmaster (queue_file.c).  On
 * SIGHUP it reloads the configuration; settings_watch.c then queues one
 * AUDIT_LOG SETTINGS_CHANGE event per audit_log.* setting whose value
 * changed (and, at start, per setting changed while the server was down).
 *
 * The writer steps aside for the commands that need its database without
 * other sessions: DROP DATABASE, ALTER DATABASE ... RENAME and SET
 * TABLESPACE, CREATE DATABASE ... TEMPLATE.  They would otherwise wait 5 s
 * for its permanent connection (CountOtherDBBackends) and fail with
 * "database ... is being accessed by other users".  A utility hook in the
 * issuing backend (writer_step_aside.c), installed with the worker, sends
 * the writer SIGUSR2 before such a command runs; the writer exits at once
 * (code 1, its queued events stay in shared memory) and the postmaster
 * starts it again after bgw_restart_time.  The new writer's connection waits on the database
 * lock the command holds until the command ends, and then writes the
 * queue; after a DROP or a RENAME it cannot connect until audit_log.database
 * names a database again (the command warns; see README, "Caveats").
 * Nothing is lost: producers do not depend on the writer being there.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "al_json.h"
#include "alerts.h"
#include "audit_log.h"
#include "compat.h"
#include "event_line.h"
#include "intents.h"
#include "capture_rules.h"
#include "queue.h"
#include "settings_watch.h"
#include "standby_ship.h"
#include "version.h"
#include "writer.h"

/* Most events written by one transaction. */
#define AL_BATCH_MAX 4096

/* Least time between two resolutions of intents left behind. */
#define AL_RESOLVE_MS 2000

/* How long the writer waits before retrying after a failure. */
#define AL_RETRY_MS 1000

/* Seconds after which the postmaster starts an exited writer again. */
#define AL_RESTART_S 5

/* Longest time a SIGTERM'd writer keeps writing before it exits. */
#define AL_DRAIN_MS 10000

/* ... and how long, once the queue was empty, it waits for sessions to end. */
#define AL_DRAIN_IDLE_MS 2000

/* Outcome of one write attempt. */
typedef enum AlWriteResult
{
	AL_WRITE_IDLE,				/* nothing queued */
	AL_WRITE_SOME,				/* wrote a partial batch */
	AL_WRITE_MORE,				/* more may be ready: go on at once */
	AL_WRITE_BLOCKED			/* cannot write now: wait and retry */
} AlWriteResult;

static volatile sig_atomic_t got_sigterm = false;
static volatile sig_atomic_t got_step_aside = false;

static AuditEvent *al_batch = NULL;
/* [with origin (1.1)][plain, ON CONFLICT] */
static SPIPlanPtr al_insert_plan[2][2] = {{NULL, NULL}, {NULL, NULL}};
static MemoryContext al_writer_cxt = NULL;
static int	al_careful_left = 0;	/* events to write with ON CONFLICT */
static int	al_single_left = 0;	/* events still to retry one by one */
static bool al_said_missing = false;
static bool al_said_standby = false;
static int	al_last_sqlstate = 0;
static bool al_last_transient = false;	/* last failure is a race, not data */
static char al_last_message[256];	/* its message, for a drop's DETAIL */
static TimestampTz al_last_failure_logged = 0;	/* rate limit, see below */
static int	al_failures_unlogged = 0;


static const char *const al_insert_sql =
"INSERT INTO audit_log.events (event_id, request_time, logged_time,"
" event_category, event_type, event_status, event_status_reason_code,"
" user_name, object_name, client_addr, application_name, database_name,"
" backend_pid, session_id, source_node, entry_data)"
" SELECT u.event_id, u.request_time, $1,"
" u.category::audit_log.event_category, u.event_type,"
" u.status::audit_log.event_status, u.reason, u.user_name, u.object_name,"
" u.client_addr::pg_catalog.inet, u.application_name, u.database_name,"
" u.backend_pid, u.session_id, $2, u.entry_data::pg_catalog.jsonb"
" FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), "
"pg_catalog.unnest($5), pg_catalog.unnest($6), "
"pg_catalog.unnest($7), pg_catalog.unnest($8), "
"pg_catalog.unnest($9), pg_catalog.unnest($10), "
"pg_catalog.unnest($11), pg_catalog.unnest($12), "
"pg_catalog.unnest($13), pg_catalog.unnest($14), "
"pg_catalog.unnest($15), pg_catalog.unnest($16)) AS u("
"event_id, request_time, category, event_type, status,"
" reason, user_name, object_name, client_addr, application_name,"
" database_name, backend_pid, session_id, entry_data)";

/*
 * The same from 1.1 on, with each event's origin ($17): the two differ
 * only in that column.
 */
static const char *const al_insert_origin_sql =
"INSERT INTO audit_log.events (event_id, request_time, logged_time,"
" event_category, event_type, event_status, event_status_reason_code,"
" user_name, object_name, client_addr, application_name, database_name,"
" backend_pid, session_id, source_node, entry_data, origin)"
" SELECT u.event_id, u.request_time, $1,"
" u.category::audit_log.event_category, u.event_type,"
" u.status::audit_log.event_status, u.reason, u.user_name, u.object_name,"
" u.client_addr::pg_catalog.inet, u.application_name, u.database_name,"
" u.backend_pid, u.session_id, $2, u.entry_data::pg_catalog.jsonb,"
" u.origin::audit_log.event_origin"
" FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4), "
"pg_catalog.unnest($5), pg_catalog.unnest($6), "
"pg_catalog.unnest($7), pg_catalog.unnest($8), "
"pg_catalog.unnest($9), pg_catalog.unnest($10), "
"pg_catalog.unnest($11), pg_catalog.unnest($12), "
"pg_catalog.unnest($13), pg_catalog.unnest($14), "
"pg_catalog.unnest($15), pg_catalog.unnest($16), "
"pg_catalog.unnest($17)) AS u("
"event_id, request_time, category, event_type, status,"
" reason, user_name, object_name, client_addr, application_name,"
" database_name, backend_pid, session_id, entry_data, origin)";

/*
 * Appended when a batch may hold events already written (a retry, or the
 * first batch of a new writer): speculative insertion costs about twice a
 * plain INSERT, so it is used only then.
 */
static const char *const al_on_conflict_sql = " ON CONFLICT DO NOTHING";

#define AL_INSERT_NARGS_10 16
#define AL_INSERT_NARGS 17

/*
 * Register the writer.  Called from _PG_init when preloaded.
 */
void
al_writer_init(void)
{
	BackgroundWorker worker;

	/*
	 * Not in binary-upgrade mode: pg_upgrade drops and recreates the
	 * databases, and a connected writer would make its DROP DATABASE fail;
	 * nothing done then is an event anyway (the queue stays saved in the
	 * old cluster: see README, "Upgrade across majors").
	 */
	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* consistent state: on a hot standby it runs too, to say it waits */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = AL_RESTART_S;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "audit_log");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "al_writer_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "audit_log writer");
	snprintf(worker.bgw_type, BGW_MAXLEN, "audit_log writer");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);

	/*
	 * The step-aside request (see the file header; writer_step_aside.c).
	 * Installed before the administrative capture's hook, so that hook runs
	 * first and records a command that fails here or below.
	 */
	al_writer_step_aside_init();
}

/* SIGUSR2: a command needs the writer's database (writer_step_aside.c). */
static void
al_writer_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_step_aside = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
al_writer_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Build a one-dimensional array, with NULLs where nulls[i]. */
static Datum
al_array(Datum *elems, bool *nulls, int n, Oid elemtype, int typlen,
		 bool byval, char align)
{
	int			dims[1];
	int			lbs[1];

	dims[0] = n;
	lbs[0] = 1;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  elemtype, typlen, byval, align));
}

/*
 * A text datum of s, valid in the database encoding.  Names from a startup
 * packet arrive before any encoding is known (and may have been clipped
 * mid-character): an invalid byte becomes '?', so that no invalid text
 * reaches the table.
 */
Datum
al_writer_text_datum(const char *s)
{
	int			len = strlen(s);
	int			enc = GetDatabaseEncoding();
	char	   *copy;
	int			pos = 0;

	if (pg_encoding_verifymbstr(enc, s, len) == len)
		return CStringGetTextDatum(s);
	copy = pstrdup(s);
	while (pos < len)
	{
		pos += pg_encoding_verifymbstr(enc, copy + pos, len - pos);
		if (pos < len)
			copy[pos++] = '?';
	}
	return CStringGetTextDatum(copy);
}

/* A text[] of one string field of the events; an empty string is NULL. */
static Datum
al_text_array(const AuditEvent *evs, int n, size_t offset)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *s = ((const char *) &evs[i]) + offset;

		nulls[i] = (s[0] == '\0');
		elems[i] = nulls[i] ? (Datum) 0 : al_writer_text_datum(s);
	}
	return al_array(elems, nulls, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* Is the extension (and its table) there to write into? */
bool
al_extension_ready(void)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid("audit_log", true)))
		return false;
	nsp = get_namespace_oid("audit_log", true);
	if (!OidIsValid(nsp))
		return false;
	return OidIsValid(get_relname_relid("events", nsp));
}

/*
 * Take the default partition's lock before the INSERT routes any row.
 *
 * maintain() (and a restore's ATTACH PARTITION) attaches a day's partition
 * while holding ACCESS EXCLUSIVE on events_default until its commit, but
 * only SHARE UPDATE EXCLUSIVE on events.  Without this lock, an INSERT that
 * opened events before that commit routes today's rows with the old
 * partition list to events_default, then waits for its lock, and once it
 * has it fails with "violates partition constraint", since the default's
 * constraint now excludes today.  Locking events_default first makes the
 * writer wait for the partition change to commit before it looks at the
 * partition list (acquiring the lock processes the invalidations), so each
 * row goes to the partition it belongs to.  The lock is the one the INSERT
 * takes anyway when a row goes there; it is fast-path and costs nothing
 * measurable.  Taking events' lock first does not weaken this: the lock on
 * events_default is still acquired (and the invalidations processed) before
 * the INSERT builds its partition list.
 */
static void
al_lock_default_partition(void)
{
	Oid			nsp = get_namespace_oid("audit_log", true);
	Oid			relid;

	if (!OidIsValid(nsp))
		return;
	/*
	 * events first, as the INSERT itself and every statement of the
	 * extension lock it (retention holds it in ACCESS EXCLUSIVE and then
	 * asks for events_default): the other order deadlocks.
	 */
	relid = get_relname_relid("events", nsp);
	if (OidIsValid(relid))
		LockRelationOid(relid, RowExclusiveLock);
	relid = get_relname_relid("events_default", nsp);

	/*
	 * Not waited for: a session of the extension that holds events_default
	 * (retention and maintain() move its rows first) asks for events next,
	 * which this transaction now holds: waiting would deadlock.  The batch
	 * is retried instead (al_error_is_transient), the session goes on.
	 */
	if (OidIsValid(relid) && !ConditionalLockRelationOid(relid, RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("audit_log.events_default is locked by a partition change"),
				 errdetail("The batch is written again once the change has committed.")));
}

/*
 * Is this failure a race with a partition change rather than a bad event?
 * "new row for relation ... violates partition constraint" is raised without
 * a constraint name (a CHECK constraint such as events_entry_data_object
 * names itself); routing always finds a partition that accepts a row, so
 * the same row succeeds once the concurrent ATTACH or DETACH has committed.
 * Such an event is retried, never dropped.
 */
static bool
al_error_is_transient(const ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_CHECK_VIOLATION && edata->constraint_name == NULL)
		return true;
	/* the relation was dropped or replaced under a cached plan */
	if (edata->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
		edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE)
		return true;
	return false;
}

/*
 * Log a failed write, at most once a second: while the disk is full every
 * arriving event wakes the writer, which would otherwise log a line per
 * attempt into a log that is short of space too.  The line after a quiet
 * spell says how many failures were not logged.
 */
static void
al_log_write_failure(const ErrorData *edata, int n)
{
	TimestampTz now = GetCurrentTimestamp();

	if (al_last_failure_logged != 0 &&
		!TimestampDifferenceExceeds(al_last_failure_logged, now, 1000))
	{
		al_failures_unlogged++;
		return;
	}
	if (al_failures_unlogged > 0)
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("audit_log: could not write %d captured events: %s", n, edata->message),
				 errdetail("The events stay queued and are retried.  %d more failed attempts since the last message were not logged.",
						   al_failures_unlogged)));
	else
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("audit_log: could not write %d captured events: %s", n, edata->message),
				 errdetail("The events stay queued and are retried.")));
	al_last_failure_logged = now;
	al_failures_unlogged = 0;
}

/*
 * Record, once the table can be written again, an AUDIT_LOG CAPTURE_GAP
 * event for the events that went to the server log instead (queue full, a
 * failed save of the queue, a saved queue that did not fit, an event the
 * writer could not insert): how many, of which categories, between which
 * request times, for which reasons, and where they are.  It goes through
 * the queue like any event.  Under a 1.0 schema (no CAPTURE_GAP type) the
 * counts wait until ALTER EXTENSION UPDATE.
 */
static void
al_record_gap(void)
{
	AlGapCounts gap;
	AuditEvent	ev;
	AlJson		js;
	int			i;
	int			top = 0;
	int			version;

	al_queue_take_gap(&gap);
	if (gap.total == 0)
		return;

	StartTransactionCommand();
	version = al_installed_version_num();
	CommitTransactionCommand();
	MemoryContextSwitchTo(al_writer_cxt);
	if (version < 101)
	{
		al_queue_return_gap(&gap);
		return;
	}

	al_event_init_session(&ev, AL_CAT_AUDIT_LOG, "CAPTURE_GAP", false);
	for (i = 1; i < AL_GAP_NUM_REASONS; i++)
		if (gap.by_reason[i] > gap.by_reason[top])
			top = i;
	for (i = 0; al_gap_reason_names[top][i] != '\0' && i < AL_REASON_LEN - 1; i++)
		ev.reason_code[i] = pg_toupper((unsigned char) al_gap_reason_names[top][i]);
	ev.reason_code[i] = '\0';
	strlcpy(ev.object_name, "audit_log.events", sizeof(ev.object_name));

	al_json_init(&js, ev.entry_data, sizeof(ev.entry_data), false);
	al_json_int(&js, "events", (int) Min(gap.total, (uint64) PG_INT32_MAX));
	al_json_str(&js, "from", timestamptz_to_str(gap.first));
	al_json_str(&js, "to", timestamptz_to_str(gap.last));
	al_json_obj_begin(&js, "categories");
	for (i = 0; i < AL_NUM_CATEGORIES; i++)
		if (gap.by_category[i] > 0)
			al_json_int(&js, al_category_names[i], (int) Min(gap.by_category[i], (uint64) PG_INT32_MAX));
	al_json_obj_end(&js);
	al_json_obj_begin(&js, "reasons");
	for (i = 0; i < AL_GAP_NUM_REASONS; i++)
		if (gap.by_reason[i] > 0)
			al_json_int(&js, al_gap_reason_names[i], (int) Min(gap.by_reason[i], (uint64) PG_INT32_MAX));
	al_json_obj_end(&js);
	al_json_str(&js, "went_to", "server log");
	al_json_str(&js, "find_with", "lines \"audit_log: {...}\" with DETAIL \"... not written to audit_log.events\"");
	(void) al_json_finish(&js);

	if (!al_enqueue(&ev))
		al_queue_return_gap(&gap);
	else
		ereport(LOG,
				(errmsg("audit_log: recorded a CAPTURE_GAP event for %llu events that are only in the server log",
						(unsigned long long) gap.total)));
}

void
al_writer_report_and_abort(MemoryContext cxt)
{
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
}

/*
 * The batch by the prepared INSERT ... SELECT FROM unnest(...) (with ON
 * CONFLICT DO NOTHING when careful), inside al_insert_events' transaction;
 * returns SPI_execute_plan's code.
 */
static int
al_insert_by_sql(const AuditEvent *evs, int n, bool with_origin, bool careful,
				 TimestampTz logged_time)
{
	Datum		values[AL_INSERT_NARGS];
	char		nulls[AL_INSERT_NARGS];
	Datum	   *elems;
	bool	   *enulls;
	int			i;

	if (al_insert_plan[with_origin][careful] == NULL)
	{
		Oid			argtypes[AL_INSERT_NARGS] = {
			TIMESTAMPTZOID, TEXTOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID,
			TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
			TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
			TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
			TEXTARRAYOID
		};
		const char *sql = with_origin ? al_insert_origin_sql : al_insert_sql;
		SPIPlanPtr	plan;

		plan = SPI_prepare(careful ? psprintf("%s%s", sql, al_on_conflict_sql) : sql,
						   with_origin ? AL_INSERT_NARGS : AL_INSERT_NARGS_10,
						   argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		al_insert_plan[with_origin][careful] = plan;
	}

	memset(nulls, ' ', sizeof(nulls));
	values[0] = TimestampTzGetDatum(logged_time);
	values[1] = CStringGetTextDatum(al_source_node());

	elems = palloc(sizeof(Datum) * n);
	enulls = palloc0(sizeof(bool) * n);
	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum((pg_uuid_t *) &evs[i].event_id);
	values[2] = al_array(elems, enulls, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);

	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = TimestampTzGetDatum(evs[i].request_time);
	values[3] = al_array(elems, enulls, n, TIMESTAMPTZOID, sizeof(TimestampTz),
						 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);

	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(al_category_names[evs[i].category < AL_NUM_CATEGORIES ? evs[i].category : AL_CAT_AUDIT_LOG]);
	values[4] = al_array(elems, enulls, n, TEXTOID, -1, false, TYPALIGN_INT);

	values[5] = al_text_array(evs, n, offsetof(AuditEvent, event_type));

	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(evs[i].success ? "SUCCESS" : "FAILURE");
	values[6] = al_array(elems, enulls, n, TEXTOID, -1, false, TYPALIGN_INT);

	values[7] = al_text_array(evs, n, offsetof(AuditEvent, reason_code));
	values[8] = al_text_array(evs, n, offsetof(AuditEvent, user_name));
	values[9] = al_text_array(evs, n, offsetof(AuditEvent, object_name));
	values[10] = al_text_array(evs, n, offsetof(AuditEvent, client_addr));
	values[11] = al_text_array(evs, n, offsetof(AuditEvent, application_name));
	values[12] = al_text_array(evs, n, offsetof(AuditEvent, database_name));

	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = Int32GetDatum(evs[i].backend_pid);
	values[13] = al_array(elems, enulls, n, INT4OID, sizeof(int32), true, TYPALIGN_INT);

	values[14] = al_text_array(evs, n, offsetof(AuditEvent, session_id));

	elems = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(evs[i].entry_data[0] != '\0' ? evs[i].entry_data : "{}");
	values[15] = al_array(elems, enulls, n, TEXTOID, -1, false, TYPALIGN_INT);

	if (with_origin)
	{
		elems = palloc(sizeof(Datum) * n);
		for (i = 0; i < n; i++)
			elems[i] = CStringGetTextDatum(al_origin_names[evs[i].origin < AL_NUM_ORIGINS ? evs[i].origin : AL_ORIGIN_SERVER]);
		values[16] = al_array(elems, enulls, n, TEXTOID, -1, false, TYPALIGN_INT);
	}

	return SPI_execute_plan(al_insert_plan[with_origin][careful], values, nulls, false, 0);
}

/*
 * Insert n events in one transaction.  Returns 1 when committed, 0 when the
 * extension is not installed (nothing done), -1 on error (logged, rolled
 * back, SQLSTATE in al_last_sqlstate).
 */
static int
al_insert_events(const AuditEvent *evs, int n, bool careful)
{
	volatile int result = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "audit_log: writing captured events");

		if (!al_extension_ready())
			result = 0;
		else
		{
			/* the origin column exists from 1.1 on: asked once per batch */
			bool		with_origin = al_installed_version_num() >= 101;

			TimestampTz logged_time = GetCurrentTimestamp();

			al_lock_default_partition();

			/*
			 * A table multi-insert when the batch cannot hold events already
			 * written (writer_bulk.c); else, or when that path steps back,
			 * the INSERT.
			 */
			if (!careful &&
				al_writer_bulk_insert(evs, n, with_origin, logged_time, al_source_node()))
				rc = SPI_OK_INSERT;
			else
				rc = al_insert_by_sql(evs, n, with_origin, careful, logged_time);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "audit_log writer: INSERT returned %s", SPI_result_code_string(rc));
			/* the same transaction deletes the intents these events replace */
			al_intents_delete_finals(evs, n);
			result = 1;
		}

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(al_writer_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		al_last_sqlstate = edata->sqlerrcode;
		al_last_transient = al_error_is_transient(edata);
		strlcpy(al_last_message, edata->message ? edata->message : "", sizeof(al_last_message));
		al_log_write_failure(edata, n);
		FreeErrorData(edata);
		AbortCurrentTransaction();
		result = -1;
	}
	PG_END_TRY();

	MemoryContextSwitchTo(al_writer_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	return result;
}

/*
 * One write attempt: take what is ready and insert it.
 */
static AlWriteResult
al_write_some(void)
{
	int			max = al_single_left > 0 ? 1 : AL_BATCH_MAX;
	bool		careful = al_careful_left > 0 || al_single_left > 0;
	int			taken;
	int			n;
	int			rc;
	int			i;

	if (al_queue_is_paused())
		return AL_WRITE_BLOCKED;

	if (RecoveryInProgress())
	{
		if (!al_said_standby)
		{
			al_said_standby = true;
			al_queue_set_standby(true);
		}
		/* a standby sends its events to the primary (standby_ship.c) */
		n = al_standby_ship(al_batch, AL_BATCH_MAX);
		if (n < 0)
			return AL_WRITE_BLOCKED;
		if (n == 0)
			return AL_WRITE_IDLE;

		/*
		 * The primary took a batch: the events the standby dropped while it
		 * could not be reached (its queue full) become a CAPTURE_GAP event,
		 * queued here and sent with the next batch, so the gap is a row on
		 * the primary too (issue 16, t/024).
		 */
		al_record_gap();
		return n == AL_BATCH_MAX ? AL_WRITE_MORE : AL_WRITE_SOME;
	}
	if (al_said_standby)
	{
		al_said_standby = false;
		al_standby_disconnect();
		al_queue_set_standby(false);
	}

	taken = al_queue_peek(al_batch, max);
	if (taken == 0)
		return AL_WRITE_IDLE;

	/* intents first, in their own transaction (intents.c) */
	n = taken;
	if (!al_intents_write(al_batch, &n))
		return AL_WRITE_BLOCKED;
	if (n == 0)
	{
		al_queue_release(taken, false);
		return taken == max ? AL_WRITE_MORE : AL_WRITE_SOME;
	}

	rc = al_insert_events(al_batch, n, careful);
	if (rc == 0)
	{
		if (!al_said_missing)
		{
			ereport(LOG,
					(errmsg("audit_log: extension audit_log is not installed in database \"%s\", captured events stay queued", al_database),
					 errhint("Run CREATE EXTENSION audit_log in database \"%s\", or set audit_log.database.", al_database)));
			al_said_missing = true;
		}
		return AL_WRITE_BLOCKED;
	}
	if (al_said_missing)
	{
		ereport(LOG,
				(errmsg("audit_log: extension audit_log found in database \"%s\", writing captured events", al_database)));
		al_said_missing = false;
	}

	if (rc > 0)
	{
		al_queue_release(taken, false);
		al_alerts_batch(al_batch, n);	/* alerts.c: threshold rules */
		al_writer_note_prepared(al_batch, n, al_writer_cxt);
		al_record_gap();
		al_queue_retry_reserve();
		if (al_log_to_server)
			for (i = 0; i < n; i++)
				al_log_event_line(&al_batch[i], false);
		if (al_single_left > 0)
			al_single_left -= taken;
		else if (al_careful_left > 0)
			al_careful_left = Max(al_careful_left - n, 0);
		return taken == max ? AL_WRITE_MORE : AL_WRITE_SOME;
	}

	/* failed: retry with ON CONFLICT DO NOTHING, in case rows were there */
	if (!careful)
	{
		al_careful_left = n;
		return AL_WRITE_MORE;
	}

	/* failed again: retry one event at a time to find the bad one */
	if (taken > 1)
	{
		al_single_left = taken;
		return AL_WRITE_MORE;
	}

	/*
	 * One event that fails alone with a data or integrity error would block
	 * the queue forever: put it in the server log instead.  A race with a
	 * partition change is not the event's fault: it is retried.
	 */
	if (!al_last_transient &&
		(ERRCODE_TO_CATEGORY(al_last_sqlstate) == ERRCODE_DATA_EXCEPTION ||
		 ERRCODE_TO_CATEGORY(al_last_sqlstate) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION))
	{
		al_log_dropped_event(&al_batch[0], al_last_message);
		al_queue_release_failed(1, &al_batch[0]);
		if (al_single_left > 0)
			al_single_left--;
		return AL_WRITE_MORE;
	}
	return AL_WRITE_BLOCKED;
}

/*
 * Number of client backends (walsenders and workers not counted) still
 * alive.  A backend leaves the status array only after its before_shmem_exit
 * callbacks, so after its LOGOUT is queued.
 */
static int
al_client_backends(void)
{
	int			n;
	int			i;
	int			count = 0;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *entry = pgstat_get_local_beentry_by_index(i);

		if (entry != NULL && entry->backendStatus.st_backendType == B_BACKEND)
			count++;
	}
	return count;
}

/* SIGHUP: reload, then report every audit_log.* setting that changed. */
static void
al_writer_reload(void)
{
	bool		captured = al_category_captured(AL_CAT_AUDIT_LOG);

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	al_settings_watch_reloaded(captured);
}

/*
 * With the queue emptied, resolve the intents left behind (intents.c): at
 * once after the writer starts (a crash or power loss may have left some),
 * then at most once every AL_RESOLVE_MS, however busy the server.
 */
static void
al_writer_resolve_intents(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (last != 0 && !TimestampDifferenceExceeds(last, now, AL_RESOLVE_MS))
		return;
	last = now;
	if (RecoveryInProgress())
		return;
	al_intents_resolve();
}

/*
 * Entry point of the background writer.
 */
void
al_writer_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, al_writer_sigterm);
	pqsignal(SIGUSR2, al_writer_sigusr2);
	BackgroundWorkerUnblockSignals();

	al_writer_cxt = AllocSetContextCreate(TopMemoryContext,
										  "audit_log writer",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(al_writer_cxt);
	al_batch = palloc(sizeof(AuditEvent) * AL_BATCH_MAX);
	al_intents_start(al_writer_cxt, AL_BATCH_MAX);

	BackgroundWorkerInitializeConnection(al_database, NULL, 0);
	pgstat_report_appname("audit_log writer");
	al_queue_attach_writer();
	al_settings_watch_start(al_writer_cxt);

	/* A library newer than the installed extension says so, once. */
	StartTransactionCommand();
	al_warn_if_update_pending();
	CommitTransactionCommand();

	/* the capture rules apply from now on (capture_rules.c) */
	StartTransactionCommand();
	al_capture_rules_load();
	CommitTransactionCommand();

	/*
	 * A writer that died after its commit but before it freed the slots
	 * left at most one batch at the tail that is already in the table: the
	 * events queued now, up to a batch, are written skipping rows already
	 * there.  Whatever is queued from now on cannot be in the table yet,
	 * and takes the multi-insert (writer_bulk.c).
	 */
	{
		AlQueueStats st;

		al_queue_stats(&st);
		al_careful_left = (int) Min(st.queued, (uint64) AL_BATCH_MAX);
	}

	ereport(LOG,
			(errmsg("audit_log: writer started, writing captured events into database \"%s\"", al_database)));

	while (!got_sigterm)
	{
		AlWriteResult res;
		long		timeout;

		if (got_step_aside)
		{
			/* leave the database at once; the queue stays in shared memory */
			ereport(LOG,
					(errmsg("audit_log: writer leaves database \"%s\" for a command that needs it without other sessions", al_database),
					 errdetail("A new writer starts in %d s; its connection waits until that command ends.", AL_RESTART_S)));
			proc_exit(1);
		}

		if (ConfigReloadPending)
			al_writer_reload();

		res = al_write_some();
		al_queue_set_blocked(res == AL_WRITE_BLOCKED);
		al_alerts_tick();		/* follow-ups of windows that ended */
		if (res != AL_WRITE_BLOCKED)
			al_writer_resolve_prepared(al_writer_cxt);
		if (res == AL_WRITE_MORE)
		{
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		/*
		 * The queue was emptied by this batch (a partial one) or was empty:
		 * resolve the intents left behind.  Not only when idle: on a server
		 * where sessions keep coming the writer may never find the queue
		 * empty, and an intent would wait for the first quiet moment.
		 */
		if (res == AL_WRITE_IDLE || res == AL_WRITE_SOME)
			al_writer_resolve_intents();
		timeout = (res == AL_WRITE_BLOCKED && !al_queue_is_paused()) ?
			AL_RETRY_MS : al_flush_interval_ms;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/*
	 * SIGTERM: write what is queued (best effort, bounded in time), then
	 * exit.  In a fast shutdown the client backends are told to exit at the
	 * same moment as the writer and queue their LOGOUTs as they go: once the
	 * queue is empty, wait a little for them, so that their events are
	 * written now rather than after the next start.  What is left is saved
	 * by the postmaster.
	 */
	{
		TimestampTz start = GetCurrentTimestamp();
		TimestampTz idle_since = 0;

		while (!TimestampDifferenceExceeds(start, GetCurrentTimestamp(), AL_DRAIN_MS))
		{
			AlWriteResult res = al_write_some();

			if (res == AL_WRITE_BLOCKED)
				break;
			if (res == AL_WRITE_IDLE && idle_since == 0)
				idle_since = GetCurrentTimestamp();
			if (idle_since == 0)
				continue;		/* first empty the queue */
			if (al_client_backends() == 0)
			{
				(void) al_write_some();
				break;
			}
			if (TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(), AL_DRAIN_IDLE_MS))
				break;			/* not a shutdown: sessions go on */
			if (res == AL_WRITE_IDLE)
				pg_usleep(10000L);
		}
	}

	/*
	 * Exit code 1 makes the postmaster start a new writer after
	 * bgw_restart_time (code 0 would unregister it); at shutdown no new one
	 * is started.
	 */
	proc_exit(1);
}
