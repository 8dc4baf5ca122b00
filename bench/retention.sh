#!/usr/bin/env bash
# bench/retention.sh: how long audit_log.apply_retention() takes to remove one
# expired UTC day, against DELETE FROM the same day's rows in an equivalent
# unpartitioned table, on 90 days of about 5 million events; and whether its
# time grows with the size of the table (about 1 million against about 5
# million rows, the dropped day the same size in both).
#
# Run as root from anywhere: it builds audit_log, installs it into a private
# copy of the system PostgreSQL 15 (/usr/lib/postgresql/15, so that the
# machine's own installation is not touched), starts a throwaway cluster in
# /tmp on a free port, and stops and removes it at the end.  Each timing is
# the median of $RUNS runs of the statement, each in a new session (as a
# pg_cron job runs) and inside BEGIN ... ROLLBACK, so that every run works on
# the same data; psql's \timing measures it.  The statements compared take
# turns, so that the load of a shared machine weighs on each alike.
set -eu

PGVER=15
RUNS=${RUNS:-9}
SMALL=${SMALL:-1000000}		# rows in the 90 kept days, first measurement
BIG=${BIG:-5000000}			# rows in the 90 kept days, second measurement

here=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" = 0 ]; then
	work=$(mktemp -d /tmp/audit_log_bench_retention.XXXXXX)
	mkdir -p "$work/pg/usr/lib/postgresql" "$work/pg/usr/share/postgresql" "$work/pg/usr/include" "$work/src"
	cp -a /usr/lib/postgresql/$PGVER "$work/pg/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/$PGVER "$work/pg/usr/share/postgresql/"
	cp -a /usr/include/postgresql "$work/pg/usr/include/"
	tar -C "$here" --exclude=.git --exclude='tmp_check*' --exclude='*.o' --exclude='*.so' -cf - . | tar -C "$work/src" -xf -
	chown -R postgres:postgres "$work"
	rc=0
	runuser -u postgres -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" LANG=C.UTF-8 \
		BENCH_WORK="$work" RUNS="$RUNS" SMALL="$SMALL" BIG="$BIG" bash "$work/src/bench/retention.sh" || rc=$?
	rm -rf "$work"
	exit $rc
fi

work=${BENCH_WORK:?run this script as root}
bindir="$work/pg/usr/lib/postgresql/$PGVER/bin"
export PATH="$bindir:$PATH"

echo "== build"
make -s -C "$work/src" PG_CONFIG="$bindir/pg_config" >"$work/build.log" 2>&1 &&
	make -s -C "$work/src" PG_CONFIG="$bindir/pg_config" install >>"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; exit 1; }

