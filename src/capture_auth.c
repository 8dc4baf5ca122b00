/*-------------------------------------------------------------------------
 *
 * capture_auth.c
 *		Capture of logins (category ACCESS_SIGMA): one LOGIN row per
 *		connection attempt that reached authentication or was refused by
 *		pg_hba.conf, SUCCESS or FAILURE with a reason code, and a LOGOUT row
 *		with the session's duration.
 *
 * Three hooks see a connection attempt, in this order (this file installs
 * only the first; the other two are the extension's single emit_log_hook
 * and transaction callback in audit_log.c, which call the functions here
 * first, before any other part):
 *
 * - ClientAuthentication_hook reports the outcome of the authentication
 *   exchange.  STATUS_ERROR is a failed login, recorded at once with the
 *   reason worked out from the catalog (unknown role, expired password,
 *   wrong password).  STATUS_EOF is a client that hung up when asked for a
 *   password (psql does so before it prompts): not a failed login, only
 *   counted.  STATUS_OK only marks the authentication as passed: the session
 *   may still be refused later (role without LOGIN, missing database, no
 *   CONNECT privilege, connection limits).
 * - emit_log_hook sees every FATAL that ends the attempt before the session
 *   is established: pg_hba.conf rejects (raised before the authentication
 *   hook runs), the "too many clients" refusal (raised before the process
 *   has a PGPROC), and the refusals after authentication.  It records them
 *   as FAILURE with a reason derived from the SQLSTATE.
 * - A transaction callback: InitPostgres commits its startup transaction
 *   only after every check has passed, so the first commit of a process
 *   whose authentication passed is the established session: LOGIN SUCCESS.
 *   A before_shmem_exit callback then records LOGOUT when it ends.
 *
 * A process-local flag makes sure an attempt gives exactly one LOGIN row.
 * Events go through al_enqueue (queue.c), which neither allocates nor
 * raises errors, since no table can be written during authentication.  No
 * password, and no text of the error message, is ever recorded.
 *
 * Background workers never authenticate and produce no LOGIN or LOGOUT;
 * walsenders do authenticate and are recorded like other sessions, with
 * "replication": true in entry_data.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "libpq/pqcomm.h"
#include "miscadmin.h"
#include "replication/walsender.h"
#include "storage/ipc.h"
#include "utils/elog.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "capture_auth.h"
#include "compat.h"
#include "queue.h"

static ClientAuthentication_hook_type prev_client_auth_hook = NULL;

/* State of this process's connection attempt. */
static bool al_auth_hook_ran = false;	/* ClientAuthentication_hook called */
static bool al_auth_ok = false; /* ... with STATUS_OK */
static bool al_role_exists = false;
static bool al_role_canlogin = false;
static bool al_login_done = false;	/* the attempt's LOGIN row is queued
									 * (or the attempt needs none) */
static bool al_in_emit_log = false;
static TimestampTz al_login_time = 0;
static char al_auth_method[32];

/*
 * Start a LOGIN or LOGOUT event with the base data of the connection:
 * attempted role, requested database, client address, application_name of
 * the startup packet, auth method and SSL use.
 */
static void
al_connection_event(AuditEvent *ev, const char *event_type, bool success,
					const char *reason)
{
	Port	   *port = MyProcPort;

	al_event_init_session(ev, AL_CAT_ACCESS_SIGMA, event_type, success);
	if (reason != NULL)
		al_strlcpy_clip(ev->reason_code, reason, sizeof(ev->reason_code));
	if (port == NULL)
		return;
	al_strlcpy_clip(ev->user_name, port->user_name, sizeof(ev->user_name));
	al_strlcpy_clip(ev->database_name, port->database_name, sizeof(ev->database_name));
	al_strlcpy_clip(ev->application_name, port->application_name, sizeof(ev->application_name));

	/*
	 * port->hba lives in PostmasterContext, which is freed once the session
	 * is established: note the method's name while it is there.
	 */
	if (al_auth_method[0] == '\0' && !al_login_done && port->hba != NULL)
		strlcpy(al_auth_method, hba_authname(port->hba->auth_method),
				sizeof(al_auth_method));
	/* auth method names are fixed ASCII words: no JSON escaping needed */
	snprintf(ev->entry_data, sizeof(ev->entry_data),
			 "{\"auth_method\": %s%s%s, \"ssl\": %s%s}",
			 al_auth_method[0] ? "\"" : "",
			 al_auth_method[0] ? al_auth_method : "null",
			 al_auth_method[0] ? "\"" : "",
			 port->ssl_in_use ? "true" : "false",
			 am_walsender ? ", \"replication\": true" : "");
}

