#!/usr/bin/env bash
# bench/capture.sh: login capture benchmarks (run as root, ~1.5 minutes).
#
# 1. Connection rate: pgbench -C (a new connection per transaction, trivial
#    query) against the same cluster without the library and with it
#    preloaded (capture on); prints the ratio (target >= 0.95).  Because
#    the rate swings with the load of a shared machine, it also prints the
#    server CPU time per connection (postmaster, backends, writer), which
#    is much steadier.
# 2. Lag: logins at 200 per second (pgbench -C -R 200); the 99th percentile
#    of logged_time - request_time of their LOGIN rows (target < 1 s).
#
# The writer's throughput from a full queue, once section 3 here, is
# bench/writer.sh (rounds, against INSERT ... SELECT and COPY FROM).
#
# bench/lib.sh builds the extension into a private copy of the system
# PostgreSQL 15 (parallel installs by others cannot swap the library under
# the benchmark); the throwaway cluster lives in /tmp on a free port and is
# stopped at the end.
set -eu

DUR=${DUR:-8}
PAIRS=${PAIRS:-2}

source "$(dirname "$0")/lib.sh"
bench_setup capture
bench_node main "max_connections = 50" "${BENCH_DURABLE[@]}" "audit_log.database = 'postgres'" "audit_log.queue_wait = '0'"
work=$BENCH_DIR
DATA=$BENCH_DIR/main
SOCK=$BENCH_DIR
PORT=${BENCH_PORT[main]}
BIN=$PGBIN
echo "SELECT 1;" >"$work/select1.sql"
chown postgres "$work/select1.sql"

as_pg() { bench_as_pg "$@"; }
psql_() { bench_psql main -A -t "$@"; }

start() { # preload|nopreload
	bench_stop main >/dev/null 2>&1 || true
	if [ "$1" = preload ]; then
		bench_start main "-c shared_preload_libraries=audit_log"
	else
		bench_start main
	fi
}

conn_rate() { # prints connections per second
	as_pg $BIN/pgbench -n -C -c 4 -j 2 -T "$DUR" -f "$work/select1.sql" -h "$SOCK" -p "$PORT" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

start preload
psql_ -c "CREATE EXTENSION audit_log" >/dev/null

ONLY=${ONLY:-12}
if [[ $ONLY == *1* ]]; then
echo "== 1. connection rate, pgbench -C -c 4 -j 2 -T $DUR (Unix socket, trust), $PAIRS alternating pairs"
ratios=""
for i in $(seq 1 "$PAIRS"); do
	start nopreload; without=$(conn_rate)
	start preload;   with=$(conn_rate)
	r=$(echo "$with / $without" | bc -l)
	ratios="$ratios $r"
	printf "pair %d: without library %.0f conn/s, with capture %.0f conn/s, ratio %.3f\n" "$i" "$without" "$with" "$r"
done
median=$(bench_median $ratios)
printf "median ratio: %.3f (target >= 0.95)\n" "$median"
bench_result capture_conn_rate "$(printf '%.3f' "$median")" ">=" 0.95 "$(bench_spread $ratios)"

# On a shared machine the rate above is at the mercy of other load; the CPU
# the server spends per connection is not.  Server CPU = the postmaster and
# its exited children (utime, stime, cutime, cstime) plus its live children
# (the writer among them).
server_ticks() {
	local pm total=0 pid
	pm=$(head -1 "$DATA/postmaster.pid")
	total=$(awk '{print $14 + $15 + $16 + $17}' /proc/$pm/stat)
	for pid in $(ps -o pid= --ppid "$pm"); do
		[ -r /proc/$pid/stat ] && total=$((total + $(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null || echo 0)))
	done
	echo "$total"
}
cpu_per_conn() { # prints server CPU milliseconds per connection
	local t0 t1 n=2000
	t0=$(server_ticks)
	as_pg $BIN/pgbench -n -C -c 4 -j 2 -t $((n / 4)) -f "$work/select1.sql" -h "$SOCK" -p "$PORT" postgres >/dev/null 2>&1
	sleep 0.5	# let the last backends exit and the writer write
	t1=$(server_ticks)
	echo "($t1 - $t0) * 1000 / $(getconf CLK_TCK) / $n" | bc -l
}
cw=0; cc=0
for i in $(seq 1 "$PAIRS"); do
	start nopreload; a=$(cpu_per_conn)
	start preload;   b=$(cpu_per_conn)
	printf "cpu pair %d: without library %.3f ms/conn, with capture %.3f ms/conn\n" "$i" "$a" "$b"
	cw=$(echo "$cw + $a" | bc -l); cc=$(echo "$cc + $b" | bc -l)
done
printf "server CPU per connection (mean of %d x 2000 connections): without library %.3f ms, with capture %.3f ms; throughput equivalent ratio %.3f (target >= 0.95)\n" \
	"$PAIRS" "$(echo "$cw / $PAIRS" | bc -l)" "$(echo "$cc / $PAIRS" | bc -l)" "$(echo "$cw / $cc" | bc -l)"
bench_result capture_conn_cpu_equiv "$(printf '%.3f' "$(echo "$cw / $cc" | bc -l)")" ">=" 0.95 -
psql_ -c "SELECT audit_log.flush('60 s')" >/dev/null
psql_ -c "SELECT 'events written: ' || written || ', dropped: ' || dropped FROM audit_log.status"

fi
if [[ $ONLY == *2* ]]; then
echo "== 2. lag at 200 logins/s (pgbench -C -R 200 -T $DUR, flush_interval default 100ms)"
t0=$(psql_ -c "SELECT now()")
as_pg $BIN/pgbench -n -C -c 4 -j 2 -R 200 -T "$DUR" -f "$work/select1.sql" -h "$SOCK" -p "$PORT" \
	-d postgres >/dev/null 2>&1
psql_ -c "SELECT audit_log.flush('60 s')" >/dev/null
psql_ -c "
SELECT 'logins: ' || count(*)
	|| ', rate: ' || round(count(*) / extract(epoch FROM max(request_time) - min(request_time)))
	|| '/s, lag p50: ' || round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM logged_time - request_time)))
	|| ' ms, p99: ' || round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM logged_time - request_time)))
	|| ' ms, max: ' || round(1000 * max(extract(epoch FROM logged_time - request_time))) || ' ms (target p99 <= 2 x flush_interval = 200 ms, issue 20)'
FROM audit_log.events WHERE event_type = 'LOGIN' AND request_time >= '$t0'"
p99=$(psql_ -c "SELECT round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM logged_time - request_time))) FROM audit_log.events WHERE event_type = 'LOGIN' AND request_time >= '$t0'")
bench_result capture_lag_p99_ms "$p99" "<=" 200 -

fi
echo "== machine: $(nproc) cores, $(date -u +%Y-%m-%d)"
