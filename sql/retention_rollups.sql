-- retention_rollups: apply_retention() reads the row count of a day from the
-- hourly rollups when they count that very partition exactly (rolled to the
-- end of the day, late-row trigger firing always, append-only trigger on),
-- and counts the rows otherwise; either way it returns the number of rows it
-- dropped
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_ROLLUP_RET', 'retention rollup test event');

-- three expired days, 120 to 122 days old: "rolled" and "trigger off" get
-- their partitions and rows now and are counted by maintain(); "not rolled"
-- gets its partition only after that
CREATE TEMP TABLE rr_day AS
SELECT label, (now() AT TIME ZONE 'UTC')::date - age AS day, n
FROM (VALUES ('rolled', 120, 5), ('trigger off', 121, 4), ('not rolled', 122, 3)) AS v(label, age, n);
SELECT label, audit_log._create_day_partition(day) AS created
FROM rr_day WHERE label <> 'not rolled' ORDER BY day;
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_ROLLUP_RET', object_name => label,
	request_time => day::timestamp AT TIME ZONE 'UTC' + g * interval '3 hours' + interval '7 minutes'))
	AS logged
FROM rr_day, generate_series(0, n - 1) AS g WHERE label <> 'not rolled';
SELECT audit_log.maintain();
-- ALTER TABLE on the partition of a test day: rr_trigger(label, trigger, 'ENABLE' or 'DISABLE')
CREATE FUNCTION pg_temp.rr_trigger(which text, trg text, action text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('ALTER TABLE audit_log.%I %s TRIGGER %I',
		(SELECT audit_log.partition_name(day) FROM rr_day WHERE label = which), action, trg);
END
$$;
SELECT label, rd.rolled_until = (day + 1)::timestamp AT TIME ZONE 'UTC' AS rolled_to_end_of_day
FROM rr_day JOIN audit_log.rollup_days rd USING (day) ORDER BY day;

-- late rows: two more in "rolled" (its trigger counts them), two more in
-- "trigger off" with its late-row trigger disabled (the rollups miss them)
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_ROLLUP_RET', object_name => 'rolled late',
	request_time => day::timestamp AT TIME ZONE 'UTC' + interval '23 hours 59 minutes'))
	AS logged_late
FROM rr_day, generate_series(1, 2) WHERE label = 'rolled';
SELECT pg_temp.rr_trigger('trigger off', 'events_rollup_late', 'DISABLE');
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_ROLLUP_RET', object_name => 'trigger off late',
	request_time => day::timestamp AT TIME ZONE 'UTC' + interval '12 hours'))
	AS logged_late
FROM rr_day, generate_series(1, 2) WHERE label = 'trigger off';
SELECT audit_log._create_day_partition(day) AS created FROM rr_day WHERE label = 'not rolled';
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_ROLLUP_RET', object_name => label,
	request_time => day::timestamp AT TIME ZONE 'UTC' + g * interval '5 hours'))
	AS logged
FROM rr_day, generate_series(0, n - 1) AS g WHERE label = 'not rolled';

-- what the rollups know: "rolled" exactly (late rows included); nothing for
-- the other two, which retention therefore counts
SELECT label,
	(SELECT count(*) FROM audit_log.events e
	 WHERE e.request_time >= day::timestamp AT TIME ZONE 'UTC'
	   AND e.request_time < (day + 1)::timestamp AT TIME ZONE 'UTC') AS rows_in_day,
	audit_log._rollup_day_rows(day, format('audit_log.%I', audit_log.partition_name(day))::regclass) AS from_rollups
FROM rr_day ORDER BY day DESC;
-- a partition other than the one counted (a day dropped and made again) is not known
SELECT audit_log._rollup_day_rows(day, 'audit_log.events_default'::regclass) AS other_partition
FROM rr_day WHERE label = 'rolled';
-- nor is a day whose append-only trigger is off (rows may have been deleted)
SELECT pg_temp.rr_trigger('rolled', 'events_append_only', 'DISABLE');
SELECT audit_log._rollup_day_rows(day, format('audit_log.%I', audit_log.partition_name(day))::regclass) AS append_only_off
FROM rr_day WHERE label = 'rolled';
SELECT pg_temp.rr_trigger('rolled', 'events_append_only', 'ENABLE');

-- apply_retention drops the three days and returns their exact row counts
BEGIN;
CREATE TEMP TABLE rr_before AS
SELECT day, (SELECT count(*) FROM audit_log.events e
	WHERE e.request_time >= day::timestamp AT TIME ZONE 'UTC'
	  AND e.request_time < (day + 1)::timestamp AT TIME ZONE 'UTC') AS n
FROM rr_day;
CREATE TEMP TABLE rr_dropped AS SELECT * FROM audit_log.apply_retention();
COMMIT;
SELECT c.label, b.n AS rows_before, d.rows AS rows_returned,
	to_regclass(format('audit_log.%I', audit_log.partition_name(c.day))) IS NULL AS partition_gone
FROM rr_day c JOIN rr_before b USING (day) LEFT JOIN rr_dropped d USING (day) ORDER BY c.day DESC;
SELECT count(*) AS rows_left FROM audit_log.events WHERE event_type = 'REGRESS_ROLLUP_RET';
-- the RETENTION event says the same
SELECT x.rows AS rows_recorded, c.label
FROM audit_log.events e,
	jsonb_to_recordset(e.entry_data->'dropped') AS x(day date, rows bigint)
	JOIN rr_day c USING (day)
WHERE e.event_type = 'RETENTION'
  AND e.logged_time = (SELECT max(logged_time) FROM audit_log.events WHERE event_type = 'RETENTION')
ORDER BY c.day DESC;
-- the rollups of the dropped days went with them
SELECT count(*) AS rollup_days_left FROM audit_log.rollup_days rd JOIN rr_day USING (day);
SELECT count(*) AS hourly_counts_left FROM audit_log.hourly_counts h JOIN rr_day c
	ON h.hour >= c.day::timestamp AT TIME ZONE 'UTC' AND h.hour < (c.day + 1)::timestamp AT TIME ZONE 'UTC';
