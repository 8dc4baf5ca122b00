
/*
 * 70_fleet: collecting many servers' audit logs in one place with logical
 * replication.  On a source: create_publication() and the view
 * audit_log.collectors; on a collector: add_source(), drop_source(), the
 * view audit_log.sources and the trigger that skips events already
 * collected.  See src/fleet.c and doc/fleet.md.
 */

/* The sources of this collector (one subscription audit_log_src_<name> each). */
CREATE TABLE audit_log.fleet_sources (
	name text PRIMARY KEY,
	source_node text,
	slot_name text NOT NULL,
	conninfo text NOT NULL,		-- without its password
	added_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

SELECT pg_catalog.pg_extension_config_dump('audit_log.fleet_sources', '');

COMMENT ON TABLE audit_log.fleet_sources IS 'the sources of this collector, as add_source() registered them (connection string without its password)';

/*
 * On a source: publish the inserts into audit_log.events, through the
 * partitioned table so that each new day's partition is published without
 * any action and the collector receives rows for audit_log.events itself.
 * Only inserts: the retention job's DROP of a day's partition, and
 * anything but an insert, never reaches a collector.
 */
CREATE FUNCTION audit_log.create_publication()
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pg_catalog.current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'wal_level must be logical to publish the audit log'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('wal_level is "%s".', pg_catalog.current_setting('wal_level')),
				  HINT = 'Set wal_level = logical in postgresql.conf, with max_replication_slots and max_wal_senders of at least one more per collector, and restart the server.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'audit_log_events') THEN
		-- already there: make sure it is exactly what a collector expects
		ALTER PUBLICATION audit_log_events SET TABLE audit_log.events;
		ALTER PUBLICATION audit_log_events SET (publish = 'insert', publish_via_partition_root = true);
	ELSE
		CREATE PUBLICATION audit_log_events FOR TABLE audit_log.events
			WITH (publish = 'insert', publish_via_partition_root = true);
	END IF;
END
$$;

COMMENT ON FUNCTION audit_log.create_publication()
	IS 'on a source: publish the inserts into audit_log.events (publication audit_log_events) for collectors';

CREATE FUNCTION audit_log._redact_conninfo(conninfo text)
RETURNS text
LANGUAGE C STRICT IMMUTABLE
AS 'MODULE_PATHNAME', 'audit_log_redact_conninfo';

CREATE FUNCTION audit_log.add_source(name text, conninfo text)
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_add_source';

COMMENT ON FUNCTION audit_log.add_source(text, text)
	IS 'on a collector: subscribe to a source''s audit log (subscription audit_log_src_<name>)';

CREATE FUNCTION audit_log.drop_source(name text)
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_drop_source';

COMMENT ON FUNCTION audit_log.drop_source(text)
	IS 'on a collector: stop collecting from a source and drop its replication slot there if it can be reached; collected events stay';

/*
 * Collected events never collide: when a subscription's first
 * synchronisation copies a row whose (event_id, request_time) is already
 * present (a source added again), the row is skipped.  Enabled for
 * replication only, so it costs ordinary sessions nothing; row triggers of
 * a partitioned table are cloned onto every partition, present and future.
 */
CREATE FUNCTION audit_log._skip_duplicate()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_skip_duplicate';

CREATE TRIGGER events_skip_duplicate
	BEFORE INSERT ON audit_log.events
	FOR EACH ROW EXECUTE FUNCTION audit_log._skip_duplicate();

ALTER TABLE audit_log.events ENABLE REPLICA TRIGGER events_skip_duplicate;

/*
 * On a collector: each source and how far behind it is.
 *   lag: time since the source last reported that the collector had
 *        everything it had sent (while streaming normally, under
 *        wal_sender_timeout / 2; it grows while the collector is behind or
 *        cut off).
 *   silence: time since anything was received from the source.
 */
CREATE VIEW audit_log.sources AS
SELECT f.name,
	   f.source_node,
	   COALESCE(s.subenabled, false) AS enabled,
	   st.pid AS worker_pid,
	   st.received_lsn,
	   st.latest_end_lsn,
	   st.latest_end_time,
	   st.last_msg_send_time,
	   st.last_msg_receipt_time,
	   pg_catalog.now() - st.latest_end_time AS lag,
	   pg_catalog.now() - st.last_msg_receipt_time AS silence,
	   f.slot_name,
	   f.conninfo,
	   f.added_at
FROM audit_log.fleet_sources f
LEFT JOIN pg_catalog.pg_subscription s
	   ON s.subname = 'audit_log_src_' || f.name
	  AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
					   WHERE d.datname = pg_catalog.current_database())
LEFT JOIN pg_catalog.pg_stat_subscription st
	   ON st.subid = s.oid AND st.relid IS NULL;

COMMENT ON VIEW audit_log.sources IS 'on a collector: each source, its subscription''s state and lag';

/*
 * On a source: the collectors' replication slots and the WAL each holds
 * back on this server.
 */
CREATE VIEW audit_log.collectors AS
SELECT r.slot_name,
	   r.active,
	   r.wal_status,
	   r.safe_wal_size,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.restart_lsn) AS retained_bytes,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.confirmed_flush_lsn) AS lag_bytes,
	   a.client_addr,
	   a.backend_start AS connected_since
FROM pg_catalog.pg_replication_slots r
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = r.active_pid
WHERE r.plugin = 'pgoutput'
  AND r.database = pg_catalog.current_database()
  AND (r.slot_name LIKE 'audit\_log\_src\_%' OR r.slot_name LIKE 'pg\_%\_sync\_%');

COMMENT ON VIEW audit_log.collectors IS 'on a source: the collectors'' replication slots and the WAL they hold back';

REVOKE ALL ON TABLE audit_log.fleet_sources FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.sources FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.collectors FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.create_publication() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._redact_conninfo(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.add_source(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.drop_source(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._skip_duplicate() FROM PUBLIC;

GRANT SELECT ON audit_log.fleet_sources, audit_log.sources, audit_log.collectors TO audit_log_reader;
