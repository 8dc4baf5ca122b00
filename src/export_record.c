/*-------------------------------------------------------------------------
 *
 * export_record.c
 *		The record of every audit_log.export_csv() run, success or failure:
 *		its row in audit_log.export_runs and its EXPORTS/EXPORT event,
 *		written by a short-lived background worker; and
 *		audit_log.export_command, run on each finished file.
 *
 * The export runs inside an internal subtransaction (export.c).  Whatever
 * happens, the run is then recorded by a dynamic background worker
 * connected to the same database, whose transaction commits on its own: a
 * failure is recorded although the caller's transaction rolls back, and a
 * success is recorded although the caller may roll back later (the file
 * exists either way).  The worker needs no shared_preload_libraries, only a
 * free max_worker_processes slot; without one the run is recorded in the
 * caller's transaction and a WARNING says so.  The values travel to the
 * worker as text in a DSM segment.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"		/* JsonEncodeDateTime */
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "al_json.h"
#include "audit_log.h"
#include "export.h"
#include "version.h"

/* Longest command output kept in export_runs.error. */
#define EXPORT_COMMAND_OUTPUT	2000

/*
 * A timestamp as ISO 8601 with a UTC offset, for entry_data.
 */
static char *
iso_utc(TimestampTz ts)
{
	char		buf[MAXDATELEN + 1];
	int			tz = 0;

	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, &tz);
	return pstrdup(buf);
}

/*
 * Run audit_log.export_command on the finished file.  Returns NULL on
 * success, otherwise a description with the exit status and output.
 */
