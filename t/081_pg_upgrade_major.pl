# pg_upgrade across majors (15 -> 18, 17 -> 18 and 15 -> 17 where
# tools/test-upgrade runs it), with
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
# about audit_log: the test is skipped, with PostgreSQL's reason.  One
# such reason has a workaround: Debian's 15.20 and 17.12 keep "pg_attver"
# in every column's options, which 18.6's pg_dump copies and 18.6 refuses
# (t/AuditLogUpgrade.pm, strip_attver, with the PostgreSQL source lines).
# Then the plain upgrade is counted as skipped, with that reason, and the
# trail is upgraded with the workaround applied to the old cluster, when
# the plain upgrade with the workaround works.
my $plain = plain_upgrade_fails($from, undef);
my %opts;
if ($plain ne '')
{
	$plain =~ s/\s+/ /g;
	my $stripped = $plain =~ /unrecognized parameter "pg_attver"/
	  ? plain_upgrade_fails($from, undef, strip_attver => 1) : $plain;
	plan skip_all => "pg_upgrade from PostgreSQL $old to $new fails without audit_log too: $plain"
	  if $stripped ne '';
  SKIP:
	{
		skip "plain pg_upgrade from PostgreSQL $old to $new fails without audit_log too (a bug of Debian's $old build, not of audit_log): $plain", 1;
	}
	%opts = (strip_attver => 1);
}
cmp_ok(int($old), '<', int($new), "the upgrade goes from PostgreSQL $old to PostgreSQL $new");
upgrade_trail("from_" . int($old) . ($opts{strip_attver} ? '_attver_stripped' : ''), $from, undef, %opts);
done_testing();
