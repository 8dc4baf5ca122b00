
/*
 * 50_export: CSV exports (export.c), their record (export_runs) and their
 * schedule (pg_cron).
 */

/*
 * One row per export run, success or failure.  Rows are written by a
 * background worker in a transaction of their own, so a failed export is
 * recorded although the caller's transaction rolls back.  The retention
 * job reads the SUCCESS rows of source 'events' to know which days have
 * been exported (audit_log.require_export_before_purge).
 */
CREATE TABLE audit_log.export_runs (
	run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL,
	source text,
	from_time timestamptz,
	to_time timestamptz,
	directory text,
	file text,
	rows bigint,
	bytes bigint,
	sha256 text,
	status audit_log.event_status NOT NULL,
	error text,
	job_name text,
	seal_digests jsonb
);

CREATE INDEX export_runs_job_idx ON audit_log.export_runs (job_name, to_time)
	WHERE status = 'SUCCESS';
CREATE INDEX export_runs_window_idx ON audit_log.export_runs (source, from_time, to_time)
	WHERE status = 'SUCCESS';

COMMENT ON TABLE audit_log.export_runs IS 'one row per export run (success or failure): window, file, rows, bytes, SHA-256, status';

SELECT pg_catalog.pg_extension_config_dump('audit_log.export_runs', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log.export_runs_run_id_seq', '');

REVOKE ALL ON audit_log.export_runs FROM PUBLIC;
GRANT SELECT ON audit_log.export_runs TO audit_log_reader;

/*
 * The export itself.  SECURITY INVOKER: the C code checks that the caller
 * is a superuser or a member of audit_log_admin, and the rows are read
 * with the caller's rights.  EXECUTE is granted to readers as well so that
 * a reader's attempt ends in a clear error (with the \copy hint) and is
 * recorded as a FAILURE run.
 */
CREATE FUNCTION audit_log.export_csv(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events')
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

COMMENT ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) as a CSV file under audit_log.export_directory';

/* The same, recording the pg_cron job it runs for. */
CREATE FUNCTION audit_log._export_csv_job(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text,
	job_name text)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

/*
 * Period arithmetic for scheduled exports, in UTC (timestamp without time
 * zone holding UTC wall time, so that no session TimeZone or DST change
 * moves a boundary).  A period is either a whole number of months that
 * divides a year or a multiple of years (boundaries at month starts), or
 * a fixed length of at least one minute without months (boundaries every
 * period since Monday 2001-01-01 00:00 UTC, so '1 day' gives UTC
 * midnights, '1 hour' full hours and '7 days' Mondays).
 */
CREATE FUNCTION audit_log._export_check_period(period interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	months integer := pg_catalog.date_part('year', period)::integer * 12
		+ pg_catalog.date_part('month', period)::integer;
	rest interval := period - pg_catalog.make_interval(months => months);
BEGIN
	IF period IS NULL THEN
		RAISE EXCEPTION 'export period must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF months <> 0 THEN
		IF rest <> interval '0' OR months < 0 OR (12 % months <> 0 AND months % 12 <> 0) THEN
			RAISE EXCEPTION 'invalid export period "%"', period
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A period with months must be a whole number of months that divides a year (1, 2, 3, 4, 6 months) or a number of years, with no days or hours.';
		END IF;
	ELSIF period < interval '1 minute' OR date_part('day', period) < 0 THEN
		RAISE EXCEPTION 'invalid export period "%"', period
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The period must be at least 1 minute.';
	END IF;
END
$$;

CREATE FUNCTION audit_log._export_period_floor(ts timestamp, period interval)
RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	months integer := pg_catalog.date_part('year', period)::integer * 12
		+ pg_catalog.date_part('month', period)::integer;
	m integer;
BEGIN
	IF months = 0 THEN
		RETURN pg_catalog.date_bin(period, ts, timestamp '2001-01-01 00:00:00');
	END IF;
	m := pg_catalog.date_part('year', ts)::integer * 12 + pg_catalog.date_part('month', ts)::integer - 1;
	m := m - (m % months);
	RETURN pg_catalog.make_timestamp(m / 12, m % 12 + 1, 1, 0, 0, 0);
END
$$;

/*
 * One run of a scheduled export (called by its pg_cron job): export, one
 * window at a time, every complete period since the end of the job's last
 * successful window, or, for a job that never succeeded, since the period
 * of the oldest event.  The still-open period is never exported; a period
 * counts as closed one minute after its end (after a flush of the capture
 * queue, when the server captures), so that late writers are in.  A
 * failing window stops the run with its error (the job is marked failed);
 * the next run starts again at that window.  At most 1000 windows per run;
 * further runs continue.  Returns the number of windows exported.
 */
CREATE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval)
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
										  w_to AT TIME ZONE 'UTC', source, job_name);
		n := n + 1;
		w_from := w_to;
	END LOOP;
	RETURN n;
END
$$;

/*
 * Create (or replace) the pg_cron job audit_log_export_<job_name>.
 */
CREATE FUNCTION audit_log.schedule_export(
	job_name text,
	cron text,
	directory text,
	source text DEFAULT 'events',
	period interval DEFAULT '1 day')
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
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Scheduled exports are pg_cron jobs.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;

	command := pg_catalog.format('SELECT audit_log._scheduled_export(%L, %L, %L, %L::interval)',
								 job_name, directory, source, period);
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		USING 'audit_log_export_' || job_name, cron, command;

	IF pg_catalog.to_regprocedure('audit_log.log_event(audit_log.event_category,text,audit_log.event_status,text,text,jsonb,text,timestamptz)') IS NOT NULL THEN
		PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
			'audit_log_export_' || job_name,
			pg_catalog.jsonb_build_object('action', 'schedule_export', 'jobid', jobid,
				'cron', cron, 'directory', directory, 'source', source,
				'period', period::text));
	END IF;
	RETURN jobid;
END
$$;

COMMENT ON FUNCTION audit_log.schedule_export(text, text, text, text, interval)
	IS 'pg_cron job that exports each complete UTC-aligned period, catching up missed ones';

CREATE FUNCTION audit_log.unschedule_export(job_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	found boolean;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
				   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
				   WHERE n.nspname = 'cron' AND p.proname = 'unschedule') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found
		USING 'audit_log_export_' || job_name;
	IF NOT found THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1::pg_catalog.name)' USING 'audit_log_export_' || job_name;
	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
		'audit_log_export_' || job_name,
		pg_catalog.jsonb_build_object('action', 'unschedule_export'));
	RETURN true;
END
$$;

COMMENT ON FUNCTION audit_log.unschedule_export(text)
	IS 'remove the pg_cron job of a scheduled export';

REVOKE ALL ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_csv_job(text, timestamptz, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_check_period(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_period_floor(timestamp, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._scheduled_export(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule_export(text, text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.unschedule_export(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text) TO audit_log_reader, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule_export(text, text, text, text, interval) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.unschedule_export(text) TO audit_log_admin;
