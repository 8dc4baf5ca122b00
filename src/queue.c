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
 *   them back.  Events that backends queue after the writer stopped (for
 *   example LOGOUTs during a fast shutdown) survive a restart that way.
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
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "libpq/pqsignal.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "catalog/pg_type.h"
#include "utils/json.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "export.h"
#include "audit_log.h"
#include "capture_rules.h"
#include "queue.h"

/* Where the postmaster keeps the queue across a restart. */
#define AL_QUEUE_FILE		"pg_stat/audit_log.queue"
#define AL_QUEUE_FILE_TMP	"pg_stat/audit_log.queue.tmp"
/* The save file's space, reserved at start (see al_queue_reserve). */
#define AL_QUEUE_FILE_RESERVE "pg_stat/audit_log.queue.reserve"
#define AL_QUEUE_FILE_MAGIC	0x41554c51	/* "AULQ" */
#define AL_QUEUE_FILE_VERSION 1

/*
 * After the events of a queue file: the count of the dropped events that
 * no writer had recorded as a CAPTURE_GAP yet (a standby restarted while
 * its primary is unreachable would otherwise lose its gap: t/024).  The
 * loader of 1.0 reads only header[3] events and ignores it; this one takes
 * it only when its magic, copy of the event count, size and sums agree.
 */
#define AL_QUEUE_GAP_MAGIC	0x41554c47	/* "AULG" */
typedef struct AlQueueFileGap
{
	uint32		magic;
	uint32		count;			/* header[3] of the same save */
	uint32		size;			/* sizeof(AlGapCounts) */
	uint32		pad;
	AlGapCounts gap;
} AlQueueFileGap;

/*
 * The size of an event in a queue file saved by the 1.0 library: the fields
 * up to entry_data, which are laid out as they were then, padded to the
 * struct's alignment.  The loader reads both sizes.
 */
#define AL_EVENT_SIZE_1_0 MAXALIGN(offsetof(AuditEvent, origin))

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

static AlQueue *al_queue = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Postmaster only: events whose save failed at the last reinitialisation
 * after a crash.  They are in the server log as JSON lines; the count goes
 * into the new queue's dropped counter and gap (the postmaster's own
 * memory survives the reinitialisation of shared memory).
 */
static uint64 al_pm_lost = 0;
static AlGapCounts al_pm_lost_gap;

/* Set while this process writes an event to the server log. */
static bool al_in_log_line = false;

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

/* Postmaster exit: the gap counts not yet recorded go with it. */
static void
al_gap_take(AlGapCounts *carried)
{
	al_gap_merge(carried, &al_queue->gap);
	memset(&al_queue->gap, 0, sizeof(AlGapCounts));
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

/* Size of a save file holding every slot of the queue. */
static off_t
al_queue_file_size(int nslots)
{
	return (off_t) (4 * sizeof(uint32)) + (off_t) nslots * (off_t) sizeof(AuditEvent) +
		(off_t) sizeof(AlQueueFileGap);
}

/*
 * Reserve the disk space of a full save at server start, so that the save
 * at a crash or shutdown needs none: the save writes into this file's
 * blocks in place and renames it.  Costs audit_log.queue_size x
 * sizeof(AuditEvent) bytes of disk under pg_stat (31 MiB with the default
 * 16,384 slots).  A failure (the disk is already full) is logged; the save
 * then falls back to a new file, and failing that to the server log.
 */
static bool
al_queue_reserve(void)
{
	off_t		size = al_queue_file_size(al_queue->nslots);
	int			fd;
	int			rc;

	fd = open(AL_QUEUE_FILE_RESERVE, O_RDWR | O_CREAT | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("audit_log: could not create \"%s\": %m", AL_QUEUE_FILE_RESERVE)));
		return false;
	}
#if defined(HAVE_POSIX_FALLOCATE)
	rc = posix_fallocate(fd, 0, size);
#else
	rc = EOPNOTSUPP;
#endif
	if (rc == EOPNOTSUPP || rc == EINVAL)
	{
		/* no fallocate here: write the blocks (only what is missing) */
		static char zeros[65536];
		struct stat st;
		off_t		off = 0;

		rc = 0;
		if (fstat(fd, &st) == 0)
			off = st.st_size;
		while (off < size)
		{
			ssize_t		chunk = Min((off_t) sizeof(zeros), size - off);
			ssize_t		w = pwrite(fd, zeros, chunk, off);

			if (w <= 0)
			{
				rc = (w < 0) ? errno : ENOSPC;
				break;
			}
			off += w;
		}
	}
	if (rc != 0)
	{
		errno = rc;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("audit_log: could not reserve %lld bytes in \"%s\" for saving the queue: %m",
						(long long) size, AL_QUEUE_FILE_RESERVE),
				 errdetail("If the queue must be saved at a crash or shutdown and the disk is full then, its events are written to the server log instead; the writer tries again once it writes.")));
	}
	close(fd);
	return rc == 0;
}

