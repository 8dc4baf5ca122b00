# audit_log.export(): the JSON-lines formats (jsonl, ocsf, ecs) and the
# compressions (gzip, zstd).  Round trips (jsonl back to the same rows; every
# compressed file back to exactly the plain one), sha256sum -c, confinement
# and recorded failures of bad arguments, export_command on a compressed file,
# scheduled exports in a format; OCSF table-driven over every event type of
# audit_log.event_types; ECS field names and allowed values checked against
# @elastic/ecs's generated/ecs_flat.js (installed with npm into this test's
# own folder; skipped, counted, when npm cannot install it).
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(basename dirname);
use JSON::PP;

my $root    = PostgreSQL::Test::Utils::tempdir();    # audit_log.export_directory
my $outside = PostgreSQL::Test::Utils::tempdir();
my $copied  = PostgreSQL::Test::Utils::tempdir();    # export_command target
mkdir "$root/$_" or die "mkdir $root/$_: $!" for qw(fmt sched reports);
symlink($outside, "$root/escape") or die "symlink: $!";

my $node = audit_log_node('export_formats',
	cron       => 1,
	conf       => "audit_log.export_directory = '$root'\nmax_worker_processes = 16\n",
	extensions => [ 'audit_log', 'pg_cron' ]);
my $json = JSON::PP->new->utf8;

sub files_in
{
	my ($dir) = @_;
	opendir(my $dh, $dir) or die "opendir $dir: $!";
	my @f = sort grep { $_ ne '.' && $_ ne '..' } readdir($dh);
	closedir $dh;
	return @f;
}

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "open $path: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

# What a command prints (binary), or undef when it fails.
sub output_of
{
	my (@cmd) = @_;
	open my $fh, '-|:raw', @cmd or return undef;
	local $/;
	my $s = <$fh>;
	close $fh;
	return $? == 0 ? $s : undef;
}

sub have_command
{
	my ($cmd) = @_;
	return system("command -v $cmd >/dev/null 2>&1") == 0;
}

# The window: the day three days ago (UTC); the export runs' own events
# fall outside it, so that every export of the window holds the same rows.
my $d0 = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '3 days', 'YYYY-MM-DD HH24:MI:SS') || '+00'");
my $d1 = $node->safe_psql('postgres',
	"SELECT to_char(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days', 'YYYY-MM-DD HH24:MI:SS') || '+00'");

# One event of every known type (SUCCESS and FAILURE alternating, with a
# client address or not), and a few rows with tricky values.
$node->safe_psql(
	'postgres', qq{
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, user_email, object_name, client_addr,
	application_name, database_name, backend_pid, session_id, source_node, entry_data, origin)
SELECT gen_random_uuid(), '$d0'::timestamptz + n * interval '1 minute',
	'$d0'::timestamptz + n * interval '1 minute' + interval '1.5 seconds',
	t.event_category, t.event_type,
	CASE WHEN n % 2 = 0 THEN 'SUCCESS' ELSE 'FAILURE' END::audit_log.event_status,
	CASE WHEN n % 2 = 0 THEN NULL ELSE '28P01' END,
	'user_' || n, NULL, 'object_' || n, CASE WHEN n % 3 = 0 THEN '192.0.2.' || n END::inet,
	'app', 'postgres', 1000 + n, 'sess', 'node-a', jsonb_build_object('n', n), 'SERVER'
FROM (SELECT e.*, row_number() OVER (ORDER BY event_category, event_type) AS n
	  FROM audit_log.event_types e) t;
INSERT INTO audit_log.events (event_id, request_time, logged_time, event_category, event_type,
	event_status, event_status_reason_code, user_name, user_email, object_name, client_addr,
	application_name, database_name, backend_pid, session_id, source_node, entry_data, origin)
VALUES
	(gen_random_uuid(), '$d0'::timestamptz + interval '20 hours 0.123456 seconds', '$d0'::timestamptz + interval '21 hours',
	 'ACCESS_SIGMA', 'LOGIN', 'FAILURE', 'R,"1"', E'quote"user\\\\', 'x\@y', E'line1\\nline2\\ttab',
	 '2001:db8::/32', 'ünïcödé 日本語 🎉', 'db,"x"', 4242, 's1', 'node',
	 '{"nested": {"a": [1, "two", {"b": null}], "q": "say \\"hi\\"", "bs": "back\\\\\\\\slash", "nl": "x\\ny", "c": "\\u0001\\u0002"}}', 'SERVER'),
	(gen_random_uuid(), '$d0'::timestamptz + interval '23:59:59.999999', '$d0'::timestamptz + interval '23:59:59.999999',
	 'ACCESS_SIGMA', 'LOGOUT', 'SUCCESS', NULL, NULL, NULL, E'\\\\.', NULL, NULL, NULL, NULL, NULL, NULL, '{}', 'APPLICATION');
});
my $in_window = $node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.events WHERE request_time >= '$d0' AND request_time < '$d1'");
my $ntypes = $node->safe_psql('postgres', "SELECT count(*) FROM audit_log.event_types");
cmp_ok($in_window, '>=', $ntypes + 2, "the window holds one event per event type ($ntypes) and the tricky rows");

