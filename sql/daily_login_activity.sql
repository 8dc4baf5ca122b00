-- daily_login_activity: logins per day, hourly rollups, the 90-day view
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- The live computation a user would write by hand: LOGIN events of
-- ACCESS_SIGMA grouped by (request_time AT TIME ZONE tz)::date, zero-filled.
CREATE FUNCTION pg_temp.native(f date, t date, z text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('%s %s/%s', g.d::date, coalesce(n.s, 0), coalesce(n.f, 0)), ', ' ORDER BY g.d)
	FROM generate_series(f::timestamp, t::timestamp, interval '1 day') g(d)
	LEFT JOIN (SELECT (e.request_time AT TIME ZONE z)::date AS d,
					  count(*) FILTER (WHERE e.event_status = 'SUCCESS') AS s,
					  count(*) FILTER (WHERE e.event_status = 'FAILURE') AS f
			   FROM audit_log.events e
			   WHERE e.event_category = 'ACCESS_SIGMA' AND e.event_type = 'LOGIN'
			   GROUP BY 1) n ON n.d = g.d::date
$$;
CREATE FUNCTION pg_temp.ours(f date, t date, z text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT string_agg(format('%s %s/%s', a.day, a.success, a.failure), ', ' ORDER BY a.day)
	FROM audit_log.daily_login_activity(f, t, z) a
$$;
-- both in one statement (one snapshot), for many zones and random ranges
CREATE FUNCTION pg_temp.mismatches(ranges int) RETURNS TABLE (zone text, tried int, differ int)
LANGUAGE sql VOLATILE AS $$
	SELECT z, count(*)::int, count(*) FILTER (WHERE pg_temp.ours(f, f + len, z) IS DISTINCT FROM pg_temp.native(f, f + len, z))::int
	FROM unnest(ARRAY['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham', 'Europe/Berlin', 'Australia/Lord_Howe']) z,
		 LATERAL (SELECT '2022-02-26'::date + (random() * 25)::int AS f, (random() * 12)::int AS len
				  FROM generate_series(1, ranges)
				  UNION ALL SELECT '2022-03-01'::date, 19) r
	GROUP BY z ORDER BY z COLLATE "C"
$$;

-- Random logins (and logouts, which do not count) from 2022-03-01 to
-- 2022-03-20 UTC; the New York DST change of 2022-03-13 falls inside.
SELECT setseed(0.3);
SELECT count(audit_log.log_event('ACCESS_SIGMA', CASE WHEN random() < 0.1 THEN 'LOGOUT' ELSE 'LOGIN' END,
		CASE WHEN random() < 0.3 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		request_time => '2022-03-01 00:00:00+00'::timestamptz + random() * interval '20 days')) AS logged
FROM generate_series(1, 2000);
-- events exactly on UTC hour boundaries and local midnights
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'FAILURE', request_time => t)) AS on_boundaries
FROM (SELECT generate_series('2022-03-01 00:00:00+00'::timestamptz, '2022-03-20 23:00:00+00', interval '1 hour') AS t
	  UNION ALL SELECT audit_log.day_start(d::date, z) - x
	  FROM generate_series('2022-03-02'::timestamp, '2022-03-20', interval '1 day') d,
		   unnest(ARRAY['Asia/Kolkata', 'Pacific/Chatham', 'America/New_York']) z,
		   unnest(ARRAY[interval '0', interval '1 microsecond']) x) b;

-- before any rollup, the days are still in the default partition: all live
SELECT count(*) AS rolled_days FROM audit_log.rollup_days WHERE day BETWEEN '2022-02-01' AND '2022-04-01';
SELECT * FROM pg_temp.mismatches(5);

-- zero-filled: days without logins show 0 and 0, and every day is there
SELECT * FROM audit_log.daily_login_activity('2022-02-26', '2022-03-02', 'UTC');
SELECT count(*) AS days, count(*) FILTER (WHERE success + failure = 0) AS empty_days
FROM audit_log.daily_login_activity('2022-01-01', '2022-12-31', 'America/New_York');
-- from after to: no rows
SELECT count(*) AS none FROM audit_log.daily_login_activity('2022-03-05', '2022-03-01', 'UTC');

-- maintain() moves the days to their partitions and counts their hours
SELECT audit_log.maintain();
SELECT count(*) AS rolled_days, min(day), max(day), bool_and(rolled_until = (day + 1)::timestamp AT TIME ZONE 'UTC') AS whole_days
FROM audit_log.rollup_days WHERE day BETWEEN '2022-02-01' AND '2022-04-01';
SELECT (SELECT sum(count) FROM audit_log.hourly_counts WHERE hour >= '2022-03-01' AND hour < '2022-03-21')
	 = (SELECT count(*) FROM audit_log.events WHERE request_time >= '2022-03-01' AND request_time < '2022-03-21') AS hourly_counts_complete;
-- the answer now comes from the rollups: whole-hour zones scan nothing live,
-- +05:30 and +12:45 scan only the hour around each local midnight
SELECT z, cardinality(p.rolled_hours) AS rolled_hours, cardinality(p.live_from) AS live_ranges,
	   (SELECT max(t - f) FROM unnest(p.live_from, p.live_to) u(f, t)) AS longest_live_range
FROM unnest(ARRAY['UTC', 'America/New_York', 'Asia/Kolkata', 'Pacific/Chatham']) z,
	 LATERAL audit_log._login_activity_plan('2022-03-02', '2022-03-19', z) p
ORDER BY z COLLATE "C";
SELECT * FROM pg_temp.mismatches(20);
SELECT * FROM audit_log.daily_login_activity('2022-03-12', '2022-03-14', 'America/New_York');

