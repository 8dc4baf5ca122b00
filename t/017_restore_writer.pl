# A plain restore loses nothing: a database whose events maintain() moved
# into day partitions is dumped (custom, directory and plain formats) and
# restored, without --single-transaction, into fresh preloaded servers whose
# writer runs and writes the events captured during the restore (its own
# logins, and a client logging in meanwhile).  pg_restore and psql exit 0,
# every dumped event is back (same count, same md5 over all rows in event_id
# order), no day table is left detached, and the events captured during the
# restore are kept too.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $src = audit_log_node('src');
$src->safe_psql('postgres', q{
SELECT audit_log.maintain();
SELECT audit_log.register_event_type('EXPORTS', 'TAP_DOWNLOAD', 'a download');
SELECT audit_log.log_event('EXPORTS', 'TAP_DOWNLOAD', 'SUCCESS', object_name => 'o' || i,
	request_time => now() - (i % 40) * interval '1 day' - i * interval '1 second',
	entry_data => jsonb_build_object('i', i))
FROM generate_series(1, 2000) i;
});
# logins of today, through the writer
$src->safe_psql('postgres', 'SELECT 1') for 1 .. 20;
$src->safe_psql('postgres', q{SELECT audit_log.flush('30 s'); SELECT audit_log.maintain();});
# one more in the default partition, of a day without a partition
$src->safe_psql('postgres', q{
SELECT audit_log.log_event('EXPORTS', 'TAP_DOWNLOAD', 'FAILURE', reason_code => 'OLD',
	request_time => now() - interval '400 days');
SELECT audit_log.flush('30 s');
});

# from here on the source's table stays as dumped: the logins of pg_dump stay queued
$src->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)');

my $fp_cols = q{count(*) || ':' || md5(string_agg(e::text, '|' ORDER BY event_id))};
my $before = $src->safe_psql('postgres', "SELECT $fp_cols FROM audit_log.events e");
like($before, qr/^20[2-9][0-9]:/, 'over 2,020 events before the dump');
ok($src->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_log.events'::regclass}) > 40,
	'the events sit in more than 40 day partitions');
is($src->safe_psql('postgres', 'SELECT count(*) FROM ONLY audit_log.events_default'), '1',
	'one event waits in the default partition');

my $dir = $src->basedir;
$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('postgres'), '-f', "$dir/db.dump" ], 'pg_dump -Fc');
$src->command_ok([ 'pg_dump', '-Fd', '-d', $src->connstr('postgres'), '-f', "$dir/db.dir" ], 'pg_dump -Fd');
$src->command_ok([ 'pg_dump', '-d', $src->connstr('postgres'), '-f', "$dir/db.sql" ], 'pg_dump plain');

# Restore into a fresh preloaded server while a client logs in.
sub restore_into
{
	my ($name, @cmd) = @_;
	my $dst = audit_log_node($name, extensions => [], conf => "audit_log.flush_interval = '10ms'\n");
	my $port = $dst->port;
	my $host = $dst->host;
	my $logins = IPC::Run::start([ 'bash', '-c', qq{
for i in \$(seq 1 400); do psql -X -w -A -t -d "host=$host port=$port dbname=postgres application_name=during-restore" -c 'SELECT 1' >/dev/null 2>&1; done} ]);
	# let the writer see logins queued before the extension exists
	sleep 1;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ @cmd, '-d', $dst->connstr('postgres') ], '>', \$out, '2>', \$err);
	$logins->finish;
	ok($ok, "$name: the restore exits 0") or diag($err);
	unlike($err, qr/ERROR/, "$name: the restore printed no error");
	is($dst->safe_psql('postgres', q{SELECT audit_log.flush('30 s')}), 't', "$name: queue flushed");
	is($dst->safe_psql('postgres', "SELECT $fp_cols FROM audit_log.events e WHERE source_node = 'src'"),
		$before, "$name: every dumped event is back, the same");
	is($dst->safe_psql('postgres', q{
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'audit_log' AND c.relname LIKE 'events_p%' AND c.relkind = 'r' AND NOT c.relispartition}),
		'0', "$name: no day table is left detached");
	my ($written, $dropped) = split /\|/, $dst->safe_psql('postgres', 'SELECT written, dropped FROM audit_log.status');
	ok($written > 400, "$name: the writer wrote the logins of the restore ($written)");
	ok($dst->safe_psql('postgres', qq{SELECT count(*) FROM audit_log.events WHERE source_node = '$name'}) >= $written,
		"$name: every event the writer wrote during the restore is visible");
	is($dst->safe_psql('postgres', q{SELECT count(*) FROM audit_log.events
		WHERE event_type = 'LOGIN' AND application_name = 'during-restore'}),
		'400', "$name: every login during the restore is a row");
	is($dropped, '0', "$name: nothing dropped");
	my $log = slurp_file($dst->logfile);
	unlike($log, qr/would be violated|violates partition constraint/, "$name: no partition error in the server log");
	$dst->stop;
}

restore_into('dst_fc', 'pg_restore', "$dir/db.dump");
restore_into('dst_fd', 'pg_restore', "$dir/db.dir");
restore_into('dst_sql', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/db.sql");

$src->stop;
done_testing();
