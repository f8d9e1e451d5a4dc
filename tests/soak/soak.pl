#!/usr/bin/perl
# make soak: repeated fast stops of a real PostgreSQL primary (with a
# streaming physical standby) under the guard, with a random mix of stale,
# healthy, silent and ahead logical clients, and faults injected at random:
#
#   guard_restart    the guard SIGTERMed and started again mid-shutdown
#   pm_sigkill       the postmaster SIGKILLed mid-shutdown (after its shutdown
#                    checkpoint): the guard must end the orphaned walsenders,
#                    and PostgreSQL must start again
#   disk_full        the audit log's tmpfs filled before the stop, freed after
#   http_flood       GET /health from 8 clients in a loop and 32 slow
#                    connections (a header byte a second) during enforcement
#   pid_reused       a healthy walsender's PID taken, once it exits mid-shutdown,
#                    by a decoy with a walsender's title (ns_last_pid)
#   foreign_pidfile  with the primary down, a second cluster's postmaster.pid
#                    ("stopping", a stale walsender holding it) copied into the
#                    primary's data directory
#
# Cycle i always injects fault number i mod 6 and each other one with
# probability 1/5.  After every cycle it checks, and at the end prints a
# table; the last five rows must be 0 (exit 1 otherwise):
#
#   wrong kills        a terminated event for anything but this cycle's
#                      stale/silent/ahead walsenders, one before the deadline,
#                      or a decoy / second-cluster walsender that died (a
#                      healthy walsender ended at the deadline by a guard
#                      restarted mid-shutdown, which knows it from /proc only
#                      and cannot tell it from a stale one, is counted apart)
#   slots moved        a slot dropped, or its confirmed_flush_lsn lower after
#                      the restart than before the stop (after a SIGKILLed
#                      postmaster: than the slot's state file before the stop,
#                      what PostgreSQL 15 keeps through a crash)
#   audit lost/torn    a line that is not whole JSON; an event the guard
#                      logged that is not in the file once the disk has room;
#                      a cycle without shutdown_started/shutdown_completed; a
#                      held-up walsender gone without a terminated event
#   deadlines missed   stop request -> postmaster and its walsenders gone
#                      longer than deadline + 500 ms (the end: the server log's
#                      "database system is shut down"; after the SIGKILL, the
#                      last orphan seen gone)
#   stops hanging      not gone within 20 s, or PostgreSQL not starting again
#
# Run as root (tmpfs, ns_last_pid); the servers and the guard run as
# "postgres".  CYCLES (default 200), SOAK_DEADLINE_MS (1000), SOAK_PORT
# (25600: below both the TAP framework's ports, 49152 and up, and the
# kernel's ephemeral ones, so that a test run beside it never takes a port
# of a cluster the soak has stopped and starts again), SOAK_SEED, KEEP=1 keeps the work directory, SOAK_FAULTS (a
# comma-separated list of the faults above: only those are injected, cycle i
# the one number i mod their count and each other with probability 1/5),
# SOAK_LOG_LEVEL (the guard's --log-level, info).  SIGINT or SIGTERM ends it
# after the current cycle, with the table of the cycles done.
use strict;
use warnings;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use File::Temp qw(tempdir);
use JSON::PP;
use IO::Socket::INET;

my $top = $ENV{DG_TOP} // do { my $d = $0; $d =~ s{/tests/soak/[^/]*$}{}; $d eq $0 ? '.' : $d };
my $PGBIN = $ENV{PG_BINDIR} // '/usr/lib/postgresql/15/bin';
my $CYCLES = $ENV{CYCLES} // 200;
my $DEADLINE = $ENV{SOAK_DEADLINE_MS} // 1000;
my $PORT = $ENV{SOAK_PORT} // 25600;    # A: PORT, standby: +1, B: +2, guard HTTP: +3
my $GPORT = $PORT + 3;
my $SEED = $ENV{SOAK_SEED} // time() ^ $$;
my @FAULTS = qw(guard_restart pm_sigkill disk_full http_flood pid_reused foreign_pidfile);
my @MODES = qw(stale healthy silent ahead);
my @DRAWN = @FAULTS;
if (defined $ENV{SOAK_FAULTS} && $ENV{SOAK_FAULTS} ne '')
{
	my %known = map { $_ => 1 } @FAULTS;
	@DRAWN = split /,/, $ENV{SOAK_FAULTS};
	for (@DRAWN)
	{
		die "soak: SOAK_FAULTS: unknown fault \"$_\" (known: @FAULTS)\n" unless $known{$_};
	}
	die "soak: SOAK_FAULTS: no fault named\n" unless @DRAWN;
}
my %drawable = map { $_ => 1 } @DRAWN;
my $LOG_LEVEL = $ENV{SOAK_LOG_LEVEL} // 'info';

