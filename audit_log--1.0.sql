\echo Use "CREATE EXTENSION audit_log" to load this file. \quit

/*
 * audit_log 1.0: the install script as released on 2026-12-01.  FROZEN: it
 * is never edited again (t/015_update.pl checks its sha256).  Every change
 * after 1.0 goes into an update script (audit_log--1.0--1.1.sql, ...), which
 * CREATE EXTENSION runs after this one for a fresh install, and ALTER
 * EXTENSION audit_log UPDATE for an installed one.
 */

-- The script has one section per feature (00_schema ... 90_status), in the
-- order they depend on each other.

/*
 * 00_schema: roles, types, the events table and its partitions, event types
 * (log_event is in 10_core).  The schema audit_log itself is created by CREATE EXTENSION
 * (schema = audit_log in the control file).
 */

-- The three roles are cluster-wide and may survive a DROP EXTENSION, so they
-- are created only when missing.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_reader') THEN
		CREATE ROLE audit_log_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_writer') THEN
		CREATE ROLE audit_log_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'audit_log_admin') THEN
		CREATE ROLE audit_log_admin NOLOGIN;
	END IF;
	IF NOT pg_catalog.pg_has_role('audit_log_admin', 'audit_log_reader', 'MEMBER') THEN
		GRANT audit_log_reader TO audit_log_admin;
	END IF;
END
$roles$;

REVOKE ALL ON SCHEMA audit_log FROM PUBLIC;
GRANT USAGE ON SCHEMA audit_log TO audit_log_reader, audit_log_writer, audit_log_admin;

CREATE TYPE audit_log.event_category AS ENUM (
	'ACCESS_SIGMA', 'USER_ACCOUNTS', 'ACCOUNT_TYPES', 'TEAMS', 'CONNECTIONS',
	'EXPORTS', 'AUDIT_LOG'
);

CREATE TYPE audit_log.event_status AS ENUM ('SUCCESS', 'FAILURE');

/*
 * Known event types.  Built-in rows (builtin = true) come with the extension;
 * applications add their own with register_event_type(), and only those are
 * dumped by pg_dump (the built-in ones come back with CREATE EXTENSION).
 */
CREATE TABLE audit_log.event_types (
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	description text NOT NULL,
	builtin boolean NOT NULL DEFAULT false,
	PRIMARY KEY (event_category, event_type),
	CONSTRAINT event_type_format
		CHECK (event_type ~ '^[A-Z][A-Z0-9_]{0,62}$')
);

SELECT pg_catalog.pg_extension_config_dump('audit_log.event_types', 'WHERE NOT builtin');

INSERT INTO audit_log.event_types (event_category, event_type, description, builtin) VALUES
	('ACCESS_SIGMA', 'LOGIN', 'A connection attempt: SUCCESS once the session is established, FAILURE with the reason it was refused', true),
	('ACCESS_SIGMA', 'LOGOUT', 'A session ended; entry_data.duration_s holds its length', true),
	('ACCESS_SIGMA', 'PASSWORD_CHANGE', 'A role''s password was set, changed or removed (the password itself is never recorded)', true),
	('USER_ACCOUNTS', 'CREATE_USER', 'A login role was created', true),
	('USER_ACCOUNTS', 'ALTER_USER', 'A login role''s settings or validity were changed', true),
	('USER_ACCOUNTS', 'DROP_USER', 'A login role was dropped', true),
	('USER_ACCOUNTS', 'RENAME_USER', 'A login role was renamed', true),
	('ACCOUNT_TYPES', 'CHANGE_ROLE_ATTRIBUTES', 'A role''s attributes (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS, LOGIN, ...) were changed; entry_data holds them before and after', true),
	('ACCOUNT_TYPES', 'GRANT_PRIVILEGE', 'Privileges on objects were granted', true),
	('ACCOUNT_TYPES', 'REVOKE_PRIVILEGE', 'Privileges on objects were revoked', true),
	('ACCOUNT_TYPES', 'ALTER_DEFAULT_PRIVILEGES', 'Default privileges for future objects were changed', true),
	('ACCOUNT_TYPES', 'DROP_OWNED', 'DROP OWNED: the objects roles owned in a database were dropped and their privileges there revoked', true),
	('ACCOUNT_TYPES', 'REASSIGN_OWNED', 'REASSIGN OWNED: the objects roles owned in a database were given to another role', true),
	('TEAMS', 'CREATE_TEAM', 'A group (NOLOGIN) role was created', true),
	('TEAMS', 'ALTER_TEAM', 'A group role''s settings were changed', true),
	('TEAMS', 'DROP_TEAM', 'A group role was dropped', true),
	('TEAMS', 'RENAME_TEAM', 'A group role was renamed', true),
	('TEAMS', 'GRANT_MEMBERSHIP', 'A role was made a member of another role', true),
	('TEAMS', 'REVOKE_MEMBERSHIP', 'A role''s membership in another role was removed', true),
	('CONNECTIONS', 'CREATE_SERVER', 'A foreign server was created', true),
	('CONNECTIONS', 'ALTER_SERVER', 'A foreign server was changed', true),
	('CONNECTIONS', 'DROP_SERVER', 'A foreign server was dropped', true),
	('CONNECTIONS', 'CREATE_USER_MAPPING', 'A user mapping was created (its password option is never recorded)', true),
	('CONNECTIONS', 'ALTER_USER_MAPPING', 'A user mapping was changed (its password option is never recorded)', true),
	('CONNECTIONS', 'DROP_USER_MAPPING', 'A user mapping was dropped', true),
	('CONNECTIONS', 'CREATE_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was created', true),
	('CONNECTIONS', 'ALTER_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was changed', true),
	('CONNECTIONS', 'DROP_FOREIGN_DATA_WRAPPER', 'A foreign-data wrapper was dropped', true),
	('CONNECTIONS', 'CREATE_SUBSCRIPTION', 'A subscription was created (the connection string''s password is never recorded)', true),
	('CONNECTIONS', 'ALTER_SUBSCRIPTION', 'A subscription was changed', true),
	('CONNECTIONS', 'DROP_SUBSCRIPTION', 'A subscription was dropped', true),
	('CONNECTIONS', 'ADD_SOURCE', 'A source server was added to this collector', true),
	('CONNECTIONS', 'DROP_SOURCE', 'A source server was removed from this collector', true),
	('EXPORTS', 'EXPORT', 'An export run wrote a CSV file (or failed to)', true),
	('AUDIT_LOG', 'RETENTION', 'The retention job dropped expired days (or found none)', true),
	('AUDIT_LOG', 'SETTINGS_CHANGE', 'An audit_log setting was changed', true),
	('AUDIT_LOG', 'SCHEDULE_CHANGE', 'An audit_log pg_cron job was created, changed or removed', true),
	('AUDIT_LOG', 'SEAL', 'A day was sealed with its chained digest', true),
	('AUDIT_LOG', 'VERIFY', 'Sealed days were verified', true);

/*
 * The events.  Partitioned by UTC day (see maintain()); the default
 * partition catches any row whose day has no partition yet, so an insert
 * never fails for lack of one.
 *
 * Keys and indexes are made on each partition, not on this parent: the
 * parent belongs to the extension and exists before pg_restore attaches the
 * dumped partitions, and an index on it would be cloned onto each partition
 * at ATTACH and then clash with the partition's own dumped index.  Each
 * partition's primary key on event_id lets the background writer retry a
 * batch (INSERT ... ON CONFLICT DO NOTHING) without writing an event twice.
 */
CREATE TABLE audit_log.events (
	event_id uuid NOT NULL,
	request_time timestamptz NOT NULL,
	logged_time timestamptz NOT NULL,
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	event_status audit_log.event_status NOT NULL,
	event_status_reason_code text,
	user_name text,
	user_email text,
	object_name text,
	client_addr inet,
	application_name text,
	database_name text,
	backend_pid int,
	session_id text,
	source_node text,
	entry_data jsonb NOT NULL DEFAULT '{}',
	CONSTRAINT events_entry_data_object CHECK (pg_catalog.jsonb_typeof(entry_data) = 'object')
) PARTITION BY RANGE (request_time);

CREATE TABLE audit_log.events_default PARTITION OF audit_log.events
	(CONSTRAINT events_default_pkey PRIMARY KEY (event_id)) DEFAULT;
CREATE INDEX events_default_request_time_idx ON audit_log.events_default (request_time);

SELECT pg_catalog.pg_extension_config_dump('audit_log.events_default', '');

GRANT SELECT ON audit_log.events, audit_log.event_types TO audit_log_reader;

/*
 * 10_core: log_event, register_event_type, the append-only guard, and the
 * daily partitions (maintain).
 */

