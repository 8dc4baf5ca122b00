-- seal_retention: verify() calls a sealed day that retention dropped
-- "expired", and a sealed day whose rows went some other way "rows
-- removed", also when require_export_before_purge kept an older day and
-- retention dropped a newer one first
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
-- a known state: no seal at all (a later day sealed by another file would
-- keep these days out of the chain)
SET session_replication_role = replica;
DELETE FROM audit_log.seals;
RESET session_replication_role;
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_SEAL_RET', 'seal retention test event');

-- three expired days, 203 to 201 days old, two events each, sealed
CREATE TEMP TABLE sr_day AS
SELECT label, (now() AT TIME ZONE 'UTC')::date - age AS day
FROM (VALUES ('held back', 203), ('exported', 202), ('dropped by hand', 201)) AS v(label, age);
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_SEAL_RET', object_name => label,
	request_time => day::timestamp AT TIME ZONE 'UTC' + interval '1 hour' * i)) AS logged
FROM sr_day, generate_series(1, 2) AS i;
SELECT audit_log.maintain();
SELECT label, audit_log.seal(day) ~ '^[0-9a-f]{64}$' AS sealed FROM sr_day ORDER BY day;

-- require_export_before_purge on, and a successful export of "exported" only
ALTER SYSTEM SET audit_log.require_export_before_purge = on;
SELECT pg_reload_conf();
\set setting audit_log.require_export_before_purge
\set value on
\i test/wait_for_setting.psql
SHOW audit_log.require_export_before_purge;
INSERT INTO audit_log.export_runs (started_at, finished_at, source, from_time, to_time, file, rows, bytes, sha256, status, error, job_name)
SELECT now(), now(), 'events', day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC',
	'regress.csv', 2, 1, repeat('0', 64), 'SUCCESS', NULL, NULL
FROM sr_day WHERE label = 'exported';
SET client_min_messages = warning;
-- retention drops "exported", keeps the older "held back" (and "dropped by hand")
SELECT c.label, d.rows FROM audit_log.apply_retention() d JOIN sr_day c USING (day);
RESET client_min_messages;
-- "dropped by hand": its partition dropped without retention
CREATE FUNCTION pg_temp.sr_drop(which text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('DROP TABLE audit_log.%I',
		(SELECT audit_log.partition_name(day) FROM sr_day WHERE label = which));
END
$$;
SELECT pg_temp.sr_drop('dropped by hand');

-- "exported" is expired (the RETENTION event that dropped it says so, with
-- its sealed rows); the day dropped by hand is an alarm
SELECT c.label, v.ok, v.rows, regexp_replace(v.detail, 'events_p[0-9]{8}', 'events_pYYYYMMDD') AS detail
FROM sr_day c JOIN audit_log.verify((SELECT min(day) FROM sr_day), (SELECT max(day) FROM sr_day)) v USING (day)
ORDER BY c.day;

-- a RETENTION event naming the day with another row count is no excuse
SET session_replication_role = replica;
UPDATE audit_log.seals SET rows = 3 WHERE day = (SELECT day FROM sr_day WHERE label = 'exported');
RESET session_replication_role;
SELECT c.label, v.ok FROM sr_day c JOIN audit_log.verify((SELECT day FROM sr_day WHERE label = 'exported'),
	(SELECT day FROM sr_day WHERE label = 'exported')) v USING (day);

ALTER SYSTEM RESET audit_log.require_export_before_purge;
SELECT pg_reload_conf();
\set setting audit_log.require_export_before_purge
\set value off
\i test/wait_for_setting.psql
SHOW audit_log.require_export_before_purge;

-- remove what this file made: its seals, the day left, its event type
SET session_replication_role = replica;
DELETE FROM audit_log.seals WHERE day IN (SELECT day FROM sr_day);
RESET session_replication_role;
SELECT label, pg_temp.sr_drop(label) FROM sr_day
WHERE to_regclass('audit_log.' || audit_log.partition_name(day)) IS NOT NULL;
SELECT count(*) AS regress_seal_ret_events_left FROM audit_log.events WHERE event_type = 'REGRESS_SEAL_RET';
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_SEAL_RET';
