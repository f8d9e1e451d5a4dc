# Losing the DCS on a real Patroni cluster (Debian's patroni 3.0.2 and etcd
# 3.4; node1 on 127.0.0.1, node2 on 127.0.0.2), with the test's stale
# logical client on the leader's permanent slot.
#
# 1. Without the guard: etcd is killed (SIGKILL), the leader demotes
#    itself (fast stop, "demoting self because DCS is not accessible") and
#    stays in "stopping" for the whole observation window; when etcd comes
#    back the other node takes over while the old leader is still stuck.
#    Ending the stuck walsender by hand lets it stop; it can rejoin only
#    through pg_rewind, since its shutdown checkpoint never reached the new
#    leader.
# 2. With the guard beside the new leader (auto-detect: 3.0.2 has no
#    before_stop): the same loss ends the leader's shutdown within the
#    deadline plus a small margin; once etcd is back (the old leader's
#    Patroni ended meanwhile and started anew, so that it loses the leader race, which is
#    otherwise a coin toss) the old leader rejoins as a replica without
#    pg_rewind: the new leader was promoted exactly at the end of its
#    shutdown checkpoint, carried by the physical walsender that the guard
#    left alone.  The audit log names only the stale walsender.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use Time::Local ();
use GuardTest;
use PatroniTest;

skip_without_patroni();

my $deadline = 3;     # the guard's --deadline, seconds
my $margin   = 5;     # what the stop may take beyond it (2 cores, loaded)
my $observe  = 15;    # how long scenario 1 watches the stuck leader
my $slot     = 'stale';

# The PostgreSQL log lines of a fast shutdown of $n after byte $from:
# (received, shut down) as epoch seconds, undef when missing.
sub shutdown_times_in_log
{
	my ($n, $from) = @_;
	my $log = substr(server_log($n), $from);
	my ($asked) = $log =~ /^(\S+ \S+) UTC \[\d+\] postmaster : LOG:  received fast shutdown request/m;
	my ($down) = $log =~ /^(\S+ \S+) UTC \[\d+\] postmaster : LOG:  database system is shut down/m;
	my $epoch = sub {
		my ($ts) = @_;
		return undef unless $ts && $ts =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+\.\d+)$/;
		return Time::Local::timegm(0, $5, $4, $3, $2 - 1, $1) + $6;
	};
	return ($epoch->($asked), $epoch->($down));
}

my $t_start = time();
my $etcd = start_etcd();
my $cl = new_cluster($etcd,
	slots => { $slot => { type => 'logical', database => 'postgres', plugin => 'test_decoding' } });
my ($n1, $n2) = @{ $cl->{nodes} };
start_node($n1);
ok(wait_leader($cl, $n1, 60), 'node1 bootstraps the cluster and leads');
$n1->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v text)');

# ---------------------------------------------------------------------------
# 1. Without the guard: the field problem.
my $c1 = start_permanent_consumer($n1, $slot);
start_node($n2);
ok(wait_streaming($cl, $n1, $n2, 90), 'node2 streams from node1');
# The consumer confirms something after node2's base backup, so that the
# copy of its slot on node2 can be used after a failover.
make_stale($n1, $c1, 1);
wait_slot_confirmed($n1, $c1);
note('slot ' . $n1->safe_psql('postgres', "SELECT restart_lsn || ' ' || confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'"));
ok(wait_replica_ready($cl, $n1, $n2, $slot), "node2 holds a usable copy of slot $slot");
note(sprintf('cluster up in %.1f s', time() - $t_start));
my $pm1 = postmaster_pid($n1);
my $slog1 = length(server_log($n1));

