# The main job (tools/demo) end to end against its own throwaway cluster:
# the chart is a real PNG of the expected size, the CSV files re-import to
# the counts SQL reports, the failed logins it caused are in the table with
# the right reasons, the HTML report has a bar per day and the OCSF export
# an event per line, no secret it used is stored, and after `stop` the
# cluster is gone.  The cluster is tools/demo's own, not the harness's:
# AuditLogNode's sql_at talks to it.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $root = File::Spec->rel2abs(File::Basename::dirname(__FILE__) . '/..');
my $demo = PostgreSQL::Test::Utils::tempdir_short() . '/demo';

my ($out, $err);
my $ok = IPC::Run::run([ 'bash', "$root/tools/demo" ], '>', \$out, '2>', \$err,
	init => sub { $ENV{AUDIT_LOG_DEMO_DIR} = $demo; delete $ENV{PGHOST}; delete $ENV{PGPORT}; });
ok($ok, 'the demo command succeeds') or diag("stdout:\n$out\nstderr:\n$err");

like($out, qr/daily login activity, last 30 days/, 'it prints the daily login activity');
like($out, qr/the worst day, (\d{4}-\d\d-\d\d): failed logins by reason/, 'it names the worst day');
like($out, qr/INVALID_PASSWORD/, 'the drill-down shows reason codes');

chomp(my $port = slurp_file("$demo/port"));
sub sql { return sql_at($demo, $port, $_[0]); }

# the chart: a PNG, 1200 x 600
my $png = "$demo/daily_logins.png";
ok(-s $png, 'the chart exists');
open(my $fh, '<:raw', $png) or die;
read($fh, my $head, 24);
close $fh;
is(substr($head, 0, 8), "\x89PNG\r\n\x1a\n", 'the chart is a PNG');
my ($w, $h) = unpack('NN', substr($head, 16, 8));
is("${w}x$h", '1200x600', 'the chart has the expected size');

# the real logins it made, with their reasons
is(sql(q{SELECT string_agg(user_name || ':' || event_status || ':' || coalesce(event_status_reason_code, '-'), ' ' ORDER BY user_name, event_status, event_status_reason_code)
	FROM (SELECT DISTINCT user_name, event_status, event_status_reason_code FROM audit_log.events
	      WHERE event_type = 'LOGIN' AND user_name IN ('alice', 'bob', 'eve', 'mallory')) s}),
	'alice:SUCCESS:- bob:SUCCESS:- bob:FAILURE:INVALID_PASSWORD eve:FAILURE:ROLE_NOT_FOUND mallory:FAILURE:HBA_REJECT',
	'each real login attempt is recorded with its reason');
