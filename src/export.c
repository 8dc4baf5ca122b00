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
 * Recording: the export runs inside an internal subtransaction.  Whatever
 * happens, the run is then recorded by a short-lived dynamic background
 * worker connected to the same database, whose transaction commits on its
 * own: a failure is recorded although the caller's transaction rolls back,
 * and a success is recorded although the caller may roll back later (the
 * file exists either way).  The worker needs no shared_preload_libraries,
 * only a free max_worker_processes slot; without one the run is recorded
 * in the caller's transaction and a WARNING says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/copy.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq/libpq.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parser.h"
#include "parser/parse_func.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit_log.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(audit_log_export_csv);

PGDLLEXPORT void audit_log_export_recorder_main(Datum main_arg);

/* Size of the write buffer; the checksum is updated once per buffer. */
#define EXPORT_BUFFER_SIZE		(1024 * 1024)
/* Ask the kernel to start writeback after this many bytes. */
#define EXPORT_FLUSH_AFTER		(16 * 1024 * 1024)
/* Longest command output kept in export_runs.error. */
#define EXPORT_COMMAND_OUTPUT	2000

/*
 * One export run, as recorded in export_runs and in the EXPORT event.
 */
typedef struct ExportRun
{
	TimestampTz started_at;
	TimestampTz finished_at;
	char	   *source;
	bool		have_from;
	TimestampTz from_time;
	bool		have_to;
	TimestampTz to_time;
	char	   *directory;		/* as given by the caller */
	char	   *file;			/* final path; NULL when no file exists */
	int64		rows;
	int64		bytes;
	char	   *sha256;
	bool		success;
	char	   *error;
	char	   *sqlstate;
	char	   *job_name;
} ExportRun;

/*
 * The files one run creates, so that a failure can remove all of them.
 */
typedef struct ExportFiles
{
	char		tmp_path[MAXPGPATH];	/* temporary CSV, "" when none */
	char		final_path[MAXPGPATH];	/* final CSV, "" until renamed */
	char		sha_tmp_path[MAXPGPATH];
	char		sha_final_path[MAXPGPATH];
} ExportFiles;

/*
 * The open output of the running COPY.
 */
typedef struct ExportWriter
{
	int			fd;
	const char *path;
	char	   *buf;
	size_t		used;
	uint64		bytes;			/* bytes handed to write() */
	uint64		flushed;		/* bytes for which writeback was requested */
	pg_cryptohash_ctx *hash;
} ExportWriter;

/* The files of the run in progress (for the exit callback). */
static ExportFiles current_files;
static bool exit_callback_registered = false;

/* The redirection of frontend messages while COPY runs. */
static ExportWriter *redirect_writer = NULL;
static const PQcommMethods *saved_comm_methods = NULL;
static CommandDest saved_dest = DestNone;
static bool redirect_active = false;

/*
 * Remove whatever the current run created.  Used on error and at exit;
 * must not raise an error.
 */
static void
remove_run_files(ExportFiles *files)
{
	if (files->tmp_path[0] != '\0')
		(void) unlink(files->tmp_path);
	if (files->final_path[0] != '\0')
		(void) unlink(files->final_path);
	if (files->sha_tmp_path[0] != '\0')
		(void) unlink(files->sha_tmp_path);
	if (files->sha_final_path[0] != '\0')
		(void) unlink(files->sha_final_path);
	memset(files, 0, sizeof(ExportFiles));
}

/*
 * before_shmem_exit callback: a backend that exits in the middle of an
 * export (FATAL, terminate) leaves no temporary file behind.
 */
static void
export_exit_callback(int code, Datum arg)
{
	remove_run_files(&current_files);
}

/*
 * Write out the buffer: update the checksum, write, and now and then ask
 * the kernel to start writeback so that the final fsync has little left
 * to do.
 */
