/*-------------------------------------------------------------------------
 *
 * capture_auth.h
 *		Capture of logins and logouts (capture_auth.c).
 *
 * capture_auth.c installs only ClientAuthentication_hook itself; its
 * emit_log_hook and transaction-callback parts are called by the
 * extension's single hook and callback in audit_log.c.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_AUTH_H
#define AUDIT_LOG_CAPTURE_AUTH_H

#include "access/xact.h"
#include "utils/elog.h"

/* capture_auth.c: install ClientAuthentication_hook; when preloaded */
extern void al_capture_auth_init(void);

/* capture_auth.c: a FATAL that ends a connection attempt (emit_log_hook) */
extern void al_capture_auth_emit_log(ErrorData *edata);

/* capture_auth.c: the first commit of an authenticated session (LOGIN) */
extern void al_capture_auth_xact(XactEvent event);

#endif							/* AUDIT_LOG_CAPTURE_AUTH_H */
