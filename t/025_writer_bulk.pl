# The writer's table multi-insert (src/writer_bulk.c, issue 20): batches go
# into audit_log.events without the INSERT, and keep every guarantee the
# INSERT gave.
#   - the rows are the same as the INSERT's, column for column (the same
#     events once by multi-insert, once with a BEFORE trigger that makes the
#     writer use the INSERT);
#   - a BEFORE ROW trigger is honoured (the batch takes the INSERT, and the
#     server log says why), and the writer goes back to the multi-insert
#     once it is gone;
#   - AFTER ROW triggers fire per row with their WHEN clauses, the rollups'
#     own trigger function among them;
#   - a CHECK constraint an event fails makes the batch fail as a whole
#     (nothing of it written), and the retry writes every other event of it
#     and puts only the bad one in the server log;
#   - one batch that spans three ranges (default partition, a partition
#     whose columns are in another order and have a dropped one, default
#     again) puts each row where its request_time belongs;
#   - no secret given in a command is in any row or log line.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use Time::HiRes qw(sleep);

my $node = scram_node('bulk', qq{
audit_log.flush_interval = '20ms'
});
my $port = $node->port;
$node->safe_psql('postgres', q{
CREATE ROLE regress_bulk LOGIN PASSWORD 'bulk-login-secret';
});

# One login (right or wrong password) with application_name $app.
sub login
{
	my ($app, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-w', '-d',
		"host=127.0.0.1 port=$port user=regress_bulk dbname=postgres application_name=$app",
		'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
	return $err;
}

# The same mix of events, tagged by application_name $tag.
sub produce
{
	my ($tag) = @_;
	my $r = $tag =~ s/-/_/gr;
	login($tag, 'bulk-login-secret') for 1 .. 3;
	login($tag, 'not-the-password') for 1 .. 2;
	$node->safe_psql('postgres', qq{
SET application_name = '$tag';
CREATE ROLE regress_r_$r PASSWORD 'bulk-secret-$tag';
GRANT regress_r_$r TO regress_bulk;
REVOKE regress_r_$r FROM regress_bulk;
DROP ROLE regress_r_$r;
});
}

sub flush
{
	$node->safe_psql('postgres', "SELECT audit_log.flush('30 s')");
}

# Every row of $tag, its values as text (the tag and the times made alike).
sub shapes
{
	my ($tag) = @_;
	my $r = $tag =~ s/-/_/gr;
	return $node->safe_psql('postgres', qq{
SELECT pg_catalog.concat_ws('|', event_category, event_type, event_status,
	event_status_reason_code, user_name, user_email,
	pg_catalog.replace(object_name, '$r', 'TAG'), pg_catalog.host(client_addr),
	database_name, source_node, origin, backend_pid IS NOT NULL,
	session_id IS NOT NULL, logged_time >= request_time,
	pg_catalog.regexp_replace(pg_catalog.replace(pg_catalog.replace(entry_data::text,
		'$tag', 'TAG'), '$r', 'TAG'), '"duration_s": [0-9.e-]+', '"duration_s": N'))
FROM audit_log.events WHERE application_name = '$tag'
ORDER BY 1});
}

sub log_count
{
	my ($re) = @_;
	my @m = grep { /$re/ } split /\n/, slurp_file($node->logfile);
	return scalar @m;
}

my $bulk_re = qr/audit_log: the writer writes its batches by table multi-insert/;
my $insert_re = qr/audit_log: the writer writes its batches with INSERT \.\.\. SELECT/;

# 1. By multi-insert.
produce('bulk-a');
flush();
is(log_count($bulk_re), 1, 'the writer says it writes by table multi-insert');
is(log_count($insert_re), 0, 'and never took the INSERT');
my $a = shapes('bulk-a');
like($a, qr/^ACCESS_SIGMA\|LOGIN\|SUCCESS/m, 'logins written');
like($a, qr/^ACCESS_SIGMA\|LOGIN\|FAILURE/m, 'failed logins written');
like($a, qr/^TEAMS\|CREATE_TEAM\|SUCCESS/m, 'administrative events written');

# 2. A BEFORE ROW trigger: the INSERT, and it runs on every row.
$node->safe_psql('postgres', q{
CREATE FUNCTION public.regress_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.user_email := 'seen-by-trigger'; RETURN NEW; END $$;
CREATE TRIGGER regress_mark BEFORE INSERT ON audit_log.events
	FOR EACH ROW EXECUTE FUNCTION public.regress_mark();
});
produce('bulk-b');
flush();
is(log_count($insert_re), 1, 'with a BEFORE trigger the writer says it takes the INSERT');
like(slurp_file($node->logfile),
	qr/with INSERT \.\.\. SELECT\n.*DETAIL:  The multi-insert is not used because trigger regress_mark on events_\w+ fires before each row\./,
	'and why');
my $b = shapes('bulk-b');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.count(*) FILTER (WHERE user_email IS DISTINCT FROM 'seen-by-trigger')
FROM audit_log.events WHERE application_name = 'bulk-b'}), '0',
	'the trigger ran on every row the INSERT wrote');
