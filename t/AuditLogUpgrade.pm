# t/AuditLogUpgrade.pm: one real pg_upgrade of a cluster holding a trail,
# shared by t/080_pg_upgrade.pl (same major) and t/081_pg_upgrade_major.pl
# (from an older major).
#
# upgrade_trail(LABEL, OLD_INSTALL, NEW_INSTALL) makes an old cluster with
# audit_log (and pg_cron) preloaded and the extension at its default
# version, fills it with events, seals, an export run and the settings
# table, stops it, makes a new cluster with the same preload, runs
# pg_upgrade, and checks:
#   - pg_upgrade succeeds (today it fails: the writer holds database
#     postgres, which pg_upgrade drops and makes again);
#   - every event, seal, export run and the settings table carried over
#     (count and md5 over all rows, in key order);
#   - verify is ok on the new cluster;
#   - the upgrade made no event (nothing done in binary-upgrade mode is
#     captured; no queue file is left behind on either side);
#   - capture works afterwards.
# OLD_INSTALL and NEW_INSTALL are installation prefixes (their bin/ holds
# postgres and pg_upgrade) or undef for the binaries on PATH.
#
# Copyright (c) 2026, audit_log developers
package AuditLogUpgrade;

use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use Exporter 'import';

our @EXPORT = qw(upgrade_trail plain_upgrade_fails);

# Every event written before MARK (epoch seconds), every seal, export run
# and setting: count and md5 over all rows in key order.
sub trail_state
{
	my ($node, $mark) = @_;
	return $node->safe_psql('postgres', qq{
SELECT 'events ' || (SELECT count(*) || ':' || md5(string_agg(e::text, E'\\n' ORDER BY event_id))
		FROM audit_log.events e WHERE request_time < to_timestamp($mark))
	|| ' seals ' || (SELECT count(*) || ':' || md5(string_agg(s::text, E'\\n' ORDER BY day)) FROM audit_log.seals s)
	|| ' exports ' || (SELECT count(*) || ':' || md5(string_agg(x::text, E'\\n' ORDER BY run_id)) FROM audit_log.export_runs x)
	|| ' settings ' || (SELECT count(*) || ':' || md5(string_agg(t::text, E'\\n' ORDER BY name)) FROM audit_log._settings_seen t)});
}

# The major of an installation (undef: the one on PATH).
sub major_of
{
	my ($install) = @_;
	my $v = `@{[ $install ? "$install/bin/" : '' ]}pg_config --version`;
	return $v =~ /PostgreSQL (\d+)/ ? $1 : 0;
}

# init() options of the new cluster: initdb of 18 turns data checksums on
# by default, which pg_upgrade refuses from a cluster without them.
sub new_init
{
	my ($old_install, $new_install) = @_;
	return (major_of($new_install) >= 18 && major_of($old_install) < 18)
	  ? (init => { extra => ['--no-data-checksums'] }) : ();
}

