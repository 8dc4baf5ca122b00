\echo Use "ALTER EXTENSION audit_log UPDATE TO '1.1'" to load this file. \quit

/*
 * audit_log 1.0 -> 1.1.
 *
 * Every SQL change after the 1.0 release goes here, in the order it was
 * made; a fresh CREATE EXTENSION runs audit_log--1.0.sql and then this
 * script, so a fresh 1.1 and an updated 1.0 are the same by construction
 * (t/015_update.pl compares them object by object all the same).
 *
 * Rules for this script: it must run on a 1.0 schema holding years of
 * events, so no statement rewrites audit_log.events or its partitions; new
 * objects get the same REVOKE/GRANT treatment as in 1.0; a replaced view or
 * function keeps its 1.0 columns and arguments (new ones go at the end).
 */

/*
 * Versions.  library_version() is the version of the loaded shared library;
 * status shows it beside the installed extension's, so that a server whose
 * library was upgraded while the extension was not says so
 * (update_pending).  The writer also warns once at start in that case.
 */
CREATE FUNCTION audit_log.library_version()
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_library_version';

COMMENT ON FUNCTION audit_log.library_version()
	IS 'version of the loaded audit_log library (the installed SQL objects are at pg_extension.extversion)';

REVOKE ALL ON FUNCTION audit_log.library_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.library_version() TO audit_log_reader, audit_log_admin;

CREATE OR REPLACE VIEW audit_log.status AS
SELECT s.preloaded,
	s.capturing,
	s.queued,
	s.written,
	s.dropped,
	s.abandoned_logins,
	s.oldest_queued_age,
	r.retention_days,
	r.retention_scheduled,
	r.last_retention_run,
	r.held_back_days,
	(SELECT pg_catalog.max(x.finished_at) FROM audit_log.export_runs x
	 WHERE x.status = 'SUCCESS') AS last_export,
	(SELECT x.status = 'FAILURE' FROM audit_log.export_runs x
	 ORDER BY x.run_id DESC LIMIT 1) AS last_export_failed,
	(SELECT pg_catalog.max(z.day) FROM audit_log.seals z) AS sealed_through,
	(SELECT pg_catalog.count(*) FROM audit_log.fleet_sources) AS sources,
	(SELECT pg_catalog.max(f.lag) FROM audit_log.sources f) AS max_source_lag,
	s.enqueued,
	s.writer_pid,
	v.extension_version,
	v.library_version,
	v.extension_version IS DISTINCT FROM v.library_version AS update_pending
FROM audit_log.capture_stats() AS s,
	audit_log._retention_status() AS r,
	(SELECT e.extversion AS extension_version,
		audit_log.library_version() AS library_version
	 FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'audit_log') AS v;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, retention and its schedule, exports, seals, fleet sources, installed and loaded versions';

/* ---- issue 18: exports in JSON lines (jsonl, OCSF, ECS), gzip and zstd ---- */

/*
 * The general export: export_csv() is export(..., format => 'csv').
 * SECURITY INVOKER like export_csv(): the C code checks that the caller is
 * a superuser or a member of audit_log_admin; readers may call it so that
 * their attempt ends in a clear error and is recorded as a FAILURE run.
 */
CREATE FUNCTION audit_log.export(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events',
	format text DEFAULT 'csv',
	compression text DEFAULT 'none')
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export';

COMMENT ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) under audit_log.export_directory as csv, jsonl, ocsf or ecs, compressed with none, gzip or zstd';

/* The same, recording the pg_cron job it runs for. */
CREATE FUNCTION audit_log._export_job(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text,
	format text,
	compression text,
	job_name text)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export';

/*
 * One run of a scheduled export in a format and compression; the 1.0 form
 * (which the jobs scheduled before 1.1 call) is the CSV one.
 */
CREATE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval,
	format text,
	compression text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	last_to timestamptz;
	first_event timestamptz;
	horizon timestamp;
	w_from timestamp;
	w_to timestamp;
	n integer := 0;
