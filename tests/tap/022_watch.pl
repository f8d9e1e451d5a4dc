# "demotion-guard status --watch": under tmux (a real terminal) the table
# is redrawn in place (one frame on the screen), a consumer's row appears
# once it starts, a guard that goes away gives the error line and is tried
# again, and Ctrl-C ends the command with exit 0.  Without a terminal the
# frames repeat with a blank line between and no escape sequence.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $tmp  = PostgreSQL::Test::Utils::tempdir_short();
my $sock = "$tmp/tmux.sock";
my @tmux = ('tmux', '-S', $sock);
my $rc_file = "$tmp/rc";

# Whatever happens, the private tmux server started here ends with the test.
END { local $?; system('tmux', '-S', $sock, 'kill-server') if $sock && -S $sock; }

# The screen of the tmux session "watch" ('' when it is gone).
sub screen
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ @tmux, 'capture-pane', '-p', '-t', 'watch' ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(10));
	return $out;
}

# Waits until the screen matches $re; returns the screen.
sub wait_screen
{
	my ($re, $what) = @_;
	my $s = '';
	my $ok = wait_until(sub { $s = screen(); $s =~ $re }, $GuardTest::TIMEOUT, $what);
	ok($ok, $what) or diag("screen:\n$s");
	return $s;
}

my $node = new_primary('primary');
my $g = start_guard($node, 'watch', [ '--listen', '127.0.0.1:0' ]);
my $url = guard_url($g);

# 1. In a terminal: the table, redrawn in place.
local $ENV{TERM} = $ENV{TERM} || 'xterm';
my $cmd = "$ENV{DG_BIN} status --watch 250ms --url $url; echo \$? > $rc_file";
system(@tmux, 'new-session', '-d', '-s', 'watch', '-x', '200', '-y', '50', $cmd) == 0
  or die "tmux new-session failed: $?";
my $s = wait_screen(qr/^no walsenders$/m, 'the status is on the screen');
like($s, qr/^every 250ms, Ctrl-C ends \(at \d\d:\d\d:\d\dZ\)$/m, 'the frame names the interval');
like($s, qr/^phase\s+observing since /m, 'the header');
my $c = start_consumer($node, slot => 'watched1', mode => 'healthy', status_interval => 200);
$s = wait_screen(qr/^\s*$c->{walsender}\s+logical\s+watched1\s/m,
	'the consumer\'s row appears once it starts');
like($s, qr/^\s*PID\s+KIND\s+SLOT\s+APPLICATION\s+CLIENT\s+LAG\s+STALLED\s+RISK\s+CAUSE$/m,
	'the table header');
my @frames = $s =~ /^every 250ms/mg;
is(scalar @frames, 1, 'redrawn in place: one frame on the screen');

# 2. The guard goes away: the error line, and it keeps trying.
stop_guard($g);
$s = wait_screen(qr/^demotion-guard: cannot reach the daemon at \Q$url\E: .*\(trying again\)$/m,
	'a guard gone: the error line');
my ($t1) = $s =~ /Ctrl-C ends \(at (\S+)\)/;
wait_screen(qr/Ctrl-C ends \(at (?!\Q$t1\E)\S+\).*\n.*trying again/,
	'it keeps trying (a later frame)');
ok(!-e $rc_file, 'the command is still running');

# 3. Ctrl-C: the command exits 0.
system(@tmux, 'send-keys', '-t', 'watch', 'C-c') == 0 or die "tmux send-keys failed: $?";
ok(wait_until(sub { -s $rc_file }, $GuardTest::TIMEOUT, 'the command to end'),
	'Ctrl-C ends it');
is(-s $rc_file ? slurp_file($rc_file) : '', "0\n", 'exit 0 after Ctrl-C');
system(@tmux, 'kill-server');

# 4. Not a terminal: frames repeated with a blank line between, no escapes.
my $g2 = start_guard($node, 'watch2', [ '--listen', '127.0.0.1:0' ]);
my $url2 = guard_url($g2);
my ($out, $err) = ('', '');
my $h = IPC::Run::start([ $ENV{DG_BIN}, 'status', '--watch', '250ms', '--url', $url2 ],
	'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
ok(wait_until(sub { $h->pump_nb; my @f = $out =~ /^every 250ms/mg; @f >= 2 },
		$GuardTest::TIMEOUT, 'two frames'),
	'plain: two frames');
$h->signal('INT');
eval { $h->finish; };
is($@, '', 'plain: ends on SIGINT');
is($h->result(0), 0, 'plain: exit 0 after SIGINT');
unlike($out, qr/\e/, 'plain: no escape sequence');
like($out, qr/^counters .*\n\nevery 250ms, Ctrl-C ends/m, 'plain: a blank line between frames');
like($out, qr/^\s*$c->{walsender}\s+logical\s+watched1\s/m, 'plain: the table');
stop_guard($g2);

stop_proc($c);
done_testing();
