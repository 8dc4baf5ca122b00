-- day: audit_log.day(ts [, tz]), day_start(d, tz), days(from, to)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- day(ts) follows the session zone (STABLE)
SELECT audit_log.day('2026-03-08 03:30:00+00') AS utc_day;
SET TimeZone = 'America/New_York';
SELECT audit_log.day('2026-03-08 03:30:00+00') AS new_york_day;
SET TimeZone = 'Asia/Kolkata';
SELECT audit_log.day('2026-03-07 18:29:59.999999+00') AS before_midnight,
       audit_log.day('2026-03-07 18:30:00+00') AS at_midnight;
SET TimeZone = 'UTC';

-- instants exactly at local midnight and one microsecond before, in several zones
SELECT z,
       audit_log.day(audit_log.day_start('2026-06-15', z) - interval '1 microsecond', z) AS last_instant_before,
       audit_log.day(audit_log.day_start('2026-06-15', z), z) AS midnight,
       audit_log.day_start('2026-06-15', z) AS day_start
FROM unnest(ARRAY['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham']) z
ORDER BY z COLLATE "C";

-- day lengths across DST: New York 2026-03-08 has 23 hours, 2026-11-01 has 25
SELECT d, audit_log.day_start(d + 1, 'America/New_York') - audit_log.day_start(d, 'America/New_York') AS length
FROM unnest(ARRAY['2026-03-07', '2026-03-08', '2026-03-09', '2026-10-31', '2026-11-01', '2026-11-02']::date[]) d
ORDER BY d;
-- Chatham (+12:45 / +13:45) changes on 2026-04-05 and 2026-09-27; Kolkata never
SELECT z, d, audit_log.day_start(d + 1, z) - audit_log.day_start(d, z) AS length, audit_log.day_start(d, z) AS starts
FROM (VALUES ('Pacific/Chatham', '2026-04-05'::date), ('Pacific/Chatham', '2026-09-27'),
             ('Asia/Kolkata', '2026-03-08'), ('UTC', '2026-03-08')) v(z, d)
ORDER BY z COLLATE "C", d;

-- the hours around the New York changes land on the right days
SELECT t, audit_log.day(t, 'America/New_York') AS ny_day
FROM generate_series('2026-03-08 04:00:00+00'::timestamptz, '2026-03-09 05:00:00+00', interval '1 hour') t
WHERE t IN ('2026-03-08 04:59:59+00', '2026-03-08 05:00:00+00', '2026-03-09 03:00:00+00', '2026-03-09 04:00:00+00')
   OR t = '2026-03-08 04:00:00+00'
ORDER BY t;
SELECT t, audit_log.day(t, 'America/New_York') AS ny_day
FROM unnest(ARRAY['2026-11-01 03:59:59.999999+00', '2026-11-01 04:00:00+00',
                  '2026-11-02 04:59:59.999999+00', '2026-11-02 05:00:00+00']::timestamptz[]) t
ORDER BY t;

-- a midnight that does not exist (Santiago skips 2026-09-06 00:00): the day
-- starts when the clocks jump; a midnight that happens twice (Havana,
-- 2026-11-01): the day starts at the first one
SELECT audit_log.day_start('2026-09-06', 'America/Santiago') AS santiago_start,
       audit_log.day(audit_log.day_start('2026-09-06', 'America/Santiago') - interval '1 microsecond', 'America/Santiago') AS santiago_before,
       audit_log.day_start('2026-11-01', 'America/Havana') AS havana_start,
       audit_log.day(audit_log.day_start('2026-11-01', 'America/Havana') - interval '1 microsecond', 'America/Havana') AS havana_before;

-- day(ts, tz) is (ts AT TIME ZONE tz)::date, for every instant tried
SELECT z, count(*) AS instants,
       count(*) FILTER (WHERE audit_log.day(t, z) IS DISTINCT FROM (t AT TIME ZONE z)::date) AS differ
FROM unnest(ARRAY['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Europe/Berlin',
                  'Australia/Lord_Howe', 'EST', 'cet', '+05:30']) z,
     generate_series('1900-01-01'::timestamptz, '2060-01-01', interval '37 hours 11 minutes 13.5 seconds') t
GROUP BY z ORDER BY z COLLATE "C";
-- and day_start(d) is the first instant of d, for every day from 1970 to 2040
SELECT z, count(*) AS days,
       count(*) FILTER (WHERE audit_log.day(audit_log.day_start(d, z), z) <> d
                           OR audit_log.day(audit_log.day_start(d, z) - interval '1 microsecond', z) >= d) AS wrong
