\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;

-- the writer runs in this database: flush() completes
SELECT audit_log.flush();
SELECT audit_log.flush('10 seconds');

-- error: a negative timeout
SELECT audit_log.flush('-1 second');

-- status: one row, preloaded and capturing, nothing dropped
SELECT count(*) FROM audit_log.status;
SELECT preloaded, capturing, dropped, written >= 0 AS has_written,
	writer_pid IS NOT NULL AS writer_running,
	retention_days = current_setting('audit_log.retention_days')::int AS retention_days_ok
FROM audit_log.status;

-- privileges: PUBLIC has nothing, the reader reads status and may flush
CREATE ROLE regress_capture_nobody;
CREATE ROLE regress_capture_reader IN ROLE audit_log_reader;
SET ROLE regress_capture_nobody;
SELECT count(*) FROM audit_log.status;           -- error: permission denied
SELECT audit_log.flush();                        -- error: permission denied
RESET ROLE;
SET ROLE regress_capture_reader;
SELECT count(*) FROM audit_log.status;
SELECT audit_log.flush();
SELECT audit_log.pause_writer(true);             -- error: permission denied
RESET ROLE;

-- the pause is superuser-only and reversible
SELECT audit_log.pause_writer(true);
SELECT audit_log.pause_writer(false);

DROP ROLE regress_capture_nobody;
DROP ROLE regress_capture_reader;
