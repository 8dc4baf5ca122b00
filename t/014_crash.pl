# Queued events survive the crash of a backend (the postmaster saves the
# queue before it reinitializes shared memory) and an immediate shutdown.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = scram_node('crash', qq{
audit_log.flush_interval = '20ms'
restart_after_crash = on
});
$node->safe_psql('postgres', q{
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

# 3. Fast shutdown with sessions open: their LOGOUTs are queued while the
# writer is being stopped too; it waits for them and writes them before it
# exits, so nothing needs to be saved.
my @held;
for my $k (1 .. 3)
{
	my ($in, $out, $err) = ("SELECT 'ready';\n", '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . " application_name=held$k" ],
		'<', \$in, '>', \$out, '2>', \$err);
	$h->pump until $out =~ /ready/;
	push @held, $h;
}
my $offset = -s $node->logfile;
$node->stop('fast');
$_->finish for @held;
ok(!$node->log_contains('audit_log: saved \d+ queued events', $offset),
	'fast shutdown: the writer wrote everything, nothing had to be saved');
$node->start;
is($node->safe_psql('postgres', q{
SELECT count(DISTINCT application_name) FROM audit_log.events
WHERE event_type = 'LOGOUT' AND application_name LIKE 'held%'}), '3',
	'fast shutdown: the LOGOUT of every session ended by it is recorded');

$node->stop;
done_testing();
