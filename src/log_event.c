/*-------------------------------------------------------------------------
 *
 * log_event.c
 *		audit_log.log_event(): an application's event, written in the
 *		caller's transaction; the append-only guard on audit_log.events; and
 *		the one deliberate path by which the extension moves rows out of the
 *		default partition.
 *
 * log_event validates everything before it writes, so bad input writes
 * nothing.  It inserts with the rights of the function's owner (the role
 * audit_log_writer needs no privilege on the table), and records as
 * user_name the role the caller was acting as (the outer user id).
 *
 * The origin of its rows (1.1): an application's call is APPLICATION, and
 * it may not write the categories that are the extension's own evidence
 * (AUDIT_LOG, and the built-in EXPORTS types).  From 1.1 on the function is
 * SECURITY INVOKER (its search_path still pinned), so that GetUserId() is
 * the caller's current user: the extension's own SQL functions call it as
 * their owner, a superuser, and their AUDIT_LOG rows are EXTENSION; C code
 * of the extension (fleet.c) raises al_extension_event_depth for the same
 * effect.  The built-in EXPORTS types (the EXPORT run record, written by
 * export_record.c directly) are refused for every caller.  A superuser could write
 * such a row directly anyway.  Under a 1.0 schema (no origin column) it
 * behaves as 1.0 did, apart from the bounds on request_time, which need no
 * new object.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "compat.h"
#include "seal.h"
#include "version.h"

PG_FUNCTION_INFO_V1(audit_log_log_event);
PG_FUNCTION_INFO_V1(audit_log_refuse_change);
PG_FUNCTION_INFO_V1(audit_log_move_default_rows);
PG_FUNCTION_INFO_V1(audit_log_event_types_changed);

/* > 0 while the extension itself deletes rows (see move_default_rows) */
int			al_internal_dml_depth = 0;

/* > 0 while C code of the extension logs an event about itself */
int			al_extension_event_depth = 0;

/* the 17 columns of 1.0, then origin (1.1) */
#define LOG_EVENT_NARGS_10 17
#define LOG_EVENT_NARGS 18

/* [0]: the insert of a 1.0 schema, [1]: with origin (1.1) */
static SPIPlanPtr insert_plan[2] = {NULL, NULL};
static Oid	insert_plan_category_type[2] = {InvalidOid, InvalidOid};
static Oid	insert_plan_status_type[2] = {InvalidOid, InvalidOid};

/*
 * Prepare (once per session) the statement that inserts an event.  Whether
 * its type is registered is looked up before (lookup_event_type), by an
 * index probe that costs less than the executor run of an EXISTS sub-plan
 * did.  with_origin: the 1.1 form, which also sets origin.
 */
