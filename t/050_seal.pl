# Seals across a restart and a dump/restore, and the maintenance job's
# sealing with the default audit_log.seal_delay.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# captured events go to database postgres: the seals of auditdb only hold
# what we log
my $node = audit_log_node('seal', conf => "audit_log.flush_interval = '20ms'\n", extensions => []);

$node->safe_psql('postgres', 'CREATE DATABASE auditdb');
my $db = 'auditdb';
$node->safe_psql($db, q{
CREATE EXTENSION audit_log;
SET TimeZone = 'America/New_York';
SELECT audit_log.register_event_type('AUDIT_LOG', 'TAP_SEAL', 'seal TAP event');
SELECT count(audit_log.log_event('AUDIT_LOG', 'TAP_SEAL',
	user_email => CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'ü@example.com' END,
	object_name => 'obj' || i,
	entry_data => jsonb_build_object('z', i, 'a', jsonb_build_object('y', 'é', 'x', NULL), 'n', 1.50),
	request_time => d + interval '37 minutes' * i))
FROM generate_series('2026-01-10 00:00:00+00'::timestamptz, '2026-01-12 00:00:00+00', '1 day') d,
	generate_series(1, 30) i;
-- a row as the background writer would write it: an address, no pid
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, client_addr, application_name, database_name,
	session_id, source_node, origin)
VALUES ('01940000-0000-7000-8000-000000000001', '2026-01-11 08:00:00+00', '2026-01-11 08:00:01+00',
	'ACCESS_SIGMA', 'LOGIN', 'FAILURE', 'INVALID_PASSWORD', 'mallory', '2001:db8::1', '', 'auditdb',
	'6570a1b2.1f40', 'node1', 'SERVER');
});

# The maintenance job seals every closed day from the oldest with rows up
# to the last day that ended at least seal_delay (60 min) ago.
$node->safe_psql($db, 'SELECT audit_log.maintain()');
is( $node->safe_psql(
		$db, q{
SELECT min(day), count(*) = max(day) - min(day) + 1,
	max(day) = ((now() - interval '60 minutes') AT TIME ZONE 'UTC')::date - 1
FROM audit_log.seals}),
	'2026-01-10|t|t',
	'maintain() sealed every closed day from the first day with rows, contiguously');
is( $node->safe_psql(
		$db, q{SELECT string_agg(day || ':' || rows, ',' ORDER BY day) FROM audit_log.seals
WHERE day BETWEEN '2026-01-09' AND '2026-01-13'}),
	'2026-01-10:30,2026-01-11:31,2026-01-12:30,2026-01-13:0',
	'row counts of the sealed days');
is($node->safe_psql($db, 'SELECT audit_log._maintain_seals()'),
	'0', 'a second maintenance run seals nothing more');
is( $node->safe_psql(
		$db, q{SELECT count(*) FROM audit_log.seals WHERE day >= (now() AT TIME ZONE 'UTC')::date}),
	'0', 'today is not sealed');

my ($rc, $out, $err) = $node->psql($db,
	q{SELECT audit_log.log_event('AUDIT_LOG', 'TAP_SEAL', request_time => '2026-01-11 12:00:00+00')});
isnt($rc, 0, 'log_event into a sealed day fails');
like($err, qr/cannot log an event for 2026-01-11: that UTC day is sealed/,
	'the error says the day is sealed');

my $verify_sql = q{SELECT string_agg(day || ':' || coalesce(ok::text, 'null') || ':' || rows || ':' || detail, E'\n' ORDER BY day)
FROM audit_log.verify('2026-01-09', '2026-01-13')};
my $expected_verify = join("\n",
	'2026-01-09:null:0:not sealed',
	'2026-01-10:true:30:ok',
	'2026-01-11:true:31:ok',
	'2026-01-12:true:30:ok',
	'2026-01-13:true:0:ok');
is($node->safe_psql($db, $verify_sql), $expected_verify, 'untouched days verify ok');

my $hashes_sql = q{SELECT string_agg(h.rows || ':' || h.day_hash, ',' ORDER BY d)
FROM generate_series('2026-01-10'::date, '2026-01-12', '1 day') d, audit_log._seal_day_hash(d::date) h};
my $digests_sql = q{SELECT string_agg(day || ':' || rows || ':' || digest || ':' || previous_digest, ',' ORDER BY day)
FROM audit_log.seals WHERE day < '2026-02-01'};
my $hashes  = $node->safe_psql($db, $hashes_sql);
my $digests = $node->safe_psql($db, $digests_sql);

# Determinism across a restart: same day hashes, and verify still ok.
$node->restart;
is($node->safe_psql($db, $hashes_sql), $hashes, 'day hashes are the same after a restart');
is($node->safe_psql($db, "SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'German'; SET extra_float_digits = 0; $hashes_sql"),
	$hashes, 'day hashes do not depend on session settings');
is($node->safe_psql($db, $verify_sql), $expected_verify, 'verify is ok after a restart');

# A dump restored into a new database verifies ok.
my $dump = $node->basedir . '/auditdb.sql';
$node->command_ok([ 'pg_dump', '-d', $db, '-f', $dump ], 'pg_dump of the audited database');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
# psql goes on over the errors a restore of partitions made by CREATE
# EXTENSION itself gives (today's partitions exist twice); the data is what counts
$node->command_ok([ 'psql', '-X', '-q', '-d', 'restored', '-f', $dump ], 'restore with psql');
is($node->safe_psql('restored', $digests_sql), $digests, 'the seals came back with the dump');
is($node->safe_psql('restored', $hashes_sql), $hashes, 'the restored rows hash the same');
is($node->safe_psql('restored', $verify_sql), $expected_verify, 'the restored database verifies ok');
($rc, $out, $err) = $node->psql('restored',
	q{SELECT audit_log.log_event('AUDIT_LOG', 'TAP_SEAL', request_time => '2026-01-12 12:00:00+00')});
like($err, qr/that UTC day is sealed/, 'sealed days stay closed in the restored database');

# Tampering in the restored copy is caught for that day only.
$node->safe_psql('restored', q{
SET session_replication_role = replica;
UPDATE audit_log.events SET entry_data = entry_data || '{"z": 99}'
WHERE object_name = 'obj5' AND request_time >= '2026-01-12' AND request_time < '2026-01-13';
});
is( $node->safe_psql(
		'restored', q{SELECT string_agg(day || ':' || detail, ',') FROM audit_log.verify('2026-01-10', '2026-01-13') WHERE NOT ok}),
	'2026-01-12:rows changed: same number of rows (30), different content',
	'an update of entry_data in the restored copy is reported for its day');
is($node->safe_psql($db, $verify_sql), $expected_verify, 'the original is untouched');

$node->stop;
done_testing();
