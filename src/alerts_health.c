/*-------------------------------------------------------------------------
 *
 * alerts_health.c
 *		The built-in alerts on the audit log's own failure (PCI DSS 10.7),
 *		always on: the writer not writing while events wait
 *		(audit_log:writer_stalled), a failed export or pg_cron job
 *		(audit_log:export_failed, audit_log:job_failed) and a collector's
 *		source lagging (audit_log:collector_lag).  Dropped events
 *		(audit_log:capture_gap) are counted from the CAPTURE_GAP events of
 *		the batches, in alerts.c.
 *
 * Runs in the writer only, from al_alerts_tick and al_alerts_batch.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "al_json.h"
#include "alerts.h"
#include "alerts_internal.h"
#include "audit_log.h"
#include "fleet.h"
#include "queue.h"
#include "writer.h"

/*
 * The writer not writing while events wait: checked each turn of its loop.
 * Once the oldest queued event is AL_ALERT_STALL_MS old (and the writer is
 * not paused by pause_writer, nor on a standby), the alert goes at once to
 * the server log, alert_command and, if a transaction can commit, NOTIFY;
 * its ALERT row is written with the first batch that commits again.
 */
static bool al_stalled = false;
static bool al_stall_unwritten = false;
static char al_stall_json[AL_ENTRY_DATA_LEN];

void
al_stall_check(TimestampTz now)
{
	AlQueueStats stats;
	AlJson		js;
	char		buf[MAXDATELEN + 1];
	MemoryContext oldcxt = CurrentMemoryContext;

	al_queue_stats(&stats);
	if (stats.queued == 0 || stats.oldest == 0 || stats.paused || RecoveryInProgress() ||
		!TimestampDifferenceExceeds(stats.oldest, now, AL_ALERT_STALL_MS))
	{
		al_stalled = false;
		return;
	}
	if (al_stalled)
		return;
	al_stalled = true;

	al_json_init(&js, al_stall_json, sizeof(al_stall_json), false);
	al_json_str(&js, "rule", "audit_log:writer_stalled");
	al_json_str(&js, "kind", "alert");
	al_json_str(&js, "group_by", "none");
	al_json_str(&js, "group_key", "");
	al_json_int(&js, "count", (int) Min(stats.queued, (uint64) PG_INT32_MAX));
	al_json_int(&js, "dropped_since_start", (int) Min(stats.dropped, (uint64) PG_INT32_MAX));
	al_json_int(&js, "threshold_ms", AL_ALERT_STALL_MS);
	al_iso(stats.oldest, buf);
	al_json_str(&js, "window_start", buf);
	al_iso(now, buf);
	al_json_str(&js, "window_end", buf);
	al_json_str(&js, "fired_at", buf);
	al_json_str(&js, "detail", "events wait in the queue and the writer cannot write them");
	(void) al_json_finish(&js);

	ereport(LOG,
			(errmsg("audit_log: alert %s", al_stall_json)));
	al_alert_run_command(al_stall_json);
	al_stall_unwritten = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		Async_Notify("audit_log_alert", al_stall_json);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		al_writer_report_and_abort(oldcxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}

/* A batch committed: the stall's ALERT row can be written now. */
void
al_stall_written(void)
{
	AlFiring   *f;

	if (!al_stall_unwritten || al_nfirings >= AL_ALERT_MAX_FIRINGS)
		return;
	f = &al_firings[al_nfirings++];
	f->builtin = true;
	f->notify = false;
	strlcpy(f->rule, "audit_log:writer_stalled", sizeof(f->rule));
	strlcpy(f->json, al_stall_json, sizeof(f->json));
	al_stall_unwritten = false;
}

/* Feed one failure found by al_alerts_check_jobs to the built-in rule. */
static void
al_feed_builtin(const char *rule, const char *event_id, TimestampTz ts,
				const char *object, TimestampTz now, int64 lag_ms)
{
	AuditEvent	ev;
	int			k;

	memset(&ev, 0, sizeof(ev));
	ev.request_time = ts;
	if (event_id != NULL)
		ev.event_id = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(event_id)));
	al_strlcpy_clip(ev.object_name, object, AL_NAME_LEN);
	for (k = 0; k < al_nrules; k++)
		if (strcmp(al_rules[k]->name, rule) == 0)
			al_rule_count(al_rules[k], &ev, now, lag_ms);
}

/*
 * audit_log:collector_lag (SPI connected): each source of this collector
 * whose lag (fleet.c) is audit_log.alert_collector_lag or more counts once
 * per look.  The first look that finds it lagging fires the alert; while
 * it goes on lagging, one follow-up per window (the threshold, at least
 * AL_ALERT_LAG_WINDOW_MS) with the number of looks that found it lagging
 * and its lag at the last; once a window passes without, the next is a
 * new alert.  Off (nothing read) when the setting is 0.
 */
