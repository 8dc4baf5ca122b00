#!/usr/bin/env bash
# bench/report.sh: the HTML report (audit_log.export(..., 'report', 'html'))
# of a 90-day window, against the native SQL a user would write for the
# same summary (the per-day counts and the top failing addresses and roles:
# two GROUP BY queries over the window), in the same run, on a throwaway
# cluster.
#
# Run as root.  bench/lib.sh builds audit_log into a private copy of the
# system PostgreSQL 15 and starts a cluster in /tmp on a free port
# (preloading audit_log); the benchmark loads AUDIT_LOG_BENCH_ROWS events
# (default 5 million) spread evenly over 90 UTC days (logins, 10 % failed,
# from 5,000 roles and 25,000 addresses, and administrative events).  It
# writes the report once before maintain() has counted the days into the
# hourly rollups (every count from a scan: the worst case), then runs
# maintain() (as the daily pg_cron job does) and times each side
# AUDIT_LOG_BENCH_REPEAT times (default 3), alternating, printing every
# time, the median and the spread.  Targets: the report is written in under
# 5 s and is under 5 MB.  The report's time includes
# everything export() does: the checksum, the fsyncs, the rename, the
# .sha256 file and the recording of the run.
set -eu

ROWS=${AUDIT_LOG_BENCH_ROWS:-5000000}
REPEAT=${AUDIT_LOG_BENCH_REPEAT:-3}
source "$(dirname "$0")/lib.sh"
bench_setup report
work=$BENCH_DIR
mkdir -p "$work/exports"
chown postgres:postgres "$work/exports"
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'" \
	"audit_log.export_directory = '$work/exports'" "shared_buffers = '1GB'" "work_mem = '64MB'" \
	"maintenance_work_mem = '512MB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"synchronous_commit = off" "${BENCH_NO_WAL[@]}" "jit = off"
bench_start main
psql() { bench_sql main "$@"; }

echo "== loading $ROWS events over 90 days"
t0=$(date +%s)
psql <<EOS
CREATE EXTENSION audit_log;
BEGIN;
SELECT count(*) FROM (SELECT audit_log._create_day_partition(d::date)
  FROM generate_series(date '2026-01-01', date '2026-03-31', interval '1 day') AS d) p;
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, object_name, client_addr,
	application_name, database_name, backend_pid, source_node, entry_data, origin)
SELECT lpad(to_hex(i + 1), 32, '0')::uuid, t, t + interval '3 milliseconds',
	CASE WHEN i % 50 = 7 THEN 'USER_ACCOUNTS' ELSE 'ACCESS_SIGMA' END::audit_log.event_category,
	CASE WHEN i % 50 = 7 THEN 'ALTER_USER' WHEN i % 50 = 8 THEN 'LOGOUT' ELSE 'LOGIN' END,
	CASE WHEN i % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
	CASE WHEN i % 10 = 0 THEN 'INVALID_PASSWORD' END,
	'user_' || (i % 5000), CASE WHEN i % 50 = 7 THEN 'role_' || (i % 700) END,
	('10.' || (i % 250) || '.' || (i % 100) || '.' || (i % 7))::inet,
	'psql', 'postgres', 10000 + i % 30000, 'node1', '{}'::jsonb, 'SERVER'
FROM generate_series(0, $ROWS - 1) AS i,
	LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00'
		+ (i::float8 / $ROWS * 90 * 86400) * interval '1 second' AS t) x;
COMMIT;
VACUUM ANALYZE audit_log.events;
EOS
echo "   loaded in $(( $(date +%s) - t0 )) s"