/*
 * The writer, after a successful write: if the reservation failed at start
 * (the disk was full), try again now that there is space.  Only the
 * postmaster reads the file, and only once every other process is gone.
 */
void
al_queue_retry_reserve(void)
{
	static TimestampTz last_try = 0;
	TimestampTz now;

	if (!al_queue->reserve_missing)
		return;
	now = GetCurrentTimestamp();
	if (last_try != 0 && !TimestampDifferenceExceeds(last_try, now, 10000))
		return;
	last_try = now;
	if (al_queue_reserve())
	{
		al_queue->reserve_missing = false;
		ereport(LOG,
				(errmsg("audit_log: reserved the space for saving the queue in \"%s\"", AL_QUEUE_FILE_RESERVE)));
	}
}

/*
 * The save failed: write every queued event to the server log as its JSON
 * line, so that none vanishes without a trace, and count them (as dropped,
 * and as a gap the next writer records) in the postmaster's memory, from
 * where the next shmem startup takes them.
 */
static void
al_queue_save_failed(const char *why)
{
	uint64		pos;
	uint32		n = 0;

	for (pos = al_queue->tail; pos < al_queue->head; pos++)
	{
		AlQueueSlot *slot = &al_queue->slots[pos % al_queue->nslots];

		if (!slot->ready)
			continue;
		al_log_dropped_event(&slot->ev, why);
		al_gap_add(&al_pm_lost_gap, &slot->ev, AL_GAP_SAVE_FAILED);
		n++;
	}
	al_pm_lost += n;
	ereport(LOG,
			(errmsg("audit_log: wrote %u queued events to the server log instead of \"%s\"", n, AL_QUEUE_FILE)));
}

/*
 * Postmaster exit (shutdown, or reinitialisation after a crash): save what
 * is still queued.  Every other process is gone, so no lock is needed; a
 * slot whose ready flag is not set was never acknowledged to anyone and is
 * skipped.  The save writes into the space reserved at start when there is
 * one (no new disk space needed), else into a new file; if both fail, the
 * events go to the server log (al_queue_save_failed).
 */
static void
al_queue_save(int code, Datum arg)
{
	FILE	   *f;
	uint64		pos;
	uint32		header[4];
	uint32		count = 0;
	const char *path = AL_QUEUE_FILE_RESERVE;
	bool		reserved = true;
	char		why[256];
	AlQueueFileGap trailer;

	if (al_queue == NULL)
		return;
	if (al_queue->head < al_queue->tail ||
		al_queue->head - al_queue->tail > (uint64) al_queue->nslots)
	{
		ereport(LOG,
				(errmsg("audit_log: queue positions are inconsistent, queued events not saved")));
		return;
	}
	for (pos = al_queue->tail; pos < al_queue->head; pos++)
		if (al_queue->slots[pos % al_queue->nslots].ready)
			count++;
	/*
	 * A gap not yet recorded by a writer is carried over too: in the file,
	 * after the events (into the postmaster's memory if the save fails).
	 */
	memset(&trailer, 0, sizeof(trailer));
	trailer.magic = AL_QUEUE_GAP_MAGIC;
	trailer.count = count;
	trailer.size = (uint32) sizeof(AlGapCounts);
	al_gap_take(&trailer.gap);
	if (count == 0 && trailer.gap.total == 0)
	{
		unlink(AL_QUEUE_FILE);
		return;
	}

	/* in place, into the reserved blocks: no truncation, no new space */
	f = AllocateFile(AL_QUEUE_FILE_RESERVE, PG_BINARY_R "+");
	if (f == NULL)
	{
		reserved = false;
		path = AL_QUEUE_FILE_TMP;
		f = AllocateFile(AL_QUEUE_FILE_TMP, PG_BINARY_W);
	}
	if (f == NULL)
		goto error;
	header[0] = AL_QUEUE_FILE_MAGIC;
	header[1] = AL_QUEUE_FILE_VERSION;
	header[2] = (uint32) sizeof(AuditEvent);
	header[3] = count;
	if (fwrite(header, sizeof(header), 1, f) != 1)
		goto error;
	for (pos = al_queue->tail; pos < al_queue->head; pos++)
	{
		AlQueueSlot *slot = &al_queue->slots[pos % al_queue->nslots];

		if (!slot->ready)
			continue;
		if (fwrite(&slot->ev, sizeof(AuditEvent), 1, f) != 1)
			goto error;
	}
	if (fwrite(&trailer, sizeof(trailer), 1, f) != 1)
		goto error;
	if (fflush(f) != 0 || pg_fsync(fileno(f)) != 0)
		goto error;
	if (FreeFile(f) != 0)
	{
		f = NULL;
		goto error;
	}
	f = NULL;
	if (durable_rename(path, AL_QUEUE_FILE, LOG) != 0)
		goto error;
	ereport(LOG,
			(errmsg("audit_log: saved %u queued events to \"%s\"%s", count, AL_QUEUE_FILE,
					reserved ? " (in the space reserved at start)" : ""),
			 trailer.gap.total > 0 ?
			 errdetail("The count of %llu dropped events not yet recorded as a CAPTURE_GAP event is saved with them.",
					   (unsigned long long) trailer.gap.total) : 0));
	return;

error:
	snprintf(why, sizeof(why), "it could not be saved to \"%s\" when the server stopped or reinitialized: %m", AL_QUEUE_FILE);
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("audit_log: could not save %u queued events to \"%s\": %m",
					count, AL_QUEUE_FILE)));
	if (f != NULL)
		FreeFile(f);
	if (!reserved)
		unlink(AL_QUEUE_FILE_TMP);
	al_gap_merge(&al_pm_lost_gap, &trailer.gap);
	al_queue_save_failed(why);
}

