/*-------------------------------------------------------------------------
 *
 * log_event.c
 *		audit_log.log_event(): an application's event, written in the
 *		caller's transaction; the append-only guard on audit_log.events; and
 *		the one deliberate path by which the extension moves rows out of the
 *		default partition.
 *
 * log_event validates everything before it writes, so bad input writes
 * nothing.  It runs as SECURITY DEFINER (the role audit_log_writer needs no
 * privilege on the table), and records as user_name the role the caller
 * was acting as (the outer user id, unaffected by SECURITY DEFINER).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "compat.h"
#include "seal.h"

PG_FUNCTION_INFO_V1(audit_log_log_event);
PG_FUNCTION_INFO_V1(audit_log_refuse_change);
PG_FUNCTION_INFO_V1(audit_log_move_default_rows);

/* > 0 while the extension itself deletes rows (see move_default_rows) */
int			al_internal_dml_depth = 0;

#define LOG_EVENT_NARGS 17

static SPIPlanPtr insert_plan = NULL;
static Oid	insert_plan_category_type = InvalidOid;
static Oid	insert_plan_status_type = InvalidOid;

/*
 * Prepare (once per session) the statement that inserts an event if, and
 * only if, its type is registered.  One statement does both so that the
 * common case costs one executor run.
 */
static SPIPlanPtr
get_insert_plan(Oid category_type, Oid status_type)
{
	Oid			argtypes[LOG_EVENT_NARGS] = {
		UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, category_type, TEXTOID,
		status_type, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INETOID, TEXTOID,
		TEXTOID, INT4OID, TEXTOID, TEXTOID, JSONBOID
	};
	SPIPlanPtr	plan;

	if (insert_plan != NULL &&
		insert_plan_category_type == category_type &&
		insert_plan_status_type == status_type)
		return insert_plan;

	if (insert_plan != NULL)
	{
		SPI_freeplan(insert_plan);
		insert_plan = NULL;
	}

	plan = SPI_prepare("INSERT INTO audit_log.events (event_id, request_time,"
					   " logged_time, event_category, event_type, event_status,"
					   " event_status_reason_code, user_name, user_email, object_name,"
					   " client_addr, application_name, database_name, backend_pid,"
					   " session_id, source_node, entry_data)"
					   " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
					   " $13, $14, $15, $16, $17"
					   " WHERE EXISTS (SELECT 1 FROM audit_log.event_types t"
					   " WHERE t.event_category = $4 AND t.event_type = $5)",
					   LOG_EVENT_NARGS, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	insert_plan = plan;
	insert_plan_category_type = category_type;
	insert_plan_status_type = status_type;
	return plan;
}

/*
 * The name of the current database, looked up once per session.
 */
static const char *
current_database_name(void)
{
	static char *name = NULL;

	if (name == NULL)
	{
		char	   *n = get_database_name(MyDatabaseId);

		if (n != NULL)
			name = MemoryContextStrdup(TopMemoryContext, n);
	}
	return name;
}

/*
 * Text of a jsonb value's type, for error details.
 */
static const char *
jsonb_kind(Jsonb *jb)
{
	if (JB_ROOT_IS_SCALAR(jb))
		return "a scalar";
	if (JB_ROOT_IS_ARRAY(jb))
		return "an array";
	return "an object";
}

/*
 * audit_log.log_event(category, event_type, status, user_email, object_name,
 *                     entry_data, reason_code, request_time) RETURNS uuid
 */
Datum
audit_log_log_event(PG_FUNCTION_ARGS)
{
	Datum		category;
	text	   *event_type;
	Datum		status;
	Jsonb	   *entry_data;
	TimestampTz request_time;
	TimestampTz logged_time;
	pg_uuid_t  *event_id;
	char	   *status_label;
	Datum		values[LOG_EVENT_NARGS];
	char		nulls[LOG_EVENT_NARGS];
	char		addr[AL_ADDR_LEN];
	char		session[AL_SESSION_LEN];
	const char *dbname;
	int			rc;

	/* Validate everything first: bad input writes nothing. */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event category must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event type must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event status must not be null"),
				 errhint("Use 'SUCCESS' or 'FAILURE'.")));

	category = PG_GETARG_DATUM(0);
	event_type = PG_GETARG_TEXT_PP(1);
	status = PG_GETARG_DATUM(2);
	status_label = DatumGetCString(DirectFunctionCall1(enum_out, status));

	if (PG_ARGISNULL(5))
		entry_data = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
	{
		entry_data = PG_GETARG_JSONB_P(5);
		if (!JB_ROOT_IS_OBJECT(entry_data) || JB_ROOT_IS_SCALAR(entry_data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("entry_data must be a JSON object"),
					 errdetail("The value given is %s.", jsonb_kind(entry_data))));
		if (VARSIZE(entry_data) > AL_MAX_ENTRY_DATA_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("entry_data is too large"),
					 errdetail("Its size is %zu bytes; the limit is %d bytes.",
							   (size_t) VARSIZE(entry_data), AL_MAX_ENTRY_DATA_BYTES)));
	}

	if (!PG_ARGISNULL(6) && strcmp(status_label, "SUCCESS") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason_code is only allowed on FAILURE events"),
				 errhint("Pass status => 'FAILURE', or leave reason_code NULL.")));

	logged_time = GetCurrentTimestamp();
	if (PG_ARGISNULL(7))
		request_time = logged_time;
	else
	{
		request_time = PG_GETARG_TIMESTAMPTZ(7);
		if (TIMESTAMP_NOT_FINITE(request_time))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("request_time must be finite")));
	}

	event_id = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	al_uuid7(event_id, request_time);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(event_id);
	values[1] = TimestampTzGetDatum(request_time);
	values[2] = TimestampTzGetDatum(logged_time);
	values[3] = category;
	values[4] = PointerGetDatum(event_type);
	values[5] = status;
	if (PG_ARGISNULL(6))
		nulls[6] = 'n';
	else
		values[6] = PG_GETARG_DATUM(6);
	values[7] = CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
	if (PG_ARGISNULL(3))
		nulls[8] = 'n';
	else
		values[8] = PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(4))
		nulls[9] = 'n';
	else
		values[9] = PG_GETARG_DATUM(4);
	if (al_client_addr(addr, sizeof(addr)))
		values[10] = DirectFunctionCall1(inet_in, CStringGetDatum(addr));
	else
		nulls[10] = 'n';
	if (application_name != NULL && application_name[0] != '\0')
		values[11] = CStringGetTextDatum(application_name);
	else
		nulls[11] = 'n';
	dbname = current_database_name();
	if (dbname != NULL)
		values[12] = CStringGetTextDatum(dbname);
	else
		nulls[12] = 'n';
	values[13] = Int32GetDatum(MyProcPid);
	al_session_id(session, sizeof(session));
	values[14] = CStringGetTextDatum(session);
	values[15] = CStringGetTextDatum(al_source_node());
	values[16] = JsonbPGetDatum(entry_data);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(get_insert_plan(get_fn_expr_argtype(fcinfo->flinfo, 0),
										  get_fn_expr_argtype(fcinfo->flinfo, 2)),
						  values, nulls, false, 1);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert event: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
	{
		char	   *category_label = DatumGetCString(DirectFunctionCall1(enum_out, category));
		char	   *type_str = text_to_cstring(event_type);

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown event type \"%s\" in category %s", type_str, category_label),
				 errdetail("Every event type must be listed in audit_log.event_types."),
				 errhint("Register it first: SELECT audit_log.register_event_type('%s', '%s', 'what it means');",
						 category_label, type_str)));
	}
	/* a backfill may not go into a sealed day (seal.c) */
	al_refuse_sealed_day(request_time);
	SPI_finish();

	PG_RETURN_UUID_P(event_id);
}