static SPIPlanPtr
get_insert_plan(Oid category_type, Oid status_type, bool with_origin)
{
	Oid			argtypes[LOG_EVENT_NARGS] = {
		UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, category_type, TEXTOID,
		status_type, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INETOID, TEXTOID,
		TEXTOID, INT4OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID
	};
	SPIPlanPtr	plan;
	int			k = with_origin ? 1 : 0;

	if (insert_plan[k] != NULL &&
		insert_plan_category_type[k] == category_type &&
		insert_plan_status_type[k] == status_type)
		return insert_plan[k];

	if (insert_plan[k] != NULL)
	{
		SPI_freeplan(insert_plan[k]);
		insert_plan[k] = NULL;
	}

	plan = SPI_prepare(psprintf("INSERT INTO audit_log.events (event_id, request_time,"
								" logged_time, event_category, event_type, event_status,"
								" event_status_reason_code, user_name, user_email, object_name,"
								" client_addr, application_name, database_name, backend_pid,"
								" session_id, source_node, entry_data%s)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
								" $13, $14, $15, $16, $17%s)",
								with_origin ? ", origin" : "",
								with_origin ? ", $18::audit_log.event_origin" : ""),
					   with_origin ? LOG_EVENT_NARGS : LOG_EVENT_NARGS_10, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	insert_plan[k] = plan;
	insert_plan_category_type[k] = category_type;
	insert_plan_status_type[k] = status_type;
	return plan;
}

/*
 * The installed version of the extension (version.c), read from
 * pg_extension once per session and kept until audit_log.events changes:
 * the per-call scan of pg_extension cost about 5% of a call.  Every update
 * that changes what log_event writes (1.0 -> 1.1 adds the origin column)
 * alters audit_log.events, DROP EXTENSION drops it, and either sends a
 * relcache invalidation for it, which every session takes in at its next
 * transaction start at the latest; a reset of the relcache (relid
 * InvalidOid) forgets the version too.  A version of 0 (not installed) is
 * never kept.  The OIDs of audit_log.event_types and of its primary key
 * (lookup_event_type) are kept with it, and forgotten the same way.
 */
static int	cached_version = 0;
static Oid	cached_events_relid = InvalidOid;
static Oid	cached_types_relid = InvalidOid;
static Oid	cached_types_pkey = InvalidOid;
static bool version_callback_registered = false;

/*
 * The event types this session has found registered (1.1): category and
 * type -> builtin.  Only types found are kept; the statement trigger
 * audit_log.event_types_changed sends a relcache invalidation of
 * audit_log.event_types for every change of it (sent to the other sessions
 * at commit, taken in at once by this one, and undone by a rollback), and
 * version_relcache_callback then marks the whole cache stale.
 */
typedef struct EventTypeKey
{
	Oid			category;		/* the enum label's OID */
	char		event_type[NAMEDATALEN];
} EventTypeKey;

typedef struct EventTypeEntry
{
	EventTypeKey key;
	bool		builtin;
} EventTypeEntry;

static HTAB *types_cache = NULL;
static bool types_cache_stale = false;

static void
version_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached_events_relid ||
		relid == cached_types_relid || relid == cached_types_pkey)
	{
		cached_version = 0;
		cached_events_relid = InvalidOid;
		cached_types_relid = InvalidOid;
		cached_types_pkey = InvalidOid;
		types_cache_stale = true;
	}
}

static int
schema_version(void)
{
	if (cached_version == 0)
	{
		Oid			nsp = get_namespace_oid("audit_log", true);
		Oid			relid = OidIsValid(nsp) ? get_relname_relid("events", nsp) : InvalidOid;
		Oid			types = OidIsValid(nsp) ? get_relname_relid("event_types", nsp) : InvalidOid;
		Oid			pkey = OidIsValid(nsp) ? get_relname_relid("event_types_pkey", nsp) : InvalidOid;
		int			version = al_installed_version_num();

		if (!version_callback_registered)
		{
			CacheRegisterRelcacheCallback(version_relcache_callback, (Datum) 0);
			version_callback_registered = true;
		}
		if (!OidIsValid(relid) || !OidIsValid(types) || !OidIsValid(pkey))
			elog(ERROR, "audit_log: the tables of the extension are missing");
		cached_events_relid = relid;
		cached_types_relid = types;
		cached_types_pkey = pkey;
		cached_version = version;
	}
	return cached_version;
}

/*
 * The owner of the function being called (for log_event, the extension's
 * owner), cached in flinfo: the rows are inserted with its rights.
 */
static Oid
function_owner(FunctionCallInfo fcinfo)
{
	Oid		   *cached = (Oid *) fcinfo->flinfo->fn_extra;

	if (cached == NULL)
	{
		HeapTuple	tup = SearchSysCache1(PROCOID,
										  ObjectIdGetDatum(fcinfo->flinfo->fn_oid));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
		cached = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		*cached = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
		ReleaseSysCache(tup);
		fcinfo->flinfo->fn_extra = cached;
	}
	return *cached;
}

/*
 * Is (category, event_type) in audit_log.event_types?  Also sets *builtin.
 * A probe of its primary key, under the snapshot the insert that
 * follows would take (a type registered earlier in the transaction, or in
 * the same statement, is seen).  Called after schema_version(), which
 * finds the OIDs.
 */