/*
 * Shmem startup in the postmaster: load the events saved by the last
 * postmaster exit.  Events that no longer fit (queue_size was lowered) are
 * written to the server log and counted as dropped.
 */
static void
al_queue_load(void)
{
	FILE	   *f;
	uint32		header[4];
	uint32		i;
	uint32		loaded = 0;
	uint32		overflow = 0;
	AuditEvent	ev;
	AlQueueFileGap trailer;

	f = AllocateFile(AL_QUEUE_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("audit_log: could not read \"%s\": %m", AL_QUEUE_FILE)));
		return;
	}
	if (fread(header, sizeof(header), 1, f) != 1 ||
		header[0] != AL_QUEUE_FILE_MAGIC ||
		header[1] != AL_QUEUE_FILE_VERSION ||
		(header[2] != (uint32) sizeof(AuditEvent) &&
		 header[2] != (uint32) AL_EVENT_SIZE_1_0))
	{
		ereport(LOG,
				(errmsg("audit_log: ignoring queue file \"%s\" with an unknown format", AL_QUEUE_FILE)));
		FreeFile(f);
		unlink(AL_QUEUE_FILE);
		return;
	}
	for (i = 0; i < header[3]; i++)
	{
		/*
		 * A file saved by the 1.0 library (an upgrade of the package, then a
		 * restart) has the shorter records of 1.0: the same fields up to
		 * entry_data; what came later (origin, the intent) reads as zero:
		 * SERVER, no intent.
		 */
		memset(&ev, 0, sizeof(ev));
		if (fread(&ev, header[2], 1, f) != 1)
		{
			ereport(LOG,
					(errmsg("audit_log: queue file \"%s\" is truncated after %u events", AL_QUEUE_FILE, i)));
			break;
		}
		/* never trust a string field to be terminated */
		ev.event_type[AL_TYPE_LEN - 1] = '\0';
		ev.reason_code[AL_REASON_LEN - 1] = '\0';
		ev.user_name[AL_NAME_LEN - 1] = '\0';
		ev.object_name[AL_OBJECT_LEN - 1] = '\0';
		ev.client_addr[AL_ADDR_LEN - 1] = '\0';
		ev.application_name[AL_NAME_LEN - 1] = '\0';
		ev.database_name[AL_NAME_LEN - 1] = '\0';
		ev.session_id[AL_SESSION_LEN - 1] = '\0';
		ev.entry_data[AL_ENTRY_DATA_LEN - 1] = '\0';
		if (ev.category >= AL_NUM_CATEGORIES)
			continue;
		if (al_queue->head < (uint64) al_queue->nslots)
		{
			AlQueueSlot *slot = &al_queue->slots[al_queue->head];

			memcpy(&slot->ev, &ev, sizeof(AuditEvent));
			slot->ready = true;
			al_queue->head++;
			al_queue->enqueued++;
			loaded++;
		}
		else
		{
			al_queue->dropped++;
			overflow++;
			al_gap_add(&al_queue->gap, &ev, AL_GAP_FILE_TOO_BIG);
			al_log_dropped_event(&ev, "it did not fit into audit_log.queue_size when the saved queue was loaded");
		}
	}
	/* the gap counts saved after the events (none in a file of 1.0) */
	if (i == header[3] && header[2] == (uint32) sizeof(AuditEvent) &&
		fread(&trailer, sizeof(trailer), 1, f) == 1 &&
		trailer.magic == AL_QUEUE_GAP_MAGIC && trailer.count == header[3] &&
		trailer.size == (uint32) sizeof(AlGapCounts))
	{
		uint64		sum = 0;
		int			r;

		for (r = 0; r < AL_GAP_NUM_REASONS; r++)
			sum += trailer.gap.by_reason[r];
		if (sum == trailer.gap.total)
			al_gap_merge(&al_queue->gap, &trailer.gap);
	}
	FreeFile(f);
	/* its blocks become the next save's reserved space */
	if (rename(AL_QUEUE_FILE, AL_QUEUE_FILE_RESERVE) != 0)
		unlink(AL_QUEUE_FILE);
	ereport(LOG,
			(errmsg("audit_log: loaded %u queued events from \"%s\"", loaded, AL_QUEUE_FILE),
			 overflow > 0 ?
			 errdetail("%u events did not fit into audit_log.queue_size and were written to the server log instead.", overflow) : 0));
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
		{
			/* what the last save could not keep is counted, and a gap */
			al_queue->dropped += al_pm_lost;
			al_gap_merge(&al_queue->gap, &al_pm_lost_gap);
			al_pm_lost = 0;
			memset(&al_pm_lost_gap, 0, sizeof(al_pm_lost_gap));
			al_queue_load();
			al_queue->reserve_missing = !al_queue_reserve();
		}
		on_shmem_exit(al_queue_save, (Datum) 0);
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

