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

-- status gains extension_version, library_version and update_pending:
-- the view is defined once, with every column of 1.1, at the end of this script.

/* ---- issue 15: origin of every row, bounded request_time, guarded roles, CHANGE_OWNER, spreadsheet-safe CSV ---- */

/*
 * The origin of every row, set by the server only: SERVER (captured by
 * the hooks), EXTENSION (written by audit_log about itself: exports,
 * retention, schedules, seals, verify runs, settings, fleet) or APPLICATION
 * (written through log_event).  No function takes it as an argument.
 *
 * Rows written before this update get APPLICATION: nothing recorded the
 * path they came by, and under 1.0 any member of audit_log_writer could
 * have written any of them, so the least trusted answer is the honest one.
 * The column is added with that constant default (no rewrite of the table:
 * the value is kept once, in the catalog) and the default is then dropped,
 * so that every writer must state the origin.
 */
CREATE TYPE audit_log.event_origin AS ENUM ('SERVER', 'EXTENSION', 'APPLICATION');

COMMENT ON TYPE audit_log.event_origin
	IS 'who wrote an event: the server''s capture (SERVER), audit_log about itself (EXTENSION), or an application through log_event (APPLICATION)';

REVOKE ALL ON TYPE audit_log.event_origin FROM PUBLIC;
GRANT USAGE ON TYPE audit_log.event_origin TO audit_log_reader, audit_log_writer, audit_log_admin;

ALTER TABLE audit_log.events
	ADD COLUMN origin audit_log.event_origin NOT NULL DEFAULT 'APPLICATION';
ALTER TABLE audit_log.events ALTER COLUMN origin DROP DEFAULT;

COMMENT ON COLUMN audit_log.events.origin
	IS 'SERVER, EXTENSION or APPLICATION, set by the server; APPLICATION for rows written before version 1.1';

/*
 * log_event becomes SECURITY INVOKER (its search_path stays pinned): the
 * C code inserts with its owner's rights itself, and needs to see who
 * calls: the extension's own SECURITY DEFINER functions call it as their
 * owner, a superuser, and only they may write AUDIT_LOG (origin
 * EXTENSION); the built-in EXPORTS types are refused for every caller (the
 * extension writes its EXPORT rows directly); any other row is
 * APPLICATION.
 */
ALTER FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz)
	SECURITY INVOKER;

COMMENT ON FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz)
	IS 'record an application event in the caller''s transaction (origin APPLICATION; AUDIT_LOG and the built-in EXPORTS types are refused)';

/*
 * Seals: the serialization of days sealed from now on includes origin
 * (format version 2, doc/seal.md); days sealed before keep verifying with
 * version 1.  Old rows get 1 (kept in the catalog, no rewrite), new seals
 * the default 2.
 */
ALTER TABLE audit_log.seals
	ADD COLUMN format_version integer NOT NULL DEFAULT 1
	CONSTRAINT seals_format_version_known CHECK (format_version IN (1, 2));
ALTER TABLE audit_log.seals ALTER COLUMN format_version SET DEFAULT 2;

COMMENT ON COLUMN audit_log.seals.format_version
	IS 'serialization of the day''s rows: 1 (the 17 columns of 1.0), 2 (the same and origin)';

/*
 * daily_login_activity gains server_only: count only the logins the
 * server captured (origin SERVER), leaving out LOGIN rows an application
 * wrote through log_event.  The default (false) counts every row, as in
 * 1.0.  A new argument needs DROP and CREATE (an overload would make the
 * old calls ambiguous), and the view that uses it with them.
 */
DROP VIEW audit_log.daily_login_activity_90d;
DROP FUNCTION audit_log.daily_login_activity(date, date, text);

CREATE FUNCTION audit_log.daily_login_activity(from_day date, to_day date,
	tz text DEFAULT pg_catalog.current_setting('TimeZone'),
	server_only boolean DEFAULT false)
RETURNS TABLE (day date, success bigint, failure bigint)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	plan record;
	live_rows text;
	i integer;
BEGIN
	IF NOT pg_catalog.isfinite(from_day) OR NOT pg_catalog.isfinite(to_day) THEN
		RAISE EXCEPTION 'daily_login_activity needs finite days'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('The range from %s to %s has no end.', from_day, to_day);
	END IF;
	IF from_day > to_day THEN
		RETURN;
	END IF;
	plan := audit_log._login_activity_plan(from_day, to_day, tz);

	/*
	 * The hourly rollups do not keep the origin: server_only scans the
	 * whole range live.
	 */
	IF server_only THEN
		plan.rolled_hours := '{}';
		plan.live_from := ARRAY[audit_log.day_start(from_day, tz)];
		plan.live_to := ARRAY[audit_log.day_start(to_day + 1, tz)];
	END IF;

	/*
	 * The rows scanned live: one branch per range, each with constant
	 * bounds, so that the planner prunes every branch to the partitions of
	 * its range and picks the scan that suits its length.
	 */
	IF COALESCE(pg_catalog.array_length(plan.live_from, 1), 0) = 0 THEN
		live_rows := 'SELECT NULL::timestamptz AS request_time, NULL::audit_log.event_status AS event_status WHERE false';
	ELSE
		live_rows := '';
		FOR i IN 1 .. pg_catalog.array_length(plan.live_from, 1) LOOP
			live_rows := live_rows || CASE WHEN i > 1 THEN ' UNION ALL ' ELSE '' END
				|| pg_catalog.format('SELECT e.request_time, e.event_status FROM audit_log.events e'
									 ' WHERE e.event_category = %L AND e.event_type = %L'
									 ' AND e.request_time >= %L::timestamptz AND e.request_time < %L::timestamptz',
									 'ACCESS_SIGMA', 'LOGIN', plan.live_from[i], plan.live_to[i])
				|| CASE WHEN server_only THEN ' AND e.origin = ''SERVER''' ELSE '' END;
		END LOOP;
	END IF;

	RETURN QUERY EXECUTE pg_catalog.format($q$
		WITH live AS (
			SELECT audit_log.day(e.request_time, $3) AS d,
				   audit_log.countif(e.event_status = 'SUCCESS') AS s,
				   audit_log.countif(e.event_status = 'FAILURE') AS f
			FROM (%s) e
			GROUP BY 1
		), rolled AS (
			SELECT audit_log._hour_day(c.hour, $3) AS d,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_status = 'SUCCESS'), 0)::bigint AS s,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_status = 'FAILURE'), 0)::bigint AS f
			FROM audit_log.hourly_counts c
			WHERE c.event_category = 'ACCESS_SIGMA' AND c.event_type = 'LOGIN'
			  AND c.hour = ANY ($4)
			GROUP BY 1
		)
		SELECT g.d, COALESCE(l.s, 0) + COALESCE(r.s, 0), COALESCE(l.f, 0) + COALESCE(r.f, 0)
		FROM audit_log.days($1, $2) AS g(d)
		LEFT JOIN live l ON l.d = g.d
		LEFT JOIN rolled r ON r.d = g.d
		ORDER BY g.d
	$q$, live_rows) USING from_day, to_day, tz, plan.rolled_hours;
END
$$;

COMMENT ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean)
	IS 'successful and failed logins per day of a time zone, every day of the range (server_only: only the logins the server captured)';

CREATE VIEW audit_log.daily_login_activity_90d AS
SELECT a.day, a.success, a.failure
FROM audit_log.daily_login_activity(audit_log.day(pg_catalog.now()) - 89,
									audit_log.day(pg_catalog.now())) AS a;

COMMENT ON VIEW audit_log.daily_login_activity_90d
	IS 'successful and failed logins per day over the last 90 days, in the session time zone';

REVOKE ALL ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean) FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.daily_login_activity_90d FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.daily_login_activity(date, date, text, boolean) TO audit_log_reader;
GRANT SELECT ON TABLE audit_log.daily_login_activity_90d TO audit_log_reader;

/*
 * Maintenance that no row can stop or slow down.  A day partition can be
 * made for the UTC days from 1970-01-01 (where a UUIDv7 starts) up to the
 * year 9999; a row outside (a superuser may insert one directly: log_event
 * refuses them) stays in the default partition, is counted in
 * status.unplaced_rows, reported by a WARNING on each maintain(), and
 * skipped.  A day whose partition cannot be made for another reason is
 * reported and skipped the same way.
 */
CREATE FUNCTION audit_log._placeable_lo()
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '1970-01-01 00:00:00+00'::pg_catalog.timestamptz $$;

CREATE FUNCTION audit_log._placeable_hi()
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '10000-01-01 00:00:00+00'::pg_catalog.timestamptz $$;

/* Rows of the default partition that no day partition can hold. */
CREATE FUNCTION audit_log._unplaced_rows()
RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.count(*) FROM ONLY audit_log.events_default e
	WHERE e.request_time < audit_log._placeable_lo() OR e.request_time >= audit_log._placeable_hi()
$$;

CREATE OR REPLACE FUNCTION audit_log._maintain_partitions()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
DECLARE
	today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
	d date;
	created integer := 0;
	unplaced bigint;
	err text;
BEGIN
	FOR d IN
		SELECT g::date FROM pg_catalog.generate_series(today, today + 7, interval '1 day') AS g
		UNION
		SELECT DISTINCT (e.request_time AT TIME ZONE 'UTC')::date FROM ONLY audit_log.events_default e
		WHERE e.request_time >= audit_log._placeable_lo() AND e.request_time < audit_log._placeable_hi()
		ORDER BY 1
	LOOP
		BEGIN
			IF audit_log._create_day_partition(d) THEN
				created := created + 1;
			END IF;
		EXCEPTION
			WHEN lock_not_available THEN
				RAISE WARNING 'audit_log: partition for % not created now: its locks were busy', d
					USING HINT = 'The next maintenance run will try again.';
			WHEN check_violation THEN
				/* rows of that day were committed into the default partition
				 * while we were moving its older rows */
				RAISE WARNING 'audit_log: partition for % not created now: rows for it arrived meanwhile', d
					USING HINT = 'The next maintenance run will try again.';
			WHEN OTHERS THEN
				/* no day may stop the others */
				GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
				RAISE WARNING 'audit_log: partition for % not created: %', d, err
					USING HINT = 'Its rows stay in audit_log.events_default; the other days go on.';
		END;
	END LOOP;

	unplaced := audit_log._unplaced_rows();
	IF unplaced > 0 THEN
		RAISE WARNING 'audit_log: % rows in audit_log.events_default cannot be placed in a day partition', unplaced
			USING DETAIL = pg_catalog.format('Their request_time lies before %s or from %s on; maintenance skips them.',
											 audit_log._placeable_lo(), audit_log._placeable_hi()),
				  HINT = 'status.unplaced_rows counts them; log_event refuses such times, so a superuser wrote them directly.';
	END IF;
	RETURN created;
END
$$;

/*
 * Sealing: before the first seal, start at the oldest day partition that
 * holds rows (never at the oldest request_time of the whole table: one row
 * in 4713 BC would mean millions of days); at most 1000 days per run, the
 * next run goes on.  _maintain_seals() is replaced once, below, in the
 * block of the seals anchored outside the database, which also seals late
 * arrivals first.
 */

REVOKE ALL ON FUNCTION audit_log._placeable_lo() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._placeable_hi() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._unplaced_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log._unplaced_rows() TO audit_log_reader, audit_log_admin;

-- status gains unplaced_rows: see the view at the end of this script.

/*
 * ALTER ... OWNER TO of any object (a table's owner holds every privilege
 * on it) is captured as ACCOUNT_TYPES CHANGE_OWNER; GRANT of audit_log's
 * own roles by a role that is not a superuser is refused in the utility
 * hook (no SQL object).
 */
INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('ACCOUNT_TYPES', 'CHANGE_OWNER', 'The owner of an object was changed (ALTER ... OWNER TO); entry_data holds the object, its type, the old and the new owner', true)
ON CONFLICT DO NOTHING;

/*
 * Spreadsheet-safe CSV: export_csv(..., formula_guard => true) puts a
 * single quote before every text cell that begins with =, +, -, @, a tab
 * or a carriage return, so that a spreadsheet shows it instead of running
 * it as a formula (OWASP, "CSV Injection").  Off by default: it changes
 * the values, so such an export no longer re-imports to the same rows
 * (README, "Exports").  A new argument needs DROP and CREATE (an overload
 * would make the old calls ambiguous).  export_csv() is export(..., 'csv',
 * 'none', formula_guard); export(), schedule_export() and the 1.1 form of
 * _scheduled_export(), which take formula_guard together with format and
 * compression, are in the issue-18 block ("exports in JSON lines").  The
 * 1.0 forms of the internal _export_csv_job() and _scheduled_export() stay,
 * so that pg_cron jobs scheduled under 1.0 go on.
 */
DROP FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text);

CREATE FUNCTION audit_log.export_csv(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events',
	formula_guard boolean DEFAULT false)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

COMMENT ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) as a CSV file under audit_log.export_directory (formula_guard: quote cells a spreadsheet would run)';

REVOKE ALL ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text, boolean) TO audit_log_reader, audit_log_admin;

