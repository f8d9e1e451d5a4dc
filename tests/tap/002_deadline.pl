# The deadline path: a fast stop held up by a stale logical client ends once
# --deadline has passed, by a verified SIGTERM to that walsender only.  The
# physical standby, a healthy consumer and pg_recvlogical are left alone, no
# slot moves, and nothing is lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $deadline = 3;
my $primary = new_primary('primary');
my $standby = new_standby($primary, 'standby');

my $stale   = start_consumer($primary, slot => 'stale',   mode => 'stale');
my $healthy = start_consumer($primary, slot => 'healthy', mode => 'healthy');
my $recv    = start_recvlogical($primary, 'recv');
my $physical = walsender_pid_of_app($primary, 'standby');
ok($physical, "the standby streams (walsender $physical)");

my $guard = start_guard($primary, 'deadline',
	[ '--deadline', "${deadline}s", '--stall-after', '1h' ]);

# Rows every client must see; then the stale client falls behind.
$primary->safe_psql('postgres',
	"INSERT INTO t SELECT i, 'row-' || i FROM generate_series(1, 5) i");
for my $c ($stale, $healthy, $recv)
{
	ok(wait_until(sub { file_contains($c->{out}, "'row-5'") }, 30, "$c->{name} to receive row-5"),
		"$c->{name} received the rows");
}
make_stale($primary, $stale, 6);
my $confirmed_before = wait_slot_confirmed($primary, $stale);
note("slot stale confirmed $confirmed_before before the stop");
ok(wait_guard_polled($primary), 'the guard polled what exists now');

my $pm = postmaster_pid($primary);
my $t0 = stop_nowait($primary);
my $gone = wait_postmaster_gone($primary, $pm, 30);
ok(defined $gone, 'the fast stop completes with the guard running');
mark_stopped($primary);
my $took = defined $gone ? $gone - $t0 : 999;
note(sprintf('stop took %.2f s', $took));
cmp_ok($took, '>=', $deadline, 'the stop took at least the deadline');
# Not held up until the wait's bound either; generous, for a loaded machine (speed is in bench/).
cmp_ok($took, '<', $deadline + 15, 'the stop ended soon after the deadline');

# While it waits for the deadline the guard sleeps between turns (a turn
# every 100 ms at most during a shutdown): it must not spin.
my $scans = count_log($guard, qr{/proc scan:});
cmp_ok($scans, '<=', 100, "the guard did not spin while waiting ($scans /proc scans)");

my ($done) = wait_audit($guard, 'shutdown_completed');
ok($done, 'audit: shutdown_completed');
my @started = audit_events($guard, 'shutdown_started');
is(scalar @started, 1, 'audit: one shutdown_started');
is($started[0]{postmaster_pid}, $pm, 'shutdown_started names the postmaster') if @started;
is($started[0]{deadline_ms}, $deadline * 1000, 'shutdown_started: deadline_ms is the configured --deadline')
	if @started;

my @term = audit_events($guard, 'terminated');
is(scalar @term, 1, 'audit: exactly one walsender terminated');
my $t = $term[0] // {};
is($t->{pid},    $stale->{walsender}, 'terminated: the stale walsender\'s pid');
is($t->{slot},   'stale',             'terminated: slot "stale"');
is($t->{kind},   'logical',           'terminated: kind logical');
is($t->{reason}, 'deadline',          'terminated: reason deadline');
is($t->{method}, 'signal',            'terminated: method signal (SQL is gone during a shutdown)');
ok(defined $t->{sent_lsn} && defined $t->{flush_lsn} && ($t->{lag_bytes} // 0) > 0,
	'terminated: LSNs and a positive lag');
is(scalar @{ $done->{terminated} // [] }, 1, 'shutdown_completed lists one termination');
is($done->{terminated}[0]{pid}, $stale->{walsender}, 'shutdown_completed names the stale walsender')
  if $done;
is(scalar audit_events($guard, 'terminate_failed'), 0, 'audit: no terminate_failed');

my %spared = ($physical => 'physical', $healthy->{walsender} => 'healthy',
	$recv->{walsender} => 'pg_recvlogical');
my @named = grep {
	my $e = $_;
	(defined $e->{pid} && $spared{ $e->{pid} })
	  || (defined $e->{slot} && $e->{slot} =~ /^(standby|healthy|recv)$/)
	  || (defined $e->{kind} && $e->{kind} eq 'physical')
} read_audit($guard);
is(scalar @named, 0, 'no audit event names the physical, healthy or pg_recvlogical walsenders');

# Nothing was moved or lost.
$primary->start;
is(slot_confirmed_flush($primary, 'stale'), $confirmed_before,
	'slot stale: confirmed_flush_lsn unchanged by the guard');
$primary->safe_psql('postgres',
	"INSERT INTO t SELECT i, 'row-' || i FROM generate_series(7, 9) i");
for my $i (1 .. 5, 7 .. 9)
{
	ok(wait_until(sub { file_contains($recv->{out}, "'row-$i'") }, 30, "pg_recvlogical to have row-$i"),
		"pg_recvlogical received row-$i");
}
ok(proc_alive($recv->{pid}), 'pg_recvlogical is still running (looping)');
ok(wait_until(sub { walsender_pid_of_app($primary, 'standby') }, 30, 'the standby to stream again'),
	'the standby streams again after the restart');
$primary->wait_for_catchup('standby', 'replay');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '9', 'the standby has every row');

stop_guard($guard);
stop_proc($_) for ($recv, $healthy, $stale);
done_testing();
