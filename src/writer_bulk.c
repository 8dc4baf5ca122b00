/*-------------------------------------------------------------------------
 *
 * writer_bulk.c
 *		The writer's fast path: a batch written into audit_log.events with a
 *		table multi-insert, as COPY FROM writes, in place of the prepared
 *		INSERT ... SELECT FROM unnest(...) of writer.c.
 *
 * The INSERT pays, per row, for the executor's projection of 17 unnested
 * arrays, the casts of text to the enums, inet and jsonb through their
 * input functions, the routing of the row to its partition, and one heap
 * insertion with its WAL record.  Here each row's values are built
 * directly from the queued event (entry_data by writer_jsonb.c's reader of
 * our own JSON, in place of jsonb_in), the partition of a run of rows in the
 * same range (a day) is looked up once, and the rows of each partition go
 * to table_multi_insert() in chunks: one WAL record per heap page, as
 * COPY FROM does.
 *
 * It keeps every guarantee of the INSERT, because it does what the
 * executor does for it: the same transaction (the caller's: slots are freed
 * only after its commit); the NOT NULL and CHECK constraints of each
 * partition (ExecConstraints); every index, the primary key on event_id
 * included, so that a duplicate fails the batch as the INSERT does and the
 * batch is retried with ON CONFLICT DO NOTHING; the AFTER ROW triggers of
 * the partitions, with their WHEN clauses and enabled state (the rollups'
 * events_rollup_late, the fleet's replica triggers, which do not fire in
 * the writer's session, and any trigger a user adds), queued and fired at
 * the end of the "query" as the executor fires them.
 *
 * Whatever this path does not do itself makes it step back before it has
 * written anything, and the batch goes the INSERT's way: a BEFORE or
 * INSTEAD OF row trigger that would fire, a statement trigger or a
 * transition table on audit_log.events, a rule, row-level security, a
 * column that would need a default or a generated value, a partition that
 * is itself partitioned or foreign, a row no partition takes (the
 * INSERT's error then says so), a partition key other than request_time.
 * The server log says once when the writer changes from one path to the
 * other, and why.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "audit_log.h"
#include "compat.h"
#include "writer.h"

/* Rows given to one table_multi_insert() call, as COPY FROM buffers. */
#define AL_BULK_CHUNK 1000

/* The columns the writer fills, in the order of writer.c's INSERT. */
typedef enum AlBulkCol
{
	ALB_EVENT_ID,
	ALB_REQUEST_TIME,
	ALB_LOGGED_TIME,
	ALB_CATEGORY,
	ALB_TYPE,
	ALB_STATUS,
	ALB_REASON,
	ALB_USER,
	ALB_OBJECT,
	ALB_ADDR,
	ALB_APP,
	ALB_DATABASE,
	ALB_PID,
	ALB_SESSION,
	ALB_NODE,
	ALB_ENTRY,
	ALB_ORIGIN,					/* from 1.1 on */
	ALB_NCOLS
} AlBulkCol;

static const char *const al_bulk_col_names[ALB_NCOLS] = {
	"event_id", "request_time", "logged_time", "event_category", "event_type",
	"event_status", "event_status_reason_code", "user_name", "object_name",
	"client_addr", "application_name", "database_name", "backend_pid",
	"session_id", "source_node", "entry_data", "origin"
};

/* The type of each column; InvalidOid: an enum (checked as such). */
static const Oid al_bulk_col_types[ALB_NCOLS] = {
	UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, InvalidOid, TEXTOID,
	InvalidOid, TEXTOID, TEXTOID, TEXTOID, INETOID, TEXTOID, TEXTOID, INT4OID,
	TEXTOID, TEXTOID, JSONBOID, InvalidOid
};

/* One partition a batch writes into. */
typedef struct AlBulkPart
{
	Oid			relid;
	Relation	rel;
	ResultRelInfo *rri;
	int			attidx[ALB_NCOLS];	/* 0-based column of each, -1: none */
	int			nrows;
	int		   *rows;			/* indexes into the batch */
} AlBulkPart;