/*
 * Statement-level BEFORE UPDATE OR DELETE OR TRUNCATE trigger on the events
 * table and on every partition: the log is append-only for every role.
 * Only the extension's own row relocation (below) passes.
 */
Datum
audit_log_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "audit_log_refuse_change: not called by trigger manager");

	if (al_internal_dml_depth > 0)
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else
		what = "TRUNCATE";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s on %s is not allowed: the audit log is append-only",
					what, RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("UPDATE, DELETE and TRUNCATE are refused for every role, the table owner included."),
			 errhint("Expired days are removed whole by audit_log.apply_retention().")));
	return PointerGetDatum(NULL);	/* not reached */
}

/*
 * audit_log._move_default_rows(target regclass, lo timestamptz,
 *                              hi timestamptz) RETURNS bigint
 *
 * Moves the rows of [lo, hi) out of the default partition into target (a
 * table of the same columns, about to be attached as that range's
 * partition).  Used by maintain() only; EXECUTE is not granted to anyone.
 */
Datum
audit_log_move_default_rows(PG_FUNCTION_ARGS)
{
	Oid			target = PG_GETARG_OID(0);
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	char	   *sql;
	uint64		moved = 0;

	if (get_rel_name(target) == NULL)
		elog(ERROR, "relation with OID %u does not exist", target);
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	sql = psprintf("WITH moved AS (DELETE FROM audit_log.events_default"
				   " WHERE request_time >= $1 AND request_time < $2 RETURNING *)"
				   " INSERT INTO %s SELECT * FROM moved",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
											  get_rel_name(target)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	al_internal_dml_depth++;
	PG_TRY();
	{
		int			rc = SPI_execute_with_args(sql, 2, argtypes, values, NULL, false, 0);

		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not move rows out of the default partition: %s",
				 SPI_result_code_string(rc));
		moved = SPI_processed;
	}
	PG_FINALLY();
	{
		al_internal_dml_depth--;
	}
	PG_END_TRY();
	SPI_finish();

	PG_RETURN_INT64((int64) moved);
}
