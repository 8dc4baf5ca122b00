/*-------------------------------------------------------------------------
 *
 * day.c
 *		Calendar days in a time zone: audit_log.day(ts [, tz]),
 *		audit_log.day_start(d, tz), audit_log.days(from, to), and the
 *		rollup helper audit_log._hour_day(hour, tz).
 *
 * A zone is resolved the way AT TIME ZONE resolves it (an abbreviation from
 * the timezone_abbreviations set first, then a name of the time zone
 * database), so day(ts, tz) always equals (ts AT TIME ZONE tz)::date.  The
 * resolved zone is cached in fn_extra together with the UTC offset and the
 * interval of instants over which that offset holds (from one transition to
 * the next), so grouping a whole table by day costs one comparison and one
 * division per row, not a time zone lookup.
 *
 * Infinite instants map to infinite days and back, as the casts
 * timestamptz::date and date::timestamptz do.  An unknown zone is an error
 * naming the zone.
 *
 * Copyright (c) 2026, audit_log developers
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "audit_log.h"
#include "compat.h"

PG_FUNCTION_INFO_V1(audit_log_day);
PG_FUNCTION_INFO_V1(audit_log_day_tz);
PG_FUNCTION_INFO_V1(audit_log_day_start);
PG_FUNCTION_INFO_V1(audit_log_days);
PG_FUNCTION_INFO_V1(audit_log_hour_day);

typedef enum ZoneKind
{
	ZONE_FIXED,					/* fixed offset (abbreviation or DST-less zone) */
	ZONE_DYNAMIC,				/* abbreviation whose meaning changed over time */
	ZONE_TZDB					/* zone of the time zone database */
} ZoneKind;

/*
 * A resolved zone, kept in fn_extra.  For ZONE_TZDB, [valid_lo, valid_hi)
 * is an interval of instants over which the offset valid_off holds.
 */
typedef struct ZoneCache
{
	bool		resolved;
	char		name[TZ_STRLEN_MAX + 1];	/* as given by the caller */
	pg_tz	   *session;		/* for day(ts): the session zone resolved */
	ZoneKind	kind;
	pg_tz	   *tz;				/* ZONE_TZDB */
	int64		fixed_off;		/* ZONE_FIXED: microseconds east of UTC */
	TimestampTz valid_lo;
	TimestampTz valid_hi;
	int64		valid_off;
} ZoneCache;

/* microseconds from the Unix epoch to the PostgreSQL epoch */
#define PG_UNIX_EPOCH_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

static ZoneCache *
get_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ZoneCache));
	return (ZoneCache *) fcinfo->flinfo->fn_extra;
}

static void
zone_from_tz(ZoneCache *zc, pg_tz *tz)
{
	long		gmtoff;

	zc->tz = tz;
	zc->valid_lo = zc->valid_hi = 0;
	if (pg_get_timezone_offset(tz, &gmtoff))
	{
		zc->kind = ZONE_FIXED;
		zc->fixed_off = (int64) gmtoff * USECS_PER_SEC;
	}
	else
		zc->kind = ZONE_TZDB;
}

/*
 * Resolve a zone name as AT TIME ZONE does, caching the answer.
 */
static ZoneCache *
resolve_zone(FunctionCallInfo fcinfo, text *zone)
{
	ZoneCache  *zc = get_cache(fcinfo);
	char		name[TZ_STRLEN_MAX + 1];
	char	   *lower;
	int			type;
	int			val;
	pg_tz	   *tz;

	text_to_cstring_buffer(zone, name, sizeof(name));
	if (zc->resolved && zc->session == NULL && strcmp(zc->name, name) == 0)
		return zc;

	zc->resolved = false;
	zc->session = NULL;
	strlcpy(zc->name, name, sizeof(zc->name));

	lower = downcase_truncate_identifier(name, strlen(name), false);
	type = al_decode_timezone_abbrev(0, lower, &val, &tz);
	pfree(lower);
	if (type == TZ || type == DTZ)
	{
		/* Fixed abbreviation: measure its offset the way AT TIME ZONE applies it. */
		Timestamp	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
																  PointerGetDatum(zone),
																  TimestampTzGetDatum(0)));

		zc->kind = ZONE_FIXED;
		zc->fixed_off = local;
		zc->tz = NULL;
	}
	else if (type == DYNTZ)
	{
		zc->kind = ZONE_DYNAMIC;
		zc->tz = NULL;
	}
	else
	{
		tz = pg_tzset(name);
		if (tz == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time zone \"%s\" not recognized", name),
					 errhint("Use a name listed in pg_timezone_names (such as \"UTC\" or \"Europe/Paris\") or an abbreviation listed in pg_timezone_abbrevs.")));
		zone_from_tz(zc, tz);
	}
	zc->resolved = true;
	return zc;
}

