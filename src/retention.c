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
 * (The removal of our pg_cron jobs at DROP EXTENSION is in
 * extension_drop.c.)
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

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
