# A whole fast stop can begin and end between two turns of the guard's
# loop (a loaded machine that does not schedule it, a stopped process):
# the guard never sees postmaster.pid say "stopping".  It must still notice
# that the postmaster it saw running is gone (postmaster.pid missing, or
# naming another postmaster), audit that shutdown as started and completed,
# and drop an arm that belonged to it, instead of staying armed across the
# restart.  Made deterministic here with SIGSTOP / SIGCONT of the guard.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $g    = start_guard($node, 'missed', [ '--deadline', '30s', '--listen', '127.0.0.1:0' ]);
guard_url($g);

# 1. Armed, then stopped and restarted while the guard does not run.
my ($st, $j) = http_req($g, 'POST', '/v1/arm', '{"reason":"maintenance"}');
is($st, 200, 'armed');
my $old = postmaster_pid($node);
kill 'STOP', $g->{pid};
$node->stop('fast');
$node->start;
kill 'CONT', $g->{pid};
my ($started) = wait_audit($g, 'shutdown_started');
ok($started, 'the unseen shutdown is audited as started');
like($started->{trigger} // '', qr/postmaster $old was replaced by \d+: a shutdown between two turns/,
	'its trigger says how it was noticed') if $started;
is($started->{postmaster_pid}, $old, 'of the old postmaster') if $started;
my ($done) = wait_audit($g, 'shutdown_completed');
ok($done, 'and as completed');
ok( wait_until(
		sub {
			my ($s, $v) = http_req($g, 'GET', '/v1/status');
			$s == 200 && $v->{phase} eq 'observing' && !defined $v->{deadline_at};
		}),
	'the guard observes the new postmaster, the arm dropped with the old one');

# 2. Stopped for good while the guard does not run.
$old = postmaster_pid($node);
kill 'STOP', $g->{pid};
$node->stop('fast');
kill 'CONT', $g->{pid};
my @started = wait_audit($g, 'shutdown_started', 2);
is(scalar @started, 2, 'the second unseen shutdown is audited too');
like($started[1]{trigger} // '', qr/postmaster $old and its postmaster.pid are gone/,
	'noticed from the missing postmaster.pid') if @started == 2;
my @done = wait_audit($g, 'shutdown_completed', 2);
is(scalar @done, 2, 'and completed');
is(scalar(audit_events($g, 'terminated')), 0, 'nothing was terminated');
stop_guard($g);

done_testing();
