# A committed change is never without its event, even across a power loss
# at any instant (issue 16), with audit_log.synchronous on: an
# administrative loop (CREATE ROLE, GRANT, ALTER ROLE, DROP ROLE) runs while
# the postmaster and all its children are killed with SIGKILL at a random
# moment, 30 times.  After each restart: every role, membership and role
# attribute in the catalogs has its SUCCESS event; no SUCCESS event for a
# change that did not commit; a change whose fate the client never learned
# is recorded with its true outcome (from its intent).
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Time::HiRes qw(usleep);
use Test::More;

my $rounds = 30;
my $node = audit_log_node('powerloss', conf => "audit_log.synchronous = on\nrestart_after_crash = off\n");
$node->safe_psql('postgres', 'CREATE ROLE regress_pl_grp');

# SIGKILL the postmaster and every child at once, as a power loss would
# stop them; wait until they are all gone.
sub kill_all
{
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or die $!;
	my $pm = <$fh>;
	close $fh;
	chomp $pm;
	my @children = split /\s+/, `ps -o pid= --ppid $pm`;
	@children = grep { /^\d+$/ } @children;
	kill 'KILL', $pm, @children;
	for (1 .. 500)
	{
		last unless grep { alive($_) } ($pm, @children);
		usleep(10_000);
	}
}

# A process that exists and is not a zombie (nobody may reap the orphans).
sub alive
{
	my ($pid) = @_;
	return 0 unless kill 0, $pid;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$fh>;
	close $fh;
	return $stat !~ /^\d+ \(.*\) Z/;
}

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $from_intent = 0;
my $bad = 0;
for my $r (1 .. $rounds)
{
	my $script = '';
	for my $j (1 .. 800)
	{
		my $role = "regress_pl_${r}_$j";
		$script .= "CREATE ROLE $role LOGIN;\nGRANT regress_pl_grp TO $role;\n"
		  . "ALTER ROLE $role CONNECTION LIMIT 3;\n";
		$script .= "DROP ROLE $role;\n" if $j % 2 == 0;
	}
	my $file = PostgreSQL::Test::Utils::tempdir() . "/round$r.sql";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $file ],
		'<', \undef, '>', \$out, '2>', \$err);
	usleep(100_000 + int(rand(900_000)));
	kill_all();
	$h->finish;
	# as after a reboot: no process left, only the stale pid file
	# (the killed postmaster may stay a zombie: remove its lock files too)
	unlink($node->data_dir . '/postmaster.pid');
	unlink($node->host . '/.s.PGSQL.' . $node->port . '.lock');
	$node->_update_pid(0);
	$node->start;

	# the writer resolves the intents left behind once its queue is empty
	my $left = -1;
	for (1 .. 300)
	{
		$left = q1("SELECT count(*) FROM audit_log.capture_intents");
		last if $left eq '0';
		usleep(100_000);
	}
	q1("SELECT audit_log.flush('30 s')");

	# the checks, over an indexed copy of the SUCCESS events of the loop
	my $checks = q1(q{
CREATE TEMP TABLE ev AS SELECT event_type, object_name, entry_data->>'member' AS member
FROM audit_log.events WHERE event_status = 'SUCCESS' AND object_name LIKE 'regress\_pl\_%';
CREATE INDEX ON ev (event_type, object_name);
CREATE INDEX ON ev (event_type, member);
ANALYZE ev;
CREATE TEMP TABLE ro AS SELECT r.rolname, r.rolconnlimit,
	EXISTS (SELECT 1 FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
		WHERE am.member = r.oid AND g.rolname = 'regress_pl_grp') AS member
FROM pg_roles r WHERE r.rolname LIKE 'regress\_pl\_%\_%';
CREATE INDEX ON ro (rolname);
ANALYZE ro;
SELECT 'role without its CREATE_USER SUCCESS: ' || string_agg(rolname, ',') FROM ro
	WHERE NOT EXISTS (SELECT 1 FROM ev WHERE event_type = 'CREATE_USER' AND object_name = ro.rolname)
	HAVING count(*) > 0;
SELECT 'membership without its GRANT_MEMBERSHIP SUCCESS: ' || string_agg(rolname, ',') FROM ro
	WHERE member AND NOT EXISTS (SELECT 1 FROM ev WHERE event_type = 'GRANT_MEMBERSHIP' AND ev.member = ro.rolname)
	HAVING count(*) > 0;
SELECT 'connection limit without its ALTER_USER SUCCESS: ' || string_agg(rolname, ',') FROM ro
	WHERE rolconnlimit = 3 AND NOT EXISTS (SELECT 1 FROM ev WHERE event_type = 'ALTER_USER' AND object_name = ro.rolname)
	HAVING count(*) > 0;
SELECT 'CREATE_USER SUCCESS of a role never created: ' || string_agg(object_name, ',') FROM ev e
	WHERE event_type = 'CREATE_USER' AND NOT EXISTS (SELECT 1 FROM ro WHERE ro.rolname = e.object_name)
	AND NOT EXISTS (SELECT 1 FROM ev d WHERE d.event_type = 'DROP_USER' AND d.object_name = e.object_name)
	HAVING count(*) > 0;
SELECT 'DROP_USER SUCCESS of a role still there: ' || string_agg(object_name, ',') FROM ev e
	WHERE event_type = 'DROP_USER' AND EXISTS (SELECT 1 FROM ro WHERE ro.rolname = e.object_name)
	HAVING count(*) > 0;
SELECT 'GRANT_MEMBERSHIP SUCCESS of a membership never made: ' || string_agg(e.member, ',') FROM ev e
	JOIN ro ON ro.rolname = e.member WHERE e.event_type = 'GRANT_MEMBERSHIP' AND NOT ro.member
	HAVING count(*) > 0;
SELECT 'ALTER_USER SUCCESS of a change never made: ' || string_agg(object_name, ',') FROM ev e
	JOIN ro ON ro.rolname = e.object_name WHERE e.event_type = 'ALTER_USER' AND ro.rolconnlimit <> 3
	HAVING count(*) > 0;
SELECT 'more than one event per event_id: ' || count(*) FROM
	(SELECT event_id FROM audit_log.events GROUP BY event_id HAVING count(*) > 1) d HAVING count(*) > 0;
});
	if ($checks ne '')
	{
		$bad++;
		diag("round $r: $checks");
	}
	if ($left ne '0')
	{
		$bad++;
		diag("round $r: $left intents not resolved");
	}
	my $roles = q1("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'regress\\_pl\\_${r}\\_%'");
	note("round $r: $roles roles of this round exist");
}
$from_intent = q1(q{SELECT count(*) FROM audit_log.events WHERE entry_data ? 'from_intent'});