BEGIN
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('audit_log.flush(interval)') IS NOT NULL THEN
		BEGIN
			EXECUTE 'SELECT audit_log.flush($1)' USING interval '5 seconds';
		EXCEPTION WHEN OTHERS THEN
			NULL;		-- not preloaded: nothing is queued
		END;
	END IF;
	horizon := (pg_catalog.clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute';

	SELECT pg_catalog.max(r.to_time) INTO last_to
	  FROM audit_log.export_runs r
	 WHERE r.job_name = _scheduled_export.job_name AND r.status = 'SUCCESS';

	IF last_to IS NOT NULL THEN
		w_from := last_to AT TIME ZONE 'UTC';
	ELSE
		SELECT pg_catalog.min(e.request_time) INTO first_event FROM audit_log.events e;
		IF first_event IS NULL THEN
			RETURN 0;
		END IF;
		w_from := audit_log._export_period_floor(first_event AT TIME ZONE 'UTC', period);
	END IF;

	LOOP
		w_to := audit_log._export_period_floor(w_from, period) + period;
		EXIT WHEN w_to > horizon OR n >= 1000;
		PERFORM audit_log._export_job(directory, w_from AT TIME ZONE 'UTC',
									  w_to AT TIME ZONE 'UTC', source, format,
									  compression, job_name);
		n := n + 1;
		w_from := w_to;
	END LOOP;
	RETURN n;
END
$$;

/*
 * schedule_export gains format and compression (at the end, with the
 * defaults of 1.0's behaviour).  Its jobs call the six-argument
 * _scheduled_export; jobs scheduled before 1.1 call the four-argument one,
 * which is kept as it was and keeps working.
 */
DROP FUNCTION audit_log.schedule_export(text, text, text, text, interval);

CREATE FUNCTION audit_log.schedule_export(
	job_name text,
	cron text,
	directory text,
	source text DEFAULT 'events',
	period interval DEFAULT '1 day',
	format text DEFAULT 'csv',
	compression text DEFAULT 'none')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	jobid bigint;
	command text;
BEGIN
	IF job_name IS NULL OR job_name !~ '^[A-Za-z0-9_]{1,46}$' THEN
		RAISE EXCEPTION 'invalid export job name "%"', job_name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A job name is 1 to 46 letters, digits or underscores.';
	END IF;
	IF cron IS NULL THEN
		RAISE EXCEPTION 'cron schedule must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF directory IS NULL THEN
		RAISE EXCEPTION 'export directory must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF source IS NULL OR source NOT IN ('events', 'daily_login_activity') THEN
		RAISE EXCEPTION 'invalid export source "%"', source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''events'' or ''daily_login_activity''.';
	END IF;
	IF format IS NULL OR format NOT IN ('csv', 'jsonl', 'ocsf', 'ecs') THEN
		RAISE EXCEPTION 'invalid export format "%"', format
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''csv'', ''jsonl'', ''ocsf'' or ''ecs''.';
	END IF;
	IF format IN ('ocsf', 'ecs') AND source <> 'events' THEN
		RAISE EXCEPTION 'export format "%" is not available for source "%"', format, source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use format ''csv'' or ''jsonl'' for this source, or source ''events''.';
	END IF;
	IF compression IS NULL OR compression NOT IN ('none', 'gzip', 'zstd') THEN
		RAISE EXCEPTION 'invalid export compression "%"', compression
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''none'', ''gzip'' or ''zstd''.';
	END IF;
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Scheduled exports are pg_cron jobs.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;

	command := pg_catalog.format('SELECT audit_log._scheduled_export(%L, %L, %L, %L::interval, %L, %L)',
								 job_name, directory, source, period, format, compression);
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		USING 'audit_log_export_' || job_name, cron, command;

	IF pg_catalog.to_regprocedure('audit_log.log_event(audit_log.event_category,text,audit_log.event_status,text,text,jsonb,text,timestamptz)') IS NOT NULL THEN
		PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
			'audit_log_export_' || job_name,
			pg_catalog.jsonb_build_object('action', 'schedule_export', 'jobid', jobid,
				'cron', cron, 'directory', directory, 'source', source,
				'period', period::text, 'format', format, 'compression', compression));
	END IF;
	RETURN jobid;
END
$$;

COMMENT ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text)
	IS 'pg_cron job that exports each complete UTC-aligned period, catching up missed ones, in a format and compression';

