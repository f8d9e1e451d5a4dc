# A guard started while a fast shutdown already hangs: it cannot connect
# (57P03), reads "stopping" from postmaster.pid, finds the stuck walsender
# among the postmaster's children in /proc and ends it with a verified
# SIGTERM once its deadline has passed.  Knowing nothing from SQL, it must
# tell the logical walsender (it holds a database's files open) from the
# physical one of a caught-up standby, which is never touched.
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
stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says "stopping"');
ok(wait_until(sub { $node->log_contains(qr/LOG:\s+shutting down/) }, 10, 'checkpointer "shutting down"'),
	'the checkpointer waits for the walsenders');
ok( observe_for(
		2,
		sub { proc_alive($pm) && proc_alive($c->{walsender}) && pidfile_status($node) eq 'stopping' },
		'the stuck shutdown'),
	'the shutdown hangs on the stale walsender');

my $t0 = time();
my $g = start_guard($node, 'late', [ '--deadline', '2s', '--stall-after', '1h' ],
	wait_observing => 0);
my ($started) = wait_audit($g, 'shutdown_started', 1, 10);
ok($started, 'audit: shutdown_started at start-up');
is($started->{postmaster_pid}, $pm, 'shutdown_started names the postmaster') if $started;
like($started->{trigger} // '', qr/stopping/, 'trigger: postmaster.pid says stopping') if $started;

my $gone = wait_postmaster_gone($node, $pm, 30);
ok(defined $gone, 'the server stops');
mark_stopped($node);
my $took = defined $gone ? $gone - $t0 : 999;
note(sprintf('guard start to postmaster gone: %.2f s', $took));
cmp_ok($took, '>=', 2, 'not before the 2 s deadline');
cmp_ok($took, '<', 10, 'and soon after it');

my ($done) = wait_audit($g, 'shutdown_completed');
ok($done, 'audit: shutdown_completed');
my @term = audit_events($g, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c->{walsender}, 'the stale walsender, found through /proc') if @term;
is($term[0]{kind}, 'logical', 'kind logical (it holds a database\'s files open)') if @term;
my @physical = grep { ($_->{pid} // 0) == $physical || ($_->{kind} // '') eq 'physical' } read_audit($g);
is(scalar @physical, 0, 'no audit event names the physical walsender');
like(guard_log($g), qr/\/proc scan: 2 walsender\(s\)/, 'both walsenders were found in /proc');
is($term[0]{method}, 'signal', 'method signal') if @term;
is($term[0]{reason}, 'deadline', 'reason deadline') if @term;
is(scalar @{ $done->{terminated} // [] }, 1, 'shutdown_completed lists it') if $done;
unlike(guard_log($g), qr/state "waiting" -> "observing"/, 'the guard never had a session to the stopping server');
stop_guard($g);
stop_proc($c);

done_testing();
