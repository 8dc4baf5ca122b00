# The update path: version 1.0 is frozen; a server running the new library
# with the extension still at 1.0 keeps capturing and says an update is
# pending; ALTER EXTENSION audit_log UPDATE keeps every event, seal and
# export run, verify stays ok, and the updated schema equals a fresh install
# of the default version, object by object (t/schema_snapshot.sql).
use strict;
use warnings;
use Digest::SHA;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;

# 1.0 is frozen: the script in the tree and the installed one are the
# released bytes.
open my $fh, '<', 'test/frozen.sha256' or die "test/frozen.sha256: $!";
my ($frozen) = split /\s+/, scalar <$fh>;
close $fh;
is(Digest::SHA->new(256)->addfile('audit_log--1.0.sql')->hexdigest,
	$frozen, 'audit_log--1.0.sql is the released 1.0 script (test/frozen.sha256)');

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
is(Digest::SHA->new(256)->addfile("$sharedir/extension/audit_log--1.0.sql")->hexdigest,
	$frozen, 'the installed 1.0 script is the released one');

my $exportdir = tempdir(CLEANUP => 1);
chmod 0777, $exportdir;

# Captured events go to database "trail", where the extension is installed
# at 1.0; database postgres gets a fresh install of the default version.
my $node = scram_node('update', qq{
audit_log.database = 'trail'
audit_log.flush_interval = '20ms'
audit_log.seal_delay = -1
audit_log.export_directory = '$exportdir'
});
my $default = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'audit_log'});
is($default, '1.1', 'the default version is 1.1');
like(
	$node->safe_psql('postgres',
		q{SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'audit_log'}),
	qr/^1\.0,1\.1$/, 'versions 1.0 and 1.1 are available');

$node->safe_psql('postgres', 'CREATE DATABASE trail');
$node->safe_psql('trail', q{CREATE EXTENSION audit_log VERSION '1.0'});
$node->safe_psql('trail', q{
CREATE ROLE regress_upd_alice LOGIN PASSWORD 'upd-Secret-123';
GRANT audit_log_writer TO regress_upd_alice;
});
my $log_offset = -s $node->logfile;
$node->restart;

# The writer says, once, that the extension waits for its update.
ok( $node->wait_for_log(
		qr/WARNING:  audit_log: extension "audit_log" is at version 1\.0, the loaded library is version 1\.1/,
		$log_offset),
	'the writer warns that the extension is at 1.0 and the library at 1.1');
like(slurp_file($node->logfile, $log_offset),
	qr/HINT:  Run ALTER EXTENSION audit_log UPDATE in database "trail"\./,
	'the hint names the command and the database');

# Capture goes on under the 1.0 schema: a real login over TCP, a failed
# one, administrative commands, application events on past days.
my $connstr = $node->connstr('trail') . ' host=127.0.0.1 user=regress_upd_alice';
$node->safe_psql('trail', 'SELECT 1', connstr => "$connstr password=upd-Secret-123");
my ($rc) = $node->psql('trail', 'SELECT 1', connstr => "$connstr password=wrong-Secret-999");
isnt($rc, 0, 'a wrong password is refused');
$node->safe_psql('trail', q{
CREATE ROLE regress_upd_team;
GRANT regress_upd_team TO regress_upd_alice;
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'SUCCESS',
	user_email => 'app-user-' || i || '@example.com',
	request_time => now() - interval '1 day' * (1 + i % 3) - interval '1 minute' * i))
FROM generate_series(1, 30) i;
});
$node->safe_psql('trail', q{SELECT audit_log.flush('10 seconds')});
is( $node->safe_psql(
		'trail', q{
SELECT string_agg(DISTINCT event_type || '/' || event_status, ',' ORDER BY event_type || '/' || event_status)
FROM audit_log.events
WHERE user_name = 'regress_upd_alice' OR object_name LIKE 'regress_upd_%'}),
	'CREATE_TEAM/SUCCESS,CREATE_USER/SUCCESS,GRANT_MEMBERSHIP/SUCCESS,LOGIN/FAILURE,LOGIN/SUCCESS,LOGOUT/SUCCESS,PASSWORD_CHANGE/SUCCESS',
	'the new library captures logins, failed logins and role changes into a 1.0 schema');

