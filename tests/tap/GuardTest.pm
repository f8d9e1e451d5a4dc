# GuardTest.pm - shared setup for demotion-guard's integration tests
#
# Builds on PostgreSQL's own TAP framework (PostgreSQL::Test::Cluster and
# ::Utils): a primary with wal_level=logical, optionally a streaming physical
# standby, the test's logical consumers (tests/tools/logical-consumer, in
# "stale", "healthy" or "silent" mode), pg_recvlogical, and the guard itself,
# all started in the background with IPC::Run and logging into
# $PostgreSQL::Test::Utils::log_path so that tests/run-tap shows the logs of
# a failing test.  Every wait polls with a timeout; nothing sleeps blindly.
#
# Environment (set by tests/run-tap): DG_BIN (the guard), DG_CONSUMER (the
# test client).

package GuardTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(basename);
use File::Path ();
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Time::Local ();

our @EXPORT = qw(
  wait_until observe_for test_name log_file
  new_primary new_standby
  start_consumer start_recvlogical stop_proc proc_alive
  make_stale wait_slot_confirmed slot_confirmed_flush
  start_guard stop_guard guard_log count_log wait_log wait_guard_polled
  read_audit audit_events wait_audit audit_ts restart_after_sigkill
  stop_nowait pidfile_status postmaster_pid wait_postmaster_gone mark_stopped
  wait_stopping walsender_pid_of_app file_contains postmaster_children
  guard_url http_req
);

# Every process started here, so that END can stop what a failed test left.
my @started;

# Default timeout of a wait, in seconds: generous, the suite stays fast
# because waits end as soon as their condition holds.
our $TIMEOUT = 30;

# The test's name, from the script: "002_deadline".
sub test_name
{
	return basename($0, '.pl');
}

# A log file path under tmp_check/log named after the test and $what.
sub log_file
{
	my ($what) = @_;
	return "$PostgreSQL::Test::Utils::log_path/" . test_name() . "_$what.log";
}

