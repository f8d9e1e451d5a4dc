# Why a walsender holds a shutdown up: its "cause", from what the guard
# saw.  A client that confirms one byte past what it was sent (as
# pg-logical-replication 2.5 does) holds a fast shutdown up forever just as
# a client that confirms too little: PostgreSQL waits for equality.  The
# guard must show it as a risk (cause "ahead", a negative lag), not as "ok",
# and end it; a client behind shows "behind", a healthy one no cause, and
# before a client's first confirmation the lag is unknown (null), never
# "sent - 0".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');

# 1. Without the guard, an "ahead" client alone holds a fast stop up.
my $ahead = start_consumer($node, slot => 'ahead1', mode => 'ahead', status_interval => 200);
$node->safe_psql('postgres', "INSERT INTO t VALUES (1, 'before')");
ok( wait_until(
		sub {
			$node->safe_psql('postgres',
				"SELECT flush_lsn = sent_lsn + 1 FROM pg_stat_replication "
				  . "WHERE pid = $ahead->{walsender}") eq 't';
		}),
	'the ahead client confirms sent + 1');
my $pm = postmaster_pid($node);
stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says stopping');
ok( observe_for(3, sub { proc_alive($pm) && proc_alive($ahead->{walsender}) },
		'the shutdown to stay held up'),
	'an ahead client holds the fast shutdown up (3 s observed)');

# The guard started now ends it (it is a START_REPLICATION walsender with a
# database's files open: proven logical from /proc on this major).
my $g0 = start_guard($node, 'late', [ '--deadline', '1s' ], wait_observing => 0);
ok(defined wait_postmaster_gone($node, $pm, 30), 'the guard ends the held-up stop');
mark_stopped($node);
wait_audit($g0, 'shutdown_completed');
my @term = audit_events($g0, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $ahead->{walsender}, 'the ahead client\'s walsender') if @term;
stop_guard($g0);
stop_proc($ahead);

# 2. With the guard watching: causes, lags and risks as the API shows them.
$node->start;
my $g = start_guard($node, 'watch',
	[ '--deadline', '30s', '--stall-after', '2s', '--listen', '127.0.0.1:0' ]);
guard_url($g);
$ahead = start_consumer($node, slot => 'ahead1', mode => 'ahead', create => 0,
	status_interval => 200);
my $stale   = start_consumer($node, slot => 'behind1', mode => 'stale');
my $healthy = start_consumer($node, slot => 'ok1',     mode => 'healthy',
	status_interval => 200);
my $silent = start_consumer($node, slot => 'silent1', mode => 'silent');
make_stale($node, $stale, 2);

# The view of one slot's walsender from GET /v1/walsenders, or undef.
sub view_of
{
	my ($slot) = @_;
	my ($st, $j) = http_req($g, 'GET', '/v1/walsenders');
	return undef unless $st == 200;
	my ($w) = grep { ($_->{slot} // '') eq $slot } @{ $j->{walsenders} };
	return $w;
}

my $w;
ok( wait_until(
		sub {
			$w = view_of('ahead1');
			$w && ($w->{risk} // '') eq 'stalled';
		}),
	'the ahead client becomes stalled after --stall-after');
is($w->{cause}, 'ahead', 'ahead1: cause ahead');
cmp_ok($w->{lag_bytes} // 0, '<', 0, 'ahead1: a negative lag, not 0');
ok(wait_until(sub { $w = view_of('behind1'); $w && ($w->{risk} // '') eq 'stalled' }),
	'the stale client becomes stalled');
is($w->{cause}, 'behind', 'behind1: cause behind');
cmp_ok($w->{lag_bytes} // 0, '>', 0, 'behind1: a positive lag');
ok( wait_until(
		sub {
			$w = view_of('ok1');
			$w && ($w->{risk} // '') eq 'ok' && defined $w->{lag_bytes} && $w->{lag_bytes} == 0;
		}),
	'ok1: risk ok, lag 0 once it confirmed what it was sent');
ok(!defined $w->{cause}, 'ok1: no cause');
$w = view_of('silent1');
is($w->{cause}, 'silent', 'silent1: cause silent');
ok(!defined $w->{lag_bytes}, 'silent1: lag unknown before any confirmation (null)');

my ($st, undef, $metrics) = http_req($g, 'GET', '/metrics');
is($st, 200, '/metrics answers');
like($metrics, qr/^demotion_guard_walsender_cause\{slot="ahead1",[^}]*,cause="ahead"\} 1$/m,
	'metrics: ahead1 has cause ahead');
like($metrics, qr/^demotion_guard_walsender_lag_bytes\{slot="ahead1",[^}]*\} -\d+$/m,
	'metrics: ahead1 lag is negative');
unlike($metrics, qr/^demotion_guard_walsender_lag_bytes\{slot="silent1",/m,
	'metrics: no lag series for the silent client');

# 3. The fast stop: both stalled clients (ahead and behind) end at its start.
$pm = postmaster_pid($node);
my $t0 = stop_nowait($node);
my $gone = wait_postmaster_gone($node, $pm, 40);
ok(defined $gone, 'the fast stop completes');
mark_stopped($node);
cmp_ok(($gone // $t0 + 99) - $t0, '<', 25, 'well before the 30 s deadline');
wait_audit($g, 'shutdown_completed');
my %by_slot = map { $_->{slot} => $_ } audit_events($g, 'terminated');
is($by_slot{ahead1}{cause}, 'ahead', 'audit: ahead1 ended, cause ahead');
is($by_slot{ahead1}{reason}, 'stalled', 'audit: ahead1 reason stalled');
cmp_ok($by_slot{ahead1}{lag_bytes} // 0, '<', 0, 'audit: ahead1 lag negative');
is($by_slot{behind1}{cause}, 'behind', 'audit: behind1 ended, cause behind');
ok(!exists $by_slot{ok1}, 'the healthy client was not touched');
stop_guard($g);
stop_proc($_) for ($ahead, $stale, $healthy, $silent);

done_testing();
