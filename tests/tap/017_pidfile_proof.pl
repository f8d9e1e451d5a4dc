# The postmaster.pid proof is tied to --pgdata (issue 11, defect 1).  The
# guard of cluster A (not running) must not act on cluster B's
# postmaster.pid placed in A's data directory while B's fast stop is held
# up by a stale consumer: neither a copy (its line 2 names B's directory)
# nor a symbolic link to it.  In both cases the guard says why in its log
# and in /v1/status, B's stale walsender outlives the deadline, and the
# audit log has no shutdown, termination or shutdown_completed for B.
use strict;
use warnings;
use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $deadline = 2;
my $node_b = new_primary('b');
my $node_a = PostgreSQL::Test::Cluster->new('a');
$node_a->init;    # never started: its directory has no postmaster.pid of its own
my $a_pid = $node_a->data_dir . '/postmaster.pid';
my $b_pid = $node_b->data_dir . '/postmaster.pid';

my $guard = start_guard($node_a, 'a',
	[ '--deadline', "${deadline}s", '--stall-after', '1h', '--listen', '127.0.0.1:0' ],
	wait_observing => 0);
guard_url($guard);
ok(wait_log($guard, qr/no postmaster\.pid in "\Q${\$node_a->data_dir}\E"/),
	'the guard of A reads A\'s data directory');

# B stops and hangs on its stale consumer; B's postmaster.pid says "stopping".
sub b_stops
{
	my ($id) = @_;
	my $c = start_consumer($node_b, slot => 'stale', mode => 'stale', create => $id == 1);
	make_stale($node_b, $c, $id);
	my $pm = postmaster_pid($node_b);
	stop_nowait($node_b);
	ok(wait_stopping($node_b), "B ($pm) is stopping, held up by walsender $c->{walsender}");
	return ($c, $pm);
}

# What A's guard must do with B's file in A's directory: refuse it with
# $why, leave B's walsender alone past the deadline, and write nothing.
sub check_refused
{
	my ($what, $c, $why) = @_;
	ok(wait_log($guard, $why), "$what: the guard's log says why it is refused");
	ok(observe_for($deadline + 3, sub { proc_alive($c->{walsender}) }, "walsender alive"),
		"$what: B's stale walsender $c->{walsender} outlives the deadline");
	my ($st, $s) = http_req($guard, 'GET', '/v1/status');
	is($st, 200, "$what: GET /v1/status");
	ok(!$s->{paths}{signal}{available}, "$what: /v1/status: signal path unavailable");
	like($s->{paths}{signal}{why} // '', $why, "$what: /v1/status says why");
	return;
}

# B's stop ends (its consumer goes away) while the file is still in A's
# directory: no shutdown_completed for it either.
sub b_stopped
{
	my ($what, $c, $pm) = @_;
	stop_proc($c);
	ok(defined wait_postmaster_gone($node_b, $pm, 30), "$what: B's stop completes once its consumer is gone");
	mark_stopped($node_b);
	ok(observe_for(2, sub { !audit_events($guard, 'shutdown_completed') }, 'no shutdown_completed'),
		"$what: no shutdown_completed after B exited");
	unlink $a_pid or die "unlink $a_pid: $!";
	return;
}

# 1. A copy: line 2 names B's directory.
my ($c1, $pm1) = b_stops(1);
copy($b_pid, $a_pid) or die "copy $b_pid: $!";
check_refused('copy', $c1,
	qr/line 2 names "\Q${\$node_b->data_dir}\E", not this data directory/);
b_stopped('copy', $c1, $pm1);

# 2. A symbolic link to B's file.
$node_b->start;
my ($c2, $pm2) = b_stops(2);
symlink($b_pid, $a_pid) or die "symlink $b_pid: $!";
check_refused('symlink', $c2, qr/postmaster\.pid" is a symbolic link: not trusted/);
b_stopped('symlink', $c2, $pm2);

for my $ev (qw(shutdown_started would_terminate terminated terminate_failed shutdown_completed))
{
	is(scalar audit_events($guard, $ev), 0, "audit: no $ev");
}
is(count_log($guard, qr/-> "(shutting_down|enforcing)"/), 0,
	'the guard never entered a shutdown nor signalled');
stop_guard($guard);
done_testing();
