# A smart shutdown waits for every normal session, the guard's included: the
# guard must close its own session when it sees "stopping".  Control: an
# idle psql session does hold the smart shutdown up; with only the guard and
# a healthy logical consumer it completes.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $closed = qr/closed own session: the server is shutting down/;
my $node = new_primary('primary');
my $guard = start_guard($node, 'smart', [ '--deadline', '30s', '--stall-after', '1h' ]);

# 1. Control: an idle psql session blocks the smart shutdown.
my $in = '';
my $holder = IPC::Run::start(
	[ 'psql', '-X', '-d', $node->connstr('postgres') . ' application_name=holder' ],
	'<', \$in, '>', log_file('holder'), '2>&1');
ok( wait_until(
		sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder'") == 1;
		},
		30,
		'the psql session to connect'),
	'an idle psql session is connected');
ok(wait_guard_polled($node), 'the guard polled what exists now');

my $pm = postmaster_pid($node);
stop_nowait($node, 'smart');
ok(wait_stopping($node), 'smart stop: postmaster.pid says "stopping"');
ok(wait_log($guard, $closed, 1), 'the guard closed its own session');
ok( observe_for(3, sub { proc_alive($pm) && pidfile_status($node) eq 'stopping' },
		'the server waiting for the psql session'),
	'the psql session still holds the smart shutdown up');
$holder->finish;    # closes psql's stdin: it quits
ok(defined wait_postmaster_gone($node, $pm, 20), 'the smart shutdown completes once psql quits');
mark_stopped($node);
ok(wait_audit($guard, 'shutdown_completed', 1), 'audit: shutdown_completed after the smart shutdown');

# 2. Only the guard and a healthy consumer: the smart shutdown completes.
$node->start;
my $healthy = start_consumer($node, slot => 'healthy', mode => 'healthy');
ok(wait_log($guard, qr/state "waiting" -> "observing"/, 2, 30), 'the guard reconnected');
ok(wait_guard_polled($node), 'the guard polled what exists now');
$node->safe_psql('postgres', "INSERT INTO t VALUES (1, 'one')");
ok(wait_until(sub { file_contains($healthy->{out}, "'one'") }, 30, 'the healthy consumer to receive the row'),
	'the healthy consumer streams');

$pm = postmaster_pid($node);
stop_nowait($node, 'smart');
ok(defined wait_postmaster_gone($node, $pm, 20), 'the smart shutdown completes with the guard connected');
mark_stopped($node);
# The guard logs it just after closing the session that let the stop end.
ok(wait_log($guard, $closed, 2), 'the guard closed its own session at this shutdown too');
is(count_log($guard, $closed), 2, 'once per shutdown');
my @done = wait_audit($guard, 'shutdown_completed', 2);
is(scalar @done, 2, 'audit: a shutdown_completed for each shutdown');
is(scalar audit_events($guard, 'terminated'), 0, 'nothing was terminated');
is(stop_proc($healthy), 0, 'the healthy consumer ended cleanly');
stop_guard($guard);

done_testing();
