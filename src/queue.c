/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The shared-memory queue between the processes that capture events
 *		and the background writer that stores them (writer.c).
 *
 * The queue is a ring of audit_log.queue_size fixed-size slots, each
 * holding one AuditEvent and a ready flag.  Positions are 64-bit counters
 * that only grow: head is the next position to hand out, tail the oldest
 * position not yet written; slot = position % nslots.
 *
 * Locking rules and invariants:
 *
 * - The spinlock protects head, tail, the counters and the writer's latch
 *   pointer.  It is held only to reserve a position (head++) or to advance
 *   tail; nothing is copied or allocated under it.
 * - A producer reserves a position under the lock, copies its event into
 *   the slot outside the lock, then sets the slot's ready flag after a write
 *   barrier.  Producers may have no PGPROC (a connection refused before
 *   InitProcess) and may be inside emit_log_hook, so al_enqueue never
 *   allocates, never raises an error and never takes an LWLock.
 * - Only the writer consumes.  It copies the ready slots from tail on,
 *   writes them in one transaction, and only after the commit clears their
 *   ready flags and advances tail.  A writer that dies mid-batch therefore
 *   leaves its events queued; the retried batch is harmless because the
 *   table's unique key and ON CONFLICT DO NOTHING skip rows already there.
 * - When the postmaster exits (clean shutdown, or the reinitialisation
 *   after a crash of a child) it saves the ready slots between tail and
 *   head to $PGDATA/pg_stat/audit_log.queue; the next shmem startup loads
 *   them back (queue_file.c).  Events that backends queue after the writer
 *   stopped (for example LOGOUTs during a fast shutdown) survive a restart
 *   that way.
 *
 * The queue knows nothing of who produces or consumes: this file includes
 * neither the capture nor the writer headers.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "libpq/pqsignal.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "capture_rules.h"
#include "event_line.h"
#include "queue.h"
#include "queue_internal.h"


/* shared with queue_file.c (queue_internal.h) */
AlQueue    *al_queue = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;


/* Is this process the background writer?  (It must never wait on itself.) */
static bool al_is_writer = false;

/* Position of the last event this process queued (synchronous capture). */
static uint64 al_last_position = 0;

/* The last event al_enqueue was given was skipped by a capture rule. */
static bool al_last_skipped = false;

const char *const al_gap_reason_names[AL_GAP_NUM_REASONS] = {
	"queue_full", "save_failed", "queue_file_too_big", "write_failed"
};

/* Count one event that went to the server log instead of the table. */
void
al_gap_add(AlGapCounts *gap, const AuditEvent *ev, AlGapReason reason)
{
	gap->total++;
	if (ev->category < AL_NUM_CATEGORIES)
		gap->by_category[ev->category]++;
	gap->by_reason[reason]++;
	if (gap->first == 0 || ev->request_time < gap->first)
		gap->first = ev->request_time;
	if (gap->last == 0 || ev->request_time > gap->last)
		gap->last = ev->request_time;
}

/* Add the counts of from to into. */
void
al_gap_merge(AlGapCounts *into, const AlGapCounts *from)
{
	int			i;

	if (from->total == 0)
		return;
	into->total += from->total;
	for (i = 0; i < AL_NUM_CATEGORIES; i++)
		into->by_category[i] += from->by_category[i];
	for (i = 0; i < AL_GAP_NUM_REASONS; i++)
		into->by_reason[i] += from->by_reason[i];
	if (into->first == 0 || (from->first != 0 && from->first < into->first))
		into->first = from->first;
	if (from->last > into->last)
		into->last = from->last;
}

static Size
al_queue_shmem_size(void)
{
	return add_size(offsetof(AlQueue, slots),
					mul_size(sizeof(AlQueueSlot), al_queue_size));
}

static void
al_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(al_queue_shmem_size());
}