static void
writer_flush(ExportWriter *w)
{
	char	   *p = w->buf;
	size_t		left = w->used;

	if (left == 0)
		return;
	if (pg_cryptohash_update(w->hash, (const uint8 *) w->buf, w->used) < 0)
		elog(ERROR, "could not update SHA-256 checksum");

	while (left > 0)
	{
		ssize_t		n;

		errno = 0;
		n = write(w->fd, p, left);
		if (n <= 0)
		{
			if (n < 0 && errno == EINTR)
				continue;
			/* a short write without errno means the disk is full */
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write export file \"%s\": %m", w->path)));
		}
		p += n;
		left -= n;
	}
	w->bytes += w->used;
	w->used = 0;

	if (w->bytes - w->flushed >= EXPORT_FLUSH_AFTER)
	{
		pg_flush_data(w->fd, (off_t) w->flushed, (off_t) (w->bytes - w->flushed));
		w->flushed = w->bytes;
	}
}

static void
writer_append(ExportWriter *w, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, EXPORT_BUFFER_SIZE - w->used);

		memcpy(w->buf + w->used, data, n);
		w->used += n;
		data += n;
		len -= n;
		if (w->used == EXPORT_BUFFER_SIZE)
			writer_flush(w);
	}
}

/*
 * The message sink while COPY runs: CopyData ('d') goes to the export file,
 * CopyOutResponse ('H') and CopyDone ('c') are the protocol frame of the
 * COPY and are dropped, anything else goes to the real client when there
 * is one.
 */
static int
export_putmessage(char msgtype, const char *s, size_t len)
{
	if (msgtype == 'd')
	{
		writer_append(redirect_writer, s, len);
		return 0;
	}
	if (msgtype == 'H' || msgtype == 'c')
		return 0;
	if (saved_dest == DestRemote)
		return saved_comm_methods->putmessage(msgtype, s, len);
	return 0;
}

static void
export_putmessage_noblock(char msgtype, const char *s, size_t len)
{
	(void) export_putmessage(msgtype, s, len);
}

static void
export_comm_reset(void)
{
	if (saved_dest == DestRemote)
		saved_comm_methods->comm_reset();
}

static int
export_flush(void)
{
	if (saved_dest == DestRemote)
		return saved_comm_methods->flush();
	return 0;
}

static int
export_flush_if_writable(void)
{
	if (saved_dest == DestRemote)
		return saved_comm_methods->flush_if_writable();
	return 0;
}

static bool
export_is_send_pending(void)
{
	if (saved_dest == DestRemote)
		return saved_comm_methods->is_send_pending();
	return false;
}

static const PQcommMethods export_comm_methods = {
	export_comm_reset,
	export_flush,
	export_flush_if_writable,
	export_is_send_pending,
	export_putmessage,
	export_putmessage_noblock
};

static void
redirect_start(ExportWriter *w)
{
	redirect_writer = w;
	saved_comm_methods = PqCommMethods;
	saved_dest = whereToSendOutput;
	PqCommMethods = &export_comm_methods;
	/* COPY TO STDOUT speaks the protocol only when the output is remote */
	whereToSendOutput = DestRemote;
	redirect_active = true;
}

static void
redirect_stop(void)
{
	if (!redirect_active)
		return;
	PqCommMethods = saved_comm_methods;
	whereToSendOutput = saved_dest;
	redirect_writer = NULL;
	redirect_active = false;
}

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
 * Resolve the directory the caller asked for and make sure it lies inside
 * audit_log.export_directory.  Both sides go through realpath(), so "..",
 * "." and symbolic links are followed before the comparison.
 */
