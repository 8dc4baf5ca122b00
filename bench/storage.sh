#!/usr/bin/env bash
# bench/storage.sh: what each byte of an event costs (issue 20), and a BRIN
# index on request_time in place of the B-tree.  Run as root (about 3
# to 5 minutes at the defaults, the more the busier the machine).
#
# Part 1, where the bytes go.  Two servers, identical but for the auditing
# (durability off: only sizes are measured here):
#   A  audit_log
#   P  pgaudit (pgaudit.log = 'role, ddl') with log_connections and
#      log_disconnections (skipped with a message when pgaudit is missing)
# Each runs the same mix, phase by phase, and its storage is measured
# before and after each phase (A: audit_log.events with TOAST and indexes,
# after audit_log.flush(); P: the bytes of its server log):
#   W3  LOOPS x CREATE ROLE / GRANT / REVOKE / DROP ROLE (bench/lib.sh's
#       bench_admin_scripts, as bench/peers.sh W3), each its own
#       transaction, one client (two GRANTs on one table at once can fail)
#   W4  the same with CREATE ROLE ... PASSWORD (peers.sh W4)
#   LOGIN  LOGINS connections (pgbench -C, scram over the Unix socket)
#   FAIL   FAILS failed logins (a wrong password)
# Then for A: heap (main fork of the partitions), TOAST, each index, free
# space map and visibility map, in bytes per event; the average width of
# each column (avg(pg_column_size)) per kind of event; the tuple header and
# alignment (pageinspect: t_hoff and lp_len against the columns' sum; plus
# the 4-byte line pointer).  RESULT storage_admin_event_vs_pgaudit: A's
# bytes per administrative event (W3 and W4) / P's log bytes per statement,
# target <= 2.5.  Then the cuts, measured: the administrative rows copied
# (CREATE TABLE AS) without one column each, with entry_data's top-level
# keys of one letter, with its role attributes only the true ones: the
# heap bytes each saves; and at the end the projection of A/P with each
# (with and without BRIN).
#
# Part 2, BRIN against B-tree on request_time.  The same rows copied (each
# partition as its own table) with the B-tree, BRIN (pages_per_range 128
# and 32) and BRIN minmax-multi: their sizes.  Then, for timing, a day of
# ROWS events made of the same rows (request_time spread evenly over
# 2026-01-01 UTC in insertion order, event_id a fresh time-ordered uuid),
# like one day's partition, in three physical orders:
#   ordered    request_time in insertion order
#   late5m     1% of the rows backdated by up to 5 minutes (writer batches,
#              clock skew)
#   lateday    1% of the rows backdated anywhere earlier in the day
#              (log_event with a past request_time, fleet late arrivals)
# and on each every index variant: size, and the median of RUNS runs
# (EXPLAIN ANALYZE's execution time, TIMING OFF) of the queries that filter
# on request_time: countif by hour over the day (the whole partition, a
# sequential scan whatever the index: timed on the ordered day only),
# countif over one hour, the export scan of an hour and of a minute
# (WHERE request_time >= x AND request_time < y ORDER BY request_time,
# event_id, as export.c), min(request_time) (_maintain_seals,
# _scheduled_export), and retention's range check (_expired_default_days:
# request_time < the first day kept); the plans of the ordered and lateday
# days printed (EXPLAIN ANALYZE with BUFFERS).
set -euo pipefail

LOOPS=${LOOPS:-2000}     # W3 and W4 each: 4 statements a loop
LOGINS=${LOGINS:-2000}
FAILS=${FAILS:-1000}
ROWS=${ROWS:-200000}     # the timing day
RUNS=${RUNS:-3}
CLIENTS=2

source "$(dirname "$0")/lib.sh"
t_start=$(date +%s)

configs="A P"
bench_pgaudit || configs="A"

bench_setup storage
dir=$BENCH_DIR
pw="storage-$RANDOM$RANDOM"
secret="StorageW4Secret$RANDOM$RANDOM"
bench_admin_scripts "$dir" "$secret"
echo "SELECT 1;" >"$dir/login.sql"
chown postgres "$dir/login.sql"

