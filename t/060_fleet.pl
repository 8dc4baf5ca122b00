# Fleet: two sources and a collector on this machine.  Events written on
# each source arrive at the collector with the source's node name, exactly
# once; a source's retention leaves the collector's rows alone; a collector
# stopped (even in the middle of applying a backlog) catches up without gap
# or duplicate; add_source with a wrong password leaves nothing behind; the
# password never reaches an event.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $secret = 'Fl33t-pw-9f3a1c';

sub make_node
{
	my ($name) = @_;
	# a password is required of the replication role, trust for the rest
	return audit_log_node($name,
		init => { allows_streaming => 'logical' },
		conf => qq{
cluster_name = '$name'
max_replication_slots = 10
max_wal_senders = 10
max_worker_processes = 16
max_logical_replication_workers = 8
log_statement = none
},
		hba => "local all fleet_repl,fleet_alice scram-sha-256\nlocal all all trust\n");
}

my $src1 = make_node('src1');
my $src2 = make_node('src2');
my $coll = make_node('coll');

sub conninfo
{
	my ($node, $pw) = @_;
	return sprintf("host=%s port=%d dbname=postgres user=fleet_repl password=%s",
		$node->host, $node->port, $pw);
}

# Write $n events with log_event on $node, $per_tx to a transaction.
sub write_events
{
	my ($node, $n, $type, $per_tx) = @_;
	$per_tx //= 1;
	my $sql = '';
	for (my $i = 0; $i < $n; $i += $per_tx)
	{
		my $k = ($n - $i < $per_tx) ? $n - $i : $per_tx;
		$sql .= "BEGIN; SELECT audit_log.log_event('AUDIT_LOG', '$type', object_name => 'o' || g) FROM generate_series(1, $k) g; COMMIT;\n";
	}
	$node->safe_psql('postgres', $sql);
}

# The events this test writes with log_event.  (Captured logins and logouts,
# of this test's own sessions too, are written asynchronously by each
# server's background writer, so they are compared separately, after
# flush().)
my $mine = "event_type = 'FLEET_TEST'";

# One line per source: its event ids, hashed, and their count.
my $digest_sql = "SELECT count(*) || ' ' || md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), ''))"
  . " FROM audit_log.events WHERE source_node = '%s' AND event_type = 'FLEET_TEST'";

sub wait_same
{
	my ($node, $what) = @_;
	my $name = $node->name;
	my $want = $node->safe_psql('postgres', sprintf($digest_sql, $name));
	ok($coll->poll_query_until('postgres', sprintf($digest_sql, $name), $want),
		"$what: the collector has exactly the events of $name ($want)");
}

sub no_duplicates
{
	my ($what) = @_;
	is($coll->safe_psql('postgres',
			'SELECT count(*) - count(DISTINCT event_id) FROM audit_log.events'),
		'0', "$what: no duplicate event at the collector");
}

# ---------------------------------------------------------------- sources
foreach my $src ($src1, $src2)
{
	$src->safe_psql('postgres', qq{
		CREATE ROLE fleet_repl LOGIN REPLICATION PASSWORD '$secret';
		GRANT audit_log_reader TO fleet_repl;
		SELECT audit_log.register_event_type('AUDIT_LOG', 'FLEET_TEST', 'fleet test event');
		SELECT audit_log.create_publication();
		SELECT audit_log.create_publication();   -- idempotent
	});
}
is($src1->safe_psql('postgres', q{
	SELECT p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
		   (SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables t WHERE t.pubname = p.pubname)
	FROM pg_publication p WHERE p.pubname = 'audit_log_events'}),
	't|f|f|f|t|audit_log.events',
	'create_publication publishes inserts only, via the partition root, twice called one publication');

# Events that exist before the collector subscribes come with the first sync.
write_events($src1, 7, 'FLEET_TEST');

# A server without wal_level = logical cannot publish.
my $plain = audit_log_node('plain');
my ($ret, $out, $err) = $plain->psql('postgres', 'SELECT audit_log.create_publication()');
like($err, qr/wal_level must be logical.*HINT:.*wal_level = logical/s,
	'create_publication without wal_level = logical: clear error with a hint');
