/*-------------------------------------------------------------------------
 *
 * export.c
 *		audit_log.export_csv(): server-side CSV exports of the audit log,
 *		written atomically under audit_log.export_directory, with a SHA-256
 *		checksum file beside each export and an autonomous record of every
 *		run (success or failure) in audit_log.export_runs and as an
 *		EXPORTS/EXPORT event.
 *
 * The rows are formatted by PostgreSQL's own COPY code (CSV, HEADER,
 * ENCODING UTF8), run as COPY ... TO STDOUT.  While it runs, the frontend
 * protocol's message sink (PqCommMethods, the same hook parallel workers
 * use to redirect their output) points at this file: CopyData messages go
 * to our buffer, which is hashed and written to a temporary file in the
 * target directory; the CopyOutResponse and CopyDone messages are dropped;
 * any other message (a NOTICE raised by a function in the query) goes to
 * the real client.  One pass over the data computes the checksum, so an
 * export costs about what a plain COPY TO file costs.
 *
 * Atomicity: the temporary file (".<name>.tmp") is fsynced and renamed to
 * its final name, then the directory is fsynced; the .sha256 file follows
 * the same way.  Any error (including a cancel) removes whatever this run
 * created; a FATAL exit removes the temporary file in a before_shmem_exit
 * callback.  A reader of the directory thus sees either no file or a
 * complete one.
 *
 * Recording: the export runs inside an internal subtransaction; whatever
 * happens, the run is then recorded on its own (export_record.c).
 *
 * This file holds the SQL entry point and the export proper; the file
 * handling and the COPY redirection are in export_file.c, the record of
 * runs and export_command in export_record.c (shared types: export.h).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "export.h"

PG_FUNCTION_INFO_V1(audit_log_export_csv);
PG_FUNCTION_INFO_V1(audit_log_export);

/*
 * A timestamp in UTC in the compact form of file names: 20260301T000000Z.
 */
static char *
compact_utc(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("%04d%02d%02dT%02d%02d%02dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Refuse callers who are neither superusers nor members of audit_log_admin.
 * The function runs with the caller's rights (SECURITY INVOKER), so
 * GetUserId() is the caller.
 */
static void
check_export_privilege(void)
{
	Oid			admin = get_role_oid("audit_log_admin", true);

	if (superuser())
		return;
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to export the audit log"),
			 errdetail("Only superusers and members of audit_log_admin may write server-side exports."),
			 errhint("Export on the client side instead: \\copy (SELECT * FROM audit_log.events WHERE ...) TO 'file.csv' CSV HEADER")));
}

/*
 * The select list of an events export with the formula guard: every text
 * column of audit_log.events (whatever columns this version has, in table
 * order) with a single quote put before a value that begins with =, +, -,
 * @, a tab or a carriage return, which a spreadsheet would otherwise run
 * as a formula (OWASP, "CSV Injection").  Other types cannot begin so:
 * timestamps, ids, addresses, numbers that are never negative, jsonb
 * objects.
 */