static char *
resolve_directory(const char *requested)
{
	char	   *root_m;
	char	   *target_m;
	char	   *root;
	char	   *target;
	char	   *joined;
	size_t		rootlen;
	struct stat st;

	if (al_export_directory == NULL || al_export_directory[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("server-side exports are disabled"),
				 errdetail("The setting audit_log.export_directory is empty."),
				 errhint("Set audit_log.export_directory to the directory exports may write under and reload the configuration, or export on the client side with \\copy.")));
	if (requested == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export directory must not be null")));

	/* realpath() with a NULL buffer returns malloc'd memory */
	root_m = realpath(al_export_directory, NULL);
	if (root_m == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve audit_log.export_directory \"%s\": %m",
						al_export_directory)));
	root = pstrdup(root_m);
	free(root_m);

	if (is_absolute_path(requested))
		joined = pstrdup(requested);
	else
		joined = psprintf("%s/%s", root, requested);

	target_m = realpath(joined, NULL);
	if (target_m == NULL)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("export directory \"%s\" does not exist", requested),
					 errhint("Create it inside audit_log.export_directory first.")));
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not resolve export directory \"%s\": %m", requested)));
	}
	target = pstrdup(target_m);
	free(target_m);

	rootlen = strlen(root);
	if (!(strncmp(target, root, rootlen) == 0 &&
		  (target[rootlen] == '\0' || target[rootlen] == '/' ||
		   (rootlen == 1 && root[0] == '/'))))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("export directory \"%s\" is outside audit_log.export_directory", requested),
				 errdetail("It resolves to \"%s\", which is not under \"%s\".", target, root),
				 errhint("Give a path inside audit_log.export_directory, absolute or relative to it.")));

	if (stat(target, &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat export directory \"%s\": %m", requested)));
	if (!S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("export path \"%s\" is not a directory", requested)));

	return target;
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
 * Open a new file for writing; it must not exist yet.
 */
