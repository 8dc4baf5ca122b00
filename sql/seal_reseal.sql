-- seal_reseal: seal() of a sealed day changes nothing; reseal(day, reason)
-- is the one way to seal it again: superuser only, with a reason, an
-- AUDIT_LOG RESEAL event, the later seals re-made on the new chain
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
-- a known state: no seal at all
SET session_replication_role = replica;
DELETE FROM audit_log.seals;
RESET session_replication_role;
SELECT audit_log.register_event_type('ACCESS_SIGMA', 'REGRESS_RESEAL', 'reseal test event');
CREATE ROLE regress_reseal_admin;
GRANT audit_log_admin TO regress_reseal_admin;

-- four days of events, 2025-05-10 .. 2025-05-13, two a day, all sealed
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'REGRESS_RESEAL', object_name => 'obj' || i,
	request_time => d + interval '5 hours' * i))
FROM generate_series('2025-05-10'::date, '2025-05-13', '1 day') d, generate_series(1, 2) i;
SELECT audit_log.maintain();
SELECT count(audit_log.seal(d::date)) AS sealed FROM generate_series('2025-05-10'::date, '2025-05-13', '1 day') d;
CREATE TEMP TABLE before AS SELECT * FROM audit_log.seals WHERE day BETWEEN '2025-05-10' AND '2025-05-13';

-- a superuser changes a row of 05-11 behind the log's back
ALTER TABLE audit_log.events_p20250511 DISABLE TRIGGER events_append_only;
UPDATE audit_log.events_p20250511 SET object_name = 'repaired' WHERE object_name = 'obj1';
ALTER TABLE audit_log.events_p20250511 ENABLE TRIGGER events_append_only;

-- seal() of the sealed day returns the stored digest and changes nothing
SELECT audit_log.seal('2025-05-11') = (SELECT digest FROM before WHERE day = '2025-05-11') AS same_digest;
SELECT count(*) AS unchanged_seals FROM audit_log.seals s JOIN before b USING (day, rows, digest, previous_digest, sealed_at);
SELECT day, ok, detail FROM audit_log.verify('2025-05-10', '2025-05-13') WHERE NOT ok;

-- error: reseal needs a reason
SELECT audit_log.reseal('2025-05-11', '  ');
SELECT audit_log.reseal('2025-05-11', NULL);
-- error: a day that is not sealed
SELECT audit_log.reseal('2025-05-20', 'nothing there');
-- error: not for audit_log_admin, only for superusers
SET ROLE regress_reseal_admin;
SELECT audit_log.reseal('2025-05-11', 'an admin tries');
RESET ROLE;
-- an unchanged day: a notice, the same digest, nothing written
SELECT audit_log.reseal('2025-05-10', 'nothing changed') = (SELECT digest FROM before WHERE day = '2025-05-10') AS same_digest;
SELECT count(*) AS reseal_events FROM audit_log.events WHERE event_type = 'RESEAL' AND object_name = '2025-05-10';

-- the superuser reseals the changed day with a reason
SELECT audit_log.reseal('2025-05-11', 'ticket 4711: object name repaired') ~ '^[0-9a-f]{64}$' AS resealed;
-- 05-10 kept its seal; 05-11 and the later days were re-made, each chained
SELECT s.day, s.digest = b.digest AS same_digest, s.sealed_at = b.sealed_at AS same_row,
	s.previous_digest = coalesce(lag(s.digest) OVER (ORDER BY s.day), repeat('0', 64)) AS chained
FROM audit_log.seals s JOIN before b USING (day) ORDER BY s.day;
SELECT day, ok, detail FROM audit_log.verify('2025-05-10', '2025-05-13');
-- one RESEAL event, with the reason, the old and the new digest
SELECT e.event_category, e.event_status, e.entry_data->>'reason' AS reason,
	e.entry_data->>'old_digest' = b.digest AS old_digest_recorded,
	e.entry_data->>'digest' = s.digest AS new_digest_recorded,
	e.entry_data->>'days_resealed' AS days_resealed,
	jsonb_array_length(e.entry_data->'later_days') AS later_days
FROM audit_log.events e, before b, audit_log.seals s
WHERE e.event_type = 'RESEAL' AND e.object_name = '2025-05-11' AND b.day = '2025-05-11' AND s.day = '2025-05-11';

-- the seals are still append-only for ordinary SQL
-- error: delete
DELETE FROM audit_log.seals WHERE day = '2025-05-11';

-- remove what this file made
SET session_replication_role = replica;
DELETE FROM audit_log.seals WHERE day BETWEEN '2025-05-10' AND '2025-05-13';
RESET session_replication_role;
SELECT format('DROP TABLE audit_log.%I', audit_log.partition_name(d::date))
FROM generate_series('2025-05-10'::date, '2025-05-13', '1 day') d
WHERE to_regclass('audit_log.' || audit_log.partition_name(d::date)) IS NOT NULL \gexec
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_RESEAL';
DROP ROLE regress_reseal_admin;
