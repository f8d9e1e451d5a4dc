# The HTTP API against a real primary with a physical standby and logical
# consumers: every route, the metrics through promtool, the token (none,
# wrong, right, a file others may read, a reload), bad requests answered
# with their status while the daemon keeps serving, kill by slot, pid and
# stalled (audited with the requester), physical and excluded walsenders
# refused, arm/disarm, a client flooding from one address, the unix socket,
# and a port already in use (the guard keeps guarding without HTTP).
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node    = new_primary('primary');
my $standby = new_standby($node, 'standby1');
my $dir     = $PostgreSQL::Test::Utils::tmp_check;

# A token file; $mode as given.
sub write_token
{
	my ($name, $text, $mode) = @_;
	my $f = "$dir/$name";
	open my $fh, '>', $f or die "$f: $!";
	print $fh $text;
	close $fh;
	chmod $mode, $f;
	return $f;
}
my $token = write_token('token', "s3cret-token\n", 0600);

# Runs the guard expecting it to refuse to start: exit 2 and a message.
sub refused
{
	my ($what, $re, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $ENV{DG_BIN}, 'run', '--dsn', $node->connstr('postgres'), @args ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(20));
	is($? >> 8, 2, "$what: exit 2");
	like($err, $re, "$what: the message says why");
	return;
}
refused('token file readable by others', qr/token-file.*may be read by others.*0644/,
	'--listen', '127.0.0.1:0', '--token-file', write_token('token644', "x\n", 0644));
refused('non-loopback without a token', qr/not a loopback address: it needs "--token-file"/,
	'--listen', '0.0.0.0:8009');
refused('a host name', qr/--listen.*not a numeric IP address/, '--listen', 'localhost:8009');
refused('an empty token file', qr/--token-file.*is empty/,
	'--listen', '127.0.0.1:0', '--token-file', write_token('empty', "\n", 0600));

# The consumers: a stale one with an odd application_name, a healthy one,
# one on an excluded slot.
my $odd_app = q{odd "app" \\ name};
my $c_stale = start_consumer($node, slot => 'api_stale', mode => 'stale',
	dsn => $node->connstr('postgres') . q{ application_name='odd "app" \\\\ name'});
my $c_ok   = start_consumer($node, slot => 'api_healthy', mode => 'healthy');
my $c_keep = start_consumer($node, slot => 'keep_1',      mode => 'healthy');

my $g = start_guard($node, 'http',
	[ '--listen', '127.0.0.1:0', '--token-file', $token, '--stall-after', '1s',
	  '--exclude-slot', 'keep_*', '--deadline', '30s' ]);
guard_url($g);
note("guard at $g->{url}");

# Is the daemon still serving?  /health must answer 200 within 5 s: a
# connection the client closed is freed by the server's own threads a
# moment later, not at once, and 5 s is well under its 10 s idle timeout,
# so it is the close that frees a slot, not that timeout.
sub still_serving
{
	my ($after) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $st;
	ok( wait_until(
			sub { ($st) = http_req($g, 'GET', '/health'); $st == 200 },
			5, "/health to answer 200 after $after"),
		"still serving /health after $after") or diag("last status $st");
	return;
}

# --- the GET routes
my ($st, $j, $raw, $hdr) = http_req($g, 'GET', '/health');
is($st, 200, 'GET /health 200');
is($j->{status}, 'ok', '/health: ok');
ok(defined $j->{loop_age_ms}, '/health: loop age');
($st) = http_req($g, 'HEAD', '/health');
is($st, 200, 'HEAD /health 200');

($st, $j) = http_req($g, 'GET', '/ready');
is($st, 200, 'GET /ready 200');