char *
export_run_command(const char *path)
{
	StringInfoData cmd;
	StringInfoData out;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *p;
	FILE	   *fh;
	char		buf[1024];
	size_t		n;
	int			rc;

	initStringInfo(&cmd);
	appendStringInfoString(&cmd, "exec 2>&1; ");
	for (p = al_export_command; *p; p++)
	{
		if (p[0] == '%' && p[1] == 'p')
		{
			appendStringInfoString(&cmd, path);
			p++;
		}
		else if (p[0] == '%' && p[1] == 'f')
		{
			appendStringInfoString(&cmd, name);
			p++;
		}
		else if (p[0] == '%' && p[1] == '%')
		{
			appendStringInfoChar(&cmd, '%');
			p++;
		}
		else
			appendStringInfoChar(&cmd, *p);
	}

	fflush(NULL);
	fh = OpenPipeStream(cmd.data, "r");
	if (fh == NULL)
		return psprintf("could not run export command: %m");

	initStringInfo(&out);
	while ((n = fread(buf, 1, sizeof(buf), fh)) > 0)
	{
		if (out.len < EXPORT_COMMAND_OUTPUT)
			appendBinaryStringInfo(&out, buf, Min(n, (size_t) (EXPORT_COMMAND_OUTPUT - out.len)));
	}
	rc = ClosePipeStream(fh);
	if (rc == 0)
		return NULL;

	/* keep the output printable in one line of the log */
	while (out.len > 0 && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
		out.data[--out.len] = '\0';
	/* the output goes into a text column: keep it valid in any encoding */
	if (!pg_verifymbstr(out.data, out.len, true))
	{
		int			i;

		for (i = 0; i < out.len; i++)
			if ((unsigned char) out.data[i] >= 0x80)
				out.data[i] = '?';
	}
	return psprintf("export command failed: %s; output: %s",
					wait_result_to_str(rc), out.data);
}

/*
 * Recording of runs.  The values travel to the recorder (a background
 * worker, or this backend as a fallback) as text, in this order.
 */
enum
{
	RF_STARTED_AT,
	RF_FINISHED_AT,
	RF_SOURCE,
	RF_FROM_TIME,
	RF_TO_TIME,
	RF_DIRECTORY,
	RF_FILE,
	RF_ROWS,
	RF_BYTES,
	RF_SHA256,
	RF_STATUS,
	RF_ERROR,
	RF_JOB_NAME,
	RF_EVENT_ID,
	RF_USER_NAME,
	RF_CLIENT_ADDR,
	RF_APPLICATION_NAME,
	RF_DATABASE_NAME,
	RF_BACKEND_PID,
	RF_SESSION_ID,
	RF_SOURCE_NODE,
	RF_REASON_CODE,
	RF_ENTRY_DATA,
	RF_NFIELDS
};

/* Timestamps travel as microseconds since 2000-01-01 UTC: exact. */
#define TS_SQL(n) "('2000-01-01 00:00:00+00'::pg_catalog.timestamptz + $" #n "::pg_catalog.int8 * '1 microsecond'::pg_catalog.interval)"

static const char *const record_run_sql =
"INSERT INTO audit_log.export_runs (started_at, finished_at, source, from_time,"
" to_time, directory, file, rows, bytes, sha256, status, error, job_name)"
" VALUES (" TS_SQL(1) ", " TS_SQL(2) ", $3, " TS_SQL(4) ", " TS_SQL(5) ", $6, $7,"
" $8::pg_catalog.int8, $9::pg_catalog.int8, $10, $11::audit_log.event_status, $12, $13)"
" RETURNING run_id";

static const char *const record_event_sql =
"INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category,"
" event_type, event_status, event_status_reason_code, user_name, object_name,"
" client_addr, application_name, database_name, backend_pid, session_id,"
" source_node, entry_data)"
" VALUES ($14::pg_catalog.uuid, " TS_SQL(2) ", pg_catalog.clock_timestamp(), 'EXPORTS',"
" 'EXPORT', $11::audit_log.event_status, $22, $15, $7, $16::pg_catalog.inet, $17, $18,"
" $19::pg_catalog.int4, $20, $21,"
" $23::pg_catalog.jsonb || pg_catalog.jsonb_build_object('run_id', $24::pg_catalog.int8))";

/* The same from 1.1 on: the extension's own event, origin EXTENSION. */
static const char *const record_event_origin_sql =
"INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category,"
" event_type, event_status, event_status_reason_code, user_name, object_name,"
" client_addr, application_name, database_name, backend_pid, session_id,"
" source_node, entry_data, origin)"
" VALUES ($14::pg_catalog.uuid, " TS_SQL(2) ", pg_catalog.clock_timestamp(), 'EXPORTS',"
" 'EXPORT', $11::audit_log.event_status, $22, $15, $7, $16::pg_catalog.inet, $17, $18,"
" $19::pg_catalog.int4, $20, $21,"
" $23::pg_catalog.jsonb || pg_catalog.jsonb_build_object('run_id', $24::pg_catalog.int8),"
" 'EXTENSION')";

/*
 * Insert the run's row and its event with SPI, in the current transaction.
 * When audit_log.seals exists (the seal feature), a successful run also
 * stores the digests of the sealed days it covers.
 */
static void
insert_run_rows(char **values)
{
	Oid			argtypes[RF_NFIELDS + 1];
	Datum		args[RF_NFIELDS + 1];
	char		nulls[RF_NFIELDS + 1];
	int			i;
	int			rc;
	bool		isnull;
	int64		run_id;

	for (i = 0; i < RF_NFIELDS; i++)
	{
		argtypes[i] = TEXTOID;
		if (values[i] == NULL)
		{
			nulls[i] = 'n';
			args[i] = (Datum) 0;
		}
		else
		{
			nulls[i] = ' ';
			args[i] = CStringGetTextDatum(values[i]);
		}
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	rc = SPI_execute_with_args(record_run_sql, RF_JOB_NAME + 1, argtypes, args, nulls, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert into audit_log.export_runs: %s", SPI_result_code_string(rc));
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	argtypes[RF_NFIELDS] = TEXTOID;
	args[RF_NFIELDS] = CStringGetTextDatum(psprintf(INT64_FORMAT, run_id));
	nulls[RF_NFIELDS] = ' ';
	rc = SPI_execute_with_args(al_installed_version_num() >= 101 ? record_event_origin_sql : record_event_sql,
							   RF_NFIELDS + 1, argtypes, args, nulls, false, 1);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert the export event: %s", SPI_result_code_string(rc));

	if (values[RF_STATUS] != NULL && strcmp(values[RF_STATUS], "SUCCESS") == 0)
	{
		rc = SPI_execute("SELECT 1 WHERE pg_catalog.to_regclass('audit_log.seals') IS NOT NULL",
						 true, 1);
		if (rc == SPI_OK_SELECT && SPI_processed == 1)
		{
			Oid			t[1] = {INT8OID};
			Datum		a[1];

			a[0] = Int64GetDatum(run_id);
			rc = SPI_execute_with_args("UPDATE audit_log.export_runs r SET seal_digests ="
									   " (SELECT pg_catalog.jsonb_object_agg(s.day::text, s.digest ORDER BY s.day)"
									   " FROM audit_log.seals s"
									   " WHERE (s.day::pg_catalog.timestamp AT TIME ZONE 'UTC') + '1 day'::pg_catalog.interval > r.from_time"
									   " AND (s.day::pg_catalog.timestamp AT TIME ZONE 'UTC') < r.to_time)"
									   " WHERE r.run_id = $1",
									   1, t, a, NULL, false, 0);
			if (rc != SPI_OK_UPDATE)
				elog(ERROR, "could not store seal digests: %s", SPI_result_code_string(rc));
		}
	}
	SPI_finish();
}

/* Header of the shared memory that carries a run to the recorder. */
typedef struct RecorderShared
{
	Oid			database;
	bool		done;			/* set by the worker after its commit */
	int			offsets[RF_NFIELDS];	/* -1 = NULL */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} RecorderShared;

/*
 * Background worker entry point: insert the run handed over in a DSM
 * segment, commit, report back.
 */
void
audit_log_export_recorder_main(Datum main_arg)
{
	dsm_segment *seg;
	RecorderShared *shared;
	char	   *values[RF_NFIELDS];
	int			i;

	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "audit_log export recorder");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_log export recorder could not attach to its shared memory")));
	shared = (RecorderShared *) dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(shared->database, BOOTSTRAP_SUPERUSERID, 0);

	for (i = 0; i < RF_NFIELDS; i++)
		values[i] = shared->offsets[i] < 0 ? NULL : shared->data + shared->offsets[i];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "recording an audit_log export run");
	/* never wait forever on a lock the exporting backend might hold */
	(void) set_config_option("lock_timeout", "10s", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	insert_run_rows(values);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	shared->done = true;
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * Hand the run to a background worker and wait for it.  Returns true when
 * the worker committed it.
 */
static bool
record_autonomously(char **values)
{
	Size		size = offsetof(RecorderShared, data);
	dsm_segment *seg;
	RecorderShared *shared;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	char	   *p;
	int			i;
	bool		done;

	for (i = 0; i < RF_NFIELDS; i++)
		if (values[i] != NULL)
			size += strlen(values[i]) + 1;

	seg = dsm_create(size, 0);
	shared = (RecorderShared *) dsm_segment_address(seg);
	shared->database = MyDatabaseId;
	shared->done = false;
	p = shared->data;
	for (i = 0; i < RF_NFIELDS; i++)
	{
		if (values[i] == NULL)
			shared->offsets[i] = -1;
		else
		{
			size_t		len = strlen(values[i]) + 1;

			memcpy(p, values[i], len);
			shared->offsets[i] = (int) (p - shared->data);
			p += len;
		}
	}

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "audit_log");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "audit_log_export_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "audit_log export recorder for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "audit_log export recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		dsm_detach(seg);
		return false;
	}
	status = WaitForBackgroundWorkerShutdown(handle);
	done = (status == BGWH_STOPPED && shared->done);
	dsm_detach(seg);
	return done;
}

/*
 * entry_data of a run's EXPORTS event: the file, its size and digest, the
 * window, the source, the directory, and the job and error when there are.
 * The buffer is sized for the worst case of escaping, so nothing is cut.
 */
static char *
run_entry_data(ExportRun *run, bool have_from, bool have_to)
{
	const char *strs[] = {run->file, run->sha256, run->source, run->directory,
	run->job_name, run->error, run->format, run->compression};
	size_t		size = 512;
	char	   *buf;
	char		num[32];
	AlJson		js;
	int			i;

	for (i = 0; i < lengthof(strs); i++)
		if (strs[i] != NULL)
			size += 6 * strlen(strs[i]) + 16;
	buf = palloc(size);
	al_json_init(&js, buf, size, false);
	al_json_str(&js, "file", run->file);
	if (run->file)
	{
		snprintf(num, sizeof(num), INT64_FORMAT, run->rows);
		al_json_raw(&js, "rows", num);
		snprintf(num, sizeof(num), INT64_FORMAT, run->bytes);
		al_json_raw(&js, "bytes", num);
		al_json_str(&js, "sha256", run->sha256 ? run->sha256 : "");
	}
	else
	{
		al_json_null(&js, "rows");
		al_json_null(&js, "bytes");
		al_json_null(&js, "sha256");
	}
	al_json_str(&js, "from", have_from ? iso_utc(run->from_time) : NULL);
	al_json_str(&js, "to", have_to ? iso_utc(run->to_time) : NULL);
	al_json_str(&js, "source", run->source);
	if (run->format)
		al_json_str(&js, "format", run->format);
	if (run->compression)
		al_json_str(&js, "compression", run->compression);
	al_json_str(&js, "directory", run->directory);
	if (run->job_name)
		al_json_str(&js, "job_name", run->job_name);
	if (run->formula_guard)
		al_json_bool(&js, "formula_guard", true);
	if (run->error)
		al_json_str(&js, "error", run->error);
	if (!al_json_finish(&js))
		elog(ERROR, "audit_log: the entry_data of an export run did not fit");
	return buf;
}

/*
 * Record a run: its export_runs row and its EXPORTS/EXPORT event.
 * Autonomously when possible; otherwise in the current transaction, with a
 * WARNING, since that record rolls back with the transaction.
 */
void
export_record_run(ExportRun *run, bool in_aborting_call)
{
	char	   *values[RF_NFIELDS];
	pg_uuid_t	event_id;
	char		addr[AL_ADDR_LEN];
	char		session[AL_SESSION_LEN];
	char	   *dbname;

	if (RecoveryInProgress())
	{
		ereport(WARNING,
				(errmsg("audit_log export run not recorded: the server is in recovery"),
				 errdetail("Source %s, file %s, status %s.",
						   run->source ? run->source : "(null)",
						   run->file ? run->file : "(none)",
						   run->success ? "SUCCESS" : "FAILURE")));
		return;
	}

	memset(values, 0, sizeof(values));
	values[RF_STARTED_AT] = psprintf(INT64_FORMAT, (int64) run->started_at);
	values[RF_FINISHED_AT] = psprintf(INT64_FORMAT, (int64) run->finished_at);
	values[RF_SOURCE] = run->source;
	if (run->have_from && !TIMESTAMP_NOT_FINITE(run->from_time))
		values[RF_FROM_TIME] = psprintf(INT64_FORMAT, (int64) run->from_time);
	if (run->have_to && !TIMESTAMP_NOT_FINITE(run->to_time))
		values[RF_TO_TIME] = psprintf(INT64_FORMAT, (int64) run->to_time);
	values[RF_DIRECTORY] = run->directory;
	values[RF_FILE] = run->file;
	if (run->file != NULL)
	{
		values[RF_ROWS] = psprintf(INT64_FORMAT, run->rows);
		values[RF_BYTES] = psprintf(INT64_FORMAT, run->bytes);
		values[RF_SHA256] = run->sha256;
	}
	values[RF_STATUS] = run->success ? "SUCCESS" : "FAILURE";
	values[RF_ERROR] = run->error;
	values[RF_JOB_NAME] = run->job_name;

	al_uuid7(&event_id, run->finished_at);
	values[RF_EVENT_ID] = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&event_id)));
	values[RF_USER_NAME] = GetUserNameFromId(GetUserId(), false);
	if (al_client_addr(addr, sizeof(addr)))
		values[RF_CLIENT_ADDR] = pstrdup(addr);
	if (application_name != NULL && application_name[0] != '\0')
		values[RF_APPLICATION_NAME] = application_name;
	dbname = get_database_name(MyDatabaseId);
	values[RF_DATABASE_NAME] = dbname;
	values[RF_BACKEND_PID] = psprintf("%d", MyProcPid);
	al_session_id(session, sizeof(session));
	values[RF_SESSION_ID] = pstrdup(session);
	values[RF_SOURCE_NODE] = pstrdup(al_source_node());
	values[RF_REASON_CODE] = run->success ? NULL : run->sqlstate;

	values[RF_ENTRY_DATA] = run_entry_data(run, values[RF_FROM_TIME] != NULL,
										   values[RF_TO_TIME] != NULL);

	if (record_autonomously(values))
		return;

	if (in_aborting_call)
	{
		ereport(WARNING,
				(errmsg("could not record the failed audit_log export run"),
				 errdetail("No background worker could record it (max_worker_processes may be exhausted). Source %s, file %s, error: %s",
						   run->source ? run->source : "(null)",
						   run->file ? run->file : "(none)",
						   run->error ? run->error : "")));
		return;
	}
	ereport(WARNING,
			(errmsg("audit_log export run recorded in the current transaction"),
			 errdetail("No background worker could record it on its own (max_worker_processes may be exhausted); the record rolls back if this transaction does.")));
	insert_run_rows(values);
}