die "soak: run as root (tmpfs for the audit disk, ns_last_pid for a reused PID)\n" if $> != 0;
die "soak: $PGBIN/postgres not found (make deps)\n" unless -x "$PGBIN/postgres";
-x "$top/$_" or die "soak: $top/$_ missing (make)\n" for qw(demotion-guard tests/tools/logical-consumer);
srand($SEED);
$| = 1;

my ($pg_uid, $pg_gid) = (getpwnam('postgres'))[ 2, 3 ];
defined $pg_uid or die "soak: no postgres user\n";
my $work = tempdir('/tmp/dg-soak.XXXXXX');
my $mnt = "$work/auditfs";
my $audit = "$mnt/audit.log";
my (%kids, $guard, $gn, $mounted);
my $json = JSON::PP->new->canonical;

sub say { print join('', @_), "\n" }
sub note { print STDERR "soak: ", @_, "\n" }

# ------------------------------------------------------------------ processes
# Start a command as postgres in the background, output to $log; its PID.
sub spawn
{
	my ($log, @cmd) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		open STDIN, '<', '/dev/null';
		open STDOUT, '>>', $log or POSIX::_exit(127);
		open STDERR, '>&', \*STDOUT;
		POSIX::setgid($pg_gid);
		POSIX::setuid($pg_uid);
		exec @cmd or POSIX::_exit(127);
	}
	$kids{$pid} = 1;
	return $pid;
}

# Run a command as postgres to completion; its exit status.
sub run_pg
{
	my (@cmd) = @_;
	my $pid = spawn('/dev/null', @cmd);
	waitpid($pid, 0);
	delete $kids{$pid};
	return $? >> 8;
}

sub reap { for (keys %kids) { delete $kids{$_} if waitpid($_, WNOHANG) > 0 } }

