#!/usr/bin/env bash
# bench/instructions.sh: the work the capture adds, counted in instructions.
#
# Timings on this machine move 5 to 10 % between runs; instruction counts
# do not.  The whole cluster runs under valgrind's callgrind, once without
# the library (N) and once with audit_log preloaded (A), same settings, and
# the same operations are counted in both:
#
#   connection   CONNS sessions over TCP with SCRAM, each running SELECT 1:
#                the instructions of each backend (PostgresMain and what it
#                calls: authentication, the query, the exit), per session
#   admin        one session running the W3 loop of bench/peers.sh ITER
#                times (CREATE ROLE, GRANT SELECT, REVOKE SELECT, DROP
#                ROLE, each its own transaction): the backend's instructions
#                per loop, less those of an empty session
#   writer       the background writer's instructions per event written
#                (everything al_write_some does: reading the queue, the
#                multi-insert with its indexes and triggers, the alert
#                rules; not the rules' reread from their table, which comes
#                at most once a second whatever the rate), charged to each
#                operation for the events it queued
#   floor        COPY FROM of the admin loop's own rows into a table shaped
#                like a partition of audit_log.events (same columns, primary
#                key, index on request_time, CHECK): instructions per row,
#                what any table holding these rows pays to receive them
#
# The fork and exit of a process, the kernel and the client are not counted
# (callgrind counts user-space instructions of the server's processes), and
# neither is what happens before PostgresMain (the startup packet), which is
# the same in N and A.  So the ratios are the work our code adds to the
# server's own; a timed ratio (bench/peers.sh) also carries scheduling and
# I/O.
#
# Results (RESULT lines, bench/lib.sh):
#   instr_conn_backend_added     A backend / N backend - 1, per connection
#   instr_conn_added             the same with the writer's share
#   instr_admin_backend_added    A backend / N backend - 1, per admin loop
#   instr_admin_added            the same with the writer's share
#   instr_writer_per_event_vs_copy   writer per event / COPY per row
#
# Run as root (bench/lib.sh's private PostgreSQL 15 copy).  valgrind is
# installed when missing (Debian's package); without it the script says
# SKIPPED.  Environment: CONNS (default 20), ITER (default 200).
set -eu

CONNS=${CONNS:-20}
ITER=${ITER:-200}

source "$(dirname "$0")/lib.sh"
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
	apt-get install -y -q valgrind >/dev/null 2>&1 || true
fi
if ! command -v callgrind_annotate >/dev/null; then
	echo "SKIPPED: valgrind (callgrind) is not installed and could not be"
	exit 0
fi
bench_setup instr
work=$BENCH_DIR

# inclusive instructions of function FN in callgrind file FILE (0 if absent);
# each file is annotated once, beside it, for all the functions asked of it
incl() { # file fn
	[ -f "$1.incl" ] || callgrind_annotate --inclusive=yes --threshold=100 "$1" >"$1.incl" 2>/dev/null
	awk -v fn="$2" '{ for (i = 2; i <= NF; i++) if ($i ~ (":" fn "$")) { gsub(",", "", $1); print $1; exit } }' "$1.incl" |
		{ read -r v || v=0; echo "${v:-0}"; }
}

cat >"$work/loop.sql" <<EOF
$(for i in $(seq 1 "$ITER"); do
	echo "CREATE ROLE instr_r_$i; GRANT SELECT ON TABLE instr_t TO instr_r_$i;"
	echo "REVOKE SELECT ON TABLE instr_t FROM instr_r_$i; DROP ROLE instr_r_$i;"
done)
EOF
chown postgres:postgres "$work/loop.sql"

