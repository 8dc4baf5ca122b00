
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