is(sql(q{SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN' AND user_name = 'bob' AND event_status = 'FAILURE'}),
	'2', 'both wrong passwords are recorded');
is(sql(q{SELECT count(*) FROM audit_log.events WHERE event_category = 'TEAMS' AND event_type = 'CREATE_TEAM' AND object_name = 'analysts'}),
	'1', 'the team creation is recorded');
# the capture rule: the monitoring role's successful logins are not written,
# its failed one is; the burst raised the shipped alert, printed from LISTEN
is(sql(q{SELECT string_agg(event_type || ':' || event_status, ' ' ORDER BY event_type, event_status)
FROM audit_log.events WHERE user_name = 'monitor' AND event_category = 'ACCESS_SIGMA'}),
	'LOGIN:FAILURE', 'the capture rule kept only the monitoring role\'s failed login');
cmp_ok(sql(q{SELECT skipped FROM audit_log.capture_rule_stats WHERE name = 'skip_monitor_successes'}), '>=', 5,
	'and counted the skipped logins and logouts');
like($out, qr/ALERT received by LISTEN: \{.*"rule": ?"failed_logins"/, 'the demo prints the alert it received by LISTEN');
is(sql(q{SELECT count(*) FROM audit_log.alerts WHERE rule = 'failed_logins' AND group_key = '127.0.0.1'}), '1',
	'one alert for the burst from 127.0.0.1');
is(sql(q{SELECT count(*) FROM audit_log.events e WHERE e::text ~ 'demo-[a-z]+-Secret'}), '0',
	'no secret the demo used is stored');

# the CSV exports re-import to what SQL reports
my @runs = split /\n/, sql(q{SELECT source || '|' || file || '|' || rows FROM audit_log.export_runs WHERE status = 'SUCCESS' AND file LIKE '%.csv' ORDER BY run_id});
ok(scalar(@runs) >= 2, 'two CSV exports were recorded');
for my $run (@runs)
{
	my ($source, $file, $rows) = split /\|/, $run;
	ok(-f $file, "$source export file exists");
	my $table = "reimport_$source";
	sql("CREATE TABLE $table AS SELECT * FROM " . ($source eq 'events'
		? 'audit_log.events' : 'audit_log.daily_login_activity(current_date, current_date)') . ' WITH NO DATA');
	sql("COPY $table FROM '$file' (FORMAT csv, HEADER)");
	is(sql("SELECT count(*) FROM $table"), $rows, "$source export re-imports to its $rows rows");
	if ($source eq 'daily_login_activity')
	{
		# the export covers UTC days; today's count grows with every psql
		# connection (this test's included), so compare the closed days
		my $today = sql(q{SELECT (now() AT TIME ZONE 'UTC')::date});
		is(sql("SELECT sum(success) || '/' || sum(failure) FROM $table WHERE day < '$today'"),
			sql(qq{SELECT sum(success) || '/' || sum(failure) FROM audit_log.daily_login_activity('$today'::date - 89, '$today'::date - 1, 'UTC')}),
			'the exported daily counts equal the SQL ones');
	}
	else
	{
		is(sql("SELECT count(*) FROM (SELECT * FROM $table EXCEPT SELECT * FROM audit_log.events) d"), '0',
			'every exported event is in the table, unchanged');
	}
	ok(-f "$file.sha256", "$source export has its checksum file");
}

# the HTML report of the last 90 days and yesterday's OCSF export, named in the output
my ($report) = $out =~ /^   report: (\S+\.html)\s/m;
ok($report && -f $report && -f "$report.sha256", 'the demo names the HTML report it wrote, with its checksum file');
my $html = defined $report ? slurp_file($report) : '';
is(() = $html =~ /<rect class="bar"/g, 90, 'the report has one bar per day of the 90 days');
like($html, qr{<td id="worst" data-day="\d{4}-\d\d-\d\d">}, 'and names the worst day');
my ($ocsf) = $out =~ /^   OCSF:   (\S+\.ocsf\.jsonl)$/m;
ok($ocsf && -f $ocsf, 'the demo names the OCSF export it wrote');
my @lines = defined $ocsf ? split(/\n/, slurp_file($ocsf)) : ();
is(scalar(grep { my $e = eval { JSON::PP::decode_json($_) }; $e && $e->{class_uid} } @lines),
	sql("SELECT rows FROM audit_log.export_runs WHERE file = '$ocsf'"),
	'every line of the OCSF export is an event with a class_uid');

# the daily export is scheduled
is(sql(q{SELECT count(*) FROM cron.job WHERE jobname LIKE 'audit_log_export_daily%'}), '1', 'the daily export is scheduled');

# stop: the cluster is gone
ok(IPC::Run::run([ 'bash', "$root/tools/demo", 'stop' ], '>', \$out, '2>', \$err,
	init => sub { $ENV{AUDIT_LOG_DEMO_DIR} = $demo; }), 'demo stop succeeds');
ok(!-d "$demo/data", 'the cluster directory is removed');
ok(!IPC::Run::run([ 'pg_isready', '-q', '-h', $demo, '-p', $port ]), 'the server no longer answers');

done_testing();
