# The SQL path.  A guard that cannot see the postmaster (no --pgdata, and a
# role that may not read data_directory) says at start-up that the signal
# path is unavailable.  In a smart shutdown its session still works when the
# shutdown is noticed, so a stalled walsender of a non-superuser is ended by
# pg_terminate_backend() (pg_signal_backend); a superuser's walsender is
# refused by SQL, and with no signal path that is audited as
# terminate_failed with both reasons.  Nothing is signalled by the guard.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $primary = new_primary('primary');
$primary->safe_psql('postgres', q{
	CREATE ROLE guardsql LOGIN;
	GRANT pg_read_all_stats, pg_signal_backend TO guardsql;
	CREATE ROLE app LOGIN REPLICATION;
});
my $app = start_consumer($primary, slot => 'app', mode => 'stale',
	dsn => $primary->connstr('postgres') . ' user=app');
my $su = start_consumer($primary, slot => 'su', mode => 'stale');

# Control: a superuser guard without --pgdata takes the server's
# data_directory, having checked that its session is a child of the
# postmaster there, and so has the signal path.
my $su_guard = start_guard($primary, 'adopt', [], no_pgdata => 1);
ok(wait_log($su_guard, qr/using data directory ".*" reported by the server/),
	'a superuser guard adopts the server\'s data directory');
ok(wait_log($su_guard, qr/signal path available/), 'and with it the signal path');
stop_guard($su_guard);

my $guard = start_guard($primary, 'sqlpath', [ '--deadline', '1h', '--stall-after', '1s' ],
	dsn => $primary->connstr('postgres') . ' user=guardsql', no_pgdata => 1);
like(guard_log($guard), qr/signal path unavailable: no data directory/,
	'start-up says the signal path is unavailable, and why');
unlike(guard_log($guard), qr/not a member of pg_(read_all_stats|signal_backend)/,
	'no privilege warning for a role with pg_read_all_stats and pg_signal_backend');

make_stale($primary, $app, 1);
make_stale($primary, $su, 2);
# Both stalled: behind and unmoved for more than --stall-after.
ok(observe_for(2.5, sub {
	$primary->safe_psql('postgres', 'SELECT count(*) FROM pg_stat_replication '
		  . "WHERE sent_lsn > flush_lsn AND pid IN ($app->{walsender}, $su->{walsender})") == 2
	}, 'both walsenders behind'), 'both clients stay behind for longer than --stall-after');
ok(wait_guard_polled($primary), 'the guard polled what exists now');

my $pm = postmaster_pid($primary);
stop_nowait($primary, 'smart');
my ($t) = wait_audit($guard, 'terminated');
ok($t, 'audit: terminated');
is($t->{pid}, $app->{walsender}, 'the non-superuser\'s stalled walsender was ended');
is($t->{method}, 'sql', 'by pg_terminate_backend()');
is($t->{reason}, 'stalled', 'because it was stalled');
my ($f) = wait_audit($guard, 'terminate_failed');
ok($f, 'audit: terminate_failed');
is($f->{pid}, $su->{walsender}, 'for the superuser\'s walsender');
# The server's refusal: up to 15 "must be a superuser to terminate superuser
# process"; from 16 "permission denied to terminate process", the superuser
# rule moved to the DETAIL ("Only roles with the SUPERUSER attribute may
# terminate processes of roles with the SUPERUSER attribute").
like($f->{sql_error} // '',
	$primary->pg_version >= 16 ? qr/permission denied to terminate process/ : qr/superuser/i,
	'SQL refused it: only a superuser may');
like($f->{error} // '', qr/signal path unavailable/, 'and there is no signal path');
ok(wait_log($guard, qr/closed own session: the server is shutting down/),
	'the guard closed its session so the smart shutdown can proceed');
ok(proc_alive($su->{walsender}), 'the superuser\'s walsender still holds the shutdown up');
is(scalar audit_events($guard, 'terminated'), 1, 'nothing else was terminated');

# Clean up what the guard could not: the stuck walsender.
kill 'TERM', $su->{walsender};
ok(defined wait_postmaster_gone($primary, $pm, 30), 'the server stops once it is gone');
mark_stopped($primary);
ok(wait_audit($guard, 'shutdown_completed'), 'audit: shutdown_completed');

stop_guard($guard);
stop_proc($_) for ($app, $su);
done_testing();
