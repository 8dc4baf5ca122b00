/*-------------------------------------------------------------------------
 *
 * writer_prepared.c
 *		The writer's side of two-phase commit: an administrative command in
 *		a transaction that is PREPAREd is recorded as a PREPARED event; once
 *		that transaction is committed or rolled back (COMMIT PREPARED,
 *		ROLLBACK PREPARED, possibly in another session or after a restart)
 *		the writer records its outcome as a second event.
 *
 * The PREPARED events the writer has committed are noted in the 1.1 table
 * audit_log._prepared_pending; at most once a second, while notes exist,
 * the writer looks them up with pg_xact_status() and queues the outcome.
 * Under a 1.0 schema nothing is noted, as in 1.0.  Runs only in the writer.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit_log.h"
#include "queue.h"
#include "version.h"
#include "writer.h"

static bool al_prepared_waiting = true;	/* _prepared_pending may have rows */
static TimestampTz al_prepared_checked = 0;

/*
 * The transaction id of a PREPARED administrative event (capture_admin.c
 * puts it into entry_data.prepared.xid), or 0.
 */
static uint64
al_prepared_xid(const AuditEvent *ev)
{
	const char *p;

	if (strcmp(ev->reason_code, "PREPARED") != 0)
		return 0;
	p = strstr(ev->entry_data, "\"prepared\": {");
	if (p == NULL || (p = strstr(p, "\"xid\": \"")) == NULL)
		return 0;
	return strtou64(p + 8, NULL, 10);
}

/*
 * After a batch is committed: note its PREPARED events in
 * audit_log._prepared_pending, so that their final outcome is recorded
 * (al_writer_resolve_prepared).  Under a 1.0 schema (no such table) nothing is
 * done, as in 1.0.  A crash between the batch and this note leaves that
 * PREPARED event without its second event.
 */
