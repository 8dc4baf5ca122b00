-- status: one row with every part's health, readable by audit_log_reader only
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

SELECT attname, format_type(atttypid, atttypmod) AS type
FROM pg_attribute WHERE attrelid = 'audit_log.status'::regclass AND attnum > 0
ORDER BY attnum;

SELECT count(*) AS one_row, bool_and(preloaded) AS preloaded, bool_and(capturing) AS capturing,
	bool_and(dropped >= 0 AND written >= 0 AND queued >= 0) AS counters_ok,
	bool_and(retention_days = 90) AS retention_days_90
FROM audit_log.status;

-- a successful export shows as last_export; a seal as sealed_through
SELECT (SELECT last_export FROM audit_log.status) IS NOT DISTINCT FROM
	(SELECT max(finished_at) FROM audit_log.export_runs WHERE status = 'SUCCESS') AS last_export_matches;
SELECT (SELECT sealed_through FROM audit_log.status) IS NOT DISTINCT FROM
	(SELECT max(day) FROM audit_log.seals) AS sealed_through_matches;

-- the installed and the loaded versions; no update pending on a fresh install
SELECT extension_version, library_version, update_pending,
	library_version = audit_log.library_version() AS is_library_version
FROM audit_log.status;

CREATE ROLE regress_status_reader;
CREATE ROLE regress_status_nobody;
GRANT audit_log_reader TO regress_status_reader;
SET ROLE regress_status_reader;
SELECT count(*) AS reader_sees_one_row FROM audit_log.status;
RESET ROLE;
SET ROLE regress_status_nobody;
-- error: PUBLIC has no access
SELECT count(*) FROM audit_log.status;
RESET ROLE;
DROP ROLE regress_status_reader;
DROP ROLE regress_status_nobody;
