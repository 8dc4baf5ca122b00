/*-------------------------------------------------------------------------
 *
 * capture_sql.c
 *		SQL-callable functions of the capture pipeline: audit_log.flush(),
 *		the counters behind the audit_log.status view, and the writer pause
 *		used by tests.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "capture_trail.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(audit_log_flush);
PG_FUNCTION_INFO_V1(audit_log_capture_stats);
PG_FUNCTION_INFO_V1(audit_log_pause_writer);

/*
 * audit_log.flush(timeout interval): wait until every event queued before
 * the call has been written; false when the timeout passed first.
 */
Datum
audit_log_flush(PG_FUNCTION_ARGS)
{
	Interval   *timeout = PG_GETARG_INTERVAL_P(0);
	int64		timeout_us;

	al_require_preload("audit_log.flush()");

	timeout_us = timeout->time +
		(int64) timeout->day * USECS_PER_DAY +
		(int64) timeout->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (timeout_us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));

	PG_RETURN_BOOL(al_queue_wait_written((long) Min(timeout_us / 1000, (int64) LONG_MAX)));
}

/*
 * audit_log.capture_stats(): one row of counters for the audit_log.status
 * view.  Without preloading it reports preloaded = false and zeros.
 */
Datum
audit_log_capture_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9];
	AlQueueStats st;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	al_queue_stats(&st);
	memset(nulls, 0, sizeof(nulls));
	values[0] = BoolGetDatum(al_preloaded);
	values[1] = BoolGetDatum(al_preloaded && al_capture_mask != 0);
	values[2] = Int64GetDatum((int64) st.queued);
	values[3] = Int64GetDatum((int64) st.written);
	values[4] = Int64GetDatum((int64) st.dropped);
	values[5] = Int64GetDatum((int64) st.abandoned_logins);
	if (st.queued > 0 && st.oldest != 0)
	{
		TimestampTz now = GetCurrentTimestamp();
		Interval   *age = palloc0(sizeof(Interval));

		age->time = now > st.oldest ? now - st.oldest : 0;
		values[6] = IntervalPGetDatum(age);
	}
	else if (al_preloaded)
		values[6] = IntervalPGetDatum(palloc0(sizeof(Interval)));
	else
		nulls[6] = true;
	values[7] = Int64GetDatum((int64) st.enqueued);
	if (st.writer_pid != 0)
		values[8] = Int32GetDatum(st.writer_pid);
	else
		nulls[8] = true;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * audit_log.pause_writer(paused boolean): stop or restart writing, for
 * tests of a full queue.  Superuser only (no GRANT); returns the previous
 * state.  Not kept across a restart.
 */
Datum
audit_log_pause_writer(PG_FUNCTION_ARGS)
{
	al_require_preload("audit_log.pause_writer()");
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to pause the audit_log writer"),
				 errhint("Only a superuser may call audit_log.pause_writer().")));
	{
		bool		paused = PG_GETARG_BOOL(0);
		bool		previous = al_queue_set_paused(paused);

		/* stopping the writer stops the trail: on record (capture_trail.c) */
		al_trail_pause_writer(paused, previous);
		PG_RETURN_BOOL(previous);
	}
}
