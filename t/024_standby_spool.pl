# The standby's bounded spool (issue 16): while the primary cannot be
# reached, a hot standby's events wait in its shared-memory queue
# (audit_log.queue_size events).  What does not fit goes to the standby's
# server log as its JSON line, is counted in status.dropped, and becomes one
# CAPTURE_GAP event on the primary once it can be reached again.  A standby
# restarted while the primary is down saves its queue to the queue file and
# ships it after its restart.
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

my $secret = 'spool-Secret-7c1e';
my $wrong = 'spool-Wrong-5d2a';
my $qsize = 64;

my ($primary, $standby) = standby_pair(qq{CREATE ROLE regress_spool LOGIN PASSWORD '$secret'}, $qsize);

# one real login with psql over TCP (scram): returns psql's stderr
sub attempt
{
	my ($node, $app, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-w', '-At', '-d',
		"host=127.0.0.1 port=" . $node->port . " user=regress_spool dbname=postgres application_name=$app",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
	return $out eq "1\n" ? 'ok' : $err;
}

sub status
{
	my ($col) = @_;
	return $standby->safe_psql('postgres', "SELECT $col FROM audit_log.status");
}

# the events of the standby the primary holds for applications LIKE $like:
# application_name => [ "type|status" ... ], and their event_ids
sub primary_events
{
	my ($like) = @_;
	my %by_app;
	my @ids;
	for my $l (split /\n/, $primary->safe_psql('postgres', qq{
SELECT application_name, event_type, event_status, event_id
FROM audit_log.events WHERE application_name LIKE '$like' AND source_node = 'standby'}))
	{
		my ($app, $type, $st, $id) = split /\|/, $l;
		push @{ $by_app{$app} }, "$type|$st";
		push @ids, $id;
	}
	return (\%by_app, \@ids);
}

# the JSON lines of dropped events in the standby's log after $offset
sub dropped_lines
{
	my ($offset) = @_;
	my $log = slurp_file($standby->logfile, $offset);
	my @ev;
	while ($log =~ /LOG:  audit_log: (\{.*\})\n[^\n]*DETAIL:  The audit_log queue was full for audit_log\.queue_wait; this event was not written to audit_log\.events\./g)
	{
		push @ev, decode_json($1);
	}
	return @ev;
}

# ---- the spool overflows while the primary is down -------------------------
#
# Every psql session on the standby is a login too (LOGIN and LOGOUT): the
# checks below run only once the logins are done, and count what they add.

is(status('dropped'), '0', 'nothing dropped yet');
my $offset = -s $standby->logfile;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't',
	'the standby\'s queue is empty before the primary goes down');
# the LOGOUT of that session is sent too (flush_interval is 20 ms)
sleep 1;
$primary->stop('fast');

# 100 successful logins (LOGIN and LOGOUT: 2 events each) and 200 failed
# ones (1 event each): 400 events for a queue of 64
my (%expect, $refused, $accepted);
for my $i (1 .. 300)
{
	my $ok = $i % 3 == 0;
	my $app = sprintf('spool-%s-%03d', $ok ? 'ok' : 'bad', $i);
	my $r = attempt($standby, $app, $ok ? $secret : $wrong);
	if ($ok)
	{
		$accepted++ if $r eq 'ok';
		$expect{$app} = [ 'LOGIN|SUCCESS', 'LOGOUT|SUCCESS' ];
	}
	else
	{
		$refused++ if $r =~ /password authentication failed/;
		$expect{$app} = [ 'LOGIN|FAILURE' ];
	}
}
is($accepted, 100, '100 logins on the standby succeeded with the primary down');
is($refused, 200, '200 logins on the standby were refused (wrong password)');
my $total = 0;
$total += scalar @{$_} for values %expect;
is($total, 400, '400 events captured in all');

# (this check's own LOGIN is dropped too: the queue is full)
$standby->poll_query_until('postgres', "SELECT queued + dropped >= 401 FROM audit_log.status")
  or diag('queued + dropped: ' . status('queued || \'+\' || dropped'));
