/*-------------------------------------------------------------------------
 *
 * retention.c
 *		The retention settings as the retention job sees them.
 *
 * apply_retention() and the status view are written in SQL; they read
 * audit_log.retention_days and audit_log.require_export_before_purge through
 * these two functions rather than through current_setting(), so that the
 * values are the validated ones of this module even when the library was
 * not preloaded: calling a function of the module loads it, and loading it
 * defines the settings (a bare placeholder read by current_setting() would
 * not have been checked against 1..36500).
 *
 * DROP EXTENSION audit_log also removes the pg_cron jobs the extension
 * scheduled (audit_log_* of this database): they are rows of pg_cron's
 * table, not members of our extension, and would otherwise go on running,
 * and failing, every day.  An object access hook sees the extension being
 * dropped, in the dropping transaction, so a rollback keeps the jobs too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "audit_log.h"

PG_FUNCTION_INFO_V1(audit_log_retention_days);
PG_FUNCTION_INFO_V1(audit_log_require_export_before_purge);

/*
 * audit_log._retention_days() RETURNS integer: the number of days kept.
 */
Datum
audit_log_retention_days(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(al_retention_days);
}

/*
 * audit_log._require_export_before_purge() RETURNS boolean
 */
Datum
audit_log_require_export_before_purge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(al_require_export_before_purge);
}

static object_access_hook_type prev_object_access_hook = NULL;

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

static void
al_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId && subId == 0 &&
		objectId == get_extension_oid("audit_log", true))
		unschedule_cron_jobs();
}

void
al_retention_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = al_object_access;
}
