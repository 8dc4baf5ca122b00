\echo Use "ALTER EXTENSION audit_log UPDATE TO '1.1'" to load this file. \quit

/*
 * audit_log 1.0 -> 1.1.
 *
 * Every SQL change after the 1.0 release goes here, in the order it was
 * made; a fresh CREATE EXTENSION runs audit_log--1.0.sql and then this
 * script, so a fresh 1.1 and an updated 1.0 are the same by construction
 * (t/015_update.pl compares them object by object all the same).
 *
 * Rules for this script: it must run on a 1.0 schema holding years of
 * events, so no statement rewrites audit_log.events or its partitions; new
 * objects get the same REVOKE/GRANT treatment as in 1.0; a replaced view or
 * function keeps its 1.0 columns and arguments (new ones go at the end).
 */

/*
 * Versions.  library_version() is the version of the loaded shared library;
 * status shows it beside the installed extension's, so that a server whose
 * library was upgraded while the extension was not says so
 * (update_pending).  The writer also warns once at start in that case.
 */
CREATE FUNCTION audit_log.library_version()
RETURNS text
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_library_version';

COMMENT ON FUNCTION audit_log.library_version()
	IS 'version of the loaded audit_log library (the installed SQL objects are at pg_extension.extversion)';

REVOKE ALL ON FUNCTION audit_log.library_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.library_version() TO audit_log_reader, audit_log_admin;

CREATE OR REPLACE VIEW audit_log.status AS
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
	s.writer_pid,
	v.extension_version,
	v.library_version,
	v.extension_version IS DISTINCT FROM v.library_version AS update_pending
FROM audit_log.capture_stats() AS s,
	audit_log._retention_status() AS r,
	(SELECT e.extversion AS extension_version,
		audit_log.library_version() AS library_version
	 FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'audit_log') AS v;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, retention and its schedule, exports, seals, fleet sources, installed and loaded versions';

/* ---- issue 16: durability (a full disk, a plain pg_restore, maintain() racing the writer, gaps as rows, prepared transactions) ---- */

/*
 * Before ALTER TABLE audit_log.events ATTACH PARTITION, the rows of the new
 * range that wait in events_default are moved into the table being
 * attached (src/partition_attach.c).  So a plain pg_restore or pg_dump |
 * psql, during which the writer puts captured events into events_default
 * before the dumped day partitions are attached, restores every event, and
 * maintain() never finds that rows arrived between its move and its ATTACH.
 */
CREATE FUNCTION audit_log._before_attach()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_before_attach';

REVOKE ALL ON FUNCTION audit_log._before_attach() FROM PUBLIC;

CREATE EVENT TRIGGER audit_log_attach_partition ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION audit_log._before_attach();

/*
 * A gap is a row: the writer records AUDIT_LOG CAPTURE_GAP (FAILURE) once it
 * can write again, for events that went to the server log instead of the
 * table (queue full, a failed save of the queue, a saved queue that did not
 * fit, an event that could not be inserted).  entry_data: events, from, to,
 * categories, reasons, went_to.
 */
INSERT INTO audit_log.event_types AS t (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'CAPTURE_GAP', 'Events could not be written to this table and went to the server log instead; entry_data says how many, of which categories, between which times and why', true)
ON CONFLICT ON CONSTRAINT event_types_pkey
DO UPDATE SET description = EXCLUDED.description, builtin = true;

/*
 * The true outcome of a prepared transaction.  An administrative command in
 * a transaction that is PREPAREd is recorded at PREPARE as SUCCESS with
 * reason PREPARED and entry_data.prepared = {gid, xid}; the writer notes
 * each such event here, and once pg_xact_status(xid) says the transaction
 * committed or aborted (COMMIT PREPARED or ROLLBACK PREPARED, in any
 * session, before or after a restart) it records a second event, the same
 * with the final outcome (SUCCESS, or FAILURE with reason ROLLBACK_PREPARED)
 * and entry_data.prepared_event_id, and removes the note.
 */
CREATE TABLE audit_log._prepared_pending (
	event_id uuid PRIMARY KEY,
	xid pg_catalog.xid8 NOT NULL,
	noted_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE audit_log._prepared_pending
	IS 'PREPARED administrative events whose transaction is not yet committed or rolled back (kept by the writer)';

REVOKE ALL ON TABLE audit_log._prepared_pending FROM PUBLIC;
GRANT SELECT ON TABLE audit_log._prepared_pending TO audit_log_admin;
