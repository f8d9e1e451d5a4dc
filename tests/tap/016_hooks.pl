# The hooks Patroni runs, against a real server (the Patroni cluster tests
# are 013-015):
# - before-stop arms the guard, which ends the stalled walsender through SQL
#   at once, so the fast stop that follows is immediate;
# - callback is audited, and on_role_change resets an arm;
# - pre-promote arms the peers' guards (--peer), --strict turns a failure
#   into exit 1;
# - every hook comes back within its bound with the daemon down or a peer
#   that accepts connections and never answers.
use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $node = new_primary('primary');

# Runs "demotion-guard hook @args"; returns (exit code, stderr, seconds).
sub hook
{
	my @args = @_;
	my ($out, $err) = ('', '');
	my $t0 = time();
	IPC::Run::run([ $ENV{DG_BIN}, 'hook', @args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(30));
	return ($? >> 8, $err, time() - $t0);
}

my $c = start_consumer($node, slot => 'hook_stale', mode => 'stale');
my $g = start_guard($node, 'hooks',
	[ '--listen', '127.0.0.1:0', '--deadline', '60s', '--stall-after', '1s' ]);
my $url = guard_url($g);
make_stale($node, $c, 1);
wait_until(
	sub {
		my (undef, $w) = http_req($g, 'GET', '/v1/walsenders');
		grep { ($_->{slot} // '') eq 'hook_stale' && $_->{risk} eq 'stalled' }
		  @{ $w->{walsenders} };
	},
	30, 'hook_stale to be reported stalled');

# --- callback: recorded; on_role_change resets an arm
my ($rc, $err) = hook('callback', 'on_start', 'primary', 'demo', '--url', $url);
is($rc, 0, 'callback on_start: exit 0');
like($err, qr/callback on_start primary demo: recorded at \Q$url\E/, 'callback: one line');
my @cb = wait_audit($g, 'patroni_callback');
is_deeply([ @{ $cb[0] }{qw(action role scope)} ], [ 'on_start', 'primary', 'demo' ],
	'audit patroni_callback: action, role, scope');
ok(!$cb[0]{reset}, 'on_start resets nothing');

my ($st) = http_req($g, 'POST', '/v1/arm', '{"deadline":"60s","reason":"test"}');
is($st, 200, 'armed through the API');
@cb = ();
($rc) = hook('callback', 'on_role_change', 'replica', 'demo', '--url', $url);
is($rc, 0, 'callback on_role_change: exit 0');
@cb = wait_audit($g, 'patroni_callback', 2);
ok($cb[1]{reset}, 'on_role_change reset the arm');
my (undef, $s) = http_req($g, 'GET', '/v1/status');
is($s->{phase}, 'observing', 'observing again after on_role_change');
my @t = wait_audit($g, 'terminated');
is(scalar @t, 1, 'the API arm ended the stalled walsender');
is($t[0]{reason}, 'stalled', 'at once: reason stalled');
ok(wait_until(sub { !proc_alive($c->{pid}) }, 30, 'consumer to exit'), 'its consumer exited');
($rc, $err) = hook('callback', 'on_stop', '--url', $url);
is($rc, 2, 'callback without ROLE SCOPE: exit 2');

# --- before-stop, then a fast stop: the Patroni >= 3.0.3 order
$c = start_consumer($node, slot => 'hook_stale2', mode => 'stale');
make_stale($node, $c, 2);
wait_until(
	sub {
		my (undef, $w) = http_req($g, 'GET', '/v1/walsenders');
		grep { ($_->{slot} // '') eq 'hook_stale2' && $_->{risk} eq 'stalled' }
		  @{ $w->{walsenders} };
	},
	30, 'hook_stale2 to be reported stalled');
my $secs;
($rc, $err, $secs) = hook('before-stop', '--url', $url);
is($rc, 0, 'before-stop: exit 0');
like($err, qr/^demotion-guard: before-stop: armed \Q$url\E \(phase armed\)$/,
	'before-stop: one line on stderr');
cmp_ok($secs, '<', 5, sprintf('before-stop came back in %.3f s', $secs));
@t = grep { $_->{slot} eq 'hook_stale2' } audit_events($g, 'terminated');
is(scalar @t, 1, 'the stalled walsender was ended before the hook returned');
is($t[0]{method}, 'sql',     'through SQL') if @t;
is($t[0]{reason}, 'stalled', 'reason stalled') if @t;
my @armed = grep { $_->{trigger} eq 'before_stop' } audit_events($g, 'armed');
is(scalar @armed, 1, 'audited armed with trigger before_stop');
ok(wait_until(sub { !proc_alive($c->{pid}) }, 30, 'consumer to exit'), 'its consumer exited');

my $pm = postmaster_pid($node);
my $t0 = stop_nowait($node);
my $gone = wait_postmaster_gone($node, $pm, 60);
mark_stopped($node);
ok(defined $gone, 'the fast stop completed');
my $took = defined $gone ? $gone - $t0 : 999;
note(sprintf('fast stop after before-stop took %.3f s (deadline 60 s)', $took));
cmp_ok($took, '<', 30, 'the stop was immediate: nothing held it up until the 60 s deadline');
my @done = wait_audit($g, 'shutdown_completed');
is(scalar @done, 1, 'audit: shutdown_completed');
is(scalar @{ $done[0]{terminated} // ['none'] }, 0, 'nothing was left to end at the shutdown');
$node->start;
ok(wait_log($g, qr/state "waiting" -> "observing"/, 2), 'the guard reconnected after the restart');

# --- pre-promote: the peers' guards are armed
my $g2 = start_guard($node, 'peer', [ '--listen', '127.0.0.1:0' ]);
my $url2 = guard_url($g2);
($rc, $err) = hook('pre-promote', '--peer', $url, '--peer', $url2, '--deadline', '30s');
is($rc, 0, 'pre-promote: exit 0');
is(scalar(() = $err =~ /pre-promote: armed/g), 2, 'pre-promote: a line per peer armed');
for my $p ($g, $g2)
{
	my @a = grep { $_->{trigger} eq 'pre_promote' } wait_audit($p, 'armed');
	is(scalar @a, 1, "$p->{name}: armed with trigger pre_promote");
	is($a[0]{deadline_left_ms}, 30000, "$p->{name}: with the hook's deadline") if @a;
	ok(@a && !exists $a[0]{deadline_ms}, "$p->{name}: armed says deadline_left_ms, not deadline_ms");
}
for my $u ($url, $url2)
{
	IPC::Run::run([ $ENV{DG_BIN}, 'disarm', '--url', $u ], '>', \my $o, '2>', \my $e);
}

# --- the bounds: a stopped daemon, a peer that never answers
stop_guard($g2);
my $hole = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0,
	Proto => 'tcp') or die "listen: $!";
my $hole_url = 'http://127.0.0.1:' . $hole->sockport;
# The hooks bound themselves (1 s; pre-promote 3.5 s) with a timer of
# their own (SIGALRM, then _exit); on an idle machine they take 0.9 s and
# 3.0 s here.  The margins only absorb a loaded machine's scheduling: this
# checks that there is a bound, not how fast it is.
for my $case ([ 'before-stop', [ '--url', $url2 ], 5, 1 ],
	[ 'before-stop', [ '--url', $hole_url ], 5, 1 ],
	[ 'callback', [ 'on_stop', 'replica', 'demo', '--url', $hole_url ], 5, 1 ],
	[ 'pre-promote', [ '--peer', $url2, '--peer', $hole_url ], 8, 0 ],
	[ 'pre-promote', [ '--peer', $hole_url, '--strict' ], 8, 1 ],
	[ 'pre-promote', [ '--patroni-url', $url2 ], 8, 0 ])
{
	my ($name, $args, $bound, $want) = @$case;
	my ($r, $e, $t) = hook($name, @$args);
	my $what = "$name @$args";
	is($r, $want, "$what: exit $want");
	cmp_ok($t, '<', $bound, sprintf("$what: back in %.3f s", $t));
	like($e, qr/^demotion-guard: /, "$what: says why on stderr");
}
close $hole;

# --- bad usage
($rc, $err) = hook('before-stop', '--deadline', 'soon');
is($rc, 2, 'a bad --deadline: exit 2');
like($err, qr/--deadline/, 'names the option');
($rc, $err) = hook('after-stop');
is($rc, 2, 'an unknown hook: exit 2');

stop_guard($g);
done_testing();
