\echo Use "CREATE EXTENSION audit_log" to load this file. \quit

/*
 * 30_analytics: the countif aggregate, calendar-day helpers, hourly
 * rollups and daily login activity.
 */

/*
 * countif(c1 [, c2 ... c8]): rows where every condition is true.  One C
 * transition function (and its inverse, for moving window frames) serves
 * every arity; each arity is its own aggregate, made by the loop below.
 */
DO $countif$
DECLARE
	args text;
BEGIN
	FOR n IN 1..8 LOOP
		args := pg_catalog.array_to_string(pg_catalog.array_fill('boolean'::text, ARRAY[n]), ', ');
		EXECUTE pg_catalog.format(
			'CREATE FUNCTION audit_log._countif_trans(bigint, %1$s) RETURNS bigint'
			' LANGUAGE C IMMUTABLE PARALLEL SAFE AS %2$L, %3$L',
			args, 'MODULE_PATHNAME', 'audit_log_countif_trans');
		EXECUTE pg_catalog.format(
			'CREATE FUNCTION audit_log._countif_inv(bigint, %1$s) RETURNS bigint'
			' LANGUAGE C IMMUTABLE PARALLEL SAFE AS %2$L, %3$L',
			args, 'MODULE_PATHNAME', 'audit_log_countif_inv');
		EXECUTE pg_catalog.format(
			'CREATE AGGREGATE audit_log.countif(%s) (SFUNC = audit_log._countif_trans,'
			' STYPE = bigint, INITCOND = ''0'', COMBINEFUNC = pg_catalog.int8pl,'
			' MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,'
			' MSTYPE = bigint, MINITCOND = ''0'', PARALLEL = SAFE)', args);
		EXECUTE pg_catalog.format(
			'COMMENT ON AGGREGATE audit_log.countif(%s) IS %L',
			args, 'number of rows where every condition is true (NULL counts as false)');
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, %s) FROM PUBLIC', args);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, %s) FROM PUBLIC', args);
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION audit_log.countif(%s) FROM PUBLIC', args);
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION audit_log.countif(%s) TO audit_log_reader', args);
	END LOOP;
END
$countif$;

/*
 * Calendar days.  day(ts) follows the session's TimeZone (STABLE);
 * day(ts, tz) depends on its arguments only (IMMUTABLE, so an expression
 * index on it works), exactly as AT TIME ZONE does.
 */
CREATE FUNCTION audit_log.day(ts timestamptz)
RETURNS date
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day';

COMMENT ON FUNCTION audit_log.day(timestamptz)
	IS 'the calendar day of an instant in the session time zone';

CREATE FUNCTION audit_log.day(ts timestamptz, tz text)
RETURNS date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day_tz';

COMMENT ON FUNCTION audit_log.day(timestamptz, text)
	IS 'the calendar day of an instant in a time zone, as (ts AT TIME ZONE tz)::date';

CREATE FUNCTION audit_log.day_start(d date, tz text)
RETURNS timestamptz
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day_start';

COMMENT ON FUNCTION audit_log.day_start(date, text)
	IS 'the first instant of a calendar day in a time zone (days of 23 or 25 hours included)';

CREATE FUNCTION audit_log.days(from_day date, to_day date)
RETURNS SETOF date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 90
AS 'MODULE_PATHNAME', 'audit_log_days';

COMMENT ON FUNCTION audit_log.days(date, date)
	IS 'every day from from_day to to_day, both included';

CREATE FUNCTION audit_log._hour_day(hour timestamptz, tz text)
RETURNS date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_hour_day';

/*
 * Hourly rollups.  hourly_counts holds, for each UTC hour of each rolled-up
 * day, the number of events per category, type and status.  rollup_days
 * says which UTC days (that is, which daily partitions) are in it and up to
 * which hour: a day counts only while the very partition that was counted
 * is still attached under its name, so a day dropped by retention, or
 * re-created later, falls back to the live table until maintain() counts
 * it again.
 *
 * Late events (request_time in an hour already counted: backdated
 * log_event calls, replicated rows) are added by an AFTER INSERT trigger
 * that maintain() puts on each counted partition, with a WHEN clause that
 * lets every other insert through at the cost of one comparison.  Before
 * it counts, maintain() locks the partition in SHARE ROW EXCLUSIVE mode,
 * which waits for every transaction still inserting into it and keeps new
 * ones out until the trigger is in place, so no event is missed or
 * counted twice.
 */
