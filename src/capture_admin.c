/*-------------------------------------------------------------------------
 *
 * capture_admin.c
 *		Capture of administrative commands through ProcessUtility_hook:
 *		login roles (USER_ACCOUNTS), role attributes, privileges and default
 *		privileges (ACCOUNT_TYPES), group roles and memberships (TEAMS),
 *		foreign servers, user mappings, foreign-data wrappers and
 *		subscriptions (CONNECTIONS), and passwords (ACCESS_SIGMA
 *		PASSWORD_CHANGE).
 *
 * For each relevant statement the hook builds its events BEFORE the command
 * runs, so that "before" values come from the catalogs as they were.  The
 * events never contain the statement text: entry_data is a JSON object
 * built from the parse tree, and every value that could be a secret (a
 * password, a user-mapping password option, the password of a connection
 * string) is left out; option names are kept.
 *
 * Outcome.  The events wait in a backend-local pending list (in
 * al_pending_cxt, a child of TopMemoryContext, so they survive the abort of
 * the transaction that produced them) together with the subtransaction
 * nesting level that produced them:
 *
 *	- the command raises an error: its events are marked FAILURE with the
 *	  error's SQLSTATE, and the error goes on;
 *	- a subtransaction rolls back (ROLLBACK TO SAVEPOINT, a PL/pgSQL
 *	  exception block): its events are handed to the queue at once as
 *	  FAILURE; a subtransaction that commits gives its events to its parent;
 *	- the top-level transaction commits: SUCCESS; it is prepared (PREPARE
 *	  TRANSACTION): SUCCESS with reason code PREPARED, since its fate is
 *	  decided later, possibly by another session or after a restart; it
 *	  aborts: FAILURE.  A PREPARED event carries in entry_data.prepared
 *	  the gid and the transaction id; the writer (writer.c) later records a
 *	  second event, the same with the final outcome, once
 *	  pg_xact_status() says the transaction committed (COMMIT PREPARED) or
 *	  aborted (ROLLBACK PREPARED).
 *
 * The reason code of a FAILURE is the SQLSTATE of the command's own error;
 * otherwise the SQLSTATE of the error that aborted the (sub)transaction,
 * as seen by emit_log_hook; otherwise ROLLBACK.  A GRANT or REVOKE that
 * PostgreSQL completes with "no privileges were granted/revoked" changed
 * nothing and is FAILURE 01007/01006 (see pending_mark_warning).
 *
 * Two additions of 1.1: a GRANT of audit_log's own roles by a role that is
 * not a superuser (nor holds ADMIN OPTION on it from one) is refused
 * (admin_roles.c, al_admin_guard_grant_role), and ALTER ... OWNER TO of any
 * object is an ACCOUNT_TYPES CHANGE_OWNER event.
 *
 * Events leave this backend only through al_enqueue(), which never raises
 * an error, so the transaction callbacks are safe at commit and abort.
 *
 * This file holds the hook, the statement dispatch, the pending list and
 * the outcomes; the events themselves are built by admin_roles.c and
 * admin_connections.c (with admin_render.c), the AUDIT_LOG TRAIL_CHANGE
 * events of statements that alter the trail's own objects by
 * capture_trail.c (the same pending list gives them their outcome), and
 * before each statement runs extension_drop.c may refuse a drop of the
 * extension; their entry_data written by
 * al_json.c into the event, secrets removed by redact.c.  The extension's
 * one emit_log_hook and transaction callbacks (audit_log.c) call
 * al_capture_admin_emit_log, al_capture_admin_xact and
 * al_capture_admin_subxact.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "admin_internal.h"
#include "audit_log.h"
#include "capture_admin.h"
#include "capture_trail.h"
#include "extension_drop.h"
#include "queue.h"

/* Number of size levels tried before an entry_data is cut to a stub. */
#define BUILD_LEVELS 4

/*
 * One event waiting for the outcome of its transaction.  stmt_id identifies
 * the command that produced it; nest_level is the subtransaction level that
 * owns it now.
 */
typedef struct PendingEvent
{
	int			stmt_id;
	int			nest_level;
	bool		failed;
	AuditEvent	ev;
} PendingEvent;

