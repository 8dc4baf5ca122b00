
/*
 * 40_retention: apply_retention() drops whole expired UTC days; schedule()
 * and unschedule() manage the pg_cron job that runs it; _retention_status()
 * feeds the status view.
 *
 * Dropping a partition takes ACCESS EXCLUSIVE on audit_log.events (and on
 * its default partition) until the end of the transaction.  A lock request
 * that waits also makes every later reader and writer of the table queue
 * behind it, so every lock is asked for with a short lock_timeout (or
 * NOWAIT), and a day whose locks are busy is left for the next run.  The
 * row count of a day comes from the hourly rollups when they count it
 * exactly (_rollup_day_rows); otherwise counting it, the only slow part,
 * happens before the table-wide lock is asked for, under a SHARE lock on
 * that day's partition only.  Either way the table-wide lock is held for
 * catalog work of a few milliseconds.
 */

CREATE FUNCTION audit_log._retention_days()
RETURNS integer
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_retention_days';

CREATE FUNCTION audit_log._require_export_before_purge()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_require_export_before_purge';

/*
 * What the last retention run did (one row at most), for the status view.
 * The RETENTION events hold the full history; this row only saves the
 * status view a search of the whole events table.
 */
CREATE TABLE audit_log._retention_state (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	last_run timestamptz NOT NULL,
	retention_days integer NOT NULL,
	first_day_kept date NOT NULL,
	dropped_days integer NOT NULL,
	dropped_rows bigint NOT NULL,
	busy_days integer NOT NULL,
	held_back_days integer NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('audit_log._retention_state', '');

/* The first UTC day that retention keeps when retention_days days are kept. */
CREATE FUNCTION audit_log._retention_first_day_kept(keep_days integer)
RETURNS date
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	/*
	 * Day D lies entirely before the instant now() - keep_days days exactly
	 * when D + 1 (its end, at 00:00 UTC) is not after that instant, that is
	 * when D is before the UTC date of that instant.  Computed on UTC
	 * timestamps, so a day is always 24 hours here.
	 */
	SELECT ((pg_catalog.now() AT TIME ZONE 'UTC')
			- pg_catalog.make_interval(days => keep_days))::date
$$;

/*
 * The day partitions of audit_log.events that lie entirely before
 * first_day_kept, oldest first.  Only a partition named as
 * audit_log.partition_name(d) whose bounds are exactly d 00:00 UTC to d + 1
 * 00:00 UTC counts as day d; anything else attached to events is left alone.
 * (pg_get_expr() prints the bounds with the same output function, DateStyle
 * and TimeZone as format() below, so the texts match whatever those are.)
 */
CREATE FUNCTION audit_log._expired_day_partitions(first_day_kept date)
RETURNS TABLE (day date, part name)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	d date;
BEGIN
	FOR r IN
		SELECT c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
		  AND c.relkind = 'r'
		  AND c.relname::text ~ '^events_p[0-9]{8}$'
		  AND pg_catalog.substr(c.relname::text, 9) <
			  pg_catalog.to_char(first_day_kept, 'YYYYMMDD')
		ORDER BY c.relname
	LOOP
		BEGIN
			d := pg_catalog.to_date(pg_catalog.substr(r.relname::text, 9), 'YYYYMMDD');
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			CONTINUE;
		END;
		IF audit_log.partition_name(d) = r.relname::text
		   AND r.bound = pg_catalog.format('FOR VALUES FROM (%L) TO (%L)',
				d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC')
		THEN
			day := d;
			part := r.relname;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;

/*
 * The number of rows in the partition part of day d as the hourly rollups know
 * it, or NULL when they might not know it exactly.  They do when maintain()
 * counted this very partition up to the end of its day and the trigger that
 * counts every later insert into it fires always (even for replicated rows),
 * and the append-only trigger still refuses deletes; then the sum is exact,
 * and retention need not read a day to say how many rows it dropped.  Call
 * it with part locked against writers, or the answer may be stale.
 */
CREATE FUNCTION audit_log._rollup_day_rows(d date, part regclass)
RETURNS bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE((SELECT pg_catalog.sum(h.count)
					 FROM audit_log.hourly_counts h
					 WHERE h.hour >= (d::timestamp AT TIME ZONE 'UTC')
					   AND h.hour < ((d + 1)::timestamp AT TIME ZONE 'UTC')), 0)::bigint
	FROM audit_log.rollup_days rd
	WHERE rd.day = d
	  AND rd.partition = part
	  AND rd.rolled_until >= ((d + 1)::timestamp AT TIME ZONE 'UTC')
	  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
				  WHERE t.tgrelid = part AND t.tgname = 'events_rollup_late'
					AND t.tgenabled = 'A')
	  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
				  WHERE t.tgrelid = part AND t.tgname = 'events_append_only'
					AND t.tgenabled IN ('O', 'A'))
