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

/*
 * Called from _PG_init when preloaded: requests the shared memory, installs
 * the shmem startup hook, registers the background writer and the login
 * capture hooks.
 */
extern void al_capture_init(void);

/* A consistent copy of the queue's counters (queue.c). */
typedef struct AlQueueStats
{
	uint64		enqueued;		/* events accepted since server start */
	uint64		written;		/* events the writer has committed */
	uint64		dropped;		/* events that found the queue full */
	uint64		abandoned_logins;	/* clients that hung up at the password
									 * prompt */
	uint64		queued;			/* events waiting to be written */
	TimestampTz oldest;			/* request_time of the oldest queued event,
								 * 0 if none */
	int			writer_pid;		/* 0 when the writer is not running */
	bool		paused;			/* writing paused for tests */
} AlQueueStats;

/* queue.c */
extern void al_queue_stats(AlQueueStats *stats);
extern void al_queue_count_abandoned_login(void);
extern void al_format_event_json(const AuditEvent *ev, char *buf, size_t len);
extern void al_log_event_line(const AuditEvent *ev, bool dropped);
extern bool al_queue_wait_written(long timeout_ms);

/* queue.c: the background writer's side of the queue */
extern void al_queue_attach_writer(void);
extern int	al_queue_peek(AuditEvent *buf, int max);
extern void al_queue_release(int n, bool dropped);
extern bool al_queue_is_paused(void);
extern void al_queue_set_standby(bool standby);
extern bool al_queue_set_paused(bool paused);

/* writer.c */
extern void al_register_writer(void);
extern PGDLLEXPORT void al_writer_main(Datum main_arg);

/* capture_auth.c */
extern void al_capture_auth_init(void);

#endif							/* AUDIT_LOG_CAPTURE_H */