/* ---- issue 15: guarded DROP EXTENSION, TRAIL_CHANGE, READ ---- */

/*
 * The trail audits itself (src/capture_trail.c, src/extension_drop.c):
 * statements that alter the trail's own objects, a drop of the extension
 * reported by the next CREATE EXTENSION, and reads of audit_log.events.
 * The events carry no statement text.
 */
INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'TRAIL_CHANGE', 'A statement altered the audit trail''s own objects (ALTER/DROP/TRUNCATE/GRANT on audit_log''s tables, ALTER EXTENSION audit_log, session_replication_role, pause_writer), successful or not', true),
	('AUDIT_LOG', 'EXTENSION_DROPPED', 'DROP EXTENSION audit_log removed the trail of this database; written by the next CREATE EXTENSION with who, when, the rows and days lost and the last seal digest', true),
	('AUDIT_LOG', 'READ', 'A role read audit_log.events or one of its partitions (at most one event per session per minute)', true);

/* ---- issue 16: synchronous capture, fail-closed capture, intents ---- */

/*
 * Intents of administrative events (src/intents.c).  With
 * audit_log.synchronous on or audit_log.on_failure = fail, the writer
 * writes here a copy of each administrative event, with the id of the
 * command's transaction, BEFORE that transaction commits; the event itself
 * deletes its copy when it is written.  A row left here (power loss,
 * postmaster killed) is resolved by the writer from pg_xact_status(xid):
 * the event is written with the true outcome and the row deleted.  Not
 * dumped: a transaction id means nothing on another server.
 */
CREATE TABLE audit_log.capture_intents (
	event_id uuid PRIMARY KEY,
	xid pg_catalog.xid8 NOT NULL,
	queued_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	event jsonb NOT NULL
);

COMMENT ON TABLE audit_log.capture_intents
	IS 'administrative events written before their transaction commits, until the event itself is written (audit_log.synchronous, audit_log.on_failure)';

REVOKE ALL ON TABLE audit_log.capture_intents FROM PUBLIC;
GRANT SELECT ON TABLE audit_log.capture_intents TO audit_log_reader, audit_log_admin;

/*
 * The capture modes for the status view.  audit_log.on_failure is a
 * superuser-only setting: this function reads it with its owner's rights,
 * so that audit_log_reader sees the mode.
 */
CREATE FUNCTION audit_log._capture_modes(
	OUT synchronous boolean,
	OUT on_failure text,
	OUT intents_pending bigint)
RETURNS record
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT COALESCE(pg_catalog.current_setting('audit_log.synchronous', true), 'off') = 'on',
	COALESCE(pg_catalog.current_setting('audit_log.on_failure', true), 'continue'),
	(SELECT pg_catalog.count(*) FROM audit_log.capture_intents)
$$;

COMMENT ON FUNCTION audit_log._capture_modes()
	IS 'audit_log.synchronous, audit_log.on_failure and the number of unresolved intents, for the view audit_log.status';

REVOKE ALL ON FUNCTION audit_log._capture_modes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log._capture_modes() TO audit_log_reader, audit_log_admin;

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
	v.extension_version IS DISTINCT FROM v.library_version AS update_pending,
	audit_log._unplaced_rows() AS unplaced_rows,
	m.synchronous,
	m.on_failure,
	m.intents_pending
FROM audit_log.capture_stats() AS s,
	audit_log._capture_modes() AS m,
	audit_log._retention_status() AS r,
	(SELECT e.extversion AS extension_version,
		audit_log.library_version() AS library_version
	 FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'audit_log') AS v;

COMMENT ON VIEW audit_log.status
	IS 'health of audit_log: capture queue counters since server start, capture modes, retention and its schedule, exports, seals, fleet sources, installed and loaded versions';

/* ---- issue 15: seals anchored outside the database (reseal, digest files, signatures, verify_digests) and late arrivals on a fleet collector ---- */

/*
 * What this block adds (doc/seal.md, doc/fleet.md):
 *   - reseal(day, reason): the one way to seal a sealed day again, for
 *     superusers, itself an AUDIT_LOG RESEAL event; seal() of a sealed day
 *     still returns its digest and changes nothing;
 *   - digest files: each new seal, reseal and addendum is also written as
 *     a JSON file under audit_log.export_directory/digests (signed with
 *     audit_log.signing_key_file when set) and handed to export_command;
 *   - verify_digests(directory): the table and the seals against those files;
 *   - late arrivals: rows that a fleet source's subscription applies into a
 *     day the collector sealed are recorded in audit_log.late_arrivals,
 *     sealed as addenda (audit_log.seal_addenda) and reported by verify()
 *     as late arrivals, not as rows added.
 */

INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'RESEAL', 'A sealed day was sealed again by a superuser, with a reason; the seals after it were re-made on the new chain', true),
	('AUDIT_LOG', 'SEAL_ADDENDUM', 'Late arrivals of a sealed day on a fleet collector were sealed as an addendum to the day''s seal', true);

CREATE FUNCTION audit_log._seal_day_hash_split(day date, OUT rows bigint, OUT day_hash text,
	OUT late_rows bigint, OUT late_hash text)
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'audit_log_seal_day_hash_split';

CREATE FUNCTION audit_log._seal_remove(from_day date)
RETURNS bigint
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'audit_log_seal_remove';

CREATE FUNCTION audit_log._digest_write(day date, rows bigint, digest text, previous_digest text,
	sealed_at timestamptz, format_version integer, kind text, reason text, replaces text)
RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'audit_log_digest_write';

CREATE FUNCTION audit_log._digest_read(directory text, OUT file text, OUT content text,
	OUT signature text, OUT detail text)
RETURNS SETOF record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'audit_log_digest_read';

/*
 * An addendum's chained digest: the hex SHA-256 of
 *   'audit_log addendum v1' LF previous_digest LF day LF late_rows LF late_hash
 * where previous_digest is the day's seal digest (first addendum) or the
 * day's previous addendum.
 */
CREATE FUNCTION audit_log._addendum_chain(previous_digest text, d date, n bigint, late_hash text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
		pg_catalog.concat_ws(E'\n', 'audit_log addendum v1', previous_digest,
			pg_catalog.to_char(d, 'YYYY-MM-DD'), n::text, late_hash),
		'UTF8')), 'hex')
$$;

/*
 * Late arrivals: rows a fleet source's subscription applied into a UTC day
 * this collector had already sealed.  Written by the trigger below, which
 * fires in logical replication's apply and table-sync workers only (and by
 * a restore of a dump); no role is granted INSERT.
 */
CREATE TABLE audit_log.late_arrivals (
	event_id uuid NOT NULL,
	request_time timestamptz NOT NULL,
	day date NOT NULL,
	source_node text,
	subscription text NOT NULL,
	arrived_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	PRIMARY KEY (event_id, request_time)
);

COMMENT ON TABLE audit_log.late_arrivals
	IS 'on a collector: events a fleet source sent into a UTC day after it was sealed here, with their source and arrival time';

SELECT pg_catalog.pg_extension_config_dump('audit_log.late_arrivals', '');

/* The addenda: each seals all of a day's late arrivals so far. */
CREATE TABLE audit_log.seal_addenda (
	day date NOT NULL,
	addendum integer NOT NULL CHECK (addendum >= 1),
	rows bigint NOT NULL CHECK (rows >= 0),
	digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
	previous_digest text NOT NULL CHECK (previous_digest ~ '^[0-9a-f]{64}$'),
	sealed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (day, addendum)
);

COMMENT ON TABLE audit_log.seal_addenda
	IS 'on a collector: the seals of the late arrivals of sealed days, each chained on the day''s seal or its previous addendum';

SELECT pg_catalog.pg_extension_config_dump('audit_log.seal_addenda', '');

CREATE TRIGGER late_arrivals_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.late_arrivals
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change();

CREATE TRIGGER seal_addenda_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.seal_addenda
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change();

/*
 * AFTER INSERT on events, enabled for replication only: a row that a
 * subscription audit_log_src_* applies (or copies in its first sync) into a
 * sealed UTC day is recorded as a late arrival.  The current day cannot be
 * sealed, so today's rows cost one comparison.  Any other writer in replica
 * mode (a superuser's own session) is not a subscription worker: its rows
 * stay "rows added" for verify().  The WHEN clause keeps the rows of today
 * (the stream's usual rows) from even queueing the trigger.
 */
CREATE FUNCTION audit_log._note_late_arrival()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d date := (NEW.request_time AT TIME ZONE 'UTC')::date;
	sub name;
BEGIN
	IF d >= (pg_catalog.now() AT TIME ZONE 'UTC')::date
	   OR NOT EXISTS (SELECT 1 FROM audit_log.seals s WHERE s.day = d) THEN
		RETURN NULL;
	END IF;
	SELECT st.subname INTO sub FROM pg_catalog.pg_stat_subscription st
	WHERE st.pid = pg_catalog.pg_backend_pid() LIMIT 1;
	IF sub IS NULL OR sub::text NOT LIKE 'audit\_log\_src\_%' THEN
		RETURN NULL;
	END IF;
	INSERT INTO audit_log.late_arrivals (event_id, request_time, day, source_node, subscription)
	VALUES (NEW.event_id, NEW.request_time, d, NEW.source_node, sub)
	ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;

CREATE TRIGGER events_late_arrival
	AFTER INSERT ON audit_log.events
	FOR EACH ROW
	WHEN (NEW.request_time < pg_catalog.date_trunc('day', pg_catalog.now(), 'UTC'))
	EXECUTE FUNCTION audit_log._note_late_arrival();

ALTER TABLE audit_log.events ENABLE REPLICA TRIGGER events_late_arrival;

/*
 * Seal the late arrivals of every sealed day that has some not yet covered
 * by an addendum: a new addendum covers all of the day's late rows so far.
 * Run by the maintenance job (whatever audit_log.seal_delay says).
 */
CREATE FUNCTION audit_log._seal_late_arrivals()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	h record;
	prev text;
	n integer;
	dg text;
	made integer := 0;
BEGIN
	LOCK TABLE audit_log.seals IN SHARE ROW EXCLUSIVE MODE;
	FOR r IN
		SELECT l.day, pg_catalog.count(*) AS late,
			(SELECT a.rows FROM audit_log.seal_addenda a WHERE a.day = l.day
			 ORDER BY a.addendum DESC LIMIT 1) AS covered
		FROM audit_log.late_arrivals l
		WHERE EXISTS (SELECT 1 FROM audit_log.seals s WHERE s.day = l.day)
		GROUP BY l.day ORDER BY l.day
	LOOP
		CONTINUE WHEN r.late = COALESCE(r.covered, 0);
		SELECT * INTO h FROM audit_log._seal_day_hash_split(r.day);
		SELECT a.digest, a.addendum + 1 INTO prev, n FROM audit_log.seal_addenda a
		WHERE a.day = r.day ORDER BY a.addendum DESC LIMIT 1;
		IF NOT FOUND THEN
			SELECT s.digest INTO prev FROM audit_log.seals s WHERE s.day = r.day;
			n := 1;
		END IF;
		dg := audit_log._addendum_chain(prev, r.day, h.late_rows, h.late_hash);
		INSERT INTO audit_log.seal_addenda (day, addendum, rows, digest, previous_digest)
		VALUES (r.day, n, h.late_rows, dg, prev);
		PERFORM audit_log._digest_write(r.day, h.late_rows, dg, prev, pg_catalog.now(),
			(SELECT z.format_version FROM audit_log.seals z WHERE z.day = r.day),
			'addendum', NULL, NULL);
		PERFORM audit_log.log_event('AUDIT_LOG', 'SEAL_ADDENDUM',
			object_name => pg_catalog.to_char(r.day, 'YYYY-MM-DD'),
			entry_data => pg_catalog.jsonb_build_object('day', r.day, 'addendum', n,
				'rows', h.late_rows, 'digest', dg, 'previous_digest', prev));
		made := made + 1;
	END LOOP;
	RETURN made;
END
$$;

/*
 * seal(): as in 1.0, with the day's late arrivals left out of its hash
 * (they are the addenda's), and a digest file for each new seal.
 */
CREATE OR REPLACE FUNCTION audit_log.seal(day date)
RETURNS text
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d date := seal.day;
	existing text;
	latest date;
	prev text;
	part regclass;
	h record;
	dg text;
	at timestamptz;
