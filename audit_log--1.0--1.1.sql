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
