# bench/lib.sh: what the benchmarks share.  Source it from a benchmark run as
# root, then:
#
#   bench_setup NAME       (as root only) a scratch directory $BENCH_DIR under
#                          /tmp, owned by postgres, removed at exit after
#                          every node started here is stopped; in it a
#                          private copy of the system PostgreSQL $BENCH_PGVER (default 15) with this
#                          tree built and installed ($PGBIN: its binaries),
#                          so that builds installed into the system meanwhile
#                          cannot be measured by mistake and the system is
#                          untouched
#   bench_node NODE [LINE...]
#                          initdb $BENCH_DIR/NODE (not started) on a free port,
#                          ${BENCH_PORT[NODE]}, its Unix socket in $BENCH_DIR,
#                          no TCP unless a LINE says so; the LINEs are
#                          postgresql.conf lines appended after ours
#   bench_start NODE [pg_ctl -o OPTIONS]   bench_stop NODE [MODE]
#   bench_restart NODE     start, stop (fast by default), restart
#   bench_psql NODE [ARG...]     psql -X -q into database postgres of NODE
#   bench_sql NODE [ARG...]      the same, stopping at the first error
#   bench_pgbench NODE [ARG...]  pgbench against NODE (database: last ARG)
#   bench_tps NODE FILE CLIENTS SECONDS [ARG...]
#                          the tps of pgbench running FILE
#   bench_median [N...]    the median of the numbers (arguments or stdin)
#   bench_ratio A B        A / B with three decimals
#   bench_as_pg CMD...     run CMD as the postgres user
#   bench_result NAME VALUE OP TARGET [SPREAD]
#                          the machine-readable line bench/run-all collects:
#                          RESULT name=NAME value=VALUE target=OPTARGET spread=SPREAD
#                          (OP is <= or >=; SPREAD is LOW..HIGH over the
#                          rounds, or - when there is none); also appended to
#                          $BENCH_RESULTS when that is set
#   bench_spread [N...]    LOW..HIGH of the numbers (arguments or stdin)
#   bench_pgaudit          true when Debian's postgresql-$BENCH_PGVER-pgaudit is
#                          installed (installed first when missing and it can
#                          be); otherwise prints a SKIPPED line and is false
#   bench_admin_scripts DIR SECRET
#                          DIR/w3.sql: CREATE ROLE / GRANT / REVOKE / DROP ROLE,
#                          a role per pgbench client, each statement its own
#                          transaction (GRANT on pgbench_branches: pgbench -i
#                          first); DIR/w4.sql: the same with CREATE ROLE ...
#                          PASSWORD 'SECRET'
#   bench_events_size NODE "bytes rows" of audit_log.events on NODE after
#                          audit_log.flush(): every partition with its TOAST
#                          and indexes (pg_total_relation_size), its rows
#
# Durability: "${BENCH_DURABLE[@]}" are the settings of a production server
# (fsync, synchronous_commit and full_page_writes on), "${BENCH_FAST[@]}" the
# same turned off, for loading data that is not what is measured;
# "${BENCH_NO_WAL[@]}" lets a transaction that creates a table fill it
# without WAL (wal_level minimal, no WAL senders).
#
# Copyright (c) 2026, audit_log developers
set -eu

BENCH_PGVER=${BENCH_PGVER:-15}
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DURABLE=("fsync = on" "synchronous_commit = on" "full_page_writes = on")
BENCH_FAST=("fsync = off" "synchronous_commit = off" "full_page_writes = off")
BENCH_NO_WAL=("wal_level = minimal" "max_wal_senders = 0")
declare -A BENCH_PORT=()

bench_as_pg() { runuser -u postgres -- "$@"; }

bench_cleanup() {
	local n
	for n in "${!BENCH_PORT[@]}"; do
		[ -f "$BENCH_DIR/$n/postmaster.pid" ] &&
			bench_as_pg "$PGBIN/pg_ctl" -D "$BENCH_DIR/$n" -m immediate -w stop >/dev/null 2>&1
	done
	rm -rf "$BENCH_DIR"
}

