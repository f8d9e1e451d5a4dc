# Two switchovers on a real Patroni 4 cluster (Debian trixie's patroni
# 4.0.7, etcd 3.5, PostgreSQL 17; node1 on 127.0.0.1, node2 on 127.0.0.2),
# a guard beside each member, the hooks wired as a user would wire them:
#   postgresql.before_stop: demotion-guard hook before-stop --url URL
#   postgresql.pre_promote: demotion-guard hook pre-promote --self NAME ...
# and the test's stale logical client on the leader's permanent slot.
#
# a. node1 -> node2: Patroni runs before_stop (no arguments, a near-empty
#    environment: --url on the command line finds the guard); the stalled
#    walsender is ended through SQL before Patroni's stop signal (audit
#    "terminated" method sql, its ts before the postmaster log's "received
#    fast shutdown request"), the stop is immediate (far under --deadline)
#    and the switchover completes.
# c. node2's pre_promote arms node1's guard (trigger pre_promote).
# d. Nothing lost: every row inserted before the switchover reaches a
#    consumer that reconnects to node2 (Patroni 4.0.7 copied the permanent
#    slot there itself), and so does every row inserted after.
# e. node2 -> node1 with the client reconnecting between the arm and the
#    stop (measured with Patroni 4.0.7: the arm ends the walsender 4 ms
#    after the hook starts, the stop signal follows 3-4 ms later; here
#    node2's before_stop waits, bounded, until the client is back and the
#    guard has polled its walsender, so the race is won every time): the
#    new walsender is not stalled yet, but it
#    holds a slot this arm ended as stalled, so it is ended at shutdown
#    start (reason stalled), not once it is stalled itself (--stall-after)
#    nor at the deadline.
# Every before_stop Patroni ran (also for replica restarts) is timed from
# its Patroni log.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use Time::Local ();
use GuardTest;
use PatroniTest;

