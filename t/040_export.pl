# Server-side CSV exports: round trip of tricky rows, checksum files,
# refused paths, failures recorded although their transaction rolls back,
# export_command, and scheduled exports run by pg_cron with missed windows
# caught up.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(basename dirname);
use Time::HiRes qw(usleep);

my $root    = PostgreSQL::Test::Utils::tempdir();    # audit_log.export_directory
my $outside = PostgreSQL::Test::Utils::tempdir();    # somewhere else
my $copied  = PostgreSQL::Test::Utils::tempdir();    # export_command target
mkdir "$root/$_" or die "mkdir $root/$_: $!" for qw(sub sched ro);
symlink($outside, "$root/escape") or die "symlink: $!";
chmod 0555, "$root/ro";

my $node = audit_log_node('export',
	cron       => 1,
	conf       => "audit_log.export_directory = '$root'\nmax_worker_processes = 16\n",
	extensions => [ 'audit_log', 'pg_cron' ]);

# Files in a directory, hidden ones (temporary files) included.
sub files_in
{
	my ($dir) = @_;
	opendir(my $dh, $dir) or die "opendir $dir: $!";
	my @f = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
	closedir $dh;
	return @f;
}

sub failures
{
	my ($directory) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.export_runs WHERE status = 'FAILURE' AND directory = '$directory'");
}

# The day three days ago (UTC) holds the tricky rows; all times below are
# relative to it, as UTC text with an explicit offset.
my $d0 = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days', 'YYYY-MM-DD HH24:MI:SS') || '+00'");
my $d1 = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days', 'YYYY-MM-DD HH24:MI:SS') || '+00'");

$node->safe_psql(
	'postgres', qq{
CREATE TABLE tricky_base AS SELECT '$d0'::timestamptz AT TIME ZONE 'UTC' AS b;
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, user_email, object_name, client_addr,
	application_name, database_name, backend_pid, session_id, source_node, entry_data, origin)
SELECT gen_random_uuid(), t.rt, t.rt + interval '1 second', 'ACCESS_SIGMA', 'LOGIN', t.st::audit_log.event_status,
	t.reason, t.u, t.mail, t.obj, t.addr::inet, t.app, 'db,"x"', 4242, 's1', 'node', t.ed::jsonb, 'SERVER'
FROM tricky_base, LATERAL (VALUES
	((b::text || '+00')::timestamptz, 'SUCCESS', NULL, 'comma,user', 'quote"mail', E'line1\\nline2',
	 '2001:db8::1', E'tab\\there', '{"nested": {"a": [1, "two", {"b": null}], "q": "say \\"hi\\"", "bs": "back\\\\slash", "nl": "x\\ny"}}'),
	(((b + interval '10 hours')::text || '+05:30')::timestamptz, 'FAILURE', 'R,1', '', NULL, E'back\\\\slash',
	 '::ffff:192.0.2.1', 'ünïcödé 日本語 🎉', '{}'),
	(((b + interval '3 hours 7 minutes 1.234567 seconds')::text || '-08:00')::timestamptz, 'SUCCESS', NULL, NULL, '"', E'\\\\.',
	 '2001:db8::/32', E'cr\\rlf\\r\\n', '{"u": "\\u00e9\\u263a", "e": "", "n": null}'),
	(timezone('America/St_Johns', b + interval '12 hours 30 minutes'), 'SUCCESS', NULL, ' lead space ', '', 'NULL',
	 NULL, NULL, '{"deep": {"x": {"y": {"z": [[], {}, "a,b\\\\tc"]}}}}'),
	(((b + interval '23:59:59.999999')::text || '+00')::timestamptz, 'FAILURE', '28P01', 'last', 'x\@y', E'quote " and, comma',
	 'fe80::1', 'app', '{"k": "v"}'),
	-- on the next day: outside [d0, d1)
	(((b + interval '1 day')::text || '+00')::timestamptz, 'SUCCESS', NULL, 'next day', NULL, NULL,
	 NULL, NULL, '{}')
) AS t(rt, st, reason, u, mail, obj, addr, app, ed);
-- a few rows on the two days before, for the scheduled export
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, user_name, entry_data, origin)
SELECT gen_random_uuid(), t, t, 'ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'sched_' || i, '{}', 'SERVER'
FROM tricky_base, generate_series(1, 20) AS i,
	LATERAL (SELECT ((b - interval '2 days' + i * interval '143 minutes')::text || '+00')::timestamptz AS t) x;
