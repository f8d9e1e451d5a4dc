# A guard started while a fast shutdown already hangs: it cannot connect
# (57P03), reads "stopping" from postmaster.pid, finds the stuck walsender
# among the postmaster's children in /proc and ends it with a verified
# SIGTERM once its deadline has passed.  Knowing nothing from SQL, it must
# tell the logical walsender (it holds a database's files open) from the
# physical one of a caught-up standby, which is never touched.  Before 14
# the logical walsender's title cannot prove it one: there the guard
# reports it and signals nothing (see below).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $node = new_primary('primary');
my $standby = new_standby($node, 'standby');
my $physical = walsender_pid_of_app($node, 'standby');
ok($physical, "the standby streams (walsender $physical)");
my $c = start_consumer($node, slot => 'stale', mode => 'stale');
make_stale($node, $c, 1);

my $pm = postmaster_pid($node);
# The deadline counts from the shutdown's beginning (postmaster.pid's change
# time), which comes after this.
my $t0 = stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says "stopping"');
ok(wait_until(sub { $node->log_contains(qr/LOG:\s+shutting down/) }, 10, 'checkpointer "shutting down"'),
	'the checkpointer waits for the walsenders');
ok( observe_for(
		2,
		sub { proc_alive($pm) && proc_alive($c->{walsender}) && pidfile_status($node) eq 'stopping' },
		'the stuck shutdown'),
	'the shutdown hangs on the stale walsender');

# PostgreSQL 18 adds postmaster children "io worker N" (io_method = worker,
# the default), alive while the shutdown hangs: the guard's /proc scan must
# pass over them as over the other auxiliary processes.
if ($node->pg_version >= 18)
{
	my @io = grep { /io worker/ } postmaster_children($pm);
	cmp_ok(scalar @io, '>', 0, 'PostgreSQL 18: io workers are among the children the guard scans');
}

my $g = start_guard($node, 'late', [ '--deadline', '2s', '--stall-after', '1h' ],
	wait_observing => 0);
my ($started) = wait_audit($g, 'shutdown_started', 1);
ok($started, 'audit: shutdown_started at start-up');
is($started->{postmaster_pid}, $pm, 'shutdown_started names the postmaster') if $started;
like($started->{trigger} // '', qr/stopping/, 'trigger: postmaster.pid says stopping') if $started;

# The physical walsender is found in /proc and never named, on every major.
my $physical_untouched = sub {
	my @physical = grep { ($_->{pid} // 0) == $physical || ($_->{kind} // '') eq 'physical' } read_audit($g);
	is(scalar @physical, 0, 'no audit event names the physical walsender');
	like(guard_log($g), qr/\/proc scan: 2 walsender\(s\)/, 'both walsenders were found in /proc');
};

if ($node->pg_version >= 14)
{
	my $gone = wait_postmaster_gone($node, $pm, 30);
	ok(defined $gone, 'the server stops');
	mark_stopped($node);
	my $took = defined $gone ? $gone - $t0 : 999;
	note(sprintf('stop request to postmaster gone: %.2f s', $took));
	cmp_ok($took, '>=', 2, 'not before the 2 s deadline, counted from the shutdown\'s start');
	cmp_ok($took, '<', 30, 'and not held up until the wait\'s bound');

	my ($done) = wait_audit($g, 'shutdown_completed');
	ok($done, 'audit: shutdown_completed');
	my @term = audit_events($g, 'terminated');
	is(scalar @term, 1, 'one walsender terminated');
	is($term[0]{pid}, $c->{walsender}, 'the stale walsender, found through /proc') if @term;
	is($term[0]{kind}, 'logical', 'kind logical (it holds a database\'s files open)') if @term;
	$physical_untouched->();
	is($term[0]{method}, 'signal', 'method signal') if @term;
	is($term[0]{reason}, 'deadline', 'reason deadline') if @term;
	is(scalar @{ $done->{terminated} // [] }, 1, 'shutdown_completed lists it') if $done;
	# By the guard's own clock, so that a slow start of the guard on a
	# loaded machine does not count: ended at the deadline, not much after.
	my $acted = @term && $started ? audit_ts($term[0]) - audit_ts($started) : -1;
	note(sprintf('shutdown_started to terminated: %.3f s', $acted));
	ok($acted >= 0 && $acted < 2 + 5, 'the guard ended it by the 2 s deadline, not much after (its audit times)');
}
else
{
	# PostgreSQL 10-13: a logical walsender's title ends in its last state
	# ("idle", "idle in transaction"), not START_REPLICATION (14 made the
	# title name the command), and the guard never saw this one through
	# SQL.  Nothing proves it logical, so the guard must not signal it: at
	# the deadline it reports it (terminate_failed, kind "unproven") and
	# the shutdown stays held up until someone ends it by hand.
	my ($f) = wait_audit($g, 'terminate_failed', 1);
	ok($f, 'audit: terminate_failed at the deadline');
	is($f->{pid}, $c->{walsender}, 'for the stale walsender, found through /proc') if $f;
	is($f->{kind}, 'unproven', 'kind unproven (its title cannot prove it logical)') if $f;
	is($f->{reason}, 'deadline', 'reason deadline') if $f;
	like($f->{error} // '', qr/cannot prove it one without SQL.*not signalled/,
		'error: not signalled, and why') if $f;
	cmp_ok(time() - $t0, '>=', 2, 'not before the 2 s deadline');
	ok( observe_for(
			2,
			sub { proc_alive($c->{walsender}) && pidfile_status($node) eq 'stopping' },
			'the unproven walsender alive and the server stopping'),
		'the guard left the unproven walsender alone');
	like(guard_log($g), qr/end it by hand \(kill -TERM $c->{walsender}\)/,
		'the log says how to end it by hand');
	is(scalar audit_events($g, 'terminated'), 0, 'nothing terminated');
	$physical_untouched->();

	kill('TERM', $c->{walsender});
	ok(defined wait_postmaster_gone($node, $pm, 20), 'the server stops once the test ends it');
	mark_stopped($node);
	my ($done) = wait_audit($g, 'shutdown_completed');
	ok($done, 'audit: shutdown_completed');
	is_deeply($done->{terminated} // 'missing', [], 'shutdown_completed: nothing terminated') if $done;
}
unlike(guard_log($g), qr/state "waiting" -> "observing"/, 'the guard never had a session to the stopping server');
stop_guard($g);
stop_proc($c);

done_testing();
