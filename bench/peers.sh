#!/usr/bin/env bash
# bench/peers.sh: what audit_log costs next to its peers (issue 20), measured
# from outside.  Run as root (about 9 minutes a round at the defaults).
#
# Four servers, identical but for the auditing (production durability:
# fsync, synchronous_commit and full_page_writes on; every client over TCP
# with scram-sha-256):
#   N  no extension
#   P  pgaudit (pgaudit.log = 'role, ddl') with log_connections and
#      log_disconnections (Debian's postgresql-15-pgaudit; P is skipped
#      with a message when it is not installed and cannot be)
#   A  audit_log
#   S  audit_log with audit_log.synchronous = on
# Each round runs them in alternating order, N P A S S A P N (ROUNDS rounds,
# default 3), one server up at a time, each slot running the workloads:
#   W1 connections/s: pgbench -C -S (a new connection per transaction)
#   W2 failed logins/s: psql with a wrong password, FAILS attempts
#   W3 CREATE ROLE / GRANT / REVOKE / DROP ROLE, each its own transaction:
#      loops/s (pgbench, a script of the four statements)
#   W4 the same with CREATE ROLE ... PASSWORD: loops/s
#   W5 pgbench TPC-B tps
# For each: the rate; the server CPU per operation (utime + stime from /proc
# of the postmaster and of every process whose parent it is, plus the
# postmaster's cutime + cstime, which hold its exited children: before and
# after); the WAL bytes per operation (pg_current_wal_lsn before and after);
# the storage per 1,000 events (P: the bytes and lines its server log grew
# by; A and S: the bytes audit_log.events grew by, tables and indexes, and
# its rows).  Every slot is printed, then the medians (N and P: ROUNDS
# samples each, A and S: 2 x ROUNDS) with min-max, and the ratios A/N, P/N,
# A/P, S/N and S/A; the ratios with a target (issue 20) also as RESULT lines.
# Last, the password W4 used is searched in audit_log.events and in the
# server logs of A and S: in a row or in a line of audit_log's is a failure;
# lines PostgreSQL writes itself (the STATEMENT of an ERROR) are counted
# apart and printed masked.
#
# QUICK=1: a short proof run (1 round, 2 s workloads, few failed logins).
set -euo pipefail

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} DUR=${DUR:-2} FAILS=${FAILS:-20}
else
	ROUNDS=${ROUNDS:-3} DUR=${DUR:-10} FAILS=${FAILS:-200}
fi
CLIENTS=${CLIENTS:-2}

source "$(dirname "$0")/lib.sh"

configs="N P A S"
bench_pgaudit || configs="N A S"

bench_setup peers
dir=$BENCH_DIR
pw="peers-$RANDOM$RANDOM"                 # the superuser's, for the TCP clients
secret="PeersW4Secret$RANDOM$RANDOM"      # W4's: must never be stored
hz=$(getconf CLK_TCK)

common=("${BENCH_DURABLE[@]}" "listen_addresses = '127.0.0.1'" "max_connections = 50"
	"password_encryption = 'scram-sha-256'")
for c in $configs; do
	case $c in
	N) extra=() ;;
	P) extra=("shared_preload_libraries = 'pgaudit'" "pgaudit.log = 'role, ddl'"
		"log_connections = on" "log_disconnections = on") ;;
	A) extra=("shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'") ;;
	S) extra=("shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'"
		"audit_log.synchronous = on") ;;
	esac
	bench_node "$c" "${common[@]}" "${extra[@]}"
	# listen_addresses: ours comes after bench_node's '' (the last one counts)
	sed -i '1i host all all 127.0.0.1/32 scram-sha-256' "$dir/$c/pg_hba.conf"
	bench_start "$c"
	bench_sql "$c" -c "ALTER ROLE postgres PASSWORD '$pw'" \
		-c "CREATE ROLE bench_fail LOGIN PASSWORD 'right-$pw'"
	case $c in
	P) bench_sql "$c" -c "CREATE EXTENSION pgaudit" ;;
	A | S) bench_sql "$c" -c "CREATE EXTENSION audit_log" ;;
	esac
	bench_pgbench "$c" -i -q -s 1 postgres >/dev/null 2>&1
	bench_sql "$c" -c "CHECKPOINT"
	bench_stop "$c"
done

# the workload scripts: a role per client, each statement its own transaction
bench_admin_scripts "$dir" "$secret"

tcp() { # node, command and arguments (psql or pgbench) over TCP with scram
	local n=$1 cmd=$2; shift 2
	bench_as_pg env PGPASSWORD="$pw" "$PGBIN/$cmd" -h 127.0.0.1 -p "${BENCH_PORT[$n]}" -U postgres "$@"
}