static bool
probe_event_type(Datum category, text *event_type, bool *builtin)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	/* an invalidation taken in by table_open may reset the cached OIDs */
	Oid			types_relid = cached_types_relid;
	Oid			types_pkey = cached_types_pkey;

	*builtin = false;
	rel = table_open(types_relid, AccessShareLock);
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_ENUM_EQ, category);
	ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(event_type));
	/* the key's collation is the column's, which its primary key uses */
	key[1].sk_collation = TupleDescAttr(RelationGetDescr(rel), 1)->attcollation;
	CommandCounterIncrement();
	scan = systable_beginscan(rel, types_pkey, true, GetTransactionSnapshot(), 2, key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		int			i;

		found = true;
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			bool		isnull;

			if (!att->attisdropped && strcmp(NameStr(att->attname), "builtin") == 0)
			{
				Datum		d = heap_getattr(tup, i + 1, desc, &isnull);

				*builtin = !isnull && DatumGetBool(d);
				break;
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Is (category, event_type) registered?  Also sets *builtin.  From the
 * session's cache when it holds the type (1.1 only: the trigger that keeps
 * the cache right is 1.1's), otherwise from the table.
 */
static bool
lookup_event_type(Datum category, text *event_type, bool with_cache, bool *builtin)
{
	EventTypeKey key;
	EventTypeEntry *entry;
	bool		found;
	int			len = VARSIZE_ANY_EXHDR(event_type);

	if (!with_cache || len >= NAMEDATALEN)
		return probe_event_type(category, event_type, builtin);

	if (types_cache != NULL && types_cache_stale)
	{
		hash_destroy(types_cache);
		types_cache = NULL;
	}
	types_cache_stale = false;
	if (types_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(EventTypeKey);
		ctl.entrysize = sizeof(EventTypeEntry);
		ctl.hcxt = TopMemoryContext;
		types_cache = hash_create("audit_log event types", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.category = DatumGetObjectId(category);
	memcpy(key.event_type, VARDATA_ANY(event_type), len);
	entry = (EventTypeEntry *) hash_search(types_cache, &key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		*builtin = entry->builtin;
		return true;
	}
	found = probe_event_type(category, event_type, builtin);
	/* the probe may have taken in an invalidation: keep nothing then */
	if (found && !types_cache_stale)
	{
		entry = (EventTypeEntry *) hash_search(types_cache, &key, HASH_ENTER, NULL);
		entry->builtin = *builtin;
	}
	return found;
}

/*
 * Statement trigger audit_log.event_types_changed (1.1), after every
 * INSERT, UPDATE, DELETE or TRUNCATE of audit_log.event_types: every
 * session's cache of event types is to be read again.
 */
Datum
audit_log_event_types_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "audit_log_event_types_changed: not called by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * The error for an event of the extension's own: the category AUDIT_LOG, or
 * a built-in EXPORTS type.
 */
static void
refuse_reserved(const char *category_label, text *event_type)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("event %s %s is reserved for audit_log itself",
					category_label, text_to_cstring(event_type)),
			 errdetail("The category AUDIT_LOG and the built-in EXPORTS types are the extension's own evidence; log_event records application events."),
			 errhint("Use another category, or register an application type with audit_log.register_event_type().")));
}

/*
 * A timestamp as text for messages, in the session's DateStyle and zone.
 */
static char *
ts_text(TimestampTz ts)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(ts)));
}