REVOKE ALL ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_job(text, timestamptz, timestamptz, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._scheduled_export(text, text, text, interval, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text) TO audit_log_reader, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text) TO audit_log_admin;

/* ---- issue 18: the HTML report ---- */

/*
 * Text made safe for HTML, in element content and in quoted attribute
 * values alike: & < > " ' become entities.  NULL becomes ''.
 */
CREATE FUNCTION audit_log._report_html(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
		pg_catalog.replace(COALESCE(t, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		'"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION audit_log._report_html(text)
	IS 'text escaped for HTML content and quoted attributes (the HTML report)';

/*
 * The HTML report of [from_time, to_time), days in time_zone (NULL: the
 * session's TimeZone): one self-contained HTML5 document.  What it holds,
 * top to bottom:
 *   - totals (events, successful and failed logins, days), the worst day
 *     (most failed logins; the earliest of equals), the top 10 client
 *     addresses and roles of failed logins: static HTML, read without JS;
 *   - an inline SVG combo chart, drawn here: one bar per day of successful
 *     logins, a line with one point per day of failed logins, every day of
 *     the window zero-filled;
 *   - filters (category, status, user) and a table of the window's events,
 *     at most 100 per day (the first by request_time), with a row "and K
 *     more" for a day that has more;
 *   - a small inline script: a click on a day (its bar, its column or its
 *     point) keeps only that day in the chart's highlight and in the table,
 *     a second click on it or the reset button brings the whole window
 *     back; the filters hide the rows that do not match.
 * No request leaves the page: the Content-Security-Policy allows no source
 * at all but inline style and the one script, named by its SHA-256, so that
 * even a value that escaped the escaping could run nothing.  Every value
 * from the table goes through _report_html.  Cost: the per-day counts come
 * from the hourly rollups where maintain() has made them (a scan of the
 * rest), the top lists from one scan of the window's failed logins, the
 * table from one index range of at most 100 rows per day.  JIT is off: its
 * compile time is far more than it saves on these queries.
 */
CREATE FUNCTION audit_log._export_report(from_time timestamptz, to_time timestamptz,
	time_zone text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	per_day CONSTANT integer := 100;	-- rows of the table per day (README, doc/export.md)
	top_n CONSTANT integer := 10;		-- rows of each top list
	slot integer;						-- chart: width of a day, px
	gap integer;						-- chart: room between two bars, px
	plot_h CONSTANT integer := 200;		-- chart: height of the plot, px
	left_m CONSTANT integer := 56;		-- chart: room for the y axis labels
	tz text := COALESCE(time_zone, pg_catalog.current_setting('TimeZone'));
	d0 date;
	d1 date;
	days date[];
	n_all bigint[];
	n_ok bigint[];
	n_bad bigint[];
	ndays integer;
	top bigint;
	worst integer := 0;
	tot_all bigint := 0;
	tot_ok bigint := 0;
	tot_bad bigint := 0;
	top_addr text;
	top_role text;
	plan record;
	hours timestamptz[];
	bounds timestamptz[];
	live text;
	cur timestamptz;
	hr timestamptz;
	chart text := '';
	line text := '';
	points text := '';
	labels text := '';
	tbody text := '';
	rows_html text[];
	cats text;
	js text;
	css text;
	x integer;
	step integer;
	h integer;
	i integer;
BEGIN
	IF from_time IS NULL OR to_time IS NULL THEN
		RAISE EXCEPTION 'from_time and to_time must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_catalog.isfinite(from_time) OR NOT pg_catalog.isfinite(to_time) THEN
		RAISE EXCEPTION 'from_time and to_time must be finite'
			USING ERRCODE = 'datetime_field_overflow';
	END IF;
	IF from_time >= to_time THEN
		RAISE EXCEPTION 'from_time must be earlier than to_time'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A report covers the half-open range [from_time, to_time).';
	END IF;
	-- a bad zone name fails here, with PostgreSQL's own error (22023)
	d0 := (from_time AT TIME ZONE tz)::date;
	d1 := ((to_time - interval '1 microsecond') AT TIME ZONE tz)::date;
	IF d1 - d0 >= 3660 THEN
		RAISE EXCEPTION 'a report covers at most 3660 days'
			USING ERRCODE = 'program_limit_exceeded',
				  DETAIL = pg_catalog.format('The window from %s to %s has %s days.', d0, d1, d1 - d0 + 1);
	END IF;

	/*
	 * Per day: every event, successful and failed logins.  The hours that
	 * maintain() has counted (hourly_counts) and that lie wholly inside the
	 * window and inside one local day come from the rollups, as for
	 * daily_login_activity; the rest of the window is scanned, one branch
	 * per range with constant bounds (so that each is pruned to its
	 * partitions), each row put in its local day by width_bucket() over the
	 * days' first instants (no time zone conversion per row).
	 */
	plan := audit_log._login_activity_plan(d0, d1, tz);
	SELECT COALESCE(pg_catalog.array_agg(h.h ORDER BY h.h), '{}') INTO hours
	  FROM pg_catalog.unnest(plan.rolled_hours) AS h(h)
	 WHERE h.h >= from_time AND h.h + interval '1 hour' <= to_time;
	SELECT pg_catalog.array_agg(audit_log.day_start(g.d, tz) ORDER BY g.d) INTO bounds
	  FROM audit_log.days(d0, d1 + 1) AS g(d);
	live := '';
	cur := from_time;
	FOREACH hr IN ARRAY hours || ARRAY[to_time] LOOP
		IF hr > cur THEN
			live := live || CASE WHEN live = '' THEN '' ELSE ' UNION ALL ' END
				|| pg_catalog.format('SELECT e.request_time, e.event_category, e.event_type, e.event_status'
									 ' FROM audit_log.events e'
									 ' WHERE e.request_time >= %L::timestamptz AND e.request_time < %L::timestamptz',
									 cur, LEAST(hr, to_time));
		END IF;
		cur := GREATEST(cur, hr + interval '1 hour');
	END LOOP;
	IF live = '' THEN
		live := 'SELECT NULL::timestamptz AS request_time, NULL::audit_log.event_category AS event_category,'
			' NULL::text AS event_type, NULL::audit_log.event_status AS event_status WHERE false';
	END IF;
	EXECUTE pg_catalog.format($q$
		WITH live AS (
			SELECT pg_catalog.width_bucket(e.request_time, $3) AS i,
				   pg_catalog.count(*) AS n,
				   pg_catalog.count(*) FILTER (WHERE e.event_category = 'ACCESS_SIGMA'
						AND e.event_type = 'LOGIN' AND e.event_status = 'SUCCESS') AS s,
				   pg_catalog.count(*) FILTER (WHERE e.event_category = 'ACCESS_SIGMA'
						AND e.event_type = 'LOGIN' AND e.event_status = 'FAILURE') AS f
			  FROM (%s) e
			 GROUP BY 1
		), rolled AS (
			SELECT audit_log._hour_day(c.hour, $4) AS d,
				   pg_catalog.sum(c.count) AS n,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_category = 'ACCESS_SIGMA'
						AND c.event_type = 'LOGIN' AND c.event_status = 'SUCCESS'), 0) AS s,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_category = 'ACCESS_SIGMA'
						AND c.event_type = 'LOGIN' AND c.event_status = 'FAILURE'), 0) AS f
			  FROM audit_log.hourly_counts c
			 WHERE c.hour = ANY ($5)
			 GROUP BY 1
		)
		SELECT pg_catalog.array_agg(g.d ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.n, 0) + COALESCE(r.n, 0))::bigint ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.s, 0) + COALESCE(r.s, 0))::bigint ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.f, 0) + COALESCE(r.f, 0))::bigint ORDER BY g.d)
		  FROM audit_log.days($1, $2) WITH ORDINALITY AS g(d, i)
		  LEFT JOIN live l ON l.i = g.i
		  LEFT JOIN rolled r ON r.d = g.d
	$q$, live) INTO days, n_all, n_ok, n_bad USING d0, d1, bounds, tz, hours;
	ndays := pg_catalog.array_length(days, 1);

	top := 1;
	FOR i IN 1 .. ndays LOOP
		tot_all := tot_all + n_all[i];
		tot_ok := tot_ok + n_ok[i];
		tot_bad := tot_bad + n_bad[i];
		top := GREATEST(top, n_ok[i], n_bad[i]);
		IF n_bad[i] > 0 AND (worst = 0 OR n_bad[i] > n_bad[worst]) THEN
			worst := i;
		END IF;
	END LOOP;

	/*
	 * The top client addresses and roles of failed logins: one scan, which
	 * may run in parallel (grouping sets cannot, so they come after, over
	 * the address and role pairs).
	 */
	SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format(
				'<tr><td>%s</td><td class="n">%s</td></tr>',
				audit_log._report_html(COALESCE(pg_catalog.host(t.a), 'local')), t.n),
				E'\n' ORDER BY t.n DESC, COALESCE(pg_catalog.host(t.a), 'local')) FILTER (WHERE t.g = 1 AND t.r <= top_n), ''),
		   COALESCE(pg_catalog.string_agg(pg_catalog.format(
				'<tr><td>%s</td><td class="n">%s</td></tr>',
				audit_log._report_html(t.u), t.n),
				E'\n' ORDER BY t.n DESC, t.u) FILTER (WHERE t.g = 2 AND t.r <= top_n), '')
	  INTO top_addr, top_role
	  FROM (SELECT x.*, pg_catalog.row_number() OVER (PARTITION BY x.g ORDER BY x.n DESC,
					COALESCE(pg_catalog.host(x.a), 'local'), x.u) AS r
			  FROM (SELECT CASE WHEN GROUPING(p.a) = 0 THEN 1 ELSE 2 END AS g,
						   p.a, COALESCE(p.u, '') AS u, pg_catalog.sum(p.n) AS n
					  FROM (SELECT e.client_addr AS a, e.user_name AS u, pg_catalog.count(*) AS n
							  FROM audit_log.events e
							 WHERE e.request_time >= from_time AND e.request_time < to_time
							   AND e.event_category = 'ACCESS_SIGMA' AND e.event_type = 'LOGIN'
							   AND e.event_status = 'FAILURE'
							 GROUP BY 1, 2) p
					 GROUP BY GROUPING SETS ((p.a), (p.u))) x) t;

	/* The chart: bars (successful), a line with points (failed). */
	slot := GREATEST(8, LEAST(40, 900 / ndays));
	gap := GREATEST(2, slot / 4);
	step := (36 + slot - 1) / slot;		-- a label (MM-DD) every 36 px or more
	FOR i IN 1 .. ndays LOOP
		x := left_m + (i - 1) * slot;
		h := (n_ok[i] * plot_h / top)::integer;
		chart := chart || pg_catalog.format(
			'<g class="day" data-day="%s"><title>%s: %s successful, %s failed logins</title>'
			'<rect class="hit" x="%s" y="10" width="%s" height="%s"/>'
			'<rect class="bar" data-day="%s" x="%s" y="%s" width="%s" height="%s"/></g>',
			days[i], days[i], n_ok[i], n_bad[i], x, slot, plot_h,
			days[i], x + gap / 2, 10 + plot_h - h, slot - gap, h);
		line := line || pg_catalog.format('%s,%s ', x + slot / 2,
			10 + plot_h - (n_bad[i] * plot_h / top)::integer);
		points := points || pg_catalog.format(
			'<circle class="pt" data-day="%s" cx="%s" cy="%s" r="3.5"><title>%s: %s failed logins</title></circle>',
			days[i], x + slot / 2, 10 + plot_h - (n_bad[i] * plot_h / top)::integer,
			days[i], n_bad[i]);
		IF (i - 1) % step = 0 THEN
			labels := labels || pg_catalog.format('<text x="%s" y="%s">%s</text>',
				x, plot_h + 28, pg_catalog.to_char(days[i], 'MM-DD'));
		END IF;
	END LOOP;
	chart := pg_catalog.format(
		'<svg id="chart" role="img" aria-label="daily logins" xmlns="http://www.w3.org/2000/svg"'
		' viewBox="0 0 %s %s" width="%s" height="%s">'
		'<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>'
		'<text x="4" y="16">%s</text><text x="4" y="%s">0</text>'
		'%s<polyline class="fail" points="%s"/>%s%s</svg>',
		left_m + ndays * slot + 10, plot_h + 40, left_m + ndays * slot + 10, plot_h + 40,
		left_m, 10 + plot_h, left_m + ndays * slot, 10 + plot_h,
		top, 10 + plot_h, chart, pg_catalog.rtrim(line), points, labels);

	/* The table: the first per_day events of each day, then "and K more". */
	SELECT pg_catalog.array_agg(r.html ORDER BY r.d)
	  INTO rows_html
	  FROM (
		SELECT g.d,
			   (SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format(
					'<tr data-day="%s" data-cat="%s" data-status="%s" data-user="%s">'
					'<td>%s</td><td>%s</td><td>%s</td><td class="s-%s">%s</td><td>%s</td>'
					'<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
					g.d, e.event_category, e.event_status, audit_log._report_html(e.user_name),
					pg_catalog.to_char(e.request_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS'),
					e.event_category, audit_log._report_html(e.event_type),
					e.event_status, e.event_status,
					audit_log._report_html(e.event_status_reason_code),
					audit_log._report_html(e.user_name),
					audit_log._report_html(e.object_name),
					audit_log._report_html(pg_catalog.host(e.client_addr)),
					audit_log._report_html(e.database_name)),
					E'\n' ORDER BY e.request_time, e.event_id), '')
				  FROM (SELECT * FROM audit_log.events e
						 WHERE e.request_time >= GREATEST(from_time, audit_log.day_start(g.d, tz))
						   AND e.request_time < LEAST(to_time, audit_log.day_start(g.d + 1, tz))
						 ORDER BY e.request_time, e.event_id
						 LIMIT per_day) e) AS html
		  FROM audit_log.days(d0, d1) AS g(d)) r;
	FOR i IN 1 .. ndays LOOP
		IF rows_html[i] <> '' THEN
			tbody := tbody || rows_html[i] || E'\n';
		END IF;
		IF n_all[i] > per_day THEN
			tbody := tbody || pg_catalog.format(
				'<tr class="more" data-day="%s"><td colspan="9">%s: and %s more events'
				' (the report lists the first %s of each day)</td></tr>' || E'\n',
				days[i], days[i], n_all[i] - per_day, per_day);
		END IF;
	END LOOP;

	SELECT pg_catalog.string_agg(pg_catalog.format('<option>%s</option>', c), '' ORDER BY c)
	  INTO cats
	  FROM pg_catalog.unnest(pg_catalog.enum_range(NULL::audit_log.event_category)) AS c;

	css := 'body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}'
		'h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}'
		'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}'
		'td.n{text-align:right}.cards{display:flex;gap:2em;flex-wrap:wrap}'
		'.s-FAILURE{color:#b00020;font-weight:bold}tr.more td{font-style:italic;color:#666}'
		'#chart .bar{fill:#4a7bd0}#chart .hit{fill:transparent;cursor:pointer}'
		'#chart .fail{fill:none;stroke:#d03030;stroke-width:2}#chart .pt{fill:#d03030;cursor:pointer}'
		'#chart .axis{stroke:#888}#chart text{font-size:10px;fill:#555}'
		'#chart .dim{opacity:.25}#chart .sel .bar{fill:#1f3f80}'
		'[hidden]{display:none!important}';
	js := '(function(){var sel=null;'
		'var rows=[].slice.call(document.querySelectorAll("#events tbody tr"));'
		'var cat=document.getElementById("f-cat"),st=document.getElementById("f-status"),'
		'us=document.getElementById("f-user"),rs=document.getElementById("reset"),'
		'shown=document.getElementById("shown");'
		'function apply(){var c=cat.value,s=st.value,u=us.value.toLowerCase(),n=0;'
		'rows.forEach(function(r){var d=r.dataset,ok=!sel||d.day===sel;'
		'if(r.classList.contains("more")){ok=ok&&!c&&!s&&!u;}'
		'else{ok=ok&&(!c||d.cat===c)&&(!s||d.status===s)&&(!u||(d.user||"").toLowerCase().indexOf(u)>=0);if(ok)n++;}'
		'r.hidden=!ok;});'
		'[].forEach.call(document.querySelectorAll("#chart [data-day]"),function(e){'
		'e.classList.toggle("dim",sel!==null&&e.dataset.day!==sel);'
		'e.classList.toggle("sel",e.dataset.day===sel);});'
		'shown.textContent=n+" events shown"+(sel?" for "+sel:" for the whole window");rs.hidden=!sel;}'
		'document.getElementById("chart").addEventListener("click",function(ev){'
		'var t=ev.target.closest("[data-day]");if(!t)return;'
		'sel=(sel===t.dataset.day)?null:t.dataset.day;apply();});'
		'rs.addEventListener("click",function(){sel=null;apply();});'
		'[cat,st].forEach(function(e){e.addEventListener("change",apply);});'
		'us.addEventListener("input",apply);'
		'document.getElementById("filters").hidden=false;apply();})();';

	RETURN '<!DOCTYPE html>' || E'\n'
		|| '<html lang="en"><head><meta charset="utf-8">'
		|| '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''; script-src ''sha256-'
		|| pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(js, 'UTF8')), 'base64') || '''">'
		|| '<meta name="viewport" content="width=device-width, initial-scale=1">'
		|| pg_catalog.format('<title>audit_log report %s to %s</title>', d0, d1)
		|| '<style>' || css || '</style></head><body>' || E'\n'
		|| pg_catalog.format('<h1>Audit log report: %s to %s</h1>', d0, d1)
		|| pg_catalog.format('<p>Window [%s, %s), days in time zone %s. Written %s.</p>',
			audit_log._report_html(pg_catalog.to_char(from_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')),
			audit_log._report_html(pg_catalog.to_char(to_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')),
			audit_log._report_html(tz),
			audit_log._report_html(pg_catalog.to_char(pg_catalog.now() AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')))
		|| E'\n<section id="summary"><h2>Summary</h2><div class="cards">'
		|| pg_catalog.format('<table id="totals"><tbody><tr><th>events</th><td class="n">%s</td></tr>'
			'<tr><th>successful logins</th><td class="n">%s</td></tr>'
			'<tr><th>failed logins</th><td class="n">%s</td></tr>'
			'<tr><th>days</th><td class="n">%s</td></tr>'
			'<tr><th>worst day</th><td id="worst" data-day="%s">%s</td></tr></tbody></table>',
			tot_all, tot_ok, tot_bad, ndays,
			CASE WHEN worst > 0 THEN days[worst]::text ELSE '' END,
			CASE WHEN worst > 0 THEN pg_catalog.format('%s (%s failed logins)', days[worst], n_bad[worst])
				 ELSE 'none (no failed login)' END)
		|| '<table id="top-addresses"><thead><tr><th>client address (failed logins)</th><th>count</th></tr></thead><tbody>'
		|| top_addr || '</tbody></table>'
		|| '<table id="top-roles"><thead><tr><th>role (failed logins)</th><th>count</th></tr></thead><tbody>'
		|| top_role || '</tbody></table></div></section>' || E'\n'
		|| '<section><h2>Daily logins: successful (bars), failed (line)</h2>'
		|| chart || '</section>' || E'\n'
		|| '<section><h2>Events</h2>'
		|| '<noscript><p>The filters and the drill-down by day need JavaScript; the summary, the chart and the table are complete without it.</p></noscript>'
		|| '<p id="filters" hidden>Category <select id="f-cat"><option value="">all</option>' || cats || '</select> '
		|| 'Status <select id="f-status"><option value="">all</option><option>SUCCESS</option><option>FAILURE</option></select> '
		|| 'User <input id="f-user" type="search" placeholder="contains"> '
		|| '<button id="reset" type="button" hidden>Show the whole window</button> <span id="shown"></span></p>'
		|| pg_catalog.format('<p>At most %s events per day are listed (the first of the day); a row says how many more a day had.</p>', per_day)
		|| '<table id="events"><thead><tr><th>time</th><th>category</th><th>type</th><th>status</th><th>reason</th>'
		|| '<th>user</th><th>object</th><th>client</th><th>database</th></tr></thead><tbody>' || E'\n'
		|| tbody || '</tbody></table></section>' || E'\n'
		|| '<script>' || js || '</script></body></html>' || E'\n';
END
$$;

COMMENT ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text)
	IS 'the self-contained HTML report of [from_time, to_time), days in a time zone (NULL: the session''s): what export(source => ''report'', format => ''html'') writes';

REVOKE ALL ON FUNCTION audit_log._report_html(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log._report_html(text) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text) TO audit_log_admin;
