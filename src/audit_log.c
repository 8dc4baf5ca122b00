/*-------------------------------------------------------------------------
 *
 * audit_log.c
 *		Module load: the audit_log.* settings, and the one place that wires
 *		the extension into the server (every hook, callback and background
 *		worker the extension installs is installed in _PG_init below).
 *
 * Without preloading only the SQL-callable parts work (log_event, the
 * analytics, exports, seals, fleet); functions that need the shared-memory
 * queue call al_require_preload(), which fails with a hint.  A late load
 * therefore defines the settings and installs only what the SQL parts
 * need: the object access hook (extension_drop.c) and, at first use by
 * add_source, the transaction callbacks.
 *
 * The include and call graph goes one way, from the top down:
 *
 *	 audit_log.c (_PG_init, the one emit_log_hook and transaction callback)
 *	   |-> capture_auth.c (logins) --------------+
 *	   |-> capture_admin.c (administration) -----+
 *	   |     |-> capture_trail.c (TRAIL_CHANGE) -+
 *	   |-> capture_trail.c (READ, own work) -----+
 *	   |-> capture_rules.c (rules, shared memory)   (queue.c asks it first)
 *	   |-> writer.c (background worker) ---------+--> queue.c (shared memory)
 *	   |-> fleet.c (add_source, drop_source) ----+
 *	   |-> extension_drop.c (DROP EXTENSION: guard, record, pg_cron jobs)
 *	   capture_sql.c (flush, status counters) ---+
 *
 * Each arrow is a header: capture_auth.h, capture_admin.h, capture_trail.h,
 * capture_rules.h, writer.h, fleet.h, extension_drop.h, queue.h.  queue.c
 * includes neither the capture nor the writer headers, only
 * capture_rules.h: al_enqueue asks al_capture_rules_skip before it queues
 * an event (no lock, no allocation); writer.c loads the rules at its
 * start.  capture_admin.c's utility hook also calls extension_drop.c (the
 * drop guard) before each statement.  Below
 * everything lies audit_log.h: the settings and AuditEvent, with the
 * helpers of audit_log.c, event.c and log_event.c that every part may use;
 * the only other calls up are fleet.c and extension_drop.c asking for the
 * transaction callbacks (al_xact_callbacks_register).  The SQL-only
 * parts stand beside this graph: log_event.c (which asks seal.c through
 * seal.h whether a day is sealed), day.c, countif.c, retention.c, seal.c
 * and export*.c (export.h).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "alerts.h"
#include "audit_log.h"
#include "capture_admin.h"
#include "capture_auth.h"
#include "capture_rules.h"
#include "capture_trail.h"
#include "compat.h"
#include "extension_drop.h"
#include "fleet.h"
#include "queue.h"
#include "seal_digest.h"
#include "writer.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

const char *const al_category_names[AL_NUM_CATEGORIES] = {
	"ACCESS_SIGMA",
	"USER_ACCOUNTS",
	"ACCOUNT_TYPES",
	"TEAMS",
	"CONNECTIONS",
	"EXPORTS",
	"AUDIT_LOG"
};

char	   *al_database = NULL;
char	   *al_capture_string = NULL;
int			al_capture_mask = (1 << AL_NUM_CATEGORIES) - 1;
int			al_queue_size = 16384;
int			al_queue_wait_ms = 1000;
int			al_flush_interval_ms = 100;
int			al_retention_days = 90;
char	   *al_export_directory = NULL;
char	   *al_export_command = NULL;
bool		al_require_export_before_purge = false;
bool		al_log_to_server = false;
int			al_log_to_server_format = AL_LOG_FORMAT_JSON;
int			al_seal_delay_min = 60;
int			al_max_future_s = 300;

bool		al_allow_drop = false;
bool		al_log_reads = true;

bool		al_synchronous = false;
int			al_on_failure = AL_ON_FAILURE_CONTINUE;
char	   *al_standby_conninfo = NULL;
bool		al_preloaded = false;

static const struct config_enum_entry log_format_options[] = {
	{"json", AL_LOG_FORMAT_JSON, false},
	{"ocsf", AL_LOG_FORMAT_OCSF, false},
	{"ecs", AL_LOG_FORMAT_ECS, false},
	{NULL, 0, false}
};

static const struct config_enum_entry on_failure_options[] = {
	{"continue", AL_ON_FAILURE_CONTINUE, false},
	{"fail", AL_ON_FAILURE_FAIL, false},
	{NULL, 0, false}
};

/*
 * check hook for audit_log.capture: "all", "none", or a comma-separated list
 * of category names (case does not matter).  The parsed mask travels to the
 * assign hook through *extra.
 */
