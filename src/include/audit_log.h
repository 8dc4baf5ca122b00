/*-------------------------------------------------------------------------
 *
 * audit_log.h
 *		Declarations shared by the parts of the audit_log extension: the
 *		settings, the event categories, the in-memory form of an event, and
 *		the helpers that fill an event's base data.
 *
 * Every C file of the extension includes this header; it declares only
 * what audit_log.c (settings, load), event.c and log_event.c define.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_H
#define AUDIT_LOG_H

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/uuid.h"

/*
 * Event categories, in the order of the SQL enum audit_log.event_category.
 * The numeric values are only used inside one server's memory.
 */
typedef enum AuditCategory
{
	AL_CAT_ACCESS_SIGMA = 0,
	AL_CAT_USER_ACCOUNTS,
	AL_CAT_ACCOUNT_TYPES,
	AL_CAT_TEAMS,
	AL_CAT_CONNECTIONS,
	AL_CAT_EXPORTS,
	AL_CAT_AUDIT_LOG,
	AL_NUM_CATEGORIES
} AuditCategory;

/*
 * Where an event comes from, in the order of the SQL enum
 * audit_log.event_origin (1.1).  Set by the server, never by a caller:
 * SERVER for what the hooks capture (the zero value, so a zeroed event is
 * a captured one), EXTENSION for what the extension writes about itself
 * (exports, retention, seals, settings, fleet), APPLICATION for log_event.
 */
typedef enum AuditOrigin
{
	AL_ORIGIN_SERVER = 0,
	AL_ORIGIN_EXTENSION,
	AL_ORIGIN_APPLICATION,
	AL_NUM_ORIGINS
} AuditOrigin;

/* event.c: the names of the origins, as in the SQL enum */
extern const char *const al_origin_names[AL_NUM_ORIGINS];

/* audit_log.c: the names of the categories, as in the SQL enum */
extern const char *const al_category_names[AL_NUM_CATEGORIES];

/* Sizes of the text fields of a captured event (including the final NUL). */
#define AL_TYPE_LEN			64
#define AL_REASON_LEN		64
#define AL_NAME_LEN			64		/* role, database, application names */
#define AL_OBJECT_LEN		256
#define AL_ADDR_LEN			64
#define AL_SESSION_LEN		32
#define AL_ENTRY_DATA_LEN	1280

/*
 * A captured event as it travels from a backend, through the shared-memory
 * queue, to the background writer.  Fixed size so it can live in a queue
 * slot; an empty string stands for SQL NULL.  entry_data is the text of a
 * JSON object (never empty: at least "{}").
 */
typedef struct AuditEvent
{
	pg_uuid_t	event_id;
	TimestampTz request_time;
	int32		backend_pid;
	uint8		category;		/* AuditCategory */
	bool		success;
	char		event_type[AL_TYPE_LEN];
	char		reason_code[AL_REASON_LEN];
	char		user_name[AL_NAME_LEN];
	char		object_name[AL_OBJECT_LEN];
	char		client_addr[AL_ADDR_LEN];
	char		application_name[AL_NAME_LEN];
	char		database_name[AL_NAME_LEN];
	char		session_id[AL_SESSION_LEN];
	char		entry_data[AL_ENTRY_DATA_LEN];
	uint8		origin;			/* AuditOrigin; last, in what was padding,
								 * so a queue file of 1.0 reads as SERVER */
	uint8		intent;			/* AL_INTENT_* (synchronous capture) */
	uint64		intent_xid;		/* FullTransactionId of the command's
								 * transaction, when intent != NONE */
} AuditEvent;

/*
 * The intent of an administrative event (see doc/capture.md, "A power loss
 * at any instant"): before its transaction commits, a copy of the event is
 * written by the writer into audit_log.capture_intents with the
 * transaction id (AL_INTENT_RECORD); the event itself, once the outcome is
 * known, deletes that copy in the transaction that writes it
 * (AL_INTENT_FINAL).  An intent left behind is resolved by the status of
 * its transaction id.
 */
#define AL_INTENT_NONE		0
#define AL_INTENT_RECORD	1
#define AL_INTENT_FINAL		2

/* Settings (audit_log.c) */
extern char *al_database;
extern char *al_capture_string;
extern int	al_capture_mask;	/* bit (1 << AuditCategory) set = captured */
extern int	al_queue_size;
extern int	al_queue_wait_ms;
extern int	al_flush_interval_ms;
extern int	al_retention_days;
extern char *al_export_directory;
extern char *al_export_command;
extern bool al_require_export_before_purge;
extern bool al_log_to_server;

/* audit_log.log_to_server_format: the form of the server-log line */
typedef enum AlLogFormat
{
	AL_LOG_FORMAT_JSON,			/* the columns of audit_log.events */
	AL_LOG_FORMAT_OCSF,			/* as export(format => 'ocsf') */
	AL_LOG_FORMAT_ECS			/* as export(format => 'ecs') */
} AlLogFormat;
extern int	al_log_to_server_format;
extern int	al_seal_delay_min;
extern int	al_max_future_s;	/* audit_log.max_future, in seconds */
extern bool al_allow_drop;
extern bool al_log_reads;
extern bool al_synchronous;
extern int	al_on_failure;		/* AlOnFailure */
extern char *al_standby_conninfo;

/* Values of audit_log.on_failure. */
typedef enum AlOnFailure
{
	AL_ON_FAILURE_CONTINUE,		/* drop to the server log, go on */
	AL_ON_FAILURE_FAIL			/* refuse what cannot be recorded */
} AlOnFailure;

/* true when loaded through shared_preload_libraries */
extern bool al_preloaded;

/* Number of days maintain() creates partitions ahead of today. */
#define AL_PARTITIONS_AHEAD 7

/* Longest entry_data log_event() accepts, in bytes of its jsonb form. */
#define AL_MAX_ENTRY_DATA_BYTES (64 * 1024)

/* audit_log.c: the settings seen at run time */
extern bool al_category_captured(AuditCategory category);
extern void al_require_preload(const char *what);

/*
 * audit_log.c: register the extension's one pair of transaction callbacks
 * in this process, if not yet done.  _PG_init calls it when preloaded;
 * fleet.c calls it when add_source first leaves something for the end of
 * the transaction, which covers a library loaded late.
 */
extern void al_xact_callbacks_register(void);

/* event.c */
extern void al_uuid7(pg_uuid_t *uuid, TimestampTz ts);
extern void al_session_id(char *buf, size_t len);
extern const char *al_source_node(void);

/* countif.c: the plan-time rewrite of countif into count(*) FILTER */
extern void al_countif_init(void);
extern bool al_client_addr(char *buf, size_t len);
extern void al_event_init_session(AuditEvent *ev, AuditCategory category,
								  const char *event_type, bool success);
extern void al_strlcpy_clip(char *dst, const char *src, size_t len);

/* log_event.c: set while the extension itself moves or removes rows */
extern int	al_internal_dml_depth;

/*
 * log_event.c: > 0 while C code of the extension calls log_event about
 * itself (fleet.c); such rows are origin EXTENSION.  No SQL caller can set
 * it.
 */
extern int	al_extension_event_depth;

#endif							/* AUDIT_LOG_H */
