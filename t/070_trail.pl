# The trail audits itself (issue 15, cases 3 and 4, and the reads):
#  - DROP EXTENSION audit_log (CASCADE, DROP SCHEMA audit_log CASCADE, DROP
#    OWNED BY its owner) is refused while audit_log.allow_drop is off; when
#    allowed, the drop leaves a server-log line and a record under the data
#    directory, from which the next CREATE EXTENSION writes EXTENSION_DROPPED
#    with who, when, the rows and days lost and the last seal digest;
#  - every statement that alters the trail's own objects is an AUDIT_LOG
#    TRAIL_CHANGE event, also when it fails or is rolled back, while the
#    extension's own maintenance is not;
#  - the issue's case: ALTER SYSTEM SET audit_log.capture = 'none', reload,
#    CREATE ROLE hidden SUPERUSER leaves the SETTINGS_CHANGE event;
#  - reads of audit_log.events are AUDIT_LOG READ events, one per session
#    per minute, none for the extension's own jobs, none with log_reads off,
#    never with the statement's text.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = audit_log_node('trail', conf => qq{
audit_log.flush_interval = '20ms'
});
my $datadir = $node->data_dir;

sub run_sql { return $node->safe_psql('postgres', $_[0], %{ $_[1] // {} }); }
sub flush { run_sql(q{SELECT audit_log.flush('10 seconds')}); }

# Set a sighup setting and wait until new sessions see it.
sub set_conf
{
	my ($name, $value) = @_;
	if (defined $value)
	{
		run_sql("ALTER SYSTEM SET $name = '$value'");
	}
	else
	{
		run_sql("ALTER SYSTEM RESET $name");
	}
	run_sql('SELECT pg_reload_conf()');
	my $want = $value // q{};
	$node->poll_query_until('postgres', "SELECT current_setting('$name') = '$want' OR '$want' = ''")
	  or die "setting $name not reloaded";
}

# psql as another role, with an application_name that names the session.
sub q_as
{
	my ($role, $app, $sql) = @_;
	return $node->safe_psql('postgres', $sql,
		connstr => $node->connstr('postgres') . " user=$role application_name=$app");
}

run_sql(q{
CREATE ROLE regress_reader LOGIN IN ROLE audit_log_reader;
CREATE ROLE regress_plain LOGIN;
CREATE ROLE regress_ext_owner SUPERUSER;
CREATE DATABASE regress_other;
});
$node->safe_psql('regress_other', q{
SET ROLE regress_ext_owner;
CREATE EXTENSION audit_log;
});

# ---------------------------------------------------------------------
# 1. The guarded DROP EXTENSION
# ---------------------------------------------------------------------
my $refused = qr/would drop extension audit_log, which is refused while audit_log\.allow_drop is off/;
for my $stmt ('DROP EXTENSION audit_log', 'DROP EXTENSION audit_log CASCADE',
	'DROP SCHEMA audit_log CASCADE')
{
	my ($rc, $out, $err) = $node->psql('postgres', $stmt);
	like($err, $refused, "$stmt is refused while allow_drop is off");
}
{
	my ($rc, $out, $err) = $node->psql('regress_other', 'DROP OWNED BY regress_ext_owner');
	like($err, $refused, 'DROP OWNED BY the extension owner is refused while allow_drop is off');
	is($node->safe_psql('regress_other', q{SELECT count(*) FROM pg_extension WHERE extname = 'audit_log'}),
		'1', 'the extension owned by another role is still there');
}
is(run_sql(q{SELECT count(*) FROM pg_extension WHERE extname = 'audit_log'}), '1',
	'the extension is still there');
flush();
is( run_sql(q{
SELECT count(*) FROM audit_log.events
WHERE event_type = 'TRAIL_CHANGE' AND event_status = 'FAILURE'
  AND event_status_reason_code = '55000'
  AND entry_data->>'command' IN ('DROP EXTENSION', 'DROP SCHEMA')}),
	'3', 'each refused drop is a TRAIL_CHANGE FAILURE 55000');

# allow_drop is superuser-only, and its change is a SETTINGS_CHANGE event
{
	my ($rc, $out, $err) = $node->psql('postgres', 'SET audit_log.allow_drop = on');
	like($err, qr/cannot be changed now|cannot be set|permission denied/, 'allow_drop cannot be SET in a session');
}
set_conf('audit_log.allow_drop', 'on');
ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 1 FROM audit_log.events
WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.allow_drop'
  AND entry_data->>'new' = 'on'}),
	'turning allow_drop on is a SETTINGS_CHANGE event');

