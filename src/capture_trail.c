/*-------------------------------------------------------------------------
 *
 * capture_trail.c
 *		The audit trail audits itself: AUDIT_LOG TRAIL_CHANGE events for
 *		every statement that alters the trail's own objects, and AUDIT_LOG
 *		READ events for reads of audit_log.events and its partitions.
 *
 * TRAIL_CHANGE.  The utility hook's dispatch (capture_admin.c) asks
 * al_trail_categories whether a statement touches the trail: ALTER TABLE
 * (DISABLE/ENABLE TRIGGER, ATTACH/DETACH PARTITION, OWNER TO, ...), DROP,
 * TRUNCATE, GRANT/REVOKE, RENAME, SET SCHEMA, CREATE TRIGGER/RULE/POLICY on
 * any relation of schema audit_log (CREATE TABLE in it or PARTITION OF one
 * of its tables, CREATE FUNCTION in it), DROP/ALTER/owner of the schema,
 * ALTER EXTENSION audit_log (and DROP EXTENSION, whose refusal is then on
 * record too), and every SET / RESET / ALTER ROLE|DATABASE|SYSTEM SET of
 * session_replication_role (it switches ordinary triggers off, the
 * append-only guard included).  The event is built like every other
 * administrative event, so it takes the same path to its outcome: SUCCESS
 * at commit, FAILURE with the SQLSTATE when the statement fails, FAILURE
 * with ROLLBACK (or the aborting SQLSTATE) when its transaction rolls
 * back, and in every case it reaches the capture queue, so it outlives the
 * transaction that made it.  calls of audit_log.pause_writer() are queued
 * at once (capture_sql.c calls al_trail_pause_writer).
 *
 * The extension's own work is not tampering: its install and update
 * scripts (creating_extension) and everything run inside one of its
 * SECURITY DEFINER functions (maintain() creating and attaching partitions,
 * apply_retention() dropping days, seal(), verify(), the scheduled
 * exports).  Every SECURITY DEFINER call goes through fmgr_security_definer,
 * which calls fmgr_hook at its start and at its end or abort; the hook
 * below counts the calls of functions in schema audit_log, so the test is
 * one integer.  A superuser who replaces one of those functions does so
 * with CREATE FUNCTION audit_log.x, itself a TRAIL_CHANGE.
 *
 * READ.  ExecutorCheckPerms_hook sees the range table of every statement
 * the executor starts, COPY's included, after the standard permission
 * checks passed.  A statement of a client backend that needs SELECT on
 * audit_log.events or one of its partitions records AUDIT_LOG READ (role,
 * database, the statement's command tag and the relation, never its text),
 * at most once a minute per session: the test of the minute comes first and
 * uses the statement's start time (no system call), so a dashboard pays one
 * comparison per statement.  The OIDs of the trail's relations are cached
 * and forgotten at any relcache invalidation of one of them (a partition
 * attached or detached invalidates its parent) or of schema audit_log.
 * Not counted: background workers (the writer, parallel workers), the
 * extension's own work as above (its own reads are recorded by their own
 * events: RETENTION, SEAL, VERIFY, EXPORT), and audit_log.log_reads = off.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "admin_internal.h"
#include "al_json.h"
#include "audit_log.h"
#include "capture_trail.h"
#include "compat.h"
#include "queue.h"

#define TRAIL_SCHEMA "audit_log"
#define READ_INTERVAL_US ((int64) 60 * USECS_PER_SEC)

static fmgr_hook_type prev_fmgr_hook = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;

/* Nesting of the extension's own work (see the header comment). */
static int	own_depth = 0;

/*
 * SECURITY DEFINER calls now running, and at which of those levels one of
 * ours started (calls end in the reverse order of their start).
 */
#define OWN_STACK_MAX 64
static int	secdef_depth = 0;
static int	own_stack[OWN_STACK_MAX];
static int	own_stack_len = 0;
static int	own_overflow = 0;