static void
al_shmem_startup(void)
{
	bool		found;
	Size		size = al_queue_shmem_size();

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	al_queue = ShmemInitStruct("audit_log queue", size, &found);
	if (!found)
	{
		memset(al_queue, 0, size);
		SpinLockInit(&al_queue->mutex);
		ConditionVariableInit(&al_queue->written_cv);
		al_queue->nslots = al_queue_size;
	}
	LWLockRelease(AddinShmemInitLock);

	/*
	 * Only the postmaster saves and loads the queue: it outlives every
	 * process that could still queue an event.
	 */
	if (!IsUnderPostmaster)
	{
		if (!found)
			al_queue_file_startup();	/* queue_file.c */
		on_shmem_exit(al_queue_file_save, (Datum) 0);
	}
}

/*
 * Install the shared-memory request and startup hooks.  Called from
 * _PG_init when preloaded.
 */
void
al_queue_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = al_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = al_shmem_startup;
}

/*
 * Hand an event to the writer; see queue.h.
 */
bool
al_enqueue(const AuditEvent *ev)
{
	volatile AlQueue *q = al_queue;
	uint64		pos = 0;
	bool		reserved = false;
	bool		wake = false;
	TimestampTz wait_start = 0;
	bool		waited_enough = false;
	long		wait_limit_us;
	Latch	   *latch;
	sigset_t	save_mask;

	if (q == NULL)
		return false;

	/*
	 * A capture rule may skip the event (capture_rules.c: no lock, no
	 * allocation; FAILURE and AUDIT_LOG events are never skipped).
	 */
	al_last_skipped = al_capture_rules_skip(ev);
	if (al_last_skipped)
		return true;

	/* the writer must not wait for itself */
	wait_limit_us = al_is_writer ? 0 : (long) al_queue_wait_ms * 1000L;
	waited_enough = (wait_limit_us == 0);

	for (;;)
	{
		bool		give_up = false;

		/*
		 * From the reservation until the slot is marked ready, no signal
		 * handler may end this process: some of them _exit() during
		 * connection startup, which would leave a reserved slot that is
		 * never filled and stop the writer at it.
		 */
		sigprocmask(SIG_SETMASK, &BlockSig, &save_mask);
		SpinLockAcquire(&q->mutex);
		if (q->head - q->tail < (uint64) q->nslots)
		{
			pos = q->head++;
			q->enqueued++;
			reserved = true;
			/* wake the writer early when a quarter of the queue is used */
			wake = (q->head - q->tail) >= (uint64) Max(q->nslots / 4, 1);
		}
		else if (waited_enough || (q->standby && !q->standby_shipping))
		{
			/* on a standby no room will come: do not make logins wait */
			q->dropped++;
			al_gap_add((AlGapCounts *) &q->gap, ev, AL_GAP_QUEUE_FULL);
			give_up = true;
		}
		latch = q->writer_latch;
		SpinLockRelease(&q->mutex);

		if (reserved)
			break;
		sigprocmask(SIG_SETMASK, &save_mask, NULL);
		if (give_up)
			break;
		/* full: make sure the writer is awake, then wait a little */
		if (latch != NULL)
			SetLatch(latch);
		if (wait_start == 0)
			wait_start = GetCurrentTimestamp();
		pg_usleep(1000L);
		waited_enough = (GetCurrentTimestamp() - wait_start) >= wait_limit_us;
	}

	if (!reserved)
	{
		al_log_event_line(ev, true);
		return false;
	}

	{
		AlQueueSlot *slot = &al_queue->slots[pos % q->nslots];

		memcpy(&slot->ev, ev, sizeof(AuditEvent));
		pg_write_barrier();
		slot->ready = true;
		al_last_position = pos;
	}
	sigprocmask(SIG_SETMASK, &save_mask, NULL);
	if (wake && latch != NULL)
		SetLatch(latch);
	return true;
}

/*
 * Count a client that hung up when asked for its password.
 */
void
al_queue_count_abandoned_login(void)
{
	volatile AlQueue *q = al_queue;

	if (q == NULL)
		return;
	SpinLockAcquire(&q->mutex);
	q->abandoned_logins++;
	SpinLockRelease(&q->mutex);
}

