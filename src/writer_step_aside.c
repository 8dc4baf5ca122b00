/*-------------------------------------------------------------------------
 *
 * writer_step_aside.c
 *		The commands that need the writer's database without other
 *		sessions (DROP DATABASE, ALTER DATABASE ... RENAME and SET
 *		TABLESPACE, CREATE DATABASE ... TEMPLATE): a utility hook in the
 *		issuing backend sends the writer SIGUSR2 before such a command runs,
 *		and the writer leaves the database at once (writer.c, file header).
 *		DROP DATABASE of the trail's database is refused while
 *		audit_log.allow_drop is off.
 *
 * Runs in every backend (the hook), never in the writer itself.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"

#include "audit_log.h"
#include "queue.h"
#include "writer.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * The database that stmt needs without other sessions, or NULL.  *gone is
 * set when the command takes the name away (DROP, RENAME).
 */
static const char *
al_exclusive_database(Node *stmt, bool *gone)
{
	ListCell   *lc;

	*gone = false;
	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			*gone = true;
			return ((DropdbStmt *) stmt)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType != OBJECT_DATABASE)
				return NULL;
			*gone = true;
			return ((RenameStmt *) stmt)->subname;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *opt = lfirst_node(DefElem, lc);

				if (strcmp(opt->defname, "template") == 0 &&
					opt->arg != NULL && IsA(opt->arg, String))
					return strVal(opt->arg);
			}
			return NULL;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			{
				DefElem    *opt = lfirst_node(DefElem, lc);

				if (strcmp(opt->defname, "tablespace") == 0)
					return ((AlterDatabaseStmt *) stmt)->dbname;
			}
			return NULL;
		default:
			return NULL;
	}
}

/*
 * Utility hook of every backend: before a command that needs the writer's
 * database without other sessions, ask the writer to leave it.  The command
 * itself waits for the writer to be gone (CountOtherDBBackends waits up to
 * 5 s; the writer exits within a batch).  After a DROP or RENAME that
 * succeeded, warn that the writer cannot connect until audit_log.database
 * is fixed; the events meanwhile stay queued.
 */
static void
al_writer_utility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	bool		gone = false;
	const char *dbname = al_exclusive_database(pstmt->utilityStmt, &gone);
	bool		asked = false;

	if (dbname != NULL && al_database != NULL && strcmp(dbname, al_database) == 0)
	{
		AlQueueStats stats;

		/* dropping the trail's database erases it: guarded like DROP EXTENSION */
		if (IsA(pstmt->utilityStmt, DropdbStmt) && !al_allow_drop)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot drop database \"%s\": it holds the audit trail (audit_log.database)", dbname),
					 errdetail("Dropping it would remove every captured event and seal."),
					 errhint("Export what must be kept, then set audit_log.allow_drop = on (superuser, reload) and try again.")));

		al_queue_stats(&stats);
		if (stats.writer_pid != 0 && stats.writer_pid != MyProcPid)
		{
			ereport(LOG,
					(errmsg("audit_log: asking the writer (PID %d) to leave database \"%s\" for %s",
							stats.writer_pid, dbname, GetCommandTagName(CreateCommandTag(pstmt->utilityStmt)))));
			if (kill(stats.writer_pid, SIGUSR2) == 0)
				asked = true;
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (gone && dbname != NULL && al_database != NULL && strcmp(dbname, al_database) == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("audit_log: database \"%s\" received the captured events; the writer cannot connect until audit_log.database names a database with the extension", dbname),
				 errdetail("Captured events stay queued (up to audit_log.queue_size, then they go to the server log)%s.",
						   asked ? "; the writer was asked to leave the database" : ""),
				 errhint("Rename the database back, or create it and the extension again, or set audit_log.database and restart the server.")));
}

/*
 * Install the hook.  Called by al_writer_init (from _PG_init), before the
 * administrative capture installs its own.
 */
void
al_writer_step_aside_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = al_writer_utility;
}