# --- every format in every compression ---
my %suffix = (csv => '.csv', jsonl => '.jsonl', ocsf => '.ocsf.jsonl', ecs => '.ecs.jsonl');
my %czsuffix = (none => '', gzip => '.gz', zstd => '.zst');
my %decompress = (gzip => [ 'gzip', '-dc' ], zstd => [ 'zstd', '-dcq' ]);
my %plain;       # format => content of the uncompressed file
my %file_of;     # "format/compression" => path
for my $format (qw(csv jsonl ocsf ecs))
{
	for my $compression (qw(none gzip zstd))
	{
		my $what = "$format/$compression";
		my $res = $node->safe_psql('postgres',
			"SELECT file || '|' || rows || '|' || bytes || '|' || sha256 FROM audit_log.export('fmt', '$d0', '$d1', 'events', '$format', '$compression')");
		my ($file, $rows, $bytes, $sha) = split /\|/, $res;
		$file_of{$what} = $file;
		like(basename($file), qr/^audit_log_events_\d{8}T\d{6}Z_\d{8}T\d{6}Z_\d{8}T\d{6}Z\Q$suffix{$format}$czsuffix{$compression}\E$/,
			"$what: file name ends in $suffix{$format}$czsuffix{$compression}");
		is($rows, $in_window, "$what: every row of the window");
		is(-s $file, $bytes, "$what: bytes is the size of the file as written");
		my $sumfile = "$file.sha256";
		ok(-f $sumfile, "$what: .sha256 file beside the export");
		my $check = `cd '$root/fmt' && sha256sum -c '@{[basename($sumfile)]}' 2>&1`;
		is($?, 0, "$what: sha256sum -c accepts it") or diag($check);
		like(slurp($sumfile), qr/^\Q$sha\E  /, "$what: the .sha256 file holds the returned digest");

		my $content;
		if ($compression eq 'none')
		{
			$content = slurp($file);
			$plain{$format} = $content;
		}
		else
		{
			SKIP:
			{
				skip "$decompress{$compression}[0] is not installed", 1
				  unless have_command($decompress{$compression}[0]);
				$content = output_of(@{ $decompress{$compression} }, $file);
				ok(defined $content && $content eq $plain{$format},
					"$what: decompressed, exactly the uncompressed export");
			}
		}
		is($node->safe_psql('postgres',
			"SELECT count(*) FROM audit_log.export_runs WHERE file = '$file' AND status = 'SUCCESS'"),
			'1', "$what: SUCCESS run recorded");
		is($node->safe_psql('postgres',
			"SELECT entry_data->>'format' || '/' || (entry_data->>'compression') FROM audit_log.events"
			. " WHERE event_type = 'EXPORT' AND object_name = '$file'"),
			$what, "$what: the EXPORTS event names format and compression");
	}
}

