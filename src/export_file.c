/*-------------------------------------------------------------------------
 *
 * export_file.c
 *		The files of audit_log.export_csv(): confinement of the target
 *		directory to audit_log.export_directory, creation of new files,
 *		the writer that receives COPY's output, and durable small writes.
 *
 * COPY ... TO STDOUT runs with the frontend protocol's message sink
 * (PqCommMethods, the same hook parallel workers use to redirect their
 * output) pointing at an ExportWriter: CopyData messages go to its buffer,
 * which is hashed (SHA-256) and written to the run's temporary file; the
 * CopyOutResponse and CopyDone messages are dropped; any other message (a
 * NOTICE raised by a function in the query) goes to the real client.
 *
 * The files a run creates are listed in one ExportFiles of this process
 * (export_files_begin), so that an error removes all of them
 * (export_files_remove) and a FATAL exit removes them in a
 * before_shmem_exit callback.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands/copy.h"
#include "libpq/libpq.h"
#include "nodes/makefuncs.h"
#include "parser/parser.h"
#include "parser/parse_node.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"

#include "audit_log.h"
#include "compat.h"
#include "export.h"

/* Ask the kernel to start writeback after this many bytes. */
#define EXPORT_FLUSH_AFTER		(16 * 1024 * 1024)

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
void
export_files_remove(ExportFiles *files)
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
	export_files_remove(&current_files);
}

/*
 * Write bytes to the file as they are: update the checksum, write, and now
 * and then ask the kernel to start writeback so that the final fsync has
 * little left to do.  The compressor's output comes here too.
 */
void
export_writer_write_out(ExportWriter *w, const char *data, size_t len)
{
	const char *p = data;
	size_t		left = len;

	if (len == 0)
		return;
	if (pg_cryptohash_update(w->hash, (const uint8 *) data, len) < 0)
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
	w->bytes += len;

	if (w->bytes - w->flushed >= EXPORT_FLUSH_AFTER)
	{
		pg_flush_data(w->fd, (off_t) w->flushed, (off_t) (w->bytes - w->flushed));
		w->flushed = w->bytes;
	}
}

/*
 * Write out the buffer, through the compressor when the run has one.
 */
void
export_writer_flush(ExportWriter *w)
{
	if (w->used == 0)
		return;
	if (w->compressor != NULL)
		export_compress_data(w, w->buf, w->used, false);
	else
		export_writer_write_out(w, w->buf, w->used);
	w->used = 0;
}

/*
 * Write out what is left, and end the compressed stream.
 */
void
export_writer_finish(ExportWriter *w)
{
	if (w->compressor != NULL)
	{
		export_compress_data(w, w->buf, w->used, true);
		w->used = 0;
		export_compress_end(w);
	}
	else
		export_writer_flush(w);
}

/*
 * Append bytes to the writer's buffer, writing it out (through the
 * compressor) each time it is full: COPY's CopyData and the JSON lines of
 * export_lines.c come here.
 */
void
export_writer_append(ExportWriter *w, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, EXPORT_BUFFER_SIZE - w->used);

		memcpy(w->buf + w->used, data, n);
		w->used += n;
		data += n;
		len -= n;
		if (w->used == EXPORT_BUFFER_SIZE)
			export_writer_flush(w);
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
		export_writer_append(redirect_writer, s, len);
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

/*
 * Give the frontend protocol back its own message sink; harmless when no
 * redirection is active (error paths call it unconditionally).
 */
void
export_redirect_stop(void)
{
	if (!redirect_active)
		return;
	PqCommMethods = saved_comm_methods;
	whereToSendOutput = saved_dest;
	redirect_writer = NULL;
	redirect_active = false;
}

/*
 * Start a run's list of files: empty, and removed by a FATAL exit of this
 * backend (the exit callback is registered once per process).
 */
ExportFiles *
export_files_begin(void)
{
	if (!exit_callback_registered)
	{
		before_shmem_exit(export_exit_callback, (Datum) 0);
		exit_callback_registered = true;
	}
	memset(&current_files, 0, sizeof(current_files));
	return &current_files;
}

/*
 * Resolve the directory the caller asked for and make sure it lies inside
 * audit_log.export_directory.  Both sides go through realpath(), so "..",
 * "." and symbolic links are followed before the comparison.
 */
char *
export_resolve_directory(const char *requested)
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
 * Open a new file for writing; it must not exist yet.
 */
int
export_open_new_file(const char *path)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create export file \"%s\": %m", path)));
	return fd;
}

/*
 * Run COPY (query) TO STDOUT (FORMAT csv, HEADER, ENCODING 'UTF8') into the
 * writer.  Returns the number of rows.  Without csv, the query has one text
 * column (a JSON line) written as it is: CSV mode without header, with a
 * delimiter and quote character (0x01, 0x02) that JSON text always
 * escapes, so that no value is ever quoted (export_format.c).
 */
uint64
export_copy_to_writer(const char *sql, ExportWriter *w, bool csv)
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
						 makeDefElem("header", (Node *) makeString(pstrdup(csv ? "true" : "false")), -1),
						 makeDefElem("encoding", (Node *) makeString(pstrdup("UTF8")), -1));
	if (!csv)
		options = lappend(lappend(options,
								  makeDefElem("delimiter", (Node *) makeString(pstrdup("\x01")), -1)),
						  makeDefElem("quote", (Node *) makeString(pstrdup("\x02")), -1));

	redirect_start(w);
	cstate = al_begin_copy_to(pstate, NULL, linitial_node(RawStmt, raw), InvalidOid,
							  NULL, false, NIL, options);
	rows = DoCopyTo(cstate);
	EndCopyTo(cstate);
	export_redirect_stop();

	free_parsestate(pstate);
	return rows;
}

/*
 * Write a small file atomically: temporary name, fsync, rename, fsync of
 * the directory.
 */
void
export_write_small_file(const char *tmp_path, const char *final_path, const char *content)
{
	export_write_small_file_len(tmp_path, final_path, content, strlen(content));
}

/*
 * The same for bytes that may hold a NUL (a raw signature).
 */
void
export_write_small_file_len(const char *tmp_path, const char *final_path,
							const char *content, size_t len)
{
	int			fd = export_open_new_file(tmp_path);

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
