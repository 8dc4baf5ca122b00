/*-------------------------------------------------------------------------
 *
 * admin_roles.c
 *		The events of role commands, built by the administrative capture
 *		(capture_admin.c) before the command runs: CREATE / ALTER / DROP /
 *		RENAME ROLE (USER_ACCOUNTS for roles that can log in, TEAMS for the
 *		others), role attributes (ACCOUNT_TYPES CHANGE_ROLE_ATTRIBUTES),
 *		passwords (ACCESS_SIGMA PASSWORD_CHANGE, never the password),
 *		ALTER ROLE ... SET, memberships (TEAMS GRANT_MEMBERSHIP /
 *		REVOKE_MEMBERSHIP), and privileges: GRANT / REVOKE, ALTER DEFAULT
 *		PRIVILEGES, DROP OWNED and REASSIGN OWNED (ACCOUNT_TYPES).
 *
 * "before" values are read from the catalogs (the command has not run
 * yet); "after" values are the catalog state overlaid with the command's
 * options, which role_options maps to the fields they set.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stddef.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_largeobject_metadata.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "admin_internal.h"
#include "compat.h"
#include "redact.h"

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

/*
 * The role attributes, in the order entry_data lists them, with the field
 * of RoleState that holds each.
 */
typedef struct RoleAttr
{
	const char *name;			/* as entry_data names it */
	size_t		field;			/* offset of its bool in RoleState */
} RoleAttr;

static const RoleAttr role_attrs[] = {
	{"superuser", offsetof(RoleState, superuser)},
	{"createdb", offsetof(RoleState, createdb)},
	{"createrole", offsetof(RoleState, createrole)},
	{"replication", offsetof(RoleState, replication)},
	{"bypassrls", offsetof(RoleState, bypassrls)},
	{"login", offsetof(RoleState, login)},
	{"inherit", offsetof(RoleState, inherit)},
};

#define ROLE_ATTR(rs, attr) (*(const bool *) ((const char *) (rs) + (attr)->field))

/* What an option of CREATE ROLE / ALTER ROLE sets. */
typedef enum RoleOptionKind
{
	ROLEOPT_PASSWORD,			/* PASSWORD 'x' or PASSWORD NULL */
	ROLEOPT_ATTR,				/* a bool of RoleState */
	ROLEOPT_CONNLIMIT,			/* CONNECTION LIMIT n */
	ROLEOPT_VALID_UNTIL,		/* VALID UNTIL 'time' */
	ROLEOPT_ROLES				/* a List * of RoleSpec in RoleOptions */
} RoleOptionKind;

typedef struct RoleOption
{
	const char *defname;		/* the DefElem name the grammar gives */
	RoleOptionKind kind;
	size_t		field;			/* ROLEOPT_ATTR: offset in RoleState;
								 * ROLEOPT_ROLES: offset in RoleOptions */
} RoleOption;

/* The options we record, sorted by defname (strcmp) for bsearch. */
static const RoleOption role_options[] = {
	{"addroleto", ROLEOPT_ROLES, offsetof(RoleOptions, addroleto)},
	{"adminmembers", ROLEOPT_ROLES, offsetof(RoleOptions, adminmembers)},
	{"bypassrls", ROLEOPT_ATTR, offsetof(RoleState, bypassrls)},
	{"canlogin", ROLEOPT_ATTR, offsetof(RoleState, login)},
	{"connectionlimit", ROLEOPT_CONNLIMIT, 0},
	{"createdb", ROLEOPT_ATTR, offsetof(RoleState, createdb)},
	{"createrole", ROLEOPT_ATTR, offsetof(RoleState, createrole)},
	{"inherit", ROLEOPT_ATTR, offsetof(RoleState, inherit)},
	{"isreplication", ROLEOPT_ATTR, offsetof(RoleState, replication)},
	{"password", ROLEOPT_PASSWORD, 0},
	{"rolemembers", ROLEOPT_ROLES, offsetof(RoleOptions, rolemembers)},
	{"superuser", ROLEOPT_ATTR, offsetof(RoleState, superuser)},
	{"validUntil", ROLEOPT_VALID_UNTIL, 0},
};