/* A string member of the log line; an empty string stands for null. */
static void
empty_null(AlJson *js, const char *key, const char *value)
{
	al_json_str(js, key, value[0] != '\0' ? value : NULL);
}

/*
 * Format an event as one line of JSON, with the column names of
 * audit_log.events.  No allocation: usable in emit_log_hook.  Times are
 * printed in UTC.
 */
void
al_format_event_json(const AuditEvent *ev, char *buf, size_t len)
{
	char		uuid[37];
	char		ts[40];
	struct pg_tm tm;
	fsec_t		fsec;
	AlJson		js;
	static const char hex[] = "0123456789abcdef";
	int			i,
				j;

	for (i = 0, j = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			uuid[j++] = '-';
		uuid[j++] = hex[ev->event_id.data[i] >> 4];
		uuid[j++] = hex[ev->event_id.data[i] & 0x0F];
	}
	uuid[j] = '\0';

	if (timestamp2tm(ev->request_time, NULL, &tm, &fsec, NULL, NULL) == 0)
		snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
				 tm.tm_year, tm.tm_mon, tm.tm_mday,
				 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
	else
		strlcpy(ts, "", sizeof(ts));

	al_json_init(&js, buf, len, true);
	al_json_str(&js, "event_id", uuid);
	al_json_str(&js, "request_time", ts);
	if (js.overflow)
	{
		buf[0] = '\0';
		return;
	}
	empty_null(&js, "event_category",
			   ev->category < AL_NUM_CATEGORIES ? al_category_names[ev->category] : "");
	empty_null(&js, "event_type", ev->event_type);
	empty_null(&js, "event_status", ev->success ? "SUCCESS" : "FAILURE");
	empty_null(&js, "event_status_reason_code", ev->reason_code);
	empty_null(&js, "user_name", ev->user_name);
	empty_null(&js, "object_name", ev->object_name);
	empty_null(&js, "client_addr", ev->client_addr);
	empty_null(&js, "application_name", ev->application_name);
	empty_null(&js, "database_name", ev->database_name);
	al_json_int(&js, "backend_pid", ev->backend_pid);
	empty_null(&js, "session_id", ev->session_id);
	empty_null(&js, "source_node", al_source_node());
	al_json_str(&js, "origin", al_origin_names[ev->origin < AL_NUM_ORIGINS ? ev->origin : AL_ORIGIN_SERVER]);
	/* entry_data is already the text of a JSON object; too long: left out */
	al_json_raw(&js, "entry_data", ev->entry_data[0] != '\0' ? ev->entry_data : "{}");
	(void) al_json_finish(&js);
}

