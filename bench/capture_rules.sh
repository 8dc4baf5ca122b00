#!/usr/bin/env bash
# bench/capture_rules.sh: the cost of capture rules (issue 19), run as root
# (~2 minutes).  One cluster, the connection rate of pgbench -C -S (a new
# connection per select-only transaction: a LOGIN and a LOGOUT each), in
# three setups alternating ROUNDS times; prints the medians, their spread
# (min-max) and the ratios:
#
# 1. none: no capture rule (the native comparison: today's capture).
# 2. hundred: 100 skip rules that match none of the logins (each one passes
#    the category and status tests and fails on the role, the worst case of
#    a non-matching rule); goal: rate >= 0.98 of none.
# 3. matching: those 100 rules and one more, first, that skips the
#    benchmark role's successful logins; goal: the table grows by zero rows
#    for those logins, and the rate is >= that of none.
#
# Then the matcher alone: explain_capture (the capture's own matcher)
# called N times with the 100 rules against none, and the connection-rate
# ratio that its cost implies, a figure the machine's load hardly changes.
set -eu

DUR=${DUR:-8}
ROUNDS=${ROUNDS:-3}

source "$(dirname "$0")/lib.sh"
bench_setup capture_rules
bench_node main "max_connections = 50" "${BENCH_DURABLE[@]}" \
	"shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'"
bench_start main
bench_sql main -c "CREATE EXTENSION audit_log"
bench_pgbench main -i -q -s 1 postgres >/dev/null 2>&1

set_rules() { # none | hundred | matching
	{
		echo "BEGIN; DELETE FROM audit_log.capture_rules;"
		if [ "$1" != none ]; then
			echo "INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name)"
			echo "SELECT 'nomatch_' || i, 100 + i, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_nomatch_' || i FROM generate_series(1, 100) i;"
		fi
		if [ "$1" = matching ]; then
			echo "INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name)"
			echo "VALUES ('skip_bench', 1, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'postgres');"
		fi
		echo "COMMIT;"
	} | bench_sql main >/dev/null
	bench_sql main -At -c "SELECT audit_log.flush('30 s')" >/dev/null
	sleep 1
}

login_rows() {
	bench_sql main -At -c "SELECT audit_log.flush('30 s')" >/dev/null
	bench_sql main -At -c "SELECT count(*) FROM audit_log.events WHERE user_name = 'postgres' AND event_type IN ('LOGIN', 'LOGOUT')"
}

conn_rate() {
	bench_pgbench main -n -C -S -c 4 -j 2 -T "$DUR" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

declare -A R=()
grew=""
orders=("none hundred matching" "hundred matching none" "matching none hundred")
for r in $(seq 1 "$ROUNDS"); do
	# the order turns each round, so that a drift of the machine's load
	# does not always fall on the same setup
	for mode in ${orders[$(( (r - 1) % 3 ))]}; do
		set_rules "$mode"
		before=$(login_rows)
		rate=$(conn_rate)
		R[$mode]+="$rate "
		eval "rate_$mode=$rate"
		sleep 1
		after=$(login_rows)
		if [ "$mode" = matching ]; then
			grew+="$((after - before)) "
			skipped=$(bench_sql main -At -c "SELECT skipped FROM audit_log.capture_rule_stats WHERE name = 'skip_bench'")
		fi
		[ "$mode" = none ] && R[none_rows]+="$((after - before)) "
	done
	R[ratio_hundred]+="$(bench_ratio "$rate_hundred" "$rate_none") "
	R[ratio_matching]+="$(bench_ratio "$rate_matching" "$rate_none") "
	echo "round $r: none $rate_none, hundred $rate_hundred, matching $rate_matching (rows grew: ${grew})"
done

# The matcher's own cost, which the machine's load hardly blurs: N calls of
# explain_capture (the capture's matcher) with the 100 non-matching rules
# against none; the difference per call is what each captured event pays.
N=200000
matcher_ms() {
	bench_sql main -At -c "SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t0" \
		-c "SELECT count(*) FROM generate_series(1, $N) i, audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_other', 'postgres', 'pgbench', '127.0.0.1') e WHERE e.captured" \
		-c "SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t1" | awk 'NR == 1 { a = $1 } NR == 3 { printf "%.1f", $1 - a }'
}
for r in $(seq 1 "$ROUNDS"); do
	set_rules none
	R[m_none]+="$(matcher_ms) "
	set_rules hundred
	R[m_hundred]+="$(matcher_ms) "
done
set_rules none

spread() { printf '%s\n' $1 | sort -g | sed -n '1p;$p' | paste -sd- ; }
none=$(bench_median ${R[none]})
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %10s %14s %8s\n' "connections/s (pgbench -C -S)" "median" "spread" "ratio"
for mode in none hundred matching; do
	m=$(bench_median ${R[$mode]})
	printf '%-36s %10s %14s %8s\n' "$mode" "$m" "$(spread "${R[$mode]}")" "$(bench_ratio "$m" "$none")"
done
echo "median of the per-round ratios: hundred/none $(bench_median ${R[ratio_hundred]}) (${R[ratio_hundred]}), matching/none $(bench_median ${R[ratio_matching]}) (${R[ratio_matching]})"
bench_result capture_rules_100_conn_rate "$(bench_median ${R[ratio_hundred]})" ">=" 0.98 "$(bench_spread ${R[ratio_hundred]})"
bench_result capture_rules_matching_skip_conn_rate "$(bench_median ${R[ratio_matching]})" ">=" 1.0 "$(bench_spread ${R[ratio_matching]})"
echo "rows written for the benchmark logins: none ${R[none_rows]}/ matching ${grew}(skip_bench skipped $skipped events in the last matching round)"
mn=$(bench_median ${R[m_none]})
mh=$(bench_median ${R[m_hundred]})
per_event_us=$(awk -v a="$mh" -v b="$mn" -v n="$N" 'BEGIN { printf "%.3f", (a - b) * 1000 / n }')
echo "matcher: $N explain_capture calls, none $mn ms (${R[m_none]}), 100 rules $mh ms (${R[m_hundred]}): $per_event_us us per event more"
echo "implied connection-rate ratio with 100 rules (2 events per connection, at the none median): $(awk -v us="$per_event_us" -v r="$none" 'BEGIN { printf "%.4f", 1 / (1 + 2 * us * r / 1e6) }')"
bench_stop main
