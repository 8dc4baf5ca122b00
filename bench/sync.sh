#!/usr/bin/env bash
# bench/sync.sh: the cost of audit_log.synchronous (issue 16), run as root
# (~3 minutes).  Side by side in one run, on one durable cluster (fsync and
# synchronous_commit on), synchronous off against on, alternating PAIRS
# times; prints the medians, their spread (min-max) and the on/off ratios:
#
# 1. connection rate: pgbench -C -S (a new connection per select-only
#    transaction); goal: on costs at most 15%.
# 2. failed-login rate: psql attempts refused by a pg_hba.conf reject line
#    (LOGIN FAILURE HBA_REJECT), attempts per second.
# 3. administrative loop: CREATE ROLE, GRANT, REVOKE, DROP ROLE, each its
#    own transaction, loops per second; goal: on costs at most 30%.
#
# The native comparison of each figure is the same work with synchronous
# off (today's asynchronous capture) in the same run.
set -eu

DUR=${DUR:-8}
PAIRS=${PAIRS:-3}
FAILS=${FAILS:-200}
LOOPS=${LOOPS:-200}

source "$(dirname "$0")/lib.sh"
bench_setup sync
bench_node main "max_connections = 50" "${BENCH_DURABLE[@]}" \
	"shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'"
sed -i '1i local all regress_bench_reject reject' "$BENCH_DIR/main/pg_hba.conf"
bench_start main
bench_sql main -c "CREATE EXTENSION audit_log"
bench_pgbench main -i -q -s 1 postgres >/dev/null 2>&1

loop=$BENCH_DIR/admin.sql
for i in $(seq 1 "$LOOPS"); do
	echo "CREATE ROLE regress_bench_$i; GRANT pg_read_all_stats TO regress_bench_$i;"
	echo "REVOKE pg_read_all_stats FROM regress_bench_$i; DROP ROLE regress_bench_$i;"
done | sed 's/; /;\n/g' >"$loop"
chown postgres "$loop"

set_sync() {
	bench_sql main -c "ALTER SYSTEM SET audit_log.synchronous = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 1
}

now() { date +%s.%N; }

conn_rate() {
	bench_pgbench main -n -C -S -c 4 -j 2 -T "$DUR" postgres 2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

fail_rate() {
	local t0 t1 i
	t0=$(now)
	for i in $(seq 1 "$FAILS"); do
		bench_as_pg "$PGBIN/psql" -X -h "$BENCH_DIR" -p "${BENCH_PORT[main]}" -U regress_bench_reject \
			-d postgres -c 'SELECT 1' >/dev/null 2>&1 || true
	done
	t1=$(now)
	awk -v n="$FAILS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

admin_rate() {
	local t0 t1
	t0=$(now)
	bench_sql main -f "$loop" >/dev/null
	t1=$(now)
	awk -v n="$LOOPS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

declare -A R=()
for p in $(seq 1 "$PAIRS"); do
	for mode in off on; do
		set_sync "$mode"
		R[conn_$mode]+="$(conn_rate) "
		R[fail_$mode]+="$(fail_rate) "
		R[admin_$mode]+="$(admin_rate) "
	done
	echo "pair $p: conn ${R[conn_off]}/ ${R[conn_on]}; fail ${R[fail_off]}/ ${R[fail_on]}; admin ${R[admin_off]}/ ${R[admin_on]}"
done

spread() { printf '%s\n' $1 | sort -g | sed -n '1p;$p' | paste -sd- ; }
echo
printf '%-34s %12s %12s %8s\n' "" "sync off" "sync on" "on/off"
for m in conn fail admin; do
	case $m in
	conn) label="connections/s (pgbench -C -S)" ;;
	fail) label="failed logins/s (hba reject)" ;;
	admin) label="admin loops/s (4 commands)" ;;
	esac
	off=$(bench_median ${R[${m}_off]})
	on=$(bench_median ${R[${m}_on]})
	printf '%-34s %12s %12s %8s\n' "$label" "$off" "$on" "$(bench_ratio "$on" "$off")"
	printf '%-34s %12s %12s\n' "  spread (min-max)" "$(spread "${R[${m}_off]}")" "$(spread "${R[${m}_on]}")"
done
for m in conn admin; do
	offs=(${R[${m}_off]}) ons=(${R[${m}_on]}) per=""
	for i in "${!ons[@]}"; do per="$per $(bench_ratio "${ons[$i]}" "${offs[$i]}")"; done
	[ $m = conn ] && t=0.85 || t=0.70
	bench_result "sync_on_off_$m" "$(bench_ratio "$(bench_median ${R[${m}_on]})" "$(bench_median ${R[${m}_off]})")" ">=" $t "$(bench_spread $per)"
done
bench_stop main
