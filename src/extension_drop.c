/*-------------------------------------------------------------------------
 *
 * extension_drop.c
 *		DROP EXTENSION audit_log: refused unless audit_log.allow_drop is on;
 *		when it goes ahead, a record of it survives outside the dropped
 *		tables, and the extension's pg_cron jobs go with it.
 *
 * The guard.  A statement that would drop the extension (DROP EXTENSION
 * audit_log, with or without CASCADE; DROP SCHEMA audit_log CASCADE; DROP
 * OWNED BY the extension's owner) is refused with 55000 naming the setting
 * while audit_log.allow_drop is off (superuser, sighup).  The refusal is
 * made twice: first by the utility hook (capture_admin.c calls
 * al_extension_drop_utility before running any statement), which gives an
 * early, clear error before any member of the extension is touched and is
 * the only point where the trail can still be counted; then, for any path
 * the first did not foresee, by the object access hook when the extension
 * itself is dropped (the members are gone by then, inside the transaction,
 * and come back with its rollback).  The TRAIL_CHANGE event of the refused
 * statement (capture_trail.c) is FAILURE 55000.
 *
 * The record.  When the drop is allowed, the utility hook counts what is
 * about to be lost (rows and UTC days of audit_log.events, the first and
 * last day, the last seal's day and digest) and the object access hook
 * confirms the drop.  At PRE_COMMIT the record is written durably (temporary
 * file, fsync, rename) as pg_audit_log/dropped.<database oid>.<xid> under
 * the data directory; a failure to write it aborts the drop (no record, no
 * drop).  At COMMIT the server log gets one LOG line with the record.  At
 * ABORT the file, if already written, is removed.  The next CREATE
 * EXTENSION audit_log in that database (seen by the utility hook) turns
 * each record into an AUDIT_LOG EXTENSION_DROPPED event at its commit
 * (queued, so it reaches audit_log.database like every captured event) and
 * removes the file.  A crash between the write at PRE_COMMIT and the commit
 * record leaves a record of a drop that did not happen; it is reported only
 * by a CREATE EXTENSION, which can succeed only after a real drop.
 *
 * pg_upgrade restores the extension with CREATE EXTENSION in binary-upgrade
 * mode, which drops nothing: everything here stands aside when
 * IsBinaryUpgrade.  pg_restore into an empty database creates the
 * extension; pg_restore --clean drops it first and is refused while
 * audit_log.allow_drop is off.
 *
 * Both hooks need the library loaded in the backend: the utility hook and
 * the record need shared_preload_libraries (the object access hook alone is
 * installed in a late load too, and still refuses the drop).
 *
 * The pg_cron jobs (audit_log_* of this database) are rows of cron.job, not
 * members of the extension: the object access hook unschedules them in the
 * dropping transaction, so a rollback keeps them.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "audit_log.h"
#include "capture_trail.h"
#include "extension_drop.h"
#include "queue.h"
#include "version.h"

#define DROP_DIR "pg_audit_log"

static object_access_hook_type prev_object_access_hook = NULL;

/*
 * State of this transaction.  drop_record: the record of an allowed drop
 * (NULL: none), in TopMemoryContext, with the nesting level that made it;
 * drop_confirmed: the object access hook saw the extension go; drop_file:
 * the record's file once written at PRE_COMMIT.  created: CREATE EXTENSION
 * audit_log ran; created_events: the EXTENSION_DROPPED events and files to
 * queue and remove at COMMIT.
 */
static char *drop_record = NULL;
static char *drop_user = NULL;
static int	drop_level = 0;
static bool drop_confirmed = false;
static char *drop_file = NULL;
static char *drop_message = NULL;
static bool created = false;
static int	created_level = 0;
static List *created_events = NIL;	/* AuditEvent * */
static List *created_files = NIL;	/* char * */

/* ---------------------------------------------------------------------
 * The guard
 * ---------------------------------------------------------------------
 */

/* The owner of extension audit_log, InvalidOid when it is not installed. */
static Oid
extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("audit_log"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

static void
refuse_drop(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s would drop extension audit_log, which is refused while audit_log.allow_drop is off", what),
			 errdetail("Dropping the extension removes every event and every seal of this database."),
			 errhint("A superuser may allow it with ALTER SYSTEM SET audit_log.allow_drop = on and SELECT pg_reload_conf(); the drop is then recorded, and the next CREATE EXTENSION audit_log reports it as an EXTENSION_DROPPED event.")));
}

