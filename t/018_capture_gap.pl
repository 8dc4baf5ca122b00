# A gap is a row: events that found the queue full (the writer paused) go
# to the server log and are counted; once the writer writes again it
# records one AUDIT_LOG CAPTURE_GAP event saying how many, of which
# categories, between which times and where they went.  The same for
# events a smaller queue_size could not take back at the next start.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = audit_log_node('gap', conf => qq{
audit_log.queue_size = 64
audit_log.queue_wait = 0
});
$node->safe_psql('postgres', q{SELECT audit_log.flush('10 s'); SELECT audit_log.pause_writer(true)});
# 100 logins: 200 events (LOGIN, LOGOUT), at most 64 fit
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 100;
my $dropped = $node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status');
ok($dropped > 100, "events dropped while the queue was full ($dropped)");
$node->safe_psql('postgres', q{SELECT audit_log.pause_writer(false)});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM audit_log.events WHERE event_type = 'CAPTURE_GAP'})
  or die 'no CAPTURE_GAP event';
my $gap = $node->safe_psql('postgres', q{
SELECT event_category || '|' || event_status || '|' || event_status_reason_code || '|'
	|| (entry_data->>'events') || '|' || (entry_data->'reasons'->>'queue_full') || '|'
	|| (entry_data->>'went_to') || '|' || ((entry_data->>'from')::timestamptz <= (entry_data->>'to')::timestamptz)
FROM audit_log.events WHERE event_type = 'CAPTURE_GAP'});
my $now_dropped = $node->safe_psql('postgres', 'SELECT dropped FROM audit_log.status');
# the dropped counter may have grown by logins of this very check; the gap covers what was dropped before it was recorded
like($gap, qr/^AUDIT_LOG\|FAILURE\|QUEUE_FULL\|(\d+)\|\1\|server log\|true$/, "the gap event: $gap");
my ($n) = $gap =~ /^[^|]*\|[^|]*\|[^|]*\|(\d+)/;
ok($n >= $dropped && $n <= $now_dropped, "it counts every dropped event ($n of $dropped..$now_dropped)");
my $lines = () = slurp_file($node->logfile) =~ /The audit_log queue was full/g;
is($lines, $now_dropped, 'each dropped event is a JSON line in the server log');
ok($node->safe_psql('postgres', q{SELECT (entry_data->'categories'->>'ACCESS_SIGMA')::int FROM audit_log.events WHERE event_type = 'CAPTURE_GAP'}) > 0,
	'the gap says which categories');
is($node->safe_psql('postgres', q{SELECT count(*) FROM audit_log.event_types WHERE event_type = 'CAPTURE_GAP' AND builtin}),
	'1', 'CAPTURE_GAP is a registered event type');

$node->stop;
done_testing();