static int
role_option_cmp(const void *key, const void *entry)
{
	return strcmp((const char *) key, ((const RoleOption *) entry)->defname);
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
		const RoleOption *opt;

		opt = bsearch(def->defname, role_options, lengthof(role_options),
					  sizeof(RoleOption), role_option_cmp);
		if (opt == NULL)
			continue;			/* SYSID and the like: nothing to record */
		switch (opt->kind)
		{
			case ROLEOPT_PASSWORD:
				ro->password_given = true;
				ro->password_null = (def->arg == NULL);
				break;
			case ROLEOPT_ATTR:
				*(bool *) ((char *) rs + opt->field) = boolVal(def->arg);
				ro->attrs_given = true;
				break;
			case ROLEOPT_CONNLIMIT:
				rs->connlimit = intVal(def->arg);
				ro->limits_given = true;
				break;
			case ROLEOPT_VALID_UNTIL:
				rs->valid_until_text = strVal(def->arg);
				ro->limits_given = true;
				break;
			case ROLEOPT_ROLES:
				*(List **) ((char *) ro + opt->field) = (List *) def->arg;
				break;
		}
	}
}

/* "key": {every attribute: true or false}. */
static void
json_attrs(AlJson *js, const char *key, const RoleState *rs)
{
	int			i;

	al_json_obj_begin(js, key);
	for (i = 0; i < lengthof(role_attrs); i++)
		al_json_bool(js, role_attrs[i].name, ROLE_ATTR(rs, &role_attrs[i]));
	al_json_obj_end(js);
}

/* Does an attribute differ between a and b (login only when asked)? */
static bool
attr_differs(const RoleAttr *attr, const RoleState *a, const RoleState *b,
			 bool with_login)
{
	if (!with_login && strcmp(attr->name, "login") == 0)
		return false;
	return ROLE_ATTR(a, attr) != ROLE_ATTR(b, attr);
}

/* "changed": names of the attributes that differ between a and b. */
static void
json_changed_attrs(AlJson *js, const RoleState *a, const RoleState *b, bool with_login)
{
	int			i;

	al_json_arr_begin(js, "changed");
	for (i = 0; i < lengthof(role_attrs); i++)
	{
		if (attr_differs(&role_attrs[i], a, b, with_login))
			al_json_arr_str(js, role_attrs[i].name);
	}
	al_json_arr_end(js);
}

static bool
attrs_differ(const RoleState *a, const RoleState *b, bool with_login)
{
	int			i;

	for (i = 0; i < lengthof(role_attrs); i++)
	{
		if (attr_differs(&role_attrs[i], a, b, with_login))
			return true;
	}
	return false;
}

static void
json_limits(AlJson *js, const char *key, const RoleState *rs)
{
	al_json_obj_begin(js, key);
	al_json_int(js, "connection_limit", rs->connlimit);
	if (rs->valid_until_text != NULL)
		al_json_str(js, "valid_until", rs->valid_until_text);
	else if (rs->has_valid_until)
	{
		char		buf[MAXDATELEN + 1];

		al_json_str(js, "valid_until",
			   JsonEncodeDateTime(buf, TimestampTzGetDatum(rs->valid_until),
								  TIMESTAMPTZOID, NULL));
	}
	else
		al_json_null(js, "valid_until");
	al_json_obj_end(js);
}

/* One GRANT_MEMBERSHIP / REVOKE_MEMBERSHIP event. */
static void
membership_event(bool grant, const char *team, const char *member,
				 bool admin, const char *grantor, bool cascade)
{
	AuditEvent *ev;
	AlJson		js;

	ev = al_admin_event(AL_CAT_TEAMS, grant ? "GRANT_MEMBERSHIP" : "REVOKE_MEMBERSHIP", team, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "team", team);
	al_json_str(&js, "member", member);
	if (grant)
		al_json_bool(&js, "admin_option", admin);
	else
	{
		al_json_bool(&js, "admin_option_only", admin);
		al_json_bool(&js, "cascade", cascade);
	}
	if (grantor != NULL)
		al_json_str(&js, "grantor", grantor);
	al_admin_event_done(ev, &js);
}