common=("${BENCH_FAST[@]}" "max_connections = 50" "password_encryption = 'scram-sha-256'")
for c in $configs; do
	case $c in
	A) extra=("shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'") ;;
	P) extra=("shared_preload_libraries = 'pgaudit'" "pgaudit.log = 'role, ddl'"
		"log_connections = on" "log_disconnections = on") ;;
	esac
	bench_node "$c" "${common[@]}" "${extra[@]}"
	# the logins of LOGIN and FAIL authenticate with scram; the rest is trust
	sed -i '1i local all bench_login,bench_fail scram-sha-256' "$dir/$c/pg_hba.conf"
	bench_start "$c"
	bench_sql "$c" -c "CREATE ROLE bench_login LOGIN PASSWORD '$pw'" \
		-c "CREATE ROLE bench_fail LOGIN PASSWORD 'right-$pw'"
	case $c in
	# maintain(): today's partition, as pg_cron's daily job makes it
	A) bench_sql "$c" -c "CREATE EXTENSION audit_log" -c "CREATE EXTENSION pageinspect" \
		-c "SELECT audit_log.maintain()" >/dev/null ;;
	P) bench_sql "$c" -c "CREATE EXTENSION pgaudit" ;;
	esac
	bench_pgbench "$c" -i -q -s 1 postgres >/dev/null 2>&1
	bench_sql "$c" -c "GRANT SELECT ON pgbench_branches TO bench_login"
done

size() { # node: storage in bytes (A: events, P: server log) and events (A: rows, P: lines)
	if [ "$1" = A ]; then bench_events_size A; else echo "$(stat -c %s "$dir/P.log") $(wc -l <"$dir/P.log")"; fi
}

run_phase() { # node phase: prints the number of statements or logins
	local n=$1 p=$2 c
	case $p in
	W3 | W4)
		# one client: two GRANTs on one table at once can fail (tuple concurrently updated)
		bench_pgbench "$n" -n -f "$dir/$(tr W w <<<"$p").sql" -t "$LOOPS" postgres >"$dir/pgbench.out" 2>&1 ||
			{ echo "pgbench $p on $n failed:" >&2; grep -m5 -i "error\|abort\|fatal" "$dir/pgbench.out" >&2; exit 1; }
		echo $((LOOPS * 4)) ;;
	LOGIN)
		bench_as_pg env PGPASSWORD="$pw" "$PGBIN/pgbench" -h "$dir" -p "${BENCH_PORT[$n]}" -U bench_login -n -C \
			-f "$dir/login.sql" -c "$CLIENTS" -j "$CLIENTS" -t $((LOGINS / CLIENTS)) postgres >"$dir/pgbench.out" 2>&1 ||
			{ echo "pgbench LOGIN on $n failed:" >&2; grep -m5 -i "error\|abort\|fatal" "$dir/pgbench.out" >&2; exit 1; }
		echo $((LOGINS / CLIENTS * CLIENTS)) ;;
	FAIL)
		for ((c = 0; c < CLIENTS; c++)); do
			(for ((i = 0; i < FAILS / CLIENTS; i++)); do
				bench_as_pg env PGPASSWORD=wrong "$PGBIN/psql" -X -q -h "$dir" -p "${BENCH_PORT[$n]}" \
					-U bench_fail -d postgres -c "SELECT 1" >/dev/null 2>&1 && echo "a wrong password was accepted" >&2
			done) &
		done
		wait
		echo $((FAILS / CLIENTS * CLIENTS)) ;;
	esac
}

