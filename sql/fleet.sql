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

DROP ROLE regress_fleet_reader;
DROP ROLE regress_fleet_admin;
