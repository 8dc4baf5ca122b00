-- Capture of administrative commands (ProcessUtility_hook): roles, attributes,
-- passwords, teams and memberships, privileges, default privileges, foreign
-- servers, user mappings and subscriptions, as SUCCESS and as FAILURE.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- :mark notes the time; :show lists the rows captured since, in a stable
-- order.  Other test files leave their own rows: keep only those that name
-- one of our regress_ca_* objects.
\set mark 'SELECT set_config(''regress_ca.t0'', clock_timestamp()::text, false) IS NOT NULL AS marked'
\set show 'SELECT event_category, event_type, event_status AS status, event_status_reason_code AS reason, user_name, object_name, entry_data FROM audit_log.events WHERE request_time >= current_setting(''regress_ca.t0'')::timestamptz AND event_category <> ''EXPORTS'' AND event_type NOT IN (''LOGIN'', ''LOGOUT'') AND (object_name LIKE ''regress_ca%'' OR entry_data::text LIKE ''%regress_ca%'') ORDER BY request_time, event_type COLLATE "C", object_name COLLATE "C", entry_data::text COLLATE "C"'

-- 1. Roles: a user created with a password and an attribute, a team, a
--    member; attributes, limits, settings, password removal, rename.
:mark;
CREATE ROLE regress_ca_alice LOGIN PASSWORD 'Secret_CA_1' CREATEDB;
CREATE ROLE regress_ca_team;
CREATE USER regress_ca_bob IN ROLE regress_ca_team;
CREATE ROLE regress_ca_nopriv LOGIN;
ALTER ROLE regress_ca_alice CREATEROLE NOCREATEDB;
ALTER ROLE regress_ca_alice CONNECTION LIMIT 3 VALID UNTIL '2031-01-01 00:00:00+00';
ALTER ROLE regress_ca_alice VALID UNTIL 'infinity';
ALTER ROLE regress_ca_alice PASSWORD 'Secret_CA_2';
ALTER ROLE regress_ca_alice PASSWORD NULL;
ALTER ROLE regress_ca_alice SET work_mem = '8MB';
ALTER ROLE regress_ca_team IN DATABASE contrib_regression RESET ALL;
ALTER ROLE regress_ca_bob RENAME TO regress_ca_robert;
ALTER ROLE regress_ca_team RENAME TO regress_ca_group;
ALTER ROLE regress_ca_group RENAME TO regress_ca_team;
SELECT audit_log.flush();
:show;

-- 2. Teams: members granted and revoked (one row per team and member).
:mark;
GRANT regress_ca_team TO regress_ca_alice, regress_ca_nopriv WITH ADMIN OPTION;
REVOKE ADMIN OPTION FOR regress_ca_team FROM regress_ca_nopriv;
REVOKE regress_ca_team FROM regress_ca_alice, regress_ca_nopriv;
ALTER GROUP regress_ca_team ADD USER regress_ca_alice;
ALTER GROUP regress_ca_team DROP USER regress_ca_alice;
SELECT audit_log.flush();
:show;

-- 3. Privileges on a table and a schema, and default privileges.
:mark;
CREATE SCHEMA regress_ca_schema;
CREATE TABLE regress_ca_schema.regress_ca_t (a int, b int);
GRANT USAGE ON SCHEMA regress_ca_schema TO regress_ca_team;
GRANT SELECT, UPDATE (a, b) ON regress_ca_schema.regress_ca_t TO regress_ca_team, regress_ca_alice WITH GRANT OPTION;
REVOKE GRANT OPTION FOR SELECT ON regress_ca_schema.regress_ca_t FROM regress_ca_alice CASCADE;
REVOKE ALL ON regress_ca_schema.regress_ca_t FROM regress_ca_alice;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_ca_schema TO regress_ca_robert;
REVOKE USAGE ON SCHEMA regress_ca_schema FROM regress_ca_team;
ALTER DEFAULT PRIVILEGES IN SCHEMA regress_ca_schema GRANT SELECT, INSERT ON TABLES TO regress_ca_team;
ALTER DEFAULT PRIVILEGES FOR ROLE regress_ca_alice REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
SELECT audit_log.flush();
:show;

