-- log_event_bounds: request_time between now - retention_days and now + max_future; maintain() survives any row (issue 15, case 2)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

CREATE ROLE regress_bounds_app LOGIN;
GRANT audit_log_writer TO regress_bounds_app;
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_BOUNDS', 'bounds test');

SELECT name, setting, unit, context, min_val, max_val FROM pg_settings WHERE name = 'audit_log.max_future';
-- error: beyond its bounds (0 to 1 day), refused when set (nothing is written)
ALTER SYSTEM SET audit_log.max_future = '2 days';
-- error: a sighup setting, not for a session
SET audit_log.max_future = '1h';

-- each refused time: SQLSTATE 22008, the detail names both bounds, nothing is written
CREATE FUNCTION pg_temp.try_time(t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
BEGIN
	PERFORM audit_log.log_event('EXPORTS', 'REGRESS_BOUNDS', object_name => 'regress_bounds_try',
								request_time => t);
	RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ' ' || (msg ~ '^request_time .* is out of range$')::text
		|| ' ' || (det ~ '^log_event accepts a request_time from .+ to .+\.$')::text;
END
$$;
GRANT EXECUTE ON FUNCTION pg_temp.try_time(timestamptz) TO regress_bounds_app;

-- (rolled back at the end: the rows would stay in this database's partitions)
BEGIN;
SET LOCAL ROLE regress_bounds_app;
SELECT label, pg_temp.try_time(t) AS outcome FROM (VALUES
	('far future (finite)', '294276-12-31 23:59:59+00'::timestamptz),
	('4713 BC', '4713-01-01 00:00:00+00 BC'),
	('year 1', '0001-01-01 00:00:00+00'),
	('before 1970', '1969-12-31 23:59:59+00'),
	('beyond retention', now() - interval '91 days'),
	('beyond max_future', now() + interval '6 minutes'),
	('within retention', now() - interval '89 days'),
	('within max_future', now() + interval '4 minutes'),
	('now', now())) AS v(label, t);
RESET ROLE;
SELECT count(*) AS accepted_rows FROM audit_log.events WHERE object_name = 'regress_bounds_try';
ROLLBACK;

-- a superuser may backfill beyond retention, but not before 1970 nor into the far future
-- (rolled back: the rows would stay in this database's partitions)
BEGIN;
SELECT label, pg_temp.try_time(t) AS outcome FROM (VALUES
	('two years back', now() - interval '2 years'),
	('1970', '1970-01-01 00:00:01+00'::timestamptz),
	('a day back', now() - interval '1 day'),
	('now', now()),
	('before 1970', '1969-12-31 23:59:59+00'),
	('far future', '294276-12-31 23:59:59+00')) AS v(label, t);
-- ids stay time-ordered for every accepted time, 1970 included
SELECT array_agg(event_id ORDER BY event_id) = array_agg(event_id ORDER BY request_time) AS ids_follow_time,
	count(*) AS rows
FROM audit_log.events WHERE object_name = 'regress_bounds_try';
-- nothing refused was written
SELECT count(*) AS far_rows FROM audit_log.events
WHERE object_name = 'regress_bounds_try' AND (request_time < '1970-01-01 00:00+00' OR request_time > now() + interval '1 day');
ROLLBACK;

-- a superuser puts rows no partition can hold into the default partition directly
INSERT INTO audit_log.events_default (event_id, request_time, logged_time, event_category, event_type,
	event_status, object_name, origin)
VALUES (gen_random_uuid(), '294276-12-31 23:59:59+00', now(), 'EXPORTS', 'REGRESS_BOUNDS', 'SUCCESS', 'regress_bounds_extreme', 'SERVER'),
	(gen_random_uuid(), '4713-01-01 00:00:00+00 BC', now(), 'EXPORTS', 'REGRESS_BOUNDS', 'SUCCESS', 'regress_bounds_extreme', 'SERVER'),
	(gen_random_uuid(), '1969-07-20 20:17:00+00', now(), 'EXPORTS', 'REGRESS_BOUNDS', 'SUCCESS', 'regress_bounds_extreme', 'SERVER');
-- maintain() still works, fast, warns once and skips them
SELECT clock_timestamp() AS t0 \gset
SELECT audit_log.maintain();
SELECT clock_timestamp() - :'t0'::timestamptz < interval '30 seconds' AS fast;
SELECT unplaced_rows FROM audit_log.status;
SELECT tableoid::regclass AS part, count(*) FROM audit_log.events
WHERE object_name = 'regress_bounds_extreme' GROUP BY 1;
-- and again
SELECT audit_log.maintain();
-- log_event goes on
SELECT audit_log.log_event('EXPORTS', 'REGRESS_BOUNDS', object_name => 'regress_bounds_after') IS NOT NULL AS logged;

-- clean up: the rows the superuser wrote (the append-only guard is a trigger)
SET session_replication_role = replica;
DELETE FROM audit_log.events_default WHERE object_name = 'regress_bounds_extreme';
RESET session_replication_role;
SELECT unplaced_rows FROM audit_log.status;
DROP FUNCTION pg_temp.try_time(timestamptz);
DROP ROLE regress_bounds_app;
