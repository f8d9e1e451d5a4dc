# "demotion-guard check": would a stop now hang?  Each exit code against
# real servers: a healthy consumer only (0); a stale one once stalled, ended
# at shutdown start (3); the same on an excluded slot (4); the guard on its
# SQL path only (no data directory, a role that may not read the server's)
# at a fast shutdown (4); the
# daemon down (1); a bad option (2).  --json carries the same verdict.  And
# the metrics the alerting rules and the Grafana dashboard use are served.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

# Runs "demotion-guard @args"; returns (exit code, stdout, stderr), bounded
# to 30 s (exit code undef when it had to be killed).
sub client
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $ENV{DG_BIN}, @args ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	eval { $h->finish; };
	if ($@)
	{
		$h->kill_kill;
		diag("demotion-guard @args: $@");
		return (undef, $out, $err);
	}
	note("demotion-guard @args: exit " . $h->result(0) . "\n$out$err");
	return ($h->result(0), $out, $err);
}

# Polls "check --url $url" until it exits $want (and its output matches
# $re when given); returns its stdout.
sub wait_check
{
	my ($url, $want, $what, $re) = @_;
	my ($rc, $out);
	wait_until(
		sub {
			($rc, $out) = client('check', '--url', $url);
			return defined $rc && $rc == $want && (!$re || $out =~ $re);
		},
		$GuardTest::TIMEOUT,
		$what);
	is($rc, $want, "$what: exit $want");
	return $out;
}

my $node = new_primary('primary');

# 0: a healthy consumer only.
my $healthy =
  start_consumer($node, slot => 'healthy1', mode => 'healthy', status_interval => 200);
my $g = start_guard($node, 'check',
	[ '--listen', '127.0.0.1:0', '--deadline', '10s', '--stall-after', '2s' ]);
my $url = guard_url($g);
my $out = wait_check($url, 0, 'check with a healthy consumer');
like($out, qr/^nothing would hold a stop up \(1 walsender, none with a cause\)\n\z/,
	'healthy: the verdict alone');

# 3: a stale consumer, once stalled: ended at shutdown start.
my $stale = start_consumer($node, slot => 'stale1', mode => 'stale');
make_stale($node, $stale, 1);
$out = wait_check($url, 3, 'check with a stalled consumer', qr/risk stalled/);
like($out,
	qr/^slot stale1 \(logical, pid $stale->{walsender}\): behind, lag \d+(\.\d)? (B|KiB|MiB) for \S+, risk stalled: ended at shutdown start \(stalled\)$/m,
	'stalled: its line, with cause, lag, time and action');
like($out, qr/^a stop now would be held up by 1 walsender; the guard ends it at shutdown start$/m,
	'stalled: the verdict');
my ($rc, $json) = client('check', '--url', $url, '--json');
is($rc, 3, 'check --json: exit 3');
my $j = eval { decode_json($json) };
ok(ref $j eq 'HASH', 'check --json: one JSON object') or diag($@);
if ($j)
{
	is($j->{exit}, 3, 'check --json: "exit" 3');
	like($j->{verdict}, qr/held up by 1 walsender/, 'check --json: the verdict');
	is(scalar @{ $j->{holders} }, 1, 'check --json: one holder');
	is($j->{holders}[0]{slot},  'stale1',  'check --json: holder stale1');
	is($j->{holders}[0]{cause}, 'behind',  'check --json: cause behind');
	ok($j->{holders}[0]{ended}, 'check --json: ended');
}

