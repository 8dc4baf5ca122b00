-- retention: apply_retention() drops whole expired UTC days, retention_days
-- at run time, require_export_before_purge, schedule()/unschedule() with
-- pg_cron, the cron history trim, privileges
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_RETENTION', 'retention test event');
SELECT clock_timestamp() AS t0 \gset

-- the defaults
SHOW audit_log.retention_days;
SHOW audit_log.require_export_before_purge;

-- backdated events around the 90-day limit, logged in the same transaction
-- as the retention run so that both see the same now(); first_kept is the
-- first UTC day kept (the date of now() - 90 days)
BEGIN;
CREATE TEMP TABLE ret_case AS
SELECT label, ts, (now() AT TIME ZONE 'UTC' - interval '90 days')::date AS first_kept
FROM (VALUES
	('100 days old', now() - interval '100 days'),
	('91 days old', now() - interval '91 days'),
	('midnight starting the last expired day', date_trunc('day', now() - interval '90 days') - interval '1 day'),
	('last microsecond of the last expired day', date_trunc('day', now() - interval '90 days') - interval '1 microsecond'),
	('midnight starting the first kept day', date_trunc('day', now() - interval '90 days')),
	('90 days old', now() - interval '90 days'),
	('89 days old', now() - interval '89 days')) AS v(label, ts);
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_RETENTION', object_name => label, request_time => ts)) AS logged
FROM ret_case;
-- no partition exists for these days yet: the rows wait in the default partition
SELECT count(*) AS waiting_in_default FROM audit_log.events_default WHERE event_type = 'REGRESS_RETENTION';
-- a table attached by hand under a day partition's name but spanning two days
-- is not a day partition: retention leaves it alone
CREATE TABLE audit_log.events_p20200101 (LIKE audit_log.events INCLUDING CONSTRAINTS);
ALTER TABLE audit_log.events ATTACH PARTITION audit_log.events_p20200101
	FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-03 00:00+00');
-- rows of every day before the run (other tests' rows too), RETENTION events
-- aside; and every row of the kept days as it was, to find it unchanged
-- after the run (rows keep arriving meanwhile: the previous test's LOGOUT,
-- an alert the collector raises, so counts of kept days may only grow)
CREATE TEMP TABLE ret_before AS
SELECT (request_time AT TIME ZONE 'UTC')::date AS day, count(*) AS n
FROM audit_log.events WHERE event_type <> 'RETENTION' GROUP BY 1;
CREATE TEMP TABLE ret_kept_rows AS
SELECT e.event_id, e.request_time, (e.*)::text AS row_text FROM audit_log.events e
WHERE e.request_time >= (SELECT min(first_kept) FROM ret_case)::timestamp AT TIME ZONE 'UTC'
  AND e.event_type <> 'RETENTION';
CREATE TEMP TABLE ret_dropped AS SELECT * FROM audit_log.apply_retention();
COMMIT;

-- exactly the events of the expired days are gone
SELECT c.label, EXISTS (SELECT 1 FROM audit_log.events e
	WHERE e.event_type = 'REGRESS_RETENTION' AND e.object_name = c.label) AS kept
FROM ret_case c ORDER BY c.ts;
-- what it returned: only days before first_kept, each with the rows it had
SELECT count(*) > 0 AS dropped_some,
	bool_and(d.day < (SELECT min(first_kept) FROM ret_case)) AS all_expired,
	bool_and(d.rows = b.n) AS counts_match
FROM ret_dropped d LEFT JOIN ret_before b USING (day);
-- every expired day with rows was dropped, nothing older than first_kept is left
SELECT count(*) AS expired_days_not_dropped FROM ret_before b
WHERE b.day < (SELECT min(first_kept) FROM ret_case)
  AND NOT EXISTS (SELECT 1 FROM ret_dropped d WHERE d.day = b.day);
SELECT count(*) AS rows_left_before_first_kept FROM audit_log.events
WHERE request_time < (SELECT min(first_kept) FROM ret_case)::timestamp AT TIME ZONE 'UTC';
-- no row of a kept day was touched: each is still there, the same
SELECT count(*) > 0 AS some_kept_rows,
	count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM audit_log.events e
		WHERE e.event_id = k.event_id AND e.request_time = k.request_time
		  AND (e.*)::text = k.row_text)) AS kept_rows_changed
FROM ret_kept_rows k;
-- the kept days' rows moved out of the default partition into their days
SELECT count(*) AS left_in_default FROM audit_log.events_default WHERE event_type = 'REGRESS_RETENTION';
-- the two-day table is still there
SELECT to_regclass('audit_log.events_p20200101') IS NOT NULL AS two_day_table_kept;
DROP TABLE audit_log.events_p20200101;
-- the expired days' partitions are gone, the kept ones are there
SELECT to_regclass('audit_log.' || audit_log.partition_name(first_kept - 1)) IS NULL AS last_expired_dropped,
	to_regclass('audit_log.' || audit_log.partition_name(first_kept)) IS NOT NULL AS first_kept_exists