/* Does the statement drop extension audit_log?  Its kind into *what. */
static bool
statement_drops_extension(Node *stmt, const char **what)
{
	ListCell   *lc;

	if (IsA(stmt, DropStmt))
	{
		DropStmt   *ds = (DropStmt *) stmt;

		if (ds->removeType != OBJECT_EXTENSION &&
			!(ds->removeType == OBJECT_SCHEMA && ds->behavior == DROP_CASCADE))
			return false;
		foreach(lc, ds->objects)
		{
			Node	   *obj = (Node *) lfirst(lc);

			if (IsA(obj, String) && strcmp(strVal(obj), "audit_log") == 0)
			{
				*what = ds->removeType == OBJECT_EXTENSION ? "DROP EXTENSION" : "DROP SCHEMA";
				return true;
			}
		}
		return false;
	}
	if (IsA(stmt, DropOwnedStmt))
	{
		Oid			owner = extension_owner();

		if (!OidIsValid(owner))
			return false;
		foreach(lc, ((DropOwnedStmt *) stmt)->roles)
		{
			RoleSpec   *spec = (RoleSpec *) lfirst(lc);

			if (get_rolespec_oid(spec, true) == owner)
			{
				*what = "DROP OWNED";
				return true;
			}
		}
	}
	return false;
}

/*
 * Count what the drop is about to remove, as the JSON text of the record.
 * Runs in a subtransaction: a damaged trail makes the counts null (with a
 * WARNING) rather than stopping an allowed drop.  The counting is the
 * extension's own read (no READ event).
 */
static char *
count_trail(const char *what)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char		buf[AL_ENTRY_DATA_LEN];
	AlJson		js;
	char	   *vals[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	const char *user = GetUserNameFromId(GetUserId(), true);
	const char *suser = GetUserNameFromId(GetSessionUserId(), true);
	int			i;

	BeginInternalSubTransaction(NULL);
	al_trail_internal_begin();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT COALESCE(pg_catalog.sum(s.n), 0)::text,"
						" pg_catalog.count(*)::text, pg_catalog.min(s.d)::text, pg_catalog.max(s.d)::text"
						" FROM (SELECT (e.request_time AT TIME ZONE 'UTC')::date AS d, pg_catalog.count(*) AS n"
						" FROM audit_log.events e GROUP BY 1) s", true, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not count audit_log.events");
		for (i = 0; i < 4; i++)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);

			vals[i] = v ? MemoryContextStrdup(oldcontext, v) : NULL;
		}
		if (SPI_execute("SELECT z.day::text, z.digest FROM audit_log.seals z"
						" ORDER BY z.day DESC LIMIT 1", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read audit_log.seals");
		if (SPI_processed == 1)
		{
			vals[4] = MemoryContextStrdup(oldcontext,
										  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
			vals[5] = MemoryContextStrdup(oldcontext,
										  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
		}
		SPI_finish();
		al_trail_internal_end();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		al_trail_internal_end();
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ereport(WARNING,
				errmsg("audit_log: the events about to be dropped could not be counted: %s",
					   edata->message));
		FreeErrorData(edata);
		for (i = 0; i < 6; i++)
			vals[i] = NULL;
	}
	PG_END_TRY();

	al_json_init(&js, buf, sizeof(buf), false);
	al_json_str(&js, "statement", what);
	al_json_str(&js, "dropped_by", user ? user : "");
	al_json_str(&js, "session_user", suser ? suser : "");
	al_json_str(&js, "dropped_at", timestamptz_to_str(GetCurrentTimestamp()));
	al_json_str(&js, "database", get_database_name(MyDatabaseId));
	al_json_int(&js, "backend_pid", MyProcPid);
	if (vals[0])
	{
		al_json_raw(&js, "rows", vals[0]);
		al_json_raw(&js, "days", vals[1]);
	}
	else
	{
		al_json_null(&js, "rows");
		al_json_null(&js, "days");
	}
	if (vals[2])
		al_json_str(&js, "first_day", vals[2]);
	else
		al_json_null(&js, "first_day");
	if (vals[3])
		al_json_str(&js, "last_day", vals[3]);
	else
		al_json_null(&js, "last_day");
	if (vals[4])
	{
		al_json_str(&js, "last_seal_day", vals[4]);
		al_json_str(&js, "last_seal_digest", vals[5]);
	}
	else
	{
		al_json_null(&js, "last_seal_day");
		al_json_null(&js, "last_seal_digest");
	}
	if (!al_json_finish(&js))
		strlcpy(buf, "{\"truncated\": true}", sizeof(buf));

	if (drop_user)
		pfree(drop_user);
	drop_user = MemoryContextStrdup(TopMemoryContext, user ? user : "");
	return MemoryContextStrdup(TopMemoryContext, buf);
}

/*
 * Called by the utility hook (capture_admin.c) before every statement runs:
 * refuse a drop of the extension while audit_log.allow_drop is off, or
 * count what an allowed one removes; note a CREATE EXTENSION audit_log.
 */
void
al_extension_drop_utility(Node *stmt)
{
	const char *what = NULL;

	if (IsBinaryUpgrade || stmt == NULL)
		return;
	if (IsA(stmt, CreateExtensionStmt))
	{
		if (strcmp(((CreateExtensionStmt *) stmt)->extname, "audit_log") == 0)
		{
			al_xact_callbacks_register();
			if (!created)
				created_level = GetCurrentTransactionNestLevel();
			created = true;
		}
		return;
	}
	if (!IsA(stmt, DropStmt) && !IsA(stmt, DropOwnedStmt))
		return;
	if (!OidIsValid(get_extension_oid("audit_log", true)) ||
		!statement_drops_extension(stmt, &what))
		return;
	if (!al_allow_drop)
		refuse_drop(what);
	al_xact_callbacks_register();
	if (drop_record)
		pfree(drop_record);
	drop_record = NULL;
	drop_record = count_trail(what);
	drop_level = GetCurrentTransactionNestLevel();
}

/* ---------------------------------------------------------------------
 * The pg_cron jobs
 * ---------------------------------------------------------------------
 */

/*
 * Unschedule every audit_log_* job of this database through pg_cron's own
 * function.  A failure (a job owned by another role than the one dropping
 * the extension, say) must not stop the DROP: it becomes a WARNING.
 */
static void
unschedule_cron_jobs(void)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		return;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute("SELECT cron.unschedule(j.jobid) FROM cron.job j"
						 " WHERE j.jobname LIKE 'audit\\_log\\_%'"
						 " AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
						 false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not unschedule the pg_cron jobs of audit_log: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed > 0)
			ereport(NOTICE,
					errmsg("audit_log: removed %llu pg_cron jobs (audit_log_*) of database \"%s\"",
						   (unsigned long long) SPI_processed,
						   get_database_name(MyDatabaseId)));
		SPI_finish();
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ereport(WARNING,
				errmsg("audit_log: the pg_cron jobs audit_log_* of this database were not removed: %s",
					   edata->message),
				errhint("Remove them with SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE 'audit\\_log\\_%%';"));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * object_access_hook: the previous hook runs first; then, when the object
 * being dropped is our extension, the guard (again: a path the utility
 * hook did not see), the confirmation of the record, and the pg_cron jobs.
 */
static void
al_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId && subId == 0 &&
		objectId == get_extension_oid("audit_log", true))
	{
		if (!IsBinaryUpgrade)
		{
			if (!al_allow_drop)
				refuse_drop("this statement");
			if (al_preloaded)
			{
				al_xact_callbacks_register();
				if (drop_record == NULL)
				{
					/* not foreseen by the utility hook: the members are gone */
					drop_record = MemoryContextStrdup(TopMemoryContext, "{\"statement\": \"unknown\", \"rows\": null, \"days\": null}");
					drop_user = MemoryContextStrdup(TopMemoryContext, GetUserNameFromId(GetUserId(), true));
					drop_level = GetCurrentTransactionNestLevel();
				}
				drop_confirmed = true;
			}
		}
		unschedule_cron_jobs();
	}
}

