# Alerts on real failed logins (issue 19).  Two client addresses: 127.0.0.1
# directly, and 127.0.0.2 through a small TCP relay that binds its outgoing
# connection to 127.0.0.2 (on Linux a connection TO 127.0.0.2 still comes
# FROM 127.0.0.1, and libpq cannot choose its source address), with a host
# line for 127.0.0.2 in pg_hba.conf.  The shipped rule failed_logins (20
# within the window, per client_addr), its window shortened to 20 s:
#   - 19 wrong passwords from one address fire nothing;
#   - the 20th fires exactly one alert for that address, with count 20 and
#     its first and last event ids, and a LISTENing session receives the
#     payload within 1 s of that attempt (measured and printed);
#   - 5 more fire nothing until the window ends, then one follow-up with
#     count 5 (running total 25);
#   - alert_command receives each alert's JSON on standard input;
#   - the writer restarted during a quiet window does not fire again for
#     the same storm: 20 more attempts after the restart make the next
#     follow-up (count 20), not a new alert;
#   - bad input to alert_rules is refused with nothing written; the rule
#     change is a CAPTURE_RULE_CHANGE event;
#   - the wrong passwords are in no row, payload, file or log line.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $alert_file = "$tmp/alerts.jsonl";
my $password = 'Wr0ng-guess-x19b';

my $node = scram_node('alerts', qq{
audit_log.alert_command = 'cat >> ''$alert_file'''
}, hba_extra => "host all all 127.0.0.2/32 scram-sha-256\n");
my $port = $node->port;
$node->safe_psql('postgres', q{CREATE ROLE regress_guess LOGIN PASSWORD 'the-right-one-x19b'});

# the relay: 127.0.0.1:$relay_port -> the server, from 127.0.0.2
my $relay_port = PostgreSQL::Test::Cluster::get_free_port();
my $relay_script = "$tmp/relay.pl";
open my $fh, '>', $relay_script or die $!;
print $fh <<'EOS';
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
my ($listen_port, $target_port) = @ARGV;
$SIG{CHLD} = 'IGNORE';
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $listen_port,
	Listen => 64, ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "ready\n";
while (1)
{
	my $c = $l->accept or next;
	my $pid = fork;
	if (defined $pid && $pid == 0)
	{
		close $l;
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target_port,
			LocalAddr => '127.0.0.2') or exit 1;
		my $sel = IO::Select->new($c, $s);
		LOOP: while (1)
		{
			for my $h ($sel->can_read)
			{
				my $buf;
				my $n = sysread($h, $buf, 65536);
				last LOOP if !$n;
				syswrite($h == $c ? $s : $c, $buf);
			}
		}
		exit 0;
	}
	close $c;
}
EOS
close $fh;
my ($relay_out, $relay_err) = ('', '');
my $relay = IPC::Run::start([ $^X, $relay_script, $relay_port, $port ],
	'>', \$relay_out, '2>', \$relay_err);
$relay->pump until $relay_out =~ /ready/;

# a session LISTENing on audit_log_alert; each poll runs a query, after
# which psql prints the notifications received
my ($lin, $lout, $lerr) = ("LISTEN audit_log_alert;\n", '', '');
my $listener = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
	'<', \$lin, '>', \$lout, '2>', \$lerr);
my @notified;    # [ time seen, payload ]

sub poll_listener
{
	$lin .= "SELECT 'poll';\n";
	$listener->pump_nb for 1 .. 3;
	while ($lout =~ s/^Asynchronous notification "audit_log_alert" with payload "(.*)" received from server process with PID \d+\.\n//m)
	{
		push @notified, [ time, $1 ];
	}
	$lout =~ s/^poll\n//mg;
}

# one wrong-password attempt from $addr; returns the time it failed
sub attempt
{
	my ($addr) = @_;
	my $p = $addr eq '127.0.0.1' ? $port : $relay_port;
	my ($out, $err) = ('', '');
	local $ENV{PGPASSWORD} = $password;
	IPC::Run::run([ 'psql', '-X', '-w', '-At', '-d',
		"host=127.0.0.1 port=$p user=regress_guess dbname=postgres", '-c', 'SELECT 1' ],
		'>', \$out, '2>', \$err);
	my $t = time;
	die "attempt from $addr did not fail on the password: $err"
	  unless $err =~ /password authentication failed/;
	return $t;
}

# wait up to $secs for a notification with $re in it; returns its index or -1
sub wait_notified
{
	my ($re, $secs, $from) = @_;
	my $end = time + $secs;
	while (time < $end)
	{
		poll_listener();
		for my $i (($from // 0) .. $#notified)
		{
			return $i if $notified[$i][1] =~ $re;
		}
		sleep 0.01;
	}
	return -1;
}

sub alerts_of
{
	my ($addr, $kind) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) || ':' || coalesce(string_agg(count::text, ',' ORDER BY fired_at), '')
FROM audit_log.alerts WHERE rule = 'failed_logins' AND group_key = '$addr' AND kind = '$kind'});
}

