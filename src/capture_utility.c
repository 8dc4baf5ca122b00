/*-------------------------------------------------------------------------
 *
 * capture_utility.c
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
 *	  decided later, possibly by another session; it aborts: FAILURE.
 *
 * The reason code of a FAILURE is the SQLSTATE of the command's own error;
 * otherwise the SQLSTATE of the error that aborted the (sub)transaction,
 * as seen by emit_log_hook; otherwise ROLLBACK.  A GRANT or REVOKE that
 * PostgreSQL completes with "no privileges were granted/revoked" changed
 * nothing and is FAILURE 01007/01006 (see pending_mark_warning).
 *
 * Events leave this backend only through al_enqueue(), which never raises
 * an error, so the transaction callbacks are safe at commit and abort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_subscription.h"
#include "commands/extension.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/elog.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "capture.h"
#include "capture_utility.h"
#include "compat.h"

/* What replaces a secret value in entry_data. */
#define AL_REDACTED "[redacted]"

/* Deepest nesting of JSON objects and arrays we build. */
#define JB_MAX_DEPTH 8

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

/* Previous hooks, called after ours. */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

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
static int	jb_max_items = INT_MAX;
static int	jb_max_str = 1024;
static const char *acting_user = NULL;
static TimestampTz stmt_time = 0;	/* request_time of every event of it */

/*
 * A small writer of one JSON object.  Arrays beyond jb_max_items elements
 * end with a "... N more" marker, and strings beyond jb_max_str bytes are
 * clipped, so that a retry with smaller limits fits an event's fixed-size
 * entry_data.
 */
typedef struct JsonBuf
{
	StringInfoData buf;
	int			depth;
	bool		first[JB_MAX_DEPTH];
	int			items[JB_MAX_DEPTH];
	int			skipped[JB_MAX_DEPTH];
} JsonBuf;

/* Role attributes and limits as the catalog holds them (or will). */
typedef struct RoleState
{
	bool		found;
	bool		superuser;
	bool		createdb;
	bool		createrole;
	bool		replication;
	bool		bypassrls;
	bool		login;
	bool		inherit;
	int			connlimit;
	bool		has_valid_until;
	TimestampTz valid_until;
	const char *valid_until_text;	/* as given in the command */
} RoleState;

/* What the options of CREATE ROLE / ALTER ROLE ask for. */
typedef struct RoleOptions
{
	bool		attrs_given;
	bool		password_given;
	bool		password_null;
	bool		limits_given;
	List	   *addroleto;		/* RoleSpec: roles the new role joins */
	List	   *rolemembers;	/* RoleSpec: members added */
	List	   *adminmembers;	/* RoleSpec: members added with admin option */
} RoleOptions;

static void al_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							  bool readOnlyTree,
							  ProcessUtilityContext context,
							  ParamListInfo params,
							  QueryEnvironment *queryEnv,
							  DestReceiver *dest, QueryCompletion *qc);

/* ---------------------------------------------------------------------
 * JSON writer
 * ---------------------------------------------------------------------
 */

static void
jb_init(JsonBuf *jb)
{
	initStringInfo(&jb->buf);
	appendStringInfoChar(&jb->buf, '{');
	jb->depth = 0;
	jb->first[0] = true;
	jb->items[0] = 0;
	jb->skipped[0] = 0;
}

/* Separator before a member or element of the current container. */
static void
jb_sep(JsonBuf *jb)
{
	if (!jb->first[jb->depth])
		appendStringInfoString(&jb->buf, ", ");
	jb->first[jb->depth] = false;
}

/* A JSON string, clipped to jb_max_str bytes at a character boundary. */
static void
jb_value(JsonBuf *jb, const char *s)
{
	size_t		len;

	if (s == NULL)
	{
		appendStringInfoString(&jb->buf, "null");
		return;
	}
	len = strlen(s);
	if (len > (size_t) jb_max_str)
	{
		int			cut = pg_mbcliplen(s, len, jb_max_str);
		char	   *tmp = palloc(cut + 4);

		memcpy(tmp, s, cut);
		strcpy(tmp + cut, "...");
		escape_json(&jb->buf, tmp);
		pfree(tmp);
	}
	else
		escape_json(&jb->buf, s);
}

static void
jb_key(JsonBuf *jb, const char *key)
{
	jb_sep(jb);
	escape_json(&jb->buf, key);
	appendStringInfoString(&jb->buf, ": ");
}

static void
jb_str(JsonBuf *jb, const char *key, const char *val)
{
	jb_key(jb, key);
	jb_value(jb, val);
}

static void
jb_bool(JsonBuf *jb, const char *key, bool val)
{
	jb_key(jb, key);
	appendStringInfoString(&jb->buf, val ? "true" : "false");
}

static void
jb_int(JsonBuf *jb, const char *key, int val)
{
	jb_key(jb, key);
	appendStringInfo(&jb->buf, "%d", val);
}

static void
jb_null(JsonBuf *jb, const char *key)
{
	jb_key(jb, key);
	appendStringInfoString(&jb->buf, "null");
}

static void
jb_open(JsonBuf *jb, const char *key, char bracket)
{
	jb_key(jb, key);
	appendStringInfoChar(&jb->buf, bracket);
	if (jb->depth + 1 >= JB_MAX_DEPTH)
		elog(ERROR, "audit_log: JSON nesting too deep");
	jb->depth++;
	jb->first[jb->depth] = true;
	jb->items[jb->depth] = 0;
	jb->skipped[jb->depth] = 0;
}

static void
jb_obj_begin(JsonBuf *jb, const char *key)
{
	jb_open(jb, key, '{');
}

static void
jb_obj_end(JsonBuf *jb)
{
	appendStringInfoChar(&jb->buf, '}');
	jb->depth--;
}

static void
jb_arr_begin(JsonBuf *jb, const char *key)
{
	jb_open(jb, key, '[');
}

/* An array element (or, for a limited object, a member counted the same). */
static bool
jb_room(JsonBuf *jb)
{
	if (jb->items[jb->depth] >= jb_max_items)
	{
		jb->skipped[jb->depth]++;
		return false;
	}
	jb->items[jb->depth]++;
	return true;
}

static void
jb_arr_str(JsonBuf *jb, const char *val)
{
	if (!jb_room(jb))
		return;
	jb_sep(jb);
	jb_value(jb, val);
}

static void
jb_arr_end(JsonBuf *jb)
{
	if (jb->skipped[jb->depth] > 0)
	{
		jb_sep(jb);
		appendStringInfo(&jb->buf, "\"... %d more\"", jb->skipped[jb->depth]);
	}
	appendStringInfoChar(&jb->buf, ']');
	jb->depth--;
}

/*
 * Close the object and store it as the event's entry_data; when it does not
 * fit, note the overflow (the caller retries with smaller limits) and store
 * a stub.
 */
static void
jb_finish(JsonBuf *jb, AuditEvent *ev)
{
	appendStringInfoChar(&jb->buf, '}');
	if (jb->buf.len < AL_ENTRY_DATA_LEN)
		memcpy(ev->entry_data, jb->buf.data, jb->buf.len + 1);
	else
	{
		build_overflow = true;
		strcpy(ev->entry_data, "{\"truncated\": true}");
	}
	pfree(jb->buf.data);
}

/* ---------------------------------------------------------------------
 * Secrets
 * ---------------------------------------------------------------------
 */