/* The previous utility hook, called after ours. */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* The pending list and the memory that holds it. */
static MemoryContext al_pending_cxt = NULL;
static PendingEvent *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static int	last_stmt_id = 0;

/* Scratch memory for building one command's events; reset around each. */
static MemoryContext al_build_cxt = NULL;

/*
 * SQLSTATE of the last error reported in this backend (0: none since the
 * last transaction or subtransaction end).
 */
static int	last_error_code = 0;

/* The captured statement now running (0: none), for its warnings. */
static int	running_stmt_id = 0;

/* State of the command being built. */
static List *build_events = NIL;	/* AuditEvent * */
static bool build_overflow = false;
static int	build_max_items = INT_MAX;	/* limits of the JSON builder */
static int	build_max_str = 1024;
static const char *acting_user = NULL;
static TimestampTz stmt_time = 0;	/* request_time of every event of it */

/* ---------------------------------------------------------------------
 * The events of the command being built (admin_internal.h)
 * ---------------------------------------------------------------------
 */

/*
 * Start an event of the command being built, its entry_data an empty
 * object written through js; NULL when its category is not captured.
 */
AuditEvent *
al_admin_event(AuditCategory category, const char *event_type,
			   const char *object, AlJson *js)
{
	AuditEvent *ev;

	if (!al_category_captured(category))
		return NULL;
	ev = (AuditEvent *) palloc(sizeof(AuditEvent));
	al_event_init_session(ev, category, event_type, true);
	/* all events of one command share its time, so they sort together */
	ev->request_time = stmt_time;
	al_uuid7(&ev->event_id, stmt_time);
	al_strlcpy_clip(ev->user_name, acting_user, sizeof(ev->user_name));
	al_strlcpy_clip(ev->object_name, object, sizeof(ev->object_name));
	build_events = lappend(build_events, ev);
	al_json_init(js, ev->entry_data, sizeof(ev->entry_data), false);
	al_json_set_limits(js, build_max_items, build_max_str);
	return ev;
}

/*
 * Close an event's entry_data; when something did not fit, note the
 * overflow (capture_statement retries with smaller limits) and store a
 * stub.
 */
void
al_admin_event_done(AuditEvent *ev, AlJson *js)
{
	if (!al_json_finish(js))
	{
		build_overflow = true;
		strlcpy(ev->entry_data, "{\"truncated\": true}", sizeof(ev->entry_data));
	}
}

/* The role running the command being built. */
const char *
al_admin_acting_user(void)
{
	return acting_user;
}

/* ---------------------------------------------------------------------
 * Statement dispatch
 * ---------------------------------------------------------------------
 */

#define CAT(c) (1 << (c))

/*
 * The categories a statement can produce administrative events in (0: not
 * ours).  Cheap, so that other statements pay nothing more than this
 * switch.
 */
static int
admin_categories(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
			return CAT(AL_CAT_USER_ACCOUNTS) | CAT(AL_CAT_TEAMS) |
				CAT(AL_CAT_ACCOUNT_TYPES) | CAT(AL_CAT_ACCESS_SIGMA);
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
			return CAT(AL_CAT_USER_ACCOUNTS) | CAT(AL_CAT_TEAMS);
		case T_GrantRoleStmt:
			return CAT(AL_CAT_TEAMS);
		case T_GrantStmt:
		case T_AlterDefaultPrivilegesStmt:

			/*
			 * Privileges an extension's install script sets on its own
			 * objects are part of installing it, not an administrator's
			 * decision (our own script alone would add a hundred rows).
			 * Roles and memberships a script creates are still recorded.
			 */
			if (creating_extension)
				return 0;
			return CAT(AL_CAT_ACCOUNT_TYPES);
		case T_DropOwnedStmt:
		case T_ReassignOwnedStmt:
			return CAT(AL_CAT_ACCOUNT_TYPES);
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_ROLE)
				return CAT(AL_CAT_USER_ACCOUNTS) | CAT(AL_CAT_TEAMS);
			if (al_admin_is_connection_type(((RenameStmt *) stmt)->renameType))
				return CAT(AL_CAT_CONNECTIONS);
			return 0;
		case T_AlterOwnerStmt:
			{
				/* a new owner holds every privilege: CHANGE_OWNER */
				int			cats = creating_extension ? 0 : CAT(AL_CAT_ACCOUNT_TYPES);

				if (al_admin_is_connection_type(((AlterOwnerStmt *) stmt)->objectType))
					cats |= CAT(AL_CAT_CONNECTIONS);
				return cats;
			}
		case T_AlterTableStmt:
			if (!creating_extension &&
				al_admin_alter_table_changes_owner((AlterTableStmt *) stmt))
				return CAT(AL_CAT_ACCOUNT_TYPES);
			return 0;
		case T_DropStmt:
			if (((DropStmt *) stmt)->removeType == OBJECT_FOREIGN_SERVER ||
				((DropStmt *) stmt)->removeType == OBJECT_FDW)
				return CAT(AL_CAT_CONNECTIONS);
			return 0;
		case T_CreateForeignServerStmt:
		case T_AlterForeignServerStmt:
		case T_CreateUserMappingStmt:
		case T_AlterUserMappingStmt:
		case T_DropUserMappingStmt:
		case T_CreateFdwStmt:
		case T_AlterFdwStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
			return CAT(AL_CAT_CONNECTIONS);
		default:
			return 0;
	}
}