run() { # mode: N|A
	local m=$1 dir=$work/$1 cg=$work/cg_$1 port pids p i
	bench_node "$m" "listen_addresses = '127.0.0.1'" "password_encryption = 'scram-sha-256'" \
		"${BENCH_FAST[@]}" "autovacuum = off" "max_connections = 20" \
		"audit_log.database = 'postgres'"
	port=${BENCH_PORT[$m]}
	[ "$m" = A ] && echo "shared_preload_libraries = 'audit_log'" >>"$dir/postgresql.conf"
	{ echo "local all all trust"; echo "host all all 127.0.0.1/32 scram-sha-256"; } >"$dir/pg_hba.conf"
	mkdir -p "$cg"; chown postgres:postgres "$cg"
	bench_as_pg bash -c "valgrind --tool=callgrind --trace-children=yes \
		--callgrind-out-file=$cg/cg.%p $PGBIN/postgres -D $dir >$work/$m.valgrind.log 2>&1 &"
	for i in $(seq 1 300); do
		bench_as_pg "$PGBIN/pg_isready" -q -h "$work" -p "$port" && break
		sleep 1
	done
	bench_sql "$m" -c "CREATE ROLE instr_login LOGIN PASSWORD 'instr-not-a-secret'" -c "CREATE TABLE instr_t (a int)"
	[ "$m" = A ] && bench_sql "$m" -c "CREATE EXTENSION audit_log"
	# the connections, one after the other
	: >"$cg/conn_pids"
	for i in $(seq 1 "$CONNS"); do
		bench_as_pg env PGPASSWORD=instr-not-a-secret "$PGBIN/psql" -X -At \
			"host=127.0.0.1 port=$port user=instr_login dbname=postgres" \
			-c "SELECT pg_backend_pid()" >>"$cg/conn_pids"
	done
	# an empty session, then the admin loop in one session
	bench_psql "$m" -At -c "SELECT pg_backend_pid()" >"$cg/empty_pid"
	bench_psql "$m" -At -v ON_ERROR_STOP=1 -c "SELECT pg_backend_pid()" -f "$work/loop.sql" >"$cg/loop_pid"
	sleep 2
	if [ "$m" = A ]; then
		bench_sql A -c "SELECT audit_log.flush('120 s')" >/dev/null
		pids=$(paste -sd, "$cg/conn_pids")
		bench_psql A -At -c "SELECT count(*) FROM audit_log.events WHERE backend_pid IN ($pids)" >"$cg/conn_events"
		bench_psql A -At -c "SELECT count(*) FROM audit_log.events WHERE backend_pid = $(cat "$cg/loop_pid")" >"$cg/loop_events"
		bench_psql A -At -c "SELECT count(*) FROM audit_log.events" >"$cg/all_events"
		bench_sql A -c "CREATE TABLE instr_floor (LIKE audit_log.events_default INCLUDING ALL)" \
			-c "COPY (SELECT * FROM audit_log.events WHERE backend_pid = $(cat "$cg/loop_pid")) TO '$work/loop_rows.copy'"
		bench_psql A -At -v ON_ERROR_STOP=1 -c "SELECT pg_backend_pid()" \
			-c "COPY instr_floor FROM '$work/loop_rows.copy'" >"$cg/copy_pid"
	fi
	bench_stop "$m"
	# the sums, once the files are written (at each process's exit)
	sum=0
	for i in $(cat "$cg/conn_pids"); do sum=$((sum + $(incl "$cg/cg.$i" PostgresMain))); done
	echo "$sum" >"$cg/conn_instr"
	incl "$cg/cg.$(cat "$cg/empty_pid")" PostgresMain >"$cg/empty_instr"
	incl "$cg/cg.$(cat "$cg/loop_pid")" PostgresMain >"$cg/loop_instr"
	if [ "$m" = A ]; then
		incl "$cg/cg.$(cat "$cg/copy_pid")" DoCopy >"$cg/copy_instr"
		w=$(grep -l 'al_writer_main' $(ls "$cg"/cg.* | grep -v '\.incl$') | head -1)
		# the rules' reread (al_alerts_refresh, at most once a second
		# whatever the rate: under valgrind's slowness it came at every
		# batch) is a cost per second, not per event: it is left out
		incl "$w" al_alerts_refresh >"$cg/writer_refresh"
		echo $(( $(incl "$w" al_write_some) - $(cat "$cg/writer_refresh") )) >"$cg/writer_instr"
		# entry_data to jsonb: writer_jsonb.c's reader (jsonb_in before it)
		i=$(incl "$w" al_writer_jsonb); [ "$i" != 0 ] || i=$(incl "$w" jsonb_in)
		echo "$i" >"$cg/writer_jsonb"
		incl "$w" ExecInsertIndexTuples >"$cg/writer_index"
	fi
}