CREATE TABLE audit_log.hourly_counts (
	hour timestamptz NOT NULL,
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	event_status audit_log.event_status NOT NULL,
	count bigint NOT NULL,
	CONSTRAINT hourly_counts_pkey PRIMARY KEY (event_category, event_type, hour, event_status)
);

/* retention reads a day's hours from it (audit_log._rollup_day_rows) */
CREATE INDEX hourly_counts_hour_idx ON audit_log.hourly_counts (hour);

COMMENT ON TABLE audit_log.hourly_counts
	IS 'events per UTC hour, category, type and status for the hours listed in rollup_days (maintained by maintain())';

CREATE TABLE audit_log.rollup_days (
	day date PRIMARY KEY,
	partition regclass NOT NULL,
	rolled_until timestamptz NOT NULL
);

COMMENT ON TABLE audit_log.rollup_days
	IS 'UTC days whose hours before rolled_until are counted in hourly_counts, and the partition counted';

SELECT pg_catalog.pg_extension_config_dump('audit_log.hourly_counts', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log.rollup_days', '');

/* An event inserted for an hour already counted: count it too. */
CREATE FUNCTION audit_log._rollup_late_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO audit_log.hourly_counts AS h
		(hour, event_category, event_type, event_status, count)
	VALUES (pg_catalog.date_trunc('hour', NEW.request_time, 'UTC'),
			NEW.event_category, NEW.event_type, NEW.event_status, 1)
	ON CONFLICT ON CONSTRAINT hourly_counts_pkey
	DO UPDATE SET count = h.count + 1;
	RETURN NULL;
END
$$;

/*
 * Count the closed hours (those that ended at least 5 minutes ago, so that
 * events still on their way from the capture queue are in) of every attached
 * daily partition not yet counted, and forget the days whose partition is
 * gone.  Called by maintain().  A partition whose lock cannot be had within
 * lock_timeout is left for the next run.  Returns the number of partitions
 * counted (fully or further).
 */
CREATE FUNCTION audit_log._maintain_rollups()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
	/* hours that ended at least 5 minutes ago */
	closed timestamptz := pg_catalog.date_trunc('hour', pg_catalog.clock_timestamp() - interval '5 minutes', 'UTC');
	p record;
	r audit_log.rollup_days;
	day_lo timestamptz;
	upto timestamptz;
	from_t timestamptz;
	counted integer := 0;
BEGIN
	IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE NOTICE 'audit_log: hourly rollups not updated: they need READ COMMITTED'
			USING DETAIL = 'Counting a partition must see the rows committed after the transaction began.';
		RETURN 0;
	END IF;

	/* Days whose counted partition is no longer attached under its name. */
	FOR r IN
		SELECT rd.* FROM audit_log.rollup_days rd
		WHERE NOT EXISTS (
			SELECT 1 FROM pg_catalog.pg_inherits i
			JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
			  AND i.inhrelid = rd.partition
			  AND c.relname = audit_log.partition_name(rd.day))
	LOOP
		DELETE FROM audit_log.hourly_counts h
		WHERE h.hour >= (r.day::timestamp AT TIME ZONE 'UTC')
		  AND h.hour < ((r.day + 1)::timestamp AT TIME ZONE 'UTC');
		DELETE FROM audit_log.rollup_days rd WHERE rd.day = r.day;
	END LOOP;

	FOR p IN
		SELECT c.oid::pg_catalog.regclass AS part,
			   pg_catalog.to_date(pg_catalog.substr(c.relname, 9), 'YYYYMMDD') AS day
		FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
		  AND c.relname ~ '^events_p[0-9]{8}$'
		ORDER BY 2
	LOOP
		day_lo := p.day::timestamp AT TIME ZONE 'UTC';
		EXIT WHEN day_lo >= closed;
		upto := LEAST((p.day + 1)::timestamp AT TIME ZONE 'UTC', closed);
		SELECT * INTO r FROM audit_log.rollup_days rd WHERE rd.day = p.day;
		CONTINUE WHEN FOUND AND r.partition = p.part AND r.rolled_until >= upto;
		BEGIN
			/* Wait for the transactions inserting into it; keep new ones out. */
			EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p.part);
			SELECT * INTO r FROM audit_log.rollup_days rd WHERE rd.day = p.day;
			IF FOUND AND r.partition = p.part THEN
				CONTINUE WHEN r.rolled_until >= upto;
				from_t := r.rolled_until;
			ELSE
				DELETE FROM audit_log.hourly_counts h
				WHERE h.hour >= day_lo AND h.hour < (p.day + 1)::timestamp AT TIME ZONE 'UTC';
				from_t := day_lo;
			END IF;
			EXECUTE pg_catalog.format(
				'INSERT INTO audit_log.hourly_counts AS h'
				' (hour, event_category, event_type, event_status, count)'
				' SELECT pg_catalog.date_trunc(''hour'', e.request_time, ''UTC''),'
				' e.event_category, e.event_type, e.event_status, pg_catalog.count(*)'
				' FROM %s e WHERE e.request_time >= $1 AND e.request_time < $2'
				' GROUP BY 1, 2, 3, 4'
				' ON CONFLICT ON CONSTRAINT hourly_counts_pkey'
				' DO UPDATE SET count = h.count + EXCLUDED.count', p.part)
				USING from_t, upto;
			EXECUTE pg_catalog.format(
				'CREATE OR REPLACE TRIGGER events_rollup_late AFTER INSERT ON %s'
				' FOR EACH ROW WHEN (NEW.request_time < %L::timestamptz)'
				' EXECUTE FUNCTION audit_log._rollup_late_row()', p.part, upto);
			/* also for rows that logical replication applies */
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER events_rollup_late', p.part);
			INSERT INTO audit_log.rollup_days AS rd (day, partition, rolled_until)
			VALUES (p.day, p.part, upto)
			ON CONFLICT (day) DO UPDATE
				SET partition = EXCLUDED.partition, rolled_until = EXCLUDED.rolled_until;
			counted := counted + 1;
		EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
			RAISE WARNING 'audit_log: hourly rollup of % not updated now: its partition was busy', p.day
				USING HINT = 'The next maintenance run will try again; until then that day is read from the events table.';
		END;
	END LOOP;
	RETURN counted;