/*
 * The categories a statement can produce events in: the administrative
 * ones above, and AUDIT_LOG when it alters the trail's own objects
 * (capture_trail.c).
 */
static int
statement_categories(Node *stmt)
{
	return admin_categories(stmt) | al_trail_categories(stmt);
}

/* Build the events of one statement into build_events. */
static void
build_statement(Node *stmt)
{
	/* TRAIL_CHANGE (capture_trail.c) */
	al_trail_build(stmt);
	if (admin_categories(stmt) == 0)
		return;
	switch (nodeTag(stmt))
	{
		case T_CreateRoleStmt:
			al_admin_create_role((CreateRoleStmt *) stmt);
			break;
		case T_AlterRoleStmt:
			al_admin_alter_role((AlterRoleStmt *) stmt);
			break;
		case T_AlterRoleSetStmt:
			al_admin_alter_role_set((AlterRoleSetStmt *) stmt);
			break;
		case T_DropRoleStmt:
			al_admin_drop_role((DropRoleStmt *) stmt);
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;

				if (rs->renameType == OBJECT_ROLE)
					al_admin_rename_role(rs);
				else
					al_admin_connection_rename_owner(rs->renameType,
												  strVal(rs->object),
												  rs->newname, NULL);
			}
			break;
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *os = (AlterOwnerStmt *) stmt;

				if (al_admin_is_connection_type(os->objectType))
					al_admin_connection_rename_owner(os->objectType,
												  strVal(os->object),
												  NULL, os->newowner);
				if (!creating_extension)
					al_admin_alter_owner(os);
			}
			break;
		case T_AlterTableStmt:
			al_admin_alter_table_owner((AlterTableStmt *) stmt);
			break;
		case T_GrantRoleStmt:
			al_admin_grant_role((GrantRoleStmt *) stmt);
			break;
		case T_GrantStmt:
			al_admin_grant((GrantStmt *) stmt);
			break;
		case T_AlterDefaultPrivilegesStmt:
			al_admin_default_privileges((AlterDefaultPrivilegesStmt *) stmt);
			break;
		case T_DropOwnedStmt:
			al_admin_owned("DROP_OWNED", ((DropOwnedStmt *) stmt)->roles, NULL,
						((DropOwnedStmt *) stmt)->behavior);
			break;
		case T_ReassignOwnedStmt:
			al_admin_owned("REASSIGN_OWNED", ((ReassignOwnedStmt *) stmt)->roles,
						((ReassignOwnedStmt *) stmt)->newrole, DROP_RESTRICT);
			break;
		case T_CreateForeignServerStmt:
			al_admin_create_server((CreateForeignServerStmt *) stmt);
			break;
		case T_AlterForeignServerStmt:
			al_admin_alter_server((AlterForeignServerStmt *) stmt);
			break;
		case T_DropStmt:
			al_admin_drop_connection((DropStmt *) stmt);
			break;
		case T_CreateUserMappingStmt:
			{
				CreateUserMappingStmt *s = (CreateUserMappingStmt *) stmt;

				al_admin_user_mapping("CREATE_USER_MAPPING", s->user, s->servername,
								   s->options, s->if_not_exists, false);
			}
			break;
		case T_AlterUserMappingStmt:
			{
				AlterUserMappingStmt *s = (AlterUserMappingStmt *) stmt;

				al_admin_user_mapping("ALTER_USER_MAPPING", s->user, s->servername,
								   s->options, false, false);
			}
			break;
		case T_DropUserMappingStmt:
			{
				DropUserMappingStmt *s = (DropUserMappingStmt *) stmt;

				al_admin_user_mapping("DROP_USER_MAPPING", s->user, s->servername,
								   NIL, false, s->missing_ok);
			}
			break;
		case T_CreateFdwStmt:
			{
				CreateFdwStmt *s = (CreateFdwStmt *) stmt;

				al_admin_fdw("CREATE_FOREIGN_DATA_WRAPPER", s->fdwname,
						  s->func_options, s->options);
			}
			break;
		case T_AlterFdwStmt:
			{
				AlterFdwStmt *s = (AlterFdwStmt *) stmt;

				al_admin_fdw("ALTER_FOREIGN_DATA_WRAPPER", s->fdwname,
						  s->func_options, s->options);
			}
			break;
		case T_CreateSubscriptionStmt:
			al_admin_create_subscription((CreateSubscriptionStmt *) stmt);
			break;
		case T_AlterSubscriptionStmt:
			al_admin_alter_subscription((AlterSubscriptionStmt *) stmt);
			break;
		case T_DropSubscriptionStmt:
			al_admin_drop_subscription((DropSubscriptionStmt *) stmt);
			break;
		default:
			break;
	}
}

