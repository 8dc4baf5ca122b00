#!/usr/bin/env bash
# bench/fleet.sh: how fast a collector takes in the audit logs of two sources.
#
# Run as root: bench/lib.sh builds this tree into a private copy of the
# system PostgreSQL 15; three throwaway clusters under /tmp (two sources,
# one collector, on free ports) are stopped at the end.  About 3 minutes; LIVE_SECONDS, BACKLOG and ROUNDS
# may be set in the environment.
#
#  A. live: pgbench on each source writes log_event as fast as it can for
#     $LIVE_SECONDS s with synchronous_commit = off, then for half as long
#     with synchronous_commit = on; the collector is polled with its own clock to measure
#     the end-to-end lag (collector clock - newest source request_time seen)
#     and, when the writers stop, how long it takes to drain what is left.
#  B. ingest capacity: the subscriptions are disabled while each source
#     writes $BACKLOG events, then enabled; the collector's apply rate (from
#     the first event applied to the last, without the workers' start-up) is
#     compared with the same number of events inserted locally on the
#     collector, by two sessions, one row per transaction, prepared: plain
#     INSERT of the same columns (the native SQL) and log_event.  Two
#     measures: wall-clock events/s (on this one machine the sources and
#     their walsenders share the cores) and events per CPU second of the
#     collector's processes (what a dedicated collector could ingest per
#     core).  $ROUNDS rounds, best of each, because the machine is shared.
#
# The clusters run with synchronous_commit = off (the subscription's apply
# worker commits that way by default), so that B compares work, not the fsync
# latency of a shared disk.  With synchronous_commit = off on a source, a
# commit's WAL reaches the walsender only when the WAL writer flushes it
# (wal_writer_delay, 200 ms), which is then most of the lag; so A also runs
# with synchronous_commit = on, a source's default.
set -euo pipefail

LIVE_SECONDS=${LIVE_SECONDS:-30}
BACKLOG=${BACKLOG:-30000}
ROUNDS=${ROUNDS:-2}

source "$(dirname "$0")/lib.sh"
bench_setup fleet
work=$BENCH_DIR

as_pg() { bench_as_pg "$@"; }
psql_at() { # port sql...
	local port=$1; shift
	as_pg "$PGBIN/psql" -X -q -At -h "$work" -p "$port" -d postgres -v ON_ERROR_STOP=1 "$@"
}

declare -A PORT=()
for n in src1 src2 coll; do
	# the pipeline alone: no login capture (the polling sessions would add events)
	bench_node $n "cluster_name = '$n'" "shared_preload_libraries = 'audit_log'" \
		"audit_log.database = 'postgres'" "audit_log.capture = 'none'" "wal_level = logical" \
		"max_replication_slots = 8" "max_wal_senders = 8" "max_worker_processes = 16" \
		"synchronous_commit = off" "shared_buffers = 128MB" "max_wal_size = 2GB"
	PORT[$n]=${BENCH_PORT[$n]}
	bench_start $n
	psql_at "${PORT[$n]}" -c "CREATE EXTENSION audit_log" \
		-c "SELECT audit_log.register_event_type('AUDIT_LOG', 'BENCH', 'fleet benchmark event')" \
		-c "SELECT audit_log.register_event_type('AUDIT_LOG', 'BENCH_END', 'fleet benchmark: the last event of a run')" >/dev/null
done
for n in src1 src2; do
	psql_at "${PORT[$n]}" -c "CREATE ROLE fleet_repl LOGIN REPLICATION; GRANT audit_log_reader TO fleet_repl;" \
		-c "SELECT audit_log.create_publication()"
	psql_at "${PORT[coll]}" -c "SELECT audit_log.add_source('$n', 'host=$work port=${PORT[$n]} dbname=postgres user=fleet_repl')"
done
psql_at "${PORT[coll]}" -c "CREATE TABLE bench_lag (t timestamptz, source text, newest timestamptz)"

