/*-------------------------------------------------------------------------
 *
 * alerts_internal.h
 *		The rules and windows of the alerts, shared by alerts.c (the rules,
 *		their windows, firing) and alerts_health.c (the built-in conditions
 *		of the audit log's own failure).  Nothing else includes it: the rest
 *		of the extension uses alerts.h.
 *
 * Both files run in the writer only.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_ALERTS_INTERNAL_H
#define AUDIT_LOG_ALERTS_INTERNAL_H

#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "alerts.h"
#include "audit_log.h"

/* the built-in conditions, always on */
#define AL_ALERT_NUM_BUILTIN 4

/* events waiting this long while the writer cannot write: a stall */
#define AL_ALERT_STALL_MS 30000

/* how often the writer looks for failed exports and pg_cron jobs */
#define AL_ALERT_JOBS_MS 10000

/* at least this long between two alerts of one lagging source */
#define AL_ALERT_LAG_WINDOW_MS 60000

/* most sources audit_log:collector_lag looks at */
#define AL_ALERT_MAX_SOURCES 256

/* longest name of a rule, built-in prefix included */
#define AL_ALERT_NAME_LEN 80

/* most alerts fired after one batch (the rest wait for the next) */
#define AL_ALERT_MAX_FIRINGS 64

typedef enum AlGroupBy
{
	AL_GROUP_CLIENT_ADDR,
	AL_GROUP_USER_NAME,
	AL_GROUP_DATABASE_NAME,
	AL_GROUP_NONE,
	AL_GROUP_OBJECT_NAME,		/* built-in conditions only */
	AL_GROUP_SOURCE				/* the object_name: a collector's source */
} AlGroupBy;

/* the user rules may group by the first four only */
#define AL_GROUP_BY_USER 4

/* The window of one group key of one rule. */
typedef struct AlAlertGroup
{
	char		key[AL_NAME_LEN];	/* hash key: first */
	TimestampTz *ts;			/* ring of the last threshold events */
	pg_uuid_t  *ids;
	int			head;			/* next slot to write */
	int			count;			/* entries in the ring */
	TimestampTz last_seen;		/* for eviction */
	TimestampTz ignore_upto;	/* events no newer were counted already */
	TimestampTz quiet_until;	/* 0: no alert running */
	int			pending;		/* counted while quiet */
	pg_uuid_t	pending_first;
	pg_uuid_t	pending_last;
	TimestampTz pending_last_ts;
	int64		total;			/* events of the storm so far */
	int64		lag_ms;			/* collector_lag: the lag last seen */
} AlAlertGroup;

typedef struct AlAlertRule
{
	char		name[AL_ALERT_NAME_LEN];
	bool		builtin;
	bool		scan_only;		/* fed by al_alerts_check_jobs, not batches */
	int			category;		/* -1: any */
	char		event_type[AL_TYPE_LEN];	/* "": any */
	int			status;			/* -1 any, 0 FAILURE, 1 SUCCESS */
	bool		any_reason;
	char		reason[AL_REASON_LEN];
	AlGroupBy	group_by;
	int			threshold;
	int64		within_us;
	MemoryContext cxt;
	HTAB	   *groups;
	int			ngroups;
	uint64		evicted;
} AlAlertRule;

/* An alert decided while counting, fired once the batch is done. */
typedef struct AlFiring
{
	bool		builtin;
	bool		notify;			/* false: NOTIFY sent already */
	char		rule[AL_ALERT_NAME_LEN];
	char		json[AL_ENTRY_DATA_LEN];
} AlFiring;

/* alerts.c: the rules in force (user rules, then the built-in ones) */
extern AlAlertRule *al_rules[AL_ALERT_MAX_RULES + AL_ALERT_NUM_BUILTIN];
extern int	al_nrules;

/* alerts.c: the alerts decided since the last al_alerts_fire */
extern AlFiring *al_firings;
extern int	al_nfirings;

/* alerts.c: helpers */
extern void al_iso(TimestampTz ts, char *buf);
extern bool al_spi_col(int row, int col, char *dst, size_t len);
extern TimestampTz al_spi_ts(int row, int col);
extern void al_rule_count(AlAlertRule *r, const AuditEvent *ev, TimestampTz now, int64 lag_ms);
extern void al_alert_run_command(const char *json);

/* alerts_health.c: the built-in conditions, from the writer's loop */
extern void al_stall_check(TimestampTz now);
extern void al_stall_written(void);
extern void al_alerts_check_jobs(TimestampTz now);

#endif							/* AUDIT_LOG_ALERTS_INTERNAL_H */