static char *
guarded_columns(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;
	bool		isnull;
	Datum		d;
	char	   *list;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT pg_catalog.string_agg(CASE WHEN a.atttypid = 'pg_catalog.text'::pg_catalog.regtype"
					 " THEN pg_catalog.format('CASE WHEN e.%1$I ~ ''^[-=+@\t\r]'' THEN '''''''' OPERATOR(pg_catalog.||) e.%1$I"
					 " ELSE e.%1$I END AS %1$I', a.attname)"
					 " ELSE pg_catalog.format('e.%I', a.attname) END, ', ' ORDER BY a.attnum)"
					 " FROM pg_catalog.pg_attribute a"
					 " WHERE a.attrelid = 'audit_log.events'::pg_catalog.regclass"
					 " AND a.attnum > 0 AND NOT a.attisdropped",
					 true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the columns of audit_log.events");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "audit_log.events has no columns");
	list = MemoryContextStrdup(cxt, TextDatumGetCString(d));
	SPI_finish();
	return list;
}

/*
 * The query whose rows an export writes.  Timestamps are inlined as text
 * made under TimeZone UTC and DateStyle ISO (set by the caller), which
 * reads back exactly.
 */
static char *
export_query(ExportRun *run)
{
	char	   *from_lit = DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   TimestampTzGetDatum(run->from_time)));
	char	   *to_lit = DatumGetCString(DirectFunctionCall1(timestamptz_out,
															 TimestampTzGetDatum(run->to_time)));

	if (strcmp(run->source, "events") == 0)
		return psprintf("SELECT %s FROM audit_log.events e"
						" WHERE e.request_time >= %s::pg_catalog.timestamptz"
						" AND e.request_time < %s::pg_catalog.timestamptz"
						" ORDER BY e.request_time, e.event_id",
						run->formula_guard ? guarded_columns() : "e.*",
						quote_literal_cstr(from_lit), quote_literal_cstr(to_lit));

	/*
	 * daily_login_activity: the complete UTC days inside [from, to).  The
	 * function is called with one day more and filtered, which is right
	 * whether its to_day is inclusive or exclusive.
	 */
	return psprintf("WITH b AS (SELECT"
					" CASE WHEN (%s::pg_catalog.timestamptz AT TIME ZONE 'UTC')::pg_catalog.time = '00:00'"
					" THEN (%s::pg_catalog.timestamptz AT TIME ZONE 'UTC')::pg_catalog.date"
					" ELSE (%s::pg_catalog.timestamptz AT TIME ZONE 'UTC')::pg_catalog.date + 1 END AS lo,"
					" (%s::pg_catalog.timestamptz AT TIME ZONE 'UTC')::pg_catalog.date - 1 AS hi)"
					" SELECT a.* FROM b, audit_log.daily_login_activity(b.lo, GREATEST(b.lo, b.hi + 1), 'UTC') a"
					" WHERE a.day >= b.lo AND a.day <= b.hi ORDER BY a.day",
					quote_literal_cstr(from_lit), quote_literal_cstr(from_lit),
					quote_literal_cstr(from_lit), quote_literal_cstr(to_lit));
}

/*
 * Does audit_log.daily_login_activity(date, date, text) exist (1.1:
 * daily_login_activity(date, date, text, boolean))?  It comes with the
 * analytics part of the extension.
 */
static bool
daily_login_activity_exists(void)
{
	Oid			argtypes[4] = {DATEOID, DATEOID, TEXTOID, BOOLOID};
	List	   *name = list_make2(makeString("audit_log"),
								  makeString("daily_login_activity"));

	return OidIsValid(LookupFuncName(name, 3, argtypes, true)) ||
		OidIsValid(LookupFuncName(name, 4, argtypes, true));
}

/*
 * Source 'report': the whole HTML document, made by
 * audit_log._export_report() (SQL, in the 1.1 script), written through the
 * export's writer like COPY's output (compressed, hashed).  Its row count
 * is 1: one document.
 */
static int64
export_report_to_writer(ExportRun *run, const char *tz, ExportWriter *w)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	text	   *doc;
	const char *p;
	size_t		left;

	values[0] = TimestampTzGetDatum(run->from_time);
	values[1] = TimestampTzGetDatum(run->to_time);
	values[2] = CStringGetTextDatum(tz);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT audit_log._export_report($1, $2, $3)", 3, argtypes,
							  values, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "audit_log._export_report() returned no document");
	doc = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		elog(ERROR, "audit_log._export_report() returned null");
	p = VARDATA_ANY(doc);
	left = VARSIZE_ANY_EXHDR(doc);
	while (left > 0)
	{
		size_t		n = Min(left, EXPORT_BUFFER_SIZE - w->used);

		memcpy(w->buf + w->used, p, n);
		w->used += n;
		p += n;
		left -= n;
		if (w->used == EXPORT_BUFFER_SIZE)
			export_writer_flush(w);
	}
	SPI_finish();
	return 1;
}

/*
 * The export proper: checks, COPY into a temporary file, fsync, rename,
 * checksum file.  Fills run; raises an error on any failure, leaving the
 * names of what it created in *files for the caller to remove.
 */
