/*-------------------------------------------------------------------------
 *
 * version.c
 *		The library's version and the installed extension's.
 *
 * The shared library is replaced by a package upgrade and loaded at the
 * next restart; the extension's SQL objects change only when someone runs
 * ALTER EXTENSION audit_log UPDATE.  In between, the library must keep
 * working with the older objects (each later feature checks what it needs),
 * and the server says that an update is pending: the writer warns once when
 * it starts, and the status view (from 1.1 on) shows both versions.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "audit_log.h"
#include "version.h"

PG_FUNCTION_INFO_V1(audit_log_library_version);

/*
 * audit_log.library_version(): AL_LIBRARY_VERSION.
 */
Datum
audit_log_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(AL_LIBRARY_VERSION));
}

/*
 * The version of the extension installed in the current database, palloc'd
 * in the caller's context, or NULL when it is not installed.  Reads
 * pg_extension directly (no SPI), so that any code running inside a
 * transaction can ask.
 */
char *
al_installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("audit_log"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * The installed version as a number, major * 100 + minor (1.1 -> 101), or 0
 * when the extension is not installed in the current database.  Features
 * added after 1.0 use it to stay off under an older schema:
 *		if (al_installed_version_num() >= 101) ...
 */
int
al_installed_version_num(void)
{
	char	   *v = al_installed_version();
	int			major = 0,
				minor = 0;

	if (v == NULL)
		return 0;
	if (sscanf(v, "%d.%d", &major, &minor) < 1)
		elog(ERROR, "audit_log: unexpected extension version \"%s\"", v);
	pfree(v);
	return major * 100 + minor;
}

/*
 * WARNING when the extension in this database is installed at a version
 * other than the library's.  Call inside a transaction.
 */
void
al_warn_if_update_pending(void)
{
	char	   *installed = al_installed_version();

	if (installed != NULL && strcmp(installed, AL_LIBRARY_VERSION) != 0)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("audit_log: extension \"audit_log\" is at version %s, the loaded library is version %s",
						installed, AL_LIBRARY_VERSION),
				 errdetail("Capture goes on with the objects of version %s; features of later versions stay off until the update.",
						   installed),
				 errhint("Run ALTER EXTENSION audit_log UPDATE in database \"%s\".",
						 al_database)));
}
