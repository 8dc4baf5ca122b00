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
# postgres and pg_upgrade) or undef for the binaries on PATH.  The option
# strip_attver => 1 first removes Debian's "pg_attver" entries from the
# old cluster's column options (see strip_attver below): the workaround
# without which no pg_upgrade from Debian's 15.20 or 17.12 into 18.6 works.
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

our @EXPORT = qw(upgrade_trail plain_upgrade_fails attver_of);

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
		# The log pg_upgrade names (relative to the directory it ran in):
		# its error line, and the last statement of the failed command.
		my ($log) = $out =~ /Consult the last few lines of "([^"]+)"/;
		$log = "$workdir/$log" if $log && $log !~ m{^/} && !-f $log;
		$log = $new->data_dir . '/' . ($log =~ s{^.*?(pg_upgrade_output\.d/)}{$1}r)
		  if $log && !-f $log && $log =~ /pg_upgrade_output\.d/;
		if ($log && -f $log)
		{
			my $text = slurp_file($log);
			my ($error) = $text =~ /^(.*(?:ERROR|FATAL|error):.*)$/m;
			my @stmt = grep { /\S/ && !/^--/ } split /\n/, ($text =~ /Command was:(.*)\z/s ? $1 : '');
			$why = join("\n", grep { defined && $_ ne '' } $error, $stmt[-1]);
		}
	}
	return ($ok, "$out\n$err", $why);
}

# Debian's 15.20 and 17.12 (not upstream PostgreSQL: a patch of those
# builds; 18.6 has none) keep an attribute version in the options of every
# column, "pg_attver=N" in pg_attribute.attoptions, which their own pg_dump
# leaves out of the column options and carries with
# binary_upgrade_set_next_attribute_versions().  18.6's pg_dump, which
# pg_upgrade runs against the old cluster, knows nothing of it:
# getTableAttrs() reads attoptions whole (src/bin/pg_dump/pg_dump.c line
# 9163 of 18.6) and dumpTableSchema() writes them back as ALTER TABLE ONLY
# ... ALTER COLUMN ... SET (pg_attver=N) (line 17744), which 18.6 refuses in
# parseRelOptionsInternal() (src/backend/access/common/reloptions.c line
# 1488: unrecognized parameter "pg_attver").  So pg_upgrade from those
# builds into 18.6 fails at the first table of any database, without
# audit_log as well.  The old server's own ALTER TABLE ... RESET
# (pg_attver) keeps it; removing the entries from pg_attribute as the
# superuser, in every database pg_upgrade dumps, is what makes it pass.
#
# attver_of(NODE): how many column options of NODE's databases hold
# pg_attver.
sub attver_of
{
	my ($node) = @_;
	my $n = 0;
	for my $db (split /\n/, $node->safe_psql('postgres',
		q{SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1}))
	{
		$n += $node->safe_psql($db,
			q{SELECT count(*) FROM pg_catalog.pg_attribute WHERE attoptions::text LIKE '%pg_attver=%'});
	}
	return $n;
}

# strip_attver(NODE): remove every pg_attver entry from the column options
# of every database of NODE (running); the count removed.
sub strip_attver
{
	my ($node) = @_;
	my $n = 0;
	for my $db (split /\n/, $node->safe_psql('postgres',
		q{SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1}))
	{
		my $out = $node->safe_psql($db, q{
WITH s AS (
	UPDATE pg_catalog.pg_attribute
	SET attoptions = NULLIF(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
	WHERE attoptions::text LIKE '%pg_attver=%'
	RETURNING 1)
SELECT count(*) FROM s});
		$n += $out;
	}
	return $n;
}

# Whether pg_upgrade between these installations fails without audit_log
# (two plain clusters, one table): the reason (pg_upgrade's error and the
# statement it failed on), or '' when it works.  strip_attver => 1: with
# the workaround above applied to the old cluster first.
sub plain_upgrade_fails
{
	my ($old_install, $new_install, %opts) = @_;
	my $tag = $opts{strip_attver} ? '_strip' : '';
	my $old = PostgreSQL::Test::Cluster->new("plain_old$tag",
		$old_install ? (install_path => $old_install) : ());
	$old->init;
	$old->start;
	$old->safe_psql('postgres', 'CREATE TABLE plain_t (i int); INSERT INTO plain_t VALUES (1)');
	strip_attver($old) if $opts{strip_attver};
	$old->stop;
	my $new = PostgreSQL::Test::Cluster->new("plain_new$tag",
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
	my ($label, $old_install, $new_install, %opts) = @_;
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

	# The workaround for Debian's pg_attver (see strip_attver), as the
	# README's procedure says: after it, no column option names it.
	if ($opts{strip_attver})
	{
		cmp_ok(strip_attver($old), '>', 0,
			"$label: Debian's pg_attver entries removed from the old cluster's column options");
		is(attver_of($old), 0, "$label: no column option of the old cluster holds pg_attver");
	}

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
	# The README's step 5: when the library of the new side is newer than
	# the version carried over, ALTER EXTENSION UPDATE brings it there.
	my $default_new = $new->safe_psql('postgres',
		q{SELECT default_version FROM pg_available_extensions WHERE name = 'audit_log'});
	if ($default_new ne $version)
	{
		$new->safe_psql('postgres', 'ALTER EXTENSION audit_log UPDATE');
		is($new->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'audit_log'}),
			$default_new, "$label: ALTER EXTENSION audit_log UPDATE brings it from $version to $default_new");
	}

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
