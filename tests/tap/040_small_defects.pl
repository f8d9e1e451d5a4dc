# Issue 11, defect 8, the parts that need a server or the daemon itself:
#
# - the errors for --dsn, --listen and --token-file name where the value came
#   from (flag, environment, file), as the other options' errors do;
# - --audit-log in a missing directory, or naming a directory, exits 2;
# - a superuser guard does not warn that it "lacks pg_read_all_stats" for a
#   walsender that has not sent anything yet (a replication connection that
#   has not started streaming shows NULL LSNs to everybody);
# - a guard started during a shutdown takes its first turn at once: with a
#   SIGTERM already pending when it starts, it audits the shutdown before it
#   reads the signal (the old loop waited first, read SIGTERM and ran no turn);
# - a guard started during a shutdown counts the deadline from when the
#   shutdown began (the change time of postmaster.pid, which the postmaster
#   writes "stopping" into as it begins), not from its own start.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use Time::Local;
use IPC::Run;
use GuardTest;

# The audit "ts" (2026-12-02T02:41:07.123Z) in epoch seconds.
sub ts_epoch
{
	my ($ts) = @_;
	return undef unless ($ts // '') =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+\.\d+)Z$/;
	return Time::Local::timegm(0, $5, $4, $3, $2 - 1, $1) + $6;
}

# Runs the guard to completion (it exits on a bad option); returns (rc, stderr).
sub run_guard
{
	my ($env, @args) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %$env);
	my $h = IPC::Run::start([ $ENV{DG_BIN}, 'run', @args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(10));
	# a guard that accepted the options runs on: it counts as rc -1
	if (!eval { $h->finish; 1 })
	{
		$h->kill_kill;
		return (-1, $err);
	}
	return ($h->result(0), $err);
}

my $tmp = PostgreSQL::Test::Utils::tempdir();

# --- errors name their source ------------------------------------------------
my ($rc, $err) = run_guard({ DEMOTION_GUARD_DSN => 'host=x port=5432 = ' }, '--listen', 'off');
is($rc, 2, 'a bad DSN from the environment exits 2');
like($err, qr/"--dsn" \(from environment variable DEMOTION_GUARD_DSN\)/, 'the error names the variable');
unlike($err, qr/host=x/, 'and does not repeat the DSN (it may hold a password)');

($rc, $err) = run_guard({}, '--listen', '1.2.3:4');
is($rc, 2, 'a bad --listen exits 2');
like($err, qr/"--listen".*\(source of --listen: command line\)/, 'the error names the command line');

my $conf = "$tmp/dg.conf";
open my $fh, '>', $conf or die "$conf: $!";
print $fh "# a comment\ntoken-file = $tmp/no-such-token\n";
close $fh;
($rc, $err) = run_guard({}, '--config', $conf, '--listen', 'off');
is($rc, 2, 'a missing --token-file exits 2');
like($err, qr/"--token-file" \(configuration file "\Q$conf\E" line 2\)/,
	'the error names the file and the line');

($rc, $err) = run_guard({ DEMOTION_GUARD_LISTEN => '10.0.0.1:80' });
is($rc, 2, 'a routable --listen without a token exits 2');
like($err, qr/source of --listen: from environment variable DEMOTION_GUARD_LISTEN/,
	'the error names the variable');

# --- --audit-log is checked at start-up --------------------------------------
($rc, $err) = run_guard({}, '--listen', 'off', '--audit-log', "$tmp/missing/audit.json");
is($rc, 2, '--audit-log in a missing directory exits 2');
like($err, qr/"--audit-log" \(command line\): directory "\Q$tmp\E\/missing": No such file/,
	'naming the option, the source and the directory');
($rc, $err) = run_guard({}, '--listen', 'off', '--audit-log', $tmp);
is($rc, 2, '--audit-log naming a directory exits 2');
like($err, qr/"--audit-log" \(command line\): a directory/, 'and says so');

# --- a superuser is not told it lacks pg_read_all_stats ------------------------
my $node = new_primary('primary');
my ($in, $out) = ('', '');
my $repl = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres') . ' replication=true' ],
	'<', \$in, '>&', \$out);
