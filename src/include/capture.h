/*-------------------------------------------------------------------------
 *
 * capture.h
 *		The capture pipeline: backends put events into a shared-memory queue
 *		(queue.c); a background worker writes them into audit_log.events of
 *		audit_log.database (writer.c).  Logins are captured in
 *		capture_auth.c, administrative commands in capture_utility.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_CAPTURE_H
#define AUDIT_LOG_CAPTURE_H

#include "audit_log.h"

/*
 * Hand a captured event to the background writer.  Never raises an error
 * and never allocates, so it is safe in authentication code and in
 * emit_log_hook.  When the queue is full it waits up to audit_log.queue_wait
 * for room; then it counts the event as dropped, writes it whole to the
 * server log and returns false.
 */
extern bool al_enqueue(const AuditEvent *ev);

#endif							/* AUDIT_LOG_CAPTURE_H */
