/*-------------------------------------------------------------------------
 *
 * countif.c
 *		The aggregate audit_log.countif(boolean [, boolean ...]): the number
 *		of rows for which every condition is true.
 *
 * One transition function serves all arities (1 to 8 conditions, one
 * CREATE AGGREGATE each): it looks at PG_NARGS().  A NULL condition counts
 * as false, so the function is not strict, and the state is a plain int8
 * that starts at 0: over no rows the result is 0, never NULL.  The state is
 * passed by value, so the aggregate allocates nothing per row.  Partial
 * states combine with int8pl (parallel aggregation), and the inverse
 * transition function lets a moving window frame drop the rows that leave
 * it instead of recounting the frame.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"

#include "audit_log.h"

PG_FUNCTION_INFO_V1(audit_log_countif_trans);
PG_FUNCTION_INFO_V1(audit_log_countif_inv);

/*
 * True when every condition argument (1 .. nargs-1) is non-NULL and true.
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