-- 4. Connections: a server, a user mapping with a password option (never
--    recorded), changes and drops; a subscription whose connection string
--    has a password (only its other keys are recorded).
:mark;
CREATE SERVER regress_ca_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.example.com', port '5432', dbname 'sales');
ALTER SERVER regress_ca_srv OPTIONS (SET port '5433', ADD sslmode 'require');
CREATE USER MAPPING FOR regress_ca_alice SERVER regress_ca_srv OPTIONS (user 'remote_alice', password 'Secret_CA_3');
ALTER USER MAPPING FOR regress_ca_alice SERVER regress_ca_srv OPTIONS (SET password 'Secret_CA_4', DROP user);
CREATE USER MAPPING FOR PUBLIC SERVER regress_ca_srv;
GRANT USAGE ON FOREIGN SERVER regress_ca_srv TO regress_ca_team;
DROP USER MAPPING FOR PUBLIC SERVER regress_ca_srv;
DROP USER MAPPING FOR regress_ca_alice SERVER regress_ca_srv;
DROP USER MAPPING IF EXISTS FOR regress_ca_alice SERVER regress_ca_srv;
DROP SERVER regress_ca_srv CASCADE;
DROP SERVER IF EXISTS regress_ca_srv;
SET client_min_messages = error;
CREATE SUBSCRIPTION regress_ca_sub CONNECTION 'host=publisher.example.com port=5432 dbname=sales user=repl password=Secret_CA_5' PUBLICATION regress_ca_pub WITH (connect = false, slot_name = NONE);
RESET client_min_messages;
ALTER SUBSCRIPTION regress_ca_sub CONNECTION 'postgresql://repl:Secret_CA_6@publisher2.example.com:5433/sales?sslmode=require';
ALTER SUBSCRIPTION regress_ca_sub SET (synchronous_commit = 'on');
DROP SUBSCRIPTION regress_ca_sub;
SELECT audit_log.flush();
:show;

-- 5. FAILURE: the same kinds of commands attempted by a role without the
--    right.  Each is refused (42501) and still recorded, by the acting role.
--    The server's wording of these refusals changed in PostgreSQL 16: only
--    their SQLSTATE is shown here.
:mark;
CREATE SERVER regress_ca_srv2 FOREIGN DATA WRAPPER postgres_fdw;
SET ROLE regress_ca_nopriv;
\set VERBOSITY sqlstate
-- error: permission denied to create role
CREATE ROLE regress_ca_evil LOGIN PASSWORD 'Secret_CA_7';
-- error: must be superuser to change the superuser attribute
ALTER ROLE regress_ca_alice SUPERUSER;
-- error: permission denied to drop role
DROP ROLE regress_ca_robert;
-- error: must have admin option
GRANT regress_ca_team TO regress_ca_nopriv;
-- error: permission denied for schema
GRANT SELECT ON regress_ca_schema.regress_ca_t TO regress_ca_nopriv;
-- warning: no privileges were granted (FAILURE 01007: nothing changed)
GRANT ALL ON SCHEMA public TO regress_ca_nopriv;
-- error: permission denied to change default privileges
ALTER DEFAULT PRIVILEGES FOR ROLE regress_ca_alice GRANT SELECT ON TABLES TO regress_ca_nopriv;
-- error: permission denied for foreign-data wrapper
CREATE SERVER regress_ca_srv3 FOREIGN DATA WRAPPER postgres_fdw;
-- error: must be owner of foreign server
CREATE USER MAPPING FOR regress_ca_alice SERVER regress_ca_srv2 OPTIONS (password 'Secret_CA_8');
-- error: must be superuser to create subscriptions
CREATE SUBSCRIPTION regress_ca_sub2 CONNECTION 'dbname=x password=Secret_CA_9' PUBLICATION p WITH (connect = false);
-- error: permission denied to drop objects (of a role one is not a member of)
DROP OWNED BY regress_ca_alice;
-- error: permission denied to reassign objects
REASSIGN OWNED BY regress_ca_alice TO regress_ca_nopriv;
\set VERBOSITY terse
RESET ROLE;
GRANT USAGE ON SCHEMA regress_ca_schema TO regress_ca_nopriv;
GRANT SELECT ON regress_ca_schema.regress_ca_t TO regress_ca_nopriv WITH GRANT OPTION;
SET ROLE regress_ca_nopriv;
-- warning: not all privileges were granted (SUCCESS, "partial": true)
GRANT SELECT, UPDATE ON regress_ca_schema.regress_ca_t TO regress_ca_robert;
RESET ROLE;
SELECT audit_log.flush();
:show;

