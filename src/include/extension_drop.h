/*-------------------------------------------------------------------------
 *
 * extension_drop.h
 *		DROP EXTENSION audit_log also removes the extension's pg_cron jobs.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_EXTENSION_DROP_H
#define AUDIT_LOG_EXTENSION_DROP_H

/* extension_drop.c: install the object access hook; from _PG_init */
extern void al_extension_drop_init(void);

#endif							/* AUDIT_LOG_EXTENSION_DROP_H */
