/*-------------------------------------------------------------------------
 *
 * admin_connections.c
 *		The events of commands on the objects through which this server
 *		connects to others (category CONNECTIONS), built by the
 *		administrative capture (capture_admin.c) before the command runs:
 *		foreign servers, user mappings, foreign-data wrappers and
 *		subscriptions, created, altered, renamed, given a new owner or
 *		dropped.
 *
 * Their options and connection strings can hold passwords: every value
 * goes through the redaction policy (redact.c), and a subscription's
 * connection string is recorded key by key, secrets left out.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_subscription.h"
#include "foreign/foreign.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "admin_internal.h"
#include "compat.h"
#include "redact.h"

/*
 * Write a connection string as "conninfo": {the keys shown and their
 * values} and "conninfo_omitted": [the keys left out], by the redaction
 * policy (redact.c).  A string libpq does not parse is written as
 * "conninfo": "unparsable", nothing of it kept.
 */
static void
json_conninfo(AlJson *js, const char *conninfo)
{
	AlConninfoItem *items;
	int			n;
	int			i;
	List	   *omitted = NIL;

	if (conninfo == NULL)
		return;
	n = al_redact_conninfo_parse(conninfo, &items);
	if (n < 0)
	{
		al_json_str(js, "conninfo", "unparsable");
		return;
	}
	al_json_obj_begin(js, "conninfo");
	for (i = 0; i < n; i++)
	{
		if (items[i].shown)
			al_json_str(js, items[i].key, items[i].value);
		else
			omitted = lappend(omitted, items[i].key);
	}
	al_json_obj_end(js);
	if (omitted != NIL)
		al_admin_json_names(js, "conninfo_omitted", omitted);
}

void
al_admin_create_server(CreateForeignServerStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;

	if (stmt->if_not_exists && GetForeignServerByName(stmt->servername, true) != NULL)
		return;					/* IF NOT EXISTS on an existing server */
	ev = al_admin_event(AL_CAT_CONNECTIONS, "CREATE_SERVER", stmt->servername, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "server", stmt->servername);
	al_json_str(&js, "fdw", stmt->fdwname);
	if (stmt->servertype)
		al_json_str(&js, "type", stmt->servertype);
	if (stmt->version)
		al_json_str(&js, "version", stmt->version);
	al_admin_json_options(&js, stmt->options);
	al_admin_event_done(ev, &js);
}

void
al_admin_alter_server(AlterForeignServerStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;

	ev = al_admin_event(AL_CAT_CONNECTIONS, "ALTER_SERVER", stmt->servername, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "server", stmt->servername);
	if (stmt->has_version)
		al_json_str(&js, "version", stmt->version);
	al_admin_json_options(&js, stmt->options);
	al_admin_event_done(ev, &js);
}

/* DROP SERVER / DROP FOREIGN DATA WRAPPER: one event per object. */
void
al_admin_drop_connection(DropStmt *stmt)
{
	bool		server = (stmt->removeType == OBJECT_FOREIGN_SERVER);
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));
		bool		exists;
		AuditEvent *ev;
		AlJson		js;

		if (server)
			exists = GetForeignServerByName(name, true) != NULL;
		else
			exists = GetForeignDataWrapperByName(name, true) != NULL;
		if (!exists && stmt->missing_ok)
			continue;
		ev = al_admin_event(AL_CAT_CONNECTIONS, server ? "DROP_SERVER" : "DROP_FOREIGN_DATA_WRAPPER",
							  name, &js);
		if (ev == NULL)
			continue;
		al_json_str(&js, server ? "server" : "fdw", name);
		al_json_bool(&js, "cascade", stmt->behavior == DROP_CASCADE);
		al_admin_event_done(ev, &js);
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
void
al_admin_user_mapping(const char *event_type, RoleSpec *userspec,
				   const char *servername, List *options, bool skip_if_exists,
				   bool skip_if_missing)
{
	const char *user = al_admin_rolespec_name(userspec);
	AuditEvent *ev;
	AlJson		js;
	char	   *object;

	if (skip_if_exists || skip_if_missing)
	{
		bool		exists = user_mapping_exists(user, servername);

		if ((skip_if_exists && exists) || (skip_if_missing && !exists))
			return;
	}
	object = psprintf("%s@%s", user, servername);
	ev = al_admin_event(AL_CAT_CONNECTIONS, event_type, object, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "user", user);
	al_json_str(&js, "server", servername);
	al_admin_json_options(&js, options);
	al_admin_event_done(ev, &js);
}