from="'2026-01-01 00:00:00+00'"
to="'2026-04-01 00:00:00+00'"
native="SELECT count(*) FROM (SELECT (request_time AT TIME ZONE 'UTC')::date, count(*),
	count(*) FILTER (WHERE event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN' AND event_status = 'SUCCESS'),
	count(*) FILTER (WHERE event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN' AND event_status = 'FAILURE')
	FROM audit_log.events WHERE request_time >= $from AND request_time < $to GROUP BY 1) a,
	(SELECT host(client_addr), count(*) FROM audit_log.events WHERE request_time >= $from AND request_time < $to
	   AND event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN' AND event_status = 'FAILURE'
	 GROUP BY 1 ORDER BY 2 DESC LIMIT 10) b,
	(SELECT user_name, count(*) FROM audit_log.events WHERE request_time >= $from AND request_time < $to
	   AND event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN' AND event_status = 'FAILURE'
	 GROUP BY 1 ORDER BY 2 DESC LIMIT 10) c;"
{
	echo "SET TimeZone = 'UTC';"
	echo "SELECT count(*) FROM audit_log.events WHERE request_time >= $from AND request_time < $to;"
	echo "SELECT clock_timestamp() AS t \\gset"
	echo "SELECT 'file ' || file || ' ' || bytes FROM audit_log.export('.', $from, $to, 'report', 'html');"
	echo "SELECT 'unrolled ' || extract(epoch FROM clock_timestamp() - :'t');"
	echo "SELECT clock_timestamp() AS t \\gset"
	echo "SELECT audit_log.maintain();"
	echo "SELECT 'maintain ' || extract(epoch FROM clock_timestamp() - :'t');"
	for i in $(seq 1 "$REPEAT"); do
		echo "SELECT clock_timestamp() AS t \\gset"
		echo "$native"
		echo "SELECT 'native ' || extract(epoch FROM clock_timestamp() - :'t');"
		echo "SELECT pg_sleep(1);"
		echo "SELECT clock_timestamp() AS t \\gset"
		echo "SELECT 'file ' || file || ' ' || bytes FROM audit_log.export('.', $from, $to, 'report', 'html');"
		echo "SELECT 'report ' || extract(epoch FROM clock_timestamp() - :'t');"
		echo "SELECT pg_sleep(1);"
	done
	echo "SELECT clock_timestamp() AS t \\gset"
	echo "SELECT 'file ' || file || ' ' || bytes FROM audit_log.export('.', $from, $to, 'report', 'html', 'zstd');"
	echo "SELECT 'zstd ' || extract(epoch FROM clock_timestamp() - :'t');"
} > "$work/run.sql"
chown postgres "$work/run.sql"
out=$(psql -At -f "$work/run.sql")
echo "$out" | grep -E '^(native|report|unrolled|maintain|zstd|file) '

file=$(echo "$out" | awk '$1 == "file" && $2 ~ /\.html$/ {print $2}' | tail -1)
bytes=$(stat -c %s "$file")
zbytes=$(echo "$out" | awk '$1 == "file" && $2 ~ /\.zst$/ {print $3}' | tail -1)
if (cd "$(dirname "$file")" && sha256sum -c --status "$(basename "$file").sha256"); then ok=yes; else ok=NO; fi
trows=$(grep -c '^<tr data-day=' "$file" || true)
nat=$(echo "$out" | sed -n 's/^native //p' | bench_median)
rep=$(echo "$out" | sed -n 's/^report //p' | bench_median)
spread() { echo "$out" | sed -n "s/^$1 //p" | sort -g | awk 'NR == 1 {a = $1} {b = $1} END {printf "%.2f-%.2f", a, b}'; }
echo "== $ROWS events over 90 days, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   native summary SQL: median $(printf %.2f "$nat") s (range $(spread native) s)"
echo "   report:             median $(printf %.2f "$rep") s (range $(spread report) s), $bytes bytes, $trows table rows; sha256sum -c: $ok"
echo "   report with zstd:   $zbytes bytes"
echo "   report before maintain() (no rollups: every count from a scan): $(printf %.2f "$(echo "$out" | sed -n 's/^unrolled //p')") s; maintain() took $(printf %.2f "$(echo "$out" | sed -n 's/^maintain //p')") s"
echo "   ratio native/report: $(bench_ratio "$nat" "$rep"); targets: < 5 s ($(awk -v r="$rep" 'BEGIN {print (r < 5) ? "met" : "NOT met"}')), < 5 MB ($(awk -v b="$bytes" 'BEGIN {print (b < 5000000) ? "met" : "NOT met"}'))"