# Partitions, seals and an export under 1.0.
$node->safe_psql('trail', q{
SELECT audit_log.maintain();
SELECT audit_log.seal(d::date)
FROM generate_series((now() AT TIME ZONE 'UTC')::date - 4, (now() AT TIME ZONE 'UTC')::date - 1, '1 day') d;
});
$node->safe_psql('trail', qq{
SELECT count(*) FROM audit_log.export_csv('$exportdir', now() - interval '5 days', now() - interval '1 day')});
# the columns of 1.0 (1.1 adds events.origin and seals.format_version)
my $state_sql = q{
SELECT (SELECT count(*) || ':' || md5(string_agg(row(e.event_id, e.request_time, e.logged_time,
			e.event_category, e.event_type, e.event_status, e.event_status_reason_code, e.user_name,
			e.user_email, e.object_name, e.client_addr, e.application_name, e.database_name,
			e.backend_pid, e.session_id, e.source_node, e.entry_data)::text, E'\n' ORDER BY event_id))
		FROM audit_log.events e WHERE request_time < now() - interval '12 hours')
	|| ' seals ' || (SELECT count(*) || ':' || md5(string_agg(row(s.day, s.rows, s.digest,
			s.previous_digest, s.sealed_at)::text, E'\n' ORDER BY day)) FROM audit_log.seals s)
	|| ' exports ' || (SELECT count(*) || ':' || md5(string_agg(x::text, E'\n' ORDER BY run_id)) FROM audit_log.export_runs x)
	|| ' all ' || (SELECT count(*) FROM audit_log.events)};
my $before = $node->safe_psql('trail', $state_sql);
like($before, qr/^30:\w+ seals 4:\w+ exports 1:\w+ all \d+$/,
	'30 past events, 4 seals and 1 export run before the update');

# The update.
$node->safe_psql('trail', 'ALTER EXTENSION audit_log UPDATE');
is($node->safe_psql('trail', q{SELECT extversion FROM pg_extension WHERE extname = 'audit_log'}),
	'1.1', 'the extension is at 1.1 after ALTER EXTENSION UPDATE');

my $after = $node->safe_psql('trail', $state_sql);
my ($past_before) = $before =~ /^(.* exports \S+)/;
my ($past_after)  = $after  =~ /^(.* exports \S+)/;
is($past_after, $past_before, 'every event, seal and export run is still there, unchanged');
my ($all_before) = $before =~ / all (\d+)$/;
my ($all_after)  = $after  =~ / all (\d+)$/;
cmp_ok($all_after, '>=', $all_before, 'no event was lost by the update');
is( $node->safe_psql(
		'trail', q{
SELECT count(*) FILTER (WHERE ok) || '/' || count(*)
FROM audit_log.verify((now() AT TIME ZONE 'UTC')::date - 4, (now() AT TIME ZONE 'UTC')::date - 1)}),
	'4/4', 'verify is ok on every sealed day after the update');
is( $node->safe_psql(
		'trail', q{
SELECT (SELECT string_agg(DISTINCT origin::text, ',') FROM audit_log.events
		WHERE request_time < now() - interval '12 hours')
	|| ' ' || (SELECT string_agg(DISTINCT format_version::text, ',') FROM audit_log.seals)}),
	'APPLICATION 1',
	'rows from before the update are origin APPLICATION, and their seals format 1');
is( $node->safe_psql('trail',
		q{SELECT extension_version || ' ' || library_version || ' ' || update_pending FROM audit_log.status}),
	'1.1 1.1 false', 'status shows both versions and no pending update');

