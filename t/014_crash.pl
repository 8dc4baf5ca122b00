# Queued events survive the crash of a backend (the postmaster saves the
# queue before it reinitializes shared memory) and an immediate shutdown.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'audit_log'
audit_log.database = 'postgres'
audit_log.flush_interval = '20ms'
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
restart_after_crash = on
log_statement = none
});
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION audit_log;
CREATE ROLE regress_crash LOGIN PASSWORD 'right-one';
});

sub attempt
{
	my ($app) = @_;
	local $ENV{PGPASSWORD} = 'wrong-one';
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-w', '-d',
		"host=127.0.0.1 port=" . $node->port . " user=regress_crash dbname=postgres application_name=$app",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
	return $err;
}

sub rows
{
	my ($app) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.events WHERE application_name = '$app' AND event_status_reason_code = 'INVALID_PASSWORD'});
}

# 1. A backend is killed with SIGKILL while the writer is paused and an
# event is queued: the postmaster reinitializes shared memory.
$node->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)');
like(attempt('before-crash'), qr/password authentication failed/, 'failed login while the writer is paused');
is($node->safe_psql('postgres', "SELECT audit_log.flush('200 ms')"), 'f', 'the event is still queued');

my ($stdin, $stdout, $stderr) = ('', '', '');
my $victim = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') ],
	'<', \$stdin, '>', \$stdout, '2>', \$stderr);
$stdin .= "SELECT pg_backend_pid();\n";
$victim->pump until $stdout =~ /(\d+)\n/ || !$victim->pumpable;
my $pid = $1;
ok(defined $pid, 'a backend to kill');
kill 'KILL', $pid;
$stdin .= "SELECT 1;\n";
$victim->finish;
$node->poll_query_until('postgres', 'SELECT 1', '1');
ok($node->log_contains('all server processes terminated; reinitializing'), 'the server reinitialized shared memory');
ok($node->log_contains('audit_log: saved \d+ queued events'), 'the postmaster saved the queue');
ok($node->log_contains('audit_log: loaded \d+ queued events'), 'and loaded it back');
is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() after the crash');
is(rows('before-crash'), '1', 'the event queued before the crash is written, once');

# 2. Immediate shutdown with an event queued.
$node->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)');
like(attempt('before-immediate'), qr/password authentication failed/, 'failed login while the writer is paused');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() after an immediate shutdown');
is(rows('before-immediate'), '1', 'the event queued before an immediate shutdown is written, once');
is($node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0', 'nothing dropped');

$node->stop;
done_testing();