SELECT audit_log.maintain();
});

my $in_window = $node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.events WHERE request_time >= '$d0' AND request_time < '$d1'");
is($in_window, 5, 'five tricky rows lie in the window');

# --- export in an unusual session zone; the file is in UTC ---
my $res = $node->safe_psql('postgres',
	"SET TimeZone = 'Pacific/Chatham'; SET DateStyle = 'German, DMY';"
	  . " SELECT file || '|' || rows || '|' || bytes || '|' || sha256 FROM audit_log.export_csv('sub', '$d0', '$d1')");
my ($file, $rows, $bytes, $sha) = split /\|/, $res;
ok(-f $file, 'export file exists');
is(dirname($file), "$root/sub", 'file written in the requested directory');
like(basename($file), qr/^audit_log_events_\d{8}T\d{6}Z_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.csv$/, 'file name format');
my $d0c = $d0; $d0c =~ s/[-:]//g; $d0c =~ s/ /T/; $d0c =~ s/\+00$/Z/;
like(basename($file), qr/^audit_log_events_${d0c}_/, 'file name holds from_time in UTC');
is($rows, 5, 'five rows exported');
is(-s $file, $bytes, 'bytes match the file size');
is_deeply([ grep { /^\./ } files_in("$root/sub") ], [], 'no temporary file left');
ok(-f "$file.sha256", 'checksum file exists');
my $sum = `sha256sum '$file'`;
like($sum, qr/^$sha /, 'returned sha256 matches sha256sum');
my $check = system("cd '$root/sub' && sha256sum -c --status '" . basename($file) . ".sha256'");
is($check, 0, 'sha256sum -c verifies the checksum file');
is(slurp_file("$file.sha256"), "$sha  " . basename($file) . "\n", 'checksum file in sha256sum format');

my $content = slurp_file($file);
my ($header) = split /\n/, $content;
is($header,
	'event_id,request_time,logged_time,event_category,event_type,event_status,event_status_reason_code,user_name,user_email,object_name,client_addr,application_name,database_name,backend_pid,session_id,source_node,entry_data,origin',
	'header row names every column');
like($content, qr/\n[0-9a-f-]{36},\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00,/, 'timestamps in ISO 8601 with offset');
like($content, qr/"\{""nested"": \{""a"": \[1, ""two""/, 'jsonb as JSON text, RFC 4180 quoted');
like($content, qr/ünïcödé 日本語 🎉/, 'UTF-8 text as is');

# --- round trip ---
$node->safe_psql('postgres',
	"CREATE TABLE reimport (LIKE audit_log.events); COPY reimport FROM '$file' (FORMAT csv, HEADER);");
is( $node->safe_psql(
		'postgres', qq{
SELECT (SELECT count(*) FROM (SELECT * FROM audit_log.events WHERE request_time >= '$d0' AND request_time < '$d1'
	EXCEPT ALL SELECT * FROM reimport) a) || ',' ||
	(SELECT count(*) FROM (SELECT * FROM reimport EXCEPT ALL
	SELECT * FROM audit_log.events WHERE request_time >= '$d0' AND request_time < '$d1') b) || ',' ||
	(SELECT count(*) FROM reimport)}),
	'0,0,5',
	're-imported rows equal the originals (EXCEPT ALL both ways empty)');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM reimport WHERE user_name = '' AND user_email IS NULL")
	  . ','
	  . $node->safe_psql('postgres', "SELECT count(*) FROM reimport WHERE user_name IS NULL AND user_email = '\"'"),
	'1,1',
	'empty string and NULL stay apart');

