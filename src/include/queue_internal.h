/*-------------------------------------------------------------------------
 *
 * queue_internal.h
 *		The layout of the shared-memory queue, for the two files that
 *		manage it: queue.c (producers, the writer's side, waiting) and
 *		queue_file.c (the postmaster's save and load across a restart).
 *		Nothing else includes it: the rest of the extension uses queue.h.
 *
 * The locking rules are in queue.c's header comment.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_QUEUE_INTERNAL_H
#define AUDIT_LOG_QUEUE_INTERNAL_H

#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "audit_log.h"
#include "queue.h"

typedef struct AlQueueSlot
{
	volatile bool ready;		/* event copied in, not yet written */
	AuditEvent	ev;
} AlQueueSlot;

typedef struct AlQueue
{
	slock_t		mutex;
	uint64		head;			/* next position to reserve */
	uint64		tail;			/* oldest position not yet written */
	uint64		enqueued;
	uint64		written;
	uint64		dropped;
	uint64		abandoned_logins;
	Latch	   *writer_latch;	/* NULL when no writer runs */
	int			writer_pid;
	bool		paused;			/* audit_log.pause_writer(true) */
	bool		standby;		/* the writer found a server in recovery */
	bool		standby_shipping;	/* ... and sends the events to the
									 * primary (standby_ship.c) */
	bool		blocked;		/* the writer's last attempt could not write */
	ConditionVariable written_cv;	/* broadcast whenever tail moves */
	AlGapCounts gap;			/* dropped, not yet recorded as CAPTURE_GAP */
	bool		reserve_missing;	/* the save file's space is not reserved */
	int			nslots;
	AlQueueSlot slots[FLEXIBLE_ARRAY_MEMBER];
} AlQueue;

/* queue.c: the queue in shared memory (NULL until shmem startup) */
extern AlQueue *al_queue;

/* queue_file.c: the postmaster's side, at shmem startup and at its exit */
extern void al_queue_file_startup(void);
extern void al_queue_file_save(int code, Datum arg);

#endif							/* AUDIT_LOG_QUEUE_INTERNAL_H */