/* ---------------------------------------------------------------------
 * Pending list
 * ---------------------------------------------------------------------
 */

static void
pending_add(const AuditEvent *ev, int stmt_id)
{
	PendingEvent *pe;

	if (npending >= maxpending)
	{
		int			newmax = (maxpending == 0) ? 16 : maxpending * 2;

		if (pending == NULL)
			pending = MemoryContextAlloc(al_pending_cxt, newmax * sizeof(PendingEvent));
		else
			pending = repalloc(pending, newmax * sizeof(PendingEvent));
		maxpending = newmax;
	}
	pe = &pending[npending++];
	pe->stmt_id = stmt_id;
	pe->nest_level = GetCurrentTransactionNestLevel();
	pe->failed = false;
	memcpy(&pe->ev, ev, sizeof(AuditEvent));
}

/*
 * Build the events of a statement and put them on the pending list.
 * Returns the statement's id, or 0 when it produced no event.  Entries
 * that do not fit are rebuilt with shorter lists and strings.
 */
static int
capture_statement(Node *stmt)
{
	MemoryContext oldcxt;
	int			level;
	int			stmt_id = 0;
	ListCell   *lc;

	MemoryContextReset(al_build_cxt);
	oldcxt = MemoryContextSwitchTo(al_build_cxt);

	acting_user = GetUserNameFromId(GetUserId(), true);
	stmt_time = GetCurrentTimestamp();
	for (level = 0; level < BUILD_LEVELS; level++)
	{
		static const int max_items[BUILD_LEVELS] = {INT_MAX, 16, 4, 1};
		static const int max_str[BUILD_LEVELS] = {1024, 128, 64, 32};

		build_max_items = max_items[level];
		build_max_str = max_str[level];
		build_events = NIL;
		build_overflow = false;
		build_statement(stmt);
		if (!build_overflow)
			break;
	}
	build_max_items = INT_MAX;
	build_max_str = 1024;

	if (build_events != NIL)
	{
		if (last_stmt_id == INT_MAX)	/* wrap around; 0 means "none" */
			last_stmt_id = 0;
		stmt_id = ++last_stmt_id;
		foreach(lc, build_events)
			pending_add((AuditEvent *) lfirst(lc), stmt_id);
	}
	build_events = NIL;
	acting_user = NULL;

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(al_build_cxt);
	return stmt_id;
}

