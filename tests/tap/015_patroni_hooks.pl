# The hooks against a real Patroni cluster (Debian's patroni 3.0.2, etcd
# 3.4; node1 on 127.0.0.1, node2 on 127.0.0.2, each with a guard on the same
# port of its own address), with the test's stale logical client on the
# leader's permanent slot.
#
# 6a. Patroni runs "hook pre-promote" (postgresql.pre_promote) and "hook
#     callback" (callbacks.on_start/on_stop/on_role_change): a switchover
#     node1 -> node2 arms node1's guard (trigger pre_promote, found through
#     node2's Patroni /cluster), never node2's own, and each guard records
#     its member's callbacks (audit patroni_callback with Patroni's ACTION
#     ROLE SCOPE).
# 4.  The Patroni >= 3.0.3 order, emulated (3.0.2 has no before_stop), with
#     Patroni paused: "hook before-stop", then "pg_ctl stop -m fast" on the
#     leader.  The stalled walsender is ended through SQL before the stop
#     begins, and the stop is immediate, far under the deadline.
# 5.  SQL-only: the guard in PID and user namespaces of its own ("unshare
#     --user --map-root-user --pid --fork --mount-proc", which the postgres
#     user may do here) sees no PostgreSQL process: it says at start-up and
#     in /v1/status that the signal path is unavailable and why, and the
#     before-stop hook still ends the stalled walsender through SQL.
# 6b. Each hook's bound with the daemon down (not running) and hung
#     (SIGSTOP): back in under 3 s, with the exit code documented.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use GuardTest;
use PatroniTest;

skip_without_patroni();

my $slot  = 'stale';
# What a hook may take, wall clock, seconds.  The hooks bound themselves
# (1 s, SIGALRM then _exit) and take about 1.0 s here when the guard hangs;
# the margin only absorbs a loaded machine's scheduling (1.57 s seen under
# stress-ng --cpu 2): this checks that there is a bound, not how fast it is.
my $bound = 3;
my $dg    = $ENV{DG_BIN};

my $t_start = time();
my $etcd = start_etcd();
my $cl = new_cluster($etcd,
	slots          => { $slot => { type => 'logical', database => 'postgres', plugin => 'test_decoding' } },
	postgresql_for => sub {
		my ($n) = @_;
		my $cb = "$dg hook callback --url http://$n->{ip}:$n->{guard_port}";
		return {
			pre_promote => "$dg hook pre-promote --self $n->{name} --patroni-url http://$n->{ip}:$n->{rest_port}"
			  . " --guard-port $n->{guard_port} --deadline 30s",
			callbacks => { on_start => $cb, on_stop => $cb, on_role_change => $cb },
		};
	});
my ($n1, $n2, $c) = start_stale_pair($cl, $slot);
note(sprintf('cluster up in %.1f s', time() - $t_start));

# A guard beside each member, on the cluster's guard port of its address.
my $g1 = start_cluster_guard($n1, 'node1', [ '--deadline', '3s', '--stall-after', '1s' ]);
my $g2 = start_cluster_guard($n2, 'node2', [ '--deadline', '30s', '--stall-after', '1s' ]);
note("guards at $g1->{url} and $g2->{url}");