END
$$;

/*
 * apply_retention() calls this in its own transaction with the UTC days it
 * dropped: their counts go with them, so that no derived data outlives its
 * events.  (maintain() would forget them anyway, once it saw their
 * partitions gone.)
 */
CREATE FUNCTION audit_log._on_days_dropped(days date[])
RETURNS void
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM audit_log.hourly_counts h
	USING pg_catalog.unnest(days) AS d
	WHERE h.hour >= (d::timestamp AT TIME ZONE 'UTC')
	  AND h.hour < ((d + 1)::timestamp AT TIME ZONE 'UTC');
	DELETE FROM audit_log.rollup_days rd WHERE rd.day = ANY (days);
$$;

/*
 * How daily_login_activity answers a range: the UTC hours it reads from
 * hourly_counts (counted, and wholly inside one local day of the range),
 * and the ranges of request_time it scans live (everything else).
 */
CREATE FUNCTION audit_log._login_activity_plan(from_day date, to_day date, tz text,
	OUT rolled_hours timestamptz[], OUT live_from timestamptz[], OUT live_to timestamptz[])
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	range_lo timestamptz := audit_log.day_start(from_day, tz);
	range_hi timestamptz := audit_log.day_start(to_day + 1, tz);
	cur timestamptz;
	h timestamptz;
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(g.h ORDER BY g.h), '{}')
	INTO rolled_hours
	FROM audit_log.rollup_days rd
	JOIN pg_catalog.pg_inherits i
	  ON i.inhrelid = rd.partition AND i.inhparent = 'audit_log.events'::pg_catalog.regclass
	JOIN pg_catalog.pg_class c
	  ON c.oid = rd.partition AND c.relname = audit_log.partition_name(rd.day)
	CROSS JOIN LATERAL pg_catalog.generate_series(
		GREATEST(rd.day::timestamp AT TIME ZONE 'UTC', pg_catalog.date_trunc('hour', range_lo, 'UTC')),
		LEAST(rd.rolled_until, range_hi) - interval '1 hour',
		interval '1 hour') AS g(h)
	WHERE rd.rolled_until > range_lo
	  AND (rd.day::timestamp AT TIME ZONE 'UTC') < range_hi
	  AND audit_log._hour_day(g.h, tz) BETWEEN from_day AND to_day;

	live_from := '{}';
	live_to := '{}';
	cur := range_lo;
	FOREACH h IN ARRAY rolled_hours LOOP
		IF h > cur THEN
			live_from := live_from || cur;
			live_to := live_to || h;
		END IF;
		cur := GREATEST(cur, h + interval '1 hour');
	END LOOP;
	IF cur < range_hi THEN
		live_from := live_from || cur;
		live_to := live_to || range_hi;
	END IF;
END
$$;

/*
 * Successful and failed logins per local day, every day of the range
 * (zero-filled).  Counted hours come from hourly_counts; the rest (the open
 * hours, late parts, hours straddling a local midnight in zones whose
 * offset is not a whole number of hours, days not counted) is scanned
 * live, so the result is always that of a scan of audit_log.events.
 */
