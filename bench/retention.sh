#!/usr/bin/env bash
# bench/retention.sh: how long audit_log.apply_retention() takes to remove one
# expired UTC day, against DELETE FROM the same day's rows in an equivalent
# unpartitioned table, on 90 days of about 5 million events; whether its time
# grows with the size of the table (about 1 million against about 5 million
# rows, the dropped day the same size in both) or with the size of the day;
# and the least that removing a day by dropping its partition costs at all
# (a bare DROP TABLE of another expired day's partition of the same size:
# no lock timeouts, no row count, no event).
#
# Run as root from anywhere: bench/lib.sh builds audit_log into a private
# copy of the system PostgreSQL 15 (the machine's own installation is not
# touched) and starts a throwaway cluster in /tmp on a free port, stopped and
# removed at the end.
#
# How it measures: the data is loaded with durability off (fast), then the
# server restarts with the settings of a production server (fsync,
# synchronous_commit and full_page_writes on, wal_level replica), because a
# DELETE writes WAL for every row (and a full page image of every page it
# touches first after a checkpoint) and a DROP does not: turning those off
# would flatter the DELETE.  Each timed statement runs in a new session (as a
# pg_cron job runs), right after a CHECKPOINT, and is committed; it removes a
# day of its own, so every run removes a day of the same size from a table
# of (almost) the same size: enough expired days are loaded, and before each
# run audit_log.retention_days is set so that exactly the oldest one left is
# expired.
# The statements compared take turns, so that the load of a shared machine
# weighs on each alike; psql's \timing measures each (commit included).
set -eu

RUNS=${RUNS:-7}			# expired days removed, one per run
SMALL=${SMALL:-1000000}		# rows in the 90 kept days, first measurement
BIG=${BIG:-5000000}			# rows in the 90 kept days, second measurement

source "$(dirname "$0")/lib.sh"
bench_setup retention
work=$BENCH_DIR
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'" \
	"audit_log.capture = 'none'" "shared_buffers = '512MB'" "max_wal_size = '8GB'" \
	"checkpoint_timeout = '30min'" "autovacuum = off" "${BENCH_DURABLE[@]}" "include_if_exists = 'load.conf'"
# while loading only: the server restarts with production durability before
# anything is timed
printf '%s\n' "${BENCH_FAST[@]}" "${BENCH_NO_WAL[@]}" >"$work/main/load.conf"
chown postgres "$work/main/load.conf"
bench_start main
export PATH="$PGBIN:$PATH" PGHOST=$work PGPORT=${BENCH_PORT[main]} PGUSER=postgres PGDATABASE=postgres

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# timed DB SQL: the time of SQL, committed, in a new session of DB, right
# after a CHECKPOINT
timed() {
	psql -X -q -d "$1" -c CHECKPOINT
	printf '\\timing on\n%s\n' "$2" |
		psql -X -At -v ON_ERROR_STOP=1 -d "$1" 2>"$work/timed.err" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	[ ! -s "$work/timed.err" ] || { cat "$work/timed.err" >&2; exit 1; }
}
# keep_days N: set audit_log.retention_days to N (a server setting)
keep_days() {
	sql -c "ALTER SYSTEM SET audit_log.retention_days = $1" -c 'SELECT pg_reload_conf()' >/dev/null
	until [ "$(sql -d small -c 'SHOW audit_log.retention_days')" = "$1" ]; do sleep 0.1; done
}
# day_where N: the rows of the UTC day N days ago
day_where() {
	echo "request_time >= (((now() AT TIME ZONE 'UTC')::date - $1)::timestamp AT TIME ZONE 'UTC') AND request_time < (((now() AT TIME ZONE 'UTC')::date - $1 + 1)::timestamp AT TIME ZONE 'UTC')"
}