# The alerting rules and the Grafana dashboard use only metrics that a live
# guard serves (with walsenders and counters present), and the dashboard is
# importable JSON: panels of current types on a ${DS_PROMETHEUS} input.
my $top = $ENV{TESTDIR} // '.';
my ($code, undef, $metrics) = http_req($g, 'GET', '/metrics');
is($code, 200, 'GET /metrics: 200');
my %served = map { $_ => 1 } $metrics =~ /^(demotion_guard_\w+)(?:\{| )/mg;
my $rules = slurp_file("$top/packaging/prometheus/demotion-guard.rules.yml");
my $dash_text = slurp_file("$top/packaging/grafana/demotion-guard.json");
my $dash = eval { decode_json($dash_text) };
ok(ref $dash eq 'HASH', 'the dashboard parses as JSON') or diag($@);
my @exprs = $dash ? map { $_->{expr} } map { @{ $_->{targets} } } @{ $dash->{panels} } : ();
push @exprs, map { $_->{definition} // '' } @{ $dash->{templating}{list} } if $dash;
ok(@exprs >= 8, 'the dashboard has queries');
my %used = map { $_ => 1 } join("\n", $rules, @exprs) =~ /\b(demotion_guard_\w+)/g;
ok(keys %used >= 10, 'the rules and the dashboard use metrics: ' . join(' ', sort keys %used));
my @unknown = grep { !$served{$_} } sort keys %used;
is("@unknown", '', 'every metric the rules and the dashboard use is served by /metrics');
if ($dash)
{
	my @bad = grep { $_->{type} !~ /^(timeseries|stat|state-timeline)$/ } @{ $dash->{panels} };
	is(scalar @bad, 0, 'dashboard panels are timeseries, stat or state-timeline');
	is($dash->{__inputs}[0]{name}, 'DS_PROMETHEUS', 'dashboard: a DS_PROMETHEUS datasource input');
	my @other_ds = grep { ($_->{datasource}{uid} // '') ne '${DS_PROMETHEUS}' } @{ $dash->{panels} };
	is(scalar @other_ds, 0, 'every panel uses ${DS_PROMETHEUS}');
	ok($dash->{schemaVersion} >= 36, 'dashboard: a current schemaVersion');
}

# 4: the same consumer on an excluded slot (a second guard, same server).
my $gx = start_guard($node, 'excluded',
	[ '--listen', '127.0.0.1:0', '--stall-after', '2s', '--exclude-slot', 'stale*' ]);
my $url_x = guard_url($gx);
$out = wait_check($url_x, 4, 'check with a stalled consumer on an excluded slot',
	qr/risk stalled/);
like($out, qr/^slot stale1 \(logical, pid $stale->{walsender}\): .*: excluded slot$/m,
	'excluded: its line says so');
like($out,
	qr/^a stop now would be held up by 1 walsender; 1 walsender the guard will not end: slot stale1 \(excluded slot\)$/m,
	'excluded: the verdict names the slot and why');
stop_guard($gx);

# 4: the guard on its SQL path only: no --pgdata, PGDATA unset, and a role
# that may not read data_directory (a superuser's guard would adopt the
# server's): at a fast shutdown the server ends its session, so it can only
# report.
$node->safe_psql('postgres',
	'CREATE ROLE guardsql LOGIN; GRANT pg_read_all_stats, pg_signal_backend TO guardsql');
my $gs;
{
	local $ENV{PGDATA};
	delete $ENV{PGDATA};
	$gs = start_guard($node, 'sqlonly', [ '--listen', '127.0.0.1:0', '--stall-after', '2s' ],
		dsn => $node->connstr('postgres') . ' user=guardsql', no_pgdata => 1);
}
my $url_s = guard_url($gs);
($rc, $out) = client('status', '--url', $url_s);
is($rc, 0, 'status of the SQL-only guard: exit 0');
like($out, qr/^paths\s+sql available, signal unavailable \(.*no data directory.*\)$/m,
	'SQL-only: status says signal unavailable, no data directory');
$out = wait_check($url_s, 4, 'check on the SQL-only path with a stalled consumer',
	qr/risk stalled/);
like($out,
	qr/^slot stale1 .*risk stalled: SQL-only path at a fast shutdown: .*can only report, unless the stop is armed before \(before_stop hook\)/m,
	'SQL-only: its line says why, and that a before_stop arm would end it');
like($out, qr/1 walsender the guard will not end: slot stale1 \(SQL-only path at a fast shutdown\)$/m,
	'SQL-only: the verdict');
stop_guard($gs);

# check never acts: the stale walsender is still there, nothing was audited.
ok(proc_alive($stale->{walsender}), 'check ended nothing');
is(scalar(audit_events($g, 'terminated')), 0, 'no termination audited');

# 1: the daemon down; 2: a bad option.
stop_guard($g);
my $err;
($rc, $out, $err) = client('check', '--url', $url);
is($rc, 1, 'check of a stopped daemon: exit 1');
like($err, qr{^demotion-guard: cannot reach the daemon at \Q$url\E: \S.*\n\z},
	'daemon down: one line naming the URL');
($rc, $out, $err) = client('check', '--bogus');
is($rc, 2, 'check --bogus: exit 2');
like($err, qr/unknown option "--bogus" for "check"/, 'bad option: named');
($rc, $out, $err) = client('check', '--timeout', 'soon');
is($rc, 2, 'check --timeout soon: exit 2');
like($err, qr/"soon" for option "--timeout"/, 'bad value: named');

stop_proc($stale);
stop_proc($healthy);
done_testing();