static void
al_alerts_check_lag(TimestampTz now)
{
	AlSourceLag *lags;
	AlAlertRule *r = NULL;
	int64		threshold_ms = (int64) al_alert_collector_lag_s * 1000;
	int			n;
	int			i;

	for (i = 0; i < al_nrules && r == NULL; i++)
		if (strcmp(al_rules[i]->name, "audit_log:collector_lag") == 0)
			r = al_rules[i];
	if (r == NULL)
		return;
	r->within_us = Max(threshold_ms, AL_ALERT_LAG_WINDOW_MS) * 1000;

	lags = palloc(sizeof(AlSourceLag) * AL_ALERT_MAX_SOURCES);
	n = al_fleet_source_lags(lags, AL_ALERT_MAX_SOURCES, now);
	for (i = 0; i < n; i++)
		if (lags[i].lag_ms >= threshold_ms)
			al_feed_builtin("audit_log:collector_lag", NULL, now, lags[i].name, now,
							lags[i].lag_ms);
	pfree(lags);
}

/*
 * Every AL_ALERT_JOBS_MS: failures that do not pass through the writer.
 * An export that recorded EXPORTS EXPORT FAILURE (export_record.c writes
 * it directly), and a run of a pg_cron job named audit_log% that failed
 * (cron.job_run_details, when pg_cron is in this database): the maintenance
 * job and the scheduled exports.  Only failures after the writer started.
 * And, on a collector, the sources lagging (al_alerts_check_lag).
 */
void
al_alerts_check_jobs(TimestampTz now)
{
	static TimestampTz last = 0;
	static TimestampTz export_after = 0;
	static int64 cron_after = -1;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (last != 0 && !TimestampDifferenceExceeds(last, now, AL_ALERT_JOBS_MS))
		return;
	last = now;
	if (export_after == 0)
		export_after = now;
	if (RecoveryInProgress())
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		uint64		i;
		Oid			types[1] = {TIMESTAMPTZOID};
		Datum		values[1];

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* never wait for a partition change: look again next time */
		if (SPI_execute("SET LOCAL lock_timeout = 100", false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not set lock_timeout");
		PushActiveSnapshot(GetTransactionSnapshot());
		values[0] = TimestampTzGetDatum(export_after);
		if (SPI_execute_with_args("SELECT e.event_id::text, e.request_time::text, coalesce(e.object_name, '')"
								  " FROM audit_log.events e"
								  " WHERE e.request_time > $1 AND e.event_category = 'EXPORTS'"
								  " AND e.event_type = 'EXPORT' AND e.event_status = 'FAILURE'"
								  " ORDER BY e.request_time LIMIT 100",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the failed exports");
		for (i = 0; i < SPI_processed; i++)
		{
			char		id[64];
			char		obj[AL_OBJECT_LEN];
			TimestampTz ts = al_spi_ts(i, 2);

			al_spi_col(i, 1, id, sizeof(id));
			al_spi_col(i, 3, obj, sizeof(obj));
			al_feed_builtin("audit_log:export_failed", id, ts, obj, now, 0);
			export_after = Max(export_after, ts);
		}

		if (SPI_execute("SELECT pg_catalog.to_regclass('cron.job_run_details') IS NOT NULL"
						" AND pg_catalog.to_regclass('cron.job') IS NOT NULL",
						true, 1) == SPI_OK_SELECT && SPI_processed == 1 &&
			strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
		{
			if (cron_after < 0)
			{
				if (SPI_execute("SELECT coalesce(pg_catalog.max(runid), 0)::text FROM cron.job_run_details",
								true, 1) != SPI_OK_SELECT)
					elog(ERROR, "could not read cron.job_run_details");
				cron_after = strtoi64(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), NULL, 10);
			}
			else
			{
				char		q[512];

				snprintf(q, sizeof(q),
						 "SELECT d.runid::text, j.jobname"
						 " FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid"
						 " WHERE d.runid > " INT64_FORMAT " AND d.status = 'failed'"
						 " AND j.jobname LIKE 'audit\\_log\\_%%' ORDER BY d.runid LIMIT 100",
						 cron_after);
				if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
					elog(ERROR, "could not read cron.job_run_details");
				for (i = 0; i < SPI_processed; i++)
				{
					char		runid[32];
					char		job[AL_NAME_LEN];

					al_spi_col(i, 1, runid, sizeof(runid));
					al_spi_col(i, 2, job, sizeof(job));
					al_feed_builtin("audit_log:job_failed", NULL, now, job, now, 0);
					cron_after = Max(cron_after, strtoi64(runid, NULL, 10));
				}
			}
		}

		if (al_alert_collector_lag_s > 0)
			al_alerts_check_lag(now);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ereport(LOG,
					(errcode(edata->sqlerrcode),
					 errmsg("audit_log: could not look for failed exports and jobs: %s", edata->message)));
		FreeErrorData(edata);
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}