static void
password_event(const char *role, bool removed, const char *command)
{
	AuditEvent *ev;
	AlJson		js;

	ev = al_admin_event(AL_CAT_ACCESS_SIGMA, "PASSWORD_CHANGE", role, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "role", role);
	al_json_str(&js, "action", removed ? "removed" : "set");
	al_json_str(&js, "command", command);
	al_admin_event_done(ev, &js);
}

/*
 * CREATE ROLE / USER / GROUP.  A role that can log in is a user, any other
 * a team.  Attributes that differ from the defaults also give
 * CHANGE_ROLE_ATTRIBUTES (before: null), a password PASSWORD_CHANGE, and
 * IN ROLE / ROLE / ADMIN one GRANT_MEMBERSHIP per pair.
 */
void
al_admin_create_role(CreateRoleStmt *stmt)
{
	RoleState	defaults;
	RoleState	after;
	RoleOptions ro;
	AuditEvent *ev;
	AlJson		js;
	ListCell   *lc;

	memset(&defaults, 0, sizeof(RoleState));
	defaults.inherit = true;
	defaults.connlimit = -1;
	defaults.login = (stmt->stmt_type == ROLESTMT_USER);
	after = defaults;
	role_apply_options(stmt->options, &after, &ro);

	if (after.login)
		ev = al_admin_event(AL_CAT_USER_ACCOUNTS, "CREATE_USER", stmt->role, &js);
	else
		ev = al_admin_event(AL_CAT_TEAMS, "CREATE_TEAM", stmt->role, &js);
	if (ev != NULL)
	{
		al_json_str(&js, "role", stmt->role);
		json_attrs(&js, "attributes", &after);
		json_limits(&js, "limits", &after);
		al_json_bool(&js, "password_set", ro.password_given && !ro.password_null);
		if (ro.addroleto != NIL)
			al_admin_json_rolespecs(&js, "member_of", ro.addroleto);
		if (ro.rolemembers != NIL)
			al_admin_json_rolespecs(&js, "members", ro.rolemembers);
		if (ro.adminmembers != NIL)
			al_admin_json_rolespecs(&js, "admins", ro.adminmembers);
		al_admin_event_done(ev, &js);
	}

	if (attrs_differ(&defaults, &after, false))
	{
		ev = al_admin_event(AL_CAT_ACCOUNT_TYPES, "CHANGE_ROLE_ATTRIBUTES", stmt->role, &js);
		if (ev != NULL)
		{
			al_json_str(&js, "role", stmt->role);
			al_json_str(&js, "command", "CREATE ROLE");
			al_json_null(&js, "before");
			json_attrs(&js, "after", &after);
			json_changed_attrs(&js, &defaults, &after, false);
			al_admin_event_done(ev, &js);
		}
	}

	if (ro.password_given && !ro.password_null)
		password_event(stmt->role, false, "CREATE ROLE");

	foreach(lc, ro.addroleto)
		membership_event(true, al_admin_rolespec_name((RoleSpec *) lfirst(lc)), stmt->role,
						 false, NULL, false);
	foreach(lc, ro.rolemembers)
		membership_event(true, stmt->role, al_admin_rolespec_name((RoleSpec *) lfirst(lc)),
						 false, NULL, false);
	foreach(lc, ro.adminmembers)
		membership_event(true, stmt->role, al_admin_rolespec_name((RoleSpec *) lfirst(lc)),
						 true, NULL, false);
}

/*
 * ALTER ROLE.  Attributes give CHANGE_ROLE_ATTRIBUTES with before and
 * after; a password PASSWORD_CHANGE; CONNECTION LIMIT and VALID UNTIL
 * ALTER_USER or ALTER_TEAM (by whether the role can log in afterwards);
 * ALTER GROUP ... ADD/DROP USER membership events.
 */
