# Capture rules with real logins (scram over TCP on 127.0.0.1, trusted Unix
# socket): a skip rule for a monitoring role's successful logins leaves its
# LOGIN and LOGOUT rows out while its failed logins are still written; every
# match field (role, database, application_name, client_addr 127.0.0.1/32
# against another network, no address over the Unix socket); order (a keep
# rule before the skip rule wins); a connection started after a change
# follows it, and so does a backend that existed before it (its LOGOUT); a
# rolled-back change changes nothing; the counts per rule in
# audit_log.capture_rule_stats; explain_capture agrees with what was
# captured; after a restart the rules still apply.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = scram_node('rules', qq{
audit_log.flush_interval = '20ms'
});
$node->safe_psql('postgres', q{
CREATE ROLE regress_mon LOGIN PASSWORD 'mon-pw';
CREATE ROLE regress_app LOGIN PASSWORD 'app-pw';
CREATE ROLE regress_addr LOGIN PASSWORD 'addr-pw';
CREATE ROLE regress_addr2 LOGIN PASSWORD 'addr2-pw';
CREATE DATABASE regress_db2;
});
my $port = $node->port;
my %pw = (regress_mon => 'mon-pw', regress_app => 'app-pw',
	regress_addr => 'addr-pw', regress_addr2 => 'addr2-pw');