/* Cached OID of schema audit_log; InvalidOid: not looked up yet. */
static Oid	trail_nsp = InvalidOid;
static bool trail_nsp_valid = false;

/* Cached OIDs of audit_log.events and its partitions. */
static Oid *trail_rels = NULL;
static int	trail_nrels = 0;
static bool trail_rels_valid = false;

/* When this session last recorded a READ (0: never). */
static TimestampTz last_read_logged = 0;

/* ---------------------------------------------------------------------
 * Caches
 * ---------------------------------------------------------------------
 */

static void
trail_nsp_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	trail_nsp_valid = false;
	trail_rels_valid = false;
}

static void
trail_rel_inval(Datum arg, Oid relid)
{
	int			i;

	if (!trail_rels_valid)
		return;
	if (!OidIsValid(relid))
	{
		trail_rels_valid = false;
		return;
	}
	for (i = 0; i < trail_nrels; i++)
		if (trail_rels[i] == relid)
		{
			trail_rels_valid = false;
			return;
		}
}

/* OID of schema audit_log, InvalidOid when the extension is not here. */
static Oid
trail_namespace(void)
{
	if (!trail_nsp_valid)
	{
		trail_nsp = get_namespace_oid(TRAIL_SCHEMA, true);
		trail_nsp_valid = true;
	}
	return trail_nsp;
}

/* Is relid audit_log.events or one of its partitions? */
static bool
is_trail_events_rel(Oid relid)
{
	int			i;

	if (!trail_rels_valid)
	{
		Oid			nsp = trail_namespace();
		Oid			events = OidIsValid(nsp) ? get_relname_relid("events", nsp) : InvalidOid;
		List	   *rels = NIL;
		ListCell   *lc;
		MemoryContext old;

		if (OidIsValid(events))
			rels = find_all_inheritors(events, NoLock, NULL);
		if (trail_rels)
			pfree(trail_rels);
		old = MemoryContextSwitchTo(TopMemoryContext);
		trail_rels = palloc(sizeof(Oid) * Max(list_length(rels), 1));
		MemoryContextSwitchTo(old);
		trail_nrels = 0;
		foreach(lc, rels)
			trail_rels[trail_nrels++] = lfirst_oid(lc);
		trail_rels_valid = true;
	}
	for (i = 0; i < trail_nrels; i++)
		if (trail_rels[i] == relid)
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * The extension's own work
 * ---------------------------------------------------------------------
 */

/* Is fn_oid a function of schema audit_log? */
static bool
is_own_function(Oid fn_oid)
{
	HeapTuple	tup;
	bool		own = false;
	Oid			nsp = trail_namespace();

	if (!OidIsValid(nsp))
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (HeapTupleIsValid(tup))
	{
		own = ((Form_pg_proc) GETSTRUCT(tup))->pronamespace == nsp;
		ReleaseSysCache(tup);
	}
	return own;
}

/*
 * fmgr_hook: called by fmgr_security_definer at the start and the end (or
 * abort) of every SECURITY DEFINER call.  Nothing is looked up at the end,
 * which may be in error recovery: the start left a mark on own_stack.  The
 * previous hook runs first.
 */
static void
al_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);

	switch (event)
	{
		case FHET_START:
			secdef_depth++;
			if (is_own_function(flinfo->fn_oid))
			{
				own_depth++;
				if (own_stack_len < OWN_STACK_MAX)
					own_stack[own_stack_len++] = secdef_depth;
				else
					own_overflow++;
			}
			break;
		case FHET_END:
		case FHET_ABORT:
			if (own_overflow > 0 && own_stack_len == OWN_STACK_MAX &&
				own_stack[own_stack_len - 1] < secdef_depth)
			{
				/* deeper than the stack: only ours overflow it */
				own_overflow--;
				own_depth--;
			}
			else if (own_stack_len > 0 && own_stack[own_stack_len - 1] == secdef_depth)
			{
				own_stack_len--;
				own_depth--;
			}
			if (secdef_depth > 0)
				secdef_depth--;
			break;
	}
}

