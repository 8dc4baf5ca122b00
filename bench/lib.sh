# bench/lib.sh: shared by the benchmarks.  Source it, then call
# bench_start_cluster NAME [extra postgresql.conf lines...]; it builds and
# installs audit_log into the system PostgreSQL (make install, as root),
# starts a throwaway cluster as the postgres user in /tmp on a free port and
# stops it when the script exits.  Sets PGHOST, PGPORT, PGUSER, PGDATABASE.
set -eu
PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_install() {
	(cd "$bench_root" && make -s PG_CONFIG=$PGBIN/pg_config >/dev/null && make -s PG_CONFIG=$PGBIN/pg_config install >/dev/null)
}

bench_start_cluster() { # name, then postgresql.conf lines
	local name=$1; shift
	BENCH_DIR=$(mktemp -d /tmp/audit_log_bench_$name.XXXXXX)
	chown postgres "$BENCH_DIR"
	local port=$(( 30000 + RANDOM % 20000 ))
	while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
	runuser -u postgres -- initdb -D "$BENCH_DIR/data" -A trust -U postgres >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$BENCH_DIR'"
		echo "shared_buffers = '1GB'"
		echo "max_wal_size = '8GB'"
		echo "checkpoint_timeout = '30min'"
		for line in "$@"; do echo "$line"; done
	} >>"$BENCH_DIR/data/postgresql.conf"
	runuser -u postgres -- pg_ctl -D "$BENCH_DIR/data" -l "$BENCH_DIR/server.log" -w start >/dev/null
	trap 'runuser -u postgres -- pg_ctl -D "$BENCH_DIR/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$BENCH_DIR"' EXIT
	export PGHOST=$BENCH_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

bench_psql() { runuser -u postgres -- env PGHOST="$PGHOST" PGPORT="$PGPORT" psql -X -q -v ON_ERROR_STOP=1 -d "${PGDATABASE}" "$@"; }

# tps of a pgbench script file: bench_tps FILE CLIENTS SECONDS [extra pgbench args]
bench_tps() {
	local file=$1 clients=$2 secs=$3; shift 3
	runuser -u postgres -- env PGHOST="$PGHOST" PGPORT="$PGPORT" \
		pgbench -n -f "$file" -c "$clients" -j "$clients" -T "$secs" "$@" "$PGDATABASE" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
