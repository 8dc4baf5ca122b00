
/*
 * 90_status: the one-row view audit_log.status, from every part: the
 * capture queue (20), retention and its schedule (40), exports (50), seals
 * (60) and, on a collector, the sources (70).
 */

CREATE VIEW audit_log.status AS
SELECT s.preloaded,
	s.capturing,
	s.queued,
	s.written,
	s.dropped,
	s.abandoned_logins,
	s.oldest_queued_age,
	r.retention_days,
	r.retention_scheduled,
	r.last_retention_run,
	r.held_back_days,
	(SELECT pg_catalog.max(x.finished_at) FROM audit_log.export_runs x
	 WHERE x.status = 'SUCCESS') AS last_export,
	(SELECT x.status = 'FAILURE' FROM audit_log.export_runs x
	 ORDER BY x.run_id DESC LIMIT 1) AS last_export_failed,
	(SELECT pg_catalog.max(z.day) FROM audit_log.seals z) AS sealed_through,
	(SELECT pg_catalog.count(*) FROM audit_log.fleet_sources) AS sources,
	(SELECT pg_catalog.max(f.lag) FROM audit_log.sources f) AS max_source_lag,
	s.enqueued,
	s.writer_pid
FROM audit_log.capture_stats() AS s,
	audit_log._retention_status() AS r;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, retention and its schedule, exports, seals, fleet sources';

REVOKE ALL ON audit_log.status FROM PUBLIC;
GRANT SELECT ON audit_log.status TO audit_log_reader, audit_log_admin;