void
al_writer_note_prepared(const AuditEvent *evs, int n, MemoryContext cxt)
{
	int			i;
	bool		any = false;

	for (i = 0; i < n && !any; i++)
		any = al_prepared_xid(&evs[i]) != 0;
	if (!any)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		if (al_installed_version_num() >= 101)
		{
			for (i = 0; i < n; i++)
			{
				uint64		xid = al_prepared_xid(&evs[i]);
				Oid			types[2] = {UUIDOID, TEXTOID};
				Datum		values[2];

				if (xid == 0)
					continue;
				values[0] = UUIDPGetDatum((pg_uuid_t *) &evs[i].event_id);
				values[1] = CStringGetTextDatum(psprintf(UINT64_FORMAT, xid));
				if (SPI_execute_with_args("INSERT INTO audit_log._prepared_pending (event_id, xid)"
										  " VALUES ($1, $2::pg_catalog.xid8) ON CONFLICT DO NOTHING",
										  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
					elog(ERROR, "could not note a prepared event");
			}
			al_prepared_waiting = true;
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		al_writer_report_and_abort(cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

/* Copy text column col of row into dst (empty if NULL). */
static void
al_spi_text(SPITupleTable *tt, int row, int col, char *dst, size_t len)
{
	char	   *v = SPI_getvalue(tt->vals[row], tt->tupdesc, col);

	if (v == NULL)
		dst[0] = '\0';
	else
		al_strlcpy_clip(dst, v, len);
}

/*
 * Record the final outcome of PREPARED events whose transaction was
 * committed or rolled back since (see the 1.1 table _prepared_pending):
 * each gets a second event, the same with SUCCESS (COMMIT PREPARED) or
 * FAILURE / ROLLBACK_PREPARED, queued like any event; the note is removed in
 * the same transaction, after the events are queued, so that a crash may
 * repeat an outcome but never lose one.  At most once a second, and only
 * while notes may exist.
 */
void
al_writer_resolve_prepared(MemoryContext cxt)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!al_prepared_waiting ||
		!TimestampDifferenceExceeds(al_prepared_checked, now, 1000))
		return;
	al_prepared_checked = now;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		uint64		i;
		uint64		rows;
		SPITupleTable *tt;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!al_extension_ready() || al_installed_version_num() < 101)
			al_prepared_waiting = false;
		else
		{
			if (SPI_execute("SELECT e.event_category::text, e.event_type,"
							" s.st = 'committed', CASE WHEN s.st = 'committed' THEN NULL"
							"  WHEN s.st = 'aborted' THEN 'ROLLBACK_PREPARED' ELSE 'OUTCOME_UNKNOWN' END,"
							" e.user_name, e.object_name, pg_catalog.host(e.client_addr),"
							" e.application_name, e.database_name, e.backend_pid::text, e.session_id,"
							" (e.entry_data || pg_catalog.jsonb_build_object('prepared_event_id', e.event_id,"
							"  'outcome', CASE WHEN s.st = 'committed' THEN 'COMMIT PREPARED'"
							"  WHEN s.st = 'aborted' THEN 'ROLLBACK PREPARED' ELSE 'unknown' END))::text,"
							" p.event_id::text"
							" FROM audit_log._prepared_pending p"
							" CROSS JOIN LATERAL (SELECT pg_catalog.pg_xact_status(p.xid) AS st) s"
							" JOIN audit_log.events e ON e.event_id = p.event_id"
							" WHERE s.st IS DISTINCT FROM 'in progress'",
							true, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not read the prepared events");
			rows = SPI_processed;
			tt = SPI_tuptable;	/* the DELETEs below replace SPI_tuptable */
			for (i = 0; i < rows; i++)
			{
				AuditEvent	ev;
				char		buf[64];
				char	   *v;
				int			c;
				Oid			types[1] = {TEXTOID};
				Datum		values[1];

				memset(&ev, 0, sizeof(ev));
				ev.request_time = GetCurrentTimestamp();
				al_uuid7(&ev.event_id, ev.request_time);
				al_spi_text(tt, i, 1, buf, sizeof(buf));
				ev.category = AL_CAT_AUDIT_LOG;
				for (c = 0; c < AL_NUM_CATEGORIES; c++)
					if (strcmp(buf, al_category_names[c]) == 0)
						ev.category = c;
				al_spi_text(tt, i, 2, ev.event_type, sizeof(ev.event_type));
				v = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
				ev.success = (v != NULL && v[0] == 't');
				al_spi_text(tt, i, 4, ev.reason_code, sizeof(ev.reason_code));
				al_spi_text(tt, i, 5, ev.user_name, sizeof(ev.user_name));
				al_spi_text(tt, i, 6, ev.object_name, sizeof(ev.object_name));
				al_spi_text(tt, i, 7, ev.client_addr, sizeof(ev.client_addr));
				al_spi_text(tt, i, 8, ev.application_name, sizeof(ev.application_name));
				al_spi_text(tt, i, 9, ev.database_name, sizeof(ev.database_name));
				al_spi_text(tt, i, 10, buf, sizeof(buf));
				ev.backend_pid = buf[0] != '\0' ? atoi(buf) : 0;
				al_spi_text(tt, i, 11, ev.session_id, sizeof(ev.session_id));
				v = SPI_getvalue(tt->vals[i], tt->tupdesc, 12);
				if (v != NULL && strlen(v) < sizeof(ev.entry_data))
					strcpy(ev.entry_data, v);
				else
				{
					char	   *id = SPI_getvalue(tt->vals[i], tt->tupdesc, 13);

					snprintf(ev.entry_data, sizeof(ev.entry_data),
							 "{\"prepared_event_id\": \"%s\", \"outcome\": \"%s\", \"truncated\": true}",
							 id, ev.success ? "COMMIT PREPARED" : "ROLLBACK PREPARED");
				}
				if (!al_enqueue(&ev))
					continue;	/* dropped to the server log: counted, a gap */
				values[0] = CStringGetTextDatum(SPI_getvalue(tt->vals[i], tt->tupdesc, 13));
				if (SPI_execute_with_args("DELETE FROM audit_log._prepared_pending WHERE event_id = $1::pg_catalog.uuid",
										  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
					elog(ERROR, "could not remove a resolved prepared event");
			}
			if (SPI_execute("SELECT 1 FROM audit_log._prepared_pending LIMIT 1", true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read the prepared events");
			al_prepared_waiting = SPI_processed > 0;
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		al_writer_report_and_abort(cxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}
