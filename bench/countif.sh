#!/usr/bin/env bash
# bench/countif.sh: audit_log.countif against count(*) FILTER (WHERE ...) on
# every shape of issue 20: serial and parallel plans, ROWS (default 2 and 5
# million rows), 1, 2 and 4 conditions.  Run as root (~3 minutes).
#
# Each shape runs ROUNDS times (default 5), the three queries of a shape
# interleaved and their order reversed every other round: countif, the
# native count(*) FILTER, and countif's C transition function path (the
# same call with a volatile, inlinable wrapper around one condition, which
# keeps the plan-time rewrite out while the wrapper itself costs nothing
# once inlined: what countif cost before issue 20).  Printed per shape:
# the median server CPU time and wall time of each, the per-round CPU
# ratios, and the ratio of the median CPU times, countif / FILTER (target
# <= 1.02), as a RESULT line (its spread: the per-round ratios); and whether
# countif's plan (EXPLAIN VERBOSE) is FILTER's on every shape, which it is
# since the rewrite: then any difference in time is noise.
# JIT is off so that compile time does not blur the comparison.
set -euo pipefail

ROWS=${ROWS:-"2000000 5000000"}
ROUNDS=${ROUNDS:-5}

source "$(dirname "$0")/lib.sh"
bench_setup countif
bench_node main "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'" \
	"audit_log.capture = 'none'" "shared_buffers = 1GB" "work_mem = 64MB" \
	"${BENCH_FAST[@]}" "jit = off" "max_parallel_workers_per_gather = 2" "autovacuum = off"
bench_start main
psql() { bench_sql main "$@"; }

psql -c "CREATE EXTENSION audit_log" \
	-c "CREATE FUNCTION public.nowrite(boolean) RETURNS boolean LANGUAGE sql VOLATILE PARALLEL SAFE AS 'SELECT \$1'"
for n in $ROWS; do
	echo "== loading $n rows into bench_$n"
	psql <<SQL
CREATE UNLOGGED TABLE bench_$n AS
SELECT CASE WHEN i % 10 < 6 THEN 'LOGIN' WHEN i % 10 = 6 THEN 'LOGOUT' ELSE 'ALTER_USER' END AS event_type,
       CASE WHEN random() < 0.25 THEN 'FAILURE' ELSE 'SUCCESS' END AS event_status,
       'user' || (i % 500) AS user_name,
       CASE WHEN i % 9 = 0 THEN 'other' WHEN i % 97 = 0 THEN NULL ELSE 'app' END AS database_name
FROM generate_series(1, $n) i;
VACUUM (ANALYZE) bench_$n;
SQL
done

# times[round][query]: wall ms and CPU ms, the queries of a round
# interleaved.  CPU: the backend's own run time (/proc/self/schedstat, in ns)
# plus that of the parallel workers, which have exited by the end of the
# query: their time is then in the postmaster's cutime + cstime (ticks of
# 1/CLK_TCK s; autovacuum is off, so no other child exits meanwhile).  On a
# loaded machine the CPU time is the steadier figure: it leaves out the time
# a process waited for a core.
psql <<SQL
CREATE FUNCTION public.server_cpu_ms() RETURNS float8 LANGUAGE sql AS \$\$
	SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::float8 / 1e6
		 + (SELECT (f[14]::float8 + f[15]::float8) * 1000 / $(getconf CLK_TCK)
			FROM (SELECT regexp_split_to_array(regexp_replace(pg_read_file('/proc/' || split_part(pg_read_file('postmaster.pid'), E'\n', 1) || '/stat'), '^.*\) ', ''), ' ') AS f) s)
\$\$;
SQL
psql <<'SQL'
CREATE FUNCTION public.bench_rounds(queries text[], rounds int)
RETURNS TABLE (round int, query int, ms float8, cpu_ms float8)
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	c0 float8;
	i int;
	k int;
	n bigint;
	r int;
BEGIN
	-- (an integer FOR loop declares its own variable: r, not the OUT column)
	FOR r IN 1 .. rounds LOOP
		round := r;
		FOR k IN 1 .. cardinality(queries) LOOP
			i := CASE WHEN r % 2 = 1 THEN k ELSE cardinality(queries) + 1 - k END;
			c0 := public.server_cpu_ms();
			t0 := clock_timestamp();
			EXECUTE queries[i] INTO n;
			ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
			cpu_ms := public.server_cpu_ms() - c0;
			query := i;
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;
SQL

