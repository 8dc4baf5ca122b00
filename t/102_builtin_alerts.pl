# The built-in alerts on the audit log's own failure (issue 19), each
# provoked for real and seen the three ways an alert goes out: its ALERT
# row (audit_log.alerts), the NOTIFY audit_log_alert payload a LISTENing
# session receives, and the JSON audit_log.alert_command reads on its
# standard input.
#   - audit_log:capture_gap: the writer paused, a queue of 64 events and
#     no wait: logins drop events; once the writer writes again the
#     CAPTURE_GAP row raises exactly one alert;
#   - audit_log:export_failed: export_csv into a directory without write
#     permission fails; its recorded failure raises one alert naming the
#     failed export's event;
#   - audit_log:job_failed: the maintenance job scheduled every minute,
#     its pg_cron job pointed at a database that does not exist: the failed
#     run (cron.job_run_details) raises one alert keyed by the job's name
#     (skipped, counted, when pg_cron is not installed);
#   - audit_log:collector_lag: a collector and a source, the collector's
#     audit_log.alert_collector_lag at 4 s: nothing while the source
#     streams; the source stopped, its lag passes 4 s and raises exactly one
#     alert with the source's name and lag.
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
my $root = PostgreSQL::Test::Utils::tempdir;    # audit_log.export_directory
mkdir "$root/ro" or die "mkdir: $!";
chmod 0555, "$root/ro";

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
my $have_cron = -e "$pkglibdir/pg_cron.so";

# Each node: its alert_command appends to its own file; a session LISTENs.
my %alert_file;
my %listener;    # name => [ harness, \$in, \$out, \@notified ]

