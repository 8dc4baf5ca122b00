# Login capture with real authentication: scram-sha-256 over TCP and a
# pg_hba.conf with a reject line.  Every reason code is produced by a real
# libpq connection attempt and must appear exactly once, with the right base
# data; a session gives LOGIN SUCCESS and LOGOUT with its duration; a client
# that hangs up at the password prompt is counted, not recorded; the
# password never appears in the table or in our log lines.  Finally the same
# server without the preloaded library: flush() fails with a hint and status
# says preloaded = false.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use Time::HiRes qw(usleep);

my $secret = 'Xy-secret-9c1f3a';

# The harness connects through the Unix socket (trust); TCP needs a password,
# regress_rejected is refused by a reject line, and the database
# regress_nohba has no line at all.
my $node = audit_log_node('login',
	init  => { extra => [ '--encoding=UTF8', '--locale=C' ] },
	scram => 1,
	conf  => "audit_log.flush_interval = '20ms'\nlog_connections = off\n",
	hba   => "local all all trust\n"
	  . "host all regress_rejected 127.0.0.1/32 reject\n"
	  . "host postgres,regress_noconn,regress_nodb all 127.0.0.1/32 scram-sha-256\n");

$node->safe_psql('postgres', qq{
CREATE ROLE regress_alice LOGIN PASSWORD '$secret';
CREATE ROLE regress_nologin NOLOGIN PASSWORD '$secret';
CREATE ROLE regress_expired LOGIN PASSWORD '$secret' VALID UNTIL '2000-01-01';
CREATE ROLE regress_limited LOGIN PASSWORD '$secret' CONNECTION LIMIT 0;
CREATE ROLE regress_rejected LOGIN PASSWORD '$secret';
CREATE DATABASE regress_noconn;
REVOKE CONNECT ON DATABASE regress_noconn FROM PUBLIC;
});