$$;

/* The UTC days before first_day_kept that still have rows in events_default. */
CREATE FUNCTION audit_log._expired_default_days(first_day_kept date)
RETURNS date[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT (e.request_time AT TIME ZONE 'UTC')::date), '{}')
	FROM ONLY audit_log.events_default e
	WHERE e.request_time < (first_day_kept::timestamp AT TIME ZONE 'UTC')
$$;

/*
 * Which of days no successful export of events has covered.  The union of
 * the successful runs' [from_time, to_time) ranges must contain the whole
 * UTC day: one export of a week covers each of its days, and so do seven
 * daily exports.  NULL when audit_log.export_runs does not exist.
 */
CREATE FUNCTION audit_log._days_not_exported(days date[])
RETURNS date[]
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result date[];
BEGIN
	IF pg_catalog.to_regclass('audit_log.export_runs') IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE $q$
		WITH exported AS (
			SELECT pg_catalog.range_agg(pg_catalog.tstzrange(r.from_time, r.to_time)) AS ranges
			FROM audit_log.export_runs r
			WHERE r.status::text = 'SUCCESS'
			  AND r.source = 'events'
			  AND r.from_time IS NOT NULL AND r.to_time IS NOT NULL
			  AND r.from_time < r.to_time
		)
		SELECT COALESCE(pg_catalog.array_agg(d ORDER BY d), '{}')
		FROM pg_catalog.unnest($1) AS d, exported x
		WHERE NOT COALESCE(x.ranges @>
				pg_catalog.tstzrange(d::timestamp AT TIME ZONE 'UTC',
									 (d + 1)::timestamp AT TIME ZONE 'UTC'), false)
	$q$ INTO result USING days;
	RETURN result;
END
$$;

/*
 * pg_cron: is it installed here, and the error when it is needed but is not.
 */
CREATE FUNCTION audit_log._cron_available()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')
	   AND pg_catalog.to_regclass('cron.job') IS NOT NULL
$$;

