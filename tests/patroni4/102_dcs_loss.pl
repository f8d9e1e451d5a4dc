# Losing the DCS on a real Patroni 4 cluster (Debian trixie's patroni
# 4.0.7, etcd 3.5, PostgreSQL 17; node1 on 127.0.0.1, node2 on 127.0.0.2),
# with postgresql.before_stop wired to the guard and the test's stale
# logical client on the leader's permanent slot.  The client is lagging but
# not stalled (--stall-after 1h), so only the deadline can end it.
#
# etcd is killed (SIGKILL): the leader demotes itself ("demoting
# self because DCS is not accessible"), a fast stop, for which Patroni runs
# before_stop too: the hook arms the guard, and the stop ends at the
# deadline counted from that arm (the walsender ended by verified SIGTERM
# once SQL is gone), not never.  Once etcd is back the other node leads
# (the old leader's Patroni ended meanwhile and started anew, so that it loses the race) and
# the old leader rejoins as a replica without pg_rewind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;
use PatroniTest;

skip_without_patroni();
if (!patroni_at_least('3.0.3'))
{
	BAIL_OUT('CI: Patroni ' . (patroni_version() // '?') . ' has no before_stop') if ($ENV{CI} // '') eq 'true';
	plan skip_all => 'Patroni ' . (patroni_version() // '?') . ' has no before_stop';
}
note('Patroni ' . patroni_version());

my $deadline = 3;    # the guard's --deadline, seconds
my $margin   = 2;    # what the stop may take beyond it (2 cores, loaded)
my $slot     = 'stale';
my $dg       = $ENV{DG_BIN};

my $t_start = time();
my $etcd = start_etcd();
my $cl = new_cluster($etcd,
	slots          => { $slot => { type => 'logical', database => 'postgres', plugin => 'test_decoding' } },
	postgresql_for => sub {
		my ($n) = @_;
		return { before_stop => "$dg hook before-stop --url http://$n->{ip}:$n->{guard_port}" };
	});
my ($leader, $replica, $c) = start_stale_pair($cl, $slot);
note(sprintf('cluster up in %.1f s', time() - $t_start));
my $physical = walsender_pid_of_app($leader, $replica->{name});
ok($physical, "node2 streams from node1 (walsender $physical)");

my $g = start_cluster_guard($leader, 'dcs', [ '--deadline', "${deadline}s", '--stall-after', '1h' ]);
ok(wait_log($g, qr/signal path available/, 1, 10), 'the guard has the signal path');
wait_guard_polled($leader);
make_stale($leader, $c, 2);

my $pm   = postmaster_pid($leader);
my $plog = length(patroni_log($leader));
my $t_lost = etcd_kill($etcd);
my $t_stop = wait_stopping_fine($leader, 40);
ok($t_stop, 'without the DCS Patroni stops node1');
my $t_gone = wait_for(sub { !proc_alive($pm) && time() }, $deadline + 20, "postmaster $pm to exit", 0.01);
ok($t_gone, "node1's shutdown ends with the guard running");
my $took = ($t_gone || time()) - ($t_stop // $t_lost);
note(sprintf('measured dcs: "stopping" %.1f s after etcd was killed; stopping -> postmaster exit %d ms (deadline %d ms)',
		($t_stop // time()) - $t_lost, $took * 1000, $deadline * 1000));
cmp_ok($took, '>=', $deadline - 0.5, 'the lagging client held the stop until about the deadline');
cmp_ok($took, '<=', $deadline + $margin, "the stop ended within the deadline plus ${margin} s");
my $ckpt = checkpoint_end($leader);
is($ckpt->{record}, 'CHECKPOINT_SHUTDOWN', 'node1 wrote its shutdown checkpoint');
ok(wait_patroni_log($leader, qr/demoted self because DCS is not accessible and I was a leader/, 20, $plog),
	'Patroni finished demoting node1');
like(substr(patroni_log($leader), $plog), qr/before_stop script `[^`]*` exited with 0/,
	'Patroni ran before_stop for the demotion, which exited 0');
my ($armed) = grep { ($_->{trigger} // '') eq 'before_stop' } audit_events($g, 'armed');
ok($armed, 'the guard was armed by before_stop');

# node1's Patroni is ended while node2 takes the lead, and a new one
# started then (see 013: one let go after SIGSTOP may act on its cached
# cluster and take the leader key back).
patroni_kill($leader);
etcd_restart($etcd);
ok(wait_leader($cl, $replica, 40), 'with the DCS back node2 leads');
start_node($leader);
ok(wait_streaming($cl, $replica, $leader, 60), 'node1 rejoins as a replica and streams');
my $sw = switchpoint($replica, $ckpt->{tli});
is($sw, $ckpt->{end}, "node2 was promoted exactly at the end of node1's shutdown checkpoint");
unlike(substr(patroni_log($leader), $plog), qr/pg_rewind/, 'node1 rejoined without pg_rewind');

audit_only_stale($g, $c->{walsender}, $slot, $physical);
my ($t) = audit_events($g, 'terminated');
is($t->{method} // '', 'signal', 'terminated by verified SIGTERM (SQL was gone)');
stop_proc($c);
stop_cluster_guard($g);
teardown_cluster($cl);
note(sprintf('total %.1f s', time() - $t_start));
done_testing();