/* Case-insensitive substring test. */
static bool
contains_ci(const char *haystack, const char *needle)
{
	size_t		n = strlen(needle);

	for (; *haystack; haystack++)
	{
		if (pg_strncasecmp(haystack, needle, n) == 0)
			return true;
	}
	return false;
}

/*
 * Is an option or setting of this name a secret?  Deliberately broad: a
 * harmless option that is hidden costs little, a password that is shown
 * cannot be taken back.
 */
static bool
secret_name(const char *name)
{
	static const char *const words[] = {
		"pass", "pwd", "secret", "token", "key", "credential", "auth"
	};
	int			i;

	if (name == NULL)
		return false;
	for (i = 0; i < lengthof(words); i++)
	{
		if (contains_ci(name, words[i]))
			return true;
	}
	return false;
}

/*
 * Does a value look like it carries a secret even though its option name
 * does not say so: a connection string with a password, or a URI with a
 * password in its user info (scheme://user:password@host)?
 */
static bool
secret_value(const char *val)
{
	const char *p;

	if (val == NULL)
		return false;
	if (contains_ci(val, "password") || contains_ci(val, "passwd") ||
		contains_ci(val, "secret"))
		return true;
	p = strstr(val, "://");
	if (p != NULL)
	{
		const char *end = p + 3;
		const char *colon = NULL;

		for (; *end && *end != '/' && *end != '?' && *end != '#'; end++)
		{
			if (*end == ':' && colon == NULL)
				colon = end;
			if (*end == '@' && colon != NULL)
				return true;
		}
	}
	return false;
}

/* Option names of a connection string that are worth keeping. */
static bool
conninfo_key_shown(const char *key)
{
	static const char *const keys[] = {
		"host", "hostaddr", "port", "dbname", "user", "application_name",
		"fallback_application_name", "sslmode", "connect_timeout",
		"target_session_attrs", "gssencmode", "channel_binding",
		"client_encoding", "replication", "krbsrvname", "requirepeer",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "sslcompression",
		"ssl_min_protocol_version", "ssl_max_protocol_version"
	};
	int			i;

	for (i = 0; i < lengthof(keys); i++)
	{
		if (strcmp(key, keys[i]) == 0)
			return true;
	}
	return false;
}

/* A key name safe to mention: lower-case letters and underscores only. */
static bool
plain_key(const char *key)
{
	const char *p;

	if (key[0] == '\0' || strlen(key) > 40)
		return false;
	for (p = key; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return false;
	}
	return true;
}

/*
 * Parse a libpq connection string, "key=value ..." or a postgresql:// URI,
 * into parallel lists of keys and values.  Our own small parser: the
 * backend does not link libpq.  False when the string does not parse.
 */
static bool
conninfo_split(const char *s, List **keys, List **vals)
{
	const char *p = s;

	*keys = NIL;
	*vals = NIL;

	if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0)
	{
		const char *auth = strstr(s, "://") + 3;
		const char *auth_end = auth + strcspn(auth, "/?");
		const char *at = NULL;
		const char *q;

		for (q = auth; q < auth_end; q++)
		{
			if (*q == '@')
				at = q;
		}
		if (at != NULL)
		{
			const char *colon = memchr(auth, ':', at - auth);
			const char *user_end = colon ? colon : at;

			if (user_end > auth)
			{
				*keys = lappend(*keys, pstrdup("user"));
				*vals = lappend(*vals, pnstrdup(auth, user_end - auth));
			}
			if (colon != NULL)
			{
				*keys = lappend(*keys, pstrdup("password"));
				*vals = lappend(*vals, NULL);
			}
			auth = at + 1;
		}
		if (auth_end > auth)
		{
			char	   *hostspec = pnstrdup(auth, auth_end - auth);
			char	   *colon = strchr(hostspec, ':');

			/* one "host:port" is split; host lists and [IPv6] kept whole */
			if (colon != NULL && strchr(colon + 1, ':') == NULL &&
				strchr(hostspec, ',') == NULL && hostspec[0] != '[')
			{
				*colon = '\0';
				*keys = lappend(*keys, pstrdup("port"));
				*vals = lappend(*vals, pstrdup(colon + 1));
			}
			if (hostspec[0] != '\0')
			{
				*keys = lappend(*keys, pstrdup("host"));
				*vals = lappend(*vals, hostspec);
			}
		}
		p = auth_end;
		if (*p == '/')
		{
			const char *db = p + 1;
			const char *db_end = db + strcspn(db, "?");

			if (db_end > db)
			{
				*keys = lappend(*keys, pstrdup("dbname"));
				*vals = lappend(*vals, pnstrdup(db, db_end - db));
			}
			p = db_end;
		}
		if (*p == '?')
		{
			p++;
			while (*p)
			{
				const char *item_end = p + strcspn(p, "&");
				const char *eq = memchr(p, '=', item_end - p);

				if (eq == NULL)
					return false;
				*keys = lappend(*keys, pnstrdup(p, eq - p));
				*vals = lappend(*vals, pnstrdup(eq + 1, item_end - eq - 1));
				p = (*item_end == '&') ? item_end + 1 : item_end;
			}
		}
		return true;
	}

	for (;;)
	{
		StringInfoData key;
		StringInfoData val;

		while (isspace((unsigned char) *p))
			p++;
		if (*p == '\0')
			break;
		initStringInfo(&key);
		while (*p && *p != '=' && !isspace((unsigned char) *p))
			appendStringInfoChar(&key, *p++);
		while (isspace((unsigned char) *p))
			p++;
		if (*p != '=')
			return false;
		p++;
		while (isspace((unsigned char) *p))
			p++;
		initStringInfo(&val);
		if (*p == '\'')
		{
			p++;
			for (;;)
			{
				if (*p == '\0')
					return false;
				if (*p == '\\')
				{
					p++;
					if (*p == '\0')
						return false;
					appendStringInfoChar(&val, *p++);
					continue;
				}
				if (*p == '\'')
				{
					p++;
					break;
				}
				appendStringInfoChar(&val, *p++);
			}
		}
		else
		{
			while (*p && !isspace((unsigned char) *p))
			{
				if (*p == '\\')
				{
					p++;
					if (*p == '\0')
						break;
				}
				appendStringInfoChar(&val, *p++);
			}
		}
		*keys = lappend(*keys, key.data);
		*vals = lappend(*vals, val.data);
	}
	return true;
}

/*
 * Write a connection string as "conninfo": {non-secret keys and values}
 * and "conninfo_omitted": [names of the keys left out].  A string that does
 * not parse is written as "conninfo": "unparsable", nothing of it kept.
 */
static void
jb_conninfo(JsonBuf *jb, const char *conninfo)
{
	List	   *keys;
	List	   *vals;
	ListCell   *lk;
	ListCell   *lv;
	List	   *omitted = NIL;

	if (conninfo == NULL)
		return;
	if (!conninfo_split(conninfo, &keys, &vals))
	{
		jb_str(jb, "conninfo", "unparsable");
		return;
	}
	jb_obj_begin(jb, "conninfo");
	forboth(lk, keys, lv, vals)
	{
		char	   *key = (char *) lfirst(lk);
		char	   *val = (char *) lfirst(lv);

		if (val != NULL && conninfo_key_shown(key) && !secret_value(val))
			jb_str(jb, key, val);
		else if (plain_key(key))
			omitted = lappend(omitted, key);
	}
	jb_obj_end(jb);
	if (omitted != NIL)
	{
		ListCell   *lc;

		jb_arr_begin(jb, "conninfo_omitted");
		foreach(lc, omitted)
			jb_arr_str(jb, (char *) lfirst(lc));
		jb_arr_end(jb);
	}
}

