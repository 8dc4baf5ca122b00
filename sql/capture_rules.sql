-- capture rules: validation when written (nothing written on refusal), the
-- CAPTURE_RULE_CHANGE events, explain_capture for every match field and the
-- order, skip counts, and a real administrative capture skipped by a rule
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

CREATE ROLE regress_cr_admin CREATEROLE IN ROLE audit_log_admin;
CREATE ROLE regress_cr_reader IN ROLE audit_log_reader;
CREATE ROLE regress_cr_nobody;

-- privileges: the reader reads, only the admin writes, PUBLIC has nothing
SET ROLE regress_cr_nobody;
SELECT count(*) FROM audit_log.capture_rules;            -- error: permission denied
SELECT count(*) FROM audit_log.capture_rule_stats;       -- error: permission denied
RESET ROLE;
SET ROLE regress_cr_reader;
SELECT count(*) FROM audit_log.capture_rules;
SELECT count(*) FROM audit_log.capture_rule_stats;
INSERT INTO audit_log.capture_rules (name, position, action, user_name)
	VALUES ('r', 1, 'keep', 'x');                         -- error: permission denied
RESET ROLE;

SET ROLE regress_cr_admin;
SELECT pg_catalog.now() AS t0 \gset

-- bad input, every case refused with its SQLSTATE
\set VERBOSITY sqlstate
INSERT INTO audit_log.capture_rules (name, position, action, event_category)
	VALUES ('bad', 1, 'skip', 'NO_SUCH');                 -- error: unknown category (22P02)
INSERT INTO audit_log.capture_rules (name, position, action, client_addr, event_category, event_status)
	VALUES ('bad', 1, 'skip', '10.0.0.300/8', 'ACCESS_SIGMA', 'SUCCESS');  -- error: bad cidr (22P02)
INSERT INTO audit_log.capture_rules (name, position, action, client_addr, event_category, event_status)
	VALUES ('bad', 1, 'skip', '10.0.0.1/8', 'ACCESS_SIGMA', 'SUCCESS');    -- error: host bits set (22P02)
INSERT INTO audit_log.capture_rules (name, position, action)
	VALUES ('bad', 1, 'skip');                            -- error: empty rule (22023)
INSERT INTO audit_log.capture_rules (name, position, action)
	VALUES ('bad', 1, 'keep');                            -- error: empty rule (22023)
INSERT INTO audit_log.capture_rules (name, position, action, event_category, user_name)
	VALUES ('bad', 1, 'skip', 'ACCESS_SIGMA', 'regress_cr_mon');  -- error: could skip FAILURE (23514)
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status)
	VALUES ('bad', 1, 'skip', 'ACCESS_SIGMA', 'FAILURE');         -- error: skip of FAILURE (23514)
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status)
	VALUES ('bad', 1, 'skip', 'AUDIT_LOG', 'SUCCESS');            -- error: skip of AUDIT_LOG (23514)
INSERT INTO audit_log.capture_rules (name, position, action, event_status, user_name)
	VALUES ('bad', 1, 'skip', 'SUCCESS', 'regress_cr_mon');       -- error: NULL category includes AUDIT_LOG (23514)
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_type, event_status)
	VALUES ('bad', 1, 'skip', 'ACCESS_SIGMA', 'NO_SUCH_TYPE', 'SUCCESS');  -- error: unknown event type (23503)
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_type, event_status)
	VALUES ('bad', 1, 'skip', 'USER_ACCOUNTS', 'LOGIN', 'SUCCESS');        -- error: type of another category (23503)
INSERT INTO audit_log.capture_rules (name, position, action, event_type)
	VALUES ('bad', 1, 'keep', 'NO_SUCH_TYPE');                    -- error: unknown event type (23503)
INSERT INTO audit_log.capture_rules (name, position, action, user_name)
	VALUES ('bad', 1, 'maybe', 'x');                              -- error: bad action (22023)
INSERT INTO audit_log.capture_rules (name, position, action, user_name)
	VALUES ('bad', 1, 'keep', '');                                -- error: empty value (22023)
INSERT INTO audit_log.capture_rules (name, position, action, user_name)
	VALUES ('bad', 1, 'keep', repeat('x', 64));                   -- error: longer than 63 bytes (22001)
INSERT INTO audit_log.capture_rules (name, position, action, user_name)
	VALUES ('bad', NULL, 'keep', 'x');                            -- error: no position (23502)
\set VERBOSITY terse
-- nothing was written: no rule, no change event
SELECT count(*) AS rules FROM audit_log.capture_rules;
RESET ROLE;
SELECT audit_log.flush();
SELECT count(*) AS change_events FROM audit_log.events
 WHERE event_type = 'CAPTURE_RULE_CHANGE' AND request_time >= :'t0';

