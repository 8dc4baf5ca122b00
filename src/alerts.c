/*-------------------------------------------------------------------------
 *
 * alerts.c
 *		Threshold alerts over the events as the background writer writes
 *		them: the rules of audit_log.alert_rules, and the built-in
 *		conditions of the audit log's own failure.
 *
 * After each batch is committed, the writer (writer.c) hands its events to
 * al_alerts_batch.  Each enabled rule keeps, per group key (the event's
 * client_addr, user_name or database_name, or one group for 'none'), a
 * ring of the times and ids of its last `threshold` matching events: when
 * the ring is full and its oldest entry is less than `within` older than
 * the newest, the rule fires.  Firing records one AUDIT_LOG ALERT event
 * (through log_event, in the writer's own transaction, right after the
 * batch's), sends NOTIFY audit_log_alert with the same JSON in that
 * transaction, writes a LOG line, and starts audit_log.alert_command in the
 * background with the JSON on its standard input.
 *
 * At most one alert per rule and group key per window: after an alert the
 * group is quiet for `within`; the events counted meanwhile are reported at
 * the quiet window's end in one follow-up alert (kind "follow_up", with
 * their count and the storm's running total), which starts another quiet
 * window; a quiet window without events ends the storm, and the next
 * crossing is a new alert.  Events counted in an alert are not counted
 * again.
 *
 * Bounds (memory in the writer only): at most AL_ALERT_MAX_RULES enabled
 * rules (the first by name; the rest are ignored, said once in the log),
 * AL_ALERT_MAX_GROUPS group keys per rule and AL_ALERT_MAX_SLOTS window
 * entries (24 bytes each) over all rules; a new key beyond either bound
 * evicts the key of the same rule seen least recently (its window is
 * forgotten; evictions are counted and logged at most once a minute).
 *
 * Rules are reread from the table at most every AL_ALERT_RELOAD_MS, when a
 * batch is evaluated: a rule whose definition did not change keeps its
 * windows.  When the writer starts (or after a restart mid-window), the
 * last ALERT of each rule and key within the last day is read back: events
 * no newer than the last event it counted are not counted again, and a
 * quiet window still running goes on, so a restarted writer never fires
 * twice for the same events (windows not yet crossed are forgotten: a
 * restart may delay an alert, never repeat one).
 *
 * The built-in conditions are rules too (al_add_builtins); those that are
 * not events of a batch (a stalled writer, failed exports and jobs, a
 * lagging collector source) are looked for in alerts_health.c.
 *
 * Under a 1.0 schema (no alert_rules, no ALERT type) nothing is evaluated.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "al_json.h"
#include "alerts.h"
#include "alerts_internal.h"
#include "audit_log.h"
#include "event_line.h"
#include "fleet.h"
#include "queue.h"
#include "version.h"
#include "writer.h"

static const char *const al_group_by_names[] = {
	"client_addr", "user_name", "database_name", "none", "object_name", "source"
};

char	   *al_alert_command = NULL;
int			al_alert_collector_lag_s = 300;

static MemoryContext al_alerts_cxt = NULL;
AlAlertRule *al_rules[AL_ALERT_MAX_RULES + AL_ALERT_NUM_BUILTIN];
int			al_nrules = 0;
static bool al_alerts_loaded = false;	/* rules read at least once */
static bool al_alerts_active = false;	/* schema 1.1: evaluate */
static TimestampTz al_alerts_read_at = 0;
static int	al_slots_used = 0;
static bool al_said_too_many = false;
static TimestampTz al_evictions_logged = 0;
static uint64 al_evictions_unlogged = 0;
AlFiring   *al_firings = NULL;
int			al_nfirings = 0;

/* An ISO 8601 text of ts, in UTC. */
void
al_iso(TimestampTz ts, char *buf)
{
	int			tz = 0;

	JsonEncodeDateTime(buf, TimestampTzGetDatum(ts), TIMESTAMPTZOID, &tz);
}

