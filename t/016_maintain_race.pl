# maintain() racing the writer never costs an event: on a fresh install (no
# day partition for today yet, the first events sit in events_default),
# maintain() runs again and again, the first one right after CREATE
# EXTENSION and some moving backfilled rows out of events_default, while 4
# clients log in and fail to log in.  Every attempt is a LOGIN row and
# nothing is dropped.  Repeated over several rounds (DROP and CREATE
# EXTENSION start each round afresh), since the race is a matter of timing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = scram_node('mrace', qq{
audit_log.flush_interval = '10ms'
max_connections = 40
# each round starts from a fresh extension: DROP EXTENSION must be allowed
audit_log.allow_drop = on
}, extensions => []);
$node->safe_psql('postgres', q{
CREATE ROLE regress_mrace LOGIN PASSWORD 'the-right-one';
});

my $clients = 4;
my $per_client = 30;			# attempts per client and round, half of them failing
my $rounds = 4;
my $port = $node->port;

sub start_clients
{
	my ($round) = @_;
	my @runs;
	for my $c (1 .. $clients)
	{
		my $script = qq{
for i in \$(seq 1 $per_client); do
	if [ \$((i % 2)) = 0 ]; then pw=the-right-one; else pw=wrong; fi
	PGPASSWORD=\$pw psql -X -w -A -t -d "host=127.0.0.1 port=$port user=regress_mrace dbname=postgres application_name=mrace-$round-$c-\$i" -c 'SELECT 1' >/dev/null 2>&1
	echo "\$i \$?"
done
};
		my $out = '';
		my $h = IPC::Run::start([ 'bash', '-c', $script ], '>', \$out);
		push @runs, [ $h, \$out ];
	}
	return \@runs;
}

my $total_seen = 0;
for my $round (1 .. $rounds)
{
	$node->safe_psql('postgres', 'DROP EXTENSION IF EXISTS audit_log; CREATE EXTENSION audit_log;');
	my $runs = start_clients($round);
	# the first maintain() after CREATE EXTENSION, once logins are arriving
	$node->poll_query_until('postgres', q{SELECT count(*) >= 4 FROM audit_log.events WHERE user_name = 'regress_mrace'})
	  or die 'no logins arrive';
	my $maint = 0;
	my $failed_maint = 0;
	while (grep { $_->[0]->pumpable } @$runs)
	{
		# now and then a backfilled row that maintain() moves out of events_default
		if ($maint % 3 == 1)
		{
			$node->safe_psql('postgres', qq{
SELECT audit_log.log_event('AUDIT_LOG', 'RETENTION', request_time => now() - interval '$maint days' - interval '$round hours')});
		}
		my ($rc) = $node->psql('postgres', 'SELECT audit_log.maintain()');
		$failed_maint++ if $rc != 0;
		$maint++;
		eval { $_->[0]->pump_nb } for @$runs;
	}
	$_->[0]->finish for @$runs;
	my $attempts = 0;
	my $refused = 0;
	for my $r (@$runs)
	{
		for my $line (split /\n/, ${ $r->[1] })
		{
			$attempts++;
			$refused++ if $line =~ / 2$/;
		}
	}
	$total_seen += $attempts;
	is($attempts, $clients * $per_client, "round $round: every client attempt finished");
	ok($maint >= 2, "round $round: maintain() ran $maint times during the logins ($failed_maint failed)");
	is($node->safe_psql('postgres', q{SELECT audit_log.flush('30 s')}), 't', "round $round: queue flushed");
	is($node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE event_status = 'SUCCESS') || '/' || count(*) FILTER (WHERE event_status = 'FAILURE')
FROM audit_log.events WHERE event_type = 'LOGIN' AND user_name = 'regress_mrace'
  AND application_name LIKE 'mrace-$round-%'}),
		($attempts - $refused) . '/' . $refused,
		"round $round: every login and failed login is a row");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM ONLY audit_log.events_default
		WHERE request_time < now() - interval '12 hours'}), '0',
		"round $round: maintain() moved the backfilled rows out of events_default");
	is($node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), '0',
		"round $round: nothing dropped");
}

my $log = slurp_file($node->logfile);
unlike($log, qr/violates partition constraint/, 'the writer never failed on a partition change');
unlike($log, qr/The audit_log queue was full/, 'no event went to the server log');

$node->stop;
done_testing();
