# Fleet and origin (issue 15): a collector keeps each row's origin as its
# source wrote it (SERVER, EXTENSION, APPLICATION), and rows from a source
# still at 1.0 (no origin column) arrive as APPLICATION, the value of every
# row written before 1.1, instead of stopping the subscription.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $secret = 'Or1g1n-pw-4b7e';

sub make_node
{
	my ($name, %opts) = @_;
	return audit_log_node($name,
		init => { allows_streaming => 'logical' },
		conf => qq{
cluster_name = '$name'
max_replication_slots = 10
max_wal_senders = 10
max_worker_processes = 16
max_logical_replication_workers = 8
},
		hba => "local all fleet_repl scram-sha-256\nlocal all all trust\n",
		%opts);
}

my $old  = make_node('old_src', extensions => []);
my $new  = make_node('new_src');
my $coll = make_node('coll');
$old->safe_psql('postgres', q{CREATE EXTENSION audit_log VERSION '1.0'});
is($old->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'audit_log'}),
	'1.0', 'one source is still at 1.0');

for my $src ($old, $new)
{
	$src->safe_psql(
		'postgres', qq{
CREATE ROLE fleet_repl LOGIN REPLICATION PASSWORD '$secret';
GRANT audit_log_reader TO fleet_repl;
SELECT audit_log.register_event_type('EXPORTS', 'ORIGIN_TEST', 'origin test event');
SELECT audit_log.create_publication();
});
}

sub conninfo
{
	my ($node) = @_;
	return sprintf("host=%s port=%d dbname=postgres user=fleet_repl password=%s",
		$node->host, $node->port, $secret);
}

$coll->safe_psql('postgres', "SELECT audit_log.add_source('old_src', '" . conninfo($old) . "')");
$coll->safe_psql('postgres', "SELECT audit_log.add_source('new_src', '" . conninfo($new) . "')");

# On each source: an application's event, a captured one, and (1.1) one the
# extension writes about itself.
for my $src ($old, $new)
{
	$src->safe_psql(
		'postgres', q{
SELECT audit_log.log_event('EXPORTS', 'ORIGIN_TEST', object_name => 'origin_app');
CREATE ROLE origin_captured NOLOGIN;
SELECT audit_log.flush();
});
}
$new->safe_psql('postgres', q{SELECT count(*) FROM audit_log.verify('2001-01-01', '2001-01-01')});

my $arrived = q{SELECT string_agg(source_node || ':' || event_type || ':' || origin, ',' ORDER BY source_node, event_type)
FROM audit_log.events
WHERE object_name IN ('origin_app', 'origin_captured', '2001-01-01..2001-01-01')};
ok( $coll->poll_query_until(
		'postgres', $arrived,
		'new_src:CREATE_TEAM:SERVER,new_src:ORIGIN_TEST:APPLICATION,new_src:VERIFY:EXTENSION,'
		  . 'old_src:CREATE_TEAM:APPLICATION,old_src:ORIGIN_TEST:APPLICATION'),
	'the collector keeps the origin of a 1.1 source, and gives APPLICATION to the rows of a 1.0 source');
is( $new->safe_psql(
		'postgres', q{SELECT string_agg(event_type || ':' || origin, ',' ORDER BY event_type) FROM audit_log.events
WHERE object_name IN ('origin_app', 'origin_captured', '2001-01-01..2001-01-01')}),
	'CREATE_TEAM:SERVER,ORIGIN_TEST:APPLICATION,VERIFY:EXTENSION',
	'the same origins as on the source');
is( $coll->safe_psql(
		'postgres', q{SELECT count(*) FROM pg_stat_subscription WHERE subname LIKE 'audit_log_%' AND pid IS NOT NULL}),
	'2', 'both subscriptions are running');

# The 1.0 source updated: its new rows carry their own origin.
$old->safe_psql('postgres', 'ALTER EXTENSION audit_log UPDATE');
$old->safe_psql('postgres',
	q{SELECT audit_log.log_event('EXPORTS', 'ORIGIN_TEST', object_name => 'origin_after'); CREATE ROLE origin_after NOLOGIN; SELECT audit_log.flush();});
ok( $coll->poll_query_until(
		'postgres', q{SELECT string_agg(event_type || ':' || origin, ',' ORDER BY event_type) FROM audit_log.events
WHERE source_node = 'old_src' AND object_name = 'origin_after'},
		'CREATE_TEAM:SERVER,ORIGIN_TEST:APPLICATION'),
	'after the source is updated, its rows keep their origin at the collector');

$_->stop for ($coll, $old, $new);
done_testing();