/* Queue the attempt's LOGIN row, once. */
static void
al_record_login(bool success, const char *reason)
{
	AuditEvent	ev;

	if (al_login_done)
		return;
	al_connection_event(&ev, "LOGIN", success, reason);
	al_login_done = true;
	/* audit_log.synchronous: the client's answer waits for the row */
	(void) al_enqueue_wait(&ev, al_synchronous && al_queue_can_write());
}

/*
 * audit_log.on_failure = fail: may this session be established although
 * its LOGIN cannot be recorded now?  Only a superuser over the local Unix
 * socket, so that an administrator can always get in to repair the
 * writer; the server log says so.  Anyone else is refused with a FATAL
 * (which emit_log_hook records as this attempt's LOGIN FAILURE).
 */
static void
al_refuse_unrecorded_login(void)
{
	if (MyProcPort != NULL && MyProcPort->raddr.addr.ss_family == AF_UNIX &&
		superuser())
	{
		ereport(LOG,
				(errmsg("audit_log: superuser \"%s\" let in over the local socket although its login could not be recorded",
						MyProcPort->user_name),
				 errdetail("audit_log.on_failure is fail and the audit_log writer did not write within audit_log.queue_wait; the login event stays queued.")));
		return;
	}
	ereport(FATAL,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("login refused: audit_log cannot record it"),
			 errdetail("audit_log.on_failure is fail and the audit_log writer did not write within audit_log.queue_wait."),
			 errhint("A superuser can still connect over the local Unix socket to repair the audit_log writer.")));
}

/*
 * Is this process a connection attempt whose outcome is still open?
 */
static bool
al_attempt_open(void)
{
	/* pg_upgrade's own connections in binary-upgrade mode are no logins */
	return !IsBinaryUpgrade &&
		!al_login_done &&
		MyProcPort != NULL &&
		MyProcPort->user_name != NULL &&
		MyProcPort->user_name[0] != '\0' &&
		!AmBackgroundWorkerProcess() &&
		al_category_captured(AL_CAT_ACCESS_SIGMA);
}

/*
 * ClientAuthentication_hook.  Ours runs before the previous hook, so that a
 * failure is queued even if that hook (auth_delay, say) sleeps or raises an
 * error; a FATAL raised by it after STATUS_OK is seen by emit_log_hook.
 */
static void
al_client_auth(Port *port, int status)
{
	al_auth_hook_ran = true;

	if (al_attempt_open())
	{
		HeapTuple	tuple;

		tuple = SearchSysCache1(AUTHNAME, CStringGetDatum(port->user_name));
		if (HeapTupleIsValid(tuple))
		{
			Form_pg_authid authform = (Form_pg_authid) GETSTRUCT(tuple);
			bool		isnull;
			Datum		until;
			bool		expired = false;

			al_role_exists = true;
			al_role_canlogin = authform->rolcanlogin;
			until = SysCacheGetAttr(AUTHNAME, tuple,
									Anum_pg_authid_rolvaliduntil, &isnull);
			if (!isnull && DatumGetTimestampTz(until) < GetCurrentTimestamp())
				expired = true;
			ReleaseSysCache(tuple);

			if (status == STATUS_ERROR)
				al_record_login(false, expired ? "PASSWORD_EXPIRED" : "INVALID_PASSWORD");
		}
		else if (status == STATUS_ERROR)
			al_record_login(false, "ROLE_NOT_FOUND");

		if (status == STATUS_OK)
			al_auth_ok = true;
		else if (status == STATUS_EOF)
		{
			/* hung up at the password prompt: counted, not recorded */
			al_login_done = true;
			al_queue_count_abandoned_login();
		}
	}

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);
}