bool
al_trail_internal(void)
{
	return own_depth > 0 || creating_extension || IsBinaryUpgrade;
}

/* Mark the extension's own work done in C (extension_drop.c's counting). */
void
al_trail_internal_begin(void)
{
	own_depth++;
}

void
al_trail_internal_end(void)
{
	if (own_depth > 0)
		own_depth--;
}

/* ---------------------------------------------------------------------
 * TRAIL_CHANGE: which statements
 * ---------------------------------------------------------------------
 */

static bool
is_trail_schema_name(const char *name)
{
	return name != NULL && strcmp(name, TRAIL_SCHEMA) == 0;
}

/* Does a RangeVar name a relation of schema audit_log (or would it)? */
static bool
own_rangevar(RangeVar *rv)
{
	Oid			nsp = trail_namespace();
	Oid			relid;

	if (rv == NULL || !OidIsValid(nsp))
		return false;
	if (is_trail_schema_name(rv->schemaname))
		return true;
	if (rv->schemaname != NULL)
		return false;
	/*
	 * An unqualified name can only resolve into the trail's schema if the
	 * schema holds a relation of that name: one catalog cache probe (a miss
	 * is cached too) spares the search_path walk for every other table, the
	 * GRANT on any table of the database among them.
	 */
	if (!OidIsValid(get_relname_relid(rv->relname, nsp)))
		return false;
	relid = RangeVarGetRelid(rv, NoLock, true);
	return OidIsValid(relid) && get_rel_namespace(relid) == nsp;
}

static bool
is_srr(const char *name)
{
	return name != NULL && pg_strcasecmp(name, "session_replication_role") == 0;
}

/*
 * Does a SET (of any kind) change session_replication_role?  RESET ALL
 * only in a session (see trail_objects); ALTER ROLE|DATABASE ... RESET ALL
 * removes settings whose own SET was on record.
 */
static bool
set_touches_srr(VariableSetStmt *set)
{
	return set != NULL && set->kind != VAR_RESET_ALL && is_srr(set->name);
}

/* Note an object of the trail in *objects (when asked) and say yes. */
static bool
found(List **objects, char *text)
{
	if (objects)
		*objects = lappend(*objects, text);
	return true;
}

/* ALTER TABLE: the relation, or the partition it attaches or detaches. */
static bool
alter_table_objects(AlterTableStmt *stmt, List **objects)
{
	bool		hit = false;
	ListCell   *lc;

	if (own_rangevar(stmt->relation))
		hit = found(objects, al_admin_object_text((Node *) stmt->relation));
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

		if (!IsA(cmd, AlterTableCmd))
			continue;
		if ((cmd->subtype == AT_AttachPartition || cmd->subtype == AT_DetachPartition) &&
			cmd->def != NULL && IsA(cmd->def, PartitionCmd) &&
			own_rangevar(((PartitionCmd *) cmd->def)->name) && !hit)
			hit = found(objects, al_admin_object_text((Node *) ((PartitionCmd *) cmd->def)->name));
	}
	return hit;
}

/* DROP: relations, triggers/rules/policies on them, the schema, the extension. */
static bool
drop_objects(DropStmt *stmt, List **objects)
{
	bool		hit = false;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = (Node *) lfirst(lc);

		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
			case OBJECT_INDEX:
			case OBJECT_SEQUENCE:
			case OBJECT_VIEW:
			case OBJECT_MATVIEW:
			case OBJECT_FOREIGN_TABLE:
				if (IsA(obj, List) && own_rangevar(makeRangeVarFromNameList((List *) obj)))
					hit = found(objects, NameListToString((List *) obj));
				break;
			case OBJECT_TRIGGER:
			case OBJECT_RULE:
			case OBJECT_POLICY:
				if (IsA(obj, List) && list_length((List *) obj) >= 2)
				{
					List	   *rel = list_copy((List *) obj);

					rel = list_truncate(rel, list_length(rel) - 1);
					if (own_rangevar(makeRangeVarFromNameList(rel)))
						hit = found(objects, NameListToString((List *) obj));
				}
				break;
			case OBJECT_SCHEMA:
			case OBJECT_EXTENSION:
				if (IsA(obj, String) && is_trail_schema_name(strVal(obj)))
					hit = found(objects, pstrdup(strVal(obj)));
				break;
			case OBJECT_FUNCTION:
			case OBJECT_PROCEDURE:
			case OBJECT_ROUTINE:
				if (IsA(obj, ObjectWithArgs) &&
					list_length(((ObjectWithArgs *) obj)->objname) == 2 &&
					is_trail_schema_name(strVal(linitial(((ObjectWithArgs *) obj)->objname))))
					hit = found(objects, al_admin_object_text(obj));
				break;
			default:
				return false;
		}
	}
	return hit;
}

