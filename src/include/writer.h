/*-------------------------------------------------------------------------
 *
 * writer.h
 *		The background writer (writer.c), which moves captured events from
 *		the shared-memory queue into audit_log.events.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_WRITER_H
#define AUDIT_LOG_WRITER_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/palloc.h"

#include "audit_log.h"

/* writer.c: register the background worker; from _PG_init when preloaded */
extern void al_writer_init(void);

/*
 * writer.c: in the PG_CATCH of a transaction the writer (or alerts.c, which
 * it runs) does on its own: back to cxt, the error to the server log, the
 * transaction aborted; the worker goes on.
 */
extern void al_writer_report_and_abort(MemoryContext cxt);

/* writer.c: is the extension (and its table) there to write into? */
extern bool al_extension_ready(void);

/* writer.c: a text datum of s, an invalid byte of the encoding made '?' */
extern Datum al_writer_text_datum(const char *s);

/*
 * writer_bulk.c: a batch by table multi-insert, inside the caller's
 * transaction; false (nothing written) when it must go the INSERT's way
 */
extern bool al_writer_bulk_insert(const AuditEvent *evs, int n, bool with_origin,
								  TimestampTz logged_time, const char *source_node);

/*
 * writer_jsonb.c: entry_data's JSON text as jsonb, built as jsonb_in builds
 * it (jsonb_in itself for what its own reader does not take)
 */
extern Datum al_writer_jsonb(const char *json);

/* writer_prepared.c: PREPARED events and their outcome (writer only) */
extern void al_writer_note_prepared(const AuditEvent *evs, int n, MemoryContext cxt);
extern void al_writer_resolve_prepared(MemoryContext cxt);

/* writer_step_aside.c: the utility hook that asks the writer to leave */
extern void al_writer_step_aside_init(void);

/* writer.c: the worker's entry point, found by name by the postmaster */
extern PGDLLEXPORT void al_writer_main(Datum main_arg);

#endif							/* AUDIT_LOG_WRITER_H */