res=$dir/phases
: >"$res"
echo
echo "== part 1: the mix, phase by phase (A: audit_log.events, tables + TOAST + indexes; P: server log)"
printf '%-4s %-6s %8s %10s %12s %14s %16s\n' conf phase ops events bytes "bytes/event" "bytes/statement"
for c in $configs; do
	for p in W3 W4 LOGIN FAIL; do
		read -r b0 e0 <<<"$(size "$c")"
		ops=$(run_phase "$c" "$p")
		read -r b1 e1 <<<"$(size "$c")"
		awk -v c="$c" -v p="$p" -v ops="$ops" -v b=$((b1 - b0)) -v e=$((e1 - e0)) 'BEGIN {
			printf "%-4s %-6s %8d %10d %12d %14.1f %16.1f\n", c, p, ops, e, b, (e > 0 ? b / e : 0), b / ops > "/dev/stderr"
			printf "%s %s %d %d %d\n", c, p, ops, e, b }' 2>&1 >>"$res"
	done
done

# the administrative events: W3 + W4, bytes per event (A) and per statement (P)
admin() { awk -v c="$1" '$1 == c && ($2 == "W3" || $2 == "W4") { b += $5; o += $3; e += $4 } END { printf "%.1f %.1f", b / o, (e > 0 ? b / e : 0) }' "$res"; }
read -r a_per_stmt a_per_ev <<<"$(admin A)"
echo
echo "A: $a_per_ev bytes per administrative event ($a_per_stmt per statement)"
if [[ " $configs " == *" P "* ]]; then
	read -r p_per_stmt _ <<<"$(admin P)"
	echo "P: $p_per_stmt server-log bytes per administrative statement"
	for p in W3 W4 LOGIN FAIL; do
		awk -v p="$p" '$2 == p && $1 == "A" { a = $5 / $3 } $2 == p && $1 == "P" { b = $5 / $3 }
			END { printf "A/P %-6s per statement or login: %.2f\n", p, (b > 0 ? a / b : 0) }' "$res"
	done
fi

echo
echo "== where A's bytes go (the partitions of audit_log.events that hold rows), bytes per event"
bench_sql A -c "SELECT audit_log.flush()" >/dev/null
bench_sql A -c "
WITH parts AS (SELECT relid FROM pg_partition_tree('audit_log.events') WHERE isleaf AND pg_relation_size(relid) > 0),
n AS (SELECT count(*)::numeric AS rows FROM audit_log.events),
f AS (
	SELECT 'heap (main fork)' AS fork, sum(pg_relation_size(p.relid, 'main')) AS bytes, 1 AS o FROM parts p
	UNION ALL SELECT 'free space map + visibility map', sum(pg_relation_size(p.relid, 'fsm') + pg_relation_size(p.relid, 'vm')), 2 FROM parts p
	UNION ALL SELECT 'TOAST (table and its index)', coalesce(sum(pg_total_relation_size(c.reltoastrelid)), 0), 3
		FROM parts p JOIN pg_class c ON c.oid = p.relid WHERE c.reltoastrelid <> 0
	UNION ALL SELECT 'index ' || CASE WHEN i.indisprimary THEN 'primary key' ELSE am.amname END
			|| ' (' || pg_get_indexdef(i.indexrelid, 1, true) || ')', sum(pg_relation_size(i.indexrelid)), 4
		FROM parts p JOIN pg_index i ON i.indrelid = p.relid JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam GROUP BY 1)
