#!/usr/bin/env bash
# bench/export.sh: audit_log.export_csv() against a raw
#   COPY (SELECT ... ORDER BY ...) TO 'file' (FORMAT csv, HEADER)
# of the same rows, in the same run, on a throwaway cluster.
#
# Run as root.  bench/lib.sh builds audit_log into a private copy of the
# system PostgreSQL 15 and starts a cluster in /tmp on a free port
# (preloading audit_log); the benchmark loads
# AUDIT_LOG_BENCH_ROWS events (default 5 million) spread over 5 UTC days,
# and times each side REPEAT times (AUDIT_LOG_BENCH_REPEAT, default 3),
# alternating; the median of each counts (the machine is shared), and the
# spread (min-max) is printed.
# The ratio is raw COPY time / export_csv time (1.0 = as fast as COPY;
# the target is >= 0.85), in wall-clock time and in the CPU time of the
# backend (read from /proc), which other load on the machine disturbs less.  export_csv's time includes the SHA-256 checksum,
# the fsyncs, the rename, the .sha256 file and the recording of the run.
# It also checks that both files are byte for byte the same.
#
# Then (1.1) audit_log.export() in the other formats and compressions, each
# once per REPEAT, the median counting: jsonl, ocsf and ecs against the raw
# COPY (targets: jsonl >= 0.85, ocsf/ecs >= 0.6), and CSV through gzip and
# zstd against the uncompressed export (time ratio and size ratio; target
# for zstd: >= 0.8 of the uncompressed export's speed, >= 5x smaller).  Each
# compressed file is decompressed and compared with the plain export.
# AUDIT_LOG_BENCH_FORMATS=0 skips this part.
set -eu

ROWS=${AUDIT_LOG_BENCH_ROWS:-5000000}
REPEAT=${AUDIT_LOG_BENCH_REPEAT:-3}
source "$(dirname "$0")/lib.sh"
bench_setup export
work=$BENCH_DIR
mkdir -p "$work/exports"
chown postgres:postgres "$work/exports"
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'" \
	"audit_log.export_directory = '$work/exports'" "shared_buffers = '1GB'" "work_mem = '256MB'" \
	"maintenance_work_mem = '512MB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"synchronous_commit = off" "${BENCH_NO_WAL[@]}" "jit = off"
bench_start main
psql() { bench_sql main "$@"; }

echo "== loading $ROWS events over 5 days"
t0=$(date +%s)
psql <<EOS
CREATE EXTENSION audit_log;
-- partitions created in the loading transaction: with wal_level = minimal
-- their rows skip the WAL
BEGIN;
SELECT count(*) FROM (SELECT audit_log._create_day_partition(d::date)
  FROM generate_series(date '2026-01-05', date '2026-01-09', interval '1 day') AS d) p;
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, user_email, object_name, client_addr,
	application_name, database_name, backend_pid, session_id, source_node, entry_data, origin)
SELECT lpad(to_hex(i + 1), 32, '0')::uuid,
	t, t + interval '3 milliseconds',
	'ACCESS_SIGMA', 'LOGIN',
	CASE WHEN i % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
	CASE WHEN i % 10 = 0 THEN 'INVALID_PASSWORD' END,
	'user_' || (i % 5000), CASE WHEN i % 3 = 0 THEN 'user' || (i % 5000) || '@example.com' END,
	NULL, ('10.' || (i % 250) || '.' || (i % 200) || '.' || (i % 100))::inet,
	'psql', 'postgres', 10000 + i % 30000, to_hex(1700000000 + i / 100) || '.' || to_hex(i % 65536),
	'node1',
	jsonb_build_object('method', 'scram-sha-256', 'attempt', i % 3, 'client', 'psql 15, "beta"'),
	'SERVER'
FROM generate_series(0, $ROWS - 1) AS i,
	LATERAL (SELECT timestamptz '2026-01-05 00:00:00+00'
		+ (i::float8 / $ROWS * 5 * 86400) * interval '1 second' AS t) x;