# /proc start time of a PID (field 22), undef when gone or a zombie.
sub start_ticks
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return undef;
	my $s = <$fh> // '';
	close $fh;
	return undef unless $s =~ /\)\s+(\S)\s+(.*)$/;
	return undef if $1 eq 'Z' || $1 eq 'X';
	my @f = split ' ', $2;
	return $f[18];
}
sub ppid_of { open my $fh, '<', "/proc/$_[0]/stat" or return 0; my $s = <$fh> // ''; return $s =~ /\)\s+\S\s+(\d+)/ ? $1 : 0 }
sub same_proc { my ($p) = @_; my $t = start_ticks($p->{pid}); return defined $t && $t eq $p->{ticks} }
sub ident { my ($pid) = @_; my $t = start_ticks($pid); return defined $t ? { pid => $pid, ticks => $t } : undef }

# Children of a PID (identities).
sub children
{
	my ($pm) = @_;
	opendir my $d, '/proc' or die "/proc: $!";
	my @c = map { ident($_) } grep { /^\d+$/ && ppid_of($_) == $pm } readdir $d;
	return grep { defined } @c;
}

# Wait (10 ms steps) until $cond or $secs pass; the condition's value.
sub wait_until
{
	my ($cond, $secs) = @_;
	my $end = time() + $secs;
	while (1)
	{
		my $v = $cond->();
		return $v if $v || time() >= $end;
		sleep 0.01;
	}
}

# ---------------------------------------------------------------- PostgreSQL
sub psql
{
	my ($port, $q) = @_;
	my $out = '';
	my $pid = open(my $fh, '-|') // die "fork: $!";
	if ($pid == 0)
	{
		open STDERR, '>', '/dev/null';
		POSIX::setgid($pg_gid);
		POSIX::setuid($pg_uid);
		exec { "$PGBIN/psql" } "$PGBIN/psql", '-X', '-h', $work, '-p', $port, '-U', 'postgres', '-d', 'postgres', '-qAt',
		  '-c', $q
		  or POSIX::_exit(127);
	}
	local $/;
	$out = <$fh> // '';
	close $fh;
	chomp $out;
	return $? == 0 ? $out : undef;
}

sub lsn { my ($t) = @_; return -1 unless ($t // '') =~ m{^([0-9A-F]+)/([0-9A-F]+)$}i; return hex($1) * 2**32 + hex($2) }

sub init_cluster
{
	my ($name, $port, %o) = @_;
	my $d = "$work/$name";
	run_pg("$PGBIN/initdb", '-D', $d, '-U', 'postgres', '-A', 'trust', '--no-sync') == 0
	  or die "initdb $name failed\n";
	open my $fh, '>>', "$d/postgresql.conf" or die;
	print $fh "port = $port\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '$work'\n",
	  "wal_level = logical\nmax_wal_senders = 20\nmax_replication_slots = 20\nfsync = off\n",
	  "log_checkpoints = on\nlog_line_prefix = '%m [%p] '\n";
	close $fh;
	open $fh, '>>', "$d/pg_hba.conf" or die;
	print $fh "host replication all 127.0.0.1/32 trust\n";
	close $fh;
	return $d;
}

sub pg_start
{
	my ($d) = @_;
	return run_pg("$PGBIN/pg_ctl", '-D', $d, '-l', "$d.log", '-w', '-t', '30', 'start') == 0;
}

sub pm_of
{
	my ($d) = @_;
	open my $fh, '<', "$d/postmaster.pid" or return undef;
	my $p = <$fh>;
	chomp $p if defined $p;
	return $p;
}

# ------------------------------------------------------------------- guard
sub start_guard
{
	$gn++;
	my $log = "$work/guard.$gn.log";
	my $pid = spawn($log, "$work/demotion-guard", 'run', '--dsn',
		"host=$work port=$PORT dbname=postgres user=postgres", '--pgdata', "$work/a",
		'--deadline', "${DEADLINE}ms", '--stall-after', '1h', '--poll-interval', '250ms',
		'--audit-log', $audit, '--listen', "127.0.0.1:$GPORT", '--log-level', $LOG_LEVEL);
	$guard = { pid => $pid, log => $log };
	return $guard;
}

sub stop_guard
{
	return unless $guard;
	kill 'TERM', $guard->{pid};
	my $ok = wait_until(sub { waitpid($guard->{pid}, WNOHANG) > 0 }, 10);
	if (!$ok) { kill 'KILL', $guard->{pid}; waitpid($guard->{pid}, 0) }
	delete $kids{ $guard->{pid} };
	undef $guard;
	return $ok;
}

# Wait until the guard has polled after now (its query seen starting later).
sub wait_polled
{
	my $since = psql($PORT, 'SELECT clock_timestamp()') // return 0;
	return wait_until(
		sub {
			(psql($PORT,
					"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'demotion-guard' "
					  . "AND query LIKE 'SELECT r.pid,%' AND query_start > '$since'") // 0) > 0;
		},
		15);
}

# ---------------------------------------------------------------- consumers
my %consumers;    # slot => { pid, mode }

sub start_consumer
{
	my ($slot, $mode) = @_;
	unlink "$work/$slot.ready";
	my $pid = spawn("$work/$slot.log", "$work/logical-consumer", '--dsn',
		"host=127.0.0.1 port=$PORT dbname=postgres user=postgres", '--slot', $slot, '--mode', $mode,
		'--output', '/dev/null', '--ready-file', "$work/$slot.ready");
	$consumers{$slot} = { pid => $pid, mode => $mode };
}

sub stop_consumers
{
	kill 'TERM', $_->{pid} for values %consumers;
	for my $c (values %consumers)
	{
		wait_until(sub { waitpid($c->{pid}, WNOHANG) != 0 }, 5) or do { kill 'KILL', $c->{pid}; waitpid($c->{pid}, 0) };
		delete $kids{ $c->{pid} };
	}
	%consumers = ();
}

# ------------------------------------------------------------------- audit
my %seen_lines;    # key => 1, for lines already checked
my ($torn, $lost) = (0, 0);

sub audit_lines
{
	open my $fh, '<', $audit or return ();
	local $/ = "\n";
	my @l = <$fh>;
	close $fh;
	return @l;
}

# Every line whole JSON with ts and event; returns the decoded events.
sub audit_events
{
	my ($count_torn) = @_;
	my @ev;
	for my $l (audit_lines())
	{
		my $e = $l =~ /\n\z/ ? eval { decode_json($l) } : undef;
		if (ref $e ne 'HASH' || !$e->{ts} || !$e->{event})
		{
			if ($count_torn && !$seen_lines{"torn:$l"}++)
			{
				$torn++;
				note("torn audit line: $l");
			}
			next;
		}
		push @ev, $e;
	}
	return @ev;
}

sub ekey { my ($e) = @_; return join '|', $e->{ts}, $e->{event}, $e->{pid} // '', $e->{postmaster_pid} // '' }

# Events the guards logged ("audit: {...}") that are not in the file.
sub missing_from_file
{
	my %infile = map { ekey($_) => 1 } audit_events(0);
	my @miss;
	for my $i (1 .. $gn)
	{
		open my $fh, '<', "$work/guard.$i.log" or next;
		while (my $l = <$fh>)
		{
			next unless $l =~ /audit: (\{.*\})\s*$/;
			my $e = eval { decode_json($1) } or next;
			push @miss, ekey($e) unless $infile{ ekey($e) };
		}
	}
	return @miss;
}

sub ts_epoch
{
	my ($ts) = @_;
	return undef unless ($ts // '') =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/;
	return timegm($6, $5, $4, $3, $2 - 1, $1) + $7 / 1000;
}

# ------------------------------------------------------------------- faults
sub fill_disk
{
	my $i = 0;
	open my $fh, '>', "$mnt/fill" or return;
	my $buf = "\0" x 65536;
	while (syswrite($fh, $buf)) { last if ++$i > 10000 }
	while (syswrite($fh, "\0")) { }
	close $fh;
}
sub free_disk { unlink "$mnt/fill" }

# 8 clients GETting /health in a loop, 32 that send a header byte a second.
sub start_flood
{
	my ($secs) = @_;
	my $pid = fork() // die;
	if ($pid == 0)
	{
		my @k;
		for my $w (1 .. 8)
		{
			my $p = fork();
			if (defined $p && $p == 0)
			{
				my $end = time() + $secs;
				while (time() < $end)
				{
					my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$GPORT", Timeout => 1) or next;
					print $s "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
					my $junk;
					sysread($s, $junk, 4096);
					close $s;
				}
				POSIX::_exit(0);
			}
			push @k, $p if $p;
		}
		my @slow = grep { defined } map { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$GPORT", Timeout => 1) } 1 .. 32;
		my $end = time() + $secs;
		while (time() < $end)
		{
			print {$_} "X" for @slow;
			sleep 1;
		}
		waitpid($_, 0) for @k;
		POSIX::_exit(0);
	}
	return $pid;
}

# Take PID $want for a decoy titled like a walsender, sleeping $secs; its
# identity, or undef when another process took the PID first.
sub decoy_at
{
	my ($want, $secs) = @_;
	wait_until(sub { !-e "/proc/$want" }, 2);    # reaped by the postmaster
	for (1 .. 50)
	{
		return undef if -e "/proc/$want";    # taken by someone else
		open my $fh, '>', '/proc/sys/kernel/ns_last_pid' or return undef;
		print $fh $want - 1;
		close $fh;
		my $pid = fork() // return undef;
		if ($pid == 0)
		{
			POSIX::_exit(0) if $$ != $want;
			POSIX::setgid($pg_gid);
			POSIX::setuid($pg_uid);
			$0 = 'postgres: walsender postgres 127.0.0.1(40000) START_REPLICATION';
			sleep $secs;
			POSIX::_exit(0);
		}
		if ($pid == $want)
		{
			$kids{$pid} = 1;
			return ident($pid);
		}
		waitpid($pid, 0);
	}
	return undef;
}

# ---------------------------------------------------------------- set-up
sub cleanup
{
	local $?;
	stop_guard();
	stop_consumers();
	kill 'KILL', $_ for keys %kids;
	for my $d ("$work/a", "$work/standby", "$work/b")
	{
		run_pg("$PGBIN/pg_ctl", '-D', $d, '-m', 'immediate', 'stop') if -f "$d/postmaster.pid";
	}
	system('umount', $mnt) if $mounted;
	system('rm', '-rf', $work) unless $ENV{KEEP};
}
END { cleanup() if $work }
$SIG{INT} = $SIG{TERM} = sub { note('interrupted'); exit 130 };

note("work directory $work, seed $SEED, $CYCLES cycles, deadline ${DEADLINE} ms");
system('cp', "$top/demotion-guard", "$top/tests/tools/logical-consumer", "$work/") == 0 or die;
mkdir $mnt or die;
system('mount', '-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', $mnt) == 0 or die "soak: mount tmpfs failed\n";
$mounted = 1;
system('chown', '-R', 'postgres:', $work) == 0 or die;

my $A = init_cluster('a', $PORT);
my $B = init_cluster('b', $PORT + 2);
pg_start($A) or die "primary does not start\n";
run_pg("$PGBIN/pg_basebackup", '-D', "$work/standby", '-h', $work, '-p', $PORT, '-U', 'postgres', '-R', '-C',
	'-S', 'standby') == 0 or die "pg_basebackup failed\n";
open my $sfh, '>>', "$work/standby/postgresql.conf" or die;
printf $sfh "port = %d\nlisten_addresses = ''\n", $PORT + 1;
close $sfh;
pg_start("$work/standby") or die "standby does not start\n";
pg_start($B) or die "second cluster does not start\n";
psql($PORT, 'CREATE TABLE t (i int)') // die;
psql($PORT + 2, 'CREATE TABLE t (i int)') // die;
my @slots = qw(stale_1 stale_2 healthy_1 healthy_2 silent_1 ahead_1);
psql($PORT, "SELECT pg_create_logical_replication_slot('$_', 'test_decoding')") // die for @slots;
psql($PORT + 2, "SELECT pg_create_logical_replication_slot('b_stale', 'test_decoding')") // die;
wait_until(sub { (psql($PORT, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby' OR application_name = 'walreceiver'") // 0) > 0 }, 20)
  or die "the standby does not stream\n";
start_guard();

# ------------------------------------------------------------------ cycles
my %fault_n = map { $_ => 0 } @FAULTS;
my %fault_skipped = map { $_ => 0 } @FAULTS;
my ($wrong, $moved, $missed, $hanging, $holds, $terminated, $orphans, $healthy_blind) = (0) x 8;
my (@stop_ms, @late_ms);

sub wrong { $wrong++; note("WRONG KILL: @_") }

sub one_cycle
{
	my ($i) = @_;
	my %f = map { $_ => ($drawable{$_} && ($_ eq $DRAWN[ $i % @DRAWN ] || rand() < 0.2)) ? 1 : 0 }
	  @FAULTS;

	# the clients: random, with what the faults need
	my %n = (stale => int(rand(3)), healthy => int(rand(3)), silent => int(rand(2)), ahead => int(rand(2)));
	$n{stale} ||= 1 if $f{pm_sigkill};
	$n{healthy} ||= 1 if $f{pid_reused};
	my @mine;
	for my $m (@MODES)
	{
		my @s = grep { /^${m}_/ } @slots;
		push @mine, [ $_, $m ] for @s[ 0 .. $n{$m} - 1 ];
	}
	start_consumer(@$_) for @mine;
	wait_until(sub { !grep { !-s "$work/$_->[0].ready" } @mine }, 20) or note("cycle $i: a consumer did not start");
	psql($PORT, 'INSERT INTO t SELECT generate_series(1, 10)');
	psql($PORT, 'CHECKPOINT');
	my $held = grep { $_->[1] ne 'healthy' } @mine;
	wait_until(sub { (psql($PORT, "SELECT count(*) FROM pg_stat_replication WHERE sent_lsn > coalesce(flush_lsn, '0/0') AND application_name ~ '(stale|silent)\$'") // 0) >= $n{stale} + $n{silent} }, 10);
	wait_polled() && wait_polled() or note("cycle $i: the guard did not poll");

	# what is there before the stop
	my %conf = map { my ($s, $l) = split /\|/; ($s => lsn($l)) } split /\n/,
	  (psql($PORT, 'SELECT slot_name, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_type = \'logical\'') // '');
	# what PostgreSQL 15 has on disk: a crash returns a slot to that (an
	# advance of confirmed_flush alone is not written before 17)
	my %disk = map { ($_ => slot_on_disk($_)) } keys %conf;
	my (%held_ws, %other_ws);
	for (split /\n/, (psql($PORT, "SELECT s.slot_name, s.active_pid FROM pg_replication_slots s WHERE s.active_pid IS NOT NULL AND s.slot_type = 'logical'") // ''))
	{
		my ($s, $p) = split /\|/;
		my $id = ident($p) or next;
		my $mode = $consumers{$s} ? $consumers{$s}{mode} : 'unknown';
		($mode eq 'healthy' ? \%other_ws : \%held_ws)->{$p} = { %$id, slot => $s, mode => $mode };
	}
	for my $p (split /\n/, (psql($PORT, "SELECT pid FROM pg_stat_replication WHERE application_name IN ('standby', 'walreceiver')") // ''))
	{
		my $id = ident($p) or next;
		$other_ws{$p} = { %$id, mode => 'physical' };
	}
	my $pm = pm_of($A);
	my @pm_children = children($pm);
	my $audit_before = scalar(audit_events(1));

	# the stop, and the faults during it
	fill_disk() if $f{disk_full};
	my $logoff = -s "$A.log";
	my $t0 = time();
	kill 'INT', $pm or die "kill -INT $pm: $!";
	my $flood = $f{http_flood} ? start_flood(2 + $DEADLINE / 1000) : undef;
	# a restart in the first 400 ms, a SIGKILL only after the new guard's
	# first turn: a guard started after the postmaster died never saw its
	# walsenders and cannot prove the orphans (see SOAK.md)
	my $restart_at = $f{guard_restart} ? $t0 + (50 + rand(350)) / 1000 : 0;
	my $restarted = !$f{guard_restart};
	my ($killed, $decoy, $decoy_tried) = (0, undef, 0);
	my @healthy_ids = grep { $_->{mode} eq 'healthy' } values %other_ws;
	my $end = $t0 + 20;
	my $done_at;
	while (time() < $end)
	{
		reap();
		if ($restart_at && time() >= $restart_at)
		{
			$restart_at = 0;
			stop_guard();
			start_guard();
		}
		$restarted ||= !$restart_at && slurp($guard->{log}) =~ /-> "shutting_down"/;
		# after the shutdown checkpoint (slots saved), before the deadline
		if ($f{pm_sigkill} && !$killed && $restarted
			&& (tail_from("$A.log", $logoff) =~ /checkpoint complete/ || time() - $t0 > $DEADLINE / 2000))
		{
			$killed = kill 'KILL', $pm;
		}
		if ($f{pid_reused} && !$decoy_tried && @healthy_ids && !same_proc($healthy_ids[0]))
		{
			$decoy_tried = 1;
			$decoy = decoy_at($healthy_ids[0]{pid}, 30);
		}
		my $gone = !defined start_ticks($pm) && !grep { same_proc($_) } values %held_ws, values %other_ws,
		  ($killed ? @pm_children : ());
		if ($gone) { $done_at = time(); last }
		sleep 0.005;
	}
	# the end: the postmaster's own "database system is shut down" (it exits
	# after all its children; the soak's polling lags under load), or, after
	# the SIGKILL, when the soak saw the last orphan gone
	if (defined $done_at && !$killed
		&& tail_from("$A.log", $logoff) =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+\.\d+) UTC \[\d+\] LOG:  database system is shut down/m)
	{
		my $end = timegm(0, $5, $4, $3, $2 - 1, $1) + $6;
		$done_at = $end if $end < $done_at;
	}
	my $ms = defined $done_at ? ($done_at - $t0) * 1000 : undef;
	if ($flood) { waitpid($flood, 0) }
	if ($f{pid_reused} && !$decoy)
	{
		$f{pid_reused} = 0;
		$fault_skipped{pid_reused}++;
	}
	$fault_n{$_} += $f{$_} for grep { $_ ne 'foreign_pidfile' } @FAULTS;
	if (!defined $done_at)
	{
		$hanging++;
		note("cycle $i: the stop hangs after 20 s; ending it");
		kill 'KILL', $pm;
		kill 'TERM', $_->{pid} for grep { same_proc($_) } values %held_ws, values %other_ws;
		wait_until(sub { !grep { same_proc($_) } values %held_ws, values %other_ws, @pm_children }, 10);
	}
	elsif ($held || $killed)
	{
		$holds++;
		push @stop_ms, $ms;
		if ($ms > $DEADLINE + 500)
		{
			$missed++;
			my @t = map { ts_epoch($_->{ts}) } grep { $_->{event} eq 'terminated' } audit_events(0);
			my $last = @t ? ($t[-1] - $t0) * 1000 : -1;
			note(sprintf("cycle %d: DEADLINE MISSED: stop took %.0f ms (the guard's last termination at %.0f ms)", $i, $ms, $last));
		}
	}
	stop_consumers();
	free_disk() if $f{disk_full};

	# the audit: whole lines, every logged event in the file, this cycle's
	my @ev;
	wait_until(sub { @ev = audit_events(0); (grep { $_->{event} eq 'shutdown_completed' } @ev[ $audit_before .. $#ev ]) && !missing_from_file() }, 10);
	@ev = audit_events(1);
	my @new = @ev[ $audit_before .. $#ev ];
	my @miss = missing_from_file();
	if (@miss) { $lost += @miss; note("cycle $i: AUDIT LOST: $_") for @miss }
	for my $want (qw(shutdown_started shutdown_completed))
	{
		next if grep { $_->{event} eq $want } @new;
		$lost++;
		note("cycle $i: AUDIT LOST: no $want");
	}
	my %term;
	for my $e (grep { $_->{event} eq 'terminated' } @new)
	{
		$terminated++;
		$orphans++ if ($e->{reason} // '') eq 'orphaned';
		$term{ $e->{pid} } = 1;
		my $w = $held_ws{ $e->{pid} };
		# a guard started during the shutdown knows walsenders from /proc
		# only (no slot, no LSNs): a healthy one still there at the deadline
		# cannot be told from a stale one, and is ended by design
		my $o = $other_ws{ $e->{pid} };
		if (!$w && $o && $o->{mode} eq 'healthy' && ($e->{slot} // '') eq '' && ($e->{cause} // '') eq 'unknown')
		{
			$healthy_blind++;
			next;
		}
		if (!$w) { wrong("cycle $i: terminated pid $e->{pid} ($e->{kind}, slot " . ($e->{slot} // '-') . ') is not a held-up walsender'); next }
		my $at = ts_epoch($e->{ts});
		push @late_ms, ($at - $t0) * 1000 - $DEADLINE if ($e->{reason} // '') eq 'deadline';
		wrong(sprintf("cycle %d: pid %d terminated %.0f ms after the stop, before the deadline", $i, $e->{pid}, ($at - $t0) * 1000))
		  if ($e->{reason} // '') eq 'deadline' && $at < $t0 + $DEADLINE / 1000 - 0.002;
	}
	for my $w (values %held_ws)
	{
		# after a SIGKILLed postmaster a walsender may also notice and exit itself
		next if $term{ $w->{pid} } || $killed;
		$lost++;
		note("cycle $i: AUDIT LOST: walsender $w->{pid} ($w->{mode}) ended without a terminated event");
	}
	if ($decoy)
	{
		wrong("cycle $i: the decoy with the reused PID $decoy->{pid} died") unless same_proc($decoy);
		kill 'KILL', $decoy->{pid};
		waitpid($decoy->{pid}, 0);
		delete $kids{ $decoy->{pid} };
	}

	# a second cluster's postmaster.pid in the primary's directory
	foreign_pidfile($i) if $f{foreign_pidfile};

	# PostgreSQL starts again (a SIGKILLed postmaster must have been reaped
	# by PID 1 first: a zombie with the lock file's PID makes it refuse);
	# no slot dropped, none moved back
	wait_until(sub { !-e "/proc/$pm" }, 10) if $killed;
	if (!pg_start($A))
	{
		$hanging++;
		note("cycle $i: RESTART FAILED: " . (slurp("$A.log") =~ /([^\n]*FATAL[^\n]*)\n[^\n]*\z/ ? $1 : 'see the log'));
		return 0;
	}
	my %after = map { my ($s, $l) = split /\|/; ($s => lsn($l)) } split /\n/,
	  (psql($PORT, 'SELECT slot_name, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_type = \'logical\'') // '');
	for my $s (sort keys %conf)
	{
		# after the SIGKILL: never below what was on disk before the stop
		my $floor = $killed ? $disk{$s} : $conf{$s};
		next if exists $after{$s} && $after{$s} >= $floor;
		$moved++;
		note("cycle $i: SLOT MOVED: $s " . (exists $after{$s} ? "went back from $floor to $after{$s}" : 'dropped'));
	}
	my $faults = join(',', grep { $f{$_} } @FAULTS) || '-';
	say(sprintf('cycle %3d: %-58s clients %s, stop %s, %d terminated', $i, $faults,
			join(' ', map { "$_=$n{$_}" } grep { $n{$_} } @MODES) || 'none',
			defined $ms ? sprintf('%.0f ms', $ms) : 'HANGING', scalar keys %term));
	return 1;
}

# confirmed_flush of a slot's state file (PostgreSQL 15's ReplicationSlotOnDisk:
# a 16-byte header, then name, database, persistency, xmin, catalog_xmin,
# restart_lsn, invalidated_at, confirmed_flush at offset 112); -1 if unreadable.
sub slot_on_disk
{
	my ($slot) = @_;
	open my $fh, '<:raw', "$work/a/pg_replslot/$slot/state" or return -1;
	local $/;
	my $b = <$fh> // '';
	return -1 if length($b) < 120 || unpack('Z*', substr($b, 16, 64)) ne $slot;
	return unpack('Q<', substr($b, 112, 8));
}

sub tail_from { open my $fh, '<', $_[0] or return ''; seek $fh, $_[1], 0; local $/; my $s = <$fh>; return $s // '' }
sub slurp { open my $fh, '<', $_[0] or return ''; local $/; my $s = <$fh>; return $s // '' }

# B stopping with a stale walsender; its postmaster.pid copied into A's
# directory, where A's guard must not act on it for deadline + 1.5 s.
sub foreign_pidfile
{
	my ($i) = @_;
	unlink "$work/b_stale.ready";
	my $c = spawn("$work/b_stale.log", "$work/logical-consumer", '--dsn',
		"host=127.0.0.1 port=" . ($PORT + 2) . " dbname=postgres user=postgres", '--slot', 'b_stale', '--mode', 'stale',
		'--output', '/dev/null', '--ready-file', "$work/b_stale.ready");
	if (!wait_until(sub { -s "$work/b_stale.ready" }, 20))
	{
		note("cycle $i: foreign_pidfile: the second cluster's consumer did not start; skipped");
		kill 'TERM', $c;
		waitpid($c, 0);
		$fault_skipped{foreign_pidfile}++;
		return;
	}
	psql($PORT + 2, 'INSERT INTO t SELECT generate_series(1, 10)');
	psql($PORT + 2, 'CHECKPOINT');
	wait_until(sub { (psql($PORT + 2, "SELECT count(*) FROM pg_stat_replication WHERE sent_lsn > flush_lsn") // 0) > 0 }, 10);
	my $bpm = pm_of($B);
	my ($bw) = map { ident($_) } grep { $_ } split /\n/, (psql($PORT + 2, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'b_stale'") // '');
	my $before = scalar(audit_events(0));
	kill 'INT', $bpm;
	wait_until(sub { slurp("$B/postmaster.pid") =~ /stopping/ }, 5);
	run_pg('cp', "$B/postmaster.pid", "$A/postmaster.pid.tmp");
	rename "$A/postmaster.pid.tmp", "$A/postmaster.pid";
	my $t = time();
	wait_until(sub { time() - $t > $DEADLINE / 1000 + 1.5 }, 10);
	$fault_n{foreign_pidfile}++;
	wrong("cycle $i: the second cluster's walsender $bw->{pid} died while its postmaster.pid was in the primary's directory")
	  if $bw && !same_proc($bw);
	my @ev = audit_events(0);
	wrong("cycle $i: a terminated event for the second cluster's walsender")
	  if $bw && grep { $_->{event} eq 'terminated' && $_->{pid} == $bw->{pid} } @ev[ $before .. $#ev ];
	unlink "$A/postmaster.pid";
	kill 'TERM', $bw->{pid} if $bw && same_proc($bw);
	wait_until(sub { !defined start_ticks($bpm) }, 20) or note("cycle $i: the second cluster does not stop");
	kill 'TERM', $c;
	waitpid($c, 0);
	delete $kids{$c};
	pg_start($B) or note("cycle $i: the second cluster does not start again");
}

my $t_start = time();
# SIGINT or SIGTERM from here on: finish the cycle, then print the table
my ($cycles_done, $stop_asked) = (0, 0);
$SIG{INT} = $SIG{TERM} = sub { $stop_asked = 1; note('stopping after this cycle') };
for my $i (1 .. $CYCLES)
{
	last if $stop_asked;
	$cycles_done = $i;
	last unless one_cycle($i);
	if (!$guard || waitpid($guard->{pid}, WNOHANG) != 0) { note("cycle $i: the guard died; see $work"); $hanging++; last }
}
my $secs = time() - $t_start;
my @s = sort { $a <=> $b } @stop_ms;
my $pct = sub { @s ? sprintf('%.0f', $s[ int($_[0] * $#s + 0.5) ]) : '-' };

say('');
say("soak: $cycles_done cycles", ($cycles_done < $CYCLES ? " (of $CYCLES asked; stopped)" : ''), " in ", sprintf('%.0f', $secs), " s, deadline $DEADLINE ms, seed $SEED (SOAK_SEED=$SEED to repeat)");
say('');
say('| what | count |');
say('|---|---|');
say("| cycles | $cycles_done |");
say("| fault: $_ | $fault_n{$_}" . ($fault_skipped{$_} ? " ($fault_skipped{$_} more drawn, skipped: PID taken first)" : '') . ' |') for @FAULTS;
say("| stops held up by a client | $holds |");
say("| walsenders terminated (of which orphaned) | $terminated ($orphans) |");
say("| healthy walsenders ended by a guard started mid-shutdown (/proc only: no slot, no LSNs) | $healthy_blind |");
say('| stop ms, held-up stops: median / p95 / max | ' . $pct->(0.5) . ' / ' . $pct->(0.95) . ' / ' . $pct->(1) . ' |');
my @l = sort { $a <=> $b } @late_ms;
my $lp = sub { @l ? sprintf('%.0f', $l[ int($_[0] * $#l + 0.5) ]) : '-' };
say('| deadline terminations, ms after the deadline: median / p95 / max | ' . $lp->(0.5) . ' / ' . $lp->(0.95) . ' / ' . $lp->(1) . ' |');
say("| **wrong kills** | $wrong |");
say("| **slots moved** | $moved |");
say("| **audit lines lost or torn** | " . ($lost + $torn) . " |");
say("| **deadlines missed (stop > deadline + 500 ms)** | $missed |");
say("| **stops left hanging** | $hanging |");
my $bad = $wrong + $moved + $lost + $torn + $missed + $hanging + ($cycles_done < $CYCLES && !$stop_asked ? 1 : 0);
say('');
say($bad ? "soak: FAILED ($bad)" : 'soak: ok');
exit($bad ? 1 : 0);
