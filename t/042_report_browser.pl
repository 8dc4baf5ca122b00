# The HTML report (export source 'report', format 'html') in a real browser.
# Real logins and failed logins (scram over TCP, a role named
# <script>alert(1)</script> among them) and log_event rows spread over the
# days before today; the report of the five days is written like any export
# (sha256, export_runs, gzip), refused and recorded with any other format,
# is valid HTML (html-validate from npm, into the test's own folder) and is
# self-contained (no src, href, url() or @import; a CSP that allows no
# source).  Then headless Chromium, driven through chromium-driver's
# WebDriver protocol with the network turned off, opens the file from disk:
# one bar per day, a click on the worst day's point keeps only that day's
# rows, the reset button and a second click bring the window back, the
# filters hide rows, the <script> values render as text and open no dialog,
# the console has no error, and a screenshot is kept as an artifact in the
# test's log directory.  The browser part is skipped (counted) only when
# chromium or chromedriver cannot be run.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use AuditLogNode;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use File::Basename qw(basename dirname);

my $secret = 'Rp-secret-42b7e1';
my $evil   = '<script>alert(1)</script>';
my $root   = PostgreSQL::Test::Utils::tempdir();    # audit_log.export_directory

my $node = scram_node('report',
	"audit_log.flush_interval = '20ms'\nlog_connections = off\naudit_log.export_directory = '$root'\n");

$node->safe_psql('postgres', qq{
CREATE ROLE regress_rep_alice LOGIN PASSWORD '$secret';
CREATE ROLE "$evil" LOGIN PASSWORD '$secret';
});

# One connection attempt over TCP; the password travels in PGPASSWORD only.
sub attempt
{
	my ($user, $password) = @_;
	local $ENV{PGPASSWORD} = $password;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '-w', '-At', '-d',
		  "host=127.0.0.1 port=" . $node->port . " user='$user' dbname=postgres", '-c', 'SELECT 1' ],
		'<', \undef, '>', \$out, '2>', \$err);
	chomp $out;
	return $out;
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

# Today (UTC): real logins: 2 successful, 3 failed (one of them the role
# named like a script).  The four days before: log_event rows; day -2 has the
# most failed logins (6), so it is the worst day.
is(attempt('regress_rep_alice', $secret), '1', 'a real login succeeds');
is(attempt('regress_rep_alice', $secret), '1', 'a second real login succeeds');
is(attempt('regress_rep_alice', 'wrong'), '', 'a wrong password fails');
is(attempt('regress_rep_alice', 'wrong again'), '', 'another wrong password fails');
is(attempt($evil, 'wrong'), '', 'the role named like a script fails to log in');

my %spread = (4 => [ 3, 1 ], 3 => [ 0, 2 ], 2 => [ 4, 6 ], 1 => [ 5, 0 ]);
my $sql = '';
for my $back (sort keys %spread)
{
	my ($ok, $bad) = @{ $spread{$back} };
	my $at = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '$back days' + interval '9 hours'";
	$sql .= "SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'SUCCESS', NULL, 'app', '{}', NULL, $at + g * interval '1 minute') FROM generate_series(1, $ok) g;\n"
	  if $ok;
	$sql .= "SELECT audit_log.log_event('ACCESS_SIGMA', 'LOGIN', 'FAILURE', NULL, 'app', '{}', 'INVALID_PASSWORD', $at + g * interval '1 minute') FROM generate_series(1, $bad) g;\n"
	  if $bad;
}
$sql .= "SELECT audit_log.log_event('USER_ACCOUNTS', 'CREATE_USER', 'SUCCESS', NULL, '$evil', '{}', NULL,"
  . " date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '2 days' + interval '10 hours');\n";
$node->safe_psql('postgres', $sql);
is($node->safe_psql('postgres', "SELECT audit_log.flush('30 s')"), 't', 'flush() returns true');