/* ---------------------------------------------------------------------
 * Rendering parse-tree pieces
 * ---------------------------------------------------------------------
 */

/* The value of a DefElem as text (an option without value means true). */
static char *
defelem_text(DefElem *def)
{
	Node	   *arg = def->arg;

	if (arg == NULL)
		return pstrdup("true");
	switch (nodeTag(arg))
	{
		case T_Integer:
			return psprintf("%d", intVal(arg));
		case T_Float:
			return pstrdup(castNode(Float, arg)->fval);
		case T_Boolean:
			return pstrdup(boolVal(arg) ? "true" : "false");
		case T_String:
			return pstrdup(strVal(arg));
		case T_TypeName:
			return TypeNameToString((TypeName *) arg);
		case T_List:
			return NameListToString((List *) arg);
		default:
			return pstrdup("?");
	}
}

/* An option value, unless it is or may be a secret. */
static void
jb_option(JsonBuf *jb, DefElem *def)
{
	char	   *val;

	if (secret_name(def->defname))
	{
		jb_str(jb, def->defname, AL_REDACTED);
		return;
	}
	val = defelem_text(def);
	if (pg_strcasecmp(def->defname, "conninfo") == 0 ||
		pg_strcasecmp(def->defname, "dsn") == 0 ||
		pg_strcasecmp(def->defname, "connstr") == 0 ||
		pg_strcasecmp(def->defname, "connection_string") == 0 ||
		secret_value(val))
		jb_str(jb, def->defname, AL_REDACTED);
	else
		jb_str(jb, def->defname, val);
}

/*
 * Generic options (servers, user mappings, wrappers, subscriptions):
 * "options": {name: value}, secrets as [redacted], and
 * "options_dropped": [names] for ALTER ... OPTIONS (DROP name).
 */
static void
jb_options(JsonBuf *jb, List *options)
{
	ListCell   *lc;
	bool		any_drop = false;
	int			shown = 0;
	int			more = 0;

	if (options == NIL)
		return;
	jb_obj_begin(jb, "options");
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defaction == DEFELEM_DROP)
		{
			any_drop = true;
			continue;
		}
		if (shown >= jb_max_items)
		{
			more++;
			continue;
		}
		shown++;
		jb_option(jb, def);
	}
	jb_obj_end(jb);
	if (more > 0)
		jb_int(jb, "options_not_shown", more);
	if (any_drop)
	{
		jb_arr_begin(jb, "options_dropped");
		foreach(lc, options)
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (def->defaction == DEFELEM_DROP)
				jb_arr_str(jb, def->defname);
		}
		jb_arr_end(jb);
	}
}

/* The name a RoleSpec stands for, without failing on unknown roles. */
static const char *
rolespec_name(RoleSpec *spec)
{
	char	   *name = NULL;

	if (spec == NULL)
		return NULL;
	switch (spec->roletype)
	{
		case ROLESPEC_CSTRING:
			return spec->rolename;
		case ROLESPEC_CURRENT_ROLE:
		case ROLESPEC_CURRENT_USER:
			name = GetUserNameFromId(GetUserId(), true);
			return name ? name : "CURRENT_USER";
		case ROLESPEC_SESSION_USER:
			name = GetUserNameFromId(GetSessionUserId(), true);
			return name ? name : "SESSION_USER";
		case ROLESPEC_PUBLIC:
			return "PUBLIC";
	}
	return NULL;
}

static void
jb_rolespecs(JsonBuf *jb, const char *key, List *specs)
{
	ListCell   *lc;

	jb_arr_begin(jb, key);
	foreach(lc, specs)
		jb_arr_str(jb, rolespec_name((RoleSpec *) lfirst(lc)));
	jb_arr_end(jb);
}

/* The name of an object of a GRANT, as a DBA would write it. */
static char *
object_text(Node *node)
{
	if (node == NULL)
		return pstrdup("?");
	switch (nodeTag(node))
	{
		case T_RangeVar:
			{
				RangeVar   *rv = (RangeVar *) node;

				if (rv->schemaname)
					return psprintf("%s.%s", rv->schemaname, rv->relname);
				return pstrdup(rv->relname);
			}
		case T_String:
			return pstrdup(strVal(node));
		case T_Integer:
			return psprintf("%d", intVal(node));
		case T_Float:
			return pstrdup(castNode(Float, node)->fval);
		case T_List:
			return NameListToString((List *) node);
		case T_ObjectWithArgs:
			{
				ObjectWithArgs *owa = (ObjectWithArgs *) node;
				StringInfoData s;
				ListCell   *lc;

				initStringInfo(&s);
				appendStringInfoString(&s, NameListToString(owa->objname));
				if (!owa->args_unspecified)
				{
					appendStringInfoChar(&s, '(');
					foreach(lc, owa->objargs)
					{
						if (lc != list_head(owa->objargs))
							appendStringInfoString(&s, ", ");
						appendStringInfoString(&s, TypeNameToString(lfirst_node(TypeName, lc)));
					}
					appendStringInfoChar(&s, ')');
				}
				return s.data;
			}
		default:
			return pstrdup("?");
	}
}

/* Object type of a GRANT (plural for default privileges). */
static const char *
objtype_text(ObjectType objtype, bool plural)
{
	switch (objtype)
	{
		case OBJECT_TABLE:
			return plural ? "TABLES" : "TABLE";
		case OBJECT_SEQUENCE:
			return plural ? "SEQUENCES" : "SEQUENCE";
		case OBJECT_FUNCTION:
			return plural ? "FUNCTIONS" : "FUNCTION";
		case OBJECT_PROCEDURE:
			return plural ? "PROCEDURES" : "PROCEDURE";
		case OBJECT_ROUTINE:
			return plural ? "ROUTINES" : "ROUTINE";
		case OBJECT_TYPE:
			return plural ? "TYPES" : "TYPE";
		case OBJECT_DOMAIN:
			return "DOMAIN";
		case OBJECT_SCHEMA:
			return plural ? "SCHEMAS" : "SCHEMA";
		case OBJECT_DATABASE:
			return "DATABASE";
		case OBJECT_TABLESPACE:
			return "TABLESPACE";
		case OBJECT_LANGUAGE:
			return "LANGUAGE";
		case OBJECT_LARGEOBJECT:
			return "LARGE OBJECT";
		case OBJECT_FDW:
			return "FOREIGN DATA WRAPPER";
		case OBJECT_FOREIGN_SERVER:
			return "FOREIGN SERVER";
		case OBJECT_PARAMETER_ACL:
			return "PARAMETER";
		default:
			return "OTHER";
	}
}

/* "privileges": ["SELECT", "UPDATE (a, b)"], or ["ALL"]. */
static void
jb_privileges(JsonBuf *jb, List *privileges)
{
	ListCell   *lc;

	jb_arr_begin(jb, "privileges");
	if (privileges == NIL)
		jb_arr_str(jb, "ALL");
	foreach(lc, privileges)
	{
		AccessPriv *priv = (AccessPriv *) lfirst(lc);
		StringInfoData s;
		const char *p;
		ListCell   *lcol;

		initStringInfo(&s);
		if (priv->priv_name == NULL)
			appendStringInfoString(&s, "ALL");
		else
			for (p = priv->priv_name; *p; p++)
				appendStringInfoChar(&s, pg_toupper((unsigned char) *p));
		if (priv->cols != NIL)
		{
			appendStringInfoString(&s, " (");
			foreach(lcol, priv->cols)
			{
				if (lcol != list_head(priv->cols))
					appendStringInfoString(&s, ", ");
				appendStringInfoString(&s, strVal(lfirst(lcol)));
			}
			appendStringInfoChar(&s, ')');
		}
		jb_arr_str(jb, s.data);
	}
	jb_arr_end(jb);
}

