# Late arrivals on a fleet collector: the collector sealed a day, then a
# source backfills an event into that day.  The row arrives over the
# subscription; it is recorded as a late arrival (source_node, arrival
# time), verify() reports it as such and not as "rows added", the
# maintenance job seals it as an addendum to the day's seal, and a row
# added to the day by any other path is still reported as tampering.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $secret = 'L4te-pw-51c2';

sub make_node
{
	my ($name) = @_;
	return audit_log_node($name,
		init => { allows_streaming => 'logical' },
		conf => qq{
cluster_name = '$name'
max_replication_slots = 10
max_wal_senders = 10
max_worker_processes = 16
max_logical_replication_workers = 8
audit_log.seal_delay = -1
log_statement = none
},
		hba => "local all fleet_repl scram-sha-256\nlocal all all trust\n");
}

my $src  = make_node('lsrc');
my $coll = make_node('lcoll');

$src->safe_psql('postgres', qq{
	CREATE ROLE fleet_repl LOGIN REPLICATION PASSWORD '$secret';
	GRANT audit_log_reader TO fleet_repl;
	SELECT audit_log.register_event_type('ACCESS_SIGMA', 'LATE_TEST', 'late arrival test event');
	SELECT audit_log.create_publication();
});

my $day = $src->safe_psql('postgres', "SELECT ((now() AT TIME ZONE 'UTC')::date - 3)::text");
my $mine = "event_type = 'LATE_TEST' AND request_time >= '$day' AND request_time < '$day'::date + 1";

sub backfill
{
	my ($n, $hour) = @_;
	$src->safe_psql('postgres', qq{
		SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LATE_TEST', object_name => 'late' || g,
			request_time => '$day'::timestamp AT TIME ZONE 'UTC' + interval '1 hour' * ($hour + g)))
		FROM generate_series(1, $n) g});
}

sub wait_rows
{
	my ($n, $what) = @_;
	ok($coll->poll_query_until('postgres', "SELECT count(*) FROM audit_log.events WHERE $mine", $n),
		"$what: the collector has the $n events of $day");
}

# three events of the day, collected, then the collector seals the day
backfill(3, 0);
$coll->safe_psql('postgres', sprintf(
		"SELECT audit_log.add_source('lsrc', 'host=%s port=%d dbname=postgres user=fleet_repl password=%s')",
		$src->host, $src->port, $secret));
wait_rows(3, 'first sync');
$coll->safe_psql('postgres', "SELECT audit_log.seal('$day')");
is($coll->safe_psql('postgres', "SELECT rows FROM audit_log.seals WHERE day = '$day'"), '3',
	'the collector sealed the day with its 3 rows');

# the source catches up: one more event of that day
backfill(1, 10);
wait_rows(4, 'late arrival');
is( $coll->safe_psql('postgres', q{
	SELECT count(*) || ' ' || string_agg(source_node || ' ' || subscription, ',') || ' '
		|| bool_and(arrived_at > (SELECT sealed_at FROM audit_log.seals s WHERE s.day = l.day))
	FROM audit_log.late_arrivals l}),
	'1 lsrc audit_log_src_lsrc true',
	'the row is recorded as a late arrival, with its source node, subscription and arrival time');

my $verify = "SELECT ok || '|' || rows || '|' || detail FROM audit_log.verify('$day', '$day')";
like($coll->safe_psql('postgres', $verify),
	qr/^true\|4\|ok; late arrivals: 1 row from lsrc, arrived \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC after the seal, not yet sealed in an addendum$/,
	'verify reports a late arrival, not rows added');

# the maintenance job seals the late rows as an addendum
$coll->safe_psql('postgres', 'SELECT audit_log.maintain()');
is( $coll->safe_psql('postgres', q{
	SELECT a.addendum || ' ' || a.rows || ' ' || (a.previous_digest = s.digest)
	FROM audit_log.seal_addenda a JOIN audit_log.seals s USING (day)}),
	'1 1 true', 'addendum 1 seals the late row, chained on the day\'s seal');
like($coll->safe_psql('postgres', $verify), qr/^true\|4\|ok; late arrivals: 1 row from lsrc, .*, sealed in addendum 1$/,
	'verify: the late arrival is sealed in addendum 1');
is($coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.events WHERE event_type = 'SEAL_ADDENDUM' AND object_name = '$day'"),
	'1', 'the addendum is an AUDIT_LOG SEAL_ADDENDUM event');
is($coll->safe_psql('postgres', 'SELECT audit_log._seal_late_arrivals()'), '0',
	'nothing more to seal');

# two more late rows: reported as arrived since the addendum, then sealed
backfill(2, 12);
wait_rows(6, 'two more late arrivals');
like($coll->safe_psql('postgres', $verify), qr/^true\|6\|ok; late arrivals: 3 rows from lsrc, .* to .*, 2 since addendum 1, not yet sealed$/,
	'verify: two late rows since addendum 1');
$coll->safe_psql('postgres', 'SELECT audit_log.maintain()');
like($coll->safe_psql('postgres', $verify), qr/^true\|6\|ok; late arrivals: 3 rows from lsrc, .*, sealed in addendum 2$/,
	'verify: addendum 2 covers the three late rows');

# a row added by any other path, even in replica mode, is tampering
$coll->safe_psql('postgres', qq{
SET session_replication_role = replica;
INSERT INTO audit_log.events
SELECT gen_random_uuid(), request_time, logged_time, event_category, event_type, event_status,
	event_status_reason_code, user_name, user_email, 'forged', client_addr, application_name,
	database_name, backend_pid, session_id, source_node, entry_data
FROM audit_log.events WHERE $mine AND object_name = 'late1' LIMIT 1;
RESET session_replication_role;
});
is($coll->safe_psql('postgres', 'SELECT count(*) FROM audit_log.late_arrivals'), '3',
	'a row inserted by a superuser in replica mode is not a late arrival');
like($coll->safe_psql('postgres', $verify),
	qr/^false\|7\|rows added: 4 rows now, 3 sealed \(1 more\); late arrivals: 3 rows from lsrc/,
	'a row added by another path is still reported as rows added');

$coll->safe_psql('postgres', "SELECT audit_log.drop_source('lsrc')");
$coll->stop;
$src->stop;
done_testing();