/*
 * A consistent copy of the counters.  Without preloading everything is 0.
 */
void
al_queue_stats(AlQueueStats *stats)
{
	volatile AlQueue *q = al_queue;
	uint64		tail;

	memset(stats, 0, sizeof(AlQueueStats));
	if (q == NULL)
		return;
	SpinLockAcquire(&q->mutex);
	stats->enqueued = q->enqueued;
	stats->written = q->written;
	stats->dropped = q->dropped;
	stats->abandoned_logins = q->abandoned_logins;
	stats->queued = q->head - q->tail;
	stats->writer_pid = q->writer_pid;
	stats->paused = q->paused;
	tail = q->tail;
	SpinLockRelease(&q->mutex);

	if (stats->queued > 0)
	{
		AlQueueSlot *slot = &al_queue->slots[tail % q->nslots];

		/* a racing writer may move on; the age is an indication only */
		if (slot->ready)
		{
			pg_read_barrier();
			stats->oldest = slot->ev.request_time;
		}
	}
}

/*
 * Wait until every event queued before the call has been written (tail has
 * passed the head seen now), or timeout_ms elapsed.  Returns true when
 * written.
 */
bool
al_queue_wait_written(long timeout_ms)
{
	volatile AlQueue *q = al_queue;
	uint64		target;
	uint64		tail;
	TimestampTz start = GetCurrentTimestamp();
	Latch	   *latch;

	SpinLockAcquire(&q->mutex);
	target = q->head;
	SpinLockRelease(&q->mutex);

	for (;;)
	{
		long		left;

		SpinLockAcquire(&q->mutex);
		tail = q->tail;
		latch = q->writer_latch;
		SpinLockRelease(&q->mutex);
		if (tail >= target)
			return true;
		left = timeout_ms - (long) ((GetCurrentTimestamp() - start) / 1000);
		if (left <= 0)
			return false;
		if (latch != NULL)
			SetLatch(latch);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 10L), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Writer exit: no latch to set any more. */
static void
al_queue_detach_writer(int code, Datum arg)
{
	volatile AlQueue *q = al_queue;

	SpinLockAcquire(&q->mutex);
	if (q->writer_pid == MyProcPid)
	{
		q->writer_latch = NULL;
		q->writer_pid = 0;
	}
	SpinLockRelease(&q->mutex);
}

/*
 * The writer announces itself, so that producers can wake it.
 */
void
al_queue_attach_writer(void)
{
	volatile AlQueue *q = al_queue;

	al_is_writer = true;
	SpinLockAcquire(&q->mutex);
	q->writer_latch = MyLatch;
	q->writer_pid = MyProcPid;
	SpinLockRelease(&q->mutex);
	on_shmem_exit(al_queue_detach_writer, (Datum) 0);
}

/*
 * Copy up to max ready events from the tail into buf, without consuming
 * them.  Stops at the first slot a producer is still filling.
 */
int
al_queue_peek(AuditEvent *buf, int max)
{
	volatile AlQueue *q = al_queue;
	uint64		head;
	uint64		tail;
	int			n = 0;

	SpinLockAcquire(&q->mutex);
	head = q->head;
	tail = q->tail;
	SpinLockRelease(&q->mutex);

	while (tail + n < head && n < max)
	{
		AlQueueSlot *slot = &al_queue->slots[(tail + n) % q->nslots];

		if (!slot->ready)
			break;
		pg_read_barrier();
		memcpy(&buf[n], &slot->ev, sizeof(AuditEvent));
		n++;
	}
	return n;
}

/*
 * The writer committed (or dropped) the n events at the tail: free their
 * slots.  The ready flags are cleared before tail moves, so a producer never
 * sees a reused slot still marked ready.
 */
void
al_queue_release(int n, bool dropped)
{
	volatile AlQueue *q = al_queue;
	uint64		tail = q->tail;	/* only the writer moves it */
	int			i;

	for (i = 0; i < n; i++)
		al_queue->slots[(tail + i) % q->nslots].ready = false;
	pg_write_barrier();
	SpinLockAcquire(&q->mutex);
	q->tail += n;
	if (dropped)
		q->dropped += n;
	else
		q->written += n;
	SpinLockRelease(&q->mutex);
	/* synchronous capture: wake the backends waiting for these events */
	ConditionVariableBroadcast(&al_queue->written_cv);
}

/*
 * The writer gave up on the n events at the tail (each already in the
 * server log): free their slots, count them as dropped and as a gap.
 */
void
al_queue_release_failed(int n, const AuditEvent *evs)
{
	volatile AlQueue *q = al_queue;
	int			i;

	SpinLockAcquire(&q->mutex);
	for (i = 0; i < n; i++)
		al_gap_add((AlGapCounts *) &q->gap, &evs[i], AL_GAP_WRITE_FAILED);
	SpinLockRelease(&q->mutex);
	al_queue_release(n, true);
}

/* The writer takes the gap counts, to record them as a CAPTURE_GAP event. */
void
al_queue_take_gap(AlGapCounts *gap)
{
	volatile AlQueue *q = al_queue;

	SpinLockAcquire(&q->mutex);
	memcpy(gap, (AlGapCounts *) &q->gap, sizeof(AlGapCounts));
	memset((AlGapCounts *) &q->gap, 0, sizeof(AlGapCounts));
	SpinLockRelease(&q->mutex);
}

/* ... and gives them back when the event could not be queued. */
void
al_queue_return_gap(const AlGapCounts *gap)
{
	volatile AlQueue *q = al_queue;

	SpinLockAcquire(&q->mutex);
	al_gap_merge((AlGapCounts *) &q->gap, gap);
	SpinLockRelease(&q->mutex);
}

bool
al_queue_is_paused(void)
{
	volatile AlQueue *q = al_queue;

	return q->paused;
}

/*
 * On a standby the writer cannot write: producers then drop (to the server
 * log) at once instead of waiting for room that will not come.
 */
void
al_queue_set_standby(bool standby)
{
	volatile AlQueue *q = al_queue;

	SpinLockAcquire(&q->mutex);
	q->standby = standby;
	SpinLockRelease(&q->mutex);
}

/*
 * Set or clear the test pause of the writer; returns the previous state.
 */
bool
al_queue_set_paused(bool paused)
{
	volatile AlQueue *q = al_queue;
	bool		old;
	Latch	   *latch;

	SpinLockAcquire(&q->mutex);
	old = q->paused;
	q->paused = paused;
	latch = q->writer_latch;
	SpinLockRelease(&q->mutex);
	if (latch != NULL)
		SetLatch(latch);
	return old;
}

/* ---------------------------------------------------------------------
 * Synchronous capture (audit_log.synchronous, audit_log.on_failure)
 *
 * The queue positions are the sequence numbers: an event at position p is
 * committed once tail > p.  A backend that must not answer its client
 * before its event is in the table notes the position of its last event
 * (al_queue_last_position) and sleeps on written_cv until the writer's
 * tail passes it.  Every waiter wakes the writer, which takes whatever is
 * ready in one batch: concurrent waiters share one commit (group commit).
 * ---------------------------------------------------------------------
 */

/* Position of the last event this process queued. */
uint64
al_queue_last_position(void)
{
	return al_last_position;
}

/*
 * Wait until the event at position pos is written (true), or timeout_ms
 * passed (false).  Safe in authentication code, in emit_log_hook and in a
 * transaction callback: interrupts are held, so it never raises an error;
 * without a PGPROC (a connection refused before InitProcess) it polls.
 * The writer itself never waits.
 */
bool
al_queue_wait_position(uint64 pos, long timeout_ms)
{
	volatile AlQueue *q = al_queue;
	TimestampTz start;
	bool		done = false;
	bool		sleeping = false;

	if (q == NULL || al_is_writer)
		return false;
	start = GetCurrentTimestamp();
	HOLD_INTERRUPTS();
	for (;;)
	{
		uint64		tail;
		Latch	   *latch;
		long		left;

		SpinLockAcquire(&q->mutex);
		tail = q->tail;
		latch = q->writer_latch;
		SpinLockRelease(&q->mutex);
		if (tail > pos)
		{
			done = true;
			break;
		}
		left = timeout_ms - (long) ((GetCurrentTimestamp() - start) / 1000);
		if (left <= 0)
			break;
		/* wake the writer at once: do not wait for its flush_interval */
		if (latch != NULL)
			SetLatch(latch);
		if (MyProc != NULL)
		{
			if (!sleeping)
			{
				ConditionVariablePrepareToSleep(&al_queue->written_cv);
				sleeping = true;
				continue;		/* check again before sleeping */
			}
			(void) ConditionVariableTimedSleep(&al_queue->written_cv,
											   Min(left, 100L),
											   PG_WAIT_EXTENSION);
		}
		else
			pg_usleep(1000L);
	}
	if (sleeping)
		ConditionVariableCancelSleep();
	RESUME_INTERRUPTS();
	return done;
}

/*
 * Queue an event and, when wait is set, wait (up to audit_log.queue_wait)
 * until it is written.  Returns true when the event is queued (and, with
 * wait, written).
 */
bool
al_enqueue_wait(const AuditEvent *ev, bool wait)
{
	if (!al_enqueue(ev))
		return false;
	if (!wait || al_last_skipped)
		return true;
	return al_queue_wait_position(al_last_position, (long) al_queue_wait_ms);
}

/*
 * Is there a writer that can write now?  On a standby that cannot send
 * its events to the primary, synchronous waits would only time out: the
 * callers then do not wait (unless audit_log.on_failure = fail).
 */
bool
al_queue_can_write(void)
{
	volatile AlQueue *q = al_queue;
	bool		can;

	if (q == NULL)
		return false;
	SpinLockAcquire(&q->mutex);
	can = !q->standby || q->standby_shipping;
	SpinLockRelease(&q->mutex);
	return can;
}

/* The standby's writer says whether it can send events to the primary. */
void
al_queue_set_standby_shipping(bool shipping)
{
	volatile AlQueue *q = al_queue;

	SpinLockAcquire(&q->mutex);
	q->standby_shipping = shipping;
	SpinLockRelease(&q->mutex);
}

/* The writer says whether its last attempt could write. */
void
al_queue_set_blocked(bool blocked)
{
	volatile AlQueue *q = al_queue;

	if (q->blocked == blocked)
		return;
	SpinLockAcquire(&q->mutex);
	q->blocked = blocked;
	SpinLockRelease(&q->mutex);
}

/*
 * audit_log.on_failure = fail: does the writer write?  True once a writer
 * runs, is neither paused nor blocked, and has written every event queued
 * before the call; false when that did not happen within timeout_ms.
 */
bool
al_queue_wait_writing(long timeout_ms)
{
	volatile AlQueue *q = al_queue;
	TimestampTz start;
	uint64		target;
	bool		ok = false;

	if (q == NULL)
		return false;
	start = GetCurrentTimestamp();
	SpinLockAcquire(&q->mutex);
	target = q->head;
	SpinLockRelease(&q->mutex);
	for (;;)
	{
		bool		healthy;
		uint64		tail;
		long		left;

		SpinLockAcquire(&q->mutex);
		healthy = q->writer_pid != 0 && !q->paused && !q->blocked &&
			(!q->standby || q->standby_shipping);
		tail = q->tail;
		SpinLockRelease(&q->mutex);
		if (healthy && tail >= target)
		{
			ok = true;
			break;
		}
		left = timeout_ms - (long) ((GetCurrentTimestamp() - start) / 1000);
		if (left <= 0)
			break;
		if (healthy && target > 0 &&
			al_queue_wait_position(target - 1, left))
			continue;
		pg_usleep(Min(left, 10L) * 1000L);
	}
	return ok;
}