/* Mark the events of a failed statement with its SQLSTATE. */
static void
pending_mark_failed(int stmt_id, int sqlerrcode)
{
	int			i;

	for (i = 0; i < npending; i++)
	{
		PendingEvent *pe = &pending[i];

		if (pe->stmt_id == stmt_id && !pe->failed)
		{
			pe->failed = true;
			strlcpy(pe->ev.reason_code, unpack_sql_state(sqlerrcode),
					sizeof(pe->ev.reason_code));
		}
	}
}

/*
 * A GRANT or REVOKE that PostgreSQL completes with a warning because the
 * acting role lacks the grant option: "no privileges were granted" (or
 * revoked) means nothing changed, so the events become FAILURE with the
 * warning's SQLSTATE (01007 / 01006); "not all privileges ..." means part
 * of it happened, so they stay SUCCESS with "partial": true in entry_data.
 */
static void
pending_mark_warning(int stmt_id, ErrorData *edata)
{
	bool		none;
	int			i;

	if (edata->message_id == NULL)
		return;
	if (strncmp(edata->message_id, "no privileges", 13) == 0)
		none = true;
	else if (strncmp(edata->message_id, "not all privileges", 18) == 0)
		none = false;
	else
		return;

	for (i = 0; i < npending; i++)
	{
		PendingEvent *pe = &pending[i];

		if (pe->stmt_id != stmt_id || pe->failed)
			continue;
		if (none)
		{
			pe->failed = true;
			strlcpy(pe->ev.reason_code, unpack_sql_state(edata->sqlerrcode),
					sizeof(pe->ev.reason_code));
		}
		else
		{
			size_t		len = strlen(pe->ev.entry_data);
			const char *add = ", \"partial\": true}";

			if (len > 2 && pe->ev.entry_data[len - 1] == '}' &&
				len - 1 + strlen(add) < sizeof(pe->ev.entry_data) &&
				strstr(pe->ev.entry_data, "\"partial\"") == NULL)
				strcpy(pe->ev.entry_data + len - 1, add);
		}
	}
}

/*
 * Hand one pending event to the queue.  A FAILURE without its own reason
 * gets the given one.
 */
static void
pending_send(PendingEvent *pe, bool success, const char *reason)
{
	if (pe->failed)
		success = false;
	pe->ev.success = success;
	if (pe->ev.reason_code[0] == '\0' && reason != NULL)
		strlcpy(pe->ev.reason_code, reason, sizeof(pe->ev.reason_code));
	(void) al_enqueue(&pe->ev);
}

/* The gid of PREPARE TRANSACTION and the transaction being prepared. */
static char prepare_gid[200];
static FullTransactionId prepare_fxid;

/*
 * A prepared event: add {"prepared": {"gid": ..., "xid": "N"}} to its
 * entry_data, from which the writer resolves its final outcome.  An
 * entry_data without room for it keeps its text and gets no resolution.
 */