make_stale($node, $c_stale, 1);
# A healthy client confirms once a second (its status interval): between
# two confirmations it lags, as any client does, the more so on a loaded
# machine.  Take the first answer where the stale consumer is stalled and
# the healthy one has caught up.
my %by_slot;
wait_until(
	sub {
		($st, $j) = http_req($g, 'GET', '/v1/walsenders');
		%by_slot = map { (($_->{slot} // 'none') => $_) } @{ $j->{walsenders} // [] };
		($by_slot{api_stale}{risk} // '') eq 'stalled'
		  && ($by_slot{api_healthy}{risk} // '') eq 'ok';
	},
	30, 'api_stale to be reported stalled and api_healthy ok');
is($st, 200, 'GET /v1/walsenders 200');
is($by_slot{api_stale}{risk},            'stalled',  'stale consumer: risk stalled');
is($by_slot{api_stale}{kind},            'logical',  'stale consumer: logical');
is($by_slot{api_stale}{application_name}, $odd_app,  'application_name as given');
cmp_ok($by_slot{api_stale}{lag_bytes}, '>', 0, 'stale consumer: lag in bytes');
is($by_slot{api_healthy}{risk}, 'ok',       'healthy consumer: risk ok');
is($by_slot{standby1}{kind},    'physical', 'the standby: physical');
ok($by_slot{keep_1}{excluded}, 'keep_1: excluded');

($st, $j) = http_req($g, 'GET', '/v1/status');
is($st, 200, 'GET /v1/status 200');
is($j->{phase}, 'observing', 'status: observing');
is($j->{postgresql}{sql}, 'connected', 'status: SQL connected');
is($j->{postgresql}{postmaster_pid}, postmaster_pid($node), 'status: postmaster pid');
ok($j->{paths}{sql}{available},    'status: SQL path available');
ok($j->{paths}{signal}{available}, 'status: signal path available');
ok($j->{config}{token}, 'status: a token is required');
is($j->{walsenders}{stalled}, 1, 'status: one stalled walsender');

($st, $j, $raw, $hdr) = http_req($g, 'GET', '/metrics');
is($st, 200, 'GET /metrics 200');
like($hdr->{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'metrics content type');
like($raw, qr/^demotion_guard_walsender_risk\{slot="api_stale",kind="logical",application_name="odd \\"app\\" \\\\ name",client_addr="[^"]*",risk="stalled"\} 1$/m,
	'the stale walsender, its label escaped, at risk stalled');
like($raw, qr/^demotion_guard_postgresql_up 1$/m, 'postgresql_up 1');
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', \$raw, '>', \$out, '2>', \$err);
	is($? >> 8, 0, 'promtool check metrics passes') or diag("$out$err");
}

# --- auth
($st, $j, undef, $hdr) = http_req($g, 'POST', '/v1/arm', '{}');
is($st, 401, 'POST without a token: 401');
is($j->{error}, 'unauthorized', '401 body names the error');
is($hdr->{'www-authenticate'}, 'Bearer', '401 asks for a bearer token');
($st) = http_req($g, 'POST', '/v1/arm', '{}', token => 'wrong');
is($st, 401, 'POST with a wrong token: 401');
($st) = http_req($g, 'POST', '/v1/disarm', '{}', token => 's3cret-token-and-more');
is($st, 401, 'POST with a longer token: 401');
still_serving('refused tokens');
($st, $j) = http_req($g, 'POST', '/v1/arm', '{}', token => 's3cret-token',
	headers => { 'Content-Type' => 'text/plain' });
is($st, 415, 'a POST that is not application/json: 415');
{
	my ($port) = $g->{url} =~ /:(\d+)$/;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
	print $s "GET /v1/status HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
	my $line = <$s> // '';
	close $s;
	like($line, qr{^HTTP/1\.1 403 }, 'a Host that is not loopback (DNS rebinding): 403');
}

# --- bad requests, each answered, the daemon still serving
my @bad = (
	[ 'POST', '/v1/arm',  '{"deadline":',                 400, 'malformed JSON' ],
	[ 'POST', '/v1/arm',  '{"deadline":5}',               400, 'a number for a duration' ],
	[ 'POST', '/v1/arm',  '{"deadline":"soon"}',          400, 'a bad duration' ],
	[ 'POST', '/v1/arm',  '{"delay":"5s"}',               400, 'an unknown field' ],
	[ 'POST', '/v1/arm',  '[1,2]',                        400, 'not an object' ],
	[ 'POST', '/v1/kill', '{"pid":"12"}',                 400, 'a string pid' ],
	[ 'POST', '/v1/kill', '{}',                           400, 'no selector' ],
	[ 'POST', '/v1/kill', '{"slot":"a","stalled":true}',  400, 'two selectors' ],
	[ 'POST', '/v1/kill', '{"slot":"a","drop":true}',     400, 'an unknown kill field' ],
	[ 'POST', '/v1/arm',  '{"reason":"' . ('x' x 9000) . '"}', 413, 'a body over 8 KiB' ],
	[ 'GET',    '/v1/arm',     undef, 405, 'GET on a POST route' ],
	[ 'DELETE', '/health',     undef, 405, 'DELETE on a GET route' ],
	[ 'GET',    '/v1/status/', undef, 404, 'a trailing slash' ],
	[ 'GET',    '/v1',         undef, 404, 'a prefix' ],
	[ 'GET',    '/v1/../health', undef, 404, 'a dot segment' ],
	[ 'GET',    '/' . ('a' x 3000), undef, 404, 'a long path' ],
	[ 'GET',    '/health%00x', undef, 404, 'an encoded NUL' ],);
for my $b (@bad)
{
	my ($m, $path, $body, $want, $what) = @$b;
	my ($s, $jj, undef, $h) = http_req($g, $m, $path, $body, token => 's3cret-token');
	is($s, $want, "$what: $want");
	ok(defined $jj && defined $jj->{error} && defined $jj->{detail},
		"$what: JSON error with detail") if $want != 414;
	is($h->{allow}, $m eq 'GET' ? 'POST' : 'GET, HEAD', "$what: Allow header")
	  if $want == 405;
}
still_serving('the bad requests');

# Raw garbage and a body announced larger than it is.
for my $junk ("\x00\x01\x02 nonsense\r\n\r\n", "GET /health HTTP/9.9\r\n\r\n",
	"POST /v1/arm HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n"
	  . "Content-Length: 100\r\n\r\n{}")
{
	my ($port) = $g->{url} =~ /:(\d+)$/;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 5);
	print $s $junk;
	shutdown($s, 1);
	my $answer = '';
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 15;
	eval { while (my $l = <$s>) { $answer .= $l } };
	alarm 0;
	close $s;
	note('raw request answered: ' . (($answer =~ /^(HTTP\S* \d+)/) ? $1 : '(closed)'));
}
still_serving('raw garbage');

# --- arm and disarm.  An arm is Patroni's before_stop: the stalled
# walsender is ended at once (reason stalled), long before the deadline.
($st, $j) = http_req($g, 'POST', '/v1/arm', '{"deadline":"20s","reason":"maintenance"}',
	token => 's3cret-token');
is($st, 200, 'arm: 200');
is($j->{phase}, 'armed', 'arm: phase armed');
is($j->{trigger}, 'api', 'arm: trigger api');
(undef, $j) = http_req($g, 'GET', '/v1/status');
is($j->{phase}, 'armed', 'status right after the answer: armed');
ok(defined $j->{deadline_at}, 'status: deadline set');
my @armed = wait_audit($g, 'armed');
is($armed[0]{reason}, 'maintenance', 'audit armed: reason');
like($armed[0]{requester}, qr/^127\.0\.0\.1:\d+$/, 'audit armed: requester');
my @t = wait_audit($g, 'terminated');
is($t[0]{slot},   'api_stale', 'the arm ended the stalled walsender at once');
is($t[0]{reason}, 'stalled',   'reason stalled');
ok(wait_until(sub { !proc_alive($c_stale->{pid}) }, 30, 'stale consumer to exit'),
	'the stale consumer lost its walsender');
ok(proc_alive($c_ok->{pid}), 'the healthy consumer is untouched by the arm');
($st, $j) = http_req($g, 'POST', '/v1/disarm', '', token => 's3cret-token');
is($st, 200, 'disarm: 200');
ok($j->{was_armed}, 'disarm: it was armed');
is($j->{phase}, 'observing', 'disarm: observing again');
my @disarmed = wait_audit($g, 'disarmed');
is(scalar @disarmed, 1, 'audit: disarmed');
ok(@disarmed && !exists $disarmed[0]{note}, 'disarmed: no note when none was given');
($st, $j) = http_req($g, 'POST', '/v1/disarm', '{"reason":"again"}', token => 's3cret-token');
ok($st == 200 && !$j->{was_armed}, 'a second disarm: 200, was not armed');

# --- kill: refused targets
($st, $j) = http_req($g, 'POST', '/v1/kill', '{"slot":"standby1"}', token => 's3cret-token');
is($st, 409, 'kill a physical walsender by slot: 409');
like($j->{detail}, qr/physical/, '409 says physical');
my $phys_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_replication WHERE application_name = 'standby1'");
($st) = http_req($g, 'POST', '/v1/kill', qq({"pid":$phys_pid}), token => 's3cret-token');
is($st, 409, 'kill a physical walsender by pid: 409');
($st, $j) = http_req($g, 'POST', '/v1/kill', '{"slot":"no_such"}', token => 's3cret-token');
is($st, 409, 'kill an unknown slot: 409');
($st, $j) = http_req($g, 'POST', '/v1/kill', '{"slot":"keep_1"}', token => 's3cret-token');
is($st, 409, 'kill an excluded slot without force: 409');
like($j->{detail}, qr/exclude-slot/, '409 names --exclude-slot');
($st, $j) = http_req($g, 'POST', '/v1/kill', '{"pid":1}', token => 's3cret-token');
is($st, 409, 'kill pid 1: 409');
ok(proc_alive($c_keep->{pid}), 'the excluded consumer is alive');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_replication WHERE pid = $phys_pid"),
	'1', 'the physical walsender is alive');

# --- kill: stalled, by slot (forced exclusion), by pid
$c_stale = start_consumer($node, slot => 'api_stale2', mode => 'stale');
make_stale($node, $c_stale, 2);
wait_until(
	sub {
		my (undef, $w) = http_req($g, 'GET', '/v1/walsenders');
		grep { ($_->{slot} // '') eq 'api_stale2' && $_->{risk} eq 'stalled' }
		  @{ $w->{walsenders} };
	},
	30, 'api_stale2 to be reported stalled');
($st, $j) = http_req($g, 'POST', '/v1/kill', '{"stalled":true,"reason":"ticket 42"}',
	token => 's3cret-token');
is($st, 200, 'kill stalled: 200');
is(scalar @{ $j->{targets} }, 1, 'kill stalled: one target');
is($j->{targets}[0]{pid},    $c_stale->{walsender}, 'the stalled walsender');
is($j->{targets}[0]{result}, 'terminated', 'result terminated');
is($j->{targets}[0]{method}, 'sql', 'through SQL');
ok(wait_until(sub { !proc_alive($c_stale->{pid}) }, 30, 'stale consumer to exit'),
	'the stale consumer lost its walsender');
ok(proc_alive($c_ok->{pid}), 'the healthy consumer is untouched');
@t = grep { $_->{reason} eq 'api' } wait_audit($g, 'terminated', 2);
is($t[0]{note},   'ticket 42', 'audit: the note');
like($t[0]{requester}, qr/^127\.0\.0\.1:\d+$/, 'audit: requester');
is($t[0]{slot}, 'api_stale2', 'audit: slot');

($st, $j) = http_req($g, 'POST', '/v1/kill', '{"slot":"keep_1","force":true}',
	token => 's3cret-token');
is($st, 200, 'kill an excluded slot with force: 200');
is($j->{targets}[0]{result}, 'terminated', 'forced: terminated');
ok(wait_until(sub { !proc_alive($c_keep->{pid}) }, 30, 'keep_1 consumer to exit'),
	'the excluded consumer was ended when forced');

($st, $j) = http_req($g, 'POST', '/v1/kill', qq({"pid":$c_ok->{walsender}}),
	token => 's3cret-token');
is($st, 200, 'kill by pid: 200');
ok(wait_until(sub { !proc_alive($c_ok->{pid}) }, 30, 'healthy consumer to exit'),
	'the walsender named by pid was ended');
is(scalar(audit_events($g, 'terminated')), 4, 'four terminations audited (one by the arm)');
ok(!grep({ $_->{pid} == $phys_pid } audit_events($g, 'terminated')),
	'the physical walsender was never terminated');

($st, $j) = http_req($g, 'POST', '/v1/kill', '{"all_logical":true}', token => 's3cret-token');
is($st, 200, 'kill all_logical with none left: 200');
is(scalar @{ $j->{targets} }, 0, 'no targets');

(undef, undef, $raw) = http_req($g, 'GET', '/metrics');
like($raw, qr/^demotion_guard_terminations_total\{method="sql",reason="api"\} 3$/m,
	'metrics count the three API terminations');

# --- a client flooding from 127.0.0.1 does not stop /health, for it or others
{
	my ($port) = $g->{url} =~ /:(\d+)$/;
	my @held;
	for (1 .. 70)
	{
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
			LocalAddr => '127.0.0.1', Timeout => 2) or last;
		print $s "GET /health HTTP/1.1\r\nHost: x\r\n";    # never finished
		push @held, $s;
	}
	note(scalar(@held) . ' slow connections opened from 127.0.0.1');
	# More than the guard's 64 connections: a new one pushes out a slow one
	# (test 030 has the attack from several addresses).
	my $r = HTTP::Tiny->new(timeout => 5, local_address => '127.0.0.1')
	  ->get("$g->{url}/health");
	is($r->{status}, 200, '/health answers 127.0.0.1 while 127.0.0.1 holds slow connections');
	$r = HTTP::Tiny->new(timeout => 5, local_address => '127.0.0.2')->get("$g->{url}/health");
	is($r->{status}, 200, '/health answers 127.0.0.2 while 127.0.0.1 holds slow connections');
	close $_ for @held;
}
still_serving('the slow connections closed');

# --- reload: a new token
write_token('token', "n3w-token\n", 0600);
kill 'HUP', $g->{pid};
ok(wait_log($g, qr/configuration reloaded/), 'SIGHUP: the configuration is reloaded');
($st) = http_req($g, 'POST', '/v1/disarm', '{}', token => 's3cret-token');
is($st, 401, 'after SIGHUP the old token is refused');
($st) = http_req($g, 'POST', '/v1/disarm', '{}', token => 'n3w-token');
is($st, 200, 'after SIGHUP the new token works');

# --- a port already taken: the guard runs without HTTP
my ($taken) = $g->{url} =~ m{//(.*)$};
my $g2 = start_guard($node, 'port_taken', [ '--listen', $taken ]);
ok(wait_log($g2, qr/HTTP API not started: could not bind \Q$taken\E: Address already in use/),
	'a taken port is logged');
ok(proc_alive($g2->{pid}), 'and the guard keeps running');
stop_guard($g2);

# --- the unix socket
my $sock = "$dir/guard.sock";
my $g3 = start_guard($node, 'unix', [ '--listen', "unix:$sock" ]);
guard_url($g3);
ok(-S $sock, 'the unix socket exists');
is((stat $sock)[2] & 0777, 0660, 'socket mode 0660');
{
	my $out = `curl -s --max-time 10 --unix-socket $sock http://localhost/v1/status`;
	my $s = eval { JSON::PP->new->decode($out) };
	is($s->{listen}, "unix:$sock", 'status over the unix socket');
	$out = `curl -s --max-time 10 -X POST -H 'Content-Type: application/json' --unix-socket $sock http://localhost/v1/arm`;
	$s = eval { JSON::PP->new->decode($out) };
	is($s->{phase}, 'armed', 'POST over the unix socket needs no token without --token-file');
	my @a = wait_audit($g3, 'armed');
	is($a[0]{requester}, 'unix', 'requester "unix"');
}
stop_guard($g3);
ok(!-e $sock, 'the socket is removed at exit');

stop_guard($g);

# --- PostgreSQL unreachable.  With its postmaster.pid present /ready says
# unreachable; with no way to act at all (nothing answers SQL, and the
# data directory holds no postmaster.pid) kill answers 503.
my $nowhere = 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=1';
my $g4 = start_guard($node, 'unreachable', [ '--listen', '127.0.0.1:0' ],
	dsn => $nowhere, wait_observing => 0);
guard_url($g4);
ok( wait_until(
		sub {
			my $reason = (http_req($g4, 'GET', '/ready'))[1]{reason} // '';
			$reason ne '' && $reason ne 'starting';
		},
		30, 'a connection attempt to finish'),
	'/ready: a connection attempt has finished');
($st, $j) = http_req($g4, 'GET', '/ready');
is($st, 503, '/ready 503 while PostgreSQL does not answer');
is($j->{reason}, 'postgresql_unreachable', '/ready: postgresql_unreachable');
like($j->{detail}, qr/\S/, "/ready: libpq's message as the detail");
($st) = http_req($g4, 'GET', '/health');
is($st, 200, '/health still 200');
stop_guard($g4);

mkdir "$dir/empty_pgdata";
my $g5 = start_guard($node, 'no_paths', [ '--listen', '127.0.0.1:0', '--pgdata', "$dir/empty_pgdata" ],
	dsn => $nowhere, wait_observing => 0);
guard_url($g5);
($st, $j) = http_req($g5, 'GET', '/ready');
is($st, 503, '/ready 503 without postmaster.pid');
is($j->{reason}, 'postgresql_stopped', '/ready: postgresql_stopped');
($st, $j) = http_req($g5, 'POST', '/v1/kill', '{"all_logical":true}');
is($st, 503, 'kill with no SQL and no signal path: 503');
like($j->{detail}, qr/unreachable.*signal path is unavailable/, '503 says why');
(undef, $j) = http_req($g5, 'GET', '/v1/status');
ok(!$j->{paths}{sql}{available} && !$j->{paths}{signal}{available}, 'status: no path available');
like($j->{paths}{signal}{why}, qr/no readable postmaster\.pid/, 'status: why no signal path');
stop_guard($g5);
done_testing();
