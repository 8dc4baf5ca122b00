# pg_upgrade across majors (17 -> 18 where tools/test-upgrade runs it), with
# audit_log and pg_cron preloaded in both clusters: the same steps and
# checks as t/080_pg_upgrade.pl (t/AuditLogUpgrade.pm), from the older
# installation named by AUDIT_LOG_UPGRADE_FROM (a prefix whose bin/ holds
# its postgres, with audit_log installed) to the one on PATH.  Skipped when
# no older major is there, and when pg_upgrade between the two fails
# without audit_log as well (PostgreSQL's own limit, not the extension's).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use AuditLogUpgrade;

my $from = $ENV{AUDIT_LOG_UPGRADE_FROM} // '';
plan skip_all => 'no older major: AUDIT_LOG_UPGRADE_FROM names no installation (tools/test-upgrade sets it)'
  unless $from ne '' && -x "$from/bin/postgres";
my ($old) = `$from/bin/pg_config --version` =~ /PostgreSQL ([\d.]+)/;
my ($new) = `pg_config --version` =~ /PostgreSQL ([\d.]+)/;

# The baseline: pg_upgrade between these two installations, without
# audit_log.  When PostgreSQL itself cannot do it, there is nothing to say
# about audit_log: the test is skipped, with PostgreSQL's reason.
my $plain = plain_upgrade_fails($from, undef);
if ($plain ne '')
{
	$plain =~ s/\s+/ /g;
	plan skip_all => "pg_upgrade from PostgreSQL $old to $new fails without audit_log too: $plain";
}
cmp_ok(int($old), '<', int($new), "the upgrade goes from PostgreSQL $old to PostgreSQL $new");
upgrade_trail("from_" . int($old), $from, undef);
done_testing();