$plain->stop;

# ---------------------------------------------------------- wrong password
$coll->safe_psql('postgres', 'CREATE ROLE fleet_reader LOGIN; GRANT audit_log_reader TO fleet_reader;');
($ret, $out, $err) = $coll->psql('postgres',
	"SELECT audit_log.add_source('src1', '" . conninfo($src1, 'wrong-pw-77') . "')");
isnt($ret, 0, 'add_source with a wrong password fails');
like($err, qr/could not connect to source "src1".*password authentication failed/s,
	'the error says the source refused the password');
unlike($err, qr/wrong-pw-77/, 'the error does not quote the password');
is($coll->safe_psql('postgres', 'SELECT count(*) FROM pg_subscription'), '0',
	'wrong password: no subscription left on the collector');
is($src1->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'wrong password: no replication slot left on the source');
is($coll->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.fleet_sources"), '0',
	'wrong password: no source registered');

# A rolled-back add_source takes its slot on the source with it.
$coll->safe_psql('postgres',
	"BEGIN; SELECT audit_log.add_source('src2', '" . conninfo($src2, $secret) . "'); ROLLBACK;");
is($src2->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'add_source rolled back: its slot on the source is dropped again');
is($coll->safe_psql('postgres', 'SELECT count(*) FROM pg_subscription'), '0',
	'add_source rolled back: no subscription');
$coll->safe_psql('postgres', 'SELECT audit_log.flush()');
is($coll->safe_psql('postgres',
		"SELECT string_agg(event_status || ' ' || event_status_reason_code, ', ' ORDER BY request_time)"
		. " FROM audit_log.events WHERE event_type = 'ADD_SOURCE' AND object_name = 'src2'"),
	'FAILURE ROLLBACK',
	'add_source rolled back: recorded as FAILURE, reason ROLLBACK (its SUCCESS event went with it)');
like($coll->safe_psql('postgres',
		"SELECT string_agg(event_status || ' ' || event_status_reason_code, ', ' ORDER BY request_time)"
		. " FROM audit_log.events WHERE event_type = 'ADD_SOURCE' AND object_name = 'src1'"),
	qr/^FAILURE 08001$/,
	'add_source with a wrong password: recorded as FAILURE, reason 08001 (could not connect)');

# Not the server itself.
($ret, $out, $err) = $coll->psql('postgres',
	"SELECT audit_log.add_source('me', 'host=" . $coll->host . " port=" . $coll->port . " dbname=postgres')");
like($err, qr/source "me" is this server itself/, 'a collector cannot be its own source');

# ------------------------------------------------------------- add sources
$coll->safe_psql('postgres', "SELECT audit_log.add_source('src1', '" . conninfo($src1, $secret) . "')");
$coll->safe_psql('postgres', "SELECT audit_log.add_source('src2', '" . conninfo($src2, $secret) . "')");
($ret, $out, $err) = $coll->psql('postgres',
	"SELECT audit_log.add_source('src2', '" . conninfo($src2, $secret) . "')");
like($err, qr/source "src2" already exists/, 'adding a source twice is refused');

is($coll->safe_psql('postgres', q{
	SELECT string_agg(object_name, ',' ORDER BY object_name)
	FROM audit_log.events WHERE event_type = 'ADD_SOURCE' AND event_status = 'SUCCESS'}),
	'src1,src2', 'one ADD_SOURCE event per source added');
is($coll->safe_psql('postgres', q{
	SELECT bool_and(entry_data->>'conninfo' LIKE '%user=''fleet_repl''%' AND entry_data->>'conninfo' NOT LIKE '%password%')
	FROM audit_log.events WHERE event_type = 'ADD_SOURCE' AND event_status = 'SUCCESS'}),
	't', 'ADD_SOURCE records the connection string without its password');