FROM ret_case LIMIT 1;
-- one RETENTION event says what was dropped
SELECT event_category, event_status, object_name, user_name = current_user AS by_me,
	(entry_data->>'dropped_days')::int = (SELECT count(*) FROM ret_dropped) AS days_match,
	(entry_data->>'dropped_rows')::bigint = (SELECT sum(rows) FROM ret_dropped) AS rows_match,
	(entry_data->>'first_day_kept')::date = (SELECT min(first_kept) FROM ret_case) AS first_kept_match,
	entry_data->'retention_days' AS retention_days, entry_data->'busy_days' AS busy,
	entry_data->'held_back_days' AS held
FROM audit_log.events WHERE event_type = 'RETENTION' AND logged_time > :'t0';
-- a second run drops nothing and still records it
SELECT count(*) AS dropped_again FROM audit_log.apply_retention();
SELECT event_status, entry_data->'dropped' AS dropped, entry_data->'dropped_days' AS dropped_days
FROM audit_log.events WHERE event_type = 'RETENTION' AND logged_time > :'t0'
ORDER BY logged_time DESC LIMIT 1;
SELECT retention_days, last_retention_run >= :'t0' AS ran_now, held_back_days
FROM audit_log._retention_status();

-- retention_days is a sighup setting: SET is refused, bad values are refused
-- error: cannot be changed now
SET audit_log.retention_days = 30;
-- error: out of range
ALTER SYSTEM SET audit_log.retention_days = 0;
-- error: out of range
ALTER SYSTEM SET audit_log.retention_days = 36501;
-- changed at run time, it applies to the next run
ALTER SYSTEM SET audit_log.retention_days = 30;
SELECT pg_reload_conf();
-- wait until this session has read the new configuration
\set setting audit_log.retention_days
\set value 30
\i test/wait_for_setting.psql
SHOW audit_log.retention_days;
BEGIN;
CREATE TEMP TABLE ret_case30 AS
SELECT label, ts FROM (VALUES
	('40 days old', now() - interval '40 days'),
	('31 days old', now() - interval '31 days'),
	('30 days old', now() - interval '30 days'),
	('29 days old', now() - interval '29 days')) AS v(label, ts);
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_RETENTION', object_name => label, request_time => ts)) AS logged
FROM ret_case30;
SELECT count(*) >= 2 AS dropped_some FROM audit_log.apply_retention();
COMMIT;
SELECT c.label, EXISTS (SELECT 1 FROM audit_log.events e
	WHERE e.event_type = 'REGRESS_RETENTION' AND e.object_name = c.label) AS kept
FROM ret_case30 c ORDER BY c.ts;
-- the 89-day-old event of the first run went with the new limit
SELECT count(*) AS left_from_first_run FROM audit_log.events
WHERE event_type = 'REGRESS_RETENTION' AND object_name IN (SELECT label FROM ret_case);
SELECT entry_data->'retention_days' AS retention_days, entry_data->'previous_retention_days' AS previous
FROM audit_log.events
WHERE event_type = 'RETENTION' AND logged_time > :'t0' ORDER BY logged_time DESC LIMIT 1;

-- require_export_before_purge: days 35 to 38 days old are expired (30 days kept)
ALTER SYSTEM SET audit_log.require_export_before_purge = on;
SELECT pg_reload_conf();
-- wait until this session has read the new configuration
\set setting audit_log.require_export_before_purge
\set value on
\i test/wait_for_setting.psql
SHOW audit_log.require_export_before_purge;
CREATE TEMP TABLE ret_exp AS
SELECT n, (now() AT TIME ZONE 'UTC')::date - n AS day FROM generate_series(35, 38) AS n;
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_RETENTION', object_name => 'export ' || n,
	request_time => (day + time '12:00') AT TIME ZONE 'UTC')) AS logged
FROM ret_exp;
SELECT audit_log.maintain();
-- without audit_log.export_runs every day is kept, and it says why
BEGIN;
DO $$
BEGIN
	IF to_regclass('audit_log.export_runs') IS NOT NULL THEN
		ALTER TABLE audit_log.export_runs RENAME TO regress_hidden_export_runs;
	END IF;
END
$$;
SELECT count(*) AS dropped FROM audit_log.apply_retention();
SELECT event_status, jsonb_array_length(entry_data->'held_back_days') AS held,
	entry_data->>'held_back_reason' AS reason
