#!/usr/bin/env bash
# bench/trail_reads.sh: the cost of recording reads of the trail (AUDIT_LOG
# READ, audit_log.log_reads) on a reporting query (run as root, ~2 minutes).
#
# A day of audit_log.events (ROWS rows in today's partition), then
# `SELECT count(*) FROM audit_log.events WHERE request_time >= <today>` run
# by pgbench (CLIENTS sessions, DUR seconds) with audit_log.log_reads on and
# off, in PAIRS alternating pairs on the same cluster and data; prints the
# tps of each run, the median of each side and the ratio on / off (target
# >= 0.98).  Each pgbench session records one READ event in its first
# minute; the rest of its statements pay one comparison of the statement
# start time.  A second measurement uses a new connection for every
# statement (pgbench -C), the worst case: every statement then records a
# READ event.
#
# bench/lib.sh builds the extension into a private copy of PostgreSQL 15;
# the throwaway cluster lives in /tmp on a free port between 20000 and
# 32000 and is stopped at the end.
set -eu

DUR=${DUR:-8}
PAIRS=${PAIRS:-3}
ROWS=${ROWS:-200000}
CLIENTS=${CLIENTS:-2}

source "$(dirname "$0")/lib.sh"
bench_setup trail_reads
bench_node main "${BENCH_FAST[@]}" "shared_preload_libraries = 'audit_log'" \
	"audit_log.database = 'postgres'" "max_connections = 50"
# ports 20000-32000 (the machine's rule for test clusters)
port=$((20000 + RANDOM % 12000))
while ss -ltn 2>/dev/null | grep -q ":$port " || [ -e "$BENCH_DIR/.s.PGSQL.$port" ]; do
	port=$((port + 1))
done
echo "port = $port" >>"$BENCH_DIR/main/postgresql.conf"
BENCH_PORT[main]=$port
bench_start main

psql_() { bench_sql main -A -t "$@"; }

psql_ -c "CREATE EXTENSION audit_log" >/dev/null
psql_ -c "SELECT audit_log.maintain()" >/dev/null
echo "== a day of audit_log.events: $ROWS rows in today's partition"
psql_ <<SQL >/dev/null
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, user_name, object_name, database_name, entry_data, origin)
SELECT gen_random_uuid(), t, t, 'ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'user_' || (i % 500),
	NULL, 'postgres', '{"auth_method": "scram-sha-256"}', 'SERVER'
FROM (SELECT i, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
		+ (i % 86000) * interval '1 second' * least(1, extract(epoch FROM now() - date_trunc('day', now())) / 86400) AS t
	  FROM generate_series(1, $ROWS) i) s;
VACUUM ANALYZE audit_log.events;
SQL
cat >"$BENCH_DIR/count.sql" <<'SQL'
SELECT count(*) FROM audit_log.events
WHERE request_time >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
SQL
chown postgres "$BENCH_DIR/count.sql"

set_reads() { # on|off
	psql_ -c "ALTER SYSTEM SET audit_log.log_reads = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
}

measure() { # label, pgbench extra arguments
	local label=$1 on=() off=() i t; shift
	for i in $(seq "$PAIRS"); do
		set_reads off; t=$(bench_tps main "$BENCH_DIR/count.sql" "$CLIENTS" "$DUR" "$@"); off+=("$t")
		set_reads on;  t=$(bench_tps main "$BENCH_DIR/count.sql" "$CLIENTS" "$DUR" "$@"); on+=("$t")
		echo "   pair $i: off ${off[-1]} tps, on ${on[-1]} tps"
	done
	local mon moff
	mon=$(bench_median "${on[@]}")
	moff=$(bench_median "${off[@]}")
	echo "$label: log_reads on median $mon tps (${on[*]}), off median $moff tps (${off[*]}), ratio on/off $(bench_ratio "$mon" "$moff")"
	local per=""
	for i in "${!on[@]}"; do per="$per $(bench_ratio "${on[$i]}" "${off[$i]}")"; done
	[ "$label" = sessions ] && bench_result trail_reads_on_off "$(bench_ratio "$mon" "$moff")" ">=" 0.98 "$(bench_spread $per)"
	return 0
}

echo "== 1. SELECT count(*) over the day, $CLIENTS sessions, $PAIRS pairs of $DUR s"
measure "sessions"
echo "== 2. the same, a new connection per statement (pgbench -C): a READ event every time"
measure "new connection each" -C
psql_ -c "SELECT audit_log.flush('30 seconds')" >/dev/null
echo "READ events recorded: $(psql_ -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'READ'")"