/* Names joined by ", " for object_name (clipped by the caller). */
static char *
join_names(List *names)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, names)
	{
		if (lc != list_head(names))
			appendStringInfoString(&s, ", ");
		appendStringInfoString(&s, (char *) lfirst(lc));
		if (s.len >= AL_OBJECT_LEN)
			break;
	}
	return s.data;
}

/* ---------------------------------------------------------------------
 * Roles
 * ---------------------------------------------------------------------
 */

/* The catalog state of a role, or found = false. */
static void
role_lookup(const char *name, RoleState *rs)
{
	HeapTuple	tuple;

	memset(rs, 0, sizeof(RoleState));
	rs->connlimit = -1;
	rs->inherit = true;
	if (name == NULL)
		return;
	tuple = SearchSysCache1(AUTHNAME, CStringGetDatum(name));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_authid form = (Form_pg_authid) GETSTRUCT(tuple);
		bool		isnull;
		Datum		d;

		rs->found = true;
		rs->superuser = form->rolsuper;
		rs->createdb = form->rolcreatedb;
		rs->createrole = form->rolcreaterole;
		rs->replication = form->rolreplication;
		rs->bypassrls = form->rolbypassrls;
		rs->login = form->rolcanlogin;
		rs->inherit = form->rolinherit;
		rs->connlimit = form->rolconnlimit;
		d = SysCacheGetAttr(AUTHNAME, tuple, Anum_pg_authid_rolvaliduntil, &isnull);
		if (!isnull)
		{
			rs->has_valid_until = true;
			rs->valid_until = DatumGetTimestampTz(d);
		}
		ReleaseSysCache(tuple);
	}
}

/* Overlay the options of CREATE/ALTER ROLE on a state; note what they ask. */
static void
role_apply_options(List *options, RoleState *rs, RoleOptions *ro)
{
	ListCell   *lc;

	memset(ro, 0, sizeof(RoleOptions));
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const char *n = def->defname;

		if (strcmp(n, "password") == 0)
		{
			ro->password_given = true;
			ro->password_null = (def->arg == NULL);
		}
		else if (strcmp(n, "superuser") == 0)
		{
			rs->superuser = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "createdb") == 0)
		{
			rs->createdb = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "createrole") == 0)
		{
			rs->createrole = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "isreplication") == 0)
		{
			rs->replication = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "bypassrls") == 0)
		{
			rs->bypassrls = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "canlogin") == 0)
		{
			rs->login = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "inherit") == 0)
		{
			rs->inherit = boolVal(def->arg);
			ro->attrs_given = true;
		}
		else if (strcmp(n, "connectionlimit") == 0)
		{
			rs->connlimit = intVal(def->arg);
			ro->limits_given = true;
		}
		else if (strcmp(n, "validUntil") == 0)
		{
			rs->valid_until_text = strVal(def->arg);
			ro->limits_given = true;
		}
		else if (strcmp(n, "addroleto") == 0)
			ro->addroleto = (List *) def->arg;
		else if (strcmp(n, "rolemembers") == 0)
			ro->rolemembers = (List *) def->arg;
		else if (strcmp(n, "adminmembers") == 0)
			ro->adminmembers = (List *) def->arg;
	}
}

static void
jb_attrs(JsonBuf *jb, const char *key, const RoleState *rs)
{
	jb_obj_begin(jb, key);
	jb_bool(jb, "superuser", rs->superuser);
	jb_bool(jb, "createdb", rs->createdb);
	jb_bool(jb, "createrole", rs->createrole);
	jb_bool(jb, "replication", rs->replication);
	jb_bool(jb, "bypassrls", rs->bypassrls);
	jb_bool(jb, "login", rs->login);
	jb_bool(jb, "inherit", rs->inherit);
	jb_obj_end(jb);
}

/* "changed": names of the attributes that differ between a and b. */
static int
jb_changed_attrs(JsonBuf *jb, const RoleState *a, const RoleState *b, bool with_login)
{
	int			n = 0;

	jb_arr_begin(jb, "changed");
#define CHANGED(field, name) \
	if (a->field != b->field) { jb_arr_str(jb, name); n++; }
	CHANGED(superuser, "superuser");
	CHANGED(createdb, "createdb");
	CHANGED(createrole, "createrole");
	CHANGED(replication, "replication");
	CHANGED(bypassrls, "bypassrls");
	if (with_login)
		CHANGED(login, "login");
	CHANGED(inherit, "inherit");
#undef CHANGED
	jb_arr_end(jb);
	return n;
}

static bool
attrs_differ(const RoleState *a, const RoleState *b, bool with_login)
{
	return a->superuser != b->superuser || a->createdb != b->createdb ||
		a->createrole != b->createrole || a->replication != b->replication ||
		a->bypassrls != b->bypassrls || a->inherit != b->inherit ||
		(with_login && a->login != b->login);
}

static void
jb_limits(JsonBuf *jb, const char *key, const RoleState *rs)
{
	jb_obj_begin(jb, key);
	jb_int(jb, "connection_limit", rs->connlimit);
	if (rs->valid_until_text != NULL)
		jb_str(jb, "valid_until", rs->valid_until_text);
	else if (rs->has_valid_until)
	{
		char		buf[MAXDATELEN + 1];

		jb_str(jb, "valid_until",
			   JsonEncodeDateTime(buf, TimestampTzGetDatum(rs->valid_until),
								  TIMESTAMPTZOID, NULL));
	}
	else
		jb_null(jb, "valid_until");
	jb_obj_end(jb);
}

/*
 * Start an event of the command being built, or NULL when its category is
 * not captured.
 */
static AuditEvent *
new_event(AuditCategory category, const char *event_type, const char *object)
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
	return ev;
}

/* One GRANT_MEMBERSHIP / REVOKE_MEMBERSHIP event. */
static void
membership_event(bool grant, const char *team, const char *member,
				 bool admin, const char *grantor, bool cascade)
{
	AuditEvent *ev;
	JsonBuf		jb;

	ev = new_event(AL_CAT_TEAMS, grant ? "GRANT_MEMBERSHIP" : "REVOKE_MEMBERSHIP", team);
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_str(&jb, "team", team);
	jb_str(&jb, "member", member);
	if (grant)
		jb_bool(&jb, "admin_option", admin);
	else
	{
		jb_bool(&jb, "admin_option_only", admin);
		jb_bool(&jb, "cascade", cascade);
	}
	if (grantor != NULL)
		jb_str(&jb, "grantor", grantor);
	jb_finish(&jb, ev);
}

static void
password_event(const char *role, bool removed, const char *command)
{
	AuditEvent *ev;
	JsonBuf		jb;

	ev = new_event(AL_CAT_ACCESS_SIGMA, "PASSWORD_CHANGE", role);
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_str(&jb, "role", role);
	jb_str(&jb, "action", removed ? "removed" : "set");
	jb_str(&jb, "command", command);
	jb_finish(&jb, ev);
}