FROM audit_log.events WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1;
SELECT held_back_days FROM audit_log._retention_status();
ROLLBACK;
-- with export runs: a day goes only when successful exports of events covered all of it
BEGIN;
DO $$
BEGIN
	IF to_regclass('audit_log.export_runs') IS NULL THEN
		CREATE TABLE audit_log.export_runs (run_id bigint GENERATED BY DEFAULT AS IDENTITY,
			started_at timestamptz, finished_at timestamptz, source text,
			from_time timestamptz, to_time timestamptz, file text, rows bigint,
			bytes bigint, sha256 text, status audit_log.event_status, error text, job_name text);
	END IF;
END
$$;
INSERT INTO audit_log.export_runs (started_at, finished_at, source, from_time, to_time, file, rows, bytes, sha256, status, error, job_name)
SELECT now(), now(), src, lo, hi, 'regress.csv', 1, 1, repeat('0', 64), st::audit_log.event_status, NULL, NULL
FROM (SELECT n, day::timestamp AT TIME ZONE 'UTC' AS d0 FROM ret_exp) e,
	LATERAL (VALUES
		-- 35 days old: one successful export of the whole day and more
		(35, 'events', d0 - interval '1 hour', d0 + interval '25 hours', 'SUCCESS'),
		-- 36 days old: two successful exports, each of half the day
		(36, 'events', d0, d0 + interval '12 hours', 'SUCCESS'),
		(36, 'events', d0 + interval '12 hours', d0 + interval '1 day', 'SUCCESS'),
		-- 37 days old: the export failed
		(37, 'events', d0, d0 + interval '1 day', 'FAILURE'),
		-- 38 days old: only the daily counts were exported, and a successful
		-- export of events stopped one microsecond short of the day's end
		(38, 'daily_login_activity', d0, d0 + interval '1 day', 'SUCCESS'),
		(38, 'events', d0, d0 + interval '1 day' - interval '1 microsecond', 'SUCCESS')
	) AS x(n, src, lo, hi, st)
WHERE x.n = e.n;
-- derived data goes with its days: _on_days_dropped() hears of them
CREATE TEMP TABLE ret_hook (days date[]);
CREATE OR REPLACE FUNCTION audit_log._on_days_dropped(days date[]) RETURNS void
LANGUAGE sql AS $$ INSERT INTO ret_hook VALUES (days) $$;
SELECT (now() AT TIME ZONE 'UTC')::date - day AS days_old, rows FROM audit_log.apply_retention() ORDER BY 1;
SELECT (SELECT array_agg((now() AT TIME ZONE 'UTC')::date - d ORDER BY d DESC) FROM unnest(days) AS d) AS hook_heard
FROM ret_hook;
SELECT event_status, entry_data->>'held_back_reason' AS reason,
	(SELECT array_agg((now() AT TIME ZONE 'UTC')::date - d::date ORDER BY d::date DESC)
	 FROM jsonb_array_elements_text(entry_data->'held_back_days') AS d) AS held_days_old
FROM audit_log.events WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1;
SELECT held_back_days FROM audit_log._retention_status();
ROLLBACK;
-- with the setting off, nothing holds them back
ALTER SYSTEM RESET audit_log.require_export_before_purge;
ALTER SYSTEM RESET audit_log.retention_days;
SELECT pg_reload_conf();
-- wait until this session has read the new configuration
\set setting audit_log.require_export_before_purge
\set value off
\i test/wait_for_setting.psql
\set setting audit_log.retention_days
\set value 90
\i test/wait_for_setting.psql
SHOW audit_log.retention_days;
SHOW audit_log.require_export_before_purge;
SELECT held_back_days FROM audit_log._retention_status();

-- privileges: only audit_log_admin (and superusers) run retention and schedules
CREATE ROLE regress_ret_admin;
GRANT audit_log_admin TO regress_ret_admin;
CREATE ROLE regress_ret_reader;
GRANT audit_log_reader TO regress_ret_reader;
CREATE ROLE regress_ret_writer;
GRANT audit_log_writer TO regress_ret_writer;
SET ROLE regress_ret_reader;
-- error: permission denied
SELECT * FROM audit_log.apply_retention();
-- error: permission denied
SELECT audit_log.schedule();
-- error: permission denied
SELECT audit_log.unschedule();
-- the status columns are readable
SELECT retention_days FROM audit_log._retention_status();
RESET ROLE;
SET ROLE regress_ret_writer;
-- error: permission denied
SELECT * FROM audit_log.apply_retention();
-- error: permission denied
SELECT * FROM audit_log._retention_status();
RESET ROLE;
SET ROLE regress_ret_admin;
SELECT count(*) AS dropped FROM audit_log.apply_retention();
RESET ROLE;
SELECT user_name, event_status FROM audit_log.events
WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1;
-- the job's body: maintain(), then apply_retention(), committed one by one
SELECT count(*) AS runs_before FROM audit_log.events WHERE event_type = 'RETENTION' \gset
CALL audit_log._maintenance_job();
SELECT count(*) - :runs_before AS new_runs FROM audit_log.events WHERE event_type = 'RETENTION';
-- error: it commits, so not inside a transaction block
BEGIN;
CALL audit_log._maintenance_job();
ROLLBACK;
SET ROLE regress_ret_reader;
-- error: permission denied
CALL audit_log._maintenance_job();
RESET ROLE;
-- every function of this feature that runs with the owner's rights pins search_path
SELECT p.proname, p.prosecdef, p.proconfig
FROM pg_proc p WHERE p.pronamespace = 'audit_log'::regnamespace
  AND p.proname IN ('apply_retention', 'schedule', 'unschedule', '_retention_status', '_trim_cron_history')