/* A rule with its empty group table, in its own memory context. */
static AlAlertRule *
al_rule_new(const char *name, bool builtin)
{
	MemoryContext cxt = AllocSetContextCreate(al_alerts_cxt, "audit_log alert rule",
											  ALLOCSET_SMALL_SIZES);
	AlAlertRule *r = MemoryContextAllocZero(cxt, sizeof(AlAlertRule));
	HASHCTL		ctl;

	strlcpy(r->name, name, sizeof(r->name));
	r->builtin = builtin;
	r->cxt = cxt;
	r->category = -1;
	r->status = -1;
	r->any_reason = true;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = AL_NAME_LEN;
	ctl.entrysize = sizeof(AlAlertGroup);
	ctl.hcxt = cxt;
	r->groups = hash_create("audit_log alert groups", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	return r;
}

static void
al_rule_free(AlAlertRule *r)
{
	al_slots_used -= r->ngroups * r->threshold;
	hash_destroy(r->groups);
	MemoryContextDelete(r->cxt);
}

/* Do two rules count the same events the same way? */
static bool
al_rule_same(const AlAlertRule *a, const AlAlertRule *b)
{
	return strcmp(a->name, b->name) == 0 && a->category == b->category &&
		strcmp(a->event_type, b->event_type) == 0 && a->status == b->status &&
		a->any_reason == b->any_reason && strcmp(a->reason, b->reason) == 0 &&
		a->group_by == b->group_by && a->threshold == b->threshold &&
		a->within_us == b->within_us;
}

/* Forget the group of r seen least recently. */
static bool
al_evict_one(AlAlertRule *r)
{
	HASH_SEQ_STATUS seq;
	AlAlertGroup *g;
	AlAlertGroup *oldest = NULL;
	TimestampTz now = GetCurrentTimestamp();

	hash_seq_init(&seq, r->groups);
	while ((g = hash_seq_search(&seq)) != NULL)
		if (oldest == NULL || g->last_seen < oldest->last_seen)
			oldest = g;
	if (oldest == NULL)
		return false;
	pfree(oldest->ts);
	pfree(oldest->ids);
	(void) hash_search(r->groups, oldest->key, HASH_REMOVE, NULL);
	r->ngroups--;
	al_slots_used -= r->threshold;
	r->evicted++;
	al_evictions_unlogged++;
	if (TimestampDifferenceExceeds(al_evictions_logged, now, 60000))
	{
		ereport(LOG,
				(errmsg("audit_log: alert windows evicted: %llu group keys forgotten since the last message (rule \"%s\" has %llu)",
						(unsigned long long) al_evictions_unlogged, r->name,
						(unsigned long long) r->evicted),
				 errdetail("A rule keeps at most %d group keys and all rules at most %d window entries; the key seen least recently is forgotten.",
						   AL_ALERT_MAX_GROUPS, AL_ALERT_MAX_SLOTS)));
		al_evictions_logged = now;
		al_evictions_unlogged = 0;
	}
	return true;
}

/* The group of key, made (evicting if needed) when absent; NULL if no room. */
static AlAlertGroup *
al_group_get(AlAlertRule *r, const char *key)
{
	AlAlertGroup *g;
	bool		found;
	char		k[AL_NAME_LEN];

	strlcpy(k, key, sizeof(k));
	g = hash_search(r->groups, k, HASH_FIND, NULL);
	if (g != NULL)
		return g;
	while (r->ngroups >= AL_ALERT_MAX_GROUPS ||
		   al_slots_used + r->threshold > AL_ALERT_MAX_SLOTS)
		if (!al_evict_one(r))
			return NULL;
	g = hash_search(r->groups, k, HASH_ENTER, &found);
	memset(((char *) g) + AL_NAME_LEN, 0, sizeof(AlAlertGroup) - AL_NAME_LEN);
	g->ts = MemoryContextAlloc(r->cxt, sizeof(TimestampTz) * r->threshold);
	g->ids = MemoryContextAlloc(r->cxt, sizeof(pg_uuid_t) * r->threshold);
	r->ngroups++;
	al_slots_used += r->threshold;
	return g;
}

/* Queue the JSON of one alert for al_alerts_fire. */
static void
al_alert_queue(AlAlertRule *r, const AlAlertGroup *g, const char *kind, int count,
			   TimestampTz start, TimestampTz end, const pg_uuid_t *first,
			   const pg_uuid_t *last, TimestampTz last_ts, TimestampTz quiet_until)
{
	AlFiring   *f;
	AlJson		js;
	char		buf[MAXDATELEN + 1];

	if (al_nfirings >= AL_ALERT_MAX_FIRINGS)
	{
		ereport(LOG,
				(errmsg("audit_log: more than %d alerts at once; alert \"%s\" for \"%s\" is only in this line",
						AL_ALERT_MAX_FIRINGS, r->name, g->key)));
		return;
	}
	f = &al_firings[al_nfirings++];
	f->builtin = r->builtin;
	f->notify = true;
	strlcpy(f->rule, r->name, sizeof(f->rule));
	al_json_init(&js, f->json, sizeof(f->json), false);
	al_json_str(&js, "rule", r->name);
	al_json_str(&js, "kind", kind);
	al_json_str(&js, "group_by", al_group_by_names[r->group_by]);
	al_json_str(&js, "group_key", g->key);
	al_json_int(&js, "count", count);
	al_json_int(&js, "total", (int) Min(g->total, (int64) PG_INT32_MAX));
	al_json_int(&js, "threshold", r->threshold);
	al_json_int(&js, "within_ms", (int) (r->within_us / 1000));
	al_iso(start, buf);
	al_json_str(&js, "window_start", buf);
	al_iso(end, buf);
	al_json_str(&js, "window_end", buf);
	al_json_str(&js, "first_event_id", al_uuid_text(first, buf));
	al_json_str(&js, "last_event_id", al_uuid_text(last, buf));
	al_iso(last_ts, buf);
	al_json_str(&js, "last_event_time", buf);
	al_iso(quiet_until, buf);
	al_json_str(&js, "quiet_until", buf);
	al_iso(GetCurrentTimestamp(), buf);
	al_json_str(&js, "fired_at", buf);
	if (r->group_by == AL_GROUP_SOURCE)
	{
		al_json_str(&js, "source", g->key);
		al_json_int64(&js, "lag_ms", g->lag_ms);
		al_json_int64(&js, "lag_threshold_ms", (int64) al_alert_collector_lag_s * 1000);
	}
	(void) al_json_finish(&js);
}

/*
 * The quiet window of g ended: a follow-up with what was counted meanwhile
 * (and another quiet window), or the storm is over.
 */
static void
al_group_quiet_end(AlAlertRule *r, AlAlertGroup *g)
{
	TimestampTz start = g->quiet_until - r->within_us;

	if (g->pending == 0)
	{
		g->quiet_until = 0;
		g->total = 0;
		return;
	}
	g->total += g->pending;
	al_alert_queue(r, g, "follow_up", g->pending, start, g->quiet_until,
				   &g->pending_first, &g->pending_last, g->pending_last_ts,
				   g->quiet_until + r->within_us);
	g->ignore_upto = Max(g->ignore_upto, g->pending_last_ts);
	g->quiet_until += r->within_us;
	g->pending = 0;
}

/* Count one matching event of rule r (lag_ms: collector_lag only). */
void
al_rule_count(AlAlertRule *r, const AuditEvent *ev, TimestampTz now, int64 lag_ms)
{
	const char *key;
	AlAlertGroup *g;
	int			oldest;

	switch (r->group_by)
	{
		case AL_GROUP_CLIENT_ADDR:
			key = ev->client_addr[0] != '\0' ? ev->client_addr : "local";
			break;
		case AL_GROUP_USER_NAME:
			key = ev->user_name;
			break;
		case AL_GROUP_DATABASE_NAME:
			key = ev->database_name;
			break;
		case AL_GROUP_OBJECT_NAME:
		case AL_GROUP_SOURCE:
			key = ev->object_name;
			break;
		default:
			key = "";
			break;
	}
	g = al_group_get(r, key);
	if (g == NULL || ev->request_time <= g->ignore_upto)
		return;
	g->last_seen = now;
	if (r->group_by == AL_GROUP_SOURCE)
		g->lag_ms = lag_ms;
	while (g->quiet_until != 0 && ev->request_time >= g->quiet_until)
		al_group_quiet_end(r, g);

	if (g->quiet_until != 0)
	{
		if (g->pending == 0)
			g->pending_first = ev->event_id;
		g->pending++;
		g->pending_last = ev->event_id;
		g->pending_last_ts = ev->request_time;
		return;
	}

	g->ts[g->head] = ev->request_time;
	g->ids[g->head] = ev->event_id;
	g->head = (g->head + 1) % r->threshold;
	if (g->count < r->threshold)
		g->count++;
	if (g->count < r->threshold)
		return;
	oldest = g->head;			/* the ring is full: head is its oldest */
	if (ev->request_time - g->ts[oldest] >= r->within_us)
		return;

	g->total = r->threshold;
	g->quiet_until = ev->request_time + r->within_us;
	al_alert_queue(r, g, "alert", r->threshold, g->ts[oldest], ev->request_time,
				   &g->ids[oldest], &ev->event_id, ev->request_time, g->quiet_until);
	g->ignore_upto = Max(g->ignore_upto, ev->request_time);
	g->count = 0;
	g->head = 0;
	g->pending = 0;
}

/* Does ev match rule r? */
static bool
al_rule_matches(const AlAlertRule *r, const AuditEvent *ev)
{
	if (r->category >= 0 && ev->category != r->category)
		return false;
	if (r->status >= 0 && (int) ev->success != r->status)
		return false;
	if (r->event_type[0] != '\0' && strcmp(ev->event_type, r->event_type) != 0)
		return false;
	if (!r->any_reason && strcmp(ev->reason_code, r->reason) != 0)
		return false;
	return true;
}

/* The built-in conditions: rules that always exist. */
static void
al_add_builtins(void)
{
	AlAlertRule *r;

	/* events that went to the server log instead of the table */
	r = al_rule_new("audit_log:capture_gap", true);
	r->category = AL_CAT_AUDIT_LOG;
	strlcpy(r->event_type, "CAPTURE_GAP", sizeof(r->event_type));
	r->group_by = AL_GROUP_NONE;
	r->threshold = 1;
	r->within_us = 60 * USECS_PER_SEC;
	al_rules[al_nrules++] = r;

	/* an export that recorded its failure (EXPORTS EXPORT FAILURE) */
	r = al_rule_new("audit_log:export_failed", true);
	r->scan_only = true;
	r->category = AL_CAT_EXPORTS;
	strlcpy(r->event_type, "EXPORT", sizeof(r->event_type));
	r->status = 0;
	r->group_by = AL_GROUP_NONE;
	r->threshold = 1;
	r->within_us = 60 * USECS_PER_SEC;
	al_rules[al_nrules++] = r;

	/* a pg_cron job of the extension (maintenance, exports) that failed */
	r = al_rule_new("audit_log:job_failed", true);
	r->scan_only = true;
	r->category = AL_CAT_AUDIT_LOG;
	strlcpy(r->event_type, "JOB_FAILED", sizeof(r->event_type));
	r->group_by = AL_GROUP_OBJECT_NAME;
	r->threshold = 1;
	r->within_us = 60 * USECS_PER_SEC;
	al_rules[al_nrules++] = r;

	/*
	 * a collector's source whose lag passed audit_log.alert_collector_lag
	 * (fed by al_alerts_check_jobs; the window is set there)
	 */
	r = al_rule_new("audit_log:collector_lag", true);
	r->scan_only = true;
	r->category = AL_CAT_AUDIT_LOG;
	strlcpy(r->event_type, "COLLECTOR_LAG", sizeof(r->event_type));
	r->group_by = AL_GROUP_SOURCE;
	r->threshold = 1;
	r->within_us = AL_ALERT_LAG_WINDOW_MS * INT64CONST(1000);
	al_rules[al_nrules++] = r;
}

/* Copy column col of row of the SPI result into dst ("" for NULL). */
bool
al_spi_col(int row, int col, char *dst, size_t len)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	if (v == NULL)
	{
		dst[0] = '\0';
		return false;
	}
	strlcpy(dst, v, len);
	return true;
}