/*
 * CREATE ROLE / USER / GROUP.  A role that can log in is a user, any other
 * a team.  Attributes that differ from the defaults also give
 * CHANGE_ROLE_ATTRIBUTES (before: null), a password PASSWORD_CHANGE, and
 * IN ROLE / ROLE / ADMIN one GRANT_MEMBERSHIP per pair.
 */
static void
build_create_role(CreateRoleStmt *stmt)
{
	RoleState	defaults;
	RoleState	after;
	RoleOptions ro;
	AuditEvent *ev;
	JsonBuf		jb;
	ListCell   *lc;

	memset(&defaults, 0, sizeof(RoleState));
	defaults.inherit = true;
	defaults.connlimit = -1;
	defaults.login = (stmt->stmt_type == ROLESTMT_USER);
	after = defaults;
	role_apply_options(stmt->options, &after, &ro);

	if (after.login)
		ev = new_event(AL_CAT_USER_ACCOUNTS, "CREATE_USER", stmt->role);
	else
		ev = new_event(AL_CAT_TEAMS, "CREATE_TEAM", stmt->role);
	if (ev != NULL)
	{
		jb_init(&jb);
		jb_str(&jb, "role", stmt->role);
		jb_attrs(&jb, "attributes", &after);
		jb_limits(&jb, "limits", &after);
		jb_bool(&jb, "password_set", ro.password_given && !ro.password_null);
		if (ro.addroleto != NIL)
			jb_rolespecs(&jb, "member_of", ro.addroleto);
		if (ro.rolemembers != NIL)
			jb_rolespecs(&jb, "members", ro.rolemembers);
		if (ro.adminmembers != NIL)
			jb_rolespecs(&jb, "admins", ro.adminmembers);
		jb_finish(&jb, ev);
	}

	if (attrs_differ(&defaults, &after, false))
	{
		ev = new_event(AL_CAT_ACCOUNT_TYPES, "CHANGE_ROLE_ATTRIBUTES", stmt->role);
		if (ev != NULL)
		{
			jb_init(&jb);
			jb_str(&jb, "role", stmt->role);
			jb_str(&jb, "command", "CREATE ROLE");
			jb_null(&jb, "before");
			jb_attrs(&jb, "after", &after);
			jb_changed_attrs(&jb, &defaults, &after, false);
			jb_finish(&jb, ev);
		}
	}

	if (ro.password_given && !ro.password_null)
		password_event(stmt->role, false, "CREATE ROLE");

	foreach(lc, ro.addroleto)
		membership_event(true, rolespec_name((RoleSpec *) lfirst(lc)), stmt->role,
						 false, NULL, false);
	foreach(lc, ro.rolemembers)
		membership_event(true, stmt->role, rolespec_name((RoleSpec *) lfirst(lc)),
						 false, NULL, false);
	foreach(lc, ro.adminmembers)
		membership_event(true, stmt->role, rolespec_name((RoleSpec *) lfirst(lc)),
						 true, NULL, false);
}

/*
 * ALTER ROLE.  Attributes give CHANGE_ROLE_ATTRIBUTES with before and
 * after; a password PASSWORD_CHANGE; CONNECTION LIMIT and VALID UNTIL
 * ALTER_USER or ALTER_TEAM (by whether the role can log in afterwards);
 * ALTER GROUP ... ADD/DROP USER membership events.
 */
static void
build_alter_role(AlterRoleStmt *stmt)
{
	const char *name = rolespec_name(stmt->role);
	RoleState	before;
	RoleState	after;
	RoleOptions ro;
	AuditEvent *ev;
	JsonBuf		jb;
	ListCell   *lc;
	bool		is_user;

	role_lookup(name, &before);
	after = before;
	role_apply_options(stmt->options, &after, &ro);
	is_user = before.found ? after.login : true;

	/* ALTER GROUP name ADD/DROP USER ...: action says which */
	foreach(lc, ro.rolemembers)
		membership_event(stmt->action > 0, name,
						 rolespec_name((RoleSpec *) lfirst(lc)),
						 false, NULL, false);

	if (ro.attrs_given)
	{
		ev = new_event(AL_CAT_ACCOUNT_TYPES, "CHANGE_ROLE_ATTRIBUTES", name);
		if (ev != NULL)
		{
			jb_init(&jb);
			jb_str(&jb, "role", name);
			jb_str(&jb, "command", "ALTER ROLE");
			if (before.found)
				jb_attrs(&jb, "before", &before);
			else
				jb_null(&jb, "before");
			jb_attrs(&jb, "after", &after);
			jb_changed_attrs(&jb, &before, &after, true);
			jb_finish(&jb, ev);
		}
	}

	if (ro.password_given)
		password_event(name, ro.password_null, "ALTER ROLE");

	if (ro.limits_given)
	{
		if (is_user)
			ev = new_event(AL_CAT_USER_ACCOUNTS, "ALTER_USER", name);
		else
			ev = new_event(AL_CAT_TEAMS, "ALTER_TEAM", name);
		if (ev != NULL)
		{
			jb_init(&jb);
			jb_str(&jb, "role", name);
			if (before.found)
				jb_limits(&jb, "before", &before);
			else
				jb_null(&jb, "before");
			jb_limits(&jb, "after", &after);
			jb_finish(&jb, ev);
		}
	}
}

/* The value of SET name = value ... as text. */
static char *
setstmt_value(VariableSetStmt *set)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	foreach(lc, set->args)
	{
		Node	   *arg = (Node *) lfirst(lc);

		if (lc != list_head(set->args))
			appendStringInfoString(&s, ", ");
		if (IsA(arg, A_Const) && !((A_Const *) arg)->isnull)
		{
			Node	   *val = (Node *) &((A_Const *) arg)->val;

			if (IsA(val, Integer))
				appendStringInfo(&s, "%d", intVal(val));
			else if (IsA(val, Float))
				appendStringInfoString(&s, castNode(Float, val)->fval);
			else if (IsA(val, Boolean))
				appendStringInfoString(&s, boolVal(val) ? "true" : "false");
			else if (IsA(val, String))
				appendStringInfoString(&s, strVal(val));
			else
				appendStringInfoChar(&s, '?');
		}
		else
			appendStringInfoChar(&s, '?');
	}
	return s.data;
}

/* ALTER ROLE ... [IN DATABASE ...] SET / RESET: ALTER_USER or ALTER_TEAM. */
static void
build_alter_role_set(AlterRoleSetStmt *stmt)
{
	const char *name = stmt->role ? rolespec_name(stmt->role) : NULL;
	VariableSetStmt *set = stmt->setstmt;
	RoleState	rs;
	AuditEvent *ev;
	JsonBuf		jb;
	const char *action;

	role_lookup(name, &rs);
	if (name != NULL && rs.found && !rs.login)
		ev = new_event(AL_CAT_TEAMS, "ALTER_TEAM", name);
	else
		ev = new_event(AL_CAT_USER_ACCOUNTS, "ALTER_USER", name);
	if (ev == NULL)
		return;

	switch (set->kind)
	{
		case VAR_SET_VALUE:
			action = "set";
			break;
		case VAR_SET_DEFAULT:
			action = "set_default";
			break;
		case VAR_SET_CURRENT:
			action = "set_from_current";
			break;
		case VAR_RESET:
			action = "reset";
			break;
		case VAR_RESET_ALL:
			action = "reset_all";
			break;
		default:
			action = "other";
			break;
	}

	jb_init(&jb);
	jb_str(&jb, "role", name ? name : "ALL");
	if (stmt->database != NULL)
		jb_str(&jb, "database", stmt->database);
	if (set->name != NULL)
		jb_str(&jb, "setting", set->name);
	jb_str(&jb, "action", action);
	if (set->kind == VAR_SET_VALUE)
	{
		if (secret_name(set->name))
			jb_str(&jb, "value", AL_REDACTED);
		else
		{
			char	   *val = setstmt_value(set);

			jb_str(&jb, "value", secret_value(val) ? AL_REDACTED : val);
		}
	}
	jb_finish(&jb, ev);
}

