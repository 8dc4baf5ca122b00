/*-------------------------------------------------------------------------
 *
 * standby_ship.c
 *		Read replicas lose nothing: on a hot standby, where nothing can be
 *		written, the background writer sends the standby's captured events
 *		to the primary over libpq, where they land in audit_log.events with
 *		the standby's source_node.
 *
 * The writer connects with audit_log.standby_conninfo, or, when that is
 * empty, with the standby's primary_conninfo, in both cases to database
 * audit_log.database (the role needs INSERT on audit_log.events: the
 * superuser or replication role of primary_conninfo usually is one).  It
 * sends each batch as one JSON array in one INSERT ... SELECT FROM
 * jsonb_populate_recordset(...) ON CONFLICT DO NOTHING, and frees the
 * slots only once the primary answered: an event sent twice (the answer
 * lost) lands once, deduplicated by its event_id.  When the primary cannot
 * be reached, the events stay queued (audit_log.queue_size of them: the
 * standby's bounded spool; later ones go to the server log as their JSON
 * lines, counted in dropped and in the gap counts) and the writer retries
 * every second.  After the first batch the primary takes again, the writer
 * (writer.c, al_write_some) turns the gap counts into one CAPTURE_GAP
 * event, sent with the next batch.  A standby stopped meanwhile saves its
 * queue to the queue file like any server and sends it after its restart
 * (t/024_standby_spool.pl).  The events reach the standby's own table through
 * replication like any other row.  Intents (intents.c) are never made on
 * a standby, since it runs no administrative command.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "audit_log.h"
#include "event_line.h"
#include "queue.h"
#include "standby_ship.h"

static PGconn *al_primary = NULL;
static bool al_said_failure = false;

/*
 * The INSERT run on the primary: [0] into a 1.0 schema, [1] with origin
 * (1.1), chosen once per connection; the JSON lines carry origin.
 */
static const char *const al_ship_sql[2] = {
	"INSERT INTO audit_log.events (event_id, request_time, logged_time,"
	" event_category, event_type, event_status, event_status_reason_code,"
	" user_name, object_name, client_addr, application_name, database_name,"
	" backend_pid, session_id, source_node, entry_data)"
	" SELECT r.event_id, r.request_time, pg_catalog.now(), r.event_category,"
	" r.event_type, r.event_status, r.event_status_reason_code, r.user_name,"
	" r.object_name, r.client_addr, r.application_name, r.database_name,"
	" r.backend_pid, r.session_id, r.source_node, r.entry_data"
	" FROM pg_catalog.jsonb_populate_recordset(NULL::audit_log.events, $1::pg_catalog.jsonb) AS r"
	" ON CONFLICT DO NOTHING",
	"INSERT INTO audit_log.events (event_id, request_time, logged_time,"
	" event_category, event_type, event_status, event_status_reason_code,"
	" user_name, object_name, client_addr, application_name, database_name,"
	" backend_pid, session_id, source_node, entry_data, origin)"
	" SELECT r.event_id, r.request_time, pg_catalog.now(), r.event_category,"
	" r.event_type, r.event_status, r.event_status_reason_code, r.user_name,"
	" r.object_name, r.client_addr, r.application_name, r.database_name,"
	" r.backend_pid, r.session_id, r.source_node, r.entry_data,"
	" COALESCE(r.origin, 'SERVER')"
	" FROM pg_catalog.jsonb_populate_recordset(NULL::audit_log.events, $1::pg_catalog.jsonb) AS r"
	" ON CONFLICT DO NOTHING"
};

/* Does the primary's audit_log.events have origin (1.1)?  Per connection. */
static int	al_primary_origin = 0;

/* Close the connection to the primary (promotion, or an error). */
void
al_standby_disconnect(void)
{
	if (al_primary != NULL)
		PQfinish(al_primary);
	al_primary = NULL;
	al_queue_set_standby_shipping(false);
}

/* Log a failure once until the next success. */
static void
al_ship_failed(const char *what, const char *detail)
{
	if (!al_said_failure)
		ereport(LOG,
				(errmsg("audit_log: %s: %s", what, detail),
				 errdetail("The standby's captured events stay queued and are sent once the primary can be reached.")));
	al_said_failure = true;
	al_standby_disconnect();
}

