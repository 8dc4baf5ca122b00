\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

-- The connection string of an ADD_SOURCE event: every password removed,
-- key=value and URI forms alike.
SELECT audit_log._redact_conninfo('host=db1 port=5433 dbname=postgres user=repl password=s3cr3t');
SELECT audit_log._redact_conninfo('postgresql://repl:s3cr3t@db1:5433/postgres?sslmode=require&sslpassword=k3y');
SELECT audit_log._redact_conninfo('host=db1 user=''o\''brien'' passfile=/etc/audit/pgpass');
-- error: unparsable, and the message does not repeat the string
SELECT audit_log._redact_conninfo('host=db1 password s3cr3t');

-- error: this regression cluster does not run with wal_level = logical
SELECT audit_log.create_publication();

-- errors: bad names, unknown source, nulls
SELECT audit_log.add_source('Bad-Name', 'host=db1');
SELECT audit_log.add_source('a_name_that_is_much_too_long_for_a_slot_name', 'host=db1');
SELECT audit_log.add_source(NULL, 'host=db1');
SELECT audit_log.drop_source('regress_nowhere');
-- error: unreachable source; nothing is left behind
SELECT audit_log.add_source('regress_gone', 'host=/nonexistent/socket/dir port=1 dbname=x');
SELECT count(*) FROM pg_catalog.pg_subscription;
SELECT count(*) FROM audit_log.fleet_sources;

-- Only superusers add and drop sources; readers see the views.
CREATE ROLE regress_fleet_reader;
GRANT audit_log_reader TO regress_fleet_reader;
CREATE ROLE regress_fleet_admin;
GRANT audit_log_admin TO regress_fleet_admin;
SET ROLE regress_fleet_reader;
SELECT count(*) FROM audit_log.sources;
SELECT count(*) FROM audit_log.collectors;
-- error: permission denied
SELECT audit_log.add_source('regress_x', 'host=db1');
SET ROLE regress_fleet_admin;
-- error: permission denied
SELECT audit_log.drop_source('regress_x');
-- error: permission denied
SELECT audit_log.create_publication();
RESET ROLE;
SET ROLE regress_fleet_reader;
-- error: the registry is readable, not writable
INSERT INTO audit_log.fleet_sources (name, slot_name, conninfo) VALUES ('x', 'x', 'x');
RESET ROLE;

-- The duplicate guard is a replication-only trigger on every partition.
SELECT count(*) = count(t.oid) AS all_partitions_guarded,
	   bool_and(t.tgenabled = 'R') AS replica_only
FROM pg_catalog.pg_inherits i
LEFT JOIN pg_catalog.pg_trigger t ON t.tgrelid = i.inhrelid AND t.tgname = 'events_skip_duplicate'
WHERE i.inhparent = 'audit_log.events'::regclass;

-- Every failed attempt is an ADD_SOURCE FAILURE event, through the capture
-- queue (so it outlives its transaction), with the SQLSTATE, the acting
-- role, and the connection string without its password.
CREATE ROLE regress_fleet_adder IN ROLE audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.add_source(text, text) TO regress_fleet_adder;
SELECT set_config('regress_fleet.t0', clock_timestamp()::text, false) IS NOT NULL AS marked;
SET ROLE regress_fleet_adder;
-- error: must be superuser
SELECT audit_log.add_source('regress_y', 'host=db1 user=repl password=Secret_FLEET_1');
RESET ROLE;
-- error: unreachable
SELECT audit_log.add_source('regress_gone', 'host=/nonexistent/socket/dir port=1 dbname=x password=Secret_FLEET_2');
-- error: bad name
SELECT audit_log.add_source('Bad-Name', 'host=db1');
-- error: a connection string that does not parse (recorded without it)
SELECT audit_log.add_source('regress_z', 'host=db1 password Secret_FLEET_3');
SELECT audit_log.flush();
SELECT event_category, event_status, event_status_reason_code AS reason, user_name, object_name, entry_data
FROM audit_log.events
WHERE event_type = 'ADD_SOURCE' AND request_time >= current_setting('regress_fleet.t0')::timestamptz
ORDER BY request_time;
SELECT count(*) AS rows_with_secret FROM audit_log.events WHERE events::text LIKE '%Secret_FLEET%';
REVOKE EXECUTE ON FUNCTION audit_log.add_source(text, text) FROM regress_fleet_adder;
DROP ROLE regress_fleet_adder;

DROP ROLE regress_fleet_reader;
DROP ROLE regress_fleet_admin;
