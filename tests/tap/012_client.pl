# The command-line clients (status, arm, disarm, kill) against a running
# guard's HTTP API: the status table and its --json form, arm and disarm,
# kill of a stale consumer by slot (audited with reason "api"), the refusals
# of the API (409 for a physical, unknown or excluded slot, 401 for a wrong
# token) as one line on stderr and exit 1, an unreachable daemon (exit 1),
# usage errors (exit 2), and the same clients over a unix socket.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $port  = 55612;
my $url   = "http://127.0.0.1:$port";
my $nobody = 'http://127.0.0.1:55613';    # nothing listens there

# Runs "demotion-guard @args" with %env added to the environment; returns
# (exit code, stdout, stderr).  Bounded: a client still running after 30 s
# is killed and reported (exit code undef).
sub client
{
	my ($args, %env) = @_;
	my ($out, $err) = ('', '');
	local @ENV{ keys %env } = values %env;
	my $h = IPC::Run::start([ $ENV{DG_BIN}, @$args ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	eval { $h->finish; };
	if ($@)
	{
		$h->kill_kill;
		diag("demotion-guard @$args: $@");
		return (undef, $out, $err);
	}
	note("demotion-guard @$args: exit " . $h->result(0) . "\n$out$err");
	return ($h->result(0), $out, $err);
}

# Runs the client and checks its exit code; returns (stdout, stderr).
sub client_is
{
	my ($want, $args, $what, %env) = @_;
	my ($rc, $out, $err) = client($args, %env);
	is($rc, $want, "$what: exit $want");
	return ($out, $err);
}

# Polls "status" until its output matches $re; returns that output.
sub wait_status
{
	my ($re, $what, @args) = @_;
	my $out = '';
	wait_until(
		sub {
			(undef, $out) = client([ 'status', '--url', $url, @args ]);
			return $out =~ $re;
		},
		$GuardTest::TIMEOUT,
		$what);
	return $out;
}

my $node    = new_primary('primary');
my $standby = new_standby($node, 'standby1');
my $stale   = start_consumer($node, slot => 'stale1', mode => 'stale');
my $keep    = start_consumer($node, slot => 'keep_me', mode => 'stale');
my $tmp     = PostgreSQL::Test::Utils::tempdir_short();

my $token_file = "$tmp/token";
append_to_file($token_file, "right-token\n");
chmod(0600, $token_file) or die "chmod $token_file: $!";
my $wrong_file = "$tmp/wrong";
append_to_file($wrong_file, "wrong-token-xyzzy\n");
chmod(0600, $wrong_file) or die "chmod $wrong_file: $!";
my @auth = ('--url', $url, '--token-file', $token_file);

my $g = start_guard($node, 'tcp',
	[ '--listen', "127.0.0.1:$port", '--token-file', $token_file,
	  '--deadline', '60s', '--stall-after', '1s', '--kill-stalled-at-shutdown', 'no',
	  '--exclude-slot', 'keep*' ]);
make_stale($node, $stale, 1);
make_stale($node, $keep, 2);

# 1. status: the header and a table with the stale consumer as stalled.
my $stalled_row = qr/^\s*$stale->{walsender}\s+logical\s+stale1\s.*\sstalled\s+behind$/m;
my $out = wait_status($stalled_row, 'status to show stale1 as stalled');
like($out, $stalled_row, 'status: stale1 stalled, cause behind (RISK and CAUSE columns)');
like($out, qr/^demotion-guard \S+ at \Q$url\E/m, 'status: header names the URL');
like($out, qr/^phase\s+observing since /m,      'status: phase observing');
like($out, qr/^postgresql\s+connected: PostgreSQL 15\.\d+/m, 'status: connected, version');
like($out, qr/^postmaster\s+pid \d+ ready/m,    'status: postmaster pid and status');
like($out, qr/^paths\s+sql available, signal available/m, 'status: both paths available');
like($out, qr/^dry-run\s+no$/m,                  'status: not a dry run');
like($out, qr/^\s*PID\s+KIND\s+SLOT\s+APPLICATION\s+CLIENT\s+LAG\s+STALLED\s+RISK\s+CAUSE$/m,
	'status: the table header');
like($out, qr/^\s*\d+\s+physical\s+standby1\s/m, 'status: the standby is a physical row');
like($out, qr/^\s*$keep->{walsender}\s+logical\s+keep_me\s.*\(excluded\)\s+\S+$/m,
	'status: keep_me is marked excluded');
like($out, qr/^\s*$stale->{walsender}\s+logical\s+stale1\s+\S.*\s\d+(\.\d)? (B|KiB|MiB)\s/m,
	'status: the stale consumer has a lag in bytes');
like($out, qr/^counters\s+terminations 0 /m, 'status: counters');

# 2. status --json: one object with both bodies, and through DEMOTION_GUARD_URL.
($out) = client_is(0, [ 'status', '--json' ], 'status --json', DEMOTION_GUARD_URL => $url);
my $j = eval { decode_json($out) };
ok(ref $j eq 'HASH', 'status --json: one JSON object') or diag($@);
is($j->{status}{phase}, 'observing', 'status --json: status.phase') if $j;
is($j->{status}{postgresql}{sql}, 'connected', 'status --json: postgresql.sql') if $j;
my ($row) = $j ? grep { ($_->{slot} // '') eq 'stale1' } @{ $j->{walsenders} } : ();
is($row->{pid},  $stale->{walsender}, 'status --json: the stale walsender is listed') if $row;
is($row->{risk}, 'stalled', 'status --json: risk stalled') if $row;
ok($row, 'status --json: stale1 is in walsenders');

# 3. arm and disarm, with the token; a wrong or missing token is a 401.
my $err;
($out) = client_is(0, [ 'arm', @auth, '--deadline', '30s', '--reason', 'tap' ], 'arm');
like($out, qr/^armed: deadline (?:30|29)s( \(at \d\d:\d\d:\d\dZ\))?, trigger api, reason "tap"\n\z/,
	'arm: one line with deadline and trigger');
$out = wait_status(qr/^phase\s+armed since /m, 'status to show the arm');
like($out, qr/^phase\s+armed since .*, deadline in \d/m, 'status: armed, deadline remaining');
($out) = client_is(0, [ 'disarm', @auth, '--reason', 'tap done' ], 'disarm');
like($out, qr/^disarmed \(phase observing\)\n\z/, 'disarm: one line');
($out) = client_is(0, [ 'disarm', @auth ], 'disarm again');
like($out, qr/^was not armed \(phase observing\)\n\z/, 'disarm again: was not armed');

($out, $err) = client_is(1, [ 'arm', '--url', $url, '--token-file', $wrong_file ],
	'arm with a wrong token');
like($err, qr{^demotion-guard: POST /v1/arm at \Q$url\E: 401 unauthorized(: .*)?\n\z},
	'wrong token: one line, 401 unauthorized');
unlike($out . $err, qr/xyzzy|right-token/, 'no token is ever printed');
($out, $err) = client_is(1, [ 'disarm', '--url', $url ], 'disarm without a token');
like($err, qr{: 401 unauthorized}, 'no token: 401');
($out, $err) = client_is(1, [ 'arm', '--url', $url, '--token-file', "$tmp/missing" ],
	'arm with a missing token file');
like($err, qr{\Q$tmp/missing\E}, 'missing token file: the file is named');
is(count_log($g, qr/-> "armed"/), 1, 'the refused requests did not arm');

# 4. kill: refusals are 409 in one line, exit 1.
for my $case ([ 'standby1', 'a physical slot' ], [ 'no_such_slot', 'an unknown slot' ],
	[ 'keep_me', 'an excluded slot' ])
{
	my ($slot, $what) = @$case;
	($out, $err) = client_is(1, [ 'kill', @auth, '--slot', $slot ], "kill $what");
	like($err, qr{^demotion-guard: POST /v1/kill at \Q$url\E: 409 conflict: \S.*\n\z},
		"kill $what: one line, 409 conflict");
}
ok(proc_alive($keep->{walsender}), 'the excluded walsender is alive');

# 5. kill --slot of the stale consumer: terminated, gone, audited with reason api.
($out, $err) =
  client_is(0, [ 'kill', @auth, '--slot', 'stale1', '--reason', 'tap kill' ], 'kill --slot stale1');
like($out, qr/^pid $stale->{walsender} slot stale1 \(logical[^)]*\): terminated by (sql|signal)\n\z/,
	'kill: one line for the target');
ok(wait_until(sub { !proc_alive($stale->{walsender}) }, 10, 'the walsender to exit'),
	'the stale walsender is gone');
my ($ev) = wait_audit($g, 'terminated', 1);
ok($ev, 'audit: terminated');
is($ev->{pid},    $stale->{walsender}, 'terminated: the stale walsender') if $ev;
is($ev->{slot},   'stale1', 'terminated: slot stale1') if $ev;
is($ev->{reason}, 'api', 'terminated: reason api') if $ev;
like($ev->{requester} // '', qr/^127\.0\.0\.1:\d+$/, 'terminated: the requester') if $ev;

# 6. --force ends an excluded slot's walsender.
($out) = client_is(0, [ 'kill', @auth, '--slot', 'keep_me', '--force' ], 'kill --force keep_me');
like($out, qr/^pid $keep->{walsender} slot keep_me \(logical[^)]*\): terminated by/,
	'kill --force: terminated');
ok(wait_until(sub { !proc_alive($keep->{walsender}) }, 10, 'keep_me walsender to exit'),
	'the excluded walsender is gone after --force');

# 7. usage errors exit 2 and name what is wrong; an unreachable daemon exits 1.
my @usage = (
	[ [ 'kill', @auth ],                              qr/exactly one/ ],
	[ [ 'kill', @auth, '--slot', 'a', '--stalled' ],  qr/exactly one/ ],
	[ [ 'status', '--bogus' ],                        qr/"--bogus"/ ],
	[ [ 'status', '--timeout', '10' ],                qr/"10".*"--timeout"/ ],
	[ [ 'arm', '--deadline' ],                        qr/"--deadline" needs a value/ ],
	[ [ 'arm', '--deadline', 'soon' ],                qr/"soon".*"--deadline"/ ],
	[ [ 'kill', '--pid', 'x1' ],                      qr/"x1".*"--pid"/ ],
	[ [ 'status', '--url', 'ftp://x' ],               qr/ftp:\/\/x/ ]);
for my $u (@usage)
{
	my ($args, $re) = @$u;
	($out, $err) = client_is(2, $args, "usage error: @$args");
	like($err, $re, "usage error names the problem: @$args");
}
($out, $err) = client_is(1, [ 'status', '--url', $nobody, '--timeout', '5s' ],
	'status of an unreachable daemon');
like($err, qr{^demotion-guard: cannot reach the daemon at \Q$nobody\E: \S.*\n\z},
	'unreachable: one line naming the URL');
stop_guard($g);
($out, $err) = client_is(1, [ 'status', '--url', $url ], 'status after the guard stopped');
like($err, qr{^demotion-guard: cannot reach the daemon at \Q$url\E: }, 'stopped: unreachable');

# 8. --url unix:/path against a guard listening on a unix socket.
my $sock = "$tmp/dg.sock";
my $gu = start_guard($node, 'unix', [ '--listen', "unix:$sock" ]);
wait_until(sub { -S $sock }, 10, "socket $sock") or die "the guard does not listen on $sock";
($out) = client_is(0, [ 'status', '--url', "unix:$sock" ], 'status over a unix socket');
like($out, qr/^demotion-guard \S+ at unix:\Q$sock\E/m, 'unix: header names the socket');
like($out, qr/^\s*\d+\s+physical\s+standby1\s/m, 'unix: the table');
($out) = client_is(0, [ 'arm', '--url', "unix:$sock" ], 'arm over a unix socket');
like($out, qr/^armed: deadline (?:10s|9\.\ds)( \(at \d\d:\d\d:\d\dZ\))?, trigger api\n\z/, 'unix: armed with the default deadline');
($out) = client_is(0, [ 'disarm', '--url', "unix:$sock" ], 'disarm over a unix socket');
like($out, qr/^disarmed/, 'unix: disarmed');
stop_guard($gu);
($out, $err) = client_is(1, [ 'status', '--url', "unix:$sock" ], 'status of a stopped unix guard');
like($err, qr{^demotion-guard: cannot reach the daemon at unix:\Q$sock\E: (No such file or directory|Connection refused)\n\z},
	'unix: unreachable, with the reason');

stop_proc($stale);
stop_proc($keep);
done_testing();