void
al_admin_alter_role(AlterRoleStmt *stmt)
{
	const char *name = al_admin_rolespec_name(stmt->role);
	RoleState	before;
	RoleState	after;
	RoleOptions ro;
	AuditEvent *ev;
	AlJson		js;
	ListCell   *lc;
	bool		is_user;

	role_lookup(name, &before);
	after = before;
	role_apply_options(stmt->options, &after, &ro);
	is_user = before.found ? after.login : true;

	/* ALTER GROUP name ADD/DROP USER ...: action says which */
	foreach(lc, ro.rolemembers)
		membership_event(stmt->action > 0, name,
						 al_admin_rolespec_name((RoleSpec *) lfirst(lc)),
						 false, NULL, false);

	if (ro.attrs_given)
	{
		ev = al_admin_event(AL_CAT_ACCOUNT_TYPES, "CHANGE_ROLE_ATTRIBUTES", name, &js);
		if (ev != NULL)
		{
			al_json_str(&js, "role", name);
			al_json_str(&js, "command", "ALTER ROLE");
			if (before.found)
				json_attrs(&js, "before", &before);
			else
				al_json_null(&js, "before");
			json_attrs(&js, "after", &after);
			json_changed_attrs(&js, &before, &after, true);
			al_admin_event_done(ev, &js);
		}
	}

	if (ro.password_given)
		password_event(name, ro.password_null, "ALTER ROLE");

	if (ro.limits_given)
	{
		if (is_user)
			ev = al_admin_event(AL_CAT_USER_ACCOUNTS, "ALTER_USER", name, &js);
		else
			ev = al_admin_event(AL_CAT_TEAMS, "ALTER_TEAM", name, &js);
		if (ev != NULL)
		{
			al_json_str(&js, "role", name);
			if (before.found)
				json_limits(&js, "before", &before);
			else
				al_json_null(&js, "before");
			json_limits(&js, "after", &after);
			al_admin_event_done(ev, &js);
		}
	}
}

/* ALTER ROLE ... [IN DATABASE ...] SET / RESET: ALTER_USER or ALTER_TEAM. */
void
al_admin_alter_role_set(AlterRoleSetStmt *stmt)
{
	const char *name = stmt->role ? al_admin_rolespec_name(stmt->role) : NULL;
	VariableSetStmt *set = stmt->setstmt;
	RoleState	rs;
	AuditEvent *ev;
	AlJson		js;
	const char *action;

	role_lookup(name, &rs);
	if (name != NULL && rs.found && !rs.login)
		ev = al_admin_event(AL_CAT_TEAMS, "ALTER_TEAM", name, &js);
	else
		ev = al_admin_event(AL_CAT_USER_ACCOUNTS, "ALTER_USER", name, &js);
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

	al_json_str(&js, "role", name ? name : "ALL");
	if (stmt->database != NULL)
		al_json_str(&js, "database", stmt->database);
	if (set->name != NULL)
		al_json_str(&js, "setting", set->name);
	al_json_str(&js, "action", action);
	if (set->kind == VAR_SET_VALUE)
	{
		char	   *val = al_admin_setstmt_value(set);

		al_json_str(&js, "value",
					al_redact_option_hidden(set->name, val) ? AL_REDACTED : val);
	}
	al_admin_event_done(ev, &js);
}

/* DROP ROLE: DROP_USER or DROP_TEAM per role, as the role was. */
void
al_admin_drop_role(DropRoleStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		const char *name = al_admin_rolespec_name((RoleSpec *) lfirst(lc));
		RoleState	rs;
		AuditEvent *ev;
		AlJson		js;

		role_lookup(name, &rs);
		if (!rs.found && stmt->missing_ok)
			continue;			/* IF EXISTS on a missing role: nothing done */
		if (rs.found && !rs.login)
			ev = al_admin_event(AL_CAT_TEAMS, "DROP_TEAM", name, &js);
		else
			ev = al_admin_event(AL_CAT_USER_ACCOUNTS, "DROP_USER", name, &js);
		if (ev == NULL)
			continue;
		al_json_str(&js, "role", name);
		if (rs.found)
			json_attrs(&js, "attributes", &rs);
		else
			al_json_null(&js, "attributes");
		al_admin_event_done(ev, &js);
	}
}