is( $node->safe_psql(
		'postgres', qq{
SELECT r.status || ',' || r.rows || ',' || r.bytes || ',' || (r.sha256 = '$sha') || ',' || (r.file = '$file')
	|| ',' || (r.rows = (SELECT count(*) FROM reimport)) || ',' || r.source
	|| ',' || (r.from_time = '$d0') || ',' || (r.to_time = '$d1')
FROM audit_log.export_runs r WHERE r.file = '$file'}),
	"SUCCESS,5,$bytes,true,true,true,events,true,true",
	'export_runs records the run; its row count matches the file');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM audit_log.events
WHERE event_category = 'EXPORTS' AND event_type = 'EXPORT' AND event_status = 'SUCCESS'
	AND entry_data->>'file' = '$file' AND (entry_data->>'rows')::int = 5
	AND entry_data->>'sha256' = '$sha' AND (entry_data->>'bytes')::bigint = $bytes
	AND (entry_data->>'from')::timestamptz = '$d0' AND (entry_data->>'to')::timestamptz = '$d1'
	AND entry_data->>'source' = 'events'}),
	'1',
	'an EXPORTS/EXPORT event describes the run');

# --- an admin who is not a superuser may export; a reader may not ---
$node->safe_psql('postgres',
	"CREATE ROLE tap_admin LOGIN IN ROLE audit_log_admin; CREATE ROLE tap_reader LOGIN IN ROLE audit_log_reader;");
sleep 1;    # the file name holds the second it was written
my $admin_file = $node->safe_psql('postgres', "SELECT file FROM audit_log.export_csv('sub', '$d0', '$d1')",
	extra_params => [ '-U', 'tap_admin' ]);
ok(-f $admin_file, 'a member of audit_log_admin can export');

my @before_sub = files_in("$root/sub");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM audit_log.export_csv('sub', '$d0', '$d1')",
	extra_params => [ '-U', 'tap_reader' ]);
isnt($rc, 0, 'a reader cannot export');
like($err, qr/permission denied to export the audit log/, 'reader: clear error');
like($err, qr/\\copy/, 'reader: hint shows client-side \\copy');
is_deeply([ files_in("$root/sub") ], \@before_sub, 'reader: no file');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM audit_log.export_runs r WHERE r.status = 'FAILURE' AND r.error LIKE 'permission denied%'
	AND EXISTS (SELECT 1 FROM audit_log.events e WHERE e.event_type = 'EXPORT' AND e.event_status = 'FAILURE'
		AND e.user_name = 'tap_reader' AND e.event_status_reason_code = '42501')}),
	'1',
	'reader: FAILURE run and event recorded');

# --- refused paths ---
my @refused = (
	[ '../', qr/outside audit_log.export_directory/, '..' ],
	[ 'sub/../../', qr/outside audit_log.export_directory/, '.. inside a path' ],
	[ $outside, qr/outside audit_log.export_directory/, 'absolute path elsewhere' ],
	[ 'escape', qr/outside audit_log.export_directory/, 'symlink pointing out' ],
	[ 'escape/', qr/outside audit_log.export_directory/, 'symlink with slash' ],
	[ 'nope', qr/export directory "nope" does not exist/, 'non-existent directory' ],
	[ 'ro', qr/could not create export file .*Permission denied/, 'directory without write permission' ],
);
for my $case (@refused)
{
	my ($dir, $re, $what) = @$case;
	my @root_before    = files_in($root);
	my @outside_before = files_in($outside);
	my $fail_before    = failures($dir);
	my ($rc, $out, $err) = $node->psql('postgres',
		"BEGIN; SELECT * FROM audit_log.export_csv('$dir', '$d0', '$d1'); COMMIT;");
	like($err, $re, "$what: clear error");
	is_deeply([ files_in($root) ],    \@root_before,    "$what: nothing new under the export directory");
	is_deeply([ files_in($outside) ], \@outside_before, "$what: nothing written outside");
	is_deeply([ files_in("$root/ro") ], [], "$what: nothing in the read-only directory");
	is(failures($dir), $fail_before + 1, "$what: FAILURE run recorded although the transaction rolled back");
}