is($coll->safe_psql('postgres', q{
	SELECT count(*) FROM audit_log.events
	WHERE event_type = 'ADD_SOURCE' AND (entry_data::text LIKE '%password%' OR entry_data::text LIKE '%wrong-pw-77%')}),
	'0', 'no ADD_SOURCE event, failed ones included, holds a password');
is($coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$secret%'"
		. " OR e::text LIKE '%wrong-pw-77%'"),
	'0', 'no event at the collector holds a password');
is($coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.fleet_sources f WHERE f::text LIKE '%$secret%'"),
	'0', 'the source registry holds no password');

write_events($src1, 120, 'FLEET_TEST', 1);
write_events($src1, 80, 'FLEET_TEST', 40);
write_events($src2, 150, 'FLEET_TEST', 10);
wait_same($src1, 'first sync and streaming');
wait_same($src2, 'streaming');
is($coll->safe_psql('postgres', q{
	SELECT string_agg(source_node || ':' || n, ',' ORDER BY source_node) FROM
	(SELECT source_node, count(*) n FROM audit_log.events WHERE event_type = 'FLEET_TEST' GROUP BY 1) s}),
	'src1:207,src2:150', 'each event arrived with the source_node of the server that wrote it');
no_duplicates('after streaming');

# ------------------------------------- captured logins and role changes
# Only when this build captures them (the capture branches merged).
sub login
{
	my ($node, $user, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my ($out, $err) = ('', '');
	IPC::Run::run(['psql', '-X', '-w', '-A', '-t', '-d',
			sprintf('host=%s port=%d user=%s dbname=postgres', $node->host, $node->port, $user),
			'-c', 'SELECT 1'], '<', \undef, '>', \$out, '2>', \$err);
	return $out;
}
SKIP:
{
	skip 'this build does not capture logins and role changes', 7
	  unless $src1->safe_psql('postgres',
		"SELECT to_regprocedure('audit_log.flush(interval)') IS NOT NULL") eq 't';
	foreach my $src ($src1, $src2)
	{
		$src->safe_psql('postgres', qq{
			CREATE ROLE fleet_alice LOGIN PASSWORD '$secret';
			CREATE ROLE fleet_team NOLOGIN;
			GRANT fleet_team TO fleet_alice;});
		is(login($src, 'fleet_alice', $secret), "1\n", $src->name . ': a real password login');
		login($src, 'fleet_alice', 'not-the-password');
		$src->safe_psql('postgres', "SELECT audit_log.flush('30 s')");
	}
	foreach my $src ($src1, $src2)
	{
		my $n = $src->name;
		# LOGOUT is left out: it is queued when the session's process ends,
		# possibly after flush() returned.
		my $q = "SELECT string_agg(event_type || ':' || event_status || ':' || coalesce(user_name, '') || ':' || coalesce(object_name, ''), ','"
		  . " ORDER BY event_type, event_status, event_id) FROM audit_log.events"
		  . " WHERE source_node = '$n' AND event_type <> 'LOGOUT'"
		  . " AND (user_name = 'fleet_alice' OR object_name IN ('fleet_alice', 'fleet_team'))";
		my $want = $src->safe_psql('postgres', $q);
		like($want, qr/CREATE_USER:SUCCESS:.*LOGIN:SUCCESS:fleet_alice.*LOGIN:FAILURE:fleet_alice/,
			"$n captured the role changes and both logins");
		ok($coll->poll_query_until('postgres', $q, $want),
			"$n: its real logins and role changes are at the collector with source_node $n");
	}
	# add_source's own CREATE SUBSCRIPTION is captured at the collector,
	# without the password (checked for every event at the end).
	$coll->safe_psql('postgres', "SELECT audit_log.flush('30 s')");
	is($coll->safe_psql('postgres', q{
		SELECT string_agg(object_name, ',' ORDER BY object_name) FROM audit_log.events
		WHERE event_type = 'CREATE_SUBSCRIPTION' AND event_status = 'SUCCESS' AND source_node = 'coll'}),
		'audit_log_src_src1,audit_log_src_src2',
		'the collector captured the subscriptions add_source created');
}

# The status view, readable by audit_log_reader.
is($coll->safe_psql('postgres', q{
	SET ROLE fleet_reader;
	SELECT string_agg(name || ':' || source_node || ':' || enabled || ':' || (worker_pid IS NOT NULL)
					  || ':' || (received_lsn IS NOT NULL) || ':' || (conninfo NOT LIKE '%password%'), ',' ORDER BY name)
	FROM audit_log.sources}),
	'src1:src1:true:true:true:true,src2:src2:true:true:true:true',
	'audit_log.sources lists both sources, enabled and streaming');
ok($coll->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM audit_log.sources
	WHERE lag BETWEEN interval '0' AND interval '1 minute' AND silence < interval '1 minute'}),
	'audit_log.sources: both sources heard from and caught up within the last minute');