cat >"$work/log_event.sql" <<'EOF'
SELECT audit_log.log_event('AUDIT_LOG', 'BENCH', object_name => 'bench');
EOF
cat >"$work/insert.sql" <<'EOF'
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type, event_status, user_name, application_name, database_name, backend_pid, session_id, source_node, entry_data, origin) VALUES (gen_random_uuid(), now(), now(), 'AUDIT_LOG', 'BENCH', 'SUCCESS', current_user, 'pgbench', 'postgres', pg_backend_pid(), 'x', 'coll', '{}', 'SERVER');
EOF
chown postgres "$work"/*.sql

ncores=$(nproc)
total_at() { psql_at "$1" -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'BENCH'"; }
coll_from() { psql_at "${PORT[coll]}" -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'BENCH' AND source_node IN ('src1', 'src2')"; }
# Each source writes a marker event after a run; a subscription applies a
# source's transactions in commit order, so when both markers are at the
# collector, so is everything before them.  One session polls, with a cheap
# query (the newest rows of each source), so that polling costs little.
mark() { # tag
	for n in src1 src2; do
		psql_at "${PORT[$n]}" -c "SELECT audit_log.log_event('AUDIT_LOG', 'BENCH_END', object_name => '$1')" >/dev/null
	done
}
wait_marks() { # tag
	psql_at "${PORT[coll]}" -c "
DO \$\$
BEGIN
	WHILE (SELECT count(*) FROM unnest(ARRAY['src1', 'src2']) s
		   WHERE EXISTS (SELECT 1 FROM (SELECT e.object_name FROM audit_log.events e
										WHERE e.source_node = s ORDER BY e.request_time DESC LIMIT 3) x
						 WHERE x.object_name = '$1')) < 2 LOOP
		PERFORM pg_sleep(0.02);
	END LOOP;
END
\$\$"
}
now_s() { date +%s.%N; }
# Phase B: seconds from the arrival of the first "start" marker to that of
# both end markers, i.e. the apply itself, without the workers' start-up.
wait_steady() { # start-tag end-tag since-epoch
	psql_at "${PORT[coll]}" -c "
DO \$\$
DECLARE ta timestamptz;
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM audit_log.events e
					  WHERE e.request_time >= to_timestamp($3) AND e.object_name = '$1') LOOP
		PERFORM pg_sleep(0.01);
	END LOOP;
	ta := clock_timestamp();
	WHILE (SELECT count(*) FROM unnest(ARRAY['src1', 'src2']) s
		   WHERE EXISTS (SELECT 1 FROM (SELECT e.object_name FROM audit_log.events e
										WHERE e.source_node = s ORDER BY e.request_time DESC LIMIT 3) x
						 WHERE x.object_name = '$2')) < 2 LOOP
		PERFORM pg_sleep(0.01);
	END LOOP;
	RAISE NOTICE 'steady %', extract(epoch FROM clock_timestamp() - ta);
END
\$\$" 2>&1 | sed -n 's/.*NOTICE:  steady //p'
}

# wait until the first synchronisation is over
until [ "$(psql_at "${PORT[coll]}" -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do sleep 0.2; done

live() { # synchronous_commit seconds tag
	local sync=$1 secs=$2 tag=$3 before t0 t1 t2 written sampler writers=()
	echo "== A. live: two sources writing log_event for ${secs}s (pgbench, 1 client each, synchronous_commit = $sync), $ncores cores"
	before=$(( $(total_at "${PORT[src1]}") + $(total_at "${PORT[src2]}") ))
	# The collector samples, with its own clock, the newest event of each source.
	psql_at "${PORT[coll]}" -c "
DO \$\$
DECLARE stop timestamptz := clock_timestamp() + interval '$((secs + 3)) seconds';
BEGIN
	WHILE clock_timestamp() < stop LOOP
		INSERT INTO bench_lag
		SELECT clock_timestamp(), s, (SELECT e.request_time FROM audit_log.events e
									  WHERE e.source_node = s AND e.event_type = 'BENCH'
									  ORDER BY e.request_time DESC LIMIT 1)
		FROM unnest(ARRAY['src1', 'src2']) s;
		COMMIT;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
\$\$" &
	sampler=$!
	sleep 1
	t0=$(now_s)
	for n in src1 src2; do
		as_pg env PGOPTIONS="-c synchronous_commit=$sync" "$PGBIN/pgbench" -n -h "$work" -p "${PORT[$n]}" -c 1 -T "$secs" -f "$work/log_event.sql" postgres >"$work/pgbench_$n.out" 2>&1 &
		writers+=($!)
	done
	wait "${writers[@]}"
	t1=$(now_s)
	mark "$tag"
	wait_marks "$tag"
	t2=$(now_s)
	written=$(( $(total_at "${PORT[src1]}") + $(total_at "${PORT[src2]}") - before ))
	wait "$sampler" || true
	psql_at "${PORT[coll]}" -c "
	SELECT 'end-to-end lag (collector clock - newest source request_time), ms: p50 '
		|| round(1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY t - newest)))
		|| ', p95 ' || round(1000 * extract(epoch FROM percentile_cont(0.95) WITHIN GROUP (ORDER BY t - newest)))
		|| ', max ' || round(1000 * extract(epoch FROM max(t - newest)))
		|| ' (' || count(*) || ' samples, every 0.1 s)'
	FROM bench_lag WHERE newest IS NOT NULL AND t BETWEEN to_timestamp($t0) + interval '1 second' AND to_timestamp($t1)"
	awk -v w="$written" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
		printf "sources wrote %d events in %.1f s: %.0f events/s together\n", w, b - a, w / (b - a);
		printf "collector had them all %.2f s after the writers stopped: %.0f events/s kept up with\n", c - b, w / (c - a) }'
}
if [ "$LIVE_SECONDS" != 0 ]; then
	# as fast as the sources can: their commits do not wait for the disk
	live off "$LIVE_SECONDS" live_off
	# as a source commits by default: the lag a user sees
	live on $((LIVE_SECONDS / 2)) live_on
fi
[ -n "${NO_GUARD:-}" ] && psql_at "${PORT[coll]}" -c "ALTER TABLE audit_log.events DISABLE TRIGGER events_skip_duplicate"

if [ "$ROUNDS" != 0 ]; then
echo "== B. ingest capacity: a backlog of $BACKLOG events per source, subscriptions enabled at once; $ROUNDS rounds, best of each"
# The same number of events inserted locally on the collector, two sessions.
local_rate() { # script
	as_pg "$PGBIN/pgbench" -n -M prepared -h "$work" -p "${PORT[coll]}" -c 2 -j 2 -t "$BACKLOG" -f "$1" postgres 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
}
# CPU seconds used so far by a cluster's server processes: the postmaster,
# its live children, and the children it has reaped.
cpu_of() { # node
	local pm ticks=0 p
	pm=$(head -1 "$work/$1/postmaster.pid")
	for p in $pm $(ps -o pid= --ppid "$pm"); do
		ticks=$((ticks + $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk -v pm="$pm" -v me="$p" '{ t = $12 + $13; if (me == pm) t += $14 + $15; print t }' || echo 0)))
	done
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
coll_cpu() { cpu_of coll; }
src_cpu() { awk -v a="$(cpu_of src1)" -v b="$(cpu_of src2)" 'BEGIN { printf "%.2f", a + b }'; }
per_cpu_s() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a > b) ? a : b }'; }
best_apply=0; best_insert=0; best_log_event=0; best_apply_cpu=0; best_insert_cpu=0; best_log_event_cpu=0
for round in $(seq 1 "$ROUNDS"); do
	for n in src1 src2; do psql_at "${PORT[coll]}" -c "ALTER SUBSCRIPTION audit_log_src_$n DISABLE"; done
	sleep 1
	since=$(now_s)
	mark "start$round"
	writers=()
	for n in src1 src2; do
		as_pg "$PGBIN/pgbench" -n -h "$work" -p "${PORT[$n]}" -c 1 -t "$BACKLOG" -f "$work/log_event.sql" postgres >"$work/pgbench_b_$n.out" 2>&1 &
		writers+=($!)
	done
	wait "${writers[@]}"
	mark "round$round"
	t0=$(now_s)
	c0=$(coll_cpu)
	s0=$(src_cpu)
	# one transaction: the launcher then starts both workers at once (it
	# starts workers at most every wal_retrieve_retry_interval, 5 s)
	psql_at "${PORT[coll]}" -c "BEGIN; ALTER SUBSCRIPTION audit_log_src_src1 ENABLE; ALTER SUBSCRIPTION audit_log_src_src2 ENABLE; COMMIT;"
	steady=$(wait_steady "start$round" "round$round" "$since")
	t1=$(now_s)
	c1=$(coll_cpu)
	s1=$(src_cpu)
	apply_rate=$(awk -v n=$((2 * BACKLOG)) -v d="$steady" 'BEGIN { printf "%.0f", n / d }')
	apply_cpu=$(per_cpu_s $((2 * BACKLOG)) "$c0" "$c1")
	awk -v w="$t0" -v x="$t1" -v d="$steady" -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" -v n=$((2 * BACKLOG)) 'BEGIN {
		printf "  %.1f s from ENABLE to the last event (%.0f events/s), of which %.1f s applying after the workers started; meanwhile the collector was busy %.2f cores, the sources (walsenders decoding) %.2f cores\n",
			x - w, n / (x - w), d, (c1 - c0) / (x - w), (s1 - s0) / (x - w) }'

	c0=$(coll_cpu)
	insert_rate=$(local_rate "$work/insert.sql")
	c1=$(coll_cpu)
	insert_cpu=$(per_cpu_s $((2 * BACKLOG)) "$c0" "$c1")
	c0=$(coll_cpu)
	log_event_rate=$(local_rate "$work/log_event.sql")
	c1=$(coll_cpu)
	log_event_cpu=$(per_cpu_s $((2 * BACKLOG)) "$c0" "$c1")
	printf "round %d, %d events: collector applied %.0f/s once started (%.0f per collector CPU second, start-up included); locally, 2 sessions, 1 row per transaction: plain INSERT %.0f/s (%.0f per CPU s), log_event %.0f/s (%.0f per CPU s)\n" \
		"$round" $((2 * BACKLOG)) "$apply_rate" "$apply_cpu" "$insert_rate" "$insert_cpu" "$log_event_rate" "$log_event_cpu"
	best_apply=$(best "$best_apply" "$apply_rate")
	best_insert=$(best "$best_insert" "$insert_rate")
	best_log_event=$(best "$best_log_event" "$log_event_rate")
	best_apply_cpu=$(best "$best_apply_cpu" "$apply_cpu")
	best_insert_cpu=$(best "$best_insert_cpu" "$insert_cpu")
	best_log_event_cpu=$(best "$best_log_event_cpu" "$log_event_cpu")
done
# For scale: the same number of rows in one INSERT ... SELECT, one
# transaction (a batch, not a stream of events; not the ratio's baseline).
bulk=$(psql_at "${PORT[coll]}" -c "
	DO \$\$
	DECLARE t timestamptz := clock_timestamp();
	BEGIN
		INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type, event_status,
			user_name, application_name, database_name, backend_pid, session_id, source_node, entry_data, origin)
		SELECT gen_random_uuid(), now(), now(), 'AUDIT_LOG', 'BENCH_BULK', 'SUCCESS', current_user, 'bulk',
			'postgres', pg_backend_pid(), 'x', 'coll', '{}', 'SERVER'
		FROM generate_series(1, $((2 * BACKLOG)));
		RAISE NOTICE 'bulk %', extract(epoch FROM clock_timestamp() - t);
	END
	\$\$" 2>&1 | sed -n 's/.*NOTICE:  bulk //p')
awk -v n=$((2 * BACKLOG)) -v d="$bulk" 'BEGIN { printf "for scale, one INSERT ... SELECT of %d rows in one transaction: %.0f rows/s\n", n, n / d }'
[ "$(psql_at "${PORT[coll]}" -c "SELECT count(*) - count(DISTINCT event_id) FROM audit_log.events")" = 0 ] || echo "DUPLICATES at the collector"
[ "$(coll_from)" = "$(( $(total_at "${PORT[src1]}") + $(total_at "${PORT[src2]}") ))" ] || echo "COUNTS DIFFER between the sources and the collector"

echo "best, wall clock (the sources' walsenders share these cores): collector ingest $best_apply events/s; local plain INSERT $best_insert/s, local log_event $best_log_event/s"
awk -v a="$best_apply" -v i="$best_insert" -v l="$best_log_event" 'BEGIN {
	printf "  ratio collector ingest / local plain INSERT: %.2f\n", a / i;
	printf "  ratio collector ingest / local log_event:    %.2f\n", a / l }'
echo "best, per CPU second of the collector: ingest $best_apply_cpu events; local plain INSERT $best_insert_cpu, local log_event $best_log_event_cpu"
awk -v a="$best_apply_cpu" -v i="$best_insert_cpu" -v l="$best_log_event_cpu" 'BEGIN {
	printf "  ratio collector ingest / local plain INSERT: %.2f (target >= 0.8)\n", a / i;
	printf "  ratio collector ingest / local log_event:    %.2f\n", a / l }'
bench_result fleet_ingest_vs_insert_cpu "$(bench_ratio "$best_apply_cpu" "$best_insert_cpu")" ">=" 0.8 -
fi
echo "machine: $ncores cores, load average $(cut -d" " -f1-3 /proc/loadavg) (a shared machine), $(date -u +%Y-%m-%dT%H:%MZ)"