/* ---------------------------------------------------------------------
 * The record and the EXTENSION_DROPPED event
 * ---------------------------------------------------------------------
 */

/* Write the record durably: the dropping role's name, then the JSON. */
static void
write_record(void)
{
	char	   *path;
	char	   *tmp;
	FILE	   *f;

	if (MakePGDirectory(DROP_DIR) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", DROP_DIR)));
	path = psprintf("%s/dropped.%u.%u", DROP_DIR, MyDatabaseId,
					(unsigned) GetTopTransactionId());
	tmp = psprintf("%s.tmp", path);
	f = AllocateFile(tmp, PG_BINARY_W);
	if (f == NULL ||
		fprintf(f, "%s\n%s\n", drop_user ? drop_user : "", drop_record) < 0 ||
		fflush(f) != 0 || pg_fsync(fileno(f)) != 0)
	{
		int			save_errno = errno;

		if (f)
			FreeFile(f);
		unlink(tmp);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the record of DROP EXTENSION audit_log to \"%s\": %m", tmp),
				 errdetail("The extension is not dropped without its record.")));
	}
	if (FreeFile(f) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close \"%s\": %m", tmp)));
	if (durable_rename(tmp, path, ERROR) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\": %m", tmp)));
	drop_file = MemoryContextStrdup(TopMemoryContext, path);
	/* the server-log line of COMMIT, made now: no catalog access then */
	drop_message = MemoryContextStrdup(TopMemoryContext,
									   psprintf("audit_log: extension audit_log dropped in database \"%s\" by \"%s\"; the record is \"%s\"",
												get_database_name(MyDatabaseId),
												drop_user ? drop_user : "", path));
}

/*
 * Read the records of earlier drops of this database into events to queue
 * at COMMIT (created_events, created_files).
 */
