# pg_dump keeps every event (in day partitions and in the default partition)
# and the event types applications registered; a restore into a fresh
# database gives back exactly the same rows.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the extension lives in database src only
my $node = audit_log_node('dump', extensions => []);

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION audit_log;
	SELECT audit_log.maintain();
	SELECT audit_log.register_event_type('EXPORTS', 'TAP_DOWNLOAD', 'a download');
	SELECT audit_log.log_event('EXPORTS', 'TAP_DOWNLOAD', 'SUCCESS',
		user_email => 'a@example.com', object_name => 'o' || i,
		entry_data => jsonb_build_object('i', i, 'nested', jsonb_build_object('q', 'it''s')))
	FROM generate_series(1, 50) i;
	SELECT audit_log.log_event('EXPORTS', 'TAP_DOWNLOAD', 'FAILURE', reason_code => 'OLD',
		request_time => now() - interval '400 days');
});

my $fingerprint = q{SELECT count(*) || ':' || md5(string_agg(e::text, '|' ORDER BY event_id)) FROM audit_log.events e};
my $before = $node->safe_psql('src', $fingerprint);
like($before, qr/^51:/, '51 events before the dump');
is($node->safe_psql('src', 'SELECT count(*) FROM audit_log.events_default'), '1',
	'one event waits in the default partition');

my $dump = $node->basedir . '/src.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst'), '-f', $dump ],
	'the dump restores without error');

is($node->safe_psql('dst', $fingerprint), $before, 'restored events are identical');
is($node->safe_psql('dst', q{SELECT count(*) FROM audit_log.event_types WHERE event_type = 'TAP_DOWNLOAD'}),
	'1', 'the registered event type is restored once');
is($node->safe_psql('dst', q{SELECT count(*) FROM audit_log.event_types WHERE builtin}),
	$node->safe_psql('src', q{SELECT count(*) FROM audit_log.event_types WHERE builtin}),
	'built-in event types are not duplicated');

# the restored table is still append-only, and log_event works there
my ($rc, $out, $err) = $node->psql('dst', 'DELETE FROM audit_log.events');
like($err, qr/append-only/, 'restored table refuses DELETE');
is($node->safe_psql('dst', q{SELECT audit_log.log_event('EXPORTS', 'TAP_DOWNLOAD') IS NOT NULL}),
	't', 'log_event works after the restore');

$node->stop;
done_testing();
