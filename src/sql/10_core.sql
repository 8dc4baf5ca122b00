
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