is($src1->safe_psql('postgres', q{
	SELECT count(*) FROM audit_log.collectors WHERE active AND slot_name LIKE 'audit\_log\_src\_src1\_%'}),
	'1', 'audit_log.collectors on the source shows the collector\'s slot');

# ------------------------------------------- retention and moved backfills
# Backfilled events of a past day wait in the source's default partition;
# maintain() moves them to a new day partition (nothing new for the
# collector: it must not receive them twice); then the day is dropped as
# retention drops it.  The collector keeps every row, once.
my $past = $src1->safe_psql('postgres', q{SELECT (now() AT TIME ZONE 'UTC')::date - 30});
$src1->safe_psql('postgres', qq{
	SELECT audit_log.log_event('AUDIT_LOG', 'FLEET_TEST', object_name => 'old' || g,
		request_time => '$past 12:00+00'::timestamptz + g * interval '1 second')
	FROM generate_series(1, 25) g});
wait_same($src1, 'backfill');
$src1->safe_psql('postgres', 'SELECT audit_log.maintain()');
my $part = $src1->safe_psql('postgres', qq{SELECT audit_log.partition_name('$past')});
is($src1->safe_psql('postgres', "SELECT count(*) FROM audit_log.$part"), '25',
	'source: maintain moved the backfilled events into their day partition');
write_events($src1, 10, 'FLEET_TEST');
wait_same($src1, 'moved backfill');
no_duplicates('after the source moved rows between partitions');
my $coll_before = $coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.events WHERE source_node = 'src1' AND $mine");
$src1->safe_psql('postgres', "DROP TABLE audit_log.$part");
write_events($src1, 5, 'FLEET_TEST');
my $src1_now = $src1->safe_psql('postgres', "SELECT count(*) FROM audit_log.events WHERE $mine");
ok($coll->poll_query_until('postgres',
		"SELECT count(*) FROM audit_log.events WHERE source_node = 'src1' AND $mine", $coll_before + 5),
	'events written after the drop still arrive, and retention on the source removed nothing at the collector');
is($coll->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.events WHERE source_node = 'src1' AND object_name LIKE 'old%'"),
	'25', 'the dropped day\'s events are all still at the collector');
is($src1_now, $coll_before + 5 - 25, 'and the source no longer has them');

# The collector's own partitions, present and made later (the backfilled
# day's, by maintain), all skip duplicates in replication only.
$coll->safe_psql('postgres', 'SELECT audit_log.maintain()');
is($coll->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE t.tgenabled = 'R') || '/' || count(*)
	FROM pg_inherits i LEFT JOIN pg_trigger t ON t.tgrelid = i.inhrelid AND t.tgname = 'events_skip_duplicate'
	WHERE i.inhparent = 'audit_log.events'::regclass}),
	$coll->safe_psql('postgres', q{SELECT count(*) || '/' || count(*) FROM pg_inherits WHERE inhparent = 'audit_log.events'::regclass}),
	'every partition of the collector, the new ones too, has the duplicate guard, enabled for replication only');

# --------------------------------------------- collector down and restarted
$coll->stop;
write_events($src2, 4000, 'FLEET_TEST', 4000);
write_events($src1, 20000, 'FLEET_TEST', 1);
$coll->start;
# stop it again while it applies the backlog, without a clean shutdown
$coll->poll_query_until('postgres',
	"SELECT count(*) > $coll_before + 5 + 300 FROM audit_log.events WHERE source_node = 'src1' AND $mine");