static void
pending_mark_prepared(PendingEvent *pe)
{
	char		add[400];
	char		gid[160];
	size_t		len = strlen(pe->ev.entry_data);
	int			i,
				j;

	if (!FullTransactionIdIsValid(prepare_fxid))
		return;
	/* a gid is any string: keep letters, digits and a few safe signs */
	for (i = 0, j = 0; prepare_gid[i] != '\0' && j < (int) sizeof(gid) - 1; i++)
	{
		unsigned char c = (unsigned char) prepare_gid[i];

		gid[j++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? c : '?';
	}
	gid[j] = '\0';
	snprintf(add, sizeof(add), "%s\"prepared\": {\"gid\": \"%s\", \"xid\": \"" UINT64_FORMAT "\"}}",
			 len > 2 ? ", " : "", gid, U64FromFullTransactionId(prepare_fxid));
	if (len >= 2 && pe->ev.entry_data[len - 1] == '}' &&
		len - 1 + strlen(add) < sizeof(pe->ev.entry_data))
		strcpy(pe->ev.entry_data + len - 1, add);
}

/* The reason of a rollback without an error of its own. */
static const char *
rollback_reason(void)
{
	return last_error_code != 0 ? unpack_sql_state(last_error_code) : "ROLLBACK";
}

/*
 * Before the top-level commit, with audit_log.synchronous on or
 * audit_log.on_failure = fail: queue an intent of each pending event,
 * carrying the transaction's id, and wait until the writer has committed
 * them (into audit_log.capture_intents).  The transaction's own commit
 * record comes after that in the WAL, so a committed change always has at
 * least its intent on disk, whatever instant the power goes; the event
 * itself then deletes the intent when it is written, and an intent left
 * behind is resolved by its transaction's status (writer.c).  With fail,
 * an intent not written within audit_log.queue_wait refuses the commit.
 * May raise an error: the transaction has not committed yet.
 */
static void
pending_write_intents(void)
{
	FullTransactionId fxid;
	bool		queued = true;
	bool		any = false;
	int			i;

	if (npending == 0 ||
		(!al_synchronous && al_on_failure != AL_ON_FAILURE_FAIL))
		return;
	fxid = GetTopFullTransactionIdIfAny();
	if (!FullTransactionIdIsValid(fxid))
		return;					/* nothing written: nothing to commit */

	for (i = 0; i < npending; i++)
	{
		PendingEvent *pe = &pending[i];
		AuditEvent	intent;

		if (pe->failed || pe->ev.intent != AL_INTENT_NONE)
			continue;
		pe->ev.intent = AL_INTENT_FINAL;
		pe->ev.intent_xid = U64FromFullTransactionId(fxid);
		memcpy(&intent, &pe->ev, sizeof(AuditEvent));
		intent.intent = AL_INTENT_RECORD;
		intent.success = true;
		if (!al_enqueue(&intent))
			queued = false;
		any = true;
	}
	if (!any)
		return;
	if (queued && (al_on_failure == AL_ON_FAILURE_FAIL || al_queue_can_write()) &&
		al_queue_wait_position(al_queue_last_position(), (long) al_queue_wait_ms))
		return;
	if (al_on_failure == AL_ON_FAILURE_FAIL)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("command refused: audit_log cannot record it"),
				 errdetail("audit_log.on_failure is fail and the audit_log writer did not write the command's events within audit_log.queue_wait."),
				 errhint("Check audit_log.status and the server log; a superuser can still connect over the local Unix socket to repair the writer.")));
}

/* ---------------------------------------------------------------------
 * Hooks and callbacks
 * ---------------------------------------------------------------------
 */

/*
 * Top-level end: every pending event goes to the queue with the outcome.
 * Must not raise an error (it runs after the commit record is written).
 */
void
al_capture_admin_xact(XactEvent event)
{
	int			i;
	bool		success;
	const char *reason;

	if (al_pending_cxt == NULL)
		return;					/* al_capture_admin_init was not called */
	if (event == XACT_EVENT_PRE_PREPARE)
	{
		prepare_fxid = GetTopFullTransactionIdIfAny();
		return;
	}
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			pending_write_intents();
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			success = true;
			reason = NULL;
			break;
		case XACT_EVENT_PREPARE:
			success = true;
			reason = "PREPARED";
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			success = false;
			reason = rollback_reason();
			break;
		default:
			return;
	}

	for (i = 0; i < npending; i++)
	{
		if (event == XACT_EVENT_PREPARE)
			pending_mark_prepared(&pending[i]);
		pending_send(&pending[i], success, reason);
	}
	/* audit_log.synchronous: the COMMIT (or the error) waits for the rows */
	if (npending > 0 && al_synchronous && al_queue_can_write())
		(void) al_queue_wait_position(al_queue_last_position(),
									  (long) al_queue_wait_ms);
	npending = 0;
	prepare_fxid = InvalidFullTransactionId;
	last_error_code = 0;
	if (maxpending > 256)
	{
		/* give back the memory of an unusually large transaction */
		MemoryContextReset(al_pending_cxt);
		pending = NULL;
		maxpending = 0;
	}
}

/*
 * Subtransaction end.  Events of a rolled-back subtransaction (and of the
 * ones nested in it) are final: they go to the queue now as FAILURE.  A
 * committed subtransaction's events now belong to its parent.
 */
