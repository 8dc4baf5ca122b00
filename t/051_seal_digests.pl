# Seals anchored outside the database: each new seal is written as a digest
# file into audit_log.export_directory/digests, signed with the Ed25519 key
# of audit_log.signing_key_file (checked here with the openssl command line)
# and handed to audit_log.export_command; reseal() leaves its own files; and
# verify_digests() finds, each on exactly the day it touched, the attacks
# that verify() lets through: a deleted and re-made seal, a rewritten chain,
# a missing digest file, a bad signature.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $exportdir = PostgreSQL::Test::Utils::tempdir;
my $remote    = PostgreSQL::Test::Utils::tempdir;    # "object storage"
my $keydir    = PostgreSQL::Test::Utils::tempdir;
my $key       = "$keydir/seal_key.pem";

my $have_openssl = IPC::Run::run([ 'openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $key ],
	'>', \my $o, '2>', \my $e);
$have_openssl = 0 unless -s $key;

my $conf = "audit_log.export_directory = '$exportdir'\n"
  . "audit_log.export_command = 'cp %p $remote/%f'\n"
  . "audit_log.seal_delay = -1\n";
$conf .= "audit_log.signing_key_file = '$key'\n" if $have_openssl;
my $node = audit_log_node('digests', conf => $conf, extensions => []);

# captured events go to database postgres: auditdb holds only what we log
$node->safe_psql('postgres', 'CREATE DATABASE auditdb');
my $db = 'auditdb';
$node->safe_psql($db, q{
CREATE EXTENSION audit_log;
SELECT audit_log.register_event_type('ACCESS_SIGMA', 'TAP_DIGEST', 'digest TAP event');
});

# five days ending three days ago, three events a day, each day sealed
my @days = map {
	$node->safe_psql($db, "SELECT ((now() AT TIME ZONE 'UTC')::date - " . (8 - $_) . ")::text")
} 1 .. 5;
$node->safe_psql($db, qq{
SELECT count(audit_log.log_event('ACCESS_SIGMA', 'TAP_DIGEST', object_name => 'obj' || i,
	request_time => d::timestamp AT TIME ZONE 'UTC' + interval '6 hours' * i))
FROM generate_series('$days[0]'::date, '$days[4]'::date, '1 day') d, generate_series(1, 3) i;
SELECT audit_log.maintain();
SELECT audit_log.seal(d::date) FROM generate_series('$days[0]'::date, '$days[4]'::date, '1 day') d;
});

sub ymd { my $d = shift; $d =~ s/-//g; return $d; }

sub digest_files
{
	my ($day) = @_;
	my $pat = "$exportdir/digests/audit_log_digest_" . ymd($day) . "_*.json";
	return sort glob($pat);
}

my @files = map { digest_files($_) } @days;
is(scalar(@files), 5, 'one digest file per sealed day');
my $content = slurp_file($files[2]);
my $seal = $node->safe_psql($db,
	"SELECT rows || ' ' || digest || ' ' || previous_digest FROM audit_log.seals WHERE day = '$days[2]'");
my ($srows, $sdigest, $sprev) = split / /, $seal;
like($content, qr/^\{"format": "audit_log digest", "format_version": 2, "kind": "seal", "day": "$days[2]", "rows": $srows, "digest": "$sdigest", "previous_digest": "$sprev", "sealed_at": "[^"]+", "source_node": "[^"]*"\}\n\z/,
	'the digest file holds the day, rows, digest, previous digest, sealed_at and format version');
is( $node->safe_psql($db,
		"SELECT substr(digest, 1, 16) FROM audit_log.seals WHERE day = '$days[2]'"),
	($files[2] =~ /_([0-9a-f]{16})\.json$/)[0],
	'the file name holds the day and the start of the digest');
ok(-f "$remote/" . ($files[2] =~ s{.*/}{}r), 'export_command copied the digest file');
is(scalar(glob("$exportdir/digests/.*.tmp")), undef, 'no temporary file is left');

# the setting: superuser only, refused inside the data directory
my ($rc, $out, $err) = $node->psql($db,
	"ALTER SYSTEM SET audit_log.signing_key_file = '" . $node->data_dir . "/key.pem'");
like($err, qr/invalid value for parameter "audit_log.signing_key_file".*\n.*outside the data directory/,
	'a signing key inside the data directory is refused');
($rc, $out, $err) = $node->psql($db, "ALTER SYSTEM SET audit_log.signing_key_file = 'relative.pem'");
like($err, qr/must be an absolute path/, 'a relative signing key path is refused');
is($node->safe_psql($db, q{SELECT count(*) FROM pg_settings WHERE name = 'audit_log.signing_key_file'
	AND context = 'sighup'}), '1', 'signing_key_file is a sighup setting');

SKIP:
{
	skip 'openssl is not installed: no signing key', 4 unless $have_openssl;
	my $base = $files[2] =~ s/\.json$//r;
	ok(-s "$base.sig" == 64, 'the signature is 64 raw bytes');
	ok(-f "$base.pub.pem", 'the public key is published beside the file');
	my ($vo, $ve);
	my $ok = IPC::Run::run([ 'openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', "$base.pub.pem",
			'-rawin', '-in', $files[2], '-sigfile', "$base.sig" ], '>', \$vo, '2>', \$ve);
	ok($ok && $vo =~ /Signature Verified Successfully/, 'openssl pkeyutl -verify accepts the signature')
	  or diag("$vo $ve");
	IPC::Run::run([ 'openssl', 'pkey', '-in', $key, '-pubout' ], '>', \my $pub, '2>', \my $pe);
	is(slurp_file("$base.pub.pem"), $pub, 'the published key is the public half of the signing key');
}

my $vd_sql = q{SELECT string_agg(day || ':' || coalesce(ok::text, 'null'), ',' ORDER BY day)
FROM audit_log.verify_digests('digests')};
my $vd_ok = join(',', map { "$_:true" } @days);
is($node->safe_psql($db, $vd_sql), $vd_ok, 'verify_digests: every day ok');
($rc, $out, $err) = $node->psql($db, "SELECT * FROM audit_log.verify_digests('/tmp')");
like($err, qr/is outside audit_log.export_directory/, 'verify_digests is confined to export_directory');

# reseal(): a deliberate, recorded change keeps the digests honest
$node->safe_psql($db, qq{
SET session_replication_role = replica;
UPDATE audit_log.events SET object_name = 'fixed'
WHERE object_name = 'obj1' AND request_time >= '$days[4]' AND request_time < '$days[4]'::date + 1;
RESET session_replication_role;
SELECT audit_log.reseal('$days[4]', 'ticket 99: name fixed');
});
my @f4 = digest_files($days[4]);
is(scalar(@f4), 2, 'reseal wrote a second digest file for its day');
like(join('', map { slurp_file($_) } @f4), qr/"kind": "reseal".*"reason": "ticket 99: name fixed", "replaces": "[0-9a-f]{64}"/,
	'the reseal file names its reason and the digest it replaces');
is($node->safe_psql($db, $vd_sql), $vd_ok, 'verify_digests: a resealed day is ok');
like($node->safe_psql($db, "SELECT detail FROM audit_log.verify_digests('digests') WHERE day = '$days[4]'"),
	qr/^ok \(resealed at .*: ticket 99: name fixed/, 'and says it was resealed, and why');

my $bad_sql = q{SELECT string_agg(day || ':' || detail, E'\n' ORDER BY day)
FROM audit_log.verify_digests('digests') WHERE NOT ok};
my $verify_bad = qq{SELECT count(*) FROM audit_log.verify('$days[0]', '$days[4]') WHERE NOT ok};

# Attack 1: delete the latest seal row, edit that day, seal it again
$node->safe_psql($db, qq{
SET session_replication_role = replica;
DELETE FROM audit_log.seals WHERE day = '$days[4]';
UPDATE audit_log.events SET user_email = 'mallory\@example.com'
WHERE object_name = 'obj2' AND request_time >= '$days[4]' AND request_time < '$days[4]'::date + 1;
RESET session_replication_role;
SELECT audit_log.seal('$days[4]');
});
is($node->safe_psql($db, $verify_bad), '0', 'attack 1 passes verify()');
like($node->safe_psql($db, $bad_sql),
	qr/^$days[4]:rows changed since the digest file audit_log_digest_\d+_[0-9a-f]+\.json: same number of rows \(3\), different content; sealed again without reseal\(\)[^\n]*\z/,
	'attack 1: verify_digests reports the re-made seal on its day only');

# Attack 2: delete every seal, edit a day, seal everything again
$node->safe_psql($db, qq{
SET session_replication_role = replica;
DELETE FROM audit_log.seals;
DELETE FROM audit_log.events
WHERE object_name = 'obj3' AND request_time >= '$days[1]' AND request_time < '$days[1]'::date + 1;
RESET session_replication_role;
SELECT audit_log.seal(d::date) FROM generate_series('$days[0]'::date, '$days[4]'::date, '1 day') d;
});
is($node->safe_psql($db, $verify_bad), '0', 'attack 2 passes verify()');
my $bad = $node->safe_psql($db, $bad_sql);
like($bad, qr/^$days[1]:rows removed since the digest file \S+: 2 rows now, 3 in the file \(1 fewer\); sealed again without reseal\(\)/,
	'attack 2: the edited day is reported');
is(join(',', map { (split /:/)[0] } grep { /^\d{4}-/ } split /\n/, $bad), "$days[1],$days[4]",
	'attack 2: only the edited days fail, not the days whose seals were only re-made');
like($node->safe_psql($db, "SELECT detail FROM audit_log.verify_digests('digests') WHERE day = '$days[2]'"),
	qr/^ok \(the seal row was re-made on a changed chain/, 'a day after the edited one says its seal was re-made');

# Attack 3: a digest file removed
unlink(digest_files($days[3]));
like($node->safe_psql($db, $bad_sql), qr/^$days[3]:digest file missing: the day is sealed \(3 rows\)/m,
	'attack 3: the missing digest file is reported on its day');
is(join(',', map { (split /:/)[0] } grep { /^\d{4}-/ } split /\n/, $node->safe_psql($db, $bad_sql)),
	"$days[1],$days[3],$days[4]", 'attack 3: and on no other day');

SKIP:
{
	skip 'openssl is not installed: no signatures', 2 unless $have_openssl;
	# Attack 4: a signature that does not match (another key's)
	my $base = (digest_files($days[0]))[0] =~ s/\.json$//r;
	my $other = "$keydir/other.pem";
	IPC::Run::run([ 'openssl', 'genpkey', '-algorithm', 'ed25519', '-out', $other ], '>', \$o, '2>', \$e);
	IPC::Run::run([ 'openssl', 'pkeyutl', '-sign', '-inkey', $other, '-rawin', '-in', "$base.json",
		'-out', "$base.sig" ], '>', \$o, '2>', \$e);
	like($node->safe_psql($db, $bad_sql), qr/^$days[0]:bad signature: \S+\.sig does not verify \S+\.json/,
		'attack 4: a bad signature is reported on its day');
	is(join(',', map { (split /:/)[0] } grep { /^\d{4}-/ } split /\n/, $node->safe_psql($db, $bad_sql)),
		"$days[0],$days[1],$days[3],$days[4]", 'attack 4: and on no other day');
}

# every verify_digests run was logged
cmp_ok($node->safe_psql($db, q{SELECT count(*) FROM audit_log.events WHERE event_type = 'VERIFY'
	AND object_name = 'digests' AND entry_data->>'against' = 'digest files'}), '>=', 8,
	'each verify_digests run is a VERIFY event');

# a change of the setting is a SETTINGS_CHANGE event (in database postgres)
$node->safe_psql('postgres', 'CREATE EXTENSION audit_log');
$node->safe_psql('postgres', "ALTER SYSTEM SET audit_log.signing_key_file = '$keydir/next.pem'");
$node->reload;
ok( $node->poll_query_until('postgres', q{SELECT audit_log.flush() AND EXISTS (SELECT 1 FROM audit_log.events
	WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.signing_key_file')}),
	'a change of audit_log.signing_key_file is a SETTINGS_CHANGE event');

$node->stop;
done_testing();