# Run pg_upgrade from OLD's cluster to NEW's (both stopped) in a scratch
# directory; returns (ok, its output, the last lines of the log it names
# when it fails).
sub run_pg_upgrade
{
	my ($old, $new, $oldbin, $newbin) = @_;
	my $workdir = tempdir(CLEANUP => 1);
	# pg_upgrade runs the old binaries: they find their libraries as the
	# old node's own commands do (PostgreSQL::Test::Cluster's install_path).
	my $inst = $old->install_path;
	# (a copy: $ENV{...} in grep's list would create the key, undefined,
	# which PostgreSQL::Test::Cluster then refuses)
	my $cur = exists $ENV{LD_LIBRARY_PATH} ? $ENV{LD_LIBRARY_PATH} // '' : '';
	my $libpath = join(':', grep { $_ ne '' } ($inst ? "$inst/lib" : '', $cur));
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[
			"$newbin/pg_upgrade", '--no-sync',
			'-d', $old->data_dir, '-D', $new->data_dir,
			'-b', $oldbin, '-B', $newbin,
			'-s', $new->host, '-p', $old->port, '-P', $new->port
		],
		'>', \$out, '2>', \$err,
		init => sub {
			chdir $workdir;
			$ENV{LD_LIBRARY_PATH} = $libpath if $libpath ne '';
		});
	my $why = '';
	if (!$ok)
	{
		my ($log) = $out =~ /Consult the last few lines of "([^"]+)"/;
		if ($log && -f $log)
		{
			my @lines = grep { /\S/ } split /\n/, slurp_file($log);
			$why = join("\n", @lines[ ($#lines > 2 ? $#lines - 2 : 0) .. $#lines ]);
		}
	}
	return ($ok, "$out\n$err", $why);
}

# Whether pg_upgrade between these installations fails without audit_log
# (two plain clusters, one table): the reason, or '' when it works.
# Debian's 17.12 keeps an attribute version in every column's attoptions
# ("pg_attver"), which 18.6's pg_dump copies and 18.6 refuses.
sub plain_upgrade_fails
{
	my ($old_install, $new_install) = @_;
	my $old = PostgreSQL::Test::Cluster->new('plain_old',
		$old_install ? (install_path => $old_install) : ());
	$old->init;
	$old->start;
	$old->safe_psql('postgres', 'CREATE TABLE plain_t (i int); INSERT INTO plain_t VALUES (1)');
	$old->stop;
	my $new = PostgreSQL::Test::Cluster->new('plain_new',
		$new_install ? (install_path => $new_install) : ());
	my %init = new_init($old_install, $new_install);
	$new->init(%{ $init{init} // {} });
	my ($ok, $out, $why) = run_pg_upgrade($old, $new,
		$old_install ? "$old_install/bin" : $old->config_data('--bindir'),
		$new_install ? "$new_install/bin" : $new->config_data('--bindir'));
	return $ok ? '' : ($why || $out);
}

sub upgrade_trail
{
	my ($label, $old_install, $new_install) = @_;
	my $exportdir = tempdir(CLEANUP => 1);
	chmod 0777, $exportdir;
	my $conf = qq{
audit_log.flush_interval = '20ms'
audit_log.seal_delay = -1
audit_log.export_directory = '$exportdir'
};

	my $old = audit_log_node("old_$label", cron => 1, conf => $conf,
		extensions => [ 'pg_cron', 'audit_log' ],
		$old_install ? (install_path => $old_install) : ());
	my $version = $old->safe_psql('postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'audit_log'});
	is($version,
		$old->safe_psql('postgres',
			q{SELECT default_version FROM pg_available_extensions WHERE name = 'audit_log'}),
		"$label: the old cluster holds the extension at its default version ($version)");

	# A trail: roles and grants, application events on past days, seals of
	# those days and an export.
	$old->safe_psql('postgres', q{
CREATE ROLE regress_upg_alice LOGIN;
CREATE ROLE regress_upg_team;
GRANT regress_upg_team TO regress_upg_alice;
CREATE TABLE regress_upg_t (i int);
GRANT SELECT ON regress_upg_t TO regress_upg_alice;
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'SUCCESS',
	user_email => 'app-user-' || i || '@example.com',
	request_time => now() - interval '1 day' * (1 + i % 3) - interval '1 minute' * i))
FROM generate_series(1, 30) i;
});
	$old->safe_psql('postgres', 'SELECT 1', connstr => $old->connstr('postgres') . ' user=regress_upg_alice');
	$old->safe_psql('postgres', q{
SELECT audit_log.flush('10 seconds');
SELECT audit_log.maintain();
SELECT audit_log.seal(d::date)
FROM generate_series((now() AT TIME ZONE 'UTC')::date - 4, (now() AT TIME ZONE 'UTC')::date - 1, '1 day') d;
});
	$old->safe_psql('postgres', qq{
SELECT count(*) FROM audit_log.export_csv('$exportdir', now() - interval '5 days', now() - interval '1 day')});

	# Every session above has ended (and queued its LOGOUT) before MARK.
	sleep(1);
	my $mark = sprintf('%.6f', time());
	sleep(0.5);
	$old->safe_psql('postgres', q{SELECT audit_log.flush('10 seconds')});
	my $before = trail_state($old, $mark);
	like($before, qr/^events (\d+):\w+ seals 4:\w+ exports 1:\w+ settings [1-9]\d*:\w+$/,
		"$label: events, 4 seals, 1 export run and the settings table before the upgrade");
	my ($nbefore) = $before =~ /^events (\d+)/;
	cmp_ok($nbefore, '>', 30, "$label: the administrative events and logins are there too");
	$old->stop;
	ok(!-e $old->data_dir . '/pg_stat/audit_log.queue',
		"$label: the old cluster stopped with its queue empty (no queue file left behind)");

	# The new cluster, preloaded the same way.
	my $new = audit_log_node("new_$label", cron => 1, conf => $conf, start => 0,
		new_init($old_install, $new_install),
		$new_install ? (install_path => $new_install) : ());
	my $oldbin = $old_install ? "$old_install/bin" : $old->config_data('--bindir');
	my $newbin = $new_install ? "$new_install/bin" : $new->config_data('--bindir');
	my $upgrade_start = time();
	my ($ok, $out, $why) = run_pg_upgrade($old, $new, $oldbin, $newbin);
	my $upgrade_end = time();
	ok($ok, "$label: pg_upgrade succeeds with audit_log preloaded on both sides");
	if (!$ok)
	{
		diag("pg_upgrade:\n$out\n$why");
		for my $f (glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log'))
		{
			my $text = slurp_file($f);
			diag("$f:\n" . join("\n", grep { /ERROR|FATAL|error/ } split /\n/, $text));
		}
		return;
	}
	ok(!-e $new->data_dir . '/pg_stat/audit_log.queue',
		"$label: the upgrade queued nothing in the new cluster");

	$new->start;
	$new->safe_psql('postgres', q{SELECT audit_log.flush('10 seconds')});
	my $after = trail_state($new, $mark);
	is($after, $before, "$label: every event, seal, export run and setting carried over, unchanged");
	is( $new->safe_psql(
			'postgres', qq{
SELECT count(*) FROM audit_log.events
WHERE request_time >= to_timestamp($mark)
  AND NOT (event_category = 'ACCESS_SIGMA' AND event_type IN ('LOGIN', 'LOGOUT'))
  AND NOT (event_category = 'AUDIT_LOG' AND event_type = 'READ')}),
		'0', "$label: no event since the mark but our own logins and reads (the upgrade's restore made none)")
	  or diag($new->safe_psql('postgres', qq{
SELECT string_agg(event_category || '/' || event_type || '/' || coalesce(object_name, ''), ', ')
FROM audit_log.events WHERE request_time >= to_timestamp($mark)}));
	is( $new->safe_psql(
			'postgres', sprintf(q{
SELECT count(*) FROM audit_log.events
WHERE request_time BETWEEN to_timestamp(%.6f) AND to_timestamp(%.6f)}, $upgrade_start, $upgrade_end)),
		'0', "$label: no event is stamped inside the upgrade");
	is( $new->safe_psql(
			'postgres', q{
SELECT count(*) FILTER (WHERE ok) || '/' || count(*)
FROM audit_log.verify((now() AT TIME ZONE 'UTC')::date - 4, (now() AT TIME ZONE 'UTC')::date - 1)}),
		'4/4', "$label: verify is ok on every sealed day on the new cluster");
	is($new->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'audit_log'}),
		$version, "$label: the extension is at the same version on the new cluster");

	# Capture works afterwards: a login and an administrative command.
	$new->safe_psql('postgres', 'SELECT 1', connstr => $new->connstr('postgres') . ' user=regress_upg_alice');
	$new->safe_psql('postgres', 'CREATE ROLE regress_upg_after');
	$new->safe_psql('postgres', q{SELECT audit_log.flush('10 seconds')});
	is( $new->safe_psql(
			'postgres', sprintf(q{
SELECT string_agg(DISTINCT event_type || '/' || event_status, ',' ORDER BY event_type || '/' || event_status)
FROM audit_log.events
WHERE request_time > to_timestamp(%.6f)
  AND (user_name = 'regress_upg_alice' OR object_name = 'regress_upg_after')}, $upgrade_end)),
		'CREATE_TEAM/SUCCESS,LOGIN/SUCCESS,LOGOUT/SUCCESS',
		"$label: logins and administrative commands are captured after the upgrade");
	$new->stop;
	return 1;
}

1;
