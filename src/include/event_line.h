/*-------------------------------------------------------------------------
 *
 * event_line.h
 *		An event as one JSON line, and that line in the server log
 *		(event_line.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_EVENT_LINE_H
#define AUDIT_LOG_EVENT_LINE_H

#include "audit_log.h"

/* event_line.c: no allocation, no lock (usable in emit_log_hook) */
extern const char *al_uuid_text(const pg_uuid_t *id, char *buf);
extern void al_format_event_json(const AuditEvent *ev, char *buf, size_t len);
extern void al_log_event_line(const AuditEvent *ev, bool dropped);
extern void al_log_dropped_event(const AuditEvent *ev, const char *why);

#endif							/* AUDIT_LOG_EVENT_LINE_H */