static int
open_new_file(const char *path)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create export file \"%s\": %m", path)));
	return fd;
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
		return psprintf("SELECT e.* FROM audit_log.events e"
						" WHERE e.request_time >= %s::pg_catalog.timestamptz"
						" AND e.request_time < %s::pg_catalog.timestamptz"
						" ORDER BY e.request_time, e.event_id",
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
 * Run COPY (query) TO STDOUT (FORMAT csv, HEADER, ENCODING 'UTF8') into the
 * writer.  Returns the number of rows.
 */
static uint64
copy_query_to_writer(const char *sql, ExportWriter *w)
{
	List	   *raw;
	ParseState *pstate;
	CopyToState cstate;
	List	   *options;
	uint64		rows;

	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		elog(ERROR, "export query must be one statement");

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;

	options = list_make3(makeDefElem("format", (Node *) makeString(pstrdup("csv")), -1),
						 makeDefElem("header", (Node *) makeString(pstrdup("true")), -1),
						 makeDefElem("encoding", (Node *) makeString(pstrdup("UTF8")), -1));

	redirect_start(w);
	cstate = al_begin_copy_to(pstate, NULL, linitial_node(RawStmt, raw), InvalidOid,
							  NULL, false, NIL, options);
	rows = DoCopyTo(cstate);
	EndCopyTo(cstate);
	redirect_stop();

	free_parsestate(pstate);
	return rows;
}

/*
 * Write a small file atomically: temporary name, fsync, rename, fsync of
 * the directory.
 */
static void
write_small_file(const char *tmp_path, const char *final_path, const char *content)
{
	int			fd = open_new_file(tmp_path);
	size_t		len = strlen(content);

	errno = 0;
	if (write(fd, content, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmp_path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", tmp_path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmp_path)));
	(void) durable_rename(tmp_path, final_path, ERROR);
}

/*
 * Does audit_log.daily_login_activity(date, date, text) exist?  It comes
 * with the analytics part of the extension.
 */
static bool
daily_login_activity_exists(void)
{
	Oid			argtypes[3] = {DATEOID, DATEOID, TEXTOID};

	return OidIsValid(LookupFuncName(list_make2(makeString("audit_log"),
												makeString("daily_login_activity")),
									 3, argtypes, true));
}

/*
 * The export proper: checks, COPY into a temporary file, fsync, rename,
 * checksum file.  Fills run; raises an error on any failure, leaving the
 * names of what it created in current_files for the caller to remove.
 */
static void
do_export(ExportRun *run)
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

	check_export_privilege();

	if (run->source == NULL ||
		(strcmp(run->source, "events") != 0 && strcmp(run->source, "daily_login_activity") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid export source \"%s\"", run->source ? run->source : "(null)"),
				 errhint("Use 'events' or 'daily_login_activity'.")));
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

	dir = resolve_directory(run->directory);

	/*
	 * The file name holds the second it was written in.  When the same
	 * window was exported within the same second (its file, or another
	 * run's temporary file, is there), wait for the next second: the name
	 * changes, and no export overwrites another.
	 */
	for (i = 0;; i++)
	{
		name = psprintf("audit_log_%s_%s_%s_%s.csv", run->source,
						compact_utc(run->from_time), compact_utc(run->to_time),
						compact_utc(run->started_at));
		/* room for "/.", ".sha256.tmp" and the NUL */
		if (strlen(dir) + strlen(name) + 16 > MAXPGPATH)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("export directory path \"%s\" is too long", dir),
					 errdetail("The path of an export file may have at most %d bytes.", MAXPGPATH - 16)));
		snprintf(current_files.tmp_path, MAXPGPATH, "%s/.%s.tmp", dir, name);
		run->file = psprintf("%s/%s", dir, name);
		if (i >= 3 || (stat(run->file, &st) != 0 && stat(current_files.tmp_path, &st) != 0))
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
	w.path = current_files.tmp_path;
	w.fd = open_new_file(current_files.tmp_path);
	w.buf = palloc(EXPORT_BUFFER_SIZE);
	w.hash = pg_cryptohash_create(PG_SHA256);
	if (w.hash == NULL || pg_cryptohash_init(w.hash) < 0)
		elog(ERROR, "could not initialize SHA-256 checksum");

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

	sql = export_query(run);
	t_copy = GetCurrentTimestamp();
	run->rows = (int64) copy_query_to_writer(sql, &w);
	AtEOXact_GUC(true, nest);

	writer_flush(&w);
	t_sync = GetCurrentTimestamp();
	if (pg_fsync(w.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync export file \"%s\": %m", current_files.tmp_path)));
	if (CloseTransientFile(w.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close export file \"%s\": %m", current_files.tmp_path)));
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
	strlcpy(current_files.final_path, run->file, MAXPGPATH);
	(void) durable_rename(current_files.tmp_path, run->file, ERROR);
	current_files.tmp_path[0] = '\0';

	/* The checksum file, in the format sha256sum -c reads. */
	snprintf(current_files.sha_tmp_path, MAXPGPATH, "%s/.%s.sha256.tmp", dir, name);
	snprintf(current_files.sha_final_path, MAXPGPATH, "%s/%s.sha256", dir, name);
	write_small_file(current_files.sha_tmp_path, current_files.sha_final_path,
					 psprintf("%s  %s\n", hex, name));
	current_files.sha_tmp_path[0] = '\0';
}

/*
 * Run audit_log.export_command on the finished file.  Returns NULL on
 * success, otherwise a description with the exit status and output.
 */
static char *
run_export_command(const char *path)
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
	rc = SPI_execute_with_args(record_event_sql, RF_NFIELDS + 1, argtypes, args, nulls, false, 1);
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
 * Record a run: its export_runs row and its EXPORTS/EXPORT event.
 * Autonomously when possible; otherwise in the current transaction, with a
 * WARNING, since that record rolls back with the transaction.
 */
