# The guard follows the server through a restart and an immediate stop
# (crash recovery at the next start): it logs the shutdown, reconnects each
# time, is left in "observing" with no shutdown pending, and still enforces
# the deadline at the next fast stop.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $observing = qr/state "waiting" -> "observing": connected/;

# The phase the guard last logged a transition to ('' when none).
sub last_state
{
	my ($g) = @_;
	my @to = guard_log($g) =~ /state "[a-z_]+" -> "([a-z_]+)"/g;
	return $to[-1] // '';
}

# Waits until the guard is back in "observing" with every shutdown it saw
# started also completed.
sub settled
{
	my ($g, $what) = @_;
	ok( wait_until(
			sub {
				last_state($g) eq 'observing'
				  && scalar(audit_events($g, 'shutdown_started')) ==
				  scalar(audit_events($g, 'shutdown_completed'));
			},
			30,
			"the guard to settle in observing after $what"),
		"after $what the guard observes again with no shutdown pending");
	return;
}

my $node = new_primary('primary');
my $g = start_guard($node, 'restart', [ '--deadline', '2s', '--stall-after', '1h' ]);

# 1. pg_ctl restart (a fast stop and a start).
my $pm = postmaster_pid($node);
$node->restart;
ok(wait_log($g, qr/state "observing" -> "shutting_down": postmaster\.pid says "stopping"/, 1),
	'restart: the guard saw the shutdown');
ok(wait_log($g, qr/-> "done": postmaster exited/, 1), 'restart: the guard saw the postmaster exit');
ok(wait_log($g, $observing, 2, 30), 'restart: the guard reconnected');
my @started = wait_audit($g, 'shutdown_started');
is(scalar @started, 1, 'restart: audit shutdown_started');
is($started[0]{postmaster_pid}, $pm, 'restart: shutdown_started names the old postmaster');
settled($g, 'the restart');

# 2. Immediate stop, then start (crash recovery).
my $seen = count_log($g, $observing);
$node->stop('immediate');
$node->start;
ok(wait_log($g, $observing, $seen + 1, 30), 'immediate stop + start: the guard reconnected');
settled($g, 'the immediate stop and start');
is(scalar audit_events($g, 'terminated'), 0, 'nothing terminated so far');

# 3. The deadline still works.
my $c = start_consumer($node, slot => 'stale', mode => 'stale');
make_stale($node, $c, 1);
ok(wait_guard_polled($node), 'the guard polled what exists now');
ok( observe_for(
		1,
		sub { proc_alive($c->{walsender}) && !audit_events($g, 'terminated') },
		'the stale walsender untouched while the server runs'),
	'the guard leaves the stale walsender alone while the server runs');
is(last_state($g), 'observing', 'the guard is observing before the stop');

$pm = postmaster_pid($node);
my $completed = scalar audit_events($g, 'shutdown_completed');
stop_nowait($node);
ok(defined wait_postmaster_gone($node, $pm, 30), 'the fast stop completes');
mark_stopped($node);
is(scalar(wait_audit($g, 'shutdown_completed', $completed + 1)), $completed + 1,
	'audit: shutdown_completed for the fast stop');
my @term = audit_events($g, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c->{walsender}, 'the stale walsender') if @term;
is($term[0]{reason}, 'deadline', 'reason deadline') if @term;
is($term[0]{method}, 'signal', 'method signal') if @term;
stop_guard($g);
stop_proc($c);

done_testing();