CREATE FUNCTION audit_log._require_cron(caller text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT audit_log._cron_available() THEN
		RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('%s schedules its jobs with pg_cron, which must be installed in the database that holds audit_log.', caller),
				  HINT = pg_catalog.format('Add pg_cron to shared_preload_libraries, set cron.database_name = ''%s'' (now %s), restart the server, then run CREATE EXTENSION pg_cron in that database.',
					  pg_catalog.current_database(),
					  COALESCE(pg_catalog.quote_literal(pg_catalog.current_setting('cron.database_name', true)), 'not set: pg_cron is not loaded'));
	END IF;
END
$$;

/*
 * pg_cron keeps every run in cron.job_run_details forever.  Keep 30 days of
 * the runs of our own jobs (audit_log_* in this database); other jobs' rows
 * are not ours to remove.
 */
CREATE FUNCTION audit_log._trim_cron_history()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint := 0;
BEGIN
	IF NOT audit_log._cron_available() OR pg_catalog.to_regclass('cron.job_run_details') IS NULL THEN
		RETURN 0;
	END IF;
	EXECUTE $q$
		DELETE FROM cron.job_run_details d
		WHERE d.jobid IN (SELECT j.jobid FROM cron.job j
						  WHERE j.jobname LIKE $1
							AND j.database = pg_catalog.current_database())
		  AND COALESCE(d.end_time, d.start_time) <
			  pg_catalog.now() - interval '30 days'
	$q$ USING 'audit\_log\_%';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

/*
 * audit_log.apply_retention(): drop every UTC day that lies entirely before
 * now() - audit_log.retention_days, return the days dropped with their row
 * counts, and record one RETENTION event (also when nothing was dropped).
 *
 * A day is only ever removed whole, by dropping its partition: rows of a
 * kept day are never touched.  Rows of an expired day that still wait in
 * the default partition are first moved into their day's partition (as
 * maintain() does), so that they go with their day.  With
 * audit_log.require_export_before_purge on, a day stays until successful
 * exports of events covered it.
 */
CREATE FUNCTION audit_log.apply_retention()
RETURNS TABLE (day date, rows bigint)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
AS $$
#variable_conflict use_column
DECLARE
	keep_days integer := audit_log._retention_days();
	require_export boolean := audit_log._require_export_before_purge();
	first_kept date;
	cand_days date[];
	cand_parts name[];
	default_days date[];
	held date[] := '{}';
	held_reason text;
	uncovered date[];
	busy date[] := '{}';
	counted_days date[];
	counted_parts name[];
	counted_rows bigint[];
	done_days date[] := '{}';
	done_rows bigint[] := '{}';
	moved boolean := false;
	got_table_lock boolean;
	locked_at timestamptz;
	lock_ms numeric;
	previous_days integer;
	history_deleted bigint;
	n bigint;
	i integer;
	attempt integer;
	entry jsonb;
BEGIN
	first_kept := audit_log._retention_first_day_kept(keep_days);

	/*
	 * One run at a time: a second one waits here (this lock blocks no one
	 * else) and then finds the days already gone.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '0', true);
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit_log.apply_retention'));
	/*
	 * Reading what is expired takes only ACCESS SHARE locks, which make no
	 * one queue; only the drop below needs the short timeout.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '5s', true);

	/*
	 * Expired rows waiting in the default partition go to their day first.
	 * Attaching a partition locks the default partition until commit, so
	 * after a move this run makes one attempt only, without pauses.
	 */
	default_days := audit_log._expired_default_days(first_kept);
	IF pg_catalog.cardinality(default_days) > 0 THEN
		moved := true;
		BEGIN
			PERFORM audit_log._maintain_partitions();
		EXCEPTION WHEN lock_not_available THEN
			RAISE WARNING 'audit_log: expired rows in the default partition not moved now: its lock was busy'
				USING HINT = 'The next run tries again.';
		END;
	END IF;

	SELECT COALESCE(pg_catalog.array_agg(x.day ORDER BY x.day), '{}'),
		   COALESCE(pg_catalog.array_agg(x.part ORDER BY x.day), '{}')
	INTO cand_days, cand_parts
	FROM audit_log._expired_day_partitions(first_kept) x;
	/* Those that could not be moved (their locks were busy) stay for now. */
	IF moved THEN
		default_days := audit_log._expired_default_days(first_kept);
	END IF;

	/* audit_log.require_export_before_purge: keep what no export covered. */
	IF require_export THEN
		uncovered := audit_log._days_not_exported(cand_days || default_days);
		IF uncovered IS NULL THEN
			held := cand_days || default_days;
			held_reason := 'audit_log.require_export_before_purge is on and audit_log.export_runs does not exist, so no day can have been exported: every day is kept';
			RAISE NOTICE 'audit_log: %', held_reason
				USING HINT = 'Export the expired days with audit_log.export_csv(), or turn audit_log.require_export_before_purge off.';
		ELSE
			held := uncovered;
			IF pg_catalog.cardinality(held) > 0 THEN
				held_reason := 'audit_log.require_export_before_purge is on and no successful export of events covered these days';
				RAISE NOTICE 'audit_log: % expired days kept: %', pg_catalog.cardinality(held), held_reason
					USING HINT = 'Export them with audit_log.export_csv(directory, from_time, to_time), or turn audit_log.require_export_before_purge off.';
			END IF;
		END IF;
		SELECT COALESCE(pg_catalog.array_agg(c.d ORDER BY c.d), '{}'),
			   COALESCE(pg_catalog.array_agg(c.p ORDER BY c.d), '{}')
		INTO cand_days, cand_parts
		FROM ROWS FROM (pg_catalog.unnest(cand_days), pg_catalog.unnest(cand_parts)) AS c(d, p)
		WHERE NOT c.d = ANY (held);
	END IF;

	/* Expired days still in the default partition: their move was busy. */
	SELECT COALESCE(pg_catalog.array_agg(d ORDER BY d), '{}') INTO default_days
	FROM pg_catalog.unnest(default_days) AS d WHERE NOT d = ANY (held);

	history_deleted := audit_log._trim_cron_history();

	/*
	 * Drop.  Each attempt: SHARE-lock and count each expired partition that
	 * the hourly rollups do not count exactly (readers go on; only writers
	 * into that old day wait; the others are read from the rollups once
	 * locked, at no cost per row), then ask for
	 * ACCESS EXCLUSIVE on events itself and on its default partition (for
	 * at most lock_timeout), then drop the partitions whose own lock is free
	 * at once.  When the table-wide lock is busy, the attempt's
	 * subtransaction is rolled back, which releases every lock it took; a
	 * new attempt follows a short pause (three attempts at most).  Once the
	 * table-wide lock is held it stays held until commit, so no attempt
	 * follows that one.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
	attempt := 0;
	WHILE pg_catalog.cardinality(cand_days) > 0 LOOP
		attempt := attempt + 1;
		got_table_lock := false;
		busy := '{}';
		counted_days := '{}';
		counted_parts := '{}';
		counted_rows := '{}';
		BEGIN
			FOR i IN 1 .. pg_catalog.cardinality(cand_days) LOOP
				/*
				 * A day the rollups know exactly is read from them once its
				 * partition is locked below; NULL stands for that here.
				 */
				IF audit_log._rollup_day_rows(cand_days[i],
						pg_catalog.format('audit_log.%I', cand_parts[i])::pg_catalog.regclass) IS NOT NULL THEN
					counted_days := counted_days || cand_days[i];
					counted_parts := counted_parts || cand_parts[i];
					counted_rows := counted_rows || NULL::bigint;
					CONTINUE;
				END IF;
				BEGIN
					EXECUTE pg_catalog.format('LOCK TABLE audit_log.%I IN SHARE MODE', cand_parts[i]);
					EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM audit_log.%I', cand_parts[i]) INTO n;
					counted_days := counted_days || cand_days[i];
					counted_parts := counted_parts || cand_parts[i];
					counted_rows := counted_rows || n;
				EXCEPTION WHEN lock_not_available THEN
					busy := busy || cand_days[i];
				END;
			END LOOP;
			IF pg_catalog.cardinality(counted_days) > 0 THEN
				LOCK TABLE ONLY audit_log.events IN ACCESS EXCLUSIVE MODE;
				LOCK TABLE ONLY audit_log.events_default IN ACCESS EXCLUSIVE MODE NOWAIT;
				got_table_lock := true;
				locked_at := pg_catalog.clock_timestamp();
				FOR i IN 1 .. pg_catalog.cardinality(counted_days) LOOP
					BEGIN
						EXECUTE pg_catalog.format('LOCK TABLE audit_log.%I IN ACCESS EXCLUSIVE MODE NOWAIT', counted_parts[i]);
						n := counted_rows[i];
						IF n IS NULL THEN
							/*
							 * No writer is left: the rollups are final (or,
							 * if a trigger changed meanwhile, count after all).
							 */
							n := audit_log._rollup_day_rows(counted_days[i],
									pg_catalog.format('audit_log.%I', counted_parts[i])::pg_catalog.regclass);
							IF n IS NULL THEN
								EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM audit_log.%I', counted_parts[i]) INTO n;
							END IF;
						END IF;
						EXECUTE pg_catalog.format('DROP TABLE audit_log.%I', counted_parts[i]);
						done_days := done_days || counted_days[i];
						done_rows := done_rows || n;
					EXCEPTION WHEN lock_not_available THEN
						busy := busy || counted_days[i];
					END;
				END LOOP;
			END IF;
		EXCEPTION WHEN lock_not_available THEN
			got_table_lock := false;
			busy := cand_days;
		END;
		EXIT WHEN got_table_lock OR pg_catalog.cardinality(busy) = 0
			OR attempt >= 3 OR moved;
		PERFORM pg_catalog.pg_sleep(0.2);
	END LOOP;

	IF locked_at IS NOT NULL THEN
		lock_ms := pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - locked_at) * 1000, 3);
	END IF;
	busy := busy || default_days;

	/*
	 * Data derived from the dropped days goes with them, in this
	 * transaction: the hourly rollups (30_analytics.sql defines the hook).
	 */
	IF pg_catalog.cardinality(done_days) > 0 THEN
		PERFORM audit_log._on_days_dropped(done_days);
	END IF;

	IF pg_catalog.cardinality(busy) > 0 THEN
		RAISE WARNING 'audit_log: % expired days not dropped now: their locks were busy', pg_catalog.cardinality(busy)
			USING DETAIL = pg_catalog.format('Days: %s.', pg_catalog.array_to_string(busy, ', ')),
				  HINT = 'Long transactions on audit_log.events hold the locks; the next run tries again.';
	END IF;

	entry := pg_catalog.jsonb_build_object(
		'retention_days', keep_days,
		'first_day_kept', first_kept,
		'dropped', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('day', u.d, 'rows', u.n) ORDER BY u.d), '[]')
					FROM ROWS FROM (pg_catalog.unnest(done_days), pg_catalog.unnest(done_rows)) AS u(d, n)),
		'dropped_days', pg_catalog.cardinality(done_days),
		'dropped_rows', (SELECT COALESCE(pg_catalog.sum(x), 0) FROM pg_catalog.unnest(done_rows) AS x),
		'busy_days', pg_catalog.to_jsonb(busy),
		'held_back_days', pg_catalog.to_jsonb(held),
		'require_export_before_purge', require_export,
		'cron_history_deleted', history_deleted,
		'table_lock_ms', lock_ms);
	IF held_reason IS NOT NULL THEN
		entry := entry || pg_catalog.jsonb_build_object('held_back_reason', held_reason);
	END IF;
	/* A changed setting shows in the first run that uses it. */
	SELECT s.retention_days INTO previous_days FROM audit_log._retention_state s;
	IF previous_days <> keep_days THEN
		entry := entry || pg_catalog.jsonb_build_object('previous_retention_days', previous_days);
	END IF;
	/* Writing the event only needs locks no reader holds; wait for them. */
	PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
	PERFORM audit_log.log_event('AUDIT_LOG', 'RETENTION',
		CASE WHEN pg_catalog.cardinality(busy) > 0
			 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		object_name => 'audit_log.events',
		entry_data => entry,
		reason_code => CASE WHEN pg_catalog.cardinality(busy) > 0 THEN '55P03' END);

	INSERT INTO audit_log._retention_state AS s
		(id, last_run, retention_days, first_day_kept, dropped_days, dropped_rows, busy_days, held_back_days)
	VALUES (true, pg_catalog.clock_timestamp(), keep_days, first_kept, pg_catalog.cardinality(done_days),
			(entry ->> 'dropped_rows')::bigint, pg_catalog.cardinality(busy),
			pg_catalog.cardinality(held))
	ON CONFLICT (id) DO UPDATE
		SET last_run = EXCLUDED.last_run, retention_days = EXCLUDED.retention_days,
			first_day_kept = EXCLUDED.first_day_kept, dropped_days = EXCLUDED.dropped_days,
			dropped_rows = EXCLUDED.dropped_rows, busy_days = EXCLUDED.busy_days,
			held_back_days = EXCLUDED.held_back_days;

	RETURN QUERY SELECT u.d, u.n FROM ROWS FROM (pg_catalog.unnest(done_days), pg_catalog.unnest(done_rows)) AS u(d, n) ORDER BY u.d;
