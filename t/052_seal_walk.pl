# Sealing is never stopped or slowed down by a row (issue 15, case 2): with
# rows a superuser put into the default partition at 4713 BC, 1969 and the
# year 294276, maintain() seals from the oldest day partition that holds
# rows, not from the oldest request_time of the table, and finishes fast.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the default seal_delay (60 min): the maintenance job seals
my $node = audit_log_node('sealwalk');

$node->safe_psql(
	'postgres', q{
SELECT audit_log.register_event_type('EXPORTS', 'WALK_TEST', 'seal walk test');
SELECT audit_log.log_event('EXPORTS', 'WALK_TEST', object_name => 'three_days_ago',
	request_time => now() - interval '3 days');
INSERT INTO audit_log.events_default (event_id, request_time, logged_time, event_category, event_type,
	event_status, object_name, origin)
VALUES (gen_random_uuid(), '4713-01-01 00:00:00+00 BC', now(), 'EXPORTS', 'WALK_TEST', 'SUCCESS', 'extreme', 'SERVER'),
	(gen_random_uuid(), '1969-07-20 20:17:00+00', now(), 'EXPORTS', 'WALK_TEST', 'SUCCESS', 'extreme', 'SERVER'),
	(gen_random_uuid(), '294276-12-31 23:59:59+00', now(), 'EXPORTS', 'WALK_TEST', 'SUCCESS', 'extreme', 'SERVER');
});

my ($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '60s'; SELECT audit_log.maintain();");
is($rc, 0, 'maintain() succeeds within a minute despite the rows no partition can hold');
like($err, qr/WARNING:  audit_log: 3 rows in audit_log.events_default cannot be placed in a day partition/,
	'and reports them');
is( $node->safe_psql(
		'postgres', q{
SELECT min(day) = (now() AT TIME ZONE 'UTC')::date - 3 AND count(*) <= 3 FROM audit_log.seals}),
	't', 'sealing started at the oldest day partition that holds rows');
is($node->safe_psql('postgres', 'SELECT unplaced_rows FROM audit_log.status'), '3',
	'status.unplaced_rows counts them');
($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '60s'; SELECT audit_log.maintain();");
is($rc, 0, 'the next run goes on');
is( $node->safe_psql(
		'postgres', q{SELECT bool_and(ok) FROM audit_log.verify((now() AT TIME ZONE 'UTC')::date - 3, (now() AT TIME ZONE 'UTC')::date - 1)}),
	't', 'the sealed days verify');

$node->stop;
done_testing();
