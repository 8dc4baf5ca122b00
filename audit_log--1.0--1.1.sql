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

/* ---- issue 15: origin of every row, bounded request_time, guarded roles, CHANGE_OWNER, spreadsheet-safe CSV ---- */

/*
 * The origin of every row, set by the server only: SERVER (captured by
 * the hooks), EXTENSION (written by audit_log about itself: exports,
 * retention, schedules, seals, verify runs, settings, fleet) or APPLICATION
 * (written through log_event).  No function takes it as an argument.
 *
 * Rows written before this update get APPLICATION: nothing recorded the
 * path they came by, and under 1.0 any member of audit_log_writer could
 * have written any of them, so the least trusted answer is the honest one.
 * The column is added with that constant default (no rewrite of the table:
 * the value is kept once, in the catalog) and the default is then dropped,
 * so that every writer must state the origin.
 */
CREATE TYPE audit_log.event_origin AS ENUM ('SERVER', 'EXTENSION', 'APPLICATION');

COMMENT ON TYPE audit_log.event_origin
	IS 'who wrote an event: the server''s capture (SERVER), audit_log about itself (EXTENSION), or an application through log_event (APPLICATION)';

REVOKE ALL ON TYPE audit_log.event_origin FROM PUBLIC;
GRANT USAGE ON TYPE audit_log.event_origin TO audit_log_reader, audit_log_writer, audit_log_admin;

ALTER TABLE audit_log.events
	ADD COLUMN origin audit_log.event_origin NOT NULL DEFAULT 'APPLICATION';
ALTER TABLE audit_log.events ALTER COLUMN origin DROP DEFAULT;

COMMENT ON COLUMN audit_log.events.origin
	IS 'SERVER, EXTENSION or APPLICATION, set by the server; APPLICATION for rows written before version 1.1';

/*
 * log_event becomes SECURITY INVOKER (its search_path stays pinned): the
 * C code inserts with its owner's rights itself, and needs to see who
 * calls: the extension's own SECURITY DEFINER functions call it as their
 * owner, a superuser, and only they may write AUDIT_LOG (origin
 * EXTENSION); the built-in EXPORTS types are refused for every caller (the
 * extension writes its EXPORT rows directly); any other row is
 * APPLICATION.
 */
ALTER FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz)
	SECURITY INVOKER;

COMMENT ON FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz)
	IS 'record an application event in the caller''s transaction (origin APPLICATION; AUDIT_LOG and the built-in EXPORTS types are refused)';

/*
 * Seals: the serialization of days sealed from now on includes origin
 * (format version 2, doc/seal.md); days sealed before keep verifying with
 * version 1.  Old rows get 1 (kept in the catalog, no rewrite), new seals
 * the default 2.
 */
ALTER TABLE audit_log.seals
	ADD COLUMN format_version integer NOT NULL DEFAULT 1
	CONSTRAINT seals_format_version_known CHECK (format_version IN (1, 2));
ALTER TABLE audit_log.seals ALTER COLUMN format_version SET DEFAULT 2;

COMMENT ON COLUMN audit_log.seals.format_version
	IS 'serialization of the day''s rows: 1 (the 17 columns of 1.0), 2 (the same and origin)';

/*
 * daily_login_activity gains server_only: count only the logins the
 * server captured (origin SERVER), leaving out LOGIN rows an application
 * wrote through log_event.  The default (false) counts every row, as in
 * 1.0.  A new argument needs DROP and CREATE (an overload would make the
 * old calls ambiguous), and the view that uses it with them.
 */
DROP VIEW audit_log.daily_login_activity_90d;
DROP FUNCTION audit_log.daily_login_activity(date, date, text);