sql -c 'CREATE DATABASE small' >/dev/null
for db in postgres small; do sql -d $db -c 'CREATE EXTENSION audit_log' >/dev/null; done
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, PostgreSQL $(sql -c 'SHOW server_version'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# bench_fill(from_day, to_day, rows_per_day, prefix): backdated LOGIN events,
# evenly spread over each UTC day, ids time-ordered like the extension's UUIDv7
for db in postgres small; do sql -d $db <<'SQL'
CREATE FUNCTION bench_fill(from_day int, to_day int, per_day int, prefix int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	today date := (now() AT TIME ZONE 'UTC')::date;
	d int;
BEGIN
	FOR d IN from_day .. to_day LOOP
		PERFORM audit_log._create_day_partition(today + d);
	END LOOP;
	INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
		event_status, event_status_reason_code, user_name, client_addr, application_name,
		database_name, backend_pid, session_id, source_node, entry_data, origin)
	SELECT (lpad(to_hex(prefix), 8, '0') || lpad(to_hex(g), 24, '0'))::uuid,
		t, t, 'ACCESS_SIGMA', 'LOGIN',
		CASE WHEN g % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		CASE WHEN g % 10 = 0 THEN 'INVALID_PASSWORD' END,
		'user_' || g % 5000, '10.0.0.1', 'psql', 'postgres',
		10000 + g % 30000, to_hex(g), 'bench', '{}', 'SERVER'
	FROM generate_series(0, (to_day - from_day + 1)::bigint * per_day - 1) AS g,
		LATERAL (SELECT ((today + from_day + (g / per_day)::int)::timestamp AT TIME ZONE 'UTC')
				 + (g % per_day) * (interval '86400 seconds' / per_day) AS t) AS x;
END
$$;
SQL
done

small_per_day=$((SMALL / 90))
big_per_day=$((BIG / 90))
oldest_small=$((90 + RUNS))		# the oldest expired day of "small" is this many days ago
oldest=$((90 + 3 * RUNS))		# and of "postgres"

# "postgres": 90 kept days of BIG/90 rows and 3 * RUNS expired days of the
# same size (for apply_retention, for the bare DROP TABLE and for the same
# work done by hand);
# "small": 90 kept days of SMALL/90 rows and RUNS expired days of BIG/90
# rows.  In "postgres" also plain_events, an unpartitioned copy of
# audit_log.events with the same indexes.  maintain() then counts every
# closed hour into the rollups, as the daily job does.
start=$(date +%s)
sql -d small -c "SELECT bench_fill(-$oldest_small, -91, $big_per_day, 2)" -c "SELECT bench_fill(-90, -1, $small_per_day, 1)" \
	-c 'SELECT audit_log.maintain()' -c 'VACUUM ANALYZE audit_log.events' >/dev/null
sql -c "SELECT bench_fill(-$oldest, -1, $big_per_day, 1)" -c 'SELECT audit_log.maintain()' \
	-c 'VACUUM ANALYZE audit_log.events' >/dev/null
sql <<'SQL' >/dev/null
CREATE TABLE plain_events AS SELECT * FROM audit_log.events;
ALTER TABLE plain_events ADD PRIMARY KEY (event_id, request_time);
CREATE INDEX ON plain_events (request_time);
VACUUM ANALYZE plain_events;
SQL
rows_small=$(sql -d small -c 'SELECT count(*) FROM audit_log.events')
rows_big=$(sql -c 'SELECT count(*) FROM audit_log.events')
rows_plain=$(sql -c 'SELECT count(*) FROM plain_events')
echo "loaded $rows_small rows (small), $rows_big rows (postgres) and $rows_plain rows (plain_events) in $(( $(date +%s) - start )) s"

# production durability from here on
rm "$work/main/load.conf"
bench_restart main
echo "restarted with fsync = $(sql -c 'SHOW fsync'), synchronous_commit = $(sql -c 'SHOW synchronous_commit'), full_page_writes = $(sql -c 'SHOW full_page_writes'), wal_level = $(sql -c 'SHOW wal_level')"

# partition DB N: the partition of the UTC day N days ago, by name
partition() { sql -d "$1" -c "SELECT audit_log.partition_name((now() AT TIME ZONE 'UTC')::date - $2)"; }

# by_hand N: the statements apply_retention() runs to drop the day N days
# ago, typed by hand (no PL/pgSQL, no lock timeouts, no retries), one psql
# script in a new session right after a CHECKPOINT: the sum of their times
by_hand() {
	local part day
	part=$(partition postgres "$1")
	day=$(sql -c "SELECT (now() AT TIME ZONE 'UTC')::date - $1")
	psql -X -q -c CHECKPOINT
	psql -X -At -v ON_ERROR_STOP=1 2>"$work/timed.err" <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{ s += $1 } END { print s }'
\\timing on
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('audit_log.apply_retention'));
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'audit_log.events'::regclass AND c.relname ~ '^events_p[0-9]{8}\$' AND c.relname <= '$part';
SELECT count(*) FROM ONLY audit_log.events_default WHERE request_time < '$day'::date + 1;
LOCK TABLE ONLY audit_log.events IN ACCESS EXCLUSIVE MODE;
LOCK TABLE ONLY audit_log.events_default IN ACCESS EXCLUSIVE MODE NOWAIT;
LOCK TABLE audit_log.$part IN ACCESS EXCLUSIVE MODE NOWAIT;
SELECT audit_log._rollup_day_rows('$day', 'audit_log.$part'::regclass);
DROP TABLE audit_log.$part;
SELECT audit_log._on_days_dropped(ARRAY['$day'::date]);
SELECT audit_log.log_event('AUDIT_LOG', 'RETENTION', 'SUCCESS', object_name => 'audit_log.events',
	entry_data => '{"by_hand": true}');
UPDATE audit_log._retention_state SET last_run = clock_timestamp();
COMMIT;
SQL
	[ ! -s "$work/timed.err" ] || { cat "$work/timed.err" >&2; exit 1; }
}

