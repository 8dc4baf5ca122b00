/*-------------------------------------------------------------------------
 *
 * intents.c
 *		A committed administrative change is never without its event, even
 *		across a power loss at any instant (audit_log.synchronous on, or
 *		audit_log.on_failure = fail).
 *
 * Before a transaction with captured administrative events commits,
 * capture_admin.c queues an intent of each event (AL_INTENT_RECORD, with
 * the transaction's FullTransactionId) and waits until the writer has
 * committed it into audit_log.capture_intents.  The transaction's commit
 * record comes after the intent's in the WAL, so whenever the change is
 * durable its intent is too.  Then:
 *
 * - the event itself (AL_INTENT_FINAL, SUCCESS or FAILURE) is written into
 *   audit_log.events and deletes its intent in the same transaction
 *   (al_intents_delete_finals, called by the writer's INSERT);
 * - an intent left behind (the postmaster killed, the power lost, the
 *   event dropped) is resolved by al_intents_resolve: once its transaction
 *   is no longer in progress, the event is written with the true outcome
 *   (committed: SUCCESS; aborted, including a transaction that was running
 *   at a crash: FAILURE ROLLBACK; too old to tell: FAILURE
 *   UNKNOWN_OUTCOME), with "from_intent": true in entry_data, and the
 *   intent deleted.  Inserting with ON CONFLICT DO NOTHING keeps one row
 *   per event_id when the event itself arrives too.
 *
 * Under a 1.0 schema (no capture_intents table) intents are acknowledged
 * without being written: capture behaves as in 1.0.  Runs only in the
 * writer.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "event_line.h"
#include "intents.h"
#include "queue.h"
#include "version.h"

/* The intents of the current batch, taken out of it. */
static AuditEvent *al_intent_buf = NULL;
static MemoryContext al_intent_cxt = NULL;

static const char *const al_intent_insert_sql =
"INSERT INTO audit_log.capture_intents (event_id, xid, event)"
" SELECT u.event_id, u.xid::pg_catalog.xid8, u.event::pg_catalog.jsonb"
" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
" pg_catalog.unnest($3)) AS u(event_id, xid, event)"
" ON CONFLICT DO NOTHING";

static const char *const al_intent_delete_sql =
"DELETE FROM audit_log.capture_intents WHERE event_id = ANY ($1)";

static const char *const al_intent_resolve_sql =
"WITH done AS ("
" DELETE FROM audit_log.capture_intents i"
" WHERE pg_catalog.pg_xact_status(i.xid) IS DISTINCT FROM 'in progress'"
" RETURNING i.event, pg_catalog.pg_xact_status(i.xid) AS status)"
" INSERT INTO audit_log.events (event_id, request_time, logged_time,"
" event_category, event_type, event_status, event_status_reason_code,"
" user_name, object_name, client_addr, application_name, database_name,"
" backend_pid, session_id, source_node, entry_data, origin)"
" SELECT r.event_id, r.request_time, pg_catalog.now(), r.event_category,"
" r.event_type,"
" CASE WHEN d.status = 'committed' THEN 'SUCCESS' ELSE 'FAILURE' END::audit_log.event_status,"
" CASE WHEN d.status = 'committed' THEN NULL"
" WHEN d.status = 'aborted' THEN 'ROLLBACK' ELSE 'UNKNOWN_OUTCOME' END,"
" r.user_name, r.object_name, r.client_addr, r.application_name,"
" r.database_name, r.backend_pid, r.session_id, r.source_node,"
" r.entry_data OPERATOR(pg_catalog.||) '{\"from_intent\": true}'::pg_catalog.jsonb,"
" COALESCE(r.origin, 'SERVER')"
" FROM done d,"
" pg_catalog.jsonb_populate_record(NULL::audit_log.events, d.event) AS r"
" ON CONFLICT DO NOTHING";

/*
 * Is there a table to write intents into?  A 1.1 schema (checked once per
 * batch), and the table itself.
 */
static bool
al_intents_table_ready(void)
{
	Oid			nsp;

	if (al_installed_version_num() < 101)
		return false;
	nsp = get_namespace_oid("audit_log", true);
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("capture_intents", nsp));
}

/* Start: the writer's memory context and its batch size. */
void
al_intents_start(MemoryContext cxt, int batch_max)
{
	al_intent_cxt = cxt;
	al_intent_buf = MemoryContextAlloc(cxt, sizeof(AuditEvent) * batch_max);
}