cpu_ticks() { # node: utime + stime of the postmaster, its children, and its exited children
	local pm
	pm=$(head -1 "$dir/$1/postmaster.pid")
	# /proc/PID/stat: fields after the ")" of the command name: 3 state, 4 ppid,
	# ... 14 utime, 15 stime, 16 cutime, 17 cstime
	for f in /proc/[0-9]*/stat; do cat "$f" 2>/dev/null || true; done |
		sed 's/^\([0-9]*\) (.*) /\1 /' |
		awk -v pm="$pm" '$1 == pm { t += $13 + $14 + $15 + $16 } $3 == pm { t += $13 + $14 } END { print t + 0 }'
}

snapshot() { # node: cpu_ticks wal_lsn_bytes log_bytes log_lines events_bytes events_rows
	local n=$1 ev="0 0"
	if [ "$n" = A ] || [ "$n" = S ]; then
		ev=$(bench_events_size "$n")
	fi
	echo "$(cpu_ticks "$n") $(bench_psql "$n" -At -c "SELECT pg_current_wal_lsn() - '0/0'") \
$(stat -c %s "$dir/$n.log") $(wc -l <"$dir/$n.log") $ev"
}

# one workload on the running server n: prints "rate ops"
run_w() { # node workload
	local n=$1 w=$2 out t0 t1
	# a role a client of an earlier run left behind would fail CREATE ROLE
	case $w in W3 | W4) bench_psql "$n" -c "DROP ROLE IF EXISTS $(seq -f 'peers_r_%g' -s , 0 $((CLIENTS - 1)))" 2>/dev/null ;; esac
	case $w in
	W1) out=$(tcp "$n" pgbench -n -C -S -c "$CLIENTS" -j "$CLIENTS" -T "$DUR" postgres 2>/dev/null) ;;
	W3) out=$(tcp "$n" pgbench -n -f "$dir/w3.sql" -c "$CLIENTS" -j "$CLIENTS" -T "$DUR" postgres 2>/dev/null) ;;
	W4) out=$(tcp "$n" pgbench -n -f "$dir/w4.sql" -c "$CLIENTS" -j "$CLIENTS" -T "$DUR" postgres 2>/dev/null) ;;
	W5) out=$(tcp "$n" pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$DUR" postgres 2>/dev/null) ;;
	W2)
		t0=$(date +%s.%N)
		for ((c = 0; c < CLIENTS; c++)); do
			(for ((i = 0; i < FAILS / CLIENTS; i++)); do
				bench_as_pg env PGPASSWORD=wrong "$PGBIN/psql" -X -q -h 127.0.0.1 -p "${BENCH_PORT[$n]}" \
					-U bench_fail -d postgres -c "SELECT 1" >/dev/null 2>&1 && echo "a wrong password was accepted" >&2
			done) &
		done
		wait
		t1=$(date +%s.%N)
		awk -v n="$(( FAILS / CLIENTS * CLIENTS ))" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f %d\n", n / (b - a), n }'
		return ;;
	esac
	local ops tps
	ops=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	[ -n "$ops" ] && [ -n "$tps" ] || { echo "pgbench $w on $n failed" >&2; exit 1; }
	echo "$tps $ops"
}

order() { # the slots of a round: the configs, then the same reversed
	local c rev=""
	for c in $configs; do rev="$c $rev"; done
	echo "$configs $rev"
}

res=$dir/slots   # one line per slot and workload
: >"$res"
printf '\n%-5s %-4s %-3s %10s %12s %12s %14s %10s %12s\n' round conf w rate "CPU ms/op" "WAL B/op" "store B/1000ev" "events" "log B/1000ln"
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $(order); do
		bench_start "$c"
		for w in W1 W2 W3 W4 W5; do
			read -r c0 l0 b0 n0 e0 r0 <<<"$(snapshot "$c")"
			read -r rate ops <<<"$(run_w "$c" "$w")"
			read -r c1 l1 b1 n1 e1 r1 <<<"$(snapshot "$c")"
			# storage: P its server log, A and S their table (with indexes)
			awk -v r="$r" -v c="$c" -v w="$w" -v rate="$rate" -v ops="$ops" -v hz="$hz" \
				-v cpu=$((c1 - c0)) -v wal=$((l1 - l0)) -v lb=$((b1 - b0)) -v ln=$((n1 - n0)) \
				-v eb=$((e1 - e0)) -v er=$((r1 - r0)) 'BEGIN {
				cpuop = 1000 * cpu / hz / ops; walop = wal / ops
				if (c == "A" || c == "S") { ev = er; st = er > 0 ? 1000 * eb / er : 0 }
				else if (c == "P") { ev = ln; st = ln > 0 ? 1000 * lb / ln : 0 }
				else { ev = 0; st = 0 }
				logst = ln > 0 ? 1000 * lb / ln : 0
				printf "%-5s %-4s %-3s %10.1f %12.3f %12.0f %14.0f %10d %12.0f\n", r, c, w, rate, cpuop, walop, st, ev, logst > "/dev/stderr"
				printf "%s %s %s %s %s %s %s %s\n", r, c, w, rate, cpuop, walop, st, ev
			}' 2>&1 >>"$res"
		done
		bench_stop "$c"
	done
done

