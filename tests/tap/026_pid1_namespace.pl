# The postmaster is PID 1 of a PID namespace of its own (PostgreSQL's
# container, seen from a guard that does not share its namespace: the
# Dockerfile's example without --pid), so postmaster.pid says "1".  The
# guard must refuse the signal path, as it always did, and say truly why:
# PID 1 here is another process (the host's init) or the guard itself (PID
# 1 of a namespace of its own, as a container's entrypoint is), and
# PostgreSQL runs in another PID namespace; not that PID 1 "works in"
# another directory or "started at another time".  Namespaces of an
# unprivileged user (unshare --map-current-user), as the tests run as
# "postgres".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

if (system('unshare --map-current-user --pid --fork --mount-proc true >/dev/null 2>&1') != 0)
{
	plan skip_all => 'unshare --map-current-user --pid cannot make namespaces here';
}

my $node = new_primary('ns');
$node->stop('fast');
my $pgdata = $node->data_dir;

# The postmaster as PID 1 of its own namespace; its PID here is unshare's child.
my $pm = GuardTest::start_bg(
	'postmaster in a PID namespace',
	[ 'unshare', '--map-current-user', '--pid', '--fork', '--mount-proc', '--kill-child=SIGQUIT',
	  "$ENV{PG_BINDIR}/postgres", '-D', $pgdata ],
	log_file('postmaster_ns'));
ok(wait_until(sub { (postmaster_pid($node) // '') eq '1' && pidfile_status($node) eq 'ready' }),
	'postmaster.pid says PID 1, ready');
my $sql_ok = wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 });
ok($sql_ok, 'the server in its namespace takes connections');

# The processes here whose parent is $pid (unshare's child: the namespace's PID 1).
sub children_of
{
	my ($pid) = @_;
	my @kids;
	for my $d (glob('/proc/[0-9]*'))
	{
		open(my $f, '<', "$d/stat") or next;
		my $stat = <$f> // '';
		close $f;
		my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/;
		push @kids, $d =~ s{^/proc/}{}r if defined $ppid && $ppid == $pid;
	}
	return @kids;
}

my $why = qr/signal path unavailable: postmaster\.pid names PID 1, which here is/;

# 1. The guard in this (the host's) namespace: PID 1 is another process.
my $g = start_guard($node, 'host', [ '--deadline', '2s' ]);
ok(wait_log($g, qr/signal path unavailable/), 'host: the signal path is unavailable');
like(guard_log($g), qr/$why another process \("[^"]*"\), not the postmaster: PostgreSQL runs in another PID namespace, where it is PID 1/,
	'host: it says PID 1 here is another process and PostgreSQL is in another PID namespace');
unlike(guard_log($g), qr/started at another time|works in "/, 'host: not a mismatch of time or directory');
stop_guard($g);

# 2. The guard PID 1 of a namespace of its own.
my $log = log_file('guard_own_ns');
my $own = GuardTest::start_bg(
	'guard in its own PID namespace',
	[ 'unshare', '--map-current-user', '--pid', '--fork', '--mount-proc', '--kill-child',
	  $ENV{DG_BIN}, 'run', '--dsn', $node->connstr('postgres'), '--pgdata', $pgdata,
	  '--listen', 'off', '--poll-interval', '250ms' ],
	$log);
ok(wait_until(sub { file_contains($log, 'signal path unavailable') }), 'own namespace: the signal path is unavailable');
like(slurp_file($log), qr/$why this guard itself \("demotion-guard"\), not the postmaster: PostgreSQL runs in another PID namespace/,
	'own namespace: it says PID 1 is the guard itself');
kill 'TERM', children_of($own->{pid});
ok(wait_until(sub { !proc_alive($own->{pid}) }), 'own namespace: the guard exits on SIGTERM');
stop_proc($own);

# The postmaster by its PID here (unshare waits for it), immediate.
kill 'QUIT', children_of($pm->{pid});
ok(wait_until(sub { !proc_alive($pm->{pid}) }), 'the namespaced server stopped');
stop_proc($pm);

done_testing();