# --- exports off ---
$node->append_conf('postgresql.conf', "audit_log.export_directory = ''");
$node->reload;
($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM audit_log.export_csv('sub', '$d0', '$d1')");
like($err, qr/server-side exports are disabled/, 'empty export_directory: exports are off, said clearly');
$node->append_conf('postgresql.conf', "audit_log.export_directory = '$root'");
$node->reload;

# --- cancellation while COPY waits for a lock: no file, FAILURE recorded ---
my $part = $node->safe_psql('postgres', "SELECT audit_log.partition_name(('$d0'::timestamptz AT TIME ZONE 'UTC')::date)");
my $locker = $node->background_psql('postgres');
$locker->query_safe("BEGIN; LOCK audit_log.$part IN ACCESS EXCLUSIVE MODE;");
my $fail_before = failures('sub');
@before_sub = files_in("$root/sub");
($rc, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '1s'; SELECT * FROM audit_log.export_csv('sub', '$d0', '$d1')");
like($err, qr/canceling statement due to statement timeout/, 'cancelled export fails');
$locker->query_safe('COMMIT;');
$locker->quit;
is_deeply([ files_in("$root/sub") ], \@before_sub, 'cancelled export leaves no file (not even a temporary one)');
is(failures('sub'), $fail_before + 1, 'cancelled export recorded as FAILURE');

# --- a backend terminated in the middle of an export removes its temporary file ---
$locker = $node->background_psql('postgres');
$locker->query_safe("BEGIN; LOCK audit_log.$part IN ACCESS EXCLUSIVE MODE;");
my $victim = $node->background_psql('postgres', on_error_stop => 0);
$victim->query_until(qr/started/,
	"\\echo started\nSELECT * FROM audit_log.export_csv('sub', '$d0', '$d1');\n");
my $victim_pid;
for (my $i = 0; $i < 100 && !$victim_pid; $i++)
{
	$victim_pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE '%export_csv(''sub''%' AND wait_event_type = 'Lock'");
	usleep(100_000) if !$victim_pid;
}
ok($victim_pid, 'export waits for its lock');
ok(scalar(grep { /^\..*\.tmp$/ } files_in("$root/sub")) == 1, 'its temporary file exists while it runs');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($victim_pid)");
for (my $i = 0; $i < 100; $i++)
{
	last if $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $victim_pid") eq '0';
	usleep(100_000);
}
eval { $victim->quit; };
$locker->query_safe('COMMIT;');
$locker->quit;
is_deeply([ grep { /^\./ } files_in("$root/sub") ], [], 'terminated export: temporary file removed at exit');

# --- export_command ---
$node->append_conf('postgresql.conf', "audit_log.export_command = 'cp %p $copied/%f'");
$node->reload;
sleep 1;
my $cmd_file = $node->safe_psql('postgres', "SELECT file FROM audit_log.export_csv('sub', '$d0', '$d1')");
ok(-f "$copied/" . basename($cmd_file), 'export_command ran with %p and %f');
is(slurp_file("$copied/" . basename($cmd_file)), slurp_file($cmd_file), 'export_command copied the whole file');

$node->append_conf('postgresql.conf', "audit_log.export_command = 'echo upload of %f refused; exit 3'");
$node->reload;
sleep 1;
($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM audit_log.export_csv('sub', '$d0', '$d1')");
like($err, qr/audit_log.export_command failed/, 'failing export_command: error');
my ($kept) = $err =~ m/failed for "([^"]+)"/;
ok(defined $kept && -f $kept && -f "$kept.sha256", 'failing export_command: the file and its checksum stay');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM audit_log.export_runs WHERE status = 'FAILURE' AND file = '$kept'
	AND error LIKE '%exit code 3%' AND error LIKE '%upload of audit_log_events_%refused%'}),
	'1',
	'failing export_command: FAILURE with exit status and output');
$node->append_conf('postgresql.conf', "audit_log.export_command = ''");
$node->reload;