my @days = split /\n/, $node->safe_psql('postgres',
	"SELECT d FROM audit_log.days(audit_log.day(now(), 'UTC') - 4, audit_log.day(now(), 'UTC')) d ORDER BY d");
my $worst = $days[2];
my $from  = "'$days[0] 00:00+00'";
my $to    = "'$days[4] 00:00+00'::timestamptz + interval '1 day'";
my %per_day = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	"SELECT audit_log.day(request_time, 'UTC'), count(*) FROM audit_log.events"
	  . " WHERE request_time >= $from AND request_time < $to GROUP BY 1");
my $worst_rows = $per_day{$worst};
ok($worst_rows >= 11, "the worst day $worst has its $worst_rows events");

# The report, written like any export; the session's time zone is UTC.
my ($file, $rows, $bytes, $sha) = split /\|/, $node->safe_psql('postgres',
	"SET TimeZone = 'UTC'; SELECT * FROM audit_log.export('.', $from, $to, 'report', 'html')");
like(basename($file), qr/^audit_log_report_\d{8}T000000Z_\d{8}T000000Z_\d{8}T\d{6}Z\.html$/,
	'the report file name ends in .html');
is($rows, 1, 'a report counts one document');
is(-s $file, $bytes, 'bytes is the size of the file');
my $html = slurp($file);
is(slurp("$file.sha256"), "$sha  " . basename($file) . "\n", 'the .sha256 file names the report and its checksum');
is(system("cd " . dirname($file) . " && sha256sum -c --quiet " . basename($file) . ".sha256"), 0, 'sha256sum -c accepts it');
is($node->safe_psql('postgres',
	"SELECT status || '|' || source || '|' || rows FROM audit_log.export_runs WHERE file = '$file'"),
	'SUCCESS|report|1', 'the run is in export_runs');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.events WHERE event_category = 'EXPORTS' AND object_name = '$file'"),
	'1', 'and an EXPORTS event names the file');

like($html, qr/^<!DOCTYPE html>\n<html lang="en">/, 'an HTML5 document');
is(() = $html =~ /<script/gi, 1, 'one script element: ours, nothing injected');
unlike($html, qr/<script>alert/i, 'the script-like values are escaped');
cmp_ok(() = $html =~ /&lt;script&gt;alert\(1\)&lt;\/script&gt;/g, '>=', 4,
	'they appear escaped: object names, the failed role in the table and in the top roles');
unlike($html, qr/\s(src|href|action|formaction|srcset|poster)\s*=|url\(|\@import/i,
	'no attribute or style that loads anything');
like($html, qr/Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-/,
	'a CSP allows no source but inline style and the script by its hash');
unlike($html, qr/\Q$secret\E/, 'no password in the report');
like($html, qr{<td id="worst" data-day="$worst">$worst \(6 failed logins\)</td>}, 'the summary names the worst day');
my ($ok_logins) = $html =~ m{<th>successful logins</th><td class="n">(\d+)</td>};
like($html, qr{<table id="totals"><tbody><tr><th>events</th><td class="n">\d+</td></tr><tr><th>successful logins</th><td class="n">\d+</td></tr><tr><th>failed logins</th><td class="n">12</td></tr><tr><th>days</th><td class="n">5</td>},
	'totals: successful and 12 failed logins over 5 days, static HTML');
cmp_ok($ok_logins // 0, '>=', 14, 'at least the 14 successful logins (the harness logs in too)');
like($html, qr{<table id="top-addresses">.*<tr><td>local</td><td class="n">9</td></tr>\n<tr><td>127\.0\.0\.1</td><td class="n">3</td></tr></tbody></table>}s,
	'top failing client addresses');
like($html, qr{<table id="top-roles">.*<tr><td>postgres</td><td class="n">9</td></tr>\n<tr><td>regress_rep_alice</td><td class="n">2</td></tr>\n<tr><td>&lt;script&gt;alert\(1\)&lt;/script&gt;</td><td class="n">1</td></tr></tbody></table>}s,
	'top failing roles, the script-like one as text');

# Compressed, and refused with another format or another source.
my ($gz) = split /\|/, $node->safe_psql('postgres',
	"SET TimeZone = 'UTC'; SELECT * FROM audit_log.export('.', $from, $to, 'report', 'html', 'gzip')");
like($gz, qr/\.html\.gz$/, 'a gzip report ends in .html.gz');
is(system("cd " . dirname($gz) . " && sha256sum -c --quiet " . basename($gz) . ".sha256"), 0, 'sha256sum -c accepts it');
my $unzipped = `zcat '$gz'`;
like($unzipped, qr{^<!DOCTYPE html>\n.*<title>audit_log report $days[0] to $days[4]</title>.*</html>\n\z}s,
	'zcat gives back a whole report of the window');

for my $bad ([ 'report', 'csv' ], [ 'report', 'jsonl' ], [ 'events', 'html' ], [ 'daily_login_activity', 'html' ])
{
	my ($src, $fmt) = @$bad;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT * FROM audit_log.export('.', $from, $to, '$src', '$fmt')",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/22023: export format "\Q$fmt\E" is (not available for source "report"|only available for source "report")/,
		"source $src with format $fmt is refused (22023)");
}
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM audit_log.export_csv('.', $from, $to, 'report')");
like($err, qr/export format "csv" is not available for source "report"/, 'export_csv() refuses the report');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.export_runs WHERE status = 'FAILURE' AND error LIKE 'export format %'"),
	'5', 'every refused report is recorded as a FAILURE run');

