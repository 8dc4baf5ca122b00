# Retention with a real pg_cron: CREATE EXTENSION schedules the maintenance
# job, the job fires and drops the expired days, schedule() fails clearly
# without pg_cron, and a long reader never makes other sessions queue behind
# retention (retention gives up for now instead).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

# --- CREATE EXTENSION with pg_cron present schedules the default job
my $node = audit_log_node('retention',
	cron       => 1,
	conf       => "cron.use_background_workers = on\nmax_worker_processes = 20\n",
	extensions => [ 'pg_cron', 'audit_log' ]);
is( $node->safe_psql('postgres',
		"SELECT schedule || ' | ' || command FROM cron.job WHERE jobname = 'audit_log_maintenance'"),
	'17 3 * * * | CALL audit_log._maintenance_job()',
	'CREATE EXTENSION scheduled audit_log_maintenance at 03:17 every day');
is($node->safe_psql('postgres', 'SELECT retention_scheduled FROM audit_log._retention_status()'),
	't', 'status shows retention as scheduled');
is( $node->safe_psql('postgres',
		"SELECT entry_data->>'action' FROM audit_log.events WHERE event_type = 'SCHEDULE_CHANGE'"),
	'created', 'the scheduling is an AUDIT_LOG SCHEDULE_CHANGE event');

# --- without pg_cron in the database: a clear error, and "not scheduled"
$node->safe_psql('postgres', 'CREATE DATABASE nocron');
my ($ret, $out, $err) = $node->psql('nocron', 'CREATE EXTENSION audit_log');
is($ret, 0, 'CREATE EXTENSION works where pg_cron is missing');
unlike($err, qr/schedul/i, 'and says nothing about scheduling');
($ret, $out, $err) = $node->psql('nocron',
	"\\set VERBOSITY verbose\nSELECT audit_log.schedule('* * * * *')");
isnt($ret, 0, 'schedule() fails without pg_cron');
like($err, qr/ERROR:  55000: pg_cron is not installed in database "nocron"/,
	'with SQLSTATE 55000 and a message naming the database');
like($err, qr/HINT:  Add pg_cron to shared_preload_libraries, set cron.database_name = 'nocron' \(now 'postgres'\).*CREATE EXTENSION pg_cron/,
	'and a hint saying how to install pg_cron');
is($node->safe_psql('nocron', 'SELECT retention_scheduled FROM audit_log._retention_status()'),
	'f', 'status shows retention as not scheduled');
($ret, $out, $err) = $node->psql('nocron', 'SELECT audit_log.unschedule()');
is($ret, 0, 'unschedule() without pg_cron has nothing to do and does not fail');

# --- a real pg_cron run drops the expired days
$node->safe_psql('postgres', q{
	SELECT audit_log.register_event_type('AUDIT_LOG', 'TAP_RETENTION', 'TAP retention event');
	SELECT audit_log.log_event('AUDIT_LOG', 'TAP_RETENTION', object_name => n || ' days old',
		request_time => now() - make_interval(days => n))
	FROM unnest(ARRAY[100, 91, 89]) AS n;
	SELECT audit_log.schedule('* * * * *');
	SELECT audit_log.schedule('* * * * *');
});
is( $node->safe_psql('postgres',
		"SELECT count(*) || ' ' || min(schedule) FROM cron.job WHERE jobname = 'audit_log_maintenance'"),
	'1 * * * * *', 'scheduling twice leaves one job, with the new schedule');
my $jobid = $node->safe_psql('postgres',
	"SELECT jobid FROM cron.job WHERE jobname = 'audit_log_maintenance'");

my $t0 = time();
my $finished = 0;
while (time() - $t0 < 75)
{
	$finished = $node->safe_psql('postgres',
		"SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed')");
	last if $finished > 0;
	sleep 1;
}
ok($finished > 0, 'the job ran within 75 seconds');
is( $node->safe_psql('postgres',
		"SELECT status FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid LIMIT 1"),
	'succeeded', 'cron.job_run_details says it succeeded');
is( $node->safe_psql('postgres',
		"SELECT string_agg(object_name, ',' ORDER BY request_time) FROM audit_log.events WHERE event_type = 'TAP_RETENTION'"),
	'89 days old', 'the job dropped the days 100 and 91 days old and kept the one 89 days old');
is( $node->safe_psql('postgres',
		"SELECT event_status || ' ' || user_name || ' ' || (entry_data->>'dropped_days') FROM audit_log.events WHERE event_type = 'RETENTION' ORDER BY logged_time LIMIT 1"),
	'SUCCESS postgres 2', 'the job recorded a RETENTION event with the two days it dropped');
is($node->safe_psql('postgres', 'SELECT last_retention_run IS NOT NULL FROM audit_log._retention_status()'),
	't', 'status shows the last retention run');