# export_csv is export(format => 'csv'): the same bytes.
my $csv_file = $node->safe_psql('postgres', "SELECT file FROM audit_log.export_csv('fmt', '$d0', '$d1')");
is(slurp($csv_file), $plain{csv}, 'export_csv writes exactly what export(format => csv) writes');
is($node->safe_psql('postgres', "SELECT file FROM audit_log.export('fmt', '$d0', '$d1')") =~ /\.csv$/ ? 1 : 0,
	1, 'the defaults are events, csv, none');

# --- jsonl: back to the same rows ---
my @jsonl = split /\n/, $plain{jsonl}, -1;
is(pop(@jsonl), '', 'jsonl: the file ends with a newline');
is(scalar(@jsonl), $in_window, 'jsonl: one line per row');
my @keys = keys %{ $json->decode($jsonl[0]) };
my $columns = $node->safe_psql('postgres',
	"SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute"
	. " WHERE attrelid = 'audit_log.events'::regclass AND attnum > 0 AND NOT attisdropped");
is(join(',', sort @keys), $columns, 'jsonl: exactly the columns of audit_log.events');
$node->safe_psql('postgres', "CREATE TABLE jsonl_lines (line text)");
$node->safe_psql('postgres', "COPY jsonl_lines FROM '$file_of{'jsonl/none'}' (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')");
is( $node->safe_psql('postgres', qq{
	WITH back AS (SELECT (jsonb_populate_record(NULL::audit_log.events, line::jsonb)).* FROM jsonl_lines),
	orig AS (SELECT * FROM audit_log.events WHERE request_time >= '$d0' AND request_time < '$d1')
	SELECT (SELECT count(*) FROM (SELECT * FROM back EXCEPT ALL SELECT * FROM orig) a)
	     + (SELECT count(*) FROM (SELECT * FROM orig EXCEPT ALL SELECT * FROM back) b)}),
	'0', 'jsonl: read back with jsonb_populate_record, the same rows (tricky values included)');
# the lines are made in C: byte for byte what row_to_json() makes in SQL
is($plain{jsonl}, $node->safe_psql('postgres',
	"SET TimeZone = 'UTC'; SELECT row_to_json(x)::text FROM (SELECT e.* FROM audit_log.events e"
	. " WHERE e.request_time >= '$d0' AND e.request_time < '$d1' ORDER BY e.request_time, e.event_id) x") . "\n",
	'jsonl: byte for byte the lines of row_to_json()');