/* GRANT / REVOKE on relations of the trail, or on its schema. */
static bool
grant_objects(GrantStmt *stmt, List **objects)
{
	bool		hit = false;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = (Node *) lfirst(lc);

		if (stmt->targtype == ACL_TARGET_OBJECT &&
			(stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_SEQUENCE) &&
			IsA(obj, RangeVar) && own_rangevar((RangeVar *) obj))
			hit = found(objects, al_admin_object_text(obj));
		else if (((stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA) ||
				  (stmt->targtype == ACL_TARGET_OBJECT && stmt->objtype == OBJECT_SCHEMA)) &&
				 IsA(obj, String) && is_trail_schema_name(strVal(obj)))
			hit = found(objects, pstrdup(strVal(obj)));
	}
	return hit;
}

/*
 * The objects of the trail a statement alters (into *objects when not
 * NULL); false when it alters none.
 */
static bool
trail_objects(Node *stmt, List **objects)
{
	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			/* the database that holds the trail (audit_log.database) */
			if (al_database != NULL &&
				strcmp(((DropdbStmt *) stmt)->dbname, al_database) == 0)
				return found(objects, psprintf("DATABASE %s", al_database));
			return false;
		case T_AlterTableStmt:
			return alter_table_objects((AlterTableStmt *) stmt, objects);
		case T_DropStmt:
			return drop_objects((DropStmt *) stmt, objects);
		case T_TruncateStmt:
			{
				bool		hit = false;
				ListCell   *lc;

				foreach(lc, ((TruncateStmt *) stmt)->relations)
					if (own_rangevar((RangeVar *) lfirst(lc)))
						hit = found(objects, al_admin_object_text(lfirst(lc)));
				return hit;
			}
		case T_GrantStmt:
			return grant_objects((GrantStmt *) stmt, objects);
		case T_RenameStmt:
			{
				RenameStmt *rs = (RenameStmt *) stmt;

				if (rs->relation && own_rangevar(rs->relation))
					return found(objects, al_admin_object_text((Node *) rs->relation));
				if (rs->renameType == OBJECT_SCHEMA && is_trail_schema_name(rs->subname))
					return found(objects, pstrdup(rs->subname));
				return false;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *as = (AlterObjectSchemaStmt *) stmt;

				if (as->relation && own_rangevar(as->relation))
					return found(objects, al_admin_object_text((Node *) as->relation));
				if (is_trail_schema_name(as->newschema))
					return found(objects, as->relation ?
								 al_admin_object_text((Node *) as->relation) :
								 al_admin_object_text(as->object));
				return false;
			}
		case T_AlterOwnerStmt:
			{
				AlterOwnerStmt *os = (AlterOwnerStmt *) stmt;

				if (os->objectType == OBJECT_SCHEMA && os->object && IsA(os->object, String) &&
					is_trail_schema_name(strVal(os->object)))
					return found(objects, pstrdup(TRAIL_SCHEMA));
				return false;
			}
		case T_AlterExtensionStmt:
			if (is_trail_schema_name(((AlterExtensionStmt *) stmt)->extname))
				return found(objects, pstrdup(TRAIL_SCHEMA));
			return false;
		case T_AlterExtensionContentsStmt:
			if (is_trail_schema_name(((AlterExtensionContentsStmt *) stmt)->extname))
				return found(objects, pstrdup(TRAIL_SCHEMA));
			return false;
		case T_CreateTrigStmt:
			if (own_rangevar(((CreateTrigStmt *) stmt)->relation))
				return found(objects, al_admin_object_text((Node *) ((CreateTrigStmt *) stmt)->relation));
			return false;
		case T_RuleStmt:
			if (own_rangevar(((RuleStmt *) stmt)->relation))
				return found(objects, al_admin_object_text((Node *) ((RuleStmt *) stmt)->relation));
			return false;
		case T_CreatePolicyStmt:
			if (own_rangevar(((CreatePolicyStmt *) stmt)->table))
				return found(objects, al_admin_object_text((Node *) ((CreatePolicyStmt *) stmt)->table));
			return false;
		case T_AlterPolicyStmt:
			if (own_rangevar(((AlterPolicyStmt *) stmt)->table))
				return found(objects, al_admin_object_text((Node *) ((AlterPolicyStmt *) stmt)->table));
			return false;
		case T_CreateStmt:
			{
				CreateStmt *cs = (CreateStmt *) stmt;
				ListCell   *lc;

				if (is_trail_schema_name(cs->relation->schemaname))
					return found(objects, al_admin_object_text((Node *) cs->relation));
				foreach(lc, cs->inhRelations)
					if (own_rangevar((RangeVar *) lfirst(lc)))
						return found(objects, al_admin_object_text(lfirst(lc)));
				return false;
			}
		case T_CreateFunctionStmt:
			{
				List	   *name = ((CreateFunctionStmt *) stmt)->funcname;

				if (list_length(name) == 2 && is_trail_schema_name(strVal(linitial(name))))
					return found(objects, NameListToString(name));
				return false;
			}
		case T_VariableSetStmt:
			{
				VariableSetStmt *set = (VariableSetStmt *) stmt;

				/* RESET ALL matters only when the role is not the default */
				if (set->kind == VAR_RESET_ALL)
				{
					if (SessionReplicationRole == SESSION_REPLICATION_ROLE_ORIGIN)
						return false;
					return found(objects, pstrdup("session_replication_role"));
				}
				if (set_touches_srr(set))
					return found(objects, pstrdup("session_replication_role"));
				return false;
			}
		case T_AlterSystemStmt:
			if (set_touches_srr(((AlterSystemStmt *) stmt)->setstmt))
				return found(objects, pstrdup("session_replication_role"));
			return false;
		case T_AlterRoleSetStmt:
			if (set_touches_srr(((AlterRoleSetStmt *) stmt)->setstmt))
				return found(objects, pstrdup("session_replication_role"));
			return false;
		case T_AlterDatabaseSetStmt:
			if (set_touches_srr(((AlterDatabaseSetStmt *) stmt)->setstmt))
				return found(objects, pstrdup("session_replication_role"));
			return false;
		default:
			return false;
	}
}