/* ALTER ROLE ... RENAME TO: RENAME_USER or RENAME_TEAM. */
void
al_admin_rename_role(RenameStmt *stmt)
{
	RoleState	rs;
	AuditEvent *ev;
	AlJson		js;

	role_lookup(stmt->subname, &rs);
	if (rs.found && !rs.login)
		ev = al_admin_event(AL_CAT_TEAMS, "RENAME_TEAM", stmt->subname, &js);
	else
		ev = al_admin_event(AL_CAT_USER_ACCOUNTS, "RENAME_USER", stmt->subname, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "old_name", stmt->subname);
	al_json_str(&js, "new_name", stmt->newname);
	al_admin_event_done(ev, &js);
}

/* GRANT / REVOKE role TO / FROM role: one event per (team, member). */
void
al_admin_grant_role(GrantRoleStmt *stmt)
{
	ListCell   *lr;
	ListCell   *lm;
	const char *grantor = al_admin_rolespec_name(stmt->grantor);

	foreach(lr, stmt->granted_roles)
	{
		AccessPriv *priv = (AccessPriv *) lfirst(lr);

		foreach(lm, stmt->grantee_roles)
			membership_event(stmt->is_grant, priv->priv_name,
							 al_admin_rolespec_name((RoleSpec *) lfirst(lm)),
							 al_grant_role_admin_opt(stmt), grantor,
							 stmt->behavior == DROP_CASCADE);
	}
}

/*
 * What a GRANT / REVOKE of privileges (or the action of ALTER DEFAULT
 * PRIVILEGES) gives or takes, and to whom.
 */
static void
json_grant_what(AlJson *js, GrantStmt *stmt)
{
	al_admin_json_privileges(js, stmt->privileges);
	al_admin_json_rolespecs(js, "grantees", stmt->grantees);
	if (stmt->is_grant)
		al_json_bool(js, "with_grant_option", stmt->grant_option);
	else
	{
		al_json_bool(js, "grant_option_only", stmt->grant_option);
		al_json_bool(js, "cascade", stmt->behavior == DROP_CASCADE);
	}
}

/* GRANT / REVOKE privileges ON objects: one event per command. */
void
al_admin_grant(GrantStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;
	List	   *names = NIL;
	ListCell   *lc;
	bool		in_schema = (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA);

	foreach(lc, stmt->objects)
		names = lappend(names, al_admin_object_text((Node *) lfirst(lc)));

	ev = al_admin_event(AL_CAT_ACCOUNT_TYPES,
				   stmt->is_grant ? "GRANT_PRIVILEGE" : "REVOKE_PRIVILEGE",
				   al_admin_join_names(names), &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "object_type", al_admin_objtype_text(stmt->objtype, in_schema));
	al_json_str(&js, "target", in_schema ? "all_in_schema" : "objects");
	al_admin_json_names(&js, in_schema ? "schemas" : "objects", names);
	json_grant_what(&js, stmt);
	if (stmt->grantor != NULL)
		al_json_str(&js, "grantor", al_admin_rolespec_name(stmt->grantor));
	al_admin_event_done(ev, &js);
}

/*
 * DROP OWNED BY roles (drops the objects the roles own in this database and
 * revokes every privilege granted to them here), or, with new_owner,
 * REASSIGN OWNED BY roles TO new_owner (ownership moves in this database).
 */
void
al_admin_owned(const char *event_type, List *roles, RoleSpec *new_owner,
			DropBehavior behavior)
{
	AuditEvent *ev;
	AlJson		js;

	ev = al_admin_event(AL_CAT_ACCOUNT_TYPES, event_type, al_admin_join_names(al_admin_rolespec_names(roles)), &js);
	if (ev == NULL)
		return;
	al_admin_json_rolespecs(&js, "roles", roles);
	if (new_owner != NULL)
		al_json_str(&js, "new_owner", al_admin_rolespec_name(new_owner));
	else
		al_json_bool(&js, "cascade", behavior == DROP_CASCADE);
	al_admin_event_done(ev, &js);
}

