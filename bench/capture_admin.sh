#!/usr/bin/env bash
# bench/capture_admin.sh: cost of capturing administrative commands.
#
# A pgbench loop of CREATE ROLE ... PASSWORD / GRANT / REVOKE / DROP ROLE
# (five captured events per loop: CREATE_USER, PASSWORD_CHANGE,
# GRANT_PRIVILEGE, REVOKE_PRIVILEGE, DROP_USER) on one throwaway cluster,
# alternately with audit_log preloaded (audit_log.capture = all, events
# written by the background writer into audit_log.events) and restarted
# without the library.  Prints the transactions per second of each run and
# the ratio captured / native (target: at least 0.90).
#
# Run as root.  bench/lib.sh builds this tree into a private copy of the
# system PostgreSQL 15; the cluster lives under /tmp on a free port and is
# stopped at the end.
#
# Environment: ROUNDS (default 3), SECONDS_PER_RUN (default 15), CLIENTS
# (default 2), WITH_PASSWORD (default yes; "no" drops
# the PASSWORD clause, whose SCRAM hashing otherwise dominates the loop).
set -eu

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
CLIENTS=${CLIENTS:-2}
WITH_PASSWORD=${WITH_PASSWORD:-yes}

source "$(dirname "$0")/lib.sh"
bench_setup admin
bench_node main "shared_buffers = 128MB" "fsync = off" "audit_log.database = 'postgres'" "audit_log.capture = 'all'"
work=$BENCH_DIR

psql() { bench_psql main "$@"; }

start() { # with_library: yes|no
	if [ "$1" = yes ]; then
		bench_start main "-c shared_preload_libraries=audit_log"
	else
		bench_start main
	fi
}
stop() { bench_stop main; }

start yes
psql -c "CREATE EXTENSION audit_log"
# one table per client: concurrent GRANTs on one table collide on its
# pg_class row ("tuple concurrently updated") with or without audit_log
for c in $(seq 0 $((CLIENTS - 1))); do
	psql -c "CREATE TABLE bench_t_$c (a int)"
done
stop

cat > "$work/admin.sql" <<'EOF'
CREATE ROLE bench_r_:client_id LOGIN PASSWORD 'bench-not-a-secret';
GRANT SELECT, UPDATE ON bench_t_:client_id TO bench_r_:client_id;
REVOKE ALL ON bench_t_:client_id FROM bench_r_:client_id;
DROP ROLE bench_r_:client_id;
EOF
if [ "$WITH_PASSWORD" = no ]; then
	sed -i "s/ PASSWORD 'bench-not-a-secret'//" "$work/admin.sql"
fi
chown postgres:postgres "$work/admin.sql"

run() { # label -> prints tps
	bench_pgbench main -n -c "$CLIENTS" -j "$CLIENTS" \
		-T "$SECONDS_PER_RUN" -f "$work/admin.sql" postgres 2>"$work/pgbench.err" |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
	if grep -q "error" "$work/pgbench.err"; then
		cat "$work/pgbench.err" >&2
		exit 1
	fi
}

declare -a on off
for r in $(seq 1 "$ROUNDS"); do
	start yes
	before=$(psql -At -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'CREATE_USER'")
	t=$(run)
	psql -At -c "SELECT audit_log.flush('60 s')" >/dev/null
	after=$(psql -At -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'CREATE_USER'")
	stop
	on+=("$t")
	echo "round $r  captured: $t tps  ($((after - before)) CREATE_USER rows written)"

	start no
	t=$(run)
	stop
	off+=("$t")
	echo "round $r  native:   $t tps"
done

# Median of each series, then the ratio.
m_on=$(bench_median "${on[@]}")
m_off=$(bench_median "${off[@]}")
ratio=$(bench_ratio "$m_on" "$m_off")

start yes
dropped=$(psql -At -c "SELECT dropped FROM audit_log.status")
secret_rows=$(psql -At -c "SELECT count(*) FROM audit_log.events WHERE events::text LIKE '%bench-not-a-secret%'")
stop

echo
echo "CREATE ROLE/GRANT/REVOKE/DROP ROLE loop (password: $WITH_PASSWORD), $CLIENTS clients, ${SECONDS_PER_RUN}s x $ROUNDS rounds"
echo "median tps captured: $m_on"
echo "median tps native:   $m_off"
echo "ratio captured/native: $ratio (target >= 0.90)"
per=""
for i in "${!on[@]}"; do per="$per $(bench_ratio "${on[$i]}" "${off[$i]}")"; done
bench_result "capture_admin_password_$WITH_PASSWORD" "$ratio" ">=" 0.90 "$(bench_spread $per)"
echo "events dropped by the queue: $dropped; rows containing the password: $secret_rows"
