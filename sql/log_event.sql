-- log_event: validation, base data, transactional behaviour, roles
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_outsider LOGIN;
GRANT audit_log_writer TO regress_app;

SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'A report was downloaded');

-- a good event, with every optional argument
SET application_name = 'regress_app_name';
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'SUCCESS',
	user_email => 'ann@example.com', object_name => 'sales.pdf',
	entry_data => '{"pages": 3}') IS NOT NULL AS logged;
SELECT event_category, event_type, event_status, event_status_reason_code,
	user_name, user_email, object_name, e.application_name,
	database_name = current_database() AS db_ok,
	e.backend_pid = pg_backend_pid() AS pid_ok,
	session_id = to_hex(trunc(extract(epoch FROM backend_start))::bigint) || '.' || to_hex(pg_backend_pid()) AS session_ok,
	source_node IS NOT NULL AS node_ok,
	entry_data,
	logged_time >= request_time AS lag_ok,
	substr(event_id::text, 15, 1) AS uuid_version
FROM audit_log.events e, pg_stat_activity a
WHERE event_type = 'REGRESS_REPORT_DOWNLOAD' AND pid = pg_backend_pid();
RESET application_name;

-- event ids are time-ordered: ids sort like request_time
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', request_time => t)
FROM generate_series(timestamptz '2026-01-01 00:00:00+00', '2026-01-01 00:00:00.02+00', interval '1 millisecond') t \gset
SELECT count(*) AS ordered_pairs_out_of_order FROM (
	SELECT event_id, request_time, lag(request_time) OVER (ORDER BY event_id) AS prev
	FROM audit_log.events WHERE event_type = 'REGRESS_REPORT_DOWNLOAD' AND request_time < '2026-01-02'
) s WHERE prev > request_time;

-- failure with a reason code
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'FAILURE', reason_code => 'QUOTA') IS NOT NULL AS logged;

-- bad input: a clear error, and nothing written
-- (this session's own events, once the capture writer wrote the ones of its
-- role changes above; it adds other sessions' logins at any time)
SELECT audit_log.flush('10 s') AS flushed;
SELECT count(*) AS before FROM audit_log.events WHERE backend_pid = pg_backend_pid() AND event_category <> 'ACCESS_SIGMA' \gset
-- error: unknown type
SELECT audit_log.log_event('EXPORTS', 'NO_SUCH_TYPE');
-- error: type registered under another category
SELECT audit_log.log_event('TEAMS', 'REGRESS_REPORT_DOWNLOAD');
-- error: NULL category
SELECT audit_log.log_event(NULL, 'REGRESS_REPORT_DOWNLOAD');
-- error: NULL type
SELECT audit_log.log_event('EXPORTS', NULL);
-- error: NULL status
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', NULL);
-- error: not a category
SELECT audit_log.log_event('SALES', 'REGRESS_REPORT_DOWNLOAD');
-- error: entry_data an array, a scalar, a string
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', entry_data => '[1,2]');
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', entry_data => '42');
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', entry_data => '"x"');
-- error: entry_data over 64 kB
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD',
	entry_data => jsonb_build_object('blob', repeat('x', 70000)));
-- error: reason code on a SUCCESS event
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'SUCCESS', reason_code => 'WHY');
-- error: infinite request time
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', request_time => 'infinity');
SELECT count(*) - :before AS written_by_bad_calls FROM audit_log.events WHERE backend_pid = pg_backend_pid() AND event_category <> 'ACCESS_SIGMA';

-- NULL entry_data means an empty object; a large but allowed object passes
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', entry_data => NULL) IS NOT NULL AS logged;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD',
	entry_data => jsonb_build_object('blob', repeat('x', 60000))) IS NOT NULL AS logged;

-- transactional: a rolled-back event is gone, a committed one stays
BEGIN;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', object_name => 'rolled back') IS NOT NULL AS logged;
ROLLBACK;
BEGIN;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', object_name => 'committed') IS NOT NULL AS logged;
COMMIT;
SELECT object_name, count(*) FROM audit_log.events
WHERE object_name IN ('rolled back', 'committed') GROUP BY 1 ORDER BY object_name COLLATE "C";

-- roles: a writer logs as itself but cannot read or write the table directly
SET ROLE regress_app;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', object_name => 'by app') IS NOT NULL AS logged;
-- error: writers cannot read
SELECT count(*) FROM audit_log.events;
-- error: nor insert directly
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type, event_status)
VALUES (gen_random_uuid(), now(), now(), 'EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'SUCCESS');
-- error: nor register types
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_OTHER', 'x');
RESET ROLE;
SELECT user_name FROM audit_log.events WHERE object_name = 'by app';

-- PUBLIC has nothing
SET ROLE regress_outsider;
-- error: no access to the schema
SELECT audit_log.log_event('EXPORTS', 'REGRESS_REPORT_DOWNLOAD');
SELECT count(*) FROM audit_log.events;
RESET ROLE;

-- register_event_type: validation
-- error: bad name
SELECT audit_log.register_event_type('EXPORTS', 'lower_case', 'x');
-- error: no description
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_NODESC', NULL);
-- error: built-in types cannot be redefined
SELECT audit_log.register_event_type('ACCESS_SIGMA', 'LOGIN', 'mine now');
-- error: NULL category
SELECT audit_log.register_event_type(NULL, 'REGRESS_X', 'x');
-- registering again updates the description
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_REPORT_DOWNLOAD', 'A report was downloaded by a user');
-- (the types this file registered or tried to: other files register their own)
SELECT event_category, event_type, description, builtin FROM audit_log.event_types
WHERE event_type IN ('REGRESS_REPORT_DOWNLOAD', 'REGRESS_OTHER', 'REGRESS_NODESC', 'REGRESS_X', 'lower_case')
ORDER BY event_type COLLATE "C";

-- every built-in category has event types
SELECT event_category, count(*) > 0 AS has_types FROM audit_log.event_types
WHERE builtin GROUP BY 1 ORDER BY 1;

-- every SECURITY DEFINER function pins search_path; PUBLIC executes nothing
SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'audit_log'::regnamespace AND p.prosecdef
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
ORDER BY p.proname COLLATE "C";
SELECT p.proname FROM pg_proc p
WHERE p.pronamespace = 'audit_log'::regnamespace
  AND has_function_privilege('public', p.oid, 'EXECUTE')
  AND p.prokind <> 'a'
ORDER BY p.proname COLLATE "C";

DROP ROLE regress_app;
DROP ROLE regress_outsider;
