/*-------------------------------------------------------------------------
 *
 * event_line.c
 *		An event as one line: its JSON form with the columns of
 *		audit_log.events (also how a standby ships its events and how an
 *		intent keeps its event), and the line written to the server log for
 *		audit_log.log_to_server, for an event that found the queue full and
 *		for one the writer could not store (in audit_log.log_to_server_format:
 *		json, ocsf or ecs).
 *
 * Nothing here allocates or takes a lock: the functions run inside
 * emit_log_hook and in processes without PGPROC.  The server-log functions
 * guard against re-entry.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "audit_log.h"
#include "event_line.h"
#include "export.h"

/* set while a line is being written: ereport may call emit_log_hook */
static bool al_in_log_line = false;

/* The canonical text of a uuid, in buf (37 bytes); no allocation. */
const char *
al_uuid_text(const pg_uuid_t *id, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = buf;
	int			i;

	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[id->data[i] >> 4];
		*p++ = hex[id->data[i] & 0x0F];
	}
	*p = '\0';
	return buf;
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

	al_uuid_text(&ev->event_id, uuid);

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
	const char *category;
	int			tz = 0;
	int			i;

	if (al_log_to_server_format == AL_LOG_FORMAT_JSON)
	{
		al_format_event_json(ev, buf, len);
		return;
	}

	al_uuid_text(&ev->event_id, uuid);
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