BEGIN
	IF d IS NULL OR NOT pg_catalog.isfinite(d) THEN
		RAISE EXCEPTION 'day must be a finite date'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ((d + 1)::timestamp AT TIME ZONE 'UTC') > pg_catalog.now() THEN
		RAISE EXCEPTION 'cannot seal %: that UTC day is not over yet', pg_catalog.to_char(d, 'YYYY-MM-DD')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'A day can be sealed once it has ended (midnight UTC); the maintenance job waits audit_log.seal_delay more.';
	END IF;

	-- one sealer at a time: the chain is built in day order
	LOCK TABLE audit_log.seals IN SHARE ROW EXCLUSIVE MODE;

	-- a sealed day keeps its seal: reseal() is the explicit way to change it
	SELECT s.digest INTO existing FROM audit_log.seals s WHERE s.day = d;
	IF FOUND THEN
		RETURN existing;
	END IF;

	SELECT s.day, s.digest INTO latest, prev
	FROM audit_log.seals s ORDER BY s.day DESC LIMIT 1;
	IF latest > d THEN
		RAISE EXCEPTION 'cannot seal %: the later day % is already sealed',
			pg_catalog.to_char(d, 'YYYY-MM-DD'), pg_catalog.to_char(latest, 'YYYY-MM-DD')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The chain of seals only grows forward: a day left unsealed before the latest seal stays unsealed.';
	END IF;
	prev := COALESCE(prev, audit_log._seal_genesis());

	/*
	 * Wait for transactions still writing into the day, and keep new ones
	 * out until the seal commits (they are then refused by log_event).
	 */
	part := pg_catalog.to_regclass(pg_catalog.format('audit_log.%I', audit_log.partition_name(d)));
	IF part IS NULL THEN
		part := 'audit_log.events_default'::regclass;
	END IF;
	EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', part);

	SELECT * INTO h FROM audit_log._seal_day_hash_split(d);
	dg := audit_log._seal_chain(prev, d, h.rows, h.day_hash);

	INSERT INTO audit_log.seals AS s (day, rows, digest, previous_digest)
		VALUES (d, h.rows, dg, prev)
		RETURNING s.sealed_at INTO at;
	PERFORM audit_log._digest_write(d, h.rows, dg, prev, at,
		(SELECT z.format_version FROM audit_log.seals z WHERE z.day = d), 'seal', NULL, NULL);

	PERFORM audit_log.log_event('AUDIT_LOG', 'SEAL',
		object_name => pg_catalog.to_char(d, 'YYYY-MM-DD'),
		entry_data => pg_catalog.jsonb_build_object('day', d, 'rows', h.rows,
			'digest', dg, 'previous_digest', prev));
	RETURN dg;
END
$$;

/*
 * reseal(day, reason): seal a sealed day again after a change that is
 * meant (a repair), for superusers only, with a reason.  The day's seal and
 * the seal of every later sealed day are re-made on the new chain; each
 * gets a new digest file of kind "reseal" that names the digest it replaces
 * and the reason, and one AUDIT_LOG RESEAL event records the whole.  When
 * the rows still give the stored digest, nothing changes.
 */
CREATE FUNCTION audit_log.reseal(day date, reason text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d date := reseal.day;
	why text := pg_catalog.btrim(reseal.reason);
	s record;
	x record;
	h record;
	prev text;
	dg text;
	first_digest text;
	at timestamptz;
	part regclass;
	days integer := 0;
	later jsonb := '[]';
	old_days date[];
	old_digests text[];
	i integer;
BEGIN
	IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false) THEN
		RAISE EXCEPTION 'permission denied to reseal a day'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Only a superuser may seal a sealed day again.';
	END IF;
	IF d IS NULL OR NOT pg_catalog.isfinite(d) THEN
		RAISE EXCEPTION 'day must be a finite date'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF why IS NULL OR why = '' THEN
		RAISE EXCEPTION 'a reason is required to reseal a day'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Say why the sealed day changed, e.g. audit_log.reseal(''2025-03-12'', ''ticket 4711: restored from backup'').';
	END IF;

	LOCK TABLE audit_log.seals IN SHARE ROW EXCLUSIVE MODE;
	SELECT * INTO s FROM audit_log.seals z WHERE z.day = d;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'cannot reseal %: that day is not sealed', pg_catalog.to_char(d, 'YYYY-MM-DD')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Seal it with audit_log.seal().';
	END IF;

	part := pg_catalog.to_regclass(pg_catalog.format('audit_log.%I', audit_log.partition_name(d)));
	IF part IS NULL THEN
		part := 'audit_log.events_default'::regclass;
	END IF;
	EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE MODE', part);

	SELECT z.digest INTO prev FROM audit_log.seals z WHERE z.day < d ORDER BY z.day DESC LIMIT 1;
	prev := COALESCE(prev, audit_log._seal_genesis());
	SELECT * INTO h FROM audit_log._seal_day_hash_split(d);
	IF audit_log._seal_chain(prev, d, h.rows, h.day_hash) = s.digest THEN
		RAISE NOTICE 'audit_log: % is unchanged: its seal stays as it is', pg_catalog.to_char(d, 'YYYY-MM-DD');
		RETURN s.digest;
	END IF;

	-- re-make the seals of d and every later sealed day, in day order
	SELECT pg_catalog.array_agg(z.day ORDER BY z.day), pg_catalog.array_agg(z.digest ORDER BY z.day)
	INTO old_days, old_digests
	FROM audit_log.seals z WHERE z.day >= d;
	PERFORM audit_log._seal_remove(d);
	FOR i IN 1 .. pg_catalog.cardinality(old_days) LOOP
		SELECT old_days[i] AS day, old_digests[i] AS digest INTO x;
		SELECT * INTO h FROM audit_log._seal_day_hash_split(x.day);
		dg := audit_log._seal_chain(prev, x.day, h.rows, h.day_hash);
		INSERT INTO audit_log.seals AS z (day, rows, digest, previous_digest)
			VALUES (x.day, h.rows, dg, prev)
			RETURNING z.sealed_at INTO at;
		PERFORM audit_log._digest_write(x.day, h.rows, dg, prev, at,
			(SELECT z2.format_version FROM audit_log.seals z2 WHERE z2.day = x.day), 'reseal',
			CASE WHEN x.day = d THEN why
				 ELSE pg_catalog.format('chain re-made after resealing %s: %s', pg_catalog.to_char(d, 'YYYY-MM-DD'), why) END,
			x.digest);
		IF x.day = d THEN
			first_digest := dg;
		ELSE
			later := later || pg_catalog.jsonb_build_object('day', x.day, 'old_digest', x.digest, 'digest', dg);
		END IF;
		prev := dg;
		days := days + 1;
	END LOOP;

	PERFORM audit_log.log_event('AUDIT_LOG', 'RESEAL',
		object_name => pg_catalog.to_char(d, 'YYYY-MM-DD'),
		entry_data => pg_catalog.jsonb_build_object('day', d, 'reason', why,
			'old_rows', s.rows, 'rows', (SELECT z.rows FROM audit_log.seals z WHERE z.day = d),
			'old_digest', s.digest, 'digest', first_digest,
			'days_resealed', days, 'later_days', later));
	RETURN first_digest;
END
$$;

COMMENT ON FUNCTION audit_log.reseal(date, text)
	IS 'superuser only: seal a sealed day again after a deliberate change, with a reason (an AUDIT_LOG RESEAL event); later seals are re-made on the new chain';

/* The maintenance job's part: the addenda first, then the closed days. */
-- (the late arrivals first; then, as in the block of the origin work above,
-- the walk starts at the oldest partition holding rows, at most 1000 days a run)
CREATE OR REPLACE FUNCTION audit_log._maintain_seals()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
DECLARE
	delay integer := audit_log._seal_delay();
	last_day date;
	d date;
	sealed integer := 0;
	r record;
	has_rows boolean;
BEGIN
	BEGIN
		PERFORM audit_log._seal_late_arrivals();
	EXCEPTION WHEN lock_not_available THEN
		RAISE WARNING 'audit_log: late arrivals not sealed now: audit_log.seals was busy'
			USING HINT = 'The next maintenance run will try again.';
	END;
	IF delay < 0 THEN
		RETURN 0;
	END IF;
	last_day := ((pg_catalog.now() - pg_catalog.make_interval(mins => delay)) AT TIME ZONE 'UTC')::date - 1;
	SELECT s.day + 1 INTO d FROM audit_log.seals s ORDER BY s.day DESC LIMIT 1;
	IF d IS NULL THEN
		FOR r IN
			SELECT c.relname
			FROM pg_catalog.pg_inherits i
			JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
			  AND c.relname ~ '^events_p[0-9]{8}$'
			ORDER BY c.relname
		LOOP
			EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM audit_log.%I)', r.relname) INTO has_rows;
			IF has_rows THEN
				d := pg_catalog.to_date(pg_catalog.substr(r.relname, 9), 'YYYYMMDD');
				EXIT;
			END IF;
		END LOOP;
	END IF;
	IF d IS NULL THEN
		RETURN 0;
	END IF;
	WHILE d <= last_day AND sealed < 1000 LOOP
		BEGIN
			PERFORM audit_log.seal(d);
		EXCEPTION WHEN lock_not_available THEN
			RAISE WARNING 'audit_log: day % not sealed now: its partition was busy', pg_catalog.to_char(d, 'YYYY-MM-DD')
				USING HINT = 'The next maintenance run will try again.';
			EXIT;
		END;
		sealed := sealed + 1;
		d := d + 1;
	END LOOP;
	RETURN sealed;
END
$$;

/*
 * verify(): as in 1.0, with the late arrivals of a fleet collector kept
 * apart from the seal's rows and reported as late arrivals.
 */
CREATE OR REPLACE FUNCTION audit_log.verify(from_day date, to_day date)
RETURNS TABLE (day date, ok boolean, rows bigint, detail text)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d date;
	s record;
	p record;
	nx record;
	h record;
	ph record;
	expected_prev text;
	recomputed text;
	recomputed_expected text;
	content_ok boolean;
	link_ok boolean;
	problems text[];
	part text;
	cutoff date;
	retention_drops text[];
	older_left boolean;
	checked integer := 0;
	failed integer := 0;
	a record;
	la record;
	late_note text;