CREATE FUNCTION audit_log.daily_login_activity(from_day date, to_day date,
	tz text DEFAULT pg_catalog.current_setting('TimeZone'))
RETURNS TABLE (day date, success bigint, failure bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	plan record;
	live_rows text;
	i integer;
BEGIN
	IF NOT pg_catalog.isfinite(from_day) OR NOT pg_catalog.isfinite(to_day) THEN
		RAISE EXCEPTION 'daily_login_activity needs finite days'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The range from %s to %s has no end.', from_day, to_day);
	END IF;
	IF from_day > to_day THEN
		RETURN;
	END IF;
	plan := audit_log._login_activity_plan(from_day, to_day, tz);

	/*
	 * The rows scanned live: one branch per range, each with constant
	 * bounds, so that the planner prunes every branch to the partitions of
	 * its range and picks the scan that suits its length (a sequential scan
	 * for a long range, an index scan for the hour around a local midnight
	 * in a +05:30 zone).
	 */
	IF COALESCE(pg_catalog.array_length(plan.live_from, 1), 0) = 0 THEN
		live_rows := 'SELECT NULL::timestamptz AS request_time, NULL::audit_log.event_status AS event_status WHERE false';
	ELSE
		live_rows := '';
		FOR i IN 1 .. pg_catalog.array_length(plan.live_from, 1) LOOP
			live_rows := live_rows || CASE WHEN i > 1 THEN ' UNION ALL ' ELSE '' END
				|| pg_catalog.format('SELECT e.request_time, e.event_status FROM audit_log.events e'
									 ' WHERE e.event_category = %L AND e.event_type = %L'
									 ' AND e.request_time >= %L::timestamptz AND e.request_time < %L::timestamptz',
									 'ACCESS_SIGMA', 'LOGIN', plan.live_from[i], plan.live_to[i]);
		END LOOP;
	END IF;

	RETURN QUERY EXECUTE pg_catalog.format($q$
		WITH live AS (
			SELECT audit_log.day(e.request_time, $3) AS d,
				   audit_log.countif(e.event_status = 'SUCCESS') AS s,
				   audit_log.countif(e.event_status = 'FAILURE') AS f
			FROM (%s) e
			GROUP BY 1
		), rolled AS (
			SELECT audit_log._hour_day(c.hour, $3) AS d,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_status = 'SUCCESS'), 0)::bigint AS s,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_status = 'FAILURE'), 0)::bigint AS f
			FROM audit_log.hourly_counts c
			WHERE c.event_category = 'ACCESS_SIGMA' AND c.event_type = 'LOGIN'
			  AND c.hour = ANY ($4)
			GROUP BY 1
		)
		SELECT g.d, COALESCE(l.s, 0) + COALESCE(r.s, 0), COALESCE(l.f, 0) + COALESCE(r.f, 0)
		FROM audit_log.days($1, $2) AS g(d)
		LEFT JOIN live l ON l.d = g.d
		LEFT JOIN rolled r ON r.d = g.d
		ORDER BY g.d
	$q$, live_rows) USING from_day, to_day, tz, plan.rolled_hours;
END
$$;

COMMENT ON FUNCTION audit_log.daily_login_activity(date, date, text)
	IS 'successful and failed logins per day of a time zone, every day of the range';

CREATE VIEW audit_log.daily_login_activity_90d AS
SELECT a.day, a.success, a.failure
FROM audit_log.daily_login_activity(audit_log.day(pg_catalog.now()) - 89,
									audit_log.day(pg_catalog.now())) AS a;

COMMENT ON VIEW audit_log.daily_login_activity_90d
	IS 'successful and failed logins per day over the last 90 days, in the session time zone';

REVOKE ALL ON FUNCTION audit_log.day(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.day(timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.day_start(date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.days(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._hour_day(timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._rollup_late_row() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._maintain_rollups() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._on_days_dropped(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._login_activity_plan(date, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.daily_login_activity(date, date, text) FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.hourly_counts, audit_log.rollup_days, audit_log.daily_login_activity_90d FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.day(timestamptz) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.day(timestamptz, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.day_start(date, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.days(date, date) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log._hour_day(timestamptz, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log._login_activity_plan(date, date, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.daily_login_activity(date, date, text) TO audit_log_reader;
GRANT SELECT ON TABLE audit_log.hourly_counts, audit_log.rollup_days, audit_log.daily_login_activity_90d TO audit_log_reader;
