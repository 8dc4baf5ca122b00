#!/usr/bin/env bash
# bench/writer.sh: the writer from a full queue against a native
# INSERT ... SELECT and COPY FROM of the same rows (run as root; about 3
# minutes at the defaults).
#
# One node, production durability (bench/lib.sh's BENCH_DURABLE), audit_log
# preloaded with a queue large enough for the largest QUEUED, no pg_cron,
# shared_buffers 1 GB (no eviction while measuring), no checkpoint unasked.
# For each Q in QUEUED (default "16384 65536"), ROUNDS rounds (default 3;
# fewer is only a smoke test), each on a fresh copy of the same freshly
# installed cluster (audit_log.events is append-only: a copy is how every
# round starts from the same state), in alternating order (W I C, then
# C I W, ...):
#
#   W  the writer alone: the writer is paused (audit_log.pause_writer), a
#      procedure queues Q administrative events (CREATE ROLE, GRANT SELECT,
#      GRANT of a group, ALTER ROLE, REVOKE both, ALTER ROLE, DROP ROLE;
#      they are queued at each commit, one every 256 events, with
#      synchronous_commit off for the fill alone; log_event() would not do:
#      it inserts directly), then the time from the resume to the return of
#      audit_log.flush(), which waits until the queue is written, and the
#      CPU of the "audit_log writer" process in that time.
#   I  INSERT INTO x SELECT of Q rows the writer wrote (in a preparatory
#      run: the same mix, other ids) into x, a table of the same shape as
#      audit_log.events: LIKE audit_log.events INCLUDING ALL, partitioned by
#      range on request_time, one partition per day of the rows with the
#      same primary key and request_time index, and a default partition.
#   C  COPY x FROM a text file of the same rows.
#
# The writer commits one transaction per AL_BATCH_MAX (4096, src/writer.c)
# events, so I and C commit per 4096 rows too (I from one staging table per
# batch); each is then repeated as one transaction (I1, C1), printed only.
# Each part starts after a CHECKPOINT into empty tables.  Time is wall
# clock and the CPU of the process doing the work (the writer; the backend
# for I and C), read from /proc/PID/schedstat inside the server
# (pg_read_file), so nothing outside the server is counted.  Printed: every
# round, then medians with spread of the per-round ratios W/I and W/C of
# events per second (targets >= 1.0 and >= 1.1), of the CPU ratios (native
# CPU per row / writer CPU per event: above 1 the writer is cheaper) and of
# the writer's events per second (>= 20000).
#
# WRITER_PERF=FILE: perf record -g of the writer during W of the first round,
# into FILE.Q (perf report -i FILE.Q).
#
# bench/lib.sh builds the extension into a private copy of PostgreSQL
# $BENCH_PGVER (default 15); the clusters live in its scratch directory.
set -eu

QUEUED=${QUEUED:-"16384 65536"}
ROUNDS=${ROUNDS:-3}
BATCH=4096	# AL_BATCH_MAX in src/writer.c

source "$(dirname "$0")/lib.sh"
[ "$ROUNDS" -ge 3 ] || echo "note: ROUNDS=$ROUNDS (< 3): a smoke test, not a figure to record"
maxq=$(printf '%s\n' $QUEUED | sort -n | tail -1)
bench_setup writer
bench_node tmpl "shared_preload_libraries = 'audit_log'" "${BENCH_DURABLE[@]}" \
	"audit_log.database = 'postgres'" "audit_log.queue_size = $((maxq + 8192))" \
	"shared_buffers = '1GB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'"
W=$BENCH_DIR/work
mkdir -p "$W" && chown postgres "$W"

sql() { bench_sql main -A -t "$@"; }

# The template: the extension, today's partitions, the objects the fill
# uses and a function giving the CPU nanoseconds of a process.
bench_start tmpl
bench_sql tmpl -A -t >/dev/null <<'EOF'
CREATE EXTENSION audit_log;
SELECT audit_log.maintain();
CREATE SCHEMA bench;
CREATE TABLE bench.t (a int);
CREATE ROLE bench_team;
CREATE FUNCTION bench.cpu_ns(pid text DEFAULT 'self') RETURNS bigint LANGUAGE sql
	AS $$ SELECT split_part(pg_read_file('/proc/' || pid || '/schedstat'), ' ', 1)::bigint $$;