FROM unnest(ARRAY['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'America/Santiago', 'America/Havana']) z,
     (SELECT g::date AS d FROM generate_series('1970-01-01'::timestamp, '2040-01-01', interval '1 day') g) dd
GROUP BY z ORDER BY z COLLATE "C";

-- infinity maps to infinity, as the casts do; NULL gives NULL
SELECT audit_log.day('infinity'::timestamptz) AS inf, audit_log.day('-infinity'::timestamptz, 'UTC') AS minus_inf,
       audit_log.day_start('infinity', 'Asia/Kolkata') AS start_inf, audit_log.day_start('-infinity', 'UTC') AS start_minus_inf,
       audit_log.day(NULL::timestamptz, 'UTC') IS NULL AS null_ts, audit_log.day(now(), NULL) IS NULL AS null_tz;

-- days(): every day, both ends included; none when from > to
SELECT d FROM audit_log.days('2024-02-27', '2024-03-01') d;
SELECT count(*) AS none FROM audit_log.days('2024-03-01', '2024-02-27');
SELECT count(*) AS one_year FROM audit_log.days('2026-01-01', '2026-12-31');
-- error: an endless range
SELECT count(*) FROM audit_log.days('2026-01-01', 'infinity');

-- error: a bad zone name, named in the message
SELECT audit_log.day(now(), 'Mars/Olympus_Mons');
-- error: also for day_start
SELECT audit_log.day_start('2026-01-01', 'Europe/Atlantis');
-- error: a bad zone is refused even for infinity
SELECT audit_log.day('infinity'::timestamptz, 'Nowhere/Land');

-- IMMUTABLE: an expression index on day(ts, tz) can be built and is used
CREATE TABLE regress_day_t (ts timestamptz NOT NULL);
INSERT INTO regress_day_t SELECT '2026-01-01 00:00:00+00'::timestamptz + i * interval '17 minutes' FROM generate_series(0, 20000) i;
CREATE INDEX regress_day_t_idx ON regress_day_t (audit_log.day(ts, 'America/New_York'));
ANALYZE regress_day_t;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM regress_day_t WHERE audit_log.day(ts, 'America/New_York') = '2026-03-08';
SELECT count(*) AS rows_on_dst_day FROM regress_day_t WHERE audit_log.day(ts, 'America/New_York') = '2026-03-08';
RESET enable_seqscan;
SELECT count(*) AS native FROM regress_day_t WHERE (ts AT TIME ZONE 'America/New_York')::date = '2026-03-08';
DROP TABLE regress_day_t;
-- error: the session-zone form is not immutable, so no index on it
CREATE TABLE regress_day_u (ts timestamptz);
CREATE INDEX ON regress_day_u (audit_log.day(ts));
DROP TABLE regress_day_u;

-- partition pruning: the range of one New York day touches only the UTC
-- partitions of that day (2026-03-08 05:00 to 2026-03-09 04:00 UTC)
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_DAY', 'day test event');
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_DAY', request_time => t))
FROM generate_series('2026-03-06 00:30:00+00'::timestamptz, '2026-03-11 23:30:00+00', interval '1 hour') t;
SELECT audit_log.maintain();
CREATE FUNCTION pg_temp.scanned(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF line ~ 'events_(p[0-9]{8}|default)' THEN
			RETURN NEXT substring(line FROM 'events_(?:p[0-9]{8}|default)');
		END IF;
	END LOOP;
END
$$;
SELECT DISTINCT s AS partitions_scanned FROM pg_temp.scanned(
  $$SELECT count(*) FROM audit_log.events
    WHERE request_time >= audit_log.day_start('2026-03-08', 'America/New_York')
      AND request_time < audit_log.day_start('2026-03-08'::date + 1, 'America/New_York')$$) s
ORDER BY 1;
SELECT DISTINCT s AS partitions_scanned FROM pg_temp.scanned(
  $$SELECT count(*) FROM audit_log.events
    WHERE request_time >= audit_log.day_start('2026-03-08', 'UTC')
      AND request_time < audit_log.day_start('2026-03-08'::date + 1, 'UTC')$$) s
ORDER BY 1;
-- and the rows found are the 23 hourly events of that 23-hour day
SELECT count(*) AS events_on_ny_day FROM audit_log.events
WHERE event_type = 'REGRESS_DAY'
  AND request_time >= audit_log.day_start('2026-03-08', 'America/New_York')
  AND request_time < audit_log.day_start('2026-03-08'::date + 1, 'America/New_York');

-- remove the days this file made, and with them its events
SELECT format('DROP TABLE audit_log.%I', audit_log.partition_name(g::date))
FROM generate_series('2026-03-06'::timestamp, '2026-03-11', interval '1 day') g
WHERE to_regclass('audit_log.' || audit_log.partition_name(g::date)) IS NOT NULL \gexec
SELECT count(*) AS regress_day_events_left FROM audit_log.events WHERE event_type = 'REGRESS_DAY';
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_DAY';

-- readers may use the helpers
CREATE ROLE regress_day_reader IN ROLE audit_log_reader;
SET ROLE regress_day_reader;
SELECT audit_log.day('2026-03-08 12:00:00+00', 'UTC') AS reader_day, count(*) AS reader_days FROM audit_log.days('2026-01-01', '2026-01-31');
RESET ROLE;
DROP ROLE regress_day_reader;