COMMIT;
VACUUM ANALYZE audit_log.events;
SELECT count(*) FROM audit_log.events;
EOS
echo "   loaded in $(( $(date +%s) - t0 )) s"

# One session; the same query, the same output settings on both sides.
# CPU time of this backend in clock ticks (utime + stime), from /proc.
cpu="(SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') AS s)"
q="SELECT e.* FROM audit_log.events e WHERE e.request_time >= '2026-01-05 00:00:00+00' AND e.request_time < '2026-01-10 00:00:00+00' ORDER BY e.request_time, e.event_id"
{
	echo "SET TimeZone = 'UTC';"
	echo "SET DateStyle = 'ISO, YMD';"
	echo "-- warm the cache"
	echo "SELECT count(*) FROM audit_log.events WHERE request_time >= '2026-01-05' AND request_time < '2026-01-10';"
	for i in $(seq 1 "$REPEAT"); do
		echo "SELECT clock_timestamp() AS t, $cpu AS c \\gset"
		echo "COPY ($q) TO '$work/exports/raw$i.csv' (FORMAT csv, HEADER);"
		echo "SELECT 'raw ' || extract(epoch FROM clock_timestamp() - :'t') || ' ' || ($cpu - :c);"
		echo "SELECT pg_sleep(1);"
		echo "SELECT clock_timestamp() AS t, $cpu AS c \\gset"
		echo "SELECT 'file ' || file FROM audit_log.export_csv('.', '2026-01-05 00:00:00+00', '2026-01-10 00:00:00+00');"
		echo "SELECT 'export ' || extract(epoch FROM clock_timestamp() - :'t') || ' ' || ($cpu - :c);"
		[ "$i" = "$REPEAT" ] || echo "SELECT pg_sleep(1);"
	done
	echo "SELECT 'runs ' || count(*) || ' ' || min(rows) FROM audit_log.export_runs WHERE status = 'SUCCESS';"
} > "$work/run.sql"
chown postgres "$work/run.sql"
out=$(psql -At -f "$work/run.sql")
echo "$out" | grep -E '^(raw|export|runs) '

file=$(echo "$out" | sed -n 's/^file //p' | tail -1)
size=$(stat -c %s "$file")
if cmp -s "$file" "$work/exports/raw1.csv"; then same=yes; else same=NO; fi
if (cd "$(dirname "$file")" && sha256sum -c --status "$(basename "$file").sha256"); then ok=yes; else ok=NO; fi

raw=$(echo "$out" | sed -n 's/^raw //p' | awk '{print $1}' | bench_median)
exp=$(echo "$out" | sed -n 's/^export //p' | awk '{print $1}' | bench_median)
rawcpu=$(echo "$out" | sed -n 's/^raw //p' | awk '{print $2}' | bench_median)
expcpu=$(echo "$out" | sed -n 's/^export //p' | awk '{print $2}' | bench_median)
hz=$(getconf CLK_TCK)
echo "== $ROWS rows, $size bytes per file, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   export file identical to raw COPY output: $same; sha256sum -c: $ok"
awk -v r="$raw" -v e="$exp" -v rc="$rawcpu" -v ec="$expcpu" -v hz="$hz" -v n="$ROWS" 'BEGIN {
	printf "   raw COPY TO file:   %.2f s wall (%.0f rows/s), %.2f s CPU\n", r, n / r, rc / hz;
	printf "   export_csv:         %.2f s wall (%.0f rows/s), %.2f s CPU\n", e, n / e, ec / hz;
	printf "   ratio (raw/export): %.3f wall, %.3f CPU (target >= 0.85)\n", r / e, rc / ec }'

bench_result export_vs_copy_wall "$(bench_ratio "$raw" "$exp")" ">=" 0.85 -
bench_result export_vs_copy_cpu "$(bench_ratio "$rawcpu" "$expcpu")" ">=" 0.85 -

