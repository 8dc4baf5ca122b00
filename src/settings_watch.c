/*-------------------------------------------------------------------------
 *
 * settings_watch.c
 *		Settings-change detection for the background writer (writer.c):
 *		one AUDIT_LOG SETTINGS_CHANGE event per audit_log.* setting (or
 *		shared_preload_libraries) whose value changed, at a reload
 *		(SIGHUP) or, at the writer's start, since the last time the writer
 *		ran (the change was made while the server was down).
 *
 * The values as last seen are kept in the writer's memory context (given
 * to al_settings_watch_start) and, for the next start, in the table
 * audit_log._settings_seen (20_capture.sql).  A change is recorded when
 * the AUDIT_LOG category is captured before or after it, so that turning
 * the capture off is itself on record.  Runs only in the writer process.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "al_json.h"
#include "compat.h"
#include "queue.h"
#include "settings_watch.h"

/* One setting as last seen; value NULL: no value. */
typedef struct AlSettingValue
{
	char	   *name;
	char	   *value;
} AlSettingValue;

static AlSettingValue *al_settings = NULL;
static int	al_nsettings = 0;

/* The writer's long-lived memory context. */
static MemoryContext watch_cxt = NULL;

/*
 * Remember the current values of every audit_log.* setting, and of
 * shared_preload_libraries (which decides whether capture runs at all).
 */
static void
al_settings_snapshot(AlSettingValue **out, int *nout)
{
	int			nvars;
	struct config_generic **vars = al_get_guc_variables(&nvars);
	AlSettingValue *result;
	int			n = 0;
	int			i;
	MemoryContext old;

	/* GetConfigOptionByName checks privileges: it needs a transaction */
	StartTransactionCommand();
	old = MemoryContextSwitchTo(watch_cxt);
	result = palloc(sizeof(AlSettingValue) * Max(nvars, 1));
	for (i = 0; i < nvars; i++)
	{
		const char *name = vars[i]->name;

		if ((strncmp(name, "audit_log.", 10) != 0 &&
			 strcmp(name, "shared_preload_libraries") != 0) ||
			(vars[i]->flags & GUC_CUSTOM_PLACEHOLDER))
			continue;
		result[n].name = pstrdup(name);
		result[n].value = GetConfigOptionByName(name, NULL, true);
		n++;
	}
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
	MemoryContextSwitchTo(watch_cxt);
	*out = result;
	*nout = n;
}

/* Two values of a setting differ (NULL stands for no value). */
static bool
al_values_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) != (b == NULL);
	return strcmp(a, b) != 0;
}

/*
 * Queue one SETTINGS_CHANGE event; at_start: found when the writer started
 * (the change was made while the server was down).  Values too long to
 * keep give {"setting": name, "truncated": true}.
 */
static void
al_queue_settings_change(const char *name, const char *oldval, const char *newval,
						 bool at_start)
{
	AuditEvent	ev;
	AlJson		js;
	int			attempt;

	memset(&ev, 0, sizeof(ev));
	ev.request_time = GetCurrentTimestamp();
	al_uuid7(&ev.event_id, ev.request_time);
	ev.backend_pid = MyProcPid;
	ev.category = AL_CAT_AUDIT_LOG;
	ev.origin = AL_ORIGIN_EXTENSION;	/* the extension about itself */
	ev.success = true;
	strlcpy(ev.event_type, "SETTINGS_CHANGE", sizeof(ev.event_type));
	al_strlcpy_clip(ev.object_name, name, sizeof(ev.object_name));
	al_session_id(ev.session_id, sizeof(ev.session_id));

	for (attempt = 0; attempt < 2; attempt++)
	{
		al_json_init(&js, ev.entry_data, sizeof(ev.entry_data), false);
		al_json_str(&js, "setting", name);
		if (attempt == 0)
		{
			al_json_str(&js, "old", oldval);
			al_json_str(&js, "new", newval);
		}
		else
			al_json_bool(&js, "truncated", true);
		if (at_start)
			al_json_bool(&js, "at_start", true);
		if (al_json_finish(&js))
			break;
	}
	(void) al_enqueue(&ev);
}

/*
 * audit_log._settings_seen holds the settings as the writer last saw them
 * (20_capture.sql).  At start (compare), every setting whose value differs
 * from that record is reported as a SETTINGS_CHANGE made while the server
 * was down; then, and after every reload, the record is replaced by the
 * current values.  The rule of al_writer_reload applies: changes are
 * recorded when AUDIT_LOG is captured, or when audit_log.capture itself
 * changed.  Nothing happens on a hot standby or before the extension
 * exists; an empty record is filled without reporting anything.  An error
 * is logged and does not stop the writer.
 */