/* Which path the last batch took, to say so only when it changes. */
static int	al_bulk_last = -1;	/* -1 unknown, 0 INSERT, 1 multi-insert */
static char al_bulk_last_why[256];

/*
 * Would trigger t fire in this session?  As TriggerEnabled() decides on the
 * enabled state (the WHEN clause does not matter here: a BEFORE trigger is
 * not handled at all by this path).
 */
static bool
al_bulk_trigger_fires(const Trigger *t)
{
	if (t->tgenabled == TRIGGER_DISABLED)
		return false;
	if (SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
		return t->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			t->tgenabled == TRIGGER_FIRES_ALWAYS;
	return t->tgenabled == TRIGGER_FIRES_ON_ORIGIN ||
		t->tgenabled == TRIGGER_FIRES_ALWAYS;
}

/*
 * Can rows be given to the partitioned table rel without the executor?
 * NULL if so, else why not.
 */
static const char *
al_bulk_parent_refusal(Relation rel, int keyatt)
{
	PartitionKey key;
	TriggerDesc *td = rel->trigdesc;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return "audit_log.events is not a partitioned table";
	key = RelationGetPartitionKey(rel);
	if (key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 ||
		key->partattrs[0] != keyatt || key->parttypid[0] != TIMESTAMPTZOID ||
		key->partsupfunc[0].fn_oid != F_TIMESTAMPTZ_CMP)
		return "audit_log.events is not partitioned by range of request_time";
	if (rel->rd_rules != NULL)
		return "audit_log.events has a rule";
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
		return "audit_log.events has row-level security";
	for (i = 0; td != NULL && i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];

		if (!TRIGGER_FOR_INSERT(t->tgtype) || !al_bulk_trigger_fires(t))
			continue;
		if (!TRIGGER_FOR_ROW(t->tgtype))
			return "audit_log.events has a statement trigger on INSERT";
		if (t->tgnewtable != NULL)
			return "audit_log.events has a trigger with a transition table";
	}
	return NULL;
}

/*
 * Open partition p and check that this path can write into it: NULL if so
 * (its columns mapped), else why not.
 */
static const char *
al_bulk_open_part(AlBulkPart *p, bool with_origin, Oid *enumtypes)
{
	TupleDesc	desc;
	TriggerDesc *td;
	int			i;
	int			c;

	p->rel = table_open(p->relid, RowExclusiveLock);
	if (p->rel->rd_rel->relkind != RELKIND_RELATION)
		return psprintf("partition %s is not a plain table", RelationGetRelationName(p->rel));
	if (p->rel->rd_rules != NULL)
		return psprintf("partition %s has a rule", RelationGetRelationName(p->rel));
	td = p->rel->trigdesc;
	for (i = 0; td != NULL && i < td->numtriggers; i++)
	{
		const Trigger *t = &td->triggers[i];

		if (TRIGGER_FOR_INSERT(t->tgtype) && TRIGGER_FOR_ROW(t->tgtype) &&
			!TRIGGER_FOR_AFTER(t->tgtype) && al_bulk_trigger_fires(t))
			return psprintf("trigger %s on %s fires before each row",
							t->tgname, RelationGetRelationName(p->rel));
	}

	desc = RelationGetDescr(p->rel);
	for (c = 0; c < ALB_NCOLS; c++)
		p->attidx[c] = -1;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		for (c = 0; c < ALB_NCOLS; c++)
			if (strcmp(NameStr(att->attname), al_bulk_col_names[c]) == 0)
				break;
		if (c == ALB_ORIGIN && !with_origin)
			c = ALB_NCOLS;
		if (c == ALB_NCOLS)
		{
			/* a column the INSERT leaves to its default */
			if (att->atthasdef || att->attnotnull || att->attgenerated != '\0')
				return psprintf("column %s of %s needs a default",
								NameStr(att->attname), RelationGetRelationName(p->rel));
			continue;
		}
		if (al_bulk_col_types[c] != InvalidOid ? att->atttypid != al_bulk_col_types[c]
			: (enumtypes[c] != InvalidOid ? att->atttypid != enumtypes[c]
			   : !type_is_enum(att->atttypid)))
			return psprintf("column %s of %s has another type",
							NameStr(att->attname), RelationGetRelationName(p->rel));
		if (al_bulk_col_types[c] == InvalidOid)
			enumtypes[c] = att->atttypid;
		p->attidx[c] = i;
	}
	for (c = 0; c < (with_origin ? ALB_NCOLS : ALB_ORIGIN); c++)
		if (p->attidx[c] < 0)
			return psprintf("column %s of %s is missing",
							al_bulk_col_names[c], RelationGetRelationName(p->rel));
	return NULL;
}