# The updated schema equals a fresh install, object by object.
my $snapshot = sub {
	my ($db) = @_;
	my ($stdout, $stderr) = ('', '');
	$node->psql($db, undef, extra_params => [ '-f', 't/schema_snapshot.sql' ],
		stdout => \$stdout, stderr => \$stderr, on_error_die => 1);
	return $stdout;
};
my $fresh   = $snapshot->('postgres');
my $updated = $snapshot->('trail');
cmp_ok(scalar(split /\n/, $fresh), '>', 400, 'the snapshot lists the objects of the extension');
like($fresh, qr/^function audit_log\.countif\(boolean,boolean,boolean,boolean,boolean,boolean,boolean,boolean\)/m,
	'the snapshot holds function definitions (countif of 8 conditions)');
like($fresh, qr/^config_dump audit_log\.events_default /m, 'the snapshot holds the config-dump registrations');
if ($fresh eq $updated)
{
	pass('1.0 + ALTER EXTENSION UPDATE equals a fresh install of 1.1');
}
else
{
	my %f = map { $_ => 1 } split /\n/, $fresh;
	my %u = map { $_ => 1 } split /\n/, $updated;
	diag("only in fresh: $_") for grep { !$u{$_} } sort keys %f;
	diag("only in updated: $_") for grep { !$f{$_} } sort keys %u;
	fail('1.0 + ALTER EXTENSION UPDATE equals a fresh install of 1.1');
}

# Capture goes on after the update.
$node->safe_psql('trail', 'SELECT 1', connstr => "$connstr password=upd-Secret-123");
$node->safe_psql('trail', q{SELECT audit_log.flush('10 seconds')});
is( $node->safe_psql(
		'trail', q{
SELECT count(*) FROM audit_log.events
WHERE user_name = 'regress_upd_alice' AND event_type = 'LOGIN' AND event_status = 'SUCCESS'}),
	'2', 'logins are captured after the update');

# No secret in any row or log line.
my $rows = $node->safe_psql('trail', q{SELECT string_agg(e::text, E'\n') FROM audit_log.events e});
unlike($rows . slurp_file($node->logfile), qr/upd-Secret-123|wrong-Secret-999|queued-Wrong/,
	'no password in any event or server-log line');

# A queue saved by the 1.0 library (a package upgrade, then a restart) is
# loaded by this one: its records are the 1.0 layout, shorter (1,984 bytes
# on 64-bit platforms), with the fields up to entry_data where they are now.
# The saved file of this library is rewritten into that form.
$node->safe_psql('trail', 'SELECT audit_log.pause_writer(true)');
for my $i (1 .. 3)
{
	$node->psql('trail', 'SELECT 1', connstr => "$connstr password=queued-Wrong-$i");
}
$node->stop('fast');
my $qfile = $node->data_dir . '/pg_stat/audit_log.queue';
open my $qin, '<:raw', $qfile or die "$qfile: $!";
my $qdata = do { local $/; <$qin> };
close $qin;
my ($magic, $qversion, $recsize, $count) = unpack('L4', $qdata);
my $size_1_0 = 1984;
cmp_ok($count, '>=', 3, 'the stopped server saved the queued failed logins');
my $old = pack('L4', $magic, $qversion, $size_1_0, $count);
for my $k (0 .. $count - 1)
{
	$old .= substr($qdata, 16 + $k * $recsize, $size_1_0);
}
open my $qout, '>:raw', $qfile or die "$qfile: $!";
print $qout $old;
close $qout;
$node->start;
$node->safe_psql('trail', q{SELECT audit_log.flush('10 seconds')});
is( $node->safe_psql(
		'trail', q{
SELECT count(*) FROM audit_log.events
WHERE user_name = 'regress_upd_alice' AND event_type = 'LOGIN' AND event_status = 'FAILURE'}),
	'4', 'the failed logins saved in the 1.0 queue format are written after the start');
unlike(
	$node->safe_psql('trail', q{SELECT string_agg(e::text, E'\n') FROM audit_log.events e})
	  . slurp_file($node->logfile),
	qr/queued-Wrong/, 'no password of the queued attempts in any row or log line');

$node->stop;
done_testing();
