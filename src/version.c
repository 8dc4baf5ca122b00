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

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

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
 * The version of the extension installed in the current database, palloc'd,
 * or NULL when it is not installed.  Call inside a transaction.
 */
char *
al_installed_version(void)
{
	char	   *version = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname = 'audit_log'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			version = MemoryContextStrdup(CurTransactionContext, v);
	}
	SPI_finish();
	return version;
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
