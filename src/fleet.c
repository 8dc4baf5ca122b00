/*-------------------------------------------------------------------------
 *
 * fleet.c
 *		Collecting the audit logs of many servers in one place with
 *		PostgreSQL's logical replication: audit_log.add_source() and
 *		audit_log.drop_source() on the collector, the redaction of a
 *		connection string's password, and the trigger that keeps the
 *		collector free of duplicate events.
 *
 * A source publishes the inserts into audit_log.events (publication
 * audit_log_events, see 70_fleet.sql); the collector subscribes to it with
 * one subscription per source, named audit_log_src_<name>.
 *
 * CREATE SUBSCRIPTION may create its replication slot only outside a
 * transaction block, and a function always runs inside one.  So add_source
 * creates the subscription with create_slot = false and makes the slot
 * itself, over its own libpq connection to the source, as the very last step
 * of the function.  That connection stays open until the transaction ends:
 * if the transaction (or the subtransaction that called add_source) rolls
 * back, the slot is dropped again, so a failed or undone add_source leaves
 * neither a subscription nor a slot behind.  drop_source detaches the slot
 * from the subscription (slot_name = NONE), drops the subscription, then
 * drops the slot on the source if the source can be reached.
 *
 * Secrets: the connection string is passed to PostgreSQL's CREATE
 * SUBSCRIPTION (pg_subscription.subconninfo keeps it, readable by superusers
 * only), but never to our events or to our error messages: the ADD_SOURCE
 * event records the string with every password option removed, and errors
 * raised while the subscription is created lose their "SQL statement"
 * context, which would quote it.
 *
 * Transaction end: al_fleet_xact and al_fleet_subxact are called by the
 * extension's transaction callbacks (audit_log.c), which remember_slot
 * makes sure are registered even when the library was loaded late.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_subscription.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "replication/worker_internal.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "libpq-fe.h"

#include "al_json.h"
#include "audit_log.h"
#include "compat.h"
#include "fleet.h"
#include "queue.h"
#include "redact.h"

PG_FUNCTION_INFO_V1(audit_log_redact_conninfo);
PG_FUNCTION_INFO_V1(audit_log_add_source);
PG_FUNCTION_INFO_V1(audit_log_drop_source);
PG_FUNCTION_INFO_V1(audit_log_skip_duplicate);

#define FLEET_PUBLICATION	"audit_log_events"
#define FLEET_SUB_PREFIX	"audit_log_src_"
#define FLEET_NAME_MAX		40	/* keeps the slot name within NAMEDATALEN */

/* How long drop_source waits for the source to release the slot. */
#define FLEET_SLOT_WAIT_MS	15000

/*
 * A replication slot add_source created on a source in the current
 * transaction, with the connection that made it.  Dropped again if the
 * (sub)transaction that made it aborts.  Lives in TopMemoryContext.
 */
typedef struct PendingSlot
{
	PGconn	   *conn;
	char		slot_name[NAMEDATALEN];
	SubTransactionId subid;
	AuditEvent	undone;			/* ADD_SOURCE FAILURE (ROLLBACK), recorded if
								 * the add_source is undone */
} PendingSlot;

static List *pending_slots = NIL;

/*
 * The connection string as the redaction policy (redact.c) lets it be
 * recorded: the keywords shown, as key='value' pairs.  A string libpq
 * cannot parse is an error; its message does not repeat the string, which
 * may hold a password.
 */
static char *
redact_conninfo(const char *conninfo)
{
	char	   *redacted = al_redact_conninfo_text(conninfo);

	if (redacted == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid connection string"),
				 errdetail("libpq could not parse it; its text is not repeated here because it may hold a password."),
				 errhint("Write it as key=value pairs or as a postgresql:// URI.")));
	return redacted;
}

/*
 * audit_log._redact_conninfo(conninfo text) RETURNS text
 */
Datum
audit_log_redact_conninfo(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(redact_conninfo(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

/*
 * Check a source name: it becomes part of a subscription and a slot name.
 */
static void
check_source_name(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strlen(name) > FLEET_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid source name \"%s\"", name),
				 errdetail("A source name has 1 to %d characters.", FLEET_NAME_MAX)));
	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid source name \"%s\"", name),
					 errdetail("A source name may hold only lower-case letters, digits and underscores.")));
	}
}