static void
record_run(ExportRun *run, bool in_aborting_call)
{
	char	   *values[RF_NFIELDS];
	StringInfoData ed;
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

	initStringInfo(&ed);
	appendStringInfoString(&ed, "{\"file\": ");
	if (run->file)
		escape_json(&ed, run->file);
	else
		appendStringInfoString(&ed, "null");
	if (run->file)
		appendStringInfo(&ed, ", \"rows\": " INT64_FORMAT ", \"bytes\": " INT64_FORMAT ", \"sha256\": \"%s\"",
						 run->rows, run->bytes, run->sha256 ? run->sha256 : "");
	else
		appendStringInfoString(&ed, ", \"rows\": null, \"bytes\": null, \"sha256\": null");
	appendStringInfoString(&ed, ", \"from\": ");
	if (values[RF_FROM_TIME])
		escape_json(&ed, iso_utc(run->from_time));
	else
		appendStringInfoString(&ed, "null");
	appendStringInfoString(&ed, ", \"to\": ");
	if (values[RF_TO_TIME])
		escape_json(&ed, iso_utc(run->to_time));
	else
		appendStringInfoString(&ed, "null");
	appendStringInfoString(&ed, ", \"source\": ");
	if (run->source)
		escape_json(&ed, run->source);
	else
		appendStringInfoString(&ed, "null");
	appendStringInfoString(&ed, ", \"directory\": ");
	if (run->directory)
		escape_json(&ed, run->directory);
	else
		appendStringInfoString(&ed, "null");
	if (run->job_name)
	{
		appendStringInfoString(&ed, ", \"job_name\": ");
		escape_json(&ed, run->job_name);
	}
	if (run->error)
	{
		appendStringInfoString(&ed, ", \"error\": ");
		escape_json(&ed, run->error);
	}
	appendStringInfoChar(&ed, '}');
	values[RF_ENTRY_DATA] = ed.data;

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

/*
 * audit_log.export_csv(directory text, from_time timestamptz,
 *     to_time timestamptz, source text DEFAULT 'events')
 *     RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
 * and, with a fifth argument job_name, the scheduled form
 * audit_log._export_csv_job().
 */
Datum
audit_log_export_csv(PG_FUNCTION_ARGS)
{
	ExportRun	run;
	MemoryContext callcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	char	   *cmd_error;

	memset(&run, 0, sizeof(run));
	run.started_at = GetCurrentTimestamp();
	run.directory = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	run.have_from = !PG_ARGISNULL(1);
	if (run.have_from)
		run.from_time = PG_GETARG_TIMESTAMPTZ(1);
	run.have_to = !PG_ARGISNULL(2);
	if (run.have_to)
		run.to_time = PG_GETARG_TIMESTAMPTZ(2);
	run.source = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		run.job_name = text_to_cstring(PG_GETARG_TEXT_PP(4));

	if (!exit_callback_registered)
	{
		before_shmem_exit(export_exit_callback, (Datum) 0);
		exit_callback_registered = true;
	}
	memset(&current_files, 0, sizeof(current_files));

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(callcxt);
	PG_TRY();
	{
		do_export(&run);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		redirect_stop();
		MemoryContextSwitchTo(callcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;

		remove_run_files(&current_files);
		run.file = NULL;
		run.success = false;
		run.finished_at = GetCurrentTimestamp();
		run.sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		run.error = edata->detail
			? psprintf("%s: %s", edata->message, edata->detail)
			: pstrdup(edata->message);
		record_run(&run, true);
		ReThrowError(edata);
	}
	PG_END_TRY();

	/* The file is complete and published: nothing removes it from here on. */
	memset(&current_files, 0, sizeof(current_files));

	cmd_error = NULL;
	if (al_export_command != NULL && al_export_command[0] != '\0')
		cmd_error = run_export_command(run.file);

	run.finished_at = GetCurrentTimestamp();
	if (cmd_error != NULL)
	{
		run.success = false;
		run.error = cmd_error;
		run.sqlstate = pstrdup(unpack_sql_state(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION));
		record_run(&run, true);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("audit_log.export_command failed for \"%s\"", run.file),
				 errdetail("%s", cmd_error),
				 errhint("The export file and its .sha256 file were kept; the run is recorded as FAILURE.")));
	}
	run.success = true;
	{
		TimestampTz t_rec = GetCurrentTimestamp();

		record_run(&run, false);
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