# A time zone of its own: the five UTC days touch six New York days.
my $ny = $node->safe_psql('postgres',
	"SELECT audit_log._export_report($from, $to, 'America/New_York')");
like($ny, qr/days in time zone America\/New_York/, 'the report says its time zone');
is(() = $ny =~ /<rect class="bar"/g, 6, 'six bars, one per New York day');

# Valid HTML: html-validate (npm, installed into this test's own folder) with
# its "recommended" rules; skipped, counted, when npm cannot install it.
SKIP:
{
	my $npmdir = PostgreSQL::Test::Utils::tempdir();
	my $bin    = "$npmdir/node_modules/.bin/html-validate";
	if (system('command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1') == 0)
	{
		# the system's CA bundle, for a registry reached through a TLS proxy
		my $ca = -f '/etc/ssl/certs/ca-certificates.crt'
		  ? "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" : '';
		system("cd '$npmdir' && HOME='$npmdir' $ca timeout 300 npm install --prefix '$npmdir' --no-audit --no-fund --silent html-validate >/dev/null 2>&1");
	}
	skip 'npm could not install html-validate', 2 unless -x $bin;
	my ($out, $err) = ('', '');
	my $valid = IPC::Run::run([ $bin, '-p', 'recommended', $file ], '>', \$out, '2>', \$err);
	ok($valid, 'html-validate (recommended) finds no error in the report') or diag("$out$err");
	open my $bad, '>', "$npmdir/bad.html" or die $!;
	print $bad "<!DOCTYPE html><html lang=\"en\"><head><title>x</title></head><body><p><div></p></body></html>\n";
	close $bad;
	ok(!IPC::Run::run([ $bin, '-p', 'recommended', "$npmdir/bad.html" ], '>', \$out, '2>', \$err),
		'and it does find errors in a broken page');
}

# Once maintain() has counted the past days into the hourly rollups, the
# report's per-day counts come from them, and are those of a plain scan.
$node->safe_psql('postgres', 'SELECT audit_log.maintain()');
cmp_ok($node->safe_psql('postgres',
	"SELECT count(*) FROM audit_log.rollup_days WHERE day >= '$days[0]' AND day < '$days[4]'"),
	'>=', 1, 'maintain() counted past days into the rollups');
my $rolled = $node->safe_psql('postgres', "SELECT audit_log._export_report($from, '$days[4] 00:00+00', 'UTC')");
my @titles;
push @titles, "$1: $2 successful, $3 failed logins"
  while $rolled =~ m{<title>(\d{4}-\d\d-\d\d): (\d+) successful, (\d+) failed logins</title>}g;
