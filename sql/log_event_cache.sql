-- log_event's per-session cache of event types (issue 15): every change of
-- audit_log.event_types is seen at once, a rolled-back registration is forgotten
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

CREATE ROLE regress_cache_app;
GRANT audit_log_writer TO regress_cache_app;

-- the statement trigger that invalidates the caches
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'audit_log.event_types'::regclass AND NOT tgisinternal ORDER BY tgname;

-- a type registered and used in a transaction that rolls back is unknown after it
BEGIN;
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_CACHE_ROLLED', 'rolled back');
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_ROLLED') IS NOT NULL AS logged;
ROLLBACK;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_ROLLED');

-- registered and used in one statement
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_CACHE_SAME', 'same statement') AS registered,
	audit_log.log_event('EXPORTS', 'REGRESS_CACHE_SAME') IS NOT NULL AS logged;

-- a type in the cache, then deleted: unknown at once
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_CACHE_DEL', 'deleted later');
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_DEL') IS NOT NULL AS logged;
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_CACHE_DEL';
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_DEL');

-- a type in the cache, then made built in: refused for an application at once
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_CACHE_OWN', 'becomes built in');
SET ROLE regress_cache_app;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_OWN') IS NOT NULL AS logged;
RESET ROLE;
UPDATE audit_log.event_types SET builtin = true WHERE event_type = 'REGRESS_CACHE_OWN';
SET ROLE regress_cache_app;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_OWN');
RESET ROLE;

-- under session_replication_role = replica the trigger fires as well
SET session_replication_role = replica;
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_CACHE_REPL', 'replica role');
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_REPL') IS NOT NULL AS logged;
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_CACHE_REPL';
SELECT audit_log.log_event('EXPORTS', 'REGRESS_CACHE_REPL');
RESET session_replication_role;

SELECT event_type, origin, count(*) FROM audit_log.events
WHERE event_type LIKE 'REGRESS_CACHE_%' GROUP BY 1, 2 ORDER BY 1, 2;

-- clean up (the events stay: the log is append-only)
DELETE FROM audit_log.event_types WHERE event_type LIKE 'REGRESS_CACHE_%';
DROP OWNED BY regress_cache_app;
DROP ROLE regress_cache_app;
