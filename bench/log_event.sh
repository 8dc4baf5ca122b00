#!/usr/bin/env bash
# bench/log_event.sh: single-row log_event() throughput against a plain
# INSERT of the same columns into an unpartitioned table without triggers.
# pgbench, 2 clients, SECONDS (the first argument, or DUR; default 20) each, same server, same run.
# Run as root.  Prints the ratio (target: at least 0.95, with the origin
# column and the bounds check on request_time of 1.1).
source "$(dirname "$0")/lib.sh"
SECONDS_EACH=${1:-${DUR:-20}}
bench_setup log_event
bench_node main "listen_addresses = '127.0.0.1'" "shared_buffers = '1GB'" "max_wal_size = '8GB'" \
	"checkpoint_timeout = '30min'" "shared_preload_libraries = 'audit_log'" "audit_log.database = 'postgres'"
bench_start main

bench_sql main <<'SQL'
CREATE EXTENSION audit_log;
SELECT audit_log.maintain();
SELECT audit_log.register_event_type('EXPORTS', 'BENCH_DOWNLOAD', 'benchmark event');
CREATE TABLE plain_events (LIKE audit_log.events INCLUDING DEFAULTS);
SQL

w=$BENCH_DIR/work; mkdir -p "$w"; chown postgres "$w"
cat >"$w/log_event.sql" <<'SQL'
SELECT audit_log.log_event('EXPORTS', 'BENCH_DOWNLOAD', 'SUCCESS', 'ann@example.com', 'report.pdf', '{"pages": 3}');
SQL
cat >"$w/insert.sql" <<'SQL'
INSERT INTO plain_events (event_id, request_time, logged_time, event_category, event_type, event_status,
	user_name, user_email, object_name, client_addr, application_name, database_name, backend_pid,
	session_id, source_node, entry_data, origin)
VALUES (gen_random_uuid(), clock_timestamp(), clock_timestamp(), 'EXPORTS', 'BENCH_DOWNLOAD', 'SUCCESS',
	current_user, 'ann@example.com', 'report.pdf', inet_client_addr(), current_setting('application_name'),
	current_database(), pg_backend_pid(), 'x', 'node', '{"pages": 3}', 'APPLICATION');
SQL
chown postgres "$w"/*.sql

# warm up both, then measure alternately (insert, log_event) twice
bench_tps main "$w/insert.sql" 2 3 -h 127.0.0.1 >/dev/null
bench_tps main "$w/log_event.sql" 2 3 -h 127.0.0.1 >/dev/null
ins1=$(bench_tps main "$w/insert.sql" 2 "$SECONDS_EACH" -h 127.0.0.1)
log1=$(bench_tps main "$w/log_event.sql" 2 "$SECONDS_EACH" -h 127.0.0.1)
log2=$(bench_tps main "$w/log_event.sql" 2 "$SECONDS_EACH" -h 127.0.0.1)
ins2=$(bench_tps main "$w/insert.sql" 2 "$SECONDS_EACH" -h 127.0.0.1)
ins=$(bench_median "$ins1" "$ins2")
log=$(bench_median "$log1" "$log2")
rows=$(bench_psql main -At -c "SELECT count(*) FROM audit_log.events WHERE event_type = 'BENCH_DOWNLOAD'")
echo "log_event: plain INSERT $ins tps ($ins1, $ins2); log_event $log tps ($log1, $log2); rows logged $rows"
echo "log_event: ratio log_event/INSERT = $(bench_ratio "$log" "$ins") (target >= 0.95)"
bench_result log_event_vs_insert "$(bench_ratio "$log" "$ins")" ">=" 0.95 \
	"$(bench_spread "$(bench_ratio "$log1" "$ins1")" "$(bench_ratio "$log2" "$ins2")")"