-- good rules
SET ROLE regress_cr_admin;
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_type, event_status, user_name)
	VALUES ('skip_mon_logins', 20, 'skip', 'ACCESS_SIGMA', NULL, 'SUCCESS', 'regress_cr_mon');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name, client_addr)
	VALUES ('keep_mon_remote', 10, 'keep', 'ACCESS_SIGMA', 'SUCCESS', 'regress_cr_mon', '10.0.0.0/8');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_type, event_status, database_name)
	VALUES ('skip_logout_db', 30, 'skip', 'ACCESS_SIGMA', 'LOGOUT', 'SUCCESS', 'regress_cr_db');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, application_name)
	VALUES ('skip_app', 40, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_cr_probe');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_type, event_status, user_name)
	VALUES ('skip_create_user', 50, 'skip', 'USER_ACCOUNTS', 'CREATE_USER', 'SUCCESS', 'regress_cr_admin');
UPDATE audit_log.capture_rules SET position = 45 WHERE name = 'skip_create_user';
-- error: an update is validated too, and changes nothing
UPDATE audit_log.capture_rules SET event_status = NULL WHERE name = 'skip_app';
-- error: TRUNCATE is refused, even for a superuser (each removal must be recorded)
TRUNCATE audit_log.capture_rules;
RESET ROLE;
TRUNCATE audit_log.capture_rules;
SET ROLE regress_cr_admin;
SELECT name, position, action FROM audit_log.capture_rules ORDER BY position;

-- the rule change events: one per row changed, with before and after
RESET ROLE;
SELECT audit_log.flush();
SELECT event_category, event_status, user_name, object_name,
	entry_data ->> 'table' AS tbl, entry_data ->> 'operation' AS op,
	entry_data -> 'before' ->> 'position' AS before_pos,
	entry_data -> 'after' ->> 'position' AS after_pos,
	entry_data -> 'after' ->> 'action' AS after_action
  FROM audit_log.events
 WHERE event_type = 'CAPTURE_RULE_CHANGE' AND request_time >= :'t0'
 ORDER BY event_id;

-- the rules in force (shared memory), as the capture sees them
SELECT name, position, action, skipped FROM audit_log.capture_rule_stats ORDER BY position;

-- explain_capture: every match field and the order
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', '127.0.0.1');
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', '10.1.2.3');
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', NULL);
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'FAILURE', 'regress_cr_mon', 'postgres', 'psql', '127.0.0.1');
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_other', 'postgres', 'psql', '127.0.0.1');
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGOUT', 'SUCCESS', 'regress_cr_other', 'regress_cr_db', 'psql', NULL);
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_other', 'regress_cr_db', 'psql', NULL);
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_other', 'postgres', 'regress_cr_probe', NULL);
SELECT * FROM audit_log.explain_capture('USER_ACCOUNTS', 'CREATE_USER', 'SUCCESS', 'regress_cr_admin', 'contrib_regression', NULL, NULL);
SELECT * FROM audit_log.explain_capture('USER_ACCOUNTS', 'DROP_USER', 'SUCCESS', 'regress_cr_admin', 'contrib_regression', NULL, NULL);
SELECT * FROM audit_log.explain_capture('TEAMS', 'CREATE_TEAM', 'SUCCESS', 'regress_cr_admin', 'contrib_regression', NULL, NULL);
SELECT * FROM audit_log.explain_capture('AUDIT_LOG', 'CAPTURE_RULE_CHANGE', 'SUCCESS', 'regress_cr_mon', NULL, NULL, NULL);
-- order: the keep rule for 10/8 moved after the skip rule no longer wins
SET ROLE regress_cr_admin;
UPDATE audit_log.capture_rules SET position = 25 WHERE name = 'keep_mon_remote';
RESET ROLE;
SELECT * FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', '10.1.2.3');
-- a rolled-back change installs nothing
BEGIN;
SET LOCAL ROLE regress_cr_admin;
DELETE FROM audit_log.capture_rules WHERE name = 'skip_mon_logins';
ROLLBACK;
SELECT rule, captured FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', NULL);
-- error: PREPARE of a change is refused
BEGIN;
DELETE FROM audit_log.capture_rules WHERE name = 'skip_mon_logins';
PREPARE TRANSACTION 'regress_cr';
SELECT rule, captured FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_cr_mon', 'postgres', 'psql', NULL);
-- error: category and status are required
SELECT * FROM audit_log.explain_capture(NULL, 'LOGIN', 'SUCCESS');

-- a real capture: the admin's CREATE ROLE is skipped, its failure is not
SET ROLE regress_cr_admin;
CREATE ROLE regress_cr_u1 LOGIN;
CREATE ROLE regress_cr_u1 LOGIN;                         -- error: already exists
CREATE ROLE regress_cr_team;                             -- a team: kept
RESET ROLE;
SELECT audit_log.flush();
SELECT event_type, event_status, object_name FROM audit_log.events
 WHERE object_name IN ('regress_cr_u1', 'regress_cr_team') AND request_time >= :'t0'
 ORDER BY event_id;
SELECT name, skipped FROM audit_log.capture_rule_stats WHERE name = 'skip_create_user';
-- the counter survives an install that leaves the rule unchanged, not a change of it
SET ROLE regress_cr_admin;
UPDATE audit_log.capture_rules SET position = 46 WHERE name = 'skip_app';
RESET ROLE;
SELECT name, skipped FROM audit_log.capture_rule_stats WHERE name = 'skip_create_user';
SET ROLE regress_cr_admin;
UPDATE audit_log.capture_rules SET position = 47 WHERE name = 'skip_create_user';
RESET ROLE;
SELECT name, skipped, since > :'t0' AS since_change FROM audit_log.capture_rule_stats WHERE name = 'skip_create_user';

-- clean up: the removals are recorded too, and no rule is left in force
SET ROLE regress_cr_admin;
DELETE FROM audit_log.capture_rules;
RESET ROLE;
SELECT count(*) FROM audit_log.capture_rule_stats;
SELECT audit_log.flush();
SELECT count(*) AS deletes FROM audit_log.events
 WHERE event_type = 'CAPTURE_RULE_CHANGE' AND request_time >= :'t0'
   AND entry_data ->> 'operation' = 'DELETE' AND entry_data -> 'after' = 'null';
DROP ROLE regress_cr_u1;
DROP ROLE regress_cr_team;
DROP ROLE regress_cr_admin;
DROP ROLE regress_cr_reader;
DROP ROLE regress_cr_nobody;