static void
al_settings_seen_sync(bool compare)
{
	volatile int nchanged = 0;
	int		   *volatile changed = NULL;
	char	  **volatile oldvals = NULL;
	volatile bool capture_changed = false;
	volatile bool committed = false;
	int			i;

	if (RecoveryInProgress())
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		Oid			nsp;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		nsp = get_namespace_oid("audit_log", true);
		if (OidIsValid(get_extension_oid("audit_log", true)) && OidIsValid(nsp) &&
			OidIsValid(get_relname_relid("_settings_seen", nsp)))
		{
			if (compare)
			{
				if (SPI_execute("SELECT name, value FROM audit_log._settings_seen", true, 0) != SPI_OK_SELECT)
					elog(ERROR, "could not read audit_log._settings_seen");
				if (SPI_processed > 0)
				{
					uint64		nsaved = SPI_processed;

					changed = MemoryContextAlloc(watch_cxt, sizeof(int) * Max(al_nsettings, 1));
					oldvals = MemoryContextAllocZero(watch_cxt, sizeof(char *) * Max(al_nsettings, 1));
					for (i = 0; i < al_nsettings; i++)
					{
						char	   *oldval = NULL;
						bool		known = false;
						uint64		j;

						for (j = 0; j < nsaved; j++)
						{
							char	   *name = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);

							if (name != NULL && strcmp(name, al_settings[i].name) == 0)
							{
								oldval = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2);
								known = true;
								break;
							}
						}
						if (known && al_values_differ(oldval, al_settings[i].value))
						{
							changed[nchanged] = i;
							oldvals[nchanged] = oldval ? MemoryContextStrdup(watch_cxt, oldval) : NULL;
							nchanged++;
							if (strcmp(al_settings[i].name, "audit_log.capture") == 0)
								capture_changed = true;
						}
					}
				}
			}
			if (SPI_execute("DELETE FROM audit_log._settings_seen", false, 0) != SPI_OK_DELETE)
				elog(ERROR, "could not update audit_log._settings_seen");
			for (i = 0; i < al_nsettings; i++)
			{
				Oid			types[2] = {TEXTOID, TEXTOID};
				Datum		values[2];
				char		nulls[2] = {' ', ' '};

				values[0] = CStringGetTextDatum(al_settings[i].name);
				if (al_settings[i].value != NULL)
					values[1] = CStringGetTextDatum(al_settings[i].value);
				else
				{
					values[1] = (Datum) 0;
					nulls[1] = 'n';
				}
				if (SPI_execute_with_args("INSERT INTO audit_log._settings_seen (name, value) VALUES ($1, $2)",
										  2, types, values, nulls, false, 0) != SPI_OK_INSERT)
					elog(ERROR, "could not update audit_log._settings_seen");
			}
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		committed = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(watch_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("audit_log: could not compare the settings with those of the last start: %s",
						edata->message)));
		FreeErrorData(edata);
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(watch_cxt);

	/* reported once the record is updated, so that no change is told twice */
	if (committed && (capture_changed || al_category_captured(AL_CAT_AUDIT_LOG)))
		for (i = 0; i < nchanged; i++)
			al_queue_settings_change(al_settings[changed[i]].name, oldvals[i],
									 al_settings[changed[i]].value, true);
	for (i = 0; i < nchanged; i++)
		if (oldvals[i])
			pfree(oldvals[i]);
	if (changed)
		pfree(changed);
	if (oldvals)
		pfree(oldvals);
}

/*
 * The writer starts: remember the current values, and report the settings
 * changed since the last start.
 */
void
al_settings_watch_start(MemoryContext cxt)
{
	if (IsBinaryUpgrade)
		return;					/* no writer then; defensive */
	watch_cxt = cxt;
	al_settings_snapshot(&al_settings, &al_nsettings);
	al_settings_seen_sync(true);
}

/*
 * The writer has reloaded its configuration: report every setting that
 * changed.  captured_before: whether AUDIT_LOG was captured before the
 * reload.
 */
void
al_settings_watch_reloaded(bool captured_before)
{
	AlSettingValue *now;
	int			nnow;
	int			i,
				j;
	bool		captured;

	if (IsBinaryUpgrade)
		return;
	al_settings_snapshot(&now, &nnow);

	/*
	 * A change is recorded when AUDIT_LOG was captured before or after it,
	 * so that turning capture off is itself on record.
	 */
	captured = captured_before || al_category_captured(AL_CAT_AUDIT_LOG);
	for (i = 0; i < nnow && captured; i++)
	{
		const char *oldval = NULL;
		bool		known = false;

		for (j = 0; j < al_nsettings; j++)
		{
			if (strcmp(al_settings[j].name, now[i].name) == 0)
			{
				oldval = al_settings[j].value;
				known = true;
				break;
			}
		}
		if (!known || al_values_differ(oldval, now[i].value))
			al_queue_settings_change(now[i].name, oldval, now[i].value, false);
	}
	for (j = 0; j < al_nsettings; j++)
	{
		pfree(al_settings[j].name);
		if (al_settings[j].value)
			pfree(al_settings[j].value);
	}
	if (al_settings)
		pfree(al_settings);
	al_settings = now;
	al_nsettings = nnow;
	al_settings_seen_sync(false);
}
