# A full queue: with audit_log.queue_size = 64 and the writer paused
# (audit_log.pause_writer, a superuser-only testing aid), a backend waits
# audit_log.queue_wait for room, then counts its event as dropped and writes
# it whole, as one JSON line, to the server log.  Every attempt ends up in
# exactly one place: the table (once the writer resumes) or the server log.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

my $wait_ms = 300;
my $node = scram_node('full', qq{
audit_log.queue_size = 64
audit_log.queue_wait = '${wait_ms}ms'
audit_log.flush_interval = '20ms'
});
$node->safe_psql('postgres', q{
CREATE ROLE regress_full LOGIN PASSWORD 'right-one';
});

is($node->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)'), 'f', 'writer paused');

# 90 failed logins, one after the other, timed.
my %elapsed;
my $attempts = 90;
for my $i (1 .. $attempts)
{
	local $ENV{PGPASSWORD} = 'wrong-one';
	my ($out, $err) = ('', '');
	my $t0 = time;
	IPC::Run::run([ 'psql', '-X', '-w', '-d',
		"host=127.0.0.1 port=" . $node->port . " user=regress_full dbname=postgres application_name=full-$i",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
	$elapsed{"full-$i"} = time - $t0;
	die "unexpected outcome: $err" unless $err =~ /password authentication failed/;
}

my ($queued, $dropped) = split /\|/,
  $node->safe_psql('postgres', 'SELECT queued, dropped FROM audit_log.status');
is($queued, 64, 'the queue is full: 64 events queued');
cmp_ok($dropped, '>=', $attempts - 64, 'events that found the queue full are counted as dropped');

# The server-log copies of the dropped events.
my @lines = split /\n/, slurp_file($node->logfile);
my %in_log;
my $logged_dropped = 0;
for my $k (0 .. $#lines - 1)
{
	next unless $lines[$k] =~ /LOG:  audit_log: (\{.*\})$/;
	my $json = $1;
	next unless $lines[ $k + 1 ] =~ /DETAIL:  The audit_log queue was full/;
	$logged_dropped++;
	my $ev = decode_json($json);
	next unless ($ev->{application_name} // '') =~ /^full-\d+$/;
	$in_log{ $ev->{application_name} } = $ev;
}
is($logged_dropped, $dropped, 'every dropped event is in the server log');
my ($some) = grep { $in_log{"full-$_"} } (1 .. $attempts);
ok(defined $some, 'dropped login attempts are in the server log');
my $ev = $in_log{"full-$some"};
is(join('|', map { $ev->{$_} // 'null' } qw(event_category event_type event_status event_status_reason_code user_name database_name client_addr)),
	'ACCESS_SIGMA|LOGIN|FAILURE|INVALID_PASSWORD|regress_full|postgres|127.0.0.1',
	'the log line holds the whole event');
like($ev->{event_id}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'the log line has its UUIDv7 event_id');
is($ev->{entry_data}{auth_method}, 'scram-sha-256', 'the log line has its entry_data');

# The bounded wait: a dropped attempt waited queue_wait, not much more.
my @slow = map { $elapsed{$_} } grep { $in_log{$_} } keys %elapsed;
my ($min, $max) = (9e9, 0);
for (@slow) { $min = $_ if $_ < $min; $max = $_ if $_ > $max; }
cmp_ok($min, '>=', $wait_ms / 1000, 'a backend waited audit_log.queue_wait for room');
cmp_ok($max, '<', $wait_ms / 1000 + 5, 'and then gave up: the wait is bounded');

# Resume: the queued events are written; every attempt is in exactly one
# place.
is($node->safe_psql('postgres', 'SELECT audit_log.pause_writer(false)'), 't', 'writer resumed');
is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() after resuming');
my %in_table = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', q{
SELECT application_name FROM audit_log.events WHERE application_name LIKE 'full-%'});
my @wrong = grep { !!$in_table{"full-$_"} == !!$in_log{"full-$_"} } (1 .. $attempts);
is(scalar(@wrong), 0, 'every attempt is either in the table or in the server log, never both, never neither')
  or diag("attempts: @wrong");

$node->stop;
done_testing();
