-- seal: chained daily digests, verify(), and log_event refused in sealed days
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS audit_log;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
-- a known state: no seal at all (a later day sealed by another file would
-- keep these days out of the chain, and the first seal chains on genesis)
SET session_replication_role = replica;
DELETE FROM audit_log.seals;
RESET session_replication_role;
SELECT audit_log.register_event_type('AUDIT_LOG', 'REGRESS_SEAL', 'seal test event');

-- eight days of events, 2025-03-10 .. 2025-03-17, three a day; NULL and
-- empty strings both occur
SELECT count(audit_log.log_event('AUDIT_LOG', 'REGRESS_SEAL',
	user_email => CASE i WHEN 1 THEN NULL WHEN 2 THEN '' ELSE 'a@example.com' END,
	object_name => 'obj' || i,
	entry_data => jsonb_build_object('i', i, 'b', ARRAY[i, i + 1], 'a', NULL),
	request_time => d + interval '1 hour' * (i * 7)))
FROM generate_series('2025-03-10'::date, '2025-03-17', '1 day') d, generate_series(1, 3) i;
SELECT audit_log.maintain();
SELECT count(*) AS partitions FROM generate_series('2025-03-10'::date, '2025-03-17', '1 day') d
WHERE to_regclass('audit_log.' || audit_log.partition_name(d::date)) IS NOT NULL;

-- maintain() does not seal here: the test configuration sets seal_delay = -1
SELECT current_setting('audit_log.seal_delay') AS seal_delay, audit_log._maintain_seals() AS sealed_by_maintenance;
SELECT count(*) AS seals FROM audit_log.seals WHERE day BETWEEN '2025-03-01' AND '2025-03-31';

-- error: a day that is not over yet
SELECT audit_log.seal('2999-01-01');
-- error: NULL
SELECT audit_log.seal(NULL);

-- seal the eight days in order
SELECT d::date AS day, audit_log.seal(d::date) ~ '^[0-9a-f]{64}$' AS sealed
FROM generate_series('2025-03-10'::date, '2025-03-17', '1 day') d;

-- each seal chains on the one before (the first on the genesis value)
SELECT day, rows,
	previous_digest = coalesce(lag(digest) OVER (ORDER BY day), repeat('0', 64)) AS chained,
	digest <> previous_digest AS distinct_digest
FROM audit_log.seals WHERE day BETWEEN '2025-03-10' AND '2025-03-17' ORDER BY day;
SELECT count(DISTINCT digest) AS distinct_digests FROM audit_log.seals WHERE day BETWEEN '2025-03-10' AND '2025-03-17';

-- the digest is the documented chain of the day hash
SELECT s.digest = encode(sha256(convert_to('audit_log seal v1' || E'\n' || s.previous_digest || E'\n'
	|| '2025-03-12' || E'\n' || h.rows || E'\n' || h.day_hash, 'UTF8')), 'hex') AS documented_chain
FROM audit_log.seals s, audit_log._seal_day_hash('2025-03-12') h WHERE s.day = '2025-03-12';

-- sealing again returns the same digest and leaves the row as it was
SELECT digest AS d12, sealed_at AS s12 FROM audit_log.seals WHERE day = '2025-03-12' \gset
SELECT audit_log.seal('2025-03-12') = :'d12' AS same_digest;
SELECT sealed_at = :'s12' AS same_row, count(*) OVER () AS seal_rows FROM audit_log.seals WHERE day = '2025-03-12';

-- error: an unsealed day before the latest seal cannot join the chain
SELECT audit_log.seal('2025-03-09');

-- each new seal was logged
SELECT count(*) AS seal_events FROM audit_log.events
WHERE event_type = 'SEAL' AND object_name BETWEEN '2025-03-10' AND '2025-03-17';

-- error: log_event into a sealed day
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_SEAL', request_time => '2025-03-12 23:59:59.999999+00');
-- error: also when given in another time zone
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_SEAL', request_time => '2025-03-13 01:00:00+05');
-- an unsealed day, even before the latest seal, still takes events
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_SEAL', request_time => '2025-03-09 12:00:00+00') IS NOT NULL AS logged;
SELECT count(*) AS day12_rows FROM audit_log.events
WHERE request_time >= '2025-03-12' AND request_time < '2025-03-13';
-- error: an unknown type is still reported as such in an open day
SELECT audit_log.log_event('AUDIT_LOG', 'REGRESS_NO_SUCH_TYPE', request_time => '2025-03-09 12:00:00+00');

-- an untouched range verifies ok; days without a seal say so
SELECT * FROM audit_log.verify('2025-03-09', '2025-03-18');

-- error: a reversed range
SELECT * FROM audit_log.verify('2025-03-18', '2025-03-09');

