/*-------------------------------------------------------------------------
 *
 * extension_drop.c
 *		What DROP EXTENSION audit_log does beyond dropping the extension's
 *		own objects: it removes the pg_cron jobs the extension scheduled.
 *
 * The maintenance, retention and export jobs (audit_log_* of this
 * database) are rows of pg_cron's table cron.job, not members of our
 * extension, so dropping the extension would leave them running, and
 * failing, every day.  An object access hook sees the extension being
 * dropped, inside the dropping transaction: the jobs are unscheduled there,
 * so a rollback of the DROP keeps them too.  The hook is installed whether
 * or not the library is preloaded, so it works in any backend that has
 * loaded the library; for any other object it costs a few comparisons.
 *
 * Copyright (c) 2026, audit_log developers
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
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "extension_drop.h"

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

/*
 * object_access_hook: the previous hook runs first, then, when the object
 * being dropped is our extension, its pg_cron jobs are removed.
 */
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

/*
 * Install the object access hook.  Called from _PG_init, preloaded or not.
 */
void
al_extension_drop_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = al_object_access;
}