/* The OID of enum label of type typid, or InvalidOid. */
static Oid
al_bulk_enum(Oid typid, const char *label)
{
	return GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
						   ObjectIdGetDatum(typid), CStringGetDatum(label));
}

/* A text datum of s as writer.c makes it (empty: NULL). */
static void
al_bulk_text(Datum *values, bool *isnull, int idx, const char *s)
{
	if (s[0] == '\0')
		return;					/* stays NULL */
	values[idx] = al_writer_text_datum(s);
	isnull[idx] = false;
}

/* Say once that the writer changed its way of writing. */
static void
al_bulk_say(int path, const char *why)
{
	if (path == al_bulk_last &&
		(path == 1 || strcmp(why, al_bulk_last_why) == 0))
		return;
	al_bulk_last = path;
	strlcpy(al_bulk_last_why, why ? why : "", sizeof(al_bulk_last_why));
	if (path == 1)
		ereport(LOG,
				(errmsg("audit_log: the writer writes its batches by table multi-insert")));
	else
		ereport(LOG,
				(errmsg("audit_log: the writer writes its batches with INSERT ... SELECT"),
				 errdetail("The multi-insert is not used because %s.", why)));
}

/*
 * The partition of audit_log.events that takes a row of request_time t,
 * as get_partition_for_tuple() finds it (-1: none); *lo and *hi (when
 * *has_lo, *has_hi) bound the range the same partition takes.
 */
static int
al_bulk_route(PartitionKey key, PartitionDesc pd, TimestampTz t,
			  bool *has_lo, TimestampTz *lo, bool *has_hi, TimestampTz *hi)
{
	PartitionBoundInfo bi = pd->boundinfo;
	Datum		v = TimestampTzGetDatum(t);
	bool		is_equal;
	int			off;
	int			idx;

	*has_lo = *has_hi = false;
	if (bi == NULL)
		return -1;
	off = bi->ndatums > 0 ?
		partition_range_datum_bsearch(key->partsupfunc, key->partcollation, bi,
									  1, &v, &is_equal) : -1;
	idx = bi->indexes[off + 1];
	if (off >= 0 && bi->kind[off][0] == PARTITION_RANGE_DATUM_VALUE)
	{
		*has_lo = true;
		*lo = DatumGetTimestampTz(bi->datums[off][0]);
	}
	if (off + 1 < bi->ndatums && bi->kind[off + 1][0] == PARTITION_RANGE_DATUM_VALUE)
	{
		*has_hi = true;
		*hi = DatumGetTimestampTz(bi->datums[off + 1][0]);
	}
	if (idx < 0)
		idx = bi->default_index;
	return idx;
}

/*
 * Write evs[0..n-1] into audit_log.events (locked by the caller, inside its
 * transaction, with a snapshot).  Returns false, having written nothing,
 * when the batch must go the INSERT's way; errors are raised as the
 * INSERT's would be.
 */
