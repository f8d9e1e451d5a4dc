# A postmaster is known by its PID and its start time, not its PID alone
# (issue 11, defect 2).  In a PID namespace PIDs repeat: a server started
# twice in a fresh one ("unshare --user --map-user --pid --fork
# --mount-proc", which the postgres user may do here) gets the same PID
# both times.  The guard, outside, follows the first smart stop to its end;
# the second server's smart stop, same PID, must be seen too: the guard
# closes its own session (which would hold a smart shutdown) and audits a
# second shutdown.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $node = PostgreSQL::Test::Cluster->new('ns');
$node->init;
my $dir = $node->data_dir;
my @unshare = ('unshare', '--user', '--map-user=' . $<, '--map-group=' . (split / /, $()[0],
	'--pid', '--fork', '--mount-proc', '--kill-child');

# The host PIDs of the children of $ppid.
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open my $fh, '<', $stat or next;
		my $line = <$fh> // '';
		close $fh;
		push @kids, $1 if $line =~ /^(\d+) .*\) \S+ (\d+) / && $2 == $ppid;
	}
	return @kids;
}

# Lines 1 and 3 of postmaster.pid ('' when absent).
sub pidfile_lines
{
	open my $fh, '<', "$dir/postmaster.pid" or return ('', '');
	my @l = <$fh>;
	close $fh;
	chomp @l;
	return ($l[0] // '', $l[2] // '');
}

# Starts the server as the child of a shell that is PID 1 of a fresh PID
# namespace; waits until it accepts sessions.  Returns the unshare process,
# with {pm} the postmaster's host PID and {ns_pid}, {start} lines 1 and 3.
sub start_in_namespace
{
	my ($n) = @_;
	my $p = GuardTest::start_bg("postgres in PID namespace $n",
		[ @unshare, 'sh', '-c', 'postgres -D "$0" & wait $!', $dir ],
		log_file("postgres_ns$n"));
	ok(wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, "server $n to accept sessions"),
		"server $n runs in a PID namespace of its own")
	  or die "server $n did not start (is unshare permitted?)";
	my ($sh) = children_of($p->{pid});
	($p->{pm}) = children_of($sh // 0);
	($p->{ns_pid}, $p->{start}) = pidfile_lines();
	ok($p->{pm}, "server $n: postmaster host PID " . ($p->{pm} // '?') . ", PID $p->{ns_pid} in its namespace");
	return $p;
}

# A smart stop (SIGTERM to the postmaster) that must complete while the
# guard runs; returns the seconds it took (undef when it did not end).
sub smart_stop
{
	my ($p) = @_;
	my $t0 = time();
	kill('TERM', $p->{pm}) or die "kill $p->{pm}: $!";
	my $ok = wait_until(sub { !proc_alive($p->{pm}) && !-e "$dir/postmaster.pid" }, 15,
		"postmaster $p->{pm} to exit");
	return $ok ? time() - $t0 : undef;
}

my $s1 = start_in_namespace(1);
my $guard = start_guard($node, 'ns', [ '--deadline', '30s', '--stall-after', '1h' ]);
my $took = smart_stop($s1);
ok(defined $took, 'the first smart stop completes with the guard running');
my @done = wait_audit($guard, 'shutdown_completed', 1);
is($done[0]{postmaster_pid}, $s1->{ns_pid}, "shutdown_completed names postmaster $s1->{ns_pid}") if @done;
stop_proc($s1);

# The next start must fall in a later second (line 3 has second resolution).
wait_until(sub { time() >= $s1->{start} + 1.1 }, 5, 'a later second');
my $s2 = start_in_namespace(2);
is($s2->{ns_pid}, $s1->{ns_pid}, "the second postmaster has the same PID, $s2->{ns_pid}");
isnt($s2->{start}, $s1->{start}, "but another start time ($s2->{start}, was $s1->{start})");
ok(wait_log($guard, qr/state "waiting" -> "observing"/, 2), 'the guard connects to the second server');

$took = smart_stop($s2);
ok(defined $took, 'the second smart stop, same PID, is not held up by the guard\'s session');
note(sprintf('second smart stop took %.2f s', $took)) if defined $took;
ok(wait_log($guard, qr/closed own session: the server is shutting down/, 2),
	'the guard closed its own session at the second stop');
my @started = wait_audit($guard, 'shutdown_started', 2);
is(scalar @started, 2, 'audit: two shutdown_started');
@done = wait_audit($guard, 'shutdown_completed', 2);
is(scalar @done, 2, 'audit: two shutdown_completed');
is($done[1]{postmaster_pid}, $s2->{ns_pid}, 'the second names the same PID') if @done > 1;

stop_guard($guard);
ok(wait_until(sub { !proc_alive($s2->{pm}) }, 15, 'the second server to exit'), 'the second server is down');
stop_proc($s2);
done_testing();