conds() { # k: the conditions, comma-separated
	case $1 in
	1) echo "event_type = 'LOGIN'" ;;
	2) echo "event_type = 'LOGIN', event_status = 'SUCCESS'" ;;
	4) echo "event_type = 'LOGIN', event_status = 'SUCCESS', user_name <> 'user7', database_name = 'app'" ;;
	esac
}

printf '\n%-20s %-34s %-34s %-34s %s\n' "" "CPU ms: countif  FILTER  C path" "wall ms: countif  FILTER  C path" "ratios to FILTER: CPU  wall  C/CPU" "per-round CPU ratios"
identical=0 shapes=0
for plan in serial parallel; do
	if [ $plan = serial ]; then
		set_plan="SET max_parallel_workers_per_gather = 0;"
	else
		set_plan="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"
	fi
	for n in $ROWS; do
		for k in 1 2 4; do
			shapes=$((shapes + 1))
			c=$(conds $k)
			f=$(echo "$c" | sed 's/, / AND /g')
			cp=$(echo "$c" | sed 's/^\([^,]*\)/public.nowrite(\1)/')
			q1="SELECT audit_log.countif($c) FROM bench_$n"
			q2="SELECT count(*) FILTER (WHERE $f) FROM bench_$n"
			q3="SELECT audit_log.countif($cp) FROM bench_$n"
			# the three give the same count and the intended plans
			same=$(psql -At -c "$set_plan SELECT (audit_log.countif($c) = count(*) FILTER (WHERE $f)) AND (audit_log.countif($cp) = count(*) FILTER (WHERE $f)) FROM bench_$n")
			[ "$same" = t ] || { echo "countif and FILTER disagree on $plan $n $k" >&2; exit 1; }
			# after the plan-time rewrite countif's plan is FILTER's, node for node
			p1=$(psql -At -c "$set_plan EXPLAIN (VERBOSE, COSTS OFF) $q1")
			p2=$(psql -At -c "$set_plan EXPLAIN (VERBOSE, COSTS OFF) $q2")
			[ "$p1" = "$p2" ] && identical=$((identical + 1)) || echo "plan of countif differs from FILTER's: $q1" >&2
			gathers=$(psql -At -c "$set_plan EXPLAIN $q1" | grep -c Gather || true)
			if [ $plan = parallel ] && [ "$gathers" = 0 ] || [ $plan = serial ] && [ "$gathers" != 0 ]; then
				echo "not a $plan plan: $q1" >&2; exit 1
			fi
			out=$(psql -At -F ' ' -c "$set_plan SELECT round, query, ms, cpu_ms FROM public.bench_rounds(ARRAY[\$q\$$q1\$q\$, \$q\$$q2\$q\$, \$q\$$q3\$q\$], $ROUNDS)")
			for q in 1 2 3; do
				declare "w$q=$(awk -v q=$q '$2 == q { print $3 }' <<<"$out" | bench_median)"
				declare "u$q=$(awk -v q=$q '$2 == q { print $4 }' <<<"$out" | bench_median)"
			done
			per=$(awk '{ t[$1, $2] = $4; if ($1 > r) r = $1 } END { for (i = 1; i <= r; i++) printf "%.3f\n", t[i, 1] / t[i, 2] }' <<<"$out")
			shape="${plan}_$((n / 1000))k_k$k"
			printf '%-20s %10.1f %7.1f %7.1f %8s %10.1f %7.1f %7.1f %8s %10s %5s %6s   %s\n' "$shape" \
				"$u1" "$u2" "$u3" "" "$w1" "$w2" "$w3" "" \
				"$(bench_ratio "$u1" "$u2")" "$(bench_ratio "$w1" "$w2")" "$(bench_ratio "$u3" "$u2")" "$(echo $per)"
			echo "$(bench_ratio "$u1" "$u2") $(bench_spread $per) $(bench_ratio "$u3" "$u2") $(bench_ratio "$w1" "$w2")" >"$BENCH_DIR/r_$shape"
		done
	done
done
echo
echo "shapes where countif's plan (EXPLAIN VERBOSE) is FILTER's: $identical of $shapes"
echo "(the timings of the same plan differ only by noise: on a loaded machine that is the spread)"
bench_result countif_plan_is_filter "$(bench_ratio "$identical" "$shapes")" ">=" 1 -
for f in "$BENCH_DIR"/r_*; do
	read -r r s c wr <"$f"
	shape=${f##*/r_}
	bench_result "countif_filter_$shape" "$r" "<=" 1.02 "$s"
	echo "   (server CPU, medians; wall time $wr; before issue 20, the C path: $c of FILTER)"
done