sub flush { $node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"); }

# bad input refused, nothing written; a good change recorded
my ($rc, $o, $e) = $node->psql('postgres', q{
INSERT INTO audit_log.alert_rules (name, event_category, event_type, threshold, within)
VALUES ('regress_bad', 'ACCESS_SIGMA', 'NO_SUCH_TYPE', 0, '1 minute')});
isnt($rc, 0, 'a bad alert rule is refused');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM audit_log.alert_rules WHERE name = 'regress_bad')
	 + (SELECT count(*) FROM audit_log.events WHERE event_type = 'CAPTURE_RULE_CHANGE'
		AND entry_data ->> 'rule' = 'regress_bad')}), '0', 'nothing of it is written');
$node->safe_psql('postgres', q{UPDATE audit_log.alert_rules SET within = '20 seconds' WHERE name = 'failed_logins'});
is($node->safe_psql('postgres', q{
SELECT entry_data -> 'before' ->> 'within' || ' -> ' || (entry_data -> 'after' ->> 'within')
FROM audit_log.events WHERE event_type = 'CAPTURE_RULE_CHANGE' AND entry_data ->> 'rule' = 'failed_logins'
  AND entry_data ->> 'operation' = 'UPDATE'}), '00:01:00 -> 00:00:20', 'the rule change is a CAPTURE_RULE_CHANGE event with before and after');
sleep 1.5;    # the writer rereads the rules at most every second

# 19 attempts from 127.0.0.1: nothing fires
attempt('127.0.0.1') for 1 .. 19;
flush();
is(wait_notified(qr/failed_logins/, 1.5), -1, 'below the threshold no notification');
is(alerts_of('127.0.0.1', 'alert'), '0:', 'below the threshold no alert');

# the 20th crosses the threshold
my %latency;
for my $addr ('127.0.0.1', '127.0.0.2')
{
	if ($addr eq '127.0.0.2') { attempt($addr) for 1 .. 19; }
	my $crossed = attempt($addr);
	my $i = wait_notified(qr/"group_key": "\Q$addr\E"/, 5);
	ok($i >= 0, "the LISTENing session receives the alert for $addr");
	$latency{$addr} = $i >= 0 ? $notified[$i][0] - $crossed : 99;
	note(sprintf("latency from the crossing attempt (%s) to the NOTIFY: %.3f s", $addr, $latency{$addr}));
	diag(sprintf("alert latency %s: %.3f s", $addr, $latency{$addr}));
	cmp_ok($latency{$addr}, '<', 1.0, "$addr: NOTIFY within 1 s of the threshold-crossing attempt");
	if ($i >= 0)
	{
		my $p = decode_json($notified[$i][1]);
		is("$p->{rule} $p->{kind} $p->{group_by} $p->{count}", 'failed_logins alert client_addr 20',
			"$addr: the payload names the rule, the key and the count");
	}
	attempt($addr) for 1 .. 5;    # while quiet: counted for the follow-up
}
flush();
sleep 0.5;
is(alerts_of('127.0.0.1', 'alert'), '1:20', 'exactly one alert for 127.0.0.1, count 20');
is(alerts_of('127.0.0.2', 'alert'), '1:20', 'exactly one alert for 127.0.0.2, count 20');

# first and last event ids: the 20 failures of that address between them
for my $addr ('127.0.0.1', '127.0.0.2')
{
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.events e, audit_log.alerts a
WHERE a.rule = 'failed_logins' AND a.kind = 'alert' AND a.group_key = '$addr'
  AND e.event_type = 'LOGIN' AND e.event_status = 'FAILURE' AND e.client_addr = '$addr'
  AND e.request_time BETWEEN (SELECT request_time FROM audit_log.events WHERE event_id = a.first_event_id)
                         AND (SELECT request_time FROM audit_log.events WHERE event_id = a.last_event_id)}),
		'20', "$addr: the alert's first and last event ids span its 20 failures");
}

# alert_command got the JSON of both
my $waited = 0;
while ($waited < 5 && !(-s $alert_file && (() = slurp_file($alert_file) =~ /\n/g) >= 2))
{
	sleep 0.1;
	$waited += 0.1;
}
my @lines = -e $alert_file ? split(/\n/, slurp_file($alert_file)) : ();
is(join(',', sort map { my $j = decode_json($_); "$j->{group_key}/$j->{count}" } @lines),
	'127.0.0.1/20,127.0.0.2/20', 'alert_command received the JSON of each alert on standard input');

