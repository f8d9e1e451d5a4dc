# PatroniTest.pm - a real Patroni cluster for demotion-guard's tests
#
# etcd and a two-node Patroni cluster on loopback, with whatever versions
# are installed: Debian bookworm's patroni 3.0.2, etcd 3.4 and PostgreSQL 15
# (tests/tap, on the host), or Debian trixie's patroni 4.0.7, etcd 3.5 and
# PostgreSQL 17 (tests/patroni4, in a trixie root; PG_BINDIR names the
# PostgreSQL binaries); patroni_version() and patroni_at_least() say which.
# node1 on 127.0.0.1, node2 on 127.0.0.2, each with its PostgreSQL port,
# its REST port and a guard port that is free on both addresses (so that
# "hook pre-promote --guard-port N" finds every member's guard at
# http://MEMBER_HOST:N).  Patroni talks to etcd through the v3 API
# ("etcd3:", etcd's gRPC gateway over HTTP with urllib3; python3-etcd is
# still imported for its exceptions) with both: etcd 3.4 serves the v2 API
# that "etcd:" needs only when started with --enable-v2, and etcd 3.5 not
# at all by default.  ttl 10, loop_wait 1, retry_timeout 3 (ttl >=
# loop_wait + 2 * retry_timeout): losing etcd makes the leader demote
# itself within 2-4 s here.
#
# Patroni (3.0.2 and 4.0.7 alike) copies a permanent logical slot to each
# replica and advances the copy; a copy taken before the consumer confirmed
# anything after the replica's base backup points into WAL the replica
# never had (a base backup starts in a fresh segment) and cannot be used
# after a promotion, although Patroni calls it "safe to be used after a
# failover".  So the tests have the consumer confirm after the replica
# exists and wait (wait_replica_ready) until the copy is usable and Patroni
# has stopped re-copying it (each copy restarts the replica).
#
# A node is a PatroniTest::Node, which has the methods GuardTest's helpers
# call on a PostgreSQL::Test::Cluster node (safe_psql, connstr, data_dir),
# so make_stale, wait_slot_confirmed, pidfile_status, postmaster_pid,
# wait_postmaster_gone, walsender_pid_of_app, wait_guard_polled work on it.
#
# Everything is started with GuardTest::start_bg and logs under
# tmp_check/log (Patroni with PostgreSQL's own log in a file of its own,
# etcd, the guards, the consumers), so tests/run-tap shows them when a test
# fails.  Every wait is bounded.  The END block here runs before
# GuardTest's and the framework's: it kills the Patroni daemons, stops every
# PostgreSQL they started with an immediate stop, and stops etcd, also when a
# test died half-way.
package PatroniTest;

use strict;
use warnings;

use Exporter 'import';
use File::Path qw(make_path);
use File::Spec;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use GuardTest;

our @EXPORT = qw(
  free_port start_etcd etcd_healthy etcd_kill etcd_restart
  new_cluster start_node stop_node teardown_cluster
  rest_get cluster_members member_of wait_leader wait_streaming
  patronictl patroni_log wait_patroni_log server_log
  start_cluster_guard start_permanent_consumer
  wait_for controldata run_cmd wait_stopping_fine wait_slot_synced
  patroni_kill lsn_num checkpoint_end switchpoint
  wait_replica_ready slot_copy_usable run_hook stop_cluster_guard pg_ctl_start
  skip_without_patroni audit_only_stale patroni_version patroni_at_least
  start_stale_pair
);

our $PATRONI    = $ENV{DG_PATRONI}    // '/usr/bin/patroni';
our $PATRONICTL = $ENV{DG_PATRONICTL} // '/usr/bin/patronictl';
our $ETCD       = $ENV{DG_ETCD}       // '/usr/bin/etcd';
our $PGBIN      = $ENV{PG_BINDIR}     // '/usr/lib/postgresql/15/bin';

# Everything to clean up at the end: etcd servers and clusters.
my (@etcds, @clusters);

# The installed Patroni's version ("4.0.7"), from "patroni --version";
# undef when it does not say.
my $patroni_version;
sub patroni_version
{
	return $patroni_version if defined $patroni_version;
	my ($rc, $out) = run_cmd([ $PATRONI, '--version' ], 30);
	($patroni_version) = $out =~ /(\d+\.\d+\.\d+)/;
	return $patroni_version;
}