SELECT fork, bytes, round(bytes / n.rows, 1) AS per_event FROM f, n
UNION ALL SELECT 'total', sum(bytes), round(sum(bytes) / n.rows, 1) FROM f, n GROUP BY n.rows
UNION ALL SELECT 'rows', n.rows, NULL FROM n"
tot_per_ev=$(bench_psql A -At -c "SELECT round(sum(pg_total_relation_size(relid)) / (SELECT count(*) FROM audit_log.events), 1)
	FROM pg_partition_tree('audit_log.events') WHERE isleaf AND pg_relation_size(relid) > 0")

echo
echo "== the average width of each column (avg(pg_column_size), bytes; NULL counts 0) by kind of event"
# kind: the three login kinds, AUDIT_LOG's own rows, and every other row (administrative)
kind="CASE WHEN e.event_type = 'LOGIN' THEN 'login_' || lower(e.event_status::text)
	WHEN e.event_type = 'LOGOUT' THEN 'logout' WHEN e.event_category = 'AUDIT_LOG' THEN 'audit_log' ELSE 'admin' END"
bench_sql A -c "SELECT $kind AS kind, count(*) FROM audit_log.events e GROUP BY 1 ORDER BY 1" \
	-c "SELECT e.event_category, e.event_type, e.event_status, count(*) FROM audit_log.events e GROUP BY 1, 2, 3 ORDER BY 4 DESC"
cols=$(bench_psql A -At -c "SELECT string_agg(format('SELECT %s AS n, %L AS col, kind, avg(coalesce(pg_column_size(e.%I), 0))::numeric(8,1) AS w FROM k e GROUP BY kind', attnum, attname, attname), ' UNION ALL ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = 'audit_log.events'::regclass AND attnum > 0 AND NOT attisdropped")
bench_sql A -c "
WITH k AS (SELECT e.*, $kind AS kind FROM audit_log.events e), w AS ($cols)
SELECT col, admin, login, failed_login, logout FROM (
SELECT n, col, max(w) FILTER (WHERE kind = 'admin') AS admin, max(w) FILTER (WHERE kind = 'login_success') AS login,
	max(w) FILTER (WHERE kind = 'login_failure') AS failed_login, max(w) FILTER (WHERE kind = 'logout') AS logout
FROM w GROUP BY n, col
UNION ALL SELECT 999, '= sum of the columns', $(for k in admin login_success login_failure logout; do
	printf "sum(w) FILTER (WHERE kind = '%s'), " "$k"; done | sed 's/, $//') FROM w) x
ORDER BY n"

echo
echo "== entry_data: top-level keys per row, the bytes of their names, a sample per kind"
bench_sql A -c "
SELECT $kind AS kind, round(avg(pg_column_size(e.entry_data)), 1) AS entry_data_bytes,
	round(avg((SELECT count(*) FROM jsonb_object_keys(e.entry_data))), 1) AS keys,
	round(avg((SELECT coalesce(sum(octet_length(k)), 0) FROM jsonb_object_keys(e.entry_data) k)), 1) AS key_name_bytes
FROM audit_log.events e GROUP BY 1 ORDER BY 1"
bench_sql A -c "SELECT e.event_type, e.event_status, count(*), round(avg(pg_column_size(e.entry_data)), 1) AS entry_data_bytes,
	round(avg(pg_column_size(e.entry_data -> 'attributes')), 1) AS of_which_attributes
FROM audit_log.events e GROUP BY 1, 2 ORDER BY 3 DESC"
bench_psql A -At -c "SELECT DISTINCT ON (e.event_type, e.event_status) e.event_type || ' ' || e.event_status || ': ' || e.entry_data::text
	FROM audit_log.events e ORDER BY e.event_type, e.event_status, e.request_time DESC" | sed "s/$secret/<secret>/g; s/^/   /"
bench_psql A -At -c "SELECT DISTINCT 'source_node ' || quote_literal(source_node) || ', session_id ' || quote_literal(session_id) || ', database_name ' || quote_literal(database_name)
	FROM audit_log.events LIMIT 2" | sed 's/^/   /'

echo
echo "== cuts: the administrative rows copied with one change each, heap bytes per row (measured, not estimated)"
# each a CREATE TABLE AS of the same rows in the same order; the heap per row
# against the copy as it is; entry_data's top-level keys renamed to one
# letter gives the upper bound of shorter key names
cut() { # name, select list
	bench_sql A -c "CREATE TABLE cut_t AS SELECT $2 FROM audit_log.events e WHERE ($kind) = 'admin' ORDER BY e.request_time, e.event_id" >/dev/null
	bench_psql A -At -c "SELECT '$1', round(pg_relation_size('cut_t') / count(*)::numeric, 1) FROM cut_t" -c "DROP TABLE cut_t"
}
ecols=$(bench_psql A -At -c "SELECT string_agg('e.' || quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
	WHERE attrelid = 'audit_log.events'::regclass AND attnum > 0 AND NOT attisdropped")
without() { sed -E "s/(^|, )e\.$1(,|\$)/\1/; s/, \$//" <<<"$ecols"; }
# CREATE and DROP of a role carry all seven attributes; keeping only those
# that are true bounds what listing only those that differ from the defaults saves
trueattrs="CASE WHEN e.entry_data ? 'attributes' THEN jsonb_set(e.entry_data, '{attributes}', (SELECT coalesce(jsonb_object_agg(x.k, x.v), '{}') FROM jsonb_each(e.entry_data -> 'attributes') AS x(k, v) WHERE x.v = 'true')) ELSE e.entry_data END AS entry_data"
shortkeys="(SELECT coalesce(jsonb_object_agg(chr(64 + x.n::int), x.v), '{}') FROM jsonb_each(e.entry_data) WITH ORDINALITY AS x(k, v, n)) AS entry_data"
{
	cut "as it is" "$ecols"
	cut "without source_node" "$(without source_node)"
	cut "without session_id" "$(without session_id)"
	cut "without logged_time" "$(without logged_time)"
	cut "without event_category" "$(without event_category)"
	cut "without database_name" "$(without database_name)"
	cut "entry_data keys of 1 letter" "${ecols/e.entry_data/$shortkeys}"
	cut "entry_data attributes: only the true ones" "${ecols/e.entry_data/$trueattrs}"
	cut "all of the above" "$(without source_node | sed -E 's/(^|, )e\.session_id//; s/(^|, )e\.logged_time//; s/(^|, )e\.event_category//; s/(^|, )e\.database_name//' | sed "s/e\.entry_data/$(sed 's/[&/\]/\\&/g' <<<"$shortkeys")/")"
} >"$dir/cuts"
awk -F'|' 'NR == 1 { base = $2 } { printf "   %-44s %8.1f  saves %6.1f\n", $1, $2, base - $2 }' "$dir/cuts"

echo
echo "== the tuple: header (t_hoff: 23 bytes + null bitmap, aligned to 8), data and alignment, line pointer"
bench_sql A -c "
WITH t AS (
	SELECT p.relid, b.blk, h.lp, h.lp_len, h.t_hoff, h.t_ctid
	FROM pg_partition_tree('audit_log.events') p,
		 LATERAL generate_series(0, (pg_relation_size(p.relid) / current_setting('block_size')::int)::int - 1) AS b(blk),
		 LATERAL heap_page_items(get_raw_page(p.relid::regclass::text, b.blk)) h
	WHERE p.isleaf AND h.lp_len > 0),
r AS (SELECT e.tableoid, e.ctid, $kind AS kind FROM audit_log.events e)
SELECT r.kind, count(*), round(avg(t.t_hoff), 1) AS header, round(avg(t.lp_len - t.t_hoff), 1) AS data,
	round(avg(t.lp_len), 1) AS tuple, round(avg((t.lp_len + 7) / 8 * 8 - t.lp_len), 1) AS align_to_next,
	4 AS line_pointer, round(avg((t.lp_len + 7) / 8 * 8 + 4), 1) AS on_page
FROM t JOIN r ON r.tableoid = t.relid AND r.ctid = ('(' || t.blk || ',' || t.lp || ')')::tid
GROUP BY ROLLUP (r.kind) ORDER BY r.kind NULLS LAST"
bench_sql A -c "
SELECT p.relid::regclass AS partition, pg_relation_size(p.relid) / current_setting('block_size')::int AS pages,
	(SELECT count(*) FROM audit_log.events e WHERE e.tableoid = p.relid) AS rows,
	round((SELECT count(*) FROM audit_log.events e WHERE e.tableoid = p.relid)::numeric
		/ nullif(pg_relation_size(p.relid) / current_setting('block_size')::int, 0), 1) AS rows_per_page
FROM pg_partition_tree('audit_log.events') p WHERE p.isleaf AND pg_relation_size(p.relid) > 0"

if [ -n "${p_per_stmt:-}" ]; then
	ratio=$(bench_ratio "$a_per_ev" "$p_per_stmt")
	echo
	echo "A/P per administrative event: $a_per_ev / $p_per_stmt = $ratio (all of A's bytes over the mix: $tot_per_ev per event)"
	echo "-- a line of P's log for an administrative statement, and for a login (for comparison):"
	grep -m 2 'AUDIT: SESSION' "$dir/P.log" | sed "s/$secret/<secret>/g; s/^/   /"
	grep -m 3 'connection received\|connection authorized\|disconnection' "$dir/P.log" | sed 's/^/   /'
	bench_result storage_admin_event_vs_pgaudit "$ratio" "<=" 2.5 -
fi
bench_stop P 2>/dev/null || true

echo
echo "== part 2: BRIN against B-tree on request_time"
echo "-- the same rows: each partition copied in its physical order, with each index"
bench_sql A -c "CREATE SCHEMA bench" -c "
CREATE FUNCTION bench.ms(q text, n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE j json; a numeric[] := '{}';
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' || q INTO j;
		a := a || (j -> 0 ->> 'Execution Time')::numeric;
	END LOOP;
	RETURN (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 3) FROM unnest(a) x);
END \$\$" -c "
CREATE FUNCTION bench.idx(t text, v text) RETURNS bigint LANGUAGE plpgsql AS \$\$
BEGIN
	IF to_regclass(format('bench.%I', t || '_rt')) IS NOT NULL THEN
		EXECUTE format('DROP INDEX bench.%I', t || '_rt');
	END IF;
	EXECUTE format('CREATE INDEX %I ON bench.%I ', t || '_rt', t) || CASE v
		WHEN 'btree' THEN '(request_time)'
		WHEN 'brin128' THEN 'USING brin (request_time)'
		WHEN 'brin32' THEN 'USING brin (request_time) WITH (pages_per_range = 32)'
		WHEN 'brin_multi32' THEN 'USING brin (request_time timestamptz_minmax_multi_ops) WITH (pages_per_range = 32)' END;
	EXECUTE format('ANALYZE bench.%I', t);
	RETURN pg_relation_size(format('bench.%I', t || '_rt'));
END \$\$"
variants="btree brin128 brin32 brin_multi32"
echo "SELECT format('CREATE TABLE bench.%I AS SELECT * FROM %s', 'same_' || c.relname, p.relid::regclass)
	FROM pg_partition_tree('audit_log.events') p JOIN pg_class c ON c.oid = p.relid
	WHERE p.isleaf AND pg_relation_size(p.relid) > 0 \\gexec" | bench_sql A >/dev/null
printf '%-32s %8s' table rows
for v in $variants; do printf ' %14s' "$v B"; done
for v in $variants; do printf ' %10s' "$v B/ev"; done
echo
for t in $(bench_psql A -At -c "SELECT relname FROM pg_class WHERE relnamespace = 'bench'::regnamespace AND relname LIKE 'same\_%' AND relkind = 'r' ORDER BY 1"); do
	n=$(bench_psql A -At -c "SELECT count(*) FROM bench.$t")
	[ "$n" -gt 0 ] || continue
	printf '%-32s %8d' "$t" "$n"
	sz=()
	for v in $variants; do sz+=("$(bench_psql A -At -c "SELECT bench.idx('$t', '$v')")"); done
	for s in "${sz[@]}"; do printf ' %14d' "$s"; done
	for s in "${sz[@]}"; do printf ' %10.1f' "$(awk -v s="$s" -v n="$n" 'BEGIN { print s / n }')"; done
	echo
	echo "$n ${sz[*]}" >>"$dir/same"
done

echo
echo "-- a day of $ROWS events made of the same rows, in three physical orders"
collist=$(bench_psql A -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
	WHERE attrelid = 'audit_log.events'::regclass AND attnum > 0 AND NOT attisdropped
	AND attname NOT IN ('event_id', 'request_time', 'logged_time')")
day="'2026-01-01 00:00:00+00'::timestamptz"
bench_sql A -c "CREATE TABLE bench.src AS SELECT row_number() OVER (ORDER BY e.request_time, e.event_id) - 1 AS i, e.* FROM audit_log.events e"
nsrc=$(bench_psql A -At -c "SELECT count(*) FROM bench.src")
for o in ordered late5m lateday; do
	case $o in
	ordered) late="0" ;;
	late5m) late="CASE WHEN g % 100 = 37 THEN random() * 300 ELSE 0 END" ;;
	lateday) late="CASE WHEN g % 100 = 37 THEN random() * (g * 86400.0 / $ROWS) ELSE 0 END" ;;
	esac
	# uuid: the time's milliseconds in the first 48 bits, as al_uuid7
	bench_sql A -c "CREATE TABLE bench.$o (LIKE audit_log.events)" -c "
		INSERT INTO bench.$o (event_id, request_time, logged_time, $collist)
		SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0')
				|| substr(replace(gen_random_uuid()::text, '-', ''), 13))::uuid,
			t - make_interval(secs => lt), t + (s.logged_time - s.request_time), $collist
		FROM (SELECT g, $day + make_interval(secs => g * 86400.0 / $ROWS) AS t, $late AS lt
			  FROM generate_series(0, $ROWS - 1) g) x
		JOIN bench.src s ON s.i = x.g % $nsrc
		ORDER BY x.g" -c "ALTER TABLE bench.$o ADD PRIMARY KEY (event_id)" -c "VACUUM (ANALYZE) bench.$o"
