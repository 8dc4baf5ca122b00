/*-------------------------------------------------------------------------
 *
 * partition_attach.c
 *		The event trigger that lets a day's partition be attached to
 *		audit_log.events while the writer keeps writing: before ALTER TABLE
 *		audit_log.events ATTACH PARTITION, the rows of that range that wait
 *		in events_default are moved into the table being attached.
 *
 * ATTACH PARTITION checks that the default partition holds no row of the
 * new range, and fails ("updated partition constraint for default
 * partition would be violated") when it does.  Two things attach day
 * partitions: maintain() (which moves the waiting rows itself first, but
 * the writer may add one between that move and the ATTACH), and a restore
 * of a dump (pg_restore without --single-transaction, or pg_dump | psql),
 * where CREATE EXTENSION commits long before the dumped partitions are
 * attached, and the writer meanwhile writes the events it captures (the
 * restore's own login, settings changes) into events_default.  Without this
 * trigger such a restore fails on ATTACH, leaves the day's table detached
 * with its rows invisible, and exits 1.
 *
 * Only the owner of audit_log.events (or a member of its role) may attach
 * a partition; for anyone else the trigger does nothing and the ALTER TABLE
 * fails on its own permission check.
 *
 * Locking: the trigger takes SHARE ROW EXCLUSIVE on events_default before
 * moving, which blocks inserts there (the writer's included, see writer.c)
 * until the ATTACH commits, so no row of the range can arrive between the
 * move and the ATTACH's check.  The ATTACH then upgrades that lock to
 * ACCESS EXCLUSIVE, as it would take anyway.  ddl_command_start runs before
 * ALTER TABLE locks anything, so the order is default first, then events,
 * the same order as the writer's.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "parser/parse_utilcmd.h"
#include "storage/lmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit_log.h"

PG_FUNCTION_INFO_V1(audit_log_before_attach);

/* log_event.c: the one path that moves rows out of events_default */
extern Datum audit_log_move_default_rows(PG_FUNCTION_ARGS);

/* A bound of a range partition as a timestamptz; MINVALUE/MAXVALUE: infinite. */
static Datum
al_bound_value(PartitionRangeDatum *prd)
{
	if (prd->kind == PARTITION_RANGE_DATUM_MINVALUE)
		return TimestampTzGetDatum(DT_NOBEGIN);
	if (prd->kind == PARTITION_RANGE_DATUM_MAXVALUE)
		return TimestampTzGetDatum(DT_NOEND);
	return castNode(Const, prd->value)->constvalue;
}

/* Move the waiting rows of one partition about to be attached. */
static void
al_prepare_attach(Oid events, Oid events_default, PartitionCmd *pc)
{
	Oid			part;
	Relation	parent;
	ParseState *pstate;
	PartitionBoundSpec *bound;
	Datum		lo;
	Datum		hi;

	if (pc->bound == NULL || pc->bound->is_default)
		return;
	part = RangeVarGetRelid(pc->name, NoLock, true);
	if (!OidIsValid(part) || part == events_default)
		return;

	parent = table_open(events, AccessShareLock);
	/*
	 * Only for a role that may attach partitions to events (its owner): for
	 * anyone else the ALTER TABLE fails anyway, and the rows must not pass
	 * through a table (and its triggers) of that role's choosing first.
	 */
	if (!has_privs_of_role(GetUserId(), parent->rd_rel->relowner))
	{
		table_close(parent, AccessShareLock);
		return;
	}
	pstate = make_parsestate(NULL);
	bound = transformPartitionBound(pstate, parent, pc->bound);
	table_close(parent, NoLock);
	if (bound->strategy != PARTITION_STRATEGY_RANGE ||
		list_length(bound->lowerdatums) != 1 || list_length(bound->upperdatums) != 1)
		return;
	lo = al_bound_value(linitial_node(PartitionRangeDatum, bound->lowerdatums));
	hi = al_bound_value(linitial_node(PartitionRangeDatum, bound->upperdatums));

	LockRelationOid(events_default, ShareRowExclusiveLock);
	(void) DirectFunctionCall3(audit_log_move_default_rows,
							   ObjectIdGetDatum(part), lo, hi);
}

/*
 * audit_log._before_attach(): the function of the event trigger
 * audit_log_attach_partition (ddl_command_start, ALTER TABLE).  Any other
 * ALTER TABLE costs a name lookup.
 */
Datum
audit_log_before_attach(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	AlterTableStmt *stmt;
	Oid			nsp;
	Oid			events;
	Oid			events_default;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("audit_log._before_attach() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL || !IsA(trigdata->parsetree, AlterTableStmt))
		PG_RETURN_VOID();
	stmt = (AlterTableStmt *) trigdata->parsetree;
	if (stmt->relation == NULL)
		PG_RETURN_VOID();

	nsp = get_namespace_oid("audit_log", true);
	if (!OidIsValid(nsp))
		PG_RETURN_VOID();
	events = get_relname_relid("events", nsp);
	events_default = get_relname_relid("events_default", nsp);
	if (!OidIsValid(events) || !OidIsValid(events_default) ||
		RangeVarGetRelid(stmt->relation, NoLock, true) != events)
		PG_RETURN_VOID();

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AttachPartition && cmd->def != NULL &&
			IsA(cmd->def, PartitionCmd))
			al_prepare_attach(events, events_default, (PartitionCmd *) cmd->def);
	}
	PG_RETURN_VOID();
}