static void
collect_records(void)
{
	DIR		   *dir;
	struct dirent *de;
	char	   *prefix = psprintf("dropped.%u.", MyDatabaseId);
	const char *user = GetUserNameFromId(GetUserId(), true);
	MemoryContext old;

	dir = AllocateDir(DROP_DIR);
	if (dir == NULL)
		return;					/* no drop ever recorded */
	while ((de = ReadDir(dir, DROP_DIR)) != NULL)
	{
		char	   *path;
		FILE	   *f;
		char		who[AL_NAME_LEN * 2];
		char		json[AL_ENTRY_DATA_LEN];
		AuditEvent *ev;
		size_t		len;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
			strstr(de->d_name, ".tmp") != NULL)
			continue;
		path = psprintf("%s/%s", DROP_DIR, de->d_name);
		f = AllocateFile(path, PG_BINARY_R);
		if (f == NULL)
			continue;
		if (fgets(who, sizeof(who), f) == NULL || fgets(json, sizeof(json), f) == NULL)
		{
			FreeFile(f);
			ereport(WARNING,
					(errmsg("audit_log: the drop record \"%s\" is unreadable and left in place", path)));
			continue;
		}
		FreeFile(f);
		who[strcspn(who, "\n")] = '\0';
		len = strcspn(json, "\n");
		json[len] = '\0';
		/* the record's object, plus who recreated the extension */
		{
			char		extra[AL_NAME_LEN * 2 + 32];
			AlJson		ejs;

			al_json_init(&ejs, extra, sizeof(extra), false);
			al_json_str(&ejs, "recreated_by", user ? user : "");
			if (al_json_finish(&ejs) && len > 2 && json[len - 1] == '}' &&
				len + strlen(extra) < sizeof(json))
			{
				json[len - 1] = ',';
				strlcpy(json + len, extra + 1, sizeof(json) - len);
			}
		}

		old = MemoryContextSwitchTo(TopMemoryContext);
		ev = palloc(sizeof(AuditEvent));
		al_event_init_session(ev, AL_CAT_AUDIT_LOG, "EXTENSION_DROPPED", true);
		al_strlcpy_clip(ev->user_name, who, sizeof(ev->user_name));
		al_strlcpy_clip(ev->object_name, "audit_log", sizeof(ev->object_name));
		strlcpy(ev->entry_data, json, sizeof(ev->entry_data));
		created_events = lappend(created_events, ev);
		created_files = lappend(created_files, pstrdup(path));
		MemoryContextSwitchTo(old);
	}
	FreeDir(dir);
}

static void
reset_state(void)
{
	if (drop_record)
		pfree(drop_record);
	if (drop_user)
		pfree(drop_user);
	if (drop_file)
		pfree(drop_file);
	if (drop_message)
		pfree(drop_message);
	drop_record = drop_user = drop_file = drop_message = NULL;
	drop_confirmed = false;
	created = false;
	list_free_deep(created_events);
	list_free_deep(created_files);
	created_events = created_files = NIL;
}

/*
 * Part of the extension's one transaction callback (audit_log.c).  Only
 * PRE_COMMIT may fail (and then aborts the transaction); COMMIT and ABORT
 * never raise an error.
 */
void
al_extension_drop_xact(XactEvent event)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (drop_record && drop_confirmed)
				write_record();
			if (created && al_preloaded && !IsBinaryUpgrade &&
				OidIsValid(get_extension_oid("audit_log", true)) &&
				al_installed_version_num() >= 101)
				collect_records();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if ((drop_record && drop_confirmed) || created)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that dropped or created extension audit_log")));
			break;
		case XACT_EVENT_COMMIT:
			if (drop_file && drop_message)
				ereport(LOG,
						(errmsg_internal("%s", drop_message),
						 errdetail_internal("Record: %s", drop_record)));
			foreach(lc, created_events)
				(void) al_enqueue((AuditEvent *) lfirst(lc));
			foreach(lc, created_files)
				(void) durable_unlink((char *) lfirst(lc), LOG);
			reset_state();
			break;
		case XACT_EVENT_ABORT:
			if (drop_file)
				(void) durable_unlink(drop_file, LOG);
			reset_state();
			break;
		default:
			break;
	}
}

/*
 * Part of the extension's one subtransaction callback: a rolled-back
 * subtransaction takes back the drop or the create it made.
 */
void
al_extension_drop_subxact(SubXactEvent event)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		if (drop_record && drop_level >= level)
		{
			pfree(drop_record);
			drop_record = NULL;
			drop_confirmed = false;
		}
		if (created && created_level >= level)
			created = false;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		if (drop_record && drop_level >= level)
			drop_level = level - 1;
		if (created && created_level >= level)
			created_level = level - 1;
	}
}

/*
 * Install the object access hook.  Called from _PG_init, preloaded or not.
 */
void
al_extension_drop_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = al_object_access;
}