-- a commit every 32 iterations: in one transaction the catalog rows
-- updated over and over (bench.t's ACL, pg_authid) grow version chains
-- that every lookup walks, and the fill becomes quadratic
CREATE PROCEDURE bench.fill(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		IF i % 32 = 0 THEN COMMIT; END IF;
		CREATE ROLE bench_u LOGIN;
		GRANT SELECT ON bench.t TO bench_u;
		GRANT bench_team TO bench_u;
		ALTER ROLE bench_u CONNECTION LIMIT 5;
		REVOKE bench_team FROM bench_u;
		REVOKE SELECT ON bench.t FROM bench_u;
		ALTER ROLE bench_u NOLOGIN;
		DROP ROLE bench_u;
	END LOOP;
END $$;
EOF
# events per iteration of the fill
per=$(bench_sql tmpl -A -t <<'EOF'
SELECT audit_log.flush('60 s') \gset
SELECT enqueued AS e0 FROM audit_log.status \gset
CALL bench.fill(1);
SELECT audit_log.flush('60 s') \gset
SELECT enqueued - :e0 FROM audit_log.status;
EOF
)
echo "== the fill: $per events per iteration"
for q in $QUEUED; do
	[ $((q % per)) = 0 ] || { echo "$q queued events are not a multiple of $per" >&2; exit 1; }
done
bench_stop tmpl

fresh() { # a new node "main": a copy of the template
	[ -n "${BENCH_PORT[main]:-}" ] && bench_stop main
	rm -rf "$BENCH_DIR/main"
	cp -a "$BENCH_DIR/tmpl" "$BENCH_DIR/main"
	BENCH_PORT[main]=${BENCH_PORT[tmpl]}
	bench_start main
}

# W: prints "events seconds cpu_seconds"
run_w() { # q
	sql <<EOF
SELECT audit_log.pause_writer(true) \gset
SET synchronous_commit = off;
CALL bench.fill($(( $1 / per )));
RESET synchronous_commit;
VACUUM pg_authid, pg_auth_members, pg_class, pg_shdepend;
CHECKPOINT;
SELECT written AS w0, writer_pid AS wpid FROM audit_log.status \gset
SELECT extract(epoch FROM clock_timestamp()) AS t0, bench.cpu_ns(:'wpid') AS c0 \gset
SELECT audit_log.pause_writer(false) \gset
SELECT audit_log.flush('120 s') AS ok \gset
SELECT extract(epoch FROM clock_timestamp()) AS t1, bench.cpu_ns(:'wpid') AS c1 \gset
SELECT written - :w0, :t1 - :t0, (:c1 - :c0) / 1e9 FROM audit_log.status WHERE :'ok';
EOF
}

# The rows of I and C: written once by the writer in a preparatory run, kept
# as one text file and one file per batch (staged into tables per round).
prepare() { # q
	local t0=$(date +%s.%N)
	fresh
	run_w "$1" >/dev/null
	echo "   (fresh node, fill and writer run: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s)"
	sql -c "COPY (SELECT * FROM (SELECT * FROM audit_log.events WHERE event_category <> 'AUDIT_LOG'
		AND object_name LIKE 'bench%' ORDER BY logged_time DESC, event_id DESC LIMIT $1) s
		ORDER BY logged_time, event_id) TO '$W/rows_$1'"
	rm -f "$W/batch_$1".*
	bench_as_pg split -l $BATCH -d -a 3 "$W/rows_$1" "$W/batch_$1."
	[ "$(wc -l <"$W/rows_$1")" = "$1" ] || { echo "prepared $(wc -l <"$W/rows_$1") rows, not $1" >&2; exit 1; }
}