# Calls $cond every $interval seconds (0.1; finer for measurements) until
# it returns true or $timeout seconds pass.  Returns the condition's last
# value (false on timeout, after a diag naming $what).  Never dies.
sub wait_until
{
	my ($cond, $timeout, $what, $interval) = @_;
	$timeout  //= $TIMEOUT;
	$interval //= 0.1;
	my $end = time() + $timeout;
	while (1)
	{
		my $r = $cond->();
		return $r if $r;
		if (time() >= $end)
		{
			diag("timed out after ${timeout}s waiting for " . ($what // 'a condition'));
			return $r;
		}
		usleep($interval * 1_000_000);
	}
}

# The bounded "still true" observation: checks $cond every 100 ms for
# $seconds.  Returns true when it held at every check; false (with a diag)
# at the first check where it did not.
sub observe_for
{
	my ($seconds, $cond, $what) = @_;
	my $end = time() + $seconds;
	while (time() < $end)
	{
		if (!$cond->())
		{
			diag("stopped holding during the observation: " . ($what // 'a condition'));
			return 0;
		}
		usleep(100_000);
	}
	return $cond->() ? 1 : 0;
}

# Creates and starts a primary with wal_level=logical and a table t(id, v).
sub new_primary
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v text)');
	return $node;
}

# Creates a streaming physical standby of $primary (through a physical slot
# named after it) and waits until it streams and has replayed everything.
# Call it before anything else connects to $primary: on PostgreSQL 16 and
# later the primary is stopped for a moment (see below).
sub new_standby
{
	my ($primary, $name) = @_;
	$primary->safe_psql('postgres',
		"SELECT pg_create_physical_replication_slot('$name')");
	if ($primary->pg_version >= 16)
	{
		# The client tools are Debian's PostgreSQL 15, and pg_basebackup
		# 15 refuses newer servers ("incompatible server version"): copy
		# the data directory cold instead.  pg_basebackup leaves the
		# primary's slots out; a file copy has them, so drop them from it.
		$primary->stop;
		$primary->backup_fs_cold("${name}_backup");
		$primary->start;
		my $slots = $primary->backup_dir . "/${name}_backup/pg_replslot";
		File::Path::rmtree([ glob("$slots/*") ]);
	}
	else
	{
		$primary->backup("${name}_backup");
	}
	my $standby = PostgreSQL::Test::Cluster->new($name);
	# has_streaming writes primary_conninfo, and standby.signal (12+) or
	# "standby_mode = on" in recovery.conf (10, 11: Cluster.pm's V_11).
	$standby->init_from_backup($primary, "${name}_backup", has_streaming => 1);
	if ($standby->pg_version >= 12)
	{
		$standby->append_conf('postgresql.conf', "primary_slot_name = '$name'");
	}
	else
	{
		# primary_slot_name is a recovery.conf setting before 12 (12 moved
		# it to postgresql.conf and refuses a recovery.conf).  And before
		# 12 the walreceiver's application_name is "walreceiver", not the
		# cluster_name, so name it: the tests find the standby's walsender
		# in pg_stat_replication by application_name.  A later
		# primary_conninfo in recovery.conf replaces the one
		# init_from_backup wrote.
		$standby->append_conf('recovery.conf',
			"primary_slot_name = '$name'\n"
			  . "primary_conninfo = '" . $primary->connstr . " application_name=$name'");
	}
	$standby->start;
	$primary->wait_for_catchup($name, 'replay');
	return $standby;
}

# Is a process alive (and not a zombie)?
sub proc_alive
{
	my ($pid) = @_;
	return 0 unless $pid && kill(0, $pid);
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $stat = <$fh>;
	close $fh;
	return 0 unless defined $stat;
	my ($state) = $stat =~ /\)\s+(\S)/;
	return defined $state && $state ne 'Z' && $state ne 'X';
}

# Starts a background command, output (stdout and stderr) to $log (appended
# to with append => 1, else the file is begun anew).  Returns
# { h => harness, pid => OS pid, name => $name, log => $log }.
sub start_bg
{
	my ($name, $cmd, $log, %opts) = @_;
	note("starting $name: @$cmd");
	my $h = IPC::Run::start($cmd, '<', \undef, $opts{append} ? '>>&' : '>&', $log);
	my $p = { h => $h, pid => $h->{KIDS}[0]{PID}, name => $name, log => $log };
	push @started, $p;
	return $p;
}

# Stops a background process: SIGTERM, then SIGKILL if it is still there
# after $timeout seconds.  Returns its exit status (the exit code, or 128 +
# signal), or undef when it had to be killed.
sub stop_proc
{
	my ($p, $timeout) = @_;
	return $p->{rc} if exists $p->{rc};
	$timeout //= 10;
	kill('TERM', $p->{pid}) if proc_alive($p->{pid});
	my $ok = wait_until(sub { !proc_alive($p->{pid}) }, $timeout, "$p->{name} to exit");
	if (!$ok)
	{
		kill('KILL', $p->{pid});
		wait_until(sub { !proc_alive($p->{pid}) }, 5, "$p->{name} to die");
	}
	eval { $p->{h}->finish; };
	my $st = $p->{h}->full_result(0);
	my $rc = !defined $st ? undef : ($st & 127) ? 128 + ($st & 127) : $st >> 8;
	$p->{rc} = $ok ? $rc : undef;
	@started = grep { $_ != $p } @started;
	return $p->{rc};
}

# Does $file exist and contain $text?
sub file_contains
{
	my ($file, $text) = @_;
	return 0 unless -f $file;
	return index(slurp_file($file), $text) >= 0;
}

# Starts a logical-consumer on $node: slot $opts{slot} (created unless
# create => 0), mode $opts{mode}.  Waits until it streams; returns the
# process hash with {walsender} (its walsender's pid), {out} (its output).
sub start_consumer
{
	my ($node, %opts) = @_;
	my $slot  = $opts{slot} or die "start_consumer: no slot";
	my $mode  = $opts{mode} or die "start_consumer: no mode";
	my $base  = log_file("consumer_$slot");
	my $out   = "$base.out";
	my $ready = "$base.ready";
	unlink $ready;
	my @cmd = ($ENV{DG_CONSUMER}, '--dsn', $opts{dsn} // $node->connstr('postgres'),
		'--slot', $slot, '--mode', $mode, '--output', $out,
		'--ready-file', $ready);
	push @cmd, '--create-slot' unless defined $opts{create} && !$opts{create};
	push @cmd, '--status-interval', $opts{status_interval} if $opts{status_interval};
	my $p = start_bg("consumer $slot ($mode)", \@cmd, $base);
	$p->{slot} = $slot;
	$p->{out}  = $out;
	wait_until(sub { -s $ready }, $TIMEOUT, "consumer $slot to stream")
	  or die "consumer $slot did not start streaming";
	($p->{walsender}) = slurp_file($ready) =~ /(\d+)/;
	note("consumer $slot: walsender pid $p->{walsender}");
	return $p;
}

# Creates logical slot $slot and starts "pg_recvlogical -s 1" on it, writing
# to a file and looping (reconnecting) on disconnects.  Waits until its
# walsender streams; returns the process hash with {walsender}, {out}.
sub start_recvlogical
{
	my ($node, $slot) = @_;
	$node->safe_psql('postgres',
		"SELECT pg_create_logical_replication_slot('$slot', 'test_decoding')");
	my $base = log_file("recvlogical_$slot");
	my $out  = "$base.out";
	my $p    = start_bg("pg_recvlogical $slot",
		[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '-S', $slot,
		  '--start', '-f', $out, '-s', '1', '-F', '1', '-v' ], $base);
	$p->{slot} = $slot;
	$p->{out}  = $out;
	$p->{walsender} = wait_until(
		sub {
			$node->safe_psql('postgres',
				"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot' AND active_pid IS NOT NULL"
			);
		},
		$TIMEOUT,
		"pg_recvlogical on $slot to stream") or die "pg_recvlogical did not start";
	note("pg_recvlogical $slot: walsender pid $p->{walsender}");
	return $p;
}

# The pid of the walsender whose application_name is $app ('' when none).
sub walsender_pid_of_app
{
	my ($node, $app) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_replication WHERE application_name = '$app' AND state = 'streaming'"
	);
}

