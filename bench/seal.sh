#!/usr/bin/env bash
# bench/seal.sh: sealing (and verifying) a UTC day of 1 million events
# against COPY (that day) TO '/dev/null', the native way to read a day.
#
# Run as root.  bench/lib.sh builds the extension into a private copy of
# the system PostgreSQL 15 and starts a throwaway cluster in /tmp; it fills
# one day with BENCH_ROWS events (default 1000000), times each side a few
# times on the same data and prints the ratios.  The cluster is stopped and
# removed at the end.
set -eu

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
# BENCH_SHUFFLE=1: rows stored in random order (heavy backfills), no ANALYZE
SHUFFLE=${BENCH_SHUFFLE:-0}
if [ "$SHUFFLE" = 1 ]; then ORDER="ORDER BY random()"; ANALYZE="VACUUM audit_log.events_p20260110;"
else ORDER=""; ANALYZE="VACUUM (ANALYZE) audit_log.events_p20260110;"; fi

source "$(dirname "$0")/lib.sh"
bench_setup seal
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.seal_delay = -1" \
	"shared_buffers = 512MB" "max_wal_size = 4GB"
bench_start main
psql_() { bench_sql main "$@"; }

echo "== filling 2026-01-10 with $ROWS events (shuffled: $SHUFFLE)"
psql_ <<EOF
CREATE EXTENSION audit_log;
SELECT audit_log._create_day_partition('2026-01-10') \g /dev/null
-- UUIDv7-shaped ids in time order, as log_event and the writer make them
INSERT INTO audit_log.events
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(h, 1, 3)
		|| '8' || substr(h, 4, 15))::uuid,
	t, t + interval '3 ms',
	(ARRAY['ACCESS_SIGMA', 'USER_ACCOUNTS', 'TEAMS']::audit_log.event_category[])[1 + i % 3],
	(ARRAY['LOGIN', 'CREATE_USER', 'GRANT_MEMBERSHIP'])[1 + i % 3],
	CASE WHEN i % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
	CASE WHEN i % 10 = 0 THEN 'INVALID_PASSWORD' END,
	'user' || i % 5000, CASE WHEN i % 4 = 0 THEN 'user' || i % 5000 || '@example.com' END,
	'object' || i % 700, ('10.' || i % 250 || '.' || i % 199 || '.' || i % 251)::inet,
	'psql', 'appdb', 10000 + i % 30000, to_hex(1700000000 + i / 50) || '.' || to_hex(i % 65536),
	'node1',
	jsonb_build_object('method', 'scram-sha-256', 'duration_s', i % 3600, 'ssl', i % 2 = 0),
	'SERVER'
FROM (SELECT i, '2026-01-10 00:00:00+00'::timestamptz + i * (interval '86399 seconds' / $ROWS) AS t,
			 md5(i::text) AS h
	  FROM generate_series(1, $ROWS) i) s
$ORDER;
$ANALYZE
EOF

psql_ -At <<EOF
CREATE FUNCTION pg_temp.ms(q text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q;
	RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
END \$\$;
CREATE TEMP TABLE runs (what text, ms numeric);
-- warm the cache
SELECT pg_temp.ms(\$q\$COPY (SELECT * FROM audit_log.events WHERE request_time >= '2026-01-10 00:00:00+00' AND request_time < '2026-01-11 00:00:00+00') TO '/dev/null'\$q\$) \g /dev/null
SELECT count(*) FROM audit_log._seal_day_hash('2026-01-10') \g /dev/null
DO \$\$
BEGIN
	FOR r IN 1..$RUNS LOOP
		INSERT INTO runs SELECT 'copy', pg_temp.ms(\$q\$COPY (SELECT * FROM audit_log.events WHERE request_time >= '2026-01-10 00:00:00+00' AND request_time < '2026-01-11 00:00:00+00') TO '/dev/null'\$q\$);
		-- seal() of a sealed day only returns the stored digest, so the
		-- repeated runs time its work: the day hash plus the chain
		INSERT INTO runs SELECT 'seal work', pg_temp.ms(\$q\$SELECT audit_log._seal_chain(repeat('0', 64), '2026-01-10', h.rows, h.day_hash) FROM audit_log._seal_day_hash('2026-01-10') h\$q\$);
	END LOOP;
	INSERT INTO runs SELECT 'seal()', pg_temp.ms(\$q\$SELECT audit_log.seal('2026-01-10')\$q\$);
	INSERT INTO runs SELECT 'verify()', pg_temp.ms(\$q\$SELECT * FROM audit_log.verify('2026-01-10', '2026-01-10')\$q\$);
END \$\$;
SELECT 'rows in the day: ' || rows || ', verify: ' || detail FROM audit_log.verify('2026-01-10', '2026-01-10');
SELECT 'partition size: ' || pg_size_pretty(pg_total_relation_size('audit_log.events_p20260110'));
SELECT format('%-10s runs %s  best %s ms  median %s ms', what, count(*), min(ms),
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1))
FROM runs GROUP BY what ORDER BY what;
WITH c AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS copy FROM runs WHERE what = 'copy')
SELECT format('ratio %-10s / COPY TO /dev/null (median): %s', what,
	round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / c.copy)::numeric, 2))
FROM runs, c WHERE what <> 'copy' GROUP BY what, c.copy ORDER BY what;
WITH c AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS copy FROM runs WHERE what = 'copy')
SELECT 'RESULT name=seal_vs_copy value=' || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) / c.copy)::numeric, 3)
	|| ' target=<=1.5 spread=-'
FROM runs, c WHERE what = 'seal work' GROUP BY c.copy;
EOF
