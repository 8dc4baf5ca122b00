# A full disk, then a crash: no acknowledged event vanishes.  The data
# directory sits on a 160 MB tmpfs (tools/test-all mounts it as root and
# passes its path in AUDIT_LOG_TMPFS; without it the test is skipped, never
# passed).  The disk is filled, a storm of failed logins arrives (the
# writer cannot write: the events stay queued, and its failures are logged
# at most once a second), then:
#   A. a backend is killed with SIGKILL: the postmaster saves the queue into
#      the space reserved at start; after space is freed every attempt is a
#      row;
#   B. the same without the reserved space: the save fails, every queued
#      event is a JSON line in the server log, counted in dropped and in a
#      CAPTURE_GAP row;
#   C. WAL cannot grow: PostgreSQL PANICs ("could not write to file
#      pg_wal/xlogtemp..."); after space is freed and a restart every
#      attempt is a row.
# In each case the rows plus the counted JSON lines equal the attempts the
# clients saw refused.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use File::Path qw(rmtree);
use IPC::Run;
use Test::More;

my $tmpfs = $ENV{AUDIT_LOG_TMPFS} // '';
if ($tmpfs eq '' || !-d $tmpfs || !-w $tmpfs)
{
	plan skip_all => 'no tmpfs to fill: tools/test-all mounts one as root and sets AUDIT_LOG_TMPFS'
	  . ($tmpfs ne '' ? " ($tmpfs is not usable)" : '');
}
my @parent = stat("$tmpfs/..");
my @self = stat($tmpfs);
plan skip_all => "$tmpfs is not a mount point of its own" if $parent[0] == $self[0];

my $node = scram_node('fulldisk', qq{
audit_log.queue_size = 4096
audit_log.flush_interval = '10ms'
audit_log.queue_wait = '2s'
max_connections = 40
restart_after_crash = on
});
$node->safe_psql('postgres', q{
CREATE ROLE regress_fd LOGIN PASSWORD 'the-right-one';
SELECT audit_log.maintain();
});
# move the data directory onto the tmpfs
$node->stop;
my $pgdata = $node->data_dir;
rmtree("$tmpfs/pgdata");
unlink glob("$tmpfs/filler*");
system('mv', $pgdata, "$tmpfs/pgdata") == 0 or die "mv: $!";
symlink("$tmpfs/pgdata", $pgdata) or die "symlink: $!";
$node->start;
ok(-s "$tmpfs/pgdata/pg_stat/audit_log.queue.reserve" >= 4096 * 1900,
	'the save file of the queue is reserved at start');

my $port = $node->port;
my $fill_no = 0;

# Fill the tmpfs to the last byte.
sub fill_disk
{
	$fill_no++;
	open my $fh, '>', "$tmpfs/filler$fill_no" or die $!;
	binmode $fh;
	my $mb = "\0" x (1024 * 1024);
	my $kb = "\0" x 4096;
	1 while syswrite($fh, $mb);
	1 while syswrite($fh, $kb);
	close $fh;
}

sub free_disk
{
	unlink glob("$tmpfs/filler*");
}

# 4 clients, wrong passwords; returns the number of refusals they saw.
sub storm
{
	my ($tag, $per_client) = @_;
	my @runs;
	for my $c (1 .. 4)
	{
		my $out = '';
		my $h = IPC::Run::start([ 'bash', '-c', qq{
for i in \$(seq 1 $per_client); do
	PGPASSWORD=wrong psql -X -w -A -t -d "host=127.0.0.1 port=$port user=regress_fd dbname=postgres application_name=fd-$tag-$c-\$i" -c 'SELECT 1' 2>&1 | grep -c 'password authentication failed'
done} ], '>', \$out);
		push @runs, [ $h, \$out ];
	}
	my $refused = 0;
	for my $r (@runs)
	{
		$r->[0]->finish;
		$refused += $_ for split /\n/, ${ $r->[1] };
	}
	return $refused;
}

# SIGKILL a backend that sleeps; wait for the reinitialization.
sub kill_backend
{
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'SELECT pg_sleep(600)' ],
		'>', \my $o, '2>', \my $e);
	$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'})
	  or die 'no sleeping backend';
	my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'});
	kill 'KILL', $pid;
	$h->finish;
}

sub log_from
{
	my ($offset) = @_;
	return substr(slurp_file($node->logfile), $offset);
}