my $t_lost = etcd_kill($etcd);
my $t_stop = wait_stopping_fine($n1, 40);
ok($t_stop, 'without the DCS Patroni stops the leader: postmaster.pid says "stopping"');
note(sprintf('node1 stopping %.1f s after etcd was killed', ($t_stop // time()) - $t_lost));
ok(wait_patroni_log($n1, qr/demoting self because DCS is not accessible and I was a leader/, 30),
	'Patroni: "demoting self because DCS is not accessible and I was a leader"');
ok(observe_for($observe, sub { pidfile_status($n1) eq 'stopping' && proc_alive($pm1) },
		'node1 stopping'),
	"node1 stays in \"stopping\" for ${observe} s: the demotion hangs");
ok(proc_alive($c1->{walsender}), 'the stale walsender is still there, holding the shutdown up');
unlike(substr(server_log($n1), $slog1), qr/checkpoint starting: shutdown/,
	'no shutdown checkpoint was written');

# etcd comes back: node2 takes over, node1 is still stuck.
etcd_restart($etcd);
ok(wait_leader($cl, $n2, 30), 'with the DCS back node2 takes over');
is(pidfile_status($n1), 'stopping', 'while node1 is still "stopping"');
# Patroni's leader key comes before the promotion itself: until node2 has
# left recovery its walreceiver may still take node1's shutdown checkpoint,
# and then no pg_rewind is needed.  The operator's kill comes after it.
ok(wait_until(sub { (eval { $n2->safe_psql('postgres', 'SELECT pg_is_in_recovery()') } // '') eq 'f' }, 30,
		'node2 to leave recovery'),
	'node2 is promoted (out of recovery)');
# What an operator does by hand: end the stuck walsender, and restart
# node1's wedged Patroni.  Its demotion is blocked in two threads (the
# asynchronous one and, "AsyncExecutor is busy", the main loop's), and
# Patroni 3.0.2 let go then starts PostgreSQL twice, may follow the start
# that failed and run pg_rewind beside the running server (seen in
# check-repeat); a new Patroni, started after the stop, finds it stopped.
patroni_kill($n1);
kill 'TERM', $c1->{walsender};
ok(defined wait_postmaster_gone($n1, $pm1, 30), 'ending the stuck walsender lets node1 stop');
is(stop_proc($c1), 0, 'the consumer ended with its walsender');
start_node($n1);
ok(wait_replica_ready($cl, $n2, $n1, $slot, 60), 'node1 rejoins as a replica of node2');
like(patroni_log($n1), qr/running pg_rewind from node2/,
	'node1 needed pg_rewind: its shutdown checkpoint never reached node2');
note(sprintf('scenario 1 done at %.1f s', time() - $t_start));

# ---------------------------------------------------------------------------
# 2. With the guard, beside the leader (now node2).
my ($leader, $replica) = ($n2, $n1);
my $c2 = start_permanent_consumer($leader, $slot);
make_stale($leader, $c2, 2);
wait_slot_confirmed($leader, $c2);
ok(wait_replica_ready($cl, $leader, $replica, $slot, 30), "Patroni advanced $replica->{name}'s copy of slot $slot");
my $physical = walsender_pid_of_app($leader, $replica->{name});
ok($physical, "$replica->{name} streams from $leader->{name} (walsender $physical)");
my $g = start_cluster_guard($leader, 'dcs',
	[ '--deadline', "${deadline}s", '--stall-after', '1h' ]);
ok(wait_log($g, qr/signal path available/, 1), 'the guard has the signal path');
ok(wait_guard_polled($leader), 'the guard polled what exists now');

my $pm2   = postmaster_pid($leader);
my $plog  = length(patroni_log($leader));
my $slog2 = length(server_log($leader));
$t_lost = etcd_kill($etcd);
$t_stop = wait_stopping_fine($leader, 40);
ok($t_stop, "without the DCS Patroni stops $leader->{name}");
my $t_gone = wait_for(sub { !proc_alive($pm2) && time() }, $deadline + 20,
	"postmaster $pm2 to exit", 0.01);
ok($t_gone, "$leader->{name}'s shutdown ends with the guard running");
my $took = ($t_gone || time()) - ($t_stop // $t_lost);
note(sprintf('scenario 2: "stopping" %.1f s after etcd was killed; stopping -> postmaster exit %d ms (deadline %d ms)',
		($t_stop // time()) - $t_lost, $took * 1000, $deadline * 1000));
cmp_ok($took, '>=', $deadline - 0.5, 'it took about the deadline (the stale client held it up until then)');
cmp_ok($took, '<=', $deadline + $margin, "it ended within the deadline plus ${margin} s");
my ($l_recv, $l_down) = shutdown_times_in_log($leader, $slog2);
note(sprintf('server log: fast shutdown request -> shut down %d ms', ($l_down - $l_recv) * 1000))
  if defined $l_recv && defined $l_down;
# Where the old leader's shutdown checkpoint ends: the replica can be
# promoted without a rewind of the old leader only if it received that.
my $ckpt = checkpoint_end($leader);
note("$leader->{name}: latest checkpoint $ckpt->{lsn} ($ckpt->{record}), ends at "
	  . ($ckpt->{end} // "? ($ckpt->{waldump})"));
is($ckpt->{record}, 'CHECKPOINT_SHUTDOWN', "$leader->{name} wrote its shutdown checkpoint");
ok(wait_patroni_log($leader, qr/demoted self because DCS is not accessible and I was a leader/, 20, $plog),
	"Patroni finished demoting $leader->{name}");

# Once the DCS is back both nodes are equally healthy replicas (the old
# leader's shutdown was clean and its replica has all of it) and either
# may win the leader race: seen both ways here.  To test the old leader's
# way back, its Patroni is ended until the other node leads, and a new one
# started then; its PostgreSQL keeps running as a standby.  (Held with
# SIGSTOP and let go instead, Patroni 3.0.2 acted once on the cluster it
# had cached before the DCS was lost, took the leader key back from the new
# leader and promoted its own server: seen under load.)
patroni_kill($leader);
etcd_restart($etcd);
ok(wait_leader($cl, $replica, 40), "with the DCS back $replica->{name} leads");
start_node($leader);
ok(wait_streaming($cl, $replica, $leader, 60),
	"the old leader $leader->{name} rejoins as a running replica and streams");
my $m = cluster_members($cl);
is($m->{ $leader->{name} }{role}, 'replica', "/cluster: $leader->{name} is a replica");
my $tli = $ckpt->{tli};
my $sw = switchpoint($replica, $tli);
note("$replica->{name} left timeline $tli at " . ($sw // '?'));
is($sw, $ckpt->{end}, "$replica->{name} was promoted exactly at the end of $leader->{name}'s shutdown checkpoint");
unlike(substr(patroni_log($leader), $plog), qr/pg_rewind/, "$leader->{name} rejoined without pg_rewind");

# The audit log: the stale walsender, and only it.
audit_only_stale($g, $c2->{walsender}, $slot, $physical);
is(scalar audit_events($g, 'terminate_failed'), 0, 'audit: no terminate_failed');
ok(!grep({ /\Q$physical\E/ && /terminat|SIGTERM/i } split /\n/, guard_log($g)),
	'the guard log shows nothing sent to the physical walsender');

stop_guard($g);
stop_proc($c2);
teardown_cluster($cl);
note(sprintf('total %.1f s', time() - $t_start));
done_testing();
