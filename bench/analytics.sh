#!/usr/bin/env bash
# bench/analytics.sh: countif, day() and daily_login_activity against the
# native SQL a user would write, on the same data in the same run.
#
# Run as root: bench/lib.sh builds audit_log into a private copy of the
# system PostgreSQL 15 (so that other builds installed into the system
# meanwhile cannot get in the way) and starts a throwaway cluster in /tmp;
# the benchmark
# loads EVENTS (default 5 million) events spread over the last 90 days
# directly into audit_log.events, prints the timings and ratios, and stops
# the cluster, with RESULT lines (bench/lib.sh).  Each query runs ROUNDS times (interleaved with the one it is
# compared with); the best time counts.  JIT is off so that compile time does
# not blur the comparison.
set -euo pipefail

EVENTS=${EVENTS:-5000000}
ROUNDS=${ROUNDS:-3}

source "$(dirname "$0")/lib.sh"
bench_setup analytics
dir=$BENCH_DIR
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'" \
	"audit_log.capture = 'none'" "shared_buffers = 2GB" "work_mem = 64MB" "maintenance_work_mem = 512MB" \
	"max_wal_size = 8GB" "${BENCH_NO_WAL[@]}" "synchronous_commit = off" \
	"jit = off" "max_parallel_workers_per_gather = 2"
bench_start main
psql() { bench_sql main "$@"; }

echo "== loading $EVENTS events over 90 days"
start=$(date +%s)
psql <<SQL
CREATE EXTENSION audit_log;
SET work_mem = '1GB';
BEGIN;
-- partitions made in this transaction are filled without WAL (wal_level minimal)
SELECT count(*) FILTER (WHERE audit_log._create_day_partition(d::date)) AS partitions_created
FROM generate_series((now() AT TIME ZONE 'UTC')::date - 91, (now() AT TIME ZONE 'UTC')::date, interval '1 day') d \gset
-- 60% logins (a quarter of them failed), the rest other categories, evenly
-- spread and written in time order, as a live server writes them
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, client_addr, database_name, source_node, origin)
SELECT gen_random_uuid(), t, t, k.cat::audit_log.event_category, k.typ,
	(CASE WHEN r < 0.25 THEN 'FAILURE' ELSE 'SUCCESS' END)::audit_log.event_status,
	CASE WHEN r < 0.25 THEN 'INVALID_PASSWORD' END,
	'user' || (i % 500), ('10.0.' || (i % 200) || '.' || (i % 250))::inet, 'app', 'bench', 'SERVER'
FROM (SELECT i, now() - interval '90 days' + (i::float8 / $EVENTS) * interval '90 days' AS t,
			 random() AS r, (i * 7) % 10 AS k
	  FROM generate_series(1, $EVENTS) i) s
JOIN (VALUES (0, 'ACCESS_SIGMA', 'LOGIN'), (1, 'ACCESS_SIGMA', 'LOGIN'), (2, 'ACCESS_SIGMA', 'LOGIN'),
			 (3, 'ACCESS_SIGMA', 'LOGIN'), (4, 'ACCESS_SIGMA', 'LOGIN'), (5, 'ACCESS_SIGMA', 'LOGIN'),
			 (6, 'ACCESS_SIGMA', 'LOGOUT'), (7, 'USER_ACCOUNTS', 'ALTER_USER'),
			 (8, 'ACCOUNT_TYPES', 'GRANT_PRIVILEGE'), (9, 'TEAMS', 'GRANT_MEMBERSHIP')) k(n, cat, typ)
  ON k.n = s.k;
COMMIT;
VACUUM (ANALYZE) audit_log.events;
SQL
echo "   loaded in $(( $(date +%s) - start )) s"

