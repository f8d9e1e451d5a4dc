# Stalled walsenders: with --kill-stalled-at-shutdown yes (the default) a
# logical walsender whose client has confirmed less than was sent for
# --stall-after is ended as soon as the shutdown starts, long before the
# deadline.  With "no" the same walsender waits for the deadline.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $node = new_primary('primary');

# Keeps the consumer stalled (sent > confirmed, confirmed unchanged) for
# longer than $secs while the guard polls, then returns.  Fails the test
# when the confirmed position moves or the lag disappears meanwhile.
sub stay_stalled
{
	my ($c, $secs) = @_;
	my $q = "SELECT sent_lsn > coalesce(nullif(flush_lsn, '0/0'), write_lsn), flush_lsn "
	  . "FROM pg_stat_replication WHERE pid = $c->{walsender}";
	my ($lagging, $flush) = split /\|/, $node->safe_psql('postgres', $q);
	my $since = time();
	ok( observe_for(
			$secs,
			sub {
				my ($l, $f) = split /\|/, $node->safe_psql('postgres', $q);
				return $l eq 't' && $f eq $flush;
			},
			"walsender $c->{walsender} to stay stalled"),
		"consumer $c->{slot} stayed stalled for ${secs}s (flush $flush)");
	ok(wait_guard_polled($node), 'the guard polled what exists now');
	return;
}

# 1. kill-stalled-at-shutdown yes (default): ended at once, reason stalled.
my $c1 = start_consumer($node, slot => 'stalled1', mode => 'stale');
my $g1 = start_guard($node, 'kill_stalled',
	[ '--deadline', '60s', '--stall-after', '2s' ]);
make_stale($node, $c1, 1);
stay_stalled($c1, 3);

my $pm = postmaster_pid($node);
my $t0 = stop_nowait($node);
my $gone = wait_postmaster_gone($node, $pm, 30);
ok(defined $gone, 'fast stop completes');
mark_stopped($node);
my $took = defined $gone ? $gone - $t0 : 999;
note(sprintf('stop took %.2f s', $took));
cmp_ok($took, '<', 40, 'the stop ended well before the 60 s deadline');

ok(wait_audit($g1, 'shutdown_completed'), 'audit: shutdown_completed');
my @term = audit_events($g1, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c1->{walsender}, 'the stalled walsender') if @term;
is($term[0]{slot}, 'stalled1', 'slot stalled1') if @term;
is($term[0]{reason}, 'stalled', 'reason stalled') if @term;
like($term[0]{method} // '', qr/^(sql|signal)$/, 'method sql or signal') if @term;
stop_guard($g1);
stop_proc($c1);

# 2. kill-stalled-at-shutdown no: the same stall waits for the deadline.
$node->start;
my $c2 = start_consumer($node, slot => 'stalled2', mode => 'stale');
my $g2 = start_guard($node, 'no_kill_stalled',
	[ '--deadline', '4s', '--stall-after', '2s', '--kill-stalled-at-shutdown', 'no' ]);
make_stale($node, $c2, 2);
stay_stalled($c2, 3);

$pm = postmaster_pid($node);
$t0 = stop_nowait($node);
$gone = wait_postmaster_gone($node, $pm, 30);
ok(defined $gone, 'fast stop completes');
mark_stopped($node);
$took = defined $gone ? $gone - $t0 : 999;
note(sprintf('stop took %.2f s', $took));
cmp_ok($took, '>=', 4, 'the stop waited for the 4 s deadline');
cmp_ok($took, '<', 4 + 15, 'and ended soon after it');

ok(wait_audit($g2, 'shutdown_completed'), 'audit: shutdown_completed');
@term = audit_events($g2, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c2->{walsender}, 'the stalled walsender') if @term;
is($term[0]{reason}, 'deadline', 'reason deadline') if @term;
is($term[0]{method}, 'signal', 'method signal') if @term;
stop_guard($g2);
stop_proc($c2);

done_testing();
