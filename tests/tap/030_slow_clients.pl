# Slow clients cannot take the API away (issue 11, defect 3).  A real guard
# against a real primary; a child process opens 96 connections from four
# loopback addresses (more than the guard's 64), sends a request line and
# then one header line every 2 s, never finishing, and reopens each one the
# guard closes.  While that goes on, /health from 127.0.0.1 (one of the
# attackers' addresses), "hook before-stop" and "status" still answer, round
# after round, for longer than a request may take.  One more trickling
# connection, alone on 127.0.0.9, is closed by the guard although it keeps
# sending: a request's total time is bounded, not only its idle time.
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use GuardTest;

my $node = new_primary('primary');
my $dir  = $PostgreSQL::Test::Utils::tmp_check;
my $g    = start_guard($node, 'slow', [ '--listen', '127.0.0.1:0' ]);
guard_url($g);
my ($port) = $g->{url} =~ /:(\d+)$/;

my @attackers = map { "127.0.0.$_" } 1 .. 4;
my $status    = "$dir/attack_status";
my $seconds   = 30;    # how long the attack lasts (bounded)

# One slow connection from $from: a request line and one header, no end.
sub slow_conn
{
	my ($from) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
		LocalAddr => $from, Timeout => 2) or return undef;
	$s->autoflush(1);
	print $s "GET /health HTTP/1.1\r\nHost: localhost\r\n";
	return $s;
}

# The attack, in a child: 24 connections from each of four addresses, a
# header line on each every 2 s, a new connection for each one closed;
# "open N reopened M" in $status after every round.  Ends after $seconds.
sub attack
{
	$SIG{PIPE} = 'IGNORE';
	my @c;
	for my $i (0 .. 95)
	{
		my $from = $attackers[ $i % 4 ];
		push @c, [ $from, slow_conn($from) ];
	}
	my ($reopened, $end) = (0, time() + $seconds);
	while (time() < $end)
	{
		my $open = 0;
		for my $c (@c)
		{
			my $ok = $c->[1] && print { $c->[1] } "X-Slow: " . int(time()) . "\r\n";
			if (!$ok)
			{
				$c->[1] = slow_conn($c->[0]);
				$reopened++;
			}
			$open++ if $c->[1];
		}
		if (open my $fh, '>', "$status.tmp")
		{
			print $fh "open $open reopened $reopened\n";
			close $fh;
			rename "$status.tmp", $status;
		}
		usleep(2_000_000);
	}
	POSIX::_exit(0);
}

my $child = fork() // die "fork: $!";
attack() if $child == 0;

ok( wait_until(
		sub { -f $status && slurp_file($status) =~ /^open (\d+)/ && $1 >= 64 },
		$GuardTest::TIMEOUT, 'the attack to hold 64 connections'),
	'the attackers hold at least 64 connections from four loopback addresses');

# The lone trickler on 127.0.0.9: it sends a header line every 2 s until
# the guard closes it, for at most 30 s.
my $lone = slow_conn('127.0.0.9');
ok($lone, 'a slow connection from 127.0.0.9 is accepted');
my $t0 = time();

# Rounds of the checks, 2 s apart, until 12 s have passed: longer than a
# request may take, so the guard has closed and the attackers reopened.
my ($rounds, $health_ok, $hook_ok, $status_ok, $lone_closed) = (0, 0, 0, 0, 0);
my $checks_end = time() + 12;
while (time() < $checks_end && $rounds < 10)
{
	$rounds++;
	my $r = HTTP::Tiny->new(timeout => 5, local_address => '127.0.0.1')
	  ->get("$g->{url}/health");
	$health_ok++ if $r->{status} == 200;
	diag("round $rounds: /health from 127.0.0.1: $r->{status} $r->{content}")
	  if $r->{status} != 200;

	my ($out, $err) = ('', '');
	IPC::Run::run([ $ENV{DG_BIN}, 'hook', 'before-stop', '--url', $g->{url} ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(10));
	my $hrc = $? >> 8;
	$hook_ok++ if $hrc == 0 && $err =~ /before-stop: armed/;
	diag("round $rounds: hook before-stop: exit $hrc: $err") if $err !~ /armed/;

	IPC::Run::run([ $ENV{DG_BIN}, 'status', '--url', $g->{url} ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(10));
	my $src = $? >> 8;
	$status_ok++ if $src == 0;
	diag("round $rounds: status: exit $src: $err") if $src != 0;

	if ($lone && !$lone_closed)
	{
		local $SIG{PIPE} = 'IGNORE';
		$lone_closed = 1 unless print {$lone} "X-Slow: $rounds\r\n";
	}
	usleep(2_000_000);
}
note("$rounds rounds of checks while the attack went on: " . slurp_file($status));
is($health_ok, $rounds, '/health answered 200 from 127.0.0.1 in every round');
is($hook_ok,   $rounds, 'hook before-stop armed the guard in every round');
is($status_ok, $rounds, 'status answered in every round');
like(slurp_file($status), qr/reopened [1-9]/, 'the guard closed attackers\' connections');

# The lone trickler: closed by the guard while it kept sending (at most 30 s
# after it began; reads see the end of the stream).
ok( wait_until(
		sub {
			local $SIG{PIPE} = 'IGNORE';
			return 1 if $lone_closed;
			$lone_closed = 1 unless print {$lone} "X-Slow: late\r\n";
			my $buf;
			$lone->blocking(0);
			my $n = sysread($lone, $buf, 4096);
			$lone_closed = 1 if defined $n && $n == 0;
			return $lone_closed;
		},
		30 - (time() - $t0), 'the guard to close the trickling connection'),
	'a connection that keeps sending a header line every 2 s is closed: total time is bounded');

# The attack ends; the guard serves as before, and the arms were real.
kill 'TERM', $child;
ok(wait_until(sub { waitpid($child, POSIX::WNOHANG) == $child }, 10, 'the attack to end'),
	'the attack ended');
my ($st, $j) = http_req($g, 'GET', '/v1/status');
is($st,          200,     '/v1/status answers after the attack');
ok(scalar(audit_events($g, 'armed')) >= 1, 'the hooks armed the guard (audited)');
ok(proc_alive($g->{pid}), 'the guard is still running');
stop_guard($g);
done_testing();