# Some history: events on two past days, one of them sealed.
run_sql(q{
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'SUCCESS',
	user_email => 'drop-' || i || '@example.com',
	request_time => date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
		- interval '1 day' * (2 + i % 2) + interval '1 hour'))
FROM generate_series(1, 6) i;
SELECT audit_log.maintain();
});
run_sql(q{SELECT audit_log.seal(((now() AT TIME ZONE 'UTC')::date - 3))});

# A rolled-back drop leaves no record.
run_sql(q{BEGIN; SET LOCAL client_min_messages = warning; DROP EXTENSION audit_log CASCADE; ROLLBACK;});
my @records = glob("$datadir/pg_audit_log/dropped.*");
is(scalar(@records), 0, 'a rolled-back drop leaves no record');

# The drop, with the trail counted just before it in the same session.
sleep 1;    # the LOGOUT events of earlier sessions are in
my $out = run_sql(q{
SELECT audit_log.flush('10 seconds');
SELECT count(*) FROM audit_log.events;
SELECT audit_log.flush('10 seconds');
SELECT count(*) || '/' || count(DISTINCT (request_time AT TIME ZONE 'UTC')::date) FROM audit_log.events;
SELECT digest FROM audit_log.seals ORDER BY day DESC LIMIT 1;
SET client_min_messages = warning;
DROP EXTENSION audit_log CASCADE;
});
my @lines = split /\n/, $out;
my ($lost, $digest) = @lines[ 3, 4 ];
my ($lost_rows, $lost_days) = split m{/}, $lost;
like($digest, qr/^[0-9a-f]{64}$/, 'there was a seal digest before the drop');
is(run_sql(q{SELECT count(*) FROM pg_extension WHERE extname = 'audit_log'}), '0',
	'DROP EXTENSION goes ahead with allow_drop on');
@records = glob("$datadir/pg_audit_log/dropped.*");
is(scalar(@records), 1, 'the drop left one record under the data directory');
my $record = @records ? slurp_file($records[0]) : '';
like($record, qr/"rows": $lost_rows\b/, 'the record holds the number of rows lost');
like($record, qr/"last_seal_digest": "$digest"/, 'the record holds the last seal digest');
like(slurp_file($node->logfile),
	qr/LOG:  audit_log: extension audit_log dropped in database "postgres" by "postgres".*\n.*Record: .*"rows": $lost_rows/,
	'the drop is in the server log with its record');

run_sql('CREATE EXTENSION audit_log');
flush();
is( run_sql(q{
SELECT user_name || ' ' || (entry_data->>'statement') || ' ' || (entry_data->>'rows') || ' '
	|| (entry_data->>'days') || ' ' || (entry_data->>'last_seal_digest') || ' '
	|| (entry_data->>'recreated_by') || ' ' || (entry_data ? 'dropped_at')
FROM audit_log.events WHERE event_category = 'AUDIT_LOG' AND event_type = 'EXTENSION_DROPPED'}),
	"postgres DROP EXTENSION $lost_rows $lost_days $digest postgres true",
	'CREATE EXTENSION writes EXTENSION_DROPPED: who, when, rows and days lost, last seal');
@records = glob("$datadir/pg_audit_log/dropped.*");
is(scalar(@records), 0, 'the record is consumed by CREATE EXTENSION');