/* DROP ROLE: DROP_USER or DROP_TEAM per role, as the role was. */
static void
build_drop_role(DropRoleStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		const char *name = rolespec_name((RoleSpec *) lfirst(lc));
		RoleState	rs;
		AuditEvent *ev;
		JsonBuf		jb;

		role_lookup(name, &rs);
		if (!rs.found && stmt->missing_ok)
			continue;			/* IF EXISTS on a missing role: nothing done */
		if (rs.found && !rs.login)
			ev = new_event(AL_CAT_TEAMS, "DROP_TEAM", name);
		else
			ev = new_event(AL_CAT_USER_ACCOUNTS, "DROP_USER", name);
		if (ev == NULL)
			continue;
		jb_init(&jb);
		jb_str(&jb, "role", name);
		if (rs.found)
			jb_attrs(&jb, "attributes", &rs);
		else
			jb_null(&jb, "attributes");
		jb_finish(&jb, ev);
	}
}

/* ALTER ROLE ... RENAME TO: RENAME_USER or RENAME_TEAM. */
static void
build_rename_role(RenameStmt *stmt)
{
	RoleState	rs;
	AuditEvent *ev;
	JsonBuf		jb;

	role_lookup(stmt->subname, &rs);
	if (rs.found && !rs.login)
		ev = new_event(AL_CAT_TEAMS, "RENAME_TEAM", stmt->subname);
	else
		ev = new_event(AL_CAT_USER_ACCOUNTS, "RENAME_USER", stmt->subname);
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_str(&jb, "old_name", stmt->subname);
	jb_str(&jb, "new_name", stmt->newname);
	jb_finish(&jb, ev);
}

/* GRANT / REVOKE role TO / FROM role: one event per (team, member). */
static void
build_grant_role(GrantRoleStmt *stmt)
{
	ListCell   *lr;
	ListCell   *lm;
	const char *grantor = rolespec_name(stmt->grantor);

	foreach(lr, stmt->granted_roles)
	{
		AccessPriv *priv = (AccessPriv *) lfirst(lr);

		foreach(lm, stmt->grantee_roles)
			membership_event(stmt->is_grant, priv->priv_name,
							 rolespec_name((RoleSpec *) lfirst(lm)),
							 al_grant_role_admin_opt(stmt), grantor,
							 stmt->behavior == DROP_CASCADE);
	}
}

/* GRANT / REVOKE privileges ON objects: one event per command. */
static void
build_grant(GrantStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;
	List	   *names = NIL;
	ListCell   *lc;
	bool		in_schema = (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA);

	foreach(lc, stmt->objects)
		names = lappend(names, object_text((Node *) lfirst(lc)));

	ev = new_event(AL_CAT_ACCOUNT_TYPES,
				   stmt->is_grant ? "GRANT_PRIVILEGE" : "REVOKE_PRIVILEGE",
				   join_names(names));
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_str(&jb, "object_type", objtype_text(stmt->objtype, in_schema));
	jb_str(&jb, "target", in_schema ? "all_in_schema" : "objects");
	jb_arr_begin(&jb, in_schema ? "schemas" : "objects");
	foreach(lc, names)
		jb_arr_str(&jb, (char *) lfirst(lc));
	jb_arr_end(&jb);
	jb_privileges(&jb, stmt->privileges);
	jb_rolespecs(&jb, "grantees", stmt->grantees);
	if (stmt->is_grant)
		jb_bool(&jb, "with_grant_option", stmt->grant_option);
	else
	{
		jb_bool(&jb, "grant_option_only", stmt->grant_option);
		jb_bool(&jb, "cascade", stmt->behavior == DROP_CASCADE);
	}
	if (stmt->grantor != NULL)
		jb_str(&jb, "grantor", rolespec_name(stmt->grantor));
	jb_finish(&jb, ev);
}

/* The names of a list of RoleSpecs. */
static List *
rolespec_names(List *specs)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, specs)
		names = lappend(names, (char *) rolespec_name((RoleSpec *) lfirst(lc)));
	return names;
}

/*
 * DROP OWNED BY roles (drops the objects the roles own in this database and
 * revokes every privilege granted to them here), or, with new_owner,
 * REASSIGN OWNED BY roles TO new_owner (ownership moves in this database).
 */
static void
build_owned(const char *event_type, List *roles, RoleSpec *new_owner,
			DropBehavior behavior)
{
	AuditEvent *ev;
	JsonBuf		jb;

	ev = new_event(AL_CAT_ACCOUNT_TYPES, event_type, join_names(rolespec_names(roles)));
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_rolespecs(&jb, "roles", roles);
	if (new_owner != NULL)
		jb_str(&jb, "new_owner", rolespec_name(new_owner));
	else
		jb_bool(&jb, "cascade", behavior == DROP_CASCADE);
	jb_finish(&jb, ev);
}

/* ALTER DEFAULT PRIVILEGES [FOR ROLE ...] [IN SCHEMA ...] GRANT/REVOKE. */
static void
build_default_privileges(AlterDefaultPrivilegesStmt *stmt)
{
	GrantStmt  *action = stmt->action;
	List	   *schemas = NIL;
	List	   *roles = NIL;
	List	   *schema_names = NIL;
	ListCell   *lc;
	AuditEvent *ev;
	JsonBuf		jb;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "schemas") == 0)
			schemas = (List *) def->arg;
		else if (strcmp(def->defname, "roles") == 0)
			roles = (List *) def->arg;
	}
	foreach(lc, schemas)
		schema_names = lappend(schema_names, strVal(lfirst(lc)));

	ev = new_event(AL_CAT_ACCOUNT_TYPES, "ALTER_DEFAULT_PRIVILEGES",
				   schema_names ? join_names(schema_names) : NULL);
	if (ev == NULL)
		return;
	jb_init(&jb);
	jb_str(&jb, "action", action->is_grant ? "GRANT" : "REVOKE");
	jb_str(&jb, "object_type", objtype_text(action->objtype, true));
	if (schema_names != NIL)
	{
		jb_arr_begin(&jb, "schemas");
		foreach(lc, schema_names)
			jb_arr_str(&jb, (char *) lfirst(lc));
		jb_arr_end(&jb);
	}
	if (roles != NIL)
		jb_rolespecs(&jb, "for_roles", roles);
	else
	{
		jb_arr_begin(&jb, "for_roles");
		jb_arr_str(&jb, acting_user);
		jb_arr_end(&jb);
	}
	jb_privileges(&jb, action->privileges);
	jb_rolespecs(&jb, "grantees", action->grantees);
	if (action->is_grant)
		jb_bool(&jb, "with_grant_option", action->grant_option);
	else
	{
		jb_bool(&jb, "grant_option_only", action->grant_option);
		jb_bool(&jb, "cascade", action->behavior == DROP_CASCADE);
	}
	jb_finish(&jb, ev);
}

/* ---------------------------------------------------------------------
 * Connections
 * ---------------------------------------------------------------------
 */