# Is the installed Patroni at least version $want ("3.0.3")?
sub patroni_at_least
{
	my ($want) = @_;
	my @have = split /\./, (patroni_version() // '0.0.0');
	my @w = split /\./, $want;
	for my $i (0 .. 2)
	{
		return ($have[$i] // 0) > $w[$i] if ($have[$i] // 0) != $w[$i];
	}
	return 1;
}

# Skips the whole test (plan skip_all) unless Patroni, its etcd client and
# etcd are installed: "apt-get install patroni etcd-server etcd-client".
# Under CI (CI=true, where tests/deps.sh installs them) a missing piece is a
# failure, not a skip.
sub skip_without_patroni
{
	my $skip = sub {
		BAIL_OUT("CI: $_[0]") if ($ENV{CI} // '') eq 'true';
		plan skip_all => $_[0];
	};
	for my $f ($PATRONI, $PATRONICTL, $ETCD, "$PGBIN/postgres")
	{
		$skip->("$f not found (apt-get install patroni etcd-server etcd-client)") unless -x $f;
	}
	my ($rc, $out, $err) = run_cmd([ '/usr/bin/python3', '-c', 'import patroni, etcd, urllib3' ], 30);
	$skip->("Patroni's Python modules do not load: $err") if $rc != 0;
	return;
}

# GuardTest::wait_until (its optional 4th argument: a finer poll interval,
# in seconds, for measurements), under the name the Patroni tests use.
sub wait_for
{
	return GuardTest::wait_until(@_);
}

# A TCP port that is free on every address in @addrs (127.0.0.1 always),
# reserved through the framework so that concurrent tests do not take it.
sub free_port
{
	my (@addrs) = @_;
	for (1 .. 50)
	{
		my $port = PostgreSQL::Test::Cluster::get_free_port();
		return $port
		  unless grep { !PostgreSQL::Test::Cluster::can_bind($_, $port) } @addrs;
	}
	die "no port free on @addrs";
}

# Runs a command with a timeout; returns (exit code, stdout, stderr).  The
# exit code is 124 on timeout.
sub run_cmd
{
	my ($cmd, $timeout, %opts) = @_;
	$timeout //= 30;
	my ($out, $err) = ('', '');
	my $rc = eval {
		IPC::Run::run($cmd, '<', \($opts{stdin} // undef), '>', \$out, '2>', \$err,
			IPC::Run::timeout($timeout));
		$? >> 8;
	};
	if (!defined $rc)
	{
		$err .= "\n(run_cmd: $@)";
		$rc = 124;
	}
	return ($rc, $out, $err);
}

# --- etcd

# Starts a single-member etcd on 127.0.0.1 with free client and peer ports
# and a data directory under tmp_check; waits until /health says true.
sub start_etcd
{
	my ($tag) = @_;
	$tag //= 'etcd';
	my $client = free_port('127.0.0.1');
	my $peer   = free_port('127.0.0.1');
	my $dir    = "$PostgreSQL::Test::Utils::tmp_check/" . GuardTest::test_name() . "_$tag";
	make_path($dir);
	my $cmd = [ $ETCD, '--name', $tag, '--data-dir', "$dir/data",
		  '--listen-client-urls', "http://127.0.0.1:$client",
		  '--advertise-client-urls', "http://127.0.0.1:$client",
		  '--listen-peer-urls', "http://127.0.0.1:$peer",
		  '--initial-advertise-peer-urls', "http://127.0.0.1:$peer",
		  '--initial-cluster', "$tag=http://127.0.0.1:$peer",
		  '--initial-cluster-token', GuardTest::test_name() . "-$tag",
		  '--initial-cluster-state', 'new',
		  '--logger', 'zap', '--log-outputs', 'stderr' ];
	my $e = GuardTest::start_bg($tag, $cmd, log_file($tag));
	$e->{cmd}  = $cmd;
	$e->{port} = $client;
	$e->{url}  = "http://127.0.0.1:$client";
	push @etcds, $e;
	wait_for(sub { etcd_healthy($e) }, 30, 'etcd to be healthy')
	  or die "etcd did not become healthy";
	note("etcd at $e->{url}");
	return $e;
}

# Does etcd answer /health with "true" (within 2 s)?
sub etcd_healthy
{
	my ($e) = @_;
	my $r = HTTP::Tiny->new(timeout => 2)->get("$e->{url}/health");
	return $r->{success} && $r->{content} =~ /"health"\s*:\s*"true"/;
}

# The DCS is lost: etcd is killed (SIGKILL), so that every connection to it
# ends at once and each of Patroni's threads sees the loss at the same
# moment.  (Held with SIGSTOP instead, its connections stay open and time
# out one by one: Patroni 3.0.2's next turn could then still read the
# leader key from its watch cache, fail to renew it and stop PostgreSQL
# with an immediate stop of its own, 1 s after the fast one; seen in
# check-repeat.)  etcd_restart starts it again on the same data and ports.
sub etcd_kill
{
	my ($e) = @_;
	kill 'KILL', $e->{pid};
	GuardTest::stop_proc($e, 5);
	delete $e->{rc};
	note('etcd killed (SIGKILL)');
	return time();
}

sub etcd_restart
{
	my ($e) = @_;
	my $n = GuardTest::start_bg($e->{name}, $e->{cmd}, $e->{log}, append => 1);
	$e->{$_} = $n->{$_} for qw(h pid);
	wait_for(sub { etcd_healthy($e) }, 30, 'etcd to be healthy again')
	  or die "etcd did not become healthy again";
	note('etcd started again');
	return time();
}

# --- the cluster

# Describes a cluster of $opts{nodes} (2) members; starts nothing.
#   slots => { name => {type => 'logical', ...} }   DCS permanent slots
#   dcs => {...}              more bootstrap.dcs settings
#   postgresql => {...}       more settings of each node's postgresql section
#   postgresql_for => sub { my ($node) = @_; {...} }   the same, per node
#                             (the node has ip, port, rest_port, guard_port)
#   parameters => {...}       more PostgreSQL parameters
sub new_cluster
{
	my ($etcd, %opts) = @_;
	my $scope = $opts{scope} // ('dg-' . GuardTest::test_name() . "-$$-" . int(rand(1e6)));
	my $cl = { scope => $scope, etcd => $etcd, nodes => [], opts => \%opts };
	my @ips = ('127.0.0.1', '127.0.0.2');
	# One guard port for every member: free on every member's address.
	$cl->{guard_port} = free_port(@ips[ 0 .. ($opts{nodes} // 2) - 1 ]);
	for my $i (1 .. ($opts{nodes} // 2))
	{
		my $ip   = $ips[ $i - 1 ] // die "only two addresses";
		my $name = "node$i";
		my $dir  = "$PostgreSQL::Test::Utils::tmp_check/" . GuardTest::test_name() . "_patroni_$name";
		make_path("$dir/sock");
		my $n = bless {
			name       => $name,
			ip         => $ip,
			port       => free_port($ip),
			rest_port  => free_port($ip),
			guard_port => $cl->{guard_port},
			dir        => $dir,
			data       => "$dir/data",
			config     => "$dir/patroni.json",
			cluster    => $cl,
		}, 'PatroniTest::Node';
		$n->{rest} = "http://$ip:$n->{rest_port}";
		push @{ $cl->{nodes} }, $n;
		write_config($cl, $n);
	}
	push @clusters, $cl;
	note("cluster $scope: "
		  . join(', ', map { "$_->{name} pg $_->{ip}:$_->{port} rest $_->{rest_port}" } @{ $cl->{nodes} })
		  . ", guard port $cl->{guard_port}");
	return $cl;
}

# Writes a node's Patroni configuration (JSON, which is YAML).
sub write_config
{
	my ($cl, $n) = @_;
	my %o = %{ $cl->{opts} };
	# absolute: PostgreSQL 17's framework has a relative log_path ("log"),
	# which the server would read as relative to its data directory
	my $log = File::Spec->rel2abs($PostgreSQL::Test::Utils::log_path);
	my $cfg = {
		scope     => $cl->{scope},
		namespace => '/dg-test/',
		name      => $n->{name},
		log       => { level => 'INFO', format => '%(asctime)s %(levelname)s: %(message)s' },
		restapi   => { listen => "$n->{ip}:$n->{rest_port}", connect_address => "$n->{ip}:$n->{rest_port}" },
		etcd3     => { hosts => [ "127.0.0.1:$cl->{etcd}{port}" ] },
		watchdog  => { mode => 'off' },
		bootstrap => {
			dcs => {
				ttl                     => 10,
				loop_wait               => 1,
				retry_timeout           => 3,
				maximum_lag_on_failover => 16 * 1024 * 1024,
				failsafe_mode           => JSON::PP::false,
				postgresql              => {
					use_pg_rewind => JSON::PP::true,
					use_slots     => JSON::PP::true,
					parameters    => {
						wal_level             => 'logical',
						max_wal_senders       => 10,
						max_replication_slots => 10,
						hot_standby_feedback  => 'on',
						wal_log_hints         => 'on',
						wal_keep_size         => '64MB',
					},
				},
				slots => $o{slots} // {},
				%{ $o{dcs} // {} },
			},
			initdb => [ { encoding => 'UTF8' }, { locale => 'C' } ],
		},
		postgresql => {
			listen          => "$n->{ip}:$n->{port}",
			connect_address => "$n->{ip}:$n->{port}",
			data_dir        => $n->{data},
			bin_dir         => $PGBIN,
			pgpass          => "$n->{dir}/pgpass",
			authentication  => {
				superuser   => { username => 'postgres' },
				replication => { username => 'postgres' },
				rewind      => { username => 'postgres' },
			},
			basebackup => [ { checkpoint => 'fast' } ],
			pg_hba     => [
				'local all all trust',
				'local replication all trust',
				'host all all 127.0.0.0/8 trust',
				'host replication all 127.0.0.0/8 trust',
			],
			parameters => {
				unix_socket_directories => "$n->{dir}/sock",
				fsync                   => 'off',
				logging_collector       => 'on',
				log_directory           => $log,
				log_filename            => GuardTest::test_name() . "_$n->{name}_postgresql.log",
				log_rotation_age        => 0,
				log_rotation_size       => 0,
				log_line_prefix         => '%m [%p] %b %a: ',
				log_replication_commands => 'on',
				%{ $o{parameters} // {} },
			},
			%{ $o{postgresql} // {} },
			%{ $o{postgresql_for} ? $o{postgresql_for}->($n) : {} },
		},
		tags => { %{ $o{tags} // {} }, %{ $o{"tags_$n->{name}"} // {} } },
	};
	open my $fh, '>', $n->{config} or die "$n->{config}: $!";
	print $fh JSON::PP->new->canonical->pretty->encode($cfg);
	close $fh;
	return;
}

# Starts a node's Patroni (logging to tmp_check/log/TEST_NODE_patroni.log).
sub start_node
{
	my ($n) = @_;
	die "$n->{name} already runs" if $n->{patroni} && proc_alive($n->{patroni}{pid});
	# A Patroni started again (after patroni_kill) appends to the same log.
	$n->{patroni} = GuardTest::start_bg("patroni $n->{name}", [ $PATRONI, $n->{config} ],
		log_file("$n->{name}_patroni"), append => $n->{patroni_started}++);
	return $n;
}

# Ends a node's Patroni alone (SIGKILL, so that it neither stops nor
# touches its PostgreSQL, which keeps running); start_node starts a new
# one, which reads the cluster afresh from the DCS.
sub patroni_kill
{
	my ($n) = @_;
	kill 'KILL', $n->{patroni}{pid} if proc_alive($n->{patroni}{pid});
	GuardTest::stop_proc($n->{patroni}, 5);
	delete $n->{patroni};
	note("$n->{name}'s Patroni ended (SIGKILL); its PostgreSQL runs on");
	return time();
}

# Stops a node hard: SIGKILL to its Patroni, then an immediate stop of its
# PostgreSQL (Patroni's postmaster outlives it), then SIGKILL to whatever
# is left of that postmaster's children.
sub stop_node
{
	my ($n) = @_;
	if ($n->{patroni})
	{
		kill 'KILL', $n->{patroni}{pid} if proc_alive($n->{patroni}{pid});
		GuardTest::stop_proc($n->{patroni}, 5);
		delete $n->{patroni};
	}
	my $pm = GuardTest::postmaster_pid($n);
	if ($pm && proc_alive($pm))
	{
		my @kids = children_of($pm);
		run_cmd([ "$PGBIN/pg_ctl", '-D', $n->{data}, '-m', 'immediate', 'stop', '-t', '15' ], 20);
		if (proc_alive($pm))
		{
			kill 'KILL', $pm, @kids;
			wait_for(sub { !proc_alive($pm) }, 5, "postmaster $pm to die");
		}
	}
	return;
}

# The PIDs whose parent is $ppid.
sub children_of
{
	my ($ppid) = @_;
	my @kids;
	opendir my $d, '/proc' or return ();
	for my $pid (grep { /^\d+$/ } readdir $d)
	{
		open my $fh, '<', "/proc/$pid/stat" or next;
		my $stat = <$fh> // '';
		close $fh;
		push @kids, $pid if $stat =~ /\)\s+\S\s+(\d+)/ && $1 == $ppid;
	}
	closedir $d;
	return @kids;
}

# Stops every node of the cluster (hard, see stop_node).
sub teardown_cluster
{
	my ($cl) = @_;
	return if $cl->{down};
	stop_node($_) for @{ $cl->{nodes} };
	$cl->{down} = 1;
	return;
}

# GET $path from a node's REST API: (status, decoded JSON or undef).
sub rest_get
{
	my ($n, $path, $timeout) = @_;
	my $r = HTTP::Tiny->new(timeout => $timeout // 3)->get("$n->{rest}$path");
	my $json = eval { JSON::PP->new->decode($r->{content}) };
	return ($r->{status}, $json);
}

# The members as GET /cluster of the first node that answers sees them:
# { name => { role, state, host, port, timeline, lag } }, or undef.
sub cluster_members
{
	my ($cl) = @_;
	for my $n (@{ $cl->{nodes} })
	{
		my ($st, $j) = rest_get($n, '/cluster', 2);
		next unless $st == 200 && ref $j eq 'HASH';
		return { map { $_->{name} => $_ } @{ $j->{members} // [] } };
	}
	return undef;
}

# The node named $name.
sub member_of
{
	my ($cl, $name) = @_;
	my ($n) = grep { $_->{name} eq $name } @{ $cl->{nodes} };
	return $n;
}

# Waits until $n is the running leader (its REST API /primary answers 200
# and /cluster says so).
sub wait_leader
{
	my ($cl, $n, $timeout) = @_;
	return wait_for(
		sub {
			my ($st) = rest_get($n, '/primary', 2);
			return 0 unless $st == 200;
			my $m = cluster_members($cl) or return 0;
			return ($m->{ $n->{name} }{role} // '') eq 'leader'
			  && ($m->{ $n->{name} }{state} // '') eq 'running';
		},
		$timeout // 60,
		"$n->{name} to be the running leader");
}

# Waits until $replica streams from $leader: a running (Patroni 3.0.2) or
# streaming (4.0.7) replica in /cluster, and a streaming walsender for it
# on the leader.
sub wait_streaming
{
	my ($cl, $leader, $replica, $timeout) = @_;
	return wait_for(
		sub {
			my $m = cluster_members($cl) or return 0;
			my $r = $m->{ $replica->{name} } or return 0;
			# "running" in 3.0.2, "streaming" in 4.0.7
			return 0 unless ($r->{role} // '') eq 'replica' && ($r->{state} // '') =~ /^(running|streaming)$/;
			my ($rc, $out) = $leader->psql('postgres',
				"SELECT count(*) FROM pg_stat_replication WHERE application_name = '$replica->{name}' AND state = 'streaming'");
			return $rc == 0 && $out eq '1';
		},
		$timeout // 60,
		"$replica->{name} to stream from $leader->{name}");
}

# Runs patronictl with the cluster's configuration (node1's); returns
# (exit code, stdout + stderr).
sub patronictl
{
	my ($cl, @args) = @_;
	my ($rc, $out, $err) = run_cmd([ $PATRONICTL, '-c', $cl->{nodes}[0]{config}, @args ], 60);
	return ($rc, $out . $err);
}

# A node's Patroni log so far.
sub patroni_log
{
	my ($n) = @_;
	my $f = log_file("$n->{name}_patroni");
	return -f $f ? slurp_file($f) : '';
}

# Waits until a node's Patroni log matches $re (after byte $from).
sub wait_patroni_log
{
	my ($n, $re, $timeout, $from) = @_;
	return wait_for(sub { substr(patroni_log($n), $from // 0) =~ $re }, $timeout // 30,
		"$n->{name}'s Patroni log to match $re");
}

# A node's PostgreSQL log so far.
sub server_log
{
	my ($n) = @_;
	my $f = "$PostgreSQL::Test::Utils::log_path/" . GuardTest::test_name() . "_$n->{name}_postgresql.log";
	return -f $f ? slurp_file($f) : '';
}

# pg_controldata of a node: { field => value }.
sub controldata
{
	my ($n) = @_;
	my ($rc, $out) = run_cmd([ "$PGBIN/pg_controldata", $n->{data} ], 10);
	return { map { /^([^:]+):\s*(.*)$/ ? ($1 => $2) : () } split /\n/, $out };
}

# An LSN "X/Y" as a number (undef for undef).
sub lsn_num
{
	my ($lsn) = @_;
	return undef unless defined $lsn && $lsn =~ m{^([0-9A-Fa-f]+)/([0-9A-Fa-f]+)$};
	return hex($1) * 4294967296 + hex($2);
}

# Where a stopped node's latest checkpoint record starts and ends, as
# Patroni works it out before deciding on pg_rewind: pg_waldump reads two
# records from the checkpoint and fails on the second, naming where it
# would start.  Returns { lsn, end, tli, state } (end undef when pg_waldump
# said something else; its output is in {waldump}).
sub checkpoint_end
{
	my ($n) = @_;
	my $cd  = controldata($n);
	my $lsn = $cd->{'Latest checkpoint location'};
	my $tli = $cd->{"Latest checkpoint's TimeLineID"};
	my ($rc, $out, $err) = run_cmd([ "$PGBIN/pg_waldump", '-p', "$n->{data}/pg_wal", '-t', $tli,
		'-s', $lsn, '-n', '2' ], 20);
	my ($end) = $err =~ m{error in WAL record at \Q$lsn\E: invalid record length at ([0-9A-F]+/[0-9A-F]+)};
	my ($desc) = $out =~ /desc: (\S+)/;
	return { lsn => $lsn, end => $end, tli => $tli, state => $cd->{'Database cluster state'},
		record => $desc, waldump => "$out$err" };
}

# The LSN at which $n's history left timeline $parent (from the newest
# history file in its pg_wal), undef when none says so.
sub switchpoint
{
	my ($n, $parent) = @_;
	opendir my $d, "$n->{data}/pg_wal" or return undef;
	my ($newest) = sort { hex($b) <=> hex($a) } map { /^([0-9A-F]{8})\.history$/ ? $1 : () } readdir $d;
	closedir $d;
	return undef unless $newest;
	for my $line (split /\n/, slurp_file("$n->{data}/pg_wal/$newest.history"))
	{
		return $2 if $line =~ m{^\s*(\d+)\s+([0-9A-F]+/[0-9A-F]+)} && $1 == $parent;
	}
	return undef;
}

# Polls postmaster.pid every 10 ms until it says "stopping"; returns the
# time it was first seen (undef on timeout).
sub wait_stopping_fine
{
	my ($n, $timeout) = @_;
	my $t;
	wait_for(sub { GuardTest::pidfile_status($n) eq 'stopping' and $t = time() }, $timeout // 30,
		"$n->{name}'s postmaster.pid to say stopping", 0.01);
	return $t;
}

# Starts the guard beside $n (its own address and the cluster's guard
# port): GuardTest::start_guard listening there, with the same %opts (dsn,
# no_pgdata, listen, wrap, wait_observing).  A guard seen connected is
# returned once its API shows a view past "waiting" (GuardTest::guard_url).
# Returns the process hash with {audit}, {url}.
sub start_cluster_guard
{
	my ($n, $tag, $args, %opts) = @_;
	my $listen = $opts{listen} // "$n->{ip}:$n->{guard_port}";
	my $g = start_guard($n, $tag, $args, %opts, listen => $listen);
	return $g if $listen eq 'off';
	$g->{url} = "http://$listen";
	guard_url($g) if $g->{observing};
	return $g;
}

# Stops a guard started by start_cluster_guard and checks that it exits 0.
# A guard wrapped in "unshare --fork" is a child of unshare, which ignores
# SIGTERM: the guard itself is sent SIGTERM, then unshare is waited for.
sub stop_cluster_guard
{
	my ($g) = @_;
	if ($g->{wrapped})
	{
		my @kids = children_of($g->{pid});
		kill 'TERM', @kids if @kids;
	}
	my $rc = GuardTest::stop_proc($g);
	is($rc, 0, "$g->{name} exits 0 on SIGTERM");
	return $rc;
}

# Runs "demotion-guard hook @args"; returns (exit code, stderr, seconds of
# wall clock).  Bounded at 30 s.
sub run_hook
{
	my @args = @_;
	my $t0 = time();
	my ($rc, $out, $err) = run_cmd([ $ENV{DG_BIN}, 'hook', @args ], 30);
	return ($rc, $err, time() - $t0);
}

# Starts a node's PostgreSQL by hand (Patroni paused), logging pg_ctl's
# output under tmp_check/log.  Dies when it does not start.
sub pg_ctl_start
{
	my ($n) = @_;
	my ($rc, $out, $err) = run_cmd([ "$PGBIN/pg_ctl", '-D', $n->{data}, '-l', log_file("$n->{name}_pg_ctl"),
		'-w', '-t', '60', 'start' ], 70);
	die "pg_ctl start of $n->{name} failed ($rc): $out$err" if $rc != 0;
	return;
}

# Starts the stale test client on the leader $n on the permanent slot
# $slot, once Patroni has created it; returns the consumer (as
# GuardTest::start_consumer).
sub start_permanent_consumer
{
	my ($n, $slot, $mode) = @_;
	wait_for(
		sub {
			my ($rc, $out) = $n->psql('postgres',
				"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND slot_type = 'logical'");
			return $rc == 0 && $out eq '1';
		},
		30,
		"Patroni to create the permanent slot $slot on $n->{name}") or die "no slot $slot";
	return start_consumer(undef, slot => $slot, mode => $mode // 'stale', create => 0,
		dsn => $n->connstr('postgres'));
}

# Waits until Patroni has brought the copy of logical slot $slot on
# $replica up to what it confirms on $leader (Patroni copies a permanent
# logical slot to each replica and advances the copy, every loop, to the
# position the leader published in the DCS).  Without that a failover in
# the first seconds leaves the new leader a slot whose restart_lsn is in WAL
# it never had ("requested WAL segment ... has already been removed").
sub wait_slot_synced
{
	my ($leader, $replica, $slot, $timeout) = @_;
	my $want = $leader->safe_psql('postgres',
		"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
	return wait_for(
		sub {
			my ($rc, $out) = $replica->psql('postgres',
				"SELECT confirmed_flush_lsn >= '$want' FROM pg_replication_slots WHERE slot_name = '$slot'");
			return $rc == 0 && $out eq 't';
		},
		$timeout // 30,
		"$replica->{name}'s copy of slot $slot to reach $want");
}

# Is $replica's copy of logical slot $slot usable after a promotion: does
# its pg_wal hold the segment of the copy's restart_lsn?  (A base backup
# starts in a fresh segment, so a copy taken from a slot whose restart_lsn
# predates the replica points into WAL the replica never had; Patroni 3.0.2
# still logs such a copy as "safe to be used after a failover".)
sub slot_copy_usable
{
	my ($replica, $slot) = @_;
	my ($rc, $lsn) = $replica->psql('postgres',
		"SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '$slot'");
	my $num = lsn_num($lsn);
	return 0 unless $rc == 0 && defined $num;
	my $segno = int($num / (16 * 1024 * 1024));
	my $suffix = sprintf('%08X%08X', int($segno / 256), $segno % 256);
	my ($rc2, $n) = $replica->psql('postgres',
		"SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{8}$suffix\$'");
	return $rc2 == 0 && $n > 0;
}

# Checks the guard's audit log after a shutdown it enforced: one walsender
# terminated, the stale one ($walsender, on $slot) at the deadline, and no
# event about the physical walsender $physical.
sub audit_only_stale
{
	my ($g, $walsender, $slot, $physical) = @_;
	my ($done) = wait_audit($g, 'shutdown_completed', 1, 10);
	ok($done, 'audit: shutdown_completed');
	my @term = audit_events($g, 'terminated');
	is(scalar @term, 1, 'audit: one walsender terminated');
	my $t = $term[0] // {};
	is($t->{pid},    $walsender, 'terminated: the stale walsender');
	is($t->{kind},   'logical',  'terminated: kind logical');
	is($t->{slot},   $slot,      "terminated: slot \"$slot\" (the permanent slot)");
	is($t->{reason}, 'deadline', 'terminated: reason deadline');
	my @phys = grep { ($_->{kind} // '') eq 'physical' || (($_->{pid} // 0) == $physical) }
	  read_audit($g);
	is(scalar @phys, 0, 'no audit event about the physical walsender');
	return;
}

# Starts the two nodes of $cl: node1 leads, gets table t(id, v) and a stale
# consumer on the permanent slot $slot, made to lag (sent > confirmed);
# node2 streams from it and holds a usable copy of the slot.  Each step is
# an assertion.  Returns (node1, node2, the consumer).
sub start_stale_pair
{
	my ($cl, $slot) = @_;
	my ($n1, $n2) = @{ $cl->{nodes} };
	start_node($n1);
	ok(wait_leader($cl, $n1, 60), 'node1 bootstraps the cluster and leads');
	$n1->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, v text)');
	my $c = start_permanent_consumer($n1, $slot);
	start_node($n2);
	ok(wait_streaming($cl, $n1, $n2, 90), 'node2 streams from node1');
	make_stale($n1, $c, 1);
	wait_slot_confirmed($n1, $c);
	ok(wait_replica_ready($cl, $n1, $n2, $slot), "node2 holds a usable copy of slot $slot");
	return ($n1, $n2, $c);
}

# Waits until $replica streams from $leader with a copy of logical slot
# $slot that is up to date (what the leader's consumer confirmed) and
# usable after a promotion, and Patroni has stopped re-copying it: two
# quiet loops ("no action") since its last "Copying logical slots" or
# "Failed to advance", each of which restarts the replica.  Have the
# consumer confirm something after the replica was created (see
# slot_copy_usable) before calling this.
sub wait_replica_ready
{
	my ($cl, $leader, $replica, $slot, $timeout) = @_;
	$timeout //= 90;
	my $quiet = sub {
		my $log = patroni_log($replica);
		my $last = 0;
		while ($log =~ /Copying logical slots|Failed to advance logical replication slot/g)
		{
			$last = pos($log);
		}
		my $tail = substr($log, $last);
		my $n = () = $tail =~ /no action\. I am \(\Q$replica->{name}\E\), a secondary/g;
		return $n >= 2;
	};
	return wait_streaming($cl, $leader, $replica, $timeout)
	  && wait_slot_synced($leader, $replica, $slot, 30)
	  && wait_for(sub { slot_copy_usable($replica, $slot) && $quiet->() }, 60,
		"$replica->{name}'s copy of slot $slot to be usable, and Patroni quiet")
	  && wait_streaming($cl, $leader, $replica, 30);
}

END
{
	my $exit = $?;
	for my $cl (reverse @clusters)
	{
		eval { teardown_cluster($cl) };
		diag("teardown of $cl->{scope}: $@") if $@;
	}
	for my $e (reverse @etcds)
	{
		# Its data is of no further use: no graceful stop (which can take
		# seconds with clients gone).
		kill 'KILL', $e->{pid} if proc_alive($e->{pid});
		eval { GuardTest::stop_proc($e, 5) };
	}
	$? = $exit;
}

package PatroniTest::Node;

use strict;
use warnings;

# libpq conninfo of the node's PostgreSQL (TCP, superuser postgres).
sub connstr
{
	my ($n, $db) = @_;
	return "host=$n->{ip} port=$n->{port} dbname=" . ($db // 'postgres') . ' user=postgres';
}

sub data_dir { return $_[0]{data}; }
sub name     { return $_[0]{name}; }
sub host     { return $_[0]{ip}; }
sub port     { return $_[0]{port}; }

# Runs $sql with psql; returns (exit code, stdout trimmed, stderr).  Bounded
# (10 s statement timeout and 20 s for the whole run).
sub psql
{
	my ($n, $db, $sql) = @_;
	my ($rc, $out, $err) = PatroniTest::run_cmd(
		[ "$PatroniTest::PGBIN/psql", '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		  '-d', $n->connstr($db) . ' connect_timeout=5 options=-cstatement_timeout=10s',
		  '-c', $sql ],
		20);
	$out =~ s/\s+$//;
	return ($rc, $out, $err);
}

# Like psql, but dies when the statement fails.
sub safe_psql
{
	my ($n, $db, $sql) = @_;
	my ($rc, $out, $err) = $n->psql($db, $sql);
	die "psql on $n->{name} failed ($rc): $err\nstatement: $sql\n" if $rc != 0;
	return $out;
}

1;