static bool
check_capture(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *items;
	ListCell   *lc;
	int			mask = 0;
	int		   *result;

	raw = pstrdup(*newval);
	if (!SplitIdentifierString(raw, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		pfree(raw);
		list_free(items);
		return false;
	}

	foreach(lc, items)
	{
		char	   *item = (char *) lfirst(lc);
		int			i;
		bool		found = false;

		if (pg_strcasecmp(item, "all") == 0)
		{
			mask = (1 << AL_NUM_CATEGORIES) - 1;
			continue;
		}
		if (pg_strcasecmp(item, "none") == 0)
			continue;
		for (i = 0; i < AL_NUM_CATEGORIES; i++)
		{
			if (pg_strcasecmp(item, al_category_names[i]) == 0)
			{
				mask |= 1 << i;
				found = true;
				break;
			}
		}
		if (!found)
		{
			GUC_check_errdetail("Unrecognized category: \"%s\".", item);
			GUC_check_errhint("Use all, none, or a comma-separated list of ACCESS_SIGMA, USER_ACCOUNTS, ACCOUNT_TYPES, TEAMS, CONNECTIONS, EXPORTS, AUDIT_LOG.");
			pfree(raw);
			list_free(items);
			return false;
		}
	}
	pfree(raw);
	list_free(items);

	result = (int *) guc_malloc(LOG, sizeof(int));
	if (result == NULL)
		return false;
	*result = mask;
	*extra = result;
	return true;
}

static void
assign_capture(const char *newval, void *extra)
{
	al_capture_mask = *((int *) extra);
}

/*
 * check hook for audit_log.database: a database name must be non-empty and
 * fit in NAMEDATALEN.
 */
static bool
check_database(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("The database name must not be empty.");
		return false;
	}
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("The database name is longer than %d bytes.", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/*
 * check hook for audit_log.export_directory: empty (exports off) or an
 * absolute path.  Whether it exists is checked when an export runs, since a
 * mount may come later than the server.
 */
static bool
check_export_directory(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!is_absolute_path(*newval))
	{
		GUC_check_errdetail("The export directory must be an absolute path.");
		return false;
	}
	return true;
}

/*
 * Is this category selected by audit_log.capture?
 */
bool
al_category_captured(AuditCategory category)
{
	return (al_capture_mask & (1 << category)) != 0;
}

/*
 * Fail clearly when a function that needs the shared-memory queue is called
 * in a server that did not preload the library.
 */
void
al_require_preload(const char *what)
{
	if (!al_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires audit_log to be loaded via shared_preload_libraries", what),
				 errhint("Add audit_log to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
define_settings(void)
{
	/*
	 * PostgreSQL refuses PGC_POSTMASTER settings from a library loaded after
	 * startup (FATAL); without preloading they have no effect anyway.
	 */
	GucContext	postmaster_ctx = al_preloaded ? PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("audit_log.database",
							   "Database whose audit_log.events receives captured events.",
							   NULL,
							   &al_database,
							   "postgres",
							   postmaster_ctx,
							   0,
							   check_database, NULL, NULL);

	DefineCustomStringVariable("audit_log.capture",
							   "Event categories captured by the server: all, none, or a comma-separated list.",
							   NULL,
							   &al_capture_string,
							   "all",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_capture, assign_capture, NULL);

	DefineCustomIntVariable("audit_log.queue_size",
							"Number of events the shared-memory queue holds.",
							NULL,
							&al_queue_size,
							16384,
							64,
							1048576,
							postmaster_ctx,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.queue_wait",
							"Longest time a backend waits for room in a full queue before it counts the event as dropped.",
							NULL,
							&al_queue_wait_ms,
							1000,
							0,
							60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.flush_interval",
							"Longest wait before queued events are written.",
							NULL,
							&al_flush_interval_ms,
							100,
							1,
							60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.retention_days",
							"Number of days of events kept by the retention job.",
							NULL,
							&al_retention_days,
							90,
							1,
							36500,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("audit_log.export_directory",
							   "The only directory tree server-side exports may write under; empty disables them.",
							   NULL,
							   &al_export_directory,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_export_directory, NULL, NULL);

	DefineCustomStringVariable("audit_log.export_command",
							   "Command run on each finished export file; %p is its path, %f its file name.",
							   NULL,
							   &al_export_command,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("audit_log.alert_command",
							   "Command started in the background for each alert, with the alert's JSON on its standard input.",
							   "Empty: alerts go to the table, NOTIFY audit_log_alert and the server log only.",
							   &al_alert_command,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.alert_collector_lag",
							"Lag of a collector's source that raises the built-in alert audit_log:collector_lag.",
							"0 turns the alert off.",
							&al_alert_collector_lag_s,
							300,
							0,
							7 * 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("audit_log.signing_key_file",
							   "Ed25519 private key (PEM) that signs the seals' digest files; empty: unsigned.",
							   "An absolute path outside the data directory.",
							   &al_signing_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   al_check_signing_key_file, NULL, NULL);

	DefineCustomBoolVariable("audit_log.require_export_before_purge",
							 "Keep a day until a successful export covered it.",
							 NULL,
							 &al_require_export_before_purge,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("audit_log.log_to_server",
							 "Also write each captured event as one JSON line to the server log.",
							 NULL,
							 &al_log_to_server,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("audit_log.log_to_server_format",
							 "Form of the server-log line of each event: json (the columns of audit_log.events), ocsf or ecs.",
							 "The same OCSF and ECS mappings as audit_log.export(); it applies to every audit_log: line, those of audit_log.log_to_server and those of events that could not be stored.",
							 &al_log_to_server_format,
							 AL_LOG_FORMAT_JSON,
							 log_format_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.seal_delay",
							"Time after the end of a UTC day before the maintenance job seals it.",
							"-1 turns automatic sealing off.",
							&al_seal_delay_min,
							60,
							-1,
							10080,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("audit_log.max_future",
							"How far ahead of now() log_event's request_time may be.",
							"Allows for clock skew between an application and the server; 0 refuses any future time.",
							&al_max_future_s,
							300,
							0,
							86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("audit_log.allow_drop",
							 "Allow DROP EXTENSION audit_log (and DROP SCHEMA audit_log CASCADE, DROP OWNED of its owner).",
							 "While off such a statement is refused; when on, the drop leaves a record from which the next CREATE EXTENSION writes an EXTENSION_DROPPED event.",
							 &al_allow_drop,
							 false,
							 PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("audit_log.log_reads",
							 "Record reads of audit_log.events as AUDIT_LOG READ events, at most once a minute per session.",
							 NULL,
							 &al_log_reads,
							 true,
							 PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("audit_log.synchronous",
							 "Answer a client only once its login or administrative event is committed in audit_log.events.",
							 NULL,
							 &al_synchronous,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("audit_log.on_failure",
							 "What happens to a login or administrative command whose event cannot be recorded within audit_log.queue_wait.",
							 "continue lets it go on (the event goes to the server log); fail refuses it.",
							 &al_on_failure,
							 AL_ON_FAILURE_CONTINUE,
							 on_failure_options,
							 PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("audit_log.standby_conninfo",
							   "Connection string a hot standby's writer uses to send its events to the primary; empty uses primary_conninfo.",
							   NULL,
							   &al_standby_conninfo,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/*
 * The extension's one emit_log_hook.  Order matters: the login capture
 * comes first, so that a FATAL that ends a connection attempt is recorded
 * as that attempt's LOGIN FAILURE before anything else looks at it; the
 * administrative capture then notes the SQLSTATE of an ERROR that is about
 * to abort the (sub)transaction (error reports are emitted before the abort
 * callbacks run).  Hooks installed before ours run last.  Installed only
 * when preloaded.
 */
static emit_log_hook_type prev_emit_log_hook = NULL;

static void
al_emit_log(ErrorData *edata)
{
	al_capture_auth_emit_log(edata);
	al_capture_admin_emit_log(edata);

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * The extension's one transaction callback.  Order matters: the capture
 * parts first, since they only copy events into the queue and never fail
 * (the login capture first: the commit of the startup transaction is the
 * session's LOGIN SUCCESS, which comes before any event of the session);
 * then the capture rules (capture_rules.c: at PRE_COMMIT it reads the
 * changed rule table, which may fail and then aborts the transaction like
 * any error before the commit; at COMMIT it installs the rules, never
 * failing); then the drop record of extension_drop.c (written at PRE_COMMIT, where a
 * failure still aborts the drop; queued and logged at COMMIT); then fleet,
 * which may talk to a remote server, warn, or refuse a PREPARE.  No part
 * depends on what another did.  The capture parts keep state only
 * when preloaded.
 */
static void
al_xact_callback(XactEvent event, void *arg)
{
	if (al_preloaded)
	{
		al_capture_auth_xact(event);
		al_capture_admin_xact(event);
		al_capture_rules_xact(event);
	}
	al_extension_drop_xact(event);
	al_fleet_xact(event);
}

/*
 * The extension's one subtransaction callback, in the same order.
 */
static void
al_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (al_preloaded)
		al_capture_admin_subxact(event, mySubid, parentSubid);
	al_extension_drop_subxact(event);
	al_fleet_subxact(event, mySubid, parentSubid);
}

/*
 * Register the transaction callbacks above, once per process; see
 * audit_log.h for who calls it.
 */
void
al_xact_callbacks_register(void)
{
	static bool registered = false;

	if (registered)
		return;
	RegisterXactCallback(al_xact_callback, NULL);
	RegisterSubXactCallback(al_subxact_callback, NULL);
	registered = true;
}

/*
 * Module load, in the order of pg_stat_statements: the settings, the
 * reservation of the prefix, then every hook.  The settings are defined
 * even when the library is loaded late (their context is then PGC_SIGHUP,
 * see define_settings), because the SQL parts work without preloading: a
 * late load is not refused, it only installs less.
 */
void
_PG_init(void)
{
	al_preloaded = process_shared_preload_libraries_in_progress;

	define_settings();
	MarkGUCPrefixReserved("audit_log");

	/*
	 * The wiring: every hook, callback and worker of the extension, one
	 * part after the other.  Only the object access hook and the planner
	 * hook (countif.c) are installed in a late load too (the SQL parts need
	 * them); the rest needs preloading.
	 * The extension's own emit_log_hook and transaction callbacks (above)
	 * come last, so that they run before any hook a part installs itself;
	 * they call the parts in the order their comments give.
	 */
	if (al_preloaded)
	{
		al_queue_init();		/* shmem_request_hook, shmem_startup_hook */
		al_capture_rules_init();	/* shmem_request_hook, shmem_startup_hook */
		al_writer_init();		/* background worker "audit_log writer",
								 * ProcessUtility_hook (it steps aside) */
		al_capture_auth_init(); /* ClientAuthentication_hook */
		al_capture_admin_init();	/* ProcessUtility_hook */
		al_capture_trail_init();	/* fmgr_hook, ExecutorCheckPerms_hook */
	}
	al_extension_drop_init();	/* object_access_hook, preloaded or not */
	al_countif_init();			/* planner_hook, preloaded or not */
	/* fleet: nothing at load time (late load: see al_xact_callbacks_register) */
	if (al_preloaded)
	{
		prev_emit_log_hook = emit_log_hook;
		emit_log_hook = al_emit_log;
		al_xact_callbacks_register();	/* RegisterXactCallback,
										 * RegisterSubXactCallback */
	}
}