ok( wait_until(
		sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_replication WHERE state = 'startup' AND sent_lsn IS NULL")
			  == 1;
		},
		20,
		'an idle replication connection'),
	'a walsender that has sent nothing shows NULL LSNs');
my $g = start_guard($node, 'super', []);
ok(wait_guard_polled($node, 2), 'the superuser guard polled it');
ok(wait_log($g, qr/poll query: 1 walsender\(s\)/, 1), 'and saw it');
unlike(guard_log($g), qr/lacks pg_read_all_stats/, 'no "lacks pg_read_all_stats" warning for a superuser');
stop_guard($g);
$repl->kill_kill;

# --- a guard started during a shutdown: first turn at once, deadline from the start
my $c = start_consumer($node, slot => 'stale', mode => 'stale');
make_stale($node, $c, 1);
my $pm = postmaster_pid($node);
stop_nowait($node);
ok(wait_stopping($node), 'postmaster.pid says "stopping"');
my $began = (Time::HiRes::stat($node->data_dir . '/postmaster.pid'))[10];

# A SIGTERM pending (blocked) before the guard's exec: its signalfd is
# readable at once, so only a turn taken before the first wait audits.
my $log1 = GuardTest::log_file('guard_pending');
my $audit1 = GuardTest::log_file('guard_pending_audit');
unlink $log1, $audit1;
my $p = GuardTest::start_bg(
	'guard pending',
	[
		'perl', '-MPOSIX', '-e',
		'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGTERM)) or die; kill TERM => $$; exec @ARGV or die',
		$ENV{DG_BIN}, 'run', '--dsn', $node->connstr('postgres'), '--pgdata', $node->data_dir,
		'--audit-log', $audit1, '--listen', 'off', '--deadline', '1h', '--log-level', 'debug'
	],
	$log1);
ok(wait_until(sub { !proc_alive($p->{pid}) }, 20, 'the guard with a pending SIGTERM to exit'),
	'the guard with a pending SIGTERM exits');
is(stop_proc($p), 0, 'with status 0');
my $plog = -f $log1 ? slurp_file($log1) : '';
like($plog, qr/received Terminated, stopping/, 'it read the pending SIGTERM');
like($plog, qr/audit: \{[^\n]*"event":"shutdown_started"/s,
	'but took its first turn before: shutdown_started');
ok(-f $audit1 && slurp_file($audit1) =~ /"shutdown_started"/, 'written to the audit log');

# The deadline (4 s) counts from the shutdown's beginning: started 3 s
# after it, the guard must end the walsender before its own start + 4 s
# (it cannot on the old code) and not before the shutdown's start + 4 s.
ok(wait_until(sub { time() - $began >= 3 }, 10, '3 s into the shutdown'), '3 s into the shutdown');
ok(proc_alive($c->{walsender}) && pidfile_status($node) eq 'stopping', 'the shutdown still hangs');
my $t_start = time();
$g = start_guard($node, 'late', [ '--deadline', '4s', '--stall-after', '1h' ], wait_observing => 0);
my ($term) = wait_audit($g, 'terminated', 1, 20);
ok($term, 'audit: terminated');
my $t_term = ts_epoch($term->{ts}) if $term;
note(sprintf('shutdown began %.3f, guard started %.3f, terminated %.3f', $began, $t_start, $t_term // 0));
ok(defined $t_term && $t_term < $t_start + 4, 'before the guard\'s own start + deadline');
ok(defined $t_term && $t_term >= $began + 4 - 0.002, 'not before the shutdown\'s start + deadline');
is($term->{reason}, 'deadline', 'reason deadline') if $term;
like(guard_log($g), qr/the shutdown began \d+ ms ago \(postmaster\.pid changed then\)/,
	'the log says when the shutdown began');
ok(defined wait_postmaster_gone($node, $pm, 30), 'the server stops');
mark_stopped($node);
ok(wait_audit($g, 'shutdown_completed'), 'audit: shutdown_completed');
stop_guard($g);
stop_proc($c);

done_testing();
