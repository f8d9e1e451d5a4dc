# --dry-run audits what it would terminate and terminates nothing; an
# --exclude-slot pattern spares the walsenders of matching slots.  In both
# cases the spared walsender keeps holding the fast stop up, which the test
# then ends by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');

# 1. --dry-run: would_terminate, no terminated, the walsender survives.
my $dry = start_consumer($node, slot => 'dry', mode => 'stale');
my $g1 = start_guard($node, 'dry_run', [ '--deadline', '2s', '--stall-after', '1h', '--dry-run' ]);
like(guard_log($g1), qr/dry run: nothing will be terminated/, 'the guard says it runs dry');
make_stale($node, $dry, 1);
ok(wait_guard_polled($node), 'the guard polled what exists now');

my $pm = postmaster_pid($node);
stop_nowait($node);
my ($would) = wait_audit($g1, 'would_terminate', 1, 20);
ok($would, 'audit: would_terminate');
is($would->{pid},  $dry->{walsender}, 'would_terminate names the stale walsender') if $would;
is($would->{slot}, 'dry', 'would_terminate names slot dry') if $would;
is($would->{reason}, 'deadline', 'would_terminate: reason deadline') if $would;
ok( observe_for(
		3,
		sub { proc_alive($dry->{walsender}) && pidfile_status($node) eq 'stopping' },
		'the dry-run walsender and the stopping server'),
	'after the deadline the walsender is alive and the stop still hangs');
is(scalar audit_events($g1, 'terminated'), 0, 'audit: no terminated in a dry run');
is(scalar audit_events($g1, 'would_terminate'), 1, 'audit: would_terminate reported once');

kill('TERM', $dry->{walsender});
ok(defined wait_postmaster_gone($node, $pm, 20), 'the server stops once the test ends the walsender');
mark_stopped($node);
my ($done) = wait_audit($g1, 'shutdown_completed');
ok($done, 'audit: shutdown_completed');
is_deeply($done->{terminated} // 'missing', [], 'shutdown_completed: nothing terminated') if $done;
stop_guard($g1);
stop_proc($dry);

# 2. --exclude-slot 'keep*': kill_me is terminated, keep_me is spared.
$node->start;
my $keep = start_consumer($node, slot => 'keep_me', mode => 'stale');
my $kill = start_consumer($node, slot => 'kill_me', mode => 'stale');
my $g2 = start_guard($node, 'exclude',
	[ '--deadline', '2s', '--stall-after', '1h', '--exclude-slot', 'keep*' ]);
make_stale($node, $keep, 2);
make_stale($node, $kill, 3);
ok(wait_guard_polled($node), 'the guard polled what exists now');

$pm = postmaster_pid($node);
stop_nowait($node);
my ($term) = wait_audit($g2, 'terminated', 1, 20);
ok($term, 'audit: terminated');
is($term->{pid},  $kill->{walsender}, 'terminated: the kill_me walsender') if $term;
is($term->{slot}, 'kill_me', 'terminated: slot kill_me') if $term;
ok(wait_until(sub { !proc_alive($kill->{walsender}) }, 10, 'kill_me walsender to exit'),
	'the kill_me walsender is gone');
ok( observe_for(
		3,
		sub { proc_alive($keep->{walsender}) && pidfile_status($node) eq 'stopping' },
		'the keep_me walsender and the stopping server'),
	'the keep_me walsender stays and the stop still hangs');
my @keep_events = grep { ($_->{slot} // '') eq 'keep_me' } read_audit($g2);
is(scalar @keep_events, 0, 'no audit event names keep_me');
is(scalar audit_events($g2, 'terminated'), 1, 'exactly one terminated');
like(guard_log($g2), qr/not terminating walsender $keep->{walsender}: slot "keep_me" is excluded/,
	'the guard logs that keep_me is excluded');

kill('TERM', $keep->{walsender});
ok(defined wait_postmaster_gone($node, $pm, 20), 'the server stops once the test ends keep_me');
mark_stopped($node);
($done) = wait_audit($g2, 'shutdown_completed');
ok($done, 'audit: shutdown_completed');
is_deeply([ map { $_->{slot} } @{ $done->{terminated} // [] } ], ['kill_me'],
	'shutdown_completed lists kill_me only') if $done;
stop_guard($g2);
stop_proc($_) for ($keep, $kill);

done_testing();