/*
 * Open a libpq connection to a source.  On failure, returns NULL with
 * libpq's reason (which never quotes the password) in *reason.
 */
static PGconn *
connect_source(const char *conninfo, char **reason)
{
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"10", "audit_log collector", conninfo, NULL};
	PGconn	   *conn;

	/* expand_dbname: the connection string's own settings override ours */
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (PQstatus(conn) != CONNECTION_OK)
	{
		*reason = pchomp(PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * Run a query with text parameters on a source.  Returns the result, or
 * NULL after reporting the error at elevel (below ERROR).
 */
static PGresult *
source_query(PGconn *conn, const char *name, const char *sql,
			 int nparams, const char *const *params, int elevel)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (res == NULL || (PQresultStatus(res) != PGRES_TUPLES_OK &&
						PQresultStatus(res) != PGRES_COMMAND_OK))
	{
		char	   *msg = pchomp(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

		PQclear(res);
		ereport(elevel,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("query on source \"%s\" failed", name),
				 errdetail_internal("%s", msg)));
		return NULL;
	}
	return res;
}

/*
 * Drop a slot on a source, quietly: used when undoing add_source, where
 * nothing may raise an error.  Returns whether it worked.
 */
static bool
drop_slot_quietly(PGconn *conn, const char *slot_name)
{
	const char *params[1] = {slot_name};
	PGresult   *res;
	bool		ok;

	res = PQexecParams(conn,
					   "SELECT pg_catalog.pg_drop_replication_slot(slot_name)"
					   " FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
					   1, NULL, params, NULL, NULL, 0);
	ok = (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK);
	PQclear(res);
	return ok;
}

/*
 * Forget a slot made by add_source: close the connection to its source,
 * and first drop the slot there when the add_source that made it was
 * rolled back.  Runs at transaction end, so it only warns.
 */
static void
release_pending_slot(PendingSlot *ps, bool drop)
{
	/* the SUCCESS event went with the transaction: say it was undone */
	if (drop && al_preloaded)
		(void) al_enqueue(&ps->undone);
	if (drop && !drop_slot_quietly(ps->conn, ps->slot_name))
		ereport(WARNING,
				(errmsg("could not drop replication slot \"%s\" on the source after add_source was rolled back",
						ps->slot_name),
				 errhint("Drop it on the source: SELECT pg_drop_replication_slot('%s');",
						 ps->slot_name)));
	PQfinish(ps->conn);
	pfree(ps);
}

/*
 * Transaction end: a slot made by an add_source that is being undone is
 * dropped; otherwise only the connection is closed.  A no-op when no
 * add_source ran in the transaction.
 */
void
al_fleet_xact(XactEvent event)
{
	ListCell   *lc;

	if (pending_slots == NIL)
		return;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that called audit_log.add_source()")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			foreach(lc, pending_slots)
				release_pending_slot((PendingSlot *) lfirst(lc),
									 event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT);
			list_free(pending_slots);
			pending_slots = NIL;
			break;
		default:
			break;
	}
}

/*
 * Subtransaction end: an aborted subtransaction undoes the add_source calls
 * made in it; a committed one hands them to its parent.  A no-op when no
 * add_source ran in the transaction.
 */
void
al_fleet_subxact(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid)
{
	List	   *keep = NIL;
	ListCell   *lc;

	if (pending_slots == NIL)
		return;
	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;

	foreach(lc, pending_slots)
	{
		PendingSlot *ps = (PendingSlot *) lfirst(lc);

		if (ps->subid != mySubid)
		{
			keep = lappend(keep, ps);
			continue;
		}
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			ps->subid = parentSubid;
			keep = lappend(keep, ps);
			continue;
		}
		release_pending_slot(ps, true);
	}
	list_free(pending_slots);
	pending_slots = keep;
}

/*
 * Remember a slot made in this transaction (see PendingSlot).
 */
static void
remember_slot(PGconn *conn, const char *slot_name, const AuditEvent *undone)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	PendingSlot *ps = palloc0(sizeof(PendingSlot));

	ps->conn = conn;
	strlcpy(ps->slot_name, slot_name, sizeof(ps->slot_name));
	memcpy(&ps->undone, undone, sizeof(AuditEvent));
	ps->subid = GetCurrentSubTransactionId();
	pending_slots = lappend(pending_slots, ps);
	MemoryContextSwitchTo(oldcxt);

	/* already done at load time when preloaded */
	al_xact_callbacks_register();
}