/*
 * The session's zone (TimeZone), cached until it changes.
 */
static ZoneCache *
session_zone(FunctionCallInfo fcinfo)
{
	ZoneCache  *zc = get_cache(fcinfo);

	if (zc->resolved && zc->session == session_timezone)
		return zc;
	zc->name[0] = '\0';
	zc->session = session_timezone;
	zone_from_tz(zc, session_timezone);
	zc->resolved = true;
	return zc;
}

/* floor division and remainder of a timestamp by a day */
static inline void
split_day(int64 t, int64 *days, int64 *rem)
{
	int64		q = t / USECS_PER_DAY;
	int64		r = t % USECS_PER_DAY;

	if (r < 0)
	{
		r += USECS_PER_DAY;
		q--;
	}
	*days = q;
	*rem = r;
}

/*
 * UTC offset, in microseconds east, in effect at instant ts (finite).
 */
static int64
zone_offset(ZoneCache *zc, text *zone, TimestampTz ts)
{
	if (zc->kind == ZONE_FIXED)
		return zc->fixed_off;
	if (zc->kind == ZONE_DYNAMIC)
	{
		/* rare: ask the core function each time */
		Timestamp	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
																  PointerGetDatum(zone),
																  TimestampTzGetDatum(ts)));

		return local - ts;
	}
	if (ts >= zc->valid_lo && ts < zc->valid_hi)
		return zc->valid_off;
	else
	{
		pg_time_t	secs;
		pg_time_t	boundary;
		long		before_off;
		long		after_off;
		int			before_dst;
		int			after_dst;
		int			rc;

		/* seconds since the Unix epoch, rounded down */
		secs = ts / USECS_PER_SEC;
		if (ts % USECS_PER_SEC < 0)
			secs--;
		secs += (pg_time_t) (PG_UNIX_EPOCH_USECS / USECS_PER_SEC);

		rc = pg_next_dst_boundary(&secs, &before_off, &before_dst, &boundary,
								  &after_off, &after_dst, zc->tz);
		if (rc < 0)
		{
			/* cannot happen in the current implementation; be slow but right */
			int			tzoff;
			struct pg_tm tm;
			fsec_t		fsec;

			if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, zc->tz) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						 errmsg("timestamp out of range")));
			return -(int64) tzoff * USECS_PER_SEC;
		}
		zc->valid_off = (int64) before_off * USECS_PER_SEC;
		zc->valid_lo = ((int64) secs * USECS_PER_SEC) - PG_UNIX_EPOCH_USECS;
		if (rc == 0 ||
			boundary - PG_UNIX_EPOCH_USECS / USECS_PER_SEC >= END_TIMESTAMP / USECS_PER_SEC)
			zc->valid_hi = END_TIMESTAMP;
		else
			zc->valid_hi = ((int64) boundary * USECS_PER_SEC) - PG_UNIX_EPOCH_USECS;
		return zc->valid_off;
	}
}

/*
 * The local calendar day of a finite instant.
 */
static DateADT
day_of(ZoneCache *zc, text *zone, TimestampTz ts)
{
	int64		off = zone_offset(zc, zone, ts);
	int64		days;
	int64		rem;

	/* days and time of day in UTC, then shift by the offset (< 1 day) */
	split_day(ts, &days, &rem);
	rem += off;
	if (rem >= USECS_PER_DAY)
		days++;
	else if (rem < 0)
		days--;
	return (DateADT) days;
}

static Datum
day_result(ZoneCache *zc, text *zone, TimestampTz ts)
{
	DateADT		result;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		DATE_NOBEGIN(result);
	else if (TIMESTAMP_IS_NOEND(ts))
		DATE_NOEND(result);
	else
		result = day_of(zc, zone, ts);
	return DateADTGetDatum(result);
}

/*
 * audit_log.day(ts timestamptz) RETURNS date: the day of ts in the session
 * zone (STABLE: it depends on TimeZone).
 */
Datum
audit_log_day(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);

	return day_result(session_zone(fcinfo), NULL, ts);
}

/*
 * audit_log.day(ts timestamptz, tz text) RETURNS date: the day of ts in
 * zone tz (IMMUTABLE, like AT TIME ZONE).
 */
Datum
audit_log_day_tz(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	text	   *zone = PG_GETARG_TEXT_PP(1);

	return day_result(resolve_zone(fcinfo, zone), zone, ts);
}

