/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL majors audit_log builds on
 *		(15, 16, 17 and 18), in one place.  The code calls the names below
 *		and never tests PG_VERSION_NUM itself: a macro or a static inline
 *		wrapper gives each changed server interface one spelling that means
 *		the same on every major, the spelling of the newest major where one
 *		exists (so the guards for old majors can simply be deleted once
 *		those majors are no longer supported).
 *
 * 15, 17 and 18 are built and tested (tools/test-all); 16 is only built
 * by these rules: each guard names the major that made the change, and
 * where that is 16 the 16 branch is the same code that 17 compiles.
 *
 * Copyright (c) 2026, audit_log developers
 *
 * src/include/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_LOG_COMPAT_H
#define AUDIT_LOG_COMPAT_H

#include "access/genam.h"
#include "commands/copy.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgtime.h"
#include "utils/backend_status.h"
#include "utils/datetime.h"
/* 16 stopped including guc.h from the headers that used to bring in
 * application_name */
#include "utils/guc.h"
#include "utils/guc_tables.h"
/* 16 moved get_subscription_oid() here from the subscription headers */
#include "utils/lsyscache.h"
#include "utils/relcache.h"

#if PG_VERSION_NUM < 150000
#error "audit_log needs PostgreSQL 15 or later"
#endif

/*
 * AmBackgroundWorkerProcess(): whether this process is a background worker.
 * 17 replaced the global IsBackgroundWorker by the backend type test.
 */
#if PG_VERSION_NUM < 170000
#define AmBackgroundWorkerProcess() (IsBackgroundWorker)
#endif

/*
 * guc_malloc(elevel, size): memory for what a GUC check hook hands over to
 * the GUC machinery (a replaced *newval or the *extra of the assign hook),
 * which frees it.  Up to 15 that memory had to come from malloc(); from 16
 * on the GUC code allocates and frees it in its own memory context, so it
 * must come from its guc_malloc(), and a malloc()ed block makes pfree()
 * fail with "pfree called with invalid pointer".
 */
#if PG_VERSION_NUM < 160000
#define guc_malloc(elevel, size) malloc(size)
#endif

/*
 * object_aclcheck(classid, objectid, roleid, mode): 16 replaced the
 * per-catalog pg_*_aclcheck() functions by this one; we check functions
 * only (ProcedureRelationId), which 15 spells pg_proc_aclcheck().
 */
#if PG_VERSION_NUM < 160000
#define object_aclcheck(classid, objectid, roleid, mode) \
	(AssertMacro((classid) == ProcedureRelationId), pg_proc_aclcheck((objectid), (roleid), (mode)))
#endif

/*
 * al_grant_role_admin_opt(stmt): whether GRANT role ... WITH ADMIN OPTION,
 * or REVOKE ADMIN OPTION FOR role, was given.  16 replaced the boolean
 * admin_opt by a list of options (ADMIN, INHERIT, SET): GRANT carries
 * "admin" with its value, REVOKE ... OPTION FOR carries it (as false) only
 * when the option itself is revoked.
 */
static inline bool
al_grant_role_admin_opt(GrantRoleStmt *stmt)
{
#if PG_VERSION_NUM >= 160000
	ListCell   *lc;

	foreach(lc, stmt->opt)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "admin") == 0)
			return stmt->is_grant ? defGetBoolean(opt) : true;
	}
	return false;
#else
	return stmt->admin_opt;
#endif
}

/*
 * al_decode_timezone_abbrev(field, lowtoken, offset, tz): look a time zone
 * abbreviation up in the timezone_abbreviations set; returns its token type
 * (TZ, DTZ, DYNTZ, or UNKNOWN_FIELD when it is not an abbreviation), the
 * offset of a fixed one and the zone of a dynamic one.  16 made the type an
 * output argument and the return value an error code, which 15 raised
 * itself: it is raised here the same way.
 */
static inline int
al_decode_timezone_abbrev(int field, char *lowtoken, int *offset, pg_tz **tz)
{
#if PG_VERSION_NUM >= 160000
	int			ftype;
	int			dterr;
	DateTimeErrorExtra extra;

	memset(&extra, 0, sizeof(extra));
	dterr = DecodeTimezoneAbbrev(field, lowtoken, &ftype, offset, tz, &extra);
	if (dterr != 0)
		DateTimeParseError(dterr, &extra, lowtoken, "timestamp with time zone",
						   NULL);
	return ftype;
#else
	return DecodeTimezoneAbbrev(field, lowtoken, offset, tz);
#endif
}

