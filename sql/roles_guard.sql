-- roles_guard: audit_log's roles are granted by superusers only; ALTER ... OWNER TO is CHANGE_OWNER (issue 15, case 6)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';

\set mark 'SELECT set_config(''regress_rg.t0'', clock_timestamp()::text, false) IS NOT NULL AS marked'
\set show 'SELECT event_category, event_type, event_status AS status, event_status_reason_code AS reason, user_name, object_name, entry_data FROM audit_log.events WHERE request_time >= current_setting(''regress_rg.t0'')::timestamptz AND event_type NOT IN (''LOGIN'', ''LOGOUT'') AND (object_name LIKE ''%regress_rg%'' OR entry_data::text LIKE ''%regress_rg%'') ORDER BY request_time, event_type COLLATE "C", object_name COLLATE "C", entry_data::text COLLATE "C"'

CREATE ROLE regress_rg_creator CREATEROLE;
CREATE ROLE regress_rg_deputy;
CREATE ROLE regress_rg_other;
-- a role of its own (from 16 on, CREATEROLE grants only roles it administers)
SET ROLE regress_rg_creator;
CREATE ROLE regress_rg_team;
RESET ROLE;
GRANT audit_log_reader TO regress_rg_deputy WITH ADMIN OPTION;

-- case 6: a CREATEROLE non-superuser grants audit_log_admin to itself: refused and recorded
:mark;
SET ROLE regress_rg_creator;
-- error: 42501
GRANT audit_log_admin TO regress_rg_creator;
-- error: nor to another role, nor the other two roles
GRANT audit_log_writer TO regress_rg_other;
GRANT audit_log_reader, regress_rg_team TO regress_rg_other;
-- its own roles it may still grant
GRANT regress_rg_team TO regress_rg_other;
RESET ROLE;
SELECT audit_log.flush();
:show;
SELECT pg_has_role('regress_rg_creator', 'audit_log_admin', 'MEMBER') AS creator_is_admin,
	pg_has_role('regress_rg_other', 'audit_log_writer', 'MEMBER') AS other_is_writer,
	pg_has_role('regress_rg_other', 'audit_log_reader', 'MEMBER') AS other_is_reader;

-- ADMIN OPTION from a superuser allows it; a superuser may always
:mark;
SET ROLE regress_rg_deputy;
GRANT audit_log_reader TO regress_rg_other;
-- error: but not another of the roles
GRANT audit_log_admin TO regress_rg_other;
RESET ROLE;
GRANT audit_log_writer TO regress_rg_other;
SELECT audit_log.flush();
:show;
SELECT pg_has_role('regress_rg_other', 'audit_log_reader', 'MEMBER') AS other_is_reader,
	pg_has_role('regress_rg_other', 'audit_log_writer', 'MEMBER') AS other_is_writer;

-- CHANGE_OWNER: tables, views, sequences, functions, schemas, types; failed and rolled back ones too
CREATE SCHEMA regress_rg_schema;
CREATE TABLE regress_rg_schema.regress_rg_table (a int);
CREATE VIEW regress_rg_schema.regress_rg_view AS SELECT 1 AS a;
CREATE SEQUENCE regress_rg_schema.regress_rg_seq;
CREATE FUNCTION regress_rg_schema.regress_rg_fn(int) RETURNS int LANGUAGE sql AS 'SELECT $1';
CREATE TYPE regress_rg_schema.regress_rg_type AS (a int);
:mark;
ALTER TABLE regress_rg_schema.regress_rg_table OWNER TO regress_rg_other;
ALTER VIEW regress_rg_schema.regress_rg_view OWNER TO regress_rg_other;
ALTER SEQUENCE regress_rg_schema.regress_rg_seq OWNER TO regress_rg_other;
ALTER FUNCTION regress_rg_schema.regress_rg_fn(int) OWNER TO regress_rg_other;
ALTER TYPE regress_rg_schema.regress_rg_type OWNER TO regress_rg_other;
ALTER SCHEMA regress_rg_schema OWNER TO regress_rg_other;
BEGIN;
ALTER TABLE regress_rg_schema.regress_rg_table OWNER TO regress_rg_team;
ROLLBACK;
-- error: no such role
ALTER TABLE regress_rg_schema.regress_rg_table OWNER TO regress_rg_nobody;
SELECT audit_log.flush();
:show;

DROP SCHEMA regress_rg_schema CASCADE;
DROP ROLE regress_rg_creator, regress_rg_deputy, regress_rg_other, regress_rg_team;
