# The postmaster is not gone while its walsenders are still its children.
# A SIGKILLed process stops showing its working directory (so postmaster.pid
# no longer proves it) before the kernel hands its children to another
# parent: a guard turn in between (soak cycle 142, pm_sigkill) listed the
# orphans, found none reparented yet, and the policy, told the postmaster was
# gone with nothing left, forgot the stale walsender and wrote
# shutdown_completed with nothing terminated; the orphan then lived on and
# PostgreSQL could not start again.
#
# The kernel's window is too short to hit on demand; the same state is made
# here by taking postmaster.pid away during the shutdown (the guard's other
# sign of a postmaster gone) while the postmaster still runs, its stale
# walsender its child.  The guard must not end the shutdown then, and must
# end the walsender as an orphan once the postmaster is SIGKILLed.
use strict;
use warnings;
use File::Copy qw(move);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $c    = start_consumer($node, slot => 'dying1', mode => 'stale');
my $g    = start_guard($node, 'dying', [ '--deadline', '60s', '--stall-after', '1h' ]);
make_stale($node, $c, 1);
ok(wait_guard_polled($node), "the guard polled the walsender");

my $pm = postmaster_pid($node);
my $pidfile = $node->data_dir . '/postmaster.pid';
stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says stopping');
ok(wait_audit($g, 'shutdown_started'), 'the guard saw the shutdown');
ok( observe_for(1, sub { proc_alive($c->{walsender}) }, 'the stale walsender to hold the stop'),
	'the stale walsender holds the stop up');

# postmaster.pid away: "gone" by the file, alive by its children
move($pidfile, "$pidfile.away") or die "move $pidfile: $!";
ok(wait_log($g, qr/walsender $c->{walsender} is still a child of postmaster $pm/),
	'the guard sees the walsender still a child of the postmaster');
ok( observe_for(
		1, sub { !audit_events($g, 'shutdown_completed') && proc_alive($pm) },
		'no shutdown_completed while the postmaster has its walsender'),
	'the shutdown is not over while the postmaster still has its walsender');
is(scalar audit_events($g, 'terminated'), 0, 'nothing terminated yet');

kill 'KILL', $pm;
ok(wait_until(sub { !proc_alive($pm) }), 'the postmaster is gone (SIGKILL)');
ok(wait_audit($g, 'terminated'), 'the guard ended a walsender');
my @term = audit_events($g, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c->{walsender}, 'the orphaned stale walsender') if @term;
is($term[0]{reason}, 'orphaned', 'reason orphaned') if @term;
ok(wait_until(sub { !proc_alive($c->{walsender}) }), 'the orphan is gone');
my ($done) = wait_audit($g, 'shutdown_completed');
is(scalar @{ $done->{terminated} // [] }, 1, 'shutdown_completed lists it') if $done;

# the file back, as the SIGKILLed postmaster left it: the next start checks
# its shared memory key
move("$pidfile.away", $pidfile) or die "move back $pidfile: $!";
restart_after_sigkill($node, $pm);
stop_guard($g);
stop_proc($c);
$node->stop;

done_testing();