CREATE FUNCTION audit_log.daily_login_activity(from_day date, to_day date,
	tz text DEFAULT pg_catalog.current_setting('TimeZone'),
	server_only boolean DEFAULT false)
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
	 * The hourly rollups do not keep the origin: server_only scans the
	 * whole range live.
	 */
	IF server_only THEN
		plan.rolled_hours := '{}';
		plan.live_from := ARRAY[audit_log.day_start(from_day, tz)];
		plan.live_to := ARRAY[audit_log.day_start(to_day + 1, tz)];
	END IF;

	/*
	 * The rows scanned live: one branch per range, each with constant
	 * bounds, so that the planner prunes every branch to the partitions of
	 * its range and picks the scan that suits its length.
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
									 'ACCESS_SIGMA', 'LOGIN', plan.live_from[i], plan.live_to[i])
				|| CASE WHEN server_only THEN ' AND e.origin = ''SERVER''' ELSE '' END;
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

COMMENT ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean)
	IS 'successful and failed logins per day of a time zone, every day of the range (server_only: only the logins the server captured)';

CREATE VIEW audit_log.daily_login_activity_90d AS
SELECT a.day, a.success, a.failure
FROM audit_log.daily_login_activity(audit_log.day(pg_catalog.now()) - 89,
									audit_log.day(pg_catalog.now())) AS a;

COMMENT ON VIEW audit_log.daily_login_activity_90d
	IS 'successful and failed logins per day over the last 90 days, in the session time zone';

REVOKE ALL ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean) FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.daily_login_activity_90d FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean) TO audit_log_reader;
GRANT SELECT ON TABLE audit_log.daily_login_activity_90d TO audit_log_reader;

/*
 * Maintenance that no row can stop or slow down.  A day partition can be
 * made for the UTC days from 1970-01-01 (where a UUIDv7 starts) up to the
 * year 9999; a row outside (a superuser may insert one directly: log_event
 * refuses them) stays in the default partition, is counted in
 * status.unplaced_rows, reported by a WARNING on each maintain(), and
 * skipped.  A day whose partition cannot be made for another reason is
 * reported and skipped the same way.
 */
CREATE FUNCTION audit_log._placeable_lo()
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '1970-01-01 00:00:00+00'::pg_catalog.timestamptz $$;

CREATE FUNCTION audit_log._placeable_hi()
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '10000-01-01 00:00:00+00'::pg_catalog.timestamptz $$;

/* Rows of the default partition that no day partition can hold. */
CREATE FUNCTION audit_log._unplaced_rows()
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.count(*) FROM ONLY audit_log.events_default e
	WHERE e.request_time < audit_log._placeable_lo() OR e.request_time >= audit_log._placeable_hi()
$$;

CREATE OR REPLACE FUNCTION audit_log._maintain_partitions()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
DECLARE
	today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
	d date;
	created integer := 0;
	unplaced bigint;
	err text;
BEGIN
	FOR d IN
		SELECT g::date FROM pg_catalog.generate_series(today, today + 7, interval '1 day') AS g
		UNION
		SELECT DISTINCT (e.request_time AT TIME ZONE 'UTC')::date FROM ONLY audit_log.events_default e
		WHERE e.request_time >= audit_log._placeable_lo() AND e.request_time < audit_log._placeable_hi()
		ORDER BY 1
	LOOP
		BEGIN
			IF audit_log._create_day_partition(d) THEN
				created := created + 1;
			END IF;
		EXCEPTION
			WHEN lock_not_available THEN
				RAISE WARNING 'audit_log: partition for % not created now: its locks were busy', d
					USING HINT = 'The next maintenance run will try again.';
			WHEN check_violation THEN
				/* rows of that day were committed into the default partition
				 * while we were moving its older rows */
				RAISE WARNING 'audit_log: partition for % not created now: rows for it arrived meanwhile', d
					USING HINT = 'The next maintenance run will try again.';
			WHEN OTHERS THEN
				/* no day may stop the others */
				GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
				RAISE WARNING 'audit_log: partition for % not created: %', d, err
					USING HINT = 'Its rows stay in audit_log.events_default; the other days go on.';
		END;
	END LOOP;

	unplaced := audit_log._unplaced_rows();
	IF unplaced > 0 THEN
		RAISE WARNING 'audit_log: % rows in audit_log.events_default cannot be placed in a day partition', unplaced
			USING DETAIL = pg_catalog.format('Their request_time lies before %s or from %s on; maintenance skips them.',
											 audit_log._placeable_lo(), audit_log._placeable_hi()),
				  HINT = 'status.unplaced_rows counts them; log_event refuses such times, so a superuser wrote them directly.';
	END IF;
	RETURN created;
END
$$;

/*
 * Sealing: before the first seal, start at the oldest day partition that
 * holds rows (never at the oldest request_time of the whole table: one row
 * in 4713 BC would mean millions of days); at most 1000 days per run, the
 * next run goes on.
 */
CREATE OR REPLACE FUNCTION audit_log._maintain_seals()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
DECLARE
	delay integer := audit_log._seal_delay();
	last_day date;
	d date;
	sealed integer := 0;
	r record;
	has_rows boolean;