END
$$;

COMMENT ON FUNCTION audit_log.apply_retention()
	IS 'drop the UTC days older than audit_log.retention_days (whole partitions), and record a RETENTION event';

/*
 * The maintenance job's body: maintain(), then apply_retention(), each in a
 * transaction of its own.  pg_cron runs a job's command as one transaction
 * (several statements included), and maintain() keeps until commit the
 * locks it took (attaching a new day's partition locks the default
 * partition): sessions queued behind those would also hold the locks
 * retention needs, and retention would give up on every run.  A procedure
 * can commit in between, so the job calls this one.  It takes no SET
 * clause and is not SECURITY DEFINER (either would forbid COMMIT): it runs
 * with the rights of its caller, the job's owner, and calls only
 * schema-qualified functions that pin their own search_path.
 */
CREATE PROCEDURE audit_log._maintenance_job()
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM audit_log.maintain();
	COMMIT;
	PERFORM audit_log.apply_retention();
	COMMIT;
END
$$;

/*
 * audit_log.schedule(maintenance_cron): create, or update, the pg_cron job
 * audit_log_maintenance.  cron.schedule() with a job name updates the job of
 * that name (of the same owner: this function's owner), so calling this
 * twice leaves one job.
 */
CREATE FUNCTION audit_log.schedule(maintenance_cron text DEFAULT '17 3 * * *')
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job_name constant text := 'audit_log_maintenance';
	job_command constant text := 'CALL audit_log._maintenance_job()';
	cron_text text := pg_catalog.btrim(maintenance_cron);
	old_jobid bigint;
	old_schedule text;
	old_command text;
	new_jobid bigint;
	action text;
	err_state text;
	err_message text;