static AuditEvent *
connection_event(const char *event_type, const char *object, JsonBuf *jb)
{
	AuditEvent *ev = new_event(AL_CAT_CONNECTIONS, event_type, object);

	if (ev != NULL)
		jb_init(jb);
	return ev;
}

static void
build_create_server(CreateForeignServerStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;

	if (stmt->if_not_exists && GetForeignServerByName(stmt->servername, true) != NULL)
		return;					/* IF NOT EXISTS on an existing server */
	ev = connection_event("CREATE_SERVER", stmt->servername, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "server", stmt->servername);
	jb_str(&jb, "fdw", stmt->fdwname);
	if (stmt->servertype)
		jb_str(&jb, "type", stmt->servertype);
	if (stmt->version)
		jb_str(&jb, "version", stmt->version);
	jb_options(&jb, stmt->options);
	jb_finish(&jb, ev);
}

static void
build_alter_server(AlterForeignServerStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;

	ev = connection_event("ALTER_SERVER", stmt->servername, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "server", stmt->servername);
	if (stmt->has_version)
		jb_str(&jb, "version", stmt->version);
	jb_options(&jb, stmt->options);
	jb_finish(&jb, ev);
}

/* DROP SERVER / DROP FOREIGN DATA WRAPPER: one event per object. */
static void
build_drop_connection(DropStmt *stmt)
{
	bool		server = (stmt->removeType == OBJECT_FOREIGN_SERVER);
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));
		bool		exists;
		AuditEvent *ev;
		JsonBuf		jb;

		if (server)
			exists = GetForeignServerByName(name, true) != NULL;
		else
			exists = GetForeignDataWrapperByName(name, true) != NULL;
		if (!exists && stmt->missing_ok)
			continue;
		ev = connection_event(server ? "DROP_SERVER" : "DROP_FOREIGN_DATA_WRAPPER",
							  name, &jb);
		if (ev == NULL)
			continue;
		jb_str(&jb, server ? "server" : "fdw", name);
		jb_bool(&jb, "cascade", stmt->behavior == DROP_CASCADE);
		jb_finish(&jb, ev);
	}
}

/* Does the user mapping for (user, server) exist? */
static bool
user_mapping_exists(const char *user, const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, true);
	Oid			useroid;

	if (server == NULL)
		return false;
	if (strcmp(user, "PUBLIC") == 0)
		useroid = InvalidOid;
	else
	{
		useroid = get_role_oid(user, true);
		if (!OidIsValid(useroid))
			return false;
	}
	return SearchSysCacheExists2(USERMAPPINGUSERSERVER,
								 ObjectIdGetDatum(useroid),
								 ObjectIdGetDatum(server->serverid));
}

/*
 * CREATE / ALTER / DROP USER MAPPING; object_name is "user@server".  The
 * options are written with secrets (password) redacted.
 */
static void
build_user_mapping(const char *event_type, RoleSpec *userspec,
				   const char *servername, List *options, bool skip_if_exists,
				   bool skip_if_missing)
{
	const char *user = rolespec_name(userspec);
	AuditEvent *ev;
	JsonBuf		jb;
	char	   *object;

	if (skip_if_exists || skip_if_missing)
	{
		bool		exists = user_mapping_exists(user, servername);

		if ((skip_if_exists && exists) || (skip_if_missing && !exists))
			return;
	}
	object = psprintf("%s@%s", user, servername);
	ev = connection_event(event_type, object, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "user", user);
	jb_str(&jb, "server", servername);
	jb_options(&jb, options);
	jb_finish(&jb, ev);
}

/* CREATE / ALTER FOREIGN DATA WRAPPER. */
static void
build_fdw(const char *event_type, const char *fdwname, List *func_options,
		  List *options)
{
	AuditEvent *ev;
	JsonBuf		jb;
	ListCell   *lc;

	ev = connection_event(event_type, fdwname, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "fdw", fdwname);
	foreach(lc, func_options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->arg == NULL)
			jb_null(&jb, def->defname);
		else
			jb_str(&jb, def->defname, NameListToString((List *) def->arg));
	}
	jb_options(&jb, options);
	jb_finish(&jb, ev);
}

static void
jb_publications(JsonBuf *jb, List *publications)
{
	ListCell   *lc;

	if (publications == NIL)
		return;
	jb_arr_begin(jb, "publications");
	foreach(lc, publications)
		jb_arr_str(jb, strVal(lfirst(lc)));
	jb_arr_end(jb);
}

static void
build_create_subscription(CreateSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;

	ev = connection_event("CREATE_SUBSCRIPTION", stmt->subname, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "subscription", stmt->subname);
	jb_conninfo(&jb, stmt->conninfo);
	jb_publications(&jb, stmt->publication);
	jb_options(&jb, stmt->options);
	jb_finish(&jb, ev);
}

static void
build_alter_subscription(AlterSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;
	const char *action;

	switch (stmt->kind)
	{
		case ALTER_SUBSCRIPTION_OPTIONS:
			action = "set_options";
			break;
		case ALTER_SUBSCRIPTION_CONNECTION:
			action = "connection";
			break;
		case ALTER_SUBSCRIPTION_SET_PUBLICATION:
			action = "set_publication";
			break;
		case ALTER_SUBSCRIPTION_ADD_PUBLICATION:
			action = "add_publication";
			break;
		case ALTER_SUBSCRIPTION_DROP_PUBLICATION:
			action = "drop_publication";
			break;
		case ALTER_SUBSCRIPTION_REFRESH:
			action = "refresh_publication";
			break;
		case ALTER_SUBSCRIPTION_ENABLED:
			action = "enable_disable";
			break;
		case ALTER_SUBSCRIPTION_SKIP:
			action = "skip";
			break;
		default:
			action = "other";
			break;
	}
	ev = connection_event("ALTER_SUBSCRIPTION", stmt->subname, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "subscription", stmt->subname);
	jb_str(&jb, "action", action);
	jb_conninfo(&jb, stmt->conninfo);
	jb_publications(&jb, stmt->publication);
	jb_options(&jb, stmt->options);
	jb_finish(&jb, ev);
}

static void
build_drop_subscription(DropSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	JsonBuf		jb;

	if (stmt->missing_ok && !OidIsValid(get_subscription_oid(stmt->subname, true)))
		return;
	ev = connection_event("DROP_SUBSCRIPTION", stmt->subname, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, "subscription", stmt->subname);
	jb_bool(&jb, "cascade", stmt->behavior == DROP_CASCADE);
	jb_finish(&jb, ev);
}

/* ALTER SERVER / FOREIGN DATA WRAPPER / SUBSCRIPTION ... RENAME / OWNER. */
static void
build_connection_rename_owner(ObjectType type, const char *name,
							  const char *newname, RoleSpec *newowner)
{
	const char *event_type;
	const char *key;
	AuditEvent *ev;
	JsonBuf		jb;

	switch (type)
	{
		case OBJECT_FOREIGN_SERVER:
			event_type = "ALTER_SERVER";
			key = "server";
			break;
		case OBJECT_FDW:
			event_type = "ALTER_FOREIGN_DATA_WRAPPER";
			key = "fdw";
			break;
		default:
			event_type = "ALTER_SUBSCRIPTION";
			key = "subscription";
			break;
	}
	ev = connection_event(event_type, name, &jb);
	if (ev == NULL)
		return;
	jb_str(&jb, key, name);
	if (newname != NULL)
	{
		jb_str(&jb, "action", "rename");
		jb_str(&jb, "new_name", newname);
	}
	else
	{
		jb_str(&jb, "action", "owner");
		jb_str(&jb, "new_owner", rolespec_name(newowner));
	}
	jb_finish(&jb, ev);
}

