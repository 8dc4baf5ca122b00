# Capture of administrative commands, the parts pg_regress cannot show:
# the secrets used in passwords, user mappings and connection strings appear
# neither in audit_log.events nor in the server log lines audit_log writes
# (audit_log.log_to_server = on); a session terminated in the middle of a
# transaction leaves FAILURE rows with the SQLSTATE that ended it; a prepared
# transaction's commands are recorded at PREPARE with reason PREPARED, and
# again with their true outcome once ROLLBACK PREPARED decided it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $secret = 'Adm-secret-4e7b21';

my $node = audit_log_node('admin',
	conf => qq{
audit_log.flush_interval = '20ms'
audit_log.log_to_server = on
max_prepared_transactions = 2
},
	extensions => [ 'audit_log', 'postgres_fdw' ]);

# Successful commands carrying secrets.
$node->safe_psql('postgres', qq{
CREATE ROLE regress_u LOGIN PASSWORD '$secret';
ALTER ROLE regress_u PASSWORD '${secret}2';
ALTER USER regress_u WITH ENCRYPTED PASSWORD 'SCRAM-SHA-256\$4096:c2FsdA==\$${secret}=:${secret}=';
CREATE SERVER regress_s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.example.com', dbname 'sales');
CREATE USER MAPPING FOR regress_u SERVER regress_s OPTIONS (user 'remote', password '$secret');
ALTER USER MAPPING FOR regress_u SERVER regress_s OPTIONS (SET password '${secret}3');
SET client_min_messages = error;
CREATE SUBSCRIPTION regress_sub CONNECTION 'host=db.example.com dbname=sales user=repl password=$secret' PUBLICATION p WITH (connect = false, slot_name = NONE);
ALTER SUBSCRIPTION regress_sub CONNECTION 'postgresql://repl:$secret\@db2.example.com/sales';
});

# A refused attempt: PostgreSQL itself logs the statement text with the
# error (log_min_error_statement); the extension's own lines must not.
my ($rc, $out, $err) = $node->psql('postgres', qq{
SET ROLE regress_u;
CREATE ROLE regress_v LOGIN PASSWORD '$secret';
});
like($err, qr/permission denied to create role/, 'unprivileged CREATE ROLE is refused');

# A session terminated inside its transaction: the abort still records the
# commands, with the SQLSTATE of the termination (57P01).
($rc, $out, $err) = $node->psql('postgres', qq{
BEGIN;
CREATE ROLE regress_term LOGIN PASSWORD '$secret';
GRANT pg_read_all_data TO regress_term;
SELECT pg_terminate_backend(pg_backend_pid());
});
like($err, qr/terminating connection/, 'the session was terminated');

# PREPARE TRANSACTION: recorded at PREPARE, reason PREPARED; the ROLLBACK
# PREPARED then adds the true outcome (t/021_prepared_outcome.pl has more).
$node->safe_psql('postgres', q{
BEGIN;
CREATE ROLE regress_prep;
PREPARE TRANSACTION 'regress_p1';
});
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'regress_p1'});

is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() returns true');

my $su = $node->safe_psql('postgres', 'SELECT current_user');

sub rows
{
	my ($where) = @_;
	return $node->safe_psql('postgres', qq{
SELECT string_agg(concat_ws('|', event_type, event_status, coalesce(event_status_reason_code, '-'),
		user_name, object_name), E'\\n' ORDER BY request_time, event_type COLLATE "C")
FROM audit_log.events WHERE $where});
}

is(rows("event_type = 'PASSWORD_CHANGE'"),
	join("\n",
		'PASSWORD_CHANGE|SUCCESS|-|' . $su . '|regress_u',
		'PASSWORD_CHANGE|SUCCESS|-|' . $su . '|regress_u',
		'PASSWORD_CHANGE|SUCCESS|-|' . $su . '|regress_u',
		'PASSWORD_CHANGE|FAILURE|42501|regress_u|regress_v',
		'PASSWORD_CHANGE|FAILURE|57P01|' . $su . '|regress_term'),
	'password changes: three set, one refused, one in a terminated session');

is(rows("object_name IN ('regress_term', 'pg_read_all_data') AND event_type <> 'PASSWORD_CHANGE'"),
	join("\n",
		'CREATE_USER|FAILURE|57P01|' . $su . '|regress_term',
		'GRANT_MEMBERSHIP|FAILURE|57P01|' . $su . '|pg_read_all_data'),
	'commands of the terminated session are FAILURE 57P01');

$node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM audit_log.events WHERE object_name = 'regress_prep'});
is(rows("object_name = 'regress_prep'"),
	'CREATE_TEAM|SUCCESS|PREPARED|' . $su . "|regress_prep\n"
	. 'CREATE_TEAM|FAILURE|ROLLBACK_PREPARED|' . $su . '|regress_prep',
	'a prepared transaction is recorded at PREPARE with reason PREPARED, then with its outcome');

is($node->safe_psql('postgres', q{
SELECT string_agg(event_type || ':' || (entry_data->'options'->>'password'), ',' ORDER BY request_time)
FROM audit_log.events WHERE event_type LIKE '%USER_MAPPING'}),
	'CREATE_USER_MAPPING:[redacted],ALTER_USER_MAPPING:[redacted]',
	'user-mapping password options are recorded as [redacted]');

is($node->safe_psql('postgres', q{
SELECT string_agg((entry_data->'conninfo')::text || ' ' || (entry_data->'conninfo_omitted')::text, ',' ORDER BY request_time)
FROM audit_log.events WHERE event_type IN ('CREATE_SUBSCRIPTION', 'ALTER_SUBSCRIPTION')}),
	'{"host": "db.example.com", "user": "repl", "dbname": "sales"} ["password"],'
	  . '{"host": "db2.example.com", "user": "repl", "dbname": "sales"} ["password"]',
	'subscription connection strings keep only their non-secret keys');

# The secret is nowhere in the table.
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.events WHERE events::text LIKE '%$secret%'}),
	'0', 'no row contains the secret');

# Our server log lines: there are some for these events, none has the secret.
my @ours = grep { /audit_log: \{/ } split /\n/, slurp_file($node->logfile);
ok(scalar(grep { /"PASSWORD_CHANGE"/ } @ours) >= 5, 'log_to_server wrote the password-change events');
ok(scalar(grep { /"CREATE_USER_MAPPING"/ } @ours) >= 1, 'log_to_server wrote the user-mapping event');
is(scalar(grep { /\Q$secret\E/ } @ours), 0, 'no audit_log log line contains the secret');

$node->stop;
done_testing();