is(status('queued'), $qsize, "the spool is full: $qsize events queued, no more");
cmp_ok(status('dropped'), '>=', 400 - $qsize, 'status.dropped counts the events that did not fit');
is($standby->safe_psql('postgres', "SELECT audit_log.flush('1 s')"), 'f',
	'flush() times out while the primary is down');

# the primary comes back: the spool is shipped, the gap is recorded
$primary->start;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('60 s')"), 't',
	'once the primary is back, the standby\'s flush() completes');
ok($primary->poll_query_until('postgres', q{
SELECT count(*) > 0 FROM audit_log.events WHERE event_type = 'CAPTURE_GAP' AND source_node = 'standby'}),
	'a CAPTURE_GAP event of the standby arrived on the primary');
# from now on the queue has room: nothing more is dropped
my $dropped = status('dropped');
my @lines = dropped_lines($offset);
is(scalar @lines, $dropped, 'each dropped event is in the standby\'s server log as its JSON line');
is(scalar(grep { ($_->{source_node} // '') eq 'standby' } @lines), $dropped,
	'... with the standby\'s source node');
is(scalar(grep { ($_->{application_name} // '') =~ /^spool-/ } @lines), 400 - $qsize,
	'the 336 login events that did not fit are among them');
is($primary->safe_psql('postgres', q{
SELECT string_agg(concat_ws('|', event_category, event_status, event_status_reason_code,
	entry_data->>'events', entry_data->'reasons'->>'queue_full', entry_data->'categories'->>'ACCESS_SIGMA',
	entry_data->>'went_to'), ';')
FROM audit_log.events WHERE event_type = 'CAPTURE_GAP' AND source_node = 'standby'}),
	join('|', 'AUDIT_LOG', 'FAILURE', 'QUEUE_FULL', $dropped, $dropped, $dropped, 'server log'),
	'exactly one CAPTURE_GAP: it counts exactly the dropped events, reason queue full, category ACCESS_SIGMA (logins)');
is(status('dropped'), $dropped, 'the standby dropped nothing more');

my ($arrived, $ids) = primary_events('spool-%');
is(scalar @$ids, $qsize, "the $qsize events that fitted in the spool arrived on the primary");
# every attempt: its events are on the primary or in the standby's log, once
my %seen_id;
my %where = %$arrived;
for my $e (@lines)
{
	push @{ $where{ $e->{application_name} // '' } }, "$e->{event_type}|$e->{event_status}";
	$seen_id{ $e->{event_id} }++;
}
$seen_id{$_}++ for @$ids;
is(scalar(grep { $_ > 1 } values %seen_id), 0, 'no event_id both on the primary and in the log, or twice');
my @wrong = grep {
	join(',', sort @{ $where{$_} // [] }) ne join(',', sort @{ $expect{$_} })
} sort keys %expect;
is(scalar @wrong, 0, 'every login\'s events are either on the primary or in the standby\'s log, exactly once')
  or diag("wrong: @wrong[0 .. ($#wrong < 4 ? $#wrong : 4)]");
is($primary->safe_psql('postgres', 'SELECT count(*) FROM (SELECT event_id FROM audit_log.events GROUP BY event_id HAVING count(*) > 1) d'),
	'0', 'no duplicate event_id on the primary');

# ---- the standby restarted while the primary is down -----------------------

is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't',
	'the standby\'s queue is empty again');
sleep 1;
$primary->stop('fast');
my (%expect2, $refused2);
for my $i (1 .. 20)
{
	my $app = sprintf('restart-%02d', $i);
	$refused2++ if attempt($standby, $app, $wrong) =~ /password authentication failed/;
	$expect2{$app} = 1;
}
is($refused2, 20, '20 failed logins on the standby with the primary down');
$offset = -s $standby->logfile;
$standby->stop('fast');
ok($standby->log_contains(qr/audit_log: saved 20 queued events to "pg_stat\/audit_log\.queue"/, $offset),
	'the standby saves its 20 queued events to the queue file at a fast shutdown');
$standby->start;
ok($standby->log_contains(qr/audit_log: loaded 20 queued events/, $offset),
	'... and loads them at its restart');
is(status('dropped'), '0', 'nothing dropped at the restart');
$primary->start;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('60 s')"), 't',
	'once the primary is back, flush() completes after the restart');
my ($arrived2, $ids2) = primary_events('restart-%');
is(join(',', sort keys %$arrived2), join(',', sort keys %expect2),
	'every login made before the restart arrived on the primary');
is(scalar @$ids2, 20, '... each once');
is(status('dropped'), '0', 'nothing dropped since the restart');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM (SELECT event_id FROM audit_log.events GROUP BY event_id HAVING count(*) > 1) d'),
	'0', 'no duplicate event_id on the primary');

# ---- overflow, then a restart, while the primary is down -------------------
#
# The count of the dropped events that is not yet a CAPTURE_GAP event goes
# into the queue file with the queued events: the gap is recorded after the
# restart too.

is($standby->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't',
	'the standby\'s queue is empty once more');
sleep 1;
$primary->stop('fast');
$offset = -s $standby->logfile;
my $refused3 = 0;
for my $i (1 .. 80)
{
	$refused3++ if attempt($standby, sprintf('gap-restart-%02d', $i), $wrong) =~ /password authentication failed/;
}
is($refused3, 80, '80 failed logins on the standby with the primary down');
$standby->stop('fast');
ok($standby->log_contains(qr/audit_log: saved $qsize queued events to "pg_stat\/audit_log\.queue"/, $offset),
	"the standby saves its full queue ($qsize events) at a fast shutdown");
my @lines3 = dropped_lines($offset);
is(scalar @lines3, 80 - $qsize, 'the 16 others are JSON lines in its log');
$standby->start;
$primary->start;
is($standby->safe_psql('postgres', "SELECT audit_log.flush('60 s')"), 't',
	'the primary back, flush() completes after the restart');
ok($primary->poll_query_until('postgres', q{
SELECT count(*) = 2 FROM audit_log.events WHERE event_type = 'CAPTURE_GAP' AND source_node = 'standby'}),
	'a second CAPTURE_GAP event of the standby arrived on the primary, after its restart');
# (after the restart, until the writer sends again, a session's own LOGIN
# may find the loaded queue full too: it is in the log and in the gap)
my $all3 = scalar(dropped_lines($offset));
cmp_ok($all3, '>=', 80 - $qsize, 'every dropped event is a JSON line');
is($primary->safe_psql('postgres', q{
SELECT concat_ws('|', event_status_reason_code, entry_data->>'events', entry_data->'reasons'->>'queue_full')
FROM audit_log.events WHERE event_type = 'CAPTURE_GAP' AND source_node = 'standby'
ORDER BY request_time DESC LIMIT 1}),
	join('|', 'QUEUE_FULL', $all3, $all3),
	'it counts exactly the events dropped, the 16 before the restart included');
my ($arrived3, $ids3) = primary_events('gap-restart-%');
is(scalar @$ids3, $qsize, "the $qsize queued events arrived on the primary after the restart");
my %apps3 = map { $_ => 1 } keys %$arrived3;
$apps3{ $_->{application_name} }++ for @lines3;
is(scalar(grep { $apps3{ sprintf('gap-restart-%02d', $_) } // 0 } 1 .. 80), 80,
	'every one of the 80 logins is on the primary or in the log');
is(scalar(grep { $_ != 1 } values %apps3), 0, '... exactly once');

# ---- no secret anywhere ----------------------------------------------------

$primary->wait_for_catchup($standby);
for my $pw ($secret, $wrong)
{
	is($primary->safe_psql('postgres', qq{SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$pw%'}),
		'0', 'no password in any row of the primary');
	is($standby->safe_psql('postgres', qq{SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$pw%'}),
		'0', 'no password in any row of the standby');
	ok(index(slurp_file($standby->logfile), $pw) < 0, 'no password in the standby\'s server log');
	ok(index(slurp_file($primary->logfile), $pw) < 0, 'no password in the primary\'s server log');
}

$standby->stop;
$primary->stop;
done_testing();