static bool
is_connection_type(ObjectType type)
{
	return type == OBJECT_FOREIGN_SERVER || type == OBJECT_FDW ||
		type == OBJECT_SUBSCRIPTION;
}

/* ---------------------------------------------------------------------
 * Statement dispatch
 * ---------------------------------------------------------------------
 */

#define CAT(c) (1 << (c))

/*
 * The categories a statement can produce events in (0: not ours).  Cheap,
 * so that other statements pay nothing more than this switch.
 */
static int
statement_categories(Node *stmt)
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
			if (is_connection_type(((RenameStmt *) stmt)->renameType))
				return CAT(AL_CAT_CONNECTIONS);
			return 0;
		case T_AlterOwnerStmt:
			if (is_connection_type(((AlterOwnerStmt *) stmt)->objectType))
				return CAT(AL_CAT_CONNECTIONS);
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

/* Build the events of one statement into build_events. */
static void
build_statement(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateRoleStmt:
			build_create_role((CreateRoleStmt *) stmt);
			break;
		case T_AlterRoleStmt:
			build_alter_role((AlterRoleStmt *) stmt);
			break;
		case T_AlterRoleSetStmt:
			build_alter_role_set((AlterRoleSetStmt *) stmt);
			break;
		case T_DropRoleStmt:
			build_drop_role((DropRoleStmt *) stmt);
			break;
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;

				if (rs->renameType == OBJECT_ROLE)
					build_rename_role(rs);
				else
					build_connection_rename_owner(rs->renameType,
												  strVal(rs->object),
												  rs->newname, NULL);
			}
			break;
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *os = (AlterOwnerStmt *) stmt;

				build_connection_rename_owner(os->objectType,
											  strVal(os->object),
											  NULL, os->newowner);
			}
			break;
		case T_GrantRoleStmt:
			build_grant_role((GrantRoleStmt *) stmt);
			break;
		case T_GrantStmt:
			build_grant((GrantStmt *) stmt);
			break;
		case T_AlterDefaultPrivilegesStmt:
			build_default_privileges((AlterDefaultPrivilegesStmt *) stmt);
			break;
		case T_DropOwnedStmt:
			build_owned("DROP_OWNED", ((DropOwnedStmt *) stmt)->roles, NULL,
						((DropOwnedStmt *) stmt)->behavior);
			break;
		case T_ReassignOwnedStmt:
			build_owned("REASSIGN_OWNED", ((ReassignOwnedStmt *) stmt)->roles,
						((ReassignOwnedStmt *) stmt)->newrole, DROP_RESTRICT);
			break;
		case T_CreateForeignServerStmt:
			build_create_server((CreateForeignServerStmt *) stmt);
			break;
		case T_AlterForeignServerStmt:
			build_alter_server((AlterForeignServerStmt *) stmt);
			break;
		case T_DropStmt:
			build_drop_connection((DropStmt *) stmt);
			break;
		case T_CreateUserMappingStmt:
			{
				CreateUserMappingStmt *s = (CreateUserMappingStmt *) stmt;

				build_user_mapping("CREATE_USER_MAPPING", s->user, s->servername,
								   s->options, s->if_not_exists, false);
			}
			break;
		case T_AlterUserMappingStmt:
			{
				AlterUserMappingStmt *s = (AlterUserMappingStmt *) stmt;

				build_user_mapping("ALTER_USER_MAPPING", s->user, s->servername,
								   s->options, false, false);
			}
			break;
		case T_DropUserMappingStmt:
			{
				DropUserMappingStmt *s = (DropUserMappingStmt *) stmt;

				build_user_mapping("DROP_USER_MAPPING", s->user, s->servername,
								   NIL, false, s->missing_ok);
			}
			break;
		case T_CreateFdwStmt:
			{
				CreateFdwStmt *s = (CreateFdwStmt *) stmt;

				build_fdw("CREATE_FOREIGN_DATA_WRAPPER", s->fdwname,
						  s->func_options, s->options);
			}
			break;
		case T_AlterFdwStmt:
			{
				AlterFdwStmt *s = (AlterFdwStmt *) stmt;

				build_fdw("ALTER_FOREIGN_DATA_WRAPPER", s->fdwname,
						  s->func_options, s->options);
			}
			break;
		case T_CreateSubscriptionStmt:
			build_create_subscription((CreateSubscriptionStmt *) stmt);
			break;
		case T_AlterSubscriptionStmt:
			build_alter_subscription((AlterSubscriptionStmt *) stmt);
			break;
		case T_DropSubscriptionStmt:
			build_drop_subscription((DropSubscriptionStmt *) stmt);
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

		jb_max_items = max_items[level];
		jb_max_str = max_str[level];
		build_events = NIL;
		build_overflow = false;
		build_statement(stmt);
		if (!build_overflow)
			break;
	}
	jb_max_items = INT_MAX;
	jb_max_str = 1024;

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

/* The reason of a rollback without an error of its own. */
static const char *
rollback_reason(void)
{
	return last_error_code != 0 ? unpack_sql_state(last_error_code) : "ROLLBACK";
}

/* ---------------------------------------------------------------------
 * Hooks and callbacks
 * ---------------------------------------------------------------------
 */

/*
 * Top-level end: every pending event goes to the queue with the outcome.
 * Must not raise an error (it runs after the commit record is written).
 */
static void
al_xact_callback(XactEvent event, void *arg)
{
	int			i;
	bool		success;
	const char *reason;

	switch (event)
	{
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
		pending_send(&pending[i], success, reason);
	npending = 0;
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
static void
al_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;
	int			kept;

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
static void
al_emit_log(ErrorData *edata)
{
	if (edata->elevel >= ERROR)
		last_error_code = edata->sqlerrcode;
	else if (edata->elevel == WARNING && running_stmt_id != 0 &&
			 (edata->sqlerrcode == ERRCODE_WARNING_PRIVILEGE_NOT_GRANTED ||
			  edata->sqlerrcode == ERRCODE_WARNING_PRIVILEGE_NOT_REVOKED))
		pending_mark_warning(running_stmt_id, edata);
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Run the rest of the utility chain. */
static void
call_next(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		  ProcessUtilityContext context, ParamListInfo params,
		  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
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

	if (IsUnderPostmaster &&
		(statement_categories(stmt) & al_capture_mask) != 0)
		stmt_id = capture_statement(stmt);

	if (stmt_id == 0)
	{
		call_next(pstmt, queryString, readOnlyTree, context, params,
				  queryEnv, dest, qc);
		return;
	}

	outer_stmt_id = running_stmt_id;
	running_stmt_id = stmt_id;
	PG_TRY();
	{
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
 * Install the hook and callbacks.  Called from _PG_init when the library
 * is preloaded: the pending list must exist in every backend from the
 * start, and the events need the shared-memory queue.
 */
void
al_capture_utility_init(void)
{
	al_pending_cxt = AllocSetContextCreate(TopMemoryContext,
										   "audit_log pending admin events",
										   ALLOCSET_SMALL_SIZES);
	al_build_cxt = AllocSetContextCreate(TopMemoryContext,
										 "audit_log admin event build",
										 ALLOCSET_DEFAULT_SIZES);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = al_ProcessUtility;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = al_emit_log;

	RegisterXactCallback(al_xact_callback, NULL);
	RegisterSubXactCallback(al_subxact_callback, NULL);
}
