/*-------------------------------------------------------------------------
 *
 * countif.c
 *		The aggregate audit_log.countif(boolean [, boolean ...]): the number
 *		of rows for which every condition is true.
 *
 * Two paths compute it, with the same result.
 *
 * At plan time (the planner hook below, installed whenever the library is
 * loaded) a plain countif(c1, ..., cn) [FILTER (WHERE f)] is rewritten into
 * count(*) FILTER (WHERE f AND c1 AND ... AND cn) before the standard
 * planner sees it.  That is what makes it as fast as FILTER on every shape:
 * the cost countif had over FILTER was not the call of its transition
 * function alone but that every condition was evaluated on every row and
 * the function was called on every row, where FILTER stops at the first
 * false condition and calls int8inc only on the rows that count (issue 20:
 * 1.15 of FILTER on a parallel shape, more with more conditions).  FILTER
 * treats NULL as false, as countif does, so the results are the same.  The
 * rewrite is left out where it could change what is evaluated or checked:
 * DISTINCT or ORDER BY inside the call, an argument with a volatile
 * function (countif evaluates every argument, AND may stop early), and a
 * user without EXECUTE on the aggregate (the executor then refuses it as
 * before).  Window calls (OVER) are not Aggrefs and keep the C path.
 * EXPLAIN VERBOSE shows the rewritten form.
 *
 * Otherwise (a window, DISTINCT, volatile arguments, or the rewrite not
 * installed) the C transition function counts: one serves all arities (1
 * to 8 conditions, one CREATE AGGREGATE each) by looking at PG_NARGS().
 * It is strict from 1.1 on: a row with a NULL condition does not count, so
 * the executor skips it without calling the function (the state starts at
 * 0 and never becomes NULL: over no rows the result is 0, never NULL).
 * Under a 1.0 schema the function is not strict and checks the NULLs
 * itself.  The state is a plain int8 passed by value, so the aggregate
 * allocates nothing per row.  Partial states combine with int8pl (parallel
 * aggregation), and the inverse transition function (as strict as the
 * forward one) lets a moving window frame drop the rows that leave it
 * instead of recounting the frame.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "audit_log.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(audit_log_countif_trans);
PG_FUNCTION_INFO_V1(audit_log_countif_inv);

static planner_hook_type prev_planner_hook = NULL;

/*
 * True when every condition argument (1 .. nargs-1) is non-NULL and true.
 * Under the strict 1.1 definitions the executor has already skipped the
 * rows with a NULL condition; the NULL test stays for a 1.0 schema.
 */
static inline bool
countif_all_true(FunctionCallInfo fcinfo)
{
	int			nargs = PG_NARGS();
	int			i;

	for (i = 1; i < nargs; i++)
	{
		if (PG_ARGISNULL(i) || !PG_GETARG_BOOL(i))
			return false;
	}
	return true;
}

/*
 * Transition: count the row when all its conditions hold.
 */
Datum
audit_log_countif_trans(PG_FUNCTION_ARGS)
{
	int64		state = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);

	if (countif_all_true(fcinfo))
	{
		if (unlikely(pg_add_s64_overflow(state, 1, &state)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("bigint out of range")));
	}
	PG_RETURN_INT64(state);
}

/*
 * Inverse transition (moving window frames): uncount a row that leaves the
 * frame.  It was counted exactly when its conditions held.
 */
Datum
audit_log_countif_inv(PG_FUNCTION_ARGS)
{
	int64		state = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);

	if (countif_all_true(fcinfo))
		state--;
	PG_RETURN_INT64(state);
}

/*
 * Is fnoid one of the aggregates audit_log.countif(boolean, ...)?  Built-in
 * functions are told apart without a catalog look-up.
 */
static bool
is_countif(Oid fnoid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		result = false;

	if (fnoid < FirstNormalObjectId)
		return false;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prokind == PROKIND_AGGREGATE && proc->prorettype == INT8OID &&
		strcmp(NameStr(proc->proname), "countif") == 0)
	{
		char	   *nsp = get_namespace_name(proc->pronamespace);

		result = nsp != NULL && strcmp(nsp, "audit_log") == 0;
		if (nsp)
			pfree(nsp);
	}
	ReleaseSysCache(tup);
	return result;
}

/*
 * Rewrite one Aggref in place when it is a plain countif call (see the
 * header); the planner works on its own copy of the query.
 */
static void
countif_rewrite(Aggref *agg)
{
	List	   *conds = NIL;
	ListCell   *lc;

	if (agg->aggkind != AGGKIND_NORMAL || agg->aggstar || agg->aggvariadic ||
		agg->aggdistinct != NIL || agg->aggorder != NIL ||
		agg->aggdirectargs != NIL || agg->args == NIL)
		return;
	foreach(lc, agg->args)
	{
		TargetEntry *te = lfirst_node(TargetEntry, lc);

		if (te->resjunk || exprType((Node *) te->expr) != BOOLOID)
			return;
	}
	if (!is_countif(agg->aggfnoid))
		return;
	if (contain_volatile_functions((Node *) agg->args))
		return;
	if (object_aclcheck(ProcedureRelationId, agg->aggfnoid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		return;

	/* the existing FILTER first: it was evaluated before the arguments */
	if (agg->aggfilter)
		conds = lappend(conds, agg->aggfilter);
	foreach(lc, agg->args)
		conds = lappend(conds, lfirst_node(TargetEntry, lc)->expr);

	agg->aggfnoid = F_COUNT_;
	agg->aggstar = true;
	agg->args = NIL;
	agg->aggargtypes = NIL;
	agg->aggfilter = list_length(conds) == 1 ? linitial(conds) :
		(Expr *) makeBoolExpr(AND_EXPR, conds, agg->location);
	agg->inputcollid = InvalidOid;
	agg->aggtranstype = InvalidOid;
}

static bool
countif_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, countif_walker, context, 0);
	if (IsA(node, Aggref))
		countif_rewrite((Aggref *) node);
	return expression_tree_walker(node, countif_walker, context);
}

/*
 * Could the query hold an Aggref at all?  Most statements are answered
 * from the top level: no aggregate, no sublink, no CTE, no subquery.
 */
static bool
may_hold_aggrefs(Query *parse)
{
	ListCell   *lc;

	if (parse->hasAggs || parse->hasWindowFuncs || parse->hasSubLinks ||
		parse->cteList != NIL)
		return true;
	foreach(lc, parse->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_SUBQUERY)
			return true;
	}
	return false;
}

static PlannedStmt *
countif_planner(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	if (may_hold_aggrefs(parse))
		(void) countif_walker((Node *) parse, NULL);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * Install the rewrite (every load, preloaded or not: it only needs the
 * catalog).
 */
void
al_countif_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = countif_planner;
}