# --- daily_login_activity (from the analytics part, when present) ---
my $has_dla = $node->safe_psql('postgres',
	"SELECT to_regprocedure('audit_log.daily_login_activity(date,date,text)') IS NOT NULL OR to_regprocedure('audit_log.daily_login_activity(date,date,text,boolean)') IS NOT NULL");
sleep 1;
if ($has_dla eq 't')
{
	my $dla = $node->safe_psql('postgres',
		"SELECT file || '|' || rows FROM audit_log.export_csv('sub', '$d0'::timestamptz - interval '48 hours', '$d1', 'daily_login_activity')");
	my ($dfile, $drows) = split /\|/, $dla;
	is($drows, 3, 'daily_login_activity: one row per complete UTC day');
	like(basename($dfile), qr/^audit_log_daily_login_activity_/, 'daily_login_activity: file name');
	my @lines = split /\n/, slurp_file($dfile);
	is($lines[0], 'day,success,failure', 'daily_login_activity: header');
	is(scalar(@lines), 4, 'daily_login_activity: header and three days');
}
else
{
	($rc, $out, $err) = $node->psql('postgres',
		"SELECT * FROM audit_log.export_csv('sub', '$d0', '$d1', 'daily_login_activity')");
	like($err, qr/export source "daily_login_activity" is not available/,
		'daily_login_activity missing: clear error');
}

# --- scheduled exports ---
($rc, $out, $err) = $node->psql('postgres',
	"CREATE DATABASE nocron; ");
$node->safe_psql('nocron', 'CREATE EXTENSION audit_log');
($rc, $out, $err) = $node->psql('nocron', "SELECT audit_log.schedule_export('x', '* * * * *', 'sched')");
like($err, qr/pg_cron is not installed in this database/, 'schedule_export without pg_cron: clear error');
like($err, qr/HINT:.*shared_preload_libraries/, 'schedule_export without pg_cron: hint');

# A first run, as the job would do it: every complete day from the oldest
# event up to yesterday.
my $today = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS') || '+00'");
my $first = $node->safe_psql('postgres',
	"SELECT audit_log._scheduled_export('tapjob', 'sched', 'events', '1 day')");
my $ndays = $node->safe_psql('postgres',
	"SELECT (extract(epoch FROM '$today'::timestamptz - (date_trunc('day', min(request_time) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')) / 86400)::int FROM audit_log.events");
is($first, $ndays, 'first run exports every complete day since the oldest event');
is($node->safe_psql('postgres', "SELECT audit_log._scheduled_export('tapjob', 'sched', 'events', '1 day')"),
	'0', 'an immediate second run finds nothing to do');

# Simulate two missed runs: forget the last two windows and their files.
my @gone = split /\n/, $node->safe_psql('postgres',
	"DELETE FROM audit_log.export_runs WHERE job_name = 'tapjob' AND from_time >= '$today'::timestamptz - interval '48 hours' RETURNING file");
is(scalar(@gone), 2, 'two windows moved back');
unlink($_, "$_.sha256") for @gone;

my $jobid = $node->safe_psql('postgres', "SELECT audit_log.schedule_export('tapjob', '* * * * *', 'sched')");
like($jobid, qr/^\d+$/, 'schedule_export returns the pg_cron job id');
is( $node->safe_psql('postgres', "SELECT jobname || ' ' || schedule FROM cron.job WHERE jobid = $jobid"),
	'audit_log_export_tapjob * * * * *',
	'pg_cron job named audit_log_export_<job_name>');

# Wait for pg_cron to run it (at the next minute).
my $caught_up = 0;
for (my $i = 0; $i < 150; $i++)
{
	my $n = $node->safe_psql('postgres',
		"SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed')");
	if ($n > 0) { $caught_up = 1; last; }
	sleep 1;
}
ok($caught_up, 'pg_cron ran the export job');
is( $node->safe_psql('postgres',
		"SELECT status FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid LIMIT 1"),
	'succeeded',
	'the job succeeded');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.export_runs WHERE job_name = 'tapjob' AND status = 'SUCCESS' AND from_time >= '$today'::timestamptz - interval '48 hours'"),
	'2',
	'the missed windows were caught up');