# The slot's confirmed_flush_lsn as text ('' when none).
sub slot_confirmed_flush
{
	my ($node, $slot) = @_;
	return $node->safe_psql('postgres',
		"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
}

# Waits until the stale consumer's slot confirms the LSN of the last message
# it wrote (the "X/X" that starts its output's last line).  Returns that LSN.
sub wait_slot_confirmed
{
	my ($node, $c) = @_;
	my $lsn;
	wait_until(
		sub {
			my @lines = grep { /\S/ } split /\n/, slurp_file($c->{out});
			return 0 unless @lines;
			($lsn) = $lines[-1] =~ m{^([0-9A-F]+/[0-9A-F]+) };
			return 0 unless $lsn;
			return slot_confirmed_flush($node, $c->{slot}) eq $lsn;
		},
		$TIMEOUT,
		"slot $c->{slot} to confirm the last message its consumer received")
	  or die "slot $c->{slot} did not confirm";
	return $lsn;
}

# Makes a stale consumer block any fast shutdown: inserts a row tagged $tag,
# waits until the consumer wrote it, runs CHECKPOINT as a separate statement
# (WAL that decodes to nothing), and waits until its walsender has sent more
# than the consumer confirmed.  Dies when that does not happen.
sub make_stale
{
	my ($node, $c, $id) = @_;
	my $tag = "$c->{slot}-row-$id";
	$node->safe_psql('postgres', "INSERT INTO t VALUES ($id, '$tag')");
	wait_until(sub { file_contains($c->{out}, $tag) }, $TIMEOUT,
		"consumer $c->{slot} to receive $tag")
	  or die "consumer $c->{slot} did not receive $tag";
	$node->safe_psql('postgres', 'CHECKPOINT');
	wait_until(
		sub {
			$node->safe_psql('postgres',
				"SELECT sent_lsn > coalesce(nullif(flush_lsn, '0/0'), write_lsn) "
				  . "FROM pg_stat_replication WHERE pid = $c->{walsender}") eq 't';
		},
		$TIMEOUT,
		"walsender $c->{walsender} ($c->{slot}) to have sent more than confirmed")
	  or die "consumer $c->{slot} is not lagging";
	return;
}

# Starts the guard against $node with the given extra options, audit log
# and log file named after $tag.  Returns the process hash with {audit} and
# {log}.  Waits until it logged "observing" unless wait_observing => 0.
# %opts: dsn, no_pgdata, listen (default off: or in @$args), wrap (a command
# prefix, e.g. unshare; sets {wrapped}).
sub start_guard
{
	my ($node, $tag, $args, %opts) = @_;
	my $log   = log_file("guard_$tag");
	my $audit = log_file("guard_${tag}_audit");
	unlink $log, $audit;
	my $dsn = $opts{dsn} // $node->connstr('postgres');
	my @cmd = (@{ $opts{wrap} // [] }, $ENV{DG_BIN}, 'run', '--dsn', $dsn,
		($opts{no_pgdata} ? () : ('--pgdata', $node->data_dir)),
		'--poll-interval', '250ms', '--audit-log', $audit, '--log-level', 'debug',
		'--listen', $opts{listen} // 'off', @$args);
	my $p = start_bg("guard $tag", \@cmd, $log);
	$p->{audit} = $audit;
	$p->{wrapped} = 1 if $opts{wrap};
	if (!defined $opts{wait_observing} || $opts{wait_observing})
	{
		wait_log($p, qr/state "waiting" -> "observing"/, 1)
		  or die "guard $tag did not connect";
		$p->{observing} = 1;
	}
	return $p;
}

# The guard's HTTP base URL ("http://127.0.0.1:PORT"), from its log line
# "HTTP API listening on ..." (start it with --listen 127.0.0.1:0 to get a
# free port).  Sets $g->{url}.  Over TCP it also waits until the API serves
# what the main loop published (503 "starting" before its first turn ends),
# and, for a guard start_guard saw connect, a view that is past "waiting":
# the log line comes a moment before the view that shows it.
sub guard_url
{
	my ($g) = @_;
	my $addr;
	wait_until(
		sub { ($addr) = guard_log($g) =~ /HTTP API listening on (\S+)/; $addr },
		$TIMEOUT, "$g->{name} to listen")
	  or die "$g->{name} does not listen";
	$g->{url} = $addr =~ /^unix:/ ? $addr : "http://$addr";
	return $g->{url} if $addr =~ /^unix:/;
	wait_until(
		sub {
			my ($st, $j) = http_req($g, 'GET', '/v1/status');
			$st == 200 && (!$g->{observing} || ($j->{phase} // 'waiting') ne 'waiting');
		},
		$TIMEOUT, "$g->{name}'s API to serve its first view")
	  or die "$g->{name}'s API does not serve";
	return $g->{url};
}

# One HTTP request to the guard: $method $path with an optional raw $body
# and %opts token => bearer, headers => {...}.  Returns (status, decoded
# JSON body or undef, raw body, response headers).
sub http_req
{
	my ($g, $method, $path, $body, %opts) = @_;
	my %h = %{ $opts{headers} // {} };
	$h{Authorization} = "Bearer $opts{token}" if defined $opts{token};
	$h{'Content-Type'} //= 'application/json' if $method eq 'POST';
	my $r = HTTP::Tiny->new(timeout => 15)->request($method, "$g->{url}$path",
		{ headers => \%h, defined $body ? (content => $body) : () });
	my $json = eval { JSON::PP->new->decode($r->{content}) };
	return ($r->{status}, $json, $r->{content}, $r->{headers});
}

# Stops the guard with SIGTERM and checks that it exits 0.
sub stop_guard
{
	my ($g) = @_;
	my $rc = stop_proc($g);
	is($rc, 0, "$g->{name} exits 0 on SIGTERM");
	return;
}

# The guard's log so far.
sub guard_log
{
	my ($g) = @_;
	return -f $g->{log} ? slurp_file($g->{log}) : '';
}

# How many lines of the guard's log match $re.
sub count_log
{
	my ($g, $re) = @_;
	return scalar grep { $_ =~ $re } split /\n/, guard_log($g);
}

# Waits until at least $n lines of the guard's log match $re.
sub wait_log
{
	my ($g, $re, $n, $timeout) = @_;
	$n //= 1;
	return wait_until(sub { count_log($g, $re) >= $n }, $timeout, "$n line(s) matching $re in $g->{log}");
}

# Waits until the guard has run its walsender query $times (2) times after
# this call, so that what exists now (consumers, lags) is known to it:
# looks for its query (SELECT r.pid, ... pg_stat_replication ...) in
# pg_stat_activity.  A timeout fails the test (whether or not the caller
# asserts the result too) and returns false.
sub wait_guard_polled
{
	my ($node, $times) = @_;
	$times //= 2;
	for my $i (1 .. $times)
	{
		my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
		next if wait_until(
			sub {
				$node->safe_psql('postgres',
					"SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
					  . "AND query LIKE 'SELECT r.pid,%pg_stat_replication%' "
					  . "AND query_start > '$since'") > 0;
			},
			$TIMEOUT,
			"the guard to poll pg_stat_replication");
		fail("the guard polled pg_stat_replication (poll $i of $times within ${TIMEOUT}s)");
		return 0;
	}
	return 1;
}

# Parses the audit log: a list of hashes, one per line.  Dies on a line
# that is not a JSON object with "ts" and "event".
sub read_audit
{
	my ($g) = @_;
	my $file = ref $g ? $g->{audit} : $g;
	return () unless -f $file;
	my @events;
	my $json = JSON::PP->new;
	for my $line (split /\n/, slurp_file($file))
	{
		next unless $line =~ /\S/;
		my $e = eval { $json->decode($line) };
		die "audit log $file: not JSON: $line\n" unless ref $e eq 'HASH';
		die "audit log $file: no ts/event: $line\n" unless $e->{ts} && $e->{event};
		push @events, $e;
	}
	return @events;
}

# The audit events named $event.
sub audit_events
{
	my ($g, $event) = @_;
	return grep { $_->{event} eq $event } read_audit($g);
}

# An audit event's "ts" (2026-12-02T02:40:44.911Z, the guard's wall clock)
# as epoch seconds; undef when missing or malformed.
sub audit_ts
{
	my ($e) = @_;
	return undef
	  unless ($e->{ts} // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d(?:\.\d+)?)Z$/;
	return Time::Local::timegm(0, $5, $4, $3, $2 - 1, $1) + $6;
}

# After the postmaster $pm of $node was SIGKILLed and its orphans ended:
# it is reaped, and PostgreSQL starts again (the postmaster.pid it left
# holds the shared memory key that the start checks) and answers.
sub restart_after_sigkill
{
	my ($node, $pm) = @_;
	ok(wait_until(sub { !-e "/proc/$pm" }), 'the killed postmaster is reaped');
	$node->_update_pid(-1);
	ok($node->start(fail_ok => 1), 'PostgreSQL starts again (no shared memory left in use)');
	is($node->safe_psql('postgres', 'SELECT 1'), '1', 'and answers');
	return;
}

# Waits until the audit log has at least $n events named $event; returns them.
sub wait_audit
{
	my ($g, $event, $n, $timeout) = @_;
	$n //= 1;
	my @ev;
	wait_until(sub { @ev = audit_events($g, $event); @ev >= $n },
		$timeout, "$n audit event(s) \"$event\"");
	return @ev;
}

# Starts a shutdown in $mode (fast, smart) without waiting for it.  Returns
# the time it was asked for.
sub stop_nowait
{
	my ($node, $mode) = @_;
	$mode //= 'fast';
	my $t0 = time();
	my $rc = system_log('pg_ctl', '-D', $node->data_dir, '-m', $mode, 'stop', '--no-wait');
	die "pg_ctl -m $mode stop --no-wait failed: $rc" if $rc != 0;
	return $t0;
}

# Line 8 of postmaster.pid, trimmed ('' when there is no such file).
sub pidfile_status
{
	my ($node) = @_;
	my $f = $node->data_dir . '/postmaster.pid';
	open my $fh, '<', $f or return '';
	my @lines = <$fh>;
	close $fh;
	my $s = $lines[7] // '';
	$s =~ s/\s+$//;
	return $s;
}

# Line 1 of postmaster.pid (undef when there is no such file).
sub postmaster_pid
{
	my ($node) = @_;
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or return undef;
	my $pid = <$fh>;
	close $fh;
	chomp $pid if defined $pid;
	return $pid;
}

# The process titles of the postmaster $pm's children, from /proc
# ("postgres: primary: checkpointer", ...).  A child that exits while it
# is read is skipped.
sub postmaster_children
{
	my ($pm) = @_;
	my @titles;
	opendir my $d, '/proc' or die "opendir /proc: $!";
	for my $pid (grep { /^\d+$/ } readdir $d)
	{
		open my $fh, '<', "/proc/$pid/stat" or next;
		my $stat = <$fh>;
		close $fh;
		next unless defined $stat && $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pm;
		open $fh, '<', "/proc/$pid/cmdline" or next;
		my $title = join ' ', grep { length } split /\0/, (<$fh> // '');
		close $fh;
		push @titles, $title;
	}
	closedir $d;
	return @titles;
}

# Waits until postmaster.pid says "stopping".
sub wait_stopping
{
	my ($node) = @_;
	return wait_until(sub { pidfile_status($node) eq 'stopping' }, $TIMEOUT,
		'postmaster.pid to say "stopping"');
}

# Waits until the postmaster $pid has exited and postmaster.pid is gone.
# Returns the time that was seen (undef on timeout).
sub wait_postmaster_gone
{
	my ($node, $pid, $timeout) = @_;
	my $ok = wait_until(
		sub { !proc_alive($pid) && !-e $node->data_dir . '/postmaster.pid' },
		$timeout, "postmaster $pid to exit");
	return $ok ? time() : undef;
}

# Tells the framework that a node stopped by hand is down, so that its END
# block does not try (and fail) to stop it.
sub mark_stopped
{
	my ($node) = @_;
	$node->_update_pid(0);
	return;
}

# Whatever a failed test left running: stop it before the framework's END
# (which runs after this one: END blocks run last-defined first) stops the
# servers.
END
{
	my $exit = $?;
	for my $p (reverse @started)
	{
		kill('TERM', $p->{pid}) if proc_alive($p->{pid});
	}
	for my $p (reverse @started)
	{
		my $end = time() + 5;
		usleep(50_000) while proc_alive($p->{pid}) && time() < $end;
		kill('KILL', $p->{pid}) if proc_alive($p->{pid});
		eval { $p->{h}->finish; };
	}
	$? = $exit;
}

1;