/*
 * Run one SQL statement through SPI (already connected) with text
 * parameters (NULL for SQL NULL); error if it does not return rc.
 */
static void
spi_exec(const char *sql, int nargs, const char *const *args, int rc_expected)
{
	Oid			types[8];
	Datum		values[8];
	char		nulls[8];
	int			i;
	int			rc;

	Assert(nargs <= 8);
	memset(nulls, ' ', sizeof(nulls));
	for (i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		nulls[i] = (args[i] == NULL) ? 'n' : ' ';
		values[i] = (args[i] == NULL) ? (Datum) 0 : CStringGetTextDatum(args[i]);
	}
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != rc_expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

/*
 * spi_exec of a statement that calls log_event about the fleet: the row is
 * the extension's own (origin EXTENSION), not an application's.
 */
static void
spi_exec_extension_event(const char *sql, int nargs, const char *const *args)
{
	al_extension_event_depth++;
	PG_TRY();
	{
		spi_exec(sql, nargs, args, SPI_OK_SELECT);
	}
	PG_FINALLY();
	{
		al_extension_event_depth--;
	}
	PG_END_TRY();
}

/*
 * Rethrow the current error without its context and internal query: both
 * may quote a statement that holds the connection string.
 */
static void
rethrow_without_context(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	edata->context = NULL;
	edata->internalquery = NULL;
	edata->internalpos = 0;
	ReThrowError(edata);
}

/*
 * An ADD_SOURCE FAILURE event: an attempt that failed (reason: its
 * SQLSTATE), or one that succeeded and was then undone by its transaction
 * (reason ROLLBACK).  It goes through the capture queue, which outlives the
 * transaction, whereas the SUCCESS event add_source logs goes with it.  The
 * connection string is recorded without its secrets, or not at all when it
 * could not be parsed; message is the error's message, never its detail
 * (which may quote the server's answer).
 */
static void
make_add_source_failure(AuditEvent *ev, const char *name, const char *user,
						const char *redacted, const char *reason,
						const char *message)
{
	AlJson		js;
	int			attempt;

	al_event_init_session(ev, AL_CAT_CONNECTIONS, "ADD_SOURCE", false);
	ev->origin = AL_ORIGIN_EXTENSION;
	al_strlcpy_clip(ev->user_name, user, sizeof(ev->user_name));
	al_strlcpy_clip(ev->object_name, name, sizeof(ev->object_name));
	strlcpy(ev->reason_code, reason, sizeof(ev->reason_code));
	/* whole, or without the message, or with the name only: valid JSON */
	for (attempt = 0; attempt < 3; attempt++)
	{
		al_json_init(&js, ev->entry_data, sizeof(ev->entry_data), false);
		al_json_str(&js, "source", name);
		if (redacted != NULL && attempt < 2)
			al_json_str(&js, "conninfo", redacted);
		if (message != NULL && attempt < 1)
			al_json_str(&js, "error", message);
		if (al_json_finish(&js))
			return;
	}
	strlcpy(ev->entry_data, "{}", sizeof(ev->entry_data));
}

/*
 * The body of audit_log.add_source(name text, conninfo text): subscribes
 * this collector to the publication audit_log_events of a
 * source.  Order matters: everything that can fail is checked first
 * (connection, wal_level, publication, slot name), then the subscription,
 * its bookkeeping row and the ADD_SOURCE event are made locally, and the
 * slot on the source is created last; a rollback from then on drops it
 * (al_fleet_xact).
 */
static void
add_source(char *name, char *conninfo, const char *user, char **redacted_out)
{
	char	   *redacted;
	char	   *subname;
	char		slot_name[NAMEDATALEN];
	char		local_sysid[32];
	PGconn	   *conn;
	PGresult   *res;
	const char *params[2];
	char	   *source_node;
	char	   *reason = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	AuditEvent	undone;

	check_source_name(name);
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to add a source"),
				 errdetail("Adding a source creates a subscription.")));

	subname = psprintf(FLEET_SUB_PREFIX "%s", name);
	snprintf(local_sysid, sizeof(local_sysid), UINT64_FORMAT, GetSystemIdentifier());
	/* unique per collector, so that two collectors can follow one source */
	snprintf(slot_name, sizeof(slot_name), FLEET_SUB_PREFIX "%s_%08x",
			 name, (uint32) (GetSystemIdentifier() & 0xFFFFFFFF));
	redacted = redact_conninfo(conninfo);
	*redacted_out = redacted;

	if (get_subscription_oid(subname, true) != InvalidOid)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("source \"%s\" already exists", name),
				 errhint("Remove it first with SELECT audit_log.drop_source('%s');", name)));

	conn = connect_source(conninfo, &reason);
	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to source \"%s\"", name),
				 errdetail_internal("%s", reason),
				 errhint("Check the host, port, user and password of the connection string; a password file (passfile) keeps the password out of the catalog.")));

	PG_TRY();
	{
		params[0] = slot_name;
		params[1] = FLEET_PUBLICATION;
		res = source_query(conn, name,
						   "SELECT pg_catalog.current_setting('wal_level'),"
						   " EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $2),"
						   " EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1),"
						   " (SELECT system_identifier::text FROM pg_catalog.pg_control_system()),"
						   " COALESCE(NULLIF(pg_catalog.current_setting('cluster_name'), ''),"
						   "  (SELECT system_identifier::text FROM pg_catalog.pg_control_system()))",
						   2, params, ERROR);
		if (strcmp(PQgetvalue(res, 0, 3), local_sysid) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" is this server itself", name),
					 errdetail("Its system identifier is the collector's own.")));
		if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("source \"%s\" does not have wal_level = logical", name),
					 errdetail("Its wal_level is \"%s\".", PQgetvalue(res, 0, 0)),
					 errhint("Set wal_level = logical on the source and restart it.")));
		if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("source \"%s\" has no publication \"%s\"", name, FLEET_PUBLICATION),
					 errhint("Run SELECT audit_log.create_publication(); in the source's audit_log database.")));
		if (strcmp(PQgetvalue(res, 0, 2), "t") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("replication slot \"%s\" already exists on source \"%s\"", slot_name, name),
					 errdetail("An earlier drop_source could not reach the source to drop it."),
					 errhint("Drop it on the source with SELECT pg_drop_replication_slot('%s'); or choose another name.",
							 slot_name)));
		source_node = pstrdup(PQgetvalue(res, 0, 4));
		PQclear(res);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/*
		 * copy_data: the first synchronisation copies the events the source
		 * already holds; the trigger skips those the collector already has.
		 * binary: every column type of the events has binary send and
		 * receive functions, which spare the apply worker parsing text.
		 */
		spi_exec(psprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s"
						  " WITH (connect = true, create_slot = false, slot_name = %s,"
						  " copy_data = true, binary = true, enabled = true)",
						  quote_identifier(subname), quote_literal_cstr(conninfo),
						  quote_identifier(FLEET_PUBLICATION),
						  quote_literal_cstr(slot_name)),
				 0, NULL, SPI_OK_UTILITY);

		{
			const char *args[5] = {name, source_node, slot_name, redacted, subname};

			spi_exec("INSERT INTO audit_log.fleet_sources (name, source_node, slot_name, conninfo)"
					 " VALUES ($1, $2, $3, $4)", 4, args, SPI_OK_INSERT);
			spi_exec_extension_event("SELECT audit_log.log_event('CONNECTIONS', 'ADD_SOURCE', 'SUCCESS', NULL, $1,"
									 " pg_catalog.jsonb_build_object('subscription', $5, 'slot', $3,"
									 " 'source_node', $2, 'conninfo', $4))",
									 5, args);
		}
		SPI_finish();

		/* Last: the slot on the source. */
		params[0] = slot_name;
		params[1] = "pgoutput";
		res = source_query(conn, name,
						   "SELECT lsn FROM pg_catalog.pg_create_logical_replication_slot($1, $2)",
						   2, params, ERROR);
		PQclear(res);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		rethrow_without_context(cxt);
	}
	PG_END_TRY();

	make_add_source_failure(&undone, name, user, redacted, "ROLLBACK", NULL);
	remember_slot(conn, slot_name, &undone);
}

