/*-------------------------------------------------------------------------
 *
 * capture_admin.h
 *		The administrative capture (capture_admin.c): events of role,
 *		attribute, privilege, team and connection commands, seen through
 *		ProcessUtility_hook and given their outcome at transaction end.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_ADMIN_H
#define AUDIT_LOG_CAPTURE_ADMIN_H

#include "access/xact.h"
#include "utils/elog.h"

/* Install the ProcessUtility hook; from _PG_init when preloaded. */
extern void al_capture_admin_init(void);

/* Parts of the extension's one emit_log_hook and transaction callbacks (audit_log.c). */
extern void al_capture_admin_emit_log(ErrorData *edata);
extern void al_capture_admin_xact(XactEvent event);
extern void al_capture_admin_subxact(SubXactEvent event, SubTransactionId mySubid,
									 SubTransactionId parentSubid);

#endif							/* AUDIT_LOG_CAPTURE_ADMIN_H */
