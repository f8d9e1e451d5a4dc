# One full cycle of the guard under valgrind's memcheck: start, watch a
# PostgreSQL 15 primary with a stale logical consumer and a healthy one, a
# fast stop, the stale walsender ended by a verified SIGTERM at the
# deadline, an HTTP status read, SIGTERM to the guard and a clean exit 0.
# memcheck must report 0 errors and 0 bytes definitely or indirectly lost.
#
# valgrind does not know pidfd_open (it answers ENOSYS, "unhandled
# amd64-linux syscall: 434"), so this cycle also proves proc.c's kill()
# fallback: the same proof (postmaster, PID, start time, title), then
# kill(), and only the stale walsender is signalled.
#
# Skipped when valgrind is not installed (apt-get install valgrind).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

my $valgrind = (grep { -x "$_/valgrind" } split /:/, $ENV{PATH})[0];
plan skip_all => 'valgrind is not installed' unless $valgrind;
$valgrind .= '/valgrind';

my $deadline = 4;
my $primary = new_primary('primary');
my $stale   = start_consumer($primary, slot => 'stale',   mode => 'stale');
my $healthy = start_consumer($primary, slot => 'healthy', mode => 'healthy');

# The guard under memcheck, through a wrapper that start_guard runs as the guard.
my $vglog = log_file('valgrind');
my $wrapper = "$PostgreSQL::Test::Utils::tmp_check/valgrind-guard";
unlink $vglog;
open my $fh, '>', $wrapper or die "$wrapper: $!";
print $fh "#!/bin/sh\nexec $valgrind --tool=memcheck --leak-check=full "
  . "--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
  . "--track-origins=yes --error-exitcode=99 --log-file=$vglog $ENV{DG_BIN} \"\$@\"\n";
close $fh;
chmod 0755, $wrapper or die "chmod $wrapper: $!";

my $guard;
{
	local $ENV{DG_BIN} = $wrapper;
	local $GuardTest::TIMEOUT = 120;    # memcheck runs the guard many times slower
	$guard = start_guard($primary, 'valgrind',
		[ '--deadline', "${deadline}s", '--stall-after', '1h', '--listen', '127.0.0.1:0' ]);
	guard_url($guard);
}
ok(-s $vglog, 'the guard runs under valgrind');

$primary->safe_psql('postgres',
	"INSERT INTO t SELECT i, 'row-' || i FROM generate_series(1, 5) i");
ok(wait_until(sub { file_contains($healthy->{out}, "'row-5'") }, 60, 'healthy to receive row-5'),
	'the healthy consumer received the rows');
make_stale($primary, $stale, 6);
ok(wait_guard_polled($primary), 'the guard polled what exists now');
my ($st, $status) = http_req($guard, 'GET', '/v1/status');
is($st, 200, 'GET /v1/status answers 200 under valgrind');

my $pm = postmaster_pid($primary);
my $t0 = stop_nowait($primary);
my $gone = wait_postmaster_gone($primary, $pm, 90);
ok(defined $gone, 'the fast stop completes with the guard running');
mark_stopped($primary);
note(sprintf('stop took %.2f s', defined $gone ? $gone - $t0 : -1));

my ($done) = wait_audit($guard, 'shutdown_completed', 1, 60);
ok($done, 'audit: shutdown_completed');
my @term = audit_events($guard, 'terminated');
is(scalar @term, 1, 'audit: exactly one walsender terminated');
is($term[0]{pid},    $stale->{walsender}, 'terminated: the stale walsender') if @term;
is($term[0]{reason}, 'deadline',          'terminated: reason deadline')   if @term;
is($term[0]{method}, 'signal',            'terminated: by signal (kill() under valgrind)')
  if @term;
is(scalar audit_events($guard, 'terminate_failed'), 0, 'audit: no terminate_failed');
is(scalar(grep { ($_->{pid} // 0) == $healthy->{walsender} || ($_->{slot} // '') eq 'healthy' }
		  read_audit($guard)),
	0, 'no audit event names the healthy walsender');

my $rc = stop_proc($guard, 60);
is($rc, 0, 'the guard exits 0 on SIGTERM under valgrind (memcheck found no error)');

my $report = -f $vglog ? slurp_file($vglog) : '';
note("valgrind: $_") for grep { /ERROR SUMMARY|definitely lost|indirectly lost|in use at exit|All heap blocks|unhandled/ } split /\n/, $report;
like($report, qr/unhandled \S+ syscall: 434/,
	'valgrind refused pidfd_open (434): the walsender was ended through the kill() fallback');
like($report, qr/ERROR SUMMARY: 0 errors from 0 contexts/, 'memcheck: 0 errors');
ok($report =~ /All heap blocks were freed/ || $report =~ /definitely lost: 0 bytes in 0 blocks/,
	'memcheck: 0 bytes definitely lost');
ok($report =~ /All heap blocks were freed/ || $report =~ /indirectly lost: 0 bytes in 0 blocks/,
	'memcheck: 0 bytes indirectly lost');

stop_proc($_) for ($healthy, $stale);
done_testing();