static void
do_export(ExportRun *run, ExportFiles *files)
{
	char	   *dir;
	char	   *name;
	char	   *sql;
	ExportWriter w;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		hex[PG_SHA256_DIGEST_LENGTH * 2 + 1];
	int			nest;
	int			i;
	struct stat st;
	TimestampTz t_copy;
	TimestampTz t_sync;
	ExportFormat format = EXPORT_FORMAT_CSV;
	ExportCompression compression = EXPORT_COMPRESSION_NONE;
	bool		report;
	char	   *session_tz;

	check_export_privilege();

	if (run->source == NULL ||
		(strcmp(run->source, "events") != 0 && strcmp(run->source, "daily_login_activity") != 0 &&
		 strcmp(run->source, "report") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid export source \"%s\"", run->source ? run->source : "(null)"),
				 errhint("Use 'events', 'daily_login_activity' or 'report'.")));
	if (!run->have_from || !run->have_to)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_time and to_time must not be null")));
	if (TIMESTAMP_NOT_FINITE(run->from_time) || TIMESTAMP_NOT_FINITE(run->to_time))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("from_time and to_time must be finite")));
	if (run->from_time >= run->to_time)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_time must be earlier than to_time"),
				 errdetail("An export covers the half-open range [from_time, to_time).")));
	if (strcmp(run->source, "daily_login_activity") == 0 && !daily_login_activity_exists())
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("export source \"daily_login_activity\" is not available"),
				 errdetail("The function audit_log.daily_login_activity(date, date, text) does not exist.")));
	/* the HTML report: source 'report' and format 'html' go together */
	report = strcmp(run->source, "report") == 0;
	if (report != (run->with_format && run->format != NULL && strcmp(run->format, "html") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 report
				 ? errmsg("export format \"%s\" is not available for source \"report\"",
						  run->with_format ? (run->format ? run->format : "(null)") : "csv")
				 : errmsg("export format \"html\" is only available for source \"report\""),
				 errdetail("The HTML report is source 'report' with format 'html'."),
				 errhint("Use audit_log.export(directory, from_time, to_time, 'report', 'html').")));
	if (report)
		compression = export_parse_compression(run->compression);
	/* audit_log.export(): format and compression, checked before any file */
	else if (run->with_format)
	{
		format = export_parse_format(run->format);
		compression = export_parse_compression(run->compression);
		export_check_combination(run->source, format);
		if (run->formula_guard && format != EXPORT_FORMAT_CSV)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("formula_guard applies to format \"csv\" only"),
					 errdetail("Format \"%s\" writes JSON values, which a spreadsheet does not run as formulas.",
							   run->format),
					 errhint("Leave formula_guard false, or use format 'csv'.")));
	}

	dir = export_resolve_directory(run->directory);

	/*
	 * The file name holds the second it was written in.  When the same
	 * window was exported within the same second (its file, or another
	 * run's temporary file, is there), wait for the next second: the name
	 * changes, and no export overwrites another.
	 */
	for (i = 0;; i++)
	{
		name = psprintf("audit_log_%s_%s_%s_%s%s", run->source,
						compact_utc(run->from_time), compact_utc(run->to_time),
						compact_utc(run->started_at),
						/* ".csv" and the compression's ending, less ".csv" */
						report ? psprintf(".html%s", export_file_suffix(EXPORT_FORMAT_CSV, compression) + 4)
						: export_file_suffix(format, compression));
		/* room for "/.", ".sha256.tmp" and the NUL */
		if (strlen(dir) + strlen(name) + 16 > MAXPGPATH)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("export directory path \"%s\" is too long", dir),
					 errdetail("The path of an export file may have at most %d bytes.", MAXPGPATH - 16)));
		snprintf(files->tmp_path, MAXPGPATH, "%s/.%s.tmp", dir, name);
		run->file = psprintf("%s/%s", dir, name);
		if (i >= 3 || (stat(run->file, &st) != 0 && stat(files->tmp_path, &st) != 0))
			break;
		pg_usleep(USECS_PER_SEC - (long) (GetCurrentTimestamp() % USECS_PER_SEC) + 1000);
		CHECK_FOR_INTERRUPTS();
		run->started_at = GetCurrentTimestamp();
	}
	if (stat(run->file, &st) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("export file \"%s\" already exists", run->file),
				 errhint("Wait a second and try again: the file name holds the time it was written.")));

	/*
	 * Open the output before COPY takes its locks, so that a cancel while
	 * COPY waits for a lock also exercises the cleanup.
	 */
	memset(&w, 0, sizeof(w));
	w.fd = -1;
	w.path = files->tmp_path;
	w.fd = export_open_new_file(files->tmp_path);
	w.buf = palloc(EXPORT_BUFFER_SIZE);
	w.hash = pg_cryptohash_create(PG_SHA256);
	if (w.hash == NULL || pg_cryptohash_init(w.hash) < 0)
		elog(ERROR, "could not initialize SHA-256 checksum");
	export_compress_begin(&w, compression);

	/* The report's days are in the session's time zone, set aside here. */
	session_tz = pstrdup(GetConfigOption("TimeZone", false, false));

	/* Fixed formats for the file, whatever the session uses. */
	nest = NewGUCNestLevel();
	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("standard_conforming_strings", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	t_copy = GetCurrentTimestamp();
	if (report)
		run->rows = export_report_to_writer(run, session_tz, &w);
	else if (format == EXPORT_FORMAT_CSV)
		run->rows = (int64) export_copy_to_writer(export_query(run), &w, true);
	else
	{
		/* the JSON lines, made in C; jsonl of a column it cannot make, in SQL */
		sql = export_query(run);
		run->rows = export_lines_to_writer(sql, &w, format);
		if (run->rows < 0)
			run->rows = (int64) export_copy_to_writer(export_format_query(format, sql), &w, false);
	}
	AtEOXact_GUC(true, nest);

	export_writer_finish(&w);
	t_sync = GetCurrentTimestamp();
	if (pg_fsync(w.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync export file \"%s\": %m", files->tmp_path)));
	if (CloseTransientFile(w.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close export file \"%s\": %m", files->tmp_path)));
	w.fd = -1;
	run->bytes = (int64) w.bytes;
	elog(DEBUG1, "audit_log export: COPY of " INT64_FORMAT " rows took %ld ms, fsync %ld ms",
		 run->rows, (long) ((t_sync - t_copy) / 1000),
		 (long) ((GetCurrentTimestamp() - t_sync) / 1000));

	if (pg_cryptohash_final(w.hash, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not finish SHA-256 checksum");
	pg_cryptohash_free(w.hash);
	w.hash = NULL;
	for (i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	run->sha256 = pstrdup(hex);

	/* Publish the file under its final name. */
	if (stat(run->file, &st) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("export file \"%s\" already exists", run->file)));
	strlcpy(files->final_path, run->file, MAXPGPATH);
	(void) durable_rename(files->tmp_path, run->file, ERROR);
	files->tmp_path[0] = '\0';

	/* The checksum file, in the format sha256sum -c reads. */
	snprintf(files->sha_tmp_path, MAXPGPATH, "%s/.%s.sha256.tmp", dir, name);
	snprintf(files->sha_final_path, MAXPGPATH, "%s/%s.sha256", dir, name);
	export_write_small_file(files->sha_tmp_path, files->sha_final_path,
					 psprintf("%s  %s\n", hex, name));
	files->sha_tmp_path[0] = '\0';
}

/*
 * Run an export whose arguments are in run, record it, and return its row.
 */
static Datum
export_main(FunctionCallInfo fcinfo, ExportRun *runp)
{
	ExportRun	run = *runp;
	MemoryContext callcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *cmd_error;
	ExportFiles *files;

	files = export_files_begin();

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(callcxt);
	PG_TRY();
	{
		do_export(&run, files);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		export_redirect_stop();
		export_compress_abort();
		MemoryContextSwitchTo(callcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;

		export_files_remove(files);
		run.file = NULL;
		run.success = false;
		run.finished_at = GetCurrentTimestamp();
		run.sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		run.error = edata->detail
			? psprintf("%s: %s", edata->message, edata->detail)
			: pstrdup(edata->message);
		export_record_run(&run, true);
		ReThrowError(edata);
	}
	PG_END_TRY();

	/* The file is complete and published: nothing removes it from here on. */
	memset(files, 0, sizeof(ExportFiles));

	cmd_error = NULL;
	if (al_export_command != NULL && al_export_command[0] != '\0')
		cmd_error = export_run_command(run.file);

	run.finished_at = GetCurrentTimestamp();
	if (cmd_error != NULL)
	{
		run.success = false;
		run.error = cmd_error;
		run.sqlstate = pstrdup(unpack_sql_state(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION));
		export_record_run(&run, true);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("audit_log.export_command failed for \"%s\"", run.file),
				 errdetail("%s", cmd_error),
				 errhint("The export file and its .sha256 file were kept; the run is recorded as FAILURE.")));
	}
	run.success = true;
	{
		TimestampTz t_rec = GetCurrentTimestamp();

		export_record_run(&run, false);
		elog(DEBUG1, "audit_log export: recording the run took %ld ms",
			 (long) ((GetCurrentTimestamp() - t_rec) / 1000));
	}

	InitMaterializedSRF(fcinfo, 0);
	values[0] = CStringGetTextDatum(run.file);
	values[1] = Int64GetDatum(run.rows);
	values[2] = Int64GetDatum(run.bytes);
	values[3] = CStringGetTextDatum(run.sha256);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

	return (Datum) 0;
}

