/*-------------------------------------------------------------------------
 *
 * capture_rules.h
 *		Capture rules (capture_rules.c): the shared-memory copy of
 *		audit_log.capture_rules and the matcher that the capture and
 *		explain_capture share.
 *
 * queue.c calls al_capture_rules_skip for every event before it queues it;
 * audit_log.c wires the shared memory and the transaction callback;
 * writer.c loads the table at its start.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_RULES_H
#define AUDIT_LOG_CAPTURE_RULES_H

#include "access/xact.h"

#include "audit_log.h"

/* Most rules the shared-memory copy holds (a commit of more is refused). */
#define AL_MAX_CAPTURE_RULES 256

/* capture_rules.c: load time (shmem request and startup, from _PG_init) */
extern void al_capture_rules_init(void);

/*
 * capture_rules.c: the hot path.  Should this event be skipped?  Never
 * raises an error, never allocates, takes no lock (a seqlock-style read of
 * shared memory), so it is safe during authentication, without a PGPROC
 * and inside emit_log_hook.  Counts the skip against the deciding rule.
 */
extern bool al_capture_rules_skip(const AuditEvent *ev);

/* capture_rules.c: part of the extension's one transaction callback */
extern void al_capture_rules_xact(XactEvent event);

/* capture_rules.c: the writer loads the table at its start (in a transaction) */
extern void al_capture_rules_load(void);

#endif							/* AUDIT_LOG_CAPTURE_RULES_H */