/* A one-dimensional text[] of n C strings. */
static Datum
al_cstring_array(char **strs, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(strs[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* A uuid[] of the event ids of n events. */
static Datum
al_uuid_array(const AuditEvent *evs, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum((pg_uuid_t *) &evs[i].event_id);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * Take the intents out of a batch of *n events (the others keep their
 * order, *n becomes their number) and write them, in their own
 * transaction, before the events of the batch.  Returns false when that
 * failed (logged, rolled back): the whole batch stays queued.
 */
bool
al_intents_write(AuditEvent *batch, int *n)
{
	int			nintents = 0;
	int			kept = 0;
	int			i;
	volatile bool ok = false;

	for (i = 0; i < *n; i++)
	{
		if (batch[i].intent == AL_INTENT_RECORD)
			memcpy(&al_intent_buf[nintents++], &batch[i], sizeof(AuditEvent));
		else
		{
			if (kept != i)
				memcpy(&batch[kept], &batch[i], sizeof(AuditEvent));
			kept++;
		}
	}
	*n = kept;
	if (nintents == 0)
		return true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "audit_log: writing intents");
		if (al_intents_table_ready())
		{
			Oid			argtypes[3] = {UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
			Datum		values[3];
			char	  **xids = palloc(sizeof(char *) * nintents);
			char	  **events = palloc(sizeof(char *) * nintents);
			int			rc;

			for (i = 0; i < nintents; i++)
			{
				xids[i] = psprintf(UINT64_FORMAT, al_intent_buf[i].intent_xid);
				events[i] = palloc(8192);
				al_format_event_json(&al_intent_buf[i], events[i], 8192);
				if (events[i][0] == '\0')
					elog(ERROR, "audit_log: an intent does not fit into its JSON form");
			}
			values[0] = al_uuid_array(al_intent_buf, nintents);
			values[1] = al_cstring_array(xids, nintents);
			values[2] = al_cstring_array(events, nintents);
			rc = SPI_execute_with_args(al_intent_insert_sql, 3, argtypes,
									   values, NULL, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "audit_log writer: INSERT of intents returned %s",
					 SPI_result_code_string(rc));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(al_intent_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("audit_log: could not write %d intents: %s", nintents, edata->message),
				 errdetail("The events stay queued and are retried.")));
		FreeErrorData(edata);
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(al_intent_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/*
 * Inside the writer's transaction that inserts n events (SPI connected):
 * delete the intents those events replace.  Nothing to do (and no catalog
 * look-up) for a batch without such events.
 */
void
al_intents_delete_finals(const AuditEvent *evs, int n)
{
	AuditEvent *finals = NULL;
	int			nfinals = 0;
	int			i;
	Oid			argtypes[1] = {UUIDARRAYOID};
	Datum		values[1];
	int			rc;

	for (i = 0; i < n; i++)
		if (evs[i].intent == AL_INTENT_FINAL)
		{
			if (finals == NULL)
				finals = palloc(sizeof(AuditEvent) * n);
			memcpy(&finals[nfinals++], &evs[i], sizeof(AuditEvent));
		}
	if (nfinals == 0 || !al_intents_table_ready())
		return;

	/*
	 * A batch of nothing but such events need not wait for its WAL flush:
	 * their intents are durable already, and an intent whose event was
	 * lost with an unflushed commit is resolved to the same outcome.  The
	 * rows are visible at once all the same; this saves one fsync per
	 * administrative command with audit_log.synchronous on.
	 */
	if (nfinals == n)
	{
		rc = SPI_execute("SET LOCAL synchronous_commit TO off", false, 0);
		if (rc != SPI_OK_UTILITY)
			elog(ERROR, "audit_log writer: SET LOCAL returned %s",
				 SPI_result_code_string(rc));
	}
	values[0] = al_uuid_array(finals, nfinals);
	rc = SPI_execute_with_args(al_intent_delete_sql, 1, argtypes, values,
							   NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "audit_log writer: DELETE of intents returned %s",
			 SPI_result_code_string(rc));
}

/*
 * Resolve the intents whose transaction is over: write their events with
 * the true outcome.  Called by the writer once a batch has emptied its
 * queue; errors are logged and the intents stay for the next try.
 */
void
al_intents_resolve(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		if (al_intents_table_ready())
		{
			int			rc;

			pgstat_report_activity(STATE_RUNNING, "audit_log: resolving intents");
			rc = SPI_execute(al_intent_resolve_sql, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "audit_log writer: resolving intents returned %s",
					 SPI_result_code_string(rc));
			if (SPI_processed > 0)
				ereport(LOG,
						(errmsg("audit_log: wrote %llu events from intents whose transactions ended without their event",
								(unsigned long long) SPI_processed)));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(al_intent_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("audit_log: could not resolve intents: %s", edata->message)));
		FreeErrorData(edata);
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(al_intent_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
}
