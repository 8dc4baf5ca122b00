-- origin: every row says who wrote it; applications cannot forge the extension's own events (issue 15, cases 1 and 2)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

CREATE ROLE regress_origin_app LOGIN;
CREATE ROLE regress_origin_admin LOGIN;
GRANT audit_log_writer TO regress_origin_app;
GRANT audit_log_admin TO regress_origin_admin;
SELECT audit_log.register_event_type('EXPORTS', 'REGRESS_ORIGIN_DOWNLOAD', 'An application download');

-- the column: NOT NULL, no default (every writer states it), and no function takes it
SELECT a.attnotnull, a.atthasdef, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a WHERE a.attrelid = 'audit_log.events'::regclass AND a.attname = 'origin';
SELECT enum_range(NULL::audit_log.event_origin);
SELECT count(*) AS functions_taking_origin FROM pg_proc p
WHERE p.pronamespace = 'audit_log'::regnamespace AND 'origin' = ANY (p.proargnames);

-- an application may record its own users' logins: they are APPLICATION rows
SET ROLE regress_origin_app;
SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'FAILURE', object_name => 'regress_origin_forged',
	reason_code => 'INVALID_PASSWORD',
	entry_data => '{"ssl": false, "auth_method": "scram-sha-256"}') IS NOT NULL AS logged;
SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'FAILURE', object_name => 'regress_origin_forged',
	reason_code => 'INVALID_PASSWORD') IS NOT NULL AS logged;
SELECT audit_log.log_event('EXPORTS', 'REGRESS_ORIGIN_DOWNLOAD', object_name => 'regress_origin_dl') IS NOT NULL AS logged;
-- error: the extension's own evidence is refused, whatever the type
SELECT audit_log.log_event('AUDIT_LOG', 'SEAL', object_name => 'regress_origin_refused');
SELECT audit_log.log_event('AUDIT_LOG', 'RETENTION', object_name => 'regress_origin_refused');
SELECT audit_log.log_event('AUDIT_LOG', 'SETTINGS_CHANGE', object_name => 'regress_origin_refused',
	entry_data => '{"setting": "audit_log.capture", "old": "all", "new": "none"}');
SELECT audit_log.log_event('EXPORTS', 'EXPORT', object_name => 'regress_origin_refused');
-- error: also inside a transaction that goes on (nothing is written)
BEGIN;
SELECT audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', object_name => 'regress_origin_refused');
ROLLBACK;
RESET ROLE;

-- an admin may call the extension's functions, but not log_event for them
SET ROLE regress_origin_admin;
-- error: refused for an admin as well
SELECT audit_log.log_event('AUDIT_LOG', 'VERIFY', object_name => 'regress_origin_refused');
-- verify() records its own VERIFY event: origin EXTENSION
SELECT count(*) AS verified_days FROM audit_log.verify('2001-01-01', '2001-01-02');
RESET ROLE;

SELECT count(*) AS refused_rows FROM audit_log.events WHERE object_name = 'regress_origin_refused';
SELECT event_category, event_type, event_status, origin, user_name
FROM audit_log.events
WHERE object_name IN ('regress_origin_forged', 'regress_origin_dl', '2001-01-01..2001-01-02')
ORDER BY event_type COLLATE "C", origin;

-- what the server captures is SERVER
CREATE ROLE regress_origin_captured NOLOGIN;
SELECT audit_log.flush();
SELECT event_category, event_type, origin FROM audit_log.events
WHERE object_name = 'regress_origin_captured' ORDER BY event_type COLLATE "C";

-- forged logins count in the default daily_login_activity, not in the server-only count
SELECT (a.failure - s.failure) >= 2 AS forged_only_in_all,
	s.failure = (SELECT count(*) FROM audit_log.events e
				 WHERE e.event_type = 'LOGIN' AND e.event_status = 'FAILURE' AND e.origin = 'SERVER'
				   AND audit_log.day(e.request_time, 'UTC') = audit_log.day(now(), 'UTC')) AS server_only_is_server,
	a.failure = (SELECT count(*) FROM audit_log.events e
				 WHERE e.event_type = 'LOGIN' AND e.event_status = 'FAILURE'
				   AND audit_log.day(e.request_time, 'UTC') = audit_log.day(now(), 'UTC')) AS all_is_all
FROM audit_log.daily_login_activity(audit_log.day(now(), 'UTC'), audit_log.day(now(), 'UTC'), 'UTC') a,
	audit_log.daily_login_activity(audit_log.day(now(), 'UTC'), audit_log.day(now(), 'UTC'), 'UTC',
								   server_only => true) s;
-- the old three-argument call and the view still work
SELECT count(*) AS days FROM audit_log.daily_login_activity('2001-01-01', '2001-01-03');
SELECT count(*) AS days FROM audit_log.daily_login_activity_90d;

-- error: a superuser writing the table directly must state the origin
DO $$
BEGIN
	INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type, event_status)
	VALUES (gen_random_uuid(), now(), now(), 'ACCESS_SIGMA', 'LOGIN', 'SUCCESS');
EXCEPTION WHEN not_null_violation THEN
	RAISE NOTICE 'refused: % (%)', SQLSTATE, split_part(SQLERRM, ' of relation', 1);
END
$$;

-- seals made from 1.1 on use serialization format 2, which covers origin
-- (days sealed before keep format 1: t/015_update.pl)
SELECT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS new_seals_get
FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = 'audit_log.seals'::regclass AND a.attname = 'format_version';
SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', object_name => 'regress_origin_sealed') IS NOT NULL AS logged;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT day_hash AS hash_before FROM audit_log._seal_day_hash(audit_log.day(now(), 'UTC')) \gset
SET LOCAL session_replication_role = replica;
UPDATE audit_log.events SET origin = 'SERVER' WHERE object_name = 'regress_origin_sealed';
SELECT day_hash <> :'hash_before' AS origin_is_hashed FROM audit_log._seal_day_hash(audit_log.day(now(), 'UTC'));
ROLLBACK;

DROP ROLE regress_origin_app, regress_origin_admin, regress_origin_captured;