echo "== N: the cluster without the library, under callgrind"
run N
echo "== A: the cluster with audit_log preloaded, under callgrind"
run A

v() { cat "$work/cg_$1/$2"; }
conn_n=$(( $(v N conn_instr) / CONNS )); conn_a=$(( $(v A conn_instr) / CONNS ))
loop_n=$(( ($(v N loop_instr) - $(v N empty_instr)) / ITER ))
loop_a=$(( ($(v A loop_instr) - $(v A empty_instr)) / ITER ))
w_event=$(( $(v A writer_instr) / $(v A all_events) ))
copy_row=$(( $(v A copy_instr) / $(v A loop_events) ))
conn_ev=$(awk -v e="$(v A conn_events)" -v c="$CONNS" 'BEGIN { printf "%.2f", e / c }')
loop_ev=$(awk -v e="$(v A loop_events)" -v c="$ITER" 'BEGIN { printf "%.2f", e / c }')
share() { awk -v a="$1" -v w="$2" -v e="$3" -v n="$4" 'BEGIN { printf "%.4f", (a + w * e) / n - 1 }'; }

printf '\n%-34s %14s %14s %8s\n' "instructions per operation" "N" "A" "A/N-1"
printf '%-34s %14d %14d %8s\n' "connection: backend" "$conn_n" "$conn_a" "$(share "$conn_a" 0 0 "$conn_n")"
printf '%-34s %14s %14.0f %8s\n' "connection: + writer ($conn_ev events)" "" \
	"$(awk -v a="$conn_a" -v w="$w_event" -v e="$conn_ev" 'BEGIN { print a + w * e }')" "$(share "$conn_a" "$w_event" "$conn_ev" "$conn_n")"
printf '%-34s %14d %14d %8s\n' "admin loop: backend" "$loop_n" "$loop_a" "$(share "$loop_a" 0 0 "$loop_n")"
printf '%-34s %14s %14.0f %8s\n' "admin loop: + writer ($loop_ev events)" "" \
	"$(awk -v a="$loop_a" -v w="$w_event" -v e="$loop_ev" 'BEGIN { print a + w * e }')" "$(share "$loop_a" "$w_event" "$loop_ev" "$loop_n")"
echo
echo "writer: $w_event instructions per event over $(v A all_events) events"
echo "  of which entry_data to jsonb $(( $(v A writer_jsonb) / $(v A all_events) )), index entries $(( $(v A writer_index) / $(v A all_events) ))"
echo "  not counted: the rules' reread, $(v A writer_refresh) in all (at most once a second, whatever the rate)"
echo "floor: COPY FROM of the loop's $(v A loop_events) rows into a table shaped like a partition: $copy_row per row"
echo "the floor of the admin loop with its rows stored: $(share "$loop_n" "$copy_row" "$loop_ev" "$loop_n") over N (N's loop plus the rows at COPY's cost)"
echo

bench_result instr_conn_backend_added "$(share "$conn_a" 0 0 "$conn_n")" "<=" 0.02 -
bench_result instr_conn_added "$(share "$conn_a" "$w_event" "$conn_ev" "$conn_n")" "<=" 0.02 -
bench_result instr_admin_backend_added "$(share "$loop_a" 0 0 "$loop_n")" "<=" 0.05 -
bench_result instr_admin_added "$(share "$loop_a" "$w_event" "$loop_ev" "$loop_n")" "<=" 0.05 -
bench_result instr_writer_per_event_vs_copy "$(bench_ratio "$w_event" "$copy_row")" "<=" 1.0 -