CREATE FUNCTION audit_log.log_event(
	category audit_log.event_category,
	event_type text,
	status audit_log.event_status DEFAULT 'SUCCESS',
	user_email text DEFAULT NULL,
	object_name text DEFAULT NULL,
	entry_data jsonb DEFAULT '{}',
	reason_code text DEFAULT NULL,
	request_time timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_log_event';

COMMENT ON FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz)
	IS 'record an application event in the caller''s transaction';

CREATE FUNCTION audit_log.register_event_type(
	category audit_log.event_category,
	event_type text,
	description text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF category IS NULL OR event_type IS NULL THEN
		RAISE EXCEPTION 'event category and event type must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF description IS NULL OR pg_catalog.btrim(description) = '' THEN
		RAISE EXCEPTION 'event type "%" needs a description', event_type
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF event_type !~ '^[A-Z][A-Z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid event type name "%"', event_type
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An event type is an upper-case letter followed by at most 62 upper-case letters, digits or underscores.';
	END IF;
	IF EXISTS (SELECT 1 FROM audit_log.event_types t
			   WHERE t.event_category = category AND t.event_type = register_event_type.event_type AND t.builtin) THEN
		RAISE EXCEPTION 'event type %.% is built in and cannot be redefined', category, event_type
			USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO audit_log.event_types AS t (event_category, event_type, description)
		VALUES (category, event_type, description)
		ON CONFLICT ON CONSTRAINT event_types_pkey
		DO UPDATE SET description = EXCLUDED.description;
END
$$;

COMMENT ON FUNCTION audit_log.register_event_type(audit_log.event_category, text, text)
	IS 'add (or describe again) an application event type';

/* The append-only guard, statement level so that it fires on empty tables. */
CREATE FUNCTION audit_log.refuse_change()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'audit_log_refuse_change';

CREATE TRIGGER events_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change();

CREATE TRIGGER events_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.events_default
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change();

CREATE FUNCTION audit_log._move_default_rows(target regclass, lo timestamptz, hi timestamptz)
RETURNS bigint
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'audit_log_move_default_rows';

/* The partition of a UTC day: its name, and creation if it is missing. */
CREATE FUNCTION audit_log.partition_name(d date)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'events_p' || pg_catalog.to_char(d, 'YYYYMMDD') $$;

CREATE FUNCTION audit_log._create_day_partition(d date)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	part text := audit_log.partition_name(d);
	lo timestamptz := (d::timestamp AT TIME ZONE 'UTC');
	hi timestamptz := ((d + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
	IF pg_catalog.to_regclass(pg_catalog.format('audit_log.%I', part)) IS NOT NULL THEN
		RETURN false;
	END IF;
	/*
	 * Create the table on its own with the partition's CHECK constraint, fill
	 * it with the rows that waited in the default partition, then attach it:
	 * ATTACH takes only SHARE UPDATE EXCLUSIVE on events, so writers go on.
	 */
	EXECUTE pg_catalog.format(
		'CREATE TABLE audit_log.%I (LIKE audit_log.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
		' CONSTRAINT %I PRIMARY KEY (event_id),'
		' CONSTRAINT %I CHECK (request_time >= %L AND request_time < %L))',
		part, part || '_pkey', part || '_bound', lo, hi);
	EXECUTE pg_catalog.format('CREATE INDEX %I ON audit_log.%I (request_time)',
		part || '_request_time_idx', part);
	PERFORM audit_log._move_default_rows(pg_catalog.format('audit_log.%I', part)::regclass, lo, hi);
	EXECUTE pg_catalog.format(
		'ALTER TABLE audit_log.events ATTACH PARTITION audit_log.%I FOR VALUES FROM (%L) TO (%L)',
		part, lo, hi);
	EXECUTE pg_catalog.format('ALTER TABLE audit_log.%I DROP CONSTRAINT %I', part, part || '_bound');
	EXECUTE pg_catalog.format(
		'CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.%I'
		' FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change()', part);
	RETURN true;
END
$$;

/*
 * Partition upkeep: a partition for each UTC day from today to
 * AL_PARTITIONS_AHEAD (7) days ahead, and one for every day that has rows
 * waiting in the default partition (backfills, clock skew), which are moved
 * there.  A day whose locks cannot be had within lock_timeout is left for
 * the next run; its rows stay safe in the default partition meanwhile.
 */
CREATE FUNCTION audit_log._maintain_partitions()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '200ms'
AS $$
DECLARE
	today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
	d date;
	created integer := 0;
BEGIN
	FOR d IN
		SELECT g::date FROM pg_catalog.generate_series(today, today + 7, interval '1 day') AS g
		UNION
		SELECT DISTINCT (e.request_time AT TIME ZONE 'UTC')::date FROM ONLY audit_log.events_default e
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
		END;
	END LOOP;
	RETURN created;
END
$$;

CREATE FUNCTION audit_log.maintain()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM audit_log._maintain_partitions();
	PERFORM audit_log._maintain_rollups();
	PERFORM audit_log._maintain_seals();
END
$$;

COMMENT ON FUNCTION audit_log.maintain() IS 'daily upkeep: partitions of today and the next 7 UTC days (moving rows out of the default partition), hourly rollups, seals of closed days';

REVOKE ALL ON FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.register_event_type(audit_log.event_category, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.refuse_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._move_default_rows(regclass, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.partition_name(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._create_day_partition(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._maintain_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.maintain() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.log_event(audit_log.event_category, text, audit_log.event_status, text, text, jsonb, text, timestamptz) TO audit_log_writer, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.register_event_type(audit_log.event_category, text, text) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.maintain() TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.partition_name(date) TO audit_log_reader;

/*
 * No day partition is made here: a partition made by this script would
 * belong to the extension, so pg_dump would leave it and its rows out, and
 * a restore would clash with the days this script made on the restore day.
 * Until the first maintain() (run it after CREATE EXTENSION; the maintenance
 * job runs it daily) every row waits safely in the default partition.
 */

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

/*
 * 30_analytics: the countif aggregate, calendar-day helpers, hourly
 * rollups and daily login activity.
 */

/*
 * countif(c1 [, c2 ... c8]): rows where every condition is true.  One C
 * transition function (and its inverse, for moving window frames) serves
 * every arity; each arity is its own aggregate, written out below.
 */
CREATE FUNCTION audit_log._countif_trans(bigint, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean) TO audit_log_reader;

CREATE FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_trans';
CREATE FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) RETURNS bigint
	LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'audit_log_countif_inv';
CREATE AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) (
	SFUNC = audit_log._countif_trans, STYPE = bigint, INITCOND = '0',
	COMBINEFUNC = pg_catalog.int8pl,
	MSFUNC = audit_log._countif_trans, MINVFUNC = audit_log._countif_inv,
	MSTYPE = bigint, MINITCOND = '0', PARALLEL = SAFE);
COMMENT ON AGGREGATE audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean)
	IS 'number of rows where every condition is true (NULL counts as false)';
REVOKE ALL ON FUNCTION audit_log._countif_trans(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._countif_inv(bigint, boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_log.countif(boolean, boolean, boolean, boolean, boolean, boolean, boolean, boolean) TO audit_log_reader;


/*
 * Calendar days.  day(ts) follows the session's TimeZone (STABLE);
 * day(ts, tz) depends on its arguments only (IMMUTABLE, so an expression
 * index on it works), exactly as AT TIME ZONE does.
 */
CREATE FUNCTION audit_log.day(ts timestamptz)
RETURNS date
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day';

COMMENT ON FUNCTION audit_log.day(timestamptz)
	IS 'the calendar day of an instant in the session time zone';

CREATE FUNCTION audit_log.day(ts timestamptz, tz text)
RETURNS date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day_tz';

COMMENT ON FUNCTION audit_log.day(timestamptz, text)
	IS 'the calendar day of an instant in a time zone, as (ts AT TIME ZONE tz)::date';

CREATE FUNCTION audit_log.day_start(d date, tz text)
RETURNS timestamptz
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_day_start';

COMMENT ON FUNCTION audit_log.day_start(date, text)
	IS 'the first instant of a calendar day in a time zone (days of 23 or 25 hours included)';

CREATE FUNCTION audit_log.days(from_day date, to_day date)
RETURNS SETOF date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 90
AS 'MODULE_PATHNAME', 'audit_log_days';

COMMENT ON FUNCTION audit_log.days(date, date)
	IS 'every day from from_day to to_day, both included';

CREATE FUNCTION audit_log._hour_day(hour timestamptz, tz text)
RETURNS date
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_hour_day';

/*
 * Hourly rollups.  hourly_counts holds, for each UTC hour of each rolled-up
 * day, the number of events per category, type and status.  rollup_days
 * says which UTC days (that is, which daily partitions) are in it and up to
 * which hour: a day counts only while the very partition that was counted
 * is still attached under its name, so a day dropped by retention, or
 * re-created later, falls back to the live table until maintain() counts
 * it again.
 *
 * Late events (request_time in an hour already counted: backdated
 * log_event calls, replicated rows) are added by an AFTER INSERT trigger
 * that maintain() puts on each counted partition, with a WHEN clause that
 * lets every other insert through at the cost of one comparison.  Before
 * it counts, maintain() locks the partition in SHARE ROW EXCLUSIVE mode,
 * which waits for every transaction still inserting into it and keeps new
 * ones out until the trigger is in place, so no event is missed or
 * counted twice.
 */
CREATE TABLE audit_log.hourly_counts (
	hour timestamptz NOT NULL,
	event_category audit_log.event_category NOT NULL,
	event_type text NOT NULL,
	event_status audit_log.event_status NOT NULL,
	count bigint NOT NULL,
	CONSTRAINT hourly_counts_pkey PRIMARY KEY (event_category, event_type, hour, event_status)
);

/* retention reads a day's hours from it (audit_log._rollup_day_rows) */
CREATE INDEX hourly_counts_hour_idx ON audit_log.hourly_counts (hour);

COMMENT ON TABLE audit_log.hourly_counts
	IS 'events per UTC hour, category, type and status for the hours listed in rollup_days (maintained by maintain())';

CREATE TABLE audit_log.rollup_days (
	day date PRIMARY KEY,
	partition regclass NOT NULL,
	rolled_until timestamptz NOT NULL
);

COMMENT ON TABLE audit_log.rollup_days
	IS 'UTC days whose hours before rolled_until are counted in hourly_counts, and the partition counted';

SELECT pg_catalog.pg_extension_config_dump('audit_log.hourly_counts', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log.rollup_days', '');

/* An event inserted for an hour already counted: count it too. */
CREATE FUNCTION audit_log._rollup_late_row()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO audit_log.hourly_counts AS h
		(hour, event_category, event_type, event_status, count)
	VALUES (pg_catalog.date_trunc('hour', NEW.request_time, 'UTC'),
			NEW.event_category, NEW.event_type, NEW.event_status, 1)
	ON CONFLICT ON CONSTRAINT hourly_counts_pkey
	DO UPDATE SET count = h.count + 1;
	RETURN NULL;
END
$$;

/*
 * Count the closed hours (those that ended at least 5 minutes ago, so that
 * events still on their way from the capture queue are in) of every attached
 * daily partition not yet counted, and forget the days whose partition is
 * gone.  Called by maintain().  A partition whose lock cannot be had within
 * lock_timeout is left for the next run.  Returns the number of partitions
 * counted (fully or further).
 */
CREATE FUNCTION audit_log._maintain_rollups()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
DECLARE
	/* hours that ended at least 5 minutes ago */
	closed timestamptz := pg_catalog.date_trunc('hour', pg_catalog.clock_timestamp() - interval '5 minutes', 'UTC');
	p record;
	r audit_log.rollup_days;
	day_lo timestamptz;
	upto timestamptz;
	from_t timestamptz;
	counted integer := 0;
BEGIN
	IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE NOTICE 'audit_log: hourly rollups not updated: they need READ COMMITTED'
			USING DETAIL = 'Counting a partition must see the rows committed after the transaction began.';
		RETURN 0;
	END IF;

	/* Days whose counted partition is no longer attached under its name. */
	FOR r IN
		SELECT rd.* FROM audit_log.rollup_days rd
		WHERE NOT EXISTS (
			SELECT 1 FROM pg_catalog.pg_inherits i
			JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
			  AND i.inhrelid = rd.partition
			  AND c.relname = audit_log.partition_name(rd.day))
	LOOP
		DELETE FROM audit_log.hourly_counts h
		WHERE h.hour >= (r.day::timestamp AT TIME ZONE 'UTC')
		  AND h.hour < ((r.day + 1)::timestamp AT TIME ZONE 'UTC');
		DELETE FROM audit_log.rollup_days rd WHERE rd.day = r.day;
	END LOOP;

	FOR p IN
		SELECT c.oid::pg_catalog.regclass AS part,
			   pg_catalog.to_date(pg_catalog.substr(c.relname, 9), 'YYYYMMDD') AS day
		FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
		  AND c.relname ~ '^events_p[0-9]{8}$'
		ORDER BY 2
	LOOP
		day_lo := p.day::timestamp AT TIME ZONE 'UTC';
		EXIT WHEN day_lo >= closed;
		upto := LEAST((p.day + 1)::timestamp AT TIME ZONE 'UTC', closed);
		SELECT * INTO r FROM audit_log.rollup_days rd WHERE rd.day = p.day;
		CONTINUE WHEN FOUND AND r.partition = p.part AND r.rolled_until >= upto;
		BEGIN
			/* Wait for the transactions inserting into it; keep new ones out. */
			EXECUTE pg_catalog.format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', p.part);
			SELECT * INTO r FROM audit_log.rollup_days rd WHERE rd.day = p.day;
			IF FOUND AND r.partition = p.part THEN
				CONTINUE WHEN r.rolled_until >= upto;
				from_t := r.rolled_until;
			ELSE
				DELETE FROM audit_log.hourly_counts h
				WHERE h.hour >= day_lo AND h.hour < (p.day + 1)::timestamp AT TIME ZONE 'UTC';
				from_t := day_lo;
			END IF;
			EXECUTE pg_catalog.format(
				'INSERT INTO audit_log.hourly_counts AS h'
				' (hour, event_category, event_type, event_status, count)'
				' SELECT pg_catalog.date_trunc(''hour'', e.request_time, ''UTC''),'
				' e.event_category, e.event_type, e.event_status, pg_catalog.count(*)'
				' FROM %s e WHERE e.request_time >= $1 AND e.request_time < $2'
				' GROUP BY 1, 2, 3, 4'
				' ON CONFLICT ON CONSTRAINT hourly_counts_pkey'
				' DO UPDATE SET count = h.count + EXCLUDED.count', p.part)
				USING from_t, upto;
			EXECUTE pg_catalog.format(
				'CREATE OR REPLACE TRIGGER events_rollup_late AFTER INSERT ON %s'
				' FOR EACH ROW WHEN (NEW.request_time < %L::timestamptz)'
				' EXECUTE FUNCTION audit_log._rollup_late_row()', p.part, upto);
			/* also for rows that logical replication applies */
			EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER events_rollup_late', p.part);
			INSERT INTO audit_log.rollup_days AS rd (day, partition, rolled_until)
			VALUES (p.day, p.part, upto)
			ON CONFLICT (day) DO UPDATE
				SET partition = EXCLUDED.partition, rolled_until = EXCLUDED.rolled_until;
			counted := counted + 1;
		EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
			RAISE WARNING 'audit_log: hourly rollup of % not updated now: its partition was busy', p.day
				USING HINT = 'The next maintenance run will try again; until then that day is read from the events table.';
		END;
	END LOOP;
	RETURN counted;
END
$$;

/*
 * apply_retention() calls this in its own transaction with the UTC days it
 * dropped: their counts go with them, so that no derived data outlives its
 * events.  (maintain() would forget them anyway, once it saw their
 * partitions gone.)
 */
CREATE FUNCTION audit_log._on_days_dropped(days date[])
RETURNS void
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM audit_log.hourly_counts h
	USING pg_catalog.unnest(days) AS d
	WHERE h.hour >= (d::timestamp AT TIME ZONE 'UTC')
	  AND h.hour < ((d + 1)::timestamp AT TIME ZONE 'UTC');
	DELETE FROM audit_log.rollup_days rd WHERE rd.day = ANY (days);
$$;

/*
 * How daily_login_activity answers a range: the UTC hours it reads from
 * hourly_counts (counted, and wholly inside one local day of the range),
 * and the ranges of request_time it scans live (everything else).
 */
CREATE FUNCTION audit_log._login_activity_plan(from_day date, to_day date, tz text,
	OUT rolled_hours timestamptz[], OUT live_from timestamptz[], OUT live_to timestamptz[])
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	range_lo timestamptz := audit_log.day_start(from_day, tz);
	range_hi timestamptz := audit_log.day_start(to_day + 1, tz);
	cur timestamptz;
	h timestamptz;
BEGIN
	SELECT COALESCE(pg_catalog.array_agg(g.h ORDER BY g.h), '{}')
	INTO rolled_hours
	FROM audit_log.rollup_days rd
	JOIN pg_catalog.pg_inherits i
	  ON i.inhrelid = rd.partition AND i.inhparent = 'audit_log.events'::pg_catalog.regclass
	JOIN pg_catalog.pg_class c
	  ON c.oid = rd.partition AND c.relname = audit_log.partition_name(rd.day)
	CROSS JOIN LATERAL pg_catalog.generate_series(
		GREATEST(rd.day::timestamp AT TIME ZONE 'UTC', pg_catalog.date_trunc('hour', range_lo, 'UTC')),
		LEAST(rd.rolled_until, range_hi) - interval '1 hour',
		interval '1 hour') AS g(h)
	WHERE rd.rolled_until > range_lo
	  AND (rd.day::timestamp AT TIME ZONE 'UTC') < range_hi
	  AND audit_log._hour_day(g.h, tz) BETWEEN from_day AND to_day;

	live_from := '{}';
	live_to := '{}';
	cur := range_lo;
	FOREACH h IN ARRAY rolled_hours LOOP
		IF h > cur THEN
			live_from := live_from || cur;
			live_to := live_to || h;
		END IF;
		cur := GREATEST(cur, h + interval '1 hour');
	END LOOP;
	IF cur < range_hi THEN
		live_from := live_from || cur;
		live_to := live_to || range_hi;
	END IF;
END
$$;

/*
 * Successful and failed logins per local day, every day of the range
 * (zero-filled).  Counted hours come from hourly_counts; the rest (the open
 * hours, late parts, hours straddling a local midnight in zones whose
 * offset is not a whole number of hours, days not counted) is scanned
 * live, so the result is always that of a scan of audit_log.events.
 */
CREATE FUNCTION audit_log.daily_login_activity(from_day date, to_day date,
	tz text DEFAULT pg_catalog.current_setting('TimeZone'))
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
	 * The rows scanned live: one branch per range, each with constant
	 * bounds, so that the planner prunes every branch to the partitions of
	 * its range and picks the scan that suits its length (a sequential scan
	 * for a long range, an index scan for the hour around a local midnight
	 * in a +05:30 zone).
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
									 'ACCESS_SIGMA', 'LOGIN', plan.live_from[i], plan.live_to[i]);
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

COMMENT ON FUNCTION audit_log.daily_login_activity(date, date, text)
	IS 'successful and failed logins per day of a time zone, every day of the range';

CREATE VIEW audit_log.daily_login_activity_90d AS
SELECT a.day, a.success, a.failure
FROM audit_log.daily_login_activity(audit_log.day(pg_catalog.now()) - 89,
									audit_log.day(pg_catalog.now())) AS a;

COMMENT ON VIEW audit_log.daily_login_activity_90d
	IS 'successful and failed logins per day over the last 90 days, in the session time zone';

REVOKE ALL ON FUNCTION audit_log.day(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.day(timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.day_start(date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.days(date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._hour_day(timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._rollup_late_row() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._maintain_rollups() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._on_days_dropped(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._login_activity_plan(date, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.daily_login_activity(date, date, text) FROM PUBLIC;
REVOKE ALL ON TABLE audit_log.hourly_counts, audit_log.rollup_days, audit_log.daily_login_activity_90d FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.day(timestamptz) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.day(timestamptz, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.day_start(date, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.days(date, date) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log._hour_day(timestamptz, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log._login_activity_plan(date, date, text) TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.daily_login_activity(date, date, text) TO audit_log_reader;
GRANT SELECT ON TABLE audit_log.hourly_counts, audit_log.rollup_days, audit_log.daily_login_activity_90d TO audit_log_reader;

/*
 * 40_retention: apply_retention() drops whole expired UTC days; schedule()
 * and unschedule() manage the pg_cron job that runs it; _retention_status()
 * feeds the status view.
 *
 * Dropping a partition takes ACCESS EXCLUSIVE on audit_log.events (and on
 * its default partition) until the end of the transaction.  A lock request
 * that waits also makes every later reader and writer of the table queue
 * behind it, so every lock is asked for with a short lock_timeout (or
 * NOWAIT), and a day whose locks are busy is left for the next run.  The
 * row count of a day comes from the hourly rollups when they count it
 * exactly (_rollup_day_rows); otherwise counting it, the only slow part,
 * happens before the table-wide lock is asked for, under a SHARE lock on
 * that day's partition only.  Either way the table-wide lock is held for
 * catalog work of a few milliseconds.
 */

CREATE FUNCTION audit_log._retention_days()
RETURNS integer
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_retention_days';

CREATE FUNCTION audit_log._require_export_before_purge()
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'audit_log_require_export_before_purge';

/*
 * What the last retention run did (one row at most), for the status view.
 * The RETENTION events hold the full history; this row only saves the
 * status view a search of the whole events table.
 */
CREATE TABLE audit_log._retention_state (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	last_run timestamptz NOT NULL,
	retention_days integer NOT NULL,
	first_day_kept date NOT NULL,
	dropped_days integer NOT NULL,
	dropped_rows bigint NOT NULL,
	busy_days integer NOT NULL,
	held_back_days integer NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('audit_log._retention_state', '');

/* The first UTC day that retention keeps when retention_days days are kept. */
CREATE FUNCTION audit_log._retention_first_day_kept(keep_days integer)
RETURNS date
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	/*
	 * Day D lies entirely before the instant now() - keep_days days exactly
	 * when D + 1 (its end, at 00:00 UTC) is not after that instant, that is
	 * when D is before the UTC date of that instant.  Computed on UTC
	 * timestamps, so a day is always 24 hours here.
	 */
	SELECT ((pg_catalog.now() AT TIME ZONE 'UTC')
			- pg_catalog.make_interval(days => keep_days))::date
$$;

/*
 * The day partitions of audit_log.events that lie entirely before
 * first_day_kept, oldest first.  Only a partition named as
 * audit_log.partition_name(d) whose bounds are exactly d 00:00 UTC to d + 1
 * 00:00 UTC counts as day d; anything else attached to events is left alone.
 * (pg_get_expr() prints the bounds with the same output function, DateStyle
 * and TimeZone as format() below, so the texts match whatever those are.)
 */
CREATE FUNCTION audit_log._expired_day_partitions(first_day_kept date)
RETURNS TABLE (day date, part name)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	d date;
BEGIN
	FOR r IN
		SELECT c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM pg_catalog.pg_inherits i
		JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
		  AND c.relkind = 'r'
		  AND c.relname::text ~ '^events_p[0-9]{8}$'
		  AND pg_catalog.substr(c.relname::text, 9) <
			  pg_catalog.to_char(first_day_kept, 'YYYYMMDD')
		ORDER BY c.relname
	LOOP
		BEGIN
			d := pg_catalog.to_date(pg_catalog.substr(r.relname::text, 9), 'YYYYMMDD');
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			CONTINUE;
		END;
		IF audit_log.partition_name(d) = r.relname::text
		   AND r.bound = pg_catalog.format('FOR VALUES FROM (%L) TO (%L)',
				d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC')
		THEN
			day := d;
			part := r.relname;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;

/*
 * The number of rows in the partition part of day d as the hourly rollups know
 * it, or NULL when they might not know it exactly.  They do when maintain()
 * counted this very partition up to the end of its day and the trigger that
 * counts every later insert into it fires always (even for replicated rows),
 * and the append-only trigger still refuses deletes; then the sum is exact,
 * and retention need not read a day to say how many rows it dropped.  Call
 * it with part locked against writers, or the answer may be stale.
 */
CREATE FUNCTION audit_log._rollup_day_rows(d date, part regclass)
RETURNS bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE((SELECT pg_catalog.sum(h.count)
					 FROM audit_log.hourly_counts h
					 WHERE h.hour >= (d::timestamp AT TIME ZONE 'UTC')
					   AND h.hour < ((d + 1)::timestamp AT TIME ZONE 'UTC')), 0)::bigint
	FROM audit_log.rollup_days rd
	WHERE rd.day = d
	  AND rd.partition = part
	  AND rd.rolled_until >= ((d + 1)::timestamp AT TIME ZONE 'UTC')
	  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
				  WHERE t.tgrelid = part AND t.tgname = 'events_rollup_late'
					AND t.tgenabled = 'A')
	  AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
				  WHERE t.tgrelid = part AND t.tgname = 'events_append_only'
					AND t.tgenabled IN ('O', 'A'))
$$;

/* The UTC days before first_day_kept that still have rows in events_default. */
CREATE FUNCTION audit_log._expired_default_days(first_day_kept date)
RETURNS date[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT (e.request_time AT TIME ZONE 'UTC')::date), '{}')
	FROM ONLY audit_log.events_default e
	WHERE e.request_time < (first_day_kept::timestamp AT TIME ZONE 'UTC')
$$;

/*
 * Which of days no successful export of events has covered.  The union of
 * the successful runs' [from_time, to_time) ranges must contain the whole
 * UTC day: one export of a week covers each of its days, and so do seven
 * daily exports.  NULL when audit_log.export_runs does not exist.
 */
CREATE FUNCTION audit_log._days_not_exported(days date[])
RETURNS date[]
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result date[];
BEGIN
	IF pg_catalog.to_regclass('audit_log.export_runs') IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE $q$
		WITH exported AS (
			SELECT pg_catalog.range_agg(pg_catalog.tstzrange(r.from_time, r.to_time)) AS ranges
			FROM audit_log.export_runs r
			WHERE r.status::text = 'SUCCESS'
			  AND r.source = 'events'
			  AND r.from_time IS NOT NULL AND r.to_time IS NOT NULL
			  AND r.from_time < r.to_time
		)
		SELECT COALESCE(pg_catalog.array_agg(d ORDER BY d), '{}')
		FROM pg_catalog.unnest($1) AS d, exported x
		WHERE NOT COALESCE(x.ranges @>
				pg_catalog.tstzrange(d::timestamp AT TIME ZONE 'UTC',
									 (d + 1)::timestamp AT TIME ZONE 'UTC'), false)
	$q$ INTO result USING days;
	RETURN result;
END
$$;

/*
 * pg_cron: is it installed here, and the error when it is needed but is not.
 */
CREATE FUNCTION audit_log._cron_available()
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')
	   AND pg_catalog.to_regclass('cron.job') IS NOT NULL
$$;

CREATE FUNCTION audit_log._require_cron(caller text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT audit_log._cron_available() THEN
		RAISE EXCEPTION 'pg_cron is not installed in database "%"', pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = pg_catalog.format('%s schedules its jobs with pg_cron, which must be installed in the database that holds audit_log.', caller),
				  HINT = pg_catalog.format('Add pg_cron to shared_preload_libraries, set cron.database_name = ''%s'' (now %s), restart the server, then run CREATE EXTENSION pg_cron in that database.',
					  pg_catalog.current_database(),
					  COALESCE(pg_catalog.quote_literal(pg_catalog.current_setting('cron.database_name', true)), 'not set: pg_cron is not loaded'));
	END IF;
END
$$;

/*
 * pg_cron keeps every run in cron.job_run_details forever.  Keep 30 days of
 * the runs of our own jobs (audit_log_* in this database); other jobs' rows
 * are not ours to remove.
 */
CREATE FUNCTION audit_log._trim_cron_history()
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint := 0;
BEGIN
	IF NOT audit_log._cron_available() OR pg_catalog.to_regclass('cron.job_run_details') IS NULL THEN
		RETURN 0;
	END IF;
	EXECUTE $q$
		DELETE FROM cron.job_run_details d
		WHERE d.jobid IN (SELECT j.jobid FROM cron.job j
						  WHERE j.jobname LIKE $1
							AND j.database = pg_catalog.current_database())
		  AND COALESCE(d.end_time, d.start_time) <
			  pg_catalog.now() - interval '30 days'
	$q$ USING 'audit\_log\_%';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

/*
 * audit_log.apply_retention(): drop every UTC day that lies entirely before
 * now() - audit_log.retention_days, return the days dropped with their row
 * counts, and record one RETENTION event (also when nothing was dropped).
 *
 * A day is only ever removed whole, by dropping its partition: rows of a
 * kept day are never touched.  Rows of an expired day that still wait in
 * the default partition are first moved into their day's partition (as
 * maintain() does), so that they go with their day.  With
 * audit_log.require_export_before_purge on, a day stays until successful
 * exports of events covered it.
 */
CREATE FUNCTION audit_log.apply_retention()
RETURNS TABLE (day date, rows bigint)
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET lock_timeout = '100ms'
AS $$
#variable_conflict use_column
DECLARE
	keep_days integer := audit_log._retention_days();
	require_export boolean := audit_log._require_export_before_purge();
	first_kept date;
	cand_days date[];
	cand_parts name[];
	default_days date[];
	held date[] := '{}';
	held_reason text;
	uncovered date[];
	busy date[] := '{}';
	counted_days date[];
	counted_parts name[];
	counted_rows bigint[];
	done_days date[] := '{}';
	done_rows bigint[] := '{}';
	moved boolean := false;
	got_table_lock boolean;
	locked_at timestamptz;
	lock_ms numeric;
	previous_days integer;
	history_deleted bigint;
	n bigint;
	i integer;
	attempt integer;
	entry jsonb;
BEGIN
	first_kept := audit_log._retention_first_day_kept(keep_days);

	/*
	 * One run at a time: a second one waits here (this lock blocks no one
	 * else) and then finds the days already gone.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '0', true);
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('audit_log.apply_retention'));
	/*
	 * Reading what is expired takes only ACCESS SHARE locks, which make no
	 * one queue; only the drop below needs the short timeout.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '5s', true);

	/*
	 * Expired rows waiting in the default partition go to their day first.
	 * Attaching a partition locks the default partition until commit, so
	 * after a move this run makes one attempt only, without pauses.
	 */
	default_days := audit_log._expired_default_days(first_kept);
	IF pg_catalog.cardinality(default_days) > 0 THEN
		moved := true;
		BEGIN
			PERFORM audit_log._maintain_partitions();
		EXCEPTION WHEN lock_not_available THEN
			RAISE WARNING 'audit_log: expired rows in the default partition not moved now: its lock was busy'
				USING HINT = 'The next run tries again.';
		END;
	END IF;

	SELECT COALESCE(pg_catalog.array_agg(x.day ORDER BY x.day), '{}'),
		   COALESCE(pg_catalog.array_agg(x.part ORDER BY x.day), '{}')
	INTO cand_days, cand_parts
	FROM audit_log._expired_day_partitions(first_kept) x;
	/* Those that could not be moved (their locks were busy) stay for now. */
	IF moved THEN
		default_days := audit_log._expired_default_days(first_kept);
	END IF;

	/* audit_log.require_export_before_purge: keep what no export covered. */
	IF require_export THEN
		uncovered := audit_log._days_not_exported(cand_days || default_days);
		IF uncovered IS NULL THEN
			held := cand_days || default_days;
			held_reason := 'audit_log.require_export_before_purge is on and audit_log.export_runs does not exist, so no day can have been exported: every day is kept';
			RAISE NOTICE 'audit_log: %', held_reason
				USING HINT = 'Export the expired days with audit_log.export_csv(), or turn audit_log.require_export_before_purge off.';
		ELSE
			held := uncovered;
			IF pg_catalog.cardinality(held) > 0 THEN
				held_reason := 'audit_log.require_export_before_purge is on and no successful export of events covered these days';
				RAISE NOTICE 'audit_log: % expired days kept: %', pg_catalog.cardinality(held), held_reason
					USING HINT = 'Export them with audit_log.export_csv(directory, from_time, to_time), or turn audit_log.require_export_before_purge off.';
			END IF;
		END IF;
		SELECT COALESCE(pg_catalog.array_agg(c.d ORDER BY c.d), '{}'),
			   COALESCE(pg_catalog.array_agg(c.p ORDER BY c.d), '{}')
		INTO cand_days, cand_parts
		FROM ROWS FROM (pg_catalog.unnest(cand_days), pg_catalog.unnest(cand_parts)) AS c(d, p)
		WHERE NOT c.d = ANY (held);
	END IF;

	/* Expired days still in the default partition: their move was busy. */
	SELECT COALESCE(pg_catalog.array_agg(d ORDER BY d), '{}') INTO default_days
	FROM pg_catalog.unnest(default_days) AS d WHERE NOT d = ANY (held);

	history_deleted := audit_log._trim_cron_history();

	/*
	 * Drop.  Each attempt: SHARE-lock and count each expired partition that
	 * the hourly rollups do not count exactly (readers go on; only writers
	 * into that old day wait; the others are read from the rollups once
	 * locked, at no cost per row), then ask for
	 * ACCESS EXCLUSIVE on events itself and on its default partition (for
	 * at most lock_timeout), then drop the partitions whose own lock is free
	 * at once.  When the table-wide lock is busy, the attempt's
	 * subtransaction is rolled back, which releases every lock it took; a
	 * new attempt follows a short pause (three attempts at most).  Once the
	 * table-wide lock is held it stays held until commit, so no attempt
	 * follows that one.
	 */
	PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
	attempt := 0;
	WHILE pg_catalog.cardinality(cand_days) > 0 LOOP
		attempt := attempt + 1;
		got_table_lock := false;
		busy := '{}';
		counted_days := '{}';
		counted_parts := '{}';
		counted_rows := '{}';
		BEGIN
			FOR i IN 1 .. pg_catalog.cardinality(cand_days) LOOP
				/*
				 * A day the rollups know exactly is read from them once its
				 * partition is locked below; NULL stands for that here.
				 */
				IF audit_log._rollup_day_rows(cand_days[i],
						pg_catalog.format('audit_log.%I', cand_parts[i])::pg_catalog.regclass) IS NOT NULL THEN
					counted_days := counted_days || cand_days[i];
					counted_parts := counted_parts || cand_parts[i];
					counted_rows := counted_rows || NULL::bigint;
					CONTINUE;
				END IF;
				BEGIN
					EXECUTE pg_catalog.format('LOCK TABLE audit_log.%I IN SHARE MODE', cand_parts[i]);
					EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM audit_log.%I', cand_parts[i]) INTO n;
					counted_days := counted_days || cand_days[i];
					counted_parts := counted_parts || cand_parts[i];
					counted_rows := counted_rows || n;
				EXCEPTION WHEN lock_not_available THEN
					busy := busy || cand_days[i];
				END;
			END LOOP;
			IF pg_catalog.cardinality(counted_days) > 0 THEN
				LOCK TABLE ONLY audit_log.events IN ACCESS EXCLUSIVE MODE;
				LOCK TABLE ONLY audit_log.events_default IN ACCESS EXCLUSIVE MODE NOWAIT;
				got_table_lock := true;
				locked_at := pg_catalog.clock_timestamp();
				FOR i IN 1 .. pg_catalog.cardinality(counted_days) LOOP
					BEGIN
						EXECUTE pg_catalog.format('LOCK TABLE audit_log.%I IN ACCESS EXCLUSIVE MODE NOWAIT', counted_parts[i]);
						n := counted_rows[i];
						IF n IS NULL THEN
							/*
							 * No writer is left: the rollups are final (or,
							 * if a trigger changed meanwhile, count after all).
							 */
							n := audit_log._rollup_day_rows(counted_days[i],
									pg_catalog.format('audit_log.%I', counted_parts[i])::pg_catalog.regclass);
							IF n IS NULL THEN
								EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM audit_log.%I', counted_parts[i]) INTO n;
							END IF;
						END IF;
						EXECUTE pg_catalog.format('DROP TABLE audit_log.%I', counted_parts[i]);
						done_days := done_days || counted_days[i];
						done_rows := done_rows || n;
					EXCEPTION WHEN lock_not_available THEN
						busy := busy || counted_days[i];
					END;
				END LOOP;
			END IF;
		EXCEPTION WHEN lock_not_available THEN
			got_table_lock := false;
			busy := cand_days;
		END;
		EXIT WHEN got_table_lock OR pg_catalog.cardinality(busy) = 0
			OR attempt >= 3 OR moved;
		PERFORM pg_catalog.pg_sleep(0.2);
	END LOOP;

	IF locked_at IS NOT NULL THEN
		lock_ms := pg_catalog.round(EXTRACT(epoch FROM pg_catalog.clock_timestamp() - locked_at) * 1000, 3);
	END IF;
	busy := busy || default_days;

	/*
	 * Data derived from the dropped days goes with them, in this
	 * transaction: the hourly rollups (30_analytics.sql defines the hook).
	 */
	IF pg_catalog.cardinality(done_days) > 0 THEN
		PERFORM audit_log._on_days_dropped(done_days);
	END IF;

	IF pg_catalog.cardinality(busy) > 0 THEN
		RAISE WARNING 'audit_log: % expired days not dropped now: their locks were busy', pg_catalog.cardinality(busy)
			USING DETAIL = pg_catalog.format('Days: %s.', pg_catalog.array_to_string(busy, ', ')),
				  HINT = 'Long transactions on audit_log.events hold the locks; the next run tries again.';
	END IF;

	entry := pg_catalog.jsonb_build_object(
		'retention_days', keep_days,
		'first_day_kept', first_kept,
		'dropped', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('day', u.d, 'rows', u.n) ORDER BY u.d), '[]')
					FROM ROWS FROM (pg_catalog.unnest(done_days), pg_catalog.unnest(done_rows)) AS u(d, n)),
		'dropped_days', pg_catalog.cardinality(done_days),
		'dropped_rows', (SELECT COALESCE(pg_catalog.sum(x), 0) FROM pg_catalog.unnest(done_rows) AS x),
		'busy_days', pg_catalog.to_jsonb(busy),
		'held_back_days', pg_catalog.to_jsonb(held),
		'require_export_before_purge', require_export,
		'cron_history_deleted', history_deleted,
		'table_lock_ms', lock_ms);
	IF held_reason IS NOT NULL THEN
		entry := entry || pg_catalog.jsonb_build_object('held_back_reason', held_reason);
	END IF;
	/* A changed setting shows in the first run that uses it. */
	SELECT s.retention_days INTO previous_days FROM audit_log._retention_state s;
	IF previous_days <> keep_days THEN
		entry := entry || pg_catalog.jsonb_build_object('previous_retention_days', previous_days);
	END IF;
	/* Writing the event only needs locks no reader holds; wait for them. */
	PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
	PERFORM audit_log.log_event('AUDIT_LOG', 'RETENTION',
		CASE WHEN pg_catalog.cardinality(busy) > 0
			 THEN 'FAILURE' ELSE 'SUCCESS' END::audit_log.event_status,
		object_name => 'audit_log.events',
		entry_data => entry,
		reason_code => CASE WHEN pg_catalog.cardinality(busy) > 0 THEN '55P03' END);

	INSERT INTO audit_log._retention_state AS s
		(id, last_run, retention_days, first_day_kept, dropped_days, dropped_rows, busy_days, held_back_days)
	VALUES (true, pg_catalog.clock_timestamp(), keep_days, first_kept, pg_catalog.cardinality(done_days),
			(entry ->> 'dropped_rows')::bigint, pg_catalog.cardinality(busy),
			pg_catalog.cardinality(held))
	ON CONFLICT (id) DO UPDATE
		SET last_run = EXCLUDED.last_run, retention_days = EXCLUDED.retention_days,
			first_day_kept = EXCLUDED.first_day_kept, dropped_days = EXCLUDED.dropped_days,
			dropped_rows = EXCLUDED.dropped_rows, busy_days = EXCLUDED.busy_days,
			held_back_days = EXCLUDED.held_back_days;

	RETURN QUERY SELECT u.d, u.n FROM ROWS FROM (pg_catalog.unnest(done_days), pg_catalog.unnest(done_rows)) AS u(d, n) ORDER BY u.d;
END
$$;

COMMENT ON FUNCTION audit_log.apply_retention()
	IS 'drop the UTC days older than audit_log.retention_days (whole partitions), and record a RETENTION event';

/*
 * The maintenance job's body: maintain(), then apply_retention(), each in a
 * transaction of its own.  pg_cron runs a job's command as one transaction
 * (several statements included), and maintain() keeps until commit the
 * locks it took (attaching a new day's partition locks the default
 * partition): sessions queued behind those would also hold the locks
 * retention needs, and retention would give up on every run.  A procedure
 * can commit in between, so the job calls this one.  It takes no SET
 * clause and is not SECURITY DEFINER (either would forbid COMMIT): it runs
 * with the rights of its caller, the job's owner, and calls only
 * schema-qualified functions that pin their own search_path.
 */
CREATE PROCEDURE audit_log._maintenance_job()
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM audit_log.maintain();
	COMMIT;
	PERFORM audit_log.apply_retention();
	COMMIT;
END
$$;

/*
 * audit_log.schedule(maintenance_cron): create, or update, the pg_cron job
 * audit_log_maintenance.  cron.schedule() with a job name updates the job of
 * that name (of the same owner: this function's owner), so calling this
 * twice leaves one job.
 */
CREATE FUNCTION audit_log.schedule(maintenance_cron text DEFAULT '17 3 * * *')
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job_name constant text := 'audit_log_maintenance';
	job_command constant text := 'CALL audit_log._maintenance_job()';
	cron_text text := pg_catalog.btrim(maintenance_cron);
	old_jobid bigint;
	old_schedule text;
	old_command text;
	new_jobid bigint;
	action text;
	err_state text;
	err_message text;
BEGIN
	IF cron_text IS NULL OR cron_text = '' THEN
		RAISE EXCEPTION 'invalid maintenance schedule: it must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give a cron schedule such as ''17 3 * * *'' (every day at 03:17 GMT), or call audit_log.unschedule() to remove the job.';
	END IF;
	PERFORM audit_log._require_cron('audit_log.schedule()');

	EXECUTE 'SELECT j.jobid, j.schedule, j.command FROM cron.job j'
			' WHERE j.jobname = $1 AND j.username = CURRENT_USER'
		INTO old_jobid, old_schedule, old_command USING job_name;

	BEGIN
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO new_jobid USING job_name, cron_text, job_command;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT;
		IF err_message LIKE 'invalid schedule%' THEN
			RAISE EXCEPTION 'invalid maintenance schedule "%"', maintenance_cron
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('pg_cron refused it: %s.', err_message),
					  HINT = 'Use the five cron fields (minute hour day-of-month month day-of-week, in GMT), for example ''17 3 * * *'' for every day at 03:17.';
		END IF;
		RAISE;
	END;

	action := CASE
		WHEN old_jobid IS NULL THEN 'created'
		WHEN old_schedule = cron_text AND old_command = job_command THEN 'unchanged'
		ELSE 'changed' END;
	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS',
		object_name => job_name,
		entry_data => pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
			'action', action,
			'job', job_name,
			'jobid', new_jobid,
			'schedule', cron_text,
			'previous_schedule', old_schedule,
			'command', job_command)));
END
$$;

COMMENT ON FUNCTION audit_log.schedule(text)
	IS 'create or update the pg_cron job audit_log_maintenance (maintain and apply_retention)';

/* audit_log.unschedule(): remove every audit_log_* pg_cron job of this database. */
CREATE FUNCTION audit_log.unschedule()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	removed jsonb := '[]';
BEGIN
	IF NOT audit_log._cron_available() THEN
		RAISE NOTICE 'audit_log: pg_cron is not installed in database "%": there is no job to remove',
			pg_catalog.current_database();
		RETURN;
	END IF;
	FOR r IN EXECUTE
		'SELECT j.jobid, j.jobname, j.schedule FROM cron.job j'
		' WHERE j.jobname LIKE $1 AND j.database = pg_catalog.current_database()'
		' ORDER BY j.jobid' USING 'audit\_log\_%'
	LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING r.jobid;
		removed := removed || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
			'job', r.jobname, 'jobid', r.jobid, 'schedule', r.schedule));
		PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS',
			object_name => r.jobname,
			entry_data => pg_catalog.jsonb_build_object('action', 'removed', 'job', r.jobname,
														 'jobid', r.jobid, 'schedule', r.schedule));
	END LOOP;
	IF removed = '[]' THEN
		RAISE NOTICE 'audit_log: no audit_log_* job was scheduled in database "%"', pg_catalog.current_database();
	END IF;
END
$$;

COMMENT ON FUNCTION audit_log.unschedule()
	IS 'remove the audit_log_* pg_cron jobs of this database';

/*
 * The retention columns of audit_log.status: the setting, whether the
 * maintenance job is scheduled (and active), when retention last ran, and
 * how many expired days audit_log.require_export_before_purge holds back.
 */
CREATE FUNCTION audit_log._retention_status()
RETURNS TABLE (retention_days integer, retention_scheduled boolean,
			   last_retention_run timestamptz, held_back_days integer)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	keep_days integer := audit_log._retention_days();
	scheduled boolean := false;
	last_run timestamptz;
	held integer := 0;
	first_kept date;
	expired date[];
	uncovered date[];
BEGIN
	IF audit_log._cron_available() THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobname = $1'
				' AND j.database = pg_catalog.current_database() AND j.active)'
			INTO scheduled USING 'audit_log_maintenance';
	END IF;
	SELECT s.last_run INTO last_run FROM audit_log._retention_state s;
	IF audit_log._require_export_before_purge() THEN
		first_kept := audit_log._retention_first_day_kept(keep_days);
		SELECT COALESCE(pg_catalog.array_agg(x.day), '{}') INTO expired
		FROM audit_log._expired_day_partitions(first_kept) x;
		expired := expired || audit_log._expired_default_days(first_kept);
		uncovered := audit_log._days_not_exported(expired);
		held := pg_catalog.cardinality(COALESCE(uncovered, expired));
	END IF;
	RETURN QUERY SELECT keep_days, scheduled, last_run, held;
END
$$;

REVOKE ALL ON TABLE audit_log._retention_state FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_days() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._require_export_before_purge() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_first_day_kept(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._expired_day_partitions(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._rollup_day_rows(date, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._expired_default_days(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._days_not_exported(date[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._cron_available() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._require_cron(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._trim_cron_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.apply_retention() FROM PUBLIC;
REVOKE ALL ON PROCEDURE audit_log._maintenance_job() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.unschedule() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._retention_status() FROM PUBLIC;

GRANT SELECT ON TABLE audit_log._retention_state TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.apply_retention() TO audit_log_admin;
GRANT EXECUTE ON PROCEDURE audit_log._maintenance_job() TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule(text) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.unschedule() TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log._retention_status() TO audit_log_reader, audit_log_admin;

/*
 * With pg_cron installed in this database, the maintenance job is scheduled
 * at once (03:17 GMT every day).  A failure here must not stop CREATE
 * EXTENSION: it becomes a warning, and audit_log.status shows the job as
 * not scheduled.
 */
DO $schedule$
BEGIN
	IF audit_log._cron_available() THEN
		BEGIN
			PERFORM audit_log.schedule();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'audit_log: the maintenance job was not scheduled: %', SQLERRM
				USING HINT = 'Run SELECT audit_log.schedule(); once the cause is fixed.';
		END;
	END IF;
END
$schedule$;

/*
 * 50_export: CSV exports (export.c), their record (export_runs) and their
 * schedule (pg_cron).
 */

/*
 * One row per export run, success or failure.  Rows are written by a
 * background worker in a transaction of their own, so a failed export is
 * recorded although the caller's transaction rolls back.  The retention
 * job reads the SUCCESS rows of source 'events' to know which days have
 * been exported (audit_log.require_export_before_purge).
 */
CREATE TABLE audit_log.export_runs (
	run_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	finished_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	source text,
	from_time timestamptz,
	to_time timestamptz,
	directory text,
	file text,
	rows bigint,
	bytes bigint,
	sha256 text,
	status audit_log.event_status NOT NULL,
	error text,
	job_name text,
	seal_digests jsonb
);

CREATE INDEX export_runs_job_idx ON audit_log.export_runs (job_name, to_time)
	WHERE status = 'SUCCESS';
CREATE INDEX export_runs_window_idx ON audit_log.export_runs (source, from_time, to_time)
	WHERE status = 'SUCCESS';

COMMENT ON TABLE audit_log.export_runs IS 'one row per export run (success or failure): window, file, rows, bytes, SHA-256, status';

SELECT pg_catalog.pg_extension_config_dump('audit_log.export_runs', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log.export_runs_run_id_seq', '');

REVOKE ALL ON audit_log.export_runs FROM PUBLIC;
GRANT SELECT ON audit_log.export_runs TO audit_log_reader;

/*
 * The export itself.  SECURITY INVOKER: the C code checks that the caller
 * is a superuser or a member of audit_log_admin, and the rows are read
 * with the caller's rights.  EXECUTE is granted to readers as well so that
 * a reader's attempt ends in a clear error (with the \copy hint) and is
 * recorded as a FAILURE run.
 */
CREATE FUNCTION audit_log.export_csv(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text DEFAULT 'events')
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

COMMENT ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text)
	IS 'write the events (or daily_login_activity rows) of [from_time, to_time) as a CSV file under audit_log.export_directory';

/* The same, recording the pg_cron job it runs for. */
CREATE FUNCTION audit_log._export_csv_job(
	directory text,
	from_time timestamptz,
	to_time timestamptz,
	source text,
	job_name text)
RETURNS TABLE (file text, rows bigint, bytes bigint, sha256 text)
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'audit_log_export_csv';

/*
 * Period arithmetic for scheduled exports, in UTC (timestamp without time
 * zone holding UTC wall time, so that no session TimeZone or DST change
 * moves a boundary).  A period is either a whole number of months that
 * divides a year or a multiple of years (boundaries at month starts), or
 * a fixed length of at least one minute without months (boundaries every
 * period since Monday 2001-01-01 00:00 UTC, so '1 day' gives UTC
 * midnights, '1 hour' full hours and '7 days' Mondays).
 */
CREATE FUNCTION audit_log._export_check_period(period interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	months integer := pg_catalog.date_part('year', period)::integer * 12
		+ pg_catalog.date_part('month', period)::integer;
	rest interval := period - pg_catalog.make_interval(months => months);
BEGIN
	IF period IS NULL THEN
		RAISE EXCEPTION 'export period must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF months <> 0 THEN
		IF rest <> interval '0' OR months < 0 OR (12 % months <> 0 AND months % 12 <> 0) THEN
			RAISE EXCEPTION 'invalid export period "%"', period
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A period with months must be a whole number of months that divides a year (1, 2, 3, 4, 6 months) or a number of years, with no days or hours.';
		END IF;
	ELSIF period < interval '1 minute' OR date_part('day', period) < 0 THEN
		RAISE EXCEPTION 'invalid export period "%"', period
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The period must be at least 1 minute.';
	END IF;
END
$$;

CREATE FUNCTION audit_log._export_period_floor(ts timestamp, period interval)
RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	months integer := pg_catalog.date_part('year', period)::integer * 12
		+ pg_catalog.date_part('month', period)::integer;
	m integer;
BEGIN
	IF months = 0 THEN
		RETURN pg_catalog.date_bin(period, ts, timestamp '2001-01-01 00:00:00');
	END IF;
	m := pg_catalog.date_part('year', ts)::integer * 12 + pg_catalog.date_part('month', ts)::integer - 1;
	m := m - (m % months);
	RETURN pg_catalog.make_timestamp(m / 12, m % 12 + 1, 1, 0, 0, 0);
END
$$;

/*
 * One run of a scheduled export (called by its pg_cron job): export, one
 * window at a time, every complete period since the end of the job's last
 * successful window, or, for a job that never succeeded, since the period
 * of the oldest event.  The still-open period is never exported; a period
 * counts as closed one minute after its end (after a flush of the capture
 * queue, when the server captures), so that late writers are in.  A
 * failing window stops the run with its error (the job is marked failed);
 * the next run starts again at that window.  At most 1000 windows per run;
 * further runs continue.  Returns the number of windows exported.
 */
CREATE FUNCTION audit_log._scheduled_export(
	job_name text,
	directory text,
	source text,
	period interval)
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
		PERFORM audit_log._export_csv_job(directory, w_from AT TIME ZONE 'UTC',
										  w_to AT TIME ZONE 'UTC', source, job_name);
		n := n + 1;
		w_from := w_to;
	END LOOP;
	RETURN n;
END
$$;

/*
 * Create (or replace) the pg_cron job audit_log_export_<job_name>.
 */
CREATE FUNCTION audit_log.schedule_export(
	job_name text,
	cron text,
	directory text,
	source text DEFAULT 'events',
	period interval DEFAULT '1 day')
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
	IF source IS NULL OR source NOT IN ('events', 'daily_login_activity') THEN
		RAISE EXCEPTION 'invalid export source "%"', source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use ''events'' or ''daily_login_activity''.';
	END IF;
	PERFORM audit_log._export_check_period(period);
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Scheduled exports are pg_cron jobs.',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;

	command := pg_catalog.format('SELECT audit_log._scheduled_export(%L, %L, %L, %L::interval)',
								 job_name, directory, source, period);
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid
		USING 'audit_log_export_' || job_name, cron, command;

	IF pg_catalog.to_regprocedure('audit_log.log_event(audit_log.event_category,text,audit_log.event_status,text,text,jsonb,text,timestamptz)') IS NOT NULL THEN
		PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
			'audit_log_export_' || job_name,
			pg_catalog.jsonb_build_object('action', 'schedule_export', 'jobid', jobid,
				'cron', cron, 'directory', directory, 'source', source,
				'period', period::text));
	END IF;
	RETURN jobid;
END
$$;

COMMENT ON FUNCTION audit_log.schedule_export(text, text, text, text, interval)
	IS 'pg_cron job that exports each complete UTC-aligned period, catching up missed ones';

CREATE FUNCTION audit_log.unschedule_export(job_name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	found boolean;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
				   JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
				   WHERE n.nspname = 'cron' AND p.proname = 'unschedule') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron.';
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1)' INTO found
		USING 'audit_log_export_' || job_name;
	IF NOT found THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT cron.unschedule($1::pg_catalog.name)' USING 'audit_log_export_' || job_name;
	PERFORM audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', 'SUCCESS', NULL,
		'audit_log_export_' || job_name,
		pg_catalog.jsonb_build_object('action', 'unschedule_export'));
	RETURN true;
END
$$;

COMMENT ON FUNCTION audit_log.unschedule_export(text)
	IS 'remove the pg_cron job of a scheduled export';

REVOKE ALL ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_csv_job(text, timestamptz, timestamptz, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_check_period(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._export_period_floor(timestamp, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._scheduled_export(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.schedule_export(text, text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.unschedule_export(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION audit_log.export_csv(text, timestamptz, timestamptz, text) TO audit_log_reader, audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.schedule_export(text, text, text, text, interval) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.unschedule_export(text) TO audit_log_admin;

/*
 * 60_seal: tamper evidence.  Each closed UTC day gets a SHA-256 digest of its
 * rows chained with the digest of the day sealed before it (seal), stored
 * in audit_log.seals; verify() recomputes the digests and reports every day
 * whose rows or seal no longer match.  The serialization is described in
 * doc/seal.md and src/seal.c.
 */

CREATE TABLE audit_log.seals (
	day date PRIMARY KEY,
	rows bigint NOT NULL CHECK (rows >= 0),
	digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
	previous_digest text NOT NULL CHECK (previous_digest ~ '^[0-9a-f]{64}$'),
	sealed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

COMMENT ON TABLE audit_log.seals IS 'one row per sealed UTC day: its row count and chained SHA-256 digest';

SELECT pg_catalog.pg_extension_config_dump('audit_log.seals', '');

/* Seals are written once, like the events. */
CREATE TRIGGER seals_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log.seals
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log.refuse_change();

CREATE FUNCTION audit_log._seal_day_hash(day date, OUT rows bigint, OUT day_hash text)
RETURNS record
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'audit_log_seal_day_hash';

CREATE FUNCTION audit_log._seal_delay()
RETURNS integer
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'audit_log_seal_delay';

/* The digest of the chain before the first seal. */
CREATE FUNCTION audit_log._seal_genesis()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.repeat('0', 64) $$;

/*
 * A day's chained digest: the hex SHA-256 of the text
 *   'audit_log seal v1' LF previous_digest LF day (YYYY-MM-DD) LF rows LF day_hash
 */
CREATE FUNCTION audit_log._seal_chain(previous_digest text, d date, n bigint, day_hash text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
		pg_catalog.concat_ws(E'\n', 'audit_log seal v1', previous_digest,
			pg_catalog.to_char(d, 'YYYY-MM-DD'), n::text, day_hash),
		'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_log.seal(day date)
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

	SELECT * INTO h FROM audit_log._seal_day_hash(d);
	dg := audit_log._seal_chain(prev, d, h.rows, h.day_hash);

	INSERT INTO audit_log.seals AS s (day, rows, digest, previous_digest)
		VALUES (d, h.rows, dg, prev);

	PERFORM audit_log.log_event('AUDIT_LOG', 'SEAL',
		object_name => pg_catalog.to_char(d, 'YYYY-MM-DD'),
		entry_data => pg_catalog.jsonb_build_object('day', d, 'rows', h.rows,
			'digest', dg, 'previous_digest', prev));
	RETURN dg;
END
$$;

COMMENT ON FUNCTION audit_log.seal(date) IS 'seal a closed UTC day: store and return its chained SHA-256 digest';

/*
 * The maintenance job's part: seal every closed day, in order, from the day
 * after the latest seal (or, before the first seal, from the oldest day that
 * has rows) up to the last day that ended at least audit_log.seal_delay ago.
 * A day whose partition is busy beyond lock_timeout stops the run; the next
 * run goes on from there.
 */
CREATE FUNCTION audit_log._maintain_seals()
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
BEGIN
	IF delay < 0 THEN
		RETURN 0;
	END IF;
	last_day := ((pg_catalog.now() - pg_catalog.make_interval(mins => delay)) AT TIME ZONE 'UTC')::date - 1;
	SELECT s.day + 1 INTO d FROM audit_log.seals s ORDER BY s.day DESC LIMIT 1;
	IF d IS NULL THEN
		SELECT (pg_catalog.min(e.request_time) AT TIME ZONE 'UTC')::date INTO d FROM audit_log.events e;
	END IF;
	IF d IS NULL THEN
		RETURN 0;
	END IF;
	WHILE d <= last_day LOOP
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
 * Recompute every sealed day of [from_day, to_day] and compare it with its
 * seal and with its neighbours in the chain.
 */
CREATE FUNCTION audit_log.verify(from_day date, to_day date)
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
		SELECT * INTO h FROM audit_log._seal_day_hash(d);
		SELECT x.* INTO s FROM audit_log.seals x WHERE x.day = d;
		IF NOT FOUND THEN
			day := d; ok := NULL; rows := h.rows; detail := 'not sealed';
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
			SELECT * INTO ph FROM audit_log._seal_day_hash(p.day);
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

		day := d;
		rows := h.rows;
		ok := pg_catalog.cardinality(problems) = 0;
		detail := CASE WHEN ok THEN 'ok' ELSE pg_catalog.array_to_string(problems, '; ') END;
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

COMMENT ON FUNCTION audit_log.verify(date, date) IS 'recompute the seals of a range of UTC days and report what differs';

REVOKE ALL ON TABLE audit_log.seals FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_day_hash(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_delay() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_genesis() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._seal_chain(text, date, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.seal(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log._maintain_seals() FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log.verify(date, date) FROM PUBLIC;

GRANT SELECT ON audit_log.seals TO audit_log_reader;
GRANT EXECUTE ON FUNCTION audit_log.seal(date) TO audit_log_admin;
GRANT EXECUTE ON FUNCTION audit_log.verify(date, date) TO audit_log_admin;

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