# Rows and counted JSON lines of a storm's attempts.
sub outcome
{
	my ($tag, $log) = @_;
	my $rows = $node->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN' AND application_name LIKE 'fd-$tag-%'});
	my $lines = () = $log =~ /audit_log: \{[^\n]*"application_name":"fd-$tag-[^\n]*\n[^\n]*DETAIL:  (?:The audit_log queue was full|This event could not be written)/g;
	return ($rows, $lines);
}

# ---- A: a backend crash with the disk full
my $offset = -s $node->logfile;
fill_disk();
my $t0 = time;
my $refused = storm('A', 40);
ok($refused >= 150, "A: the clients saw $refused refusals while the disk was full");
sleep 2;
my $failures = () = log_from($offset) =~ /could not write \d+ captured events/g;
my $secs = time - $t0 + 1;
ok($failures <= $secs + 2, "A: $failures write failures logged in about $secs s (at most one a second)");
like($node->safe_psql('postgres', 'SELECT queued FROM audit_log.status'), qr/^[1-9]/, 'A: the events stay queued');
kill_backend();
# new sessions cannot start before space is back (no room for the relcache init file)
$node->wait_for_log(qr/audit_log: (saved|could not save) \d+ queued events/, $offset);
like(log_from($offset), qr/saved \d+ queued events to "pg_stat\/audit_log.queue" \(in the space reserved at start\)/,
	'A: the queue was saved into the reserved space');
free_disk();
$node->poll_query_until('postgres', 'SELECT true') or die 'no restart after the crash';
is($node->safe_psql('postgres', q{SELECT audit_log.flush('60 s')}), 't', 'A: once space is back the writer writes on its own');
my ($rows, $lines) = outcome('A', log_from($offset));
is($rows + $lines, $refused, "A: every refused attempt is a row or a counted JSON line ($rows rows, $lines lines)");
is($node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status'), $lines, 'A: dropped counts the JSON lines');

# ---- B: the same without the reserved space: the save itself fails
$offset = -s $node->logfile;
unlink "$tmpfs/pgdata/pg_stat/audit_log.queue.reserve";
fill_disk();
$refused = storm('B', 25);
ok($refused >= 90, "B: the clients saw $refused refusals while the disk was full");
kill_backend();
$node->wait_for_log(qr/audit_log: (saved|could not save) \d+ queued events/, $offset);
like(log_from($offset), qr/could not save \d+ queued events/, 'B: the save failed for lack of space');
free_disk();
$node->poll_query_until('postgres', 'SELECT true') or die 'no restart after the crash';
is($node->safe_psql('postgres', q{SELECT audit_log.flush('60 s')}), 't', 'B: the writer writes on its own');
($rows, $lines) = outcome('B', log_from($offset));
ok($lines > 0, "B: the queued events went to the server log ($lines lines)");
is($rows + $lines, $refused, "B: every refused attempt is a row or a counted JSON line ($rows rows, $lines lines)");
my $dropped = $node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status');
ok($dropped >= $lines, "B: dropped counts them ($dropped)");
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM audit_log.events WHERE event_type = 'CAPTURE_GAP'
	AND (entry_data->'reasons'->>'save_failed')::int > 0}) or die 'no gap row';
ok(1, 'B: a CAPTURE_GAP row says the save failed');
ok($node->poll_query_until('postgres', q{SELECT (pg_stat_file('pg_stat/audit_log.queue.reserve', true)).size >= 4096 * 1900}),
	'B: once space is back the writer reserves the save file again');

# ---- C: WAL cannot grow: PANIC
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'CHECKPOINT');
fill_disk();
$refused = storm('C', 25);
ok($refused >= 90, "C: the clients saw $refused refusals while the disk was full");
# the next WAL segment cannot be created
$node->psql('postgres', q{SELECT pg_switch_wal(); CREATE TABLE regress_fd_wal (i int); INSERT INTO regress_fd_wal SELECT generate_series(1, 100000);});
$node->wait_for_log(qr/audit_log: (saved|could not save) \d+ queued events/, $offset);
like(log_from($offset), qr/PANIC:  could not write to file "pg_wal\/xlogtemp/, 'C: PostgreSQL panicked for lack of WAL space');
like(log_from($offset), qr/saved \d+ queued events to "pg_stat\/audit_log.queue" \(in the space reserved at start\)/,
	'C: the queue was saved into the reserved space');
# crash recovery needs WAL space too: the startup process fails and the
# postmaster exits (saving the queue once more), or it waits for space
$node->wait_for_log(qr/shutting down due to startup process failure|database system is ready to accept connections/, $offset);
free_disk();
if (log_from($offset) =~ /shutting down due to startup process failure/)
{
	$node->wait_for_log(qr/database system is shut down/, $offset);
	$node->_update_pid(0);
	$node->start;
}
$node->poll_query_until('postgres', 'SELECT true') or die 'no restart';
is($node->safe_psql('postgres', q{SELECT audit_log.flush('60 s')}), 't', 'C: the writer writes on its own');
($rows, $lines) = outcome('C', log_from($offset));
is($rows + $lines, $refused, "C: every refused attempt is a row or a counted JSON line ($rows rows, $lines lines)");

$node->stop;
free_disk();
unlink $pgdata;
rmtree("$tmpfs/pgdata");
unlink glob("$tmpfs/filler*");
done_testing();