-- late events: backdated logins for hours already counted are in the answer
-- at once (before the next maintain), and stay right after it
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN',
		CASE WHEN random() < 0.5 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		request_time => '2022-03-01 00:00:00+00'::timestamptz + random() * interval '20 days')) AS late
FROM generate_series(1, 300);
SELECT * FROM pg_temp.mismatches(20);
-- a late event inside a transaction that rolls back leaves no trace
BEGIN;
SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', request_time => '2022-03-10 10:10:10+00') IS NOT NULL AS logged;
ROLLBACK;
SELECT (SELECT sum(count) FROM audit_log.hourly_counts WHERE hour >= '2022-03-01' AND hour < '2022-03-21')
	 = (SELECT count(*) FROM audit_log.events WHERE request_time >= '2022-03-01' AND request_time < '2022-03-21') AS hourly_counts_complete;
SELECT audit_log.maintain();
SELECT * FROM pg_temp.mismatches(10);

-- retention drops a day: its counts are no longer used, and the answer
-- still equals the live one; a day re-created later is counted anew
DROP TABLE audit_log.events_p20220305;
SELECT * FROM pg_temp.mismatches(10);
SELECT * FROM audit_log.daily_login_activity('2022-03-04', '2022-03-06', 'UTC');
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN', request_time => '2022-03-05 12:00:00+00'::timestamptz + i * interval '1 minute')) AS backfilled
FROM generate_series(1, 3) i;
SELECT * FROM pg_temp.mismatches(10);
SELECT audit_log.maintain();
SELECT rolled_until FROM audit_log.rollup_days WHERE day = '2022-03-05';
SELECT * FROM audit_log.daily_login_activity('2022-03-04', '2022-03-06', 'UTC');
SELECT * FROM pg_temp.mismatches(10);

-- the open hours (today) are read live, whatever the session zone
SELECT pg_temp.ours(audit_log.day(now(), z) - 1, audit_log.day(now(), z) + 1, z)
	 = pg_temp.native(audit_log.day(now(), z) - 1, audit_log.day(now(), z) + 1, z) AS today_agrees
FROM unnest(ARRAY['UTC', 'Asia/Kolkata']) z;

-- the default zone is the session's
SET TimeZone = 'Asia/Kolkata';
SELECT pg_temp.ours('2022-03-02', '2022-03-18', 'Asia/Kolkata')
	 = (SELECT string_agg(format('%s %s/%s', a.day, a.success, a.failure), ', ' ORDER BY a.day)
		FROM audit_log.daily_login_activity('2022-03-02', '2022-03-18') a) AS session_zone_default;
SET TimeZone = 'UTC';

-- the 90-day view: 90 days ending today, zero-filled
SELECT count(*) AS days, max(day) = audit_log.day(now()) AS ends_today,
	   min(day) = audit_log.day(now()) - 89 AS starts_89_days_before,
	   bool_and(success IS NOT NULL AND failure IS NOT NULL) AS no_nulls
FROM audit_log.daily_login_activity_90d;

-- errors
-- error: infinite range
SELECT * FROM audit_log.daily_login_activity('2022-03-01', 'infinity', 'UTC');
-- error: unknown zone
SELECT * FROM audit_log.daily_login_activity('2022-03-01', '2022-03-02', 'Moon/Tranquility');
-- NULL arguments: no rows
SELECT count(*) AS null_args FROM audit_log.daily_login_activity(NULL, '2022-03-02', 'UTC');

-- readers may use the function, the view and the rollups; PUBLIC may not
CREATE ROLE regress_dla_reader IN ROLE audit_log_reader;
CREATE ROLE regress_dla_nobody;
SET ROLE regress_dla_reader;
SELECT sum(success + failure) > 0 AS reader_sees_logins FROM audit_log.daily_login_activity('2022-03-01', '2022-03-20', 'UTC');
SELECT count(*) AS reader_view_days FROM audit_log.daily_login_activity_90d;
RESET ROLE;
SET ROLE regress_dla_nobody;
-- error: permission denied
SELECT * FROM audit_log.daily_login_activity('2022-03-01', '2022-03-02', 'UTC');
-- error: permission denied
SELECT * FROM audit_log.hourly_counts;
RESET ROLE;
DROP ROLE regress_dla_reader, regress_dla_nobody;

-- hourly_counts and rollup_days are dumped with the extension's data
SELECT c.relname FROM pg_extension x, unnest(x.extconfig) o JOIN pg_class c ON c.oid = o
WHERE x.extname = 'audit_log' AND c.relname IN ('hourly_counts', 'rollup_days') ORDER BY c.relname COLLATE "C";

-- remove the days this file made, their events and (through maintain) their
-- rollups
SELECT format('DROP TABLE audit_log.%I', audit_log.partition_name(g::date))
FROM generate_series('2022-02-26'::timestamp, '2022-03-25', interval '1 day') g
WHERE to_regclass('audit_log.' || audit_log.partition_name(g::date)) IS NOT NULL \gexec
SELECT audit_log.maintain();
SELECT count(*) AS logins_left FROM audit_log.events
WHERE request_time >= '2022-02-26' AND request_time < '2022-03-26';
SELECT count(*) AS rolled_days_left FROM audit_log.rollup_days WHERE day BETWEEN '2022-02-01' AND '2022-04-01';
SELECT count(*) AS hourly_rows_left FROM audit_log.hourly_counts WHERE hour >= '2022-02-01' AND hour < '2022-04-01';
