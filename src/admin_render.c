/*-------------------------------------------------------------------------
 *
 * admin_render.c
 *		Pieces of parse trees as the administrative capture records them:
 *		option values, role names, the objects and privileges of a GRANT,
 *		the value of a SET, as text or as JSON members of an event's
 *		entry_data (al_json.c).  Option values pass through the redaction
 *		policy (redact.c): a value that may be a secret is recorded as
 *		[redacted], its name kept.
 *
 * Everything is allocated in the current memory context, the capture's
 * per-command build context (capture_admin.c).
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"

#include "admin_internal.h"
#include "redact.h"

/* The value of a DefElem as text (an option without value means true). */
char *
al_admin_defelem_text(DefElem *def)
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

/* A name and a value, unless the value is or may be a secret. */
void
al_admin_json_option(AlJson *js, const char *name, const char *val)
{
	al_json_str(js, name, al_redact_option_hidden(name, val) ? AL_REDACTED : val);
}

/*
 * Generic options (servers, user mappings, wrappers, subscriptions):
 * "options": {name: value}, secrets as [redacted], and
 * "options_dropped": [names] for ALTER ... OPTIONS (DROP name).
 */
void
al_admin_json_options(AlJson *js, List *options)
{
	ListCell   *lc;
	bool		any_drop = false;
	int			shown = 0;
	int			more = 0;

	if (options == NIL)
		return;
	al_json_obj_begin(js, "options");
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defaction == DEFELEM_DROP)
		{
			any_drop = true;
			continue;
		}
		if (shown >= js->max_items)
		{
			more++;
			continue;
		}
		shown++;
		al_admin_json_option(js, def->defname, al_admin_defelem_text(def));
	}
	al_json_obj_end(js);
	if (more > 0)
		al_json_int(js, "options_not_shown", more);
	if (any_drop)
	{
		al_json_arr_begin(js, "options_dropped");
		foreach(lc, options)
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (def->defaction == DEFELEM_DROP)
				al_json_arr_str(js, def->defname);
		}
		al_json_arr_end(js);
	}
}

/* The name a RoleSpec stands for, without failing on unknown roles. */
const char *
al_admin_rolespec_name(RoleSpec *spec)
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

/* "key": [names of the roles]. */
void
al_admin_json_rolespecs(AlJson *js, const char *key, List *specs)
{
	al_admin_json_names(js, key, al_admin_rolespec_names(specs));
}

/* The name of an object of a GRANT, as a DBA would write it. */
char *
al_admin_object_text(Node *node)
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

/* The object types of a GRANT, as a DBA writes them, one and several. */
typedef struct ObjTypeName
{
	ObjectType	objtype;
	const char *one;
	const char *several;		/* for ALTER DEFAULT PRIVILEGES, ALL IN SCHEMA */
} ObjTypeName;

static const ObjTypeName objtype_names[] = {
	{OBJECT_TABLE, "TABLE", "TABLES"},
	{OBJECT_SEQUENCE, "SEQUENCE", "SEQUENCES"},
	{OBJECT_FUNCTION, "FUNCTION", "FUNCTIONS"},
	{OBJECT_PROCEDURE, "PROCEDURE", "PROCEDURES"},
	{OBJECT_ROUTINE, "ROUTINE", "ROUTINES"},
	{OBJECT_TYPE, "TYPE", "TYPES"},
	{OBJECT_DOMAIN, "DOMAIN", "DOMAIN"},
	{OBJECT_SCHEMA, "SCHEMA", "SCHEMAS"},
	{OBJECT_DATABASE, "DATABASE", "DATABASE"},
	{OBJECT_TABLESPACE, "TABLESPACE", "TABLESPACE"},
	{OBJECT_LANGUAGE, "LANGUAGE", "LANGUAGE"},
	{OBJECT_LARGEOBJECT, "LARGE OBJECT", "LARGE OBJECT"},
	{OBJECT_FDW, "FOREIGN DATA WRAPPER", "FOREIGN DATA WRAPPER"},
	{OBJECT_FOREIGN_SERVER, "FOREIGN SERVER", "FOREIGN SERVER"},
	{OBJECT_PARAMETER_ACL, "PARAMETER", "PARAMETER"},
};

/* Object type of a GRANT (plural for default privileges). */
const char *
al_admin_objtype_text(ObjectType objtype, bool plural)
{
	int			i;

	for (i = 0; i < lengthof(objtype_names); i++)
	{
		if (objtype_names[i].objtype == objtype)
			return plural ? objtype_names[i].several : objtype_names[i].one;
	}
	return "OTHER";
}

/* "privileges": ["SELECT", "UPDATE (a, b)"], or ["ALL"]. */
void
al_admin_json_privileges(AlJson *js, List *privileges)
{
	ListCell   *lc;

	al_json_arr_begin(js, "privileges");
	if (privileges == NIL)
		al_json_arr_str(js, "ALL");
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
		al_json_arr_str(js, s.data);
	}
	al_json_arr_end(js);
}

/* Names joined by ", " for object_name (clipped by the caller). */
char *
al_admin_join_names(List *names)
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

/* The value of SET name = value ... as text. */
char *
al_admin_setstmt_value(VariableSetStmt *set)
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

/* The names of a list of RoleSpecs. */
List *
al_admin_rolespec_names(List *specs)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, specs)
		names = lappend(names, (char *) al_admin_rolespec_name((RoleSpec *) lfirst(lc)));
	return names;
}

/* "key": [the strings of a List of char *]. */
void
al_admin_json_names(AlJson *js, const char *key, List *names)
{
	ListCell   *lc;

	al_json_arr_begin(js, key);
	foreach(lc, names)
		al_json_arr_str(js, (char *) lfirst(lc));
	al_json_arr_end(js);
}