/* The arguments the two entry points share: directory, window, source. */
static void
export_common_args(FunctionCallInfo fcinfo, ExportRun *run)
{
	memset(run, 0, sizeof(*run));
	run->started_at = GetCurrentTimestamp();
	run->directory = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	run->have_from = !PG_ARGISNULL(1);
	if (run->have_from)
		run->from_time = PG_GETARG_TIMESTAMPTZ(1);
	run->have_to = !PG_ARGISNULL(2);
	if (run->have_to)
		run->to_time = PG_GETARG_TIMESTAMPTZ(2);
	run->source = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
}

/*
 * audit_log.export_csv(directory text, from_time timestamptz,
 *     to_time timestamptz, source text DEFAULT 'events',
 *     formula_guard boolean DEFAULT false)
 *     RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
 * (1.1; the same as export(..., 'csv', 'none', formula_guard)), and the
 * 1.0 forms: export_csv() without formula_guard, and the scheduled form
 * audit_log._export_csv_job(..., job_name text) that pg_cron jobs made
 * under 1.0 reach through the 1.0 _scheduled_export.  The fifth argument
 * tells them apart by its type.
 */
Datum
audit_log_export_csv(PG_FUNCTION_ARGS)
{
	ExportRun	run;

	export_common_args(fcinfo, &run);
	if (PG_NARGS() > 4)
	{
		Oid		   *argtypes;
		int			nargs;

		(void) get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
		if (argtypes[4] == BOOLOID)
			run.formula_guard = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
		else if (!PG_ARGISNULL(4))
			run.job_name = text_to_cstring(PG_GETARG_TEXT_PP(4));
	}
	return export_main(fcinfo, &run);
}

/*
 * audit_log.export(directory text, from_time timestamptz,
 *     to_time timestamptz, source text DEFAULT 'events',
 *     format text DEFAULT 'csv', compression text DEFAULT 'none',
 *     formula_guard boolean DEFAULT false)
 *     RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
 * and, with an eighth argument job_name, the scheduled form
 * audit_log._export_job() (1.1).  A null formula_guard is false, as in
 * export_csv().
 */
Datum
audit_log_export(PG_FUNCTION_ARGS)
{
	ExportRun	run;

	export_common_args(fcinfo, &run);

	/*
	 * Dispatch by source.  'events' and 'daily_login_activity' are written
	 * here; the HTML report (source 'report', format 'html', issue 18) is
	 * its own function, audit_log._export_report(), and its dispatch goes
	 * here, before the arguments of the row exports are read.
	 */

	/* a null format or compression is refused by do_export, and recorded */
	run.with_format = true;
	run.format = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	run.compression = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (PG_NARGS() > 6)
		run.formula_guard = !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
		run.job_name = text_to_cstring(PG_GETARG_TEXT_PP(7));
	return export_main(fcinfo, &run);
}
