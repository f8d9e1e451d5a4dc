# A postmaster SIGKILLed in the middle of a shutdown (by hand, or by
# Patroni's own escalation: immediate stop, then SIGKILL) leaves a stuck
# logical walsender alive under another parent, spinning; its shared
# memory keeps PostgreSQL from starting again ("pre-existing shared memory
# block is still in use").  The guard recorded that walsender's PID and
# start time while it proved it: it ends it (reason "orphaned"), lists it
# in shutdown_completed, and the server starts again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $c    = start_consumer($node, slot => 'orphan1', mode => 'stale');
my $g    = start_guard($node, 'orphan', [ '--deadline', '60s', '--stall-after', '1h' ]);
make_stale($node, $c, 1);
ok(wait_guard_polled($node), "the guard polled the walsender");

my $pm = postmaster_pid($node);
stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says stopping');
ok(wait_audit($g, 'shutdown_started'), 'the guard saw the shutdown');
ok( observe_for(1, sub { proc_alive($c->{walsender}) }, 'the stale walsender to hold the stop'),
	'the stale walsender holds the stop up');

# The parent of a process, from /proc/PID/stat ('' when it is gone).
sub parent_of
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return '';
	my $stat = <$fh> // '';
	close $fh;
	return $stat =~ /\)\s+\S+\s+(\d+)/ ? $1 : '';
}

kill 'KILL', $pm;
ok(wait_until(sub { !proc_alive($pm) }), 'the postmaster is gone (SIGKILL)');
ok(wait_audit($g, 'terminated'), 'the guard ended a walsender');
my @term = audit_events($g, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{pid}, $c->{walsender}, 'the orphaned stale walsender') if @term;
is($term[0]{reason}, 'orphaned', 'reason orphaned') if @term;
is($term[0]{method}, 'signal', 'by a verified signal') if @term;
ok(wait_until(sub { !proc_alive($c->{walsender}) }), 'the orphan is gone');
like(guard_log($g), qr/walsender $c->{walsender} \(slot "orphan1"\) outlived postmaster $pm/,
	'the log says it outlived its postmaster');
my ($done) = wait_audit($g, 'shutdown_completed');
is(scalar @{ $done->{terminated} // [] }, 1, 'shutdown_completed lists it') if $done;
is($done->{terminated}[0]{reason}, 'orphaned', 'as orphaned') if $done && @{ $done->{terminated} };

# The SIGKILLed postmaster left its postmaster.pid (with its shared memory
# key, which the next start checks) and must be reaped by its parent
# before its PID reads as dead.
restart_after_sigkill($node, $pm);
stop_guard($g);
stop_proc($c);
$node->stop;

done_testing();
