# The deadline with its walsenders pinned: while a fast stop is held up by
# three stale logical clients, the guard holds a pidfd for each of their
# walsenders (proven after the pidfd was opened) and, at the deadline,
# sends the three SIGTERMs in one loop through those pidfds before it
# audits anything.  shutdown_completed carries the guard's own figures:
# deadline_to_first_signal_us, deadline_to_last_signal_us (microseconds
# after the deadline, first <= last) and deadline_signals.  A stop that
# nothing holds up has them null and 0.  The healthy consumer and the
# physical standby are left alone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $primary = new_primary('primary');
my $standby = new_standby($primary, 'standby');
my @stale = map { start_consumer($primary, slot => "stale$_", mode => 'stale') } 1 .. 3;
my $healthy = start_consumer($primary, slot => 'healthy', mode => 'healthy');
my $physical = walsender_pid_of_app($primary, 'standby');
ok($physical, "the standby streams (walsender $physical)");

my $guard = start_guard($primary, 'pinned', [ '--deadline', '2s', '--stall-after', '1h' ]);
make_stale($primary, $stale[$_ - 1], $_) for 1 .. 3;
ok(wait_guard_polled($primary), 'the guard polled what exists now');

my $pm = postmaster_pid($primary);
stop_nowait($primary);
ok(defined wait_postmaster_gone($primary, $pm, 30), 'the held-up fast stop completes');
mark_stopped($primary);

my ($done) = wait_audit($guard, 'shutdown_completed');
ok($done, 'audit: shutdown_completed');
my @term = audit_events($guard, 'terminated');
is_deeply([ sort map { $_->{pid} } @term ], [ sort map { $_->{walsender} } @stale ],
	'audit: the three stale walsenders, and only they, were terminated');
is_deeply([ map { "$_->{method}/$_->{reason}" } @term ], [ ('signal/deadline') x 3 ],
	'terminated: by signal, for the deadline');
is(count_log($guard, qr/sent SIGTERM to 3 pinned walsender\(s\) in \d+ us/), 1,
	'the three SIGTERMs went in one loop through pinned pidfds');
# (The healthy walsender leaves by itself during the stop: a try to pin it
# after it left says "not pinned" too, which is no failure.)
my $stale_pids = join '|', map { $_->{walsender} } @stale;
is(count_log($guard, qr/(?:walsender (?:$stale_pids)|walsenders) not pinned/), 0,
	'every stale walsender was pinned');

$done //= {};
is($done->{deadline_signals}, 3, 'shutdown_completed: deadline_signals 3');
my ($first, $last) = @$done{qw(deadline_to_first_signal_us deadline_to_last_signal_us)};
like($first // '', qr/^\d+$/, 'shutdown_completed: deadline_to_first_signal_us, microseconds after the deadline');
like($last // '',  qr/^\d+$/, 'shutdown_completed: deadline_to_last_signal_us, microseconds after the deadline');
cmp_ok($first // 1, '<=', $last // 0, 'the first signal came no later than the last');

my @named = grep { ($_->{pid} // 0) == $physical || ($_->{pid} // 0) == $healthy->{walsender} }
  read_audit($guard);
is(scalar @named, 0, 'no audit event names the physical or the healthy walsender');

# A stop nothing holds up: no figures.
stop_proc($_) for @stale;
$primary->start;
ok(wait_log($guard, qr/state "waiting" -> "observing"/, 2, 30),
	'the guard connected to the restarted server');
$pm = postmaster_pid($primary);
stop_nowait($primary);
ok(defined wait_postmaster_gone($primary, $pm, 30), 'the second fast stop completes');
mark_stopped($primary);
my @done = wait_audit($guard, 'shutdown_completed', 2);
my $second = $done[1] // {};
is($second->{deadline_signals}, 0, 'second shutdown_completed: deadline_signals 0');
ok(exists $second->{deadline_to_first_signal_us} && !defined $second->{deadline_to_first_signal_us},
	'second shutdown_completed: deadline_to_first_signal_us null');
ok(exists $second->{deadline_to_last_signal_us} && !defined $second->{deadline_to_last_signal_us},
	'second shutdown_completed: deadline_to_last_signal_us null');

stop_guard($guard);
stop_proc($healthy);
done_testing();