/*
 * audit_log.add_source(name text, conninfo text) RETURNS void: add_source()
 * above, and an ADD_SOURCE FAILURE event when it fails.
 */
Datum
audit_log_add_source(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *conninfo;
	char	   *volatile redacted = NULL;
	const char *user;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name and connection string must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	user = GetUserNameFromId(GetUserId(), true);
	if (user == NULL)
		user = "";

	PG_TRY();
	{
		add_source(name, conninfo, user, (char **) &redacted);
	}
	PG_CATCH();
	{
		if (al_preloaded)
		{
			ErrorData  *edata;
			AuditEvent	ev;

			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			make_add_source_failure(&ev, name, user, redacted,
									unpack_sql_state(edata->sqlerrcode),
									edata->message);
			(void) al_enqueue(&ev);
			FreeErrorData(edata);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	PG_RETURN_VOID();
}

/*
 * Drop a source's slots (the subscription's, and any left by an unfinished
 * table synchronisation, pg_<subid>_sync_*) on the source, waiting for the
 * source to release them.  Returns true when none is left.
 */
static bool
drop_source_slots(const char *name, const char *conninfo, const char *slot_name, Oid subid)
{
	PGconn	   *conn;
	char	   *reason = NULL;
	char		sync_pattern[64];
	const char *params[2];
	int			waited = 0;
	bool		done = false;

	conn = connect_source(conninfo, &reason);
	if (conn == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to source \"%s\" to drop its replication slot \"%s\"",
						name, slot_name),
				 errdetail_internal("%s", reason),
				 errhint("The slot holds WAL on the source until it is dropped there: SELECT pg_drop_replication_slot('%s');",
						 slot_name)));
		return false;
	}

	snprintf(sync_pattern, sizeof(sync_pattern), "pg\\_%u\\_sync\\_%%", subid);
	params[0] = slot_name;
	params[1] = sync_pattern;
	for (;;)
	{
		PGresult   *res;
		int			left;

		/* inactive ones are dropped; the count is of those still active */
		res = source_query(conn, name,
						   "WITH s AS (SELECT slot_name, active FROM pg_catalog.pg_replication_slots"
						   "  WHERE slot_name = $1 OR slot_name LIKE $2),"
						   " d AS (SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM s WHERE NOT active)"
						   " SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM s WHERE active)",
						   2, params, WARNING);
		if (res == NULL)
			break;
		left = atoi(PQgetvalue(res, 0, 1));
		PQclear(res);
		if (left == 0)
		{
			done = true;
			break;
		}
		if (waited >= FLEET_SLOT_WAIT_MS)
		{
			ereport(WARNING,
					(errmsg("replication slot \"%s\" on source \"%s\" is still in use", slot_name, name),
					 errhint("Drop it on the source once it is free: SELECT pg_drop_replication_slot('%s');",
							 slot_name)));
			break;
		}
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100 * 1000L);
		waited += 100;
	}
	PQfinish(conn);
	return done;
}