my $mid = $coll->safe_psql('postgres',
	"SELECT count(*) - $coll_before - 5 FROM audit_log.events WHERE source_node = 'src1' AND $mine");
$coll->stop('immediate');
note("collector crashed after applying about $mid of the 20000 backlogged events of src1");
write_events($src1, 50, 'FLEET_TEST', 5);
$coll->start;
# a source restarted while streaming
$src2->restart;
write_events($src2, 60, 'FLEET_TEST', 3);

# Every source event must be at the collector: compare with what the source
# still has (src1's dropped day is checked above).
sub wait_same_kept
{
	my ($node, $what) = @_;
	my $name = $node->name;
	my $sql = "SELECT count(*) || ' ' || md5(coalesce(string_agg(event_id::text, ',' ORDER BY event_id), ''))"
	  . " FROM audit_log.events WHERE source_node = '$name' AND $mine AND request_time >= (now() AT TIME ZONE 'UTC')::date - 1";
	my $want = $node->safe_psql('postgres', $sql);
	ok($coll->poll_query_until('postgres', $sql, $want),
		"$what: the collector has exactly the events of $name ($want)");
}
wait_same_kept($src1, 'collector restarted');
wait_same_kept($src2, 'collector crashed mid-backlog, source restarted');
no_duplicates('after the restarts');

# ---------------------------------------------------------------- drop
$coll->safe_psql('postgres', "SELECT audit_log.drop_source('src2')");
is($coll->safe_psql('postgres', "SELECT count(*) FROM pg_subscription WHERE subname = 'audit_log_src_src2'"),
	'0', 'drop_source drops the subscription');
is($src2->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
	'drop_source drops the slot on a reachable source');
is($coll->safe_psql('postgres',
		"SELECT entry_data->>'slot_dropped' FROM audit_log.events WHERE event_type = 'DROP_SOURCE' AND object_name = 'src2'"),
	'true', 'a DROP_SOURCE event records it');
isnt($coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.events WHERE source_node = 'src2'"),
	'0', 'the events collected from a dropped source stay');

# A source that is down: the drop goes through and names the slot left there.
$src1->stop;
($ret, $out, $err) = $coll->psql('postgres', "SELECT audit_log.drop_source('src1')");
is($ret, 0, 'drop_source works while the source is down');
like($err, qr/WARNING:  could not connect to source "src1" to drop its replication slot "audit_log_src_src1_\w+".*HINT:.*pg_drop_replication_slot/s,
	'with a warning that names the slot left on the source and how to drop it');
$src1->start;
is($src1->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'audit\\_log\\_src\\_src1\\_%'"),
	'1', 'the unreachable source keeps its slot');

# Adding it again is refused while that slot is there; once it is dropped,
# the first sync copies every event again, and the collector skips those it has.
($ret, $out, $err) = $coll->psql('postgres',
	"SELECT audit_log.add_source('src1', '" . conninfo($src1, $secret) . "')");
like($err, qr/replication slot "audit_log_src_src1_\w+" already exists on source "src1".*HINT:.*pg_drop_replication_slot/s,
	'a leftover slot is named, with the way to drop it');
$src1->safe_psql('postgres', 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots');
$coll->safe_psql('postgres', "SELECT audit_log.add_source('src1', '" . conninfo($src1, $secret) . "')");
write_events($src1, 20, 'FLEET_TEST');
wait_same_kept($src1, 'source added again');
no_duplicates('after a source was added again and copied in full');
ok($coll->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate <> 'r'"),
	'the subscription is synchronised and streaming (not stopped by duplicates)');

is($coll->safe_psql('postgres', "SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%$secret%'"
		. " OR e::text LIKE '%wrong-pw-77%' OR e::text LIKE '%not-the-password%'"),
	'0', 'at the end, still no event at the collector holds a password');

$coll->stop;
$src1->stop;
$src2->stop;
done_testing();