# the window ends: one follow-up per address with the 5 counted meanwhile
ok(wait_notified(qr/"kind": "follow_up".*"group_key": "127\.0\.0\.2"/, 30) >= 0,
	'the follow-ups arrive at the end of the window');
flush();
is(alerts_of('127.0.0.1', 'follow_up'), '1:5', '127.0.0.1: one follow-up, count 5');
is(alerts_of('127.0.0.2', 'follow_up'), '1:5', '127.0.0.2: one follow-up, count 5');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT payload ->> 'total', ',') FROM audit_log.alerts WHERE kind = 'follow_up'}),
	'25', 'the follow-ups carry the running total of the storm');

# restart the writer while 127.0.0.2's second quiet window runs
my $old = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'audit_log writer'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
$node->poll_query_until('postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'audit_log writer' AND pid <> $old})
  or die 'no new writer';
my $quiet_until = $node->safe_psql('postgres', q{
SELECT (payload ->> 'quiet_until')::timestamptz > now() FROM audit_log.alerts
WHERE group_key = '127.0.0.2' AND kind = 'follow_up'});
SKIP:
{
	skip 'the writer took longer to restart than the quiet window', 2 unless $quiet_until eq 't';
	attempt('127.0.0.2') for 1 .. 20;
	flush();
	sleep 0.5;
	is(alerts_of('127.0.0.2', 'alert'), '1:20', 'after the restart: no second alert for the same storm');
	ok(wait_notified(qr/"kind": "follow_up".*"count": 20/, 30) >= 0, 'the next follow-up arrives');
	flush();
	is(alerts_of('127.0.0.2', 'follow_up'), '2:5,20', 'after the restart: the 20 new attempts are the next follow-up');
}

# built-in: an export that recorded its failure (as export_record.c writes it)
my $mark = scalar @notified;
$node->safe_psql('postgres', q{
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, object_name, origin)
VALUES (gen_random_uuid(), now(), now(), 'EXPORTS', 'EXPORT', 'FAILURE', 'regress_failed_export.csv', 'EXTENSION')});
ok(wait_notified(qr/"rule": "audit_log:export_failed"/, 20, $mark) >= 0,
	'a failed export raises the built-in alert audit_log:export_failed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM audit_log.alerts WHERE rule = 'audit_log:export_failed'}),
	'1', 'its ALERT row is written');

# built-in: the writer cannot write while events wait (a session holds the
# default partition): the server log and NOTIFY at once, the table after
$mark = scalar @notified;
my ($hin, $hout, $herr) = ("BEGIN;\nLOCK TABLE audit_log.events_default IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n", '', '');
my $holder = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
	'<', \$hin, '>', \$hout, '2>', \$herr);
$holder->pump until $hout =~ /locked/;
my $stall_start = time;
attempt('127.0.0.1');    # an event that waits
my $si = wait_notified(qr/"rule": "audit_log:writer_stalled"/, 60, $mark);
ok($si >= 0, 'a stalled writer raises audit_log:writer_stalled through NOTIFY');
note(sprintf('stall reported %.1f s after the event began to wait', $si >= 0 ? $notified[$si][0] - $stall_start : -1));
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_catalog.pg_locks WHERE relation = 'audit_log.events_default'::regclass AND mode = 'AccessExclusiveLock' AND granted}),
	'1', 'while the table still cannot be written');
$hin .= "COMMIT;\n\\q\n";
$holder->finish;
flush();
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM audit_log.alerts WHERE rule = 'audit_log:writer_stalled'})
  or diag 'no ALERT row for the stall';
is($node->safe_psql('postgres', q{SELECT count(*) FROM audit_log.alerts WHERE rule = 'audit_log:writer_stalled'}),
	'1', 'once it can write, the stall is an ALERT row');

# no wrong password anywhere
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$password\E/, 'the wrong password is in no server log line');
like($log, qr/audit_log: alert \{/, 'alerts go to the server log too');
unlike(join("\n", @lines), qr/\Q$password\E/, 'nor in what alert_command received');
unlike(join("\n", map { $_->[1] } @notified), qr/\Q$password\E/, 'nor in a NOTIFY payload');
$node->start;
is($node->safe_psql('postgres', qq{SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$password%'}),
	'0', 'nor in any row');

$lin .= "\\q\n";
$listener->finish;
$relay->kill_kill;
$node->stop;
done_testing();