/*
 * audit_log.drop_source(name text) RETURNS void
 *
 * Drops the subscription of a source and, when the source can be reached,
 * its replication slot there.  A source that is gone does not stop the
 * drop: a warning names the slot left on it.  The events already collected
 * stay.  The slot is dropped before the transaction commits, so a rollback
 * after drop_source brings back a subscription whose slot is gone (run
 * drop_source again).
 */
Datum
audit_log_drop_source(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *subname;
	char	   *volatile conninfo = NULL;
	char	   *volatile slot_name = NULL;
	Oid			subid;
	MemoryContext cxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_source_name(name);
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to drop a source")));
	subname = psprintf(FLEET_SUB_PREFIX "%s", name);

	subid = get_subscription_oid(subname, true);
	if (subid == InvalidOid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", name),
				 errhint("The view audit_log.sources lists the sources of this collector.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PG_TRY();
	{
		const char *args[1];
		Datum		d;
		bool		isnull;

		args[0] = subname;

		spi_exec("SELECT subconninfo, subslotname::text FROM pg_catalog.pg_subscription"
				 " WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_catalog.pg_database"
				 " WHERE datname = pg_catalog.current_database())", 1, args, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "subscription \"%s\" not found", subname);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		conninfo = MemoryContextStrdup(cxt, TextDatumGetCString(d));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
			slot_name = MemoryContextStrdup(cxt, TextDatumGetCString(d));

		/*
		 * Detach the slot first: DROP SUBSCRIPTION with a slot may not run
		 * in a transaction block.  DROP SUBSCRIPTION stops the workers.
		 */
		spi_exec(psprintf("ALTER SUBSCRIPTION %s DISABLE", quote_identifier(subname)),
				 0, NULL, SPI_OK_UTILITY);
		if (slot_name != NULL)
			spi_exec(psprintf("ALTER SUBSCRIPTION %s SET (slot_name = NONE)", quote_identifier(subname)),
					 0, NULL, SPI_OK_UTILITY);
		spi_exec(psprintf("DROP SUBSCRIPTION %s", quote_identifier(subname)),
				 0, NULL, SPI_OK_UTILITY);
		args[0] = name;
		spi_exec("DELETE FROM audit_log.fleet_sources WHERE name = $1", 1,
				 args, SPI_OK_DELETE);
	}
	PG_CATCH();
	{
		rethrow_without_context(cxt);
	}
	PG_END_TRY();

	{
		bool		slot_dropped = false;
		const char *args[4];

		if (slot_name != NULL)
			slot_dropped = drop_source_slots(name, conninfo, slot_name, subid);
		args[0] = name;
		args[1] = subname;
		args[2] = slot_name;
		args[3] = slot_dropped ? "true" : "false";

		spi_exec_extension_event("SELECT audit_log.log_event('CONNECTIONS', 'DROP_SOURCE', 'SUCCESS', NULL, $1,"
								 " pg_catalog.jsonb_build_object('subscription', $2, 'slot', $3,"
								 " 'slot_dropped', $4::boolean))",
								 4, args);
	}
	SPI_finish();

	PG_RETURN_VOID();
}

/*
 * BEFORE INSERT row trigger on the collector's audit_log.events (and, by
 * cloning, on every partition), enabled only for replication (ENABLE
 * REPLICA TRIGGER): it fires in the subscriptions' workers and nowhere
 * else.  In a table synchronisation worker, a row whose (event_id,
 * request_time) is already in the partition is skipped instead of failing
 * on the primary key, which would stop the subscription (its worker would
 * fail on the same row, again and again).  That happens when a source is
 * added again (after drop_source, or rebuilt from a dump under the same
 * name): its first synchronisation copies events collected before.
 *
 * Streamed changes need no check, and the apply worker is spared its cost:
 * they are the source's inserts after the slot was created, new events
 * each, which the apply worker receives exactly once (its replication
 * origin records how far it got; the synchronisation hands over at a WAL
 * position, so the copy and the stream do not overlap).  maintain() on a
 * source does not resend rows either: it moves rows into a new day's table
 * before attaching it, when that table is not published yet.
 */
Datum
audit_log_skip_duplicate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	Oid			pkoid;
	Relation	idx;
	int			id_att;
	int			time_att;
	Datum		id;
	Datum		rtime;
	bool		isnull1;
	bool		isnull2;
	ScanKeyData skey[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;
	int			nkeys;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "audit_log_skip_duplicate: must be fired before insert for each row");

	rel = trigdata->tg_relation;
	tupdesc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;

	/*
	 * A row from a source still at 1.0 has no origin (the column is the
	 * collector's only, and has no default): it gets APPLICATION, the value
	 * of every row written before 1.1, instead of stopping the
	 * subscription on the NOT NULL constraint.  A row from a 1.1 source
	 * keeps the source's origin.
	 */
	{
		int			origin_att = SPI_fnumber(tupdesc, "origin");
		bool		isnull;

		if (origin_att > 0)
		{
			(void) heap_getattr(tuple, origin_att, tupdesc, &isnull);
			if (isnull)
			{
				int			col = origin_att;
				Datum		val = DirectFunctionCall2(enum_in,
													  CStringGetDatum(al_origin_names[AL_ORIGIN_APPLICATION]),
													  ObjectIdGetDatum(TupleDescAttr(tupdesc, origin_att - 1)->atttypid));
				bool		nul = false;

				tuple = heap_modify_tuple_by_cols(tuple, tupdesc, 1, &col, &val, &nul);
			}
		}
	}

	if (MyLogicalRepWorker == NULL || !am_tablesync_worker())
		return PointerGetDatum(tuple);

	id_att = SPI_fnumber(tupdesc, "event_id");
	time_att = SPI_fnumber(tupdesc, "request_time");
	if (id_att <= 0 || time_att <= 0)
		elog(ERROR, "relation \"%s\" has no event_id or request_time", RelationGetRelationName(rel));
	id = heap_getattr(tuple, id_att, tupdesc, &isnull1);
	rtime = heap_getattr(tuple, time_att, tupdesc, &isnull2);
	if (isnull1 || isnull2)
		return PointerGetDatum(tuple);	/* the NOT NULL constraints refuse it */

	pkoid = al_relation_primary_key_index(rel);
	if (!OidIsValid(pkoid))
		return PointerGetDatum(tuple);	/* only the partitioned parent */

	/*
	 * Each partition's primary key is (event_id); a partition holds one UTC
	 * day, so the same event (same request_time) always lands in the same
	 * partition and the key finds it.
	 */
	idx = index_open(pkoid, AccessShareLock);
	nkeys = idx->rd_index->indnkeyatts;
	if (nkeys < 1 || nkeys > 2 ||
		idx->rd_index->indkey.values[0] != id_att ||
		(nkeys == 2 && idx->rd_index->indkey.values[1] != time_att))
		elog(ERROR, "primary key of \"%s\" is not (event_id) or (event_id, request_time)",
			 RelationGetRelationName(rel));

	ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_UUID_EQ, id);
	ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_TIMESTAMP_EQ, rtime);

	/* SnapshotSelf: every committed row, and this transaction's own */
	slot = table_slot_create(rel, NULL);
	scan = al_index_beginscan(rel, idx, SnapshotSelf, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);

	if (found)
	{
		elog(DEBUG1, "audit_log: skipped an event already collected");
		return PointerGetDatum(NULL);
	}
	return PointerGetDatum(tuple);
}