bool
al_writer_bulk_insert(const AuditEvent *evs, int n, bool with_origin,
					  TimestampTz logged_time, const char *source_node)
{
	Oid			nsp = get_namespace_oid("audit_log", false);
	Relation	parent;
	PartitionKey key;
	PartitionDesc pd;
	const char *why = NULL;
	AlBulkPart *parts;
	int			nparts = 0;
	int		   *route;
	Oid			enumtypes[ALB_NCOLS];
	Oid			catoid[AL_NUM_CATEGORIES];
	Oid			statoid[2];
	Oid			origoid[AL_NUM_ORIGINS];
	EState	   *estate;
	MemoryContext rowcxt;
	CommandId	cid;
	Datum		node_datum;
	int			keyatt;
	int			i;
	int			p;
	bool		has_lo = false,
				has_hi = false;
	TimestampTz lo = 0,
				hi = 0;
	int			cur = -1;

	parent = table_open(get_relname_relid("events", nsp), RowExclusiveLock);
	keyatt = get_attnum(RelationGetRelid(parent), "request_time");
	why = al_bulk_parent_refusal(parent, keyatt);
	if (why != NULL)
	{
		table_close(parent, NoLock);
		al_bulk_say(0, why);
		return false;
	}

	/* the partition of each row: looked up again only out of the last range */
	key = RelationGetPartitionKey(parent);
	pd = RelationGetPartitionDesc(parent, true);
	route = palloc(sizeof(int) * n);
	parts = palloc0(sizeof(AlBulkPart) * Max(pd->nparts, 1));
	for (i = 0; i < n; i++)
	{
		TimestampTz t = evs[i].request_time;

		if (cur < 0 || (has_lo && t < lo) || (has_hi && t >= hi))
		{
			int			idx = al_bulk_route(key, pd, t, &has_lo, &lo, &has_hi, &hi);

			if (idx < 0)
			{
				why = "a row falls into no partition";
				break;
			}
			for (cur = 0; cur < nparts; cur++)
				if (parts[cur].relid == pd->oids[idx])
					break;
			if (cur == nparts)
				parts[nparts++].relid = pd->oids[idx];
		}
		route[i] = cur;
		parts[cur].nrows++;
	}

	/* every partition opened and checked before anything is written */
	memset(enumtypes, 0, sizeof(enumtypes));
	for (p = 0; p < nparts && why == NULL; p++)
		why = al_bulk_open_part(&parts[p], with_origin, enumtypes);
	if (why == NULL)
	{
		for (i = 0; i < AL_NUM_CATEGORIES && why == NULL; i++)
			if (!OidIsValid(catoid[i] = al_bulk_enum(enumtypes[ALB_CATEGORY], al_category_names[i])))
				why = "a category is not in the type event_category";
		if (why == NULL &&
			(!OidIsValid(statoid[0] = al_bulk_enum(enumtypes[ALB_STATUS], "FAILURE")) ||
			 !OidIsValid(statoid[1] = al_bulk_enum(enumtypes[ALB_STATUS], "SUCCESS"))))
			why = "a status is not in the type event_status";
		for (i = 0; with_origin && i < AL_NUM_ORIGINS && why == NULL; i++)
			if (!OidIsValid(origoid[i] = al_bulk_enum(enumtypes[ALB_ORIGIN], al_origin_names[i])))
				why = "an origin is not in the type event_origin";
	}
	if (why != NULL)
	{
		for (p = 0; p < nparts; p++)
			if (parts[p].rel != NULL)
				table_close(parts[p].rel, NoLock);
		table_close(parent, NoLock);
		al_bulk_say(0, why);
		return false;
	}

	for (p = 0; p < nparts; p++)
	{
		parts[p].rows = palloc(sizeof(int) * parts[p].nrows);
		parts[p].nrows = 0;
	}
	for (i = 0; i < n; i++)
		parts[route[i]].rows[parts[route[i]].nrows++] = i;

	/* the executor state an INSERT would have, for the partitions only */
	estate = CreateExecutorState();
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = cid = GetCurrentCommandId(true);
	node_datum = CStringGetTextDatum(source_node);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit_log multi-insert rows",
								   ALLOCSET_DEFAULT_SIZES);
	AfterTriggerBeginQuery();

	for (p = 0; p < nparts; p++)
	{
		AlBulkPart *part = &parts[p];
		TupleTableSlot *slots[AL_BULK_CHUNK];
		BulkInsertState bistate = GetBulkInsertState();
		int			nslots = Min(part->nrows, AL_BULK_CHUNK);
		int			done;
		int			s;

		part->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(part->rri, part->rel, 0, NULL, 0);
		ExecOpenIndices(part->rri, false);
		estate->es_opened_result_relations =
			lappend(estate->es_opened_result_relations, part->rri);
		for (s = 0; s < nslots; s++)
			slots[s] = table_slot_create(part->rel, NULL);

		for (done = 0; done < part->nrows; done += nslots)
		{
			int			k = Min(nslots, part->nrows - done);
			MemoryContext oldcxt = MemoryContextSwitchTo(rowcxt);

			for (s = 0; s < k; s++)
			{
				const AuditEvent *ev = &evs[part->rows[done + s]];
				TupleTableSlot *slot = slots[s];
				Datum	   *values = slot->tts_values;
				bool	   *isnull = slot->tts_isnull;
				const int  *a = part->attidx;

				ExecClearTuple(slot);
				memset(isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
#define ALB_SET(col, datum) (values[a[col]] = (datum), isnull[a[col]] = false)
				ALB_SET(ALB_EVENT_ID, UUIDPGetDatum((pg_uuid_t *) &ev->event_id));
				ALB_SET(ALB_REQUEST_TIME, TimestampTzGetDatum(ev->request_time));
				ALB_SET(ALB_LOGGED_TIME, TimestampTzGetDatum(logged_time));
				ALB_SET(ALB_CATEGORY, ObjectIdGetDatum(catoid[ev->category < AL_NUM_CATEGORIES ? ev->category : AL_CAT_AUDIT_LOG]));
				al_bulk_text(values, isnull, a[ALB_TYPE], ev->event_type);
				ALB_SET(ALB_STATUS, ObjectIdGetDatum(statoid[ev->success ? 1 : 0]));
				al_bulk_text(values, isnull, a[ALB_REASON], ev->reason_code);
				al_bulk_text(values, isnull, a[ALB_USER], ev->user_name);
				al_bulk_text(values, isnull, a[ALB_OBJECT], ev->object_name);
				if (ev->client_addr[0] != '\0')
					ALB_SET(ALB_ADDR, DirectFunctionCall1(inet_in, CStringGetDatum(ev->client_addr)));
				al_bulk_text(values, isnull, a[ALB_APP], ev->application_name);
				al_bulk_text(values, isnull, a[ALB_DATABASE], ev->database_name);
				ALB_SET(ALB_PID, Int32GetDatum(ev->backend_pid));
				al_bulk_text(values, isnull, a[ALB_SESSION], ev->session_id);
				ALB_SET(ALB_NODE, node_datum);
				ALB_SET(ALB_ENTRY, al_writer_jsonb(ev->entry_data[0] != '\0' ? ev->entry_data : "{}"));
				if (with_origin)
					ALB_SET(ALB_ORIGIN, ObjectIdGetDatum(origoid[ev->origin < AL_NUM_ORIGINS ? ev->origin : AL_ORIGIN_SERVER]));
#undef ALB_SET
				ExecStoreVirtualTuple(slot);
				if (part->rel->rd_att->constr != NULL)
					ExecConstraints(part->rri, slot, estate);
				ResetPerTupleExprContext(estate);
			}
			MemoryContextSwitchTo(oldcxt);

			/* the slots copy the rows into tuples of their own */
			table_multi_insert(part->rel, slots, k, cid, 0, bistate);

			/* the indexes (a duplicate event_id fails here) and AFTER triggers */
			for (s = 0; s < k; s++)
			{
				List	   *recheck = NIL;

				if (part->rri->ri_NumIndices > 0)
					recheck = al_exec_insert_index_tuples(part->rri, slots[s], estate);
				ExecARInsertTriggers(estate, part->rri, slots[s], recheck, NULL);
				list_free(recheck);
				ResetPerTupleExprContext(estate);
			}
			MemoryContextReset(rowcxt);
		}

		for (s = 0; s < nslots; s++)
			ExecDropSingleTupleTableSlot(slots[s]);
		FreeBulkInsertState(bistate);
	}

	/* the AFTER ROW triggers fire now, as at the end of the INSERT */
	AfterTriggerEndQuery(estate);
	ExecCloseResultRelations(estate);
	for (p = 0; p < nparts; p++)
		table_close(parts[p].rel, NoLock);
	table_close(parent, NoLock);
	FreeExecutorState(estate);
	MemoryContextDelete(rowcxt);
	CommandCounterIncrement();
	al_bulk_say(1, NULL);
	return true;
}
