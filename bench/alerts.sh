#!/usr/bin/env bash
# bench/alerts.sh: the cost of alert rules to the writer (run as root, ~2
# minutes).
#
# Writer throughput from a full queue: the writer is paused
# (audit_log.pause_writer) while administrative events fill the queue
# (ALTER ROLE through pgbench, one USER_ACCOUNTS event each, one role
# per client), then resumed;
# events written per second until audit_log.flush() returns.  Measured with
# no alert rule and with 10 enabled rules that ALL match these events
# (USER_ACCOUNTS, grouped by user_name, database_name, client_addr or none,
# thresholds that are never reached, so what is measured is the counting,
# not the firing), alternating, ROUNDS times each; prints the medians and
# the ratio with/without (target >= 0.9).  The built-in conditions are
# always on in both.
set -eu

ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-12000}

source "$(dirname "$0")/lib.sh"
bench_setup alerts
bench_node main "max_connections = 50" "${BENCH_DURABLE[@]}" "audit_log.database = 'postgres'" \
	"shared_preload_libraries = 'audit_log'" "audit_log.queue_size = 16384" "audit_log.queue_wait = '0'"
bench_start main
psql_() { bench_psql main -A -t "$@"; }
psql_ -v ON_ERROR_STOP=1 -c "CREATE EXTENSION audit_log" \
	-c "CREATE ROLE bench_alert_role_0" -c "CREATE ROLE bench_alert_role_1" \
	-c "CREATE ROLE bench_alert_role_2" -c "CREATE ROLE bench_alert_role_3" >/dev/null
# one role per client: concurrent ALTERs of one role would fail
echo "ALTER ROLE bench_alert_role_:client_id CONNECTION LIMIT 5;" >"$BENCH_DIR/alter.sql"
chown postgres "$BENCH_DIR/alter.sql"

no_rules() {
	psql_ -c "DELETE FROM audit_log.alert_rules" >/dev/null
}
ten_rules() {
	psql_ -v ON_ERROR_STOP=1 -c "DELETE FROM audit_log.alert_rules" -c "
INSERT INTO audit_log.alert_rules (name, event_category, event_status, group_by, threshold, within)
SELECT 'bench_' || i, 'USER_ACCOUNTS', 'SUCCESS',
	(ARRAY['user_name', 'database_name', 'client_addr', 'none'])[1 + i % 4], 10000, '1 second'
FROM generate_series(1, 10) i" >/dev/null
}

# events written per second draining a queue of $EVENTS events
drain_rate() {
	local w0 w1 s e
	psql_ -c "SELECT audit_log.flush('60 s')" >/dev/null
	sleep 1.5    # the writer rereads the rules at most every second
	psql_ -c "SELECT audit_log.pause_writer(true)" >/dev/null
	bench_pgbench main -n -c 4 -j 2 -t $((EVENTS / 4)) -f "$BENCH_DIR/alter.sql" postgres >/dev/null 2>&1
	w0=$(psql_ -c "SELECT written FROM audit_log.status")
	s=$(date +%s.%N)
	psql_ -c "SELECT audit_log.pause_writer(false)" -c "SELECT audit_log.flush('120 s')" >/dev/null
	e=$(date +%s.%N)
	w1=$(psql_ -c "SELECT written FROM audit_log.status")
	echo "($w1 - $w0) / ($e - $s)" | bc -l
}

none=() with=()
for r in $(seq 1 "$ROUNDS"); do
	no_rules
	none+=("$(drain_rate)")
	ten_rules
	with+=("$(drain_rate)")
	printf "round %d: no rules %.0f events/s, 10 rules %.0f events/s\n" "$r" "${none[-1]}" "${with[-1]}"
done
mn=$(bench_median "${none[@]}")
mw=$(bench_median "${with[@]}")
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'; }
printf "writer throughput, median of %d: no rules %.0f events/s (%s), 10 matching rules %.0f events/s (%s)\n" \
	"$ROUNDS" "$mn" "$(spread "${none[@]}")" "$mw" "$(spread "${with[@]}")"
echo "ratio 10 rules / none: $(bench_ratio "$mw" "$mn") (target >= 0.9)"
bench_result alerts_10_rules_writer_rate "$(bench_ratio "$mw" "$mn")" ">=" 0.9 -
psql_ -c "SELECT 'alerts fired during the benchmark: ' || count(*) FROM audit_log.alerts WHERE rule LIKE 'bench%'"
bench_stop main