BEGIN
	IF delay < 0 THEN
		RETURN 0;
	END IF;
	last_day := ((pg_catalog.now() - pg_catalog.make_interval(mins => delay)) AT TIME ZONE 'UTC')::date - 1;
	SELECT s.day + 1 INTO d FROM audit_log.seals s ORDER BY s.day DESC LIMIT 1;
	IF d IS NULL THEN
		FOR r IN
			SELECT c.relname
			FROM pg_catalog.pg_inherits i
			JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
			  AND c.relname ~ '^events_p[0-9]{8}$'
			ORDER BY c.relname
		LOOP
			EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM audit_log.%I)', r.relname) INTO has_rows;
			IF has_rows THEN
				d := pg_catalog.to_date(pg_catalog.substr(r.relname, 9), 'YYYYMMDD');
				EXIT;
			END IF;
		END LOOP;
	END IF;
	IF d IS NULL THEN
		RETURN 0;
	END IF;
	WHILE d <= last_day AND sealed < 1000 LOOP
		BEGIN
			PERFORM audit_log.seal(d);
		EXCEPTION WHEN lock_not_available THEN
			RAISE WARNING 'audit_log: day % not sealed now: its partition was busy', pg_catalog.to_char(d, 'YYYY-MM-DD')
				USING HINT = 'The next maintenance run will try again.';
			EXIT;
		END;
		sealed := sealed + 1;
		d := d + 1;
	END LOOP;
	RETURN sealed;
END
$$;

REVOKE ALL ON FUNCTION audit_log._placeable_lo() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._placeable_hi() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._unplaced_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log._unplaced_rows() TO audit_log_reader, audit_log_admin;

/* status gains unplaced_rows (see above). */
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
	v.extension_version IS DISTINCT FROM v.library_version AS update_pending,
	audit_log._unplaced_rows() AS unplaced_rows
FROM audit_log.capture_stats() AS s,
	audit_log._retention_status() AS r,
	(SELECT e.extversion AS extension_version,
		audit_log.library_version() AS library_version
	 FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'audit_log') AS v;

/*
 * ALTER ... OWNER TO of any object (a table's owner holds every privilege
 * on it) is captured as ACCOUNT_TYPES CHANGE_OWNER; GRANT of audit_log's
 * own roles by a role that is not a superuser is refused in the utility
 * hook (no SQL object).
 */
INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('ACCOUNT_TYPES', 'CHANGE_OWNER', 'The owner of an object was changed (ALTER ... OWNER TO); entry_data holds the object, its type, the old and the new owner', true)
ON CONFLICT DO NOTHING;

/*
 * Spreadsheet-safe CSV: export_csv(..., formula_guard => true) puts a
 * single quote before every text cell that begins with =, +, -, @, a tab
 * or a carriage return, so that a spreadsheet shows it instead of running
 * it as a formula (OWASP, "CSV Injection").  Off by default: it changes
 * the values, so such an export no longer re-imports to the same rows
 * (README, "Exports").  A new argument needs DROP and CREATE (an overload
 * would make the old calls ambiguous); schedule_export passes it on.  The
 * internal _export_csv_job and _scheduled_export get a form with it, and
 * their 1.0 forms stay, so that pg_cron jobs scheduled under 1.0 go on.
 */
DROP FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text);

CREATE FUNCTION audit_log.export_csv(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events',
	formula_guard boolean DEFAULT false)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

COMMENT ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) as a CSV file under audit_log.export_directory (formula_guard: quote cells a spreadsheet would run)';

CREATE FUNCTION audit_log._export_csv_job(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text,
	job_name text,
	formula_guard boolean)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

CREATE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval,
	formula_guard boolean)
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
		PERFORM audit_log._export_csv_job(directory, w_from AT TIME ZONE 'UTC',
										  w_to AT TIME ZONE 'UTC', source, job_name,
										  COALESCE(formula_guard, false));
		n := n + 1;
		w_from := w_to;
	END LOOP;
	RETURN n;
END
$$;

/* The 1.0 form, which pg_cron jobs made under 1.0 call. */
CREATE OR REPLACE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval)
RETURNS integer
LANGUAGE sql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT audit_log._scheduled_export(job_name, directory, source, period, false) $$;

DROP FUNCTION audit_log.schedule_export(text, text, text, text, interval);