med() { # config workload column(4 rate, 5 cpu, 6 wal, 7 storage)
	awk -v c="$1" -v w="$2" -v k="$3" '$2 == c && $3 == w { print $k }' "$res" | bench_median
}
spr() { awk -v c="$1" -v w="$2" -v k="$3" '$2 == c && $3 == w { print $k }' "$res" | bench_spread; }
ratio() { # a b: a / b, or - when b is 0 or missing
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.3f", a / b }'
}

echo
echo "== medians (min..max) over the rounds"
for k in 4 5 6 7; do
	case $k in 4) what="rate (ops/s)" ;; 5) what="server CPU ms per op" ;; 6) what="WAL bytes per op" ;;
	7) what="storage bytes per 1000 events (P: server log; A, S: table + indexes)" ;; esac
	echo "-- $what"
	printf '%-3s' w
	for c in $configs; do printf ' %26s' "$c"; done
	printf '   %6s %6s %6s %6s %6s\n' A/N P/N A/P S/N S/A
	for w in W1 W2 W3 W4 W5; do
		printf '%-3s' "$w"
		declare -A m=()
		for c in $configs; do
			m[$c]=$(med "$c" "$w" "$k")
			printf ' %26s' "$(printf '%.3f (%s)' "${m[$c]}" "$(spr "$c" "$w" "$k")")"
		done
		printf '   %6s %6s %6s %6s %6s\n' "$(ratio "${m[A]}" "${m[N]}")" "$(ratio "${m[P]:-0}" "${m[N]}")" \
			"$(ratio "${m[A]}" "${m[P]:-0}")" "$(ratio "${m[S]}" "${m[N]}")" "$(ratio "${m[S]}" "${m[A]}")"
		unset m
	done
done

# the issue's targets, as RESULT lines: ratio of medians, spread of the
# per-round ratios (each A slot against the N slot of its round)
per_round() { # config base workload column: the ratio of every slot to its round's base
	awk -v c="$1" -v b="$2" -v w="$3" -v k="$4" '$3 == w && $2 == b { base[$1] += $k; nb[$1]++ }
		$3 == w && $2 == c { v[++n] = $1 " " $k }
		END { for (i = 1; i <= n; i++) { split(v[i], x, " "); if (base[x[1]] > 0) printf "%.3f\n", x[2] / (base[x[1]] / nb[x[1]]) } }' "$res"
}
result() { # name config base workload column op target
	local v
	v=$(ratio "$(med "$2" "$4" "$5")" "$(med "$3" "$4" "$5")")
	[ "$v" = - ] && return
	bench_result "$1" "$v" "$6" "$7" "$(per_round "$2" "$3" "$4" "$5" | bench_spread)"
}
echo
result peers_W1_rate_A/N A N W1 4 ">=" 0.97
result peers_W2_rate_A/N A N W2 4 ">=" 0.97
result peers_W3_rate_A/N A N W3 4 ">=" 0.95
result peers_W4_rate_A/N A N W4 4 ">=" 0.95
result peers_W5_rate_A/N A N W5 4 ">=" 0.99
if [[ " $configs " == *" P "* ]]; then
	result peers_W1_rate_A/P A P W1 4 ">=" 1.0
	result peers_W2_rate_A/P A P W2 4 ">=" 1.0
	result peers_W3_storage_A/P A P W3 7 "<=" 2.5
fi
result peers_W1_cpu_A/N A N W1 5 "<=" 1.02
result peers_W3_cpu_A/N A N W3 5 "<=" 1.05

# the secret of W4: never in a row, never in a line audit_log writes to the
# server log; lines PostgreSQL itself writes with the statement (an ERROR's
# STATEMENT line) are counted apart, and shown with the secret masked
echo
leak_lines() { # node: the lines of its server log with the secret, masked
	grep -- "$secret" "$dir/$1.log" | sed "s/$secret/<secret>/g" || true
}
for c in $configs; do
	[ "$c" = A ] || [ "$c" = S ] || continue
	bench_start "$c"
	rows=$(bench_psql "$c" -At -c "SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$secret%'")
	total=$(bench_psql "$c" -At -c "SELECT count(*) FROM audit_log.events")
	bench_stop "$c"
	ours=$(leak_lines "$c" | grep -c 'audit_log' || true)
	theirs=$(leak_lines "$c" | grep -vc 'audit_log' || true)
	echo "secret of W4 on $c: in audit_log.events $rows of $total rows, in audit_log's server-log lines $ours," \
		"in PostgreSQL's own lines $theirs: $([ "$rows$ours" = 00 ] && echo ok || echo LEAKED)"
	leak_lines "$c" | head -4 | sed 's/^/   /'
	bench_result "peers_secret_leaks_$c" "$((rows + ours))" "<=" 0 -
done
if [[ " $configs " == *" P "* ]]; then
	echo "(for comparison, the server log of P: $(leak_lines P | wc -l) lines with the secret)"
	leak_lines P | head -2 | sed 's/^/   /'
fi
