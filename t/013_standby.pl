# Read replicas lose nothing (issue 16): a hot standby cannot write, so its
# writer sends the standby's events to the primary over libpq
# (audit_log.standby_conninfo, by default primary_conninfo), where they land
# with the standby's source_node, deduplicated by event_id, and come back to
# the standby through replication.  While the primary cannot be reached
# they stay queued; once the standby is promoted it writes them itself.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

# a small queue on the standby: 5,000 logins (10,000 events) would
# overflow it if the standby kept its events until promotion
my ($primary, $standby) = standby_pair(q{CREATE ROLE regress_sb LOGIN PASSWORD 'right-one'}, 1024);

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

# n connections (each a LOGIN and a LOGOUT) to the standby, 4 at a time
sub storm
{
	my ($app, $n) = @_;
	my $script = PostgreSQL::Test::Utils::tempdir() . "/select1.sql";
	PostgreSQL::Test::Utils::append_to_file($script, "SELECT 1;\n") unless -e $script;
	local $ENV{PGAPPNAME} = $app;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbench', '-n', '-C', '-c', '4', '-t', int($n / 4), '-f', $script,
		'-h', $standby->host, '-p', $standby->port, 'postgres' ], '<', \undef, '>', \$out, '2>', \$err)
	  or diag("pgbench: $err");
	return $out;
}

sub on_primary_count
{
	my ($app) = @_;
	return $primary->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.events WHERE application_name = '$app'
AND event_type = 'LOGIN' AND event_status = 'SUCCESS' AND source_node = 'standby'});
}

like(attempt($standby, 'on-standby'), qr/password authentication failed/, 'a failed login on the standby');
is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't',
	'flush() on the standby completes: its events were sent to the primary');
is($primary->safe_psql('postgres', q{
SELECT string_agg(concat_ws('|', event_status, event_status_reason_code, user_name, source_node), ';')
FROM audit_log.events WHERE application_name = 'on-standby'}),
	'FAILURE|INVALID_PASSWORD|regress_sb|standby',
	'the standby\'s login is in the primary\'s table, with the standby\'s source node');
ok($standby->log_contains('audit_log: server is in recovery, sending captured events to the primary'),
	'the standby writer says it sends its events to the primary');

# 5,000 logins on the standby
storm('storm', 5000);
is($standby->safe_psql('postgres', "SELECT audit_log.flush('60 s')"), 't', 'flush() after 5,000 logins on the standby');
# (pgbench also makes one connection of its own before the 5,000)
cmp_ok(on_primary_count('storm'), '>=', 5000, 'a standby receiving 5,000 logins loses none');
is($standby->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0', 'nothing dropped on the standby');
$primary->wait_for_catchup($standby);
cmp_ok($standby->safe_psql('postgres', q{SELECT count(*) FROM audit_log.events WHERE application_name = 'storm' AND event_type = 'LOGIN'}),
	'>=', 5000, 'the rows reach the standby\'s own table through replication');

# the primary unreachable for a while
$primary->stop('fast');
storm('while-down', 400);
cmp_ok($standby->safe_psql('postgres', 'SELECT queued FROM audit_log.status'), '>=', 400,
	'with the primary down, the standby keeps its events queued');
is($standby->safe_psql('postgres', "SELECT audit_log.flush('1 s')"), 'f', '... and flush() times out');
$primary->start;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('60 s')"), 't', 'once the primary is back, flush() completes');
cmp_ok(on_primary_count('while-down'), '>=', 400, 'nothing was lost while the primary was unreachable');
is($standby->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0', 'nothing dropped');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM (SELECT event_id FROM audit_log.events GROUP BY event_id HAVING count(*) > 1) d'),
	'0', 'no event twice');

# promotion with the primary gone: the standby writes its queue itself
$primary->stop('fast');
like(attempt($standby, 'before-promotion'), qr/password authentication failed/, 'a failed login on the standby, primary down');
$standby->promote;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'after promotion flush() completes');
is($standby->safe_psql('postgres', q{
SELECT string_agg(concat_ws('|', event_status, event_status_reason_code, user_name, source_node), ';')
FROM audit_log.events WHERE application_name = 'before-promotion'}),
	'FAILURE|INVALID_PASSWORD|regress_sb|standby',
	'the standby login is written once promoted, with its source node');
is($standby->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0',
	'nothing dropped');

$standby->stop;
done_testing();