$b =~ s/\|seen-by-trigger\|/|/g;
ok($a ne '', 'rows to compare');
is($a, $b, 'the multi-insert writes the same rows as the INSERT, column for column');

$node->safe_psql('postgres', 'DROP TRIGGER regress_mark ON audit_log.events');
produce('bulk-c');
flush();
is(log_count($bulk_re), 2, 'without the trigger the writer goes back to the multi-insert');
is(shapes('bulk-c'), $a, 'and writes the same rows again');

# 3. AFTER ROW triggers with WHEN clauses, the rollups' function among them.
my $part = $node->safe_psql('postgres', q{
SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_log.events'::pg_catalog.regclass
  AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'});
is($part, 'events_default', 'now is in the default partition');
$node->safe_psql('postgres', qq{
CREATE TABLE public.regress_seen (app text, status text, type text);
CREATE FUNCTION public.regress_seen() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN INSERT INTO public.regress_seen VALUES (NEW.application_name, NEW.event_status, NEW.event_type);
RETURN NULL; END \$\$;
CREATE TRIGGER regress_seen AFTER INSERT ON audit_log.events
	FOR EACH ROW WHEN (NEW.event_status = 'FAILURE') EXECUTE FUNCTION public.regress_seen();
CREATE TRIGGER regress_rollup AFTER INSERT ON audit_log.$part
	FOR EACH ROW WHEN (NEW.application_name = 'bulk-d')
	EXECUTE FUNCTION audit_log._rollup_late_row();
ALTER TABLE audit_log.$part ENABLE ALWAYS TRIGGER regress_rollup;
});
my $counted_before = $node->safe_psql('postgres',
	'SELECT COALESCE(pg_catalog.sum(count), 0) FROM audit_log.hourly_counts');
produce('bulk-d');
flush();
is(log_count($insert_re), 1, 'AFTER triggers do not keep the writer from the multi-insert');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.string_agg(status || ' ' || type, ',' ORDER BY type) FROM public.regress_seen WHERE app = 'bulk-d'}),
	'FAILURE LOGIN,FAILURE LOGIN', 'an AFTER ROW trigger fired once per row its WHEN clause takes');
is($node->safe_psql('postgres', 'SELECT pg_catalog.count(*) FROM public.regress_seen WHERE app <> \'bulk-d\''),
	'0', 'and for no other row');
is($node->safe_psql('postgres',
	'SELECT COALESCE(pg_catalog.sum(count), 0) FROM audit_log.hourly_counts') - $counted_before,
	$node->safe_psql('postgres', q{SELECT pg_catalog.count(*) FROM audit_log.events WHERE application_name = 'bulk-d'}),
	'the rollups\' late-row trigger counted every row of the batch');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.count(*) FROM audit_log.events e
WHERE e.application_name = 'bulk-d'
  AND NOT EXISTS (SELECT 1 FROM audit_log.hourly_counts h
	WHERE h.hour = pg_catalog.date_trunc('hour', e.request_time, 'UTC')
	  AND h.event_type = e.event_type AND h.event_status = e.event_status)}),
	'0', 'in the hour, type and status of each');
$node->safe_psql('postgres', qq{
DROP TRIGGER regress_seen ON audit_log.events;
DROP TRIGGER regress_rollup ON audit_log.$part;
});

# 4. One event that fails a CHECK: the batch fails whole, the retry keeps
# the others and puts that one in the server log.
$node->safe_psql('postgres', q{
ALTER TABLE audit_log.events ADD CONSTRAINT regress_no_bad CHECK (application_name IS DISTINCT FROM 'bulk-bad');
});
is($node->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)'), 'f', 'writer paused');
login('bulk-good-1', 'bulk-login-secret');
login('bulk-bad', 'bulk-login-secret');
login('bulk-good-2', 'not-the-password');
my $queued = $node->safe_psql('postgres', 'SELECT queued FROM audit_log.status');
cmp_ok($queued, '>=', 5, "$queued events queued, the bad ones among them");
$node->safe_psql('postgres', 'SELECT audit_log.pause_writer(false)');
flush();
is($node->safe_psql('postgres', q{
SELECT pg_catalog.string_agg(application_name || ' ' || event_type || ' ' || event_status, ',' ORDER BY application_name, event_type, event_status::text)
FROM audit_log.events WHERE application_name LIKE 'bulk-good-%' OR application_name = 'bulk-bad'}),
	'bulk-good-1 LOGIN SUCCESS,bulk-good-1 LOGOUT SUCCESS,bulk-good-2 LOGIN FAILURE',
	'every good event of the failed batch is written, the bad ones are not');
