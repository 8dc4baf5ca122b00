
/*
 * 90_status: the one-row view audit_log.status.
 */

CREATE VIEW audit_log.status AS
SELECT s.preloaded,
	s.capturing,
	s.queued,
	s.written,
	s.dropped,
	s.abandoned_logins,
	s.oldest_queued_age,
	pg_catalog.current_setting('audit_log.retention_days')::int AS retention_days,
	s.enqueued,
	s.writer_pid
FROM audit_log.capture_stats() AS s;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, retention settings';

REVOKE ALL ON audit_log.status FROM PUBLIC;
GRANT SELECT ON audit_log.status TO audit_log_reader, audit_log_admin;
