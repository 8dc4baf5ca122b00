-- pgTAP: the shape of the public interface (SPEC.md), roles and privileges.
BEGIN;
SELECT plan(27);

SELECT has_schema('audit_log');
SELECT has_type('audit_log', 'event_category', 'event_category type exists');
SELECT enum_has_labels('audit_log', 'event_category',
	ARRAY['ACCESS_SIGMA', 'USER_ACCOUNTS', 'ACCOUNT_TYPES', 'TEAMS', 'CONNECTIONS', 'EXPORTS', 'AUDIT_LOG']);
SELECT enum_has_labels('audit_log', 'event_status', ARRAY['SUCCESS', 'FAILURE']);

SELECT has_table('audit_log', 'events', 'events table exists');
SELECT is_partitioned('audit_log', 'events', 'events is partitioned');
SELECT columns_are('audit_log', 'events', ARRAY[
	'event_id', 'request_time', 'logged_time', 'event_category', 'event_type',
	'event_status', 'event_status_reason_code', 'user_name', 'user_email',
	'object_name', 'client_addr', 'application_name', 'database_name',
	'backend_pid', 'session_id', 'source_node', 'entry_data', 'origin']);
SELECT col_type_is('audit_log', 'events', 'event_id', 'uuid', 'events.event_id is uuid');
SELECT col_type_is('audit_log', 'events', 'request_time', 'timestamp with time zone', 'events.request_time is timestamp with time zone');
SELECT col_type_is('audit_log', 'events', 'client_addr', 'inet', 'events.client_addr is inet');
SELECT col_type_is('audit_log', 'events', 'backend_pid', 'integer', 'events.backend_pid is integer');
SELECT col_type_is('audit_log', 'events', 'entry_data', 'jsonb', 'events.entry_data is jsonb');
SELECT col_not_null('audit_log', 'events', 'event_category', 'event_category is NOT NULL');
SELECT col_default_is('audit_log', 'events', 'entry_data', '{}'::jsonb, 'entry_data defaults to {}');
SELECT is((SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'audit_log.events'::regclass),
	'r', 'events is partitioned by range');

SELECT has_function('audit_log', 'log_event',
	ARRAY['audit_log.event_category', 'text', 'audit_log.event_status', 'text', 'text', 'jsonb', 'text', 'timestamp with time zone']);
SELECT function_returns('audit_log', 'log_event',
	ARRAY['audit_log.event_category', 'text', 'audit_log.event_status', 'text', 'text', 'jsonb', 'text', 'timestamp with time zone'], 'uuid');
-- 1.1: SECURITY INVOKER (its C code inserts with the owner's rights, and
-- needs to see its caller to set the row's origin); search_path still pinned
SELECT isnt_definer('audit_log', 'log_event',
	ARRAY['audit_log.event_category', 'text', 'audit_log.event_status', 'text', 'text', 'jsonb', 'text', 'timestamp with time zone']);
SELECT has_function('audit_log', 'register_event_type', ARRAY['audit_log.event_category', 'text', 'text']);
SELECT has_function('audit_log', 'maintain', ARRAY[]::text[]);

SELECT has_role('audit_log_reader');
SELECT has_role('audit_log_writer');
SELECT has_role('audit_log_admin');
SELECT is_member_of('audit_log_reader', 'audit_log_admin');

SELECT table_privs_are('audit_log', 'events', 'audit_log_reader', ARRAY['SELECT']);
SELECT table_privs_are('audit_log', 'events', 'public', ARRAY[]::text[]);
SELECT schema_privs_are('audit_log', 'public', ARRAY[]::text[]);

SELECT * FROM finish();
ROLLBACK;
