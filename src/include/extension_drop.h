/*-------------------------------------------------------------------------
 *
 * extension_drop.h
 *		DROP EXTENSION audit_log: the guard (audit_log.allow_drop), the record
 *		that survives the drop, and the removal of the pg_cron jobs.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_EXTENSION_DROP_H
#define AUDIT_LOG_EXTENSION_DROP_H

#include "access/xact.h"
#include "nodes/nodes.h"

/* extension_drop.c: install the object access hook; from _PG_init */
extern void al_extension_drop_init(void);

/*
 * extension_drop.c: the utility hook's check before every statement
 * (capture_admin.c): refuses a drop of the extension while
 * audit_log.allow_drop is off, counts what an allowed one removes, notes a
 * CREATE EXTENSION audit_log.
 */
extern void al_extension_drop_utility(Node *stmt);

/* extension_drop.c: parts of the one transaction callback pair (audit_log.c) */
extern void al_extension_drop_xact(XactEvent event);
extern void al_extension_drop_subxact(SubXactEvent event);

#endif							/* AUDIT_LOG_EXTENSION_DROP_H */
