/*-------------------------------------------------------------------------
 *
 * export.h
 *		The parts of audit_log.export() and export_csv() shared by their
 *		files: export.c (the SQL entry points and the export itself),
 *		export_file.c (the files: directory confinement, temporary files,
 *		the COPY redirection writer, durable writes), export_record.c (the
 *		record of each run, export_command), export_format.c (formats,
 *		compressions, the JSON-lines queries) and export_compress.c (gzip
 *		and zstd while writing).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_EXPORT_H
#define AUDIT_LOG_EXPORT_H

#include "common/cryptohash.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/* Size of the write buffer; the checksum is updated once per buffer. */
#define EXPORT_BUFFER_SIZE		(1024 * 1024)

/* The formats and compressions of audit_log.export() (export_format.c). */
typedef enum ExportFormat
{
	EXPORT_FORMAT_CSV,
	EXPORT_FORMAT_JSONL,
	EXPORT_FORMAT_OCSF,
	EXPORT_FORMAT_ECS
} ExportFormat;

typedef enum ExportCompression
{
	EXPORT_COMPRESSION_NONE,
	EXPORT_COMPRESSION_GZIP,
	EXPORT_COMPRESSION_ZSTD
} ExportCompression;

struct ExportCompressor;

/*
 * One export run, as recorded in export_runs and in the EXPORT event.
 */
typedef struct ExportRun
{
	TimestampTz started_at;
	TimestampTz finished_at;
	char	   *source;
	bool		with_format;	/* audit_log.export(), not export_csv() */
	char	   *format;			/* as given; NULL for export_csv() */
	char	   *compression;	/* as given; NULL for export_csv() */
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
	bool		formula_guard;	/* quote cells a spreadsheet would run */
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
	uint64		bytes;			/* bytes handed to write() (compressed) */
	uint64		flushed;		/* bytes for which writeback was requested */
	pg_cryptohash_ctx *hash;
	struct ExportCompressor *compressor;	/* NULL: written as it is */
} ExportWriter;

/* export_file.c: the files of a run */
extern ExportFiles *export_files_begin(void);
extern void export_files_remove(ExportFiles *files);
extern char *export_resolve_directory(const char *requested);
extern int	export_open_new_file(const char *path);
extern void export_write_small_file(const char *tmp_path, const char *final_path,
									const char *content);
extern void export_write_small_file_len(const char *tmp_path, const char *final_path,
										const char *content, size_t len);

/* export_file.c: COPY's output, redirected into an ExportWriter */
extern void export_writer_append(ExportWriter *w, const char *data, size_t len);
extern void export_writer_flush(ExportWriter *w);
extern void export_writer_write_out(ExportWriter *w, const char *data, size_t len);
extern void export_writer_finish(ExportWriter *w);
extern uint64 export_copy_to_writer(const char *sql, ExportWriter *w, bool csv);
extern void export_redirect_stop(void);

/* export_format.c */
extern ExportFormat export_parse_format(const char *name);
extern ExportCompression export_parse_compression(const char *name);
extern void export_check_combination(const char *source, ExportFormat format);
extern const char *export_file_suffix(ExportFormat format, ExportCompression compression);
extern char *export_format_query(ExportFormat format, const char *base_sql);

/*
 * export_lines.c: one event as text, for its OCSF and ECS forms (an
 * exported row, or the server-log line of queue.c); NULL stands for null.
 */
typedef struct AlEventText
{
	const char *event_id;
	const char *request_time;	/* ISO 8601, as to_jsonb() writes it */
	int64		request_ms;		/* epoch milliseconds */
	const char *logged_time;	/* NULL: not known (then logged_ms unused) */
	int64		logged_ms;
	const char *category;
	const char *type;
	bool		success;
	const char *reason;
	const char *user_name;
	const char *user_email;
	const char *object_name;
	const char *client_addr;	/* its text */
	const char *client_ip;		/* the same without a mask */
	const char *application_name;
	const char *database_name;
	const char *backend_pid;	/* its text */
	const char *session_id;
	const char *source_node;
	const char *entry_data;		/* JSON text of an object */
	const char *message;		/* "<category> <type>" */
	const char *action;			/* ECS event.action */
} AlEventText;

struct AlJson;
extern int64 export_lines_to_writer(const char *sql, ExportWriter *w, ExportFormat format);
extern void al_event_ocsf(struct AlJson *js, const AlEventText *ev);
extern void al_event_ecs(struct AlJson *js, const AlEventText *ev);
extern void al_event_action_ascii(const char *type, char *buf, size_t len);

/* export_compress.c */
extern void export_compress_begin(ExportWriter *w, ExportCompression kind);
extern void export_compress_data(ExportWriter *w, const char *data, size_t len, bool finish);
extern void export_compress_end(ExportWriter *w);
extern void export_compress_abort(void);

/* export_record.c */
extern char *export_run_command(const char *path);
extern void export_record_run(ExportRun *run, bool in_aborting_call);
extern PGDLLEXPORT void audit_log_export_recorder_main(Datum main_arg);

#endif							/* AUDIT_LOG_EXPORT_H */
