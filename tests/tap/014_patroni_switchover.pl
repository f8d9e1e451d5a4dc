# A planned switchover on a real Patroni cluster (Debian's patroni 3.0.2,
# etcd 3.4; node1 on 127.0.0.1, node2 on 127.0.0.2) while the test's stale
# logical client holds the leader's permanent slot, with the guard beside
# the leader in auto-detect mode (3.0.2 has no before_stop).
#
# "patronictl switchover --leader node1 --candidate node2 --force"
# completes: the guard ends the stale walsender at the deadline, so the
# leader writes its shutdown checkpoint, the physical walsender (left alone)
# carries it to node2, and node2 is promoted exactly at its end (the
# switchpoint in node2's timeline history equals the end of node1's
# CHECKPOINT_SHUTDOWN record, Patroni's own test): node1 rejoins as a
# replica without pg_rewind.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;
use PatroniTest;

skip_without_patroni();

my $deadline = 3;
my $margin   = 5;
my $slot     = 'stale';

my $t_start = time();
my $etcd = start_etcd();
my $cl = new_cluster($etcd,
	slots => { $slot => { type => 'logical', database => 'postgres', plugin => 'test_decoding' } });
my ($n1, $n2) = @{ $cl->{nodes} };
start_node($n1);
ok(wait_leader($cl, $n1, 60), 'node1 bootstraps the cluster and leads');
$n1->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v text)');
my $c = start_permanent_consumer($n1, $slot);
start_node($n2);
ok(wait_streaming($cl, $n1, $n2, 90), 'node2 streams from node1');
# The consumer confirms something after node2's base backup, so that the
# copy of its slot on node2 can be used after the switchover.
make_stale($n1, $c, 1);
my $confirmed = wait_slot_confirmed($n1, $c);
note('slot ' . $n1->safe_psql('postgres', "SELECT restart_lsn || ' ' || confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'"));
ok(wait_replica_ready($cl, $n1, $n2, $slot), "node2 holds a usable copy of slot $slot");
note(sprintf('cluster up in %.1f s', time() - $t_start));
my $physical = walsender_pid_of_app($n1, 'node2');
ok($physical, "node2 streams (walsender $physical)");

my $g = start_cluster_guard($n1, 'switchover', [ '--deadline', "${deadline}s", '--stall-after', '1h' ]);
ok(wait_log($g, qr/signal path available/, 1), 'the guard has the signal path');
ok(wait_guard_polled($n1), 'the guard polled what exists now');

my $pm   = postmaster_pid($n1);
my $plog = length(patroni_log($n1));

# The switchover, in the background so that the stop can be timed.
my $sw_out = '';
my $t_sw = time();
my $sw = IPC::Run::start([ $PatroniTest::PATRONICTL, '-c', $n1->{config}, 'switchover',
		'--leader', 'node1', '--candidate', 'node2', '--force' ],
	'<', \undef, '>&', \$sw_out, IPC::Run::timeout(90));
my $t_stop = wait_stopping_fine($n1, 30);
ok($t_stop, 'Patroni stops node1: postmaster.pid says "stopping"');
my $t_gone = wait_for(sub { !proc_alive($pm) && time() }, $deadline + 20, "postmaster $pm to exit", 0.01);
ok($t_gone, 'node1\'s shutdown ends with the guard running');
# Read node1's checkpoint at once, before Patroni starts it again.
my $ckpt = checkpoint_end($n1);
my $took = ($t_gone || time()) - ($t_stop // $t_sw);
note(sprintf('switchover: "stopping" %.1f s after patronictl started; stopping -> postmaster exit %d ms (deadline %d ms)',
		($t_stop // time()) - $t_sw, $took * 1000, $deadline * 1000));
cmp_ok($took, '>=', $deadline - 0.5, 'the stale client held the stop up until the deadline');
cmp_ok($took, '<=', $deadline + $margin, "the stop ended within the deadline plus ${margin} s");
note("node1: latest checkpoint $ckpt->{lsn} ($ckpt->{record}, state \"$ckpt->{state}\"), ends at "
	  . ($ckpt->{end} // "? ($ckpt->{waldump})"));
is($ckpt->{record}, 'CHECKPOINT_SHUTDOWN', 'node1 wrote its shutdown checkpoint');

eval { $sw->finish; };
my $sw_rc = $sw->result(0);
note("patronictl switchover (exit $sw_rc, " . sprintf('%.1f s', time() - $t_sw) . "):\n$sw_out");
is($sw_rc, 0, 'patronictl switchover exits 0');
like($sw_out, qr/Successfully switched over to "node2"/, 'patronictl: successfully switched over to node2');

ok(wait_leader($cl, $n2, 30), 'node2 leads');
ok(wait_streaming($cl, $n2, $n1, 60), 'node1 rejoins as a replica of node2 and streams');
# Each member publishes its timeline in the DCS once per Patroni loop: node1
# may still show the old one for a loop after it streams.
my $m;
wait_for(
	sub {
		$m = cluster_members($cl) or return 0;
		($m->{node1}{timeline} // -1) eq ($m->{node2}{timeline} // -2);
	},
	30, "/cluster to show node1 on node2's timeline");
is($m->{node1}{role}, 'replica', '/cluster: node1 is a replica');
is($m->{node1}{timeline}, $m->{node2}{timeline}, "/cluster: node1 follows node2's timeline ($m->{node2}{timeline})");

# node2 received the shutdown checkpoint before its promotion.
my $switch = switchpoint($n2, $ckpt->{tli});
note("node2 left timeline $ckpt->{tli} at " . ($switch // '?'));
ok(defined $ckpt->{end}, 'the end of node1\'s shutdown checkpoint is known');
is($switch, $ckpt->{end}, 'node2 was promoted exactly at the end of node1\'s shutdown checkpoint');
my $after = substr(patroni_log($n1), $plog);
unlike($after, qr/pg_rewind/, 'node1 rejoined without pg_rewind');
my ($local) = $after =~ /(Local timeline=\d+ lsn=\S+)/;
note("node1's Patroni: " . ($local // 'no timeline check logged'));

# The audit log: the stale walsender, and only it.
audit_only_stale($g, $c->{walsender}, $slot, $physical);

# The consumer's slot on the new leader: what it confirmed, unmoved by
# the guard (Patroni advanced the copy to exactly that).
is(stop_proc($c), 0, 'the consumer ended with its walsender');
is(slot_confirmed_flush($n2, $slot), $confirmed,
	"slot $slot on node2 is at what the consumer confirmed ($confirmed)");
# And the consumer resumes there: it gets what is written after, and
# nothing it had confirmed (its output file is appended to).
my $outfile = log_file("consumer_$slot") . '.out';
my $off = -s $outfile // 0;
my $again = start_permanent_consumer($n2, $slot, 'healthy');
$n2->safe_psql('postgres', "INSERT INTO t VALUES (2, 'after-switchover')");
ok(wait_until(sub { index(substr(slurp_file($outfile), $off), 'after-switchover') >= 0 }, 30,
		'the consumer to get the new row'),
	"a consumer resumes on node2's slot $slot and receives new rows");
unlike(substr(slurp_file($outfile), $off), qr/stale-row-1/, 'and not again what it had confirmed');
is(stop_proc($again), 0, 'the resumed consumer stops cleanly');

stop_guard($g);
teardown_cluster($cl);
note(sprintf('total %.1f s', time() - $t_start));
done_testing();