done
bench_sql A -c "SELECT 'bench.' || t AS day_table, pg_size_pretty(pg_relation_size(('bench.' || t)::regclass)) AS heap,
	pg_size_pretty(pg_relation_size(('bench.' || t || '_pkey')::regclass)) AS pkey,
	(SELECT correlation FROM pg_stats WHERE schemaname = 'bench' AND tablename = t AND attname = 'request_time') AS request_time_correlation
	FROM unnest('{ordered,late5m,lateday}'::text[]) t"

declare -A Q=(
	[countif_day_by_hour]="SELECT date_trunc('hour', request_time, 'UTC'), audit_log.countif(event_status = 'FAILURE'), count(*) FROM bench.T WHERE request_time >= $day AND request_time < $day + interval '1 day' GROUP BY 1"
	[countif_1h]="SELECT audit_log.countif(event_status = 'FAILURE'), count(*) FROM bench.T WHERE request_time >= $day + interval '10 hours' AND request_time < $day + interval '11 hours'"
	[export_1h]="SELECT * FROM bench.T WHERE request_time >= $day + interval '10 hours' AND request_time < $day + interval '11 hours' ORDER BY request_time, event_id"
	[export_1min]="SELECT * FROM bench.T WHERE request_time >= $day + interval '10 hours' AND request_time < $day + interval '10 hours 1 minute' ORDER BY request_time, event_id"
	[min_request_time]="SELECT min(request_time) FROM bench.T"
	[retention_range_check]="SELECT array_agg(DISTINCT (request_time AT TIME ZONE 'UTC')::date) FROM bench.T WHERE request_time < $day"
)
qnames="countif_day_by_hour countif_1h export_1h export_1min min_request_time retention_range_check"
tim=$dir/timings
: >"$tim"
for o in ordered late5m lateday; do
	for v in $variants; do
		isz=$(bench_psql A -At -c "SELECT bench.idx('$o', '$v')")
		for q in $qnames; do
			# the whole day: a sequential scan whatever the index (timed on the ordered day only)
			[ "$q" = countif_day_by_hour ] && [ "$o" != ordered ] && continue
			sql=${Q[$q]//bench.T/bench.$o}
			ms=$(bench_psql A -At -c "SELECT bench.ms(\$q\$$sql\$q\$, $RUNS)")
			echo "$o $v $isz $q $ms" >>"$tim"
			if [ "$o" != late5m ]; then
				echo "-- plan: $o, $v, $q"
				bench_psql A -At -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, BUFFERS, SUMMARY OFF) $sql" | sed 's/^/   /'
			fi
		done
	done