/* The text of a timestamptz column (ISO), or 0 for NULL. */
TimestampTz
al_spi_ts(int row, int col)
{
	char		buf[MAXDATELEN + 1];

	if (!al_spi_col(row, col, buf, sizeof(buf)) || buf[0] == '\0')
		return 0;
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(buf),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
}

/*
 * After a (re)start: the last ALERT of each rule and key tells which events
 * were counted already and whether a quiet window is still running.
 */
static void
al_alerts_restore(void)
{
	uint64		i;
	TimestampTz now = GetCurrentTimestamp();

	if (SPI_execute("SET LOCAL lock_timeout = 5000", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not set lock_timeout");
	if (SPI_execute("SELECT DISTINCT ON (e.entry_data ->> 'rule', e.entry_data ->> 'group_key')"
					" e.entry_data ->> 'rule', e.entry_data ->> 'group_key',"
					" e.entry_data ->> 'last_event_time', e.entry_data ->> 'quiet_until',"
					" e.entry_data ->> 'total'"
					" FROM audit_log.events e"
					" WHERE e.event_category = 'AUDIT_LOG' AND e.event_type = 'ALERT'"
					" AND e.request_time > pg_catalog.now() - interval '1 day 1 minute'"
					" ORDER BY e.entry_data ->> 'rule', e.entry_data ->> 'group_key',"
					" e.request_time DESC",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the last alerts");
	for (i = 0; i < SPI_processed; i++)
	{
		char		name[AL_ALERT_NAME_LEN];
		char		key[AL_NAME_LEN];
		char		total[32];
		AlAlertRule *r = NULL;
		AlAlertGroup *g;
		TimestampTz quiet;
		int			k;

		al_spi_col(i, 1, name, sizeof(name));
		al_spi_col(i, 2, key, sizeof(key));
		for (k = 0; k < al_nrules && r == NULL; k++)
			if (strcmp(al_rules[k]->name, name) == 0)
				r = al_rules[k];
		if (r == NULL || (g = al_group_get(r, key)) == NULL)
			continue;
		g->last_seen = now;
		g->ignore_upto = al_spi_ts(i, 3);
		quiet = al_spi_ts(i, 4);
		if (quiet > now)
		{
			g->quiet_until = quiet;
			al_spi_col(i, 5, total, sizeof(total));
			g->total = atoi(total);
		}
	}
}

/*
 * Reread the enabled rules (inside a transaction, SPI connected).  A rule
 * whose definition is unchanged keeps its windows.
 */
static void
al_alerts_read_rules(void)
{
	AlAlertRule *fresh[AL_ALERT_MAX_RULES + AL_ALERT_NUM_BUILTIN];
	int			nfresh = 0;
	uint64		i;
	int			k;
	int			j;

	if (SPI_execute("SELECT name, event_category::text, event_type, event_status::text,"
					" event_status_reason_code, group_by, threshold,"
					" (pg_catalog.date_part('epoch', within) * 1000000)::bigint"
					" FROM audit_log.alert_rules WHERE enabled"
					" ORDER BY name COLLATE \"C\" LIMIT " CppAsString2(AL_ALERT_MAX_RULES) " + 1",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_log.alert_rules");
	if (SPI_processed > AL_ALERT_MAX_RULES && !al_said_too_many)
	{
		ereport(LOG,
				(errmsg("audit_log: more than %d enabled alert rules; only the first %d by name are evaluated",
						AL_ALERT_MAX_RULES, AL_ALERT_MAX_RULES)));
		al_said_too_many = true;
	}
	for (i = 0; i < SPI_processed && i < AL_ALERT_MAX_RULES; i++)
	{
		char		name[AL_ALERT_NAME_LEN];
		char		buf[AL_TYPE_LEN];
		AlAlertRule *r;

		al_spi_col(i, 1, name, sizeof(name));
		r = al_rule_new(name, false);
		if (al_spi_col(i, 2, buf, sizeof(buf)))
			for (k = 0; k < AL_NUM_CATEGORIES; k++)
				if (strcmp(buf, al_category_names[k]) == 0)
					r->category = k;
		al_spi_col(i, 3, r->event_type, sizeof(r->event_type));
		if (al_spi_col(i, 4, buf, sizeof(buf)))
			r->status = strcmp(buf, "SUCCESS") == 0 ? 1 : 0;
		r->any_reason = !al_spi_col(i, 5, r->reason, sizeof(r->reason));
		al_spi_col(i, 6, buf, sizeof(buf));
		r->group_by = AL_GROUP_NONE;
		for (k = 0; k < AL_GROUP_BY_USER; k++)
			if (strcmp(buf, al_group_by_names[k]) == 0)
				r->group_by = k;
		al_spi_col(i, 7, buf, sizeof(buf));
		r->threshold = Max(atoi(buf), 1);
		al_spi_col(i, 8, buf, sizeof(buf));
		r->within_us = Max(strtoi64(buf, NULL, 10), 1);
		fresh[nfresh++] = r;
	}

	/* keep the windows of the unchanged rules, drop the others */
	for (k = 0; k < al_nrules; k++)
	{
		AlAlertRule *old = al_rules[k];
		bool		kept = old->builtin;

		for (j = 0; j < nfresh && !kept; j++)
			if (al_rule_same(old, fresh[j]))
			{
				al_rule_free(fresh[j]);
				fresh[j] = old;
				kept = true;
			}
		if (!kept)
			al_rule_free(old);
		else if (old->builtin)
			fresh[nfresh++] = old;
	}
	memcpy(al_rules, fresh, sizeof(AlAlertRule *) * nfresh);
	al_nrules = nfresh;
}

/*
 * Reread the rules when due (its own transaction).  The first time, also
 * add the built-in rules and read back the last alerts.
 */
static void
al_alerts_refresh(void)
{
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext oldcxt = CurrentMemoryContext;

	if (al_alerts_read_at != 0 &&
		!TimestampDifferenceExceeds(al_alerts_read_at, now, AL_ALERT_RELOAD_MS))
		return;
	al_alerts_read_at = now;

	if (al_alerts_cxt == NULL)
	{
		al_alerts_cxt = AllocSetContextCreate(TopMemoryContext, "audit_log alerts",
											  ALLOCSET_DEFAULT_SIZES);
		al_firings = MemoryContextAlloc(al_alerts_cxt, sizeof(AlFiring) * AL_ALERT_MAX_FIRINGS);
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		/*
		 * The table is looked up first: once, just after CREATE EXTENSION
		 * (with audit_log.synchronous on), the writer found the extension
		 * but not yet this table, and the query failed with "relation does
		 * not exist".  Then the rules are read by the next refresh.
		 */
		al_alerts_active = al_installed_version_num() >= 101 &&
			OidIsValid(get_namespace_oid("audit_log", true)) &&
			OidIsValid(get_relname_relid("alert_rules", get_namespace_oid("audit_log", true)));
		if (al_alerts_active)
		{
			bool		first = !al_alerts_loaded;

			if (al_nrules == 0)
				al_add_builtins();
			al_alerts_read_rules();
			if (first)
				al_alerts_restore();
			al_alerts_loaded = true;
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		al_writer_report_and_abort(oldcxt);
		al_alerts_active = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Run audit_log.alert_command in the background with json on its standard
 * input: the shell that starts it returns at once, and the command's
 * output and exit status are not waited for (README, "Alerts").
 */
void
al_alert_run_command(const char *json)
{
	char	   *cmd;
	FILE	   *fh;

	if (al_alert_command == NULL || al_alert_command[0] == '\0')
		return;
	/* a background list's stdin is /dev/null unless redirected: fd 3 */
	cmd = psprintf("exec 3<&0 </dev/null; ( %s ) <&3 >/dev/null 2>&1 3<&- &", al_alert_command);
	fflush(NULL);
	fh = OpenPipeStream(cmd, "w");
	if (fh == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("audit_log: could not run audit_log.alert_command: %m")));
		return;
	}
	fputs(json, fh);
	fputc('\n', fh);
	if (ClosePipeStream(fh) != 0)
		ereport(LOG,
				(errmsg("audit_log: audit_log.alert_command could not be started")));
	pfree(cmd);
}

/*
 * Fire what was decided: the ALERT events and their NOTIFYs in one
 * transaction, then a LOG line and the command for each.
 */
static void
al_alerts_fire(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	int			i;

	if (al_nfirings == 0)
		return;

	/* the server log first: it does not depend on the table */
	for (i = 0; i < al_nfirings; i++)
		if (al_firings[i].notify)
			ereport(LOG,
					(errmsg("audit_log: alert %s", al_firings[i].json)));

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		for (i = 0; i < al_nfirings; i++)
		{
			Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
			Datum		values[3];

			values[0] = CStringGetTextDatum(al_firings[i].builtin ? "FAILURE" : "SUCCESS");
			values[1] = CStringGetTextDatum(al_firings[i].rule);
			values[2] = CStringGetTextDatum(al_firings[i].json);
			if (SPI_execute_with_args("SELECT audit_log.log_event('AUDIT_LOG', 'ALERT',"
									  " $1::audit_log.event_status, NULL, $2, $3::pg_catalog.jsonb)",
									  3, types, values, NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not record an alert");
			if (al_firings[i].notify &&
				SPI_execute_with_args("SELECT pg_catalog.pg_notify('audit_log_alert', $1)",
									  1, &types[2], &values[2], NULL, false, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not notify an alert");
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		al_writer_report_and_abort(oldcxt);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);

	for (i = 0; i < al_nfirings; i++)
		if (al_firings[i].notify)
			al_alert_run_command(al_firings[i].json);
	al_nfirings = 0;
}

void
al_alerts_batch(const AuditEvent *evs, int n)
{
	TimestampTz now;
	int			i;
	int			k;

	al_alerts_refresh();
	if (!al_alerts_active || al_nrules == 0)
		return;
	now = GetCurrentTimestamp();
	al_stall_written();
	for (i = 0; i < n; i++)
		for (k = 0; k < al_nrules; k++)
			if (!al_rules[k]->scan_only && al_rule_matches(al_rules[k], &evs[i]))
				al_rule_count(al_rules[k], &evs[i], now, 0);
	al_alerts_fire();
}

void
al_alerts_tick(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	int			k;

	if (!TimestampDifferenceExceeds(last, now, 100))
		return;
	last = now;
	if (!al_alerts_loaded)
		al_alerts_refresh();	/* at most once a second until it worked */
	if (!al_alerts_active)
		return;
	al_stall_check(now);
	al_alerts_check_jobs(now);
	for (k = 0; k < al_nrules; k++)
	{
		HASH_SEQ_STATUS seq;
		AlAlertGroup *g;

		hash_seq_init(&seq, al_rules[k]->groups);
		while ((g = hash_seq_search(&seq)) != NULL)
			while (g->quiet_until != 0 && now >= g->quiet_until)
				al_group_quiet_end(al_rules[k], g);
	}
	al_alerts_fire();
}
