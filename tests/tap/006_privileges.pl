# The guard as a role without superuser: with pg_monitor and
# pg_signal_backend it sees LSNs and warns about nothing; with no grants it
# warns about both, and the deadline still ends a superuser's stale
# walsender (through a verified SIGTERM: SQL is gone during a shutdown and
# pg_terminate_backend may not end a superuser's backend anyway).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $stats_warning  = qr/not a member of pg_read_all_stats/;
my $signal_warning = qr/not a member of pg_signal_backend/;
my $null_lsns      = qr/shows NULL LSNs/;

my $node = new_primary('primary');
$node->safe_psql('postgres', q{
	CREATE ROLE guard LOGIN;
	GRANT pg_monitor, pg_signal_backend TO guard;
	CREATE ROLE noguard LOGIN;
});

# Runs the deadline scenario with a guard connecting as $role; returns the
# guard, the consumer and the terminated events.
sub deadline_as
{
	my ($role, $slot, $id) = @_;
	my $c = start_consumer($node, slot => $slot, mode => 'stale');
	my $g = start_guard($node, $role, [ '--deadline', '2s', '--stall-after', '1h' ],
		dsn => $node->connstr('postgres') . " user=$role");
	like(guard_log($g), qr/connected to PostgreSQL \d+ as role "$role"/, "the guard connects as $role");
	make_stale($node, $c, $id);
	ok(wait_guard_polled($node), 'the guard polled what exists now');

	my $pm = postmaster_pid($node);
	stop_nowait($node);
	ok(defined wait_postmaster_gone($node, $pm, 30), "[$role] the fast stop completes");
	mark_stopped($node);
	ok(wait_audit($g, 'shutdown_completed'), "[$role] audit: shutdown_completed");
	my @term = audit_events($g, 'terminated');
	is(scalar @term, 1, "[$role] one walsender terminated");
	my $t = $term[0] // {};
	is($t->{pid},    $c->{walsender}, "[$role] the superuser's stale walsender");
	is($t->{slot},   $slot,           "[$role] slot $slot");
	is($t->{method}, 'signal',        "[$role] method signal");
	is($t->{reason}, 'deadline',      "[$role] reason deadline");
	is(scalar audit_events($g, 'terminate_failed'), 0, "[$role] no terminate_failed");
	stop_guard($g);
	stop_proc($c);
	return ($g, $t);
}

# 1. pg_monitor + pg_signal_backend: no warnings, LSNs seen.
my ($g, $t) = deadline_as('guard', 'stale_a', 1);
my $log = guard_log($g);
unlike($log, $stats_warning,  'guard: no pg_read_all_stats warning');
unlike($log, $signal_warning, 'guard: no pg_signal_backend warning');
unlike($log, $null_lsns,      'guard: no NULL LSN warning');
like($log, qr/signal path available/, 'guard: the signal path is available');
ok(defined $t->{sent_lsn} && defined $t->{flush_lsn}, 'guard: the audit carries sent and flush LSNs');
cmp_ok($t->{lag_bytes} // 0, '>', 0, 'guard: and a positive lag');

# 2. No grants: both warnings, no LSNs, the deadline path still works.
$node->start;
($g, $t) = deadline_as('noguard', 'stale_b', 2);
$log = guard_log($g);
like($log, qr/role "noguard" is $stats_warning/,  'noguard: warns about pg_read_all_stats');
like($log, qr/role "noguard" is $signal_warning/, 'noguard: warns about pg_signal_backend');
like($log, $null_lsns, 'noguard: warns that LSNs are hidden');
ok(!defined $t->{sent_lsn}, 'noguard: no LSNs in the audit (hidden from the role)');

done_testing();