/* ALTER DEFAULT PRIVILEGES [FOR ROLE ...] [IN SCHEMA ...] GRANT/REVOKE. */
void
al_admin_default_privileges(AlterDefaultPrivilegesStmt *stmt)
{
	GrantStmt  *action = stmt->action;
	List	   *schemas = NIL;
	List	   *roles = NIL;
	List	   *schema_names = NIL;
	ListCell   *lc;
	AuditEvent *ev;
	AlJson		js;

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

	ev = al_admin_event(AL_CAT_ACCOUNT_TYPES, "ALTER_DEFAULT_PRIVILEGES",
				   schema_names ? al_admin_join_names(schema_names) : NULL, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "action", action->is_grant ? "GRANT" : "REVOKE");
	al_json_str(&js, "object_type", al_admin_objtype_text(action->objtype, true));
	if (schema_names != NIL)
		al_admin_json_names(&js, "schemas", schema_names);
	if (roles != NIL)
		al_admin_json_rolespecs(&js, "for_roles", roles);
	else
		al_admin_json_names(&js, "for_roles",
							list_make1((char *) al_admin_acting_user()));
	json_grant_what(&js, action);
	al_admin_event_done(ev, &js);
}

/*
 * The roles of audit_log that only a superuser may hand out: through them a
 * role reads the whole trail (reader), writes application events (writer),
 * or runs exports, retention and seals and unschedules maintenance
 * (admin).  PostgreSQL 15 lets any CREATEROLE role grant any non-superuser
 * role, itself included, so the extension refuses the GRANT itself.
 */
static const char *const guarded_roles[] = {
	"audit_log_reader", "audit_log_writer", "audit_log_admin"
};

/*
 * Did role receive ADMIN OPTION on roleid directly from a superuser?
 */
static bool
admin_option_from_superuser(Oid roleid, Oid member)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	rel = table_open(AuthMemRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_auth_members_roleid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(roleid));
	scan = systable_beginscan(rel, AuthMemRoleMemIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_auth_members m = (Form_pg_auth_members) GETSTRUCT(tup);

		if (m->member == member && m->admin_option && superuser_arg(m->grantor))
			found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Refuse a GRANT of one of audit_log's roles by a role that is neither a
 * superuser nor holds ADMIN OPTION on it from a superuser.  Called by the
 * utility hook just before the command runs (inside its error handling, so
 * that the captured GRANT_MEMBERSHIP becomes FAILURE 42501).
 */
void
al_admin_guard_grant_role(GrantRoleStmt *stmt)
{
	ListCell   *lr;
	Oid			me = GetUserId();

	if (!stmt->is_grant || superuser())
		return;
	foreach(lr, stmt->granted_roles)
	{
		AccessPriv *priv = (AccessPriv *) lfirst(lr);
		Oid			roleid;
		int			i;

		if (priv->priv_name == NULL)
			continue;
		for (i = 0; i < lengthof(guarded_roles); i++)
			if (strcmp(priv->priv_name, guarded_roles[i]) == 0)
				break;
		if (i == lengthof(guarded_roles))
			continue;
		roleid = get_role_oid(priv->priv_name, true);
		if (!OidIsValid(roleid) || admin_option_from_superuser(roleid, me))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to grant role \"%s\"", priv->priv_name),
				 errdetail("Only superusers, and roles a superuser gave ADMIN OPTION on it, may grant the roles of audit_log."),
				 errhint("Ask a superuser to run the GRANT.")));
	}
}

/*
 * The owner of an object, or InvalidOid when it cannot be found.
 */
