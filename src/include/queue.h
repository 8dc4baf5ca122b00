/*-------------------------------------------------------------------------
 *
 * queue.h
 *		The shared-memory queue between the processes that capture events
 *		and the background writer (queue.c): the producers' side, the
 *		counters, and the writer's side.
 *
 * This header sits below capture and writer: the capture files and
 * writer.c include it, queue.c includes neither of theirs.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_QUEUE_H
#define AUDIT_LOG_QUEUE_H

#include "audit_log.h"

/* A consistent copy of the queue's counters (see al_queue_stats). */
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

/*
 * Where events that could not be written to the table went instead (each
 * to the server log, as its JSON line): the reasons a CAPTURE_GAP event
 * counts.
 */
typedef enum AlGapReason
{
	AL_GAP_QUEUE_FULL = 0,		/* the queue was full for queue_wait */
	AL_GAP_SAVE_FAILED,			/* the save of the queue at a crash or
								 * shutdown failed */
	AL_GAP_FILE_TOO_BIG,		/* a saved queue did not fit at load */
	AL_GAP_WRITE_FAILED,		/* the writer could not insert the event */
	AL_GAP_NUM_REASONS
} AlGapReason;

/* Events missing from the table since the last CAPTURE_GAP event. */
typedef struct AlGapCounts
{
	uint64		total;
	uint64		by_category[AL_NUM_CATEGORIES];
	uint64		by_reason[AL_GAP_NUM_REASONS];
	TimestampTz first;			/* request_time of the earliest, 0 if none */
	TimestampTz last;			/* ... and of the latest */
} AlGapCounts;

extern const char *const al_gap_reason_names[AL_GAP_NUM_REASONS];

/* queue.c: gap arithmetic (no lock, no allocation) */
extern void al_gap_add(AlGapCounts *gap, const AuditEvent *ev, AlGapReason reason);
extern void al_gap_merge(AlGapCounts *into, const AlGapCounts *from);

/* queue.c: the writer takes the shared gap counts (and gives them back) */
extern void al_queue_take_gap(AlGapCounts *gap);
extern void al_queue_return_gap(const AlGapCounts *gap);

/* queue_file.c: the writer retries the save file's reservation */
extern void al_queue_retry_reserve(void);

/* queue.c: load time */
extern void al_queue_init(void);

/*
 * queue.c: the producers' side.
 *
 * al_enqueue hands a captured event to the background writer.  It never
 * raises an error and never allocates, so it is safe in authentication code
 * and in emit_log_hook.  When the queue is full it waits up to
 * audit_log.queue_wait for room; then it counts the event as dropped,
 * writes it whole to the server log and returns false.
 */
extern bool al_enqueue(const AuditEvent *ev);
extern void al_queue_count_abandoned_login(void);

/* queue.c: counters and waiting, for the SQL functions (capture_sql.c) */
extern void al_queue_stats(AlQueueStats *stats);
extern bool al_queue_wait_written(long timeout_ms);
extern bool al_queue_set_paused(bool paused);

/* queue.c: the background writer's side of the queue */
extern void al_queue_attach_writer(void);
extern int	al_queue_peek(AuditEvent *buf, int max);
extern void al_queue_release(int n, bool dropped);
extern void al_queue_release_failed(int n, const AuditEvent *evs);
extern bool al_queue_is_paused(void);
extern void al_queue_set_standby(bool standby);

/*
 * queue.c: synchronous capture.  A queue position is the sequence number of
 * an event; al_queue_wait_position waits until the writer's commit passed
 * it, bounded by a timeout, never raising an error.
 */
extern uint64 al_queue_last_position(void);
extern bool al_queue_wait_position(uint64 pos, long timeout_ms);
extern bool al_enqueue_wait(const AuditEvent *ev, bool wait);
extern bool al_queue_can_write(void);
extern void al_queue_set_standby_shipping(bool shipping);
extern void al_queue_set_blocked(bool blocked);
extern bool al_queue_wait_writing(long timeout_ms);

#endif							/* AUDIT_LOG_QUEUE_H */