/*
 * The dispatch's question (capture_admin.c): AUDIT_LOG when the statement
 * alters the trail and is not the extension's own work.  Cheap for every
 * other statement: a switch on its tag, then name lookups only for the
 * kinds above.
 */
int
al_trail_categories(Node *stmt)
{
	if (al_trail_internal())
		return 0;
	if (!trail_objects(stmt, NULL))
		return 0;
	return 1 << AL_CAT_AUDIT_LOG;
}

/* ---------------------------------------------------------------------
 * TRAIL_CHANGE: the event
 * ---------------------------------------------------------------------
 */

/* One subcommand of ALTER TABLE as text, e.g. "DISABLE TRIGGER USER". */
static char *
alter_table_action(AlterTableCmd *cmd)
{
	const char *name = cmd->name ? cmd->name : "";

	switch (cmd->subtype)
	{
		case AT_EnableTrig:
			return psprintf("ENABLE TRIGGER %s", name);
		case AT_EnableAlwaysTrig:
			return psprintf("ENABLE ALWAYS TRIGGER %s", name);
		case AT_EnableReplicaTrig:
			return psprintf("ENABLE REPLICA TRIGGER %s", name);
		case AT_DisableTrig:
			return psprintf("DISABLE TRIGGER %s", name);
		case AT_EnableTrigAll:
			return pstrdup("ENABLE TRIGGER ALL");
		case AT_DisableTrigAll:
			return pstrdup("DISABLE TRIGGER ALL");
		case AT_EnableTrigUser:
			return pstrdup("ENABLE TRIGGER USER");
		case AT_DisableTrigUser:
			return pstrdup("DISABLE TRIGGER USER");
		case AT_AttachPartition:
		case AT_DetachPartition:
		case AT_DetachPartitionFinalize:
			{
				PartitionCmd *pc = (PartitionCmd *) cmd->def;
				const char *what = cmd->subtype == AT_AttachPartition ? "ATTACH" : "DETACH";

				return psprintf("%s PARTITION %s%s", what,
								pc && pc->name ? al_admin_object_text((Node *) pc->name) : "?",
								cmd->subtype == AT_DetachPartitionFinalize ? " FINALIZE" :
								(pc && pc->concurrent ? " CONCURRENTLY" : ""));
			}
		case AT_ChangeOwner:
			return psprintf("OWNER TO %s", al_admin_rolespec_name(cmd->newowner));
		case AT_EnableRowSecurity:
			return pstrdup("ENABLE ROW LEVEL SECURITY");
		case AT_DisableRowSecurity:
			return pstrdup("DISABLE ROW LEVEL SECURITY");
		case AT_ForceRowSecurity:
			return pstrdup("FORCE ROW LEVEL SECURITY");
		case AT_NoForceRowSecurity:
			return pstrdup("NO FORCE ROW LEVEL SECURITY");
		case AT_SetLogged:
			return pstrdup("SET LOGGED");
		case AT_SetUnLogged:
			return pstrdup("SET UNLOGGED");
		case AT_AddColumn:
			return psprintf("ADD COLUMN %s", cmd->def && IsA(cmd->def, ColumnDef) ?
							((ColumnDef *) cmd->def)->colname : "?");
		case AT_DropColumn:
			return psprintf("DROP COLUMN %s", name);
		case AT_AlterColumnType:
			return psprintf("ALTER COLUMN %s TYPE", name);
		case AT_AddConstraint:
			return pstrdup("ADD CONSTRAINT");
		case AT_DropConstraint:
			return psprintf("DROP CONSTRAINT %s", name);
		case AT_SetTableSpace:
			return psprintf("SET TABLESPACE %s", name);
		case AT_AddInherit:
			return pstrdup("INHERIT");
		case AT_DropInherit:
			return pstrdup("NO INHERIT");
		case AT_ReplicaIdentity:
			return pstrdup("REPLICA IDENTITY");
		default:
			return pstrdup("OTHER");
	}
}