# Run i, in "postgres": a bare DROP TABLE of the oldest day left (what
# dropping a day's partition costs at the least: no lock timeouts, no count,
# no event), the statements of apply_retention() by hand for the next day,
# then apply_retention() with retention_days set so that exactly the day
# after that is expired, then the DELETE of that same day from
# plain_events; in "small", apply_retention() of its oldest day left.
drop_sql='SELECT * FROM audit_log.apply_retention();'
for i in $(seq "$RUNS"); do
	n=$((oldest - 3 * (i - 1)))
	echo "floor $(timed postgres "DROP TABLE audit_log.$(partition postgres $n);")"
	n=$((n - 1))
	echo "hand $(by_hand $n)"
	n=$((n - 1))
	keep_days $((n - 1))
	echo "big $(timed postgres "$drop_sql")"
	echo "delete $(timed postgres "DELETE FROM plain_events WHERE $(day_where $n);")"
	n=$((oldest_small - i + 1))
	keep_days $((n - 1))
	echo "small $(timed small "$drop_sql")"
done >"$work/times"
awk 'NF != 2 { bad = 1 } END { exit bad }' "$work/times" || { echo "a timed statement failed:"; cat "$work/times"; exit 1; }
# what the runs removed: every expired day, whole, and nothing else
dropped_big=$(sql -c "SELECT count(*) || ' days, ' || sum((entry_data->>'dropped_rows')::bigint) || ' rows' FROM audit_log.events WHERE event_type = 'RETENTION' AND NOT entry_data ? 'by_hand'")
dropped_small=$(sql -d small -c "SELECT count(*) || ' days, ' || sum((entry_data->>'dropped_rows')::bigint) || ' rows' FROM audit_log.events WHERE event_type = 'RETENTION'")
left_big=$(sql -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN'")
left_small=$(sql -d small -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN'")
left_plain=$(sql -c "SELECT count(*) FROM plain_events WHERE event_type = 'LOGIN'")
[ "$left_big" = "$((90 * big_per_day))" ] && [ "$left_small" = "$((90 * small_per_day))" ] &&
	[ "$left_plain" = "$((left_big + 2 * RUNS * big_per_day))" ] ||
	{ echo "the runs did not remove exactly the expired days: $left_big, $left_small and $left_plain rows left"; exit 1; }
echo "removed by apply_retention: $dropped_big (postgres), $dropped_small (small); $left_big, $left_small and $left_plain rows left"
t_big=$(awk '$1 == "big" { print $2 }' "$work/times" | bench_median)
t_small=$(awk '$1 == "small" { print $2 }' "$work/times" | bench_median)
t_delete=$(awk '$1 == "delete" { print $2 }' "$work/times" | bench_median)
t_floor=$(awk '$1 == "floor" { print $2 }' "$work/times" | bench_median)
t_hand=$(awk '$1 == "hand" { print $2 }' "$work/times" | bench_median)
runs() { awk -v k="$1" '$1 == k { printf "%s ", $2 }' "$2"; }
echo "apply_retention, a day of $big_per_day rows, table of $rows_big rows: $t_big ms (median of $RUNS; runs: $(runs big "$work/times"))"
echo "apply_retention, a day of $big_per_day rows, table of $rows_small rows: $t_small ms (median of $RUNS; runs: $(runs small "$work/times"))"
echo "DELETE of a day ($big_per_day rows) from plain_events ($rows_plain rows): $t_delete ms (median of $RUNS; runs: $(runs delete "$work/times"))"
echo "bare DROP TABLE of a day's partition ($big_per_day rows): $t_floor ms (median of $RUNS; runs: $(runs floor "$work/times"))"
echo "apply_retention's statements by hand, a day of $big_per_day rows: $t_hand ms (median of $RUNS; runs: $(runs hand "$work/times"))"
t_vacuum=$(timed postgres 'VACUUM plain_events;')
echo "VACUUM of plain_events that frees the space of the $RUNS DELETEs: $t_vacuum ms"

# Days five times bigger (an audit log of about 25 million events in 90
# days): apply_retention reads the row count of a day from the hourly
# rollups, so its own work does not follow the size of the day; the commit
# of any DROP (the files removed) does.
big5=$((big_per_day * 5))
start=$(date +%s)
sql -c "SELECT bench_fill(-96, -91, $big5, 4)" -c 'SELECT audit_log.maintain()' \
	-c "INSERT INTO plain_events SELECT * FROM audit_log.events WHERE request_time < (((now() AT TIME ZONE 'UTC')::date - 90)::timestamp AT TIME ZONE 'UTC')" \
	-c 'VACUUM ANALYZE audit_log.events' -c 'VACUUM ANALYZE plain_events' >/dev/null
echo "loaded 6 expired days of $big5 rows into both tables in $(( $(date +%s) - start )) s"
for n in 96 94 92; do
	echo "floor $(timed postgres "DROP TABLE audit_log.$(partition postgres $n);")"
	keep_days $((n - 2))
	echo "big $(timed postgres "$drop_sql")"
	echo "delete $(timed postgres "DELETE FROM plain_events WHERE $(day_where $((n - 1)));")"
done >"$work/times5"
awk 'NF != 2 { bad = 1 } END { exit bad }' "$work/times5" || { echo "a timed statement failed:"; cat "$work/times5"; exit 1; }
left5=$(sql -c "SELECT count(*) FROM audit_log.events WHERE request_time < (((now() AT TIME ZONE 'UTC')::date - 90)::timestamp AT TIME ZONE 'UTC')")
[ "$left5" = 0 ] || { echo "apply_retention left $left5 expired rows"; exit 1; }
t_big5=$(awk '$1 == "big" { print $2 }' "$work/times5" | bench_median)
t_delete5=$(awk '$1 == "delete" { print $2 }' "$work/times5" | bench_median)
t_floor5=$(awk '$1 == "floor" { print $2 }' "$work/times5" | bench_median)
echo "a day of $big5 rows (median of 3): apply_retention $t_big5 ms ($(runs big "$work/times5")), DELETE $t_delete5 ms ($(runs delete "$work/times5")), bare DROP TABLE $t_floor5 ms ($(runs floor "$work/times5"))"

echo
echo "ratio apply_retention / DELETE, 5M rows, a day of $big_per_day rows: $(bench_ratio "$t_big" "$t_delete") (target <= 0.10)"
bench_result retention_vs_delete "$(bench_ratio "$t_big" "$t_delete")" "<=" 0.10 -
echo "ratio bare DROP TABLE of the partition / DELETE, the same day size (the least any drop costs): $(bench_ratio "$t_floor" "$t_delete")"
echo "ratio apply_retention / bare DROP TABLE: $(bench_ratio "$t_big" "$t_floor"); / its statements by hand: $(bench_ratio "$t_big" "$t_hand")"
echo "ratio apply_retention / (DELETE + its share of the VACUUM): $(bench_ratio "$t_big" "$(awk -v a="$t_delete" -v b="$t_vacuum" -v r="$RUNS" 'BEGIN { print a + b / r }')")"
echo "ratio apply_retention / DELETE, a day of $big5 rows: $(bench_ratio "$t_big5" "$t_delete5"); bare DROP TABLE / DELETE: $(bench_ratio "$t_floor5" "$t_delete5")"
echo "growth of apply_retention from 1M to 5M rows: $(bench_ratio "$t_big" "$t_small") (1.00 = no growth)"
echo "growth from a day of $big_per_day to a day of $big5 rows: apply_retention $(bench_ratio "$t_big5" "$t_big"), bare DROP TABLE $(bench_ratio "$t_floor5" "$t_floor")"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