$node->safe_psql('postgres', 'SELECT audit_log.unschedule()');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobname LIKE 'audit\\_log\\_%'"),
	'0', 'unschedule() removed the job');
# a run that had already started when the job was removed ends before we go on
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('starting', 'running')")
  or die 'the last cron run did not end';

# --- a long reader: retention gives up for now, other sessions do not queue
# (a day older than those above: once the maintenance job has sealed the
# days from the oldest one with events on, no event can be added to them)
$node->safe_psql('postgres', q{
	SELECT audit_log.log_event('AUDIT_LOG', 'TAP_RETENTION', object_name => 'old, read',
		request_time => now() - interval '120 days');
	SELECT audit_log.maintain();
	CREATE TABLE tap_latency (t0 timestamptz, ms float8);
	CREATE PROCEDURE tap_writer(n int) LANGUAGE plpgsql AS $$
	DECLARE
		t0 timestamptz;
	BEGIN
		FOR i IN 1 .. n LOOP
			t0 := clock_timestamp();
			PERFORM audit_log.log_event('AUDIT_LOG', 'TAP_RETENTION', object_name => 'writer');
			INSERT INTO tap_latency VALUES (t0, extract(epoch FROM clock_timestamp() - t0) * 1000);
			COMMIT;
			PERFORM pg_sleep(0.02);
		END LOOP;
	END
	$$;
});
my $old_part = $node->safe_psql('postgres',
	"SELECT audit_log.partition_name(((now() - interval '120 days') AT TIME ZONE 'UTC')::date)");
is($node->safe_psql('postgres', "SELECT to_regclass('audit_log.$old_part') IS NOT NULL"),
	't', 'the old day has its partition');

my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
is($reader->query_safe("SELECT count(*) FROM audit_log.events WHERE request_time < now() - interval '115 days'"),
	'1', 'a reader holds a transaction open on the old day');

# retention in the background, a writer in the foreground at the same time
my ($ret_out, $ret_err) = ('', '');
my $ret_h = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"SELECT count(*) || '|' || statement_timestamp() || '|' || clock_timestamp() FROM audit_log.apply_retention()"
	],
	'>', \$ret_out, '2>', \$ret_err);
$node->safe_psql('postgres', 'CALL tap_writer(100)');
$ret_h->finish;
chomp $ret_out;
my ($dropped, $ret_start, $ret_end) = split /\|/, $ret_out;
is($dropped, '0', 'retention dropped nothing while the reader held the day');
like($ret_err, qr/WARNING:  audit_log: 1 expired days not dropped now: their locks were busy/,
	'and warned that it will try again');
ok( $node->safe_psql('postgres',
		"SELECT timestamptz '$ret_end' - timestamptz '$ret_start' < interval '5 seconds'"),
	'retention gave up quickly instead of waiting for the reader');
is( $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE t0 < '$ret_end') > 0 AND max(t0) > '$ret_start' FROM tap_latency"),
	't', 'the writer ran while retention ran');
my $worst = $node->safe_psql('postgres', 'SELECT round(max(ms)) FROM tap_latency');
ok($worst < 500, "no log_event waited more than 500 ms (worst: $worst ms)");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.events WHERE event_type = 'TAP_RETENTION' AND object_name = 'writer'"),
	'100', 'every event of the writer is there');
is( $node->safe_psql('postgres',
		"SELECT event_status || ' ' || event_status_reason_code || ' ' || (entry_data->'busy_days'->>0 = ((now() - interval '120 days') AT TIME ZONE 'UTC')::date::text) FROM audit_log.events WHERE event_type = 'RETENTION' ORDER BY logged_time DESC LIMIT 1"),
	'FAILURE 55P03 true', 'the RETENTION event names the busy day');

# a reader of the old partition itself: retention skips that day at once
$reader->query_safe('COMMIT');
$reader->query_safe('BEGIN');
$reader->query_safe("SELECT count(*) FROM audit_log.$old_part");
my $t1 = time();
is($node->safe_psql('postgres', 'SELECT count(*) FROM audit_log.apply_retention()'),
	'0', 'a reader of the partition itself also keeps its day for now');
ok(time() - $t1 < 5, 'and retention did not wait for it');
$reader->query_safe('COMMIT');
$reader->quit;

# once the reader is gone, the next run drops the day
is($node->safe_psql('postgres', 'SELECT day = ((now() - interval \'120 days\') AT TIME ZONE \'UTC\')::date AND rows = 1 FROM audit_log.apply_retention()'),
	't', 'the next run drops the day');
is($node->safe_psql('postgres', "SELECT to_regclass('audit_log.$old_part') IS NULL"),
	't', 'its partition is gone');

$node->stop;
done_testing();
