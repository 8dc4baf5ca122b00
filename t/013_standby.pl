# A hot standby is read-only: logins there are captured and stay queued
# (status shows them, flush() times out), and are written once the standby
# is promoted.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $primary = scram_node('primary', "audit_log.flush_interval = '20ms'",
	init => { allows_streaming => 1 },
	hba_extra => "local replication all trust\n");
$primary->safe_psql('postgres', q{
CREATE ROLE regress_sb LOGIN PASSWORD 'right-one';
});
$primary->backup('b1');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

sub attempt
{
	my ($node, $app) = @_;
	local $ENV{PGPASSWORD} = 'wrong-one';
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-w', '-d',
		"host=127.0.0.1 port=" . $node->port . " user=regress_sb dbname=postgres application_name=$app",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
	return $err;
}

like(attempt($standby, 'on-standby'), qr/password authentication failed/, 'a failed login on the standby');
is($standby->safe_psql('postgres', "SELECT audit_log.flush('1 s')"), 'f', 'flush() on the standby times out: nothing can be written');
cmp_ok($standby->safe_psql('postgres', 'SELECT queued FROM audit_log.status'), '>=', 1,
	'status on the standby shows the event queued');
ok($standby->log_contains('audit_log: server is in recovery, captured events stay queued until promotion'),
	'the standby writer says it waits for promotion');

$standby->promote;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'after promotion flush() completes');
is($standby->safe_psql('postgres', q{
SELECT string_agg(concat_ws('|', event_status, event_status_reason_code, user_name, source_node), ';')
FROM audit_log.events WHERE application_name = 'on-standby'}),
	'FAILURE|INVALID_PASSWORD|regress_sb|standby',
	'the standby login is written once promoted, with its source node');
is($standby->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0',
	'nothing dropped');

$standby->stop;
$primary->stop;
done_testing();
