/*-------------------------------------------------------------------------
 *
 * queue_file.c
 *		The queue across a restart: when the postmaster exits (a clean
 *		shutdown, or the reinitialisation after a crash of a child) it saves
 *		the queued events to $PGDATA/pg_stat/audit_log.queue, and the next
 *		shmem startup loads them back.  The file's space is reserved at
 *		start, so that a full disk cannot make the save fail; what a save
 *		still cannot keep goes to the server log and is counted as dropped
 *		and as a gap.
 *
 * Runs in the postmaster only (see al_shmem_startup in queue.c), which
 * outlives every process that could still queue an event.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "event_line.h"
#include "queue.h"
#include "queue_internal.h"

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

/*
 * Postmaster only: events whose save failed at the last reinitialisation
 * after a crash.  They are in the server log as JSON lines; the count goes
 * into the new queue's dropped counter and gap (the postmaster's own
 * memory survives the reinitialisation of shared memory).
 */
static uint64 al_pm_lost = 0;
static AlGapCounts al_pm_lost_gap;

/* Postmaster exit: the gap counts not yet recorded go with it. */
static void
al_gap_take(AlGapCounts *carried)
{
	al_gap_merge(carried, &al_queue->gap);
	memset(&al_queue->gap, 0, sizeof(AlGapCounts));
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
void
al_queue_file_save(int code, Datum arg)
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

/*
 * Postmaster, at the first shmem startup and after each reinitialisation:
 * count what the last save could not keep (and its gap), load the saved
 * queue, and reserve the space of the next save.
 */
void
al_queue_file_startup(void)
{
	al_queue->dropped += al_pm_lost;
	al_gap_merge(&al_queue->gap, &al_pm_lost_gap);
	al_pm_lost = 0;
	memset(&al_pm_lost_gap, 0, sizeof(al_pm_lost_gap));
	al_queue_load();
	al_queue->reserve_missing = !al_queue_reserve();
}
