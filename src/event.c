/*-------------------------------------------------------------------------
 *
 * event.c
 *		The parts of an event that every source fills the same way: the
 *		time-ordered event id (UUIDv7), and the base data of the current
 *		session (session id, client address, source node, names).
 *
 * These helpers neither allocate nor take locks, so that capture code can
 * call them during authentication and from error-reporting hooks.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <netdb.h>

#include "access/xlog.h"
#include "common/ip.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "audit_log.h"

const char *const al_origin_names[AL_NUM_ORIGINS] = {
	"SERVER", "EXTENSION", "APPLICATION"
};

/* Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01). */
#define AL_UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * n (at most AL_RANDOM_POOL) strong random bytes, taken from a pool that
 * pg_strong_random() fills AL_RANDOM_POOL bytes at a time: a call of it
 * costs about 8,000 instructions whether it makes 8 bytes or 512, about 3%
 * of a log_event() call.  The pool belongs to the process that filled it:
 * a child forked from the postmaster never uses bytes its parent had (or
 * gave to another child); the bytes are used once each.
 */
#define AL_RANDOM_POOL 512

static void
al_random_bytes(uint8 *dst, int n)
{
	static uint8 pool[AL_RANDOM_POOL];
	static int	pool_left = 0;
	static int	pool_pid = 0;

	Assert(n > 0 && n <= AL_RANDOM_POOL);
	if (pool_pid != MyProcPid || pool_left < n)
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			elog(ERROR, "could not generate random bytes for an event id");
		pool_left = sizeof(pool);
		pool_pid = MyProcPid;
	}
	memcpy(dst, pool + (sizeof(pool) - pool_left), n);
	/* used bytes are not kept */
	memset(pool + (sizeof(pool) - pool_left), 0, n);
	pool_left -= n;
}

/*
 * Fill *uuid with a version 7 UUID (RFC 9562) for the instant ts.
 *
 * Layout: 48 bits of Unix milliseconds, the version nibble, 12 bits holding
 * the sub-millisecond fraction (so ids from one clock sort by microsecond),
 * the variant bits, then 62 random bits.  Instants before 1970 are clamped
 * to the epoch; they still get a unique id from the random bits.
 */
void
al_uuid7(pg_uuid_t *uuid, TimestampTz ts)
{
	int64		unix_us = ts + AL_UNIX_EPOCH_OFFSET_US;
	uint64		unix_ms;
	uint32		sub_ms;
	uint8		rnd[8];

	if (unix_us < 0)
		unix_us = 0;
	unix_ms = (uint64) unix_us / 1000;
	sub_ms = (uint32) (((uint64) unix_us % 1000) * 4096 / 1000);

	al_random_bytes(rnd, sizeof(rnd));

	uuid->data[0] = (uint8) (unix_ms >> 40);
	uuid->data[1] = (uint8) (unix_ms >> 32);
	uuid->data[2] = (uint8) (unix_ms >> 24);
	uuid->data[3] = (uint8) (unix_ms >> 16);
	uuid->data[4] = (uint8) (unix_ms >> 8);
	uuid->data[5] = (uint8) unix_ms;
	uuid->data[6] = 0x70 | (uint8) ((sub_ms >> 8) & 0x0F);
	uuid->data[7] = (uint8) (sub_ms & 0xFF);
	uuid->data[8] = 0x80 | (rnd[0] & 0x3F);
	memcpy(&uuid->data[9], &rnd[1], 7);
}

/*
 * The session id exactly as log_line_prefix's %c prints it.
 */
void
al_session_id(char *buf, size_t len)
{
	snprintf(buf, len, "%lx.%x", (long) MyStartTime, MyProcPid);
}

/*
 * Which server produced an event: cluster_name when set, otherwise the
 * database system identifier.  Computed once per process.
 */
const char *
al_source_node(void)
{
	static char node[NAMEDATALEN + 32];

	if (node[0] == '\0')
	{
		if (cluster_name != NULL && cluster_name[0] != '\0')
			strlcpy(node, cluster_name, sizeof(node));
		else
			snprintf(node, sizeof(node), UINT64_FORMAT, GetSystemIdentifier());
	}
	return node;
}

/*
 * The client's numeric address, or false (SQL NULL) for Unix-socket and
 * background sessions.
 */
bool
al_client_addr(char *buf, size_t len)
{
	buf[0] = '\0';
	if (MyProcPort == NULL)
		return false;
	if (MyProcPort->raddr.addr.ss_family != AF_INET
#ifdef HAVE_IPV6
		&& MyProcPort->raddr.addr.ss_family != AF_INET6
#endif
		)
		return false;
	if (pg_getnameinfo_all(&MyProcPort->raddr.addr, MyProcPort->raddr.salen,
						   buf, len, NULL, 0, NI_NUMERICHOST) != 0)
	{
		buf[0] = '\0';
		return false;
	}
	return true;
}

/*
 * strlcpy that never cuts a multibyte character in half: a name longer than
 * the field is clipped at a character boundary.
 */
void
al_strlcpy_clip(char *dst, const char *src, size_t len)
{
	size_t		n;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	n = strlen(src);
	if (n >= len)
		n = pg_mbcliplen(src, n, len - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Start an event of the current session: zero it, set its id and time, and
 * fill the base data the session knows (pid, session id, client address,
 * application and database).  The caller sets user_name, object_name,
 * reason_code and entry_data.
 */
void
al_event_init_session(AuditEvent *ev, AuditCategory category,
					  const char *event_type, bool success)
{
	memset(ev, 0, sizeof(AuditEvent));
	ev->request_time = GetCurrentTimestamp();
	al_uuid7(&ev->event_id, ev->request_time);
	ev->backend_pid = MyProcPid;
	ev->category = (uint8) category;
	ev->success = success;
	al_strlcpy_clip(ev->event_type, event_type, sizeof(ev->event_type));
	al_session_id(ev->session_id, sizeof(ev->session_id));
	al_client_addr(ev->client_addr, sizeof(ev->client_addr));
	if (application_name != NULL)
		al_strlcpy_clip(ev->application_name, application_name, sizeof(ev->application_name));
	if (MyProcPort != NULL && MyProcPort->database_name != NULL)
		al_strlcpy_clip(ev->database_name, MyProcPort->database_name, sizeof(ev->database_name));
	strcpy(ev->entry_data, "{}");
}