/*
 * The lag of each source, for the built-in alert audit_log:collector_lag
 * (alerts.c, every few seconds in the writer): what audit_log.sources shows
 * as lag, the time since the source last reported the end of what it sent
 * (pg_stat_subscription.latest_end_time), read from the small
 * fleet_sources table and the subscription statistics in shared memory,
 * never from the events.
 *
 * While a subscription's worker is not running (the source is down or
 * unreachable, the worker restarting, the subscription disabled)
 * PostgreSQL shows no time at all; the lag then runs from the last time
 * this process saw one, or, never seen, from when this process first
 * looked (so a writer restarted while a source is down starts counting
 * again: the alert may come later, never twice).  Those times are kept
 * here, in TopMemoryContext, for the sources of the last call.
 */
typedef struct SourceSeen
{
	char		name[NAMEDATALEN];
	TimestampTz last_contact;
} SourceSeen;

static SourceSeen *sources_seen = NULL;
static int	nsources_seen = 0;

int
al_fleet_source_lags(AlSourceLag *out, int max, TimestampTz now)
{
	SourceSeen *seen;
	int			n = 0;
	uint64		i;

	if (SPI_execute("SELECT s.name, s.latest_end_time::pg_catalog.text, s.worker_pid IS NOT NULL"
					" FROM audit_log.sources s ORDER BY s.name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read audit_log.sources");
	if (SPI_processed == 0 && nsources_seen == 0)
		return 0;

	seen = MemoryContextAllocZero(TopMemoryContext,
								  sizeof(SourceSeen) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *name = SPI_getvalue(tup, desc, 1);
		char	   *end_time = SPI_getvalue(tup, desc, 2);
		char	   *running = SPI_getvalue(tup, desc, 3);
		TimestampTz contact = 0;
		int			k;

		if (name == NULL)
			continue;
		strlcpy(seen[i].name, name, NAMEDATALEN);
		if (end_time != NULL)
			contact = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															  CStringGetDatum(end_time),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1)));
		else
		{
			for (k = 0; k < nsources_seen && contact == 0; k++)
				if (strcmp(sources_seen[k].name, seen[i].name) == 0)
					contact = sources_seen[k].last_contact;
			if (contact == 0)
				contact = now;
		}
		seen[i].last_contact = contact;
		if (n < max)
		{
			strlcpy(out[n].name, seen[i].name, NAMEDATALEN);
			out[n].lag_ms = Max(now - contact, 0) / 1000;
			out[n].streaming = running != NULL && strcmp(running, "t") == 0;
			n++;
		}
	}
	if (sources_seen != NULL)
		pfree(sources_seen);
	sources_seen = seen;
	nsources_seen = (int) SPI_processed;
	return n;
}