ORDER BY p.proname COLLATE "C";

-- schedule() and unschedule() with pg_cron (cron.database_name is this database)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT audit_log.unschedule();
RESET client_min_messages;
SELECT retention_scheduled FROM audit_log._retention_status();
-- the default: every day at 03:17 (rolled back: it must not fire during the tests)
BEGIN;
SELECT audit_log.schedule();
SELECT jobname, schedule, command, database = current_database() AS here, active
FROM cron.job WHERE jobname LIKE 'audit\_log\_%';
ROLLBACK;
-- February 31 never comes: the job exists but never runs here
SELECT audit_log.schedule('0 0 31 2 *');
SELECT audit_log.schedule('0 0 31 2 *');
SELECT audit_log.schedule(' 0 0 31 2 * ');
SELECT count(*) AS jobs, min(schedule) AS schedule FROM cron.job WHERE jobname = 'audit_log_maintenance';
SELECT retention_scheduled FROM audit_log._retention_status();
-- error: invalid schedule
SELECT audit_log.schedule('61 * * * *');
-- error: invalid schedule
SELECT audit_log.schedule('every day');
-- error: empty
SELECT audit_log.schedule('');
-- error: null
SELECT audit_log.schedule(NULL);
SELECT count(*) AS jobs, min(schedule) AS schedule FROM cron.job WHERE jobname = 'audit_log_maintenance';

-- the cron history: 30 days of our own jobs' runs are kept, other jobs' rows are left alone
SELECT cron.schedule('regress_other_job', '0 0 31 2 *', 'SELECT 1') > 0 AS other_scheduled;
INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
SELECT j.jobid, 1, current_database(), current_user, j.command, 'succeeded', 'regress ' || j.jobname || ' ' || a.age,
	now() - a.age::interval, now() - a.age::interval + interval '1 second'
FROM cron.job j, (VALUES ('40 days'), ('10 days')) AS a(age)
WHERE j.jobname IN ('audit_log_maintenance', 'regress_other_job');
SELECT count(*) AS dropped FROM audit_log.apply_retention();
SELECT return_message FROM cron.job_run_details WHERE return_message LIKE 'regress %'
ORDER BY return_message COLLATE "C";
SELECT entry_data->'cron_history_deleted' AS history_deleted FROM audit_log.events
WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1;

-- unschedule() removes every audit_log_* job of this database, and only those
SELECT cron.schedule('audit_log_regress_extra', '0 0 31 2 *', 'SELECT 1') > 0 AS extra_scheduled;
SELECT audit_log.unschedule();
SELECT jobname FROM cron.job ORDER BY jobname COLLATE "C";
SELECT retention_scheduled FROM audit_log._retention_status();
-- nothing left to remove
SELECT audit_log.unschedule();
SELECT cron.unschedule('regress_other_job');
DELETE FROM cron.job_run_details WHERE return_message LIKE 'regress %';

-- every schedule change is an AUDIT_LOG event
SELECT object_name, entry_data->>'action' AS action, entry_data->>'schedule' AS schedule,
	entry_data->>'previous_schedule' AS previous
FROM audit_log.events WHERE event_type = 'SCHEDULE_CHANGE' AND logged_time > :'t0'
ORDER BY logged_time, object_name COLLATE "C";

-- DROP EXTENSION removes the audit_log_* pg_cron jobs of this database, and
-- only those, in its own transaction (rolled back here: so are they)
SELECT audit_log.schedule('5 4 * * *');
SELECT cron.schedule('regress_other_job', '0 0 31 2 *', 'SELECT 1') > 0 AS other_scheduled;
BEGIN;
SET LOCAL client_min_messages = warning;
DROP EXTENSION audit_log CASCADE;
SELECT jobname FROM cron.job ORDER BY jobname COLLATE "C";
ROLLBACK;
SELECT jobname, schedule FROM cron.job ORDER BY jobname COLLATE "C";
SELECT cron.unschedule('regress_other_job');
SELECT audit_log.unschedule();

DROP ROLE regress_ret_admin, regress_ret_reader, regress_ret_writer;