is($bad, 0, "$rounds power losses at random moments: every committed change has its SUCCESS event, no SUCCESS without a commit");
cmp_ok($from_intent, '>', 0,
	"changes whose event was lost with the queue were recorded from their intent ($from_intent events)");
is(q1(q{SELECT count(*) FROM audit_log.events WHERE entry_data ? 'from_intent' AND event_status = 'FAILURE' AND event_status_reason_code IS DISTINCT FROM 'ROLLBACK'}),
	'0', 'an intent whose transaction did not commit is recorded as FAILURE ROLLBACK');
cmp_ok(q1("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'regress\\_pl\\_%'"), '>', $rounds,
	'the loop made changes in every round');

# An intent left behind is resolved while sessions keep coming: the writer
# of a busy server is seldom idle, and must not wait for a quiet moment.
# (With synchronous off, every flush_interval finds new logins.)
q1("ALTER SYSTEM SET audit_log.synchronous = off");
q1("SELECT pg_reload_conf()");
q1("CREATE ROLE regress_pl_busy_model LOGIN");
q1("SELECT audit_log.flush('30 s')");
my $bench_sql = PostgreSQL::Test::Utils::tempdir() . "/select1.sql";
PostgreSQL::Test::Utils::append_to_file($bench_sql, "SELECT 1;\n");
my ($bout, $berr) = ('', '');
my $bench = IPC::Run::start([ 'pgbench', '-n', '-C', '-c', '4', '-T', '20', '-f', $bench_sql,
	'-h', $node->host, '-p', $node->port, 'postgres' ], '<', \undef, '>', \$bout, '2>', \$berr);
usleep(1_000_000);
my $busy_xid = q1("SELECT pg_current_xact_id()");
q1(qq{INSERT INTO audit_log.capture_intents (event_id, xid, event)
SELECT u, '$busy_xid', to_jsonb(e) || jsonb_build_object('event_id', u, 'object_name', 'regress_pl_busy')
FROM audit_log.events e, gen_random_uuid() AS u WHERE e.event_type = 'CREATE_USER' AND e.object_name = 'regress_pl_busy_model'});
my $waited = 0;
my $busy_left = '1';
while ($waited < 10_000)
{
	$busy_left = q1("SELECT count(*) FROM audit_log.capture_intents WHERE event->>'object_name' = 'regress_pl_busy'");
	last if $busy_left eq '0';
	usleep(250_000);
	$waited += 250;
}
my $logins = q1("SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN' AND logged_time > now() - interval '30 s'");
$bench->kill_kill;
is($busy_left, '0', "an intent left behind is resolved while logins keep coming (after $waited ms, $logins logins in the last 30 s)");
q1("SELECT audit_log.flush('30 s')");
is(q1("SELECT event_status || '|' || (entry_data->>'from_intent') FROM audit_log.events WHERE object_name = 'regress_pl_busy'"),
	'SUCCESS|true', 'its event is written with its true outcome (committed: SUCCESS), from the intent');

$node->stop;
done_testing();