done
echo
echo "== index size (bytes per event of the day) and query time (ms, median of $RUNS)"
printf '%-8s %-13s %10s %8s' order index "index B" "B/event"
for q in $qnames; do printf ' %12s' "${q:0:12}"; done
echo
awk -v rows="$ROWS" -v qn="$qnames" 'BEGIN { nq = split(qn, qs, " ") }
	{ k = $1 " " $2; if (!(k in sz)) { keys[++n] = k; sz[k] = $3 } t[k " " $4] = $5 }
	END { for (i = 1; i <= n; i++) { split(keys[i], kk, " "); printf "%-8s %-13s %10d %8.2f", kk[1], kk[2], sz[keys[i]], sz[keys[i]] / rows
		for (j = 1; j <= nq; j++) if ((keys[i] " " qs[j]) in t) printf " %12.3f", t[keys[i] " " qs[j]]; else printf " %12s", "-"
		printf "\n" } }' "$tim"

echo
echo "== the queries of the extension that filter on request_time (audit_log--1.0.sql, audit_log--1.0--1.1.sql, src/*.c)"
cat <<'EOF'
   whole days of a partition (partition pruning does the work; a sequential scan with or without the index):
     daily_login_activity's live days, verify(), _maintain_rollups' hourly rebuild of a day, seal.c's day query
     (ORDER BY event_id), the report's per-day listings when the window is whole days
   a part of a day (the B-tree or a BRIN can serve; what export_1h / export_1min / countif_1h measure):
     export.c's events export (WHERE request_time >= from AND < to ORDER BY request_time, event_id),
     _export_report's windows (from_time, to_time), alerts.c's last alerts (request_time > now() - 1 day 1 minute),
     alerts_health.c (request_time > $1), _alert_rules_check (the last 7 days)
   min(request_time) (the B-tree: a few pages per partition; a BRIN: a sequential scan of every partition):
     _scheduled_export's first event, _maintain_seals' first day
   the default partition only (its own B-tree, not changed by a BRIN on the day partitions):
     _expired_default_days (retention), _unplaced_rows, _maintain_partitions, _move_default_rows