is(join(',', @titles), $node->safe_psql('postgres', qq{
SELECT string_agg(g.d || ': ' || COALESCE(c.s, 0) || ' successful, ' || COALESCE(c.f, 0) || ' failed logins', ',' ORDER BY g.d)
FROM audit_log.days('$days[0]', '$days[3]') g(d)
LEFT JOIN (SELECT (request_time AT TIME ZONE 'UTC')::date AS d,
		count(*) FILTER (WHERE event_status = 'SUCCESS') AS s, count(*) FILTER (WHERE event_status = 'FAILURE') AS f
	FROM audit_log.events WHERE event_category = 'ACCESS_SIGMA' AND event_type = 'LOGIN' GROUP BY 1) c ON c.d = g.d}),
	'the per-day counts from the rollups are those of a scan');

# The browser.
my $chromium = (grep { -x $_ } '/usr/bin/chromium', '/usr/bin/chromium-browser')[0];
my $driver   = (grep { -x $_ } '/usr/bin/chromedriver')[0];
my $browser_tests = 18;
SKIP:
{
	skip 'chromium and chromedriver are not installed (apt-get install chromium chromium-driver)', $browser_tests
	  unless $chromium && $driver;

	my $port    = PostgreSQL::Test::Cluster::get_free_port();
	my $profile = PostgreSQL::Test::Utils::tempdir();
	my $dlog    = "$PostgreSQL::Test::Utils::log_path/042_chromedriver.log";
	local $ENV{HOME} = $profile;
	my $dh      = IPC::Run::start([ $driver, "--port=$port", "--log-path=$dlog" ],
		'<', \undef, '>', '/dev/null', '2>', '/dev/null');
	my $http = HTTP::Tiny->new(timeout => 60);
	my $json = JSON::PP->new->utf8->allow_nonref;
	my $base = "http://127.0.0.1:$port";
	my $up   = 0;
	for (1 .. 100)
	{
		my $r = $http->get("$base/status");
		if ($r->{success}) { $up = 1; last; }
		select(undef, undef, undef, 0.1);
	}
	my $wd = sub {
		my ($method, $path, $body) = @_;
		my $r = $http->request($method, "$base$path",
			{ headers => { 'Content-Type' => 'application/json' },
			  content => $json->encode($body // {}) });
		my $v = eval { $json->decode($r->{content}) };
		return ($r->{status}, $v ? $v->{value} : $r->{content});
	};
	my ($st, $session) = $up ? $wd->('POST', '/session', {
		capabilities => { alwaysMatch => {
			browserName               => 'chrome',
			unhandledPromptBehavior   => 'ignore',
			'goog:loggingPrefs'       => { browser => 'ALL' },
			'goog:chromeOptions'      => {
				binary => $chromium,
				args   => [ '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
					'--no-first-run', "--user-data-dir=$profile", '--window-size=1280,1000',
					'--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND' ] } } } })
	  : (0, undef);
	my $sid = ref $session eq 'HASH' ? $session->{sessionId} : undef;
	unless ($sid)
	{
		$dh->kill_kill;
		skip "chromium cannot be run here: " . substr($json->encode($session // 'chromedriver did not start'), 0, 200),
		  $browser_tests;
	}
	my $js = sub {
		my ($script, @args) = @_;
		my ($s, $v) = $wd->('POST', "/session/$sid/execute/sync", { script => $script, args => \@args });
		return $v;
	};
	my $click = sub {
		my ($css) = @_;
		my ($s, $el) = $wd->('POST', "/session/$sid/element", { using => 'css selector', value => $css });
		my ($id) = values %$el;
		($s) = $wd->('POST', "/session/$sid/element/$id/click", {});
		return $s;
	};
	my $visible = q{return [].slice.call(document.querySelectorAll('#events tbody tr:not(.more)')).filter(function(r){return !r.hidden;}).map(function(r){return r.dataset.day;});};

	($st) = $wd->('POST', "/session/$sid/chromium/network_conditions",
		{ network_conditions => { offline => JSON::PP::true, latency => 0,
			download_throughput => 0, upload_throughput => 0 } });
	is($st, 200, 'the network is off');
	$wd->('POST', "/session/$sid/url", { url => "file://$file" });
	is($js->('return document.title'), "audit_log report $days[0] to $days[4]", 'chromium opened the report from disk');
	is($js->(q{return performance.getEntriesByType('resource').length}), 0, 'the page made no request');

	my $bars = $js->(q{return [].slice.call(document.querySelectorAll('#chart rect.bar')).map(function(b){return b.dataset.day;});});
	is_deeply($bars, \@days, 'one bar per day of the window');
	my $all_rows = $js->('return document.querySelectorAll("#events tbody tr:not(.more)").length');
	is(scalar @{ $js->($visible) }, $all_rows, "all $all_rows rows are shown at first");

	is($click->(qq{#chart circle.pt[data-day="$worst"]}), 200, 'click the worst day\'s point');
	my $shown = $js->($visible);
	is_deeply([ sort keys %{ { map { $_ => 1 } @$shown } } ], [$worst], 'only the worst day\'s rows are shown');
	is(scalar @$shown, $worst_rows, "all $worst_rows of them");
	is($js->(q{return [].slice.call(document.querySelectorAll('#chart .dim')).length}), 3 * 4,
		'the other days (column, bar, point) are dimmed in the chart');
	my ($s2, $png) = $wd->('GET', "/session/$sid/screenshot");
	my $shot = "$PostgreSQL::Test::Utils::log_path/042_report_worst_day.png";
	open my $fh, '>:raw', $shot or die "$shot: $!";
	print $fh decode_base64($png // '');
	close $fh;
	ok(-s $shot > 1000 && substr(decode_base64($png), 1, 3) eq 'PNG', "screenshot kept: $shot");

	is($click->('#reset'), 200, 'click reset');
	is(scalar @{ $js->($visible) }, $all_rows, 'the whole window is back');
	$click->(qq{#chart g.day[data-day="$worst"] rect.hit});
	is(scalar @{ $js->($visible) }, $worst_rows, 'a click on the worst day\'s column keeps it');
	$click->(qq{#chart g.day[data-day="$worst"] rect.hit});
	is(scalar @{ $js->($visible) }, $all_rows, 'a second click on the day brings the window back');

	$js->(q{var s=document.getElementById('f-status'); s.value='FAILURE'; s.dispatchEvent(new Event('change'));});
	is_deeply($js->(q{return [].slice.call(document.querySelectorAll('#events tbody tr')).filter(function(r){return !r.hidden;}).map(function(r){return r.dataset.status;}).filter(function(v,i,a){return a.indexOf(v)===i;});}),
		['FAILURE'], 'the status filter keeps only failures');

	is($js->(qq{return [].slice.call(document.querySelectorAll('#events td')).filter(function(t){return t.textContent==='$evil';}).length}),
		$node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE object_name = '$evil') + count(*) FILTER (WHERE user_name = '$evil') FROM audit_log.events WHERE request_time >= $from AND request_time < $to"),
		'the script-like object names and role render as text in the table');
	my ($as, $alert) = $wd->('GET', "/session/$sid/alert/text");
	is($as, 404, 'no dialog opened');
	my ($ls, $logs) = $wd->('POST', "/session/$sid/se/log", { type => 'browser' });
	my @errors = grep { ($_->{level} // '') eq 'SEVERE' } @{ ref $logs eq 'ARRAY' ? $logs : [ { level => 'SEVERE', message => "no log: $ls" } ] };
	is_deeply([ map { $_->{message} } @errors ], [], 'the console shows no error');

	$wd->('DELETE', "/session/$sid");
	$dh->kill_kill;
}

$node->stop;
done_testing();
