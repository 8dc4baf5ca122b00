# The true outcome of a prepared transaction: an administrative command in
# a transaction that is PREPAREd is recorded at PREPARE (SUCCESS, reason
# PREPARED, entry_data.prepared = {gid, xid}); once COMMIT PREPARED or
# ROLLBACK PREPARED decides it, in another session or after a restart, a
# second event records the final outcome: SUCCESS, or FAILURE with reason
# ROLLBACK_PREPARED, with entry_data.prepared_event_id.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = audit_log_node('prep', conf => "max_prepared_transactions = 5\n");

for my $n (1 .. 3)
{
	$node->safe_psql('postgres', "BEGIN; CREATE ROLE regress_prep$n LOGIN; PREPARE TRANSACTION 'regress_gid_$n';");
}
# decided in other sessions
$node->safe_psql('postgres', "ROLLBACK PREPARED 'regress_gid_1'");
$node->safe_psql('postgres', "COMMIT PREPARED 'regress_gid_2'");
# decided after a restart
$node->restart;
$node->safe_psql('postgres', "COMMIT PREPARED 'regress_gid_3'");

my $outcomes = q{
SELECT string_agg(object_name || ':' || event_status || ':' || coalesce(event_status_reason_code, '-') || ':'
	|| coalesce(entry_data->>'outcome', entry_data->'prepared'->>'gid'), ' ' ORDER BY object_name, event_id)
FROM audit_log.events WHERE event_type = 'CREATE_USER' AND object_name LIKE 'regress_prep%'};
$node->poll_query_until('postgres', q{SELECT count(*) = 6 FROM audit_log.events
	WHERE event_type = 'CREATE_USER' AND object_name LIKE 'regress_prep%'})
  or diag($node->safe_psql('postgres', $outcomes));
is($node->safe_psql('postgres', $outcomes),
	'regress_prep1:SUCCESS:PREPARED:regress_gid_1 regress_prep1:FAILURE:ROLLBACK_PREPARED:ROLLBACK PREPARED '
	. 'regress_prep2:SUCCESS:PREPARED:regress_gid_2 regress_prep2:SUCCESS:-:COMMIT PREPARED '
	. 'regress_prep3:SUCCESS:PREPARED:regress_gid_3 regress_prep3:SUCCESS:-:COMMIT PREPARED',
	'each prepared CREATE ROLE has its PREPARED event and then its true outcome');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM audit_log.events o JOIN audit_log.events p ON p.event_id = (o.entry_data->>'prepared_event_id')::uuid
WHERE o.object_name LIKE 'regress_prep%' AND p.event_status_reason_code = 'PREPARED'}), '3',
	'each outcome names its PREPARED event');
# the final state agrees with the catalog
is($node->safe_psql('postgres', q{
SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'regress_prep%'}),
	'regress_prep2,regress_prep3', 'the catalog holds the committed roles only');
is($node->safe_psql('postgres', 'SELECT count(*) FROM audit_log._prepared_pending'), '0',
	'nothing is left pending');

$node->safe_psql('postgres', 'DROP ROLE regress_prep2; DROP ROLE regress_prep3');
$node->stop;
done_testing();