# No gap, no overlap, never the open day; the union is the table, each row once.
is( $node->safe_psql(
		'postgres', qq{
WITH r AS (SELECT from_time, to_time, lag(to_time) OVER (ORDER BY from_time) AS prev
		   FROM audit_log.export_runs WHERE job_name = 'tapjob' AND status = 'SUCCESS')
SELECT count(*) FILTER (WHERE prev IS NOT NULL AND prev <> from_time) || ',' ||
	count(*) FILTER (WHERE to_time - from_time <> interval '1 day') || ',' ||
	count(*) FILTER (WHERE (from_time AT TIME ZONE 'UTC')::time <> '00:00') || ',' ||
	(max(to_time) = '$today') || ',' || count(*)
FROM r}),
	"0,0,0,true,$ndays",
	'windows are whole UTC days, contiguous, up to the start of today');

my @sched_files = split /\n/, $node->safe_psql('postgres',
	"SELECT file FROM audit_log.export_runs WHERE job_name = 'tapjob' AND status = 'SUCCESS' ORDER BY from_time");
$node->safe_psql('postgres', 'CREATE TABLE union_rows (LIKE audit_log.events)');
for my $f (@sched_files)
{
	ok(-f $f && system("cd '" . dirname($f) . "' && sha256sum -c --status '" . basename($f) . ".sha256'") == 0,
		'scheduled file ' . basename($f) . ' exists and verifies');
	$node->safe_psql('postgres', "COPY union_rows FROM '$f' (FORMAT csv, HEADER)");
}
is( $node->safe_psql(
		'postgres', qq{
WITH w AS (SELECT min(from_time) AS lo, max(to_time) AS hi FROM audit_log.export_runs
		   WHERE job_name = 'tapjob' AND status = 'SUCCESS'),
	t AS (SELECT e.* FROM audit_log.events e, w WHERE e.request_time >= w.lo AND e.request_time < w.hi)
SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT ALL SELECT * FROM union_rows) a) || ',' ||
	(SELECT count(*) FROM (SELECT * FROM union_rows EXCEPT ALL SELECT * FROM t) b) || ',' ||
	(SELECT count(*) - count(DISTINCT event_id) FROM union_rows) || ',' ||
	(SELECT count(*) FROM union_rows)}),
	'0,0,0,26',
	'union of the scheduled exports equals the table, each row once');

is($node->safe_psql('postgres', "SELECT audit_log.unschedule_export('tapjob')"), 't', 'unschedule_export');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobname = 'audit_log_export_tapjob'"),
	'0', 'the pg_cron job is gone');

# --- seal digests of the covered days, when audit_log.seals exists ---
if ($node->safe_psql('postgres', "SELECT to_regclass('audit_log.seals') IS NULL") eq 't')
{
	# The seal feature is not part of this build: stand in for its table.
	$node->safe_psql('postgres', qq{
CREATE TABLE audit_log.seals (day date PRIMARY KEY, rows bigint, digest text, previous_digest text, sealed_at timestamptz);
INSERT INTO audit_log.seals VALUES
	(('$d0'::timestamptz AT TIME ZONE 'UTC')::date, 5, 'digest-d0', NULL, now()),
	(('$d1'::timestamptz AT TIME ZONE 'UTC')::date, 1, 'digest-d1', 'digest-d0', now());
});
	sleep 1;
	my $sf = $node->safe_psql('postgres', "SELECT file FROM audit_log.export_csv('sub', '$d0', '$d1')");
	is( $node->safe_psql('postgres',
			"SELECT seal_digests = jsonb_build_object((('$d0'::timestamptz AT TIME ZONE 'UTC')::date)::text, 'digest-d0') FROM audit_log.export_runs WHERE file = '$sf'"),
		't',
		'seal_digests holds the digests of the sealed days the window covers');
	$node->safe_psql('postgres', 'DROP TABLE audit_log.seals');
}
else
{
	note('audit_log.seals belongs to the seal feature here; its digests are tested there');
}

$node->stop;
done_testing();
