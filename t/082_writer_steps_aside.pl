# The writer steps aside: its permanent connection to the database named by
# audit_log.database does not make CREATE DATABASE ... TEMPLATE, ALTER
# DATABASE ... RENAME or DROP DATABASE of that database fail with "being
# accessed by other users"; it reconnects after, and no event is lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;

my $node = audit_log_node('aside', conf => qq{
audit_log.database = 'trail'
audit_log.flush_interval = '20ms'
});
$node->safe_psql('postgres', 'CREATE DATABASE trail');
$node->safe_psql('trail', 'CREATE EXTENSION audit_log');
$node->restart;
$node->poll_query_until('trail',
	q{SELECT writer_pid IS NOT NULL AND writer_pid > 0 FROM audit_log.capture_stats()})
  or die 'the writer did not start';
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'trail' AND backend_type = 'audit_log writer'}),
	'the writer is connected to database trail');
$node->safe_psql('postgres', 'CREATE ROLE regress_sa_1');
# in the table before the copy is made, so that the copy holds it
$node->safe_psql('trail', q{SELECT audit_log.flush('10 seconds')});

# CREATE DATABASE ... TEMPLATE of the writer's database.
my $t0 = time();
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE regress_sa_copy TEMPLATE trail');
is($rc, 0, 'CREATE DATABASE ... TEMPLATE trail succeeds while the writer writes into trail')
  or diag($err);
cmp_ok(time() - $t0, '<', 5, 'without waiting out the 5 s of CountOtherDBBackends');
$node->safe_psql('postgres', 'CREATE ROLE regress_sa_2');

# The writer comes back by itself and writes what was queued meanwhile.
ok( $node->poll_query_until('trail', q{
SELECT audit_log.flush('1 second') AND count(*) = 2 FROM audit_log.events WHERE object_name IN ('regress_sa_1', 'regress_sa_2')}),
	'the writer reconnects after the copy and writes the events queued meanwhile');

# ALTER DATABASE ... RENAME, and back.
my $log_offset = -s $node->logfile;
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE trail RENAME TO regress_sa_renamed');
is($rc, 0, 'ALTER DATABASE trail RENAME succeeds') or diag($err);
like($err, qr/WARNING:  audit_log: database "trail" received the captured events; the writer cannot connect/,
	'RENAME warns that the writer cannot connect until audit_log.database is fixed');
like($err, qr/HINT:  Rename the database back/, 'and says what to do');
$node->safe_psql('postgres', 'CREATE ROLE regress_sa_3');
ok($node->wait_for_log(qr/audit_log: writer leaves database "trail"/, $log_offset),
	'the writer says it leaves the database');
$node->safe_psql('postgres', 'ALTER DATABASE regress_sa_renamed RENAME TO trail');
ok( $node->poll_query_until('trail', q{
SELECT audit_log.flush('1 second') AND count(*) = 3 FROM audit_log.events WHERE object_name LIKE 'regress\_sa\__'}),
	'renamed back, the writer reconnects and the event made while it was away is written');
is( $node->safe_psql('trail', q{
SELECT string_agg(event_type || '/' || object_name, ',' ORDER BY object_name)
FROM audit_log.events WHERE object_name LIKE 'regress\_sa\__'}),
	'CREATE_TEAM/regress_sa_1,CREATE_TEAM/regress_sa_2,CREATE_TEAM/regress_sa_3',
	'each event once');
is($node->safe_psql('trail', 'SELECT dropped FROM audit_log.capture_stats()'), '0', 'no event dropped');

# The copy holds the trail as it was, with the extension.
is($node->safe_psql('regress_sa_copy', q{SELECT count(*) FROM audit_log.events WHERE object_name = 'regress_sa_1'}),
	'1', 'the copy made from the template holds the trail');

# DROP DATABASE of the writer's database erases the trail: refused while
# audit_log.allow_drop is off, like DROP EXTENSION.
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE trail');
isnt($rc, 0, 'DROP DATABASE of the trail is refused while allow_drop is off');
like($err, qr/cannot drop database "trail": it holds the audit trail.*\n.*\nHINT:.*audit_log\.allow_drop = on/s,
	'the error names audit_log.allow_drop');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'trail'}), '1',
	'the database is still there');
# The refused attempt is evidence: an AUDIT_LOG TRAIL_CHANGE FAILURE, 55000.
ok( $node->poll_query_until('trail', q{
SELECT audit_log.flush('1 second') AND count(*) = 1 FROM audit_log.events
WHERE event_type = 'TRAIL_CHANGE' AND object_name = 'DATABASE trail'}),
	'the refused DROP DATABASE is recorded as a TRAIL_CHANGE event');
is( $node->safe_psql('trail', q{
SELECT event_status || '/' || event_status_reason_code || '/' || user_name || '/' || (entry_data->>'command')
FROM audit_log.events WHERE event_type = 'TRAIL_CHANGE' AND object_name = 'DATABASE trail'}),
	'FAILURE/55000/postgres/DROP DATABASE', 'as a FAILURE with the refusal\'s SQLSTATE, by whom, which command');
$node->append_conf('postgresql.conf', "audit_log.allow_drop = on\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('audit_log.allow_drop') = 'on'})
  or die 'allow_drop not reloaded';

# With allow_drop on, DROP DATABASE of the writer's database goes ahead.
$t0 = time();
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE trail');
is($rc, 0, 'DROP DATABASE trail succeeds') or diag($err);
cmp_ok(time() - $t0, '<', 5, 'without waiting out the 5 s');
like($err, qr/WARNING:  audit_log: database "trail" received the captured events/, 'DROP warns too');
$node->safe_psql('postgres', 'DROP DATABASE regress_sa_copy');
$node->safe_psql('postgres', 'DROP ROLE regress_sa_1, regress_sa_2, regress_sa_3');
is($node->safe_psql('postgres', 'SELECT queued > 0 FROM audit_log.capture_stats()'), 't',
	'with its database gone, the events stay queued');
$node->stop;
done_testing();