BEGIN
	IF from_day IS NULL OR to_day IS NULL OR NOT pg_catalog.isfinite(from_day) OR NOT pg_catalog.isfinite(to_day) THEN
		RAISE EXCEPTION 'from_day and to_day must be finite dates'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF from_day > to_day THEN
		RAISE EXCEPTION 'from_day % is after to_day %',
			pg_catalog.to_char(from_day, 'YYYY-MM-DD'), pg_catalog.to_char(to_day, 'YYYY-MM-DD')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	PERFORM audit_log._seal_delay();	-- loads the library: its settings exist
	-- this day and older ones may have been dropped by retention
	cutoff := (pg_catalog.now() AT TIME ZONE 'UTC')::date
		- pg_catalog.current_setting('audit_log.retention_days')::integer;

	FOR d IN SELECT g::date FROM pg_catalog.generate_series(from_day, to_day, interval '1 day') AS g LOOP
		SELECT * INTO h FROM audit_log._seal_day_hash_split(d);
		SELECT x.* INTO s FROM audit_log.seals x WHERE x.day = d;
		IF NOT FOUND THEN
			day := d; ok := NULL; rows := h.rows + h.late_rows; detail := 'not sealed';
			RETURN NEXT;
			CONTINUE;
		END IF;
		checked := checked + 1;
		problems := '{}';

		SELECT x.* INTO p FROM audit_log.seals x WHERE x.day < d ORDER BY x.day DESC LIMIT 1;
		expected_prev := CASE WHEN p.day IS NULL THEN audit_log._seal_genesis() ELSE p.digest END;
		SELECT x.* INTO nx FROM audit_log.seals x WHERE x.day > d ORDER BY x.day LIMIT 1;

		recomputed := audit_log._seal_chain(s.previous_digest, d, h.rows, h.day_hash);
		recomputed_expected := audit_log._seal_chain(expected_prev, d, h.rows, h.day_hash);

		/* The link to the previous seal. */
		link_ok := s.previous_digest = expected_prev;
		IF NOT link_ok AND p.day IS NOT NULL THEN
			/* The previous seal's digest was edited, but its rows still give
			 * the digest chained here: that day reports it, not this one. */
			SELECT * INTO ph FROM audit_log._seal_day_hash_split(p.day);
			link_ok := s.previous_digest = audit_log._seal_chain(p.previous_digest, p.day, ph.rows, ph.day_hash);
		END IF;

		content_ok := s.digest IN (recomputed, recomputed_expected);

		IF NOT link_ok THEN
			IF s.digest = recomputed_expected THEN
				problems := problems || 'seal row edited: its previous_digest does not match the chain, its digest does'::text;
			ELSIF p.day IS NULL THEN
				problems := problems || 'chain broken: previous_digest is not the genesis value, and no earlier seal exists'::text;
			ELSE
				problems := problems || pg_catalog.format(
					'chain broken: previous_digest does not match the digest of the seal of %s (a seal row in between was removed or edited)',
					pg_catalog.to_char(p.day, 'YYYY-MM-DD'));
			END IF;
		END IF;

		IF content_ok THEN
			IF s.rows <> h.rows THEN
				problems := problems || pg_catalog.format(
					'seal row edited: it says %s rows, its digest matches the %s rows present', s.rows, h.rows);
			END IF;
		ELSIF nx.day IS NOT NULL AND nx.previous_digest IN (recomputed, recomputed_expected) THEN
			problems := problems || pg_catalog.format(
				'seal row edited: its digest does not match the day''s rows, which still match the digest chained into the seal of %s',
				pg_catalog.to_char(nx.day, 'YYYY-MM-DD'));
		ELSIF h.rows = 0 AND s.rows > 0 THEN
			part := audit_log.partition_name(d);
			/*
			 * Retention drops the oldest days first, so a day gone with no
			 * older sealed day left is expired, not tampered with.  A newer
			 * day can go first only when require_export_before_purge held
			 * back an older one: then the RETENTION event that dropped it,
			 * with exactly its sealed rows, says so.  (Those events are read
			 * once, and only when some day needs them.)
			 */
			older_left := d <= cutoff AND EXISTS (
				SELECT 1 FROM audit_log.seals x
				WHERE x.day < d AND x.rows > 0
				  AND EXISTS (SELECT 1 FROM audit_log.events e
							  WHERE e.request_time >= (x.day::timestamp AT TIME ZONE 'UTC')
								AND e.request_time < ((x.day + 1)::timestamp AT TIME ZONE 'UTC')));
			IF older_left AND retention_drops IS NULL THEN
				SELECT COALESCE(pg_catalog.array_agg((x.value->>'day') || ':' || (x.value->>'rows')), '{}')
				INTO retention_drops
				FROM audit_log.events e, pg_catalog.jsonb_array_elements(e.entry_data->'dropped') AS x
				WHERE e.event_category = 'AUDIT_LOG' AND e.event_type = 'RETENTION'
				  AND pg_catalog.jsonb_typeof(e.entry_data->'dropped') = 'array';
			END IF;
			IF d <= cutoff AND (NOT older_left
					OR pg_catalog.to_char(d, 'YYYY-MM-DD') || ':' || s.rows = ANY (retention_drops)) THEN
				IF pg_catalog.cardinality(problems) = 0 THEN
					day := d; ok := NULL; rows := 0;
					detail := pg_catalog.format('expired: its %s sealed rows were removed by retention, not verifiable', s.rows);
					RETURN NEXT;
					CONTINUE;
				END IF;
			ELSIF pg_catalog.to_regclass(pg_catalog.format('audit_log.%I', part)) IS NULL THEN
				problems := problems || pg_catalog.format(
					'rows removed: all %s sealed rows are gone, partition audit_log.%s is missing (dropped?)', s.rows, part);
			ELSE
				problems := problems || pg_catalog.format('rows removed: all %s sealed rows are gone', s.rows);
			END IF;
		ELSIF h.rows > s.rows THEN
			problems := problems || pg_catalog.format(
				'rows added: %s rows now, %s sealed (%s more)', h.rows, s.rows, h.rows - s.rows);
		ELSIF h.rows < s.rows THEN
			problems := problems || pg_catalog.format(
				'rows removed: %s rows now, %s sealed (%s fewer)', h.rows, s.rows, s.rows - h.rows);
		ELSIF NOT link_ok THEN
			problems := problems || pg_catalog.format(
				'rows or seal changed: the %s rows, chained on either previous digest, do not give the stored digest', h.rows);
		ELSIF nx.day IS NULL THEN
			problems := problems || pg_catalog.format(
				'rows changed: the %s rows no longer match the digest (or the digest of this latest seal was edited)', h.rows);
		ELSE
			problems := problems || pg_catalog.format(
				'rows changed: same number of rows (%s), different content', h.rows);
		END IF;

		/*
		 * Late arrivals (a fleet source's rows applied into the day after
		 * it was sealed here) are not in the seal: they are reported as
		 * such, with their sources and arrival times, and checked against
		 * the day's latest addendum.
		 */
		late_note := NULL;
		IF h.late_rows > 0 THEN
			SELECT pg_catalog.string_agg(DISTINCT COALESCE(l.source_node, '(unknown)'), ', ') AS sources,
				pg_catalog.min(l.arrived_at) AS first_at, pg_catalog.max(l.arrived_at) AS last_at
			INTO la
			FROM audit_log.late_arrivals l
			WHERE l.request_time >= (d::timestamp AT TIME ZONE 'UTC')
			  AND l.request_time < ((d + 1)::timestamp AT TIME ZONE 'UTC')
			  AND EXISTS (SELECT 1 FROM audit_log.events e
						  WHERE e.event_id = l.event_id AND e.request_time = l.request_time);
			late_note := pg_catalog.format('late arrivals: %s %s from %s, arrived %s after the seal',
				h.late_rows, CASE WHEN h.late_rows = 1 THEN 'row' ELSE 'rows' END, la.sources,
				CASE WHEN la.first_at = la.last_at
					 THEN pg_catalog.to_char(la.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'
					 ELSE pg_catalog.to_char(la.first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC to '
						|| pg_catalog.to_char(la.last_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' END);
			SELECT x.* INTO a FROM audit_log.seal_addenda x WHERE x.day = d ORDER BY x.addendum DESC LIMIT 1;
			IF a.day IS NULL THEN
				late_note := late_note || ', not yet sealed in an addendum';
			ELSIF a.rows = h.late_rows
				  AND a.digest = audit_log._addendum_chain(a.previous_digest, d, h.late_rows, h.late_hash) THEN
				late_note := late_note || pg_catalog.format(', sealed in addendum %s', a.addendum);
			ELSIF a.rows < h.late_rows THEN
				late_note := late_note || pg_catalog.format(', %s since addendum %s, not yet sealed',
					h.late_rows - a.rows, a.addendum);
			ELSE
				problems := problems || pg_catalog.format(
					'late arrivals changed: %s late rows now, addendum %s sealed %s, and they no longer give its digest',
					h.late_rows, a.addendum, a.rows);
			END IF;
		END IF;

		day := d;
		rows := h.rows + h.late_rows;
		ok := pg_catalog.cardinality(problems) = 0;
		detail := CASE WHEN ok THEN 'ok' ELSE pg_catalog.array_to_string(problems, '; ') END;
		IF late_note IS NOT NULL THEN
			detail := detail || '; ' || late_note;
		END IF;
		IF NOT ok THEN
			failed := failed + 1;
		END IF;
		RETURN NEXT;
	END LOOP;

	PERFORM audit_log.log_event('AUDIT_LOG', 'VERIFY',
		status => CASE WHEN failed = 0 THEN 'SUCCESS' ELSE 'FAILURE' END::audit_log.event_status,
		reason_code => CASE WHEN failed = 0 THEN NULL ELSE 'DIGEST_MISMATCH' END,
		object_name => pg_catalog.to_char(from_day, 'YYYY-MM-DD') || '..' || pg_catalog.to_char(to_day, 'YYYY-MM-DD'),
		entry_data => pg_catalog.jsonb_build_object('from_day', from_day, 'to_day', to_day,
			'sealed_days', checked, 'failed_days', failed));
END
$$;


COMMENT ON FUNCTION audit_log.verify(date, date)
	IS 'recompute the seals of a range of UTC days and report what differs; late arrivals of a fleet collector are reported as such';

/* A digest file's content as jsonb, or NULL when it is not JSON. */
CREATE FUNCTION audit_log._digest_parse(content text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN content::jsonb;
EXCEPTION WHEN others THEN
	RETURN NULL;
END
$$;

/*
 * verify_digests(directory): the events and audit_log.seals against the
 * digest files of a directory inside audit_log.export_directory (the
 * digests/ folder the seals write, or a copy brought back from object
 * storage).  One row per day that has a seal or a digest file.  The rows of
 * a day are checked against the day's authoritative file (its first seal's,
 * or the latest reseal that names it), so a day changed and sealed again
 * behind reseal()'s back is reported on that very day, while the later days
 * whose seals were only re-made on the new chain say so in an ok row.
 */
CREATE FUNCTION audit_log.verify_digests(directory text)
RETURNS TABLE (day date, ok boolean, detail text)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	all_files jsonb;
	keyed boolean;
	first_day date;
	d date;
	s record;
	h record;
	ad record;
	f jsonb;
	auth jsonb;
	nxt jsonb;
	day_files jsonb;
	problems text[];
	notes text[];
	rows_ok boolean;
	extra integer;
	nulled boolean;
	checked integer := 0;
	failed integer := 0;
BEGIN
	IF directory IS NULL THEN
		RAISE EXCEPTION 'directory must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM audit_log._seal_delay();	-- loads the library: its settings exist
	keyed := COALESCE(pg_catalog.current_setting('audit_log.signing_key_file', true), '') <> '';

	SELECT COALESCE(pg_catalog.jsonb_agg(
		COALESCE(CASE WHEN pg_catalog.jsonb_typeof(audit_log._digest_parse(r.content)) = 'object'
					  THEN audit_log._digest_parse(r.content) END, '{}'::jsonb)
		|| pg_catalog.jsonb_build_object(
			'file', pg_catalog.regexp_replace(r.file, '^.*/', ''),
			'fday', pg_catalog.to_date(pg_catalog.substring(r.file, 'audit_log_digest_([0-9]{8})_[^/]*$'), 'YYYYMMDD'),
			'sig', r.signature, 'sigdetail', r.detail,
			'valid', COALESCE(audit_log._digest_parse(r.content)->>'format' = 'audit_log digest', false))
		ORDER BY r.file), '[]')
	INTO all_files
	FROM audit_log._digest_read(directory) r;

	SELECT pg_catalog.min((x->>'fday')::date) INTO first_day
	FROM pg_catalog.jsonb_array_elements(all_files) x
	WHERE x->>'kind' IN ('seal', 'reseal');

	FOR d IN
		SELECT z.day FROM audit_log.seals z
		UNION
		SELECT (x->>'fday')::date FROM pg_catalog.jsonb_array_elements(all_files) x WHERE x->>'fday' IS NOT NULL
		ORDER BY 1
	LOOP
		problems := '{}';
		notes := '{}';
		nulled := false;
		SELECT z.* INTO s FROM audit_log.seals z WHERE z.day = d;
		SELECT * INTO h FROM audit_log._seal_day_hash_split(d);
		SELECT COALESCE(pg_catalog.jsonb_agg(x ORDER BY x->>'sealed_at', x->>'file'), '[]') INTO day_files
		FROM pg_catalog.jsonb_array_elements(all_files) x WHERE (x->>'fday')::date = d;

		/* every file of the day: readable, for this day, signed */
		FOR f IN SELECT * FROM pg_catalog.jsonb_array_elements(day_files) LOOP
			IF NOT (f->>'valid')::boolean OR f->>'day' IS DISTINCT FROM pg_catalog.to_char(d, 'YYYY-MM-DD') THEN
				problems := problems || pg_catalog.format('digest file %s is not a valid digest file of this day', f->>'file');
			ELSIF f->>'sig' = 'bad' THEN
				problems := problems || pg_catalog.format('bad signature: %s.sig does not verify %s', pg_catalog.regexp_replace(f->>'file', '\.json$', ''), f->>'file');
			ELSIF f->>'sig' = 'no key' THEN
				problems := problems || pg_catalog.format('%s has a signature but no public key to check it with', f->>'file');
			ELSIF f->>'sig' = 'unsigned' AND keyed THEN
				problems := problems || pg_catalog.format('%s is not signed, although audit_log.signing_key_file is set', f->>'file');
			END IF;
			IF f->>'sigdetail' IS NOT NULL THEN
				notes := notes || pg_catalog.format('%s: %s', f->>'file', f->>'sigdetail');
			END IF;
		END LOOP;

		/* the authoritative file: the first seal's, or the latest reseal naming it */
		SELECT x INTO auth FROM pg_catalog.jsonb_array_elements(day_files) x
		WHERE (x->>'valid')::boolean AND x->>'kind' = 'seal' ORDER BY x->>'sealed_at', x->>'file' LIMIT 1;
		IF auth IS NULL THEN
			SELECT x INTO auth FROM pg_catalog.jsonb_array_elements(day_files) x
			WHERE (x->>'valid')::boolean AND x->>'kind' = 'reseal' ORDER BY x->>'sealed_at', x->>'file' LIMIT 1;
		END IF;
		LOOP
			EXIT WHEN auth IS NULL;
			SELECT x INTO nxt FROM pg_catalog.jsonb_array_elements(day_files) x
			WHERE (x->>'valid')::boolean AND x->>'kind' = 'reseal' AND x->>'replaces' = auth->>'digest'
			ORDER BY x->>'sealed_at' DESC, x->>'file' DESC LIMIT 1;
			EXIT WHEN nxt IS NULL OR nxt->>'digest' = auth->>'digest';
			auth := nxt;
		END LOOP;

		IF auth IS NULL THEN
			IF s.day IS NULL THEN
				NULL;			-- only addendum files, checked below
			ELSIF first_day IS NULL OR d < first_day THEN
				nulled := true;
				notes := notes || 'no digest file: sealed before digest files were written to this directory'::text;
			ELSE
				problems := problems || pg_catalog.format(
					'digest file missing: the day is sealed (%s rows) but this directory has no digest file for it',
					s.rows);
			END IF;
		ELSE
			rows_ok := auth->>'digest' = audit_log._seal_chain(auth->>'previous_digest', d, h.rows, h.day_hash);
			IF NOT rows_ok THEN
				problems := problems || CASE
					WHEN h.rows > (auth->>'rows')::bigint THEN pg_catalog.format(
						'rows added since the digest file %s: %s rows now, %s in the file (%s more)',
						auth->>'file', h.rows, auth->>'rows', h.rows - (auth->>'rows')::bigint)
					WHEN h.rows < (auth->>'rows')::bigint THEN pg_catalog.format(
						'rows removed since the digest file %s: %s rows now, %s in the file (%s fewer)',
						auth->>'file', h.rows, auth->>'rows', (auth->>'rows')::bigint - h.rows)
					ELSE pg_catalog.format(
						'rows changed since the digest file %s: same number of rows (%s), different content',
						auth->>'file', h.rows) END;
			END IF;
			IF s.day IS NULL THEN
				problems := problems || pg_catalog.format(
					'seal row missing: the digest file %s sealed this day (%s rows), audit_log.seals has no row for it (deleted, or its seal rolled back)',
					auth->>'file', auth->>'rows');
			ELSIF s.digest <> auth->>'digest' THEN
				IF s.digest = audit_log._seal_chain(s.previous_digest, d, h.rows, h.day_hash) THEN
					IF rows_ok THEN
						notes := notes || 'the seal row was re-made on a changed chain (the rows still match the digest file; an earlier day was changed)'::text;
					ELSE
						problems := problems || 'sealed again without reseal(): the seal row matches the changed rows, not the digest file'::text;
					END IF;
				ELSIF rows_ok THEN
					problems := problems || 'seal row edited: its digest matches neither the rows nor the digest file'::text;
				END IF;
			END IF;
			IF auth->>'kind' = 'reseal' THEN
				notes := notes || pg_catalog.format('resealed at %s: %s', auth->>'sealed_at', auth->>'reason');
			END IF;
			SELECT pg_catalog.count(*) INTO extra FROM pg_catalog.jsonb_array_elements(day_files) x
			WHERE (x->>'valid')::boolean AND x->>'kind' IN ('seal', 'reseal') AND x->>'digest' <> auth->>'digest'
			  AND NOT (x->>'kind' = 'seal' AND x->>'sealed_at' <= auth->>'sealed_at' AND auth->>'kind' = 'reseal');
			IF extra > 0 THEN
				notes := notes || pg_catalog.format('%s more digest %s of a later seal of this day', extra,
					CASE WHEN extra = 1 THEN 'file' ELSE 'files' END);
			END IF;
		END IF;

		/* the addenda of late arrivals: the latest has its file */
		SELECT x.* INTO ad FROM audit_log.seal_addenda x WHERE x.day = d ORDER BY x.addendum DESC LIMIT 1;
		IF ad.day IS NOT NULL THEN
			IF EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements(day_files) x
					   WHERE x->>'kind' = 'addendum' AND x->>'digest' = ad.digest
						 AND (x->>'rows')::bigint = ad.rows AND x->>'previous_digest' = ad.previous_digest) THEN
				notes := notes || pg_catalog.format('late arrivals: addendum %s (%s rows) matches its digest file', ad.addendum, ad.rows);
			ELSIF first_day IS NOT NULL AND d >= first_day THEN
				problems := problems || pg_catalog.format('addendum %s has no matching digest file', ad.addendum);
			END IF;
		END IF;

		day := d;
		IF pg_catalog.cardinality(problems) > 0 THEN
			ok := false;
			detail := pg_catalog.array_to_string(problems || notes, '; ');
			failed := failed + 1;
		ELSIF nulled THEN
			ok := NULL;
			detail := pg_catalog.array_to_string(notes, '; ');
		ELSE
			ok := true;
			detail := 'ok' || COALESCE(' (' || pg_catalog.array_to_string(NULLIF(notes, '{}'), '; ') || ')', '');
		END IF;
		checked := checked + 1;
		RETURN NEXT;
	END LOOP;

	PERFORM audit_log.log_event('AUDIT_LOG', 'VERIFY',
		status => CASE WHEN failed = 0 THEN 'SUCCESS' ELSE 'FAILURE' END::audit_log.event_status,
		reason_code => CASE WHEN failed = 0 THEN NULL ELSE 'DIGEST_MISMATCH' END,
		object_name => directory,
		entry_data => pg_catalog.jsonb_build_object('digest_files', pg_catalog.jsonb_array_length(all_files),
			'days', checked, 'failed_days', failed, 'against', 'digest files'));
END
$$;

COMMENT ON FUNCTION audit_log.verify_digests(text)
	IS 'check the events and audit_log.seals against the digest files of a directory inside audit_log.export_directory';

REVOKE ALL ON TABLE audit_log.late_arrivals FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.seal_addenda FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_day_hash_split(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_remove(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._digest_write(date, bigint, text, text, timestamptz, integer, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._digest_read(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._addendum_chain(text, date, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._note_late_arrival() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_late_arrivals() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.reseal(date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._digest_parse(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.verify_digests(text) FROM PUBLIC;

GRANT SELECT ON audit_log.late_arrivals, audit_log.seal_addenda TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.verify_digests(text) TO audit_log_admin;

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

/* ---- issue 18: exports in JSON lines (jsonl, OCSF, ECS), gzip and zstd ---- */

/*
 * The general export: export_csv() is export(..., 'csv', 'none',
 * formula_guard).  formula_guard applies to csv only: with another format
 * the call is refused (22023) and recorded.  SECURITY INVOKER like
 * export_csv(): the C code checks that the caller is a superuser or a
 * member of audit_log_admin; readers may call it so that their attempt ends
 * in a clear error and is recorded as a FAILURE run.
 */
CREATE FUNCTION audit_log.export(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events',
	format text DEFAULT 'csv',
	compression text DEFAULT 'none',
	formula_guard boolean DEFAULT false)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export';

COMMENT ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text, boolean)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) under audit_log.export_directory as csv, jsonl, ocsf or ecs, compressed with none, gzip or zstd (formula_guard: csv only)';

/* The same, recording the pg_cron job it runs for. */
CREATE FUNCTION audit_log._export_job(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text,
	format text,
	compression text,
	formula_guard boolean,
	job_name text)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export';

/*
 * One run of a scheduled export in a format and compression, with or
 * without the formula guard (what the jobs of 1.1's schedule_export call).
 * No defaults: the 1.0 form (job_name, directory, source, period), which
 * the jobs scheduled under 1.0 call, stays and is the CSV one.
 */
CREATE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval,
	format text,
	compression text,
	formula_guard boolean)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	last_to timestamptz;
	first_event timestamptz;
	horizon timestamp;
	w_from timestamp;
	w_to timestamp;
	n integer := 0;
BEGIN
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('audit_log.flush(interval)') IS NOT NULL THEN
		BEGIN
			EXECUTE 'SELECT audit_log.flush($1)' USING interval '5 seconds';
		EXCEPTION WHEN OTHERS THEN
			NULL;		-- not preloaded: nothing is queued
		END;
	END IF;
	horizon := (pg_catalog.clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute';

	SELECT pg_catalog.max(r.to_time) INTO last_to
	  FROM audit_log.export_runs r
	 WHERE r.job_name = _scheduled_export.job_name AND r.status = 'SUCCESS';

	IF last_to IS NOT NULL THEN
		w_from := last_to AT TIME ZONE 'UTC';
	ELSE
		SELECT pg_catalog.min(e.request_time) INTO first_event FROM audit_log.events e;
		IF first_event IS NULL THEN
			RETURN 0;
		END IF;
		w_from := audit_log._export_period_floor(first_event AT TIME ZONE 'UTC', period);
	END IF;

	LOOP
		w_to := audit_log._export_period_floor(w_from, period) + period;
		EXIT WHEN w_to > horizon OR n >= 1000;
		PERFORM audit_log._export_job(directory, w_from AT TIME ZONE 'UTC',
									  w_to AT TIME ZONE 'UTC', source, format,
									  compression, COALESCE(formula_guard, false),
									  job_name);
		n := n + 1;
		w_from := w_to;
	END LOOP;
	RETURN n;
END
$$;

/* The 1.0 form, which pg_cron jobs made under 1.0 call: plain CSV. */
CREATE OR REPLACE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval)
RETURNS integer
LANGUAGE sql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT audit_log._scheduled_export(job_name, directory, source, period, 'csv', 'none', false) $$;

/*
 * schedule_export gains format, compression and formula_guard (at the end,
 * with the defaults of 1.0's behaviour); its jobs call the seven-argument
 * _scheduled_export.
 */
DROP FUNCTION audit_log.schedule_export(text, text, text, text, interval);

CREATE FUNCTION audit_log.schedule_export(
	job_name text,
	cron text,
	directory text,
	source text DEFAULT 'events',
	period interval DEFAULT '1 day',
	format text DEFAULT 'csv',
	compression text DEFAULT 'none',
	formula_guard boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	jobid bigint;
	command text;
BEGIN
	IF job_name IS NULL OR job_name !~ '^[A-Za-z0-9_]{1,46}$' THEN
		RAISE EXCEPTION 'invalid export job name "%"', job_name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A job name is 1 to 46 letters, digits or underscores.';
	END IF;
	IF cron IS NULL THEN
		RAISE EXCEPTION 'cron schedule must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF directory IS NULL THEN
		RAISE EXCEPTION 'export directory must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF source IS NULL OR source NOT IN ('events', 'daily_login_activity', 'report') THEN
		RAISE EXCEPTION 'invalid export source "%"', source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''events'', ''daily_login_activity'' or ''report''.';
	END IF;
	IF format IS NULL OR format NOT IN ('csv', 'jsonl', 'ocsf', 'ecs', 'html') THEN
		RAISE EXCEPTION 'invalid export format "%"', format
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''csv'', ''jsonl'', ''ocsf'', ''ecs'' or ''html''.';
	END IF;
	/* the HTML report: source 'report' and format 'html' go together */
	IF (source = 'report') <> (format = 'html') THEN
		RAISE EXCEPTION 'export format "%" is not available for source "%"', format, source
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The HTML report is source ''report'' with format ''html''.',
				  HINT = 'Use source ''report'' with format ''html'', or another format for the events.';
	END IF;
	IF format IN ('ocsf', 'ecs') AND source <> 'events' THEN
		RAISE EXCEPTION 'export format "%" is not available for source "%"', format, source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use format ''csv'' or ''jsonl'' for this source, or source ''events''.';
	END IF;
	IF compression IS NULL OR compression NOT IN ('none', 'gzip', 'zstd') THEN
		RAISE EXCEPTION 'invalid export compression "%"', compression
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''none'', ''gzip'' or ''zstd''.';
	END IF;
	IF formula_guard IS NULL THEN
		RAISE EXCEPTION 'formula_guard must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF formula_guard AND format <> 'csv' THEN
		RAISE EXCEPTION 'formula_guard applies to format "csv" only'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('Format "%s" writes JSON values, which a spreadsheet does not run as formulas.', format),
				  HINT = 'Leave formula_guard false, or use format ''csv''.';
	END IF;
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Scheduled exports are pg_cron jobs.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;

	command := pg_catalog.format('SELECT audit_log._scheduled_export(%L, %L, %L, %L::interval, %L, %L, %s)',
								 job_name, directory, source, period, format, compression,
								 CASE WHEN formula_guard THEN 'true' ELSE 'false' END);
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		USING 'audit_log_export_' || job_name, cron, command;

	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
		'audit_log_export_' || job_name,
		pg_catalog.jsonb_build_object('action', 'schedule_export', 'jobid', jobid,
			'cron', cron, 'directory', directory, 'source', source,
			'period', period::text, 'format', format, 'compression', compression,
			'formula_guard', formula_guard));
	RETURN jobid;
END
$$;

COMMENT ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text, boolean)
	IS 'pg_cron job that exports each complete UTC-aligned period, catching up missed ones, in a format and compression';

REVOKE ALL ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_job(text, timestamptz, timestamptz, text, text, text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._scheduled_export(text, text, text, interval, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text, boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.export(text, timestamptz, timestamptz, text, text, text, boolean) TO audit_log_reader, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule_export(text, text, text, text, interval, text, text, boolean) TO audit_log_admin;

/* ---- issue 18: the HTML report ---- */

/*
 * Text made safe for HTML, in element content and in quoted attribute
 * values alike: & < > " ' become entities.  NULL becomes ''.  No SET
 * search_path (every name is schema-qualified): a SQL function with a SET
 * clause is never inlined, and the report calls this six times per row of
 * its table.
 */
CREATE FUNCTION audit_log._report_html(t text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
		pg_catalog.replace(COALESCE(t, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		'"', '&quot;'), '''', '&#39;')
$$;

COMMENT ON FUNCTION audit_log._report_html(text)
	IS 'text escaped for HTML content and quoted attributes (the HTML report)';

/*
 * The HTML report of [from_time, to_time), days in time_zone (NULL: the
 * session's TimeZone): one self-contained HTML5 document.  What it holds,
 * top to bottom:
 *   - totals (events, successful and failed logins, days), the worst day
 *     (most failed logins; the earliest of equals), the top 10 client
 *     addresses and roles of failed logins: static HTML, read without JS;
 *   - an inline SVG combo chart, drawn here: one bar per day of successful
 *     logins, a line with one point per day of failed logins, every day of
 *     the window zero-filled;
 *   - filters (category, status, user) and a table of the window's events,
 *     at most 100 per day (the first by request_time), with a row "and K
 *     more" for a day that has more;
 *   - a small inline script: a click on a day (its bar, its column or its
 *     point) keeps only that day in the chart's highlight and in the table,
 *     a second click on it or the reset button brings the whole window
 *     back; the filters hide the rows that do not match.
 * No request leaves the page: the Content-Security-Policy allows no source
 * at all but inline style and the one script, named by its SHA-256, so that
 * even a value that escaped the escaping could run nothing.  Every value
 * from the table goes through _report_html.  Cost: the per-day counts come
 * from the hourly rollups where maintain() has made them (a scan of the
 * rest), the top lists from one scan of the window's failed logins, the
 * table from one index range of at most 100 rows per day.  JIT is off: its
 * compile time is far more than it saves on these queries.  The top lists
 * are run by EXECUTE (which may use parallel workers; a SELECT INTO never
 * does), and the table is put together by string_agg in its query (an
 * append to a variable per day copied the whole table each time).
 */
CREATE FUNCTION audit_log._export_report(from_time timestamptz, to_time timestamptz,
	time_zone text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	per_day CONSTANT integer := 100;	-- rows of the table per day (README, doc/export.md)
	top_n CONSTANT integer := 10;		-- rows of each top list
	slot integer;						-- chart: width of a day, px
	gap integer;						-- chart: room between two bars, px
	plot_h CONSTANT integer := 200;		-- chart: height of the plot, px
	left_m CONSTANT integer := 56;		-- chart: room for the y axis labels
	tz text := COALESCE(time_zone, pg_catalog.current_setting('TimeZone'));
	d0 date;
	d1 date;
	days date[];
	n_all bigint[];
	n_ok bigint[];
	n_bad bigint[];
	ndays integer;
	top bigint;
	worst integer := 0;
	tot_all bigint := 0;
	tot_ok bigint := 0;
	tot_bad bigint := 0;
	top_addr text;
	top_role text;
	plan record;
	hours timestamptz[];
	bounds timestamptz[];
	live text;
	cur timestamptz;
	hr timestamptz;
	chart text := '';
	line text := '';
	points text := '';
	labels text := '';
	tbody text := '';
	cats text;
	js text;
	css text;
	x integer;
	step integer;
	h integer;
	i integer;
BEGIN
	IF from_time IS NULL OR to_time IS NULL THEN
		RAISE EXCEPTION 'from_time and to_time must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_catalog.isfinite(from_time) OR NOT pg_catalog.isfinite(to_time) THEN
		RAISE EXCEPTION 'from_time and to_time must be finite'
			USING ERRCODE = 'datetime_field_overflow';
	END IF;
	IF from_time >= to_time THEN
		RAISE EXCEPTION 'from_time must be earlier than to_time'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A report covers the half-open range [from_time, to_time).';
	END IF;
	-- a bad zone name fails here, with PostgreSQL's own error (22023)
	d0 := (from_time AT TIME ZONE tz)::date;
	d1 := ((to_time - interval '1 microsecond') AT TIME ZONE tz)::date;
	IF d1 - d0 >= 3660 THEN
		RAISE EXCEPTION 'a report covers at most 3660 days'
			USING ERRCODE = 'program_limit_exceeded',
				  DETAIL = pg_catalog.format('The window from %s to %s has %s days.', d0, d1, d1 - d0 + 1);
	END IF;

	/*
	 * Per day: every event, successful and failed logins.  The hours that
	 * maintain() has counted (hourly_counts) and that lie wholly inside the
	 * window and inside one local day come from the rollups, as for
	 * daily_login_activity; the rest of the window is scanned, one branch
	 * per range with constant bounds (so that each is pruned to its
	 * partitions), each row put in its local day by width_bucket() over the
	 * days' first instants (no time zone conversion per row).
	 */
	plan := audit_log._login_activity_plan(d0, d1, tz);
	SELECT COALESCE(pg_catalog.array_agg(h.h ORDER BY h.h), '{}') INTO hours
	  FROM pg_catalog.unnest(plan.rolled_hours) AS h(h)
	 WHERE h.h >= from_time AND h.h + interval '1 hour' <= to_time;
	SELECT pg_catalog.array_agg(audit_log.day_start(g.d, tz) ORDER BY g.d) INTO bounds
	  FROM audit_log.days(d0, d1 + 1) AS g(d);
	live := '';
	cur := from_time;
	FOREACH hr IN ARRAY hours || ARRAY[to_time] LOOP
		IF hr > cur THEN
			live := live || CASE WHEN live = '' THEN '' ELSE ' UNION ALL ' END
				|| pg_catalog.format('SELECT e.request_time, e.event_category, e.event_type, e.event_status'
									 ' FROM audit_log.events e'
									 ' WHERE e.request_time >= %L::timestamptz AND e.request_time < %L::timestamptz',
									 cur, LEAST(hr, to_time));
		END IF;
		cur := GREATEST(cur, hr + interval '1 hour');
	END LOOP;
	IF live = '' THEN
		live := 'SELECT NULL::timestamptz AS request_time, NULL::audit_log.event_category AS event_category,'
			' NULL::text AS event_type, NULL::audit_log.event_status AS event_status WHERE false';
	END IF;
	EXECUTE pg_catalog.format($q$
		WITH live AS (
			SELECT pg_catalog.width_bucket(e.request_time, $3) AS i,
				   pg_catalog.count(*) AS n,
				   pg_catalog.count(*) FILTER (WHERE e.event_category = 'ACCESS_SIGMA'
						AND e.event_type = 'LOGIN' AND e.event_status = 'SUCCESS') AS s,
				   pg_catalog.count(*) FILTER (WHERE e.event_category = 'ACCESS_SIGMA'
						AND e.event_type = 'LOGIN' AND e.event_status = 'FAILURE') AS f
			  FROM (%s) e
			 GROUP BY 1
		), rolled AS (
			SELECT audit_log._hour_day(c.hour, $4) AS d,
				   pg_catalog.sum(c.count) AS n,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_category = 'ACCESS_SIGMA'
						AND c.event_type = 'LOGIN' AND c.event_status = 'SUCCESS'), 0) AS s,
				   COALESCE(pg_catalog.sum(c.count) FILTER (WHERE c.event_category = 'ACCESS_SIGMA'
						AND c.event_type = 'LOGIN' AND c.event_status = 'FAILURE'), 0) AS f
			  FROM audit_log.hourly_counts c
			 WHERE c.hour = ANY ($5)
			 GROUP BY 1
		)
		SELECT pg_catalog.array_agg(g.d ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.n, 0) + COALESCE(r.n, 0))::bigint ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.s, 0) + COALESCE(r.s, 0))::bigint ORDER BY g.d),
			   pg_catalog.array_agg((COALESCE(l.f, 0) + COALESCE(r.f, 0))::bigint ORDER BY g.d)
		  FROM audit_log.days($1, $2) WITH ORDINALITY AS g(d, i)
		  LEFT JOIN live l ON l.i = g.i
		  LEFT JOIN rolled r ON r.d = g.d
	$q$, live) INTO days, n_all, n_ok, n_bad USING d0, d1, bounds, tz, hours;
	ndays := pg_catalog.array_length(days, 1);

	top := 1;
	FOR i IN 1 .. ndays LOOP
		tot_all := tot_all + n_all[i];
		tot_ok := tot_ok + n_ok[i];
		tot_bad := tot_bad + n_bad[i];
		top := GREATEST(top, n_ok[i], n_bad[i]);
		IF n_bad[i] > 0 AND (worst = 0 OR n_bad[i] > n_bad[worst]) THEN
			worst := i;
		END IF;
	END LOOP;

	/*
	 * The top client addresses and roles of failed logins: one scan, which
	 * may run in parallel (grouping sets cannot, so they come after, over
	 * the address and role pairs).  It is an EXECUTE: PL/pgSQL runs a
	 * SELECT INTO with a row limit, and a query run with a row limit gets
	 * no parallel workers; EXECUTE INTO runs it whole.  The status is
	 * tested first: it rules out nine rows in ten at once.
	 */
	EXECUTE $q$
	SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format(
				'<tr><td>%s</td><td class="n">%s</td></tr>',
				audit_log._report_html(COALESCE(pg_catalog.host(t.a), 'local')), t.n),
				E'\n' ORDER BY t.n DESC, COALESCE(pg_catalog.host(t.a), 'local')) FILTER (WHERE t.g = 1 AND t.r <= $3), ''),
		   COALESCE(pg_catalog.string_agg(pg_catalog.format(
				'<tr><td>%s</td><td class="n">%s</td></tr>',
				audit_log._report_html(t.u), t.n),
				E'\n' ORDER BY t.n DESC, t.u) FILTER (WHERE t.g = 2 AND t.r <= $3), '')
	  FROM (SELECT x.*, pg_catalog.row_number() OVER (PARTITION BY x.g ORDER BY x.n DESC,
					COALESCE(pg_catalog.host(x.a), 'local'), x.u) AS r
			  FROM (SELECT CASE WHEN GROUPING(p.a) = 0 THEN 1 ELSE 2 END AS g,
						   p.a, COALESCE(p.u, '') AS u, pg_catalog.sum(p.n) AS n
					  FROM (SELECT e.client_addr AS a, e.user_name AS u, pg_catalog.count(*) AS n
							  FROM audit_log.events e
							 WHERE e.request_time >= $1 AND e.request_time < $2
							   AND e.event_status = 'FAILURE'
							   AND e.event_category = 'ACCESS_SIGMA' AND e.event_type = 'LOGIN'
							 GROUP BY 1, 2) p
					 GROUP BY GROUPING SETS ((p.a), (p.u))) x) t
	$q$ INTO top_addr, top_role USING from_time, to_time, top_n;

	/* The chart: bars (successful), a line with points (failed). */
	slot := GREATEST(8, LEAST(40, 900 / ndays));
	gap := GREATEST(2, slot / 4);
	step := (36 + slot - 1) / slot;		-- a label (MM-DD) every 36 px or more
	FOR i IN 1 .. ndays LOOP
		x := left_m + (i - 1) * slot;
		h := (n_ok[i] * plot_h / top)::integer;
		chart := chart || pg_catalog.format(
			'<g class="day" data-day="%s"><title>%s: %s successful, %s failed logins</title>'
			'<rect class="hit" x="%s" y="10" width="%s" height="%s"/>'
			'<rect class="bar" data-day="%s" x="%s" y="%s" width="%s" height="%s"/></g>',
			days[i], days[i], n_ok[i], n_bad[i], x, slot, plot_h,
			days[i], x + gap / 2, 10 + plot_h - h, slot - gap, h);
		line := line || pg_catalog.format('%s,%s ', x + slot / 2,
			10 + plot_h - (n_bad[i] * plot_h / top)::integer);
		points := points || pg_catalog.format(
			'<circle class="pt" data-day="%s" cx="%s" cy="%s" r="3.5"><title>%s: %s failed logins</title></circle>',
			days[i], x + slot / 2, 10 + plot_h - (n_bad[i] * plot_h / top)::integer,
			days[i], n_bad[i]);
		IF (i - 1) % step = 0 THEN
			labels := labels || pg_catalog.format('<text x="%s" y="%s">%s</text>',
				x, plot_h + 28, pg_catalog.to_char(days[i], 'MM-DD'));
		END IF;
	END LOOP;
	chart := pg_catalog.format(
		'<svg id="chart" role="img" aria-label="daily logins" xmlns="http://www.w3.org/2000/svg"'
		' viewBox="0 0 %s %s" width="%s" height="%s">'
		'<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>'
		'<text x="4" y="16">%s</text><text x="4" y="%s">0</text>'
		'%s<polyline class="fail" points="%s"/>%s%s</svg>',
		left_m + ndays * slot + 10, plot_h + 40, left_m + ndays * slot + 10, plot_h + 40,
		left_m, 10 + plot_h, left_m + ndays * slot, 10 + plot_h,
		top, 10 + plot_h, chart, pg_catalog.rtrim(line), points, labels);

	/*
	 * The table: the first per_day events of each day, then "and K more",
	 * put together in the query (string_agg) rather than by appending to
	 * a variable day by day, which copied the whole table each time.
	 */
	SELECT COALESCE(pg_catalog.string_agg(
			CASE WHEN r.html <> '' THEN r.html || E'\n' ELSE '' END
			|| CASE WHEN r.n > per_day THEN pg_catalog.format(
				'<tr class="more" data-day="%s"><td colspan="9">%s: and %s more events'
				' (the report lists the first %s of each day)</td></tr>' || E'\n',
				r.d, r.d, r.n - per_day, per_day) ELSE '' END,
			'' ORDER BY r.d), '')
	  INTO tbody
	  FROM (
		SELECT g.d, n_all[g.i] AS n,
			   (SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format(
					'<tr data-day="%s" data-cat="%s" data-status="%s" data-user="%s">'
					'<td>%s</td><td>%s</td><td>%s</td><td class="s-%s">%s</td><td>%s</td>'
					'<td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
					g.d, e.event_category, e.event_status, audit_log._report_html(e.user_name),
					pg_catalog.to_char(e.request_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS'),
					e.event_category, audit_log._report_html(e.event_type),
					e.event_status, e.event_status,
					audit_log._report_html(e.event_status_reason_code),
					audit_log._report_html(e.user_name),
					audit_log._report_html(e.object_name),
					audit_log._report_html(pg_catalog.host(e.client_addr)),
					audit_log._report_html(e.database_name)),
					E'\n' ORDER BY e.request_time, e.event_id), '')
				  FROM (SELECT * FROM audit_log.events e
						 WHERE e.request_time >= GREATEST(from_time, audit_log.day_start(g.d, tz))
						   AND e.request_time < LEAST(to_time, audit_log.day_start(g.d + 1, tz))
						 ORDER BY e.request_time, e.event_id
						 LIMIT per_day) e) AS html
		  FROM audit_log.days(d0, d1) WITH ORDINALITY AS g(d, i)) r;

	SELECT pg_catalog.string_agg(pg_catalog.format('<option>%s</option>', c), '' ORDER BY c)
	  INTO cats
	  FROM pg_catalog.unnest(pg_catalog.enum_range(NULL::audit_log.event_category)) AS c;

	css := 'body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}'
		'h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}'
		'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}'
		'td.n{text-align:right}.cards{display:flex;gap:2em;flex-wrap:wrap}'
		'.s-FAILURE{color:#b00020;font-weight:bold}tr.more td{font-style:italic;color:#666}'
		'#chart .bar{fill:#4a7bd0}#chart .hit{fill:transparent;cursor:pointer}'
		'#chart .fail{fill:none;stroke:#d03030;stroke-width:2}#chart .pt{fill:#d03030;cursor:pointer}'
		'#chart .axis{stroke:#888}#chart text{font-size:10px;fill:#555}'
		'#chart .dim{opacity:.25}#chart .sel .bar{fill:#1f3f80}'
		'[hidden]{display:none!important}';
	js := '(function(){var sel=null;'
		'var rows=[].slice.call(document.querySelectorAll("#events tbody tr"));'
		'var cat=document.getElementById("f-cat"),st=document.getElementById("f-status"),'
		'us=document.getElementById("f-user"),rs=document.getElementById("reset"),'
		'shown=document.getElementById("shown");'
		'function apply(){var c=cat.value,s=st.value,u=us.value.toLowerCase(),n=0;'
		'rows.forEach(function(r){var d=r.dataset,ok=!sel||d.day===sel;'
		'if(r.classList.contains("more")){ok=ok&&!c&&!s&&!u;}'
		'else{ok=ok&&(!c||d.cat===c)&&(!s||d.status===s)&&(!u||(d.user||"").toLowerCase().indexOf(u)>=0);if(ok)n++;}'
		'r.hidden=!ok;});'
		'[].forEach.call(document.querySelectorAll("#chart [data-day]"),function(e){'
		'e.classList.toggle("dim",sel!==null&&e.dataset.day!==sel);'
		'e.classList.toggle("sel",e.dataset.day===sel);});'
		'shown.textContent=n+" events shown"+(sel?" for "+sel:" for the whole window");rs.hidden=!sel;}'
		'document.getElementById("chart").addEventListener("click",function(ev){'
		'var t=ev.target.closest("[data-day]");if(!t)return;'
		'sel=(sel===t.dataset.day)?null:t.dataset.day;apply();});'
		'rs.addEventListener("click",function(){sel=null;apply();});'
		'[cat,st].forEach(function(e){e.addEventListener("change",apply);});'
		'us.addEventListener("input",apply);'
		'document.getElementById("filters").hidden=false;apply();})();';

	RETURN '<!DOCTYPE html>' || E'\n'
		|| '<html lang="en"><head><meta charset="utf-8">'
		|| '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''; script-src ''sha256-'
		|| pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(js, 'UTF8')), 'base64') || '''">'
		|| '<meta name="viewport" content="width=device-width, initial-scale=1">'
		|| pg_catalog.format('<title>audit_log report %s to %s</title>', d0, d1)
		|| '<style>' || css || '</style></head><body>' || E'\n'
		|| pg_catalog.format('<h1>Audit log report: %s to %s</h1>', d0, d1)
		|| pg_catalog.format('<p>Window [%s, %s), days in time zone %s. Written %s.</p>',
			audit_log._report_html(pg_catalog.to_char(from_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')),
			audit_log._report_html(pg_catalog.to_char(to_time AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')),
			audit_log._report_html(tz),
			audit_log._report_html(pg_catalog.to_char(pg_catalog.now() AT TIME ZONE tz, 'YYYY-MM-DD HH24:MI:SS')))
		|| E'\n<section id="summary"><h2>Summary</h2><div class="cards">'
		|| pg_catalog.format('<table id="totals"><tbody><tr><th>events</th><td class="n">%s</td></tr>'
			'<tr><th>successful logins</th><td class="n">%s</td></tr>'
			'<tr><th>failed logins</th><td class="n">%s</td></tr>'
			'<tr><th>days</th><td class="n">%s</td></tr>'
			'<tr><th>worst day</th><td id="worst" data-day="%s">%s</td></tr></tbody></table>',
			tot_all, tot_ok, tot_bad, ndays,
			CASE WHEN worst > 0 THEN days[worst]::text ELSE '' END,
			CASE WHEN worst > 0 THEN pg_catalog.format('%s (%s failed logins)', days[worst], n_bad[worst])
				 ELSE 'none (no failed login)' END)
		|| '<table id="top-addresses"><thead><tr><th>client address (failed logins)</th><th>count</th></tr></thead><tbody>'
		|| top_addr || '</tbody></table>'
		|| '<table id="top-roles"><thead><tr><th>role (failed logins)</th><th>count</th></tr></thead><tbody>'
		|| top_role || '</tbody></table></div></section>' || E'\n'
		|| '<section><h2>Daily logins: successful (bars), failed (line)</h2>'
		|| chart || '</section>' || E'\n'
		|| '<section><h2>Events</h2>'
		|| '<noscript><p>The filters and the drill-down by day need JavaScript; the summary, the chart and the table are complete without it.</p></noscript>'
		|| '<p id="filters" hidden>Category <select id="f-cat"><option value="">all</option>' || cats || '</select> '
		|| 'Status <select id="f-status"><option value="">all</option><option>SUCCESS</option><option>FAILURE</option></select> '
		|| 'User <input id="f-user" type="search" placeholder="contains"> '
		|| '<button id="reset" type="button" hidden>Show the whole window</button> <span id="shown"></span></p>'
		|| pg_catalog.format('<p>At most %s events per day are listed (the first of the day); a row says how many more a day had.</p>', per_day)
		|| '<table id="events"><thead><tr><th>time</th><th>category</th><th>type</th><th>status</th><th>reason</th>'
		|| '<th>user</th><th>object</th><th>client</th><th>database</th></tr></thead><tbody>' || E'\n'
		|| tbody || '</tbody></table></section>' || E'\n'
		|| '<script>' || js || '</script></body></html>' || E'\n';
END
$$;

COMMENT ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text)
	IS 'the self-contained HTML report of [from_time, to_time), days in a time zone (NULL: the session''s): what export(source => ''report'', format => ''html'') writes';

REVOKE ALL ON FUNCTION audit_log._report_html(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log._report_html(text) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log._export_report(timestamptz, timestamptz, text) TO audit_log_admin;

/* ---- issue 19: capture rules ---- */

/*
 * Every change of the capture rules (and, later, of the alert rules) is an
 * AUDIT_LOG CAPTURE_RULE_CHANGE event written in the changing transaction.
 */
INSERT INTO audit_log.event_types AS t (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'CAPTURE_RULE_CHANGE', 'A capture or alert rule was added, changed or removed; entry_data holds the table, the operation, and the rule before and after', true)
ON CONFLICT ON CONSTRAINT event_types_pkey
DO UPDATE SET description = EXCLUDED.description, builtin = true;

/*
 * Capture rules: which captured events are skipped (not queued, not
 * written).  The first rule by position (then by name, in C collation)
 * whose every non-NULL match column equals the event's decides; no rule
 * means keep.  A skip rule must name a category other than AUDIT_LOG and
 * event_status SUCCESS: FAILURE events and AUDIT_LOG events can never be
 * skipped (filtering serves noise, never concealment).  The C capture
 * applies them from a copy in shared memory (at most 256 rules), installed
 * when a change commits; only the rules of the database named by
 * audit_log.database apply.
 */
CREATE TABLE audit_log.capture_rules (
	name text PRIMARY KEY,
	position integer NOT NULL,
	action text NOT NULL,
	event_category audit_log.event_category,
	event_type text,
	event_status audit_log.event_status,
	user_name text,
	database_name text,
	application_name text,
	client_addr cidr,
	CONSTRAINT capture_rules_name CHECK (pg_catalog.length(name) BETWEEN 1 AND 63),
	CONSTRAINT capture_rules_action CHECK (action IN ('skip', 'keep')),
	CONSTRAINT capture_rules_skip_success CHECK (action = 'keep' OR event_status = 'SUCCESS'),
	CONSTRAINT capture_rules_skip_category
		CHECK (action = 'keep' OR (event_category IS NOT NULL AND event_category <> 'AUDIT_LOG'))
);

SELECT pg_catalog.pg_extension_config_dump('audit_log.capture_rules', '');

COMMENT ON TABLE audit_log.capture_rules
	IS 'Capture rules: skip or keep captured events by category, type, status, role, database, application and client address; the first matching rule by position decides; FAILURE and AUDIT_LOG events are never skipped';
COMMENT ON COLUMN audit_log.capture_rules.position IS 'Order of evaluation: lower first (ties by name)';
COMMENT ON COLUMN audit_log.capture_rules.action IS 'skip (not written) or keep';
COMMENT ON COLUMN audit_log.capture_rules.client_addr IS 'Network the client address must be in (NULL: any, including Unix-socket connections, which have no address)';

/* Validation of a rule as it is written: refused with a clear SQLSTATE. */
CREATE FUNCTION audit_log._capture_rules_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.action IS NULL OR NEW.action NOT IN ('skip', 'keep') THEN
		RAISE EXCEPTION 'invalid capture rule action "%"', NEW.action
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''skip'' or ''keep''.';
	END IF;
	IF NEW.event_category IS NULL AND NEW.event_type IS NULL AND NEW.event_status IS NULL
		AND NEW.user_name IS NULL AND NEW.database_name IS NULL
		AND NEW.application_name IS NULL AND NEW.client_addr IS NULL THEN
		RAISE EXCEPTION 'capture rule "%" matches every event', NEW.name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Every match column is NULL.',
				  HINT = 'Name at least one of event_category, event_type, event_status, user_name, database_name, application_name, client_addr.';
	END IF;
	IF NEW.action = 'skip' AND (NEW.event_category IS NULL OR NEW.event_category = 'AUDIT_LOG') THEN
		RAISE EXCEPTION 'capture rule "%" could skip AUDIT_LOG events', NEW.name
			USING ERRCODE = 'check_violation',
				  DETAIL = 'Events of category AUDIT_LOG are the audit log''s own evidence and are never skipped.',
				  HINT = 'A skip rule must name an event_category other than AUDIT_LOG.';
	END IF;
	IF NEW.action = 'skip' AND NEW.event_status IS DISTINCT FROM 'SUCCESS' THEN
		RAISE EXCEPTION 'capture rule "%" could skip FAILURE events', NEW.name
			USING ERRCODE = 'check_violation',
				  DETAIL = 'FAILURE events are never skipped: filtering serves noise, never concealment.',
				  HINT = 'A skip rule must name event_status = ''SUCCESS''.';
	END IF;
	IF NEW.event_type IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM audit_log.event_types t
		 WHERE t.event_type = NEW.event_type
		   AND (NEW.event_category IS NULL OR t.event_category = NEW.event_category)) THEN
		RAISE EXCEPTION 'unknown event type "%"%', NEW.event_type,
			CASE WHEN NEW.event_category IS NULL THEN ''
				 ELSE ' in category ' || NEW.event_category::text END
			USING ERRCODE = 'foreign_key_violation',
				  HINT = 'Every event type must be listed in audit_log.event_types.';
	END IF;
	IF NEW.event_type = '' OR NEW.user_name = '' OR NEW.database_name = ''
		OR NEW.application_name = '' THEN
		RAISE EXCEPTION 'capture rule "%" names an empty value', NEW.name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use NULL for "any"; a captured event never has an empty name.';
	END IF;
	IF pg_catalog.octet_length(NEW.event_type) > 63 OR pg_catalog.octet_length(NEW.user_name) > 63
		OR pg_catalog.octet_length(NEW.database_name) > 63
		OR pg_catalog.octet_length(NEW.application_name) > 63 THEN
		RAISE EXCEPTION 'capture rule "%" names a value longer than 63 bytes', NEW.name
			USING ERRCODE = 'string_data_right_truncation',
				  DETAIL = 'Captured events hold at most 63 bytes of each name, so such a rule would never match.';
	END IF;
	RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION audit_log._capture_rules_check() FROM PUBLIC;

/*
 * The one CAPTURE_RULE_CHANGE trigger, generic over its table (TG_TABLE_NAME):
 * capture_rules and alert_rules use it alike.  object_name is the rule's
 * name; entry_data: table, operation, rule, before, after (the rows as
 * JSON, null for the side that does not exist).  user_name is the role
 * that made the change.
 */
CREATE FUNCTION audit_log._rule_change_event()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	before_row jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN pg_catalog.to_jsonb(OLD) END;
	after_row jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN pg_catalog.to_jsonb(NEW) END;
	rule_name text := COALESCE(after_row ->> 'name', before_row ->> 'name');
BEGIN
	PERFORM audit_log.log_event('AUDIT_LOG', 'CAPTURE_RULE_CHANGE', 'SUCCESS', NULL,
		rule_name,
		pg_catalog.jsonb_build_object('table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
			'operation', TG_OP, 'rule', rule_name,
			'before', before_row, 'after', after_row));
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION audit_log._rule_change_event() FROM PUBLIC;

/* TRUNCATE would remove rules without a record of each: refused. */
CREATE FUNCTION audit_log._rules_refuse_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'TRUNCATE of %.% is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME
		USING ERRCODE = 'feature_not_supported',
			  HINT = 'Use DELETE, so that each removed rule is recorded.';
END
$$;

REVOKE ALL ON FUNCTION audit_log._rules_refuse_truncate() FROM PUBLIC;

/*
 * Before each statement that changes the rules: serialise the changes and
 * note that this transaction's commit installs the new rule set in shared
 * memory (a rollback installs nothing).
 */
CREATE FUNCTION audit_log._capture_rules_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_capture_rules_changed';

REVOKE ALL ON FUNCTION audit_log._capture_rules_changed() FROM PUBLIC;

CREATE TRIGGER capture_rules_check
	BEFORE INSERT OR UPDATE ON audit_log.capture_rules
	FOR EACH ROW EXECUTE FUNCTION audit_log._capture_rules_check();
CREATE TRIGGER capture_rules_changed
	BEFORE INSERT OR UPDATE OR DELETE ON audit_log.capture_rules
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log._capture_rules_changed();
CREATE TRIGGER capture_rules_change_event
	AFTER INSERT OR UPDATE OR DELETE ON audit_log.capture_rules
	FOR EACH ROW EXECUTE FUNCTION audit_log._rule_change_event();
CREATE TRIGGER capture_rules_no_truncate
	BEFORE TRUNCATE ON audit_log.capture_rules
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log._rules_refuse_truncate();

REVOKE ALL ON TABLE audit_log.capture_rules FROM PUBLIC;
GRANT SELECT ON TABLE audit_log.capture_rules TO audit_log_reader, audit_log_admin;
GRANT INSERT, UPDATE, DELETE ON TABLE audit_log.capture_rules TO audit_log_admin;

/* The rules as the capture sees them (shared memory), with their skip counts. */
CREATE FUNCTION audit_log._capture_rule_stats(
	OUT name text, OUT "position" integer, OUT action text,
	OUT skipped bigint, OUT since timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'audit_log_capture_rule_stats';

REVOKE ALL ON FUNCTION audit_log._capture_rule_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log._capture_rule_stats() TO audit_log_reader, audit_log_admin;

CREATE VIEW audit_log.capture_rule_stats AS
	SELECT name, "position", action, skipped, since
	  FROM audit_log._capture_rule_stats();

COMMENT ON VIEW audit_log.capture_rule_stats
	IS 'The capture rules in force (shared memory), with the number of events each skipped since it was installed unchanged (since) or the server started';

REVOKE ALL ON TABLE audit_log.capture_rule_stats FROM PUBLIC;
GRANT SELECT ON TABLE audit_log.capture_rule_stats TO audit_log_reader, audit_log_admin;

/*
 * Which rule decides an event with these properties, and whether it is
 * captured: the same matcher, over the same shared-memory rules, as the
 * capture itself.
 */
CREATE FUNCTION audit_log.explain_capture(
	event_category audit_log.event_category,
	event_type text,
	event_status audit_log.event_status DEFAULT 'SUCCESS',
	user_name text DEFAULT NULL,
	database_name text DEFAULT NULL,
	application_name text DEFAULT NULL,
	client_addr inet DEFAULT NULL)
RETURNS TABLE (rule text, "position" integer, action text, captured boolean, reason text)
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_explain_capture';

COMMENT ON FUNCTION audit_log.explain_capture(audit_log.event_category, text, audit_log.event_status, text, text, text, inet)
	IS 'Which capture rule decides an event with these properties (the first matching by position) and whether it is captured';

REVOKE ALL ON FUNCTION audit_log.explain_capture(audit_log.event_category, text, audit_log.event_status, text, text, text, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.explain_capture(audit_log.event_category, text, audit_log.event_status, text, text, text, inet) TO audit_log_reader, audit_log_admin;

/*
 * The commit of this script installs the (new, empty) table's rules in
 * shared memory: a CREATE EXTENSION after a DROP starts with none.
 */
CREATE FUNCTION audit_log._capture_rules_reload()
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_capture_rules_reload';

REVOKE ALL ON FUNCTION audit_log._capture_rules_reload() FROM PUBLIC;

SELECT audit_log._capture_rules_reload();


/* ---- issue 19: alert rules and alerts ---- */

/*
 * Alerts (src/alerts.c).  The writer evaluates the enabled rules of
 * audit_log.alert_rules on each batch it writes: per rule and group key
 * (client_addr, user_name, database_name, or none), a sliding window of
 * the last `threshold` matching events; when `threshold` of them fall
 * within `within`, it records one AUDIT_LOG ALERT event, sends
 * NOTIFY audit_log_alert with the same JSON, and runs
 * audit_log.alert_command if set.  Each change of a rule is an AUDIT_LOG
 * CAPTURE_RULE_CHANGE event in the same transaction.
 */
INSERT INTO audit_log.event_types AS t (event_category, event_type, description, builtin) VALUES
	('AUDIT_LOG', 'ALERT', 'An alert rule (audit_log.alert_rules) or a built-in condition of the audit log''s own failure fired; entry_data holds the rule, group key, count, window and first and last event_id', true)
ON CONFLICT ON CONSTRAINT event_types_pkey
DO UPDATE SET description = EXCLUDED.description, builtin = true;

CREATE TABLE audit_log.alert_rules (
	name text PRIMARY KEY
		CONSTRAINT alert_rules_name_check
		CHECK (name ~ '^[A-Za-z0-9_.-]{1,63}$'),
	enabled boolean NOT NULL DEFAULT true,
	event_category audit_log.event_category,
	event_type text,
	event_status audit_log.event_status,
	event_status_reason_code text,
	group_by text NOT NULL DEFAULT 'client_addr'
		CONSTRAINT alert_rules_group_by_check
		CHECK (group_by IN ('client_addr', 'user_name', 'database_name', 'none')),
	threshold integer NOT NULL
		CONSTRAINT alert_rules_threshold_check
		CHECK (threshold BETWEEN 1 AND 10000),
	within interval NOT NULL
		CONSTRAINT alert_rules_within_check
		CHECK (within > '0'::interval AND within <= '1 day'::interval)
);

COMMENT ON TABLE audit_log.alert_rules
	IS 'threshold rules over the events as the writer writes them: threshold matching events within an interval, per group key, raise an ALERT';

/* The rows a user added are dumped; the shipped rule comes with CREATE EXTENSION. */
SELECT pg_catalog.pg_extension_config_dump('audit_log.alert_rules', $$WHERE name <> 'failed_logins'$$);

/*
 * Validation when written: an unknown event type (for the category, or in
 * any category when the category is NULL) is refused; the enum columns
 * refuse an unknown category or status, the CHECK constraints a bad
 * group_by, threshold, within or name.
 */
CREATE FUNCTION audit_log._alert_rules_check()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.event_type IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM audit_log.event_types t
		WHERE t.event_type = NEW.event_type
		  AND (NEW.event_category IS NULL OR t.event_category = NEW.event_category)) THEN
		RAISE EXCEPTION 'unknown event type "%"%', NEW.event_type,
			CASE WHEN NEW.event_category IS NULL THEN ''
				 ELSE ' in category ' || NEW.event_category::text END
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An alert rule matches registered event types only (audit_log.event_types).',
				  HINT = 'Use NULL to match any type, or register the type with audit_log.register_event_type.';
	END IF;
	IF NEW.event_category IS NULL AND NEW.event_type IS NULL AND NEW.event_status IS NULL
	   AND NEW.event_status_reason_code IS NULL THEN
		RAISE EXCEPTION 'alert rule "%" matches every event', NEW.name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A rule needs at least one of event_category, event_type, event_status, event_status_reason_code.';
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER alert_rules_check
	BEFORE INSERT OR UPDATE ON audit_log.alert_rules
	FOR EACH ROW EXECUTE FUNCTION audit_log._alert_rules_check();

/*
 * The shipped rule: a password-guessing storm, 20 failed logins from one
 * address within 60 seconds.  Enabled (see README, "Alerts": it only
 * writes an ALERT row and a NOTIFY, and a storm is what nobody would
 * think of switching on beforehand).  Inserted before the trigger that
 * records changes: an install (or the CREATE EXTENSION of a restore) is no
 * rule change, and writes no event.
 */
INSERT INTO audit_log.alert_rules (name, enabled, event_category, event_type, event_status,
	group_by, threshold, within)
VALUES ('failed_logins', true, 'ACCESS_SIGMA', 'LOGIN', 'FAILURE', 'client_addr', 20, '60 seconds');

/*
 * Every change is an AUDIT_LOG CAPTURE_RULE_CHANGE event, in the same
 * transaction, by the trigger the capture rules use (object_name: the
 * rule; entry_data: table, operation, rule, before, after); TRUNCATE is
 * refused, so that each removed rule is recorded.
 */
CREATE TRIGGER alert_rules_changed
	AFTER INSERT OR UPDATE OR DELETE ON audit_log.alert_rules
	FOR EACH ROW EXECUTE FUNCTION audit_log._rule_change_event();

CREATE TRIGGER alert_rules_no_truncate
	BEFORE TRUNCATE ON audit_log.alert_rules
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log._rules_refuse_truncate();

/* Recent alerts: the ALERT events, newest first. */
CREATE VIEW audit_log.alerts AS
SELECT e.event_id AS alert_event_id,
	   e.entry_data ->> 'rule' AS rule,
	   e.entry_data ->> 'kind' AS kind,
	   e.entry_data ->> 'group_by' AS group_by,
	   e.entry_data ->> 'group_key' AS group_key,
	   (e.entry_data ->> 'count')::integer AS count,
	   (e.entry_data ->> 'window_start')::timestamptz AS window_start,
	   (e.entry_data ->> 'window_end')::timestamptz AS window_end,
	   (e.entry_data ->> 'first_event_id')::uuid AS first_event_id,
	   (e.entry_data ->> 'last_event_id')::uuid AS last_event_id,
	   e.request_time AS fired_at,
	   e.entry_data AS payload
FROM audit_log.events e
WHERE e.event_category = 'AUDIT_LOG' AND e.event_type = 'ALERT'
  AND e.request_time > pg_catalog.now() - interval '7 days';

COMMENT ON VIEW audit_log.alerts
	IS 'alerts of the last 7 days (the AUDIT_LOG ALERT events); NOTIFY channel audit_log_alert carries the same payload';

REVOKE ALL ON TABLE audit_log.alert_rules FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.alerts FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._alert_rules_check() FROM PUBLIC;
GRANT SELECT ON TABLE audit_log.alert_rules TO audit_log_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE audit_log.alert_rules TO audit_log_admin;
GRANT SELECT ON TABLE audit_log.alerts TO audit_log_reader, audit_log_admin;


/* ---- issue 20: countif ---- */
/*
 * countif's transition functions (forward and inverse, every arity 1 to 8)
 * become strict: a row with a NULL condition never counted, and now the
 * executor skips it without calling the function.  The public signatures
 * and the aggregates are unchanged.  The main speed-up is not here but in
 * the library: a plan-time rewrite of countif(c1, ...) into
 * count(*) FILTER (WHERE c1 AND ...) (src/countif.c).
 */
DO $countif$
DECLARE
	n int;
	args text;
BEGIN
	FOR n IN 1 .. 8 LOOP
		args := 'bigint' || repeat(', boolean', n);
		EXECUTE format('ALTER FUNCTION audit_log._countif_trans(%s) STRICT', args);
		EXECUTE format('ALTER FUNCTION audit_log._countif_inv(%s) STRICT', args);
	END LOOP;
END
$countif$;

/* ---- issue 15: cheaper log_event ---- */
/*
 * log_event keeps, per session, the event types it has found registered;
 * after every statement that changes audit_log.event_types this trigger
 * sends an invalidation that makes every session read them again (at
 * commit; a rollback sends nothing).  ALWAYS: it fires under
 * session_replication_role = replica too.
 */
CREATE FUNCTION audit_log._event_types_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_event_types_changed';

REVOKE ALL ON FUNCTION audit_log._event_types_changed() FROM PUBLIC;

CREATE TRIGGER event_types_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_log.event_types
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log._event_types_changed();

ALTER TABLE audit_log.event_types ENABLE ALWAYS TRIGGER event_types_changed;
