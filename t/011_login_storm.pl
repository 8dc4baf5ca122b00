# Storms of failed logins: 1,000 wrong-password attempts from 4 parallel
# clients give exactly 1,000 LOGIN FAILURE rows and nothing dropped; the
# same when the background writer is terminated (SIGTERM) halfway; the same
# when the server is restarted with pg_ctl restart -m fast halfway: every
# attempt whose failure the client received is in the table afterwards,
# none twice.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = scram_node('storm', qq{
audit_log.flush_interval = '50ms'
max_connections = 40
});
$node->safe_psql('postgres', q{
CREATE ROLE regress_storm LOGIN PASSWORD 'the-right-one';
});

my $clients = 4;
my $per_client = 250;
my $total = $clients * $per_client;

# Start the 4 clients; each prints "<application_name> failed" when it
# received the password failure, "<application_name> other" otherwise.
sub start_storm
{
	my ($phase) = @_;
	my @runs;
	my $port = $node->port;
	for my $c (1 .. $clients)
	{
		my $script = qq{
for i in \$(seq 1 $per_client); do
	app="storm-$phase-$c-\$i"
	out=\$(psql -X -w -A -t -d "host=127.0.0.1 port=$port user=regress_storm dbname=postgres application_name=\$app" -c 'SELECT 1' 2>&1)
	case "\$out" in
	*"password authentication failed"*) echo "\$app failed" ;;
	*) echo "\$app other" ;;
	esac
done
};
		my $out = '';
		local $ENV{PGPASSWORD} = 'wrong-password';
		my $h = IPC::Run::start([ 'bash', '-c', $script ], '>', \$out);
		push @runs, [ $h, \$out ];
	}
	return \@runs;
}

# Wait for the clients; returns the application names whose failure the
# client received, and the number of other outcomes.
sub finish_storm
{
	my ($runs) = @_;
	my @failed;
	my $other = 0;
	for my $r (@$runs)
	{
		$r->[0]->finish;
		for my $line (split /\n/, ${ $r->[1] })
		{
			if ($line =~ /^(\S+) failed$/) { push @failed, $1; }
			else { $other++; }
		}
	}
	return (\@failed, $other);
}

sub flush_all
{
	# 60 s: covers a writer restart (bgw_restart_time) and a busy machine
	return $node->safe_psql('postgres', "SELECT audit_log.flush('60 s')");
}

# Rows per application_name of a phase: returns (number of distinct
# attempts with a FAILURE row, number of attempts with more than one row,
# hash of present names).
sub phase_rows
{
	my ($phase) = @_;
	my $res = $node->safe_psql('postgres', qq{
SELECT application_name, count(*)
FROM audit_log.events
WHERE event_type = 'LOGIN' AND event_status = 'FAILURE'
	AND event_status_reason_code = 'INVALID_PASSWORD'
	AND user_name = 'regress_storm'
	AND application_name LIKE 'storm-$phase-%'
GROUP BY application_name});
	my %present;
	my $dup = 0;
	for my $line (split /\n/, $res)
	{
		my ($app, $n) = split /\|/, $line;
		$present{$app} = $n;
		$dup++ if $n > 1;
	}
	return (scalar(keys %present), $dup, \%present);
}

sub status
{
	return $node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status');
}

# A: plain storm.
my $runs = start_storm('A');
my ($failed, $other) = finish_storm($runs);
is(scalar(@$failed), $total, 'storm: every attempt failed with a wrong password');
is(flush_all(), 't', 'storm: flush() completes');
my ($n, $dup) = phase_rows('A');
is($n, $total, 'storm: exactly 1,000 attempts recorded');
is($dup, 0, 'storm: no attempt recorded twice');
is(status(), '0', 'storm: dropped = 0');

# B: the writer is terminated halfway; the postmaster starts a new one and
# the queue survives.
my $old_writer = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'audit_log writer'");
ok($old_writer =~ /^\d+$/, 'the writer is visible in pg_stat_activity');
$runs = start_storm('B');
$node->poll_query_until('postgres', q{
SELECT count(*) >= 300 FROM audit_log.events WHERE application_name LIKE 'storm-B-%'});
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($old_writer)"), 't', 'writer terminated (SIGTERM) mid-storm');
($failed, $other) = finish_storm($runs);
is(scalar(@$failed), $total, 'writer kill: every attempt failed with a wrong password');
$node->poll_query_until('postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'audit_log writer' AND pid <> $old_writer});
is(flush_all(), 't', 'writer kill: flush() completes once a new writer runs');
($n, $dup) = phase_rows('B');
is($n, $total, 'writer kill: exactly 1,000 attempts recorded');
is($dup, 0, 'writer kill: no attempt recorded twice');
is(status(), '0', 'writer kill: dropped = 0');

# C: pg_ctl restart -m fast halfway.  Attempts during the restart are
# refused (server shutting down, connection refused) and are not failed
# logins; every attempt that got the password failure must be recorded.
$runs = start_storm('C');
$node->poll_query_until('postgres', q{
SELECT count(*) >= 300 FROM audit_log.events WHERE application_name LIKE 'storm-C-%'});
PostgreSQL::Test::Utils::system_or_bail('pg_ctl', '-w', '-D', $node->data_dir,
	'-l', $node->logfile, '-m', 'fast', 'restart');
$node->_update_pid(1);
($failed, $other) = finish_storm($runs);
note("restart storm: " . scalar(@$failed) . " password failures, $other other outcomes");
cmp_ok(scalar(@$failed), '>=', 500, 'restart: most attempts reached authentication');
is(flush_all(), 't', 'restart: flush() completes after the restart');
my $present;
($n, $dup, $present) = phase_rows('C');
my @missing = grep { !$present->{$_} } @$failed;
is(scalar(@missing), 0, 'restart: every failure the client received is recorded')
  or diag("missing: @missing[0 .. ($#missing > 9 ? 9 : $#missing)]");
is($dup, 0, 'restart: no attempt recorded twice');
cmp_ok($n, '<=', $total, 'restart: no more rows than attempts');
is(status(), '0', 'restart: dropped = 0');
like(slurp_file($node->logfile), qr/audit_log: (saved \d+ queued events|writer started)/,
	'the server log tells what happened to the queue');

$node->stop;
done_testing();