BEGIN
	IF cron_text IS NULL OR cron_text = '' THEN
		RAISE EXCEPTION 'invalid maintenance schedule: it must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a cron schedule such as ''17 3 * * *'' (every day at 03:17 GMT), or call audit_log.unschedule() to remove the job.';
	END IF;
	PERFORM audit_log._require_cron('audit_log.schedule()');

	EXECUTE 'SELECT j.jobid, j.schedule, j.command FROM cron.job j'
			' WHERE j.jobname = $1 AND j.username = CURRENT_USER'
		INTO old_jobid, old_schedule, old_command USING job_name;

	BEGIN
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO new_jobid USING job_name, cron_text, job_command;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
		IF err_message LIKE 'invalid schedule%' THEN
			RAISE EXCEPTION 'invalid maintenance schedule "%"', maintenance_cron
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('pg_cron refused it: %s.', err_message),
					  HINT = 'Use the five cron fields (minute hour day-of-month month day-of-week, in GMT), for example ''17 3 * * *'' for every day at 03:17.';
		END IF;
		RAISE;
	END;

	action := CASE
		WHEN old_jobid IS NULL THEN 'created'
		WHEN old_schedule = cron_text AND old_command = job_command THEN 'unchanged'
		ELSE 'changed' END;
	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS',
		object_name => job_name,
		entry_data => pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			'action', action,
			'job', job_name,
			'jobid', new_jobid,
			'schedule', cron_text,
			'previous_schedule', old_schedule,
			'command', job_command)));