/* A text of the event for its OCSF and ECS forms: NULL for an empty one. */
static const char *
null_if_empty(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

/*
 * The server-log line's JSON in the form audit_log.log_to_server_format
 * names: json (al_format_event_json: the columns of audit_log.events), or
 * an OCSF event or an ECS document with the mappings of the exports
 * (export_lines.c; the event's user_email and logged_time are not known
 * here and are left out, event.action is in ASCII lower case).  No
 * allocation: usable in emit_log_hook.
 */
static void
al_format_event_line(const AuditEvent *ev, char *buf, size_t len)
{
	AlEventText t;
	AlJson		js;
	char		uuid[37];
	char		ts[MAXDATELEN + 1];
	char		ip[AL_ADDR_LEN];
	char		pid[16];
	char		message[AL_TYPE_LEN + 32];
	char		action[AL_TYPE_LEN];
	static const char hex[] = "0123456789abcdef";
	const char *category;
	int			tz = 0;
	int			i,
				j;

	if (al_log_to_server_format == AL_LOG_FORMAT_JSON)
	{
		al_format_event_json(ev, buf, len);
		return;
	}

	for (i = 0, j = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			uuid[j++] = '-';
		uuid[j++] = hex[ev->event_id.data[i] >> 4];
		uuid[j++] = hex[ev->event_id.data[i] & 0x0F];
	}
	uuid[j] = '\0';
	category = ev->category < AL_NUM_CATEGORIES ? al_category_names[ev->category] : "";

	memset(&t, 0, sizeof(t));
	t.event_id = uuid;
	if (TIMESTAMP_NOT_FINITE(ev->request_time))
		strlcpy(ts, "", sizeof(ts));
	else
		(void) JsonEncodeDateTime(ts, TimestampTzGetDatum(ev->request_time), TIMESTAMPTZOID, &tz);
	t.request_time = ts;
	/* epoch milliseconds, rounded down */
	{
		int64		us = ev->request_time +
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

		t.request_ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
	}
	t.category = category;
	t.type = ev->event_type;
	t.success = ev->success;
	t.reason = null_if_empty(ev->reason_code);
	t.user_name = null_if_empty(ev->user_name);
	t.object_name = null_if_empty(ev->object_name);
	t.client_addr = null_if_empty(ev->client_addr);
	if (t.client_addr != NULL)
	{
		strlcpy(ip, ev->client_addr, sizeof(ip));
		ip[strcspn(ip, "/")] = '\0';
		t.client_ip = ip;
	}
	t.application_name = null_if_empty(ev->application_name);
	t.database_name = null_if_empty(ev->database_name);
	snprintf(pid, sizeof(pid), "%d", (int) ev->backend_pid);
	t.backend_pid = pid;
	t.session_id = null_if_empty(ev->session_id);
	t.source_node = null_if_empty(al_source_node());
	t.entry_data = ev->entry_data[0] != '\0' ? ev->entry_data : "{}";
	snprintf(message, sizeof(message), "%s %s", category, ev->event_type);
	t.message = message;
	al_event_action_ascii(ev->event_type, action, sizeof(action));
	t.action = action;

	for (i = 0; i < 2; i++)
	{
		al_json_init(&js, buf, len, true);
		if (al_log_to_server_format == AL_LOG_FORMAT_OCSF)
			al_event_ocsf(&js, &t);
		else
			al_event_ecs(&js, &t);
		if (al_json_finish(&js))
			return;
		/* too long: entry_data (the longest part) is left out */
		t.entry_data = "{}";
	}
	al_format_event_json(ev, buf, len);
}

/*
 * Write an event to the server log as one line "audit_log: {json}".  Used
 * for audit_log.log_to_server and for events that found the queue full.
 * Guarded against re-entry, since it may run inside emit_log_hook.
 */
void
al_log_event_line(const AuditEvent *ev, bool dropped)
{
	static char line[8192];

	if (al_in_log_line)
		return;
	al_in_log_line = true;
	al_format_event_line(ev, line, sizeof(line));
	if (dropped)
		ereport(LOG,
				(errmsg("audit_log: %s", line),
				 errdetail("The audit_log queue was full for audit_log.queue_wait; this event was not written to audit_log.events."),
				 errhidestmt(true), errhidecontext(true)));
	else
		ereport(LOG,
				(errmsg("audit_log: %s", line),
				 errhidestmt(true), errhidecontext(true)));
	al_in_log_line = false;
}

/*
 * Write an event the writer could not store to the server log, saying why
 * (the error of its INSERT): it is counted as dropped by the caller.
 */
void
al_log_dropped_event(const AuditEvent *ev, const char *why)
{
	static char line[8192];

	if (al_in_log_line)
		return;
	al_in_log_line = true;
	al_format_event_line(ev, line, sizeof(line));
	ereport(LOG,
			(errmsg("audit_log: %s", line),
			 errdetail("This event could not be written to audit_log.events: %s.", why),
			 errhidestmt(true), errhidecontext(true)));
	al_in_log_line = false;
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