/* The new value of a SET of session_replication_role, as text. */
static char *
set_value_text(VariableSetStmt *set)
{
	switch (set->kind)
	{
		case VAR_SET_VALUE:
			return al_admin_setstmt_value(set);
		case VAR_SET_DEFAULT:
			return pstrdup("DEFAULT");
		case VAR_SET_CURRENT:
			return pstrdup("FROM CURRENT");
		case VAR_RESET:
			return pstrdup("RESET");
		case VAR_RESET_ALL:
			return pstrdup("RESET ALL");
		default:
			return pstrdup("?");
	}
}

static void
json_set(AlJson *js, VariableSetStmt *set, const char *scope)
{
	al_json_str(js, "parameter", "session_replication_role");
	al_json_str(js, "value", set_value_text(set));
	al_json_str(js, "scope", scope);
}

/*
 * Build the TRAIL_CHANGE event of a statement; called inside
 * capture_statement (capture_admin.c), in its per-command memory.
 */
void
al_trail_build(Node *stmt)
{
	List	   *objects = NIL;
	AuditEvent *ev;
	AlJson		js;
	ListCell   *lc;

	if (al_trail_internal() || !trail_objects(stmt, &objects))
		return;
	ev = al_admin_event(AL_CAT_AUDIT_LOG, "TRAIL_CHANGE", (char *) linitial(objects), &js);
	if (ev == NULL)
		return;
	al_json_str(&js, "command", GetCommandTagName(CreateCommandTag(stmt)));
	al_json_arr_begin(&js, "objects");
	foreach(lc, objects)
		al_json_arr_str(&js, (char *) lfirst(lc));
	al_json_arr_end(&js);

	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			al_json_arr_begin(&js, "actions");
			foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				if (IsA(lfirst(lc), AlterTableCmd))
					al_json_arr_str(&js, alter_table_action((AlterTableCmd *) lfirst(lc)));
			al_json_arr_end(&js);
			break;
		case T_DropStmt:
			al_json_str(&js, "behavior",
						((DropStmt *) stmt)->behavior == DROP_CASCADE ? "CASCADE" : "RESTRICT");
			break;
		case T_TruncateStmt:
			al_json_str(&js, "behavior",
						((TruncateStmt *) stmt)->behavior == DROP_CASCADE ? "CASCADE" : "RESTRICT");
			break;
		case T_GrantStmt:
			al_admin_json_privileges(&js, ((GrantStmt *) stmt)->privileges);
			al_admin_json_rolespecs(&js, "grantees", ((GrantStmt *) stmt)->grantees);
			break;
		case T_RenameStmt:
			al_json_str(&js, "new_name", ((RenameStmt *) stmt)->newname);
			break;
		case T_AlterObjectSchemaStmt:
			al_json_str(&js, "new_schema", ((AlterObjectSchemaStmt *) stmt)->newschema);
			break;
		case T_AlterOwnerStmt:
			al_json_str(&js, "new_owner", al_admin_rolespec_name(((AlterOwnerStmt *) stmt)->newowner));
			break;
		case T_AlterExtensionStmt:
			al_admin_json_options(&js, ((AlterExtensionStmt *) stmt)->options);
			break;
		case T_AlterExtensionContentsStmt:
			{
				AlterExtensionContentsStmt *s = (AlterExtensionContentsStmt *) stmt;

				al_json_str(&js, "action", s->action > 0 ? "ADD" : "DROP");
				al_json_str(&js, "member_type", al_admin_objtype_text(s->objtype, false));
				al_json_str(&js, "member", al_admin_object_text(s->object));
			}
			break;
		case T_VariableSetStmt:
			json_set(&js, (VariableSetStmt *) stmt,
					 ((VariableSetStmt *) stmt)->is_local ? "transaction" : "session");
			break;
		case T_AlterSystemStmt:
			json_set(&js, ((AlterSystemStmt *) stmt)->setstmt, "system");
			break;
		case T_AlterRoleSetStmt:
			{
				AlterRoleSetStmt *s = (AlterRoleSetStmt *) stmt;

				json_set(&js, s->setstmt, "role");
				al_json_str(&js, "role", s->role ? al_admin_rolespec_name(s->role) : "ALL");
				if (s->database)
					al_json_str(&js, "database", s->database);
			}
			break;
		case T_AlterDatabaseSetStmt:
			json_set(&js, ((AlterDatabaseSetStmt *) stmt)->setstmt, "database");
			al_json_str(&js, "database", ((AlterDatabaseSetStmt *) stmt)->dbname);
			break;
		default:
			break;
	}
	al_admin_event_done(ev, &js);
}