/* 1970-01-01 00:00 UTC: the earliest instant a UUIDv7 can hold. */
#define AL_UNIX_EPOCH_TS \
	((TimestampTz) (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)

/*
 * Refuse a request_time that lies outside [now - retention_days,
 * now + max_future], and never before 1970 (where a UUIDv7 has no time
 * field left): a backdated row older than retention would only be dropped,
 * and a row years ahead lands where maintenance cannot place it.  A
 * superuser (who could insert into the table directly anyway) may backfill
 * further back, to 1970; the future bound holds for every caller.
 */
static void
check_request_time(TimestampTz request_time, TimestampTz now, bool is_superuser)
{
	TimestampTz lo = now - (TimestampTz) al_retention_days * USECS_PER_DAY;
	TimestampTz hi = now + (TimestampTz) al_max_future_s * USECS_PER_SEC;

	if (lo < AL_UNIX_EPOCH_TS || is_superuser)
		lo = AL_UNIX_EPOCH_TS;
	if (request_time < lo || request_time > hi)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("request_time %s is out of range", ts_text(request_time)),
				 errdetail("log_event accepts a request_time from %s to %s.",
						   ts_text(lo), ts_text(hi)),
				 errhint("The earliest is now minus audit_log.retention_days (%d days), and never before 1970; the latest is now plus audit_log.max_future (%d s).",
						 al_retention_days, al_max_future_s)));
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
	char	   *category_label;
	bool		with_origin;
	bool		caller_is_superuser;
	bool		builtin;
	AuditOrigin origin = AL_ORIGIN_APPLICATION;
	Oid			save_userid;
	int			save_sec_context;
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
		check_request_time(request_time, logged_time, superuser());
	}

	/*
	 * From here on, the owner's rights (an error on the way restores the
	 * caller's with the (sub)transaction's abort); whether the caller is a
	 * superuser is asked first.
	 */
	caller_is_superuser = superuser();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(function_owner(fcinfo),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	/* The origin, and the categories an application may not write. */
	with_origin = schema_version() >= 101;
	category_label = DatumGetCString(DirectFunctionCall1(enum_out, category));
	if (with_origin)
	{
		/*
		 * AUDIT_LOG is decided here; a built-in EXPORTS type is refused
		 * below, by the lookup of the type that every call makes anyway.
		 */
		bool		own_category = strcmp(category_label, "AUDIT_LOG") == 0;

		if (al_extension_event_depth > 0)
			origin = AL_ORIGIN_EXTENSION;
		else if (own_category && caller_is_superuser)
			origin = AL_ORIGIN_EXTENSION;	/* the extension's own functions */
		else if (own_category)
			refuse_reserved(category_label, event_type);
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
	values[17] = CStringGetTextDatum(al_origin_names[origin]);

	/* the type must be registered; the built-in EXPORTS types are the extension's */
	if (!lookup_event_type(category, event_type, with_origin, &builtin))
	{
		char	   *type_str = text_to_cstring(event_type);

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown event type \"%s\" in category %s", type_str, category_label),
				 errdetail("Every event type must be listed in audit_log.event_types."),
				 errhint("Register it first: SELECT audit_log.register_event_type('%s', '%s', 'what it means');",
						 category_label, type_str)));
	}
	if (with_origin && builtin && origin != AL_ORIGIN_EXTENSION &&
		strcmp(category_label, "EXPORTS") == 0)
		refuse_reserved(category_label, event_type);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(get_insert_plan(get_fn_expr_argtype(fcinfo->flinfo, 0),
										  get_fn_expr_argtype(fcinfo->flinfo, 2),
										  with_origin),
						  values, nulls, false, 1);
	if (rc != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "could not insert event: %s", SPI_result_code_string(rc));
	/* a backfill may not go into a sealed day (seal.c) */
	al_refuse_sealed_day(request_time);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);

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
	Relation	def;
	StringInfoData cols;
	int			i;

	if (get_rel_name(target) == NULL)
		elog(ERROR, "relation with OID %u does not exist", target);
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);

	/*
	 * The columns by name: the target may have them in another order, or
	 * dropped columns of its own (a table created apart, or restored).
	 */
	def = table_open(get_relname_relid("events_default", get_namespace_oid("audit_log", false)),
					 RowExclusiveLock);
	initStringInfo(&cols);
	for (i = 0; i < RelationGetDescr(def)->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(def), i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
	}
	table_close(def, NoLock);
	sql = psprintf("WITH moved AS (DELETE FROM audit_log.events_default"
				   " WHERE request_time >= $1 AND request_time < $2 RETURNING *)"
				   " INSERT INTO %s (%s) SELECT %s FROM moved",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(target)),
											  get_rel_name(target)),
				   cols.data, cols.data);

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
