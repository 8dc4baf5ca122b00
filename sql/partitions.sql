-- partitions: daily UTC partitions, the default partition, maintain(), append-only
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_PART', 'partition test event');

-- maintain() makes the partitions of today and the next 7 days
SELECT audit_log.maintain();
SELECT count(*) AS future_partitions
FROM generate_series((now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date + 7, '1 day') d
WHERE to_regclass('audit_log.' || audit_log.partition_name(d::date)) IS NOT NULL;

-- an event two years back (a superuser's backfill) still lands (default partition)
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_PART', request_time => now() - interval '2 years') IS NOT NULL AS old_logged;
-- error: a year ahead is beyond audit_log.max_future (1.1; sql/log_event_bounds.sql)
DO $$
BEGIN
	PERFORM audit_log.log_event('AUDIT_LOG', 'REGRESS_PART', request_time => now() + interval '1 year');
EXCEPTION WHEN datetime_field_overflow THEN
	RAISE NOTICE 'refused with SQLSTATE %', SQLSTATE;
END
$$;
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_PART', request_time => '2024-02-29 23:59:59.999999+00') IS NOT NULL AS edge_logged;
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_PART', request_time => '2024-03-01 00:00:00+00') IS NOT NULL AS edge_logged;
SELECT tableoid::regclass AS part, count(*) FROM audit_log.events
WHERE event_type = 'REGRESS_PART' GROUP BY tableoid ORDER BY tableoid::regclass::text COLLATE "C";

-- maintain() moves them into partitions of their own UTC day
SELECT audit_log.maintain();
SELECT count(*) AS left_in_default FROM audit_log.events_default;
SELECT tableoid::regclass = ('audit_log.' || audit_log.partition_name((request_time AT TIME ZONE 'UTC')::date))::regclass AS in_its_day
, count(*) FROM audit_log.events WHERE event_type = 'REGRESS_PART' GROUP BY 1;
SELECT tableoid::regclass AS part FROM audit_log.events
WHERE event_type = 'REGRESS_PART' AND request_time BETWEEN '2024-02-29' AND '2024-03-02' ORDER BY tableoid::regclass::text COLLATE "C";
-- partition bounds are UTC midnights
SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'audit_log.events_p20240229'::regclass;
-- maintain() is idempotent
SELECT audit_log.maintain();
SELECT count(*) AS events_after_second_run FROM audit_log.events WHERE event_type = 'REGRESS_PART';

-- append-only, for the owner too, on the table and on each partition
-- error: update
UPDATE audit_log.events SET user_name = 'x' WHERE event_type = 'REGRESS_PART';
-- error: delete
DELETE FROM audit_log.events WHERE event_type = 'REGRESS_PART';
-- error: delete with no rows matching
DELETE FROM audit_log.events WHERE false;
-- error: truncate
TRUNCATE audit_log.events;
-- error: on a partition directly
DELETE FROM audit_log.events_p20240229;
-- error: truncate a partition
TRUNCATE audit_log.events_p20240301;
-- error: update the default partition
UPDATE audit_log.events_default SET user_name = 'x';
-- error: the internal mover is not for users
SET ROLE audit_log_admin;
SELECT audit_log._move_default_rows('audit_log.events_p20240229', '-infinity', 'infinity');
RESET ROLE;
SELECT count(*) AS still_there FROM audit_log.events WHERE event_type = 'REGRESS_PART';

-- only the default partition belongs to the extension: pg_dump keeps the daily ones
SELECT count(*) AS member_partitions FROM pg_depend d JOIN pg_inherits i ON i.inhrelid = d.objid
WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND i.inhparent = 'audit_log.events'::regclass;

-- remove the days this file made (only its own events are in them), and its
-- event type
DO $$
DECLARE
	parts regclass[] := ARRAY(SELECT DISTINCT tableoid::regclass FROM audit_log.events
		WHERE event_type = 'REGRESS_PART' AND tableoid <> 'audit_log.events_default'::regclass);
	part regclass;
BEGIN
	FOREACH part IN ARRAY parts LOOP
		EXECUTE format('DROP TABLE %s', part);
	END LOOP;
END
$$;
SELECT count(*) AS regress_part_events_left FROM audit_log.events WHERE event_type = 'REGRESS_PART';
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_PART';