# Best-of-ROUNDS timings, the queries of a group interleaved.  Every output
# column is consumed (count of whole rows), so none is optimized away.
psql <<'SQL'
CREATE FUNCTION public.bench(names text[], queries text[], rounds int)
RETURNS TABLE (name text, ms numeric, result_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
	best float8[] := array_fill('Infinity'::float8, ARRAY[cardinality(queries)]);
	nrows bigint[] := array_fill(0::bigint, ARRAY[cardinality(queries)]);
	t0 timestamptz;
	i int;
	r int;
	n bigint;
BEGIN
	FOR r IN 1 .. rounds LOOP
		FOR i IN 1 .. cardinality(queries) LOOP
			t0 := clock_timestamp();
			EXECUTE 'SELECT count(s.*) FROM (' || queries[i] || ') s' INTO n;
			best[i] := least(best[i], extract(epoch FROM clock_timestamp() - t0) * 1000);
			nrows[i] := n;
		END LOOP;
	END LOOP;
	FOR i IN 1 .. cardinality(queries) LOOP
		name := names[i];
		ms := round(best[i]::numeric, 1);
		result_rows := nrows[i];
		RETURN NEXT;
	END LOOP;
END
$$;
SQL

run() { psql -v rounds="$ROUNDS" "$@"; }

echo
echo "== rows"
psql -c "SELECT count(*) AS events, count(*) FILTER (WHERE event_type = 'LOGIN') AS logins, min(request_time)::date AS first_day, max(request_time)::date AS last_day FROM audit_log.events"

echo "== parallel plan for countif on the events table"
psql -At -c "EXPLAIN SELECT audit_log.countif(event_type = 'LOGIN', event_status = 'SUCCESS') FROM audit_log.events" \
	| grep -E 'Finalize Aggregate|Gather|Partial Aggregate' | sed 's/ *(cost.*//'

echo
echo "== 1. countif(a, b) vs count(*) FILTER (WHERE a AND b) vs sum(CASE ...): two counts per UTC day"
psql <<SQL
\pset footer off
SELECT count(*) AS warm_up FROM audit_log.events WHERE event_type <> '' \gset
CREATE TEMP TABLE r1 AS SELECT * FROM public.bench(
	ARRAY['countif', 'count_filter', 'sum_case'],
	ARRAY[
	\$q\$SELECT date_trunc('day', request_time AT TIME ZONE 'UTC') AS d,
		audit_log.countif(event_type = 'LOGIN', event_status = 'SUCCESS') AS ok,
		audit_log.countif(event_type = 'LOGIN', event_status = 'FAILURE') AS failed
	 FROM audit_log.events GROUP BY 1\$q\$,
	\$q\$SELECT date_trunc('day', request_time AT TIME ZONE 'UTC') AS d,
		count(*) FILTER (WHERE event_type = 'LOGIN' AND event_status = 'SUCCESS') AS ok,
		count(*) FILTER (WHERE event_type = 'LOGIN' AND event_status = 'FAILURE') AS failed
	 FROM audit_log.events GROUP BY 1\$q\$,
	\$q\$SELECT date_trunc('day', request_time AT TIME ZONE 'UTC') AS d,
		sum(CASE WHEN event_type = 'LOGIN' AND event_status = 'SUCCESS' THEN 1 ELSE 0 END) AS ok,
		sum(CASE WHEN event_type = 'LOGIN' AND event_status = 'FAILURE' THEN 1 ELSE 0 END) AS failed
	 FROM audit_log.events GROUP BY 1\$q\$], $ROUNDS);
SELECT * FROM r1;
SELECT round((SELECT ms FROM r1 WHERE name = 'countif') / (SELECT ms FROM r1 WHERE name = 'count_filter'), 3) AS "ratio countif/count_filter (target <= 1.05)",
	   round((SELECT ms FROM r1 WHERE name = 'countif') / (SELECT ms FROM r1 WHERE name = 'sum_case'), 3) AS "ratio countif/sum_case";
SELECT round((SELECT ms FROM r1 WHERE name = 'countif') / (SELECT ms FROM r1 WHERE name = 'count_filter'), 3) AS r \gset
\echo RESULT name=analytics_countif_filter_per_day value=:r target=<=1.02 spread=-
SQL

echo "== 2. GROUP BY audit_log.day(request_time, 'UTC') vs date_trunc('day', request_time AT TIME ZONE 'UTC')"
psql <<SQL
\pset footer off
SELECT count(*) AS warm_up FROM audit_log.events WHERE event_type <> '' \gset
CREATE TEMP TABLE r2 AS SELECT * FROM public.bench(
	ARRAY['day_utc', 'date_trunc_utc', 'day_new_york', 'date_trunc_new_york'],
	ARRAY[
	\$q\$SELECT audit_log.day(request_time, 'UTC') AS d, count(*) FROM audit_log.events GROUP BY 1\$q\$,
	\$q\$SELECT date_trunc('day', request_time AT TIME ZONE 'UTC') AS d, count(*) FROM audit_log.events GROUP BY 1\$q\$,
	\$q\$SELECT audit_log.day(request_time, 'America/New_York') AS d, count(*) FROM audit_log.events GROUP BY 1\$q\$,
	\$q\$SELECT date_trunc('day', request_time AT TIME ZONE 'America/New_York') AS d, count(*) FROM audit_log.events GROUP BY 1\$q\$], $ROUNDS);
SELECT * FROM r2;
SELECT round((SELECT ms FROM r2 WHERE name = 'day_utc') / (SELECT ms FROM r2 WHERE name = 'date_trunc_utc'), 3) AS "ratio day/date_trunc UTC (target <= 1.05)",
	   round((SELECT ms FROM r2 WHERE name = 'day_new_york') / (SELECT ms FROM r2 WHERE name = 'date_trunc_new_york'), 3) AS "ratio day/date_trunc New York";
SELECT round((SELECT ms FROM r2 WHERE name = 'day_utc') / (SELECT ms FROM r2 WHERE name = 'date_trunc_utc'), 3) AS r \gset
\echo RESULT name=analytics_day_date_trunc value=:r target=<=1.05 spread=-
SQL

native() { # zone
	cat <<Q
SELECT g.d::date AS day, COALESCE(x.s, 0) AS success, COALESCE(x.f, 0) AS failure
FROM generate_series((now() AT TIME ZONE '$1')::date - 89, (now() AT TIME ZONE '$1')::date, interval '1 day') g(d)
LEFT JOIN (SELECT (request_time AT TIME ZONE '$1')::date AS d,
		count(*) FILTER (WHERE event_status = 'SUCCESS') AS s,
		count(*) FILTER (WHERE event_status = 'FAILURE') AS f
	 FROM audit_log.events
	 WHERE event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN'
	   AND request_time >= ((now() AT TIME ZONE '$1')::date - 89)::timestamp AT TIME ZONE '$1'
	   AND request_time < ((now() AT TIME ZONE '$1')::date + 1)::timestamp AT TIME ZONE '$1'
	 GROUP BY 1) x ON x.d = g.d::date
Q
}
ours() { # zone
	echo "SELECT * FROM audit_log.daily_login_activity(audit_log.day(now(), '$1') - 89, audit_log.day(now(), '$1'), '$1')"
}
same() { # zone
	echo "SELECT (SELECT string_agg(format('%s %s %s', day, success, failure), ',' ORDER BY day) FROM ($(ours $1)) a) = (SELECT string_agg(format('%s %s %s', day, success, failure), ',' ORDER BY day) FROM ($(native $1)) b) AS same_rows"
}

echo "== 3. daily_login_activity, 90 days, vs the native query"
psql <<SQL
\pset footer off
SELECT count(*) AS warm_up FROM audit_log.events WHERE event_type <> '' \gset
\echo -- without rollups (hourly_counts empty: everything is scanned live)
$(same UTC);
CREATE TEMP TABLE r3 AS SELECT * FROM public.bench(
	ARRAY['dla_live_utc', 'native_utc'],
	ARRAY[\$q\$$(ours UTC)\$q\$, \$q\$$(native UTC)\$q\$], $ROUNDS);
\echo -- rolling up 90 days with maintain()
\timing on
SELECT audit_log.maintain();
\timing off
SELECT count(*) AS days_rolled FROM audit_log.rollup_days;
SELECT count(*) AS hourly_rows, sum(count) AS events_counted FROM audit_log.hourly_counts;
\echo -- with rollups (closed hours from hourly_counts, the open hour live)
$(same UTC);
$(same Asia/Kolkata);
$(same America/New_York);
INSERT INTO r3 SELECT * FROM public.bench(
	ARRAY['dla_rollup_utc', 'native_utc_2', 'dla_rollup_kolkata', 'native_kolkata', 'dla_rollup_new_york', 'native_new_york'],
	ARRAY[\$q\$$(ours UTC)\$q\$, \$q\$$(native UTC)\$q\$,
		  \$q\$$(ours Asia/Kolkata)\$q\$, \$q\$$(native Asia/Kolkata)\$q\$,
		  \$q\$$(ours America/New_York)\$q\$, \$q\$$(native America/New_York)\$q\$], $ROUNDS);
SELECT * FROM r3;
SELECT round((SELECT ms FROM r3 WHERE name = 'dla_live_utc') / (SELECT ms FROM r3 WHERE name = 'native_utc'), 3) AS "ratio without rollups",
	   round((SELECT ms FROM r3 WHERE name = 'dla_rollup_utc') / (SELECT ms FROM r3 WHERE name = 'native_utc_2'), 3) AS "ratio with rollups UTC (target <= 0.10)",
	   round((SELECT ms FROM r3 WHERE name = 'dla_rollup_new_york') / (SELECT ms FROM r3 WHERE name = 'native_new_york'), 3) AS "New York",
	   round((SELECT ms FROM r3 WHERE name = 'dla_rollup_kolkata') / (SELECT ms FROM r3 WHERE name = 'native_kolkata'), 3) AS "Kolkata (+05:30)";
SELECT round((SELECT ms FROM r3 WHERE name = 'dla_rollup_utc') / (SELECT ms FROM r3 WHERE name = 'native_utc_2'), 3) AS r \gset
\echo RESULT name=analytics_daily_login_activity_rollups value=:r target=<=0.10 spread=-
SQL
echo "== done in $(( $(date +%s) - start )) s"
