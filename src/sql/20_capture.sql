
/*
 * 20_capture: the capture pipeline's SQL face: flush(), the counters of the
 * shared-memory queue, and the writer pause used by tests.
 */

CREATE FUNCTION audit_log.flush(timeout interval DEFAULT '5 seconds')
RETURNS boolean
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'audit_log_flush';

COMMENT ON FUNCTION audit_log.flush(interval)
	IS 'wait until every captured event queued so far is written to audit_log.events; false on timeout';

CREATE FUNCTION audit_log.capture_stats(
	OUT preloaded boolean,
	OUT capturing boolean,
	OUT queued bigint,
	OUT written bigint,
	OUT dropped bigint,
	OUT abandoned_logins bigint,
	OUT oldest_queued_age interval,
	OUT enqueued bigint,
	OUT writer_pid integer)
RETURNS record
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'audit_log_capture_stats';

COMMENT ON FUNCTION audit_log.capture_stats()
	IS 'counters of the capture queue since server start (see the view audit_log.status)';

CREATE FUNCTION audit_log.pause_writer(paused boolean)
RETURNS boolean
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'audit_log_pause_writer';

COMMENT ON FUNCTION audit_log.pause_writer(boolean)
	IS 'testing aid, superuser only: stop (true) or resume (false) the background writer; returns the previous state';

REVOKE ALL ON FUNCTION audit_log.flush(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.capture_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.pause_writer(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.flush(interval) TO audit_log_reader, audit_log_writer, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.capture_stats() TO audit_log_reader, audit_log_admin;

/*
 * The audit_log.* settings (and shared_preload_libraries) as the background
 * writer last saw them.  When the writer starts, it compares them with the
 * running values and records a SETTINGS_CHANGE event for each that changed
 * while the server was down: settings that only a restart applies change
 * nowhere else, and an edited sighup setting would otherwise slip in with
 * the restart.  Filled here with the values of the installing session, so
 * that the first restart after installation is compared too.  Not dumped:
 * a restored database starts from the settings of the server it is
 * restored into.
 */
CREATE TABLE audit_log._settings_seen (
	name text PRIMARY KEY,
	value text
);

INSERT INTO audit_log._settings_seen (name, value)
SELECT s.name, pg_catalog.current_setting(s.name)
FROM pg_catalog.pg_settings s
WHERE s.name LIKE 'audit\_log.%' OR s.name = 'shared_preload_libraries';

REVOKE ALL ON TABLE audit_log._settings_seen FROM PUBLIC;
GRANT SELECT ON TABLE audit_log._settings_seen TO audit_log_admin;
