-- alert_rules: validated when written (nothing written on bad input), managed
-- by audit_log_admin, every change an AUDIT_LOG CAPTURE_RULE_CHANGE event
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

-- the shipped rule
SELECT name, enabled, event_category, event_type, event_status, event_status_reason_code,
	group_by, threshold, within
FROM audit_log.alert_rules WHERE name = 'failed_logins';

CREATE ROLE regress_alert_admin;
CREATE ROLE regress_alert_nobody;
GRANT audit_log_admin TO regress_alert_admin;
GRANT audit_log_reader TO regress_alert_nobody;
SET ROLE regress_alert_admin;

-- a good rule
INSERT INTO audit_log.alert_rules (name, event_category, event_type, event_status,
	group_by, threshold, within)
VALUES ('regress_many_denied', 'USER_ACCOUNTS', NULL, 'FAILURE', 'user_name', 5, '10 minutes');

-- error: unknown category
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_bad1', 'NO_SUCH_CATEGORY', 5, '1 minute');
-- error: unknown event type in the category
INSERT INTO audit_log.alert_rules (name, event_category, event_type, threshold, within)
VALUES ('regress_bad2', 'ACCESS_SIGMA', 'NO_SUCH_TYPE', 5, '1 minute');
-- error: unknown event type in any category
INSERT INTO audit_log.alert_rules (name, event_type, threshold, within)
VALUES ('regress_bad3', 'NO_SUCH_TYPE', 5, '1 minute');
-- error: bad group_by
INSERT INTO audit_log.alert_rules (name, event_category, group_by, threshold, within)
VALUES ('regress_bad4', 'ACCESS_SIGMA', 'application_name', 5, '1 minute');
-- error: zero threshold
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_bad5', 'ACCESS_SIGMA', 0, '1 minute');
-- error: threshold beyond the bound
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_bad6', 'ACCESS_SIGMA', 10001, '1 minute');
-- error: zero and too long windows
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_bad7', 'ACCESS_SIGMA', 5, '0 seconds');
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_bad8', 'ACCESS_SIGMA', 5, '2 days');
-- error: a rule that matches every event
INSERT INTO audit_log.alert_rules (name, threshold, within)
VALUES ('regress_bad9', 5, '1 minute');
-- error: a name of the built-in conditions
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('audit_log:mine', 'ACCESS_SIGMA', 5, '1 minute');
-- error: an update with a bad value
UPDATE audit_log.alert_rules SET event_type = 'NO_SUCH_TYPE' WHERE name = 'regress_many_denied';

-- nothing of the bad ones was written
SELECT name, event_type FROM audit_log.alert_rules
WHERE name LIKE 'regress%' OR name LIKE 'audit_log:%' ORDER BY name COLLATE "C";

UPDATE audit_log.alert_rules SET threshold = 6 WHERE name = 'regress_many_denied';
DELETE FROM audit_log.alert_rules WHERE name = 'regress_many_denied';
RESET ROLE;

-- each change is one event, with who, the rule, the table, before and after
SELECT user_name, object_name, event_status, entry_data ->> 'operation' AS operation,
	entry_data ->> 'rule' AS rule, entry_data ->> 'table' AS "table",
	(entry_data -> 'before' ->> 'threshold') AS before_threshold,
	(entry_data -> 'after' ->> 'threshold') AS after_threshold
FROM audit_log.events
WHERE event_category = 'AUDIT_LOG' AND event_type = 'CAPTURE_RULE_CHANGE'
  AND entry_data ->> 'rule' = 'regress_many_denied'
ORDER BY request_time, entry_data ->> 'operation' COLLATE "C";

-- error: TRUNCATE would remove rules without a record of each: refused
TRUNCATE audit_log.alert_rules;
SELECT count(*) > 0 AS rules_still_there FROM audit_log.alert_rules;

-- error: a reader (not audit_log_admin) may read the rules and the alerts, not change them
SET ROLE regress_alert_nobody;
INSERT INTO audit_log.alert_rules (name, event_category, threshold, within)
VALUES ('regress_nobody', 'ACCESS_SIGMA', 5, '1 minute');
SELECT count(*) >= 0 AS reads_alerts FROM audit_log.alerts;
SELECT count(*) AS reads_rules FROM audit_log.alert_rules WHERE name = 'failed_logins';
RESET ROLE;

-- the alerts view has the documented columns
SELECT attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = 'audit_log.alerts'::regclass AND attnum > 0
ORDER BY attnum;

-- the two event types are registered and built in
SELECT event_category, event_type, builtin FROM audit_log.event_types
WHERE event_type IN ('ALERT', 'CAPTURE_RULE_CHANGE') ORDER BY event_type COLLATE "C";

DROP ROLE regress_alert_admin;
DROP ROLE regress_alert_nobody;