-- 6. FAILURE: commands that succeeded inside a transaction that is rolled
--    back (reason ROLLBACK), that fails later (reason: that error's
--    SQLSTATE), or whose own command fails (its SQLSTATE).
:mark;
BEGIN;
CREATE ROLE regress_ca_temp LOGIN PASSWORD 'Secret_CA_10';
GRANT regress_ca_team TO regress_ca_temp;
GRANT SELECT ON regress_ca_schema.regress_ca_t TO regress_ca_temp;
CREATE USER MAPPING FOR regress_ca_temp SERVER regress_ca_srv2 OPTIONS (password 'Secret_CA_11');
ROLLBACK;
BEGIN;
ALTER ROLE regress_ca_robert CONNECTION LIMIT 2;
-- error: division by zero
SELECT 1 / 0;
ROLLBACK;
BEGIN;
ALTER ROLE regress_ca_alice BYPASSRLS;
-- error: role already exists
CREATE ROLE regress_ca_alice;
ROLLBACK;
-- error: privileges on a table depend on the role
DROP ROLE regress_ca_robert;
SELECT audit_log.flush();
:show;

-- 7. Savepoints and exception blocks: a rolled-back subtransaction's
--    commands are FAILURE, the rest of the transaction commits.
:mark;
BEGIN;
SAVEPOINT s1;
ALTER ROLE regress_ca_alice REPLICATION;
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
ALTER ROLE regress_ca_alice CREATEDB;
RELEASE SAVEPOINT s2;
SAVEPOINT s3;
-- (its notice, worded differently from PostgreSQL 16 on, is not shown)
SET LOCAL client_min_messages = warning;
GRANT regress_ca_team TO regress_ca_robert;
RESET client_min_messages;
-- error: division by zero
SELECT 1 / 0;
ROLLBACK TO SAVEPOINT s3;
COMMIT;
DO $$
BEGIN
	CREATE ROLE regress_ca_alice;
EXCEPTION WHEN duplicate_object THEN
	NULL;
END
$$;
DO $$
BEGIN
	ALTER ROLE regress_ca_robert CONNECTION LIMIT 7;
	PERFORM 1 / 0;
EXCEPTION WHEN division_by_zero THEN
	NULL;
END
$$;
SELECT audit_log.flush();
:show;

-- 8. audit_log.capture set to a subset captures exactly that subset.
ALTER SYSTEM SET audit_log.capture = 'teams, connections';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW audit_log.capture;
:mark;
CREATE ROLE regress_ca_user2 LOGIN PASSWORD 'Secret_CA_12' SUPERUSER;
CREATE ROLE regress_ca_team2 IN ROLE regress_ca_team;
GRANT SELECT ON regress_ca_schema.regress_ca_t TO regress_ca_team2;
CREATE USER MAPPING FOR regress_ca_user2 SERVER regress_ca_srv2;
DROP USER MAPPING FOR regress_ca_user2 SERVER regress_ca_srv2;
REVOKE SELECT ON regress_ca_schema.regress_ca_t FROM regress_ca_team2;
DROP ROLE regress_ca_user2, regress_ca_team2;
SELECT audit_log.flush();
:show;
ALTER SYSTEM SET audit_log.capture = 'none';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
:mark;
CREATE ROLE regress_ca_user3 LOGIN;
DROP ROLE regress_ca_user3;
SELECT audit_log.flush();
SELECT count(*) AS rows_with_capture_none FROM audit_log.events
WHERE request_time >= current_setting('regress_ca.t0')::timestamptz AND entry_data::text LIKE '%regress_ca_user3%';
ALTER SYSTEM RESET audit_log.capture;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW audit_log.capture;

-- 9. Clean up: drops are recorded as the roles were.
:mark;
DROP SERVER regress_ca_srv2;
DROP SCHEMA regress_ca_schema CASCADE;
REASSIGN OWNED BY regress_ca_robert, regress_ca_nopriv TO regress_ca_alice;
DROP OWNED BY regress_ca_alice;
DROP ROLE regress_ca_alice, regress_ca_robert, regress_ca_nopriv;
DROP ROLE regress_ca_team;
DROP ROLE IF EXISTS regress_ca_never;
SELECT audit_log.flush();
:show;

-- No secret used above appears anywhere in the table.
SELECT count(*) AS rows_with_secret FROM audit_log.events WHERE events::text LIKE '%Secret_CA%';