static Oid
object_owner(const ObjectAddress *addr)
{
	Oid			classId = addr->classId;
	AttrNumber	owner_att;
	Relation	catalog;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	if (classId == LargeObjectRelationId)
		classId = LargeObjectMetadataRelationId;
	if (!OidIsValid(addr->objectId) || !is_objectclass_supported(classId))
		return InvalidOid;
	owner_att = get_object_attnum_owner(classId);
	if (owner_att == InvalidAttrNumber)
		return InvalidOid;
	catalog = table_open(classId, AccessShareLock);
	tup = get_catalog_object_by_oid(catalog, get_object_attnum_oid(classId), addr->objectId);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, owner_att, RelationGetDescr(catalog), &isnull);

		if (!isnull)
			owner = DatumGetObjectId(d);
	}
	table_close(catalog, AccessShareLock);
	return owner;
}

/*
 * One ACCOUNT_TYPES CHANGE_OWNER event: a new owner holds every privilege
 * on the object.
 */
static void
change_owner_event(const char *object, const char *object_type, Oid old_owner,
				   RoleSpec *newowner)
{
	AuditEvent *ev;
	AlJson		js;
	char	   *old_name = OidIsValid(old_owner) ? GetUserNameFromId(old_owner, true) : NULL;

	ev = al_admin_event(AL_CAT_ACCOUNT_TYPES, "CHANGE_OWNER", object, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "object", object);
	al_json_str(&js, "object_type", object_type);
	al_json_str(&js, "old_owner", old_name);
	al_json_str(&js, "new_owner", al_admin_rolespec_name(newowner));
	al_admin_event_done(ev, &js);
}

/* ALTER <object> ... OWNER TO (every kind but relations). */
void
al_admin_alter_owner(AlterOwnerStmt *stmt)
{
	Relation	rel = NULL;
	ObjectAddress addr;
	char	   *object = NULL;
	Node	   *name = stmt->object;

	/* ALTER TYPE / DOMAIN name a type by a list; the lookup wants a TypeName */
	if (stmt->objectType == OBJECT_TYPE || stmt->objectType == OBJECT_DOMAIN)
		name = (Node *) makeTypeNameFromNameList(castNode(List, stmt->object));
	addr = get_object_address(stmt->objectType, name, &rel,
							  AccessShareLock, true);
	if (rel != NULL)
		relation_close(rel, NoLock);
	if (OidIsValid(addr.objectId))
		object = getObjectIdentity(&addr, true);
	if (object == NULL)
		object = al_admin_object_text(stmt->object);
	change_owner_event(object, al_admin_objtype_text(stmt->objectType, false),
					   object_owner(&addr), stmt->newowner);
}

/* The kind of a relation, as CHANGE_OWNER names it. */
static const char *
relkind_text(char relkind)
{
	switch (relkind)
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			return "TABLE";
		case RELKIND_VIEW:
			return "VIEW";
		case RELKIND_MATVIEW:
			return "MATERIALIZED VIEW";
		case RELKIND_SEQUENCE:
			return "SEQUENCE";
		case RELKIND_FOREIGN_TABLE:
			return "FOREIGN TABLE";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "INDEX";
		case RELKIND_COMPOSITE_TYPE:
			return "TYPE";
		default:
			return "RELATION";
	}
}

/* ALTER TABLE / VIEW / SEQUENCE / ... OWNER TO. */
void
al_admin_alter_table_owner(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		Oid			relid;
		Oid			owner = InvalidOid;
		char	   *object;
		const char *kind = al_admin_objtype_text(stmt->objtype, false);

		if (cmd->subtype != AT_ChangeOwner)
			continue;
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (OidIsValid(relid))
		{
			HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

			if (HeapTupleIsValid(tup))
			{
				owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
				kind = relkind_text(((Form_pg_class) GETSTRUCT(tup))->relkind);
				ReleaseSysCache(tup);
			}
			object = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid));
		}
		else
			object = quote_qualified_identifier(stmt->relation->schemaname,
												stmt->relation->relname);
		change_owner_event(object, kind, owner, cmd->newowner);
	}
}

/* Does an ALTER TABLE change the owner? */
bool
al_admin_alter_table_changes_owner(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		if (((AlterTableCmd *) lfirst(lc))->subtype == AT_ChangeOwner)
			return true;
	}
	return false;
}