-- the seals are append-only for ordinary SQL too
-- error: update
UPDATE audit_log.seals SET rows = 0 WHERE day = '2025-03-10';
-- error: delete
DELETE FROM audit_log.seals WHERE day = '2025-03-10';

-- Tampering by a superuser, one method per day, each reported for its day only.

-- 03-10: UPDATE with the partition's trigger disabled, NULL made ''
ALTER TABLE audit_log.events_p20250310 DISABLE TRIGGER events_append_only;
UPDATE audit_log.events_p20250310 SET user_email = '' WHERE user_email IS NULL;
ALTER TABLE audit_log.events_p20250310 ENABLE TRIGGER events_append_only;
SELECT day, ok, rows, detail FROM audit_log.verify('2025-03-10', '2025-03-17') WHERE NOT ok;

-- 03-11: DELETE with session_replication_role = replica (no triggers fire)
SET session_replication_role = replica;
DELETE FROM audit_log.events WHERE request_time >= '2025-03-11' AND request_time < '2025-03-12' AND object_name = 'obj2';
RESET session_replication_role;
SELECT day, ok, rows, detail FROM audit_log.verify('2025-03-10', '2025-03-17') WHERE NOT ok;

-- 03-12: a row inserted directly into the partition
INSERT INTO audit_log.events_p20250312
SELECT gen_random_uuid(), request_time, logged_time, event_category, event_type, event_status,
	event_status_reason_code, user_name, user_email, 'forged', client_addr, application_name,
	database_name, backend_pid, session_id, source_node, entry_data, origin
FROM audit_log.events_p20250312 WHERE object_name = 'obj1';
SELECT day, ok, rows, detail FROM audit_log.verify('2025-03-10', '2025-03-17') WHERE NOT ok;

-- 03-13: its partition dropped, in the middle of the range
DROP TABLE audit_log.events_p20250313;
SELECT day, ok, rows, detail FROM audit_log.verify('2025-03-10', '2025-03-17') WHERE NOT ok;

-- 03-14: the seal's digest edited (the next seal still chains on the true one)
SET session_replication_role = replica;
UPDATE audit_log.seals SET digest = repeat('a', 64) WHERE day = '2025-03-14';
-- 03-17: the seal's previous_digest edited
UPDATE audit_log.seals SET previous_digest = repeat('b', 64) WHERE day = '2025-03-17';
RESET session_replication_role;
SELECT * FROM audit_log.verify('2025-03-09', '2025-03-18');

-- a seal row removed: its day is no longer sealed, the next one's chain breaks
SET session_replication_role = replica;
DELETE FROM audit_log.seals WHERE day = '2025-03-15';
RESET session_replication_role;
SELECT day, ok, detail FROM audit_log.verify('2025-03-15', '2025-03-16');

-- the oldest sealed day gone, older than retention_days: expired, not an alarm
DROP TABLE audit_log.events_p20250310;
SELECT day, ok, rows, detail FROM audit_log.verify('2025-03-10', '2025-03-11');

-- each verify was logged, with its outcome
SELECT event_status, count(*) FROM audit_log.events
WHERE event_type = 'VERIFY' AND object_name LIKE '2025-03-%' GROUP BY 1 ORDER BY 1;

-- privileges: admin verifies and seals, reader only reads the seals
SET ROLE audit_log_admin;
SELECT count(*) AS verified_by_admin FROM audit_log.verify('2025-03-16', '2025-03-17');
RESET ROLE;
SET ROLE audit_log_reader;
SELECT count(*) AS seals_visible FROM audit_log.seals WHERE day BETWEEN '2025-03-10' AND '2025-03-17';
-- error: reader cannot verify
SELECT * FROM audit_log.verify('2025-03-17', '2025-03-17');
-- error: reader cannot seal
SELECT audit_log.seal('2025-03-18');
RESET ROLE;

-- remove what this file made: its seals, its days (2025-03-09's row moved
-- out of the default partition first), its event type
SELECT audit_log.maintain();
SET session_replication_role = replica;
DELETE FROM audit_log.seals WHERE day BETWEEN '2025-03-09' AND '2025-03-17';
RESET session_replication_role;
SELECT format('DROP TABLE audit_log.%I', audit_log.partition_name(d::date))
FROM generate_series('2025-03-09'::date, '2025-03-17', '1 day') d
WHERE to_regclass('audit_log.' || audit_log.partition_name(d::date)) IS NOT NULL \gexec
SELECT count(*) AS regress_seal_events_left FROM audit_log.events WHERE event_type = 'REGRESS_SEAL';
DELETE FROM audit_log.event_types WHERE event_type = 'REGRESS_SEAL';