/* Connect to the primary's audit_log.database; false when that failed. */
static bool
al_standby_connect(void)
{
	const char *conninfo = al_standby_conninfo;
	const char *keys[5];
	const char *vals[5];

	if (al_primary != NULL && PQstatus(al_primary) == CONNECTION_OK)
		return true;
	al_standby_disconnect();
	if (conninfo == NULL || conninfo[0] == '\0')
		conninfo = GetConfigOption("primary_conninfo", true, false);
	if (conninfo == NULL || conninfo[0] == '\0')
	{
		al_ship_failed("cannot send captured events to the primary",
					   "neither audit_log.standby_conninfo nor primary_conninfo is set");
		return false;
	}
	/* the settings given here win over the connection string's */
	keys[0] = "dbname";
	vals[0] = conninfo;
	keys[1] = "dbname";
	vals[1] = al_database;
	keys[2] = "application_name";
	vals[2] = "audit_log standby writer";
	keys[3] = "connect_timeout";
	vals[3] = "5";
	keys[4] = NULL;
	vals[4] = NULL;
	al_primary = PQconnectdbParams(keys, vals, 1);
	if (al_primary == NULL || PQstatus(al_primary) != CONNECTION_OK)
	{
		al_ship_failed("could not connect to the primary",
					   al_primary != NULL ? PQerrorMessage(al_primary) : "out of memory");
		return false;
	}
	{
		PGresult   *vres = PQexec(al_primary,
								  "SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute"
								  " WHERE attrelid = pg_catalog.to_regclass('audit_log.events')"
								  " AND attname = 'origin' AND NOT attisdropped");

		al_primary_origin = (PQresultStatus(vres) == PGRES_TUPLES_OK &&
							 PQntuples(vres) == 1 &&
							 strcmp(PQgetvalue(vres, 0, 0), "1") == 0) ? 1 : 0;
		PQclear(vres);
	}
	al_queue_set_standby_shipping(true);
	ereport(LOG,
			(errmsg("audit_log: server is in recovery, sending captured events to the primary (database \"%s\")",
					al_database)));
	return true;
}

/*
 * One write attempt on a standby: take up to max ready events and send
 * them to the primary.  Returns the number of events sent (0: nothing
 * queued), or -1 when they could not be sent (they stay queued).
 */
int
al_standby_ship(AuditEvent *batch, int max)
{
	int			taken;
	int			i;
	int			nsent = 0;
	StringInfoData json;
	char	   *line;
	const char *params[1];
	PGresult   *res;
	bool		ok;

	if (!al_standby_connect())
		return -1;
	taken = al_queue_peek(batch, max);
	if (taken == 0)
		return 0;

	initStringInfo(&json);
	line = palloc(8192);
	appendStringInfoChar(&json, '[');
	for (i = 0; i < taken; i++)
	{
		if (batch[i].intent == AL_INTENT_RECORD)
			continue;
		al_format_event_json(&batch[i], line, 8192);
		if (line[0] == '\0')
			continue;
		if (nsent++ > 0)
			appendStringInfoChar(&json, ',');
		appendStringInfoString(&json, line);
	}
	appendStringInfoChar(&json, ']');
	params[0] = json.data;

	pgstat_report_activity(STATE_RUNNING, "audit_log: sending captured events to the primary");
	res = PQexecParams(al_primary, al_ship_sql[al_primary_origin], 1, NULL, params, NULL, NULL, 0);
	ok = (PQresultStatus(res) == PGRES_COMMAND_OK);
	if (!ok)
		al_ship_failed("could not send captured events to the primary",
					   PQresultErrorMessage(res));
	PQclear(res);
	pgstat_report_activity(STATE_IDLE, NULL);
	pfree(line);
	pfree(json.data);
	if (!ok)
		return -1;
	if (al_said_failure)
		ereport(LOG,
				(errmsg("audit_log: sending captured events to the primary again")));
	al_said_failure = false;
	al_queue_release(taken, false);
	if (al_log_to_server)
		for (i = 0; i < taken; i++)
			if (batch[i].intent != AL_INTENT_RECORD)
				al_log_event_line(&batch[i], false);
	return taken;
}