# x, empty, with a partition per day of the rows (as _create_day_partition)
make_x() {
	sql >/dev/null <<EOF
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench.x;
CREATE TABLE bench.x (LIKE audit_log.events INCLUDING ALL) PARTITION BY RANGE (request_time);
CREATE TABLE bench.x_default PARTITION OF bench.x (PRIMARY KEY (event_id)) DEFAULT;
CREATE INDEX ON bench.x_default (request_time);
SELECT format('CREATE TABLE bench.x_%s PARTITION OF bench.x (PRIMARY KEY (event_id)) FOR VALUES FROM (%L) TO (%L);
	CREATE INDEX ON bench.x_%s (request_time);', to_char(d, 'YYYYMMDD'),
	d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC', to_char(d, 'YYYYMMDD'))
FROM (SELECT DISTINCT (request_time AT TIME ZONE 'UTC')::date AS d FROM bench.stage) s \gexec
CHECKPOINT;
EOF
}

# I or C, batched, then in one transaction: prints "rows s cpu_s rows1 s1 cpu_s1"
run_native() { # I|C q
	local q=$2 f one batched="" single
	for f in "$W/batch_$q".*; do
		if [ "$1" = I ]; then batched+="INSERT INTO bench.x SELECT * FROM bench.b${f##*.};"$'\n'
		else batched+="COPY bench.x FROM '$f';"$'\n'; fi
	done
	if [ "$1" = I ]; then single="INSERT INTO bench.x SELECT * FROM bench.stage;"
	else single="COPY bench.x FROM '$W/rows_$q';"; fi
	for one in "$batched" "$single"; do
		make_x
		sql <<EOF
SELECT extract(epoch FROM clock_timestamp()) AS t0, bench.cpu_ns() AS c0 \gset
$one
SELECT extract(epoch FROM clock_timestamp()) AS t1, bench.cpu_ns() AS c1 \gset
SELECT count(*), :t1 - :t0, (:c1 - :c0) / 1e9 FROM bench.x;
EOF
	done | tr '\n|' '  '
}

# bench.stage (all the rows) and bench.bNNN (one table per batch)
stage() { # q
	local f
	{
		echo "CREATE TABLE bench.stage (LIKE audit_log.events); COPY bench.stage FROM '$W/rows_$1';"
		for f in "$W/batch_$1".*; do
			echo "CREATE TABLE bench.b${f##*.} (LIKE audit_log.events); COPY bench.b${f##*.} FROM '$f';"
		done
		echo "VACUUM ANALYZE;"
	} | sql >/dev/null
}

# rate ratio, CPU ratio (CPU per row of the native / of the writer)
ratios() { # w_n w_s w_cpu n s cpu
	awk -v wn="$1" -v ws="$2" -v wc="$3" -v n="$4" -v s="$5" -v c="$6" \
		'BEGIN { printf "%.3f %.3f", (wn / ws) / (n / s), (c / n) / (wc / wn) }'
}
show() { # label rows s cpu_s
	awk -v l="$1" -v n="$2" -v s="$3" -v c="$4" \
		'BEGIN { printf "  %-24s %6d rows %8.1f ms %8.0f rows/s, CPU %7.1f ms = %.3f ms per 1000\n", l, n, 1000 * s, n / s, 1000 * c, 1000000 * c / n }'
}

started=$(date +%s)
for q in $QUEUED; do
	k=$((q / 1024))k
	echo "== Q = $q: preparing the rows of I and C (one writer run)"
	prepare "$q"
	: >"$W/r_$q"
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="W I C"; else order="C I W"; fi
		fresh
		stage "$q"
		declare -A res=()
		for p in $order; do
			if [ "$p" != W ]; then res[$p]=$(run_native "$p" "$q"); continue; fi
			if [ -n "${WRITER_PERF:-}" ] && [ "$r" = 1 ]; then
				perf record -q -g -o "$WRITER_PERF.$q" -p "$(sql -c "SELECT writer_pid FROM audit_log.status")" 2>/dev/null &
				perf_pid=$!
			fi
			res[W]=$(run_w "$q" | tr '|' ' ')
			if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=; fi
		done
		read -r wn ws wc <<<"${res[W]}"
		read -r in is ic in1 is1 ic1 <<<"${res[I]}"
		read -r cn cs cc cn1 cs1 cc1 <<<"${res[C]}"
		echo "round $r ($order), load $(cut -d' ' -f1 /proc/loadavg):"
		show "W writer" "$wn" "$ws" "$wc"
		show "I INSERT ... SELECT" "$in" "$is" "$ic"
		show "I1 (one transaction)" "$in1" "$is1" "$ic1"
		show "C COPY FROM" "$cn" "$cs" "$cc"
		show "C1 (one transaction)" "$cn1" "$cs1" "$cc1"
		read -r ri rci <<<"$(ratios "$wn" "$ws" "$wc" "$in" "$is" "$ic")"
		read -r rc rcc <<<"$(ratios "$wn" "$ws" "$wc" "$cn" "$cs" "$cc")"
		read -r ri1 rci1 <<<"$(ratios "$wn" "$ws" "$wc" "$in1" "$is1" "$ic1")"
		read -r rc1 rcc1 <<<"$(ratios "$wn" "$ws" "$wc" "$cn1" "$cs1" "$cc1")"
		echo "  W/I $ri (CPU $rci), W/C $rc (CPU $rcc); one transaction: W/I1 $ri1 (CPU $rci1), W/C1 $rc1 (CPU $rcc1)"
		echo "$(awk -v n="$wn" -v s="$ws" 'BEGIN { printf "%.0f", n / s }') $ri $rci $rc $rcc $ri1 $rci1 $rc1 $rcc1" >>"$W/r_$q"
	done
	col() { awk -v c="$1" '{ print $c }' "$W/r_$q"; }
	echo "== Q = $q: medians of $ROUNDS rounds (spread)"
	i=2
	for what in "W/I" "W/I CPU" "W/C" "W/C CPU" "W/I1" "W/I1 CPU" "W/C1" "W/C1 CPU"; do
		printf "  %-10s %s (%s)\n" "$what" "$(col $i | bench_median)" "$(col $i | bench_spread)"
		i=$((i + 1))
	done
	printf "  writer     %s events/s (%s)\n" "$(col 1 | bench_median)" "$(col 1 | bench_spread | sed "s/\\.000//g")"
	bench_result "writer_vs_insert_select_$k" "$(printf '%.3f' "$(col 2 | bench_median)")" ">=" 1.0 "$(col 2 | bench_spread)"
	bench_result "writer_vs_copy_$k" "$(printf '%.3f' "$(col 4 | bench_median)")" ">=" 1.1 "$(col 4 | bench_spread)"
	bench_result "writer_events_per_s_$k" "$(printf '%.0f' "$(col 1 | bench_median)")" ">=" 20000 "$(col 1 | bench_spread | sed 's/\.000//g')"
done
bench_stop main
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - started )) s after the build"