port=$((20000 + RANDOM % 20000))
while pg_isready -q -h "$work" -p "$port" 2>/dev/null || ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
initdb -D "$work/data" -A trust -U postgres >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log"; exit 1; }
cat >>"$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'audit_log'
audit_log.database = 'postgres'
audit_log.capture = 'none'
shared_buffers = '512MB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
# a throwaway cluster: load fast (the timed statements are rolled back, or
# are one commit each, so these do not favour either side)
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
autovacuum = off
CONF
trap 'pg_ctl -D "$work/data" -m fast -w stop >/dev/null 2>&1' EXIT
pg_ctl -D "$work/data" -l "$work/server.log" -w start >/dev/null || { cat "$work/server.log"; exit 1; }
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# time_ms DB SQL: the time of SQL in a new session of DB, rolled back
time_ms() {
	printf 'BEGIN;\n\\timing on\n%s\n\\timing off\nROLLBACK;\n' "$2" |
		psql -X -At -v ON_ERROR_STOP=1 -d "$1" 2>/dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
# committed_ms DB SQL: the same, committed
committed_ms() {
	printf '\\timing on\n%s\n' "$2" |
		psql -X -At -v ON_ERROR_STOP=1 -d "$1" 2>/dev/null | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
median() { sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }'; }

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
		database_name, backend_pid, session_id, source_node, entry_data)
	SELECT (lpad(to_hex(prefix), 8, '0') || lpad(to_hex(g), 24, '0'))::uuid,
		t, t, 'ACCESS_SIGMA', 'LOGIN',
		CASE WHEN g % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		CASE WHEN g % 10 = 0 THEN 'INVALID_PASSWORD' END,
		'user_' || g % 5000, '10.0.0.1', 'psql', 'postgres',
		10000 + g % 30000, to_hex(g), 'bench', '{}'
	FROM generate_series(0, (to_day - from_day + 1)::bigint * per_day - 1) AS g,
		LATERAL (SELECT ((today + from_day + (g / per_day)::int)::timestamp AT TIME ZONE 'UTC')
				 + (g % per_day) * (interval '86400 seconds' / per_day) AS t) AS x;
END
$$;
SQL
done

small_per_day=$((SMALL / 90))
big_per_day=$((BIG / 90))
drop_sql='SELECT * FROM audit_log.apply_retention();'

expired_where="request_time < (((now() AT TIME ZONE 'UTC')::date - 90)::timestamp AT TIME ZONE 'UTC')"
delete_sql="DELETE FROM plain_events WHERE request_time >= (((now() AT TIME ZONE 'UTC')::date - 91)::timestamp AT TIME ZONE 'UTC') AND $expired_where;"

# Two databases: "small" with about 1 million rows (90 kept days) and
# "postgres" with about 5 million, each with one expired day (91 days old)
# of the same size; in "postgres" also plain_events, an unpartitioned copy
# of audit_log.events with the same indexes.
start=$(date +%s)
sql -d small -c "SELECT bench_fill(-91, -91, $big_per_day, 2)" -c "SELECT bench_fill(-90, -1, $small_per_day, 1)" \
	-c 'VACUUM ANALYZE audit_log.events' >/dev/null
sql -c "SELECT bench_fill(-91, -1, $big_per_day, 1)" -c 'VACUUM ANALYZE audit_log.events' >/dev/null
sql <<'SQL' >/dev/null
CREATE TABLE plain_events AS SELECT * FROM audit_log.events;
ALTER TABLE plain_events ADD PRIMARY KEY (event_id, request_time);
CREATE INDEX ON plain_events (request_time);
VACUUM ANALYZE plain_events;
SQL
rows_small=$(sql -d small -c 'SELECT count(*) FROM audit_log.events')
rows_big=$(sql -c 'SELECT count(*) FROM audit_log.events')
rows_plain=$(sql -c 'SELECT count(*) FROM plain_events')
expired=$(sql -c "SELECT count(*) FROM audit_log.events WHERE $expired_where")
echo "loaded $rows_small rows (small), $rows_big rows (postgres) and $rows_plain rows (plain_events) in $(( $(date +%s) - start )) s"
check_small=$(sql -d small -c "BEGIN" -c "$drop_sql" -c "ROLLBACK" | tr '\n' ' ')
check_big=$(sql -c "BEGIN" -c "$drop_sql" -c "ROLLBACK" | tr '\n' ' ')
deleted=$(printf 'BEGIN;\n%s\nROLLBACK;\n' "$delete_sql" | psql -X -At -v ON_ERROR_STOP=1 | sed -n 's/^DELETE //p')
[ -n "$check_small" ] && [ -n "$check_big" ] || { echo "apply_retention dropped nothing: the benchmark is broken"; exit 1; }
echo "apply_retention drops: $check_small(small), $check_big(postgres); DELETE deletes $deleted rows"

# The three statements take turns, so that the load of a shared machine
# weighs on each alike.
for i in $(seq "$RUNS"); do
	echo "small $(time_ms small "$drop_sql")"
	echo "big $(time_ms postgres "$drop_sql")"
	echo "delete $(time_ms postgres "$delete_sql")"
done >"$work/times"
t_small=$(awk '$1 == "small" { print $2 }' "$work/times" | median)
t_big=$(awk '$1 == "big" { print $2 }' "$work/times" | median)
t_delete=$(awk '$1 == "delete" { print $2 }' "$work/times" | median)
echo "apply_retention, one expired day of $expired rows, table of $rows_small rows: $t_small ms (median of $RUNS)"
echo "apply_retention, one expired day of $expired rows, table of $rows_big rows: $t_big ms (median of $RUNS)"
echo "DELETE of the same day ($deleted rows) from plain_events ($rows_plain rows): $t_delete ms (median of $RUNS)"

# committed, once each: what a user sees, and what the table lock costs
# others; a DELETE only frees the space after a VACUUM of the whole table
t_ret_commit=$(committed_ms postgres "$drop_sql")
lock_ms=$(sql -c "SELECT entry_data->>'table_lock_ms' FROM audit_log.events WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1")
left=$(sql -c "SELECT count(*) FROM audit_log.events WHERE $expired_where")
t_del_commit=$(committed_ms postgres "$delete_sql")
t_vacuum=$(committed_ms postgres 'VACUUM plain_events;')
echo "committed: apply_retention $t_ret_commit ms (table-wide lock held $lock_ms ms), DELETE $t_del_commit ms, then VACUUM $t_vacuum ms"

# 4. a day five times bigger (an audit log of about 25 million events in 90
#    days), in both tables: apply_retention's only cost per row is a count(*)
start=$(date +%s)
sql -c "SELECT bench_fill(-91, -91, $((big_per_day * 5)), 4)" \
	-c "INSERT INTO plain_events SELECT * FROM audit_log.events WHERE $expired_where" \
	-c 'VACUUM ANALYZE audit_log.events' -c 'VACUUM ANALYZE plain_events' >/dev/null
expired5=$(sql -c "SELECT count(*) FROM audit_log.events WHERE $expired_where")
for i in $(seq 5); do
	echo "big $(time_ms postgres "$drop_sql")"
	echo "delete $(time_ms postgres "$delete_sql")"
done >"$work/times5"
t_big5=$(awk '$1 == "big" { print $2 }' "$work/times5" | median)
t_delete5=$(awk '$1 == "delete" { print $2 }' "$work/times5" | median)
echo "loaded a day of $expired5 rows into both tables in $(( $(date +%s) - start )) s"
echo "that day: apply_retention $t_big5 ms, DELETE $t_delete5 ms (median of 5)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo
echo "ratio apply_retention / DELETE, 5M rows, same day of $expired rows, median of $RUNS rolled back: $(ratio "$t_big" "$t_delete") (target <= 0.10)"
echo "ratio apply_retention / DELETE, a day of $expired5 rows, median of 5 rolled back: $(ratio "$t_big5" "$t_delete5")"
echo "ratio apply_retention / DELETE, committed once: $(ratio "$t_ret_commit" "$t_del_commit")"
echo "ratio apply_retention / (DELETE + VACUUM), committed once: $(ratio "$t_ret_commit" "$(awk -v a="$t_del_commit" -v b="$t_vacuum" 'BEGIN { print a + b }')")"
echo "growth of apply_retention from 1M to 5M rows: $(ratio "$t_big" "$t_small") (1.00 = no growth)"
echo "expired rows left after the committed run: $left"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
