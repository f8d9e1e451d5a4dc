# A server that refuses sessions while it starts up is not shutting down.
# After an immediate stop (our session ends with 57P01) the server is
# started again as a standby with hot_standby = off: it refuses every new
# session with 57P03 while postmaster.pid says "starting".  The guard must
# not take that for a shutdown of the new postmaster (it would then wait
# for that postmaster to exit, and end its logical walsenders at the
# deadline while it runs); once the server is promoted it observes again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $g = start_guard($node, 'startup', [ '--deadline', '2s', '--stall-after', '1h' ]);

$node->stop('immediate');
mark_stopped($node);
# It may see postmaster.pid say "stopping" first, or only its session end
# and the file go: either way the stop is audited, and the session is gone.
ok(wait_audit($g, 'shutdown_completed', 1), 'the guard saw the immediate stop end');
$node->append_conf('postgresql.conf', 'hot_standby = off');
$node->set_standby_mode;
my $rc = system_log('pg_ctl', '-D', $node->data_dir, '-l', $node->logfile, 'start', '--no-wait');
is($rc, 0, 'started as a standby that refuses sessions');
# PostgreSQL 15 writes "starting" at start-up, "standby" once it could
# take read-only sessions (which hot_standby = off refuses).
ok(wait_until(sub { pidfile_status($node) =~ /^(starting|standby)$/ }, 30,
		'postmaster.pid to name the new postmaster'),
	'postmaster.pid says "' . pidfile_status($node) . '"');
$node->_update_pid(1);
my $pm = postmaster_pid($node);
ok(wait_log($g, qr/could not connect to PostgreSQL: .*(not accepting connections|starting up|hot standby)/i, 1, 20),
	'the guard was refused (57P03) by the starting server');
ok(observe_for(3, sub { !grep { ($_->{postmaster_pid} // 0) == $pm } audit_events($g, 'shutdown_started') },
		'no shutdown_started for the starting postmaster'),
	'a starting server is not taken for a shutdown');

$node->promote;
ok(wait_log($g, qr/state "waiting" -> "observing"/, 2, 30), 'once it accepts sessions the guard observes again');
# (the immediate stop may have made it close its session once, legitimately)
my $closed = count_log($g, qr/closed own session/);
ok(observe_for(2, sub { count_log($g, qr/closed own session/) == $closed }, 'no "closed own session"'),
	'and keeps its session');
is(scalar audit_events($g, 'terminated'), 0, 'nothing was terminated');
stop_guard($g);
done_testing();