my @dropped = grep { /audit_log: \{.*"application_name": ?"bulk-bad"/ } split /\n/, slurp_file($node->logfile);
is(scalar @dropped, 2, 'the bad LOGIN and LOGOUT are in the server log');
like(slurp_file($node->logfile), qr/violates check constraint "regress_no_bad"/,
	'with the reason');
$node->safe_psql('postgres', 'ALTER TABLE audit_log.events DROP CONSTRAINT regress_no_bad');

# 5. One batch across three ranges: default, a partition of its own column
# order (and a dropped column) for a few seconds, default again.
my ($lo, $hi) = split /\|/, $node->safe_psql('postgres', q{
SELECT pg_catalog.clock_timestamp() + interval '3 s', pg_catalog.clock_timestamp() + interval '6 s'});
$node->safe_psql('postgres', qq{
CREATE TABLE audit_log.regress_window (
	regress_dropped int, origin audit_log.event_origin NOT NULL,
	entry_data jsonb NOT NULL DEFAULT '{}', source_node text, session_id text,
	backend_pid int, database_name text, application_name text, client_addr inet,
	object_name text, user_email text, user_name text, event_status_reason_code text,
	event_status audit_log.event_status NOT NULL, event_type text NOT NULL,
	event_category audit_log.event_category NOT NULL, logged_time timestamptz NOT NULL,
	request_time timestamptz NOT NULL, event_id uuid NOT NULL PRIMARY KEY,
	CONSTRAINT events_entry_data_object CHECK (pg_catalog.jsonb_typeof(entry_data) = 'object'));
ALTER TABLE audit_log.regress_window DROP COLUMN regress_dropped;
ALTER TABLE audit_log.events ATTACH PARTITION audit_log.regress_window
	FOR VALUES FROM ('$lo') TO ('$hi');
});
$node->safe_psql('postgres', 'SELECT audit_log.pause_writer(true)');
my $now = sub { $node->safe_psql('postgres', "SELECT pg_catalog.clock_timestamp() >= '$_[0]'") eq 't' };
login('bulk-e1', 'bulk-login-secret');
sleep 0.1 until $now->($lo);
login('bulk-e2', 'bulk-login-secret');
login('bulk-e2', 'not-the-password');
sleep 0.1 until $now->($hi);
login('bulk-e3', 'bulk-login-secret');
$node->safe_psql('postgres', 'SELECT audit_log.pause_writer(false)');
flush();
is($node->safe_psql('postgres', qq{
SELECT pg_catalog.count(*) FROM audit_log.events
WHERE (tableoid = 'audit_log.regress_window'::regclass)
	<> (request_time >= '$lo' AND request_time < '$hi')}),
	'0', 'every row of the window is in its partition, and only those');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.string_agg(application_name || ' ' || (tableoid = 'audit_log.regress_window'::regclass),
	',' ORDER BY application_name, event_type, event_status::text)
FROM audit_log.events WHERE application_name LIKE 'bulk-e%'}),
	'bulk-e1 false,bulk-e1 false,bulk-e2 true,bulk-e2 true,bulk-e2 true,bulk-e3 false,bulk-e3 false',
	'the logins before and after the window in the default partition, those inside in the window');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.string_agg(application_name || ' ' || event_type || ' ' || event_status, ',' ORDER BY application_name, event_type, event_status::text)
FROM audit_log.events WHERE application_name LIKE 'bulk-e%'}),
	'bulk-e1 LOGIN SUCCESS,bulk-e1 LOGOUT SUCCESS,bulk-e2 LOGIN FAILURE,bulk-e2 LOGIN SUCCESS,'
	. 'bulk-e2 LOGOUT SUCCESS,bulk-e3 LOGIN SUCCESS,bulk-e3 LOGOUT SUCCESS',
	'every event of the batch is written once');
is($node->safe_psql('postgres', q{
SELECT pg_catalog.count(*) FROM audit_log.regress_window
WHERE application_name = 'bulk-e2' AND user_name <> 'regress_bulk' OR database_name <> 'postgres' OR host(client_addr) <> '127.0.0.1'
   OR origin <> 'SERVER' OR event_category <> 'ACCESS_SIGMA' OR pg_catalog.jsonb_typeof(entry_data) <> 'object'
   OR session_id IS NULL OR backend_pid IS NULL OR event_id IS NULL OR logged_time < request_time}),
	'0', 'in the reordered partition each value is in its own column');
is(log_count($insert_re), 1, 'all by multi-insert');

# 6. No secret anywhere.
my $rows = $node->safe_psql('postgres', 'SELECT e::text FROM audit_log.events e');
my $log = slurp_file($node->logfile);
for my $secret ('bulk-login-secret', 'bulk-secret-bulk-a', 'bulk-secret-bulk-b', 'bulk-secret-bulk-c', 'bulk-secret-bulk-d')
{
	unlike($rows, qr/\Q$secret\E/, "no $secret in the table");
	unlike($log, qr/\Q$secret\E/, "no $secret in the server log");
}

$node->stop;
done_testing();