void
al_capture_admin_subxact(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;
	int			kept;

	if (al_pending_cxt == NULL)
		return;
	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			kept = 0;
			for (i = 0; i < npending; i++)
			{
				if (pending[i].nest_level >= level)
					pending_send(&pending[i], false, rollback_reason());
				else
				{
					if (kept != i)
						pending[kept] = pending[i];
					kept++;
				}
			}
			npending = kept;
			last_error_code = 0;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			for (i = 0; i < npending; i++)
			{
				if (pending[i].nest_level >= level)
					pending[i].nest_level = level - 1;
			}
			break;
		default:
			break;
	}
}

/*
 * Remember the SQLSTATE of the error that is about to abort the
 * (sub)transaction: error reports are emitted before the abort callbacks
 * run.  Only an int is stored; nothing of the message.
 */
void
al_capture_admin_emit_log(ErrorData *edata)
{
	if (al_pending_cxt == NULL)
		return;
	if (edata->elevel >= ERROR)
		last_error_code = edata->sqlerrcode;
	else if (edata->elevel == WARNING && running_stmt_id != 0 &&
			 (edata->sqlerrcode == ERRCODE_WARNING_PRIVILEGE_NOT_GRANTED ||
			  edata->sqlerrcode == ERRCODE_WARNING_PRIVILEGE_NOT_REVOKED))
		pending_mark_warning(running_stmt_id, edata);
}

/* Run the rest of the utility chain. */
static void
call_next(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		  ProcessUtilityContext context, ParamListInfo params,
		  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	/* a refused DROP EXTENSION audit_log fails here (extension_drop.c) */
	al_extension_drop_utility(pstmt->utilityStmt);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/*
 * The utility hook.  Order matters twice: our events are built before the
 * rest of the chain runs, so that "before" values come from the catalogs
 * as they were; and the whole rest of the chain (hooks installed before us,
 * then standard_ProcessUtility) runs inside our PG_TRY, so that a command
 * refused by any of them is recorded as FAILURE with that error's SQLSTATE.
 */
static void
al_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	volatile int stmt_id = 0;
	volatile int outer_stmt_id;

	if (IsA(stmt, TransactionStmt) &&
		((TransactionStmt *) stmt)->kind == TRANS_STMT_PREPARE &&
		((TransactionStmt *) stmt)->gid != NULL)
		strlcpy(prepare_gid, ((TransactionStmt *) stmt)->gid, sizeof(prepare_gid));

	if (IsUnderPostmaster && !IsBinaryUpgrade &&
		(statement_categories(stmt) & al_capture_mask) != 0)
		stmt_id = capture_statement(stmt);

	if (stmt_id == 0)
	{
		if (IsA(stmt, GrantRoleStmt))
			al_admin_guard_grant_role((GrantRoleStmt *) stmt);
		call_next(pstmt, queryString, readOnlyTree, context, params,
				  queryEnv, dest, qc);
		return;
	}

	outer_stmt_id = running_stmt_id;
	running_stmt_id = stmt_id;
	PG_TRY();
	{
		/* refused here, the GRANT is recorded as FAILURE 42501 */
		if (IsA(stmt, GrantRoleStmt))
			al_admin_guard_grant_role((GrantRoleStmt *) stmt);
		call_next(pstmt, queryString, readOnlyTree, context, params,
				  queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		running_stmt_id = outer_stmt_id;
		pending_mark_failed(stmt_id, geterrcode());
		PG_RE_THROW();
	}
	PG_END_TRY();
	running_stmt_id = outer_stmt_id;
}

/*
 * Install the utility hook.  Called from _PG_init when the library is
 * preloaded: the pending list must exist in every backend from the start,
 * and the events need the shared-memory queue.
 */
void
al_capture_admin_init(void)
{
	/*
	 * In binary-upgrade mode the statements are pg_upgrade's restore of the
	 * old cluster's catalogs, not administration: nothing is captured, and
	 * al_pending_cxt stays NULL so that every callback below returns early.
	 */
	if (IsBinaryUpgrade)
		return;
	al_pending_cxt = AllocSetContextCreate(TopMemoryContext,
										   "audit_log pending admin events",
										   ALLOCSET_SMALL_SIZES);
	al_build_cxt = AllocSetContextCreate(TopMemoryContext,
										 "audit_log admin event build",
										 ALLOCSET_DEFAULT_SIZES);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = al_ProcessUtility;
}