END
$$;

COMMENT ON FUNCTION audit_log.schedule(text)
	IS 'create or update the pg_cron job audit_log_maintenance (maintain and apply_retention)';

/* audit_log.unschedule(): remove every audit_log_* pg_cron job of this database. */
CREATE FUNCTION audit_log.unschedule()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	removed jsonb := '[]';
BEGIN
	IF NOT audit_log._cron_available() THEN
		RAISE NOTICE 'audit_log: pg_cron is not installed in database "%": there is no job to remove',
			pg_catalog.current_database();
		RETURN;
	END IF;
	FOR r IN EXECUTE
		'SELECT j.jobid, j.jobname, j.schedule FROM cron.job j'
		' WHERE j.jobname LIKE $1 AND j.database = pg_catalog.current_database()'
		' ORDER BY j.jobid' USING 'audit\_log\_%'
	LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING r.jobid;
		removed := removed || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'job', r.jobname, 'jobid', r.jobid, 'schedule', r.schedule));
		PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS',
			object_name => r.jobname,
			entry_data => pg_catalog.jsonb_build_object('action', 'removed', 'job', r.jobname,
														 'jobid', r.jobid, 'schedule', r.schedule));
	END LOOP;
	IF removed = '[]' THEN
		RAISE NOTICE 'audit_log: no audit_log_* job was scheduled in database "%"', pg_catalog.current_database();
	END IF;