sub listen_on
{
	my ($node) = @_;
	my ($in, $out, $err) = ("LISTEN audit_log_alert;\n", '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$listener{ $node->name } = [ $h, \$in, \$out, [] ];
}

# each poll runs a query, after which psql prints the notifications received
sub poll_listener
{
	my ($node) = @_;
	my ($h, $in, $out, $notified) = @{ $listener{ $node->name } };
	$$in .= "SELECT 'poll';\n";
	$h->pump_nb for 1 .. 3;
	while ($$out =~ s/^Asynchronous notification "audit_log_alert" with payload "(.*)" received from server process with PID \d+\.\n//m)
	{
		push @$notified, $1;
	}
	$$out =~ s/^poll\n//mg;
	return $notified;
}

# the payloads of rule $rule received within $secs (at least $want of them)
sub wait_notified
{
	my ($node, $rule, $secs, $want) = @_;
	my $end = time + $secs;
	my @got;
	while (1)
	{
		@got = grep { decode_json($_)->{rule} eq $rule } @{ poll_listener($node) };
		last if @got >= ($want // 1) || time > $end;
		sleep 0.1;
	}
	return map { decode_json($_) } @got;
}

# the JSON lines alert_command received for $rule (waits up to $secs for one)
sub command_got
{
	my ($node, $rule, $secs) = @_;
	my $file = $alert_file{ $node->name };
	my $end = time + ($secs // 5);
	my @got;
	while (1)
	{
		@got = -e $file ? grep { $_->{rule} eq $rule } map { decode_json($_) } split(/\n/, slurp_file($file)) : ();
		last if @got || time > $end;
		sleep 0.1;
	}
	return @got;
}

sub alert_rows
{
	my ($node, $rule) = @_;
	$node->safe_psql('postgres', "SELECT audit_log.flush('30 s')");
	return $node->safe_psql('postgres', qq{
SELECT count(*) || ':' || coalesce(string_agg(kind || '/' || e.event_status || '/' || group_key, ',' ORDER BY fired_at), '')
FROM audit_log.alerts a JOIN audit_log.events e ON e.event_id = a.alert_event_id
WHERE rule = '$rule'});
}

sub node_with_alerts
{
	my ($name, %opts) = @_;
	my $file = "$tmp/$name.alerts.jsonl";
	my $node = audit_log_node($name, %opts, conf => qq{
audit_log.alert_command = 'cat >> ''$file'''
max_worker_processes = 16
} . ($opts{conf} // ''));
	$alert_file{$name} = $file;
	listen_on($node);
	return $node;
}

# ------------------------------------------------------------ one server
my $node = node_with_alerts('builtin',
	($have_cron ? (cron => 1, extensions => [ 'pg_cron', 'audit_log' ]) : ()),
	conf => qq{
audit_log.queue_size = 64
audit_log.queue_wait = 0
audit_log.export_directory = '$root'
});

# --- audit_log:capture_gap
$node->safe_psql('postgres', q{SELECT audit_log.flush('10 s'); SELECT audit_log.pause_writer(true)});
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 60;    # 120 events, at most 64 fit
my $dropped = $node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status');
ok($dropped > 0, "capture_gap: events dropped while the queue was full ($dropped)");
is(scalar wait_notified($node, 'audit_log:capture_gap', 1.5), 0,
	'capture_gap: no alert while the writer is paused (the gap is not recorded yet)');
$node->safe_psql('postgres', q{SELECT audit_log.pause_writer(false)});
my @n = wait_notified($node, 'audit_log:capture_gap', 30);
is(scalar @n, 1, 'capture_gap: the LISTENing session receives one alert');
is($n[0] && "$n[0]{kind} $n[0]{count} $n[0]{threshold}", 'alert 1 1',
	'capture_gap: the payload is an alert, count 1 (the gap row), threshold 1');
my $gap_id = $node->safe_psql('postgres',
	q{SELECT event_id FROM audit_log.events WHERE event_type = 'CAPTURE_GAP' ORDER BY logged_time LIMIT 1});
is($n[0] && $n[0]{first_event_id}, $gap_id, "capture_gap: the payload names the CAPTURE_GAP event");
is(alert_rows($node, 'audit_log:capture_gap'), '1:alert/FAILURE/', 'capture_gap: one ALERT row, status FAILURE');
my @c = command_got($node, 'audit_log:capture_gap');
is(scalar @c, 1, 'capture_gap: alert_command received the JSON once');
is($c[0] && $c[0]{first_event_id}, $gap_id, 'capture_gap: the same JSON as the NOTIFY');

# --- audit_log:export_failed: a real export that fails
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT * FROM audit_log.export_csv('ro', now() - interval '1 day', now())");
like($err, qr/could not create export file .*Permission denied/, 'export_failed: the export into a read-only directory fails');
my $failed_id = $node->safe_psql('postgres', q{
SELECT event_id FROM audit_log.events WHERE event_category = 'EXPORTS' AND event_type = 'EXPORT' AND event_status = 'FAILURE'});
like($failed_id, qr/^[0-9a-f-]{36}$/, 'export_failed: the failure is recorded (EXPORTS EXPORT FAILURE)');
@n = wait_notified($node, 'audit_log:export_failed', 30);
is(scalar @n, 1, 'export_failed: the LISTENing session receives one alert');
is($n[0] && "$n[0]{kind} $n[0]{first_event_id}", "alert $failed_id", 'export_failed: the payload names the failed export');
is(alert_rows($node, 'audit_log:export_failed'), '1:alert/FAILURE/', 'export_failed: one ALERT row');
@c = command_got($node, 'audit_log:export_failed');
is(scalar @c, 1, 'export_failed: alert_command received the JSON');

# --- audit_log:job_failed: the maintenance job fails
SKIP:
{
	skip 'pg_cron is not installed', 6 unless $have_cron;
	$node->safe_psql('postgres', q{SELECT audit_log.schedule('* * * * *')});
	# the job's database is gone: every run fails
	$node->safe_psql('postgres', q{UPDATE cron.job SET database = 'regress_gone' WHERE jobname = 'audit_log_maintenance'});
	@n = wait_notified($node, 'audit_log:job_failed', 100);
	is(scalar @n, 1, 'job_failed: the LISTENing session receives one alert');
	is($n[0] && "$n[0]{kind} $n[0]{group_by} $n[0]{group_key}", 'alert object_name audit_log_maintenance',
		'job_failed: the payload names the job');
	like($node->safe_psql('postgres', q{
SELECT string_agg(DISTINCT d.status, ',') FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = 'audit_log_maintenance'}), qr/failed/, 'job_failed: pg_cron recorded the failed run');
	is(alert_rows($node, 'audit_log:job_failed'), '1:alert/FAILURE/audit_log_maintenance', 'job_failed: one ALERT row');
	@c = command_got($node, 'audit_log:job_failed');
	is(scalar @c, 1, 'job_failed: alert_command received the JSON');
	$node->safe_psql('postgres', q{UPDATE cron.job SET database = 'postgres' WHERE jobname = 'audit_log_maintenance'});
	$node->safe_psql('postgres', q{SELECT audit_log.unschedule()});
	is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '0', 'job_failed: the job is removed');
}

# none of the built-in alerts fired twice
is($node->safe_psql('postgres', q{SELECT count(*) FROM audit_log.alerts WHERE rule LIKE 'audit\_log:%' AND kind = 'alert'}),
	$have_cron ? '3' : '2', 'each built-in alert fired once');

${ $listener{builtin}[1] } .= "\\q\n";
$listener{builtin}[0]->finish;
$node->stop;

# ------------------------------------------------- a collector and a source
# The source's wal_sender_timeout of 2 s: while it streams, it reports the
# end of what it sent at least every second, so its lag stays well under
# the threshold of 4 s (2 s would leave no margin on a loaded machine).
my $secret = 'Lag-pw-4e1b77';
my $src = audit_log_node('lagsrc',
	init => { allows_streaming => 'logical' },
	conf => qq{
max_replication_slots = 4
max_wal_senders = 4
wal_sender_timeout = '2s'
},
	hba => "local all fleet_repl scram-sha-256\nlocal all all trust\n");
$src->safe_psql('postgres', qq{
CREATE ROLE fleet_repl LOGIN REPLICATION PASSWORD '$secret';
GRANT audit_log_reader TO fleet_repl;
SELECT audit_log.create_publication();
});
my $coll = node_with_alerts('lagcoll',
	init => { allows_streaming => 'logical' },
	conf => qq{
max_replication_slots = 4
max_logical_replication_workers = 4
wal_retrieve_retry_interval = '500ms'
});
is($coll->safe_psql('postgres', 'SHOW audit_log.alert_collector_lag'), '5min', 'collector_lag: the default threshold is 5 min');
my ($lrc, $lout, $lerr) = $coll->psql('postgres', 'ALTER SYSTEM SET audit_log.alert_collector_lag = -1');
like($lerr, qr/-1 s is outside the valid range/, 'collector_lag: a negative threshold is refused');
$coll->safe_psql('postgres', q{ALTER SYSTEM SET audit_log.alert_collector_lag = '4s'; SELECT pg_reload_conf()});
$coll->poll_query_until('postgres', q{SELECT audit_log.flush('10 s') IS NOT NULL AND count(*) = 1
FROM audit_log.events WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.alert_collector_lag'
  AND entry_data ->> 'new' = '4s'})
  or diag 'no SETTINGS_CHANGE event for audit_log.alert_collector_lag';
is($coll->safe_psql('postgres', q{SELECT entry_data ->> 'old' || ' -> ' || (entry_data ->> 'new') FROM audit_log.events
WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.alert_collector_lag'}), '5min -> 4s',
	'collector_lag: the change of the threshold is a SETTINGS_CHANGE event');

$coll->safe_psql('postgres', sprintf(q{SELECT audit_log.add_source('lagsrc', 'host=%s port=%d dbname=postgres user=fleet_repl password=%s')},
	$src->host, $src->port, $secret));
$src->safe_psql('postgres', q{SELECT audit_log.log_event('AUDIT_LOG', 'SCHEDULE_CHANGE', object_name => 'regress_lag_probe')});
ok($coll->poll_query_until('postgres', q{SELECT count(*) = 1 FROM audit_log.events WHERE object_name = 'regress_lag_probe'}),
	'collector_lag: the source streams to the collector');

# streaming: 12 s (more than a look every 10 s), the lag sampled
my ($max_lag, $end) = (0, time + 12);
while (time < $end)
{
	my $l = $coll->safe_psql('postgres', q{SELECT coalesce(extract(epoch FROM lag), -1) FROM audit_log.sources WHERE name = 'lagsrc'});
	$max_lag = $l if $l > $max_lag;
	sleep 0.5;
}
note("collector_lag: largest lag seen while streaming: $max_lag s");
is(scalar wait_notified($coll, 'audit_log:collector_lag', 0.5), 0, 'collector_lag: no alert while the source streams');

# the source stops
my $stopped = time;
$src->stop('fast');
my @lag = wait_notified($coll, 'audit_log:collector_lag', 30);
is(scalar @lag, 1, 'collector_lag: the LISTENing session receives one alert once the stopped source lags past 4 s');
note(sprintf('collector_lag: alert %.1f s after the source stopped', time - $stopped));
is($lag[0] && "$lag[0]{kind} $lag[0]{group_by} $lag[0]{group_key} $lag[0]{source} $lag[0]{lag_threshold_ms}",
	'alert source lagsrc lagsrc 4000', 'collector_lag: the payload names the source and the threshold');
ok($lag[0] && $lag[0]{lag_ms} >= 4000, 'collector_lag: and its lag, past the threshold (' . ($lag[0] ? $lag[0]{lag_ms} : '?') . ' ms)');
is($coll->safe_psql('postgres', q{SELECT (entry_data ->> 'source') || ' ' || ((entry_data ->> 'lag_ms')::int >= 4000)
FROM audit_log.events WHERE event_type = 'ALERT' AND entry_data ->> 'rule' = 'audit_log:collector_lag'}), 'lagsrc true',
	'collector_lag: the ALERT row has the source and its lag in entry_data');
is(alert_rows($coll, 'audit_log:collector_lag'), '1:alert/FAILURE/lagsrc', 'collector_lag: one ALERT row');
@c = command_got($coll, 'audit_log:collector_lag');
is(scalar @c, 1, 'collector_lag: alert_command received the JSON');
# still lagging: no second alert within the window (60 s)
sleep 12;
is(scalar wait_notified($coll, 'audit_log:collector_lag', 0.5, 2), 1, 'collector_lag: one alert per source per window, however long it lags');
is(alert_rows($coll, 'audit_log:collector_lag'), '1:alert/FAILURE/lagsrc', 'collector_lag: still one ALERT row');

${ $listener{lagcoll}[1] } .= "\\q\n";
$listener{lagcoll}[0]->finish;
$coll->stop;

done_testing();
