/*-------------------------------------------------------------------------
 *
 * capture_trail.h
 *		Self-audit of the audit trail (capture_trail.c): AUDIT_LOG
 *		TRAIL_CHANGE events for statements that alter the trail's own
 *		objects, AUDIT_LOG READ events for reads of audit_log.events, and
 *		the test of "is this the extension's own work".
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_TRAIL_H
#define AUDIT_LOG_CAPTURE_TRAIL_H

#include "nodes/nodes.h"

/* capture_trail.c: load time (fmgr_hook, ExecutorCheckPerms_hook); preloaded only */
extern void al_capture_trail_init(void);

/*
 * capture_trail.c: true while the extension does its own work: inside one
 * of its SECURITY DEFINER functions (maintain, retention, seal, verify, the
 * scheduled exports ...), inside its install or update script, or inside
 * al_trail_internal_begin/end.
 */
extern bool al_trail_internal(void);
extern void al_trail_internal_begin(void);
extern void al_trail_internal_end(void);

/*
 * capture_trail.c, for the utility hook's dispatch (capture_admin.c):
 * (1 << AL_CAT_AUDIT_LOG) when the statement alters the trail's own
 * objects (or session_replication_role) and is not the extension's own
 * work, else 0; and the building of its TRAIL_CHANGE event, called inside
 * capture_statement like the other builders.
 */
extern int	al_trail_categories(Node *stmt);
extern void al_trail_build(Node *stmt);

/* capture_trail.c: the TRAIL_CHANGE event of audit_log.pause_writer() (capture_sql.c) */
extern void al_trail_pause_writer(bool paused, bool previous);

#endif							/* AUDIT_LOG_CAPTURE_TRAIL_H */