# The walsenders a guard reports as stalled, by slot.
sub stalled_slots
{
	my ($g) = @_;
	my ($st, $w) = http_req($g, 'GET', '/v1/walsenders');
	return () unless $st == 200;
	return map { $_->{slot} // () } grep { ($_->{risk} // '') eq 'stalled' } @{ $w->{walsenders} };
}

# ---------------------------------------------------------------------------
# 6a. pre-promote and callbacks, through a switchover node1 -> node2.
ok(wait_guard_polled($n1), 'the guard polled what exists now');
my $plog2 = length(patroni_log($n2));
my ($rc, $out) = patronictl($cl, 'switchover', '--leader', 'node1', '--candidate', 'node2', '--force');
note($out);
like($out, qr/Successfully switched over to "node2"/, 'switchover node1 -> node2 succeeds');
ok(wait_leader($cl, $n2, 30), 'node2 leads');
ok(wait_patroni_log($n2, qr/pre_promote script .* exited with 0/, 10, $plog2),
	"node2's Patroni ran pre_promote, which exited 0");
my @armed1 = grep { $_->{trigger} eq 'pre_promote' } wait_audit($g1, 'armed', 1);
is(scalar @armed1, 1, "node1's guard was armed by node2's pre-promote (trigger pre_promote)");
like(substr(patroni_log($n2), $plog2), qr/^demotion-guard: pre-promote: armed \Q$g1->{url}\E \(phase \w+\)$/m,
	"node2's pre-promote says it armed $g1->{url} (its output is in Patroni's log)");
is($armed1[0]{deadline_left_ms} // 0, 30000, 'with the hook\'s --deadline') if @armed1;
is(scalar(grep { $_->{trigger} eq 'pre_promote' } audit_events($g2, 'armed')), 0,
	'node2\'s own guard was not armed by its pre-promote');
my @term1 = audit_events($g1, 'terminated');
is(scalar @term1, 1, 'node1\'s guard ended the stalled walsender at the shutdown');
is($term1[0]{pid}, $c->{walsender}, 'the stale walsender') if @term1;
is(stop_proc($c), 0, 'the consumer ended with its walsender');
ok(wait_streaming($cl, $n2, $n1, 60), 'node1 rejoins as a replica of node2');

# Callbacks: Patroni appends ACTION ROLE SCOPE; they run asynchronously.
my $cb_of = sub {
	my ($g, $action, $role) = @_;
	return grep { $_->{action} eq $action && $_->{role} eq $role && $_->{scope} eq $cl->{scope} }
	  audit_events($g, 'patroni_callback');
};
ok(wait_until(sub { $cb_of->($g2, 'on_role_change', 'master') }, 15, 'node2 on_role_change master'),
	"node2's guard recorded \"on_role_change master $cl->{scope}\"");
ok(wait_until(sub { $cb_of->($g1, 'on_stop', 'demoted') || $cb_of->($g1, 'on_stop', 'master') }, 15,
		'node1 on_stop'),
	"node1's guard recorded its on_stop");
ok(wait_until(sub { $cb_of->($g1, 'on_role_change', 'replica') }, 15, 'node1 on_role_change replica'),
	"node1's guard recorded \"on_role_change replica $cl->{scope}\"");
note('node1 callbacks: ' . join(', ', map { "$_->{action} $_->{role} reset=" . ($_->{reset} ? 1 : 0) }
		audit_events($g1, 'patroni_callback')));
note('node2 callbacks: ' . join(', ', map { "$_->{action} $_->{role} reset=" . ($_->{reset} ? 1 : 0) }
		audit_events($g2, 'patroni_callback')));
# Whatever the order of the callbacks, what the operator needs holds:
# node1's guard is not left armed (by a callback's reset, or because its
# shutdown ended the arm).
my $phase_of = sub {
	my ($st, $s) = http_req($g1, 'GET', '/v1/status');
	return $st == 200 ? $s->{phase} // '' : '';
};
my $phase1;
ok(wait_until(sub { $phase1 = $phase_of->(); $phase1 ne '' && $phase1 ne 'armed' }, 15, "node1's guard not armed"),
	"node1's guard is not left armed (phase $phase1)");

# Patroni runs the callbacks asynchronously: whether its on_stop and
# on_role_change came after the switchover's arm is not fixed.  The order
# is forced here, so that the reset is checked every time: node2's
# pre-promote (the command Patroni ran) arms node1's guard again, then
# node1's callback, the command Patroni runs, with Patroni's arguments.
for my $action ('on_stop', 'on_role_change')
{
	ok(wait_until(sub { $phase_of->() eq 'observing' }, 30, "node1's guard to observe"),
		"$action: node1's guard observes its replica");
	my ($prc, $perr) = run_hook('pre-promote', '--self', 'node2', '--patroni-url', $n2->{rest},
		'--guard-port', $cl->{guard_port}, '--deadline', '30s');
	is($prc, 0, "$action: node2's pre-promote, run again, exits 0") or diag($perr);
	is($phase_of->(), 'armed', "$action: node1's guard is armed by it");
	my $seen = () = $cb_of->($g1, $action, 'replica');
	my ($crc, $cerr) = run_hook('callback', $action, 'replica', $cl->{scope}, '--url', $g1->{url});
	is($crc, 0, "$action: node1's callback exits 0") or diag($cerr);
	my @cb;
	ok(wait_until(sub { @cb = $cb_of->($g1, $action, 'replica'); @cb > $seen }, 15, "$action audited"),
		"$action: node1's guard recorded the callback");
	ok(@cb && $cb[-1]{reset}, "$action after the arm reset it (audit patroni_callback reset true)");
	isnt($phase_of->(), 'armed', "$action: node1's guard is no longer armed");
}

# ---------------------------------------------------------------------------
# 4. before-stop then a fast stop, on the leader node2, Patroni paused.
($rc, $out) = patronictl($cl, 'pause', '--wait');
like($out, qr/Success: cluster management is paused/, 'patronictl pause');

# Runs before-stop against guard $g with a stalled consumer on node2, then
# "pg_ctl stop -m fast"; checks the audit log.  $what names the case.
sub before_stop_then_stop
{
	my ($g, $what, $id) = @_;
	my $cons = start_permanent_consumer($n2, $slot);
	make_stale($n2, $cons, $id);
	ok(wait_until(sub { grep { $_ eq $slot } stalled_slots($g) }, 30, "$what: $slot stalled"),
		"$what: the guard reports the consumer stalled");
	my ($hrc, $herr, $secs) = run_hook('before-stop', '--url', $g->{url});
	note(sprintf("$what: before-stop took %.3f s: %s", $secs, $herr));
	cmp_ok($secs, '<', $bound, "$what: before-stop came back within ${bound} s");
	if ($herr =~ /: armed /)
	{
		is($hrc, 0, "$what: before-stop exits 0");
	}
	else
	{
		# Its 900 ms ran out before the guard's answer (a slow build on a
		# busy machine): it says so, and the arm it sent still counts.
		like($herr, qr/could not arm/, "$what: before-stop says it could not see the arm");
	}
	# The guard ends it in the turn that takes the arm, before it answers,
	# when that turn sees it stalled; once (make coverage on a busy machine)
	# the ending came after the hook had returned "armed".  What the stop
	# needs is that it comes before the stop begins: waited for here,
	# bounded, and checked against shutdown_started below.
	my $ended = sub { grep { ($_->{pid} // 0) == $cons->{walsender} } audit_events($g, 'terminated') };
	my @t = $ended->();
	note("$what: the stalled walsender was " . (@t ? '' : 'not yet ') . 'ended when the hook returned');
	ok(wait_until(sub { @t = $ended->(); @t == 1 }, 15, 'the stalled walsender to be ended'),
		"$what: the stalled walsender was ended on the hook's arm");
	is($t[0]{method}, 'sql',     "$what: through SQL") if @t;
	is($t[0]{reason}, 'stalled', "$what: reason stalled") if @t;
	is($t[0]{slot},   $slot,     "$what: slot $slot") if @t;
	my @a = grep { $_->{trigger} eq 'before_stop' } audit_events($g, 'armed');
	is(scalar @a, 1, "$what: armed with trigger before_stop");
	ok(wait_until(sub { !proc_alive($cons->{pid}) }, 15, 'consumer to exit'),
		"$what: the consumer's connection was ended");
	stop_proc($cons);

	my $pm = postmaster_pid($n2);
	my $t0 = time();
	my ($src, $sout, $serr) = run_cmd([ "$PatroniTest::PGBIN/pg_ctl", '-D', $n2->{data}, '-m', 'fast',
			'-w', '-t', '60', 'stop' ], 70);
	my $took = time() - $t0;
	is($src, 0, "$what: pg_ctl stop -m fast succeeds");
	# pg_ctl returns once postmaster.pid is gone, which the postmaster
	# removes just before it exits.
	ok(wait_until(sub { !proc_alive($pm) }, 10, "postmaster $pm to exit"),
		"$what: the postmaster is gone");
	note(sprintf("$what: fast stop took %d ms (deadline 30 s)", $took * 1000));
	cmp_ok($took, '<', 15, "$what: the stop was immediate, nothing held it up until the 30 s deadline");
	my ($started) = wait_audit($g, 'shutdown_started', 1);
	my ($done) = wait_audit($g, 'shutdown_completed', 1);
	ok($started && @t && $t[0]{ts} lt $started->{ts},
		"$what: the walsender was ended ($t[0]{ts}) before the shutdown began (" . ($started->{ts} // '?') . ')')
	  if @t;
	is(scalar @{ $done->{terminated} // [ 'none' ] }, 0, "$what: nothing was left to end during the shutdown");
	is(scalar audit_events($g, 'terminate_failed'), 0, "$what: no terminate_failed");
	pg_ctl_start($n2);
	return;
}

before_stop_then_stop($g2, 'before-stop', 2);

# ---------------------------------------------------------------------------
# 5. SQL-only: the guard in PID (and user) namespaces of its own.
stop_cluster_guard($g2);
my @unshare = qw(unshare --user --map-root-user --pid --fork --mount-proc --kill-child);
my ($urc, $uout, $uerr) = run_cmd([ @unshare, 'sh', '-c', 'ls /proc | grep -c "^[0-9]"' ], 10);
SKIP:
{
	skip("unshare as " . getpwuid($<) . " failed (exit $urc): $uerr", 16) if $urc != 0;
	note("processes visible in a fresh PID namespace: $uout");
	my $gns = start_cluster_guard($n2, 'sqlonly', [ '--deadline', '30s', '--stall-after', '1s' ],
		wrap => \@unshare);
	my ($why) = guard_log($gns) =~ /signal path unavailable: ([^\n]*)/;
	ok(defined $why, 'start-up log: the signal path is unavailable');
	note('why: ' . ($why // guard_log($gns)));
	like($why // '', qr/not visible|no such process|postmaster/i, 'and why: the postmaster is not visible');
	my ($st, $s) = http_req($gns, 'GET', '/v1/status');
	is($st, 200, 'GET /v1/status through the namespace boundary');
	ok(JSON::PP::is_bool($s->{paths}{signal}{available}) && !$s->{paths}{signal}{available},
		'/v1/status: paths.signal.available false');
	like($s->{paths}{signal}{why} // '', qr/\S/, "/v1/status: with a why: $s->{paths}{signal}{why}");
	ok($s->{paths}{sql}{available}, '/v1/status: paths.sql.available true');
	before_stop_then_stop($gns, 'SQL-only', 3);
	stop_cluster_guard($gns);
}

($rc, $out) = patronictl($cl, 'resume', '--wait');
like($out, qr/Success: cluster management is resumed/, 'patronictl resume');
# While paused, Patroni 3.0.2 drops the leader key of a member whose
# PostgreSQL it finds stopped ("PAUSE: removed leader lock because postgres
# is not running"), which a loop may see between the stop and the start
# above: after resume either node may lead.
my $leader;
ok(wait_for(sub {
			my $m = cluster_members($cl) or return 0;
			($leader) = grep { ($m->{ $_->{name} }{role} // '') eq 'leader'
				  && ($m->{ $_->{name} }{state} // '') eq 'running' } ($n1, $n2);
			return $leader;
		}, 30, 'a running leader'),
	'after resume a member leads: ' . ($leader ? $leader->{name} : 'none'));
my ($other) = grep { !$leader || $_ != $leader } ($n1, $n2);
ok($leader && wait_streaming($cl, $leader, $other, 30), "and the other streams from it");

# ---------------------------------------------------------------------------
# 6b. The bounds: the daemon hung (SIGSTOP: it accepts the connection and
# never answers), then not running at all (connection refused).
my @cases = (
	[ 'before-stop', [ '--url', $g1->{url} ], 1 ],
	[ 'callback', [ 'on_stop', 'replica', $cl->{scope}, '--url', $g1->{url} ], 1 ],
	[ 'pre-promote', [ '--self', 'node2', '--patroni-url', $n2->{rest}, '--guard-port', $cl->{guard_port} ], 0 ],
	[ 'pre-promote', [ '--self', 'node2', '--patroni-url', $n2->{rest}, '--guard-port', $cl->{guard_port}, '--strict' ], 1 ],
);
for my $state ('hung', 'down')
{
	if ($state eq 'hung') { kill 'STOP', $g1->{pid}; }
	else { kill 'CONT', $g1->{pid}; stop_cluster_guard($g1); }
	for my $case (@cases)
	{
		my ($name, $args, $want) = @$case;
		my ($hrc, $herr, $secs) = run_hook($name, @$args);
		my $what = "$name with node1's guard $state" . (grep({ $_ eq '--strict' } @$args) ? ' (--strict)' : '');
		note(sprintf("$what: %.3f s, exit %d: %s", $secs, $hrc, $herr));
		is($hrc, $want, "$what: exit $want");
		cmp_ok($secs, '<', $bound, sprintf("$what: back in %.3f s", $secs));
		like($herr, qr/^demotion-guard: /m, "$what: says why on stderr");
	}
}
kill 'CONT', $g1->{pid} if proc_alive($g1->{pid});

teardown_cluster($cl);
note(sprintf('total %.1f s', time() - $t_start));
done_testing();