# --- OCSF: every event type maps; base fields on every line ---
my %ocsf_by_id;
my $ocsf_ok = 1;
for my $line (split /\n/, $plain{ocsf})
{
	my $ev = eval { $json->decode($line) };
	if (!$ev) { $ocsf_ok = 0; diag("not JSON: $line"); next; }
	for my $f (qw(class_uid category_uid activity_id type_uid severity_id time status_id metadata))
	{
		if (!defined $ev->{$f}) { $ocsf_ok = 0; diag("OCSF line without $f: $line"); }
	}
	$ocsf_ok = 0 unless ($ev->{type_uid} // -1) == ($ev->{class_uid} // 0) * 100 + ($ev->{activity_id} // 0);
	$ocsf_ok = 0 unless defined $ev->{metadata}{uid} && defined $ev->{metadata}{product}{name}
	  && defined $ev->{metadata}{version} && defined $ev->{metadata}{log_name};
	$ocsf_by_id{ $ev->{metadata}{uid} // '' } = $ev;
}
ok($ocsf_ok, 'ocsf: every line is JSON with the base fields (class_uid, category_uid, activity_id, type_uid, severity_id, time, status_id, metadata)');
is(scalar(keys %ocsf_by_id), $in_window, 'ocsf: one line per event, metadata.uid = event_id');

my %expect = (
	'ACCESS_SIGMA/LOGIN'            => [ 3002, 1 ],
	'ACCESS_SIGMA/LOGOUT'           => [ 3002, 2 ],
	'USER_ACCOUNTS/CREATE_USER'     => [ 3001, 1 ],
	'USER_ACCOUNTS/DROP_USER'       => [ 3001, 6 ],
	'USER_ACCOUNTS/ALTER_USER'      => [ 3001, 99 ],
	'TEAMS/CREATE_TEAM'             => [ 3006, 6 ],
	'TEAMS/GRANT_MEMBERSHIP'        => [ 3006, 3 ],
	'ACCOUNT_TYPES/GRANT_PRIVILEGE' => [ 3005, 1 ],
	'ACCOUNT_TYPES/REVOKE_PRIVILEGE' => [ 3005, 2 ],
);
my @types = split /\n/, $node->safe_psql('postgres',
	"SELECT t.event_category || '/' || t.event_type || '|' || e.event_id || '|' || e.event_status || '|'"
	. " || coalesce(e.event_status_reason_code, '') || '|' || floor(extract(epoch FROM e.request_time) * 1000)::bigint"
	. " || '|' || coalesce(host(e.client_addr), '')"
	. " FROM audit_log.event_types t JOIN audit_log.events e USING (event_category, event_type)"
	. " WHERE e.request_time >= '$d0' AND e.request_time < '$d1' AND e.user_name LIKE 'user\\_%' ORDER BY 1");
is(scalar(@types), $ntypes, 'ocsf: the table covers every event type of audit_log.event_types');
for my $row (@types)
{
	my ($type, $id, $status, $reason, $ms, $ip) = split /\|/, $row, -1;
	my $ev = $ocsf_by_id{$id};
	ok( $ev && $ev->{class_uid} =~ /^\d+$/ && $ev->{activity_id} =~ /^\d+$/
		  && defined $ev->{class_name} && defined $ev->{activity_name}
		  && $ev->{time} == $ms
		  && $ev->{status_id} == ($status eq 'SUCCESS' ? 1 : 2)
		  && ($reason eq '' ? !defined $ev->{status_detail} : ($ev->{status_detail} // '') eq $reason)
		  && ($ip eq '' ? !defined $ev->{src_endpoint} : ($ev->{src_endpoint}{ip} // '') eq $ip)
		  && $ev->{unmapped}{entry_data}{n} =~ /^\d+$/,
		"ocsf: $type maps to class_uid " . ($ev ? $ev->{class_uid} : '?') . " activity_id "
		  . ($ev ? $ev->{activity_id} : '?') . ", with time, status, status_detail, src_endpoint.ip and entry_data under unmapped");
	if (my $e = $expect{$type})
	{
		is("$ev->{class_uid}/$ev->{activity_id}", "$e->[0]/$e->[1]", "ocsf: $type is class $e->[0] activity $e->[1]");
	}
}

# --- ECS: field names and allowed values from @elastic/ecs ---
my @ecs_lines = map { $json->decode($_) } split /\n/, $plain{ecs};
is(scalar(@ecs_lines), $in_window, 'ecs: one JSON line per event');
SKIP:
{
	my $npmdir = PostgreSQL::Test::Utils::tempdir();
	my $flat;
	if (have_command('npm') && have_command('node'))
	{
		# the system's CA bundle, for a registry reached through a TLS proxy
		my $ca = -f '/etc/ssl/certs/ca-certificates.crt'
		  ? "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" : '';
		system("cd '$npmdir' && HOME='$npmdir' $ca timeout 300 npm install --prefix '$npmdir' --no-audit --no-fund --silent \@elastic/ecs >/dev/null 2>&1");
		$flat = output_of('node', '-e',
			"process.stdout.write(JSON.stringify(require('$npmdir/node_modules/\@elastic/ecs/generated/ecs_flat.js').EcsFlat))")
		  if -f "$npmdir/node_modules/\@elastic/ecs/generated/ecs_flat.js";
	}
	skip 'npm could not install @elastic/ecs', 4 unless defined $flat;
	my $defs = $json->decode($flat);

	# flatten one document into field names and leaf values
	my %seen;
	my $walk;
	$walk = sub {
		my ($prefix, $v) = @_;
		if (ref $v eq 'HASH')
		{
			$walk->($prefix eq '' ? $_ : "$prefix.$_", $v->{$_}) for keys %$v;
		}
		else
		{
			push @{ $seen{$prefix} }, ref $v eq 'ARRAY' ? @$v : ($v);
		}
	};
	for my $doc (@ecs_lines)
	{
		my %d = %$doc;
		delete $d{audit_log};    # this extension's own fields
		$walk->('', \%d);
	}
	my @unknown = grep { !exists $defs->{$_} } sort keys %seen;
	is_deeply(\@unknown, [], 'ecs: every field name outside audit_log.* is defined in ecs_flat.js')
	  or diag("unknown: @unknown");
	my $bad = 0;
	for my $field ('event.category', 'event.type', 'event.outcome', 'event.kind')
	{
		my %allowed = map { $_->{name} => 1 } @{ $defs->{$field}{allowed_values} // [] };
		for my $v (@{ $seen{$field} // [] })
		{
			next if $allowed{$v};
			$bad++;
			diag("$field: $v is not an allowed value");
		}
	}
	is($bad, 0, 'ecs: every value of event.category, event.type, event.outcome, event.kind is allowed');
	# and each event.type is one its event.category expects
	my %expected_types = map { $_->{name} => { map { $_ => 1 } @{ $_->{expected_event_types} // [] } } }
	  @{ $defs->{'event.category'}{allowed_values} };
	my $mismatch = 0;
	for my $doc (@ecs_lines)
	{
		for my $cat (@{ $doc->{event}{category} })
		{
			for my $t (@{ $doc->{event}{type} })
			{
				next if $expected_types{$cat}{$t};
				$mismatch++;
				diag("event.type $t is not expected for event.category $cat");
			}
		}
	}
	is($mismatch, 0, 'ecs: every event.type is one that its event.category expects');
	my %outcomes = map { $_ => 1 } @{ $seen{'event.outcome'} };
	is(join(',', sort keys %outcomes), 'failure,success', 'ecs: outcomes success and failure both seen');
}
my ($login) = grep { ($_->{user}{name} // '') eq "quote\"user\\" } @ecs_lines;
ok( $login && $login->{event}{category}[0] eq 'authentication' && $login->{event}{type}[0] eq 'start'
	  && $login->{event}{outcome} eq 'failure' && $login->{event}{reason} eq 'R,"1"'
	  && $login->{source}{ip} eq '2001:db8::' && $login->{host}{name} eq 'node'
	  && $login->{'@timestamp'} =~ /^\d{4}-\d\d-\d\dT20:00:00\.123456\+00:00$/
	  && $login->{audit_log}{entry_data}{nested}{c} eq "\x01\x02",
	'ecs: a failed login: authentication/start, failure, reason, source.ip, host.name, @timestamp, entry_data kept');

# --- bad arguments: clear error (22023), nothing written, failure recorded ---
my @bad = (
	[ "'events', 'xml', 'none'",                  qr/invalid export format "xml"/,      'unknown format' ],
	[ "'events', 'csv', 'bzip2'",                 qr/invalid export compression "bzip2"/, 'unknown compression' ],
	[ "'daily_login_activity', 'ocsf', 'none'",   qr/format "ocsf" is not available for source "daily_login_activity"/, 'ocsf of daily_login_activity' ],
	[ "'daily_login_activity', 'ecs', 'gzip'",    qr/format "ecs" is not available for source "daily_login_activity"/, 'ecs of daily_login_activity' ],
	[ "'report', 'csv', 'none'",                  qr/format "csv" is not available for source "report"/, 'csv of the report' ],
	[ "'events', 'html', 'none'",                 qr/format "html" is only available for source "report"/, 'html of events' ],
	[ "'events', NULL, 'none'",                   qr/export format must not be null/,    'null format' ],
	[ "'events', 'jsonl', 'none', true",          qr/formula_guard applies to format "csv" only/, 'formula_guard with jsonl' ],
	[ "'events', 'ocsf', 'zstd', formula_guard => true", qr/formula_guard applies to format "csv" only/, 'formula_guard with ocsf' ],
);
for my $case (@bad)
{
	my ($args, $re, $what) = @$case;
	my @before = files_in("$root/fmt");
	my $fail_before = $node->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.export_runs WHERE status = 'FAILURE' AND directory = 'fmt'");
	my ($rc, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nBEGIN; SELECT * FROM audit_log.export('fmt', '$d0', '$d1', $args); COMMIT;");
	like($err, $re, "$what: clear error");
	like($err, $what eq 'null format' ? qr/22004/ : qr/22023/, "$what: SQLSTATE");
	is_deeply([ files_in("$root/fmt") ], \@before, "$what: nothing written");
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM audit_log.export_runs WHERE status = 'FAILURE' AND directory = 'fmt'"),
		$fail_before + 1, "$what: FAILURE run recorded although the transaction rolled back");
}

# --- who may call what ---
my ($rc_r, $out_r, $err_r);
is( $node->safe_psql('postgres', qq{
	SELECT has_function_privilege('audit_log_reader', 'audit_log.export(text, timestamptz, timestamptz, text, text, text, boolean)', 'EXECUTE')
	    || '/' || has_function_privilege('audit_log_writer', 'audit_log.export(text, timestamptz, timestamptz, text, text, text, boolean)', 'EXECUTE')
	    || '/' || has_function_privilege('audit_log_admin', 'audit_log._export_job(text, timestamptz, timestamptz, text, text, text, boolean, text)', 'EXECUTE')
	    || '/' || has_function_privilege('audit_log_admin', 'audit_log.schedule_export(text, text, text, text, interval, text, text, boolean)', 'EXECUTE')
	    || '/' || has_function_privilege('audit_log_reader', 'audit_log.schedule_export(text, text, text, text, interval, text, text, boolean)', 'EXECUTE')}),
	'true/false/false/true/false',
	'export(): readers and admins may call it (writers not), the job form nobody, schedule_export admins only');
$node->safe_psql('postgres', "CREATE ROLE regress_fmt_reader LOGIN IN ROLE audit_log_reader");
($rc_r, $out_r, $err_r) = $node->psql('postgres',
	"SET ROLE regress_fmt_reader; SELECT * FROM audit_log.export('fmt', '$d0', '$d1', 'events', 'ocsf', 'zstd')");
like($err_r, qr/permission denied to export the audit log/, 'a reader gets a clear error from export()');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.export_runs r JOIN audit_log.events e ON (e.entry_data->>'run_id')::bigint = r.run_id"
	. " WHERE r.status = 'FAILURE' AND e.user_name = 'regress_fmt_reader' AND e.entry_data->>'format' = 'ocsf'"),
	'1', "the reader's attempt is recorded as a FAILURE run, with its format");

# --- confinement, in every format and compression ---
for my $case ([ '../', 'parent' ], [ 'escape', 'symlink out' ], [ $outside, 'absolute path outside' ])
{
	my ($dir, $what) = @$case;
	my @outside_before = files_in($outside);
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT * FROM audit_log.export('$dir', '$d0', '$d1', 'events', 'jsonl', 'zstd')");
	like($err, qr/outside audit_log.export_directory/, "jsonl/zstd, $what: refused");
	is_deeply([ files_in($outside) ], \@outside_before, "jsonl/zstd, $what: nothing written outside");
	is($node->safe_psql('postgres',
		"SELECT status FROM audit_log.export_runs WHERE directory = '$dir' ORDER BY run_id DESC LIMIT 1"),
		'FAILURE', "jsonl/zstd, $what: FAILURE run recorded");
}
is_deeply([ grep { /^\./ } files_in("$root/fmt") ], [], 'no temporary file left behind');

# --- export_command runs on the compressed file ---
$node->append_conf('postgresql.conf', "audit_log.export_command = 'cp %p $copied/%f'");
$node->reload;
my $gz = $node->safe_psql('postgres', "SELECT file FROM audit_log.export('fmt', '$d0', '$d1', 'events', 'ecs', 'gzip')");
ok(-f "$copied/" . basename($gz) && slurp("$copied/" . basename($gz)) eq slurp($gz),
	'export_command gets the finished compressed file');
$node->append_conf('postgresql.conf', "audit_log.export_command = ''");
$node->reload;

# --- scheduled exports in a format ---
my $jobid = $node->safe_psql('postgres',
	"SELECT audit_log.schedule_export('fmtjob', '0 3 * * *', 'sched', 'events', '1 day', 'jsonl', 'zstd')");
like($jobid, qr/^\d+$/, 'schedule_export with format and compression returns the job id');
like($node->safe_psql('postgres', "SELECT command FROM cron.job WHERE jobid = $jobid"),
	qr/'jsonl', 'zstd', false\)$/, 'the job exports jsonl with zstd');
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT audit_log.schedule_export('fmtbad', '0 3 * * *', 'sched', 'daily_login_activity', '1 day', 'ocsf')");
like($err, qr/format "ocsf" is not available for source "daily_login_activity"/, 'schedule_export refuses a bad combination');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT audit_log.schedule_export('fmtbad', '0 3 * * *', 'sched', 'events', '1 day', 'ecs', formula_guard => true)");
like($err, qr/formula_guard applies to format "csv" only/, 'schedule_export refuses formula_guard with ecs');
is($node->safe_psql('postgres', "SELECT count(*) FROM cron.job WHERE jobname = 'audit_log_export_fmtbad'"),
	'0', 'no job was scheduled for a refused combination');
my $n = $node->safe_psql('postgres',
	"SELECT audit_log._scheduled_export('fmtjob', 'sched', 'events', '1 day', 'jsonl', 'zstd', false)");
cmp_ok($n, '>=', 1, "a run of the scheduled job exports the closed days ($n)");
my @sched = grep { /\.jsonl\.zst$/ } files_in("$root/sched");
is(scalar(@sched), $n, 'one .jsonl.zst file per window');
# a job scheduled before 1.1 calls the four-argument form: CSV, as before
is($node->safe_psql('postgres', "SELECT audit_log._scheduled_export('oldjob', 'sched', 'events', '1 day')"),
	$n, 'the 1.0 form of _scheduled_export still exports (CSV)');
is(scalar(grep { /\.csv$/ } files_in("$root/sched")), $n, 'its files are CSV');
$node->safe_psql('postgres', "SELECT audit_log.unschedule_export('fmtjob')");

# the HTML report can be scheduled like any export: a daily report
$jobid = $node->safe_psql('postgres',
	"SELECT audit_log.schedule_export('dailyreport', '5 0 * * *', 'reports', 'report', '1 day', 'html', 'gzip')");
like($jobid, qr/^\d+$/, 'schedule_export takes the report (source report, format html)');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT audit_log.schedule_export('fmtbad', '0 3 * * *', 'sched', 'report', '1 day', 'csv')");
like($err, qr/format "csv" is not available for source "report"/, 'schedule_export refuses the report in csv');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT audit_log.schedule_export('fmtbad', '0 3 * * *', 'sched', 'events', '1 day', 'html')");
like($err, qr/format "html" is not available for source "events"/, 'and html for the events');
$n = $node->safe_psql('postgres',
	"SELECT audit_log._scheduled_export('dailyreport', 'reports', 'report', '1 day', 'html', 'gzip', false)");
cmp_ok($n, '>=', 1, "a run of the report job writes one report per closed day ($n)");
my @reports = grep { /^audit_log_report_.*\.html\.gz$/ } files_in("$root/reports");
is(scalar(@reports), $n, 'one .html.gz report per day');
like(`gzip -dc $root/reports/$reports[0]`, qr/^<!DOCTYPE html>/i, 'each one an HTML document');
$node->safe_psql('postgres', "SELECT audit_log.unschedule_export('dailyreport')");

# --- audit_log.log_to_server_format: the server-log line as OCSF or ECS ---
my ($rc_f, $out_f, $err_f) = $node->psql('postgres', "ALTER SYSTEM SET audit_log.log_to_server_format = 'xml'");
like($err_f, qr/invalid value for parameter "audit_log.log_to_server_format": "xml"/,
	'log_to_server_format: an unknown value is refused');
like($err_f, qr/Available values: json, ocsf, ecs/, 'log_to_server_format: the error names the values');
is($node->safe_psql('postgres', "SHOW audit_log.log_to_server_format"), 'json', 'log_to_server_format: json by default');
my %log_line;
for my $fmt (qw(ocsf ecs json))
{
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET audit_log.log_to_server = on; ALTER SYSTEM SET audit_log.log_to_server_format = '$fmt'; SELECT pg_reload_conf()");
	# the writer, which writes the lines, has read it when it recorded the change
	$node->poll_query_until('postgres', qq{SELECT audit_log.flush('5 s') IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log.events
		WHERE event_type = 'SETTINGS_CHANGE' AND object_name = 'audit_log.log_to_server_format' AND entry_data->>'new' = '$fmt')})
	  or diag("no SETTINGS_CHANGE for log_to_server_format = $fmt");
	$node->safe_psql('postgres', "CREATE ROLE regress_logfmt_$fmt LOGIN; SELECT audit_log.flush('10 s')");
	my @lines = grep { /audit_log: \{/ && /regress_logfmt_$fmt/ } split /\n/, slurp($node->logfile);
	my ($j) = map { /audit_log: (\{.*\})\s*$/ ? $1 : () } @lines;
	$log_line{$fmt} = defined $j ? eval { $json->decode($j) } : undef;
	ok($log_line{$fmt}, "log_to_server_format = $fmt: the line of the event is in the server log, as JSON")
	  or diag(join("\n", @lines));
}
my $ev_id = $node->safe_psql('postgres', "SELECT event_id FROM audit_log.events WHERE object_name = 'regress_logfmt_ocsf' AND event_type = 'CREATE_USER'");
my $o = $log_line{ocsf} // {};
is(join('/', $o->{class_uid} // '', $o->{activity_id} // '', $o->{type_uid} // '', $o->{user}{name} // '', $o->{metadata}{uid} // '',
		$o->{metadata}{product}{name} // '', $o->{status} // ''),
	"3001/1/300101/regress_logfmt_ocsf/$ev_id/audit_log/Success",
	'log_to_server_format = ocsf: an OCSF Account Change (Create) with the user, status and metadata.uid = event_id');
like($o->{time} // '', qr/^\d{13}$/, 'log_to_server_format = ocsf: time in epoch milliseconds');
is($o->{unmapped}{event_category} // '', 'USER_ACCOUNTS', 'log_to_server_format = ocsf: the rest under unmapped');
my $c = $log_line{ecs} // {};
is(join('/', join(',', @{ $c->{event}{category} // [] }), join(',', @{ $c->{event}{type} // [] }), $c->{event}{action} // '',
		$c->{event}{outcome} // '', $c->{audit_log}{object_name} // ''),
	'iam/user,creation/create-user/success/regress_logfmt_ecs',
	'log_to_server_format = ecs: event.category, event.type, event.action, event.outcome, audit_log.*');
like($c->{'@timestamp'} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/, 'log_to_server_format = ecs: @timestamp in ISO 8601');
is(join('/', $log_line{json}{event_type} // '', $log_line{json}{object_name} // ''), 'CREATE_USER/regress_logfmt_json',
	'log_to_server_format = json: the columns of audit_log.events, as before');
$node->safe_psql('postgres',
	"ALTER SYSTEM RESET audit_log.log_to_server; ALTER SYSTEM RESET audit_log.log_to_server_format; SELECT pg_reload_conf()");

$node->stop;
done_testing();