set_conf('audit_log.allow_drop', undef);

# ---------------------------------------------------------------------
# 2. TRAIL_CHANGE
# ---------------------------------------------------------------------
my $t0 = run_sql('SELECT clock_timestamp()');
run_sql('SELECT audit_log.maintain()');
my $part = run_sql(q{SELECT audit_log.partition_name((now() AT TIME ZONE 'UTC')::date)});

run_sql(q{
ALTER TABLE audit_log.events_default DISABLE TRIGGER USER;
ALTER TABLE audit_log.events_default ENABLE TRIGGER USER;
SET session_replication_role = replica;
RESET session_replication_role;
GRANT SELECT ON audit_log.events TO regress_plain;
REVOKE SELECT ON audit_log.events FROM regress_plain;
ALTER ROLE regress_plain SET session_replication_role = replica;
ALTER ROLE regress_plain RESET session_replication_role;
SELECT audit_log.pause_writer(true);
SELECT audit_log.pause_writer(false);
ALTER EXTENSION audit_log UPDATE;
});
my ($rc, $o, $err) = $node->psql('postgres', q{BEGIN; TRUNCATE audit_log.events_default;});
like($err, qr/append-only/, 'TRUNCATE of a partition fails');
run_sql(qq{
BEGIN;
ALTER TABLE audit_log.events_default OWNER TO regress_plain;
ALTER TABLE audit_log.events DETACH PARTITION audit_log.$part;
DROP TABLE audit_log.$part;
ROLLBACK;
});
($rc, $o, $err) = $node->psql('postgres', 'SET session_replication_role = replica',
	connstr => $node->connstr('postgres') . ' user=regress_plain');
like($err, qr/permission denied/, 'a plain role may not set session_replication_role');
flush();

my $trail = run_sql(qq{
SELECT string_agg(rtrim(event_status || ' ' || coalesce(event_status_reason_code, '-') || ' ' || user_name || ' '
	|| (entry_data->>'command') || ' ' || object_name || ' '
	|| coalesce(entry_data->>'actions', entry_data->>'value', entry_data->>'paused', '')),
	E'\\n' ORDER BY request_time, event_id)
FROM audit_log.events
WHERE event_type = 'TRAIL_CHANGE' AND request_time > '$t0'});
my @expected = (
	'SUCCESS - postgres ALTER TABLE audit_log.events_default ["DISABLE TRIGGER USER"]',
	'SUCCESS - postgres ALTER TABLE audit_log.events_default ["ENABLE TRIGGER USER"]',
	'SUCCESS - postgres SET session_replication_role replica',
	'SUCCESS - postgres RESET session_replication_role RESET',
	'SUCCESS - postgres GRANT audit_log.events',
	'SUCCESS - postgres REVOKE audit_log.events',
	'SUCCESS - postgres ALTER ROLE session_replication_role replica',
	'SUCCESS - postgres ALTER ROLE session_replication_role RESET',
	'SUCCESS - postgres SELECT audit_log.pause_writer true',
	'SUCCESS - postgres SELECT audit_log.pause_writer false',
	'SUCCESS - postgres ALTER EXTENSION audit_log',
	'FAILURE 42501 postgres TRUNCATE TABLE audit_log.events_default',
	'FAILURE ROLLBACK postgres ALTER TABLE audit_log.events_default ["OWNER TO regress_plain"]',
	"FAILURE ROLLBACK postgres ALTER TABLE audit_log.events [\"DETACH PARTITION audit_log.$part\"]",
	"FAILURE ROLLBACK postgres DROP TABLE audit_log.$part",
	'FAILURE 42501 regress_plain SET session_replication_role replica');
is($trail, join("\n", @expected),
	'every tampering statement is a TRAIL_CHANGE, with its outcome; maintain() is not');
unlike($trail, qr/regress_secret/, 'nothing but names and values');