EOF
bench_stop A

# what would reach the target: A's bytes per administrative event less the
# B-tree on request_time (BRIN 32 in its place, over all the rows) and
# less each cut (heap bytes per administrative row, measured above)
if [ -n "${p_per_stmt:-}" ]; then
	echo
	echo "== projection: bytes per administrative event, and against P's $p_per_stmt bytes per statement"
	awk -v a="$a_per_ev" -v p="$p_per_stmt" -v cuts="$dir/cuts" '
		{ n += $1; bt += $2; br += $4 } END {
			d = (bt - br) / n
			printf "   %-44s %7.1f  A/P %.3f\n", "as measured", a, a / p
			printf "   %-44s %7.1f  A/P %.3f\n", "BRIN (32) in place of the B-tree", a - d, (a - d) / p
			FS = "|"
			while ((getline line < cuts) > 0) { split(line, f, "|"); if (f[1] == "as it is") { base = f[2]; continue }
				s = base - f[2]
				printf "   %-44s %7.1f  A/P %.3f\n", "BRIN and " f[1], a - d - s, (a - d - s) / p
				printf "   %-44s %7.1f  A/P %.3f\n", "B-tree kept, " f[1], a - s, (a - s) / p }
		}' "$dir/same"
fi
echo
echo "storage.sh ran in $(($(date +%s) - t_start)) s"