# One connection attempt over TCP; the password travels in PGPASSWORD only.
sub attempt
{
	my ($user, $password, $db, $app, $sql) = @_;
	local $ENV{PGPASSWORD} = $password;
	local $ENV{PGAPPNAME};
	my ($out, $err) = ('', '');
	my @cmd = (
		'psql', '-X', '-w', '-A', '-t',
		'-d', "host=127.0.0.1 port=" . $node->port . " user=$user dbname=$db application_name=$app",
		'-c', $sql // 'SELECT 1');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	return $err;
}

sub flush
{
	is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() returns true');
}

# The LOGIN rows of one attempt, as "status|reason|user|db|addr|method".
sub login_rows
{
	my ($app) = @_;
	return $node->safe_psql('postgres', qq{
SELECT string_agg(concat_ws('|', event_status, coalesce(event_status_reason_code, '-'),
		user_name, database_name, host(client_addr), entry_data->>'auth_method',
		entry_data->>'ssl', event_category, session_id IS NOT NULL,
		backend_pid IS NOT NULL, source_node IS NOT NULL), ';')
FROM audit_log.events WHERE event_type = 'LOGIN' AND application_name = '$app'});
}

my @cases = (
	# user, password, database, expected reason, client message
	[ 'regress_alice', 'wrong-password', 'postgres', 'INVALID_PASSWORD', qr/password authentication failed/ ],
	[ 'regress_nobody', $secret, 'postgres', 'ROLE_NOT_FOUND', qr/password authentication failed/ ],
	[ 'regress_rejected', $secret, 'postgres', 'HBA_REJECT', qr/pg_hba.conf rejects connection/ ],
	[ 'regress_alice', $secret, 'regress_nohba', 'HBA_REJECT', qr/no pg_hba.conf entry/ ],
	[ 'regress_nologin', $secret, 'postgres', 'LOGIN_NOT_ALLOWED', qr/not permitted to log in/ ],
	[ 'regress_expired', $secret, 'postgres', 'PASSWORD_EXPIRED', qr/password authentication failed/ ],
	[ 'regress_alice', $secret, 'regress_nodb', 'DATABASE_NOT_FOUND', qr/does not exist/ ],
	[ 'regress_limited', $secret, 'postgres', 'TOO_MANY_CONNECTIONS', qr/too many connections/ ],
	[ 'regress_alice', $secret, 'regress_noconn', 'DATABASE_ACCESS_DENIED', qr/permission denied for database/ ],
);

my $i = 0;
for my $c (@cases)
{
	my ($user, $pw, $db, $reason, $msg) = @$c;
	my $err = attempt($user, $pw, $db, "case$i");
	like($err, $msg, "$reason: the client was refused");
	$i++;
}
flush();
$i = 0;
for my $c (@cases)
{
	my ($user, $pw, $db, $reason) = @$c;
	my $method = $db eq 'regress_nohba' ? 'implicit reject'
	  : $user eq 'regress_rejected' ? 'reject' : 'scram-sha-256';
	is(login_rows("case$i"),
		"FAILURE|$reason|$user|$db|127.0.0.1|$method|false|ACCESS_SIGMA|t|t|t",
		"$reason: exactly one LOGIN FAILURE row with the base data");
	$i++;
}

# A user name that is not valid UTF-8 (sent before any encoding is agreed)
# is stored with '?' for the invalid bytes, never as invalid text.
attempt("regress_bad\xffname", $secret, 'postgres', 'badenc');
flush();
is(login_rows('badenc'),
	'FAILURE|ROLE_NOT_FOUND|regress_bad?name|postgres|127.0.0.1|scram-sha-256|false|ACCESS_SIGMA|t|t|t',
	'invalid bytes in a user name are replaced');

# A session: LOGIN SUCCESS once established, LOGOUT with its duration.
my $err = attempt('regress_alice', $secret, 'postgres', 'session1', 'SELECT pg_sleep(1.2)');
is($err, '', 'a correct password logs in');
flush();
is(login_rows('session1'),
	'SUCCESS|-|regress_alice|postgres|127.0.0.1|scram-sha-256|false|ACCESS_SIGMA|t|t|t',
	'LOGIN SUCCESS with the base data');
my $logout = $node->safe_psql('postgres', q{
SELECT count(*), bool_and((o.entry_data->>'duration_s')::numeric BETWEEN 1.2 AND 60),
	bool_and(o.user_name = 'regress_alice'), bool_and(o.event_status = 'SUCCESS'),
	bool_and(l.session_id = o.session_id AND o.request_time >= l.request_time)
FROM audit_log.events o
JOIN audit_log.events l USING (application_name)
WHERE o.event_type = 'LOGOUT' AND l.event_type = 'LOGIN' AND application_name = 'session1'});
is($logout, '1|t|t|t|t', 'one LOGOUT of the same session with a plausible duration');

# psql without a password hangs up when asked for one: counted, not recorded.
my $abandoned_before = $node->safe_psql('postgres', 'SELECT abandoned_logins FROM audit_log.status');
$err = attempt('regress_alice', '', 'postgres', 'hangup1');
like($err, qr/no password supplied/, 'the client hung up at the password prompt');
flush();
is(login_rows('hangup1'), '', 'no LOGIN row for a client that hung up at the prompt');
is($node->safe_psql('postgres', 'SELECT abandoned_logins FROM audit_log.status'),
	$abandoned_before + 1, 'the hang-up is counted in abandoned_logins');

# Logins into another database land in the one table of audit_log.database.
$node->safe_psql('postgres', 'CREATE DATABASE regress_other; GRANT CONNECT ON DATABASE regress_noconn TO regress_alice');
$err = attempt('regress_alice', $secret, 'regress_noconn', 'otherdb');
is($err, '', 'a login into another database');
flush();
is(login_rows('otherdb'),
	'SUCCESS|-|regress_alice|regress_noconn|127.0.0.1|scram-sha-256|false|ACCESS_SIGMA|t|t|t',
	'recorded in the table of audit_log.database');

# audit_log.capture without ACCESS_SIGMA: no login rows.
$node->safe_psql('postgres', "ALTER SYSTEM SET audit_log.capture = 'USER_ACCOUNTS'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('audit_log.capture') = 'USER_ACCOUNTS'");
attempt('regress_alice', 'wrong-password', 'postgres', 'notcaptured');
flush();
is(login_rows('notcaptured'), '', 'no LOGIN row when ACCESS_SIGMA is not captured');
$node->safe_psql('postgres', "ALTER SYSTEM RESET audit_log.capture; SELECT pg_reload_conf()");
flush();
is($node->safe_psql('postgres', q{
SELECT string_agg(concat_ws('|', event_category, event_status, object_name, entry_data->>'old', entry_data->>'new'), ';' ORDER BY request_time)
FROM audit_log.events WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.capture'}),
	'AUDIT_LOG|SUCCESS|audit_log.capture|all|USER_ACCOUNTS;AUDIT_LOG|SUCCESS|audit_log.capture|USER_ACCOUNTS|all',
	'each change of audit_log.capture is a SETTINGS_CHANGE event');

# audit_log.log_to_server: each written event also as one JSON line.
$node->safe_psql('postgres', "ALTER SYSTEM SET audit_log.log_to_server = on; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('audit_log.log_to_server') = 'on'");
attempt('regress_alice', 'wrong-password', 'postgres', 'tolog');
flush();
my ($line) = grep { /"application_name":"tolog"/ } split /\n/, slurp_file($node->logfile);
like($line // '', qr/LOG:  audit_log: \{"event_id":"[0-9a-f-]{36}","request_time":"[0-9T:.-]+Z","event_category":"ACCESS_SIGMA","event_type":"LOGIN","event_status":"FAILURE","event_status_reason_code":"INVALID_PASSWORD","user_name":"regress_alice"/,
	'log_to_server writes the event as one JSON line');
$node->safe_psql('postgres', "ALTER SYSTEM RESET audit_log.log_to_server; SELECT pg_reload_conf()");

# The status view and the roles.
# (the LOGOUT of the previous session may still be on its way: retry)
my $status;
for (1 .. 20)
{
	$status = $node->safe_psql('postgres', "SELECT audit_log.flush('10 s'); SELECT preloaded, capturing, queued, dropped FROM audit_log.status");
	last if $status eq "t\nt|t|0|0";
	usleep(200_000);
}
is($status, "t\nt|t|0|0", 'status: preloaded, capturing, nothing queued or dropped');
$node->safe_psql('postgres', 'CREATE ROLE regress_reader; GRANT audit_log_reader TO regress_reader');
is($node->safe_psql('postgres', "SET ROLE regress_reader; SELECT written > 0 FROM audit_log.status; SELECT audit_log.flush('1 s')"),
	"t\nt", 'audit_log_reader may read status and call flush()');
my ($rc, $out, $stderr) = $node->psql('postgres', 'SET ROLE regress_reader; SELECT audit_log.pause_writer(true)');
like($stderr, qr/permission denied/, 'pause_writer is not for audit_log_reader');

# No password text anywhere.
is($node->safe_psql('postgres', "SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$secret%'"),
	'0', 'the password is in no row');
my $log = slurp_file($node->logfile);
my @ours = grep { /audit_log/ } split /\n/, $log;
ok(!grep({ /\Q$secret\E/ } @ours), 'the password is in none of our log lines');
unlike($log, qr/\Q$secret\E/, 'the password is nowhere in the server log');

# "sorry, too many clients already" is raised before the backend has a
# PGPROC: still recorded.
$node->append_conf('postgresql.conf', "max_connections = 4\nsuperuser_reserved_connections = 0");
$node->restart;
my @hold;
for (1 .. 4)
{
	my ($o, $e) = ('', '');
	push @hold, IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'SELECT pg_sleep(6)' ],
		'<', \undef, '>', \$o, '2>', \$e);
}
my $toomany;
for my $k (1 .. 40)
{
	usleep(250_000);
	if (attempt('regress_alice', $secret, 'postgres', "toomany$k") =~ /sorry, too many clients already/)
	{
		$toomany = "toomany$k";
		last;
	}
}
ok(defined $toomany, 'a connection refused with "sorry, too many clients already"');
$_->finish for @hold;
flush();
is(login_rows($toomany // 'none'),
	'FAILURE|TOO_MANY_CONNECTIONS|regress_alice|postgres|127.0.0.1|false|ACCESS_SIGMA|t|t|t',
	'recorded as TOO_MANY_CONNECTIONS (no auth method: refused before authentication)');

# Settings changed while the server was down are SETTINGS_CHANGE events at
# the next start (at_start), also those only a restart applies; a restart
# without a change records nothing more.
$node->append_conf('postgresql.conf', "audit_log.queue_size = 4096\naudit_log.queue_wait = '250ms'");
$node->restart;
flush();
my $at_start = q{SELECT string_agg(concat_ws('|', object_name, entry_data->>'old', entry_data->>'new'), ';' ORDER BY object_name)
	FROM audit_log.events WHERE event_type = 'SETTINGS_CHANGE' AND (entry_data->>'at_start')::boolean};
is($node->safe_psql('postgres', $at_start),
	'audit_log.queue_size|16384|4096;audit_log.queue_wait|1s|250ms',
	'settings changed while the server was down are recorded when it starts');
$node->restart;
flush();
is($node->safe_psql('postgres', $at_start),
	'audit_log.queue_size|16384|4096;audit_log.queue_wait|1s|250ms',
	'a restart without a change records nothing more');
# audit_log.capture turned off in the file across a restart is on record too
$node->append_conf('postgresql.conf', "audit_log.capture = 'none'");
$node->restart;
flush();
is($node->safe_psql('postgres', q{SELECT concat_ws('|', entry_data->>'old', entry_data->>'new')
	FROM audit_log.events WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.capture'
	AND (entry_data->>'at_start')::boolean}),
	'all|none', 'capture turned off across a restart is recorded');

# Without preloading: a clear error for flush(), preloaded = false.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
($rc, $out, $stderr) = $node->psql('postgres', "SELECT audit_log.flush()");
like($stderr, qr/requires audit_log to be loaded via shared_preload_libraries/, 'flush() without preload: clear error');
like($stderr, qr/HINT:  Add audit_log to shared_preload_libraries/, 'flush() without preload: hint');
is($node->safe_psql('postgres', 'SELECT preloaded, capturing, queued FROM audit_log.status'),
	'f|f|0', 'status without preload says preloaded = false');

$node->stop;
done_testing();