# One login over TCP (or the Unix socket with $unix); true when it worked.
sub login
{
	my ($user, $app, %o) = @_;
	my $db = $o{db} // 'postgres';
	my $host = $o{unix} ? $node->host : '127.0.0.1';
	my ($out, $err) = ('', '');
	local $ENV{PGPASSWORD} = $o{wrong} ? 'wrong-password' : $pw{$user};
	IPC::Run::run([ 'psql', '-X', '-w', '-At', '-d',
		"host=$host port=$port user=$user dbname=$db application_name=$app",
		'-c', 'SELECT 1' ], '>', \$out, '2>', \$err);
	return $out =~ /^1$/m ? 1 : 0;
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Rows written for an application name (LOGIN and LOGOUT), as "TYPE:STATUS".
sub rows_for
{
	my ($app) = @_;
	return sql(qq{SELECT coalesce(string_agg(event_type || ':' || event_status, ',' ORDER BY event_id), '')
		FROM audit_log.events WHERE application_name = '$app'});
}

# Make sure everything the earlier (finished) sessions queued is written: a
# kept marker session's LOGOUT is written after theirs were queued.
my $marker = 0;
sub settle
{
	$marker++;
	login('regress_app', "marker-$marker") or die "marker login failed";
	$node->poll_query_until('postgres', qq{SELECT audit_log.flush('30 s') AND count(*) = 2
		FROM audit_log.events WHERE application_name = 'marker-$marker'})
	  or die "marker $marker not written";
}

# explain_capture's verdict for a successful LOGIN of these properties.
sub explained
{
	my ($user, $db, $app, $addr) = @_;
	$addr = defined $addr ? "'$addr'" : 'NULL';
	return sql(qq{SELECT coalesce(rule, '-') || ':' || captured FROM audit_log.explain_capture(
		'ACCESS_SIGMA', 'LOGIN', 'SUCCESS', '$user', '$db', '$app', $addr)});
}

# An existing backend, connected before any rule: it logs out later.
my ($in, $out) = ('', '');
my $old_session;
{
	local $ENV{PGPASSWORD} = 'mon-pw';
	$old_session = IPC::Run::start([ 'psql', '-X', '-w', '-At', '-d',
		"host=127.0.0.1 port=$port user=regress_mon dbname=postgres application_name=old-session" ],
		'<', \$in, '>', \$out, IPC::Run::timeout(120));
}
$in .= "SELECT 'connected';\n";
$old_session->pump until $out =~ /connected/;

# The rules: a skip of the monitoring role's successes, a keep before it
# for one application, and a skip per match field.
sql(q{
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name, application_name)
	VALUES ('keep_mon_keepme', 5, 'keep', 'ACCESS_SIGMA', 'SUCCESS', 'regress_mon', 'keepme');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name)
	VALUES ('skip_mon', 10, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_mon');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, database_name)
	VALUES ('skip_db2', 20, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_db2');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, application_name)
	VALUES ('skip_probe', 30, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'probe');
INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name, client_addr)
	VALUES ('skip_addr_local', 40, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_addr', '127.0.0.1/32'),
	       ('skip_addr2_other', 41, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_addr2', '10.0.0.0/8');
});

# the existing backend follows the change: its LOGIN (before) is there,
# its LOGOUT (after) is not
$in .= "\\q\n";
$old_session->finish;

# the monitoring role: successes skipped, failures written
ok(login('regress_mon', 'mon-ok'), 'monitoring login works') for 1 .. 3;
ok(!login('regress_mon', 'mon-bad', wrong => 1), 'monitoring login with a wrong password fails') for 1 .. 2;
# every match field
ok(login('regress_app', 'app-db2', db => 'regress_db2'), 'login into regress_db2');
ok(login('regress_app', 'probe'), 'login as application probe');
ok(login('regress_app', 'app-plain'), 'a login no rule matches');
ok(login('regress_addr', 'addr-tcp'), 'regress_addr over TCP from 127.0.0.1');
ok(login('regress_addr', 'addr-unix', unix => 1), 'regress_addr over the Unix socket');
ok(login('regress_addr2', 'addr2-tcp'), 'regress_addr2 over TCP from 127.0.0.1');
# order: the keep rule at position 5 comes first
ok(login('regress_mon', 'keepme'), 'monitoring login as keepme');
settle();

is(rows_for('old-session'), 'LOGIN:SUCCESS', 'an existing backend follows the change: its LOGOUT is skipped');
is(rows_for('mon-ok'), '', 'the monitoring role\'s successful LOGIN and LOGOUT rows are not written');
is(rows_for('mon-bad'), 'LOGIN:FAILURE,LOGIN:FAILURE', 'its failed logins are still written');
is(rows_for('app-db2'), '', 'database_name: a login into regress_db2 is skipped');
is(rows_for('probe'), '', 'application_name: a login as probe is skipped');
is(rows_for('app-plain'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'a login no rule matches is written');
is(rows_for('addr-tcp'), '', 'client_addr: 127.0.0.1 is in 127.0.0.1/32: skipped');
is(rows_for('addr-unix'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'client_addr: a Unix-socket login has no address: kept');
is(rows_for('addr2-tcp'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'client_addr: 127.0.0.1 is not in 10.0.0.0/8: kept');
is(rows_for('keepme'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'order: the keep rule before the skip rule wins');

# explain_capture agrees with what was captured
is(explained('regress_mon', 'postgres', 'mon-ok', '127.0.0.1'), 'skip_mon:false', 'explain: monitoring login skipped by skip_mon');
is(explained('regress_mon', 'postgres', 'keepme', '127.0.0.1'), 'keep_mon_keepme:true', 'explain: keepme kept by keep_mon_keepme');
is(explained('regress_app', 'regress_db2', 'app-db2', '127.0.0.1'), 'skip_db2:false', 'explain: regress_db2 skipped');
is(explained('regress_app', 'postgres', 'probe', '127.0.0.1'), 'skip_probe:false', 'explain: probe skipped');
is(explained('regress_app', 'postgres', 'app-plain', '127.0.0.1'), '-:true', 'explain: no rule, kept');
is(explained('regress_addr', 'postgres', 'addr-tcp', '127.0.0.1'), 'skip_addr_local:false', 'explain: 127.0.0.1/32 skipped');
is(explained('regress_addr', 'postgres', 'addr-unix', undef), '-:true', 'explain: no address, kept');
is(explained('regress_addr2', 'postgres', 'addr2-tcp', '127.0.0.1'), '-:true', 'explain: not in 10.0.0.0/8, kept');
is(sql(q{SELECT captured FROM audit_log.explain_capture('ACCESS_SIGMA', 'LOGIN', 'FAILURE', 'regress_mon', 'postgres', 'mon-bad', '127.0.0.1')}),
	't', 'explain: a failed login is captured');

# counts per rule: skip_mon 3 logins x 2 + the old session's LOGOUT
is(sql(q{SELECT string_agg(name || '=' || skipped, ',' ORDER BY position) FROM audit_log.capture_rule_stats}),
	'keep_mon_keepme=0,skip_mon=7,skip_db2=2,skip_probe=2,skip_addr_local=2,skip_addr2_other=0',
	'capture_rule_stats counts the skips per rule');

# a rolled-back change changes nothing
sql(q{BEGIN; DELETE FROM audit_log.capture_rules WHERE name = 'skip_mon'; ROLLBACK;});
ok(login('regress_mon', 'mon-after-rollback'), 'monitoring login after a rolled-back change');
# a committed change reaches a new connection at once
sql(q{DELETE FROM audit_log.capture_rules WHERE name = 'skip_probe'});
sql(q{UPDATE audit_log.capture_rules SET application_name = 'probe3' WHERE name = 'skip_db2'});
ok(login('regress_app', 'db2-after', db => 'regress_db2'), 'login into regress_db2 after its rule changed');
ok(login('regress_app', 'probe'), 'login as probe after its rule went');
settle();
is(rows_for('mon-after-rollback'), '', 'a rolled-back change changes nothing');
is(rows_for('probe'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'a connection started after a change follows it');
is(rows_for('db2-after'), 'LOGIN:SUCCESS,LOGOUT:SUCCESS', 'the changed rule (database and application) no longer matches');
is(sql(q{SELECT count(*) FROM audit_log.events WHERE event_type = 'CAPTURE_RULE_CHANGE'}), '8',
	'each committed change of a rule is one CAPTURE_RULE_CHANGE event');

# two changes at the same time: the second waits for the first, and the
# rules in force hold both (the second commit reads the latest rules, also
# under REPEATABLE READ)
{
	my ($in1, $out1, $in2, $out2) = ('', '', '', '');
	my $s1 = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
		'<', \$in1, '>', \$out1, IPC::Run::timeout(120));
	my $s2 = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres') ],
		'<', \$in2, '>', \$out2, IPC::Run::timeout(120));
	$in1 .= "BEGIN; INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name)"
	  . " VALUES ('conc_a', 90, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_conc_a'); SELECT 's1 inserted';\n";
	$s1->pump until $out1 =~ /s1 inserted/;
	$in2 .= "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 's2 snapshot ' || count(*) FROM audit_log.capture_rules;"
	  . " INSERT INTO audit_log.capture_rules (name, position, action, event_category, event_status, user_name)"
	  . " VALUES ('conc_b', 91, 'skip', 'ACCESS_SIGMA', 'SUCCESS', 'regress_conc_b'); SELECT 's2 inserted';\n";
	$s2->pump until $out2 =~ /s2 snapshot/;
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND query LIKE '%conc_b%'})
	  or die 'the second change does not wait';
	unlike($out2, qr/s2 inserted/, 'a second concurrent change waits for the first');
	$in1 .= "COMMIT; SELECT 's1 committed';\n";
	$s1->pump until $out1 =~ /s1 committed/;
	$s2->pump until $out2 =~ /s2 inserted/;
	$in2 .= "COMMIT; SELECT 's2 committed';\n";
	$s2->pump until $out2 =~ /s2 committed/;
	$in1 .= "\\q\n";
	$in2 .= "\\q\n";
	$s1->finish;
	$s2->finish;
	is(sql(q{SELECT string_agg(name, ',' ORDER BY name) FROM audit_log.capture_rule_stats WHERE name LIKE 'conc_%'}),
		'conc_a,conc_b', 'after two concurrent changes both rules are in force');
	sql(q{DELETE FROM audit_log.capture_rules WHERE name LIKE 'conc_%'});
}

# after a restart the rules still apply (once the writer has loaded them)
$node->restart;
$node->poll_query_until('postgres', q{SELECT rule = 'skip_mon' FROM audit_log.explain_capture(
	'ACCESS_SIGMA', 'LOGIN', 'SUCCESS', 'regress_mon', 'postgres', 'x', NULL)})
  or die 'rules not loaded after the restart';
ok(login('regress_mon', 'mon-restart'), 'monitoring login after a restart');
ok(!login('regress_mon', 'mon-restart-bad', wrong => 1), 'failed monitoring login after a restart');
settle();
is(rows_for('mon-restart'), '', 'after a restart the skip rule still applies');
is(rows_for('mon-restart-bad'), 'LOGIN:FAILURE', 'after a restart failures are still written');
is(sql(q{SELECT skipped FROM audit_log.capture_rule_stats WHERE name = 'skip_mon'}), '2',
	'the counts start again at the restart');

# no secret in any row
is(sql(q{SELECT count(*) FROM audit_log.events WHERE events::text ~ '(mon|app|addr2?)-pw|wrong-password'}), '0',
	'no password in any row');

$node->stop;
done_testing();