/*
 * audit_log.pause_writer(): stopping the writer stops the trail, so each
 * call is a TRAIL_CHANGE, queued at once (it outlives a rollback).
 */
void
al_trail_pause_writer(bool paused, bool previous)
{
	AuditEvent	ev;
	AlJson		js;
	const char *user;

	if (!al_category_captured(AL_CAT_AUDIT_LOG))
		return;
	al_event_init_session(&ev, AL_CAT_AUDIT_LOG, "TRAIL_CHANGE", true);
	user = GetUserNameFromId(GetUserId(), true);
	al_strlcpy_clip(ev.user_name, user ? user : "", sizeof(ev.user_name));
	al_strlcpy_clip(ev.object_name, "audit_log.pause_writer", sizeof(ev.object_name));
	al_json_init(&js, ev.entry_data, sizeof(ev.entry_data), false);
	al_json_str(&js, "command", "SELECT");
	al_json_str(&js, "function", "audit_log.pause_writer");
	al_json_bool(&js, "paused", paused);
	al_json_bool(&js, "previous", previous);
	if (!al_json_finish(&js))
		strlcpy(ev.entry_data, "{\"truncated\": true}", sizeof(ev.entry_data));
	(void) al_enqueue(&ev);
}

/* ---------------------------------------------------------------------
 * READ
 * ---------------------------------------------------------------------
 */