END
$$;

COMMENT ON FUNCTION audit_log.unschedule()
	IS 'remove the audit_log_* pg_cron jobs of this database';

/*
 * The retention columns of audit_log.status: the setting, whether the
 * maintenance job is scheduled (and active), when retention last ran, and
 * how many expired days audit_log.require_export_before_purge holds back.
 */
CREATE FUNCTION audit_log._retention_status()
RETURNS TABLE (retention_days integer, retention_scheduled boolean,
			   last_retention_run timestamptz, held_back_days integer)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	keep_days integer := audit_log._retention_days();
	scheduled boolean := false;
	last_run timestamptz;
	held integer := 0;
	first_kept date;
	expired date[];
	uncovered date[];
BEGIN
	IF audit_log._cron_available() THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = $1'
				' AND j.database = pg_catalog.current_database() AND j.active)'
			INTO scheduled USING 'audit_log_maintenance';
	END IF;
	SELECT s.last_run INTO last_run FROM audit_log._retention_state s;
	IF audit_log._require_export_before_purge() THEN
		first_kept := audit_log._retention_first_day_kept(keep_days);
		SELECT COALESCE(pg_catalog.array_agg(x.day), '{}') INTO expired
		FROM audit_log._expired_day_partitions(first_kept) x;
		expired := expired || audit_log._expired_default_days(first_kept);
		uncovered := audit_log._days_not_exported(expired);
		held := pg_catalog.cardinality(COALESCE(uncovered, expired));
	END IF;
	RETURN QUERY SELECT keep_days, scheduled, last_run, held;
END
$$;

REVOKE ALL ON TABLE audit_log._retention_state FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_days() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._require_export_before_purge() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_first_day_kept(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._expired_day_partitions(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._rollup_day_rows(date, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._expired_default_days(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._days_not_exported(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._cron_available() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._require_cron(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._trim_cron_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.apply_retention() FROM PUBLIC;
REVOKE ALL ON PROCEDURE audit_log._maintenance_job() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.unschedule() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_status() FROM PUBLIC;

GRANT SELECT ON TABLE audit_log._retention_state TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.apply_retention() TO audit_log_admin;
GRANT EXECUTE ON PROCEDURE audit_log._maintenance_job() TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule(text) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.unschedule() TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log._retention_status() TO audit_log_reader, audit_log_admin;

/*
 * With pg_cron installed in this database, the maintenance job is scheduled
 * at once (03:17 GMT every day).  A failure here must not stop CREATE
 * EXTENSION: it becomes a warning, and audit_log.status shows the job as
 * not scheduled.
 */
DO $schedule$
BEGIN
	IF audit_log._cron_available() THEN
		BEGIN
			PERFORM audit_log.schedule();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'audit_log: the maintenance job was not scheduled: %', SQLERRM
				USING HINT = 'Run SELECT audit_log.schedule(); once the cause is fixed.';
		END;
	END IF;
END
$schedule$;
