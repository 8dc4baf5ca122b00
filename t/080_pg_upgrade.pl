# pg_upgrade within one major (the one on PATH), with audit_log preloaded in
# both clusters: the writer steps out of binary-upgrade mode, so pg_upgrade
# succeeds, and nothing the upgrade restores is captured as an event.
# t/AuditLogUpgrade.pm holds the steps and the checks.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use AuditLogUpgrade;

upgrade_trail('same_major', undef, undef);
done_testing();