/* Queue the READ event of this statement's read of relid. */
static void
record_read(Oid relid)
{
	AuditEvent	ev;
	AlJson		js;
	const char *user = GetUserNameFromId(GetUserId(), true);
	const char *session_user = GetUserNameFromId(GetSessionUserId(), true);
	const char *relname = get_rel_name(relid);
	char	   *object;

	object = psprintf("%s.%s", TRAIL_SCHEMA, relname ? relname : "?");
	al_event_init_session(&ev, AL_CAT_AUDIT_LOG, "READ", true);
	al_strlcpy_clip(ev.user_name, user ? user : "", sizeof(ev.user_name));
	al_strlcpy_clip(ev.object_name, object, sizeof(ev.object_name));
	al_json_init(&js, ev.entry_data, sizeof(ev.entry_data), false);
	al_json_str(&js, "statement", ActivePortal ?
				GetCommandTagName(ActivePortal->commandTag) : "UNKNOWN");
	al_json_str(&js, "relation", object);
	al_json_str(&js, "session_user", session_user ? session_user : "");
	al_json_int(&js, "once_per_s", (int) (READ_INTERVAL_US / USECS_PER_SEC));
	if (!al_json_finish(&js))
		strlcpy(ev.entry_data, "{\"truncated\": true}", sizeof(ev.entry_data));
	(void) al_enqueue(&ev);
	pfree(object);
}

/*
 * ExecutorCheckPerms_hook: the previous hook first (a refusal there means
 * nothing was read), then the READ test.  Order of the tests: the setting,
 * the minute, the kind of process and whether this is the extension's own
 * work, and only then the relations of the statement.
 */
static bool
al_check_perms(AL_CHECK_PERMS_PARAMS)
{
	TimestampTz stmt_start;
	Oid			relid;

	if (prev_ExecutorCheckPerms &&
		!prev_ExecutorCheckPerms(AL_CHECK_PERMS_ARGS))
		return false;

	if (!al_log_reads || !al_category_captured(AL_CAT_AUDIT_LOG))
		return true;
	stmt_start = GetCurrentStatementStartTimestamp();
	if (last_read_logged != 0 && stmt_start - last_read_logged < READ_INTERVAL_US &&
		stmt_start >= last_read_logged)
		return true;
	if (MyBackendType != B_BACKEND || al_trail_internal())
		return true;

	relid = al_perms_find_select(AL_CHECK_PERMS_RTABLE, AL_CHECK_PERMS_PERMINFOS,
								 is_trail_events_rel);
	if (OidIsValid(relid))
	{
		record_read(relid);
		last_read_logged = stmt_start;
	}
	return true;
}

/*
 * Install the hooks and the cache callbacks.  Called from _PG_init when
 * preloaded: the events need the shared-memory queue.
 */
void
al_capture_trail_init(void)
{
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = al_fmgr_hook;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = al_check_perms;
	CacheRegisterSyscacheCallback(NAMESPACEOID, trail_nsp_inval, (Datum) 0);
	CacheRegisterRelcacheCallback(trail_rel_inval, (Datum) 0);
}