# Unqualified names resolve through search_path: a GRANT reaches the trail
# only when the name resolves into audit_log, not when another schema's
# table of the same name comes first, nor for a table the schema lacks.
my $t1 = run_sql('SELECT clock_timestamp()');
run_sql(q{
CREATE TABLE public.events (a int);
CREATE TABLE public.regress_trail_other (a int);
SET search_path = audit_log, public;
GRANT SELECT ON events TO regress_plain;
REVOKE SELECT ON events FROM regress_plain;
GRANT SELECT ON regress_trail_other TO regress_plain;
SET search_path = public, audit_log;
GRANT SELECT ON events TO regress_plain;
DROP TABLE public.events, public.regress_trail_other;
});
flush();
is( run_sql(qq{
SELECT string_agg((entry_data->>'command') || ' ' || object_name, ', ' ORDER BY request_time, event_id)
FROM audit_log.events WHERE event_type = 'TRAIL_CHANGE' AND request_time > '$t1'}),
	'GRANT events, REVOKE events',
	'an unqualified name is on the trail only when search_path resolves it into audit_log');

# The issue's case: turning the capture off is itself on record.
set_conf('audit_log.capture', 'none');
run_sql('CREATE ROLE regress_hidden SUPERUSER');
set_conf('audit_log.capture', undef);
flush();
ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 1 FROM audit_log.events
WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.capture'
  AND entry_data->>'old' = 'all' AND entry_data->>'new' = 'none'}),
	'capture all -> none is a SETTINGS_CHANGE event');
is(run_sql(q{SELECT count(*) FROM audit_log.events WHERE object_name = 'regress_hidden'}), '0',
	'the role created while nothing was captured is not (the settings change says why)');

# ---------------------------------------------------------------------
# 3. READ
# ---------------------------------------------------------------------
q_as('regress_reader', 'regress_r1', q{
SELECT /* regress-read-marker-77 */ count(*) FROM audit_log.events;
SELECT count(*) FROM audit_log.events WHERE event_type = 'LOGIN';
SELECT count(*) FROM audit_log.events;
});
q_as('regress_reader', 'regress_r2', q{COPY (SELECT event_id FROM audit_log.events LIMIT 1) TO STDOUT});
q_as('postgres', 'regress_r3', q{SELECT count(*) FROM audit_log.events_default});
q_as('postgres', 'regress_r4', q{
SELECT audit_log.maintain();
SELECT count(*) FROM audit_log.verify((now() AT TIME ZONE 'UTC')::date - 3, (now() AT TIME ZONE 'UTC')::date - 3);
SELECT count(*) FROM audit_log.event_types;
});
flush();
my $reads_sql = q{
SELECT string_agg(application_name || ' ' || user_name || ' ' || database_name || ' '
	|| (entry_data->>'statement') || ' ' || object_name, E'\n' ORDER BY application_name)
FROM audit_log.events WHERE event_type = 'READ' AND application_name LIKE 'regress_r%'};
is( run_sql($reads_sql),
	"regress_r1 regress_reader postgres SELECT audit_log.events\n"
	  . "regress_r2 regress_reader postgres COPY audit_log.events\n"
	  . "regress_r3 postgres postgres SELECT audit_log.events_default",
	'one READ per session and minute, with role, database, statement kind and relation; none for maintain/verify');
is(run_sql(q{SELECT count(*) FROM audit_log.events e WHERE e::text LIKE '%regress-read-marker-77%'}), '0',
	'no READ event holds the statement text');

set_conf('audit_log.log_reads', 'off');
q_as('regress_reader', 'regress_r5', q{SELECT count(*) FROM audit_log.events});
set_conf('audit_log.log_reads', undef);
flush();
is(run_sql(q{SELECT count(*) FROM audit_log.events WHERE event_type = 'READ' AND application_name = 'regress_r5'}),
	'0', 'no READ event while audit_log.log_reads is off');
ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 2 FROM audit_log.events
WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.log_reads'}),
	'log_reads off and back on are SETTINGS_CHANGE events');

$node->stop;
done_testing();