[ "${AUDIT_LOG_BENCH_FORMATS:-1}" = 1 ] || exit 0

# --- 1.1: the other formats and compressions ---
combos="jsonl/none ocsf/none ecs/none csv/gzip csv/zstd"
{
	echo "SET TimeZone = 'UTC';"
	for i in $(seq 1 "$REPEAT"); do
		for c in $combos; do
			f=${c%/*}; z=${c#*/}
			echo "SELECT pg_sleep(1);"
			echo "SELECT clock_timestamp() AS t, $cpu AS c \\gset"
			echo "SELECT 'file $c ' || file || ' ' || bytes FROM audit_log.export('.', '2026-01-05 00:00:00+00', '2026-01-10 00:00:00+00', 'events', '$f', '$z');"
			echo "SELECT 'time $c ' || extract(epoch FROM clock_timestamp() - :'t') || ' ' || ($cpu - :c);"
		done
	done
} > "$work/formats.sql"
chown postgres "$work/formats.sql"
fout=$(psql -At -f "$work/formats.sql")
best() { # combo column(1 wall, 2 cpu): the median of the runs
	echo "$fout" | awk -v c="$1" -v k="$2" '$1 == "time" && $2 == c {print $(2 + k)}' | bench_median
}
echo "== formats and compressions ($ROWS rows, median of $REPEAT; raw COPY ${raw} s, export_csv ${exp} s, $size bytes)"
for c in $combos; do
	w=$(best "$c" 1); u=$(best "$c" 2)
	all=$(echo "$fout" | awk -v c="$c" '$1 == "time" && $2 == c {printf "%.2f ", $3}')
	allc=$(echo "$fout" | awk -v c="$c" -v hz="$(getconf CLK_TCK)" '$1 == "time" && $2 == c {printf "%.2f ", $4 / hz}')
	echo "   $c: every run ${all}s wall, ${allc}s CPU"
	line=$(echo "$fout" | awk -v c="$c" '$1 == "file" && $2 == c' | tail -1)
	cfile=$(echo "$line" | awk '{print $3}'); cbytes=$(echo "$line" | awk '{print $4}')
	case $c in
	*/none)
		awk -v c="$c" -v r="$raw" -v w="$w" -v rc="$rawcpu" -v u="$u" -v hz="$hz" -v b="$cbytes" -v n="$ROWS" 'BEGIN {
			printf "   %-10s %.2f s wall (%.0f rows/s), %.2f s CPU, %.0f bytes; ratio raw/export %.3f wall, %.3f CPU\n",
				c, w, n / w, u / hz, b, r / w, rc / u }'
		f=${c%/*}; if [ "$f" = jsonl ]; then tgt=0.85; else tgt=0.6; fi
		bench_result "export_${f}_vs_copy_cpu" "$(bench_ratio "$rawcpu" "$u")" ">=" "$tgt" - ;;
	*)
		z=${c#*/}
		if [ "$z" = gzip ]; then dec="gzip -dc"; else dec="zstd -dcq"; fi
		if $dec "$cfile" | cmp -s - "$file"; then back=yes; else back=NO; fi
		awk -v c="$c" -v e="$exp" -v w="$w" -v ec="$expcpu" -v u="$u" -v hz="$hz" -v b="$cbytes" -v s="$size" -v back="$back" 'BEGIN {
			printf "   %-10s %.2f s wall, %.2f s CPU, %.0f bytes (%.1fx smaller); speed vs uncompressed export %.3f wall, %.3f CPU; decompressed = plain export: %s\n",
				c, w, u / hz, b, s / b, e / w, ec / u, back }'
		if [ "$z" = zstd ]; then
			bench_result export_zstd_vs_plain_cpu "$(bench_ratio "$expcpu" "$u")" ">=" 0.8 -
			bench_result export_zstd_size_reduction "$(bench_ratio "$size" "$cbytes")" ">=" 5 -
		fi ;;
	esac
done