bench_setup() { # name
	[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
	BENCH_DIR=$(mktemp -d "/tmp/audit_log_bench_$1.XXXXXX")
	trap bench_cleanup EXIT
	local pg=$BENCH_DIR/pg
	PGBIN=$pg/usr/lib/postgresql/$BENCH_PGVER/bin
	echo "== private PostgreSQL $BENCH_PGVER copy and build in $BENCH_DIR"
	mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql" "$pg/usr/include" "$BENCH_DIR/src"
	cp -a /usr/lib/postgresql/$BENCH_PGVER "$pg/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/$BENCH_PGVER "$pg/usr/share/postgresql/"
	cp -a /usr/include/postgresql "$pg/usr/include/"
	tar -C "$bench_root" --exclude=.git --exclude='tmp_check*' --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
		tar -C "$BENCH_DIR/src" -xf -
	chown -R postgres:postgres "$BENCH_DIR"
	if ! bench_as_pg make -s -C "$BENCH_DIR/src" PG_CONFIG="$PGBIN/pg_config" >"$BENCH_DIR/build.log" 2>&1 ||
		! bench_as_pg make -s -C "$BENCH_DIR/src" PG_CONFIG="$PGBIN/pg_config" install >>"$BENCH_DIR/build.log" 2>&1; then
		cat "$BENCH_DIR/build.log" >&2; exit 1
	fi
}

bench_node() { # node, then postgresql.conf lines
	local n=$1 port line; shift
	# 20000-31999: below the kernel's ephemeral range (32768-60999), where
	# the ports of outgoing connections come from
	port=$(( 20000 + RANDOM % 12000 ))
	while ss -ltn 2>/dev/null | grep -q ":$port " || [ -e "$BENCH_DIR/.s.PGSQL.$port" ] ||
		printf '%s\n' "${BENCH_PORT[@]}" | grep -qx "$port"; do
		port=$((port + 1))
	done
	BENCH_PORT[$n]=$port
	bench_as_pg "$PGBIN/initdb" -D "$BENCH_DIR/$n" -A trust -U postgres -N >"$BENCH_DIR/$n.initdb.log" 2>&1 ||
		{ cat "$BENCH_DIR/$n.initdb.log" >&2; exit 1; }
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$BENCH_DIR'"
		for line in "$@"; do echo "$line"; done
	} >>"$BENCH_DIR/$n/postgresql.conf"
}

bench_start() { # node [pg_ctl -o options]
	local opts=()
	[ $# -gt 1 ] && opts=(-o "$2")
	bench_as_pg "$PGBIN/pg_ctl" -D "$BENCH_DIR/$1" -l "$BENCH_DIR/$1.log" -w "${opts[@]}" start >/dev/null ||
		{ tail -20 "$BENCH_DIR/$1.log" >&2; exit 1; }
}
bench_stop() { bench_as_pg "$PGBIN/pg_ctl" -D "$BENCH_DIR/$1" -m "${2:-fast}" -w stop >/dev/null; }
bench_restart() {
	bench_as_pg "$PGBIN/pg_ctl" -D "$BENCH_DIR/$1" -l "$BENCH_DIR/$1.log" -w restart >/dev/null ||
		{ tail -20 "$BENCH_DIR/$1.log" >&2; exit 1; }
}

bench_psql() { # node, psql arguments
	local n=$1; shift
	bench_as_pg "$PGBIN/psql" -X -q -h "$BENCH_DIR" -p "${BENCH_PORT[$n]}" -U postgres -d postgres "$@"
}

bench_sql() { local n=$1; shift; bench_psql "$n" -v ON_ERROR_STOP=1 "$@"; }

bench_pgbench() { # node, pgbench arguments
	local n=$1; shift
	bench_as_pg "$PGBIN/pgbench" -h "$BENCH_DIR" -p "${BENCH_PORT[$n]}" -U postgres "$@"
}

bench_tps() { # node file clients seconds [pgbench arguments]
	local n=$1 file=$2 clients=$3 secs=$4; shift 4
	bench_pgbench "$n" -n -f "$file" -c "$clients" -j "$clients" -T "$secs" "$@" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

bench_median() { # numbers as arguments, or one a line on stdin
	{ if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi; } | sort -g |
		awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

bench_spread() { # numbers as arguments, or one a line on stdin
	{ if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi; } | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f..%.3f", lo, hi }'
}

bench_pgaudit() {
	local so=/usr/lib/postgresql/$BENCH_PGVER/lib/pgaudit.so
	if [ ! -f "$so" ]; then
		echo "== pgaudit is not installed: apt-get install postgresql-$BENCH_PGVER-pgaudit"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$BENCH_PGVER-pgaudit" >/dev/null 2>&1 || true
	fi
	[ -f "$so" ] && return 0
	echo "== SKIPPED pgaudit (postgresql-$BENCH_PGVER-pgaudit) is not installed and could not be installed"
	return 1
}

bench_admin_scripts() { # dir secret
	cat >"$1/w3.sql" <<'SQL'
CREATE ROLE peers_r_:client_id;
GRANT SELECT ON TABLE pgbench_branches TO peers_r_:client_id;
REVOKE SELECT ON TABLE pgbench_branches FROM peers_r_:client_id;
DROP ROLE peers_r_:client_id;
SQL
	sed "1s/.*/CREATE ROLE peers_r_:client_id PASSWORD '$2';/" "$1/w3.sql" >"$1/w4.sql"
	chown postgres "$1/w3.sql" "$1/w4.sql"
}

bench_events_size() { # node
	bench_psql "$1" -At -F ' ' -c "SELECT audit_log.flush()" -c "
		SELECT coalesce(sum(pg_total_relation_size(relid)), 0),
			   (SELECT count(*) FROM audit_log.events)
		FROM pg_partition_tree('audit_log.events')" | tail -1
}

bench_result() { # name value op target [spread]
	local line="RESULT name=$1 value=$2 target=$3$4 spread=${5:--}"
	echo "$line"
	if [ -n "${BENCH_RESULTS:-}" ]; then echo "$line" >>"$BENCH_RESULTS"; fi
}