/*
 * The reason code of a FATAL that ended an attempt.  Returns NULL for
 * refusals that are not login attempts (server starting or shutting down).
 */
static const char *
al_failure_reason(int sqlerrcode)
{
	if (sqlerrcode == ERRCODE_CANNOT_CONNECT_NOW)
		return NULL;
	if (sqlerrcode == ERRCODE_TOO_MANY_CONNECTIONS)
		return "TOO_MANY_CONNECTIONS";
	if (!al_auth_hook_ran)
	{
		/* pg_hba.conf reject line, or no line matched */
		if (sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
			return "HBA_REJECT";
	}
	else if (al_auth_ok)
	{
		if (sqlerrcode == ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
		{
			if (!al_role_exists)
				return "ROLE_NOT_FOUND";	/* trust authentication */
			if (!al_role_canlogin)
				return "LOGIN_NOT_ALLOWED";
		}
		if (sqlerrcode == ERRCODE_UNDEFINED_DATABASE)
			return "DATABASE_NOT_FOUND";
		/* (for a walsender it means: no REPLICATION attribute) */
		if (sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE && !am_walsender)
			return "DATABASE_ACCESS_DENIED";
	}
	return unpack_sql_state(sqlerrcode);
}

/*
 * The emit_log_hook part (called by audit_log.c's hook): a FATAL in a
 * process whose attempt is still open ends it.  May run before the process
 * has a PGPROC; al_enqueue copes with that.
 */
void
al_capture_auth_emit_log(ErrorData *edata)
{
	if (!al_in_emit_log && edata->elevel >= FATAL && al_attempt_open())
	{
		const char *reason;

		al_in_emit_log = true;
		reason = al_failure_reason(edata->sqlerrcode);
		if (reason != NULL)
			al_record_login(false, reason);
		else
			al_login_done = true;
		al_in_emit_log = false;
	}
}

/* before_shmem_exit: the established session ends. */
static void
al_record_logout(int code, Datum arg)
{
	AuditEvent	ev;
	TimestampTz now;
	long		secs;
	int			usecs;

	if (!al_category_captured(AL_CAT_ACCESS_SIGMA))
		return;
	al_connection_event(&ev, "LOGOUT", true, NULL);
	now = ev.request_time;
	TimestampDifference(al_login_time, now, &secs, &usecs);
	snprintf(ev.entry_data, sizeof(ev.entry_data),
			 "{\"duration_s\": %ld.%03d}", secs, usecs / 1000);
	(void) al_enqueue(&ev);
}

/*
 * The transaction-callback part (called by audit_log.c's callback): the
 * first commit after authentication passed is the end of InitPostgres,
 * after every check: the session is established.
 */
void
al_capture_auth_xact(XactEvent event)
{
	if (!al_auth_ok || al_login_done)
		return;

	/*
	 * audit_log.synchronous or on_failure = fail: decide (and wait) before
	 * the startup transaction commits, where a refusal is still a clean
	 * FATAL; InitPostgres has made every check by then.  With fail, the
	 * writer must first show that it writes (everything queued before
	 * this login written within audit_log.queue_wait).
	 */
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		if (!al_synchronous && al_on_failure != AL_ON_FAILURE_FAIL)
			return;
		if (!al_attempt_open())
		{
			al_login_done = true;
			return;
		}
		if (al_on_failure == AL_ON_FAILURE_FAIL &&
			!al_queue_wait_writing((long) al_queue_wait_ms))
			al_refuse_unrecorded_login();
		al_record_login(true, NULL);
		al_login_time = GetCurrentTimestamp();
		before_shmem_exit(al_record_logout, (Datum) 0);
		return;
	}

	if (event != XACT_EVENT_COMMIT)
		return;
	if (!al_attempt_open())
	{
		al_login_done = true;
		return;
	}
	al_record_login(true, NULL);
	al_login_time = GetCurrentTimestamp();
	before_shmem_exit(al_record_logout, (Datum) 0);
}

/*
 * Install ClientAuthentication_hook.  Called from _PG_init when preloaded.
 */
void
al_capture_auth_init(void)
{
	if (IsBinaryUpgrade)
		return;					/* nothing is captured during pg_upgrade */
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = al_client_auth;
}