/*
 * audit_log.day_start(d date, tz text) RETURNS timestamptz: the first
 * instant of day d in zone tz.  When the zone skips midnight (a DST change
 * at 00:00), that is the instant clocks jump to; when midnight happens
 * twice, it is the first of the two.
 */
Datum
audit_log_day_start(PG_FUNCTION_ARGS)
{
	DateADT		d = PG_GETARG_DATEADT(0);
	text	   *zone = PG_GETARG_TEXT_PP(1);
	ZoneCache  *zc = resolve_zone(fcinfo, zone);
	Timestamp	midnight;
	TimestampTz result;

	if (DATE_IS_NOBEGIN(d))
	{
		TIMESTAMP_NOBEGIN(result);
		PG_RETURN_TIMESTAMPTZ(result);
	}
	if (DATE_IS_NOEND(d))
	{
		TIMESTAMP_NOEND(result);
		PG_RETURN_TIMESTAMPTZ(result);
	}
	if (d < (DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE) ||
		d >= (TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range for timestamp")));
	midnight = (Timestamp) d * USECS_PER_DAY;

	if (zc->kind == ZONE_FIXED)
		result = midnight - zc->fixed_off;
	else if (zc->kind == ZONE_DYNAMIC)
		result = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone,
														 PointerGetDatum(zone),
														 TimestampGetDatum(midnight)));
	else
	{
		struct pg_tm tm;
		int			tzoff;
		int			tries;

		/*
		 * Local midnight as AT TIME ZONE reads it: a skipped midnight with the
		 * offset before the jump (which lands on the jump), a repeated one
		 * with the offset after it (the second midnight).
		 */
		j2date(d + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tzoff = DetermineTimeZoneOffset(&tm, zc->tz);
		if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));

		/* Step back to an earlier midnight while the instant before is day d. */
		for (tries = 0; tries < 3; tries++)
		{
			TimestampTz before = result - 1;
			int64		off;
			TimestampTz earlier;

			if (!IS_VALID_TIMESTAMP(before) || day_of(zc, zone, before) < d)
				break;
			off = zone_offset(zc, zone, before);
			earlier = midnight - off;
			if (earlier >= result || zone_offset(zc, zone, earlier) != off)
				break;
			result = earlier;
		}
	}
	if (!IS_VALID_TIMESTAMP(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_TIMESTAMPTZ(result);
}

/*
 * audit_log.days(from_day date, to_day date) RETURNS SETOF date: every day
 * from from_day to to_day included (none when from_day > to_day).
 */
Datum
audit_log_days(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	DateADT    *next;
	DateADT		last;

	if (SRF_IS_FIRSTCALL())
	{
		DateADT		from = PG_GETARG_DATEADT(0);
		DateADT		to = PG_GETARG_DATEADT(1);
		MemoryContext oldcontext;

		if (DATE_NOT_FINITE(from) || DATE_NOT_FINITE(to))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("days() needs finite dates"),
					 errdetail("The range from %s to %s has no end.",
							   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(from))),
							   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(to))))));
		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		next = palloc(2 * sizeof(DateADT));
		next[0] = from;
		next[1] = to;
		funcctx->user_fctx = next;
		MemoryContextSwitchTo(oldcontext);
	}
	funcctx = SRF_PERCALL_SETUP();
	next = (DateADT *) funcctx->user_fctx;
	last = next[1];
	if (next[0] <= last)
	{
		DateADT		d = next[0];

		next[0]++;
		SRF_RETURN_NEXT(funcctx, DateADTGetDatum(d));
	}
	SRF_RETURN_DONE(funcctx);
}

/*
 * audit_log._hour_day(hour timestamptz, tz text) RETURNS date: the local day
 * that holds every instant of [hour, hour + 1 hour), or NULL when that hour
 * straddles a local midnight (zones whose offset is not a whole number of
 * hours) or an offset change.  The rollups use an hour's count for a day
 * only when this says the whole hour belongs to it.
 */
Datum
audit_log_hour_day(PG_FUNCTION_ARGS)
{
	TimestampTz hour = PG_GETARG_TIMESTAMPTZ(0);
	text	   *zone = PG_GETARG_TEXT_PP(1);
	ZoneCache  *zc = resolve_zone(fcinfo, zone);
	TimestampTz last;
	DateADT		first_day;

	if (TIMESTAMP_NOT_FINITE(hour) || !IS_VALID_TIMESTAMP(hour + USECS_PER_HOUR))
		PG_RETURN_NULL();
	last = hour + USECS_PER_HOUR - 1;
	if (zone_offset(zc, zone, hour) != zone_offset(zc, zone, last))
		PG_RETURN_NULL();
	first_day = day_of(zc, zone, hour);
	if (day_of(zc, zone, last) != first_day)
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(first_day);
}
