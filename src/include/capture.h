/*-------------------------------------------------------------------------
 *
 * capture.h
 *		Compatibility only: the declarations that were here are now in
 *		queue.h, writer.h and capture_auth.h.  Still included by
 *		capture_utility.c.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
/* compatibility: removed at merge */
#ifndef AUDIT_LOG_CAPTURE_H
#define AUDIT_LOG_CAPTURE_H

#include "queue.h"
#include "writer.h"
#include "capture_auth.h"

#endif							/* AUDIT_LOG_CAPTURE_H */