/*
 * al_begin_copy_to(...): BeginCopyTo without a data callback.  16 added the
 * callback argument after is_program.
 */
#if PG_VERSION_NUM >= 160000
#define al_begin_copy_to(pstate, rel, raw_query, relid, filename, is_program, attnamelist, options) \
	BeginCopyTo((pstate), (rel), (raw_query), (relid), (filename), (is_program), \
				NULL, (attnamelist), (options))
#else
#define al_begin_copy_to(pstate, rel, raw_query, relid, filename, is_program, attnamelist, options) \
	BeginCopyTo((pstate), (rel), (raw_query), (relid), (filename), (is_program), \
				(attnamelist), (options))
#endif

/*
 * al_exec_insert_index_tuples(rri, slot, estate): the index entries of a
 * new row (not an update, duplicates an error), returning the indexes
 * whose deferred constraints need a recheck.  16 added onlySummarizing.
 */
#if PG_VERSION_NUM >= 160000
#define al_exec_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define al_exec_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * pgstat_get_local_beentry_by_index(idx): the idx-th (from 1) entry of this
 * backend's snapshot of backend statuses.  16 renamed it (it had been
 * pgstat_fetch_stat_local_beentry).
 */
#if PG_VERSION_NUM < 160000
#define pgstat_get_local_beentry_by_index(idx) pgstat_fetch_stat_local_beentry(idx)
#endif

/*
 * al_get_guc_variables(&n): the array of every setting and its length.  16
 * made the length an output argument of get_guc_variables and removed
 * GetNumConfigOptions.
 */
static inline struct config_generic **
al_get_guc_variables(int *num_vars)
{
#if PG_VERSION_NUM >= 160000
	return get_guc_variables(num_vars);
#else
	*num_vars = GetNumConfigOptions();
	return get_guc_variables();
#endif
}

/*
 * al_index_beginscan(heap, index, snapshot, nkeys, norderbys): start an
 * index scan without instrumentation.  18 added the instrumentation
 * argument after the snapshot.
 */
#if PG_VERSION_NUM >= 180000
#define al_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define al_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * al_relation_primary_key_index(rel): the OID of the relation's primary key
 * index, InvalidOid when it has none or only a deferrable one.  18 added
 * the argument that also accepts a deferrable key; false keeps the older
 * answer.
 */
#if PG_VERSION_NUM >= 180000
#define al_relation_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define al_relation_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * ExecutorCheckPerms_hook (capture_trail.c): 16 added the list of
 * RTEPermissionInfo, which from then on holds the required permissions
 * that 15 kept in each range table entry.  al_perms_find_select returns the
 * first relation the statement needs SELECT on for which match() is true,
 * InvalidOid when there is none.
 */
#if PG_VERSION_NUM >= 160000
#define AL_CHECK_PERMS_PARAMS List *rangeTable, List *rtePermInfos, bool ereport_on_violation
#define AL_CHECK_PERMS_ARGS rangeTable, rtePermInfos, ereport_on_violation
#define AL_CHECK_PERMS_PERMINFOS rtePermInfos
#else
#define AL_CHECK_PERMS_PARAMS List *rangeTable, bool ereport_on_violation
#define AL_CHECK_PERMS_ARGS rangeTable, ereport_on_violation
#define AL_CHECK_PERMS_PERMINFOS NIL
#endif
#define AL_CHECK_PERMS_RTABLE rangeTable

static inline Oid
al_perms_find_select(List *rangetable, List *perminfos, bool (*match) (Oid))
{
	ListCell   *lc;

#if PG_VERSION_NUM >= 160000
	foreach(lc, perminfos)
	{
		RTEPermissionInfo *perm = lfirst_node(RTEPermissionInfo, lc);

		if ((perm->requiredPerms & ACL_SELECT) && match(perm->relid))
			return perm->relid;
	}
#else
	foreach(lc, rangetable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && (rte->requiredPerms & ACL_SELECT) &&
			match(rte->relid))
			return rte->relid;
	}
#endif
	return InvalidOid;
}

#endif							/* AUDIT_LOG_COMPAT_H */