CREATE FUNCTION audit_log.schedule_export(
	job_name text,
	cron text,
	directory text,
	source text DEFAULT 'events',
	period interval DEFAULT '1 day',
	formula_guard boolean DEFAULT false)
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
	IF formula_guard IS NULL THEN
		RAISE EXCEPTION 'formula_guard must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Scheduled exports are pg_cron jobs.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;

	/* without the guard, the call of 1.0 */
	command := pg_catalog.format('SELECT audit_log._scheduled_export(%L, %L, %L, %L::interval%s)',
								 job_name, directory, source, period,
								 CASE WHEN formula_guard THEN ', true' ELSE '' END);
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		USING 'audit_log_export_' || job_name, cron, command;

	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
		'audit_log_export_' || job_name,
		pg_catalog.jsonb_build_object('action', 'schedule_export', 'jobid', jobid,
			'cron', cron, 'directory', directory, 'source', source,
			'period', period::text, 'formula_guard', formula_guard));
	RETURN jobid;
END
$$;

COMMENT ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, boolean)
	IS 'pg_cron job that exports each complete UTC-aligned period, catching up missed ones';

REVOKE ALL ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_csv_job(text, timestamptz, timestamptz, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._scheduled_export(text, text, text, interval, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean) TO audit_log_reader, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, boolean) TO audit_log_admin;

/* ---- issue 15: guarded DROP EXTENSION, TRAIL_CHANGE, READ ---- */

/*
 * The trail audits itself (src/capture_trail.c, src/extension_drop.c):
 * statements that alter the trail's own objects, a drop of the extension
 * reported by the next CREATE EXTENSION, and reads of audit_log.events.
 * The events carry no statement text.
 */
INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'TRAIL_CHANGE', 'A statement altered the audit trail''s own objects (ALTER/DROP/TRUNCATE/GRANT on audit_log''s tables, ALTER EXTENSION audit_log, session_replication_role, pause_writer), successful or not', true),
	('AUDIT_LOG', 'EXTENSION_DROPPED', 'DROP EXTENSION audit_log removed the trail of this database; written by the next CREATE EXTENSION with who, when, the rows and days lost and the last seal digest', true),
	('AUDIT_LOG', 'READ', 'A role read audit_log.events or one of its partitions (at most one event per session per minute)', true);

/* ---- issue 16: synchronous capture, fail-closed capture, intents ---- */

/*
 * Intents of administrative events (src/intents.c).  With
 * audit_log.synchronous on or audit_log.on_failure = fail, the writer
 * writes here a copy of each administrative event, with the id of the
 * command's transaction, BEFORE that transaction commits; the event itself
 * deletes its copy when it is written.  A row left here (power loss,
 * postmaster killed) is resolved by the writer from pg_xact_status(xid):
 * the event is written with the true outcome and the row deleted.  Not
 * dumped: a transaction id means nothing on another server.
 */
CREATE TABLE audit_log.capture_intents (
	event_id uuid PRIMARY KEY,
	xid pg_catalog.xid8 NOT NULL,
	queued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	event jsonb NOT NULL
);

COMMENT ON TABLE audit_log.capture_intents
	IS 'administrative events written before their transaction commits, until the event itself is written (audit_log.synchronous, audit_log.on_failure)';

REVOKE ALL ON TABLE audit_log.capture_intents FROM PUBLIC;
GRANT SELECT ON TABLE audit_log.capture_intents TO audit_log_reader, audit_log_admin;

/*
 * The capture modes for the status view.  audit_log.on_failure is a
 * superuser-only setting: this function reads it with its owner's rights,
 * so that audit_log_reader sees the mode.
 */
CREATE FUNCTION audit_log._capture_modes(
	OUT synchronous boolean,
	OUT on_failure text,
	OUT intents_pending bigint)
RETURNS record
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT COALESCE(pg_catalog.current_setting('audit_log.synchronous', true), 'off') = 'on',
	COALESCE(pg_catalog.current_setting('audit_log.on_failure', true), 'continue'),
	(SELECT pg_catalog.count(*) FROM audit_log.capture_intents)
$$;

COMMENT ON FUNCTION audit_log._capture_modes()
	IS 'audit_log.synchronous, audit_log.on_failure and the number of unresolved intents, for the view audit_log.status';

REVOKE ALL ON FUNCTION audit_log._capture_modes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log._capture_modes() TO audit_log_reader, audit_log_admin;

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
	v.extension_version IS DISTINCT FROM v.library_version AS update_pending,
	audit_log._unplaced_rows() AS unplaced_rows,
	m.synchronous,
	m.on_failure,
	m.intents_pending
FROM audit_log.capture_stats() AS s,
	audit_log._capture_modes() AS m,
	audit_log._retention_status() AS r,
	(SELECT e.extversion AS extension_version,
		audit_log.library_version() AS library_version
	 FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'audit_log') AS v;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, capture modes, retention and its schedule, exports, seals, fleet sources, installed and loaded versions';
