# audit_log.synchronous and audit_log.on_failure (issue 16): with
# synchronous on, a client gets its answer only once its event is committed
# in audit_log.events; with on_failure = fail, a login or administrative
# command that cannot be recorded within queue_wait is refused, except
# that a superuser over the local Unix socket can still get in.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

# A long flush_interval: without synchronous capture, an event is not in
# the table for 10 seconds; with it, at once.
my $node = scram_node('sync', "audit_log.flush_interval = '10s'\naudit_log.queue_wait = '500ms'\n");
$node->safe_psql('postgres', q{
CREATE ROLE regress_sync LOGIN PASSWORD 'right-one';
GRANT audit_log_reader TO regress_sync;
});

# One psql over TCP (password) or the Unix socket; returns (ok, stdout, stderr).
sub client
{
	my (%a) = @_;
	local $ENV{PGPASSWORD} = $a{password} // 'right-one';
	my $conn = $a{local}
	  ? 'host=' . $node->host . ' port=' . $node->port
	  : 'host=127.0.0.1 port=' . $node->port;
	$conn .= " user=" . ($a{user} // 'regress_sync') . " dbname=postgres application_name=$a{app}";
	my ($out, $err) = ('', '');
	# each statement its own -c: its own transaction
	my @c = map { ('-c', $_) } @{ ref $a{sql} ? $a{sql} : [ $a{sql} // 'SELECT 1' ] };
	my $ok = IPC::Run::run([ 'psql', '-X', '-Atq', '-w', '-v', 'ON_ERROR_STOP=0', '-d', $conn, @c ],
		'<', \undef, '>', \$out, '2>', \$err);
	chomp $out;
	return ($ok, $out, $err);
}

sub rows
{
	my ($where) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(concat_ws('|', event_type, event_status, event_status_reason_code), ';' ORDER BY event_type, event_status) FROM audit_log.events WHERE $where");
}

sub set_conf
{
	my ($sql) = @_;
	$node->safe_psql('postgres', "$sql; SELECT pg_reload_conf()");
	# the writer (and new backends) have seen the reload once a flush passes
	$node->safe_psql('postgres', "SELECT audit_log.flush('15 s')");
}

# --- synchronous = off (1.0 behaviour): the row comes later ---
$node->safe_psql('postgres', "SELECT audit_log.flush('15 s')");
my (undef, undef, $err) = client(app => 'off-fail', password => 'wrong-one');
like($err, qr/password authentication failed/, 'synchronous off: a failed login');
is(rows("application_name = 'off-fail'"), '', 'synchronous off: the client has its FATAL before the row is written');

# --- synchronous = on ---
set_conf("ALTER SYSTEM SET audit_log.synchronous = on");
is($node->safe_psql('postgres', "SELECT synchronous, on_failure FROM audit_log.status"), 't|continue',
	'audit_log.status shows the modes');

(undef, undef, $err) = client(app => 'on-fail', password => 'wrong-one');
like($err, qr/password authentication failed/, 'synchronous on: a failed login');
is(rows("application_name = 'on-fail'"), 'LOGIN|FAILURE|INVALID_PASSWORD',
	'synchronous on: when the client gets its FATAL, the LOGIN FAILURE row is visible to another session');

(my $ok, my $out, $err) = client(app => 'on-ok',
	sql => "SELECT count(*) FROM audit_log.events WHERE application_name = 'on-ok' AND event_type = 'LOGIN'");
is($out, '1', 'synchronous on: the first query of a session already sees its LOGIN SUCCESS row');

($ok, $out, $err) = client(app => 'on-admin', local => 1, user => 'postgres', sql => [
	'CREATE ROLE regress_sync_new',
	"SELECT count(*) FROM audit_log.events WHERE object_name = 'regress_sync_new' AND event_status = 'SUCCESS'",
	'CREATE ROLE regress_sync_new',
	"SELECT string_agg(event_status_reason_code, ',') FROM audit_log.events WHERE object_name = 'regress_sync_new' AND event_status = 'FAILURE'",
	'DROP ROLE regress_sync_new' ]);
is($out, "1\n42710", 'synchronous on: CREATE ROLE returns once its SUCCESS row is visible; a failed one once its FAILURE row is');
like($err, qr/already exists/, 'the second CREATE ROLE failed');

# group commit: 20 concurrent sessions, all answered, every row there
my @h;
for my $i (1 .. 20)
{
	my ($o, $e) = ('', '');
	local $ENV{PGPASSWORD} = 'wrong-one';
	push @h, IPC::Run::start([ 'psql', '-X', '-w', '-d',
		"host=127.0.0.1 port=" . $node->port . " user=regress_sync dbname=postgres application_name=group-$i",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$o, '2>', \$e);
}
$_->finish for @h;
is($node->safe_psql('postgres', "SELECT count(*) FROM audit_log.events WHERE application_name LIKE 'group-%'"),
	'20', 'synchronous on: 20 concurrent failed logins, each row there when its client was answered');

# --- on_failure = fail, with the writer paused ---
set_conf("ALTER SYSTEM SET audit_log.on_failure = 'fail'");
is($node->safe_psql('postgres', "SELECT on_failure FROM audit_log.status"), 'fail', 'status shows on_failure');
$node->safe_psql('postgres', "SELECT audit_log.pause_writer(true)");

($ok, $out, $err) = client(app => 'refused-login');
like($err, qr/login refused: audit_log cannot record it/, 'on_failure = fail: a login that cannot be recorded is refused');
($ok, $out, $err) = client(app => 'refused-local', local => 1);
like($err, qr/login refused/, 'on_failure = fail: also a non-superuser over the local socket');

my $log_offset = -s $node->logfile;
($ok, $out, $err) = client(app => 'admin-way-in', local => 1, user => 'postgres',
	sql => "SELECT current_user");
is($out, 'postgres', 'on_failure = fail: a superuser over the local Unix socket still gets in');
ok($node->log_contains('superuser "postgres" let in over the local socket although its login could not be recorded', $log_offset),
	'... and the server log says so');

($ok, $out, $err) = client(app => 'refused-admin', local => 1, user => 'postgres',
	sql => "CREATE ROLE regress_sync_refused");
like($err, qr/command refused: audit_log cannot record it/, 'on_failure = fail: CREATE ROLE that cannot be recorded is refused');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname = 'regress_sync_refused'"),
	'0', '... and the role does not exist');

# repair: resume the writer; everything is recorded
$node->safe_psql('postgres', "SELECT audit_log.pause_writer(false)");
($ok, $out, $err) = client(app => 'after-repair');
is($out, '1', 'after the repair logins work again');
$node->safe_psql('postgres', "SELECT audit_log.flush('15 s')");
is(rows("application_name IN ('refused-login', 'refused-local')"), 'LOGIN|FAILURE|58000;LOGIN|FAILURE|58000',
	'the refused logins are recorded as FAILURE 58000');
is($node->safe_psql('postgres', "SELECT string_agg(event_status || '|' || event_status_reason_code, ',') FROM audit_log.events WHERE object_name = 'regress_sync_refused'"), 'FAILURE|58000',
	'the refused CREATE ROLE is recorded as FAILURE 58000');
is(rows("application_name = 'admin-way-in' AND event_type = 'LOGIN'"), 'LOGIN|SUCCESS',
	'the administrator\'s login is recorded too, once the writer writes');
is($node->safe_psql('postgres', "SELECT count(*) FROM audit_log.capture_intents"), '0',
	'no intent is left');

# both settings' changes are SETTINGS_CHANGE events
is($node->safe_psql('postgres', q{
SELECT string_agg(DISTINCT object_name, ',' ORDER BY object_name) FROM audit_log.events
WHERE event_type = 'SETTINGS_CHANGE' AND object_name IN ('audit_log.synchronous', 'audit_log.on_failure')}),
	'audit_log.on_failure,audit_log.synchronous', 'both settings\' changes are SETTINGS_CHANGE events');

$node->stop;
done_testing();