/* CREATE / ALTER FOREIGN DATA WRAPPER. */
void
al_admin_fdw(const char *event_type, const char *fdwname, List *func_options,
		  List *options)
{
	AuditEvent *ev;
	AlJson		js;
	ListCell   *lc;

	ev = al_admin_event(AL_CAT_CONNECTIONS, event_type, fdwname, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "fdw", fdwname);
	foreach(lc, func_options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->arg == NULL)
			al_json_null(&js, def->defname);
		else
			al_json_str(&js, def->defname, NameListToString((List *) def->arg));
	}
	al_admin_json_options(&js, options);
	al_admin_event_done(ev, &js);
}

/*
 * The end of a CREATE or ALTER SUBSCRIPTION event: its connection string,
 * publications and options, those it has.
 */
static void
subscription_event_done(AuditEvent *ev, AlJson *js, const char *conninfo,
						List *publications, List *options)
{
	ListCell   *lc;

	json_conninfo(js, conninfo);
	if (publications != NIL)
	{
		al_json_arr_begin(js, "publications");
		foreach(lc, publications)
			al_json_arr_str(js, strVal(lfirst(lc)));
		al_json_arr_end(js);
	}
	al_admin_json_options(js, options);
	al_admin_event_done(ev, js);
}

void
al_admin_create_subscription(CreateSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;

	ev = al_admin_event(AL_CAT_CONNECTIONS, "CREATE_SUBSCRIPTION", stmt->subname, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "subscription", stmt->subname);
	subscription_event_done(ev, &js, stmt->conninfo, stmt->publication,
							stmt->options);
}

void
al_admin_alter_subscription(AlterSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;
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
	ev = al_admin_event(AL_CAT_CONNECTIONS, "ALTER_SUBSCRIPTION", stmt->subname, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "subscription", stmt->subname);
	al_json_str(&js, "action", action);
	subscription_event_done(ev, &js, stmt->conninfo, stmt->publication,
							stmt->options);
}

void
al_admin_drop_subscription(DropSubscriptionStmt *stmt)
{
	AuditEvent *ev;
	AlJson		js;

	if (stmt->missing_ok && !OidIsValid(get_subscription_oid(stmt->subname, true)))
		return;
	ev = al_admin_event(AL_CAT_CONNECTIONS, "DROP_SUBSCRIPTION", stmt->subname, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "subscription", stmt->subname);
	al_json_bool(&js, "cascade", stmt->behavior == DROP_CASCADE);
	al_admin_event_done(ev, &js);
}

/* ALTER SERVER / FOREIGN DATA WRAPPER / SUBSCRIPTION ... RENAME / OWNER. */
void
al_admin_connection_rename_owner(ObjectType type, const char *name,
							  const char *newname, RoleSpec *newowner)
{
	const char *event_type;
	const char *key;
	AuditEvent *ev;
	AlJson		js;

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
	ev = al_admin_event(AL_CAT_CONNECTIONS, event_type, name, &js);
	if (ev == NULL)
		return;
	al_json_str(&js, key, name);
	if (newname != NULL)
	{
		al_json_str(&js, "action", "rename");
		al_json_str(&js, "new_name", newname);
	}
	else
	{
		al_json_str(&js, "action", "owner");
		al_json_str(&js, "new_owner", al_admin_rolespec_name(newowner));
	}
	al_admin_event_done(ev, &js);
}

bool
al_admin_is_connection_type(ObjectType type)
{
	return type == OBJECT_FOREIGN_SERVER || type == OBJECT_FDW ||
		type == OBJECT_SUBSCRIPTION;
}