skip_without_patroni();
if (!patroni_at_least('3.0.3'))
{
	BAIL_OUT('CI: Patroni ' . (patroni_version() // '?') . ' has no before_stop') if ($ENV{CI} // '') eq 'true';
	plan skip_all => 'Patroni ' . (patroni_version() // '?') . ' has no before_stop';
}
note('Patroni ' . patroni_version());

my $slot     = 'stale';
my $deadline = 20;     # long: an ending at the deadline cannot pass for an early one
my $stall    = 6;      # --stall-after: a new walsender is not stalled before that
my $fast     = 3;      # what a stop with the stalled walsender ended early may take
my $dg       = $ENV{DG_BIN};
my $dir      = "$PostgreSQL::Test::Utils::tmp_check/" . GuardTest::test_name();
my $flag     = "$dir/gap.flag";     # node2's before_stop waits for the client
my $back     = "$dir/gap.ready";    # ... until this file says it is back
mkdir $dir;

# Epoch seconds of "YYYY-MM-DD HH:MM:SS.mmm" or "...T...Z" or "...,mmm" (UTC).
sub epoch
{
	my ($ts) = @_;
	return undef unless $ts && $ts =~ /^(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)[.,](\d+)/;
	return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + "0.$7";
}

# Times (epoch) of a fast shutdown in $n's server log after byte $from:
# the last "checkpoint complete" before the request (Patroni's CHECKPOINT,
# after which it runs before_stop), the request, and "shut down".
sub stop_times
{
	my ($n, $from) = @_;
	my $log = substr(server_log($n), $from);
	my $pre = qr/^(\S+ \S+)(?: UTC| GMT)? \[\d+\] /m;
	my ($asked) = $log =~ /$pre\S+ : LOG:  received fast shutdown request/;
	my ($down)  = $log =~ /$pre\S+ : LOG:  database system is shut down/;
	my ($head)  = split /received fast shutdown request/, $log;
	my @ckpt    = $head =~ /$pre\S+ : LOG:  checkpoint complete/g;
	return (epoch($ckpt[-1]), epoch($asked), epoch($down));
}

# Every "before_stop script ... exited with N" in $n's Patroni log after
# byte $from, with the time Patroni logged it: ([epoch, exit code], ...).
sub before_stops
{
	my ($n, $from) = @_;
	my @r;
	my $log = substr(patroni_log($n), $from // 0);
	while ($log =~ /^(\S+ \S+) INFO: before_stop script `[^`]*` exited with (\d+)/mg)
	{
		push @r, [ epoch($1), $2 ];
	}
	return @r;
}

# The walsenders a guard reports as stalled, by slot.
sub stalled_slots
{
	my ($g) = @_;
	my ($st, $w) = http_req($g, 'GET', '/v1/walsenders');
	return () unless $st == 200;
	return map { $_->{slot} // () } grep { ($_->{risk} // '') eq 'stalled' } @{ $w->{walsenders} };
}

# Runs "patronictl switchover" from $from to $to in the background.
sub start_switchover
{
	my ($from, $to) = @_;
	my $out = '';
	my $h = IPC::Run::start([ $PatroniTest::PATRONICTL, '-c', $from->{config}, 'switchover',
			'--leader', $from->{name}, '--candidate', $to->{name}, '--force' ],
		'<', \undef, '>&', \$out, IPC::Run::timeout(120));
	return { h => $h, out => \$out, t => time() };
}

# Waits for a switchover started by start_switchover; checks it succeeded.
sub finish_switchover
{
	my ($sw, $to) = @_;
	eval { $sw->{h}->finish; };
	my $rc = $sw->{h}->result(0);
	note("patronictl switchover (exit $rc, " . sprintf('%.1f s', time() - $sw->{t}) . "):\n${ $sw->{out} }");
	is($rc, 0, 'patronictl switchover exits 0');
	like(${ $sw->{out} }, qr/Successfully switched over to "\Q$to->{name}\E"/,
		"patronictl: successfully switched over to $to->{name}");
	return;
}

# The audit "terminated" events of $g for walsender $pid.
sub terminated_of
{
	my ($g, $pid) = @_;
	return grep { ($_->{pid} // 0) == $pid } audit_events($g, 'terminated');
}

my $t_start = time();
my $etcd = start_etcd();
my $cl = new_cluster($etcd,
	slots          => { $slot => { type => 'logical', database => 'postgres', plugin => 'test_decoding' } },
	postgresql_for => sub {
		my ($n) = @_;
		my $url = "http://$n->{ip}:$n->{guard_port}";
		my $before_stop = "$dg hook before-stop --url $url";
		if ($n->{name} eq 'node2')
		{
			# e: the same hook, then (only while the test's flag exists) a
			# bounded wait until the client is back.
			my $script = "$n->{dir}/before_stop.sh";
			open my $fh, '>', $script or die "$script: $!";
			print $fh "#!/bin/sh\n$before_stop\nrc=\$?\n"
			  . "if [ -e $flag ]; then\n\trm -f $flag\n\ti=0\n"
			  . "\twhile [ ! -s $back ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i + 1)); done\nfi\n"
			  . "exit \$rc\n";
			close $fh;
			chmod 0755, $script;
			$before_stop = $script;
		}
		return {
			before_stop => $before_stop,
			pre_promote => "$dg hook pre-promote --self $n->{name} --patroni-url $n->{rest}"
			  . " --guard-port $n->{guard_port} --deadline 30s",
		};
	});
my ($n1, $n2, $c1) = start_stale_pair($cl, $slot);
note(sprintf('cluster up in %.1f s', time() - $t_start));

$_->{plog_guard} = length(patroni_log($_)) for ($n1, $n2);
my $g1 = start_cluster_guard($n1, 'node1', [ '--deadline', "${deadline}s", '--stall-after', "${stall}s" ]);
my $g2 = start_cluster_guard($n2, 'node2', [ '--deadline', "${deadline}s", '--stall-after', "${stall}s" ]);
ok(wait_log($g1, qr/signal path available/, 1, 10), "node1's guard has the signal path");

# Rows for d, before the switchover: the stale client gets them (and
# confirms only up to the start of the last message it got).
$n1->safe_psql('postgres', "INSERT INTO t SELECT i, 'before-' || i FROM generate_series(100, 109) i");
ok(wait_until(sub { file_contains($c1->{out}, 'before-109') }, 30, 'the client to get the rows'),
	'the stale client received the rows inserted before the switchover');
$n1->safe_psql('postgres', 'CHECKPOINT');
ok(wait_until(sub { grep { $_ eq $slot } stalled_slots($g1) }, 30, "$slot stalled"),
	"node1's guard sees the walsender on $slot as stalled");
my $physical1 = walsender_pid_of_app($n1, 'node2');

# ---------------------------------------------------------------------------
# a + c + d. node1 -> node2, with the hooks for real.
my $pm1   = postmaster_pid($n1);
my $slog1 = length(server_log($n1));
my $plog1 = length(patroni_log($n1));
my $plog2 = length(patroni_log($n2));
my $sw = start_switchover($n1, $n2);
my $t_stop = wait_stopping_fine($n1, 60);
ok($t_stop, 'Patroni stops node1: postmaster.pid says "stopping"');
my $t_gone = wait_for(sub { !proc_alive($pm1) && time() }, $deadline + 20, "postmaster $pm1 to exit", 0.01);
ok($t_gone, "node1's shutdown ends");
my $took = ($t_gone || time()) - ($t_stop // time());
note(sprintf('measured a: stop (stopping -> postmaster exit) %d ms, deadline %d ms', $took * 1000, $deadline * 1000));
cmp_ok($took, '<', $fast, "node1's stop took under $fast s: not held until the deadline");
finish_switchover($sw, $n2);
ok(wait_leader($cl, $n2, 30), 'node2 leads');

my @t1 = terminated_of($g1, $c1->{walsender});
is(scalar @t1, 1, 'a: node1\'s guard ended the stale walsender once');
my $t = $t1[0] // {};
is($t->{method}, 'sql',     'a: through SQL');
is($t->{reason}, 'stalled', 'a: reason stalled');
is($t->{slot},   $slot,     "a: slot $slot");
my ($armed) = grep { ($_->{trigger} // '') eq 'before_stop' } audit_events($g1, 'armed');
ok($armed, 'a: node1\'s guard was armed by before_stop (trigger before_stop)');
my ($ckpt, $asked, $down) = stop_times($n1, $slog1);
my @bs = before_stops($n1, $plog1);
ok(@bs >= 1 && $bs[0][1] == 0, "a: node1's Patroni ran before_stop, which exited 0");
my ($t_arm, $t_term) = (epoch($armed->{ts}), epoch($t->{ts}));
ok(defined $asked && defined $t_term && $t_term < $asked,
	'a: the walsender was ended before Patroni\'s stop signal (audit ts < "received fast shutdown request")');
note(sprintf('measured a: checkpoint complete -> armed %d ms, armed -> terminated (sql) %d ms, '
		  . 'terminated -> fast shutdown request %d ms, armed -> before_stop logged done %d ms, '
		  . 'before_stop logged done -> request %d ms, request -> shut down %d ms',
		map { defined $_ ? $_ * 1000 : -1 }
		  (($ckpt && $t_arm) ? $t_arm - $ckpt : undef), (($t_arm && $t_term) ? $t_term - $t_arm : undef),
		  (($t_term && $asked) ? $asked - $t_term : undef), (($bs[0] && $t_arm) ? $bs[0][0] - $t_arm : undef),
		  (($bs[0] && $asked) ? $asked - $bs[0][0] : undef),
		  (($asked && $down) ? $down - $asked : undef)))
  if defined $asked;
is(scalar(grep { ($_->{pid} // 0) == ($physical1 // -1) || ($_->{kind} // '') eq 'physical' } read_audit($g1)),
	0, 'a: no audit event about the physical walsender');

# c. node2's pre_promote armed node1's guard, never its own.
ok(wait_patroni_log($n2, qr/pre_promote script .* exited with 0/, 10, $plog2),
	"c: node2's Patroni ran pre_promote, which exited 0");
ok(scalar(grep { ($_->{trigger} // '') eq 'pre_promote' } wait_audit($g1, 'armed', 2, 10)),
	"c: node1's guard was armed by node2's pre-promote (trigger pre_promote)");
is(scalar(grep { ($_->{trigger} // '') eq 'pre_promote' } audit_events($g2, 'armed')), 0,
	"c: node2's guard was not armed by its own pre-promote");

# d. The client comes back on node2 (stale again, for e) and gets
# everything: the rows from before (the copy of the slot is at what it
# had confirmed, or behind) and the rows after.
is(stop_proc($c1), 0, 'the first client ended with its walsender');
my $c2 = start_permanent_consumer($n2, $slot);
$n2->safe_psql('postgres', "INSERT INTO t SELECT i, 'after-' || i FROM generate_series(200, 209) i");
ok(wait_until(sub { file_contains($c2->{out}, 'after-209') }, 30, 'the client to get the new rows'),
	'd: the client reconnected to node2 receives rows inserted after the switchover');
my $all = slurp_file($c1->{out}) . slurp_file($c2->{out});
my @missing = grep { index($all, $_) < 0 } (map { "before-$_" } 100 .. 109), (map { "after-$_" } 200 .. 209);
is("@missing", '', 'd: every row inserted before and after the switchover was received at least once');

# ---------------------------------------------------------------------------
# e. node2 -> node1, the client back between the arm and the stop.
ok(wait_streaming($cl, $n2, $n1, 60), 'node1 rejoins as a replica of node2');
make_stale($n2, $c2, 2);
wait_slot_confirmed($n2, $c2);
ok(wait_replica_ready($cl, $n2, $n1, $slot), "node1 holds a usable copy of slot $slot");
ok(wait_until(sub { grep { $_ eq $slot } stalled_slots($g2) }, 30, "$slot stalled"),
	"node2's guard sees the walsender on $slot as stalled");
my $pm2   = postmaster_pid($n2);
my $slog2 = length(server_log($n2));
$plog2 = length(patroni_log($n2));
unlink $back;
open my $fh, '>', $flag or die "$flag: $!";
close $fh;
$sw = start_switchover($n2, $n1);
ok(wait_until(sub { !proc_alive($c2->{pid}) }, 30, 'the stale client to lose its walsender'),
	'e: the arm ended the stalled walsender (its client exited)');
ok(wait_until(sub { $n2->safe_psql('postgres',
			"SELECT active_pid IS NULL FROM pg_replication_slots WHERE slot_name = '$slot'") eq 't' },
		10, "slot $slot to be free"), "e: slot $slot is free again");
my $c3 = start_permanent_consumer($n2, $slot);
# The guard must have seen the new walsender through SQL before the stop:
# seen only in /proc, this fresh walsender is not proven logical (seen
# here: no database file open yet), counts as physical and is left alone,
# and the stop waits for it with no bound.
ok(wait_until(sub {
			my ($st, $w) = http_req($g2, 'GET', '/v1/walsenders');
			$st == 200 && grep { ($_->{pid} // 0) == $c3->{walsender} } @{ $w->{walsenders} };
		}, 10, 'the guard to see the new walsender'),
	"e: node2's guard sees the new walsender $c3->{walsender} before the stop");
{
	open my $b, '>', $back or die "$back: $!";
	print $b "$c3->{walsender}\n";
	close $b;
}
note("e: the client is back before the stop, walsender $c3->{walsender}");
$t_stop = wait_stopping_fine($n2, 60);
ok($t_stop, 'Patroni stops node2');
$t_gone = wait_for(sub { !proc_alive($pm2) && time() }, $deadline + 20, "postmaster $pm2 to exit", 0.01);
ok($t_gone, "node2's shutdown ends");
$took = ($t_gone || time()) - ($t_stop // time());
note(sprintf('measured e: stop (stopping -> postmaster exit) %d ms, deadline %d ms', $took * 1000, $deadline * 1000));
cmp_ok($took, '<', $fast,
	"e: node2's stop took under $fast s: the new walsender did not hold it until it was stalled (${stall} s) or the deadline");
finish_switchover($sw, $n1);
ok(wait_leader($cl, $n1, 30), 'node1 leads again');
my @t3 = terminated_of($g2, $c3->{walsender});
is(scalar @t3, 1, 'e: node2\'s guard ended the new walsender once');
is($t3[0]{reason}, 'stalled', 'e: reason stalled (a slot this arm ended as stalled), not deadline');
($ckpt, $asked, $down) = stop_times($n2, $slog2);
my $t3ts = epoch($t3[0]{ts});
note(sprintf('measured e: fast shutdown request -> new walsender terminated (%s) %d ms',
		$t3[0]{method} // '?', ($t3ts - $asked) * 1000))
  if defined $asked && defined $t3ts;
ok(defined $asked && defined $t3ts && $t3ts - $asked < 1,
	'e: ended within 1 s of the stop signal');
my @t2 = terminated_of($g2, $c2->{walsender});
is(scalar @t2, 1, 'e: and the first, stalled walsender before it');
is($t2[0]{method}, 'sql', 'e: that one through SQL');
stop_proc($c3);

# Every before_stop Patroni ran, with how long after it the stop signal
# came (the replicas' restarts too: Patroni runs it on every stop).
# Before its guard ran the hook exits 1 (nothing to arm), as documented.
for my $n ($n1, $n2)
{
	my @early = before_stops($n, 0);
	my @all = before_stops($n, $n->{plog_guard});
	splice @early, scalar(@early) - scalar(@all);
	note(sprintf('measured hooks: %s ran before_stop %d time(s) with its guard running (exit %s), '
		  . '%d time(s) before (exit %s)', $n->{name}, scalar @all, join(',', map { $_->[1] } @all),
		scalar @early, join(',', map { $_->[1] } @early)));
	is(scalar(grep { $_->[1] != 0 } @all), 0, "$n->{name}: every before_stop with the guard running exited 0");
}

stop_cluster_guard($g1);
stop_cluster_guard($g2);
teardown_cluster($cl);
note(sprintf('total %.1f s', time() - $t_start));
done_testing();
