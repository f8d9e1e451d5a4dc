# Without the guard, a logical client that confirms less than was sent holds
# a fast shutdown up: postmaster.pid stays "stopping" and the server stays.
# Terminating its walsender by hand ends the shutdown at once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $stale = start_consumer($node, slot => 'stale', mode => 'stale');
make_stale($node, $stale, 1);

my $pm = postmaster_pid($node);
stop_nowait($node, 'fast');
ok(wait_stopping($node), 'postmaster.pid says "stopping" after the fast stop');

# Bounded observation: for 5 s the postmaster, the walsender and "stopping" remain.
ok( observe_for(
		5,
		sub {
			proc_alive($pm)
			  && proc_alive($stale->{walsender})
			  && pidfile_status($node) eq 'stopping';
		},
		'server stopping with the stale walsender alive'),
	'the fast stop hangs for 5 s on the stale walsender');
ok(wait_until(sub { $node->log_contains(qr/LOG:\s+shutting down/) }, 10, 'checkpointer "shutting down"'),
	'the checkpointer waits for the walsender (it logged "shutting down")');
ok(!$node->log_contains(qr/database system is shut down/), 'the server has not shut down');

# Way out: SIGTERM to the walsender.
ok(kill('TERM', $stale->{walsender}), 'SIGTERM sent to the stale walsender');
ok(defined wait_postmaster_gone($node, $pm, 20), 'the server stops once the walsender is gone');
mark_stopped($node);
ok($node->log_contains(qr/database system is shut down/), 'the server logged a clean shutdown');
is(stop_proc($stale), 0, 'the stale consumer exits 0 after its walsender ended');

done_testing();
